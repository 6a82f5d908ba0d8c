//! From a path to a verified graph: read, parse, elaborate, verify. Every
//! failure comes back rendered, ready to print.

use std::collections::BTreeMap;

use opfuse_ir::{verify, Tensor, VerifiedGraph};
use opfuse_onnx::ImportOptions;
use opfuse_ops::Catalog;
use opfuse_syntax::{Code, Diagnostic};

use crate::{render, Failure};

/// What the user asked to load.
pub struct ModelRequest<'a> {
    pub path: &'a str,
    pub entry: Option<&'a str>,
    pub dims: &'a [(String, i64)],
    /// Input values an ONNX import may fold in as constants (Reshape's shape
    /// given as a graph input).
    pub bind: BTreeMap<String, Tensor>,
}

/// A loaded model, with what the import had to say about its nodes.
pub struct Loaded {
    pub graph: VerifiedGraph,
    /// One line per ONNX node that did not map onto the catalog (empty for .opf).
    pub notes: Vec<String>,
}

/// Loads an `.onnx` file through the ONNX importer, anything else as a
/// model-language file.
pub fn load(request: &ModelRequest<'_>, catalog: &Catalog) -> Result<Loaded, Failure> {
    if !request.path.ends_with(".onnx") {
        let graph = load_model(request, catalog)?;
        return Ok(Loaded { graph, notes: Vec::new() });
    }
    if request.entry.is_some() {
        return Err(Failure::Usage(
            "--entry selects a graph of an .opf file; an .onnx file has one graph".into(),
        ));
    }
    let bytes = std::fs::read(request.path).map_err(|e| Failure::Input(format!("error: cannot read `{}`: {e}\n", request.path)))?;
    let options = ImportOptions {
        bind: request.bind.clone(),
        dims: request.dims.iter().map(|(name, value)| (name.clone(), *value as u64)).collect(),
    };
    let imported = opfuse_onnx::import(&bytes, catalog, &options).map_err(|e| Failure::Input(format!("error: {}: {e}\n", request.path)))?;
    Ok(Loaded {
        graph: imported.graph,
        notes: imported.notes.iter().map(ToString::to_string).collect(),
    })
}

pub fn catalog() -> Result<Catalog, Failure> {
    Catalog::builtin().map_err(|e| Failure::Input(format!("error: the operator catalog does not load: {e}\n")))
}

pub fn load_model(request: &ModelRequest<'_>, catalog: &Catalog) -> Result<VerifiedGraph, Failure> {
    let bytes = std::fs::read(request.path).map_err(|e| Failure::Input(format!("error: cannot read `{}`: {e}\n", request.path)))?;
    let source = match String::from_utf8(bytes) {
        Ok(source) => source,
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let lossy = String::from_utf8_lossy(e.as_bytes()).into_owned();
            let diagnostic =
                Diagnostic::new(Code::E0001, opfuse_ir::Span::new(at, at + 1), "the file is not valid UTF-8").label("invalid byte here");
            return Err(Failure::Input(render::diagnostics(request.path, &lossy, &[diagnostic])));
        }
    };
    let ast = opfuse_syntax::parse(&source).map_err(|d| Failure::Input(render::diagnostics(request.path, &source, &d)))?;
    let config = opfuse_syntax::Config {
        entry: request.entry,
        dims: request.dims,
        ops: catalog,
    };
    let graph = opfuse_syntax::elaborate(&ast, &config).map_err(|failure| match failure {
        opfuse_syntax::Failure::Diagnostics(d) => Failure::Input(render::diagnostics(request.path, &source, &d)),
        opfuse_syntax::Failure::Usage(message) => Failure::Usage(message),
    })?;
    verify(graph, catalog).map_err(|e| Failure::Input(format!("error: {}: the elaborated graph is invalid: {e}\n", request.path)))
}

/// Parses `NAME=VALUE` for `--dim`.
pub fn parse_dim(text: &str) -> Result<(String, i64), String> {
    let (name, value) = text.split_once('=').ok_or_else(|| format!("expected NAME=VALUE, found `{text}`"))?;
    let value: i64 = value.trim().parse().map_err(|_| format!("`{value}` is not an integer"))?;
    if value < 0 {
        return Err(format!("`{name}` must not be negative"));
    }
    Ok((name.trim().to_string(), value))
}
