use proptest::prelude::*;

use super::super::reference::{self, random_access, same, Rng, SENTINEL};
use super::super::{CodegenError, Kernel};
use super::{jit, run};
use crate::program::{Access, Binary, Elementwise, Step, Unary};

const UNARY: [Unary; 20] = [
    Unary::Neg,
    Unary::Abs,
    Unary::Exp,
    Unary::Log,
    Unary::Sqrt,
    Unary::Rsqrt,
    Unary::Reciprocal,
    Unary::Tanh,
    Unary::Erf,
    Unary::Sigmoid,
    Unary::Relu,
    Unary::Silu,
    Unary::Gelu,
    Unary::GeluTanh,
    Unary::Floor,
    Unary::Ceil,
    Unary::Round,
    Unary::Sin,
    Unary::Cos,
    Unary::Not,
];

const BINARY: [Binary; 15] = [
    Binary::Add,
    Binary::Sub,
    Binary::Mul,
    Binary::Div,
    Binary::Max,
    Binary::Min,
    Binary::Pow,
    Binary::Equal,
    Binary::NotEqual,
    Binary::Less,
    Binary::LessOrEqual,
    Binary::Greater,
    Binary::GreaterOrEqual,
    Binary::And,
    Binary::Or,
];

fn contiguous(buffer: usize, n: usize) -> Access {
    Access {
        buffer,
        offset: 0,
        strides: vec![1; n.min(1)],
    }
}

/// Ulps of tolerance against the f64-then-round reference (whose own
/// `gelu` tails cancel: an absolute 1e-6 passes too).
fn tolerance(op: Unary) -> f64 {
    match op {
        Unary::Exp | Unary::Log | Unary::Rsqrt => 1.5,
        Unary::Tanh => 2.0,
        Unary::Erf | Unary::Sigmoid => 3.0,
        Unary::Silu | Unary::Gelu | Unary::GeluTanh => 6.0,
        Unary::Sin | Unary::Cos => 1.0,
        _ => 0.0,
    }
}

fn close(got: f32, want: f32, ulps: f64) -> bool {
    if same(got, want) {
        return true;
    }
    if !got.is_finite() || !want.is_finite() {
        return false;
    }
    let diff = (f64::from(got) - f64::from(want)).abs();
    let ulp = f64::from(f32::from_bits(want.abs().to_bits() + 1) - want.abs()).max(f64::from(f32::from_bits(1)));
    diff <= ulps * ulp || diff <= 1e-6
}

fn interesting() -> Vec<f32> {
    let mut rng = Rng::new(7);
    let mut v = vec![
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.5,
        -0.5,
        1.5,
        2.5,
        -2.5,
        3.0,
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::MIN_POSITIVE,
        1e-40,
        -1e-40,
        1e30,
        -1e30,
        88.0,
        -90.0,
        -110.0,
        2e6,
        -3e9,
    ];
    v.extend((0..40).map(|_| rng.uniform(-12.0, 12.0)));
    v
}

/// Each unary op on the vector path (contiguous input, 63 elements: two
/// 8-element iterations and more, a vector, a tail) and on the scalar
/// path (input at stride 3).
#[test]
fn every_unary_op() {
    let mut jit = jit();
    let xs = interesting();
    let n = xs.len();
    for op in UNARY {
        for stride in [1isize, 3] {
            let program = Elementwise {
                shape: vec![n],
                inputs: vec![Access {
                    buffer: 0,
                    offset: 0,
                    strides: vec![stride],
                }],
                steps: vec![Step::Load(0), Step::Unary(op, 0)],
            };
            let kernel = jit.compile_elementwise(&program, 1).expect("compile");
            assert_eq!(kernel.is_vectorized(), stride == 1);
            let input: Vec<f32> = xs
                .iter()
                .flat_map(|&x| std::iter::once(x).chain(std::iter::repeat_n(9.0, stride as usize - 1)))
                .collect();
            let out = run(&kernel, &[input], 1, n, 0, n);
            for (i, &x) in xs.iter().enumerate() {
                let want = reference::unary(op, x);
                assert!(
                    close(out[i], want, tolerance(op)),
                    "{op:?}({x:e}) = {:e}, want {want:e} (stride {stride})",
                    out[i]
                );
            }
        }
    }
}

#[test]
fn relu_keeps_negative_zero_and_nan() {
    let mut jit = jit();
    let program = Elementwise {
        shape: vec![5],
        inputs: vec![contiguous(0, 1)],
        steps: vec![Step::Load(0), Step::Unary(Unary::Relu, 0)],
    };
    let kernel = jit.compile_elementwise(&program, 1).expect("compile");
    let out = run(&kernel, &[vec![-0.0, f32::NAN, -2.0, 3.0, f32::NEG_INFINITY]], 1, 5, 0, 5);
    assert!(out[0] == 0.0 && out[0].is_sign_negative());
    assert!(out[1].is_nan());
    assert_eq!(&out[2..], &[0.0, 3.0, 0.0]);
}

/// Each binary op over all pairs of a value set, vector and scalar paths.
#[test]
fn every_binary_op() {
    let mut jit = jit();
    let values: Vec<f32> = vec![
        0.0,
        -0.0,
        1.0,
        -1.0,
        2.0,
        -2.0,
        0.5,
        3.0,
        -3.0,
        1.25,
        -0.7,
        1e-3,
        7.5,
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        1e20,
    ];
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for &x in &values {
        for &y in &values {
            a.push(x);
            b.push(y);
        }
    }
    let n = a.len();
    for op in BINARY {
        for stride in [1isize, 2] {
            let program = Elementwise {
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
                        strides: vec![1],
                    },
                ],
                steps: vec![Step::Load(0), Step::Load(1), Step::Binary(op, 0, 1)],
            };
            let kernel = jit.compile_elementwise(&program, 2).expect("compile");
            let spread: Vec<f32> = a
                .iter()
                .flat_map(|&x| std::iter::once(x).chain((stride == 2).then_some(0.0)))
                .collect();
            let out = run(&kernel, &[spread, b.clone()], 2, n, 0, n);
            let ulps = if op == Binary::Pow { 1.0 } else { 0.0 };
            for i in 0..n {
                let want = reference::binary(op, a[i], b[i]);
                assert!(
                    close(out[i], want, ulps),
                    "{op:?}({:e}, {:e}) = {:e}, want {want:e}",
                    a[i],
                    b[i],
                    out[i]
                );
            }
        }
    }
}

/// Constant exponents 0, 1, 2, 3, -1, 0.5 take shortcuts; they must still
/// give `powf`'s values (signed zeros and infinities included).
#[test]
fn pow_constant_exponents() {
    let mut jit = jit();
    let xs = interesting();
    let n = xs.len();
    for k in [0.0f32, 1.0, 2.0, 3.0, -1.0, 0.5, -0.5, 4.0, 1.7] {
        let program = Elementwise {
            shape: vec![n],
            inputs: vec![contiguous(0, 1)],
            steps: vec![Step::Load(0), Step::Const(k), Step::Binary(Binary::Pow, 0, 1)],
        };
        let kernel = jit.compile_elementwise(&program, 1).expect("compile");
        let out = run(&kernel, std::slice::from_ref(&xs), 1, n, 0, n);
        for (i, &x) in xs.iter().enumerate() {
            let want = f64::from(x).powf(f64::from(k)) as f32;
            assert!(close(out[i], want, 1.0), "pow({x:e}, {k}) = {:e}, want {want:e}", out[i]);
            if want == 0.0 || want.is_infinite() {
                assert_eq!(out[i].is_sign_negative(), want.is_sign_negative(), "sign of pow({x:e}, {k})");
            }
        }
    }
}

#[test]
fn select_and_clamp() {
    let mut jit = jit();
    let conditions = [0.0, -0.0, 1.0, f32::NAN, 2.0, -3.0, 0.0, 1.0, 5.0];
    let xs = [-5.0, 0.5, 7.0, f32::NAN, 2.0, -0.0, 1.0, 3.5, 100.0];
    let n = xs.len();
    for (low, high) in [(-1.0f32, 2.0f32), (3.0, 1.0), (0.0, 0.0), (f32::NAN, 1.0)] {
        let program = Elementwise {
            shape: vec![n],
            inputs: vec![contiguous(0, 1), contiguous(1, 1)],
            steps: vec![
                Step::Load(0),
                Step::Load(1),
                Step::Clamp(1, low, high),
                Step::Const(-9.0),
                Step::Select(0, 2, 3),
            ],
        };
        let kernel = jit.compile_elementwise(&program, 2).expect("compile");
        let out = run(&kernel, &[conditions.to_vec(), xs.to_vec()], 2, n, 0, n);
        let want = reference::elementwise(&program, &[conditions.to_vec(), xs.to_vec()]);
        for i in 0..n {
            assert!(
                same(out[i], want[i]),
                "clamp [{low}, {high}], select {}: {} vs {}",
                conditions[i],
                out[i],
                want[i]
            );
        }
    }
}

/// Exact ops (the same f32 rounding in the kernel and the reference) for
/// the layout tests.
fn random_steps(rng: &mut Rng, inputs: usize) -> Vec<Step> {
    let mut steps: Vec<Step> = (0..inputs).map(Step::Load).collect();
    let exact_unary = [
        Unary::Neg,
        Unary::Abs,
        Unary::Relu,
        Unary::Floor,
        Unary::Ceil,
        Unary::Round,
        Unary::Not,
        Unary::Sqrt,
        Unary::Reciprocal,
    ];
    let exact_binary = [
        Binary::Add,
        Binary::Sub,
        Binary::Mul,
        Binary::Div,
        Binary::Max,
        Binary::Min,
        Binary::Less,
        Binary::Equal,
        Binary::GreaterOrEqual,
        Binary::And,
        Binary::Or,
    ];
    for _ in 0..1 + rng.below(6) {
        let k = steps.len();
        let step = match rng.below(6) {
            0 => Step::Unary(exact_unary[rng.below(exact_unary.len())], rng.below(k)),
            1 => Step::Const(rng.finite()),
            2 => Step::Select(rng.below(k), rng.below(k), rng.below(k)),
            3 => Step::Clamp(rng.below(k), -1.5, 2.0),
            _ => Step::Binary(exact_binary[rng.below(exact_binary.len())], rng.below(k), rng.below(k)),
        };
        steps.push(step);
    }
    steps
}

/// A random program over `shape` and its buffers (the output at index
/// `output`, left empty).
fn random_program(rng: &mut Rng, shape: &[usize], inputs: usize) -> (Elementwise, Vec<Vec<f32>>, usize) {
    let output = rng.below(inputs + 1);
    let mut buffers: Vec<Vec<f32>> = vec![Vec::new(); inputs + 1];
    let mut accesses = Vec::new();
    for k in 0..inputs {
        let buffer = if k >= output { k + 1 } else { k };
        let (access, len) = random_access(rng, shape, buffer);
        buffers[buffer] = (0..len).map(|_| rng.value()).collect();
        accesses.push(access);
    }
    let steps = random_steps(rng, inputs);
    (
        Elementwise {
            shape: shape.to_vec(),
            inputs: accesses,
            steps,
        },
        buffers,
        output,
    )
}

fn check_range(kernel: &Kernel, program: &Elementwise, buffers: &[Vec<f32>], output: usize, start: usize, end: usize) {
    let len = program.len();
    let out = run(kernel, buffers, output, len, start, end);
    let want = reference::elementwise(program, buffers);
    for i in 0..len {
        match (start..end).contains(&i) {
            true => assert!(same(out[i], want[i]), "element {i}: {} vs {} in {program:?}", out[i], want[i]),
            false => assert_eq!(out[i].to_bits(), SENTINEL.to_bits(), "element {i} outside {start}..{end} written"),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 160, failure_persistence: None, ..ProptestConfig::default() })]

    /// Random shapes (odd sizes, size-1 and size-0 dimensions, rank 0 to
    /// 4), accesses (broadcast, transposed, reversed, sliced, offset),
    /// output buffer positions, step DAGs and subranges.
    #[test]
    fn layouts_match_reference(
        shape in prop::collection::vec(prop_oneof![3 => 1usize..7, 1 => Just(1usize), 1 => 7usize..20, 1 => Just(0usize)], 0..5),
        inputs in 1usize..4,
        seed in any::<u64>(),
        cut in (0.0f64..1.0, 0.0f64..1.0),
    ) {
        let mut rng = Rng::new(seed);
        let (program, buffers, output) = random_program(&mut rng, &shape, inputs);
        let mut jit = jit();
        let kernel = jit.compile_elementwise(&program, output).expect("compile");
        let len = program.len();
        prop_assert_eq!(kernel.units(), len);
        let (a, b) = ((cut.0 * len as f64) as usize, (cut.1 * len as f64) as usize);
        check_range(&kernel, &program, &buffers, output, a.min(b), a.max(b));
        check_range(&kernel, &program, &buffers, output, 0, len);
    }
}

#[test]
fn broadcast_transpose_and_slices() {
    let mut jit = jit();
    // out[i, j] = a[j, i] (transposed 5x7 parent) + b[j] (row broadcast)
    // * c[i] (column broadcast) - d[2 + i * 9 + j] (slice of a 9-wide parent).
    let (m, n) = (7, 5);
    let mut rng = Rng::new(3);
    let a: Vec<f32> = (0..m * n).map(|_| rng.finite()).collect();
    let b: Vec<f32> = (0..n).map(|_| rng.finite()).collect();
    let c: Vec<f32> = (0..m).map(|_| rng.finite()).collect();
    let d: Vec<f32> = (0..2 + m * 9).map(|_| rng.finite()).collect();
    let program = Elementwise {
        shape: vec![m, n],
        inputs: vec![
            Access {
                buffer: 0,
                offset: 0,
                strides: vec![1, m as isize],
            },
            Access {
                buffer: 1,
                offset: 0,
                strides: vec![0, 1],
            },
            Access {
                buffer: 2,
                offset: 0,
                strides: vec![1, 0],
            },
            Access {
                buffer: 3,
                offset: 2,
                strides: vec![9, 1],
            },
        ],
        steps: vec![
            Step::Load(0),
            Step::Load(1),
            Step::Load(2),
            Step::Load(3),
            Step::Binary(Binary::Mul, 1, 2),
            Step::Binary(Binary::Add, 0, 4),
            Step::Binary(Binary::Sub, 5, 3),
        ],
    };
    let kernel = jit.compile_elementwise(&program, 4).expect("compile");
    assert!(!kernel.is_vectorized(), "the transposed input has inner stride 7");
    let buffers = vec![a, b, c, d];
    for (start, end) in [(0, m * n), (3, 4), (4, 17), (9, 35), (34, 35), (10, 10)] {
        check_range(&kernel, &program, &buffers, 4, start, end);
    }
}

#[test]
fn contiguous_dimensions_merge_into_one_vector_loop() {
    let mut jit = jit();
    let shape = vec![3, 1, 5, 7];
    let strides = vec![35, 0, 7, 1];
    let program = Elementwise {
        shape: shape.clone(),
        inputs: vec![
            Access {
                buffer: 0,
                offset: 1,
                strides,
            },
            Access {
                buffer: 1,
                offset: 0,
                strides: vec![0, 0, 0, 0],
            },
        ],
        steps: vec![
            Step::Load(0),
            Step::Load(1),
            Step::Binary(Binary::Mul, 0, 1),
            Step::Unary(Unary::Exp, 2),
        ],
    };
    let kernel = jit.compile_elementwise(&program, 2).expect("compile");
    assert!(kernel.is_vectorized());
    let mut rng = Rng::new(5);
    let buffers = vec![(0..106).map(|_| rng.finite()).collect(), vec![0.5]];
    let out = run(&kernel, &buffers, 2, 105, 0, 105);
    for (i, &o) in out.iter().enumerate() {
        let want = reference::unary(Unary::Exp, buffers[0][i + 1] * 0.5);
        assert!(close(o, want, 1.5), "{i}: {o} vs {want}");
    }
    for (start, end) in [(1, 2), (5, 104), (13, 13), (100, 105)] {
        let out = run(&kernel, &buffers, 2, 105, start, end);
        for (i, &o) in out.iter().enumerate() {
            assert_eq!(
                (start..end).contains(&i),
                o.to_bits() != SENTINEL.to_bits(),
                "element {i} of {start}..{end}"
            );
        }
    }
}

#[test]
fn empty_shapes_do_nothing() {
    let mut jit = jit();
    for shape in [vec![0], vec![3, 0, 2], vec![0, 0]] {
        let rank = shape.len();
        let program = Elementwise {
            shape,
            inputs: vec![Access {
                buffer: 0,
                offset: 0,
                strides: vec![1; rank],
            }],
            steps: vec![Step::Load(0), Step::Unary(Unary::Exp, 0)],
        };
        let kernel = jit.compile_elementwise(&program, 1).expect("compile");
        assert_eq!(kernel.units(), 0);
        // No buffer is needed at all.
        kernel.run(&mut [], 0, 0).expect("run");
        let mut out = [SENTINEL; 4];
        let raw = [out.as_mut_ptr(), out.as_mut_ptr()];
        // SAFETY: the kernel touches nothing for an empty shape (and `end`
        // is clamped to 0).
        unsafe { kernel.call(raw.as_ptr(), 0, 4) };
        assert!(out.iter().all(|o| o.to_bits() == SENTINEL.to_bits()));
    }
}

#[test]
fn rank_zero_and_size_one() {
    let mut jit = jit();
    for shape in [vec![], vec![1], vec![1, 1, 1]] {
        let rank = shape.len();
        let program = Elementwise {
            shape,
            inputs: vec![Access {
                buffer: 1,
                offset: 2,
                strides: vec![5; rank],
            }],
            steps: vec![Step::Load(0), Step::Const(2.0), Step::Binary(Binary::Mul, 0, 1)],
        };
        let kernel = jit.compile_elementwise(&program, 0).expect("compile");
        assert_eq!(kernel.units(), 1);
        let out = run(&kernel, &[Vec::new(), vec![1.0, 2.0, 3.0]], 0, 1, 0, 1);
        assert_eq!(out, vec![6.0]);
    }
}

/// Several threads run disjoint ranges of one kernel on shared buffers;
/// the kernel outlives the `Jit` that compiled it.
#[test]
fn threads_share_a_kernel_after_the_jit_is_gone() {
    let n = 10_007;
    let program = Elementwise {
        shape: vec![n],
        inputs: vec![contiguous(0, 1)],
        steps: vec![Step::Load(0), Step::Unary(Unary::Tanh, 0)],
    };
    let kernel = {
        let mut jit = jit();
        jit.compile_elementwise(&program, 1).expect("compile")
    };
    let input: Vec<f32> = (0..n).map(|i| (i as f32 - 5000.0) * 1e-3).collect();
    let mut out = vec![SENTINEL; n];
    struct Pointers([*mut f32; 2]);
    // SAFETY (test): the threads write disjoint output ranges and only read
    // the input.
    unsafe impl Sync for Pointers {}
    let pointers = Pointers([input.as_ptr() as *mut f32, out.as_mut_ptr()]);
    std::thread::scope(|scope| {
        for t in 0..4 {
            let (kernel, pointers) = (kernel.clone(), &pointers);
            scope.spawn(move || {
                let (start, end) = (t * n / 4, (t + 1) * n / 4);
                // SAFETY: buffers long enough, output ranges disjoint.
                unsafe { kernel.call(pointers.0.as_ptr(), start, end) };
            });
        }
    });
    for i in 0..n {
        assert!(close(out[i], reference::unary(Unary::Tanh, input[i]), 2.0), "{i}");
    }
}

#[test]
fn dead_steps_are_not_emitted_but_live_ones_are() {
    let mut jit = jit();
    let program = Elementwise {
        shape: vec![6],
        inputs: vec![contiguous(0, 1)],
        steps: vec![
            Step::Load(0),
            Step::Unary(Unary::Sin, 0),
            Step::Unary(Unary::Log, 0),
            Step::Unary(Unary::Neg, 0),
        ],
    };
    let kernel = jit.compile_elementwise(&program, 1).expect("compile");
    let out = run(&kernel, &[vec![1.0, -2.0, 3.0, 0.0, 5.0, 6.0]], 1, 6, 0, 6);
    assert_eq!(out, vec![-1.0, 2.0, -3.0, -0.0, -5.0, -6.0]);
}

#[test]
fn run_checks_buffers_and_ranges() {
    let mut jit = jit();
    let program = Elementwise {
        shape: vec![2, 3],
        inputs: vec![Access {
            buffer: 0,
            offset: 1,
            strides: vec![4, 1],
        }],
        steps: vec![Step::Load(0)],
    };
    let kernel = jit.compile_elementwise(&program, 2).expect("compile");
    let (mut a, mut b, mut c) = (vec![0.0; 8], vec![0.0; 1], vec![0.0; 6]);
    // Input 0 reaches element 1 + 4 + 2 = 7.
    assert!(matches!(
        kernel.run(&mut [&mut a[..7], &mut b, &mut c], 0, 6),
        Err(CodegenError::BufferTooSmall {
            buffer: 0,
            len: 7,
            needed: 8
        })
    ));
    assert!(matches!(
        kernel.run(&mut [&mut a, &mut b], 0, 6),
        Err(CodegenError::MissingBuffer { buffer: 2, given: 2 })
    ));
    assert!(matches!(
        kernel.run(&mut [&mut a, &mut b, &mut c[..5]], 0, 6),
        Err(CodegenError::BufferTooSmall { buffer: 2, .. })
    ));
    assert!(matches!(
        kernel.run(&mut [&mut a, &mut b, &mut c], 0, 7),
        Err(CodegenError::Range { .. })
    ));
    assert!(matches!(
        kernel.run(&mut [&mut a, &mut b, &mut c], 4, 3),
        Err(CodegenError::Range { .. })
    ));
    kernel.run(&mut [&mut a, &mut b, &mut c], 0, 6).expect("run");
}

/// Programs of more than 32 steps unroll less; the result is the same.
#[test]
fn long_programs() {
    let mut jit = jit();
    let mut rng = Rng::new(21);
    for n in [1usize, 5, 19, 64, 101] {
        let mut steps = vec![Step::Load(0), Step::Load(1)];
        for k in 2..60 {
            steps.push(match k % 4 {
                0 => Step::Binary(Binary::Add, k - 1, k - 2),
                1 => Step::Binary(Binary::Mul, k - 1, rng.below(k)),
                2 => Step::Clamp(k - 1, -3.0, 3.0),
                _ => Step::Binary(Binary::Max, k - 1, rng.below(k)),
            });
        }
        let program = Elementwise {
            shape: vec![n],
            inputs: vec![contiguous(0, 1), contiguous(1, 1)],
            steps,
        };
        let kernel = jit.compile_elementwise(&program, 2).expect("compile");
        let buffers: Vec<Vec<f32>> = (0..2).map(|_| (0..n).map(|_| rng.finite()).collect()).collect();
        check_range(&kernel, &program, &buffers, 2, 0, n);
    }
}

#[test]
fn disassembly_on_request() {
    let mut jit = jit();
    let program = Elementwise {
        shape: vec![10],
        inputs: vec![contiguous(0, 1)],
        steps: vec![Step::Load(0), Step::Unary(Unary::Exp, 0)],
    };
    assert!(jit.compile_elementwise(&program, 1).expect("compile").disassembly().is_none());
    jit.set_disassembly(true);
    let kernel = jit.compile_elementwise(&program, 1).expect("compile");
    let text = kernel.disassembly().expect("listing");
    assert!(text.contains("block0"), "{text}");
}
