//! Every op instance classified and priced on the target (one kernel per
//! op, as `opfuse estimate` prices a model), summed into the coverage
//! figures, the op table and the per-op kernel times.

use std::collections::BTreeMap;

use opfuse_ascend::{kernel_cost, kernels_of, Bound, KernelCost, Placement, Profile};
use opfuse_ir::VerifiedGraph;
use opfuse_ops::catalog::Source;
use opfuse_ops::{Catalog, Chip};

use crate::classify::classify;
use crate::location::Location;
use crate::report::{Coverage, Fact, KernelGroup, OpRow, Status};

/// One op instance: a node of the graph, where it runs and what it costs.
pub struct Instance {
    pub node: usize,
    pub op: String,
    pub class: String,
    pub status: Status,
    pub fact: Fact,
    pub flops: u128,
    pub cost: KernelCost,
    pub view: bool,
    pub location: Option<Location>,
}

/// Classifies and prices every node of `graph` on `chip`.
pub fn instances(
    graph: &VerifiedGraph,
    catalog: &Catalog,
    sources: &BTreeMap<String, Source>,
    chip: Chip,
    profile: &Profile,
    locations: &[Option<Location>],
    opaque_reasons: &BTreeMap<usize, String>,
) -> Vec<Instance> {
    let kernels = kernels_of(graph, catalog, Some(chip));
    graph
        .nodes
        .iter()
        .zip(kernels)
        .enumerate()
        .map(|(index, (node, kernel))| {
            let (status, fact) = classify(node, catalog, sources, chip, opaque_reasons.get(&index).map(String::as_str));
            let class = match status {
                Status::Unknown => "opaque".to_string(),
                _ => kernel.class.name().to_string(),
            };
            Instance {
                node: index,
                op: node.op.name().to_string(),
                class,
                status,
                fact,
                flops: kernel.flops,
                cost: kernel_cost(profile, &kernel),
                view: kernel.placement == Placement::View,
                location: locations.get(index).cloned().flatten(),
            }
        })
        .collect()
}

fn pct(part: f64, whole: f64) -> f64 {
    match whole > 0.0 {
        true => 100.0 * part / whole,
        false => 100.0,
    }
}

pub fn coverage(instances: &[Instance]) -> Coverage {
    let native = || instances.iter().filter(|i| i.status.is_native());
    let instances_count = instances.len() as u64;
    let native_instances = native().count() as u64;
    let flops: u128 = instances.iter().map(|i| i.flops).sum();
    let native_flops: u128 = native().map(|i| i.flops).sum();
    let time_us: f64 = instances.iter().map(|i| i.cost.time_us).sum();
    let native_time_us: f64 = native().map(|i| i.cost.time_us).sum();
    Coverage {
        instances_pct: pct(native_instances as f64, instances_count as f64),
        flops_pct: pct(native_flops as f64, flops as f64),
        time_pct: pct(native_time_us, time_us),
        instances: instances_count,
        native_instances,
        flops,
        native_flops,
        time_us,
        native_time_us,
    }
}

/// One row per op: gaps first (unknown, unsupported, AI CPU), then native
/// ops, each by time on the target, most first.
pub fn op_rows(instances: &[Instance]) -> Vec<OpRow> {
    let mut rows: BTreeMap<(String, Status), OpRow> = BTreeMap::new();
    for instance in instances {
        let row = rows.entry((instance.op.clone(), instance.status)).or_insert_with(|| OpRow {
            op: instance.op.clone(),
            class: instance.class.clone(),
            status: instance.status,
            count: 0,
            flops: 0,
            time_us: 0.0,
            fact: instance.fact.clone(),
            locations: Vec::new(),
        });
        row.count += 1;
        row.flops += instance.flops;
        row.time_us += instance.cost.time_us;
        if let Some(location) = &instance.location {
            if !row.locations.contains(location) {
                row.locations.push(location.clone());
            }
        }
    }
    let mut rows: Vec<OpRow> = rows.into_values().collect();
    for row in &mut rows {
        row.locations.sort();
    }
    // Native ops share one rank, so they sort by time among themselves.
    let rank = |status: Status| if status.is_native() { Status::Cube } else { status };
    rows.sort_by(|a, b| {
        rank(b.status)
            .cmp(&rank(a.status))
            .then(b.time_us.total_cmp(&a.time_us))
            .then(a.op.cmp(&b.op))
    });
    rows
}

/// Kernels, time and time per bound of one group.
type Tally = (u64, f64, BTreeMap<Bound, f64>);

/// The kernels on the target grouped by op, most time first; views run none.
pub fn kernel_groups(instances: &[Instance]) -> Vec<KernelGroup> {
    let mut groups: BTreeMap<(String, Status), Tally> = BTreeMap::new();
    for instance in instances.iter().filter(|i| !i.view) {
        let group = groups.entry((instance.op.clone(), instance.status)).or_default();
        group.0 += 1;
        group.1 += instance.cost.time_us;
        *group.2.entry(instance.cost.bound).or_default() += instance.cost.time_us;
    }
    let mut groups: Vec<KernelGroup> = groups
        .into_iter()
        .map(|((op, status), (count, time_us, bounds))| KernelGroup {
            op,
            status,
            count,
            time_us,
            bound: bounds
                .into_iter()
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .map_or_else(String::new, |(bound, _)| bound.name().to_string()),
        })
        .collect();
    groups.sort_by(|a, b| b.time_us.total_cmp(&a.time_us).then(a.op.cmp(&b.op)));
    groups
}
