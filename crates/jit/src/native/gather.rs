//! `gather`, `index_select` and `embedding` (whole slices picked along one
//! axis) and `gather_elements` (one element per index). Indices arrive as
//! f32 whole numbers and count from the end when negative. The interpreter
//! fails on an index outside its axis; a native stage cannot fail, so such
//! an index reads zeros instead (its slice, or its element), and never
//! reads out of bounds.

use opfuse_ir::{Attr, Attrs};

use super::{axis_of, split_at_axis, to_usize};

/// Slices of `inner` elements picked along an axis of `len` entries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gather {
    pub outer: usize,
    pub len: usize,
    pub inner: usize,
    /// The number of indices.
    pub picks: usize,
}

impl Gather {
    /// `gather` and `index_select` along `axis`; `embedding` is the same
    /// along axis 0 (`axis` is `None`: the op has no such attribute).
    pub fn lower(attrs: &Attrs, data: &[u64], indices: &[u64], embedding: bool) -> Option<Gather> {
        let axis = match embedding {
            true => 0,
            false => axis_of(attrs.get("axis").and_then(Attr::as_int)?, data.len())?,
        };
        let (outer, len, inner) = split_at_axis(data, axis)?;
        let picks = indices.iter().try_fold(1usize, |acc, &d| acc.checked_mul(to_usize(d)?))?;
        Some(Gather { outer, len, inner, picks })
    }

    pub fn run(&self, data: &[f32], indices: &[f32], output: &mut [f32]) {
        let inner = self.inner.max(1);
        let mut targets = output.chunks_mut(inner);
        for o in 0..self.outer {
            for &index in indices.iter().take(self.picks) {
                let Some(target) = targets.next() else { return };
                let start = resolve(index, self.len).map(|p| (o * self.len + p) * self.inner);
                match start.and_then(|s| data.get(s..s + self.inner)) {
                    Some(source) => target.copy_from_slice(source),
                    None => target.fill(0.0),
                }
            }
        }
    }
}

/// `gather_elements`: output element at each multi-index of `indices` reads
/// `data` at the same multi-index with the `axis` coordinate replaced by
/// the index there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatherElements {
    pub axis: usize,
    pub data_dims: Vec<usize>,
    pub index_dims: Vec<usize>,
}

impl GatherElements {
    pub fn lower(attrs: &Attrs, data: &[u64], indices: &[u64]) -> Option<GatherElements> {
        let axis = axis_of(attrs.get("axis").and_then(Attr::as_int)?, data.len())?;
        let dims = |d: &[u64]| d.iter().map(|&x| to_usize(x)).collect::<Option<Vec<_>>>();
        let (data_dims, index_dims) = (dims(data)?, dims(indices)?);
        // Every coordinate but the axis's must lie inside `data` (the shape
        // rule's requirement, checked again so `run` needs no bounds on it).
        let fits =
            data_dims.len() == index_dims.len() && data_dims.iter().zip(&index_dims).enumerate().all(|(a, (d, i))| a == axis || i <= d);
        fits.then_some(GatherElements {
            axis,
            data_dims,
            index_dims,
        })
    }

    pub fn run(&self, data: &[f32], indices: &[f32], output: &mut [f32]) {
        let mut data_strides: Vec<usize> = self
            .data_dims
            .iter()
            .rev()
            .scan(1usize, |next, &extent| {
                let stride = *next;
                *next = next.saturating_mul(extent);
                Some(stride)
            })
            .collect();
        data_strides.reverse();
        let rank = self.data_dims.len();
        let len = self.data_dims.get(self.axis).copied().unwrap_or(0);
        let mut coordinates = vec![0usize; rank];
        for (target, &index) in output.iter_mut().zip(indices) {
            let offset = resolve(index, len).map(|p| {
                coordinates
                    .iter()
                    .zip(&data_strides)
                    .enumerate()
                    .map(|(a, (&c, &stride))| if a == self.axis { p } else { c } * stride)
                    .sum::<usize>()
            });
            *target = offset.and_then(|o| data.get(o)).copied().unwrap_or(0.0);
            for (c, &extent) in coordinates.iter_mut().zip(&self.index_dims).rev() {
                *c += 1;
                if *c < extent {
                    break;
                }
                *c = 0;
            }
        }
    }
}

/// `index` (a whole number as f32) as a position on an axis of `len`
/// entries, counting from the end when negative; `None` outside the axis.
pub(crate) fn resolve(index: f32, len: usize) -> Option<usize> {
    let index = index as i64;
    let resolved = if index < 0 { index + i64::try_from(len).ok()? } else { index };
    usize::try_from(resolved).ok().filter(|&p| p < len)
}

#[cfg(test)]
mod tests {
    use super::{Gather, GatherElements};

    #[test]
    fn gathers_rows_and_columns_with_negative_indices() {
        // ONNX's Gather example 1 with -2 for row 1: data [3, 2], indices [2, 2].
        let data = [1.0, 1.25, 2.5, 3.5, 4.5, 5.75];
        let rows = Gather {
            outer: 1,
            len: 3,
            inner: 2,
            picks: 4,
        };
        let mut out = [f32::NAN; 8];
        rows.run(&data, &[0.0, 1.0, -2.0, 2.0], &mut out);
        assert_eq!(out, [1.0, 1.25, 2.5, 3.5, 2.5, 3.5, 4.5, 5.75]);
        let columns = Gather {
            outer: 3,
            len: 2,
            inner: 1,
            picks: 1,
        };
        let mut out = [f32::NAN; 3];
        columns.run(&data, &[1.0], &mut out);
        assert_eq!(out, [1.25, 3.5, 5.75]);
        // Out of range (the interpreter's error) reads zeros.
        let mut out = [f32::NAN; 4];
        rows.run(&data, &[3.0, -4.0], &mut out[..]);
        assert_eq!(out, [0.0; 4]);
    }

    #[test]
    fn gather_elements_follows_onnx_examples() {
        let op = GatherElements {
            axis: 1,
            data_dims: vec![2, 2],
            index_dims: vec![2, 2],
        };
        let mut out = [f32::NAN; 4];
        op.run(&[1.0, 2.0, 3.0, 4.0], &[0.0, 0.0, 1.0, 0.0], &mut out);
        assert_eq!(out, [1.0, 1.0, 4.0, 3.0]);
        let data: Vec<f32> = (1..=9).map(|v| v as f32).collect();
        let op = GatherElements {
            axis: 0,
            data_dims: vec![3, 3],
            index_dims: vec![2, 3],
        };
        let mut out = [f32::NAN; 6];
        op.run(&data, &[-1.0, -2.0, 0.0, -2.0, 0.0, 7.0], &mut out);
        assert_eq!(out, [7.0, 5.0, 3.0, 4.0, 2.0, 0.0]);
    }
}
