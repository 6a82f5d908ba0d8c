//! The pipeline: convert, rewrite to saturation (bounded), fuse (bounded),
//! extract with the target's cost, materialize, list kernels, and compare
//! with the unoptimized graph's one-kernel-per-op estimate.

use std::time::Duration;

use egg::{Runner, SimpleScheduler, StopReason};
use opfuse_ascend::{kernels_of, Placement};
use opfuse_ir::VerifiedGraph;
use opfuse_ops::{Catalog, Chip};

use crate::analysis::TensorAnalysis;
use crate::convert::{to_egraph, ConvertError};
use crate::extract::{extract, Cost, ExtractError};
use crate::kernels::{kernel_reports, KernelReport};
use crate::language::TensorNode;
use crate::pricing::Pricer;
use crate::rules::fusion::{fuse, FusionLimits};
use crate::rules::horizontal::merge_shared_matmuls;
use crate::rules::{self, RuleError};
use crate::statics::static_classes;

/// Bounds on the search. The defaults keep every example under 10 s.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub nodes: usize,
    pub iterations: usize,
    pub time: Duration,
    pub fusion_rounds: usize,
    /// The most ops one fused kernel holds.
    pub kernel_ops: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            nodes: 200_000,
            iterations: 12,
            time: Duration::from_secs(3),
            fusion_rounds: 8,
            kernel_ops: 16,
        }
    }
}

/// What the optimizer did and what it gained.
#[derive(Clone, Debug, PartialEq)]
pub struct Stats {
    pub egraph_nodes: usize,
    pub egraph_classes: usize,
    pub iterations: usize,
    /// Why rewriting stopped: saturated, or the limit it hit.
    pub stop_reason: String,
    pub fusion_rounds: usize,
    pub kernels_before: usize,
    pub kernels_after: usize,
    pub time_us_before: f64,
    pub time_us_after: f64,
    pub hbm_bytes_before: u128,
    pub hbm_bytes_after: u128,
}

/// The optimized graph (fused kernels expanded into their ops), its kernels
/// and the statistics.
pub struct Optimized {
    pub graph: VerifiedGraph,
    pub kernels: Vec<KernelReport>,
    pub stats: Stats,
}

#[derive(Debug, thiserror::Error)]
pub enum OptimizeError {
    #[error(transparent)]
    Convert(#[from] ConvertError),
    #[error(transparent)]
    Rule(#[from] RuleError),
    #[error(transparent)]
    Extract(#[from] ExtractError),
    #[error("a rewrite merged values of different types: {0}")]
    TypeConflict(String),
}

/// Optimizes `graph` for `chip` (`None`: no Ascend placement, as for the
/// CPU) under `cost`.
pub fn optimize(
    graph: &VerifiedGraph,
    catalog: &Catalog,
    chip: Option<Chip>,
    cost: &dyn Cost,
    limits: &Limits,
) -> Result<Optimized, OptimizeError> {
    let mut converted = to_egraph(graph, catalog)?;
    let rewrites = rules::rewrites()?;
    let egraph = std::mem::replace(&mut converted.egraph, crate::TensorGraph::new(TensorAnalysis::new(catalog.clone())));
    let runner: Runner<TensorNode, TensorAnalysis> = Runner::new(TensorAnalysis::new(catalog.clone()))
        .with_scheduler(SimpleScheduler)
        .with_egraph(egraph)
        .with_node_limit(limits.nodes)
        .with_iter_limit(limits.iterations)
        .with_time_limit(limits.time)
        .run(&rewrites);
    let stop_reason = match &runner.stop_reason {
        Some(StopReason::Saturated) | None => "saturated".to_string(),
        Some(StopReason::IterationLimit(n)) => format!("iteration limit ({n})"),
        Some(StopReason::NodeLimit(n)) => format!("node limit ({n})"),
        Some(StopReason::TimeLimit(s)) => format!("time limit ({s} s)"),
        Some(StopReason::Other(why)) => why.clone(),
    };
    let iterations = runner.iterations.len();
    converted.egraph = runner.egraph;
    let fusion_limits = FusionLimits {
        rounds: limits.fusion_rounds,
        max_ops: limits.kernel_ops,
        max_inputs: 8,
        kernels_per_class: 6,
        node_limit: limits.nodes,
    };
    merge_shared_matmuls(&mut converted.egraph);
    let fusion_rounds = fuse(&mut converted.egraph, &fusion_limits);
    if let Some(conflict) = converted.egraph.analysis.conflicts.first() {
        return Err(OptimizeError::TypeConflict(conflict.clone()));
    }
    let pricer = Pricer::new(chip, static_classes(&converted.egraph));
    let roots: Vec<_> = converted.roots.iter().map(|&r| converted.egraph.find(r)).collect();
    let extraction = extract(&converted.egraph, &roots, &pricer, cost)?;
    let materialized = converted.materialize(graph, &extraction.choices)?;
    let kernels = kernel_reports(&materialized, &converted.egraph, &pricer, cost);
    let before: Vec<_> = kernels_of(graph, catalog, chip)
        .into_iter()
        .filter(|k| k.placement != Placement::View)
        .collect();
    let stats = Stats {
        egraph_nodes: converted.egraph.total_number_of_nodes(),
        egraph_classes: converted.egraph.number_of_classes(),
        iterations,
        stop_reason,
        fusion_rounds,
        kernels_before: before.len(),
        kernels_after: kernels.len(),
        time_us_before: before.iter().map(|k| cost.time_us(k)).sum(),
        time_us_after: kernels.iter().map(|k| k.time_us).sum(),
        hbm_bytes_before: before.iter().map(|k| k.hbm_bytes).sum(),
        hbm_bytes_after: kernels.iter().map(|k| k.bytes).sum(),
    };
    Ok(Optimized {
        graph: materialized.graph,
        kernels,
        stats,
    })
}
