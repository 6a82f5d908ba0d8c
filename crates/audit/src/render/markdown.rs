//! `--format markdown`: the report as a pull-request comment.

use std::fmt::Write;

use super::{check_summary, fix_summary, fix_time, flops, gap_counts, pct, source_of, times, us};
use crate::report::Report;

/// A table cell: pipes escaped, newlines flattened.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

pub fn markdown(report: &Report) -> String {
    let mut out = String::new();
    let c = &report.coverage;
    let _ = writeln!(
        out,
        "## opfuse audit: `{}` on {} ({})\n",
        cell(&report.model),
        cell(&report.target_title),
        report.target
    );
    let _ = writeln!(out, "| coverage | native | of |");
    let _ = writeln!(out, "|---|---:|---:|");
    let _ = writeln!(
        out,
        "| op instances | {} | {} of {} |",
        pct(c.instances_pct),
        c.native_instances,
        c.instances
    );
    let _ = writeln!(out, "| FLOPs | {} | {} |", pct(c.flops_pct), flops(c.flops));
    let _ = writeln!(out, "| estimated time | {} | {} |", pct(c.time_pct), us(c.time_us));
    if report.gaps.iter().any(|g| g.closed) {
        let _ = writeln!(
            out,
            "\nWith the checked rewrites of the closed gaps the estimated time is {}.",
            us(report.time_with_fixes_us)
        );
    }
    let (open, closed) = gap_counts(report);
    let _ = writeln!(out, "\n### Gaps: {open} open, {closed} closed by a checked rewrite\n");
    if report.gaps.is_empty() {
        let _ = writeln!(out, "Every op runs natively on {}.", report.target);
    } else {
        let _ = writeln!(out, "| op | status | where | why | fix | time each | max error |");
        let _ = writeln!(out, "|---|---|---|---|---|---|---:|");
        for gap in &report.gaps {
            let place = gap
                .location
                .as_ref()
                .map_or_else(String::new, |l| format!("`{}`", cell(&l.to_string())));
            let (fix, time) = match (&gap.fix, gap.closed) {
                (Some(fix), true) => (cell(&fix_summary(fix)), cell(&fix_time(gap, fix))),
                (Some(fix), false) => (format!("check failed: {}", cell(&check_summary(fix))), us(gap.fallback_us)),
                (None, _) => (
                    format!("**none**: {}", cell(gap.note.as_deref().unwrap_or(""))),
                    us(gap.fallback_us),
                ),
            };
            let error = match gap.max_error {
                Some(_) => super::error(gap.max_error),
                None => "-".to_string(),
            };
            let _ = writeln!(
                out,
                "| `{}`{} | {} | {place} | {} ({}) | {fix} | {time} | {error} |",
                cell(&gap.op),
                times(gap.count),
                gap.status,
                cell(&gap.why.text),
                cell(&source_of(&gap.why)),
            );
        }
    }
    let _ = writeln!(out, "\n### Ops\n");
    let _ = writeln!(out, "| op | class | status | count | time |");
    let _ = writeln!(out, "|---|---|---|---:|---:|");
    for row in &report.ops {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} |",
            cell(&row.op),
            row.class,
            row.status,
            row.count,
            us(row.time_us)
        );
    }
    if let Some(m) = &report.migration {
        let _ = writeln!(
            out,
            "\n### Migration: {} -> {} (one kernel per op, before fusion)\n",
            m.source, report.target
        );
        let _ = writeln!(
            out,
            "| class | kernels | {} | {} | ratio | {} fixed |",
            m.source, report.target, report.target
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
        for row in &m.classes {
            let ratio = match row.source_us > 0.0 {
                true => format!("{:.2}x", row.target_us / row.source_us),
                false => "-".into(),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {ratio} | {} |",
                row.class,
                row.kernels,
                us(row.source_us),
                us(row.target_us),
                us(row.target_with_fixes_us)
            );
        }
        let _ = writeln!(
            out,
            "| **total** | | {} | {} | | {} |",
            us(m.source_us),
            us(m.target_us),
            us(m.target_with_fixes_us)
        );
    }
    out
}
