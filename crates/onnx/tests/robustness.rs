//! Import never panics: truncated and mutated bytes of valid models give a
//! graph or an error.

mod common;

use common::{f32_tensor, f32_value, i64_tensor, int_attr, node, tensor_attr, value, Model, D, INT64};
use opfuse_onnx::{import, ImportOptions};
use opfuse_ops::Catalog;
use proptest::prelude::*;

/// Loaded once: the proptest below imports thousands of mutants.
fn catalog() -> &'static Catalog {
    static CATALOG: std::sync::OnceLock<Catalog> = std::sync::OnceLock::new();
    CATALOG.get_or_init(|| Catalog::builtin().expect("the built-in catalog loads"))
}

/// A model that touches most of the importer: params, a Constant, constant
/// inputs, an opaque node, value_info.
fn sample() -> Vec<u8> {
    Model::new(13)
        .input(f32_value("x", &[2, 3, 4]))
        .input(value("s", INT64, &[D::N(2)]))
        .init(i64_tensor("axes", &[1], &[1]))
        .init(f32_tensor("w", &[4], &[1.0, 2.0, 3.0, 4.0]))
        .node(node(
            "Constant",
            &[],
            &["c"],
            vec![tensor_attr("value", f32_tensor("", &[1], &[0.5]))],
        ))
        .node(node("Mul", &["x", "w"], &["m"], vec![]))
        .node(node("ReduceSum", &["m", "axes"], &["r"], vec![int_attr("keepdims", 0)]))
        .node(node("Reshape", &["r", "s"], &["y"], vec![]))
        .node(node("Add", &["y", "c"], &["z"], vec![]))
        .info(f32_value("y", &[8]))
        .output(f32_value("z", &[8]))
        .bytes()
}

#[test]
fn every_truncation_fails_cleanly() {
    let bytes = sample();
    assert!(import(&bytes, catalog(), &ImportOptions::default()).is_ok());
    for len in 0..bytes.len() {
        let _ = import(&bytes[..len], catalog(), &ImportOptions::default());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_bytes_never_panic(flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6)) {
        let mut bytes = sample();
        for (at, byte) in flips {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        let _ = import(&bytes, catalog(), &ImportOptions::default());
    }
}
