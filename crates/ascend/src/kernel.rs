//! What the cost model prices: a kernel, described by its work rather than
//! by the ops inside it, so a fused kernel (built later by the e-graph) is
//! priced the same way as the one-op kernels built here.

use opfuse_ir::{DType, Node, TensorType, VerifiedGraph};
use opfuse_ops::{AscendUnit, Catalog, Chip, OpClass};

/// The shape of a matrix product: `batch` independent `[m, k] x [k, n]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gemm {
    pub batch: u64,
    pub m: u64,
    pub n: u64,
    pub k: u64,
}

/// Where a kernel runs when the target is an Ascend chip.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// On the AI cores: the Cube for `gemm`, the Vector unit for the rest.
    AiCore,
    /// On the AI CPU: the catalog says the chip falls back (or lacks the op).
    AiCpu,
    /// No kernel at all: a view of its input (reshape and friends).
    View,
}

/// One kernel: what it computes and what it moves.
#[derive(Clone, Debug, PartialEq)]
pub struct Kernel {
    /// A name for reports: the op (or fused ops) and a distinguishing hint.
    pub name: String,
    /// The operator, or for a fused kernel its kind; groups identical kernels.
    pub op: String,
    pub class: OpClass,
    /// The element type the kernel computes in.
    pub dtype: DType,
    pub flops: u128,
    /// Bytes read from and written to HBM.
    pub hbm_bytes: u128,
    /// The matrix product the Cube runs, if any.
    pub gemm: Option<Gemm>,
    /// Bytes the Cube part hands to the Vector part inside the kernel
    /// (attention's scores; a fused epilogue's input). On a split design they
    /// go through GM and back.
    pub handoff_bytes: u128,
    /// The innermost extent of the output, for the Vector unit's 32-byte
    /// alignment.
    pub row: u64,
    pub placement: Placement,
}

/// Ops that only reinterpret their input's shape: no kernel runs.
const VIEWS: [&str; 6] = ["reshape", "flatten", "squeeze", "unsqueeze", "identity", "constant"];

/// One kernel per node of `graph`, in node order, placed for `chip` (`None`:
/// a GPU, where every known op runs natively).
pub fn kernels_of(graph: &VerifiedGraph, catalog: &Catalog, chip: Option<Chip>) -> Vec<Kernel> {
    graph
        .nodes
        .iter()
        .enumerate()
        .map(|(index, node)| kernel_of(graph, catalog, chip, index, node))
        .collect()
}

fn kernel_of(graph: &VerifiedGraph, catalog: &Catalog, chip: Option<Chip>, index: usize, node: &Node) -> Kernel {
    let inputs: Vec<TensorType> = node.inputs.iter().filter_map(|v| graph.ty(*v).cloned()).collect();
    let outputs: Vec<TensorType> = node.outputs.iter().filter_map(|v| graph.ty(*v).cloned()).collect();
    let op = node.op.name().to_string();
    let entry = catalog.entry(&op);
    let class = entry.map_or(OpClass::Elementwise, |e| e.class);
    let dtype = inputs.first().or(outputs.first()).map_or(DType::F32, |t| t.dtype);
    let io_bytes = || -> u128 {
        inputs
            .iter()
            .chain(&outputs)
            .filter_map(TensorType::size_bytes)
            .map(u128::from)
            .sum()
    };
    let unit = match (entry, chip) {
        (None, _) => AscendUnit::Unsupported,
        (Some(_), None) => AscendUnit::Vector,
        (Some(entry), Some(chip)) => entry.ascend.get(&chip).map_or(AscendUnit::Unsupported, |s| s.unit),
    };
    let placement = match () {
        _ if VIEWS.contains(&op.as_str()) => Placement::View,
        _ if unit.is_native() => Placement::AiCore,
        _ => Placement::AiCpu,
    };
    let gemm = match class {
        OpClass::Matmul | OpClass::Conv | OpClass::Attention => gemm_of(&op, &inputs, &outputs),
        _ => None,
    };
    let hbm_bytes = match (op.as_str(), entry) {
        ("grouped_matmul", _) => grouped_matmul_bytes(&inputs, &outputs).unwrap_or_else(io_bytes),
        (_, Some(_)) => catalog.bytes(&op, &node.attrs, &inputs, &outputs),
        (_, None) => io_bytes(),
    };
    let handoff_bytes = match (op.as_str(), gemm) {
        ("scaled_dot_product_attention", Some(g)) => 2 * u128::from(g.batch) * u128::from(g.m) * u128::from(g.n) * 4,
        _ => 0,
    };
    let name = node.outputs.first().and_then(|v| graph.value(*v)).and_then(|v| v.name.clone());
    Kernel {
        name: match name {
            Some(hint) => format!("{op}#{index} ({hint})"),
            None => format!("{op}#{index}"),
        },
        op: op.clone(),
        class,
        dtype,
        flops: catalog.flops(&op, &node.attrs, &inputs, &outputs),
        hbm_bytes,
        gemm,
        handoff_bytes,
        row: outputs.first().and_then(|t| t.shape.dims().last().copied()).unwrap_or(1),
        placement,
    }
}

/// The matrix product behind a matmul, a convolution (implicit GEMM: output
/// pixels x output channels x input channels times the window) or attention
/// (its larger GEMM, scores: queries x keys x head dim).
fn gemm_of(op: &str, inputs: &[TensorType], outputs: &[TensorType]) -> Option<Gemm> {
    let out = outputs.first()?.shape.dims();
    let first = inputs.first()?.shape.dims();
    let second = inputs.get(1)?.shape.dims();
    match op {
        "conv" | "conv_transpose" => {
            let (&batch, rest) = out.split_first()?;
            let (&channels_out, pixels) = rest.split_first()?;
            let window: u64 = second.iter().skip(1).product();
            Some(Gemm {
                batch: 1,
                m: batch * pixels.iter().product::<u64>(),
                n: channels_out,
                k: window,
            })
        }
        "scaled_dot_product_attention" => {
            let (queries, head_dim) = last_two(first)?;
            let (keys, _) = last_two(second)?;
            let batch = first.iter().rev().skip(2).product();
            Some(Gemm {
                batch,
                m: queries,
                n: keys,
                k: head_dim,
            })
        }
        "grouped_matmul" => {
            let (rows, k) = last_two(first)?;
            let n = *second.last()?;
            Some(Gemm { batch: 1, m: rows, n, k })
        }
        _ => {
            let k = *first.last()?;
            let (m, n) = match (out, first.len()) {
                ([], _) => (1, 1),
                ([len], 1) => (1, *len),
                ([len], _) => (*len, 1),
                _ => last_two(out)?,
            };
            let batch = out.iter().rev().skip(2).product();
            Some(Gemm { batch, m, n, k })
        }
    }
}

fn last_two(dims: &[u64]) -> Option<(u64, u64)> {
    match dims {
        [.., a, b] => Some((*a, *b)),
        [b] => Some((1, *b)),
        [] => None,
    }
}

/// A grouped matmul reads only the experts its rows select: at most one
/// `[k, n]` weight per row, never more than there are experts.
fn grouped_matmul_bytes(inputs: &[TensorType], outputs: &[TensorType]) -> Option<u128> {
    let rows = inputs.first()?;
    let weights = inputs.get(1)?;
    let (&experts, per_expert) = weights.shape.dims().split_first()?;
    let (row_count, _) = last_two(rows.shape.dims())?;
    let touched = u128::from(experts.min(row_count));
    let weight_bytes = touched * u128::from(per_expert.iter().product::<u64>()) * u128::from(weights.dtype.size_bytes());
    let other: u128 = [Some(rows)]
        .into_iter()
        .chain([inputs.get(2)])
        .flatten()
        .chain(outputs)
        .filter_map(TensorType::size_bytes)
        .map(u128::from)
        .sum();
    Some(weight_bytes + other)
}
