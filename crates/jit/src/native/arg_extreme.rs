//! `argmax` and `argmin` along one axis: the position of the first best
//! entry of each lane (the last with `select_last_index`), NaN beating
//! every number, as NumPy's and the interpreter's. Written as f32 whole
//! numbers; `keepdims` changes only the output's shape, not its elements.

use std::cmp::Ordering;

use opfuse_ir::{Attr, Attrs};

use super::{axis_of, split_at_axis};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArgExtreme {
    pub outer: usize,
    pub len: usize,
    pub inner: usize,
    /// argmin rather than argmax.
    pub min: bool,
    pub last: bool,
}

impl ArgExtreme {
    pub fn lower(op: &str, attrs: &Attrs, input: &[u64]) -> Option<ArgExtreme> {
        let axis = axis_of(attrs.get("axis").and_then(Attr::as_int)?, input.len())?;
        let (outer, len, inner) = split_at_axis(input, axis)?;
        Some(ArgExtreme {
            outer,
            len,
            inner,
            min: op == "argmin",
            last: attrs.get("select_last_index").and_then(Attr::as_bool)?,
        })
    }

    pub fn run(&self, input: &[f32], output: &mut [f32]) {
        let inner = self.inner.max(1);
        let block = (self.len * self.inner).max(1);
        let mut best = vec![0.0f32; inner];
        for (x, out) in input.chunks(block).zip(output.chunks_mut(inner)).take(self.outer) {
            out.fill(0.0);
            for (j, row) in x.chunks(inner).enumerate() {
                if j == 0 {
                    best.iter_mut().zip(row).for_each(|(b, &value)| *b = value);
                    continue;
                }
                for ((b, position), &value) in best.iter_mut().zip(out.iter_mut()).zip(row) {
                    if self.beats(value, *b) {
                        *b = value;
                        *position = j as f32;
                    }
                }
            }
        }
    }

    /// Whether `value` replaces the best so far: it is greater under the
    /// order (NaN above all numbers), or equal with `last`.
    fn beats(&self, value: f32, best: f32) -> bool {
        let ordering = match (value.is_nan(), best.is_nan()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) if self.min => best.partial_cmp(&value).unwrap_or(Ordering::Equal),
            (false, false) => value.partial_cmp(&best).unwrap_or(Ordering::Equal),
        };
        ordering.is_gt() || (self.last && ordering.is_eq())
    }
}

#[cfg(test)]
mod tests {
    use super::ArgExtreme;

    #[test]
    fn finds_the_first_or_last_extreme_with_nan_winning() {
        // [[2, 1], [3, 1], [3, 0]] along axis 0.
        let x = [2.0, 1.0, 3.0, 1.0, 3.0, 0.0];
        let run = |min: bool, last: bool| {
            let mut out = [f32::NAN; 2];
            ArgExtreme {
                outer: 1,
                len: 3,
                inner: 2,
                min,
                last,
            }
            .run(&x, &mut out);
            out
        };
        assert_eq!(run(false, false), [1.0, 0.0]);
        assert_eq!(run(false, true), [2.0, 1.0]);
        assert_eq!(run(true, false), [0.0, 2.0]);
        let mut out = [f32::NAN; 1];
        ArgExtreme {
            outer: 1,
            len: 3,
            inner: 1,
            min: true,
            last: false,
        }
        .run(&[1.0, f32::NAN, 0.0], &mut out);
        assert_eq!(out, [1.0]);
    }
}
