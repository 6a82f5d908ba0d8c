//! From a verified graph into the e-graph, and from an extracted selection
//! back to a verified graph.
//!
//! Going in, every value's class remembers the value's name hint and its
//! node's span. Coming back, inputs, params (with their data) and outputs
//! keep their names, values take the hints of their classes, and a fused
//! kernel is expanded into its body's ops, so the result is the rewritten
//! graph without kernels; [`Materialized::sites`] says which of its nodes
//! each chosen kernel runs. An opaque node goes in as an opaque e-node (its
//! name, attributes and declared types in the analysis's opaque table) and
//! comes back as the same opaque node.

use egg::{Id, Language, Symbol};
use opfuse_ir::{verify, Graph, NodeId, Op, OpSemantics, Span, TensorType, ValueId, VerifiedGraph, VerifyError};
use opfuse_ops::Catalog;

use crate::analysis::{OpaqueOp, TensorAnalysis, TensorGraph};
use crate::body::Operand;
use crate::language::TensorNode;
use crate::HashMap;

/// A graph in the e-graph: one root per graph output.
pub struct Converted {
    pub egraph: TensorGraph,
    pub roots: Vec<Id>,
    hints: Vec<(Id, Hint)>,
}

/// What a value of the source graph had that the e-graph does not need.
#[derive(Clone, Debug, Default)]
struct Hint {
    name: Option<String>,
    span: Option<Span>,
}

/// Why a graph could not go into the e-graph or come back.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("opaque op {0} is missing")]
    MissingOpaque(u32),
    #[error("node {node} (`{op}`): {message}")]
    Attrs { node: NodeId, op: String, message: String },
    #[error("no node was chosen for e-class {0}")]
    Unchosen(Id),
    #[error("e-class {0} has no tensor type")]
    Untyped(Id),
    #[error("kernel body {0} is missing")]
    MissingBody(u32),
    #[error("the optimized graph does not verify: {0}")]
    Verify(#[from] VerifyError),
}

/// Which nodes of a materialized graph one chosen e-node became.
#[derive(Clone, Debug)]
pub struct Site {
    pub node: TensorNode,
    pub nodes: Vec<NodeId>,
}

/// The rewritten graph and where each chosen op or kernel went.
pub struct Materialized {
    pub graph: VerifiedGraph,
    pub sites: Vec<Site>,
}

pub fn to_egraph(graph: &VerifiedGraph, catalog: &Catalog) -> Result<Converted, ConvertError> {
    let mut egraph = TensorGraph::new(TensorAnalysis::new(catalog.clone()));
    let mut classes: Vec<Option<Id>> = vec![None; graph.values.len()];
    let mut hints = Vec::new();
    let leaves = graph
        .inputs
        .iter()
        .map(|id| (id, false))
        .chain(graph.params.iter().map(|id| (id, true)));
    for (&id, param) in leaves {
        if let Some(value) = graph.value(id) {
            let name = Symbol::from(value.name.as_deref().unwrap_or_default());
            let constant = graph.param_data.get(&id).and_then(|t| match t.data() {
                [single] => Some(*single),
                _ => None,
            });
            egraph.analysis.declare_leaf(name, value.ty.clone(), param, constant);
            classes[id.index()] = Some(egraph.add(TensorNode::Leaf(name)));
        }
    }
    for (node_id, node) in graph.node_ids().zip(&graph.nodes) {
        let op = node.op.name();
        let attrs_error = |message: String| ConvertError::Attrs {
            node: node_id,
            op: op.to_string(),
            message,
        };
        let mut inputs = Vec::with_capacity(node.inputs.len());
        for input in &node.inputs {
            let class = classes.get(input.index()).copied().flatten();
            inputs.push(class.ok_or_else(|| attrs_error(format!("input {input} is not defined")))?);
        }
        let class = match &node.op {
            Op::Opaque(name) => {
                let outputs = node
                    .outputs
                    .iter()
                    .map(|&v| graph.ty(v).cloned())
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| attrs_error("an output has no type".to_string()))?;
                let index = egraph.analysis.declare_opaque(OpaqueOp {
                    name: Symbol::from(name.as_str()),
                    attrs: node.attrs.clone(),
                    outputs,
                });
                egraph.add(TensorNode::Opaque(index, inputs))
            }
            Op::Known(op) => {
                let mut attrs = node.attrs.clone();
                catalog.normalize_attrs(op, &mut attrs).map_err(|e| attrs_error(e.message))?;
                let attrs = egraph.analysis.intern_attrs(attrs);
                let mut children = vec![egraph.add(TensorNode::Attrs(attrs))];
                children.extend(inputs);
                egraph.add(TensorNode::Op(Symbol::from(op.as_str()), children))
            }
        };
        let single = node.outputs.len() == 1;
        for (index, &output) in node.outputs.iter().enumerate() {
            let value_class = match single {
                true => class,
                false => egraph.add(TensorNode::Get(index as u32, [class])),
            };
            classes[output.index()] = Some(value_class);
            let name = graph.value(output).and_then(|v| v.name.clone());
            hints.push((value_class, Hint { name, span: node.span }));
        }
    }
    egraph.rebuild();
    let roots = graph
        .outputs
        .iter()
        .map(|id| {
            classes
                .get(id.index())
                .copied()
                .flatten()
                .ok_or(ConvertError::Unchosen(Id::from(0)))
        })
        .collect::<Result<_, _>>()?;
    Ok(Converted { egraph, roots, hints })
}

impl Converted {
    /// Builds the graph `choices` select, reading leaves from `source`.
    pub fn materialize(&self, source: &Graph, choices: &HashMap<Id, TensorNode>) -> Result<Materialized, ConvertError> {
        let egraph = &self.egraph;
        let mut hints: HashMap<Id, Hint> = HashMap::default();
        for (class, hint) in &self.hints {
            hints.entry(egraph.find(*class)).or_insert_with(|| hint.clone());
        }
        let mut graph = Graph::new(source.name.clone());
        let mut leaves: HashMap<Symbol, ValueId> = HashMap::default();
        for &id in &source.inputs {
            if let Some(value) = source.value(id) {
                let new = graph.add_input(value.name.clone().unwrap_or_default(), value.ty.clone());
                leaves.insert(Symbol::from(value.name.as_deref().unwrap_or_default()), new);
            }
        }
        for &id in &source.params {
            if let Some(value) = source.value(id) {
                let new = graph.add_param(value.name.clone().unwrap_or_default(), value.ty.clone());
                leaves.insert(Symbol::from(value.name.as_deref().unwrap_or_default()), new);
                if let Some(data) = source.param_data.get(&id) {
                    graph.param_data.insert(new, data.clone());
                }
            }
        }
        let mut builder = Builder {
            egraph,
            choices,
            hints,
            leaves,
            values: HashMap::default(),
            graph,
            sites: Vec::new(),
        };
        let mut outputs = Vec::new();
        for &root in &self.roots {
            let values = builder.build(root)?;
            outputs.push(values.first().copied().ok_or(ConvertError::Untyped(root))?);
        }
        builder.graph.outputs = outputs;
        let graph = verify(builder.graph, &egraph.analysis.catalog)?;
        Ok(Materialized {
            graph,
            sites: builder.sites,
        })
    }
}

struct Builder<'a> {
    egraph: &'a TensorGraph,
    choices: &'a HashMap<Id, TensorNode>,
    hints: HashMap<Id, Hint>,
    leaves: HashMap<Symbol, ValueId>,
    values: HashMap<Id, Vec<ValueId>>,
    graph: Graph,
    sites: Vec<Site>,
}

impl Builder<'_> {
    /// Emits the class `root` and everything it needs, children first, with
    /// an explicit stack (graphs are thousands of nodes deep).
    fn build(&mut self, root: Id) -> Result<Vec<ValueId>, ConvertError> {
        let mut stack = vec![(self.egraph.find(root), false)];
        while let Some((class, expanded)) = stack.pop() {
            if self.values.contains_key(&class) {
                continue;
            }
            let node = self.choices.get(&class).ok_or(ConvertError::Unchosen(class))?;
            if !expanded {
                stack.push((class, true));
                for &child in node.children() {
                    let child = self.egraph.find(child);
                    if !self.values.contains_key(&child) {
                        stack.push((child, false));
                    }
                }
                continue;
            }
            let values = self.emit(class, node)?;
            self.values.insert(class, values);
        }
        self.values
            .get(&self.egraph.find(root))
            .cloned()
            .ok_or(ConvertError::Unchosen(root))
    }

    fn child_values(&self, children: &[Id]) -> Result<Vec<ValueId>, ConvertError> {
        children
            .iter()
            .map(|&child| {
                let child = self.egraph.find(child);
                self.values
                    .get(&child)
                    .and_then(|v| v.first().copied())
                    .ok_or(ConvertError::Unchosen(child))
            })
            .collect()
    }

    fn emit(&mut self, class: Id, node: &TensorNode) -> Result<Vec<ValueId>, ConvertError> {
        let hint = self.hints.get(&class).cloned().unwrap_or_default();
        let types = |id: Id| match &self.egraph[id].data {
            crate::analysis::ClassData::Tensors { types, .. } => Ok(types.clone()),
            _ => Err(ConvertError::Untyped(id)),
        };
        match node {
            TensorNode::Attrs(_) => Ok(Vec::new()),
            TensorNode::Leaf(name) => self.leaves.get(name).map(|&v| vec![v]).ok_or(ConvertError::Unchosen(class)),
            TensorNode::Get(index, [tuple]) => {
                let tuple = self.egraph.find(*tuple);
                let values = self.values.get(&tuple).ok_or(ConvertError::Unchosen(tuple))?;
                values.get(*index as usize).map(|&v| vec![v]).ok_or(ConvertError::Untyped(class))
            }
            TensorNode::Op(op, children) => {
                let (attrs, inputs) = children.split_first().ok_or(ConvertError::Untyped(class))?;
                let attrs = match &self.egraph[self.egraph.find(*attrs)].data {
                    crate::analysis::ClassData::Attrs(symbol) => self.egraph.analysis.attrs(*symbol).cloned(),
                    _ => None,
                };
                let attrs = attrs.ok_or(ConvertError::Untyped(class))?;
                let inputs = self.child_values(inputs)?;
                let output_types = types(class)?;
                let names = output_types.iter().map(|_| hint.name.clone()).collect();
                let first = NodeId(self.graph.nodes.len() as u32);
                let values = self
                    .graph
                    .add_node(Op::Known(op.to_string()), attrs, inputs, output_types, names, hint.span);
                self.sites.push(Site {
                    node: node.clone(),
                    nodes: vec![first],
                });
                Ok(values)
            }
            TensorNode::Opaque(index, inputs) => {
                let opaque = self.egraph.analysis.opaque(*index).ok_or(ConvertError::MissingOpaque(*index))?;
                let inputs = self.child_values(inputs)?;
                let names = opaque.outputs.iter().map(|_| hint.name.clone()).collect();
                let first = NodeId(self.graph.nodes.len() as u32);
                let values = self.graph.add_node(
                    Op::Opaque(opaque.name.to_string()),
                    opaque.attrs.clone(),
                    inputs,
                    opaque.outputs.clone(),
                    names,
                    hint.span,
                );
                self.sites.push(Site {
                    node: node.clone(),
                    nodes: vec![first],
                });
                Ok(values)
            }
            TensorNode::Kernel(head, inputs) => {
                let body = self
                    .egraph
                    .analysis
                    .kernels
                    .get(head.body)
                    .ok_or(ConvertError::MissingBody(head.body))?;
                let inputs = self.child_values(inputs)?;
                let output_type: Vec<TensorType> = types(class)?;
                let mut results: Vec<ValueId> = Vec::with_capacity(body.ops.len());
                let mut nodes = Vec::with_capacity(body.ops.len());
                for (position, op) in body.ops.iter().enumerate() {
                    let operands = op
                        .operands
                        .iter()
                        .map(|operand| match operand {
                            Operand::Input(i) => inputs.get(*i as usize).copied(),
                            Operand::Op(i) => results.get(*i as usize).copied(),
                        })
                        .collect::<Option<Vec<_>>>()
                        .ok_or(ConvertError::MissingBody(head.body))?;
                    let attrs = self
                        .egraph
                        .analysis
                        .attrs(op.attrs)
                        .cloned()
                        .ok_or(ConvertError::MissingBody(head.body))?;
                    let operand_types: Vec<TensorType> = operands.iter().filter_map(|&v| self.graph.ty(v).cloned()).collect();
                    let last = position + 1 == body.ops.len();
                    let out_types = match last {
                        true => output_type.clone(),
                        false => self
                            .egraph
                            .analysis
                            .infer(op.op, op.attrs, &operand_types)
                            .map_err(|_| ConvertError::MissingBody(head.body))?,
                    };
                    let name = if last { hint.name.clone() } else { None };
                    nodes.push(NodeId(self.graph.nodes.len() as u32));
                    let values = self
                        .graph
                        .add_node(Op::Known(op.op.to_string()), attrs, operands, out_types, vec![name], hint.span);
                    results.push(values.first().copied().ok_or(ConvertError::MissingBody(head.body))?);
                }
                self.sites.push(Site { node: node.clone(), nodes });
                results.pop().map(|v| vec![v]).ok_or(ConvertError::MissingBody(head.body))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use opfuse_ascend::{Placement, Profiles};
    use opfuse_ir::{Attr, Op};
    use opfuse_ops::Chip;

    use crate::testing::{kinds, Builder};
    use crate::{AscendModel, CpuRoofline};

    /// `exp(scan(relu(x)))` and `add` of both outputs of a two-output opaque op.
    fn graph() -> (Builder, opfuse_ir::ValueId) {
        let mut b = Builder::new();
        let x = b.input("x", &[16, 32]);
        let r = b.op("relu", &[], &[x]);
        let scan = b.opaque("my_scan", &[("chunk", Attr::Int(4))], &[r], &[&[16, 32]])[0];
        let e = b.op("exp", &[], &[scan]);
        let split = b.opaque("my_split", &[], &[e, x], &[&[16, 32], &[16, 32]]);
        let sum = b.op("add", &[], &[split[0], split[1]]);
        (b, sum)
    }

    #[test]
    fn opaque_ops_pass_through_as_kernels_of_their_own() {
        let (b, output) = graph();
        let optimized = b.optimize_for(output, None, &CpuRoofline::assumed());
        let kinds = kinds(&optimized);
        assert_eq!(kinds, ["elementwise", "opaque", "elementwise", "opaque", "elementwise"]);
        let opaque: Vec<_> = optimized.kernels.iter().filter(|k| k.kind == "opaque").collect();
        assert_eq!(opaque[0].ops, ["my_scan"]);
        assert_eq!(opaque[1].ops, ["my_split"]);
        // No FLOPs; the inputs and the declared outputs as traffic.
        let tensor = 16 * 32 * 4;
        assert_eq!((opaque[0].flops, opaque[0].bytes), (0, 2 * tensor));
        assert_eq!((opaque[1].flops, opaque[1].bytes), (0, 4 * tensor));
        // A launch plus the traffic at the roofline's bandwidth.
        assert!((opaque[0].time_us - (5.0 + 2.0 * tensor as f64 / 50e3)).abs() < 1e-9);

        let graph = &optimized.graph;
        let scan = graph.nodes.iter().find(|n| n.op.name() == "my_scan").expect("the scan survives");
        assert_eq!(scan.op, Op::Opaque("my_scan".into()));
        assert_eq!(scan.attrs.get("chunk"), Some(&Attr::Int(4)));
        let split = graph.nodes.iter().find(|n| n.op.name() == "my_split").expect("the split survives");
        assert_eq!(split.outputs.len(), 2);
        assert!(opfuse_ir::print(graph).contains("= my_scan("));
    }

    #[test]
    fn opaque_ops_are_ai_cpu_fallbacks_on_ascend() {
        let (b, output) = graph();
        let profile = Profiles::builtin()
            .expect("profiles load")
            .get(Chip::Ascend910B.name())
            .expect("910B")
            .clone();
        let cost = AscendModel { profile };
        let optimized = b.optimize_for(output, Some(Chip::Ascend910B), &cost);
        let opaque: Vec<_> = optimized.kernels.iter().filter(|k| k.kind == "opaque").collect();
        assert_eq!(opaque.len(), 2);
        // Priced exactly as the per-op estimate prices the unfused graph.
        let kernels = opfuse_ascend::kernels_of(&optimized.graph, &Builder::new().catalog, Some(Chip::Ascend910B));
        let scan = kernels.iter().find(|k| k.op == "my_scan").expect("the scan's kernel");
        assert_eq!(scan.placement, Placement::AiCpu);
        assert!((crate::extract::Cost::time_us(&cost, scan) - opaque[0].time_us).abs() < 1e-9);
    }
}
