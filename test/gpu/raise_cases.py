"""sparse-attn-raise-attention end to end on the GPU: every function of the
raise tests (test/Transforms/raise-attention.mlir and
raise-attention-frontends/: torch-mlir's and StableHLO's linalg forms of
attention) compiled by sparse-attn-to-ptx-pipeline with raise-attention=true,
run on the GPU, and compared with the original linalg form run on the CPU
here (run_cpu, no raising) on the same inputs.

Build here (where MLIR is), then run on the GPU machine:
  PYTHONPATH=build/python_packages:test/Python /usr/bin/python3 test/gpu/raise_cases.py build DIR [--chip sm_90a]
  PYTHONPATH=python-bindings python3 test/gpu/raise_cases.py run DIR

Tolerance: f32 results 2e-3 (the tensor-core / CUDA-core kernels round
differently from the CPU's f32 loops: TF32 is not used, but exp2 and the
online softmax's order differ), f16 / bf16 one ulp of the largest value.
"""

import json
import os
import sys

import numpy as np


def build(directory, chip):
    import sparse_attn  # noqa: PLC0415

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "Python"))
    import test_raise_attention as t  # noqa: PLC0415

    os.makedirs(directory, exist_ok=True)
    count = skipped = 0
    for n, case in enumerate(t.cases()):
        if t.not_raised(case["_text"], case["func"]):
            continue
        rng = np.random.default_rng(2000 + n)
        args = t.inputs(case["_sig"], rng)
        want = sparse_attn.run_cpu(case["_text"], case["func"], args)
        name = f"{n:02d}-{os.path.basename(case['file']).split('.')[0]}-{case['func']}"
        try:
            artifact = sparse_attn.compile_gpu(case["_text"], case["func"], chip=chip,
                                               options="raise-attention=true")
        except sparse_attn.MLIRError as error:
            # The pure-Python runtime's launch plans describe no host-side
            # reshapes or transposes (the frontends' layout changes around
            # the op): such functions compile to PTX but have no plan.
            print(f"[skipped] {name}: {str(error).splitlines()[-1].strip()}")
            skipped += 1
            continue
        path = os.path.join(directory, name)
        artifact.save(path)
        data = {f"arg{i}": a for i, a in enumerate(args)}
        data.update({f"want{i}": w for i, w in enumerate(want)})
        np.savez_compressed(os.path.join(path, "data.npz"), **data)
        with open(os.path.join(path, "case.json"), "w") as f:
            json.dump({"bf16_results": "xbf16>" in case["_results"],
                       "nargs": len(args), "nresults": len(want)}, f)
        count += 1
    print(f"{count} raised functions compiled for {chip} in {directory}, {skipped} without a "
          "launch plan")


def run(directory):
    import torch  # noqa: PLC0415

    from sparse_attn import runtime  # noqa: PLC0415

    failures = 0
    names = sorted(os.listdir(directory))
    for name in names:
        path = os.path.join(directory, name)
        with open(os.path.join(path, "case.json")) as f:
            meta = json.load(f)
        data = np.load(os.path.join(path, "data.npz"))
        fn = runtime.load(path)
        args = []
        for i, spec in enumerate(fn.inputs):
            t = torch.from_numpy(np.ascontiguousarray(data[f"arg{i}"])).cuda()
            args.append(t.to(getattr(torch, runtime._TORCH_DTYPES[spec["dtype"]])))
        got = fn(*args)
        if not isinstance(got, (list, tuple)):
            got = [got]
        ok = True
        for i in range(meta["nresults"]):
            w = data[f"want{i}"].astype(np.float64)
            g = got[i].float().cpu().numpy().astype(np.float64)
            if meta["bf16_results"]:
                tol = 2.0 ** -7 * max(1.0, np.abs(w).max())
            elif data[f"want{i}"].dtype == np.float16:
                tol = 2.0 ** -10 * max(1.0, np.abs(w).max())
            else:
                tol = 2e-3
            err = float(np.abs(w - g).max()) if w.shape == g.shape else float("inf")
            ok &= err <= tol
            print(f"[{'ok' if err <= tol else 'FAIL'}] {name} result {i}: max error {err:.3g} (tolerance {tol:.3g})")
        failures += not ok
    print(f"{len(names) - failures} of {len(names)} raised functions match the CPU linalg form")
    return 1 if failures else 0


if __name__ == "__main__":
    if sys.argv[1] == "build":
        chip = sys.argv[sys.argv.index("--chip") + 1] if "--chip" in sys.argv else "sm_90a"
        build(sys.argv[2], chip)
    else:
        sys.exit(run(sys.argv[2]))
