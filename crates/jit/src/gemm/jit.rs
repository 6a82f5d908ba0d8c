//! The blocked driver of the JIT path: packs `A` and `B` into panels and
//! calls the micro-kernel over every tile.
//!
//! Loop nest, per batch segment of the requested rows:
//!
//! ```text
//! pack all of B (once per distinct batch of B) when it fits `whole_b`
//! for each block of mc rows:                      A block in L2
//!     for each block of nc columns (one if B is packed whole):
//!         for each block of kc depth:             packs B block if not whole
//!             pack A[rows, depth] into MR-row panels
//!             for each NR-column panel of B:      kc x NR panel in L1
//!                 for each MR-row panel of A:     the micro-kernel
//!     epilogue(rows of the block)                 the block is final
//! ```
//!
//! The row block is the outermost loop so that its output rows are final
//! (every column, every k) before the next block starts, which is when the
//! epilogue runs on them while they are in cache.

use std::ops::Range;

use super::kernel::{KernelFn, MR, NR, UNROLL};
use super::pack::{pack_a, pack_b, with_scratch, View};
use super::{Operands, Shape};

/// Cache blocking of the JIT path, in elements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Blocking {
    /// Rows of `A` packed at once (kept in L2): rounded up to the
    /// micro-tile's rows.
    pub mc: usize,
    /// Depth of one pass over `k` (panels of `kc x NR` stay in L1); blocks
    /// are rounded to whole kernel iterations (32 steps) but the last.
    pub kc: usize,
    /// Columns of `B` packed at once when `B` is not packed whole:
    /// rounded up to the micro-tile's columns.
    pub nc: usize,
    /// The most floats of packed `B` kept whole per thread.
    pub whole_b: usize,
}

impl Default for Blocking {
    /// Sized for 32 KiB L1d and 1 MiB L2 per core (AMD Zen 4): a `kc x NR`
    /// panel of B is 8 KiB, an `mc x kc` block of A 144 KiB.
    fn default() -> Blocking {
        let env = |name: &str, default: usize| std::env::var(name).ok().and_then(|s| s.parse().ok()).unwrap_or(default);
        Blocking {
            mc: env("OPFUSE_GEMM_MC", 144),
            kc: env("OPFUSE_GEMM_KC", 256),
            nc: 2048,
            whole_b: 1 << 22,
        }
    }
}

impl Blocking {
    pub(crate) fn sanitized(self) -> Blocking {
        Blocking {
            mc: self.mc.max(1).div_ceil(MR) * MR,
            kc: self.kc.max(1),
            nc: self.nc.max(1).div_ceil(NR) * NR,
            whole_b: self.whole_b,
        }
    }
}

/// Splits `range` into blocks of at most about `max` (equal sizes, each a
/// multiple of `align` except the last).
pub(crate) fn blocks(range: Range<usize>, max: usize, align: usize) -> impl Iterator<Item = Range<usize>> {
    let len = range.len();
    let count = len.div_ceil(max.max(1)).max(1);
    let size = len.div_ceil(count).div_ceil(align) * align;
    let size = size.max(1);
    (0..len.div_ceil(size)).map(move |i| {
        let start = range.start + i * size;
        start..(start + size).min(range.end)
    })
}

/// Calls `f(batch, rows)` for each batch segment of the flattened `rows`
/// (`rows` within that batch's `0..m`).
pub(crate) fn segments(m: usize, rows: Range<usize>, mut f: impl FnMut(usize, Range<usize>)) {
    if m == 0 {
        return;
    }
    let mut r = rows.start;
    while r < rows.end {
        let batch = r / m;
        let lo = r % m;
        let hi = m.min(lo + (rows.end - r));
        f(batch, lo..hi);
        r += hi - lo;
    }
}

/// Zeroes output rows `rows` of batch `batch` (the product when `k == 0`).
///
/// # Safety
/// The rows must be inside the output buffer and owned by this call.
unsafe fn zero_rows(c: *mut f32, m: usize, n: usize, batch: usize, rows: Range<usize>) {
    let start = (batch * m + rows.start) * n;
    // SAFETY: by the caller.
    unsafe { std::slice::from_raw_parts_mut(c.add(start), rows.len() * n) }.fill(0.0);
}

/// # Safety
/// `shape` is validated, the operands are valid for it (see `Gemm::run`),
/// `rows` is inside the output's rows and `shape.n > 0`.
pub(crate) unsafe fn run(
    kernel: KernelFn,
    blocking: &Blocking,
    shape: &Shape,
    ops: &Operands,
    rows: Range<usize>,
    epilogue: &(dyn Fn(usize, usize) + Sync),
) {
    let (m, n, k) = (shape.m, shape.n, shape.k);
    let n_pad = n.div_ceil(NR) * NR;
    let whole_b = k.checked_mul(n_pad).is_some_and(|len| len <= blocking.whole_b);
    with_scratch(|scratch| {
        // The batch offset of B whose whole packing is in `scratch.b`.
        let mut packed_b: Option<(isize, *const f32)> = None;
        segments(m, rows, |batch, seg| {
            let out_row = batch * m;
            if k == 0 {
                for block in blocks(seg, blocking.mc, MR) {
                    // SAFETY: rows inside the output (caller).
                    unsafe { zero_rows(ops.c, m, n, batch, block.clone()) };
                    epilogue((out_row + block.start) * n, (out_row + block.end) * n);
                }
                return;
            }
            let a_off = shape.a.batch_offset(&shape.batch, batch);
            let b_off = shape.b.batch_offset(&shape.batch, batch);
            // SAFETY: validated offsets into the operands.
            let a = View {
                ptr: unsafe { ops.a.offset(a_off) },
                rs: shape.a.outer,
                cs: shape.a.inner,
            };
            let b = View {
                ptr: unsafe { ops.b.offset(b_off) },
                rs: shape.b.outer,
                cs: shape.b.inner,
            };
            if whole_b && packed_b.is_none_or(|(off, _)| off != b_off) {
                let dst = scratch.b.get(k * n_pad);
                // SAFETY: all of B is inside the operand.
                unsafe { pack_b(b, 0..k, 0..n, dst, k * NR) };
                packed_b = Some((b_off, dst.as_ptr()));
            }
            for rb in blocks(seg, blocking.mc, MR) {
                let col_blocks = if whole_b { n } else { blocking.nc };
                for cb in blocks(0..n, col_blocks, NR) {
                    // Depth blocks in whole kernel iterations but the last.
                    for kb in blocks(0..k, blocking.kc, UNROLL) {
                        let depth = kb.len();
                        // Panel q of this (kb, cb) block of B.
                        let (b_base, b_stride) = match packed_b {
                            Some((_, ptr)) if whole_b => {
                                // SAFETY: inside the whole packing.
                                (unsafe { ptr.add(cb.start * k + kb.start * NR) }, k * NR)
                            }
                            _ => {
                                let dst = scratch.b.get(depth * cb.len().div_ceil(NR) * NR);
                                // SAFETY: the block is inside B.
                                unsafe { pack_b(b, kb.clone(), cb.clone(), dst, depth * NR) };
                                (dst.as_ptr(), depth * NR)
                            }
                        };
                        let a_panels = rb.len().div_ceil(MR);
                        let a_dst = scratch.a.get(a_panels * depth * MR);
                        // SAFETY: the block is inside A.
                        unsafe { pack_a(a, rb.clone(), kb.clone(), a_dst) };
                        let a_base = a_dst.as_ptr();
                        let accumulate = usize::from(kb.start > 0);
                        for q in 0..cb.len().div_ceil(NR) {
                            let col = cb.start + q * NR;
                            let cols = NR.min(cb.end - col);
                            // SAFETY: panel q of the packed block.
                            let bp = unsafe { b_base.add(q * b_stride) };
                            for p in 0..a_panels {
                                let row = rb.start + p * MR;
                                let rows_here = MR.min(rb.end - row);
                                // SAFETY: panel p of the packed A block;
                                // the tile's output is inside the rows.
                                unsafe {
                                    let ap = a_base.add(p * depth * MR);
                                    let c = ops.c.add((out_row + row) * n + col);
                                    if rows_here == MR && cols == NR {
                                        kernel(depth, ap, bp, c, n, accumulate);
                                    } else {
                                        edge_tile(kernel, depth, ap, bp, c, n, rows_here, cols, accumulate);
                                    }
                                }
                            }
                        }
                    }
                }
                epilogue((out_row + rb.start) * n, (out_row + rb.end) * n);
            }
        });
    });
}

/// A tile with fewer than `MR` rows or `NR` columns: the kernel writes a
/// full tile into a local buffer, then the valid part is stored.
///
/// # Safety
/// As for the kernel, with `c` valid for `rows x cols` at stride `ldc`.
#[allow(clippy::too_many_arguments)]
unsafe fn edge_tile(
    kernel: KernelFn,
    depth: usize,
    ap: *const f32,
    bp: *const f32,
    c: *mut f32,
    ldc: usize,
    rows: usize,
    cols: usize,
    accumulate: usize,
) {
    let mut tile = [0.0f32; MR * NR];
    // SAFETY: the tile buffer is a full MR x NR tile at stride NR.
    unsafe { kernel(depth, ap, bp, tile.as_mut_ptr(), NR, 0) };
    for (r, src) in tile.chunks_exact(NR).take(rows).enumerate() {
        // SAFETY: row r of the valid part.
        let dst = unsafe { std::slice::from_raw_parts_mut(c.add(r * ldc), cols) };
        if accumulate != 0 {
            for (d, s) in dst.iter_mut().zip(src) {
                *d += s;
            }
        } else {
            dst.copy_from_slice(&src[..cols]);
        }
    }
}
