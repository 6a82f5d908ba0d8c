//! `opfuse estimate`: per-kernel and LLM-phase estimates on chip profiles,
//! the profile listing, and the GEMM calibration against published 910B times.

mod support;

use serde_json::Value;

fn json(args: &[&str]) -> Value {
    let mut all = vec!["estimate"];
    all.extend(args);
    all.extend(["--format", "json"]);
    let run = support::opfuse(&all);
    assert_eq!(run.code, 0, "{}", run.transcript());
    serde_json::from_str(&run.stdout).expect("estimate --format json is JSON")
}

#[test]
fn estimate_reports_every_kernel_and_totals() {
    let report = json(&["examples/mlp.opf", "--chip", "910b"]);
    assert_eq!(report["chip"], "910b");
    let kernels = report["kernels"].as_array().expect("kernels");
    assert_eq!(kernels.len(), 6);
    let sum: f64 = kernels.iter().map(|k| k["time_us"].as_f64().unwrap_or(0.0)).sum();
    let total = report["total_us"].as_f64().unwrap_or(0.0);
    assert!((sum - total).abs() < 1e-2, "{sum} vs {total}");
    assert!(report["flops"].as_u64().unwrap_or(0) > 0 && report["hbm_bytes"].as_u64().unwrap_or(0) > 0);
    let text = support::opfuse(&["estimate", "examples/llama_layer.opf", "--chip", "910b"]);
    assert_eq!(text.code, 0, "{}", text.transcript());
    support::snapshot_settings().bind(|| insta::assert_snapshot!("estimate_llama_layer_910b", text.stdout));
}

#[test]
fn fallback_ops_are_priced_on_the_ai_cpu() {
    let report = json(&["examples/unsupported_ops.opf", "--chip", "910b"]);
    let bounds: Vec<&str> = report["kernels"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|k| k["bound"].as_str())
        .collect();
    assert!(bounds.contains(&"ai_cpu"), "{bounds:?}");
}

#[test]
fn decode_is_bandwidth_bound_and_reports_the_cache() {
    let report = json(&[
        "examples/llama_7b.opf",
        "--chip",
        "910b",
        "--phase",
        "decode",
        "--context",
        "2048",
        "--batch",
        "4",
    ]);
    // 32 layers x (K + V) x 4096 x 2 bytes per token, for 4 x 2048 tokens.
    assert_eq!(report["kv_cache_bytes"].as_u64(), Some(32 * 2 * 4096 * 2 * 4 * 2048));
    assert_eq!(report["attention_sites"].as_u64(), Some(32));
    assert_eq!(report["fits"], true);
    let tpot = report["tpot_ms"].as_f64().unwrap_or(0.0);
    // Reading 13.5 GB of weights at 1.6 TB/s takes 8.4 ms; the padded M = 4
    // GEMMs, the cache and launches add to it.
    assert!(tpot > 8.4 && tpot < 40.0, "{tpot}");
    let prefill = json(&["examples/deepseek_v3.opf", "--chip", "910b", "--phase", "prefill", "--seq", "64"]);
    assert_eq!(prefill["fits"], false);
    assert_eq!(prefill["chips_needed"].as_u64(), Some(21));
    assert!(prefill["ttft_ms"].as_f64().unwrap_or(0.0) > 0.0);
}

#[test]
fn compare_recommends_a_chip_per_phase() {
    let run = support::opfuse(&[
        "estimate",
        "examples/llama_7b.opf",
        "--compare",
        "910b,950pr,950dt,h100",
        "--seq",
        "2048",
        "--context",
        "4096",
    ]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    support::snapshot_settings().bind(|| insta::assert_snapshot!("estimate_compare_llama_7b", run.stdout));
}

#[test]
fn list_chips_gives_every_figure_a_source() {
    let run = support::opfuse(&["estimate", "--list-chips"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    for chip in ["910b", "910c", "950pr", "950dt", "310p", "h100", "h20"] {
        assert!(run.stdout.contains(&format!("{chip} (")), "{chip}");
    }
    support::snapshot_settings().bind(|| insta::assert_snapshot!("estimate_list_chips", run.stdout));
}

#[test]
fn bad_usage_exits_2() {
    for (args, message) in [
        (
            vec!["estimate", "examples/mlp.opf", "--chip", "910x"],
            "`910x` is not a chip profile",
        ),
        (
            vec!["estimate", "examples/mlp.opf", "--phase", "decode", "--context", "x"],
            "invalid value 'x'",
        ),
        (
            vec!["estimate", "examples/resnet_block.opf", "--phase", "prefill", "--seq", "8"],
            "must declare",
        ),
    ] {
        let run = support::opfuse(&args);
        assert_eq!(run.code, 2, "{}", run.transcript());
        assert!(run.stderr.contains(message), "{}", run.stderr);
    }
    let missing = support::opfuse(&["estimate", "no/such/file.opf"]);
    assert_eq!(missing.code, 1, "{}", missing.transcript());
}

/// Estimate / published time for the PTO-ISA GEMM sample on 910B
/// (fp16, m = k = n); the README's calibration table. 7680 is in-sample: the
/// MTE2 rate of the 910B profile is derived from it.
#[test]
fn gemm_calibration_against_published_910b_times() {
    for (size, published_us, low, high) in [
        ("1536", 38.8, 0.6, 1.0),
        ("3072", 206.7, 0.85, 1.15),
        ("6144", 1506.0, 0.85, 1.15),
        ("7680", 3168.0, 0.9, 1.1),
    ] {
        let dim = format!("M={size}");
        let report = json(&["tests/fixtures/estimate/gemm.opf", "--chip", "910b", "--dim", &dim]);
        let ratio = report["total_us"].as_f64().unwrap_or(0.0) / published_us;
        assert!(ratio > low && ratio < high, "m=k=n={size}: estimate/published = {ratio:.2}");
    }
}
