//! The matmul ops no compiled kernel covers: `einsum`, `grouped_matmul`
//! and `matmul_integer`, through the interpreter's own loops
//! (`opfuse_ops::eval::matmul::{einsum_data, grouped_matmul_data,
//! matmul_integer_data}`, in f64) on the stage's f32 buffers, so the two
//! sum in the same order and round alike. Lowering checks the shapes the
//! loops index by, and `run` checks each buffer against them, so nothing
//! reads out of bounds.

use opfuse_ir::{DType, Shape};
use opfuse_ops::eval::matmul::{einsum_data, grouped_matmul_data, matmul_integer_data};
use opfuse_ops::rules::matmul::einsum_plan;

use super::to_usize;

/// The largest magnitude an f32 holds every integer up to.
const EXACT_IN_F32: u64 = 1 << 24;

/// The largest `|x - zero_point|` of an 8-bit operand.
const SHIFTED_8_BIT: u64 = 255;

/// `einsum` of the inputs under `equation`.
#[derive(Clone, Debug, PartialEq)]
pub struct Einsum {
    equation: String,
    inputs: Vec<Vec<u64>>,
    dtype: DType,
}

/// Row `r` of `x [R, K]` times expert `expert_ids[r]` of `weights [E, K, N]`.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupedMatmul {
    x: Vec<u64>,
    weights: Vec<u64>,
    dtype: DType,
}

/// `(a - a_zero_point) @ (b - b_zero_point)` of 8-bit operands, as i32.
#[derive(Clone, Debug, PartialEq)]
pub struct MatmulInteger {
    a: Vec<u64>,
    b: Vec<u64>,
    /// How many values each zero point holds, where given.
    zero_points: [Option<usize>; 2],
    output_len: usize,
    dtype: DType,
}

impl Einsum {
    /// `None` where the equation does not plan over these dims or its
    /// output differs from the verified `output` dims.
    pub fn lower(equation: &str, inputs: &[Vec<u64>], output: &[u64], dtype: DType) -> Option<Einsum> {
        let shapes: Vec<Shape> = inputs.iter().map(|d| Shape(d.clone())).collect();
        let refs: Vec<&Shape> = shapes.iter().collect();
        let plan = einsum_plan(equation, &refs).ok()?;
        (plan.output_dims() == output).then(|| Einsum {
            equation: equation.to_string(),
            inputs: inputs.to_vec(),
            dtype,
        })
    }

    /// Writes nothing where a buffer's length disagrees with its dims.
    pub fn run(&self, inputs: &[&[f32]], output: &mut [f32]) {
        let sized = inputs.len() == self.inputs.len() && inputs.iter().zip(&self.inputs).all(|(b, d)| Some(b.len()) == numel(d));
        if !sized {
            return;
        }
        let data: Vec<Vec<f64>> = inputs.iter().map(|b| widen(b)).collect();
        let data: Vec<&[f64]> = data.iter().map(Vec::as_slice).collect();
        let dims: Vec<&[u64]> = self.inputs.iter().map(Vec::as_slice).collect();
        if let Ok(values) = einsum_data(&self.equation, &dims, &data) {
            narrow(values, self.dtype, output);
        }
    }
}

impl GroupedMatmul {
    /// `inputs` are the node's input dims: `x [R, K]`, `weights [E, K, N]`
    /// and one expert id per row.
    pub fn lower(inputs: &[Vec<u64>], output: &[u64], dtype: DType) -> Option<GroupedMatmul> {
        let [x, weights, ids] = inputs else { return None };
        let ([rows, k], [_, weights_k, n]) = (x.as_slice(), weights.as_slice()) else {
            return None;
        };
        let fits = k == weights_k && numel(ids) == to_usize(*rows) && output == [*rows, *n];
        fits.then(|| GroupedMatmul {
            x: x.clone(),
            weights: weights.clone(),
            dtype,
        })
    }

    /// Writes nothing where a buffer's length disagrees with its dims, and
    /// zeros where an expert id is out of range (where the interpreter fails).
    pub fn run(&self, x: &[f32], weights: &[f32], ids: &[f32], output: &mut [f32]) {
        let rows = self.x.first().and_then(|&r| to_usize(r));
        if Some(x.len()) != numel(&self.x) || Some(weights.len()) != numel(&self.weights) || Some(ids.len()) != rows {
            return;
        }
        match grouped_matmul_data(&self.x, &widen(x), &self.weights, &widen(weights), &widen(ids)) {
            Ok(values) => narrow(values, self.dtype, output),
            Err(_) => output.fill(0.0),
        }
    }
}

impl MatmulInteger {
    /// `inputs` are the node's input dims: `a`, `b` and the optional zero
    /// points. `None` where a sum could reach 2^24 (`k * 255 * 255`), past
    /// which the f32 buffers lose exactness, or where a zero point holds
    /// neither one value nor one per row of `a` (column of `b`).
    pub fn lower(inputs: &[Vec<u64>], output: &[u64], dtype: DType) -> Option<MatmulInteger> {
        let (a, b) = (inputs.first()?, inputs.get(1)?);
        let k = *a.last()?;
        let b_k = if b.len() == 1 {
            b.first()?
        } else {
            b.get(b.len().checked_sub(2)?)?
        };
        let a_rows = if a.len() == 1 { 1 } else { *a.get(a.len() - 2)? };
        let b_columns = if b.len() == 1 { 1 } else { *b.last()? };
        let bound = k.checked_mul(SHIFTED_8_BIT * SHIFTED_8_BIT)?;
        let zero_point = |index: usize, per: u64| match inputs.get(index) {
            None => Some(None),
            Some(dims) => numel(dims).filter(|&len| len == 1 || Some(len) == to_usize(per)).map(Some),
        };
        let zero_points = [zero_point(2, a_rows)?, zero_point(3, b_columns)?];
        let fits = k == *b_k && bound <= EXACT_IN_F32 && inputs.len() <= 4;
        fits.then_some(MatmulInteger {
            a: a.clone(),
            b: b.clone(),
            zero_points,
            output_len: numel(output)?,
            dtype,
        })
    }

    /// Writes nothing where a buffer's length disagrees with its dims.
    pub fn run(&self, inputs: &[&[f32]], output: &mut [f32]) {
        let (Some(a), Some(b)) = (inputs.first(), inputs.get(1)) else {
            return;
        };
        let zero_points: Vec<Vec<f64>> = inputs.iter().skip(2).map(|z| widen(z)).collect();
        let sized = Some(a.len()) == numel(&self.a)
            && Some(b.len()) == numel(&self.b)
            && output.len() == self.output_len
            && zero_points.len() == self.zero_points.iter().flatten().count()
            && zero_points
                .iter()
                .zip(self.zero_points.iter().flatten())
                .all(|(z, &len)| z.len() == len);
        if !sized {
            return;
        }
        let [a_zero, b_zero] = [0, 1].map(|i| zero_points.get(i).map(Vec::as_slice));
        if let Ok(values) = matmul_integer_data(&self.a, &widen(a), &self.b, &widen(b), [a_zero, b_zero]) {
            narrow(values, self.dtype, output);
        }
    }
}

/// The number of elements `dims` holds, or `None` past `usize`.
fn numel(dims: &[u64]) -> Option<usize> {
    dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(to_usize(d)?))
}

fn widen(values: &[f32]) -> Vec<f64> {
    values.iter().map(|&v| f64::from(v)).collect()
}

/// `values` rounded to `dtype` into `output`, as the interpreter's outputs are.
fn narrow(values: Vec<f64>, dtype: DType, output: &mut [f32]) {
    for (target, value) in output.iter_mut().zip(values) {
        *target = dtype.round(value) as f32;
    }
}

#[cfg(test)]
mod tests {
    use opfuse_ir::DType;

    use super::{Einsum, GroupedMatmul, MatmulInteger};

    #[test]
    fn einsum_contracts_and_takes_diagonals() {
        // A matrix product: [[1, 2], [3, 4]] @ [[5], [6]].
        let op = Einsum::lower("ij,jk->ik", &[vec![2, 2], vec![2, 1]], &[2, 1], DType::F32).unwrap();
        let mut out = [f32::NAN; 2];
        op.run(&[&[1.0, 2.0, 3.0, 4.0], &[5.0, 6.0]], &mut out);
        assert_eq!(out, [17.0, 39.0]);
        // The trace of [[1, 2], [3, 4]].
        let op = Einsum::lower("ii->", &[vec![2, 2]], &[], DType::F32).unwrap();
        let mut out = [f32::NAN; 1];
        op.run(&[&[1.0, 2.0, 3.0, 4.0]], &mut out);
        assert_eq!(out, [5.0]);
        // An output the equation does not make stays interpreted.
        assert_eq!(Einsum::lower("ij->ji", &[vec![2, 3]], &[2, 3], DType::F32), None);
    }

    #[test]
    fn grouped_matmul_picks_each_rows_expert() {
        // Expert 0 doubles, expert 1 negates; rows pick 1 then 0.
        let op = GroupedMatmul::lower(&[vec![2, 1], vec![2, 1, 1], vec![2]], &[2, 1], DType::F32).unwrap();
        let mut out = [f32::NAN; 2];
        op.run(&[3.0, 4.0], &[2.0, -1.0], &[1.0, 0.0], &mut out);
        assert_eq!(out, [-3.0, 8.0]);
        // An id out of range (the interpreter fails there) writes zeros.
        op.run(&[3.0, 4.0], &[2.0, -1.0], &[2.0, 0.0], &mut out);
        assert_eq!(out, [0.0, 0.0]);
    }

    #[test]
    fn matmul_integer_subtracts_zero_points_and_refuses_long_sums() {
        // ([1, 2] - 1) @ ([[3], [5]] - [1]) = 0 * 2 + 1 * 4.
        let op = MatmulInteger::lower(&[vec![1, 2], vec![2, 1], vec![], vec![1]], &[1, 1], DType::I32).unwrap();
        let mut out = [f32::NAN; 1];
        op.run(&[&[1.0, 2.0], &[3.0, 5.0], &[1.0], &[1.0]], &mut out);
        assert_eq!(out, [4.0]);
        // Per-row zero points of `a`: rows shift by 1 and 2.
        let op = MatmulInteger::lower(&[vec![2, 1], vec![1, 1], vec![2]], &[2, 1], DType::I32).unwrap();
        let mut out = [f32::NAN; 2];
        op.run(&[&[-3.0, 4.0], &[-128.0], &[1.0, 2.0]], &mut out);
        assert_eq!(out, [512.0, -256.0]);
        // 258 * 255 * 255 stays below 2^24; 259 * 255 * 255 does not.
        assert!(MatmulInteger::lower(&[vec![1, 258], vec![258, 1]], &[1, 1], DType::I32).is_some());
        assert_eq!(MatmulInteger::lower(&[vec![1, 259], vec![259, 1]], &[1, 1], DType::I32), None);
    }
}
