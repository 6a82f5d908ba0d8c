//! The e-class analysis: the tensor type(s) of every class and, for scalar
//! constants, their value. Types come from the catalog's shape rules
//! (`Catalog::infer`), so rule conditions can ask for shapes and dtypes.

use std::collections::HashSet;

use egg::{Analysis, DidMerge, EGraph, Id, Symbol};
use opfuse_ir::{Attrs, OpSemantics, TensorType};
use opfuse_ops::{Catalog, OpClass};

use crate::body::{Body, KernelTable, Operand};
use crate::language::TensorNode;
use crate::HashMap;

/// The e-graph opfuse optimizes.
pub type TensorGraph = EGraph<TensorNode, TensorAnalysis>;

/// What is known about one e-class.
#[derive(Debug, Clone, PartialEq)]
pub enum ClassData {
    /// An attribute leaf.
    Attrs(Symbol),
    /// Tensor values: one type per output (several for a multi-output op),
    /// and the value of a scalar constant.
    Tensors { types: Vec<TensorType>, constant: Option<f64> },
    /// The shape rule refused the node; rules never add such nodes, so this
    /// only marks a broken input.
    Invalid(String),
}

impl ClassData {
    /// The type of a single-output class.
    pub fn single(&self) -> Option<&TensorType> {
        match self {
            ClassData::Tensors { types, .. } if types.len() == 1 => types.first(),
            _ => None,
        }
    }

    pub fn constant(&self) -> Option<f64> {
        match self {
            ClassData::Tensors { constant, .. } => *constant,
            _ => None,
        }
    }
}

/// An op the catalog does not know, as the source wrote it.
#[derive(Debug, Clone, PartialEq)]
pub struct OpaqueOp {
    pub name: Symbol,
    pub attrs: Attrs,
    /// The declared result types.
    pub outputs: Vec<TensorType>,
}

/// The analysis and the side tables the e-graph's nodes refer to.
#[derive(Debug)]
pub struct TensorAnalysis {
    pub catalog: Catalog,
    /// Each catalog op's class by symbol: fusion asks for it in its inner loops.
    op_classes: HashMap<Symbol, OpClass>,
    attrs: HashMap<Symbol, Attrs>,
    leaves: HashMap<Symbol, TensorType>,
    leaf_constants: HashMap<Symbol, f64>,
    /// The leaves that are params (weights), not graph inputs.
    params: HashSet<Symbol>,
    pub kernels: KernelTable,
    /// The opaque ops, by the index their [`TensorNode::Opaque`] holds.
    opaques: Vec<OpaqueOp>,
    /// Classes merged although their types differ: a rule is wrong.
    pub conflicts: Vec<String>,
}

impl TensorAnalysis {
    pub fn new(catalog: Catalog) -> TensorAnalysis {
        let op_classes = catalog.entries().map(|e| (Symbol::from(e.name.as_str()), e.class)).collect();
        TensorAnalysis {
            catalog,
            op_classes,
            attrs: HashMap::default(),
            leaves: HashMap::default(),
            leaf_constants: HashMap::default(),
            params: HashSet::new(),
            kernels: KernelTable::default(),
            opaques: Vec::new(),
            conflicts: Vec::new(),
        }
    }

    /// Interns `attrs` (already normalized) and returns their canonical text.
    pub fn intern_attrs(&mut self, attrs: Attrs) -> Symbol {
        let text: Vec<String> = attrs.iter().map(|(key, value)| format!("{key}={value}")).collect();
        let symbol = Symbol::from(format!("{{{}}}", text.join(", ")));
        self.attrs.entry(symbol).or_insert(attrs);
        symbol
    }

    pub fn op_class(&self, op: Symbol) -> Option<OpClass> {
        self.op_classes.get(&op).copied()
    }

    pub fn attrs(&self, symbol: Symbol) -> Option<&Attrs> {
        self.attrs.get(&symbol)
    }

    /// Declares an input (`param` false) or a param (weight) leaf, with its
    /// value when it is a param holding one element (an ONNX scalar
    /// initializer), so that rules see it as the constant it is.
    pub fn declare_leaf(&mut self, name: Symbol, ty: TensorType, param: bool, constant: Option<f64>) {
        self.leaves.insert(name, ty);
        if param {
            self.params.insert(name);
        }
        if let Some(value) = constant {
            self.leaf_constants.insert(name, value);
        }
    }

    /// Records an opaque op and returns the index its e-node holds.
    pub fn declare_opaque(&mut self, op: OpaqueOp) -> u32 {
        self.opaques.push(op);
        self.opaques.len() as u32 - 1
    }

    pub fn opaque(&self, index: u32) -> Option<&OpaqueOp> {
        self.opaques.get(index as usize)
    }

    /// Whether the leaf `name` is a param.
    pub fn is_param(&self, name: Symbol) -> bool {
        self.params.contains(&name)
    }

    /// Output types of `op` applied to `inputs` with the interned `attrs`.
    pub fn infer(&self, op: Symbol, attrs: Symbol, inputs: &[TensorType]) -> Result<Vec<TensorType>, String> {
        let attrs = self.attrs(attrs).ok_or_else(|| format!("`{op}` has unknown attributes"))?;
        self.catalog.infer(op.as_str(), attrs, inputs).map_err(|e| e.message)
    }

    /// The output type of `body` on inputs of types `inputs`.
    pub fn infer_body(&self, body: &Body, inputs: &[TensorType]) -> Result<TensorType, String> {
        let mut results: Vec<TensorType> = Vec::with_capacity(body.ops.len());
        for op in &body.ops {
            let operands = op
                .operands
                .iter()
                .map(|operand| match operand {
                    Operand::Input(i) => inputs.get(*i as usize).cloned(),
                    Operand::Op(i) => results.get(*i as usize).cloned(),
                })
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| "a kernel body refers to a missing operand".to_string())?;
            let mut types = self.infer(op.op, op.attrs, &operands)?;
            match (types.pop(), types.is_empty()) {
                (Some(ty), true) => results.push(ty),
                _ => return Err(format!("`{}` in a kernel body must have one output", op.op)),
            }
        }
        results.pop().ok_or_else(|| "an empty kernel body".to_string())
    }

    fn constant_value(&self, op: Symbol, attrs: Symbol) -> Option<f64> {
        match op.as_str() {
            "constant" => self.attrs(attrs)?.get("value")?.as_float(),
            _ => None,
        }
    }
}

fn input_types(egraph: &TensorGraph, children: &[Id]) -> Result<Vec<TensorType>, String> {
    children
        .iter()
        .map(|&id| {
            egraph[id]
                .data
                .single()
                .cloned()
                .ok_or_else(|| "an input has no single tensor type".to_string())
        })
        .collect()
}

fn tensors(types: Vec<TensorType>, constant: Option<f64>) -> ClassData {
    ClassData::Tensors { types, constant }
}

impl Analysis<TensorNode> for TensorAnalysis {
    type Data = ClassData;

    fn make(egraph: &mut TensorGraph, enode: &TensorNode, _id: Id) -> ClassData {
        let analysis = &egraph.analysis;
        let result = match enode {
            TensorNode::Attrs(symbol) => return ClassData::Attrs(*symbol),
            TensorNode::Leaf(name) => match analysis.leaves.get(name) {
                Some(ty) => Ok(tensors(vec![ty.clone()], analysis.leaf_constants.get(name).copied())),
                None => Err(format!("`{name}` is not an input or param")),
            },
            TensorNode::Op(op, children) => match children.split_first() {
                Some((attrs, inputs)) => match &egraph[*attrs].data {
                    ClassData::Attrs(attrs) => input_types(egraph, inputs)
                        .and_then(|inputs| analysis.infer(*op, *attrs, &inputs))
                        .map(|types| tensors(types, analysis.constant_value(*op, *attrs))),
                    _ => Err(format!("`{op}` has no attribute class")),
                },
                None => Err(format!("`{op}` has no attribute class")),
            },
            TensorNode::Get(index, [tuple]) => match &egraph[*tuple].data {
                ClassData::Tensors { types, .. } => types
                    .get(*index as usize)
                    .map(|ty| tensors(vec![ty.clone()], None))
                    .ok_or_else(|| format!("output {index} does not exist")),
                _ => Err("a projection of a non-tensor".to_string()),
            },
            TensorNode::Opaque(index, _) => analysis
                .opaque(*index)
                .map(|op| tensors(op.outputs.clone(), None))
                .ok_or_else(|| format!("opaque op {index} is not declared")),
            TensorNode::Kernel(head, inputs) => {
                let body = analysis.kernels.get(head.body).ok_or_else(|| "an unknown kernel body".to_string());
                body.and_then(|body| {
                    let inputs = input_types(egraph, inputs)?;
                    analysis.infer_body(body, &inputs).map(|ty| tensors(vec![ty], None))
                })
            }
        };
        result.unwrap_or_else(ClassData::Invalid)
    }

    fn merge(&mut self, a: &mut ClassData, b: ClassData) -> DidMerge {
        match (&mut *a, b) {
            (ClassData::Invalid(_), b @ (ClassData::Tensors { .. } | ClassData::Attrs(_))) => {
                *a = b;
                DidMerge(true, false)
            }
            (
                ClassData::Tensors { types, constant },
                ClassData::Tensors {
                    types: other_types,
                    constant: other_constant,
                },
            ) => {
                if *types != other_types {
                    self.conflicts
                        .push(format!("classes of types {types:?} and {other_types:?} were merged"));
                }
                match (*constant, other_constant) {
                    (None, Some(value)) => {
                        *constant = Some(value);
                        DidMerge(true, false)
                    }
                    (Some(_), None) => DidMerge(false, true),
                    _ => DidMerge(false, false),
                }
            }
            (ClassData::Attrs(x), ClassData::Attrs(y)) if *x == y => DidMerge(false, false),
            (_, ClassData::Invalid(_)) => DidMerge(false, true),
            (a, b) => {
                self.conflicts.push(format!("classes {a:?} and {b:?} were merged"));
                DidMerge(false, true)
            }
        }
    }
}
