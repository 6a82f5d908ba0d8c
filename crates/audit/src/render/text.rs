//! `--format text`: the report for a terminal, coloured when asked (the
//! CLI asks when stdout is a terminal and NO_COLOR is unset).

use std::fmt::Write;

use super::{check_summary, fix_summary, fix_time, flops, gap_counts, pct, source_of, times, us};
use crate::baseline::Regression;
use crate::report::{Report, Status};

/// The ops table shows this many rows; JSON and HTML list them all.
const OP_ROWS: usize = 25;

struct Paint(bool);

impl Paint {
    fn code(&self, code: &str, text: &str) -> String {
        match self.0 {
            true => format!("\x1b[{code}m{text}\x1b[0m"),
            false => text.to_string(),
        }
    }

    fn bold(&self, text: &str) -> String {
        self.code("1", text)
    }

    fn status(&self, status: Status, width: usize) -> String {
        let text = format!("{:<width$}", status.name());
        match status {
            Status::Cube | Status::Vector => self.code("32", &text),
            Status::AiCpu => self.code("33", &text),
            Status::Unsupported | Status::Unknown => self.code("31", &text),
        }
    }
}

pub fn text(report: &Report, color: bool) -> String {
    let p = Paint(color);
    let mut out = String::new();
    let c = &report.coverage;
    let _ = writeln!(
        out,
        "{}",
        p.bold(&format!(
            "audit of `{}` (graph `{}`) for {} ({})",
            report.model, report.graph, report.target_title, report.target
        ))
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "{}", p.bold("coverage (native: on the Cube or Vector unit)"));
    let _ = writeln!(
        out,
        "  instances  {:>6}  {} of {} op instances",
        pct(c.instances_pct),
        c.native_instances,
        c.instances
    );
    let _ = writeln!(out, "  flops      {:>6}  of {}", pct(c.flops_pct), flops(c.flops));
    let _ = writeln!(
        out,
        "  time       {:>6}  of {} estimated on {} (one kernel per op, before fusion)",
        pct(c.time_pct),
        us(c.time_us),
        report.target
    );
    if report.gaps.iter().any(|g| g.closed) {
        let _ = writeln!(
            out,
            "  fixed      {} with the checked rewrites of the closed gaps (open gaps keep their cost)",
            us(report.time_with_fixes_us)
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "{}", p.bold("ops"));
    let width = report.ops.iter().map(|r| r.op.len()).max().unwrap_or(2).max(2);
    let _ = writeln!(
        out,
        "  {:<width$}  {:<12} {:<11} {:>6} {:>12}  where",
        "op", "class", "status", "count", "time"
    );
    for row in report.ops.iter().take(OP_ROWS) {
        let place = match row.locations.as_slice() {
            [] => String::new(),
            [one] => one.to_string(),
            [first, rest @ ..] => format!("{first} and {} more", rest.len()),
        };
        let _ = writeln!(
            out,
            "  {:<width$}  {:<12} {} {:>6} {:>12}  {place}",
            row.op,
            row.class,
            p.status(row.status, 11),
            row.count,
            us(row.time_us)
        );
    }
    if report.ops.len() > OP_ROWS {
        let _ = writeln!(
            out,
            "  ... {} more ops (--format json or html lists them all)",
            report.ops.len() - OP_ROWS
        );
    }
    let _ = writeln!(out);
    let (open, closed) = gap_counts(report);
    let _ = writeln!(
        out,
        "{}",
        p.bold(&format!(
            "gaps: {open} instance{} nothing closes, {closed} closed by a checked rewrite",
            if open == 1 { "" } else { "s" }
        ))
    );
    for gap in &report.gaps {
        let place = gap
            .location
            .as_ref()
            .map_or_else(|| "(no source location)".to_string(), ToString::to_string);
        let _ = writeln!(
            out,
            "  {} {} at {place}{}",
            p.status(gap.status, 11),
            p.bold(&gap.op),
            times(gap.count)
        );
        let _ = writeln!(out, "      why   {}", gap.why.text);
        let _ = writeln!(out, "            source: {}", source_of(&gap.why));
        match (&gap.fix, gap.closed) {
            (Some(fix), true) => {
                let _ = writeln!(out, "      fix   {}", fix_summary(fix));
                let _ = writeln!(out, "      time  {}", fix_time(gap, fix));
                let _ = writeln!(out, "      check {}", check_summary(fix));
            }
            (Some(fix), false) => {
                let _ = writeln!(
                    out,
                    "      cost  {} each on the {}",
                    us(gap.fallback_us),
                    super::fallback_name(gap.status)
                );
                let _ = writeln!(out, "      fix   {} (not counted: its check failed)", fix_summary(fix));
                let _ = writeln!(out, "      check {}", check_summary(fix));
            }
            (None, _) => {
                let _ = writeln!(
                    out,
                    "      cost  {} each on the {}",
                    us(gap.fallback_us),
                    super::fallback_name(gap.status)
                );
                if let Some(note) = &gap.note {
                    let _ = writeln!(out, "      open  {note}");
                }
            }
        }
    }
    if let Some(m) = &report.migration {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{}",
            p.bold(&format!(
                "migration: {} ({}) -> {} ({}), one kernel per op, before fusion",
                m.source, m.source_title, report.target, report.target_title
            ))
        );
        let fixed = format!("{} fixed", report.target);
        let _ = writeln!(
            out,
            "  {:<12} {:>7} {:>12} {:>12} {:>8} {:>12} {:>8}",
            "class", "kernels", m.source, report.target, "ratio", fixed, "ratio"
        );
        for row in &m.classes {
            let _ = writeln!(
                out,
                "  {:<12} {:>7} {:>12} {:>12} {:>8} {:>12} {:>8}",
                row.class,
                row.kernels,
                us(row.source_us),
                us(row.target_us),
                ratio(row.target_us, row.source_us),
                us(row.target_with_fixes_us),
                ratio(row.target_with_fixes_us, row.source_us)
            );
        }
        let _ = writeln!(
            out,
            "  {:<12} {:>7} {:>12} {:>12} {:>8} {:>12} {:>8}",
            "total",
            "",
            us(m.source_us),
            us(m.target_us),
            ratio(m.target_us, m.source_us),
            us(m.target_with_fixes_us),
            ratio(m.target_with_fixes_us, m.source_us)
        );
        let _ = writeln!(
            out,
            "  ratio: time on {} over time on {} (above 1: the target is slower); fixed: with the checked rewrites of the closed gaps",
            report.target, m.source
        );
    }
    out
}

fn ratio(target: f64, source: f64) -> String {
    match source > 0.0 {
        true => format!("{:.2}x", target / source),
        false => "-".to_string(),
    }
}

/// The regressions against a baseline, for a terminal or a log.
pub fn regressions_text(baseline: &str, regressions: &[Regression]) -> String {
    let mut out = String::new();
    match regressions.len() {
        0 => {
            let _ = writeln!(out, "nothing got worse since `{baseline}`");
        }
        n => {
            let _ = writeln!(out, "{n} thing{} got worse since `{baseline}`:", if n == 1 { "" } else { "s" });
            for r in regressions {
                let _ = writeln!(out, "  {:<8} {}: {} -> {}", r.kind, r.what, r.before, r.now);
            }
        }
    }
    out
}
