//! Horizontal merge of matmuls that share an input: `x @ w_1 .. x @ w_n`
//! (Q/K/V projections, gate/up) become one `x @ concat(w_1..w_n, axis=-1)`
//! followed by slices, which the users' kernels read through strides. The
//! concat of params is weight preprocessing, done once offline and priced
//! free (see `statics.rs`).
//!
//! When every member's users are views, the merged matmul replaces the
//! separate ones: their nodes leave their classes before fusion, so no
//! kernel grows around them and extraction runs one wide matmul. When a
//! member feeds a computation (a bias, the gate's activation), both forms
//! stay and extraction chooses: one wide matmul pays off when its slices
//! meet again in one kernel (`silu(x @ w_gate) * (x @ w_up)`), separate
//! ones when each grows its own epilogue (Q/K/V with biases).
//! A matmul whose weight depends on another member of its group stays
//! apart (the merged one would depend on its own user).

use std::collections::{BTreeMap, HashSet};

use egg::{Id, Language, Symbol};
use opfuse_ir::{Attr, DType};

use super::fusion::is_view;
use super::support::{add_any, attrs_of, ty};
use crate::analysis::TensorGraph;
use crate::language::TensorNode;

/// The rule as `--list-rules` shows it.
pub const RULES: &[(&str, &str)] = &[(
    "merge-shared-matmuls",
    "x @ w_1 .. x @ w_n (2-D weights, one dtype) -> x @ concat(w_1..w_n) and slices (Q/K/V, gate/up)",
)];

/// The most matmuls one merge takes.
const MAX_GROUP: usize = 8;

/// One matmul of a group: its class, its weight and the weight's columns.
#[derive(Clone, Copy)]
struct Member {
    class: Id,
    weight: Id,
    columns: u64,
}

/// Merges every group of matmuls that share their first operand and their
/// attributes; returns the number of merges.
pub fn merge_shared_matmuls(egraph: &mut TensorGraph) -> usize {
    let mut merges = 0;
    let computed_on = computed_on(egraph);
    for ((x, attrs, _), members) in groups(egraph) {
        let members = acyclic(egraph, members);
        for chunk in members.chunks(MAX_GROUP) {
            let replace = chunk.iter().all(|m| !computed_on.contains(&m.class));
            if chunk.len() > 1 && merge(egraph, x, attrs, chunk, replace).is_some() {
                merges += 1;
            }
            // A member that feeds a computation may pay off merged with one
            // other only (gate/up beside a router that reads the same x).
            if !replace && chunk.len() > 2 {
                for (i, first) in chunk.iter().enumerate() {
                    for second in chunk.iter().skip(i + 1) {
                        if merge(egraph, x, attrs, &[*first, *second], false).is_some() {
                            merges += 1;
                        }
                    }
                }
            }
        }
    }
    if merges > 0 {
        egraph.rebuild();
    }
    merges
}

/// The classes that some node other than a view uses.
fn computed_on(egraph: &TensorGraph) -> HashSet<Id> {
    let mut used = HashSet::new();
    for class in egraph.classes() {
        for node in &class.nodes {
            let inputs = match node {
                TensorNode::Op(op, _) if is_view(*op) => &[][..],
                TensorNode::Op(_, children) => children.get(1..).unwrap_or_default(),
                other => other.children(),
            };
            used.extend(inputs.iter().map(|&c| egraph.find(c)));
        }
    }
    used
}

/// The matmuls `x @ w` with a 2-D weight, grouped by `x`, the attribute
/// class and the weight's dtype, in a deterministic order.
fn groups(egraph: &TensorGraph) -> BTreeMap<(Id, Id, String), Vec<Member>> {
    let matmul = Symbol::from("matmul");
    let mut groups: BTreeMap<(Id, Id, String), Vec<Member>> = BTreeMap::new();
    for class in egraph.classes() {
        for node in &class.nodes {
            let TensorNode::Op(op, children) = node else { continue };
            let (true, [attrs, x, weight]) = (*op == matmul, children.as_slice()) else {
                continue;
            };
            let (x, weight) = (egraph.find(*x), egraph.find(*weight));
            let (Some(x_ty), Some(w_ty)) = (ty(egraph, x), ty(egraph, weight)) else {
                continue;
            };
            let (Some(&k), [rows, columns]) = (x_ty.shape.dims().last(), w_ty.shape.dims()) else {
                continue;
            };
            if k != *rows || x_ty.dtype != w_ty.dtype || x_ty.rank() < 2 {
                continue;
            }
            let key = (x, egraph.find(*attrs), dtype_key(w_ty.dtype));
            let list = groups.entry(key).or_default();
            if !list.iter().any(|m| m.class == class.id) {
                list.push(Member {
                    class: class.id,
                    weight,
                    columns: *columns,
                });
            }
        }
    }
    groups
}

fn dtype_key(dtype: DType) -> String {
    format!("{dtype:?}")
}

/// The members whose weight does not depend on any member's class.
fn acyclic(egraph: &TensorGraph, members: Vec<Member>) -> Vec<Member> {
    let classes: HashSet<Id> = members.iter().map(|m| m.class).collect();
    members.into_iter().filter(|m| !reaches(egraph, m.weight, &classes)).collect()
}

/// Whether any class under `from` (through any node) is one of `targets`.
fn reaches(egraph: &TensorGraph, from: Id, targets: &HashSet<Id>) -> bool {
    let mut seen: HashSet<Id> = HashSet::new();
    let mut stack = vec![egraph.find(from)];
    while let Some(class) = stack.pop() {
        if targets.contains(&class) {
            return true;
        }
        if seen.insert(class) {
            stack.extend(egraph[class].nodes.iter().flat_map(|n| n.children()).map(|&c| egraph.find(c)));
        }
    }
    false
}

/// Adds the concat, the wide matmul and one slice per member; unions each
/// slice with its member's class and, when `replace`, removes the member's
/// own matmul.
fn merge(egraph: &mut TensorGraph, x: Id, attrs: Id, members: &[Member], replace: bool) -> Option<()> {
    let weights: Vec<Id> = members.iter().map(|m| m.weight).collect();
    let concat = add_any(egraph, "concat", attrs_of(&[("axis", Attr::Int(-1))]), &weights)?;
    let wide_ty = ty(egraph, concat)?.clone();
    let wide = egraph.add(TensorNode::Op(Symbol::from("matmul"), vec![attrs, x, concat]));
    if ty(egraph, wide).map(|t| t.dtype) != Some(wide_ty.dtype) {
        return None;
    }
    let mut slices = Vec::with_capacity(members.len());
    let mut start = 0i64;
    for member in members {
        let end = start.checked_add(i64::try_from(member.columns).ok()?)?;
        let slice_attrs = attrs_of(&[
            ("starts", Attr::List(vec![Attr::Int(start)])),
            ("ends", Attr::List(vec![Attr::Int(end)])),
            ("axes", Attr::List(vec![Attr::Int(-1)])),
        ]);
        let slice = add_any(egraph, "slice", slice_attrs, &[wide])?;
        if ty(egraph, slice) != ty(egraph, member.class) {
            return None;
        }
        slices.push(slice);
        start = end;
    }
    for (member, slice) in members.iter().zip(slices) {
        egraph.union(member.class, slice);
        if !replace {
            continue;
        }
        let class = egraph.find(member.class);
        let own: Vec<bool> = egraph[class]
            .nodes
            .iter()
            .map(|node| is_matmul_of(egraph, node, x, member.weight))
            .collect();
        let mut own = own.into_iter();
        egraph[class].nodes.retain(|_| !own.next().unwrap_or(false));
    }
    Some(())
}

/// Whether `node` is `matmul(x, weight)`.
fn is_matmul_of(egraph: &TensorGraph, node: &TensorNode, x: Id, weight: Id) -> bool {
    match node {
        TensorNode::Op(op, children) if op.as_str() == "matmul" => match children.as_slice() {
            [_, a, w] => egraph.find(*a) == egraph.find(x) && egraph.find(*w) == egraph.find(weight),
            _ => false,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{ints, Builder};

    fn matmul_kernels(optimized: &crate::Optimized) -> usize {
        optimized
            .kernels
            .iter()
            .filter(|k| k.ops.iter().any(|op| op == "matmul" || op == "gemm"))
            .count()
    }

    #[test]
    fn q_k_v_projections_of_one_input_are_one_matmul() {
        let mut b = Builder::new();
        let x = b.input("x", &[2, 16, 32]);
        let (wq, wk, wv) = (b.param("wq", &[32, 32]), b.param("wk", &[32, 16]), b.param("wv", &[32, 16]));
        let q = b.op("matmul", &[], &[x, wq]);
        let k = b.op("matmul", &[], &[x, wk]);
        let v = b.op("matmul", &[], &[x, wv]);
        let heads = |b: &mut Builder, y, d: i64| b.op("reshape", &[("shape", ints(&[2, 16, d / 8, 8]))], &[y]);
        let (q, k, v) = (heads(&mut b, q, 32), heads(&mut b, k, 16), heads(&mut b, v, 16));
        let out = b.op("concat", &[("axis", opfuse_ir::Attr::Int(2))], &[q, k, v]);
        let optimized = b.optimize(out);
        assert_eq!(matmul_kernels(&optimized), 1, "{:?}", optimized.kernels);
    }

    #[test]
    fn gate_and_up_projections_meet_in_one_kernel() {
        let mut b = Builder::new();
        let x = b.input("x", &[16, 32]);
        let (gate, up) = (b.param("w_gate", &[32, 64]), b.param("w_up", &[32, 64]));
        let g = b.op("matmul", &[], &[x, gate]);
        let u = b.op("matmul", &[], &[x, up]);
        let activated = b.op("silu", &[], &[g]);
        let out = b.op("mul", &[], &[activated, u]);
        let optimized = b.optimize(out);
        assert_eq!(optimized.kernels.len(), 1, "{:?}", optimized.kernels);
    }

    #[test]
    fn a_weight_computed_from_another_member_is_not_merged() {
        let mut b = Builder::new();
        let x = b.input("x", &[16, 16]);
        let w1 = b.param("w1", &[16, 16]);
        let first = b.op("matmul", &[], &[x, w1]);
        let w2 = b.op("transpose", &[("perm", ints(&[1, 0]))], &[first]);
        let second = b.op("matmul", &[], &[x, w2]);
        let shape = [("shape", ints(&[256]))];
        let (first, second) = (b.op("reshape", &shape, &[first]), b.op("reshape", &shape, &[second]));
        let out = b.op("concat", &[("axis", opfuse_ir::Attr::Int(0))], &[first, second]);
        let optimized = b.optimize(out);
        assert_eq!(matmul_kernels(&optimized), 2, "{:?}", optimized.kernels);
    }
}
