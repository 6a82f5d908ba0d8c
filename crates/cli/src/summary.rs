//! The `check` summary: sizes, parameters, FLOPs and op mix of a graph.

use std::collections::BTreeMap;
use std::fmt::Write;

use opfuse_ir::{Op, VerifiedGraph};
use opfuse_ops::Catalog;
use serde::Serialize;

/// Everything `opfuse check` reports; `--format json` prints it as is.
#[derive(Serialize)]
pub struct Summary {
    pub graph: String,
    pub nodes: usize,
    /// Scalar parameters (weights), summed over all param tensors.
    pub params: u128,
    pub param_tensors: usize,
    pub param_bytes: u128,
    pub flops: u128,
    /// Bytes of every value a node produces (not a peak: the sum).
    pub activation_bytes: u128,
    pub inputs: Vec<Port>,
    pub outputs: Vec<Port>,
    pub classes: BTreeMap<String, ClassCount>,
    /// Nodes per operator name; opaque ops appear as `opaque:NAME`.
    pub ops: BTreeMap<String, usize>,
    /// Why ONNX nodes did not map onto the catalog (absent for .opf files).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub import_notes: Vec<String>,
}

#[derive(Serialize)]
pub struct Port {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
}

#[derive(Serialize, Default)]
pub struct ClassCount {
    pub nodes: usize,
    pub flops: u128,
}

pub fn summarize(graph: &VerifiedGraph, catalog: &Catalog, import_notes: Vec<String>) -> Summary {
    let ty = |id: opfuse_ir::ValueId| graph.ty(id).cloned().expect("verified graphs have no dangling handles");
    let bytes = |id| u128::from(ty(id).size_bytes().expect("verified graphs have sizes that fit"));
    let elements = |id| u128::from(ty(id).numel().expect("verified graphs have sizes that fit"));
    let port = |&id: &opfuse_ir::ValueId| Port {
        name: graph.value(id).and_then(|v| v.name.clone()).unwrap_or_default(),
        ty: ty(id).to_string(),
    };
    let mut summary = Summary {
        graph: graph.name.clone(),
        nodes: graph.nodes.len(),
        params: graph.params.iter().map(|&id| elements(id)).sum(),
        param_tensors: graph.params.len(),
        param_bytes: graph.params.iter().map(|&id| bytes(id)).sum(),
        flops: 0,
        activation_bytes: 0,
        inputs: graph.inputs.iter().map(port).collect(),
        outputs: graph.outputs.iter().map(port).collect(),
        classes: BTreeMap::new(),
        ops: BTreeMap::new(),
        import_notes,
    };
    for node in &graph.nodes {
        let (class, key) = match &node.op {
            Op::Known(name) => (catalog.entry(name).map_or("unknown", |e| e.class.name()), name.clone()),
            Op::Opaque(name) => ("opaque", format!("opaque:{name}")),
        };
        let inputs: Vec<_> = node.inputs.iter().map(|&id| ty(id)).collect();
        let outputs: Vec<_> = node.outputs.iter().map(|&id| ty(id)).collect();
        let flops = catalog.flops(node.op.name(), &node.attrs, &inputs, &outputs);
        summary.flops += flops;
        summary.activation_bytes += node.outputs.iter().map(|&id| bytes(id)).sum::<u128>();
        let entry = summary.classes.entry(class.to_string()).or_default();
        entry.nodes += 1;
        entry.flops += flops;
        *summary.ops.entry(key).or_default() += 1;
    }
    summary
}

pub fn render_text(summary: &Summary) -> String {
    let mut out = String::new();
    let ports = |ports: &[Port]| ports.iter().map(|p| format!("{}: {}", p.name, p.ty)).collect::<Vec<_>>().join(", ");
    let _ = writeln!(out, "graph `{}`: {} nodes, verified", summary.graph, grouped(summary.nodes as u128));
    let _ = writeln!(out, "  inputs       {}", ports(&summary.inputs));
    let _ = writeln!(out, "  outputs      {}", ports(&summary.outputs));
    let _ = writeln!(
        out,
        "  params       {} ({}) in {} tensors, {}",
        grouped(summary.params),
        si(summary.params, ""),
        summary.param_tensors,
        si(summary.param_bytes, "B")
    );
    let _ = writeln!(out, "  flops        {} ({})", grouped(summary.flops), si(summary.flops, "FLOP"));
    let _ = writeln!(
        out,
        "  activations  {} (all intermediate values, summed)",
        si(summary.activation_bytes, "B")
    );
    let _ = writeln!(out, "  ops by class");
    for (class, count) in &summary.classes {
        let share = match summary.flops {
            0 => 0.0,
            total => 100.0 * count.flops as f64 / total as f64,
        };
        let _ = writeln!(
            out,
            "    {class:<12} {:>8} nodes {share:>6.2}% of flops",
            grouped(count.nodes as u128)
        );
    }
    if !summary.import_notes.is_empty() {
        let _ = writeln!(out, "  import notes");
        for note in &summary.import_notes {
            let _ = writeln!(out, "    {note}");
        }
    }
    out
}

/// `1234567` as `1,234,567`.
fn grouped(n: u128) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `6738415616` as `6.74 G` (decimal prefixes, as model sizes are quoted).
fn si(n: u128, unit: &str) -> String {
    let prefixes = ["", "k", "M", "G", "T", "P", "E"];
    let mut value = n as f64;
    let mut prefix = 0;
    while value >= 1000.0 && prefix + 1 < prefixes.len() {
        value /= 1000.0;
        prefix += 1;
    }
    let sep = if unit.is_empty() && prefix == 0 { "" } else { " " };
    match prefix {
        0 => format!("{n}{sep}{unit}"),
        _ => format!("{value:.2} {}{unit}", prefixes[prefix]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_formats() {
        assert_eq!(grouped(6738415616), "6,738,415,616");
        assert_eq!(grouped(12), "12");
        assert_eq!(si(6738415616, ""), "6.74 G");
        assert_eq!(si(512, "B"), "512 B");
        assert_eq!(si(1_500_000, "B"), "1.50 MB");
    }
}
