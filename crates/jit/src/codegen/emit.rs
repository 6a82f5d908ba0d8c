//! CLIF building blocks shared by the kernels: an emitter generic over
//! the lane type (`f32`, `f32x4`, `f64`, `f64x2`), memory flags, and the
//! walk over a loop nest's outer dimensions.

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{types, ConstantData, Endianness, FuncRef, InstBuilder, MemFlagsData, Type, Value};
use cranelift_frontend::{FunctionBuilder, Variable};

/// What every emitter of one function shares.
pub(crate) struct Env {
    /// Whether `fma` lowers to one instruction (else `a * b + c`).
    pub fma: bool,
    /// The host's `sin` and `cos` for arguments beyond the polynomial's
    /// reduction range (see `math.rs`).
    pub sin: FuncRef,
    pub cos: FuncRef,
}

/// Flags of every kernel load and store: in bounds by the caller's
/// contract, no alignment promised (vectors read at any element).
pub(crate) fn mem() -> MemFlagsData {
    MemFlagsData::new().with_notrap()
}

/// Emits arithmetic in lane type `ty`; masks are what `fcmp` gives for it
/// (`i8` for a scalar, an integer vector for a vector).
pub(crate) struct Em<'a, 'f> {
    pub fb: &'a mut FunctionBuilder<'f>,
    pub ty: Type,
    pub env: &'a Env,
}

impl<'a, 'f> Em<'a, 'f> {
    pub fn new(fb: &'a mut FunctionBuilder<'f>, ty: Type, env: &'a Env) -> Self {
        Em { fb, ty, env }
    }

    /// The same builder at another lane type.
    pub fn with(&mut self, ty: Type) -> Em<'_, 'f> {
        Em {
            fb: &mut *self.fb,
            ty,
            env: self.env,
        }
    }

    pub fn vector(&self) -> bool {
        self.ty.is_vector()
    }

    fn wide(&self) -> bool {
        self.ty.lane_type() == types::F64
    }

    /// The integer type with this type's lanes.
    pub fn ity(&self) -> Type {
        self.ty.as_int()
    }

    /// The float constant `v` in every lane.
    pub fn c(&mut self, v: f64) -> Value {
        match (self.vector(), self.wide()) {
            (false, false) => self.fb.ins().f32const(v as f32),
            (false, true) => self.fb.ins().f64const(v),
            (true, wide) => {
                let bytes: Vec<u8> = match wide {
                    false => (0..self.ty.lane_count()).flat_map(|_| (v as f32).to_le_bytes()).collect(),
                    true => (0..self.ty.lane_count()).flat_map(|_| v.to_le_bytes()).collect(),
                };
                let constant = self.fb.func.dfg.constants.insert(ConstantData::from(bytes));
                self.fb.ins().vconst(self.ty, constant)
            }
        }
    }

    /// The integer constant `v` in every lane of `ity()`.
    pub fn ic(&mut self, v: i64) -> Value {
        let ity = self.ity();
        match (self.vector(), self.wide()) {
            (false, false) => self.fb.ins().iconst(ity, i64::from(v as u32)),
            (false, true) => self.fb.ins().iconst(ity, v),
            (true, wide) => {
                let bytes: Vec<u8> = match wide {
                    false => (0..ity.lane_count()).flat_map(|_| (v as i32).to_le_bytes()).collect(),
                    true => (0..ity.lane_count()).flat_map(|_| v.to_le_bytes()).collect(),
                };
                let constant = self.fb.func.dfg.constants.insert(ConstantData::from(bytes));
                self.fb.ins().vconst(ity, constant)
            }
        }
    }

    /// A scalar in every lane.
    pub fn splat(&mut self, scalar: Value) -> Value {
        match self.vector() {
            true => self.fb.ins().splat(self.ty, scalar),
            false => scalar,
        }
    }

    pub fn add(&mut self, a: Value, b: Value) -> Value {
        self.fb.ins().fadd(a, b)
    }

    pub fn sub(&mut self, a: Value, b: Value) -> Value {
        self.fb.ins().fsub(a, b)
    }

    pub fn mul(&mut self, a: Value, b: Value) -> Value {
        self.fb.ins().fmul(a, b)
    }

    pub fn div(&mut self, a: Value, b: Value) -> Value {
        self.fb.ins().fdiv(a, b)
    }

    pub fn neg(&mut self, a: Value) -> Value {
        self.fb.ins().fneg(a)
    }

    pub fn abs(&mut self, a: Value) -> Value {
        self.fb.ins().fabs(a)
    }

    pub fn sqrt(&mut self, a: Value) -> Value {
        self.fb.ins().sqrt(a)
    }

    pub fn floor(&mut self, a: Value) -> Value {
        self.fb.ins().floor(a)
    }

    pub fn ceil(&mut self, a: Value) -> Value {
        self.fb.ins().ceil(a)
    }

    /// Round half to even.
    pub fn nearest(&mut self, a: Value) -> Value {
        self.fb.ins().nearest(a)
    }

    /// NaN-propagating maximum (`-0 < +0`).
    pub fn max(&mut self, a: Value, b: Value) -> Value {
        self.fb.ins().fmax(a, b)
    }

    /// NaN-propagating minimum (`-0 < +0`).
    pub fn min(&mut self, a: Value, b: Value) -> Value {
        self.fb.ins().fmin(a, b)
    }

    /// `a * b + c`, fused where the host has FMA.
    pub fn fma(&mut self, a: Value, b: Value, c: Value) -> Value {
        match self.env.fma {
            true => self.fb.ins().fma(a, b, c),
            false => {
                let p = self.mul(a, b);
                self.add(p, c)
            }
        }
    }

    /// `a * b + k` for a constant `k`.
    pub fn fma_c(&mut self, a: Value, b: Value, k: f64) -> Value {
        let k = self.c(k);
        self.fma(a, b, k)
    }

    pub fn add_c(&mut self, a: Value, k: f64) -> Value {
        let k = self.c(k);
        self.add(a, k)
    }

    pub fn mul_c(&mut self, a: Value, k: f64) -> Value {
        let k = self.c(k);
        self.mul(a, k)
    }

    /// The polynomial `coeffs[0] + coeffs[1] x + ...` by Horner's rule.
    pub fn poly(&mut self, x: Value, coeffs: &[f64]) -> Value {
        let Some((&last, rest)) = coeffs.split_last() else {
            return self.c(0.0);
        };
        let mut acc = self.c(last);
        for &k in rest.iter().rev() {
            acc = self.fma_c(acc, x, k);
        }
        acc
    }

    pub fn cmp(&mut self, cc: FloatCC, a: Value, b: Value) -> Value {
        self.fb.ins().fcmp(cc, a, b)
    }

    pub fn cmp_c(&mut self, cc: FloatCC, a: Value, k: f64) -> Value {
        let k = self.c(k);
        self.cmp(cc, a, k)
    }

    /// Lane by lane `mask ? a : b`.
    pub fn sel(&mut self, mask: Value, a: Value, b: Value) -> Value {
        match self.vector() {
            true => {
                let mask = self.fb.ins().bitcast(self.ty, MemFlagsData::new(), mask);
                self.fb.ins().bitselect(mask, a, b)
            }
            false => self.fb.ins().select(mask, a, b),
        }
    }

    /// `mask ? k : b` for a constant `k`.
    pub fn sel_c(&mut self, mask: Value, k: f64, b: Value) -> Value {
        let k = self.c(k);
        self.sel(mask, k, b)
    }

    /// 1.0 where the mask is set, else 0.0.
    pub fn truth(&mut self, mask: Value) -> Value {
        let (one, zero) = (self.c(1.0), self.c(0.0));
        self.sel(mask, one, zero)
    }

    pub fn and(&mut self, a: Value, b: Value) -> Value {
        self.fb.ins().band(a, b)
    }

    pub fn or(&mut self, a: Value, b: Value) -> Value {
        self.fb.ins().bor(a, b)
    }

    /// `x` limited to `[low, high]`, NaN kept.
    pub fn clamp(&mut self, x: Value, low: f64, high: f64) -> Value {
        let below = self.cmp_c(FloatCC::LessThan, x, low);
        let x = self.sel_c(below, low, x);
        let above = self.cmp_c(FloatCC::GreaterThan, x, high);
        self.sel_c(above, high, x)
    }

    /// The lanes' bits as integers.
    pub fn bits(&mut self, v: Value) -> Value {
        let ity = self.ity();
        self.fb.ins().bitcast(ity, MemFlagsData::new(), v)
    }

    /// Integer lanes reinterpreted as floats.
    pub fn float(&mut self, i: Value) -> Value {
        self.fb.ins().bitcast(self.ty, MemFlagsData::new(), i)
    }

    pub fn iadd(&mut self, a: Value, b: Value) -> Value {
        self.fb.ins().iadd(a, b)
    }

    pub fn isub(&mut self, a: Value, b: Value) -> Value {
        self.fb.ins().isub(a, b)
    }

    pub fn iadd_c(&mut self, a: Value, k: i64) -> Value {
        let k = self.ic(k);
        self.iadd(a, k)
    }

    pub fn iand_c(&mut self, a: Value, k: i64) -> Value {
        let k = self.ic(k);
        self.fb.ins().band(a, k)
    }

    pub fn ior_c(&mut self, a: Value, k: i64) -> Value {
        let k = self.ic(k);
        self.fb.ins().bor(a, k)
    }

    pub fn shl(&mut self, a: Value, n: i64) -> Value {
        self.fb.ins().ishl_imm_u(a, n)
    }

    pub fn sshr(&mut self, a: Value, n: i64) -> Value {
        self.fb.ins().sshr_imm_u(a, n)
    }

    pub fn ushr(&mut self, a: Value, n: i64) -> Value {
        self.fb.ins().ushr_imm_u(a, n)
    }

    /// Integer lanes below zero (the sign bit of a float's bits).
    pub fn ineg_mask(&mut self, i: Value) -> Value {
        let zero = self.ic(0);
        self.fb.ins().icmp(IntCC::SignedLessThan, i, zero)
    }

    pub fn int_float(&mut self, i: Value) -> Value {
        self.fb.ins().fcvt_from_sint(self.ty, i)
    }

    /// `mag` with the sign of `sign`.
    pub fn copysign(&mut self, mag: Value, sign: Value) -> Value {
        if !self.vector() {
            return self.fb.ins().fcopysign(mag, sign);
        }
        let (abs_mask, sign_mask) = match self.wide() {
            false => (0x7fff_ffff, i64::from(i32::MIN)),
            true => (i64::MAX, i64::MIN),
        };
        let (m, s) = (self.bits(mag), self.bits(sign));
        let m = self.iand_c(m, abs_mask);
        let s = self.iand_c(s, sign_mask);
        let joined = self.fb.ins().bor(m, s);
        self.float(joined)
    }

    /// A vector's lanes as `i8x16` (for shuffles) and back.
    fn bytes(&mut self, v: Value) -> Value {
        self.fb
            .ins()
            .bitcast(types::I8X16, MemFlagsData::new().with_endianness(Endianness::Little), v)
    }

    fn of_bytes(&mut self, ty: Type, v: Value) -> Value {
        self.fb
            .ins()
            .bitcast(ty, MemFlagsData::new().with_endianness(Endianness::Little), v)
    }

    fn shuffle(&mut self, a: Value, b: Value, mask: [u8; 16]) -> Value {
        let imm = self.fb.func.dfg.immediates.push(ConstantData::from(mask.to_vec()));
        self.fb.ins().shuffle(a, b, imm)
    }

    /// Runs `f` on `inputs` widened to f64 (`f64` for `f32`, two `f64x2`
    /// halves for `f32x4`) and narrows its results back to this type,
    /// rounding to nearest.
    pub fn via_f64(&mut self, inputs: &[Value], f: &mut dyn FnMut(&mut Em<'_, 'f>, &[Value]) -> Vec<Value>) -> Vec<Value> {
        if !self.vector() {
            let wide: Vec<Value> = inputs.iter().map(|&x| self.fb.ins().fpromote(types::F64, x)).collect();
            let out = f(&mut self.with(types::F64), &wide);
            return out.into_iter().map(|y| self.fb.ins().fdemote(types::F32, y)).collect();
        }
        let mut low = Vec::with_capacity(inputs.len());
        let mut high = Vec::with_capacity(inputs.len());
        let upper: [u8; 16] = [8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15];
        for &x in inputs {
            low.push(self.fb.ins().fvpromote_low(x));
            let b = self.bytes(x);
            let moved = self.shuffle(b, b, upper);
            let moved = self.of_bytes(types::F32X4, moved);
            high.push(self.fb.ins().fvpromote_low(moved));
        }
        let low = f(&mut self.with(types::F64X2), &low);
        let high = f(&mut self.with(types::F64X2), &high);
        let join: [u8; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23];
        low.into_iter()
            .zip(high)
            .map(|(l, h)| {
                let l = self.fb.ins().fvdemote(l);
                let h = self.fb.ins().fvdemote(h);
                let (l, h) = (self.bytes(l), self.bytes(h));
                let joined = self.shuffle(l, h, join);
                self.of_bytes(types::F32X4, joined)
            })
            .collect()
    }

    pub fn load(&mut self, ptr: Value, offset: i32) -> Value {
        self.fb.ins().load(self.ty, mem(), ptr, offset)
    }

    pub fn store(&mut self, v: Value, ptr: Value, offset: i32) {
        self.fb.ins().store(mem(), v, ptr, offset);
    }
}

/// Walks the outer dimensions of a loop nest (outermost first), keeping
/// one multi-index and, per access, a pointer to the current inner row.
pub(crate) struct Outer {
    sizes: Vec<u64>,
    /// Per access, per dimension, bytes to step.
    bytes: Vec<Vec<i64>>,
    idx: Vec<Variable>,
    ptrs: Vec<Variable>,
}

impl Outer {
    /// `strides[k]` holds access `k`'s element strides over `sizes`.
    pub fn new(fb: &mut FunctionBuilder<'_>, sizes: &[u64], strides: &[&[i64]]) -> Self {
        let bytes = strides.iter().map(|s| s.iter().map(|&s| s.wrapping_mul(4)).collect()).collect();
        let idx = sizes.iter().map(|_| fb.declare_var(types::I64)).collect();
        let ptrs = strides.iter().map(|_| fb.declare_var(types::I64)).collect();
        Outer {
            sizes: sizes.to_vec(),
            bytes,
            idx,
            ptrs,
        }
    }

    /// Sets the walk to outer linear index `q` (row-major over `sizes`,
    /// below their product) with access `k` based at `bases[k]`.
    pub fn init(&self, fb: &mut FunctionBuilder<'_>, bases: &[Value], q: Value) {
        let mut rest = q;
        let mut idx = vec![rest; self.sizes.len()];
        for (d, &n) in self.sizes.iter().enumerate().rev() {
            if d == 0 {
                idx[d] = rest;
            } else {
                idx[d] = fb.ins().urem_imm_u(rest, n as i64);
                rest = fb.ins().udiv_imm_u(rest, n as i64);
            }
        }
        for (d, &v) in idx.iter().enumerate() {
            fb.def_var(self.idx[d], v);
        }
        for (k, &base) in bases.iter().enumerate() {
            let mut ptr = base;
            for (d, &i) in idx.iter().enumerate() {
                let step = self.bytes[k][d];
                if step != 0 {
                    let offset = fb.ins().imul_imm_s(i, step);
                    ptr = fb.ins().iadd(ptr, offset);
                }
            }
            fb.def_var(self.ptrs[k], ptr);
        }
    }

    /// Access `k`'s pointer to the current row.
    pub fn ptr(&self, fb: &mut FunctionBuilder<'_>, k: usize) -> Value {
        fb.use_var(self.ptrs[k])
    }

    fn bump(&self, fb: &mut FunctionBuilder<'_>, d: usize, factor: i64) {
        for (k, &var) in self.ptrs.iter().enumerate() {
            let step = self.bytes[k][d].wrapping_mul(factor);
            if step != 0 {
                let ptr = fb.use_var(var);
                let ptr = fb.ins().iadd_imm_s(ptr, step);
                fb.def_var(var, ptr);
            }
        }
    }

    /// Moves to the next outer index, carrying into outer dimensions; the
    /// builder continues in a fresh block. The caller never advances past
    /// the last index.
    pub fn advance(&self, fb: &mut FunctionBuilder<'_>) {
        if self.sizes.is_empty() {
            return;
        }
        let done = fb.create_block();
        for d in (0..self.sizes.len()).rev() {
            let i = fb.use_var(self.idx[d]);
            let i = fb.ins().iadd_imm_s(i, 1);
            fb.def_var(self.idx[d], i);
            self.bump(fb, d, 1);
            if d == 0 {
                fb.ins().jump(done, &[]);
                break;
            }
            let n = self.sizes[d] as i64;
            let inside = fb.ins().icmp_imm_s(IntCC::UnsignedLessThan, i, n);
            let carry = fb.create_block();
            fb.ins().brif(inside, done, &[], carry, &[]);
            fb.switch_to_block(carry);
            let zero = fb.ins().iconst(types::I64, 0);
            fb.def_var(self.idx[d], zero);
            self.bump(fb, d, -n);
        }
        fb.switch_to_block(done);
    }
}
