//! Front-end speed on a generated model of 100,002 nodes: lexing and parsing
//! alone, then parsing plus elaboration plus verification.
//!
//! Run: `cargo bench -p opfuse --bench parse_elaborate`.

use std::fmt::Write;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use opfuse_ops::Catalog;

/// A flat graph of 33,334 statements of three nodes each (matmul, add,
/// tanh) over eight weight/bias pairs, as a model file.
fn generated_model() -> String {
    let mut text = String::from("dim D = 64\n\ngraph big(x: f32[16, D]) -> f32[16, D] {\n");
    for j in 0..8 {
        let _ = writeln!(text, "    param w{j}: f32[D, D]\n    param b{j}: f32[D]");
    }
    text.push_str("    h0 = x\n");
    for i in 1..=33_334 {
        let _ = writeln!(text, "    h{i} = tanh(h{} @ w{} + b{})", i - 1, i % 8, i % 8);
    }
    text.push_str("    return h33334\n}\n");
    text
}

fn front_end(c: &mut Criterion) {
    let source = generated_model();
    let catalog = Catalog::builtin().expect("catalog loads");
    let nodes = {
        let ast = opfuse_syntax::parse(&source).expect("generated model parses");
        let config = opfuse_syntax::Config {
            entry: None,
            dims: &[],
            ops: &catalog,
        };
        opfuse_syntax::elaborate(&ast, &config)
            .expect("generated model elaborates")
            .nodes
            .len()
    };
    assert_eq!(nodes, 100_002);
    let mut group = c.benchmark_group("front_end_100k_nodes");
    group.sample_size(10);
    group.throughput(Throughput::Elements(nodes as u64));
    group.bench_function("parse", |b| {
        b.iter(|| opfuse_syntax::parse(black_box(&source)).map(|ast| ast.items.len()))
    });
    group.bench_function("parse_elaborate_verify", |b| {
        b.iter(|| {
            let ast = opfuse_syntax::parse(black_box(&source)).expect("parses");
            let config = opfuse_syntax::Config {
                entry: None,
                dims: &[],
                ops: &catalog,
            };
            let graph = opfuse_syntax::elaborate(&ast, &config).expect("elaborates");
            opfuse_ir::verify(graph, &catalog).map(|g| g.nodes.len())
        })
    });
    group.finish();
}

criterion_group!(benches, front_end);
criterion_main!(benches);
