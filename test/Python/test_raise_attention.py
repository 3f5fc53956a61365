# RUN: %python %s
"""sparse-attn-raise-attention keeps what the linalg form computes.

Every function of test/Transforms/raise-attention.mlir (hand-written forms)
and of test/Transforms/raise-attention-frontends/ (torch-mlir's linalg
for PyTorch's SDPA math path, StableHLO's linalg lowering of JAX
attention, upstream's linalg.softmax) runs through run_cpu as written and after the
pass, on the same random inputs; the results must agree within 1e-5 (f32;
one f16 ulp for f16 results). The raised form must hold
sparse_attn.attention and no softmax left, except where the lit file says
the function is not raised. Boolean mask arguments keep each query's
diagonal key, so no row is fully masked (the linalg form gives NaN there,
the op 0).
"""

import glob
import os
import re

import numpy as np

import common as c
import sparse_attn

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Transforms")
FILES = [os.path.join(ROOT, "raise-attention.mlir")] + sorted(
    glob.glob(os.path.join(ROOT, "raise-attention-frontends", "*.mlir")))

FUNC = re.compile(r"func\.func @(\w+)\((.*?)\)\s*->\s*([^{]*)\{", re.S)
ARG = re.compile(r"%\w+: tensor<([0-9x]+)x(f32|f16|bf16|i1)>")


def inputs(signature, rng):
    args = []
    for shape_text, elt in ARG.findall(signature):
        shape = [int(d) for d in shape_text.split("x")]
        if elt == "i1":
            mask = rng.random(shape) < 0.5
            rows, cols = shape[-2], shape[-1]
            idx = np.arange(min(rows, cols))
            mask[..., idx, idx + (cols - rows if cols > rows else 0)] = True
            args.append(mask)
        elif elt == "f16":
            args.append(rng.standard_normal(shape).astype(np.float16))
        elif elt == "bf16":
            args.append(c.bf16_round(rng.standard_normal(shape).astype(np.float32)))
        else:
            args.append(rng.standard_normal(shape).astype(np.float32))
    return args


def raise_attention(text):
    module = sparse_attn.parse(text)
    module.run_pipeline("builtin.module(func.func(sparse-attn-raise-attention))")
    return str(module)


def not_raised(text, name):
    """Functions the lit tests expect to stay as they are."""
    return name == "not_attention" or "Not raised" in text


def cases():
    for path in FILES:
        text = open(path).read()
        for name, signature, results in FUNC.findall(text):
            if "?" in signature:  # dynamic lengths: left unchanged (lit)
                continue
            yield dict(file=os.path.relpath(path, ROOT), func=name, _text=text, _sig=signature,
                       _results=results)


def run_case(case, rng):
    text, name = case["_text"], case["func"]
    raised = raise_attention(text)
    body = raised.split(f"func.func @{name}(")[1].split("\n  func.func @")[0]
    if not not_raised(text, name):
        if "sparse_attn.attention" not in body or "math.exp" in body or "linalg.softmax" in body:
            raise c.Mismatch(f"@{name} was not raised:\n{body}")
    args = inputs(case["_sig"], rng)
    want = sparse_attn.run_cpu(text, name, args)
    got = sparse_attn.run_cpu(raised, name, args)
    for w, g in zip(want, got):
        if w.shape != g.shape or w.dtype != g.dtype:
            raise c.Mismatch(f"@{name}: {g.dtype}{g.shape} against {w.dtype}{w.shape}")
        w64, g64 = w.astype(np.float64), g.astype(np.float64)
        if not np.all(np.isfinite(w64)):
            raise c.Mismatch(f"@{name}: the linalg form gave non-finite values")
        # f32: 1e-5; f16: one ulp; bf16 results (f32 arrays rounded to
        # bf16): one bf16 ulp.
        if "xbf16>" in case["_results"]:
            tol = 2.0 ** -7 * max(1.0, np.abs(w64).max())
        else:
            tol = 1e-5 if w.dtype == np.float32 else 2.0 ** -10 * max(1.0, np.abs(w64).max())
        err = np.abs(w64 - g64).max()
        if not err <= tol:
            raise c.Mismatch(f"@{name}: max error {err:.3g} > {tol:.3g}")


def describe_file(case):
    return {k: v for k, v in case.items() if not k.startswith("_")}


if __name__ == "__main__":
    c.exit_with(c.main(list(cases()), run_case, "raise-attention"))
