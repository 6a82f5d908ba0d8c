//! Convolution and pooling over the spatial axes of `[N, C, spatial...]`,
//! for any number of spatial axes.

use opfuse_ir::{DType, Shape, TensorType};

use super::{elements, product};
use crate::args::{attr_error, dtype_error, same_dtype, shape_error, Args, InferResult};
use crate::code::{op, OpCode};

/// Shape rules and FLOP formulas of this family, by catalog name.
pub const RULES: &[(&str, OpCode)] = &[
    ("conv", op(conv, conv_flops)),
    ("conv_transpose", op(conv_transpose, conv_transpose_flops)),
    ("max_pool", op(max_pool, pool_flops)),
    ("avg_pool", op(pool, pool_flops)),
    ("lp_pool", op(lp_pool, lp_pool_flops)),
    ("global_avg_pool", op(global_pool, super::per_input)),
    ("global_max_pool", op(global_pool, super::per_input)),
    ("global_lp_pool", op(global_lp_pool, lp_pool_flops)),
    ("adaptive_avg_pool", op(adaptive_pool, adaptive_pool_flops)),
    ("adaptive_max_pool", op(adaptive_pool, adaptive_pool_flops)),
];

/// Where each window sits along each spatial axis: output position `o`
/// reads input positions `o * strides - pads_begin + j * dilations` for
/// `j < kernel`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Geometry {
    pub kernel: Vec<u64>,
    pub strides: Vec<u64>,
    pub dilations: Vec<u64>,
    pub pads_begin: Vec<u64>,
    pub pads_end: Vec<u64>,
    pub output: Vec<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AutoPad {
    NotSet,
    SameUpper,
    SameLower,
    Valid,
}

fn auto_pad(args: &Args<'_>) -> InferResult<AutoPad> {
    match args.string("auto_pad")?.as_str() {
        "NOTSET" => Ok(AutoPad::NotSet),
        "SAME_UPPER" => Ok(AutoPad::SameUpper),
        "SAME_LOWER" => Ok(AutoPad::SameLower),
        "VALID" => Ok(AutoPad::Valid),
        other => Err(attr_error(
            "auto_pad",
            format!("`auto_pad` must be \"NOTSET\", \"SAME_UPPER\", \"SAME_LOWER\" or \"VALID\", not {other:?}"),
        )),
    }
}

/// List attribute `name` with `len` entries, each at least `min`; empty means `fill` everywhere.
fn window_list(args: &Args<'_>, name: &str, len: usize, fill: u64, min: u64) -> InferResult<Vec<u64>> {
    let values = args.ints(name)?;
    if values.is_empty() {
        return Ok(vec![fill; len]);
    }
    if values.len() != len {
        return Err(attr_error(name, format!("`{name}` needs {len} entries, found {}", values.len())));
    }
    values
        .iter()
        .map(|&v| {
            u64::try_from(v)
                .ok()
                .filter(|&v| v >= min)
                .ok_or_else(|| attr_error(name, format!("`{name}` entries must be at least {min}, found {v}")))
        })
        .collect()
}

/// Requires `pads` to be empty unless `auto_pad` is "NOTSET".
fn explicit_pads(args: &Args<'_>, mode: AutoPad, axes: usize) -> InferResult<Vec<u64>> {
    let pads = window_list(args, "pads", 2 * axes, 0, 0)?;
    if mode != AutoPad::NotSet && pads.iter().any(|&p| p != 0) {
        let name = args.string("auto_pad")?;
        return Err(attr_error(
            "pads",
            format!("`pads` cannot be combined with `auto_pad = \"{name}\"`"),
        ));
    }
    Ok(pads)
}

/// The window geometry of a convolution or pool with `kernel` over input
/// extents `spatial`; `ceil_mode` keeps a last partial window.
pub fn window_geometry(args: &Args<'_>, spatial: &[u64], kernel: Vec<u64>, ceil_mode: bool) -> InferResult<Geometry> {
    let n = kernel.len();
    let mode = auto_pad(args)?;
    let strides = window_list(args, "strides", n, 1, 1)?;
    let dilations = window_list(args, "dilations", n, 1, 1)?;
    let pads = explicit_pads(args, mode, n)?;
    let (mut pads_begin, mut pads_end, mut output) = (vec![0; n], vec![0; n], vec![0; n]);
    for i in 0..n {
        let (input, stride) = (spatial[i], strides[i]);
        let span = dilations[i].saturating_mul(kernel[i].max(1) - 1).saturating_add(1);
        match mode {
            AutoPad::SameUpper | AutoPad::SameLower => {
                output[i] = input.div_ceil(stride);
                let total = (output[i].max(1) - 1)
                    .saturating_mul(stride)
                    .saturating_add(span)
                    .saturating_sub(input);
                let (small, large) = (total / 2, total - total / 2);
                (pads_begin[i], pads_end[i]) = if mode == AutoPad::SameUpper {
                    (small, large)
                } else {
                    (large, small)
                };
            }
            AutoPad::NotSet | AutoPad::Valid => {
                (pads_begin[i], pads_end[i]) = (pads[i], pads[i + n]);
                let padded = input.saturating_add(pads_begin[i]).saturating_add(pads_end[i]);
                if padded < span {
                    return Err(shape_error(
                        0,
                        format!("spatial axis {i} is {input} (padded {padded}) but the window spans {span}"),
                    ));
                }
                output[i] = match ceil_mode {
                    false => (padded - span) / stride + 1,
                    // A last window must start inside the input or its begin pad.
                    true => {
                        let out = (padded - span).div_ceil(stride) + 1;
                        if (out - 1).saturating_mul(stride) >= input.saturating_add(pads_begin[i]) {
                            out - 1
                        } else {
                            out
                        }
                    }
                };
            }
        }
    }
    Ok(Geometry {
        kernel,
        strides,
        dilations,
        pads_begin,
        pads_end,
        output,
    })
}

/// The output type, if a tensor of it can exist: the window attributes
/// (pads, strides, `output_size`) can ask for more elements than memory holds.
fn output_type(dtype: DType, dims: Vec<u64>) -> InferResult<TensorType> {
    let ty = TensorType::new(dtype, dims);
    match ty.size_bytes() {
        Some(_) => Ok(ty),
        None => Err(shape_error(
            0,
            format!("the output {} would have more bytes than fit in 64 bits", ty.shape),
        )),
    }
}

/// `groups` as a positive count.
fn groups(args: &Args<'_>) -> InferResult<u64> {
    let groups = args.int("groups")?;
    u64::try_from(groups)
        .ok()
        .filter(|&g| g >= 1)
        .ok_or_else(|| attr_error("groups", format!("`groups` must be at least 1, found {groups}")))
}

/// Checks the shared operand layout of conv and conv_transpose: `x[N, C, s...]`
/// and weights of the same rank, a float or integer dtype, a `bias[M]`.
fn conv_operands<'a>(args: &'a Args<'_>, what: &str) -> InferResult<(DType, &'a Shape, &'a Shape)> {
    let dtype = same_dtype(args, &[0, 1])?;
    if dtype == DType::Bool {
        return Err(dtype_error(0, format!("{what} takes numbers, found bool")));
    }
    let (x, w) = (&args.input(0)?.shape, &args.input(1)?.shape);
    if x.rank() < 3 {
        return Err(shape_error(0, format!("{what} input must be [N, C, spatial...], found {x}")));
    }
    if w.rank() != x.rank() {
        return Err(shape_error(
            1,
            format!("weights must have rank {} like the input, found {w}", x.rank()),
        ));
    }
    if w.0[2..].contains(&0) {
        return Err(shape_error(1, format!("kernel extents must be at least 1, found {w}")));
    }
    Ok((dtype, x, w))
}

fn check_bias(args: &Args<'_>, out_channels: u64) -> InferResult<()> {
    if let Some(bias) = args.optional_input(2) {
        same_dtype(args, &[0, 2])?;
        if bias.shape.dims() != [out_channels] {
            return Err(shape_error(2, format!("bias must be [{out_channels}], found {}", bias.shape)));
        }
    }
    Ok(())
}

/// `x[N, C, s...]`, `w[M, C / groups, k...]`, optional `bias[M]` -> `[N, M, o...]`.
pub fn conv(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let (dtype, x, w) = conv_operands(args, "conv")?;
    let groups = groups(args)?;
    let (channels, out_channels) = (x.0[1], w.0[0]);
    if channels % groups != 0 || out_channels % groups != 0 {
        return Err(attr_error(
            "groups",
            format!("{groups} groups do not divide {channels} input and {out_channels} output channels"),
        ));
    }
    if w.0[1].checked_mul(groups) != Some(channels) {
        return Err(shape_error(
            1,
            format!(
                "weights take {} channels per group, but the input has {channels} in {groups} group(s)",
                w.0[1]
            ),
        ));
    }
    check_bias(args, out_channels)?;
    let geometry = window_geometry(args, &x.0[2..], w.0[2..].to_vec(), false)?;
    let mut out = vec![x.0[0], out_channels];
    out.extend(geometry.output);
    Ok(vec![output_type(dtype, out)?])
}

/// `2 * (C / groups) * prod(kernel)` per output element, plus the bias add.
pub fn conv_flops(args: &Args<'_>, outputs: &[TensorType]) -> u128 {
    let Some(w) = args.inputs.get(1) else {
        return 0;
    };
    let per_output = product(w.shape.dims().get(1..).unwrap_or(&[]));
    let out = outputs.iter().map(elements).sum::<u128>();
    let bias = if args.inputs.len() > 2 { out } else { 0 };
    per_output.saturating_mul(out).saturating_mul(2).saturating_add(bias)
}

/// The geometry of a transposed convolution: input position `i` and kernel
/// tap `j` write output position `i * strides - pads_begin + j * dilations`.
pub fn transpose_geometry(args: &Args<'_>, spatial: &[u64], kernel: Vec<u64>) -> InferResult<Geometry> {
    let n = kernel.len();
    let mode = auto_pad(args)?;
    let strides = window_list(args, "strides", n, 1, 1)?;
    let dilations = window_list(args, "dilations", n, 1, 1)?;
    let pads = explicit_pads(args, mode, n)?;
    let output_padding = window_list(args, "output_padding", n, 0, 0)?;
    let output_shape = window_list(args, "output_shape", n, 0, 1)?;
    let explicit_shape = !args.ints("output_shape")?.is_empty();
    let (mut pads_begin, mut pads_end, mut output) = (vec![0; n], vec![0; n], vec![0; n]);
    for i in 0..n {
        if output_padding[i] >= strides[i].max(dilations[i]) {
            return Err(attr_error(
                "output_padding",
                format!(
                    "`output_padding` entries must be below the stride or dilation, found {}",
                    output_padding[i]
                ),
            ));
        }
        let span = dilations[i].saturating_mul(kernel[i] - 1).saturating_add(1);
        let full = strides[i]
            .saturating_mul(spatial[i].max(1) - 1)
            .saturating_add(output_padding[i])
            .saturating_add(span);
        match mode {
            AutoPad::SameUpper | AutoPad::SameLower => {
                output[i] = if explicit_shape {
                    output_shape[i]
                } else {
                    spatial[i].saturating_mul(strides[i])
                };
                let total = full as i128 - output[i] as i128;
                let small = total.div_euclid(2);
                let begin = if mode == AutoPad::SameUpper { small } else { total - small };
                // A negative begin pad would shift the output past the input;
                // ONNX's reference pads only, so clamp the same way.
                pads_begin[i] = begin.max(0) as u64;
                pads_end[i] = (total - begin).max(0) as u64;
            }
            AutoPad::NotSet | AutoPad::Valid => {
                (pads_begin[i], pads_end[i]) = (pads[i], pads[i + n]);
                output[i] = match explicit_shape {
                    true => output_shape[i],
                    false => full
                        .checked_sub(pads_begin[i].saturating_add(pads_end[i]))
                        .filter(|&o| o > 0)
                        .ok_or_else(|| {
                            attr_error(
                                "pads",
                                format!("pads {} and {} leave nothing of spatial axis {i} ({full})", pads[i], pads[i + n]),
                            )
                        })?,
                };
            }
        }
    }
    Ok(Geometry {
        kernel,
        strides,
        dilations,
        pads_begin,
        pads_end,
        output,
    })
}

/// `x[N, C, s...]`, `w[C, M / groups, k...]`, optional `bias[M]` -> `[N, M, o...]`.
pub fn conv_transpose(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let (dtype, x, w) = conv_operands(args, "conv_transpose")?;
    let groups = groups(args)?;
    let channels = x.0[1];
    if channels % groups != 0 {
        return Err(attr_error(
            "groups",
            format!("{groups} groups do not divide {channels} input channels"),
        ));
    }
    if w.0[0] != channels {
        return Err(shape_error(
            1,
            format!("weights must be [{channels}, M / groups, k...], one row per input channel, found {w}"),
        ));
    }
    let out_channels = w.0[1].saturating_mul(groups);
    check_bias(args, out_channels)?;
    let geometry = transpose_geometry(args, &x.0[2..], w.0[2..].to_vec())?;
    let mut out = vec![x.0[0], out_channels];
    out.extend(geometry.output);
    Ok(vec![output_type(dtype, out)?])
}

/// `2 * (M / groups) * prod(kernel)` per input element, plus the bias add.
fn conv_transpose_flops(args: &Args<'_>, outputs: &[TensorType]) -> u128 {
    let (Some(x), Some(w)) = (args.inputs.first(), args.inputs.get(1)) else {
        return 0;
    };
    let per_input = product(w.shape.dims().get(1..).unwrap_or(&[]));
    let bias = if args.inputs.len() > 2 {
        outputs.iter().map(elements).sum()
    } else {
        0
    };
    per_input.saturating_mul(elements(x)).saturating_mul(2).saturating_add(bias)
}

/// `x[N, C, s...]` with a rank of 3 or more.
fn pool_input<'a>(args: &'a Args<'_>) -> InferResult<&'a TensorType> {
    let x = args.input(0)?;
    if x.rank() < 3 {
        return Err(shape_error(0, format!("input must be [N, C, spatial...], found {}", x.shape)));
    }
    if x.dtype == DType::Bool {
        return Err(dtype_error(0, "pooling takes numbers, found bool"));
    }
    Ok(x)
}

/// The geometry of a max, average or Lp pool over `kernel` windows.
pub fn pool_geometry(args: &Args<'_>) -> InferResult<Geometry> {
    let x = pool_input(args)?;
    let kernel = args.ints("kernel")?;
    let spatial = x.rank() - 2;
    if kernel.len() != spatial {
        return Err(attr_error(
            "kernel",
            format!("`kernel` needs one entry per spatial axis of {} ({spatial})", x.shape),
        ));
    }
    let kernel = kernel
        .iter()
        .map(|&k| {
            u64::try_from(k)
                .ok()
                .filter(|&k| k >= 1)
                .ok_or_else(|| attr_error("kernel", format!("kernel extents must be at least 1, found {k}")))
        })
        .collect::<InferResult<Vec<u64>>>()?;
    window_geometry(args, &x.shape.0[2..], kernel, args.bool("ceil_mode")?)
}

/// Max and average pooling over `kernel` windows.
pub fn pool(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let x = pool_input(args)?;
    let geometry = pool_geometry(args)?;
    let mut out = x.shape.0[..2].to_vec();
    out.extend(geometry.output);
    Ok(vec![output_type(x.dtype, out)?])
}

/// Max pooling; with `indices` also the i64 position of each maximum.
pub fn max_pool(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let mut outputs = pool(args)?;
    let order = args.int("storage_order")?;
    if order != 0 && order != 1 {
        return Err(attr_error(
            "storage_order",
            format!("`storage_order` must be 0 (row-major) or 1 (column-major), found {order}"),
        ));
    }
    if args.bool("indices")? {
        let shape = outputs[0].shape.clone();
        outputs.push(TensorType { dtype: DType::I64, shape });
    }
    Ok(outputs)
}

/// The Lp pools take floats and a positive `p`.
fn check_lp(args: &Args<'_>) -> InferResult<()> {
    let x = pool_input(args)?;
    if !x.dtype.is_float() {
        return Err(dtype_error(0, format!("Lp pooling takes floats, found {}", x.dtype)));
    }
    let p = args.int("p")?;
    if p < 1 {
        return Err(attr_error("p", format!("`p` must be at least 1, found {p}")));
    }
    Ok(())
}

pub fn lp_pool(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    check_lp(args)?;
    pool(args)
}

/// One FLOP per window element per output.
pub fn pool_flops(args: &Args<'_>, outputs: &[TensorType]) -> u128 {
    let kernel: Vec<u64> = args
        .attrs
        .get("kernel")
        .and_then(|k| k.as_ints())
        .unwrap_or_default()
        .iter()
        .map(|&k| k.max(0) as u64)
        .collect();
    product(&kernel).saturating_mul(outputs.first().map(elements).unwrap_or(0))
}

/// A power, an add and (per output) a root: about three per input element read.
fn lp_pool_flops(args: &Args<'_>, outputs: &[TensorType]) -> u128 {
    match args.attrs.contains_key("kernel") {
        true => 3 * pool_flops(args, outputs),
        false => 3 * super::per_input(args, outputs),
    }
}

/// `[N, C, s...] -> [N, C, 1...]`.
pub fn global_pool(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let x = pool_input(args)?;
    let mut out = x.shape.0[..2].to_vec();
    out.resize(x.rank(), 1);
    Ok(vec![TensorType {
        dtype: x.dtype,
        shape: Shape(out),
    }])
}

pub fn global_lp_pool(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    check_lp(args)?;
    global_pool(args)
}

/// PyTorch's adaptive window `[start, end)` of output position `o` of `out`
/// over an input axis of `input`.
pub fn adaptive_window(o: u64, input: u64, out: u64) -> (u64, u64) {
    ((o * input) / out, ((o + 1) * input).div_ceil(out))
}

/// `[N, C, s...] -> [N, C, output_size...]`.
pub fn adaptive_pool(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let x = pool_input(args)?;
    let sizes = args.ints("output_size")?;
    let spatial = &x.shape.0[2..];
    if sizes.len() != spatial.len() {
        return Err(attr_error(
            "output_size",
            format!("`output_size` needs one entry per spatial axis of {} ({})", x.shape, spatial.len()),
        ));
    }
    let mut out = x.shape.0[..2].to_vec();
    for (&size, &input) in sizes.iter().zip(spatial) {
        let size = u64::try_from(size)
            .ok()
            .filter(|&s| s >= 1)
            .ok_or_else(|| attr_error("output_size", format!("`output_size` entries must be at least 1, found {size}")))?;
        if input == 0 {
            return Err(shape_error(0, format!("cannot pool an empty spatial axis of {}", x.shape)));
        }
        out.push(size);
    }
    Ok(vec![output_type(x.dtype, out)?])
}

/// One FLOP per element of every window, each window spanning at most
/// ceil(in / out) elements along each axis.
fn adaptive_pool_flops(args: &Args<'_>, outputs: &[TensorType]) -> u128 {
    let (Some(x), Some(out)) = (args.inputs.first(), outputs.first()) else {
        return 0;
    };
    let window: Vec<u64> = x.shape.dims()[2..]
        .iter()
        .zip(out.shape.dims().get(2..).unwrap_or(&[]))
        .map(|(&input, &size)| input.div_ceil(size.max(1)))
        .collect();
    product(&window).saturating_mul(elements(out))
}

#[cfg(test)]
mod tests {
    use opfuse_ir::{Attr, DType};

    use crate::testing::ints;

    /// [`crate::testing::infer`] with every input f32.
    fn infer(op: &str, attrs: &[(&str, Attr)], inputs: &[&[u64]]) -> Result<String, String> {
        let inputs: Vec<(DType, &[u64])> = inputs.iter().map(|&dims| (DType::F32, dims)).collect();
        crate::testing::infer(op, attrs, &inputs)
    }

    fn text(value: &str) -> Attr {
        Attr::Str(value.to_string())
    }

    #[test]
    fn convolutions_of_any_spatial_rank() {
        assert_eq!(infer("conv", &[], &[&[1, 4, 10], &[8, 4, 3]]).unwrap(), "f32[1, 8, 8]");
        assert_eq!(
            infer(
                "conv",
                &[("strides", ints(&[2, 2, 2]))],
                &[&[2, 3, 8, 8, 8], &[4, 3, 3, 3, 3], &[4]]
            )
            .unwrap(),
            "f32[2, 4, 3, 3, 3]"
        );
        // SAME_UPPER keeps ceil(in / stride); dilation 2 spans 5.
        let same = [("auto_pad", text("SAME_UPPER")), ("strides", ints(&[2])), ("dilations", ints(&[2]))];
        assert_eq!(infer("conv", &same, &[&[1, 1, 7], &[1, 1, 3]]).unwrap(), "f32[1, 1, 4]");
        assert_eq!(
            infer("conv", &[("auto_pad", text("VALID"))], &[&[1, 1, 5, 5], &[2, 1, 3, 3]]).unwrap(),
            "f32[1, 2, 3, 3]"
        );
    }

    #[test]
    fn transposed_convolutions() {
        // 2 * (3 - 1) + 1 + 3 = 8; without the output padding but with pads [1, 1]: 7 - 2 = 5.
        let strides = [("strides", ints(&[2])), ("output_padding", ints(&[1]))];
        assert_eq!(
            infer("conv_transpose", &strides, &[&[1, 2, 3], &[2, 3, 3]]).unwrap(),
            "f32[1, 3, 8]"
        );
        let padded = [("strides", ints(&[2])), ("pads", ints(&[1, 1]))];
        assert_eq!(infer("conv_transpose", &padded, &[&[1, 2, 3], &[2, 3, 3]]).unwrap(), "f32[1, 3, 5]");
        let groups = [("groups", Attr::Int(2))];
        assert_eq!(
            infer("conv_transpose", &groups, &[&[1, 4, 3, 3], &[4, 1, 2, 2]]).unwrap(),
            "f32[1, 2, 4, 4]"
        );
        let shape = [("strides", ints(&[3, 2])), ("output_shape", ints(&[10, 8]))];
        assert_eq!(
            infer("conv_transpose", &shape, &[&[1, 1, 3, 3], &[1, 2, 3, 3]]).unwrap(),
            "f32[1, 2, 10, 8]"
        );
        let same = [("strides", ints(&[2])), ("auto_pad", text("SAME_LOWER"))];
        assert_eq!(infer("conv_transpose", &same, &[&[1, 1, 3], &[1, 1, 3]]).unwrap(), "f32[1, 1, 6]");
    }

    #[test]
    fn pools_with_ceil_mode_and_auto_pad() {
        let kernel = ("kernel", ints(&[3, 3]));
        let stride = ("strides", ints(&[2, 2]));
        assert_eq!(
            infer("max_pool", &[kernel.clone(), stride.clone()], &[&[1, 1, 6, 6]]).unwrap(),
            "f32[1, 1, 2, 2]"
        );
        let ceil = ("ceil_mode", Attr::Bool(true));
        assert_eq!(
            infer("avg_pool", &[kernel.clone(), stride.clone(), ceil.clone()], &[&[1, 1, 6, 6]]).unwrap(),
            "f32[1, 1, 3, 3]"
        );
        // A third window would start in the end pad (at 4 of 3): ceil mode drops it.
        let padded = [("kernel", ints(&[1])), ("strides", ints(&[2])), ("pads", ints(&[0, 1])), ceil];
        assert_eq!(infer("max_pool", &padded, &[&[1, 1, 3]]).unwrap(), "f32[1, 1, 2]");
        let same = [kernel, stride, ("auto_pad", text("SAME_LOWER"))];
        assert_eq!(infer("lp_pool", &same, &[&[1, 1, 5, 6]]).unwrap(), "f32[1, 1, 3, 3]");
        assert_eq!(infer("global_max_pool", &[], &[&[2, 3, 4, 5, 6]]).unwrap(), "f32[2, 3, 1, 1, 1]");
        let indices = [("kernel", ints(&[2])), ("indices", Attr::Bool(true))];
        assert_eq!(infer("max_pool", &indices, &[&[1, 2, 3]]).unwrap(), "f32[1, 2, 2], i64[1, 2, 2]");
        assert_eq!(
            infer("adaptive_avg_pool", &[("output_size", ints(&[3, 1]))], &[&[1, 2, 7, 7]]).unwrap(),
            "f32[1, 2, 3, 1]"
        );
    }

    #[test]
    fn bad_windows_are_errors() {
        let err = |op: &str, attrs: &[(&str, Attr)], inputs: &[&[u64]]| infer(op, attrs, inputs).unwrap_err();
        assert_eq!(
            err("conv", &[("auto_pad", text("SAME"))], &[&[1, 1, 4], &[1, 1, 3]]),
            "`auto_pad` must be \"NOTSET\", \"SAME_UPPER\", \"SAME_LOWER\" or \"VALID\", not \"SAME\""
        );
        assert_eq!(
            err(
                "conv",
                &[("auto_pad", text("VALID")), ("pads", ints(&[1, 1]))],
                &[&[1, 1, 4], &[1, 1, 3]]
            ),
            "`pads` cannot be combined with `auto_pad = \"VALID\"`"
        );
        assert_eq!(
            err("conv", &[("strides", ints(&[0]))], &[&[1, 1, 4], &[1, 1, 3]]),
            "`strides` entries must be at least 1, found 0"
        );
        assert_eq!(
            err("conv", &[], &[&[1, 1, 2], &[1, 1, 3]]),
            "spatial axis 0 is 2 (padded 2) but the window spans 3"
        );
        assert_eq!(
            err("conv", &[("groups", Attr::Int(2))], &[&[1, 4, 5], &[3, 2, 3]]),
            "2 groups do not divide 4 input and 3 output channels"
        );
        assert_eq!(
            err("conv_transpose", &[], &[&[1, 4, 5], &[3, 2, 3]]),
            "weights must be [4, M / groups, k...], one row per input channel, found [3, 2, 3]"
        );
        assert_eq!(
            err("conv_transpose", &[("output_padding", ints(&[1]))], &[&[1, 1, 5], &[1, 1, 3]]),
            "`output_padding` entries must be below the stride or dilation, found 1"
        );
        assert_eq!(
            err("max_pool", &[("kernel", ints(&[2, 2]))], &[&[1, 1, 4]]),
            "`kernel` needs one entry per spatial axis of [1, 1, 4] (1)"
        );
        assert_eq!(
            err("lp_pool", &[("kernel", ints(&[2])), ("p", Attr::Int(0))], &[&[1, 1, 4]]),
            "`p` must be at least 1, found 0"
        );
        assert_eq!(
            err("global_avg_pool", &[], &[&[2, 3]]),
            "input must be [N, C, spatial...], found [2, 3]"
        );
        assert_eq!(
            err("adaptive_max_pool", &[("output_size", ints(&[0]))], &[&[1, 1, 4]]),
            "`output_size` entries must be at least 1, found 0"
        );
        let huge = 1i64 << 40;
        assert_eq!(
            err("adaptive_avg_pool", &[("output_size", ints(&[huge, huge]))], &[&[1, 1, 4, 4]]),
            "the output [1, 1, 1099511627776, 1099511627776] would have more bytes than fit in 64 bits"
        );
    }
}
