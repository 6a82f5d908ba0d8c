//! `cumsum` along one axis, `exclusive` (each entry leaves itself out) and
//! `reverse` (summing from the end). Sums run in f64 as the interpreter's
//! do, so long lanes round once per entry rather than once per addition;
//! a lane of `inner` running totals at a time keeps the loop vectorizable.

use opfuse_ir::{Attr, Attrs};

use super::{axis_of, split_at_axis};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cumsum {
    pub outer: usize,
    pub len: usize,
    pub inner: usize,
    pub exclusive: bool,
    pub reverse: bool,
}

impl Cumsum {
    pub fn lower(attrs: &Attrs, input: &[u64]) -> Option<Cumsum> {
        let axis = axis_of(attrs.get("axis").and_then(Attr::as_int)?, input.len())?;
        let (outer, len, inner) = split_at_axis(input, axis)?;
        Some(Cumsum {
            outer,
            len,
            inner,
            exclusive: attrs.get("exclusive").and_then(Attr::as_bool)?,
            reverse: attrs.get("reverse").and_then(Attr::as_bool)?,
        })
    }

    pub fn run(&self, input: &[f32], output: &mut [f32]) {
        let inner = self.inner.max(1);
        let block = (self.len * self.inner).max(1);
        let mut totals = vec![0.0f64; inner];
        for (x, out) in input.chunks(block).zip(output.chunks_mut(block)).take(self.outer) {
            totals.fill(0.0);
            let rows = x.chunks(inner).zip(out.chunks_mut(inner));
            let mut step = |(x_row, out_row): (&[f32], &mut [f32])| {
                for ((total, &value), target) in totals.iter_mut().zip(x_row).zip(out_row) {
                    let before = *total;
                    *total += f64::from(value);
                    *target = if self.exclusive { before } else { *total } as f32;
                }
            };
            match self.reverse {
                true => rows.rev().for_each(&mut step),
                false => rows.for_each(&mut step),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Cumsum;

    #[test]
    fn follows_onnx_examples() {
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        let run = |exclusive: bool, reverse: bool| {
            let mut out = [f32::NAN; 5];
            Cumsum {
                outer: 1,
                len: 5,
                inner: 1,
                exclusive,
                reverse,
            }
            .run(&x, &mut out);
            out
        };
        assert_eq!(run(false, false), [1.0, 3.0, 6.0, 10.0, 15.0]);
        assert_eq!(run(true, false), [0.0, 1.0, 3.0, 6.0, 10.0]);
        assert_eq!(run(false, true), [15.0, 14.0, 12.0, 9.0, 5.0]);
        assert_eq!(run(true, true), [14.0, 12.0, 9.0, 5.0, 0.0]);
        // [2, 3] along axis 0.
        let m = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let mut out = [0.0; 6];
        Cumsum {
            outer: 1,
            len: 2,
            inner: 3,
            exclusive: false,
            reverse: false,
        }
        .run(&m, &mut out);
        assert_eq!(out, [1.0, 2.0, 3.0, 5.0, 7.0, 9.0]);
    }
}
