//! The catalog as data: `ops/catalog.toml`, read with serde and validated.

use std::collections::BTreeMap;
use std::fmt;

use opfuse_ir::Attr;
use serde::Deserialize;

/// The catalog text, embedded so the binary needs no data files at run time.
pub const CATALOG_TOML: &str = include_str!("../../../ops/catalog.toml");
const CATALOG_PATH: &str = "ops/catalog.toml";

/// The kind of work an operator does; reports group ops by it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OpClass {
    Elementwise,
    Constant,
    Reduction,
    Matmul,
    Conv,
    Pool,
    Norm,
    Softmax,
    Layout,
    Index,
}

impl OpClass {
    pub fn name(self) -> &'static str {
        match self {
            OpClass::Elementwise => "elementwise",
            OpClass::Constant => "constant",
            OpClass::Reduction => "reduction",
            OpClass::Matmul => "matmul",
            OpClass::Conv => "conv",
            OpClass::Pool => "pool",
            OpClass::Norm => "norm",
            OpClass::Softmax => "softmax",
            OpClass::Layout => "layout",
            OpClass::Index => "index",
        }
    }
}

impl fmt::Display for OpClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The kind of value an attribute takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttrKind {
    Int,
    Float,
    Bool,
    String,
    Ints,
    Floats,
}

impl AttrKind {
    pub fn name(self) -> &'static str {
        match self {
            AttrKind::Int => "int",
            AttrKind::Float => "float",
            AttrKind::Bool => "bool",
            AttrKind::String => "string",
            AttrKind::Ints => "list of ints",
            AttrKind::Floats => "list of floats",
        }
    }

    /// `value` as this kind, widening ints to floats; `None` if it is not.
    pub fn coerce(self, value: &Attr) -> Option<Attr> {
        match (self, value) {
            (AttrKind::Int, Attr::Int(_))
            | (AttrKind::Float, Attr::Float(_))
            | (AttrKind::Bool, Attr::Bool(_))
            | (AttrKind::String, Attr::Str(_)) => Some(value.clone()),
            (AttrKind::Float, Attr::Int(v)) => Some(Attr::Float(*v as f64)),
            (AttrKind::Ints, Attr::List(_)) => value.as_ints().map(|v| Attr::List(v.into_iter().map(Attr::Int).collect())),
            (AttrKind::Floats, Attr::List(_)) => value.as_floats().map(|v| Attr::List(v.into_iter().map(Attr::Float).collect())),
            _ => None,
        }
    }
}

/// One attribute of an operator.
#[derive(Clone, Debug, PartialEq)]
pub struct AttrSpec {
    pub name: String,
    pub kind: AttrKind,
    /// `None` when the attribute is required.
    pub default: Option<Attr>,
}

/// One operator of the catalog.
#[derive(Clone, Debug, PartialEq)]
pub struct OpEntry {
    pub name: String,
    pub class: OpClass,
    pub summary: String,
    pub inputs: Vec<String>,
    pub attrs: Vec<AttrSpec>,
    pub onnx: Option<String>,
}

impl OpEntry {
    /// The fewest and most tensor inputs the op takes (`None`: unbounded).
    pub fn arity(&self) -> (usize, Option<usize>) {
        let required = self.inputs.iter().filter(|i| !i.ends_with('?') && !i.ends_with("...")).count();
        let variadic = self.inputs.iter().any(|i| i.ends_with("..."));
        match variadic {
            true => (required + 1, None),
            false => (required, Some(self.inputs.len())),
        }
    }

    pub fn attr(&self, name: &str) -> Option<&AttrSpec> {
        self.attrs.iter().find(|a| a.name == name)
    }
}

/// A catalog file that does not load.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{file}: {message}")]
pub struct CatalogError {
    pub file: String,
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalog {
    op: Vec<RawOp>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOp {
    name: String,
    class: OpClass,
    summary: String,
    inputs: Vec<String>,
    #[serde(default)]
    attrs: Vec<RawAttr>,
    onnx: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAttr {
    name: String,
    kind: AttrKind,
    default: Option<toml::Value>,
}

/// Parses and validates catalog text. `file` names it in errors.
pub fn parse_catalog(text: &str, file: &str) -> Result<BTreeMap<String, OpEntry>, CatalogError> {
    let error = |message: String| CatalogError {
        file: file.to_string(),
        message,
    };
    let raw: RawCatalog = toml::from_str(text).map_err(|e| error(e.to_string()))?;
    let mut entries = BTreeMap::new();
    for op in raw.op {
        let attrs = op
            .attrs
            .into_iter()
            .map(|a| {
                let default = match &a.default {
                    None => None,
                    Some(value) => {
                        let attr = toml_to_attr(value)
                            .and_then(|v| a.kind.coerce(&v))
                            .ok_or_else(|| error(format!("op `{}`: default of `{}` is not a {}", op.name, a.name, a.kind.name())))?;
                        Some(attr)
                    }
                };
                Ok(AttrSpec {
                    name: a.name,
                    kind: a.kind,
                    default,
                })
            })
            .collect::<Result<Vec<_>, CatalogError>>()?;
        let entry = OpEntry {
            name: op.name.clone(),
            class: op.class,
            summary: op.summary,
            inputs: op.inputs,
            attrs,
            onnx: op.onnx,
        };
        if entries.insert(op.name.clone(), entry).is_some() {
            return Err(error(format!("op `{}` is listed twice", op.name)));
        }
    }
    Ok(entries)
}

/// The built-in catalog.
pub fn builtin_entries() -> Result<BTreeMap<String, OpEntry>, CatalogError> {
    parse_catalog(CATALOG_TOML, CATALOG_PATH)
}

fn toml_to_attr(value: &toml::Value) -> Option<Attr> {
    match value {
        toml::Value::Integer(v) => Some(Attr::Int(*v)),
        toml::Value::Float(v) => Some(Attr::Float(*v)),
        toml::Value::Boolean(v) => Some(Attr::Bool(*v)),
        toml::Value::String(v) => Some(Attr::Str(v.clone())),
        toml::Value::Array(items) => items.iter().map(toml_to_attr).collect::<Option<Vec<_>>>().map(Attr::List),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_catalogs_are_errors_with_a_line() {
        let err = parse_catalog("[[op]]\nname = 3\n", "t.toml").unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
        let text = "[[op]]\nname = \"a\"\nclass = \"layout\"\nsummary = \"\"\ninputs = []\nattrs = [{ name = \"k\", kind = \"int\", default = \"x\" }]\n";
        let err = parse_catalog(text, "t.toml").unwrap_err();
        assert_eq!(err.to_string(), "t.toml: op `a`: default of `k` is not a int");
    }

    #[test]
    fn arity_reads_optional_and_variadic_inputs() {
        let entries = builtin_entries().unwrap();
        assert_eq!(entries["conv"].arity(), (2, Some(3)));
        assert_eq!(entries["concat"].arity(), (1, None));
        assert_eq!(entries["constant"].arity(), (0, Some(0)));
    }
}
