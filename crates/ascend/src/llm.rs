//! LLM phases: prefill (time to first token) and one decode step (time per
//! output token) with its KV cache, and whether weights and cache fit.
//!
//! The caller elaborates the model twice-over-free: at `S = seq` for
//! prefill, and at `S = 1` for a decode step. Attention is found in the
//! graph as `softmax` between two matmuls (`scores = q @ kT ...`,
//! `softmax(scores) @ v`) or as `scaled_dot_product_attention`; its K and V
//! operands, as the model writes them, are what the cache holds. A decode
//! step adds, per attention, one kernel that reads the cache at the context
//! length.

use opfuse_ir::{DType, Node, ValueDef, ValueId, VerifiedGraph};
use opfuse_ops::OpClass;

use crate::estimate::Estimate;
use crate::kernel::{Kernel, Placement};

/// The K/V operands of every attention in a graph, per token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KvCache {
    /// Attention sites found.
    pub sites: u64,
    /// Cache bytes one token adds across all sites.
    pub bytes_per_token: u128,
    /// K and V elements one token adds across all sites.
    pub elements_per_token: u128,
    pub dtype: DType,
}

impl KvCache {
    /// Finds the attention sites of `graph`, elaborated for `tokens` tokens
    /// (batch times sequence).
    pub fn of(graph: &VerifiedGraph, tokens: u64) -> KvCache {
        let mut consumers: Vec<Vec<usize>> = vec![Vec::new(); graph.values.len()];
        for (index, node) in graph.nodes.iter().enumerate() {
            for input in &node.inputs {
                if let Some(list) = consumers.get_mut(input.index()) {
                    list.push(index);
                }
            }
        }
        let mut operands: Vec<(ValueId, ValueId)> = Vec::new();
        for node in &graph.nodes {
            match node.op.name() {
                "scaled_dot_product_attention" => {
                    if let (Some(&k), Some(&v)) = (node.inputs.get(1), node.inputs.get(2)) {
                        operands.push((k, v));
                    }
                }
                "softmax" => {
                    let key = node
                        .inputs
                        .first()
                        .and_then(|&s| scores_matmul(graph, s))
                        .and_then(|m| m.inputs.get(1).copied());
                    let value = node
                        .outputs
                        .first()
                        .and_then(|p| consumers.get(p.index()))
                        .and_then(|users| {
                            users
                                .iter()
                                .filter_map(|&u| graph.nodes.get(u))
                                .find(|u| u.op.name() == "matmul" && u.inputs.first() == node.outputs.first())
                        })
                        .and_then(|m| m.inputs.get(1).copied());
                    if let (Some(k), Some(v)) = (key, value) {
                        operands.push((k, v));
                    }
                }
                _ => {}
            }
        }
        let tokens = u128::from(tokens.max(1));
        let types: Vec<_> = operands.iter().flat_map(|&(k, v)| [graph.ty(k), graph.ty(v)]).flatten().collect();
        KvCache {
            sites: operands.len() as u64,
            bytes_per_token: types.iter().filter_map(|t| t.size_bytes()).map(u128::from).sum::<u128>() / tokens,
            elements_per_token: types.iter().filter_map(|t| t.numel()).map(u128::from).sum::<u128>() / tokens,
            dtype: types.first().map_or(DType::F16, |t| t.dtype),
        }
    }

    /// Per attention site, the kernel that reads `context` cached tokens for
    /// each of `batch` sequences and multiplies them by one query: two
    /// matrix-vector products, bound by the cache read, priced on the Vector
    /// unit.
    pub fn decode_kernels(&self, batch: u64, context: u64) -> Vec<Kernel> {
        let sites = u128::from(self.sites.max(1));
        let tokens = u128::from(batch) * u128::from(context);
        (0..self.sites)
            .map(|site| Kernel {
                name: format!("kv_cache_read#{site}"),
                op: "kv_cache_read".to_string(),
                class: OpClass::Attention,
                dtype: self.dtype,
                flops: 2 * tokens * self.elements_per_token / sites,
                hbm_bytes: tokens * self.bytes_per_token / sites,
                gemm: None,
                handoff_bytes: 0,
                row: context,
                placement: Placement::AiCore,
            })
            .collect()
    }
}

/// The matmul that computes attention scores, through the scale and mask
/// elementwise ops between it and the softmax.
fn scores_matmul(graph: &VerifiedGraph, mut value: ValueId) -> Option<&Node> {
    for _ in 0..8 {
        let ValueDef::Node { node, .. } = graph.value(value)?.def else {
            return None;
        };
        let node = graph.node(node)?;
        match node.op.name() {
            "matmul" => return Some(node),
            "add" | "mul" | "div" | "sub" | "cast" => value = *node.inputs.first()?,
            _ => return None,
        }
    }
    None
}

/// Bytes of all params: the weights.
pub fn weight_bytes(graph: &VerifiedGraph) -> u128 {
    graph.params.iter().filter_map(|&p| graph.ty(p)?.size_bytes()).map(u128::from).sum()
}

/// Whether weights and cache fit one chip's HBM, and how many chips hold them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fit {
    pub fits: bool,
    pub chips_needed: u64,
}

pub fn fit(weight_bytes: u128, kv_cache_bytes: u128, hbm_bytes: f64) -> Fit {
    let needed = (weight_bytes + kv_cache_bytes) as f64;
    let chips = (needed / hbm_bytes).ceil().max(1.0) as u64;
    Fit {
        fits: chips == 1,
        chips_needed: chips,
    }
}

/// Share of `estimate`'s time spent in kernels of each bound, largest first.
pub fn time_by_bound(estimate: &Estimate) -> Vec<(crate::Bound, f64)> {
    let mut shares: std::collections::BTreeMap<crate::Bound, f64> = Default::default();
    let total = estimate.total_us();
    for k in estimate.kernels.iter().filter(|k| k.cost.bound != crate::Bound::View) {
        *shares.entry(k.cost.bound).or_insert(0.0) += k.cost.time_us;
    }
    let mut shares: Vec<(crate::Bound, f64)> = shares
        .into_iter()
        .map(|(b, t)| (b, if total > 0.0 { t / total } else { 0.0 }))
        .collect();
    shares.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    shares
}
