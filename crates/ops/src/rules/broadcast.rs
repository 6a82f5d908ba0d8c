//! NumPy broadcasting: shapes are aligned at the right; each pair of extents
//! must be equal or one of them 1.

use opfuse_ir::Shape;

use crate::args::{shape_error, InferResult};

/// The broadcast of all `shapes`; errors blame the first input that does not fit.
pub fn broadcast(shapes: &[&Shape]) -> InferResult<Shape> {
    let rank = shapes.iter().map(|s| s.rank()).max().unwrap_or(0);
    let mut out = vec![1u64; rank];
    for (index, shape) in shapes.iter().enumerate() {
        let offset = rank - shape.rank();
        for (axis, &extent) in shape.dims().iter().enumerate() {
            let slot = &mut out[offset + axis];
            if *slot == 1 {
                *slot = extent;
            } else if extent != 1 && extent != *slot {
                let shown: Vec<String> = shapes.iter().map(|s| s.to_string()).collect();
                return Err(shape_error(
                    index,
                    format!(
                        "shapes {} do not broadcast: axis {} is {} here but {} before",
                        shown.join(" and "),
                        offset + axis,
                        extent,
                        slot
                    ),
                ));
            }
        }
    }
    Ok(Shape(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(shapes: &[&[u64]], expected: Result<&[u64], ()>) {
        let shapes: Vec<Shape> = shapes.iter().map(|s| Shape(s.to_vec())).collect();
        let refs: Vec<&Shape> = shapes.iter().collect();
        let got = broadcast(&refs).map(|s| s.0).map_err(|_| ());
        assert_eq!(got, expected.map(|s| s.to_vec()));
    }

    #[test]
    fn numpy_rules() {
        check(&[&[2, 3], &[3]], Ok(&[2, 3]));
        check(&[&[4, 1, 5], &[3, 1]], Ok(&[4, 3, 5]));
        check(&[&[], &[7]], Ok(&[7]));
        check(&[&[0, 3], &[1, 3]], Ok(&[0, 3]));
        check(&[&[2, 3], &[4, 3]], Err(()));
    }
}
