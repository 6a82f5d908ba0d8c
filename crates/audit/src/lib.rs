//! The migration audit: which op instances of a model a target Ascend chip
//! runs natively, which fall back to the AI CPU, which it lacks and which
//! the catalog does not know; coverage by instances, FLOPs and estimated
//! time; and for every gap what closes it: a rewrite into native ops found
//! by the e-graph, checked numerically through the reference interpreter
//! and the JIT, with its estimated time against the fallback.
//!
//! In: a [`opfuse_ir::VerifiedGraph`] with one optional [`Location`] per
//! node (the CLI maps spans and ONNX nodes to them), the catalog and chip
//! profiles. Out: a [`Report`], plain data that [`render`] turns into text,
//! JSON, Markdown, SARIF or HTML, and that [`baseline`] compares with an
//! earlier report.
//!
//! Invariants: a gap is searched once per distinct op signature (op,
//! attributes, input types, params) on a graph holding that op alone, never
//! by optimizing the whole model, so an audit costs the model's size plus
//! the number of distinct gaps; a gap counts as closed only when the
//! rewritten form runs only on the AI cores and its numbers agree with the
//! original through both engines; every fact cites the catalog's source;
//! the crate reads no files and prints nothing.
//!
//! Start at [`audit`], then `coverage.rs`, `gaps.rs` and `closing.rs`.

pub mod baseline;
mod classify;
mod closing;
mod coverage;
mod gaps;
mod location;
mod migration;
pub mod render;
mod report;

use std::collections::BTreeMap;

use opfuse_ascend::{Design, Profile};
use opfuse_ir::VerifiedGraph;
use opfuse_ops::{Catalog, Chip};

pub use closing::{CHECK_ELEMENTS, SEED};
pub use location::Location;
pub use report::{Check, ClassTime, Coverage, Fact, Fix, Gap, KernelGroup, Migration, OpRow, Report, Rule, Status, SCHEMA};

/// The model to audit, as the front end gave it.
pub struct Model<'a> {
    /// The file, as the user named it.
    pub path: &'a str,
    pub graph: &'a VerifiedGraph,
    /// Where each node is written, by node index.
    pub locations: &'a [Option<Location>],
    /// Why the front end kept a node opaque, by node index (ONNX import notes).
    pub opaque_reasons: &'a BTreeMap<usize, String>,
}

/// The audit cannot run.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum AuditError {
    #[error("`{0}` is not an Ascend chip profile; audit --target takes an Ascend chip (--from takes the GPU)")]
    NotAscend(String),
    #[error("`{0}` is not a GPU profile; --from takes the source GPU (such as h100)")]
    NotGpu(String),
    #[error("the operator sources do not load: {0}")]
    Sources(String),
}

/// Audits `model` for `target`, with the time on `source` (a GPU) beside it.
pub fn audit(model: &Model<'_>, catalog: &Catalog, target: &Profile, source: Option<&Profile>) -> Result<Report, AuditError> {
    let chip = match target.design {
        Design::Ascend(_) => Chip::from_name(&target.name),
        Design::Gpu(_) => None,
    }
    .ok_or_else(|| AuditError::NotAscend(target.name.clone()))?;
    if let Some(source) = source.filter(|s| !matches!(s.design, Design::Gpu(_))) {
        return Err(AuditError::NotGpu(source.name.clone()));
    }
    let sources = opfuse_ops::catalog::builtin_sources().map_err(|e| AuditError::Sources(e.to_string()))?;
    let graph = model.graph;
    let instances = coverage::instances(graph, catalog, &sources, chip, target, model.locations, model.opaque_reasons);
    let coverage = coverage::coverage(&instances);
    let gaps = gaps::gaps(graph, catalog, chip, target, &instances);
    let savings = gaps::savings(&gaps);
    Ok(Report {
        schema: SCHEMA.to_string(),
        model: model.path.to_string(),
        graph: graph.name.clone(),
        target: target.name.clone(),
        target_title: target.title().to_string(),
        time_with_fixes_us: coverage.time_us - savings.values().sum::<f64>(),
        coverage,
        ops: coverage::op_rows(&instances),
        gaps,
        kernels: coverage::kernel_groups(&instances),
        migration: source.map(|s| migration::migration(graph, catalog, s, &instances, &savings)),
    })
}
