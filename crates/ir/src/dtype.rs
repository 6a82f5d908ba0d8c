//! Element types.

use std::fmt;
use std::str::FromStr;

/// The element type of a tensor.
///
/// The fp8 formats follow the OCP 8-bit floating point specification
/// (`f8e4m3` is the finite-only "FN" variant exporters use).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    F64,
    F32,
    F16,
    BF16,
    F8E4M3,
    F8E5M2,
    I8,
    U8,
    I16,
    U16,
    I32,
    U32,
    I64,
    U64,
    Bool,
}

impl DType {
    /// Every dtype, in the order the language reference lists them.
    pub const ALL: [DType; 15] = [
        DType::F64,
        DType::F32,
        DType::F16,
        DType::BF16,
        DType::F8E4M3,
        DType::F8E5M2,
        DType::I8,
        DType::U8,
        DType::I16,
        DType::U16,
        DType::I32,
        DType::U32,
        DType::I64,
        DType::U64,
        DType::Bool,
    ];

    /// The name used in source text and in the printed IR.
    pub fn name(self) -> &'static str {
        match self {
            DType::F64 => "f64",
            DType::F32 => "f32",
            DType::F16 => "f16",
            DType::BF16 => "bf16",
            DType::F8E4M3 => "f8e4m3",
            DType::F8E5M2 => "f8e5m2",
            DType::I8 => "i8",
            DType::U8 => "u8",
            DType::I16 => "i16",
            DType::U16 => "u16",
            DType::U32 => "u32",
            DType::U64 => "u64",
            DType::I32 => "i32",
            DType::I64 => "i64",
            DType::Bool => "bool",
        }
    }

    /// Storage size of one element in bytes (`bool` is stored as one byte).
    pub fn size_bytes(self) -> u64 {
        match self {
            DType::F64 | DType::I64 | DType::U64 => 8,
            DType::F32 | DType::I32 | DType::U32 => 4,
            DType::F16 | DType::BF16 | DType::I16 | DType::U16 => 2,
            DType::F8E4M3 | DType::F8E5M2 | DType::I8 | DType::U8 | DType::Bool => 1,
        }
    }

    pub fn is_float(self) -> bool {
        matches!(
            self,
            DType::F64 | DType::F32 | DType::F16 | DType::BF16 | DType::F8E4M3 | DType::F8E5M2
        )
    }

    /// The range of an 8- or 16-bit integer type, the targets of
    /// quantization; `None` for every other type.
    pub fn quantized_range(self) -> Option<(f64, f64)> {
        match self {
            DType::I8 => Some((-128.0, 127.0)),
            DType::U8 => Some((0.0, 255.0)),
            DType::I16 => Some((-32768.0, 32767.0)),
            DType::U16 => Some((0.0, 65535.0)),
            _ => None,
        }
    }

    pub fn is_integer(self) -> bool {
        matches!(
            self,
            DType::I8 | DType::U8 | DType::I16 | DType::U16 | DType::I32 | DType::U32 | DType::I64 | DType::U64
        )
    }
}

/// A binary floating-point format narrower than f64, for rounding.
struct FloatFormat {
    /// Stored mantissa bits (without the implicit leading one).
    mantissa_bits: i32,
    /// The smallest normal exponent; below it values are subnormal.
    min_exponent: i32,
    max_finite: f64,
    /// Whether the format has infinities; f8e4m3 ("FN") has none, so what
    /// overflows it is NaN.
    has_infinity: bool,
}

const F16: FloatFormat = FloatFormat {
    mantissa_bits: 10,
    min_exponent: -14,
    max_finite: 65504.0,
    has_infinity: true,
};
const BF16: FloatFormat = FloatFormat {
    mantissa_bits: 7,
    min_exponent: -126,
    max_finite: 3.3895313892515355e38,
    has_infinity: true,
};
const F8E4M3: FloatFormat = FloatFormat {
    mantissa_bits: 3,
    min_exponent: -6,
    max_finite: 448.0,
    has_infinity: false,
};
const F8E5M2: FloatFormat = FloatFormat {
    mantissa_bits: 2,
    min_exponent: -14,
    max_finite: 57344.0,
    has_infinity: true,
};

impl FloatFormat {
    /// Rounds to the nearest representable value, ties to even; overflow
    /// is infinite, or NaN in a format without infinities.
    fn round(&self, x: f64) -> f64 {
        if !x.is_finite() {
            return match self.has_infinity {
                true => x,
                false => f64::NAN,
            };
        }
        if x == 0.0 {
            return x;
        }
        let exponent = ((x.abs().to_bits() >> 52) as i32 - 1023).max(self.min_exponent);
        let quantum = 2f64.powi(exponent - self.mantissa_bits);
        let rounded = (x / quantum).round_ties_even() * quantum;
        match (rounded.abs() > self.max_finite, self.has_infinity) {
            (false, _) => rounded,
            (true, true) => f64::INFINITY.copysign(x),
            (true, false) => f64::NAN,
        }
    }
}

impl DType {
    /// The value of this dtype nearest to `x`, as an f64 (which holds every
    /// value of every dtype exactly, except i64 beyond 2^53).
    ///
    /// Floats round to nearest, ties to even, overflowing to infinity (NaN
    /// in f8e4m3, which has none); see [`DType::saturate`] for the clamping
    /// fp8 conversions usually want. Integers truncate toward zero and wrap
    /// around, as NumPy's `astype` does; NaN becomes 0. Bool is `x != 0`.
    pub fn round(self, x: f64) -> f64 {
        match self {
            DType::F64 => x,
            DType::F32 => x as f32 as f64,
            DType::F16 => F16.round(x),
            DType::BF16 => BF16.round(x),
            DType::F8E4M3 => F8E4M3.round(x),
            DType::F8E5M2 => F8E5M2.round(x),
            DType::I8 => wrap(x, 8, true),
            DType::U8 => wrap(x, 8, false),
            DType::I16 => wrap(x, 16, true),
            DType::U16 => wrap(x, 16, false),
            DType::I32 => wrap(x, 32, true),
            DType::U32 => wrap(x, 32, false),
            DType::I64 => x as i64 as f64,
            DType::U64 => wrap(x, 64, false),
            DType::Bool => f64::from(u8::from(x != 0.0)),
        }
    }
}

impl DType {
    /// `x` clamped to the finite range of an fp8 dtype (infinities too; NaN
    /// stays NaN), as ONNX's `Cast` and `QuantizeLinear` do with
    /// `saturate = 1` and as the chips convert. Other dtypes: `x` unchanged.
    pub fn saturate(self, x: f64) -> f64 {
        let max = match self {
            DType::F8E4M3 => F8E4M3.max_finite,
            DType::F8E5M2 => F8E5M2.max_finite,
            _ => return x,
        };
        x.clamp(-max, max)
    }
}

fn wrap(x: f64, bits: u32, signed: bool) -> f64 {
    if !x.is_finite() {
        return 0.0;
    }
    let modulus = 1i128 << bits;
    let mut v = (x.trunc() as i128).rem_euclid(modulus);
    if signed && v >= modulus / 2 {
        v -= modulus;
    }
    v as f64
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DType {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DType::ALL.into_iter().find(|d| d.name() == s).ok_or(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for dtype in DType::ALL {
            assert_eq!(dtype.name().parse::<DType>(), Ok(dtype));
        }
        assert!("f128".parse::<DType>().is_err());
    }

    #[test]
    fn floats_round_to_nearest_even() {
        assert_eq!(DType::F16.round(1.0 + 2f64.powi(-11)), 1.0);
        assert_eq!(DType::F16.round(1.0 + 3.0 * 2f64.powi(-11)), 1.0 + 2f64.powi(-9));
        assert_eq!(DType::F16.round(65519.0), 65504.0);
        assert_eq!(DType::F16.round(65520.0), f64::INFINITY);
        assert_eq!(DType::F16.round(2f64.powi(-25)), 0.0);
        assert_eq!(DType::F16.round(2f64.powi(-24)), 2f64.powi(-24));
        assert_eq!(DType::BF16.round(1.0 + 2f64.powi(-8)), 1.0);
        assert_eq!(DType::BF16.round(3.140625), 3.140625);
        assert!(DType::F8E4M3.round(1000.0).is_nan());
        assert!(DType::F8E4M3.round(f64::NEG_INFINITY).is_nan());
        assert_eq!(DType::F8E4M3.round(464.0), 448.0);
        assert_eq!(DType::F8E4M3.saturate(f64::NEG_INFINITY), -448.0);
        assert_eq!(DType::F8E4M3.round(0.3), 0.3125);
        assert_eq!(DType::F8E4M3.round(2f64.powi(-9)), 2f64.powi(-9));
        assert_eq!(DType::F8E5M2.round(1e6), f64::INFINITY);
        assert_eq!(DType::F8E5M2.round(61439.0), 57344.0);
        assert_eq!(DType::F8E5M2.round(-61440.0), f64::NEG_INFINITY);
        assert_eq!(DType::F8E5M2.saturate(1e6), 57344.0);
        assert!(DType::F8E5M2.saturate(f64::NAN).is_nan());
        assert_eq!(DType::F8E5M2.round(-0.3), -0.3125);
        assert!(DType::F16.round(f64::NAN).is_nan());
    }

    #[test]
    fn integers_truncate_and_wrap() {
        assert_eq!(DType::I8.round(127.9), 127.0);
        assert_eq!(DType::I8.round(128.0), -128.0);
        assert_eq!(DType::U8.round(-1.0), 255.0);
        assert_eq!(DType::I32.round(-2.7), -2.0);
        assert_eq!(DType::I64.round(f64::NAN), 0.0);
        assert_eq!(DType::Bool.round(-0.5), 1.0);
    }
}
