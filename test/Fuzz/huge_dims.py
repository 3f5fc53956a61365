#!/usr/bin/env python3
"""Every op with dims near and past 2^31, 2^32 and 2^63, through every pass.

Writes one module per (op, dim, value) to a file split with `// -----`, runs
`sparse-attn-opt --split-input-file` over it with each pass and pipeline, and
fails if any run ends in anything but success or a clean diagnostic: a
signal, an `LLVM ERROR`, a sanitizer report or an assertion, or a run past
its time limit (compile-time work must stay bounded whatever the shape says).

usage: huge_dims.py SPARSE_ATTN_OPT [WORKDIR]
"""

import os
import subprocess
import sys
import tempfile

# Near and past 2^31, 2^32 and 2^63 (the largest static dim MLIR accepts is
# 2^63 - 1: kDynamic is INT64_MIN).
VALUES = [2**31 - 1, 2**31, 2**32, 2**32 + 1, 2**62, 2**63 - 1]


def t(shape, elem):
    return "tensor<%sx%s>" % ("x".join(str(d) for d in shape), elem)


def attention(dims):
    b, h, sq, skv, d, dv = (dims.get(k, v) for k, v in
                            [("B", 1), ("H", 2), ("Sq", 128), ("Skv", 128), ("D", 64), ("Dv", 64)])
    q, k, v = t([b, h, sq, d], "f16"), t([b, h, skv, d], "f16"), t([b, h, skv, dv], "f16")
    o, l = t([b, h, sq, dv], "f16"), t([b, h, sq], "f32")
    return f"""func.func @f(%q: {q}, %k: {k}, %v: {v}) -> ({o}, {l}) {{
  %o, %l = sparse_attn.attention %q, %k, %v {{mask = #sparse_attn.causal}} : {q}, {k}, {v} -> {o}, {l}
  return %o, %l : {o}, {l}
}}"""


def block_sparse(dims):
    b, h, sq, skv, d, cap, bq = (dims.get(k, v) for k, v in
                                 [("B", 1), ("H", 2), ("Sq", 128), ("Skv", 128), ("D", 64), ("cap", 2),
                                  ("block", 64)])
    nq = -(-sq // bq)
    q, k, v = t([b, h, sq, d], "bf16"), t([b, h, skv, d], "bf16"), t([b, h, skv, d], "bf16")
    o, l = t([b, h, sq, d], "bf16"), t([b, h, sq], "f32")
    num, idx = t([1, h, nq], "i32"), t([1, h, nq, cap], "i32")
    return f"""func.func @f(%q: {q}, %k: {k}, %v: {v}, %n: {num}, %i: {idx}) -> ({o}, {l}) {{
  %o, %l = sparse_attn.block_sparse_attention %q, %k, %v, %n, %i {{block = [{bq}, {bq}], mask = #sparse_attn.causal}}
      : {q}, {k}, {v}, {num}, {idx} -> {o}, {l}
  return %o, %l : {o}, {l}
}}"""


def token_sparse(dims):
    b, h, sq, skv, d, n = (dims.get(k, v) for k, v in
                           [("B", 1), ("H", 2), ("Sq", 128), ("Skv", 128), ("D", 64), ("n", 16)])
    q, k, v = t([b, h, sq, d], "bf16"), t([b, 1, skv, d], "bf16"), t([b, 1, skv, d], "bf16")
    o, l, idx = t([b, h, sq, d], "bf16"), t([b, h, sq], "f32"), t([b, sq, n], "i32")
    return f"""func.func @f(%q: {q}, %k: {k}, %v: {v}, %i: {idx}) -> ({o}, {l}) {{
  %o, %l = sparse_attn.token_sparse_attention %q, %k, %v, %i : {q}, {k}, {v}, {idx} -> {o}, {l}
  return %o, %l : {o}, {l}
}}"""


def block_mask(dims):
    b, h, ql, kl, cap, bq = (dims.get(k, v) for k, v in
                             [("B", 1), ("H", 1), ("len", 256), ("kvlen", None), ("cap", 4), ("block", 64)])
    kl = kl or ql
    nq = -(-ql // bq)
    num, idx = t([b, h, nq], "i32"), t([b, h, nq, cap], "i32")
    return f"""func.func @f() -> ({num}, {idx}) {{
  %n, %i = sparse_attn.block_mask {{mask = #sparse_attn.causal, block = [{bq}, {bq}], q_len = {ql}, kv_len = {kl}}} : {num}, {idx}
  return %n, %i : {num}, {idx}
}}"""


def pool(dims):
    b, h, s, d, blk = (dims.get(k, v) for k, v in [("B", 1), ("H", 2), ("S", 256), ("D", 64), ("block", 64)])
    x, r = t([b, h, s, d], "bf16"), t([b, h, -(-s // blk), d], "f32")
    return f"""func.func @f(%x: {x}) -> {r} {{
  %p = sparse_attn.pool max %x {{block = {blk}}} : {x} -> {r}
  return %p : {r}
}}"""


def block_scores(dims):
    b, h, nq, nk, d = (dims.get(k, v) for k, v in [("B", 1), ("H", 2), ("NQ", 4), ("NK", 4), ("D", 64)])
    qp, kp, s = t([b, h, nq, d], "f32"), t([b, h, nk, d], "f32"), t([b, h, nq, nk], "f32")
    return f"""func.func @f(%q: {qp}, %k: {kp}) -> {s} {{
  %s = sparse_attn.block_scores %q, %k {{block = [64, 64]}} : {qp}, {kp} -> {s}
  return %s : {s}
}}"""


def select_topk(dims):
    b, h, nq, nk, cap, k = (dims.get(k, v) for k, v in
                            [("B", 1), ("H", 2), ("NQ", 4), ("NK", 8), ("cap", 4), ("k", 2)])
    s, num, idx = t([b, h, nq, nk], "f32"), t([b, h, nq], "i32"), t([b, h, nq, cap], "i32")
    return f"""func.func @f(%s: {s}) -> ({num}, {idx}) {{
  %n, %i = sparse_attn.select_topk %s {{k = {k}, sink = 1, local = 1}} : {s} -> {num}, {idx}
  return %n, %i : {num}, {idx}
}}"""


def lightning(dims):
    b, h, sq, skv, d, k = (dims.get(k, v) for k, v in
                           [("B", 1), ("H", 4), ("Sq", 128), ("Skv", 128), ("D", 64), ("topk", 16)])
    qi, ki, w, idx = t([b, h, sq, d], "bf16"), t([b, skv, d], "bf16"), t([b, sq, h], "f32"), t([b, sq, k], "i32")
    return f"""func.func @f(%q: {qi}, %k: {ki}, %w: {w}) -> {idx} {{
  %i = sparse_attn.lightning_indexer %q, %k, %w {{topk = {k}, mask = #sparse_attn.causal}} : {qi}, {ki}, {w} -> {idx}
  return %i : {idx}
}}"""


OPS = [
    (attention, ["B", "H", "Sq", "Skv", "D", "Dv"]),
    (block_sparse, ["B", "H", "Sq", "Skv", "D", "cap", "block"]),
    (token_sparse, ["B", "H", "Sq", "Skv", "D", "n"]),
    (block_mask, ["B", "H", "len", "kvlen", "cap", "block"]),
    (pool, ["B", "H", "S", "D", "block"]),
    (block_scores, ["B", "H", "NQ", "NK", "D"]),
    (select_topk, ["B", "H", "NQ", "NK", "cap", "k"]),
    (lightning, ["B", "H", "Sq", "Skv", "D", "topk"]),
]

# Attribute values (lengths, block sizes, k) are limited to 2^31 - 1 by the
# verifiers; past it they must be rejected cleanly, which is also tested.
PIPELINES = [
    "--canonicalize",
    "--convert-sparse-attn-to-linalg",
    "--sparse-attn-to-llvm-cpu-pipeline",
    "--sparse-attn-tile=chip=sm_90a",
    "--sparse-attn-to-ptx-pipeline=chip=sm_80",
    "--sparse-attn-to-ptx-pipeline=chip=sm_90a",
]

BAD = ("LLVM ERROR", "Assertion", "Sanitizer", "runtime error:", "Stack dump", "PLEASE submit")


def cases():
    for build, names in OPS:
        for name in names:
            for value in VALUES:
                yield "%s %s=%d" % (build.__name__, name, value), build({name: value})


def main():
    opt = sys.argv[1]
    workdir = sys.argv[2] if len(sys.argv) > 2 else tempfile.mkdtemp()
    os.makedirs(workdir, exist_ok=True)
    path = os.path.join(workdir, "huge_dims.mlir")
    names = []
    with open(path, "w") as f:
        chunks = []
        for name, text in cases():
            names.append(name)
            chunks.append("// %s\n%s\n" % (name, text))
        f.write("\n// -----\n\n".join(chunks))
    failures = 0
    for pipeline in PIPELINES:
        try:
            run = subprocess.run([opt, path, "--split-input-file", pipeline, "-o", os.devnull],
                                 capture_output=True, text=True, errors="replace", timeout=600)
        except subprocess.TimeoutExpired:
            print("FAIL %s: timed out" % pipeline)
            failures += 1
            continue
        bad = [marker for marker in BAD if marker in run.stderr]
        if run.returncode not in (0, 1) or bad:
            failures += 1
            print("FAIL %s: exit %d %s" % (pipeline, run.returncode, bad))
            print(run.stderr[-4000:])
        else:
            print("ok %s: %d cases, %d diagnostics" % (pipeline, len(names), run.stderr.count("error:")))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
