//! Test helpers: small graphs built op by op, optimized for the CPU.

use opfuse_ir::{verify, Attr, DType, Graph, Op, OpSemantics, TensorType, ValueId};
use opfuse_ops::{Catalog, Chip};

use crate::extract::Cost;
use crate::{optimize, CpuRoofline, Limits, Optimized};

/// A graph under construction with the built-in catalog.
pub struct Builder {
    pub catalog: Catalog,
    pub graph: Graph,
}

impl Builder {
    pub fn new() -> Builder {
        Builder {
            catalog: Catalog::builtin().expect("the built-in catalog loads"),
            graph: Graph::new("test"),
        }
    }

    pub fn input(&mut self, name: &str, dims: &[u64]) -> ValueId {
        self.graph.add_input(name, TensorType::new(DType::F32, dims.to_vec()))
    }

    pub fn param(&mut self, name: &str, dims: &[u64]) -> ValueId {
        self.graph.add_param(name, TensorType::new(DType::F32, dims.to_vec()))
    }

    pub fn op(&mut self, op: &str, attrs: &[(&str, Attr)], inputs: &[ValueId]) -> ValueId {
        self.outputs(op, attrs, inputs)[0]
    }

    /// All outputs of `op`, for a multi-output op.
    pub fn outputs(&mut self, op: &str, attrs: &[(&str, Attr)], inputs: &[ValueId]) -> Vec<ValueId> {
        let mut attrs = attrs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        self.catalog.normalize_attrs(op, &mut attrs).expect("the attributes normalize");
        let types: Vec<TensorType> = inputs.iter().map(|&v| self.graph.ty(v).cloned().expect("a typed input")).collect();
        let outputs = self.catalog.infer(op, &attrs, &types).expect("the op types");
        let names = outputs.iter().map(|_| None).collect();
        self.graph
            .add_node(Op::Known(op.to_string()), attrs, inputs.to_vec(), outputs, names, None)
    }

    /// An opaque op with the declared f32 output shapes `outputs`.
    pub fn opaque(&mut self, op: &str, attrs: &[(&str, Attr)], inputs: &[ValueId], outputs: &[&[u64]]) -> Vec<ValueId> {
        let attrs = attrs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        let types = outputs.iter().map(|dims| TensorType::new(DType::F32, dims.to_vec())).collect();
        let names = outputs.iter().map(|_| None).collect();
        self.graph
            .add_node(Op::Opaque(op.to_string()), attrs, inputs.to_vec(), types, names, None)
    }

    pub fn constant(&mut self, value: f64) -> ValueId {
        self.op(
            "constant",
            &[("value", Attr::Float(value)), ("dtype", Attr::Str("f32".into()))],
            &[],
        )
    }

    /// Optimizes the graph returning `output` for the CPU roofline.
    pub fn optimize(self, output: ValueId) -> Optimized {
        self.optimize_for(output, None, &CpuRoofline::assumed())
    }

    /// Optimizes the graph returning `output` for `chip` under `cost`.
    pub fn optimize_for(mut self, output: ValueId, chip: Option<Chip>, cost: &dyn Cost) -> Optimized {
        self.graph.outputs = vec![output];
        let graph = verify(self.graph, &self.catalog).expect("the test graph verifies");
        optimize(&graph, &self.catalog, chip, cost, &Limits::default()).expect("it optimizes")
    }
}

/// The kinds of the kernels an optimization chose.
pub fn kinds(optimized: &Optimized) -> Vec<String> {
    optimized.kernels.iter().map(|k| k.kind.clone()).collect()
}

pub fn ints(values: &[i64]) -> Attr {
    Attr::List(values.iter().map(|&v| Attr::Int(v)).collect())
}
