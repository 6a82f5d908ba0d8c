//! Native code for elementwise and row kernels, compiled with Cranelift.
//!
//! [`Jit`] owns one `JITModule` for the host (opt_level=speed, every ISA
//! feature `cranelift_native` detects, FMA included) and turns an
//! [`Elementwise`](crate::program::Elementwise) or
//! [`Rows`](crate::program::Rows) program into a [`Kernel`]: a function
//! `unsafe extern "C" fn(buffers: *const *mut f32, start: usize, end: usize)`
//! ([`KernelFn`]) that computes the units (output elements of an
//! elementwise kernel, rows of a row kernel) numbered `start..end`, `end`
//! clamped to [`Kernel::units`], so disjoint ranges can run on several
//! threads. A kernel keeps its code alive (an `Arc` to the module's
//! memory, freed with the last kernel or the `Jit`, whichever goes last).
//! [`Kernel::run`] is the safe call (buffer lengths checked).
//!
//! - `layout.rs`: validation (typed [`CodegenError`]s, never a panic) and
//!   the loop nest (size-1 dimensions dropped, dimensions that every access
//!   walks as one merged).
//! - `emit.rs`: lane-type-generic CLIF helpers (`f32`, `f32x4`, `f64`,
//!   `f64x2`) and the walk over outer dimensions.
//! - `math.rs`: exp, log, tanh, erf, sigmoid, sin, cos, pow and the
//!   activations built from them, as polynomials in CLIF (accuracy table
//!   there).
//! - `steps.rs`: one `Step` list to CLIF values.
//! - `elementwise.rs`, `rows.rs`: the kernels' loops.
//! - `reference.rs`, `tests/`: a plain evaluator and the tests against it;
//!   `tests/speed.rs` is an ignored throughput report.

mod elementwise;
mod emit;
mod error;
mod layout;
mod math;
mod module;
mod rows;
mod steps;

#[cfg(test)]
mod reference;
#[cfg(test)]
mod tests;

pub use error::CodegenError;
pub use module::{Jit, Kernel, KernelFn};
