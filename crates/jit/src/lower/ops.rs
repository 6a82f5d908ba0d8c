//! Catalog elementwise ops as program steps. An op missing here runs
//! through the interpreter instead.

use opfuse_ir::{Attr, Attrs, DType};

use crate::program::{Binary, Step, Unary};

/// The catalog's elementwise ops with one operand and a direct unary step.
const UNARY: &[(&str, Unary)] = &[
    ("neg", Unary::Neg),
    ("abs", Unary::Abs),
    ("exp", Unary::Exp),
    ("log", Unary::Log),
    ("sqrt", Unary::Sqrt),
    ("rsqrt", Unary::Rsqrt),
    ("reciprocal", Unary::Reciprocal),
    ("tanh", Unary::Tanh),
    ("erf", Unary::Erf),
    ("sigmoid", Unary::Sigmoid),
    ("relu", Unary::Relu),
    ("silu", Unary::Silu),
    ("floor", Unary::Floor),
    ("ceil", Unary::Ceil),
    ("round", Unary::Round),
    ("sin", Unary::Sin),
    ("cos", Unary::Cos),
    ("not", Unary::Not),
];

const BINARY: &[(&str, Binary)] = &[
    ("add", Binary::Add),
    ("sub", Binary::Sub),
    ("mul", Binary::Mul),
    ("div", Binary::Div),
    ("max", Binary::Max),
    ("min", Binary::Min),
    ("pow", Binary::Pow),
    ("equal", Binary::Equal),
    ("less", Binary::Less),
    ("less_equal", Binary::LessOrEqual),
    ("greater", Binary::Greater),
    ("greater_equal", Binary::GreaterOrEqual),
    ("and", Binary::And),
    ("or", Binary::Or),
];

/// Whether the JIT computes values of `dtype`: floats in f32 (f64 stays
/// with the interpreter, whose precision the JIT would not match) and
/// booleans as 0.0/1.0. Integer arithmetic stays with the interpreter.
pub fn computes(dtype: DType) -> bool {
    matches!(dtype, DType::F32 | DType::F16 | DType::BF16 | DType::Bool)
}

/// The ops lowered by composing steps (`compose`), beyond the tables.
const COMPOSED: &[&str] = &[
    "gelu",
    "where",
    "clip",
    "identity",
    "cast",
    "constant",
    "leaky_relu",
    "softplus",
    "sign",
    "shrink",
    "softsign",
    "swish",
    "mish",
    "hard_sigmoid",
    "hard_swish",
    "elu",
    "selu",
    "celu",
    "thresholded_relu",
    "prelu",
    "is_nan",
    "is_inf",
    "xor",
    "add_n",
    "mean_n",
    "swiglu",
];

/// Whether `op` is an elementwise op this module lowers.
pub fn lowers(op: &str) -> bool {
    UNARY.iter().any(|(name, _)| *name == op) || BINARY.iter().any(|(name, _)| *name == op) || COMPOSED.contains(&op)
}

/// Appends the steps of `op` on `operands` (step indices); returns the step
/// holding its result, or `None` when the op (or these attributes) is not
/// lowered.
pub fn emit(op: &str, attrs: &Attrs, operands: &[usize], steps: &mut Vec<Step>) -> Option<usize> {
    let mut s = Steps { steps, attrs };
    if let Some((_, unary)) = UNARY.iter().find(|(name, _)| *name == op) {
        let [x] = operands else { return None };
        return Some(s.un(*unary, *x));
    }
    if let Some((_, binary)) = BINARY.iter().find(|(name, _)| *name == op) {
        let [a, b] = operands else { return None };
        return Some(s.bin(*binary, *a, *b));
    }
    match operands {
        [] => nullary(op, &mut s),
        [x] => unary(op, &mut s, *x),
        [a, b] => binary(op, &mut s, *a, *b),
        [c, a, b] if op == "where" => Some(s.sel(*c, *a, *b)),
        _ => None,
    }
}

/// Appends steps, with the node's attributes at hand.
struct Steps<'a> {
    steps: &'a mut Vec<Step>,
    attrs: &'a Attrs,
}

impl Steps<'_> {
    fn push(&mut self, step: Step) -> usize {
        self.steps.push(step);
        self.steps.len() - 1
    }

    fn c(&mut self, k: f64) -> usize {
        self.push(Step::Const(k as f32))
    }

    fn un(&mut self, op: Unary, x: usize) -> usize {
        self.push(Step::Unary(op, x))
    }

    fn bin(&mut self, op: Binary, a: usize, b: usize) -> usize {
        self.push(Step::Binary(op, a, b))
    }

    /// `op(a, k)` for a constant `k`.
    fn bin_c(&mut self, op: Binary, a: usize, k: f64) -> usize {
        let k = self.c(k);
        self.bin(op, a, k)
    }

    fn sel(&mut self, condition: usize, then: usize, otherwise: usize) -> usize {
        self.push(Step::Select(condition, then, otherwise))
    }

    /// A float attribute, or the catalog's default (which the verifier
    /// has normally filled in already).
    fn float(&self, key: &str, default: f64) -> f64 {
        self.attrs.get(key).and_then(Attr::as_float).unwrap_or(default)
    }

    fn flag(&self, key: &str, default: bool) -> bool {
        self.attrs.get(key).and_then(Attr::as_bool).unwrap_or(default)
    }

    /// `e^x - 1` without cancellation near 0, by Kahan's trick:
    /// `(u - 1) x / ln u` with `u = e^x` (`x` where `u` rounds to 1, -1
    /// where `u - 1` does, inf where `u` is).
    fn expm1(&mut self, x: usize) -> usize {
        let u = self.un(Unary::Exp, x);
        let um1 = self.bin_c(Binary::Sub, u, 1.0);
        let ln = self.un(Unary::Log, u);
        let ratio = self.bin(Binary::Div, x, ln);
        let general = self.bin(Binary::Mul, um1, ratio);
        let unit = self.bin_c(Binary::Equal, u, 1.0);
        let near = self.sel(unit, x, general);
        let minus_one = self.c(-1.0);
        let floor = self.bin(Binary::Equal, um1, minus_one);
        let finite = self.sel(floor, minus_one, near);
        let overflow = self.bin_c(Binary::Equal, u, f64::INFINITY);
        self.sel(overflow, u, finite)
    }

    /// `ln(1 + u)` for `u >= 0` without cancellation, by Goldberg's trick:
    /// `ln(w) u / (w - 1)` with `w = 1 + u` (`u` where `w` rounds to 1).
    fn log1p(&mut self, u: usize) -> usize {
        let w = self.bin_c(Binary::Add, u, 1.0);
        let ln = self.un(Unary::Log, w);
        let wm1 = self.bin_c(Binary::Sub, w, 1.0);
        let ratio = self.bin(Binary::Div, u, wm1);
        let general = self.bin(Binary::Mul, ln, ratio);
        let unit = self.bin_c(Binary::Equal, w, 1.0);
        self.sel(unit, u, general)
    }

    /// `ln(1 + e^x)` as `max(x, 0) + ln(1 + e^-|x|)`: no overflow for
    /// large `x`, and `e^x` (not 0) for very negative `x`.
    fn softplus(&mut self, x: usize) -> usize {
        let a = self.un(Unary::Abs, x);
        let na = self.un(Unary::Neg, a);
        let e = self.un(Unary::Exp, na);
        let tail = self.log1p(e);
        let positive = self.bin_c(Binary::Max, x, 0.0);
        self.bin(Binary::Add, positive, tail)
    }

    /// `x < 0 ? scale * expm1(x / divisor) : x` style negative branches:
    /// `scale * expm1(x / divisor)`.
    fn scaled_expm1(&mut self, x: usize, divisor: f64, scale: f64) -> usize {
        let arg = match divisor {
            1.0 => x,
            _ => self.bin_c(Binary::Div, x, divisor),
        };
        let e = self.expm1(arg);
        self.bin_c(Binary::Mul, e, scale)
    }

    /// `clamp(x * alpha + beta, 0, 1)`.
    fn hard_sigmoid(&mut self, x: usize, alpha: f64, beta: f64) -> usize {
        let scaled = self.bin_c(Binary::Mul, x, alpha);
        let shifted = self.bin_c(Binary::Add, scaled, beta);
        self.push(Step::Clamp(shifted, 0.0, 1.0))
    }
}

fn nullary(op: &str, s: &mut Steps<'_>) -> Option<usize> {
    match op {
        "constant" => {
            let value = s.attrs.get("value").and_then(Attr::as_float)?;
            Some(s.c(value))
        }
        _ => None,
    }
}

/// Ops of one operand, as the interpreter defines them
/// (`crates/ops/src/eval/elementwise.rs`).
fn unary(op: &str, s: &mut Steps<'_>, x: usize) -> Option<usize> {
    Some(match op {
        "gelu" => match s.attrs.get("approximate").and_then(Attr::as_str) {
            Some("tanh") => s.un(Unary::GeluTanh, x),
            _ => s.un(Unary::Gelu, x),
        },
        "clip" => {
            let (low, high) = (s.float("min", f64::NEG_INFINITY), s.float("max", f64::INFINITY));
            s.push(Step::Clamp(x, low as f32, high as f32))
        }
        "identity" | "add_n" | "mean_n" => x,
        "cast" => cast(s, x)?,
        "leaky_relu" => {
            let alpha = s.float("alpha", 0.009999999776482582);
            let negative = s.bin_c(Binary::Less, x, 0.0);
            let scaled = s.bin_c(Binary::Mul, x, alpha);
            s.sel(negative, scaled, x)
        }
        "softplus" => s.softplus(x),
        "mish" => {
            let soft = s.softplus(x);
            let t = s.un(Unary::Tanh, soft);
            s.bin(Binary::Mul, x, t)
        }
        "sign" => {
            let positive = s.bin_c(Binary::Greater, x, 0.0);
            let negative = s.bin_c(Binary::Less, x, 0.0);
            let minus_one = s.c(-1.0);
            let rest = s.sel(negative, minus_one, x);
            let one = s.c(1.0);
            s.sel(positive, one, rest)
        }
        "shrink" => {
            let (bias, lambd) = (s.float("bias", 0.0), s.float("lambd", 0.5));
            let below = s.bin_c(Binary::Less, x, -lambd);
            let above = s.bin_c(Binary::Greater, x, lambd);
            let up = s.bin_c(Binary::Add, x, bias);
            let down = s.bin_c(Binary::Sub, x, bias);
            let zero = s.c(0.0);
            let rest = s.sel(above, down, zero);
            s.sel(below, up, rest)
        }
        "softsign" => {
            let a = s.un(Unary::Abs, x);
            let d = s.bin_c(Binary::Add, a, 1.0);
            s.bin(Binary::Div, x, d)
        }
        "swish" => match s.float("alpha", 1.0) {
            1.0 => s.un(Unary::Silu, x),
            alpha => {
                let scaled = s.bin_c(Binary::Mul, x, alpha);
                let sig = s.un(Unary::Sigmoid, scaled);
                s.bin(Binary::Mul, x, sig)
            }
        },
        "hard_sigmoid" => {
            let (alpha, beta) = (s.float("alpha", 0.20000000298023224), s.float("beta", 0.5));
            s.hard_sigmoid(x, alpha, beta)
        }
        // x clamp(x/6 + 1/2, 0, 1) with the gate as (x + 3) / 6: no
        // cancellation where the gate is near 0.
        "hard_swish" => {
            let shifted = s.bin_c(Binary::Add, x, 3.0);
            let scaled = s.bin_c(Binary::Div, shifted, 6.0);
            let gate = s.push(Step::Clamp(scaled, 0.0, 1.0));
            s.bin(Binary::Mul, x, gate)
        }
        "elu" => {
            let alpha = s.float("alpha", 1.0);
            let negative = s.bin_c(Binary::Less, x, 0.0);
            let tail = s.scaled_expm1(x, 1.0, alpha);
            s.sel(negative, tail, x)
        }
        "selu" => {
            let (alpha, gamma) = (s.float("alpha", 1.6732631921768188), s.float("gamma", 1.0507010221481323));
            let positive = s.bin_c(Binary::Greater, x, 0.0);
            let linear = s.bin_c(Binary::Mul, x, gamma);
            let tail = s.scaled_expm1(x, 1.0, gamma * alpha);
            s.sel(positive, linear, tail)
        }
        "celu" => {
            let alpha = s.float("alpha", 1.0);
            let positive = s.bin_c(Binary::Greater, x, 0.0);
            let tail = s.scaled_expm1(x, alpha, alpha);
            s.sel(positive, x, tail)
        }
        "thresholded_relu" => {
            let alpha = s.float("alpha", 1.0);
            let above = s.bin_c(Binary::Greater, x, alpha);
            let zero = s.c(0.0);
            s.sel(above, x, zero)
        }
        "is_nan" => s.bin(Binary::NotEqual, x, x),
        "is_inf" => is_inf(s, x),
        _ => return None,
    })
}

/// `cast` to a float dtype the JIT computes in f32, as it computes every
/// op of those dtypes (the value rounds to f16 or bf16 when it becomes a
/// tensor), or to bool: `x != 0`, NaN included.
fn cast(s: &mut Steps<'_>, x: usize) -> Option<usize> {
    let to: DType = s.attrs.get("to").and_then(Attr::as_str)?.parse().ok()?;
    match to {
        DType::Bool => Some(s.bin_c(Binary::NotEqual, x, 0.0)),
        _ => computes(to).then_some(x),
    }
}

fn is_inf(s: &mut Steps<'_>, x: usize) -> usize {
    match (s.flag("detect_negative", true), s.flag("detect_positive", true)) {
        (true, true) => {
            let a = s.un(Unary::Abs, x);
            s.bin_c(Binary::Equal, a, f64::INFINITY)
        }
        (false, true) => s.bin_c(Binary::Equal, x, f64::INFINITY),
        (true, false) => s.bin_c(Binary::Equal, x, f64::NEG_INFINITY),
        (false, false) => s.c(0.0),
    }
}

/// Ops of two operands. `add_n` and `mean_n` of two are exact in f32 (the
/// interpreter sums in f64 and rounds once: with three or more operands
/// f32 partial sums would differ, so those stay interpreted).
fn binary(op: &str, s: &mut Steps<'_>, a: usize, b: usize) -> Option<usize> {
    Some(match op {
        "add_n" => s.bin(Binary::Add, a, b),
        // (0 + a/2) + b/2: one rounding, no overflow where a + b would,
        // and +0 for two -0 (the interpreter's sum starts at 0).
        "mean_n" => {
            let (ha, hb) = (s.bin_c(Binary::Mul, a, 0.5), s.bin_c(Binary::Mul, b, 0.5));
            let first = s.bin_c(Binary::Add, ha, 0.0);
            s.bin(Binary::Add, first, hb)
        }
        "xor" => {
            let (x, y) = (s.bin_c(Binary::NotEqual, a, 0.0), s.bin_c(Binary::NotEqual, b, 0.0));
            s.bin(Binary::NotEqual, x, y)
        }
        "prelu" => {
            let negative = s.bin_c(Binary::Less, a, 0.0);
            let scaled = s.bin(Binary::Mul, b, a);
            s.sel(negative, scaled, a)
        }
        // a * sigmoid(alpha a) * b, rounding the sigmoid and the gate as
        // the interpreter does.
        "swiglu" => {
            let scaled = match s.float("alpha", 1.0) {
                1.0 => a,
                alpha => s.bin_c(Binary::Mul, a, alpha),
            };
            let sig = s.un(Unary::Sigmoid, scaled);
            let gate = s.bin(Binary::Mul, a, sig);
            s.bin(Binary::Mul, gate, b)
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use opfuse_ir::{Attr, Attrs, DType, OpSemantics, Tensor, TensorType};
    use opfuse_ops::Catalog;

    use super::emit;
    use crate::codegen::Jit;
    use crate::program::{Access, Elementwise, Step};

    /// One op application to check: its attributes, operand count, operand
    /// dtype, and the ulps the JIT may differ from the interpreter by,
    /// where an ulp is at least `floor`.
    struct Case {
        op: &'static str,
        attrs: Vec<(&'static str, Attr)>,
        arity: usize,
        dtype: DType,
        ulps: f64,
        floor: f32,
    }

    impl Case {
        /// Absolute errors below `floor` pass: where f32 cannot follow the
        /// interpreter's f64 (`alpha x + beta` cancelling, subnormal
        /// intermediates).
        fn floor(self, floor: f32) -> Case {
            Case { floor, ..self }
        }
    }

    fn case(op: &'static str, attrs: Vec<(&'static str, Attr)>, arity: usize, ulps: f64) -> Case {
        Case {
            op,
            attrs,
            arity,
            dtype: DType::F32,
            ulps,
            floor: 0.0,
        }
    }

    fn cases() -> Vec<Case> {
        let f = Attr::Float;
        let text = |s: &str| Attr::Str(s.to_string());
        vec![
            case("sign", vec![], 1, 0.0),
            case("shrink", vec![], 1, 0.0),
            case("shrink", vec![("bias", f(0.5)), ("lambd", f(1.0))], 1, 0.0),
            case("softsign", vec![], 1, 1.0),
            case("leaky_relu", vec![], 1, 0.0),
            case("leaky_relu", vec![("alpha", f(0.5))], 1, 0.0),
            case("elu", vec![], 1, 3.0),
            case("elu", vec![("alpha", f(0.5))], 1, 3.0),
            case("selu", vec![], 1, 3.0),
            case("celu", vec![("alpha", f(2.0))], 1, 3.0),
            case("celu", vec![("alpha", f(-0.5))], 1, 3.0),
            case("thresholded_relu", vec![("alpha", f(1.5))], 1, 0.0),
            case("hard_sigmoid", vec![], 1, 1.0).floor(f32::EPSILON / 2.0),
            case("hard_swish", vec![], 1, 2.0),
            case("softplus", vec![], 1, 3.0),
            case("mish", vec![], 1, 5.0).floor(f32::MIN_POSITIVE),
            case("swish", vec![], 1, 3.5),
            // alpha x rounds to f32 before the sigmoid: about |alpha x| ulps in the tail.
            case("swish", vec![("alpha", f(0.5))], 1, 256.0),
            case("tanh", vec![], 1, 3.5),
            case("is_nan", vec![], 1, 0.0),
            case("is_inf", vec![], 1, 0.0),
            case("is_inf", vec![("detect_negative", Attr::Bool(false))], 1, 0.0),
            case("is_inf", vec![("detect_positive", Attr::Bool(false))], 1, 0.0),
            case("cast", vec![("to", text("bool"))], 1, 0.0),
            case("cast", vec![("to", text("f32"))], 1, 0.0),
            case("identity", vec![], 1, 0.0),
            case("add_n", vec![], 1, 0.0),
            case("add_n", vec![], 2, 0.0),
            case("mean_n", vec![], 2, 1.0),
            case("prelu", vec![], 2, 0.0),
            case("swiglu", vec![], 2, 4.0),
            case("swiglu", vec![("alpha", f(1.702))], 2, 256.0),
            Case {
                op: "xor",
                attrs: vec![],
                arity: 2,
                dtype: DType::Bool,
                ulps: 0.0,
                floor: 0.0,
            },
        ]
    }

    /// Ordinary values and the special ones: zeros of both signs, NaN,
    /// infinities, huge, tiny and subnormal magnitudes, the points where
    /// the branches of the composed ops switch.
    fn values(dtype: DType) -> Vec<f32> {
        if dtype == DType::Bool {
            return vec![0.0, 1.0];
        }
        let mut v = vec![
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.5,
            -0.5,
            1.5,
            -1.5,
            3.0,
            -3.0,
            6.0,
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            1e-40,
            -1e-40,
            1e-6,
            -1e-6,
            1e-20,
            -3e-8,
            20.0,
            -20.0,
            88.0,
            89.5,
            -100.0,
            -110.0,
            1e30,
            -1e30,
            f32::MAX,
        ];
        v.extend((0..40).map(|k| -10.0 + 0.517 * k as f32));
        v
    }

    /// Every combination of `arity` values, as `arity` columns.
    fn operands(arity: usize, dtype: DType) -> Vec<Vec<f32>> {
        let xs = values(dtype);
        let mut columns = vec![Vec::new(); arity];
        let total = xs.len().pow(arity as u32);
        for i in 0..total {
            let mut rest = i;
            for column in columns.iter_mut() {
                column.push(xs[rest % xs.len()]);
                rest /= xs.len();
            }
        }
        columns
    }

    fn interpret(catalog: &Catalog, op: &str, attrs: &Attrs, dtype: DType, inputs: &[Vec<f32>]) -> Vec<f32> {
        let mut attrs = attrs.clone();
        catalog.normalize_attrs(op, &mut attrs).expect("attributes");
        let tensors: Vec<Tensor> = inputs
            .iter()
            .map(|v| {
                let ty = TensorType::new(dtype, vec![v.len() as u64]);
                Tensor::new(ty, v.iter().map(|&x| f64::from(x)).collect()).expect("tensor")
            })
            .collect();
        let types: Vec<TensorType> = tensors.iter().map(|t| t.ty().clone()).collect();
        let outputs = catalog.infer(op, &attrs, &types).expect("types");
        let refs: Vec<&Tensor> = tensors.iter().collect();
        let out = catalog.eval(op, &attrs, &refs, &outputs).expect("eval");
        out[0].data().iter().map(|&x| x as f32).collect()
    }

    /// `op` through `emit` and the JIT's vector path (contiguous inputs).
    fn compiled(jit: &mut Jit, op: &str, attrs: &Attrs, inputs: &[Vec<f32>]) -> Vec<f32> {
        let n = inputs[0].len();
        let mut steps: Vec<Step> = (0..inputs.len()).map(Step::Load).collect();
        let operands: Vec<usize> = (0..inputs.len()).collect();
        let result = emit(op, attrs, &operands, &mut steps).expect("lowered");
        if result + 1 != steps.len() {
            steps.push(Step::Clamp(result, f32::NEG_INFINITY, f32::INFINITY));
        }
        let access = |buffer| Access {
            buffer,
            offset: 0,
            strides: vec![1],
        };
        let program = Elementwise {
            shape: vec![n],
            inputs: (0..inputs.len()).map(access).collect(),
            steps,
        };
        let kernel = jit.compile_elementwise(&program, inputs.len()).expect("compile");
        let mut buffers: Vec<Vec<f32>> = inputs.to_vec();
        buffers.push(vec![0.0; n]);
        let mut slices: Vec<&mut [f32]> = buffers.iter_mut().map(|b| b.as_mut_slice()).collect();
        kernel.run(&mut slices, 0, n).expect("run");
        buffers.pop().unwrap_or_default()
    }

    /// `|got - want|` in ulps of `want` (2^-149 below the normal range);
    /// NaN matches NaN, and zeros must match in sign.
    fn ulps(got: f32, want: f32, floor: f32) -> f64 {
        if got.is_nan() || want.is_nan() {
            return if got.is_nan() && want.is_nan() { 0.0 } else { f64::INFINITY };
        }
        if got == want {
            return if got == 0.0 && got.is_sign_negative() != want.is_sign_negative() {
                f64::INFINITY
            } else {
                0.0
            };
        }
        if !got.is_finite() || !want.is_finite() {
            return f64::INFINITY;
        }
        let spacing = (f32::from_bits(want.abs().to_bits() + 1) - want.abs()).max(floor);
        let spacing = f64::from(spacing).max(f64::from(f32::from_bits(1)));
        (f64::from(got) - f64::from(want)).abs() / spacing
    }

    /// Every composed op against the interpreter, on all combinations of
    /// special and ordinary values.
    #[test]
    fn composed_ops_match_the_interpreter() {
        let catalog = Catalog::builtin().expect("catalog");
        let mut jit = Jit::new().expect("jit");
        let mut failures = Vec::new();
        for case in cases() {
            let attrs: Attrs = case.attrs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
            let inputs = operands(case.arity, case.dtype);
            let want = interpret(&catalog, case.op, &attrs, case.dtype, &inputs);
            let got = compiled(&mut jit, case.op, &attrs, &inputs);
            let error = |i: usize| ulps(got[i], want[i], case.floor);
            let worst = (0..want.len()).max_by(|&i, &j| error(i).total_cmp(&error(j)));
            if let Some(i) = worst.filter(|&i| error(i) > case.ulps) {
                let at: Vec<f32> = inputs.iter().map(|column| column[i]).collect();
                failures.push(format!(
                    "{} {:?} at {at:?}: {:e}, interpreter {:e}",
                    case.op, case.attrs, got[i], want[i]
                ));
            }
        }
        assert!(failures.is_empty(), "{failures:#?}");
    }

    /// What the lowering leaves to the interpreter: attributes or operand
    /// counts f32 arithmetic would not reproduce.
    #[test]
    fn unexpressible_forms_are_not_lowered() {
        let mut steps = vec![Step::Load(0), Step::Load(1), Step::Load(2)];
        let none = Attrs::new();
        assert_eq!(emit("add_n", &none, &[0, 1, 2], &mut steps), None);
        assert_eq!(emit("mean_n", &none, &[0, 1, 2], &mut steps), None);
        let to_int: Attrs = [("to".to_string(), Attr::Str("i32".to_string()))].into();
        assert_eq!(emit("cast", &to_int, &[0], &mut steps), None);
        assert_eq!(emit("swiglu", &none, &[0], &mut steps), None);
    }
}
