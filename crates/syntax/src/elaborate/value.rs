//! What an expression evaluates to during elaboration.

use opfuse_ir::{Attr, ValueId};

/// A value known while elaborating: a tensor of the graph being built, or a
/// number, string or list known before the model runs (dims, loop variables,
/// attributes).
#[derive(Clone, Debug, PartialEq)]
pub enum Val {
    Tensor(ValueId),
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
    List(Vec<Val>),
    /// The result of an expression that already failed. Anything computed
    /// from it is poison too, so one mistake is reported once.
    Poison,
}

impl Val {
    pub fn describe(&self) -> &'static str {
        match self {
            Val::Tensor(_) => "a tensor",
            Val::Int(_) => "an integer",
            Val::Float(_) => "a number",
            Val::Bool(_) => "a bool",
            Val::Str(_) => "a string",
            Val::List(_) => "a list",
            Val::Poison => "an invalid value",
        }
    }

    /// The value as an attribute; `None` if it holds a tensor.
    pub fn to_attr(&self) -> Option<Attr> {
        match self {
            Val::Int(v) => Some(Attr::Int(*v)),
            Val::Float(v) => Some(Attr::Float(*v)),
            Val::Bool(v) => Some(Attr::Bool(*v)),
            Val::Str(v) => Some(Attr::Str(v.clone())),
            Val::List(items) => items.iter().map(Val::to_attr).collect::<Option<Vec<_>>>().map(Attr::List),
            Val::Tensor(_) | Val::Poison => None,
        }
    }

    pub fn is_poison(&self) -> bool {
        match self {
            Val::Poison => true,
            Val::List(items) => items.iter().any(Val::is_poison),
            _ => false,
        }
    }
}
