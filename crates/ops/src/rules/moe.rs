//! Shape rules of the mixture-of-experts building blocks: routing, dispatch,
//! combine, and the SwiGLU activation of the experts.

use opfuse_ir::{DType, Shape, TensorType};

use super::elements;
use crate::args::{attr_error, dtype_error, integer_input, same_dtype, shape_error, Args, InferResult};
use crate::code::{op, OpCode};

/// Shape rules and FLOP formulas of this family, by catalog name.
pub const RULES: &[(&str, OpCode)] = &[
    ("moe_gate", op(moe_gate, gate_flops)),
    ("moe_dispatch", op(moe_dispatch, super::no_flops)),
    ("moe_combine", op(moe_combine, combine_flops)),
    // A sigmoid (about 4) and two multiplies per output element.
    ("swiglu", op(swiglu, swiglu_flops)),
];

/// How router logits become scores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scoring {
    Softmax,
    Sigmoid,
}

pub fn scoring(args: &Args<'_>) -> InferResult<Scoring> {
    match args.string("scoring")?.as_str() {
        "softmax" => Ok(Scoring::Softmax),
        "sigmoid" => Ok(Scoring::Sigmoid),
        other => Err(attr_error(
            "scoring",
            format!("`scoring` must be \"softmax\" or \"sigmoid\", not {other:?}"),
        )),
    }
}

/// `logits[T, E]`, optional `bias[E]` -> weights `[T, k]` and ids `[T, k]` (i64).
pub fn moe_gate(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let logits = args.input(0)?;
    if !logits.dtype.is_float() {
        return Err(dtype_error(0, format!("router logits must be floats, found {}", logits.dtype)));
    }
    let [tokens, experts] = *logits.shape.dims() else {
        return Err(shape_error(
            0,
            format!("router logits must be [tokens, experts], found {}", logits.shape),
        ));
    };
    if let Some(bias) = args.optional_input(1) {
        same_dtype(args, &[0, 1])?;
        if bias.shape.dims() != [experts] {
            return Err(shape_error(
                1,
                format!("bias must be [{experts}], one per expert, found {}", bias.shape),
            ));
        }
    }
    scoring(args)?;
    let k = args.int("k")?;
    let k = u64::try_from(k)
        .ok()
        .filter(|&k| (1..=experts).contains(&k))
        .ok_or_else(|| attr_error("k", format!("`k` must be between 1 and the {experts} experts, found {k}")))?;
    Ok(vec![
        TensorType::new(logits.dtype, vec![tokens, k]),
        TensorType::new(DType::I64, vec![tokens, k]),
    ])
}

/// Scoring (about 5 per logit), a pass per pick, and the renormalisation.
fn gate_flops(args: &Args<'_>, outputs: &[TensorType]) -> u128 {
    let k = args.int("k").unwrap_or(0).max(0) as u128;
    let logits = args.inputs.first().map(elements).unwrap_or(0);
    (5 + k)
        .saturating_mul(logits)
        .saturating_add(2 * outputs.first().map(elements).unwrap_or(0))
}

/// `x[T, H]`, `ids[T, K]` -> rows `[T * K, H]`, row experts `[T * K]` and
/// positions `[T * K]` (both i64).
pub fn moe_dispatch(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let (x, ids) = (args.input(0)?, args.input(1)?);
    integer_input(args, 1, "ids")?;
    let [tokens, hidden] = *x.shape.dims() else {
        return Err(shape_error(0, format!("tokens must be [T, H], found {}", x.shape)));
    };
    let [id_tokens, picks] = *ids.shape.dims() else {
        return Err(shape_error(1, format!("ids must be [T, K], found {}", ids.shape)));
    };
    if id_tokens != tokens {
        return Err(shape_error(
            1,
            format!("ids must have a row per token ({tokens}), found {}", ids.shape),
        ));
    }
    let rows = tokens.saturating_mul(picks);
    Ok(vec![
        TensorType::new(x.dtype, vec![rows, hidden]),
        TensorType::new(DType::I64, vec![rows]),
        TensorType::new(DType::I64, vec![rows]),
    ])
}

/// `expert_out[T * K, H]`, `weights[T, K]`, `positions[T * K]` -> `[T, H]`.
pub fn moe_combine(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let dtype = same_dtype(args, &[0, 1])?;
    let (out, weights, positions) = (args.input(0)?, args.input(1)?, args.input(2)?);
    integer_input(args, 2, "positions")?;
    let [tokens, picks] = *weights.shape.dims() else {
        return Err(shape_error(1, format!("weights must be [T, K], found {}", weights.shape)));
    };
    let rows = tokens.saturating_mul(picks);
    let [out_rows, hidden] = *out.shape.dims() else {
        return Err(shape_error(0, format!("expert outputs must be [T * K, H], found {}", out.shape)));
    };
    if out_rows != rows {
        return Err(shape_error(
            0,
            format!(
                "expert outputs need {rows} rows ({tokens} tokens x {picks} picks), found {}",
                out.shape
            ),
        ));
    }
    if positions.shape.dims() != [rows] {
        return Err(shape_error(2, format!("positions must be [{rows}], found {}", positions.shape)));
    }
    Ok(vec![TensorType::new(dtype, vec![tokens, hidden])])
}

/// A multiply-add per element of every picked row: `2 * T * K * H`.
fn combine_flops(args: &Args<'_>, _: &[TensorType]) -> u128 {
    2 * args.inputs.first().map(elements).unwrap_or(0)
}

/// `silu(a) * b` of two same-shaped inputs, or of the halves of one input's last axis.
pub fn swiglu(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let a = args.input(0)?;
    if !a.dtype.is_float() {
        return Err(dtype_error(0, format!("expects a float tensor, found {}", a.dtype)));
    }
    if let Some(b) = args.optional_input(1) {
        same_dtype(args, &[0, 1])?;
        if b.shape != a.shape {
            return Err(shape_error(
                1,
                format!(
                    "a and b must have the same shape (no broadcasting), found {} and {}",
                    a.shape, b.shape
                ),
            ));
        }
        return Ok(vec![a.clone()]);
    }
    let Some((&last, lead)) = a.shape.dims().split_last() else {
        return Err(shape_error(0, "a single input is split along its last axis, but it is a scalar"));
    };
    if last % 2 != 0 {
        return Err(shape_error(0, format!("the last axis of {} must split into two halves", a.shape)));
    }
    let mut dims = lead.to_vec();
    dims.push(last / 2);
    Ok(vec![TensorType {
        dtype: a.dtype,
        shape: Shape(dims),
    }])
}

fn swiglu_flops(_: &Args<'_>, outputs: &[TensorType]) -> u128 {
    6 * outputs.iter().map(elements).sum::<u128>()
}

#[cfg(test)]
mod tests {
    use opfuse_ir::{Attr, DType};

    use crate::testing::infer;

    use DType::{BF16, F32, I32, I64};

    #[test]
    fn routing_shapes() {
        let gate = [("k", Attr::Int(2)), ("scoring", Attr::Str("sigmoid".into()))];
        assert_eq!(
            infer("moe_gate", &gate, &[(BF16, &[5, 8]), (BF16, &[8])]).unwrap(),
            "bf16[5, 2], i64[5, 2]"
        );
        assert_eq!(
            infer("moe_dispatch", &[], &[(F32, &[5, 16]), (I64, &[5, 2])]).unwrap(),
            "f32[10, 16], i64[10], i64[10]"
        );
        assert_eq!(
            infer("moe_combine", &[], &[(F32, &[10, 16]), (F32, &[5, 2]), (I32, &[10])]).unwrap(),
            "f32[5, 16]"
        );
        assert_eq!(infer("swiglu", &[], &[(F32, &[3, 8])]).unwrap(), "f32[3, 4]");
        assert_eq!(infer("swiglu", &[], &[(F32, &[3, 8]), (F32, &[3, 8])]).unwrap(), "f32[3, 8]");
    }

    #[test]
    fn bad_routing_is_an_error() {
        let err = |op: &str, attrs: &[(&str, Attr)], inputs: &[(DType, &[u64])]| infer(op, attrs, inputs).unwrap_err();
        assert_eq!(
            err("moe_gate", &[("k", Attr::Int(9))], &[(F32, &[5, 8])]),
            "`k` must be between 1 and the 8 experts, found 9"
        );
        assert_eq!(
            err(
                "moe_gate",
                &[("k", Attr::Int(1)), ("scoring", Attr::Str("relu".into()))],
                &[(F32, &[5, 8])]
            ),
            "`scoring` must be \"softmax\" or \"sigmoid\", not \"relu\""
        );
        assert_eq!(
            err("moe_gate", &[("k", Attr::Int(1))], &[(F32, &[5, 8]), (F32, &[5])]),
            "bias must be [8], one per expert, found [5]"
        );
        assert_eq!(
            err("moe_dispatch", &[], &[(F32, &[5, 16]), (I64, &[4, 2])]),
            "ids must have a row per token (5), found [4, 2]"
        );
        assert_eq!(
            err("moe_dispatch", &[], &[(F32, &[5, 16]), (F32, &[5, 2])]),
            "ids must have an integer dtype, found f32"
        );
        assert_eq!(
            err("moe_combine", &[], &[(F32, &[8, 16]), (F32, &[5, 2]), (I64, &[10])]),
            "expert outputs need 10 rows (5 tokens x 2 picks), found [8, 16]"
        );
        assert_eq!(
            err("swiglu", &[], &[(F32, &[3, 7])]),
            "the last axis of [3, 7] must split into two halves"
        );
        assert_eq!(
            err("swiglu", &[], &[(F32, &[3, 4]), (F32, &[1, 4])]),
            "a and b must have the same shape (no broadcasting), found [3, 4] and [1, 4]"
        );
    }
}
