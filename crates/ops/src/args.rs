//! What a shape rule sees: the inputs' types and the normalized attributes,
//! with accessors that turn every surprise into an [`InferError`].

use opfuse_ir::{Attrs, Blame, DType, InferError, InferErrorKind, TensorType};

pub struct Args<'a> {
    pub attrs: &'a Attrs,
    pub inputs: &'a [TensorType],
}

pub type InferResult<T> = Result<T, InferError>;

impl Args<'_> {
    pub fn input(&self, index: usize) -> InferResult<&TensorType> {
        self.inputs.get(index).ok_or_else(|| {
            InferError::new(
                InferErrorKind::Arity,
                Blame::Call,
                format!("expected an input number {}", index + 1),
            )
        })
    }

    pub fn optional_input(&self, index: usize) -> Option<&TensorType> {
        self.inputs.get(index)
    }

    pub fn int(&self, name: &str) -> InferResult<i64> {
        self.get(name, "an int", |a| a.as_int())
    }

    pub fn float(&self, name: &str) -> InferResult<f64> {
        self.get(name, "a float", |a| a.as_float())
    }

    pub fn bool(&self, name: &str) -> InferResult<bool> {
        self.get(name, "a bool", |a| a.as_bool())
    }

    pub fn string(&self, name: &str) -> InferResult<String> {
        self.get(name, "a string", |a| a.as_str().map(str::to_string))
    }

    pub fn ints(&self, name: &str) -> InferResult<Vec<i64>> {
        self.get(name, "a list of ints", |a| a.as_ints())
    }

    fn get<T>(&self, name: &str, what: &str, read: impl Fn(&opfuse_ir::Attr) -> Option<T>) -> InferResult<T> {
        let attr = self
            .attrs
            .get(name)
            .ok_or_else(|| InferError::new(InferErrorKind::MissingAttr, Blame::Call, format!("missing attribute `{name}`")))?;
        read(attr).ok_or_else(|| {
            InferError::new(
                InferErrorKind::AttrType,
                Blame::Attr(name.to_string()),
                format!("attribute `{name}` must be {what}"),
            )
        })
    }
}

/// An error about the shape of input `index`.
pub fn shape_error(index: usize, message: impl Into<String>) -> InferError {
    InferError::new(InferErrorKind::Shape, Blame::Input(index), message)
}

/// An error about the value of attribute `name`.
pub fn attr_error(name: &str, message: impl Into<String>) -> InferError {
    InferError::new(InferErrorKind::AttrValue, Blame::Attr(name.to_string()), message)
}

/// An error about the dtype of input `index`.
pub fn dtype_error(index: usize, message: impl Into<String>) -> InferError {
    InferError::new(InferErrorKind::DType, Blame::Input(index), message)
}

/// Requires inputs `indices` to share input `first`'s dtype.
pub fn same_dtype(args: &Args<'_>, indices: &[usize]) -> InferResult<DType> {
    let first = indices.first().copied().unwrap_or(0);
    let dtype = args.input(first)?.dtype;
    for &i in indices {
        let other = args.input(i)?.dtype;
        if other != dtype {
            return Err(dtype_error(i, format!("dtypes differ: {dtype} and {other}"))
                .with_help(format!("insert `cast(..., to = \"{dtype}\")` to make them agree")));
        }
    }
    Ok(dtype)
}

/// Requires input `index` to have an integer dtype (indices, ids).
pub fn integer_input(args: &Args<'_>, index: usize, role: &str) -> InferResult<()> {
    let dtype = args.input(index)?.dtype;
    match dtype.is_integer() {
        true => Ok(()),
        false => Err(dtype_error(index, format!("{role} must have an integer dtype, found {dtype}"))),
    }
}

/// Resolves a possibly negative `axis` against `rank`.
pub fn normalize_axis(axis: i64, rank: usize, attr: &str) -> InferResult<usize> {
    let rank_i = rank as i64;
    let resolved = if axis < 0 { axis + rank_i } else { axis };
    if (0..rank_i).contains(&resolved) {
        Ok(resolved as usize)
    } else {
        Err(attr_error(attr, format!("axis {axis} is out of range for rank {rank}")))
    }
}

/// Resolves a list of axes, rejecting duplicates.
pub fn normalize_axes(axes: &[i64], rank: usize, attr: &str) -> InferResult<Vec<usize>> {
    let mut out = Vec::with_capacity(axes.len());
    for &axis in axes {
        let a = normalize_axis(axis, rank, attr)?;
        if out.contains(&a) {
            return Err(attr_error(attr, format!("axis {axis} is listed twice")));
        }
        out.push(a);
    }
    Ok(out)
}

/// Converts a list entry that must be a non-negative size.
pub fn to_dim(value: i64, attr: &str) -> InferResult<u64> {
    u64::try_from(value).map_err(|_| attr_error(attr, format!("{value} is not a valid size")))
}
