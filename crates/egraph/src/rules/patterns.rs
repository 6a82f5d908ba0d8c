//! Pattern recognition: the primitive forms exporters emit, rewritten to
//! the catalog's fused ops (which the chips run as one kernel).
//!
//! Where a form comes in many operand orders (the tanh GELU, the variance of
//! a layer norm, the halves of a rotary embedding), the pattern binds the
//! outer shape and the build function walks the matched classes' e-nodes for
//! the rest, trying each order of a commutative op's operands, so one rule
//! covers what exporters and hand-written models spell differently.

use egg::{Id, Subst};
use opfuse_ir::{Attr, Attrs, TensorType};

use super::support::{add_any, add_op, attrs, attrs_of, constant, constant_is, flag, get, int_list, ty, RuleSpec};
use crate::analysis::{ClassData, TensorGraph};
use crate::language::TensorNode;

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
    RuleSpec {
        name: "gelu-tanh",
        description: "0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3))) -> gelu(x, approximate = tanh), the factors grouped (a * b) * c in any order, x^3 as pow(x, 3) or x * x * x",
        pattern: "(mul ?m1 (mul ?m2 ?u ?v) ?w)",
        build: gelu_tanh,
    },
    RuleSpec {
        name: "gelu-tanh-product-last",
        description: "the tanh GELU with its factors grouped a * (b * c), in any order -> gelu(x, approximate = tanh)",
        pattern: "(mul ?m1 ?w (mul ?m2 ?u ?v))",
        build: gelu_tanh,
    },
    RuleSpec {
        name: "layer-norm",
        description: "(x - mean(x)) / sqrt(mean((x - mean(x))^2) + eps) * w + b, means over the last axis with keepdims -> layer_norm(x, w, b, axis = -1, eps)",
        pattern: "(add ?a1 (mul ?m1 (div ?m2 ?d (sqrt ?s (add ?a2 (mean ?v ?sq) ?eps))) ?w) ?b)",
        build: layer_norm,
    },
    RuleSpec {
        name: "layer-norm-scale-first",
        description: "w * ((x - mean(x)) / sqrt(var(x) + eps)) + b -> layer_norm(x, w, b, axis = -1, eps)",
        pattern: "(add ?a1 (mul ?m1 ?w (div ?m2 ?d (sqrt ?s (add ?a2 (mean ?v ?sq) ?eps)))) ?b)",
        build: layer_norm,
    },
    RuleSpec {
        name: "layer-norm-rsqrt",
        description: "(x - mean(x)) * rsqrt(var(x) + eps) * w + b -> layer_norm(x, w, b, axis = -1, eps)",
        pattern: "(add ?a1 (mul ?m1 (mul ?m2 ?d (rsqrt ?s (add ?a2 (mean ?v ?sq) ?eps))) ?w) ?b)",
        build: layer_norm,
    },
    RuleSpec {
        name: "layer-norm-rsqrt-scale-first",
        description: "w * ((x - mean(x)) * rsqrt(var(x) + eps)) + b -> layer_norm(x, w, b, axis = -1, eps)",
        pattern: "(add ?a1 (mul ?m1 ?w (mul ?m2 ?d (rsqrt ?s (add ?a2 (mean ?v ?sq) ?eps)))) ?b)",
        build: layer_norm,
    },
    RuleSpec {
        name: "swiglu",
        description: "silu(a) * b -> swiglu(a, b), for a and b of one shape",
        pattern: "(mul ?m (silu ?s ?a) ?b)",
        build: swiglu,
    },
    RuleSpec {
        name: "swiglu-gate-last",
        description: "b * silu(a) -> swiglu(a, b), for a and b of one shape",
        pattern: "(mul ?m ?b (silu ?s ?a))",
        build: swiglu,
    },
    RuleSpec {
        name: "swiglu-halves",
        description: "silu(x[..., :n]) * x[..., n:] -> swiglu(x), the halves of x's last axis (2n long)",
        pattern: "(mul ?m (silu ?s (slice ?s1 ?x)) (slice ?s2 ?x))",
        build: swiglu_halves,
    },
    RuleSpec {
        name: "rotary-embedding-rotate-half",
        description: "x * concat(c, c) + concat(-x2, x1) * concat(s, s) -> rotary_embedding(x, c, s) on [B, H, S, D], x1, x2 the halves of D, tables per token (also cos/sin of concat(f, f))",
        pattern: "(add ?a (mul ?m1 ?x ?cos) (mul ?m2 (concat ?c (neg ?n ?x2) ?x1) ?sin))",
        build: rotary_embedding,
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

/// `sqrt(2 / pi)`, the tanh GELU's scale.
const GELU_TANH_SCALE: f64 = 0.797_884_560_802_865_4;
/// The tanh GELU's cubic coefficient.
const GELU_TANH_CUBIC: f64 = 0.044_715;
/// How far (relatively) an exporter's spelling of an irrational constant may
/// stray: an f16 constant is within 2^-11 of the value.
const CONSTANT_TOLERANCE: f64 = 1e-3;

/// One of the three factors `?u`, `?v`, `?w` is 0.5, one is
/// `1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3))` and the third is that x.
fn gelu_tanh(egraph: &mut TensorGraph, root: Id, subst: &Subst) -> Option<Id> {
    let (u, v, w) = (get(subst, "?u")?, get(subst, "?v")?, get(subst, "?w")?);
    let roles = [(u, v, w), (u, w, v), (v, u, w), (v, w, u), (w, u, v), (w, v, u)];
    let (x, _, _) = roles
        .into_iter()
        .find(|&(x, half, shift)| is_constant(egraph, half, 0.5, 0.0) && is_tanh_shift(egraph, shift, x))?;
    let attrs = attrs_of(&[("approximate", Attr::Str("tanh".into()))]);
    add_op(egraph, root, "gelu", attrs, &[x])
}

/// Whether `class` holds `1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3))`, in
/// any operand order.
fn is_tanh_shift(egraph: &TensorGraph, class: Id, x: Id) -> bool {
    binary(egraph, class, "add").into_iter().any(|(p, q)| {
        either((p, q), |one, tanh| {
            is_constant(egraph, one, 1.0, 0.0)
                && unary(egraph, tanh, "tanh")
                    .into_iter()
                    .any(|argument| is_gelu_tanh_argument(egraph, argument, x))
        })
    })
}

/// Whether `class` holds `sqrt(2 / pi) * (x + 0.044715 * x^3)`, in any
/// operand order.
fn is_gelu_tanh_argument(egraph: &TensorGraph, class: Id, x: Id) -> bool {
    let near = |id: Id, value: f64| is_constant(egraph, id, value, value * CONSTANT_TOLERANCE);
    binary(egraph, class, "mul").into_iter().any(|pair| {
        either(pair, |scale, sum| {
            near(scale, GELU_TANH_SCALE)
                && binary(egraph, sum, "add").into_iter().any(|pair| {
                    either(pair, |linear, cubic| {
                        same(egraph, linear, x)
                            && binary(egraph, cubic, "mul").into_iter().any(|pair| {
                                either(pair, |coefficient, cube| {
                                    near(coefficient, GELU_TANH_CUBIC) && is_cube(egraph, cube, x)
                                })
                            })
                    })
                })
        })
    })
}

/// Whether `class` holds `pow(x, 3)`, `(x * x) * x` or `x * (x * x)`.
fn is_cube(egraph: &TensorGraph, class: Id, x: Id) -> bool {
    let is_square = |id: Id| {
        binary(egraph, id, "mul")
            .into_iter()
            .any(|(p, q)| same(egraph, p, x) && same(egraph, q, x))
    };
    let power = binary(egraph, class, "pow")
        .into_iter()
        .any(|(base, exponent)| same(egraph, base, x) && is_constant(egraph, exponent, 3.0, 0.0));
    power
        || binary(egraph, class, "mul")
            .into_iter()
            .any(|pair| either(pair, |square, linear| same(egraph, linear, x) && is_square(square)))
}

/// `?d` is `x - mean(x)` and `?sq` its square, both means over the last
/// axis with keepdims; `?eps` a constant.
fn layer_norm(egraph: &mut TensorGraph, root: Id, subst: &Subst) -> Option<Id> {
    let (centered, square) = (get(subst, "?d")?, get(subst, "?sq")?);
    let x = centered_input(egraph, centered)?;
    let rank = ty(egraph, x)?.rank();
    if !reduces_last_axis(attrs(egraph, subst, "?v")?, rank) || !is_square_of(egraph, square, centered) {
        return None;
    }
    let epsilon = constant(egraph, subst, "?eps").filter(|e| e.is_finite())?;
    let attrs = attrs_of(&[("axis", Attr::Int(-1)), ("epsilon", Attr::Float(epsilon))]);
    add_op(egraph, root, "layer_norm", attrs, &[x, get(subst, "?w")?, get(subst, "?b")?])
}

/// The x of a class holding `x - mean(x)`, the mean over the last axis with
/// keepdims.
fn centered_input(egraph: &TensorGraph, class: Id) -> Option<Id> {
    binary(egraph, class, "sub").into_iter().find_map(|(x, mean)| {
        let rank = ty(egraph, x)?.rank();
        let is_mean = op_nodes(egraph, mean, "mean")
            .into_iter()
            .any(|children| match children.as_slice() {
                [attrs, input] => same(egraph, *input, x) && node_attrs(egraph, *attrs).is_some_and(|a| reduces_last_axis(a, rank)),
                _ => false,
            });
        is_mean.then_some(x)
    })
}

/// Whether `class` holds `pow(d, 2)` or `d * d`.
fn is_square_of(egraph: &TensorGraph, class: Id, d: Id) -> bool {
    let power = binary(egraph, class, "pow")
        .into_iter()
        .any(|(base, exponent)| same(egraph, base, d) && is_constant(egraph, exponent, 2.0, 0.0));
    power
        || binary(egraph, class, "mul")
            .into_iter()
            .any(|(p, q)| same(egraph, p, d) && same(egraph, q, d))
}

/// `swiglu(a, b)` (alpha 1, `silu`'s gate); its shape rule refuses operands
/// of different shapes, where `mul` would broadcast.
fn swiglu(egraph: &mut TensorGraph, root: Id, subst: &Subst) -> Option<Id> {
    add_op(egraph, root, "swiglu", Attrs::new(), &[get(subst, "?a")?, get(subst, "?b")?])
}

/// `?s1` takes the first half of `?x`'s last axis and `?s2` the second.
fn swiglu_halves(egraph: &mut TensorGraph, root: Id, subst: &Subst) -> Option<Id> {
    let x = get(subst, "?x")?;
    let dims = ty(egraph, x)?.shape.dims().to_vec();
    let (&extent, _) = dims.split_last()?;
    let half = extent / 2;
    let rank = dims.len();
    let first = last_axis_slice(attrs(egraph, subst, "?s1")?, rank, extent)?;
    let second = last_axis_slice(attrs(egraph, subst, "?s2")?, rank, extent)?;
    if extent % 2 != 0 || first != (0, half) || second != (half, extent) {
        return None;
    }
    add_op(egraph, root, "swiglu", Attrs::new(), &[x])
}

/// `x * cos + rotate_half(x) * sin` on `x` of `[B, H, S, D]`: `?x1` and `?x2`
/// are the halves of `D`, and each table repeats one `[.., S, D / 2]` table
/// in both halves (the catalog op applies one angle to a pair), varying at
/// most by batch and token, not by head (the caches are `[B, S, D / 2]`).
fn rotary_embedding(egraph: &mut TensorGraph, root: Id, subst: &Subst) -> Option<Id> {
    let x = get(subst, "?x")?;
    let x_type = ty(egraph, x)?.clone();
    let &[_, _, _, extent] = x_type.shape.dims() else {
        return None;
    };
    let half = extent / 2;
    let concat_axis = attrs(egraph, subst, "?c")?.get("axis")?.as_int()?;
    let halves = is_last_axis_slice_of(egraph, get(subst, "?x1")?, x, (0, half))
        && is_last_axis_slice_of(egraph, get(subst, "?x2")?, x, (half, extent));
    if extent % 2 != 0 || !matches!(concat_axis, -1 | 3) || !halves {
        return None;
    }
    let cos = rotary_cache(egraph, get(subst, "?cos")?, &x_type)?;
    let sin = rotary_cache(egraph, get(subst, "?sin")?, &x_type)?;
    add_op(egraph, root, "rotary_embedding", Attrs::new(), &[x, cos, sin])
}

/// The `[B, S, D / 2]` cache of a full table `class` that broadcasts
/// against `x` (`[B, H, S, D]`) and repeats one table `t` in both halves of
/// its last axis: `concat(t, t)`, or `cos`/`sin` of `concat(f, f)` (then `t`
/// is `cos(f)`/`sin(f)`). `t` is reshaped and expanded to the cache shape.
fn rotary_cache(egraph: &mut TensorGraph, class: Id, x: &TensorType) -> Option<Id> {
    let &[batch, _, seq, extent] = x.shape.dims() else {
        return None;
    };
    let half = extent / 2;
    let table = match repeated_half(egraph, class) {
        Some(table) => table,
        None => {
            let (op, inner) = ["cos", "sin"].into_iter().find_map(|op| {
                unary(egraph, class, op)
                    .into_iter()
                    .find_map(|inner| Some((op, repeated_half(egraph, inner)?)))
            })?;
            add_any(egraph, op, Attrs::new(), &[inner])?
        }
    };
    let dims = ty(egraph, table)?.shape.dims().to_vec();
    if dims.len() > 4 {
        return None;
    }
    let mut padded = vec![1; 4 - dims.len()];
    padded.extend_from_slice(&dims);
    let &[table_batch, heads, table_seq, table_half] = padded.as_slice() else {
        return None;
    };
    let fits = heads == 1 && table_half == half && (table_batch == 1 || table_batch == batch) && (table_seq == 1 || table_seq == seq);
    if !fits {
        return None;
    }
    let mut cache = table;
    if dims != [table_batch, table_seq, half] {
        let shape = Attr::List([table_batch, table_seq, half].into_iter().map(|d| Attr::Int(d as i64)).collect());
        cache = add_any(egraph, "reshape", attrs_of(&[("shape", shape)]), &[cache])?;
    }
    if [table_batch, table_seq] != [batch, seq] {
        let shape = Attr::List([batch, seq, half].into_iter().map(|d| Attr::Int(d as i64)).collect());
        cache = add_any(egraph, "expand", attrs_of(&[("shape", shape)]), &[cache])?;
    }
    Some(cache)
}

/// The `t` of a class holding `concat(t, t)` along the last axis.
fn repeated_half(egraph: &TensorGraph, class: Id) -> Option<Id> {
    op_nodes(egraph, class, "concat")
        .into_iter()
        .find_map(|children| match children.as_slice() {
            [attrs, first, second] if same(egraph, *first, *second) => {
                let rank = ty(egraph, *first)?.rank() as i64;
                let axis = node_attrs(egraph, *attrs)?.get("axis")?.as_int()?;
                (axis == -1 || axis == rank - 1).then_some(*first)
            }
            _ => None,
        })
}

/// Whether `class` holds a slice of `x` taking `range` of its last axis.
fn is_last_axis_slice_of(egraph: &TensorGraph, class: Id, x: Id, range: (u64, u64)) -> bool {
    let Some(x_type) = ty(egraph, x) else {
        return false;
    };
    let (rank, extent) = (x_type.rank(), x_type.shape.dims().last().copied().unwrap_or(0));
    op_nodes(egraph, class, "slice")
        .into_iter()
        .any(|children| match children.as_slice() {
            [attrs, input] => {
                same(egraph, *input, x) && node_attrs(egraph, *attrs).and_then(|a| last_axis_slice(a, rank, extent)) == Some(range)
            }
            _ => false,
        })
}

/// The `[first, end)` range a slice with `attrs` takes of the last axis
/// (`extent` long) of a rank-`rank` tensor, when it slices that axis alone
/// with step 1; ONNX's clamping.
fn last_axis_slice(attrs: &Attrs, rank: usize, extent: u64) -> Option<(u64, u64)> {
    let (starts, ends) = (int_list(attrs, "starts")?, int_list(attrs, "ends")?);
    let axes = int_list(attrs, "axes").unwrap_or_default();
    let steps = int_list(attrs, "steps").unwrap_or_default();
    let last = rank as i64 - 1;
    let on_last_axis = match axes.as_slice() {
        [] => rank == 1,
        [axis] => *axis == -1 || *axis == last,
        _ => false,
    };
    let ([start], [end], true) = (starts.as_slice(), ends.as_slice(), on_last_axis) else {
        return None;
    };
    if !matches!(steps.as_slice(), [] | [1]) {
        return None;
    }
    let n = i128::from(extent);
    let resolve = |v: i64| match v < 0 {
        true => i128::from(v) + n,
        false => i128::from(v),
    };
    let first = resolve(*start).clamp(0, n);
    let end = resolve(*end).clamp(0, n).max(first);
    Some((u64::try_from(first).ok()?, u64::try_from(end).ok()?))
}

/// Whether `attrs` reduce exactly the last axis of a rank-`rank` tensor,
/// keeping it.
fn reduces_last_axis(attrs: &Attrs, rank: usize) -> bool {
    let last = rank as i64 - 1;
    matches!(
        (int_list(attrs, "axes").as_deref(), flag(attrs, "keepdims")),
        (Some([axis]), Some(true)) if *axis == -1 || *axis == last
    )
}

/// The children of every `op` node of `class`, its attribute class first.
fn op_nodes(egraph: &TensorGraph, class: Id, op: &str) -> Vec<Vec<Id>> {
    egraph[class]
        .nodes
        .iter()
        .filter_map(|node| match node {
            TensorNode::Op(name, children) if name.as_str() == op => Some(children.clone()),
            _ => None,
        })
        .collect()
}

/// The operand of every unary `op` node of `class`.
fn unary(egraph: &TensorGraph, class: Id, op: &str) -> Vec<Id> {
    op_nodes(egraph, class, op)
        .into_iter()
        .filter_map(|children| match children.as_slice() {
            [_, operand] => Some(*operand),
            _ => None,
        })
        .collect()
}

/// The operands of every binary `op` node of `class`.
fn binary(egraph: &TensorGraph, class: Id, op: &str) -> Vec<(Id, Id)> {
    op_nodes(egraph, class, op)
        .into_iter()
        .filter_map(|children| match children.as_slice() {
            [_, first, second] => Some((*first, *second)),
            _ => None,
        })
        .collect()
}

/// Whether `test` holds for a commutative op's operands in either order.
fn either(pair: (Id, Id), test: impl Fn(Id, Id) -> bool) -> bool {
    test(pair.0, pair.1) || test(pair.1, pair.0)
}

fn same(egraph: &TensorGraph, a: Id, b: Id) -> bool {
    egraph.find(a) == egraph.find(b)
}

/// Whether `class` is a scalar constant within `tolerance` of `value`.
fn is_constant(egraph: &TensorGraph, class: Id, value: f64, tolerance: f64) -> bool {
    egraph[class].data.constant().is_some_and(|c| (c - value).abs() <= tolerance)
}

/// The attributes an attribute class holds.
fn node_attrs(egraph: &TensorGraph, class: Id) -> Option<&Attrs> {
    match &egraph[class].data {
        ClassData::Attrs(symbol) => egraph.analysis.attrs(*symbol),
        _ => None,
    }
}

#[cfg(test)]
pub(super) mod tests {
    use std::collections::BTreeMap;

    use egg::{CostFunction, Extractor, Id, Language, Runner};
    use opfuse_ascend::Profiles;
    use opfuse_ir::{verify, Attr, DType, ValueId, VerifiedGraph};
    use opfuse_ops::interp::{random_tensor, run};
    use opfuse_ops::{Catalog, Chip};

    use super::RULES;
    use crate::analysis::{TensorAnalysis, TensorGraph};
    use crate::convert::Converted;
    use crate::language::TensorNode;
    use crate::rules::support::RuleSpec;
    use crate::testing::{ints, Builder};
    use crate::{AscendModel, Optimized};

    /// The e-graph of the graph returning `output`, saturated under `rules`
    /// alone (so a test sees one family's rules, whatever the cost model
    /// prefers), the verified source graph and the output's class.
    pub(in crate::rules) fn saturated(b: Builder, output: ValueId, rules: &[RuleSpec]) -> (Converted, VerifiedGraph, Id) {
        let mut graph = b.graph;
        graph.outputs = vec![output];
        let graph = verify(graph, &b.catalog).expect("the test graph verifies");
        let mut converted = crate::convert::to_egraph(&graph, &b.catalog).expect("the test graph converts");
        let rewrites: Vec<_> = rules.iter().map(|rule| rule.rewrite().expect("the rule parses")).collect();
        let egraph = std::mem::replace(&mut converted.egraph, TensorGraph::new(TensorAnalysis::new(b.catalog.clone())));
        let runner: Runner<TensorNode, TensorAnalysis> = Runner::new(TensorAnalysis::new(b.catalog.clone()))
            .with_egraph(egraph)
            .with_iter_limit(8)
            .with_node_limit(20_000)
            .run(&rewrites);
        converted.egraph = runner.egraph;
        assert_eq!(converted.egraph.analysis.conflicts, Vec::<String>::new());
        let root = converted.egraph.find(converted.roots[0]);
        (converted, graph, root)
    }

    /// Whether saturating under `rules` puts an `op` node in the output's class.
    pub(in crate::rules) fn rewrites_to(b: Builder, output: ValueId, rules: &[RuleSpec], op: &str) -> bool {
        let (converted, _, root) = saturated(b, output, rules);
        converted.egraph[root]
            .nodes
            .iter()
            .any(|node| matches!(node, TensorNode::Op(name, _) if name.as_str() == op))
    }

    /// Counts nodes, but `op` nodes are free: the extraction that takes the
    /// rewritten form wherever there is one.
    struct Prefer<'a>(&'a str);

    impl CostFunction<TensorNode> for Prefer<'_> {
        type Cost = usize;

        fn cost<C: FnMut(Id) -> usize>(&mut self, node: &TensorNode, mut costs: C) -> usize {
            let own = match node {
                TensorNode::Op(name, _) if name.as_str() == self.0 => 0,
                TensorNode::Attrs(_) => 0,
                _ => 1,
            };
            node.children().iter().fold(own, |sum, &child| sum.saturating_add(costs(child)))
        }
    }

    /// Saturates the graph returning `output` under `rules`, takes `op`
    /// wherever a class has one, and checks through the reference
    /// interpreter that the result computes what the original does. This
    /// tests a rule's rewrite itself, whether or not a cost model would
    /// choose it. Returns the ops of the rewritten graph.
    pub(in crate::rules) fn rewrite_and_compare(b: Builder, output: ValueId, rules: &[RuleSpec], op: &str) -> Vec<String> {
        let catalog = b.catalog.clone();
        let (converted, original, _) = saturated(b, output, rules);
        let extractor = Extractor::new(&converted.egraph, Prefer(op));
        let choices: crate::HashMap<Id, TensorNode> = converted
            .egraph
            .classes()
            .map(|class| (class.id, extractor.find_best_node(class.id).clone()))
            .collect();
        let rewritten = converted.materialize(&original, &choices).expect("the choice materializes").graph;
        assert_same_results(&catalog, &original, &rewritten);
        rewritten.nodes.iter().map(|node| node.op.name().to_string()).collect()
    }

    /// Optimizes the graph returning `output` for the CPU and checks, through
    /// the reference interpreter on random inputs and params, that the
    /// optimized graph computes what the original does.
    pub(in crate::rules) fn optimize_and_compare(b: Builder, output: ValueId) -> Optimized {
        compare(b, output, None)
    }

    /// [`optimize_and_compare`] for `chip` under its Ascend cost model.
    pub(in crate::rules) fn optimize_and_compare_on(b: Builder, output: ValueId, chip: Chip) -> Optimized {
        compare(b, output, Some(chip))
    }

    fn compare(b: Builder, output: ValueId, chip: Option<Chip>) -> Optimized {
        let mut original = b.graph.clone();
        original.outputs = vec![output];
        let original = verify(original, &b.catalog).expect("the test graph verifies");
        let catalog = b.catalog.clone();
        let optimized = match chip {
            None => b.optimize(output),
            Some(chip) => {
                let profiles = Profiles::builtin().expect("the chip profiles load");
                let profile = profiles.get(chip.name()).expect("the chip has a profile").clone();
                b.optimize_for(output, Some(chip), &AscendModel { profile })
            }
        };
        assert_same_results(&catalog, &original, &optimized.graph);
        optimized
    }

    /// Runs both graphs on the same random inputs and params (by name) and
    /// checks the outputs agree within a few roundings of their dtype,
    /// relative to the largest magnitude.
    fn assert_same_results(catalog: &Catalog, original: &VerifiedGraph, rewritten: &VerifiedGraph) {
        let inputs: Vec<_> = original
            .inputs
            .iter()
            .enumerate()
            .map(|(i, &id)| random_tensor(&original.values[id.index()].ty, 11 + i as u64))
            .collect();
        let params: BTreeMap<_, _> = original
            .params
            .iter()
            .enumerate()
            .map(|(i, &id)| {
                (
                    original.value_name(id),
                    random_tensor(&original.values[id.index()].ty, 101 + i as u64),
                )
            })
            .collect();
        let expected = run(catalog, original, inputs.clone(), &params, 5).expect("the original runs");
        let found = run(catalog, rewritten, inputs, &params, 5).expect("the rewritten graph runs");
        assert_eq!(expected.len(), found.len());
        for (e, f) in expected.iter().zip(&found) {
            assert_eq!(e.ty(), f.ty());
            let tolerance = match e.dtype() {
                DType::F64 => 1e-9,
                DType::F32 => 1e-4,
                DType::F16 => 2e-2,
                DType::BF16 => 8e-2,
                _ => 0.0,
            };
            let scale = 1.0 + e.data().iter().fold(0.0f64, |m, a| m.max(a.abs()));
            for (a, b) in e.data().iter().zip(f.data()) {
                let close = (a - b).abs() <= tolerance * scale || (a.is_nan() && b.is_nan());
                assert!(close, "{a} vs {b}\n{}", opfuse_ir::print(rewritten));
            }
        }
    }

    /// The ops of the optimized graph, in order.
    pub(in crate::rules) fn ops(optimized: &Optimized) -> Vec<String> {
        optimized.graph.nodes.iter().map(|node| node.op.name().to_string()).collect()
    }

    fn has_op(optimized: &Optimized, op: &str) -> bool {
        ops(optimized).iter().any(|o| o == op)
    }

    /// How the tanh GELU's factors and terms are written.
    #[derive(Clone, Copy)]
    enum GeluSpelling {
        /// `(0.5 * x) * (1 + tanh(c * (x + k * pow(x, 3))))`, as written by hand.
        HalfFirstPow,
        /// `(x * (tanh((x + (x * x * x) * k) * c) + 1)) * 0.5`, operands as
        /// PyTorch traces `x * (1 + tanh(..)) * 0.5`.
        HalfLastCubed,
        /// `0.5 * (x * (1 + tanh(c * (x + k * (x * (x * x))))))`.
        ProductLast,
    }

    /// A tanh GELU on `[4, 16]` with the cubic coefficient `cubic`.
    fn gelu_tanh_graph(spelling: GeluSpelling, cubic: f64) -> (Builder, ValueId) {
        let mut b = Builder::new();
        let x = b.input("x", &[4, 16]);
        let (half, one) = (b.constant(0.5), b.constant(1.0));
        let (scale, cubic) = (b.constant((2.0 / std::f64::consts::PI).sqrt()), b.constant(cubic));
        let out = match spelling {
            GeluSpelling::HalfFirstPow => {
                let three = b.constant(3.0);
                let cube = b.op("pow", &[], &[x, three]);
                let term = b.op("mul", &[], &[cubic, cube]);
                let sum = b.op("add", &[], &[x, term]);
                let argument = b.op("mul", &[], &[scale, sum]);
                let tanh = b.op("tanh", &[], &[argument]);
                let shift = b.op("add", &[], &[one, tanh]);
                let half_x = b.op("mul", &[], &[half, x]);
                b.op("mul", &[], &[half_x, shift])
            }
            GeluSpelling::HalfLastCubed => {
                let square = b.op("mul", &[], &[x, x]);
                let cube = b.op("mul", &[], &[square, x]);
                let term = b.op("mul", &[], &[cube, cubic]);
                let sum = b.op("add", &[], &[x, term]);
                let argument = b.op("mul", &[], &[sum, scale]);
                let tanh = b.op("tanh", &[], &[argument]);
                let shift = b.op("add", &[], &[tanh, one]);
                let product = b.op("mul", &[], &[x, shift]);
                b.op("mul", &[], &[product, half])
            }
            GeluSpelling::ProductLast => {
                let square = b.op("mul", &[], &[x, x]);
                let cube = b.op("mul", &[], &[x, square]);
                let term = b.op("mul", &[], &[cubic, cube]);
                let sum = b.op("add", &[], &[x, term]);
                let argument = b.op("mul", &[], &[scale, sum]);
                let tanh = b.op("tanh", &[], &[argument]);
                let shift = b.op("add", &[], &[one, tanh]);
                let product = b.op("mul", &[], &[x, shift]);
                b.op("mul", &[], &[half, product])
            }
        };
        (b, out)
    }

    #[test]
    fn tanh_gelu_spellings_become_gelu() {
        for spelling in [GeluSpelling::HalfFirstPow, GeluSpelling::HalfLastCubed, GeluSpelling::ProductLast] {
            let (b, out) = gelu_tanh_graph(spelling, 0.044715);
            assert_eq!(rewrite_and_compare(b, out, RULES, "gelu"), ["gelu"]);
            let (b, out) = gelu_tanh_graph(spelling, 0.044715);
            let optimized = optimize_and_compare(b, out);
            assert!(has_op(&optimized, "gelu"), "{:?}", ops(&optimized));
            let gelu = optimized.graph.nodes.iter().find(|n| n.op.name() == "gelu").expect("a gelu");
            assert_eq!(gelu.attrs.get("approximate"), Some(&Attr::Str("tanh".into())));
        }
    }

    #[test]
    fn a_tanh_gelu_with_another_cubic_coefficient_is_not_gelu() {
        for spelling in [GeluSpelling::HalfFirstPow, GeluSpelling::HalfLastCubed, GeluSpelling::ProductLast] {
            let (b, out) = gelu_tanh_graph(spelling, 0.05);
            assert!(!rewrites_to(b, out, RULES, "gelu"));
        }
    }

    /// How a layer norm on `[4, 32]` is written.
    #[derive(Clone, Copy)]
    enum NormSpelling {
        /// `(x - mean) / sqrt(mean(pow(d, 2)) + eps) * w + b`
        DivSqrtPow,
        /// `w * ((x - mean) * rsqrt(mean(d * d) + eps)) + b`
        ScaleFirstRsqrt,
    }

    /// A layer norm whose variance is a mean over `variance_axes`.
    fn layer_norm_graph(spelling: NormSpelling, variance_axes: &[i64]) -> (Builder, ValueId) {
        let mut b = Builder::new();
        let x = b.input("x", &[4, 32]);
        let (w, bias) = (b.param("w", &[32]), b.param("b", &[32]));
        let last = [("axes", ints(&[-1])), ("keepdims", Attr::Bool(true))];
        let mean = b.op("mean", &last, &[x]);
        let centered = b.op("sub", &[], &[x, mean]);
        let square = match spelling {
            NormSpelling::DivSqrtPow => {
                let two = b.constant(2.0);
                b.op("pow", &[], &[centered, two])
            }
            NormSpelling::ScaleFirstRsqrt => b.op("mul", &[], &[centered, centered]),
        };
        let variance_attrs = [("axes", ints(variance_axes)), ("keepdims", Attr::Bool(true))];
        let variance = b.op("mean", &variance_attrs, &[square]);
        let epsilon = b.constant(1e-5);
        let shifted = b.op("add", &[], &[variance, epsilon]);
        let scaled = match spelling {
            NormSpelling::DivSqrtPow => {
                let deviation = b.op("sqrt", &[], &[shifted]);
                let normalized = b.op("div", &[], &[centered, deviation]);
                b.op("mul", &[], &[normalized, w])
            }
            NormSpelling::ScaleFirstRsqrt => {
                let inverse = b.op("rsqrt", &[], &[shifted]);
                let normalized = b.op("mul", &[], &[centered, inverse]);
                b.op("mul", &[], &[w, normalized])
            }
        };
        let out = b.op("add", &[], &[scaled, bias]);
        (b, out)
    }

    #[test]
    fn primitive_layer_norms_become_layer_norm() {
        for spelling in [NormSpelling::DivSqrtPow, NormSpelling::ScaleFirstRsqrt] {
            let (b, out) = layer_norm_graph(spelling, &[-1]);
            assert_eq!(rewrite_and_compare(b, out, RULES, "layer_norm"), ["layer_norm"]);
            let (b, out) = layer_norm_graph(spelling, &[1]);
            let optimized = optimize_and_compare(b, out);
            assert!(has_op(&optimized, "layer_norm"), "{:?}", ops(&optimized));
            let norm = optimized
                .graph
                .nodes
                .iter()
                .find(|n| n.op.name() == "layer_norm")
                .expect("a layer norm");
            assert_eq!(norm.attrs.get("epsilon").and_then(Attr::as_float), Some(1e-5));
        }
    }

    #[test]
    fn a_variance_over_another_axis_is_not_a_layer_norm() {
        for spelling in [NormSpelling::DivSqrtPow, NormSpelling::ScaleFirstRsqrt] {
            let (b, out) = layer_norm_graph(spelling, &[0]);
            assert!(!rewrites_to(b, out, RULES, "layer_norm"));
        }
    }

    /// `silu(a) * b` (or `b * silu(a)`) for `a` of `[4, 16]` and `b` of `b_dims`.
    fn gated_graph(b_dims: &[u64], gate_first: bool) -> (Builder, ValueId) {
        let mut b = Builder::new();
        let (a, value) = (b.input("a", &[4, 16]), b.input("b", b_dims));
        let gate = b.op("silu", &[], &[a]);
        let inputs = match gate_first {
            true => [gate, value],
            false => [value, gate],
        };
        let out = b.op("mul", &[], &inputs);
        (b, out)
    }

    #[test]
    fn silu_times_a_same_shaped_value_is_swiglu() {
        for gate_first in [true, false] {
            let (b, out) = gated_graph(&[4, 16], gate_first);
            assert_eq!(rewrite_and_compare(b, out, RULES, "swiglu"), ["swiglu"]);
        }
        let (b, out) = gated_graph(&[4, 16], true);
        let optimized = optimize_and_compare(b, out);
        assert!(has_op(&optimized, "swiglu"), "{:?}", ops(&optimized));
    }

    #[test]
    fn silu_times_a_broadcast_value_is_not_swiglu() {
        // swiglu's operands have one shape; `mul` would broadcast `b`.
        let (b, out) = gated_graph(&[1, 16], true);
        assert!(!rewrites_to(b, out, RULES, "swiglu"));
    }

    /// `silu(x[:, gate]) * x[:, value]` for `x` of `[4, 32]`, the slices as
    /// `(starts, ends)` of the last axis.
    fn halves_graph(gate: (i64, i64), value: (i64, i64)) -> (Builder, ValueId) {
        let mut b = Builder::new();
        let x = b.input("x", &[4, 32]);
        let slice = |b: &mut Builder, (start, end): (i64, i64)| {
            b.op(
                "slice",
                &[("starts", ints(&[start])), ("ends", ints(&[end])), ("axes", ints(&[-1]))],
                &[x],
            )
        };
        let (gate, value) = (slice(&mut b, gate), slice(&mut b, value));
        let gate = b.op("silu", &[], &[gate]);
        let out = b.op("mul", &[], &[gate, value]);
        (b, out)
    }

    #[test]
    fn silu_of_the_first_half_times_the_second_is_swiglu() {
        let (b, out) = halves_graph((0, 16), (16, i64::MAX));
        assert_eq!(rewrite_and_compare(b, out, RULES, "swiglu"), ["swiglu"]);
        let (b, out) = halves_graph((0, 16), (-16, 32));
        let optimized = optimize_and_compare(b, out);
        assert!(has_op(&optimized, "swiglu"), "{:?}", ops(&optimized));
    }

    #[test]
    fn silu_of_the_second_half_is_not_swiglu_of_the_whole() {
        // One-input swiglu gates with the first half; the two halves still
        // make the two-input form, swiglu(second, first).
        let (b, out) = halves_graph((16, 32), (0, 16));
        let (converted, _, root) = saturated(b, out, RULES);
        let swiglu_inputs: Vec<usize> = converted.egraph[root]
            .nodes
            .iter()
            .filter_map(|node| match node {
                TensorNode::Op(name, children) if name.as_str() == "swiglu" => Some(children.len() - 1),
                _ => None,
            })
            .collect();
        assert_eq!(swiglu_inputs, [2]);
    }

    /// How a rotary embedding's cos/sin tables are given.
    #[derive(Clone, Copy)]
    enum Tables {
        /// `concat(t, t)` of `[S, D / 2]` inputs.
        Repeated,
        /// `cos(concat(f, f))`, `sin(concat(f, f))` of one `[S, D / 2]` input.
        OfAngles,
        /// `[S, D]` inputs, as `examples/llama_layer.opf` passes them.
        Full,
    }

    /// `x * cos + concat(-x2, x1) * sin` on `x` of `[batch, 2, 8, 16]`;
    /// `swap` takes `x1` from the second half.
    fn rotary_graph(batch: u64, tables: Tables, swap: bool) -> (Builder, ValueId) {
        let mut b = Builder::new();
        let x = b.input("x", &[batch, 2, 8, 16]);
        let last = Attr::Int(-1);
        let repeat = |b: &mut Builder, t| b.op("concat", &[("axis", last.clone())], &[t, t]);
        let (cos, sin) = match tables {
            Tables::Repeated => {
                let (c, s) = (b.input("cos", &[8, 8]), b.input("sin", &[8, 8]));
                (repeat(&mut b, c), repeat(&mut b, s))
            }
            Tables::OfAngles => {
                let angles = b.input("angles", &[8, 8]);
                let full = repeat(&mut b, angles);
                (b.op("cos", &[], &[full]), b.op("sin", &[], &[full]))
            }
            Tables::Full => (b.input("cos", &[8, 16]), b.input("sin", &[8, 16])),
        };
        let slice = |b: &mut Builder, start: i64, end: i64| {
            b.op(
                "slice",
                &[("starts", ints(&[start])), ("ends", ints(&[end])), ("axes", ints(&[-1]))],
                &[x],
            )
        };
        let (first, second) = (slice(&mut b, 0, 8), slice(&mut b, 8, 16));
        let (x1, x2) = match swap {
            false => (first, second),
            true => (second, first),
        };
        let minus = b.op("neg", &[], &[x2]);
        let rotated = b.op("concat", &[("axis", last.clone())], &[minus, x1]);
        let (direct, turned) = (b.op("mul", &[], &[x, cos]), b.op("mul", &[], &[rotated, sin]));
        let out = b.op("add", &[], &[direct, turned]);
        (b, out)
    }

    #[test]
    fn rotate_half_with_repeated_tables_is_rotary_embedding() {
        for (batch, tables) in [(1, Tables::Repeated), (2, Tables::Repeated), (2, Tables::OfAngles)] {
            let (b, out) = rotary_graph(batch, tables, false);
            let ops = rewrite_and_compare(b, out, RULES, "rotary_embedding");
            assert!(ops.iter().any(|op| op == "rotary_embedding"), "{ops:?}");
            // The cost models price the rotary kernel (with its cache
            // reshape or expand) no lower than the one fused elementwise
            // kernel of the primitive form at this size, so only the
            // numbers are checked end to end.
            let (b, out) = rotary_graph(batch, tables, false);
            optimize_and_compare_on(b, out, Chip::Ascend910C);
        }
    }

    #[test]
    fn rotate_half_with_arbitrary_tables_or_swapped_halves_is_not_rotary_embedding() {
        // Full `[S, D]` tables may differ between the halves, where the
        // catalog op turns both features of a pair by one angle.
        let (b, out) = rotary_graph(1, Tables::Full, false);
        assert!(!rewrites_to(b, out, RULES, "rotary_embedding"));
        let (b, out) = rotary_graph(1, Tables::Repeated, true);
        assert!(!rewrites_to(b, out, RULES, "rotary_embedding"));
    }

    #[test]
    fn last_axis_slices_clamp_as_onnx_does() {
        let attrs = |starts: i64, ends: i64, axes: &[i64]| {
            [("starts", ints(&[starts])), ("ends", ints(&[ends])), ("axes", ints(axes))]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect::<opfuse_ir::Attrs>()
        };
        assert_eq!(super::last_axis_slice(&attrs(0, 8, &[-1]), 2, 16), Some((0, 8)));
        assert_eq!(super::last_axis_slice(&attrs(-8, i64::MAX, &[1]), 2, 16), Some((8, 16)));
        assert_eq!(super::last_axis_slice(&attrs(0, 8, &[0]), 2, 16), None);
    }
}
