//! Fusion: kernels grow bottom-up beside the unfused ops.
//!
//! A fusion round looks at every op or kernel of every class (the consumer)
//! and every op or kernel of one of its input classes (the producer), and
//! when their kinds may fuse adds one kernel computing both, merged into the
//! consumer's class. Extraction later picks, with the target's cost, which
//! kernels to run; a producer that others also use is then either computed
//! once on its own or recomputed inside each kernel, whichever is cheaper.
//! Rounds, kernel size, inputs and kernels per class are bounded.

use std::cmp::Reverse;

use egg::{Id, Language, Symbol};
use opfuse_ops::OpClass;

use crate::analysis::{ClassData, TensorGraph};
use crate::body::{Body, BodyOp, Operand};
use crate::language::{KernelHead, TensorNode};
use crate::pricing::main_rank;
use crate::HashMap;

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
    (
        "absorb-views",
        "reshape, transpose, slice, concat, expand (un)squeeze feeding or fed by a kernel -> read or written through strides",
    ),
    (
        "fuse-attention-views",
        "an attention takes its operands' transposes and reshapes and its output's as strided reads and writes",
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
        add_kernels(egraph, limits, additions);
        rounds += 1;
    }
    grow(egraph, limits);
    rounds
}

/// Grows the largest kernel of every class greedily, one producer at a
/// time, until nothing more fuses. Pairwise rounds add every combination
/// and run out of rounds and room on long chains; this pass adds the one
/// maximal kernel per class beside them, and extraction still chooses.
fn grow(egraph: &mut TensorGraph, limits: &FusionLimits) {
    let users = users_of(egraph);
    let all_units: HashMap<Id, Vec<Unit>> = egraph.classes().map(|class| (class.id, units(egraph, class.id))).collect();
    let units_of = |class: Id| all_units.get(&egraph.find(class)).map_or(&[][..], Vec::as_slice);
    let mut additions = Vec::new();
    for class in egraph.classes().filter(|c| c.data.single().is_some()) {
        for start in starts(egraph, units_of(class.id)) {
            if let Some((kind, unit)) = grown(egraph, limits, &users, class, start, &units_of) {
                additions.push((class.id, kind, unit));
            }
        }
    }
    add_kernels(egraph, limits, additions);
}

/// Adds each kernel to its class, up to the node limit.
fn add_kernels(egraph: &mut TensorGraph, limits: &FusionLimits, additions: Vec<(Id, Symbol, Unit)>) {
    for (class, kind, unit) in additions {
        if egraph.total_number_of_nodes() >= limits.node_limit {
            break;
        }
        let body = egraph.analysis.kernels.intern(unit.body);
        let kernel = egraph.add(TensorNode::Kernel(KernelHead { kind, body }, unit.inputs));
        egraph.union(class, kernel);
    }
    egraph.rebuild();
}

/// The best unit of a class for each op that leads one (a matmul and the
/// attention that replaces it grow apart).
fn starts<'a>(egraph: &TensorGraph, units: &'a [Unit]) -> Vec<&'a Unit> {
    let mut best: HashMap<Symbol, &Unit> = HashMap::default();
    for unit in units {
        let Some(lead) = unit.body.ops.iter().max_by_key(|op| op_class(egraph, op.op).map_or(0, main_rank)) else {
            continue;
        };
        let slot = best.entry(lead.op).or_insert(unit);
        if growth_key(unit) > growth_key(slot) {
            *slot = unit;
        }
    }
    let mut starts: Vec<&Unit> = best.into_values().collect();
    starts.sort_by_key(|u| Reverse(growth_key(u)));
    starts
}

/// `start` with producers merged in one at a time, the best merge first,
/// until none applies; `None` when nothing merges.
fn grown<'a>(
    egraph: &TensorGraph,
    limits: &FusionLimits,
    users: &Users,
    class: &egg::EClass<TensorNode, ClassData>,
    start: &Unit,
    units_of: &impl Fn(Id) -> &'a [Unit],
) -> Option<(Symbol, Unit)> {
    let mut grown: Option<(Symbol, Unit)> = None;
    // Classes already absorbed: reading one again would only undo a view.
    let mut absorbed: Vec<Id> = Vec::new();
    loop {
        let unit = grown.as_ref().map_or(start, |(_, u)| u);
        let mut best: Option<(Symbol, Unit, Id)> = None;
        for (position, &input) in unit.inputs.iter().enumerate() {
            let mut producers: Vec<&Unit> = units_of(input).iter().collect();
            producers.sort_by_key(|p| Reverse(growth_key(p)));
            let merged = producers.into_iter().find_map(|producer| {
                let (kind, merged) = candidate(egraph, limits, users, class, unit, position, producer, &[])?;
                (!merged.inputs.iter().any(|i| absorbed.contains(i))).then_some((kind, merged))
            });
            if let Some((kind, merged)) = merged {
                if best.as_ref().is_none_or(|(_, b, _)| growth_key(&merged) > growth_key(b)) {
                    best = Some((kind, merged, input));
                }
            }
        }
        let Some((kind, merged, input)) = best else {
            return grown;
        };
        absorbed.push(input);
        grown = Some((kind, merged));
    }
}

/// Which of two grown kernels is better: fewer inputs (less traffic, and a
/// fused op such as layer_norm beats the primitive form it replaced), then
/// more computing ops, then fewer views.
fn growth_key(unit: &Unit) -> (Reverse<usize>, usize, Reverse<usize>) {
    (
        Reverse(unit.inputs.len()),
        computed_ops(&unit.body),
        Reverse(view_count(&unit.body)),
    )
}

fn view_count(body: &Body) -> usize {
    body.ops.iter().filter(|op| is_view(op.op)).count()
}

/// The ops of a body that compute rather than read through strides.
fn computed_ops(body: &Body) -> usize {
    body.ops.len() - view_count(body)
}

fn round(egraph: &TensorGraph, limits: &FusionLimits) -> Vec<(Id, Symbol, Unit)> {
    let users = users_of(egraph);
    // The units of every class, built once a round: each is a producer for
    // all of its users.
    let all_units: HashMap<Id, Vec<Unit>> = egraph.classes().map(|class| (class.id, units(egraph, class.id))).collect();
    let units_of = |class: Id| all_units.get(&egraph.find(class)).map_or(&[][..], Vec::as_slice);
    let mut additions = Vec::new();
    for class in egraph.classes() {
        let existing = class.nodes.iter().filter(|n| matches!(n, TensorNode::Kernel(..))).count();
        // A full class still takes one kernel a round that is larger than
        // all it has (bounded by the kernel size), up to twice the limit.
        let room = limits.kernels_per_class.saturating_sub(existing);
        let largest = largest_kernel(egraph, class);
        if existing >= 2 * limits.kernels_per_class || class.data.single().is_none() {
            continue;
        }
        let mut found: Vec<(Symbol, Unit, bool)> = Vec::new();
        for consumer in units_of(class.id) {
            for (position, &input) in consumer.inputs.iter().enumerate() {
                for producer in units_of(input) {
                    let Some((kind, unit)) = candidate(egraph, limits, &users, class, consumer, position, producer, &found) else {
                        continue;
                    };
                    found.push((kind, unit, !reads_only(egraph, producer)));
                }
            }
        }
        // Fewest inputs first, then most ops, then strided reads of views
        // (which only save traffic) before computing producers.
        found.sort_by_key(|(_, unit, computes)| (unit.inputs.len(), std::cmp::Reverse(unit.body.ops.len()), *computes));
        let is_new = |unit: &Unit| {
            !class.nodes.iter().any(|n| match n {
                TensorNode::Kernel(head, inputs) => *inputs == unit.inputs && egraph.analysis.kernels.get(head.body) == Some(&unit.body),
                _ => false,
            })
        };
        let mut added = 0;
        for (kind, unit, _) in found {
            let fits = added < room || (added == room && unit.body.ops.len() > largest);
            if fits && is_new(&unit) {
                additions.push((class.id, kind, unit));
                added += 1;
            }
        }
    }
    additions
}

/// The kernel computing `consumer` with its input `position` produced by
/// `producer`, when the two may fuse into a kernel of `class` that is not
/// already among `found`.
#[allow(clippy::too_many_arguments)]
fn candidate(
    egraph: &TensorGraph,
    limits: &FusionLimits,
    users: &Users,
    class: &egg::EClass<TensorNode, ClassData>,
    consumer: &Unit,
    position: usize,
    producer: &Unit,
    found: &[(Symbol, Unit, bool)],
) -> Option<(Symbol, Unit)> {
    let input = *consumer.inputs.get(position)?;
    if is_heavy(egraph, producer) && !only_feeds(users, input, class.id) {
        return None;
    }
    let unit = merge(consumer, position, producer)?;
    if unit.body.ops.len() > limits.max_ops
        || unit.inputs.len() > limits.max_inputs
        || unit.inputs.iter().any(|&i| egraph.find(i) == class.id)
    {
        return None;
    }
    let kind = kind_of(egraph, consumer, producer, &unit)?;
    // The cheap duplicate check first: inferring the body's type is the costly one.
    if kind == Symbol::from("layout") || found.iter().any(|(_, u, _)| *u == unit) {
        return None;
    }
    let typed = egraph.analysis.infer_body(&unit.body, &input_types(egraph, &unit.inputs));
    (typed.ok().as_ref() == class.data.single()).then_some((kind, unit))
}

/// The most ops a kernel of `class` runs (0 without kernels).
fn largest_kernel(egraph: &TensorGraph, class: &egg::EClass<TensorNode, ClassData>) -> usize {
    class
        .nodes
        .iter()
        .filter_map(|node| match node {
            TensorNode::Kernel(head, _) => egraph.analysis.kernels.get(head.body).map(|b| b.ops.len()),
            _ => None,
        })
        .max()
        .unwrap_or(0)
}

/// The other classes that use each class (through any of their nodes).
type Users = HashMap<Id, Vec<Id>>;

fn users_of(egraph: &TensorGraph) -> Users {
    let mut users: Users = HashMap::default();
    for class in egraph.classes() {
        for node in &class.nodes {
            for &child in node.children() {
                let child = egraph.find(child);
                let list = users.entry(child).or_default();
                if child != class.id && !list.contains(&class.id) {
                    list.push(class.id);
                }
            }
        }
    }
    users
}

/// Whether every use of `producer` leads to `consumer` and nowhere else,
/// so that a kernel of `consumer` may compute it without computing it
/// twice (a wide gate/up matmul whose two slices meet in one product).
/// Looks a few classes up from the producer; a class without users (an
/// output) leads elsewhere.
fn only_feeds(users: &Users, producer: Id, consumer: Id) -> bool {
    const MAX_CLASSES: usize = 64;
    let mut stack = vec![producer];
    let mut seen = vec![producer];
    while let Some(class) = stack.pop() {
        let Some(list) = users.get(&class).filter(|l| !l.is_empty()) else {
            return false;
        };
        for &user in list {
            if user == consumer || seen.contains(&user) {
                continue;
            }
            if seen.len() >= MAX_CLASSES {
                return false;
            }
            seen.push(user);
            stack.push(user);
        }
    }
    true
}

/// Whether a unit runs a matrix product, convolution or attention: one that
/// several classes use is computed once, never copied into each user.
fn is_heavy(egraph: &TensorGraph, unit: &Unit) -> bool {
    unit.body
        .ops
        .iter()
        .any(|op| op_class(egraph, op.op).is_some_and(|c| main_rank(c) == 3))
}

fn input_types(egraph: &TensorGraph, inputs: &[Id]) -> Vec<opfuse_ir::TensorType> {
    inputs.iter().filter_map(|&i| egraph[i].data.single().cloned()).collect()
}

/// The op class of a catalog op.
fn op_class(egraph: &TensorGraph, op: Symbol) -> Option<OpClass> {
    egraph.analysis.op_class(op)
}

fn fusable(class: OpClass) -> bool {
    matches!(
        class,
        OpClass::Elementwise
            | OpClass::Constant
            | OpClass::Reduction
            | OpClass::Norm
            | OpClass::Softmax
            | OpClass::Matmul
            | OpClass::Conv
            | OpClass::Attention
    )
}

/// Layout ops a kernel absorbs: it reads (or writes) through their strides
/// and offsets instead of running them.
const VIEWS: [&str; 8] = [
    "reshape",
    "transpose",
    "slice",
    "concat",
    "expand",
    "squeeze",
    "unsqueeze",
    "flatten",
];

pub(crate) fn is_view(op: Symbol) -> bool {
    VIEWS.contains(&op.as_str())
}

/// Whether a kernel may absorb `op` of `class`.
fn absorbable(op: Symbol, class: OpClass) -> bool {
    fusable(class) || is_view(op)
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
                absorbable(*op, op_class(egraph, *op)?).then_some(())?;
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

/// Renumbers a body's inputs in order of first use, one per distinct class,
/// and computes each distinct op once (merges copy shared producers).
fn normalize(body: Body, inputs: Vec<Id>) -> Unit {
    let unit = number_inputs(body, inputs);
    Unit {
        body: dedup_ops(unit.body),
        inputs: unit.inputs,
    }
}

/// The body with every op that repeats an earlier one (same op, attributes
/// and operands) dropped and its uses pointed at the earlier one; the last
/// op, the output, stays last.
fn dedup_ops(body: Body) -> Body {
    let count = body.ops.len();
    let mut kept: Vec<BodyOp> = Vec::with_capacity(count);
    let mut renumber: Vec<u32> = Vec::with_capacity(count);
    for (position, op) in body.ops.into_iter().enumerate() {
        let operands = op
            .operands
            .iter()
            .map(|&operand| match operand {
                Operand::Op(i) => Operand::Op(renumber.get(i as usize).copied().unwrap_or(i)),
                input => input,
            })
            .collect();
        let op = BodyOp { operands, ..op };
        match kept.iter().position(|k| *k == op) {
            Some(earlier) if position + 1 < count => renumber.push(earlier as u32),
            _ => {
                renumber.push(kept.len() as u32);
                kept.push(op);
            }
        }
    }
    Body { ops: kept }
}

fn number_inputs(body: Body, inputs: Vec<Id>) -> Unit {
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

/// Whether a unit only reads: constants and views (strided reads).
fn reads_only(egraph: &TensorGraph, unit: &Unit) -> bool {
    unit.body
        .ops
        .iter()
        .all(|op| is_view(op.op) || op_class(egraph, op.op) == Some(OpClass::Constant))
}

/// The merged kernel's kind, or `None` when the two may not fuse: a kernel
/// holds at most one op heavier than elementwise, and a matrix product or
/// attention takes no prologue but constants and views (strided reads).
fn kind_of(egraph: &TensorGraph, consumer: &Unit, producer: &Unit, merged: &Unit) -> Option<Symbol> {
    let classes = |unit: &Unit| -> Option<Vec<OpClass>> { unit.body.ops.iter().map(|op| op_class(egraph, op.op)).collect() };
    let merged_classes = classes(merged)?;
    if merged_classes.iter().filter(|&&c| main_rank(c) >= 2).count() > 1 {
        return None;
    }
    let consumer_main = classes(consumer)?.into_iter().max_by_key(|&c| main_rank(c))?;
    if main_rank(consumer_main) == 3 && !reads_only(egraph, producer) {
        return None;
    }
    let main = merged_classes.into_iter().max_by_key(|&c| main_rank(c))?;
    Some(Symbol::from(match main {
        OpClass::Matmul => "matmul_epilogue",
        OpClass::Conv => "conv_epilogue",
        OpClass::Attention => "attention",
        OpClass::Reduction | OpClass::Norm | OpClass::Softmax => "reduction",
        OpClass::Elementwise => "elementwise",
        _ => "layout",
    }))
}

#[cfg(test)]
mod tests {
    use crate::testing::{ints, kinds, Builder};

    #[test]
    fn a_transpose_after_a_matmul_is_absorbed() {
        let mut b = Builder::new();
        let (x, w) = (b.input("x", &[16, 32]), b.input("w", &[32, 8]));
        let y = b.op("matmul", &[], &[x, w]);
        let t = b.op("transpose", &[("perm", ints(&[1, 0]))], &[y]);
        let optimized = b.optimize(t);
        assert_eq!(kinds(&optimized), ["matmul_epilogue"]);
    }

    #[test]
    fn a_transpose_alone_stays_a_kernel() {
        let mut b = Builder::new();
        let x = b.input("x", &[16, 32]);
        let t = b.op("transpose", &[("perm", ints(&[1, 0]))], &[x]);
        let optimized = b.optimize(t);
        assert_eq!(kinds(&optimized), ["layout"]);
    }

    #[test]
    fn a_shared_matmul_is_not_copied_into_its_users() {
        let mut b = Builder::new();
        let (x, w) = (b.input("x", &[16, 32]), b.input("w", &[32, 8]));
        let y = b.op("matmul", &[], &[x, w]);
        let first = b.op(
            "slice",
            &[("starts", ints(&[0])), ("ends", ints(&[4])), ("axes", ints(&[-1]))],
            &[y],
        );
        let second = b.op(
            "slice",
            &[("starts", ints(&[4])), ("ends", ints(&[8])), ("axes", ints(&[-1]))],
            &[y],
        );
        let sum = b.op("add", &[], &[first, second]);
        let optimized = b.optimize(sum);
        let matmuls = optimized.kernels.iter().filter(|k| k.ops.iter().any(|op| op == "matmul")).count();
        assert_eq!(matmuls, 1);
    }
}
