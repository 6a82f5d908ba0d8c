//! `--format sarif`: SARIF 2.1.0 for CI code scanning, one result per gap
//! with its physical location (the file, and the line and column of an
//! `.opf` op; an ONNX node's position and name go in a logical location).
//! The output is validated against the OASIS schema in `tests/audit.rs`.

use serde_json::{json, Value};

use super::{check_summary, fix_summary, fix_time, source_of, times, us};
use crate::report::{Gap, Report, Status};

const SCHEMA_URI: &str = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

/// One rule per kind of gap.
const RULES: [(Status, &str, &str); 3] = [
    (Status::AiCpu, "OPF-AICPU", "The op falls back to the AI CPU on the target chip."),
    (Status::Unsupported, "OPF-UNSUPPORTED", "The target chip does not support the op."),
    (Status::Unknown, "OPF-UNKNOWN", "The operator catalog does not know the op."),
];

pub fn sarif(report: &Report, version: &str) -> String {
    let rules: Vec<Value> = RULES
        .iter()
        .map(|(status, id, text)| {
            json!({
                "id": id,
                "name": status.name(),
                "shortDescription": { "text": text },
            })
        })
        .collect();
    let results: Vec<Value> = report.gaps.iter().map(|gap| result(report, gap)).collect();
    let log = json!({
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "opfuse",
                "version": version,
                "rules": rules,
            }},
            "properties": {
                "target": report.target,
                "instancesPct": report.coverage.instances_pct,
                "flopsPct": report.coverage.flops_pct,
                "timePct": report.coverage.time_pct,
            },
            "results": results,
        }],
    });
    serde_json::to_string_pretty(&log).map_or_else(|e| format!("{{\"error\": \"{e}\"}}\n"), |s| s + "\n")
}

fn result(report: &Report, gap: &Gap) -> Value {
    let index = RULES.iter().position(|(s, ..)| *s == gap.status).unwrap_or(0);
    let rule_id = RULES.get(index).map_or("OPF-UNKNOWN", |r| r.1);
    let level = match (gap.closed, gap.status) {
        (true, _) => "note",
        (false, Status::AiCpu) => "warning",
        (false, _) => "error",
    };
    let mut message = format!("`{}`{}: {} ({}).", gap.op, times(gap.count), gap.why.text, source_of(&gap.why));
    match (&gap.fix, gap.closed) {
        (Some(fix), true) => message.push_str(&format!(
            " Closed by {}; {}; {}.",
            fix_summary(fix),
            fix_time(gap, fix),
            check_summary(fix)
        )),
        _ => message.push_str(&format!(
            " Nothing closes it: {}. It costs {} each on the {}.",
            gap.note.as_deref().unwrap_or("its rewrite failed its check"),
            us(gap.fallback_us),
            super::fallback_name(gap.status)
        )),
    }
    let file = gap.location.as_ref().map_or(report.model.as_str(), |l| l.file.as_str());
    let mut physical = json!({ "artifactLocation": { "uri": file } });
    if let Some((line, column)) = gap.location.as_ref().and_then(|l| l.line.zip(l.column)) {
        physical["region"] = json!({ "startLine": line, "startColumn": column });
    }
    let mut location = json!({ "physicalLocation": physical });
    if let Some(node) = gap.location.as_ref().and_then(|l| l.node) {
        let name = gap
            .location
            .as_ref()
            .and_then(|l| l.name.clone())
            .unwrap_or_else(|| format!("node #{node}"));
        location["logicalLocations"] = json!([{ "name": name, "fullyQualifiedName": format!("graph.node[{node}]"), "kind": "object" }]);
    }
    json!({
        "ruleId": rule_id,
        "ruleIndex": index,
        "level": level,
        "message": { "text": message },
        "locations": [location],
        "properties": {
            "op": gap.op,
            "status": gap.status.name(),
            "count": gap.count,
            "closed": gap.closed,
            "fallbackUs": gap.fallback_us,
            "maxError": gap.max_error,
        },
    })
}
