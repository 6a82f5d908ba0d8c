//! Reference semantics of the conv family: direct loops over output
//! positions and kernel taps.

use opfuse_ir::Tensor;

use super::support::{next_index, strides};
use super::{EvalArgs, EvalFn, EvalResult};
use crate::rules::conv::{adaptive_window, pool_geometry, transpose_geometry, window_geometry, Geometry};

/// Semantics of this family, by catalog name.
pub const EVAL: &[(&str, EvalFn)] = &[
    ("conv", conv),
    ("conv_transpose", conv_transpose),
    ("max_pool", max_pool),
    ("avg_pool", avg_pool),
    ("lp_pool", lp_pool),
    ("global_avg_pool", global_avg_pool),
    ("global_max_pool", global_max_pool),
    ("global_lp_pool", global_lp_pool),
    ("adaptive_avg_pool", adaptive_avg_pool),
    ("adaptive_max_pool", adaptive_max_pool),
];

/// Every multi-index within `dims`, in row-major order.
fn positions(dims: &[u64]) -> Vec<Vec<u64>> {
    let count = dims.iter().product::<u64>() as usize;
    let mut index = vec![0u64; dims.len()];
    let mut all = Vec::with_capacity(count);
    for _ in 0..count {
        all.push(index.clone());
        next_index(&mut index, dims);
    }
    all
}

/// Whether output 0 has no elements (then there is nothing to compute,
/// however large the window geometry).
fn output_is_empty(args: &EvalArgs<'_>) -> EvalResult<bool> {
    Ok(args.output_type(0)?.shape.numel() == Some(0))
}

/// `ceil(a / b)` for a positive `b`.
fn ceil_div(a: i128, b: i128) -> i128 {
    -((-a).div_euclid(b))
}

/// Along one spatial axis, what the window at output position `o` covers:
/// its taps on input elements as (tap, input position), and how many of its
/// taps fall on the padding (not past it, where ceil mode's last window
/// may reach). Computed from ranges, so a huge kernel costs nothing.
struct AxisWindow {
    inputs: Vec<(usize, usize)>,
    pads: u64,
}

fn axis_window(geometry: &Geometry, axis: usize, o: u64, extent: u64) -> AxisWindow {
    let stride = geometry.strides[axis] as i128;
    let dilation = geometry.dilations[axis] as i128;
    let kernel = geometry.kernel[axis] as i128;
    let start = o as i128 * stride - geometry.pads_begin[axis] as i128;
    // The taps `j` in [0, kernel) whose position `start + j * dilation` is in [low, high).
    let taps_within = |low: i128, high: i128| {
        let first = ceil_div(low - start, dilation).max(0);
        let end = ceil_div(high - start, dilation).min(kernel);
        (first, end.max(first))
    };
    let (first, end) = taps_within(0, extent as i128);
    let inputs = (first..end).map(|j| (j as usize, (start + j * dilation) as usize)).collect();
    let (pad_first, pad_end) = taps_within(
        -(geometry.pads_begin[axis] as i128),
        extent as i128 + geometry.pads_end[axis] as i128,
    );
    AxisWindow {
        inputs,
        pads: ((pad_end - pad_first) - (end - first)) as u64,
    }
}

/// The windows of every output position: per axis, then combined into the
/// (tap offset, input plane offset) pairs of each window, with the count of
/// its taps on the padding.
struct Windows {
    taps: Vec<Vec<(usize, usize)>>,
    pads: Vec<f64>,
}

fn windows(geometry: &Geometry, spatial: &[u64]) -> Windows {
    let per_axis: Vec<Vec<AxisWindow>> = (0..spatial.len())
        .map(|axis| {
            (0..geometry.output[axis])
                .map(|o| axis_window(geometry, axis, o, spatial[axis]))
                .collect()
        })
        .collect();
    let plane_strides = strides(spatial);
    // Tap offsets index a convolution's weights, whose kernel is real; a
    // pool's kernel (an attribute, possibly huge) needs none, so saturate.
    let kernel_strides: Vec<usize> = (0..geometry.kernel.len())
        .map(|axis| {
            geometry.kernel[axis + 1..]
                .iter()
                .fold(1usize, |acc, &k| acc.saturating_mul(k as usize))
        })
        .collect();
    let (mut taps, mut pads) = (Vec::new(), Vec::new());
    for out in positions(&geometry.output) {
        let axes: Vec<&AxisWindow> = out.iter().enumerate().map(|(axis, &o)| &per_axis[axis][o as usize]).collect();
        let counts: Vec<u64> = axes.iter().map(|w| w.inputs.len() as u64).collect();
        let mut window = Vec::new();
        let mut index = vec![0u64; counts.len()];
        for _ in 0..counts.iter().product::<u64>() {
            let (mut tap, mut offset) = (0, 0);
            for (axis, &i) in index.iter().enumerate() {
                let (j, position) = axes[axis].inputs[i as usize];
                tap = j.saturating_mul(kernel_strides[axis]).saturating_add(tap);
                offset += position * plane_strides[axis];
            }
            window.push((tap, offset));
            next_index(&mut index, &counts);
        }
        let inside: f64 = axes.iter().map(|w| (w.inputs.len() as u64 + w.pads) as f64).product();
        pads.push(inside - window.len() as f64);
        taps.push(window);
    }
    Windows { taps, pads }
}

fn conv(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    if output_is_empty(args)? {
        return Ok(vec![args.output(0, Vec::new())?]);
    }
    let (x, w) = (args.input(0)?, args.input(1)?);
    let geometry = window_geometry(&args.args, &x.dims()[2..], w.dims()[2..].to_vec(), false)?;
    let groups = args.args.int("groups")?.max(1) as usize;
    let bias = args.optional_input(2).map(Tensor::data);
    let data = conv_data(&geometry, groups, [x.dims(), w.dims()], [x.data(), w.data()], bias);
    Ok(vec![args.output(0, data)?])
}

/// `conv` of `x` and `w` (of `dims`, each buffer as long as its dims say,
/// with `w` of `[M, C / groups, k...]`) over `geometry`, in row-major order
/// of the output: each output a sum over its window, in the window's
/// order. Public so the JIT's native stage sums in the same order.
pub fn conv_data(geometry: &Geometry, groups: usize, dims: [&[u64]; 2], data: [&[f64]; 2], bias: Option<&[f64]>) -> Vec<f64> {
    let ([x_dims, w_dims], [x, w]) = (dims, data);
    let spatial = &x_dims[2..];
    let (batch, channels) = (x_dims[0] as usize, x_dims[1] as usize);
    let (out_channels, per_group) = (w_dims[0] as usize, w_dims[1] as usize);
    let outs_per_group = (out_channels / groups.max(1)).max(1);
    let plane = spatial.iter().product::<u64>() as usize;
    let kernel_size = geometry.kernel.iter().product::<u64>() as usize;
    let windows = windows(geometry, spatial);
    let mut data = Vec::with_capacity(batch * out_channels * windows.taps.len());
    for n in 0..batch {
        for m in 0..out_channels {
            let first_channel = (m / outs_per_group) * per_group;
            let start = bias.map_or(0.0, |b| b[m]);
            for window in &windows.taps {
                let mut sum = start;
                for c in 0..per_group {
                    let x_plane = &x[(n * channels + first_channel + c) * plane..];
                    let w_taps = &w[(m * per_group + c) * kernel_size..];
                    sum += window.iter().map(|&(tap, offset)| x_plane[offset] * w_taps[tap]).sum::<f64>();
                }
                data.push(sum);
            }
        }
    }
    data
}

/// Scatters each input element times each kernel tap into the output.
fn conv_transpose(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    if output_is_empty(args)? {
        return Ok(vec![args.output(0, Vec::new())?]);
    }
    let (x, w) = (args.input(0)?, args.input(1)?);
    let geometry = transpose_geometry(&args.args, &x.dims()[2..], w.dims()[2..].to_vec())?;
    let groups = args.args.int("groups")?.max(1) as usize;
    let bias = args.optional_input(2).map(Tensor::data);
    let data = conv_transpose_data(&geometry, groups, [x.dims(), w.dims()], [x.data(), w.data()], bias);
    Ok(vec![args.output(0, data)?])
}

/// `conv_transpose` of `x` and `w` (of `dims`, each buffer as long as its
/// dims say, with `w` of `[C, M / groups, k...]`) over `geometry`, in
/// row-major order of the output. Public so the JIT's native stage
/// scatters in the same order.
pub fn conv_transpose_data(geometry: &Geometry, groups: usize, dims: [&[u64]; 2], data: [&[f64]; 2], bias: Option<&[f64]>) -> Vec<f64> {
    let ([x_dims, w_dims], [x, w]) = (dims, data);
    let spatial = &x_dims[2..];
    let (batch, channels) = (x_dims[0] as usize, x_dims[1] as usize);
    let outs_per_group = w_dims[1] as usize;
    let out_channels = outs_per_group * groups;
    let channels_per_group = (channels / groups).max(1);
    let out_plane = geometry.output.iter().product::<u64>() as usize;
    let mut data = vec![0.0; batch * out_channels * out_plane];
    if let Some(bias) = bias {
        for (i, value) in data.iter_mut().enumerate() {
            *value = bias[(i / out_plane) % out_channels];
        }
    }
    // An empty input or kernel adds nothing to the bias.
    if x.is_empty() || w.is_empty() {
        return data;
    }
    let out_strides = strides(&geometry.output);
    let kernel_size = geometry.kernel.iter().product::<u64>() as usize;
    let in_positions = positions(spatial);
    let kernel_taps = positions(&geometry.kernel);
    for n in 0..batch {
        for c in 0..channels {
            let group = c / channels_per_group;
            for (i, input) in in_positions.iter().enumerate() {
                let value = x[(n * channels + c) * in_positions.len() + i];
                for (t, tap) in kernel_taps.iter().enumerate() {
                    let Some(offset) = transpose_target(geometry, input, tap, &out_strides) else {
                        continue;
                    };
                    for m in 0..outs_per_group {
                        let weight = w[(c * outs_per_group + m) * kernel_size + t];
                        data[(n * out_channels + group * outs_per_group + m) * out_plane + offset] += value * weight;
                    }
                }
            }
        }
    }
    data
}

/// The output offset that input position `input` and kernel tap `tap` write,
/// or None when it falls outside the output.
fn transpose_target(geometry: &Geometry, input: &[u64], tap: &[u64], out_strides: &[usize]) -> Option<usize> {
    let mut offset = 0;
    for axis in 0..input.len() {
        let at = input[axis] as i128 * geometry.strides[axis] as i128 + tap[axis] as i128 * geometry.dilations[axis] as i128
            - geometry.pads_begin[axis] as i128;
        if at < 0 || at >= geometry.output[axis] as i128 {
            return None;
        }
        offset += at as usize * out_strides[axis];
    }
    Some(offset)
}

/// What a pool makes of one window: the input values it covers (with
/// their offsets in the flattened input) and how many taps fell on the
/// padding.
struct Window {
    values: Vec<f64>,
    offsets: Vec<usize>,
    pads: f64,
}

/// `reduce` applied to every window of a max, average or Lp pool.
fn pool_data(args: &EvalArgs<'_>, reduce: impl Fn(&Window) -> f64) -> EvalResult<Vec<f64>> {
    if output_is_empty(args)? {
        return Ok(Vec::new());
    }
    let x = args.input(0)?;
    let spatial = &x.dims()[2..];
    let geometry = pool_geometry(&args.args)?;
    let plane = spatial.iter().product::<u64>() as usize;
    let windows = windows(&geometry, spatial);
    let lanes = (x.dims()[0] * x.dims()[1]) as usize;
    let mut data = Vec::with_capacity(lanes * windows.taps.len());
    for lane in 0..lanes {
        for (taps, &pads) in windows.taps.iter().zip(&windows.pads) {
            let offsets: Vec<usize> = taps.iter().map(|&(_, offset)| lane * plane + offset).collect();
            let values = offsets.iter().map(|&offset| x.data()[offset]).collect();
            data.push(reduce(&Window { values, offsets, pads }));
        }
    }
    Ok(data)
}

/// Output 0 as `reduce` applied to every window.
fn pool_with(args: &EvalArgs<'_>, reduce: impl Fn(&Window) -> f64) -> EvalResult<Vec<Tensor>> {
    Ok(vec![args.output(0, pool_data(args, reduce)?)?])
}

/// The maximum of the values; NaN wins (NumPy's `max`); -inf for a window
/// entirely in the padding.
fn maximum(values: &[f64]) -> f64 {
    match values.iter().any(|v| v.is_nan()) {
        true => f64::NAN,
        false => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    }
}

/// The maxima, and with `indices` the flattened input offset of each (the
/// first of ties; column-major within each plane with `storage_order = 1`).
fn max_pool(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let mut outputs = vec![args.output(0, pool_data(args, |window| maximum(&window.values))?)?];
    if args.args.bool("indices")? {
        let dims = args.input(0)?.dims();
        let column_major = args.args.int("storage_order")? == 1;
        let place = |offset: usize| match column_major {
            true => column_major_offset(offset, dims),
            false => offset,
        };
        let indices = pool_data(args, |window| {
            let best = maximum(&window.values);
            let at = window.values.iter().position(|&v| v == best || (v.is_nan() && best.is_nan()));
            at.map_or(-1.0, |i| place(window.offsets[i]) as f64)
        })?;
        outputs.push(args.output(1, indices)?);
    }
    Ok(outputs)
}

/// A row-major offset into a `[N, C, spatial...]` tensor, with the spatial
/// axes re-laid column-major (the first spatial axis varying fastest).
fn column_major_offset(offset: usize, dims: &[u64]) -> usize {
    let spatial = &dims[2..];
    let plane = spatial.iter().product::<u64>().max(1) as usize;
    let (lane, mut rest) = (offset / plane, offset % plane);
    let mut index = vec![0usize; spatial.len()];
    for axis in (0..spatial.len()).rev() {
        index[axis] = rest % spatial[axis] as usize;
        rest /= spatial[axis] as usize;
    }
    let mut column = 0;
    let mut step = 1;
    for (axis, &i) in index.iter().enumerate() {
        column += i * step;
        step *= spatial[axis] as usize;
    }
    lane * plane + column
}

/// The mean over the window's input values, or over its input and pad taps
/// with `count_include_pad` (pads count as zeros).
fn avg_pool(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let include_pad = args.args.bool("count_include_pad")?;
    pool_with(args, |window| {
        let count = window.values.len() as f64 + if include_pad { window.pads } else { 0.0 };
        window.values.iter().sum::<f64>() / count
    })
}

fn lp_pool(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let p = args.args.int("p")? as f64;
    pool_with(args, |window| lp_norm(&window.values, p))
}

fn lp_norm(values: &[f64], p: f64) -> f64 {
    values.iter().map(|v| v.abs().powf(p)).sum::<f64>().powf(1.0 / p)
}

/// Applies `reduce` to each `[spatial...]` plane.
fn global_with(args: &EvalArgs<'_>, reduce: impl Fn(&[f64]) -> f64) -> EvalResult<Vec<Tensor>> {
    let x = args.input(0)?;
    let plane = x.dims()[2..].iter().product::<u64>() as usize;
    let lanes = (x.dims()[0] * x.dims()[1]) as usize;
    let data = (0..lanes).map(|lane| reduce(&x.data()[lane * plane..(lane + 1) * plane])).collect();
    Ok(vec![args.output(0, data)?])
}

fn global_avg_pool(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    global_with(args, |plane| plane.iter().sum::<f64>() / plane.len() as f64)
}

fn global_max_pool(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    global_with(args, maximum)
}

fn global_lp_pool(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let p = args.args.int("p")? as f64;
    global_with(args, |plane| lp_norm(plane, p))
}

/// Applies `reduce` to the values of each adaptive window.
fn adaptive_with(args: &EvalArgs<'_>, reduce: impl Fn(&[f64]) -> f64) -> EvalResult<Vec<Tensor>> {
    if output_is_empty(args)? {
        return Ok(vec![args.output(0, Vec::new())?]);
    }
    let x = args.input(0)?;
    let spatial = &x.dims()[2..];
    let out_dims = &args.output_type(0)?.shape.dims()[2..];
    let plane = spatial.iter().product::<u64>() as usize;
    let plane_strides = strides(spatial);
    let windows: Vec<Vec<usize>> = positions(out_dims)
        .iter()
        .map(|out| {
            let bounds: Vec<(u64, u64)> = (0..spatial.len())
                .map(|axis| adaptive_window(out[axis], spatial[axis], out_dims[axis]))
                .collect();
            let extents: Vec<u64> = bounds.iter().map(|(start, end)| end - start).collect();
            positions(&extents)
                .iter()
                .map(|at| {
                    (0..at.len())
                        .map(|axis| (bounds[axis].0 + at[axis]) as usize * plane_strides[axis])
                        .sum()
                })
                .collect()
        })
        .collect();
    let lanes = (x.dims()[0] * x.dims()[1]) as usize;
    let mut data = Vec::with_capacity(lanes * windows.len());
    for lane in 0..lanes {
        let x_plane = &x.data()[lane * plane..];
        for window in &windows {
            let values: Vec<f64> = window.iter().map(|&offset| x_plane[offset]).collect();
            data.push(reduce(&values));
        }
    }
    Ok(vec![args.output(0, data)?])
}

fn adaptive_avg_pool(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    adaptive_with(args, |values| values.iter().sum::<f64>() / values.len() as f64)
}

fn adaptive_max_pool(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    adaptive_with(args, maximum)
}

#[cfg(test)]
mod tests {
    use opfuse_ir::Attr;
    use opfuse_ir::DType::F32;

    use crate::testing::{eval, eval1, ints, tensor};

    fn text(value: &str) -> Attr {
        Attr::Str(value.to_string())
    }

    /// 0, 1, ..., n - 1.
    fn iota(n: usize) -> Vec<f64> {
        (0..n).map(|i| i as f64).collect()
    }

    #[test]
    fn conv_pads_strides_dilates_and_groups() {
        // x = 0..9 as [1, 1, 3, 3], a 2x2 kernel of ones: window sums.
        let x = tensor(F32, &[1, 1, 3, 3], &iota(9));
        let ones = tensor(F32, &[1, 1, 2, 2], &[1.0; 4]);
        assert_eq!(eval1("conv", &[], &[x.clone(), ones.clone()]), vec![8.0, 12.0, 20.0, 24.0]);
        // Padding 1 all round, stride 2: windows at -1 and 1 on each axis.
        let attrs = [("pads", ints(&[1, 1, 1, 1])), ("strides", ints(&[2, 2]))];
        assert_eq!(eval1("conv", &attrs, &[x.clone(), ones.clone()]), vec![0.0, 3.0, 9.0, 24.0]);
        // Dilation 2 reads the corners: 0 + 2 + 6 + 8 = 16; a bias adds 1.
        let bias = tensor(F32, &[1], &[1.0]);
        assert_eq!(eval1("conv", &[("dilations", ints(&[2, 2]))], &[x, ones, bias]), vec![17.0]);
        // Depthwise 1-d: channel 0 is [1, 2, 3] times 1, channel 1 is [4, 5, 6] times -1.
        let x = tensor(F32, &[1, 2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let w = tensor(F32, &[2, 1, 1], &[1.0, -1.0]);
        assert_eq!(
            eval1("conv", &[("groups", Attr::Int(2))], &[x, w]),
            vec![1.0, 2.0, 3.0, -4.0, -5.0, -6.0]
        );
        // SAME_LOWER, kernel 2 over [1, 2, 3]: the pad goes first, [0+1, 1+2, 2+3].
        let x = tensor(F32, &[1, 1, 3], &[1.0, 2.0, 3.0]);
        let w = tensor(F32, &[1, 1, 2], &[1.0, 1.0]);
        assert_eq!(
            eval1("conv", &[("auto_pad", text("SAME_LOWER"))], &[x.clone(), w.clone()]),
            vec![1.0, 3.0, 5.0]
        );
        assert_eq!(eval1("conv", &[("auto_pad", text("SAME_UPPER"))], &[x, w]), vec![3.0, 5.0, 3.0]);
    }

    #[test]
    fn conv_transpose_scatters_windows() {
        // numpy: x = [1, 2, 3], w = [1, 10], stride 2 -> [1, 10, 2, 20, 3, 30].
        let x = tensor(F32, &[1, 1, 3], &[1.0, 2.0, 3.0]);
        let w = tensor(F32, &[1, 1, 2], &[1.0, 10.0]);
        assert_eq!(
            eval1("conv_transpose", &[("strides", ints(&[2]))], &[x.clone(), w.clone()]),
            vec![1.0, 10.0, 2.0, 20.0, 3.0, 30.0]
        );
        // Stride 1 overlaps: [1, 12, 23, 30]; pads [1, 0] drop the first element.
        assert_eq!(eval1("conv_transpose", &[], &[x.clone(), w.clone()]), vec![1.0, 12.0, 23.0, 30.0]);
        assert_eq!(
            eval1("conv_transpose", &[("pads", ints(&[1, 0]))], &[x.clone(), w.clone()]),
            vec![12.0, 23.0, 30.0]
        );
        // An output_shape longer than the result leaves zeros (plus the bias).
        let bias = tensor(F32, &[1], &[0.5]);
        assert_eq!(
            eval1("conv_transpose", &[("output_shape", ints(&[5]))], &[x, w, bias]),
            vec![1.5, 12.5, 23.5, 30.5, 0.5]
        );
        // Two groups of one channel each: each channel scaled by its own weight.
        let x = tensor(F32, &[1, 2, 2], &[1.0, 2.0, 3.0, 4.0]);
        let w = tensor(F32, &[2, 1, 1], &[2.0, -1.0]);
        assert_eq!(
            eval1("conv_transpose", &[("groups", Attr::Int(2))], &[x, w]),
            vec![2.0, 4.0, -3.0, -4.0]
        );
    }

    #[test]
    fn pools_treat_padding_as_onnx_does() {
        let x = tensor(F32, &[1, 1, 4], &[1.0, -2.0, 3.0, 4.0]);
        fn attrs(extra: &[(&'static str, Attr)]) -> Vec<(&'static str, Attr)> {
            let mut all = vec![("kernel", ints(&[3])), ("strides", ints(&[2])), ("pads", ints(&[1, 1]))];
            all.extend(extra.iter().cloned());
            all
        }
        // Windows over positions [-1, 0, 1] and [1, 2, 3].
        assert_eq!(eval1("max_pool", &attrs(&[]), std::slice::from_ref(&x)), vec![1.0, 4.0]);
        assert_eq!(
            eval1("avg_pool", &attrs(&[]), std::slice::from_ref(&x)),
            vec![-0.5, (5.0f64 / 3.0) as f32 as f64]
        );
        let include = [("count_include_pad", Attr::Bool(true))];
        assert_eq!(
            eval1("avg_pool", &attrs(&include), std::slice::from_ref(&x)),
            vec![(-1.0f64 / 3.0) as f32 as f64, (5.0f64 / 3.0) as f32 as f64]
        );
        // Ceil mode adds a window over [3, 4, 5]: 4 is input, 4 the end pad, 5 outside.
        let ceil = [("ceil_mode", Attr::Bool(true)), ("count_include_pad", Attr::Bool(true))];
        assert_eq!(
            eval1("avg_pool", &attrs(&ceil), std::slice::from_ref(&x)),
            vec![(-1.0f64 / 3.0) as f32 as f64, (5.0f64 / 3.0) as f32 as f64, 2.0]
        );
        // The maxima 1 and 4 sit at offsets 0 and 3.
        let with_indices = eval("max_pool", &attrs(&[("indices", Attr::Bool(true))]), std::slice::from_ref(&x)).unwrap();
        assert_eq!(with_indices[1].data(), &[0.0, 3.0]);
        // sqrt(1 + 4 + 9) and sqrt(4 + 9 + 16).
        assert_eq!(
            eval1("lp_pool", &[("kernel", ints(&[3]))], &[x]),
            vec![14f64.sqrt() as f32 as f64, 29f64.sqrt() as f32 as f64]
        );
    }

    #[test]
    fn max_pool_indices_in_column_major_order() {
        // [[1, 5], [7, 2]]: the maximum 7 is at row 1, column 0: offset 2
        // row-major, 1 column-major; in the second sample, 8 more.
        let x = tensor(F32, &[2, 1, 2, 2], &[1.0, 5.0, 7.0, 2.0, 1.0, 5.0, 7.0, 2.0]);
        let attrs = |order: i64| {
            vec![
                ("kernel", ints(&[2, 2])),
                ("indices", Attr::Bool(true)),
                ("storage_order", Attr::Int(order)),
            ]
        };
        assert_eq!(
            eval("max_pool", &attrs(0), std::slice::from_ref(&x)).unwrap()[1].data(),
            &[2.0, 6.0]
        );
        assert_eq!(eval("max_pool", &attrs(1), &[x]).unwrap()[1].data(), &[1.0, 5.0]);
    }

    #[test]
    fn global_and_adaptive_pools() {
        let x = tensor(F32, &[1, 2, 2, 2], &[1.0, 2.0, 3.0, 4.0, -1.0, -2.0, -3.0, -4.0]);
        assert_eq!(eval1("global_avg_pool", &[], std::slice::from_ref(&x)), vec![2.5, -2.5]);
        assert_eq!(eval1("global_max_pool", &[], std::slice::from_ref(&x)), vec![4.0, -1.0]);
        assert_eq!(eval1("global_lp_pool", &[("p", Attr::Int(1))], &[x]), vec![10.0, 10.0]);
        // torch.nn.functional.adaptive_avg_pool1d(torch.arange(5.).view(1, 1, 5), 3)
        // = [0.5, 2.0, 3.5]: windows [0, 2), [1, 4), [3, 5).
        let x = tensor(F32, &[1, 1, 5], &iota(5));
        assert_eq!(
            eval1("adaptive_avg_pool", &[("output_size", ints(&[3]))], std::slice::from_ref(&x)),
            vec![0.5, 2.0, 3.5]
        );
        assert_eq!(
            eval1("adaptive_max_pool", &[("output_size", ints(&[3]))], &[x]),
            vec![1.0, 3.0, 4.0]
        );
        let x = tensor(F32, &[1, 1, 2, 4], &iota(8));
        assert_eq!(eval1("adaptive_avg_pool", &[("output_size", ints(&[1, 2]))], &[x]), vec![2.5, 4.5]);
    }
}
