//! Reductions over axes, and arg-reductions.

use opfuse_ir::{DType, Shape, TensorType};

use crate::args::{normalize_axes, normalize_axis, Args, InferResult};

/// `axes` (all when empty) reduced away, or kept as 1 with `keepdims`.
pub fn reduce(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let x = args.input(0)?;
    let axes = args.ints("axes")?;
    let axes = match axes.is_empty() {
        true => (0..x.rank()).collect(),
        false => normalize_axes(&axes, x.rank(), "axes")?,
    };
    let shape = reduced_shape(&x.shape, &axes, args.bool("keepdims")?);
    Ok(vec![TensorType { dtype: x.dtype, shape }])
}

pub fn argmax(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let x = args.input(0)?;
    let axis = normalize_axis(args.int("axis")?, x.rank(), "axis")?;
    let shape = reduced_shape(&x.shape, &[axis], args.bool("keepdims")?);
    Ok(vec![TensorType { dtype: DType::I64, shape }])
}

fn reduced_shape(shape: &Shape, axes: &[usize], keepdims: bool) -> Shape {
    let dims = shape
        .dims()
        .iter()
        .enumerate()
        .filter_map(|(axis, &d)| match (axes.contains(&axis), keepdims) {
            (false, _) => Some(d),
            (true, true) => Some(1),
            (true, false) => None,
        });
    Shape(dims.collect())
}
