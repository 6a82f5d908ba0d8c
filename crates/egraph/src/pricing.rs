//! An adapter from e-nodes to the cost model's [`Kernel`]: an unfused op is
//! its one-op kernel, exactly as `opfuse_ascend::kernels_of` builds it (on a
//! one-node graph), and a fused kernel is the sum of its ops' work with HBM
//! traffic of its inputs read once and its output written once. An opaque
//! op is built the same way, as a one-node graph of the opaque op: the
//! catalog does not know it, so it is an AI CPU fallback on an Ascend chip
//! with no FLOPs and its inputs and outputs as traffic. An op or
//! kernel over params and constants only is weight preprocessing, done once
//! offline, and free (see `statics.rs`).

use std::cell::RefCell;
use std::collections::HashSet;

use egg::Symbol;
use opfuse_ascend::{kernels_of, Kernel, Placement};
use opfuse_ir::{verify, Graph, Op, OpSemantics, TensorType};
use opfuse_ops::{Catalog, Chip, OpClass};

use crate::analysis::{ClassData, OpaqueOp, TensorAnalysis, TensorGraph};
use crate::body::{Body, Operand};
use crate::language::TensorNode;
use crate::statics::node_is_static;
use crate::HashMap;

/// An op, its interned attributes and its input types: what a one-op kernel depends on.
type OpKey = (Symbol, Symbol, Vec<TensorType>);

/// Builds and caches kernels for one chip (`None`: no Ascend placement).
pub struct Pricer {
    chip: Option<Chip>,
    /// The classes computed offline from params and constants.
    statics: HashSet<egg::Id>,
    cache: RefCell<HashMap<OpKey, Option<Kernel>>>,
}

impl Pricer {
    pub fn new(chip: Option<Chip>, statics: HashSet<egg::Id>) -> Pricer {
        Pricer {
            chip,
            statics,
            cache: RefCell::new(HashMap::default()),
        }
    }

    /// The kernel an e-node runs; `None` for leaves, attributes,
    /// projections and weight preprocessing.
    pub fn node_kernel(&self, egraph: &TensorGraph, node: &TensorNode) -> Option<Kernel> {
        if node_is_static(egraph, node, &self.statics) {
            return None;
        }
        let analysis = &egraph.analysis;
        let input_types =
            |ids: &[egg::Id]| -> Option<Vec<TensorType>> { ids.iter().map(|&id| egraph[id].data.single().cloned()).collect() };
        match node {
            TensorNode::Attrs(_) | TensorNode::Leaf(_) | TensorNode::Get(..) => None,
            TensorNode::Op(op, children) => {
                let (attrs, inputs) = children.split_first()?;
                let ClassData::Attrs(attrs) = &egraph[*attrs].data else {
                    return None;
                };
                self.op_kernel(analysis, *op, *attrs, &input_types(inputs)?)
            }
            TensorNode::Kernel(head, inputs) => {
                let body = analysis.kernels.get(head.body)?;
                self.body_kernel(analysis, head.kind, body, &input_types(inputs)?)
            }
            TensorNode::Opaque(index, inputs) => opaque_kernel(analysis, self.chip, analysis.opaque(*index)?, &input_types(inputs)?),
        }
    }

    fn op_kernel(&self, analysis: &TensorAnalysis, op: Symbol, attrs: Symbol, inputs: &[TensorType]) -> Option<Kernel> {
        let key = (op, attrs, inputs.to_vec());
        if let Some(kernel) = self.cache.borrow().get(&key) {
            return kernel.clone();
        }
        let kernel = one_op_kernel(&analysis.catalog, self.chip, op.as_str(), analysis, attrs, inputs);
        self.cache.borrow_mut().insert(key, kernel.clone());
        kernel
    }

    fn body_kernel(&self, analysis: &TensorAnalysis, kind: Symbol, body: &Body, inputs: &[TensorType]) -> Option<Kernel> {
        let mut results: Vec<TensorType> = Vec::with_capacity(body.ops.len());
        let mut parts: Vec<Kernel> = Vec::with_capacity(body.ops.len());
        for op in &body.ops {
            let operands: Vec<TensorType> = op
                .operands
                .iter()
                .map(|operand| match operand {
                    Operand::Input(i) => inputs.get(*i as usize).cloned(),
                    Operand::Op(i) => results.get(*i as usize).cloned(),
                })
                .collect::<Option<_>>()?;
            parts.push(self.op_kernel(analysis, op.op, op.attrs, &operands)?);
            results.push(analysis.infer(op.op, op.attrs, &operands).ok()?.into_iter().next()?);
        }
        let output = results.last()?;
        let main = parts.iter().max_by_key(|k| main_rank(k.class))?;
        let bytes = |ty: &TensorType| u128::from(ty.size_bytes().unwrap_or(0));
        let epilogue_handoff = match (main.gemm, parts.len() > 1) {
            (Some(gemm), true) => u128::from(gemm.batch) * u128::from(gemm.m) * u128::from(gemm.n) * u128::from(main.dtype.size_bytes()),
            _ => 0,
        };
        let on_ai_cpu = parts.iter().any(|k| k.placement == Placement::AiCpu);
        Some(Kernel {
            name: kind.to_string(),
            op: kind.to_string(),
            class: main.class,
            dtype: main.dtype,
            flops: parts.iter().map(|k| k.flops).sum(),
            hbm_bytes: inputs.iter().map(bytes).sum::<u128>() + bytes(output),
            gemm: main.gemm,
            handoff_bytes: main.handoff_bytes + epilogue_handoff,
            row: output.shape.dims().last().copied().unwrap_or(1),
            placement: if on_ai_cpu { Placement::AiCpu } else { Placement::AiCore },
        })
    }
}

/// Which op of a fused kernel describes it: the matrix product, else the
/// reduction, else any op.
pub fn main_rank(class: OpClass) -> u8 {
    match class {
        OpClass::Matmul | OpClass::Conv | OpClass::Attention => 3,
        OpClass::Reduction | OpClass::Norm | OpClass::Softmax | OpClass::Pool => 2,
        OpClass::Elementwise => 1,
        _ => 0,
    }
}

fn one_op_kernel(
    catalog: &Catalog,
    chip: Option<Chip>,
    op: &str,
    analysis: &TensorAnalysis,
    attrs: Symbol,
    inputs: &[TensorType],
) -> Option<Kernel> {
    let attrs = analysis.attrs(attrs)?.clone();
    let outputs = catalog.infer(op, &attrs, inputs).ok()?;
    let mut graph = Graph::new(op);
    let values = inputs
        .iter()
        .enumerate()
        .map(|(i, ty)| graph.add_input(format!("x{i}"), ty.clone()))
        .collect();
    let names = outputs.iter().map(|_| None).collect();
    graph.outputs = graph.add_node(Op::Known(op.to_string()), attrs, values, outputs, names, None);
    let graph = verify(graph, catalog).ok()?;
    kernels_of(&graph, catalog, chip).into_iter().next()
}

/// The one-op kernel of an opaque op, as `kernels_of` builds it for an op
/// the catalog does not know: placed on the AI CPU, no FLOPs, its inputs
/// and declared outputs as HBM traffic.
fn opaque_kernel(analysis: &TensorAnalysis, chip: Option<Chip>, op: &OpaqueOp, inputs: &[TensorType]) -> Option<Kernel> {
    let mut graph = Graph::new(op.name.as_str());
    let values = inputs
        .iter()
        .enumerate()
        .map(|(i, ty)| graph.add_input(format!("x{i}"), ty.clone()))
        .collect();
    let names = op.outputs.iter().map(|_| None).collect();
    graph.outputs = graph.add_node(
        Op::Opaque(op.name.to_string()),
        op.attrs.clone(),
        values,
        op.outputs.clone(),
        names,
        None,
    );
    let graph = verify(graph, &analysis.catalog).ok()?;
    kernels_of(&graph, &analysis.catalog, chip).into_iter().next()
}
