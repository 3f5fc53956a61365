"""The selection ops on their GPU kernels: `pool` (bandwidth-bound) and
`select_topk` (NSA's configuration), next to the eager PyTorch
equivalents and the copy bandwidth measured in the same run.

Build here (where MLIR is), then run on the GPU machine:
  PYTHONPATH=build/python_packages /usr/bin/python3 bench/selection.py build build/bench-select [--chip sm_90a]
  PYTHONPATH=python-bindings python3 bench/selection.py run build/bench-select OUT_DIR

Cases (bf16 keys, B = 1, Hkv = 4, D = 128, 64-token blocks as NSA):
pool mean over S = 8192 and 32768 keys; block_scores of 64 pooled query
heads against the 4 pooled kv heads (f32, causal blocks -inf; peer: einsum
+ masked_fill); MoBA's block_scores (block_q = 1: bf16 queries, Hq = 16,
against f32 keys pooled by 512; bandwidth against the copy); select_topk with k = 13, sink = 1,
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


HQ = 64  # NSA: 64 query heads over the 4 kv heads, scores per kv head


def scores_ir(s):
    nb = s // BLOCK
    qp = f"tensor<1x{HQ}x{nb}x{D}xf32>"
    kp = f"tensor<1x{H}x{nb}x{D}xf32>"
    out = f"tensor<1x{H}x{nb}x{nb}xf32>"
    return f"""func.func @f(%qp: {qp}, %kp: {kp}) -> {out} {{
  %s = sparse_attn.block_scores %qp, %kp {{block = [{BLOCK}, {BLOCK}], mask = #sparse_attn.causal, q_len = {s}, kv_len = {s}}} : {qp}, {kp} -> {out}
  return %s : {out}
}}"""


MOBA_H, MOBA_BLOCK = 16, 512  # examples/moba.mlir: Hq = Hkv = 16, 512-token blocks


def moba_scores_ir(s):
    nb = s // MOBA_BLOCK
    q = f"tensor<1x{MOBA_H}x{s}x{D}xbf16>"
    kp = f"tensor<1x{MOBA_H}x{nb}x{D}xf32>"
    out = f"tensor<1x{MOBA_H}x{s}x{nb}xf32>"
    return f"""func.func @f(%q: {q}, %kp: {kp}) -> {out} {{
  %s = sparse_attn.block_scores %q, %kp {{block = [1, {MOBA_BLOCK}], mask = #sparse_attn.causal, q_len = {s}, kv_len = {s}}} : {q}, {kp} -> {out}
  return %s : {out}
}}"""


def build(out, chip):
    import sparse_attn  # noqa: PLC0415

    os.makedirs(out, exist_ok=True)
    sparse_attn.compile_gpu(POOL_IR, "f", chip).save(os.path.join(out, "pool"))
    sparse_attn.compile_gpu(TOPK_IR, "f", chip).save(os.path.join(out, "topk"))
    for s in SIZES:
        sparse_attn.compile_gpu(scores_ir(s), "f", chip).save(os.path.join(out, f"scores-{s}"))
        sparse_attn.compile_gpu(moba_scores_ir(s), "f", chip).save(
            os.path.join(out, f"moba-scores-{s}"))


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
        # block_scores: pooled queries (64 heads) x pooled keys (4 kv
        # heads), the group's 16 heads summed, causal blocks -inf; the peer
        # is the same in einsum + masked_fill.
        scores_fn = runtime.load(os.path.join(artifacts, f"scores-{s}"))
        qp = torch.randn(1, HQ, nb, D, generator=gen, device="cuda")
        kp = torch.randn(1, H, nb, D, generator=gen, device="cuda")
        i = torch.arange(nb, device="cuda")
        causal = i[None, :] > i[:, None]

        def torch_scores(a, b):
            dots = torch.einsum("bhgid,bhjd->bhij", a.view(1, H, HQ // H, nb, D), b)
            return (dots * D ** -0.5).masked_fill(causal, float("-inf"))

        got_scores = scores_fn(qp, kp)
        got_scores = got_scores[0] if isinstance(got_scores, (list, tuple)) else got_scores
        want_scores = torch_scores(qp.double(), kp.double())
        finite = torch.isfinite(want_scores)
        scores_ok = bool((torch.isneginf(got_scores) == torch.isneginf(want_scores)).all()) and \
            (got_scores[finite].double() - want_scores[finite]).abs().max().item() <= 1e-3
        ms, torch_ms = time_ms(lambda a, b: scores_fn(a, b), torch_scores, inputs=[(qp, kp)])
        row = dict(case=f"block_scores-Hq{HQ}-NQ{nb}-NK{nb}", ms=ms, torch_ms=torch_ms,
                   ratio_vs_torch=torch_ms / ms, numerics_ok=scores_ok,
                   tflops=2 * HQ * nb * nb * D / ms / 1e9)
        results.append(row)
        print(f"{row['case']:22s} ours {ms * 1e3:8.1f} us {row['tflops']:5.1f} TF/s  torch einsum "
              f"{torch_ms * 1e3:8.1f} us  x{torch_ms / ms:.2f}  {'ok' if scores_ok else 'FAIL'}",
              flush=True)
        # MoBA's block_scores: bf16 queries (block_q = 1) against f32 pooled
        # keys, kv blocks past the query's -inf; a memory-bound shape (the
        # [S, S / 512] scores are as large as the queries).
        moba_fn = runtime.load(os.path.join(artifacts, f"moba-scores-{s}"))
        mb = s // MOBA_BLOCK
        q = torch.randn(1, MOBA_H, s, D, generator=gen, device="cuda", dtype=torch.bfloat16)
        kpm = torch.randn(1, MOBA_H, mb, D, generator=gen, device="cuda")
        beyond = torch.arange(mb, device="cuda")[None, :] > \
            (torch.arange(s, device="cuda") // MOBA_BLOCK)[:, None]

        def torch_moba(a, b):
            dots = torch.einsum("bhid,bhjd->bhij", a.to(b.dtype), b)
            return (dots * D ** -0.5).masked_fill(beyond, float("-inf"))

        got_moba = moba_fn(q, kpm)[0]
        want_moba = torch_moba(q.double(), kpm.double())
        finite = torch.isfinite(want_moba)
        moba_ok = bool((torch.isneginf(got_moba) == torch.isneginf(want_moba)).all()) and \
            (got_moba[finite].double() - want_moba[finite]).abs().max().item() <= 1e-3
        ms, torch_ms = time_ms(lambda a, b: moba_fn(a, b), torch_moba, inputs=[(q, kpm)])
        moved = q.numel() * 2 + kpm.numel() * 4 + got_moba.numel() * 4
        gbs = moved / ms / 1e6
        row = dict(case=f"block_scores-moba-S{s}-NK{mb}", ms=ms, torch_ms=torch_ms,
                   ratio_vs_torch=torch_ms / ms, numerics_ok=moba_ok, gb_per_s=gbs,
                   of_copy=gbs / copy_gbs, tflops=2 * MOBA_H * s * mb * D / ms / 1e9)
        results.append(row)
        print(f"{row['case']:22s} ours {ms * 1e3:8.1f} us {gbs:6.0f} GB/s ({gbs / copy_gbs:.0%} of "
              f"copy)  torch einsum {torch_ms * 1e3:8.1f} us  x{torch_ms / ms:.2f}  "
              f"{'ok' if moba_ok else 'FAIL'}", flush=True)
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
