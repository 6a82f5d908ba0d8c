//! Shape rules and FLOP formulas, one module per family of operators.
//!
//! A shape rule takes the input types and normalized attributes and returns
//! the output types, or says precisely what does not fit. A FLOP formula
//! counts arithmetic operations (a multiply-add is two; a transcendental is
//! one) from the same arguments and the output types.

pub mod broadcast;
pub mod conv;
pub mod elementwise;
pub mod index;
pub mod layout;
pub mod matmul;
pub mod moe;
pub mod norm;
pub mod quant;
pub mod reduction;

use opfuse_ir::TensorType;

use crate::args::{Args, InferResult};

pub type InferFn = fn(&Args<'_>) -> InferResult<Vec<TensorType>>;
pub type FlopsFn = fn(&Args<'_>, &[TensorType]) -> u128;
pub type BytesFn = fn(&Args<'_>, &[TensorType]) -> u128;

/// The product of `dims` as u128, saturating rather than overflowing.
pub fn product(dims: &[u64]) -> u128 {
    dims.iter().fold(1u128, |n, &d| n.saturating_mul(d as u128))
}

/// Elements of a type as u128, for FLOP arithmetic that cannot overflow.
pub fn elements(ty: &TensorType) -> u128 {
    product(ty.shape.dims())
}

/// One FLOP per output element.
pub fn per_output(_: &Args<'_>, outputs: &[TensorType]) -> u128 {
    outputs.iter().map(elements).sum()
}

/// One FLOP per element of the first input.
pub fn per_input(args: &Args<'_>, _: &[TensorType]) -> u128 {
    args.inputs.first().map(elements).unwrap_or(0)
}

/// Data movement only.
pub fn no_flops(_: &Args<'_>, _: &[TensorType]) -> u128 {
    0
}

/// Bytes of a type's elements as u128.
pub fn bytes(ty: &TensorType) -> u128 {
    elements(ty) * ty.dtype.size_bytes() as u128
}

/// Reads every input once and writes every output once.
pub fn bytes_in_and_out(args: &Args<'_>, outputs: &[TensorType]) -> u128 {
    args.inputs.iter().chain(outputs).map(bytes).sum()
}
