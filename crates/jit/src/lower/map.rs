//! Index maps: where an element of a kernel's output space finds an element
//! of one of its values. Views (transpose, slice, broadcast, size-1
//! reshapes) compose into the map and cost nothing at run time.

use opfuse_ir::{Attr, Attrs};

/// An affine map from the output index space (rank `R`) to a value's
/// multi-index (rank `r`): `value[d] = offset[d] + sum_j rows[d][j] * out[j]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IndexMap {
    pub rows: Vec<Vec<isize>>,
    pub offset: Vec<isize>,
    /// The output space's rank (kept apart: a scalar value has no rows).
    pub out_rank: usize,
}

impl IndexMap {
    pub fn identity(rank: usize) -> IndexMap {
        let rows = (0..rank).map(|d| (0..rank).map(|j| isize::from(d == j)).collect()).collect();
        IndexMap {
            rows,
            offset: vec![0; rank],
            out_rank: rank,
        }
    }

    /// The map to an operand of an op that broadcasts it (numpy rules,
    /// right-aligned) to the op's output shape: size-1 dimensions the
    /// output stretches read index 0.
    pub fn broadcast_to_operand(&self, operand: &[u64], output: &[u64]) -> Option<IndexMap> {
        let skip = output.len().checked_sub(operand.len())?;
        let zero = vec![0; self.out_rank];
        let mut rows = Vec::with_capacity(operand.len());
        let mut offset = Vec::with_capacity(operand.len());
        for (d, &dim) in operand.iter().enumerate() {
            let stretched = dim == 1 && output.get(d + skip) != Some(&1);
            match stretched {
                true => {
                    rows.push(zero.clone());
                    offset.push(0);
                }
                false => {
                    rows.push(self.rows.get(d + skip)?.clone());
                    offset.push(*self.offset.get(d + skip)?);
                }
            }
        }
        Some(IndexMap {
            rows,
            offset,
            out_rank: self.out_rank,
        })
    }

    /// Through `y = transpose(x, perm)`: `x[perm[d]] = y[d]`.
    pub fn through_transpose(&self, perm: &[i64]) -> Option<IndexMap> {
        let rank = perm.len();
        let mut rows = vec![Vec::new(); rank];
        let mut offset = vec![0; rank];
        for (d, &p) in perm.iter().enumerate() {
            let p = usize::try_from(p).ok().filter(|&p| p < rank)?;
            *rows.get_mut(p)? = self.rows.get(d)?.clone();
            *offset.get_mut(p)? = *self.offset.get(d)?;
        }
        Some(IndexMap {
            rows,
            offset,
            out_rank: self.out_rank,
        })
    }

    /// Through `y = slice(x)`: `x[a] = start_a + step_a * y[a]` on the
    /// sliced axes (positive steps only).
    pub fn through_slice(&self, attrs: &Attrs, input: &[u64]) -> Option<IndexMap> {
        let rank = input.len() as i64;
        let list = |key: &str| attrs.get(key).and_then(Attr::as_ints);
        let starts = list("starts")?;
        // No axes means the first `starts.len()` axes, in order.
        let axes = list("axes")
            .filter(|axes| !axes.is_empty())
            .unwrap_or_else(|| (0..starts.len() as i64).collect());
        let steps = list("steps").unwrap_or_default();
        let mut map = self.clone();
        for (i, (&start, &axis)) in starts.iter().zip(&axes).enumerate() {
            let axis = usize::try_from(if axis < 0 { axis + rank } else { axis }).ok()?;
            let dim = i64::try_from(*input.get(axis)?).ok()?;
            let step = steps.get(i).copied().unwrap_or(1);
            if step <= 0 {
                return None;
            }
            let start = if start < 0 { start + dim } else { start }.clamp(0, dim);
            let row = map.rows.get_mut(axis)?;
            row.iter_mut().for_each(|c| *c *= step as isize);
            let offset = map.offset.get_mut(axis)?;
            *offset = *offset * step as isize + start as isize;
        }
        Some(map)
    }

    /// Through output `y` of a split of `x` along `axis`, `start` elements
    /// in: `x[axis] = start + y[axis]`.
    pub fn through_split(&self, axis: usize, start: u64) -> Option<IndexMap> {
        let mut map = self.clone();
        *map.offset.get_mut(axis)? += isize::try_from(start).ok()?;
        Some(map)
    }

    /// Through a reshape that only inserts or removes size-1 dimensions:
    /// the other dimensions keep their order and sizes.
    pub fn through_unit_reshape(&self, input: &[u64], output: &[u64]) -> Option<IndexMap> {
        let kept = |dims: &[u64]| -> Vec<(usize, u64)> { dims.iter().copied().enumerate().filter(|&(_, d)| d != 1).collect() };
        let (ins, outs) = (kept(input), kept(output));
        if ins.len() != outs.len() || ins.iter().zip(&outs).any(|(a, b)| a.1 != b.1) {
            return None;
        }
        let zero = vec![0; self.out_rank];
        let mut rows = vec![zero; input.len()];
        let mut offset = vec![0; input.len()];
        for (&(i, _), &(o, _)) in ins.iter().zip(&outs) {
            *rows.get_mut(i)? = self.rows.get(o)?.clone();
            *offset.get_mut(i)? = *self.offset.get(o)?;
        }
        Some(IndexMap {
            rows,
            offset,
            out_rank: self.out_rank,
        })
    }

    /// Element strides and offset over the output space for a row-major
    /// buffer of `dims`; `None` when the offset would be negative.
    pub fn linear(&self, dims: &[u64]) -> Option<(usize, Vec<isize>)> {
        let strides = contiguous_strides(dims);
        let mut out = vec![0isize; self.out_rank];
        let mut offset = 0isize;
        for (d, stride) in strides.iter().enumerate() {
            offset += self.offset.get(d)? * stride;
            for (o, c) in out.iter_mut().zip(self.rows.get(d)?) {
                *o += c * stride;
            }
        }
        Some((usize::try_from(offset).ok()?, out))
    }
}

/// Row-major strides of a shape, in elements.
pub fn contiguous_strides(dims: &[u64]) -> Vec<isize> {
    let mut strides = vec![1isize; dims.len()];
    for d in (0..dims.len().saturating_sub(1)).rev() {
        let next = strides.get(d + 1).copied().unwrap_or(1);
        let dim = dims.get(d + 1).copied().unwrap_or(1) as isize;
        if let Some(s) = strides.get_mut(d) {
            *s = next * dim;
        }
    }
    strides
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transposed_buffer_reads_with_swapped_strides() {
        let map = IndexMap::identity(2).through_transpose(&[1, 0]).unwrap();
        assert_eq!(map.linear(&[3, 4]), Some((0, vec![1, 4])));
    }

    #[test]
    fn a_broadcast_row_reads_with_stride_zero() {
        let map = IndexMap::identity(2).broadcast_to_operand(&[4], &[3, 4]).unwrap();
        assert_eq!(map.linear(&[4]), Some((0, vec![0, 1])));
        let column = IndexMap::identity(2).broadcast_to_operand(&[3, 1], &[3, 4]).unwrap();
        assert_eq!(column.linear(&[3, 1]), Some((0, vec![1, 0])));
    }

    #[test]
    fn a_slice_moves_the_offset_and_scales_the_step() {
        let attrs: Attrs = [
            ("starts".to_string(), Attr::List(vec![Attr::Int(2)])),
            ("ends".to_string(), Attr::List(vec![Attr::Int(8)])),
            ("axes".to_string(), Attr::List(vec![Attr::Int(-1)])),
            ("steps".to_string(), Attr::List(vec![Attr::Int(2)])),
        ]
        .into_iter()
        .collect();
        let map = IndexMap::identity(2).through_slice(&attrs, &[3, 10]).unwrap();
        assert_eq!(map.linear(&[3, 10]), Some((2, vec![10, 2])));
    }

    #[test]
    fn unit_reshapes_keep_the_other_dimensions() {
        let map = IndexMap::identity(3).through_unit_reshape(&[4, 5], &[4, 1, 5]).unwrap();
        assert_eq!(map.linear(&[4, 5]), Some((0, vec![5, 0, 1])));
        assert!(IndexMap::identity(2).through_unit_reshape(&[4, 5], &[5, 4]).is_none());
    }
}
