//! Fusion: kernels grow bottom-up beside the unfused ops.
//!
//! A fusion round looks at every op or kernel of every class (the consumer)
//! and every op or kernel of one of its input classes (the producer), and
//! when their kinds may fuse adds one kernel computing both, merged into the
//! consumer's class. Extraction later picks, with the target's cost, which
//! kernels to run; a producer that others also use is then either computed
//! once on its own or recomputed inside each kernel, whichever is cheaper.
//! Rounds, kernel size, inputs and kernels per class are bounded.

use egg::{Id, Symbol};
use opfuse_ops::OpClass;

use crate::analysis::{ClassData, TensorGraph};
use crate::body::{Body, BodyOp, Operand};
use crate::language::{KernelHead, TensorNode};
use crate::pricing::main_rank;

/// The fusion rules as `--list-rules` shows them.
pub const RULES: &[(&str, &str)] = &[
    (
        "fuse-elementwise",
        "an elementwise op and the elementwise op or kernel feeding it -> one elementwise kernel",
    ),
    (
        "fuse-matmul-epilogue",
        "an elementwise op (bias, activation, residual, scale) after a matmul or conv -> one kernel",
    ),
    (
        "fuse-reduction-prologue",
        "a reduction, softmax or norm absorbs the elementwise op or kernel feeding it",
    ),
    (
        "fuse-reduction-epilogue",
        "an elementwise op after a reduction, softmax or norm -> one kernel",
    ),
];

/// Bounds on fusion.
#[derive(Clone, Copy, Debug)]
pub struct FusionLimits {
    pub rounds: usize,
    pub max_ops: usize,
    pub max_inputs: usize,
    pub kernels_per_class: usize,
    pub node_limit: usize,
}

/// A computation a class can run as one kernel: a body over input classes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Unit {
    body: Body,
    inputs: Vec<Id>,
}

/// Runs fusion rounds until nothing new fuses or a limit is hit; returns
/// the number of rounds that added kernels.
pub fn fuse(egraph: &mut TensorGraph, limits: &FusionLimits) -> usize {
    let mut rounds = 0;
    while rounds < limits.rounds && egraph.total_number_of_nodes() < limits.node_limit {
        let additions = round(egraph, limits);
        if additions.is_empty() {
            break;
        }
        for (class, kind, unit) in additions {
            if egraph.total_number_of_nodes() >= limits.node_limit {
                break;
            }
            let body = egraph.analysis.kernels.intern(unit.body);
            let kernel = egraph.add(TensorNode::Kernel(KernelHead { kind, body }, unit.inputs));
            egraph.union(class, kernel);
        }
        egraph.rebuild();
        rounds += 1;
    }
    rounds
}

fn round(egraph: &TensorGraph, limits: &FusionLimits) -> Vec<(Id, Symbol, Unit)> {
    let mut additions = Vec::new();
    for class in egraph.classes() {
        let existing = class.nodes.iter().filter(|n| matches!(n, TensorNode::Kernel(..))).count();
        let room = limits.kernels_per_class.saturating_sub(existing);
        if room == 0 || class.data.single().is_none() {
            continue;
        }
        let mut found: Vec<(Symbol, Unit)> = Vec::new();
        for consumer in units(egraph, class.id) {
            for (position, &input) in consumer.inputs.iter().enumerate() {
                for producer in units(egraph, input) {
                    let Some(unit) = merge(&consumer, position, &producer) else {
                        continue;
                    };
                    if unit.body.ops.len() > limits.max_ops
                        || unit.inputs.len() > limits.max_inputs
                        || unit.inputs.iter().any(|&i| egraph.find(i) == class.id)
                    {
                        continue;
                    }
                    let Some(kind) = kind_of(egraph, &consumer, &producer, &unit) else {
                        continue;
                    };
                    let typed = egraph.analysis.infer_body(&unit.body, &input_types(egraph, &unit.inputs));
                    if typed.ok().as_ref() != class.data.single() || found.iter().any(|(_, u)| *u == unit) {
                        continue;
                    }
                    found.push((kind, unit));
                }
            }
        }
        found.sort_by_key(|(_, unit)| std::cmp::Reverse(unit.body.ops.len()));
        let is_new = |unit: &Unit| {
            !class.nodes.iter().any(|n| match n {
                TensorNode::Kernel(head, inputs) => *inputs == unit.inputs && egraph.analysis.kernels.get(head.body) == Some(&unit.body),
                _ => false,
            })
        };
        let mut added = 0;
        for (kind, unit) in found {
            if added < room && is_new(&unit) {
                additions.push((class.id, kind, unit));
                added += 1;
            }
        }
    }
    additions
}

fn input_types(egraph: &TensorGraph, inputs: &[Id]) -> Vec<opfuse_ir::TensorType> {
    inputs.iter().filter_map(|&i| egraph[i].data.single().cloned()).collect()
}

/// The op class of a catalog op.
fn op_class(egraph: &TensorGraph, op: Symbol) -> Option<OpClass> {
    egraph.analysis.catalog.entry(op.as_str()).map(|e| e.class)
}

fn fusable(class: OpClass) -> bool {
    matches!(
        class,
        OpClass::Elementwise | OpClass::Constant | OpClass::Reduction | OpClass::Norm | OpClass::Softmax | OpClass::Matmul | OpClass::Conv
    )
}

/// The ops and kernels of a class that can take part in fusion.
fn units(egraph: &TensorGraph, class: Id) -> Vec<Unit> {
    let class = &egraph[class];
    if class.data.single().is_none() {
        return Vec::new();
    }
    class
        .nodes
        .iter()
        .filter_map(|node| match node {
            TensorNode::Op(op, children) => {
                let (attrs, inputs) = children.split_first()?;
                let ClassData::Attrs(attrs) = egraph[*attrs].data else {
                    return None;
                };
                fusable(op_class(egraph, *op)?).then_some(())?;
                let operands = (0..inputs.len() as u32).map(Operand::Input).collect();
                let body = Body {
                    ops: vec![BodyOp { op: *op, attrs, operands }],
                };
                Some(normalize(body, inputs.iter().map(|&i| egraph.find(i)).collect()))
            }
            TensorNode::Kernel(head, inputs) => Some(Unit {
                body: egraph.analysis.kernels.get(head.body)?.clone(),
                inputs: inputs.iter().map(|&i| egraph.find(i)).collect(),
            }),
            _ => None,
        })
        .collect()
}

/// The consumer with its input `position` computed by the producer's body.
fn merge(consumer: &Unit, position: usize, producer: &Unit) -> Option<Unit> {
    let mut inputs: Vec<Id> = producer.inputs.clone();
    let offset = producer.body.ops.len() as u32;
    let produced = offset.checked_sub(1)?;
    let mut ops = producer.body.ops.clone();
    for op in &consumer.body.ops {
        let operands = op
            .operands
            .iter()
            .map(|operand| match *operand {
                Operand::Input(i) if i as usize == position => Operand::Op(produced),
                Operand::Input(i) => {
                    let class = consumer.inputs.get(i as usize).copied().unwrap_or_else(|| Id::from(0));
                    inputs.push(class);
                    Operand::Input(inputs.len() as u32 - 1)
                }
                Operand::Op(i) => Operand::Op(i + offset),
            })
            .collect();
        ops.push(BodyOp { operands, ..op.clone() });
    }
    let unit = normalize(Body { ops }, inputs);
    (unit.inputs.len() <= consumer.inputs.len() + producer.inputs.len()).then_some(unit)
}

/// Renumbers a body's inputs in order of first use, one per distinct class.
fn normalize(body: Body, inputs: Vec<Id>) -> Unit {
    let mut classes: Vec<Id> = Vec::new();
    let ops = body
        .ops
        .into_iter()
        .map(|op| BodyOp {
            operands: op
                .operands
                .into_iter()
                .map(|operand| match operand {
                    Operand::Input(i) => {
                        let class = inputs.get(i as usize).copied().unwrap_or_else(|| Id::from(0));
                        let index = classes.iter().position(|&c| c == class).unwrap_or_else(|| {
                            classes.push(class);
                            classes.len() - 1
                        });
                        Operand::Input(index as u32)
                    }
                    other => other,
                })
                .collect(),
            ..op
        })
        .collect();
    Unit {
        body: Body { ops },
        inputs: classes,
    }
}

/// The merged kernel's kind, or `None` when the two may not fuse: a kernel
/// holds at most one op heavier than elementwise, and a matrix product
/// takes no prologue.
fn kind_of(egraph: &TensorGraph, consumer: &Unit, producer: &Unit, merged: &Unit) -> Option<Symbol> {
    let classes = |unit: &Unit| -> Option<Vec<OpClass>> { unit.body.ops.iter().map(|op| op_class(egraph, op.op)).collect() };
    let merged_classes = classes(merged)?;
    if merged_classes.iter().filter(|&&c| main_rank(c) >= 2).count() > 1 {
        return None;
    }
    let consumer_main = classes(consumer)?.into_iter().max_by_key(|&c| main_rank(c))?;
    let producer_only_constants = classes(producer)?.iter().all(|&c| c == OpClass::Constant);
    if main_rank(consumer_main) == 3 && !producer_only_constants {
        return None;
    }
    let main = merged_classes.into_iter().max_by_key(|&c| main_rank(c))?;
    Some(Symbol::from(match main {
        OpClass::Matmul => "matmul_epilogue",
        OpClass::Conv => "conv_epilogue",
        OpClass::Reduction | OpClass::Norm | OpClass::Softmax => "reduction",
        _ => "elementwise",
    }))
}
