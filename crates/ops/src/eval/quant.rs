//! Reference semantics of quantisation.
//!
//! The ONNX ops follow ONNX's reference implementation: the quotient
//! `x / scale` is first rounded to the `precision` dtype (the scale's by
//! default), as NumPy's float32 division does, then rounded half to even to
//! an integer and clamped to the output's range, or rounded to fp8 (which
//! saturates unless `saturate` is false). The scaled formats compute their
//! scales and quotients in f32, as the GPU kernels they model do.

use opfuse_ir::{DType, Tensor};

use super::support::AxisSplit;
use super::{EvalArgs, EvalError, EvalFn, EvalResult};
use crate::rules::quant::{granularity, optional_dtype, Granularity};

/// Semantics of this family, by catalog name.
pub const EVAL: &[(&str, EvalFn)] = &[
    ("quantize_linear", quantize_linear),
    ("dequantize_linear", dequantize_linear),
    ("dynamic_quantize_linear", dynamic_quantize_linear),
    ("fp8_quantize", fp8_quantize),
    ("fp8_dequantize", fp8_dequantize),
    ("int8_quantize", int8_quantize),
];

/// The largest finite f8e4m3 value, which a block's largest magnitude maps to.
const F8E4M3_MAX: f64 = 448.0;
/// The largest int8 magnitude that symmetric quantisation uses.
const INT8_MAX: f64 = 127.0;

/// For each element of a tensor of `dims` (row-major), the offset of its
/// scale and zero point.
pub fn scale_offsets(dims: &[u64], granularity: Granularity) -> Vec<usize> {
    let count = dims.iter().product::<u64>() as usize;
    match granularity {
        Granularity::PerTensor => vec![0; count],
        Granularity::PerAxis { axis } => {
            let split = AxisSplit::new(dims, axis);
            (0..count).map(|i| (i / split.inner) % split.len).collect()
        }
        Granularity::Blocked { axis, block_size } => {
            let split = AxisSplit::new(dims, axis);
            let blocks = split.len.div_ceil(block_size);
            (0..count)
                .map(|i| {
                    let (inner, along, outer) = (i % split.inner, (i / split.inner) % split.len, i / (split.inner * split.len));
                    (outer * blocks + along / block_size) * split.inner + inner
                })
                .collect()
        }
    }
}

fn quantize_linear(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let (x, scale, zero_point) = (args.input(0)?, args.input(1)?, args.optional_input(2));
    let granularity = granularity(x.ty(), scale.ty(), args.args.int("axis")?, args.args.int("block_size")?, 1)?;
    let dtype = args.output_type(0)?.dtype;
    let precision = optional_dtype(&args.args, "precision")?.unwrap_or(scale.dtype());
    let saturate = args.args.bool("saturate")?;
    let data = x
        .data()
        .iter()
        .zip(scale_offsets(x.dims(), granularity))
        .map(|(&value, offset)| {
            let quotient = precision.round(value / element(scale, offset)?);
            let zero = zero_point.map_or(Ok(0.0), |z| element(z, offset))?;
            Ok(match dtype.quantized_range() {
                Some((low, high)) => (quotient.round_ties_even() + zero).clamp(low, high),
                None if saturate => dtype.saturate(quotient + zero),
                None => quotient + zero,
            })
        })
        .collect::<EvalResult<Vec<f64>>>()?;
    Ok(vec![args.output(0, data)?])
}

fn dequantize_linear(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let (x, scale, zero_point) = (args.input(0)?, args.input(1)?, args.optional_input(2));
    let granularity = granularity(x.ty(), scale.ty(), args.args.int("axis")?, args.args.int("block_size")?, 1)?;
    let data = x
        .data()
        .iter()
        .zip(scale_offsets(x.dims(), granularity))
        .map(|(&value, offset)| {
            let zero = zero_point.map_or(Ok(0.0), |z| element(z, offset))?;
            Ok((value - zero) * element(scale, offset)?)
        })
        .collect::<EvalResult<Vec<f64>>>()?;
    Ok(vec![args.output(0, data)?])
}

/// ONNX's uint8 scheme: the range `[min(0, min x), max(0, max x)]` maps
/// onto `[0, 255]`; intermediate values are f32, as in ONNX's reference.
fn dynamic_quantize_linear(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let f32 = |v: f64| DType::F32.round(v);
    let x = args.input(0)?;
    let high = x.data().iter().fold(0f64, |m, &v| m.max(v));
    let low = x.data().iter().fold(0f64, |m, &v| m.min(v));
    let range = if high == low { 1.0 } else { f32(high - low) };
    let scale = f32(range / 255.0);
    let zero_point = f32(-f32(low / scale)).clamp(0.0, 255.0).round_ties_even();
    let y = x
        .data()
        .iter()
        .map(|&v| (f32(v / scale).round_ties_even() + zero_point).clamp(0.0, 255.0))
        .collect();
    Ok(vec![
        args.output(0, y)?,
        args.output(1, vec![scale])?,
        args.output(2, vec![zero_point])?,
    ])
}

/// DeepSeek-V3's `act_quant`: per block, `scale = absmax / 448` and
/// `y = x / scale`, both in f32. An all-zero block has scale 0 and gives
/// zeros (the kernel would divide 0 by 0).
fn fp8_quantize(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let x = args.input(0)?;
    let block_size = block_size(args)?;
    let (y, scales) = scaled_quantize(x, block_size, F8E4M3_MAX, |q| q);
    Ok(vec![args.output(0, y)?, args.output(1, scales)?])
}

fn fp8_dequantize(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let (y, scales) = (args.input(0)?, args.input(1)?);
    let block_size = block_size(args)?;
    let row = y.dims().last().map_or(1, |&n| n as usize);
    let blocks_per_row = row.div_ceil(block_size);
    let data = y
        .data()
        .iter()
        .enumerate()
        .map(|(i, &value)| Ok(value * element(scales, (i / row) * blocks_per_row + (i % row) / block_size)?))
        .collect::<EvalResult<Vec<f64>>>()?;
    Ok(vec![args.output(0, data)?])
}

/// Per-token symmetric int8: per row of the last axis `scale = absmax / 127`
/// and `y = round(x / scale)`, halves to even.
fn int8_quantize(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let x = args.input(0)?;
    let row = x.dims().last().map_or(1, |&n| n as usize);
    let (y, scales) = scaled_quantize(x, row, INT8_MAX, f64::round_ties_even);
    Ok(vec![args.output(0, y)?, args.output(1, scales)?])
}

/// Symmetric quantisation in blocks of `block_size` along the last axis:
/// each block's scale maps its largest magnitude to `target`, in f32, and
/// `finish` turns each f32 quotient into the output's grid. Returns the
/// quotients and the scales, row by row.
fn scaled_quantize(x: &Tensor, block_size: usize, target: f64, finish: fn(f64) -> f64) -> (Vec<f64>, Vec<f64>) {
    let f32 = |v: f64| DType::F32.round(v);
    let row = x.dims().last().map_or(1, |&n| n as usize);
    let (mut y, mut scales) = (Vec::with_capacity(x.len()), Vec::new());
    if row == 0 || block_size == 0 {
        return (y, scales);
    }
    for block in x.data().chunks(row).flat_map(|r| r.chunks(block_size)) {
        let largest = block
            .iter()
            .fold(0f64, |m, &v| if v.is_nan() || m.is_nan() { f64::NAN } else { m.max(v.abs()) });
        let scale = f32(largest / target);
        scales.push(scale);
        y.extend(block.iter().map(|&v| if scale == 0.0 { 0.0 } else { finish(f32(v / scale)) }));
    }
    (y, scales)
}

fn block_size(args: &EvalArgs<'_>) -> EvalResult<usize> {
    let size = args.args.int("block_size")?;
    usize::try_from(size)
        .ok()
        .filter(|&s| s > 0)
        .ok_or_else(|| EvalError::new(format!("`block_size` must be positive, found {size}")))
}

/// Element `offset` of a scale or zero point.
fn element(tensor: &Tensor, offset: usize) -> EvalResult<f64> {
    tensor
        .data()
        .get(offset)
        .copied()
        .ok_or_else(|| EvalError::new(format!("no element {offset} in {tensor}")))
}

#[cfg(test)]
mod tests {
    use opfuse_ir::Attr;
    use opfuse_ir::DType::{BF16, F16, F32, F8E4M3, F8E5M2, I16, I32, I8, U8};

    use super::scale_offsets;
    use crate::rules::quant::Granularity;
    use crate::testing::{eval, eval1, tensor};

    fn text(s: &str) -> Attr {
        Attr::Str(s.to_string())
    }

    #[test]
    fn scale_offsets_per_granularity() {
        assert_eq!(scale_offsets(&[2, 2], Granularity::PerTensor), [0, 0, 0, 0]);
        assert_eq!(scale_offsets(&[2, 3], Granularity::PerAxis { axis: 1 }), [0, 1, 2, 0, 1, 2]);
        assert_eq!(scale_offsets(&[2, 3], Granularity::PerAxis { axis: 0 }), [0, 0, 0, 1, 1, 1]);
        // [2, 5] in blocks of 2 along axis 1: scales [2, 3].
        let blocked = Granularity::Blocked { axis: 1, block_size: 2 };
        assert_eq!(scale_offsets(&[2, 5], blocked), [0, 0, 1, 1, 2, 3, 3, 4, 4, 5]);
        // [4, 2] in blocks of 3 along axis 0: scales [2, 2].
        let blocked = Granularity::Blocked { axis: 0, block_size: 3 };
        assert_eq!(scale_offsets(&[4, 2], blocked), [0, 1, 0, 1, 0, 1, 2, 3]);
        assert!(scale_offsets(&[0, 3], blocked).is_empty());
    }

    #[test]
    fn quantize_linear_rounds_half_to_even_and_saturates() {
        // ONNX's test_quantizelinear.
        let x = tensor(F32, &[6], &[0.0, 2.0, 3.0, 1000.0, -254.0, -1000.0]);
        let (scale, zero) = (tensor(F32, &[], &[2.0]), tensor(U8, &[], &[128.0]));
        assert_eq!(
            eval1("quantize_linear", &[], &[x, scale.clone(), zero]),
            [128.0, 129.0, 130.0, 255.0, 1.0, 0.0]
        );
        // Halves go to even: 1/2, 3/2, 5/2, -5/2 with scale 1.
        let halves = tensor(F32, &[4], &[0.5, 1.5, 2.5, -2.5]);
        let unit = tensor(F32, &[], &[1.0]);
        assert_eq!(
            eval1("quantize_linear", &[], &[halves.clone(), unit.clone(), tensor(I8, &[], &[0.0])]),
            [0.0, 2.0, 2.0, -2.0]
        );
        // No zero point: u8, so negatives clamp to 0.
        assert_eq!(eval1("quantize_linear", &[], &[halves, unit]), [0.0, 2.0, 2.0, 0.0]);
        // The quotient rounds to the scale's dtype first: 2.5000002 / 1 is 2.5 in f16, then 2;
        // computed in f64 it stays above the half and gives 3.
        let above_half = tensor(F32, &[1], &[2.5000003]);
        let (f16_scale, zero) = (tensor(F16, &[], &[1.0]), tensor(U8, &[], &[0.0]));
        assert_eq!(
            eval1("quantize_linear", &[], &[above_half.clone(), f16_scale.clone(), zero.clone()]),
            [2.0]
        );
        assert_eq!(
            eval1("quantize_linear", &[("precision", text("f64"))], &[above_half, f16_scale, zero]),
            [3.0]
        );
        let i16 = eval1(
            "quantize_linear",
            &[("output_dtype", text("i16"))],
            &[tensor(F32, &[2], &[1e6, -7.0]), tensor(F32, &[], &[2.0])],
        );
        assert_eq!(i16, [32767.0, -4.0]);
    }

    #[test]
    fn quantize_linear_per_axis_and_blocked() {
        // ONNX's test_quantizelinear_axis (first two channels): scales [2, 4], zero points [84, 24].
        let x = tensor(F32, &[1, 2, 2], &[-162.0, 10.0, -76.0, 0.0]);
        let scale = tensor(F32, &[2], &[2.0, 4.0]);
        let zero = tensor(U8, &[2], &[84.0, 24.0]);
        assert_eq!(eval1("quantize_linear", &[], &[x, scale, zero]), [3.0, 89.0, 5.0, 24.0]);
        // Blocked along axis 1 in blocks of 2 (the last block has one element).
        let x = tensor(F32, &[2, 3], &[2.0, 4.0, 9.0, 2.0, 4.0, 9.0]);
        let scale = tensor(F32, &[2, 2], &[1.0, 3.0, 2.0, 0.5]);
        let attrs = [("axis", Attr::Int(1)), ("block_size", Attr::Int(2))];
        assert_eq!(
            eval1("quantize_linear", &attrs, &[x, scale, tensor(I8, &[2, 2], &[0.0; 4])]),
            [2.0, 4.0, 3.0, 1.0, 2.0, 18.0]
        );
    }

    #[test]
    fn quantize_linear_to_fp8() {
        // ONNX's test_quantizelinear_e4m3fn and test_quantizelinear_e5m2.
        let x = tensor(F32, &[5], &[0.0, 1.0, 2.0, 100000.0, 200.0]);
        let scale = tensor(F32, &[], &[2.0]);
        let e4m3 = eval1("quantize_linear", &[], &[x.clone(), scale.clone(), tensor(F8E4M3, &[1], &[0.0])]);
        assert_eq!(e4m3, [0.0, 0.5, 1.0, 448.0, 96.0]);
        let e5m2 = eval1("quantize_linear", &[], &[x.clone(), scale.clone(), tensor(F8E5M2, &[1], &[0.0])]);
        assert_eq!(e5m2, [0.0, 0.5, 1.0, 49152.0, 96.0]);
        let unsaturated = eval1(
            "quantize_linear",
            &[("saturate", Attr::Bool(false))],
            &[x, scale, tensor(F8E4M3, &[1], &[0.0])],
        );
        assert!(unsaturated[3].is_nan());
        assert_eq!(unsaturated[4], 96.0);
    }

    #[test]
    fn dequantize_linear_per_tensor_axis_and_fp8() {
        // ONNX's test_dequantizelinear.
        let x = tensor(U8, &[4], &[0.0, 3.0, 128.0, 255.0]);
        let got = eval1("dequantize_linear", &[], &[x, tensor(F32, &[], &[2.0]), tensor(U8, &[], &[128.0])]);
        assert_eq!(got, [-256.0, -250.0, 0.0, 254.0]);
        // ONNX's test_dequantizelinear_axis (first two channels).
        let x = tensor(U8, &[1, 2, 2], &[3.0, 89.0, 5.0, 24.0]);
        let got = eval1(
            "dequantize_linear",
            &[],
            &[x, tensor(F32, &[2], &[2.0, 4.0]), tensor(U8, &[2], &[84.0, 24.0])],
        );
        assert_eq!(got, [-162.0, 10.0, -76.0, 0.0]);
        // ONNX's test_dequantizelinear_e4m3fn_float16: the output takes the scale's dtype.
        let x = tensor(F8E4M3, &[5], &[0.0, 0.5, 1.0, 448.0, -104.0]);
        let outputs = eval("dequantize_linear", &[], &[x, tensor(F16, &[], &[2.0])]).unwrap();
        assert_eq!(outputs[0].dtype(), F16);
        assert_eq!(outputs[0].data(), [0.0, 1.0, 2.0, 896.0, -208.0]);
        let x = tensor(I32, &[2], &[-3.0, 100.0]);
        let got = eval1(
            "dequantize_linear",
            &[("output_dtype", text("bf16"))],
            &[x, tensor(F32, &[], &[0.1])],
        );
        assert_eq!(got, [-0.30078125, 10.0]);
        // Blocked: [2, 3] in blocks of 2 along axis 1.
        let x = tensor(I16, &[2, 3], &[2.0, 4.0, 9.0, 2.0, 4.0, 9.0]);
        let attrs = [("axis", Attr::Int(1)), ("block_size", Attr::Int(2))];
        let got = eval1(
            "dequantize_linear",
            &attrs,
            &[
                x,
                tensor(F32, &[2, 2], &[1.0, 3.0, 2.0, 0.5]),
                tensor(I16, &[2, 2], &[1.0, 0.0, 0.0, 1.0]),
            ],
        );
        assert_eq!(got, [1.0, 3.0, 27.0, 4.0, 8.0, 4.0]);
    }

    #[test]
    fn dynamic_quantize_linear_matches_onnx() {
        // ONNX's test_dynamicquantizelinear: scale 0.0196078438, zero point 153.
        let x = tensor(F32, &[6], &[0.0, 2.0, -3.0, -2.5, 1.34, 0.5]);
        let outputs = eval("dynamic_quantize_linear", &[], &[x]).unwrap();
        assert_eq!(outputs[0].data(), [153.0, 255.0, 0.0, 26.0, 221.0, 179.0]);
        assert_eq!(outputs[1].data(), [0.019607843831181526]);
        assert_eq!(outputs[2].data(), [153.0]);
        // test_dynamicquantizelinear_max_adjusted: all negative, zero point 255.
        let x = tensor(F32, &[6], &[-1.0, -2.1, -1.3, -2.5, -3.34, -4.0]);
        let outputs = eval("dynamic_quantize_linear", &[], &[x]).unwrap();
        assert_eq!(outputs[0].data(), [191.0, 121.0, 172.0, 96.0, 42.0, 0.0]);
        assert_eq!(outputs[1].data(), [0.01568627543747425]);
        assert_eq!(outputs[2].data(), [255.0]);
        // All zeros: the scale falls back to 1/255.
        let outputs = eval("dynamic_quantize_linear", &[], &[tensor(F32, &[2], &[0.0, 0.0])]).unwrap();
        assert_eq!(outputs[1].data(), [0.003921568859368563]);
        assert_eq!(outputs[0].data(), [0.0, 0.0]);
    }

    #[test]
    fn fp8_blocks_round_trip() {
        // Two blocks of 2 per row; scales are absmax / 448 in f32.
        let x = tensor(F32, &[2, 3], &[1.0, -4.0, 0.3, 0.0, 0.0, 7.0]);
        let outputs = eval("fp8_quantize", &[("block_size", Attr::Int(2))], &[x]).unwrap();
        // Values from numpy float32 arithmetic and ml_dtypes' float8_e4m3fn.
        assert_eq!(outputs[1].data(), [0.008928571827709675, 0.0006696428754366934, 0.0, 0.015625]);
        // 1 / (4/448) = 112 and -448 are f8e4m3 values; 0.3 / (0.3/448) rounds to 448.
        assert_eq!(outputs[0].data(), [112.0, -448.0, 448.0, 0.0, 0.0, 448.0]);
        assert_eq!(outputs[0].dtype(), F8E4M3);
        let back = eval1(
            "fp8_dequantize",
            &[("block_size", Attr::Int(2))],
            &[outputs[0].clone(), outputs[1].clone()],
        );
        assert_eq!(back, [1.0, -4.0, 0.30000001192092896, 0.0, 0.0, 7.0]);
        // Off the fp8 grid: 3 / (4/448) = 336 ties between 320 and 352 and goes to even 320;
        // 1.1 / (4/448) = 123.2 rounds to 120.
        let x = tensor(F32, &[3], &[4.0, 3.0, 1.1]);
        let outputs = eval("fp8_quantize", &[], &[x]).unwrap();
        assert_eq!(outputs[0].data(), [448.0, 320.0, 120.0]);
        let bf16 = eval1(
            "fp8_dequantize",
            &[("output_dtype", text("bf16"))],
            &[outputs[0].clone(), outputs[1].clone()],
        );
        assert_eq!(bf16, [4.0, 2.859375, 1.0703125]);
        let nan = eval("fp8_quantize", &[], &[tensor(F32, &[2], &[f64::NAN, 1.0])]).unwrap();
        assert!(nan[1].data()[0].is_nan());
    }

    #[test]
    fn int8_per_token() {
        // Row 0: absmax 2.54, scale 0.02, so -1.27 is -63.5 (to even: -64) and 0.01 is 0.5 (to 0);
        // row 1 is all zero. Values from numpy float32 arithmetic.
        let x = tensor(F32, &[2, 3], &[2.54, -1.27, 0.01, 0.0, 0.0, 0.0]);
        let outputs = eval("int8_quantize", &[], &[x]).unwrap();
        assert_eq!(outputs[1].data(), [0.019999999552965164, 0.0]);
        assert_eq!(outputs[0].data(), [127.0, -64.0, 0.0, 0.0, 0.0, 0.0]);
        assert_eq!(outputs[0].dtype(), I8);
        let outputs = eval("int8_quantize", &[], &[tensor(BF16, &[4], &[-2.0, 0.5, 1.0, 1.5])]).unwrap();
        assert_eq!(outputs[0].data(), [-127.0, 32.0, 64.0, 95.0]);
    }
}
