//! The catalog as data: `ops/catalog/*.toml` and `ops/sources.toml`, read
//! with serde and validated. `ops/README.md` describes the format.

use std::collections::BTreeMap;
use std::fmt;

use opfuse_ir::Attr;
use serde::{Deserialize, Serialize};

/// The catalog files, embedded so the binary needs no data files at run time.
pub const CATALOG_FILES: &[(&str, &str)] = &[
    (
        "ops/catalog/elementwise.toml",
        include_str!("../../../ops/catalog/elementwise.toml"),
    ),
    ("ops/catalog/quant.toml", include_str!("../../../ops/catalog/quant.toml")),
    ("ops/catalog/reduction.toml", include_str!("../../../ops/catalog/reduction.toml")),
    ("ops/catalog/matmul.toml", include_str!("../../../ops/catalog/matmul.toml")),
    ("ops/catalog/conv.toml", include_str!("../../../ops/catalog/conv.toml")),
    ("ops/catalog/norm.toml", include_str!("../../../ops/catalog/norm.toml")),
    ("ops/catalog/moe.toml", include_str!("../../../ops/catalog/moe.toml")),
    ("ops/catalog/layout.toml", include_str!("../../../ops/catalog/layout.toml")),
    ("ops/catalog/index.toml", include_str!("../../../ops/catalog/index.toml")),
];
pub const SOURCES_TOML: &str = include_str!("../../../ops/sources.toml");
const SOURCES_PATH: &str = "ops/sources.toml";

/// The kind of work an operator does; reports group ops by it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize)]
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
    Attention,
    Layout,
    Index,
    Quant,
    Moe,
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
            OpClass::Attention => "attention",
            OpClass::Layout => "layout",
            OpClass::Index => "index",
            OpClass::Quant => "quant",
            OpClass::Moe => "moe",
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

/// An ONNX op type an entry implements, for which opset versions, and how
/// the importer maps an ONNX node of it onto the entry.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OnnxOp {
    pub op: String,
    /// First and last opset version with these semantics.
    pub opsets: [u32; 2],
    /// ONNX attribute name to catalog attribute name, where they differ.
    /// Attributes not listed keep their name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attrs: BTreeMap<String, String>,
    /// ONNX input position (as a string key) to the catalog attribute it
    /// becomes; such inputs must be constants (Reshape's `shape`). The other
    /// inputs map in order to the entry's tensor inputs.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub const_inputs: BTreeMap<String, String>,
    /// ONNX attributes the importer drops because they do not change the
    /// result in inference (Dropout's `seed`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore: Vec<String>,
    /// Values ONNX assumes for absent attributes where the catalog's default
    /// differs (ONNX reductions keep dims by default, the language's drop them).
    #[serde(default, deserialize_with = "attrs_from_toml", skip_serializing_if = "BTreeMap::is_empty")]
    pub defaults: BTreeMap<String, Attr>,
    /// Catalog attribute to the ONNX input position (as a string key) whose
    /// dtype it takes (Range's output dtype is its inputs').
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dtype_from: BTreeMap<String, String>,
    /// A catalog attribute that, when absent, takes the node's number of
    /// outputs (Split into equal parts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_count: Option<String>,
    /// ONNX output position (as a string key) to a bool catalog attribute
    /// that is set when the node uses that optional output (LayerNormalization's
    /// mean and inverse deviation, MaxPool's indices).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub output_flags: BTreeMap<String, String>,
}

fn attrs_from_toml<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<BTreeMap<String, Attr>, D::Error> {
    let raw = BTreeMap::<String, toml::Value>::deserialize(deserializer)?;
    raw.into_iter()
        .map(|(name, value)| match toml_to_attr(&value) {
            Some(attr) => Ok((name, attr)),
            None => Err(serde::de::Error::custom(format!("default `{name}` is not an attribute value"))),
        })
        .collect()
}

/// One mapping or several (an op whose operands moved between opsets).
#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> From<OneOrMany<T>> for Vec<T> {
    fn from(value: OneOrMany<T>) -> Vec<T> {
        match value {
            OneOrMany::One(one) => vec![one],
            OneOrMany::Many(many) => many,
        }
    }
}

/// Where CUDA programs get an operator from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CudaLibrary {
    Cublas,
    Cublaslt,
    Cudnn,
    /// A hand-written kernel family (PyTorch's, or a model's own).
    Custom,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CudaImpl {
    pub library: CudaLibrary,
    /// The routine or kernel family (`cublasGemmEx`, `elementwise`).
    pub kernel: String,
}

/// The Ascend chip profiles the catalog describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize)]
pub enum Chip {
    #[serde(rename = "910b")]
    Ascend910B,
    #[serde(rename = "910c")]
    Ascend910C,
    #[serde(rename = "950pr")]
    Ascend950PR,
    #[serde(rename = "950dt")]
    Ascend950DT,
    #[serde(rename = "310p")]
    Ascend310P,
}

impl Chip {
    pub const ALL: [Chip; 5] = [
        Chip::Ascend910B,
        Chip::Ascend910C,
        Chip::Ascend950PR,
        Chip::Ascend950DT,
        Chip::Ascend310P,
    ];

    /// The profile's name on the command line and in the catalog.
    pub fn name(self) -> &'static str {
        match self {
            Chip::Ascend910B => "910b",
            Chip::Ascend910C => "910c",
            Chip::Ascend950PR => "950pr",
            Chip::Ascend950DT => "950dt",
            Chip::Ascend310P => "310p",
        }
    }

    pub fn from_name(name: &str) -> Option<Chip> {
        Chip::ALL.into_iter().find(|c| c.name() == name)
    }
}

impl fmt::Display for Chip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where CANN runs an operator on one chip.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AscendUnit {
    /// Natively, on the matrix unit.
    Cube,
    /// Natively, on the vector unit.
    Vector,
    /// Through the AI CPU fallback: runs, slowly, off the AI cores.
    AiCpu,
    /// Not at all: the model needs a rewrite or a custom kernel.
    Unsupported,
}

impl AscendUnit {
    pub fn name(self) -> &'static str {
        match self {
            AscendUnit::Cube => "cube",
            AscendUnit::Vector => "vector",
            AscendUnit::AiCpu => "ai_cpu",
            AscendUnit::Unsupported => "unsupported",
        }
    }

    /// Runs on the AI cores (cube or vector).
    pub fn is_native(self) -> bool {
        matches!(self, AscendUnit::Cube | AscendUnit::Vector)
    }
}

impl fmt::Display for AscendUnit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One chip's status for an operator, with where that fact comes from.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AscendSupport {
    pub unit: AscendUnit,
    /// A key of `ops/sources.toml`, or `assumed: <reason>`.
    pub source: String,
}

impl AscendSupport {
    pub fn is_assumed(&self) -> bool {
        self.source.starts_with("assumed:")
    }
}

/// A public source the catalog cites.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    pub mark: String,
    pub title: String,
    #[serde(default)]
    pub note: Option<String>,
}

/// One operator of the catalog.
#[derive(Clone, Debug, PartialEq)]
pub struct OpEntry {
    pub name: String,
    pub class: OpClass,
    pub summary: String,
    pub inputs: Vec<String>,
    pub attrs: Vec<AttrSpec>,
    /// The ONNX op types (and opset ranges) that import as this entry.
    pub onnx: Vec<OnnxOp>,
    pub cuda: Option<CudaImpl>,
    /// Where each chip runs it; every chip of [`Chip::ALL`] has an entry
    /// once the catalog is complete.
    pub ascend: BTreeMap<Chip, AscendSupport>,
    /// The catalog file the entry is written in.
    pub file: String,
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
    #[serde(default)]
    op: Vec<RawOp>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSources {
    source: BTreeMap<String, Source>,
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
    onnx: Option<OneOrMany<OnnxOp>>,
    cuda: Option<CudaImpl>,
    #[serde(default)]
    ascend: BTreeMap<String, AscendSupport>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAttr {
    name: String,
    kind: AttrKind,
    default: Option<toml::Value>,
}

/// Parses and validates the sources file.
pub fn parse_sources(text: &str, file: &str) -> Result<BTreeMap<String, Source>, CatalogError> {
    let raw: RawSources = toml::from_str(text).map_err(|e| CatalogError {
        file: file.to_string(),
        message: e.to_string(),
    })?;
    Ok(raw.source)
}

/// Parses and validates one catalog file into `entries`. `file` names it in
/// errors; every cited source must be in `sources`.
pub fn parse_catalog(
    text: &str,
    file: &str,
    sources: &BTreeMap<String, Source>,
    entries: &mut BTreeMap<String, OpEntry>,
) -> Result<(), CatalogError> {
    let error = |message: String| CatalogError {
        file: file.to_string(),
        message,
    };
    let raw: RawCatalog = toml::from_str(text).map_err(|e| error(e.to_string()))?;
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
        let ascend = resolve_ascend(&op.ascend, sources).map_err(|m| error(format!("op `{}`: {m}", op.name)))?;
        let entry = OpEntry {
            name: op.name.clone(),
            class: op.class,
            summary: op.summary,
            inputs: op.inputs,
            attrs,
            onnx: op.onnx.map(Vec::from).unwrap_or_default(),
            cuda: op.cuda,
            ascend,
            file: file.to_string(),
        };
        if let Some(previous) = entries.insert(op.name.clone(), entry) {
            return Err(error(format!("op `{}` is listed twice (also in {})", op.name, previous.file)));
        }
    }
    Ok(())
}

/// Applies `all` to every chip, then each chip's own key.
fn resolve_ascend(
    raw: &BTreeMap<String, AscendSupport>,
    sources: &BTreeMap<String, Source>,
) -> Result<BTreeMap<Chip, AscendSupport>, String> {
    for (key, support) in raw {
        if key != "all" && Chip::from_name(key).is_none() {
            let chips: Vec<&str> = Chip::ALL.iter().map(|c| c.name()).collect();
            return Err(format!("`ascend.{key}` is not a chip; the chips are all, {}", chips.join(", ")));
        }
        if !support.is_assumed() && !sources.contains_key(&support.source) {
            return Err(format!(
                "`ascend.{key}` cites `{}`, which is not in {SOURCES_PATH} (write `assumed: <reason>` when no source says it)",
                support.source
            ));
        }
    }
    let mut resolved = BTreeMap::new();
    for chip in Chip::ALL {
        if let Some(support) = raw.get(chip.name()).or_else(|| raw.get("all")) {
            resolved.insert(chip, support.clone());
        }
    }
    Ok(resolved)
}

/// The built-in catalog, from every file of [`CATALOG_FILES`].
pub fn builtin_entries() -> Result<BTreeMap<String, OpEntry>, CatalogError> {
    let sources = builtin_sources()?;
    let mut entries = BTreeMap::new();
    for (file, text) in CATALOG_FILES {
        parse_catalog(text, file, &sources, &mut entries)?;
    }
    Ok(entries)
}

pub fn builtin_sources() -> Result<BTreeMap<String, Source>, CatalogError> {
    parse_sources(SOURCES_TOML, SOURCES_PATH)
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
        let sources = builtin_sources().unwrap();
        let parse = |text: &str| {
            parse_catalog(text, "t.toml", &sources, &mut BTreeMap::new())
                .unwrap_err()
                .to_string()
        };
        assert!(parse("[[op]]\nname = 3\n").contains("line 2"));
        let head = "[[op]]\nname = \"a\"\nclass = \"layout\"\nsummary = \"\"\ninputs = []\n";
        assert_eq!(
            parse(&format!("{head}attrs = [{{ name = \"k\", kind = \"int\", default = \"x\" }}]\n")),
            "t.toml: op `a`: default of `k` is not a int"
        );
        assert!(
            parse(&format!("{head}ascend.910x = {{ unit = \"cube\", source = \"ort-cann-ep\" }}\n"))
                .contains("`ascend.910x` is not a chip")
        );
        assert!(parse(&format!("{head}ascend.all = {{ unit = \"cube\", source = \"a blog\" }}\n")).contains("cites `a blog`"));
    }

    #[test]
    fn arity_reads_optional_and_variadic_inputs() {
        let entries = builtin_entries().unwrap();
        assert_eq!(entries["conv"].arity(), (2, Some(3)));
        assert_eq!(entries["concat"].arity(), (1, None));
        assert_eq!(entries["constant"].arity(), (0, Some(0)));
    }
}
