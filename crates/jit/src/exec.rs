//! The executor: compiles every stage once, then runs them in order on f32
//! buffers, splitting each stage's range across threads. Stages without a
//! JIT path run through the reference interpreter on tensors; values cross
//! between the two representations when a stage needs the other one.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Range;

use opfuse_ir::{Graph, NodeId, Op, Tensor, TensorType, ValueId, VerifiedGraph};
use opfuse_ops::{interp, Catalog};

use crate::attention;
use crate::codegen::{CodegenError, Jit, Kernel};
use crate::gemm::{Gemm, GemmError, GemmPath};
use crate::lower::{lower, Stage};
use crate::native::Native;
use crate::plan::{last_uses, Pool};
use crate::program::{Access, Attention, Conv2d, Epilogue, Matmul};

#[derive(Debug, thiserror::Error)]
pub enum JitError {
    #[error(transparent)]
    Codegen(#[from] CodegenError),
    #[error(transparent)]
    Gemm(#[from] GemmError),
    #[error("node {node} (`{op}`): {message}")]
    Interpret { node: NodeId, op: String, message: String },
    #[error("input `{name}`: {message}")]
    Input { name: String, message: String },
    #[error("value {0} has no data (the stages are out of order)")]
    Missing(ValueId),
    #[error("starting the worker threads failed: {0}")]
    Threads(String),
}

/// How to run.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    pub threads: usize,
    pub gemm: GemmPath,
}

/// A stage with its compiled code.
enum Ready {
    Elementwise {
        kernel: Kernel,
        inputs: Vec<ValueId>,
        output: ValueId,
        len: usize,
    },
    Rows {
        kernel: Kernel,
        epilogue: Option<Kernel>,
        inputs: Vec<ValueId>,
        output: ValueId,
        rows: usize,
        len: usize,
    },
    Matmul {
        program: Matmul,
        epilogue: Option<Kernel>,
        inputs: Vec<ValueId>,
        output: ValueId,
        len: usize,
    },
    Conv {
        conv: Conv2d,
        /// The matmul of w and the im2col scratch (the buffer after the output).
        product: Matmul,
        bias: bool,
        epilogue: Option<Kernel>,
        inputs: Vec<ValueId>,
        output: ValueId,
        len: usize,
    },
    Attention {
        program: Attention,
        /// `exp(score - max)` over one row of a tile of scores.
        probabilities: Kernel,
        inputs: Vec<ValueId>,
        output: ValueId,
        len: usize,
    },
    Native {
        op: Native,
        inputs: Vec<ValueId>,
        /// Each output and its length.
        outputs: Vec<(ValueId, usize)>,
    },
    Interpret {
        node: NodeId,
    },
}

/// A graph compiled for this CPU.
pub struct Executable {
    graph: VerifiedGraph,
    catalog: Catalog,
    stages: Vec<Ready>,
    released: Vec<Vec<ValueId>>,
    // The compiled code lives as long as the kernels that point into it.
    _jit: Jit,
    gemm: Gemm,
    /// The params and what stages compute from params alone (weight
    /// preprocessing: folded batch-norm, concatenated weights), computed
    /// once when the params are bound and kept between runs.
    params: Values,
    weights: HashSet<ValueId>,
    /// Which stages compute from weights alone (run at bind time only).
    preprocessing: Vec<bool>,
    /// Buffers kept between runs, so a second run allocates nothing.
    pool: Pool,
    /// The values compiled stages read (the rest are read as tensors).
    compiled_reads: HashSet<ValueId>,
    /// Started on the first bind or run, again when the thread count changes.
    workers: Option<Workers>,
}

/// What one run gives.
pub struct Run {
    pub outputs: Vec<Tensor>,
    /// The time the stages took, without converting the inputs and outputs
    /// from and to the caller's tensors.
    pub compute: std::time::Duration,
    /// The most bytes of f32 buffers held at once (with the buffer pool).
    pub peak_bytes: usize,
    /// The bytes of every value of the graph, were each kept apart.
    pub total_bytes: usize,
    /// The time each stage took, in stage order (zero for the stages run
    /// once at bind time); see [`Executable::stage_labels`].
    pub stage_times: Vec<std::time::Duration>,
}

/// Compiles `graph` with `kernels` (each the nodes of one fused kernel).
pub fn compile(graph: VerifiedGraph, kernels: &[Vec<NodeId>], catalog: Catalog) -> Result<Executable, JitError> {
    let stages = lower(&graph, kernels);
    let released = last_uses(&graph, &stages);
    let mut weights: HashSet<ValueId> = graph.params.iter().copied().collect();
    let mut preprocessing = Vec::with_capacity(stages.len());
    for stage in &stages {
        let from_weights = stage.reads(&graph).iter().all(|v| weights.contains(v));
        if from_weights {
            weights.extend(stage.writes(&graph));
        }
        preprocessing.push(from_weights);
    }
    let compiled_reads = stages
        .iter()
        .filter(|stage| !matches!(stage, Stage::Interpret { .. }))
        .flat_map(|stage| stage.reads(&graph))
        .collect();
    let mut jit = Jit::new()?;
    let gemm = Gemm::new()?;
    let mut ready = Vec::with_capacity(stages.len());
    for stage in stages {
        ready.push(match stage {
            Stage::Elementwise { program, inputs, output } => Ready::Elementwise {
                kernel: jit.compile_elementwise(&program, inputs.len())?,
                len: program.len(),
                inputs,
                output,
            },
            Stage::Rows {
                program,
                epilogue,
                inputs,
                output,
            } => {
                let len = match program.op.reduces() {
                    true => program.rows(),
                    false => program.prologue.len(),
                };
                let epilogue = compile_epilogue(&mut jit, epilogue.as_ref(), inputs.len())?;
                let kernel = jit.compile_rows(&program, inputs.len())?;
                Ready::Rows {
                    // Rows of length 0 still count: a reduction writes its identity.
                    rows: kernel.units(),
                    kernel,
                    epilogue,
                    len,
                    inputs,
                    output,
                }
            }
            Stage::Matmul { program, inputs, output } => {
                let epilogue = compile_epilogue(&mut jit, program.epilogue.as_ref(), inputs.len())?;
                let len = program.batch.iter().product::<usize>() * program.m * program.n;
                Ready::Matmul {
                    program,
                    epilogue,
                    inputs,
                    output,
                    len,
                }
            }
            Stage::Conv {
                conv,
                bias,
                epilogue,
                inputs,
                output,
            } => {
                let epilogue = compile_epilogue(&mut jit, epilogue.as_ref(), inputs.len())?;
                let (taps, pixels) = (conv.taps(), conv.pixels());
                let product = Matmul {
                    batch: vec![conv.batch],
                    m: conv.filters,
                    n: pixels,
                    k: taps,
                    a: Access {
                        buffer: 1,
                        offset: 0,
                        strides: vec![0, taps as isize, 1],
                    },
                    b: Access {
                        buffer: inputs.len() + 1,
                        offset: 0,
                        strides: vec![(taps * pixels) as isize, pixels as isize, 1],
                    },
                    epilogue: None,
                };
                Ready::Conv {
                    len: conv.batch * conv.filters * pixels,
                    conv,
                    product,
                    bias,
                    epilogue,
                    inputs,
                    output,
                }
            }
            Stage::Attention { program, inputs, output } => Ready::Attention {
                probabilities: jit.compile_elementwise(&attention::probabilities_program(), 2)?,
                len: program.out_len(),
                program,
                inputs,
                output,
            },
            Stage::Native { op, inputs, outputs } => Ready::Native {
                outputs: outputs
                    .into_iter()
                    .map(|v| (v, graph.ty(v).and_then(|t| t.shape.numel()).unwrap_or(0) as usize))
                    .collect(),
                op,
                inputs,
            },
            Stage::Interpret { node } => Ready::Interpret { node },
        });
    }
    Ok(Executable {
        graph,
        catalog,
        stages: ready,
        released,
        weights,
        preprocessing,
        _jit: jit,
        gemm,
        params: Values::default(),
        pool: Pool::default(),
        compiled_reads,
        workers: None,
    })
}

/// The compiled epilogue of a stage, if it has one.
fn compile_epilogue(jit: &mut Jit, epilogue: Option<&Epilogue>, buffers: usize) -> Result<Option<Kernel>, CodegenError> {
    epilogue.map(|e| jit.compile_elementwise(&e.program, buffers)).transpose()
}

/// Raw buffer pointers shared by the threads of one stage. Each thread
/// writes a disjoint range of the output; the inputs are only read.
struct Pointers(Vec<*mut f32>);

// SAFETY: the pointers are only dereferenced by kernels on disjoint output
// ranges while the buffers they point into outlive the stage.
unsafe impl Send for Pointers {}
unsafe impl Sync for Pointers {}

/// Attention's buffers shared by the threads of its stage, as [`Pointers`].
struct Shared<'a, 'b>(&'a attention::Buffers<'b>);

// SAFETY: as for `Pointers`: threads write disjoint units of the output.
unsafe impl Send for Shared<'_, '_> {}
unsafe impl Sync for Shared<'_, '_> {}

impl<'a, 'b> Shared<'a, 'b> {
    /// Borrowed whole so that closures capture the `Sync` wrapper.
    fn get(&self) -> &'a attention::Buffers<'b> {
        self.0
    }
}

impl Pointers {
    /// The array of buffer pointers, borrowed as a whole so that closures
    /// capture the `Sync` wrapper rather than its field.
    fn ptr(&self) -> *const *mut f32 {
        self.0.as_ptr()
    }
}

/// The worker threads kernels split across, kept between stages and runs
/// (spawning threads per stage cost more than the small stages take).
struct Workers {
    threads: usize,
    /// The threads beside the calling one, which takes the first share of
    /// every stage itself; none for one thread.
    pool: Option<rayon::ThreadPool>,
}

impl Workers {
    fn new(threads: usize) -> Result<Workers, JitError> {
        let threads = threads.max(1);
        let pool = match threads {
            1 => None,
            _ => Some(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(threads - 1)
                    .thread_name(|i| format!("opfuse-worker-{i}"))
                    .build()
                    .map_err(|e| JitError::Threads(e.to_string()))?,
            ),
        };
        Ok(Workers { threads, pool })
    }

    /// Runs `work` on `total` items split into about `threads` ranges of
    /// at least `grain` items.
    fn parallel(&self, total: usize, grain: usize, work: impl Fn(Range<usize>) + Sync) {
        let chunks = self.threads.min(total / grain.max(1)).max(1);
        let step = total.div_ceil(chunks);
        match &self.pool {
            Some(pool) if chunks > 1 => pool.in_place_scope(|scope| {
                for start in (step..total).step_by(step) {
                    let work = &work;
                    scope.spawn(move |_| work(start..(start + step).min(total)));
                }
                work(0..step.min(total));
            }),
            _ => work(0..total),
        }
    }

    /// Runs `work(index, chunk)` on `data`'s chunks of `len` elements,
    /// spread over the threads.
    fn chunks(&self, data: &mut [f32], len: usize, work: impl Fn(usize, &mut [f32]) + Sync) {
        match &self.pool {
            Some(pool) => pool.in_place_scope(|scope| {
                let work = &work;
                for (index, chunk) in data.chunks_mut(len.max(1)).enumerate() {
                    scope.spawn(move |_| work(index, chunk));
                }
            }),
            None => data
                .chunks_mut(len.max(1))
                .enumerate()
                .for_each(|(index, chunk)| work(index, chunk)),
        }
    }
}

/// The values of a run in either representation.
#[derive(Default)]
struct Values {
    buffers: HashMap<ValueId, Vec<f32>>,
    tensors: HashMap<ValueId, Tensor>,
}

impl Executable {
    /// The ops that run through the interpreter, once each, in order.
    pub fn interpreted_ops(&self) -> Vec<String> {
        let mut ops: Vec<String> = Vec::new();
        for stage in &self.stages {
            if let Ready::Interpret { node } = stage {
                let name = self.graph.node(*node).map_or("?", |n| n.op.name()).to_string();
                if !ops.contains(&name) {
                    ops.push(name);
                }
            }
        }
        ops
    }

    /// Stages that compute from the weights alone, run once at bind time.
    pub fn preprocessing_stages(&self) -> usize {
        self.preprocessing.iter().filter(|&&p| p).count()
    }

    fn start_workers(&mut self, options: &Options) -> Result<(), JitError> {
        if self.workers.as_ref().is_none_or(|w| w.threads != options.threads.max(1)) {
            self.workers = Some(Workers::new(options.threads)?);
        }
        Ok(())
    }

    fn workers(&self) -> Result<&Workers, JitError> {
        self.workers
            .as_ref()
            .ok_or(JitError::Threads("no worker threads were started".into()))
    }

    /// One line per stage, in order: its kind and the value it writes
    /// (with the op for an interpreted node).
    pub fn stage_labels(&self) -> Vec<String> {
        let graph: &Graph = &self.graph;
        let name = |value: &ValueId| graph.value_name(*value);
        self.stages
            .iter()
            .map(|stage| match stage {
                Ready::Elementwise { output, .. } => format!("elementwise -> {}", name(output)),
                Ready::Rows { output, epilogue, .. } => match epilogue {
                    Some(_) => format!("rows + epilogue -> {}", name(output)),
                    None => format!("rows -> {}", name(output)),
                },
                Ready::Matmul { output, epilogue, .. } => match epilogue {
                    Some(_) => format!("matmul + epilogue -> {}", name(output)),
                    None => format!("matmul -> {}", name(output)),
                },
                Ready::Conv { output, .. } => format!("conv -> {}", name(output)),
                Ready::Attention { output, .. } => format!("attention -> {}", name(output)),
                Ready::Native { op, outputs, .. } => format!(
                    "native `{}` -> {}",
                    op.name(),
                    outputs.iter().map(|(v, _)| name(v)).collect::<Vec<_>>().join(", ")
                ),
                Ready::Interpret { node } => match graph.node(*node) {
                    Some(n) => format!(
                        "interpreter `{}` -> {}",
                        n.op.name(),
                        n.outputs.iter().map(name).collect::<Vec<_>>().join(", ")
                    ),
                    None => "interpreter".into(),
                },
            })
            .collect()
    }

    /// Stages run by the JIT and by the interpreter.
    pub fn stage_counts(&self) -> (usize, usize) {
        let interpreted = self.stages.iter().filter(|s| matches!(s, Ready::Interpret { .. })).count();
        (self.stages.len() - interpreted, interpreted)
    }

    /// Binds the params by name (else the graph's own data), converted once
    /// for every later run, and runs the stages that compute from them alone.
    pub fn bind(&mut self, params: &BTreeMap<String, Tensor>, options: &Options) -> Result<(), JitError> {
        self.start_workers(options)?;
        let graph: &Graph = &self.graph;
        let mut bound = Values::default();
        for &id in &graph.params {
            let name = graph.value_name(id);
            let tensor = params
                .get(&name)
                .or_else(|| graph.param_data.get(&id))
                .ok_or_else(|| JitError::Input {
                    name: name.clone(),
                    message: "the param has no data".into(),
                })?;
            bound.buffers.insert(id, tensor.data().iter().map(|&x| x as f32).collect());
            bound.tensors.insert(id, tensor.clone());
        }
        let mut pool = std::mem::take(&mut self.pool);
        for (stage, _) in self.stages.iter().zip(&self.preprocessing).filter(|(_, &p)| p) {
            self.run_stage(stage, &mut bound, &mut pool, options)?;
        }
        self.params = bound;
        self.pool = pool;
        Ok(())
    }

    /// Runs on `inputs` (in the graph's order) with the bound params.
    pub fn run(&mut self, inputs: Vec<Tensor>, options: &Options) -> Result<Run, JitError> {
        self.start_workers(options)?;
        let mut values = std::mem::take(&mut self.params);
        let mut pool = std::mem::take(&mut self.pool);
        let result = self.run_with(&mut values, &mut pool, inputs, options);
        let graph: &Graph = &self.graph;
        for &id in &graph.inputs {
            if let Some(buffer) = values.buffers.remove(&id) {
                pool.give(buffer);
            }
        }
        values.buffers.retain(|id, _| self.weights.contains(id));
        values.tensors.retain(|id, _| self.weights.contains(id));
        self.params = values;
        self.pool = pool;
        result
    }

    fn run_with(&self, values: &mut Values, pool: &mut Pool, inputs: Vec<Tensor>, options: &Options) -> Result<Run, JitError> {
        let graph: &Graph = &self.graph;
        for (&id, tensor) in graph.inputs.iter().zip(inputs) {
            values.tensors.insert(id, tensor);
            // Converting to f32 is loading the input, not computing: done
            // before the clock starts, as a peer is handed f32 arrays.
            if self.compiled_reads.contains(&id) {
                Self::ensure_buffer(values, pool, id)?;
            }
        }
        let started = std::time::Instant::now();
        let mut stage_times = vec![std::time::Duration::ZERO; self.stages.len()];
        for ((index, stage), time) in self.stages.iter().enumerate().zip(&mut stage_times) {
            if self.preprocessing.get(index) == Some(&true) {
                continue;
            }
            let stage_started = std::time::Instant::now();
            self.run_stage(stage, values, pool, options)?;
            *time = stage_started.elapsed();
            for value in self.released.get(index).into_iter().flatten() {
                if self.weights.contains(value) {
                    continue;
                }
                if let Some(buffer) = values.buffers.remove(value) {
                    pool.give(buffer);
                }
                values.tensors.remove(value);
            }
        }
        let compute = started.elapsed();
        let outputs = graph
            .outputs
            .iter()
            .map(|&id| self.tensor(values, id).map(Cow::into_owned))
            .collect::<Result<Vec<_>, _>>()?;
        for &id in &graph.outputs {
            if let Some(buffer) = values.buffers.remove(&id) {
                pool.give(buffer);
            }
        }
        let total_bytes = graph.values.iter().map(|v| v.ty.shape.numel().unwrap_or(0) as usize * 4).sum();
        Ok(Run {
            outputs,
            compute,
            peak_bytes: pool.peak_bytes,
            total_bytes,
            stage_times,
        })
    }

    fn ty(&self, value: ValueId) -> TensorType {
        self.graph
            .ty(value)
            .cloned()
            .unwrap_or_else(|| TensorType::new(opfuse_ir::DType::F32, vec![]))
    }

    /// `value` as a tensor of its declared type.
    fn tensor<'v>(&self, values: &'v Values, value: ValueId) -> Result<Cow<'v, Tensor>, JitError> {
        if let Some(tensor) = values.tensors.get(&value) {
            return Ok(Cow::Borrowed(tensor));
        }
        let buffer = values.buffers.get(&value).ok_or(JitError::Missing(value))?;
        Tensor::new(self.ty(value), buffer.iter().map(|&x| f64::from(x)).collect())
            .map(Cow::Owned)
            .map_err(|_| JitError::Missing(value))
    }

    /// Makes sure `value` has an f32 buffer.
    fn ensure_buffer(values: &mut Values, pool: &mut Pool, value: ValueId) -> Result<(), JitError> {
        if values.buffers.contains_key(&value) {
            return Ok(());
        }
        let tensor = values.tensors.get(&value).ok_or(JitError::Missing(value))?;
        let mut buffer = pool.take(tensor.data().len());
        buffer.iter_mut().zip(tensor.data()).for_each(|(b, &x)| *b = x as f32);
        values.buffers.insert(value, buffer);
        Ok(())
    }

    fn run_stage(&self, stage: &Ready, values: &mut Values, pool: &mut Pool, options: &Options) -> Result<(), JitError> {
        let (inputs, output, len) = match stage {
            Ready::Interpret { node } => return self.interpret(*node, values),
            Ready::Native { op, inputs, outputs } => return Self::run_native(op, inputs, outputs, values, pool),
            Ready::Elementwise { inputs, output, len, .. }
            | Ready::Rows { inputs, output, len, .. }
            | Ready::Matmul { inputs, output, len, .. }
            | Ready::Conv { inputs, output, len, .. }
            | Ready::Attention { inputs, output, len, .. } => (inputs, *output, *len),
        };
        for &input in inputs {
            Self::ensure_buffer(values, pool, input)?;
        }
        let mut out = pool.take(len);
        let mut pointers = Vec::with_capacity(inputs.len() + 1);
        for input in inputs {
            let buffer = values.buffers.get(input).ok_or(JitError::Missing(*input))?;
            pointers.push(buffer.as_ptr().cast_mut());
        }
        pointers.push(out.as_mut_ptr());
        let mut scratch = match stage {
            Ready::Conv { conv, inputs, .. } => {
                let x = inputs
                    .first()
                    .and_then(|x| values.buffers.get(x))
                    .ok_or(JitError::Missing(output))?;
                let mut cols = pool.take(conv.batch * conv.taps() * conv.pixels());
                let pixels = conv.pixels().max(1);
                let rows_per_thread = (conv.batch * conv.taps()).div_ceil(options.threads.max(1)).max(1);
                self.workers()?.chunks(&mut cols, rows_per_thread * pixels, |index, chunk| {
                    conv.im2col_rows(x, index * rows_per_thread, chunk)
                });
                Some(cols)
            }
            _ => None,
        };
        if let Some(cols) = scratch.as_mut() {
            pointers.push(cols.as_mut_ptr());
        }
        let pointers = Pointers(pointers);
        let workers = self.workers()?;
        match stage {
            Ready::Elementwise { kernel, .. } => {
                // SAFETY: every buffer holds what the program's accesses read
                // (lowering sized them from the verified types) and each
                // thread writes its own range of the output.
                workers.parallel(len, 16_384, |range| unsafe { kernel.call(pointers.ptr(), range.start, range.end) });
            }
            Ready::Rows {
                kernel, epilogue, rows, ..
            } => {
                let row_len = len / (*rows).max(1);
                let block = (16_384 / row_len.max(1)).max(1);
                workers.parallel(*rows, block, |range| {
                    // Blocks of rows small enough to stay in cache for the epilogue.
                    for start in range.clone().step_by(block) {
                        let end = (start + block).min(range.end);
                        // SAFETY: as above, over rows; the epilogue then
                        // rewrites the block of output elements just written.
                        unsafe {
                            kernel.call(pointers.ptr(), start, end);
                            if let Some(epilogue) = epilogue {
                                epilogue.call(pointers.ptr(), start * row_len, end * row_len);
                            }
                        }
                    }
                });
            }
            Ready::Matmul { program, epilogue, .. } => {
                let rows = program.batch.iter().product::<usize>() * program.m;
                let output_index = inputs.len();
                let apply = |start: usize, end: usize| {
                    if let Some(kernel) = epilogue {
                        // SAFETY: the epilogue reads and writes the block of
                        // rows the GEMM has just finished.
                        unsafe { kernel.call(pointers.ptr(), start, end) }
                    }
                };
                let grain = (64 * 64 * 64 / (program.n * program.k).max(1)).max(1);
                self.threaded_gemm(program, &pointers, output_index, options, rows, grain, &apply)?;
            }
            Ready::Conv {
                conv,
                product,
                bias,
                epilogue,
                ..
            } => {
                let pixels = conv.pixels();
                let filters = conv.filters;
                let output_index = inputs.len();
                let apply = |start: usize, end: usize| {
                    // SAFETY: the GEMM has just finished this block of output
                    // elements; the bias buffer holds one value per filter.
                    unsafe {
                        let out = *pointers.ptr().add(output_index);
                        if *bias {
                            let bias = *pointers.ptr().add(2);
                            // Whole output rows (one filter of one image) per block.
                            let block = std::slice::from_raw_parts_mut(out.add(start), end - start);
                            for (row, values) in block.chunks_mut(pixels.max(1)).enumerate() {
                                let b = *bias.add((start / pixels.max(1) + row) % filters.max(1));
                                values.iter_mut().for_each(|v| *v += b);
                            }
                        }
                        if let Some(kernel) = epilogue {
                            kernel.call(pointers.ptr(), start, end);
                        }
                    }
                };
                // The scratch after the output holds the im2col matrix the
                // product's second access reads.
                self.threaded_gemm(product, &pointers, output_index, options, conv.batch * filters, 1, &apply)?;
            }
            Ready::Attention {
                program, probabilities, ..
            } => {
                let inputs = pointers.0.get(..inputs.len()).unwrap_or_default();
                let output = *pointers.0.get(inputs.len()).ok_or(JitError::Missing(output))?;
                let failure = std::sync::Mutex::new(None);
                let buffers = attention::Buffers { inputs, output };
                let shared = Shared(&buffers);
                workers.parallel(program.units(), 1, |units| {
                    let buffers = shared.get();
                    // SAFETY: lowering sized every access from the verified
                    // types and the buffers from the same types; threads
                    // take disjoint units, which write disjoint rows.
                    let result = unsafe { attention::run(program, &self.gemm, options.gemm, probabilities, buffers, units) };
                    if let Err(e) = result {
                        if let Ok(mut slot) = failure.lock() {
                            *slot = Some(e);
                        }
                    }
                });
                if let Some(e) = failure.into_inner().ok().flatten() {
                    return Err(e.into());
                }
            }
            Ready::Interpret { .. } | Ready::Native { .. } => {}
        }
        if let Some(cols) = scratch {
            pool.give(cols);
        }
        values.buffers.insert(output, out);
        Ok(())
    }

    fn run_native(
        op: &Native,
        inputs: &[ValueId],
        outputs: &[(ValueId, usize)],
        values: &mut Values,
        pool: &mut Pool,
    ) -> Result<(), JitError> {
        for &input in inputs {
            Self::ensure_buffer(values, pool, input)?;
        }
        let mut out: Vec<Vec<f32>> = outputs.iter().map(|&(_, len)| pool.take(len)).collect();
        let slices = inputs
            .iter()
            .map(|v| values.buffers.get(v).map(Vec::as_slice).ok_or(JitError::Missing(*v)))
            .collect::<Result<Vec<_>, _>>()?;
        let mut targets: Vec<&mut [f32]> = out.iter_mut().map(Vec::as_mut_slice).collect();
        op.run(&slices, &mut targets);
        for (&(value, _), buffer) in outputs.iter().zip(out) {
            values.buffers.insert(value, buffer);
        }
        Ok(())
    }

    /// Runs `product` over its rows split across the threads, `apply` on
    /// each finished block; the first failure is returned.
    #[allow(clippy::too_many_arguments)]
    fn threaded_gemm(
        &self,
        product: &Matmul,
        pointers: &Pointers,
        output_index: usize,
        options: &Options,
        rows: usize,
        grain: usize,
        apply: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<(), JitError> {
        let failure = std::sync::Mutex::new(None);
        let record = |result: Result<(), GemmError>| {
            if let Err(e) = result {
                if let Ok(mut slot) = failure.lock() {
                    *slot = Some(e);
                }
            }
        };
        let workers = self.workers()?;
        // Too few rows to give each thread a good block: split the columns
        // (each thread packs only its share of B), then run the epilogue.
        let by_columns =
            options.gemm == GemmPath::Library && workers.threads > 1 && rows < 96 * workers.threads && product.n >= 64 * workers.threads;
        if by_columns {
            workers.parallel(product.n, 16, |cols| {
                // SAFETY: as below; threads own disjoint columns.
                record(unsafe { self.gemm.run_columns(product, pointers.ptr(), output_index, cols) });
            });
            let n = product.n;
            workers.parallel(rows, (16_384 / n.max(1)).max(1), |range| apply(range.start * n, range.end * n));
        } else {
            workers.parallel(rows, grain, |range| {
                // SAFETY: lowering sized every access from the verified types and
                // the buffers from the same types; threads own disjoint rows.
                record(unsafe { self.gemm.run(product, pointers.ptr(), output_index, options.gemm, range, apply) });
            });
        }
        match failure.into_inner().ok().flatten() {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }

    fn interpret(&self, node: NodeId, values: &mut Values) -> Result<(), JitError> {
        let n = self.graph.node(node).ok_or(JitError::Missing(ValueId(0)))?;
        let fail = |message: String| JitError::Interpret {
            node,
            op: n.op.name().to_string(),
            message,
        };
        let Op::Known(op) = &n.op else {
            return Err(fail("an opaque op has no semantics to run".into()));
        };
        // Borrowed where the value already is a tensor: no copy per node.
        let args: Vec<Cow<Tensor>> = n.inputs.iter().map(|&v| self.tensor(values, v)).collect::<Result<_, _>>()?;
        let refs: Vec<&Tensor> = args.iter().map(|t| t.as_ref()).collect();
        let types: Vec<TensorType> = n.outputs.iter().map(|&v| self.ty(v)).collect();
        let results = self.catalog.eval(op, &n.attrs, &refs, &types).map_err(|e| fail(e.message))?;
        for (&value, tensor) in n.outputs.iter().zip(results) {
            values.tensors.insert(value, tensor);
        }
        Ok(())
    }
}

/// The params of `graph` by name: its own data, else random from `seed` as
/// the interpreter draws them, so both run on the same weights.
pub fn params_of(graph: &Graph, seed: u64) -> BTreeMap<String, Tensor> {
    graph
        .params
        .iter()
        .enumerate()
        .filter_map(|(position, &id)| {
            let ty = graph.ty(id)?.clone();
            let tensor = graph
                .param_data
                .get(&id)
                .cloned()
                .unwrap_or_else(|| interp::random_param(&ty, position, seed));
            Some((graph.value_name(id), tensor))
        })
        .collect()
}
