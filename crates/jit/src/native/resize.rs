//! `resize` as the interpreter computes it (ONNX's reference): one axis at a
//! time, each output coordinate a weighted sum of a few edge-clamped input
//! entries, in f64, then saturated into an integer dtype's range and
//! rounded to the output dtype. Lowering repeats the shape rule's plan
//! (scales or sizes, aspect policy, roi) and computes every axis's taps
//! once; the stage only sums them.

use opfuse_ir::{Attr, Attrs, DType};

use super::{split_at_axis, to_usize};

/// The (input coordinate, weight) pairs an output coordinate sums, or
/// `None` where `tf_crop_and_resize` extrapolates.
type Taps = Option<Vec<(usize, f64)>>;

/// One resampled axis.
#[derive(Clone, Debug, PartialEq)]
pub struct ResizeStage {
    pub axis: usize,
    /// Taps per output coordinate.
    pub taps: Vec<Taps>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Resize {
    pub dims: Vec<u64>,
    pub stages: Vec<ResizeStage>,
    pub extrapolation_value: f64,
    pub dtype: DType,
}

/// The attributes that shape the weights.
struct Settings<'a> {
    mode: &'a str,
    coordinates: &'a str,
    nearest_mode: &'a str,
    cubic_coeff_a: f64,
    exclude_outside: bool,
    antialias: bool,
}

/// An axis the plan resizes: its scale factor and region of interest.
struct PlanAxis {
    axis: usize,
    scale: f64,
    roi: (f64, f64),
}

impl Resize {
    /// `None` where the plan differs from the verified `output` dims or an
    /// attribute is outside what the shape rule accepts.
    pub fn lower(attrs: &Attrs, x: &[u64], output: &[u64], dtype: DType) -> Option<Resize> {
        let text = |key: &str| attrs.get(key).and_then(Attr::as_str);
        let float = |key: &str| attrs.get(key).and_then(Attr::as_float);
        let flag = |key: &str| attrs.get(key).and_then(Attr::as_bool);
        let settings = Settings {
            mode: text("mode").filter(|m| ["nearest", "linear", "cubic"].contains(m))?,
            coordinates: text("coordinate_transformation_mode")?,
            nearest_mode: text("nearest_mode")?,
            cubic_coeff_a: float("cubic_coeff_a")?,
            exclude_outside: flag("exclude_outside")?,
            antialias: flag("antialias")?,
        };
        let (plan, dims) = plan(attrs, x, settings.coordinates == "tf_crop_and_resize")?;
        if dims != output {
            return None;
        }
        let mut current = x.to_vec();
        let mut stages = Vec::new();
        for axis in &plan {
            let (input, extent) = (to_usize(*current.get(axis.axis)?)?, to_usize(*dims.get(axis.axis)?)?);
            let unchanged = (axis.scale - 1.0).abs() <= 1e-9 * axis.scale.abs().max(1.0) && input == extent && axis.roi == (0.0, 1.0);
            if unchanged {
                continue;
            }
            let taps = (0..extent).map(|y| settings.taps(axis, y, input, extent)).collect();
            stages.push(ResizeStage { axis: axis.axis, taps });
            *current.get_mut(axis.axis)? = extent as u64;
        }
        Some(Resize {
            dims: x.to_vec(),
            stages,
            extrapolation_value: float("extrapolation_value")?,
            dtype,
        })
    }

    pub fn run(&self, x: &[f32], output: &mut [f32]) {
        let mut dims = self.dims.clone();
        let mut data: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
        for stage in &self.stages {
            let Some((outer, len, inner)) = split_at_axis(&dims, stage.axis) else {
                return;
            };
            let mut out = Vec::with_capacity(outer * stage.taps.len() * inner);
            for o in 0..outer {
                for tap in &stage.taps {
                    for i in 0..inner {
                        out.push(match tap {
                            Some(tap) => tap
                                .iter()
                                .map(|&(s, w)| w * data.get((o * len + s) * inner + i).copied().unwrap_or(0.0))
                                .sum(),
                            None => self.extrapolation_value,
                        });
                    }
                }
            }
            data = out;
            if let Some(extent) = dims.get_mut(stage.axis) {
                *extent = stage.taps.len() as u64;
            }
        }
        for (target, value) in output.iter_mut().zip(data) {
            *target = self.dtype.round(saturate(self.dtype, value)) as f32;
        }
    }
}

/// The shape rule's plan: the resized axes with their scales and roi, and
/// the output dims.
fn plan(attrs: &Attrs, x: &[u64], crop: bool) -> Option<(Vec<PlanAxis>, Vec<u64>)> {
    let rank = x.len();
    let axes: Vec<usize> = match attrs.get("axes").and_then(Attr::as_ints)? {
        a if a.is_empty() => (0..rank).collect(),
        a => a.into_iter().map(|axis| super::axis_of(axis, rank)).collect::<Option<_>>()?,
    };
    let scales = attrs.get("scales").and_then(Attr::as_floats)?;
    let sizes = attrs.get("sizes").and_then(Attr::as_ints)?;
    let policy = attrs.get("keep_aspect_ratio_policy").and_then(Attr::as_str)?;
    let count = match (scales.is_empty(), sizes.is_empty()) {
        (false, true) => scales.len(),
        (true, false) => sizes.len(),
        _ => return None,
    };
    if count != axes.len() || axes.iter().any(|&a| x.get(a) == Some(&0)) {
        return None;
    }
    let mut dims = x.to_vec();
    let mut plan: Vec<PlanAxis> = axes
        .iter()
        .map(|&axis| PlanAxis {
            axis,
            scale: 1.0,
            roi: (0.0, 1.0),
        })
        .collect();
    let extent_from = |value: f64| (value.is_finite() && value < (1u64 << 53) as f64).then_some(value as u64);
    if sizes.is_empty() {
        for (axis, &scale) in plan.iter_mut().zip(&scales) {
            if !(scale.is_finite() && scale > 0.0) {
                return None;
            }
            axis.scale = scale;
            let extent = dims.get_mut(axis.axis)?;
            *extent = extent_from(*extent as f64 * scale)?;
        }
    } else {
        let sizes = sizes.iter().map(|&s| u64::try_from(s).ok()).collect::<Option<Vec<u64>>>()?;
        let extent = |axis: &PlanAxis| x.get(axis.axis).copied();
        let ratios = plan
            .iter()
            .zip(&sizes)
            .map(|(axis, &size)| Some(size as f64 / extent(axis)? as f64));
        let ratios = ratios.collect::<Option<Vec<f64>>>()?;
        let shared = match policy {
            "not_larger" => Some(ratios.iter().copied().fold(f64::INFINITY, f64::min)),
            "not_smaller" => Some(ratios.iter().copied().fold(0.0, f64::max)),
            _ => None,
        };
        for (axis, &size) in plan.iter_mut().zip(&sizes) {
            let input = extent(axis)?;
            let (scale, output) = match shared {
                // ONNX rounds half up here.
                Some(scale) => (scale, extent_from((scale * input as f64 + 0.5).floor())?),
                None => (size as f64 / input as f64, size),
            };
            axis.scale = scale;
            *dims.get_mut(axis.axis)? = output;
        }
    }
    let roi = attrs.get("roi").and_then(Attr::as_floats)?;
    if crop && !roi.is_empty() {
        if roi.len() != 2 * axes.len() {
            return None;
        }
        for (i, axis) in plan.iter_mut().enumerate() {
            axis.roi = (*roi.get(i)?, *roi.get(i + axes.len())?);
        }
    }
    Some((plan, dims))
}

impl Settings<'_> {
    fn taps(&self, axis: &PlanAxis, y: usize, input: usize, output: usize) -> Taps {
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
                .map(|(k, w)| ((first + k as i64).clamp(0, last.max(0)) as usize, w))
                .collect(),
        )
    }

    fn source_coordinate(&self, axis: &PlanAxis, y: f64, input: usize, output: usize) -> Option<f64> {
        let (scale, n) = (axis.scale, input as f64);
        // The reference measures the output in floating point (scale * n).
        let width = scale * n;
        let x = match self.coordinates {
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
        match (self.mode, self.antialias) {
            ("nearest", _) => {
                let right = match self.nearest_mode {
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
                normalized(
                    (start..2 - start)
                        .map(|i| (1.0 - ((i as f64 - ratio) * scale).abs()).clamp(0.0, 1.0))
                        .collect(),
                )
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
                normalized((start..2 - start).map(|i| cubic_kernel(scale * (i as f64 - ratio), a)).collect())
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

#[cfg(test)]
mod tests {
    use opfuse_ir::{Attr, Attrs, DType};

    use super::Resize;

    fn attrs(mode: &str, coordinates: &str, scales: &[f64]) -> Attrs {
        let text = |s: &str| Attr::Str(s.to_string());
        let list = |v: Vec<Attr>| Attr::List(v);
        [
            ("mode", text(mode)),
            ("coordinate_transformation_mode", text(coordinates)),
            ("nearest_mode", text("round_prefer_floor")),
            ("cubic_coeff_a", Attr::Float(-0.75)),
            ("exclude_outside", Attr::Bool(false)),
            ("extrapolation_value", Attr::Float(0.0)),
            ("antialias", Attr::Bool(false)),
            ("keep_aspect_ratio_policy", text("stretch")),
            ("axes", list(vec![])),
            ("scales", list(scales.iter().map(|&s| Attr::Float(s)).collect())),
            ("sizes", list(vec![])),
            ("roi", list(vec![])),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    #[test]
    fn nearest_and_linear_upsampling() {
        // [1, 2] doubled: nearest (half_pixel, round_prefer_floor) repeats each entry.
        let x = [1.0, 2.0];
        let mut out = [f32::NAN; 4];
        let nearest = Resize::lower(&attrs("nearest", "half_pixel", &[2.0]), &[2], &[4], DType::F32).unwrap();
        nearest.run(&x, &mut out);
        assert_eq!(out, [1.0, 1.0, 2.0, 2.0]);
        // Linear, half_pixel: sources -0.25, 0.25, 0.75, 1.25 (clamped at the edges).
        let linear = Resize::lower(&attrs("linear", "half_pixel", &[2.0]), &[2], &[4], DType::F32).unwrap();
        linear.run(&x, &mut out);
        assert_eq!(out, [1.0, 1.25, 1.75, 2.0]);
        // align_corners over [1, 3]: 1, 5/3, 7/3, 3.
        let corners = Resize::lower(&attrs("linear", "align_corners", &[1.0, 2.0]), &[1, 2], &[1, 4], DType::F32).unwrap();
        corners.run(&[1.0, 3.0], &mut out);
        assert_eq!(out, [1.0, (5.0f64 / 3.0) as f32, (7.0f64 / 3.0) as f32, 3.0]);
        // A plan that disagrees with the verified output stays interpreted.
        assert_eq!(Resize::lower(&attrs("nearest", "half_pixel", &[2.0]), &[2], &[5], DType::F32), None);
    }
}
