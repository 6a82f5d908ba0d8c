//! Layout rules: transposes and reshapes cancel or compose, and a 2-d
//! transpose feeding a matrix product becomes a flag of `gemm`.

use egg::{Id, Subst};
use opfuse_ir::Attr;

use super::support::{add_op, attrs, attrs_of, get, int_list, ty, RuleSpec};
use crate::analysis::TensorGraph;

pub const RULES: &[RuleSpec] = &[
    RuleSpec {
        name: "transpose-transpose",
        description: "transpose(transpose(x, q), p) -> x, or one transpose with the composed permutation",
        pattern: "(transpose ?p (transpose ?q ?x))",
        build: compose_transposes,
    },
    RuleSpec {
        name: "transpose-identity",
        description: "transpose(x, [0, 1, ..]) -> x",
        pattern: "(transpose ?p ?x)",
        build: |egraph, _, subst| {
            let x = get(subst, "?x")?;
            let perm = permutation(egraph, subst, "?p", ty(egraph, x)?.rank())?;
            perm.iter().enumerate().all(|(i, &p)| i == p).then_some(x)
        },
    },
    RuleSpec {
        name: "reshape-reshape",
        description: "reshape(reshape(x)) -> one reshape of x to the final shape",
        pattern: "(reshape ?a (reshape ?b ?x))",
        build: |egraph, root, subst| {
            let dims: Vec<i64> = ty(egraph, root)?.shape.dims().iter().map(|&d| d as i64).collect();
            let attrs = attrs_of(&[("shape", Attr::List(dims.into_iter().map(Attr::Int).collect()))]);
            add_op(egraph, root, "reshape", attrs, &[get(subst, "?x")?])
        },
    },
    RuleSpec {
        name: "reshape-identity",
        description: "reshape(x) -> x when the shape does not change",
        pattern: "(reshape ?a ?x)",
        build: |_, _, subst| get(subst, "?x"),
    },
    RuleSpec {
        name: "matmul-transposed-b",
        description: "matmul(x, transpose(w)) -> gemm(x, w, trans_b) for 2-d operands",
        pattern: "(matmul ?a ?x (transpose ?p ?w))",
        build: |egraph, root, subst| fold_into_gemm(egraph, root, subst, "trans_b"),
    },
    RuleSpec {
        name: "matmul-transposed-a",
        description: "matmul(transpose(x), w) -> gemm(x, w, trans_a) for 2-d operands",
        pattern: "(matmul ?a (transpose ?p ?x) ?w)",
        build: |egraph, root, subst| fold_into_gemm(egraph, root, subst, "trans_a"),
    },
];

/// The permutation bound to `?name` for a tensor of `rank`: the catalog's
/// default (the empty list) reverses the axes.
fn permutation(egraph: &TensorGraph, subst: &Subst, name: &str, rank: usize) -> Option<Vec<usize>> {
    let perm = int_list(attrs(egraph, subst, name)?, "perm")?;
    if perm.is_empty() {
        return Some((0..rank).rev().collect());
    }
    let perm: Vec<usize> = perm
        .iter()
        .map(|&p| usize::try_from(if p < 0 { p + rank as i64 } else { p }).ok())
        .collect::<Option<_>>()?;
    (perm.len() == rank && perm.iter().all(|&p| p < rank)).then_some(perm)
}

fn compose_transposes(egraph: &mut TensorGraph, root: Id, subst: &Subst) -> Option<Id> {
    let x = get(subst, "?x")?;
    let rank = ty(egraph, x)?.rank();
    let outer = permutation(egraph, subst, "?p", rank)?;
    let inner = permutation(egraph, subst, "?q", rank)?;
    // Output axis i is inner axis outer[i], which is x's axis inner[outer[i]].
    let composed: Vec<usize> = outer.iter().map(|&o| inner.get(o).copied()).collect::<Option<_>>()?;
    if composed.iter().enumerate().all(|(i, &p)| i == p) {
        return Some(x);
    }
    let perm = Attr::List(composed.into_iter().map(|p| Attr::Int(p as i64)).collect());
    add_op(egraph, root, "transpose", attrs_of(&[("perm", perm)]), &[x])
}

fn fold_into_gemm(egraph: &mut TensorGraph, root: Id, subst: &Subst, flag: &str) -> Option<Id> {
    let (x, w) = (get(subst, "?x")?, get(subst, "?w")?);
    let transposed = if flag == "trans_a" { x } else { w };
    if ty(egraph, x)?.rank() != 2 || ty(egraph, w)?.rank() != 2 {
        return None;
    }
    if permutation(egraph, subst, "?p", 2)? != [1, 0] || ty(egraph, transposed)?.rank() != 2 {
        return None;
    }
    add_op(egraph, root, "gemm", attrs_of(&[(flag, Attr::Bool(true))]), &[x, w])
}
