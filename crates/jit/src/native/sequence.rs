//! `reverse_sequence`: in batch entry `b`, time step `t < len[b]` reads step
//! `len[b] - 1 - t`; later steps stay. Lengths arrive as f32 whole numbers.
//! The interpreter fails on a length outside `0..=steps`; a native stage
//! cannot, so such an entry is copied unreversed.

use opfuse_ir::{Attr, Attrs};

use super::{axis_of, to_usize};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReverseSequence {
    pub dims: Vec<usize>,
    pub batch_axis: usize,
    pub time_axis: usize,
}

impl ReverseSequence {
    pub fn lower(attrs: &Attrs, x: &[u64]) -> Option<ReverseSequence> {
        let axis = |key: &str| axis_of(attrs.get(key).and_then(Attr::as_int)?, x.len());
        let (batch_axis, time_axis) = (axis("batch_axis")?, axis("time_axis")?);
        let dims = x.iter().map(|&d| to_usize(d)).collect::<Option<_>>()?;
        (batch_axis != time_axis).then_some(ReverseSequence {
            dims,
            batch_axis,
            time_axis,
        })
    }

    pub fn run(&self, x: &[f32], lens: &[f32], output: &mut [f32]) {
        let stride = |axis: usize| self.dims.get(axis + 1..).map_or(1, |d| d.iter().product::<usize>());
        let extent = |axis: usize| self.dims.get(axis).copied().unwrap_or(1).max(1);
        let (batch_stride, time_stride) = (stride(self.batch_axis), stride(self.time_axis));
        let steps = self.dims.get(self.time_axis).copied().unwrap_or(0);
        for (offset, target) in output.iter_mut().enumerate() {
            let (b, t) = (
                (offset / batch_stride.max(1)) % extent(self.batch_axis),
                (offset / time_stride.max(1)) % extent(self.time_axis),
            );
            let len = lens
                .get(b)
                .map(|&l| l as i64)
                .and_then(|l| usize::try_from(l).ok())
                .filter(|&l| l <= steps);
            let source = match len {
                Some(len) if t < len => offset - t * time_stride + (len - 1 - t) * time_stride,
                _ => offset,
            };
            *target = x.get(source).copied().unwrap_or(0.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ReverseSequence;

    #[test]
    fn reverses_each_prefix() {
        // ONNX's example: x [4 steps, 4 entries] (time axis 0), lens [4, 3, 2, 1].
        let op = ReverseSequence {
            dims: vec![4, 4],
            batch_axis: 1,
            time_axis: 0,
        };
        let x: Vec<f32> = (0..16).map(|v| v as f32).collect();
        let mut out = [f32::NAN; 16];
        op.run(&x, &[4.0, 3.0, 2.0, 1.0], &mut out);
        assert_eq!(
            out,
            [12.0, 9.0, 6.0, 3.0, 8.0, 5.0, 2.0, 7.0, 4.0, 1.0, 10.0, 11.0, 0.0, 13.0, 14.0, 15.0]
        );
        // A length past the steps (the interpreter's error) leaves its entry as it is.
        op.run(&x, &[5.0, -1.0, 0.0, 1.0], &mut out);
        assert_eq!(out, x.as_slice());
    }
}
