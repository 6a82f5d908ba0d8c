//! The library path: `matrixmultiply::sgemm` on the operands' strides,
//! one batch and block of rows at a time.

use std::ops::Range;

use super::jit::{blocks, segments};
use super::{Operands, Shape};

/// Output floats per row block: about 1 MiB, so that the block is still
/// in L2 when the epilogue runs, while `sgemm` (which packs B on every
/// call) sees enough rows to amortise that.
const BLOCK_FLOATS: usize = 1 << 18;

/// # Safety
/// As for `jit::run`.
pub(crate) unsafe fn run(shape: &Shape, ops: &Operands, rows: Range<usize>, epilogue: &(dyn Fn(usize, usize) + Sync)) {
    let (m, n) = (shape.m, shape.n);
    let block_rows = (BLOCK_FLOATS / n.max(1)).clamp(16, 256);
    segments(m, rows, |batch, seg| {
        let out_row = batch * m;
        for rb in blocks(seg, block_rows, 1) {
            // SAFETY: rows of this batch inside the output (caller).
            unsafe { block(shape, ops, batch, rb.clone(), 0..n) };
            epilogue((out_row + rb.start) * n, (out_row + rb.end) * n);
        }
    });
}

/// Computes columns `cols` of every row (all batches), for splitting a
/// product with few rows across threads: each thread then packs only its
/// share of `B`. No epilogue: the caller applies it once all columns are done.
///
/// # Safety
/// As for `jit::run`, with `cols` inside `0..n`.
pub(crate) unsafe fn run_columns(shape: &Shape, ops: &Operands, cols: Range<usize>) {
    let batches: usize = shape.batch.iter().product();
    for batch in 0..batches {
        // SAFETY: every row of the batch, the caller's columns.
        unsafe { block(shape, ops, batch, 0..shape.m, cols.clone()) };
    }
}

/// Output rows `rows` and columns `cols` of batch `batch` with one `sgemm`
/// (zeros when `k == 0`).
///
/// # Safety
/// The shape is validated, the operands valid for it, and this block of
/// the output owned by the call.
unsafe fn block(shape: &Shape, ops: &Operands, batch: usize, rows: Range<usize>, cols: Range<usize>) {
    let (m, n, k) = (shape.m, shape.n, shape.k);
    let c = ops.c.wrapping_add((batch * m + rows.start) * n + cols.start);
    if k == 0 {
        for row in 0..rows.len() {
            // SAFETY: inside the output block (caller).
            unsafe { std::slice::from_raw_parts_mut(c.add(row * n), cols.len()) }.fill(0.0);
        }
        return;
    }
    let a_off = shape.a.batch_offset(&shape.batch, batch) + rows.start as isize * shape.a.outer;
    let b_off = shape.b.batch_offset(&shape.batch, batch) + cols.start as isize * shape.b.inner;
    // SAFETY: validated offsets and strides; the block of C is owned by
    // this call, row-major with stride n.
    unsafe {
        matrixmultiply::sgemm(
            rows.len(),
            k,
            cols.len(),
            1.0,
            ops.a.offset(a_off),
            shape.a.outer,
            shape.a.inner,
            ops.b.offset(b_off),
            shape.b.outer,
            shape.b.inner,
            0.0,
            c,
            n as isize,
            1,
        );
    }
}
