//! Native stages through `opfuse run`: every fixture in
//! `tests/fixtures/run/native/` matches the interpreter (`--check`), and its
//! ops run as native stages, none through the interpreter.

mod support;

/// Each fixture and the ops it exercises.
const FIXTURES: [(&str, &[&str]); 24] = [
    ("gather.opf", &["gather", "index_select", "embedding", "gather_elements"]),
    ("top_k.opf", &["top_k", "sort", "argsort", "argmax", "argmin"]),
    ("stack.opf", &["stack"]),
    ("pad.opf", &["pad"]),
    ("remap.opf", &["tile", "reverse", "roll"]),
    ("trilu.opf", &["trilu"]),
    ("depth_to_space.opf", &["depth_to_space", "space_to_depth"]),
    ("cumsum.opf", &["cumsum"]),
    ("one_hot.opf", &["one_hot"]),
    ("pool.opf", &["max_pool", "avg_pool", "lp_pool"]),
    (
        "pool_nd.opf",
        &[
            "max_pool",
            "avg_pool",
            "global_avg_pool",
            "global_max_pool",
            "global_lp_pool",
            "adaptive_avg_pool",
            "adaptive_max_pool",
        ],
    ),
    (
        "norm.opf",
        &[
            "batch_norm",
            "instance_norm",
            "group_norm",
            "lp_normalization",
            "hardmax",
            "mean_variance_normalization",
        ],
    ),
    ("rotary.opf", &["rotary_embedding"]),
    (
        "pointwise_trig.opf",
        &["acos", "acosh", "asin", "asinh", "atan", "atanh", "cosh", "sinh", "tan"],
    ),
    (
        "pointwise_bits.opf",
        &["bitwise_not", "bitwise_and", "bitwise_or", "bitwise_xor", "bit_shift"],
    ),
    ("pointwise_mod.opf", &["mod", "bitwise_not", "cast_like"]),
    ("pointwise_cast.opf", &["cast_like"]),
    (
        "layout_index.opf",
        &["shape", "size", "reverse_sequence", "gather_nd", "scatter_elements", "scatter_nd"],
    ),
    ("resize.opf", &["resize"]),
    ("conv_transpose.opf", &["conv_transpose"]),
    ("conv.opf", &["conv"]),
    ("einsum.opf", &["einsum"]),
    ("grouped_matmul.opf", &["grouped_matmul"]),
    ("matmul_integer.opf", &["matmul_integer"]),
];

/// `opfuse run FILE --check --profile`, expected to pass; its stdout.
fn checked(file: &str) -> String {
    let path = format!("tests/fixtures/run/native/{file}");
    let run = support::opfuse(&["run", &path, "--check", "--profile", "--seed", "5", "--threads", "1"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert!(
        run.stdout.contains("check: every output matches the interpreter"),
        "{file}: {}",
        run.stdout
    );
    run.stdout
}

#[test]
fn native_ops_match_the_interpreter_without_it() {
    for (file, ops) in FIXTURES {
        let stdout = checked(file);
        assert!(!stdout.contains("through the interpreter"), "{file}: {stdout}");
        for op in ops {
            assert!(stdout.contains(&format!("native `{op}`")), "{file}: `{op}` is not native\n{stdout}");
        }
    }
}
