//! The report's renderers, one module per format; each returns the whole
//! output as a string. Figures are rounded the same way everywhere.

mod html;
mod markdown;
mod sarif;
mod text;

pub use html::html;
pub use markdown::markdown;
pub use sarif::sarif;
pub use text::{regressions_text, text};

use crate::baseline::Regression;
use crate::report::{Fix, Gap, Report, Status};

/// `--format json`: the report as data (schema in README.md, "JSON schema").
pub fn json(report: &Report) -> String {
    serde_json::to_string_pretty(report).map_or_else(|e| format!("{{\"error\": \"{e}\"}}\n"), |s| s + "\n")
}

/// The regressions against a baseline as JSON.
pub fn regressions_json(baseline: &str, regressions: &[Regression]) -> String {
    let value = serde_json::json!({ "baseline": baseline, "regressions": regressions });
    serde_json::to_string_pretty(&value).map_or_else(|e| format!("{{\"error\": \"{e}\"}}\n"), |s| s + "\n")
}

/// Microseconds with three significant-ish decimals.
fn us(value: f64) -> String {
    match value {
        v if v >= 1e6 => format!("{:.2} s", v / 1e6),
        v if v >= 1e3 => format!("{:.2} ms", v / 1e3),
        v => format!("{v:.2} us"),
    }
}

fn pct(value: f64) -> String {
    format!("{value:.1}%")
}

fn flops(value: u128) -> String {
    let v = value as f64;
    match v {
        v if v >= 1e12 => format!("{:.2} TFLOP", v / 1e12),
        v if v >= 1e9 => format!("{:.3} GFLOP", v / 1e9),
        v if v >= 1e6 => format!("{:.3} MFLOP", v / 1e6),
        v => format!("{v} FLOP"),
    }
}

fn error(value: Option<f64>) -> String {
    match value {
        None => "not run".to_string(),
        Some(0.0) => "0".to_string(),
        Some(e) => format!("{e:.1e}"),
    }
}

/// How many instances at one place.
fn times(count: u64) -> String {
    match count {
        1 => String::new(),
        n => format!(" (x{n})"),
    }
}

/// One line: the fix's rules and the ops of the rewritten form.
fn fix_summary(fix: &Fix) -> String {
    let rules: Vec<&str> = fix.rules.iter().map(|r| r.name.as_str()).collect();
    let how = match rules.is_empty() {
        true => "the optimizer's rewrites".to_string(),
        false => rules.join(", "),
    };
    format!(
        "{how}: {} ({} kernel{})",
        fix.ops.join(", "),
        fix.kernels,
        if fix.kernels == 1 { "" } else { "s" }
    )
}

/// The time of the fix against the fallback, per instance.
fn fix_time(gap: &Gap, fix: &Fix) -> String {
    let ratio = match fix.rewritten_us > 0.0 {
        true => format!(", {:.1}x faster", gap.fallback_us / fix.rewritten_us),
        false => String::new(),
    };
    format!(
        "{} rewritten against {} on the {}{ratio}",
        us(fix.rewritten_us),
        us(gap.fallback_us),
        fallback_name(gap.status)
    )
}

/// What the gap's time is, as it is now.
fn fallback_name(status: Status) -> &'static str {
    match status {
        Status::AiCpu => "AI CPU fallback",
        _ => "AI CPU (if a custom AI CPU kernel ran it)",
    }
}

fn check_summary(fix: &Fix) -> String {
    let check = &fix.check;
    let verdict = match check.passed {
        true => "agrees",
        false => "NOT verified",
    };
    let mut line = format!(
        "{verdict} on random inputs (seed {}): max error {} (interpreter), {} (JIT), tolerance {:.0e}",
        check.seed,
        error(check.max_error_interpreter),
        error(check.max_error_jit),
        check.tolerance
    );
    if let Some(note) = &check.note {
        line.push_str(&format!("; {note}"));
    }
    line
}

fn source_of(fact: &crate::report::Fact) -> String {
    match (&fact.source_title, fact.source.as_str()) {
        (Some(title), key) => format!("{key}: {title}"),
        (None, "") => "no catalog entry".to_string(),
        (None, key) => key.to_string(),
    }
}

/// Counts for the gap headline: open instances, closed instances.
fn gap_counts(report: &Report) -> (u64, u64) {
    let open = report.gaps.iter().filter(|g| !g.closed).map(|g| g.count).sum();
    let closed = report.gaps.iter().filter(|g| g.closed).map(|g| g.count).sum();
    (open, closed)
}
