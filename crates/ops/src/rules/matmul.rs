//! Matrix products: NumPy `matmul` with batch broadcasting, GEMM, batched
//! matmul, einsum, integer matmul, and the grouped (per-row expert) matmul
//! of mixture-of-experts layers.

use std::collections::BTreeMap;

use opfuse_ir::{DType, Shape, TensorType};

use super::{broadcast::broadcast, elements};
use crate::args::{attr_error, dtype_error, integer_input, same_dtype, shape_error, Args, InferResult};
use crate::code::{op, OpCode};

/// Shape rules and FLOP formulas of this family, by catalog name.
pub const RULES: &[(&str, OpCode)] = &[
    ("matmul", op(matmul, matmul_flops)),
    ("grouped_matmul", op(grouped_matmul, matmul_flops)),
    ("gemm", op(gemm, gemm_flops)),
    ("batch_matmul", op(batch_matmul, matmul_flops)),
    ("einsum", op(einsum, einsum_flops)),
    ("matmul_integer", op(matmul_integer, matmul_flops)),
];

/// `a[..., M, K] @ b[..., K, N] -> [..., M, N]`; a 1-d `a` is a row and a 1-d
/// `b` a column, and the added axis is removed again, as in NumPy.
pub fn matmul(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let dtype = same_dtype(args, &[0, 1])?;
    let shape = matmul_shape(&args.input(0)?.shape, &args.input(1)?.shape)?;
    Ok(vec![TensorType { dtype, shape }])
}

/// The shape of NumPy's `matmul` of `a` and `b`.
pub fn matmul_shape(a: &Shape, b: &Shape) -> InferResult<Shape> {
    if a.rank() == 0 || b.rank() == 0 {
        let index = if a.rank() == 0 { 0 } else { 1 };
        return Err(shape_error(index, "matmul needs tensors of rank 1 or more, not scalars"));
    }
    let a_dims = if a.rank() == 1 { vec![1, a.0[0]] } else { a.0.clone() };
    let b_dims = if b.rank() == 1 { vec![b.0[0], 1] } else { b.0.clone() };
    let (a_batch, a_mat) = a_dims.split_at(a_dims.len() - 2);
    let (b_batch, b_mat) = b_dims.split_at(b_dims.len() - 2);
    let (m, k_a) = (a_mat[0], a_mat[1]);
    let (k_b, n) = (b_mat[0], b_mat[1]);
    if k_a != k_b {
        return Err(shape_error(
            1,
            format!("inner dimensions differ: {a} has {k_a} columns but {b} has {k_b} rows"),
        ));
    }
    let batch = broadcast(&[&Shape(a_batch.to_vec()), &Shape(b_batch.to_vec())])
        .map_err(|e| shape_error(1, format!("batch dimensions of {a} and {b} do not broadcast ({e})")))?;
    let mut out = batch.0;
    if a.rank() > 1 {
        out.push(m);
    }
    if b.rank() > 1 {
        out.push(n);
    }
    Ok(Shape(out))
}

/// Two FLOPs per multiply-add: `2 * K` per output element, `K` being the
/// last axis of the first input.
pub fn matmul_flops(args: &Args<'_>, outputs: &[TensorType]) -> u128 {
    let k = args.inputs.first().and_then(|a| a.shape.dims().last()).copied().unwrap_or(0);
    2 * k as u128 * outputs.first().map(elements).unwrap_or(0)
}

/// `x[R, K]`, `weights[E, K, N]`, `expert_ids[R]` -> `[R, N]`: row `r` of `x`
/// times `weights[expert_ids[r]]`.
pub fn grouped_matmul(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let dtype = same_dtype(args, &[0, 1])?;
    let (x, w, ids) = (args.input(0)?, args.input(1)?, args.input(2)?);
    integer_input(args, 2, "expert_ids")?;
    let [rows, k] = x.shape.dims() else {
        return Err(shape_error(0, format!("x must be [rows, K], found {}", x.shape)));
    };
    let [_, k_w, n] = w.shape.dims() else {
        return Err(shape_error(1, format!("weights must be [experts, K, N], found {}", w.shape)));
    };
    if k != k_w {
        return Err(shape_error(
            1,
            format!("inner dimensions differ: x has {k} columns but each expert has {k_w} rows"),
        ));
    }
    if ids.shape.dims() != [*rows] {
        return Err(shape_error(
            2,
            format!("expert_ids must be [{rows}], one per row of x, found {}", ids.shape),
        ));
    }
    Ok(vec![TensorType::new(dtype, vec![*rows, *n])])
}

/// The `[M, K]` and `[K, N]` extents of GEMM's operands after the optional
/// transposes.
pub struct GemmDims {
    pub m: u64,
    pub k: u64,
    pub n: u64,
}

/// Reads and checks GEMM's operand shapes.
pub fn gemm_dims(args: &Args<'_>) -> InferResult<GemmDims> {
    let (a, b) = (&args.input(0)?.shape, &args.input(1)?.shape);
    let [a0, a1] = a.dims() else {
        return Err(shape_error(0, format!("gemm needs a 2-d a, found {a}")));
    };
    let [b0, b1] = b.dims() else {
        return Err(shape_error(1, format!("gemm needs a 2-d b, found {b}")));
    };
    let (m, k_a) = if args.bool("trans_a")? { (*a1, *a0) } else { (*a0, *a1) };
    let (k_b, n) = if args.bool("trans_b")? { (*b1, *b0) } else { (*b0, *b1) };
    if k_a != k_b {
        return Err(shape_error(
            1,
            format!("inner dimensions differ: a' is [{m}, {k_a}] but b' is [{k_b}, {n}] (after `trans_a`, `trans_b`)"),
        ));
    }
    Ok(GemmDims { m, k: k_a, n })
}

/// `alpha * a' @ b' + beta * c -> [M, N]`; `c` must broadcast to `[M, N]`.
pub fn gemm(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let dtype = same_dtype(args, &[0, 1])?;
    let GemmDims { m, n, .. } = gemm_dims(args)?;
    if let Some(c) = args.optional_input(2) {
        same_dtype(args, &[0, 2])?;
        let fits = c.rank() <= 2 && broadcast(&[&c.shape, &Shape(vec![m, n])]).is_ok_and(|s| s.dims() == [m, n]);
        if !fits {
            return Err(shape_error(
                2,
                format!("c must broadcast to the output [{m}, {n}], found {}", c.shape),
            ));
        }
    }
    Ok(vec![TensorType::new(dtype, vec![m, n])])
}

/// `2 * K` per output element, plus the scaling and the add of `c`.
fn gemm_flops(args: &Args<'_>, outputs: &[TensorType]) -> u128 {
    let Ok(GemmDims { k, .. }) = gemm_dims(args) else {
        return 0;
    };
    let out = outputs.first().map(elements).unwrap_or(0);
    let c = if args.inputs.len() > 2 { 2 * out } else { 0 };
    2 * k as u128 * out + c
}

/// `a[B, M, K] @ b[B, K, N] -> [B, M, N]`, batch extents equal.
pub fn batch_matmul(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let dtype = same_dtype(args, &[0, 1])?;
    let (a, b) = (&args.input(0)?.shape, &args.input(1)?.shape);
    let [batch, m, k] = a.dims() else {
        return Err(shape_error(0, format!("batch_matmul needs a 3-d a [B, M, K], found {a}")));
    };
    let [batch_b, k_b, n] = b.dims() else {
        return Err(shape_error(1, format!("batch_matmul needs a 3-d b [B, K, N], found {b}")));
    };
    if batch != batch_b {
        return Err(shape_error(
            1,
            format!("batch sizes differ: a has {batch}, b has {batch_b} (batch_matmul does not broadcast)"),
        ));
    }
    if k != k_b {
        return Err(shape_error(
            1,
            format!("inner dimensions differ: {a} has {k} columns but {b} has {k_b} rows"),
        ));
    }
    Ok(vec![TensorType::new(dtype, vec![*batch, *m, *n])])
}

/// Integer matmul: i8/u8 operands (and zero points of the same dtypes), i32 out.
pub fn matmul_integer(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    for index in [0, 1] {
        let dtype = args.input(index)?.dtype;
        if !matches!(dtype, DType::I8 | DType::U8) {
            return Err(dtype_error(index, format!("matmul_integer takes i8 or u8 operands, found {dtype}")));
        }
    }
    let (a, b) = (&args.input(0)?.shape, &args.input(1)?.shape);
    let shape = matmul_shape(a, b)?;
    let rows = if a.rank() == 1 { 1 } else { a.0[a.rank() - 2] };
    let columns = if b.rank() == 1 { 1 } else { b.0[b.rank() - 1] };
    for (index, operand, per, what) in [(2, 0, rows, "row of a"), (3, 1, columns, "column of b")] {
        let Some(zero_point) = args.optional_input(index) else {
            continue;
        };
        same_dtype(args, &[operand, index])?;
        let count = zero_point.shape.numel().unwrap_or(0);
        if zero_point.rank() > 1 || (count != 1 && count != per) {
            return Err(shape_error(
                index,
                format!(
                    "a zero point is a scalar or has one entry per {what} ({per}), found {}",
                    zero_point.shape
                ),
            ));
        }
    }
    Ok(vec![TensorType { dtype: DType::I32, shape }])
}

/// An einsum equation resolved against its operands' shapes. Labels are
/// numbered in ASCII order (`A`..`Z` are 0..25, `a`..`z` 26..51) so sorting
/// them sorts the letters; the axes `...` stands for are labels 52 and up,
/// right-aligned across the operands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EinsumPlan {
    /// The label of each axis of each operand.
    pub terms: Vec<Vec<usize>>,
    pub output: Vec<usize>,
    /// The extent of every label that occurs (operand extents of 1 broadcast).
    pub extents: BTreeMap<usize, u64>,
}

const ELLIPSIS_BASE: usize = 52;

impl EinsumPlan {
    /// The labels summed over: those not in the output.
    pub fn summed(&self) -> Vec<usize> {
        self.extents.keys().copied().filter(|l| !self.output.contains(l)).collect()
    }

    pub fn output_dims(&self) -> Vec<u64> {
        self.output.iter().map(|l| self.extents.get(l).copied().unwrap_or(1)).collect()
    }
}

/// A term of the equation: its letters' labels, with `None` where `...` stands.
type Term = Vec<Option<usize>>;

/// Parses `equation` for operands of shapes `shapes`.
pub fn einsum_plan(equation: &str, shapes: &[&Shape]) -> InferResult<EinsumPlan> {
    let equation: String = equation.chars().filter(|c| *c != ' ').collect();
    let (lhs, rhs) = match equation.split_once("->") {
        Some((lhs, rhs)) => (lhs, Some(rhs)),
        None => (equation.as_str(), None),
    };
    let terms: Vec<Term> = lhs.split(',').map(parse_term).collect::<InferResult<_>>()?;
    if terms.len() != shapes.len() {
        return Err(attr_error(
            "equation",
            format!(
                "`{equation}` has {} input term(s) but einsum got {} tensor(s)",
                terms.len(),
                shapes.len()
            ),
        ));
    }
    let mut extents = BTreeMap::new();
    let mut labelled = Vec::with_capacity(terms.len());
    let ellipsis_rank = ellipsis_rank(&terms, shapes)?;
    for (index, (term, shape)) in terms.iter().zip(shapes).enumerate() {
        let labels = expand_term(term, shape.rank(), ellipsis_rank);
        if has_unequal_repeats(&labels, shape) {
            return Err(shape_error(index, format!("a repeated index needs equal extents, found {shape}")));
        }
        for (&label, &extent) in labels.iter().zip(shape.dims()) {
            let slot = extents.entry(label).or_insert(extent);
            if *slot == 1 {
                *slot = extent;
            } else if extent != 1 && extent != *slot {
                return Err(shape_error(
                    index,
                    format!(
                        "index `{}` is {extent} in {shape} but {slot} in an earlier operand",
                        label_name(label)
                    ),
                ));
            }
        }
        labelled.push(labels);
    }
    let output = match rhs {
        Some(rhs) => explicit_output(rhs, &labelled, ellipsis_rank)?,
        None => implicit_output(&labelled, ellipsis_rank),
    };
    Ok(EinsumPlan {
        terms: labelled,
        output,
        extents,
    })
}

fn parse_term(text: &str) -> InferResult<Term> {
    let mut term = Vec::new();
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if let Some(after) = rest.strip_prefix("...") {
            if term.contains(&None) {
                return Err(attr_error("equation", format!("term `{text}` holds `...` twice")));
            }
            term.push(None);
            rest = after;
            continue;
        }
        let label = match c {
            'A'..='Z' => c as usize - 'A' as usize,
            'a'..='z' => c as usize - 'a' as usize + 26,
            _ => {
                return Err(attr_error(
                    "equation",
                    format!("an equation holds letters, `,`, `->` and `...`; found `{c}` in `{text}`"),
                ))
            }
        };
        term.push(Some(label));
        rest = &rest[c.len_utf8()..];
    }
    Ok(term)
}

/// How many axes `...` stands for: the most any operand gives it.
fn ellipsis_rank(terms: &[Term], shapes: &[&Shape]) -> InferResult<usize> {
    let mut rank = 0;
    for (index, (term, shape)) in terms.iter().zip(shapes).enumerate() {
        let letters = term.iter().flatten().count();
        let has_ellipsis = term.contains(&None);
        if shape.rank() < letters || (!has_ellipsis && shape.rank() != letters) {
            return Err(shape_error(
                index,
                format!("term {} names {letters} axes but the tensor is {shape}", index + 1),
            ));
        }
        rank = rank.max(shape.rank() - letters);
    }
    Ok(rank)
}

/// One label per axis of an operand of `rank`, `...` expanded right-aligned.
fn expand_term(term: &Term, rank: usize, ellipsis_rank: usize) -> Vec<usize> {
    let letters = term.iter().flatten().count();
    let own = rank - letters;
    term.iter()
        .flat_map(|slot| match slot {
            Some(label) => vec![*label],
            None => (ellipsis_rank - own..ellipsis_rank).map(|i| ELLIPSIS_BASE + i).collect(),
        })
        .collect()
}

fn has_unequal_repeats(labels: &[usize], shape: &Shape) -> bool {
    labels.iter().enumerate().any(|(i, l)| {
        labels[..i]
            .iter()
            .position(|m| m == l)
            .is_some_and(|first| shape.0[first] != shape.0[i])
    })
}

fn explicit_output(rhs: &str, labelled: &[Vec<usize>], ellipsis_rank: usize) -> InferResult<Vec<usize>> {
    let term = parse_term(rhs)?;
    if ellipsis_rank > 0 && !term.contains(&None) {
        return Err(attr_error(
            "equation",
            format!("the inputs have `...` axes, so the output `{rhs}` must hold `...` too"),
        ));
    }
    let mut output = Vec::new();
    for slot in &term {
        match slot {
            Some(label) => {
                if output.contains(label) {
                    return Err(attr_error(
                        "equation",
                        format!("index `{}` appears twice in the output", label_name(*label)),
                    ));
                }
                if !labelled.iter().flatten().any(|l| l == label) {
                    return Err(attr_error(
                        "equation",
                        format!("output index `{}` appears in no input", label_name(*label)),
                    ));
                }
                output.push(*label);
            }
            None => output.extend((0..ellipsis_rank).map(|i| ELLIPSIS_BASE + i)),
        }
    }
    Ok(output)
}

/// The `...` axes, then the letters that appear exactly once, in ASCII order.
fn implicit_output(labelled: &[Vec<usize>], ellipsis_rank: usize) -> Vec<usize> {
    let mut counts: BTreeMap<usize, usize> = BTreeMap::new();
    for &label in labelled.iter().flatten() {
        *counts.entry(label).or_default() += 1;
    }
    let mut output: Vec<usize> = (0..ellipsis_rank).map(|i| ELLIPSIS_BASE + i).collect();
    output.extend(counts.iter().filter(|(l, n)| **l < ELLIPSIS_BASE && **n == 1).map(|(l, _)| *l));
    output
}

fn label_name(label: usize) -> String {
    match label {
        0..=25 => char::from(b'A' + label as u8).to_string(),
        26..=51 => char::from(b'a' + (label - 26) as u8).to_string(),
        _ => "...".to_string(),
    }
}

pub fn einsum(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let indices: Vec<usize> = (0..args.inputs.len()).collect();
    let dtype = same_dtype(args, &indices)?;
    let shapes: Vec<&Shape> = args.inputs.iter().map(|t| &t.shape).collect();
    let plan = einsum_plan(&args.string("equation")?, &shapes)?;
    Ok(vec![TensorType::new(dtype, plan.output_dims())])
}

/// Evaluated naively: a multiply per extra operand and an add for every
/// combination of index values.
fn einsum_flops(args: &Args<'_>, _: &[TensorType]) -> u128 {
    let shapes: Vec<&Shape> = args.inputs.iter().map(|t| &t.shape).collect();
    let Ok(plan) = args.string("equation").and_then(|e| einsum_plan(&e, &shapes)) else {
        return 0;
    };
    let combinations: u128 = plan.extents.values().map(|&e| e as u128).product();
    shapes.len() as u128 * combinations
}

#[cfg(test)]
mod tests {
    use opfuse_ir::{Attr, DType};

    use crate::testing::infer;

    fn equation(text: &str) -> (&'static str, Attr) {
        ("equation", Attr::Str(text.to_string()))
    }

    use DType::{F32, I8, U8};

    #[test]
    fn matmul_variants_infer_their_shapes() {
        let t = [("trans_a", Attr::Bool(true)), ("trans_b", Attr::Bool(true))];
        assert_eq!(
            infer("gemm", &t, &[(F32, &[3, 2]), (F32, &[4, 3]), (F32, &[4])]).unwrap(),
            "f32[2, 4]"
        );
        assert_eq!(
            infer("batch_matmul", &[], &[(F32, &[5, 2, 3]), (F32, &[5, 3, 4])]).unwrap(),
            "f32[5, 2, 4]"
        );
        assert_eq!(
            infer("matmul_integer", &[], &[(U8, &[4, 3]), (I8, &[3, 2]), (U8, &[])]).unwrap(),
            "i32[4, 2]"
        );
        assert_eq!(
            infer("einsum", &[equation("bij, bjk -> bik")], &[(F32, &[2, 3, 4]), (F32, &[2, 4, 5])]).unwrap(),
            "f32[2, 3, 5]"
        );
        assert_eq!(
            infer("einsum", &[equation("ji,jk")], &[(F32, &[3, 4]), (F32, &[3, 5])]).unwrap(),
            "f32[4, 5]"
        );
        assert_eq!(
            infer("einsum", &[equation("...ii->...i")], &[(F32, &[2, 7, 3, 3])]).unwrap(),
            "f32[2, 7, 3]"
        );
        assert_eq!(infer("einsum", &[equation("i,i")], &[(F32, &[5]), (F32, &[5])]).unwrap(), "f32[]");
    }

    #[test]
    fn bad_matmuls_are_errors() {
        let err = |op: &str, attrs: &[(&str, Attr)], inputs: &[(DType, &[u64])]| infer(op, attrs, inputs).unwrap_err();
        assert_eq!(
            err("gemm", &[], &[(F32, &[2, 3]), (F32, &[2, 3])]),
            "inner dimensions differ: a' is [2, 3] but b' is [2, 3] (after `trans_a`, `trans_b`)"
        );
        assert_eq!(
            err("gemm", &[], &[(F32, &[2, 3]), (F32, &[3, 4]), (F32, &[3, 4])]),
            "c must broadcast to the output [2, 4], found [3, 4]"
        );
        assert_eq!(
            err("batch_matmul", &[], &[(F32, &[1, 2, 3]), (F32, &[5, 3, 4])]),
            "batch sizes differ: a has 1, b has 5 (batch_matmul does not broadcast)"
        );
        assert_eq!(
            err("matmul_integer", &[], &[(F32, &[2, 3]), (I8, &[3, 2])]),
            "matmul_integer takes i8 or u8 operands, found f32"
        );
        assert_eq!(
            err("matmul_integer", &[], &[(U8, &[4, 3]), (I8, &[3, 2]), (U8, &[3])]),
            "a zero point is a scalar or has one entry per row of a (4), found [3]"
        );
        assert_eq!(
            err("einsum", &[equation("ij,jk->ik")], &[(F32, &[2, 3])]),
            "`ij,jk->ik` has 2 input term(s) but einsum got 1 tensor(s)"
        );
        assert_eq!(
            err("einsum", &[equation("ij,jk->ik")], &[(F32, &[2, 3]), (F32, &[4, 5])]),
            "index `j` is 4 in [4, 5] but 3 in an earlier operand"
        );
        assert_eq!(
            err("einsum", &[equation("ij->ii")], &[(F32, &[2, 2])]),
            "index `i` appears twice in the output"
        );
        assert_eq!(
            err("einsum", &[equation("ij->k")], &[(F32, &[2, 2])]),
            "output index `k` appears in no input"
        );
        assert_eq!(
            err("einsum", &[equation("ii")], &[(F32, &[2, 3])]),
            "a repeated index needs equal extents, found [2, 3]"
        );
        assert_eq!(
            err("einsum", &[equation("ij")], &[(F32, &[2])]),
            "term 1 names 2 axes but the tensor is [2]"
        );
        assert_eq!(
            err("einsum", &[equation("i1")], &[(F32, &[2, 2])]),
            "an equation holds letters, `,`, `->` and `...`; found `1` in `i1`"
        );
        assert_eq!(
            err("einsum", &[equation("...i->i")], &[(F32, &[2, 2])]),
            "the inputs have `...` axes, so the output `i` must hold `...` too"
        );
    }
}
