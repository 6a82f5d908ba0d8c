//! The gaps: op instances that do not run natively, grouped by op, place
//! and signature, each with what closes it (searched once per signature).
//! Nothing-closes-it gaps come first, most time first; then the closed
//! ones, most time saved first.

use std::collections::BTreeMap;

use opfuse_ascend::Profile;
use opfuse_ir::VerifiedGraph;
use opfuse_ops::{Catalog, Chip};

use crate::closing::{close, one_op_graph, signature, Outcome};
use crate::coverage::Instance;
use crate::report::Gap;

pub fn gaps(graph: &VerifiedGraph, catalog: &Catalog, chip: Chip, profile: &Profile, instances: &[Instance]) -> Vec<Gap> {
    let mut outcomes: BTreeMap<String, Outcome> = BTreeMap::new();
    let mut groups: BTreeMap<(String, Option<crate::Location>, String), Gap> = BTreeMap::new();
    for instance in instances.iter().filter(|i| !i.status.is_native()) {
        let Some(node) = graph.nodes.get(instance.node) else { continue };
        let key = signature(graph, node);
        if !outcomes.contains_key(&key) {
            let outcome = match one_op_graph(graph, node, catalog) {
                Some(small) => close(&small, catalog, chip, profile),
                None => Outcome::Open("the op alone does not verify as a graph, so no rewrite was searched".into()),
            };
            outcomes.insert(key.clone(), outcome);
        }
        let group_key = (instance.op.clone(), instance.location.clone(), key.clone());
        let gap = groups.entry(group_key).or_insert_with(|| {
            let (fix, note) = match outcomes.get(&key) {
                Some(Outcome::Fixed(fix)) => (Some(fix.clone()), None),
                Some(Outcome::Open(why)) => (None, Some(why.clone())),
                None => (None, None),
            };
            let closed = fix.as_ref().is_some_and(|f| f.check.passed);
            let max_error = fix.as_ref().and_then(|f| {
                let errors = [f.check.max_error_interpreter, f.check.max_error_jit];
                errors.into_iter().flatten().reduce(f64::max)
            });
            Gap {
                op: instance.op.clone(),
                status: instance.status,
                location: instance.location.clone(),
                count: 0,
                why: instance.fact.clone(),
                fallback_us: instance.cost.time_us,
                class: instance.class.clone(),
                closed,
                fix,
                max_error,
                note,
            }
        });
        gap.count += 1;
    }
    let mut gaps: Vec<Gap> = groups.into_values().collect();
    let saved = |g: &Gap| g.count as f64 * (g.fallback_us - g.fix.as_ref().map_or(g.fallback_us, |f| f.rewritten_us));
    let lost = |g: &Gap| g.count as f64 * g.fallback_us;
    gaps.sort_by(|a, b| {
        a.closed
            .cmp(&b.closed)
            .then_with(|| match a.closed {
                false => lost(b).total_cmp(&lost(a)),
                true => saved(b).total_cmp(&saved(a)),
            })
            .then_with(|| a.op.cmp(&b.op))
            .then_with(|| a.location.cmp(&b.location))
    });
    gaps
}

/// What the closed gaps save, per class: each instance's fallback time less
/// its rewritten form's.
pub fn savings(gaps: &[Gap]) -> BTreeMap<String, f64> {
    let mut saved = BTreeMap::new();
    for gap in gaps.iter().filter(|g| g.closed) {
        if let Some(fix) = &gap.fix {
            *saved.entry(gap.class.clone()).or_insert(0.0) += gap.count as f64 * (gap.fallback_us - fix.rewritten_us);
        }
    }
    saved
}
