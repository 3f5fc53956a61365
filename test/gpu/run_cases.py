"""Runs the cases of test/gpu/build_cases.py on the GPU through the
pure-Python runtime and compares them with the float64 golden results.

Usage (on the GPU machine, repository root):
  PYTHONPATH=python-bindings python3 test/gpu/run_cases.py build/gpu-cases
(SPARSE_ATTN_GPU_JOBS=N processes at a time, default 8; 0 runs every case in
this process, as test/gpu/sanitize.sh does.)

Outputs are filled with NaN before the launches (an element no kernel
writes fails). Attention results (out, lse) with a reduced-precision
reference (ref, written by build_cases.py: the golden computation rounded
where torch rounds in the input precision) pass when max |gpu - golden| <=
2 x max |ref - golden| + 1e-3, the issue's rule. Other results: tolerance |gpu - golden| <= 1e-3 + r * (|golden| + max
|golden| of the row), r = 2^-7 for bf16, 2^-9 for f16, 1e-4 for f32
results (the kernels compute exp/log by polynomial approximations); the
-inf/NaN pattern and integer results must match exactly.
"""

import concurrent.futures
import json
import os
import pathlib
import subprocess
import sys
import time

import numpy as np
import torch

from sparse_attn import runtime

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "Python"))
from topk_check import topk_problem  # noqa: E402

TORCH = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16,
         "i32": torch.int32, "i1": torch.bool, "i64": torch.int64}
RELATIVE = {"f32": 1e-4, "f16": 2.0 ** -9, "bf16": 2.0 ** -7}


def compare(got, want, check, ref=None, data=None, j=None):
    if check["kind"] == "topk":
        return topk_problem(check["name"], got, data[f"scores{j}"], data[f"bound{j}"],
                            data[f"allowed{j}"], check["topk"], want)
    if check["kind"] == "exact":
        if got.shape != want.shape or not np.array_equal(got, want):
            bad = np.argwhere(got != want) if got.shape == want.shape else "shape"
            return f"{check['name']}: integer results differ at {bad[:5] if len(bad) else bad}"
        return None
    got = got.astype(np.float64)
    if got.shape != want.shape:
        return f"{check['name']}: shape {got.shape}, want {want.shape}"
    special = ~np.isfinite(want)
    if not np.array_equal(np.isnan(got), np.isnan(want)) or \
            not np.array_equal(got[special & ~np.isnan(want)], want[special & ~np.isnan(want)]):
        return f"{check['name']}: the non-finite pattern differs"
    finite = np.isfinite(want)
    if ref is not None:
        # The rule: |gpu - golden| <= 2 * |torch-precision - golden| + 1e-3.
        ref = ref.astype(np.float64)
        both = finite & np.isfinite(ref)
        bound = 2 * float(np.max(np.abs(ref - want)[both], initial=0.0)) + 1e-3
        err = np.where(finite, np.abs(np.where(finite, got, 0.0) - np.where(finite, want, 0.0)), 0.0)
        if np.any(err > bound):
            worst = np.unravel_index(np.argmax(err), err.shape)
            return (f"{check['name']}: |err| {err[worst]:.3g} > 2 x reduced-precision error + 1e-3 "
                    f"= {bound:.3g} at {tuple(int(i) for i in worst)}")
        return None
    g = np.where(finite, want, 0.0)
    row = np.max(np.abs(g), axis=-1, keepdims=True) if g.ndim else np.abs(g)
    tol = 1e-3 + RELATIVE[check["elt"]] * (np.abs(g) + row)
    err = np.where(finite, np.abs(np.where(finite, got, 0.0) - g), 0.0)
    if np.any(err > tol):
        worst = np.unravel_index(np.argmax(err - tol), err.shape)
        return (f"{check['name']}: |err| {err[worst]:.3g} > tol {tol[worst]:.3g} at "
                f"{tuple(int(i) for i in worst)} (got {got[worst]}, want {want[worst]})")
    return None


def main():
    root = pathlib.Path(sys.argv[1])
    if len(sys.argv) > 2:  # one case, in this process
        return run_one(root / sys.argv[2])
    cases = sorted(p for p in root.iterdir() if (p / "manifest.json").exists())
    props = torch.cuda.get_device_properties(0)
    print(f"device: {props.name}, torch {torch.__version__}, {len(cases)} cases", flush=True)
    failures = 0
    # One process per case (a faulting kernel poisons its CUDA context),
    # several at a time.
    jobs = int(os.environ.get("SPARSE_ATTN_GPU_JOBS", "8"))
    if jobs == 0:
        # Every case in this process, in order (under compute-sanitizer:
        # one start-up, and each report just before its case's verdict).
        failures = sum(run_one(case) for case in cases)
        print(f"{len(cases) - failures} of {len(cases)} GPU cases passed")
        return 1 if failures else 0

    def run(case):
        return case, subprocess.run([sys.executable, __file__, str(root), case.name],
                                    capture_output=True, text=True)

    with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        for case, result in pool.map(run, cases):
            sys.stdout.write(result.stdout)
            sys.stdout.flush()
            if result.returncode != 0:
                failures += 1
                if not result.stdout.strip():
                    print(f"[FAIL] {case.name}: {result.stderr.strip()[-400:]}")
    print(f"{len(cases) - failures} of {len(cases)} GPU cases passed")
    return 1 if failures else 0


def run_one(case):
    failures = 0
    for case in [case]:
        meta = json.loads((case / "meta.json").read_text())
        data = np.load(case / "data.npz")
        args = []
        for i, dtype in enumerate(meta["arg_dtypes"]):
            array = data[f"arg{i}"]
            args.append(torch.from_numpy(np.ascontiguousarray(array)).to("cuda").to(TORCH[dtype]))
        t0 = time.time()
        try:
            fn = runtime.load(str(case))
            results = fn(*args, fill_outputs=float("nan"))
            torch.cuda.synchronize()
            got = [r.float().cpu().numpy() if r.is_floating_point() else r.cpu().numpy()
                   for r in results]
            problems = [compare(got[check["result"]], data[f"want{j}"], check,
                                data[f"ref{j}"] if f"ref{j}" in data else None, data, j)
                        for j, check in enumerate(meta["checks"])]
            problems = [p for p in problems if p]
        except Exception as error:  # noqa: BLE001
            problems = [f"{type(error).__name__}: {error}"]
        status = "ok" if not problems else "FAIL"
        failures += bool(problems)
        print(f"[{status}] {case.name} ({time.time() - t0:.2f}s): {meta['case']}")
        for problem in problems:
            print(f"    {problem[:600]}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
