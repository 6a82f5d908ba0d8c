//! Elementwise kernels: `out[linear] = steps(inputs at index)` for the
//! linear indices `start..end`.
//!
//! The start index is split into a multi-index once (one division per
//! dimension per call); then each inner row `lo..hi` runs with pointers
//! per input that only ever step by constants, carrying into outer
//! dimensions at the row's end. When every input walks the inner dimension
//! contiguously or not at all (stride 1 or 0, the latter loaded once per
//! row and splatted), the row runs on f32x4: a loop of four independent
//! vectors (16 elements; two for programs of more than 32 steps), a loop
//! of single vectors, then a scalar tail; otherwise it is one scalar loop
//! with strided loads.
//!
//! Every loop branches to its exit on the taken side of `brif` (see
//! [`loop_exit`]).

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{types, InstBuilder, Value};
use cranelift_frontend::FunctionBuilder;

use super::emit::{mem, Em, Env, Outer};
use super::error::{CodegenError, Result};
use super::layout::{ElementwiseNest, Walk};
use super::steps::emit_steps;
use crate::program::Step;

/// Whether the kernel's inner loop runs on vectors.
pub(crate) fn vectorized(nest: &ElementwiseNest) -> bool {
    inner_vectorizable(&nest.walks) && nest.sizes.last().is_some_and(|&n| n >= 4)
}

/// Whether every walk's innermost stride is 0 or 1.
pub(crate) fn inner_vectorizable(walks: &[Walk]) -> bool {
    walks.iter().all(|w| matches!(w.strides.last(), None | Some(0) | Some(1)))
}

/// `buffers[buffer] + offset` elements.
pub(crate) fn buffer_base(fb: &mut FunctionBuilder<'_>, buffers: Value, buffer: usize, offset: i64) -> Result<Value> {
    let slot = i64::try_from(buffer)
        .ok()
        .and_then(|b| b.checked_mul(8))
        .ok_or_else(|| CodegenError::TooLarge(format!("buffer index {buffer}")))?;
    let slot = fb.ins().iadd_imm_s(buffers, slot);
    let base = fb.ins().load(types::I64, mem(), slot, 0);
    Ok(match offset {
        0 => base,
        _ => fb.ins().iadd_imm_s(base, offset.wrapping_mul(4)),
    })
}

/// The function's entry: returns `(buffers, start, end)` with `end`
/// clamped to `units`, and the block that returns. The builder is left in
/// a block reached only when `start < end`.
pub(crate) fn prologue(fb: &mut FunctionBuilder<'_>, units: u64) -> Result<(Value, Value, Value, cranelift_codegen::ir::Block)> {
    let entry = fb.create_block();
    fb.append_block_params_for_function_params(entry);
    fb.switch_to_block(entry);
    let params = fb.block_params(entry).to_vec();
    let [buffers, start, end] = params[..] else {
        return Err(CodegenError::Internal("kernel signature has three parameters"));
    };
    let exit = fb.create_block();
    let units = fb.ins().iconst(types::I64, units as i64);
    let end = fb.ins().umin(end, units);
    let body = fb.create_block();
    let empty = fb.ins().icmp(IntCC::UnsignedGreaterThanOrEqual, start, end);
    fb.ins().brif(empty, exit, &[], body, &[]);
    fb.switch_to_block(body);
    Ok((buffers, start, end, exit))
}

/// Where each input of one row is: its pointer at inner index 0, its inner
/// stride in bytes, and for stride 0 the scalar loaded once.
pub(crate) struct RowInputs {
    pub ptrs: Vec<Value>,
    pub bytes: Vec<i64>,
    pub hoisted: Vec<Option<Value>>,
}

impl RowInputs {
    /// Loads stride-0 inputs; call only where the row has an element.
    pub fn new(fb: &mut FunctionBuilder<'_>, ptrs: Vec<Value>, bytes: Vec<i64>) -> Self {
        let hoisted = ptrs
            .iter()
            .zip(&bytes)
            .map(|(&p, &b)| (b == 0).then(|| fb.ins().load(types::F32, mem(), p, 0)))
            .collect();
        RowInputs { ptrs, bytes, hoisted }
    }

    /// Input `k` at element `j` of the row (plus `extra` bytes), at the
    /// emitter's lane type; vectors need an inner stride of 0 or 1.
    pub fn load(&self, em: &mut Em<'_, '_>, k: usize, j: Value, extra: i32) -> Value {
        if let Some(Some(scalar)) = self.hoisted.get(k) {
            return em.splat(*scalar);
        }
        let (ptr, bytes) = (self.ptrs[k], self.bytes[k]);
        let offset = em.fb.ins().imul_imm_s(j, bytes);
        let address = em.fb.ins().iadd(ptr, offset);
        em.load(address, extra)
    }
}

/// Branches to `exit` when `done`, else into the loop's `body`. The exit
/// goes first on purpose: Cranelift's elaborator visits a block's
/// dominator-tree children in reverse post-order, and with the body as the
/// taken side it would visit the exit first, leave the loop on its loop
/// stack, and then place every loop-invariant computation of the body in
/// the body instead of hoisting it.
pub(crate) fn loop_exit(fb: &mut FunctionBuilder<'_>, done: Value, exit: cranelift_codegen::ir::Block, body: cranelift_codegen::ir::Block) {
    fb.ins().brif(done, exit, &[], body, &[]);
}

/// Vectors per iteration of the main vector loop: independent streams
/// hide the latency of long polynomial chains; programs of more than
/// `LONG_PROGRAM` steps take half as many (code size, compile time).
const UNROLL: i64 = 4;
const LONG_PROGRAM: usize = 32;

pub(crate) fn build(fb: &mut FunctionBuilder<'_>, env: &Env, nest: &ElementwiseNest, steps: &[Step], output: usize) -> Result<()> {
    let (buffers, start, end, exit) = prologue(fb, nest.len)?;
    let (&inner, outer) = nest
        .sizes
        .split_last()
        .ok_or(CodegenError::Internal("elementwise nest has no dimension"))?;
    if nest.len > 0 {
        let mut bases = Vec::with_capacity(nest.walks.len());
        for walk in &nest.walks {
            bases.push(buffer_base(fb, buffers, walk.buffer, walk.offset)?);
        }
        let out_base = buffer_base(fb, buffers, output, 0)?;
        let outer_strides: Vec<&[i64]> = nest.walks.iter().map(|w| w.strides.get(..outer.len()).unwrap_or(&[])).collect();
        let inner_bytes: Vec<i64> = nest
            .walks
            .iter()
            .map(|w| w.strides.last().copied().unwrap_or(0).wrapping_mul(4))
            .collect();
        let walk = Outer::new(fb, outer, &outer_strides);
        let (q, lo) = match outer.is_empty() {
            true => (start, start),
            false => (fb.ins().udiv_imm_u(start, inner as i64), fb.ins().urem_imm_u(start, inner as i64)),
        };
        walk.init(fb, &bases, q);
        let lo_var = fb.declare_var(types::I64);
        let remaining_var = fb.declare_var(types::I64);
        let out_var = fb.declare_var(types::I64);
        fb.def_var(lo_var, lo);
        let remaining = fb.ins().isub(end, start);
        fb.def_var(remaining_var, remaining);
        let row_start = fb.ins().isub(start, lo);
        let row_start = fb.ins().ishl_imm_u(row_start, 2);
        let out_row = fb.ins().iadd(out_base, row_start);
        fb.def_var(out_var, out_row);

        let header = fb.create_block();
        fb.ins().jump(header, &[]);
        fb.switch_to_block(header);
        let lo = fb.use_var(lo_var);
        let remaining = fb.use_var(remaining_var);
        let width = fb.ins().iconst(types::I64, inner as i64);
        let room = fb.ins().isub(width, lo);
        let n = fb.ins().umin(room, remaining);
        let hi = fb.ins().iadd(lo, n);
        let ptrs = (0..nest.walks.len()).map(|k| walk.ptr(fb, k)).collect();
        let inputs = RowInputs::new(fb, ptrs, inner_bytes);
        let out = fb.use_var(out_var);
        row(fb, env, steps, &inputs, out, lo, hi, vectorized(nest))?;
        let remaining = fb.ins().isub(remaining, n);
        fb.def_var(remaining_var, remaining);
        let carry = fb.create_block();
        fb.ins().brif(remaining, carry, &[], exit, &[]);

        fb.switch_to_block(carry);
        let zero = fb.ins().iconst(types::I64, 0);
        fb.def_var(lo_var, zero);
        let out = fb.use_var(out_var);
        let out = fb.ins().iadd_imm_s(out, (inner as i64).wrapping_mul(4));
        fb.def_var(out_var, out);
        walk.advance(fb);
        fb.ins().jump(header, &[]);
    } else {
        fb.ins().jump(exit, &[]);
    }
    fb.switch_to_block(exit);
    fb.ins().return_(&[]);
    Ok(())
}

/// One inner row, elements `lo..hi` (at least one).
#[allow(clippy::too_many_arguments)]
fn row(
    fb: &mut FunctionBuilder<'_>,
    env: &Env,
    steps: &[Step],
    inputs: &RowInputs,
    out: Value,
    lo: Value,
    hi: Value,
    vector: bool,
) -> Result<()> {
    let i_var = fb.declare_var(types::I64);
    fb.def_var(i_var, lo);
    if vector {
        // Independent vectors per iteration, then single vectors.
        let unroll = if steps.len() > LONG_PROGRAM { UNROLL / 2 } else { UNROLL };
        for (group, vectors) in [(unroll * 4, unroll), (4, 1)] {
            let head = fb.create_block();
            let body = fb.create_block();
            let next = fb.create_block();
            fb.ins().jump(head, &[]);
            fb.switch_to_block(head);
            let i = fb.use_var(i_var);
            let end = fb.ins().iadd_imm_s(i, group);
            let past = fb.ins().icmp(IntCC::SignedGreaterThan, end, hi);
            loop_exit(fb, past, next, body);
            fb.switch_to_block(body);
            for v in 0..vectors {
                store_value(fb, env, types::F32X4, steps, inputs, out, i, (v * 16) as i32)?;
            }
            fb.def_var(i_var, end);
            fb.ins().jump(head, &[]);
            fb.switch_to_block(next);
        }
    }
    let head = fb.create_block();
    let body = fb.create_block();
    let done = fb.create_block();
    fb.ins().jump(head, &[]);
    fb.switch_to_block(head);
    let i = fb.use_var(i_var);
    let past = fb.ins().icmp(IntCC::SignedGreaterThanOrEqual, i, hi);
    loop_exit(fb, past, done, body);
    fb.switch_to_block(body);
    store_value(fb, env, types::F32, steps, inputs, out, i, 0)?;
    let next = fb.ins().iadd_imm_s(i, 1);
    fb.def_var(i_var, next);
    fb.ins().jump(head, &[]);
    fb.switch_to_block(done);
    Ok(())
}

/// Computes the element(s) at `i` (plus `extra` bytes) at lane type `ty`
/// and stores them to the output row.
#[allow(clippy::too_many_arguments)]
fn store_value(
    fb: &mut FunctionBuilder<'_>,
    env: &Env,
    ty: cranelift_codegen::ir::Type,
    steps: &[Step],
    inputs: &RowInputs,
    out: Value,
    i: Value,
    extra: i32,
) -> Result<()> {
    let mut em = Em::new(fb, ty, env);
    let value = emit_steps(&mut em, steps, &mut |em, k| inputs.load(em, k, i, extra))?;
    let offset = em.fb.ins().ishl_imm_u(i, 2);
    let address = em.fb.ins().iadd(out, offset);
    em.store(value, address, extra);
    Ok(())
}
