//! What closes a gap: the op alone in a small graph (its inputs and params
//! as in the model, its attributes and types), optimized for the target by
//! the e-graph; where the result runs only natively, the rewritten form is
//! run against the original on random inputs, through the reference
//! interpreter and through the JIT. One search per distinct op signature,
//! so a model's size does not multiply the work.

use std::collections::BTreeMap;

use opfuse_ascend::{kernels_of, Placement, Profile};
use opfuse_egraph::{applied_rules, optimize, AscendModel, Limits};
use opfuse_ir::{verify, Graph, Node, Op, Tensor, ValueDef, VerifiedGraph};
use opfuse_jit::{check, compile, params_of, GemmPath, Options};
use opfuse_ops::{interp, Catalog, Chip};

use crate::report::{Check, Fix, Rule};

/// The seed of every check's random inputs and params.
pub const SEED: u64 = 1;

/// The most elements (summed over every value of the one-op graph) the
/// numerical check runs on; larger ops get a fix without a check, and the
/// note says so.
pub const CHECK_ELEMENTS: u128 = 1 << 23;

/// The rule family whose rules write an op with other ops.
const DECOMPOSITIONS: &str = "decompositions";

/// What the search found for one signature.
pub enum Outcome {
    /// A native form; `check.passed` says whether its numbers agree.
    Fixed(Fix),
    /// No native form: why.
    Open(String),
}

/// The op of `node` (of `graph`) alone, as a graph: the node's inputs are
/// inputs, except params, which stay params (with their data, so rules that
/// need a constant still see it).
pub fn one_op_graph(graph: &Graph, node: &Node, catalog: &Catalog) -> Option<VerifiedGraph> {
    let mut small = Graph::new(node.op.name());
    let mut inputs = Vec::new();
    for (position, &id) in node.inputs.iter().enumerate() {
        let value = graph.value(id)?;
        let name = format!("x{position}");
        let new = match value.def {
            ValueDef::Param => {
                let param = small.add_param(&name, value.ty.clone());
                if let Some(data) = graph.param_data.get(&id) {
                    small.param_data.insert(param, data.clone());
                }
                param
            }
            _ => small.add_input(&name, value.ty.clone()),
        };
        inputs.push(new);
    }
    let types = node.outputs.iter().map(|&id| graph.ty(id).cloned()).collect::<Option<Vec<_>>>()?;
    let names = (0..types.len()).map(|i| Some(format!("y{i}"))).collect();
    small.outputs = small.add_node(node.op.clone(), node.attrs.clone(), inputs, types, names, None);
    verify(small, catalog).ok()
}

/// A key that is equal for nodes whose one-op graphs are equal.
pub fn signature(graph: &Graph, node: &Node) -> String {
    let inputs: Vec<String> = node
        .inputs
        .iter()
        .map(|&id| match graph.value(id) {
            Some(v) if v.def == ValueDef::Param => format!("param {} {:?}", v.ty, graph.param_data.get(&id).map(fingerprint)),
            Some(v) => v.ty.to_string(),
            None => String::new(),
        })
        .collect();
    format!("{} {:?} ({})", node.op.name(), node.attrs, inputs.join(", "))
}

/// A param's data as a key: small data as it is, large data hashed, so a
/// model with big initializers does not print them.
fn fingerprint(tensor: &Tensor) -> String {
    match tensor.data() {
        data if data.len() <= 16 => format!("{data:?}"),
        data => {
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            for value in data {
                std::hash::Hash::hash(&value.to_bits(), &mut hasher);
            }
            format!("{} elements, hash {:x}", data.len(), std::hash::Hasher::finish(&hasher))
        }
    }
}

/// Searches a native form for `small` (a one-op graph) on `chip`.
pub fn close(small: &VerifiedGraph, catalog: &Catalog, chip: Chip, profile: &Profile) -> Outcome {
    if small.nodes.iter().any(|n| matches!(n.op, Op::Opaque(_))) {
        return Outcome::Open("no rule sees inside an op the catalog does not know: it needs a catalog entry or a custom kernel".into());
    }
    let limits = Limits::default();
    let cost = AscendModel { profile: profile.clone() };
    let optimized = match optimize(small, catalog, Some(chip), &cost, &limits) {
        Ok(optimized) => optimized,
        Err(e) => return Outcome::Open(format!("the optimizer failed on it: {e}")),
    };
    let fallback: Vec<String> = kernels_of(&optimized.graph, catalog, Some(chip))
        .into_iter()
        .filter(|k| k.placement == Placement::AiCpu)
        .map(|k| k.op)
        .collect();
    if !fallback.is_empty() {
        return Outcome::Open(format!(
            "no rewrite found that uses only ops {} runs natively (the best form still runs {} off the AI cores)",
            chip.name(),
            fallback.join(", ")
        ));
    }
    let op = small.nodes.first().map(|n| n.op.name().to_string()).unwrap_or_default();
    let rules = decomposition_rules(small, catalog, &limits, &op);
    let mut ops: Vec<String> = Vec::new();
    for node in &optimized.graph.nodes {
        let name = node.op.name().to_string();
        if !ops.contains(&name) {
            ops.push(name);
        }
    }
    let kernels: Vec<Vec<opfuse_ir::NodeId>> = optimized.kernels.iter().map(|k| k.nodes.clone()).collect();
    let check = check_numbers(small, &optimized.graph, &kernels, catalog);
    Outcome::Fixed(Fix {
        rules,
        ops,
        kernels: optimized.kernels.len(),
        rewritten_us: optimized.stats.time_us_after,
        check,
    })
}

/// The decomposition rules of `op` that fired on its one-op graph.
fn decomposition_rules(small: &VerifiedGraph, catalog: &Catalog, limits: &Limits, op: &str) -> Vec<Rule> {
    let Ok(applied) = applied_rules(small, catalog, limits) else {
        return Vec::new();
    };
    let prefix = format!("{op} ->");
    opfuse_egraph::rules::list()
        .into_iter()
        .filter(|r| r.family == DECOMPOSITIONS && r.description.starts_with(&prefix) && applied.contains_key(r.name))
        .map(|r| Rule {
            name: r.name.to_string(),
            description: r.description.to_string(),
        })
        .collect()
}

/// Runs the original through the interpreter and the rewritten form through
/// the interpreter and the JIT, on the same random inputs and params.
fn check_numbers(original: &VerifiedGraph, rewritten: &VerifiedGraph, kernels: &[Vec<opfuse_ir::NodeId>], catalog: &Catalog) -> Check {
    let tolerance = original
        .outputs
        .iter()
        .filter_map(|&id| original.ty(id))
        .map(|t| check::tolerance(t.dtype))
        .fold(f64::INFINITY, f64::min);
    let tolerance = if tolerance.is_finite() { tolerance } else { 0.0 };
    let mut result = Check {
        seed: SEED,
        max_error_interpreter: None,
        max_error_jit: None,
        tolerance,
        passed: false,
        note: None,
    };
    let elements: u128 = original
        .values
        .iter()
        .chain(&rewritten.values)
        .filter_map(|v| v.ty.numel())
        .map(u128::from)
        .sum();
    if elements > CHECK_ELEMENTS {
        result.note = Some(format!(
            "not checked: the op's values hold {elements} elements, more than the check's limit of {CHECK_ELEMENTS}"
        ));
        return result;
    }
    let inputs: Vec<Tensor> = original
        .inputs
        .iter()
        .enumerate()
        .filter_map(|(position, &id)| {
            original
                .ty(id)
                .map(|ty| interp::random_tensor(ty, SEED.wrapping_add(position as u64 * 7919)))
        })
        .collect();
    let params = params_of(original, SEED);
    let expected = match interp::run(catalog, original, inputs.clone(), &params, SEED) {
        Ok(outputs) => outputs,
        Err(e) => {
            result.note = Some(format!(
                "not checked: the interpreter does not run the original op on random inputs: {e}"
            ));
            return result;
        }
    };
    let mut problems = Vec::new();
    let mut agrees = true;
    match interp::run(catalog, rewritten, inputs.clone(), &params, SEED) {
        Ok(found) => {
            result.max_error_interpreter = Some(max_error(&expected, &found));
            agrees &= check::compare(&expected, &found).is_none();
        }
        Err(e) => problems.push(format!("the interpreter does not run the rewritten form: {e}")),
    }
    match run_jit(rewritten, kernels, catalog, &params, inputs) {
        Ok(found) => {
            result.max_error_jit = Some(max_error(&expected, &found));
            agrees &= check::compare(&expected, &found).is_none();
        }
        Err(e) => problems.push(format!("the JIT does not run the rewritten form: {e}")),
    }
    result.passed = agrees && problems.is_empty();
    if !problems.is_empty() {
        result.note = Some(problems.join("; "));
    } else if !agrees {
        result.note = Some("the rewritten form differs from the original beyond the tolerance".into());
    }
    result
}

fn run_jit(
    graph: &VerifiedGraph,
    kernels: &[Vec<opfuse_ir::NodeId>],
    catalog: &Catalog,
    params: &BTreeMap<String, Tensor>,
    inputs: Vec<Tensor>,
) -> Result<Vec<Tensor>, opfuse_jit::JitError> {
    let options = Options {
        threads: 1,
        gemm: GemmPath::Jit,
    };
    let mut executable = compile(graph.clone(), kernels, catalog.clone())?;
    executable.bind(params, &options)?;
    Ok(executable.run(inputs, &options)?.outputs)
}

/// The largest absolute difference between corresponding elements (NaN
/// against NaN is no difference; NaN against a number, or different
/// shapes, is infinite).
fn max_error(expected: &[Tensor], found: &[Tensor]) -> f64 {
    if expected.len() != found.len() {
        return f64::INFINITY;
    }
    let mut worst = 0.0f64;
    for (e, f) in expected.iter().zip(found) {
        if e.dims() != f.dims() {
            return f64::INFINITY;
        }
        for (&a, &b) in e.data().iter().zip(f.data()) {
            let error = match (a.is_nan(), b.is_nan()) {
                (true, true) => 0.0,
                (false, false) if a == b => 0.0,
                (false, false) => (a - b).abs(),
                _ => f64::INFINITY,
            };
            worst = worst.max(error);
        }
    }
    worst
}

#[cfg(test)]
mod tests {
    use opfuse_ascend::Profiles;
    use opfuse_ir::{Attr, DType, TensorType};

    use super::*;

    fn one_op(op: &str, attrs: &[(&str, Attr)], dims: Vec<u64>) -> VerifiedGraph {
        let catalog = Catalog::builtin().expect("catalog");
        let mut graph = Graph::new("g");
        let ty = TensorType::new(DType::F32, dims);
        let x = graph.add_input("x", ty.clone());
        let attrs = attrs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        graph.outputs = graph.add_node(Op::Known(op.into()), attrs, vec![x], vec![ty], vec![None], None);
        verify(graph, &catalog).expect("verifies")
    }

    #[test]
    fn a_gelu_on_the_ai_cpu_is_closed_by_its_checked_decomposition() {
        let catalog = Catalog::builtin().expect("catalog");
        let profiles = Profiles::builtin().expect("profiles");
        let profile = profiles.get("910b").expect("910b");
        let graph = one_op("gelu", &[("approximate", Attr::Str("tanh".into()))], vec![16, 64]);
        let node = graph.nodes.first().expect("one node");
        let small = one_op_graph(&graph, node, &catalog).expect("small graph");
        let Outcome::Fixed(fix) = close(&small, &catalog, Chip::Ascend910B, profile) else {
            panic!("gelu has a native decomposition on 910b");
        };
        assert_eq!(
            fix.rules.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
            ["decompose-gelu-tanh"]
        );
        assert!(!fix.ops.contains(&"gelu".to_string()), "{:?}", fix.ops);
        assert!(fix.check.passed, "{:?}", fix.check);
        let jit = fix.check.max_error_jit.expect("the JIT ran");
        assert!(jit > 0.0 && jit < 1e-4, "{jit}");
    }

    #[test]
    fn an_opaque_op_stays_open() {
        let catalog = Catalog::builtin().expect("catalog");
        let profiles = Profiles::builtin().expect("profiles");
        let mut graph = Graph::new("g");
        let ty = TensorType::new(DType::F32, vec![4]);
        let x = graph.add_input("x", ty.clone());
        graph.outputs = graph.add_node(
            Op::Opaque("mystery".into()),
            Default::default(),
            vec![x],
            vec![ty],
            vec![None],
            None,
        );
        let graph = verify(graph, &catalog).expect("verifies");
        let node = graph.nodes.first().expect("one node");
        let small = one_op_graph(&graph, node, &catalog).expect("small graph");
        assert!(matches!(
            close(&small, &catalog, Chip::Ascend910B, profiles.get("910b").expect("910b")),
            Outcome::Open(_)
        ));
    }

    #[test]
    fn max_error_is_the_largest_difference() {
        let ty = TensorType::new(DType::F32, vec![3]);
        let a = Tensor::new(ty.clone(), vec![1.0, 2.0, f64::NAN]).expect("tensor");
        let b = Tensor::new(ty, vec![1.5, 2.0, f64::NAN]).expect("tensor");
        assert_eq!(max_error(std::slice::from_ref(&a), &[b]), 0.5);
        assert_eq!(max_error(&[a], &[]), f64::INFINITY);
    }
}
