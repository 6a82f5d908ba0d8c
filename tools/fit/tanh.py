#!/usr/bin/env python3
"""Fits the coefficients of `tanh` in crates/jit/src/codegen/math.rs.

The kernel computes tanh in f32 in two ways and selects by |x|:

- |x| < SMALL: tanh x = x S(t), t = x^2 (a polynomial; S(0) = 1);
- otherwise, on x clamped to [-CLAMP, CLAMP]: h = (x/2) P(t) / Q(t) ~ tanh(x/2)
  and tanh x = 2h / (1 + h^2) = s Q / (Q^2 + (s/2)^2) with s = x P: one
  division, no exp. The doubling formula damps h's relative error by
  (1 - h^2) / (1 + h^2), so the rounding errors of P and Q, which grow with
  t, hardly show where tanh is near 1 (a single rational x P(t) / Q(t) for
  tanh itself measured 5.9 ulps there).

Both fits minimize relative error in the minimax sense: Loeb's linearization
(weighted least squares, rows divided by the previous Q) with Lawson's
reweighting towards the error peaks, on Chebyshev nodes, against mpmath's
tanh at 40 digits; P(0) = Q(0) = 1. The coefficients are rounded to f32 and
checked by evaluating the kernel's formula in f32 with fused multiply-adds
(emulated in f64) against f64 tanh, over every STEP-th f32 in [2^-12, CLAMP].

Usage: python3 tools/fit/tanh.py [step]   (default 5; 1 checks every f32, slowly)
"""
import sys

import mpmath
import numpy as np

mpmath.mp.dps = 40
# Past this, tanh rounds to 1 in f32 (1 - tanh x = 2 / (e^2x + 1) < 2^-25 from 9.01).
CLAMP = 10.0
# Below this, the polynomial.
SMALL = 0.625
STEP = int(sys.argv[1]) if len(sys.argv) > 1 else 5
F32 = np.float32
F64 = np.float64


def ratio(x, scale):
    """tanh(x / scale) / (x / scale) at 40 digits, rounded to f64."""
    u = mpmath.mpf(float(x)) / scale
    return float(mpmath.tanh(u) / u)


def fit(p_deg, q_deg, high, scale, grid=4000, rounds=60):
    """P, Q and the max relative error of tanh(x/scale)/(x/scale) ~ P(x^2)/Q(x^2) on [0, high]."""
    # Chebyshev nodes in x, dense near both ends.
    xs = (1 - np.cos(np.linspace(0.0, np.pi, grid))) / 2 * high
    xs = xs[xs > 1e-4]
    t = xs * xs
    f = np.array([ratio(x, scale) for x in xs])
    weights = np.ones_like(t)
    q_prev = np.ones_like(t)
    for _ in range(rounds):
        # P(t) - f Q(t) = 0, with P = 1 + p1 t + ..., Q = 1 + q1 t + ...;
        # relative error scale: divide rows by f Q_prev.
        cols = [t**k for k in range(1, p_deg + 1)] + [-f * t**k for k in range(1, q_deg + 1)]
        a = np.stack(cols, axis=1)
        b = f - 1.0
        scale = np.sqrt(weights) / (f * np.abs(q_prev))
        sol, *_ = np.linalg.lstsq(a * scale[:, None], b * scale, rcond=None)
        p = np.concatenate([[1.0], sol[:p_deg]])
        q = np.concatenate([[1.0], sol[p_deg:]])
        q_prev = np.polyval(q[::-1], t)
        err = np.abs(np.polyval(p[::-1], t) / q_prev / f - 1.0)
        weights = weights * err
        weights /= weights.sum()
    return p, q, err.max()


def fma(a, b, c):
    return (a.astype(F64) * b.astype(F64) + c.astype(F64)).astype(F32)


def horner(coeffs, t):
    acc = np.full_like(t, F32(coeffs[-1]))
    for k in coeffs[-2::-1]:
        acc = fma(acc, t, np.full_like(t, F32(k)))
    return acc


def kernel(x, s_coeffs, p, q):
    """The kernel's f32 arithmetic for x >= 0."""
    x = np.minimum(x, F32(CLAMP))
    t = (x * x).astype(F32)
    small = (x * horner(s_coeffs, t)).astype(F32)
    s = (x * horner(p, t)).astype(F32)
    qv = horner(q, t)
    half = (F32(0.5) * s).astype(F32)
    large = ((s * qv).astype(F32) / fma(half, half, (qv * qv).astype(F32))).astype(F32)
    return np.minimum(np.where(x < F32(SMALL), small, large), F32(1.0))


def ulps(got, xs):
    want = np.tanh(xs.astype(F64))
    spacing = np.spacing(np.abs(want.astype(F32))).astype(F64)
    return np.abs(got.astype(F64) - want) / spacing


def main():
    s, _, s_rel = fit(5, 0, SMALL * 1.01, 1.0)
    p, q, rel = fit(4, 3, CLAMP, 2.0)
    print(f"S: max relative error {s_rel:.2e} on [0, {SMALL}]; P/Q: {rel:.2e} on [0, {CLAMP}]")
    s32 = [float(F32(c)) for c in s]
    p32 = [float(F32(c)) for c in p]
    q32 = [float(F32(c)) for c in q]
    lo = F32(2.0**-12).view(np.uint32)
    hi = F32(CLAMP + 1).view(np.uint32)
    xs = np.arange(lo, hi, STEP, dtype=np.uint32).view(F32)
    e = ulps(kernel(xs, s32, p32, q32), xs)
    worst = int(np.argmax(e))
    print(f"f32 evaluation, {len(xs)} inputs: max {e[worst]:.3f} ulps at x = {float(xs[worst])!r}")
    print("TANH_S:", ", ".join(repr(c) for c in s32))
    print("TANH_P:", ", ".join(repr(c) for c in p32))
    print("TANH_Q:", ", ".join(repr(c) for c in q32))


if __name__ == "__main__":
    main()
