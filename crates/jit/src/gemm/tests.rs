use std::ops::Range;
use std::sync::{Mutex, OnceLock};

use proptest::prelude::*;

use super::*;
use crate::program::{Access, Matmul};

/// Row-major (or transposed) storage of one operand inside a buffer with
/// `offset` leading elements, broadcast over the batch dims flagged.
#[derive(Clone, Debug)]
struct Layout {
    offset: usize,
    transposed: bool,
    broadcast: Vec<bool>,
}

/// Builds the access and the buffer (integer values in -4..=4, so every
/// product is exact in f32 whatever the summation order).
fn operand(batch: &[usize], rows: usize, cols: usize, layout: &Layout, buffer: usize, seed: &mut u64) -> (Access, Vec<f32>) {
    let mat = rows * cols;
    let mut strides = vec![0isize; batch.len() + 2];
    let mut size = mat;
    for d in (0..batch.len()).rev() {
        if !layout.broadcast[d] {
            strides[d] = size as isize;
            size *= batch[d];
        }
    }
    let (rs, cs) = if layout.transposed {
        (1, rows as isize)
    } else {
        (cols as isize, 1)
    };
    strides[batch.len()] = rs;
    strides[batch.len() + 1] = cs;
    let data = (0..layout.offset + size)
        .map(|_| {
            *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((*seed >> 33) % 9) as f32 - 4.0
        })
        .collect();
    (
        Access {
            buffer,
            offset: layout.offset,
            strides,
        },
        data,
    )
}

fn at(access: &Access, index: &[usize]) -> usize {
    let off = access.offset as isize + index.iter().zip(&access.strides).map(|(&i, &s)| i as isize * s).sum::<isize>();
    off as usize
}

/// The naive triple loop over every output element.
fn reference(mm: &Matmul, a: &[f32], b: &[f32]) -> Vec<f32> {
    let batches: usize = mm.batch.iter().product();
    let mut out = vec![0.0f32; batches * mm.m * mm.n];
    for bi in 0..batches {
        let mut index = vec![0; mm.batch.len()];
        let mut rest = bi;
        for d in (0..mm.batch.len()).rev() {
            index[d] = rest % mm.batch[d];
            rest /= mm.batch[d];
        }
        for i in 0..mm.m {
            for j in 0..mm.n {
                let mut sum = 0.0f64;
                for p in 0..mm.k {
                    let ai: Vec<usize> = index.iter().copied().chain([i, p]).collect();
                    let bj: Vec<usize> = index.iter().copied().chain([p, j]).collect();
                    sum += a[at(&mm.a, &ai)] as f64 * b[at(&mm.b, &bj)] as f64;
                }
                out[(bi * mm.m + i) * mm.n + j] = sum as f32;
            }
        }
    }
    out
}

#[derive(Clone, Debug)]
struct Case {
    batch: Vec<usize>,
    m: usize,
    n: usize,
    k: usize,
    a: Layout,
    b: Layout,
    /// Both operands in one buffer (A first).
    shared: bool,
    /// Fractions of the row space to compute.
    rows: (f64, f64),
    seed: u64,
}

/// Runs `case` on `gemm` and checks the output (epilogue: +1 applied to
/// each reported range) and the epilogue ranges.
fn check(gemm: &Gemm, case: &Case, path: GemmPath) -> Result<(), TestCaseError> {
    let mut seed = case.seed;
    let (a_acc, a_data) = operand(&case.batch, case.m, case.k, &case.a, 0, &mut seed);
    let (mut b_acc, b_data) = operand(&case.batch, case.k, case.n, &case.b, 1, &mut seed);
    let mut inputs = vec![a_data.clone(), b_data.clone()];
    if case.shared {
        b_acc.buffer = 0;
        b_acc.offset += a_data.len();
        inputs = vec![[a_data.clone(), b_data.clone()].concat(), vec![]];
    }
    let mm = Matmul {
        batch: case.batch.clone(),
        m: case.m,
        n: case.n,
        k: case.k,
        a: a_acc.clone(),
        b: b_acc.clone(),
        epilogue: None,
    };
    let expected = {
        let whole = mm.clone();
        let (a, b) = if case.shared {
            (&inputs[0], &inputs[0])
        } else {
            (&inputs[0], &inputs[1])
        };
        reference(&whole, a, b)
    };
    let total_rows = case.batch.iter().product::<usize>() * case.m;
    let lo = ((case.rows.0 * total_rows as f64) as usize).min(total_rows);
    let hi = ((case.rows.1 * total_rows as f64) as usize).clamp(lo, total_rows);
    let rows: Range<usize> = lo..hi;

    let mut out = vec![f32::NAN; expected.len()];
    let out_ptr = out.as_mut_ptr() as usize;
    let ranges = Mutex::new(Vec::new());
    let stale = Mutex::new(0usize);
    let epilogue = |s: usize, e: usize| {
        let p = out_ptr as *mut f32;
        for (i, want) in expected.iter().enumerate().take(e).skip(s) {
            // SAFETY: the range is final and owned by this call.
            unsafe {
                if *p.add(i) != *want {
                    *stale.lock().unwrap() += 1;
                }
                *p.add(i) += 1.0;
            }
        }
        ranges.lock().unwrap().push((s, e));
    };
    let mut ptrs: Vec<*mut f32> = inputs.iter_mut().map(|v| v.as_mut_ptr()).collect();
    ptrs.push(out.as_mut_ptr());
    // SAFETY: the buffers hold every element the accesses reach.
    unsafe { gemm.run(&mm, ptrs.as_ptr(), 2, path, rows.clone(), &epilogue) }.map_err(|e| TestCaseError::fail(e.to_string()))?;

    prop_assert_eq!(*stale.lock().unwrap(), 0, "rows not final at the epilogue");
    let ranges = ranges.into_inner().unwrap();
    let mut next = rows.start * case.n;
    for &(s, e) in &ranges {
        prop_assert_eq!(s, next, "ranges {:?}", ranges);
        prop_assert!(e > s, "empty range in {:?}", ranges);
        next = e;
    }
    prop_assert_eq!(next, rows.end * case.n, "ranges {:?}", ranges);
    for (i, (&got, &want)) in out.iter().zip(&expected).enumerate() {
        let row = i / case.n.max(1);
        if rows.contains(&row) {
            prop_assert_eq!(got, want + 1.0, "element {} of rows {:?}", i, rows);
        } else {
            prop_assert!(got.is_nan(), "element {} outside rows {:?} written", i, rows);
        }
    }
    Ok(())
}

/// One engine for all tests (compiling the kernel takes a while in debug).
fn shared() -> &'static Gemm {
    static GEMM: OnceLock<Gemm> = OnceLock::new();
    GEMM.get_or_init(|| Gemm::new().unwrap())
}

fn shared_tiny() -> &'static Gemm {
    static GEMM: OnceLock<Gemm> = OnceLock::new();
    GEMM.get_or_init(|| Gemm::with_blocking(tiny()).unwrap())
}

fn layout(batch_dims: usize) -> impl Strategy<Value = Layout> {
    (0usize..5, any::<bool>(), prop::collection::vec(any::<bool>(), batch_dims)).prop_map(|(offset, transposed, broadcast)| Layout {
        offset,
        transposed,
        broadcast,
    })
}

fn dim() -> impl Strategy<Value = usize> {
    prop_oneof![3 => 1usize..20, 1 => Just(0usize), 1 => 20usize..70]
}

fn case() -> impl Strategy<Value = Case> {
    prop::collection::vec(prop_oneof![Just(1usize), Just(2), Just(3), Just(0)], 0..3)
        .prop_flat_map(|batch| {
            let dims = batch.len();
            (
                Just(batch),
                dim(),
                dim(),
                dim(),
                layout(dims),
                layout(dims),
                any::<bool>(),
                prop_oneof![Just((0.0, 1.0)), (0.0..1.0f64, 0.0..1.0f64)],
                any::<u64>(),
            )
        })
        .prop_map(|(batch, m, n, k, a, b, shared, rows, seed)| Case {
            batch,
            m,
            n,
            k,
            a,
            b,
            shared,
            rows,
            seed,
        })
}

/// Tiny blocks, so that small matrices cross every block edge: several
/// row blocks, depth blocks, column blocks and B packed per block.
fn tiny() -> Blocking {
    Blocking {
        mc: 12,
        kc: 7,
        nc: 16,
        whole_b: 0,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn jit_matches_naive(case in case()) {
        check(shared(), &case, GemmPath::Jit)?;
    }

    #[test]
    fn jit_tiny_blocks_match_naive(case in case()) {
        check(shared_tiny(), &case, GemmPath::Jit)?;
    }

    #[test]
    fn library_matches_naive(case in case()) {
        check(shared(), &case, GemmPath::Library)?;
    }
}

fn plain(m: usize, n: usize, k: usize) -> Case {
    let layout = Layout {
        offset: 3,
        transposed: false,
        broadcast: vec![],
    };
    Case {
        batch: vec![],
        m,
        n,
        k,
        a: layout.clone(),
        b: layout,
        shared: false,
        rows: (0.0, 1.0),
        seed: 7,
    }
}

#[test]
fn crosses_default_blocks() {
    // m over mc (144) twice, k over kc (256), n not a multiple of NR.
    let gemm = shared();
    for path in [GemmPath::Jit, GemmPath::Library] {
        check(gemm, &plain(301, 45, 300), path).unwrap();
    }
    let mut case = plain(150, 37, 260);
    case.a.transposed = true;
    case.b.transposed = true;
    case.rows = (0.1, 0.9);
    check(gemm, &case, GemmPath::Jit).unwrap();
}

#[test]
fn broadcast_batches_share_packed_b() {
    let gemm = Gemm::with_blocking(Blocking {
        mc: 12,
        kc: 16,
        nc: 16,
        whole_b: 1 << 20,
    })
    .unwrap();
    let case = Case {
        batch: vec![3, 2],
        m: 13,
        n: 21,
        k: 33,
        a: Layout {
            offset: 1,
            transposed: false,
            broadcast: vec![false, true],
        },
        b: Layout {
            offset: 2,
            transposed: true,
            broadcast: vec![true, false],
        },
        shared: false,
        rows: (0.2, 0.95),
        seed: 11,
    };
    for path in [GemmPath::Jit, GemmPath::Library] {
        check(&gemm, &case, path).unwrap();
    }
}

#[test]
fn threads_split_rows() {
    let gemm = shared();
    let (m, n, k) = (100, 50, 40);
    let mut seed = 3;
    let layout = Layout {
        offset: 0,
        transposed: false,
        broadcast: vec![],
    };
    let (a, ad) = operand(&[], m, k, &layout, 0, &mut seed);
    let (b, bd) = operand(&[], k, n, &layout, 1, &mut seed);
    let mm = Matmul {
        batch: vec![],
        m,
        n,
        k,
        a,
        b,
        epilogue: None,
    };
    let expected = reference(&mm, &ad, &bd);
    let mut out = vec![f32::NAN; m * n];
    let ptrs = [ad.as_ptr() as usize, bd.as_ptr() as usize, out.as_mut_ptr() as usize];
    std::thread::scope(|s| {
        for rows in [0..37, 37..100] {
            let mm = &mm;
            s.spawn(move || {
                let bufs: Vec<*mut f32> = ptrs.iter().map(|&p| p as *mut f32).collect();
                // SAFETY: disjoint rows of a live output; inputs read-only.
                unsafe { gemm.run(mm, bufs.as_ptr(), 2, GemmPath::Jit, rows, &|_, _| {}) }.unwrap();
            });
        }
    });
    assert_eq!(out, expected);
}

fn simple(m: usize, n: usize, k: usize) -> Matmul {
    Matmul {
        batch: vec![],
        m,
        n,
        k,
        a: Access {
            buffer: 0,
            offset: 0,
            strides: vec![k as isize, 1],
        },
        b: Access {
            buffer: 1,
            offset: 0,
            strides: vec![n as isize, 1],
        },
        epilogue: None,
    }
}

fn run_err(mm: &Matmul, rows: Range<usize>) -> GemmError {
    let gemm = shared();
    let mut bufs = [vec![0.0f32; 64], vec![0.0f32; 64], vec![0.0f32; 64]];
    let ptrs: Vec<*mut f32> = bufs.iter_mut().map(|b| b.as_mut_ptr()).collect();
    // SAFETY: every case here is rejected before any access.
    unsafe { gemm.run(mm, ptrs.as_ptr(), 2, GemmPath::Jit, rows, &|_, _| {}) }.unwrap_err()
}

#[test]
fn rejects_bad_programs() {
    let mut mm = simple(2, 3, 4);
    mm.a.strides.pop();
    assert!(matches!(run_err(&mm, 0..2), GemmError::Rank { operand: "a", .. }));

    assert!(matches!(run_err(&simple(2, 3, 4), 1..3), GemmError::Rows { total: 2, .. }));

    let mut mm = simple(2, 3, 4);
    mm.b.strides = vec![-1, 1];
    assert!(matches!(run_err(&mm, 0..2), GemmError::OutOfBounds { operand: "b", .. }));

    let mut mm = simple(2, 3, 4);
    mm.a.strides = vec![isize::MAX, 1];
    assert!(matches!(run_err(&mm, 0..2), GemmError::OutOfBounds { operand: "a", .. }));

    let mut mm = simple(2, 3, 4);
    mm.a.offset = usize::MAX;
    assert!(matches!(run_err(&mm, 0..2), GemmError::OutOfBounds { .. }));

    let mut mm = simple(2, 3, 4);
    mm.b.buffer = 2;
    assert!(matches!(run_err(&mm, 0..2), GemmError::Aliased { operand: "b", .. }));

    // Two slots holding the same pointer.
    let mut out = vec![0.0f32; 64];
    let a = vec![0.0f32; 64];
    let ptrs = [a.as_ptr() as *mut f32, out.as_mut_ptr(), out.as_mut_ptr()];
    // SAFETY: rejected before any access.
    let err = unsafe { shared().run(&simple(2, 3, 4), ptrs.as_ptr(), 2, GemmPath::Jit, 0..2, &|_, _| {}) }.unwrap_err();
    assert!(matches!(err, GemmError::Aliased { operand: "b", .. }));

    let mut mm = simple(1, 1, 1);
    mm.batch = vec![usize::MAX, 2];
    mm.a.strides = vec![0, 0, 1, 1];
    mm.b.strides = vec![0, 0, 1, 1];
    assert!(matches!(run_err(&mm, 0..0), GemmError::Overflow { .. }));

    let gemm = shared();
    let nulls = [std::ptr::null_mut::<f32>(); 3];
    // SAFETY: the null pointers are rejected before any access.
    let err = unsafe { gemm.run(&simple(2, 3, 4), nulls.as_ptr(), 2, GemmPath::Library, 0..2, &|_, _| {}) }.unwrap_err();
    assert_eq!(err, GemmError::NullBuffer { index: 2 });
}

#[test]
fn negative_strides_within_bounds() {
    // A read bottom-up: offset at the last row, row stride -k.
    let gemm = shared();
    let (m, n, k) = (9, 10, 11);
    let a: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32 - 3.0).collect();
    let b: Vec<f32> = (0..k * n).map(|i| (i % 5) as f32 - 2.0).collect();
    let mut mm = simple(m, n, k);
    mm.a.offset = (m - 1) * k;
    mm.a.strides = vec![-(k as isize), 1];
    let expected = reference(&mm, &a, &b);
    for path in [GemmPath::Jit, GemmPath::Library] {
        let mut out = vec![f32::NAN; m * n];
        let ptrs = [a.as_ptr() as *mut f32, b.as_ptr() as *mut f32, out.as_mut_ptr()];
        // SAFETY: in bounds by construction.
        unsafe { gemm.run(&mm, ptrs.as_ptr(), 2, path, 0..m, &|_, _| {}) }.unwrap();
        assert_eq!(out, expected);
    }
}

#[test]
fn gemm_is_shared_across_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Gemm>();
}

#[test]
fn kernel_uses_fused_fma() {
    let gemm = shared();
    let asm = gemm.kernel_disassembly().unwrap_or_default();
    if std::env::var_os("OPFUSE_PRINT_KERNEL").is_some() {
        println!("{asm}");
    }
    if cfg!(target_arch = "x86_64") && std::is_x86_feature_detected!("fma") {
        assert!(gemm.fused_fma());
        assert!(asm.contains("vfmadd"), "{asm}");
    }
}

/// The micro-kernel alone on L1-resident panels (the code is the same in
/// debug and release builds): `cargo test -p opfuse-jit kernel_peak --
/// --ignored --nocapture`.
#[test]
#[ignore]
fn kernel_peak() {
    use super::kernel::{MR, NR};
    let gemm = shared();
    for k in [256, 255, 128, 64, 40] {
        let a = vec![1.0f32; k * MR + 16];
        let b = vec![1.0f32; k * NR + 16];
        let mut c = vec![0.0f32; MR * NR];
        let reps = 50_000_000 / k;
        let mut best = f64::MAX;
        for _ in 0..5 {
            let t = std::time::Instant::now();
            for _ in 0..reps {
                // SAFETY: panels of k steps and a full tile.
                unsafe { (gemm.kernel.func)(k, a.as_ptr(), b.as_ptr(), c.as_mut_ptr(), NR, 1) };
            }
            best = best.min(t.elapsed().as_secs_f64());
        }
        let flops = 2.0 * (MR * NR * k) as f64 * reps as f64;
        println!("kernel {MR}x{NR} k={k}: {:.1} GFLOP/s", flops / best / 1e9);
    }
}

#[test]
fn column_blocks_compose_the_product() {
    // Two batches, B transposed and broadcast, split into three column blocks.
    let mut seed = 11;
    let (batch, m, n, k) = (vec![2], 5, 37, 19);
    let a_layout = Layout {
        offset: 2,
        transposed: false,
        broadcast: vec![false],
    };
    let b_layout = Layout {
        offset: 1,
        transposed: true,
        broadcast: vec![true],
    };
    let (a_access, mut a) = operand(&batch, m, k, &a_layout, 0, &mut seed);
    let (b_access, mut b) = operand(&batch, k, n, &b_layout, 1, &mut seed);
    let mm = Matmul {
        batch,
        m,
        n,
        k,
        a: a_access,
        b: b_access,
        epilogue: None,
    };
    let want = reference(&mm, &a, &b);
    let mut out = vec![f32::NAN; want.len()];
    let buffers = [a.as_mut_ptr(), b.as_mut_ptr(), out.as_mut_ptr()];
    for cols in [0..16, 16..30, 30..37] {
        // SAFETY: the accesses are the operands' layouts; the blocks are disjoint.
        unsafe { shared().run_columns(&mm, buffers.as_ptr(), 2, cols) }.unwrap();
    }
    assert_eq!(out, want);
    // SAFETY: as above.
    let past_the_end = unsafe { shared().run_columns(&mm, buffers.as_ptr(), 2, 30..38) };
    assert!(past_the_end.is_err());
}
