//! Index arithmetic shared by the eval functions: strides, stepping a
//! multi-index, broadcasting, reduction offsets, splitting a shape around
//! an axis.

use opfuse_ir::Tensor;

use super::{EvalArgs, EvalResult};

/// Row-major strides of `dims`, in elements.
pub fn strides(dims: &[u64]) -> Vec<usize> {
    let mut strides = vec![1usize; dims.len()];
    for axis in (0..dims.len().saturating_sub(1)).rev() {
        strides[axis] = strides[axis + 1] * dims[axis + 1] as usize;
    }
    strides
}

/// Steps a row-major multi-index `index` within `dims` to the next element;
/// wraps to all zeros after the last one.
pub fn next_index(index: &mut [u64], dims: &[u64]) {
    for axis in (0..dims.len()).rev() {
        index[axis] += 1;
        if index[axis] < dims[axis] {
            return;
        }
        index[axis] = 0;
    }
}

/// For each element of an `out_dims` tensor, the offset of the element of an
/// `in_dims` tensor that NumPy broadcasting reads for it.
pub fn broadcast_offsets(out_dims: &[u64], in_dims: &[u64]) -> Vec<usize> {
    let rank = out_dims.len();
    let lead = rank.saturating_sub(in_dims.len());
    let in_strides = strides(in_dims);
    // The stride an output axis moves in the input: 0 where the input is
    // missing that axis or has extent 1 there.
    let step: Vec<usize> = (0..rank)
        .map(|axis| match axis.checked_sub(lead) {
            Some(i) if in_dims[i] != 1 => in_strides[i],
            _ => 0,
        })
        .collect();
    let total: usize = out_dims.iter().product::<u64>() as usize;
    let mut offsets = Vec::with_capacity(total);
    let mut index = vec![0u64; rank];
    let mut offset = 0usize;
    for _ in 0..total {
        offsets.push(offset);
        for axis in (0..rank).rev() {
            index[axis] += 1;
            offset += step[axis];
            if index[axis] < out_dims[axis] {
                break;
            }
            offset -= step[axis] * index[axis] as usize;
            index[axis] = 0;
        }
    }
    offsets
}

/// For each element of a `dims` tensor (row-major), the offset of the
/// output element a reduction over `axes` folds it into.
pub fn reduced_offsets(dims: &[u64], axes: &[usize]) -> Vec<usize> {
    let kept: Vec<u64> = (0..dims.len()).map(|a| if axes.contains(&a) { 1 } else { dims[a] }).collect();
    // Reduced axes move nothing in the output.
    let step: Vec<usize> = strides(&kept)
        .into_iter()
        .enumerate()
        .map(|(a, s)| if axes.contains(&a) { 0 } else { s })
        .collect();
    let count = dims.iter().product::<u64>() as usize;
    let mut offsets = Vec::with_capacity(count);
    let mut index = vec![0u64; dims.len()];
    for _ in 0..count {
        offsets.push(index.iter().zip(&step).map(|(&i, &s)| i as usize * s).sum());
        next_index(&mut index, dims);
    }
    offsets
}

/// A shape seen as `[outer, axis, inner]` around one axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AxisSplit {
    pub outer: usize,
    pub len: usize,
    pub inner: usize,
}

impl AxisSplit {
    pub fn new(dims: &[u64], axis: usize) -> AxisSplit {
        let product = |d: &[u64]| d.iter().product::<u64>() as usize;
        AxisSplit {
            outer: product(&dims[..axis.min(dims.len())]),
            len: dims.get(axis).map_or(1, |&d| d as usize),
            inner: product(dims.get(axis + 1..).unwrap_or(&[])),
        }
    }

    /// Offset of element `i` along the axis in lane (`outer`, `inner`).
    pub fn at(&self, outer: usize, i: usize, inner: usize) -> usize {
        (outer * self.len + i) * self.inner + inner
    }
}

/// Output 0 as `f` applied to each element of input 0.
pub fn map_unary(args: &EvalArgs<'_>, f: impl Fn(f64) -> f64) -> EvalResult<Vec<Tensor>> {
    let x = args.input(0)?;
    let data = x.data().iter().map(|&v| f(v)).collect();
    Ok(vec![args.output(0, data)?])
}

/// Output 0 as `f` applied to broadcast pairs of inputs 0 and 1.
pub fn map_binary(args: &EvalArgs<'_>, f: impl Fn(f64, f64) -> f64) -> EvalResult<Vec<Tensor>> {
    let (a, b) = (args.input(0)?, args.input(1)?);
    let out = args.output_type(0)?.shape.dims().to_vec();
    let (ia, ib) = (broadcast_offsets(&out, a.dims()), broadcast_offsets(&out, b.dims()));
    let data = ia.iter().zip(&ib).map(|(&i, &j)| f(a.data()[i], b.data()[j])).collect();
    Ok(vec![args.output(0, data)?])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasting_repeats_size_one_axes() {
        assert_eq!(broadcast_offsets(&[2, 3], &[3]), vec![0, 1, 2, 0, 1, 2]);
        assert_eq!(broadcast_offsets(&[2, 3], &[2, 1]), vec![0, 0, 0, 1, 1, 1]);
        assert_eq!(broadcast_offsets(&[2, 2], &[]), vec![0, 0, 0, 0]);
        assert_eq!(strides(&[2, 3, 4]), vec![12, 4, 1]);
        let split = AxisSplit::new(&[2, 3, 4], 1);
        assert_eq!((split.outer, split.len, split.inner), (2, 3, 4));
        assert_eq!(split.at(1, 2, 3), 23);
    }
}
