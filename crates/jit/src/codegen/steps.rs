//! A program's steps as CLIF, at any f32 lane type.
//!
//! Semantics follow the interpreter (`crates/ops/src/eval/elementwise.rs`):
//! `Max`/`Min` propagate NaN (Cranelift's `fmax`/`fmin`; between zeros,
//! `-0 < +0`); comparisons are false on NaN, and `And`, `Or` and `Select`
//! test `x != 0`, which NaN passes; `Clamp` keeps NaN and gives `high` when
//! `low > high`; `Relu` is `x < 0 ? 0 : x` (keeps -0 and NaN); `Round` is
//! half to even; `Not` is 1 for either zero; `Rsqrt` is `1 / sqrt(x)`
//! (two roundings). Transcendentals are in `math.rs`.

use std::collections::HashMap;

use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::Value;

use super::emit::Em;
use super::error::{CodegenError, Result};
use crate::program::{Binary, Step, Unary};

/// Emits `steps` (already validated) and returns the last one's value.
/// `load(em, n)` gives input access `n` at the current position; each input
/// is loaded once however many steps read it. Steps the last one does not
/// depend on are not emitted.
pub(crate) fn emit_steps(em: &mut Em<'_, '_>, steps: &[Step], load: &mut dyn FnMut(&mut Em<'_, '_>, usize) -> Value) -> Result<Value> {
    let live = liveness(steps);
    let mut values: Vec<Option<Value>> = Vec::with_capacity(steps.len());
    let mut loaded: HashMap<usize, Value> = HashMap::new();
    for (i, step) in steps.iter().enumerate() {
        if !live.get(i).copied().unwrap_or(false) {
            values.push(None);
            continue;
        }
        let get = |j: usize| {
            values
                .get(j)
                .copied()
                .flatten()
                .ok_or(CodegenError::Internal("step operand not emitted"))
        };
        let value = match *step {
            Step::Load(n) => match loaded.get(&n) {
                Some(&v) => v,
                None => {
                    let v = load(em, n);
                    loaded.insert(n, v);
                    v
                }
            },
            Step::Const(k) => em.c(f64::from(k)),
            Step::Unary(op, a) => unary(em, op, get(a)?)?,
            Step::Binary(op, a, b) => {
                let constant = match steps.get(b) {
                    Some(Step::Const(k)) if op == Binary::Pow => Some(*k),
                    _ => None,
                };
                let (a, b) = (get(a)?, get(b)?);
                match constant.and_then(|k| em.pow_const(a, k)) {
                    Some(v) => v,
                    None => binary(em, op, a, b),
                }
            }
            Step::Select(c, a, b) => {
                let (c, a, b) = (get(c)?, get(a)?, get(b)?);
                let mask = em.cmp_c(FloatCC::NotEqual, c, 0.0);
                em.sel(mask, a, b)
            }
            Step::Clamp(a, low, high) => {
                let a = get(a)?;
                em.clamp(a, f64::from(low), f64::from(high))
            }
        };
        values.push(Some(value));
    }
    values.last().copied().flatten().ok_or(CodegenError::NoSteps)
}

/// Which steps the last step depends on (itself included).
fn liveness(steps: &[Step]) -> Vec<bool> {
    let mut live = vec![false; steps.len()];
    if let Some(last) = live.last_mut() {
        *last = true;
    }
    for i in (0..steps.len()).rev() {
        if !live[i] {
            continue;
        }
        let operands: Vec<usize> = match steps[i] {
            Step::Load(_) | Step::Const(_) => Vec::new(),
            Step::Unary(_, a) | Step::Clamp(a, _, _) => vec![a],
            Step::Binary(_, a, b) => vec![a, b],
            Step::Select(c, a, b) => vec![c, a, b],
        };
        for o in operands {
            if let Some(flag) = live.get_mut(o) {
                *flag = true;
            }
        }
    }
    live
}

fn unary(em: &mut Em<'_, '_>, op: Unary, x: Value) -> Result<Value> {
    Ok(match op {
        Unary::Neg => em.neg(x),
        Unary::Abs => em.abs(x),
        Unary::Exp => em.exp(x),
        Unary::Log => em.log(x),
        Unary::Sqrt => em.sqrt(x),
        Unary::Rsqrt => {
            let root = em.sqrt(x);
            let one = em.c(1.0);
            em.div(one, root)
        }
        Unary::Reciprocal => {
            let one = em.c(1.0);
            em.div(one, x)
        }
        Unary::Tanh => em.tanh(x),
        Unary::Erf => em.erf(x),
        Unary::Sigmoid => em.sigmoid(x),
        Unary::Relu => {
            // x < 0 ? 0 : x, so NaN and -0 pass through as in the interpreter.
            let negative = em.cmp_c(FloatCC::LessThan, x, 0.0);
            em.sel_c(negative, 0.0, x)
        }
        Unary::Silu => em.silu(x),
        Unary::Gelu => em.gelu(x),
        Unary::GeluTanh => em.gelu_tanh(x),
        Unary::Floor => em.floor(x),
        Unary::Ceil => em.ceil(x),
        Unary::Round => em.nearest(x),
        Unary::Sin => em.sincos(x, false)?,
        Unary::Cos => em.sincos(x, true)?,
        Unary::Not => {
            let zero = em.cmp_c(FloatCC::Equal, x, 0.0);
            em.truth(zero)
        }
    })
}

fn binary(em: &mut Em<'_, '_>, op: Binary, a: Value, b: Value) -> Value {
    let compare = |em: &mut Em<'_, '_>, cc: FloatCC| {
        let mask = em.cmp(cc, a, b);
        em.truth(mask)
    };
    match op {
        Binary::Add => em.add(a, b),
        Binary::Sub => em.sub(a, b),
        Binary::Mul => em.mul(a, b),
        Binary::Div => em.div(a, b),
        Binary::Max => em.max(a, b),
        Binary::Min => em.min(a, b),
        Binary::Pow => em.pow(a, b),
        Binary::Equal => compare(em, FloatCC::Equal),
        Binary::NotEqual => compare(em, FloatCC::NotEqual),
        Binary::Less => compare(em, FloatCC::LessThan),
        Binary::LessOrEqual => compare(em, FloatCC::LessThanOrEqual),
        Binary::Greater => compare(em, FloatCC::GreaterThan),
        Binary::GreaterOrEqual => compare(em, FloatCC::GreaterThanOrEqual),
        Binary::And | Binary::Or => {
            let x = em.cmp_c(FloatCC::NotEqual, a, 0.0);
            let y = em.cmp_c(FloatCC::NotEqual, b, 0.0);
            let both = match op {
                Binary::And => em.and(x, y),
                _ => em.or(x, y),
            };
            em.truth(both)
        }
    }
}
