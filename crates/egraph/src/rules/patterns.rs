//! Pattern recognition: the primitive forms exporters emit, rewritten to
//! the catalog's fused ops (which the chips run as one kernel).

use egg::{Id, Subst};
use opfuse_ir::Attr;

use super::support::{add_op, attrs, attrs_of, constant, constant_is, flag, get, int_list, ty, RuleSpec};
use crate::analysis::TensorGraph;

pub const RULES: &[RuleSpec] = &[
    RuleSpec {
        name: "softmax",
        description: "exp(x) / sum(exp(x), axis, keepdims) -> softmax(x, axis)",
        pattern: "(div ?d (exp ?e ?x) (sum ?s (exp ?e ?x)))",
        build: |egraph, root, subst| softmax(egraph, root, subst, None),
    },
    RuleSpec {
        name: "softmax-max-subtracted",
        description: "exp(x - max(x)) / sum(exp(x - max(x))) -> softmax(x), the numerically safe form",
        pattern: "(div ?d (exp ?e (sub ?u ?x (reduce_max ?r ?x))) (sum ?s (exp ?e (sub ?u ?x (reduce_max ?r ?x)))))",
        build: |egraph, root, subst| softmax(egraph, root, subst, Some("?r")),
    },
    RuleSpec {
        name: "gelu-erf",
        description: "x * (1 + erf(x / sqrt(2))) * 0.5 -> gelu(x), as PyTorch exports it",
        pattern: "(mul ?m1 (mul ?m2 ?x (add ?a (erf ?e (div ?d ?x ?s)) ?one)) ?half)",
        build: gelu_erf,
    },
    RuleSpec {
        name: "gelu-erf-half-first",
        description: "(x * 0.5) * (1 + erf(x / sqrt(2))) -> gelu(x)",
        pattern: "(mul ?m1 (mul ?m2 ?x ?half) (add ?a (erf ?e (div ?d ?x ?s)) ?one))",
        build: gelu_erf,
    },
    RuleSpec {
        name: "silu",
        description: "x * sigmoid(x) -> silu(x)",
        pattern: "(mul ?m ?x (sigmoid ?s ?x))",
        build: |egraph, root, subst| add_op(egraph, root, "silu", Default::default(), &[get(subst, "?x")?]),
    },
    RuleSpec {
        name: "silu-sigmoid-first",
        description: "sigmoid(x) * x -> silu(x)",
        pattern: "(mul ?m (sigmoid ?s ?x) ?x)",
        build: |egraph, root, subst| add_op(egraph, root, "silu", Default::default(), &[get(subst, "?x")?]),
    },
    RuleSpec {
        name: "rms-norm",
        description: "x * rsqrt(mean(x * x, last axis, keepdims) + eps) * w -> rms_norm(x, w, eps)",
        pattern: "(mul ?m1 (mul ?m2 ?x (rsqrt ?r (add ?a (mean ?mean (mul ?m3 ?x ?x)) ?eps))) ?w)",
        build: rms_norm,
    },
];

/// The single axis of a keepdims reduction bound to `?name`, as a negative
/// index, on a tensor of `rank`.
fn reduced_axis(egraph: &TensorGraph, subst: &Subst, name: &str, rank: usize) -> Option<i64> {
    let attrs = attrs(egraph, subst, name)?;
    match (int_list(attrs, "axes")?.as_slice(), flag(attrs, "keepdims")?) {
        ([axis], true) if *axis < 0 => Some(*axis),
        ([axis], true) => Some(*axis - rank as i64),
        _ => None,
    }
}

fn softmax(egraph: &mut TensorGraph, root: Id, subst: &Subst, max: Option<&str>) -> Option<Id> {
    let x = get(subst, "?x")?;
    let rank = ty(egraph, x)?.rank();
    let axis = reduced_axis(egraph, subst, "?s", rank)?;
    if let Some(max) = max {
        if reduced_axis(egraph, subst, max, rank)? != axis {
            return None;
        }
    }
    add_op(egraph, root, "softmax", attrs_of(&[("axis", Attr::Int(axis))]), &[x])
}

fn gelu_erf(egraph: &mut TensorGraph, root: Id, subst: &Subst) -> Option<Id> {
    let recognised = constant_is(egraph, subst, "?s", std::f64::consts::SQRT_2, 2e-3)
        && constant_is(egraph, subst, "?one", 1.0, 0.0)
        && constant_is(egraph, subst, "?half", 0.5, 0.0);
    let attrs = attrs_of(&[("approximate", Attr::Str("none".into()))]);
    recognised.then_some(())?;
    add_op(egraph, root, "gelu", attrs, &[get(subst, "?x")?])
}

fn rms_norm(egraph: &mut TensorGraph, root: Id, subst: &Subst) -> Option<Id> {
    let x = get(subst, "?x")?;
    if reduced_axis(egraph, subst, "?mean", ty(egraph, x)?.rank())? != -1 {
        return None;
    }
    let epsilon = constant(egraph, subst, "?eps")?;
    let attrs = attrs_of(&[("axis", Attr::Int(-1)), ("epsilon", Attr::Float(epsilon))]);
    add_op(egraph, root, "rms_norm", attrs, &[x, get(subst, "?w")?])
}
