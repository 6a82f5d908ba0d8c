//! `opfuse opt`: the optimized graph computes what the original computes
//! (reference interpreter, small dims and random graphs), and snapshots of
//! the kernels each example fuses into.

mod support;

use std::collections::BTreeMap;

use opfuse_egraph::{optimize, AscendModel, CpuRoofline, Limits};
use opfuse_ir::{verify, Attr, Attrs, DType, Graph, Op, TensorType, ValueId, VerifiedGraph};
use opfuse_jit::check::tolerance;
use opfuse_ops::interp::{random_tensor, run};
use opfuse_ops::{Catalog, Chip};
use proptest::prelude::*;

fn catalog() -> Catalog {
    Catalog::builtin().expect("the built-in catalog loads")
}

fn load(path: &str, dims: &[(&str, i64)], catalog: &Catalog) -> VerifiedGraph {
    let source = std::fs::read_to_string(support::root().join(path)).expect("the example reads");
    let ast = opfuse_syntax::parse(&source).expect("the example parses");
    let dims: Vec<(String, i64)> = dims.iter().map(|(n, v)| (n.to_string(), *v)).collect();
    let config = opfuse_syntax::Config {
        entry: None,
        dims: &dims,
        ops: catalog,
    };
    let graph = opfuse_syntax::elaborate(&ast, &config).unwrap_or_else(|_| panic!("{path} elaborates"));
    verify(graph, catalog).expect("the example verifies")
}

/// Runs both graphs on the same random inputs and params and compares.
fn assert_same_results(original: &VerifiedGraph, optimized: &VerifiedGraph, catalog: &Catalog) {
    let inputs: Vec<_> = original
        .inputs
        .iter()
        .enumerate()
        .map(|(i, &id)| random_tensor(&original.values[id.index()].ty, 7 + i as u64))
        .collect();
    let params = BTreeMap::new();
    let expected = run(catalog, original, inputs.clone(), &params, 3).expect("the original runs");
    let found = run(catalog, optimized, inputs, &params, 3).expect("the optimized graph runs");
    assert_eq!(expected.len(), found.len());
    for (e, f) in expected.iter().zip(&found) {
        assert_eq!(e.ty(), f.ty());
        let tol = tolerance(e.dtype());
        // Relative to the output's largest magnitude: an element that is a
        // small difference of large sums carries their absolute error.
        let scale = 1.0 + e.data().iter().fold(0.0f64, |m, a| m.max(a.abs()));
        for (a, b) in e.data().iter().zip(f.data()) {
            let close = (a - b).abs() <= tol * scale || (a.is_nan() && b.is_nan());
            assert!(close, "{a} vs {b} (tolerance {tol})\n{}", opfuse_ir::print(optimized));
        }
    }
}

fn optimized_for(graph: &VerifiedGraph, catalog: &Catalog, chip: Option<Chip>) -> VerifiedGraph {
    let profiles = opfuse_ascend::Profiles::builtin().expect("profiles load");
    let result = match chip {
        Some(chip) => {
            let profile = profiles.get(chip.name()).expect("the chip has a profile").clone();
            optimize(graph, catalog, Some(chip), &AscendModel { profile }, &Limits::default())
        }
        None => optimize(graph, catalog, None, &CpuRoofline::assumed(), &Limits::default()),
    };
    result.expect("the graph optimizes").graph
}

#[test]
fn examples_with_small_dims_compute_the_same() {
    let catalog = catalog();
    let cases: [(&str, &[(&str, i64)]); 3] = [
        ("examples/mlp.opf", &[("S", 4), ("H", 16)]),
        ("examples/resnet_block.opf", &[("C", 4), ("HW", 6)]),
        ("examples/llama_layer.opf", &[("S", 8), ("H", 64), ("NH", 2), ("F", 96)]),
    ];
    for (path, dims) in cases {
        let graph = load(path, dims, &catalog);
        for chip in [None, Some(Chip::Ascend910C)] {
            assert_same_results(&graph, &optimized_for(&graph, &catalog, chip), &catalog);
        }
    }
}

#[test]
fn kernels_of_each_example() {
    for example in ["mlp", "resnet_block", "llama_layer", "bert_base"] {
        let path = format!("examples/{example}.opf");
        let run = support::opfuse(&["opt", &path, "--target", "910c"]);
        assert_eq!(run.code, 0, "{}", run.transcript());
        support::snapshot_settings().bind(|| insta::assert_snapshot!(format!("opt_{example}_910c"), run.stdout));
    }
}

/// `opt FILE --target TARGET --emit kernels --format json`, which must succeed.
fn kernels_json(file: &str, target: &str) -> serde_json::Value {
    let run = support::opfuse(&["opt", file, "--target", target, "--emit", "kernels", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    serde_json::from_str(&run.stdout).expect("opt --format json prints JSON")
}

#[test]
fn json_kernels_and_rule_listing() {
    let report = kernels_json("examples/mlp.opf", "cpu");
    let kernels = report["kernels"].as_array().expect("kernels");
    assert!(kernels
        .iter()
        .all(|k| k["ops"].is_array() && k["flops"].is_u64() && k["bytes"].is_u64()));
    assert_eq!(report["stats"]["kernels_before"], 6);
    assert_eq!(report["stats"]["kernels_after"].as_u64(), Some(kernels.len() as u64));
    let rules = support::opfuse(&["opt", "--list-rules"]);
    for family in ["algebraic", "layout", "patterns", "fusion"] {
        assert!(rules.stdout.contains(family), "{}", rules.stdout);
    }
    let graph = support::opfuse(&["opt", "examples/mlp.opf", "--emit", "graph"]);
    assert!(graph.stdout.starts_with("graph mlp("), "{}", graph.transcript());
}

#[test]
fn opaque_ops_are_kernels_of_their_own() {
    let report = kernels_json("examples/unsupported_ops.opf", "910b");
    let kernels = report["kernels"].as_array().expect("kernels");
    for op in ["fused_rotary_embedding", "selective_scan", "non_max_suppression"] {
        let alone: Vec<_> = kernels
            .iter()
            .filter(|k| k["ops"].as_array().is_some_and(|ops| ops.iter().any(|o| o == op)))
            .collect();
        assert_eq!(alone.len(), 1, "{op}: {report}");
        assert_eq!(alone[0]["ops"], serde_json::json!([op]), "{op} runs alone");
        assert_eq!(alone[0]["kind"], "opaque");
        assert_eq!(alone[0]["flops"], 0);
    }
    let graph = support::opfuse(&["opt", "examples/unsupported_ops.opf", "--target", "910b", "--emit", "graph"]);
    assert_eq!(graph.code, 0, "{}", graph.transcript());
    assert!(
        graph
            .stdout
            .contains("h_2: f32[2, 1024, 256] = selective_scan(h_1, features, chunk = 64)"),
        "{}",
        graph.stdout
    );
}

/// One step of a random graph over `f32[4, 4]` values.
#[derive(Clone, Debug)]
enum Step {
    Binary(&'static str, usize, usize),
    Unary(&'static str, usize),
    Transpose(usize),
    ReshapeRoundTrip(usize),
    TimesOne(usize),
}

fn step() -> impl Strategy<Value = Step> {
    let binary = prop::sample::select(vec!["add", "mul", "sub", "matmul"]);
    let unary = prop::sample::select(vec!["neg", "relu", "sigmoid", "tanh", "exp"]);
    prop_oneof![
        (binary, any::<usize>(), any::<usize>()).prop_map(|(op, a, b)| Step::Binary(op, a, b)),
        (unary, any::<usize>()).prop_map(|(op, a)| Step::Unary(op, a)),
        any::<usize>().prop_map(Step::Transpose),
        any::<usize>().prop_map(Step::ReshapeRoundTrip),
        any::<usize>().prop_map(Step::TimesOne),
    ]
}

fn build(steps: &[Step], catalog: &Catalog) -> VerifiedGraph {
    let ty = TensorType::new(DType::F32, vec![4, 4]);
    let mut graph = Graph::new("random");
    let mut values: Vec<ValueId> = vec![graph.add_input("x", ty.clone()), graph.add_input("y", ty.clone())];
    let add = |graph: &mut Graph, op: &str, attrs: Attrs, inputs: Vec<ValueId>, out: TensorType| {
        graph.add_node(Op::Known(op.into()), attrs, inputs, vec![out], vec![None], None)[0]
    };
    let ints = |v: &[i64]| Attr::List(v.iter().map(|&i| Attr::Int(i)).collect());
    for step in steps {
        let pick = |i: usize| values[i % values.len()];
        let value = match *step {
            Step::Binary(op, a, b) => add(&mut graph, op, Attrs::new(), vec![pick(a), pick(b)], ty.clone()),
            Step::Unary(op, a) => add(&mut graph, op, Attrs::new(), vec![pick(a)], ty.clone()),
            Step::Transpose(a) => {
                let attrs = Attrs::from([("perm".to_string(), ints(&[1, 0]))]);
                add(&mut graph, "transpose", attrs, vec![pick(a)], ty.clone())
            }
            Step::ReshapeRoundTrip(a) => {
                let flat = Attrs::from([("shape".to_string(), ints(&[16])), ("allowzero".to_string(), Attr::Bool(false))]);
                let back = Attrs::from([("shape".to_string(), ints(&[4, 4])), ("allowzero".to_string(), Attr::Bool(false))]);
                let flat_ty = TensorType::new(DType::F32, vec![16]);
                let v = add(&mut graph, "reshape", flat, vec![pick(a)], flat_ty);
                add(&mut graph, "reshape", back, vec![v], ty.clone())
            }
            Step::TimesOne(a) => {
                let attrs = Attrs::from([
                    ("value".to_string(), Attr::Float(1.0)),
                    ("dtype".to_string(), Attr::Str("f32".into())),
                ]);
                let one = add(
                    &mut graph,
                    "constant",
                    attrs,
                    vec![],
                    TensorType::new(DType::F32, Vec::<u64>::new()),
                );
                add(&mut graph, "mul", Attrs::new(), vec![pick(a), one], ty.clone())
            }
        };
        values.push(value);
    }
    let last = values.len() - 1;
    graph.outputs = vec![values[last], values[last / 2 + 1]];
    verify(graph, catalog).expect("random graphs verify")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn random_graphs_compute_the_same(steps in prop::collection::vec(step(), 1..14)) {
        let catalog = catalog();
        let graph = build(&steps, &catalog);
        for chip in [None, Some(Chip::Ascend910B)] {
            assert_same_results(&graph, &optimized_for(&graph, &catalog, chip), &catalog);
        }
    }
}
