//! Throughput of a few kernels (`cargo test -p opfuse-jit speed --
//! --ignored --nocapture`); the JIT's code runs at full speed even in a
//! debug build.

use std::time::Instant;

use super::super::Kernel;
use super::jit;
use crate::program::{Access, Binary, Elementwise, RowOp, Rows, Step, Unary};

fn best_ns_per_unit(kernel: &Kernel, buffers: &mut [Vec<f32>], units: usize, elements: usize) -> f64 {
    let mut slices: Vec<&mut [f32]> = buffers.iter_mut().map(|b| b.as_mut_slice()).collect();
    let mut best = f64::INFINITY;
    for _ in 0..20 {
        let t = Instant::now();
        kernel.run(&mut slices, 0, units).expect("run");
        best = best.min(t.elapsed().as_secs_f64());
    }
    best * 1e9 / elements as f64
}

fn unary(op: Unary, n: usize, stride: isize) -> Elementwise {
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

#[test]
#[ignore]
fn speed() {
    let mut jit = jit();
    let n = 1 << 16;
    for op in [
        Unary::Relu,
        Unary::Exp,
        Unary::Log,
        Unary::Tanh,
        Unary::Sigmoid,
        Unary::Silu,
        Unary::Gelu,
        Unary::GeluTanh,
        Unary::Erf,
        Unary::Sin,
    ] {
        let kernel = jit.compile_elementwise(&unary(op, n, 1), 1).expect("compile");
        let scalar = jit.compile_elementwise(&unary(op, n, 2), 1).expect("compile");
        let mut buffers = vec![(0..2 * n).map(|i| (i as f32 * 0.37).sin() * 4.0).collect(), vec![0.0; n]];
        let v = best_ns_per_unit(&kernel, &mut buffers, n, n);
        let s = best_ns_per_unit(&scalar, &mut buffers, n, n);
        println!("{op:?}: {v:.3} ns/element (f32x4), {s:.3} ns/element (scalar, strided)");
    }
    let pow = Elementwise {
        shape: vec![n],
        inputs: vec![
            Access {
                buffer: 0,
                offset: 0,
                strides: vec![1],
            },
            Access {
                buffer: 0,
                offset: 1,
                strides: vec![1],
            },
        ],
        steps: vec![
            Step::Load(0),
            Step::Unary(Unary::Abs, 0),
            Step::Load(1),
            Step::Binary(Binary::Pow, 1, 2),
        ],
    };
    let kernel = jit.compile_elementwise(&pow, 1).expect("compile");
    let mut buffers = vec![(0..n + 1).map(|i| (i as f32 * 0.37).sin() * 4.0).collect(), vec![0.0; n]];
    println!("pow: {:.3} ns/element", best_ns_per_unit(&kernel, &mut buffers, n, n));
    // Bandwidth: a + b * c over 4M elements.
    let m = 1 << 22;
    let fma = Elementwise {
        shape: vec![m],
        inputs: (0..3)
            .map(|b| Access {
                buffer: b,
                offset: 0,
                strides: vec![1],
            })
            .collect(),
        steps: vec![
            Step::Load(0),
            Step::Load(1),
            Step::Load(2),
            Step::Binary(Binary::Mul, 1, 2),
            Step::Binary(Binary::Add, 0, 3),
        ],
    };
    let kernel = jit.compile_elementwise(&fma, 3).expect("compile");
    let mut buffers = vec![vec![1.0; m], vec![2.0; m], vec![3.0; m], vec![0.0; m]];
    let ns = best_ns_per_unit(&kernel, &mut buffers, m, m);
    println!("a + b * c, 4M: {ns:.3} ns/element ({:.1} GB/s)", 16.0 / ns);
    // Transpose: out[i, j] = x[j, i], 1024 x 1024.
    let t = 1024;
    let transpose = Elementwise {
        shape: vec![t, t],
        inputs: vec![Access {
            buffer: 0,
            offset: 0,
            strides: vec![1, t as isize],
        }],
        steps: vec![Step::Load(0)],
    };
    let kernel = jit.compile_elementwise(&transpose, 1).expect("compile");
    let mut buffers = vec![vec![1.0; t * t], vec![0.0; t * t]];
    println!(
        "transpose 1024^2: {:.3} ns/element",
        best_ns_per_unit(&kernel, &mut buffers, t * t, t * t)
    );
    // Row kernels over 256 x 1024.
    let (rows, len) = (256, 1024);
    for op in [
        RowOp::Sum,
        RowOp::Max,
        RowOp::Softmax,
        RowOp::LayerNorm { epsilon: 1e-5 },
        RowOp::RmsNorm { epsilon: 1e-6 },
    ] {
        let program = Rows {
            prologue: Elementwise {
                shape: vec![rows, len],
                inputs: vec![Access {
                    buffer: 0,
                    offset: 0,
                    strides: vec![len as isize, 1],
                }],
                steps: vec![Step::Load(0)],
            },
            op,
            scale: (!op.reduces()).then(|| Access {
                buffer: 1,
                offset: 0,
                strides: vec![0, 1],
            }),
            bias: None,
        };
        let kernel = jit.compile_rows(&program, 2).expect("compile");
        let mut buffers = vec![
            (0..rows * len).map(|i| (i as f32 * 0.37).sin()).collect(),
            vec![1.0; len],
            vec![0.0; rows * len],
        ];
        println!(
            "{op:?} 256x1024: {:.3} ns/element",
            best_ns_per_unit(&kernel, &mut buffers, rows, rows * len)
        );
    }
}
