//! The e-graph optimizer: rewrites, kernel fusion and cost-based extraction.
//!
//! In: a [`opfuse_ir::VerifiedGraph`]. [`convert`] puts it into an egg
//! e-graph over [`language::TensorNode`] with the [`analysis`] (types and
//! constants from the catalog); [`rules`] rewrite it (algebraic, layout,
//! pattern recognition) and add fused kernels beside the unfused ops;
//! [`extract`] chooses, with a target's cost, a DAG of ops and kernels;
//! [`convert`] materializes the choice as a verified graph and [`kernels`]
//! lists the kernels it runs. [`optimize`] runs the whole pipeline. An
//! opaque op (one the catalog does not know) passes through as an opaque
//! e-node with its declared types: no rule rewrites or fuses through it, it
//! is its own kernel (an AI CPU fallback on Ascend), and it comes back as
//! the same opaque node.
//!
//! Invariants: saturation is always bounded (node, iteration and time
//! limits, and a bounded number of fusion rounds); every rule checks the
//! types of what it adds through the analysis, so merged classes agree on
//! their type; the optimized graph is verified; this crate prints nothing.
//!
//! Start at [`optimize`], then `language.rs` and `rules/`.

mod analysis;
mod applied;
mod body;
mod convert;
mod cost;
mod extract;
mod kernels;
mod language;
mod optimize;
mod pricing;
pub mod rules;
mod statics;
#[cfg(test)]
mod testing;

/// The hash map every table of this crate uses.
type HashMap<K, V> = std::collections::HashMap<K, V>;

pub use analysis::{ClassData, TensorAnalysis, TensorGraph};
pub use applied::applied_rules;
pub use convert::ConvertError;
pub use cost::{AscendModel, CpuRoofline};
pub use extract::Cost;
pub use kernels::KernelReport;
pub use language::TensorNode;
pub use optimize::{optimize, Limits, OptimizeError, Optimized, Stats};
