//! Indexing: gather, embedding lookup and top-k.

use opfuse_ir::{DType, TensorType};

use super::elements;
use crate::args::{attr_error, integer_input, normalize_axis, shape_error, Args, InferResult};

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
    let fits = indices.rank() == data.rank()
        && indices
            .shape
            .0
            .iter()
            .zip(&data.shape.0)
            .enumerate()
            .all(|(a, (i, d))| a == axis || i <= d);
    if !fits {
        return Err(shape_error(
            1,
            format!("indices {} do not fit data {} outside axis {axis}", indices.shape, data.shape),
        ));
    }
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

/// Values and i64 indices, with the axis cut to `k`.
pub fn top_k(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let x = args.input(0)?;
    let axis = normalize_axis(args.int("axis")?, x.rank(), "axis")?;
    args.bool("largest")?;
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
