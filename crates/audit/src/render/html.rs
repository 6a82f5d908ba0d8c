//! `--format html`: one self-contained page (inline CSS, script and SVG; no
//! network): the summary, the gaps, a sortable op table and a chart of the
//! time per kernel group on the target.

use std::fmt::Write;

use super::{check_summary, fix_summary, fix_time, flops, gap_counts, pct, source_of, times, us};
use crate::report::{Report, Status};

/// Kernel groups drawn in the chart.
const CHART_BARS: usize = 20;

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn colour(status: Status) -> &'static str {
    match status {
        Status::Cube => "#2b7a3d",
        Status::Vector => "#4caf50",
        Status::AiCpu => "#e0a100",
        Status::Unsupported => "#c62828",
        Status::Unknown => "#8e24aa",
    }
}

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}\
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}\
.cards{display:flex;gap:1em;flex-wrap:wrap}.card{border:1px solid #ddd;border-radius:6px;padding:.6em 1em;min-width:12em}\
.card b{font-size:1.6em;display:block}table{border-collapse:collapse;width:100%}\
th,td{border-bottom:1px solid #e4e4e4;padding:.3em .5em;text-align:left;vertical-align:top}\
th{cursor:pointer;background:#f6f6f6;user-select:none}th[aria-sort=ascending]::after{content:' \\25B2'}\
th[aria-sort=descending]::after{content:' \\25BC'}td.n{text-align:right;font-variant-numeric:tabular-nums}\
.s{font-weight:600}.gap{border-left:4px solid #c62828;padding:.2em .8em;margin:.6em 0}.gap.closed{border-color:#4caf50}\
code{background:#f3f3f3;padding:0 .2em}small{color:#666}";

/// Sorts a table when one of its headers is clicked: numbers by their
/// `data-v`, the rest as text (code point order); a second click reverses.
const SCRIPT: &str = "document.querySelectorAll('table.sortable').forEach(function(table){\
var heads=table.querySelectorAll('th');heads.forEach(function(th,col){th.addEventListener('click',function(){\
var asc=th.getAttribute('aria-sort')!=='ascending';heads.forEach(function(h){h.removeAttribute('aria-sort');});\
th.setAttribute('aria-sort',asc?'ascending':'descending');var body=table.tBodies[0];\
var rows=Array.prototype.slice.call(body.rows);var numeric=th.hasAttribute('data-numeric');\
rows.sort(function(a,b){var x=a.cells[col],y=b.cells[col];var d=numeric?\
(parseFloat(x.getAttribute('data-v'))-parseFloat(y.getAttribute('data-v'))):\
(x.textContent<y.textContent?-1:x.textContent>y.textContent?1:0);return asc?d:-d;});\
rows.forEach(function(r){body.appendChild(r);});});});});";

pub fn html(report: &Report) -> String {
    let mut out = String::new();
    let c = &report.coverage;
    let title = format!("opfuse audit: {} on {}", report.model, report.target);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        escape(&title)
    );
    let _ = writeln!(
        out,
        "<h1>opfuse audit: <code>{}</code> on {} ({})</h1>",
        escape(&report.model),
        escape(&report.target_title),
        escape(&report.target)
    );
    let _ = writeln!(out, "<div class=\"cards\" id=\"summary\">");
    let cards = [
        (
            "op instances native",
            pct(c.instances_pct),
            format!("{} of {}", c.native_instances, c.instances),
        ),
        ("FLOPs native", pct(c.flops_pct), format!("of {}", flops(c.flops))),
        (
            "estimated time native",
            pct(c.time_pct),
            format!("of {} (one kernel per op)", us(c.time_us)),
        ),
        (
            "estimated time, closed gaps fixed",
            us(report.time_with_fixes_us),
            "with the checked rewrites; open gaps keep their cost".to_string(),
        ),
    ];
    for (label, figure, detail) in cards {
        let _ = writeln!(
            out,
            "<div class=\"card\"><b>{figure}</b>{label}<br><small>{}</small></div>",
            escape(&detail)
        );
    }
    let _ = writeln!(out, "</div>");
    let (open, closed) = gap_counts(report);
    let _ = writeln!(out, "<h2>Gaps: {open} open, {closed} closed by a checked rewrite</h2>");
    if report.gaps.is_empty() {
        let _ = writeln!(out, "<p>Every op runs natively on {}.</p>", escape(&report.target));
    }
    for gap in &report.gaps {
        let class = if gap.closed { "gap closed" } else { "gap" };
        let place = gap
            .location
            .as_ref()
            .map_or_else(|| "no source location".to_string(), ToString::to_string);
        let _ = writeln!(
            out,
            "<div class=\"{class}\"><span class=\"s\" style=\"color:{}\">{}</span> <code>{}</code>{} at <code>{}</code><br>",
            colour(gap.status),
            gap.status,
            escape(&gap.op),
            times(gap.count),
            escape(&place)
        );
        let _ = writeln!(
            out,
            "why: {} <small>({})</small><br>",
            escape(&gap.why.text),
            escape(&source_of(&gap.why))
        );
        match (&gap.fix, gap.closed) {
            (Some(fix), true) => {
                let _ = writeln!(
                    out,
                    "fix: {}<br>time: {}<br>check: {}",
                    escape(&fix_summary(fix)),
                    escape(&fix_time(gap, fix)),
                    escape(&check_summary(fix))
                );
            }
            (Some(fix), false) => {
                let _ = writeln!(out, "open: a rewrite failed its check: {}", escape(&check_summary(fix)));
            }
            (None, _) => {
                let _ = writeln!(
                    out,
                    "open: {} <br>cost: {} each on the {}",
                    escape(gap.note.as_deref().unwrap_or("")),
                    us(gap.fallback_us),
                    super::fallback_name(gap.status)
                );
            }
        }
        let _ = writeln!(out, "</div>");
    }
    let _ = writeln!(out, "<h2>Ops</h2>\n<p><small>Click a column to sort.</small></p>");
    let _ = writeln!(
        out,
        "<table class=\"sortable\" id=\"ops\"><thead><tr><th>op</th><th>class</th><th>status</th>\
<th data-numeric>count</th><th data-numeric>time (us)</th><th>where</th></tr></thead><tbody>"
    );
    for row in &report.ops {
        let place = match row.locations.as_slice() {
            [] => String::new(),
            [one] => one.to_string(),
            [first, rest @ ..] => format!("{first} and {} more", rest.len()),
        };
        let _ = writeln!(
            out,
            "<tr><td><code>{}</code></td><td>{}</td><td style=\"color:{}\">{}</td><td class=\"n\" data-v=\"{}\">{}</td>\
<td class=\"n\" data-v=\"{}\">{:.2}</td><td>{}</td></tr>",
            escape(&row.op),
            escape(&row.class),
            colour(row.status),
            row.status,
            row.count,
            row.count,
            row.time_us,
            row.time_us,
            escape(&place)
        );
    }
    let _ = writeln!(out, "</tbody></table>");
    let _ = writeln!(
        out,
        "<h2>Estimated time per kernel on {}</h2>\n<p><small>One kernel per op instance, grouped by op; the {} slowest groups.</small></p>",
        escape(&report.target),
        CHART_BARS.min(report.kernels.len())
    );
    out.push_str(&chart(report));
    if let Some(m) = &report.migration {
        let _ = writeln!(
            out,
            "<h2>Migration: {} to {}</h2>\n<table class=\"sortable\" id=\"migration\"><thead><tr><th>class</th>\
<th data-numeric>kernels</th><th data-numeric>{} (us)</th><th data-numeric>{} (us)</th><th data-numeric>ratio</th><th data-numeric>{} fixed (us)</th></tr></thead><tbody>",
            escape(&m.source),
            escape(&report.target),
            escape(&m.source),
            escape(&report.target),
            escape(&report.target)
        );
        for row in &m.classes {
            let ratio = if row.source_us > 0.0 { row.target_us / row.source_us } else { 0.0 };
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td class=\"n\" data-v=\"{}\">{}</td><td class=\"n\" data-v=\"{}\">{:.2}</td>\
<td class=\"n\" data-v=\"{}\">{:.2}</td><td class=\"n\" data-v=\"{ratio}\">{ratio:.2}x</td>\
<td class=\"n\" data-v=\"{}\">{:.2}</td></tr>",
                escape(&row.class),
                row.kernels,
                row.kernels,
                row.source_us,
                row.source_us,
                row.target_us,
                row.target_us,
                row.target_with_fixes_us,
                row.target_with_fixes_us
            );
        }
        let _ = writeln!(
            out,
            "</tbody></table>\n<p>Total: {} on {}, {} on {}, {} with the closed gaps fixed.</p>",
            us(m.source_us),
            escape(&m.source),
            us(m.target_us),
            escape(&report.target),
            us(m.target_with_fixes_us)
        );
    }
    let _ = write!(out, "<script>{SCRIPT}</script>\n</body>\n</html>\n");
    out
}

/// Horizontal bars, one per kernel group, coloured by status.
fn chart(report: &Report) -> String {
    let bars: Vec<_> = report.kernels.iter().take(CHART_BARS).collect();
    let (label_w, bar_w, row_h) = (220.0, 560.0, 22.0);
    let height = row_h * bars.len() as f64 + 10.0;
    let longest = bars.iter().map(|k| k.time_us).fold(0.0, f64::max);
    let mut out = format!(
        "<svg id=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height}\" role=\"img\" aria-label=\"time per kernel\">\n",
        label_w + bar_w + 120.0
    );
    for (row, kernel) in bars.iter().enumerate() {
        let y = row as f64 * row_h + 5.0;
        let width = if longest > 0.0 {
            (kernel.time_us / longest * bar_w).max(1.0)
        } else {
            1.0
        };
        let _ = writeln!(
            out,
            "<text x=\"{:.0}\" y=\"{:.1}\" text-anchor=\"end\" font-size=\"12\">{} x{}</text>\
<rect x=\"{label_w}\" y=\"{y:.1}\" width=\"{width:.1}\" height=\"{:.1}\" fill=\"{}\"><title>{}: {} ({}, {}-bound)</title></rect>\
<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\">{}</text>",
            label_w - 6.0,
            y + 14.0,
            escape(&kernel.op),
            kernel.count,
            row_h - 6.0,
            colour(kernel.status),
            escape(&kernel.op),
            us(kernel.time_us),
            kernel.status,
            escape(&kernel.bound),
            label_w + width + 6.0,
            y + 14.0,
            us(kernel.time_us)
        );
    }
    out.push_str("</svg>\n");
    out
}
