//! Kernel bodies: the ops a fused kernel runs, as an expression over its
//! inputs, interned in a [`KernelTable`] so equal kernels hash-cons.

use egg::Symbol;

use crate::HashMap;

/// Where an operand of a body op comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operand {
    /// The kernel's input number `n`.
    Input(u32),
    /// The output of an earlier op of the body.
    Op(u32),
}

/// One op of a body.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BodyOp {
    pub op: Symbol,
    /// Canonical attribute text, a key of the analysis's attribute table.
    pub attrs: Symbol,
    pub operands: Vec<Operand>,
}

/// The ops of a kernel in evaluation order; the last one is its output.
/// Operands refer only to earlier ops, and inputs are numbered in order of
/// first use, so one computation has one body.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Body {
    pub ops: Vec<BodyOp>,
}

impl Body {
    /// The catalog names of the ops, in order.
    pub fn op_names(&self) -> Vec<String> {
        self.ops.iter().map(|op| op.op.to_string()).collect()
    }
}

/// The interned bodies; a kernel node names its body by index.
#[derive(Debug, Default)]
pub struct KernelTable {
    bodies: Vec<Body>,
    index: HashMap<Body, u32>,
}

impl KernelTable {
    pub fn intern(&mut self, body: Body) -> u32 {
        if let Some(&id) = self.index.get(&body) {
            return id;
        }
        let id = self.bodies.len() as u32;
        self.bodies.push(body.clone());
        self.index.insert(body, id);
        id
    }

    pub fn get(&self, id: u32) -> Option<&Body> {
        self.bodies.get(id as usize)
    }
}
