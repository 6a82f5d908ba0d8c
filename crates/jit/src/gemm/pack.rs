//! Packing operands into the micro-kernel's panel layouts, and the
//! per-thread scratch they live in.

use std::cell::Cell;

use super::kernel::{MR, NR};

/// A growable f32 buffer whose usable part starts on a 64-byte boundary.
#[derive(Default)]
pub(crate) struct AlignedBuf {
    data: Vec<f32>,
}

const ALIGN_FLOATS: usize = 16;

impl AlignedBuf {
    /// At least `len` floats, 64-byte aligned; contents unspecified but
    /// initialized.
    pub(crate) fn get(&mut self, len: usize) -> &mut [f32] {
        let need = len + ALIGN_FLOATS;
        if self.data.len() < need {
            self.data.clear();
            self.data.resize(need, 0.0);
        }
        let skew = self.data.as_ptr().align_offset(ALIGN_FLOATS * 4);
        let skew = if skew < ALIGN_FLOATS { skew } else { 0 };
        &mut self.data[skew..skew + len]
    }
}

/// One thread's packing buffers.
#[derive(Default)]
pub(crate) struct Scratch {
    pub(crate) a: AlignedBuf,
    pub(crate) b: AlignedBuf,
}

thread_local! {
    static SCRATCH: Cell<Scratch> = Cell::new(Scratch::default());
}

/// Runs `f` with this thread's scratch (a fresh one if it is in use, e.g.
/// by a product started from inside an epilogue).
pub(crate) fn with_scratch<R>(f: impl FnOnce(&mut Scratch) -> R) -> R {
    let mut scratch = SCRATCH.try_with(Cell::take).unwrap_or_default();
    let result = f(&mut scratch);
    let _ = SCRATCH.try_with(|cell| cell.set(scratch));
    result
}

/// A strided view of one operand matrix: element `(r, c)` is at
/// `ptr + r * rs + c * cs`.
#[derive(Clone, Copy)]
pub(crate) struct View {
    pub(crate) ptr: *const f32,
    pub(crate) rs: isize,
    pub(crate) cs: isize,
}

impl View {
    /// # Safety
    /// `(r, c)` must be inside the validated matrix.
    #[inline(always)]
    unsafe fn at(&self, r: usize, c: usize) -> *const f32 {
        unsafe { self.ptr.offset(r as isize * self.rs + c as isize * self.cs) }
    }
}

/// Packs rows `rows` (any count) and depth `depth` of `a` (rows x k) into
/// `MR`-row panels: `dst[q * kb * MR + p * MR + r] = a[rows.start + q * MR
/// + r, depth.start + p]`, zero past the last row.
///
/// # Safety
/// Every element read must be inside the validated operand.
pub(crate) unsafe fn pack_a(a: View, rows: std::ops::Range<usize>, depth: std::ops::Range<usize>, dst: &mut [f32]) {
    let kb = depth.len();
    if kb == 0 {
        return;
    }
    for (q, panel) in dst.chunks_exact_mut(kb * MR).enumerate() {
        let r0 = rows.start + q * MR;
        if r0 >= rows.end {
            break;
        }
        let valid = MR.min(rows.end - r0);
        if valid < MR {
            panel.fill(0.0);
        }
        if a.cs == 1 && valid == MR {
            // Row-major, full panel: MR contiguous row streams at once.
            // SAFETY: (r0 + r, depth) is inside the operand.
            let src: [*const f32; MR] = std::array::from_fn(|r| unsafe { a.at(r0 + r, depth.start) });
            for (p, step) in panel.chunks_exact_mut(MR).enumerate() {
                for (d, s) in step.iter_mut().zip(src) {
                    // SAFETY: as above, p < kb.
                    *d = unsafe { *s.add(p) };
                }
            }
        } else if a.cs == 1 {
            // Row-major: read each row contiguously.
            for r in 0..valid {
                // SAFETY: (r0 + r, depth) is inside the operand.
                let src = unsafe { a.at(r0 + r, depth.start) };
                for (p, d) in panel.iter_mut().skip(r).step_by(MR).enumerate() {
                    *d = unsafe { *src.add(p) };
                }
            }
        } else {
            for (p, step) in panel.chunks_exact_mut(MR).enumerate() {
                for (r, d) in step[..valid].iter_mut().enumerate() {
                    // SAFETY: as above.
                    *d = unsafe { *a.at(r0 + r, depth.start + p) };
                }
            }
        }
    }
}

/// Packs depth `depth` and columns `cols` of `b` (k x n) into `NR`-column
/// panels `panel_stride` floats apart: `dst[q * panel_stride + p * NR + j]
/// = b[depth.start + p, cols.start + q * NR + j]`, zero past the last
/// column.
///
/// # Safety
/// Every element read must be inside the validated operand.
pub(crate) unsafe fn pack_b(b: View, depth: std::ops::Range<usize>, cols: std::ops::Range<usize>, dst: &mut [f32], panel_stride: usize) {
    let kb = depth.len();
    let panels = cols.len().div_ceil(NR);
    for q in 0..panels {
        let j0 = cols.start + q * NR;
        let valid = NR.min(cols.end - j0);
        let panel = &mut dst[q * panel_stride..q * panel_stride + kb * NR];
        if valid == NR && b.cs == 1 {
            for (p, step) in panel.chunks_exact_mut(NR).enumerate() {
                // SAFETY: (depth.start + p, j0..j0 + NR) is inside.
                let src = unsafe { b.at(depth.start + p, j0) };
                for (j, d) in step.iter_mut().enumerate() {
                    *d = unsafe { *src.add(j) };
                }
            }
            continue;
        }
        if valid < NR {
            panel.fill(0.0);
        }
        if b.rs.unsigned_abs() < b.cs.unsigned_abs() {
            // Transposed (column-major): walk each column down `k`.
            for j in 0..valid {
                for (p, d) in panel.iter_mut().skip(j).step_by(NR).enumerate() {
                    // SAFETY: as above.
                    *d = unsafe { *b.at(depth.start + p, j0 + j) };
                }
            }
        } else {
            for (p, step) in panel.chunks_exact_mut(NR).enumerate() {
                for (j, d) in step[..valid].iter_mut().enumerate() {
                    // SAFETY: as above.
                    *d = unsafe { *b.at(depth.start + p, j0 + j) };
                }
            }
        }
    }
}
