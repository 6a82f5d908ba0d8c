//! Decompositions: an op a target lacks, written with ops it has. The
//! rules hold for every target; extraction keeps the op where the chip runs
//! it natively and takes the decomposition where the op would fall back to
//! the AI CPU (or is missing), because the cost model prices it so.
//!
//! Each rule's description starts with the op it decomposes, so a report can
//! name the gap a rule closes. A decomposition computes the op's reference
//! semantics (`opfuse_ops::eval`) up to the rounding of its intermediate
//! steps; the quantisation ones apply only where every intermediate step is
//! exact or rounds once as the reference does, so they agree bit for bit.
//!
//! The class of a multi-output op is a tuple, which the applier cannot
//! merge; its rules merge each output's projection with the class that
//! computes it (same type checked) and return no class.

use egg::{Id, Subst};
use opfuse_ir::{Attr, Attrs, DType, OpSemantics, TensorType};
use opfuse_ops::rules::quant::{granularity, Granularity};

use super::support::{add_any, add_op, attrs, attrs_of, flag, get, ty, RuleSpec};
use crate::analysis::TensorGraph;
use crate::language::TensorNode;

pub const RULES: &[RuleSpec] = &[
    RuleSpec {
        name: "decompose-gelu",
        description: "gelu -> x * 0.5 * (1 + erf(x / sqrt(2))), for approximate = none",
        pattern: "(gelu ?a ?x)",
        build: gelu_erf,
    },
    RuleSpec {
        name: "decompose-gelu-tanh",
        description: "gelu -> x * 0.5 * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x * x * x))), for approximate = tanh",
        pattern: "(gelu ?a ?x)",
        build: gelu_tanh,
    },
    RuleSpec {
        name: "decompose-mish",
        description: "mish -> x * tanh(softplus(x))",
        pattern: "(mish ?a ?x)",
        build: mish,
    },
    RuleSpec {
        name: "decompose-swish",
        description: "swish -> silu(x) for alpha = 1, else x * sigmoid(alpha * x)",
        pattern: "(swish ?a ?x)",
        build: swish,
    },
    RuleSpec {
        name: "decompose-dequantize-linear",
        description: "dequantize_linear -> cast(x) * scale, the scale laid out per tensor, axis or block",
        pattern: "(dequantize_linear ?a ?x ?scale)",
        build: |egraph, root, subst| dequantize_linear(egraph, root, subst, false),
    },
    RuleSpec {
        name: "decompose-dequantize-linear-zero-point",
        description: "dequantize_linear -> (cast(x) - cast(zero_point)) * scale, where the difference is exact",
        pattern: "(dequantize_linear ?a ?x ?scale ?zero)",
        build: |egraph, root, subst| dequantize_linear(egraph, root, subst, true),
    },
    RuleSpec {
        name: "decompose-quantize-linear",
        description: "quantize_linear -> cast(clip(round(x / scale), range)), or a saturating cast(x / scale) to fp8",
        pattern: "(quantize_linear ?a ?x ?scale)",
        build: |egraph, root, subst| quantize_linear(egraph, root, subst, false),
    },
    RuleSpec {
        name: "decompose-quantize-linear-zero-point",
        description: "quantize_linear -> cast(clip(round(x / scale) + cast(zero_point), range)), for integer outputs",
        pattern: "(quantize_linear ?a ?x ?scale ?zero)",
        build: |egraph, root, subst| quantize_linear(egraph, root, subst, true),
    },
    RuleSpec {
        name: "decompose-fp8-dequantize",
        description: "fp8_dequantize -> cast(y) * scales repeated over each block of the last axis",
        pattern: "(fp8_dequantize ?a ?y ?scales)",
        build: fp8_dequantize,
    },
    RuleSpec {
        name: "decompose-fp8-quantize",
        description: "fp8_quantize -> per block scale = reduce_max(abs(x)) / 448, y = cast(where(scale == 0, 0, x / scale), f8e4m3)",
        pattern: "(fp8_quantize ?a ?x)",
        build: fp8_quantize,
    },
    RuleSpec {
        name: "decompose-moe-gate",
        description: "moe_gate -> top_k(softmax(logits) or sigmoid(logits), k), renormalised and scaled",
        pattern: "(moe_gate ?a ?logits)",
        build: |egraph, root, subst| moe_gate(egraph, root, subst, false),
    },
    RuleSpec {
        name: "decompose-moe-gate-biased",
        description: "moe_gate -> ids = top_k(scores + bias, k), weights = the scores at ids (a one-hot select), renormalised and scaled",
        pattern: "(moe_gate ?a ?logits ?bias)",
        build: |egraph, root, subst| moe_gate(egraph, root, subst, true),
    },
    RuleSpec {
        name: "decompose-moe-dispatch",
        description:
            "moe_dispatch -> order = argsort(ids), rows = gather(x, order / K), row_experts = ids at order, positions = argsort(order)",
        pattern: "(moe_dispatch ?a ?x ?ids)",
        build: moe_dispatch,
    },
    RuleSpec {
        name: "decompose-moe-combine",
        description: "moe_combine -> sum(reshape(gather(expert_out, positions), [T, K, H]) * unsqueeze(weights, 2), axis 1)",
        pattern: "(moe_combine ?a ?out ?weights ?positions)",
        build: moe_combine,
    },
    RuleSpec {
        name: "decompose-gather-elements",
        description: "gather_elements -> gather(flattened data, indices * stride of axis + each other position's offset)",
        pattern: "(gather_elements ?a ?data ?indices)",
        build: gather_elements,
    },
    RuleSpec {
        name: "decompose-gather-nd",
        description: "gather_nd -> gather(data with its indexed axes flattened, each index tuple's row-major offset)",
        pattern: "(gather_nd ?a ?data ?indices)",
        build: gather_nd,
    },
];

/// The largest finite f8e4m3 value, which `fp8_quantize` maps each block's
/// largest magnitude to.
const F8E4M3_MAX: f64 = 448.0;

fn gelu_erf(egraph: &mut TensorGraph, root: Id, subst: &Subst) -> Option<Id> {
    if text(attrs(egraph, subst, "?a")?, "approximate")? != "none" {
        return None;
    }
    let x = get(subst, "?x")?;
    let dtype = float_dtype(egraph, x)?;
    let sqrt2 = scalar(egraph, std::f64::consts::SQRT_2, dtype)?;
    let scaled = op(egraph, "div", &[], &[x, sqrt2])?;
    let erf = op(egraph, "erf", &[], &[scaled])?;
    let one = scalar(egraph, 1.0, dtype)?;
    let shifted = op(egraph, "add", &[], &[erf, one])?;
    let half = scalar(egraph, 0.5, dtype)?;
    let half_x = op(egraph, "mul", &[], &[x, half])?;
    add_op(egraph, root, "mul", Attrs::new(), &[half_x, shifted])
}

fn gelu_tanh(egraph: &mut TensorGraph, root: Id, subst: &Subst) -> Option<Id> {
    if text(attrs(egraph, subst, "?a")?, "approximate")? != "tanh" {
        return None;
    }
    let x = get(subst, "?x")?;
    let dtype = float_dtype(egraph, x)?;
    let square = op(egraph, "mul", &[], &[x, x])?;
    let cube = op(egraph, "mul", &[], &[square, x])?;
    let coefficient = scalar(egraph, 0.044715, dtype)?;
    let cubic = op(egraph, "mul", &[], &[cube, coefficient])?;
    let inner = op(egraph, "add", &[], &[x, cubic])?;
    let factor = scalar(egraph, (2.0 / std::f64::consts::PI).sqrt(), dtype)?;
    let scaled = op(egraph, "mul", &[], &[inner, factor])?;
    let tanh = op(egraph, "tanh", &[], &[scaled])?;
    let one = scalar(egraph, 1.0, dtype)?;
    let shifted = op(egraph, "add", &[], &[tanh, one])?;
    let half = scalar(egraph, 0.5, dtype)?;
    let half_x = op(egraph, "mul", &[], &[x, half])?;
    add_op(egraph, root, "mul", Attrs::new(), &[half_x, shifted])
}

fn mish(egraph: &mut TensorGraph, root: Id, subst: &Subst) -> Option<Id> {
    let x = get(subst, "?x")?;
    let softplus = op(egraph, "softplus", &[], &[x])?;
    let tanh = op(egraph, "tanh", &[], &[softplus])?;
    add_op(egraph, root, "mul", Attrs::new(), &[x, tanh])
}

fn swish(egraph: &mut TensorGraph, root: Id, subst: &Subst) -> Option<Id> {
    let alpha = float(attrs(egraph, subst, "?a")?, "alpha")?;
    let x = get(subst, "?x")?;
    if alpha == 1.0 {
        return add_op(egraph, root, "silu", Attrs::new(), &[x]);
    }
    let alpha = scalar(egraph, alpha, float_dtype(egraph, x)?)?;
    let scaled = op(egraph, "mul", &[], &[x, alpha])?;
    let gate = op(egraph, "sigmoid", &[], &[scaled])?;
    add_op(egraph, root, "mul", Attrs::new(), &[x, gate])
}

/// `(x - zero_point) * scale` in the output dtype, when x, the scale and the
/// difference are exact in it: the one rounding left is the product's, as in
/// the reference.
fn dequantize_linear(egraph: &mut TensorGraph, root: Id, subst: &Subst, zero_point: bool) -> Option<Id> {
    let (x, scale) = (get(subst, "?x")?, get(subst, "?scale")?);
    let zero = match zero_point {
        true => Some(get(subst, "?zero")?),
        false => None,
    };
    let op_attrs = attrs(egraph, subst, "?a")?;
    let (axis, block_size) = (int(op_attrs, "axis")?, int(op_attrs, "block_size")?);
    let (x_ty, scale_ty) = (ty(egraph, x)?.clone(), ty(egraph, scale)?.clone());
    let out = ty(egraph, root)?.dtype;
    let exact =
        holds_exactly(x_ty.dtype, out) && holds_exactly(scale_ty.dtype, out) && (zero.is_none() || difference_exact(x_ty.dtype, out));
    if !exact {
        return None;
    }
    let layout = granularity(&x_ty, &scale_ty, axis, block_size, 1).ok()?;
    let mut value = cast(egraph, x, out)?;
    if let Some(zero) = zero {
        let zero = cast(egraph, zero, out)?;
        let zero = lay_out(egraph, zero, &x_ty, layout)?;
        value = op(egraph, "sub", &[], &[value, zero])?;
    }
    let scale = cast(egraph, scale, out)?;
    let scale = lay_out(egraph, scale, &x_ty, layout)?;
    add_op(egraph, root, "mul", Attrs::new(), &[value, scale])
}

/// `x / scale` in the precision dtype, rounded half to even, plus the zero
/// point, clamped to the output's range. Exact where x, the scale and the
/// zero point are values of the precision dtype and every integer of the
/// output's range is too (the reference's f64 quotient rounded to the
/// precision is the precision's own correctly rounded quotient). An fp8
/// output takes the quotient as is, through a (saturating) cast.
fn quantize_linear(egraph: &mut TensorGraph, root: Id, subst: &Subst, zero_point: bool) -> Option<Id> {
    let (x, scale) = (get(subst, "?x")?, get(subst, "?scale")?);
    let zero = match zero_point {
        true => Some(get(subst, "?zero")?),
        false => None,
    };
    let op_attrs = attrs(egraph, subst, "?a")?;
    let (axis, block_size) = (int(op_attrs, "axis")?, int(op_attrs, "block_size")?);
    let saturate = flag(op_attrs, "saturate")?;
    let precision = text(op_attrs, "precision")?;
    let (x_ty, scale_ty) = (ty(egraph, x)?.clone(), ty(egraph, scale)?.clone());
    let precision = match precision.is_empty() {
        true => scale_ty.dtype,
        false => precision.parse().ok()?,
    };
    let out = ty(egraph, root)?.dtype;
    let zero_dtype = match zero {
        Some(zero) => Some(ty(egraph, zero)?.dtype),
        None => None,
    };
    let exact = holds_exactly(x_ty.dtype, precision)
        && holds_exactly(scale_ty.dtype, precision)
        && zero_dtype.is_none_or(|dtype| holds_exactly(dtype, precision));
    if !exact {
        return None;
    }
    let layout = granularity(&x_ty, &scale_ty, axis, block_size, 1).ok()?;
    let value = cast(egraph, x, precision)?;
    let scale = cast(egraph, scale, precision)?;
    let scale = lay_out(egraph, scale, &x_ty, layout)?;
    let quotient = op(egraph, "div", &[], &[value, scale])?;
    let Some((low, high)) = out.quantized_range() else {
        // fp8: no rounding to an integer, and a zero point would round twice.
        if zero.is_some() {
            return None;
        }
        let to = [("to", Attr::Str(out.name().into())), ("saturate", Attr::Bool(saturate))];
        return add_op(egraph, root, "cast", attrs_of(&to), &[quotient]);
    };
    if !integers_exact(low, high, precision) {
        return None;
    }
    let mut rounded = op(egraph, "round", &[], &[quotient])?;
    if let Some(zero) = zero {
        let zero = cast(egraph, zero, precision)?;
        let zero = lay_out(egraph, zero, &x_ty, layout)?;
        rounded = op(egraph, "add", &[], &[rounded, zero])?;
    }
    let clipped = op(egraph, "clip", &[("min", Attr::Float(low)), ("max", Attr::Float(high))], &[rounded])?;
    add_op(egraph, root, "cast", attrs_of(&[("to", Attr::Str(out.name().into()))]), &[clipped])
}

/// `y * scale` block by block; exact where y and the scales are values of
/// the output dtype (the product rounds once, as in the reference).
fn fp8_dequantize(egraph: &mut TensorGraph, root: Id, subst: &Subst) -> Option<Id> {
    let (y, scales) = (get(subst, "?y")?, get(subst, "?scales")?);
    let block_size = int(attrs(egraph, subst, "?a")?, "block_size")?;
    let (y_ty, scales_ty) = (ty(egraph, y)?.clone(), ty(egraph, scales)?.clone());
    let out = ty(egraph, root)?.dtype;
    if !(holds_exactly(y_ty.dtype, out) && holds_exactly(scales_ty.dtype, out)) {
        return None;
    }
    let layout = Granularity::Blocked {
        axis: y_ty.rank().checked_sub(1)?,
        block_size: usize::try_from(block_size).ok()?,
    };
    let value = cast(egraph, y, out)?;
    let scales = cast(egraph, scales, out)?;
    let scales = lay_out(egraph, scales, &y_ty, layout)?;
    add_op(egraph, root, "mul", Attrs::new(), &[value, scales])
}

/// The reference computes in f32 from x's values, so x must be at most as
/// wide as f32. The last axis is padded with zeros (which change no block's
/// largest magnitude) to whole blocks, cut into `[blocks, block_size]`, and
/// cut back after the division.
fn fp8_quantize(egraph: &mut TensorGraph, root: Id, subst: &Subst) -> Option<Id> {
    let x = get(subst, "?x")?;
    let block_size = u64::try_from(int(attrs(egraph, subst, "?a")?, "block_size")?).ok()?;
    let x_ty = ty(egraph, x)?.clone();
    if !matches!(x_ty.dtype, DType::F32 | DType::F16 | DType::BF16) || block_size == 0 {
        return None;
    }
    let (&extent, lead) = x_ty.shape.dims().split_last()?;
    let last = x_ty.rank() as i64 - 1;
    let blocks = extent.div_ceil(block_size);
    let padded = blocks * block_size;
    let mut value = cast(egraph, x, DType::F32)?;
    if padded != extent {
        let pads = [("pads", ints(&[0, (padded - extent) as i64])), ("axes", ints(&[last]))];
        value = op(egraph, "pad", &pads, &[value])?;
    }
    let shape = |tail: &[u64]| -> Vec<u64> { lead.iter().chain(tail).copied().collect() };
    let value = reshape(egraph, value, &shape(&[blocks, block_size]))?;
    let magnitude = op(egraph, "abs", &[], &[value])?;
    let largest_attrs = [("axes", ints(&[-1])), ("keepdims", Attr::Bool(true))];
    let largest = op(egraph, "reduce_max", &largest_attrs, &[magnitude])?;
    let target = scalar(egraph, F8E4M3_MAX, DType::F32)?;
    let scale = op(egraph, "div", &[], &[largest, target])?;
    let zero = scalar(egraph, 0.0, DType::F32)?;
    let all_zero = op(egraph, "equal", &[], &[scale, zero])?;
    let quotient = op(egraph, "div", &[], &[value, scale])?;
    let quotient = op(egraph, "where", &[], &[all_zero, zero, quotient])?;
    let mut quotient = reshape(egraph, quotient, &shape(&[padded]))?;
    if padded != extent {
        let cut = [("starts", ints(&[0])), ("ends", ints(&[extent as i64])), ("axes", ints(&[last]))];
        quotient = op(egraph, "slice", &cut, &[quotient])?;
    }
    let y = cast(egraph, quotient, DType::F8E4M3)?;
    let scales = reshape(egraph, scale, &shape(&[blocks]))?;
    merge_outputs(egraph, root, &[y, scales])
}

/// Scores, the top `k` by score (plus the bias, when there is one), the
/// picked scores renormalised and scaled. `top_k` breaks ties toward the
/// lower expert as the reference does; the choice is made on scores rounded
/// to the dtype, where the reference uses unrounded ones, so only scores
/// equal after rounding can pick differently.
fn moe_gate(egraph: &mut TensorGraph, root: Id, subst: &Subst, biased: bool) -> Option<Id> {
    let logits = get(subst, "?logits")?;
    let op_attrs = attrs(egraph, subst, "?a")?;
    let (k, scoring) = (int(op_attrs, "k")?, text(op_attrs, "scoring")?);
    let (normalize, factor) = (flag(op_attrs, "normalize")?, float(op_attrs, "scale")?);
    let logits_ty = ty(egraph, logits)?.clone();
    let [_, experts] = *logits_ty.shape.dims() else {
        return None;
    };
    let scores = match scoring.as_str() {
        "softmax" => op(egraph, "softmax", &[("axis", Attr::Int(-1))], &[logits])?,
        "sigmoid" => op(egraph, "sigmoid", &[], &[logits])?,
        _ => return None,
    };
    let top_attrs = [("k", Attr::Int(k)), ("axis", Attr::Int(-1))];
    let (mut weights, ids) = match biased {
        false => {
            let top = add_tuple(egraph, "top_k", &top_attrs, &[scores], 2)?;
            (projection(egraph, top, 0), projection(egraph, top, 1))
        }
        true => {
            let bias = get(subst, "?bias")?;
            let choice = op(egraph, "add", &[], &[scores, bias])?;
            let top = add_tuple(egraph, "top_k", &top_attrs, &[choice], 2)?;
            let ids = projection(egraph, top, 1);
            (picked(egraph, scores, ids, experts, logits_ty.dtype)?, ids)
        }
    };
    if normalize {
        let total = op(egraph, "sum", &[("axes", ints(&[-1])), ("keepdims", Attr::Bool(true))], &[weights])?;
        weights = op(egraph, "div", &[], &[weights, total])?;
    }
    if factor != 1.0 {
        let factor = scalar(egraph, factor, logits_ty.dtype)?;
        weights = op(egraph, "mul", &[], &[weights, factor])?;
    }
    merge_outputs(egraph, root, &[weights, ids])
}

/// `scores[t, ids[t, j]]` as `[T, K]`: each pick's one-hot row over the
/// experts selects its score, and a sum over the experts adds only zeros to it.
fn picked(egraph: &mut TensorGraph, scores: Id, ids: Id, experts: u64, dtype: DType) -> Option<Id> {
    let expert_ids = op(egraph, "range", &[("limit", Attr::Float(experts as f64))], &[])?;
    let column = op(egraph, "unsqueeze", &[("axes", ints(&[2]))], &[ids])?;
    let one_hot = op(egraph, "equal", &[], &[column, expert_ids])?;
    let rows = op(egraph, "unsqueeze", &[("axes", ints(&[1]))], &[scores])?;
    let zero = scalar(egraph, 0.0, dtype)?;
    let selected = op(egraph, "where", &[], &[one_hot, rows, zero])?;
    op(egraph, "sum", &[("axes", ints(&[2]))], &[selected])
}

/// A stable argsort of the flattened ids orders the (token, pick) pairs by
/// expert as the reference's stable sort does; the inverse of that order
/// (its own argsort) says where each pair went.
fn moe_dispatch(egraph: &mut TensorGraph, root: Id, subst: &Subst) -> Option<Id> {
    let (x, ids) = (get(subst, "?x")?, get(subst, "?ids")?);
    let [tokens, picks] = *ty(egraph, ids)?.shape.dims() else {
        return None;
    };
    let flat = reshape(egraph, ids, &[tokens * picks])?;
    let stable = [("stable", Attr::Bool(true))];
    let order = op(egraph, "argsort", &stable, &[flat])?;
    let per_token = scalar(egraph, picks as f64, DType::I64)?;
    let token = op(egraph, "div", &[], &[order, per_token])?;
    let rows = op(egraph, "gather", &[], &[x, token])?;
    let experts = op(egraph, "gather", &[], &[flat, order])?;
    let experts = cast(egraph, experts, DType::I64)?;
    let positions = op(egraph, "argsort", &stable, &[order])?;
    merge_outputs(egraph, root, &[rows, experts, positions])
}

fn moe_combine(egraph: &mut TensorGraph, root: Id, subst: &Subst) -> Option<Id> {
    let (out, weights, positions) = (get(subst, "?out")?, get(subst, "?weights")?, get(subst, "?positions")?);
    let [tokens, picks] = *ty(egraph, weights)?.shape.dims() else {
        return None;
    };
    let [_, hidden] = *ty(egraph, out)?.shape.dims() else {
        return None;
    };
    let rows = op(egraph, "gather", &[], &[out, positions])?;
    let rows = reshape(egraph, rows, &[tokens, picks, hidden])?;
    let weights = op(egraph, "unsqueeze", &[("axes", ints(&[2]))], &[weights])?;
    let weighted = op(egraph, "mul", &[], &[rows, weights])?;
    add_op(egraph, root, "sum", attrs_of(&[("axes", ints(&[1]))]), &[weighted])
}

/// `out[p] = data[p with p[axis] = indices[p]]` is element `sum_k p_k *
/// stride_k` of the flattened data, with `indices[p]` for `p[axis]`.
fn gather_elements(egraph: &mut TensorGraph, root: Id, subst: &Subst) -> Option<Id> {
    let (data, indices) = (get(subst, "?data")?, get(subst, "?indices")?);
    let axis = int(attrs(egraph, subst, "?a")?, "axis")?;
    let (data_dims, index_dims) = (ty(egraph, data)?.shape.dims().to_vec(), ty(egraph, indices)?.shape.dims().to_vec());
    let axis = usize::try_from(if axis < 0 { axis + data_dims.len() as i64 } else { axis }).ok()?;
    let strides = row_major_strides(&data_dims);
    let index = index_values(egraph, indices, *data_dims.get(axis)?)?;
    let mut offset = scaled(egraph, index, *strides.get(axis)?)?;
    for k in (0..index_dims.len()).filter(|&k| k != axis) {
        let position = coordinate(egraph, &index_dims, k)?;
        let position = scaled(egraph, position, *strides.get(k)?)?;
        offset = op(egraph, "add", &[], &[offset, position])?;
    }
    let flat = reshape(egraph, data, &[data_dims.iter().product()])?;
    add_op(egraph, root, "gather", Attrs::new(), &[flat, offset])
}

/// Each index tuple (the last axis of `indices`, after `batch_dims` axes
/// shared with data) picks one row of data with its batch and indexed axes
/// flattened: the row at the tuple's row-major offset over those axes.
fn gather_nd(egraph: &mut TensorGraph, root: Id, subst: &Subst) -> Option<Id> {
    let (data, indices) = (get(subst, "?data")?, get(subst, "?indices")?);
    let batch = usize::try_from(int(attrs(egraph, subst, "?a")?, "batch_dims")?).ok()?;
    let (data_dims, index_dims) = (ty(egraph, data)?.shape.dims().to_vec(), ty(egraph, indices)?.shape.dims().to_vec());
    let (&depth, tuples) = index_dims.split_last()?;
    let indexed = batch + usize::try_from(depth).ok()?;
    let strides = row_major_strides(data_dims.get(..indexed)?);
    let last = tuples.len() as i64;
    let mut offset: Option<Id> = None;
    for k in 0..indexed {
        let part = match k < batch {
            true => coordinate(egraph, tuples, k)?,
            false => {
                let cut = [
                    ("starts", ints(&[k as i64 - batch as i64])),
                    ("ends", ints(&[k as i64 - batch as i64 + 1])),
                    ("axes", ints(&[last])),
                ];
                let component = op(egraph, "slice", &cut, &[indices])?;
                let component = op(egraph, "squeeze", &[("axes", ints(&[last]))], &[component])?;
                index_values(egraph, component, *data_dims.get(k)?)?
            }
        };
        let part = scaled(egraph, part, *strides.get(k)?)?;
        offset = Some(match offset {
            Some(sum) => op(egraph, "add", &[], &[sum, part])?,
            None => part,
        });
    }
    let rows: u64 = data_dims.get(..indexed)?.iter().product();
    let flat = reshape(egraph, data, &[&[rows], data_dims.get(indexed..)?].concat())?;
    add_op(egraph, root, "gather", Attrs::new(), &[flat, offset?])
}

/// The row-major strides of a tensor of `dims`.
fn row_major_strides(dims: &[u64]) -> Vec<u64> {
    let mut strides = vec![1; dims.len()];
    for k in (0..dims.len().saturating_sub(1)).rev() {
        strides[k] = strides[k + 1] * dims[k + 1];
    }
    strides
}

/// Integer indices as i64, negative ones counted from the end of an axis of `extent`.
fn index_values(egraph: &mut TensorGraph, indices: Id, extent: u64) -> Option<Id> {
    let indices = cast(egraph, indices, DType::I64)?;
    let zero = scalar(egraph, 0.0, DType::I64)?;
    let negative = op(egraph, "less", &[], &[indices, zero])?;
    let extent = scalar(egraph, extent as f64, DType::I64)?;
    let wrapped = op(egraph, "add", &[], &[indices, extent])?;
    op(egraph, "where", &[], &[negative, wrapped, indices])
}

/// Each position's index along `axis` of a tensor of `dims`, as i64 shaped
/// to broadcast against it (`[1, .., dims[axis], .., 1]`).
fn coordinate(egraph: &mut TensorGraph, dims: &[u64], axis: usize) -> Option<Id> {
    let extent = *dims.get(axis)?;
    let positions = op(egraph, "range", &[("limit", Attr::Float(extent as f64))], &[])?;
    let mut shape = vec![1; dims.len() - axis];
    shape[0] = extent;
    reshape(egraph, positions, &shape)
}

/// `x * factor` for an i64 `x`; `x` itself for a factor of 1.
fn scaled(egraph: &mut TensorGraph, x: Id, factor: u64) -> Option<Id> {
    if factor == 1 {
        return Some(x);
    }
    let factor = scalar(egraph, factor as f64, DType::I64)?;
    op(egraph, "mul", &[], &[x, factor])
}

/// Whether every value of `from` is a value of `to`.
fn holds_exactly(from: DType, to: DType) -> bool {
    use DType::*;
    from == to
        || match to {
            F64 => matches!(from, F32 | F16 | BF16 | F8E4M3 | F8E5M2 | I8 | U8 | I16 | U16 | I32 | U32),
            F32 => matches!(from, F16 | BF16 | F8E4M3 | F8E5M2 | I8 | U8 | I16 | U16),
            F16 | BF16 => matches!(from, F8E4M3 | F8E5M2 | I8 | U8),
            _ => false,
        }
}

/// Whether the difference of any two values of `from` is a value of `to`:
/// 8-bit integers differ by at most 255, 16-bit ones by 65535, f8e4m3 values
/// by a multiple of 2^-9 below 2^10, f8e5m2 ones by a multiple of 2^-16
/// below 2^17.
fn difference_exact(from: DType, to: DType) -> bool {
    use DType::*;
    match from {
        I8 | U8 => matches!(to, F64 | F32 | F16 | BF16),
        I16 | U16 | F8E4M3 => matches!(to, F64 | F32),
        I32 | U32 | F8E5M2 => to == F64,
        _ => false,
    }
}

/// Whether every integer in `[low, high]` is a value of the float `dtype`,
/// so a sum that rounds can only round across the bounds, where the clamp
/// gives the same bound.
fn integers_exact(low: f64, high: f64, dtype: DType) -> bool {
    let limit = match dtype {
        DType::F64 => 2f64.powi(53),
        DType::F32 => 2f64.powi(24),
        DType::F16 => 2f64.powi(11),
        DType::BF16 => 2f64.powi(8),
        _ => return false,
    };
    low.abs() <= limit && high.abs() <= limit
}

/// `scale` (or a zero point) laid out to broadcast against `x`: a single
/// value as a scalar, a per-axis vector as `[extent, 1, ...]`, a blocked
/// tensor repeated `block_size` times along its axis and cut to x's extent.
fn lay_out(egraph: &mut TensorGraph, scale: Id, x: &TensorType, layout: Granularity) -> Option<Id> {
    let scale_ty = ty(egraph, scale)?.clone();
    match layout {
        Granularity::PerTensor if scale_ty.rank() <= x.rank() => Some(scale),
        Granularity::PerTensor => reshape(egraph, scale, &[]),
        Granularity::PerAxis { axis } => {
            let mut dims = vec![*x.shape.dims().get(axis)?];
            dims.resize(x.rank() - axis, 1);
            match scale_ty.shape.dims() == dims {
                true => Some(scale),
                false => reshape(egraph, scale, &dims),
            }
        }
        Granularity::Blocked { block_size: 1, .. } => Some(scale),
        Granularity::Blocked { axis, block_size } => {
            let extent = *x.shape.dims().get(axis)?;
            let blocks = *scale_ty.shape.dims().get(axis)?;
            let inserted = op(egraph, "unsqueeze", &[("axes", ints(&[axis as i64 + 1]))], &[scale])?;
            let mut repeated = scale_ty.shape.dims().to_vec();
            repeated.insert(axis + 1, block_size as u64);
            let repeated = op(egraph, "expand", &[("shape", dims(&repeated))], &[inserted])?;
            let mut merged = scale_ty.shape.dims().to_vec();
            merged[axis] = blocks * block_size as u64;
            let merged = reshape(egraph, repeated, &merged)?;
            match blocks * block_size as u64 == extent {
                true => Some(merged),
                false => {
                    let cut = [
                        ("starts", ints(&[0])),
                        ("ends", ints(&[extent as i64])),
                        ("axes", ints(&[axis as i64])),
                    ];
                    op(egraph, "slice", &cut, &[merged])
                }
            }
        }
    }
}

/// Merges output `i` of the multi-output class `root` with `outputs[i]`,
/// each only when their types agree. Returns no class: the tuple itself has
/// no equal.
fn merge_outputs(egraph: &mut TensorGraph, root: Id, outputs: &[Id]) -> Option<Id> {
    for (index, &equal) in outputs.iter().enumerate() {
        let output = projection(egraph, root, index);
        if ty(egraph, output).is_some() && ty(egraph, output) == ty(egraph, equal) {
            egraph.union(output, equal);
        }
    }
    None
}

fn projection(egraph: &mut TensorGraph, tuple: Id, index: usize) -> Id {
    egraph.add(TensorNode::Get(index as u32, [tuple]))
}

/// Adds the multi-output `op(inputs)` when its shape rule gives `outputs`
/// outputs; returns its (tuple) class.
fn add_tuple(egraph: &mut TensorGraph, name: &str, pairs: &[(&str, Attr)], inputs: &[Id], outputs: usize) -> Option<Id> {
    let mut op_attrs = attrs_of(pairs);
    let catalog = &egraph.analysis.catalog;
    catalog.normalize_attrs(name, &mut op_attrs).ok()?;
    let types: Vec<TensorType> = inputs.iter().map(|&id| ty(egraph, id).cloned()).collect::<Option<_>>()?;
    if catalog.infer(name, &op_attrs, &types).ok()?.len() != outputs {
        return None;
    }
    let symbol = egraph.analysis.intern_attrs(op_attrs);
    let mut children = vec![egraph.add(TensorNode::Attrs(symbol))];
    children.extend_from_slice(inputs);
    Some(egraph.add(TensorNode::Op(name.into(), children)))
}

fn op(egraph: &mut TensorGraph, name: &str, pairs: &[(&str, Attr)], inputs: &[Id]) -> Option<Id> {
    add_any(egraph, name, attrs_of(pairs), inputs)
}

fn scalar(egraph: &mut TensorGraph, value: f64, dtype: DType) -> Option<Id> {
    let pairs = [("value", Attr::Float(value)), ("dtype", Attr::Str(dtype.name().into()))];
    op(egraph, "constant", &pairs, &[])
}

/// `x` as `to`, or `x` itself when it already is.
fn cast(egraph: &mut TensorGraph, x: Id, to: DType) -> Option<Id> {
    match ty(egraph, x)?.dtype == to {
        true => Some(x),
        false => op(egraph, "cast", &[("to", Attr::Str(to.name().into()))], &[x]),
    }
}

fn reshape(egraph: &mut TensorGraph, x: Id, shape: &[u64]) -> Option<Id> {
    op(egraph, "reshape", &[("shape", dims(shape))], &[x])
}

fn float_dtype(egraph: &TensorGraph, x: Id) -> Option<DType> {
    Some(ty(egraph, x)?.dtype).filter(|dtype| dtype.is_float())
}

fn ints(values: &[i64]) -> Attr {
    Attr::List(values.iter().map(|&v| Attr::Int(v)).collect())
}

fn dims(values: &[u64]) -> Attr {
    Attr::List(values.iter().map(|&v| Attr::Int(v as i64)).collect())
}

fn int(attrs: &Attrs, key: &str) -> Option<i64> {
    attrs.get(key)?.as_int()
}

fn float(attrs: &Attrs, key: &str) -> Option<f64> {
    attrs.get(key)?.as_float()
}

fn text(attrs: &Attrs, key: &str) -> Option<String> {
    Some(attrs.get(key)?.as_str()?.to_string())
}

#[cfg(test)]
pub(super) mod tests {
    use std::collections::BTreeMap;

    use opfuse_ascend::Profiles;
    use opfuse_ir::{verify, Attr, DType, Tensor, TensorType, ValueId, VerifiedGraph};
    use opfuse_ops::interp::{random_tensor, run};
    use opfuse_ops::{Catalog, Chip};

    use crate::testing::Builder;
    use crate::{optimize, AscendModel, Limits};

    /// A graph as built and as optimized for a chip.
    pub(in crate::rules) struct Optimized {
        pub catalog: Catalog,
        pub original: VerifiedGraph,
        pub optimized: VerifiedGraph,
    }

    impl Optimized {
        /// Whether the optimized graph still runs `op`.
        pub fn runs(&self, op: &str) -> bool {
            self.optimized.nodes.iter().any(|node| node.op.name() == op)
        }

        /// Runs both graphs on `inputs` (and the same `params`) and asserts
        /// that each output agrees within `tolerance` times one plus its
        /// largest magnitude (0: exactly; NaN matches NaN).
        #[track_caller]
        pub fn assert_same(&self, inputs: &[Tensor], params: &BTreeMap<String, Tensor>, tolerance: f64) {
            let expected = run(&self.catalog, &self.original, inputs.to_vec(), params, 3).expect("the original runs");
            let found = run(&self.catalog, &self.optimized, inputs.to_vec(), params, 3).expect("the optimized graph runs");
            assert_eq!(expected.len(), found.len());
            for (e, f) in expected.iter().zip(&found) {
                assert_eq!(e.ty(), f.ty());
                let scale = 1.0 + e.data().iter().filter(|a| a.is_finite()).fold(0.0f64, |m, a| m.max(a.abs()));
                for (a, b) in e.data().iter().zip(f.data()) {
                    let close = a == b || (a - b).abs() <= tolerance * scale || (a.is_nan() && b.is_nan());
                    assert!(close, "{a} vs {b} in\n{}", opfuse_ir::print(&self.optimized));
                }
            }
        }
    }

    /// Verifies the graph returning `outputs` and optimizes it for `chip`
    /// under the chip's cost model.
    pub(in crate::rules) fn optimize_on(mut b: Builder, outputs: &[ValueId], chip: Chip) -> Optimized {
        b.graph.outputs = outputs.to_vec();
        let original = verify(b.graph, &b.catalog).expect("the test graph verifies");
        let profile = Profiles::builtin()
            .expect("profiles load")
            .get(chip.name())
            .expect("a profile")
            .clone();
        let optimized = optimize(&original, &b.catalog, Some(chip), &AscendModel { profile }, &Limits::default())
            .expect("it optimizes")
            .graph;
        Optimized {
            catalog: b.catalog,
            original,
            optimized,
        }
    }

    pub(in crate::rules) fn typed_input(b: &mut Builder, name: &str, dtype: DType, dims: &[u64]) -> ValueId {
        b.graph.add_input(name, TensorType::new(dtype, dims.to_vec()))
    }

    /// Random floats uniform in [-range, range), or integers uniform in
    /// [0, range), of `dtype`; the same for the same seed.
    pub(in crate::rules) fn random(dtype: DType, dims: &[u64], range: f64, seed: u64) -> Tensor {
        let unit = random_tensor(&TensorType::new(DType::F64, dims.to_vec()), seed);
        let data = unit
            .data()
            .iter()
            .map(|&u| match dtype.is_float() {
                true => u * range,
                false => ((u + 1.0) / 2.0 * range).floor(),
            })
            .collect();
        tensor(dtype, dims, data)
    }

    pub(in crate::rules) fn tensor(dtype: DType, dims: &[u64], data: Vec<f64>) -> Tensor {
        Tensor::new(TensorType::new(dtype, dims.to_vec()), data).expect("the data fills the shape")
    }

    fn no_params() -> BTreeMap<String, Tensor> {
        BTreeMap::new()
    }

    fn text(value: &str) -> Attr {
        Attr::Str(value.to_string())
    }

    /// `op(x)` on an f32 input of [4, 16] in [-4, 4), optimized for 910B.
    fn unary_on_910b(op: &str, attrs: &[(&str, Attr)]) -> (Optimized, Vec<Tensor>) {
        let mut b = Builder::new();
        let x = b.input("x", &[4, 16]);
        let y = b.op(op, attrs, &[x]);
        let inputs = vec![random(DType::F32, &[4, 16], 4.0, 11)];
        (optimize_on(b, &[y], Chip::Ascend910B), inputs)
    }

    #[test]
    fn activations_the_910b_lacks_are_decomposed() {
        let cases = [
            ("gelu", vec![], "erf"),
            ("gelu", vec![("approximate", text("tanh"))], "tanh"),
            ("mish", vec![], "softplus"),
            ("swish", vec![], "silu"),
            ("swish", vec![("alpha", Attr::Float(1.702))], "sigmoid"),
        ];
        for (op, attrs, through) in cases {
            let (run, inputs) = unary_on_910b(op, &attrs);
            assert!(!run.runs(op), "{op} {attrs:?} stays:\n{}", opfuse_ir::print(&run.optimized));
            assert!(run.runs(through), "{op} {attrs:?} not through {through}");
            run.assert_same(&inputs, &no_params(), 1e-6);
        }
    }

    #[test]
    fn dequantize_per_axis_with_a_zero_point_is_exact() {
        let mut b = Builder::new();
        let x = typed_input(&mut b, "x", DType::I8, &[3, 4, 5]);
        let scale = b.param("scale", &[4]);
        let zero = b.graph.add_param("zero", TensorType::new(DType::I8, vec![4]));
        let y = b.op("dequantize_linear", &[], &[x, scale, zero]);
        let run = optimize_on(b, &[y], Chip::Ascend910B);
        assert!(!run.runs("dequantize_linear"));
        let data: Vec<f64> = (0..60).map(|i| ((i * 37) % 256 - 128) as f64).collect();
        let params = BTreeMap::from([
            ("scale".to_string(), random(DType::F32, &[4], 0.1, 5)),
            ("zero".to_string(), tensor(DType::I8, &[4], vec![-128.0, 0.0, 3.0, 127.0])),
        ]);
        run.assert_same(&[tensor(DType::I8, &[3, 4, 5], data)], &params, 0.0);
    }

    #[test]
    fn dequantize_in_blocks_cut_to_the_axis_is_exact() {
        // 10 along axis 1 in blocks of 4: three scales, the last covering two.
        let mut b = Builder::new();
        let x = typed_input(&mut b, "x", DType::U8, &[2, 10]);
        let scale = b.input("scale", &[2, 3]);
        let y = b.op("dequantize_linear", &[("block_size", Attr::Int(4))], &[x, scale]);
        let run = optimize_on(b, &[y], Chip::Ascend910B);
        assert!(!run.runs("dequantize_linear"));
        let inputs = [random(DType::U8, &[2, 10], 256.0, 1), random(DType::F32, &[2, 3], 1.0, 2)];
        run.assert_same(&inputs, &no_params(), 0.0);
    }

    #[test]
    fn an_inexact_dequantize_is_kept() {
        // A 16-bit difference is not exact in f16, so nothing replaces the op.
        let mut b = Builder::new();
        let x = typed_input(&mut b, "x", DType::I16, &[8]);
        let scale = typed_input(&mut b, "scale", DType::F16, &[]);
        let zero = typed_input(&mut b, "zero", DType::I16, &[]);
        let y = b.op("dequantize_linear", &[], &[x, scale, zero]);
        assert!(optimize_on(b, &[y], Chip::Ascend910B).runs("dequantize_linear"));
    }

    /// `quantize_linear(x, scale[, zero])` on 910B, checked exactly on x
    /// with halves, out-of-range values and NaN.
    fn check_quantize(attrs: &[(&str, Attr)], zero: Option<(DType, f64)>, scale: f64) {
        let mut b = Builder::new();
        let x = b.input("x", &[2, 8]);
        let s = b.input("scale", &[]);
        let mut operands = vec![x, s];
        let mut inputs = vec![
            tensor(
                DType::F32,
                &[2, 8],
                [
                    0.0,
                    0.5,
                    1.5,
                    2.5,
                    -2.5,
                    -0.5,
                    3.25,
                    1e9,
                    -1e9,
                    127.5,
                    -128.5,
                    254.5,
                    255.5,
                    f64::NAN,
                    0.2,
                    -7.0,
                ]
                .map(|v| v * scale)
                .to_vec(),
            ),
            Tensor::scalar(DType::F32, scale),
        ];
        if let Some((dtype, value)) = zero {
            operands.push(typed_input(&mut b, "zero", dtype, &[]));
            inputs.push(Tensor::scalar(dtype, value));
        }
        let y = b.op("quantize_linear", attrs, &operands);
        let run = optimize_on(b, &[y], Chip::Ascend910B);
        assert!(!run.runs("quantize_linear"), "{attrs:?} {zero:?}");
        run.assert_same(&inputs, &no_params(), 0.0);
    }

    #[test]
    fn quantize_rounds_half_to_even_and_saturates_exactly() {
        check_quantize(&[], None, 0.5);
        check_quantize(&[], Some((DType::I8, -3.0)), 0.25);
        check_quantize(&[], Some((DType::U8, 128.0)), 3.0);
        check_quantize(&[("output_dtype", text("i16"))], None, 0.1);
        check_quantize(&[("output_dtype", text("f8e4m3"))], None, 0.1);
        check_quantize(&[("output_dtype", text("f8e5m2")), ("saturate", Attr::Bool(false))], None, 0.1);
    }

    #[test]
    fn quantize_per_axis_is_exact() {
        let mut b = Builder::new();
        let x = b.input("x", &[4, 6]);
        let scale = b.param("scale", &[4]);
        let zero = b.graph.add_param("zero", TensorType::new(DType::I8, vec![4]));
        let y = b.op("quantize_linear", &[("axis", Attr::Int(0))], &[x, scale, zero]);
        let run = optimize_on(b, &[y], Chip::Ascend910B);
        assert!(!run.runs("quantize_linear"));
        let params = BTreeMap::from([
            ("scale".to_string(), tensor(DType::F32, &[4], vec![0.01, 0.5, 2.0, 0.003])),
            ("zero".to_string(), tensor(DType::I8, &[4], vec![0.0, -5.0, 100.0, -128.0])),
        ]);
        run.assert_same(&[random(DType::F32, &[4, 6], 2.0, 9)], &params, 0.0);
    }

    #[test]
    fn fp8_round_trip_is_exact_on_the_910b() {
        // 10 along the last axis in blocks of 4: padded to 12, then cut; the
        // second row's last block is all zeros (scale 0, y 0).
        let mut b = Builder::new();
        let x = b.input("x", &[2, 10]);
        let block = [("block_size", Attr::Int(4))];
        let quantized = b.outputs("fp8_quantize", &block, &[x]);
        let restored = b.op("fp8_dequantize", &block, &quantized);
        let run = optimize_on(b, &[quantized[0], quantized[1], restored], Chip::Ascend910B);
        assert!(!run.runs("fp8_quantize") && !run.runs("fp8_dequantize"));
        let mut data = random(DType::F32, &[2, 10], 3.0, 4).into_data();
        data[18..].fill(0.0);
        data[3] = 1e-30;
        run.assert_same(&[tensor(DType::F32, &[2, 10], data)], &no_params(), 0.0);
    }

    #[test]
    fn fp8_dequantize_of_an_input_is_exact() {
        let mut b = Builder::new();
        let y = typed_input(&mut b, "y", DType::F8E4M3, &[3, 8]);
        let scales = b.input("scales", &[3, 1]);
        let out = b.op("fp8_dequantize", &[("block_size", Attr::Int(128))], &[y, scales]);
        let run = optimize_on(b, &[out], Chip::Ascend910B);
        assert!(!run.runs("fp8_dequantize"));
        let inputs = [random(DType::F8E4M3, &[3, 8], 400.0, 6), random(DType::F32, &[3, 1], 1.0, 7)];
        run.assert_same(&inputs, &no_params(), 0.0);
    }

    #[test]
    fn moe_gates_become_top_k() {
        let softmax = [("k", Attr::Int(2)), ("normalize", Attr::Bool(true)), ("scale", Attr::Float(2.5))];
        let sigmoid = [("k", Attr::Int(3)), ("scoring", text("sigmoid")), ("normalize", Attr::Bool(true))];
        for (attrs, biased) in [(&softmax[..], false), (&sigmoid[..], true), (&softmax[..1], true)] {
            let mut b = Builder::new();
            let logits = b.input("logits", &[5, 8]);
            let mut operands = vec![logits];
            let mut inputs = vec![random(DType::F32, &[5, 8], 3.0, 21)];
            if biased {
                operands.push(b.input("bias", &[8]));
                inputs.push(random(DType::F32, &[8], 0.5, 22));
            }
            let gate = b.outputs("moe_gate", attrs, &operands);
            let run = optimize_on(b, &gate, Chip::Ascend910B);
            assert!(!run.runs("moe_gate") && run.runs("top_k"), "{attrs:?} biased {biased}");
            run.assert_same(&inputs, &no_params(), 1e-6);
        }
    }

    #[test]
    fn moe_dispatch_and_combine_become_sorts_and_gathers() {
        let mut b = Builder::new();
        let x = b.input("x", &[6, 4]);
        let ids = typed_input(&mut b, "ids", DType::I64, &[6, 2]);
        let weights = b.input("weights", &[6, 2]);
        let dispatched = b.outputs("moe_dispatch", &[], &[x, ids]);
        let scaled = b.op("mul", &[], &[dispatched[0], dispatched[0]]);
        let combined = b.op("moe_combine", &[], &[scaled, weights, dispatched[2]]);
        let run = optimize_on(b, &[combined, dispatched[1], dispatched[2]], Chip::Ascend910B);
        assert!(!run.runs("moe_dispatch") && !run.runs("moe_combine"));
        // Ties among the expert ids keep token order, as the reference's stable sort.
        let ids = tensor(
            DType::I64,
            &[6, 2],
            vec![3.0, 0.0, 1.0, 3.0, 0.0, 2.0, 2.0, 1.0, 3.0, 0.0, 1.0, 2.0],
        );
        let inputs = [random(DType::F32, &[6, 4], 1.0, 31), ids, random(DType::F32, &[6, 2], 1.0, 32)];
        run.assert_same(&inputs, &no_params(), 1e-6);
    }

    #[test]
    fn ai_cpu_gathers_become_flat_gathers() {
        // gather_elements along axis 1 with indices narrower than data, some negative.
        let mut b = Builder::new();
        let data = b.input("data", &[3, 5, 4]);
        let indices = typed_input(&mut b, "indices", DType::I32, &[2, 6, 4]);
        let elements = b.op("gather_elements", &[("axis", Attr::Int(1))], &[data, indices]);
        // gather_nd with one batch axis and pairs indexing the next two.
        let pairs = typed_input(&mut b, "pairs", DType::I64, &[3, 2, 2]);
        let nd = b.op("gather_nd", &[("batch_dims", Attr::Int(1))], &[data, pairs]);
        let run = optimize_on(b, &[elements, nd], Chip::Ascend910B);
        assert!(!run.runs("gather_elements") && !run.runs("gather_nd"));
        let wrap = |t: Tensor, extent: f64| {
            let dims = t.dims().to_vec();
            let data = t
                .into_data()
                .iter()
                .enumerate()
                .map(|(i, v)| if i % 3 == 0 { v - extent } else { *v })
                .collect();
            tensor(DType::I64, &dims, data)
        };
        let indices = wrap(random(DType::I64, &[2, 6, 4], 5.0, 41), 5.0);
        let indices = tensor(DType::I32, &[2, 6, 4], indices.into_data());
        let pairs = random(DType::I64, &[3, 2, 2], 4.0, 42);
        run.assert_same(&[random(DType::F32, &[3, 5, 4], 1.0, 40), indices, pairs], &no_params(), 0.0);
    }

    #[test]
    fn a_chip_that_runs_the_op_keeps_it() {
        // The 950 runs fp8 dequantisation on its vector units: one kernel, no rewrite needed.
        let mut b = Builder::new();
        let y = typed_input(&mut b, "y", DType::F8E4M3, &[4, 256]);
        let scales = b.input("scales", &[4, 2]);
        let out = b.op("fp8_dequantize", &[], &[y, scales]);
        assert!(optimize_on(b, &[out], Chip::Ascend950PR).runs("fp8_dequantize"));
    }
}
