//! Reference semantics of the layout family.
//!
//! Output types come from the shape rules applied to the actual inputs
//! (never from the types the graph recorded), so the loops below always
//! index the tensors they were sized for.

use opfuse_ir::{Attrs, DType, Tensor, TensorType};

use super::support::{broadcast_offsets, strides, AxisSplit};
use super::{EvalArgs, EvalError, EvalFn, EvalResult};
use crate::args::{normalize_axis, Args};
use crate::rules::layout::{self as rules, BlockOrder, ResizeAxis};
use crate::rules::InferFn;

/// Semantics of this family, by catalog name.
pub const EVAL: &[(&str, EvalFn)] = &[
    ("reshape", reshape),
    ("transpose", transpose),
    ("concat", concat),
    ("split", split),
    ("slice", slice),
    ("squeeze", squeeze),
    ("unsqueeze", unsqueeze),
    ("expand", expand),
    ("flatten", flatten),
    ("pad", pad),
    ("tile", tile),
    ("depth_to_space", depth_to_space),
    ("space_to_depth", space_to_depth),
    ("resize", resize),
    ("trilu", trilu),
    ("reverse", reverse),
    ("reverse_sequence", reverse_sequence),
    ("roll", roll),
    ("stack", stack),
    ("shape", shape),
    ("size", size),
    ("range", range),
    ("eye_like", eye_like),
];

/// How one output axis reads the input: the input stride it moves along,
/// and for each output coordinate the input coordinate (`None`: a fill value).
struct AxisRead {
    stride: usize,
    source: Vec<Option<usize>>,
}

/// The output whose element at each multi-index reads the input through
/// one [`AxisRead`] per output axis; `fill` where any axis reads nothing.
fn read_axes(data: &[f64], reads: &[AxisRead], fill: f64) -> Vec<f64> {
    let total: usize = reads.iter().map(|r| r.source.len()).product();
    let mut out = Vec::with_capacity(total);
    let mut index = vec![0usize; reads.len()];
    for _ in 0..total {
        let offset = reads
            .iter()
            .zip(&index)
            .try_fold(0usize, |offset, (read, &i)| read.source[i].map(|s| offset + s * read.stride));
        out.push(offset.map_or(fill, |o| data[o]));
        for axis in (0..reads.len()).rev() {
            index[axis] += 1;
            if index[axis] < reads[axis].source.len() {
                break;
            }
            index[axis] = 0;
        }
    }
    out
}

/// An [`AxisRead`] for every input axis in order, with `source(axis, o)`
/// giving the input coordinate of output coordinate `o`.
fn read_each_axis(x: &Tensor, out_dims: &[u64], source: impl Fn(usize, usize) -> Option<usize>) -> Vec<AxisRead> {
    let in_strides = strides(x.dims());
    out_dims
        .iter()
        .enumerate()
        .map(|(axis, &extent)| AxisRead {
            stride: in_strides[axis],
            source: (0..extent as usize).map(|o| source(axis, o)).collect(),
        })
        .collect()
}

/// The single output type of `rule` for the actual inputs.
pub(super) fn output_type(args: &EvalArgs<'_>, rule: InferFn) -> EvalResult<TensorType> {
    rule(&args.args)?
        .into_iter()
        .next()
        .ok_or_else(|| EvalError::new("the shape rule gave no output"))
}

/// A tensor of type `ty`, its elements rounded to the dtype.
pub(super) fn build(ty: TensorType, data: Vec<f64>) -> EvalResult<Tensor> {
    Tensor::new(ty, data).map_err(|e| EvalError::new(e.to_string()))
}

fn reshape(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    retyped(args, rules::reshape)
}

fn squeeze(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    retyped(args, rules::squeeze)
}

fn unsqueeze(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    retyped(args, rules::unsqueeze)
}

fn flatten(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    retyped(args, rules::flatten)
}

/// The input's elements, in order, with the type `rule` gives.
fn retyped(args: &EvalArgs<'_>, rule: InferFn) -> EvalResult<Vec<Tensor>> {
    let ty = output_type(args, rule)?;
    Ok(vec![build(ty, args.input(0)?.data().to_vec())?])
}

fn transpose(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let x = args.input(0)?;
    let perm = rules::transpose_perm(&args.args, x.dims().len())?;
    let in_strides = strides(x.dims());
    let reads: Vec<AxisRead> = perm
        .iter()
        .map(|&p| AxisRead {
            stride: in_strides[p],
            source: (0..x.dims()[p] as usize).map(Some).collect(),
        })
        .collect();
    let ty = output_type(args, rules::transpose)?;
    Ok(vec![build(ty, read_axes(x.data(), &reads, 0.0))?])
}

fn concat(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let ty = output_type(args, rules::concat)?;
    let axis = normalize_axis(args.args.int("axis")?, ty.rank(), "axis")?;
    let outer = AxisSplit::new(ty.shape.dims(), axis).outer;
    let mut data = Vec::with_capacity(ty.numel().unwrap_or(0) as usize);
    for o in 0..outer {
        for x in args.inputs {
            let chunk = x.len().checked_div(outer).unwrap_or(0);
            data.extend_from_slice(&x.data()[o * chunk..(o + 1) * chunk]);
        }
    }
    Ok(vec![build(ty, data)?])
}

fn split(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let x = args.input(0)?;
    let types = rules::split(&args.args)?;
    let axis = normalize_axis(args.args.int("axis")?, x.dims().len(), "axis")?;
    let lanes = AxisSplit::new(x.dims(), axis);
    let mut first = 0;
    let mut outputs = Vec::with_capacity(types.len());
    for ty in types {
        let size = ty.shape.0[axis] as usize;
        let mut data = Vec::with_capacity(lanes.outer * size * lanes.inner);
        for o in 0..lanes.outer {
            let start = lanes.at(o, first, 0);
            data.extend_from_slice(&x.data()[start..start + size * lanes.inner]);
        }
        first += size;
        outputs.push(build(ty, data)?);
    }
    Ok(outputs)
}

fn slice(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let x = args.input(0)?;
    let plan = rules::slice_plan(&args.args, x.ty())?;
    let dims: Vec<u64> = plan.iter().map(|a| a.count).collect();
    let reads = read_each_axis(x, &dims, |axis, o| {
        let a = plan[axis];
        Some((a.first as i64 + o as i64 * a.step) as usize)
    });
    Ok(vec![build(TensorType::new(x.dtype(), dims), read_axes(x.data(), &reads, 0.0))?])
}

fn expand(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let x = args.input(0)?;
    let ty = output_type(args, rules::expand)?;
    let data = broadcast_offsets(ty.shape.dims(), x.dims()).iter().map(|&o| x.data()[o]).collect();
    Ok(vec![build(ty, data)?])
}

/// Negative pads crop; positive ones add entries chosen by the mode
/// (numpy.pad's semantics, reflections repeating for pads wider than the axis).
fn pad(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let x = args.input(0)?;
    let ty = output_type(args, rules::pad)?;
    let widths = rules::pad_widths(&args.args, x.ty())?;
    let mode = args.args.string("mode")?;
    let reads = read_each_axis(x, ty.shape.dims(), |axis, o| {
        let extent = x.dims()[axis] as i64;
        let i = o as i64 - widths[axis].0;
        padded_source(&mode, i, extent)
    });
    Ok(vec![build(ty, read_axes(x.data(), &reads, args.args.float("value")?))?])
}

/// The input coordinate padding mode `mode` reads for coordinate `i` of an
/// axis of `n` entries (i may lie outside `0..n`).
fn padded_source(mode: &str, i: i64, n: i64) -> Option<usize> {
    if (0..n).contains(&i) {
        return Some(i as usize);
    }
    let source = match mode {
        "edge" => i.clamp(0, n - 1),
        "wrap" => i.rem_euclid(n),
        "reflect" if n == 1 => 0,
        "reflect" => {
            // Reflection without repeating the edge has period 2(n - 1).
            let period = 2 * (n - 1);
            let folded = i.rem_euclid(period);
            if folded < n {
                folded
            } else {
                period - folded
            }
        }
        _ => return None,
    };
    Some(source as usize)
}

fn tile(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let x = args.input(0)?;
    let ty = output_type(args, rules::tile)?;
    let reads = read_each_axis(x, ty.shape.dims(), |axis, o| Some(o % x.dims()[axis] as usize));
    Ok(vec![build(ty, read_axes(x.data(), &reads, 0.0))?])
}

/// Output `(n, c, y, x)` reads channel `(i * b + j) * C' + c` (DCR) or
/// `c * b² + i * b + j` (CRD) at `(y / b, x / b)`, where `i = y % b`,
/// `j = x % b` and C' is the output's channel count.
fn depth_to_space(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let x = args.input(0)?;
    let ty = output_type(args, rules::depth_to_space)?;
    let (block, order) = rules::block_args(&args.args)?;
    let b = block as usize;
    let [n, c, h, w] = dims4(x)?;
    let out_c = c / (b * b);
    let mut data = Vec::with_capacity(x.len());
    for bn in 0..n {
        for cc in 0..out_c {
            for y in 0..h * b {
                for xx in 0..w * b {
                    let (i, j) = (y % b, xx % b);
                    let channel = match order {
                        BlockOrder::Dcr => (i * b + j) * out_c + cc,
                        BlockOrder::Crd => cc * b * b + i * b + j,
                    };
                    data.push(x.data()[((bn * c + channel) * h + y / b) * w + xx / b]);
                }
            }
        }
    }
    Ok(vec![build(ty, data)?])
}

/// The inverse of `depth_to_space` with the same `mode`.
fn space_to_depth(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let x = args.input(0)?;
    let ty = output_type(args, rules::space_to_depth)?;
    let (block, order) = rules::block_args(&args.args)?;
    let b = block as usize;
    let [n, c, h, w] = dims4(x)?;
    let mut data = Vec::with_capacity(x.len());
    for bn in 0..n {
        for out_channel in 0..c * b * b {
            let (cc, cell) = match order {
                BlockOrder::Dcr => (out_channel % c, out_channel / c),
                BlockOrder::Crd => (out_channel / (b * b), out_channel % (b * b)),
            };
            let (i, j) = (cell / b, cell % b);
            for y in 0..h / b {
                for xx in 0..w / b {
                    data.push(x.data()[((bn * c + cc) * h + y * b + i) * w + xx * b + j]);
                }
            }
        }
    }
    Ok(vec![build(ty, data)?])
}

fn dims4(x: &Tensor) -> EvalResult<[usize; 4]> {
    match x.dims() {
        &[n, c, h, w] => Ok([n as usize, c as usize, h as usize, w as usize]),
        _ => Err(EvalError::new(format!("expects an [N, C, H, W] input, found {}", x.ty()))),
    }
}

/// ONNX `Resize` as its reference implementation computes it: one axis at a
/// time, each output coordinate a weighted sum of a few input entries
/// (edge-clamped) whose weights depend on the fractional part of the source
/// coordinate; all in f64, rounded (and for integers saturated) at the end.
fn resize(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let x = args.input(0)?;
    let (dims, data) = resize_values(args.args.attrs, x.ty(), x.data())?;
    Ok(vec![build(TensorType::new(x.dtype(), dims), data)?])
}

/// `resize` of `data` (a tensor of type `x`) under `attrs`: the output
/// dims and values, saturated into an integer dtype's range (the caller
/// rounds them to the dtype).
pub fn resize_values(attrs: &Attrs, x: &TensorType, data: &[f64]) -> EvalResult<(Vec<u64>, Vec<f64>)> {
    Ok(Resampling::plan(attrs, x)?.apply(data))
}

/// The (input coordinate, weight) pairs one output coordinate sums, or
/// `None` where `tf_crop_and_resize` extrapolates.
type Taps = Option<Vec<(usize, f64)>>;

/// A `resize` planned for one input type: every resampled axis with the
/// taps of each output coordinate. The JIT's native stage plans once and
/// applies it to its f32 buffers on every run, so both compute one
/// resampling.
#[derive(Clone, Debug, PartialEq)]
pub struct Resampling {
    input: TensorType,
    /// Each resampled axis and the taps of each output coordinate.
    axes: Vec<(usize, Vec<Taps>)>,
    extrapolation_value: f64,
}

impl Resampling {
    pub fn plan(attrs: &Attrs, x: &TensorType) -> EvalResult<Resampling> {
        let args = Args {
            attrs,
            inputs: std::slice::from_ref(x),
        };
        let plan = rules::resize_plan(&args, x)?;
        let settings = ResizeSettings::read(&args)?;
        let mut dims = x.shape.dims().to_vec();
        let mut axes = Vec::new();
        for resized in &plan.axes {
            let (input, output) = (dims[resized.axis] as usize, plan.dims[resized.axis] as usize);
            if resizes_nothing(resized, input, output) {
                continue;
            }
            axes.push((
                resized.axis,
                (0..output).map(|y| settings.taps(resized, y, input, output)).collect(),
            ));
            dims[resized.axis] = output as u64;
        }
        Ok(Resampling {
            input: x.clone(),
            axes,
            extrapolation_value: settings.extrapolation_value,
        })
    }

    /// The output dims.
    pub fn dims(&self) -> Vec<u64> {
        let mut dims = self.input.shape.dims().to_vec();
        for (axis, taps) in &self.axes {
            if let Some(extent) = dims.get_mut(*axis) {
                *extent = taps.len() as u64;
            }
        }
        dims
    }

    /// The output dims and values of `data` (as long as the planned input).
    pub fn apply(&self, data: &[f64]) -> (Vec<u64>, Vec<f64>) {
        let mut dims = self.input.shape.dims().to_vec();
        let mut data = data.to_vec();
        for (axis, taps) in &self.axes {
            data = resample_axis(&data, &dims, *axis, taps, self.extrapolation_value);
            dims[*axis] = taps.len() as u64;
        }
        let data = data.into_iter().map(|v| saturate(self.input.dtype, v)).collect();
        (dims, data)
    }
}

/// The attributes of `resize` that shape the weights.
struct ResizeSettings {
    mode: String,
    coordinates: String,
    nearest_mode: String,
    cubic_coeff_a: f64,
    exclude_outside: bool,
    extrapolation_value: f64,
    antialias: bool,
}

impl ResizeSettings {
    fn read(args: &Args<'_>) -> EvalResult<ResizeSettings> {
        Ok(ResizeSettings {
            mode: args.string("mode")?,
            coordinates: args.string("coordinate_transformation_mode")?,
            nearest_mode: args.string("nearest_mode")?,
            cubic_coeff_a: args.float("cubic_coeff_a")?,
            exclude_outside: args.bool("exclude_outside")?,
            extrapolation_value: args.float("extrapolation_value")?,
            antialias: args.bool("antialias")?,
        })
    }

    /// The (input coordinate, weight) pairs output coordinate `y` sums, or
    /// `None` where `tf_crop_and_resize` extrapolates.
    fn taps(&self, axis: &ResizeAxis, y: usize, input: usize, output: usize) -> Option<Vec<(usize, f64)>> {
        let x = self.source_coordinate(axis, y as f64, input, output)?;
        let floor = x.floor();
        let integral = x == floor;
        // The reference keeps the ratio in (0, 1], preferring the left neighbour.
        let ratio = if integral { 1.0 } else { x - floor };
        let mut weights = self.coefficients(ratio, axis.scale);
        let half = (weights.len() / 2) as i64;
        let first = floor as i64 - half + i64::from(!integral);
        let inside = |k: usize| (0..input as i64).contains(&(first + k as i64));
        if self.exclude_outside {
            weights
                .iter_mut()
                .enumerate()
                .filter(|(k, _)| !inside(*k))
                .for_each(|(_, w)| *w = 0.0);
            let total: f64 = weights.iter().sum();
            let total = if total == 0.0 { 1.0 } else { total };
            weights.iter_mut().for_each(|w| *w /= total);
        }
        let last = input as i64 - 1;
        Some(
            weights
                .into_iter()
                .enumerate()
                .map(|(k, w)| ((first + k as i64).clamp(0, last) as usize, w))
                .collect(),
        )
    }

    fn source_coordinate(&self, axis: &ResizeAxis, y: f64, input: usize, output: usize) -> Option<f64> {
        let (scale, n) = (axis.scale, input as f64);
        // The reference measures the output in floating point (scale * n),
        // not as the integer extent, except where it says otherwise.
        let width = scale * n;
        let x = match self.coordinates.as_str() {
            "align_corners" if width == 1.0 => 0.0,
            "align_corners" => y * (n - 1.0) / (width - 1.0),
            "asymmetric" => y / scale,
            "pytorch_half_pixel" if width == 1.0 => -0.5,
            "half_pixel_symmetric" => {
                let adjustment = output as f64 / width;
                n / 2.0 * (1.0 - adjustment) + (y + 0.5) / scale - 0.5
            }
            "tf_half_pixel_for_nn" => (y + 0.5) / scale,
            "tf_crop_and_resize" => {
                let (start, end) = axis.roi;
                let x = match width == 1.0 {
                    true => (end - start) * (n - 1.0) / 2.0,
                    false => y * (end - start) * (n - 1.0) / (width - 1.0),
                } + start * (n - 1.0);
                return (0.0..=n - 1.0).contains(&x).then_some(x);
            }
            _ => (y + 0.5) / scale - 0.5,
        };
        Some(x)
    }

    /// The weights of the neighbours of a source coordinate with fractional
    /// part `ratio`, nearest first-left to last-right.
    fn coefficients(&self, ratio: f64, scale: f64) -> Vec<f64> {
        let a = self.cubic_coeff_a;
        match (self.mode.as_str(), self.antialias) {
            ("nearest", _) => {
                let right = match self.nearest_mode.as_str() {
                    _ if ratio == 1.0 => true,
                    "round_prefer_ceil" => ratio >= 0.5,
                    "floor" => false,
                    "ceil" => true,
                    _ => ratio > 0.5,
                };
                vec![f64::from(u8::from(!right)), f64::from(u8::from(right))]
            }
            ("linear", false) => vec![1.0 - ratio, ratio],
            ("linear", true) => {
                // Shrinking widens the triangle filter by 1 / scale.
                let scale = scale.min(1.0);
                let start = (-1.0 / scale).floor() as i64 + 1;
                let weights = (start..2 - start).map(|i| (1.0 - ((i as f64 - ratio) * scale).abs()).clamp(0.0, 1.0));
                normalized(weights.collect())
            }
            (_, false) => {
                let r = ratio;
                vec![
                    ((a * (r + 1.0) - 5.0 * a) * (r + 1.0) + 8.0 * a) * (r + 1.0) - 4.0 * a,
                    ((a + 2.0) * r - (a + 3.0)) * r * r + 1.0,
                    ((a + 2.0) * (1.0 - r) - (a + 3.0)) * (1.0 - r) * (1.0 - r) + 1.0,
                    ((a * (2.0 - r) - 5.0 * a) * (2.0 - r) + 8.0 * a) * (2.0 - r) - 4.0 * a,
                ]
            }
            (_, true) => {
                let scale = scale.min(1.0);
                let start = (-2.0 / scale).floor() as i64 + 1;
                let weights = (start..2 - start).map(|i| cubic_kernel(scale * (i as f64 - ratio), a));
                normalized(weights.collect())
            }
        }
    }
}

/// The Keys cubic convolution kernel with parameter `a`.
fn cubic_kernel(x: f64, a: f64) -> f64 {
    let x = x.abs();
    match x {
        x if x <= 1.0 => ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0,
        x if x < 2.0 => ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a,
        _ => 0.0,
    }
}

fn normalized(weights: Vec<f64>) -> Vec<f64> {
    let total: f64 = weights.iter().sum();
    weights.into_iter().map(|w| w / total).collect()
}

/// An axis the reference skips: scale 1 (to 1e-9), same extent, whole roi.
fn resizes_nothing(axis: &ResizeAxis, input: usize, output: usize) -> bool {
    (axis.scale - 1.0).abs() <= 1e-9 * axis.scale.abs().max(1.0) && input == output && axis.roi == (0.0, 1.0)
}

fn resample_axis(data: &[f64], dims: &[u64], axis: usize, taps: &[Option<Vec<(usize, f64)>>], fill: f64) -> Vec<f64> {
    let lanes = AxisSplit::new(dims, axis);
    let mut out = Vec::with_capacity(lanes.outer * taps.len() * lanes.inner);
    for o in 0..lanes.outer {
        for tap in taps {
            for i in 0..lanes.inner {
                out.push(match tap {
                    Some(tap) => tap.iter().map(|&(s, w)| w * data[lanes.at(o, s, i)]).sum(),
                    None => fill,
                });
            }
        }
    }
    out
}

/// `value` clamped into an integer dtype's range (ONNX's saturating cast of
/// the interpolated result); floats unchanged.
fn saturate(dtype: DType, value: f64) -> f64 {
    let (low, high) = match dtype {
        DType::U8 => (0.0, 255.0),
        DType::I8 => (-128.0, 127.0),
        DType::I16 => (i16::MIN as f64, i16::MAX as f64),
        DType::I32 => (i32::MIN as f64, i32::MAX as f64),
        DType::I64 => (i64::MIN as f64, i64::MAX as f64),
        _ => return value,
    };
    value.clamp(low, high)
}

/// Zeroes what lies outside the triangle: row i, column j is kept where
/// `j - i >= k` (upper) or `j - i <= k` (lower).
fn trilu(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let x = args.input(0)?;
    let (upper, k) = (args.args.bool("upper")?, args.args.int("k")?);
    let &[.., rows, cols] = x.dims() else {
        return Err(EvalError::new(format!("expects a matrix or a batch of them, found {}", x.ty())));
    };
    let (rows, cols) = (rows as usize, cols as usize);
    let data = x
        .data()
        .iter()
        .enumerate()
        .map(|(offset, &v)| {
            let (i, j) = ((offset / cols.max(1)) % rows.max(1), offset % cols.max(1));
            let diagonal = j as i64 - i as i64;
            let kept = if upper { diagonal >= k } else { diagonal <= k };
            if kept {
                v
            } else {
                0.0
            }
        })
        .collect();
    Ok(vec![build(x.ty().clone(), data)?])
}

fn reverse(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let x = args.input(0)?;
    let axes = rules::reversed_axes(&args.args, x.dims().len())?;
    let reads = read_each_axis(x, x.dims(), |axis, o| match axes.contains(&axis) {
        true => Some(x.dims()[axis] as usize - 1 - o),
        false => Some(o),
    });
    Ok(vec![build(x.ty().clone(), read_axes(x.data(), &reads, 0.0))?])
}

/// Entry t < len of batch entry b reads entry `len - 1 - t`; the rest stay.
fn reverse_sequence(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let (x, lens) = (args.input(0)?, args.input(1)?);
    let (batch, time) = rules::sequence_axes(&args.args, x.dims().len())?;
    let steps = x.dims()[time] as i64;
    let lens: Vec<usize> = lens
        .to_i64s()
        .into_iter()
        .map(|len| match (0..=steps).contains(&len) {
            true => Ok(len as usize),
            false => Err(EvalError::new(format!(
                "sequence length {len} is out of range for axis {time} of {} ({steps} steps)",
                x.ty()
            ))),
        })
        .collect::<EvalResult<_>>()?;
    let in_strides = strides(x.dims());
    let data = (0..x.len())
        .map(|offset| {
            let coordinate = |axis: usize| (offset / in_strides[axis]) % x.dims()[axis] as usize;
            let (b, t) = (coordinate(batch), coordinate(time));
            let len = lens.get(b).copied().unwrap_or(0);
            match t < len {
                true => x.data()[offset - t * in_strides[time] + (len - 1 - t) * in_strides[time]],
                false => x.data()[offset],
            }
        })
        .collect();
    Ok(vec![build(x.ty().clone(), data)?])
}

/// Output coordinate o along a rolled axis of n entries reads `(o - shift) mod n`.
fn roll(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let x = args.input(0)?;
    let shifts = rules::roll_shifts(&args.args, x.dims().len())?;
    let source = |o: usize, n: usize, shift: i64| (o as i64 - shift).rem_euclid(n.max(1) as i64) as usize;
    let data = match shifts.as_slice() {
        &[(None, shift)] => (0..x.len()).map(|o| x.data()[source(o, x.len(), shift)]).collect(),
        _ => {
            let reads = read_each_axis(x, x.dims(), |axis, o| {
                let shift = shifts.iter().find(|(a, _)| *a == Some(axis)).map_or(0, |&(_, s)| s);
                Some(source(o, x.dims()[axis] as usize, shift))
            });
            read_axes(x.data(), &reads, 0.0)
        }
    };
    Ok(vec![build(x.ty().clone(), data)?])
}

fn stack(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let ty = output_type(args, rules::stack)?;
    let first = args.input(0)?;
    let axis = normalize_axis(args.args.int("axis")?, first.dims().len() + 1, "axis")?;
    let lanes = AxisSplit::new(first.dims(), axis);
    let chunk = lanes.len * lanes.inner;
    let mut data = Vec::with_capacity(ty.numel().unwrap_or(0) as usize);
    for o in 0..lanes.outer {
        for x in args.inputs {
            data.extend_from_slice(&x.data()[o * chunk..(o + 1) * chunk]);
        }
    }
    Ok(vec![build(ty, data)?])
}

fn shape(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let x = args.input(0)?;
    let (start, end) = rules::shape_window(&args.args, x.dims().len())?;
    let dims: Vec<f64> = x.dims()[start..end].iter().map(|&d| d as f64).collect();
    Ok(vec![build(TensorType::new(DType::I64, vec![dims.len() as u64]), dims)?])
}

fn size(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let x = args.input(0)?;
    Ok(vec![Tensor::scalar(DType::I64, x.len() as f64)])
}

/// Entry i is `start + i * delta`, computed in f64 and rounded once (as
/// ONNX's `stash_type` asks for narrow floats).
fn range(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let ty = output_type(args, rules::range)?;
    let (start, delta) = (args.args.float("start")?, args.args.float("delta")?);
    let count = ty.numel().unwrap_or(0);
    let data = (0..count).map(|i| start + i as f64 * delta).collect();
    Ok(vec![build(ty, data)?])
}

fn eye_like(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let ty = output_type(args, rules::eye_like)?;
    let k = args.args.int("k")?;
    let cols = ty.shape.0.get(1).copied().unwrap_or(1).max(1) as usize;
    let count = ty.numel().unwrap_or(0) as usize;
    let data = (0..count)
        .map(|offset| f64::from(u8::from((offset % cols) as i64 - (offset / cols) as i64 == k)))
        .collect();
    Ok(vec![build(ty, data)?])
}

#[cfg(test)]
mod tests {
    use opfuse_ir::Attr;
    use opfuse_ir::DType::{Bool, F32, I32, I64, U8};

    use std::slice::from_ref;

    use crate::testing::{eval, eval1, ints, tensor};

    fn text(s: &str) -> Attr {
        Attr::Str(s.to_string())
    }

    fn floats(values: &[f64]) -> Attr {
        Attr::List(values.iter().map(|&v| Attr::Float(v)).collect())
    }

    fn iota(n: usize) -> Vec<f64> {
        (0..n).map(|i| i as f64).collect()
    }

    /// The dims and data of every output of `op`.
    fn outputs(op: &str, attrs: &[(&str, Attr)], inputs: &[opfuse_ir::Tensor]) -> Vec<(Vec<u64>, Vec<f64>)> {
        match eval(op, attrs, inputs) {
            Ok(ts) => ts.into_iter().map(|t| (t.dims().to_vec(), t.into_data())).collect(),
            Err(message) => panic!("`{op}` failed: {message}"),
        }
    }

    fn assert_close(got: &[f64], expected: &[f64]) {
        assert_eq!(got.len(), expected.len(), "{got:?} vs {expected:?}");
        for (g, e) in got.iter().zip(expected) {
            assert!((g - e).abs() <= 1e-5 * e.abs().max(1.0), "{got:?} vs {expected:?}");
        }
    }

    #[test]
    fn reshapes_keep_the_data() {
        let x = tensor(F32, &[2, 3], &iota(6));
        // A 0 copies the input's extent at its position (ONNX's default).
        let copied = outputs("reshape", &[("shape", ints(&[0, 1, -1]))], from_ref(&x));
        assert_eq!(copied, vec![(vec![2, 1, 3], iota(6))]);
        assert_eq!(
            outputs("flatten", &[("axis", Attr::Int(0))], from_ref(&x)),
            vec![(vec![1, 6], iota(6))]
        );
        assert_eq!(
            outputs("unsqueeze", &[("axes", ints(&[1]))], from_ref(&x)),
            vec![(vec![2, 1, 3], iota(6))]
        );
        let y = tensor(F32, &[1, 3, 1], &iota(3));
        assert_eq!(outputs("squeeze", &[], &[y]), vec![(vec![3], iota(3))]);
    }

    #[test]
    fn transpose_concat_split_stack() {
        // numpy: np.arange(6).reshape(2, 3).T
        let x = tensor(F32, &[2, 3], &iota(6));
        assert_eq!(eval1("transpose", &[], from_ref(&x)), vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
        // np.arange(24).reshape(2, 3, 4).transpose(1, 0, 2)[0, 1] is [12, 13, 14, 15].
        let cube = tensor(F32, &[2, 3, 4], &iota(24));
        assert_eq!(
            eval1("transpose", &[("perm", ints(&[1, 0, 2]))], &[cube])[4..8],
            [12.0, 13.0, 14.0, 15.0]
        );
        let y = tensor(F32, &[2, 1], &[10.0, 11.0]);
        assert_eq!(
            eval1("concat", &[("axis", Attr::Int(-1))], &[x.clone(), y]),
            vec![0.0, 1.0, 2.0, 10.0, 3.0, 4.0, 5.0, 11.0]
        );
        let pieces = outputs("split", &[("axis", Attr::Int(1)), ("sizes", ints(&[1, 2]))], from_ref(&x));
        assert_eq!(pieces, vec![(vec![2, 1], vec![0.0, 3.0]), (vec![2, 2], vec![1.0, 2.0, 4.0, 5.0])]);
        let thirds = outputs("split", &[("num_outputs", Attr::Int(2))], &[tensor(F32, &[5], &iota(5))]);
        assert_eq!(thirds, vec![(vec![3], vec![0.0, 1.0, 2.0]), (vec![2], vec![3.0, 4.0])]);
        let z = tensor(F32, &[2, 3], &[6.0, 7.0, 8.0, 9.0, 10.0, 11.0]);
        // np.stack([x, z], axis=1)
        assert_eq!(
            outputs("stack", &[("axis", Attr::Int(1))], &[x, z]),
            vec![(vec![2, 2, 3], vec![0.0, 1.0, 2.0, 6.0, 7.0, 8.0, 3.0, 4.0, 5.0, 9.0, 10.0, 11.0])]
        );
    }

    #[test]
    fn slice_clamps_and_steps_backwards() {
        // ONNX Slice example 1: rows 1..2, columns 0..3 step 2.
        let x = tensor(F32, &[2, 4], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
        let attrs = |starts: &[i64], ends: &[i64], axes: &[i64], steps: &[i64]| {
            vec![
                ("starts", ints(starts)),
                ("ends", ints(ends)),
                ("axes", ints(axes)),
                ("steps", ints(steps)),
            ]
        };
        assert_eq!(
            eval1("slice", &attrs(&[1, 0], &[2, 3], &[0, 1], &[1, 2]), from_ref(&x)),
            vec![5.0, 7.0]
        );
        // Example 2: ends -1 and 1000 clamp.
        assert_eq!(
            eval1("slice", &attrs(&[0, 1], &[-1, 1000], &[], &[]), from_ref(&x)),
            vec![2.0, 3.0, 4.0]
        );
        // x[:, ::-2] in numpy.
        let backwards = attrs(&[-1], &[i64::MIN], &[1], &[-2]);
        assert_eq!(eval1("slice", &backwards, from_ref(&x)), vec![4.0, 2.0, 8.0, 6.0]);
        assert_eq!(outputs("slice", &attrs(&[5], &[9], &[0], &[]), &[x]), vec![(vec![0, 4], vec![])]);
    }

    #[test]
    fn pad_modes_match_numpy() {
        // ONNX's Pad examples 1 to 4.
        let x = tensor(F32, &[3, 2], &[1.0, 1.2, 2.3, 3.4, 4.5, 5.7]);
        let pad = |pads: &[i64], mode: &str| eval1("pad", &[("pads", ints(pads)), ("mode", text(mode))], from_ref(&x));
        let expected = [0.0, 0.0, 1.0, 1.2, 0.0, 0.0, 2.3, 3.4, 0.0, 0.0, 4.5, 5.7];
        assert_close(&pad(&[0, 2, 0, 0], "constant"), &expected);
        assert_close(
            &pad(&[0, 2, 0, 0], "reflect"),
            &[1.0, 1.2, 1.0, 1.2, 2.3, 3.4, 2.3, 3.4, 4.5, 5.7, 4.5, 5.7],
        );
        assert_close(
            &pad(&[0, 2, 0, 0], "edge"),
            &[1.0, 1.0, 1.0, 1.2, 2.3, 2.3, 2.3, 3.4, 4.5, 4.5, 4.5, 5.7],
        );
        let wrapped = [3.4, 2.3, 3.4, 2.3, 5.7, 4.5, 5.7, 4.5, 1.2, 1.0, 1.2, 1.0];
        let mut expected = wrapped.to_vec();
        expected.extend(wrapped);
        assert_close(&pad(&[2, 1, 1, 1], "wrap"), &expected);
        // np.pad([1, 2, 3], (5, 4), 'reflect'): reflections repeat.
        let row = tensor(I32, &[3], &[1.0, 2.0, 3.0]);
        let reflected = eval1("pad", &[("pads", ints(&[5, 4])), ("mode", text("reflect"))], from_ref(&row));
        assert_eq!(reflected, vec![2.0, 1.0, 2.0, 3.0, 2.0, 1.0, 2.0, 3.0, 2.0, 1.0, 2.0, 3.0]);
        // A constant value, a negative pad that crops, and `axes`.
        let cropped = eval1(
            "pad",
            &[("pads", ints(&[-1, 2])), ("value", Attr::Float(9.0)), ("axes", ints(&[-1]))],
            &[row],
        );
        assert_eq!(cropped, vec![2.0, 3.0, 9.0, 9.0]);
    }

    #[test]
    fn tile_reverse_roll_trilu() {
        // ONNX's Tile example: tile([[1, 2], [3, 4]], [1, 2]).
        let x = tensor(F32, &[2, 2], &[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(
            eval1("tile", &[("repeats", ints(&[1, 2]))], from_ref(&x)),
            vec![1.0, 2.0, 1.0, 2.0, 3.0, 4.0, 3.0, 4.0]
        );
        let y = tensor(F32, &[2, 3], &iota(6));
        assert_eq!(
            eval1("reverse", &[("axes", ints(&[1]))], from_ref(&y)),
            vec![2.0, 1.0, 0.0, 5.0, 4.0, 3.0]
        );
        assert_eq!(eval1("reverse", &[], from_ref(&y)), vec![5.0, 4.0, 3.0, 2.0, 1.0, 0.0]);
        // torch.roll(torch.arange(6).view(2, 3), 1): [[5, 0, 1], [2, 3, 4]].
        assert_eq!(
            eval1("roll", &[("shifts", ints(&[1]))], from_ref(&y)),
            vec![5.0, 0.0, 1.0, 2.0, 3.0, 4.0]
        );
        // torch.roll(..., shifts=(1, -1), dims=(0, 1)): [[4, 5, 3], [1, 2, 0]].
        let rolled = eval1("roll", &[("shifts", ints(&[1, -1])), ("axes", ints(&[0, 1]))], from_ref(&y));
        assert_eq!(rolled, vec![4.0, 5.0, 3.0, 1.0, 2.0, 0.0]);
        let m = tensor(F32, &[3, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]);
        // np.triu(m, 1) and np.tril(m, -1).
        assert_eq!(
            eval1("trilu", &[("k", Attr::Int(1))], from_ref(&m)),
            vec![0.0, 2.0, 3.0, 0.0, 0.0, 6.0, 0.0, 0.0, 0.0]
        );
        let lower = eval1("trilu", &[("upper", Attr::Bool(false)), ("k", Attr::Int(-1))], &[m]);
        assert_eq!(lower, vec![0.0, 0.0, 0.0, 4.0, 0.0, 0.0, 7.0, 8.0, 0.0]);
    }

    #[test]
    fn reverse_sequence_follows_onnx_examples() {
        // ONNX's ReverseSequence time-major example: batch_axis 1, time_axis 0.
        let x = tensor(
            F32,
            &[4, 4],
            &[0., 4., 8., 12., 1., 5., 9., 13., 2., 6., 10., 14., 3., 7., 11., 15.],
        );
        let lens = tensor(I64, &[4], &[4.0, 3.0, 2.0, 1.0]);
        let expected = [3., 6., 9., 12., 2., 5., 8., 13., 1., 4., 10., 14., 0., 7., 11., 15.];
        assert_eq!(eval1("reverse_sequence", &[], &[x.clone(), lens]), expected);
        let too_long = tensor(I64, &[4], &[5.0, 3.0, 2.0, 1.0]);
        assert_eq!(
            eval("reverse_sequence", &[], &[x, too_long]).unwrap_err(),
            "sequence length 5 is out of range for axis 0 of f32[4, 4] (4 steps)"
        );
    }

    #[test]
    fn blocks_move_between_depth_and_space() {
        // ONNX's DepthToSpace examples (DCR and CRD) on np.arange(48).reshape(1, 8, 2, 3).
        let x = tensor(F32, &[1, 8, 2, 3], &iota(48));
        let dcr = eval1("depth_to_space", &[("blocksize", Attr::Int(2))], from_ref(&x));
        assert_eq!(dcr[..12], [0., 12., 1., 13., 2., 14., 24., 36., 25., 37., 26., 38.]);
        assert_eq!(dcr[24..30], [6., 18., 7., 19., 8., 20.]);
        let crd = eval1(
            "depth_to_space",
            &[("blocksize", Attr::Int(2)), ("mode", text("CRD"))],
            from_ref(&x),
        );
        assert_eq!(crd[..12], [0., 6., 1., 7., 2., 8., 12., 18., 13., 19., 14., 20.]);
        for mode in ["DCR", "CRD"] {
            let attrs = [("blocksize", Attr::Int(2)), ("mode", text(mode))];
            let space = outputs("depth_to_space", &attrs, from_ref(&x)).remove(0);
            let back = eval1("space_to_depth", &attrs, &[tensor(F32, &space.0, &space.1)]);
            assert_eq!(back, iota(48), "{mode}");
        }
    }

    fn resize_attrs(mode: &str, coordinates: &str) -> Vec<(&'static str, Attr)> {
        vec![("mode", text(mode)), ("coordinate_transformation_mode", text(coordinates))]
    }

    #[test]
    fn resize_nearest_and_linear_match_the_onnx_examples() {
        let x = tensor(F32, &[1, 1, 2, 2], &[1.0, 2.0, 3.0, 4.0]);
        // test_resize_upsample_scales_nearest: scales [1, 1, 2, 3].
        let mut attrs = resize_attrs("nearest", "half_pixel");
        attrs.push(("scales", floats(&[1.0, 1.0, 2.0, 3.0])));
        let expected = [
            1., 1., 1., 2., 2., 2., 1., 1., 1., 2., 2., 2., 3., 3., 3., 4., 4., 4., 3., 3., 3., 4., 4., 4.,
        ];
        assert_eq!(eval1("resize", &attrs, from_ref(&x)), expected);
        // test_resize_upsample_scales_linear: scales [1, 1, 2, 2].
        let mut attrs = resize_attrs("linear", "half_pixel");
        attrs.push(("scales", floats(&[1.0, 1.0, 2.0, 2.0])));
        let expected = [
            1.0, 1.25, 1.75, 2.0, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3.0, 3.25, 3.75, 4.0,
        ];
        assert_close(&eval1("resize", &attrs, from_ref(&x)), &expected);
        // test_resize_upsample_scales_linear_align_corners.
        let mut attrs = resize_attrs("linear", "align_corners");
        attrs.push(("scales", floats(&[1.0, 1.0, 2.0, 2.0])));
        let third = 1.0 / 3.0;
        let row = |a: f64| [a, a + third, a + 2.0 * third, a + 1.0];
        let expected: Vec<f64> = [1.0, 1.0 + 2.0 * third, 1.0 + 4.0 * third, 3.0].into_iter().flat_map(row).collect();
        assert_close(&eval1("resize", &attrs, &[x]), &expected);
    }

    #[test]
    fn resize_downsampling_cubic_and_crop() {
        let x = tensor(F32, &[1, 1, 4, 4], &(1..=16).map(f64::from).collect::<Vec<_>>());
        let mut attrs = resize_attrs("nearest", "half_pixel");
        attrs.push(("sizes", ints(&[1, 1, 1, 3])));
        // Height 4 -> 1 reads row 1 (x = 1.5 rounds down); width 4 -> 3 reads
        // x = (y + 0.5) * 4/3 - 0.5 = 0.17, 1.5, 2.83, so columns 0, 1, 3.
        let got = outputs("resize", &attrs, from_ref(&x));
        assert_eq!(got, vec![(vec![1, 1, 1, 3], vec![5.0, 6.0, 8.0])]);
        // test_resize_downsample_scales_cubic (scale 0.8), first row.
        let mut attrs = resize_attrs("cubic", "half_pixel");
        attrs.push(("scales", floats(&[1.0, 1.0, 0.8, 0.8])));
        let got = eval1("resize", &attrs, from_ref(&x));
        assert_close(&got[..3], &[1.47119141, 2.78125, 4.08251953]);
        // test_resize_tf_crop_and_resize: roi [0, 0, 0.4, 0.6, 1, 1, 0.6, 0.8], sizes 3x3.
        let mut attrs = resize_attrs("linear", "tf_crop_and_resize");
        attrs.push(("sizes", ints(&[1, 1, 3, 3])));
        attrs.push(("roi", floats(&[0.0, 0.0, 0.4, 0.6, 1.0, 1.0, 0.6, 0.8])));
        let expected = [7.6, 7.9, 8.2, 8.8, 9.1, 9.4, 10.0, 10.3, 10.6];
        assert_close(&eval1("resize", &attrs, from_ref(&x)), &expected);
        let mut attrs = resize_attrs("linear", "tf_crop_and_resize");
        attrs.push(("sizes", ints(&[3, 3])));
        attrs.push(("axes", ints(&[2, 3])));
        attrs.push(("roi", floats(&[0.4, 0.6, 1.2, 1.7])));
        attrs.push(("extrapolation_value", Attr::Float(10.0)));
        let expected = [7.6, 10.0, 10.0, 12.4, 10.0, 10.0, 10.0, 10.0, 10.0];
        assert_close(&eval1("resize", &attrs, &[x]), &expected);
    }

    #[test]
    fn resize_antialias_and_integers() {
        // test_resize_downsample_scales_linear_antialias on np.arange(1, 17):
        // scale 0.6 -> 2x2 of [[2.875, 4.5], [9.375, 11.0]].
        let x = tensor(F32, &[1, 1, 4, 4], &(1..=16).map(f64::from).collect::<Vec<_>>());
        let mut attrs = resize_attrs("linear", "half_pixel");
        attrs.push(("scales", floats(&[1.0, 1.0, 0.6, 0.6])));
        attrs.push(("antialias", Attr::Bool(true)));
        assert_close(&eval1("resize", &attrs, &[x]), &[2.875, 4.5, 9.375, 11.0]);
        // Cubic overshoot saturates in u8 instead of wrapping.
        let edge = tensor(U8, &[4], &[0.0, 0.0, 255.0, 255.0]);
        let mut attrs = resize_attrs("cubic", "half_pixel");
        attrs.push(("scales", floats(&[2.0])));
        let got = eval1("resize", &attrs, &[edge]);
        assert!(got.iter().all(|v| (0.0..=255.0).contains(v)), "{got:?}");
        assert_eq!(got[7], 255.0);
    }

    #[test]
    fn shape_size_range_eye() {
        let x = tensor(F32, &[2, 3, 4], &[0.0; 24]);
        assert_eq!(eval1("shape", &[], from_ref(&x)), vec![2.0, 3.0, 4.0]);
        assert_eq!(
            eval1("shape", &[("start", Attr::Int(-2)), ("end", Attr::Int(-1))], from_ref(&x)),
            vec![3.0]
        );
        assert_eq!(eval1("size", &[], &[x]), vec![24.0]);
        // ONNX's Range examples.
        let span = |start: f64, limit: f64, delta: f64, dtype: &str| {
            let attrs = [
                ("start", Attr::Float(start)),
                ("limit", Attr::Float(limit)),
                ("delta", Attr::Float(delta)),
                ("dtype", text(dtype)),
            ];
            eval1("range", &attrs, &[])
        };
        assert_eq!(span(3.0, 9.0, 3.0, "i32"), vec![3.0, 6.0]);
        assert_eq!(span(10.0, 4.0, -2.0, "i64"), vec![10.0, 8.0, 6.0]);
        assert_close(&span(1.0, 2.0, 0.25, "f32"), &[1.0, 1.25, 1.5, 1.75]);
        // np.eye(2, 3, k=1) and k=-1, typed like the input.
        let like = tensor(I32, &[2, 3], &[0.0; 6]);
        assert_eq!(
            eval1("eye_like", &[("k", Attr::Int(1))], from_ref(&like)),
            vec![0., 1., 0., 0., 0., 1.]
        );
        let lower = outputs("eye_like", &[("k", Attr::Int(-1)), ("dtype", text("bool"))], &[like]);
        assert_eq!(lower, vec![(vec![2, 3], vec![0., 0., 0., 1., 0., 0.])]);
        let bools = eval("eye_like", &[("dtype", text("bool"))], &[tensor(Bool, &[1, 1], &[0.0])]).unwrap();
        assert_eq!(bools[0].dtype(), Bool);
    }

    #[test]
    fn expand_broadcasts_both_ways() {
        // ONNX's Expand example: [3, 1] against [2, 1, 6] gives [2, 3, 6].
        let x = tensor(F32, &[3, 1], &[1.0, 2.0, 3.0]);
        let got = outputs("expand", &[("shape", ints(&[2, 1, 6]))], &[x]);
        assert_eq!(got[0].0, vec![2, 3, 6]);
        assert_eq!(got[0].1[..7], [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 2.0]);
        assert_eq!(got[0].1[18..20], [1.0, 1.0]);
    }
}
