//! Operator attributes: compile-time values attached to a node.

use std::collections::BTreeMap;
use std::fmt;

/// One attribute value. Lists may nest, although the catalog uses flat lists.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(untagged)]
pub enum Attr {
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
    List(Vec<Attr>),
}

/// A node's attributes, ordered by name so printing is deterministic.
pub type Attrs = BTreeMap<String, Attr>;

impl Attr {
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Attr::Int(v) => Some(*v),
            _ => None,
        }
    }

    /// A float, accepting an int in its place.
    pub fn as_float(&self) -> Option<f64> {
        match self {
            Attr::Float(v) => Some(*v),
            Attr::Int(v) => Some(*v as f64),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Attr::Bool(v) => Some(*v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Attr::Str(v) => Some(v),
            _ => None,
        }
    }

    /// A list of ints, or `None` if this is not a list or holds a non-int.
    pub fn as_ints(&self) -> Option<Vec<i64>> {
        match self {
            Attr::List(items) => items.iter().map(Attr::as_int).collect(),
            _ => None,
        }
    }

    pub fn as_floats(&self) -> Option<Vec<f64>> {
        match self {
            Attr::List(items) => items.iter().map(Attr::as_float).collect(),
            _ => None,
        }
    }

    /// A short word for the kind of value, used in error messages.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Attr::Int(_) => "int",
            Attr::Float(_) => "float",
            Attr::Bool(_) => "bool",
            Attr::Str(_) => "string",
            Attr::List(_) => "list",
        }
    }
}

impl fmt::Display for Attr {
    /// Prints the value as source text that parses back to the same value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Attr::Int(v) => write!(f, "{v}"),
            // `{:?}` is the shortest text that reads back to the same f64, and always
            // carries a `.` or an exponent, so it re-lexes as a float; `inf`
            // and `nan` are literals of the language.
            Attr::Float(v) if v.is_nan() => f.write_str("nan"),
            Attr::Float(v) => write!(f, "{v:?}"),
            Attr::Bool(v) => write!(f, "{v}"),
            Attr::Str(v) => write!(f, "{v:?}"),
            Attr::List(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_reads_as_source() {
        let list = Attr::List(vec![Attr::Int(0), Attr::Int(-1)]);
        assert_eq!(list.to_string(), "[0, -1]");
        assert_eq!(Attr::Float(1.0).to_string(), "1.0");
        assert_eq!(Attr::Float(1e-6).to_string(), "1e-6");
        assert_eq!(Attr::Float(f64::NEG_INFINITY).to_string(), "-inf");
        assert_eq!(Attr::Float(f64::NAN).to_string(), "nan");
        assert_eq!(Attr::Str("tanh".into()).to_string(), "\"tanh\"");
        assert_eq!(list.as_ints(), Some(vec![0, -1]));
        assert_eq!(Attr::Int(3).as_float(), Some(3.0));
    }
}
