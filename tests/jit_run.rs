//! `opfuse run` through the Cranelift JIT: every peer model and an ONNX
//! model agree with the interpreter (`--check`), the JSON timing report,
//! and what runs through the interpreter is named.

mod support;

use serde_json::Value;

/// Runs `opfuse run FILE --check` with `extra` arguments and expects it to pass.
fn checked(file: &str, extra: &[&str]) -> String {
    let mut args = vec!["run", file, "--check", "--seed", "5"];
    args.extend(extra);
    let run = support::opfuse(&args);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert!(run.stdout.contains("check: every output matches the interpreter"), "{}", run.stdout);
    run.stdout
}

#[test]
fn peer_models_match_the_interpreter_on_one_and_two_threads() {
    let models: [(&str, &[&str]); 6] = [
        ("examples/peers/mlp.opf", &["--dim", "S=9", "--dim", "H=24"]),
        ("examples/peers/ln_chain.opf", &["--dim", "S=7", "--dim", "H=33"]),
        (
            "examples/peers/bert_attention.opf",
            &["--dim", "S=6", "--dim", "H=24", "--dim", "NH=2"],
        ),
        ("examples/peers/resnet_block.opf", &["--dim", "C=3", "--dim", "HW=5"]),
        (
            "examples/peers/gpt_decoder.opf",
            &["--dim", "S=5", "--dim", "H=16", "--dim", "NH=2", "--dim", "L=2"],
        ),
        (
            "examples/peers/llama_layer.opf",
            &["--dim", "S=5", "--dim", "H=32", "--dim", "NH=2", "--dim", "F=40"],
        ),
    ];
    for (file, dims) in models {
        for threads in ["1", "2"] {
            let mut extra = dims.to_vec();
            extra.extend(["--threads", threads]);
            checked(file, &extra);
            let mut library = extra.clone();
            library.extend(["--gemm", "library"]);
            checked(file, &library);
        }
    }
}

#[test]
fn an_onnx_model_runs_through_the_jit_with_its_initializers() {
    let stdout = checked("tests/fixtures/run/small_mlp.onnx", &[]);
    assert!(stdout.contains("y: f32[3, 5, 12]"), "{stdout}");
}

#[test]
fn an_opaque_op_fails_as_under_the_interpreter() {
    let run = support::opfuse(&["run", "crates/onnx/tests/fixtures/block_opset17.onnx", "--dim", "batch=2"]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(run.stderr.contains("an opaque op has no semantics to run"), "{}", run.stderr);
}

#[test]
fn the_report_names_interpreted_ops_and_memory() {
    let stdout = checked("tests/fixtures/run/eye_like_then_relu.opf", &[]);
    assert!(stdout.contains("1 through the interpreter (eye_like)"), "{stdout}");
    assert!(stdout.contains("memory: peak"), "{stdout}");
    // Attention has a JIT path: nothing of the BERT block is interpreted.
    let dims = ["--dim", "S=6", "--dim", "H=24", "--dim", "NH=2"];
    let stdout = checked("examples/peers/bert_attention.opf", &dims);
    assert!(!stdout.contains("through the interpreter"), "{stdout}");
}

#[test]
fn attention_runs_in_the_flash_form_with_its_options() {
    // Causal, grouped-query heads, a boolean key mask, a window, a soft cap,
    // packed [B, S, H * D] operands, and more keys than one tile.
    for file in ["attention_options.opf", "attention_packed.opf"] {
        let path = format!("tests/fixtures/run/{file}");
        let stdout = checked(&path, &[]);
        assert!(!stdout.contains("through the interpreter"), "{file}: {stdout}");
        checked(&path, &["--threads", "1", "--gemm", "library"]);
    }
}

#[test]
fn reductions_and_norms_run_compiled_over_any_axes() {
    for threads in ["1", "2"] {
        let stdout = checked("tests/fixtures/run/reductions.opf", &["--threads", threads]);
        assert!(!stdout.contains("through the interpreter"), "{stdout}");
    }
}

#[test]
fn profile_lists_every_stage() {
    let stdout = checked("tests/fixtures/run/eye_like_then_relu.opf", &["--bench", "3", "--profile"]);
    let profile = stdout.split("profile:").nth(1).unwrap_or_default();
    assert!(profile.contains("interpreter `eye_like`"), "{stdout}");
    assert_eq!(profile.lines().filter(|l| l.contains(" ms ")).count(), 3, "{stdout}");
}

#[test]
fn weight_preprocessing_runs_once() {
    // The folded batch-norm weights of the ResNet block depend on params only.
    let stdout = checked(
        "examples/peers/resnet_block.opf",
        &["--dim", "C=3", "--dim", "HW=5", "--bench", "3"],
    );
    assert!(stdout.contains("on weights alone, run once when the params are bound"), "{stdout}");
}

#[test]
fn bench_json_has_the_timings() {
    let run = support::opfuse(&[
        "run",
        "examples/peers/ln_chain.opf",
        "--dim",
        "S=4",
        "--bench",
        "3",
        "--format",
        "json",
    ]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    let json: Value = serde_json::from_str(&run.stdout).expect("run prints JSON");
    for key in ["compile_ms", "median_ms", "min_ms", "peak_bytes"] {
        assert!(json[key].as_f64().is_some_and(|v| v >= 0.0), "{key} in {json}");
    }
    assert!(json["min_ms"].as_f64() <= json["median_ms"].as_f64());
}

#[test]
fn the_readme_coverage_table_is_the_lowering_s() {
    let run = support::opfuse(&["ops", "--jit", "--format", "markdown"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    let readme = std::fs::read_to_string(support::root().join("README.md")).unwrap_or_default();
    let table = readme
        .split("<!-- jit-coverage:start -->\n")
        .nth(1)
        .and_then(|rest| rest.split("<!-- jit-coverage:end -->").next())
        .unwrap_or_default();
    assert_eq!(
        table, run.stdout,
        "README's JIT coverage table is stale: regenerate it with `opfuse ops --jit --format markdown`"
    );
}
