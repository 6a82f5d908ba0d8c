//! `--from GPU`: the model's estimated time on the source GPU (a roofline
//! profile of `ops/chips.toml`) beside the target, per kernel class, one
//! kernel per op on both, so the engineer sees where the move loses time.

use std::collections::BTreeMap;

use opfuse_ascend::{estimate_graph, Profile};
use opfuse_ir::VerifiedGraph;
use opfuse_ops::Catalog;

use crate::coverage::Instance;
use crate::report::{ClassTime, Migration};

/// `savings`: what the checked fixes save on the target, per class.
pub fn migration(
    graph: &VerifiedGraph,
    catalog: &Catalog,
    source: &Profile,
    target: &[Instance],
    savings: &BTreeMap<String, f64>,
) -> Migration {
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
            target_with_fixes_us: 0.0,
        });
        row.kernels += 1;
        row.source_us += kernel.cost.time_us;
        row.target_us += instance.cost.time_us;
    }
    for (class, row) in classes.iter_mut() {
        row.target_with_fixes_us = row.target_us - savings.get(class).copied().unwrap_or(0.0);
    }
    let mut classes: Vec<ClassTime> = classes.into_values().collect();
    classes.sort_by(|a, b| b.target_us.total_cmp(&a.target_us).then(a.class.cmp(&b.class)));
    let target_us: f64 = target.iter().map(|i| i.cost.time_us).sum();
    Migration {
        source: source.name.clone(),
        source_title: source.title().to_string(),
        source_us: on_source.total_us(),
        target_us,
        target_with_fixes_us: target_us - savings.values().sum::<f64>(),
        classes,
    }
}
