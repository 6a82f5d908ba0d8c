//! Builders for small ONNX models, written with the crate's own protobuf
//! messages and encoded to bytes as a file would hold them.

#![allow(dead_code)]

use opfuse_onnx::proto::{
    attribute_type, data_type, AttributeProto, Dimension, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    TensorShapeProto, TypeProto, TypeProtoTensor, ValueInfoProto,
};
use prost::Message;

pub use data_type::{FLOAT, INT64};

/// A dim of a declared shape: a size or a symbol.
pub enum D {
    N(i64),
    P(&'static str),
}

pub fn value(name: &str, elem_type: i32, dims: &[D]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| match d {
            D::N(n) => Dimension {
                dim_value: Some(*n),
                dim_param: None,
            },
            D::P(p) => Dimension {
                dim_value: None,
                dim_param: Some(p.to_string()),
            },
        })
        .collect();
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TypeProtoTensor {
                elem_type,
                shape: Some(TensorShapeProto { dim }),
            }),
        }),
    }
}

/// A float value of a static shape.
pub fn f32_value(name: &str, dims: &[i64]) -> ValueInfoProto {
    let dims: Vec<D> = dims.iter().map(|&n| D::N(n)).collect();
    value(name, FLOAT, &dims)
}

pub fn node(op_type: &str, inputs: &[&str], outputs: &[&str], attribute: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        name: format!("{op_type}_{}", outputs.first().unwrap_or(&"")),
        op_type: op_type.into(),
        attribute,
        domain: String::new(),
    }
}

pub fn int_attr(name: &str, i: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        i: Some(i),
        r#type: attribute_type::INT,
        ..AttributeProto::default()
    }
}

pub fn float_attr(name: &str, f: f32) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        f: Some(f),
        r#type: attribute_type::FLOAT,
        ..AttributeProto::default()
    }
}

pub fn ints_attr(name: &str, ints: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        ints: ints.to_vec(),
        r#type: attribute_type::INTS,
        ..AttributeProto::default()
    }
}

pub fn tensor_attr(name: &str, t: TensorProto) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        t: Some(t),
        r#type: attribute_type::TENSOR,
        ..AttributeProto::default()
    }
}

pub fn f32_tensor(name: &str, dims: &[i64], data: &[f32]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: FLOAT,
        float_data: data.to_vec(),
        ..TensorProto::default()
    }
}

/// An int64 tensor with its data in `raw_data`, as exporters write it.
pub fn i64_tensor(name: &str, dims: &[i64], data: &[i64]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: INT64,
        raw_data: Some(data.iter().flat_map(|v| v.to_le_bytes()).collect()),
        ..TensorProto::default()
    }
}

pub struct Model {
    pub opset: i64,
    pub graph: GraphProto,
}

impl Model {
    pub fn new(opset: i64) -> Model {
        Model {
            opset,
            graph: GraphProto {
                name: "test".into(),
                ..GraphProto::default()
            },
        }
    }

    pub fn input(mut self, v: ValueInfoProto) -> Model {
        self.graph.input.push(v);
        self
    }

    pub fn output(mut self, v: ValueInfoProto) -> Model {
        self.graph.output.push(v);
        self
    }

    pub fn node(mut self, n: NodeProto) -> Model {
        self.graph.node.push(n);
        self
    }

    pub fn init(mut self, t: TensorProto) -> Model {
        self.graph.initializer.push(t);
        self
    }

    pub fn info(mut self, v: ValueInfoProto) -> Model {
        self.graph.value_info.push(v);
        self
    }

    pub fn proto(&self) -> ModelProto {
        ModelProto {
            ir_version: 8,
            producer_name: "opfuse-tests".into(),
            graph: Some(self.graph.clone()),
            opset_import: vec![OperatorSetIdProto {
                domain: String::new(),
                version: self.opset,
            }],
        }
    }

    pub fn bytes(&self) -> Vec<u8> {
        self.proto().encode_to_vec()
    }
}
