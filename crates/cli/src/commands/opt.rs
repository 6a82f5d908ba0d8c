//! `opfuse opt FILE --target 910c`: the e-graph optimizer. Prints the
//! kernels the target runs after rewriting and fusion (`--emit kernels`),
//! the rewritten graph (`--emit graph`: fused kernels expanded back into
//! their ops, so the output is a model file that parses and runs), or
//! Graphviz DOT with one cluster per kernel (`--emit dot`).

use std::fmt::Write;

use clap::ValueEnum;
use opfuse_ascend::Profiles;
use opfuse_egraph::{optimize, AscendModel, Cost, CpuRoofline, Limits, Optimized, Stats};
use opfuse_ops::Chip;
use serde::Serialize;

use crate::load::{self, ModelRequest};
use crate::Failure;

#[derive(clap::Args)]
pub struct OptArgs {
    /// The model file (.opf or .onnx).
    #[arg(required_unless_present = "list_rules")]
    pub file: Option<String>,
    /// `cpu` (a roofline of this machine) or an Ascend chip: 910b, 910c, 950pr, 950dt.
    #[arg(long, default_value = "910b")]
    pub target: String,
    #[arg(long, value_enum, default_value_t = Emit::Kernels)]
    pub emit: Emit,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// List every rewrite and fusion rule with a one-line description.
    #[arg(long)]
    pub list_rules: bool,
    /// Override a `dim` default, as NAME=VALUE; may repeat.
    #[arg(long = "dim", value_name = "NAME=VALUE", value_parser = load::parse_dim)]
    pub dims: Vec<(String, i64)>,
    /// The graph to elaborate; the file's last graph by default.
    #[arg(long)]
    pub entry: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Emit {
    Graph,
    Kernels,
    Dot,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

pub fn run(args: &OptArgs) -> Result<String, Failure> {
    if args.list_rules {
        return Ok(list_rules(args.format));
    }
    let file = args.file.as_deref().ok_or_else(|| Failure::Usage("give a model file".into()))?;
    let (chip, cost) = target(&args.target)?;
    let catalog = load::catalog()?;
    let request = ModelRequest {
        path: file,
        entry: args.entry.as_deref(),
        dims: &args.dims,
        bind: Default::default(),
    };
    let graph = load::load(&request, &catalog)?.graph;
    let optimized =
        optimize(&graph, &catalog, chip, cost.as_ref(), &Limits::default()).map_err(|e| Failure::Input(format!("error: {file}: {e}\n")))?;
    Ok(match args.emit {
        Emit::Graph => opfuse_ir::print(&optimized.graph),
        Emit::Dot => dot(&optimized),
        Emit::Kernels => match args.format {
            Format::Text => kernels_text(&optimized),
            Format::Json => kernels_json(&optimized),
        },
    })
}

/// The chip (for op placement) and the cost of the target.
fn target(name: &str) -> Result<(Option<Chip>, Box<dyn Cost>), Failure> {
    if name == "cpu" {
        return Ok((None, Box::new(CpuRoofline::assumed())));
    }
    let profiles = Profiles::builtin().map_err(|e| Failure::Input(format!("error: the chip profiles do not load: {e}\n")))?;
    let profile = profiles.get(name).map_err(|e| Failure::Usage(e.message))?;
    let chip = Chip::from_name(&profile.name).ok_or_else(|| {
        Failure::Usage(format!(
            "`{name}` is not an Ascend chip; the targets are cpu, 910b, 910c, 950pr, 950dt"
        ))
    })?;
    Ok((Some(chip), Box::new(AscendModel { profile: profile.clone() })))
}

fn list_rules(format: Format) -> String {
    let rules = opfuse_egraph::rules::list();
    match format {
        Format::Json => {
            let rows: Vec<serde_json::Value> = rules
                .iter()
                .map(|r| serde_json::json!({"family": r.family, "name": r.name, "description": r.description}))
                .collect();
            json_text(&serde_json::json!({ "rules": rows }))
        }
        Format::Text => {
            let mut out = String::new();
            for rule in rules {
                let _ = writeln!(out, "{:<10} {:<26} {}", rule.family, rule.name, rule.description);
            }
            out
        }
    }
}

#[derive(Serialize)]
struct KernelRow<'a> {
    name: &'a str,
    kind: &'a str,
    ops: &'a [String],
    inputs: &'a [String],
    outputs: &'a [String],
    flops: u128,
    bytes: u128,
    time_us: f64,
}

#[derive(Serialize)]
struct StatsRow<'a> {
    egraph_nodes: usize,
    egraph_classes: usize,
    iterations: usize,
    stop_reason: &'a str,
    fusion_rounds: usize,
    kernels_before: usize,
    kernels_after: usize,
    time_us_before: f64,
    time_us_after: f64,
    hbm_bytes_before: u128,
    hbm_bytes_after: u128,
}

fn stats_row(stats: &Stats) -> StatsRow<'_> {
    StatsRow {
        egraph_nodes: stats.egraph_nodes,
        egraph_classes: stats.egraph_classes,
        iterations: stats.iterations,
        stop_reason: &stats.stop_reason,
        fusion_rounds: stats.fusion_rounds,
        kernels_before: stats.kernels_before,
        kernels_after: stats.kernels_after,
        time_us_before: round3(stats.time_us_before),
        time_us_after: round3(stats.time_us_after),
        hbm_bytes_before: stats.hbm_bytes_before,
        hbm_bytes_after: stats.hbm_bytes_after,
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn json_text(value: &impl Serialize) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}

fn kernels_json(optimized: &Optimized) -> String {
    let kernels: Vec<KernelRow<'_>> = optimized
        .kernels
        .iter()
        .map(|k| KernelRow {
            name: &k.name,
            kind: &k.kind,
            ops: &k.ops,
            inputs: &k.inputs,
            outputs: &k.outputs,
            flops: k.flops,
            bytes: k.bytes,
            time_us: round3(k.time_us),
        })
        .collect();
    json_text(&serde_json::json!({ "kernels": kernels, "stats": stats_row(&optimized.stats) }))
}

fn kernels_text(optimized: &Optimized) -> String {
    let mut out = String::new();
    for k in &optimized.kernels {
        let _ = writeln!(
            out,
            "{:<24} {:>10.3} us  {}  ({} -> {})",
            k.name,
            k.time_us,
            k.ops.join(" "),
            k.inputs.join(", "),
            k.outputs.join(", ")
        );
    }
    let s = &optimized.stats;
    let _ = writeln!(
        out,
        "\nkernels      {} -> {}\ntime         {:.3} us -> {:.3} us\nhbm bytes    {} -> {}\ne-graph      {} nodes, {} classes, {} iterations ({}), {} fusion rounds",
        s.kernels_before,
        s.kernels_after,
        s.time_us_before,
        s.time_us_after,
        s.hbm_bytes_before,
        s.hbm_bytes_after,
        s.egraph_nodes,
        s.egraph_classes,
        s.iterations,
        s.stop_reason,
        s.fusion_rounds
    );
    out
}

/// The optimized graph's nodes, one cluster per kernel.
fn dot(optimized: &Optimized) -> String {
    let graph = &optimized.graph;
    let mut out = String::from("digraph opt {\n    node [shape=box];\n");
    for kernel in &optimized.kernels {
        let _ = writeln!(
            out,
            "    subgraph \"cluster_{}\" {{\n        label=\"{}\";",
            kernel.name, kernel.name
        );
        for id in &kernel.nodes {
            if let Some(node) = graph.node(*id) {
                let _ = writeln!(out, "        n{} [label=\"{}\"];", id.0, node.op.name());
            }
        }
        out.push_str("    }\n");
    }
    for (id, node) in graph.node_ids().zip(&graph.nodes) {
        for input in &node.inputs {
            if let Some(opfuse_ir::ValueDef::Node { node: from, .. }) = graph.value(*input).map(|v| v.def) {
                let _ = writeln!(out, "    n{} -> n{};", from.0, id.0);
            }
        }
    }
    out.push_str("}\n");
    out
}
