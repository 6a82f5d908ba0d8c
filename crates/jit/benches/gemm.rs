//! Single-thread sgemm speed, m = n = k = 512 and 1024, row-major operands:
//! the JIT path (packed panels + Cranelift micro-kernel) and the library
//! path (`matrixmultiply`). Criterion reports the throughput in
//! elements/s, one element being one flop (`2 n^3` per product), so
//! `Gelem/s` reads as GFLOP/s.
//!
//! After the criterion groups, `cargo bench` prints a summary with numpy's
//! single-thread sgemm measured in the same run (`python3` with numpy,
//! `OPENBLAS_NUM_THREADS=1`) and the ratios: jit/numpy and jit/(numpy/2),
//! numpy/2 being the ceiling of 128-bit vectors on a machine whose BLAS
//! uses 256-bit ones.
//!
//! Run: `cargo bench -p opfuse-jit --bench gemm`. With `OPFUSE_GEMM_TUNE=1`
//! the binary only prints the JIT path's best-of-15 GFLOP/s per size (a
//! quick check when tuning the blocking or the kernel).

use std::hint::black_box;
use std::process::Command;
use std::time::Instant;

use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use opfuse_jit::gemm::{Gemm, GemmPath};
use opfuse_jit::program::{Access, Matmul};

const SIZES: [usize; 2] = [512, 1024];

struct Problem {
    mm: Matmul,
    a: Vec<f32>,
    b: Vec<f32>,
    c: Vec<f32>,
}

impl Problem {
    fn square(n: usize) -> Problem {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut random = |len: usize| -> Vec<f32> {
            (0..len)
                .map(|_| {
                    seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    (seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5
                })
                .collect()
        };
        let row_major = |buffer| Access {
            buffer,
            offset: 0,
            strides: vec![n as isize, 1],
        };
        Problem {
            mm: Matmul {
                batch: vec![],
                m: n,
                n,
                k: n,
                a: row_major(0),
                b: row_major(1),
                epilogue: None,
            },
            a: random(n * n),
            b: random(n * n),
            c: vec![0.0; n * n],
        }
    }

    fn run(&mut self, gemm: &Gemm, path: GemmPath) {
        let buffers = [self.a.as_mut_ptr(), self.b.as_mut_ptr(), self.c.as_mut_ptr()];
        // SAFETY: the buffers are n x n, as the accesses say.
        let done = unsafe {
            gemm.run(&self.mm, buffers.as_ptr(), 2, path, 0..self.mm.m, &|s, e| {
                black_box((s, e));
            })
        };
        if let Err(e) = done {
            panic!("gemm failed: {e}");
        }
        black_box(&self.c);
    }

    fn flops(&self) -> f64 {
        2.0 * (self.mm.m * self.mm.n * self.mm.k) as f64
    }
}

fn gemm_speed(c: &mut Criterion) {
    let gemm = match Gemm::new() {
        Ok(gemm) => gemm,
        Err(e) => panic!("no JIT here: {e}"),
    };
    for n in SIZES {
        let mut problem = Problem::square(n);
        let mut group = c.benchmark_group(format!("sgemm_{n}"));
        group.sample_size(10);
        group.throughput(Throughput::Elements(problem.flops() as u64));
        for (name, path) in [("jit", GemmPath::Jit), ("library", GemmPath::Library)] {
            group.bench_function(BenchmarkId::from_parameter(name), |bench| bench.iter(|| problem.run(&gemm, path)));
        }
        group.finish();
    }
}

criterion_group!(benches, gemm_speed);

/// Best-of-`rounds` GFLOP/s of `f`, each round running it for ~0.5 s.
fn best_gflops(flops: f64, rounds: usize, mut f: impl FnMut()) -> f64 {
    f();
    let t = Instant::now();
    f();
    let once = t.elapsed().as_secs_f64().max(1e-6);
    let reps = ((0.5 / once) as usize).max(1);
    let mut best = f64::MAX;
    for _ in 0..rounds {
        let t = Instant::now();
        for _ in 0..reps {
            f();
        }
        best = best.min(t.elapsed().as_secs_f64() / reps as f64);
    }
    flops / best / 1e9
}

const NUMPY: &str = r#"
import os, sys, time
import numpy as np
n = int(sys.argv[1])
rng = np.random.default_rng(0)
a = rng.random((n, n), dtype=np.float32) - 0.5
b = rng.random((n, n), dtype=np.float32) - 0.5
c = a @ b
t = time.perf_counter(); np.matmul(a, b, out=c); once = max(time.perf_counter() - t, 1e-6)
reps = max(1, int(0.5 / once))
best = 1e9
for _ in range(7):
    t = time.perf_counter()
    for _ in range(reps):
        np.matmul(a, b, out=c)
    best = min(best, (time.perf_counter() - t) / reps)
print(2 * n**3 / best / 1e9)
"#;

fn numpy_gflops(n: usize) -> Option<f64> {
    let out = Command::new("python3")
        .args(["-c", NUMPY, &n.to_string()])
        .env("OPENBLAS_NUM_THREADS", "1")
        .env("OMP_NUM_THREADS", "1")
        .env("MKL_NUM_THREADS", "1")
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8(out.stdout).ok()?.trim().parse().ok()
}

/// The jit / library / numpy table, interleaved so that all three see the
/// same machine state.
fn summary() {
    let gemm = match Gemm::new() {
        Ok(gemm) => gemm,
        Err(e) => panic!("no JIT here: {e}"),
    };
    println!("\nsingle-thread sgemm, GFLOP/s (best of 7 rounds of ~0.5 s)");
    println!(
        "{:>6} {:>8} {:>8} {:>8} {:>11} {:>15}",
        "n", "jit", "library", "numpy", "jit/numpy", "jit/(numpy/2)"
    );
    for n in SIZES {
        let mut problem = Problem::square(n);
        let flops = problem.flops();
        let jit = best_gflops(flops, 7, || problem.run(&gemm, GemmPath::Jit));
        let library = best_gflops(flops, 7, || problem.run(&gemm, GemmPath::Library));
        match numpy_gflops(n) {
            Some(numpy) => println!(
                "{n:>6} {jit:>8.1} {library:>8.1} {numpy:>8.1} {:>11.2} {:>15.2}",
                jit / numpy,
                jit / (numpy / 2.0)
            ),
            None => println!("{n:>6} {jit:>8.1} {library:>8.1} {:>8}", "n/a"),
        }
    }
}

fn main() {
    if std::env::var_os("OPFUSE_GEMM_TUNE").is_some() {
        let gemm = match Gemm::new() {
            Ok(gemm) => gemm,
            Err(e) => panic!("no JIT here: {e}"),
        };
        for n in SIZES {
            let mut problem = Problem::square(n);
            let flops = problem.flops();
            let jit = best_gflops(flops, 15, || problem.run(&gemm, GemmPath::Jit));
            print!("{n}: {jit:.1}  ");
        }
        println!();
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
    // `cargo bench` passes `--bench`; `cargo test --benches` does not.
    if std::env::args().any(|a| a == "--bench") {
        summary();
    }
}
