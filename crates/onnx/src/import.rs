//! The import itself: leaves (initializers, inputs), then nodes in
//! topological order, each mapped onto a catalog operator or kept opaque.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet};

use opfuse_ir::{verify, Attr, Attrs, DType, Graph, Op, OpSemantics, Tensor, TensorType, ValueDef, ValueId, VerifiedGraph};
use opfuse_ops::catalog::OnnxOp;
use opfuse_ops::{Catalog, OpEntry};
use prost::Message;

use crate::error::{ImportError, ImportNote, NodeRef, NoteKind};
use crate::mapping::{convert_attr, opaque_attrs, tensor_to_attr, OpIndex};
use crate::proto::{AttributeProto, GraphProto, ModelProto, NodeProto, ValueInfoProto};
use crate::tensor::{dim_symbols, tensor_of, value_type};

/// The oldest opset the importer reads.
pub const MIN_OPSET: i64 = 7;

/// Constant folding (for inputs that must be constants) evaluates a node
/// only when each of its inputs and outputs has at most this many elements:
/// shape arithmetic, not weight preprocessing.
const FOLD_LIMIT: usize = 4096;

/// What the caller knows that the file does not say.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ImportOptions {
    /// Values for graph inputs. An input whose value an operator needs as a
    /// constant (Reshape's shape) becomes a param holding this data; the
    /// others stay inputs. A bound tensor also fixes the symbolic dims of
    /// its input's shape.
    pub bind: BTreeMap<String, Tensor>,
    /// Sizes of symbolic dims (`dim_param`) of the inputs' shapes.
    pub dims: BTreeMap<String, u64>,
}

/// A successful import: the graph and remarks about its nodes.
#[derive(Clone, Debug, PartialEq)]
pub struct Imported {
    pub graph: VerifiedGraph,
    /// Why each opaque node is opaque, and warnings, in node order.
    pub notes: Vec<ImportNote>,
    /// The model's opset of the default ONNX domain.
    pub opset: u32,
}

/// Reads an `.onnx` file's bytes into a verified graph.
pub fn import(bytes: &[u8], catalog: &Catalog, options: &ImportOptions) -> Result<Imported, ImportError> {
    let model = ModelProto::decode(bytes).map_err(|e| ImportError::Decode(e.to_string()))?;
    import_model(&model, catalog, options)
}

/// Imports an already decoded model.
pub fn import_model(model: &ModelProto, catalog: &Catalog, options: &ImportOptions) -> Result<Imported, ImportError> {
    let opset = default_opset(model)?;
    let proto = model.graph.as_ref().ok_or(ImportError::NoGraph)?;
    if !proto.sparse_initializer.is_empty() {
        return Err(ImportError::Unsupported("sparse initializers are not supported".into()));
    }
    let order = topological_order(proto)?;
    let mut importer = Importer {
        proto,
        catalog,
        index: OpIndex::new(catalog),
        opset,
        options,
        dims: BTreeMap::new(),
        declared: proto.value_info.iter().chain(&proto.output).map(|v| (v.name.as_str(), v)).collect(),
        graph: Graph::new(if proto.name.is_empty() { "model" } else { &proto.name }),
        names: HashMap::new(),
        folded: HashMap::new(),
        notes: Vec::new(),
    };
    importer.add_leaves()?;
    for index in order {
        importer.add_node(index)?;
    }
    importer.finish()
}

fn is_default_domain(domain: &str) -> bool {
    domain.is_empty() || domain == "ai.onnx"
}

fn default_opset(model: &ModelProto) -> Result<u32, ImportError> {
    let version = model
        .opset_import
        .iter()
        .find(|o| is_default_domain(&o.domain))
        .map(|o| o.version)
        .ok_or(ImportError::NoDefaultOpset)?;
    if version < MIN_OPSET {
        return Err(ImportError::OpsetTooOld(version));
    }
    Ok(u32::try_from(version).unwrap_or(u32::MAX))
}

fn node_ref(proto: &GraphProto, index: usize) -> NodeRef {
    let node = proto.node.get(index);
    NodeRef {
        index,
        name: node.map(|n| n.name.clone()).unwrap_or_default(),
        op_type: node.map(|n| n.op_type.clone()).unwrap_or_default(),
    }
}

/// Node indices in an order where every node comes after the nodes whose
/// outputs it uses, keeping the file's order where it already is one.
fn topological_order(proto: &GraphProto) -> Result<Vec<usize>, ImportError> {
    let leaves: HashSet<&str> = proto
        .initializer
        .iter()
        .map(|t| t.name.as_str())
        .chain(proto.input.iter().map(|i| i.name.as_str()))
        .collect();
    let mut producer: HashMap<&str, usize> = HashMap::new();
    for (index, node) in proto.node.iter().enumerate() {
        for output in node.output.iter().filter(|o| !o.is_empty()) {
            if leaves.contains(output.as_str()) || producer.insert(output, index).is_some() {
                return Err(ImportError::DuplicateName(output.clone()));
            }
        }
    }
    let mut pending = vec![0usize; proto.node.len()];
    let mut consumers = vec![Vec::new(); proto.node.len()];
    for (index, node) in proto.node.iter().enumerate() {
        let mut deps = BTreeSet::new();
        for input in node.input.iter().filter(|i| !i.is_empty()) {
            match producer.get(input.as_str()) {
                Some(&p) => {
                    deps.insert(p);
                }
                None if leaves.contains(input.as_str()) => {}
                None => {
                    return Err(ImportError::Node {
                        node: node_ref(proto, index),
                        message: format!("input `{input}` is not defined by any input, initializer or node"),
                    })
                }
            }
        }
        pending[index] = deps.len();
        for p in deps {
            consumers[p].push(index);
        }
    }
    let mut ready: BinaryHeap<Reverse<usize>> = (0..proto.node.len()).filter(|&i| pending[i] == 0).map(Reverse).collect();
    let mut order = Vec::with_capacity(proto.node.len());
    while let Some(Reverse(index)) = ready.pop() {
        order.push(index);
        for &c in &consumers[index] {
            pending[c] -= 1;
            if pending[c] == 0 {
                ready.push(Reverse(c));
            }
        }
    }
    match pending.iter().position(|&p| p > 0) {
        Some(index) => Err(ImportError::Cycle {
            node: node_ref(proto, index),
        }),
        None => Ok(order),
    }
}

/// A node mapped onto a catalog operator.
struct Mapped {
    op: String,
    attrs: Attrs,
    inputs: Vec<ValueId>,
    outputs: Vec<TensorType>,
}

/// Why a node did not map: a reason to note on the opaque node it becomes,
/// or an error in the file that fails the import.
enum Unmapped {
    Opaque(String),
    Fatal(ImportError),
}

impl From<String> for Unmapped {
    fn from(reason: String) -> Unmapped {
        Unmapped::Opaque(reason)
    }
}

impl From<ImportError> for Unmapped {
    fn from(error: ImportError) -> Unmapped {
        Unmapped::Fatal(error)
    }
}

/// The node's attributes, renamed and converted as the mapping says.
fn node_attrs(node: &NodeProto, entry: &OpEntry, mapping: &OnnxOp) -> Result<Attrs, Unmapped> {
    let mut attrs = Attrs::new();
    for attr in node.attribute.iter().filter(|a| !mapping.ignore.contains(&a.name)) {
        if !attr.ref_attr_name.is_empty() {
            return Err(format!("attribute `{}` refers to a function attribute", attr.name).into());
        }
        let name = mapping.attrs.get(&attr.name).unwrap_or(&attr.name);
        let spec = entry
            .attr(name)
            .ok_or_else(|| format!("attribute `{}` has no counterpart in the catalog's `{}`", attr.name, entry.name))?;
        if let Some(value) = convert_attr(attr, spec)? {
            attrs.insert(name.clone(), value);
        }
    }
    Ok(attrs)
}

struct Importer<'a> {
    proto: &'a GraphProto,
    catalog: &'a Catalog,
    index: OpIndex<'a>,
    opset: u32,
    options: &'a ImportOptions,
    /// Symbolic dim sizes: the options' plus what bound inputs fix.
    dims: BTreeMap<String, u64>,
    /// Declared types (`value_info` and graph outputs), by value name.
    declared: HashMap<&'a str, &'a ValueInfoProto>,
    graph: Graph,
    names: HashMap<&'a str, ValueId>,
    /// Values of node outputs computed at import time (see [`FOLD_LIMIT`]).
    folded: HashMap<ValueId, Tensor>,
    notes: Vec<ImportNote>,
}

impl<'a> Importer<'a> {
    fn define(&mut self, name: &'a str, id: ValueId) -> Result<(), ImportError> {
        match self.names.insert(name, id) {
            Some(_) => Err(ImportError::DuplicateName(name.to_string())),
            None => Ok(()),
        }
    }

    fn add_param(&mut self, name: &'a str, tensor: Tensor) -> Result<(), ImportError> {
        let id = self.graph.add_param(name, tensor.ty().clone());
        self.graph.param_data.insert(id, tensor);
        self.define(name, id)
    }

    fn add_leaves(&mut self) -> Result<(), ImportError> {
        let proto = self.proto;
        for init in &proto.initializer {
            let tensor_error = |message: String| ImportError::Tensor {
                name: init.name.clone(),
                message,
            };
            if init.name.is_empty() {
                return Err(tensor_error("an initializer has no name".into()));
            }
            let tensor = tensor_of(init).map_err(tensor_error)?;
            self.add_param(&init.name, tensor)?;
        }
        let initializers: HashSet<&str> = proto.initializer.iter().map(|t| t.name.as_str()).collect();
        let inputs: Vec<&ValueInfoProto> = proto.input.iter().filter(|i| !initializers.contains(i.name.as_str())).collect();
        self.dims = self.resolve_dims(&inputs)?;
        let constant_inputs = self.names_needed_as_constants();
        for info in inputs {
            let input_error = |message: String| ImportError::Input {
                name: info.name.clone(),
                message,
            };
            if info.name.is_empty() {
                return Err(input_error("a graph input has no name".into()));
            }
            let ty = value_type(info, &self.dims).map_err(|p| input_error(p.message()))?;
            let bound = match self.options.bind.get(&info.name) {
                // The declared type, or the same shape with a dtype of the same
                // kind, rounded (f32 data for a bf16 input: `.npy` has no bf16).
                Some(tensor) => Some(tensor.clone().conformed_to(&ty).map_err(|tensor| ImportError::Bind {
                    name: info.name.clone(),
                    message: format!("the model declares {ty}, the given tensor is {}", tensor.ty()),
                })?),
                None => None,
            };
            match bound {
                Some(tensor) if constant_inputs.contains(info.name.as_str()) => self.add_param(&info.name, tensor)?,
                _ => {
                    let id = self.graph.add_input(&info.name, ty);
                    self.define(&info.name, id)?;
                }
            }
        }
        Ok(())
    }

    /// The options' dims, plus the sizes bound tensors give their inputs'
    /// symbolic dims; a bound name that is not an input is an error.
    fn resolve_dims(&self, inputs: &[&ValueInfoProto]) -> Result<BTreeMap<String, u64>, ImportError> {
        let mut dims = self.options.dims.clone();
        for (name, tensor) in &self.options.bind {
            let bind_error = |message: String| ImportError::Bind {
                name: name.clone(),
                message,
            };
            let info = inputs.iter().find(|i| &i.name == name).ok_or_else(|| {
                let known: Vec<&str> = inputs.iter().map(|i| i.name.as_str()).collect();
                bind_error(format!("the model has no input of that name (its inputs: {})", known.join(", ")))
            })?;
            let symbols = dim_symbols(info);
            if symbols.len() != tensor.dims().len() {
                continue; // the type comparison reports the rank mismatch
            }
            for (axis, (symbol, &size)) in symbols.iter().zip(tensor.dims()).enumerate() {
                let Some(symbol) = symbol else { continue };
                match dims.insert(symbol.to_string(), size) {
                    Some(previous) if previous != size => {
                        return Err(bind_error(format!(
                            "axis {axis} is the dim `{symbol}`, already {previous}, but the tensor has {size}"
                        )))
                    }
                    _ => {}
                }
            }
        }
        Ok(dims)
    }

    /// Names of the values some mappable node takes as a constant input, and
    /// of the values they are computed from (which folding needs).
    fn names_needed_as_constants(&self) -> HashSet<&'a str> {
        let mut pending: Vec<&'a str> = Vec::new();
        for node in self.proto.node.iter().filter(|n| is_default_domain(&n.domain)) {
            let Ok((_, mapping)) = self.index.find(&node.op_type, self.opset) else {
                continue;
            };
            for position in mapping.const_inputs.keys() {
                let input = position.parse::<usize>().ok().and_then(|p| node.input.get(p));
                pending.extend(input.filter(|i| !i.is_empty()).map(String::as_str));
            }
        }
        let producers: HashMap<&str, &NodeProto> = self
            .proto
            .node
            .iter()
            .flat_map(|n| n.output.iter().map(move |o| (o.as_str(), n)))
            .collect();
        let mut needed = HashSet::new();
        while let Some(name) = pending.pop() {
            if !needed.insert(name) {
                continue;
            }
            if let Some(node) = producers.get(name) {
                pending.extend(node.input.iter().filter(|i| !i.is_empty()).map(String::as_str));
            }
        }
        needed
    }

    fn add_node(&mut self, index: usize) -> Result<(), ImportError> {
        let proto = self.proto;
        let Some(node) = proto.node.get(index) else { return Ok(()) };
        let at = node_ref(proto, index);
        if is_default_domain(&node.domain) && node.op_type == "Constant" {
            return self.add_constant(node, at);
        }
        match self.map_node(node, &at) {
            Ok(mapped) => self.add_known(node, at, mapped),
            Err(Unmapped::Opaque(reason)) => self.add_opaque(node, at, reason),
            Err(Unmapped::Fatal(error)) => Err(error),
        }
    }

    /// An ONNX `Constant` node becomes a param holding its value.
    fn add_constant(&mut self, node: &'a NodeProto, at: NodeRef) -> Result<(), ImportError> {
        let node_error = |message: String| ImportError::Node { node: at.clone(), message };
        let [output] = node.output.as_slice() else {
            return Err(node_error(format!("a Constant node has one output, found {}", node.output.len())));
        };
        let [attr] = node.attribute.as_slice() else {
            return Err(node_error(format!(
                "a Constant node has one attribute, found {}",
                node.attribute.len()
            )));
        };
        if output.is_empty() {
            return Err(node_error("the Constant node's output has no name".into()));
        }
        let tensor = constant_value(attr).map_err(node_error)?;
        self.add_param(output, tensor)
    }

    fn value(&self, name: &str, at: &NodeRef) -> Result<ValueId, ImportError> {
        self.names.get(name).copied().ok_or_else(|| ImportError::Node {
            node: at.clone(),
            message: format!("input `{name}` is not defined before the node"),
        })
    }

    /// The data of a value known at import time.
    fn constant(&self, id: ValueId) -> Option<&Tensor> {
        self.graph.param_data.get(&id).or_else(|| self.folded.get(&id))
    }

    /// The node as a catalog operator.
    /// Attributes ONNX implies rather than writes: its own defaults where they
    /// differ from the catalog's, dtypes taken from an operand, optional
    /// outputs the node uses, output counts.
    fn implied_attrs(&self, node: &NodeProto, mapping: &OnnxOp, attrs: &mut Attrs, at: &NodeRef) -> Result<(), Unmapped> {
        for (name, value) in &mapping.defaults {
            attrs.entry(name.clone()).or_insert_with(|| value.clone());
        }
        for (name, position) in &mapping.dtype_from {
            let input = position
                .parse::<usize>()
                .ok()
                .and_then(|p| node.input.get(p))
                .filter(|input| !input.is_empty())
                .ok_or_else(|| format!("input {position}, whose dtype `{name}` takes, is absent"))?;
            let id = self.value(input, at)?;
            let dtype = self
                .graph
                .ty(id)
                .map(|t| t.dtype)
                .ok_or_else(|| format!("input `{input}` has no type"))?;
            attrs.insert(name.clone(), Attr::Str(dtype.name().to_string()));
        }
        for (position, name) in &mapping.output_flags {
            let used = position
                .parse::<usize>()
                .ok()
                .and_then(|p| node.output.get(p))
                .is_some_and(|output| !output.is_empty());
            if used {
                attrs.insert(name.clone(), Attr::Bool(true));
            }
        }
        if let Some(name) = &mapping.output_count {
            let count = node.output.iter().rposition(|o| !o.is_empty()).map_or(0, |p| p + 1);
            attrs.entry(name.clone()).or_insert(Attr::Int(count as i64));
        }
        Ok(())
    }

    fn map_node(&self, node: &'a NodeProto, at: &NodeRef) -> Result<Mapped, Unmapped> {
        if !is_default_domain(&node.domain) {
            return Err(format!("domain `{}` is not the default ONNX domain", node.domain).into());
        }
        let (entry, mapping) = self.index.find(&node.op_type, self.opset)?;
        let mut attrs = node_attrs(node, entry, mapping)?;
        let tensor_inputs = self.const_inputs_to_attrs(node, entry, mapping, &mut attrs, at)?;
        self.implied_attrs(node, mapping, &mut attrs, at)?;
        let inputs = tensor_inputs
            .iter()
            .map(|name| self.value(name, at))
            .collect::<Result<Vec<_>, _>>()?;
        self.catalog.normalize_attrs(&entry.name, &mut attrs).map_err(|e| e.message)?;
        let types: Vec<TensorType> = inputs.iter().filter_map(|&id| self.graph.ty(id).cloned()).collect();
        let outputs = self
            .catalog
            .infer(&entry.name, &attrs, &types)
            .map_err(|e| format!("`{}`: {}", entry.name, e.message))?;
        let named = node.output.iter().rposition(|o| !o.is_empty()).map_or(0, |p| p + 1);
        if named > outputs.len() {
            let message = format!(
                "the node has {named} outputs, the catalog's `{}` gives {}",
                entry.name,
                outputs.len()
            );
            return Err(message.into());
        }
        Ok(Mapped {
            op: entry.name.clone(),
            attrs,
            inputs,
            outputs,
        })
    }

    /// Turns the inputs the mapping lists in `const_inputs` into attributes;
    /// returns the names of the others, the tensor inputs, in order.
    fn const_inputs_to_attrs(
        &self,
        node: &'a NodeProto,
        entry: &OpEntry,
        mapping: &OnnxOp,
        attrs: &mut Attrs,
        at: &NodeRef,
    ) -> Result<Vec<&'a str>, Unmapped> {
        let mut tensor_inputs = Vec::new();
        for (position, input) in node.input.iter().enumerate() {
            let Some(attr_name) = mapping.const_inputs.get(&position.to_string()) else {
                tensor_inputs.push(input.as_str());
                continue;
            };
            if input.is_empty() {
                continue;
            }
            let spec = entry
                .attr(attr_name)
                .ok_or_else(|| format!("the catalog's `{}` has no attribute `{attr_name}` for input {position}", entry.name))?;
            let value = self.constant(self.value(input, at)?).ok_or_else(|| {
                format!("input {position} (`{input}`) must be a constant (an initializer, a Constant node or a bound input), but it is computed")
            })?;
            if attrs.contains_key(attr_name) {
                return Err(format!("both an attribute and input {position} give `{attr_name}`").into());
            }
            if let Some(value) = tensor_to_attr(value, spec).map_err(|reason| format!("input {position} (`{input}`): {reason}"))? {
                attrs.insert(attr_name.clone(), value);
            }
        }
        while tensor_inputs.last().is_some_and(|i| i.is_empty()) {
            tensor_inputs.pop();
        }
        if tensor_inputs.iter().any(|i| i.is_empty()) {
            return Err(Unmapped::Opaque(
                "an absent optional input followed by a present one has no catalog form".into(),
            ));
        }
        Ok(tensor_inputs)
    }

    fn output_names(node: &NodeProto) -> Vec<Option<String>> {
        node.output.iter().map(|o| Some(o.clone()).filter(|o| !o.is_empty())).collect()
    }

    fn add_known(&mut self, node: &'a NodeProto, at: NodeRef, mapped: Mapped) -> Result<(), ImportError> {
        let Mapped {
            op,
            attrs,
            inputs,
            outputs,
        } = mapped;
        let ids = self
            .graph
            .add_node(Op::Known(op), attrs, inputs, outputs, Self::output_names(node), None);
        for (name, &id) in node.output.iter().zip(&ids).filter(|(name, _)| !name.is_empty()) {
            self.define(name, id)?;
            self.check_declared(name, id, &at);
        }
        self.fold(&ids);
        Ok(())
    }

    /// A warning when the file declares a static type other than the one
    /// the shape rule gives: the catalog's semantics may differ from the file's.
    fn check_declared(&mut self, name: &str, id: ValueId, at: &NodeRef) {
        let Some(declared) = self.declared.get(name).and_then(|info| value_type(info, &self.dims).ok()) else {
            return;
        };
        let Some(inferred) = self.graph.ty(id) else { return };
        if &declared != inferred {
            self.notes.push(ImportNote {
                node: at.clone(),
                kind: NoteKind::Warning,
                message: format!("the file declares `{name}` as {declared}, the shape rule gives {inferred}; using {inferred}"),
            });
        }
    }

    /// Computes the outputs of the node that defines `outputs` when all its
    /// inputs are known and small, so later constant inputs can use them.
    fn fold(&mut self, outputs: &[ValueId]) {
        let Some(ValueDef::Node { node, .. }) = outputs.first().and_then(|&id| self.graph.value(id)).map(|v| v.def) else {
            return;
        };
        let Some(node) = self.graph.node(node) else { return };
        let inputs: Option<Vec<&Tensor>> = node.inputs.iter().map(|&id| self.constant(id)).collect();
        let Some(inputs) = inputs else { return };
        let types: Vec<TensorType> = outputs.iter().filter_map(|&id| self.graph.ty(id).cloned()).collect();
        let small = |n: Option<u64>| n.is_some_and(|n| n <= FOLD_LIMIT as u64);
        if !inputs.iter().all(|t| t.len() <= FOLD_LIMIT) || !types.iter().all(|t| small(t.numel())) {
            return;
        }
        if let Ok(values) = self.catalog.eval(node.op.name(), &node.attrs, &inputs, &types) {
            let values: Vec<(ValueId, Tensor)> = outputs.iter().copied().zip(values).collect();
            self.folded.extend(values);
        }
    }

    fn add_opaque(&mut self, node: &'a NodeProto, at: NodeRef, reason: String) -> Result<(), ImportError> {
        let inputs = node
            .input
            .iter()
            .filter(|i| !i.is_empty())
            .map(|name| self.value(name, &at))
            .collect::<Result<Vec<_>, _>>()?;
        let named = node.output.iter().rposition(|o| !o.is_empty()).map_or(0, |p| p + 1);
        let Some(outputs) = node.output.get(..named).filter(|o| !o.is_empty()) else {
            self.notes.push(ImportNote {
                node: at,
                kind: NoteKind::Warning,
                message: format!("dropped: the node has no outputs ({reason})"),
            });
            return Ok(());
        };
        let fallback = inputs.first().and_then(|&id| self.graph.ty(id)).cloned();
        let mut types = Vec::with_capacity(outputs.len());
        for name in outputs {
            let declared = self.declared.get(name.as_str()).map(|info| value_type(info, &self.dims));
            let ty = match (declared, &fallback) {
                (Some(Ok(ty)), _) => ty,
                (declared, Some(fallback)) => {
                    let why = match declared {
                        Some(Err(problem)) => format!("its declared type is unusable ({})", problem.message()),
                        _ => "the file declares no type for it".into(),
                    };
                    self.notes.push(ImportNote {
                        node: at.clone(),
                        kind: NoteKind::Warning,
                        message: format!("output `{name}`: {why}; assumed {fallback} (the first input's type)"),
                    });
                    fallback.clone()
                }
                (_, None) => {
                    return Err(ImportError::Node {
                        node: at,
                        message: format!(
                            "cannot type output `{name}`: the file declares no static type for it and the node has no inputs ({reason})"
                        ),
                    })
                }
            };
            types.push(ty);
        }
        let names = Self::output_names(node).into_iter().take(named).collect();
        let ids = self.graph.add_node(
            Op::Opaque(node.op_type.clone()),
            opaque_attrs(&node.attribute),
            inputs,
            types,
            names,
            None,
        );
        for (name, &id) in outputs.iter().zip(&ids).filter(|(name, _)| !name.is_empty()) {
            self.define(name, id)?;
        }
        self.notes.push(ImportNote {
            node: at,
            kind: NoteKind::Opaque,
            message: reason,
        });
        Ok(())
    }

    fn finish(mut self) -> Result<Imported, ImportError> {
        if self.proto.output.is_empty() {
            return Err(ImportError::NoOutputs);
        }
        for output in &self.proto.output {
            let id = self
                .names
                .get(output.name.as_str())
                .copied()
                .ok_or_else(|| ImportError::UnknownOutput(output.name.clone()))?;
            self.graph.outputs.push(id);
        }
        let graph = verify(self.graph, self.catalog)?;
        Ok(Imported {
            graph,
            notes: self.notes,
            opset: self.opset,
        })
    }
}

/// The value of a `Constant` node's one attribute.
fn constant_value(attr: &AttributeProto) -> Result<Tensor, String> {
    let list = |dtype: DType, data: Vec<f64>| {
        let n = data.len() as u64;
        Tensor::new(TensorType::new(dtype, vec![n]), data).map_err(|e| e.to_string())
    };
    match attr.name.as_str() {
        "value" => match &attr.t {
            Some(t) => tensor_of(t).map_err(|e| format!("attribute `value`: {e}")),
            None => Err("attribute `value` holds no tensor".into()),
        },
        "value_float" => Ok(Tensor::scalar(DType::F32, f64::from(attr.f.unwrap_or(0.0)))),
        "value_int" => Ok(Tensor::scalar(DType::I64, attr.i.unwrap_or(0) as f64)),
        "value_floats" => list(DType::F32, attr.floats.iter().map(|&f| f64::from(f)).collect()),
        "value_ints" => list(DType::I64, attr.ints.iter().map(|&i| i as f64).collect()),
        "value_string" | "value_strings" | "sparse_value" => Err(format!("`{}` constants are not supported", attr.name)),
        other => Err(format!("a Constant node has no attribute `{other}`")),
    }
}
