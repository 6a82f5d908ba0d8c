//! Folding: computations on weights moved into the weights, done once
//! offline (param-only classes are free, see `statics.rs`).

use egg::{Id, Subst};
use opfuse_ir::Attr;

use super::support::{add_any, add_op, attrs, attrs_of, flag, get, ty, RuleSpec};
use crate::analysis::TensorGraph;
use crate::language::TensorNode;

pub const RULES: &[RuleSpec] = &[
    RuleSpec {
        name: "fold-conv-batch-norm",
        description: "batch_norm(conv(x, w), scale, bias, mean, var) -> conv(x, w * f, bias - mean * f), f = scale / sqrt(var + eps), on weights",
        pattern: "(batch_norm ?bn (conv ?c ?x ?w) ?scale ?bias ?mean ?var)",
        build: |egraph, root, subst| conv_batch_norm(egraph, root, subst, false),
    },
    RuleSpec {
        name: "fold-conv-bias-batch-norm",
        description: "batch_norm(conv(x, w, b), scale, bias, mean, var) -> conv(x, w * f, (b - mean) * f + bias), f = scale / sqrt(var + eps), on weights",
        pattern: "(batch_norm ?bn (conv ?c ?x ?w ?b) ?scale ?bias ?mean ?var)",
        build: |egraph, root, subst| conv_batch_norm(egraph, root, subst, true),
    },
];

/// How deep [`is_weight`] looks through ops on params (a cast, a reshape).
const WEIGHT_DEPTH: usize = 4;

/// Inference-mode batch norm after a convolution whose weights (and bias)
/// and whose statistics are all weights of one dtype: output channel `m` of
/// the convolution is `w[m]` (whatever the groups), so scaling `w[m]` by
/// `f[m]` scales that channel, and the shift folds into the bias.
fn conv_batch_norm(egraph: &mut TensorGraph, root: Id, subst: &Subst, conv_bias: bool) -> Option<Id> {
    let norm = attrs(egraph, subst, "?bn")?;
    if flag(norm, "training_mode")? {
        return None;
    }
    let epsilon = norm.get("epsilon")?.as_float()?;
    let conv_attrs = attrs(egraph, subst, "?c")?.clone();
    let (x, w) = (get(subst, "?x")?, get(subst, "?w")?);
    let (scale, shift) = (get(subst, "?scale")?, get(subst, "?bias")?);
    let (mean, var) = (get(subst, "?mean")?, get(subst, "?var")?);
    let bias = match conv_bias {
        true => Some(get(subst, "?b")?),
        false => None,
    };
    let w_ty = ty(egraph, w)?.clone();
    let weights = [w, scale, shift, mean, var].into_iter().chain(bias);
    for id in weights {
        if ty(egraph, id)?.dtype != w_ty.dtype || !is_weight(egraph, id, WEIGHT_DEPTH) {
            return None;
        }
    }
    let epsilon = op(
        egraph,
        "constant",
        &[("value", Attr::Float(epsilon)), ("dtype", Attr::Str(w_ty.dtype.name().into()))],
        &[],
    )?;
    let shifted_var = op(egraph, "add", &[], &[var, epsilon])?;
    let deviation = op(egraph, "sqrt", &[], &[shifted_var])?;
    let factor = op(egraph, "div", &[], &[scale, deviation])?;
    let mut column = vec![Attr::Int(*w_ty.shape.dims().first()? as i64)];
    column.resize(w_ty.rank(), Attr::Int(1));
    let column = op(egraph, "reshape", &[("shape", Attr::List(column))], &[factor])?;
    let folded_w = op(egraph, "mul", &[], &[w, column])?;
    let centered = match bias {
        Some(bias) => op(egraph, "sub", &[], &[bias, mean])?,
        None => op(egraph, "neg", &[], &[mean])?,
    };
    let scaled = op(egraph, "mul", &[], &[centered, factor])?;
    let folded_bias = op(egraph, "add", &[], &[scaled, shift])?;
    add_op(egraph, root, "conv", conv_attrs, &[x, folded_w, folded_bias])
}

/// Whether the class `id` is a param, or an op on weights within `depth`
/// ops of params and constants.
fn is_weight(egraph: &TensorGraph, id: Id, depth: usize) -> bool {
    egraph[id].nodes.iter().any(|node| match node {
        TensorNode::Leaf(name) => egraph.analysis.is_param(*name),
        TensorNode::Op(_, children) if depth > 0 => children
            .get(1..)
            .unwrap_or_default()
            .iter()
            .all(|&child| is_weight(egraph, child, depth - 1)),
        _ => false,
    })
}

fn op(egraph: &mut TensorGraph, name: &str, pairs: &[(&str, Attr)], inputs: &[Id]) -> Option<Id> {
    add_any(egraph, name, attrs_of(pairs), inputs)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use opfuse_ir::{Attr, DType, Tensor, ValueId};
    use opfuse_ops::Chip;

    use crate::rules::decompose::tests::{optimize_on, random, tensor, Optimized};
    use crate::testing::{ints, Builder};

    const CHANNELS: u64 = 6;

    /// `batch_norm(conv(x, w[, b]), ...)` over `x[2, 4, 5, 5]` with 6 output
    /// channels in `groups`, the statistics params unless `stats_inputs`.
    fn conv_bn(bias: bool, groups: i64, stats_inputs: bool) -> (Optimized, Vec<Tensor>, BTreeMap<String, Tensor>) {
        let mut b = Builder::new();
        let x = b.input("x", &[2, 4, 5, 5]);
        let w = b.param("w", &[CHANNELS, 4 / groups as u64, 3, 3]);
        let mut operands = vec![x, w];
        if bias {
            operands.push(b.param("b", &[CHANNELS]));
        }
        let conv_attrs = [("pads", ints(&[1, 1, 1, 1])), ("groups", Attr::Int(groups))];
        let y = b.op("conv", &conv_attrs, &operands);
        let stats: Vec<ValueId> = ["scale", "shift", "mean", "var"]
            .into_iter()
            .map(|name| match stats_inputs {
                true => b.input(name, &[CHANNELS]),
                false => b.param(name, &[CHANNELS]),
            })
            .collect();
        let z = b.op("batch_norm", &[("epsilon", Attr::Float(1e-3))], &[&[y], &stats[..]].concat());
        let run = optimize_on(b, &[z], Chip::Ascend910B);
        // A positive variance; everything else uniform in [-1, 1).
        let mut values = BTreeMap::from([
            ("w".to_string(), random(DType::F32, &[CHANNELS, 4 / groups as u64, 3, 3], 1.0, 1)),
            ("b".to_string(), random(DType::F32, &[CHANNELS], 1.0, 2)),
            ("scale".to_string(), random(DType::F32, &[CHANNELS], 1.0, 3)),
            ("shift".to_string(), random(DType::F32, &[CHANNELS], 1.0, 4)),
            ("mean".to_string(), random(DType::F32, &[CHANNELS], 1.0, 5)),
        ]);
        let var = random(DType::F32, &[CHANNELS], 1.0, 6)
            .into_data()
            .iter()
            .map(|v| v.abs() + 0.1)
            .collect();
        values.insert("var".to_string(), tensor(DType::F32, &[CHANNELS], var));
        let mut inputs = vec![random(DType::F32, &[2, 4, 5, 5], 1.0, 7)];
        if stats_inputs {
            inputs.extend(["scale", "shift", "mean", "var"].map(|name| values[name].clone()));
        }
        (run, inputs, values)
    }

    #[test]
    fn batch_norm_on_weights_folds_into_the_convolution() {
        for (bias, groups) in [(false, 1), (true, 1), (true, 2)] {
            let (run, inputs, params) = conv_bn(bias, groups, false);
            assert!(
                !run.runs("batch_norm"),
                "bias {bias}, groups {groups}:\n{}",
                opfuse_ir::print(&run.optimized)
            );
            run.assert_same(&inputs, &params, 1e-5);
        }
    }

    #[test]
    fn batch_norm_on_runtime_statistics_stays() {
        let (run, inputs, params) = conv_bn(true, 1, true);
        assert!(run.runs("batch_norm"));
        run.assert_same(&inputs, &params, 0.0);
    }
}
