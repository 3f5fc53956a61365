"""Compiles the benchmark's kernels here (where MLIR is) into an artifacts
folder that bench/run.py times on the GPU machine, and records how long each
compile from .mlir to PTX took.

Usage (from the repository root, after `make check`):
  PYTHONPATH=build/python_packages /usr/bin/python3 bench/build.py build/bench [--chip sm_90a]

--chip sm_90a (the default) gives the wgmma kernel; sm_90 the mma.sync one.
compile_times.json records each artifact's compile time and the kernel
configuration convert-sparse-attn-to-nvgpu chose (the launch plan's `config`
of the tensor-core kernel: mma, block_q, block_kv, warps, row_tiles, stages,
shared memory; null when the general path takes the op).

Artifacts (sequence lengths dynamic, so one kernel serves S = 8192 and 32768):
  attn-<mask>-d<D>-kv<Hkv>   block_sparse_attention, block = [128, 128], bf16,
                             B = 1, Hq = 16; <mask> in causal, sliding, random,
                             topk, dense (the mask attribute the op carries:
                             causal for causal and topk, sliding_window<1023, 0>
                             for sliding, none for random and dense; the
                             masked ones take full(...) lists too)
  select-d<D>-kv<Hkv>-s<S>   pool, block_scores (causal), select_topk (k = 16,
                             sink = 1, local = 2): the lists of the topk case
"""

import argparse
import json
import os
import sys
import time

import sparse_attn

HQ = 16
BLOCK = 128
MASKS = {
    "causal": "#sparse_attn.causal",
    "sliding": "#sparse_attn.sliding_window<left = 1023, right = 0>",
    "random": None,
    "topk": "#sparse_attn.causal",
    "dense": None,
}


def attention_ir(mask, d, hkv):
    """The attention op of one case; a masked case also takes full(...)
    lists (its blocks split into partial and full, as create_block_mask
    splits them)."""
    list_heads = {"random": HQ, "topk": hkv}.get(mask, 1)
    attr = f"{{block = [{BLOCK}, {BLOCK}]" + (f", mask = {MASKS[mask]}}}" if MASKS[mask] else "}")
    q = f"tensor<1x{HQ}x?x{d}xbf16>"
    kv = f"tensor<1x{hkv}x?x{d}xbf16>"
    num = f"tensor<1x{list_heads}x?xi32>"
    idx = f"tensor<1x{list_heads}x?x?xi32>"
    lse = f"tensor<1x{HQ}x?xf32>"
    args, full = "", ""
    if MASKS[mask]:
        args = f", %fnum: {num}, %fidx: {idx}"
        full = f" full(%fnum, %fidx : {num}, {idx})"
    return f"""func.func @f(%q: {q}, %k: {kv}, %v: {kv}, %num: {num}, %idx: {idx}{args}) -> ({q}, {lse}) {{
  %o, %lse = sparse_attn.block_sparse_attention %q, %k, %v, %num, %idx{full} {attr}
      : {q}, {kv}, {kv}, {num}, {idx} -> {q}, {lse}
  return %o, %lse : {q}, {lse}
}}
"""


def select_ir(d, hkv, s):
    n = s // BLOCK
    q = f"tensor<1x{HQ}x{s}x{d}xbf16>"
    k = f"tensor<1x{hkv}x{s}x{d}xbf16>"
    return f"""func.func @f(%q: {q}, %k: {k}) -> (tensor<1x{hkv}x{n}xi32>, tensor<1x{hkv}x{n}x19xi32>) {{
  %qp = sparse_attn.pool mean %q {{block = {BLOCK}}} : {q} -> tensor<1x{HQ}x{n}x{d}xf32>
  %kp = sparse_attn.pool mean %k {{block = {BLOCK}}} : {k} -> tensor<1x{hkv}x{n}x{d}xf32>
  %scores = sparse_attn.block_scores %qp, %kp {{mask = #sparse_attn.causal, block = [{BLOCK}, {BLOCK}], q_len = {s}, kv_len = {s}}}
      : tensor<1x{HQ}x{n}x{d}xf32>, tensor<1x{hkv}x{n}x{d}xf32> -> tensor<1x{hkv}x{n}x{n}xf32>
  %num, %idx = sparse_attn.select_topk %scores {{k = 16, sink = 1, local = 2}}
      : tensor<1x{hkv}x{n}x{n}xf32> -> tensor<1x{hkv}x{n}xi32>, tensor<1x{hkv}x{n}x19xi32>
  return %num, %idx : tensor<1x{hkv}x{n}xi32>, tensor<1x{hkv}x{n}x19xi32>
}}
"""


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--chip", default="sm_90a")
    parser.add_argument("--options", default="",
                        help="other sparse-attn-to-ptx-pipeline options, e.g. 'nvgpu-options={block-q=64}'")
    parser.add_argument("--only", default=None, help="comma-separated masks (causal, sliding, ...)")
    parser.add_argument("--dims", default="128,64", help="comma-separated head dims")
    options = parser.parse_args()
    os.makedirs(options.out, exist_ok=True)
    compile_times, configs = {}, {}

    def build(name, text):
        start = time.perf_counter()
        artifact = sparse_attn.compile_gpu(text, "f", options.chip, options.options)
        seconds = time.perf_counter() - start
        artifact.save(os.path.join(options.out, name))
        with open(os.path.join(options.out, name, "source.mlir"), "w") as f:
            f.write(text)
        compile_times[name] = seconds
        # The tensor-core kernel's configuration as the plan records it
        # (None when the general path's kernels take the op).
        configs[name] = next((config for config in artifact.configs if config), None)
        kernels = len(artifact.plan["launches"])
        print(f"{name}: {kernels} kernel(s), compiled in {seconds:.2f} s", flush=True)

    masks = options.only.split(",") if options.only else list(MASKS)
    for d in (int(x) for x in options.dims.split(",")):
        for hkv in (16, 4):
            for mask in masks:
                build(f"attn-{mask}-d{d}-kv{hkv}", attention_ir(mask, d, hkv))
            for s in (8192, 32768):
                build(f"select-d{d}-kv{hkv}-s{s}", select_ir(d, hkv, s))
    with open(os.path.join(options.out, "compile_times.json"), "w") as f:
        json.dump(dict(chip=options.chip, seconds=compile_times, configs=configs), f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
