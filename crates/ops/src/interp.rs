//! The reference interpreter: runs a verified graph node by node with each
//! operator's reference semantics (see [`crate::eval`]).

use std::collections::BTreeMap;

use opfuse_ir::{DType, Graph, NodeId, Op, Span, Tensor, TensorType, ValueId, VerifiedGraph};

use crate::Catalog;

/// Why a graph did not run.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum RunError {
    #[error("the graph takes {expected} input(s), {found} given")]
    InputCount { expected: usize, found: usize },
    #[error("input `{name}` is {found}, but the graph declares {expected}")]
    InputType {
        name: String,
        expected: TensorType,
        found: TensorType,
    },
    #[error("param `{name}` is {found}, but the graph declares {expected}")]
    ParamType {
        name: String,
        expected: TensorType,
        found: TensorType,
    },
    #[error(
        "the graph's values hold {elements} elements in all, more than the reference interpreter's limit of {limit} \
         (it keeps every value, as f64); make it smaller, e.g. with --dim"
    )]
    TooLarge { elements: u128, limit: u128 },
    #[error("output `{name}` was never computed")]
    Unset { name: String },
    #[error("`{op}` (node {node}): {message}")]
    Node {
        node: NodeId,
        op: String,
        span: Option<Span>,
        message: String,
    },
}

/// The most elements the interpreter holds at once (4 GiB of f64): it keeps
/// every value of the graph, so this bounds its memory.
pub const MAX_ELEMENTS: u128 = 1 << 29;

/// Refuses graphs too large to interpret, before anything is allocated.
pub fn check_size(graph: &Graph) -> Result<(), RunError> {
    let elements = graph
        .values
        .iter()
        .map(|v| crate::rules::elements(&v.ty))
        .fold(0u128, u128::saturating_add);
    match elements > MAX_ELEMENTS {
        true => Err(RunError::TooLarge {
            elements,
            limit: MAX_ELEMENTS,
        }),
        false => Ok(()),
    }
}

/// Random data for a tensor of type `ty`, the same for the same `seed`.
///
/// Floats are uniform in [-1, 1); integers uniform in [0, 4) so that they are
/// valid indices for any axis of 4 or more; bools are fair coin flips.
pub fn random_tensor(ty: &TensorType, seed: u64) -> Tensor {
    let n = ty.shape.numel().unwrap_or(0) as usize;
    let mut state = seed;
    let data = (0..n)
        .map(|_| {
            let unit = (split_mix(&mut state) >> 11) as f64 / (1u64 << 53) as f64;
            match ty.dtype {
                d if d.is_float() => 2.0 * unit - 1.0,
                DType::Bool => (unit < 0.5) as u8 as f64,
                _ => (unit * 4.0).floor(),
            }
        })
        .collect();
    Tensor::new(ty.clone(), data).unwrap_or_else(|_| Tensor::scalar(ty.dtype, 0.0))
}

/// One step of SplitMix64: a small, fast, well-mixed generator, enough for
/// test data (not for cryptography).
fn split_mix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The random value of the param at `position` (in the graph's param
/// order) for `seed`: what [`run`] uses for a param without data.
pub fn random_param(ty: &TensorType, position: usize, seed: u64) -> Tensor {
    random_tensor(ty, seed.wrapping_add(1 + position as u64).wrapping_mul(0x2545_F491_4F6C_DD1D))
}

/// Runs `graph` on `inputs` (in the graph's input order). Params come from
/// `params`, else from the graph's own data, else random from `seed` and the
/// param's position, so a run is reproducible. Returns the outputs in order.
pub fn run(
    catalog: &Catalog,
    graph: &VerifiedGraph,
    inputs: Vec<Tensor>,
    params: &BTreeMap<String, Tensor>,
    seed: u64,
) -> Result<Vec<Tensor>, RunError> {
    let graph: &Graph = graph;
    check_size(graph)?;
    if inputs.len() != graph.inputs.len() {
        return Err(RunError::InputCount {
            expected: graph.inputs.len(),
            found: inputs.len(),
        });
    }
    let mut values: Vec<Option<Tensor>> = vec![None; graph.values.len()];
    for (&id, tensor) in graph.inputs.iter().zip(inputs) {
        let (name, expected) = name_and_type(graph, id);
        if tensor.ty() != &expected {
            return Err(RunError::InputType {
                name,
                expected,
                found: tensor.ty().clone(),
            });
        }
        values[id.index()] = Some(tensor);
    }
    for (position, &id) in graph.params.iter().enumerate() {
        let (name, expected) = name_and_type(graph, id);
        let tensor = match params.get(&name).or_else(|| graph.param_data.get(&id)) {
            Some(tensor) => tensor.clone(),
            None => random_param(&expected, position, seed),
        };
        if tensor.ty() != &expected {
            return Err(RunError::ParamType {
                name,
                expected,
                found: tensor.ty().clone(),
            });
        }
        values[id.index()] = Some(tensor);
    }
    for (index, node) in graph.nodes.iter().enumerate() {
        let fail = |message: String| RunError::Node {
            node: NodeId(index as u32),
            op: node.op.name().to_string(),
            span: node.span,
            message,
        };
        let Op::Known(op) = &node.op else {
            return Err(fail("an opaque op has no semantics to run".into()));
        };
        let args: Vec<&Tensor> = node
            .inputs
            .iter()
            .map(|&id| values.get(id.index()).and_then(Option::as_ref))
            .collect::<Option<_>>()
            .ok_or_else(|| fail("an input has no value (the graph is not in topological order)".into()))?;
        let types: Vec<TensorType> = node.outputs.iter().map(|&id| type_of(graph, id)).collect();
        let results = catalog.eval(op, &node.attrs, &args, &types).map_err(|e| fail(e.message))?;
        if results.len() != node.outputs.len() {
            return Err(fail(format!(
                "computed {} outputs, the node has {}",
                results.len(),
                node.outputs.len()
            )));
        }
        for (&id, tensor) in node.outputs.iter().zip(results) {
            values[id.index()] = Some(tensor);
        }
    }
    graph
        .outputs
        .iter()
        .map(|&id| {
            values.get(id.index()).and_then(Option::clone).ok_or_else(|| RunError::Unset {
                name: graph.value_name(id),
            })
        })
        .collect()
}

fn name_and_type(graph: &Graph, id: ValueId) -> (String, TensorType) {
    (graph.value_name(id), type_of(graph, id))
}

/// The type of a value; a verified graph has no dangling handle, so the
/// fallback is never seen.
fn type_of(graph: &Graph, id: ValueId) -> TensorType {
    graph.ty(id).cloned().unwrap_or_else(|| TensorType::new(DType::F32, vec![]))
}
