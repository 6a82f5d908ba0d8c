//! Catalog elementwise ops as program steps. An op missing here runs
//! through the interpreter instead.

use opfuse_ir::{Attr, Attrs, DType};

use crate::program::{Binary, Step, Unary};

/// The catalog's elementwise ops with one operand and a direct unary step.
const UNARY: &[(&str, Unary)] = &[
    ("neg", Unary::Neg),
    ("abs", Unary::Abs),
    ("exp", Unary::Exp),
    ("log", Unary::Log),
    ("sqrt", Unary::Sqrt),
    ("rsqrt", Unary::Rsqrt),
    ("reciprocal", Unary::Reciprocal),
    ("tanh", Unary::Tanh),
    ("erf", Unary::Erf),
    ("sigmoid", Unary::Sigmoid),
    ("relu", Unary::Relu),
    ("silu", Unary::Silu),
    ("floor", Unary::Floor),
    ("ceil", Unary::Ceil),
    ("round", Unary::Round),
    ("sin", Unary::Sin),
    ("cos", Unary::Cos),
    ("not", Unary::Not),
];

const BINARY: &[(&str, Binary)] = &[
    ("add", Binary::Add),
    ("sub", Binary::Sub),
    ("mul", Binary::Mul),
    ("div", Binary::Div),
    ("max", Binary::Max),
    ("min", Binary::Min),
    ("pow", Binary::Pow),
    ("equal", Binary::Equal),
    ("less", Binary::Less),
    ("less_equal", Binary::LessOrEqual),
    ("greater", Binary::Greater),
    ("greater_equal", Binary::GreaterOrEqual),
    ("and", Binary::And),
    ("or", Binary::Or),
];

/// Whether the JIT computes values of `dtype`: floats in f32 (f64 stays
/// with the interpreter, whose precision the JIT would not match) and
/// booleans as 0.0/1.0. Integer arithmetic stays with the interpreter.
pub fn computes(dtype: DType) -> bool {
    matches!(dtype, DType::F32 | DType::F16 | DType::BF16 | DType::Bool)
}

/// Whether `op` is an elementwise op this module lowers.
pub fn lowers(op: &str) -> bool {
    UNARY.iter().any(|(name, _)| *name == op)
        || BINARY.iter().any(|(name, _)| *name == op)
        || matches!(
            op,
            "gelu" | "where" | "clip" | "identity" | "cast" | "constant" | "leaky_relu" | "softplus"
        )
}

/// Appends the steps of `op` on `operands` (step indices); returns the step
/// holding its result, or `None` when the op (or these attributes) is not
/// lowered.
pub fn emit(op: &str, attrs: &Attrs, operands: &[usize], steps: &mut Vec<Step>) -> Option<usize> {
    let mut push = |step: Step| {
        steps.push(step);
        steps.len() - 1
    };
    if let Some((_, unary)) = UNARY.iter().find(|(name, _)| *name == op) {
        let [x] = operands else { return None };
        return Some(push(Step::Unary(*unary, *x)));
    }
    if let Some((_, binary)) = BINARY.iter().find(|(name, _)| *name == op) {
        let [a, b] = operands else { return None };
        return Some(push(Step::Binary(*binary, *a, *b)));
    }
    match (op, operands) {
        ("gelu", [x]) => {
            let unary = match attrs.get("approximate").and_then(Attr::as_str) {
                Some("tanh") => Unary::GeluTanh,
                _ => Unary::Gelu,
            };
            Some(push(Step::Unary(unary, *x)))
        }
        ("where", [condition, then, otherwise]) => Some(push(Step::Select(*condition, *then, *otherwise))),
        ("clip", [x]) => {
            let bound = |key: &str, default: f64| attrs.get(key).and_then(Attr::as_float).unwrap_or(default) as f32;
            Some(push(Step::Clamp(*x, bound("min", f64::NEG_INFINITY), bound("max", f64::INFINITY))))
        }
        ("identity", [x]) => Some(*x),
        ("cast", [x]) => {
            let to: DType = attrs.get("to").and_then(Attr::as_str)?.parse().ok()?;
            computes(to).then_some(*x)
        }
        ("constant", []) => {
            let value = attrs.get("value").and_then(Attr::as_float)?;
            Some(push(Step::Const(value as f32)))
        }
        ("leaky_relu", [x]) => {
            let alpha = attrs.get("alpha").and_then(Attr::as_float).unwrap_or(0.01) as f32;
            let zero = push(Step::Const(0.0));
            let positive = push(Step::Binary(Binary::Greater, *x, zero));
            let slope = push(Step::Const(alpha));
            let scaled = push(Step::Binary(Binary::Mul, *x, slope));
            Some(push(Step::Select(positive, *x, scaled)))
        }
        ("softplus", [x]) => {
            let e = push(Step::Unary(Unary::Exp, *x));
            let one = push(Step::Const(1.0));
            let sum = push(Step::Binary(Binary::Add, e, one));
            Some(push(Step::Unary(Unary::Log, sum)))
        }
        _ => None,
    }
}
