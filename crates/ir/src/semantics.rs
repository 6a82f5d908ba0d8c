//! The contract between the IR and whoever knows what operators mean.
//!
//! The IR knows no operator. Type inference during elaboration and the type
//! checks of [`crate::verify`] ask an [`OpSemantics`], which the `ops` crate
//! implements from the catalog. This keeps front ends free of the catalog.

use crate::{Attrs, TensorType};

/// What went wrong when an operator was applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InferErrorKind {
    /// Too few or too many inputs.
    Arity,
    /// An attribute the operator does not have.
    UnknownAttr,
    /// A required attribute is missing.
    MissingAttr,
    /// An attribute of the wrong kind (a string where an int is expected).
    AttrType,
    /// An attribute with a value the operator rejects (a bad `perm`).
    AttrValue,
    /// Input shapes that do not fit together.
    Shape,
    /// Input dtypes that do not fit together.
    DType,
}

/// Which part of the application to point at when reporting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Blame {
    /// The whole call.
    Call,
    /// Input number `n`.
    Input(usize),
    /// The attribute with this name.
    Attr(String),
}

/// An operator application that does not type-check.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InferError {
    pub kind: InferErrorKind,
    pub message: String,
    pub blame: Blame,
    pub help: Option<String>,
}

impl InferError {
    pub fn new(kind: InferErrorKind, blame: Blame, message: impl Into<String>) -> InferError {
        InferError {
            kind,
            message: message.into(),
            blame,
            help: None,
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> InferError {
        self.help = Some(help.into());
        self
    }
}

/// Knowledge of operators: which exist, their attributes and shape rules.
pub trait OpSemantics {
    /// Whether `op` is a known operator.
    fn knows(&self, op: &str) -> bool;

    /// All known operator names, for "did you mean" suggestions.
    fn op_names(&self) -> Vec<&str>;

    /// Checks attribute names and kinds and fills in defaults, so that a
    /// node's attributes are complete and canonical.
    fn normalize_attrs(&self, op: &str, attrs: &mut Attrs) -> Result<(), InferError>;

    /// The output types of `op` applied to inputs of these types, with
    /// normalized attributes.
    fn infer(&self, op: &str, attrs: &Attrs, inputs: &[TensorType]) -> Result<Vec<TensorType>, InferError>;
}
