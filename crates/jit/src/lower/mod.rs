//! Lowering: the optimized graph's kernels to stages the executor runs.
//!
//! A kernel (the nodes the e-graph fused) becomes one program when it can:
//! an elementwise chain, a row op (softmax, a norm, a last-axis reduction)
//! with its elementwise prologue, or a matrix product with its elementwise
//! epilogue; views compose into index maps. What a program cannot express
//! is cut out: a value a program cannot compute on the fly (a reshape that
//! reorders a computed value) becomes a buffer of its own, and an op
//! without a JIT path runs through the interpreter as a stage of its own.
//! Stage `inputs` name the buffers a program's accesses index; the output
//! buffer comes after them.

mod map;
mod ops;

use std::collections::{BTreeSet, HashMap, HashSet};

use opfuse_ir::{Attr, DType, Graph, NodeId, ValueDef, ValueId};

use crate::native::{self, Native};
use crate::program::{Access, Attention, AttentionMask, Binary, Conv2d, Elementwise, Epilogue, Matmul, RowOp, Rows, Step, Unary};
use map::IndexMap;

/// One step of execution.
#[derive(Clone, Debug, PartialEq)]
pub enum Stage {
    Elementwise {
        program: Elementwise,
        inputs: Vec<ValueId>,
        output: ValueId,
    },
    Rows {
        program: Rows,
        /// Applied in place to blocks of rows as they are finished; its
        /// accumulator access reads the output buffer.
        epilogue: Option<Epilogue>,
        inputs: Vec<ValueId>,
        output: ValueId,
    },
    Matmul {
        program: Matmul,
        inputs: Vec<ValueId>,
        output: ValueId,
    },
    /// A 2-D convolution; `inputs` start with x, w and the bias if any.
    Conv {
        conv: Conv2d,
        bias: bool,
        epilogue: Option<Epilogue>,
        inputs: Vec<ValueId>,
        output: ValueId,
    },
    /// Attention in the flash form; `inputs` are the buffers its accesses index.
    Attention {
        program: Attention,
        inputs: Vec<ValueId>,
        output: ValueId,
    },
    /// A layout or index op run natively on f32 buffers; `inputs` and
    /// `outputs` are the node's, in order.
    Native {
        op: Native,
        inputs: Vec<ValueId>,
        outputs: Vec<ValueId>,
    },
    /// A node the JIT has no path for, run by the reference interpreter.
    Interpret { node: NodeId },
}

impl Stage {
    /// The values the stage reads.
    pub fn reads(&self, graph: &Graph) -> Vec<ValueId> {
        match self {
            Stage::Elementwise { inputs, .. }
            | Stage::Rows { inputs, .. }
            | Stage::Matmul { inputs, .. }
            | Stage::Conv { inputs, .. }
            | Stage::Attention { inputs, .. }
            | Stage::Native { inputs, .. } => inputs.clone(),
            Stage::Interpret { node } => graph.node(*node).map(|n| n.inputs.clone()).unwrap_or_default(),
        }
    }

    /// The values the stage writes.
    pub fn writes(&self, graph: &Graph) -> Vec<ValueId> {
        match self {
            Stage::Elementwise { output, .. }
            | Stage::Rows { output, .. }
            | Stage::Matmul { output, .. }
            | Stage::Conv { output, .. }
            | Stage::Attention { output, .. } => vec![*output],
            Stage::Native { outputs, .. } => outputs.clone(),
            Stage::Interpret { node } => graph.node(*node).map(|n| n.outputs.clone()).unwrap_or_default(),
        }
    }
}

/// How lowering runs an op: the JIT path it tries. A node whose
/// attributes or dtypes the path cannot express (see [`Path::limits`])
/// still runs through the interpreter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Path {
    /// Composed into the index maps of the ops that read it.
    View,
    /// Steps of a compiled elementwise loop (or of a prologue/epilogue).
    Elementwise,
    /// A compiled row kernel: a reduction, softmax or norm.
    Rows,
    /// Packed GEMM with the compiled micro-kernel (or the library's).
    Matmul,
    /// im2col and the GEMM.
    Conv,
    /// Flash attention: GEMMs on tiles, online softmax.
    Attention,
    /// Data movement in Rust on f32 buffers (`native/`).
    Native,
    Interpreter,
}

/// The row ops beside the reductions (`native::REDUCTIONS`).
const ROW_OPS: [&str; 4] = ["softmax", "log_softmax", "layer_norm", "rms_norm"];

/// The path lowering tries for `op`.
pub fn path_of(op: &str) -> Path {
    match op {
        "matmul" | "batch_matmul" | "gemm" => Path::Matmul,
        "conv" => Path::Conv,
        "scaled_dot_product_attention" => Path::Attention,
        op if ROW_OPS.contains(&op) || native::REDUCTIONS.contains(&op) => Path::Rows,
        op if native::OPS.contains(&op) => Path::Native,
        op if VIEWS.contains(&op) => Path::View,
        op if ops::lowers(op) => Path::Elementwise,
        _ => Path::Interpreter,
    }
}

impl Path {
    pub fn name(self) -> &'static str {
        match self {
            Path::View => "view",
            Path::Elementwise => "elementwise",
            Path::Rows => "rows",
            Path::Matmul => "gemm",
            Path::Conv => "conv (im2col + gemm)",
            Path::Attention => "flash attention",
            Path::Native => "native",
            Path::Interpreter => "interpreter",
        }
    }

    /// What the path requires of `op`'s nodes beyond f32-representable
    /// dtypes, where it does not take every node (the checks are in this
    /// module and in `ops.rs`).
    pub fn limits(op: &str) -> &'static str {
        match op {
            "softmax" | "log_softmax" => "last axis",
            op if native::REDUCTIONS.contains(&op) => "rows: reduced axes the input walks as one run; native: the others",
            "gemm" => "alpha 1",
            "conv" => "compiled: 2-D, one group; native: the others",
            "scaled_dot_product_attention" => "f32, no past cache, no score outputs",
            "cast" => "compiled to a float type or bool; native to integers from floats or integers of at most 16 bits",
            "mod" | "bit_shift" | "bitwise_and" | "bitwise_or" | "bitwise_xor" | "bitwise_not" => "floats, or integers of at most 16 bits",
            "cast_like" => "from floats, bools or integers of at most 16 bits",
            "gather" | "index_select" | "embedding" | "gather_elements" | "gather_nd" | "scatter_elements" | "scatter_nd" | "one_hot"
            | "top_k" | "argmax" | "argmin" => "integer values below 2^24 (they travel as f32)",
            "add_n" | "mean_n" => "at most two operands",
            "swiglu" => "two operands",
            "reshape" | "flatten" => "a computed input that is reordered is buffered first",
            _ => "",
        }
    }
}

/// The stages of the whole graph, kernel by kernel in the graph's order;
/// nodes outside every kernel (views the cost model saw as free) are
/// groups of their own.
pub fn lower(graph: &Graph, kernels: &[Vec<NodeId>]) -> Vec<Stage> {
    let mut group_of: HashMap<NodeId, usize> = HashMap::new();
    for (index, nodes) in kernels.iter().enumerate() {
        for &node in nodes {
            group_of.insert(node, index);
        }
    }
    let uses = use_counts(graph);
    let outputs: HashSet<ValueId> = graph.outputs.iter().copied().collect();
    let mut stages = Vec::new();
    let mut lowered: HashSet<usize> = HashSet::new();
    for id in graph.node_ids() {
        let group: Vec<NodeId> = match group_of.get(&id) {
            Some(&index) if !lowered.insert(index) => continue,
            Some(&index) => kernels.get(index).cloned().unwrap_or_default(),
            None => vec![id],
        };
        stages.extend(Group::new(graph, &group, &uses, &outputs).lower());
    }
    // Kernels the optimizer left apart still fuse where one is the
    // elementwise epilogue of the one before it.
    fuse_epilogues(stages, &outputs, graph)
}

/// How many times each value is read by any node, plus once per graph output.
fn use_counts(graph: &Graph) -> HashMap<ValueId, usize> {
    let mut uses = HashMap::new();
    for node in &graph.nodes {
        for &input in &node.inputs {
            *uses.entry(input).or_insert(0) += 1;
        }
    }
    for &output in &graph.outputs {
        *uses.entry(output).or_insert(0) += 1;
    }
    uses
}

/// Why a program could not be built as it stands.
enum Need {
    /// The value must be computed into a buffer first.
    Buffer(ValueId),
    /// The node must run through the interpreter.
    Interpret(NodeId),
}

/// One kernel's nodes and the cuts lowering has made in it so far.
struct Group<'g> {
    graph: &'g Graph,
    /// The producing node of each value the group computes.
    produced: HashMap<ValueId, NodeId>,
    /// Values that live in buffers: read by others, or cut.
    buffered: BTreeSet<ValueId>,
    /// Values read outside the group (or graph outputs): never overwritten.
    external: HashSet<ValueId>,
    interpreted: BTreeSet<NodeId>,
}

impl<'g> Group<'g> {
    fn new(graph: &'g Graph, nodes: &[NodeId], uses: &HashMap<ValueId, usize>, outputs: &HashSet<ValueId>) -> Group<'g> {
        let mut produced = HashMap::new();
        for &id in nodes {
            for &value in graph.node(id).map(|n| n.outputs.as_slice()).unwrap_or_default() {
                produced.insert(value, id);
            }
        }
        let inside_uses = |value: ValueId| {
            nodes
                .iter()
                .filter_map(|&id| graph.node(id))
                .flat_map(|n| n.inputs.iter())
                .filter(|&&input| input == value)
                .count()
        };
        let external: HashSet<ValueId> = produced
            .keys()
            .copied()
            .filter(|&v| outputs.contains(&v) || uses.get(&v).copied().unwrap_or(0) > inside_uses(v))
            .collect();
        Group {
            graph,
            produced,
            buffered: external.iter().copied().collect(),
            external,
            interpreted: BTreeSet::new(),
        }
    }

    /// Cuts until every buffered value has a stage.
    fn lower(mut self) -> Vec<Stage> {
        loop {
            match self.stages() {
                Ok(stages) => return fuse_epilogues(stages, &self.external, self.graph),
                Err(Need::Buffer(value)) => {
                    self.buffered.insert(value);
                }
                Err(Need::Interpret(node)) => self.interpret(node),
            }
        }
    }

    fn interpret(&mut self, node: NodeId) {
        self.interpreted.insert(node);
        if let Some(n) = self.graph.node(node) {
            self.buffered
                .extend(n.outputs.iter().chain(&n.inputs).filter(|v| self.produced.contains_key(v)));
        }
    }

    fn stages(&self) -> Result<Vec<Stage>, Need> {
        let mut order: Vec<(NodeId, ValueId)> = self
            .buffered
            .iter()
            .filter_map(|&v| self.produced.get(&v).map(|&n| (n, v)))
            .collect();
        order.sort();
        let mut stages = Vec::new();
        let mut interpreted_done = HashSet::new();
        let mut native_done = HashSet::new();
        for (node, value) in order {
            if self.interpreted.contains(&node) {
                if interpreted_done.insert(node) {
                    // What the compiled paths refuse (a grouped conv, a cast
                    // to an integer, a reduction no row walks) a native
                    // stage may still take; its inputs are buffers by now.
                    stages.push(self.native(node).unwrap_or(Stage::Interpret { node }));
                }
                continue;
            }
            if graph_is_native(self.graph, node) && !native_done.insert(node) {
                continue;
            }
            match self.stage(node, value) {
                // A buffer cannot help (it already is one, or is not computed
                // here): the node itself has no JIT path.
                Err(Need::Buffer(v)) if self.buffered.contains(&v) || !self.produced.contains_key(&v) => {
                    return Err(Need::Interpret(node));
                }
                stage => stages.push(stage?),
            }
        }
        Ok(stages)
    }

    fn stage(&self, node: NodeId, value: ValueId) -> Result<Stage, Need> {
        let graph = self.graph;
        let n = graph.node(node).ok_or(Need::Interpret(node))?;
        if n.outputs.len() != 1 && n.op.name() != "split" && !native::OPS.contains(&n.op.name()) {
            return Err(Need::Interpret(node));
        }
        match path_of(n.op.name()) {
            Path::Matmul => self.matmul(node, value),
            Path::Conv => self.conv(node, value),
            Path::Attention => self.attention(node, value),
            Path::Native => self.native(node),
            Path::Rows => self.rows(node, value),
            Path::Interpreter => Err(Need::Interpret(node)),
            Path::View | Path::Elementwise => {
                let mut builder = Builder::new(self);
                let root = builder.value(value, IndexMap::identity(dims(graph, value).len()), true)?;
                let program = builder.finish(dims(graph, value), root);
                Ok(Stage::Elementwise {
                    program,
                    inputs: builder.buffers,
                    output: value,
                })
            }
        }
    }

    fn matmul(&self, node: NodeId, value: ValueId) -> Result<Stage, Need> {
        let graph = self.graph;
        let n = graph.node(node).ok_or(Need::Interpret(node))?;
        let interpret = Need::Interpret(node);
        let (a, b) = match n.inputs.as_slice() {
            [a, b] => (*a, *b),
            _ => return Err(interpret),
        };
        let out = dims(graph, value);
        let (a_dims, b_dims) = (dims(graph, a), dims(graph, b));
        if a_dims.len() < 2 || b_dims.len() < 2 || out.len() < 2 {
            return Err(interpret);
        }
        let flag = |key: &str| n.attrs.get(key).and_then(Attr::as_bool).unwrap_or(false);
        if n.op.name() == "gemm" && n.attrs.get("alpha").and_then(Attr::as_float).unwrap_or(1.0) != 1.0 {
            return Err(interpret);
        }
        let (trans_a, trans_b) = (flag("trans_a"), flag("trans_b"));
        let rank = out.len();
        let batch: Vec<u64> = out.get(..rank - 2).unwrap_or_default().to_vec();
        let (m, n_cols) = (out[rank - 2], out[rank - 1]);
        let k = if trans_a {
            a_dims[a_dims.len() - 2]
        } else {
            a_dims[a_dims.len() - 1]
        };
        let space = |rows: u64, cols: u64| -> Vec<u64> { batch.iter().copied().chain([rows, cols]).collect() };
        let mut builder = Builder::new(self);
        let operand = |builder: &mut Builder, value: ValueId, space: &[u64], transposed: bool| -> Result<Access, Need> {
            let mut logical: Vec<u64> = dims(graph, value).to_vec();
            let mut map = IndexMap::identity(rank);
            if transposed {
                let r = logical.len();
                logical.swap(r - 2, r - 1);
                let perm: Vec<i64> = (0..r as i64)
                    .map(|d| {
                        if d == r as i64 - 2 {
                            d + 1
                        } else if d == r as i64 - 1 {
                            d - 1
                        } else {
                            d
                        }
                    })
                    .collect();
                map = map.broadcast_to_operand(&logical, space).ok_or(Need::Interpret(node))?;
                map = map.through_transpose(&perm).ok_or(Need::Interpret(node))?;
            } else {
                map = map.broadcast_to_operand(&logical, space).ok_or(Need::Interpret(node))?;
            }
            builder.access(value, map)
        };
        let a_access = operand(&mut builder, a, &space(m, k), trans_a)?;
        let b_access = operand(&mut builder, b, &space(k, n_cols), trans_b)?;
        let size = |d: u64| usize::try_from(d).map_err(|_| Need::Interpret(node));
        let program = Matmul {
            batch: batch.iter().map(|&d| size(d)).collect::<Result<_, _>>()?,
            m: size(m)?,
            n: size(n_cols)?,
            k: size(k)?,
            a: a_access,
            b: b_access,
            epilogue: None,
        };
        Ok(Stage::Matmul {
            program,
            inputs: builder.buffers,
            output: value,
        })
    }

    /// A 2-D convolution of one group on buffered x and w (a view would
    /// first have to be gathered anyway).
    fn conv(&self, node: NodeId, value: ValueId) -> Result<Stage, Need> {
        let graph = self.graph;
        let n = graph.node(node).ok_or(Need::Interpret(node))?;
        let interpret = || Need::Interpret(node);
        let ints = |key: &str, default: [i64; 2]| -> Option<[usize; 2]> {
            let list = n
                .attrs
                .get(key)
                .and_then(Attr::as_ints)
                .filter(|l| !l.is_empty())
                .unwrap_or(default.to_vec());
            match list.as_slice() {
                [a, b] => Some([usize::try_from(*a).ok()?, usize::try_from(*b).ok()?]),
                _ => None,
            }
        };
        let auto_pad = n.attrs.get("auto_pad").and_then(Attr::as_str).unwrap_or("NOTSET");
        let groups = n.attrs.get("groups").and_then(Attr::as_int).unwrap_or(1);
        let pads = n.attrs.get("pads").and_then(Attr::as_ints).unwrap_or_default();
        let pads = match pads.as_slice() {
            [] => [0, 0],
            [top, left, _, _] => [
                usize::try_from(*top).map_err(|_| interpret())?,
                usize::try_from(*left).map_err(|_| interpret())?,
            ],
            _ => return Err(interpret()),
        };
        let (strides, dilations) = (
            ints("strides", [1, 1]).ok_or_else(interpret)?,
            ints("dilations", [1, 1]).ok_or_else(interpret)?,
        );
        let (x, w) = match n.inputs.as_slice() {
            [x, w] | [x, w, _] => (*x, *w),
            _ => return Err(interpret()),
        };
        let size = |d: &u64| usize::try_from(*d).map_err(|_| interpret());
        let dims4 = |v: ValueId| -> Result<[usize; 4], Need> {
            match dims(graph, v) {
                [a, b, c, d] => Ok([size(a)?, size(b)?, size(c)?, size(d)?]),
                _ => Err(interpret()),
            }
        };
        let ([batch, channels, height, width], [filters, _, kh, kw], [_, _, oh, ow]) = (dims4(x)?, dims4(w)?, dims4(value)?);
        let computed = graph.ty(value).is_some_and(|t| ops::computes(t.dtype));
        if groups != 1 || auto_pad != "NOTSET" || !computed {
            return Err(interpret());
        }
        for operand in &n.inputs {
            if !self.buffered.contains(operand) && self.produced.contains_key(operand) {
                return Err(Need::Buffer(*operand));
            }
        }
        Ok(Stage::Conv {
            conv: Conv2d {
                batch,
                channels,
                height,
                width,
                filters,
                kernel: [kh, kw],
                out: [oh, ow],
                strides,
                pads,
                dilations,
            },
            bias: n.inputs.len() == 3,
            epilogue: None,
            inputs: n.inputs.clone(),
            output: value,
        })
    }

    /// A native stage reading the node's inputs as buffers and writing all
    /// of its outputs.
    fn native(&self, node: NodeId) -> Result<Stage, Need> {
        let graph = self.graph;
        let n = graph.node(node).ok_or(Need::Interpret(node))?;
        // Native stages only move and compare values: integers travel as
        // f32, exact below 2^24 (indices, counts), as well as floats.
        let typed = |v: &ValueId| graph.ty(*v).is_some_and(|t| ops::computes(t.dtype) || t.dtype.is_integer());
        if !n.inputs.iter().chain(&n.outputs).all(typed) {
            return Err(Need::Interpret(node));
        }
        let op = native::lower(graph, n).ok_or(Need::Interpret(node))?;
        if let Some(&computed) = n
            .inputs
            .iter()
            .find(|v| self.produced.contains_key(v) && !self.buffered.contains(v))
        {
            return Err(Need::Buffer(computed));
        }
        Ok(Stage::Native {
            op,
            inputs: n.inputs.clone(),
            outputs: n.outputs.clone(),
        })
    }

    /// Attention without a past cache or score outputs, on f32, with q, k
    /// and v as `[B, H, S, D]` (views of buffers) or packed `[B, S, H * D]`
    /// buffers.
    fn attention(&self, node: NodeId, value: ValueId) -> Result<Stage, Need> {
        let graph = self.graph;
        let n = graph.node(node).ok_or(Need::Interpret(node))?;
        let interpret = || Need::Interpret(node);
        let int = |key: &str, default: i64| n.attrs.get(key).and_then(Attr::as_int).unwrap_or(default);
        let float = |key: &str| n.attrs.get(key).and_then(Attr::as_float).unwrap_or(0.0);
        let flag = |key: &str| n.attrs.get(key).and_then(Attr::as_bool).unwrap_or(false);
        let f32_typed = |v: ValueId| graph.ty(v).is_some_and(|t| t.dtype == DType::F32);
        let (q, k, v, mask) = match n.inputs.as_slice() {
            [q, k, v] => (*q, *k, *v, None),
            [q, k, v, mask] => (*q, *k, *v, Some(*mask)),
            _ => return Err(interpret()),
        };
        if flag("qk_matmul_output") || ![q, k, v, value].into_iter().all(f32_typed) || !matches!(int("softmax_precision", 0), 0 | 1) {
            return Err(interpret());
        }
        let size = |d: u64| usize::try_from(d).map_err(|_| interpret());
        let packed = dims(graph, q).len() == 3;
        // Each operand's [B, H, S, D] extents.
        let heads = |value: ValueId, key: &str| -> Result<[u64; 4], Need> {
            match (dims(graph, value), packed) {
                (&[b, h, s, d], false) => Ok([b, h, s, d]),
                (&[b, s, hd], true) => {
                    let h = u64::try_from(int(key, 0))
                        .ok()
                        .filter(|&h| h > 0 && hd % h == 0)
                        .ok_or_else(interpret)?;
                    Ok([b, h, s, hd / h])
                }
                _ => Err(interpret()),
            }
        };
        let (qd, kd, vd) = (heads(q, "q_num_heads")?, heads(k, "kv_num_heads")?, heads(v, "kv_num_heads")?);
        let [batch, q_heads, q_len, head] = qd;
        let (kv_heads, kv_len, v_head) = (kd[1], kd[2], vd[3]);
        if kd[0] != batch
            || vd[0] != batch
            || kd[3] != head
            || vd[1] != kv_heads
            || vd[2] != kv_len
            || kv_heads == 0
            || q_heads % kv_heads != 0
        {
            return Err(interpret());
        }
        let mut builder = Builder::new(self);
        let mut operand = |value: ValueId, extents: [u64; 4]| -> Result<Access, Need> {
            match packed {
                false => builder.access(value, IndexMap::identity(4)),
                // [b, h, s, d] reads the packed [B, S, H, D] layout.
                true => {
                    let map = IndexMap::identity(4).through_transpose(&[0, 2, 1, 3]).ok_or_else(interpret)?;
                    let [b, h, s, d] = extents;
                    builder.access_as(value, &[b, s, h, d], &map)
                }
            }
        };
        let (qa, ka, va) = (operand(q, qd)?, operand(k, kd)?, operand(v, vd)?);
        let mask = match mask {
            None => None,
            Some(m) => {
                let scores = [batch, q_heads, q_len, kv_len];
                let mask_dims = dims(graph, m);
                if mask_dims.len() > 4 || !matches!(mask_dims.last(), Some(&t) if t == kv_len || t == 1) {
                    return Err(interpret());
                }
                let map = IndexMap::identity(4)
                    .broadcast_to_operand(mask_dims, &scores)
                    .ok_or_else(interpret)?;
                let boolean = graph.ty(m).is_some_and(|t| t.dtype == DType::Bool);
                Some(AttentionMask {
                    access: builder.access(m, map)?,
                    boolean,
                })
            }
        };
        let scale = match float("scale") {
            0.0 => 1.0 / (head as f64).sqrt(),
            s => s,
        } as f32;
        let window = |key: &str| usize::try_from(int(key, -1)).ok();
        let mut extents = [0usize; 7];
        for (slot, d) in extents.iter_mut().zip([batch, q_heads, kv_heads, q_len, kv_len, head, v_head]) {
            *slot = size(d)?;
        }
        let [batch, q_heads, kv_heads, q_len, kv_len, head, v_head] = extents;
        let out_strides = match packed {
            false => [q_heads * q_len * v_head, q_len * v_head, v_head, 1],
            true => [q_len * q_heads * v_head, v_head, q_heads * v_head, 1],
        };
        let program = Attention {
            batch,
            q_heads,
            kv_heads,
            q_len,
            kv_len,
            head,
            v_head,
            q: qa,
            k: ka,
            v: va,
            mask,
            scale,
            softcap: float("softcap") as f32,
            causal: flag("is_causal"),
            window: [window("left_window_size"), window("right_window_size")],
            out_strides,
        };
        Ok(Stage::Attention {
            program,
            inputs: builder.buffers,
            output: value,
        })
    }

    /// A row op: the reduced axes (any, for a reduction; the trailing ones
    /// from `axis` for a norm; the last for a softmax) become one row,
    /// read through a permutation of the index space when they are not
    /// trailing, and merged when every access walks them as one.
    fn rows(&self, node: NodeId, value: ValueId) -> Result<Stage, Need> {
        let graph = self.graph;
        let n = graph.node(node).ok_or(Need::Interpret(node))?;
        let interpret = || Need::Interpret(node);
        let x = *n.inputs.first().ok_or_else(interpret)?;
        let shape = dims(graph, x);
        let rank = shape.len();
        let axis_of = |axis: i64| native::axis_of(axis, rank).ok_or_else(interpret);
        let axis = || axis_of(n.attrs.get("axis").and_then(Attr::as_int).unwrap_or(-1));
        let epsilon = n.attrs.get("epsilon").and_then(Attr::as_float).unwrap_or(1e-5) as f32;
        let last_only = |op: RowOp| -> Result<(RowOp, Vec<usize>), Need> {
            match axis()? + 1 == rank {
                true => Ok((op, vec![rank - 1])),
                false => Err(interpret()),
            }
        };
        let (op, reduced) = match n.op.name() {
            "softmax" => last_only(RowOp::Softmax)?,
            "log_softmax" => last_only(RowOp::LogSoftmax)?,
            "layer_norm" => (RowOp::LayerNorm { epsilon }, (axis()?..rank).collect()),
            "rms_norm" => (RowOp::RmsNorm { epsilon }, (axis()?..rank).collect()),
            reduction => {
                let op = match reduction {
                    "sum" | "reduce_l1" | "reduce_sum_square" => RowOp::Sum,
                    "mean" => RowOp::Mean,
                    "reduce_max" => RowOp::Max,
                    "reduce_min" => RowOp::Min,
                    "reduce_prod" => RowOp::Prod,
                    "reduce_l2" => RowOp::L2,
                    "reduce_log_sum" => RowOp::LogSum,
                    "reduce_log_sum_exp" => RowOp::LogSumExp,
                    _ => return Err(interpret()),
                };
                let listed = n.attrs.get("axes").and_then(Attr::as_ints).unwrap_or_default();
                let noop = n.attrs.get("noop_with_empty_axes").and_then(Attr::as_bool).unwrap_or(false);
                let mut axes = match (listed.is_empty(), noop) {
                    (true, true) => return Err(interpret()),
                    (true, false) => (0..rank).collect(),
                    (false, _) => listed.iter().map(|&a| axis_of(a)).collect::<Result<Vec<_>, _>>()?,
                };
                axes.sort_unstable();
                axes.dedup();
                (op, axes)
            }
        };
        let row_len: u64 = reduced.iter().filter_map(|&a| shape.get(a)).product();
        let float = graph.ty(x).is_some_and(|t| t.dtype.is_float());
        // An empty row's identity (-inf for a max) is the dtype's limit for
        // integers and bools, which a kernel on f32 does not know.
        if rank == 0 || reduced.is_empty() || (row_len == 0 && !float) {
            return Err(interpret());
        }
        // The index space: the kept axes in order, then the reduced ones.
        let perm: Vec<usize> = (0..rank).filter(|a| !reduced.contains(a)).chain(reduced.iter().copied()).collect();
        let space: Vec<u64> = perm.iter().map(|&a| shape.get(a).copied().unwrap_or(1)).collect();
        let perm_attr: Vec<i64> = perm.iter().map(|&a| a as i64).collect();
        let map = IndexMap::identity(rank).through_transpose(&perm_attr).ok_or_else(interpret)?;
        let mut builder = Builder::new(self);
        let mut root = builder.value(x, map, false)?;
        root = match n.op.name() {
            "reduce_l1" => push_step(&mut builder.steps, Step::Unary(Unary::Abs, root)),
            "reduce_sum_square" => push_step(&mut builder.steps, Step::Binary(Binary::Mul, root, root)),
            _ => root,
        };
        let mut side = |position: usize| -> Result<Option<Access>, Need> {
            let Some(&operand) = n.inputs.get(position) else {
                return Ok(None);
            };
            let map = IndexMap::identity(rank)
                .broadcast_to_operand(dims(graph, operand), shape)
                .ok_or_else(interpret)?;
            builder.access(operand, map).map(Some)
        };
        let (mut scale, mut bias) = match op {
            RowOp::LayerNorm { .. } => (side(1)?, side(2)?),
            RowOp::RmsNorm { .. } => (side(1)?, None),
            _ => (None, None),
        };
        let mut prologue = builder.finish(&space, root);
        let mut sides: Vec<&mut Access> = scale.iter_mut().chain(bias.iter_mut()).collect();
        if !merge_trailing(&mut prologue, &mut sides, reduced.len()) {
            // A computed input (a broadcast operand in the row, say) reads
            // as one run once it is a buffer of its own.
            return Err(match self.produced.contains_key(&x) && !self.buffered.contains(&x) {
                true => Need::Buffer(x),
                false => interpret(),
            });
        }
        Ok(Stage::Rows {
            epilogue: None,
            program: Rows { prologue, op, scale, bias },
            inputs: builder.buffers,
            output: value,
        })
    }
}

fn push_step(steps: &mut Vec<Step>, step: Step) -> usize {
    steps.push(step);
    steps.len() - 1
}

/// Merges the last `count` dimensions of `program`'s space into one, as
/// long as every access (its own and `sides`) walks them as one run of
/// equal steps; `false` when one does not (the program is then left half
/// merged, for the caller to drop).
fn merge_trailing(program: &mut Elementwise, sides: &mut [&mut Access], count: usize) -> bool {
    let rank = program.shape.len();
    let Some(first) = rank.checked_sub(count.max(1)) else {
        return false;
    };
    let shape = &program.shape;
    let walks_as_one = |access: &Access| {
        (first..rank - 1).all(
            |d| match (shape.get(d), shape.get(d + 1), access.strides.get(d), access.strides.get(d + 1)) {
                (Some(_), Some(&inner), Some(&outer_stride), Some(&inner_stride)) => outer_stride == inner_stride * inner as isize,
                _ => false,
            },
        )
    };
    // Size-1 dimensions are walked by any stride; drop them first.
    if !program.inputs.iter().chain(sides.iter().map(|a| &**a)).all(walks_as_one) {
        let keep: Vec<usize> = (0..rank).filter(|&d| d < first || shape.get(d) != Some(&1)).collect();
        if keep.len() == rank {
            return false;
        }
        let squeeze = |access: &mut Access| access.strides = keep.iter().filter_map(|&d| access.strides.get(d).copied()).collect();
        program.inputs.iter_mut().for_each(squeeze);
        sides.iter_mut().for_each(|a| squeeze(a));
        program.shape = keep.iter().filter_map(|&d| program.shape.get(d).copied()).collect();
        let remaining = program.shape.len() - first;
        return match remaining {
            0 => {
                // Every reduced dimension had size 1: one row of one element.
                program.shape.push(1);
                program.inputs.iter_mut().for_each(|a| a.strides.push(0));
                sides.iter_mut().for_each(|a| a.strides.push(0));
                true
            }
            _ => merge_trailing(program, sides, remaining),
        };
    }
    let len: usize = program.shape.get(first..).map_or(1, |d| d.iter().product());
    let merge = |access: &mut Access| {
        let inner = access.strides.last().copied().unwrap_or(0);
        access.strides.truncate(first);
        access.strides.push(inner);
    };
    program.inputs.iter_mut().for_each(merge);
    sides.iter_mut().for_each(|a| merge(a));
    program.shape.truncate(first);
    program.shape.push(len);
    true
}

/// Views lowering composes into index maps.
const VIEWS: [&str; 8] = [
    "transpose",
    "slice",
    "split",
    "expand",
    "reshape",
    "squeeze",
    "unsqueeze",
    "flatten",
];

/// Whether `node` is one a native stage may run (all its outputs at once).
fn graph_is_native(graph: &Graph, node: NodeId) -> bool {
    graph.node(node).is_some_and(|n| native::OPS.contains(&n.op.name()))
}

/// Where output `value` of split node `n` starts: its axis, and the sum of
/// the earlier outputs' extents along it.
fn split_position(graph: &Graph, n: &opfuse_ir::Node, value: ValueId) -> Option<(usize, u64)> {
    let x = dims(graph, *n.inputs.first()?);
    let axis = n.attrs.get("axis").and_then(Attr::as_int).unwrap_or(0);
    let axis = usize::try_from(if axis < 0 { axis + x.len() as i64 } else { axis }).ok()?;
    let index = n.outputs.iter().position(|&o| o == value)?;
    let start = n
        .outputs
        .get(..index)?
        .iter()
        .map(|&o| dims(graph, o).get(axis).copied())
        .sum::<Option<u64>>()?;
    Some((axis, start))
}

fn dims(graph: &Graph, value: ValueId) -> &[u64] {
    graph.ty(value).map(|t| t.shape.dims()).unwrap_or_default()
}

/// Builds one program's steps and the buffers its accesses read.
struct Builder<'a, 'g> {
    group: &'a Group<'g>,
    steps: Vec<Step>,
    accesses: Vec<Access>,
    buffers: Vec<ValueId>,
    memo: HashMap<(ValueId, IndexMap), usize>,
}

impl<'a, 'g> Builder<'a, 'g> {
    fn new(group: &'a Group<'g>) -> Builder<'a, 'g> {
        Builder {
            group,
            steps: Vec::new(),
            accesses: Vec::new(),
            buffers: Vec::new(),
            memo: HashMap::new(),
        }
    }

    fn finish(&mut self, shape: &[u64], root: usize) -> Elementwise {
        // The root must be the last step: a program's result is its last step.
        if root + 1 != self.steps.len() {
            if let Some(step) = self.steps.get(root).cloned() {
                self.steps.push(step);
            }
        }
        Elementwise {
            shape: shape.iter().map(|&d| d as usize).collect(),
            inputs: std::mem::take(&mut self.accesses),
            steps: std::mem::take(&mut self.steps),
        }
    }

    /// The access reading `value` (a buffer, or views of one) at `map`; a
    /// computed value must become a buffer first.
    fn access(&mut self, value: ValueId, map: IndexMap) -> Result<Access, Need> {
        let step = self.value(value, map, false)?;
        match self.steps.get(step) {
            Some(Step::Load(n)) => self.accesses.get(*n).cloned().ok_or(Need::Buffer(value)),
            _ => Err(Need::Buffer(value)),
        }
    }

    /// The access reading buffer `value` as if it had row-major `shape`.
    fn access_as(&mut self, value: ValueId, shape: &[u64], map: &IndexMap) -> Result<Access, Need> {
        let step = self.load(value, shape, map)?;
        match self.steps.get(step) {
            Some(Step::Load(n)) => self.accesses.get(*n).cloned().ok_or(Need::Buffer(value)),
            _ => Err(Need::Buffer(value)),
        }
    }

    fn is_buffer(&self, value: ValueId) -> bool {
        self.group.buffered.contains(&value) || !self.group.produced.contains_key(&value)
    }

    /// The step computing `value` at `map`; `root` is the value the program
    /// writes, computed here even though it is buffered.
    fn value(&mut self, value: ValueId, map: IndexMap, root: bool) -> Result<usize, Need> {
        if let Some(&step) = self.memo.get(&(value, map.clone())) {
            return Ok(step);
        }
        let step = match (!root && self.is_buffer(value), self.group.produced.get(&value)) {
            (false, Some(&node)) => self.computed(value, node, &map)?,
            _ => self.load(value, dims(self.group.graph, value), &map)?,
        };
        self.memo.insert((value, map), step);
        Ok(step)
    }

    fn load(&mut self, value: ValueId, shape: &[u64], map: &IndexMap) -> Result<usize, Need> {
        if !self.is_buffer(value) {
            return Err(Need::Buffer(value));
        }
        // A one-element param with data (an ONNX scalar initializer) is a
        // constant of the program: the code generator then specializes on it
        // (`pow(x, 2)` as a product).
        if let Some(tensor) = self.group.graph.param_data.get(&value) {
            if let [constant] = tensor.data() {
                self.steps.push(Step::Const(*constant as f32));
                return Ok(self.steps.len() - 1);
            }
        }
        let (offset, strides) = map.linear(shape).ok_or(Need::Buffer(value))?;
        let buffer = match self.buffers.iter().position(|&b| b == value) {
            Some(position) => position,
            None => {
                self.buffers.push(value);
                self.buffers.len() - 1
            }
        };
        let access = Access { buffer, offset, strides };
        let index = match self.accesses.iter().position(|a| *a == access) {
            Some(index) => index,
            None => {
                self.accesses.push(access);
                self.accesses.len() - 1
            }
        };
        self.steps.push(Step::Load(index));
        Ok(self.steps.len() - 1)
    }

    fn computed(&mut self, value: ValueId, node: NodeId, map: &IndexMap) -> Result<usize, Need> {
        let graph = self.group.graph;
        let n = graph.node(node).ok_or(Need::Interpret(node))?;
        let out = dims(graph, value);
        let input = n.inputs.first().copied();
        let view_input = |m: Option<IndexMap>| -> Result<(ValueId, IndexMap), Need> {
            Ok((input.ok_or(Need::Interpret(node))?, m.ok_or(Need::Interpret(node))?))
        };
        match n.op.name() {
            "transpose" => {
                let perm = n.attrs.get("perm").and_then(Attr::as_ints).ok_or(Need::Interpret(node))?;
                let (x, m) = view_input(map.through_transpose(&perm))?;
                self.value(x, m, false)
            }
            "slice" => {
                let x = input.ok_or(Need::Interpret(node))?;
                let (x, m) = view_input(map.through_slice(&n.attrs, dims(graph, x)))?;
                self.value(x, m, false)
            }
            "expand" => {
                let x = input.ok_or(Need::Interpret(node))?;
                let (x, m) = view_input(map.broadcast_to_operand(dims(graph, x), out))?;
                self.value(x, m, false)
            }
            "split" => {
                let (axis, start) = split_position(graph, n, value).ok_or(Need::Interpret(node))?;
                let (x, m) = view_input(map.through_split(axis, start))?;
                self.value(x, m, false)
            }
            "reshape" | "squeeze" | "unsqueeze" | "flatten" => {
                let x = input.ok_or(Need::Interpret(node))?;
                match map.through_unit_reshape(dims(graph, x), out) {
                    Some(m) => self.value(x, m, false),
                    // Row-major order is what a reshape keeps: a buffer reads
                    // through the reshaped shape's strides.
                    None if self.is_buffer(x) => self.load(x, out, map),
                    None => Err(Need::Buffer(x)),
                }
            }
            op if ops::lowers(op) => {
                let dtype_ok = graph.ty(value).is_some_and(|t| ops::computes(t.dtype));
                if !dtype_ok || n.outputs.len() != 1 {
                    return Err(Need::Interpret(node));
                }
                let mut operands = Vec::with_capacity(n.inputs.len());
                for &operand in &n.inputs {
                    let m = map.broadcast_to_operand(dims(graph, operand), out).ok_or(Need::Interpret(node))?;
                    operands.push(self.value(operand, m, false)?);
                }
                ops::emit(op, &n.attrs, &operands, &mut self.steps).ok_or(Need::Interpret(node))
            }
            _ if matches!(graph.value(value).map(|v| v.def), Some(ValueDef::Node { .. })) => Err(Need::Buffer(value)),
            _ => Err(Need::Interpret(node)),
        }
    }
}

/// Folds an elementwise stage into the matmul or row stage before it when
/// it reads that stage's output element for element and nothing else reads
/// it: the first stage then writes the epilogue's output, applying it
/// block by block while the block is in cache.
fn fuse_epilogues(stages: Vec<Stage>, external: &HashSet<ValueId>, graph: &Graph) -> Vec<Stage> {
    // The last stage that reads each value.
    let mut last_read: HashMap<ValueId, usize> = HashMap::new();
    for (index, stage) in stages.iter().enumerate() {
        for value in stage.reads(graph) {
            last_read.insert(value, index);
        }
    }
    let mut out: Vec<Stage> = Vec::with_capacity(stages.len());
    for (index, stage) in stages.iter().enumerate() {
        let Stage::Elementwise {
            program: ew,
            inputs: ew_inputs,
            output: ew_output,
        } = stage
        else {
            out.push(stage.clone());
            continue;
        };
        let private = |product: ValueId| !external.contains(&product) && last_read.get(&product).is_none_or(|&last| last <= index);
        let fused = match out.last() {
            Some(Stage::Matmul { program, inputs, output }) if program.epilogue.is_none() && private(*output) => {
                let shape: Vec<usize> = program.batch.iter().copied().chain([program.m, program.n]).collect();
                epilogue_of(&shape, inputs, *output, ew, ew_inputs).map(|(inputs, epilogue)| {
                    let mut program = program.clone();
                    program.epilogue = Some(epilogue);
                    Stage::Matmul {
                        program,
                        inputs,
                        output: *ew_output,
                    }
                })
            }
            Some(Stage::Conv {
                conv,
                bias,
                epilogue: None,
                inputs,
                output,
            }) if private(*output) => {
                let shape = [conv.batch, conv.filters, conv.out[0], conv.out[1]];
                epilogue_of(&shape, inputs, *output, ew, ew_inputs).map(|(inputs, epilogue)| Stage::Conv {
                    conv: conv.clone(),
                    bias: *bias,
                    epilogue: Some(epilogue),
                    inputs,
                    output: *ew_output,
                })
            }
            Some(Stage::Rows {
                program,
                epilogue: None,
                inputs,
                output,
            }) if !program.op.reduces() && private(*output) => {
                epilogue_of(&program.prologue.shape, inputs, *output, ew, ew_inputs).map(|(inputs, epilogue)| Stage::Rows {
                    program: program.clone(),
                    epilogue: Some(epilogue),
                    inputs,
                    output: *ew_output,
                })
            }
            _ => None,
        };
        match fused {
            Some(fused) => {
                out.pop();
                out.push(fused);
            }
            None => out.push(stage.clone()),
        }
    }
    out
}

/// The epilogue reading `product` (of `shape`, row-major) once per element,
/// with the buffers it and the stage before it read together.
fn epilogue_of(
    shape: &[usize],
    inputs: &[ValueId],
    product: ValueId,
    ew: &Elementwise,
    ew_inputs: &[ValueId],
) -> Option<(Vec<ValueId>, Epilogue)> {
    if ew.shape != shape {
        return None;
    }
    let product_buffer = ew_inputs.iter().position(|&v| v == product)?;
    let contiguous: Vec<isize> = map::contiguous_strides(&shape.iter().map(|&d| d as u64).collect::<Vec<_>>());
    let reads: Vec<usize> = ew
        .inputs
        .iter()
        .enumerate()
        .filter(|(_, a)| a.buffer == product_buffer)
        .map(|(i, _)| i)
        .collect();
    let [accumulator] = reads.as_slice() else { return None };
    let access = ew.inputs.get(*accumulator)?;
    if access.offset != 0 || access.strides != contiguous {
        return None;
    }
    // The stage's buffers, then the epilogue's others; the product is the
    // output buffer, numbered after all of them.
    let mut merged: Vec<ValueId> = inputs.to_vec();
    let mut renumber = Vec::with_capacity(ew_inputs.len());
    for &value in ew_inputs {
        if value == product {
            renumber.push(usize::MAX);
            continue;
        }
        renumber.push(match merged.iter().position(|&v| v == value) {
            Some(position) => position,
            None => {
                merged.push(value);
                merged.len() - 1
            }
        });
    }
    let output_buffer = merged.len();
    let mut program = ew.clone();
    for access in &mut program.inputs {
        access.buffer = match access.buffer == product_buffer {
            true => output_buffer,
            false => *renumber.get(access.buffer)?,
        };
    }
    Some((
        merged,
        Epilogue {
            program,
            accumulator: *accumulator,
        },
    ))
}

#[cfg(test)]
mod tests {
    use opfuse_ir::{Attr, DType, Graph, NodeId, Op, OpSemantics, TensorType, ValueId};
    use opfuse_ops::Catalog;

    use super::{lower, Stage};

    struct Builder {
        catalog: Catalog,
        graph: Graph,
    }

    impl Builder {
        fn new() -> Builder {
            Builder {
                catalog: Catalog::builtin().unwrap(),
                graph: Graph::new("test"),
            }
        }

        fn input(&mut self, name: &str, dims: &[u64]) -> ValueId {
            self.graph.add_input(name, TensorType::new(DType::F32, dims.to_vec()))
        }

        fn op(&mut self, op: &str, attrs: &[(&str, Attr)], inputs: &[ValueId]) -> ValueId {
            let mut attrs = attrs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
            self.catalog.normalize_attrs(op, &mut attrs).unwrap();
            let types: Vec<TensorType> = inputs.iter().map(|&v| self.graph.ty(v).cloned().unwrap()).collect();
            let outputs = self.catalog.infer(op, &attrs, &types).unwrap();
            let names = outputs.iter().map(|_| None).collect();
            self.graph
                .add_node(Op::Known(op.to_string()), attrs, inputs.to_vec(), outputs, names, None)[0]
        }

        /// Lowers the whole graph as one kernel returning `output`.
        fn stages(mut self, output: ValueId) -> Vec<Stage> {
            self.graph.outputs = vec![output];
            let all: Vec<NodeId> = self.graph.node_ids().collect();
            lower(&self.graph, &[all])
        }
    }

    fn kinds(stages: &[Stage]) -> Vec<&'static str> {
        stages
            .iter()
            .map(|s| match s {
                Stage::Elementwise { .. } => "elementwise",
                Stage::Rows { epilogue: Some(_), .. } => "rows+epilogue",
                Stage::Rows { .. } => "rows",
                Stage::Matmul { program, .. } if program.epilogue.is_some() => "matmul+epilogue",
                Stage::Matmul { .. } => "matmul",
                Stage::Conv { .. } => "conv",
                Stage::Attention { .. } => "attention",
                Stage::Native { .. } => "native",
                Stage::Interpret { .. } => "interpret",
            })
            .collect()
    }

    #[test]
    fn a_matmul_with_bias_and_activation_is_one_stage() {
        let mut b = Builder::new();
        let (x, w, bias) = (b.input("x", &[8, 16]), b.input("w", &[16, 4]), b.input("b", &[4]));
        let y = b.op("matmul", &[], &[x, w]);
        let y = b.op("add", &[], &[y, bias]);
        let y = b.op("relu", &[], &[y]);
        assert_eq!(kinds(&b.stages(y)), ["matmul+epilogue"]);
    }

    #[test]
    fn a_transposed_operand_is_read_through_strides() {
        let mut b = Builder::new();
        let (x, w) = (b.input("x", &[8, 16]), b.input("w", &[4, 16]));
        let t = b.op("transpose", &[("perm", Attr::List(vec![Attr::Int(1), Attr::Int(0)]))], &[w]);
        let y = b.op("matmul", &[], &[x, t]);
        let stages = b.stages(y);
        let [Stage::Matmul { program, .. }] = stages.as_slice() else {
            panic!("{stages:?}")
        };
        assert_eq!(program.b.strides, vec![1, 16]);
    }

    #[test]
    fn a_norm_takes_its_prologue_and_an_epilogue_follows() {
        let mut b = Builder::new();
        let (x, r, g) = (b.input("x", &[4, 32]), b.input("r", &[4, 32]), b.input("g", &[32]));
        let sum = b.op("add", &[], &[x, r]);
        let normed = b.op("rms_norm", &[], &[sum, g]);
        let out = b.op("tanh", &[], &[normed]);
        assert_eq!(kinds(&b.stages(out)), ["rows+epilogue"]);
    }

    #[test]
    fn a_conv_with_bias_takes_its_activation_as_an_epilogue() {
        let mut b = Builder::new();
        let (x, w, bias) = (b.input("x", &[1, 3, 6, 6]), b.input("w", &[4, 3, 3, 3]), b.input("b", &[4]));
        let pads = Attr::List(vec![Attr::Int(1); 4]);
        let y = b.op("conv", &[("pads", pads)], &[x, w, bias]);
        let out = b.op("relu", &[], &[y]);
        let stages = b.stages(out);
        let [Stage::Conv { conv, bias, epilogue, .. }] = stages.as_slice() else {
            panic!("{stages:?}")
        };
        assert!(*bias && epilogue.is_some());
        assert_eq!((conv.taps(), conv.pixels()), (27, 36));
    }

    #[test]
    fn an_op_without_a_jit_path_is_interpreted_alone() {
        let mut b = Builder::new();
        let x = b.input("x", &[4, 3]);
        let e = b.op("exp", &[], &[x]);
        let h = b.op("eye_like", &[], &[e]);
        let out = b.op("neg", &[], &[h]);
        assert_eq!(kinds(&b.stages(out)), ["elementwise", "interpret", "elementwise"]);
    }

    #[test]
    fn a_native_op_reads_its_inputs_from_buffers() {
        let mut b = Builder::new();
        let (x, y) = (b.input("x", &[4, 3]), b.input("y", &[4, 5]));
        let e = b.op("exp", &[], &[x]);
        let c = b.op("concat", &[("axis", Attr::Int(1))], &[e, y]);
        let out = b.op("neg", &[], &[c]);
        assert_eq!(kinds(&b.stages(out)), ["elementwise", "native", "elementwise"]);
    }

    #[test]
    fn a_reduction_over_middle_axes_reads_them_as_one_row() {
        let mut b = Builder::new();
        let x = b.input("x", &[2, 3, 4, 5]);
        let m = b.op("mean", &[("axes", Attr::List(vec![Attr::Int(1), Attr::Int(2)]))], &[x]);
        let stages = b.stages(m);
        let [Stage::Rows { program, .. }] = stages.as_slice() else {
            panic!("{stages:?}")
        };
        // Kept [2, 5], then the 12 elements of axes 1 and 2 with stride 5.
        assert_eq!(program.prologue.shape, [2, 5, 12]);
        assert_eq!(program.prologue.inputs[0].strides, [60, 1, 5]);
    }

    #[test]
    fn a_reduction_over_axes_no_row_can_merge_runs_native() {
        let mut b = Builder::new();
        let x = b.input("x", &[2, 3, 4, 5]);
        let m = b.op("sum", &[("axes", Attr::List(vec![Attr::Int(0), Attr::Int(2), Attr::Int(3)]))], &[x]);
        assert_eq!(kinds(&b.stages(m)), ["native"]);
    }

    #[test]
    fn a_reshape_of_a_transposed_value_cuts_a_buffer() {
        let mut b = Builder::new();
        let x = b.input("x", &[4, 6]);
        let e = b.op("exp", &[], &[x]);
        let t = b.op("transpose", &[("perm", Attr::List(vec![Attr::Int(1), Attr::Int(0)]))], &[e]);
        let r = b.op("reshape", &[("shape", Attr::List(vec![Attr::Int(24)]))], &[t]);
        let out = b.op("neg", &[], &[r]);
        let stages = b.stages(out);
        assert_eq!(kinds(&stages), ["elementwise", "elementwise"]);
    }
}
