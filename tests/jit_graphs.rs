//! Random graphs through the whole CPU path (optimize for the CPU, lower,
//! compile, run) against the reference interpreter: odd and size-1 and
//! empty dimensions, broadcast operands, transposed reads, reductions over
//! random axes, row ops and matrix products, so every lowering path meets
//! the others.

mod support;

use std::collections::BTreeMap;

use opfuse_egraph::{optimize, CpuRoofline, Limits};
use opfuse_ir::{verify, Attr, Attrs, DType, Graph, Op, TensorType, ValueId, VerifiedGraph};
use opfuse_jit::check::tolerance;
use opfuse_jit::{compile, GemmPath, Options};
use opfuse_ops::interp::{random_tensor, run};
use opfuse_ops::Catalog;
use proptest::prelude::*;

/// One step; every value keeps the graph's shape `[d0, d1, d2]`.
#[derive(Clone, Debug)]
enum Step {
    Unary(&'static str, usize),
    /// With a fresh input broadcast over the dimensions flagged.
    Broadcast(&'static str, usize, [bool; 3]),
    Binary(&'static str, usize, usize),
    /// A transpose by `perm` and back, read through index maps.
    Transposed(usize, [usize; 3]),
    /// `x - reduce(x, axes)` with the reduction kept and broadcast back.
    Centered(&'static str, usize, [bool; 3]),
    Row(&'static str, usize),
    /// With a fresh `[d2, d2]` weight.
    Matmul(usize),
}

fn step() -> impl Strategy<Value = Step> {
    let unary = prop::sample::select(vec!["neg", "relu", "sigmoid", "tanh", "abs", "sin", "gelu"]);
    let binary = prop::sample::select(vec!["add", "mul", "sub", "max"]);
    let reduction = prop::sample::select(vec!["sum", "mean", "reduce_max", "reduce_min", "reduce_l2", "reduce_sum_square"]);
    let row = prop::sample::select(vec!["softmax", "log_softmax"]);
    let perm = prop::sample::select(vec![[0, 2, 1], [1, 0, 2], [2, 1, 0], [1, 2, 0], [2, 0, 1]]);
    prop_oneof![
        (unary, any::<usize>()).prop_map(|(op, a)| Step::Unary(op, a)),
        (binary.clone(), any::<usize>(), any::<[bool; 3]>()).prop_map(|(op, a, mask)| Step::Broadcast(op, a, mask)),
        (binary, any::<usize>(), any::<usize>()).prop_map(|(op, a, b)| Step::Binary(op, a, b)),
        (any::<usize>(), perm).prop_map(|(a, perm)| Step::Transposed(a, perm)),
        (reduction, any::<usize>(), any::<[bool; 3]>()).prop_map(|(op, a, axes)| Step::Centered(op, a, axes)),
        (row, any::<usize>()).prop_map(|(op, a)| Step::Row(op, a)),
        any::<usize>().prop_map(Step::Matmul),
    ]
}

fn ints(values: &[i64]) -> Attr {
    Attr::List(values.iter().map(|&v| Attr::Int(v)).collect())
}

struct Builder {
    graph: Graph,
    dims: [u64; 3],
    inputs: usize,
}

impl Builder {
    fn ty(&self, dims: &[u64]) -> TensorType {
        TensorType::new(DType::F32, dims.to_vec())
    }

    fn input(&mut self, dims: &[u64]) -> ValueId {
        self.inputs += 1;
        let ty = self.ty(dims);
        self.graph.add_input(format!("in{}", self.inputs), ty)
    }

    fn op(&mut self, op: &str, attrs: Attrs, inputs: Vec<ValueId>, dims: &[u64]) -> ValueId {
        let ty = self.ty(dims);
        self.graph.add_node(Op::Known(op.into()), attrs, inputs, vec![ty], vec![None], None)[0]
    }
}

fn build(dims: [u64; 3], steps: &[Step], catalog: &Catalog) -> VerifiedGraph {
    let mut b = Builder {
        graph: Graph::new("random"),
        dims,
        inputs: 0,
    };
    let full = b.dims;
    let mut values = vec![b.input(&full)];
    for step in steps {
        let pick = |i: usize| values[i % values.len()];
        let value = match *step {
            Step::Unary("gelu", a) => {
                let attrs = Attrs::from([("approximate".to_string(), Attr::Str("none".into()))]);
                b.op("gelu", attrs, vec![pick(a)], &full)
            }
            Step::Unary(op, a) => b.op(op, Attrs::new(), vec![pick(a)], &full),
            Step::Broadcast(op, a, mask) => {
                let dims: Vec<u64> = full.iter().zip(mask).map(|(&d, one)| if one { 1 } else { d }).collect();
                let operand = b.input(&dims);
                b.op(op, Attrs::new(), vec![pick(a), operand], &full)
            }
            Step::Binary(op, a, c) => b.op(op, Attrs::new(), vec![pick(a), pick(c)], &full),
            Step::Transposed(a, perm) => {
                let moved: Vec<u64> = perm.iter().map(|&p| full[p]).collect();
                let attrs = Attrs::from([("perm".to_string(), ints(&perm.map(|p| p as i64)))]);
                let t = b.op("transpose", attrs, vec![pick(a)], &moved);
                let t = b.op("tanh", Attrs::new(), vec![t], &moved);
                let mut back = [0i64; 3];
                for (i, &p) in perm.iter().enumerate() {
                    back[p] = i as i64;
                }
                let attrs = Attrs::from([("perm".to_string(), ints(&back))]);
                b.op("transpose", attrs, vec![t], &full)
            }
            Step::Centered(op, a, axes) => {
                let listed: Vec<i64> = (0..3).filter(|&d| axes[d as usize]).collect();
                let listed = if listed.is_empty() { vec![2] } else { listed };
                let kept: Vec<u64> = (0..3).map(|d| if listed.contains(&(d as i64)) { 1 } else { full[d] }).collect();
                let attrs = Attrs::from([
                    ("axes".to_string(), ints(&listed)),
                    ("keepdims".to_string(), Attr::Bool(true)),
                    ("noop_with_empty_axes".to_string(), Attr::Bool(false)),
                ]);
                let x = pick(a);
                let r = b.op(op, attrs, vec![x], &kept);
                b.op("sub", Attrs::new(), vec![x, r], &full)
            }
            Step::Row(op, a) => {
                let attrs = Attrs::from([("axis".to_string(), Attr::Int(-1))]);
                b.op(op, attrs, vec![pick(a)], &full)
            }
            Step::Matmul(a) => {
                let w = b.input(&[full[2], full[2]]);
                b.op("matmul", Attrs::new(), vec![pick(a), w], &full)
            }
        };
        values.push(value);
    }
    let last = values.len() - 1;
    b.graph.outputs = vec![values[last], values[last / 2 + 1]];
    verify(b.graph, catalog).expect("random graphs verify")
}

/// The JIT's outputs and the interpreter's agree within the dtype's
/// tolerance, relative to each output's largest magnitude.
fn check(graph: &VerifiedGraph, catalog: &Catalog, threads: usize, gemm: GemmPath) -> Result<(), TestCaseError> {
    let inputs: Vec<_> = graph
        .inputs
        .iter()
        .enumerate()
        .map(|(i, &id)| random_tensor(&graph.values[id.index()].ty, 11 + i as u64))
        .collect();
    let expected = run(catalog, graph, inputs.clone(), &BTreeMap::new(), 3).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let optimized =
        optimize(graph, catalog, None, &CpuRoofline::assumed(), &Limits::default()).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let kernels: Vec<_> = optimized.kernels.iter().map(|k| k.nodes.clone()).collect();
    let mut executable = compile(optimized.graph, &kernels, catalog.clone()).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let options = Options { threads, gemm };
    executable
        .bind(&BTreeMap::new(), &options)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let found = executable
        .run(inputs, &options)
        .map_err(|e| TestCaseError::fail(e.to_string()))?
        .outputs;
    let interpreted = executable.interpreted_ops();
    prop_assert!(interpreted.is_empty(), "interpreted: {interpreted:?}");
    for (e, f) in expected.iter().zip(&found) {
        let tol = tolerance(e.dtype());
        let scale = 1.0 + e.data().iter().filter(|a| a.is_finite()).fold(0.0f64, |m, a| m.max(a.abs()));
        for (index, (a, b)) in e.data().iter().zip(f.data()).enumerate() {
            let close = (a - b).abs() <= tol * scale || (a.is_nan() && b.is_nan()) || a == b;
            prop_assert!(close, "element {index}: interpreter {a}, JIT {b}\n{}", opfuse_ir::print(graph));
        }
    }
    Ok(())
}

fn dims() -> impl Strategy<Value = [u64; 3]> {
    let dim = prop::sample::select(vec![1u64, 2, 3, 5, 7, 9, 17, 33]);
    prop_oneof![
        9 => [dim.clone(), dim.clone(), dim.clone()].prop_map(|d| d),
        1 => (dim.clone(), dim).prop_map(|(a, b)| [a, 0, b]),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_graphs_run_as_the_interpreter_does(
        dims in dims(),
        steps in prop::collection::vec(step(), 1..9),
        threads in 1usize..3,
        library in any::<bool>(),
    ) {
        let catalog = Catalog::builtin().expect("the built-in catalog loads");
        let graph = build(dims, &steps, &catalog);
        let gemm = if library { GemmPath::Library } else { GemmPath::Jit };
        check(&graph, &catalog, threads, gemm)?;
    }
}
