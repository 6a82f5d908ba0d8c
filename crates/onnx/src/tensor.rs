//! ONNX element types, value types and tensor data, to the IR's.

use std::collections::BTreeMap;

use opfuse_ir::{DType, Shape, Tensor, TensorType};

use crate::proto::{data_type as code, Dimension, TensorProto, ValueInfoProto, DATA_LOCATION_EXTERNAL};

/// The IR dtype of a `TensorProto.DataType` code.
pub fn dtype_of(code: i32) -> Result<DType, String> {
    let dtype = match code {
        code::FLOAT => DType::F32,
        code::DOUBLE => DType::F64,
        code::FLOAT16 => DType::F16,
        code::BFLOAT16 => DType::BF16,
        code::FLOAT8E4M3FN => DType::F8E4M3,
        code::FLOAT8E5M2 => DType::F8E5M2,
        code::INT8 => DType::I8,
        code::UINT8 => DType::U8,
        code::INT16 => DType::I16,
        code::UINT16 => DType::U16,
        code::INT32 => DType::I32,
        code::UINT32 => DType::U32,
        code::INT64 => DType::I64,
        code::UINT64 => DType::U64,
        code::BOOL => DType::Bool,
        other => return Err(format!("element type {} is not supported", code_name(other))),
    };
    Ok(dtype)
}

/// The name ONNX gives a `TensorProto.DataType` code, for messages.
fn code_name(code: i32) -> String {
    const NAMES: [&str; 27] = [
        "UNDEFINED",
        "FLOAT",
        "UINT8",
        "INT8",
        "UINT16",
        "INT16",
        "INT32",
        "INT64",
        "STRING",
        "BOOL",
        "FLOAT16",
        "DOUBLE",
        "UINT32",
        "UINT64",
        "COMPLEX64",
        "COMPLEX128",
        "BFLOAT16",
        "FLOAT8E4M3FN",
        "FLOAT8E4M3FNUZ",
        "FLOAT8E5M2",
        "FLOAT8E5M2FNUZ",
        "UINT4",
        "INT4",
        "FLOAT4E2M1",
        "FLOAT8E8M0",
        "UINT2",
        "INT2",
    ];
    match usize::try_from(code).ok().and_then(|i| NAMES.get(i)) {
        Some(name) => name.to_string(),
        None => format!("code {code}"),
    }
}

/// Why a value's declared type does not give an IR type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TypeProblem {
    /// No type at all, or not a tensor (a sequence, a map).
    NotATensor,
    DType(String),
    /// The rank is unknown.
    NoShape,
    /// Axis `axis` is the symbol `name`, which no binding resolves.
    Symbolic {
        axis: usize,
        name: String,
    },
    /// Axis `axis` has neither a size nor a symbol.
    UnknownDim {
        axis: usize,
    },
    NegativeDim {
        axis: usize,
        value: i64,
    },
}

impl TypeProblem {
    pub fn message(&self) -> String {
        match self {
            TypeProblem::NotATensor => "has no tensor type (sequences, maps and optionals are not supported)".into(),
            TypeProblem::DType(message) => message.clone(),
            TypeProblem::NoShape => "has no shape; opfuse needs static shapes".into(),
            TypeProblem::Symbolic { axis, name } => {
                format!("axis {axis} is the symbolic dim `{name}`; give it a size (dims option, e.g. --dim {name}=1)")
            }
            TypeProblem::UnknownDim { axis } => format!("axis {axis} has no size; opfuse needs static shapes"),
            TypeProblem::NegativeDim { axis, value } => format!("axis {axis} has the negative size {value}"),
        }
    }
}

/// The IR type of a declared value, resolving symbolic dims through `dims`.
pub fn value_type(info: &ValueInfoProto, dims: &BTreeMap<String, u64>) -> Result<TensorType, TypeProblem> {
    let tensor = info
        .r#type
        .as_ref()
        .and_then(|t| t.tensor_type.as_ref())
        .ok_or(TypeProblem::NotATensor)?;
    let dtype = dtype_of(tensor.elem_type).map_err(TypeProblem::DType)?;
    let shape = tensor.shape.as_ref().ok_or(TypeProblem::NoShape)?;
    let extents = shape
        .dim
        .iter()
        .enumerate()
        .map(|(axis, dim)| extent(axis, dim, dims))
        .collect::<Result<Vec<u64>, TypeProblem>>()?;
    Ok(TensorType::new(dtype, extents))
}

fn extent(axis: usize, dim: &Dimension, dims: &BTreeMap<String, u64>) -> Result<u64, TypeProblem> {
    match (dim.dim_value, &dim.dim_param) {
        (Some(value), _) => u64::try_from(value).map_err(|_| TypeProblem::NegativeDim { axis, value }),
        (None, Some(name)) if !name.is_empty() => dims
            .get(name)
            .copied()
            .ok_or_else(|| TypeProblem::Symbolic { axis, name: name.clone() }),
        (None, _) => Err(TypeProblem::UnknownDim { axis }),
    }
}

/// The symbols of a declared value's shape, by axis (`None` for numbers).
pub fn dim_symbols(info: &ValueInfoProto) -> Vec<Option<&str>> {
    let dims = info
        .r#type
        .as_ref()
        .and_then(|t| t.tensor_type.as_ref())
        .and_then(|t| t.shape.as_ref())
        .map(|s| s.dim.as_slice())
        .unwrap_or_default();
    dims.iter()
        .map(|d| match (d.dim_value, &d.dim_param) {
            (None, Some(name)) if !name.is_empty() => Some(name.as_str()),
            _ => None,
        })
        .collect()
}

/// The tensor a `TensorProto` holds. Errors say what is wrong, without the
/// tensor's name (the caller knows where it came from).
pub fn tensor_of(proto: &TensorProto) -> Result<Tensor, String> {
    if proto.data_location == DATA_LOCATION_EXTERNAL || !proto.external_data.is_empty() {
        return Err("its data is in an external file, which opfuse does not read (save the model with the data inside)".into());
    }
    if proto.segment.is_some() {
        return Err("segmented tensors are not supported".into());
    }
    let dtype = dtype_of(proto.data_type)?;
    let mut extents = Vec::with_capacity(proto.dims.len());
    for (axis, &d) in proto.dims.iter().enumerate() {
        extents.push(u64::try_from(d).map_err(|_| format!("axis {axis} has the negative size {d}"))?);
    }
    let shape = Shape(extents);
    let numel = shape
        .numel()
        .ok_or_else(|| format!("shape {shape} has more elements than fit in 64 bits"))?;
    let data = elements(proto, dtype, numel)?;
    Tensor::new(TensorType::new(dtype, shape), data).map_err(|e| e.to_string())
}

/// The elements as f64, from `raw_data` when present, else the typed field.
fn elements(proto: &TensorProto, dtype: DType, numel: u64) -> Result<Vec<f64>, String> {
    if let Some(raw) = &proto.raw_data {
        let size = dtype.size_bytes();
        let expected = numel
            .checked_mul(size)
            .ok_or_else(|| format!("{numel} elements do not fit in memory"))?;
        if raw.len() as u64 != expected {
            return Err(format!(
                "{numel} {dtype} element(s) need {expected} bytes of raw data, found {}",
                raw.len()
            ));
        }
        return Ok(raw.chunks_exact(size as usize).map(|bytes| decode_le(dtype, bytes)).collect());
    }
    let check = |found: usize, field: &str| match found as u64 == numel {
        true => Ok(()),
        false => Err(format!("the shape needs {numel} element(s), but {field} holds {found}")),
    };
    match dtype {
        DType::F32 => check(proto.float_data.len(), "float_data").map(|_| proto.float_data.iter().map(|&x| f64::from(x)).collect()),
        DType::F64 => check(proto.double_data.len(), "double_data").map(|_| proto.double_data.clone()),
        DType::I64 => check(proto.int64_data.len(), "int64_data").map(|_| proto.int64_data.iter().map(|&x| x as f64).collect()),
        DType::U32 | DType::U64 => {
            check(proto.uint64_data.len(), "uint64_data").map(|_| proto.uint64_data.iter().map(|&x| x as f64).collect())
        }
        DType::I32 | DType::I16 | DType::U16 | DType::I8 | DType::U8 | DType::Bool => {
            check(proto.int32_data.len(), "int32_data").map(|_| proto.int32_data.iter().map(|&x| f64::from(x)).collect())
        }
        DType::F16 | DType::BF16 | DType::F8E4M3 | DType::F8E5M2 => check(proto.int32_data.len(), "int32_data")
            .map(|_| proto.int32_data.iter().map(|&bits| float_from_bits(dtype, bits as u32)).collect()),
    }
}

/// One little-endian element of `dtype`; `bytes` has its size.
fn decode_le(dtype: DType, bytes: &[u8]) -> f64 {
    let mut word = [0u8; 8];
    word[..bytes.len()].copy_from_slice(bytes);
    let unsigned = u64::from_le_bytes(word);
    match dtype {
        DType::F64 => f64::from_bits(unsigned),
        DType::F32 => f64::from(f32::from_bits(unsigned as u32)),
        DType::F16 | DType::BF16 | DType::F8E4M3 | DType::F8E5M2 => float_from_bits(dtype, unsigned as u32),
        DType::I64 => unsigned as i64 as f64,
        DType::U64 => unsigned as f64,
        DType::I32 => f64::from(unsigned as u32 as i32),
        DType::U32 => f64::from(unsigned as u32),
        DType::U16 => f64::from(unsigned as u16),
        DType::I16 => f64::from(unsigned as u16 as i16),
        DType::I8 => f64::from(unsigned as u8 as i8),
        DType::U8 => f64::from(unsigned as u8),
        DType::Bool => f64::from(u8::from(unsigned != 0)),
    }
}

/// The value of a narrow float's bit pattern (in the low bits of `bits`).
pub fn float_from_bits(dtype: DType, bits: u32) -> f64 {
    match dtype {
        DType::BF16 => f64::from(f32::from_bits((bits & 0xffff) << 16)),
        DType::F16 => ieee_like(bits & 0xffff, 16, 10, true),
        DType::F8E5M2 => ieee_like(bits & 0xff, 8, 2, true),
        DType::F8E4M3 => ieee_like(bits & 0xff, 8, 3, false),
        _ => f64::NAN,
    }
}

/// Decodes a sign/exponent/mantissa float of `width` bits. With `has_inf`
/// the top exponent is infinity or NaN (IEEE); without it (`E4M3FN`) only the
/// all-ones pattern is NaN and the rest of the top exponent is finite.
fn ieee_like(bits: u32, width: u32, mantissa_bits: u32, has_inf: bool) -> f64 {
    let exponent_bits = width - 1 - mantissa_bits;
    let sign = if bits >> (width - 1) & 1 == 1 { -1.0 } else { 1.0 };
    let exponent = (bits >> mantissa_bits) & ((1 << exponent_bits) - 1);
    let mantissa = bits & ((1 << mantissa_bits) - 1);
    let max_exponent = (1 << exponent_bits) - 1;
    let bias = (1i32 << (exponent_bits - 1)) - 1;
    if has_inf && exponent == max_exponent {
        return match mantissa {
            0 => sign * f64::INFINITY,
            _ => f64::NAN,
        };
    }
    if !has_inf && exponent == max_exponent && mantissa == (1 << mantissa_bits) - 1 {
        return f64::NAN;
    }
    let scale = |e: i32| 2f64.powi(e - mantissa_bits as i32);
    match exponent {
        0 => sign * f64::from(mantissa) * scale(1 - bias),
        _ => sign * f64::from(mantissa + (1 << mantissa_bits)) * scale(exponent as i32 - bias),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrow_floats_decode() {
        assert_eq!(float_from_bits(DType::F16, 0x3c00), 1.0);
        assert_eq!(float_from_bits(DType::F16, 0xc000), -2.0);
        assert_eq!(float_from_bits(DType::F16, 0x7bff), 65504.0);
        assert_eq!(float_from_bits(DType::F16, 0x0001), 2f64.powi(-24));
        assert_eq!(float_from_bits(DType::F16, 0xfc00), f64::NEG_INFINITY);
        assert!(float_from_bits(DType::F16, 0x7e00).is_nan());
        assert_eq!(float_from_bits(DType::BF16, 0x4049), 3.140625);
        assert_eq!(float_from_bits(DType::F8E4M3, 0x7e), 448.0);
        assert_eq!(float_from_bits(DType::F8E4M3, 0x01), 2f64.powi(-9));
        assert!(float_from_bits(DType::F8E4M3, 0x7f).is_nan());
        assert_eq!(float_from_bits(DType::F8E4M3, 0x38), 1.0);
        assert_eq!(float_from_bits(DType::F8E5M2, 0x7b), 57344.0);
        assert_eq!(float_from_bits(DType::F8E5M2, 0x7c), f64::INFINITY);
        assert_eq!(float_from_bits(DType::F8E5M2, 0x01), 2f64.powi(-16));
        assert_eq!(float_from_bits(DType::F8E5M2, 0xbc), -1.0);
    }

    #[test]
    fn raw_and_typed_data() {
        let proto = TensorProto {
            dims: vec![2],
            data_type: code::INT16,
            raw_data: Some(vec![0xff, 0xff, 0x02, 0x00]),
            ..TensorProto::default()
        };
        assert_eq!(tensor_of(&proto).unwrap().data(), &[-1.0, 2.0]);
        let proto = TensorProto {
            dims: vec![3],
            data_type: code::FLOAT,
            float_data: vec![1.0, 2.0],
            ..TensorProto::default()
        };
        assert_eq!(
            tensor_of(&proto).unwrap_err(),
            "the shape needs 3 element(s), but float_data holds 2"
        );
        let proto = TensorProto {
            dims: vec![i64::MAX, i64::MAX],
            data_type: code::FLOAT,
            ..TensorProto::default()
        };
        assert!(tensor_of(&proto).unwrap_err().contains("more elements than fit"));
        let proto = TensorProto {
            dims: vec![2],
            data_type: code::UINT32,
            uint64_data: vec![7, 4_000_000_000],
            ..TensorProto::default()
        };
        assert_eq!(tensor_of(&proto).unwrap().data(), &[7.0, 4e9]);
        let proto = TensorProto {
            data_type: code::STRING,
            ..TensorProto::default()
        };
        assert_eq!(tensor_of(&proto).unwrap_err(), "element type STRING is not supported");
    }
}
