//! `opfuse ops`: the operator catalog, and how much of it each chip runs.

use std::collections::BTreeMap;

use clap::ValueEnum;
use opfuse_jit::lower::{path_of, Path};
use opfuse_ops::{AscendUnit, Catalog, Chip, OpEntry};
use serde::Serialize;

use crate::load;
use crate::{table, Failure};

#[derive(clap::Args)]
pub struct OpsArgs {
    /// Show one chip profile only: 910b, 910c, 950pr, 950dt or 310p.
    #[arg(long, value_parser = parse_chip)]
    pub target: Option<Chip>,
    /// Show how `opfuse run` (the CPU JIT) runs each op instead of the chips.
    #[arg(long, conflicts_with = "target")]
    pub jit: bool,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Text,
    Json,
    Markdown,
}

pub fn parse_chip(text: &str) -> Result<Chip, String> {
    Chip::from_name(text).ok_or_else(|| {
        let names: Vec<&str> = Chip::ALL.iter().map(|c| c.name()).collect();
        format!("`{text}` is not a chip profile; the profiles are {}", names.join(", "))
    })
}

pub fn run(args: &OpsArgs) -> Result<String, Failure> {
    let catalog = load::catalog()?;
    let chips: Vec<Chip> = match args.target {
        Some(chip) => vec![chip],
        None => Chip::ALL.to_vec(),
    };
    let mut entries: Vec<&OpEntry> = catalog.entries().collect();
    entries.sort_by(|a, b| (a.class, &a.name).cmp(&(b.class, &b.name)));
    if args.jit {
        return jit_coverage(&entries, args.format);
    }
    match args.format {
        Format::Json => json(&entries, &chips),
        Format::Text => Ok(text(&catalog, &entries, &chips)),
        Format::Markdown => Ok(markdown(&entries, &chips)),
    }
}

/// One op in `--format json`; a stable schema.
#[derive(Serialize)]
struct OpJson<'a> {
    name: &'a str,
    class: &'a str,
    summary: &'a str,
    inputs: &'a [String],
    attrs: Vec<AttrJson<'a>>,
    /// The ONNX op type, or null.
    onnx: Option<&'a str>,
    onnx_mappings: &'a [opfuse_ops::OnnxOp],
    cuda: Option<&'a opfuse_ops::CudaImpl>,
    /// Chip name to cube | vector | ai_cpu | unsupported.
    ascend: BTreeMap<&'static str, AscendUnit>,
    /// Chip name to the source of that status (a key of ops/sources.toml, or `assumed: ...`).
    ascend_sources: BTreeMap<&'static str, &'a str>,
}

#[derive(Serialize)]
struct AttrJson<'a> {
    name: &'a str,
    kind: &'static str,
    default: Option<&'a opfuse_ir::Attr>,
}

fn json(entries: &[&OpEntry], chips: &[Chip]) -> Result<String, Failure> {
    let ops: Vec<OpJson<'_>> = entries
        .iter()
        .map(|e| OpJson {
            name: &e.name,
            class: e.class.name(),
            summary: &e.summary,
            inputs: &e.inputs,
            attrs: e
                .attrs
                .iter()
                .map(|a| AttrJson {
                    name: &a.name,
                    kind: a.kind.name(),
                    default: a.default.as_ref(),
                })
                .collect(),
            onnx: e.onnx.first().map(|m| m.op.as_str()),
            onnx_mappings: &e.onnx,
            cuda: e.cuda.as_ref(),
            ascend: chips.iter().filter_map(|&c| Some((c.name(), e.ascend.get(&c)?.unit))).collect(),
            ascend_sources: chips
                .iter()
                .filter_map(|&c| Some((c.name(), e.ascend.get(&c)?.source.as_str())))
                .collect(),
        })
        .collect();
    serde_json::to_string_pretty(&ops)
        .map(|json| json + "\n")
        .map_err(|e| Failure::Input(format!("error: cannot encode the catalog: {e}\n")))
}

/// The cells of one op's row, shared by the text and markdown tables.
fn row(entry: &OpEntry, chips: &[Chip]) -> Vec<String> {
    let onnx = match entry.onnx.as_slice() {
        [] => "-".to_string(),
        mappings => {
            let first = mappings.iter().map(|m| m.opsets[0]).min().unwrap_or(0);
            let last = mappings.iter().map(|m| m.opsets[1]).max().unwrap_or(0);
            format!("{} {first}-{last}", mappings[0].op)
        }
    };
    let cuda = match &entry.cuda {
        Some(cuda) => format!("{}: {}", library_name(cuda.library), cuda.kernel),
        None => "-".to_string(),
    };
    let mut cells = vec![entry.name.clone(), entry.class.name().to_string(), onnx, cuda];
    for chip in chips {
        cells.push(match entry.ascend.get(chip) {
            Some(support) if support.is_assumed() => format!("{}*", support.unit),
            Some(support) => support.unit.to_string(),
            None => "?".to_string(),
        });
    }
    cells
}

fn library_name(library: opfuse_ops::CudaLibrary) -> &'static str {
    use opfuse_ops::CudaLibrary;
    match library {
        CudaLibrary::Cublas => "cuBLAS",
        CudaLibrary::Cublaslt => "cuBLASLt",
        CudaLibrary::Cudnn => "cuDNN",
        CudaLibrary::Custom => "custom",
    }
}

fn header(chips: &[Chip]) -> Vec<String> {
    let mut cells: Vec<String> = ["op", "class", "onnx", "cuda"].map(String::from).to_vec();
    cells.extend(chips.iter().map(|c| c.name().to_string()));
    cells
}

/// Per chip: how many ops land on each unit, how many run natively, and how
/// many statuses are assumptions rather than sourced facts.
struct Coverage {
    chip: Chip,
    units: BTreeMap<AscendUnit, usize>,
    assumed: usize,
    total: usize,
}

impl Coverage {
    fn of(entries: &[&OpEntry], chip: Chip) -> Coverage {
        let mut units = BTreeMap::new();
        let mut assumed = 0;
        for support in entries.iter().filter_map(|e| e.ascend.get(&chip)) {
            *units.entry(support.unit).or_insert(0) += 1;
            assumed += usize::from(support.is_assumed());
        }
        Coverage {
            chip,
            units,
            assumed,
            total: entries.len(),
        }
    }

    fn count(&self, unit: AscendUnit) -> usize {
        self.units.get(&unit).copied().unwrap_or(0)
    }

    fn cells(&self) -> Vec<String> {
        let native = self.count(AscendUnit::Cube) + self.count(AscendUnit::Vector);
        let percent = match self.total {
            0 => 0.0,
            total => 100.0 * native as f64 / total as f64,
        };
        vec![
            self.chip.name().to_string(),
            self.count(AscendUnit::Cube).to_string(),
            self.count(AscendUnit::Vector).to_string(),
            self.count(AscendUnit::AiCpu).to_string(),
            self.count(AscendUnit::Unsupported).to_string(),
            format!("{native}/{} ({percent:.1}%)", self.total),
            self.assumed.to_string(),
        ]
    }
}

const COVERAGE_HEADER: [&str; 7] = ["chip", "cube", "vector", "ai_cpu", "unsupported", "native", "assumed"];

fn text(catalog: &Catalog, entries: &[&OpEntry], chips: &[Chip]) -> String {
    let mut out = format!("opfuse operator catalog: {} operators\n\n", catalog.entries().count());
    let rows: Vec<Vec<String>> = entries.iter().map(|e| row(e, chips)).collect();
    out.push_str(&table::aligned(&header(chips), &rows));
    out.push_str("\n* assumed: no public source states it; `--format json` gives the reasoning\n\ncoverage\n");
    let coverage: Vec<Vec<String>> = chips.iter().map(|&c| Coverage::of(entries, c).cells()).collect();
    out.push_str(&table::aligned(&COVERAGE_HEADER.map(String::from), &coverage));
    out
}

fn markdown(entries: &[&OpEntry], chips: &[Chip]) -> String {
    let rows: Vec<Vec<String>> = entries.iter().map(|e| row(e, chips)).collect();
    let coverage: Vec<Vec<String>> = chips.iter().map(|&c| Coverage::of(entries, c).cells()).collect();
    format!(
        "# Operator catalog\n\n{} operators. `*` marks an assumption: no public source states it.\n\n{}\n## Coverage\n\n{}",
        entries.len(),
        table::markdown(&header(chips), &rows),
        table::markdown(&COVERAGE_HEADER.map(String::from), &coverage)
    )
}

/// The JIT path of every op, grouped by class: which ops compile (or run
/// natively, or are views), which go to the interpreter, and the limits
/// of the paths that do not take every node. The README's coverage table
/// is this output (`--format markdown`); a test keeps them equal.
fn jit_coverage(entries: &[&OpEntry], format: Format) -> Result<String, Failure> {
    let mut classes: BTreeMap<&str, BTreeMap<&'static str, Vec<&str>>> = BTreeMap::new();
    let mut limited = Vec::new();
    for entry in entries {
        let path = path_of(&entry.name);
        classes
            .entry(entry.class.name())
            .or_default()
            .entry(path.name())
            .or_default()
            .push(&entry.name);
        let limits = Path::limits(&entry.name);
        if path != Path::Interpreter && !limits.is_empty() {
            limited.push(vec![entry.name.clone(), path.name().to_string(), limits.to_string()]);
        }
    }
    let interpreter = Path::Interpreter.name();
    let rows: Vec<Vec<String>> = classes
        .iter()
        .map(|(class, paths)| {
            let compiled: Vec<String> = paths
                .iter()
                .filter(|(path, _)| **path != interpreter)
                .map(|(path, ops)| format!("{path}: {}", ops.join(", ")))
                .collect();
            let total: usize = paths.values().map(Vec::len).sum();
            let left = paths.get(interpreter).map_or(0, Vec::len);
            vec![
                class.to_string(),
                format!("{}/{total}", total - left),
                compiled.join("; "),
                paths.get(interpreter).map_or(String::new(), |ops| ops.join(", ")),
            ]
        })
        .collect();
    let with_path = entries.iter().filter(|e| path_of(&e.name) != Path::Interpreter).count();
    let summary = format!("{with_path} of {} operators have a JIT path", entries.len());
    let header = ["class", "JIT", "JIT path: ops", "interpreter"].map(String::from);
    let limits_header = ["op", "path", "the path takes a node when"].map(String::from);
    match format {
        Format::Json => {
            let ops: Vec<serde_json::Value> = entries
                .iter()
                .map(|e| {
                    let path = path_of(&e.name);
                    serde_json::json!({"name": e.name, "class": e.class.name(), "path": path.name(), "limits": Path::limits(&e.name)})
                })
                .collect();
            serde_json::to_string_pretty(&ops)
                .map(|json| json + "\n")
                .map_err(|e| Failure::Input(format!("error: {e}\n")))
        }
        Format::Text => Ok(format!(
            "{summary}\n\n{}\n{}",
            table::aligned(&header, &rows),
            table::aligned(&limits_header, &limited)
        )),
        Format::Markdown => Ok(format!(
            "{summary}.\n\n{}\n{}",
            table::markdown(&header, &rows),
            table::markdown(&limits_header, &limited)
        )),
    }
}
