//! From ONNX op types and attributes to catalog operators, driven by each
//! catalog entry's `onnx` mappings (see `ops/README.md`).

use std::collections::HashMap;

use opfuse_ir::{Attr, Tensor, KEYWORDS};
use opfuse_ops::catalog::OnnxOp;
use opfuse_ops::{AttrKind, AttrSpec, Catalog, OpEntry};

use crate::proto::{attribute_type as ty, AttributeProto, TensorProto};
use crate::tensor::{dtype_of, tensor_of};

/// The catalog's ONNX mappings, by ONNX op type.
pub struct OpIndex<'c> {
    by_type: HashMap<&'c str, Vec<(&'c OpEntry, &'c OnnxOp)>>,
}

impl<'c> OpIndex<'c> {
    pub fn new(catalog: &'c Catalog) -> OpIndex<'c> {
        let mut by_type: HashMap<&str, Vec<_>> = HashMap::new();
        for entry in catalog.entries() {
            for mapping in &entry.onnx {
                by_type.entry(mapping.op.as_str()).or_default().push((entry, mapping));
            }
        }
        OpIndex { by_type }
    }

    /// The entry and mapping for `op_type` at `opset`, or why there is none.
    pub fn find(&self, op_type: &str, opset: u32) -> Result<(&'c OpEntry, &'c OnnxOp), String> {
        let candidates = self
            .by_type
            .get(op_type)
            .ok_or_else(|| format!("`{op_type}` is not in the operator catalog"))?;
        let in_range = |m: &OnnxOp| m.opsets[0] <= opset && opset <= m.opsets[1];
        if let Some(&(entry, mapping)) = candidates.iter().find(|(_, m)| in_range(m)) {
            return Ok((entry, mapping));
        }
        let ranges: Vec<String> = candidates
            .iter()
            .map(|(e, m)| format!("{}-{} (`{}`)", m.opsets[0], m.opsets[1], e.name))
            .collect();
        Err(format!(
            "the catalog maps `{op_type}` only for opsets {}, not for this model's opset {opset}",
            ranges.join(", ")
        ))
    }
}

/// An attribute's value as the file gives it.
enum Payload<'a> {
    Float(f32),
    Int(i64),
    Str(&'a [u8]),
    Tensor(&'a TensorProto),
    Floats(&'a [f32]),
    Ints(&'a [i64]),
    /// A kind no catalog attribute takes, described for messages.
    Other(&'static str),
}

impl Payload<'_> {
    fn describe(&self) -> &'static str {
        match self {
            Payload::Float(_) => "a float",
            Payload::Int(_) => "an int",
            Payload::Str(_) => "a string",
            Payload::Tensor(_) => "a tensor",
            Payload::Floats(_) => "a list of floats",
            Payload::Ints(_) => "a list of ints",
            Payload::Other(what) => what,
        }
    }
}

fn payload(attr: &AttributeProto) -> Payload<'_> {
    match attr.r#type {
        ty::FLOAT => Payload::Float(attr.f.unwrap_or(0.0)),
        ty::INT => Payload::Int(attr.i.unwrap_or(0)),
        ty::STRING => Payload::Str(attr.s.as_deref().unwrap_or_default()),
        ty::TENSOR => attr
            .t
            .as_ref()
            .map_or(Payload::Other("a tensor attribute without a tensor"), Payload::Tensor),
        ty::FLOATS => Payload::Floats(&attr.floats),
        ty::INTS => Payload::Ints(&attr.ints),
        ty::STRINGS => Payload::Other("a list of strings"),
        ty::TENSORS => Payload::Other("a list of tensors"),
        ty::GRAPH | ty::GRAPHS => Payload::Other("a subgraph"),
        ty::UNDEFINED => payload_by_presence(attr),
        _ => Payload::Other("an attribute of a kind opfuse does not read"),
    }
}

/// Files older than IR version 2 leave `type` unset: look at what is there.
fn payload_by_presence(attr: &AttributeProto) -> Payload<'_> {
    match attr {
        AttributeProto { f: Some(f), .. } => Payload::Float(*f),
        AttributeProto { i: Some(i), .. } => Payload::Int(*i),
        AttributeProto { s: Some(s), .. } => Payload::Str(s),
        AttributeProto { t: Some(t), .. } => Payload::Tensor(t),
        _ if !attr.floats.is_empty() => Payload::Floats(&attr.floats),
        _ if !attr.ints.is_empty() => Payload::Ints(&attr.ints),
        _ => Payload::Other("an attribute without a value"),
    }
}

/// Whether an ONNX INT attribute named `onnx_name` holds a
/// `TensorProto.DataType` code (Cast's `to`, `dtype`, `output_dtype`).
fn holds_dtype_code(onnx_name: &str, spec: &AttrSpec) -> bool {
    [onnx_name, spec.name.as_str()].iter().any(|n| *n == "to" || n.ends_with("dtype"))
}

/// An ONNX attribute as a value of the catalog attribute `spec`. `None`: an
/// empty tensor for an attribute with a default, which keeps the default.
pub fn convert_attr(attr: &AttributeProto, spec: &AttrSpec) -> Result<Option<Attr>, String> {
    let payload = payload(attr);
    let converted = match (spec.kind, &payload) {
        (AttrKind::Int, Payload::Int(v)) => Attr::Int(*v),
        (AttrKind::Float, Payload::Float(v)) => Attr::Float(f64::from(*v)),
        (AttrKind::Float, Payload::Int(v)) => Attr::Float(*v as f64),
        (AttrKind::Bool, Payload::Int(v @ (0 | 1))) => Attr::Bool(*v == 1),
        (AttrKind::String, Payload::Str(bytes)) => Attr::Str(utf8(bytes, &attr.name)?),
        (AttrKind::String, Payload::Int(code)) if holds_dtype_code(&attr.name, spec) => Attr::Str(dtype_of(*code as i32)?.name().into()),
        (AttrKind::Ints, Payload::Ints(v)) => Attr::List(v.iter().map(|&i| Attr::Int(i)).collect()),
        (AttrKind::Floats, Payload::Floats(v)) => Attr::List(v.iter().map(|&f| Attr::Float(f64::from(f))).collect()),
        (AttrKind::Floats, Payload::Ints(v)) => Attr::List(v.iter().map(|&i| Attr::Float(i as f64)).collect()),
        (_, Payload::Tensor(proto)) => {
            let tensor = tensor_of(proto).map_err(|e| format!("attribute `{}`: {e}", attr.name))?;
            return tensor_to_attr(&tensor, spec).map_err(|e| format!("attribute `{}`: {e}", attr.name));
        }
        _ => {
            return Err(format!(
                "attribute `{}` is {}, but the catalog's `{}` is a {}",
                attr.name,
                payload.describe(),
                spec.name,
                spec.kind.name()
            ))
        }
    };
    Ok(Some(converted))
}

fn utf8(bytes: &[u8], name: &str) -> Result<String, String> {
    String::from_utf8(bytes.to_vec()).map_err(|_| format!("attribute `{name}` is not valid UTF-8"))
}

/// A constant tensor (an input the catalog takes as an attribute) as a
/// value of `spec`. An empty tensor keeps the attribute's default if it has
/// one (`None`); otherwise it is an empty list (Reshape to a scalar).
pub fn tensor_to_attr(tensor: &Tensor, spec: &AttrSpec) -> Result<Option<Attr>, String> {
    if tensor.is_empty() && spec.default.is_some() {
        return Ok(None);
    }
    let int = |x: f64| match x.fract() == 0.0 {
        true => Ok(Attr::Int(x as i64)),
        false => Err(format!("`{}` must hold integers, found {x}", spec.name)),
    };
    let single = || match tensor.data() {
        [x] => Ok(*x),
        _ => Err(format!("`{}` must be a single value, found {tensor}", spec.name)),
    };
    let attr = match spec.kind {
        AttrKind::Ints => Attr::List(tensor.data().iter().map(|&x| int(x)).collect::<Result<_, _>>()?),
        AttrKind::Floats => Attr::List(tensor.data().iter().map(|&x| Attr::Float(x)).collect()),
        AttrKind::Int => int(single()?)?,
        AttrKind::Float => Attr::Float(single()?),
        AttrKind::Bool => Attr::Bool(single()? != 0.0),
        AttrKind::String => return Err(format!("the string attribute `{}` cannot come from a tensor", spec.name)),
    };
    Ok(Some(attr))
}

/// The attributes of a node kept opaque, as far as the model language can
/// print them: plain names with numbers, strings and lists. The rest (tensors,
/// subgraphs) is dropped; the node is a black box either way.
pub fn opaque_attrs(attrs: &[AttributeProto]) -> opfuse_ir::Attrs {
    attrs
        .iter()
        .filter(|a| is_plain_name(&a.name))
        .filter_map(|a| {
            let value = match payload(a) {
                Payload::Int(v) => Attr::Int(v),
                Payload::Float(v) if v.is_finite() => Attr::Float(f64::from(v)),
                Payload::Str(bytes) => Attr::Str(
                    String::from_utf8(bytes.to_vec())
                        .ok()
                        .filter(|s| !s.chars().any(char::is_control))?,
                ),
                Payload::Ints(v) => Attr::List(v.iter().map(|&i| Attr::Int(i)).collect()),
                Payload::Floats(v) if v.iter().all(|f| f.is_finite()) => Attr::List(v.iter().map(|&f| Attr::Float(f64::from(f))).collect()),
                _ => return None,
            };
            Some((a.name.clone(), value))
        })
        .collect()
}

fn is_plain_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !KEYWORDS.contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use opfuse_ir::{DType, TensorType};

    fn spec(name: &str, kind: AttrKind, default: Option<Attr>) -> AttrSpec {
        AttrSpec {
            name: name.into(),
            kind,
            default,
        }
    }

    fn int_attr(name: &str, i: i64) -> AttributeProto {
        AttributeProto {
            name: name.into(),
            i: Some(i),
            r#type: ty::INT,
            ..AttributeProto::default()
        }
    }

    #[test]
    fn attributes_convert_to_the_catalog_kind() {
        let bool_spec = spec("keepdims", AttrKind::Bool, None);
        assert_eq!(convert_attr(&int_attr("keepdims", 1), &bool_spec), Ok(Some(Attr::Bool(true))));
        assert!(convert_attr(&int_attr("keepdims", 2), &bool_spec).is_err());
        let to = spec("to", AttrKind::String, None);
        assert_eq!(convert_attr(&int_attr("to", 10), &to), Ok(Some(Attr::Str("f16".into()))));
        assert_eq!(
            convert_attr(&int_attr("to", 8), &to),
            Err("element type STRING is not supported".into())
        );
        let untyped = AttributeProto {
            name: "alpha".into(),
            f: Some(0.5),
            ..AttributeProto::default()
        };
        assert_eq!(
            convert_attr(&untyped, &spec("alpha", AttrKind::Float, None)),
            Ok(Some(Attr::Float(0.5)))
        );
        let err = convert_attr(&untyped, &spec("alpha", AttrKind::Ints, None)).unwrap_err();
        assert_eq!(err, "attribute `alpha` is a float, but the catalog's `alpha` is a list of ints");
    }

    #[test]
    fn constant_tensors_become_attributes() {
        let t = Tensor::new(TensorType::new(DType::I64, vec![2]), vec![2.0, -1.0]).unwrap();
        let shape = spec("shape", AttrKind::Ints, None);
        assert_eq!(tensor_to_attr(&t, &shape), Ok(Some(Attr::List(vec![Attr::Int(2), Attr::Int(-1)]))));
        assert!(tensor_to_attr(&t, &spec("k", AttrKind::Int, None)).is_err());
        let empty = Tensor::new(TensorType::new(DType::I64, vec![0]), vec![]).unwrap();
        assert_eq!(tensor_to_attr(&empty, &shape), Ok(Some(Attr::List(vec![]))));
        assert_eq!(
            tensor_to_attr(&empty, &spec("axes", AttrKind::Ints, Some(Attr::List(vec![])))),
            Ok(None)
        );
        let half = Tensor::new(TensorType::new(DType::F32, vec![1]), vec![0.5]).unwrap();
        assert!(tensor_to_attr(&half, &spec("k", AttrKind::Int, None))
            .unwrap_err()
            .contains("integers"));
    }

    #[test]
    fn opaque_attributes_keep_what_prints() {
        let attrs = [
            int_attr("group", 2),
            int_attr("in", 1),
            int_attr("a-b", 1),
            AttributeProto {
                name: "mode".into(),
                s: Some(b"x\ny".to_vec()),
                r#type: ty::STRING,
                ..AttributeProto::default()
            },
        ];
        let kept: Vec<String> = opaque_attrs(&attrs).into_keys().collect();
        assert_eq!(kept, ["group"]);
    }
}
