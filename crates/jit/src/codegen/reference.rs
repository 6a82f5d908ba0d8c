//! A plain Rust evaluator of the programs, for the tests: every step in
//! f64 rounded to f32 (as the interpreter rounds every op to its dtype),
//! row statistics in f64.

use std::f64::consts::{PI, SQRT_2};

use opfuse_ops::eval::elementwise::erf;

use crate::program::{Access, Binary, Elementwise, RowOp, Rows, Step, Unary};

pub fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

pub fn unary(op: Unary, x: f32) -> f32 {
    let x = f64::from(x);
    let y = match op {
        Unary::Neg => -x,
        Unary::Abs => x.abs(),
        Unary::Exp => x.exp(),
        Unary::Log => x.ln(),
        Unary::Sqrt => x.sqrt(),
        Unary::Rsqrt => 1.0 / x.sqrt(),
        Unary::Reciprocal => 1.0 / x,
        Unary::Tanh => x.tanh(),
        Unary::Erf => erf(x),
        Unary::Sigmoid => sigmoid(x),
        Unary::Relu => {
            if x < 0.0 {
                0.0
            } else {
                x
            }
        }
        Unary::Silu => x * sigmoid(x),
        Unary::Gelu => 0.5 * x * (1.0 + erf(x / SQRT_2)),
        Unary::GeluTanh => 0.5 * x * (1.0 + ((2.0 / PI).sqrt() * (x + 0.044715 * x * x * x)).tanh()),
        Unary::Floor => x.floor(),
        Unary::Ceil => x.ceil(),
        Unary::Round => x.round_ties_even(),
        Unary::Sin => x.sin(),
        Unary::Cos => x.cos(),
        Unary::Not => f64::from(u8::from(x == 0.0)),
    };
    y as f32
}

fn truth(b: bool) -> f64 {
    f64::from(u8::from(b))
}

pub fn binary(op: Binary, a: f32, b: f32) -> f32 {
    let (a, b) = (f64::from(a), f64::from(b));
    let y = match op {
        Binary::Add => a + b,
        Binary::Sub => a - b,
        Binary::Mul => a * b,
        Binary::Div => a / b,
        Binary::Max => match a.is_nan() || b.is_nan() {
            true => f64::NAN,
            false => a.max(b),
        },
        Binary::Min => match a.is_nan() || b.is_nan() {
            true => f64::NAN,
            false => a.min(b),
        },
        Binary::Pow => a.powf(b),
        Binary::Equal => truth(a == b),
        Binary::NotEqual => truth(a != b),
        Binary::Less => truth(a < b),
        Binary::LessOrEqual => truth(a <= b),
        Binary::Greater => truth(a > b),
        Binary::GreaterOrEqual => truth(a >= b),
        Binary::And => truth(a != 0.0 && b != 0.0),
        Binary::Or => truth(a != 0.0 || b != 0.0),
    };
    y as f32
}

/// The element offset `access` reads at multi-index `index`.
pub fn offset(access: &Access, index: &[usize]) -> usize {
    let mut at = access.offset as isize;
    for (&i, &s) in index.iter().zip(&access.strides) {
        at += i as isize * s;
    }
    at as usize
}

/// Row-major multi-index of `linear` in `shape`.
pub fn unravel(shape: &[usize], mut linear: usize) -> Vec<usize> {
    let mut index = vec![0; shape.len()];
    for d in (0..shape.len()).rev() {
        index[d] = linear % shape[d];
        linear /= shape[d];
    }
    index
}

pub fn steps(steps: &[Step], load: &dyn Fn(usize) -> f32) -> f32 {
    let mut values: Vec<f32> = Vec::with_capacity(steps.len());
    for step in steps {
        let v = match *step {
            Step::Load(n) => load(n),
            Step::Const(k) => k,
            Step::Unary(op, a) => unary(op, values[a]),
            Step::Binary(op, a, b) => binary(op, values[a], values[b]),
            Step::Select(c, a, b) => match values[c] != 0.0 {
                true => values[a],
                false => values[b],
            },
            Step::Clamp(a, low, high) => {
                let x = values[a];
                if x.is_nan() {
                    x
                } else {
                    x.max(low).min(high)
                }
            }
        };
        values.push(v);
    }
    values[values.len() - 1]
}

/// Element `index` of an elementwise program.
pub fn element(program: &Elementwise, buffers: &[Vec<f32>], index: &[usize]) -> f32 {
    steps(&program.steps, &|n| {
        let access = &program.inputs[n];
        buffers[access.buffer][offset(access, index)]
    })
}

/// The whole output of an elementwise program.
pub fn elementwise(program: &Elementwise, buffers: &[Vec<f32>]) -> Vec<f32> {
    (0..program.len())
        .map(|i| element(program, buffers, &unravel(&program.shape, i)))
        .collect()
}

/// The whole output of a row program.
pub fn rows(program: &Rows, buffers: &[Vec<f32>]) -> Vec<f32> {
    let shape = if program.prologue.shape.is_empty() {
        vec![1]
    } else {
        program.prologue.shape.clone()
    };
    let len = shape[shape.len() - 1];
    let rows: usize = shape[..shape.len() - 1].iter().product();
    let pad = |a: &Access| {
        let mut a = a.clone();
        if program.prologue.shape.is_empty() {
            a.strides.push(0);
        }
        a
    };
    let prologue = Elementwise {
        shape: shape.clone(),
        inputs: program.prologue.inputs.iter().map(pad).collect(),
        steps: program.prologue.steps.clone(),
    };
    let scale = program.scale.as_ref().map(pad);
    let bias = program.bias.as_ref().map(pad);
    let mut out = Vec::new();
    for r in 0..rows {
        let indices: Vec<Vec<usize>> = (0..len).map(|j| unravel(&shape, r * len + j)).collect();
        let v: Vec<f64> = indices.iter().map(|i| f64::from(element(&prologue, buffers, i))).collect();
        let n = len as f64;
        let nan_max = |a: f64, b: f64| if a.is_nan() || b.is_nan() { f64::NAN } else { a.max(b) };
        let nan_min = |a: f64, b: f64| if a.is_nan() || b.is_nan() { f64::NAN } else { a.min(b) };
        let y: Vec<f64> = match program.op {
            RowOp::Sum => vec![v.iter().sum()],
            RowOp::Mean => vec![v.iter().sum::<f64>() / n],
            RowOp::Max => vec![v.iter().copied().fold(f64::NEG_INFINITY, nan_max)],
            RowOp::Min => vec![v.iter().copied().fold(f64::INFINITY, nan_min)],
            RowOp::Prod => vec![v.iter().product()],
            RowOp::L2 => vec![v.iter().map(|x| x * x).sum::<f64>().sqrt()],
            RowOp::LogSum => vec![v.iter().sum::<f64>().ln()],
            RowOp::LogSumExp => vec![opfuse_ops::eval::reduction::log_sum_exp(&v)],
            RowOp::LogSoftmax => {
                let m = v.iter().copied().fold(f64::NEG_INFINITY, nan_max);
                let s: f64 = v.iter().map(|x| (x - m).exp()).sum();
                v.iter().map(|x| x - m - s.ln()).collect()
            }
            RowOp::Softmax => {
                let m = v.iter().copied().fold(f64::NEG_INFINITY, nan_max);
                let e: Vec<f64> = v.iter().map(|x| (x - m).exp()).collect();
                let s: f64 = e.iter().sum();
                e.iter().map(|x| x / s).collect()
            }
            RowOp::LayerNorm { epsilon } => {
                let mean = v.iter().sum::<f64>() / n;
                let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
                v.iter().map(|x| (x - mean) / (var + f64::from(epsilon)).sqrt()).collect()
            }
            RowOp::RmsNorm { epsilon } => {
                let ms = v.iter().map(|x| x * x).sum::<f64>() / n;
                v.iter().map(|x| x / (ms + f64::from(epsilon)).sqrt()).collect()
            }
        };
        if program.op.reduces() {
            out.push(y[0] as f32);
            continue;
        }
        for (j, y) in y.into_iter().enumerate() {
            let mut y = y;
            if let Some(a) = &scale {
                y *= f64::from(buffers[a.buffer][offset(a, &indices[j])]);
            }
            if let Some(a) = &bias {
                y += f64::from(buffers[a.buffer][offset(a, &indices[j])]);
            }
            out.push(y as f32);
        }
    }
    out
}

/// A small deterministic generator for test data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        match n {
            0 => 0,
            _ => (self.next() % n as u64) as usize,
        }
    }

    pub fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }

    /// Uniform in `[low, high)`.
    pub fn uniform(&mut self, low: f32, high: f32) -> f32 {
        let u = (self.next() >> 40) as f32 / (1u64 << 24) as f32;
        low + (high - low) * u
    }

    /// Mostly ordinary values, sometimes zeros of either sign, integers,
    /// infinities and NaN.
    pub fn value(&mut self) -> f32 {
        match self.below(20) {
            0 => f32::NAN,
            1 => [f32::INFINITY, f32::NEG_INFINITY][self.below(2)],
            2 => [0.0, -0.0][self.below(2)],
            3 | 4 => self.below(7) as f32 - 3.0,
            _ => self.uniform(-4.0, 4.0),
        }
    }

    /// Finite, moderate values.
    pub fn finite(&mut self) -> f32 {
        match self.below(8) {
            0 => self.below(5) as f32 - 2.0,
            _ => self.uniform(-3.0, 3.0),
        }
    }
}

/// A random access over `shape` into `buffer`: dimensions permuted
/// (transposes), some broadcast (stride 0), some reversed (negative
/// stride), padded parents (slices) and an offset. Returns it with the
/// buffer length it needs.
pub fn random_access(rng: &mut Rng, shape: &[usize], buffer: usize) -> (Access, usize) {
    let rank = shape.len();
    let mut order: Vec<usize> = (0..rank).collect();
    if rng.chance(0.4) {
        for i in (1..rank).rev() {
            let j = rng.below(i + 1);
            order.swap(i, j);
        }
    }
    let broadcast: Vec<bool> = (0..rank).map(|_| rng.chance(0.2)).collect();
    let padded = rng.chance(0.3);
    let mut strides = vec![0isize; rank];
    let mut step = 1usize;
    // order[0] outermost: the innermost dimension is laid out first.
    for &d in order.iter().rev() {
        if broadcast[d] {
            continue;
        }
        strides[d] = step as isize;
        step *= shape[d] + if padded { rng.below(3) } else { 0 };
    }
    let mut offset = if rng.chance(0.3) { rng.below(5) } else { 0 };
    for d in 0..rank {
        if strides[d] != 0 && shape[d] > 1 && rng.chance(0.15) {
            offset += (shape[d] - 1) * strides[d] as usize;
            strides[d] = -strides[d];
        }
    }
    let reach: isize = shape.iter().zip(&strides).map(|(&n, &s)| (n as isize - 1).max(0) * s.max(0)).sum();
    let len = offset + reach as usize + 1 + rng.below(3);
    (Access { buffer, offset, strides }, len)
}

/// Equal values, NaN equal to NaN (zeros of either sign equal).
pub fn same(a: f32, b: f32) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

/// What test outputs are filled with before a run, to see what was
/// written.
pub const SENTINEL: f32 = -12345.5;
