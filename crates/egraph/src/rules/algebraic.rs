//! Algebraic identities, cast elimination and scalar constant folding.
//!
//! The rules that change how much work a graph does (matmul reassociation,
//! distributivity) fire only in the direction that saves work, computed from
//! the analysis's types, so they cannot undo each other and saturation stays
//! bounded; the unrewritten form stays in its class and the extractor prices
//! both.

use egg::{Id, Subst};
use opfuse_ir::{Attr, Attrs, DType, OpSemantics, TensorType};

use super::support::{add_any, add_op, attrs, attrs_of, constant, constant_is, get, ty, RuleSpec};
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
        name: "cast-widening-cast",
        description:
            "cast(cast(x, wide), to) -> cast(x, to) (x itself when `to` is x's dtype), when `wide` holds every value of x's dtype exactly",
        pattern: "(cast ?outer (cast ?inner ?x))",
        build: cast_through_widening,
    },
    RuleSpec {
        name: "matmul-reassociate-right",
        description: "(a @ b) @ c -> a @ (b @ c) when that takes fewer FLOPs, for operands of one rank with the same batch dims",
        pattern: "(matmul ?m1 (matmul ?m2 ?a ?b) ?c)",
        build: |egraph, root, subst| reassociate(egraph, root, subst, Association::Right),
    },
    RuleSpec {
        name: "matmul-reassociate-left",
        description: "a @ (b @ c) -> (a @ b) @ c when that takes fewer FLOPs, for operands of one rank with the same batch dims",
        pattern: "(matmul ?m1 ?a (matmul ?m2 ?b ?c))",
        build: |egraph, root, subst| reassociate(egraph, root, subst, Association::Left),
    },
    RuleSpec {
        name: "factor-left",
        description: "a * b + a * c -> a * (b + c), when b + c has fewer elements than the two products",
        pattern: "(add ?s (mul ?m1 ?a ?b) (mul ?m2 ?a ?c))",
        build: |egraph, root, subst| factor(egraph, root, subst, Side::Left),
    },
    RuleSpec {
        name: "factor-right",
        description: "b * a + c * a -> (b + c) * a, when b + c has fewer elements than the two products",
        pattern: "(add ?s (mul ?m1 ?b ?a) (mul ?m2 ?c ?a))",
        build: |egraph, root, subst| factor(egraph, root, subst, Side::Right),
    },
    RuleSpec {
        name: "factor-left-right",
        description: "a * b + c * a -> a * (b + c), when b + c has fewer elements than the two products",
        pattern: "(add ?s (mul ?m1 ?a ?b) (mul ?m2 ?c ?a))",
        build: |egraph, root, subst| factor(egraph, root, subst, Side::Left),
    },
    RuleSpec {
        name: "factor-right-left",
        description: "b * a + a * c -> (b + c) * a, when b + c has fewer elements than the two products",
        pattern: "(add ?s (mul ?m1 ?b ?a) (mul ?m2 ?a ?c))",
        build: |egraph, root, subst| factor(egraph, root, subst, Side::Right),
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

/// Which way a matmul chain is grouped.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Association {
    /// `(a @ b) @ c`
    Left,
    /// `a @ (b @ c)`
    Right,
}

/// Which side of the product the common factor goes.
#[derive(Clone, Copy)]
enum Side {
    /// `a * (b + c)`
    Left,
    /// `(b + c) * a`
    Right,
}

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

/// `cast(x, to)` for `cast(cast(x, wide), to)` when casting x's dtype to
/// `wide` is exact: the inner cast then returns x's values unchanged, so the
/// outer one (with its own `saturate`) sees what a direct cast would.
fn cast_through_widening(egraph: &mut TensorGraph, root: Id, subst: &Subst) -> Option<Id> {
    let x = get(subst, "?x")?;
    let from = ty(egraph, x)?.dtype;
    let wide: DType = attrs(egraph, subst, "?inner")?.get("to")?.as_str()?.parse().ok()?;
    if !holds_exactly(from, wide) {
        return None;
    }
    if ty(egraph, root)?.dtype == from {
        return Some(x);
    }
    let outer = attrs(egraph, subst, "?outer")?.clone();
    add_op(egraph, root, "cast", outer, &[x])
}

/// Whether every value of `from` is a value of `to`, so a cast from one to
/// the other is exact (NaN and the infinities included).
fn holds_exactly(from: DType, to: DType) -> bool {
    use DType::*;
    match from {
        _ if from == to => true,
        Bool => true,
        F8E4M3 | F8E5M2 => matches!(to, F16 | BF16 | F32 | F64),
        F16 | BF16 => matches!(to, F32 | F64),
        F32 => to == F64,
        F64 => false,
        I8 => matches!(to, I16 | I32 | I64 | F16 | BF16 | F32 | F64),
        U8 => matches!(to, I16 | U16 | I32 | U32 | I64 | U64 | F16 | BF16 | F32 | F64),
        I16 => matches!(to, I32 | I64 | F32 | F64),
        U16 => matches!(to, I32 | U32 | I64 | U64 | F32 | F64),
        I32 => matches!(to, I64 | F64),
        U32 => matches!(to, I64 | U64 | F64),
        I64 | U64 => false,
    }
}

/// The chain regrouped as `grouping` when that takes strictly fewer FLOPs
/// (the catalog's matmul formula on the analysis's types), so the two rules
/// never both fire on one chain. The operands must share one rank of at
/// least 2 and their batch dims: a 1-d operand is a row on the left and a
/// column on the right, which regrouping does not preserve.
fn reassociate(egraph: &mut TensorGraph, root: Id, subst: &Subst, grouping: Association) -> Option<Id> {
    let (a, b, c) = (get(subst, "?a")?, get(subst, "?b")?, get(subst, "?c")?);
    let types = [a, b, c].map(|id| ty(egraph, id).cloned());
    let [Some(ta), Some(tb), Some(tc)] = types else {
        return None;
    };
    let rank = ta.rank();
    let batch = |t: &TensorType| t.shape.dims().get(..rank.saturating_sub(2)).map(<[u64]>::to_vec);
    if rank < 2 || tb.rank() != rank || tc.rank() != rank || batch(&tb) != batch(&ta) || batch(&tc) != batch(&ta) {
        return None;
    }
    let catalog = &egraph.analysis.catalog;
    let matmul = |left: &TensorType, right: &TensorType| -> Option<(TensorType, u128)> {
        let inputs = [left.clone(), right.clone()];
        let out = catalog.infer("matmul", &Attrs::new(), &inputs).ok()?;
        let flops = catalog.flops("matmul", &Attrs::new(), &inputs, &out);
        Some((out.into_iter().next()?, flops))
    };
    let (ab, ab_flops) = matmul(&ta, &tb)?;
    let (_, left_flops) = matmul(&ab, &tc)?;
    let (bc, bc_flops) = matmul(&tb, &tc)?;
    let (_, right_flops) = matmul(&ta, &bc)?;
    let (left, right) = (ab_flops.saturating_add(left_flops), bc_flops.saturating_add(right_flops));
    match grouping {
        Association::Right if right < left => {
            let bc = add_any(egraph, "matmul", Attrs::new(), &[b, c])?;
            add_op(egraph, root, "matmul", Attrs::new(), &[a, bc])
        }
        Association::Left if left < right => {
            let ab = add_any(egraph, "matmul", Attrs::new(), &[a, b])?;
            add_op(egraph, root, "matmul", Attrs::new(), &[ab, c])
        }
        _ => None,
    }
}

/// `a * (b + c)` (or `(b + c) * a`) for the sum of two products sharing
/// the factor `?a`, when `b + c` has fewer elements than the two products
/// together: one product fewer, and no bigger intermediate. Under
/// broadcasting it can be bigger: `b[N, 1] + c[1, M]` is `[N, M]` where the
/// products with a scalar `a` are `[N, 1]` and `[1, M]`.
fn factor(egraph: &mut TensorGraph, root: Id, subst: &Subst, side: Side) -> Option<Id> {
    let (a, b, c) = (get(subst, "?a")?, get(subst, "?b")?, get(subst, "?c")?);
    let types = [a, b, c].map(|id| ty(egraph, id).cloned());
    let [Some(ta), Some(tb), Some(tc)] = types else {
        return None;
    };
    if ta.dtype == DType::Bool {
        return None;
    }
    let catalog = &egraph.analysis.catalog;
    let elements = |op: &str, inputs: [TensorType; 2]| -> Option<u128> {
        let out = catalog.infer(op, &Attrs::new(), &inputs).ok()?;
        Some(u128::from(out.first()?.numel()?))
    };
    let sum = elements("add", [tb.clone(), tc.clone()])?;
    let products = elements("mul", [ta.clone(), tb])?.saturating_add(elements("mul", [ta, tc])?);
    if sum >= products {
        return None;
    }
    let sum = add_any(egraph, "add", Attrs::new(), &[b, c])?;
    let operands = match side {
        Side::Left => [a, sum],
        Side::Right => [sum, a],
    };
    add_op(egraph, root, "mul", Attrs::new(), &operands)
}

#[cfg(test)]
mod tests {
    use opfuse_ir::{Attr, DType, TensorType, ValueId};

    use super::{holds_exactly, RULES};
    use crate::rules::patterns::tests::{ops, optimize_and_compare, rewrite_and_compare, rewrites_to, saturated};
    use crate::testing::Builder;
    use crate::Optimized;

    use DType::{Bool, BF16, F16, F32, F64, F8E4M3, I16, I32, I64, I8, U8};

    /// `cast(cast(x, wide), to)` for `x` of `from`.
    fn cast_chain(from: DType, wide: DType, to: DType) -> (Builder, ValueId) {
        let mut b = Builder::new();
        let x = b.graph.add_input("x", TensorType::new(from, vec![4, 8]));
        let inner = b.op("cast", &[("to", Attr::Str(wide.name().into()))], &[x]);
        let out = b.op("cast", &[("to", Attr::Str(to.name().into()))], &[inner]);
        (b, out)
    }

    #[test]
    fn a_cast_through_a_wider_dtype_is_one_cast_or_none() {
        let (b, out) = cast_chain(F16, F32, F16);
        assert_eq!(ops(&optimize_and_compare(b, out)), Vec::<String>::new());
        let (b, out) = cast_chain(F16, F32, F64);
        assert_eq!(ops(&optimize_and_compare(b, out)), ["cast"]);
        let (b, out) = cast_chain(I8, F16, I32);
        assert_eq!(ops(&optimize_and_compare(b, out)), ["cast"]);
    }

    #[test]
    fn a_cast_through_a_narrower_dtype_stays() {
        // f32 -> f16 rounds; f16 -> bf16 drops mantissa bits.
        for (from, wide, to) in [(F32, F16, F32), (F16, BF16, F32), (I32, F32, I32)] {
            let (b, out) = cast_chain(from, wide, to);
            assert_eq!(ops(&optimize_and_compare(b, out)), ["cast", "cast"], "{from} -> {wide} -> {to}");
        }
    }

    #[test]
    fn exact_conversions_are_the_widening_ones() {
        let exact = [
            (F16, F32),
            (BF16, F64),
            (F8E4M3, F16),
            (U8, BF16),
            (I8, F16),
            (I16, F32),
            (I32, F64),
            (Bool, F8E4M3),
            (I32, I64),
        ];
        let inexact = [
            (F32, F16),
            (F16, BF16),
            (BF16, F16),
            (I16, F16),
            (I32, F32),
            (I64, F64),
            (F32, I64),
            (I8, U8),
            (F64, F32),
        ];
        for (from, to) in exact {
            assert!(holds_exactly(from, to), "{from} -> {to}");
        }
        for (from, to) in inexact {
            assert!(!holds_exactly(from, to), "{from} -> {to}");
        }
    }

    /// `a @ b @ c` grouped `(a @ b) @ c`, or `a @ (b @ c)` when `right`.
    fn chain(dims: [&[u64]; 3], right: bool) -> (Builder, ValueId) {
        let mut b = Builder::new();
        let [a, x, c] = [("a", dims[0]), ("b", dims[1]), ("c", dims[2])].map(|(name, d)| b.input(name, d));
        let out = match right {
            false => {
                let ab = b.op("matmul", &[], &[a, x]);
                b.op("matmul", &[], &[ab, c])
            }
            true => {
                let bc = b.op("matmul", &[], &[x, c]);
                b.op("matmul", &[], &[a, bc])
            }
        };
        (b, out)
    }

    /// Whether the optimized graph multiplies the inputs named `left` and `right`.
    fn multiplies(optimized: &Optimized, left: &str, right: &str) -> bool {
        let graph = &optimized.graph;
        graph.nodes.iter().any(|node| {
            let names: Vec<String> = node.inputs.iter().map(|&v| graph.value_name(v)).collect();
            node.op.name() == "matmul" && names == [left, right]
        })
    }

    #[test]
    fn a_matmul_chain_takes_the_grouping_with_fewer_flops() {
        // (a @ b) @ c: 2 * 64 * 8 * 64 + 2 * 64 * 64 * 4 FLOPs; a @ (b @ c): 2 * 8 * 64 * 4 + 2 * 64 * 8 * 4.
        let (b, out) = chain([&[64, 8], &[8, 64], &[64, 4]], false);
        let optimized = optimize_and_compare(b, out);
        assert!(multiplies(&optimized, "b", "c"), "{}", opfuse_ir::print(&optimized.graph));
        // The same with a batch of 2, the other way round.
        let (b, out) = chain([&[2, 4, 64], &[2, 64, 8], &[2, 8, 64]], true);
        let optimized = optimize_and_compare(b, out);
        assert!(multiplies(&optimized, "a", "b"), "{}", opfuse_ir::print(&optimized.graph));
    }

    #[test]
    fn a_matmul_chain_is_not_regrouped_into_more_flops_or_across_ranks() {
        let (b, out) = chain([&[4, 64], &[64, 8], &[8, 64]], false);
        let (converted, _, root) = saturated(b, out, RULES);
        assert_eq!(converted.egraph[root].nodes.len(), 1);
        // Chains with a 1-d operand stay, though a @ (b @ c) would take
        // fewer FLOPs here: a 1-d middle operand is a column on one side
        // and a row on the other, so (A @ b) @ C is bᵀAᵀC but A @ (b @ C)
        // is ACᵀb, and the rules do not tell the safe cases apart.
        let (b, out) = chain([&[4], &[4, 64], &[64, 1]], false);
        let (converted, _, root) = saturated(b, out, RULES);
        assert_eq!(converted.egraph[root].nodes.len(), 1);
    }

    /// `a * b + a * c` with the common factor on `sides` (true: first).
    fn sum_of_products(dims: [&[u64]; 3], sides: (bool, bool)) -> (Builder, ValueId) {
        let mut b = Builder::new();
        let [a, x, c] = [("a", dims[0]), ("b", dims[1]), ("c", dims[2])].map(|(name, d)| b.input(name, d));
        let product = |b: &mut Builder, other, first: bool| match first {
            true => b.op("mul", &[], &[a, other]),
            false => b.op("mul", &[], &[other, a]),
        };
        let (ab, ac) = (product(&mut b, x, sides.0), product(&mut b, c, sides.1));
        let out = b.op("add", &[], &[ab, ac]);
        (b, out)
    }

    #[test]
    fn a_common_factor_comes_out_of_a_sum() {
        for sides in [(true, true), (false, false), (true, false), (false, true)] {
            let (b, out) = sum_of_products([&[8, 16], &[8, 16], &[8, 16]], sides);
            assert_eq!(rewrite_and_compare(b, out, RULES, "mul"), ["add", "mul"], "{sides:?}");
        }
        let (b, out) = sum_of_products([&[8, 1], &[8, 16], &[8, 16]], (true, true));
        let optimized = optimize_and_compare(b, out);
        assert_eq!(ops(&optimized).iter().filter(|op| *op == "mul").count(), 1, "{:?}", ops(&optimized));
    }

    #[test]
    fn a_common_factor_stays_when_the_sum_broadcasts_bigger() {
        // b + c is [8, 16] where a * b and a * c are [8, 1] and [1, 16].
        let (b, out) = sum_of_products([&[1, 1], &[8, 1], &[1, 16]], (true, true));
        assert!(!rewrites_to(b, out, RULES, "mul"));
    }
}
