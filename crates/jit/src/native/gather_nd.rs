//! `gather_nd`: each tuple along the last axis of `indices` picks a slice of
//! `data` after `batch` leading axes that data and indices share. Indices
//! arrive as f32 whole numbers, negative ones counting from the end. The
//! interpreter fails on an index outside its axis; a native stage cannot,
//! so such a tuple's slice reads zeros (and `scatter_nd` skips it).

use opfuse_ir::{Attr, Attrs};

use super::gather::resolve;
use super::to_usize;

/// Where the index tuples of `indices[..., depth]` point in `data`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tuples {
    /// The extents of the `depth` indexed axes of data.
    pub axes: Vec<usize>,
    /// The row-major stride of each indexed axis within a batch entry.
    pub strides: Vec<usize>,
    /// Elements per batch entry of data.
    pub batch_stride: usize,
    /// Tuples per batch entry.
    pub per_batch: usize,
    pub tuples: usize,
    /// Elements of data each tuple picks.
    pub slice: usize,
}

impl Tuples {
    /// The tuples of `indices` into `data` after `batch` shared axes, or
    /// `None` where the shapes do not fit (the shape rule's errors).
    pub fn new(data: &[u64], indices: &[u64], batch: usize) -> Option<Tuples> {
        let data = data.iter().map(|&d| to_usize(d)).collect::<Option<Vec<_>>>()?;
        let (&depth, outer) = indices.split_last()?;
        let depth = to_usize(depth)?;
        let product = |d: &[usize]| d.iter().try_fold(1usize, |acc, &x| acc.checked_mul(x));
        let tuples = outer.iter().try_fold(1usize, |acc, &d| acc.checked_mul(to_usize(d)?))?;
        let batches = product(data.get(..batch)?)?;
        let within = data.get(batch..)?;
        let axes = within.get(..depth)?.to_vec();
        let slice = product(within.get(depth..)?)?;
        let strides = (1..=depth).map(|k| product(within.get(k..)?)).collect::<Option<_>>()?;
        let fits = depth > 0 && batches > 0 && tuples % batches == 0;
        fits.then_some(Tuples {
            axes,
            strides,
            batch_stride: product(within)?,
            per_batch: tuples / batches.max(1),
            tuples,
            slice,
        })
    }

    /// The offset in data of the slice tuple `t` picks; `None` for an index
    /// outside its axis.
    pub fn offset(&self, indices: &[f32], t: usize) -> Option<usize> {
        let depth = self.axes.len();
        let tuple = indices.get(t * depth..(t + 1) * depth)?;
        let start = t.checked_div(self.per_batch).unwrap_or(0) * self.batch_stride;
        tuple
            .iter()
            .zip(&self.axes)
            .zip(&self.strides)
            .try_fold(start, |offset, ((&index, &len), &stride)| {
                Some(offset + resolve(index, len)? * stride)
            })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatherNd {
    pub tuples: Tuples,
}

impl GatherNd {
    pub fn lower(attrs: &Attrs, data: &[u64], indices: &[u64]) -> Option<GatherNd> {
        let batch = usize::try_from(attrs.get("batch_dims").and_then(Attr::as_int)?).ok()?;
        let tuples = Tuples::new(data, indices, batch)?;
        Some(GatherNd { tuples })
    }

    pub fn run(&self, data: &[f32], indices: &[f32], output: &mut [f32]) {
        let slice = self.tuples.slice;
        for (t, target) in output.chunks_mut(slice.max(1)).take(self.tuples.tuples).enumerate() {
            let source = self.tuples.offset(indices, t).and_then(|o| data.get(o..o + slice));
            match source {
                Some(source) if source.len() == target.len() => target.copy_from_slice(source),
                _ => target.fill(0.0),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{GatherNd, Tuples};

    #[test]
    fn gathers_slices_and_elements_with_batches() {
        // ONNX's examples: data [[0, 1], [2, 3]].
        let data = [0.0, 1.0, 2.0, 3.0];
        let elements = GatherNd {
            tuples: Tuples::new(&[2, 2], &[2, 2], 0).unwrap(),
        };
        let mut out = [f32::NAN; 2];
        elements.run(&data, &[0.0, 0.0, 1.0, -1.0], &mut out);
        assert_eq!(out, [0.0, 3.0]);
        let rows = GatherNd {
            tuples: Tuples::new(&[2, 2], &[2, 1], 0).unwrap(),
        };
        let mut out = [f32::NAN; 4];
        rows.run(&data, &[1.0, 0.0], &mut out);
        assert_eq!(out, [2.0, 3.0, 0.0, 1.0]);
        // batch_dims 1: data [2, 2, 2], indices [[1], [0]]: row 1 of batch 0, row 0 of batch 1.
        let data: Vec<f32> = (0..8).map(|v| v as f32).collect();
        let batched = GatherNd {
            tuples: Tuples::new(&[2, 2, 2], &[2, 1], 1).unwrap(),
        };
        batched.run(&data, &[1.0, 0.0], &mut out);
        assert_eq!(out, [2.0, 3.0, 4.0, 5.0]);
        // An index out of range reads zeros.
        rows.run(&[0.0, 1.0, 2.0, 3.0], &[2.0, -3.0], &mut out);
        assert_eq!(out, [0.0; 4]);
    }
}
