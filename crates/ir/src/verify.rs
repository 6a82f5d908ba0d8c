//! The verifier: the checks every later stage relies on.
//!
//! A [`VerifiedGraph`] is a [`Graph`] that passed all of these:
//!
//! - **Handles.** Every `ValueId` and `NodeId` in the graph is in range.
//! - **Definitions.** Each value's `def` points back at the input slot or node
//!   output that lists it, and every value is defined exactly once.
//! - **Order.** Nodes are topologically sorted: a node uses only inputs,
//!   params and outputs of earlier nodes.
//! - **Names.** Inputs and params have names, unique among them.
//! - **Types.** A known operator's output types are exactly what its shape
//!   rule infers from its input types and attributes; an opaque node has at
//!   least one output. Every tensor's byte size fits in a `u64`.
//! - **Data.** Param data belongs to a param and has exactly its type.
//! - **Outputs.** The graph has at least one output.
//!
//! Not checked: whether every value is used (dead nodes are legal).

use std::collections::HashSet;
use std::ops::Deref;

use crate::{Graph, NodeId, Op, OpSemantics, ValueDef, ValueId};

/// A graph that passed [`verify`]. Backends take this, not a bare `Graph`.
#[derive(Clone, Debug, PartialEq)]
pub struct VerifiedGraph(Graph);

impl VerifiedGraph {
    pub fn into_inner(self) -> Graph {
        self.0
    }
}

impl Deref for VerifiedGraph {
    type Target = Graph;

    fn deref(&self) -> &Graph {
        &self.0
    }
}

/// A broken invariant, with the node or value that breaks it.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum VerifyError {
    #[error("{0} refers to a value that does not exist")]
    DanglingValue(String),
    #[error("value {value} is defined in one place but recorded as coming from another")]
    BadDefinition { value: ValueId },
    #[error("node {node} uses {value} before it is defined")]
    UseBeforeDef { node: NodeId, value: ValueId },
    #[error("{value} has no name; inputs and params must be named")]
    Unnamed { value: ValueId },
    #[error("the name `{name}` is given to two inputs or params")]
    DuplicateName { name: String },
    #[error("node {node} (`{op}`): {message}")]
    Type { node: NodeId, op: String, message: String },
    #[error("node {node} (`{op}`) is not a known operator")]
    UnknownOp { node: NodeId, op: String },
    #[error("{value} has a size that does not fit in 64 bits")]
    Oversized { value: ValueId },
    #[error("the graph has no outputs")]
    NoOutputs,
    #[error("data is given for {value}, which is not a param of this type")]
    BadParamData { value: ValueId },
}

/// Checks every invariant listed in the module doc.
pub fn verify(graph: Graph, ops: &dyn OpSemantics) -> Result<VerifiedGraph, VerifyError> {
    check_handles(&graph)?;
    check_definitions(&graph)?;
    check_names(&graph)?;
    check_types(&graph, ops)?;
    check_param_data(&graph)?;
    if graph.outputs.is_empty() {
        return Err(VerifyError::NoOutputs);
    }
    Ok(VerifiedGraph(graph))
}

fn check_param_data(graph: &Graph) -> Result<(), VerifyError> {
    for (&value, tensor) in &graph.param_data {
        let is_param = graph.value(value).is_some_and(|v| v.def == ValueDef::Param && &v.ty == tensor.ty());
        if !is_param {
            return Err(VerifyError::BadParamData { value });
        }
    }
    Ok(())
}

fn check_handles(graph: &Graph) -> Result<(), VerifyError> {
    let in_range = |id: ValueId| id.index() < graph.values.len();
    let all_graph_values = graph.inputs.iter().chain(&graph.params).chain(&graph.outputs);
    if let Some(id) = all_graph_values.copied().find(|&id| !in_range(id)) {
        return Err(VerifyError::DanglingValue(format!("the graph's {id}")));
    }
    for (node_id, node) in graph.node_ids().zip(&graph.nodes) {
        if let Some(id) = node.inputs.iter().chain(&node.outputs).find(|&&id| !in_range(id)) {
            return Err(VerifyError::DanglingValue(format!("node {node_id} ({id})")));
        }
    }
    Ok(())
}

fn check_definitions(graph: &Graph) -> Result<(), VerifyError> {
    // `defined[v]` turns true where `v` is defined; a node may only use values
    // already defined, which also proves the node order topological.
    let mut defined = vec![false; graph.values.len()];
    let define = |defined: &mut Vec<bool>, id: ValueId, expected: ValueDef| {
        let slot = &mut defined[id.index()];
        if graph.values[id.index()].def != expected || *slot {
            return Err(VerifyError::BadDefinition { value: id });
        }
        *slot = true;
        Ok(())
    };
    for (i, &id) in graph.inputs.iter().enumerate() {
        define(&mut defined, id, ValueDef::Input(i as u32))?;
    }
    for &id in &graph.params {
        define(&mut defined, id, ValueDef::Param)?;
    }
    for (node_id, node) in graph.node_ids().zip(&graph.nodes) {
        if let Some(&value) = node.inputs.iter().find(|id| !defined[id.index()]) {
            return Err(VerifyError::UseBeforeDef { node: node_id, value });
        }
        for (index, &id) in node.outputs.iter().enumerate() {
            let def = ValueDef::Node {
                node: node_id,
                index: index as u32,
            };
            define(&mut defined, id, def)?;
        }
    }
    match defined.iter().position(|d| !d) {
        Some(i) => Err(VerifyError::BadDefinition { value: ValueId(i as u32) }),
        None => Ok(()),
    }
}

fn check_names(graph: &Graph) -> Result<(), VerifyError> {
    let mut seen = HashSet::new();
    for &id in graph.inputs.iter().chain(&graph.params) {
        let name = graph.values[id.index()].name.as_deref().ok_or(VerifyError::Unnamed { value: id })?;
        if !seen.insert(name) {
            return Err(VerifyError::DuplicateName { name: name.to_string() });
        }
    }
    Ok(())
}

fn check_types(graph: &Graph, ops: &dyn OpSemantics) -> Result<(), VerifyError> {
    if let Some(i) = graph.values.iter().position(|v| v.ty.size_bytes().is_none()) {
        return Err(VerifyError::Oversized { value: ValueId(i as u32) });
    }
    for (node_id, node) in graph.node_ids().zip(&graph.nodes) {
        let type_error = |message: String| VerifyError::Type {
            node: node_id,
            op: node.op.name().to_string(),
            message,
        };
        let outputs: Vec<_> = node.outputs.iter().map(|&id| &graph.values[id.index()].ty).collect();
        match &node.op {
            Op::Opaque(_) => {
                if outputs.is_empty() {
                    return Err(type_error("an opaque node needs at least one output".into()));
                }
            }
            Op::Known(name) => {
                if !ops.knows(name) {
                    return Err(VerifyError::UnknownOp {
                        node: node_id,
                        op: name.clone(),
                    });
                }
                let inputs: Vec<_> = node.inputs.iter().map(|&id| graph.values[id.index()].ty.clone()).collect();
                let inferred = ops.infer(name, &node.attrs, &inputs).map_err(|e| type_error(e.message))?;
                if inferred.iter().ne(outputs.iter().copied()) {
                    let show = |types: Vec<String>| types.join(", ");
                    return Err(type_error(format!(
                        "outputs are ({}) but the shape rule gives ({})",
                        show(outputs.iter().map(|t| t.to_string()).collect()),
                        show(inferred.iter().map(|t| t.to_string()).collect()),
                    )));
                }
            }
        }
    }
    Ok(())
}
