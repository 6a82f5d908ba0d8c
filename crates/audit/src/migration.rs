//! `--from GPU`: the model's estimated time on the source GPU (a roofline
//! profile of `ops/chips.toml`) beside the target, per kernel class, one
//! kernel per op on both, so the engineer sees where the move loses time.

use std::collections::BTreeMap;

use opfuse_ascend::{estimate_graph, Profile};
use opfuse_ir::VerifiedGraph;
use opfuse_ops::Catalog;

use crate::coverage::Instance;
use crate::report::{ClassTime, Migration};

pub fn migration(graph: &VerifiedGraph, catalog: &Catalog, source: &Profile, target: &[Instance]) -> Migration {
    let on_source = estimate_graph(graph, catalog, source);
    let mut classes: BTreeMap<String, ClassTime> = BTreeMap::new();
    for (instance, kernel) in target.iter().zip(&on_source.kernels) {
        if instance.view {
            continue;
        }
        let row = classes.entry(instance.class.clone()).or_insert_with(|| ClassTime {
            class: instance.class.clone(),
            kernels: 0,
            source_us: 0.0,
            target_us: 0.0,
        });
        row.kernels += 1;
        row.source_us += kernel.cost.time_us;
        row.target_us += instance.cost.time_us;
    }
    let mut classes: Vec<ClassTime> = classes.into_values().collect();
    classes.sort_by(|a, b| b.target_us.total_cmp(&a.target_us).then(a.class.cmp(&b.class)));
    Migration {
        source: source.name.clone(),
        source_title: source.title().to_string(),
        source_us: on_source.total_us(),
        target_us: target.iter().map(|i| i.cost.time_us).sum(),
        classes,
    }
}
