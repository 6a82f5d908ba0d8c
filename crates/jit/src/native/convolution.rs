//! `conv` (where the compiled path does not take it: groups, 1-d, 3-d) and
//! `conv_transpose` through the interpreter's own loops
//! (`opfuse_ops::eval::conv::conv_data`, each output a sum over its window,
//! and `conv_transpose_data`, each input element times each kernel tap
//! added into the output, in f64) on the stage's f32 buffers, so the two
//! sum in the same order and cannot drift apart; lowering fixes the
//! geometry from the shape rule and checks it against
//! the verified output dims.

use opfuse_ir::{Attr, Attrs, DType, TensorType};
use opfuse_ops::eval::conv::{conv_data, conv_transpose_data};
use opfuse_ops::rules::conv::{transpose_geometry, window_geometry, Geometry};
use opfuse_ops::Args;

use super::to_usize;

/// `x [N, C, s...]` through `w [M, C / groups, k...]` (a convolution) or
/// scattered through `w [C, M / groups, k...]` (transposed), plus an
/// optional `bias [M]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Convolution {
    transposed: bool,
    geometry: Geometry,
    groups: usize,
    x: Vec<u64>,
    w: Vec<u64>,
    /// Whether input 2 (the bias) is present.
    bias: bool,
    out_channels: usize,
    /// How many elements the output holds.
    output_len: usize,
    dtype: DType,
}

impl Convolution {
    /// `inputs` are the node's input dims. `None` where the shapes do not
    /// fit together as the interpreter's loops read them, so `run` never
    /// hands it a buffer it would index past.
    pub fn lower(transposed: bool, attrs: &Attrs, inputs: &[Vec<u64>], output: &[u64], dtype: DType) -> Option<Convolution> {
        let (x, w) = (inputs.first()?, inputs.get(1)?);
        let groups = to_usize(u64::try_from(attrs.get("groups").and_then(Attr::as_int)?.max(1)).ok()?)?;
        let channels = to_usize(*x.get(1)?)?;
        let groups_u64 = u64::try_from(groups).ok()?;
        let weights_fit = match transposed {
            true => w.first() == x.get(1),
            false => w.get(1)?.checked_mul(groups_u64) == x.get(1).copied() && w.first()? % groups_u64 == 0,
        };
        let fits = x.len() >= 3 && w.len() == x.len() && weights_fit && channels % groups == 0;
        if !fits {
            return None;
        }
        let types = [TensorType::new(dtype, x.clone()), TensorType::new(dtype, w.clone())];
        let args = Args { attrs, inputs: &types };
        let geometry = match transposed {
            true => transpose_geometry(&args, x.get(2..)?, w.get(2..)?.to_vec()).ok()?,
            false => window_geometry(&args, x.get(2..)?, w.get(2..)?.to_vec(), false).ok()?,
        };
        let out_channels = match transposed {
            true => w.get(1)?.checked_mul(groups_u64)?,
            false => *w.first()?,
        };
        let expected: Vec<u64> = [*x.first()?, out_channels]
            .into_iter()
            .chain(geometry.output.iter().copied())
            .collect();
        let bias = match inputs.get(2) {
            Some(b) => numel(b) == to_usize(out_channels),
            None => false,
        };
        let output_len = numel(output)?;
        let complete = inputs.len() == 2 || (inputs.len() == 3 && bias);
        (expected == output && complete).then_some(Convolution {
            transposed,
            geometry,
            groups,
            x: x.clone(),
            w: w.clone(),
            bias,
            out_channels: to_usize(out_channels)?,
            output_len,
            dtype,
        })
    }

    /// Writes nothing where a buffer's length disagrees with its dims.
    pub fn run(&self, inputs: &[&[f32]], output: &mut [f32]) {
        let widen = |values: &[f32]| values.iter().map(|&v| f64::from(v)).collect::<Vec<f64>>();
        let (Some(&x), Some(&w)) = (inputs.first(), inputs.get(1)) else {
            return;
        };
        let bias = match (self.bias, inputs.get(2)) {
            (true, Some(b)) if b.len() == self.out_channels => Some(widen(b)),
            (false, _) => None,
            _ => return,
        };
        let sized = Some(x.len()) == numel(&self.x) && Some(w.len()) == numel(&self.w) && output.len() == self.output_len;
        if !sized || self.output_len == 0 {
            return;
        }
        let data = if self.transposed { conv_transpose_data } else { conv_data };
        let values = data(
            &self.geometry,
            self.groups,
            [&self.x, &self.w],
            [&widen(x), &widen(w)],
            bias.as_deref(),
        );
        for (target, value) in output.iter_mut().zip(values) {
            *target = self.dtype.round(value) as f32;
        }
    }
}

/// The number of elements `dims` holds, or `None` past `usize`.
fn numel(dims: &[u64]) -> Option<usize> {
    dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(to_usize(d)?))
}

#[cfg(test)]
mod tests {
    use opfuse_ir::{Attr, Attrs, DType};

    use super::Convolution;

    fn attrs(strides: &[i64], groups: i64) -> Attrs {
        let ints = |v: &[i64]| Attr::List(v.iter().map(|&i| Attr::Int(i)).collect());
        [
            ("strides", ints(strides)),
            ("pads", ints(&[])),
            ("dilations", ints(&[])),
            ("groups", Attr::Int(groups)),
            ("auto_pad", Attr::Str("NOTSET".to_string())),
            ("output_padding", ints(&[])),
            ("output_shape", ints(&[])),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    #[test]
    fn scatters_each_input_through_the_kernel() {
        // x [1, 1, 3] = [1, 2, 3], w [1, 1, 2] = [1, 10], stride 2: each
        // input writes x and 10x into its own pair of outputs.
        let inputs = [vec![1, 1, 3], vec![1, 1, 2]];
        let op = Convolution::lower(true, &attrs(&[2], 1), &inputs, &[1, 1, 6], DType::F32).unwrap();
        let mut out = [f32::NAN; 6];
        op.run(&[&[1.0, 2.0, 3.0], &[1.0, 10.0]], &mut out);
        assert_eq!(out, [1.0, 10.0, 2.0, 20.0, 3.0, 30.0]);
        // Stride 1 overlaps the pairs, and a bias starts every output at 0.5.
        let inputs = [vec![1, 1, 3], vec![1, 1, 2], vec![1]];
        let op = Convolution::lower(true, &attrs(&[1], 1), &inputs, &[1, 1, 4], DType::F32).unwrap();
        let mut out = [f32::NAN; 4];
        op.run(&[&[1.0, 2.0, 3.0], &[1.0, 10.0], &[0.5]], &mut out);
        assert_eq!(out, [1.5, 12.5, 23.5, 30.5]);
        // Two groups of one channel each: channel c feeds output c only.
        let inputs = [vec![1, 2, 1], vec![2, 1, 1]];
        let op = Convolution::lower(true, &attrs(&[], 2), &inputs, &[1, 2, 1], DType::F32).unwrap();
        let mut out = [f32::NAN; 2];
        op.run(&[&[3.0, 4.0], &[2.0, -1.0]], &mut out);
        assert_eq!(out, [6.0, -4.0]);
        // Verified dims that disagree with the geometry stay interpreted.
        assert_eq!(
            Convolution::lower(true, &attrs(&[2], 1), &[vec![1, 1, 3], vec![1, 1, 2]], &[1, 1, 5], DType::F32),
            None
        );
    }
}
