//! Algebraic identities, cast elimination and scalar constant folding.

use egg::{Id, Subst};
use opfuse_ir::Attr;

use super::support::{add_op, attrs_of, constant, constant_is, get, ty, RuleSpec};
use crate::analysis::TensorGraph;

pub const RULES: &[RuleSpec] = &[
    RuleSpec {
        name: "mul-one",
        description: "x * 1 -> x, when the product has x's type",
        pattern: "(mul ?attrs ?x ?c)",
        build: |egraph, _, subst| keep_if_constant(egraph, subst, "?c", 1.0, "?x"),
    },
    RuleSpec {
        name: "one-mul",
        description: "1 * x -> x, when the product has x's type",
        pattern: "(mul ?attrs ?c ?x)",
        build: |egraph, _, subst| keep_if_constant(egraph, subst, "?c", 1.0, "?x"),
    },
    RuleSpec {
        name: "add-zero",
        description: "x + 0 -> x, when the sum has x's type",
        pattern: "(add ?attrs ?x ?c)",
        build: |egraph, _, subst| keep_if_constant(egraph, subst, "?c", 0.0, "?x"),
    },
    RuleSpec {
        name: "zero-add",
        description: "0 + x -> x, when the sum has x's type",
        pattern: "(add ?attrs ?c ?x)",
        build: |egraph, _, subst| keep_if_constant(egraph, subst, "?c", 0.0, "?x"),
    },
    RuleSpec {
        name: "neg-neg",
        description: "-(-x) -> x",
        pattern: "(neg ?a (neg ?b ?x))",
        build: |_, _, subst| get(subst, "?x"),
    },
    RuleSpec {
        name: "cast-same-type",
        description: "cast(x) -> x when x already has the target dtype",
        pattern: "(cast ?attrs ?x)",
        build: |_, _, subst| get(subst, "?x"),
    },
    RuleSpec {
        name: "fold-add",
        description: "a + b -> constant, for scalar constants a and b",
        pattern: "(add ?attrs ?a ?b)",
        build: |egraph, root, subst| fold(egraph, root, subst, |a, b| a + b),
    },
    RuleSpec {
        name: "fold-sub",
        description: "a - b -> constant, for scalar constants a and b",
        pattern: "(sub ?attrs ?a ?b)",
        build: |egraph, root, subst| fold(egraph, root, subst, |a, b| a - b),
    },
    RuleSpec {
        name: "fold-mul",
        description: "a * b -> constant, for scalar constants a and b",
        pattern: "(mul ?attrs ?a ?b)",
        build: |egraph, root, subst| fold(egraph, root, subst, |a, b| a * b),
    },
    RuleSpec {
        name: "fold-div",
        description: "a / b -> constant, for scalar constants a and b (b not 0)",
        pattern: "(div ?attrs ?a ?b)",
        build: |egraph, root, subst| match constant(egraph, subst, "?b") {
            Some(b) if b != 0.0 => fold(egraph, root, subst, |a, b| a / b),
            _ => None,
        },
    },
];

/// The class of `?keep` when the constant `?name` is `value`; the applier
/// checks that it has the matched class's type (broadcasting may not).
fn keep_if_constant(egraph: &TensorGraph, subst: &Subst, name: &str, value: f64, keep: &str) -> Option<Id> {
    match constant_is(egraph, subst, name, value, 0.0) {
        true => get(subst, keep),
        false => None,
    }
}

/// A constant node for `op(a, b)` when both operands are scalar constants,
/// rounded to the result's dtype as the interpreter would.
fn fold(egraph: &mut TensorGraph, root: Id, subst: &Subst, op: fn(f64, f64) -> f64) -> Option<Id> {
    let (a, b) = (constant(egraph, subst, "?a")?, constant(egraph, subst, "?b")?);
    let result = ty(egraph, root)?.clone();
    if result.rank() != 0 || !result.dtype.is_float() {
        return None;
    }
    let value = result.dtype.round(op(a, b));
    if !value.is_finite() {
        return None;
    }
    let attrs = attrs_of(&[("value", Attr::Float(value)), ("dtype", Attr::Str(result.dtype.name().to_string()))]);
    add_op(egraph, root, "constant", attrs, &[])
}
