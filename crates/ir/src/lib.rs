//! The typed graph IR of opfuse.
//!
//! A [`Graph`] is a DAG of [`Node`]s, each applying an [`Op`] to input
//! [`Value`]s and defining output values. Values and nodes live in arenas
//! (`Graph::values`, `Graph::nodes`) and refer to each other by typed handles
//! ([`ValueId`], [`NodeId`]), never by Rust references, so passes can attach
//! side tables indexed by id. Every value has a [`TensorType`]: a [`DType`]
//! and a concrete [`Shape`]. Leaves are graph inputs and params (weights).
//! A param holds data only when its graph came from a file that carries it
//! (ONNX initializers): see [`Graph::param_data`].
//!
//! Invariants: a graph that passed [`verify`] is a [`VerifiedGraph`]; in it,
//! every handle is live, nodes are in topological order, and each known op's
//! outputs follow its shape rule. This crate depends on no other opfuse crate
//! and knows nothing about text syntax, chips or the operator catalog: it asks
//! an [`OpSemantics`] for shape rules.
//!
//! Start reading at [`Graph`], then [`verify`] and [`print`].

mod attr;
mod dtype;
mod graph;
mod print;
mod semantics;
mod shape;
mod span;
mod tensor;
mod verify;

pub use attr::{Attr, Attrs};
pub use dtype::DType;
pub use graph::{Graph, Node, NodeId, Op, Value, ValueDef, ValueId};
pub use print::{print, KEYWORDS};
pub use semantics::{Blame, InferError, InferErrorKind, OpSemantics};
pub use shape::{Shape, TensorType};
pub use span::Span;
pub use tensor::{Tensor, TensorSizeError};
pub use verify::{verify, VerifiedGraph, VerifyError};
