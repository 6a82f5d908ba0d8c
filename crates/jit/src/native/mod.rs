//! Native stages: layout and index ops that move data rather than compute
//! (concat, pad, gather, ...), and pools, sorts and arg-reductions that no
//! loop program expresses, run in Rust on the f32 buffers by index
//! arithmetic; and the ops whose exact result needs f64 or integer
//! arithmetic (the norms without a row kernel, inverse trigonometry,
//! bitwise ops, einsum, transposed convolution, ...), computed as the
//! interpreter computes them, several through the very functions it calls
//! (`resize_values`, `einsum_data`, `conv_data`, ...). They need
//! no code generation: each is a few loops whose shape lowering fixes from
//! the verified types, and they spare the values the round trip through
//! the interpreter's f64 tensors.
//!
//! Integer values travel as f32 whole numbers (indices in, positions out;
//! exact below 2^24). Where the interpreter fails on data (an index out of
//! range), a native stage cannot: it writes zeros there instead and never
//! reads out of bounds (see `gather`).

mod arg_extreme;
mod concat;
mod convolution;
mod cumsum;
mod depth_to_space;
mod gather;
mod gather_nd;
mod matmul;
mod norm;
mod one_hot;
mod pointwise;
mod pool;
mod reduce;
mod remap;
mod resize;
mod rotary;
mod scatter;
mod sequence;
mod shape;
mod top_k;
mod trilu;

use opfuse_ir::{Attr, Graph, Node, ValueId};

pub use arg_extreme::ArgExtreme;
pub use concat::Concat;
pub use convolution::Convolution;
pub use cumsum::Cumsum;
pub use depth_to_space::DepthToSpace;
pub use gather::{Gather, GatherElements};
pub use gather_nd::{GatherNd, Tuples};
pub use matmul::{Einsum, GroupedMatmul, MatmulInteger};
pub use norm::{ChannelNorm, LaneOp, Lanes, MeanVariance, Statistics};
pub use one_hot::OneHot;
pub use pointwise::{Binary, Broadcast, Kind, Pointwise, Unary};
pub use pool::{AxisWindow, Pool, PoolAxis, Reduce};
pub use reduce::AxesReduction;
pub use remap::{AxisRead, Remap};
pub use resize::Resize;
pub use rotary::Rotary;
pub use scatter::{Reduction, Scatter, Targets};
pub use sequence::ReverseSequence;
pub use shape::Extents;
pub use top_k::TopK;
pub use trilu::Trilu;

/// One native op, with every extent fixed. Variants shared by several ops
/// carry the op's name.
#[derive(Clone, Debug, PartialEq)]
pub enum Native {
    /// `concat` or `stack`.
    Concat(&'static str, Concat),
    /// `pad`, `tile`, `reverse` or `roll`.
    Remap(&'static str, Remap),
    Trilu(Trilu),
    /// `depth_to_space` or `space_to_depth`.
    DepthToSpace(DepthToSpace),
    Cumsum(Cumsum),
    /// `gather`, `index_select` or `embedding`.
    Gather(&'static str, Gather),
    GatherElements(GatherElements),
    OneHot(OneHot),
    /// Any op of the `pool` class.
    Pool(&'static str, Pool),
    /// `top_k`, `sort` or `argsort`.
    TopK(&'static str, TopK),
    /// `argmax` or `argmin`.
    ArgExtreme(ArgExtreme),
    /// `batch_norm`, `instance_norm` or `group_norm`.
    ChannelNorm(&'static str, ChannelNorm),
    /// `lp_normalization` or `hardmax`.
    Lanes(&'static str, Lanes),
    MeanVariance(MeanVariance),
    Rotary(Rotary),
    /// `shape` or `size`.
    Extents(&'static str, Extents),
    ReverseSequence(ReverseSequence),
    GatherNd(GatherNd),
    /// `scatter_elements` or `scatter_nd`.
    Scatter(&'static str, Scatter),
    Resize(Resize),
    /// An elementwise op of `pointwise` (or a `cast` lowering hands over).
    Pointwise(&'static str, Pointwise),
    /// A reduction the row kernels leave (its name, the op).
    Reduction(&'static str, AxesReduction),
    /// `conv` (the cases the compiled path leaves) or `conv_transpose`.
    Convolution(&'static str, Convolution),
    Einsum(Einsum),
    GroupedMatmul(GroupedMatmul),
    MatmulInteger(MatmulInteger),
}

/// The ops lowering hands to [`lower`].
pub const OPS: [&str; 62] = [
    "concat",
    "stack",
    "pad",
    "tile",
    "reverse",
    "roll",
    "trilu",
    "depth_to_space",
    "space_to_depth",
    "cumsum",
    "gather",
    "index_select",
    "embedding",
    "gather_elements",
    "one_hot",
    "max_pool",
    "avg_pool",
    "lp_pool",
    "global_avg_pool",
    "global_max_pool",
    "global_lp_pool",
    "adaptive_avg_pool",
    "adaptive_max_pool",
    "top_k",
    "sort",
    "argsort",
    "argmax",
    "argmin",
    "batch_norm",
    "instance_norm",
    "group_norm",
    "lp_normalization",
    "hardmax",
    "mean_variance_normalization",
    "rotary_embedding",
    "acos",
    "acosh",
    "asin",
    "asinh",
    "atan",
    "atanh",
    "cosh",
    "sinh",
    "tan",
    "mod",
    "bit_shift",
    "bitwise_and",
    "bitwise_not",
    "bitwise_or",
    "bitwise_xor",
    "cast_like",
    "shape",
    "size",
    "reverse_sequence",
    "gather_nd",
    "scatter_elements",
    "scatter_nd",
    "resize",
    "conv_transpose",
    "einsum",
    "grouped_matmul",
    "matmul_integer",
];

/// Compiled ops whose nodes the compiled path refuses (`cast` to an
/// integer dtype; `conv` with groups, or not 2-D) [`lower`] also takes:
/// lowering tries it for every node it would otherwise interpret.
pub const FALLBACK: [&str; 2] = ["cast", "conv"];

/// The reductions, which the row kernels take where their axes allow and
/// a native stage where not (axes no row walks as one run, integers).
pub const REDUCTIONS: [&str; 10] = [
    "sum",
    "mean",
    "reduce_max",
    "reduce_min",
    "reduce_prod",
    "reduce_l1",
    "reduce_l2",
    "reduce_log_sum",
    "reduce_log_sum_exp",
    "reduce_sum_square",
];

/// The native form of `node`, or `None` when the op or these attributes
/// have no native path.
pub fn lower(graph: &Graph, node: &Node) -> Option<Native> {
    let dims = |v: &ValueId| graph.ty(*v).map(|t| t.shape.dims().to_vec());
    let inputs: Vec<Vec<u64>> = node.inputs.iter().map(dims).collect::<Option<_>>()?;
    let outputs: Vec<Vec<u64>> = node.outputs.iter().map(dims).collect::<Option<_>>()?;
    let name = OPS
        .iter()
        .chain(&FALLBACK)
        .chain(&REDUCTIONS)
        .copied()
        .find(|&op| op == node.op.name())?;
    let attrs = &node.attrs;
    match (name, inputs.as_slice(), outputs.as_slice()) {
        ("concat", _, [output]) => Concat::lower(attrs, &inputs, output).map(|c| Native::Concat(name, c)),
        ("stack", _, [output]) => Concat::stack(attrs, &inputs, output).map(|c| Native::Concat(name, c)),
        ("pad", [x], [output]) => Remap::pad(attrs, x, output).map(|r| Native::Remap(name, r)),
        ("tile", [x], [output]) => Remap::tile(x, output).map(|r| Native::Remap(name, r)),
        ("reverse", [x], [_]) => Remap::reverse(attrs, x).map(|r| Native::Remap(name, r)),
        ("roll", [x], [_]) => Remap::roll(attrs, x).map(|r| Native::Remap(name, r)),
        ("trilu", [x], [_]) => Trilu::lower(attrs, x).map(Native::Trilu),
        ("depth_to_space" | "space_to_depth", [x], [output]) => {
            DepthToSpace::lower(attrs, x, output, name == "space_to_depth").map(Native::DepthToSpace)
        }
        ("cumsum", [x], [_]) => Cumsum::lower(attrs, x).map(Native::Cumsum),
        ("gather" | "index_select" | "embedding", [data, indices], [_]) => {
            Gather::lower(attrs, data, indices, name == "embedding").map(|g| Native::Gather(name, g))
        }
        ("gather_elements", [data, indices], [_]) => GatherElements::lower(attrs, data, indices).map(Native::GatherElements),
        ("one_hot", [indices, values], [_]) => OneHot::lower(attrs, indices, values).map(Native::OneHot),
        ("max_pool" | "avg_pool" | "lp_pool", [x], [output]) => Pool::windowed(name, attrs, x, output).map(|p| Native::Pool(name, p)),
        ("global_avg_pool" | "global_max_pool" | "global_lp_pool", [x], [output]) => {
            Pool::global(name, attrs, x, output).map(|p| Native::Pool(name, p))
        }
        ("adaptive_avg_pool" | "adaptive_max_pool", [x], [output]) => Pool::adaptive(name, x, output).map(|p| Native::Pool(name, p)),
        ("top_k" | "sort", [x], [_, _]) | ("argsort", [x], [_]) => TopK::lower(name, attrs, x).map(|t| Native::TopK(name, t)),
        ("argmax" | "argmin", [x], [_]) => ArgExtreme::lower(name, attrs, x).map(Native::ArgExtreme),
        ("batch_norm" | "instance_norm" | "group_norm", _, _) => {
            ChannelNorm::lower(name, attrs, &inputs, norm::output_dtypes(graph, node)?).map(|n| Native::ChannelNorm(name, n))
        }
        ("lp_normalization" | "hardmax", [x], [_]) => {
            Lanes::lower(name, attrs, x, *norm::output_dtypes(graph, node)?.first()?).map(|l| Native::Lanes(name, l))
        }
        ("mean_variance_normalization", [x], [_]) => {
            MeanVariance::lower(attrs, x, *norm::output_dtypes(graph, node)?.first()?).map(Native::MeanVariance)
        }
        ("shape", [x], [_]) => Extents::shape(attrs, x).map(|e| Native::Extents(name, e)),
        ("size", [x], [_]) => Extents::size(x).map(|e| Native::Extents(name, e)),
        ("reverse_sequence", [x, _], [_]) => ReverseSequence::lower(attrs, x).map(Native::ReverseSequence),
        ("gather_nd", [data, indices], [_]) => GatherNd::lower(attrs, data, indices).map(Native::GatherNd),
        ("scatter_elements", [data, indices, _], [_]) => {
            Scatter::elements(attrs, data, indices, *norm::output_dtypes(graph, node)?.first()?).map(|s| Native::Scatter(name, s))
        }
        ("scatter_nd", [data, indices, _], [_]) => {
            Scatter::nd(attrs, data, indices, *norm::output_dtypes(graph, node)?.first()?).map(|s| Native::Scatter(name, s))
        }
        ("resize", [x], [output]) => Resize::lower(attrs, x, output, *norm::output_dtypes(graph, node)?.first()?).map(Native::Resize),
        ("rotary_embedding", _, [_]) => Rotary::lower(attrs, &inputs, *norm::output_dtypes(graph, node)?.first()?).map(Native::Rotary),
        (
            "acos" | "acosh" | "asin" | "asinh" | "atan" | "atanh" | "cosh" | "sinh" | "tan" | "mod" | "bit_shift" | "bitwise_and"
            | "bitwise_not" | "bitwise_or" | "bitwise_xor" | "cast" | "cast_like",
            _,
            [output],
        ) => {
            let dtype = |values: &[ValueId]| Some(graph.ty(*values.first()?)?.dtype);
            Pointwise::lower(name, attrs, &inputs, output, dtype(&node.inputs)?, dtype(&node.outputs)?).map(|p| Native::Pointwise(name, p))
        }
        (op, [x], [output]) if REDUCTIONS.contains(&op) => {
            AxesReduction::lower(name, attrs, x, output, *norm::output_dtypes(graph, node)?.first()?).map(|r| Native::Reduction(name, r))
        }
        ("conv", _, [output]) => Convolution::lower(false, attrs, &inputs, output, *norm::output_dtypes(graph, node)?.first()?)
            .map(|c| Native::Convolution("conv", c)),
        ("conv_transpose", _, [output]) => Convolution::lower(true, attrs, &inputs, output, *norm::output_dtypes(graph, node)?.first()?)
            .map(|c| Native::Convolution("conv_transpose", c)),
        ("einsum", _, [output]) => {
            let equation = attrs.get("equation").and_then(Attr::as_str)?;
            Einsum::lower(equation, &inputs, output, *norm::output_dtypes(graph, node)?.first()?).map(Native::Einsum)
        }
        ("grouped_matmul", _, [output]) => {
            GroupedMatmul::lower(&inputs, output, *norm::output_dtypes(graph, node)?.first()?).map(Native::GroupedMatmul)
        }
        ("matmul_integer", _, [output]) => {
            MatmulInteger::lower(&inputs, output, *norm::output_dtypes(graph, node)?.first()?).map(Native::MatmulInteger)
        }
        _ => None,
    }
}

impl Native {
    /// The op's name, as the catalog spells it.
    pub fn name(&self) -> &'static str {
        match self {
            Native::Concat(name, _) | Native::Remap(name, _) | Native::Gather(name, _) | Native::Pool(name, _) | Native::TopK(name, _) => {
                name
            }
            Native::Trilu(_) => "trilu",
            Native::DepthToSpace(op) if op.inverse => "space_to_depth",
            Native::DepthToSpace(_) => "depth_to_space",
            Native::Cumsum(_) => "cumsum",
            Native::GatherElements(_) => "gather_elements",
            Native::OneHot(_) => "one_hot",
            Native::ArgExtreme(op) if op.min => "argmin",
            Native::ArgExtreme(_) => "argmax",
            Native::ChannelNorm(name, _) | Native::Lanes(name, _) => name,
            Native::MeanVariance(_) => "mean_variance_normalization",
            Native::Rotary(_) => "rotary_embedding",
            Native::Extents(name, _) | Native::Scatter(name, _) => name,
            Native::ReverseSequence(_) => "reverse_sequence",
            Native::GatherNd(_) => "gather_nd",
            Native::Resize(_) => "resize",
            Native::Pointwise(name, _) => name,
            Native::Convolution(name, _) | Native::Reduction(name, _) => name,
            Native::Einsum(_) => "einsum",
            Native::GroupedMatmul(_) => "grouped_matmul",
            Native::MatmulInteger(_) => "matmul_integer",
        }
    }

    /// Fills `outputs` from `inputs` (the node's inputs and outputs in
    /// order, as f32 buffers of their verified sizes). Buffers shorter than
    /// the extents say leave the rest of an output untouched rather than
    /// panic.
    pub fn run(&self, inputs: &[&[f32]], outputs: &mut [&mut [f32]]) {
        let first = inputs.first().copied().unwrap_or_default();
        let second = inputs.get(1).copied().unwrap_or_default();
        match (self, outputs) {
            (Native::Concat(_, op), [output]) => op.run(inputs, output),
            (Native::Remap(_, op), [output]) => op.run(first, output),
            (Native::Trilu(op), [output]) => op.run(first, output),
            (Native::DepthToSpace(op), [output]) => op.run(first, output),
            (Native::Cumsum(op), [output]) => op.run(first, output),
            (Native::Gather(_, op), [output]) => op.run(first, second, output),
            (Native::GatherElements(op), [output]) => op.run(first, second, output),
            (Native::OneHot(op), [output]) => op.run(first, second, output),
            (Native::Pool(_, op), [output]) => op.run(first, output),
            (Native::TopK(_, op), [values, positions]) => op.run(first, Some(values), Some(positions)),
            (Native::TopK(_, op), [positions]) => op.run(first, None, Some(positions)),
            (Native::ArgExtreme(op), [output]) => op.run(first, output),
            (Native::ChannelNorm(_, op), outputs) => op.run(inputs, outputs),
            (Native::Lanes(_, op), [output]) => op.run(first, output),
            (Native::MeanVariance(op), [output]) => op.run(first, output),
            (Native::Rotary(op), [output]) => op.run(inputs, output),
            (Native::Extents(_, op), [output]) => op.run(output),
            (Native::ReverseSequence(op), [output]) => op.run(first, second, output),
            (Native::GatherNd(op), [output]) => op.run(first, second, output),
            (Native::Resize(op), [output]) => op.run(first, output),
            (Native::Scatter(_, op), [output]) => op.run(first, second, inputs.get(2).copied().unwrap_or_default(), output),
            (Native::Pointwise(_, op), [output]) => op.run(first, second, output),
            (Native::Convolution(_, op), [output]) => op.run(inputs, output),
            (Native::Reduction(_, op), [output]) => op.run(first, output),
            (Native::Einsum(op), [output]) => op.run(inputs, output),
            (Native::GroupedMatmul(op), [output]) => op.run(first, second, inputs.get(2).copied().unwrap_or_default(), output),
            (Native::MatmulInteger(op), [output]) => op.run(inputs, output),
            _ => {}
        }
    }
}

/// `(outer, axis, inner)`: the product of the dimensions before `axis`,
/// its extent, and the product after it.
pub(crate) fn split_at_axis(dims: &[u64], axis: usize) -> Option<(usize, usize, usize)> {
    let size = |d: &[u64]| d.iter().try_fold(1usize, |acc, &x| acc.checked_mul(to_usize(x)?));
    Some((size(dims.get(..axis)?)?, to_usize(*dims.get(axis)?)?, size(dims.get(axis + 1..)?)?))
}

/// `axis` counted from the end when negative, checked against `rank`.
pub(crate) fn axis_of(axis: i64, rank: usize) -> Option<usize> {
    let axis = if axis < 0 { axis + rank as i64 } else { axis };
    usize::try_from(axis).ok().filter(|&a| a < rank)
}

/// An extent as a `usize`, or `None` where it does not fit.
pub(crate) fn to_usize(extent: u64) -> Option<usize> {
    usize::try_from(extent).ok()
}

#[cfg(test)]
pub(crate) mod testing {
    use opfuse_ir::{Attr, Attrs, Graph, Op, OpSemantics, Tensor, TensorType};
    use opfuse_ops::Catalog;

    pub(crate) fn attrs(pairs: &[(&str, Attr)]) -> Attrs {
        pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }

    pub(crate) fn ints(values: &[i64]) -> Attr {
        Attr::List(values.iter().map(|&v| Attr::Int(v)).collect())
    }

    /// Runs `op` on `inputs` through the interpreter and natively: the
    /// interpreter's outputs and the native ones, both as f32.
    #[track_caller]
    pub(crate) fn both(op: &str, attrs: &[(&str, Attr)], inputs: &[Tensor]) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
        let catalog = Catalog::builtin().unwrap();
        let mut attrs = attrs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        catalog.normalize_attrs(op, &mut attrs).unwrap();
        let types: Vec<TensorType> = inputs.iter().map(|t| t.ty().clone()).collect();
        let outputs = catalog.infer(op, &attrs, &types).unwrap();
        let mut graph = Graph::new("test");
        let ids = types
            .iter()
            .enumerate()
            .map(|(i, t)| graph.add_input(format!("x{i}"), t.clone()))
            .collect();
        let names = outputs.iter().map(|_| None).collect();
        graph.add_node(Op::Known(op.to_string()), attrs.clone(), ids, outputs.clone(), names, None);
        let node = graph.node_ids().last().and_then(|id| graph.node(id)).unwrap();
        let native = super::lower(&graph, node).unwrap_or_else(|| panic!("`{op}` has no native form"));
        let buffers: Vec<Vec<f32>> = inputs.iter().map(|t| t.data().iter().map(|&v| v as f32).collect()).collect();
        let slices: Vec<&[f32]> = buffers.iter().map(Vec::as_slice).collect();
        let mut found: Vec<Vec<f32>> = outputs.iter().map(|t| vec![f32::NAN; t.numel().unwrap() as usize]).collect();
        let mut targets: Vec<&mut [f32]> = found.iter_mut().map(Vec::as_mut_slice).collect();
        native.run(&slices, &mut targets);
        let inputs: Vec<&Tensor> = inputs.iter().collect();
        let expected = catalog.eval(op, &attrs, &inputs, &outputs).unwrap();
        let expected = expected.iter().map(|e| e.data().iter().map(|&v| v as f32).collect()).collect();
        (expected, found)
    }
}

#[cfg(test)]
mod tests {
    use opfuse_ir::{Attr, DType, Tensor, TensorType};

    /// Runs `op` natively on `inputs` and expects the interpreter's outputs.
    #[track_caller]
    fn check(op: &str, attrs: &[(&str, Attr)], inputs: &[Tensor]) {
        let (expected, found) = super::testing::both(op, attrs, inputs);
        for (e, f) in expected.iter().zip(&found) {
            let same = e.len() == f.len() && e.iter().zip(f).all(|(a, b)| (a.is_nan() && b.is_nan()) || (a - b).abs() <= 1e-6);
            assert!(same, "`{op}`: expected {e:?}, found {f:?}");
        }
    }

    fn tensor(dtype: DType, dims: &[u64], data: &[f64]) -> Tensor {
        Tensor::new(TensorType::new(dtype, dims.to_vec()), data.to_vec()).unwrap()
    }

    /// `n` distinct-ish values with ties, in [-2, 2).
    fn values(dims: &[u64]) -> Tensor {
        let n: u64 = dims.iter().product();
        let data: Vec<f64> = (0..n).map(|i| ((i * 7 + 3) % 11) as f64 / 2.5 - 2.0).collect();
        tensor(DType::F32, dims, &data)
    }

    #[test]
    fn gathers_match_the_interpreter_with_negative_indices() {
        let data = values(&[5, 4, 3]);
        let rows = tensor(DType::I64, &[2, 3], &[0.0, -1.0, 4.0, -5.0, 2.0, 1.0]);
        check("gather", &[], &[data.clone(), rows]);
        let columns = tensor(DType::I32, &[3], &[-1.0, 0.0, 2.0]);
        check("index_select", &[("axis", Attr::Int(-2))], &[data.clone(), columns]);
        let table = values(&[6, 4]);
        check("embedding", &[], &[table, tensor(DType::I64, &[2, 2], &[5.0, -6.0, 0.0, 3.0])]);
        let picks = tensor(
            DType::I64,
            &[2, 2, 3],
            &[0.0, -1.0, 3.0, -4.0, 1.0, 2.0, 2.0, 2.0, -2.0, 0.0, 1.0, 3.0],
        );
        check("gather_elements", &[("axis", Attr::Int(1))], &[data, picks]);
        let classes = tensor(DType::I64, &[2, 3], &[0.0, -1.0, 3.0, 7.0, -9.0, 2.0]);
        check(
            "one_hot",
            &[("depth", Attr::Int(4)), ("axis", Attr::Int(1))],
            &[classes, tensor(DType::F32, &[2], &[0.5, 3.0])],
        );
    }

    #[test]
    fn orders_match_the_interpreter_with_ties_and_nan() {
        let mut x = values(&[3, 6, 4]).into_data();
        x[5] = f64::NAN;
        x[30] = f64::NAN;
        let x = tensor(DType::F32, &[3, 6, 4], &x);
        for (largest, axis) in [(true, 1), (false, -1), (true, 0)] {
            let attrs = [("k", Attr::Int(3)), ("axis", Attr::Int(axis)), ("largest", Attr::Bool(largest))];
            check("top_k", &attrs, std::slice::from_ref(&x));
        }
        for descending in [false, true] {
            let attrs = [("axis", Attr::Int(1)), ("descending", Attr::Bool(descending))];
            check("sort", &attrs, std::slice::from_ref(&x));
            check("argsort", &attrs, std::slice::from_ref(&x));
        }
        for op in ["argmax", "argmin"] {
            for (axis, keepdims, last) in [(1, true, false), (-1, false, true), (0, false, false)] {
                let attrs = [
                    ("axis", Attr::Int(axis)),
                    ("keepdims", Attr::Bool(keepdims)),
                    ("select_last_index", Attr::Bool(last)),
                ];
                check(op, &attrs, std::slice::from_ref(&x));
            }
        }
    }
}
