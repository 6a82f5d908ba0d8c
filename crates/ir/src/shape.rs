//! Shapes and tensor types.

use std::fmt;

use crate::DType;

/// A concrete shape: one extent per axis, outermost first. Rank 0 is a scalar.
///
/// Shapes in the IR are always concrete: named dims are resolved during
/// elaboration, so every later stage works with plain numbers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Shape(pub Vec<u64>);

impl Shape {
    pub fn scalar() -> Shape {
        Shape(Vec::new())
    }

    pub fn rank(&self) -> usize {
        self.0.len()
    }

    pub fn dims(&self) -> &[u64] {
        &self.0
    }

    /// Number of elements, or `None` when it does not fit in a `u64`.
    pub fn numel(&self) -> Option<u64> {
        self.0.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d))
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{d}")?;
        }
        f.write_str("]")
    }
}

impl From<Vec<u64>> for Shape {
    fn from(dims: Vec<u64>) -> Shape {
        Shape(dims)
    }
}

/// The type of a value: element type and shape. Printed as `f32[2, 3]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub struct TensorType {
    pub dtype: DType,
    pub shape: Shape,
}

impl TensorType {
    pub fn new(dtype: DType, shape: impl Into<Shape>) -> TensorType {
        TensorType {
            dtype,
            shape: shape.into(),
        }
    }

    pub fn rank(&self) -> usize {
        self.shape.rank()
    }

    pub fn numel(&self) -> Option<u64> {
        self.shape.numel()
    }

    /// Storage size in bytes, or `None` when it does not fit in a `u64`.
    pub fn size_bytes(&self) -> Option<u64> {
        self.numel()?.checked_mul(self.dtype.size_bytes())
    }
}

impl fmt::Display for TensorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.dtype, self.shape)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_sizes() {
        let t = TensorType::new(DType::BF16, vec![2, 3, 4]);
        assert_eq!(t.to_string(), "bf16[2, 3, 4]");
        assert_eq!(t.numel(), Some(24));
        assert_eq!(t.size_bytes(), Some(48));
        assert_eq!(TensorType::new(DType::F32, Shape::scalar()).to_string(), "f32[]");
    }

    #[test]
    fn absurd_sizes_do_not_overflow() {
        let t = TensorType::new(DType::F32, vec![u64::MAX, 2]);
        assert_eq!(t.numel(), None);
        let t = TensorType::new(DType::F32, vec![u64::MAX / 2]);
        assert_eq!(t.size_bytes(), None);
    }
}
