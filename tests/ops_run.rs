//! `opfuse ops` (the catalog and its coverage) and `opfuse run --reference`
//! on model-language and ONNX files.

mod support;

use std::path::PathBuf;

use serde_json::Value;

const CHIPS: [&str; 5] = ["910b", "910c", "950pr", "950dt", "310p"];
const UNITS: [&str; 4] = ["cube", "vector", "ai_cpu", "unsupported"];

fn ops_json(extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["ops", "--format", "json"];
    args.extend(extra);
    let run = support::opfuse(&args);
    assert_eq!(run.code, 0, "{}", run.transcript());
    match serde_json::from_str(&run.stdout) {
        Ok(Value::Array(ops)) => ops,
        other => panic!("ops --format json is not an array: {other:?}"),
    }
}

#[test]
fn ops_json_lists_every_operator_with_its_status_on_every_chip() {
    let ops = ops_json(&[]);
    assert!(ops.len() >= 120, "{} ops", ops.len());
    for op in &ops {
        let name = op["name"].as_str().expect("name is a string");
        assert!(op["class"].is_string(), "{name}");
        assert!(op["onnx"].is_string() || op["onnx"].is_null(), "{name}");
        for chip in CHIPS {
            let unit = op["ascend"][chip].as_str().unwrap_or_default();
            assert!(UNITS.contains(&unit), "{name} on {chip}: {unit:?}");
            assert!(op["ascend_sources"][chip].is_string(), "{name} on {chip}");
        }
    }
    let find = |name: &str| ops.iter().find(|op| op["name"] == name).unwrap_or_else(|| panic!("no `{name}`"));
    assert_eq!(find("matmul")["onnx"], "MatMul");
    assert_eq!(find("matmul")["ascend"]["910b"], "cube");
    assert_eq!(find("rms_norm")["onnx"], "RMSNormalization");
    // No FP8 on 910B/910C (CloudMatrix paper); native on the 950s.
    assert_eq!(find("fp8_quantize")["ascend"]["910b"], "unsupported");
    assert_eq!(find("fp8_quantize")["ascend"]["950pr"], "vector");
}

#[test]
fn ops_target_keeps_one_chip() {
    let ops = ops_json(&["--target", "950dt"]);
    let chips: Vec<&String> = ops
        .iter()
        .flat_map(|op| op["ascend"].as_object().into_iter().flat_map(|m| m.keys()))
        .collect();
    assert!(!chips.is_empty() && chips.iter().all(|c| *c == "950dt"));
    let run = support::opfuse(&["ops", "--target", "910x"]);
    assert_eq!(run.code, 2, "{}", run.transcript());
    assert!(
        run.stderr.contains("the profiles are 910b, 910c, 950pr, 950dt, 310p"),
        "{}",
        run.stderr
    );
}

#[test]
fn ops_text_and_markdown() {
    let text = support::opfuse(&["ops", "--target", "910b"]);
    assert_eq!(text.code, 0, "{}", text.transcript());
    let markdown = support::opfuse(&["ops", "--format", "markdown"]);
    assert_eq!(markdown.code, 0, "{}", markdown.transcript());
    assert!(markdown.stdout.starts_with("# Operator catalog"));
    assert!(markdown
        .stdout
        .contains("| chip | cube | vector | ai_cpu | unsupported | native | assumed |"));
    support::snapshot_settings().bind(|| insta::assert_snapshot!("ops_910b", text.stdout));
}

/// A fresh, empty directory under the target dir for one test's outputs.
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn run_reads_npy_inputs_and_writes_npy_outputs() {
    let out = scratch("run_scale");
    let out_arg = out.to_string_lossy().into_owned();
    let run = support::opfuse(&[
        "run",
        "tests/fixtures/run/scale.opf",
        "--reference",
        "--input",
        "x=tests/fixtures/npy/f32_2x3.npy",
        "--out",
        &out_arg,
    ]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    // relu([[1.5, -2, 0], [3.25, 1e-3, -1e30]]) * 2 - 1, rounded to f32.
    let expected: [f32; 6] = [2.0, -1.0, -1.0, 5.5, 1e-3f32 * 2.0 - 1.0, -1.0];
    let bytes = std::fs::read(out.join("output.npy")).expect("the output file is written");
    assert!(bytes.starts_with(b"\x93NUMPY"));
    let data: Vec<f32> = bytes[bytes.len() - 24..]
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    assert_eq!(data, expected);
}

#[test]
fn run_is_reproducible_from_the_seed() {
    let args = ["run", "tests/fixtures/run/small.opf", "--reference", "--seed", "3"];
    let first = support::opfuse(&args);
    assert_eq!(first.code, 0, "{}", first.transcript());
    assert_eq!(first.stdout, support::opfuse(&args).stdout);
    // Softmax rows sum to one, so the mean of a [2, 4] output is 1/4.
    assert!(first.stdout.contains("mean 0.250000"), "{}", first.stdout);
    let other = support::opfuse(&["run", "tests/fixtures/run/small.opf", "--reference", "--seed", "4"]);
    assert_ne!(first.stdout, other.stdout);
}

#[test]
fn run_imports_onnx() {
    let run = support::opfuse(&[
        "run",
        "crates/onnx/tests/fixtures/block_opset17.onnx",
        "--reference",
        "--dim",
        "batch=2",
    ]);
    // The fixture holds a node of a custom domain: it imports as an opaque
    // node, which the interpreter cannot run, and says so with the reason.
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(run.stderr.contains("an opaque op has no semantics to run"), "{}", run.stderr);
    assert!(run.stderr.contains("note: "), "{}", run.stderr);
}

#[test]
fn run_rejects_bad_inputs_without_writing_anything() {
    let out = scratch("run_bad");
    let out_arg = out.to_string_lossy().into_owned();
    let cases: [(&[&str], i32, &str); 4] = [
        (
            &["--input", "nope=tests/fixtures/npy/f32_2x3.npy"],
            2,
            "the model has no input `nope`; its inputs are `x`",
        ),
        (
            &["--input", "x=tests/fixtures/npy/bool_scalar.npy"],
            1,
            "input `x` is bool[], but the model declares f32[2, 3]",
        ),
        (&["--input", "x=tests/fixtures/run/scale.opf"], 1, "input `x`: "),
        (&["--input", "x=tests/fixtures/npy/missing.npy"], 1, "input `x`: "),
    ];
    for (extra, code, message) in cases {
        let mut args = vec!["run", "tests/fixtures/run/scale.opf", "--reference", "--out", &out_arg];
        args.extend(extra);
        let run = support::opfuse(&args);
        assert_eq!(run.code, code, "{}", run.transcript());
        assert!(run.stderr.contains(message), "{}", run.stderr);
        assert!(run.stdout.is_empty());
        assert!(!out.exists(), "a failed run created {}", out.display());
    }
    let run = support::opfuse(&["run", "tests/fixtures/run/scale.opf", "--reference", "--check"]);
    assert_eq!(run.code, 2, "{}", run.transcript());
}

#[test]
fn run_refuses_models_too_large_to_interpret() {
    let run = support::opfuse(&["run", "examples/deepseek_v3.opf", "--reference"]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(run.stderr.contains("more than the reference interpreter's limit"), "{}", run.stderr);
}

#[test]
fn check_reads_onnx_and_says_why_nodes_are_opaque() {
    let run = support::opfuse(&["check", "crates/onnx/tests/fixtures/block_opset17.onnx", "--dim", "batch=2"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    support::snapshot_settings().bind(|| insta::assert_snapshot!("check_onnx_block", run.stdout));
    let missing = support::opfuse(&["check", "crates/onnx/tests/fixtures/block_opset17.onnx"]);
    assert_eq!(missing.code, 1, "{}", missing.transcript());
    assert!(missing.stderr.contains("batch"), "{}", missing.stderr);
}
