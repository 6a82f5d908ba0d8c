//! Layout operators: same elements, new arrangement.

use opfuse_ir::{Shape, TensorType};

use super::broadcast::broadcast;
use crate::args::{attr_error, normalize_axes, normalize_axis, same_dtype, shape_error, to_dim, Args, InferResult};

/// `shape` may hold one -1, inferred from the element count.
pub fn reshape(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let x = args.input(0)?;
    let target = args.ints("shape")?;
    let numel = x.numel().ok_or_else(|| shape_error(0, "the input is too large"))?;
    let mut known: u64 = 1;
    let mut infer_at = None;
    for (i, &d) in target.iter().enumerate() {
        if d == -1 {
            if infer_at.replace(i).is_some() {
                return Err(attr_error("shape", "`shape` may contain -1 only once"));
            }
            continue;
        }
        known = known
            .checked_mul(to_dim(d, "shape")?)
            .ok_or_else(|| attr_error("shape", "`shape` is too large"))?;
    }
    let mut dims: Vec<u64> = target.iter().map(|&d| d.max(0) as u64).collect();
    if let Some(i) = infer_at {
        if known == 0 || numel % known != 0 {
            return Err(attr_error(
                "shape",
                format!("cannot infer -1: {numel} elements of {} do not divide by {known}", x.shape),
            ));
        }
        dims[i] = numel / known;
    } else if known != numel {
        return Err(attr_error(
            "shape",
            format!("{} has {numel} elements but shape {:?} has {known}", x.shape, target),
        ));
    }
    Ok(vec![TensorType::new(x.dtype, dims)])
}

/// `perm` must be a permutation of the axes; empty reverses them.
pub fn transpose(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let x = args.input(0)?;
    let perm = args.ints("perm")?;
    let perm: Vec<usize> = match perm.is_empty() {
        true => (0..x.rank()).rev().collect(),
        false => {
            if perm.len() != x.rank() {
                return Err(attr_error(
                    "perm",
                    format!("`perm` has {} entries but the input {} has rank {}", perm.len(), x.shape, x.rank()),
                ));
            }
            normalize_axes(&perm, x.rank(), "perm")?
        }
    };
    let dims = perm.iter().map(|&p| x.shape.0[p]).collect::<Vec<_>>();
    Ok(vec![TensorType::new(x.dtype, dims)])
}

pub fn concat(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let first = args.input(0)?;
    let indices: Vec<usize> = (0..args.inputs.len()).collect();
    let dtype = same_dtype(args, &indices)?;
    let axis = normalize_axis(args.int("axis")?, first.rank(), "axis")?;
    let mut dims = first.shape.0.clone();
    for (index, other) in args.inputs.iter().enumerate().skip(1) {
        let fits = other.rank() == first.rank()
            && other
                .shape
                .0
                .iter()
                .zip(&first.shape.0)
                .enumerate()
                .all(|(a, (x, y))| a == axis || x == y);
        if !fits {
            return Err(shape_error(
                index,
                format!("{} does not fit {} for a concat along axis {axis}", other.shape, first.shape),
            ));
        }
        dims[axis] += other.shape.0[axis];
    }
    Ok(vec![TensorType::new(dtype, dims)])
}

/// One output per entry of `sizes`, which must add up to the axis extent.
pub fn split(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let x = args.input(0)?;
    let axis = normalize_axis(args.int("axis")?, x.rank(), "axis")?;
    let sizes = args.ints("sizes")?;
    let sizes = sizes.iter().map(|&s| to_dim(s, "sizes")).collect::<InferResult<Vec<u64>>>()?;
    let total: u64 = sizes.iter().sum();
    if sizes.is_empty() || total != x.shape.0[axis] {
        return Err(attr_error(
            "sizes",
            format!("`sizes` add up to {total} but axis {axis} of {} is {}", x.shape, x.shape.0[axis]),
        ));
    }
    Ok(sizes
        .into_iter()
        .map(|size| {
            let mut dims = x.shape.0.clone();
            dims[axis] = size;
            TensorType::new(x.dtype, dims)
        })
        .collect())
}

/// ONNX `Slice` semantics: negative indices count from the end, bounds are
/// clamped, `steps` may be negative.
pub fn slice(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let x = args.input(0)?;
    let (starts, ends) = (args.ints("starts")?, args.ints("ends")?);
    let axes = match args.ints("axes")? {
        a if a.is_empty() => (0..starts.len()).collect(),
        a => normalize_axes(&a, x.rank(), "axes")?,
    };
    let steps = match args.ints("steps")? {
        s if s.is_empty() => vec![1; starts.len()],
        s => s,
    };
    if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
        return Err(attr_error("ends", "`starts`, `ends`, `axes` and `steps` must have the same length"));
    }
    let mut dims = x.shape.0.clone();
    for (i, &axis) in axes.iter().enumerate() {
        let Some(&extent) = dims.get(axis) else {
            return Err(attr_error(
                "starts",
                format!("slices {} axes of the rank-{} input {}", starts.len(), x.rank(), x.shape),
            ));
        };
        dims[axis] = slice_extent(extent, starts[i], ends[i], steps[i])?;
    }
    Ok(vec![TensorType::new(x.dtype, dims)])
}

fn slice_extent(extent: u64, start: i64, end: i64, step: i64) -> InferResult<u64> {
    if step == 0 {
        return Err(attr_error("steps", "`steps` entries must not be 0"));
    }
    let n = extent as i128;
    let resolve = |v: i64| if v < 0 { v as i128 + n } else { v as i128 };
    let (start, end) = (resolve(start), resolve(end));
    let (start, end) = match step > 0 {
        true => (start.clamp(0, n), end.clamp(0, n)),
        false => (start.clamp(0, n - 1), end.clamp(-1, n - 1)),
    };
    let step = step as i128;
    let count = (end - start + step - step.signum()) / step;
    Ok(count.max(0) as u64)
}

/// Drops size-1 `axes` (all of them when empty).
pub fn squeeze(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let x = args.input(0)?;
    let axes = normalize_axes(&args.ints("axes")?, x.rank(), "axes")?;
    if let Some(&bad) = axes.iter().find(|&&a| x.shape.0[a] != 1) {
        return Err(attr_error(
            "axes",
            format!("axis {bad} of {} has size {}, not 1", x.shape, x.shape.0[bad]),
        ));
    }
    let dims = x
        .shape
        .0
        .iter()
        .enumerate()
        .filter(|&(a, &d)| if axes.is_empty() { d != 1 } else { !axes.contains(&a) })
        .map(|(_, &d)| d);
    Ok(vec![TensorType::new(x.dtype, dims.collect::<Vec<_>>())])
}

/// Inserts size-1 axes; `axes` index the output.
pub fn unsqueeze(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let x = args.input(0)?;
    let requested = args.ints("axes")?;
    let rank = x.rank() + requested.len();
    let axes = normalize_axes(&requested, rank, "axes")?;
    let mut source = x.shape.0.iter();
    let dims: Vec<u64> = (0..rank)
        .map(|a| {
            if axes.contains(&a) {
                1
            } else {
                source.next().copied().unwrap_or(1)
            }
        })
        .collect();
    Ok(vec![TensorType::new(x.dtype, dims)])
}

/// Broadcasts the input against `shape` (both ways, as ONNX `Expand`).
pub fn expand(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let x = args.input(0)?;
    let target = args
        .ints("shape")?
        .iter()
        .map(|&d| to_dim(d, "shape"))
        .collect::<InferResult<Vec<u64>>>()?;
    let shape = broadcast(&[&x.shape, &Shape(target)]).map_err(|e| attr_error("shape", e.message))?;
    Ok(vec![TensorType { dtype: x.dtype, shape }])
}

/// `[d0..d(axis-1)] x [d(axis)..]` collapsed into two axes.
pub fn flatten(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let x = args.input(0)?;
    let axis = args.int("axis")?;
    let rank = x.rank() as i64;
    let axis = if axis < 0 { axis + rank } else { axis };
    if !(0..=rank).contains(&axis) {
        return Err(attr_error("axis", format!("axis must be in -{rank}..={rank}, found {axis}")));
    }
    let (outer, inner) = x.shape.0.split_at(axis as usize);
    let product = |d: &[u64]| d.iter().try_fold(1u64, |a, &b| a.checked_mul(b));
    let (Some(outer), Some(inner)) = (product(outer), product(inner)) else {
        return Err(shape_error(0, "the input is too large"));
    };
    Ok(vec![TensorType::new(x.dtype, vec![outer, inner])])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slice_extents_follow_onnx() {
        assert_eq!(slice_extent(10, 0, 5, 1).unwrap(), 5);
        assert_eq!(slice_extent(10, -3, i64::MAX, 1).unwrap(), 3);
        assert_eq!(slice_extent(10, 0, 10, 3).unwrap(), 4);
        assert_eq!(slice_extent(10, -1, i64::MIN, -1).unwrap(), 10);
        assert_eq!(slice_extent(10, 8, 2, 1).unwrap(), 0);
        assert_eq!(slice_extent(0, 0, 1, 1).unwrap(), 0);
    }
}
