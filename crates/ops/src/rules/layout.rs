//! Layout operators: the same elements in a new arrangement (reshapes,
//! transposes, slicing, padding, tiling, resizing), and the operators that
//! build a tensor from a shape alone (`shape`, `size`, `range`, `eye_like`).

use opfuse_ir::{DType, Shape, TensorType};

use super::broadcast::broadcast;
use super::{bytes, elements};
use crate::args::{
    attr_error, dtype_error, integer_input, normalize_axes, normalize_axis, same_dtype, shape_error, to_dim, Args, InferResult,
};
use crate::code::{op, OpCode};

/// Shape rules and FLOP formulas of this family, by catalog name.
pub const RULES: &[(&str, OpCode)] = &[
    ("reshape", op(reshape, super::no_flops)),
    ("transpose", op(transpose, super::no_flops)),
    ("concat", op(concat, super::no_flops)),
    ("split", op(split, super::no_flops)),
    ("slice", op(slice, super::no_flops).with_bytes(copies_its_output)),
    ("squeeze", op(squeeze, super::no_flops)),
    ("unsqueeze", op(unsqueeze, super::no_flops)),
    ("expand", op(expand, super::no_flops)),
    ("flatten", op(flatten, super::no_flops)),
    ("pad", op(pad, super::no_flops)),
    ("tile", op(tile, super::no_flops)),
    ("depth_to_space", op(depth_to_space, super::no_flops)),
    ("space_to_depth", op(space_to_depth, super::no_flops)),
    ("resize", op(resize, resize_flops)),
    ("trilu", op(trilu, super::no_flops)),
    ("reverse", op(reverse, super::no_flops)),
    ("reverse_sequence", op(reverse_sequence, super::no_flops)),
    ("roll", op(roll, super::no_flops)),
    ("stack", op(stack, super::no_flops)),
    ("shape", op(shape, super::no_flops).with_bytes(writes_only)),
    ("size", op(size, super::no_flops).with_bytes(writes_only)),
    ("range", op(range, super::per_output)),
    ("eye_like", op(eye_like, super::no_flops).with_bytes(writes_only)),
];

/// The most outputs one `split` may have: a bound on what a shape rule
/// allocates, far above any real model.
const MAX_SPLIT_OUTPUTS: u64 = 1 << 16;

/// ONNX `Reshape`: `shape` may hold one -1, inferred from the element count;
/// a 0 copies the input's extent at that position unless `allowzero` is set,
/// in which case it is a real 0.
pub fn reshape(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let x = args.input(0)?;
    let target = args.ints("shape")?;
    let allowzero = args.bool("allowzero")?;
    let numel = x.numel().ok_or_else(|| shape_error(0, "the input is too large"))?;
    if allowzero && target.contains(&0) && target.contains(&-1) {
        return Err(attr_error("shape", "with `allowzero`, `shape` cannot hold both 0 and -1"));
    }
    let mut dims = Vec::with_capacity(target.len());
    let mut infer_at = None;
    for (i, &d) in target.iter().enumerate() {
        let dim = match d {
            -1 => {
                if infer_at.replace(i).is_some() {
                    return Err(attr_error("shape", "`shape` may contain -1 only once"));
                }
                1
            }
            0 if !allowzero => *x.shape.0.get(i).ok_or_else(|| {
                attr_error(
                    "shape",
                    format!(
                        "entry {i} of `shape` is 0, which copies axis {i}, but the input {} has rank {}",
                        x.shape,
                        x.rank()
                    ),
                )
                .with_help("set `allowzero = true` for a real 0")
            })?,
            d => to_dim(d, "shape")?,
        };
        dims.push(dim);
    }
    let known = dims
        .iter()
        .enumerate()
        .filter(|&(i, _)| Some(i) != infer_at)
        .try_fold(1u64, |acc, (_, &d)| acc.checked_mul(d))
        .ok_or_else(|| attr_error("shape", "`shape` is too large"))?;
    match infer_at {
        Some(i) => {
            if known == 0 || numel % known != 0 {
                return Err(attr_error(
                    "shape",
                    format!("cannot infer -1: {numel} elements of {} do not divide by {known}", x.shape),
                ));
            }
            dims[i] = numel / known;
        }
        None if known != numel => {
            return Err(attr_error(
                "shape",
                format!("{} has {numel} elements but shape {:?} has {known}", x.shape, target),
            ));
        }
        None => {}
    }
    Ok(vec![TensorType::new(x.dtype, dims)])
}

/// `perm` must be a permutation of the axes; empty reverses them.
pub fn transpose(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let x = args.input(0)?;
    let perm = transpose_perm(args, x.rank())?;
    let dims = perm.iter().map(|&p| x.shape.0[p]).collect::<Vec<_>>();
    Ok(vec![TensorType::new(x.dtype, dims)])
}

/// The resolved permutation of `transpose` for an input of `rank`.
pub fn transpose_perm(args: &Args<'_>, rank: usize) -> InferResult<Vec<usize>> {
    let perm = args.ints("perm")?;
    if perm.is_empty() {
        return Ok((0..rank).rev().collect());
    }
    if perm.len() != rank {
        return Err(attr_error(
            "perm",
            format!("`perm` has {} entries but the input has rank {rank}", perm.len()),
        ));
    }
    normalize_axes(&perm, rank, "perm")
}

pub fn concat(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let first = args.input(0)?;
    let indices: Vec<usize> = (0..args.inputs.len()).collect();
    let dtype = same_dtype(args, &indices)?;
    let axis = normalize_axis(args.int("axis")?, first.rank(), "axis")?;
    let mut dims = first.shape.0.clone();
    for (index, other) in args.inputs.iter().enumerate().skip(1) {
        let fits = other.rank() == first.rank()
            && other
                .shape
                .0
                .iter()
                .zip(&first.shape.0)
                .enumerate()
                .all(|(a, (x, y))| a == axis || x == y);
        if !fits {
            return Err(shape_error(
                index,
                format!("{} does not fit {} for a concat along axis {axis}", other.shape, first.shape),
            ));
        }
        dims[axis] = dims[axis]
            .checked_add(other.shape.0[axis])
            .ok_or_else(|| shape_error(index, "the concatenation is too large"))?;
    }
    Ok(vec![TensorType::new(dtype, dims)])
}

/// One output per entry of `sizes`, which must add up to the axis extent;
/// or, with `num_outputs`, that many pieces of ceil(extent / num_outputs)
/// entries, the last one smaller (ONNX `Split` since opset 18).
pub fn split(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let x = args.input(0)?;
    let axis = normalize_axis(args.int("axis")?, x.rank(), "axis")?;
    let sizes = split_sizes(args, x, axis)?;
    Ok(sizes
        .into_iter()
        .map(|size| {
            let mut dims = x.shape.0.clone();
            dims[axis] = size;
            TensorType::new(x.dtype, dims)
        })
        .collect())
}

/// The extent of each piece of `split` along `axis`.
pub fn split_sizes(args: &Args<'_>, x: &TensorType, axis: usize) -> InferResult<Vec<u64>> {
    let extent = x.shape.0[axis];
    let sizes = args.ints("sizes")?;
    let num_outputs = args.int("num_outputs")?;
    if !sizes.is_empty() {
        if num_outputs != 0 && num_outputs != sizes.len() as i64 {
            return Err(attr_error(
                "num_outputs",
                format!("`num_outputs` is {num_outputs} but `sizes` lists {} pieces", sizes.len()),
            ));
        }
        let sizes = sizes.iter().map(|&s| to_dim(s, "sizes")).collect::<InferResult<Vec<u64>>>()?;
        let total = sizes.iter().try_fold(0u64, |acc, &s| acc.checked_add(s));
        if total != Some(extent) {
            let shown = total.map_or("more than 2^64".to_string(), |t| t.to_string());
            return Err(attr_error(
                "sizes",
                format!("`sizes` add up to {shown} but axis {axis} of {} is {extent}", x.shape),
            ));
        }
        return Ok(sizes);
    }
    let pieces = u64::try_from(num_outputs)
        .ok()
        .filter(|n| (1..=MAX_SPLIT_OUTPUTS).contains(n))
        .ok_or_else(|| {
            attr_error(
                "num_outputs",
                format!("`split` needs `sizes`, or `num_outputs` in 1..={MAX_SPLIT_OUTPUTS}; found `num_outputs = {num_outputs}`"),
            )
        })?;
    let chunk = extent.div_ceil(pieces);
    let last = chunk.checked_mul(pieces - 1).and_then(|before| extent.checked_sub(before));
    let last = last.ok_or_else(|| {
        attr_error(
            "num_outputs",
            format!(
                "axis {axis} of {} ({extent} entries) does not split into {pieces} pieces of {chunk}",
                x.shape
            ),
        )
    })?;
    let mut sizes = vec![chunk; (pieces - 1) as usize];
    sizes.push(last);
    Ok(sizes)
}

/// ONNX `Slice`: negative `starts`/`ends` count from the end, bounds are
/// clamped to the axis, `steps` may be negative.
pub fn slice(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let x = args.input(0)?;
    let plan = slice_plan(args, x)?;
    let dims: Vec<u64> = plan.iter().map(|axis| axis.count).collect();
    Ok(vec![TensorType::new(x.dtype, dims)])
}

/// What `slice` takes from one axis: `count` entries from `first` on, `step` apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AxisSlice {
    pub first: u64,
    pub count: u64,
    pub step: i64,
}

/// One [`AxisSlice`] per axis of `x` (whole axes where `axes` does not list them).
pub fn slice_plan(args: &Args<'_>, x: &TensorType) -> InferResult<Vec<AxisSlice>> {
    let (starts, ends) = (args.ints("starts")?, args.ints("ends")?);
    let axes = match args.ints("axes")? {
        a if a.is_empty() => (0..starts.len()).collect(),
        a => normalize_axes(&a, x.rank(), "axes")?,
    };
    let steps = match args.ints("steps")? {
        s if s.is_empty() => vec![1; starts.len()],
        s => s,
    };
    if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
        return Err(attr_error("ends", "`starts`, `ends`, `axes` and `steps` must have the same length"));
    }
    let mut plan: Vec<AxisSlice> = x
        .shape
        .0
        .iter()
        .map(|&extent| AxisSlice {
            first: 0,
            count: extent,
            step: 1,
        })
        .collect();
    for (i, &axis) in axes.iter().enumerate() {
        let Some(&extent) = x.shape.0.get(axis) else {
            return Err(attr_error(
                "starts",
                format!("slices {} axes of the rank-{} input {}", starts.len(), x.rank(), x.shape),
            ));
        };
        plan[axis] = axis_slice(extent, starts[i], ends[i], steps[i])?;
    }
    Ok(plan)
}

/// ONNX's clamping: for a positive step, start and end lie in `[0, n]`; for
/// a negative one, start in `[0, n - 1]` and end in `[-1, n - 1]`.
fn axis_slice(extent: u64, start: i64, end: i64, step: i64) -> InferResult<AxisSlice> {
    if step == 0 {
        return Err(attr_error("steps", "`steps` entries must not be 0"));
    }
    let n = extent as i128;
    let resolve = |v: i64| if v < 0 { v as i128 + n } else { v as i128 };
    let (start, end) = (resolve(start), resolve(end));
    let stride = (step as i128).abs();
    let (first, span) = match step > 0 {
        true => {
            let first = start.clamp(0, n);
            (first, end.clamp(0, n) - first)
        }
        false if n == 0 => (0, 0),
        false => {
            let first = start.clamp(0, n - 1);
            (first, first - end.clamp(-1, n - 1))
        }
    };
    let count = if span > 0 { (span + stride - 1) / stride } else { 0 };
    Ok(AxisSlice {
        first: first as u64,
        count: count as u64,
        step,
    })
}

/// Drops size-1 `axes` (all size-1 axes when empty).
pub fn squeeze(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let x = args.input(0)?;
    let axes = normalize_axes(&args.ints("axes")?, x.rank(), "axes")?;
    if let Some(&bad) = axes.iter().find(|&&a| x.shape.0[a] != 1) {
        return Err(attr_error(
            "axes",
            format!("axis {bad} of {} has size {}, not 1", x.shape, x.shape.0[bad]),
        ));
    }
    let dims = x
        .shape
        .0
        .iter()
        .enumerate()
        .filter(|&(a, &d)| if axes.is_empty() { d != 1 } else { !axes.contains(&a) })
        .map(|(_, &d)| d);
    Ok(vec![TensorType::new(x.dtype, dims.collect::<Vec<_>>())])
}

/// Inserts size-1 axes; `axes` index the output.
pub fn unsqueeze(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let x = args.input(0)?;
    let requested = args.ints("axes")?;
    let rank = x.rank() + requested.len();
    let axes = normalize_axes(&requested, rank, "axes")?;
    let mut source = x.shape.0.iter();
    let dims: Vec<u64> = (0..rank)
        .map(|a| {
            if axes.contains(&a) {
                1
            } else {
                source.next().copied().unwrap_or(1)
            }
        })
        .collect();
    Ok(vec![TensorType::new(x.dtype, dims)])
}

/// Broadcasts the input against `shape` (both ways, as ONNX `Expand`).
pub fn expand(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let x = args.input(0)?;
    let target = args
        .ints("shape")?
        .iter()
        .map(|&d| to_dim(d, "shape"))
        .collect::<InferResult<Vec<u64>>>()?;
    let shape = broadcast(&[&x.shape, &Shape(target)]).map_err(|e| attr_error("shape", e.message))?;
    Ok(vec![TensorType { dtype: x.dtype, shape }])
}

/// `[d0..d(axis-1)] x [d(axis)..]` collapsed into two axes.
pub fn flatten(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let x = args.input(0)?;
    let axis = args.int("axis")?;
    let rank = x.rank() as i64;
    let axis = if axis < 0 { axis + rank } else { axis };
    if !(0..=rank).contains(&axis) {
        return Err(attr_error("axis", format!("axis must be in -{rank}..={rank}, found {axis}")));
    }
    let (outer, inner) = x.shape.0.split_at(axis as usize);
    let product = |d: &[u64]| d.iter().try_fold(1u64, |a, &b| a.checked_mul(b));
    let (Some(outer), Some(inner)) = (product(outer), product(inner)) else {
        return Err(shape_error(0, "the input is too large"));
    };
    Ok(vec![TensorType::new(x.dtype, vec![outer, inner])])
}

/// The padding modes of `pad`, as ONNX names them.
pub const PAD_MODES: [&str; 4] = ["constant", "reflect", "edge", "wrap"];

/// ONNX `Pad`: `pads` holds every begin, then every end, for `axes` (all
/// axes when empty); negative pads crop.
pub fn pad(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let x = args.input(0)?;
    let mode = one_of(args, "mode", &PAD_MODES)?;
    args.float("value")?;
    let widths = pad_widths(args, x)?;
    let mut dims = Vec::with_capacity(x.rank());
    for (axis, (&extent, &(begin, end))) in x.shape.0.iter().zip(&widths).enumerate() {
        let padded = extent as i128 + begin as i128 + end as i128;
        if padded < 0 {
            return Err(attr_error(
                "pads",
                format!("pads {begin} and {end} remove more than the {extent} entries of axis {axis}"),
            ));
        }
        if mode != "constant" && extent == 0 && padded > 0 {
            return Err(attr_error(
                "mode",
                format!(
                    "`{mode}` padding copies entries of the input, but axis {axis} of {} is empty",
                    x.shape
                ),
            ));
        }
        dims.push(u64::try_from(padded).map_err(|_| attr_error("pads", "the padded tensor is too large"))?);
    }
    Ok(vec![TensorType::new(x.dtype, dims)])
}

/// The (begin, end) pads of every axis of `x`.
pub fn pad_widths(args: &Args<'_>, x: &TensorType) -> InferResult<Vec<(i64, i64)>> {
    let pads = args.ints("pads")?;
    let axes = match args.ints("axes")? {
        a if a.is_empty() => (0..x.rank()).collect(),
        a => normalize_axes(&a, x.rank(), "axes")?,
    };
    if pads.len() != 2 * axes.len() {
        return Err(attr_error(
            "pads",
            format!(
                "`pads` has {} entries, but padding {} axes of {} takes {}: every begin, then every end",
                pads.len(),
                axes.len(),
                x.shape,
                2 * axes.len()
            ),
        ));
    }
    let mut widths = vec![(0, 0); x.rank()];
    for (i, &axis) in axes.iter().enumerate() {
        widths[axis] = (pads[i], pads[i + axes.len()]);
    }
    Ok(widths)
}

/// `repeats[i]` copies of the input along axis i (ONNX `Tile`).
pub fn tile(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let x = args.input(0)?;
    let repeats = args.ints("repeats")?;
    if repeats.len() != x.rank() {
        return Err(attr_error(
            "repeats",
            format!(
                "`repeats` has {} entries but the input {} has rank {}",
                repeats.len(),
                x.shape,
                x.rank()
            ),
        ));
    }
    let mut dims = Vec::with_capacity(x.rank());
    for (&extent, &r) in x.shape.0.iter().zip(&repeats) {
        let tiled = extent
            .checked_mul(to_dim(r, "repeats")?)
            .ok_or_else(|| attr_error("repeats", "the tiled tensor is too large"))?;
        dims.push(tiled);
    }
    Ok(vec![TensorType::new(x.dtype, dims)])
}

/// `[N, C, H, W]` to `[N, C / b², H * b, W * b]` for blocksize b.
pub fn depth_to_space(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let x = args.input(0)?;
    let (block, _) = block_args(args)?;
    let [n, c, h, w] = nchw(x)?;
    let area = block * block;
    if c % area != 0 {
        return Err(shape_error(
            0,
            format!("{c} channels of {} do not divide by blocksize² = {area}", x.shape),
        ));
    }
    let too_large = || shape_error(0, "the output is too large");
    let (h, w) = (
        h.checked_mul(block).ok_or_else(too_large)?,
        w.checked_mul(block).ok_or_else(too_large)?,
    );
    Ok(vec![TensorType::new(x.dtype, vec![n, c / area, h, w])])
}

/// `[N, C, H, W]` to `[N, C * b², H / b, W / b]` for blocksize b.
pub fn space_to_depth(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let x = args.input(0)?;
    let (block, _) = block_args(args)?;
    let [n, c, h, w] = nchw(x)?;
    if h % block != 0 || w % block != 0 {
        return Err(shape_error(
            0,
            format!("height {h} and width {w} of {} must divide by the blocksize {block}", x.shape),
        ));
    }
    let c = c
        .checked_mul(block * block)
        .ok_or_else(|| shape_error(0, "the output is too large"))?;
    Ok(vec![TensorType::new(x.dtype, vec![n, c, h / block, w / block])])
}

/// Whether `depth_to_space`/`space_to_depth` order channels depth-column-row
/// (ONNX's `DCR`) or column-row-depth (`CRD`, PyTorch's `pixel_shuffle`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockOrder {
    Dcr,
    Crd,
}

/// The blocksize (at least 1, small enough to square) and the channel order.
pub fn block_args(args: &Args<'_>) -> InferResult<(u64, BlockOrder)> {
    let block = args.int("blocksize")?;
    let block = u64::try_from(block)
        .ok()
        .filter(|b| (1..=u32::MAX as u64).contains(b))
        .ok_or_else(|| attr_error("blocksize", format!("`blocksize` must be positive, found {block}")))?;
    let order = match one_of(args, "mode", &["DCR", "CRD"])? {
        "DCR" => BlockOrder::Dcr,
        _ => BlockOrder::Crd,
    };
    Ok((block, order))
}

fn nchw(x: &TensorType) -> InferResult<[u64; 4]> {
    match x.shape.dims() {
        &[n, c, h, w] => Ok([n, c, h, w]),
        _ => Err(shape_error(0, format!("expects an [N, C, H, W] input, found {}", x.shape))),
    }
}

/// The `mode`s of `resize`.
pub const RESIZE_MODES: [&str; 3] = ["nearest", "linear", "cubic"];
/// How `resize` maps an output coordinate to an input one (ONNX's
/// `coordinate_transformation_mode`; `tf_half_pixel_for_nn` is opset 11's).
pub const COORDINATE_MODES: [&str; 7] = [
    "half_pixel",
    "half_pixel_symmetric",
    "pytorch_half_pixel",
    "align_corners",
    "asymmetric",
    "tf_crop_and_resize",
    "tf_half_pixel_for_nn",
];
/// How `nearest` rounds a coordinate half-way between two inputs.
pub const NEAREST_MODES: [&str; 4] = ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"];

/// ONNX `Resize` on any rank: exactly one of `scales` and `sizes`, one
/// entry per entry of `axes` (all axes when empty).
pub fn resize(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let x = args.input(0)?;
    if x.dtype == DType::Bool {
        return Err(dtype_error(0, "`resize` interpolates numbers, found a bool tensor"));
    }
    let plan = resize_plan(args, x)?;
    Ok(vec![TensorType::new(x.dtype, plan.dims)])
}

/// The output extents of `resize` and what each resized axis does.
#[derive(Clone, Debug, PartialEq)]
pub struct ResizePlan {
    pub dims: Vec<u64>,
    pub axes: Vec<ResizeAxis>,
}

/// One axis `resize` works on: its scale factor and region of interest
/// (fractions of the input; used by `tf_crop_and_resize` only).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ResizeAxis {
    pub axis: usize,
    pub scale: f64,
    pub roi: (f64, f64),
}

pub fn resize_plan(args: &Args<'_>, x: &TensorType) -> InferResult<ResizePlan> {
    let mode = one_of(args, "mode", &RESIZE_MODES)?;
    let coordinates = one_of(args, "coordinate_transformation_mode", &COORDINATE_MODES)?;
    one_of(args, "nearest_mode", &NEAREST_MODES)?;
    let policy = one_of(args, "keep_aspect_ratio_policy", &["stretch", "not_larger", "not_smaller"])?;
    args.float("cubic_coeff_a")?;
    args.float("extrapolation_value")?;
    args.bool("exclude_outside")?;
    if args.bool("antialias")? && mode == "nearest" {
        return Err(attr_error(
            "antialias",
            "`antialias` applies to `linear` and `cubic`, not `nearest`",
        ));
    }
    let axes = match args.ints("axes")? {
        a if a.is_empty() => (0..x.rank()).collect(),
        a => normalize_axes(&a, x.rank(), "axes")?,
    };
    let (scales, sizes) = (attr_floats(args, "scales")?, args.ints("sizes")?);
    let (given, count) = match (scales.is_empty(), sizes.is_empty()) {
        (false, true) => ("scales", scales.len()),
        (true, false) => ("sizes", sizes.len()),
        (false, false) => return Err(attr_error("sizes", "give `scales` or `sizes`, not both")),
        (true, true) => return Err(attr_error("scales", "`resize` needs `scales` or `sizes`")),
    };
    if count != axes.len() {
        return Err(attr_error(
            given,
            format!("`{given}` has {count} entries for the {} resized axes of {}", axes.len(), x.shape),
        ));
    }
    if let Some(&axis) = axes.iter().find(|&&a| x.shape.0[a] == 0) {
        return Err(shape_error(0, format!("cannot resize axis {axis} of {}: it is empty", x.shape)));
    }
    let mut dims = x.shape.0.clone();
    let mut resized: Vec<ResizeAxis> = axes
        .iter()
        .map(|&axis| ResizeAxis {
            axis,
            scale: 1.0,
            roi: (0.0, 1.0),
        })
        .collect();
    match given {
        "scales" => {
            for (plan, &scale) in resized.iter_mut().zip(&scales) {
                if !(scale.is_finite() && scale > 0.0) {
                    return Err(attr_error("scales", format!("`scales` must be positive, found {scale}")));
                }
                plan.scale = scale;
                dims[plan.axis] = extent_from(dims[plan.axis] as f64 * scale)?;
            }
        }
        _ => {
            let sizes = sizes.iter().map(|&s| to_dim(s, "sizes")).collect::<InferResult<Vec<u64>>>()?;
            let ratio = |plan: &ResizeAxis, size: u64| size as f64 / x.shape.0[plan.axis] as f64;
            let ratios = resized.iter().zip(&sizes).map(|(plan, &size)| ratio(plan, size));
            let shared = match policy {
                "not_larger" => Some(ratios.fold(f64::INFINITY, f64::min)),
                "not_smaller" => Some(ratios.fold(0.0, f64::max)),
                _ => None,
            };
            for (plan, &size) in resized.iter_mut().zip(&sizes) {
                let extent = x.shape.0[plan.axis];
                (plan.scale, dims[plan.axis]) = match shared {
                    // ONNX rounds half up here.
                    Some(scale) => (scale, extent_from((scale * extent as f64 + 0.5).floor())?),
                    None => (size as f64 / extent as f64, size),
                };
            }
        }
    }
    let roi = attr_floats(args, "roi")?;
    if coordinates == "tf_crop_and_resize" && !roi.is_empty() {
        if roi.len() != 2 * axes.len() {
            return Err(attr_error(
                "roi",
                format!(
                    "`roi` has {} entries; it needs every start, then every end, of the {} resized axes",
                    roi.len(),
                    axes.len()
                ),
            ));
        }
        for (i, plan) in resized.iter_mut().enumerate() {
            plan.roi = (roi[i], roi[i + axes.len()]);
        }
    }
    Ok(ResizePlan { dims, axes: resized })
}

/// An output extent computed in floating point (truncated, as ONNX does).
fn extent_from(value: f64) -> InferResult<u64> {
    match value.is_finite() && value < (1u64 << 53) as f64 {
        true => Ok(value as u64),
        false => Err(attr_error("scales", "the resized tensor is too large")),
    }
}

/// A multiply-add per tap per interpolated axis per output element: 2 taps
/// per axis for `linear`, 4 for `cubic` (more with `antialias` when
/// shrinking; not counted), none for `nearest`.
fn resize_flops(args: &Args<'_>, outputs: &[TensorType]) -> u128 {
    let taps = match args.attrs.get("mode").and_then(|m| m.as_str()) {
        Some("linear") => 2,
        Some("cubic") => 4,
        _ => 0,
    };
    let axes = match args.inputs.first().map(|x| resize_plan(args, x)) {
        Some(Ok(plan)) => plan.axes.len() as u128,
        _ => 0,
    };
    outputs.first().map_or(0, elements) * 2 * taps * axes
}

/// ONNX `Trilu`: keeps the upper (or lower) triangle of the last two axes
/// from diagonal `k` on.
pub fn trilu(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let x = args.input(0)?;
    args.bool("upper")?;
    args.int("k")?;
    if x.rank() < 2 {
        return Err(shape_error(0, format!("expects a matrix or a batch of them, found {}", x.shape)));
    }
    Ok(vec![x.clone()])
}

/// Flips `axes` (all of them when empty), as `torch.flip` and `numpy.flip`.
pub fn reverse(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let x = args.input(0)?;
    reversed_axes(args, x.rank())?;
    Ok(vec![x.clone()])
}

/// The axes `reverse` flips.
pub fn reversed_axes(args: &Args<'_>, rank: usize) -> InferResult<Vec<usize>> {
    match args.ints("axes")? {
        a if a.is_empty() => Ok((0..rank).collect()),
        a => normalize_axes(&a, rank, "axes"),
    }
}

/// ONNX `ReverseSequence`: reverses the first `sequence_lens[b]` entries
/// along `time_axis` of each batch entry b along `batch_axis`.
pub fn reverse_sequence(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let (x, lens) = (args.input(0)?, args.input(1)?);
    integer_input(args, 1, "sequence_lens")?;
    let (batch, _) = sequence_axes(args, x.rank())?;
    if lens.shape.dims() != [x.shape.0[batch]] {
        return Err(shape_error(
            1,
            format!(
                "sequence_lens must be [{}] (axis {batch} of {}), found {}",
                x.shape.0[batch], x.shape, lens.shape
            ),
        ));
    }
    Ok(vec![x.clone()])
}

/// The resolved (batch, time) axes of `reverse_sequence`.
pub fn sequence_axes(args: &Args<'_>, rank: usize) -> InferResult<(usize, usize)> {
    let batch = normalize_axis(args.int("batch_axis")?, rank, "batch_axis")?;
    let time = normalize_axis(args.int("time_axis")?, rank, "time_axis")?;
    match batch == time {
        true => Err(attr_error(
            "time_axis",
            format!("`batch_axis` and `time_axis` are both axis {batch}"),
        )),
        false => Ok((batch, time)),
    }
}

/// `torch.roll`: entries move `shifts[i]` places along `axes[i]`, wrapping
/// around; with no `axes`, over the flattened tensor (one shift).
pub fn roll(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let x = args.input(0)?;
    roll_shifts(args, x.rank())?;
    Ok(vec![x.clone()])
}

/// (axis, shift) pairs of `roll`; `None` as the axis means the flattened tensor.
pub fn roll_shifts(args: &Args<'_>, rank: usize) -> InferResult<Vec<(Option<usize>, i64)>> {
    let shifts = args.ints("shifts")?;
    let axes = args.ints("axes")?;
    if axes.is_empty() {
        return match shifts.as_slice() {
            &[shift] => Ok(vec![(None, shift)]),
            _ => Err(attr_error(
                "shifts",
                "without `axes`, `roll` takes one shift (of the flattened tensor)",
            )),
        };
    }
    if shifts.len() != axes.len() {
        return Err(attr_error(
            "shifts",
            format!("`shifts` has {} entries but `axes` has {}", shifts.len(), axes.len()),
        ));
    }
    let axes = normalize_axes(&axes, rank, "axes")?;
    Ok(axes.into_iter().map(Some).zip(shifts).collect())
}

/// `torch.stack`: inputs of one type joined along a new `axis`.
pub fn stack(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let first = args.input(0)?;
    let indices: Vec<usize> = (0..args.inputs.len()).collect();
    let dtype = same_dtype(args, &indices)?;
    if let Some((index, other)) = args.inputs.iter().enumerate().find(|(_, t)| t.shape != first.shape) {
        return Err(shape_error(
            index,
            format!("`stack` needs inputs of one shape: {} differs from {}", other.shape, first.shape),
        ));
    }
    let axis = normalize_axis(args.int("axis")?, first.rank() + 1, "axis")?;
    let mut dims = first.shape.0.clone();
    dims.insert(axis, args.inputs.len() as u64);
    Ok(vec![TensorType::new(dtype, dims)])
}

/// ONNX `Shape`: the input's extents from axis `start` to `end` (exclusive;
/// both clamped to the rank) as a 1-d i64 tensor.
pub fn shape(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let x = args.input(0)?;
    let (start, end) = shape_window(args, x.rank())?;
    Ok(vec![TensorType::new(DType::I64, vec![(end - start) as u64])])
}

/// The axes `shape` reports, as a `start..end` range.
pub fn shape_window(args: &Args<'_>, rank: usize) -> InferResult<(usize, usize)> {
    let rank_i = rank as i128;
    let clamp = |v: i64| {
        let v = if v < 0 { v as i128 + rank_i } else { v as i128 };
        v.clamp(0, rank_i) as usize
    };
    let (start, end) = (clamp(args.int("start")?), clamp(args.int("end")?));
    Ok((start, end.max(start)))
}

/// ONNX `Size`: the element count as an i64 scalar.
pub fn size(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let x = args.input(0)?;
    if x.numel().is_none_or(|n| n > i64::MAX as u64) {
        return Err(shape_error(0, "the input has more elements than an i64 holds"));
    }
    Ok(vec![TensorType::new(DType::I64, Shape::scalar())])
}

/// ONNX `Range`: `start`, `start + delta`, ... up to `limit` (exclusive),
/// `max(ceil((limit - start) / delta), 0)` entries of `dtype`.
pub fn range(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let dtype = dtype_attr(args, "dtype")?;
    if dtype == DType::Bool {
        return Err(attr_error("dtype", "`range` makes numbers, not bools"));
    }
    let count = range_len(args.float("start")?, args.float("limit")?, args.float("delta")?)?;
    Ok(vec![TensorType::new(dtype, vec![count])])
}

fn range_len(start: f64, limit: f64, delta: f64) -> InferResult<u64> {
    if delta == 0.0 {
        return Err(attr_error("delta", "`delta` must not be 0"));
    }
    let count = ((limit - start) / delta).ceil().max(0.0);
    match count.is_finite() && count <= (1u64 << 53) as f64 {
        true => Ok(count as u64),
        false => Err(attr_error(
            "limit",
            format!("a range from {start} to {limit} by {delta} has too many entries"),
        )),
    }
}

/// ONNX `EyeLike`: ones on diagonal `k` of a matrix shaped like the input,
/// of `dtype` (the input's when empty).
pub fn eye_like(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let x = args.input(0)?;
    args.int("k")?;
    if x.rank() != 2 {
        return Err(shape_error(0, format!("expects a matrix, found {}", x.shape)));
    }
    let dtype = match args.string("dtype")?.is_empty() {
        true => x.dtype,
        false => dtype_attr(args, "dtype")?,
    };
    Ok(vec![TensorType::new(dtype, x.shape.clone())])
}

/// A string attribute that must be one of `allowed`.
pub fn one_of<'a>(args: &Args<'_>, name: &str, allowed: &[&'a str]) -> InferResult<&'a str> {
    let value = args.string(name)?;
    allowed.iter().copied().find(|a| *a == value).ok_or_else(|| {
        let listed: Vec<String> = allowed.iter().map(|a| format!("\"{a}\"")).collect();
        attr_error(name, format!("`{name}` must be one of {}, not {value:?}", listed.join(", ")))
    })
}

/// A list-of-floats attribute.
pub fn attr_floats(args: &Args<'_>, name: &str) -> InferResult<Vec<f64>> {
    let attr = args
        .attrs
        .get(name)
        .ok_or_else(|| attr_error(name, format!("missing attribute `{name}`")))?;
    attr.as_floats()
        .ok_or_else(|| attr_error(name, format!("attribute `{name}` must be a list of floats")))
}

/// A dtype named by a string attribute.
pub fn dtype_attr(args: &Args<'_>, name: &str) -> InferResult<DType> {
    let text = args.string(name)?;
    text.parse().map_err(|()| {
        let names: Vec<&str> = DType::ALL.iter().map(|d| d.name()).collect();
        attr_error(name, format!("{text:?} is not a dtype; the dtypes are {}", names.join(", ")))
    })
}

/// Reads what it writes: the selected entries, then the output.
pub fn copies_its_output(_: &Args<'_>, outputs: &[TensorType]) -> u128 {
    2 * outputs.iter().map(bytes).sum::<u128>()
}

/// Reads no input data (only the shape), writes the outputs.
pub fn writes_only(_: &Args<'_>, outputs: &[TensorType]) -> u128 {
    outputs.iter().map(bytes).sum()
}

#[cfg(test)]
mod tests {
    use opfuse_ir::{Attr, DType};

    use super::*;
    use crate::rules::InferFn;
    use crate::testing::{infer_rule, ints};

    /// The output types of `rule` as text, or its error message.
    fn check(rule: InferFn, attrs: &[(&str, Attr)], inputs: &[(DType, &[u64])]) -> String {
        infer_rule(rule, attrs, inputs).unwrap_or_else(|e| e)
    }

    fn text(s: &str) -> Attr {
        Attr::Str(s.to_string())
    }

    fn floats(values: &[f64]) -> Attr {
        Attr::List(values.iter().map(|&v| Attr::Float(v)).collect())
    }

    use DType::{F32, I64};

    #[test]
    fn slices_follow_onnx_clamping() {
        let extent = |e, s, t, step| axis_slice(e, s, t, step).map(|a| (a.first, a.count)).unwrap();
        assert_eq!(extent(10, 0, 5, 1), (0, 5));
        assert_eq!(extent(10, -3, i64::MAX, 1), (7, 3));
        assert_eq!(extent(10, 0, 10, 3), (0, 4));
        assert_eq!(extent(10, -1, i64::MIN, -1), (9, 10));
        assert_eq!(extent(10, 20, -100, -3), (9, 4));
        assert_eq!(extent(10, 8, 2, 1), (8, 0));
        assert_eq!(extent(0, 0, 1, 1), (0, 0));
        assert_eq!(extent(0, -1, i64::MIN, -1), (0, 0));
        assert!(axis_slice(4, 0, 4, 0).is_err());
    }

    #[test]
    fn reshape_copies_zeros_unless_allowzero() {
        let no = ("allowzero", Attr::Bool(false));
        let yes = ("allowzero", Attr::Bool(true));
        assert_eq!(
            check(reshape, &[("shape", ints(&[0, -1])), no.clone()], &[(F32, &[2, 3, 4])]),
            "f32[2, 12]"
        );
        assert_eq!(
            check(reshape, &[("shape", ints(&[0, 4])), yes.clone()], &[(F32, &[0, 3])]),
            "f32[0, 4]"
        );
        assert_eq!(
            check(reshape, &[("shape", ints(&[0, -1])), yes], &[(F32, &[2])]),
            "with `allowzero`, `shape` cannot hold both 0 and -1"
        );
        assert!(check(reshape, &[("shape", ints(&[2, 0, 0])), no], &[(F32, &[2, 1])]).starts_with("entry 2 of `shape` is 0"));
    }

    #[test]
    fn split_by_sizes_or_count() {
        let by = |sizes: &[i64], n: i64, dims: &[u64]| {
            check(
                split,
                &[("axis", Attr::Int(0)), ("sizes", ints(sizes)), ("num_outputs", Attr::Int(n))],
                &[(F32, dims)],
            )
        };
        assert_eq!(by(&[], 3, &[7]), "f32[3], f32[3], f32[1]");
        assert_eq!(by(&[], 2, &[6]), "f32[3], f32[3]");
        assert_eq!(by(&[2, 4], 0, &[6]), "f32[2], f32[4]");
        assert_eq!(by(&[], 4, &[5]), "axis 0 of [5] (5 entries) does not split into 4 pieces of 2");
        assert_eq!(by(&[3, 3], 2, &[6]), "f32[3], f32[3]");
        assert_eq!(by(&[3, 3], 3, &[6]), "`num_outputs` is 3 but `sizes` lists 2 pieces");
        assert!(by(&[], 0, &[6]).starts_with("`split` needs `sizes`"));
        assert_eq!(
            by(&[i64::MAX, i64::MAX, 4], 0, &[6]),
            "`sizes` add up to more than 2^64 but axis 0 of [6] is 6"
        );
    }

    #[test]
    fn pad_tile_and_blocks() {
        let pad_with = |pads: &[i64], mode: &str, dims: &[u64]| {
            check(
                pad,
                &[
                    ("pads", ints(pads)),
                    ("mode", text(mode)),
                    ("value", Attr::Float(0.0)),
                    ("axes", ints(&[])),
                ],
                &[(F32, dims)],
            )
        };
        assert_eq!(pad_with(&[1, 0, 2, -1], "constant", &[2, 3]), "f32[5, 2]");
        assert_eq!(
            pad_with(&[0, 0, -3, 0], "constant", &[2, 3]),
            "pads 0 and -3 remove more than the 2 entries of axis 0"
        );
        assert!(pad_with(&[1, 1], "edge", &[0]).contains("axis 0 of [0] is empty"));
        assert!(pad_with(&[1], "constant", &[3]).starts_with("`pads` has 1 entries"));
        assert!(pad_with(&[1, 1], "mirror", &[3]).starts_with("`mode` must be one of"));
        assert_eq!(check(tile, &[("repeats", ints(&[2, 3]))], &[(F32, &[1, 2])]), "f32[2, 6]");
        assert_eq!(
            check(tile, &[("repeats", ints(&[i64::MAX]))], &[(F32, &[4])]),
            "the tiled tensor is too large"
        );
        let block = |b: i64| [("blocksize", Attr::Int(b)), ("mode", text("DCR"))];
        assert_eq!(check(depth_to_space, &block(2), &[(F32, &[1, 8, 2, 3])]), "f32[1, 2, 4, 6]");
        assert_eq!(check(space_to_depth, &block(2), &[(F32, &[1, 2, 4, 6])]), "f32[1, 8, 2, 3]");
        assert!(check(depth_to_space, &block(2), &[(F32, &[1, 6, 2, 3])]).starts_with("6 channels"));
        assert!(check(space_to_depth, &block(0), &[(F32, &[1, 2, 4, 6])]).starts_with("`blocksize` must be positive"));
        assert!(check(space_to_depth, &block(2), &[(F32, &[2, 4, 6])]).starts_with("expects an [N, C, H, W] input"));
    }

    fn resize_attrs(scales: &[f64], sizes: &[i64], policy: &str) -> Vec<(&'static str, Attr)> {
        vec![
            ("mode", text("linear")),
            ("coordinate_transformation_mode", text("half_pixel")),
            ("nearest_mode", text("round_prefer_floor")),
            ("keep_aspect_ratio_policy", text(policy)),
            ("cubic_coeff_a", Attr::Float(-0.75)),
            ("extrapolation_value", Attr::Float(0.0)),
            ("exclude_outside", Attr::Bool(false)),
            ("antialias", Attr::Bool(false)),
            ("axes", ints(&[])),
            ("scales", floats(scales)),
            ("sizes", ints(sizes)),
            ("roi", floats(&[])),
        ]
    }

    #[test]
    fn resize_sizes_follow_onnx() {
        let x: &[(DType, &[u64])] = &[(F32, &[1, 1, 4, 4])];
        assert_eq!(
            check(resize, &resize_attrs(&[1.0, 1.0, 0.6, 0.6], &[], "stretch"), x),
            "f32[1, 1, 2, 2]"
        );
        assert_eq!(check(resize, &resize_attrs(&[], &[1, 1, 3, 9], "stretch"), x), "f32[1, 1, 3, 9]");
        // not_larger: scale min(3/4, 9/4) = 0.75 on both axes, 4 * 0.75 = 3.
        assert_eq!(check(resize, &resize_attrs(&[], &[1, 1, 3, 9], "not_larger"), x), "f32[1, 1, 3, 3]");
        // not_smaller: scale 9/4 on every resized axis, the batch axes too.
        let larger = check(resize, &resize_attrs(&[], &[1, 1, 3, 9], "not_smaller"), x);
        assert_eq!(larger, "f32[2, 2, 9, 9]");
        let mut spatial = resize_attrs(&[], &[3, 9], "not_smaller");
        spatial[8].1 = ints(&[2, 3]);
        assert_eq!(check(resize, &spatial, x), "f32[1, 1, 9, 9]");
        assert_eq!(
            check(resize, &resize_attrs(&[2.0], &[], "stretch"), x),
            "`scales` has 1 entries for the 4 resized axes of [1, 1, 4, 4]"
        );
        assert_eq!(
            check(resize, &resize_attrs(&[], &[], "stretch"), x),
            "`resize` needs `scales` or `sizes`"
        );
        assert_eq!(
            check(resize, &resize_attrs(&[1.0, 1.0, -1.0, 1.0], &[], "stretch"), x),
            "`scales` must be positive, found -1"
        );
        let mut nearest = resize_attrs(&[1.0, 1.0, 2.0, 2.0], &[], "stretch");
        nearest[0].1 = text("nearest");
        nearest[7].1 = Attr::Bool(true);
        assert_eq!(
            check(resize, &nearest, x),
            "`antialias` applies to `linear` and `cubic`, not `nearest`"
        );
    }

    #[test]
    fn shape_size_range_and_friends() {
        let window = |start: i64, end: i64| check(shape, &[("start", Attr::Int(start)), ("end", Attr::Int(end))], &[(F32, &[2, 3, 4])]);
        assert_eq!(window(0, i64::MAX), "i64[3]");
        assert_eq!(window(-1, i64::MAX), "i64[1]");
        assert_eq!(window(1, -1), "i64[1]");
        assert_eq!(window(-10, 10), "i64[3]");
        assert_eq!(window(2, 1), "i64[0]");
        assert_eq!(check(size, &[], &[(F32, &[2, 3])]), "i64[]");
        let span = |start: f64, limit: f64, delta: f64| {
            check(
                range,
                &[
                    ("start", Attr::Float(start)),
                    ("limit", Attr::Float(limit)),
                    ("delta", Attr::Float(delta)),
                    ("dtype", text("i32")),
                ],
                &[],
            )
        };
        assert_eq!(span(3.0, 9.0, 3.0), "i32[2]");
        assert_eq!(span(10.0, 4.0, -2.0), "i32[3]");
        assert_eq!(span(0.0, 1.0, 0.3), "i32[4]");
        assert_eq!(span(5.0, 1.0, 1.0), "i32[0]");
        assert_eq!(span(0.0, 1.0, 0.0), "`delta` must not be 0");
        let eye = |dtype: &str, dims: &[u64]| check(eye_like, &[("k", Attr::Int(1)), ("dtype", text(dtype))], &[(I64, dims)]);
        assert_eq!(eye("", &[2, 3]), "i64[2, 3]");
        assert_eq!(eye("f16", &[2, 3]), "f16[2, 3]");
        assert_eq!(eye("", &[3]), "expects a matrix, found [3]");
        assert!(eye("float", &[2, 2]).starts_with("\"float\" is not a dtype"));
    }

    #[test]
    fn stack_roll_reverse_sequence_trilu() {
        let two: &[(DType, &[u64])] = &[(F32, &[2, 3]), (F32, &[2, 3])];
        assert_eq!(check(stack, &[("axis", Attr::Int(-1))], two), "f32[2, 3, 2]");
        assert_eq!(check(stack, &[("axis", Attr::Int(3))], two), "axis 3 is out of range for rank 3");
        assert!(check(stack, &[("axis", Attr::Int(0))], &[(F32, &[2, 3]), (F32, &[3, 2])]).starts_with("`stack` needs inputs of one shape"));
        let rolled = |shifts: &[i64], axes: &[i64]| check(roll, &[("shifts", ints(shifts)), ("axes", ints(axes))], &[(F32, &[2, 3])]);
        assert_eq!(rolled(&[1], &[]), "f32[2, 3]");
        assert_eq!(
            rolled(&[1, 2], &[]),
            "without `axes`, `roll` takes one shift (of the flattened tensor)"
        );
        assert_eq!(rolled(&[1], &[0, 1]), "`shifts` has 1 entries but `axes` has 2");
        let sequences = |lens: &[u64], time: i64| {
            check(
                reverse_sequence,
                &[("batch_axis", Attr::Int(1)), ("time_axis", Attr::Int(time))],
                &[(F32, &[4, 3]), (I64, lens)],
            )
        };
        assert_eq!(sequences(&[3], 0), "f32[4, 3]");
        assert_eq!(sequences(&[4], 0), "sequence_lens must be [3] (axis 1 of [4, 3]), found [4]");
        assert_eq!(sequences(&[3], 1), "`batch_axis` and `time_axis` are both axis 1");
        let tri = [("upper", Attr::Bool(true)), ("k", Attr::Int(0))];
        assert_eq!(check(trilu, &tri, &[(F32, &[5])]), "expects a matrix or a batch of them, found [5]");
    }
}
