#!/usr/bin/env python3
"""Peer measurement for opfuse's optimizer (issue 5, point 7).

For each model below this script
  1. builds it in JAX, jit-compiles it for the CPU and counts the kernels in
     XLA's optimized HLO (rules: XLA_RULES below);
  2. builds the same model as ONNX with onnx.helper, lets onnxruntime optimize
     it (ORT_ENABLE_ALL, CPU execution provider), saves the optimized model and
     counts its nodes (rules: ORT_RULES below);
  3. runs `opfuse opt examples/peers/<name>.opf --target cpu --emit kernels
     --format json` when the binary has that command, and counts `kernels`;
  4. checks that the JAX, ONNX and examples/peers/<name>.opf models are the
     same: JAX on the ONNX weights and inputs gives ORT's output, and
     `opfuse check` finds the same inputs, params and matmul/conv FLOPs in the
     .opf and the ONNX file;
and prints a markdown table, also written to tools/peers/RESULTS.md.

Usage (from the repository root):
    python3 tools/peers/peers.py [--models mlp,ln_chain,...] [--no-write]
                                 [--opfuse target/release/opfuse]
                                 [--keep-onnx DIR] [--skip-opt] [--no-verify]

Needs: numpy, jax + jaxlib, onnx, onnxruntime (pip install jax jaxlib onnx
onnxruntime). Everything is deterministic: weights come from a fixed seed and
no count depends on them.
"""

import argparse
import collections
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import numpy as np  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
RESULTS = os.path.join(REPO, "tools", "peers", "RESULTS.md")
OPSET = 17

XLA_RULES = """\
**XLA kernels.** The text of `jax.jit(f).lower(*args).compile().as_text()`
(jit for the CPU backend, default `XLA_FLAGS`, inputs and weights both passed
as arguments, so nothing is constant-folded into the weights) is parsed, and
every instruction of the `ENTRY` computation counts as one kernel, except the
ones that launch no work: `parameter`, `constant`, `bitcast`,
`get-tuple-element`, `tuple`, `after-all` and `opt-barrier`. So each `fusion`
instruction counts once, whatever its kind (`kLoop`, `kInput`, `kOutput`, or
`kCustom` such as the `__ynn_fusion`/oneDNN matmul fusions), and each unfused
top-level op that computes (`dot`, `convolution`, `copy`, `transpose`,
`reduce`, `custom-call`, ...) counts once. A `call`, `while` or `conditional`
counts not itself but its called computations, counted by the same rules
(none of the models below produces one)."""

ORT_RULES = """\
**ORT nodes.** The ONNX model (opset 17, weights as initializers, written in
the primitive form exporters emit: LayerNorm as ReduceMean/Sub/Pow/ReduceMean/
Add/Sqrt/Div/Mul/Add, GELU as Div/Erf/Add/Mul/Mul (tanh form: Pow/Mul/Add/Mul/
Tanh/Add/Mul/Mul), RMSNorm as Pow/ReduceMean/Add/Sqrt/Div/Mul/Mul, SiLU as
Sigmoid/Mul, linear layers as MatMul + Add, attention scale as a Div) is
loaded into an `onnxruntime.InferenceSession` on the CPU execution provider
with `graph_optimization_level = ORT_ENABLE_ALL` and
`optimized_model_filepath` set; the saved model's top-level graph nodes are
counted, every node once (none of these models has subgraphs).
"ORT nodes after optimization" counts all of them; "excl. views" leaves out
Reshape, Squeeze, Unsqueeze, Flatten and Identity, which move no data."""

OPFUSE_RULES = """\
**opfuse kernels.** `opfuse opt examples/peers/<name>.opf --target cpu --emit
kernels --format json`: the length of `kernels`, and the sum of the kernels'
`bytes` as its estimated HBM bytes. `n/a` while the binary lacks `opt` (or
with `--skip-opt`)."""

VIEW_OPS = {"Reshape", "Squeeze", "Unsqueeze", "Flatten", "Identity"}
XLA_FREE = {"parameter", "constant", "bitcast", "get-tuple-element", "tuple",
            "after-all", "opt-barrier"}
XLA_CALLS = {"call", "while", "conditional"}


# --------------------------------------------------------------------------
# Model descriptions: inputs and params (name, shape, init), shared by the
# JAX and ONNX builders. Weights are only materialised for ONNX.
# --------------------------------------------------------------------------

def normal(scale=0.02):
    return ("normal", scale)


ONES, ZEROS, POSITIVE = ("ones",), ("zeros",), ("positive",)


class Model:
    def __init__(self, name, title, inputs, params, jax_fn, onnx_fn):
        self.name, self.title = name, title
        self.inputs = inputs      # [(name, shape)]
        self.params = params      # [(name, shape, init)]
        self.jax_fn = jax_fn      # f(inputs: dict, params: dict) -> array
        self.onnx_fn = onnx_fn    # f(builder) -> output name


# ---- JAX building blocks ---------------------------------------------------

def j_layer_norm(x, g, b, eps):
    import jax.numpy as jnp
    from jax import lax
    mean = jnp.mean(x, axis=-1, keepdims=True)
    var = jnp.mean(jnp.square(x - mean), axis=-1, keepdims=True)
    return (x - mean) * lax.rsqrt(var + eps) * g + b


def j_heads(t, B, S, NH, HD, perm):
    import jax.numpy as jnp
    return jnp.transpose(jnp.reshape(t, (B, S, NH, HD)), perm)


def j_merge(t, B, S, H):
    import jax.numpy as jnp
    return jnp.reshape(jnp.transpose(t, (0, 2, 1, 3)), (B, S, H))


def j_rms_norm(x, w):
    import jax.numpy as jnp
    from jax import lax
    var = jnp.mean(x * x, axis=-1, keepdims=True)
    return x * lax.rsqrt(var + 1e-6) * w


def j_rotary(x, cos, sin, HD):
    import jax.numpy as jnp
    x1, x2 = x[..., : HD // 2], x[..., HD // 2:]
    return x * cos + jnp.concatenate([-x2, x1], axis=-1) * sin


# ---- ONNX builder ----------------------------------------------------------

class OnnxBuilder:
    def __init__(self, model, rng):
        from onnx import TensorProto, helper
        self.helper, self.TP = helper, TensorProto
        self.model, self.rng = model, rng
        self.nodes, self.inits, self.count = [], [], 0
        self.inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, list(s))
                       for n, s in model.inputs]
        self.p, self.arrays = {}, {}
        for name, shape, init in model.params:
            self.arrays[name] = self.weights(shape, init)
            self.p[name] = self.init(name, self.arrays[name])
        self.x = {n: n for n, _ in model.inputs}

    def weights(self, shape, init):
        if init[0] == "normal":
            return self.rng.standard_normal(shape, dtype=np.float32) * np.float32(init[1])
        if init[0] == "ones":
            return np.ones(shape, np.float32)
        if init[0] == "zeros":
            return np.zeros(shape, np.float32)
        if init[0] == "positive":
            return self.rng.uniform(0.5, 1.5, shape).astype(np.float32)
        raise ValueError(init)

    def fresh(self, hint):
        self.count += 1
        return f"{hint}_{self.count}"

    def init(self, name, array):
        from onnx import numpy_helper
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def f(self, value):
        return self.init(self.fresh("c"), np.array(value, np.float32))

    def i64(self, values):
        return self.init(self.fresh("shape"), np.array(values, np.int64))

    def op(self, op_type, *inputs, outputs=1, **attrs):
        names = [self.fresh(op_type.lower()) for _ in range(outputs)]
        self.nodes.append(self.helper.make_node(op_type, list(inputs), names, **attrs))
        return names[0] if outputs == 1 else names

    # exporter-style composites
    def linear(self, x, w, b=None):
        y = self.op("MatMul", x, w)
        return self.op("Add", y, b) if b else y

    def layer_norm(self, x, g, b, eps):
        mean = self.op("ReduceMean", x, axes=[-1], keepdims=1)
        d = self.op("Sub", x, mean)
        var = self.op("ReduceMean", self.op("Pow", d, self.f(2.0)), axes=[-1], keepdims=1)
        std = self.op("Sqrt", self.op("Add", var, self.f(eps)))
        return self.op("Add", self.op("Mul", self.op("Div", d, std), g), b)

    def gelu_erf(self, x):
        e = self.op("Erf", self.op("Div", x, self.f(1.4142135623730951)))
        return self.op("Mul", self.op("Mul", x, self.op("Add", e, self.f(1.0))), self.f(0.5))

    def gelu_tanh(self, x):
        half = self.op("Mul", x, self.f(0.5))
        cube = self.op("Mul", self.op("Pow", x, self.f(3.0)), self.f(0.044715))
        inner = self.op("Mul", self.op("Add", x, cube), self.f(0.7978845608028654))
        return self.op("Mul", half, self.op("Add", self.op("Tanh", inner), self.f(1.0)))

    def rms_norm(self, x, w):
        var = self.op("ReduceMean", self.op("Pow", x, self.f(2.0)), axes=[-1], keepdims=1)
        inv = self.op("Div", self.f(1.0), self.op("Sqrt", self.op("Add", var, self.f(1e-6))))
        return self.op("Mul", w, self.op("Mul", x, inv))

    def heads(self, t, shape, perm):
        return self.op("Transpose", self.op("Reshape", t, self.i64(shape)), perm=perm)

    def merge(self, t, shape):
        return self.op("Reshape", self.op("Transpose", t, perm=[0, 2, 1, 3]), self.i64(shape))

    def rotary(self, x, cos, sin, HD):
        axes = self.i64([-1])
        x1 = self.op("Slice", x, self.i64([0]), self.i64([HD // 2]), axes)
        x2 = self.op("Slice", x, self.i64([HD // 2]), self.i64([HD]), axes)
        rot = self.op("Concat", self.op("Neg", x2), x1, axis=-1)
        return self.op("Add", self.op("Mul", x, cos), self.op("Mul", rot, sin))

    def build(self):
        from onnx import TensorProto
        out = self.model.onnx_fn(self)
        out_shape = self.model.inputs[0][1]
        self.nodes.append(self.helper.make_node("Identity", [out], ["output"]))
        graph = self.helper.make_graph(
            self.nodes, self.model.name, self.inputs,
            [self.helper.make_tensor_value_info("output", TensorProto.FLOAT, list(out_shape))],
            initializer=self.inits)
        m = self.helper.make_model(graph, opset_imports=[self.helper.make_opsetid("", OPSET)],
                                   producer_name="opfuse tools/peers")
        m.ir_version = 8
        return m


# ---- the six models --------------------------------------------------------

def mlp_model():
    B, S, H, F = 1, 128, 768, 3072

    def jf(i, p):
        import jax
        h = jax.nn.gelu(i["x"] @ p["w1"] + p["b1"], approximate=False)
        return h @ p["w2"] + p["b2"] + i["x"]

    def of(g):
        h = g.gelu_erf(g.linear("x", g.p["w1"], g.p["b1"]))
        return g.op("Add", g.linear(h, g.p["w2"], g.p["b2"]), "x")

    return Model("mlp", "MLP (BERT-base FFN: matmul+bias, GELU, matmul+bias, residual)",
                 [("x", (B, S, H))],
                 [("w1", (H, F), normal()), ("b1", (F,), ZEROS),
                  ("w2", (F, H), normal()), ("b2", (H,), ZEROS)], jf, of)


def ln_chain_model():
    B, S, H = 1, 128, 768

    def jf(i, p):
        import jax
        h = j_layer_norm(i["x"], p["gamma"], p["beta"], 1e-5)
        return jax.nn.relu(h * p["scale"] + p["shift"]) + i["x"]

    def of(g):
        h = g.layer_norm("x", g.p["gamma"], g.p["beta"], 1e-5)
        h = g.op("Relu", g.op("Add", g.op("Mul", h, g.p["scale"]), g.p["shift"]))
        return g.op("Add", h, "x")

    return Model("ln_chain", "LayerNorm then elementwise chain (scale, shift, ReLU, residual)",
                 [("x", (B, S, H))],
                 [("gamma", (H,), ONES), ("beta", (H,), ZEROS),
                  ("scale", (H,), normal(1.0)), ("shift", (H,), normal(1.0))], jf, of)


def bert_attention_model():
    B, S, H, NH = 1, 128, 768, 12
    HD = H // NH

    def jf(i, p):
        import jax
        x = i["x"]
        q = j_heads(x @ p["wq"] + p["bq"], B, S, NH, HD, (0, 2, 1, 3))
        k = j_heads(x @ p["wk"] + p["bk"], B, S, NH, HD, (0, 2, 3, 1))
        v = j_heads(x @ p["wv"] + p["bv"], B, S, NH, HD, (0, 2, 1, 3))
        probs = jax.nn.softmax(q @ k * 0.125 + i["mask"], axis=-1)
        ctx = j_merge(probs @ v, B, S, H)
        return j_layer_norm(ctx @ p["wo"] + p["bo"] + x, p["norm_g"], p["norm_b"], 1e-12)

    def of(g):
        q = g.heads(g.linear("x", g.p["wq"], g.p["bq"]), [B, S, NH, HD], [0, 2, 1, 3])
        k = g.heads(g.linear("x", g.p["wk"], g.p["bk"]), [B, S, NH, HD], [0, 2, 3, 1])
        v = g.heads(g.linear("x", g.p["wv"], g.p["bv"]), [B, S, NH, HD], [0, 2, 1, 3])
        scores = g.op("Add", g.op("Div", g.op("MatMul", q, k), g.f(8.0)), "mask")
        probs = g.op("Softmax", scores, axis=-1)
        ctx = g.merge(g.op("MatMul", probs, v), [B, S, H])
        y = g.op("Add", g.linear(ctx, g.p["wo"], g.p["bo"]), "x")
        return g.layer_norm(y, g.p["norm_g"], g.p["norm_b"], 1e-12)

    params = []
    for n in "qkvo":
        params += [(f"w{n}", (H, H), normal()), (f"b{n}", (H,), ZEROS)]
    params += [("norm_g", (H,), ONES), ("norm_b", (H,), ZEROS)]
    return Model("bert_attention", "BERT-base attention block (QKV, 12 heads, masked softmax, "
                 "out proj, residual + LayerNorm)",
                 [("x", (B, S, H)), ("mask", (B, 1, 1, S))], params, jf, of)


def resnet_block_model():
    N, C, HW = 1, 64, 56

    def jf(i, p):
        import jax
        from jax import lax

        def conv_bn(x, n):
            y = lax.conv_general_dilated(x, p[f"w{n}"], (1, 1), ((1, 1), (1, 1)),
                                         dimension_numbers=("NCHW", "OIHW", "NCHW"))
            c = lambda t: t.reshape(1, C, 1, 1)  # noqa: E731
            return ((y - c(p[f"mean{n}"])) * lax.rsqrt(c(p[f"var{n}"]) + 1e-5)
                    * c(p[f"gamma{n}"]) + c(p[f"beta{n}"]))

        h = jax.nn.relu(conv_bn(i["x"], 1))
        return jax.nn.relu(conv_bn(h, 2) + i["x"])

    def of(g):
        def conv_bn(x, n):
            y = g.op("Conv", x, g.p[f"w{n}"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
            return g.op("BatchNormalization", y, g.p[f"gamma{n}"], g.p[f"beta{n}"],
                        g.p[f"mean{n}"], g.p[f"var{n}"], epsilon=1e-5)

        h = g.op("Relu", conv_bn("x", 1))
        return g.op("Relu", g.op("Add", conv_bn(h, 2), "x"))

    params = []
    for n in (1, 2):
        params += [(f"w{n}", (C, C, 3, 3), normal(0.05)), (f"gamma{n}", (C,), ONES),
                   (f"beta{n}", (C,), ZEROS), (f"mean{n}", (C,), normal(0.1)),
                   (f"var{n}", (C,), POSITIVE)]
    return Model("resnet_block", "ResNet basic block (64 ch, 56x56, conv-bn-relu-conv-bn, "
                 "residual, relu)", [("x", (N, C, HW, HW))], params, jf, of)


def gpt_decoder_model():
    B, S, H, NH, L = 1, 64, 256, 4, 4
    HD, F = H // NH, 4 * H

    def jf(i, p):
        import jax
        import jax.numpy as jnp
        x = i["x"]
        for l in range(L):
            w = lambda n: p[f"block{l}.{n}"]  # noqa: E731
            h = j_layer_norm(x, w("ln1_g"), w("ln1_b"), 1e-5)
            q, k, v = jnp.split(h @ w("w_attn") + w("b_attn"), 3, axis=-1)
            q = j_heads(q, B, S, NH, HD, (0, 2, 1, 3))
            k = j_heads(k, B, S, NH, HD, (0, 2, 3, 1))
            v = j_heads(v, B, S, NH, HD, (0, 2, 1, 3))
            probs = jax.nn.softmax(q @ k * 0.125 + i["mask"], axis=-1)
            x = x + (j_merge(probs @ v, B, S, H) @ w("w_proj") + w("b_proj"))
            h = j_layer_norm(x, w("ln2_g"), w("ln2_b"), 1e-5)
            x = x + (jax.nn.gelu(h @ w("w_fc") + w("b_fc"), approximate=True) @ w("w_out")
                     + w("b_out"))
        return j_layer_norm(x, p["lnf_g"], p["lnf_b"], 1e-5)

    def of(g):
        x = "x"
        for l in range(L):
            w = lambda n: g.p[f"block{l}.{n}"]  # noqa: E731
            h = g.layer_norm(x, w("ln1_g"), w("ln1_b"), 1e-5)
            q, k, v = g.op("Split", g.linear(h, w("w_attn"), w("b_attn")), g.i64([H, H, H]),
                           outputs=3, axis=-1)
            q = g.heads(q, [B, S, NH, HD], [0, 2, 1, 3])
            k = g.heads(k, [B, S, NH, HD], [0, 2, 3, 1])
            v = g.heads(v, [B, S, NH, HD], [0, 2, 1, 3])
            scores = g.op("Add", g.op("Div", g.op("MatMul", q, k), g.f(8.0)), "mask")
            ctx = g.merge(g.op("MatMul", g.op("Softmax", scores, axis=-1), v), [B, S, H])
            x = g.op("Add", x, g.linear(ctx, w("w_proj"), w("b_proj")))
            h = g.layer_norm(x, w("ln2_g"), w("ln2_b"), 1e-5)
            m = g.linear(g.gelu_tanh(g.linear(h, w("w_fc"), w("b_fc"))), w("w_out"), w("b_out"))
            x = g.op("Add", x, m)
        return g.layer_norm(x, g.p["lnf_g"], g.p["lnf_b"], 1e-5)

    params = []
    for l in range(L):
        params += [(f"block{l}.{n}", s, init) for n, s, init in [
            ("ln1_g", (H,), ONES), ("ln1_b", (H,), ZEROS),
            ("w_attn", (H, 3 * H), normal()), ("b_attn", (3 * H,), ZEROS),
            ("w_proj", (H, H), normal()), ("b_proj", (H,), ZEROS),
            ("ln2_g", (H,), ONES), ("ln2_b", (H,), ZEROS),
            ("w_fc", (H, F), normal()), ("b_fc", (F,), ZEROS),
            ("w_out", (F, H), normal()), ("b_out", (H,), ZEROS)]]
    params += [("lnf_g", (H,), ONES), ("lnf_b", (H,), ZEROS)]
    return Model("gpt_decoder", "4-layer GPT-2-style decoder (H=256, 4 heads, S=64, pre-LN, "
                 "causal, tanh-GELU MLP)", [("x", (B, S, H)), ("mask", (1, 1, S, S))],
                 params, jf, of)


def llama_layer_model():
    B, S, H, NH, F = 1, 128, 4096, 32, 11008
    HD = H // NH

    def jf(i, p):
        import jax
        x, cos, sin = i["x"], i["cos"], i["sin"]
        h = j_rms_norm(x, p["attn_norm"])
        q = j_rotary(j_heads(h @ p["wq"], B, S, NH, HD, (0, 2, 1, 3)), cos, sin, HD)
        k = j_rotary(j_heads(h @ p["wk"], B, S, NH, HD, (0, 2, 1, 3)), cos, sin, HD)
        v = j_heads(h @ p["wv"], B, S, NH, HD, (0, 2, 1, 3))
        scores = q @ k.transpose(0, 1, 3, 2) * 0.08838834764831845 + i["mask"]
        attn = jax.nn.softmax(scores, axis=-1) @ v
        x = x + j_merge(attn, B, S, H) @ p["wo"]
        h = j_rms_norm(x, p["ffn_norm"])
        return x + (jax.nn.silu(h @ p["w_gate"]) * (h @ p["w_up"])) @ p["w_down"]

    def of(g):
        h = g.rms_norm("x", g.p["attn_norm"])
        q = g.rotary(g.heads(g.op("MatMul", h, g.p["wq"]), [B, S, NH, HD], [0, 2, 1, 3]),
                     "cos", "sin", HD)
        k = g.rotary(g.heads(g.op("MatMul", h, g.p["wk"]), [B, S, NH, HD], [0, 2, 1, 3]),
                     "cos", "sin", HD)
        v = g.heads(g.op("MatMul", h, g.p["wv"]), [B, S, NH, HD], [0, 2, 1, 3])
        kt = g.op("Transpose", k, perm=[0, 1, 3, 2])
        scores = g.op("Add", g.op("Div", g.op("MatMul", q, kt), g.f(11.313708498984761)), "mask")
        attn = g.op("MatMul", g.op("Softmax", scores, axis=-1), v)
        x = g.op("Add", "x", g.op("MatMul", g.merge(attn, [B, S, H]), g.p["wo"]))
        h = g.rms_norm(x, g.p["ffn_norm"])
        gate = g.op("MatMul", h, g.p["w_gate"])
        silu = g.op("Mul", gate, g.op("Sigmoid", gate))
        up = g.op("MatMul", h, g.p["w_up"])
        return g.op("Add", x, g.op("MatMul", g.op("Mul", silu, up), g.p["w_down"]))

    params = [("attn_norm", (H,), ONES)]
    params += [(n, (H, H), normal()) for n in ("wq", "wk", "wv", "wo")]
    params += [("ffn_norm", (H,), ONES), ("w_gate", (H, F), normal()),
               ("w_up", (H, F), normal()), ("w_down", (F, H), normal())]
    return Model("llama_layer", "one LLaMA-7B decoder layer (H=4096, 32 heads, S=128, RMSNorm, "
                 "rotary, SwiGLU; f32)",
                 [("x", (B, S, H)), ("cos", (S, HD)), ("sin", (S, HD)), ("mask", (1, 1, S, S))],
                 params, jf, of)


MODELS = [mlp_model, ln_chain_model, bert_attention_model, resnet_block_model,
          gpt_decoder_model, llama_layer_model]


# --------------------------------------------------------------------------
# XLA
# --------------------------------------------------------------------------

INSTR = re.compile(r"^\s*(?:ROOT\s+)?%?([\w.\-]+)\s*=\s*(.*?)\s([a-z][\w\-]*)\((.*)$")


def parse_hlo(text):
    """Computations of an HLO module: name -> (is_entry, [(opcode, rest)])."""
    comps, current = {}, None
    for line in text.splitlines():
        s = line.strip()
        m = re.match(r"^(ENTRY\s+)?%?([\w.\-]+)\s.*\{$", s)
        if m and "=" not in s.split("(")[0]:
            current = m.group(2)
            comps[current] = (bool(m.group(1)), [])
            continue
        if s == "}":
            current = None
            continue
        if current is not None:
            mi = INSTR.match(line)
            if mi:
                comps[current][1].append((mi.group(3), mi.group(4)))
    return comps


def count_xla(comps, name, kinds):
    n = 0
    for opcode, rest in comps[name][1]:
        if opcode in XLA_FREE:
            continue
        if opcode in XLA_CALLS:
            for callee in re.findall(r"(?:to_apply|body|condition|calls|branch_computations)"
                                     r"=\{?%?([\w.\-]+)", rest):
                if callee in comps:
                    n += count_xla(comps, callee, kinds)
            continue
        if opcode == "fusion":
            kind = re.search(r"kind=(\w+)", rest).group(1)
            custom = re.search(r'"kind":"(\w+)"', rest)
            label = f"fusion {kind}" + (f" ({custom.group(1)})" if custom else "")
        else:
            label = opcode
        kinds[label] += 1
        n += 1
    return n


def measure_xla(model):
    import jax
    import jax.numpy as jnp

    in_names = [n for n, _ in model.inputs]
    p_names = [n for n, _, _ in model.params]

    def f(inputs, params):
        return model.jax_fn(dict(zip(in_names, inputs)), dict(zip(p_names, params)))

    spec = lambda s: jax.ShapeDtypeStruct(s, jnp.float32)  # noqa: E731
    args = ([spec(s) for _, s in model.inputs], [spec(s) for _, s, _ in model.params])
    text = jax.jit(f).lower(*args).compile().as_text()
    comps = parse_hlo(text)
    entry = [c for c, (is_entry, _) in comps.items() if is_entry]
    if len(entry) != 1:
        raise RuntimeError(f"expected one ENTRY computation, found {entry}")
    kinds = collections.Counter()
    return count_xla(comps, entry[0], kinds), kinds


# --------------------------------------------------------------------------
# onnxruntime
# --------------------------------------------------------------------------

def measure_ort(model, workdir, verify, keep_dir=None):
    """Optimize the ONNX model with onnxruntime and count the saved model's nodes.

    With `verify`, also run the session on seeded inputs and return the
    output with the inputs and weights, for the JAX cross-check."""
    import onnx
    import onnxruntime as ort

    builder = OnnxBuilder(model, np.random.default_rng(0))
    m = builder.build()
    builder.inits.clear()  # the model holds its own copies
    onnx.checker.check_model(m)
    before = len(m.graph.node)
    data = m.SerializeToString()
    del m
    src = os.path.join(keep_dir or workdir, f"{model.name}.onnx")
    os.makedirs(os.path.dirname(src), exist_ok=True)
    with open(src, "wb") as fh:
        fh.write(data)

    out = os.path.join(workdir, f"{model.name}.opt.onnx")
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.optimized_model_filepath = out
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    so.add_session_config_entry("session.optimized_model_external_initializers_file_name",
                                f"{model.name}.opt.weights")
    so.add_session_config_entry("session.optimized_model_external_initializers_min_size_in_bytes",
                                "1024")
    sess = ort.InferenceSession(data, so, providers=["CPUExecutionProvider"])
    del data
    run = None
    if verify:
        rng = np.random.default_rng(1)
        feeds = {n: rng.standard_normal(s, dtype=np.float32) for n, s in model.inputs}
        run = (feeds, builder.arrays, sess.run(["output"], feeds)[0])
    del sess, builder

    opt = onnx.load(out, load_external_data=False)
    ops = collections.Counter(
        (f"{n.domain}." if n.domain not in ("", "ai.onnx") else "") + n.op_type
        for n in opt.graph.node)
    after = len(opt.graph.node)
    views = sum(c for op, c in ops.items() if op in VIEW_OPS)
    return {"before": before, "after": after, "compute": after - views, "ops": ops,
            "onnx": src, "run": run}


def verify_jax(model, run):
    """The JAX model on the ONNX model's weights and inputs gives ORT's output."""
    import jax

    feeds, arrays, expected = run
    ins = [feeds[n] for n, _ in model.inputs]
    ps = [arrays[n] for n, _, _ in model.params]
    in_names = [n for n, _ in model.inputs]
    p_names = [n for n, _, _ in model.params]
    got = np.asarray(jax.jit(lambda i, p: model.jax_fn(dict(zip(in_names, i)),
                                                      dict(zip(p_names, p))))(ins, ps))
    scale = float(np.max(np.abs(expected))) or 1.0
    err = float(np.max(np.abs(got - expected))) / scale
    if not err < 1e-3:
        raise RuntimeError(f"JAX and ORT outputs differ: max |diff| / max |ORT| = {err:.2e}")
    return err


def verify_opf(binary, model, onnx_path):
    """examples/peers/<name>.opf has the JAX/ONNX model's inputs, params and
    matmul/conv FLOPs (opfuse's ONNX import counted on the very ONNX file)."""
    def check(path):
        r = subprocess.run([binary, "check", path, "--format", "json"], cwd=REPO,
                           capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            raise RuntimeError(f"opfuse check {path}: exit {r.returncode}: {r.stderr[:300]}")
        return json.loads(r.stdout)

    opf = check(os.path.join("examples", "peers", f"{model.name}.opf"))
    onx = check(onnx_path)
    n_params = sum(int(np.prod(s)) for _, s, _ in model.params)
    inputs = [{"name": n, "type": "f32[" + ", ".join(map(str, s)) + "]"} for n, s in model.inputs]
    dense = lambda d: sum(d["classes"].get(c, {}).get("flops", 0)  # noqa: E731
                          for c in ("matmul", "conv"))
    problems = []
    if opf["params"] != n_params or opf["param_tensors"] != len(model.params):
        problems.append(f"params {opf['params']} in {opf['param_tensors']} tensors, "
                        f"want {n_params} in {len(model.params)}")
    if opf["inputs"] != inputs:
        problems.append(f"inputs {opf['inputs']}, want {inputs}")
    if dense(opf) != dense(onx):
        problems.append(f"matmul+conv FLOPs {dense(opf)}, ONNX has {dense(onx)}")
    if problems:
        raise RuntimeError("examples/peers/%s.opf: %s" % (model.name, "; ".join(problems)))
    return dense(opf)


# --------------------------------------------------------------------------
# opfuse
# --------------------------------------------------------------------------

def opfuse_has_opt(binary):
    if not os.path.exists(binary):
        return False
    r = subprocess.run([binary, "opt", "--help"], cwd=REPO, capture_output=True, text=True)
    return r.returncode == 0


def measure_opfuse(binary, model):
    path = os.path.join("examples", "peers", f"{model.name}.opf")
    r = subprocess.run([binary, "opt", path, "--target", "cpu", "--emit", "kernels",
                        "--format", "json"], cwd=REPO, capture_output=True, text=True,
                       timeout=300)
    if r.returncode != 0:
        raise RuntimeError(f"exit {r.returncode}: {r.stderr.strip()[:300]}")
    d = json.loads(r.stdout)
    kernels = d["kernels"]
    total = sum(k.get("bytes", 0) or 0 for k in kernels) if all("bytes" in k for k in kernels) \
        else None
    return len(kernels), total, d.get("stats", {})


# --------------------------------------------------------------------------

def human_bytes(b):
    for unit, f in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if b >= f:
            return f"{b / f:.2f} {unit}"
    return f"{b} B"


def cpu_name():
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", help="comma-separated subset of: " +
                    ", ".join(f().name for f in MODELS))
    ap.add_argument("--opfuse", default=os.path.join(REPO, "target", "release", "opfuse"))
    ap.add_argument("--no-write", action="store_true", help="do not write RESULTS.md")
    ap.add_argument("--keep-onnx", metavar="DIR", help="also save the ONNX models in DIR")
    ap.add_argument("--skip-opt", action="store_true",
                    help="leave the opfuse columns n/a even when the binary has `opt`")
    ap.add_argument("--no-verify", action="store_true",
                    help="skip the cross-checks that JAX, ONNX and .opf are the same model")
    args = ap.parse_args()

    import jax
    import jaxlib
    import onnx
    import onnxruntime

    models = [f() for f in MODELS]
    if args.models:
        want = args.models.split(",")
        unknown = set(want) - {m.name for m in models}
        if unknown:
            ap.error(f"unknown models: {', '.join(sorted(unknown))}")
        models = [m for m in models if m.name in want]

    have_opt = not args.skip_opt and opfuse_has_opt(args.opfuse)
    have_check = os.path.exists(args.opfuse)
    rows, details, failures = [], [], []
    workdir = tempfile.mkdtemp(prefix="opfuse-peers-")

    def fail(row, det, what, e):
        msg = f"{type(e).__name__}: {e}"
        det.append(f"- {what}: failed: {msg}")
        failures.append(f"{row['model']}: {what}: {msg}")
        print(f"[peers] {row['model']}: {what} failed: {msg}", file=sys.stderr)

    try:
        for m in models:
            t0 = time.time()
            row = {"model": m.name, "xla": "error", "ort": "error", "ort_compute": "error",
                   "opfuse": "n/a", "opfuse_bytes": "n/a"}
            det = [f"### {m.name}: {m.title}", ""]
            try:
                n, kinds = measure_xla(m)
                row["xla"] = str(n)
                det.append("- XLA: " + ", ".join(f"{c} {k}" for k, c in sorted(kinds.items())))
            except Exception as e:  # noqa: BLE001
                fail(row, det, "XLA", e)
            ort_res = None
            try:
                ort_res = measure_ort(m, workdir, not args.no_verify, args.keep_onnx)
                row["ort"], row["ort_compute"] = str(ort_res["after"]), str(ort_res["compute"])
                det.append(f"- ORT: {ort_res['before']} ONNX nodes in, {ort_res['after']} after "
                           "optimization: " + ", ".join(f"{c} {k}" for k, c
                                                       in sorted(ort_res["ops"].items())))
            except Exception as e:  # noqa: BLE001
                fail(row, det, "ORT", e)
            if ort_res and ort_res["run"] is not None:
                try:
                    err = verify_jax(m, ort_res["run"])
                    det.append(f"- same model: the JAX function on the ONNX model's weights and "
                               f"inputs matches ORT's output (max |diff| / max |out| = {err:.1e})")
                except Exception as e:  # noqa: BLE001
                    fail(row, det, "JAX/ORT cross-check", e)
                ort_res["run"] = None
            if ort_res and have_check and not args.no_verify:
                try:
                    flops = verify_opf(args.opfuse, m, ort_res["onnx"])
                    det.append(f"- same model: `examples/peers/{m.name}.opf` has the same inputs, "
                               f"param count and matmul+conv FLOPs ({flops:,}) as the ONNX file, "
                               "per `opfuse check --format json` on both")
                except Exception as e:  # noqa: BLE001
                    fail(row, det, ".opf cross-check", e)
            for f in os.listdir(workdir):
                os.remove(os.path.join(workdir, f))
            if have_opt:
                try:
                    k, total, stats = measure_opfuse(args.opfuse, m)
                    row["opfuse"] = str(k)
                    row["opfuse_bytes"] = human_bytes(total) if total is not None else "n/a"
                    det.append(f"- opfuse: {k} kernels; stats {json.dumps(stats, sort_keys=True)}")
                except Exception as e:  # noqa: BLE001
                    row["opfuse"] = row["opfuse_bytes"] = "error"
                    fail(row, det, "opfuse opt", e)
            rows.append(row)
            details.append("\n".join(det))
            print(f"[peers] {m.name}: XLA {row['xla']}, ORT {row['ort']}, "
                  f"opfuse {row['opfuse']} ({time.time() - t0:.1f} s)", file=sys.stderr)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    table = ["| model | XLA kernels | ORT nodes after optimization | ORT nodes excl. views "
             "| opfuse kernels | opfuse est. HBM bytes |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        table.append(f"| {r['model']} | {r['xla']} | {r['ort']} | {r['ort_compute']} "
                     f"| {r['opfuse']} | {r['opfuse_bytes']} |")
    table = "\n".join(table)
    print(table)

    if not args.no_write:
        versions = (f"jax {jax.__version__}, jaxlib {jaxlib.__version__}, onnx "
                    f"{onnx.__version__}, onnxruntime {onnxruntime.__version__}, numpy "
                    f"{np.__version__}, Python {platform.python_version()}; CPU: {cpu_name()}")
        doc = [
            "# Peer measurement",
            "",
            "Written by `python3 tools/peers/peers.py` (see [README.md](README.md)); "
            "do not edit by hand. The models' opfuse sources are in "
            "[`examples/peers/`](../../examples/peers/).",
            "",
            f"Measured with {versions}.",
            "",
            table,
            "",
            "## What is counted",
            "",
            XLA_RULES,
            "",
            ORT_RULES,
            "",
            OPFUSE_RULES,
            "",
            "## Per model",
            "",
            "\n\n".join(details),
            "",
        ]
        with open(RESULTS, "w") as fh:
            fh.write("\n".join(doc))
        print(f"[peers] wrote {os.path.relpath(RESULTS, REPO)}", file=sys.stderr)
    if failures:
        print("[peers] failures:\n  " + "\n  ".join(failures), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
