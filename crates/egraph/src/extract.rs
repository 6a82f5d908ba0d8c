//! DAG-aware greedy extraction, after extraction-gym's "faster-greedy-dag".
//!
//! Every class keeps its best known choice with the set of classes that
//! choice needs and each one's own cost. A node's cost is its own cost plus
//! the union of its children's sets, so a class needed twice is counted
//! once (cycles are detected even though free classes are left out of the
//! sets: a class only becomes free to choose by having a choice). Costs only fall, and a class that improves re-queues the nodes
//! that use it, so the loop reaches a fixed point. A node whose set would
//! contain its own class is a cycle and is never chosen.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use egg::{Id, Language};
use opfuse_ascend::Kernel;

use crate::analysis::TensorGraph;
use crate::language::TensorNode;
use crate::pricing::Pricer;
use crate::HashMap;

/// A target's time for one kernel, in microseconds.
pub trait Cost {
    fn time_us(&self, kernel: &Kernel) -> f64;
}

/// The chosen node of every class the roots need.
pub struct Extraction {
    pub choices: HashMap<Id, TensorNode>,
}

#[derive(Debug, thiserror::Error)]
#[error("extraction found no acyclic choice for e-class {0}")]
pub struct ExtractError(pub Id);

struct CostSet {
    costs: Vec<(Id, f64)>,
    total: f64,
    node: usize,
}

struct Candidate {
    class: Id,
    node: TensorNode,
    children: Vec<Id>,
    own: f64,
}

/// A cost far below any kernel's time per op a kernel runs, so that of two
/// equally fast choices the one with fewer ops (no view chains that undo
/// each other) wins. Free nodes stay free: they are left out of the cost
/// sets, which keeps the sets small.
fn tie_break(egraph: &TensorGraph, node: &TensorNode) -> f64 {
    const PER_OP_US: f64 = 1e-6;
    let ops = match node {
        TensorNode::Kernel(head, _) => egraph.analysis.kernels.get(head.body).map_or(0, |b| b.ops.len()),
        TensorNode::Op(..) => 1,
        _ => 0,
    };
    ops as f64 * PER_OP_US
}

pub fn extract(egraph: &TensorGraph, roots: &[Id], pricer: &Pricer, cost: &dyn Cost) -> Result<Extraction, ExtractError> {
    let mut candidates = Vec::new();
    let mut parents: HashMap<Id, Vec<usize>> = HashMap::default();
    for class in egraph.classes() {
        for node in &class.nodes {
            let node = node.clone().map_children(|id| egraph.find(id));
            let mut children: Vec<Id> = node.children().to_vec();
            children.sort_unstable();
            children.dedup();
            let own = pricer
                .node_kernel(egraph, &node)
                .map_or(0.0, |k| cost.time_us(&k) + tie_break(egraph, &node));
            for &child in &children {
                parents.entry(child).or_default().push(candidates.len());
            }
            candidates.push(Candidate {
                class: class.id,
                node,
                children,
                own,
            });
        }
    }
    let mut best: HashMap<Id, CostSet> = HashMap::default();
    let mut queued = vec![false; candidates.len()];
    let mut queue: BinaryHeap<Queued> = BinaryHeap::new();
    for (index, candidate) in candidates.iter().enumerate() {
        if candidate.children.is_empty() {
            queue.push(Queued {
                bound: candidate.own,
                index,
            });
            queued[index] = true;
        }
    }
    while let Some(Queued { index, .. }) = queue.pop() {
        queued[index] = false;
        let Some(candidate) = candidates.get(index) else { continue };
        let current = best.get(&candidate.class).map(|old| old.total - 1e-9);
        if current.is_some_and(|current| lower_bound(candidate, &best) >= current) {
            continue;
        }
        let Some(set) = cost_set(candidate, index, &best) else { continue };
        if current.is_some_and(|current| set.total >= current) {
            continue;
        }
        best.insert(candidate.class, set);
        for &parent in parents.get(&candidate.class).into_iter().flatten() {
            if let (Some(slot), Some(user)) = (queued.get_mut(parent), candidates.get(parent)) {
                if !*slot {
                    *slot = true;
                    queue.push(Queued {
                        bound: lower_bound(user, &best),
                        index: parent,
                    });
                }
            }
        }
    }
    let mut choices = HashMap::default();
    let mut stack: Vec<Id> = roots.iter().map(|&r| egraph.find(r)).collect();
    while let Some(class) = stack.pop() {
        if choices.contains_key(&class) {
            continue;
        }
        let candidate = best
            .get(&class)
            .and_then(|set| candidates.get(set.node))
            .ok_or(ExtractError(class))?;
        stack.extend(candidate.children.iter().copied());
        choices.insert(class, candidate.node.clone());
    }
    Ok(Extraction { choices })
}

/// A candidate waiting in the queue, cheapest bound first: classes then
/// settle roughly in order of cost, so few improve more than once (each
/// improvement re-queues every user above it).
struct Queued {
    bound: f64,
    index: usize,
}

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Queued {}

impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Queued {
    fn cmp(&self, other: &Self) -> Ordering {
        other.bound.total_cmp(&self.bound).then(other.index.cmp(&self.index))
    }
}

/// A choice costs at least its own cost plus its dearest child's; when that
/// does not improve on a class's best, the union need not be built.
fn lower_bound(candidate: &Candidate, best: &HashMap<Id, CostSet>) -> f64 {
    let dearest = candidate
        .children
        .iter()
        .filter_map(|c| best.get(c))
        .map(|s| s.total)
        .fold(0.0, f64::max);
    candidate.own + dearest
}

/// The cost set of choosing `candidate`, or `None` while a child has no
/// choice yet or when the choice would be cyclic. Sets are sorted by class
/// and hold only classes that cost something, so unions are linear merges.
fn cost_set(candidate: &Candidate, index: usize, best: &HashMap<Id, CostSet>) -> Option<CostSet> {
    if candidate.children.contains(&candidate.class) {
        return None;
    }
    let mut costs: Vec<(Id, f64)> = Vec::new();
    for child in &candidate.children {
        let set = best.get(child)?;
        costs = union(&costs, &set.costs);
    }
    let position = match costs.binary_search_by_key(&candidate.class, |&(class, _)| class) {
        Ok(_) => return None,
        Err(position) => position,
    };
    if candidate.own > 0.0 {
        costs.insert(position, (candidate.class, candidate.own));
    }
    Some(CostSet {
        total: costs.iter().map(|&(_, cost)| cost).sum(),
        costs,
        node: index,
    })
}

/// The union of two sorted cost sets.
fn union(a: &[(Id, f64)], b: &[(Id, f64)]) -> Vec<(Id, f64)> {
    if a.is_empty() {
        return b.to_vec();
    }
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while let (Some(&x), Some(&y)) = (a.get(i), b.get(j)) {
        match x.0.cmp(&y.0) {
            Ordering::Less => {
                out.push(x);
                i += 1;
            }
            Ordering::Greater => {
                out.push(y);
                j += 1;
            }
            Ordering::Equal => {
                out.push(x);
                i += 1;
                j += 1;
            }
        }
    }
    out.extend_from_slice(a.get(i..).unwrap_or_default());
    out.extend_from_slice(b.get(j..).unwrap_or_default());
    out
}
