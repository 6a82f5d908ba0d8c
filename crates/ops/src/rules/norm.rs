//! Normalisations, softmax and attention: same shape out as in (attention:
//! the query's, with the value's head size), parameter tensors shaped like
//! the normalised axes or the channels.

use opfuse_ir::{DType, Shape, TensorType};

use super::broadcast::broadcast;
use super::elements;
use crate::args::{attr_error, dtype_error, integer_input, normalize_axes, normalize_axis, same_dtype, shape_error, Args, InferResult};
use crate::code::{op, OpCode};

/// Shape rules and FLOP formulas of this family, by catalog name.
pub const RULES: &[(&str, OpCode)] = &[
    // Batch norm folds to a multiply-add per element (training adds the
    // statistics); layer, group and instance norm take a mean, a variance, a
    // normalise and an affine (about 8); RMS norm about 4; softmax a max,
    // subtract, exp, sum and divide (5).
    ("batch_norm", op(batch_norm, batch_norm_flops)),
    ("layer_norm", op(layer_norm, flops_times::<8>)),
    ("rms_norm", op(rms_norm, flops_times::<4>)),
    ("group_norm", op(group_norm, flops_times::<8>)),
    ("instance_norm", op(instance_norm, flops_times::<8>)),
    ("lp_normalization", op(lp_normalization, flops_times::<3>)),
    ("mean_variance_normalization", op(mean_variance_normalization, flops_times::<7>)),
    ("softmax", op(softmax, flops_times::<5>)),
    ("log_softmax", op(softmax, flops_times::<6>)),
    ("hardmax", op(softmax, flops_times::<2>)),
    ("scaled_dot_product_attention", op(attention, attention_flops)),
    ("rotary_embedding", op(rotary_embedding, rotary_flops)),
];

/// Input 0 as a float tensor.
fn float_input<'a>(args: &'a Args<'_>) -> InferResult<&'a TensorType> {
    let x = args.input(0)?;
    if !x.dtype.is_float() {
        return Err(dtype_error(0, format!("expects a float tensor, found {}", x.dtype))
            .with_help(format!("cast it first: `cast(x, to = \"f32\")` (it is {})", x.dtype)));
    }
    Ok(x)
}

/// Requires inputs `indices` to be `[C]`, one entry per channel of `x[N, C, ...]`,
/// of `x`'s dtype.
fn per_channel(args: &Args<'_>, indices: &[usize]) -> InferResult<u64> {
    for &index in indices {
        same_dtype(args, &[0, index])?;
    }
    per_channel_any_float(args, indices)
}

/// As [`per_channel`], the parameters in any float dtype.
fn per_channel_any_float(args: &Args<'_>, indices: &[usize]) -> InferResult<u64> {
    let x = float_input(args)?;
    if x.rank() < 2 {
        return Err(shape_error(0, format!("input must be [N, C, ...], found {}", x.shape)));
    }
    let channels = x.shape.0[1];
    for &index in indices {
        let p = args.input(index)?;
        if !p.dtype.is_float() {
            return Err(dtype_error(index, format!("expects a float tensor, found {}", p.dtype)));
        }
        if p.shape.dims() != [channels] {
            return Err(shape_error(
                index,
                format!("must be [{channels}], one per channel, found {}", p.shape),
            ));
        }
    }
    Ok(channels)
}

/// Batch norm: `x[N, C, ...]` with `scale`, `bias`, `mean`, `var` of `[C]`
/// (ONNX lets them be another float type than `x`, as mixed-precision
/// models have them); in training mode also the updated running mean and
/// variance, in `mean`'s dtype.
pub fn batch_norm(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let channels = per_channel_any_float(args, &[1, 2, 3, 4])?;
    let x = args.input(0)?;
    let mut outputs = vec![x.clone()];
    if args.bool("training_mode")? {
        let stats = TensorType::new(args.input(3)?.dtype, vec![channels]);
        outputs.extend([stats.clone(), stats]);
    }
    Ok(outputs)
}

fn batch_norm_flops(args: &Args<'_>, outputs: &[TensorType]) -> u128 {
    match args.bool("training_mode").unwrap_or(false) {
        true => flops_times::<6>(args, outputs),
        false => flops_times::<2>(args, outputs),
    }
}

/// The first normalised axis; parameters from input 1 on must broadcast to
/// `x` (ONNX's unidirectional broadcasting).
fn normalized_from_axis(args: &Args<'_>) -> InferResult<usize> {
    let x = float_input(args)?;
    let axis = normalize_axis(args.int("axis")?, x.rank(), "axis")?;
    for index in 1..args.inputs.len() {
        same_dtype(args, &[0, index])?;
        let p = args.input(index)?;
        let fits = p.rank() <= x.rank() && broadcast(&[&x.shape, &p.shape]).is_ok_and(|s| s == x.shape);
        if !fits {
            return Err(shape_error(
                index,
                format!(
                    "must broadcast to the input {}; the normalised axes are {:?}, found {}",
                    x.shape,
                    &x.shape.0[axis..],
                    p.shape
                ),
            ));
        }
    }
    Ok(axis)
}

/// Layer norm: `x` normalised over `x.shape[axis..]`; with `statistics`
/// also the mean and 1 / stddev, shaped like `x` with those axes set to 1.
pub fn layer_norm(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let axis = normalized_from_axis(args)?;
    let x = args.input(0)?;
    let mut outputs = vec![x.clone()];
    if args.bool("statistics")? {
        let mut dims = x.shape.0[..axis].to_vec();
        dims.resize(x.rank(), 1);
        let stats = TensorType::new(x.dtype, dims);
        outputs.extend([stats.clone(), stats]);
    }
    Ok(outputs)
}

pub fn rms_norm(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    normalized_from_axis(args)?;
    Ok(vec![args.input(0)?.clone()])
}

/// Group norm: `x[N, C, ...]`, `num_groups` dividing `C`, `scale` and `bias` of `[C]`.
pub fn group_norm(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let channels = per_channel(args, &[1, 2])?;
    let groups = args.int("num_groups")?;
    let divides = u64::try_from(groups).is_ok_and(|g| g >= 1 && channels % g == 0);
    if !divides {
        return Err(attr_error(
            "num_groups",
            format!("`num_groups` must be a positive divisor of the {channels} channels, found {groups}"),
        ));
    }
    Ok(vec![args.input(0)?.clone()])
}

/// Instance norm: `x[N, C, D...]` with at least one spatial axis.
pub fn instance_norm(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    per_channel(args, &[1, 2])?;
    let x = args.input(0)?;
    if x.rank() < 3 {
        return Err(shape_error(0, format!("input must be [N, C, D...], found {}", x.shape)));
    }
    Ok(vec![x.clone()])
}

pub fn lp_normalization(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let x = float_input(args)?;
    normalize_axis(args.int("axis")?, x.rank(), "axis")?;
    let p = args.int("p")?;
    if p != 1 && p != 2 {
        return Err(attr_error("p", format!("`p` must be 1 or 2, found {p}")));
    }
    Ok(vec![x.clone()])
}

pub fn mean_variance_normalization(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let x = float_input(args)?;
    normalize_axes(&args.ints("axes")?, x.rank(), "axes")?;
    Ok(vec![x.clone()])
}

/// Softmax, log-softmax and hardmax along `axis`.
pub fn softmax(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let x = float_input(args)?;
    normalize_axis(args.int("axis")?, x.rank(), "axis")?;
    Ok(vec![x.clone()])
}

/// `factor` FLOPs per element of the first input.
pub fn flops_times<const FACTOR: u128>(args: &Args<'_>, _: &[TensorType]) -> u128 {
    FACTOR * args.inputs.first().map(elements).unwrap_or(0)
}

/// The extents of an attention: batch, query and key/value heads, query
/// length, past and new key/value lengths, query/key and value head sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttentionDims {
    pub batch: u64,
    pub q_heads: u64,
    pub kv_heads: u64,
    pub q_len: u64,
    pub past_len: u64,
    pub kv_len: u64,
    pub head_size: u64,
    pub v_head_size: u64,
    /// Inputs and output are `[B, S, H * D]` rather than `[B, H, S, D]`.
    pub packed: bool,
}

impl AttentionDims {
    /// Keys attended: the past ones, then the new ones.
    pub fn total_len(&self) -> u64 {
        self.past_len.saturating_add(self.kv_len)
    }
}

/// `[B, H, S, D]` of a 4-d operand, or of a packed `[B, S, H * D]` one with `heads`.
fn heads_layout(shape: &Shape, index: usize, heads: u64, what: &str) -> InferResult<[u64; 4]> {
    match *shape.dims() {
        [b, h, s, d] => {
            if heads != 0 && heads != h {
                return Err(shape_error(index, format!("{what} has {h} heads but the attribute says {heads}")));
            }
            Ok([b, h, s, d])
        }
        [b, s, hidden] if heads != 0 => match hidden % heads {
            0 => Ok([b, heads, s, hidden / heads]),
            _ => Err(shape_error(
                index,
                format!("{what} hidden size {hidden} does not divide into {heads} heads"),
            )),
        },
        [_, _, _] => Err(attr_error(
            "q_num_heads",
            "3-d [B, S, H * D] inputs need `q_num_heads` and `kv_num_heads`",
        )),
        _ => Err(shape_error(
            index,
            format!("{what} must be [B, H, S, D] or [B, S, H * D], found {shape}"),
        )),
    }
}

/// Reads and checks an attention's operands.
pub fn attention_dims(args: &Args<'_>) -> InferResult<AttentionDims> {
    let q = float_input(args)?;
    same_dtype(args, &[0, 1, 2])?;
    let (k, v) = (args.input(1)?, args.input(2)?);
    if k.rank() != q.rank() || v.rank() != q.rank() {
        return Err(shape_error(
            1,
            format!("q, k and v must have the same rank, found {}, {} and {}", q.shape, k.shape, v.shape),
        ));
    }
    let heads = |name: &str| -> InferResult<u64> {
        let value = args.int(name)?;
        u64::try_from(value).map_err(|_| attr_error(name, format!("`{name}` must not be negative, found {value}")))
    };
    let [batch, q_heads, q_len, head_size] = heads_layout(&q.shape, 0, heads("q_num_heads")?, "q")?;
    let [k_batch, kv_heads, kv_len, k_head_size] = heads_layout(&k.shape, 1, heads("kv_num_heads")?, "k")?;
    let [v_batch, v_heads, v_len, v_head_size] = heads_layout(&v.shape, 2, heads("kv_num_heads")?, "v")?;
    if k_batch != batch || v_batch != batch {
        return Err(shape_error(
            1,
            format!("batch sizes differ: q has {batch}, k {k_batch}, v {v_batch}"),
        ));
    }
    if k_head_size != head_size {
        return Err(shape_error(1, format!("q and k head sizes differ: {head_size} and {k_head_size}")));
    }
    if (v_heads, v_len) != (kv_heads, kv_len) {
        return Err(shape_error(
            2,
            format!("v must have k's {kv_heads} heads and {kv_len} positions, found {v_heads} and {v_len}"),
        ));
    }
    if kv_heads == 0 || q_heads % kv_heads != 0 {
        return Err(shape_error(
            1,
            format!("{q_heads} query heads do not divide into groups over {kv_heads} key/value heads"),
        ));
    }
    let mut dims = AttentionDims {
        batch,
        q_heads,
        kv_heads,
        q_len,
        past_len: 0,
        kv_len,
        head_size,
        v_head_size,
        packed: q.rank() == 3,
    };
    dims.past_len = check_past(args, &dims)?;
    check_attention_attrs(args)?;
    Ok(dims)
}

/// The past key/value cache: both or neither, `[B, H_kv, P, D]` and `[B, H_kv, P, D_v]`.
fn check_past(args: &Args<'_>, dims: &AttentionDims) -> InferResult<u64> {
    let (Some(past_key), Some(past_value)) = (args.optional_input(4), args.optional_input(5)) else {
        if args.inputs.len() == 5 {
            return Err(shape_error(4, "past_key needs past_value after it"));
        }
        return Ok(0);
    };
    same_dtype(args, &[0, 4, 5])?;
    let past_len = past_key.shape.dims().get(2).copied().unwrap_or(0);
    let key = [dims.batch, dims.kv_heads, past_len, dims.head_size];
    let value = [dims.batch, dims.kv_heads, past_len, dims.v_head_size];
    if past_key.shape.dims() != key {
        return Err(shape_error(
            4,
            format!("past_key must be {:?} ([B, H_kv, P, D]), found {}", key, past_key.shape),
        ));
    }
    if past_value.shape.dims() != value {
        return Err(shape_error(
            5,
            format!("past_value must be {:?} ([B, H_kv, P, D_v]), found {}", value, past_value.shape),
        ));
    }
    Ok(past_len)
}

/// The dtype `softmax_precision` names (an ONNX TensorProto code), if any.
pub fn softmax_precision(args: &Args<'_>) -> InferResult<Option<DType>> {
    match args.int("softmax_precision")? {
        0 => Ok(None),
        1 => Ok(Some(DType::F32)),
        10 => Ok(Some(DType::F16)),
        11 => Ok(Some(DType::F64)),
        16 => Ok(Some(DType::BF16)),
        other => Err(attr_error(
            "softmax_precision",
            format!("`softmax_precision` must be 0 (none), 1 (f32), 10 (f16), 11 (f64) or 16 (bf16), found {other}"),
        )),
    }
}

fn check_attention_attrs(args: &Args<'_>) -> InferResult<()> {
    softmax_precision(args)?;
    for name in ["scale", "softcap"] {
        let value = args.float(name)?;
        if value.is_nan() || value < 0.0 {
            return Err(attr_error(name, format!("`{name}` must not be negative, found {value}")));
        }
    }
    let mode = args.int("qk_matmul_output_mode")?;
    if !(0..=3).contains(&mode) {
        return Err(attr_error(
            "qk_matmul_output_mode",
            format!("`qk_matmul_output_mode` must be 0 (q k^T), 1 (soft-capped), 2 (biased) or 3 (soft-maxed), found {mode}"),
        ));
    }
    for name in ["left_window_size", "right_window_size"] {
        let value = args.int(name)?;
        if value < -1 {
            return Err(attr_error(
                name,
                format!("`{name}` must be -1 (unbounded) or at least 0, found {value}"),
            ));
        }
    }
    Ok(())
}

/// The mask: bool or q's dtype, broadcasting to `[B, H_q, S_q, T]` once its
/// last axis (at most `T` long) is padded to `T`.
fn check_mask(args: &Args<'_>, dims: &AttentionDims) -> InferResult<()> {
    let Some(mask) = args.optional_input(3) else {
        return Ok(());
    };
    if mask.dtype != DType::Bool {
        same_dtype(args, &[0, 3])?;
    }
    let target = [dims.batch, dims.q_heads, dims.q_len, dims.total_len()];
    let fits = mask.rank() <= 4
        && mask
            .shape
            .dims()
            .iter()
            .rev()
            .zip(target.iter().rev())
            .enumerate()
            .all(|(i, (&m, &t))| match i {
                0 => m <= t,
                _ => m == 1 || m == t,
            });
    if !fits {
        return Err(shape_error(
            3,
            format!(
                "attn_mask must broadcast to {:?} ([B, H_q, S_q, T], the last axis may be shorter), found {}",
                target, mask.shape
            ),
        ));
    }
    Ok(())
}

/// `Y` shaped like `q` with the value's head size; with a past cache also
/// the present key and value.
pub fn attention(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let dims = attention_dims(args)?;
    check_mask(args, &dims)?;
    let dtype = args.input(0)?.dtype;
    let y = match dims.packed {
        true => vec![dims.batch, dims.q_len, dims.q_heads.saturating_mul(dims.v_head_size)],
        false => vec![dims.batch, dims.q_heads, dims.q_len, dims.v_head_size],
    };
    let mut outputs = vec![TensorType::new(dtype, y)];
    let total = dims.total_len();
    let scores = args.bool("qk_matmul_output")?;
    if args.optional_input(4).is_some() || scores {
        outputs.push(TensorType::new(dtype, vec![dims.batch, dims.kv_heads, total, dims.head_size]));
        outputs.push(TensorType::new(dtype, vec![dims.batch, dims.kv_heads, total, dims.v_head_size]));
    }
    if scores {
        outputs.push(TensorType::new(dtype, vec![dims.batch, dims.q_heads, dims.q_len, total]));
    }
    Ok(outputs)
}

/// Two matmuls (`2 * D` and `2 * D_v` per score) and a softmax (5 per score).
fn attention_flops(args: &Args<'_>, _: &[TensorType]) -> u128 {
    let Ok(d) = attention_dims(args) else {
        return 0;
    };
    let per_score = 2 * d.head_size as u128 + 2 * d.v_head_size as u128 + 5;
    [d.batch, d.q_heads, d.q_len, d.total_len()]
        .iter()
        .fold(per_score, |acc, &n| acc.saturating_mul(n as u128))
}

/// The extents of a rotary embedding: heads, head size, rotated features.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RotaryDims {
    pub batch: u64,
    pub heads: u64,
    pub seq: u64,
    pub head_size: u64,
    pub rotary_dim: u64,
    /// `[B, S, H * D]` rather than `[B, H, S, D]`.
    pub packed: bool,
}

/// Reads and checks a rotary embedding's operands.
pub fn rotary_dims(args: &Args<'_>) -> InferResult<RotaryDims> {
    let x = float_input(args)?;
    same_dtype(args, &[0, 1, 2])?;
    let num_heads = args.int("num_heads")?;
    let num_heads =
        u64::try_from(num_heads).map_err(|_| attr_error("num_heads", format!("`num_heads` must not be negative, found {num_heads}")))?;
    let [batch, heads, seq, head_size] = match *x.shape.dims() {
        [b, h, s, d] => [b, h, s, d],
        [b, s, hidden] if num_heads > 0 && hidden % num_heads == 0 => [b, num_heads, s, hidden / num_heads],
        [_, _, hidden] if num_heads > 0 => {
            return Err(shape_error(
                0,
                format!("hidden size {hidden} does not divide into {num_heads} heads"),
            ))
        }
        [_, _, _] => return Err(attr_error("num_heads", "a 3-d [B, S, H * D] input needs `num_heads`")),
        _ => {
            return Err(shape_error(
                0,
                format!("input must be [B, H, S, D] or [B, S, H * D], found {}", x.shape),
            ))
        }
    };
    let requested = args.int("rotary_embedding_dim")?;
    let rotary_dim = match requested {
        0 => head_size,
        d => u64::try_from(d).ok().filter(|&d| d <= head_size && d % 2 == 0).ok_or_else(|| {
            attr_error(
                "rotary_embedding_dim",
                format!("the rotated features ({d}) must be even and at most the head size {head_size}"),
            )
        })?,
    };
    if rotary_dim % 2 != 0 {
        return Err(shape_error(0, format!("the head size {head_size} must be even to rotate it whole")));
    }
    let dims = RotaryDims {
        batch,
        heads,
        seq,
        head_size,
        rotary_dim,
        packed: x.rank() == 3,
    };
    check_rotary_caches(args, &dims)?;
    Ok(dims)
}

/// Caches `[max_position, R / 2]` with `position_ids[B, S]`, else `[B, S, R / 2]`.
fn check_rotary_caches(args: &Args<'_>, dims: &RotaryDims) -> InferResult<()> {
    let half = dims.rotary_dim / 2;
    let with_positions = args.optional_input(3).is_some();
    if let Some(positions) = args.optional_input(3) {
        integer_input(args, 3, "position_ids")?;
        if positions.shape.dims() != [dims.batch, dims.seq] {
            return Err(shape_error(
                3,
                format!(
                    "position_ids must be [{}, {}] ([B, S]), found {}",
                    dims.batch, dims.seq, positions.shape
                ),
            ));
        }
    }
    for index in [1, 2] {
        let cache = &args.input(index)?.shape;
        let fits = match with_positions {
            true => cache.rank() == 2 && cache.0[1] == half,
            false => cache.dims() == [dims.batch, dims.seq, half],
        };
        if !fits {
            let expected = match with_positions {
                true => format!("[max_position, {half}]"),
                false => format!("[{}, {}, {half}]", dims.batch, dims.seq),
            };
            return Err(shape_error(
                index,
                format!("cache must be {expected} (half the rotated features), found {cache}"),
            ));
        }
    }
    Ok(())
}

pub fn rotary_embedding(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    rotary_dims(args)?;
    Ok(vec![args.input(0)?.clone()])
}

/// Two multiplies and an add per rotated feature.
fn rotary_flops(args: &Args<'_>, _: &[TensorType]) -> u128 {
    let Ok(d) = rotary_dims(args) else {
        return 0;
    };
    [d.batch, d.heads, d.seq, d.rotary_dim]
        .iter()
        .fold(3u128, |acc, &n| acc.saturating_mul(n as u128))
}

#[cfg(test)]
mod tests {
    use opfuse_ir::{Attr, DType};

    use crate::testing::infer;

    use DType::{Bool, F16, F32, I64};

    #[test]
    fn norms_keep_the_shape() {
        let train = [("training_mode", Attr::Bool(true))];
        let c: &[u64] = &[3];
        assert_eq!(
            infer("batch_norm", &train, &[(F16, &[2, 3, 4]), (F32, c), (F32, c), (F32, c), (F32, c)]).unwrap(),
            "f16[2, 3, 4], f32[3], f32[3]"
        );
        let stats = [("axis", Attr::Int(1)), ("statistics", Attr::Bool(true))];
        assert_eq!(
            infer("layer_norm", &stats, &[(F32, &[2, 3, 4]), (F32, &[3, 4])]).unwrap(),
            "f32[2, 3, 4], f32[2, 1, 1], f32[2, 1, 1]"
        );
        let groups = [("num_groups", Attr::Int(2))];
        assert_eq!(
            infer("group_norm", &groups, &[(F16, &[1, 4, 5]), (F16, &[4]), (F16, &[4])]).unwrap(),
            "f16[1, 4, 5]"
        );
        assert_eq!(
            infer("mean_variance_normalization", &[], &[(F32, &[1, 2, 3, 4])]).unwrap(),
            "f32[1, 2, 3, 4]"
        );
    }

    #[test]
    fn attention_shapes() {
        // Grouped-query: 8 query heads over 2 key/value heads, a longer value head.
        assert_eq!(
            infer(
                "scaled_dot_product_attention",
                &[],
                &[(F32, &[2, 8, 5, 16]), (F32, &[2, 2, 7, 16]), (F32, &[2, 2, 7, 32])]
            )
            .unwrap(),
            "f32[2, 8, 5, 32]"
        );
        let packed = [("q_num_heads", Attr::Int(4)), ("kv_num_heads", Attr::Int(2))];
        let inputs: &[(DType, &[u64])] = &[(F32, &[1, 3, 32]), (F32, &[1, 6, 16]), (F32, &[1, 6, 16]), (Bool, &[3, 4])];
        assert_eq!(infer("scaled_dot_product_attention", &packed, inputs).unwrap(), "f32[1, 3, 32]");
        let cached: &[(DType, &[u64])] = &[
            (F32, &[1, 2, 1, 8]),
            (F32, &[1, 2, 1, 8]),
            (F32, &[1, 2, 1, 8]),
            (F32, &[1, 1, 1, 5]),
            (F32, &[1, 2, 4, 8]),
            (F32, &[1, 2, 4, 8]),
        ];
        assert_eq!(
            infer("scaled_dot_product_attention", &[], cached).unwrap(),
            "f32[1, 2, 1, 8], f32[1, 2, 5, 8], f32[1, 2, 5, 8]"
        );
        let scores = [("qk_matmul_output", Attr::Bool(true))];
        assert_eq!(
            infer("scaled_dot_product_attention", &scores, &cached[..3]).unwrap(),
            "f32[1, 2, 1, 8], f32[1, 2, 1, 8], f32[1, 2, 1, 8], f32[1, 2, 1, 1]"
        );
        let rotary = [("num_heads", Attr::Int(2))];
        assert_eq!(
            infer(
                "rotary_embedding",
                &rotary,
                &[(F32, &[1, 3, 8]), (F32, &[10, 2]), (F32, &[10, 2]), (I64, &[1, 3])]
            )
            .unwrap(),
            "f32[1, 3, 8]"
        );
    }

    #[test]
    fn bad_norms_and_attention_are_errors() {
        let err = |op: &str, attrs: &[(&str, Attr)], inputs: &[(DType, &[u64])]| infer(op, attrs, inputs).unwrap_err();
        assert_eq!(
            err("layer_norm", &[], &[(F32, &[2, 3]), (F32, &[2])]),
            "must broadcast to the input [2, 3]; the normalised axes are [3], found [2]"
        );
        assert_eq!(
            err(
                "group_norm",
                &[("num_groups", Attr::Int(3))],
                &[(F32, &[1, 4, 2]), (F32, &[4]), (F32, &[4])]
            ),
            "`num_groups` must be a positive divisor of the 4 channels, found 3"
        );
        assert_eq!(
            err("instance_norm", &[], &[(F32, &[1, 4]), (F32, &[4]), (F32, &[4])]),
            "input must be [N, C, D...], found [1, 4]"
        );
        assert_eq!(
            err("lp_normalization", &[("p", Attr::Int(3))], &[(F32, &[2])]),
            "`p` must be 1 or 2, found 3"
        );
        assert_eq!(err("hardmax", &[], &[(I64, &[2])]), "expects a float tensor, found i64");
        assert_eq!(
            err(
                "scaled_dot_product_attention",
                &[],
                &[(F32, &[1, 3, 2, 4]), (F32, &[1, 2, 2, 4]), (F32, &[1, 2, 2, 4])]
            ),
            "3 query heads do not divide into groups over 2 key/value heads"
        );
        assert_eq!(
            err(
                "scaled_dot_product_attention",
                &[],
                &[(F32, &[1, 2, 8]), (F32, &[1, 2, 8]), (F32, &[1, 2, 8])]
            ),
            "3-d [B, S, H * D] inputs need `q_num_heads` and `kv_num_heads`"
        );
        assert_eq!(
            err(
                "scaled_dot_product_attention",
                &[],
                &[(F32, &[1, 1, 2, 4]), (F32, &[1, 1, 3, 4]), (F32, &[1, 1, 3, 4]), (F32, &[2, 4])]
            ),
            "attn_mask must broadcast to [1, 1, 2, 3] ([B, H_q, S_q, T], the last axis may be shorter), found [2, 4]"
        );
        let qkv: &[(DType, &[u64])] = &[(F32, &[1, 1, 2, 4]), (F32, &[1, 1, 2, 4]), (F32, &[1, 1, 2, 4])];
        assert_eq!(
            err("scaled_dot_product_attention", &[("softmax_precision", Attr::Int(7))], qkv),
            "`softmax_precision` must be 0 (none), 1 (f32), 10 (f16), 11 (f64) or 16 (bf16), found 7"
        );
        assert_eq!(
            err(
                "rotary_embedding",
                &[("rotary_embedding_dim", Attr::Int(3))],
                &[(F32, &[1, 1, 2, 4]), (F32, &[1, 2, 1]), (F32, &[1, 2, 1])]
            ),
            "the rotated features (3) must be even and at most the head size 4"
        );
        assert_eq!(
            err(
                "rotary_embedding",
                &[],
                &[(F32, &[1, 1, 2, 4]), (F32, &[9, 3]), (F32, &[9, 3]), (I64, &[1, 2])]
            ),
            "cache must be [max_position, 2] (half the rotated features), found [9, 3]"
        );
    }
}
