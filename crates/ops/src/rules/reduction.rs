//! Reductions over axes, and arg-reductions.

use opfuse_ir::{DType, Shape, TensorType};

use super::elements;
use crate::args::{dtype_error, normalize_axes, normalize_axis, shape_error, Args, InferResult};
use crate::code::{op, OpCode};

/// Shape rules and FLOP formulas of this family, by catalog name.
pub const RULES: &[(&str, OpCode)] = &[
    // One add (or compare, or multiply) per input element; the norms and
    // logs add their elementwise work on top.
    ("sum", op(reduce_numeric, per_input_times::<1>)),
    ("mean", op(reduce_numeric, mean_flops)),
    ("reduce_max", op(reduce, per_input_times::<1>)),
    ("reduce_min", op(reduce, per_input_times::<1>)),
    ("reduce_prod", op(reduce_numeric, per_input_times::<1>)),
    ("reduce_l1", op(reduce_numeric, per_input_times::<2>)),
    ("reduce_l2", op(reduce_numeric, norm_flops)),
    ("reduce_log_sum", op(reduce_numeric, norm_flops)),
    ("reduce_log_sum_exp", op(reduce_numeric, log_sum_exp_flops)),
    ("reduce_sum_square", op(reduce_numeric, per_input_times::<2>)),
    ("argmax", op(arg_reduce, per_input_times::<1>)),
    ("argmin", op(arg_reduce, per_input_times::<1>)),
];

/// The axes a reduction reduces, resolved against `rank`: `axes`, or all
/// axes when it is empty, or none when it is empty and
/// `noop_with_empty_axes` is set.
pub fn reduced_axes(args: &Args<'_>, rank: usize) -> InferResult<Vec<usize>> {
    let axes = args.ints("axes")?;
    match (axes.is_empty(), args.bool("noop_with_empty_axes")?) {
        (true, true) => Ok(Vec::new()),
        (true, false) => Ok((0..rank).collect()),
        (false, _) => normalize_axes(&axes, rank, "axes"),
    }
}

/// `axes` reduced away, or kept as 1 with `keepdims`; any dtype.
pub fn reduce(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let x = args.input(0)?;
    let axes = reduced_axes(args, x.rank())?;
    let shape = reduced_shape(&x.shape, &axes, args.bool("keepdims")?);
    Ok(vec![TensorType { dtype: x.dtype, shape }])
}

/// As [`reduce`], for arithmetic reductions, which do not take bools.
pub fn reduce_numeric(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let x = args.input(0)?;
    if x.dtype == DType::Bool {
        return Err(dtype_error(0, "expects a numeric tensor, found bool").with_help("cast it first: `cast(x, to = \"i32\")`"));
    }
    reduce(args)
}

/// The index along `axis`, as i64.
pub fn arg_reduce(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let x = args.input(0)?;
    if x.rank() == 0 {
        return Err(shape_error(0, "expects a tensor of rank 1 or more, found a scalar"));
    }
    let axis = normalize_axis(args.int("axis")?, x.rank(), "axis")?;
    if x.shape.0[axis] == 0 {
        return Err(shape_error(
            0,
            format!("axis {axis} of {} is empty: there is no index to return", x.shape),
        ));
    }
    let shape = reduced_shape(&x.shape, &[axis], args.bool("keepdims")?);
    Ok(vec![TensorType { dtype: DType::I64, shape }])
}

fn reduced_shape(shape: &Shape, axes: &[usize], keepdims: bool) -> Shape {
    let dims = shape
        .dims()
        .iter()
        .enumerate()
        .filter_map(|(axis, &d)| match (axes.contains(&axis), keepdims) {
            (false, _) => Some(d),
            (true, true) => Some(1),
            (true, false) => None,
        });
    Shape(dims.collect())
}

/// `FACTOR` FLOPs per input element.
fn per_input_times<const FACTOR: u128>(args: &Args<'_>, _: &[TensorType]) -> u128 {
    FACTOR * args.inputs.first().map(elements).unwrap_or(0)
}

/// A sum, then a divide per output.
fn mean_flops(args: &Args<'_>, outputs: &[TensorType]) -> u128 {
    per_input_times::<1>(args, outputs) + outputs.iter().map(elements).sum::<u128>()
}

/// A square (or nothing) and an add per input, a square root or log per output.
fn norm_flops(args: &Args<'_>, outputs: &[TensorType]) -> u128 {
    per_input_times::<2>(args, outputs) + outputs.iter().map(elements).sum::<u128>()
}

/// A max pass, then a subtract, exp and add per input, and a log and add per output.
fn log_sum_exp_flops(args: &Args<'_>, outputs: &[TensorType]) -> u128 {
    per_input_times::<4>(args, outputs) + 2 * outputs.iter().map(elements).sum::<u128>()
}

#[cfg(test)]
mod tests {
    use opfuse_ir::{Attr, DType};

    use crate::testing::ints;

    /// [`crate::testing::infer`] with one input.
    fn infer(op: &str, attrs: &[(&str, Attr)], dtype: DType, dims: &[u64]) -> Result<String, String> {
        crate::testing::infer(op, attrs, &[(dtype, dims)])
    }

    #[test]
    fn reductions_drop_or_keep_axes() {
        let keep = ("keepdims", Attr::Bool(true));
        assert_eq!(
            infer("reduce_l2", &[("axes", ints(&[0, -1]))], DType::F32, &[2, 3, 4]).unwrap(),
            "f32[3]"
        );
        assert_eq!(
            infer("reduce_prod", std::slice::from_ref(&keep), DType::I32, &[2, 3]).unwrap(),
            "i32[1, 1]"
        );
        let noop = [("noop_with_empty_axes", Attr::Bool(true))];
        assert_eq!(infer("reduce_log_sum_exp", &noop, DType::F16, &[2, 3]).unwrap(), "f16[2, 3]");
        assert_eq!(
            infer("argmin", &[("axis", Attr::Int(1)), keep], DType::F32, &[2, 3]).unwrap(),
            "i64[2, 1]"
        );
        assert_eq!(infer("argmax", &[], DType::F32, &[2, 3]).unwrap(), "i64[3]");
        assert_eq!(infer("reduce_max", &[], DType::Bool, &[4]).unwrap(), "bool[]");
    }

    #[test]
    fn bad_reductions_are_errors() {
        let err = |op: &str, attrs: &[(&str, Attr)], dims: &[u64]| infer(op, attrs, DType::F32, dims).unwrap_err();
        assert_eq!(err("sum", &[("axes", ints(&[2]))], &[2, 3]), "axis 2 is out of range for rank 2");
        assert_eq!(err("mean", &[("axes", ints(&[1, -1]))], &[2, 3]), "axis -1 is listed twice");
        assert_eq!(err("argmax", &[], &[]), "expects a tensor of rank 1 or more, found a scalar");
        assert_eq!(
            err("argmin", &[("axis", Attr::Int(1))], &[2, 0]),
            "axis 1 of [2, 0] is empty: there is no index to return"
        );
        assert_eq!(
            infer("sum", &[], DType::Bool, &[2]).unwrap_err(),
            "expects a numeric tensor, found bool"
        );
    }
}
