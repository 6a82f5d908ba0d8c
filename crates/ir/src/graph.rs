//! The typed graph: values, nodes and the builder that creates them.

use std::collections::BTreeMap;
use std::fmt;

use crate::{Attrs, Span, Tensor, TensorType};

/// A handle to a [`Value`] in its [`Graph`]. Printed as `v3`; ids are
/// assigned in creation order, which is stable but carries no meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ValueId(pub u32);

/// A handle to a [`Node`] in its [`Graph`]. Nodes are kept in a topological
/// order: a node only uses values defined before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub u32);

impl ValueId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl NodeId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for ValueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0)
    }
}

/// Where a value comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueDef {
    /// The graph's input number `n`.
    Input(u32),
    /// A weight: a leaf with a type and a name, never data.
    Param,
    /// Output number `index` of a node.
    Node { node: NodeId, index: u32 },
}

/// A tensor-valued SSA value.
#[derive(Clone, Debug, PartialEq)]
pub struct Value {
    pub ty: TensorType,
    /// Inputs and params always have a name, unique in the graph; for
    /// intermediate values it is the source variable's name, a hint only.
    pub name: Option<String>,
    pub def: ValueDef,
}

/// The operator a node applies.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// An operator of the catalog, by its catalog name.
    Known(String),
    /// An operator the catalog does not know, kept with the result types the
    /// source wrote for it. Later stages treat it as a black box.
    Opaque(String),
}

impl Op {
    pub fn name(&self) -> &str {
        match self {
            Op::Known(name) | Op::Opaque(name) => name,
        }
    }
}

/// One operator application.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub op: Op,
    pub attrs: Attrs,
    pub inputs: Vec<ValueId>,
    pub outputs: Vec<ValueId>,
    /// Where the node was written, when it came from source text.
    pub span: Option<Span>,
}

/// A typed dataflow graph with named inputs, params and outputs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Graph {
    pub name: String,
    pub values: Vec<Value>,
    pub nodes: Vec<Node>,
    pub inputs: Vec<ValueId>,
    pub params: Vec<ValueId>,
    pub outputs: Vec<ValueId>,
    /// Data of the params that carry it (ONNX initializers). The model
    /// language never gives params data; the interpreter and the JIT fill the
    /// others from a seed.
    pub param_data: BTreeMap<ValueId, Tensor>,
}

impl Graph {
    pub fn new(name: impl Into<String>) -> Graph {
        Graph {
            name: name.into(),
            ..Graph::default()
        }
    }

    /// The value behind `id`, or `None` for a handle from another graph.
    pub fn value(&self, id: ValueId) -> Option<&Value> {
        self.values.get(id.index())
    }

    /// The value's name, or its id (`%3`) where it has none or is dangling.
    pub fn value_name(&self, id: ValueId) -> String {
        self.value(id).and_then(|v| v.name.clone()).unwrap_or_else(|| id.to_string())
    }

    pub fn node(&self, id: NodeId) -> Option<&Node> {
        self.nodes.get(id.index())
    }

    /// Type of a value; `None` for a dangling handle.
    pub fn ty(&self, id: ValueId) -> Option<&TensorType> {
        self.value(id).map(|v| &v.ty)
    }

    pub fn node_ids(&self) -> impl Iterator<Item = NodeId> {
        (0..self.nodes.len() as u32).map(NodeId)
    }

    pub fn add_input(&mut self, name: impl Into<String>, ty: TensorType) -> ValueId {
        let index = self.inputs.len() as u32;
        let id = self.push_value(ty, Some(name.into()), ValueDef::Input(index));
        self.inputs.push(id);
        id
    }

    pub fn add_param(&mut self, name: impl Into<String>, ty: TensorType) -> ValueId {
        let id = self.push_value(ty, Some(name.into()), ValueDef::Param);
        self.params.push(id);
        id
    }

    /// Appends a node and creates one value per output type; returns them.
    /// `output_names` gives name hints, matched to outputs by position.
    pub fn add_node(
        &mut self,
        op: Op,
        attrs: Attrs,
        inputs: Vec<ValueId>,
        output_types: Vec<TensorType>,
        output_names: Vec<Option<String>>,
        span: Option<Span>,
    ) -> Vec<ValueId> {
        let node = NodeId(self.nodes.len() as u32);
        let mut names = output_names.into_iter();
        let outputs: Vec<ValueId> = output_types
            .into_iter()
            .enumerate()
            .map(|(index, ty)| {
                let def = ValueDef::Node { node, index: index as u32 };
                self.push_value(ty, names.next().flatten(), def)
            })
            .collect();
        self.nodes.push(Node {
            op,
            attrs,
            inputs,
            outputs: outputs.clone(),
            span,
        });
        outputs
    }

    fn push_value(&mut self, ty: TensorType, name: Option<String>, def: ValueDef) -> ValueId {
        let id = ValueId(self.values.len() as u32);
        self.values.push(Value { ty, name, def });
        id
    }
}
