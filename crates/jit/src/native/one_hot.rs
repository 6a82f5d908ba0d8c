//! `one_hot`: a new axis of `depth` classes at `axis`, `on` at each index's
//! class and `off` elsewhere (`values` is `[off, on]`). Indices are
//! truncated to integers and count from the end when negative; one outside
//! `[-depth, depth)` gives a row of `off`, as in the interpreter.

use opfuse_ir::{Attr, Attrs};

use super::{axis_of, to_usize};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OneHot {
    /// The product of the index dimensions before `axis`.
    pub outer: usize,
    pub depth: usize,
    /// The product of the index dimensions from `axis` on.
    pub inner: usize,
}

impl OneHot {
    pub fn lower(attrs: &Attrs, indices: &[u64], values: &[u64]) -> Option<OneHot> {
        if values != [2] {
            return None;
        }
        let depth = to_usize(u64::try_from(attrs.get("depth").and_then(Attr::as_int)?).ok()?)?;
        let axis = axis_of(attrs.get("axis").and_then(Attr::as_int)?, indices.len() + 1)?;
        let size = |d: &[u64]| d.iter().try_fold(1usize, |acc, &x| acc.checked_mul(to_usize(x)?));
        Some(OneHot {
            outer: size(indices.get(..axis)?)?,
            depth,
            inner: size(indices.get(axis..)?)?,
        })
    }

    pub fn run(&self, indices: &[f32], values: &[f32], output: &mut [f32]) {
        let &[off, on] = values else { return };
        let inner = self.inner.max(1);
        let block = (self.depth * self.inner).max(1);
        for (lane, out) in indices.chunks(inner).zip(output.chunks_mut(block)).take(self.outer) {
            for (class, row) in out.chunks_mut(inner).enumerate() {
                for (&index, target) in lane.iter().zip(row) {
                    *target = if super::gather::resolve(index, self.depth) == Some(class) {
                        on
                    } else {
                        off
                    };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::OneHot;

    #[test]
    fn wraps_negative_indices_and_leaves_others_off() {
        let indices = [0.0, -1.0, 5.0];
        let mut out = [f32::NAN; 9];
        OneHot {
            outer: 3,
            depth: 3,
            inner: 1,
        }
        .run(&indices, &[-1.0, 2.0], &mut out);
        assert_eq!(out, [2.0, -1.0, -1.0, -1.0, -1.0, 2.0, -1.0, -1.0, -1.0]);
        // axis = 0: classes outermost.
        let mut first = [f32::NAN; 9];
        OneHot {
            outer: 1,
            depth: 3,
            inner: 3,
        }
        .run(&indices, &[-1.0, 2.0], &mut first);
        assert_eq!(first, [2.0, -1.0, -1.0, -1.0, -1.0, -1.0, -1.0, 2.0, -1.0]);
        // 1.7 is class 1.
        let mut float = [f32::NAN; 2];
        OneHot {
            outer: 1,
            depth: 2,
            inner: 1,
        }
        .run(&[1.7], &[-1.0, 2.0], &mut float);
        assert_eq!(float, [-1.0, 2.0]);
    }
}
