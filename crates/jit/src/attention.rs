//! Running an [`Attention`] program: the flash-attention form on the CPU.
//!
//! The work splits into units of one batch, one query head and a block of
//! up to [`QUERY_BLOCK`] query rows (threads take whole units). A unit
//! walks the keys in tiles of up to [`KEY_TILE`]: the GEMM engine computes
//! the tile's scores `q k^T`; they are scaled, capped and biased here and
//! turned into probabilities by a JIT kernel (`exp(s - running max)`);
//! the GEMM engine multiplies them with the tile of `v`; the running sums
//! and the partial output are rescaled when a tile raises a row's maximum
//! (the online softmax recurrence). Nothing larger than a block of scores
//! is ever held, and it stays in cache between the two products.

use std::ops::Range;

use crate::codegen::Kernel;
use crate::gemm::{Gemm, GemmError, GemmPath};
use crate::program::{Access, Attention, Binary, Elementwise, Matmul, Step, Unary};

/// Query rows per unit: the block of scores (`QUERY_BLOCK x KEY_TILE`
/// floats, 512 KiB) and of partial output stay in L2; blocks this tall keep
/// the two products large enough for the GEMM engines to run near speed.
pub const QUERY_BLOCK: usize = 256;
/// Keys per tile; a sequence up to this long is one tile (plain softmax).
pub const KEY_TILE: usize = 512;

/// Buffer slots of the per-thread pointer array the products index.
const Q: usize = 0;
const K: usize = 1;
const V: usize = 2;
const SCORES: usize = 3;
const PARTIAL: usize = 4;

/// The probabilities kernel's program: `exp(scores - max)` over one row of
/// a tile, the row's maximum read with stride 0; it runs in place.
pub fn probabilities_program() -> Elementwise {
    Elementwise {
        shape: vec![KEY_TILE],
        inputs: vec![
            Access {
                buffer: 0,
                offset: 0,
                strides: vec![1],
            },
            Access {
                buffer: 1,
                offset: 0,
                strides: vec![0],
            },
        ],
        steps: vec![
            Step::Load(0),
            Step::Load(1),
            Step::Binary(Binary::Sub, 0, 1),
            Step::Unary(Unary::Exp, 2),
        ],
    }
}

impl Attention {
    fn blocks(&self) -> usize {
        self.q_len.div_ceil(QUERY_BLOCK)
    }

    /// Units of work: batch x query head x block of query rows.
    pub fn units(&self) -> usize {
        self.batch * self.q_heads * self.blocks()
    }
}

/// The input buffers of an attention stage, in the order of its accesses'
/// `buffer` indices, and the output buffer.
pub struct Buffers<'a> {
    pub inputs: &'a [*mut f32],
    pub output: *mut f32,
}

/// Computes units `units` of `att` (see the module doc).
///
/// # Safety
///
/// Every access of `att` must stay within its buffer for the whole index
/// space (lowering sizes them from the verified types), `buffers.output`
/// must hold `batch * q_heads * q_len * v_head` floats at `out_strides`,
/// and concurrent calls must take disjoint units.
pub unsafe fn run(
    att: &Attention,
    gemm: &Gemm,
    path: GemmPath,
    probabilities: &Kernel,
    buffers: &Buffers<'_>,
    units: Range<usize>,
) -> Result<(), GemmError> {
    let tile = KEY_TILE.min(att.kv_len).max(1);
    let mut scratch = Scratch {
        scores: vec![0.0; QUERY_BLOCK * tile],
        partial: vec![0.0; QUERY_BLOCK * att.v_head],
        output: vec![0.0; QUERY_BLOCK * att.v_head],
        max: vec![0.0; QUERY_BLOCK],
        sum: vec![0.0; QUERY_BLOCK],
    };
    for unit in units {
        let block = unit % att.blocks();
        let head = (unit / att.blocks()) % att.q_heads;
        let batch = unit / (att.blocks() * att.q_heads);
        let rows = block * QUERY_BLOCK..((block + 1) * QUERY_BLOCK).min(att.q_len);
        // SAFETY: forwarded from the caller.
        unsafe { unit_of_work(att, gemm, path, probabilities, buffers, &mut scratch, batch, head, rows)? };
    }
    Ok(())
}

/// A thread's working memory, reused across its units.
struct Scratch {
    scores: Vec<f32>,
    partial: Vec<f32>,
    output: Vec<f32>,
    max: Vec<f32>,
    sum: Vec<f32>,
}

fn at(access: &Access, index: [usize; 4]) -> usize {
    access.offset + index.iter().zip(&access.strides).map(|(&i, &s)| i * s as usize).sum::<usize>()
}

#[allow(clippy::too_many_arguments)]
unsafe fn unit_of_work(
    att: &Attention,
    gemm: &Gemm,
    path: GemmPath,
    probabilities: &Kernel,
    buffers: &Buffers<'_>,
    scratch: &mut Scratch,
    batch: usize,
    head: usize,
    rows: Range<usize>,
) -> Result<(), GemmError> {
    let r = rows.len();
    let kv_head = head / att.group();
    let (q, k, v) = (&att.q, &att.k, &att.v);
    let input = |access: &Access| buffers.inputs.get(access.buffer).copied().unwrap_or(std::ptr::null_mut());
    let mut pointers = [
        input(q),
        input(k),
        input(v),
        scratch.scores.as_mut_ptr(),
        scratch.partial.as_mut_ptr(),
    ];
    let stride = |access: &Access, d: usize| access.strides.get(d).copied().unwrap_or(0);
    scratch.max[..r].fill(f32::NEG_INFINITY);
    scratch.sum[..r].fill(0.0);
    scratch.output[..r * att.v_head].fill(0.0);
    let last_query = rows.end - 1;
    let mut start = 0;
    while start < att.kv_len {
        let keys = start..(start + KEY_TILE).min(att.kv_len);
        // Under a causal mask, tiles after the block's last query hold no key.
        if att.causal && keys.start > last_query {
            break;
        }
        let tc = keys.len();
        let scores = Matmul {
            batch: vec![],
            m: r,
            n: tc,
            k: att.head,
            a: Access {
                buffer: Q,
                offset: at(q, [batch, head, rows.start, 0]),
                strides: vec![stride(q, 2), stride(q, 3)],
            },
            b: Access {
                buffer: K,
                offset: at(k, [batch, kv_head, keys.start, 0]),
                strides: vec![stride(k, 3), stride(k, 2)],
            },
            epilogue: None,
        };
        pointers[SCORES] = scratch.scores.as_mut_ptr();
        // SAFETY: the accesses stay in q and k (caller); the scores
        // scratch holds r x tc floats.
        unsafe { gemm.run(&scores, pointers.as_ptr(), SCORES, path, 0..r, &|_, _| {})? };
        for row in 0..r {
            let scores_row = &mut scratch.scores[row * tc..(row + 1) * tc];
            // SAFETY: the mask access stays in its buffer (caller).
            unsafe { bias_row(att, buffers, scores_row, batch, head, rows.start + row, keys.clone()) };
            let tile_max = scores_row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let old = scratch.max[row];
            let new = old.max(tile_max);
            if new == f32::NEG_INFINITY {
                // Every key so far is excluded: nothing to add.
                scores_row.fill(0.0);
                continue;
            }
            let mut row_max = new;
            let mut slots = [scores_row.as_mut_ptr(), &mut row_max as *mut f32, scores_row.as_mut_ptr()];
            // SAFETY: the program reads one row of tc <= KEY_TILE scores
            // and the maximum, and writes the row in place.
            unsafe { probabilities.call(slots.as_mut_ptr(), 0, tc) };
            let rescale = (old - new).exp();
            scratch.sum[row] = scratch.sum[row] * rescale + sum(scores_row);
            scratch.max[row] = new;
            if rescale != 1.0 {
                scratch.output[row * att.v_head..(row + 1) * att.v_head]
                    .iter_mut()
                    .for_each(|o| *o *= rescale);
            }
        }
        let values = Matmul {
            batch: vec![],
            m: r,
            n: att.v_head,
            k: tc,
            a: Access {
                buffer: SCORES,
                offset: 0,
                strides: vec![tc as isize, 1],
            },
            b: Access {
                buffer: V,
                offset: at(v, [batch, kv_head, keys.start, 0]),
                strides: vec![stride(v, 2), stride(v, 3)],
            },
            epilogue: None,
        };
        pointers[PARTIAL] = scratch.partial.as_mut_ptr();
        // SAFETY: as above; the partial scratch holds r x v_head floats.
        unsafe { gemm.run(&values, pointers.as_ptr(), PARTIAL, path, 0..r, &|_, _| {})? };
        scratch.output[..r * att.v_head]
            .iter_mut()
            .zip(&scratch.partial[..r * att.v_head])
            .for_each(|(o, p)| *o += p);
        start = keys.end;
    }
    for row in 0..r {
        let total = scratch.sum[row];
        let norm = if total > 0.0 { 1.0 / total } else { 0.0 };
        let i = rows.start + row;
        for d in 0..att.v_head {
            let index = [batch, head, i, d];
            let offset: usize = index.iter().zip(&att.out_strides).map(|(i, s)| i * s).sum();
            // SAFETY: the output holds every index at out_strides (caller).
            unsafe { *buffers.output.add(offset) = scratch.output[row * att.v_head + d] * norm };
        }
    }
    Ok(())
}

/// Scales, caps and biases one row of raw scores in place.
unsafe fn bias_row(att: &Attention, buffers: &Buffers<'_>, row: &mut [f32], batch: usize, head: usize, query: usize, keys: Range<usize>) {
    let softcap = att.softcap;
    row.iter_mut().for_each(|s| {
        *s *= att.scale;
        if softcap > 0.0 {
            *s = softcap * (*s / softcap).tanh();
        }
    });
    if let Some(mask) = &att.mask {
        if let Some(&base) = buffers.inputs.get(mask.access.buffer) {
            let start = at(&mask.access, [batch, head, query, keys.start]);
            let step = mask.access.strides.get(3).copied().unwrap_or(0) as usize;
            for (c, s) in row.iter_mut().enumerate() {
                // SAFETY: the mask access stays in its buffer (caller).
                let m = unsafe { *base.add(start + c * step) };
                *s += match mask.boolean {
                    false => m,
                    true if m != 0.0 => 0.0,
                    true => f32::NEG_INFINITY,
                };
            }
        }
    }
    let [left, right] = att.window;
    if !att.causal && left.is_none() && right.is_none() {
        return;
    }
    // Without a past cache, query `i` sits at position `i`.
    for (c, s) in row.iter_mut().enumerate() {
        let key = keys.start + c;
        let after = key > query;
        let excluded =
            (att.causal && after) || left.is_some_and(|w| !after && query - key > w) || right.is_some_and(|w| after && key - query > w);
        if excluded {
            *s = f32::NEG_INFINITY;
        }
    }
}

/// A sum in eight independent lanes (the compiler vectorizes it).
fn sum(values: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let mut chunks = values.chunks_exact(8);
    for chunk in &mut chunks {
        lanes.iter_mut().zip(chunk).for_each(|(l, v)| *l += v);
    }
    lanes.iter().sum::<f32>() + chunks.remainder().iter().sum::<f32>()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::{probabilities_program, run, Buffers, KEY_TILE};
    use crate::codegen::Jit;
    use crate::gemm::{Gemm, GemmPath};
    use crate::program::{Access, Attention, AttentionMask};

    /// One attention problem: extents and which features are on.
    #[derive(Clone, Debug)]
    struct Case {
        batch: usize,
        kv_heads: usize,
        group: usize,
        q_len: usize,
        kv_len: usize,
        head: usize,
        v_head: usize,
        causal: bool,
        /// 0: none, 1: additive over [q_len, kv_len], 2: boolean per key.
        mask: u8,
        window: [Option<usize>; 2],
        softcap: f32,
        seed: u64,
    }

    fn contiguous(dims: [usize; 4]) -> Vec<isize> {
        vec![
            (dims[1] * dims[2] * dims[3]) as isize,
            (dims[2] * dims[3]) as isize,
            dims[3] as isize,
            1,
        ]
    }

    fn random(len: usize, seed: &mut u64) -> Vec<f32> {
        (0..len)
            .map(|_| {
                *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((*seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    /// The definition, in f64: softmax over the keys each query may see.
    fn naive(att: &Attention, q: &[f32], k: &[f32], v: &[f32], mask: &[f32]) -> Vec<f32> {
        let at = |a: &Access, i: [usize; 4]| a.offset + i.iter().zip(&a.strides).map(|(&i, &s)| i * s as usize).sum::<usize>();
        let mut out = vec![0.0; att.out_len()];
        for b in 0..att.batch {
            for h in 0..att.q_heads {
                let kh = h / att.group();
                for i in 0..att.q_len {
                    let scores: Vec<f64> = (0..att.kv_len)
                        .map(|j| {
                            let dot: f64 = (0..att.head)
                                .map(|d| f64::from(q[at(&att.q, [b, h, i, d])]) * f64::from(k[at(&att.k, [b, kh, j, d])]))
                                .sum();
                            let mut s = dot * f64::from(att.scale);
                            if att.softcap > 0.0 {
                                s = f64::from(att.softcap) * (s / f64::from(att.softcap)).tanh();
                            }
                            if let Some(m) = &att.mask {
                                let value = mask[at(&m.access, [b, h, i, j])];
                                s += match m.boolean {
                                    false => f64::from(value),
                                    true if value != 0.0 => 0.0,
                                    true => f64::NEG_INFINITY,
                                };
                            }
                            let [left, right] = att.window;
                            let excluded = (att.causal && j > i)
                                || left.is_some_and(|w| j <= i && i - j > w)
                                || right.is_some_and(|w| j > i && j - i > w);
                            if excluded {
                                f64::NEG_INFINITY
                            } else {
                                s
                            }
                        })
                        .collect();
                    let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let weights: Vec<f64> = scores
                        .iter()
                        .map(|&s| if max == f64::NEG_INFINITY { 0.0 } else { (s - max).exp() })
                        .collect();
                    let total: f64 = weights.iter().sum();
                    for d in 0..att.v_head {
                        let dot: f64 = (0..att.kv_len).map(|j| weights[j] * f64::from(v[at(&att.v, [b, kh, j, d])])).sum();
                        let index = [b, h, i, d];
                        let offset: usize = index.iter().zip(&att.out_strides).map(|(i, s)| i * s).sum();
                        out[offset] = if total > 0.0 { (dot / total) as f32 } else { 0.0 };
                    }
                }
            }
        }
        out
    }

    fn check(case: &Case, path: GemmPath, threads: usize) -> Result<(), TestCaseError> {
        let q_heads = case.kv_heads * case.group;
        let q_dims = [case.batch, q_heads, case.q_len, case.head];
        let k_dims = [case.batch, case.kv_heads, case.kv_len, case.head];
        let v_dims = [case.batch, case.kv_heads, case.kv_len, case.v_head];
        let access = |buffer, dims| Access {
            buffer,
            offset: 0,
            strides: contiguous(dims),
        };
        let mask = match case.mask {
            1 => Some(AttentionMask {
                access: Access {
                    buffer: 3,
                    offset: 0,
                    strides: vec![0, 0, case.kv_len as isize, 1],
                },
                boolean: false,
            }),
            2 => Some(AttentionMask {
                access: Access {
                    buffer: 3,
                    offset: 0,
                    strides: vec![case.kv_len as isize, 0, 0, 1],
                },
                boolean: true,
            }),
            _ => None,
        };
        let att = Attention {
            batch: case.batch,
            q_heads,
            kv_heads: case.kv_heads,
            q_len: case.q_len,
            kv_len: case.kv_len,
            head: case.head,
            v_head: case.v_head,
            q: access(0, q_dims),
            k: access(1, k_dims),
            v: access(2, v_dims),
            mask,
            scale: 1.0 / (case.head as f32).sqrt(),
            softcap: case.softcap,
            causal: case.causal,
            window: case.window,
            out_strides: [q_heads * case.q_len * case.v_head, case.q_len * case.v_head, case.v_head, 1],
        };
        let mut seed = case.seed;
        let mut q = random(q_dims.iter().product(), &mut seed);
        let mut k = random(k_dims.iter().product(), &mut seed);
        let mut v = random(v_dims.iter().product(), &mut seed);
        let mut mask: Vec<f32> = match case.mask {
            1 => random(case.q_len * case.kv_len, &mut seed).iter().map(|x| x * 4.0).collect(),
            2 => random(case.batch * case.kv_len, &mut seed)
                .iter()
                .map(|&x| f32::from(x > -0.5))
                .collect(),
            _ => vec![0.0],
        };
        // Scores large enough that the running maximum matters.
        q.iter_mut().for_each(|x| *x *= 3.0);
        let expected = naive(&att, &q, &k, &v, &mask);
        let mut out = vec![f32::NAN; att.out_len()];
        let mut jit = Jit::new().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let kernel = jit
            .compile_elementwise(&probabilities_program(), 2)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let gemm = Gemm::new().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let inputs = [q.as_mut_ptr(), k.as_mut_ptr(), v.as_mut_ptr(), mask.as_mut_ptr()];
        let buffers = Buffers {
            inputs: &inputs,
            output: out.as_mut_ptr(),
        };
        let units = att.units();
        let split = units.div_ceil(threads.max(1)).max(1);
        for start in (0..units).step_by(split) {
            // SAFETY: the accesses are the contiguous layouts of the buffers.
            unsafe { run(&att, &gemm, path, &kernel, &buffers, start..(start + split).min(units)) }
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
        }
        for (index, (got, want)) in out.iter().zip(&expected).enumerate() {
            prop_assert!(
                (got - want).abs() <= 2e-5 * (1.0 + want.abs()),
                "element {index}: {got} vs {want} ({case:?})"
            );
        }
        Ok(())
    }

    fn case() -> impl Strategy<Value = Case> {
        (
            (1usize..3, 1usize..3, 1usize..4, 1usize..140, 1usize..80),
            (1usize..20, 1usize..20, any::<bool>(), 0u8..3),
            (
                proptest::option::of(0usize..9),
                proptest::option::of(0usize..9),
                any::<bool>(),
                any::<u64>(),
            ),
        )
            .prop_map(
                |((batch, kv_heads, group, q_len, kv_len), (head, v_head, causal, mask), (left, right, capped, seed))| Case {
                    batch,
                    kv_heads,
                    group,
                    q_len,
                    kv_len,
                    head,
                    v_head,
                    causal,
                    mask,
                    window: [left, right],
                    softcap: if capped { 2.5 } else { 0.0 },
                    seed,
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn matches_the_definition(case in case(), library in any::<bool>(), threads in 1usize..4) {
            let path = if library { GemmPath::Library } else { GemmPath::Jit };
            check(&case, path, threads)?;
        }
    }

    #[test]
    fn sequences_longer_than_a_tile_rescale_online() {
        // Three tiles of keys; later tiles raise the rows' maxima.
        let case = Case {
            batch: 1,
            kv_heads: 2,
            group: 2,
            q_len: 70,
            kv_len: 2 * KEY_TILE + 37,
            head: 16,
            v_head: 8,
            causal: false,
            mask: 1,
            window: [None, None],
            softcap: 0.0,
            seed: 3,
        };
        for path in [GemmPath::Jit, GemmPath::Library] {
            check(&case, path, 2).unwrap();
            check(
                &Case {
                    causal: true,
                    ..case.clone()
                },
                path,
                1,
            )
            .unwrap();
        }
    }
}
