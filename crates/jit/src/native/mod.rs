//! Native stages: layout and index ops that move data rather than compute
//! (concat, ...), run in Rust on the f32 buffers by index arithmetic. They
//! need no code generation: each is a few loops of copies whose shape
//! lowering fixes from the verified types, and they spare the values the
//! round trip through the interpreter's f64 tensors.

mod concat;

use opfuse_ir::{Graph, Node, ValueId};

pub use concat::Concat;

/// One native op, with every extent fixed.
#[derive(Clone, Debug, PartialEq)]
pub enum Native {
    Concat(Concat),
}

/// The ops lowering hands to [`lower`].
pub const OPS: [&str; 1] = ["concat"];

/// The native form of `node`, or `None` when the op or these attributes
/// have no native path.
pub fn lower(graph: &Graph, node: &Node) -> Option<Native> {
    let dims = |v: &ValueId| graph.ty(*v).map(|t| t.shape.dims().to_vec());
    let inputs: Vec<Vec<u64>> = node.inputs.iter().map(dims).collect::<Option<_>>()?;
    let outputs: Vec<Vec<u64>> = node.outputs.iter().map(dims).collect::<Option<_>>()?;
    match (node.op.name(), outputs.as_slice()) {
        ("concat", [output]) => Concat::lower(&node.attrs, &inputs, output).map(Native::Concat),
        _ => None,
    }
}

impl Native {
    /// The op's name, as the catalog spells it.
    pub fn name(&self) -> &'static str {
        match self {
            Native::Concat(_) => "concat",
        }
    }

    /// Fills `outputs` from `inputs` (the node's inputs and outputs in
    /// order, as f32 buffers of their verified sizes). Buffers shorter than
    /// the extents say leave the rest of an output untouched rather than
    /// panic.
    pub fn run(&self, inputs: &[&[f32]], outputs: &mut [&mut [f32]]) {
        if let (Native::Concat(concat), [output]) = (self, outputs) {
            concat.run(inputs, output)
        }
    }
}

/// `(outer, axis, inner)`: the product of the dimensions before `axis`,
/// its extent, and the product after it.
pub(crate) fn split_at_axis(dims: &[u64], axis: usize) -> Option<(usize, usize, usize)> {
    let size = |d: &[u64]| d.iter().try_fold(1usize, |acc, &x| acc.checked_mul(usize::try_from(x).ok()?));
    Some((
        size(dims.get(..axis)?)?,
        usize::try_from(*dims.get(axis)?).ok()?,
        size(dims.get(axis + 1..)?)?,
    ))
}

/// `axis` counted from the end when negative, checked against `rank`.
pub(crate) fn axis_of(axis: i64, rank: usize) -> Option<usize> {
    let axis = if axis < 0 { axis + rank as i64 } else { axis };
    usize::try_from(axis).ok().filter(|&a| a < rank)
}
