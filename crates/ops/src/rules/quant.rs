//! Quantisation: ONNX's affine `QuantizeLinear`/`DequantizeLinear` (per
//! tensor, per axis, blocked) and `DynamicQuantizeLinear`, and the scaled
//! low-precision formats of LLM serving: DeepSeek-V3's fp8 e4m3 in blocks of
//! 128 along the last axis, and per-token symmetric int8 (w8a8).

use opfuse_ir::{DType, Shape, TensorType};

use super::elements;
use super::elementwise::{dtype_attr, operand, Kind};
use crate::args::{attr_error, dtype_error, normalize_axis, shape_error, Args, InferResult};
use crate::code::{op, OpCode};

/// Shape rules and FLOP formulas of this family, by catalog name.
#[rustfmt::skip]
pub const RULES: &[(&str, OpCode)] = &[
    // Divide, round, add the zero point, clamp.
    ("quantize_linear", op(quantize_linear, per_input_element::<4>)),
    // Subtract the zero point, multiply.
    ("dequantize_linear", op(dequantize_linear, per_input_element::<2>)),
    // A min and a max over the tensor, then quantize.
    ("dynamic_quantize_linear", op(dynamic_quantize_linear, per_input_element::<6>)),
    // |x|, the block maximum, divide.
    ("fp8_quantize", op(fp8_quantize, per_input_element::<3>)),
    ("fp8_dequantize", op(fp8_dequantize, per_input_element::<1>)),
    // |x|, the row maximum, divide, round.
    ("int8_quantize", op(int8_quantize, per_input_element::<4>)),
];

/// The dtypes `quantize_linear` produces and `dequantize_linear` reads.
pub const QUANTIZED: [DType; 6] = [DType::I8, DType::U8, DType::I16, DType::U16, DType::F8E4M3, DType::F8E5M2];

/// How a scale (and zero point) tensor maps onto the elements of `x`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Granularity {
    /// One scale: a scalar or a one-element tensor.
    PerTensor,
    /// A 1-d scale with one entry per index of `axis`.
    PerAxis { axis: usize },
    /// A scale of `x`'s rank whose `axis` extent is `ceil(x extent / block_size)`;
    /// each entry covers `block_size` consecutive indices of `axis`.
    Blocked { axis: usize, block_size: usize },
}

/// The granularity that `scale` (input `scale_index`) has against `x`, as
/// ONNX decides it: one element is per tensor, whatever `axis` says.
pub fn granularity(x: &TensorType, scale: &TensorType, axis: i64, block_size: i64, scale_index: usize) -> InferResult<Granularity> {
    if block_size < 0 {
        return Err(attr_error(
            "block_size",
            format!("`block_size` must be 0 or positive, found {block_size}"),
        ));
    }
    if scale.numel() == Some(1) {
        return Ok(Granularity::PerTensor);
    }
    let axis = normalize_axis(axis, x.rank(), "axis")?;
    let extent = x.shape.0[axis];
    if block_size == 0 {
        if scale.shape.dims() != [extent] {
            return Err(shape_error(
                scale_index,
                format!(
                    "a per-axis scale must be [{extent}] (axis {axis} of x {}), found {}",
                    x.shape, scale.shape
                ),
            )
            .with_help("for blocked quantisation set `block_size` and give the scale x's rank"));
        }
        return Ok(Granularity::PerAxis { axis });
    }
    let mut expected = x.shape.0.clone();
    expected[axis] = extent.div_ceil(block_size as u64);
    if scale.shape.0 != expected {
        return Err(shape_error(
            scale_index,
            format!(
                "a blocked scale for x {} with `block_size` {block_size} along axis {axis} must be {}, found {}",
                x.shape,
                Shape(expected),
                scale.shape
            ),
        ));
    }
    Ok(Granularity::Blocked {
        axis,
        block_size: block_size as usize,
    })
}

/// `y = saturate(round(x / scale) + zero_point)`, rounding half to even.
pub fn quantize_linear(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let x = args.input(0)?;
    if !(x.dtype.is_float() || x.dtype == DType::I32) {
        return Err(dtype_error(0, format!("x must be a float or i32 tensor, found {}", x.dtype)));
    }
    let scale = operand(args, 1, Kind::Float)?;
    check_zero_point(args)?;
    granularity(x, scale, args.int("axis")?, args.int("block_size")?, 1)?;
    args.bool("saturate")?;
    if let Some(precision) = optional_dtype(args, "precision")? {
        if !precision.is_float() {
            return Err(attr_error(
                "precision",
                format!("`precision` must be a float dtype, found {precision}"),
            ));
        }
    }
    let dtype = quantized_dtype(args)?;
    Ok(vec![TensorType::new(dtype, x.shape.clone())])
}

/// `y = (x - zero_point) * scale`, in the scale's dtype unless `output_dtype` says otherwise.
pub fn dequantize_linear(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let x = args.input(0)?;
    if !(QUANTIZED.contains(&x.dtype) || x.dtype == DType::I32) {
        return Err(dtype_error(0, format!("x must be {} or i32, found {}", quantized_names(), x.dtype)));
    }
    let scale = operand(args, 1, Kind::Float)?;
    if let Some(zero_point) = check_zero_point(args)? {
        if zero_point.dtype != x.dtype {
            return Err(dtype_error(
                2,
                format!("the zero point must have x's dtype {}, found {}", x.dtype, zero_point.dtype),
            ));
        }
    }
    granularity(x, scale, args.int("axis")?, args.int("block_size")?, 1)?;
    let dtype = match optional_dtype(args, "output_dtype")? {
        Some(dtype) if !dtype.is_float() => {
            return Err(attr_error(
                "output_dtype",
                format!("`output_dtype` must be a float dtype, found {dtype}"),
            ));
        }
        Some(dtype) => dtype,
        None => scale.dtype,
    };
    Ok(vec![TensorType::new(dtype, x.shape.clone())])
}

/// `(y: u8 like x, y_scale: scalar of x's dtype, y_zero_point: u8 scalar)`.
pub fn dynamic_quantize_linear(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let x = operand(args, 0, Kind::Float)?;
    Ok(vec![
        TensorType::new(DType::U8, x.shape.clone()),
        TensorType::new(x.dtype, Shape::scalar()),
        TensorType::new(DType::U8, Shape::scalar()),
    ])
}

/// `(y: f8e4m3 like x, scales: f32 [..., ceil(n / block_size)])` for `x[..., n]`.
pub fn fp8_quantize(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let x = operand(args, 0, Kind::Float)?;
    let block_size = positive_block_size(args)?;
    let Some((&last, lead)) = x.shape.0.split_last() else {
        return Err(shape_error(0, "x must have at least one axis to cut into blocks, found a scalar"));
    };
    let mut scales = lead.to_vec();
    scales.push(last.div_ceil(block_size));
    Ok(vec![
        TensorType::new(DType::F8E4M3, x.shape.clone()),
        TensorType::new(DType::F32, scales),
    ])
}

/// `y * scale` block by block: the inverse of [`fp8_quantize`].
pub fn fp8_dequantize(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let y = args.input(0)?;
    if !matches!(y.dtype, DType::F8E4M3 | DType::F8E5M2) {
        return Err(dtype_error(0, format!("y must be f8e4m3 or f8e5m2, found {}", y.dtype)));
    }
    let scales = operand(args, 1, Kind::Float)?;
    let block_size = positive_block_size(args)?;
    let Some((&last, lead)) = y.shape.0.split_last() else {
        return Err(shape_error(0, "y must have at least one axis, found a scalar"));
    };
    let mut expected = lead.to_vec();
    expected.push(last.div_ceil(block_size));
    if scales.shape.0 != expected {
        return Err(shape_error(
            1,
            format!(
                "scales for y {} in blocks of {block_size} must be {}, found {}",
                y.shape,
                Shape(expected),
                scales.shape
            ),
        ));
    }
    let dtype = dtype_attr(args, "output_dtype")?;
    if !dtype.is_float() {
        return Err(attr_error(
            "output_dtype",
            format!("`output_dtype` must be a float dtype, found {dtype}"),
        ));
    }
    Ok(vec![TensorType::new(dtype, y.shape.clone())])
}

/// `(y: i8 like x, scales: f32 x.shape[..-1])`, one scale per row of the last axis.
pub fn int8_quantize(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let x = operand(args, 0, Kind::Float)?;
    let Some((_, lead)) = x.shape.0.split_last() else {
        return Err(shape_error(
            0,
            "x must have at least one axis (tokens along the last), found a scalar",
        ));
    };
    Ok(vec![
        TensorType::new(DType::I8, x.shape.clone()),
        TensorType::new(DType::F32, lead.to_vec()),
    ])
}

/// The dtype of `quantize_linear`'s output: `output_dtype`, else the zero
/// point's, else u8; both given must agree.
pub fn quantized_dtype(args: &Args<'_>) -> InferResult<DType> {
    let from_attr = optional_dtype(args, "output_dtype")?;
    let from_zero_point = args.optional_input(2).map(|t| t.dtype);
    let dtype = match (from_attr, from_zero_point) {
        (Some(attr), Some(zero_point)) if attr != zero_point => {
            return Err(dtype_error(
                2,
                format!("`output_dtype` is {attr} but the zero point is {zero_point}; they must agree"),
            ));
        }
        (Some(dtype), _) | (None, Some(dtype)) => dtype,
        (None, None) => DType::U8,
    };
    match QUANTIZED.contains(&dtype) {
        true => Ok(dtype),
        false => Err(dtype_error(
            2,
            format!("cannot quantize to {dtype}; the quantized dtypes are {}", quantized_names()),
        )),
    }
}

/// A dtype attribute where "" means unset (ONNX's 0).
pub fn optional_dtype(args: &Args<'_>, name: &str) -> InferResult<Option<DType>> {
    match args.string(name)?.is_empty() {
        true => Ok(None),
        false => dtype_attr(args, name).map(Some),
    }
}

/// The zero point (input 2), if any, which must be shaped like the scale
/// (one element each is per tensor, whatever the shapes: ONNX's own tests
/// pair a scalar scale with a `[1]` zero point).
fn check_zero_point<'a>(args: &'a Args<'_>) -> InferResult<Option<&'a TensorType>> {
    let Some(zero_point) = args.optional_input(2) else {
        return Ok(None);
    };
    let scale = args.input(1)?;
    let both_single = zero_point.numel() == Some(1) && scale.numel() == Some(1);
    if zero_point.shape != scale.shape && !both_single {
        return Err(shape_error(
            2,
            format!(
                "the zero point must be shaped like the scale {}, found {}",
                scale.shape, zero_point.shape
            ),
        ));
    }
    Ok(Some(zero_point))
}

fn positive_block_size(args: &Args<'_>) -> InferResult<u64> {
    let block_size = args.int("block_size")?;
    match u64::try_from(block_size) {
        Ok(size) if size > 0 => Ok(size),
        _ => Err(attr_error(
            "block_size",
            format!("`block_size` must be positive, found {block_size}"),
        )),
    }
}

fn quantized_names() -> String {
    QUANTIZED.iter().map(|d| d.name()).collect::<Vec<_>>().join(", ")
}

/// `N` FLOPs per element of the first input.
fn per_input_element<const N: u128>(args: &Args<'_>, _: &[TensorType]) -> u128 {
    N.saturating_mul(args.inputs.first().map(elements).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use opfuse_ir::{Attr, Attrs, DType, OpSemantics, TensorType};

    use crate::testing::{catalog, infer};
    use DType::{Bool, F16, F32, F8E4M3, F8E5M2, I16, I32, I8, U8};

    /// The inferred output types (as text) or the error message.
    fn check(op: &str, attrs: &[(&str, Attr)], inputs: &[(DType, &[u64])]) -> String {
        infer(op, attrs, inputs).unwrap_or_else(|e| e)
    }

    fn text(s: &str) -> Attr {
        Attr::Str(s.to_string())
    }

    #[test]
    fn quantize_linear_output_dtype() {
        assert_eq!(check("quantize_linear", &[], &[(F32, &[2, 3]), (F32, &[])]), "u8[2, 3]");
        assert_eq!(check("quantize_linear", &[], &[(F32, &[2, 3]), (F32, &[]), (I8, &[])]), "i8[2, 3]");
        assert_eq!(
            check("quantize_linear", &[("output_dtype", text("i16"))], &[(F16, &[4]), (F16, &[])]),
            "i16[4]"
        );
        assert_eq!(
            check(
                "quantize_linear",
                &[("output_dtype", text("i16"))],
                &[(F32, &[4]), (F32, &[]), (I8, &[])]
            ),
            "`output_dtype` is i16 but the zero point is i8; they must agree"
        );
        assert_eq!(
            check("quantize_linear", &[], &[(F32, &[4]), (F32, &[]), (I32, &[])]),
            "cannot quantize to i32; the quantized dtypes are i8, u8, i16, u16, f8e4m3, f8e5m2"
        );
        assert_eq!(
            check("quantize_linear", &[], &[(F32, &[4]), (F32, &[]), (F8E5M2, &[])]),
            "f8e5m2[4]"
        );
        assert_eq!(
            check("quantize_linear", &[], &[(I8, &[4]), (F32, &[])]),
            "x must be a float or i32 tensor, found i8"
        );
        assert_eq!(
            check("quantize_linear", &[], &[(F32, &[4]), (I32, &[])]),
            "expects a float tensor, found i32"
        );
        assert_eq!(
            check("quantize_linear", &[("precision", text("i8"))], &[(F32, &[4]), (F32, &[])]),
            "`precision` must be a float dtype, found i8"
        );
    }

    #[test]
    fn scale_granularity() {
        // Per axis (axis 1 by default), one-element scales are per tensor.
        assert_eq!(
            check("quantize_linear", &[], &[(F32, &[2, 3]), (F32, &[3]), (U8, &[3])]),
            "u8[2, 3]"
        );
        assert_eq!(
            check("quantize_linear", &[("axis", Attr::Int(0))], &[(F32, &[2, 3]), (F32, &[1, 1])]),
            "u8[2, 3]"
        );
        assert_eq!(
            check("quantize_linear", &[], &[(F32, &[2, 3]), (F32, &[2])]),
            "a per-axis scale must be [3] (axis 1 of x [2, 3]), found [2]"
        );
        assert_eq!(
            check("quantize_linear", &[("axis", Attr::Int(2))], &[(F32, &[2, 3]), (F32, &[3])]),
            "axis 2 is out of range for rank 2"
        );
        assert_eq!(
            check("quantize_linear", &[], &[(F32, &[2, 3]), (F32, &[3]), (U8, &[1, 3])]),
            "the zero point must be shaped like the scale [3], found [1, 3]"
        );
        // Blocked: 5 along axis 1 in blocks of 2 is 3 blocks.
        let blocked = [("axis", Attr::Int(1)), ("block_size", Attr::Int(2))];
        assert_eq!(check("quantize_linear", &blocked, &[(F32, &[4, 5]), (F32, &[4, 3])]), "u8[4, 5]");
        assert_eq!(
            check("quantize_linear", &blocked, &[(F32, &[4, 5]), (F32, &[4, 2])]),
            "a blocked scale for x [4, 5] with `block_size` 2 along axis 1 must be [4, 3], found [4, 2]"
        );
        assert_eq!(
            check("dequantize_linear", &[("block_size", Attr::Int(-1))], &[(I8, &[4]), (F32, &[4])]),
            "`block_size` must be 0 or positive, found -1"
        );
    }

    #[test]
    fn dequantize_linear_types() {
        assert_eq!(
            check("dequantize_linear", &[], &[(I8, &[2, 3]), (F16, &[3]), (I8, &[3])]),
            "f16[2, 3]"
        );
        assert_eq!(check("dequantize_linear", &[], &[(I32, &[2]), (F32, &[])]), "f32[2]");
        assert_eq!(
            check(
                "dequantize_linear",
                &[("output_dtype", text("bf16"))],
                &[(F8E4M3, &[2]), (F32, &[])]
            ),
            "bf16[2]"
        );
        assert_eq!(
            check("dequantize_linear", &[], &[(I8, &[2]), (F32, &[]), (U8, &[])]),
            "the zero point must have x's dtype i8, found u8"
        );
        assert_eq!(
            check("dequantize_linear", &[], &[(F32, &[2]), (F32, &[])]),
            "x must be i8, u8, i16, u16, f8e4m3, f8e5m2 or i32, found f32"
        );
        assert_eq!(
            check("dequantize_linear", &[("output_dtype", text("i32"))], &[(I16, &[2]), (F32, &[])]),
            "`output_dtype` must be a float dtype, found i32"
        );
    }

    #[test]
    fn flop_formulas_count_per_input_element() {
        let catalog = catalog();
        let mut attrs = Attrs::new();
        catalog.normalize_attrs("fp8_quantize", &mut attrs).expect("defaults fill in");
        let inputs = [TensorType::new(F32, vec![4, 256])];
        let outputs = catalog.infer("fp8_quantize", &attrs, &inputs).expect("the shape rule accepts");
        assert_eq!(catalog.flops("fp8_quantize", &attrs, &inputs, &outputs), 3 * 1024);
        // Bytes: 4 KiB of f32 in, 1 KiB of fp8 and 8 f32 scales out.
        assert_eq!(catalog.bytes("fp8_quantize", &attrs, &inputs, &outputs), 4096 + 1024 + 32);
    }

    #[test]
    fn dynamic_and_scaled_formats() {
        assert_eq!(check("dynamic_quantize_linear", &[], &[(F32, &[2, 3])]), "u8[2, 3], f32[], u8[]");
        assert_eq!(
            check("dynamic_quantize_linear", &[], &[(U8, &[2, 3])]),
            "expects a float tensor, found u8"
        );
        assert_eq!(check("fp8_quantize", &[], &[(F32, &[4, 300])]), "f8e4m3[4, 300], f32[4, 3]");
        assert_eq!(
            check("fp8_quantize", &[("block_size", Attr::Int(2))], &[(F16, &[5])]),
            "f8e4m3[5], f32[3]"
        );
        assert_eq!(
            check("fp8_quantize", &[("block_size", Attr::Int(0))], &[(F32, &[4])]),
            "`block_size` must be positive, found 0"
        );
        assert_eq!(
            check("fp8_quantize", &[], &[(F32, &[])]),
            "x must have at least one axis to cut into blocks, found a scalar"
        );
        assert_eq!(check("fp8_dequantize", &[], &[(F8E4M3, &[4, 256]), (F32, &[4, 2])]), "f32[4, 256]");
        assert_eq!(
            check(
                "fp8_dequantize",
                &[("output_dtype", text("bf16"))],
                &[(F8E5M2, &[130]), (F32, &[2])]
            ),
            "bf16[130]"
        );
        assert_eq!(
            check("fp8_dequantize", &[], &[(F8E4M3, &[4, 256]), (F32, &[4, 1])]),
            "scales for y [4, 256] in blocks of 128 must be [4, 2], found [4, 1]"
        );
        assert_eq!(
            check("fp8_dequantize", &[], &[(I8, &[4]), (F32, &[1])]),
            "y must be f8e4m3 or f8e5m2, found i8"
        );
        assert_eq!(check("int8_quantize", &[], &[(F16, &[2, 7, 64])]), "i8[2, 7, 64], f32[2, 7]");
        assert_eq!(check("int8_quantize", &[], &[(Bool, &[2])]), "expects a float tensor, found bool");
    }
}
