//! Why an import failed, and the notes an import that succeeded leaves.

use std::fmt;

use opfuse_ir::VerifyError;

/// A node of the ONNX graph, as errors and notes name it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeRef {
    /// Position in the file's `graph.node` list.
    pub index: usize,
    /// The node's `name`; often empty.
    pub name: String,
    pub op_type: String,
}

impl fmt::Display for NodeRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name.is_empty() {
            true => write!(f, "node #{} ({})", self.index, self.op_type),
            false => write!(f, "node #{} `{}` ({})", self.index, self.name, self.op_type),
        }
    }
}

/// A file that cannot be imported.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ImportError {
    #[error("not a valid ONNX file: {0}")]
    Decode(String),
    #[error("the model has no graph")]
    NoGraph,
    #[error("the model imports no opset of the default ONNX domain")]
    NoDefaultOpset,
    #[error("the model uses ONNX opset {0}; opfuse imports opset 7 and later (convert it with onnx.version_converter)")]
    OpsetTooOld(i64),
    #[error("input `{name}`: {message}")]
    Input { name: String, message: String },
    #[error("tensor `{name}`: {message}")]
    Tensor { name: String, message: String },
    #[error("{node}: {message}")]
    Node { node: NodeRef, message: String },
    #[error("the name `{0}` is defined twice (inputs, initializers and node outputs must have distinct names)")]
    DuplicateName(String),
    #[error("{node} is part of a cycle, or uses a value that only a later node on a cycle defines")]
    Cycle { node: NodeRef },
    #[error("graph output `{0}` is not defined by any input, initializer or node")]
    UnknownOutput(String),
    #[error("the graph has no outputs")]
    NoOutputs,
    #[error("--input `{name}`: {message}")]
    Bind { name: String, message: String },
    #[error("{0}")]
    Unsupported(String),
    #[error("the imported graph does not verify: {0}")]
    Verify(#[from] VerifyError),
}

/// What kind of remark an [`ImportNote`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoteKind {
    /// The node did not map onto a catalog operator and became opaque.
    Opaque,
    /// The node imported, but something about it deserves a look.
    Warning,
}

/// A remark about one node of an import that succeeded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportNote {
    pub node: NodeRef,
    pub kind: NoteKind,
    pub message: String,
}

impl fmt::Display for ImportNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            NoteKind::Opaque => "opaque",
            NoteKind::Warning => "warning",
        };
        write!(f, "{}: {kind}: {}", self.node, self.message)
    }
}
