//! Weight preprocessing: a value that depends only on params and constants
//! is computed once, offline, when the weights are loaded (as a concat of
//! the Q/K/V weights that a horizontal matmul merge adds), so its ops cost
//! nothing at run time. The cost functions price such ops as free.

use std::collections::HashSet;

use egg::{Id, Language};

use crate::analysis::TensorGraph;
use crate::language::TensorNode;

/// The classes whose value depends only on params and constants: a class
/// with a param leaf, or with an op or kernel all of whose tensor inputs
/// are such classes (a constant has none). An opaque op is never static.
pub fn static_classes(egraph: &TensorGraph) -> HashSet<Id> {
    let mut found: HashSet<Id> = HashSet::new();
    loop {
        let before = found.len();
        for class in egraph.classes() {
            if found.contains(&class.id) || class.data.single().is_none() {
                continue;
            }
            if class.nodes.iter().any(|node| node_is_static(egraph, node, &found)) {
                found.insert(class.id);
            }
        }
        if found.len() == before {
            return found;
        }
    }
}

/// Whether `node` computes a static value, given the classes known static.
pub fn node_is_static(egraph: &TensorGraph, node: &TensorNode, statics: &HashSet<Id>) -> bool {
    match node {
        TensorNode::Leaf(name) => egraph.analysis.is_param(*name),
        // An opaque op may not be a pure function of its inputs: it runs.
        TensorNode::Attrs(_) | TensorNode::Get(..) | TensorNode::Opaque(..) => false,
        TensorNode::Op(..) | TensorNode::Kernel(..) => tensor_inputs(node).iter().all(|&child| statics.contains(&egraph.find(child))),
    }
}

/// The tensor inputs of an op (after its attribute class) or a kernel.
fn tensor_inputs(node: &TensorNode) -> &[Id] {
    match node {
        TensorNode::Op(_, children) => children.get(1..).unwrap_or_default(),
        other => other.children(),
    }
}
