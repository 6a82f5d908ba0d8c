//! Attention recognition: `softmax(q @ kᵀ * scale [+ mask]) @ v`, as
//! exporters and hand-written models spell it, rewritten to the catalog's
//! `scaled_dot_product_attention` (one flash-attention kernel). `kᵀ` may be
//! any class; the rule adds the transpose that undoes it, which the layout
//! rules then cancel or compose with the transpose that made it.

use egg::{Id, Subst};
use opfuse_ir::Attr;

use super::support::{add_any, add_op, attrs, attrs_of, constant, get, ty, RuleSpec};
use crate::analysis::TensorGraph;

/// How the scores are scaled.
#[derive(Clone, Copy)]
enum Scale {
    /// `scores * ?c`
    Mul,
    /// `scores / ?c`
    Div,
    /// Not at all.
    One,
}

pub const RULES: &[RuleSpec] = &[
    RuleSpec {
        name: "attention-masked",
        description: "softmax(q @ kT * c + mask) @ v -> scaled_dot_product_attention(q, k, v, mask, scale = c)",
        pattern: "(matmul ?a2 (softmax ?s (add ?ad (mul ?m (matmul ?a1 ?q ?kt) ?c) ?mask)) ?v)",
        build: |egraph, root, subst| attention(egraph, root, subst, Scale::Mul, true),
    },
    RuleSpec {
        name: "attention-masked-div",
        description: "softmax(q @ kT / c + mask) @ v -> scaled_dot_product_attention(q, k, v, mask, scale = 1 / c)",
        pattern: "(matmul ?a2 (softmax ?s (add ?ad (div ?m (matmul ?a1 ?q ?kt) ?c) ?mask)) ?v)",
        build: |egraph, root, subst| attention(egraph, root, subst, Scale::Div, true),
    },
    RuleSpec {
        name: "attention",
        description: "softmax(q @ kT * c) @ v -> scaled_dot_product_attention(q, k, v, scale = c)",
        pattern: "(matmul ?a2 (softmax ?s (mul ?m (matmul ?a1 ?q ?kt) ?c)) ?v)",
        build: |egraph, root, subst| attention(egraph, root, subst, Scale::Mul, false),
    },
    RuleSpec {
        name: "attention-div",
        description: "softmax(q @ kT / c) @ v -> scaled_dot_product_attention(q, k, v, scale = 1 / c)",
        pattern: "(matmul ?a2 (softmax ?s (div ?m (matmul ?a1 ?q ?kt) ?c)) ?v)",
        build: |egraph, root, subst| attention(egraph, root, subst, Scale::Div, false),
    },
    RuleSpec {
        name: "attention-unscaled",
        description: "softmax(q @ kT) @ v -> scaled_dot_product_attention(q, k, v, scale = 1)",
        pattern: "(matmul ?a2 (softmax ?s (matmul ?a1 ?q ?kt)) ?v)",
        build: |egraph, root, subst| attention(egraph, root, subst, Scale::One, false),
    },
];

/// The attention node for a match, for `[B, H, S, D]` operands, a softmax
/// over the keys, a positive finite scale and a mask as long as the keys
/// (the catalog's op pads a shorter mask, where `add` would broadcast it).
fn attention(egraph: &mut TensorGraph, root: Id, subst: &Subst, scale: Scale, masked: bool) -> Option<Id> {
    let (q, kt, v) = (get(subst, "?q")?, get(subst, "?kt")?, get(subst, "?v")?);
    if [q, kt, v].iter().any(|&id| ty(egraph, id).map(|t| t.rank()) != Some(4)) {
        return None;
    }
    let keys = *ty(egraph, kt)?.shape.dims().last()?;
    if !matches!(attrs(egraph, subst, "?s")?.get("axis").and_then(|a| a.as_int()), Some(-1 | 3)) {
        return None;
    }
    let factor = match scale {
        Scale::Mul => constant(egraph, subst, "?c")?,
        Scale::Div => 1.0 / constant(egraph, subst, "?c")?,
        Scale::One => 1.0,
    };
    if !(factor.is_finite() && factor > 0.0) {
        return None;
    }
    let mask = match masked {
        true => Some(get(subst, "?mask")?),
        false => None,
    };
    if mask.is_some_and(|mask| ty(egraph, mask).and_then(|t| t.shape.dims().last()) != Some(&keys)) {
        return None;
    }
    let swap = Attr::List([0, 1, 3, 2].into_iter().map(Attr::Int).collect());
    let k = add_any(egraph, "transpose", attrs_of(&[("perm", swap)]), &[kt])?;
    let inputs: Vec<Id> = [q, k, v].into_iter().chain(mask).collect();
    add_op(
        egraph,
        root,
        "scaled_dot_product_attention",
        attrs_of(&[("scale", Attr::Float(factor))]),
        &inputs,
    )
}

#[cfg(test)]
mod tests {
    use opfuse_ir::Attr;

    use crate::testing::{ints, kinds, Builder};

    /// softmax(q @ transpose(k) * 0.125 + mask) @ v, the mask `mask_keys` long.
    fn attention_graph(mask_keys: u64) -> crate::Optimized {
        let mut b = Builder::new();
        let (q, k, v) = (
            b.input("q", &[1, 2, 8, 4]),
            b.input("k", &[1, 2, 8, 4]),
            b.input("v", &[1, 2, 8, 4]),
        );
        let mask = b.input("mask", &[1, 1, 8, mask_keys]);
        let kt = b.op("transpose", &[("perm", ints(&[0, 1, 3, 2]))], &[k]);
        let scores = b.op("matmul", &[], &[q, kt]);
        let scale = b.constant(0.125);
        let scaled = b.op("mul", &[], &[scores, scale]);
        let masked = b.op("add", &[], &[scaled, mask]);
        let probs = b.op("softmax", &[("axis", Attr::Int(-1))], &[masked]);
        let out = b.op("matmul", &[], &[probs, v]);
        b.optimize(out)
    }

    #[test]
    fn scaled_masked_attention_is_one_kernel() {
        let optimized = attention_graph(8);
        assert_eq!(kinds(&optimized), ["attention"]);
    }

    #[test]
    fn a_mask_broadcast_over_the_keys_is_not_attention() {
        // The catalog's attention pads a short mask; `add` broadcasts it.
        let optimized = attention_graph(1);
        assert!(!kinds(&optimized).contains(&"attention".to_string()));
    }
}
