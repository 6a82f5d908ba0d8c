//! `opfuse run MODEL`: run a model on given or random inputs, through the
//! Cranelift JIT (the default, see `jit.rs`) or the reference interpreter
//! (`--reference`), and write its outputs as `.npy` files.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};

use opfuse_ir::{Tensor, VerifiedGraph};
use opfuse_ops::interp;

use super::jit;
use crate::load::{self, ModelRequest};
use crate::{npy, Failure};

#[derive(clap::Args)]
pub struct RunArgs {
    /// The model file (.opf or .onnx).
    pub file: String,
    /// Run with the reference interpreter (the numerical oracle).
    #[arg(long)]
    pub reference: bool,
    /// An input's value from a .npy file, as NAME=FILE.npy; may repeat.
    /// Inputs not given are random from the seed.
    #[arg(long = "input", value_name = "NAME=FILE.npy", value_parser = parse_input)]
    pub inputs: Vec<(String, PathBuf)>,
    /// Seed of the random inputs and params.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Write each output to DIR/<output name>.npy.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Override a `dim` default (or size an ONNX symbolic dim), as NAME=VALUE.
    #[arg(long = "dim", value_name = "NAME=VALUE", value_parser = load::parse_dim)]
    pub dims: Vec<(String, i64)>,
    /// The graph to run; the file's last graph by default.
    #[arg(long)]
    pub entry: Option<String>,
    /// Threads the JIT splits each kernel across (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Also run the interpreter and fail when an output differs beyond its
    /// dtype's tolerance.
    #[arg(long)]
    pub check: bool,
    /// Time this many runs and print compile time and median/min run time.
    #[arg(long, value_name = "RUNS")]
    pub bench: Option<usize>,
    /// Print each stage's median time over the runs (with --bench) or its
    /// time in the one run.
    #[arg(long)]
    pub profile: bool,
    /// Who multiplies matrices: the JIT's own micro-kernel or the
    /// matrixmultiply crate (the JIT still runs prologues and epilogues).
    #[arg(long, value_enum, default_value_t = GemmChoice::Jit)]
    pub gemm: GemmChoice,
    #[arg(long, value_enum, default_value_t = RunFormat::Text)]
    pub format: RunFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum GemmChoice {
    Jit,
    Library,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum RunFormat {
    Text,
    Json,
}

fn parse_input(text: &str) -> Result<(String, PathBuf), String> {
    let (name, path) = text
        .split_once('=')
        .ok_or_else(|| format!("expected NAME=FILE.npy, found `{text}`"))?;
    Ok((name.to_string(), PathBuf::from(path)))
}

pub fn run(args: &RunArgs) -> Result<String, Failure> {
    let started = std::time::Instant::now();
    if args.reference && (args.check || args.bench.is_some()) {
        return Err(Failure::Usage(
            "--check and --bench time and check the JIT: leave out --reference".into(),
        ));
    }
    let catalog = load::catalog()?;
    let mut given = BTreeMap::new();
    // Files whose raw dtype only the model can name (bf16 and fp8 arrays
    // that NumPy saves as `<V2`), read once the model's input types are known.
    let mut raw = Vec::new();
    for (name, path) in &args.inputs {
        if args.inputs.iter().filter(|(other, _)| other == name).count() > 1 {
            return Err(Failure::Usage(format!("input `{name}` is given twice")));
        }
        match npy::read(path) {
            Ok(tensor) => {
                given.insert(name.clone(), tensor);
            }
            Err(npy::NpyError::DType(_)) => raw.push((name, path)),
            Err(e) => return Err(Failure::Input(format!("error: input `{name}`: {e}\n"))),
        }
    }
    let request = ModelRequest {
        path: &args.file,
        entry: args.entry.as_deref(),
        dims: &args.dims,
        bind: given.clone(),
    };
    let loaded = load::load(&request, &catalog)?;
    let graph = &loaded.graph;
    for (name, path) in raw {
        let declared = graph
            .inputs
            .iter()
            .find(|&&id| graph.value_name(id) == *name)
            .and_then(|&id| graph.ty(id));
        let tensor = npy::read_as(path, declared.map(|t| t.dtype)).map_err(|e| Failure::Input(format!("error: input `{name}`: {e}\n")))?;
        given.insert(name.clone(), tensor);
    }
    interp::check_size(graph).map_err(|e| Failure::Input(format!("error: {}: {e}\n", args.file)))?;
    let inputs = collect_inputs(graph, &mut given, args.seed)?;
    if !args.reference {
        let notes: String = loaded.notes.iter().map(|n| format!("note: {n}\n")).collect();
        let (names, outputs, summary) = jit::run(args, graph, &catalog, inputs, started, &notes)?;
        if let Some(dir) = &args.out {
            write_outputs(dir, &names, &outputs)?;
        }
        return Ok(match args.format {
            RunFormat::Json => summary,
            RunFormat::Text => report(&names, &outputs, args.out.as_deref()) + &summary,
        });
    }
    let outputs = interp::run(&catalog, graph, inputs, &BTreeMap::new(), args.seed).map_err(|e| {
        let notes: String = loaded.notes.iter().map(|n| format!("note: {n}\n")).collect();
        Failure::Input(format!("error: {}: {e}\n{notes}", args.file))
    })?;
    let names: Vec<String> = graph.outputs.iter().map(|&id| graph.value_name(id)).collect();
    if let Some(dir) = &args.out {
        write_outputs(dir, &names, &outputs)?;
    }
    Ok(report(&names, &outputs, args.out.as_deref()))
}

/// The graph's inputs in order: given ones (converted to the declared dtype
/// where the file's is of the same kind), the rest random.
fn collect_inputs(graph: &VerifiedGraph, given: &mut BTreeMap<String, Tensor>, seed: u64) -> Result<Vec<Tensor>, Failure> {
    let mut inputs = Vec::with_capacity(graph.inputs.len());
    for (position, &id) in graph.inputs.iter().enumerate() {
        let name = graph.value_name(id);
        let ty = graph
            .ty(id)
            .cloned()
            .ok_or_else(|| Failure::Input(format!("error: input `{name}` has no type\n")))?;
        let tensor = match given.remove(&name) {
            Some(tensor) => tensor
                .conformed_to(&ty)
                .map_err(|tensor| Failure::Input(format!("error: input `{name}` is {}, but the model declares {ty}\n", tensor.ty())))?,
            None => interp::random_tensor(&ty, seed ^ (0xA076_1D64_78BD_642F_u64.wrapping_mul(position as u64 + 1))),
        };
        inputs.push(tensor);
    }
    // Whatever is left was neither an input nor folded into a constant.
    let bound_params: Vec<String> = graph.params.iter().map(|&id| graph.value_name(id)).collect();
    if let Some(name) = given.keys().find(|name| !bound_params.contains(name)) {
        let names: Vec<String> = graph.inputs.iter().map(|&id| format!("`{}`", graph.value_name(id))).collect();
        return Err(Failure::Usage(format!(
            "the model has no input `{name}`; its inputs are {}",
            names.join(", ")
        )));
    }
    Ok(inputs)
}

/// A file name for an output: its name with anything but `[A-Za-z0-9_.-]`
/// replaced by `_`.
pub fn file_name(name: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || "_.-".contains(c) { c } else { '_' })
        .collect();
    format!("{safe}.npy")
}

/// Writes every output, each through a temporary file renamed into place, so
/// a failure leaves no half-written file.
fn write_outputs(dir: &Path, names: &[String], outputs: &[Tensor]) -> Result<(), Failure> {
    let io = |path: &Path, e: &dyn std::fmt::Display| Failure::Input(format!("error: cannot write `{}`: {e}\n", path.display()));
    std::fs::create_dir_all(dir).map_err(|e| io(dir, &e))?;
    let mut encoded = Vec::with_capacity(outputs.len());
    for (name, tensor) in names.iter().zip(outputs) {
        let bytes = npy::encode(tensor).map_err(|e| Failure::Input(format!("error: output `{name}`: {e}\n")))?;
        encoded.push((dir.join(file_name(name)), bytes));
    }
    for (path, bytes) in encoded {
        let temporary = path.with_extension("npy.partial");
        std::fs::write(&temporary, bytes).map_err(|e| io(&temporary, &e))?;
        std::fs::rename(&temporary, &path).map_err(|e| io(&path, &e))?;
    }
    Ok(())
}

/// One line per output: type, a few statistics, and the first elements.
fn report(names: &[String], outputs: &[Tensor], out: Option<&Path>) -> String {
    let mut text = String::new();
    for (name, tensor) in names.iter().zip(outputs) {
        let data = tensor.data();
        let finite: Vec<f64> = data.iter().copied().filter(|x| x.is_finite()).collect();
        let (min, max) = finite
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| (lo.min(x), hi.max(x)));
        let mean = finite.iter().sum::<f64>() / finite.len().max(1) as f64;
        let head: Vec<String> = data.iter().take(4).map(|x| format!("{x:.6}")).collect();
        let _ = write!(text, "{name}: {}", tensor.ty());
        if !finite.is_empty() {
            let _ = write!(text, "  min {min:.6} max {max:.6} mean {mean:.6}");
        }
        let _ = writeln!(text, "  [{}{}]", head.join(", "), if data.len() > 4 { ", ..." } else { "" });
    }
    if let Some(dir) = out {
        let _ = writeln!(text, "wrote {} output(s) to {}", outputs.len(), dir.display());
    }
    text
}
