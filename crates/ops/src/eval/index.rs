//! Reference semantics of the index family.
//!
//! Index values count from the end when negative (ONNX's rule); any other
//! index outside its axis is an [`EvalError`], never a panic. Orderings
//! follow NumPy: NaN sorts above every number, and ties keep the lower
//! index first.

use std::cmp::Ordering;

use opfuse_ir::{DType, Tensor, TensorType};

use super::layout::{build, output_type};
use super::support::{strides, AxisSplit};
use super::{EvalArgs, EvalError, EvalFn, EvalResult};
use crate::args::normalize_axis;
use crate::rules::index as rules;

/// Semantics of this family, by catalog name.
pub const EVAL: &[(&str, EvalFn)] = &[
    ("gather", gather),
    ("index_select", gather),
    ("gather_elements", gather_elements),
    ("embedding", embedding),
    ("gather_nd", gather_nd),
    ("scatter_elements", scatter_elements),
    ("scatter_nd", scatter_nd),
    ("top_k", top_k),
    ("sort", sort),
    ("argsort", argsort),
    ("cumsum", cumsum),
    ("one_hot", one_hot),
    ("nonzero", nonzero),
    ("unique", unique),
    ("compress", compress),
];

/// `value` as a position on `axis`, which has `extent` entries.
fn resolve_index(value: f64, extent: u64, axis: usize) -> EvalResult<usize> {
    let index = value as i64;
    let resolved = if index < 0 { index + extent as i64 } else { index };
    match (0..extent as i64).contains(&resolved) {
        true => Ok(resolved as usize),
        false => Err(EvalError::new(format!(
            "index {index} is out of range for axis {axis} with {extent} entries"
        ))),
    }
}

/// Slices `indices` picks along `axis` of `data`, laid out as `gather` does.
fn gather_along(data: &Tensor, axis: usize, indices: &Tensor) -> EvalResult<Vec<f64>> {
    let lanes = AxisSplit::new(data.dims(), axis);
    let picks = indices
        .data()
        .iter()
        .map(|&v| resolve_index(v, lanes.len as u64, axis))
        .collect::<EvalResult<Vec<usize>>>()?;
    let mut out = Vec::with_capacity(lanes.outer * picks.len() * lanes.inner);
    for o in 0..lanes.outer {
        for &p in &picks {
            let start = lanes.at(o, p, 0);
            out.extend_from_slice(&data.data()[start..start + lanes.inner]);
        }
    }
    Ok(out)
}

fn gather(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let (data, indices) = (args.input(0)?, args.input(1)?);
    let ty = output_type(args, rules::gather)?;
    let axis = normalize_axis(args.args.int("axis")?, data.dims().len(), "axis")?;
    Ok(vec![build(ty, gather_along(data, axis, indices)?)?])
}

fn embedding(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let (table, ids) = (args.input(0)?, args.input(1)?);
    let ty = output_type(args, rules::embedding)?;
    Ok(vec![build(ty, gather_along(table, 0, ids)?)?])
}

/// For each element of `indices` (row-major), the offset in `data` of the
/// element with the same coordinates but its `axis` coordinate replaced by
/// the index value.
fn element_targets(data: &Tensor, indices: &Tensor, axis: usize) -> EvalResult<Vec<usize>> {
    let (data_dims, index_dims) = (data.dims(), indices.dims());
    let (data_strides, index_strides) = (strides(data_dims), strides(index_dims));
    let target = |flat: usize, value: f64| -> EvalResult<usize> {
        let mut offset = 0;
        for a in 0..data_dims.len() {
            let coordinate = match a == axis {
                true => resolve_index(value, data_dims[a], axis)?,
                false => (flat / index_strides[a]) % index_dims[a] as usize,
            };
            offset += coordinate * data_strides[a];
        }
        Ok(offset)
    };
    indices.data().iter().enumerate().map(|(flat, &v)| target(flat, v)).collect()
}

fn gather_elements(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let (data, indices) = (args.input(0)?, args.input(1)?);
    let ty = output_type(args, rules::gather_elements)?;
    let axis = normalize_axis(args.args.int("axis")?, data.dims().len(), "axis")?;
    let out = element_targets(data, indices, axis)?.into_iter().map(|o| data.data()[o]).collect();
    Ok(vec![build(ty, out)?])
}

/// For each tuple (the last axis of `indices`), the offset of the slice of
/// `data` it picks, after `batch` leading axes both share.
fn tuple_offsets(data: &Tensor, indices: &Tensor, batch: usize) -> EvalResult<Vec<usize>> {
    let dims = data.dims();
    let Some((&depth, outer)) = indices.dims().split_last() else {
        return Err(EvalError::new("indices must have rank 1 or more"));
    };
    let depth = depth as usize;
    let tuples: usize = outer.iter().product::<u64>() as usize;
    let batches: usize = dims[..batch].iter().product::<u64>() as usize;
    let per_batch = tuples.checked_div(batches).unwrap_or(0);
    let batch_stride: usize = dims[batch..].iter().product::<u64>() as usize;
    let inner_strides = strides(&dims[batch..]);
    (0..tuples)
        .map(|t| {
            let tuple = &indices.data()[t * depth..(t + 1) * depth];
            let mut offset = t.checked_div(per_batch).unwrap_or(0) * batch_stride;
            for (k, &v) in tuple.iter().enumerate() {
                offset += resolve_index(v, dims[batch + k], batch + k)? * inner_strides[k];
            }
            Ok(offset)
        })
        .collect()
}

fn gather_nd(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let (data, indices) = (args.input(0)?, args.input(1)?);
    let ty = output_type(args, rules::gather_nd)?;
    let (batch, depth) = rules::nd_index_depth(&args.args, data.ty(), indices.ty())?;
    let slice: usize = data.dims()[batch + depth..].iter().product::<u64>() as usize;
    let mut out = Vec::with_capacity(ty.numel().unwrap_or(0) as usize);
    for offset in tuple_offsets(data, indices, batch)? {
        out.extend_from_slice(&data.data()[offset..offset + slice]);
    }
    Ok(vec![build(ty, out)?])
}

/// How a scatter combines the entry already there with an update.
fn combiner(reduction: &str) -> fn(f64, f64) -> f64 {
    match reduction {
        "add" => |old, new| old + new,
        "mul" => |old, new| old * new,
        "max" => |old, new| if old.is_nan() || new.is_nan() { f64::NAN } else { old.max(new) },
        "min" => |old, new| if old.is_nan() || new.is_nan() { f64::NAN } else { old.min(new) },
        _ => |_, new| new,
    }
}

/// Updates apply in row-major order of `indices`, so with duplicate indices
/// and no reduction the last update wins.
fn scatter_elements(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let (data, indices, updates) = (args.input(0)?, args.input(1)?, args.input(2)?);
    let ty = output_type(args, rules::scatter_elements)?;
    let combine = combiner(&rules::reduction_attr(&args.args)?);
    let axis = normalize_axis(args.args.int("axis")?, data.dims().len(), "axis")?;
    let mut out = data.data().to_vec();
    for (target, &update) in element_targets(data, indices, axis)?.into_iter().zip(updates.data()) {
        out[target] = combine(out[target], update);
    }
    Ok(vec![build(ty, out)?])
}

fn scatter_nd(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let (data, indices, updates) = (args.input(0)?, args.input(1)?, args.input(2)?);
    let ty = output_type(args, rules::scatter_nd)?;
    let combine = combiner(&rules::reduction_attr(&args.args)?);
    let depth = indices.dims().last().copied().unwrap_or(0) as usize;
    let slice: usize = data.dims()[depth..].iter().product::<u64>() as usize;
    let mut out = data.data().to_vec();
    for (t, offset) in tuple_offsets(data, indices, 0)?.into_iter().enumerate() {
        for s in 0..slice {
            out[offset + s] = combine(out[offset + s], updates.data()[t * slice + s]);
        }
    }
    Ok(vec![build(ty, out)?])
}

/// NumPy's sort order: numbers ascending, then NaN; equal values compare equal.
fn numpy_order(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

/// Positions of `lane` in sorted order; a stable sort, so equal values keep
/// the lower position first either way.
fn sorted_positions(lane: &[f64], descending: bool) -> Vec<usize> {
    let mut order: Vec<usize> = (0..lane.len()).collect();
    order.sort_by(|&a, &b| {
        let ordering = numpy_order(lane[a], lane[b]);
        if descending {
            ordering.reverse()
        } else {
            ordering
        }
    });
    order
}

/// The first `keep` values of each lane along `axis` in sorted order, and
/// their positions, laid out with the axis cut to `keep`.
fn sort_lanes(x: &Tensor, axis: usize, keep: usize, descending: bool) -> (Vec<f64>, Vec<f64>) {
    let lanes = AxisSplit::new(x.dims(), axis);
    let total = lanes.outer * keep * lanes.inner;
    let (mut values, mut positions) = (vec![0.0; total], vec![0.0; total]);
    for o in 0..lanes.outer {
        for i in 0..lanes.inner {
            let lane: Vec<f64> = (0..lanes.len).map(|j| x.data()[lanes.at(o, j, i)]).collect();
            for (rank, p) in sorted_positions(&lane, descending).into_iter().take(keep).enumerate() {
                let at = (o * keep + rank) * lanes.inner + i;
                values[at] = lane[p];
                positions[at] = p as f64;
            }
        }
    }
    (values, positions)
}

/// ONNX `TopK` (`sorted` or not, the result comes sorted, which ONNX allows).
fn top_k(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let x = args.input(0)?;
    let types = rules::top_k(&args.args)?;
    let axis = normalize_axis(args.args.int("axis")?, x.dims().len(), "axis")?;
    let keep = args.args.int("k")? as usize;
    let (values, positions) = sort_lanes(x, axis, keep, args.args.bool("largest")?);
    typed_pair(types, values, positions)
}

/// A stable sort whether or not `stable` asks for one.
fn sort(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let x = args.input(0)?;
    let types = rules::sort(&args.args)?;
    let (axis, descending) = sort_args(args, x)?;
    let (values, positions) = sort_lanes(x, axis, x.dims()[axis] as usize, descending);
    typed_pair(types, values, positions)
}

fn argsort(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let x = args.input(0)?;
    let ty = output_type(args, rules::argsort)?;
    let (axis, descending) = sort_args(args, x)?;
    let (_, positions) = sort_lanes(x, axis, x.dims()[axis] as usize, descending);
    Ok(vec![build(ty, positions)?])
}

fn sort_args(args: &EvalArgs<'_>, x: &Tensor) -> EvalResult<(usize, bool)> {
    let axis = normalize_axis(args.args.int("axis")?, x.dims().len(), "axis")?;
    Ok((axis, args.args.bool("descending")?))
}

fn typed_pair(types: Vec<TensorType>, values: Vec<f64>, positions: Vec<f64>) -> EvalResult<Vec<Tensor>> {
    let mut types = types.into_iter();
    match (types.next(), types.next()) {
        (Some(value_type), Some(index_type)) => Ok(vec![build(value_type, values)?, build(index_type, positions)?]),
        _ => Err(EvalError::new("the shape rule gave fewer than two outputs")),
    }
}

fn cumsum(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let x = args.input(0)?;
    let axis = normalize_axis(args.args.int("axis")?, x.dims().len(), "axis")?;
    let (exclusive, reverse) = (args.args.bool("exclusive")?, args.args.bool("reverse")?);
    let lanes = AxisSplit::new(x.dims(), axis);
    let steps: Vec<usize> = match reverse {
        true => (0..lanes.len).rev().collect(),
        false => (0..lanes.len).collect(),
    };
    let mut out = vec![0.0; x.len()];
    for o in 0..lanes.outer {
        for i in 0..lanes.inner {
            let mut total = 0.0;
            for &j in &steps {
                let at = lanes.at(o, j, i);
                let value = x.data()[at];
                if !exclusive {
                    total += value;
                }
                out[at] = total;
                if exclusive {
                    total += value;
                }
            }
        }
    }
    Ok(vec![build(x.ty().clone(), out)?])
}

/// Indices are truncated to integers; those outside `[-depth, depth)` give
/// a row of off values.
fn one_hot(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let (indices, values) = (args.input(0)?, args.input(1)?);
    let ty = output_type(args, rules::one_hot)?;
    let depth = rules::one_hot_depth(&args.args)? as usize;
    let axis = normalize_axis(args.args.int("axis")?, indices.dims().len() + 1, "axis")?;
    let &[off, on] = values.data() else {
        return Err(EvalError::new(format!("values must be [2] (off, on), found {}", values.ty())));
    };
    let outer: usize = indices.dims()[..axis].iter().product::<u64>() as usize;
    let inner: usize = indices.dims()[axis..].iter().product::<u64>() as usize;
    let hot = |v: f64| {
        let i = v as i64;
        let resolved = if i < 0 { i + depth as i64 } else { i };
        usize::try_from(resolved).ok().filter(|&r| r < depth)
    };
    let mut out = Vec::with_capacity(outer * depth * inner);
    for o in 0..outer {
        for class in 0..depth {
            for i in 0..inner {
                let chosen = hot(indices.data()[o * inner + i]) == Some(class);
                out.push(if chosen { on } else { off });
            }
        }
    }
    Ok(vec![build(ty, out)?])
}

/// The exact `[rank, count]` result, whatever count the shape rule assumed.
fn nonzero(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let x = args.input(0)?;
    let (dims, rank) = (x.dims(), x.dims().len());
    let x_strides = strides(dims);
    let found: Vec<usize> = (0..x.len()).filter(|&p| x.data()[p] != 0.0).collect();
    let mut out = vec![0.0; rank * found.len()];
    for axis in 0..rank {
        for (j, &p) in found.iter().enumerate() {
            out[axis * found.len() + j] = ((p / x_strides[axis]) % dims[axis] as usize) as f64;
        }
    }
    Ok(vec![build(
        TensorType::new(DType::I64, vec![rank as u64, found.len() as u64]),
        out,
    )?])
}

/// What `unique` compares: single elements of the flattened input, or the
/// slices along `axis` (in row-major order of the other axes).
fn unique_items(x: &Tensor, axis: Option<usize>) -> Vec<Vec<f64>> {
    match axis {
        None => x.data().iter().map(|&v| vec![v]).collect(),
        Some(axis) => {
            let lanes = AxisSplit::new(x.dims(), axis);
            (0..lanes.len)
                .map(|a| {
                    (0..lanes.outer)
                        .flat_map(|o| (0..lanes.inner).map(move |i| (o, i)))
                        .map(|(o, i)| x.data()[lanes.at(o, a, i)])
                        .collect()
                })
                .collect()
        }
    }
}

fn lexicographic(a: &[f64], b: &[f64]) -> Ordering {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| numpy_order(x, y))
        .find(|o| o.is_ne())
        .unwrap_or(Ordering::Equal)
}

/// ONNX `Unique` with all four outputs at their exact sizes: the distinct
/// items (ascending, or in order of first occurrence when not `sorted`),
/// each one's first position, each input item's group, and group sizes.
fn unique(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let x = args.input(0)?;
    let axis = rules::optional_axis(&args.args, x.ty())?;
    let items = unique_items(x, axis);
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by(|&a, &b| lexicographic(&items[a], &items[b]));
    // (first position, count) per group; a stable sort puts each group's
    // first occurrence at its head.
    let mut groups: Vec<(usize, usize)> = Vec::new();
    let mut group_of = vec![0usize; items.len()];
    for &i in &order {
        match groups.last_mut() {
            Some((first, count)) if lexicographic(&items[*first], &items[i]).is_eq() => *count += 1,
            _ => groups.push((i, 1)),
        }
        group_of[i] = groups.len() - 1;
    }
    if !args.args.bool("sorted")? {
        let mut by_first: Vec<usize> = (0..groups.len()).collect();
        by_first.sort_by_key(|&g| groups[g].0);
        let mut renumbered = vec![0usize; groups.len()];
        for (new, &old) in by_first.iter().enumerate() {
            renumbered[old] = new;
        }
        groups = by_first.iter().map(|&g| groups[g]).collect();
        group_of.iter_mut().for_each(|g| *g = renumbered[*g]);
    }
    let count = groups.len() as u64;
    let (values, dims) = match axis {
        None => (groups.iter().map(|&(first, _)| x.data()[first]).collect(), vec![count]),
        Some(axis) => {
            let lanes = AxisSplit::new(x.dims(), axis);
            let mut values = Vec::with_capacity(lanes.outer * groups.len() * lanes.inner);
            for o in 0..lanes.outer {
                for &(first, _) in &groups {
                    values.extend((0..lanes.inner).map(|i| x.data()[lanes.at(o, first, i)]));
                }
            }
            let mut dims = x.dims().to_vec();
            dims[axis] = count;
            (values, dims)
        }
    };
    let as_i64 = |data: Vec<f64>| build(TensorType::new(DType::I64, vec![data.len() as u64]), data);
    Ok(vec![
        build(TensorType::new(x.dtype(), dims), values)?,
        as_i64(groups.iter().map(|&(first, _)| first as f64).collect())?,
        as_i64(group_of.iter().map(|&g| g as f64).collect())?,
        as_i64(groups.iter().map(|&(_, n)| n as f64).collect())?,
    ])
}

/// The exact result; a true condition entry past the end of the axis is an
/// error (NumPy's `compress` raises there too).
fn compress(args: &EvalArgs<'_>) -> EvalResult<Vec<Tensor>> {
    let (x, condition) = (args.input(0)?, args.input(1)?);
    let axis = rules::optional_axis(&args.args, x.ty())?;
    let lanes = match axis {
        Some(axis) => AxisSplit::new(x.dims(), axis),
        None => AxisSplit {
            outer: 1,
            len: x.len(),
            inner: 1,
        },
    };
    let chosen: Vec<usize> = (0..condition.len()).filter(|&j| condition.data()[j] != 0.0).collect();
    if let Some(&past) = chosen.iter().find(|&&j| j >= lanes.len) {
        return Err(EvalError::new(format!(
            "the condition selects entry {past}, but {} has {} along the compressed axis",
            x.ty(),
            lanes.len
        )));
    }
    let mut out = Vec::with_capacity(lanes.outer * chosen.len() * lanes.inner);
    for o in 0..lanes.outer {
        for &j in &chosen {
            out.extend((0..lanes.inner).map(|i| x.data()[lanes.at(o, j, i)]));
        }
    }
    let dims = match axis {
        Some(axis) => {
            let mut dims = x.dims().to_vec();
            dims[axis] = chosen.len() as u64;
            dims
        }
        None => vec![chosen.len() as u64],
    };
    Ok(vec![build(TensorType::new(x.dtype(), dims), out)?])
}

#[cfg(test)]
mod tests {
    use opfuse_ir::Attr;
    use opfuse_ir::DType::{Bool, F16, F32, I32, I64};

    use super::rules::NO_AXIS;
    use std::slice::from_ref;

    use crate::testing::{eval, eval1, tensor};

    fn text(s: &str) -> Attr {
        Attr::Str(s.to_string())
    }

    /// The dims and data of every output of `op`.
    fn outputs(op: &str, attrs: &[(&str, Attr)], inputs: &[opfuse_ir::Tensor]) -> Vec<(Vec<u64>, Vec<f64>)> {
        match eval(op, attrs, inputs) {
            Ok(ts) => ts.into_iter().map(|t| (t.dims().to_vec(), t.into_data())).collect(),
            Err(message) => panic!("`{op}` failed: {message}"),
        }
    }

    #[test]
    fn gathers_count_negative_indices_from_the_end() {
        // ONNX's Gather example 1, with -2 for row 1.
        let data = tensor(F32, &[3, 2], &[1.0, 1.25, 2.5, 3.5, 4.5, 5.75]);
        let indices = tensor(I64, &[2, 2], &[0.0, 1.0, -2.0, 2.0]);
        let got = outputs("gather", &[], &[data.clone(), indices]);
        assert_eq!(got, vec![(vec![2, 2, 2], vec![1.0, 1.25, 2.5, 3.5, 2.5, 3.5, 4.5, 5.75])]);
        let columns = eval1(
            "index_select",
            &[("axis", Attr::Int(1))],
            &[data.clone(), tensor(I32, &[1], &[1.0])],
        );
        assert_eq!(columns, vec![1.25, 3.5, 5.75]);
        let rows = eval1("embedding", &[], &[data.clone(), tensor(I64, &[2], &[-1.0, 0.0])]);
        assert_eq!(rows, vec![4.5, 5.75, 1.0, 1.25]);
        let error = "index 3 is out of range for axis 0 with 3 entries";
        assert_eq!(eval("gather", &[], &[data.clone(), tensor(I64, &[1], &[3.0])]).unwrap_err(), error);
        assert_eq!(eval("embedding", &[], &[data, tensor(I64, &[1], &[3.0])]).unwrap_err(), error);
    }

    #[test]
    fn gather_elements_follows_onnx_examples() {
        let data = tensor(F32, &[2, 2], &[1.0, 2.0, 3.0, 4.0]);
        let indices = tensor(I64, &[2, 2], &[0.0, 0.0, 1.0, 0.0]);
        assert_eq!(
            eval1("gather_elements", &[("axis", Attr::Int(1))], &[data, indices]),
            vec![1.0, 1.0, 4.0, 3.0]
        );
        let data = tensor(F32, &[3, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]);
        let negative = tensor(I64, &[2, 3], &[-1.0, -2.0, 0.0, -2.0, 0.0, 0.0]);
        assert_eq!(
            eval1("gather_elements", &[], &[data.clone(), negative]),
            vec![7.0, 5.0, 3.0, 4.0, 2.0, 3.0]
        );
        let past = tensor(I64, &[1, 1], &[-4.0]);
        assert_eq!(
            eval("gather_elements", &[], &[data, past]).unwrap_err(),
            "index -4 is out of range for axis 0 with 3 entries"
        );
    }

    #[test]
    fn gather_nd_follows_onnx_examples() {
        let data = tensor(I32, &[2, 2], &[0.0, 1.0, 2.0, 3.0]);
        assert_eq!(
            eval1("gather_nd", &[], &[data.clone(), tensor(I64, &[2, 2], &[0.0, 0.0, 1.0, 1.0])]),
            vec![0.0, 3.0]
        );
        assert_eq!(
            eval1("gather_nd", &[], &[data.clone(), tensor(I64, &[2, 1], &[1.0, 0.0])]),
            vec![2.0, 3.0, 0.0, 1.0]
        );
        // Example 5: batch_dims = 1.
        let cube = tensor(I32, &[2, 2, 2], &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]);
        let batched = eval1(
            "gather_nd",
            &[("batch_dims", Attr::Int(1))],
            &[cube, tensor(I64, &[2, 1], &[1.0, 0.0])],
        );
        assert_eq!(batched, vec![2.0, 3.0, 4.0, 5.0]);
        assert!(eval("gather_nd", &[], &[data, tensor(I64, &[1, 2], &[0.0, 2.0])]).is_err());
    }

    #[test]
    fn scatters_follow_onnx_examples() {
        // ScatterElements example 1 (axis 0).
        let zeros = tensor(F32, &[3, 3], &[0.0; 9]);
        let indices = tensor(I64, &[2, 3], &[1.0, 0.0, 2.0, 0.0, 2.0, 1.0]);
        let updates = tensor(F32, &[2, 3], &[1.0, 1.1, 1.2, 2.0, 2.1, 2.2]);
        let got = eval1("scatter_elements", &[], &[zeros, indices, updates]);
        let expected: Vec<f64> = [2.0, 1.1, 0.0, 1.0, 0.0, 2.2, 0.0, 2.1, 1.2]
            .iter()
            .map(|&v: &f64| v as f32 as f64)
            .collect();
        assert_eq!(got, expected);
        // Example 2 and the duplicate-index reductions, with a negative index.
        let row = tensor(F32, &[1, 5], &[1.0, 2.0, 3.0, 4.0, 5.0]);
        let twice = tensor(I64, &[1, 2], &[1.0, -4.0]);
        let updates = tensor(F32, &[1, 2], &[1.5, 2.5]);
        let scatter = |reduction: &str| {
            eval1(
                "scatter_elements",
                &[("axis", Attr::Int(1)), ("reduction", text(reduction))],
                &[row.clone(), twice.clone(), updates.clone()],
            )
        };
        assert_eq!(scatter("none"), vec![1.0, 2.5, 3.0, 4.0, 5.0]);
        assert_eq!(scatter("add"), vec![1.0, 6.0, 3.0, 4.0, 5.0]);
        assert_eq!(scatter("mul"), vec![1.0, 7.5, 3.0, 4.0, 5.0]);
        assert_eq!(scatter("max"), vec![1.0, 2.5, 3.0, 4.0, 5.0]);
        assert_eq!(scatter("min"), vec![1.0, 1.5, 3.0, 4.0, 5.0]);
        let outside = tensor(I64, &[1, 2], &[1.0, 5.0]);
        assert!(eval("scatter_elements", &[("axis", Attr::Int(1))], &[row, outside, updates]).is_err());
        // ScatterND example 1.
        let data = tensor(F32, &[8], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
        let indices = tensor(I64, &[4, 1], &[4.0, 3.0, 1.0, 7.0]);
        let updates = tensor(F32, &[4], &[9.0, 10.0, 11.0, 12.0]);
        let got = eval1("scatter_nd", &[], &[data.clone(), indices, updates]);
        assert_eq!(got, vec![1.0, 11.0, 3.0, 10.0, 9.0, 6.0, 7.0, 12.0]);
        let same = tensor(I64, &[2, 1], &[0.0, 0.0]);
        let added = eval1(
            "scatter_nd",
            &[("reduction", text("add"))],
            &[data, same, tensor(F32, &[2], &[5.0, 6.0])],
        );
        assert_eq!(added[..2], [12.0, 2.0]);
        // Whole rows: data [2, 2], one tuple of length 1.
        let rows = eval1(
            "scatter_nd",
            &[],
            &[
                tensor(F32, &[2, 2], &[0.0; 4]),
                tensor(I64, &[1, 1], &[-1.0]),
                tensor(F32, &[1, 2], &[5.0, 6.0]),
            ],
        );
        assert_eq!(rows, vec![0.0, 0.0, 5.0, 6.0]);
    }

    #[test]
    fn top_k_and_sort_put_ties_in_index_order() {
        // ONNX's TopK example: k = 3 of np.arange(12).reshape(3, 4).
        let x = tensor(F32, &[3, 4], &(0..12).map(f64::from).collect::<Vec<_>>());
        let got = outputs("top_k", &[("k", Attr::Int(3))], &[x]);
        assert_eq!(got[0], (vec![3, 3], vec![3.0, 2.0, 1.0, 7.0, 6.0, 5.0, 11.0, 10.0, 9.0]));
        assert_eq!(got[1].1, vec![3.0, 2.0, 1.0, 3.0, 2.0, 1.0, 3.0, 2.0, 1.0]);
        let ties = tensor(F32, &[5], &[1.0, 3.0, 1.0, 3.0, f64::NAN]);
        let largest = outputs("top_k", &[("k", Attr::Int(3))], from_ref(&ties));
        assert!(largest[0].1[0].is_nan());
        assert_eq!(largest[0].1[1..], [3.0, 3.0]);
        assert_eq!(largest[1].1, vec![4.0, 1.0, 3.0]);
        let smallest = outputs("top_k", &[("k", Attr::Int(2)), ("largest", Attr::Bool(false))], from_ref(&ties));
        assert_eq!(smallest, vec![(vec![2], vec![1.0, 1.0]), (vec![2], vec![0.0, 2.0])]);
        // torch.sort(..., stable=True) on [3, 1, 2, 1].
        let x = tensor(F32, &[4], &[3.0, 1.0, 2.0, 1.0]);
        assert_eq!(outputs("sort", &[], from_ref(&x))[1].1, vec![1.0, 3.0, 2.0, 0.0]);
        let descending = outputs("sort", &[("descending", Attr::Bool(true))], from_ref(&x));
        assert_eq!(
            descending,
            vec![(vec![4], vec![3.0, 2.0, 1.0, 1.0]), (vec![4], vec![0.0, 2.0, 1.0, 3.0])]
        );
        // np.argsort(m, axis=0, kind="stable") for m = [[2, 1], [1, 1], [0, 3]].
        let m = tensor(I32, &[3, 2], &[2.0, 1.0, 1.0, 1.0, 0.0, 3.0]);
        assert_eq!(
            eval1("argsort", &[("axis", Attr::Int(0))], &[m]),
            vec![2.0, 0.0, 1.0, 1.0, 0.0, 2.0]
        );
    }

    #[test]
    fn cumsum_follows_onnx_examples() {
        let x = tensor(F32, &[5], &[1.0, 2.0, 3.0, 4.0, 5.0]);
        let run = |exclusive: bool, reverse: bool| {
            eval1(
                "cumsum",
                &[
                    ("axis", Attr::Int(0)),
                    ("exclusive", Attr::Bool(exclusive)),
                    ("reverse", Attr::Bool(reverse)),
                ],
                from_ref(&x),
            )
        };
        assert_eq!(run(false, false), vec![1.0, 3.0, 6.0, 10.0, 15.0]);
        assert_eq!(run(true, false), vec![0.0, 1.0, 3.0, 6.0, 10.0]);
        assert_eq!(run(false, true), vec![15.0, 14.0, 12.0, 9.0, 5.0]);
        assert_eq!(run(true, true), vec![14.0, 12.0, 9.0, 5.0, 0.0]);
        let m = tensor(I32, &[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(
            eval1("cumsum", &[("axis", Attr::Int(-1))], from_ref(&m)),
            vec![1.0, 3.0, 6.0, 4.0, 9.0, 15.0]
        );
        assert_eq!(eval1("cumsum", &[("axis", Attr::Int(0))], &[m]), vec![1.0, 2.0, 3.0, 5.0, 7.0, 9.0]);
    }

    #[test]
    fn one_hot_wraps_negative_indices() {
        let indices = tensor(I64, &[3], &[0.0, -1.0, 5.0]);
        let values = tensor(F16, &[2], &[-1.0, 2.0]);
        let got = outputs("one_hot", &[("depth", Attr::Int(3))], &[indices.clone(), values.clone()]);
        assert_eq!(got, vec![(vec![3, 3], vec![2.0, -1.0, -1.0, -1.0, -1.0, 2.0, -1.0, -1.0, -1.0])]);
        let first = eval1(
            "one_hot",
            &[("depth", Attr::Int(3)), ("axis", Attr::Int(0))],
            &[indices, values.clone()],
        );
        assert_eq!(first, vec![2.0, -1.0, -1.0, -1.0, -1.0, -1.0, -1.0, 2.0, -1.0]);
        // Float indices are truncated: 1.7 is class 1.
        let float = eval1("one_hot", &[("depth", Attr::Int(2))], &[tensor(F32, &[1], &[1.7]), values]);
        assert_eq!(float, vec![-1.0, 2.0]);
    }

    #[test]
    fn data_dependent_outputs_have_their_exact_size() {
        // ONNX's NonZero example.
        let x = tensor(Bool, &[2, 2], &[1.0, 0.0, 1.0, 1.0]);
        assert_eq!(
            outputs("nonzero", &[], &[x]),
            vec![(vec![2, 3], vec![0.0, 1.0, 1.0, 0.0, 0.0, 1.0])]
        );
        // ONNX's Compress examples.
        let x = tensor(F32, &[3, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let condition = |bits: &[f64]| tensor(Bool, &[bits.len() as u64], bits);
        let along = |axis: i64, bits: &[f64]| outputs("compress", &[("axis", Attr::Int(axis))], &[x.clone(), condition(bits)]);
        assert_eq!(along(0, &[0.0, 1.0, 1.0]), vec![(vec![2, 2], vec![3.0, 4.0, 5.0, 6.0])]);
        assert_eq!(along(1, &[0.0, 1.0]), vec![(vec![3, 1], vec![2.0, 4.0, 6.0])]);
        assert_eq!(along(NO_AXIS, &[0.0, 1.0, 0.0, 0.0, 1.0]), vec![(vec![2], vec![2.0, 5.0])]);
        let past = eval("compress", &[("axis", Attr::Int(1))], &[x, condition(&[0.0, 0.0, 1.0])]).unwrap_err();
        assert_eq!(past, "the condition selects entry 2, but f32[3, 2] has 2 along the compressed axis");
    }

    #[test]
    fn unique_follows_onnx_examples() {
        let shapes_and_data = |ts: Vec<(Vec<u64>, Vec<f64>)>| ts.into_iter().map(|(_, d)| d).collect::<Vec<_>>();
        // Example 1: not sorted.
        let x = tensor(F32, &[6], &[2.0, 1.0, 1.0, 3.0, 4.0, 3.0]);
        let got = shapes_and_data(outputs("unique", &[("sorted", Attr::Bool(false))], from_ref(&x)));
        assert_eq!(
            got,
            vec![
                vec![2.0, 1.0, 3.0, 4.0],
                vec![0.0, 1.0, 3.0, 4.0],
                vec![0.0, 1.0, 1.0, 2.0, 3.0, 2.0],
                vec![1.0, 2.0, 2.0, 1.0]
            ]
        );
        // Example 2: sorted, flattened.
        let x = tensor(F32, &[2, 2], &[1.0, 3.0, 2.0, 3.0]);
        let got = shapes_and_data(outputs("unique", &[], &[x]));
        assert_eq!(
            got,
            vec![
                vec![1.0, 2.0, 3.0],
                vec![0.0, 2.0, 1.0],
                vec![0.0, 2.0, 1.0, 2.0],
                vec![1.0, 1.0, 2.0]
            ]
        );
        // Example 3: rows.
        let x = tensor(I64, &[3, 3], &[1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 2.0, 3.0, 4.0]);
        let got = outputs("unique", &[("axis", Attr::Int(0))], &[x]);
        assert_eq!(got[0], (vec![2, 3], vec![1.0, 0.0, 0.0, 2.0, 3.0, 4.0]));
        assert_eq!(
            got[1..].iter().map(|(_, d)| d.clone()).collect::<Vec<_>>(),
            vec![vec![0.0, 2.0], vec![0.0, 0.0, 1.0], vec![2.0, 1.0]]
        );
        // Example 4: slices along axis 1 of a [2, 4, 2] tensor.
        let x = tensor(F32, &[2, 4, 2], &[1., 1., 0., 1., 2., 1., 0., 1., 1., 1., 0., 1., 2., 1., 0., 1.]);
        let got = outputs("unique", &[("axis", Attr::Int(1))], &[x]);
        assert_eq!(got[0], (vec![2, 3, 2], vec![0., 1., 1., 1., 2., 1., 0., 1., 1., 1., 2., 1.]));
        assert_eq!(
            got[1..].iter().map(|(_, d)| d.clone()).collect::<Vec<_>>(),
            vec![vec![1.0, 0.0, 2.0], vec![1.0, 0.0, 2.0, 0.0], vec![2.0, 1.0, 1.0]]
        );
    }
}
