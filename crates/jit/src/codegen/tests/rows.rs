use proptest::prelude::*;

use super::super::reference::{self, random_access, same, Rng, SENTINEL};
use super::super::Kernel;
use super::{jit, run};
use crate::program::{Access, Binary, Elementwise, RowOp, Rows, Step, Unary};

const OPS: [RowOp; 12] = [
    RowOp::Sum,
    RowOp::Mean,
    RowOp::Max,
    RowOp::Min,
    RowOp::Prod,
    RowOp::L2,
    RowOp::LogSum,
    RowOp::LogSumExp,
    RowOp::Softmax,
    RowOp::LogSoftmax,
    RowOp::LayerNorm { epsilon: 1e-5 },
    RowOp::RmsNorm { epsilon: 1e-6 },
];

/// Whether `got` is within f32 accumulation error of `want`: `scale` is
/// the row's magnitude (sum of |x| for sums, 1 for normalized values).
fn near(got: f32, want: f32, scale: f64, len: usize) -> bool {
    if !want.is_finite() || !got.is_finite() {
        return same(got, want);
    }
    let tolerance = 2e-6 * (len.max(1) as f64).sqrt() * scale + 2e-6 * f64::from(want.abs()) + 1e-30;
    (f64::from(got) - f64::from(want)).abs() <= tolerance
}

/// The magnitude errors scale with, per output of `program`.
fn scales(program: &Rows, buffers: &[Vec<f32>]) -> Vec<f64> {
    let shape = if program.prologue.shape.is_empty() {
        vec![1]
    } else {
        program.prologue.shape.clone()
    };
    let len = shape[shape.len() - 1];
    let rows: usize = shape[..shape.len() - 1].iter().product();
    let mut out = Vec::new();
    for r in 0..rows {
        let mut total = 0.0f64;
        let (mut sum, mut product) = (0.0f64, 1.0f64);
        for j in 0..len {
            let index = reference::unravel(&shape, r * len + j);
            let index = &index[..program.prologue.shape.len()];
            let x = f64::from(reference::element(&program.prologue, buffers, index));
            total += x.abs();
            sum += x;
            product *= x.abs();
        }
        let extra = |a: &Option<Access>| {
            a.as_ref().map_or(1.0, |a| {
                (0..len)
                    .map(|j| {
                        let index = reference::unravel(&shape, r * len + j);
                        f64::from(buffers[a.buffer][reference::offset(a, &index[..program.prologue.shape.len()])]).abs()
                    })
                    .fold(1.0, f64::max)
            })
        };
        match program.op {
            RowOp::Sum | RowOp::Max | RowOp::Min | RowOp::L2 | RowOp::LogSumExp => out.push(total),
            RowOp::Mean => out.push(total / len.max(1) as f64),
            RowOp::Prod => out.push(product * len as f64),
            // log's condition number: the sum's error relative to the sum.
            RowOp::LogSum => out.push(total / sum.abs().max(1e-30)),
            RowOp::LogSoftmax => out.extend(std::iter::repeat_n(total + 1.0, len)),
            _ => out.extend(std::iter::repeat_n(extra(&program.scale) + extra(&program.bias), len)),
        }
    }
    out
}

fn check(kernel: &Kernel, program: &Rows, buffers: &[Vec<f32>], output: usize, start: usize, end: usize) {
    let want = reference::rows(program, buffers);
    let len = program.prologue.shape.last().copied().unwrap_or(1);
    let per_row = if program.op.reduces() { 1 } else { len };
    let out = run(kernel, buffers, output, want.len(), start, end);
    let scale = scales(program, buffers);
    for (i, (&o, &w)) in out.iter().zip(&want).enumerate() {
        let row = i / per_row.max(1);
        match (start..end).contains(&row) {
            true => assert!(
                near(o, w, scale[i], len),
                "{:?} output {i}: {o:e} vs {w:e} in {program:?}",
                program.op
            ),
            false => assert_eq!(o.to_bits(), SENTINEL.to_bits(), "output {i} outside rows {start}..{end} written"),
        }
    }
}

/// `x * 1.5 - b` over `[rows, len]` with `x` read contiguously (vector
/// prologue) or transposed (scalar prologue) and `b` broadcast per row.
fn prologue(rows: usize, len: usize, transposed: bool) -> Elementwise {
    let x = match transposed {
        false => Access {
            buffer: 0,
            offset: 0,
            strides: vec![len as isize, 1],
        },
        true => Access {
            buffer: 0,
            offset: 0,
            strides: vec![1, rows as isize],
        },
    };
    Elementwise {
        shape: vec![rows, len],
        inputs: vec![
            x,
            Access {
                buffer: 1,
                offset: 0,
                strides: vec![1, 0],
            },
        ],
        steps: vec![
            Step::Load(0),
            Step::Const(1.5),
            Step::Binary(Binary::Mul, 0, 1),
            Step::Load(1),
            Step::Binary(Binary::Sub, 2, 3),
        ],
    }
}

/// Every row op, with and without scale and bias, over row lengths around
/// the vector widths, with vector and scalar prologues.
#[test]
fn every_row_op() {
    let mut jit = jit();
    let mut rng = Rng::new(11);
    let rows = 3;
    for op in OPS {
        let affine: &[(bool, bool)] = if op.reduces() {
            &[(false, false)]
        } else {
            &[(false, false), (true, false), (false, true), (true, true)]
        };
        for &(with_scale, with_bias) in affine {
            for len in [1usize, 2, 3, 4, 5, 7, 8, 15, 16, 17, 31, 33, 64, 67] {
                for transposed in [false, true] {
                    let program = Rows {
                        prologue: prologue(rows, len, transposed),
                        op,
                        scale: with_scale.then(|| Access {
                            buffer: 2,
                            offset: 1,
                            strides: vec![0, 1],
                        }),
                        bias: with_bias.then(|| Access {
                            buffer: 3,
                            offset: 0,
                            strides: vec![len as isize, 1],
                        }),
                    };
                    let kernel = jit.compile_rows(&program, 4).expect("compile");
                    assert_eq!(kernel.units(), rows);
                    assert_eq!(kernel.is_vectorized(), len >= 4 && !transposed, "{op:?} {len} {transposed}");
                    let buffers = vec![
                        (0..rows * len).map(|_| rng.finite()).collect(),
                        (0..rows).map(|_| rng.finite()).collect(),
                        (0..len + 1).map(|_| rng.finite()).collect(),
                        (0..rows * len).map(|_| rng.finite()).collect(),
                    ];
                    check(&kernel, &program, &buffers, 4, 0, rows);
                    check(&kernel, &program, &buffers, 4, 1, 2);
                }
            }
        }
    }
}

#[test]
fn softmax_with_masked_entries_and_nan_reductions() {
    let mut jit = jit();
    let row = vec![
        1.0,
        f32::NEG_INFINITY,
        2.0,
        f32::NEG_INFINITY,
        0.5,
        -1.0,
        f32::NEG_INFINITY,
        3.0,
        0.0,
    ];
    let n = row.len();
    let plain = |op| Rows {
        prologue: Elementwise {
            shape: vec![n],
            inputs: vec![Access {
                buffer: 0,
                offset: 0,
                strides: vec![1],
            }],
            steps: vec![Step::Load(0)],
        },
        op,
        scale: None,
        bias: None,
    };
    let softmax = plain(RowOp::Softmax);
    let kernel = jit.compile_rows(&softmax, 1).expect("compile");
    let out = run(&kernel, std::slice::from_ref(&row), 1, n, 0, 1);
    let want = reference::rows(&softmax, std::slice::from_ref(&row));
    for (o, w) in out.iter().zip(&want) {
        assert!((o - w).abs() <= 1e-7, "{out:?} vs {want:?}");
    }
    assert_eq!(out[1], 0.0);
    let mut with_nan = row.clone();
    with_nan[4] = f32::NAN;
    for op in [RowOp::Max, RowOp::Min, RowOp::Sum, RowOp::Mean] {
        let kernel = jit.compile_rows(&plain(op), 1).expect("compile");
        assert!(run(&kernel, &[with_nan.clone()], 1, 1, 0, 1)[0].is_nan(), "{op:?}");
    }
    let kernel = jit.compile_rows(&plain(RowOp::Max), 1).expect("compile");
    assert_eq!(run(&kernel, std::slice::from_ref(&row), 1, 1, 0, 1), vec![3.0]);
    let kernel = jit.compile_rows(&plain(RowOp::Min), 1).expect("compile");
    assert_eq!(run(&kernel, &[row], 1, 1, 0, 1), vec![f32::NEG_INFINITY]);
}

/// Rows of length 0: reductions write their identity (the mean of nothing
/// is NaN), normalizations write nothing. No outer rows: nothing at all.
#[test]
fn empty_rows() {
    let mut jit = jit();
    for (op, want) in [
        (RowOp::Sum, 0.0),
        (RowOp::Mean, f32::NAN),
        (RowOp::Max, f32::NEG_INFINITY),
        (RowOp::Min, f32::INFINITY),
    ] {
        let program = Rows {
            prologue: prologue(3, 0, false),
            op,
            scale: None,
            bias: None,
        };
        let kernel = jit.compile_rows(&program, 2).expect("compile");
        assert_eq!(kernel.units(), 3);
        let out = run(&kernel, &[Vec::new(), vec![0.0; 3]], 2, 3, 0, 3);
        assert!(out.iter().all(|&o| same(o, want)), "{op:?}: {out:?}");
    }
    for op in [RowOp::Softmax, RowOp::LayerNorm { epsilon: 0.1 }] {
        let program = Rows {
            prologue: prologue(3, 0, false),
            op,
            scale: None,
            bias: None,
        };
        let kernel = jit.compile_rows(&program, 2).expect("compile");
        kernel.run(&mut [&mut [], &mut [0.0; 3]], 0, 3).expect("run");
    }
    for op in OPS {
        let program = Rows {
            prologue: prologue(0, 5, false),
            op,
            scale: None,
            bias: None,
        };
        let kernel = jit.compile_rows(&program, 2).expect("compile");
        assert_eq!(kernel.units(), 0);
        kernel.run(&mut [], 0, 0).expect("run");
    }
}

#[test]
fn rank_zero_and_one_rows() {
    let mut jit = jit();
    let scalar = Elementwise {
        shape: vec![],
        inputs: vec![Access {
            buffer: 0,
            offset: 2,
            strides: vec![],
        }],
        steps: vec![Step::Load(0), Step::Unary(Unary::Exp, 0)],
    };
    for op in OPS {
        let program = Rows {
            prologue: scalar.clone(),
            op,
            scale: None,
            bias: None,
        };
        let kernel = jit.compile_rows(&program, 1).expect("compile");
        assert_eq!(kernel.units(), 1);
        let buffers = vec![vec![0.0, 0.0, 0.25]];
        check(&kernel, &program, &buffers, 1, 0, 1);
    }
    let vector = Elementwise {
        shape: vec![10],
        inputs: vec![Access {
            buffer: 0,
            offset: 0,
            strides: vec![1],
        }],
        steps: vec![Step::Load(0)],
    };
    for op in OPS {
        let program = Rows {
            prologue: vector.clone(),
            op,
            scale: None,
            bias: None,
        };
        let kernel = jit.compile_rows(&program, 1).expect("compile");
        let buffers = vec![(0..10).map(|i| i as f32 * 0.3 - 1.0).collect()];
        check(&kernel, &program, &buffers, 1, 0, 1);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 160, failure_persistence: None, ..ProptestConfig::default() })]

    /// Random shapes (the row last; odd, size-1 and size-0 dimensions),
    /// accesses (broadcast, transposed, reversed, sliced), ops with random
    /// scale and bias, output positions and row subranges.
    #[test]
    fn rows_match_reference(
        outer in prop::collection::vec(prop_oneof![3 => 1usize..5, 1 => Just(1usize), 1 => Just(0usize)], 0..3),
        len in prop_oneof![3 => 1usize..40, 1 => Just(1usize), 1 => Just(0usize)],
        op in 0usize..7,
        affine in (any::<bool>(), any::<bool>()),
        seed in any::<u64>(),
        cut in (0.0f64..1.0, 0.0f64..1.0),
    ) {
        let mut rng = Rng::new(seed);
        let op = OPS[op];
        let mut shape = outer.clone();
        shape.push(len);
        let inputs = 1 + rng.below(2);
        let output = inputs + 2;
        let mut buffers: Vec<Vec<f32>> = vec![Vec::new(); inputs + 3];
        let mut accesses = Vec::new();
        for (k, buffer) in buffers.iter_mut().take(inputs + 2).enumerate() {
            let (access, n) = random_access(&mut rng, &shape, k);
            *buffer = (0..n).map(|_| rng.finite()).collect();
            accesses.push(access);
        }
        let mut steps: Vec<Step> = (0..inputs).map(Step::Load).collect();
        if inputs == 2 {
            steps.push(Step::Binary(Binary::Add, 0, 1));
        }
        if rng.chance(0.5) {
            steps.push(Step::Unary(Unary::Tanh, steps.len() - 1));
        }
        let bias = accesses.pop().filter(|_| affine.1 && !op.reduces());
        let scale = accesses.pop().filter(|_| affine.0 && !op.reduces());
        let program = Rows { prologue: Elementwise { shape, inputs: accesses, steps }, op, scale, bias };
        let mut jit = jit();
        let kernel = jit.compile_rows(&program, output).expect("compile");
        let rows: usize = outer.iter().product();
        prop_assert_eq!(kernel.units(), rows);
        let (a, b) = ((cut.0 * rows as f64) as usize, (cut.1 * rows as f64) as usize);
        check(&kernel, &program, &buffers, output, a.min(b), a.max(b));
        check(&kernel, &program, &buffers, output, 0, rows);
    }
}

/// A constant row has variance 0 and every `v - mean` is 0: the output is
/// exactly the bias, however the mean rounds.
#[test]
fn layer_norm_of_a_constant_row_is_the_bias() {
    let mut jit = jit();
    for len in [3usize, 29, 31, 100] {
        let program = Rows {
            prologue: Elementwise {
                shape: vec![2, len],
                inputs: vec![Access {
                    buffer: 0,
                    offset: 0,
                    strides: vec![1, 0],
                }],
                steps: vec![Step::Load(0), Step::Unary(Unary::Tanh, 0)],
            },
            op: RowOp::LayerNorm { epsilon: 1e-5 },
            scale: Some(Access {
                buffer: 1,
                offset: 0,
                strides: vec![0, 1],
            }),
            bias: Some(Access {
                buffer: 2,
                offset: 0,
                strides: vec![0, 1],
            }),
        };
        let kernel = jit.compile_rows(&program, 3).expect("compile");
        let bias: Vec<f32> = (0..len).map(|j| j as f32 * 0.25 - 3.0).collect();
        let out = run(&kernel, &[vec![0.7311, -2.19], vec![1.5; len], bias.clone()], 3, 2 * len, 0, 2);
        assert_eq!(&out[..len], &bias[..], "len {len}");
        assert_eq!(&out[len..], &bias[..], "len {len}");
    }
}
