//! Matrix products: NumPy `matmul` with batch broadcasting, and the grouped
//! (per-row expert) matmul of mixture-of-experts layers.

use opfuse_ir::{Shape, TensorType};

use super::{broadcast::broadcast, elements};
use crate::args::{integer_input, same_dtype, shape_error, Args, InferResult};

/// `a[..., M, K] @ b[..., K, N] -> [..., M, N]`; a 1-d `a` is a row and a 1-d
/// `b` a column, and the added axis is removed again, as in NumPy.
pub fn matmul(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let dtype = same_dtype(args, &[0, 1])?;
    let (a, b) = (&args.input(0)?.shape, &args.input(1)?.shape);
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
    Ok(vec![TensorType { dtype, shape: Shape(out) }])
}

/// Two FLOPs per multiply-add: `2 * K` per output element.
pub fn matmul_flops(args: &Args<'_>, outputs: &[TensorType]) -> u128 {
    let k = args.inputs.first().and_then(|a| a.shape.dims().last()).copied().unwrap_or(0);
    2 * k as u128 * outputs.iter().map(elements).sum::<u128>()
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
