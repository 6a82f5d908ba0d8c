//! Normalisations and softmax: same shape out as in, with parameter tensors
//! shaped like the normalised axes.

use opfuse_ir::TensorType;

use super::elements;
use crate::args::{normalize_axis, same_dtype, shape_error, Args, InferResult};

/// Inference batch norm: `x[N, C, ...]` with `scale`, `bias`, `mean`, `var` of `[C]`.
pub fn batch_norm(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let x = args.input(0)?;
    same_dtype(args, &[0, 1, 2, 3, 4])?;
    if x.rank() < 2 {
        return Err(shape_error(0, format!("input must be [N, C, ...], found {}", x.shape)));
    }
    let channels = x.shape.0[1];
    for index in 1..5 {
        let p = args.input(index)?;
        if p.shape.dims() != [channels] {
            return Err(shape_error(
                index,
                format!("must be [{channels}], one per channel, found {}", p.shape),
            ));
        }
    }
    Ok(vec![x.clone()])
}

/// Layer and RMS norm: parameters shaped like `x.shape[axis..]`.
pub fn layer_norm(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let x = args.input(0)?;
    let axis = normalize_axis(args.int("axis")?, x.rank(), "axis")?;
    let normalized = &x.shape.0[axis..];
    for index in 1..args.inputs.len() {
        same_dtype(args, &[0, index])?;
        let p = args.input(index)?;
        if p.shape.dims() != normalized {
            return Err(shape_error(
                index,
                format!("must match the normalised axes {:?}, found {}", normalized, p.shape),
            ));
        }
    }
    Ok(vec![x.clone()])
}

pub fn softmax(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let x = args.input(0)?;
    normalize_axis(args.int("axis")?, x.rank(), "axis")?;
    super::elementwise::unary_float(args)
}

/// `factor` FLOPs per element of the first input.
pub fn flops_times<const FACTOR: u128>(args: &Args<'_>, _: &[TensorType]) -> u128 {
    FACTOR * args.inputs.first().map(elements).unwrap_or(0)
}
