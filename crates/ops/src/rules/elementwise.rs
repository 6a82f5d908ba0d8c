//! Elementwise operators: unary, binary with broadcasting, `where`, `cast`,
//! and scalar constants.

use opfuse_ir::{DType, Shape, TensorType};

use super::broadcast::broadcast;
use crate::args::{attr_error, dtype_error, same_dtype, Args, InferResult};

/// Same type out as in; any dtype.
pub fn unary(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    Ok(vec![args.input(0)?.clone()])
}

/// Same type out as in; the input must be a float (exp, log, tanh...).
pub fn unary_float(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let x = args.input(0)?;
    if !x.dtype.is_float() {
        return Err(dtype_error(0, format!("expects a float tensor, found {}", x.dtype))
            .with_help(format!("cast it first: `cast(x, to = \"f32\")` (it is {})", x.dtype)));
    }
    Ok(vec![x.clone()])
}

pub fn gelu(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let approximate = args.string("approximate")?;
    if approximate != "none" && approximate != "tanh" {
        return Err(attr_error(
            "approximate",
            format!("`approximate` must be \"none\" or \"tanh\", not {approximate:?}"),
        ));
    }
    unary_float(args)
}

pub fn binary(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let dtype = same_dtype(args, &[0, 1])?;
    let shape = broadcast(&[&args.input(0)?.shape, &args.input(1)?.shape])?;
    Ok(vec![TensorType { dtype, shape }])
}

pub fn where_(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let condition = args.input(0)?;
    if condition.dtype != DType::Bool {
        return Err(dtype_error(0, format!("the condition must be bool, found {}", condition.dtype)));
    }
    let dtype = same_dtype(args, &[1, 2])?;
    let shape = broadcast(&[&condition.shape, &args.input(1)?.shape, &args.input(2)?.shape])?;
    Ok(vec![TensorType { dtype, shape }])
}

pub fn cast(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let dtype = dtype_attr(args, "to")?;
    Ok(vec![TensorType {
        dtype,
        shape: args.input(0)?.shape.clone(),
    }])
}

pub fn constant(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    args.float("value")?;
    Ok(vec![TensorType {
        dtype: dtype_attr(args, "dtype")?,
        shape: Shape::scalar(),
    }])
}

fn dtype_attr(args: &Args<'_>, name: &str) -> InferResult<DType> {
    let text = args.string(name)?;
    text.parse().map_err(|()| {
        let names: Vec<&str> = DType::ALL.iter().map(|d| d.name()).collect();
        attr_error(name, format!("{text:?} is not a dtype; the dtypes are {}", names.join(", ")))
    })
}
