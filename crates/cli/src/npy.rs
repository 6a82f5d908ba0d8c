//! NumPy `.npy` files to and from tensors, for `opfuse run`'s inputs and
//! outputs.
//!
//! Reads format versions 1.0, 2.0 and 3.0, little- or big-endian, in C or
//! Fortran order (transposed to row-major on read), of the dtypes f64, f32,
//! f16, i64, i32, i16, i8, u8 and bool. Writes version 1.0 (2.0 when the
//! header outgrows it) byte for byte as `numpy.save` does.
//!
//! NumPy has no bf16 or fp8 dtype. `ml_dtypes` arrays of them save as raw
//! bytes (`<V2`, `<V1`, `<f1`), which [`read_as`] reads when told the dtype
//! the model declares; tensors of them are written as f32, which holds each
//! of their values exactly.

use std::fmt;
use std::path::Path;

use opfuse_ir::{DType, Shape, Tensor, TensorType};
use opfuse_ops::eval::support;

const MAGIC: &[u8] = b"\x93NUMPY";
/// `numpy.lib.format.ARRAY_ALIGN`: the header is padded to this many bytes.
const ALIGN: usize = 64;
/// `numpy.lib.format.GROWTH_AXIS_MAX_DIGITS`: room left in the header so the
/// first axis can grow in place.
const GROWTH_DIGITS: usize = 21;

/// A file that is not a `.npy` file opfuse reads.
#[derive(Debug, PartialEq)]
pub enum NpyError {
    Io {
        path: String,
        message: String,
    },
    /// No `\x93NUMPY` magic: not a `.npy` file.
    Magic,
    Version {
        major: u8,
        minor: u8,
    },
    /// The header is cut short or is not the dict NumPy writes.
    Header(String),
    /// A dtype outside the supported set (complex, unsigned wider than 8
    /// bits, strings, structured records).
    DType(String),
    /// The data after the header is not as long as the shape needs.
    Size {
        expected: u64,
        found: usize,
    },
}

impl fmt::Display for NpyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NpyError::Io { path, message } => write!(f, "`{path}`: {message}"),
            NpyError::Magic => f.write_str("not a .npy file (it does not start with \\x93NUMPY)"),
            NpyError::Version { major, minor } => write!(f, ".npy format version {major}.{minor} is not supported (1.0 to 3.0 are)"),
            NpyError::Header(message) => write!(f, "bad .npy header: {message}"),
            NpyError::DType(descr) if ["V2", "V1", "f1"].iter().any(|raw| descr.ends_with(raw)) => write!(
                f,
                ".npy dtype `{descr}` is raw bytes (how NumPy saves ml_dtypes' bf16 and fp8 arrays); \
                 opfuse reads it only for a model input declared bf16 (`V2`) or fp8 (`V1`, `f1`)"
            ),
            NpyError::DType(descr) => write!(
                f,
                ".npy dtype `{descr}` is not supported (f64, f32, f16, i64, i32, i16, i8, u8 and bool are)"
            ),
            NpyError::Size { expected, found } => {
                write!(f, ".npy data is {found} bytes, but the header's shape and dtype need {expected}")
            }
        }
    }
}

impl std::error::Error for NpyError {}

/// Reads a `.npy` file.
pub fn read(path: &Path) -> Result<Tensor, NpyError> {
    read_as(path, None)
}

/// Reads a `.npy` file whose raw-byte data (`<V2`, `<V1`) holds elements of
/// `raw_dtype` (bf16 or an fp8 format, as `ml_dtypes` arrays save).
pub fn read_as(path: &Path, raw_dtype: Option<DType>) -> Result<Tensor, NpyError> {
    let bytes = std::fs::read(path).map_err(|e| NpyError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    decode_as(&bytes, raw_dtype)
}

/// An element type as `.npy` stores it.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Element {
    dtype: DType,
    big_endian: bool,
}

/// The parsed header dict.
struct Header {
    element: Element,
    fortran_order: bool,
    shape: Shape,
}

/// Parses the bytes of a `.npy` file, reading raw-byte data as `raw_dtype`
/// (see [`read_as`]).
pub fn decode_as(bytes: &[u8], raw_dtype: Option<DType>) -> Result<Tensor, NpyError> {
    let rest = bytes.strip_prefix(MAGIC).ok_or(NpyError::Magic)?;
    let short = || NpyError::Header("the file ends inside the header".into());
    let (&[major, minor], rest) = rest.split_first_chunk::<2>().ok_or_else(short)?;
    let (header_len, rest) = match (major, minor) {
        (1, 0) => rest
            .split_first_chunk::<2>()
            .map(|(n, rest)| (usize::from(u16::from_le_bytes(*n)), rest)),
        (2 | 3, 0) => rest
            .split_first_chunk::<4>()
            .map(|(n, rest)| (u32::from_le_bytes(*n) as usize, rest)),
        _ => return Err(NpyError::Version { major, minor }),
    }
    .ok_or_else(short)?;
    if rest.len() < header_len {
        return Err(short());
    }
    let (text, data) = rest.split_at(header_len);
    // Versions 1 and 2 are latin-1, 3 is UTF-8; the keys and values NumPy
    // writes are ASCII either way.
    let text = std::str::from_utf8(text).map_err(|_| NpyError::Header("the header is not ASCII text".into()))?;
    let header = parse_header(text, raw_dtype)?;
    let numel = header
        .shape
        .numel()
        .ok_or_else(|| NpyError::Header(format!("shape {} has too many elements", header.shape)))?;
    let size = header.element.dtype.size_bytes();
    let expected = numel.saturating_mul(size);
    if data.len() as u64 != expected {
        return Err(NpyError::Size {
            expected,
            found: data.len(),
        });
    }
    let mut values: Vec<f64> = data
        .chunks_exact(size as usize)
        .map(|b| decode_element(header.element, b))
        .collect();
    if header.fortran_order {
        values = fortran_to_c(&values, header.shape.dims());
    }
    Tensor::new(TensorType::new(header.element.dtype, header.shape), values).map_err(|e| NpyError::Header(e.to_string()))
}

fn parse_header(text: &str, raw_dtype: Option<DType>) -> Result<Header, NpyError> {
    let mut parser = Parser { text, at: 0 };
    let dict = parser.dict()?;
    let mut descr = None;
    let mut fortran_order = None;
    let mut shape = None;
    for (key, value) in dict {
        match (key.as_str(), value) {
            ("descr", Literal::Str(s)) => descr = Some(s),
            ("fortran_order", Literal::Bool(b)) => fortran_order = Some(b),
            ("shape", Literal::Tuple(dims)) => shape = Some(Shape(dims)),
            (key, _) => return Err(NpyError::Header(format!("unexpected key or value for `{key}`"))),
        }
    }
    let missing = |key: &str| NpyError::Header(format!("the header has no `{key}`"));
    Ok(Header {
        element: parse_descr(&descr.ok_or_else(|| missing("descr"))?, raw_dtype)?,
        fortran_order: fortran_order.ok_or_else(|| missing("fortran_order"))?,
        shape: shape.ok_or_else(|| missing("shape"))?,
    })
}

/// `'<f4'`, `'|b1'`, `'>i8'`...: byte order, kind, size. Raw bytes of one
/// or two bytes (how `ml_dtypes`' fp8 and bf16 arrays save) are elements of
/// `raw_dtype` when it is of that size.
fn parse_descr(descr: &str, raw_dtype: Option<DType>) -> Result<Element, NpyError> {
    let unsupported = || NpyError::DType(descr.to_string());
    let mut chars = descr.chars();
    let big_endian = match chars.next() {
        Some('<' | '|' | '=') => false,
        Some('>') => true,
        _ => return Err(unsupported()),
    };
    let dtype = match chars.as_str() {
        "f8" => DType::F64,
        "f4" => DType::F32,
        "f2" => DType::F16,
        "i8" => DType::I64,
        "i4" => DType::I32,
        "i2" => DType::I16,
        "i1" => DType::I8,
        "u1" => DType::U8,
        "u2" => DType::U16,
        "u4" => DType::U32,
        "u8" => DType::U64,
        "b1" => DType::Bool,
        "V2" | "V1" | "f1" => match raw_dtype {
            Some(raw @ DType::BF16) if descr.ends_with("V2") => raw,
            Some(raw @ (DType::F8E4M3 | DType::F8E5M2)) if !descr.ends_with("V2") => raw,
            _ => return Err(unsupported()),
        },
        _ => return Err(unsupported()),
    };
    Ok(Element { dtype, big_endian })
}

/// A value of the Python literals a `.npy` header holds.
enum Literal {
    Str(String),
    Bool(bool),
    Tuple(Vec<u64>),
}

/// A recursive-descent reader of the header's Python dict literal.
struct Parser<'t> {
    text: &'t str,
    at: usize,
}

impl<'t> Parser<'t> {
    fn rest(&self) -> &'t str {
        self.text.get(self.at..).unwrap_or("")
    }

    fn skip_space(&mut self) {
        let trimmed = self.rest().trim_start();
        self.at = self.text.len() - trimmed.len();
    }

    fn error(&self, expected: &str) -> NpyError {
        let found: String = self.rest().chars().take(12).collect();
        NpyError::Header(format!("expected {expected} at byte {}, found `{found}`", self.at))
    }

    /// Consumes `token` (after spaces) if it is next.
    fn eat(&mut self, token: &str) -> bool {
        self.skip_space();
        match self.rest().starts_with(token) {
            true => {
                self.at += token.len();
                true
            }
            false => false,
        }
    }

    fn expect(&mut self, token: &str) -> Result<(), NpyError> {
        match self.eat(token) {
            true => Ok(()),
            false => Err(self.error(&format!("`{token}`"))),
        }
    }

    fn dict(&mut self) -> Result<Vec<(String, Literal)>, NpyError> {
        self.expect("{")?;
        let mut entries = Vec::new();
        while !self.eat("}") {
            let key = self.string()?;
            self.expect(":")?;
            entries.push((key, self.value()?));
            if !self.eat(",") {
                self.expect("}")?;
                break;
            }
        }
        Ok(entries)
    }

    fn value(&mut self) -> Result<Literal, NpyError> {
        self.skip_space();
        let rest = self.rest();
        if rest.starts_with(['\'', '"']) {
            return self.string().map(Literal::Str);
        }
        if self.eat("True") {
            return Ok(Literal::Bool(true));
        }
        if self.eat("False") {
            return Ok(Literal::Bool(false));
        }
        if self.eat("(") {
            return self.tuple().map(Literal::Tuple);
        }
        if rest.starts_with('[') {
            // Only a structured (record) dtype's `descr` is a list.
            return Err(NpyError::DType("a structured (record) dtype".into()));
        }
        Err(self.error("a string, True, False or a tuple"))
    }

    fn string(&mut self) -> Result<String, NpyError> {
        self.skip_space();
        let mut chars = self.rest().char_indices();
        let quote = match chars.next() {
            Some((_, q @ ('\'' | '"'))) => q,
            _ => return Err(self.error("a quoted string")),
        };
        let mut out = String::new();
        let mut escaped = false;
        for (i, c) in chars {
            match (escaped, c) {
                (false, '\\') => escaped = true,
                (false, c) if c == quote => {
                    self.at += i + 1;
                    return Ok(out);
                }
                (_, c) => {
                    out.push(c);
                    escaped = false;
                }
            }
        }
        Err(NpyError::Header("a string is not closed".into()))
    }

    /// The dims of a shape tuple, after its `(`: `)`, `3,)`, `2, 3)`.
    fn tuple(&mut self) -> Result<Vec<u64>, NpyError> {
        let mut dims = Vec::new();
        while !self.eat(")") {
            dims.push(self.integer()?);
            if !self.eat(",") {
                self.expect(")")?;
                break;
            }
        }
        Ok(dims)
    }

    fn integer(&mut self) -> Result<u64, NpyError> {
        self.skip_space();
        let digits: &str = self.rest().split(|c: char| !c.is_ascii_digit()).next().unwrap_or("");
        let value = digits
            .parse::<u64>()
            .map_err(|_| self.error("a dimension (a non-negative integer)"))?;
        self.at += digits.len();
        // Python 2 wrote long integers with an `L` suffix.
        self.eat("L");
        Ok(value)
    }
}

fn decode_element(element: Element, bytes: &[u8]) -> f64 {
    let mut word = [0u8; 8];
    let n = bytes.len().min(8);
    word[..n].copy_from_slice(&bytes[..n]);
    if element.big_endian {
        word[..n].reverse();
    }
    let bits = u64::from_le_bytes(word);
    match element.dtype {
        DType::F64 => f64::from_bits(bits),
        DType::F32 => f64::from(f32::from_bits(bits as u32)),
        DType::F16 => f16_to_f64(bits as u16),
        DType::I64 => bits as i64 as f64,
        DType::I32 => f64::from(bits as u32 as i32),
        DType::I16 => f64::from(bits as u16 as i16),
        DType::I8 => f64::from(bits as u8 as i8),
        DType::U8 => f64::from(bits as u8),
        DType::U16 => f64::from(bits as u16),
        DType::U32 => f64::from(bits as u32),
        DType::U64 => bits as f64,
        DType::Bool => f64::from(u8::from(bits != 0)),
        DType::BF16 => f64::from(f32::from_bits((bits as u32) << 16)),
        DType::F8E4M3 => f8_to_f64(bits as u8, 3, false),
        DType::F8E5M2 => f8_to_f64(bits as u8, 2, true),
    }
}

/// Column-major elements of an array of these dims, in row-major order.
fn fortran_to_c(values: &[f64], dims: &[u64]) -> Vec<f64> {
    let mut out = vec![0.0; values.len()];
    // Row-major strides; walk the column-major order with an odometer whose
    // first axis turns fastest.
    let strides = support::strides(dims);
    let mut index = vec![0u64; dims.len()];
    let mut target = 0usize;
    for &value in values {
        if let Some(slot) = out.get_mut(target) {
            *slot = value;
        }
        for axis in 0..dims.len() {
            index[axis] += 1;
            target += strides[axis];
            if index[axis] < dims[axis] {
                break;
            }
            target -= strides[axis] * dims[axis] as usize;
            index[axis] = 0;
        }
    }
    out
}

/// The value of an IEEE half-precision bit pattern.
fn f16_to_f64(bits: u16) -> f64 {
    let sign = if bits & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exponent = i32::from((bits >> 10) & 0x1f);
    let mantissa = f64::from(bits & 0x3ff);
    match exponent {
        0 => sign * mantissa * 2f64.powi(-24),
        0x1f if mantissa == 0.0 => sign * f64::INFINITY,
        0x1f => f64::NAN,
        _ => sign * (1024.0 + mantissa) * 2f64.powi(exponent - 25),
    }
}

/// The value of an OCP fp8 bit pattern with `mantissa_bits` (E5M2 has
/// infinities; E4M3FN has none and only its all-ones patterns are NaN).
fn f8_to_f64(bits: u8, mantissa_bits: u32, ieee: bool) -> f64 {
    let exponent_bits = 7 - mantissa_bits;
    let sign = if bits & 0x80 != 0 { -1.0 } else { 1.0 };
    let exponent = i32::from((bits & 0x7f) >> mantissa_bits);
    let mantissa = f64::from(bits & ((1 << mantissa_bits) - 1));
    let top = (1 << exponent_bits) - 1;
    let bias = (1 << (exponent_bits - 1)) - 1;
    let steps = f64::from(1u32 << mantissa_bits);
    match exponent {
        e if ieee && e == top => match mantissa {
            0.0 => sign * f64::INFINITY,
            _ => f64::NAN,
        },
        e if !ieee && e == top && mantissa == steps - 1.0 => f64::NAN,
        0 => sign * mantissa / steps * 2f64.powi(1 - bias),
        e => sign * (1.0 + mantissa / steps) * 2f64.powi(e - bias),
    }
}

/// The bit pattern of the half-precision value nearest to `x` (exact for the
/// elements of an f16 tensor, which are f16 values already).
fn f64_to_f16(x: f64) -> u16 {
    let x = DType::F16.round(x);
    let sign: u16 = if x.is_sign_negative() { 0x8000 } else { 0 };
    let magnitude = x.abs();
    if x.is_nan() {
        return 0x7e00;
    }
    if magnitude.is_infinite() {
        return sign | 0x7c00;
    }
    if magnitude < 2f64.powi(-14) {
        // Subnormal (or zero): a count of 2^-24 steps.
        return sign | (magnitude * 2f64.powi(24)) as u16;
    }
    let exponent = ((magnitude.to_bits() >> 52) as i32) - 1023;
    let mantissa = (magnitude / 2f64.powi(exponent) - 1.0) * 1024.0;
    sign | (((exponent + 15) as u16) << 10) | mantissa as u16
}

/// The dtype a tensor is written as: its own, or f32 for those NumPy lacks.
fn written_dtype(dtype: DType) -> DType {
    match dtype {
        DType::BF16 | DType::F8E4M3 | DType::F8E5M2 => DType::F32,
        other => other,
    }
}

/// The `descr` NumPy writes for a dtype.
fn descr_of(dtype: DType) -> &'static str {
    match written_dtype(dtype) {
        DType::F64 => "<f8",
        DType::F16 => "<f2",
        DType::I64 => "<i8",
        DType::I32 => "<i4",
        DType::I16 => "<i2",
        DType::I8 => "|i1",
        DType::U8 => "|u1",
        DType::U16 => "<u2",
        DType::U32 => "<u4",
        DType::U64 => "<u8",
        DType::Bool => "|b1",
        _ => "<f4",
    }
}

/// The bytes of a `.npy` file holding `tensor`, as `numpy.save` writes them
/// (bf16 and fp8 as f32). Every tensor can be written; the `Result` matches
/// [`decode_as`] and the callers written against it.
pub fn encode(tensor: &Tensor) -> Result<Vec<u8>, NpyError> {
    let descr = descr_of(tensor.dtype());
    let dims = tensor.dims();
    let shape = match dims {
        [] => "()".to_string(),
        [one] => format!("({one},)"),
        _ => format!("({})", dims.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")),
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    if let Some(first) = dims.first() {
        header.push_str(&" ".repeat(GROWTH_DIGITS.saturating_sub(first.to_string().len())));
    }
    // Pad with spaces and a newline so the data starts at a multiple of
    // ALIGN; version 1.0 unless its 16-bit length cannot hold the header.
    let padded = |len_size: usize| {
        let prefix = MAGIC.len() + 2 + len_size;
        (prefix, header.len() + 1 + ALIGN - (prefix + header.len() + 1) % ALIGN)
    };
    let (version, (prefix, header_len)) = match padded(2) {
        (prefix, len) if len <= usize::from(u16::MAX) => (1u8, (prefix, len)),
        _ => (2u8, padded(4)),
    };
    header.push_str(&" ".repeat(header_len - header.len() - 1));
    header.push('\n');
    let dtype = written_dtype(tensor.dtype());
    let size = dtype.size_bytes() as usize;
    let mut out = Vec::with_capacity(prefix + header.len() + tensor.len() * size);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[version, 0]);
    match version {
        1 => out.extend_from_slice(&(header.len() as u16).to_le_bytes()),
        _ => out.extend_from_slice(&(header.len() as u32).to_le_bytes()),
    }
    out.extend_from_slice(header.as_bytes());
    for &x in tensor.data() {
        encode_element(dtype, x, &mut out);
    }
    Ok(out)
}

fn encode_element(dtype: DType, x: f64, out: &mut Vec<u8>) {
    match dtype {
        DType::F64 => out.extend_from_slice(&x.to_le_bytes()),
        DType::F32 => out.extend_from_slice(&(x as f32).to_le_bytes()),
        DType::F16 => out.extend_from_slice(&f64_to_f16(x).to_le_bytes()),
        DType::I64 => out.extend_from_slice(&(x as i64).to_le_bytes()),
        DType::I32 => out.extend_from_slice(&(x as i32).to_le_bytes()),
        DType::I16 => out.extend_from_slice(&(x as i16).to_le_bytes()),
        DType::I8 => out.extend_from_slice(&(x as i8).to_le_bytes()),
        DType::U8 => out.push(x as u8),
        DType::U16 => out.extend_from_slice(&(x as u16).to_le_bytes()),
        DType::U32 => out.extend_from_slice(&(x as u32).to_le_bytes()),
        DType::U64 => out.extend_from_slice(&(x as u64).to_le_bytes()),
        DType::Bool => out.push(u8::from(x != 0.0)),
        DType::BF16 | DType::F8E4M3 | DType::F8E5M2 => out.extend_from_slice(&(x as f32).to_le_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const F32_2X3: &[u8] = include_bytes!("../../../tests/fixtures/npy/f32_2x3.npy");
    const F16_SPECIALS: &[u8] = include_bytes!("../../../tests/fixtures/npy/f16_specials.npy");
    const I64_BIG_ENDIAN: &[u8] = include_bytes!("../../../tests/fixtures/npy/i64_big_endian.npy");
    const F64_FORTRAN: &[u8] = include_bytes!("../../../tests/fixtures/npy/f64_fortran.npy");
    const BOOL_SCALAR: &[u8] = include_bytes!("../../../tests/fixtures/npy/bool_scalar.npy");
    const U8_V2: &[u8] = include_bytes!("../../../tests/fixtures/npy/u8_v2.npy");

    fn tensor(dtype: DType, dims: &[u64], data: &[f64]) -> Tensor {
        Tensor::new(TensorType::new(dtype, dims.to_vec()), data.to_vec()).unwrap()
    }

    fn decode(bytes: &[u8]) -> Result<Tensor, NpyError> {
        decode_as(bytes, None)
    }

    #[test]
    fn reads_files_numpy_wrote() {
        let t = decode(F32_2X3).unwrap();
        let expected = [1.5, -2.0, 0.0, 3.25, 1e-3, -1e30].map(|x: f64| x as f32 as f64);
        assert_eq!(t, tensor(DType::F32, &[2, 3], &expected));
        let t = decode(F16_SPECIALS).unwrap();
        assert_eq!(t.dims(), &[6]);
        assert_eq!(&t.data()[..5], &[1.0, -0.0, 65504.0, 2f64.powi(-24), f64::INFINITY]);
        assert!(t.data()[1].is_sign_negative() && t.data()[5].is_nan());
        assert_eq!(
            decode(I64_BIG_ENDIAN).unwrap(),
            tensor(DType::I64, &[3], &[1.0, -2.0, 2f64.powi(40)])
        );
        let t = decode(F64_FORTRAN).unwrap();
        assert_eq!(t, tensor(DType::F64, &[2, 3], &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]));
        assert_eq!(decode(BOOL_SCALAR).unwrap(), Tensor::scalar(DType::Bool, 1.0));
        assert_eq!(decode(U8_V2).unwrap(), tensor(DType::U8, &[2, 2], &[0.0, 255.0, 7.0, 8.0]));
    }

    #[test]
    fn writes_what_numpy_writes() {
        for file in [F32_2X3, F16_SPECIALS, BOOL_SCALAR] {
            assert_eq!(encode(&decode(file).unwrap()).unwrap(), file);
        }
    }

    #[test]
    fn every_dtype_round_trips() {
        let cases = [
            (DType::F64, vec![0.1, -1e300, f64::INFINITY, -0.0]),
            (DType::F32, vec![0.1f32 as f64, -3.5, f64::NEG_INFINITY, 1e-40f32 as f64]),
            (DType::F16, vec![0.099975586, -65504.0, 2f64.powi(-24), 2f64.powi(-14) * 1.5]),
            (DType::I64, vec![-(2f64.powi(53)), 9.0, 0.0, 2f64.powi(53)]),
            (DType::I32, vec![i32::MIN as f64, -1.0, 7.0, i32::MAX as f64]),
            (DType::I16, vec![-32768.0, -1.0, 7.0, 32767.0]),
            (DType::I8, vec![-128.0, -1.0, 0.0, 127.0]),
            (DType::U8, vec![0.0, 1.0, 128.0, 255.0]),
            (DType::Bool, vec![0.0, 1.0, 1.0, 0.0]),
        ];
        for (dtype, data) in cases {
            let t = tensor(dtype, &[2, 2], &data);
            let back = decode(&encode(&t).unwrap()).unwrap();
            assert_eq!(back, t, "{dtype}");
            for (a, b) in back.data().iter().zip(t.data()) {
                assert_eq!(a.to_bits(), b.to_bits(), "{dtype}: sign of zero kept");
            }
        }
        let nan = decode(&encode(&Tensor::scalar(DType::F16, f64::NAN)).unwrap()).unwrap();
        assert!(nan.data()[0].is_nan());
        let empty = tensor(DType::F32, &[0, 3], &[]);
        assert_eq!(decode(&encode(&empty).unwrap()).unwrap(), empty);
    }

    #[test]
    fn large_headers_use_version_2() {
        let dims = vec![1u64; 30_000];
        let t = tensor(DType::U8, &dims, &[5.0]);
        let bytes = encode(&t).unwrap();
        assert_eq!(&bytes[6..8], &[2, 0]);
        assert_eq!(decode(&bytes).unwrap(), t);
    }

    #[test]
    fn f16_bits_convert_both_ways() {
        for bits in 0..=u16::MAX {
            let x = f16_to_f64(bits);
            if !x.is_nan() {
                assert_eq!(f64_to_f16(x), bits, "{bits:#06x}");
                assert_eq!(DType::F16.round(x), x);
            }
        }
    }

    #[test]
    fn bf16_and_fp8_are_written_as_f32_and_read_from_raw_bytes() {
        let t = tensor(DType::BF16, &[2], &[3.140625, -0.5]);
        assert_eq!(decode(&encode(&t).unwrap()).unwrap(), tensor(DType::F32, &[2], &[3.140625, -0.5]));
        // What np.save writes for ml_dtypes arrays: bf16 as `<V2`, fp8 as `<V1`.
        let raw = |descr: &str, data: &[u8]| {
            let header = format!(
                "{{'descr': '{descr}', 'fortran_order': False, 'shape': ({},), }}",
                data.len() / descr[2..].parse::<usize>().unwrap()
            );
            [MAGIC, &[1, 0], &(header.len() as u16).to_le_bytes(), header.as_bytes(), data].concat()
        };
        let bf16 = raw("<V2", &[0x49, 0x40, 0x00, 0xbf]);
        assert_eq!(
            decode_as(&bf16, Some(DType::BF16)).unwrap(),
            tensor(DType::BF16, &[2], &[3.140625, -0.5])
        );
        assert!(decode(&bf16).unwrap_err().to_string().contains("dtype `<V2`"));
        let e4m3 = raw("<V1", &[0x7e, 0x01, 0x38, 0xff]);
        let t = decode_as(&e4m3, Some(DType::F8E4M3)).unwrap();
        assert_eq!(&t.data()[..3], &[448.0, 2f64.powi(-9), 1.0]);
        assert!(t.data()[3].is_nan());
        let e5m2 = raw("<f1", &[0x7b, 0x01, 0xbc, 0x7c]);
        let t = decode_as(&e5m2, Some(DType::F8E5M2)).unwrap();
        assert_eq!(t.data(), &[57344.0, 2f64.powi(-16), -1.0, f64::INFINITY]);
        assert!(decode_as(&e5m2, Some(DType::BF16)).is_err());
    }

    #[test]
    fn malformed_files_are_errors() {
        let with_header = |header: &str, data: &[u8]| {
            let mut out = MAGIC.to_vec();
            out.extend_from_slice(&[1, 0]);
            out.extend_from_slice(&(header.len() as u16).to_le_bytes());
            out.extend_from_slice(header.as_bytes());
            out.extend_from_slice(data);
            out
        };
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"PK\x03\x04".to_vec(), "not a .npy file"),
            (F32_2X3[..9].to_vec(), "the file ends inside the header"),
            (F32_2X3[..60].to_vec(), "the file ends inside the header"),
            (
                F32_2X3[..F32_2X3.len() - 1].to_vec(),
                "is 23 bytes, but the header's shape and dtype need 24",
            ),
            ([MAGIC, &[4, 0]].concat(), "version 4.0 is not supported"),
            (
                with_header("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", &[0; 8]),
                "dtype `<c8`",
            ),
            (
                with_header("{'descr': '<U4', 'fortran_order': False, 'shape': (1,), }", &[0; 16]),
                "dtype `<U4`",
            ),
            (
                with_header("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", &[0; 4]),
                "structured",
            ),
            (with_header("{'descr': '<f4', 'shape': (1,), }", &[0; 4]), "no `fortran_order`"),
            (
                with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", &[]),
                "expected a dimension",
            ),
            (
                with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)", &[]),
                "expected `}`",
            ),
            (with_header("{'descr': '<f4", &[]), "not closed"),
            (
                with_header(
                    "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4294967296), }",
                    &[],
                ),
                "too many elements",
            ),
            (
                with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", &[]),
                "expected a dimension",
            ),
        ];
        for (bytes, expected) in cases {
            let message = decode(&bytes).unwrap_err().to_string();
            assert!(message.contains(expected), "`{message}` should contain `{expected}`");
        }
    }

    #[test]
    fn no_prefix_of_a_file_panics() {
        for file in [F32_2X3, F64_FORTRAN, U8_V2] {
            for len in 0..file.len() {
                assert!(decode(&file[..len]).is_err());
            }
        }
    }

    #[test]
    fn files_read() {
        let dir = std::env::temp_dir().join(format!("opfuse-npy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.npy");
        let t = tensor(DType::I32, &[3], &[1.0, 2.0, 3.0]);
        std::fs::write(&path, encode(&t).unwrap()).unwrap();
        assert_eq!(read(&path).unwrap(), t);
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(matches!(read(&path), Err(NpyError::Io { .. })));
    }
}
