//! The e-graph language over the IR.
//!
//! A catalog op is one node kind, [`TensorNode::Op`], whose first child is
//! the class of its attributes (an [`TensorNode::Attrs`] leaf holding their
//! canonical text, so equal attributes hash-cons to one class) and whose
//! other children are its tensor inputs. Keeping attributes in a child class
//! lets rule patterns bind them (`(transpose ?perm ?x)`) and let conditions
//! read them through the analysis. A multi-output op's class is a tuple;
//! [`TensorNode::Get`] projects one output. A fused kernel is
//! `(kernel KIND BODY inputs...)`: its body (a [`crate::body::Body`], an
//! expression over the kernel's inputs) is kept in the analysis's kernel table.
//! An op the catalog does not know is `(opaque INDEX inputs...)`: its name,
//! attributes and declared output types are entry `INDEX` of the analysis's
//! opaque table (one entry per source node, so two opaque nodes never
//! hash-cons). No rule pattern can name it and no kernel absorbs it.

use std::fmt;

use egg::{FromOp, Id, Language, Symbol};

/// One e-node.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TensorNode {
    /// A node's attributes as canonical text, such as `{axis=-1}`.
    Attrs(Symbol),
    /// A graph input or param, by its name.
    Leaf(Symbol),
    /// A catalog op: `children[0]` is the attrs class, the rest its inputs.
    Op(Symbol, Vec<Id>),
    /// Output `index` of a multi-output op.
    Get(u32, [Id; 1]),
    /// A fused kernel over its inputs.
    Kernel(KernelHead, Vec<Id>),
    /// An op the catalog does not know, by its index in the analysis's
    /// opaque table; the children are its tensor inputs.
    Opaque(u32, Vec<Id>),
}

/// What distinguishes two kernels with the same inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KernelHead {
    /// The kernel's kind, such as `matmul_epilogue`.
    pub kind: Symbol,
    /// Index of the body in the analysis's kernel table.
    pub body: u32,
}

/// A node without its children: two nodes match when their heads are equal.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Head {
    Attrs(Symbol),
    Leaf(Symbol),
    Op(Symbol, usize),
    Get(u32),
    Kernel(KernelHead, usize),
    Opaque(u32, usize),
}

impl Language for TensorNode {
    type Discriminant = Head;

    fn discriminant(&self) -> Head {
        match self {
            TensorNode::Attrs(s) => Head::Attrs(*s),
            TensorNode::Leaf(s) => Head::Leaf(*s),
            TensorNode::Op(s, children) => Head::Op(*s, children.len()),
            TensorNode::Get(i, _) => Head::Get(*i),
            TensorNode::Kernel(head, children) => Head::Kernel(*head, children.len()),
            TensorNode::Opaque(index, children) => Head::Opaque(*index, children.len()),
        }
    }

    fn matches(&self, other: &Self) -> bool {
        self.discriminant() == other.discriminant()
    }

    fn children(&self) -> &[Id] {
        match self {
            TensorNode::Attrs(_) | TensorNode::Leaf(_) => &[],
            TensorNode::Op(_, children) | TensorNode::Kernel(_, children) | TensorNode::Opaque(_, children) => children,
            TensorNode::Get(_, child) => child,
        }
    }

    fn children_mut(&mut self) -> &mut [Id] {
        match self {
            TensorNode::Attrs(_) | TensorNode::Leaf(_) => &mut [],
            TensorNode::Op(_, children) | TensorNode::Kernel(_, children) | TensorNode::Opaque(_, children) => children,
            TensorNode::Get(_, child) => child,
        }
    }
}

impl fmt::Display for TensorNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TensorNode::Attrs(s) => write!(f, "{s}"),
            TensorNode::Leaf(s) => write!(f, "%{s}"),
            TensorNode::Op(s, _) => write!(f, "{s}"),
            TensorNode::Get(i, _) => write!(f, "get.{i}"),
            TensorNode::Kernel(head, _) => write!(f, "kernel.{}.{}", head.kind, head.body),
            TensorNode::Opaque(index, _) => write!(f, "opaque.{index}"),
        }
    }
}

/// Rule patterns name ops by catalog name (`mul`), leaves as `%name`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` cannot appear in a rule pattern")]
pub struct PatternOpError(String);

impl FromOp for TensorNode {
    type Error = PatternOpError;

    fn from_op(op: &str, children: Vec<Id>) -> Result<Self, Self::Error> {
        let plain = op.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        match (op.strip_prefix('%'), children.is_empty()) {
            (Some(name), true) => Ok(TensorNode::Leaf(Symbol::from(name))),
            (None, false) if plain && op != "kernel" && op != "opaque" => Ok(TensorNode::Op(Symbol::from(op), children)),
            _ => Err(PatternOpError(op.to_string())),
        }
    }
}
