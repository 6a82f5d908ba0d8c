//! `opfuse audit`: every format for three examples (snapshots), the JSON
//! schema's fields, SARIF against the OASIS SARIF 2.1.0 schema, the CI
//! gates (`--fail-under`, `--baseline`), the migration view, ONNX
//! locations and DeepSeek-V3's audit time.

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

const EXAMPLES: [&str; 3] = ["unsupported_ops", "mlp", "llama_layer"];
const FORMATS: [&str; 5] = ["text", "json", "markdown", "sarif", "html"];

fn audit(args: &[&str]) -> support::Run {
    let mut all = vec!["audit"];
    all.extend(args);
    support::opfuse(&all)
}

fn audit_json(args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["--format", "json"]);
    let run = audit(&all);
    assert_eq!(run.code, 0, "{}", run.transcript());
    serde_json::from_str(&run.stdout).expect("audit --format json is JSON")
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("opfuse-audit-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    dir
}

#[test]
fn every_format_of_three_examples_is_snapshotted() {
    for example in EXAMPLES {
        let file = format!("examples/{example}.opf");
        for format in FORMATS {
            let run = audit(&[&file, "--target", "910b", "--format", format]);
            assert_eq!(run.code, 0, "{example} {format}: {}", run.transcript());
            assert!(!run.stdout.contains("\x1b["), "no colour when stdout is not a terminal");
            let name = format!("audit_{example}_{format}");
            support::snapshot_settings().bind(|| insta::assert_snapshot!(name, run.stdout));
        }
    }
}

#[test]
fn json_has_the_documented_fields() {
    let report = audit_json(&["examples/unsupported_ops.opf", "--target", "910b"]);
    assert_eq!(report["schema"], "opfuse-audit/1");
    assert_eq!(report["target"], "910b");
    let coverage = &report["coverage"];
    for key in ["instances_pct", "flops_pct", "time_pct"] {
        let pct = coverage[key].as_f64().unwrap_or(-1.0);
        assert!((0.0..=100.0).contains(&pct), "{key} = {pct}");
    }
    assert_eq!(coverage["instances"], 12);
    assert_eq!(coverage["native_instances"], 7);
    let ops = report["ops"].as_array().expect("ops");
    let status_of = |op: &str| ops.iter().find(|o| o["op"] == op).map(|o| o["status"].clone());
    assert_eq!(status_of("matmul"), Some("cube".into()));
    assert_eq!(status_of("gather_elements"), Some("ai_cpu".into()));
    assert_eq!(status_of("gelu"), Some("unsupported".into()));
    assert_eq!(status_of("selective_scan"), Some("unknown".into()));
    for op in ops {
        assert!(op["count"].as_u64().unwrap_or(0) >= 1, "{op}");
        assert!(op["locations"].as_array().is_some_and(|l| !l.is_empty()), "{op}");
    }
    let gaps = report["gaps"].as_array().expect("gaps");
    assert_eq!(gaps.len(), 5);
    // The gaps nothing closes come first.
    let closed: Vec<bool> = gaps.iter().map(|g| g["closed"].as_bool().unwrap_or(false)).collect();
    assert_eq!(closed, [false, false, false, true, true]);
    for gap in gaps {
        assert!(gap["location"]["line"].as_u64().is_some(), "{gap}");
        let closes = gap["closed"].as_bool().unwrap_or(false);
        assert_eq!(gap["fix"].is_object(), closes, "{gap}");
        assert_eq!(gap["max_error"].is_number(), closes, "{gap}");
        if closes {
            let fix = &gap["fix"];
            assert!(fix["check"]["passed"].as_bool().unwrap_or(false), "{gap}");
            assert!(fix["check"]["max_error_jit"].is_number() && fix["check"]["max_error_interpreter"].is_number());
            assert!(fix["rewritten_us"].as_f64() < gap["fallback_us"].as_f64(), "{gap}");
            let rewritten: Vec<&str> = fix["ops"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
            assert!(!rewritten.contains(&gap["op"].as_str().unwrap_or("")), "{gap}");
        }
    }
}

/// Validates with Python's `jsonschema` (Draft 4, the schema's own
/// dialect), which `.ci/run` installs when it is missing.
fn validate_sarif(path: &std::path::Path) -> Result<(), String> {
    let script = "import json,sys,jsonschema\n\
schema=json.load(open(sys.argv[1]))\n\
log=json.load(open(sys.argv[2]))\n\
errors=sorted(jsonschema.Draft4Validator(schema).iter_errors(log),key=str)\n\
[print(e.message, list(e.absolute_path)) for e in errors]\n\
sys.exit(1 if errors else 0)\n";
    let schema = support::root().join("tests/fixtures/audit/sarif-schema-2.1.0.json");
    let output = Command::new("python3")
        .args(["-c", script])
        .arg(&schema)
        .arg(path)
        .output()
        .map_err(|e| format!("python3 does not run: {e}"))?;
    match output.status.success() {
        true => Ok(()),
        false => Err(format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )),
    }
}

#[test]
fn sarif_is_valid_against_the_sarif_2_1_0_schema() {
    let dir = temp_dir("sarif");
    let cases: [(&str, &[&str]); 3] = [
        ("unsupported_ops", &["examples/unsupported_ops.opf"]),
        ("llama_layer", &["examples/llama_layer.opf"]),
        ("onnx", &["crates/onnx/tests/fixtures/block_opset17.onnx", "--dim", "batch=2"]),
    ];
    for (name, args) in cases {
        let path = dir.join(format!("{name}.sarif"));
        let path_text = path.to_string_lossy().into_owned();
        let mut all = args.to_vec();
        all.extend(["--format", "sarif", "-o", &path_text]);
        let run = audit(&all);
        assert_eq!(run.code, 0, "{}", run.transcript());
        assert_eq!(run.stdout, "", "-o writes the file, not stdout");
        if let Err(problems) = validate_sarif(&path) {
            panic!("{name}: the SARIF output does not validate:\n{problems}");
        }
        let log: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("written")).expect("JSON");
        assert_eq!(log["version"], "2.1.0");
        let results = log["runs"][0]["results"].as_array().expect("results");
        let gaps = audit_json(args)["gaps"].as_array().map_or(0, Vec::len);
        assert_eq!(results.len(), gaps, "{name}: one result per gap");
        for result in results {
            let physical = &result["locations"][0]["physicalLocation"];
            assert!(physical["artifactLocation"]["uri"].is_string(), "{result}");
        }
    }
    // The check itself can fail: a log without its required `version`.
    let broken = dir.join("broken.sarif");
    std::fs::write(&broken, r#"{"runs": []}"#).expect("write");
    assert!(validate_sarif(&broken).is_err(), "the schema rejects a log without a version");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sarif_results_point_at_the_line_of_each_gap() {
    let run = audit(&["examples/unsupported_ops.opf", "--format", "sarif"]);
    let log: Value = serde_json::from_str(&run.stdout).expect("JSON");
    let regions: Vec<(String, u64, u64)> = log["runs"][0]["results"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            let location = &r["locations"][0]["physicalLocation"];
            (
                r["properties"]["op"].as_str().unwrap_or("").to_string(),
                location["region"]["startLine"].as_u64().unwrap_or(0),
                location["region"]["startColumn"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    // Lines and columns of examples/unsupported_ops.opf.
    assert!(regions.contains(&("gelu".into(), 12, 9)), "{regions:?}");
    assert!(regions.contains(&("selective_scan".into(), 16, 23)), "{regions:?}");
    assert!(regions.contains(&("gather_elements".into(), 21, 14)), "{regions:?}");
}

#[test]
fn fail_under_exits_1_with_a_one_line_reason() {
    let below = audit(&["examples/unsupported_ops.opf", "--fail-under", "60"]);
    assert_eq!(below.code, 1, "{}", below.transcript());
    assert_eq!(below.stdout, "");
    assert_eq!(below.stderr.lines().count(), 1, "{}", below.stderr);
    assert!(below.stderr.contains("58.3%") && below.stderr.contains("60"), "{}", below.stderr);
    let above = audit(&["examples/unsupported_ops.opf", "--fail-under", "58", "--format", "json"]);
    assert_eq!(above.code, 0, "{}", above.transcript());
    let bad = audit(&["examples/unsupported_ops.opf", "--fail-under", "120"]);
    assert_eq!(bad.code, 2, "{}", bad.transcript());
}

#[test]
fn baseline_shows_only_what_got_worse() {
    let dir = temp_dir("baseline");
    let current = audit_json(&["examples/mlp.opf"]);
    let same = dir.join("same.json");
    std::fs::write(&same, current.to_string()).expect("write");
    let run = audit(&["examples/mlp.opf", "--baseline", &same.to_string_lossy()]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert!(run.stdout.starts_with("nothing got worse"), "{}", run.stdout);

    // An earlier state where gelu ran natively and nothing was open.
    let mut better = current.clone();
    better["coverage"]["instances_pct"] = 100.0.into();
    for op in better["ops"].as_array_mut().into_iter().flatten() {
        if op["op"] == "gelu" {
            op["status"] = "vector".into();
        }
    }
    better["gaps"] = Value::Array(Vec::new());
    let old = dir.join("better.json");
    std::fs::write(&old, better.to_string()).expect("write");
    let run = audit(&["examples/mlp.opf", "--baseline", &old.to_string_lossy()]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 3, "{}", run.stderr);
    assert!(
        lines.iter().any(|l| l.contains("instances coverage: 100.00% -> 83.33%")),
        "{}",
        run.stderr
    );
    assert!(lines.iter().any(|l| l.contains("gelu: vector -> unsupported")), "{}", run.stderr);
    // gelu's gap is closed by a checked rewrite, so no open gap got worse.
    assert!(!run.stderr.contains("open"), "{}", run.stderr);

    let garbage = dir.join("garbage.json");
    std::fs::write(&garbage, "{}").expect("write");
    let run = audit(&["examples/mlp.opf", "--baseline", &garbage.to_string_lossy()]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("is not an `opfuse audit --format json` report"),
        "{}",
        run.stderr
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn from_a_gpu_adds_the_time_per_kernel_class_on_both() {
    let run = audit(&["examples/unsupported_ops.opf", "--from", "h100", "--target", "910b"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    let migration = run.stdout.split("migration:").nth(1).unwrap_or_default();
    support::snapshot_settings().bind(|| insta::assert_snapshot!("audit_unsupported_ops_from_h100", migration));
    let report = audit_json(&["examples/llama_layer.opf", "--from", "h100", "--target", "910b"]);
    let m = &report["migration"];
    assert_eq!(m["source"], "h100");
    let classes = m["classes"].as_array().expect("classes");
    let sum = |key: &str| classes.iter().map(|c| c[key].as_f64().unwrap_or(0.0)).sum::<f64>();
    assert!((sum("source_us") - m["source_us"].as_f64().unwrap_or(0.0)).abs() < 1e-6);
    assert!((sum("target_us") - m["target_us"].as_f64().unwrap_or(0.0)).abs() < 1e-6);
    assert!(classes.iter().any(|c| c["class"] == "matmul"));
    let wrong = audit(&["examples/mlp.opf", "--from", "910b"]);
    assert_eq!(wrong.code, 2, "{}", wrong.transcript());
    let gpu_target = audit(&["examples/mlp.opf", "--target", "h100"]);
    assert_eq!(gpu_target.code, 2, "{}", gpu_target.transcript());
}

#[test]
fn onnx_gaps_name_the_node_and_why_it_is_opaque() {
    let run = audit(&["crates/onnx/tests/fixtures/block_opset17.onnx", "--dim", "batch=2"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    support::snapshot_settings().bind(|| insta::assert_snapshot!("audit_onnx_block_text", run.stdout));
    let report = audit_json(&["crates/onnx/tests/fixtures/block_opset17.onnx", "--dim", "batch=2"]);
    let gap = &report["gaps"][0];
    assert_eq!(gap["op"], "FusedThing");
    assert_eq!(gap["status"], "unknown");
    assert_eq!(gap["location"]["node"], 5);
    assert!(gap["why"]["text"].as_str().unwrap_or("").contains("com.example"), "{gap}");
    let matmul = report["ops"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|o| o["op"] == "matmul")
        .expect("matmul");
    assert_eq!(matmul["locations"][0]["name"], "proj");
}

#[test]
fn deepseek_v3_audits_in_under_10_seconds() {
    let started = Instant::now();
    let report = audit_json(&["examples/deepseek_v3.opf", "--target", "910c"]);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert_eq!(report["coverage"]["instances"], 5973);
    let gaps = report["gaps"].as_array().expect("gaps");
    assert!(
        gaps.iter().all(|g| g["closed"] == true),
        "every DeepSeek-V3 gap on 910c has a checked fix"
    );
}
