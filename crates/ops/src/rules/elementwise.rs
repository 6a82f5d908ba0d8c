//! Elementwise operators: unary maps and activations, binary and variadic
//! arithmetic with broadcasting, comparisons, logical and bitwise ops,
//! `where`, casts and scalar constants.
//!
//! Dtype rules follow ONNX's type constraints: transcendental maps take
//! floats, arithmetic takes any number (not bool), logical ops take bools,
//! bitwise ops integers; comparisons and predicates give bools.

use opfuse_ir::{Attr, DType, Shape, TensorType};

use super::broadcast::broadcast;
use super::elements;
use crate::args::{attr_error, dtype_error, same_dtype, shape_error, Args, InferResult};
use crate::code::{op, OpCode};

/// Shape rules and FLOP formulas of this family, by catalog name. FLOPs
/// per element count the operations of the formula in the catalog summary,
/// a transcendental (exp, erf, tanh...) as one.
#[rustfmt::skip]
pub const RULES: &[(&str, OpCode)] = &[
    // Unary maps over any number.
    ("neg", op(unary_numeric, per_element::<1>)),
    ("abs", op(unary_numeric, per_element::<1>)),
    ("relu", op(unary_numeric, per_element::<1>)),
    ("sign", op(unary_numeric, per_element::<1>)),
    ("shrink", op(shrink, per_element::<2>)),
    ("clip", op(clip, per_element::<2>)),
    ("identity", op(unary, super::no_flops)),
    // Unary maps over floats.
    ("exp", op(unary_float, per_element::<1>)),
    ("log", op(unary_float, per_element::<1>)),
    ("sqrt", op(unary_float, per_element::<1>)),
    ("rsqrt", op(unary_float, per_element::<2>)),
    ("reciprocal", op(unary_float, per_element::<1>)),
    ("floor", op(unary_float, per_element::<1>)),
    ("ceil", op(unary_float, per_element::<1>)),
    ("round", op(unary_float, per_element::<1>)),
    ("erf", op(unary_float, per_element::<1>)),
    ("sin", op(unary_float, per_element::<1>)),
    ("cos", op(unary_float, per_element::<1>)),
    ("tan", op(unary_float, per_element::<1>)),
    ("asin", op(unary_float, per_element::<1>)),
    ("acos", op(unary_float, per_element::<1>)),
    ("atan", op(unary_float, per_element::<1>)),
    ("sinh", op(unary_float, per_element::<1>)),
    ("cosh", op(unary_float, per_element::<1>)),
    ("tanh", op(unary_float, per_element::<1>)),
    ("asinh", op(unary_float, per_element::<1>)),
    ("acosh", op(unary_float, per_element::<1>)),
    ("atanh", op(unary_float, per_element::<1>)),
    // Activations.
    ("sigmoid", op(unary_float, per_element::<3>)),
    ("silu", op(unary_float, per_element::<4>)),
    ("swish", op(activation, per_element::<5>)),
    ("gelu", op(gelu, gelu_flops)),
    ("softplus", op(unary_float, per_element::<3>)),
    ("softsign", op(unary_float, per_element::<3>)),
    ("mish", op(unary_float, per_element::<5>)),
    ("hard_sigmoid", op(activation, per_element::<4>)),
    ("hard_swish", op(unary_float, per_element::<5>)),
    ("leaky_relu", op(activation, per_element::<2>)),
    ("elu", op(activation, per_element::<4>)),
    ("selu", op(activation, per_element::<5>)),
    ("celu", op(celu, per_element::<6>)),
    ("thresholded_relu", op(activation, per_element::<1>)),
    ("prelu", op(prelu, per_element::<2>)),
    // Float predicates.
    ("is_nan", op(float_predicate, per_element::<1>)),
    ("is_inf", op(float_predicate, per_element::<1>)),
    // Binary arithmetic, broadcasting.
    ("add", op(binary_numeric, per_element::<1>)),
    ("sub", op(binary_numeric, per_element::<1>)),
    ("mul", op(binary_numeric, per_element::<1>)),
    ("div", op(binary_numeric, per_element::<1>)),
    ("mod", op(binary_numeric, per_element::<3>)),
    ("pow", op(pow, per_element::<1>)),
    // Variadic, broadcasting: one operation per element and extra input.
    ("max", op(variadic_numeric, fold_flops)),
    ("min", op(variadic_numeric, fold_flops)),
    ("add_n", op(variadic_numeric, fold_flops)),
    ("mean_n", op(variadic_float, mean_flops)),
    // Comparisons, broadcasting, giving bools.
    ("equal", op(equal, per_element::<1>)),
    ("less", op(compare, per_element::<1>)),
    ("greater", op(compare, per_element::<1>)),
    ("less_equal", op(compare, per_element::<1>)),
    ("greater_equal", op(compare, per_element::<1>)),
    // Logical ops on bools.
    ("not", op(logical_not, per_element::<1>)),
    ("and", op(logical, per_element::<1>)),
    ("or", op(logical, per_element::<1>)),
    ("xor", op(logical, per_element::<1>)),
    // Bitwise ops on integers.
    ("bitwise_not", op(unary_integer, per_element::<1>)),
    ("bitwise_and", op(binary_integer, per_element::<1>)),
    ("bitwise_or", op(binary_integer, per_element::<1>)),
    ("bitwise_xor", op(binary_integer, per_element::<1>)),
    ("bit_shift", op(bit_shift, per_element::<1>)),
    // Selection, conversion, constants.
    ("where", op(where_, per_element::<1>)),
    ("cast", op(cast, super::no_flops)),
    ("cast_like", op(cast_like, super::no_flops)),
    ("constant", op(constant, super::no_flops)),
];

/// The dtypes an operand may have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Any,
    /// Every dtype but bool.
    Numeric,
    Float,
    Integer,
    Bool,
}

impl Kind {
    pub fn admits(self, dtype: DType) -> bool {
        match self {
            Kind::Any => true,
            Kind::Numeric => dtype != DType::Bool,
            Kind::Float => dtype.is_float(),
            Kind::Integer => dtype.is_integer(),
            Kind::Bool => dtype == DType::Bool,
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Kind::Any => "a",
            Kind::Numeric => "a numeric",
            Kind::Float => "a float",
            Kind::Integer => "an integer",
            Kind::Bool => "a bool",
        }
    }
}

/// Input `index`, which must have a dtype of `kind`.
pub fn operand<'a>(args: &'a Args<'_>, index: usize, kind: Kind) -> InferResult<&'a TensorType> {
    let x = args.input(index)?;
    if kind.admits(x.dtype) {
        return Ok(x);
    }
    let error = dtype_error(index, format!("expects {} tensor, found {}", kind.noun(), x.dtype));
    Err(match kind {
        Kind::Float => error.with_help(format!("cast it first: `cast(x, to = \"f32\")` (it is {})", x.dtype)),
        _ => error,
    })
}

/// Same type out as in; any dtype.
pub fn unary(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    Ok(vec![operand(args, 0, Kind::Any)?.clone()])
}

/// Same type out as in; any dtype but bool.
pub fn unary_numeric(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    Ok(vec![operand(args, 0, Kind::Numeric)?.clone()])
}

/// Same type out as in; the input must be a float (exp, log, tanh...).
pub fn unary_float(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    Ok(vec![operand(args, 0, Kind::Float)?.clone()])
}

pub fn unary_integer(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    Ok(vec![operand(args, 0, Kind::Integer)?.clone()])
}

/// A float map whose float attributes (`alpha`, `beta`, `gamma`) must be finite.
pub fn activation(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    finite_float_attrs(args)?;
    unary_float(args)
}

/// `celu` divides by `alpha`.
pub fn celu(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    if args.float("alpha")? == 0.0 {
        return Err(attr_error("alpha", "`alpha` of `celu` must not be 0 (the formula divides by it)"));
    }
    activation(args)
}

pub fn gelu(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let approximate = args.string("approximate")?;
    if approximate != "none" && approximate != "tanh" {
        return Err(attr_error(
            "approximate",
            format!("`approximate` must be \"none\" or \"tanh\", not {approximate:?}"),
        ));
    }
    unary_float(args)
}

/// `shrink` takes integers too (ONNX does); `lambd` and `bias` must be finite.
pub fn shrink(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    finite_float_attrs(args)?;
    unary_numeric(args)
}

/// `min` and `max` may be infinite (the defaults) but not NaN.
pub fn clip(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    for name in ["min", "max"] {
        if args.float(name)?.is_nan() {
            return Err(attr_error(name, format!("`{name}` of `clip` must not be NaN")));
        }
    }
    unary_numeric(args)
}

/// `is_nan`, `is_inf`: a bool per element of a float tensor.
pub fn float_predicate(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let x = operand(args, 0, Kind::Float)?;
    Ok(vec![TensorType::new(DType::Bool, x.shape.clone())])
}

pub fn logical_not(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    Ok(vec![operand(args, 0, Kind::Bool)?.clone()])
}

/// `x` with `slope` broadcast to its shape (one slope per channel, or any
/// shape that broadcasts to `x` without growing it).
pub fn prelu(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let x = operand(args, 0, Kind::Numeric)?;
    let slope = operand(args, 1, Kind::Numeric)?;
    same_dtype(args, &[0, 1])?;
    let shape = broadcast(&[&x.shape, &slope.shape])?;
    if shape != x.shape {
        return Err(shape_error(
            1,
            format!(
                "slope {} must broadcast to the shape of x {} without growing it",
                slope.shape, x.shape
            ),
        ));
    }
    Ok(vec![x.clone()])
}

pub fn binary_numeric(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    Ok(vec![broadcast_operands(args, 2, Kind::Numeric)?])
}

pub fn binary_integer(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    Ok(vec![broadcast_operands(args, 2, Kind::Integer)?])
}

/// `max`, `min`, `add_n`: one or more numeric tensors of one dtype.
pub fn variadic_numeric(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    Ok(vec![broadcast_operands(args, args.inputs.len(), Kind::Numeric)?])
}

/// `mean_n` divides, so it takes floats (as ONNX's `Mean` does).
pub fn variadic_float(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    Ok(vec![broadcast_operands(args, args.inputs.len(), Kind::Float)?])
}

/// `base ^ exponent`: the exponent may have another numeric dtype; the
/// result has the base's (as ONNX's `Pow`).
pub fn pow(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let base = operand(args, 0, Kind::Numeric)?;
    let exponent = operand(args, 1, Kind::Numeric)?;
    let shape = broadcast(&[&base.shape, &exponent.shape])?;
    Ok(vec![TensorType { dtype: base.dtype, shape }])
}

/// `equal` compares any dtype, bools included.
pub fn equal(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let ty = broadcast_operands(args, 2, Kind::Any)?;
    Ok(vec![TensorType::new(DType::Bool, ty.shape)])
}

/// Orderings compare numbers.
pub fn compare(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let ty = broadcast_operands(args, 2, Kind::Numeric)?;
    Ok(vec![TensorType::new(DType::Bool, ty.shape)])
}

pub fn logical(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    Ok(vec![broadcast_operands(args, 2, Kind::Bool)?])
}

pub fn bit_shift(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let direction = args.string("direction")?;
    if direction != "LEFT" && direction != "RIGHT" {
        return Err(attr_error(
            "direction",
            format!("`direction` must be \"LEFT\" or \"RIGHT\", not {direction:?}"),
        ));
    }
    binary_integer(args)
}

pub fn where_(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let condition = args.input(0)?;
    if condition.dtype != DType::Bool {
        return Err(dtype_error(0, format!("the condition must be bool, found {}", condition.dtype)));
    }
    let dtype = same_dtype(args, &[1, 2])?;
    let shape = broadcast(&[&condition.shape, &args.input(1)?.shape, &args.input(2)?.shape])?;
    Ok(vec![TensorType { dtype, shape }])
}

pub fn cast(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    args.bool("saturate")?;
    let dtype = dtype_attr(args, "to")?;
    Ok(vec![TensorType {
        dtype,
        shape: args.input(0)?.shape.clone(),
    }])
}

/// `x` converted to the dtype of `like` (whose data is not read).
pub fn cast_like(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    args.bool("saturate")?;
    Ok(vec![TensorType {
        dtype: args.input(1)?.dtype,
        shape: args.input(0)?.shape.clone(),
    }])
}

pub fn constant(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    args.float("value")?;
    Ok(vec![TensorType {
        dtype: dtype_attr(args, "dtype")?,
        shape: Shape::scalar(),
    }])
}

/// The dtype named by string attribute `name`.
pub fn dtype_attr(args: &Args<'_>, name: &str) -> InferResult<DType> {
    let text = args.string(name)?;
    text.parse().map_err(|()| {
        let names: Vec<&str> = DType::ALL.iter().map(|d| d.name()).collect();
        attr_error(name, format!("{text:?} is not a dtype; the dtypes are {}", names.join(", ")))
    })
}

/// `N` FLOPs per element of the first output.
pub fn per_element<const N: u128>(_: &Args<'_>, outputs: &[TensorType]) -> u128 {
    N.saturating_mul(outputs.first().map(elements).unwrap_or(0))
}

/// The erf form: scale, erf, add, two multiplies (5); the tanh form: a
/// cube, a multiply-add, a scale, tanh, add, two multiplies (9).
fn gelu_flops(args: &Args<'_>, outputs: &[TensorType]) -> u128 {
    match args.string("approximate").as_deref() {
        Ok("tanh") => per_element::<9>(args, outputs),
        _ => per_element::<5>(args, outputs),
    }
}

/// One operation per output element for each input after the first.
fn fold_flops(args: &Args<'_>, outputs: &[TensorType]) -> u128 {
    (args.inputs.len().saturating_sub(1) as u128).saturating_mul(per_element::<1>(args, outputs))
}

/// The adds of [`fold_flops`] and a divide.
fn mean_flops(args: &Args<'_>, outputs: &[TensorType]) -> u128 {
    fold_flops(args, outputs).saturating_add(per_element::<1>(args, outputs))
}

/// The first `count` inputs, each of `kind`, one dtype, broadcast together.
fn broadcast_operands(args: &Args<'_>, count: usize, kind: Kind) -> InferResult<TensorType> {
    let indices: Vec<usize> = (0..count.max(1)).collect();
    let mut shapes = Vec::with_capacity(indices.len());
    for &index in &indices {
        shapes.push(&operand(args, index, kind)?.shape);
    }
    let dtype = same_dtype(args, &indices)?;
    Ok(TensorType {
        dtype,
        shape: broadcast(&shapes)?,
    })
}

/// Every float attribute present must be finite.
fn finite_float_attrs(args: &Args<'_>) -> InferResult<()> {
    for (name, attr) in args.attrs {
        if let Attr::Float(value) = attr {
            if !value.is_finite() {
                return Err(attr_error(name, format!("`{name}` must be finite, found {value}")));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use opfuse_ir::{Attr, DType, OpSemantics};

    use crate::testing::{attr_map, catalog, infer, tensor_types};
    use DType::{Bool, F16, F32, I32, I64, U8};

    /// The inferred output types (as text) or the error message.
    fn check(op: &str, attrs: &[(&str, Attr)], inputs: &[(DType, &[u64])]) -> String {
        infer(op, attrs, inputs).unwrap_or_else(|e| e)
    }

    fn flops(op: &str, attrs: &[(&str, Attr)], inputs: &[(DType, &[u64])]) -> u128 {
        let catalog = catalog();
        let mut attrs = attr_map(attrs);
        catalog.normalize_attrs(op, &mut attrs).expect("attributes normalize");
        let inputs = tensor_types(inputs);
        let outputs = catalog.infer(op, &attrs, &inputs).expect("the shape rule accepts");
        catalog.flops(op, &attrs, &inputs, &outputs)
    }

    fn text(s: &str) -> Attr {
        Attr::Str(s.to_string())
    }

    #[test]
    fn unary_maps_keep_the_type_and_check_the_dtype() {
        assert_eq!(check("neg", &[], &[(I32, &[2, 3])]), "i32[2, 3]");
        assert_eq!(check("neg", &[], &[(Bool, &[2])]), "expects a numeric tensor, found bool");
        assert_eq!(check("exp", &[], &[(I64, &[2])]), "expects a float tensor, found i64");
        assert_eq!(check("acosh", &[], &[(F16, &[])]), "f16[]");
        assert_eq!(check("identity", &[], &[(Bool, &[4])]), "bool[4]");
        assert_eq!(check("bitwise_not", &[], &[(F32, &[4])]), "expects an integer tensor, found f32");
        assert_eq!(check("not", &[], &[(U8, &[4])]), "expects a bool tensor, found u8");
        assert_eq!(check("is_nan", &[], &[(F16, &[3])]), "bool[3]");
        assert_eq!(check("is_inf", &[], &[(I32, &[3])]), "expects a float tensor, found i32");
        assert_eq!(check("sin", &[], &[]), "`sin` takes 1 tensor argument(s), found 0");
    }

    #[test]
    fn every_op_rejects_the_dtypes_it_does_not_take() {
        let float_only = [
            "exp",
            "log",
            "sqrt",
            "rsqrt",
            "reciprocal",
            "floor",
            "ceil",
            "round",
            "erf",
            "sin",
            "cos",
            "tan",
            "asin",
            "acos",
            "atan",
            "sinh",
            "cosh",
            "tanh",
            "asinh",
            "acosh",
            "atanh",
            "sigmoid",
            "silu",
            "swish",
            "gelu",
            "softplus",
            "softsign",
            "mish",
            "hard_sigmoid",
            "hard_swish",
            "leaky_relu",
            "elu",
            "selu",
            "celu",
            "thresholded_relu",
            "is_nan",
            "is_inf",
        ];
        for op in float_only {
            assert_eq!(check(op, &[], &[(I32, &[2])]), "expects a float tensor, found i32", "{op}");
            assert!(check(op, &[], &[(F16, &[2])]).ends_with("[2]"), "{op}");
        }
        for op in ["neg", "abs", "relu", "sign", "shrink", "clip"] {
            assert_eq!(check(op, &[], &[(Bool, &[2])]), "expects a numeric tensor, found bool", "{op}");
            assert_eq!(check(op, &[], &[(I64, &[2])]), "i64[2]", "{op}");
        }
        let binary = [
            ("add", Bool),
            ("sub", Bool),
            ("mul", Bool),
            ("div", Bool),
            ("mod", Bool),
            ("pow", Bool),
            ("prelu", Bool),
            ("max", Bool),
            ("min", Bool),
            ("add_n", Bool),
            ("mean_n", I32),
            ("less", Bool),
            ("greater", Bool),
            ("less_equal", Bool),
            ("greater_equal", Bool),
            ("and", F32),
            ("or", F32),
            ("xor", F32),
            ("bitwise_and", F32),
            ("bitwise_or", F32),
            ("bitwise_xor", F32),
        ];
        for (op, bad) in binary {
            assert!(check(op, &[], &[(bad, &[2]), (bad, &[2])]).starts_with("expects a"), "{op}");
        }
        assert_eq!(
            check("bit_shift", &[("direction", text("LEFT"))], &[(F32, &[2]), (F32, &[2])]),
            "expects an integer tensor, found f32"
        );
    }

    #[test]
    fn attributes_are_checked() {
        assert_eq!(
            check("gelu", &[("approximate", text("fast"))], &[(F32, &[2])]),
            "`approximate` must be \"none\" or \"tanh\", not \"fast\""
        );
        assert_eq!(check("gelu", &[("approximate", text("tanh"))], &[(F32, &[2])]), "f32[2]");
        assert_eq!(
            check("celu", &[("alpha", Attr::Float(0.0))], &[(F32, &[2])]),
            "`alpha` of `celu` must not be 0 (the formula divides by it)"
        );
        assert_eq!(
            check("elu", &[("alpha", Attr::Float(f64::INFINITY))], &[(F32, &[2])]),
            "`alpha` must be finite, found inf"
        );
        assert_eq!(
            check("clip", &[("min", Attr::Float(f64::NAN))], &[(F32, &[2])]),
            "`min` of `clip` must not be NaN"
        );
        assert_eq!(check("clip", &[("max", Attr::Int(6))], &[(I32, &[2])]), "i32[2]");
        assert_eq!(
            check("leaky_relu", &[("alpha", text("x"))], &[(F32, &[2])]),
            "attribute `alpha` of `leaky_relu` must be a float, found a string"
        );
        assert_eq!(
            check("bit_shift", &[("direction", text("UP"))], &[(U8, &[2]), (U8, &[2])]),
            "`direction` must be \"LEFT\" or \"RIGHT\", not \"UP\""
        );
        assert_eq!(
            check("bit_shift", &[], &[(U8, &[2]), (U8, &[2])]),
            "`bit_shift` needs the attribute `direction` (string)"
        );
        assert_eq!(
            check("cast", &[("to", text("f128"))], &[(F32, &[2])]).split(';').next(),
            Some("\"f128\" is not a dtype")
        );
        assert_eq!(
            check("cast", &[("to", text("f8e4m3")), ("saturate", Attr::Bool(false))], &[(F32, &[2])]),
            "f8e4m3[2]"
        );
    }

    #[test]
    fn binary_ops_broadcast_one_dtype() {
        assert_eq!(check("add", &[], &[(F32, &[2, 1, 3]), (F32, &[4, 1])]), "f32[2, 4, 3]");
        assert_eq!(check("mod", &[], &[(I64, &[3]), (I32, &[3])]), "dtypes differ: i64 and i32");
        assert_eq!(
            check("mul", &[], &[(Bool, &[3]), (Bool, &[3])]),
            "expects a numeric tensor, found bool"
        );
        assert_eq!(check("bitwise_and", &[], &[(U8, &[3]), (U8, &[1])]), "u8[3]");
        assert_eq!(check("and", &[], &[(Bool, &[2, 1]), (Bool, &[3])]), "bool[2, 3]");
        assert_eq!(check("xor", &[], &[(I32, &[2]), (I32, &[2])]), "expects a bool tensor, found i32");
        assert_eq!(check("equal", &[], &[(Bool, &[2]), (Bool, &[])]), "bool[2]");
        assert_eq!(check("less_equal", &[], &[(I64, &[2, 3]), (I64, &[3])]), "bool[2, 3]");
        assert!(check("greater", &[], &[(F32, &[2]), (F32, &[3])]).starts_with("shapes [2] and [3] do not broadcast"));
        assert_eq!(check("pow", &[], &[(I64, &[3]), (F32, &[1])]), "i64[3]");
        assert_eq!(
            check("pow", &[], &[(F32, &[3]), (Bool, &[1])]),
            "expects a numeric tensor, found bool"
        );
    }

    #[test]
    fn variadic_ops_take_one_or_more_inputs() {
        assert_eq!(check("max", &[], &[(F32, &[3])]), "f32[3]");
        assert_eq!(check("min", &[], &[(I32, &[3]), (I32, &[2, 1]), (I32, &[])]), "i32[2, 3]");
        assert_eq!(check("add_n", &[], &[(F32, &[3]), (F16, &[3])]), "dtypes differ: f32 and f16");
        assert_eq!(
            check("mean_n", &[], &[(I32, &[3]), (I32, &[3])]),
            "expects a float tensor, found i32"
        );
        assert_eq!(check("max", &[], &[]), "`max` takes at least 1 tensor argument(s), found 0");
    }

    #[test]
    fn prelu_slope_broadcasts_to_x() {
        assert_eq!(check("prelu", &[], &[(F32, &[2, 3, 4]), (F32, &[3, 1])]), "f32[2, 3, 4]");
        assert_eq!(
            check("prelu", &[], &[(F32, &[3, 1]), (F32, &[3, 4])]),
            "slope [3, 4] must broadcast to the shape of x [3, 1] without growing it"
        );
    }

    #[test]
    fn where_cast_and_constant() {
        assert_eq!(check("where", &[], &[(Bool, &[2, 1]), (F32, &[3]), (F32, &[])]), "f32[2, 3]");
        assert_eq!(
            check("where", &[], &[(F32, &[2]), (F32, &[2]), (F32, &[2])]),
            "the condition must be bool, found f32"
        );
        assert_eq!(check("cast_like", &[], &[(F32, &[2, 2]), (I32, &[7])]), "i32[2, 2]");
        assert_eq!(check("constant", &[("value", Attr::Int(3)), ("dtype", text("i64"))], &[]), "i64[]");
    }

    #[test]
    fn flop_formulas() {
        assert_eq!(flops("sigmoid", &[], &[(F32, &[2, 5])]), 30);
        assert_eq!(flops("gelu", &[("approximate", text("tanh"))], &[(F32, &[10])]), 90);
        assert_eq!(flops("gelu", &[], &[(F32, &[10])]), 50);
        assert_eq!(flops("max", &[], &[(F32, &[4]), (F32, &[4]), (F32, &[1])]), 8);
        assert_eq!(flops("mean_n", &[], &[(F32, &[4]), (F32, &[4])]), 8);
        assert_eq!(flops("cast", &[("to", text("f16"))], &[(F32, &[4])]), 0);
        assert_eq!(flops("equal", &[], &[(I32, &[3, 1]), (I32, &[4])]), 12);
    }
}
