//! `opfuse audit MODEL --target 910b`: the migration-gap report. Loads the
//! model, maps each node to where it is written (`file:line:col` for the
//! model language, the node's position and name for ONNX), runs
//! `opfuse_audit::audit` and renders the report; `--fail-under` and
//! `--baseline` turn it into a CI gate.

use std::collections::{BTreeMap, HashMap};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use clap::ValueEnum;
use opfuse_ascend::{Profile, Profiles};
use opfuse_audit::{baseline, render, Location, Model, Report};
use opfuse_ir::VerifiedGraph;
use opfuse_onnx::{ImportOptions, NoteKind};
use opfuse_ops::Catalog;
use prost::Message;

use crate::load::{self, ModelRequest};
use crate::Failure;

#[derive(clap::Args)]
pub struct AuditArgs {
    /// The model file (.opf or .onnx).
    pub file: String,
    /// The Ascend chip to migrate to (`opfuse estimate --list-chips` lists them).
    #[arg(long, default_value = "910b")]
    pub target: String,
    /// The GPU the model runs on today (such as h100): adds its estimated
    /// time beside the target's, per kernel class.
    #[arg(long)]
    pub from: Option<String>,
    #[arg(long, value_enum, default_value_t = AuditFormat::Text)]
    pub format: AuditFormat,
    /// Exit 1 when fewer than PCT percent of the op instances run natively.
    #[arg(long, value_name = "PCT")]
    pub fail_under: Option<f64>,
    /// An earlier `audit --format json`: show only what got worse since,
    /// and exit 1 when anything did.
    #[arg(long, value_name = "OLD_JSON")]
    pub baseline: Option<PathBuf>,
    /// Write the report to FILE instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Override a `dim` default (or an ONNX symbolic dim), as NAME=VALUE; may repeat.
    #[arg(long = "dim", value_name = "NAME=VALUE", value_parser = load::parse_dim)]
    pub dims: Vec<(String, i64)>,
    /// The graph to elaborate; the file's last graph by default.
    #[arg(long)]
    pub entry: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuditFormat {
    Text,
    Json,
    Markdown,
    Sarif,
    Html,
}

pub fn run(args: &AuditArgs) -> Result<String, Failure> {
    if let Some(pct) = args.fail_under.filter(|p| !(0.0..=100.0).contains(p)) {
        return Err(Failure::Usage(format!("--fail-under takes a percentage from 0 to 100, not {pct}")));
    }
    if args.baseline.is_some() && matches!(args.format, AuditFormat::Sarif | AuditFormat::Html) {
        return Err(Failure::Usage("--baseline lists what got worse as text, json or markdown".into()));
    }
    let profiles = Profiles::builtin().map_err(|e| Failure::Input(format!("error: the chip profiles do not load: {e}\n")))?;
    let target = profile(&profiles, &args.target)?;
    let source = args.from.as_deref().map(|name| profile(&profiles, name)).transpose()?;
    let catalog = load::catalog()?;
    let loaded = load_located(args, &catalog)?;
    let model = Model {
        path: &args.file,
        graph: &loaded.graph,
        locations: &loaded.locations,
        opaque_reasons: &loaded.opaque_reasons,
    };
    let report = opfuse_audit::audit(&model, &catalog, target, source).map_err(|e| Failure::Usage(e.to_string()))?;
    if let Some(path) = &args.baseline {
        return compare(args, path, &report);
    }
    let color = args.output.is_none() && std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let rendered = match args.format {
        AuditFormat::Text => render::text(&report, color),
        AuditFormat::Json => render::json(&report),
        AuditFormat::Markdown => render::markdown(&report),
        AuditFormat::Sarif => render::sarif(&report, env!("CARGO_PKG_VERSION")),
        AuditFormat::Html => render::html(&report),
    };
    let output = match &args.output {
        Some(path) => {
            write_atomically(path, &rendered)?;
            String::new()
        }
        None => rendered,
    };
    if let Some(pct) = args.fail_under {
        let have = report.coverage.instances_pct;
        if have < pct {
            return Err(Failure::Input(format!(
                "error: {have:.1}% of op instances run natively on {} ({} of {}), below --fail-under {pct}%\n",
                report.target, report.coverage.native_instances, report.coverage.instances
            )));
        }
    }
    Ok(output)
}

fn profile<'a>(profiles: &'a Profiles, name: &str) -> Result<&'a Profile, Failure> {
    profiles.get(name).map_err(|e| Failure::Usage(e.message))
}

/// `--baseline`: the regressions, on stdout when there are none, else as
/// the failure (stderr, exit 1).
fn compare(args: &AuditArgs, path: &Path, report: &Report) -> Result<String, Failure> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| Failure::Input(format!("error: cannot read `{shown}`: {e}\n")))?;
    let old: Report = serde_json::from_str(&text)
        .map_err(|e| Failure::Input(format!("error: `{shown}` is not an `opfuse audit --format json` report: {e}\n")))?;
    let regressions = baseline::regressions(&old, report);
    let rendered = match args.format {
        AuditFormat::Json => render::regressions_json(&shown, &regressions),
        _ => render::regressions_text(&shown, &regressions),
    };
    match regressions.is_empty() {
        true => Ok(rendered),
        false => Err(Failure::Input(rendered)),
    }
}

/// Writes through a temporary file renamed into place, so a failure leaves
/// no half-written report.
fn write_atomically(path: &Path, text: &str) -> Result<(), Failure> {
    let io = |p: &Path, e: &dyn std::fmt::Display| Failure::Input(format!("error: cannot write `{}`: {e}\n", p.display()));
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".partial");
    let temporary = PathBuf::from(temporary);
    std::fs::write(&temporary, text).map_err(|e| io(&temporary, &e))?;
    std::fs::rename(&temporary, path).map_err(|e| io(path, &e))
}

/// A verified graph with where each node is written.
struct Located {
    graph: VerifiedGraph,
    locations: Vec<Option<Location>>,
    opaque_reasons: BTreeMap<usize, String>,
}

fn load_located(args: &AuditArgs, catalog: &Catalog) -> Result<Located, Failure> {
    let read = |path: &str| std::fs::read(path).map_err(|e| Failure::Input(format!("error: cannot read `{path}`: {e}\n")));
    if !args.file.ends_with(".onnx") {
        let request = ModelRequest {
            path: &args.file,
            entry: args.entry.as_deref(),
            dims: &args.dims,
            bind: BTreeMap::new(),
        };
        let graph = load::load_model(&request, catalog)?;
        let source = String::from_utf8_lossy(&read(&args.file)?).into_owned();
        let lines = LineIndex::new(&source);
        let locations = graph
            .nodes
            .iter()
            .map(|node| {
                let span = node.span?;
                let (line, column) = lines.line_column(&source, span.start as usize);
                Some(Location::source(&args.file, line, column))
            })
            .collect();
        return Ok(Located {
            graph,
            locations,
            opaque_reasons: BTreeMap::new(),
        });
    }
    if args.entry.is_some() {
        return Err(Failure::Usage(
            "--entry selects a graph of an .opf file; an .onnx file has one graph".into(),
        ));
    }
    let bytes = read(&args.file)?;
    let options = ImportOptions {
        bind: BTreeMap::new(),
        dims: args.dims.iter().map(|(name, value)| (name.clone(), *value as u64)).collect(),
    };
    let imported = opfuse_onnx::import(&bytes, catalog, &options).map_err(|e| Failure::Input(format!("error: {}: {e}\n", args.file)))?;
    let proto =
        opfuse_onnx::proto::ModelProto::decode(bytes.as_slice()).map_err(|e| Failure::Input(format!("error: {}: {e}\n", args.file)))?;
    // Each graph node keeps its ONNX node's output names; the first named
    // output finds the node in the file.
    let mut producers: HashMap<&str, (usize, &str)> = HashMap::new();
    for (index, node) in proto.graph.iter().flat_map(|g| g.node.iter()).enumerate() {
        for output in node.output.iter().filter(|o| !o.is_empty()) {
            producers.insert(output.as_str(), (index, node.name.as_str()));
        }
    }
    let graph = imported.graph;
    let file_nodes: Vec<Option<usize>> = graph
        .nodes
        .iter()
        .map(|node| {
            node.outputs
                .iter()
                .filter_map(|&id| graph.value(id).and_then(|v| v.name.as_deref()))
                .find_map(|name| producers.get(name).map(|(index, _)| *index))
        })
        .collect();
    let locations = file_nodes
        .iter()
        .map(|index| {
            let index = (*index)?;
            let name = proto.graph.as_ref()?.node.get(index)?.name.as_str();
            Some(Location::onnx_node(&args.file, index, name))
        })
        .collect();
    let mut opaque_reasons = BTreeMap::new();
    for note in imported.notes.iter().filter(|n| n.kind == NoteKind::Opaque) {
        if let Some(node) = file_nodes.iter().position(|f| *f == Some(note.node.index)) {
            opaque_reasons.insert(node, note.message.clone());
        }
    }
    Ok(Located {
        graph,
        locations,
        opaque_reasons,
    })
}

/// Byte offsets of line starts, for 1-based line and column numbers.
struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    fn new(source: &str) -> LineIndex {
        let starts = std::iter::once(0).chain(source.match_indices('\n').map(|(i, _)| i + 1)).collect();
        LineIndex { starts }
    }

    /// The line and column (in characters) of byte `offset`.
    fn line_column(&self, source: &str, offset: usize) -> (u32, u32) {
        let line = self.starts.partition_point(|&start| start <= offset).max(1);
        let start = self.starts.get(line - 1).copied().unwrap_or(0);
        let column = source.get(start..offset.min(source.len())).map_or(0, |s| s.chars().count());
        (line as u32, column as u32 + 1)
    }
}
