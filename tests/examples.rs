//! Every example checks cleanly; its summary and JSON are snapshotted, and
//! the published parameter counts hold.

mod support;

use serde_json::Value;

#[test]
fn examples_check_cleanly() {
    support::snapshot_settings().bind(|| {
        insta::glob!("../examples", "*.opf", |path| {
            let file = support::relative(path);
            let run = support::opfuse(&["check", &file]);
            assert_eq!(run.code, 0, "{file}:\n{}", run.transcript());
            insta::assert_snapshot!("check", run.stdout);
        });
    });
}

fn summary(file: &str, extra: &[&str]) -> Value {
    let mut args = vec!["check", file, "--format", "json"];
    args.extend(extra);
    let run = support::opfuse(&args);
    assert_eq!(run.code, 0, "{}", run.transcript());
    serde_json::from_str(&run.stdout).expect("check --format json prints JSON")
}

#[test]
fn parameter_counts_match_the_published_models() {
    // LLaMA-7B: 6.74 B (Touvron et al., 2023, table 2 lists 6.7B; the exact
    // count of the released weights is 6,738,415,616).
    assert_eq!(summary("examples/llama_7b.opf", &[])["params"], 6_738_415_616u64);
    // BERT-base: 110M in the paper, 109,482,240 in the released weights.
    assert_eq!(summary("examples/bert_base.opf", &[])["params"], 109_482_240u64);
    // DeepSeek-V3: 671B total parameters in the main model.
    let deepseek = summary("examples/deepseek_v3.opf", &[]);
    let params = deepseek["params"].as_u64().expect("params is a number");
    assert!((670_000_000_000..672_000_000_000).contains(&params), "{params}");
}

#[test]
fn json_summary_has_the_documented_keys() {
    let json = summary("examples/mlp.opf", &[]);
    for key in [
        "nodes",
        "params",
        "param_bytes",
        "flops",
        "activation_bytes",
        "classes",
        "ops",
        "inputs",
        "outputs",
    ] {
        assert!(json.get(key).is_some(), "missing `{key}` in {json}");
    }
    // MLP: two matmuls of 2*S*H*F each, one FLOP per element of the bias
    // adds and the residual, and five per element of the erf GELU
    // (x / sqrt 2, erf, + 1, * x, * 0.5).
    let (s, h, f) = (128u64, 768u64, 3072u64);
    let expected = 2 * (2 * s * h * f) + s * f + 5 * s * f + s * h * 2;
    assert_eq!(json["flops"], expected);
    assert_eq!(json["param_bytes"], 4 * (2 * h * f + h + f));
}

#[test]
fn dims_can_be_overridden_and_entries_chosen() {
    let json = summary("examples/mlp.opf", &["--dim", "S=4", "--dim", "H=16"]);
    assert_eq!(json["inputs"][0]["type"], "f32[1, 4, 16]");
    let json = summary("examples/resnet_block.opf", &["--entry", "conv_bn"]);
    assert_eq!(json["graph"], "conv_bn");
    assert_eq!(json["params"], 64 * 64 * 9 + 4 * 64);
}

#[test]
fn emitted_ir_checks_to_the_same_summary() {
    let dir = std::env::temp_dir().join(format!("opfuse-ir-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    for example in [
        "examples/llama_layer.opf",
        "examples/resnet_block.opf",
        "examples/unsupported_ops.opf",
    ] {
        let ir = support::opfuse(&["check", example, "--emit", "ir"]);
        assert_eq!(ir.code, 0, "{}", ir.transcript());
        let printed = dir.join("printed.opf");
        std::fs::write(&printed, &ir.stdout).expect("write IR");
        let printed = printed.to_string_lossy().into_owned();
        let again = support::opfuse(&["check", &printed, "--emit", "ir"]);
        assert_eq!(again.stdout, ir.stdout, "printing is not a fixed point for {example}");
        let (a, b) = (summary(example, &[]), summary(&printed, &[]));
        for key in ["nodes", "params", "flops", "activation_bytes"] {
            assert_eq!(a[key], b[key], "{example}: `{key}` differs after printing");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
