//! Transcendental functions as CLIF, for `f32` and `f32x4` alike.
//!
//! Max error, in units in the last place of the correctly rounded f32
//! result, measured by `tests::accuracy` over every 4099th f32 bit pattern
//! (all exponents, both signs) plus special values, against f64
//! references, identical on the vector and the scalar path and with or
//! without FMA (x86-64 host); the tests assert the bound in brackets:
//!
//! | function | max ulps | bound | notes |
//! |---|---|---|---|
//! | `exp` | 0.95 | 1.5 | |
//! | `log` | 0.75 | 1.5 | |
//! | `tanh` | 2.53 | 3.5 | 2.82 without FMA; 3.11 over every f32 in `tools/fit/tanh.py`'s emulation |
//! | `erf` | 2.28 | 3 | |
//! | `sigmoid` | 2.26 | 3 | |
//! | `silu` | 2.83 | 3.5 | |
//! | `gelu` | 4.68 | 5.5 | worst in the tail, `x = -5.6` |
//! | `gelu_tanh` | 3.83 | 4.5 | |
//! | `sin`, `cos` | 0.50 | 0.51 | |
//! | `pow` | 0.75 | 1 | 658k pairs (`tests::pow_accuracy`) |
//!
//! - `exp`: Cephes `expf` (range reduction by `ln 2` in two parts, degree-6
//!   polynomial; `n = round(x log2 e)` by the `1.5 * 2^23` trick); `2^n`
//!   applied in two halves so results into the subnormal range round once;
//!   `x > 88.72` gives inf, `x < -103.98` 0, NaN stays NaN.
//! - `log`: Cephes `logf` (mantissa in `[sqrt(1/2), sqrt(2))`, degree-9
//!   polynomial); subnormals scaled first; `log(0) = -inf`, `log(x < 0) =
//!   NaN`, `log(inf) = inf`.
//! - `tanh`: no `exp`, one division: below 0.625 an odd polynomial `x S(x^2)`; above,
//!   on `x` clamped to `[-10, 10]`, the doubling formula `2h / (1 + h^2)`
//!   with `h = tanh(x/2)` a rational `(x/2) P(x^2) / Q(x^2)`, evaluated as
//!   `x P Q / (Q^2 + (x P / 2)^2)`. The doubling damps the rounding errors
//!   of `P` and `Q` where tanh nears 1. Coefficients and the derivation:
//!   `tools/fit/tanh.py`.
//! - `sigmoid`: `1 / (1 + e^-|x|)`, mirrored for `x < 0` as `e^x / (1 +
//!   e^x)` so the negative tail keeps its relative accuracy; `silu` is
//!   `x * sigmoid(x)`. Tails are computed scaled by `2^24` and scaled back
//!   last, so a subnormal result rounds once.
//! - `erf`: `x P(x^2)` below 0.7 (degree 6), `1 - erfc` above with
//!   `erfc(z) = e^(-z^2) h(1/z) / z` (`h` of degree 14, fitted on
//!   `[0.7, 10.5]`) and `z^2` kept exactly as a sum of two floats, so
//!   `erfc` is accurate relative to itself. `gelu` uses `erfc` directly for
//!   `x < 0` (no cancellation in `1 + erf`), from `x^2 / 2` computed
//!   exactly.
//! - `gelu_tanh`: `0.5 x (1 + tanh(u))` evaluated as `x sigmoid(2u)`, the
//!   same value without cancellation for `x < 0`, with `2u` as a sum of two
//!   floats.
//! - `sin`, `cos`: in f64 lanes: `x - k pi/2` with `pi/2` in three parts
//!   (exact for `|x| <= 2^20`), Taylor polynomials of degree 11/12 on
//!   `[-pi/4, pi/4]`, one rounding to f32 at the end. A vector with any
//!   lane beyond `2^20` (or infinite) calls the host's f64 `sin`/`cos`
//!   lane by lane (a cold block), which is what the interpreter computes.
//! - `pow(a, b)`: `|a| = m 2^e` split in f32, then `b (e ln2 + ln m)` and
//!   `e^y` in f64 lanes (`ln m` by the `atanh` series, `e^r` by Taylor);
//!   the result rounds to f32 once and is scaled by `2^k` exactly. Special
//!   cases follow C's `powf` (IEEE 754 `pow`), as Rust's `f64::powf` which
//!   the interpreter uses: `pow(x, 0) = pow(1, y) = 1` (NaN included);
//!   `pow(a < 0, b)` is `±|a|^b` for an integer `b` (odd `b`: negative) and
//!   NaN otherwise; `pow(±0, b)` is `±0`/`±inf` by the sign of `b` and the
//!   parity of an integer `b`; `pow(-1, ±inf) = 1`; `pow(±inf, b)` is inf
//!   or 0 (negative for `-inf` and an odd `b`). A constant exponent 0, 1,
//!   2, 3, -1 or 0.5 becomes `1`, `a`, `a*a`, `a*a*a` (within an ulp of
//!   `powf`), `1/a` or `sqrt` (with `powf`'s -0 and -inf cases).

use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::{BlockArg, InstBuilder, Value};

use super::emit::Em;
use super::error::{CodegenError, Result};

const LOG2E: f64 = std::f64::consts::LOG2_E;
/// Cephes' split of ln 2: `C1` has 9 bits, so `n * C1` is exact.
const LN2_C1: f64 = 0.693359375;
const LN2_C2: f64 = -2.12194440e-4;
/// Cephes `expf`, low degree first: `e^r = 1 + r + r^2 P(r)`.
const EXP_P: [f64; 6] = [
    5.0000001201e-1,
    1.6666665459e-1,
    4.1665795894e-2,
    8.3334519073e-3,
    1.3981999507e-3,
    1.9875691500e-4,
];
/// Cephes `logf`: `log(1 + m) = m - m^2/2 + m^3 P(m)`.
const LOG_P: [f64; 9] = [
    3.3333331174e-1,
    -2.4999993993e-1,
    2.0000714765e-1,
    -1.6668057665e-1,
    1.4249322787e-1,
    -1.2420140846e-1,
    1.1676998740e-1,
    -1.1514610310e-1,
    7.0376836292e-2,
];
const SQRT_HALF: f64 = std::f64::consts::FRAC_1_SQRT_2;
/// `tanh x = x S(t)`, `t = x^2`, below [`TANH_SMALL`] (fitted by
/// `tools/fit/tanh.py`, relative error 4.9e-9).
const TANH_S: [f64; 6] = [
    1.0,
    -0.33333277702331543,
    0.13331303000450134,
    -0.05372752994298935,
    0.02059786766767502,
    -0.005657474976032972,
];
/// `tanh(x/2) = (x/2) P(t) / Q(t)` on `[0, TANH_CLAMP]` (fitted by
/// `tools/fit/tanh.py`, relative error 2.3e-9).
const TANH_P: [f64; 5] = [
    1.0,
    0.03234497085213661,
    0.00018350229947827756,
    1.438507126749755e-07,
    -4.197939912353732e-11,
];
const TANH_Q: [f64; 4] = [1.0, 0.11567830294370651, 0.0014900299720466137, 3.5805544484901475e-06];
const TANH_SMALL: f64 = 0.625;
/// From about 9.01 on, tanh rounds to 1 in f32.
const TANH_CLAMP: f64 = 10.0;
/// `erf(x) / x` as a polynomial in `x^2` on `[0, 1]` (least-squares
/// minimax fit, truncation error 1.2e-9).
const ERF_SMALL: [f64; 7] = [
    1.1283791657300044,
    -0.3761262583319722,
    0.11283585218613937,
    -0.026853814286617154,
    0.005188331535906593,
    -0.0008010223950385951,
    7.853953365887172e-05,
];
/// `h(u) = erfc(z) e^(z^2) z` with `u = 1/z - ERFC_MID`, on `z` in
/// `[0.7, 10.5]` (least-squares minimax fit, error 3.3e-9 relative).
const ERFC_H: [f64; 15] = [
    0.4661695321587678,
    -0.1686034848690005,
    0.020744650770665715,
    0.037939871467237436,
    -0.048260892235677914,
    0.03647249597967487,
    -0.01804154597137308,
    0.000712527892235442,
    0.009741863951589148,
    -0.009776791471885366,
    0.012361305299165673,
    -0.024573892422097628,
    0.012977545209690725,
    0.019028679359285264,
    -0.017186921544504234,
];
const ERFC_MID: f64 = 0.7619047619047619;
/// From this `z` on, `erf = 1 - erfc` with `erfc` from `h`.
const ERFC_FROM: f64 = 0.7;
/// `z` is capped here: `e^(-z^2) 2^24` underflows to 0 (beyond 10.5, `h`
/// is extrapolated, but every result it feeds is 0 by then).
const ERFC_CAP: f64 = 12.0;
/// `pi/2` in parts of 33, 33 and 53 bits: `k * P1` and `k * P2` are exact
/// for `|k| < 2^20`.
const PIO2_1: f64 = 1.5707963267341256;
const PIO2_2: f64 = 6.077100506303966e-11;
const PIO2_3: f64 = 2.0222662487959506e-21;
const TWO_OVER_PI: f64 = std::f64::consts::FRAC_2_PI;
/// Largest `|x|` the inline `sin`/`cos` reduce; beyond, the host's.
pub(crate) const TRIG_LIMIT: f64 = 1048576.0;
/// Taylor coefficients of `sin r = r + r z S(z)` and `cos r = 1 + z C(z)`.
const SIN_S: [f64; 5] = [-1.0 / 6.0, 1.0 / 120.0, -1.0 / 5040.0, 1.0 / 362880.0, -1.0 / 39916800.0];
const COS_C: [f64; 6] = [-0.5, 1.0 / 24.0, -1.0 / 720.0, 1.0 / 40320.0, -1.0 / 3628800.0, 1.0 / 479001600.0];
/// fdlibm's split of ln 2 for f64 reduction (32 + 53 bits).
const LN2_HI: f64 = 6.931_471_803_691_238e-1;
const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
const LN2: f64 = std::f64::consts::LN_2;
/// `e^r - 1 = r E(r)` (Taylor, degree 9; `|r| <= ln2/2`).
const EXP64_E: [f64; 9] = [
    1.0,
    0.5,
    1.0 / 6.0,
    1.0 / 24.0,
    1.0 / 120.0,
    1.0 / 720.0,
    1.0 / 5040.0,
    1.0 / 40320.0,
    1.0 / 362880.0,
];
/// `ln m = 2s + 2s s^2 L(s^2)` with `s = (m - 1)/(m + 1)`, `|s| <= 0.1716`.
const LN64_L: [f64; 7] = [1.0 / 3.0, 1.0 / 5.0, 1.0 / 7.0, 1.0 / 9.0, 1.0 / 11.0, 1.0 / 13.0, 1.0 / 15.0];
const MIN_NORMAL: f64 = f32::MIN_POSITIVE as f64;
const TWO_23: f64 = 8388608.0;
/// `1.5 * 2^23`: `v + ROUND_MAGIC` rounds `v` to an integer held in the
/// low mantissa bits (`|v| < 2^22`).
const ROUND_MAGIC: f64 = 12582912.0;
/// Tails are computed scaled by `2^24` and scaled back in the last
/// multiplication, so a result in the subnormal range rounds only once.
const TAIL_SHIFT: i64 = 24;
const TWO_M24: f64 = 1.0 / 16777216.0;
const TWO_24: f64 = 16777216.0;

impl Em<'_, '_> {
    /// `y * 2^n` for an integral float `n` in `[-150, 152]` (f32 lanes).
    fn scale_pow2(&mut self, y: Value, n: Value) -> Value {
        let (_, n) = self.round_to_int(n);
        self.scale_pow2_int(y, n)
    }

    /// `y * 2^n` for integer lanes `n` in `[-150, 152]`: two exact
    /// power-of-two factors, so only an underflowing result rounds.
    fn scale_pow2_int(&mut self, y: Value, n: Value) -> Value {
        let half = self.sshr(n, 1);
        let rest = self.isub(n, half);
        let mut out = y;
        for k in [half, rest] {
            let biased = self.iadd_c(k, 127);
            let bits = self.shl(biased, 23);
            let factor = self.float(bits);
            out = self.mul(out, factor);
        }
        out
    }

    /// `v` rounded to the nearest integer (ties to even), as a float and
    /// as integer lanes, for `|v| < 2^22` (f32 lanes): adding `1.5 * 2^23`
    /// rounds, and the sum's low mantissa bits are the integer. (Cheaper
    /// than `nearest` and a saturating conversion; NaN stays NaN in the
    /// float and gives some integer.)
    fn round_to_int(&mut self, v: Value) -> (Value, Value) {
        let magic = self.c(ROUND_MAGIC);
        let t = self.add(v, magic);
        self.split_magic(t)
    }

    /// `(t - magic, bits(t) - bits(magic))` for `t = v + ROUND_MAGIC`.
    fn split_magic(&mut self, t: Value) -> (Value, Value) {
        let magic = self.c(ROUND_MAGIC);
        let n = self.sub(t, magic);
        let bits = self.bits(t);
        let magic_bits = self.ic(i64::from((ROUND_MAGIC as f32).to_bits()));
        (n, self.isub(bits, magic_bits))
    }

    pub fn exp(&mut self, x: Value) -> Value {
        self.exp_shifted(x, 0)
    }

    /// `e^x 2^shift` for `shift` in `0..=24`, rounding once.
    fn exp_shifted(&mut self, x: Value, shift: i64) -> Value {
        let x = self.clamp(x, -104.0 - shift as f64, 89.0);
        // n = round(x log2 e), as float and integer.
        let log2e = self.c(LOG2E);
        let magic = self.c(ROUND_MAGIC);
        let t = self.fma(x, log2e, magic);
        let (n, ni) = self.split_magic(t);
        let r = self.fma_c_value(n, -LN2_C1, x);
        let r = self.fma_c_value(n, -LN2_C2, r);
        let z = self.mul(r, r);
        let p = self.poly(r, &EXP_P);
        let y = self.fma(p, z, r);
        let y = self.add_c(y, 1.0);
        let ni = match shift {
            0 => ni,
            _ => self.iadd_c(ni, shift),
        };
        self.scale_pow2_int(y, ni)
    }

    /// `a * k + b` for a constant `k`.
    fn fma_c_value(&mut self, a: Value, k: f64, b: Value) -> Value {
        let k = self.c(k);
        self.fma(a, k, b)
    }

    pub fn log(&mut self, x: Value) -> Value {
        let small = self.cmp_c(FloatCC::LessThan, x, MIN_NORMAL);
        let up = self.mul_c(x, TWO_23);
        let xs = self.sel(small, up, x);
        let bits = self.bits(xs);
        let biased = self.ushr(bits, 23);
        let e = self.iadd_c(biased, -126);
        let mantissa = self.iand_c(bits, 0x007f_ffff);
        let mantissa = self.ior_c(mantissa, 0x3f00_0000);
        let mut m = self.float(mantissa);
        let mut e = self.int_float(e);
        let zero = self.c(0.0);
        let adjust = self.sel_c(small, 23.0, zero);
        e = self.sub(e, adjust);
        let low = self.cmp_c(FloatCC::LessThan, m, SQRT_HALF);
        let one = self.sel_c(low, 1.0, zero);
        e = self.sub(e, one);
        let doubled = self.add(m, m);
        m = self.sel(low, doubled, m);
        m = self.add_c(m, -1.0);
        let z = self.mul(m, m);
        let p = self.poly(m, &LOG_P);
        let pm = self.mul(p, m);
        let mut y = self.mul(pm, z);
        y = self.fma_c_value(e, LN2_C2, y);
        y = self.fma_c_value(z, -0.5, y);
        let mut r = self.add(m, y);
        r = self.fma_c_value(e, LN2_C1, r);
        let inf = self.cmp_c(FloatCC::Equal, x, f64::INFINITY);
        r = self.sel_c(inf, f64::INFINITY, r);
        let zero = self.cmp_c(FloatCC::Equal, x, 0.0);
        r = self.sel_c(zero, f64::NEG_INFINITY, r);
        let invalid = self.cmp_c(FloatCC::UnorderedOrLessThan, x, 0.0);
        self.sel_c(invalid, f64::NAN, r)
    }

    /// `tanh x`; see the module documentation.
    pub fn tanh(&mut self, x: Value) -> Value {
        let x = self.clamp(x, -TANH_CLAMP, TANH_CLAMP);
        let t = self.mul(x, x);
        // x S(t) rather than x + x t S'(t): keeps -0.
        let s = self.poly(t, &TANH_S);
        let small = self.mul(x, s);
        // 2h / (1 + h^2) with h = (x/2) P / Q, over Q^2.
        let p = self.poly(t, &TANH_P);
        let q = self.poly(t, &TANH_Q);
        let xp = self.mul(x, p);
        let numerator = self.mul(xp, q);
        let half = self.mul_c(xp, 0.5);
        let qq = self.mul(q, q);
        let denominator = self.fma(half, half, qq);
        let large = self.div(numerator, denominator);
        let large = self.clamp(large, -1.0, 1.0);
        let a = self.abs(x);
        let is_small = self.cmp_c(FloatCC::LessThan, a, TANH_SMALL);
        self.sel(is_small, small, large)
    }

    /// For `v = hi + lo`: `(e^-|v| 2^24, 1 / (1 + e^-|v|))`.
    fn sigmoid_parts(&mut self, hi: Value, lo: Option<Value>) -> (Value, Value) {
        let a = self.abs(hi);
        let na = self.neg(a);
        let mut scaled = self.exp_shifted(na, TAIL_SHIFT);
        if let Some(lo) = lo {
            // e^-|hi + lo| = e^-|hi| (1 -+ lo); no correction where hi is
            // huge or NaN (lo may be NaN there, and e^-|hi| is 0 or NaN).
            let neg_lo = self.neg(lo);
            let below = self.cmp_c(FloatCC::LessThan, hi, 0.0);
            let adjust = self.sel(below, lo, neg_lo);
            let sane = self.cmp_c(FloatCC::LessThan, a, 1e30);
            let zero = self.c(0.0);
            let adjust = self.sel(sane, adjust, zero);
            let correction = self.add_c(adjust, 1.0);
            scaled = self.mul(scaled, correction);
        }
        let e = self.mul_c(scaled, TWO_M24);
        let one = self.c(1.0);
        let d = self.add(one, e);
        let r = self.div(one, d);
        (scaled, r)
    }

    /// `x sigmoid(v)` where `x` has the sign of `v = hi + lo` (`x = 1`
    /// when `x` is `None`).
    fn times_sigmoid(&mut self, x: Option<Value>, hi: Value, lo: Option<Value>) -> Value {
        let (scaled, r) = self.sigmoid_parts(hi, lo);
        let xr = match x {
            Some(x) => self.mul(x, r),
            None => r,
        };
        let tail = self.mul(xr, scaled);
        let tail = self.mul_c(tail, TWO_M24);
        let negative = self.cmp_c(FloatCC::LessThan, hi, 0.0);
        self.sel(negative, tail, xr)
    }

    pub fn sigmoid(&mut self, x: Value) -> Value {
        self.times_sigmoid(None, x, None)
    }

    pub fn silu(&mut self, x: Value) -> Value {
        self.times_sigmoid(Some(x), x, None)
    }

    /// `(erf z, erfc(z) 2^24)` for `z = w * scale >= 0` (or NaN), where
    /// `scale^2` must be a power of two so that `z^2 = w^2 scale^2` is exact.
    fn erf_parts(&mut self, w: Value, scale: f64) -> (Value, Value) {
        let w = self.clamp(w, 0.0, ERFC_CAP / scale);
        let z = self.mul_c(w, scale);
        // z^2 as hi + lo.
        let (hi, lo) = self.two_prod(w, w);
        let s2 = scale * scale;
        let hi = self.mul_c(hi, s2);
        let lo = self.mul_c(lo, s2);
        // Small z: z P(z^2).
        let p = self.poly(hi, &ERF_SMALL);
        let erf_small = self.mul(z, p);
        let one = self.c(1.0);
        let erfc_small = self.sub(one, erf_small);
        let erfc_small = self.mul_c(erfc_small, TWO_24);
        // Large z: e^(-z^2) h(1/z) / z.
        let t = self.div(one, z);
        let u = self.add_c(t, -ERFC_MID);
        let h = self.poly(u, &ERFC_H);
        let neg_hi = self.neg(hi);
        let e = self.exp_shifted(neg_hi, TAIL_SHIFT);
        let correction = self.sub(one, lo);
        let e = self.mul(e, correction);
        let ht = self.mul(h, t);
        let erfc_large = self.mul(e, ht);
        let unscaled = self.mul_c(erfc_large, TWO_M24);
        let erf_large = self.sub(one, unscaled);
        let large = self.cmp_c(FloatCC::GreaterThanOrEqual, z, ERFC_FROM);
        let erf = self.sel(large, erf_large, erf_small);
        let erfc = self.sel(large, erfc_large, erfc_small);
        (erf, erfc)
    }

    /// `(p, e)` with `p = a * b` rounded and `p + e = a * b` exactly (bar
    /// underflow): `e = fma(a, b, -p)`, or without FMA Dekker's product with
    /// operands split at 12 bits.
    fn two_prod(&mut self, a: Value, b: Value) -> (Value, Value) {
        let p = self.mul(a, b);
        let np = self.neg(p);
        if self.env.fma {
            return (p, self.fma(a, b, np));
        }
        let split = |em: &mut Self, v: Value| {
            let bits = em.bits(v);
            let top = em.iand_c(bits, !0xfff);
            let hi = em.float(top);
            (hi, em.sub(v, hi))
        };
        let (ah, al) = split(self, a);
        let (bh, bl) = split(self, b);
        let hh = self.mul(ah, bh);
        let mut e = self.add(hh, np);
        for (x, y) in [(ah, bl), (al, bh), (al, bl)] {
            let t = self.mul(x, y);
            e = self.add(e, t);
        }
        (p, e)
    }

    pub fn erf(&mut self, x: Value) -> Value {
        let a = self.abs(x);
        let (erf, _) = self.erf_parts(a, 1.0);
        self.copysign(erf, x)
    }

    /// `0.5 x (1 + erf(x / sqrt 2))`, as `0.5 x erfc(|x| / sqrt 2)` for `x < 0`.
    pub fn gelu(&mut self, x: Value) -> Value {
        let a = self.abs(x);
        let (erf, erfc) = self.erf_parts(a, std::f64::consts::FRAC_1_SQRT_2);
        let half = self.mul_c(x, 0.5);
        let positive = self.fma(half, erf, half);
        let negative = self.mul(half, erfc);
        let negative = self.mul_c(negative, TWO_M24);
        let below = self.cmp_c(FloatCC::LessThan, x, 0.0);
        self.sel(below, negative, positive)
    }

    /// `0.5 x (1 + tanh(u))`, `u = sqrt(2/pi) (x + 0.044715 x^3)`, as
    /// `x sigmoid(2u)`, with `2u` kept as a sum of two floats (the tail
    /// `e^2u` needs it to better than an f32's precision).
    pub fn gelu_tanh(&mut self, x: Value) -> Value {
        let k1 = 2.0 * (2.0 / std::f64::consts::PI).sqrt();
        let k2 = k1 * 0.044715;
        let split = |k: f64| (k as f32 as f64, (k - f64::from(k as f32)) as f32 as f64);
        let ((k1h, k1l), (k2h, k2l)) = (split(k1), split(k2));
        // x^3 = x3 + x3l.
        let (x2, x2l) = self.two_prod(x, x);
        let (x3, x3e) = self.two_prod(x2, x);
        let x3l = self.fma(x2l, x, x3e);
        // k2 x^3 = th + tl.
        let k2hv = self.c(k2h);
        let (th, te) = self.two_prod(k2hv, x3);
        let te = self.fma(k2hv, x3l, te);
        let k2lv = self.c(k2l);
        let tl = self.fma(k2lv, x3, te);
        // k1 x = sh + sl.
        let k1hv = self.c(k1h);
        let (sh, se) = self.two_prod(k1hv, x);
        let k1lv = self.c(k1l);
        let sl = self.fma(k1lv, x, se);
        // v = th + sh (two-sum) + tl + sl.
        let vh = self.add(th, sh);
        let bb = self.sub(vh, th);
        let ab = self.sub(vh, bb);
        let ea = self.sub(th, ab);
        let eb = self.sub(sh, bb);
        let err = self.add(ea, eb);
        let lo = self.add(tl, sl);
        let vl = self.add(err, lo);
        self.times_sigmoid(Some(x), vh, Some(vl))
    }

    /// `sin x` (`cos = false`) or `cos x` on f64 lanes, for `|x| <= 2^20`.
    fn sincos64(&mut self, x: Value, cos: bool) -> Value {
        let scaled = self.mul_c(x, TWO_OVER_PI);
        let k = self.nearest(scaled);
        let mut r = x;
        for part in [PIO2_1, PIO2_2, PIO2_3] {
            let kp = self.mul_c(k, part);
            r = self.sub(r, kp);
        }
        let kk = if cos { self.add_c(k, 1.0) } else { k };
        let quarter = self.mul_c(kk, 0.25);
        let quarter = self.floor(quarter);
        let four = self.mul_c(quarter, 4.0);
        let q = self.sub(kk, four);
        let z = self.mul(r, r);
        let s = self.poly(z, &SIN_S);
        let rz = self.mul(r, z);
        let s = self.fma(rz, s, r);
        let cp = self.poly(z, &COS_C);
        let one = self.c(1.0);
        let c = self.fma(z, cp, one);
        let half = self.mul_c(q, 0.5);
        let half = self.floor(half);
        let two = self.mul_c(half, 2.0);
        let parity = self.sub(q, two);
        let odd = self.cmp_c(FloatCC::Equal, parity, 1.0);
        let v = self.sel(odd, c, s);
        let nv = self.neg(v);
        let negative = self.cmp_c(FloatCC::GreaterThanOrEqual, q, 2.0);
        self.sel(negative, nv, v)
    }

    /// `sin x` or `cos x` (f32 lanes); see the module documentation.
    pub fn sincos(&mut self, x: Value, cos: bool) -> Result<Value> {
        let a = self.abs(x);
        let huge = self.cmp_c(FloatCC::GreaterThan, a, TRIG_LIMIT);
        let any = match self.vector() {
            true => self.fb.ins().vany_true(huge),
            false => huge,
        };
        let fast = self.fb.create_block();
        let slow = self.fb.create_block();
        let merge = self.fb.create_block();
        let result = self.fb.append_block_param(merge, self.ty);
        self.fb.ins().brif(any, slow, &[], fast, &[]);
        self.fb.set_cold_block(slow);

        self.fb.switch_to_block(fast);
        let v = self.via_f64(&[x], &mut |em, xs| xs.iter().map(|&x| em.sincos64(x, cos)).collect());
        let v = v.first().copied().ok_or(CodegenError::Internal("sincos lost its value"))?;
        self.fb.ins().jump(merge, &[BlockArg::Value(v)]);

        self.fb.switch_to_block(slow);
        let func = if cos { self.env.cos } else { self.env.sin };
        let lanes = if self.vector() { self.ty.lane_count() } else { 1 };
        let mut out = x;
        for lane in 0..lanes {
            let arg = match self.vector() {
                true => self.fb.ins().extractlane(x, lane as u8),
                false => x,
            };
            let call = self.fb.ins().call(func, &[arg]);
            let y = self
                .fb
                .inst_results(call)
                .first()
                .copied()
                .ok_or(CodegenError::Internal("sin/cos call has no result"))?;
            out = match self.vector() {
                true => self.fb.ins().insertlane(out, y, lane as u8),
                false => y,
            };
        }
        self.fb.ins().jump(merge, &[BlockArg::Value(out)]);
        self.fb.switch_to_block(merge);
        Ok(result)
    }

    /// `e^y` on f64 lanes as `(p, k)` with `e^y = p 2^k`, `p` in
    /// `[0.7, 1.42]`, for `y` already limited to `[-104, 89]`.
    fn exp64_parts(&mut self, y: Value) -> (Value, Value) {
        let scaled = self.mul_c(y, LOG2E);
        let k = self.nearest(scaled);
        let khi = self.mul_c(k, LN2_HI);
        let r = self.sub(y, khi);
        let klo = self.mul_c(k, LN2_LO);
        let r = self.sub(r, klo);
        let e = self.poly(r, &EXP64_E);
        let one = self.c(1.0);
        let p = self.fma(r, e, one);
        (p, k)
    }

    /// `ln m` on f64 lanes for `m` in `[sqrt(1/2), sqrt(2)]`.
    fn ln64_mantissa(&mut self, m: Value) -> Value {
        let one = self.c(1.0);
        let num = self.sub(m, one);
        let den = self.add(m, one);
        let s = self.div(num, den);
        let s2 = self.mul(s, s);
        let l = self.poly(s2, &LN64_L);
        let two_s = self.add(s, s);
        let t = self.mul(two_s, s2);
        self.fma(t, l, two_s)
    }

    /// `x * x`, `x * x * x`, `1 / x`, `sqrt` for the exponents where they
    /// give `powf`'s value (to an ulp for cubes), else `None`.
    pub fn pow_const(&mut self, a: Value, b: f32) -> Option<Value> {
        Some(match b {
            0.0 => self.c(1.0),
            1.0 => a,
            2.0 => self.mul(a, a),
            3.0 => {
                let sq = self.mul(a, a);
                self.mul(sq, a)
            }
            -1.0 => {
                let one = self.c(1.0);
                self.div(one, a)
            }
            0.5 => {
                // powf(-0, 0.5) = +0 and powf(-inf, 0.5) = inf.
                let root = self.sqrt(a);
                let root = self.add_c(root, 0.0);
                let minus_inf = self.cmp_c(FloatCC::Equal, a, f64::NEG_INFINITY);
                self.sel_c(minus_inf, f64::INFINITY, root)
            }
            _ => return None,
        })
    }

    /// `a^b` with `powf`'s special cases (module documentation).
    pub fn pow(&mut self, a: Value, b: Value) -> Value {
        let aa = self.abs(a);
        // |a| = m 2^e, m in [sqrt(1/2), sqrt(2)].
        let small = self.cmp_c(FloatCC::LessThan, aa, MIN_NORMAL);
        let up = self.mul_c(aa, TWO_23);
        let xs = self.sel(small, up, aa);
        let bits = self.bits(xs);
        let biased = self.ushr(bits, 23);
        let e = self.iadd_c(biased, -127);
        let mantissa = self.iand_c(bits, 0x007f_ffff);
        let mantissa = self.ior_c(mantissa, 0x3f80_0000);
        let m = self.float(mantissa);
        let mut e = self.int_float(e);
        let zero = self.c(0.0);
        let adjust = self.sel_c(small, 23.0, zero);
        e = self.sub(e, adjust);
        let high = self.cmp_c(FloatCC::GreaterThan, m, std::f64::consts::SQRT_2);
        let halved = self.mul_c(m, 0.5);
        let m = self.sel(high, halved, m);
        let bump = self.sel_c(high, 1.0, zero);
        let e = self.add(e, bump);
        let out = self.via_f64(&[m, e, b], &mut |em, v| {
            let (m, e, b) = (v[0], v[1], v[2]);
            let lnm = em.ln64_mantissa(m);
            let ln2 = em.c(LN2);
            let ln_a = em.fma(e, ln2, lnm);
            let y = em.mul(b, ln_a);
            let y = em.clamp(y, -104.0, 89.0);
            let (p, k) = em.exp64_parts(y);
            vec![p, k]
        });
        let (p, k) = (out[0], out[1]);
        let mut r = self.scale_pow2(p, k);
        // Zero and infinite |a|.
        let b_pos = self.cmp_c(FloatCC::GreaterThan, b, 0.0);
        let inf = self.c(f64::INFINITY);
        let zero_pow = self.sel(b_pos, zero, inf);
        let inf_pow = self.sel(b_pos, inf, zero);
        let a_zero = self.cmp_c(FloatCC::Equal, aa, 0.0);
        r = self.sel(a_zero, zero_pow, r);
        let a_inf = self.cmp_c(FloatCC::Equal, aa, f64::INFINITY);
        r = self.sel(a_inf, inf_pow, r);
        // NaN in, NaN out.
        let nan_in = self.cmp(FloatCC::Unordered, a, b);
        r = self.sel_c(nan_in, f64::NAN, r);
        // Negative bases: odd integer exponents negate, others give NaN.
        let fb = self.floor(b);
        let non_integer = self.cmp(FloatCC::NotEqual, fb, b);
        let hb = self.mul_c(b, 0.5);
        let fhb = self.floor(hb);
        let half_non_integer = self.cmp(FloatCC::NotEqual, fhb, hb);
        let integer = self.cmp(FloatCC::Equal, fb, b);
        let odd = self.and(integer, half_non_integer);
        let a_bits = self.bits(a);
        let a_sign = self.ineg_mask(a_bits);
        let flip = self.and(odd, a_sign);
        let nr = self.neg(r);
        r = self.sel(flip, nr, r);
        let a_neg = self.cmp_c(FloatCC::LessThan, a, 0.0);
        let a_finite = self.cmp_c(FloatCC::GreaterThan, a, f64::NEG_INFINITY);
        let bad = self.and(a_neg, a_finite);
        let bad = self.and(bad, non_integer);
        r = self.sel_c(bad, f64::NAN, r);
        // pow(-1, ±inf) = 1, pow(1, b) = 1, pow(a, 0) = 1.
        let ab = self.abs(b);
        let b_inf = self.cmp_c(FloatCC::Equal, ab, f64::INFINITY);
        let a_unit = self.cmp_c(FloatCC::Equal, aa, 1.0);
        let unit_inf = self.and(b_inf, a_unit);
        r = self.sel_c(unit_inf, 1.0, r);
        let a_one = self.cmp_c(FloatCC::Equal, a, 1.0);
        r = self.sel_c(a_one, 1.0, r);
        let b_zero = self.cmp_c(FloatCC::Equal, b, 0.0);
        self.sel_c(b_zero, 1.0, r)
    }
}

/// The host functions the kernels call for `sin`/`cos` beyond
/// [`TRIG_LIMIT`]: the f64 function rounded to f32, as the interpreter
/// computes it.
pub(crate) extern "C" fn host_sin(x: f32) -> f32 {
    (f64::from(x)).sin() as f32
}

pub(crate) extern "C" fn host_cos(x: f32) -> f32 {
    (f64::from(x)).cos() as f32
}

#[cfg(test)]
mod tests {
    use std::f64::consts::{FRAC_1_SQRT_2, PI};

    use super::super::reference::sigmoid;
    use super::super::{Jit, Kernel};
    use crate::program::{Access, Binary, Elementwise, Step, Unary};
    use opfuse_ops::eval::elementwise::erf;

    /// `erfc` in f64, accurate relative to itself: `1 - erf` up to 2.5,
    /// Laplace's continued fraction beyond.
    fn erfc(z: f64) -> f64 {
        if z < 2.5 {
            return 1.0 - erf(z);
        }
        let mut k = z;
        for n in (1..=300).rev() {
            k = z + (f64::from(n) / 2.0) / k;
        }
        (-z * z).exp() / (PI.sqrt() * k)
    }

    /// The accurate f64 value of `op` (tails without cancellation).
    fn exact(op: Unary, x: f64) -> f64 {
        match op {
            Unary::Exp => x.exp(),
            Unary::Log => x.ln(),
            Unary::Tanh => x.tanh(),
            Unary::Erf => erf(x),
            Unary::Sigmoid => sigmoid(x),
            Unary::Silu => x * sigmoid(x),
            Unary::Gelu => 0.5 * x * erfc(-x * FRAC_1_SQRT_2),
            Unary::GeluTanh => {
                let u = (2.0 / PI).sqrt() * (x + 0.044715 * x * x * x);
                x * sigmoid(2.0 * u)
            }
            Unary::Sin => x.sin(),
            Unary::Cos => x.cos(),
            _ => f64::NAN,
        }
    }

    /// The spacing of f32 values at `w` (2^-149 below the normal range).
    fn ulp(w: f32) -> f64 {
        let exponent = ((w.to_bits() >> 23) & 0xff) as i32;
        match exponent {
            0 => 2f64.powi(-149),
            e => 2f64.powi(e - 127 - 23),
        }
    }

    /// `|got - want|` in ulps of the correctly rounded `want`; infinite
    /// for a NaN or infinity that should not be there.
    fn ulp_error(got: f32, want: f64) -> f64 {
        let w = want as f32;
        if want.is_nan() || got.is_nan() {
            return if want.is_nan() && got.is_nan() { 0.0 } else { f64::INFINITY };
        }
        if w.is_infinite() || got.is_infinite() {
            return if got == w { 0.0 } else { f64::INFINITY };
        }
        (f64::from(got) - want).abs() / ulp(w)
    }

    fn specials() -> Vec<f32> {
        let mut v = vec![
            0.0,
            -0.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            f32::MIN_POSITIVE,
            -f32::MIN_POSITIVE,
            1e-45,
            -1e-45,
            f32::MAX,
            f32::MIN,
            1.0,
            -1.0,
            0.5,
            0.625,
            -0.625,
            88.72283,
            88.7229,
            -87.33655,
            -103.27893,
            -103.97,
            -104.0,
            3.85,
            3.92,
            10.5,
            -10.5,
            14.85,
            -14.85,
        ];
        for k in 1..200 {
            let x = k as f32 * std::f32::consts::FRAC_PI_2;
            v.extend([x, -x, f32::from_bits(x.to_bits() + 1), f32::from_bits(x.to_bits() - 1)]);
        }
        for x in [1048576.0f32, 1048577.0, 1e7, 1e20, 3e38] {
            v.extend([x, -x]);
        }
        v
    }

    /// Every 4099th bit pattern of f32 (all exponents, both signs), plus
    /// special values.
    fn sweep() -> Vec<f32> {
        let mut v: Vec<f32> = (0..=u32::MAX).step_by(4099).map(f32::from_bits).collect();
        v.extend(specials());
        v
    }

    fn unary_program(op: Unary, n: usize, stride: isize) -> Elementwise {
        Elementwise {
            shape: vec![n],
            inputs: vec![Access {
                buffer: 0,
                offset: 0,
                strides: vec![stride],
            }],
            steps: vec![Step::Load(0), Step::Unary(op, 0)],
        }
    }

    /// `op` over `xs` through the vector kernel (contiguous input) and the
    /// scalar kernel (input at stride 2).
    fn run_both(jit: &mut Jit, op: Unary, xs: &[f32]) -> [Vec<f32>; 2] {
        let n = xs.len();
        let vector: Kernel = jit.compile_elementwise(&unary_program(op, n, 1), 1).expect("compile vector");
        let scalar: Kernel = jit.compile_elementwise(&unary_program(op, n, 2), 1).expect("compile scalar");
        assert!(vector.is_vectorized());
        assert!(!scalar.is_vectorized());
        let mut input = xs.to_vec();
        let mut out = vec![0.0f32; n];
        vector.run(&mut [&mut input, &mut out], 0, n).expect("run vector");
        let mut strided: Vec<f32> = xs.iter().flat_map(|&x| [x, 0.0]).collect();
        let mut out_scalar = vec![0.0f32; n];
        scalar.run(&mut [&mut strided, &mut out_scalar], 0, n).expect("run scalar");
        [out, out_scalar]
    }

    struct Measured {
        ulps: f64,
        at: f32,
        abs: f64,
    }

    fn measure(xs: &[f32], got: &[f32], want: &dyn Fn(f64) -> f64) -> Measured {
        let mut m = Measured {
            ulps: 0.0,
            at: 0.0,
            abs: 0.0,
        };
        for (&x, &g) in xs.iter().zip(got) {
            let w = want(f64::from(x));
            let e = ulp_error(g, w);
            if e > m.ulps || e.is_nan() {
                m.ulps = e;
                m.at = x;
            }
            if w.is_finite() && g.is_finite() {
                m.abs = m.abs.max((f64::from(g) - w).abs());
            }
        }
        m
    }

    /// Max ulps of each transcendental over `xs` (vector and scalar paths),
    /// printed; the functions over their bound are returned.
    fn check_accuracy(jit: &mut Jit, xs: &[f32], bounds: &[(Unary, f64)]) -> Vec<String> {
        println!(
            "{:<10} {:>12} {:>14} {:>12} {:>14} {:>12}",
            "function", "ulps vec", "at", "ulps scalar", "at", "abs err"
        );
        let mut failures = Vec::new();
        for &(op, bound) in bounds {
            let [vector, scalar] = run_both(jit, op, xs);
            let want = |x: f64| exact(op, x);
            let v = measure(xs, &vector, &want);
            let s = measure(xs, &scalar, &want);
            println!(
                "{:<10} {:>12.3} {:>14e} {:>12.3} {:>14e} {:>12.3e}",
                format!("{op:?}"),
                v.ulps,
                v.at,
                s.ulps,
                s.at,
                v.abs.max(s.abs)
            );
            if v.ulps > bound || s.ulps > bound || v.ulps.is_nan() || s.ulps.is_nan() {
                failures.push(format!("{op:?}: {} / {} ulps > {bound}", v.ulps, s.ulps));
            }
        }
        failures
    }

    /// Bounds in ulps of the correctly rounded f32 result, measured on an
    /// x86-64 host with and without FMA (see the module documentation).
    const BOUNDS: [(Unary, f64); 10] = [
        (Unary::Exp, 1.5),
        (Unary::Log, 1.5),
        (Unary::Tanh, 3.5),
        (Unary::Erf, 3.0),
        (Unary::Sigmoid, 3.0),
        (Unary::Silu, 3.5),
        (Unary::Gelu, 5.5),
        (Unary::GeluTanh, 4.5),
        (Unary::Sin, 0.51),
        (Unary::Cos, 0.51),
    ];

    /// Max error of every transcendental over the whole f32 range, on the
    /// vector and the scalar path, against f64 references. Run with
    /// `--nocapture` to read the table.
    #[test]
    fn accuracy() {
        let mut jit = Jit::new().expect("jit");
        let xs = sweep();
        println!(
            "{} inputs (every 4099th f32 bit pattern and special values), FMA: {}",
            xs.len(),
            jit.has_fma()
        );
        let failures = check_accuracy(&mut jit, &xs, &BOUNDS);
        assert!(failures.is_empty(), "{failures:?}");
    }

    /// The same without FMA (multiply then add; exact products by Dekker's
    /// method where erf, gelu and gelu_tanh need them).
    #[test]
    fn accuracy_without_fma() {
        let mut jit = Jit::without_fma().expect("jit");
        assert!(!jit.has_fma());
        let xs = sweep();
        let failures = check_accuracy(&mut jit, &xs, &BOUNDS);
        assert!(failures.is_empty(), "{failures:?}");
    }

    #[test]
    fn pow_accuracy() {
        let mut jit = Jit::new().expect("jit");
        let bases: Vec<f32> = (0..=u32::MAX).step_by(65537 * 3).map(f32::from_bits).chain(specials()).collect();
        let exponents: Vec<f32> = vec![
            0.0,
            -0.0,
            1.0,
            -1.0,
            2.0,
            -2.0,
            3.0,
            -3.0,
            0.5,
            -0.5,
            1.5,
            2.5,
            0.1,
            -0.7,
            7.0,
            10.0,
            33.3,
            -100.0,
            1e-5,
            1e5,
            126.0,
            -149.5,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            1e30,
            -1e30,
            16777217.0,
            8388609.0,
        ];
        let (mut xs, mut ys) = (Vec::new(), Vec::new());
        for &b in &exponents {
            for &a in &bases {
                xs.push(a);
                ys.push(b);
            }
        }
        let n = xs.len();
        let program = |stride: isize| Elementwise {
            shape: vec![n],
            inputs: vec![
                Access {
                    buffer: 0,
                    offset: 0,
                    strides: vec![stride],
                },
                Access {
                    buffer: 1,
                    offset: 0,
                    strides: vec![stride],
                },
            ],
            steps: vec![Step::Load(0), Step::Load(1), Step::Binary(Binary::Pow, 0, 1)],
        };
        let mut worst = [(0.0f64, 0.0f32, 0.0f32); 2];
        for (path, stride) in [1isize, 2].into_iter().enumerate() {
            let kernel = jit.compile_elementwise(&program(stride), 2).expect("compile");
            assert_eq!(kernel.is_vectorized(), stride == 1);
            let spread = |v: &[f32]| {
                v.iter()
                    .flat_map(|&x| std::iter::once(x).chain((stride == 2).then_some(0.0)))
                    .collect::<Vec<_>>()
            };
            let (mut a, mut b) = (spread(&xs), spread(&ys));
            let mut out = vec![0.0f32; n];
            kernel.run(&mut [&mut a, &mut b, &mut out], 0, n).expect("run");
            for i in 0..n {
                let want = f64::from(xs[i]).powf(f64::from(ys[i]));
                let e = ulp_error(out[i], want);
                // Signed zeros and infinities must match too.
                let sign_ok =
                    want.is_nan() || (want as f32 == 0.0 && want.is_sign_negative() == out[i].is_sign_negative()) || want as f32 != 0.0;
                assert!(sign_ok, "pow({}, {}) = {} but powf gives {}", xs[i], ys[i], out[i], want);
                if e > worst[path].0 {
                    worst[path] = (e, xs[i], ys[i]);
                }
            }
        }
        println!(
            "pow: {} pairs; max {:.3} ulps (vector) at ({:e}, {:e}), {:.3} ulps (scalar) at ({:e}, {:e})",
            n, worst[0].0, worst[0].1, worst[0].2, worst[1].0, worst[1].1, worst[1].2
        );
        assert!(worst[0].0 <= 1.0 && worst[1].0 <= 1.0, "{worst:?}");
    }
}
