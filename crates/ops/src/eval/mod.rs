//! Reference semantics: what each operator computes, as plain loops over
//! f64 elements. This is the numerical oracle later stages are checked
//! against, so it favours obviousness over speed.
//!
//! Each family module lists its operators in `EVAL`. An eval function gets
//! the input tensors, the attributes (normalized, defaults filled in) and the
//! output types the shape rule inferred; it computes in f64 and builds its
//! outputs with [`EvalArgs::output`], which rounds to the output dtype, so
//! f16, bf16 and fp8 results carry exactly the rounding of their format.

pub mod conv;
pub mod elementwise;
pub mod index;
pub mod layout;
pub mod matmul;
pub mod moe;
pub mod norm;
pub mod quant;
pub mod reduction;
pub mod support;

use opfuse_ir::{InferError, Tensor, TensorType};

use crate::args::Args;

pub type EvalFn = fn(&EvalArgs<'_>) -> EvalResult<Vec<Tensor>>;
pub type EvalResult<T> = Result<T, EvalError>;

/// What an eval function sees.
pub struct EvalArgs<'a> {
    /// Attributes and input types, with the accessors shape rules use.
    pub args: Args<'a>,
    pub inputs: &'a [&'a Tensor],
    /// The output types the shape rule inferred.
    pub outputs: &'a [TensorType],
}

/// A value an operator cannot compute with (an index out of range, a
/// division of integers by zero).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct EvalError {
    pub message: String,
}

impl EvalError {
    pub fn new(message: impl Into<String>) -> EvalError {
        EvalError { message: message.into() }
    }
}

impl From<InferError> for EvalError {
    fn from(error: InferError) -> EvalError {
        EvalError::new(error.message)
    }
}

impl EvalArgs<'_> {
    pub fn input(&self, index: usize) -> EvalResult<&Tensor> {
        self.inputs
            .get(index)
            .copied()
            .ok_or_else(|| EvalError::new(format!("expected an input number {}", index + 1)))
    }

    pub fn optional_input(&self, index: usize) -> Option<&Tensor> {
        self.inputs.get(index).copied()
    }

    pub fn output_type(&self, index: usize) -> EvalResult<&TensorType> {
        self.outputs
            .get(index)
            .ok_or_else(|| EvalError::new(format!("expected an output number {}", index + 1)))
    }

    /// Output `index` from computed elements, rounded to its dtype.
    pub fn output(&self, index: usize, data: Vec<f64>) -> EvalResult<Tensor> {
        let ty = self.output_type(index)?.clone();
        Tensor::new(ty, data).map_err(|e| EvalError::new(e.to_string()))
    }
}
