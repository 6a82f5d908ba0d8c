//! Elementwise ops the compiled loops leave out: the inverse and hyperbolic
//! trigonometric functions and `tan` (Cranelift has no libm calls for
//! them), `mod`, the bitwise ops and shifts (integer arithmetic, which the
//! loops do not compute), and conversions to any dtype (`cast_like`, and
//! `cast` where lowering hands it over).
//!
//! Each element computes as the interpreter's does: floats in f64 from the
//! f32 value, integers in i64 from the f32 whole number, and the result
//! rounds once to the output dtype (`DType::round`, after the
//! interpreter's own integer `wrap`), so a native stage and the oracle
//! agree exactly wherever the values travel exactly.
//!
//! They do not for 32- and 64-bit integers: bit patterns and remainders
//! use every bit, which an f32 buffer (exact below 2^24) has already lost,
//! so those stay with the interpreter, which reads the values whole. The
//! one divergence left is integer `mod` by zero, where the interpreter
//! fails: a native stage cannot, and writes 0 there.

use opfuse_ir::{Attr, Attrs, DType};
use opfuse_ops::eval::elementwise::{floor_mod, integer_remainder, wrap};

use super::to_usize;

/// One pointwise op on one or two inputs, with the output's dtype (the
/// rounding).
#[derive(Clone, Debug, PartialEq)]
pub struct Pointwise {
    pub kind: Kind,
    pub dtype: DType,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    /// Reads input 0 in order (of the output's shape).
    Unary(Unary),
    /// Reads both inputs broadcast to the output.
    Binary(Binary, Broadcast),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unary {
    Acos,
    Acosh,
    Asin,
    Asinh,
    Atan,
    Atanh,
    Cosh,
    Sinh,
    Tan,
    BitwiseNot,
    /// `cast` and `cast_like`: fp8 clamps to its finite range first with
    /// `saturate`; the output's rounding does the rest.
    Cast {
        saturate: bool,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binary {
    /// The remainder with the dividend's sign (`fmod`) or the divisor's.
    Mod {
        fmod: bool,
    },
    BitwiseAnd,
    BitwiseOr,
    BitwiseXor,
    BitShift {
        left: bool,
    },
}

/// How two inputs walk a row-major output under NumPy broadcasting: per
/// input, the step it takes along each output axis (0 where it has extent
/// 1 there or lacks the axis).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Broadcast {
    pub dims: Vec<usize>,
    pub strides: [Vec<usize>; 2],
}

impl Pointwise {
    /// `op` on inputs of `inputs` extents, the first of dtype `from`,
    /// giving `output` of `dtype`; `None` for another op, a missing
    /// attribute, shapes that do not broadcast, or an input dtype f32 does
    /// not hold exactly (the other inputs of the binary ops share it).
    pub fn lower(op: &str, attrs: &Attrs, inputs: &[Vec<u64>], output: &[u64], from: DType, dtype: DType) -> Option<Pointwise> {
        if !exact_in_f32(from) {
            return None;
        }
        let flag = |name: &str| attrs.get(name).and_then(Attr::as_bool);
        let unary = |op: Unary| match inputs {
            // `cast_like`'s second input gives only the dtype.
            [x] | [x, _] if x.as_slice() == output => Some(Kind::Unary(op)),
            _ => None,
        };
        let binary = |op: Binary| match inputs {
            [a, b] => Broadcast::new([a, b], output).map(|broadcast| Kind::Binary(op, broadcast)),
            _ => None,
        };
        let kind = match op {
            "acos" => unary(Unary::Acos),
            "acosh" => unary(Unary::Acosh),
            "asin" => unary(Unary::Asin),
            "asinh" => unary(Unary::Asinh),
            "atan" => unary(Unary::Atan),
            "atanh" => unary(Unary::Atanh),
            "cosh" => unary(Unary::Cosh),
            "sinh" => unary(Unary::Sinh),
            "tan" => unary(Unary::Tan),
            "bitwise_not" => unary(Unary::BitwiseNot),
            "cast" | "cast_like" => unary(Unary::Cast {
                saturate: flag("saturate")?,
            }),
            "mod" => binary(Binary::Mod { fmod: flag("fmod")? }),
            "bitwise_and" => binary(Binary::BitwiseAnd),
            "bitwise_or" => binary(Binary::BitwiseOr),
            "bitwise_xor" => binary(Binary::BitwiseXor),
            "bit_shift" => binary(Binary::BitShift {
                left: match attrs.get("direction").and_then(Attr::as_str)? {
                    "LEFT" => true,
                    "RIGHT" => false,
                    _ => return None,
                },
            }),
            _ => None,
        }?;
        Some(Pointwise { kind, dtype })
    }

    /// Fills `output` from `a` (and `b` for binary ops); elements past the
    /// end of a short input read as 0.
    pub fn run(&self, a: &[f32], b: &[f32], output: &mut [f32]) {
        let dtype = self.dtype;
        match &self.kind {
            Kind::Unary(op) => output
                .iter_mut()
                .zip(a)
                .for_each(|(out, &x)| *out = dtype.round(op.apply(x.into(), dtype)) as f32),
            Kind::Binary(op, broadcast) => broadcast.zip(a, b, output, |x, y| dtype.round(op.apply(x.into(), y.into(), dtype)) as f32),
        }
    }
}

impl Unary {
    /// The value before the output's rounding: floats from f64, as the
    /// interpreter's `map_unary`.
    fn apply(self, x: f64, dtype: DType) -> f64 {
        match self {
            Unary::Acos => x.acos(),
            Unary::Acosh => x.acosh(),
            Unary::Asin => x.asin(),
            Unary::Asinh => x.asinh(),
            Unary::Atan => x.atan(),
            Unary::Atanh => x.atanh(),
            Unary::Cosh => x.cosh(),
            Unary::Sinh => x.sinh(),
            Unary::Tan => x.tan(),
            Unary::BitwiseNot => wrap(!(x as i64), dtype),
            Unary::Cast { saturate: true } => dtype.saturate(x),
            Unary::Cast { saturate: false } => x,
        }
    }
}

impl Binary {
    /// The value before the output's rounding: integer outputs compute in
    /// i64 and wrap as the interpreter's `arithmetic` does; float ones
    /// (only `mod` has any) in f64.
    fn apply(self, x: f64, y: f64, dtype: DType) -> f64 {
        let (int_x, int_y) = (x as i64, y as i64);
        match self {
            Binary::Mod { fmod: true } if !dtype.is_integer() => x % y,
            Binary::Mod { fmod: false } if !dtype.is_integer() => floor_mod(x, y),
            // The interpreter fails on a zero divisor; a native stage writes 0.
            Binary::Mod { fmod } => wrap(integer_remainder(int_x, int_y, !fmod).unwrap_or(0), dtype),
            Binary::BitwiseAnd => wrap(int_x & int_y, dtype),
            Binary::BitwiseOr => wrap(int_x | int_y, dtype),
            Binary::BitwiseXor => wrap(int_x ^ int_y, dtype),
            Binary::BitShift { left } => wrap(shift(int_x, int_y, left, dtype), dtype),
        }
    }
}

impl Broadcast {
    /// The steps of inputs of extents `inputs` through `output`, or `None`
    /// where an input has more axes or an extent that is neither the
    /// output's nor 1.
    pub fn new(inputs: [&[u64]; 2], output: &[u64]) -> Option<Broadcast> {
        let dims = output.iter().map(|&d| to_usize(d)).collect::<Option<Vec<_>>>()?;
        let [a, b] = inputs.map(|input| steps(input, &dims));
        Some(Broadcast { dims, strides: [a?, b?] })
    }

    /// `output[i] = f(a at i, b at i)`, a row of the last axis at a time.
    fn zip(&self, a: &[f32], b: &[f32], output: &mut [f32], f: impl Fn(f32, f32) -> f32) {
        let [a_steps, b_steps] = &self.strides;
        let (leading, inner) = self.dims.split_at(self.dims.len().saturating_sub(1));
        let inner = inner.first().copied().unwrap_or(1);
        let rows: usize = leading.iter().product();
        let (a_inner, b_inner) = (a_steps.last().copied().unwrap_or(0), b_steps.last().copied().unwrap_or(0));
        let mut index = vec![0usize; leading.len()];
        let (mut a_at, mut b_at) = (0usize, 0usize);
        for row in output.chunks_mut(inner.max(1)).take(rows) {
            for (j, out) in row.iter_mut().enumerate() {
                let x = a.get(a_at + j * a_inner).copied().unwrap_or(0.0);
                let y = b.get(b_at + j * b_inner).copied().unwrap_or(0.0);
                *out = f(x, y);
            }
            // The next row: an odometer over the leading axes.
            for (axis, position) in index.iter_mut().enumerate().rev() {
                let (extent, a_step, b_step) = (
                    leading.get(axis).copied().unwrap_or(1),
                    a_steps.get(axis).copied().unwrap_or(0),
                    b_steps.get(axis).copied().unwrap_or(0),
                );
                *position += 1;
                a_at += a_step;
                b_at += b_step;
                if *position < extent {
                    break;
                }
                a_at -= a_step * extent;
                b_at -= b_step * extent;
                *position = 0;
            }
        }
    }
}

/// Whether an f32 holds every value of `dtype`. A float input is enough
/// for any output: a whole f32 of 2^24 or more has at most 24 significant
/// bits, and wrapping it to an integer width keeps it a multiple of the
/// same power of two, so the result is an f32 again.
fn exact_in_f32(dtype: DType) -> bool {
    matches!(
        dtype,
        DType::F32 | DType::F16 | DType::BF16 | DType::Bool | DType::I8 | DType::U8 | DType::I16 | DType::U16
    )
}

/// The step of an input of extents `input` along each axis of `output`.
fn steps(input: &[u64], output: &[usize]) -> Option<Vec<usize>> {
    let lead = output.len().checked_sub(input.len())?;
    let mut stride = 1usize;
    let mut steps = vec![0; output.len()];
    for (axis, &extent) in input.iter().enumerate().rev() {
        let extent = to_usize(extent)?;
        let out_extent = *output.get(lead + axis)?;
        if extent != 1 {
            if extent != out_extent {
                return None;
            }
            *steps.get_mut(lead + axis)? = stride;
        }
        stride = stride.checked_mul(extent)?;
    }
    Some(steps)
}

/// Right shifts of signed values are arithmetic; a shift outside
/// `[0, bits)` of the output dtype leaves only the sign (ONNX opset 28).
fn shift(x: i64, by: i64, left: bool, dtype: DType) -> i64 {
    let bits = 8 * dtype.size_bytes() as i64;
    match (left, (0..bits).contains(&by)) {
        (true, true) => x.wrapping_shl(by as u32),
        (false, true) => x >> by,
        (true, false) => 0,
        (false, false) => -i64::from(x < 0),
    }
}

#[cfg(test)]
mod tests {
    use opfuse_ir::{Attr, DType, Tensor, TensorType};

    /// Runs `op` natively on `inputs` and expects the interpreter's output
    /// bit for bit (NaN matching NaN).
    #[track_caller]
    fn check(op: &str, attrs: &[(&str, Attr)], inputs: &[Tensor]) {
        let (expected, found) = crate::native::testing::both(op, attrs, inputs);
        let (expected, found) = (&expected[0], &found[0]);
        let same = expected.len() == found.len()
            && expected
                .iter()
                .zip(found)
                .all(|(e, f)| e.to_bits() == f.to_bits() || (e.is_nan() && f.is_nan()));
        assert!(same, "`{op}`: expected {expected:?}, found {found:?}");
    }

    fn tensor(dtype: DType, dims: &[u64], data: &[f64]) -> Tensor {
        Tensor::new(TensorType::new(dtype, dims.to_vec()), data.to_vec()).unwrap()
    }

    fn text(s: &str) -> Attr {
        Attr::Str(s.to_string())
    }

    /// Values across every function's domain and beyond it (NaN there).
    fn floats(dtype: DType) -> Tensor {
        let data = [
            -3.5,
            -1.0,
            -0.7,
            -0.0,
            0.0,
            0.3,
            0.999,
            1.0,
            1.5,
            20.0,
            100.0,
            f64::INFINITY,
            f64::NAN,
        ];
        tensor(dtype, &[data.len() as u64], &data)
    }

    #[test]
    fn trigonometric_and_hyperbolic_functions_round_like_the_interpreter() {
        for op in ["acos", "acosh", "asin", "asinh", "atan", "atanh", "cosh", "sinh", "tan"] {
            for dtype in [DType::F32, DType::F16, DType::BF16] {
                check(op, &[], &[floats(dtype)]);
            }
        }
    }

    #[test]
    fn modulo_follows_python_or_c_and_broadcasts() {
        let x = tensor(DType::I16, &[2, 3], &[-4.0, 7.0, 5.0, 4.0, -7.0, 8.0]);
        let y = tensor(DType::I16, &[3], &[2.0, -3.0, 8.0]);
        for fmod in [false, true] {
            check("mod", &[("fmod", Attr::Bool(fmod))], &[x.clone(), y.clone()]);
            check("mod", &[("fmod", Attr::Bool(fmod))], &[y.clone(), x.clone()]);
        }
        let x = tensor(DType::F32, &[2, 1], &[-4.3, 7.25]);
        let y = tensor(DType::F32, &[1, 5], &[2.1, -3.4, f64::INFINITY, 0.0, -0.5]);
        for fmod in [false, true] {
            check("mod", &[("fmod", Attr::Bool(fmod))], &[x.clone(), y.clone()]);
        }
        check("mod", &[], &[floats(DType::F16), tensor(DType::F16, &[], &[-0.75])]);
    }

    #[test]
    fn integer_modulo_by_zero_writes_zero_where_the_interpreter_fails() {
        let modulo = super::Pointwise::lower(
            "mod",
            &[("fmod".to_string(), Attr::Bool(false))].into_iter().collect(),
            &[vec![2], vec![2]],
            &[2],
            DType::I16,
            DType::I16,
        )
        .unwrap();
        let mut out = [f32::NAN; 2];
        modulo.run(&[7.0, -7.0], &[0.0, 3.0], &mut out);
        assert_eq!(out, [0.0, 2.0]);
    }

    #[test]
    fn wide_integers_stay_with_the_interpreter() {
        let lower =
            |op: &str, from: DType, dtype: DType| super::Pointwise::lower(op, &Default::default(), &[vec![2], vec![2]], &[2], from, dtype);
        for dtype in [DType::I32, DType::U32, DType::I64, DType::U64] {
            assert_eq!(lower("bitwise_and", dtype, dtype), None);
            assert_eq!(lower("bitwise_not", dtype, dtype), None);
        }
        let cast = |from: DType| {
            let attrs = [("saturate".to_string(), Attr::Bool(true))].into_iter().collect();
            super::Pointwise::lower("cast_like", &attrs, &[vec![2], vec![1]], &[2], from, DType::I8)
        };
        assert_eq!(cast(DType::I64), None);
        assert!(cast(DType::F32).is_some());
    }

    #[test]
    fn bitwise_ops_wrap_to_the_output_dtype() {
        let pairs = [
            (DType::I8, [-1.0, 12.0, -128.0, 127.0], [15.0, 10.0, -1.0, 3.0]),
            (DType::U8, [255.0, 12.0, 0.0, 128.0], [15.0, 10.0, 7.0, 255.0]),
            (DType::I16, [-1.0, 32767.0, -32768.0, 3.0], [15.0, 255.0, 4095.0, 0.0]),
            (DType::U16, [65535.0, 32768.0, 1000.0, 3.0], [15.0, 255.0, 4095.0, 0.0]),
        ];
        for (dtype, a, b) in pairs {
            let (a, b) = (tensor(dtype, &[2, 2], &a), tensor(dtype, &[2, 2], &b));
            for op in ["bitwise_and", "bitwise_or", "bitwise_xor"] {
                check(op, &[], &[a.clone(), b.clone()]);
            }
            check("bitwise_not", &[], std::slice::from_ref(&a));
        }
        check(
            "bitwise_and",
            &[],
            &[
                tensor(DType::U16, &[3, 1], &[1.0, 2.0, 65535.0]),
                tensor(DType::U16, &[2], &[3.0, 6.0]),
            ],
        );
        check("bitwise_not", &[], &[tensor(DType::U16, &[2], &[0.0, 5.0])]);
    }

    #[test]
    fn bit_shifts_leave_the_sign_outside_the_width() {
        for direction in ["LEFT", "RIGHT"] {
            let attrs = [("direction", text(direction))];
            let x = tensor(DType::I8, &[2, 3], &[-16.0, -16.0, 16.0, -1.0, 64.0, 1.0]);
            let shifts = tensor(DType::I8, &[3], &[2.0, 9.0, -1.0]);
            check("bit_shift", &attrs, &[x, shifts]);
            let x = tensor(DType::U8, &[4], &[16.0, 200.0, 1.0, 255.0]);
            check("bit_shift", &attrs, &[x, tensor(DType::U8, &[4], &[1.0, 1.0, 8.0, 7.0])]);
            let x = tensor(DType::I16, &[3], &[1.0, -3.0, 5.0]);
            check("bit_shift", &attrs, &[x, tensor(DType::I16, &[3], &[12.0, 15.0, 16.0])]);
        }
    }

    #[test]
    fn casts_truncate_wrap_saturate_and_round() {
        let x = floats(DType::F32);
        for to in ["i8", "u8", "i16", "u16", "i32", "i64", "bool", "f16", "bf16", "f32"] {
            for saturate in [true, false] {
                check(
                    "cast",
                    &[("to", text(to)), ("saturate", Attr::Bool(saturate))],
                    std::slice::from_ref(&x),
                );
            }
        }
        let wide = tensor(DType::I16, &[4], &[200.0, -129.0, 256.0, -1.0]);
        for to in ["i8", "u8", "i32", "u64", "bool", "f16"] {
            check("cast", &[("to", text(to))], std::slice::from_ref(&wide));
        }
        for like in [DType::I8, DType::U8, DType::Bool, DType::BF16, DType::F16] {
            check("cast_like", &[], &[x.clone(), tensor(like, &[1], &[0.0])]);
            check("cast_like", &[], &[wide.clone(), tensor(like, &[], &[0.0])]);
        }
    }
}
