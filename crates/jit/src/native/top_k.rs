//! `top_k`, `sort` and `argsort`: each lane along the axis in NumPy's sort
//! order (numbers ascending, then NaN), descending when asked; the sort is
//! stable either way, so equal values keep the lower position first, as the
//! interpreter's do. Positions are written as f32 whole numbers.

use std::cmp::Ordering;

use opfuse_ir::{Attr, Attrs};

use super::{axis_of, split_at_axis};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopK {
    pub outer: usize,
    pub len: usize,
    pub inner: usize,
    /// How many of each sorted lane to keep (the whole lane for a sort).
    pub keep: usize,
    pub descending: bool,
}

impl TopK {
    /// `top_k` (largest first unless `largest` is false; the result is
    /// sorted whatever `sorted` says, which ONNX allows), or `sort` and
    /// `argsort` by `descending`.
    pub fn lower(op: &str, attrs: &Attrs, input: &[u64]) -> Option<TopK> {
        let axis = axis_of(attrs.get("axis").and_then(Attr::as_int)?, input.len())?;
        let (outer, len, inner) = split_at_axis(input, axis)?;
        let (keep, descending) = match op {
            "top_k" => (
                usize::try_from(attrs.get("k").and_then(Attr::as_int)?).ok().filter(|&k| k <= len)?,
                attrs.get("largest").and_then(Attr::as_bool)?,
            ),
            _ => (len, attrs.get("descending").and_then(Attr::as_bool)?),
        };
        Some(TopK {
            outer,
            len,
            inner,
            keep,
            descending,
        })
    }

    /// Writes the kept values to `values` and their positions to
    /// `positions`, either of which may be absent (argsort has no values).
    pub fn run(&self, input: &[f32], mut values: Option<&mut [f32]>, mut positions: Option<&mut [f32]>) {
        let mut lane = vec![0.0f32; self.len];
        let mut order: Vec<usize> = Vec::with_capacity(self.len);
        for o in 0..self.outer {
            for i in 0..self.inner {
                for (j, slot) in lane.iter_mut().enumerate() {
                    *slot = input.get((o * self.len + j) * self.inner + i).copied().unwrap_or(0.0);
                }
                order.clear();
                order.extend(0..self.len);
                order.sort_by(|&a, &b| {
                    let ordering = numpy_order(lane.get(a), lane.get(b));
                    if self.descending {
                        ordering.reverse()
                    } else {
                        ordering
                    }
                });
                for (rank, &p) in order.iter().take(self.keep).enumerate() {
                    let at = (o * self.keep + rank) * self.inner + i;
                    if let Some(target) = values.as_deref_mut().and_then(|v| v.get_mut(at)) {
                        *target = lane.get(p).copied().unwrap_or(0.0);
                    }
                    if let Some(target) = positions.as_deref_mut().and_then(|v| v.get_mut(at)) {
                        *target = p as f32;
                    }
                }
            }
        }
    }
}

/// NumPy's sort order: numbers ascending, then NaN; equal values compare equal.
fn numpy_order(a: Option<&f32>, b: Option<&f32>) -> Ordering {
    let (a, b) = (a.copied().unwrap_or(0.0), b.copied().unwrap_or(0.0));
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

#[cfg(test)]
mod tests {
    use super::TopK;

    #[test]
    fn keeps_ties_in_index_order_and_nan_above_all() {
        // ONNX's TopK example: k = 3 of arange(12).reshape(3, 4).
        let x: Vec<f32> = (0..12).map(|v| v as f32).collect();
        let op = TopK {
            outer: 3,
            len: 4,
            inner: 1,
            keep: 3,
            descending: true,
        };
        let (mut values, mut positions) = ([0.0; 9], [0.0; 9]);
        op.run(&x, Some(&mut values), Some(&mut positions));
        assert_eq!(values, [3.0, 2.0, 1.0, 7.0, 6.0, 5.0, 11.0, 10.0, 9.0]);
        assert_eq!(positions, [3.0, 2.0, 1.0, 3.0, 2.0, 1.0, 3.0, 2.0, 1.0]);
        let ties = [1.0, 3.0, 1.0, 3.0, f32::NAN];
        let largest = TopK {
            outer: 1,
            len: 5,
            inner: 1,
            keep: 3,
            descending: true,
        };
        let (mut values, mut positions) = ([0.0; 3], [0.0; 3]);
        largest.run(&ties, Some(&mut values), Some(&mut positions));
        assert!(values[0].is_nan());
        assert_eq!((values[1..].to_vec(), positions), (vec![3.0, 3.0], [4.0, 1.0, 3.0]));
        let smallest = TopK {
            keep: 2,
            descending: false,
            ..largest
        };
        let mut positions = [0.0; 2];
        smallest.run(&ties, None, Some(&mut positions));
        assert_eq!(positions, [0.0, 2.0]);
        // argsort along axis 0 of [[2, 1], [1, 1], [0, 3]].
        let column = TopK {
            outer: 1,
            len: 3,
            inner: 2,
            keep: 3,
            descending: false,
        };
        let mut positions = [0.0; 6];
        column.run(&[2.0, 1.0, 1.0, 1.0, 0.0, 3.0], None, Some(&mut positions));
        assert_eq!(positions, [2.0, 0.0, 1.0, 1.0, 0.0, 2.0]);
    }
}
