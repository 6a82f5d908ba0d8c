//! The loop-level programs the code generator compiles: what one kernel
//! computes, with every tensor access resolved to strides over the
//! kernel's output index space. Lowering (`lower.rs`) builds them from the
//! optimized graph; code generation (`codegen/`) never sees the IR.
//!
//! All kernel arithmetic is f32; integer and boolean values travel as f32
//! (exact up to 2^24), and comparisons give 1.0 or 0.0.

/// How a kernel reads one of its input buffers: element `index` of the
/// output space (a multi-index over `Elementwise::shape`) is read at
/// `offset + sum(index[d] * strides[d])` elements into the buffer. A
/// broadcast dimension has stride 0; a transpose permutes strides; a
/// slice moves the offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Access {
    /// Which of the kernel's input buffers.
    pub buffer: usize,
    pub offset: usize,
    /// One stride per output dimension, in elements.
    pub strides: Vec<isize>,
}

impl Access {
    /// Whether consecutive elements along the innermost output dimension
    /// are consecutive in memory (the code generator's SIMD case).
    pub fn inner_contiguous(&self) -> bool {
        self.strides.last().is_none_or(|&s| s == 1)
    }
}

/// Ops of one operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Unary {
    Neg,
    Abs,
    Exp,
    Log,
    Sqrt,
    Rsqrt,
    Reciprocal,
    Tanh,
    Erf,
    Sigmoid,
    Relu,
    Silu,
    /// GELU with erf.
    Gelu,
    /// GELU's tanh approximation.
    GeluTanh,
    Floor,
    Ceil,
    /// Round half to even.
    Round,
    Sin,
    Cos,
    /// 1.0 where the operand is 0.0, else 0.0.
    Not,
}

/// Ops of two operands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Binary {
    Add,
    Sub,
    Mul,
    Div,
    Max,
    Min,
    Pow,
    /// Comparisons: 1.0 when true, else 0.0.
    Equal,
    /// True when either operand is NaN.
    NotEqual,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
    /// Logical, on 0.0/1.0 operands.
    And,
    Or,
}

/// One step of an elementwise expression; operands name earlier steps by
/// position, so a program is a DAG in evaluation order.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Reads input access `n` of the program at the current index.
    Load(usize),
    Const(f32),
    Unary(Unary, usize),
    Binary(Binary, usize, usize),
    /// `condition != 0 ? then : otherwise`.
    Select(usize, usize, usize),
    /// Clamps to `[low, high]`.
    Clamp(usize, f32, f32),
}

/// An elementwise kernel: `out[i] = steps(...)[last]` for every multi-index
/// `i` of `shape`, written contiguously (row-major) into the output buffer.
#[derive(Clone, Debug, PartialEq)]
pub struct Elementwise {
    pub shape: Vec<usize>,
    pub inputs: Vec<Access>,
    pub steps: Vec<Step>,
}

impl Elementwise {
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What a row kernel computes over each row of `len` elements.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RowOp {
    Sum,
    Mean,
    Max,
    Min,
    Prod,
    /// `sqrt(sum(x * x))`.
    L2,
    /// `log(sum(x))`.
    LogSum,
    /// `max + log(sum(exp(x - max)))`; the maximum itself where it is not
    /// finite (an empty row, all -inf, an inf or a NaN).
    LogSumExp,
    /// `exp(x - max) / sum(exp(x - max))`, one output per element.
    Softmax,
    /// `x - max - log(sum(exp(x - max)))`, one output per element.
    LogSoftmax,
    /// `(x - mean) / sqrt(var + epsilon) * scale + bias` (population
    /// variance), one output per element.
    LayerNorm {
        epsilon: f32,
    },
    /// `x / sqrt(mean(x * x) + epsilon) * scale`, one output per element.
    RmsNorm {
        epsilon: f32,
    },
}

impl RowOp {
    /// Whether the op writes one value per row (a reduction) rather than
    /// one per element.
    pub fn reduces(self) -> bool {
        matches!(
            self,
            RowOp::Sum | RowOp::Mean | RowOp::Max | RowOp::Min | RowOp::Prod | RowOp::L2 | RowOp::LogSum | RowOp::LogSumExp
        )
    }
}

/// A row kernel: the row values come from `prologue` (an elementwise
/// program over `shape`, whose last dimension is the row), then `op` runs
/// over each row. The output is written contiguously: `shape` without its
/// last dimension for a reduction, `shape` otherwise. Norms read `scale`
/// and `bias` through accesses over `shape` (usually stride 0 but along
/// the row). Rows are numbered row-major over `shape[..last]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Rows {
    pub prologue: Elementwise,
    pub op: RowOp,
    pub scale: Option<Access>,
    pub bias: Option<Access>,
}

impl Rows {
    pub fn row_len(&self) -> usize {
        self.prologue.shape.last().copied().unwrap_or(1)
    }

    /// Rows, counted without the row length: a reduction over empty rows
    /// still writes one value (its identity) per row.
    pub fn rows(&self) -> usize {
        let outer = self.prologue.shape.len().saturating_sub(1);
        self.prologue.shape.get(..outer).map_or(1, |d| d.iter().product())
    }
}

/// A (batched) matrix product `out[b, i, j] = sum_k a[b, i, k] * b[b, k, j]`
/// with an optional elementwise epilogue. `a` is an access over
/// `[batch.., m, k]` and `b` over `[batch.., k, n]` (broadcast batches have
/// stride 0; a transposed operand just has swapped strides). The product is
/// written contiguously over `[batch.., m, n]`; the epilogue, an elementwise
/// program over that same shape whose `Load` of access `accumulator` reads
/// the product, then overwrites it in place, one block of rows at a time
/// while they are in cache.
#[derive(Clone, Debug, PartialEq)]
pub struct Matmul {
    pub batch: Vec<usize>,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub a: Access,
    pub b: Access,
    pub epilogue: Option<Epilogue>,
}

/// An elementwise program applied to a matmul's output.
#[derive(Clone, Debug, PartialEq)]
pub struct Epilogue {
    pub program: Elementwise,
    /// The access of `program` that reads the product: its buffer is the
    /// output buffer and its strides are the contiguous ones.
    pub accumulator: usize,
}

/// A 2-D convolution `x [n, c, h, w] * w [m, c, kh, kw] -> [n, m, oh, ow]`
/// (one group), run as im2col into a scratch buffer and a matmul; the
/// bias is added and the epilogue applied to each block of output rows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conv2d {
    pub batch: usize,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub filters: usize,
    pub kernel: [usize; 2],
    pub out: [usize; 2],
    pub strides: [usize; 2],
    /// Top and left padding.
    pub pads: [usize; 2],
    pub dilations: [usize; 2],
}

impl Conv2d {
    /// Rows of the im2col matrix: one per input channel and kernel tap.
    pub fn taps(&self) -> usize {
        self.channels * self.kernel[0] * self.kernel[1]
    }

    /// Output pixels per image.
    pub fn pixels(&self) -> usize {
        self.out[0] * self.out[1]
    }

    /// Fills `cols` (`[batch, taps, pixels]`, row-major) from `x`
    /// (`[batch, channels, height, width]`), zero outside the image.
    pub fn im2col(&self, x: &[f32], cols: &mut [f32]) {
        self.im2col_rows(x, 0, cols);
    }

    /// Fills the rows of the im2col matrix from row `first` on (a row is one
    /// image and tap, `pixels` long) into `rows`, so threads can split it.
    /// Each output row of a tap reads one input row at a stride: the
    /// columns that fall in the padding are zeroed, the rest copied (a
    /// plain copy for stride 1).
    pub fn im2col_rows(&self, x: &[f32], first: usize, rows: &mut [f32]) {
        let (taps, area) = (self.taps().max(1), self.kernel[0] * self.kernel[1]);
        let image = self.channels * self.height * self.width;
        let [sy, sx] = self.strides;
        for (offset, row) in rows.chunks_mut(self.pixels().max(1)).enumerate() {
            let (b, tap) = ((first + offset) / taps, (first + offset) % taps);
            let (c, ky, kx) = (
                tap / area.max(1),
                (tap % area.max(1)) / self.kernel[1].max(1),
                tap % self.kernel[1].max(1),
            );
            let plane = x.get(b * image + c * self.height * self.width..).unwrap_or_default();
            // Output columns whose input column `ox * sx + kx * dx - pad` lies in the image.
            let shift = kx * self.dilations[1];
            let first_ox = self.pads[1].saturating_sub(shift).div_ceil(sx.max(1));
            let end_ox = (self.width + self.pads[1])
                .checked_sub(shift)
                .map_or(0, |limit| limit.div_ceil(sx.max(1)))
                .min(self.out[1]);
            for (oy, line) in row.chunks_mut(self.out[1].max(1)).enumerate() {
                let y = (oy * sy + ky * self.dilations[0])
                    .checked_sub(self.pads[0])
                    .filter(|&y| y < self.height);
                let (Some(y), true) = (y, first_ox < end_ox) else {
                    line.fill(0.0);
                    continue;
                };
                let (before, rest) = line.split_at_mut(first_ox.min(line.len()));
                before.fill(0.0);
                let (inside, after) = rest.split_at_mut((end_ox - first_ox).min(rest.len()));
                after.fill(0.0);
                let start = y * self.width + first_ox * sx + shift - self.pads[1];
                match plane.get(start..) {
                    Some(source) if sx == 1 && source.len() >= inside.len() => inside.copy_from_slice(&source[..inside.len()]),
                    Some(source) => inside
                        .iter_mut()
                        .zip(source.iter().step_by(sx.max(1)))
                        .for_each(|(slot, &v)| *slot = v),
                    None => inside.fill(0.0),
                }
            }
        }
    }
}

/// Scaled dot-product attention, `softmax(q k^T * scale + bias) v` for
/// every batch and query head, computed tile by tile (the flash-attention
/// form: blocks of query rows against tiles of keys, with the online
/// softmax recurrence, so the scores never exist whole).
///
/// `q` is an access over `[batch, q_heads, q_len, head]`, `k` over
/// `[batch, kv_heads, kv_len, head]`, `v` over `[batch, kv_heads, kv_len,
/// v_head]`; query head `h` reads key/value head `h / (q_heads /
/// kv_heads)` (grouped-query attention). The bias of score `[b, h, i, j]`
/// is the mask's value there (or 0 / -inf for a boolean mask), and -inf
/// where `causal` or a window excludes key `j` from query `i`. A row that
/// excludes every key gives zeros. The output is written over `[batch,
/// q_heads, q_len, v_head]` at `out_strides`.
#[derive(Clone, Debug, PartialEq)]
pub struct Attention {
    pub batch: usize,
    pub q_heads: usize,
    pub kv_heads: usize,
    pub q_len: usize,
    pub kv_len: usize,
    pub head: usize,
    pub v_head: usize,
    pub q: Access,
    pub k: Access,
    pub v: Access,
    pub mask: Option<AttentionMask>,
    pub scale: f32,
    /// Scores are soft-capped to `softcap * tanh(s / softcap)` when positive.
    pub softcap: f32,
    pub causal: bool,
    /// Keys at most this far before (left) or after (right) the query.
    pub window: [Option<usize>; 2],
    pub out_strides: [usize; 4],
}

/// The mask of an [`Attention`]: an access over `[batch, q_heads, q_len,
/// kv_len]`, additive, or boolean (1 keeps a key, 0 excludes it).
#[derive(Clone, Debug, PartialEq)]
pub struct AttentionMask {
    pub access: Access,
    pub boolean: bool,
}

impl Attention {
    /// Query heads per key/value head.
    pub fn group(&self) -> usize {
        (self.q_heads / self.kv_heads.max(1)).max(1)
    }

    pub fn out_len(&self) -> usize {
        self.batch * self.q_heads * self.q_len * self.v_head
    }
}

#[cfg(test)]
mod tests {
    use super::Conv2d;

    /// The definition, one element at a time.
    fn naive_im2col(conv: &Conv2d, x: &[f32]) -> Vec<f32> {
        let mut cols = Vec::new();
        for b in 0..conv.batch {
            for c in 0..conv.channels {
                for ky in 0..conv.kernel[0] {
                    for kx in 0..conv.kernel[1] {
                        for oy in 0..conv.out[0] {
                            for ox in 0..conv.out[1] {
                                let y = (oy * conv.strides[0] + ky * conv.dilations[0]) as isize - conv.pads[0] as isize;
                                let xx = (ox * conv.strides[1] + kx * conv.dilations[1]) as isize - conv.pads[1] as isize;
                                let inside = (0..conv.height as isize).contains(&y) && (0..conv.width as isize).contains(&xx);
                                cols.push(match inside {
                                    true => x[((b * conv.channels + c) * conv.height + y as usize) * conv.width + xx as usize],
                                    false => 0.0,
                                });
                            }
                        }
                    }
                }
            }
        }
        cols
    }

    #[test]
    fn im2col_matches_the_definition_for_strides_dilations_and_padding() {
        for (stride, dilation, pad, kernel) in [(1, 1, 0, 3), (2, 1, 1, 3), (3, 2, 2, 2), (1, 3, 4, 3), (2, 2, 0, 1), (4, 1, 3, 5)] {
            let (height, width) = (7, 9);
            let out = |size: usize| (size + 2 * pad).saturating_sub(dilation * (kernel - 1) + 1) / stride + 1;
            let conv = Conv2d {
                batch: 2,
                channels: 2,
                height,
                width,
                filters: 1,
                kernel: [kernel, kernel],
                out: [out(height), out(width)],
                strides: [stride, stride],
                pads: [pad, pad],
                dilations: [dilation, dilation],
            };
            let x: Vec<f32> = (0..2 * 2 * height * width).map(|v| v as f32 + 1.0).collect();
            let mut cols = vec![f32::NAN; conv.batch * conv.taps() * conv.pixels()];
            conv.im2col(&x, &mut cols);
            assert_eq!(
                cols,
                naive_im2col(&conv, &x),
                "stride {stride} dilation {dilation} pad {pad} kernel {kernel}"
            );
        }
    }

    #[test]
    fn im2col_reads_each_tap_with_zero_padding() {
        // One 3x3 image, one channel, a 2x2 kernel, padding 1: 4x4 outputs.
        let conv = Conv2d {
            batch: 1,
            channels: 1,
            height: 3,
            width: 3,
            filters: 1,
            kernel: [2, 2],
            out: [4, 4],
            strides: [1, 1],
            pads: [1, 1],
            dilations: [1, 1],
        };
        let x: Vec<f32> = (1..=9).map(|v| v as f32).collect();
        let mut cols = vec![f32::NAN; conv.taps() * conv.pixels()];
        conv.im2col(&x, &mut cols);
        // Tap (0, 0) reads x[oy - 1, ox - 1]: the first row and column are padding.
        assert_eq!(&cols[..8], &[0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 3.0]);
        // Tap (1, 1) reads x[oy, ox]: the last row and column fall outside.
        assert_eq!(&cols[48..56], &[1.0, 2.0, 3.0, 0.0, 4.0, 5.0, 6.0, 0.0]);
    }
}
