//! `--baseline old.json`: what got worse since an earlier audit. Coverage
//! that dropped, ops whose status got worse, more instances of an open
//! gap, and gaps a fix no longer closes. Gaps are compared by op and status,
//! not by place, so moving code around is not a regression.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::report::{Report, Status};

/// A coverage figure may move this many points before it counts as worse
/// (the figures are rounded in reports, and time depends on the model).
pub const SLACK_PCT: f64 = 0.01;

/// One thing that got worse.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Regression {
    /// `coverage`, `op` or `gap`.
    pub kind: String,
    pub what: String,
    pub before: String,
    pub now: String,
}

/// Everything that got worse from `old` to `new`, in a stable order.
pub fn regressions(old: &Report, new: &Report) -> Vec<Regression> {
    let mut found = Vec::new();
    let figures = [
        ("instances", old.coverage.instances_pct, new.coverage.instances_pct),
        ("flops", old.coverage.flops_pct, new.coverage.flops_pct),
        ("time", old.coverage.time_pct, new.coverage.time_pct),
    ];
    for (name, before, now) in figures {
        if now < before - SLACK_PCT {
            found.push(Regression {
                kind: "coverage".into(),
                what: format!("{name} coverage"),
                before: format!("{before:.2}%"),
                now: format!("{now:.2}%"),
            });
        }
    }
    let statuses = |report: &Report| -> BTreeMap<String, Status> {
        let mut worst = BTreeMap::new();
        for row in &report.ops {
            let entry = worst.entry(row.op.clone()).or_insert(row.status);
            *entry = (*entry).max(row.status);
        }
        worst
    };
    let (old_status, new_status) = (statuses(old), statuses(new));
    for (op, now) in &new_status {
        if let Some(before) = old_status.get(op).filter(|b| now > b) {
            found.push(Regression {
                kind: "op".into(),
                what: op.clone(),
                before: before.name().into(),
                now: now.name().into(),
            });
        }
    }
    let open = |report: &Report| -> BTreeMap<(String, Status), u64> {
        let mut counts = BTreeMap::new();
        for gap in report.gaps.iter().filter(|g| !g.closed) {
            *counts.entry((gap.op.clone(), gap.status)).or_insert(0) += gap.count;
        }
        counts
    };
    let (old_open, new_open) = (open(old), open(new));
    for ((op, status), &now) in &new_open {
        let before = old_open.get(&(op.clone(), *status)).copied().unwrap_or(0);
        if now > before {
            let closed_before = old.gaps.iter().any(|g| g.closed && &g.op == op && g.status == *status);
            let places: Vec<String> = new
                .gaps
                .iter()
                .filter(|g| !g.closed && &g.op == op && g.status == *status)
                .filter_map(|g| g.location.as_ref().map(ToString::to_string))
                .collect();
            let what = match places.is_empty() {
                true => format!("{op} ({status})"),
                false => format!("{op} ({status}) at {}", places.join(", ")),
            };
            found.push(Regression {
                kind: "gap".into(),
                what,
                before: match closed_before {
                    true => format!("{before} open, a checked fix closed the rest"),
                    false => format!("{before} open"),
                },
                now: format!("{now} open"),
            });
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Coverage, Fact, Gap, OpRow, SCHEMA};

    fn report(instances_pct: f64, gelu: Status, open_gaps: u64) -> Report {
        let fact = Fact {
            text: String::new(),
            source: String::new(),
            source_title: None,
        };
        Report {
            schema: SCHEMA.into(),
            model: "m.opf".into(),
            graph: "m".into(),
            target: "910b".into(),
            target_title: String::new(),
            time_with_fixes_us: 0.0,
            coverage: Coverage {
                instances_pct,
                flops_pct: 100.0,
                time_pct: 100.0,
                instances: 1,
                native_instances: 1,
                flops: 0,
                native_flops: 0,
                time_us: 0.0,
                native_time_us: 0.0,
            },
            ops: vec![OpRow {
                op: "gelu".into(),
                class: "elementwise".into(),
                status: gelu,
                count: 1,
                flops: 0,
                time_us: 0.0,
                fact: fact.clone(),
                locations: vec![],
            }],
            gaps: (0..open_gaps)
                .map(|_| Gap {
                    op: "gelu".into(),
                    status: gelu,
                    location: None,
                    count: 1,
                    why: fact.clone(),
                    fallback_us: 1.0,
                    class: "elementwise".into(),
                    closed: false,
                    fix: None,
                    max_error: None,
                    note: None,
                })
                .collect(),
            kernels: vec![],
            migration: None,
        }
    }

    #[test]
    fn the_same_report_has_no_regressions() {
        let r = report(50.0, Status::AiCpu, 1);
        assert!(regressions(&r, &r).is_empty());
    }

    #[test]
    fn coverage_status_and_open_gaps_that_got_worse_are_found() {
        let old = report(60.0, Status::Vector, 0);
        let new = report(50.0, Status::AiCpu, 2);
        let kinds: Vec<String> = regressions(&old, &new).into_iter().map(|r| r.kind).collect();
        assert_eq!(kinds, ["coverage", "op", "gap"]);
        assert!(regressions(&new, &old).is_empty());
    }
}
