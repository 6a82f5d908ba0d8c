//! Helpers for the unit tests of shape rules and eval functions.

use std::sync::OnceLock;

use opfuse_ir::{Attr, Attrs, DType, OpSemantics, Tensor, TensorType};

use crate::args::Args;
use crate::rules::InferFn;
use crate::Catalog;

/// The built-in catalog, loaded once for all tests.
pub fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| Catalog::builtin().expect("the built-in catalog loads"))
}

/// A tensor from a dtype, dims and data (rounded to the dtype).
pub fn tensor(dtype: DType, dims: &[u64], data: &[f64]) -> Tensor {
    Tensor::new(TensorType::new(dtype, dims.to_vec()), data.to_vec()).expect("data matches the dims")
}

pub fn ints(values: &[i64]) -> Attr {
    Attr::List(values.iter().map(|&v| Attr::Int(v)).collect())
}

/// The output types of `op` as elaboration infers them (attributes
/// normalized first), as text joined with ", ", or the error message.
pub fn infer(op: &str, attrs: &[(&str, Attr)], inputs: &[(DType, &[u64])]) -> Result<String, String> {
    let catalog = catalog();
    let mut attrs = attr_map(attrs);
    catalog.normalize_attrs(op, &mut attrs).map_err(|e| e.message)?;
    let types = catalog.infer(op, &attrs, &tensor_types(inputs)).map_err(|e| e.message)?;
    Ok(types_text(&types))
}

/// The output types of the shape rule `rule` called directly (attributes
/// as given, not normalized), as text joined with ", ", or the error message.
pub fn infer_rule(rule: InferFn, attrs: &[(&str, Attr)], inputs: &[(DType, &[u64])]) -> Result<String, String> {
    let attrs = attr_map(attrs);
    let inputs = tensor_types(inputs);
    let types = rule(&Args {
        attrs: &attrs,
        inputs: &inputs,
    })
    .map_err(|e| e.message)?;
    Ok(types_text(&types))
}

/// Attributes as the catalog takes them.
pub fn attr_map(attrs: &[(&str, Attr)]) -> Attrs {
    attrs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

/// Input types from `(dtype, dims)` pairs.
pub fn tensor_types(inputs: &[(DType, &[u64])]) -> Vec<TensorType> {
    inputs.iter().map(|(d, s)| TensorType::new(*d, s.to_vec())).collect()
}

/// Types as text, joined with ", ".
fn types_text(types: &[TensorType]) -> String {
    types.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(", ")
}

/// Applies `op` as elaboration and the interpreter would: normalizes the
/// attributes, infers the output types, evaluates. Errors come back as text.
pub fn eval(op: &str, attrs: &[(&str, Attr)], inputs: &[Tensor]) -> Result<Vec<Tensor>, String> {
    let catalog = catalog();
    let mut attrs = attr_map(attrs);
    catalog.normalize_attrs(op, &mut attrs).map_err(|e| e.message)?;
    let types: Vec<TensorType> = inputs.iter().map(|t| t.ty().clone()).collect();
    let outputs = catalog.infer(op, &attrs, &types).map_err(|e| e.message)?;
    let refs: Vec<&Tensor> = inputs.iter().collect();
    catalog.eval(op, &attrs, &refs, &outputs).map_err(|e| e.message)
}

/// The data of the single output of `op`, panicking with the error otherwise.
pub fn eval1(op: &str, attrs: &[(&str, Attr)], inputs: &[Tensor]) -> Vec<f64> {
    match eval(op, attrs, inputs) {
        Ok(outputs) if outputs.len() == 1 => outputs.into_iter().flat_map(Tensor::into_data).collect(),
        Ok(outputs) => panic!("`{op}` gave {} outputs", outputs.len()),
        Err(message) => panic!("`{op}` failed: {message}"),
    }
}
