//! `resize` through the interpreter's own resampling
//! (`opfuse_ops::eval::layout::Resampling`, ONNX's reference: one axis at
//! a time, each output coordinate a weighted sum of a few edge-clamped
//! input entries, in f64), planned once at lowering and applied to the
//! stage's f32 buffer on every run, so the two cannot drift apart;
//! lowering checks the plan's dims against the verified output dims.

use opfuse_ir::{Attrs, DType, TensorType};
use opfuse_ops::eval::layout::Resampling;

#[derive(Clone, Debug, PartialEq)]
pub struct Resize {
    resampling: Resampling,
    input_len: Option<u64>,
    dtype: DType,
}

impl Resize {
    /// `None` where the shape rule rejects the attributes or its plan
    /// differs from the verified `output` dims.
    pub fn lower(attrs: &Attrs, x: &[u64], output: &[u64], dtype: DType) -> Option<Resize> {
        let resampling = Resampling::plan(attrs, &TensorType::new(dtype, x.to_vec())).ok()?;
        (resampling.dims() == output).then_some(Resize {
            resampling,
            input_len: x.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d)),
            dtype,
        })
    }

    /// Writes nothing where `x` is not as long as the planned input.
    pub fn run(&self, x: &[f32], output: &mut [f32]) {
        if Some(x.len() as u64) != self.input_len {
            return;
        }
        let data: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
        let (_, values) = self.resampling.apply(&data);
        for (target, value) in output.iter_mut().zip(values) {
            *target = self.dtype.round(value) as f32;
        }
    }
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
