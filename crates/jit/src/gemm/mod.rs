//! Executing a [`Matmul`] program on f32 buffers.
//!
//! Two paths compute the same product:
//!
//! - [`GemmPath::Jit`]: `A` and `B` are packed in Rust into panels (`MR`
//!   rows of `A`, `NR` columns of `B`, `k`-major and zero-padded), and a
//!   Cranelift-generated micro-kernel computes one `MR x NR` tile with
//!   f32x4 FMAs (see `kernel.rs`). Blocking: `kc` over `k` (the panels stay
//!   in L1), `mc` rows of `A` (in L2), `B` packed whole per batch when it
//!   fits, else in blocks of `nc` columns.
//! - [`GemmPath::Library`]: `matrixmultiply::sgemm` with the operands'
//!   strides, one batch and row block at a time.
//!
//! Both compute the output rows asked for (so an executor can split the
//! flattened `[batch * m]` row space across threads) and hand every block
//! of finished rows to the caller's epilogue while it is still in cache.

mod jit;
mod kernel;
mod library;
mod pack;
#[cfg(test)]
mod tests;

use std::ops::Range;

use thiserror::Error;

use crate::program::{Access, Matmul};

pub use jit::Blocking;

/// Which implementation computes the product.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GemmPath {
    /// Packed panels and the Cranelift micro-kernel.
    Jit,
    /// `matrixmultiply::sgemm`.
    Library,
}

/// Why a product could not be computed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum GemmError {
    #[error("this host cannot run the JIT: {0}")]
    Host(String),
    #[error("compiling the GEMM micro-kernel failed: {0}")]
    Compile(String),
    #[error("operand {operand} has {got} strides; a {expected}-dimensional access was expected")]
    Rank {
        operand: &'static str,
        expected: usize,
        got: usize,
    },
    #[error("rows {start}..{end} are not within the product's {total} rows")]
    Rows { start: usize, end: usize, total: usize },
    #[error("the product's {what} overflows the address space")]
    Overflow { what: &'static str },
    #[error("operand {operand} reaches element {index}, outside any buffer")]
    OutOfBounds { operand: &'static str, index: i128 },
    #[error("operand {operand} reads buffer {buffer}, which is the output")]
    Aliased { operand: &'static str, buffer: usize },
    #[error("buffer {index} is a null pointer")]
    NullBuffer { index: usize },
}

/// The GEMM engine: the compiled micro-kernel, built once and shared by
/// every thread that runs products (`Gemm` is `Send + Sync`).
pub struct Gemm {
    kernel: kernel::Kernel,
    blocking: Blocking,
}

impl std::fmt::Debug for Gemm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gemm")
            .field("mr", &kernel::MR)
            .field("nr", &kernel::NR)
            .field("fused_fma", &self.kernel.fused_fma)
            .field("blocking", &self.blocking)
            .finish()
    }
}

impl Gemm {
    /// Compiles the micro-kernel for this host.
    pub fn new() -> Result<Gemm, GemmError> {
        Gemm::with_blocking(Blocking::default())
    }

    /// Like [`Gemm::new`] with explicit cache blocking (tests use tiny
    /// blocks to exercise every loop edge on small matrices).
    pub fn with_blocking(blocking: Blocking) -> Result<Gemm, GemmError> {
        Ok(Gemm {
            kernel: kernel::Kernel::new()?,
            blocking: blocking.sanitized(),
        })
    }

    /// The micro-tile, rows by columns.
    pub fn tile(&self) -> (usize, usize) {
        (kernel::MR, kernel::NR)
    }

    /// Whether the kernel's FMAs are single fused instructions.
    pub fn fused_fma(&self) -> bool {
        self.kernel.fused_fma
    }

    /// The micro-kernel's machine code, as Cranelift prints it.
    pub fn kernel_disassembly(&self) -> Option<&str> {
        self.kernel.disassembly.as_deref()
    }

    /// Computes output rows `rows` of the flattened `[batch * m]` row space
    /// of `mm`, writing them contiguously (row-major over `[batch.., m, n]`)
    /// into `buffers[output]`. `A` is read through `mm.a` (over
    /// `[batch.., m, k]`), `B` through `mm.b` (over `[batch.., k, n]`).
    /// `mm.epilogue` is not applied here: after each block of full rows
    /// `[r0, r1)` is final, `epilogue(r0 * n, r1 * n)` is called with that
    /// linear output range, in increasing order, the ranges together
    /// covering `rows.start * n .. rows.end * n` exactly; empty ranges
    /// (`n == 0`) are not reported.
    ///
    /// # Safety
    ///
    /// `buffers` must point to an array holding at least the entries
    /// `mm.a.buffer`, `mm.b.buffer` and `output`. Each operand buffer must
    /// be valid for reads at every element its access reaches (checked only
    /// against the address space, not against the buffer's length), the
    /// output buffer valid for writes of `batch * m * n` elements and
    /// overlapping neither operand. Calls that run concurrently on the same
    /// output must use disjoint `rows`, and nothing else may read or write
    /// those rows meanwhile (except the epilogue, for its range).
    pub unsafe fn run(
        &self,
        mm: &Matmul,
        buffers: *const *mut f32,
        output: usize,
        path: GemmPath,
        rows: Range<usize>,
        epilogue: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<(), GemmError> {
        let shape = Shape::check(mm, output, &rows)?;
        if rows.is_empty() || mm.n == 0 {
            return Ok(());
        }
        let buffer = |index: usize| -> Result<*mut f32, GemmError> {
            if buffers.is_null() {
                return Err(GemmError::NullBuffer { index });
            }
            // SAFETY: the caller guarantees the array holds this entry.
            let p = unsafe { *buffers.add(index) };
            if p.is_null() {
                return Err(GemmError::NullBuffer { index });
            }
            Ok(p)
        };
        let c = buffer(output)?;
        // Operands are read only when k > 0; then every row reaches them.
        let (a, b) = if mm.k == 0 {
            (std::ptr::null(), std::ptr::null())
        } else {
            (buffer(mm.a.buffer)? as *const f32, buffer(mm.b.buffer)? as *const f32)
        };
        for (operand, p) in [("a", a), ("b", b)] {
            if std::ptr::eq(p, c) {
                return Err(GemmError::Aliased { operand, buffer: output });
            }
        }
        let operands = Operands { a, b, c };
        // SAFETY: the shape is validated and the caller vouches for the
        // buffers (see above).
        unsafe {
            match path {
                GemmPath::Jit => jit::run(self.kernel.func, &self.blocking, &shape, &operands, rows, epilogue),
                GemmPath::Library => library::run(&shape, &operands, rows, epilogue),
            }
        }
        Ok(())
    }
}

impl Gemm {
    /// Computes columns `cols` of every output row with the library path,
    /// without an epilogue (see [`Gemm::run`] for the buffers); threads
    /// taking disjoint columns split a product of few rows.
    ///
    /// # Safety
    ///
    /// As for [`Gemm::run`], for the columns `cols` (inside `0..mm.n`) of
    /// every row instead of whole rows.
    pub unsafe fn run_columns(&self, mm: &Matmul, buffers: *const *mut f32, output: usize, cols: Range<usize>) -> Result<(), GemmError> {
        let total = mm.batch.iter().product::<usize>() * mm.m;
        let shape = Shape::check(mm, output, &(0..total))?;
        if cols.start > cols.end || cols.end > mm.n {
            return Err(GemmError::Rows {
                start: cols.start,
                end: cols.end,
                total: mm.n,
            });
        }
        if cols.is_empty() || total == 0 {
            return Ok(());
        }
        // SAFETY: the caller guarantees the array holds these entries.
        let pointer = |index: usize| -> Result<*mut f32, GemmError> {
            let p = if buffers.is_null() {
                std::ptr::null_mut()
            } else {
                unsafe { *buffers.add(index) }
            };
            match p.is_null() {
                true => Err(GemmError::NullBuffer { index }),
                false => Ok(p),
            }
        };
        let c = pointer(output)?;
        let (a, b) = match mm.k {
            0 => (std::ptr::null(), std::ptr::null()),
            _ => (pointer(mm.a.buffer)? as *const f32, pointer(mm.b.buffer)? as *const f32),
        };
        // SAFETY: the shape is validated and the caller vouches for the buffers.
        unsafe { library::run_columns(&shape, &Operands { a, b, c }, cols) };
        Ok(())
    }
}

/// Base pointers of the operands (`a`, `b` null when `k == 0`).
pub(crate) struct Operands {
    pub(crate) a: *const f32,
    pub(crate) b: *const f32,
    pub(crate) c: *mut f32,
}

/// A validated product: extents and strides, all element offsets known
/// to fit in `isize`.
#[derive(Clone, Debug)]
pub(crate) struct Shape {
    pub(crate) batch: Vec<usize>,
    pub(crate) m: usize,
    pub(crate) n: usize,
    pub(crate) k: usize,
    pub(crate) a: Strides,
    pub(crate) b: Strides,
}

/// An operand's offset and strides: `batch` per batch dimension, then
/// `outer` (rows of A, k of B) and `inner` (k of A, columns of B).
#[derive(Clone, Debug)]
pub(crate) struct Strides {
    pub(crate) offset: isize,
    pub(crate) batch: Vec<isize>,
    pub(crate) outer: isize,
    pub(crate) inner: isize,
}

impl Strides {
    /// Element offset of batch `index` (flattened, row-major over the
    /// batch dimensions) of an operand.
    pub(crate) fn batch_offset(&self, dims: &[usize], mut index: usize) -> isize {
        let mut off = self.offset;
        for (&d, &s) in dims.iter().zip(&self.batch).rev() {
            if d > 0 {
                off += (index % d) as isize * s;
                index /= d;
            }
        }
        off
    }
}

/// Largest element index accepted: byte offsets stay within `isize`.
const MAX_ELEMENT: i128 = (isize::MAX / 4) as i128;

impl Shape {
    fn check(mm: &Matmul, output: usize, rows: &Range<usize>) -> Result<Shape, GemmError> {
        let rank = mm.batch.len() + 2;
        for (operand, access) in [("a", &mm.a), ("b", &mm.b)] {
            if access.strides.len() != rank {
                return Err(GemmError::Rank {
                    operand,
                    expected: rank,
                    got: access.strides.len(),
                });
            }
        }
        let overflow = |what| GemmError::Overflow { what };
        let batches = mm
            .batch
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .ok_or(overflow("batch size"))?;
        let total = batches.checked_mul(mm.m).ok_or(overflow("row count"))?;
        let elements = total.checked_mul(mm.n).ok_or(overflow("output size"))?;
        if elements as u128 > MAX_ELEMENT as u128 {
            return Err(overflow("output size"));
        }
        if rows.start > rows.end || rows.end > total {
            return Err(GemmError::Rows {
                start: rows.start,
                end: rows.end,
                total,
            });
        }
        // An operand is read only when the output is non-empty and k > 0.
        let reads = elements > 0 && mm.k > 0;
        if reads {
            for (operand, access) in [("a", &mm.a), ("b", &mm.b)] {
                if access.buffer == output {
                    return Err(GemmError::Aliased { operand, buffer: output });
                }
            }
        }
        let a_dims: Vec<usize> = mm.batch.iter().copied().chain([mm.m, mm.k]).collect();
        let b_dims: Vec<usize> = mm.batch.iter().copied().chain([mm.k, mm.n]).collect();
        let a = strides("a", &mm.a, &a_dims, reads)?;
        let b = strides("b", &mm.b, &b_dims, reads)?;
        Ok(Shape {
            batch: mm.batch.clone(),
            m: mm.m,
            n: mm.n,
            k: mm.k,
            a,
            b,
        })
    }
}

/// Checks that every element `access` reaches over `dims` lies in
/// `0..=MAX_ELEMENT` (when `reads`: every extent of `dims` is then
/// positive), and splits its strides.
fn strides(operand: &'static str, access: &Access, dims: &[usize], reads: bool) -> Result<Strides, GemmError> {
    let out_of_bounds = |index| GemmError::OutOfBounds { operand, index };
    let offset = access.offset as i128;
    if reads {
        if offset > MAX_ELEMENT {
            return Err(out_of_bounds(offset));
        }
        let (mut low, mut high) = (offset, offset);
        for (&d, &s) in dims.iter().zip(&access.strides) {
            // |(d - 1) * s| < 2^127, and the sums stay near MAX_ELEMENT.
            let reach = (d as i128 - 1) * s as i128;
            if reach < 0 {
                low += reach;
            } else {
                high += reach;
            }
            if low < 0 {
                return Err(out_of_bounds(low));
            }
            if high > MAX_ELEMENT {
                return Err(out_of_bounds(high));
            }
        }
    }
    let n = access.strides.len();
    Ok(Strides {
        offset: access.offset as isize,
        batch: access.strides[..n - 2].to_vec(),
        outer: access.strides[n - 2],
        inner: access.strides[n - 1],
    })
}
