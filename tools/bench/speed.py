#!/usr/bin/env python3
"""Speed of `opfuse run` (the Cranelift JIT) against onnxruntime and XLA (issue 6, point 6).

For each model below and each thread count this script times
  * opfuse:      `opfuse run MODEL.onnx --threads T --bench K --format json`
                 (a subprocess per round; it prints compile_ms/median_ms/min_ms);
  * onnxruntime: an InferenceSession on the CPU execution provider,
                 ORT_ENABLE_ALL, intra_op_num_threads=T, inter_op_num_threads=1;
  * XLA:         jax.jit of the same function, run in a worker subprocess (XLA
                 reads its thread settings from XLA_FLAGS at start-up only);
on the same ONNX weights and the same inputs, alternating the three engines
round-robin so that drifts in machine load hit all of them alike, and prints
a markdown table with the ratios peer_time / opfuse_time (above 1: opfuse is
faster). For context it also measures numpy's streaming bandwidth and sgemm
GFLOP/s on this machine.

Usage (from the repository root):
    python3 tools/bench/speed.py [--models mlp,ln_chain,...] [--threads 1,2]
                                 [--runs 20] [--rounds N] [--opfuse PATH]
                                 [--write] [--keep-onnx DIR] [--no-pin]

Needs numpy, jax + jaxlib, onnx, onnxruntime; threadpoolctl is optional.
See tools/bench/README.md for what is measured and the caveats.
"""

import argparse
import datetime
import glob
import json
import math
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tools", "peers"))

import peers  # noqa: E402  (sets JAX_PLATFORMS=cpu; imports only numpy)
from peers import (ONES, POSITIVE, ZEROS, Model, OnnxBuilder,  # noqa: E402,F401
                   j_heads, j_layer_norm, j_merge, normal)

import numpy as np  # noqa: E402

RESULTS = os.path.join(HERE, "RESULTS.md")
DEFAULT_OPFUSE = os.path.join(REPO, "target", "release", "opfuse")
# XLA has no per-call thread count; for one thread the worker gets these flags
# (and, unless --no-pin, a CPU affinity of one core). See README.md.
XLA_FLAGS_1T = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
TOLERANCE = 1e-3      # max |diff| / max |ORT| for the output cross-checks
MARK = "@@"           # prefix of the XLA worker's protocol lines on stdout


def log(msg):
    print(f"[speed] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# Models. jax_fn and onnx_fn describe the same function; the weights are
# drawn once for the ONNX initializers and the XLA worker reads them back
# from the ONNX file. mlp, ln_chain and bert_attention are sized for this
# benchmark; resnet_block and gpt_decoder are peers.py's models as they are.
# --------------------------------------------------------------------------

def mlp_model():
    """x[64,1024] -> 1024x4096 + bias, GELU (erf), 4096x1024 + bias, residual."""
    M, H, F = 64, 1024, 4096

    def jf(i, p):
        import jax
        h = jax.nn.gelu(i["x"] @ p["w1"] + p["b1"], approximate=False)
        return h @ p["w2"] + p["b2"] + i["x"]

    def of(g):
        h = g.gelu_erf(g.linear("x", g.p["w1"], g.p["b1"]))
        return g.op("Add", g.linear(h, g.p["w2"], g.p["b2"]), "x")

    return Model("mlp", f"MLP: x[{M},{H}], {H}x{F} + bias, GELU (erf), {F}x{H} + bias, residual",
                 [("x", (M, H))],
                 [("w1", (H, F), normal()), ("b1", (F,), normal()),
                  ("w2", (F, H), normal()), ("b2", (H,), normal())], jf, of)


def ln_chain_model():
    """x[256,4096]: h = LayerNorm(x); tanh(h * scale + shift) * h (memory bound)."""
    M, H = 256, 4096

    def jf(i, p):
        import jax.numpy as jnp
        h = j_layer_norm(i["x"], p["gamma"], p["beta"], 1e-5)
        return jnp.tanh(h * p["scale"] + p["shift"]) * h

    def of(g):
        h = g.layer_norm("x", g.p["gamma"], g.p["beta"], 1e-5)
        t = g.op("Tanh", g.op("Add", g.op("Mul", h, g.p["scale"]), g.p["shift"]))
        return g.op("Mul", t, h)

    return Model("ln_chain", f"x[{M},{H}]: LayerNorm, * scale, + shift, tanh, * LayerNorm output",
                 [("x", (M, H))],
                 [("gamma", (H,), POSITIVE), ("beta", (H,), normal(0.1)),
                  ("scale", (H,), normal(1.0)), ("shift", (H,), normal(1.0))], jf, of)


def bert_attention_model(S=512):
    """peers.py's BERT-base attention block (B=1, H=768, 12 heads) at sequence S."""
    B, H, NH = 1, 768, 12
    HD = H // NH

    def jf(i, p):
        import jax
        x = i["x"]
        q = j_heads(x @ p["wq"] + p["bq"], B, S, NH, HD, (0, 2, 1, 3))
        k = j_heads(x @ p["wk"] + p["bk"], B, S, NH, HD, (0, 2, 3, 1))
        v = j_heads(x @ p["wv"] + p["bv"], B, S, NH, HD, (0, 2, 1, 3))
        probs = jax.nn.softmax(q @ k * (1.0 / math.sqrt(HD)) + i["mask"], axis=-1)
        ctx = j_merge(probs @ v, B, S, H)
        return j_layer_norm(ctx @ p["wo"] + p["bo"] + x, p["norm_g"], p["norm_b"], 1e-12)

    def of(g):
        q = g.heads(g.linear("x", g.p["wq"], g.p["bq"]), [B, S, NH, HD], [0, 2, 1, 3])
        k = g.heads(g.linear("x", g.p["wk"], g.p["bk"]), [B, S, NH, HD], [0, 2, 3, 1])
        v = g.heads(g.linear("x", g.p["wv"], g.p["bv"]), [B, S, NH, HD], [0, 2, 1, 3])
        scores = g.op("Add", g.op("Div", g.op("MatMul", q, k), g.f(math.sqrt(HD))), "mask")
        ctx = g.merge(g.op("MatMul", g.op("Softmax", scores, axis=-1), v), [B, S, H])
        y = g.op("Add", g.linear(ctx, g.p["wo"], g.p["bo"]), "x")
        return g.layer_norm(y, g.p["norm_g"], g.p["norm_b"], 1e-12)

    params = []
    for n in "qkvo":
        params += [(f"w{n}", (H, H), normal()), (f"b{n}", (H,), normal())]
    params += [("norm_g", (H,), ONES), ("norm_b", (H,), ZEROS)]
    return Model("bert_attention", f"BERT-base attention block at S={S} (QKV with bias, "
                 "12 heads, scaled masked softmax, out proj, residual + LayerNorm)",
                 [("x", (B, S, H)), ("mask", (B, 1, 1, S))], params, jf, of)


MODELS = {
    "mlp": mlp_model,
    "ln_chain": ln_chain_model,
    "bert_attention": bert_attention_model,
    "resnet_block": peers.resnet_block_model,
    "gpt_decoder": peers.gpt_decoder_model,
}


def make_inputs(model, seed=1):
    """Seeded inputs: standard normal, except masks: a square [.., S, S] mask is
    causal (0 on and below the diagonal, -1e9 above), any other mask is 0."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for name, shape in model.inputs:
        if "mask" in name:
            if shape[-1] == shape[-2]:
                tri = np.triu(np.full(shape[-2:], -1e9, np.float32), k=1)
                feeds[name] = np.broadcast_to(tri, shape).astype(np.float32)
            else:
                feeds[name] = np.zeros(shape, np.float32)
        else:
            feeds[name] = rng.standard_normal(shape, dtype=np.float32)
    return feeds


def write_onnx(model, path):
    """Build the model with peers.OnnxBuilder (weights from seed 0) and save it."""
    import onnx
    m = OnnxBuilder(model, np.random.default_rng(0)).build()
    onnx.checker.check_model(m)
    onnx.save(m, path)
    return path


def onnx_params(model, path):
    """The model's params, in model.params order, read from the ONNX initializers."""
    import onnx
    from onnx import numpy_helper
    inits = {t.name: t for t in onnx.load(path).graph.initializer}
    return [numpy_helper.to_array(inits[name]) for name, _, _ in model.params]


def rel_error(got, ref):
    """max |got - ref| / max |ref| (inf on a shape mismatch or NaN)."""
    got, ref = np.asarray(got, np.float32), np.asarray(ref, np.float32)
    if got.size != ref.size:
        return math.inf
    err = float(np.max(np.abs(got.reshape(ref.shape) - ref))) / (float(np.max(np.abs(ref))) or 1.0)
    return err if math.isfinite(err) else math.inf


# --------------------------------------------------------------------------
# Engines. Each one is started once per (model, threads), then asked for
# `round(k)` several times, round-robin with the others. A round returns
# (median_ms, min_ms) of its k runs.
# --------------------------------------------------------------------------

class EngineError(Exception):
    pass


class OpfuseEngine:
    """`opfuse run --bench k` as a subprocess per round. Its compile time is
    the median over rounds of the binary's `compile_ms` (parse, optimize, JIT)."""

    name = "opfuse"

    def __init__(self, binary, onnx_path, input_files, threads, workdir, gemm="jit"):
        self.binary, self.onnx_path, self.threads, self.gemm = binary, onnx_path, threads, gemm
        self.input_files, self.workdir = input_files, workdir
        self.compile_ms, self.output = [], None

    def start(self):
        if not os.path.isfile(self.binary):
            raise EngineError(f"no binary at {self.binary} (cargo build --release)")

    def command(self, k, out_dir=None):
        cmd = [self.binary, "run", self.onnx_path, "--threads", str(self.threads),
               "--bench", str(k), "--format", "json", "--gemm", self.gemm]
        for name, path in self.input_files.items():
            cmd += ["--input", f"{name}={path}"]
        if out_dir:
            cmd += ["--out", out_dir]
        return cmd

    def round(self, k):
        out_dir = None
        if self.output is None:  # the first round also writes the output for the check
            out_dir = os.path.join(self.workdir, f"opfuse-out-{self.threads}")
            os.makedirs(out_dir, exist_ok=True)
        cmd = self.command(k, out_dir)
        try:
            r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=1800)
        except subprocess.TimeoutExpired:
            raise EngineError("timed out after 1800 s") from None
        if r.returncode != 0:
            text = (r.stderr.strip() or r.stdout.strip())[:600]
            raise EngineError(f"exit {r.returncode}: {text}")
        d = parse_json_object(r.stdout)
        if d is None or "median_ms" not in d:
            raise EngineError(f"no JSON with median_ms on stdout: {r.stdout.strip()[:300]!r}")
        self.compile_ms.append(float(d["compile_ms"]))
        if out_dir:
            files = sorted(glob.glob(os.path.join(out_dir, "*.npy")))
            self.output = np.load(files[0]) if files else False
        return float(d["median_ms"]), float(d["min_ms"])

    def compile_time(self):
        return statistics.median(self.compile_ms) if self.compile_ms else None

    def close(self):
        pass


def upper_median(times):
    """The median as `opfuse run --bench` takes it: sorted(times)[len // 2]."""
    return sorted(times)[len(times) // 2]


def parse_json_object(text):
    """The JSON object in `text` (the whole of it, else its outermost {...})."""
    for candidate in (text, text[text.find("{"):text.rfind("}") + 1]):
        try:
            d = json.loads(candidate)
            if isinstance(d, dict):
                return d
        except ValueError:
            pass
    return None


class OrtEngine:
    """onnxruntime in this process: ORT_ENABLE_ALL, CPU EP, intra_op=T, inter_op=1."""

    name = "ort"

    def __init__(self, onnx_path, feeds, threads, warmup):
        self.onnx_path, self.feeds, self.threads, self.warmup = onnx_path, feeds, threads, warmup
        self.session, self.output, self.create_ms = None, None, None

    def start(self):
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.intra_op_num_threads = self.threads
        so.inter_op_num_threads = 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.log_severity_level = 3
        t0 = time.perf_counter()
        self.session = ort.InferenceSession(self.onnx_path, so, providers=["CPUExecutionProvider"])
        self.create_ms = (time.perf_counter() - t0) * 1e3
        self.output = self.session.run(None, self.feeds)[0]
        for _ in range(self.warmup):
            self.session.run(None, self.feeds)

    def round(self, k):
        times = []
        for _ in range(k):
            t0 = time.perf_counter()
            self.session.run(None, self.feeds)
            times.append((time.perf_counter() - t0) * 1e3)
        return upper_median(times), min(times)

    def compile_time(self):
        return self.create_ms

    def close(self):
        self.session = None


class XlaEngine:
    """jax.jit in a worker subprocess (`speed.py --xla-worker`), which compiles
    once (timed: trace + lower + XLA compile), warms up, then answers
    `run K` lines with the K run times."""

    name = "xla"

    def __init__(self, model_name, onnx_path, inputs_npz, threads, warmup, workdir, pin):
        self.model_name, self.onnx_path, self.inputs_npz = model_name, onnx_path, inputs_npz
        self.threads, self.warmup, self.workdir, self.pin = threads, warmup, workdir, pin
        self.proc, self.output, self.compile_ms = None, None, None
        self.stderr_path = os.path.join(workdir, f"xla-{model_name}-{threads}.stderr")
        self.out_path = os.path.join(workdir, f"xla-{model_name}-{threads}.npy")

    def env(self):
        env = dict(os.environ, JAX_PLATFORMS="cpu")
        if self.threads == 1:
            env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " " + XLA_FLAGS_1T).strip()
        return env

    def start(self):
        cmd = [sys.executable, os.path.abspath(__file__), "--xla-worker", self.model_name,
               "--worker-onnx", self.onnx_path, "--worker-inputs", self.inputs_npz,
               "--worker-out", self.out_path, "--worker-warmup", str(self.warmup)]
        if self.pin:
            cmd += ["--worker-cpus", str(self.threads)]
        self.stderr = open(self.stderr_path, "w")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.stderr, text=True, env=self.env(), cwd=REPO)
        reply = self.receive()
        self.compile_ms = reply["compile_ms"]
        self.output = np.load(self.out_path)

    def receive(self):
        """The worker's next protocol line, as a dict (EngineError if it died)."""
        for line in self.proc.stdout:
            if line.startswith(MARK):
                reply = json.loads(line[len(MARK):])
                if "error" in reply:
                    raise EngineError(reply["error"])
                return reply
        self.proc.wait()
        self.stderr.flush()
        with open(self.stderr_path) as fh:
            tail = fh.read().strip()[-600:]
        raise EngineError(f"XLA worker exited with {self.proc.returncode}: {tail}")

    def round(self, k):
        self.proc.stdin.write(f"run {k}\n")
        self.proc.stdin.flush()
        times = self.receive()["times_ms"]
        return upper_median(times), min(times)

    def compile_time(self):
        return self.compile_ms

    def close(self):
        if self.proc and self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.stderr.close()


def xla_worker(args):
    """The XLA side, run in its own process: see XlaEngine."""
    def send(d):
        print(MARK + json.dumps(d), flush=True)

    try:
        if args.worker_cpus:
            cpus = sorted(os.sched_getaffinity(0))
            if args.worker_cpus < len(cpus):   # before jax starts its thread pools
                os.sched_setaffinity(0, cpus[:args.worker_cpus])
        import jax

        model = MODELS[args.xla_worker]()
        in_names = [n for n, _ in model.inputs]
        p_names = [n for n, _, _ in model.params]
        feeds = np.load(args.worker_inputs)
        ins = [jax.device_put(feeds[n]) for n in in_names]
        ps = [jax.device_put(a) for a in onnx_params(model, args.worker_onnx)]

        def f(inputs, params):
            return model.jax_fn(dict(zip(in_names, inputs)), dict(zip(p_names, params)))

        t0 = time.perf_counter()
        compiled = jax.jit(f).lower(ins, ps).compile()
        compile_ms = (time.perf_counter() - t0) * 1e3
        np.save(args.worker_out, np.asarray(compiled(ins, ps)))
        for _ in range(args.worker_warmup):
            compiled(ins, ps).block_until_ready()
        send({"compile_ms": compile_ms})
    except Exception as e:  # noqa: BLE001
        send({"error": f"{type(e).__name__}: {e}"})
        return
    for line in sys.stdin:
        cmd = line.split()
        if not cmd or cmd[0] == "quit":
            break
        times = []
        for _ in range(int(cmd[1])):
            t0 = time.perf_counter()
            compiled(ins, ps).block_until_ready()
            times.append((time.perf_counter() - t0) * 1e3)
        send({"times_ms": times})


# --------------------------------------------------------------------------
# One model at one thread count
# --------------------------------------------------------------------------

class Prepared:
    """A model written out for the engines: ONNX file, inputs (.npz for XLA,
    one .npy per input for opfuse) in its own temp subdirectory."""

    def __init__(self, model, workdir, keep_onnx=None):
        self.model = model
        self.dir = os.path.join(workdir, model.name)
        os.makedirs(self.dir, exist_ok=True)
        self.onnx = write_onnx(model, os.path.join(self.dir, f"{model.name}.onnx"))
        if keep_onnx:
            os.makedirs(keep_onnx, exist_ok=True)
            shutil.copy(self.onnx, keep_onnx)
        self.feeds = make_inputs(model)
        self.inputs_npz = os.path.join(self.dir, "inputs.npz")
        np.savez(self.inputs_npz, **self.feeds)
        self.input_files = {}
        for name, value in self.feeds.items():
            self.input_files[name] = os.path.join(self.dir, f"{name}.npy")
            np.save(self.input_files[name], value)


def split_runs(runs, rounds):
    """(rounds, runs per round): by default rounds of at least 5 runs, at most 3
    rounds, so that a round's median is not its cold first run."""
    if rounds is None:
        rounds = max(1, min(3, runs // 5))
    rounds = max(1, min(rounds, runs))
    return rounds, math.ceil(runs / rounds)


def bench(prep, threads, args):
    """Time the three engines on one model at one thread count. Returns a row:
    per engine (median_ms, min_ms, compile_ms) or an error string, plus the
    output cross-checks against onnxruntime."""
    engines = [
        OpfuseEngine(args.opfuse, prep.onnx, prep.input_files, threads, prep.dir, args.gemm),
        OrtEngine(prep.onnx, prep.feeds, threads, args.warmup),
        XlaEngine(prep.model.name, prep.onnx, prep.inputs_npz, threads, args.warmup, prep.dir,
                  not args.no_pin),
    ]
    errors, rounds_of = {}, {e.name: [] for e in engines}
    n_rounds, k = split_runs(args.runs, args.rounds)
    try:
        for e in engines:
            try:
                e.start()
            except Exception as exc:  # noqa: BLE001
                errors[e.name] = describe(exc)
        for _ in range(n_rounds):
            for e in engines:
                if e.name in errors:
                    continue
                try:
                    rounds_of[e.name].append(e.round(k))
                except Exception as exc:  # noqa: BLE001
                    errors[e.name] = describe(exc)
                time.sleep(0.05)  # let the previous engine's threads go idle
    finally:
        for e in engines:
            e.close()

    row = {"model": prep.model.name, "threads": threads, "errors": errors, "checks": {},
           "rounds": n_rounds, "per_round": k}
    for e in engines:
        rs = rounds_of[e.name]
        if e.name in errors or not rs:
            row[e.name] = None
            continue
        row[e.name] = {"median_ms": statistics.median(m for m, _ in rs),
                       "min_ms": min(mn for _, mn in rs),
                       "compile_ms": e.compile_time()}
    ort_out = engines[1].output
    if ort_out is not None:
        for e in (engines[0], engines[2]):
            if e.output is False:
                row["checks"][e.name] = "no output file"
            elif e.output is not None:
                row["checks"][e.name] = rel_error(e.output, ort_out)
    return row


def describe(exc):
    return str(exc) if isinstance(exc, EngineError) else f"{type(exc).__name__}: {exc}"


# --------------------------------------------------------------------------
# Machine context: streaming bandwidth and sgemm
# --------------------------------------------------------------------------

def bandwidth(mb=256, reps=5):
    """numpy's single-threaded streaming bandwidth over `mb` MB arrays, in GB/s,
    counting bytes read + written (no write-allocate): best of `reps`."""
    n = mb * (1 << 20) // 4
    a = np.ones(n, np.float32)
    b = np.empty_like(a)
    c = np.empty_like(a)
    np.copyto(b, a)
    np.add(a, b, out=c)

    def best(fn):
        ts = []
        for _ in range(reps):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        return min(ts)

    copy_s = best(lambda: np.copyto(b, a))
    add_s = best(lambda: np.add(a, b, out=c))
    return {"copy_gbs": 2 * a.nbytes / copy_s / 1e9, "add_gbs": 3 * a.nbytes / add_s / 1e9,
            "mb": mb}


def sgemm_gflops(n=1024, reps=10):
    """numpy float32 n x n x n matmul GFLOP/s (median of `reps`) with the BLAS
    thread count this process has."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    c = np.empty((n, n), np.float32)
    for _ in range(2):
        np.matmul(a, b, out=c)
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        np.matmul(a, b, out=c)
        ts.append(time.perf_counter() - t0)
    return 2 * n ** 3 / statistics.median(ts) / 1e9


def sgemm_at(threads, n=1024):
    """sgemm GFLOP/s with `threads` BLAS threads: threadpoolctl when installed,
    else a subprocess with OPENBLAS/OMP/MKL_NUM_THREADS set."""
    try:
        from threadpoolctl import threadpool_limits
        with threadpool_limits(limits=threads, user_api="blas"):
            return sgemm_gflops(n), "threadpoolctl"
    except ImportError:
        pass
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads))
    r = subprocess.run([sys.executable, os.path.abspath(__file__), "--sgemm-worker", str(n)],
                       capture_output=True, text=True, env=env, timeout=600)
    if r.returncode != 0:
        raise RuntimeError(r.stderr.strip()[-300:])
    return float(r.stdout.strip().splitlines()[-1]), "env"


def blas_name():
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:  # noqa: BLE001
        return "unknown BLAS"


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------

def fmt_ms(v):
    if v is None:
        return "n/a"
    return f"{v:.3f}" if v < 10 else f"{v:.2f}" if v < 100 else f"{v:.1f}"


def fmt_ratio(peer, ours):
    if not peer or not ours:
        return "n/a"
    return f"{peer['median_ms'] / ours['median_ms']:.2f}x"


def table(rows):
    lines = ["| model | threads | opfuse median ms | ORT median ms | XLA median ms | ORT/opfuse "
             "| XLA/opfuse | opfuse compile ms | XLA compile ms |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        med = lambda e: fmt_ms(r[e]["median_ms"]) if r[e] else "n/a"  # noqa: E731
        comp = lambda e: fmt_ms(r[e]["compile_ms"]) if r[e] else "n/a"  # noqa: E731
        lines.append(f"| {r['model']} | {r['threads']} | {med('opfuse')} | {med('ort')} "
                     f"| {med('xla')} | {fmt_ratio(r['ort'], r['opfuse'])} "
                     f"| {fmt_ratio(r['xla'], r['opfuse'])} | {comp('opfuse')} "
                     f"| {comp('xla')} |")
    return "\n".join(lines)


def details(rows):
    """Per row: min times, ORT session creation, output checks, errors."""
    out = []
    for r in rows:
        parts = []
        mins = [f"{e} {fmt_ms(r[e]['min_ms'])}" for e in ("opfuse", "ort", "xla") if r[e]]
        if mins:
            parts.append("min ms: " + ", ".join(mins))
        if r["ort"]:
            parts.append(f"ORT session creation {fmt_ms(r['ort']['compile_ms'])} ms")
        for e, err in r["checks"].items():
            if isinstance(err, str):
                parts.append(f"{e} output: {err}")
            else:
                verdict = "matches ORT" if err < TOLERANCE else "DIFFERS from ORT"
                parts.append(f"{e} output {verdict} (max|diff|/max|ORT| = {err:.1e})")
        for e, msg in r["errors"].items():
            parts.append(f"{e}: n/a: {' '.join(msg.split())[:400]}")
        out.append(f"- {r['model']}, {r['threads']} thread(s), {r['rounds']} round(s) of "
                   f"{r['per_round']} runs: " + "; ".join(parts))
    return "\n".join(out)


def context_lines(bw, sgemm):
    lines = []
    if bw:
        lines.append(f"- streaming bandwidth (numpy, 1 thread, {bw['mb']} MB arrays, read+write "
                     f"bytes): copy {bw['copy_gbs']:.1f} GB/s, a+b {bw['add_gbs']:.1f} GB/s")
    for t, (gflops, how) in sgemm.items():
        if gflops is None:
            lines.append(f"- numpy sgemm 1024, {t} thread(s): failed: {how}")
        else:
            lines.append(f"- numpy sgemm 1024 ({blas_name()}, {t} thread(s), set via {how}): "
                         f"{gflops:.1f} GFLOP/s")
    return "\n".join(lines)


def cpu_name():
    return peers.cpu_name()


def versions():
    import jax
    import jaxlib
    import onnx
    import onnxruntime
    return (f"jax {jax.__version__}, jaxlib {jaxlib.__version__}, onnx {onnx.__version__}, "
            f"onnxruntime {onnxruntime.__version__}, numpy {np.__version__}, "
            f"Python {platform.python_version()}")


def opfuse_version(binary):
    try:
        r = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"],
                           capture_output=True, text=True)
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--", "crates"],
                               capture_output=True, text=True).stdout.strip()
        commit = r.stdout.strip() + (" + uncommitted changes" if dirty else "")
    except OSError:
        commit = "?"
    stamp = (datetime.datetime.fromtimestamp(os.path.getmtime(binary)).strftime("%Y-%m-%d %H:%M")
             if os.path.exists(binary) else "missing")
    return f"{os.path.relpath(binary, REPO)} (built {stamp}) at commit {commit}"


def write_results(args, text):
    doc = [
        "# opfuse run against onnxruntime and XLA",
        "",
        "Written by `python3 tools/bench/speed.py --write` (see [README.md](README.md)); "
        "do not edit by hand.",
        "",
        f"- date: {datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}",
        f"- CPU: {cpu_name()}, {os.cpu_count()} logical CPUs "
        f"({len(os.sched_getaffinity(0))} usable)",
        f"- packages: {versions()}",
        f"- opfuse: {opfuse_version(args.opfuse)}",
        f"- command: `python3 {' '.join(shlex.quote(a) for a in sys.argv)}`",
        "",
        "Ratios are peer time / opfuse time: above 1, opfuse is faster. Times are the "
        "median over rounds of each round's median run time.",
        "",
        text,
        "",
    ]
    path = RESULTS if args.gemm == "jit" else os.path.join(HERE, "RESULTS_library.md")
    with open(path, "w") as fh:
        fh.write("\n".join(doc))
    log(f"wrote {os.path.relpath(path, REPO)}")


# --------------------------------------------------------------------------

def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default=",".join(MODELS),
                    help="comma-separated subset of: " + ", ".join(MODELS))
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    ap.add_argument("--runs", type=int, default=20, help="timed runs per engine")
    ap.add_argument("--rounds", type=int,
                    help="round-robin rounds the runs are split into (default: runs // 5, "
                    "clamped to 1..3)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed runs for ORT and XLA")
    ap.add_argument("--opfuse", default=DEFAULT_OPFUSE, help="the opfuse binary")
    ap.add_argument("--gemm", choices=["jit", "library"], default="jit",
                    help="opfuse's matrix products: its JIT micro-kernel or the matrixmultiply crate")
    ap.add_argument("--write", action="store_true",
                    help="write tools/bench/RESULTS.md (RESULTS_library.md with --gemm library)")
    ap.add_argument("--keep-onnx", metavar="DIR", help="also save the ONNX models in DIR")
    ap.add_argument("--no-pin", action="store_true",
                    help="do not restrict the XLA worker's CPU affinity to T cores")
    ap.add_argument("--no-context", action="store_true",
                    help="skip the bandwidth and sgemm measurements")
    # internal: the worker processes
    ap.add_argument("--xla-worker", metavar="MODEL", help=argparse.SUPPRESS)
    ap.add_argument("--worker-onnx", help=argparse.SUPPRESS)
    ap.add_argument("--worker-inputs", help=argparse.SUPPRESS)
    ap.add_argument("--worker-out", help=argparse.SUPPRESS)
    ap.add_argument("--worker-warmup", type=int, default=3, help=argparse.SUPPRESS)
    ap.add_argument("--worker-cpus", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--sgemm-worker", type=int, metavar="N", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.xla_worker or args.sgemm_worker:
        return args
    args.model_list = [m for m in args.models.split(",") if m]
    unknown = set(args.model_list) - set(MODELS)
    if unknown:
        ap.error(f"unknown models: {', '.join(sorted(unknown))} (known: {', '.join(MODELS)})")
    try:
        args.thread_list = [int(t) for t in args.threads.split(",") if t]
    except ValueError:
        ap.error("--threads takes comma-separated integers")
    if not args.thread_list or min(args.thread_list) < 1 or args.runs < 1:
        ap.error("--threads and --runs must be positive")
    args.opfuse = os.path.abspath(args.opfuse)
    return args


def main():
    args = parse_args()
    if args.xla_worker:
        return xla_worker(args)
    if args.sgemm_worker:
        print(sgemm_gflops(args.sgemm_worker))
        return None

    bw, sgemm = None, {}
    if not args.no_context:
        log("measuring streaming bandwidth and sgemm")
        bw = bandwidth()
        for t in args.thread_list:
            try:
                sgemm[t] = sgemm_at(t)
            except Exception as e:  # noqa: BLE001
                sgemm[t] = (None, describe(e))

    rows = []
    workdir = tempfile.mkdtemp(prefix="opfuse-speed-")
    try:
        for name in args.model_list:
            model = MODELS[name]()
            t0 = time.time()
            prep = Prepared(model, workdir, args.keep_onnx)
            for t in args.thread_list:
                row = bench(prep, t, args)
                rows.append(row)
                log(f"{name} T={t}: opfuse {fmt_ms(row['opfuse'] and row['opfuse']['median_ms'])}"
                    f", ORT {fmt_ms(row['ort'] and row['ort']['median_ms'])}"
                    f", XLA {fmt_ms(row['xla'] and row['xla']['median_ms'])} ms"
                    + (f" (n/a: {', '.join(row['errors'])})" if row["errors"] else ""))
            log(f"{name}: {time.time() - t0:.1f} s")
            shutil.rmtree(prep.dir, ignore_errors=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    text = "\n\n".join(s for s in (table(rows), context_lines(bw, sgemm),
                                   "Details:\n\n" + details(rows)) if s)
    print(text)
    if args.write:
        write_results(args, text)
    return None


if __name__ == "__main__":
    main()
