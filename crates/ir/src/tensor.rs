//! Tensors with data: weights imported from ONNX, interpreter values.

use std::fmt;

use crate::{DType, Shape, TensorType};

/// A dense tensor in row-major order. Elements are kept as f64, which holds
/// every value of every dtype exactly (i64 only up to 2^53); the invariant is
/// that each element is already a value of `ty.dtype` (see [`DType::round`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    ty: TensorType,
    data: Vec<f64>,
}

/// Data whose length does not match its shape.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a tensor of type {ty} needs {expected} elements, got {found}")]
pub struct TensorSizeError {
    pub ty: TensorType,
    pub expected: u64,
    pub found: usize,
}

impl Tensor {
    /// Builds a tensor, rounding each element to the dtype.
    pub fn new(ty: TensorType, mut data: Vec<f64>) -> Result<Tensor, TensorSizeError> {
        let expected = ty.shape.numel().unwrap_or(u64::MAX);
        if expected != data.len() as u64 {
            return Err(TensorSizeError {
                ty,
                expected,
                found: data.len(),
            });
        }
        let dtype = ty.dtype;
        if dtype != DType::F64 {
            data.iter_mut().for_each(|x| *x = dtype.round(*x));
        }
        Ok(Tensor { ty, data })
    }

    pub fn scalar(dtype: DType, value: f64) -> Tensor {
        Tensor {
            ty: TensorType::new(dtype, Shape::scalar()),
            data: vec![dtype.round(value)],
        }
    }

    pub fn ty(&self) -> &TensorType {
        &self.ty
    }

    pub fn dtype(&self) -> DType {
        self.ty.dtype
    }

    pub fn dims(&self) -> &[u64] {
        self.ty.shape.dims()
    }

    pub fn data(&self) -> &[f64] {
        &self.data
    }

    pub fn into_data(self) -> Vec<f64> {
        self.data
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The same data seen with another shape of as many elements.
    pub fn reshaped(self, shape: Shape) -> Result<Tensor, TensorSizeError> {
        let ty = TensorType::new(self.ty.dtype, shape);
        match ty.shape.numel() == Some(self.data.len() as u64) {
            true => Ok(Tensor { ty, data: self.data }),
            false => Err(TensorSizeError {
                expected: ty.shape.numel().unwrap_or(u64::MAX),
                ty,
                found: self.data.len(),
            }),
        }
    }

    /// This tensor as type `ty`: unchanged when it already has that type,
    /// its elements rounded to `ty`'s dtype when the dims match and both
    /// dtypes are of the same kind (float and float, integer and integer).
    /// Otherwise the tensor comes back as the error.
    pub fn conformed_to(self, ty: &TensorType) -> Result<Tensor, Tensor> {
        let (from, to) = (self.dtype(), ty.dtype);
        let same_kind = (from.is_float() && to.is_float()) || (from.is_integer() && to.is_integer());
        if &self.ty == ty {
            Ok(self)
        } else if same_kind && self.dims() == ty.shape.dims() {
            // Same dims, so the same number of elements: only rounding is left.
            let data = self.data.into_iter().map(|x| to.round(x)).collect();
            Ok(Tensor { ty: ty.clone(), data })
        } else {
            Err(self)
        }
    }

    /// The elements as i64 (for index and shape operands).
    pub fn to_i64s(&self) -> Vec<i64> {
        self.data.iter().map(|&x| x as i64).collect()
    }
}

impl fmt::Display for Tensor {
    /// The type and up to eight leading elements, for error messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} [", self.ty)?;
        for (i, x) in self.data.iter().take(8).enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{x}")?;
        }
        if self.data.len() > 8 {
            f.write_str(", ...")?;
        }
        f.write_str("]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_rounds_and_checks_length() {
        let t = Tensor::new(TensorType::new(DType::I32, vec![2]), vec![1.7, -2.5]).unwrap();
        assert_eq!(t.data(), &[1.0, -2.0]);
        let err = Tensor::new(TensorType::new(DType::F32, vec![2, 2]), vec![0.0; 3]).unwrap_err();
        assert_eq!(err.to_string(), "a tensor of type f32[2, 2] needs 4 elements, got 3");
        assert!(t.reshaped(Shape(vec![3])).is_err());
    }

    #[test]
    fn conformed_to_converts_within_a_kind() {
        let t = Tensor::new(TensorType::new(DType::F64, vec![2]), vec![0.1, 2.5]).unwrap();
        let f32_ty = TensorType::new(DType::F32, vec![2]);
        let f = t.clone().conformed_to(&f32_ty).unwrap();
        assert_eq!(f.ty(), &f32_ty);
        assert_eq!(f.data(), &[0.1f32 as f64, 2.5]);
        assert_eq!(t.clone().conformed_to(t.ty()), Ok(t.clone()));
        // Another kind, or other dims: the tensor comes back unchanged.
        assert_eq!(t.clone().conformed_to(&TensorType::new(DType::I32, vec![2])), Err(t.clone()));
        assert_eq!(t.clone().conformed_to(&TensorType::new(DType::F32, vec![1, 2])), Err(t.clone()));
        let i = Tensor::new(TensorType::new(DType::I64, vec![2]), vec![300.0, -1.0]).unwrap();
        let u8_ty = TensorType::new(DType::U8, vec![2]);
        assert_eq!(
            i.clone().conformed_to(&u8_ty).unwrap().data(),
            Tensor::new(u8_ty, i.into_data()).unwrap().data()
        );
    }
}
