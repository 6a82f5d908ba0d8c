//! Row kernels: the prologue's values along each row, then a reduction
//! (`Sum`, `Mean`, `Max`, `Min`, `Prod`, `L2`, `LogSum`, `LogSumExp`: one
//! value per row) or a normalization (`Softmax`, `LogSoftmax`,
//! `LayerNorm`, `RmsNorm`: one value per element).
//!
//! Rows are walked like an elementwise kernel's outer dimensions (one
//! multi-index split per call, pointers stepped by constants). Within a
//! row, a pass runs four independent f32x4 accumulators over 16 elements
//! per iteration, then single vectors, then up to three scalars, when
//! its loads allow vectors (inner stride 0 or 1); otherwise one scalar
//! loop. Normalizations write the prologue's values into the output row
//! in their first pass (accumulating the max, the sum or the sum of
//! squares), then re-read the row from there:
//!
//! - `Softmax`: max; then `e = exp(v - max)` stored and summed; then
//!   `e * (1 / sum)`.
//! - `LayerNorm`: sum; then `sum(d)` and `sum(d^2)` for `d = v - mean`
//!   (two-pass variance, the mean's rounding `c = sum(d) / n` corrected:
//!   `var = (sum(d^2) - c sum(d)) / n`); then `(v - mean - c) * (1 /
//!   sqrt(var + eps))`, exactly 0 for a constant row.
//! - `RmsNorm`: sum of squares; then `v * (1 / sqrt(mean + eps))`.
//! - `LogSoftmax`: max; then the sum of `exp(v - max)`; then
//!   `v - max - log(sum)`.
//!
//! The last pass multiplies by `scale` and adds `bias` where given (for
//! any normalization, `Softmax` included).

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{types, InstBuilder, Type, Value};
use cranelift_frontend::{FunctionBuilder, Variable};

use super::elementwise::{buffer_base, inner_vectorizable, loop_exit, prologue, RowInputs};
use super::emit::{Em, Env, Outer};
use super::error::{CodegenError, Result};
use super::layout::RowNest;
use super::steps::emit_steps;
use crate::program::{RowOp, Rows};

/// Whether the prologue's pass runs on vectors.
pub(crate) fn vectorized(nest: &RowNest, program: &Rows) -> bool {
    let inputs = program.prologue.inputs.len();
    nest.row_len >= 4 && inner_vectorizable(nest.walks.get(..inputs).unwrap_or(&[]))
}

#[derive(Clone, Copy)]
enum Reduce {
    Sum,
    Prod,
    Max,
    Min,
}

impl Reduce {
    fn identity(self) -> f64 {
        match self {
            Reduce::Sum => 0.0,
            Reduce::Prod => 1.0,
            Reduce::Max => f64::NEG_INFINITY,
            Reduce::Min => f64::INFINITY,
        }
    }

    /// Max and min compare and select (one `maxps`/`minps`), which drops
    /// NaN; the NaNs are summed on the side (`x` where `x` is NaN, else 0)
    /// and subtracted from the result at the end.
    fn tracks_nan(self) -> bool {
        matches!(self, Reduce::Max | Reduce::Min)
    }

    fn combine(self, em: &mut Em<'_, '_>, acc: Value, v: Value) -> Value {
        match self {
            Reduce::Sum => em.add(acc, v),
            Reduce::Prod => em.mul(acc, v),
            Reduce::Max => {
                let keep = em.cmp(FloatCC::LessThan, v, acc);
                em.sel(keep, acc, v)
            }
            Reduce::Min => {
                let keep = em.cmp(FloatCC::LessThan, acc, v);
                em.sel(keep, acc, v)
            }
        }
    }
}

/// A reduction's running value and, for max and min, the sum of the NaNs
/// seen (0 or NaN).
#[derive(Clone, Copy)]
struct Acc {
    value: Variable,
    nan: Option<Variable>,
}

type Body<'b> = dyn FnMut(&mut Em<'_, '_>, Value) -> Result<Vec<Value>> + 'b;

fn new_acc(fb: &mut FunctionBuilder<'_>, ty: Type, value: Value, nan: Option<Value>) -> Acc {
    let var = fb.declare_var(ty);
    fb.def_var(var, value);
    let nan = nan.map(|n| {
        let var = fb.declare_var(ty);
        fb.def_var(var, n);
        var
    });
    Acc { value: var, nan }
}

/// One pass over a row of `len` elements: `body(em, j)` emits element `j`
/// (at the emitter's lane type) and returns one value per reduction in
/// `reduces` to accumulate. Returns the reductions (f32 scalars).
///
/// The results are computed from the loops' values without constants:
/// Cranelift places a pure instruction with a rematerialized argument (a
/// scalar constant) where it is used, so a statistic like `c / max` used in
/// a later pass would be recomputed in that pass's loop. Statistics derived
/// from the results are therefore computed in f32x4 with vector constants
/// (see `Stat`), which Cranelift hoists.
fn pass(fb: &mut FunctionBuilder<'_>, env: &Env, len: u64, vector: bool, reduces: &[Reduce], body: &mut Body<'_>) -> Result<Vec<Value>> {
    let mut scalars: Vec<(Value, Option<Value>)> = reduces
        .iter()
        .map(|r| {
            let init = fb.ins().f32const(r.identity() as f32);
            let nan = r.tracks_nan().then(|| fb.ins().f32const(0.0));
            (init, nan)
        })
        .collect();
    let mut tail_from = 0;
    if vector && len >= 4 {
        // Four accumulators per reduction.
        let mut accs: Vec<[Acc; 4]> = Vec::with_capacity(reduces.len());
        for reduce in reduces {
            let mut em = Em::new(fb, types::F32X4, env);
            let init = em.c(reduce.identity());
            let zero = em.c(0.0);
            accs.push([(); 4].map(|_| new_acc(fb, types::F32X4, init, reduce.tracks_nan().then_some(zero))));
        }
        let blocks = len / 16 * 16;
        if blocks > 0 {
            let j_var = fb.declare_var(types::I64);
            let zero = fb.ins().iconst(types::I64, 0);
            fb.def_var(j_var, zero);
            let head = fb.create_block();
            let step = fb.create_block();
            let next = fb.create_block();
            fb.ins().jump(head, &[]);
            fb.switch_to_block(head);
            let j = fb.use_var(j_var);
            let past = fb.ins().icmp_imm_s(IntCC::UnsignedGreaterThanOrEqual, j, blocks as i64);
            loop_exit(fb, past, next, step);
            fb.switch_to_block(step);
            for u in 0..4 {
                let ju = fb.ins().iadd_imm_s(j, 4 * u as i64);
                let column: Vec<Acc> = accs.iter().map(|a| a[u]).collect();
                accumulate(fb, env, types::F32X4, reduces, &column, ju, body)?;
            }
            let j16 = fb.ins().iadd_imm_s(j, 16);
            fb.def_var(j_var, j16);
            fb.ins().jump(head, &[]);
            fb.switch_to_block(next);
        }
        let groups = (len - blocks) / 4;
        let first: Vec<Acc> = accs.iter().map(|a| a[0]).collect();
        for g in 0..groups {
            let j = fb.ins().iconst(types::I64, (blocks + 4 * g) as i64);
            accumulate(fb, env, types::F32X4, reduces, &first, j, body)?;
        }
        tail_from = blocks + 4 * groups;
        for ((reduce, acc), scalar) in reduces.iter().zip(&accs).zip(&mut scalars) {
            let mut em = Em::new(fb, types::F32X4, env);
            let values: Vec<Value> = acc.iter().map(|a| em.fb.use_var(a.value)).collect();
            let value = horizontal(&mut em, env, *reduce, &values);
            let nan = match acc.iter().map(|a| a.nan).collect::<Option<Vec<Variable>>>() {
                Some(nans) => {
                    let values: Vec<Value> = nans.iter().map(|&n| em.fb.use_var(n)).collect();
                    Some(horizontal(&mut em, env, Reduce::Sum, &values))
                }
                None => None,
            };
            *scalar = (value, nan);
        }
    }
    let rest = len - tail_from;
    let accs: Vec<Acc> = scalars.iter().map(|&(s, nan)| new_acc(fb, types::F32, s, nan)).collect();
    if vector || rest <= 3 {
        for t in 0..rest {
            let j = fb.ins().iconst(types::I64, (tail_from + t) as i64);
            accumulate(fb, env, types::F32, reduces, &accs, j, body)?;
        }
    } else {
        let j_var = fb.declare_var(types::I64);
        let from = fb.ins().iconst(types::I64, tail_from as i64);
        fb.def_var(j_var, from);
        let head = fb.create_block();
        let step = fb.create_block();
        let done = fb.create_block();
        fb.ins().jump(head, &[]);
        fb.switch_to_block(head);
        let j = fb.use_var(j_var);
        let past = fb.ins().icmp_imm_s(IntCC::UnsignedGreaterThanOrEqual, j, len as i64);
        loop_exit(fb, past, done, step);
        fb.switch_to_block(step);
        accumulate(fb, env, types::F32, reduces, &accs, j, body)?;
        let next = fb.ins().iadd_imm_s(j, 1);
        fb.def_var(j_var, next);
        fb.ins().jump(head, &[]);
        fb.switch_to_block(done);
    }
    Ok(accs
        .iter()
        .map(|acc| {
            let value = fb.use_var(acc.value);
            match acc.nan {
                // value - 0 keeps -0; value - NaN is NaN.
                Some(nan) => {
                    let nan = fb.use_var(nan);
                    fb.ins().fsub(value, nan)
                }
                None => value,
            }
        })
        .collect())
}

/// Four f32x4 accumulators to one f32.
fn horizontal(em: &mut Em<'_, '_>, env: &Env, reduce: Reduce, values: &[Value]) -> Value {
    let left = reduce.combine(em, values[0], values[1]);
    let right = reduce.combine(em, values[2], values[3]);
    let all = reduce.combine(em, left, right);
    let lanes: Vec<Value> = (0..4u8).map(|l| em.fb.ins().extractlane(all, l)).collect();
    let mut em = Em::new(em.fb, types::F32, env);
    let left = reduce.combine(&mut em, lanes[0], lanes[1]);
    let right = reduce.combine(&mut em, lanes[2], lanes[3]);
    reduce.combine(&mut em, left, right)
}

fn accumulate(
    fb: &mut FunctionBuilder<'_>,
    env: &Env,
    ty: Type,
    reduces: &[Reduce],
    accs: &[Acc],
    j: Value,
    body: &mut Body<'_>,
) -> Result<()> {
    let mut em = Em::new(fb, ty, env);
    let values = body(&mut em, j)?;
    if values.len() != reduces.len() {
        return Err(CodegenError::Internal("row pass body gave the wrong number of values"));
    }
    for ((reduce, acc), v) in reduces.iter().zip(accs).zip(values) {
        let a = em.fb.use_var(acc.value);
        let a = reduce.combine(&mut em, a, v);
        em.fb.def_var(acc.value, a);
        if let Some(nan) = acc.nan {
            let is_nan = em.cmp(FloatCC::Unordered, v, v);
            let zero = em.c(0.0);
            let only_nan = em.sel(is_nan, v, zero);
            let sum = em.fb.use_var(nan);
            let sum = em.add(sum, only_nan);
            em.fb.def_var(nan, sum);
        }
    }
    Ok(())
}

/// A per-row statistic, splatted to f32x4 (computed with vector constants
/// so that Cranelift hoists it out of the next pass's loop).
#[derive(Clone, Copy)]
struct Stat(Value);

impl Stat {
    /// The statistic at the emitter's lane type.
    fn at(self, em: &mut Em<'_, '_>) -> Value {
        match em.vector() {
            true => self.0,
            false => em.fb.ins().extractlane(self.0, 0),
        }
    }
}

/// The output row's element `j` (vector or scalar by the emitter).
fn out_address(em: &mut Em<'_, '_>, out: Value, j: Value) -> Value {
    let offset = em.fb.ins().ishl_imm_u(j, 2);
    em.fb.ins().iadd(out, offset)
}

pub(crate) fn build(fb: &mut FunctionBuilder<'_>, env: &Env, nest: &RowNest, program: &Rows, output: usize) -> Result<()> {
    let (buffers, start, end, exit) = prologue(fb, nest.rows)?;
    if nest.rows == 0 {
        fb.ins().jump(exit, &[]);
    } else {
        let mut bases = Vec::with_capacity(nest.walks.len());
        for walk in &nest.walks {
            bases.push(buffer_base(fb, buffers, walk.buffer, walk.offset)?);
        }
        let out_base = buffer_base(fb, buffers, output, 0)?;
        let depth = nest.outer.len();
        let outer_strides: Vec<&[i64]> = nest.walks.iter().map(|w| w.strides.get(..depth).unwrap_or(&[])).collect();
        let inner_bytes: Vec<i64> = nest
            .walks
            .iter()
            .map(|w| w.strides.last().copied().unwrap_or(0).wrapping_mul(4))
            .collect();
        let walk = Outer::new(fb, &nest.outer, &outer_strides);
        walk.init(fb, &bases, start);
        let out_step: i64 = match program.op.reduces() {
            true => 4,
            false => (nest.row_len as i64).wrapping_mul(4),
        };
        let out_var = fb.declare_var(types::I64);
        let remaining_var = fb.declare_var(types::I64);
        let first = fb.ins().imul_imm_s(start, out_step);
        let out = fb.ins().iadd(out_base, first);
        fb.def_var(out_var, out);
        let remaining = fb.ins().isub(end, start);
        fb.def_var(remaining_var, remaining);

        let header = fb.create_block();
        fb.ins().jump(header, &[]);
        fb.switch_to_block(header);
        let ptrs: Vec<Value> = (0..nest.walks.len()).map(|k| walk.ptr(fb, k)).collect();
        let out = fb.use_var(out_var);
        one_row(fb, env, nest, program, ptrs, inner_bytes, out)?;
        let remaining = fb.use_var(remaining_var);
        let remaining = fb.ins().iadd_imm_s(remaining, -1);
        fb.def_var(remaining_var, remaining);
        let carry = fb.create_block();
        fb.ins().brif(remaining, carry, &[], exit, &[]);

        fb.switch_to_block(carry);
        let out = fb.use_var(out_var);
        let out = fb.ins().iadd_imm_s(out, out_step);
        fb.def_var(out_var, out);
        walk.advance(fb);
        fb.ins().jump(header, &[]);
    }
    fb.switch_to_block(exit);
    fb.ins().return_(&[]);
    Ok(())
}

fn one_row(
    fb: &mut FunctionBuilder<'_>,
    env: &Env,
    nest: &RowNest,
    program: &Rows,
    ptrs: Vec<Value>,
    inner_bytes: Vec<i64>,
    out: Value,
) -> Result<()> {
    let len = nest.row_len;
    let steps = &program.prologue.steps;
    let pro_vector = vectorized(nest, program);
    let fin_walks: Vec<usize> = [nest.scale, nest.bias].into_iter().flatten().collect();
    let fin_vector = fin_walks.iter().all(|&k| matches!(inner_bytes.get(k), Some(0) | Some(4)));
    if program.op.reduces() {
        return reduce_row(fb, env, len, pro_vector, program, ptrs, inner_bytes, out);
    }
    if len == 0 {
        return Ok(());
    }
    let inputs = RowInputs::new(fb, ptrs, inner_bytes);
    // First pass: prologue values into the output row, and max, sum or
    // sum of squares.
    let first = match program.op {
        RowOp::Softmax | RowOp::LogSoftmax => Reduce::Max,
        _ => Reduce::Sum,
    };
    let squares = matches!(program.op, RowOp::RmsNorm { .. });
    let stat = pass(fb, env, len, pro_vector, &[first], &mut |em, j| {
        let v = emit_steps(em, steps, &mut |em, k| inputs.load(em, k, j, 0))?;
        let address = out_address(em, out, j);
        em.store(v, address, 0);
        Ok(vec![match squares {
            true => em.mul(v, v),
            false => v,
        }])
    })?;
    let stat = one(&stat)?;
    let n = len as f64;
    // Then y = ((v - shift) - correction) * factor.
    let (shift, correction, factor) = match program.op {
        RowOp::Softmax | RowOp::LogSoftmax => {
            let max = Stat(fb.ins().splat(types::F32X4, stat));
            // Softmax keeps each exp(v - max) in the row for the last pass.
            let keep = matches!(program.op, RowOp::Softmax);
            let sum = pass(fb, env, len, true, &[Reduce::Sum], &mut |em, j| {
                let address = out_address(em, out, j);
                let v = em.load(address, 0);
                let m = max.at(em);
                let d = em.sub(v, m);
                let e = em.exp(d);
                if keep {
                    em.store(e, address, 0);
                }
                Ok(vec![e])
            })?;
            let mut em = Em::new(fb, types::F32X4, env);
            let sum = em.splat(one(&sum)?);
            match keep {
                true => {
                    let one_v = em.c(1.0);
                    (None, None, Stat(em.div(one_v, sum)))
                }
                false => {
                    let log_sum = em.log(sum);
                    (Some(max), Some(Stat(log_sum)), Stat(em.c(1.0)))
                }
            }
        }
        RowOp::LayerNorm { epsilon } => {
            let mut em = Em::new(fb, types::F32X4, env);
            let total = em.splat(stat);
            let count = em.c(n);
            let mean = Stat(em.div(total, count));
            // Two-pass variance with the mean's rounding corrected:
            // c = sum(d) / n, var = (sum(d^2) - c sum(d)) / n for d = v - mean.
            let sums = pass(fb, env, len, true, &[Reduce::Sum, Reduce::Sum], &mut |em, j| {
                let address = out_address(em, out, j);
                let v = em.load(address, 0);
                let m = mean.at(em);
                let d = em.sub(v, m);
                let d2 = em.mul(d, d);
                Ok(vec![d, d2])
            })?;
            let [sum_d, sum_d2] = sums[..] else {
                return Err(CodegenError::Internal("layer norm pass lost a sum"));
            };
            let mut em = Em::new(fb, types::F32X4, env);
            let (sum_d, sum_d2) = (em.splat(sum_d), em.splat(sum_d2));
            let count = em.c(n);
            let c = em.div(sum_d, count);
            let cd = em.mul(c, sum_d);
            let squares = em.sub(sum_d2, cd);
            let var = em.div(squares, count);
            let factor = inverse_root(&mut em, var, epsilon);
            (Some(mean), Some(Stat(c)), Stat(factor))
        }
        RowOp::RmsNorm { epsilon } => {
            let mut em = Em::new(fb, types::F32X4, env);
            let total = em.splat(stat);
            let count = em.c(n);
            let mean = em.div(total, count);
            (None, None, Stat(inverse_root(&mut em, mean, epsilon)))
        }
        _ => return Err(CodegenError::Internal("reduction reached the normalization path")),
    };
    pass(fb, env, len, fin_vector, &[], &mut |em, j| {
        let address = out_address(em, out, j);
        let mut v = em.load(address, 0);
        for s in [shift, correction].into_iter().flatten() {
            let s = s.at(em);
            v = em.sub(v, s);
        }
        let f = factor.at(em);
        let mut y = em.mul(v, f);
        if let Some(k) = nest.scale {
            let s = inputs.load(em, k, j, 0);
            y = em.mul(y, s);
        }
        if let Some(k) = nest.bias {
            let b = inputs.load(em, k, j, 0);
            y = em.add(y, b);
        }
        em.store(y, address, 0);
        Ok(Vec::new())
    })?;
    Ok(())
}

/// A reduction's row: one pass accumulating the prologue's values (two for
/// `LogSumExp`: the maximum, then the shifted sum of exponentials), then
/// the op's final step on the total, stored as the row's one value.
#[allow(clippy::too_many_arguments)]
fn reduce_row(
    fb: &mut FunctionBuilder<'_>,
    env: &Env,
    len: u64,
    vector: bool,
    program: &Rows,
    ptrs: Vec<Value>,
    inner_bytes: Vec<i64>,
    out: Value,
) -> Result<()> {
    let steps = &program.prologue.steps;
    let kind = match program.op {
        RowOp::Prod => Reduce::Prod,
        RowOp::Max | RowOp::LogSumExp => Reduce::Max,
        RowOp::Min => Reduce::Min,
        _ => Reduce::Sum,
    };
    let squares = matches!(program.op, RowOp::L2);
    let inputs = (len > 0).then(|| RowInputs::new(fb, ptrs, inner_bytes));
    let totals = pass(fb, env, len, vector, &[kind], &mut |em, j| {
        let inputs = inputs.as_ref().ok_or(CodegenError::Internal("empty row has no element"))?;
        let v = emit_steps(em, steps, &mut |em, k| inputs.load(em, k, j, 0))?;
        Ok(vec![if squares { em.mul(v, v) } else { v }])
    })?;
    let total = one(&totals)?;
    let mut em = Em::new(fb, types::F32, env);
    let result = match program.op {
        RowOp::Mean => {
            let count = em.c(len as f64);
            em.div(total, count)
        }
        RowOp::L2 => em.sqrt(total),
        RowOp::LogSum => em.log(total),
        RowOp::LogSumExp => {
            let max = total;
            let sums = pass(em.fb, env, len, vector, &[Reduce::Sum], &mut |em, j| {
                let inputs = inputs.as_ref().ok_or(CodegenError::Internal("empty row has no element"))?;
                let v = emit_steps(em, steps, &mut |em, k| inputs.load(em, k, j, 0))?;
                let m = match em.vector() {
                    true => em.splat(max),
                    false => max,
                };
                let d = em.sub(v, m);
                Ok(vec![em.exp(d)])
            })?;
            let mut em = Em::new(fb, types::F32, env);
            let log = em.log(one(&sums)?);
            let shifted = em.add(max, log);
            // max - max is 0 only where max is finite.
            let finite = em.sub(max, max);
            let is_finite = em.cmp(FloatCC::Equal, finite, finite);
            em.sel(is_finite, shifted, max)
        }
        _ => total,
    };
    fb.ins().store(super::emit::mem(), result, out, 0);
    Ok(())
}

fn one(values: &[Value]) -> Result<Value> {
    values.first().copied().ok_or(CodegenError::Internal("row pass lost its reduction"))
}

/// `1 / sqrt(x + epsilon)` (f32x4).
fn inverse_root(em: &mut Em<'_, '_>, x: Value, epsilon: f32) -> Value {
    let shifted = em.add_c(x, f64::from(epsilon));
    let root = em.sqrt(shifted);
    let one = em.c(1.0);
    em.div(one, root)
}
