//! Reference semantics of elementwise operators, as ONNX defines them: NumPy
//! broadcasting, NaN that propagates through arithmetic and `max`/`min`,
//! integers that wrap, integer division that truncates toward zero and
//! fails on a zero divisor.
//!
//! Floats compute in f64 and round once, to the output dtype. Integer
//! arithmetic computes in i64 and wraps to the output dtype's width before
//! the result becomes an f64 again, so the wrap is exact.

use std::f64::consts::{FRAC_2_SQRT_PI, PI, SQRT_2};

use opfuse_ir::{DType, Tensor};

use super::support::{broadcast_offsets, map_unary};
use super::{EvalArgs, EvalError, EvalFn, EvalResult};

/// Semantics of this family, by catalog name.
#[rustfmt::skip]
pub const EVAL: &[(&str, EvalFn)] = &[
    ("neg", |a| map_unary(a, |x| -x)),
    ("abs", |a| map_unary(a, f64::abs)),
    ("relu", |a| map_unary(a, |x| if x < 0.0 { 0.0 } else { x })),
    ("sign", |a| map_unary(a, sign)),
    ("shrink", shrink),
    ("clip", clip),
    ("identity", |a| map_unary(a, |x| x)),
    ("exp", |a| map_unary(a, f64::exp)),
    ("log", |a| map_unary(a, f64::ln)),
    ("sqrt", |a| map_unary(a, f64::sqrt)),
    ("rsqrt", |a| map_unary(a, |x| 1.0 / x.sqrt())),
    ("reciprocal", |a| map_unary(a, |x| 1.0 / x)),
    ("floor", |a| map_unary(a, f64::floor)),
    ("ceil", |a| map_unary(a, f64::ceil)),
    ("round", |a| map_unary(a, f64::round_ties_even)),
    ("erf", |a| map_unary(a, erf)),
    ("sin", |a| map_unary(a, f64::sin)),
    ("cos", |a| map_unary(a, f64::cos)),
    ("tan", |a| map_unary(a, f64::tan)),
    ("asin", |a| map_unary(a, f64::asin)),
    ("acos", |a| map_unary(a, f64::acos)),
    ("atan", |a| map_unary(a, f64::atan)),
    ("sinh", |a| map_unary(a, f64::sinh)),
    ("cosh", |a| map_unary(a, f64::cosh)),
    ("tanh", |a| map_unary(a, f64::tanh)),
    ("asinh", |a| map_unary(a, f64::asinh)),
    ("acosh", |a| map_unary(a, f64::acosh)),
    ("atanh", |a| map_unary(a, f64::atanh)),
    ("sigmoid", |a| map_unary(a, sigmoid)),
    ("silu", |a| map_unary(a, |x| x * sigmoid(x))),
    ("swish", swish),
    ("gelu", gelu),
    ("softplus", |a| map_unary(a, softplus)),
    ("softsign", |a| map_unary(a, |x| x / (1.0 + x.abs()))),
    ("mish", |a| map_unary(a, |x| x * softplus(x).tanh())),
    ("hard_sigmoid", hard_sigmoid),
    ("hard_swish", |a| map_unary(a, |x| x * clamp_unit(x / 6.0 + 0.5))),
    ("leaky_relu", leaky_relu),
    ("elu", elu),
    ("selu", selu),
    ("celu", celu),
    ("thresholded_relu", thresholded_relu),
    ("prelu", prelu),
    ("is_nan", |a| map_unary(a, |x| bool_value(x.is_nan()))),
    ("is_inf", is_inf),
    ("add", |a| arithmetic(a, |x, y| x + y, |x, y| Ok(x.wrapping_add(y)))),
    ("sub", |a| arithmetic(a, |x, y| x - y, |x, y| Ok(x.wrapping_sub(y)))),
    ("mul", |a| arithmetic(a, |x, y| x * y, |x, y| Ok(x.wrapping_mul(y)))),
    ("div", |a| arithmetic(a, |x, y| x / y, integer_div)),
    ("mod", modulo),
    ("pow", pow),
    ("max", |a| arithmetic(a, nan_max, |x, y| Ok(x.max(y)))),
    ("min", |a| arithmetic(a, nan_min, |x, y| Ok(x.min(y)))),
    ("add_n", |a| arithmetic(a, |x, y| x + y, |x, y| Ok(x.wrapping_add(y)))),
    ("mean_n", mean_n),
    ("equal", |a| compare(a, |x, y| x == y)),
    ("less", |a| compare(a, |x, y| x < y)),
    ("greater", |a| compare(a, |x, y| x > y)),
    ("less_equal", |a| compare(a, |x, y| x <= y)),
    ("greater_equal", |a| compare(a, |x, y| x >= y)),
    ("not", |a| map_unary(a, |x| bool_value(x == 0.0))),
    ("and", |a| compare(a, |x, y| x != 0.0 && y != 0.0)),
    ("or", |a| compare(a, |x, y| x != 0.0 || y != 0.0)),
    ("xor", |a| compare(a, |x, y| (x != 0.0) != (y != 0.0))),
    ("bitwise_not", bitwise_not),
    ("bitwise_and", |a| bitwise(a, |x, y| x & y)),
    ("bitwise_or", |a| bitwise(a, |x, y| x | y)),
    ("bitwise_xor", |a| bitwise(a, |x, y| x ^ y)),
    ("bit_shift", bit_shift),
    ("where", where_),
    ("cast", cast),
    ("cast_like", cast),
    ("constant", constant),
];

/// The error function, correctly rounded but in rare cases.
///
/// Below 3 it sums the Taylor series `2/sqrt(pi) * sum (-1)^n x^(2n+1) / (n! (2n+1))`
/// in double-double arithmetic (about 106 bits), so the cancellation
/// between its terms (at most a factor of ~200 there) costs nothing that
/// shows in an f64. From 3 it is `1 - erfc(x)`, with erfc from its
/// continued fraction; beyond 6, erfc is below 2^-53 and erf rounds to 1.
pub fn erf(x: f64) -> f64 {
    let magnitude = x.abs();
    if x.is_nan() || magnitude < 3.0 {
        return erf_taylor(x);
    }
    if magnitude > 6.0 {
        return 1f64.copysign(x);
    }
    (1.0 - erfc_continued_fraction(magnitude)).copysign(x)
}

/// An integer in `dtype`'s range, wrapped as two's complement, as an f64.
pub fn wrap(value: i64, dtype: DType) -> f64 {
    match dtype {
        DType::I8 => value as i8 as f64,
        DType::U8 => value as u8 as f64,
        DType::I16 => value as i16 as f64,
        DType::I32 => value as i32 as f64,
        DType::Bool => bool_value(value != 0),
        _ => value as f64,
    }
}

/// 1 for true, 0 for false: how bools are stored.
pub fn bool_value(b: bool) -> f64 {
    f64::from(u8::from(b))
}

/// The data of inputs `0..count`, broadcast to output 0's shape.
pub fn broadcast_inputs(args: &EvalArgs<'_>, count: usize) -> EvalResult<Vec<Vec<f64>>> {
    let out = args.output_type(0)?.shape.dims().to_vec();
    (0..count)
        .map(|index| {
            let input = args.input(index)?;
            broadcast_offsets(&out, input.dims())
                .into_iter()
                .map(|offset| {
                    input
                        .data()
                        .get(offset)
                        .copied()
                        .ok_or_else(|| EvalError::new(format!("input {} does not broadcast to {:?}", index + 1, out)))
                })
                .collect()
        })
        .collect()
}

/// Output 0 from folding every input, broadcast, with `float` (float
/// dtypes) or `int` (integer dtypes).
fn arithmetic(args: &EvalArgs<'_>, float: fn(f64, f64) -> f64, int: fn(i64, i64) -> EvalResult<i64>) -> EvalResult<Vec<Tensor>> {
    let dtype = args.output_type(0)?.dtype;
    let mut operands = broadcast_inputs(args, args.inputs.len())?.into_iter();
    let mut acc = operands.next().ok_or_else(|| EvalError::new("expected at least one input"))?;
    for operand in operands {
        for (a, b) in acc.iter_mut().zip(operand) {
            *a = match dtype.is_integer() {
                true => wrap(int(*a as i64, b as i64)?, dtype),
                false => float(*a, b),
            };
        }
    }
    Ok(vec![args.output(0, acc)?])
}

/// A bool per broadcast pair of inputs 0 and 1.
fn compare(args: &EvalArgs<'_>, f: fn(f64, f64) -> bool) -> EvalResult<Vec<Tensor>> {
    let [a, b] = pair(args)?;
    let data = a.iter().zip(&b).map(|(&x, &y)| bool_value(f(x, y))).collect();
    Ok(vec![args.output(0, data)?])
}

/// Inputs 0 and 1, broadcast to output 0's shape.
fn pair(args: &EvalArgs<'_>) -> EvalResult<[Vec<f64>; 2]> {
    let mut operands = broadcast_inputs(args, 2)?.into_iter();
    match (operands.next(), operands.next()) {
        (Some(a), Some(b)) => Ok([a, b]),
        _ => Err(EvalError::new("expected two inputs")),
    }
}

/// ONNX `Div` on integers truncates toward zero, as C does.
fn integer_div(a: i64, b: i64) -> EvalResult<i64> {
    match b {
        0 => Err(EvalError::new(format!("integer division by zero ({a} / 0)"))),
        _ => Ok(a.wrapping_div(b)),
    }
}

/// `fmod = false`: the remainder takes the divisor's sign (Python's `%`,
/// `a - floor(a / b) * b`); `fmod = true`: the dividend's (C's `fmod`).
fn modulo(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    match args.args.bool("fmod")? {
        true => arithmetic(args, |a, b| a % b, |a, b| integer_remainder(a, b, false)),
        false => arithmetic(args, floor_mod, |a, b| integer_remainder(a, b, true)),
    }
}

pub fn integer_remainder(a: i64, b: i64, divisor_sign: bool) -> EvalResult<i64> {
    if b == 0 {
        return Err(EvalError::new(format!("integer modulo by zero ({a} mod 0)")));
    }
    let r = a.wrapping_rem(b);
    Ok(match divisor_sign && r != 0 && (r < 0) != (b < 0) {
        true => r + b,
        false => r,
    })
}

/// NumPy's `mod` on floats: a zero remainder takes the divisor's sign;
/// infinities and zero divisors give NaN.
pub fn floor_mod(a: f64, b: f64) -> f64 {
    let r = a % b;
    if r == 0.0 {
        0f64.copysign(b)
    } else if (r < 0.0) != (b < 0.0) {
        r + b
    } else {
        r
    }
}

/// Integer bases with integer exponents power exactly (wrapping); any
/// other pair goes through f64 and rounds to the base's dtype.
fn pow(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let dtype = args.output_type(0)?.dtype;
    let exponent_dtype = args.input(1)?.dtype();
    let [bases, exponents] = pair(args)?;
    let data = bases
        .iter()
        .zip(&exponents)
        .map(|(&base, &exponent)| match dtype.is_integer() && exponent_dtype.is_integer() {
            true => integer_pow(base as i64, exponent as i64).map(|v| wrap(v, dtype)),
            false => Ok(base.powf(exponent)),
        })
        .collect::<EvalResult<Vec<f64>>>()?;
    Ok(vec![args.output(0, data)?])
}

/// A negative exponent gives `1 / base^n` truncated toward zero.
fn integer_pow(base: i64, exponent: i64) -> EvalResult<i64> {
    if exponent < 0 {
        return match base {
            0 => Err(EvalError::new(format!("integer 0 to the negative power {exponent}"))),
            1 => Ok(1),
            -1 => Ok(if exponent % 2 == 0 { 1 } else { -1 }),
            _ => Ok(0),
        };
    }
    let (mut result, mut square, mut rest) = (1i64, base, exponent as u64);
    while rest > 0 {
        if rest & 1 == 1 {
            result = result.wrapping_mul(square);
        }
        square = square.wrapping_mul(square);
        rest >>= 1;
    }
    Ok(result)
}

fn nan_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

fn nan_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

fn mean_n(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let count = args.inputs.len() as f64;
    let operands = broadcast_inputs(args, args.inputs.len())?;
    let mut sums = vec![0.0; operands.first().map_or(0, Vec::len)];
    for operand in &operands {
        sums.iter_mut().zip(operand).for_each(|(sum, x)| *sum += x);
    }
    let data = sums.into_iter().map(|sum| sum / count).collect();
    Ok(vec![args.output(0, data)?])
}

fn bitwise(args: &EvalArgs<'_>, f: fn(i64, i64) -> i64) -> EvalResult<Vec<Tensor>> {
    let dtype = args.output_type(0)?.dtype;
    let [a, b] = pair(args)?;
    let data = a.iter().zip(&b).map(|(&x, &y)| wrap(f(x as i64, y as i64), dtype)).collect();
    Ok(vec![args.output(0, data)?])
}

fn bitwise_not(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let dtype = args.output_type(0)?.dtype;
    map_unary(args, |x| wrap(!(x as i64), dtype))
}

/// Right shifts of signed values are arithmetic; a shift outside
/// `[0, bits)` leaves only the sign: -1 for a right shift of a negative
/// value, 0 otherwise (ONNX opset 28).
fn bit_shift(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let left = args.args.string("direction")? == "LEFT";
    let dtype = args.output_type(0)?.dtype;
    let bits = 8 * dtype.size_bytes() as i64;
    let [values, shifts] = pair(args)?;
    let data = values
        .iter()
        .zip(&shifts)
        .map(|(&x, &s)| {
            let (x, s) = (x as i64, s as i64);
            let shifted = match (left, (0..bits).contains(&s)) {
                (true, true) => x.wrapping_shl(s as u32),
                (false, true) => x >> s,
                (true, false) => 0,
                (false, false) => -i64::from(x < 0),
            };
            wrap(shifted, dtype)
        })
        .collect();
    Ok(vec![args.output(0, data)?])
}

fn where_(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let operands = broadcast_inputs(args, 3)?;
    let [condition, x, y] = operands.as_slice() else {
        return Err(EvalError::new("`where` takes three inputs"));
    };
    let data = condition
        .iter()
        .zip(x.iter().zip(y))
        .map(|(&c, (&a, &b))| if c != 0.0 { a } else { b })
        .collect();
    Ok(vec![args.output(0, data)?])
}

/// `cast` and `cast_like`: the output's rounding does the conversion
/// (nearest even for floats; truncate and wrap for integers); fp8 clamps to
/// its finite range first unless `saturate = false`, where overflow is NaN
/// (f8e4m3) or infinite (f8e5m2).
fn cast(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let dtype = args.output_type(0)?.dtype;
    match args.args.bool("saturate")? {
        true => map_unary(args, |x| dtype.saturate(x)),
        false => map_unary(args, |x| x),
    }
}

fn constant(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    Ok(vec![args.output(0, vec![args.args.float("value")?])?])
}

fn sign(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        x
    }
}

fn shrink(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let (bias, lambd) = (args.args.float("bias")?, args.args.float("lambd")?);
    map_unary(args, |x| {
        if x < -lambd {
            x + bias
        } else if x > lambd {
            x - bias
        } else {
            0.0
        }
    })
}

/// NaN stays NaN; when `min > max` everything becomes `max`.
fn clip(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let (low, high) = (args.args.float("min")?, args.args.float("max")?);
    map_unary(args, |x| if x.is_nan() { x } else { x.max(low).min(high) })
}

fn is_inf(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let positive = args.args.bool("detect_positive")?;
    let negative = args.args.bool("detect_negative")?;
    map_unary(args, |x| {
        bool_value((positive && x == f64::INFINITY) || (negative && x == f64::NEG_INFINITY))
    })
}

/// Evaluated on the side where `e^-|x|` cannot overflow.
pub(super) fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// `ln(1 + e^x)`, without overflow for large `x`.
fn softplus(x: f64) -> f64 {
    if x > 0.0 {
        x + (-x).exp().ln_1p()
    } else {
        x.exp().ln_1p()
    }
}

/// Clamps to [0, 1], keeping NaN.
fn clamp_unit(x: f64) -> f64 {
    x.clamp(0.0, 1.0)
}

fn swish(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let alpha = args.args.float("alpha")?;
    map_unary(args, |x| x * sigmoid(alpha * x))
}

/// The erf form as PyTorch and ONNX write it, `0.5 x (1 + erf(x / sqrt 2))`,
/// or the tanh approximation.
fn gelu(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    match args.args.string("approximate")?.as_str() {
        "tanh" => {
            let scale = (2.0 / PI).sqrt();
            map_unary(args, |x| 0.5 * x * (1.0 + (scale * (x + 0.044715 * x * x * x)).tanh()))
        }
        _ => map_unary(args, |x| 0.5 * x * (1.0 + erf(x / SQRT_2))),
    }
}

fn hard_sigmoid(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let (alpha, beta) = (args.args.float("alpha")?, args.args.float("beta")?);
    map_unary(args, |x| clamp_unit(alpha * x + beta))
}

fn leaky_relu(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let alpha = args.args.float("alpha")?;
    map_unary(args, |x| if x < 0.0 { alpha * x } else { x })
}

fn elu(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let alpha = args.args.float("alpha")?;
    map_unary(args, |x| if x < 0.0 { alpha * x.exp_m1() } else { x })
}

fn selu(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let (alpha, gamma) = (args.args.float("alpha")?, args.args.float("gamma")?);
    map_unary(args, |x| if x > 0.0 { gamma * x } else { gamma * alpha * x.exp_m1() })
}

/// `max(0, x) + min(0, alpha (e^(x/alpha) - 1))`, which is `x` for positive
/// `x` and the second term otherwise, whatever the sign of `alpha`.
fn celu(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let alpha = args.args.float("alpha")?;
    map_unary(args, |x| if x > 0.0 { x } else { alpha * (x / alpha).exp_m1() })
}

/// `slope` broadcasts to `x`'s shape, which is output 0's.
fn prelu(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    arithmetic(
        args,
        |x, slope| if x < 0.0 { slope * x } else { x },
        |x, slope| Ok(if x < 0 { slope.wrapping_mul(x) } else { x }),
    )
}

fn thresholded_relu(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let alpha = args.args.float("alpha")?;
    map_unary(args, |x| if x > alpha { x } else { 0.0 })
}

/// A double-double number: the unevaluated sum `hi + lo`, with `|lo|` at
/// most half an ulp of `hi`.
#[derive(Clone, Copy, Debug)]
struct DoubleDouble {
    hi: f64,
    lo: f64,
}

impl DoubleDouble {
    fn new(hi: f64) -> DoubleDouble {
        DoubleDouble { hi, lo: 0.0 }
    }

    /// `a + b` exactly, as a rounded sum and its error (Knuth's two-sum).
    fn two_sum(a: f64, b: f64) -> DoubleDouble {
        let hi = a + b;
        let b_part = hi - a;
        let lo = (a - (hi - b_part)) + (b - b_part);
        DoubleDouble { hi, lo }
    }

    /// `a * b` exactly, the error from a fused multiply-add.
    fn two_product(a: f64, b: f64) -> DoubleDouble {
        let hi = a * b;
        DoubleDouble { hi, lo: a.mul_add(b, -hi) }
    }

    fn add(self, other: DoubleDouble) -> DoubleDouble {
        let sum = DoubleDouble::two_sum(self.hi, other.hi);
        DoubleDouble::two_sum(sum.hi, sum.lo + self.lo + other.lo)
    }

    fn mul(self, other: DoubleDouble) -> DoubleDouble {
        let product = DoubleDouble::two_product(self.hi, other.hi);
        DoubleDouble::two_sum(product.hi, product.lo + self.hi * other.lo + self.lo * other.hi)
    }

    fn div(self, divisor: f64) -> DoubleDouble {
        let quotient = self.hi / divisor;
        let back = DoubleDouble::two_product(quotient, divisor);
        let correction = (self.hi - back.hi - back.lo + self.lo) / divisor;
        DoubleDouble::two_sum(quotient, correction)
    }

    fn neg(self) -> DoubleDouble {
        DoubleDouble {
            hi: -self.hi,
            lo: -self.lo,
        }
    }
}

/// `2 / sqrt(pi)` to about 107 bits: the f64 constant and its remainder.
const TWO_OVER_SQRT_PI: DoubleDouble = DoubleDouble {
    hi: FRAC_2_SQRT_PI,
    lo: 1.533545961316588e-17,
};

fn erf_taylor(x: f64) -> f64 {
    let minus_x_squared = DoubleDouble::two_product(x, x).neg();
    let mut power = DoubleDouble::new(x);
    let mut sum = DoubleDouble::new(x);
    for n in 1..200 {
        power = power.mul(minus_x_squared).div(n as f64);
        let term = power.div((2 * n + 1) as f64);
        sum = sum.add(term);
        if term.hi.abs() <= sum.hi.abs() * 1e-33 {
            break;
        }
    }
    let result = TWO_OVER_SQRT_PI.mul(sum);
    result.hi + result.lo
}

/// erfc for `x >= 3`: `e^(-x^2) / sqrt(pi)` over the continued fraction
/// `x + (1/2) / (x + 1 / (x + (3/2) / (x + ...)))`, evaluated by Lentz's method.
fn erfc_continued_fraction(x: f64) -> f64 {
    let (mut fraction, mut c, mut d) = (x, x, 0.0);
    for k in 1..500 {
        let a = k as f64 / 2.0;
        d = 1.0 / (x + a * d);
        c = x + a / c;
        let delta = c * d;
        fraction *= delta;
        if (delta - 1.0).abs() < 1e-16 {
            break;
        }
    }
    // e^(-x^2) with the rounding error of x^2 put back: e^(-(hi + lo)) ~ e^-hi (1 - lo).
    let square = DoubleDouble::two_product(x, x);
    let gaussian = (-square.hi).exp() * (1.0 - square.lo);
    gaussian * (FRAC_2_SQRT_PI / 2.0) / fraction
}

#[cfg(test)]
mod tests {
    use opfuse_ir::Attr;
    use opfuse_ir::DType::{self, Bool, BF16, F16, F32, F64, I16, I32, I64, I8, U8};

    use std::f64::consts::{FRAC_PI_4, FRAC_PI_6, LN_2};

    use super::erf;
    use crate::testing::{eval, eval1, tensor};

    fn text(s: &str) -> Attr {
        Attr::Str(s.to_string())
    }

    /// `op` of a 1-d f64 tensor holding `xs`, so no rounding hides an error.
    fn unary(op: &str, attrs: &[(&str, Attr)], xs: &[f64]) -> Vec<f64> {
        eval1(op, attrs, &[tensor(F64, &[xs.len() as u64], xs)])
    }

    #[track_caller]
    fn assert_close(got: &[f64], expected: &[f64], tolerance: f64) {
        assert_eq!(got.len(), expected.len(), "got {got:?}, expected {expected:?}");
        for (g, e) in got.iter().zip(expected) {
            let ok = (g.is_nan() && e.is_nan()) || g == e || (g - e).abs() <= tolerance * e.abs().max(1e-300);
            assert!(ok, "got {got:?}, expected {expected:?}");
        }
    }

    #[test]
    fn erf_matches_known_values() {
        // Values from Python's math.erf, checked against mpmath at 200 bits.
        assert_eq!(erf(0.5), 0.5204998778130465);
        assert_eq!(erf(1.0), 0.8427007929497149);
        assert_eq!(erf(2.0), 0.9953222650189527);
        assert_eq!(erf(-3.0), -0.9999779095030014);
        assert_eq!(erf(4.5), 0.9999999998033839);
        assert_eq!(erf(1e-10), 1.1283791670955126e-10);
        assert_eq!(erf(0.0), 0.0);
        assert_eq!(erf(7.0), 1.0);
        assert_eq!(erf(f64::NEG_INFINITY), -1.0);
        assert!(erf(f64::NAN).is_nan());
        for (x, expected) in [
            (0.1, 0.1124629160182849),
            (1.5, 0.9661051464753108),
            (2.9, 0.9999589021219005),
            (3.3, 0.9999969422902035),
        ] {
            assert_close(&[erf(x)], &[expected], 2e-16);
        }
    }

    #[test]
    fn transcendental_maps() {
        // Expected values from numpy (float64).
        assert_close(&unary("erf", &[], &[-0.5, 2.0]), &[-0.5204998778130465, 0.9953222650189527], 0.0);
        assert_close(&unary("tan", &[], &[1.0]), &[1.5574077246549023], 1e-15);
        assert_close(&unary("asin", &[], &[0.5, 2.0]), &[FRAC_PI_6, f64::NAN], 1e-15);
        assert_close(&unary("acos", &[], &[0.5]), &[1.0471975511965976], 1e-15);
        assert_close(&unary("atan", &[], &[1.0]), &[FRAC_PI_4], 1e-15);
        assert_close(&unary("sinh", &[], &[1.0]), &[1.1752011936438014], 1e-15);
        assert_close(&unary("cosh", &[], &[1.0]), &[1.5430806348152437], 1e-15);
        assert_close(&unary("asinh", &[], &[1.0]), &[0.881373587019543], 1e-15);
        assert_close(&unary("acosh", &[], &[2.0, 0.5]), &[1.3169578969248168, f64::NAN], 1e-15);
        assert_close(&unary("atanh", &[], &[0.5]), &[0.5493061443340549], 1e-15);
        assert_close(&unary("rsqrt", &[], &[4.0, 0.0]), &[0.5, f64::INFINITY], 0.0);
        assert_close(&unary("log", &[], &[-1.0, 0.0]), &[f64::NAN, f64::NEG_INFINITY], 0.0);
    }

    #[test]
    fn basic_maps() {
        // Expected values from numpy (float64).
        assert_eq!(unary("neg", &[], &[1.5, -0.0]), [-1.5, 0.0]);
        assert_eq!(unary("abs", &[], &[-2.5, 3.0]), [2.5, 3.0]);
        assert_eq!(eval1("neg", &[], &[tensor(I8, &[2], &[-128.0, 5.0])]), [-128.0, -5.0]);
        assert_eq!(eval1("abs", &[], &[tensor(I32, &[2], &[-7.0, 7.0])]), [7.0, 7.0]);
        assert_close(&unary("exp", &[], &[1.0, -1.0]), &[std::f64::consts::E, 0.36787944117144233], 1e-15);
        assert_close(&unary("sqrt", &[], &[2.0, -1.0]), &[std::f64::consts::SQRT_2, f64::NAN], 0.0);
        assert_close(&unary("reciprocal", &[], &[4.0, 0.0]), &[0.25, f64::INFINITY], 0.0);
        assert_close(&unary("sin", &[], &[1.0]), &[0.8414709848078965], 1e-15);
        assert_close(&unary("cos", &[], &[1.0]), &[0.5403023058681398], 1e-15);
        assert_close(&unary("tanh", &[], &[0.5, -20.0]), &[0.46211715726000974, -1.0], 1e-15);
        // Rounded once to f16: e^1 = 2.71828... is 2.71875 there.
        assert_eq!(eval1("exp", &[], &[tensor(F16, &[1], &[1.0])]), [2.71875]);
    }

    #[test]
    fn rounding_maps() {
        let xs = [-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 2.7, -2.2];
        assert_eq!(unary("round", &[], &xs), [-2.0, -2.0, -0.0, 0.0, 2.0, 2.0, 3.0, -2.0]);
        assert_eq!(unary("floor", &[], &xs), [-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 2.0, -3.0]);
        assert_eq!(unary("ceil", &[], &xs), [-2.0, -1.0, -0.0, 1.0, 2.0, 3.0, 3.0, -2.0]);
        let signs = unary("sign", &[], &[-3.0, 0.0, 2.0, f64::NAN]);
        assert_eq!(signs[..3], [-1.0, 0.0, 1.0]);
        assert!(signs[3].is_nan());
        assert_eq!(eval1("sign", &[], &[tensor(I32, &[3], &[-7.0, 0.0, 9.0])]), [-1.0, 0.0, 1.0]);
    }

    #[test]
    fn activations() {
        // Expected values from numpy (float64) with the ONNX formulas.
        let xs = [-2.0, -0.5, 0.0, 1.0, 3.0];
        assert_close(
            &unary("sigmoid", &[], &xs),
            &[0.11920292202211755, 0.3775406687981454, 0.5, 0.7310585786300049, 0.9525741268224334],
            1e-15,
        );
        assert_close(
            &unary("silu", &[], &xs),
            &[-0.2384058440442351, -0.1887703343990727, 0.0, 0.7310585786300049, 2.8577223804673],
            1e-15,
        );
        assert_close(
            &unary("swish", &[("alpha", Attr::Float(2.0))], &[-1.0, 1.0]),
            &[-0.11920292202211755, 0.8807970779778823],
            1e-15,
        );
        assert_close(
            &unary("softplus", &[], &[-2.0, 0.0, 1.0, 800.0]),
            &[0.1269280110429725, LN_2, 1.3132616875182228, 800.0],
            1e-15,
        );
        assert_close(&unary("softsign", &[], &[-3.0, 1.0]), &[-0.75, 0.5], 0.0);
        assert_close(&unary("mish", &[], &[-2.0, 1.0]), &[-0.2525014826957089, 0.8650983882673103], 1e-15);
        assert_close(
            &unary("hard_sigmoid", &[], &[-3.0, 1.0, 3.0]),
            &[0.0, 0.7000000029802322, 1.0],
            1e-15,
        );
        assert_close(
            &unary("hard_swish", &[], &[-4.0, 1.0, 4.0]),
            &[-0.0, 0.6666666666666666, 4.0],
            1e-15,
        );
        assert_close(
            &unary("leaky_relu", &[("alpha", Attr::Float(0.1))], &[-2.0, 3.0]),
            &[-0.2, 3.0],
            1e-15,
        );
        assert_close(&unary("elu", &[], &[-1.0, 2.0]), &[-0.6321205588285577, 2.0], 1e-15);
        assert_close(&unary("selu", &[], &[-1.0, 2.0]), &[-1.1113307412864784, 2.1014020442962646], 1e-15);
        assert_close(
            &unary("celu", &[("alpha", Attr::Float(2.0))], &[-1.0, 2.0]),
            &[-0.7869386805747332, 2.0],
            1e-15,
        );
        assert_close(
            &unary("thresholded_relu", &[("alpha", Attr::Float(1.5))], &[1.0, 1.5, 2.0]),
            &[0.0, 0.0, 2.0],
            0.0,
        );
        assert_close(
            &unary(
                "shrink",
                &[("bias", Attr::Float(0.5)), ("lambd", Attr::Float(1.0))],
                &[-2.0, 0.5, 3.0],
            ),
            &[-1.5, 0.0, 2.5],
            0.0,
        );
        let relu = unary("relu", &[], &[-1.0, 2.0, f64::NAN]);
        assert_eq!(relu[..2], [0.0, 2.0]);
        assert!(relu[2].is_nan());
    }

    #[test]
    fn gelu_forms() {
        // Values from PyTorch's formulas evaluated in float64 with numpy and math.erf.
        let xs = [-3.0, -1.0, 0.5, 2.0];
        let exact = unary("gelu", &[], &xs);
        // At -3, `1 + erf` cancels about three digits, as it does in PyTorch.
        assert_close(
            &exact,
            &[
                -0.0040496940948902835,
                -0.15865525393145705,
                0.34573123063700656,
                1.9544997361036416,
            ],
            1e-12,
        );
        let tanh = unary("gelu", &[("approximate", text("tanh"))], &xs);
        assert_close(
            &tanh,
            &[-0.003637392081773019, -0.1588080093917233, 0.34571400982514394, 1.954597694087775],
            1e-12,
        );
    }

    #[test]
    fn clip_and_is_inf() {
        let clip = |attrs: &[(&str, Attr)], xs: &[f64]| unary("clip", attrs, xs);
        assert_eq!(
            clip(&[("min", Attr::Float(-1.0)), ("max", Attr::Float(1.0))], &[-5.0, 0.5, 5.0]),
            [-1.0, 0.5, 1.0]
        );
        assert_eq!(clip(&[("min", Attr::Float(0.0))], &[-5.0, f64::INFINITY]), [0.0, f64::INFINITY]);
        // min > max: everything becomes max (numpy.clip, ONNX since opset 11).
        assert_eq!(
            clip(&[("min", Attr::Float(2.0)), ("max", Attr::Float(1.0))], &[0.0, 3.0]),
            [1.0, 1.0]
        );
        assert!(clip(&[("max", Attr::Float(1.0))], &[f64::NAN])[0].is_nan());
        assert_eq!(
            eval1("clip", &[("max", Attr::Int(6))], &[tensor(I8, &[2], &[100.0, -100.0])]),
            [6.0, -100.0]
        );
        let xs = [f64::NEG_INFINITY, 0.0, f64::INFINITY, f64::NAN];
        assert_eq!(unary("is_inf", &[], &xs), [1.0, 0.0, 1.0, 0.0]);
        assert_eq!(
            unary("is_inf", &[("detect_positive", Attr::Bool(false))], &xs),
            [1.0, 0.0, 0.0, 0.0]
        );
        assert_eq!(unary("is_nan", &[], &xs), [0.0, 0.0, 0.0, 1.0]);
    }

    #[test]
    fn arithmetic_broadcasts_and_rounds() {
        let a = tensor(F16, &[2, 1], &[1.0, 2.0]);
        let b = tensor(F16, &[2], &[0.0, 0.0004]);
        // 1.0004 is not an f16: the sum rounds to 1.0 (spacing 2^-10 near 1).
        assert_eq!(eval1("add", &[], &[a, b]), vec![1.0, 1.0, 2.0, 2.0]);
        let a = tensor(F32, &[2, 2], &[1.0, 2.0, 3.0, 4.0]);
        let b = tensor(F32, &[2], &[10.0, 20.0]);
        assert_eq!(eval1("sub", &[], &[a.clone(), b.clone()]), [-9.0, -18.0, -7.0, -16.0]);
        assert_eq!(eval1("mul", &[], &[a.clone(), b.clone()]), [10.0, 40.0, 30.0, 80.0]);
        assert_eq!(eval1("div", &[], &[b.clone(), a.clone()]), [10.0, 10.0, 3.3333332538604736, 5.0]);
        assert_eq!(
            eval1("div", &[], &[tensor(F32, &[2], &[1.0, -1.0]), tensor(F32, &[1], &[0.0])]),
            [f64::INFINITY, f64::NEG_INFINITY]
        );
    }

    #[test]
    fn integer_arithmetic_wraps_and_truncates() {
        let i8s = |xs: &[f64]| tensor(I8, &[xs.len() as u64], xs);
        assert_eq!(eval1("add", &[], &[i8s(&[100.0, -100.0]), i8s(&[100.0, -100.0])]), [-56.0, 56.0]);
        assert_eq!(eval1("mul", &[], &[tensor(U8, &[1], &[16.0]), tensor(U8, &[1], &[17.0])]), [16.0]);
        // 65536 * 65537 wraps in i32 to 65536 (2^32 + 2^16 mod 2^32), exact only in integer arithmetic.
        assert_eq!(
            eval1("mul", &[], &[tensor(I32, &[1], &[65536.0]), tensor(I32, &[1], &[65537.0])]),
            [65536.0]
        );
        let big = tensor(I32, &[1], &[2147483647.0]);
        assert_eq!(eval1("mul", &[], &[big.clone(), big]), [1.0]);
        // ONNX's test_div_int32_trunc.
        let x = tensor(I32, &[4], &[-3.0, 3.0, -3.0, 3.0]);
        let y = tensor(I32, &[4], &[2.0, 2.0, -2.0, -2.0]);
        assert_eq!(eval1("div", &[], &[x.clone(), y]), [-1.0, 1.0, 1.0, -1.0]);
        assert_eq!(
            eval("div", &[], &[x, tensor(I32, &[1], &[0.0])]).unwrap_err(),
            "integer division by zero (-3 / 0)"
        );
    }

    #[test]
    fn modulo_follows_python_or_c() {
        // ONNX's test_mod_mixed_sign_int64 (numpy.mod) and the fmod variant (numpy.fmod).
        let x = tensor(I64, &[6], &[-4.0, 7.0, 5.0, 4.0, -7.0, 8.0]);
        let y = tensor(I64, &[6], &[2.0, -3.0, 8.0, -2.0, 3.0, 5.0]);
        assert_eq!(eval1("mod", &[], &[x.clone(), y.clone()]), [0.0, -2.0, 5.0, 0.0, 2.0, 3.0]);
        assert_eq!(
            eval1("mod", &[("fmod", Attr::Bool(true))], &[x.clone(), y]),
            [0.0, 1.0, 5.0, 0.0, -1.0, 3.0]
        );
        assert_eq!(
            eval("mod", &[], &[x, tensor(I64, &[], &[0.0])]).unwrap_err(),
            "integer modulo by zero (-4 mod 0)"
        );
        let x = tensor(F64, &[6], &[-4.3, 7.2, 5.0, 4.3, -7.2, 8.0]);
        let y = tensor(F64, &[6], &[2.1, -3.4, 8.0, -2.1, 3.4, 5.0]);
        let python = [
            2.0000000000000004,
            -2.9999999999999996,
            5.0,
            -2.0000000000000004,
            2.9999999999999996,
            3.0,
        ];
        assert_close(&eval1("mod", &[], &[x.clone(), y.clone()]), &python, 1e-15);
        let c = [
            -0.09999999999999964,
            0.40000000000000036,
            5.0,
            0.09999999999999964,
            -0.40000000000000036,
            3.0,
        ];
        assert_close(&eval1("mod", &[("fmod", Attr::Bool(true))], &[x, y]), &c, 1e-15);
        // numpy.mod edge cases: a zero takes the divisor's sign; an infinite divisor keeps x or gives y.
        let x = tensor(F64, &[5], &[0.0, 3.0, -3.0, f64::INFINITY, 1.0]);
        let y = tensor(F64, &[5], &[-2.0, f64::INFINITY, f64::INFINITY, 2.0, 0.0]);
        let got = eval1("mod", &[], &[x, y]);
        assert!(got[0] == 0.0 && got[0].is_sign_negative());
        assert_eq!(got[1..3], [3.0, f64::INFINITY]);
        assert!(got[3].is_nan() && got[4].is_nan());
    }

    #[test]
    fn pow_keeps_the_base_dtype() {
        // ONNX's test_pow_types_int64_float32 and test_pow_types_float32_int64.
        let x = tensor(I64, &[3], &[1.0, 2.0, 3.0]);
        assert_eq!(
            eval1("pow", &[], &[x.clone(), tensor(F32, &[3], &[4.0, 5.0, 6.0])]),
            [1.0, 32.0, 729.0]
        );
        assert_eq!(
            eval1(
                "pow",
                &[],
                &[tensor(F32, &[3], &[1.0, 2.0, 3.0]), tensor(I64, &[3], &[4.0, 5.0, 6.0])]
            ),
            [1.0, 32.0, 729.0]
        );
        assert_eq!(eval1("pow", &[], &[x, tensor(I64, &[3], &[-1.0, -1.0, 0.0])]), [1.0, 0.0, 1.0]);
        // 3^21 = 10460353203 wraps in i32 to 1870418611.
        assert_eq!(
            eval1("pow", &[], &[tensor(I32, &[1], &[3.0]), tensor(I32, &[1], &[21.0])]),
            [1870418611.0]
        );
        assert_eq!(
            eval("pow", &[], &[tensor(I32, &[1], &[0.0]), tensor(I32, &[1], &[-2.0])]).unwrap_err(),
            "integer 0 to the negative power -2"
        );
        assert_close(
            &eval1("pow", &[], &[tensor(F64, &[2], &[2.0, -8.0]), tensor(F64, &[2], &[0.5, 1.0 / 3.0])]),
            &[std::f64::consts::SQRT_2, f64::NAN],
            1e-15,
        );
    }

    #[test]
    fn variadic_ops_fold_every_input() {
        let a = tensor(F32, &[3], &[1.0, 5.0, f64::NAN]);
        let b = tensor(F32, &[2, 1], &[2.0, 4.0]);
        let c = tensor(F32, &[], &[3.0]);
        let max = eval1("max", &[], &[a.clone(), b.clone(), c.clone()]);
        assert_eq!(max[..2], [3.0, 5.0]);
        assert!(max[2].is_nan());
        assert_eq!(max[3..5], [4.0, 5.0]);
        let min = eval1("min", &[], &[a.clone(), b.clone()]);
        assert_eq!(min[..2], [1.0, 2.0]);
        assert_eq!(eval1("max", &[], std::slice::from_ref(&c)), [3.0]);
        assert_eq!(eval1("add_n", &[], &[b.clone(), c.clone(), c.clone()]), [8.0, 10.0]);
        assert_eq!(
            eval1("mean_n", &[], &[b, c.clone(), c]),
            [8.0 / 3.0, 10.0 / 3.0].map(|v: f64| v as f32 as f64)
        );
        assert_eq!(
            eval1("add_n", &[], &[tensor(U8, &[1], &[200.0]), tensor(U8, &[1], &[100.0])]),
            [44.0]
        );
    }

    #[test]
    fn comparisons_and_logic_give_bools() {
        let a = tensor(F32, &[4], &[1.0, 2.0, 3.0, f64::NAN]);
        let b = tensor(F32, &[], &[2.0]);
        let outputs = eval("less", &[], &[a.clone(), b.clone()]).unwrap();
        assert_eq!(outputs[0].dtype(), Bool);
        assert_eq!(outputs[0].data(), [1.0, 0.0, 0.0, 0.0]);
        assert_eq!(eval1("greater", &[], &[a.clone(), b.clone()]), [0.0, 0.0, 1.0, 0.0]);
        assert_eq!(eval1("less_equal", &[], &[a.clone(), b.clone()]), [1.0, 1.0, 0.0, 0.0]);
        assert_eq!(eval1("greater_equal", &[], &[a.clone(), b.clone()]), [0.0, 1.0, 1.0, 0.0]);
        assert_eq!(eval1("equal", &[], &[a.clone(), a]), [1.0, 1.0, 1.0, 0.0]);
        let p = tensor(Bool, &[4], &[0.0, 0.0, 1.0, 1.0]);
        let q = tensor(Bool, &[4], &[0.0, 1.0, 0.0, 1.0]);
        assert_eq!(eval1("and", &[], &[p.clone(), q.clone()]), [0.0, 0.0, 0.0, 1.0]);
        assert_eq!(eval1("or", &[], &[p.clone(), q.clone()]), [0.0, 1.0, 1.0, 1.0]);
        assert_eq!(eval1("xor", &[], &[p.clone(), q]), [0.0, 1.0, 1.0, 0.0]);
        assert_eq!(eval1("not", &[], &[p]), [1.0, 1.0, 0.0, 0.0]);
    }

    #[test]
    fn bitwise_ops_work_on_twos_complement() {
        // numpy: np.bitwise_and(np.int8([-1, 12]), np.int8([15, 10])) and friends.
        let a = tensor(I8, &[2], &[-1.0, 12.0]);
        let b = tensor(I8, &[2], &[15.0, 10.0]);
        assert_eq!(eval1("bitwise_and", &[], &[a.clone(), b.clone()]), [15.0, 8.0]);
        assert_eq!(eval1("bitwise_or", &[], &[a.clone(), b.clone()]), [-1.0, 14.0]);
        assert_eq!(eval1("bitwise_xor", &[], &[a.clone(), b]), [-16.0, 6.0]);
        assert_eq!(eval1("bitwise_not", &[], &[a]), [0.0, -13.0]);
        assert_eq!(eval1("bitwise_not", &[], &[tensor(U8, &[2], &[0.0, 5.0])]), [255.0, 250.0]);
        assert_eq!(eval1("bitwise_not", &[], &[tensor(I16, &[1], &[0.0])]), [-1.0]);
    }

    #[test]
    fn bit_shifts() {
        let shift = |direction: &str, dtype: DType, x: &[f64], y: &[f64]| {
            let n = x.len() as u64;
            eval1(
                "bit_shift",
                &[("direction", text(direction))],
                &[tensor(dtype, &[n], x), tensor(dtype, &[n], y)],
            )
        };
        // ONNX's examples: RIGHT [16, 4, 1] >> [1, 2, 3] and LEFT [16, 4, 1] << [1, 2, 3].
        assert_eq!(shift("RIGHT", U8, &[16.0, 4.0, 1.0], &[1.0, 2.0, 3.0]), [8.0, 1.0, 0.0]);
        assert_eq!(shift("LEFT", U8, &[16.0, 4.0, 1.0], &[1.0, 2.0, 3.0]), [32.0, 16.0, 8.0]);
        assert_eq!(shift("LEFT", U8, &[200.0, 1.0], &[1.0, 8.0]), [144.0, 0.0]);
        // Signed: arithmetic right shift; out-of-range shifts leave the sign (opset 28).
        assert_eq!(
            shift("RIGHT", I8, &[-16.0, -16.0, 16.0, -1.0], &[2.0, 9.0, 9.0, -1.0]),
            [-4.0, -1.0, 0.0, -1.0]
        );
        assert_eq!(shift("LEFT", I8, &[64.0, -1.0], &[1.0, 7.0]), [-128.0, -128.0]);
        assert_eq!(shift("LEFT", I64, &[1.0], &[40.0]), [1099511627776.0]);
    }

    #[test]
    fn where_selects_with_broadcasting() {
        let condition = tensor(Bool, &[2, 1], &[1.0, 0.0]);
        let x = tensor(I32, &[3], &[1.0, 2.0, 3.0]);
        let y = tensor(I32, &[], &[-1.0]);
        assert_eq!(eval1("where", &[], &[condition, x, y]), [1.0, 2.0, 3.0, -1.0, -1.0, -1.0]);
    }

    #[test]
    fn prelu_broadcasts_the_slope() {
        let x = tensor(F32, &[2, 2], &[-1.0, 2.0, -3.0, 4.0]);
        let slope = tensor(F32, &[2, 1], &[0.5, 0.25]);
        assert_eq!(eval1("prelu", &[], &[x, slope]), [-0.5, 2.0, -0.75, 4.0]);
        let x = tensor(I32, &[2], &[-3.0, 3.0]);
        assert_eq!(eval1("prelu", &[], &[x, tensor(I32, &[1], &[2.0])]), [-6.0, 3.0]);
    }

    #[test]
    fn casts_round_truncate_wrap_and_saturate() {
        let cast = |to: &str, saturate: bool, from: DType, xs: &[f64]| {
            let attrs = [("to", text(to)), ("saturate", Attr::Bool(saturate))];
            eval1("cast", &attrs, &[tensor(from, &[xs.len() as u64], xs)])
        };
        assert_eq!(cast("i32", true, F32, &[2.7, -2.7, 0.5]), [2.0, -2.0, 0.0]);
        assert_eq!(cast("i8", true, I32, &[200.0, -129.0]), [-56.0, 127.0]);
        assert_eq!(cast("u8", true, I32, &[256.0, -1.0]), [0.0, 255.0]);
        assert_eq!(cast("bool", true, F32, &[0.0, -0.5, f64::NAN]), [0.0, 1.0, 1.0]);
        assert_eq!(cast("f16", true, F32, &[65520.0, 1.0 + 1.0 / 2048.0]), [f64::INFINITY, 1.0]);
        assert_eq!(cast("bf16", true, F32, &[3.140625, 1.00390625]), [3.140625, 1.0]);
        // fp8 (ONNX Cast tables): saturate maps overflow and infinities to the largest finite value.
        assert_eq!(cast("f8e4m3", true, F32, &[500.0, f64::NEG_INFINITY, 0.3]), [448.0, -448.0, 0.3125]);
        assert_eq!(cast("f8e5m2", true, F32, &[1e6, -0.3]), [57344.0, -0.3125]);
        // Without saturation e4m3 overflow is NaN; 460 still rounds down to 448.
        let e4m3 = cast("f8e4m3", false, F32, &[460.0, 470.0, f64::INFINITY, -1000.0]);
        assert_eq!(e4m3[0], 448.0);
        assert!(e4m3[1..].iter().all(|x| x.is_nan()));
        // Without saturation e5m2 overflow is infinite; 61439 still rounds down.
        let e5m2 = cast("f8e5m2", false, F32, &[1e6, -61440.0, 61439.0]);
        assert_eq!(e5m2, [f64::INFINITY, f64::NEG_INFINITY, 57344.0]);
        let like = tensor(BF16, &[1], &[0.0]);
        assert_eq!(eval1("cast_like", &[], &[tensor(F32, &[1], &[1.00390625]), like]), [1.0]);
    }

    #[test]
    fn constants_round_to_their_dtype() {
        assert_eq!(
            eval1("constant", &[("value", Attr::Float(2.5)), ("dtype", text("i32"))], &[]),
            [2.0]
        );
        assert_eq!(eval1("constant", &[("value", Attr::Float(0.1))], &[]), [0.1f32 as f64]);
        assert_eq!(eval1("identity", &[], &[tensor(Bool, &[2], &[1.0, 0.0])]), [1.0, 0.0]);
    }
}
