//! `shape` and `size`: their values are extents the verified types fix, so
//! lowering computes them once and the stage only copies them out. A value
//! an f32 buffer cannot hold exactly (past 2^24) stays interpreted.

use opfuse_ir::{Attr, Attrs};

/// An output fixed at lowering.
#[derive(Clone, Debug, PartialEq)]
pub struct Extents {
    pub values: Vec<f32>,
}

impl Extents {
    /// `shape`: the dims of `x` from `start` to `end` (counted from the end
    /// when negative, clamped to the rank, empty when `end` is before
    /// `start`), as ONNX's `Shape`.
    pub fn shape(attrs: &Attrs, x: &[u64]) -> Option<Extents> {
        let rank = i128::try_from(x.len()).ok()?;
        let clamp = |key: &str| {
            let v = i128::from(attrs.get(key).and_then(Attr::as_int)?);
            let v = if v < 0 { v + rank } else { v };
            usize::try_from(v.clamp(0, rank)).ok()
        };
        let (start, end) = (clamp("start")?, clamp("end")?);
        Extents::exact(x.get(start..end.max(start))?.iter().copied())
    }

    /// `size`: the element count of `x`.
    pub fn size(x: &[u64]) -> Option<Extents> {
        Extents::exact(std::iter::once(x.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d))?))
    }

    fn exact(values: impl Iterator<Item = u64>) -> Option<Extents> {
        let values = values.map(|v| Some(v as f32).filter(|&f| f as u64 == v)).collect::<Option<_>>()?;
        Some(Extents { values })
    }

    pub fn run(&self, output: &mut [f32]) {
        for (target, &value) in output.iter_mut().zip(&self.values) {
            *target = value;
        }
    }
}

#[cfg(test)]
mod tests {
    use opfuse_ir::{Attr, Attrs};

    use super::Extents;

    #[test]
    fn shapes_and_sizes_come_from_the_dims() {
        let window = |start: i64, end: i64| -> Attrs {
            [("start", Attr::Int(start)), ("end", Attr::Int(end))]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect()
        };
        let x = [2, 3, 5];
        assert_eq!(
            Extents::shape(&window(0, i64::MAX), &x).map(|e| e.values),
            Some(vec![2.0, 3.0, 5.0])
        );
        assert_eq!(Extents::shape(&window(-2, -1), &x).map(|e| e.values), Some(vec![3.0]));
        assert_eq!(Extents::shape(&window(2, 1), &x).map(|e| e.values), Some(vec![]));
        assert_eq!(Extents::size(&x).map(|e| e.values), Some(vec![30.0]));
        // 2^24 + 1 has no f32.
        assert_eq!(Extents::size(&[(1 << 24) + 1]), None);
        let mut out = [f32::NAN; 1];
        Extents { values: vec![30.0] }.run(&mut out);
        assert_eq!(out, [30.0]);
    }
}
