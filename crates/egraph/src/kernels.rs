//! The extracted graph as a kernel list: one entry per chosen op or fused
//! kernel that launches (views such as reshape run no kernel).

use std::collections::HashSet;

use opfuse_ascend::Placement;
use opfuse_ir::{Graph, NodeId, ValueId};

use crate::analysis::TensorGraph;
use crate::convert::Materialized;
use crate::extract::Cost;
use crate::language::TensorNode;
use crate::pricing::Pricer;

/// One kernel of the optimized graph.
#[derive(Clone, Debug, PartialEq)]
pub struct KernelReport {
    pub name: String,
    /// `elementwise`, `matmul_epilogue`, `reduction`, ... for fused kernels;
    /// the op's class for a single op; `opaque` for an opaque op.
    pub kind: String,
    pub ops: Vec<String>,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub flops: u128,
    /// HBM bytes read and written.
    pub bytes: u128,
    pub time_us: f64,
    /// The nodes of the optimized graph the kernel runs.
    pub nodes: Vec<NodeId>,
}

pub fn kernel_reports(materialized: &Materialized, egraph: &TensorGraph, pricer: &Pricer, cost: &dyn Cost) -> Vec<KernelReport> {
    let graph: &Graph = &materialized.graph;
    let mut reports = Vec::new();
    for site in &materialized.sites {
        let Some(kernel) = pricer.node_kernel(egraph, &site.node) else {
            continue;
        };
        if kernel.placement == Placement::View {
            continue;
        }
        let nodes: Vec<_> = site.nodes.iter().filter_map(|&id| graph.node(id)).collect();
        let defined: HashSet<ValueId> = nodes.iter().flat_map(|n| n.outputs.iter().copied()).collect();
        let mut inputs: Vec<ValueId> = Vec::new();
        for &value in nodes.iter().flat_map(|n| n.inputs.iter()) {
            if !defined.contains(&value) && !inputs.contains(&value) {
                inputs.push(value);
            }
        }
        let outputs: Vec<ValueId> = nodes.last().map(|n| n.outputs.clone()).unwrap_or_default();
        let kind = match &site.node {
            TensorNode::Kernel(head, _) => head.kind.to_string(),
            TensorNode::Opaque(..) => "opaque".to_string(),
            _ => kernel.class.name().to_string(),
        };
        reports.push(KernelReport {
            name: format!("k{}.{kind}", reports.len()),
            kind,
            ops: nodes.iter().map(|n| n.op.name().to_string()).collect(),
            inputs: inputs.iter().map(|&v| value_name(graph, v)).collect(),
            outputs: outputs.iter().map(|&v| value_name(graph, v)).collect(),
            flops: kernel.flops,
            bytes: kernel.hbm_bytes,
            time_us: cost.time_us(&kernel),
            nodes: site.nodes.clone(),
        });
    }
    reports
}

/// A value's name hint, or its id.
pub fn value_name(graph: &Graph, value: ValueId) -> String {
    graph.value(value).and_then(|v| v.name.clone()).unwrap_or_else(|| value.to_string())
}
