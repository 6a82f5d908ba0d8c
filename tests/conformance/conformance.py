#!/usr/bin/env python3
"""ONNX backend node tests against opfuse's reference interpreter.

Generates the ONNX node conformance cases (gen_onnx_node_tests.py, a copy of
../shared/tools/gen_onnx_node_tests.py), keeps those whose every node maps to a
catalog entry (by `opfuse ops --format json`), converts their protobuf test
data to .npy, runs `opfuse run MODEL --reference --input NAME=FILE.npy ...` and
compares each output with the expected one (the tolerances of ONNX's own
backend test runner: rtol 1e-3, atol 1e-7).

    conformance.py [--opfuse BIN] [--work DIR] [--update] [--jobs N]

Exit status 1 when a case listed in expected_pass.txt fails (a regression).
--update rewrites expected_pass.txt, REPORT.md and the README's pass table.
Installs onnx and numpy with pip when they are missing.
"""
import argparse
import concurrent.futures
import json
import os
import re
import subprocess
import sys
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
RTOL, ATOL = 1e-3, 1e-7
MIN_OPSET = 7  # opfuse_onnx::MIN_OPSET


def ensure_packages():
    try:
        import numpy  # noqa: F401
        import onnx  # noqa: F401
    except ImportError:
        subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", "onnx", "numpy"])


def catalog_mappings(opfuse):
    """ONNX op type -> list of (first opset, last opset) the catalog maps."""
    out = subprocess.run([opfuse, "ops", "--format", "json"], check=True, capture_output=True, text=True).stdout
    mappings = defaultdict(list)
    for op in json.loads(out):
        for m in op["onnx_mappings"]:
            mappings[m["op"]].append(tuple(m["opsets"]))
    return mappings


def opset_of(model):
    for imp in model.opset_import:
        if imp.domain in ("", "ai.onnx"):
            return imp.version
    return 0


def unmapped_ops(model, mappings):
    """The node op types of `model` that the catalog does not map, if any."""
    version = opset_of(model)
    if version < MIN_OPSET:
        return [f"opset {version}"]
    missing = []
    for node in model.graph.node:
        ranges = mappings.get(node.op_type, []) if node.domain in ("", "ai.onnx") else []
        if not any(lo <= version <= hi for lo, hi in ranges):
            missing.append(node.op_type)
    return missing


# The ONNX element types opfuse has a dtype for (crates/onnx/src/tensor.rs).
SUPPORTED_TYPES = {
    "FLOAT", "DOUBLE", "FLOAT16", "BFLOAT16", "FLOAT8E4M3FN", "FLOAT8E5M2",
    "INT8", "UINT8", "INT16", "UINT16", "INT32", "UINT32", "INT64", "UINT64", "BOOL",
}


def unsupported_types(model):
    """Element types of the model's values, or of Cast targets, that opfuse lacks."""
    from onnx import TensorProto

    found = set()
    graph = model.graph
    for info in list(graph.input) + list(graph.output) + list(graph.value_info):
        kind = info.type.WhichOneof("value")
        if kind != "tensor_type":
            found.add(kind or "untyped")
            continue
        found.add(TensorProto.DataType.Name(info.type.tensor_type.elem_type))
    for init in graph.initializer:
        found.add(TensorProto.DataType.Name(init.data_type))
    for node in graph.node:
        for attr in node.attribute:
            if attr.name in ("to", "output_dtype") and attr.i:
                found.add(TensorProto.DataType.Name(attr.i))
    return sorted(found - SUPPORTED_TYPES)


def convert(case_dir):
    """Writes the first data set as .npy; returns (inputs, outputs) as [(name, path)]."""
    import onnx
    from onnx import numpy_helper
    import numpy as np

    model = onnx.load(os.path.join(case_dir, "model.onnx"))
    data = os.path.join(case_dir, "test_data_set_0")
    sides = []
    for side, infos in (("input", model.graph.input), ("output", model.graph.output)):
        pairs = []
        for j, info in enumerate(infos):
            pb = os.path.join(data, f"{side}_{j}.pb")
            if not os.path.exists(pb):
                continue
            tensor = onnx.TensorProto()
            with open(pb, "rb") as f:
                tensor.ParseFromString(f.read())
            path = os.path.join(data, f"{side}_{j}.npy")
            array = numpy_helper.to_array(tensor)
            # bf16 and fp8 (ml_dtypes) have no .npy dtype; f32 holds their values exactly.
            if array.dtype.name.startswith(("bfloat16", "float8")):
                array = array.astype(np.float32)
            np.save(path, array)
            pairs.append((info.name, path))
        sides.append(pairs)
    return sides[0], sides[1]


def run_case(opfuse, case_dir, engine="reference"):
    """Returns (passed, reason)."""
    try:
        return compare_case(opfuse, case_dir, engine)
    except Exception as e:  # the harness itself must not stop the run
        return False, f"harness: {type(e).__name__}: {e}"


def compare_case(opfuse, case_dir, engine="reference"):
    import numpy as np

    try:
        inputs, outputs = convert(case_dir)
    except Exception as e:  # data a numpy array cannot hold (sequences, maps, strings)
        return False, f"test data not convertible: {type(e).__name__}: {e}"
    out_dir = os.path.join(case_dir, "opfuse_out")
    cmd = [opfuse, "run", os.path.join(case_dir, "model.onnx"), "--out", out_dir]
    if engine == "reference":
        cmd.append("--reference")
    for name, path in inputs:
        cmd += ["--input", f"{name}={path}"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        lines = [l for l in proc.stderr.strip().splitlines() if l.strip()]
        reason = lines[0] if lines else f"exit code {proc.returncode}"
        notes = [l for l in lines if l.startswith("note:")]
        if notes:
            reason += f" ({notes[0]})"
        return False, reason.replace(case_dir + "/", "")[:300]
    for name, path in outputs:
        expected = np.load(path)
        got_path = os.path.join(out_dir, re.sub(r"[^A-Za-z0-9_.-]", "_", name) + ".npy")
        if not os.path.exists(got_path):
            return False, f"output {name} not written"
        got = np.load(got_path)
        if got.shape != expected.shape:
            return False, f"output {name}: shape {got.shape}, expected {expected.shape}"
        if expected.dtype.kind in "fc":
            if not np.allclose(got.astype(np.float64), expected.astype(np.float64), rtol=RTOL, atol=ATOL, equal_nan=True):
                err = np.nanmax(np.abs(got.astype(np.float64) - expected.astype(np.float64)))
                return False, f"output {name}: values differ (max abs error {err:.3g})"
        elif not np.array_equal(got, expected.astype(got.dtype) if expected.dtype != got.dtype else expected):
            return False, f"output {name}: values differ"
        if got.dtype != expected.dtype:
            return False, f"output {name}: dtype {got.dtype}, expected {expected.dtype}"
    return True, ""


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--opfuse", default=os.path.join(ROOT, "target", "debug", "opfuse"))
    parser.add_argument("--work", default=os.path.join(ROOT, "target", "onnx-node-tests"))
    parser.add_argument("--update", action="store_true")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument(
        "--engine",
        choices=["reference", "jit"],
        default="reference",
        help="run the cases through the interpreter (checked against expected_pass.txt) or the JIT (the figure only)",
    )
    args = parser.parse_args()

    ensure_packages()
    import onnx

    subprocess.run([sys.executable, os.path.join(HERE, "gen_onnx_node_tests.py"), args.work], check=True, capture_output=True)
    mappings = catalog_mappings(args.opfuse)
    cases = sorted(os.listdir(args.work))
    mapped, by_op, other_dtypes = [], {}, 0
    for case in cases:
        model = onnx.load(os.path.join(args.work, case, "model.onnx"))
        if unmapped_ops(model, mappings):
            continue
        if unsupported_types(model):
            other_dtypes += 1
            continue
        mapped.append(case)
        by_op[case] = sorted({n.op_type for n in model.graph.node})

    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        results = dict(zip(mapped, pool.map(lambda c: run_case(args.opfuse, os.path.join(args.work, c), args.engine), mapped)))

    passed = sorted(c for c, (ok, _) in results.items() if ok)
    failed = sorted((c, reason) for c, (ok, reason) in results.items() if not ok)
    share = 100.0 * len(passed) / max(1, len(mapped))
    print(
        f"{len(cases)} cases; {len(mapped) + other_dtypes} use only ops the catalog maps, {other_dtypes} of them "
        f"element types opfuse lacks; {len(mapped)} mapped, {len(passed)} passed ({share:.1f}%)"
    )
    for case, reason in failed:
        print(f"  FAIL {case}: {reason}")

    if args.engine == "jit":
        return 0
    expected_file = os.path.join(HERE, "expected_pass.txt")
    if args.update:
        write_outputs(expected_file, cases, mapped, other_dtypes, by_op, results, passed, failed, share)
        return 0
    expected = []
    if os.path.exists(expected_file):
        with open(expected_file) as f:
            expected = [l.strip() for l in f if l.strip() and not l.startswith("#")]
    regressions = [c for c in expected if c not in passed]
    if regressions:
        print(f"{len(regressions)} case(s) that passed before now fail:", ", ".join(regressions))
        return 1
    return 0


def write_outputs(expected_file, cases, mapped, other_dtypes, by_op, results, passed, failed, share):
    with open(expected_file, "w") as f:
        f.write("# ONNX node cases that pass; conformance.py fails when one of them stops passing.\n")
        f.write("# Regenerate with: python3 tests/conformance/conformance.py --update\n")
        f.writelines(c + "\n" for c in passed)
    table = defaultdict(lambda: [0, 0])
    for case in mapped:
        for op in by_op[case]:
            table[op][0] += 1
            table[op][1] += results[case][0]
    rows = ["| ONNX op | cases | passed |", "|---|---:|---:|"]
    rows += [f"| {op} | {n} | {p} |" for op, (n, p) in sorted(table.items())]
    summary = (
        f"{len(cases)} ONNX node cases; {len(mapped) + other_dtypes} use only ops the catalog maps, of which "
        f"{other_dtypes} need element types opfuse lacks (string, int4, fp4, FNUZ fp8, e8m0, sequences) and are "
        f"left out; of the other {len(mapped)}, **{len(passed)} pass ({share:.1f}%)**."
    )
    with open(os.path.join(HERE, "REPORT.md"), "w") as f:
        f.write("# ONNX conformance of the reference interpreter\n\n")
        f.write("Written by `python3 tests/conformance/conformance.py --update`.\n\n")
        f.write(summary + "\n\n## Failing cases\n\n")
        f.writelines(f"- `{c}`: {reason}\n" for c, reason in failed)
        f.write("\n## Per op\n\n" + "\n".join(rows) + "\n")
    readme = os.path.join(ROOT, "README.md")
    with open(readme) as f:
        text = f.read()
    block = (
        "<!-- conformance:begin -->\n" + summary + " Failing cases and their reasons: "
        "[tests/conformance/REPORT.md](tests/conformance/REPORT.md).\n\n<details><summary>Pass table per ONNX op</summary>\n\n"
        + "\n".join(rows) + "\n\n</details>\n<!-- conformance:end -->"
    )
    text = re.sub(r"<!-- conformance:begin -->.*<!-- conformance:end -->", lambda _: block, text, flags=re.S)
    with open(readme, "w") as f:
        f.write(text)


if __name__ == "__main__":
    sys.exit(main())
