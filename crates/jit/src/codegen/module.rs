//! The JIT module and the compiled kernels.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use cranelift_codegen::ir::{types, AbiParam, UserFuncName};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_codegen::Context;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{default_libcall_names, FuncId, Linkage, Module};

use super::emit::Env;
use super::error::{CodegenError, Result};
use super::layout::{self, Need};
use super::{elementwise, math, rows};
use crate::program::{Elementwise, Rows};

/// A compiled kernel's entry point: `buffers[i]` is buffer `i` (what
/// `Access::buffer` and the `output` argument of the `compile_*` methods
/// index); it computes the units (output elements of an elementwise kernel,
/// rows of a row kernel) numbered `start..end`.
pub type KernelFn = unsafe extern "C" fn(buffers: *const *mut f32, start: usize, end: usize);

const HOST_SIN: &str = "opfuse_jit_host_sin";
const HOST_COS: &str = "opfuse_jit_host_cos";

/// The executable memory of every kernel one [`Jit`] compiled. It is freed
/// when the last owner goes: the `Jit` or any [`Kernel`] from it.
struct CodeMemory {
    module: Mutex<Option<JITModule>>,
}

impl Drop for CodeMemory {
    fn drop(&mut self) {
        let slot = self.module.get_mut().unwrap_or_else(PoisonError::into_inner);
        if let Some(module) = slot.take() {
            // SAFETY: every kernel holds an `Arc` to this memory, so none is
            // left to call into it, and no call is running (a call borrows
            // its kernel).
            unsafe { module.free_memory() };
        }
    }
}

/// A Cranelift JIT for the host: opt_level=speed and every ISA feature
/// `cranelift_native` detects (SSE4.1 rounding, AVX, FMA, ...).
///
/// Kernels stay valid after the `Jit` is dropped: each holds a reference
/// to the module's code memory, which is freed with the last of them.
pub struct Jit {
    code: Arc<CodeMemory>,
    ctx: Context,
    builder: FunctionBuilderContext,
    sin: FuncId,
    cos: FuncId,
    fma: bool,
    disassemble: bool,
}

impl fmt::Debug for Jit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jit").field("fma", &self.fma).finish_non_exhaustive()
    }
}

impl Jit {
    pub fn new() -> Result<Self> {
        Self::build(true)
    }

    /// A JIT that emits `a * b + c` instead of `fma` (the code paths of a
    /// host without FMA), for tests.
    #[cfg(test)]
    pub(crate) fn without_fma() -> Result<Self> {
        Self::build(false)
    }

    fn build(use_fma: bool) -> Result<Self> {
        let mut flags = settings::builder();
        flags.set("opt_level", "speed")?;
        flags.set("is_pic", "false")?;
        flags.set("use_colocated_libcalls", "false")?;
        let isa_builder = cranelift_native::builder().map_err(|e| CodegenError::Host(e.to_string()))?;
        let isa = isa_builder.finish(settings::Flags::new(flags))?;
        let fma = use_fma && isa.isa_flags().iter().any(|v| v.name == "has_fma" && v.as_bool() == Some(true));
        let mut builder = JITBuilder::with_isa(isa, default_libcall_names());
        builder.symbol(HOST_SIN, math::host_sin as extern "C" fn(f32) -> f32 as *const u8);
        builder.symbol(HOST_COS, math::host_cos as extern "C" fn(f32) -> f32 as *const u8);
        let mut module = JITModule::new(builder);
        let mut signature = module.make_signature();
        signature.params.push(AbiParam::new(types::F32));
        signature.returns.push(AbiParam::new(types::F32));
        let sin = module.declare_function(HOST_SIN, Linkage::Import, &signature)?;
        let cos = module.declare_function(HOST_COS, Linkage::Import, &signature)?;
        let ctx = module.make_context();
        Ok(Jit {
            code: Arc::new(CodeMemory {
                module: Mutex::new(Some(module)),
            }),
            ctx,
            builder: FunctionBuilderContext::new(),
            sin,
            cos,
            fma,
            disassemble: false,
        })
    }

    /// Whether the host's FMA is used (for `fma` and polynomial evaluation).
    pub fn has_fma(&self) -> bool {
        self.fma
    }

    /// Keeps the machine code listing of the kernels compiled from now on
    /// ([`Kernel::disassembly`]), for looking at what a program became.
    pub fn set_disassembly(&mut self, on: bool) {
        self.disassemble = on;
    }

    /// Compiles an elementwise program writing contiguously (row-major)
    /// into buffer `output`; the kernel's units are output elements.
    pub fn compile_elementwise(&mut self, program: &Elementwise, output: usize) -> Result<Kernel> {
        let nest = layout::elementwise(program, output)?;
        let vectorized = elementwise::vectorized(&nest);
        let (entry, text) = self.compile(&mut |fb, env| elementwise::build(fb, env, &nest, &program.steps, output))?;
        Ok(self.kernel(entry, text, nest.len, vectorized, nest.needs))
    }

    /// Compiles a row program writing into buffer `output` (one value per
    /// row for a reduction, else one per element); the kernel's units are
    /// rows. Reductions of empty rows write the identity (0 for `Sum`,
    /// NaN for `Mean`, -inf for `Max`, inf for `Min`).
    pub fn compile_rows(&mut self, program: &Rows, output: usize) -> Result<Kernel> {
        let nest = layout::rows(program, output)?;
        let vectorized = rows::vectorized(&nest, program);
        let (entry, text) = self.compile(&mut |fb, env| rows::build(fb, env, &nest, program, output))?;
        Ok(self.kernel(entry, text, nest.rows, vectorized, nest.needs))
    }

    fn kernel(&self, entry: KernelFn, disassembly: Option<Arc<str>>, units: u64, vectorized: bool, needs: Vec<Need>) -> Kernel {
        Kernel {
            entry,
            units: units as usize,
            vectorized,
            needs: needs.into(),
            disassembly,
            _code: Arc::clone(&self.code),
        }
    }

    /// Defines one kernel function with `build` and finalizes it.
    fn compile(&mut self, build: &mut dyn FnMut(&mut FunctionBuilder<'_>, &Env) -> Result<()>) -> Result<(KernelFn, Option<Arc<str>>)> {
        let mut guard = self.code.module.lock().unwrap_or_else(PoisonError::into_inner);
        let module = guard.as_mut().ok_or(CodegenError::Internal("the JIT module is gone"))?;
        module.clear_context(&mut self.ctx);
        let pointer = module.target_config().pointer_type();
        let mut signature = module.make_signature();
        for _ in 0..3 {
            signature.params.push(AbiParam::new(pointer));
        }
        let id = module.declare_anonymous_function(&signature)?;
        self.ctx.func.signature = signature;
        self.ctx.func.name = UserFuncName::user(0, id.as_u32());
        let built = {
            let mut fb = FunctionBuilder::new(&mut self.ctx.func, &mut self.builder);
            let sin = module.declare_func_in_func(self.sin, fb.func);
            let cos = module.declare_func_in_func(self.cos, fb.func);
            let env = Env { fma: self.fma, sin, cos };
            let built = build(&mut fb, &env);
            if built.is_ok() {
                fb.seal_all_blocks();
                fb.finalize(module.target_config());
            }
            built
        };
        if let Err(error) = built {
            // The builder context is left mid-function: start afresh.
            self.builder = FunctionBuilderContext::new();
            module.clear_context(&mut self.ctx);
            return Err(error);
        }
        self.ctx.set_disasm(self.disassemble);
        let defined = module.define_function(id, &mut self.ctx);
        let text = match self.disassemble {
            true => self.ctx.compiled_code().and_then(|code| code.vcode.as_deref()).map(Arc::from),
            false => None,
        };
        module.clear_context(&mut self.ctx);
        defined?;
        module.finalize_definitions()?;
        let code = module.get_finalized_function(id);
        // SAFETY: the function was built with the signature (pointer,
        // pointer-sized, pointer-sized) and the host's default calling
        // convention, which is `extern "C"`.
        Ok((unsafe { std::mem::transmute::<*const u8, KernelFn>(code) }, text))
    }
}

/// A compiled kernel. Cloning is cheap; the code stays valid while any
/// clone lives, whatever happens to the [`Jit`] that compiled it. Calls
/// from several threads at once are fine as long as their output ranges
/// are disjoint.
#[derive(Clone)]
pub struct Kernel {
    entry: KernelFn,
    units: usize,
    vectorized: bool,
    needs: Arc<[Need]>,
    disassembly: Option<Arc<str>>,
    _code: Arc<CodeMemory>,
}

impl fmt::Debug for Kernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kernel")
            .field("units", &self.units)
            .field("vectorized", &self.vectorized)
            .finish_non_exhaustive()
    }
}

impl Kernel {
    /// How many units (elements or rows) the kernel computes: `end` is
    /// clamped to this.
    pub fn units(&self) -> usize {
        self.units
    }

    /// Whether the inner loop runs on f32x4 vectors (for a row kernel: the
    /// prologue's pass; later passes over the output row always do).
    pub fn is_vectorized(&self) -> bool {
        self.vectorized
    }

    /// The machine code listing, when the `Jit` was asked to keep it
    /// ([`Jit::set_disassembly`]).
    pub fn disassembly(&self) -> Option<&str> {
        self.disassembly.as_deref()
    }

    /// The raw entry point. It is valid only while this kernel (or a clone)
    /// is alive; calling it has the contract of [`Kernel::call`].
    pub fn entry(&self) -> KernelFn {
        self.entry
    }

    /// Runs units `start..end` (`end` is clamped to [`Kernel::units`]; an
    /// empty range does nothing).
    ///
    /// # Safety
    ///
    /// `buffers` must point to an array holding a pointer for every buffer
    /// index the program uses, each valid for reads (inputs) or writes (the
    /// output) of every element the program's accesses reach for these
    /// units; the output elements of `start..end` must not be read or
    /// written by anyone else during the call, and must not overlap an
    /// input unless the program reads each output element at the very
    /// position it writes it.
    pub unsafe fn call(&self, buffers: *const *mut f32, start: usize, end: usize) {
        // SAFETY: forwarded to the caller, and `self` keeps the code alive.
        unsafe { (self.entry)(buffers, start, end) }
    }

    /// Safe [`Kernel::call`]: checks that every buffer the program reaches
    /// is given and long enough for the whole program, and that
    /// `start <= end <= units`.
    pub fn run(&self, buffers: &mut [&mut [f32]], start: usize, end: usize) -> Result<()> {
        if start > end || end > self.units {
            return Err(CodegenError::Range {
                start,
                end,
                units: self.units,
            });
        }
        for need in self.needs.iter() {
            let buffer = buffers.get(need.buffer).ok_or(CodegenError::MissingBuffer {
                buffer: need.buffer,
                given: buffers.len(),
            })?;
            if buffer.len() < need.len {
                return Err(CodegenError::BufferTooSmall {
                    buffer: need.buffer,
                    len: buffer.len(),
                    needed: need.len,
                });
            }
        }
        let pointers: Vec<*mut f32> = buffers.iter_mut().map(|b| b.as_mut_ptr()).collect();
        // SAFETY: every buffer the program reaches is present and long
        // enough for its furthest access (checked above against what
        // validation computed from the accesses), and the slices are
        // exclusive borrows, so nothing else touches them during the call.
        unsafe { self.call(pointers.as_ptr(), start, end) };
        Ok(())
    }
}

/// Kernels cross threads: the entry is a plain function pointer and the
/// code memory is shared read-only behind a mutex-guarded module.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Kernel>();
};
