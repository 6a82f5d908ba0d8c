//! Validation of programs and the loop nests the kernels walk.
//!
//! Every access is checked against the shape (one stride per dimension,
//! no element below the buffer's start, no address beyond `isize::MAX`
//! bytes), every step against the steps before it. The loop nest then
//! drops size-1 dimensions and merges neighbouring dimensions that every
//! access walks as one (`stride[d] == stride[d + 1] * size[d + 1]`), so a
//! contiguous or broadcast tensor of any rank is one long inner loop.

use super::error::{CodegenError, Result};
use crate::program::{Access, Elementwise, Rows, Step};

/// One access over a collapsed loop nest, in elements.
#[derive(Clone, Debug)]
pub(crate) struct Walk {
    pub buffer: usize,
    pub offset: i64,
    /// One stride per dimension of the nest it belongs to.
    pub strides: Vec<i64>,
}

/// The smallest length a buffer must have for a kernel to stay inside it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Need {
    pub buffer: usize,
    pub len: usize,
}

/// An elementwise program's loop nest: `sizes` outermost first, the last
/// one the inner loop; `walks[k]` is input `k`.
#[derive(Debug)]
pub(crate) struct ElementwiseNest {
    pub len: u64,
    pub sizes: Vec<u64>,
    pub walks: Vec<Walk>,
    pub needs: Vec<Need>,
}

/// A row program's loop nest: `outer` (collapsed dimensions before the
/// row) and `row_len`; `walks` are the prologue's inputs, then scale, then
/// bias (when present), their strides over `outer` then the row.
#[derive(Debug)]
pub(crate) struct RowNest {
    pub rows: u64,
    pub row_len: u64,
    pub outer: Vec<u64>,
    pub walks: Vec<Walk>,
    pub scale: Option<usize>,
    pub bias: Option<usize>,
    pub needs: Vec<Need>,
}

/// Largest byte offset a kernel computes: addresses stay below this.
const MAX_BYTES: i128 = isize::MAX as i128;

pub(crate) fn check_steps(steps: &[Step], inputs: usize) -> Result<()> {
    if steps.is_empty() {
        return Err(CodegenError::NoSteps);
    }
    for (step, s) in steps.iter().enumerate() {
        let operands: &[usize] = match s {
            Step::Load(input) => {
                if *input >= inputs {
                    return Err(CodegenError::UnknownInput {
                        step,
                        input: *input,
                        inputs,
                    });
                }
                &[]
            }
            Step::Const(_) => &[],
            Step::Unary(_, a) | Step::Clamp(a, _, _) => std::slice::from_ref(a),
            Step::Binary(_, a, b) => &[*a, *b],
            Step::Select(c, a, b) => &[*c, *a, *b],
        };
        if let Some(&operand) = operands.iter().find(|&&o| o >= step) {
            return Err(CodegenError::ForwardOperand { step, operand });
        }
    }
    Ok(())
}

fn too_large(what: &str) -> CodegenError {
    CodegenError::TooLarge(what.to_string())
}

/// The element count of `shape`, which must fit an `i64` of bytes.
fn element_count(shape: &[usize], what: &str) -> Result<u64> {
    let mut count: u64 = 1;
    for &n in shape {
        count = count.checked_mul(n as u64).ok_or_else(|| too_large(what))?;
    }
    if i128::from(count) * 4 > MAX_BYTES {
        return Err(too_large(what));
    }
    Ok(count)
}

/// Checks `access` over `shape` (which has `count` elements) and returns
/// its strides as `i64` and what it needs of its buffer.
fn check_access(access: &Access, shape: &[usize], count: u64, what: &str) -> Result<(Walk, Option<Need>)> {
    if access.strides.len() != shape.len() {
        return Err(CodegenError::StrideRank {
            access: what.to_string(),
            strides: access.strides.len(),
            rank: shape.len(),
        });
    }
    let offset = i64::try_from(access.offset).map_err(|_| too_large(what))?;
    let mut strides = Vec::with_capacity(shape.len());
    let (mut low, mut high) = (i128::from(offset), i128::from(offset));
    for (&n, &s) in shape.iter().zip(&access.strides) {
        let s = s as i64;
        strides.push(s);
        let reach = (n as i128 - 1).max(0) * i128::from(s);
        if reach < 0 {
            low += reach;
        } else {
            high += reach;
        }
    }
    let walk = Walk {
        buffer: access.buffer,
        offset,
        strides,
    };
    if count == 0 {
        return Ok((walk, None));
    }
    if low < 0 {
        return Err(CodegenError::NegativeAddress {
            access: what.to_string(),
            lowest: low,
        });
    }
    if (high + 1) * 4 > MAX_BYTES {
        return Err(too_large(what));
    }
    let len = usize::try_from(high + 1).map_err(|_| too_large(what))?;
    Ok((
        walk,
        Some(Need {
            buffer: access.buffer,
            len,
        }),
    ))
}

/// Drops size-1 dimensions and merges neighbours every walk steps through
/// as one. Returns the new sizes; the walks' strides are rewritten.
fn collapse(sizes: &[u64], walks: &mut [Walk]) -> Vec<u64> {
    let mut kept: Vec<u64> = Vec::with_capacity(sizes.len());
    let mut strides: Vec<Vec<i64>> = vec![Vec::new(); walks.len()];
    for (d, &n) in sizes.iter().enumerate() {
        if n == 1 {
            continue;
        }
        let mergeable = !kept.is_empty()
            && walks.iter().zip(&strides).all(|(walk, merged)| {
                let inner = walk.strides.get(d).copied().unwrap_or(0);
                let step = i64::try_from(n).ok().and_then(|n| inner.checked_mul(n));
                merged.last().copied() == step
            });
        if mergeable {
            if let Some(last) = kept.last_mut() {
                *last *= n;
            }
            for (walk, merged) in walks.iter().zip(&mut strides) {
                if let Some(last) = merged.last_mut() {
                    *last = walk.strides.get(d).copied().unwrap_or(0);
                }
            }
        } else {
            kept.push(n);
            for (walk, merged) in walks.iter().zip(&mut strides) {
                merged.push(walk.strides.get(d).copied().unwrap_or(0));
            }
        }
    }
    for (walk, merged) in walks.iter_mut().zip(strides) {
        walk.strides = merged;
    }
    kept
}

fn add_need(needs: &mut Vec<Need>, need: Option<Need>) {
    let Some(need) = need else { return };
    match needs.iter_mut().find(|n| n.buffer == need.buffer) {
        Some(n) => n.len = n.len.max(need.len),
        None => needs.push(need),
    }
}

pub(crate) fn elementwise(program: &Elementwise, output: usize) -> Result<ElementwiseNest> {
    check_steps(&program.steps, program.inputs.len())?;
    let len = element_count(&program.shape, "the output")?;
    let mut needs = Vec::new();
    let mut walks = Vec::with_capacity(program.inputs.len());
    for (k, access) in program.inputs.iter().enumerate() {
        let (walk, need) = check_access(access, &program.shape, len, &format!("input {k}"))?;
        add_need(&mut needs, need);
        walks.push(walk);
    }
    add_need(
        &mut needs,
        (len > 0).then_some(Need {
            buffer: output,
            len: len as usize,
        }),
    );
    let shape: Vec<u64> = program.shape.iter().map(|&n| n as u64).collect();
    let mut sizes = collapse(&shape, &mut walks);
    if sizes.is_empty() {
        sizes.push(1);
        for walk in &mut walks {
            walk.strides = vec![0];
        }
    }
    Ok(ElementwiseNest { len, sizes, walks, needs })
}

pub(crate) fn rows(program: &Rows, output: usize) -> Result<RowNest> {
    let prologue = &program.prologue;
    check_steps(&prologue.steps, prologue.inputs.len())?;
    if program.op.reduces() && (program.scale.is_some() || program.bias.is_some()) {
        return Err(CodegenError::ScaleOnReduction(format!("{:?}", program.op)));
    }
    let shape = &prologue.shape;
    let count = element_count(shape, "the row program")?;
    let mut accesses: Vec<(&Access, String)> = prologue
        .inputs
        .iter()
        .enumerate()
        .map(|(k, a)| (a, format!("prologue input {k}")))
        .collect();
    let scale = program.scale.as_ref().map(|a| {
        accesses.push((a, "scale".to_string()));
        accesses.len() - 1
    });
    let bias = program.bias.as_ref().map(|a| {
        accesses.push((a, "bias".to_string()));
        accesses.len() - 1
    });
    let mut needs = Vec::new();
    let mut walks = Vec::with_capacity(accesses.len());
    for (access, what) in &accesses {
        let (walk, need) = check_access(access, shape, count, what)?;
        add_need(&mut needs, need);
        walks.push(walk);
    }
    // A rank-0 program is one row of one element.
    let (outer_shape, row_len): (Vec<u64>, u64) = match shape.split_last() {
        Some((&last, outer)) => (outer.iter().map(|&n| n as u64).collect(), last as u64),
        None => {
            for walk in &mut walks {
                walk.strides.push(0);
            }
            (Vec::new(), 1)
        }
    };
    let mut rows: u64 = 1;
    for &n in &outer_shape {
        rows = rows.checked_mul(n).ok_or_else(|| too_large("the row count"))?;
    }
    if i128::from(rows) * 4 > MAX_BYTES {
        return Err(too_large("the row count"));
    }
    let out_len = if program.op.reduces() { rows } else { count };
    add_need(
        &mut needs,
        (out_len > 0).then_some(Need {
            buffer: output,
            len: out_len as usize,
        }),
    );
    // Collapse the outer dimensions only: the row stays the inner loop.
    let mut outer_walks: Vec<Walk> = walks
        .iter()
        .map(|w| Walk {
            buffer: w.buffer,
            offset: w.offset,
            strides: w.strides.split_last().map(|(_, outer)| outer.to_vec()).unwrap_or_default(),
        })
        .collect();
    let outer = collapse(&outer_shape, &mut outer_walks);
    for (walk, outer_walk) in walks.iter_mut().zip(outer_walks) {
        let inner = walk.strides.last().copied().unwrap_or(0);
        walk.strides = outer_walk.strides;
        walk.strides.push(inner);
    }
    Ok(RowNest {
        rows,
        row_len,
        outer,
        walks,
        scale,
        bias,
        needs,
    })
}
