//! Indexing: gathers and scatters, embedding lookup, sorting and top-k,
//! running sums, one-hot codes, and the ops whose output size depends on
//! the data (`nonzero`, `unique`, `compress`).
//!
//! The IR is statically shaped, so a data-dependent op's shape rule gives an
//! upper bound (every element selected); its eval returns the exact result.

use opfuse_ir::{DType, TensorType};

use super::{bytes, elements};
use crate::args::{attr_error, dtype_error, integer_input, normalize_axis, same_dtype, shape_error, Args, InferResult};
use crate::code::{op, OpCode};

/// Shape rules and FLOP formulas of this family, by catalog name.
pub const RULES: &[(&str, OpCode)] = &[
    ("gather", op(gather, super::no_flops).with_bytes(reads_selected)),
    ("index_select", op(index_select, super::no_flops).with_bytes(reads_selected)),
    ("gather_elements", op(gather_elements, super::no_flops).with_bytes(reads_selected)),
    ("embedding", op(embedding, super::no_flops).with_bytes(reads_selected)),
    ("gather_nd", op(gather_nd, super::no_flops).with_bytes(reads_selected)),
    ("scatter_elements", op(scatter_elements, scatter_flops)),
    ("scatter_nd", op(scatter_nd, scatter_flops)),
    ("top_k", op(top_k, top_k_flops)),
    ("sort", op(sort, sort_flops)),
    ("argsort", op(argsort, sort_flops)),
    ("cumsum", op(cumsum, super::per_output)),
    ("one_hot", op(one_hot, super::no_flops)),
    ("nonzero", op(nonzero, super::per_input)),
    ("unique", op(unique, sort_flops)),
    ("compress", op(compress, super::no_flops)),
];

/// The value of an optional `axis` (ONNX leaves it out) meaning "flatten the
/// input first", for `unique` and `compress`.
pub const NO_AXIS: i64 = i64::MAX;

/// The reductions `scatter_elements` and `scatter_nd` apply where an index
/// hits an entry (ONNX's `reduction`).
pub const SCATTER_REDUCTIONS: [&str; 5] = ["none", "add", "mul", "max", "min"];

/// `data.shape[..axis] + indices.shape + data.shape[axis + 1..]`.
pub fn gather(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let (data, indices) = (args.input(0)?, args.input(1)?);
    integer_input(args, 1, "indices")?;
    let axis = normalize_axis(args.int("axis")?, data.rank(), "axis")?;
    let mut dims = data.shape.0[..axis].to_vec();
    dims.extend(indices.shape.dims());
    dims.extend(&data.shape.0[axis + 1..]);
    Ok(vec![TensorType::new(data.dtype, dims)])
}

/// `gather` restricted to 1-d indices: the axis keeps its rank.
pub fn index_select(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let indices = args.input(1)?;
    if indices.rank() != 1 {
        return Err(shape_error(1, format!("indices must be 1-d, found {}", indices.shape)));
    }
    gather(args)
}

/// Output shaped like `indices`, which must have the rank of `data` and fit
/// inside it on every axis but `axis`.
pub fn gather_elements(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let (data, indices) = (args.input(0)?, args.input(1)?);
    integer_input(args, 1, "indices")?;
    let axis = normalize_axis(args.int("axis")?, data.rank(), "axis")?;
    fits_outside_axis(data, indices, 1, axis)?;
    Ok(vec![TensorType::new(data.dtype, indices.shape.0.clone())])
}

/// `table[V, D]` at `ids[...]` -> `ids.shape + [D]`.
pub fn embedding(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let (table, ids) = (args.input(0)?, args.input(1)?);
    integer_input(args, 1, "ids")?;
    let [_, width] = table.shape.dims() else {
        return Err(shape_error(0, format!("the table must be [vocab, width], found {}", table.shape)));
    };
    let mut dims = ids.shape.0.clone();
    dims.push(*width);
    Ok(vec![TensorType::new(table.dtype, dims)])
}

/// ONNX `GatherND`: the last axis of `indices` (length m) indexes the first
/// m axes of `data` after `batch_dims` shared leading axes; the output is
/// `indices.shape[..-1] + data.shape[batch_dims + m..]`.
pub fn gather_nd(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let (data, indices) = (args.input(0)?, args.input(1)?);
    integer_input(args, 1, "indices")?;
    let (batch, depth) = nd_index_depth(args, data, indices)?;
    let mut dims = indices.shape.0[..indices.rank() - 1].to_vec();
    dims.extend(&data.shape.0[batch + depth..]);
    Ok(vec![TensorType::new(data.dtype, dims)])
}

/// The (batch_dims, index depth) of `gather_nd`, checked against both shapes.
pub fn nd_index_depth(args: &Args<'_>, data: &TensorType, indices: &TensorType) -> InferResult<(usize, usize)> {
    let batch = args.int("batch_dims")?;
    let (r, q) = (data.rank(), indices.rank());
    let batch = usize::try_from(batch).ok().filter(|&b| b < r.min(q)).ok_or_else(|| {
        attr_error(
            "batch_dims",
            format!(
                "`batch_dims` must be in 0..{} (data {}, indices {}), found {batch}",
                r.min(q),
                data.shape,
                indices.shape
            ),
        )
    })?;
    if data.shape.0[..batch] != indices.shape.0[..batch] {
        return Err(shape_error(
            1,
            format!("the first {batch} axes of indices {} and data {} differ", indices.shape, data.shape),
        ));
    }
    let depth = indices.shape.0[q - 1];
    if depth == 0 || depth as usize > r - batch {
        return Err(shape_error(
            1,
            format!(
                "the last axis of indices {} must be in 1..={} (the axes of data {} after {batch} batch axes)",
                indices.shape,
                r - batch,
                data.shape
            ),
        ));
    }
    Ok((batch, depth as usize))
}

/// ONNX `ScatterElements`: a copy of `data` with `updates` written at
/// `indices` along `axis`; `indices` and `updates` share one shape.
pub fn scatter_elements(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let (data, indices, updates) = (args.input(0)?, args.input(1)?, args.input(2)?);
    integer_input(args, 1, "indices")?;
    let dtype = same_dtype(args, &[0, 2])?;
    reduction_attr(args)?;
    let axis = normalize_axis(args.int("axis")?, data.rank(), "axis")?;
    fits_outside_axis(data, indices, 1, axis)?;
    if updates.shape != indices.shape {
        return Err(shape_error(
            2,
            format!("updates {} must have the shape of indices {}", updates.shape, indices.shape),
        ));
    }
    Ok(vec![TensorType::new(dtype, data.shape.clone())])
}

/// ONNX `ScatterND`: a copy of `data` with `updates` written at the index
/// tuples along the last axis of `indices`; `updates` is shaped
/// `indices.shape[..-1] + data.shape[k..]` for tuples of length k.
pub fn scatter_nd(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let (data, indices, updates) = (args.input(0)?, args.input(1)?, args.input(2)?);
    integer_input(args, 1, "indices")?;
    let dtype = same_dtype(args, &[0, 2])?;
    reduction_attr(args)?;
    let Some((&depth, outer)) = indices.shape.0.split_last() else {
        return Err(shape_error(1, "indices must have rank 1 or more, found a scalar"));
    };
    if depth as usize > data.rank() {
        return Err(shape_error(
            1,
            format!(
                "index tuples of length {depth} do not fit data {} of rank {}",
                data.shape,
                data.rank()
            ),
        ));
    }
    let mut expected = outer.to_vec();
    expected.extend(&data.shape.0[depth as usize..]);
    if updates.shape.0 != expected {
        return Err(shape_error(
            2,
            format!(
                "updates must be {:?} (indices {} without the last axis, then data {} after {depth} axes), found {}",
                expected, indices.shape, data.shape, updates.shape
            ),
        ));
    }
    Ok(vec![TensorType::new(dtype, data.shape.clone())])
}

/// The `reduction` of a scatter, checked.
pub fn reduction_attr(args: &Args<'_>) -> InferResult<String> {
    let reduction = args.string("reduction")?;
    match SCATTER_REDUCTIONS.contains(&reduction.as_str()) {
        true => Ok(reduction),
        false => Err(attr_error(
            "reduction",
            format!("`reduction` must be one of \"none\", \"add\", \"mul\", \"max\", \"min\", not {reduction:?}"),
        )),
    }
}

/// One operation per update where a reduction combines; none for a plain write.
fn scatter_flops(args: &Args<'_>, _: &[TensorType]) -> u128 {
    match args.attrs.get("reduction").and_then(|r| r.as_str()) {
        Some("none") | None => 0,
        Some(_) => args.inputs.get(2).map_or(0, elements),
    }
}

/// Values and i64 indices, with the axis cut to `k`.
pub fn top_k(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let x = args.input(0)?;
    let axis = normalize_axis(args.int("axis")?, x.rank(), "axis")?;
    args.bool("largest")?;
    args.bool("sorted")?;
    let k = args.int("k")?;
    let extent = x.shape.0[axis];
    let k = u64::try_from(k)
        .ok()
        .filter(|&k| k <= extent)
        .ok_or_else(|| attr_error("k", format!("`k` must be in 0..={extent} (axis {axis} of {}), found {k}", x.shape)))?;
    let mut dims = x.shape.0.clone();
    dims[axis] = k;
    Ok(vec![TensorType::new(x.dtype, dims.clone()), TensorType::new(DType::I64, dims)])
}

/// A selection pass: about `log2(k)` comparisons per input element.
pub fn top_k_flops(args: &Args<'_>, _: &[TensorType]) -> u128 {
    let k = args.attrs.get("k").and_then(|k| k.as_int()).unwrap_or(1).max(1) as u128;
    let log_k = 128 - k.leading_zeros() as u128;
    args.inputs.first().map(elements).unwrap_or(0) * log_k.max(1)
}

/// Sorted values along `axis` and the i64 positions they came from.
pub fn sort(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let x = sortable(args)?;
    Ok(vec![x.clone(), TensorType::new(DType::I64, x.shape.clone())])
}

/// The i64 positions that sort `x` along `axis`.
pub fn argsort(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let x = sortable(args)?;
    Ok(vec![TensorType::new(DType::I64, x.shape.clone())])
}

fn sortable<'a>(args: &'a Args<'_>) -> InferResult<&'a TensorType> {
    let x = args.input(0)?;
    normalize_axis(args.int("axis")?, x.rank(), "axis")?;
    args.bool("descending")?;
    args.bool("stable")?;
    Ok(x)
}

/// A comparison sort: `n * ceil(log2 n)` comparisons per lane of n entries
/// (the flattened input when there is no axis).
fn sort_flops(args: &Args<'_>, _: &[TensorType]) -> u128 {
    let Some(x) = args.inputs.first() else { return 0 };
    let axis = args.attrs.get("axis").and_then(|a| a.as_int());
    let lane = match axis.and_then(|a| normalize_axis(a, x.rank(), "axis").ok()) {
        Some(axis) => x.shape.0[axis] as u128,
        None => elements(x),
    };
    let log = 128 - lane.saturating_sub(1).leading_zeros() as u128;
    elements(x) * log
}

/// ONNX `CumSum`: running sums along `axis`, optionally `exclusive` (each
/// entry leaves itself out) and in `reverse`.
pub fn cumsum(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let x = args.input(0)?;
    normalize_axis(args.int("axis")?, x.rank(), "axis")?;
    args.bool("exclusive")?;
    args.bool("reverse")?;
    if x.dtype == DType::Bool {
        return Err(dtype_error(0, "`cumsum` adds numbers, found a bool tensor"));
    }
    Ok(vec![x.clone()])
}

/// ONNX `OneHot`: a new axis of `depth` at `axis`, `values[1]` where it
/// equals the index and `values[0]` elsewhere; the output has the dtype of
/// `values`.
pub fn one_hot(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let (indices, values) = (args.input(0)?, args.input(1)?);
    if indices.dtype == DType::Bool {
        return Err(dtype_error(0, "indices must be numbers, found bool"));
    }
    if values.shape.dims() != [2] {
        return Err(shape_error(1, format!("values must be [2] (off, on), found {}", values.shape)));
    }
    let depth = one_hot_depth(args)?;
    let axis = normalize_axis(args.int("axis")?, indices.rank() + 1, "axis")?;
    let mut dims = indices.shape.0.clone();
    dims.insert(axis, depth);
    Ok(vec![TensorType::new(values.dtype, dims)])
}

pub fn one_hot_depth(args: &Args<'_>) -> InferResult<u64> {
    let depth = args.int("depth")?;
    u64::try_from(depth)
        .ok()
        .filter(|&d| d > 0)
        .ok_or_else(|| attr_error("depth", format!("`depth` must be positive, found {depth}")))
}

/// ONNX `NonZero`: the coordinates of the non-zero entries, `[rank, count]`
/// i64. The rule gives `count = numel`, an upper bound; the eval returns the
/// exact count.
pub fn nonzero(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let x = args.input(0)?;
    if x.rank() == 0 {
        return Err(shape_error(0, "`nonzero` needs a tensor of rank 1 or more, found a scalar"));
    }
    let numel = x.numel().ok_or_else(|| shape_error(0, "the input is too large"))?;
    Ok(vec![TensorType::new(DType::I64, vec![x.rank() as u64, numel])])
}

/// ONNX `Unique`: the distinct entries (or slices along `axis`), the index
/// of each one's first occurrence, each input entry's position among them,
/// and their counts. Shapes are upper bounds (everything distinct); the eval
/// returns the exact ones.
pub fn unique(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let x = args.input(0)?;
    args.bool("sorted")?;
    let (values, lanes) = match optional_axis(args, x)? {
        Some(axis) => (x.shape.0.clone(), x.shape.0[axis]),
        None => {
            let numel = x.numel().ok_or_else(|| shape_error(0, "the input is too large"))?;
            (vec![numel], numel)
        }
    };
    let indices = TensorType::new(DType::I64, vec![lanes]);
    Ok(vec![TensorType::new(x.dtype, values), indices.clone(), indices.clone(), indices])
}

/// ONNX `Compress`: the slices along `axis` (entries of the flattened input
/// without one) where the 1-d bool `condition` is true. The rule's extent
/// is an upper bound, `min(len(condition), extent)`; the eval returns the
/// exact one.
pub fn compress(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let (x, condition) = (args.input(0)?, args.input(1)?);
    if condition.dtype != DType::Bool || condition.rank() != 1 {
        return Err(shape_error(
            1,
            format!("the condition must be a 1-d bool tensor, found {condition}"),
        ));
    }
    let length = condition.shape.0[0];
    let dims = match optional_axis(args, x)? {
        Some(axis) => {
            let mut dims = x.shape.0.clone();
            dims[axis] = dims[axis].min(length);
            dims
        }
        None => vec![x.numel().ok_or_else(|| shape_error(0, "the input is too large"))?.min(length)],
    };
    Ok(vec![TensorType::new(x.dtype, dims)])
}

/// `axis` resolved, or `None` for [`NO_AXIS`] (work on the flattened input).
pub fn optional_axis(args: &Args<'_>, x: &TensorType) -> InferResult<Option<usize>> {
    match args.int("axis")? {
        NO_AXIS => Ok(None),
        axis => normalize_axis(axis, x.rank(), "axis").map(Some),
    }
}

/// `indices` (input `index`) has the rank of `data` and is no larger on any
/// axis but `axis`.
fn fits_outside_axis(data: &TensorType, indices: &TensorType, index: usize, axis: usize) -> InferResult<()> {
    let fits = indices.rank() == data.rank()
        && indices
            .shape
            .0
            .iter()
            .zip(&data.shape.0)
            .enumerate()
            .all(|(a, (i, d))| a == axis || i <= d);
    match fits {
        true => Ok(()),
        false => Err(shape_error(
            index,
            format!("indices {} do not fit data {} outside axis {axis}", indices.shape, data.shape),
        )),
    }
}

/// A gather reads the indices and only the selected entries of the data
/// (as many as it writes), not the whole data tensor.
fn reads_selected(args: &Args<'_>, outputs: &[TensorType]) -> u128 {
    let indices = args.inputs.get(1).map_or(0, bytes);
    indices + 2 * outputs.iter().map(bytes).sum::<u128>()
}

#[cfg(test)]
mod tests {
    use opfuse_ir::{Attr, Attrs, DType};

    use super::*;
    use crate::rules::InferFn;
    use crate::testing::infer_rule;

    /// The output types of `rule` as text, or its error message.
    fn check(rule: InferFn, attrs: &[(&str, Attr)], inputs: &[(DType, &[u64])]) -> String {
        infer_rule(rule, attrs, inputs).unwrap_or_else(|e| e)
    }

    use DType::{Bool, F32, I32, I64};

    #[test]
    fn gather_nd_shapes() {
        let nd = |batch: i64, data: &[u64], indices: &[u64]| {
            check(gather_nd, &[("batch_dims", Attr::Int(batch))], &[(F32, data), (I64, indices)])
        };
        assert_eq!(nd(0, &[2, 2], &[2, 2]), "f32[2]");
        assert_eq!(nd(0, &[2, 2], &[2, 1]), "f32[2, 2]");
        assert_eq!(nd(0, &[2, 2, 2], &[2, 1, 2]), "f32[2, 1, 2]");
        assert_eq!(nd(1, &[2, 2, 2], &[2, 1]), "f32[2, 2]");
        assert_eq!(
            nd(0, &[2, 2], &[2, 3]),
            "the last axis of indices [2, 3] must be in 1..=2 (the axes of data [2, 2] after 0 batch axes)"
        );
        assert_eq!(nd(1, &[2, 2], &[3, 1]), "the first 1 axes of indices [3, 1] and data [2, 2] differ");
        assert!(nd(2, &[2, 2], &[2, 1]).starts_with("`batch_dims` must be in 0..2"));
    }

    #[test]
    fn scatter_shapes() {
        let none = || ("reduction", Attr::Str("none".into()));
        let nd =
            |data: &[u64], indices: &[u64], updates: &[u64]| check(scatter_nd, &[none()], &[(F32, data), (I64, indices), (F32, updates)]);
        assert_eq!(nd(&[4, 4, 4], &[2, 1], &[2, 4, 4]), "f32[4, 4, 4]");
        assert_eq!(nd(&[8], &[4, 1], &[4]), "f32[8]");
        assert!(nd(&[8], &[4, 1], &[4, 1]).starts_with("updates must be [4] (indices [4, 1] without the last axis"));
        assert!(nd(&[8], &[4, 2], &[4]).starts_with("index tuples of length 2 do not fit data [8]"));
        let elements = |attrs: &[(&str, Attr)], indices: &[u64], updates: &[u64]| {
            check(scatter_elements, attrs, &[(F32, &[3, 3]), (I64, indices), (F32, updates)])
        };
        let axis = ("axis", Attr::Int(1));
        assert_eq!(elements(&[axis.clone(), none()], &[1, 2], &[1, 2]), "f32[3, 3]");
        assert_eq!(
            elements(&[axis.clone(), none()], &[1, 2], &[2, 1]),
            "updates [2, 1] must have the shape of indices [1, 2]"
        );
        assert_eq!(
            elements(&[axis.clone(), none()], &[4, 1], &[4, 1]),
            "indices [4, 1] do not fit data [3, 3] outside axis 1"
        );
        assert!(elements(&[axis, ("reduction", Attr::Str("sum".into()))], &[1, 2], &[1, 2]).starts_with("`reduction` must be one of"));
    }

    #[test]
    fn data_dependent_shapes_are_upper_bounds() {
        assert_eq!(check(nonzero, &[], &[(F32, &[2, 3])]), "i64[2, 6]");
        assert_eq!(
            check(nonzero, &[], &[(F32, &[])]),
            "`nonzero` needs a tensor of rank 1 or more, found a scalar"
        );
        let unique_on = |axis: i64| {
            check(
                unique,
                &[("axis", Attr::Int(axis)), ("sorted", Attr::Bool(true))],
                &[(I32, &[3, 4])],
            )
        };
        assert_eq!(unique_on(NO_AXIS), "i32[12], i64[12], i64[12], i64[12]");
        assert_eq!(unique_on(-1), "i32[3, 4], i64[4], i64[4], i64[4]");
        let compressed =
            |axis: i64, condition: (DType, &[u64])| check(compress, &[("axis", Attr::Int(axis))], &[(F32, &[3, 2]), condition]);
        assert_eq!(compressed(0, (Bool, &[2])), "f32[2, 2]");
        assert_eq!(compressed(1, (Bool, &[5])), "f32[3, 2]");
        assert_eq!(compressed(NO_AXIS, (Bool, &[4])), "f32[4]");
        assert_eq!(compressed(0, (I64, &[2])), "the condition must be a 1-d bool tensor, found i64[2]");
    }

    #[test]
    fn one_hot_sort_cumsum_shapes() {
        let hot = |axis: i64, depth: i64, values: &[u64]| {
            check(
                one_hot,
                &[("axis", Attr::Int(axis)), ("depth", Attr::Int(depth))],
                &[(I64, &[2, 3]), (DType::F16, values)],
            )
        };
        assert_eq!(hot(-1, 5, &[2]), "f16[2, 3, 5]");
        assert_eq!(hot(0, 5, &[2]), "f16[5, 2, 3]");
        assert_eq!(hot(-2, 5, &[2]), "f16[2, 5, 3]");
        assert_eq!(hot(-1, 0, &[2]), "`depth` must be positive, found 0");
        assert_eq!(hot(-1, 5, &[3]), "values must be [2] (off, on), found [3]");
        let sorted = [
            ("axis", Attr::Int(0)),
            ("descending", Attr::Bool(true)),
            ("stable", Attr::Bool(false)),
        ];
        assert_eq!(check(sort, &sorted, &[(F32, &[4, 2])]), "f32[4, 2], i64[4, 2]");
        assert_eq!(check(argsort, &sorted, &[(F32, &[4, 2])]), "i64[4, 2]");
        let running = [
            ("axis", Attr::Int(0)),
            ("exclusive", Attr::Bool(false)),
            ("reverse", Attr::Bool(false)),
        ];
        assert_eq!(
            check(cumsum, &running, &[(Bool, &[4])]),
            "`cumsum` adds numbers, found a bool tensor"
        );
    }

    #[test]
    fn costs() {
        let attrs: Attrs = [("axis".to_string(), Attr::Int(-1))].into_iter().collect();
        let inputs = [TensorType::new(F32, vec![3, 8])];
        // 3 lanes of 8: 8 * 3 comparisons each.
        assert_eq!(
            sort_flops(
                &Args {
                    attrs: &attrs,
                    inputs: &inputs
                },
                &[]
            ),
            72
        );
        let inputs = [TensorType::new(F32, vec![1000, 64]), TensorType::new(I64, vec![5])];
        let out = [TensorType::new(F32, vec![5, 64])];
        // 5 * 8 index bytes, then 5 rows of 64 f32 read and written.
        assert_eq!(
            reads_selected(
                &Args {
                    attrs: &attrs,
                    inputs: &inputs
                },
                &out
            ),
            40 + 2 * 1280
        );
    }
}
