//! Comparing outputs with the interpreter's: the tolerance per dtype, and
//! the worst element when they differ.

use opfuse_ir::{DType, Tensor};

/// How far a computed output may stray from the reference, per dtype, as a
/// fraction of one plus the output's largest magnitude: fused kernels and
/// the JIT's f32 arithmetic and polynomial transcendentals round
/// differently from the interpreter's f64 with one rounding per op, so
/// low-precision types get the tolerance of a few roundings of their
/// epsilon.
pub fn tolerance(dtype: DType) -> f64 {
    match dtype {
        DType::F64 => 1e-9,
        DType::F32 => 1e-4,
        DType::F16 => 2e-2,
        DType::BF16 => 8e-2,
        _ => 0.0,
    }
}

/// The element of an output that differs most beyond its tolerance.
#[derive(Clone, Debug, PartialEq)]
pub struct Mismatch {
    pub output: usize,
    pub index: usize,
    pub expected: f64,
    pub found: f64,
    pub tolerance: f64,
}

/// The worst mismatch of `found` against `expected`, if any element is
/// beyond the tolerance (NaN matches NaN; shapes must agree).
pub fn compare(expected: &[Tensor], found: &[Tensor]) -> Option<Mismatch> {
    let mut worst: Option<(f64, Mismatch)> = None;
    for (output, (e, f)) in expected.iter().zip(found).enumerate() {
        let tolerance = tolerance(e.dtype());
        if e.ty().shape != f.ty().shape {
            return Some(Mismatch {
                output,
                index: 0,
                expected: e.data().len() as f64,
                found: f.data().len() as f64,
                tolerance,
            });
        }
        let scale = 1.0 + e.data().iter().filter(|a| a.is_finite()).fold(0.0f64, |m, a| m.max(a.abs()));
        for (index, (&a, &b)) in e.data().iter().zip(f.data()).enumerate() {
            let excess = match (a.is_nan(), b.is_nan()) {
                (true, true) => continue,
                (false, false) if a == b => continue,
                (false, false) => (a - b).abs() - tolerance * scale,
                _ => f64::INFINITY,
            };
            if excess > 0.0 && worst.as_ref().is_none_or(|(w, _)| excess > *w) {
                let mismatch = Mismatch {
                    output,
                    index,
                    expected: a,
                    found: b,
                    tolerance: tolerance * scale,
                };
                worst = Some((excess, mismatch));
            }
        }
    }
    worst.map(|(_, m)| m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use opfuse_ir::TensorType;

    fn tensor(data: &[f64]) -> Tensor {
        Tensor::new(TensorType::new(DType::F32, vec![data.len() as u64]), data.to_vec()).unwrap()
    }

    #[test]
    fn the_worst_element_beyond_the_tolerance_is_reported() {
        let expected = [tensor(&[1.0, 2.0, 3.0])];
        assert_eq!(compare(&expected, &[tensor(&[1.0, 2.00001, 3.0])]), None);
        let mismatch = compare(&expected, &[tensor(&[1.5, 2.0, 0.0])]).unwrap();
        assert_eq!((mismatch.index, mismatch.expected, mismatch.found), (2, 3.0, 0.0));
    }
}
