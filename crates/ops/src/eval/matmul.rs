//! Reference semantics of the matmul family.

use opfuse_ir::{Shape, Tensor};

use super::support::{broadcast_offsets, next_index, strides};
use super::{EvalArgs, EvalError, EvalFn, EvalResult};
use crate::rules::broadcast::broadcast;
use crate::rules::matmul::{einsum_plan, gemm_dims, GemmDims};

/// Semantics of this family, by catalog name.
pub const EVAL: &[(&str, EvalFn)] = &[
    ("matmul", matmul),
    ("grouped_matmul", grouped_matmul),
    ("gemm", gemm),
    ("batch_matmul", matmul),
    ("einsum", einsum),
    ("matmul_integer", matmul_integer),
];

fn matmul(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let (a, b) = (args.input(0)?, args.input(1)?);
    let data = matmul_data(a.dims(), a.data(), b.dims(), b.data())?;
    Ok(vec![args.output(0, data)?])
}

/// NumPy's `matmul` of `a` (of `a_dims`) and `b`, in row-major order of
/// the result (a 1-d operand's added axis has extent 1, so dropping it
/// leaves the order as it is).
pub fn matmul_data(a_dims: &[u64], a: &[f64], b_dims: &[u64], b: &[f64]) -> EvalResult<Vec<f64>> {
    let a_dims = if a_dims.len() == 1 { vec![1, a_dims[0]] } else { a_dims.to_vec() };
    let b_dims = if b_dims.len() == 1 { vec![b_dims[0], 1] } else { b_dims.to_vec() };
    let (a_batch, a_mat) = a_dims.split_at(a_dims.len().saturating_sub(2));
    let (b_batch, b_mat) = b_dims.split_at(b_dims.len().saturating_sub(2));
    let ([m, k], [_, n]) = (a_mat, b_mat) else {
        return Err(EvalError::new("matmul needs tensors of rank 1 or more"));
    };
    let (m, k, n) = (*m as usize, *k as usize, *n as usize);
    let batch = broadcast(&[&Shape(a_batch.to_vec()), &Shape(b_batch.to_vec())])?;
    let (a_offsets, b_offsets) = (broadcast_offsets(batch.dims(), a_batch), broadcast_offsets(batch.dims(), b_batch));
    let mut out = Vec::with_capacity(a_offsets.len() * m * n);
    for (&a_matrix, &b_matrix) in a_offsets.iter().zip(&b_offsets) {
        let (a, b) = (&a[a_matrix * m * k..], &b[b_matrix * k * n..]);
        for i in 0..m {
            for j in 0..n {
                out.push((0..k).map(|p| a[i * k + p] * b[p * n + j]).sum());
            }
        }
    }
    Ok(out)
}

fn grouped_matmul(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let (x, w, ids) = (args.input(0)?, args.input(1)?, args.input(2)?);
    let data = grouped_matmul_data(x.dims(), x.data(), w.dims(), w.data(), ids.data())?;
    Ok(vec![args.output(0, data)?])
}

/// Row `r` of `x` (of `x_dims`, `[R, K]`) times expert `ids[r]` of `w`
/// (of `w_dims`, `[E, K, N]`), rows in order; an id outside `0..E` is an
/// error. Public so the JIT's native stage runs the same loop.
pub fn grouped_matmul_data(x_dims: &[u64], x: &[f64], w_dims: &[u64], w: &[f64], ids: &[f64]) -> EvalResult<Vec<f64>> {
    let ([_, k], [experts, _, n]) = (x_dims, w_dims) else {
        return Err(EvalError::new("grouped_matmul needs x [R, K] and weights [E, K, N]"));
    };
    let (k, n) = (*k as usize, *n as usize);
    let mut out = Vec::with_capacity(ids.len() * n);
    for (row, &id) in ids.iter().enumerate() {
        if id < 0.0 || id >= *experts as f64 {
            return Err(EvalError::new(format!(
                "expert id {id} of row {row} is out of range for {experts} experts"
            )));
        }
        let weights = &w[id as usize * k * n..];
        let x_row = &x[row * k..];
        out.extend((0..n).map(|j| (0..k).map(|p| x_row[p] * weights[p * n + j]).sum::<f64>()));
    }
    Ok(out)
}

fn gemm(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let (a, b) = (args.input(0)?, args.input(1)?);
    let GemmDims { m, k, n } = gemm_dims(&args.args)?;
    let (m, k, n) = (m as usize, k as usize, n as usize);
    let (trans_a, trans_b) = (args.args.bool("trans_a")?, args.args.bool("trans_b")?);
    let (alpha, beta) = (args.args.float("alpha")?, args.args.float("beta")?);
    let a_at = |i: usize, p: usize| if trans_a { a.data()[p * m + i] } else { a.data()[i * k + p] };
    let b_at = |p: usize, j: usize| if trans_b { b.data()[j * k + p] } else { b.data()[p * n + j] };
    let c = args.optional_input(2);
    let c_offsets = c.map(|c| broadcast_offsets(&[m as u64, n as u64], c.dims()));
    let mut out = Vec::with_capacity(m * n);
    for i in 0..m {
        for j in 0..n {
            let product: f64 = (0..k).map(|p| a_at(i, p) * b_at(p, j)).sum();
            let bias = match (c, &c_offsets) {
                (Some(c), Some(offsets)) => beta * c.data()[offsets[i * n + j]],
                _ => 0.0,
            };
            out.push(alpha * product + bias);
        }
    }
    Ok(vec![args.output(0, out)?])
}

/// Sums the product of the operands over every combination of index values.
fn einsum(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let dims: Vec<&[u64]> = args.inputs.iter().map(|t| t.dims()).collect();
    let data: Vec<&[f64]> = args.inputs.iter().map(|t| t.data()).collect();
    let out = einsum_data(&args.args.string("equation")?, &dims, &data)?;
    Ok(vec![args.output(0, out)?])
}

/// `einsum` of operands `data` (of `dims`, each buffer as long as its dims
/// say) under `equation`, in row-major order of the output. Public so the
/// JIT's native stage sums in the same order.
pub fn einsum_data(equation: &str, dims: &[&[u64]], data: &[&[f64]]) -> EvalResult<Vec<f64>> {
    let shapes: Vec<Shape> = dims.iter().map(|d| Shape(d.to_vec())).collect();
    let refs: Vec<&Shape> = shapes.iter().collect();
    let plan = einsum_plan(equation, &refs)?;
    // Output labels outermost, so each output element's terms are contiguous.
    let order: Vec<usize> = plan.output.iter().copied().chain(plan.summed()).collect();
    let extents: Vec<u64> = order.iter().map(|l| plan.extents.get(l).copied().unwrap_or(1)).collect();
    let steps: Vec<Vec<usize>> = plan
        .terms
        .iter()
        .zip(dims)
        .map(|(labels, tensor_dims)| {
            let mut step = vec![0usize; order.len()];
            for ((label, &extent), stride) in labels.iter().zip(*tensor_dims).zip(strides(tensor_dims)) {
                // An axis of extent 1 broadcasts: it stays at index 0.
                if let (Some(position), true) = (order.iter().position(|l| l == label), extent > 1) {
                    step[position] += stride;
                }
            }
            step
        })
        .collect();
    let out_len: usize = plan.output_dims().iter().product::<u64>() as usize;
    let mut out = vec![0.0; out_len];
    let total: u64 = extents.iter().product();
    let per_output = (total as usize).checked_div(out_len).unwrap_or(0).max(1);
    let mut index = vec![0u64; extents.len()];
    for combination in 0..total as usize {
        let product: f64 = data
            .iter()
            .zip(&steps)
            .map(|(tensor, step)| tensor[index.iter().zip(step).map(|(&i, &s)| i as usize * s).sum::<usize>()])
            .product();
        out[combination / per_output] += product;
        next_index(&mut index, &extents);
    }
    Ok(out)
}

/// Subtracts the zero points (per tensor, per row of `a`, per column of
/// `b`) and multiplies exactly; the i32 output wraps as the hardware's does.
fn matmul_integer(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let (a, b) = (args.input(0)?, args.input(1)?);
    let zero_points = [2, 3].map(|i| args.optional_input(i).map(Tensor::data));
    let data = matmul_integer_data(a.dims(), a.data(), b.dims(), b.data(), zero_points)?;
    Ok(vec![args.output(0, data)?])
}

/// `(a - a_zero_point) @ (b - b_zero_point)` before rounding to i32, with
/// `zero_points` those of `a` and `b` (one value, or one per row of `a` or
/// column of `b`). Public so the JIT's native stage subtracts the same way.
pub fn matmul_integer_data(a_dims: &[u64], a: &[f64], b_dims: &[u64], b: &[f64], zero_points: [Option<&[f64]>; 2]) -> EvalResult<Vec<f64>> {
    let a_rows = if a_dims.len() == 1 { 1 } else { a_dims[a_dims.len() - 2] as usize };
    let a_columns = a_dims.last().copied().unwrap_or(1) as usize;
    let b_columns = if b_dims.len() == 1 { 1 } else { b_dims[b_dims.len() - 1] as usize };
    let [a_zero, b_zero] = zero_points;
    let a_shifted = shift(a, a_zero, |i| (i / a_columns) % a_rows);
    let b_shifted = shift(b, b_zero, |i| i % b_columns);
    matmul_data(a_dims, &a_shifted, b_dims, &b_shifted)
}

/// `data` minus its zero point; `which(i)` picks element `i`'s entry of a
/// per-row or per-column zero point.
fn shift(data: &[f64], zero_point: Option<&[f64]>, which: impl Fn(usize) -> usize) -> Vec<f64> {
    let Some(points) = zero_point else {
        return data.to_vec();
    };
    data.iter()
        .enumerate()
        .map(|(i, &x)| x - if points.len() == 1 { points[0] } else { points[which(i)] })
        .collect()
}

#[cfg(test)]
mod tests {
    use opfuse_ir::Attr;
    use opfuse_ir::DType::{F32, I32, I64, I8, U8};

    use crate::testing::{eval, eval1, tensor};

    fn equation(text: &str) -> (&'static str, Attr) {
        ("equation", Attr::Str(text.to_string()))
    }

    #[test]
    fn matmul_broadcasts_batches_and_vectors() {
        // [[1, 2], [3, 4]] @ [[5, 6], [7, 8]] = [[19, 22], [43, 50]].
        let a = tensor(F32, &[2, 2], &[1.0, 2.0, 3.0, 4.0]);
        let b = tensor(F32, &[2, 2], &[5.0, 6.0, 7.0, 8.0]);
        assert_eq!(eval1("matmul", &[], &[a.clone(), b.clone()]), vec![19.0, 22.0, 43.0, 50.0]);
        // A batch of two against one matrix: the second batch is 2 * a.
        let batch = tensor(F32, &[2, 2, 2], &[1.0, 2.0, 3.0, 4.0, 2.0, 4.0, 6.0, 8.0]);
        assert_eq!(
            eval1("matmul", &[], &[batch, b.clone()]),
            vec![19.0, 22.0, 43.0, 50.0, 38.0, 44.0, 86.0, 100.0]
        );
        let v = tensor(F32, &[2], &[1.0, -1.0]);
        assert_eq!(eval1("matmul", &[], &[v.clone(), b.clone()]), vec![-2.0, -2.0]);
        assert_eq!(eval1("matmul", &[], &[a, v]), vec![-1.0, -1.0]);
        let batched = tensor(F32, &[1, 2, 2], &[1.0, 0.0, 0.0, 1.0]);
        let b3 = tensor(F32, &[1, 2, 2], &[5.0, 6.0, 7.0, 8.0]);
        assert_eq!(eval1("batch_matmul", &[], &[batched, b3]), vec![5.0, 6.0, 7.0, 8.0]);
    }

    #[test]
    fn gemm_transposes_scales_and_adds() {
        // a^T = [[1, 3], [2, 4]]; a^T @ b = [[26, 30], [38, 44]];
        // 0.5 * that + 2 * [10, 20] = [[33, 55], [39, 62]].
        let a = tensor(F32, &[2, 2], &[1.0, 2.0, 3.0, 4.0]);
        let b = tensor(F32, &[2, 2], &[5.0, 6.0, 7.0, 8.0]);
        let c = tensor(F32, &[2], &[10.0, 20.0]);
        let attrs = [
            ("trans_a", Attr::Bool(true)),
            ("alpha", Attr::Float(0.5)),
            ("beta", Attr::Float(2.0)),
        ];
        assert_eq!(eval1("gemm", &attrs, &[a.clone(), b.clone(), c]), vec![33.0, 55.0, 39.0, 62.0]);
        // a @ b^T = [[17, 23], [39, 53]].
        assert_eq!(
            eval1("gemm", &[("trans_b", Attr::Bool(true))], &[a, b]),
            vec![17.0, 23.0, 39.0, 53.0]
        );
    }

    #[test]
    fn einsum_contracts_transposes_and_takes_diagonals() {
        let a = tensor(F32, &[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let b = tensor(F32, &[3, 2], &[1.0, 0.0, 0.0, 1.0, 1.0, 1.0]);
        // a @ b = [[4, 5], [10, 11]] (numpy.einsum("ij,jk", a, b)).
        assert_eq!(eval1("einsum", &[equation("ij,jk")], &[a.clone(), b]), vec![4.0, 5.0, 10.0, 11.0]);
        assert_eq!(
            eval1("einsum", &[equation("ij->ji")], std::slice::from_ref(&a)),
            vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]
        );
        assert_eq!(eval1("einsum", &[equation("ij->")], std::slice::from_ref(&a)), vec![21.0]);
        assert_eq!(eval1("einsum", &[equation("ij->j")], &[a]), vec![5.0, 7.0, 9.0]);
        let square = tensor(F32, &[3, 3], &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
        assert_eq!(
            eval1("einsum", &[equation("ii->i")], std::slice::from_ref(&square)),
            vec![0.0, 4.0, 8.0]
        );
        assert_eq!(eval1("einsum", &[equation("ii")], &[square]), vec![12.0]);
        // Outer product with a broadcast `...`: [2, 1] and [3] give [2, 3].
        let x = tensor(F32, &[2, 1], &[1.0, 2.0]);
        let y = tensor(F32, &[3], &[1.0, 10.0, 100.0]);
        assert_eq!(
            eval1("einsum", &[equation("...,...")], &[x, y]),
            vec![1.0, 10.0, 100.0, 2.0, 20.0, 200.0]
        );
    }

    #[test]
    fn matmul_integer_subtracts_zero_points() {
        // numpy: (a - 12) @ b with a = [[11, 7, 3], [10, 6, 2]], b = [[1, 4], [2, 5], [3, 6]]
        // = [[-1, -5, -9], [-2, -6, -10]] @ b = [[-38, -83], [-44, -98]].
        let a = tensor(U8, &[2, 3], &[11.0, 7.0, 3.0, 10.0, 6.0, 2.0]);
        let b = tensor(I8, &[3, 2], &[1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
        let zero = tensor(U8, &[], &[12.0]);
        assert_eq!(
            eval1("matmul_integer", &[], &[a.clone(), b.clone(), zero]),
            vec![-38.0, -83.0, -44.0, -98.0]
        );
        // Per-row zero points [11, 10] and per-column [1, 4] for b:
        // [[0, -4, -8], [0, -4, -8]] @ [[0, 0], [1, 1], [2, 2]] = [[-20, -20], [-20, -20]].
        let rows = tensor(U8, &[2], &[11.0, 10.0]);
        let columns = tensor(I8, &[2], &[1.0, 4.0]);
        assert_eq!(eval1("matmul_integer", &[], &[a, b, rows, columns]), vec![-20.0; 4]);
        let out = eval("matmul_integer", &[], &[tensor(I8, &[1], &[-128.0]), tensor(I8, &[1], &[-128.0])]).unwrap();
        assert_eq!((out[0].dtype(), out[0].data()), (I32, &[16384.0][..]));
    }

    #[test]
    fn grouped_matmul_picks_each_rows_expert() {
        // Expert 0 is the identity, expert 1 doubles.
        let x = tensor(F32, &[2, 2], &[1.0, 2.0, 3.0, 4.0]);
        let w = tensor(F32, &[2, 2, 2], &[1.0, 0.0, 0.0, 1.0, 2.0, 0.0, 0.0, 2.0]);
        let ids = tensor(I64, &[2], &[1.0, 0.0]);
        assert_eq!(eval1("grouped_matmul", &[], &[x.clone(), w.clone(), ids]), vec![2.0, 4.0, 3.0, 4.0]);
        let bad = tensor(I64, &[2], &[0.0, 2.0]);
        assert_eq!(
            eval("grouped_matmul", &[], &[x, w, bad]).unwrap_err(),
            "expert id 2 of row 1 is out of range for 2 experts"
        );
    }
}
