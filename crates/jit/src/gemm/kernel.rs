//! The Cranelift-generated micro-kernel: one `MR x NR` tile of `C` from an
//! `MR`-row panel of packed `A` and an `NR`-column panel of packed `B`.
//!
//! Register blocking: `MR = 6` rows times `NR = 8` columns (two f32x4 per
//! row) is 12 independent accumulators, enough to cover the FMA latency
//! (4 cycles, two FMA pipes on Zen 4: 8 in flight) with margin; with the two
//! `B` vectors, one `A` splat and its copy that is the 16 xmm registers.
//! Per `k` step: 2 vector loads of `B`, 6 `vbroadcastss` loads of `A`
//! (the load folds into the splat), 6 register copies and 12
//! `vfmadd213ps`.
//!
//! Why the copies: x86-64 Cranelift only has the `vfmadd213`/`vfmadd132`
//! forms, whose destination is tied to a *multiplicand*, never to the
//! addend, so the first of a row's two FMAs overwrites a copy of the splat
//! (a `movdqa`, eliminated at register rename) and the second the splat.
//! The alternative, a fresh `vbroadcastss` per FMA, needs no copies but 14
//! vector loads per 12 FMAs, and Zen 4 issues two vector loads per cycle:
//! load-bound at 7 cycles per step instead of 6 (measured 47 against 54
//! GFLOP/s on L1-resident panels).
//!
//! The price of the tied form is that each accumulator changes register at
//! every FMA, so a loop back edge has to permute 12 registers back (with
//! moves or spills). The main loop is therefore unrolled `UNROLL = 32`
//! steps, and the remainder `k % 32` runs first, as straight-line blocks of
//! 16, 8, 4, 2 and 1 steps (each taken or skipped once), so no short loop
//! exists. (With the remainder after the loop, regalloc2 kept the
//! accumulators on the stack across the loop head: 3x the spills.)
//!
//! The function is compiled with `opt_level=none`: the CLIF below is
//! already scheduled (each load next to its FMA), and the e-graph pass of
//! `speed` would sink every pure FMA to its first use, the loop's back
//! edge, leaving all loads live at once and spilling.

use std::sync::Mutex;

use cranelift_codegen::ir::{types, AbiParam, InstBuilder, MemFlagsData, UserFuncName, Value};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_codegen::Context;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{default_libcall_names, Linkage, Module};

use super::GemmError;

/// Rows of the micro-tile.
pub(crate) const MR: usize = 6;
/// Columns of the micro-tile.
pub(crate) const NR: usize = 8;
/// f32x4 vectors per tile row.
const NV: usize = NR / 4;
/// `k` steps per iteration of the kernel's main loop (a power of two).
pub(crate) const UNROLL: usize = 32;

/// `c[i * ldc + j] (+)= sum_p a[p * MR + i] * b[p * NR + j]` for the tile,
/// accumulating into `c` when `accumulate != 0`, overwriting it otherwise.
/// `a` and `b` are packed panels of `k` steps; `ldc` is in elements.
pub(crate) type KernelFn = unsafe extern "C" fn(k: usize, a: *const f32, b: *const f32, c: *mut f32, ldc: usize, accumulate: usize);

/// The compiled micro-kernel and the module that owns its code.
pub(crate) struct Kernel {
    /// Keeps the code alive; a `Mutex` only so that `Kernel` is `Sync`
    /// (a `JITModule` is `Send` but not `Sync`). Never locked while the
    /// kernel runs. `None` only during `drop`.
    module: Mutex<Option<JITModule>>,
    pub(crate) func: KernelFn,
    pub(crate) disassembly: Option<String>,
    pub(crate) fused_fma: bool,
}

impl Drop for Kernel {
    fn drop(&mut self) {
        let module = match self.module.get_mut() {
            Ok(module) => module.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(module) = module {
            // SAFETY: `&mut self` means no `run` is executing the kernel,
            // and `func` is never called after this.
            unsafe { module.free_memory() };
        }
    }
}

fn compile_error(e: impl std::fmt::Display) -> GemmError {
    GemmError::Compile(e.to_string())
}

impl Kernel {
    pub(crate) fn new() -> Result<Kernel, GemmError> {
        let isa_builder = cranelift_native::builder().map_err(|msg| GemmError::Host(msg.to_string()))?;
        let mut flags = settings::builder();
        // Hand-scheduled CLIF: see the module documentation.
        flags.set("opt_level", "none").map_err(compile_error)?;
        flags.set("use_colocated_libcalls", "false").map_err(compile_error)?;
        flags.set("is_pic", "false").map_err(compile_error)?;
        let isa = isa_builder.finish(settings::Flags::new(flags)).map_err(compile_error)?;
        // Without a native FMA Cranelift would expand `fma` to libcalls;
        // a separate multiply and add is far faster (and rounds twice).
        let fused_fma = isa.has_native_fma();
        let mut module = JITModule::new(JITBuilder::with_isa(isa, default_libcall_names()));

        let ptr = module.target_config().pointer_type();
        let mut sig = module.make_signature();
        // k, a, b, c, ldc, accumulate
        for _ in 0..6 {
            sig.params.push(AbiParam::new(ptr));
        }
        let id = module
            .declare_function("opfuse_sgemm_6x8", Linkage::Local, &sig)
            .map_err(compile_error)?;
        let mut ctx: Context = module.make_context();
        ctx.func.signature = sig;
        ctx.func.name = UserFuncName::user(0, id.as_u32());
        ctx.set_disasm(true);
        let mut fctx = FunctionBuilderContext::new();
        let mut fb = FunctionBuilder::new(&mut ctx.func, &mut fctx);
        build_kernel(&mut fb, ptr, fused_fma)?;
        fb.finalize(module.target_config());
        module.define_function(id, &mut ctx).map_err(compile_error)?;
        let disassembly = ctx.compiled_code().and_then(|code| code.vcode.clone());
        module.clear_context(&mut ctx);
        module.finalize_definitions().map_err(compile_error)?;
        let code = module.get_finalized_function(id);
        if code.is_null() {
            return Err(GemmError::Compile("no code for the micro-kernel".into()));
        }
        // SAFETY: `code` is the finalized entry of a function taking six
        // pointer-sized integers and returning nothing, in the module's
        // default calling convention, which is the host C ABI: `KernelFn`.
        let func = unsafe { std::mem::transmute::<*const u8, KernelFn>(code) };
        Ok(Kernel {
            module: Mutex::new(Some(module)),
            func,
            disassembly,
            fused_fma,
        })
    }
}

/// Emits the kernel's body.
fn build_kernel(fb: &mut FunctionBuilder, ptr: types::Type, fused_fma: bool) -> Result<(), GemmError> {
    let f32x4 = types::F32X4;
    // Packed panels are 64-byte aligned scratch; `c` is the caller's
    // output, aligned only to 4 bytes.
    let packed = MemFlagsData::trusted();
    let out = MemFlagsData::new().with_notrap();

    let entry = fb.create_block();
    fb.append_block_params_for_function_params(entry);
    fb.switch_to_block(entry);
    let &[k, a, b, c, ldc, accumulate] = fb.block_params(entry) else {
        return Err(GemmError::Compile("the kernel signature has six parameters".into()));
    };

    let acc: Vec<Variable> = (0..MR * NV).map(|_| fb.declare_var(f32x4)).collect();
    let va = fb.declare_var(ptr);
    let vb = fb.declare_var(ptr);
    let vcount = fb.declare_var(ptr);

    let zero = fb.ins().f32const(0.0);
    let zero = fb.ins().splat(f32x4, zero);
    for &v in &acc {
        fb.def_var(v, zero);
    }
    fb.def_var(va, a);
    fb.def_var(vb, b);
    let count = fb.ins().ushr_imm_u(k, UNROLL.trailing_zeros() as i64);
    fb.def_var(vcount, count);

    // `steps` k steps, then the pointers move past them.
    let emit_steps = |fb: &mut FunctionBuilder, steps: usize| {
        let pa = fb.use_var(va);
        let pb = fb.use_var(vb);
        for step in 0..steps {
            let bv: Vec<Value> = (0..NV)
                .map(|j| {
                    let off = ((step * NR + j * 4) * 4) as i32;
                    fb.ins().load(f32x4, packed, pb, off)
                })
                .collect();
            for i in 0..MR {
                let off = ((step * MR + i) * 4) as i32;
                let x = fb.ins().load(types::F32, packed, pa, off);
                let splat = fb.ins().splat(f32x4, x);
                for (j, &bj) in bv.iter().enumerate() {
                    let var = acc[i * NV + j];
                    let old = fb.use_var(var);
                    let new = if fused_fma {
                        fb.ins().fma(splat, bj, old)
                    } else {
                        let prod = fb.ins().fmul(splat, bj);
                        fb.ins().fadd(prod, old)
                    };
                    fb.def_var(var, new);
                }
            }
        }
        let pa = fb.ins().iadd_imm_s(pa, (steps * MR * 4) as i64);
        fb.def_var(va, pa);
        let pb = fb.ins().iadd_imm_s(pb, (steps * NR * 4) as i64);
        fb.def_var(vb, pb);
    };

    // Remainder first: k % UNROLL as blocks of UNROLL/2, ..., 2, 1 steps,
    // each run or skipped once.
    let mut next = fb.create_block();
    fb.ins().jump(next, &[]);
    let mut steps = UNROLL / 2;
    while steps > 0 {
        let test = next;
        let run = fb.create_block();
        next = fb.create_block();
        fb.switch_to_block(test);
        let bit = fb.ins().band_imm_u(k, steps as i64);
        fb.ins().brif(bit, run, &[], next, &[]);
        fb.switch_to_block(run);
        emit_steps(fb, steps);
        fb.ins().jump(next, &[]);
        steps /= 2;
    }

    // Main loop: a head that tests and a body that jumps back. Every
    // accumulator chain then ends in a single use (the back edge), so the
    // lowering sees each A load used once and folds it into `vbroadcastss`
    // (a value passed on both edges of a `brif` counts as used twice, and
    // that marks its whole FMA chain, loads included, as shared).
    let main_head = next;
    let main_body = fb.create_block();
    let store = fb.create_block();
    fb.switch_to_block(main_head);
    let n = fb.use_var(vcount);
    fb.ins().brif(n, main_body, &[], store, &[]);
    fb.switch_to_block(main_body);
    emit_steps(fb, UNROLL);
    let n = fb.use_var(vcount);
    let n = fb.ins().iadd_imm_s(n, -1);
    fb.def_var(vcount, n);
    fb.ins().jump(main_head, &[]);
    let next = store;

    // Write the tile back.
    let store_acc = fb.create_block();
    let store_new = fb.create_block();
    let exit = fb.create_block();
    fb.switch_to_block(next);
    fb.ins().brif(accumulate, store_acc, &[], store_new, &[]);
    for (block, add) in [(store_acc, true), (store_new, false)] {
        fb.switch_to_block(block);
        let ldc_bytes = fb.ins().ishl_imm_u(ldc, 2);
        let mut row = c;
        for i in 0..MR {
            for j in 0..NV {
                let off = (j * 16) as i32;
                let mut v = fb.use_var(acc[i * NV + j]);
                if add {
                    let old = fb.ins().load(f32x4, out, row, off);
                    v = fb.ins().fadd(old, v);
                }
                fb.ins().store(out, v, row, off);
            }
            if i + 1 < MR {
                row = fb.ins().iadd(row, ldc_bytes);
            }
        }
        fb.ins().jump(exit, &[]);
    }

    fb.switch_to_block(exit);
    fb.ins().return_(&[]);
    fb.seal_all_blocks();
    Ok(())
}
