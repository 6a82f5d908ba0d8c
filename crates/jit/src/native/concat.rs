//! `concat` along one axis: for each index before the axis, each input's
//! slab (its extent along the axis times everything after it) in turn.
//! `stack` is the same copy along a new axis, each input's slab being
//! everything from that axis on.

use opfuse_ir::{Attr, Attrs};

use super::{axis_of, split_at_axis};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Concat {
    /// The product of the dimensions before the axis.
    pub outer: usize,
    /// Each input's slab length per outer index.
    pub slabs: Vec<usize>,
}

impl Concat {
    pub fn lower(attrs: &Attrs, inputs: &[Vec<u64>], output: &[u64]) -> Option<Concat> {
        let axis = axis_of(attrs.get("axis").and_then(Attr::as_int)?, output.len())?;
        let (outer, _, _) = split_at_axis(output, axis)?;
        let slabs = inputs
            .iter()
            .map(|dims| split_at_axis(dims, axis).map(|(_, extent, inner)| extent * inner))
            .collect::<Option<Vec<_>>>()?;
        Some(Concat { outer, slabs })
    }

    /// `stack` along a new `axis` of the output.
    pub fn stack(attrs: &Attrs, inputs: &[Vec<u64>], output: &[u64]) -> Option<Concat> {
        let axis = axis_of(attrs.get("axis").and_then(Attr::as_int)?, output.len())?;
        let (outer, _, _) = split_at_axis(output, axis)?;
        let size = |d: &[u64]| d.iter().try_fold(1usize, |acc, &x| acc.checked_mul(usize::try_from(x).ok()?));
        let slabs = inputs.iter().map(|dims| size(dims.get(axis..)?)).collect::<Option<Vec<_>>>()?;
        Some(Concat { outer, slabs })
    }

    pub fn run(&self, inputs: &[&[f32]], output: &mut [f32]) {
        let row: usize = self.slabs.iter().sum();
        for (o, out) in output.chunks_mut(row.max(1)).take(self.outer).enumerate() {
            let mut at = 0;
            for (input, &slab) in inputs.iter().zip(&self.slabs) {
                let source = input.get(o * slab..(o + 1) * slab).unwrap_or_default();
                if let Some(target) = out.get_mut(at..at + source.len()) {
                    target.copy_from_slice(source);
                }
                at += slab;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use opfuse_ir::{Attr, Attrs};

    use super::Concat;

    #[test]
    fn concatenates_along_the_middle_axis() {
        let attrs: Attrs = [("axis".to_string(), Attr::Int(1))].into_iter().collect();
        // [2, 1, 2] and [2, 2, 2] -> [2, 3, 2].
        let concat = Concat::lower(&attrs, &[vec![2, 1, 2], vec![2, 2, 2]], &[2, 3, 2]).unwrap();
        let a = [1.0, 2.0, 3.0, 4.0];
        let b = [10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0, 17.0];
        let mut out = [0.0; 12];
        concat.run(&[&a, &b], &mut out);
        assert_eq!(out, [1.0, 2.0, 10.0, 11.0, 12.0, 13.0, 3.0, 4.0, 14.0, 15.0, 16.0, 17.0]);
    }

    #[test]
    fn stacks_along_a_new_middle_axis() {
        let attrs: Attrs = [("axis".to_string(), Attr::Int(-2))].into_iter().collect();
        // Two [2, 2] into [2, 2, 2]: out[i, k, j] = input k at [i, j].
        let stack = Concat::stack(&attrs, &[vec![2, 2], vec![2, 2]], &[2, 2, 2]).unwrap();
        let mut out = [0.0; 8];
        stack.run(&[&[1.0, 2.0, 3.0, 4.0], &[5.0, 6.0, 7.0, 8.0]], &mut out);
        assert_eq!(out, [1.0, 2.0, 5.0, 6.0, 3.0, 4.0, 7.0, 8.0]);
    }
}
