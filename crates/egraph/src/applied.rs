//! Which saturating rules rewrite a graph: the audit names the rule behind
//! the form that closes a gap. The same rewrites and bounds as
//! [`crate::optimize`], without fusion or extraction.

use std::collections::BTreeMap;

use egg::{Runner, SimpleScheduler};
use opfuse_ir::VerifiedGraph;
use opfuse_ops::Catalog;

use crate::analysis::TensorAnalysis;
use crate::convert::to_egraph;
use crate::language::TensorNode;
use crate::optimize::{Limits, OptimizeError};
use crate::rules;

/// Each rule that added something to `graph`'s e-graph, with how many times
/// it did, by rule name (the names of [`rules::list`]).
pub fn applied_rules(graph: &VerifiedGraph, catalog: &Catalog, limits: &Limits) -> Result<BTreeMap<String, usize>, OptimizeError> {
    let converted = to_egraph(graph, catalog)?;
    let rewrites = rules::rewrites()?;
    let runner: Runner<TensorNode, TensorAnalysis> = Runner::new(TensorAnalysis::new(catalog.clone()))
        .with_scheduler(SimpleScheduler)
        .with_egraph(converted.egraph)
        .with_node_limit(limits.nodes)
        .with_iter_limit(limits.iterations)
        .with_time_limit(limits.time)
        .run(&rewrites);
    let mut applied = BTreeMap::new();
    for iteration in &runner.iterations {
        for (name, &count) in &iteration.applied {
            *applied.entry(name.to_string()).or_insert(0) += count;
        }
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use opfuse_ir::{verify, Attr, DType, Graph, Op, TensorType};

    use super::*;

    #[test]
    fn the_decomposition_of_a_tanh_gelu_is_named() {
        let catalog = Catalog::builtin().expect("catalog");
        let mut graph = Graph::new("g");
        let ty = TensorType::new(DType::F32, vec![4, 8]);
        let x = graph.add_input("x", ty.clone());
        let attrs = [("approximate".to_string(), Attr::Str("tanh".into()))].into_iter().collect();
        let out = graph.add_node(Op::Known("gelu".into()), attrs, vec![x], vec![ty], vec![None], None);
        graph.outputs = out;
        let graph = verify(graph, &catalog).expect("verifies");
        let applied = applied_rules(&graph, &catalog, &Limits::default()).expect("runs");
        assert!(applied.contains_key("decompose-gelu-tanh"), "{applied:?}");
        assert!(!applied.contains_key("decompose-gelu"), "{applied:?}");
    }
}
