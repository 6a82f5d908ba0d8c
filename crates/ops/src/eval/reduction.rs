//! Reference semantics of the reduction family.

use std::cmp::Ordering;

use opfuse_ir::{DType, Tensor};

use super::support::{reduced_offsets, AxisSplit};
use super::{EvalArgs, EvalError, EvalFn, EvalResult};
use crate::args::normalize_axis;
use crate::rules::reduction::reduced_axes;

/// Semantics of this family, by catalog name.
pub const EVAL: &[(&str, EvalFn)] = &[
    ("sum", sum),
    ("mean", mean),
    ("reduce_max", reduce_max),
    ("reduce_min", reduce_min),
    ("reduce_prod", reduce_prod),
    ("reduce_l1", reduce_l1),
    ("reduce_l2", reduce_l2),
    ("reduce_log_sum", reduce_log_sum),
    ("reduce_log_sum_exp", reduce_log_sum_exp),
    ("reduce_sum_square", reduce_sum_square),
    ("argmax", argmax),
    ("argmin", argmin),
];

fn sum(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    reduce_named(args, "sum")
}

fn mean(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    reduce_named(args, "mean")
}

fn reduce_max(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    reduce_named(args, "reduce_max")
}

fn reduce_min(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    reduce_named(args, "reduce_min")
}

fn reduce_prod(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    reduce_named(args, "reduce_prod")
}

fn reduce_l1(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    reduce_named(args, "reduce_l1")
}

fn reduce_l2(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    reduce_named(args, "reduce_l2")
}

fn reduce_log_sum(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    reduce_named(args, "reduce_log_sum")
}

fn reduce_log_sum_exp(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    reduce_named(args, "reduce_log_sum_exp")
}

fn reduce_sum_square(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    reduce_named(args, "reduce_sum_square")
}

/// What a reduction makes of the values landing on one output element.
pub type Reducer = Box<dyn Fn(&[f64]) -> f64 + Send + Sync>;

/// What reduction `op` makes of the values landing on one output element
/// of a tensor of `dtype`; `None` for an op that is not one of them. The
/// mean of no elements is NaN (0 / 0), as in NumPy; the max (min) of none
/// is -inf (+inf), or the dtype's lowest (highest) value where it has no
/// infinity (ONNX's rule).
pub fn reducer(op: &str, dtype: DType) -> Option<Reducer> {
    let (lowest, highest) = dtype_limits(dtype);
    Some(match op {
        "sum" => Box::new(|v: &[f64]| v.iter().sum()),
        "mean" => Box::new(|v: &[f64]| v.iter().sum::<f64>() / v.len() as f64),
        "reduce_max" => Box::new(move |v: &[f64]| extreme(v, lowest, f64::max)),
        "reduce_min" => Box::new(move |v: &[f64]| extreme(v, highest, f64::min)),
        "reduce_prod" => Box::new(|v: &[f64]| v.iter().product()),
        "reduce_l1" => Box::new(|v: &[f64]| v.iter().map(|x| x.abs()).sum()),
        "reduce_l2" => Box::new(|v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt()),
        "reduce_log_sum" => Box::new(|v: &[f64]| v.iter().sum::<f64>().ln()),
        "reduce_log_sum_exp" => Box::new(log_sum_exp),
        "reduce_sum_square" => Box::new(|v: &[f64]| v.iter().map(|x| x * x).sum()),
        _ => return None,
    })
}

/// The lowest and highest values of `dtype`, infinities for floats.
fn dtype_limits(dtype: DType) -> (f64, f64) {
    match dtype {
        DType::Bool => (0.0, 1.0),
        DType::U8 => (0.0, 255.0),
        DType::I8 => (-128.0, 127.0),
        DType::I16 => (i16::MIN as f64, i16::MAX as f64),
        DType::I32 => (i32::MIN as f64, i32::MAX as f64),
        DType::I64 => (i64::MIN as f64, i64::MAX as f64),
        _ => (f64::NEG_INFINITY, f64::INFINITY),
    }
}

/// `log(sum(exp(v)))`, shifted by the maximum so large values do not overflow.
pub fn log_sum_exp(v: &[f64]) -> f64 {
    let max = extreme(v, f64::NEG_INFINITY, f64::max);
    if !max.is_finite() {
        // Empty or all -inf gives -inf; a +inf or NaN element gives itself.
        return max;
    }
    max + v.iter().map(|x| (x - max).exp()).sum::<f64>().ln()
}

/// The maximum or minimum (`pick`) of `v`, `empty` when there is none; NaN
/// wins, as in NumPy's `max`.
fn extreme(v: &[f64], empty: f64, pick: fn(f64, f64) -> f64) -> f64 {
    match v.iter().any(|x| x.is_nan()) {
        true => f64::NAN,
        false => v.iter().copied().fold(empty, pick),
    }
}

/// Output 0 as reduction `op` of the elements that land on each output
/// element.
fn reduce_named(args: &EvalArgs<'_>, op: &str) -> EvalResult<Vec<Tensor>> {
    let x = args.input(0)?;
    let axes = reduced_axes(&args.args, x.dims().len())?;
    let reduce = reducer(op, x.dtype()).ok_or_else(|| EvalError::new(format!("`{op}` is not a reduction")))?;
    let data = reduce_values(&reduce, x.dims(), &axes, x.data());
    Ok(vec![args.output(0, data)?])
}

/// `reduce` of the elements of `data` (of `dims`) that land on each output
/// element of a reduction over `axes`, in row-major output order (the
/// caller rounds). The JIT's native stage calls it on its buffers.
pub fn reduce_values(reduce: &dyn Fn(&[f64]) -> f64, dims: &[u64], axes: &[usize], data: &[f64]) -> Vec<f64> {
    let kept: u64 = dims
        .iter()
        .enumerate()
        .filter(|(a, _)| !axes.contains(a))
        .map(|(_, &d)| d)
        .product();
    let mut groups = vec![Vec::new(); kept as usize];
    for (&value, out) in data.iter().zip(reduced_offsets(dims, axes)) {
        if let Some(group) = groups.get_mut(out) {
            group.push(value);
        }
    }
    groups.iter().map(|group| reduce(group)).collect()
}

fn argmax(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    arg_reduce(args, |a, b| nan_first(a, b, a.partial_cmp(&b)))
}

fn argmin(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    arg_reduce(args, |a, b| nan_first(a, b, b.partial_cmp(&a)))
}

/// An order in which NaN beats every number, as in NumPy's argmax and
/// argmin (both return the first NaN); numbers compare by `numbers`.
fn nan_first(a: f64, b: f64, numbers: Option<Ordering>) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => numbers.unwrap_or(Ordering::Equal),
    }
}

/// The index of the first maximum of `lane` (NaN counts as the maximum),
/// as NumPy's argmax.
pub fn index_of_max(lane: &[f64]) -> usize {
    best_index(lane, |a, b| nan_first(a, b, a.partial_cmp(&b)), false)
}

/// The index of the greatest element of `lane` under `order`: the first of
/// ties, or the last with `last`.
fn best_index(lane: &[f64], order: fn(f64, f64) -> Ordering, last: bool) -> usize {
    let mut best = 0;
    for (i, &value) in lane.iter().enumerate().skip(1) {
        let ordering = order(value, lane[best]);
        if ordering == Ordering::Greater || (last && ordering == Ordering::Equal) {
            best = i;
        }
    }
    best
}

/// The index of the best element along `axis` under `order`, for each lane.
fn arg_reduce(args: &EvalArgs<'_>, order: fn(f64, f64) -> Ordering) -> EvalResult<Vec<Tensor>> {
    let x = args.input(0)?;
    let axis = normalize_axis(args.args.int("axis")?, x.dims().len(), "axis")?;
    let last = args.args.bool("select_last_index")?;
    let split = AxisSplit::new(x.dims(), axis);
    let mut out = Vec::with_capacity(split.outer * split.inner);
    for outer in 0..split.outer {
        for inner in 0..split.inner {
            let lane: Vec<f64> = (0..split.len).map(|i| x.data()[split.at(outer, i, inner)]).collect();
            out.push(best_index(&lane, order, last) as f64);
        }
    }
    Ok(vec![args.output(0, out)?])
}

#[cfg(test)]
mod tests {
    use opfuse_ir::Attr;
    use opfuse_ir::DType::{F32, I32};

    use crate::testing::{eval1, ints, tensor};

    fn x() -> opfuse_ir::Tensor {
        tensor(F32, &[2, 3], &[1.0, -2.0, 3.0, 4.0, 5.0, -6.0])
    }

    #[test]
    fn sums_and_means_over_axes() {
        assert_eq!(eval1("sum", &[], &[x()]), vec![5.0]);
        assert_eq!(eval1("sum", &[("axes", ints(&[0]))], &[x()]), vec![5.0, 3.0, -3.0]);
        assert_eq!(
            eval1("mean", &[("axes", ints(&[-1]))], &[x()]),
            vec![(2.0f64 / 3.0) as f32 as f64, 1.0]
        );
        // Integer means truncate toward zero, as ONNX's (NumPy mean, cast back).
        let i = tensor(I32, &[2, 2], &[1.0, 2.0, -1.0, -2.0]);
        assert_eq!(eval1("mean", &[("axes", ints(&[1]))], &[i]), vec![1.0, -1.0]);
        let noop = [("noop_with_empty_axes", Attr::Bool(true))];
        assert_eq!(eval1("sum", &noop, &[x()]), vec![1.0, -2.0, 3.0, 4.0, 5.0, -6.0]);
    }

    #[test]
    fn extremes_products_and_norms() {
        assert_eq!(eval1("reduce_max", &[("axes", ints(&[1]))], &[x()]), vec![3.0, 5.0]);
        assert_eq!(eval1("reduce_min", &[("axes", ints(&[0]))], &[x()]), vec![1.0, -2.0, -6.0]);
        assert_eq!(eval1("reduce_prod", &[("axes", ints(&[1]))], &[x()]), vec![-6.0, -120.0]);
        assert_eq!(eval1("reduce_l1", &[], &[x()]), vec![21.0]);
        assert_eq!(eval1("reduce_sum_square", &[("axes", ints(&[1]))], &[x()]), vec![14.0, 77.0]);
        // sqrt(14) = 3.7416573867739413, sqrt(77) = 8.774964387392123, as f32.
        assert_eq!(
            eval1("reduce_l2", &[("axes", ints(&[1]))], &[x()]),
            vec![3.7416573867739413f64 as f32 as f64, 8.774964387392123f64 as f32 as f64]
        );
        let nan = tensor(F32, &[3], &[1.0, f64::NAN, 2.0]);
        assert!(eval1("reduce_max", &[], &[nan])[0].is_nan());
        // An empty axis: -inf for max, 1 for the product.
        let empty = tensor(F32, &[2, 0], &[]);
        let axis1 = [("axes", ints(&[1]))];
        assert_eq!(
            eval1("reduce_max", &axis1, std::slice::from_ref(&empty)),
            vec![f64::NEG_INFINITY; 2]
        );
        assert_eq!(eval1("reduce_prod", &axis1, &[empty]), vec![1.0; 2]);
    }

    #[test]
    fn logs_of_sums() {
        // numpy: np.log(np.sum(np.exp([[1, -2, 3], [4, 5, -6]]), axis=1))
        // = [3.1328452337275756, 5.313273897365323]
        let got = eval1("reduce_log_sum_exp", &[("axes", ints(&[1]))], &[x()]);
        assert_eq!(got, vec![3.1328452337275756f64 as f32 as f64, 5.313273897365323f64 as f32 as f64]);
        // Large values do not overflow: log(e^1000 + e^1000) = 1000 + ln 2.
        let big = tensor(F32, &[2], &[1000.0, 1000.0]);
        assert_eq!(
            eval1("reduce_log_sum_exp", &[], &[big]),
            vec![(1000.0 + std::f64::consts::LN_2) as f32 as f64]
        );
        let pos = tensor(F32, &[2], &[1.0, 2.0]);
        assert_eq!(eval1("reduce_log_sum", &[], &[pos]), vec![3f64.ln() as f32 as f64]);
    }

    #[test]
    fn arg_reductions_pick_first_or_last_ties() {
        let ties = tensor(F32, &[2, 3], &[2.0, 7.0, 7.0, 0.0, -1.0, 0.0]);
        assert_eq!(
            eval1("argmax", &[("axis", Attr::Int(1))], std::slice::from_ref(&ties)),
            vec![1.0, 0.0]
        );
        let last = [("axis", Attr::Int(1)), ("select_last_index", Attr::Bool(true))];
        assert_eq!(eval1("argmax", &last, std::slice::from_ref(&ties)), vec![2.0, 2.0]);
        assert_eq!(
            eval1("argmin", &[("axis", Attr::Int(1))], std::slice::from_ref(&ties)),
            vec![0.0, 1.0]
        );
        assert_eq!(eval1("argmin", &[], &[ties]), vec![1.0, 1.0, 1.0]);
        let nan = tensor(F32, &[3], &[1.0, f64::NAN, 5.0]);
        assert_eq!(eval1("argmax", &[], std::slice::from_ref(&nan)), vec![1.0]);
        assert_eq!(eval1("argmin", &[], &[nan]), vec![1.0]);
    }
}
