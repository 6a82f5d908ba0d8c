//! Reference semantics of the moe family.

use std::cmp::Ordering;

use opfuse_ir::Tensor;

use super::elementwise::sigmoid;
use super::{EvalArgs, EvalError, EvalFn, EvalResult};
use crate::rules::moe::{scoring, Scoring};

/// Semantics of this family, by catalog name.
pub const EVAL: &[(&str, EvalFn)] = &[
    ("moe_gate", moe_gate),
    ("moe_dispatch", moe_dispatch),
    ("moe_combine", moe_combine),
    ("swiglu", swiglu),
];

/// Scores each token's logits, picks the `k` best by score + bias (ties go
/// to the lower expert id, as `top_k`), and returns their scores, optionally
/// renormalised, times `scale`.
fn moe_gate(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let logits = args.input(0)?;
    let experts = logits.dims().get(1).copied().unwrap_or(0) as usize;
    let k = args.args.int("k")?.max(0) as usize;
    let scoring = scoring(&args.args)?;
    let normalize = args.args.bool("normalize")?;
    let scale = args.args.float("scale")?;
    let bias = args.optional_input(1).map(|b| b.data());
    let (mut weights, mut ids) = (Vec::new(), Vec::new());
    for row in logits.data().chunks(experts.max(1)) {
        let scores: Vec<f64> = match scoring {
            Scoring::Sigmoid => row.iter().map(|&x| sigmoid(x)).collect(),
            Scoring::Softmax => {
                let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let exps: Vec<f64> = row.iter().map(|x| (x - max).exp()).collect();
                let sum: f64 = exps.iter().sum();
                exps.iter().map(|e| e / sum).collect()
            }
        };
        let choice = |e: usize| scores[e] + bias.map_or(0.0, |b| b[e]);
        let mut order: Vec<usize> = (0..experts).collect();
        // Stable, so equal choices keep the lower id first; NaN sorts last.
        order.sort_by(|&a, &b| {
            choice(b)
                .partial_cmp(&choice(a))
                .unwrap_or_else(|| choice(a).is_nan().cmp(&choice(b).is_nan()))
        });
        let picked = &order[..k.min(experts)];
        let total: f64 = picked.iter().map(|&e| scores[e]).sum();
        for &e in picked {
            let weight = if normalize { scores[e] / total } else { scores[e] };
            weights.push(weight * scale);
            ids.push(e as f64);
        }
    }
    Ok(vec![args.output(0, weights)?, args.output(1, ids)?])
}

/// Copies each token once per pick, the copies sorted stably by expert.
fn moe_dispatch(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let (x, ids) = (args.input(0)?, args.input(1)?);
    let hidden = x.dims().get(1).copied().unwrap_or(0) as usize;
    let picks = ids.dims().get(1).copied().unwrap_or(0) as usize;
    if let Some(bad) = ids.data().iter().find(|&&id| id < 0.0) {
        return Err(EvalError::new(format!("expert id {bad} is negative")));
    }
    let mut order: Vec<usize> = (0..ids.len()).collect();
    order.sort_by(|&a, &b| ids.data()[a].partial_cmp(&ids.data()[b]).unwrap_or(Ordering::Equal));
    let mut rows = Vec::with_capacity(order.len() * hidden);
    let mut positions = vec![0.0; order.len()];
    for (row, &pick) in order.iter().enumerate() {
        let token = pick / picks.max(1);
        rows.extend_from_slice(&x.data()[token * hidden..(token + 1) * hidden]);
        positions[pick] = row as f64;
    }
    let experts = order.iter().map(|&pick| ids.data()[pick]).collect();
    Ok(vec![args.output(0, rows)?, args.output(1, experts)?, args.output(2, positions)?])
}

/// Sums each token's picked expert outputs, weighted.
fn moe_combine(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let (out, weights, positions) = (args.input(0)?, args.input(1)?, args.input(2)?);
    let rows = out.dims().first().copied().unwrap_or(0) as usize;
    let hidden = out.dims().get(1).copied().unwrap_or(0) as usize;
    let picks = weights.dims().get(1).copied().unwrap_or(0) as usize;
    let mut combined = vec![0.0; weights.dims().first().copied().unwrap_or(0) as usize * hidden];
    for (pick, (&weight, &position)) in weights.data().iter().zip(positions.data()).enumerate() {
        if position < 0.0 || position >= rows as f64 {
            return Err(EvalError::new(format!(
                "position {position} is out of range for {rows} expert output rows"
            )));
        }
        let row = &out.data()[position as usize * hidden..(position as usize + 1) * hidden];
        let token = pick / picks.max(1);
        for (slot, &value) in combined[token * hidden..(token + 1) * hidden].iter_mut().zip(row) {
            *slot += weight * value;
        }
    }
    Ok(vec![args.output(0, combined)?])
}

/// `a * sigmoid(alpha * a) * b`; the sigmoid and the gate are rounded to
/// the dtype first, as ONNX's reference does.
fn swiglu(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let a = args.input(0)?;
    let dtype = a.dtype();
    let alpha = args.args.float("alpha")?;
    let pairs: Vec<(f64, f64)> = match args.optional_input(1) {
        Some(b) => a.data().iter().copied().zip(b.data().iter().copied()).collect(),
        None => {
            let last = a.dims().last().copied().unwrap_or(0) as usize;
            a.data()
                .chunks(last.max(1))
                .flat_map(|row| {
                    let (gate, value) = row.split_at(last / 2);
                    gate.iter().copied().zip(value.iter().copied()).collect::<Vec<_>>()
                })
                .collect()
        }
    };
    let data = pairs
        .into_iter()
        .map(|(gate, value)| dtype.round(gate * dtype.round(sigmoid(alpha * gate))) * value)
        .collect();
    Ok(vec![args.output(0, data)?])
}

#[cfg(test)]
mod tests {
    use opfuse_ir::Attr;
    use opfuse_ir::DType::{F32, F64, I64};

    use crate::testing::{eval, eval1, tensor};

    fn sigmoid(x: f64) -> f64 {
        1.0 / (1.0 + (-x).exp())
    }

    #[test]
    fn gate_picks_top_k_and_renormalises() {
        // Softmax of [0, ln 2, ln 3, ln 4] is [0.1, 0.2, 0.3, 0.4]; top 2 are
        // experts 3 and 2, renormalised to 4/7 and 3/7.
        let logits = tensor(F64, &[1, 4], &[0.0, 2f64.ln(), 3f64.ln(), 4f64.ln()]);
        let attrs = [("k", Attr::Int(2)), ("normalize", Attr::Bool(true))];
        let out = eval("moe_gate", &attrs, std::slice::from_ref(&logits)).unwrap();
        assert_eq!(out[1].data(), &[3.0, 2.0]);
        assert!((out[0].data()[0] - 4.0 / 7.0).abs() < 1e-12 && (out[0].data()[1] - 3.0 / 7.0).abs() < 1e-12);
        // A bias steers the pick to expert 0 but leaves its weight 0.1 (times 2.5).
        let bias = tensor(F64, &[4], &[1.0, 0.0, 0.0, 0.0]);
        let biased = [("k", Attr::Int(1)), ("scale", Attr::Float(2.5))];
        let out = eval("moe_gate", &biased, &[logits, bias]).unwrap();
        assert_eq!(out[1].data(), &[0.0]);
        assert!((out[0].data()[0] - 0.25).abs() < 1e-12);
        // Sigmoid scores; the tie between experts 0 and 1 goes to 0.
        let logits = tensor(F64, &[1, 3], &[1.0, 1.0, -1.0]);
        let sigmoid_gate = [("k", Attr::Int(1)), ("scoring", Attr::Str("sigmoid".into()))];
        let out = eval("moe_gate", &sigmoid_gate, &[logits]).unwrap();
        assert_eq!((out[0].data(), out[1].data()), (&[sigmoid(1.0)][..], &[0.0][..]));
    }

    #[test]
    fn dispatch_and_combine_round_trip() {
        // Token 0 picks experts 1 and 0, token 1 picks 0 and 2.
        let x = tensor(F32, &[2, 2], &[1.0, 2.0, 3.0, 4.0]);
        let ids = tensor(I64, &[2, 2], &[1.0, 0.0, 0.0, 2.0]);
        let out = eval("moe_dispatch", &[], &[x, ids]).unwrap();
        // Sorted by expert: (t0, e0), (t1, e0), (t0, e1), (t1, e2).
        assert_eq!(out[0].data(), &[1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0, 4.0]);
        assert_eq!(out[1].data(), &[0.0, 0.0, 1.0, 2.0]);
        assert_eq!(out[2].data(), &[2.0, 0.0, 1.0, 3.0]);
        // Expert e scales by (e + 1): rows become [1, 2], [3, 4], [2, 4], [9, 12].
        let expert_out = tensor(F32, &[4, 2], &[1.0, 2.0, 3.0, 4.0, 2.0, 4.0, 9.0, 12.0]);
        let weights = tensor(F32, &[2, 2], &[0.5, 0.5, 0.25, 0.75]);
        // Token 0: 0.5 * [2, 4] + 0.5 * [1, 2]; token 1: 0.25 * [3, 4] + 0.75 * [9, 12].
        assert_eq!(
            eval1("moe_combine", &[], &[expert_out.clone(), weights.clone(), out[2].clone()]),
            vec![1.5, 3.0, 7.5, 10.0]
        );
        let bad = tensor(I64, &[4], &[0.0, 1.0, 2.0, 4.0]);
        assert_eq!(
            eval("moe_combine", &[], &[expert_out, weights, bad]).unwrap_err(),
            "position 4 is out of range for 4 expert output rows"
        );
    }

    #[test]
    fn swiglu_gates_with_silu() {
        let x = tensor(F64, &[1, 4], &[1.0, -2.0, 3.0, 5.0]);
        let expected = vec![sigmoid(1.0) * 3.0, -2.0 * sigmoid(-2.0) * 5.0];
        assert_eq!(eval1("swiglu", &[], &[x]), expected);
        let (a, b) = (tensor(F64, &[2], &[1.0, -2.0]), tensor(F64, &[2], &[3.0, 5.0]));
        assert_eq!(eval1("swiglu", &[], &[a.clone(), b.clone()]), expected);
        let half = [("alpha", Attr::Float(0.5))];
        assert_eq!(
            eval1("swiglu", &half, &[a, b]),
            vec![sigmoid(0.5) * 3.0, -2.0 * sigmoid(-1.0) * 5.0]
        );
    }
}
