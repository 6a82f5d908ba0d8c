//! The audit's result as data: what every renderer draws and what
//! `--format json` writes (README.md, section "JSON schema", documents it). It
//! deserializes too, so a previous run's JSON is a baseline.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::location::Location;

/// The JSON schema's name and version; bumped when a field changes meaning.
pub const SCHEMA: &str = "opfuse-audit/1";

/// Where one op instance runs on the target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Natively, on the Cube.
    Cube,
    /// Natively, on the Vector unit.
    Vector,
    /// The AI CPU fallback: it runs, slowly, off the AI cores.
    AiCpu,
    /// The catalog says the chip lacks the op.
    Unsupported,
    /// The catalog does not know the op (an opaque node).
    Unknown,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Cube => "cube",
            Status::Vector => "vector",
            Status::AiCpu => "ai_cpu",
            Status::Unsupported => "unsupported",
            Status::Unknown => "unknown",
        }
    }

    /// Runs on the AI cores.
    pub fn is_native(self) -> bool {
        matches!(self, Status::Cube | Status::Vector)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The whole audit of one model for one chip.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub schema: String,
    /// The model file, as the user named it.
    pub model: String,
    /// The graph's name.
    pub graph: String,
    /// The target chip's profile name (`910b`) and title.
    pub target: String,
    pub target_title: String,
    pub coverage: Coverage,
    /// The model's estimated time on the target (one kernel per op) once
    /// every closed gap runs its checked rewrite; open gaps keep their cost.
    #[serde(default)]
    pub time_with_fixes_us: f64,
    /// One row per op, gaps first, then by time on the target.
    pub ops: Vec<OpRow>,
    /// Every gap: the ones nothing closes first (most time first), then the
    /// closed ones (most time saved first).
    pub gaps: Vec<Gap>,
    /// The estimated time per kernel on the target, one kernel per op
    /// instance, grouped by op, most time first (views run none).
    pub kernels: Vec<KernelGroup>,
    /// With `--from`: the time on the source GPU and the target per kernel class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migration: Option<Migration>,
}

/// How much of the model runs natively, three ways.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Coverage {
    /// Op instances that run natively, in percent of all op instances.
    pub instances_pct: f64,
    /// FLOPs of those instances, in percent of the model's FLOPs.
    pub flops_pct: f64,
    /// Their estimated time on the target, in percent of the model's.
    pub time_pct: f64,
    pub instances: u64,
    pub native_instances: u64,
    pub flops: u128,
    pub native_flops: u128,
    /// The model's estimated time on the target, one kernel per op.
    pub time_us: f64,
    pub native_time_us: f64,
}

/// A fact of the catalog and where it comes from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fact {
    pub text: String,
    /// A key of `ops/sources.toml`, or `assumed: <reason>`; empty when the
    /// catalog has no entry for the op.
    pub source: String,
    /// The source's confidence mark and title, when it is a cited source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_title: Option<String>,
}

/// One op of the model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpRow {
    pub op: String,
    /// The op's class in the catalog; `opaque` for an op it does not know.
    pub class: String,
    pub status: Status,
    pub count: u64,
    pub flops: u128,
    /// Estimated time of all its instances on the target.
    pub time_us: f64,
    pub fact: Fact,
    /// Where its instances are written, each place once.
    pub locations: Vec<Location>,
}

/// An op that does not run natively, at one place in the source.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Gap {
    pub op: String,
    pub status: Status,
    #[serde(default)]
    pub location: Option<Location>,
    /// Instances at this place (a loop or a repeated graph gives several).
    pub count: u64,
    pub why: Fact,
    /// Estimated time of one instance as it is now (AI CPU fallback; an op
    /// the chip lacks or the catalog does not know is priced as if an AI
    /// CPU kernel ran it).
    pub fallback_us: f64,
    /// The op's class in the catalog (`opaque` for an unknown op).
    #[serde(default)]
    pub class: String,
    /// A rewrite into native ops that passed its numerical check.
    pub closed: bool,
    #[serde(default)]
    pub fix: Option<Fix>,
    /// The larger of the fix's errors through the interpreter and the JIT.
    #[serde(default)]
    pub max_error: Option<f64>,
    /// What is left to do, when nothing closes the gap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A rewrite of the op into ops the target runs natively.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fix {
    /// The decomposition rules that produced it (`opfuse opt --list-rules`).
    pub rules: Vec<Rule>,
    /// The ops of the rewritten form, in order, each once.
    pub ops: Vec<String>,
    /// Kernels of the rewritten form after fusion.
    pub kernels: usize,
    /// Estimated time of one instance, rewritten and fused, on the target.
    pub rewritten_us: f64,
    pub check: Check,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    pub name: String,
    pub description: String,
}

/// The numerical check of a rewrite: the original op through the reference
/// interpreter against the rewritten form through the interpreter and the
/// JIT, on the same random inputs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// The seed of the random inputs and params.
    pub seed: u64,
    /// Largest absolute difference from the original, per engine; `None`
    /// where that engine did not run (see `note`).
    pub max_error_interpreter: Option<f64>,
    pub max_error_jit: Option<f64>,
    /// The allowed difference, relative to one plus the output's largest
    /// magnitude (`opfuse_jit::check::tolerance` of the output dtype).
    pub tolerance: f64,
    pub passed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The kernels of one op on the target.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KernelGroup {
    pub op: String,
    pub status: Status,
    pub count: u64,
    pub time_us: f64,
    /// What bounds most of its time: cube, vector, hbm, mte, launch, ai_cpu...
    pub bound: String,
}

/// The model's estimated time on the source GPU and on the target.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Migration {
    pub source: String,
    pub source_title: String,
    pub source_us: f64,
    pub target_us: f64,
    pub target_with_fixes_us: f64,
    /// Per kernel class (the catalog's op classes, `opaque` for unknown ops).
    pub classes: Vec<ClassTime>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassTime {
    pub class: String,
    pub kernels: u64,
    pub source_us: f64,
    pub target_us: f64,
    /// The target's time once the closed gaps run their checked rewrites.
    pub target_with_fixes_us: f64,
}
