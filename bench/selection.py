"""The selection ops on their GPU kernels: `pool` (bandwidth-bound) and
`select_topk` (NSA's configuration), next to the eager PyTorch
equivalents and the copy bandwidth measured in the same run.

Build here (where MLIR is), then run on the GPU machine:
  PYTHONPATH=build/python_packages /usr/bin/python3 bench/selection.py build build/bench-select [--chip sm_90a]
  PYTHONPATH=python-bindings python3 bench/selection.py run build/bench-select OUT_DIR

Cases (bf16 keys, B = 1, Hkv = 4, D = 128, 64-token blocks as NSA):
pool mean over S = 8192 and 32768 keys; select_topk with k = 13, sink = 1,
local = 2 over block scores [1, 4, S / 64, S / 64] with a causal block
pattern (-inf above the diagonal). Peers: `k.view(B, H, S / 64, 64,
D).float().mean(3)` and, for the selection, torch.topk of the scores with
the sink and local blocks forced (scatter of +inf), then sort, as an eager
NSA implementation does it. Method: bench/run.py's `time_ms` (CUDA graphs,
interleaved rounds, medians). Pool bandwidth: bytes read + written / time,
against a 2 GiB device copy in the same run. Numerics: pool against a
float64 mean (max |err| <= 1e-3 relative), select_topk against the torch
selection's sets (exact unless scores tie).

Writes OUT_DIR/<gpu>-<date>-selection.json and prints one line per case.
"""

import datetime
import json
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from cli import build_or_run, numerics_verdict  # noqa: E402

H, D, BLOCK, K, SINK, LOCAL = 4, 128, 64, 13, 1, 2
SIZES = (8192, 32768)

POOL_IR = f"""func.func @f(%k: tensor<1x{H}x?x{D}xbf16>) -> tensor<1x{H}x?x{D}xf32> {{
  %p = sparse_attn.pool mean %k {{block = {BLOCK}}} : tensor<1x{H}x?x{D}xbf16> -> tensor<1x{H}x?x{D}xf32>
  return %p : tensor<1x{H}x?x{D}xf32>
}}"""
C = K + SINK + LOCAL
TOPK_IR = f"""func.func @f(%s: tensor<1x{H}x?x?xf32>) -> (tensor<1x{H}x?xi32>, tensor<1x{H}x?x{C}xi32>) {{
  %n, %i = sparse_attn.select_topk %s {{k = {K}, sink = {SINK}, local = {LOCAL}}} : tensor<1x{H}x?x?xf32> -> tensor<1x{H}x?xi32>, tensor<1x{H}x?x{C}xi32>
  return %n, %i : tensor<1x{H}x?xi32>, tensor<1x{H}x?x{C}xi32>
}}"""


def build(out, chip):
    import sparse_attn  # noqa: PLC0415

    os.makedirs(out, exist_ok=True)
    sparse_attn.compile_gpu(POOL_IR, "f", chip).save(os.path.join(out, "pool"))
    sparse_attn.compile_gpu(TOPK_IR, "f", chip).save(os.path.join(out, "topk"))


def run(artifacts, out):
    import torch  # noqa: PLC0415

    from run import time_ms  # noqa: PLC0415

    from sparse_attn import runtime  # noqa: PLC0415

    props = torch.cuda.get_device_properties(0)
    print(f"device: {props.name}, torch {torch.__version__}", flush=True)
    gen = torch.Generator(device="cuda")
    gen.manual_seed(0)
    pool = runtime.load(os.path.join(artifacts, "pool"))
    topk = runtime.load(os.path.join(artifacts, "topk"))
    x = torch.empty(2**30, dtype=torch.int16, device="cuda")
    y = torch.empty_like(x)
    copy_ms = time_ms(lambda a: y.copy_(a), inputs=[(x,)])
    copy_gbs = 2 * x.numel() * 2 / copy_ms / 1e6
    del x, y
    print(f"copy bandwidth: {copy_gbs:.0f} GB/s", flush=True)
    results = []
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, f"{props.name.replace(' ', '-')}-{datetime.date.today().isoformat()}"
                             f"-selection.json")
    for s in SIZES:
        nb = s // BLOCK
        k = torch.randn(1, H, s, D, generator=gen, device="cuda", dtype=torch.bfloat16)
        got = pool(k)[0]
        want = k.double().view(1, H, nb, BLOCK, D).mean(3)
        err = (got.double() - want).abs().max().item()
        ms, torch_ms = time_ms(lambda a: pool(a),
                               lambda a: a.view(1, H, nb, BLOCK, D).float().mean(3),
                               inputs=[(k,)])
        gbs = (k.numel() * 2 + got.numel() * 4) / ms / 1e6
        row = dict(case=f"pool-mean-S{s}", ms=ms, torch_ms=torch_ms, ratio_vs_torch=torch_ms / ms,
                   gb_per_s=gbs, of_copy=gbs / copy_gbs, copy_gb_per_s=copy_gbs, max_err=err,
                   numerics_ok=err <= 1e-3)
        results.append(row)
        print(f"{row['case']:22s} ours {ms * 1e3:8.1f} us {gbs:6.0f} GB/s ({gbs / copy_gbs:.0%} of copy)"
              f"  torch {torch_ms * 1e3:8.1f} us  x{torch_ms / ms:.2f}  err {err:.1e}", flush=True)
        # Block scores with a causal block pattern.
        scores = torch.randn(1, H, nb, nb, generator=gen, device="cuda")
        i = torch.arange(nb, device="cuda")
        scores = scores.masked_fill(i[None, :] > i[:, None], float("-inf")).contiguous()

        def torch_select(sc):
            forced = sc.clone()
            forced[..., :SINK] = float("inf")
            diag = torch.arange(nb, device="cuda")
            for back in range(LOCAL):
                col = (diag - back).clamp(min=0)
                forced.scatter_(3, col.view(1, 1, nb, 1).expand(1, H, nb, 1),
                                float("inf"))
            forced = forced.masked_fill(torch.isneginf(sc), float("-inf"))
            vals, idx = forced.topk(C, dim=-1)
            idx = torch.where(torch.isneginf(vals), -1, idx)
            return idx.sort(dim=-1).values

        num, idx = topk(scores)
        ref = torch_select(scores)
        ours_sets = torch.where(idx >= 0, idx, torch.iinfo(torch.int32).max).sort(-1).values
        ref_sets = torch.where(ref >= 0, ref, torch.iinfo(torch.int64).max).sort(-1).values
        same = bool((ours_sets.long().clamp(max=nb) == ref_sets.clamp(max=nb)).all())
        ms, torch_ms = time_ms(lambda a: topk(a), torch_select, inputs=[(scores,)])
        row = dict(case=f"select_topk-NQ{nb}-NK{nb}", ms=ms, torch_ms=torch_ms,
                   ratio_vs_torch=torch_ms / ms, numerics_ok=same,
                   rows=H * nb, k=K, sink=SINK, local=LOCAL)
        results.append(row)
        print(f"{row['case']:22s} ours {ms * 1e3:8.1f} us  torch topk {torch_ms * 1e3:8.1f} us  "
              f"x{torch_ms / ms:.2f}  {'same sets' if same else 'SETS DIFFER'}", flush=True)
        with open(path, "w") as f:
            json.dump(dict(device=props.name, torch=torch.__version__,
                           date=datetime.date.today().isoformat(), method=__doc__, cases=results),
                      f, indent=1)
    return numerics_verdict(results)


if __name__ == "__main__":
    sys.exit(build_or_run(build, run))
