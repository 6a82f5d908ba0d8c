//! The Ascend cost model: chip profiles and the time of a graph's kernels.
//!
//! In: a [`opfuse_ir::VerifiedGraph`], the [`opfuse_ops::Catalog`] (FLOPs,
//! bytes, and where each chip runs each op) and a [`Profile`] from
//! `ops/chips.toml`. Out: an [`Estimate`], one [`KernelEstimate`] per kernel
//! with its time and the unit that bounds it; [`llm`] adds prefill and decode
//! phases with the KV cache.
//!
//! Invariants: the model prices a [`Kernel`], a description of work (class,
//! FLOPs, HBM bytes, GEMM dims, dtype), never an op by name, so fused kernels
//! from the e-graph are priced the same way; every number the model uses
//! comes from a profile field with a source, and only `profile.rs` reads
//! `ops/chips.toml`; estimating never fails on a verified graph. Knows
//! nothing of syntax, files or rendering.
//!
//! Start at [`estimate_graph`], then `cost.rs`, `cube.rs` and `vector.rs`.

mod cost;
mod cube;
mod estimate;
mod kernel;
pub mod llm;
mod profile;
mod vector;

pub use cost::{handoff_us, kernel_cost, Bound, KernelCost};
pub use cube::{gemm_timing, CubeTiming, Tile};
pub use estimate::{estimate_graph, estimate_kernels, Estimate, KernelEstimate};
pub use kernel::{kernels_of, Gemm, Kernel, Placement};
pub use profile::{AscendProfile, Design, Figure, GpuProfile, MatrixRate, Profile, Profiles, RateTable, CHIPS_TOML};

/// `ops/chips.toml` does not load.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{file}: {message}")]
pub struct ProfileError {
    pub file: String,
    pub message: String,
}
