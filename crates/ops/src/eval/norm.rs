//! Reference semantics of the norm family: normalisations, softmax,
//! attention and rotary embeddings.

use opfuse_ir::{DType, Tensor};

use super::reduction::index_of_max;
use super::support::{broadcast_offsets, reduced_offsets, AxisSplit};
use super::{EvalArgs, EvalError, EvalFn, EvalResult};
use crate::args::{normalize_axes, normalize_axis};
use crate::rules::norm::{attention_dims, rotary_dims, softmax_precision, AttentionDims, RotaryDims};

/// Semantics of this family, by catalog name.
pub const EVAL: &[(&str, EvalFn)] = &[
    ("batch_norm", batch_norm),
    ("layer_norm", layer_norm),
    ("rms_norm", rms_norm),
    ("group_norm", group_norm),
    ("instance_norm", instance_norm),
    ("lp_normalization", lp_normalization),
    ("mean_variance_normalization", mean_variance_normalization),
    ("softmax", softmax),
    ("log_softmax", log_softmax),
    ("hardmax", hardmax),
    ("scaled_dot_product_attention", attention),
    ("rotary_embedding", rotary_embedding),
];

/// Mean and population variance of `values`.
fn moments(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let variance = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
    (mean, variance)
}

/// `x[N, C, ...]` seen as `(batch, channels, plane)`.
fn channel_layout(x: &Tensor) -> (usize, usize, usize) {
    let split = AxisSplit::new(x.dims(), 1);
    (split.outer, split.len, split.inner)
}

fn batch_norm(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let x = args.input(0)?;
    let [scale, bias, running_mean, running_var] = [1, 2, 3, 4].map(|i| args.inputs.get(i).map(|t| t.data()).unwrap_or(&[]));
    let epsilon = args.args.float("epsilon")?;
    let (batch, channels, plane) = channel_layout(x);
    let training = args.args.bool("training_mode")?;
    // Training mode normalises with the batch's own statistics.
    let (mean, var): (Vec<f64>, Vec<f64>) = match training {
        false => (running_mean.to_vec(), running_var.to_vec()),
        true => (0..channels)
            .map(|c| {
                let values: Vec<f64> = (0..batch)
                    .flat_map(|n| x.data()[(n * channels + c) * plane..(n * channels + c + 1) * plane].iter().copied())
                    .collect();
                moments(&values)
            })
            .unzip(),
    };
    let y = x
        .data()
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let c = (i / plane) % channels;
            (v - mean[c]) / (var[c] + epsilon).sqrt() * scale[c] + bias[c]
        })
        .collect();
    let mut outputs = vec![args.output(0, y)?];
    if training {
        let momentum = args.args.float("momentum")?;
        let update = |running: &[f64], batch: &[f64]| -> Vec<f64> {
            running
                .iter()
                .zip(batch)
                .map(|(r, b)| r * momentum + b * (1.0 - momentum))
                .collect()
        };
        outputs.push(args.output(1, update(running_mean, &mean))?);
        outputs.push(args.output(2, update(running_var, &var))?);
    }
    Ok(outputs)
}

/// Per-element offsets of input `index` broadcast to `x`, or None when absent.
fn param_offsets<'a>(args: &'a EvalArgs<'_>, index: usize, x: &Tensor) -> Option<(Vec<usize>, &'a [f64])> {
    args.optional_input(index)
        .map(|p| (broadcast_offsets(x.dims(), p.dims()), p.data()))
}

/// `x` in row-major lanes of `lane` elements (the normalised axes).
fn lane_len(x: &Tensor, axis: usize) -> usize {
    x.dims()[axis..].iter().product::<u64>().max(1) as usize
}

fn layer_norm(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let x = args.input(0)?;
    let axis = normalize_axis(args.args.int("axis")?, x.dims().len(), "axis")?;
    let epsilon = args.args.float("epsilon")?;
    let scale = param_offsets(args, 1, x);
    let bias = param_offsets(args, 2, x);
    let lane = lane_len(x, axis);
    let (mut y, mut means, mut inv_stds) = (Vec::with_capacity(x.len()), Vec::new(), Vec::new());
    for (chunk, values) in x.data().chunks(lane).enumerate() {
        let (mean, variance) = moments(values);
        let inv_std = 1.0 / (variance + epsilon).sqrt();
        for (j, &v) in values.iter().enumerate() {
            let i = chunk * lane + j;
            let scaled = (v - mean) * inv_std * scale.as_ref().map_or(1.0, |(o, d)| d[o[i]]);
            y.push(scaled + bias.as_ref().map_or(0.0, |(o, d)| d[o[i]]));
        }
        means.push(mean);
        inv_stds.push(inv_std);
    }
    let mut outputs = vec![args.output(0, y)?];
    if args.args.bool("statistics")? {
        outputs.push(args.output(1, means)?);
        outputs.push(args.output(2, inv_stds)?);
    }
    Ok(outputs)
}

fn rms_norm(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let x = args.input(0)?;
    let axis = normalize_axis(args.args.int("axis")?, x.dims().len(), "axis")?;
    let epsilon = args.args.float("epsilon")?;
    let (scale_offsets, scale) = param_offsets(args, 1, x).ok_or_else(|| EvalError::new("rms_norm needs a scale"))?;
    let lane = lane_len(x, axis);
    let mut y = Vec::with_capacity(x.len());
    for (chunk, values) in x.data().chunks(lane).enumerate() {
        let mean_square = values.iter().map(|v| v * v).sum::<f64>() / values.len() as f64;
        let rms = (mean_square + epsilon).sqrt();
        y.extend(
            values
                .iter()
                .enumerate()
                .map(|(j, v)| v / rms * scale[scale_offsets[chunk * lane + j]]),
        );
    }
    Ok(vec![args.output(0, y)?])
}

/// Normalises contiguous runs of `run` elements, then scales and shifts by
/// channel (each `plane` elements belong to the next channel).
fn normalize_runs(args: &EvalArgs<'_>, run: usize) -> EvalResult<Vec<Tensor>> {
    let x = args.input(0)?;
    let (scale, bias) = (args.input(1)?.data(), args.input(2)?.data());
    let epsilon = args.args.float("epsilon")?;
    let (_, channels, plane) = channel_layout(x);
    let mut y = Vec::with_capacity(x.len());
    for (chunk, values) in x.data().chunks(run.max(1)).enumerate() {
        let (mean, variance) = moments(values);
        let inv_std = 1.0 / (variance + epsilon).sqrt();
        for (j, &v) in values.iter().enumerate() {
            let c = ((chunk * run + j) / plane.max(1)) % channels;
            y.push((v - mean) * inv_std * scale[c] + bias[c]);
        }
    }
    Ok(vec![args.output(0, y)?])
}

fn group_norm(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let (_, channels, plane) = channel_layout(args.input(0)?);
    let groups = args.args.int("num_groups")?.max(1) as usize;
    normalize_runs(args, channels / groups * plane)
}

fn instance_norm(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let (_, _, plane) = channel_layout(args.input(0)?);
    normalize_runs(args, plane)
}

/// Output 0 with `f` applied to each lane along `axis` (in place).
fn map_lanes(args: &EvalArgs<'_>, f: impl Fn(&mut [f64])) -> EvalResult<Vec<Tensor>> {
    let x = args.input(0)?;
    let axis = normalize_axis(args.args.int("axis")?, x.dims().len(), "axis")?;
    let split = AxisSplit::new(x.dims(), axis);
    let mut data = x.data().to_vec();
    let mut lane = vec![0.0; split.len];
    for outer in 0..split.outer {
        for inner in 0..split.inner {
            for (i, slot) in lane.iter_mut().enumerate() {
                *slot = data[split.at(outer, i, inner)];
            }
            f(&mut lane);
            for (i, &value) in lane.iter().enumerate() {
                data[split.at(outer, i, inner)] = value;
            }
        }
    }
    Ok(vec![args.output(0, data)?])
}

/// x / ||x||_p, 0 where the norm is 0 (ONNX's rule).
fn lp_normalization(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let p = args.args.int("p")?;
    map_lanes(args, |lane| {
        let norm = match p {
            1 => lane.iter().map(|v| v.abs()).sum::<f64>(),
            _ => lane.iter().map(|v| v * v).sum::<f64>().sqrt(),
        };
        lane.iter_mut().for_each(|v| *v = if norm == 0.0 { 0.0 } else { *v / norm });
    })
}

/// (x - mean) / (stddev + 1e-9) over `axes`, as ONNX's function body.
fn mean_variance_normalization(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let x = args.input(0)?;
    let axes = normalize_axes(&args.args.ints("axes")?, x.dims().len(), "axes")?;
    let offsets = reduced_offsets(x.dims(), &axes);
    let groups = offsets.iter().max().map_or(0, |m| m + 1);
    let mut members: Vec<Vec<f64>> = vec![Vec::new(); groups];
    for (&value, &group) in x.data().iter().zip(&offsets) {
        members[group].push(value);
    }
    let stats: Vec<(f64, f64)> = members.iter().map(|values| moments(values)).collect();
    let y = x
        .data()
        .iter()
        .zip(&offsets)
        .map(|(&v, &group)| {
            let (mean, variance) = stats[group];
            (v - mean) / (variance.sqrt() + 1e-9)
        })
        .collect();
    Ok(vec![args.output(0, y)?])
}

/// exp(x - max) / sum, in place; a lane of all -inf gives NaN, as in NumPy.
fn softmax_lane(lane: &mut [f64]) {
    let max = lane.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    lane.iter_mut().for_each(|v| *v = (*v - max).exp());
    let sum: f64 = lane.iter().sum();
    lane.iter_mut().for_each(|v| *v /= sum);
}

fn softmax(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    map_lanes(args, softmax_lane)
}

fn log_softmax(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    map_lanes(args, |lane| {
        let max = lane.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let log_sum = lane.iter().map(|v| (v - max).exp()).sum::<f64>().ln();
        lane.iter_mut().for_each(|v| *v = *v - max - log_sum);
    })
}

fn hardmax(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    map_lanes(args, |lane| {
        if lane.is_empty() {
            return;
        }
        let best = index_of_max(lane);
        lane.iter_mut()
            .enumerate()
            .for_each(|(i, v)| *v = if i == best { 1.0 } else { 0.0 });
    })
}

/// Reads element `[b, h, s, d]` of an attention operand of `heads` heads and
/// head size `size`, laid out `[B, H, S, D]` or packed `[B, S, H * D]`.
struct HeadView<'a> {
    data: &'a [f64],
    heads: usize,
    len: usize,
    size: usize,
    packed: bool,
}

impl HeadView<'_> {
    fn new(tensor: &Tensor, heads: usize, len: usize, size: usize, packed: bool) -> HeadView<'_> {
        HeadView {
            data: tensor.data(),
            heads,
            len,
            size,
            packed,
        }
    }

    fn at(&self, b: usize, h: usize, s: usize, d: usize) -> f64 {
        match self.packed {
            false => self.data[((b * self.heads + h) * self.len + s) * self.size + d],
            true => self.data[((b * self.len + s) * self.heads + h) * self.size + d],
        }
    }
}

/// Follows ONNX's reference (and its function body): q and k are each
/// scaled by sqrt(scale) in q's dtype; the scores are capped, biased by the
/// mask, the causal and the window constraints, soft-maxed (in
/// `softmax_precision` when set) and cast back before multiplying v. A row
/// whose every key is masked gives zeros.
fn attention(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let dims = attention_dims(&args.args)?;
    let (q, k, v) = (args.input(0)?, args.input(1)?, args.input(2)?);
    let dtype = q.dtype();
    let AttentionDims {
        batch,
        q_heads,
        kv_heads,
        q_len,
        past_len,
        kv_len,
        head_size,
        v_head_size,
        packed,
    } = dims;
    let [batch, q_heads, kv_heads, q_len, past_len, kv_len, head_size, v_head_size] =
        [batch, q_heads, kv_heads, q_len, past_len, kv_len, head_size, v_head_size].map(|d| d as usize);
    let total = past_len + kv_len;
    let scale = match args.args.float("scale")? {
        0.0 => 1.0 / (head_size as f64).sqrt(),
        s => s,
    };
    let root = dtype.round(scale.sqrt());
    let qv = HeadView::new(q, q_heads, q_len, head_size, packed);
    let kv = HeadView::new(k, kv_heads, kv_len, head_size, packed);
    let vv = HeadView::new(v, kv_heads, kv_len, v_head_size, packed);
    // The cache is always [B, H_kv, P, D].
    let past = |index: usize, size| {
        args.optional_input(index)
            .map(|t| HeadView::new(t, kv_heads, past_len, size, false))
    };
    let (past_key, past_value) = (past(4, head_size), past(5, v_head_size));
    // Key and value `j` of the concatenated cache: the past ones first.
    let key = |b, h, j: usize, d| match (&past_key, j < past_len) {
        (Some(p), true) => p.at(b, h, j, d),
        _ => kv.at(b, h, j - past_len, d),
    };
    let value = |b, h, j: usize, d| match (&past_value, j < past_len) {
        (Some(p), true) => p.at(b, h, j, d),
        _ => vv.at(b, h, j - past_len, d),
    };
    let bias = attention_bias(args, &dims)?;
    let softcap = args.args.float("softcap")?;
    let precision = softmax_precision(&args.args)?;
    let group = q_heads / kv_heads;
    let scores_mode = args
        .args
        .bool("qk_matmul_output")?
        .then_some(args.args.int("qk_matmul_output_mode")?);
    let mut scores_out = Vec::new();
    let mut y = vec![0.0; batch * q_heads * q_len * v_head_size];
    for b in 0..batch {
        for h in 0..q_heads {
            let kv_head = h / group;
            for i in 0..q_len {
                let row_bias = |j: usize| bias(b, h, i, j);
                let capped: Vec<f64> = (0..total)
                    .map(|j| {
                        let dot: f64 = (0..head_size)
                            .map(|d| dtype.round(qv.at(b, h, i, d) * root) * dtype.round(key(b, kv_head, j, d) * root))
                            .sum();
                        let dot = dtype.round(dot);
                        if softcap > 0.0 {
                            dtype.round(softcap * (dot / softcap).tanh())
                        } else {
                            dot
                        }
                    })
                    .collect();
                let biased: Vec<f64> = capped.iter().enumerate().map(|(j, &c)| dtype.round(c + row_bias(j))).collect();
                let mut scores: Vec<f64> = biased.iter().map(|&s| precision.map_or(s, |p| p.round(s))).collect();
                let all_masked = (0..total).all(|j| row_bias(j) == f64::NEG_INFINITY);
                masked_softmax(&mut scores, all_masked);
                let probabilities: Vec<f64> = scores.iter().map(|&p| dtype.round(precision.map_or(p, |t| t.round(p)))).collect();
                // ONNX's reference soft-caps its raw scores in place, so modes 0 and 1 agree.
                match scores_mode {
                    Some(0 | 1) => scores_out.extend(capped),
                    Some(2) => scores_out.extend(biased),
                    Some(_) => scores_out.extend(&probabilities),
                    None => {}
                }
                for d in 0..v_head_size {
                    let out: f64 = probabilities.iter().enumerate().map(|(j, p)| p * value(b, kv_head, j, d)).sum();
                    let at = match packed {
                        false => ((b * q_heads + h) * q_len + i) * v_head_size + d,
                        true => ((b * q_len + i) * q_heads + h) * v_head_size + d,
                    };
                    y[at] = out;
                }
            }
        }
    }
    let mut outputs = vec![args.output(0, y)?];
    if past_key.is_some() || scores_mode.is_some() {
        let present = |size, at: &dyn Fn(usize, usize, usize, usize) -> f64| -> Vec<f64> {
            let mut data = Vec::with_capacity(batch * kv_heads * total * size);
            for b in 0..batch {
                for h in 0..kv_heads {
                    for j in 0..total {
                        data.extend((0..size).map(|d| at(b, h, j, d)));
                    }
                }
            }
            data
        };
        outputs.push(args.output(1, present(head_size, &key))?);
        outputs.push(args.output(2, present(v_head_size, &value))?);
    }
    if scores_mode.is_some() {
        outputs.push(args.output(3, scores_out)?);
    }
    Ok(outputs)
}

/// Softmax of a row of scores; zeros when the mask allows no key.
fn masked_softmax(scores: &mut [f64], all_masked: bool) {
    if all_masked {
        scores.iter_mut().for_each(|s| *s = 0.0);
        return;
    }
    let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if max == f64::NEG_INFINITY {
        scores.iter_mut().for_each(|s| *s = 0.0);
        return;
    }
    scores.iter_mut().for_each(|s| *s = (*s - max).exp());
    let sum: f64 = scores.iter().sum();
    scores.iter_mut().for_each(|s| *s /= sum);
}

/// The additive bias of score `[b, h, i, j]`: the mask (bool: 0 or -inf;
/// float: its value; -inf past its end), plus -inf where the causal or the
/// window constraint excludes key `j` for query `i` (at absolute position
/// `past_len + i`).
fn attention_bias<'a>(args: &'a EvalArgs<'_>, dims: &AttentionDims) -> EvalResult<impl Fn(usize, usize, usize, usize) -> f64 + 'a> {
    let causal = args.args.bool("is_causal")?;
    let (left, right) = (args.args.int("left_window_size")?, args.args.int("right_window_size")?);
    let mask = args.optional_input(3);
    let mask_dims: Vec<usize> = mask.map_or(Vec::new(), |m| m.dims().iter().map(|&d| d as usize).collect());
    let mask_strides = super::support::strides(mask.map_or(&[][..], |m| m.dims()));
    let past = dims.past_len as i64;
    Ok(move |b: usize, h: usize, i: usize, j: usize| {
        let position = past + i as i64;
        let j_pos = j as i64;
        if (causal && j_pos > position) || (left >= 0 && position - j_pos > left) || (right >= 0 && j_pos - position > right) {
            return f64::NEG_INFINITY;
        }
        let Some(mask) = mask else {
            return 0.0;
        };
        let rank = mask_dims.len();
        if mask_dims.last().is_some_and(|&last| j >= last) {
            return f64::NEG_INFINITY;
        }
        // Right-aligned broadcast of the mask against [B, H, S_q, T].
        let index = [b, h, i, j];
        let offset: usize = (0..rank)
            .map(|axis| {
                let at = index[4 - rank + axis];
                if mask_dims[axis] == 1 {
                    0
                } else {
                    at * mask_strides[axis]
                }
            })
            .sum();
        let value = mask.data()[offset];
        match mask.dtype() {
            DType::Bool if value != 0.0 => 0.0,
            DType::Bool => f64::NEG_INFINITY,
            _ => value,
        }
    })
}

/// Rotates pairs of the first `rotary_dim` features of each head by the
/// cos/sin of the token's position, as ONNX's RotaryEmbedding.
fn rotary_embedding(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let RotaryDims {
        batch,
        heads,
        seq,
        head_size,
        rotary_dim,
        packed,
    } = rotary_dims(&args.args)?;
    let [batch, heads, seq, head_size, rotary_dim] = [batch, heads, seq, head_size, rotary_dim].map(|d| d as usize);
    let (x, cos, sin) = (args.input(0)?, args.input(1)?, args.input(2)?);
    let half = rotary_dim / 2;
    let interleaved = args.args.bool("interleaved")?;
    let positions = args.optional_input(3);
    let max_position = cos.dims().first().copied().unwrap_or(0) as f64;
    let mut y = x.data().to_vec();
    for b in 0..batch {
        for s in 0..seq {
            // The cache row of this token.
            let row = match positions {
                Some(p) => {
                    let position = p.data()[b * seq + s];
                    if position < 0.0 || position >= max_position {
                        return Err(EvalError::new(format!(
                            "position id {position} is out of range for a cache of {max_position} positions"
                        )));
                    }
                    position as usize
                }
                None => b * seq + s,
            };
            for h in 0..heads {
                let base = match packed {
                    false => ((b * heads + h) * seq + s) * head_size,
                    true => ((b * seq + s) * heads + h) * head_size,
                };
                for k in 0..half {
                    let (c, sn) = (cos.data()[row * half + k], sin.data()[row * half + k]);
                    let (first, second) = if interleaved {
                        (base + 2 * k, base + 2 * k + 1)
                    } else {
                        (base + k, base + k + half)
                    };
                    let (x1, x2) = (x.data()[first], x.data()[second]);
                    y[first] = c * x1 - sn * x2;
                    y[second] = sn * x1 + c * x2;
                }
            }
        }
    }
    Ok(vec![args.output(0, y)?])
}

#[cfg(test)]
mod tests {
    use opfuse_ir::Attr;
    use opfuse_ir::DType::{Bool, F32, F64, I64};

    use crate::testing::{eval, eval1, ints, tensor};

    fn close(got: &[f64], expected: &[f64]) {
        assert_eq!(got.len(), expected.len(), "{got:?} vs {expected:?}");
        for (g, e) in got.iter().zip(expected) {
            assert!((g - e).abs() < 1e-6, "{got:?} vs {expected:?}");
        }
    }

    #[test]
    fn batch_norm_inference_and_training() {
        let x = tensor(F32, &[2, 1, 2], &[1.0, 2.0, 3.0, 4.0]);
        let one = |v: f64| tensor(F32, &[1], &[v]);
        // (x - 2) / sqrt(4 + 0) * 3 + 1 with epsilon 0.
        let inference = [("epsilon", Attr::Float(0.0))];
        assert_eq!(
            eval1("batch_norm", &inference, &[x.clone(), one(3.0), one(1.0), one(2.0), one(4.0)]),
            vec![-0.5, 1.0, 2.5, 4.0]
        );
        // Batch mean 2.5, variance 1.25; running stats 0.9 * old + 0.1 * batch.
        let training = [("epsilon", Attr::Float(0.0)), ("training_mode", Attr::Bool(true))];
        let out = eval("batch_norm", &training, &[x, one(1.0), one(0.0), one(0.0), one(1.0)]).unwrap();
        let sd = 1.25f64.sqrt();
        close(out[0].data(), &[-1.5 / sd, -0.5 / sd, 0.5 / sd, 1.5 / sd]);
        close(out[1].data(), &[0.25]);
        close(out[2].data(), &[1.025]);
    }

    #[test]
    fn layer_and_rms_norms() {
        let x = tensor(F64, &[2, 2], &[1.0, 3.0, 2.0, 2.0]);
        let scale = tensor(F64, &[2], &[1.0, 2.0]);
        let bias = tensor(F64, &[2], &[0.5, 0.5]);
        // Row 0: mean 2, variance 1: [-1, 1] * [1, 2] + 0.5; row 1 is constant.
        let attrs = [("epsilon", Attr::Float(0.0)), ("statistics", Attr::Bool(true))];
        let out = eval("layer_norm", &attrs, &[tensor(F64, &[1, 2], &[1.0, 3.0]), scale.clone(), bias]).unwrap();
        assert_eq!(out[0].data(), &[-0.5, 2.5]);
        assert_eq!((out[1].data(), out[2].data()), (&[2.0][..], &[1.0][..]));
        // RMS of [1, 3] is sqrt(5), of [2, 2] is 2.
        let rms = eval1("rms_norm", &[("epsilon", Attr::Float(0.0))], &[x, scale]);
        close(&rms, &[1.0 / 5f64.sqrt(), 6.0 / 5f64.sqrt(), 1.0, 2.0]);
    }

    #[test]
    fn group_instance_lp_and_mvn() {
        // Two groups of two channels with one element each: [1, 3] and [5, 9].
        let x = tensor(F64, &[1, 4, 1], &[1.0, 3.0, 5.0, 9.0]);
        let ones = tensor(F64, &[4], &[1.0; 4]);
        let zeros = tensor(F64, &[4], &[0.0; 4]);
        let groups = [("num_groups", Attr::Int(2)), ("epsilon", Attr::Float(0.0))];
        assert_eq!(
            eval1("group_norm", &groups, &[x, ones.clone(), zeros.clone()]),
            vec![-1.0, 1.0, -1.0, 1.0]
        );
        let x = tensor(F64, &[1, 2, 2], &[0.0, 2.0, 4.0, 6.0]);
        let (s, b) = (tensor(F64, &[2], &[2.0, 1.0]), tensor(F64, &[2], &[0.0, 7.0]));
        assert_eq!(
            eval1("instance_norm", &[("epsilon", Attr::Float(0.0))], &[x, s, b]),
            vec![-2.0, 2.0, 6.0, 8.0]
        );
        let x = tensor(F64, &[2, 2], &[3.0, 4.0, 0.0, 0.0]);
        assert_eq!(eval1("lp_normalization", &[], std::slice::from_ref(&x)), vec![0.6, 0.8, 0.0, 0.0]);
        let l1 = eval1("lp_normalization", &[("p", Attr::Int(1)), ("axis", Attr::Int(0))], &[x]);
        assert_eq!(l1, vec![1.0, 1.0, 0.0, 0.0]);
        // Over axis 1: [1, 3] has mean 2 and stddev 1.
        let x = tensor(F64, &[1, 2], &[1.0, 3.0]);
        close(&eval1("mean_variance_normalization", &[("axes", ints(&[1]))], &[x]), &[-1.0, 1.0]);
    }

    #[test]
    fn softmax_family() {
        let x = tensor(F64, &[2, 2], &[0.0, 0.0, 1.0, 1000.0]);
        assert_eq!(eval1("softmax", &[], std::slice::from_ref(&x)), vec![0.5, 0.5, 0.0, 1.0]);
        assert_eq!(
            eval1("softmax", &[("axis", Attr::Int(0))], std::slice::from_ref(&x)),
            vec![1.0 / (1.0 + 1f64.exp()), 0.0, 1f64.exp() / (1.0 + 1f64.exp()), 1.0]
        );
        assert_eq!(
            eval1("log_softmax", &[], std::slice::from_ref(&x)),
            vec![-(2f64.ln()), -(2f64.ln()), -999.0, 0.0]
        );
        assert_eq!(eval1("hardmax", &[], &[x]), vec![1.0, 0.0, 0.0, 1.0]);
    }

    #[test]
    fn attention_masks_causal_and_grouped_heads() {
        // One head, head size 1, keys [1, 2], values [10, 20], query 0 (scores 0):
        // uniform weights give 15; scale does not matter for a zero query.
        let q = tensor(F64, &[1, 1, 1, 1], &[0.0]);
        let k = tensor(F64, &[1, 1, 2, 1], &[1.0, 2.0]);
        let v = tensor(F64, &[1, 1, 2, 1], &[10.0, 20.0]);
        assert_eq!(eval1("scaled_dot_product_attention", &[], &[q, k.clone(), v.clone()]), vec![15.0]);
        // Query 1 with scale 1: scores [1, 2], weights [1, e] / (1 + e).
        let q = tensor(F64, &[1, 1, 2, 1], &[1.0, 1.0]);
        let e = 1f64.exp();
        let weighted = (10.0 + 20.0 * e) / (1.0 + e);
        let scaled = [("scale", Attr::Float(1.0))];
        close(
            &eval1("scaled_dot_product_attention", &scaled, &[q.clone(), k.clone(), v.clone()]),
            &[weighted, weighted],
        );
        // Causal: query 0 sees key 0 only.
        let causal = [("scale", Attr::Float(1.0)), ("is_causal", Attr::Bool(true))];
        close(
            &eval1("scaled_dot_product_attention", &causal, &[q.clone(), k.clone(), v.clone()]),
            &[10.0, weighted],
        );
        // A bool mask hiding key 1 from query 1, and nothing from query 0;
        // a mask one key short hides key 1 from both.
        let mask = tensor(Bool, &[2, 2], &[1.0, 1.0, 1.0, 0.0]);
        close(
            &eval1("scaled_dot_product_attention", &scaled, &[q.clone(), k.clone(), v.clone(), mask]),
            &[weighted, 10.0],
        );
        let short = tensor(F64, &[1], &[0.0]);
        close(
            &eval1("scaled_dot_product_attention", &scaled, &[q.clone(), k.clone(), v.clone(), short]),
            &[10.0, 10.0],
        );
        // A row with every key masked gives zeros.
        let none = tensor(Bool, &[1], &[0.0]);
        close(
            &eval1("scaled_dot_product_attention", &scaled, &[q, k.clone(), v.clone(), none]),
            &[0.0, 0.0],
        );
        // Two query heads share one key/value head.
        let q2 = tensor(F64, &[1, 2, 1, 1], &[0.0, 0.0]);
        assert_eq!(eval1("scaled_dot_product_attention", &[], &[q2, k, v]), vec![15.0, 15.0]);
    }

    #[test]
    fn attention_with_a_past_cache() {
        // Past key 0 with value 100, new key 0 with value 0: both score 0.
        let q = tensor(F64, &[1, 1, 1, 1], &[1.0]);
        let k = tensor(F64, &[1, 1, 1, 1], &[0.0]);
        let v = tensor(F64, &[1, 1, 1, 1], &[0.0]);
        let mask = tensor(F64, &[1, 2], &[0.0, 0.0]);
        let past_key = tensor(F64, &[1, 1, 1, 1], &[0.0]);
        let past_value = tensor(F64, &[1, 1, 1, 1], &[100.0]);
        let out = eval("scaled_dot_product_attention", &[], &[q, k, v, mask, past_key, past_value]).unwrap();
        assert_eq!(out[0].data(), &[50.0]);
        assert_eq!((out[1].data(), out[2].data()), (&[0.0, 0.0][..], &[100.0, 0.0][..]));
    }

    #[test]
    fn attention_returns_its_scores_on_request() {
        // Scores [1, 2] (scale 1), a causal mask for query 0 of 2.
        let q = tensor(F64, &[1, 1, 2, 1], &[1.0, 1.0]);
        let k = tensor(F64, &[1, 1, 2, 1], &[1.0, 2.0]);
        let v = tensor(F64, &[1, 1, 2, 1], &[10.0, 20.0]);
        let attrs = |mode: i64| {
            vec![
                ("scale", Attr::Float(1.0)),
                ("is_causal", Attr::Bool(true)),
                ("qk_matmul_output", Attr::Bool(true)),
                ("qk_matmul_output_mode", Attr::Int(mode)),
            ]
        };
        let scores = |mode| eval("scaled_dot_product_attention", &attrs(mode), &[q.clone(), k.clone(), v.clone()]).unwrap();
        let raw = scores(0);
        assert_eq!((raw.len(), raw[1].data(), raw[3].data()), (4, k.data(), &[1.0, 2.0, 1.0, 2.0][..]));
        assert_eq!(scores(2)[3].data(), &[1.0, f64::NEG_INFINITY, 1.0, 2.0]);
        let e = 1f64.exp();
        close(scores(3)[3].data(), &[1.0, 0.0, 1.0 / (1.0 + e), e / (1.0 + e)]);
    }

    #[test]
    fn rotary_embedding_rotates_halves_or_neighbours() {
        // One head of 4 features, a quarter turn (cos 0, sin 1) for pair 0 and
        // none (cos 1, sin 0) for pair 1.
        let x = tensor(F32, &[1, 1, 1, 4], &[1.0, 2.0, 3.0, 4.0]);
        let cos = tensor(F32, &[1, 1, 2], &[0.0, 1.0]);
        let sin = tensor(F32, &[1, 1, 2], &[1.0, 0.0]);
        // Halves: pairs (1, 3) and (2, 4); (1, 3) -> (-3, 1).
        assert_eq!(
            eval1("rotary_embedding", &[], &[x.clone(), cos.clone(), sin.clone()]),
            vec![-3.0, 2.0, 1.0, 4.0]
        );
        // Neighbours: pairs (1, 2) and (3, 4); (1, 2) -> (-2, 1).
        let interleaved = [("interleaved", Attr::Bool(true))];
        assert_eq!(
            eval1("rotary_embedding", &interleaved, &[x.clone(), cos, sin]),
            vec![-2.0, 1.0, 3.0, 4.0]
        );
        // Position 1 of a two-row cache; rotating only the first 2 features.
        let cos = tensor(F32, &[2, 1], &[1.0, 0.0]);
        let sin = tensor(F32, &[2, 1], &[0.0, 1.0]);
        let ids = tensor(I64, &[1, 1], &[1.0]);
        let partial = [("rotary_embedding_dim", Attr::Int(2))];
        assert_eq!(
            eval1("rotary_embedding", &partial, &[x.clone(), cos.clone(), sin.clone(), ids]),
            vec![-2.0, 1.0, 3.0, 4.0]
        );
        let bad = tensor(I64, &[1, 1], &[2.0]);
        assert_eq!(
            eval("rotary_embedding", &partial, &[x, cos, sin, bad]).unwrap_err(),
            "position id 2 is out of range for a cache of 2 positions"
        );
    }
}
