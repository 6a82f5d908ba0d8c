//! The library path: `matrixmultiply::sgemm` on the operands' strides,
//! one batch and block of rows at a time.

use std::ops::Range;

use super::jit::{blocks, segments, zero_rows};
use super::{Operands, Shape};

/// Output floats per row block: about 1 MiB, so that the block is still
/// in L2 when the epilogue runs, while `sgemm` (which packs B on every
/// call) sees enough rows to amortise that.
const BLOCK_FLOATS: usize = 1 << 18;

/// # Safety
/// As for `jit::run`.
pub(crate) unsafe fn run(shape: &Shape, ops: &Operands, rows: Range<usize>, epilogue: &(dyn Fn(usize, usize) + Sync)) {
    let (m, n, k) = (shape.m, shape.n, shape.k);
    let block_rows = (BLOCK_FLOATS / n.max(1)).clamp(16, 256);
    segments(m, rows, |batch, seg| {
        let out_row = batch * m;
        for rb in blocks(seg, block_rows, 1) {
            if k == 0 {
                // SAFETY: rows inside the output (caller).
                unsafe { zero_rows(ops.c, m, n, batch, rb.clone()) };
            } else {
                let a_off = shape.a.batch_offset(&shape.batch, batch) + rb.start as isize * shape.a.outer;
                let b_off = shape.b.batch_offset(&shape.batch, batch);
                // SAFETY: validated offsets and strides; C rows owned by
                // this call, row-major with stride n.
                unsafe {
                    matrixmultiply::sgemm(
                        rb.len(),
                        k,
                        n,
                        1.0,
                        ops.a.offset(a_off),
                        shape.a.outer,
                        shape.a.inner,
                        ops.b.offset(b_off),
                        shape.b.outer,
                        shape.b.inner,
                        0.0,
                        ops.c.add((out_row + rb.start) * n),
                        n as isize,
                        1,
                    );
                }
            }
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
    let (m, n, k) = (shape.m, shape.n, shape.k);
    let batches: usize = shape.batch.iter().product();
    for batch in 0..batches {
        if k == 0 {
            for row in 0..m {
                // SAFETY: rows and columns inside the output (caller).
                unsafe { std::slice::from_raw_parts_mut(ops.c.add((batch * m + row) * n + cols.start), cols.len()) }.fill(0.0);
            }
            continue;
        }
        let a_off = shape.a.batch_offset(&shape.batch, batch);
        let b_off = shape.b.batch_offset(&shape.batch, batch) + cols.start as isize * shape.b.inner;
        // SAFETY: validated offsets and strides; these columns of C are
        // owned by this call, row-major with stride n.
        unsafe {
            matrixmultiply::sgemm(
                m,
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
                ops.c.add(batch * m * n + cols.start),
                n as isize,
                1,
            );
        }
    }
}
