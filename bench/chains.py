"""End-to-end selection chains (issue 15's benchmark), stage by stage: NSA's
selection branch, MoBA and DeepSeek Sparse Attention through our kernels
(and the general path where a stage has no kernel yet: block_scores,
lightning_indexer, MoBA's block_q = 1 attention). Still to add for the
issue's table: the peer paths (eager PyTorch selection feeding
FlexAttention, a gather-based DSA), dense causal attention in the same run,
and float64 numerics of the outputs and selections; today each chain's
output is only checked for NaN.

Build here (where MLIR is), then run on the GPU machine:
  PYTHONPATH=build/python_packages /usr/bin/python3 bench/chains.py build build/bench-chains [--chip sm_90a]
  PYTHONPATH=python-bindings python3 bench/chains.py run build/bench-chains OUT_DIR

Chains (bf16, B = 1, S = 8192 and 32768, causal):
- NSA: Hq = 64, Hkv = 4, D = 128, 64-token blocks; pool q and k (mean),
  block_scores (GQA-shared, causal blocks), select_topk (k = 13, sink = 1,
  local = 2), block_sparse_attention over the lists (causal).
- MoBA: Hq = Hkv = 16, D = 128, 512-token blocks; pool k, block_scores of
  the raw queries (block_q = 1), select_topk (k = 2, local = 1),
  block_sparse_attention over the per-query lists.
- DSA: lightning_indexer (64 heads x 128, weights per query, topk 2048,
  causal), token_sparse_attention (Hq = 16, Hkv = 1, D = 192, Dv = 128).
Each stage is its own artifact (static shapes), timed alone with
bench/run.py's `time_ms` on the previous stage's real outputs; the total
is the sum.

Writes OUT_DIR/<gpu>-<date>-chains.json and prints one line per stage.
"""

import datetime
import json
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from cli import build_or_run, numerics_verdict  # noqa: E402

SIZES = (8192, 32768)


def t(shape, elt):
    return "tensor<" + "x".join(str(d) for d in shape) + f"x{elt}>"


def func(args, body, results):
    sig = ", ".join(f"%{n}: {ty}" for n, ty in args)
    res = ", ".join(ty for _, ty in results)
    names = ", ".join(f"%{n}" for n, _ in results)
    return f"func.func @f({sig}) -> ({res}) {{\n{body}\n  return {names} : {res}\n}}"


def nsa_stages(s, hq=64, hkv=4, d=128, blk=64, k=13, sink=1, local=2):
    nb, c = s // blk, k + sink + local
    q, kv = t((1, hq, s, d), "bf16"), t((1, hkv, s, d), "bf16")
    qp, kp = t((1, hq, nb, d), "f32"), t((1, hkv, nb, d), "f32")
    sc = t((1, hkv, nb, nb), "f32")
    num, idx = t((1, hkv, nb), "i32"), t((1, hkv, nb, c), "i32")
    o, lse = t((1, hq, s, d), "bf16"), t((1, hq, s), "f32")
    return {
        "pool_q": func([("q", q)], f"  %p = sparse_attn.pool mean %q {{block = {blk}}} : {q} -> {qp}",
                       [("p", qp)]),
        "pool_k": func([("k", kv)], f"  %p = sparse_attn.pool mean %k {{block = {blk}}} : {kv} -> {kp}",
                       [("p", kp)]),
        "block_scores": func(
            [("qp", qp), ("kp", kp)],
            f"  %s = sparse_attn.block_scores %qp, %kp {{mask = #sparse_attn.causal, block = [{blk}, {blk}], "
            f"q_len = {s}, kv_len = {s}}} : {qp}, {kp} -> {sc}", [("s", sc)]),
        "select_topk": func(
            [("s", sc)],
            f"  %n, %i = sparse_attn.select_topk %s {{k = {k}, sink = {sink}, local = {local}}} : {sc} -> {num}, {idx}",
            [("n", num), ("i", idx)]),
        "attention": func(
            [("q", q), ("k", kv), ("v", kv), ("n", num), ("i", idx)],
            f"  %o, %l = sparse_attn.block_sparse_attention %q, %k, %v, %n, %i {{block = [{blk}, {blk}], "
            f"mask = #sparse_attn.causal}} : {q}, {kv}, {kv}, {num}, {idx} -> {o}, {lse}",
            [("o", o), ("l", lse)]),
    }


def moba_stages(s, h=16, d=128, blk=512, k=2, local=1):
    nb, c = s // blk, k + local
    q = t((1, h, s, d), "bf16")
    kp = t((1, h, nb, d), "f32")
    sc = t((1, h, s, nb), "f32")
    num, idx = t((1, h, s), "i32"), t((1, h, s, c), "i32")
    lse = t((1, h, s), "f32")
    return {
        "pool_k": func([("k", q)], f"  %p = sparse_attn.pool mean %k {{block = {blk}}} : {q} -> {kp}",
                       [("p", kp)]),
        "block_scores": func(
            [("q", q), ("kp", kp)],
            f"  %s = sparse_attn.block_scores %q, %kp {{mask = #sparse_attn.causal, block = [1, {blk}], "
            f"q_len = {s}, kv_len = {s}}} : {q}, {kp} -> {sc}", [("s", sc)]),
        "select_topk": func(
            [("s", sc)],
            f"  %n, %i = sparse_attn.select_topk %s {{k = {k}, local = {local}}} : {sc} -> {num}, {idx}",
            [("n", num), ("i", idx)]),
        "attention": func(
            [("q", q), ("k", q), ("v", q), ("n", num), ("i", idx)],
            f"  %o, %l = sparse_attn.block_sparse_attention %q, %k, %v, %n, %i {{block = [1, {blk}], "
            f"mask = #sparse_attn.causal}} : {q}, {q}, {q}, {num}, {idx} -> {q}, {lse}",
            [("o", q), ("l", lse)]),
    }


def dsa_stages(s, hq=16, d=192, dv=128, hi=64, di=128, topk=2048):
    q, k, v = t((1, hq, s, d), "bf16"), t((1, 1, s, d), "bf16"), t((1, 1, s, dv), "bf16")
    qi, ki, w = t((1, hi, s, di), "bf16"), t((1, s, di), "bf16"), t((1, s, hi), "f32")
    ti = t((1, s, topk), "i32")
    o, lse = t((1, hq, s, dv), "bf16"), t((1, hq, s), "f32")
    return {
        "lightning_indexer": func(
            [("qi", qi), ("ki", ki), ("w", w)],
            f"  %t = sparse_attn.lightning_indexer %qi, %ki, %w {{topk = {topk}, mask = #sparse_attn.causal}} "
            f": {qi}, {ki}, {w} -> {ti}", [("t", ti)]),
        "attention": func(
            [("q", q), ("k", k), ("v", v), ("t", ti)],
            f"  %o, %l = sparse_attn.token_sparse_attention %q, %k, %v, %t : {q}, {k}, {v}, {ti} -> {o}, {lse}",
            [("o", o), ("l", lse)]),
    }


CHAINS = {"nsa": nsa_stages, "moba": moba_stages, "dsa": dsa_stages}


def build(out, chip):
    import sparse_attn  # noqa: PLC0415

    for chain, stages in CHAINS.items():
        for s in SIZES:
            for stage, text in stages(s).items():
                path = os.path.join(out, f"{chain}-{s}-{stage}")
                sparse_attn.compile_gpu(text, "f", chip).save(path)
                print(path, flush=True)


def run(artifacts, out):
    import torch  # noqa: PLC0415

    from run import time_ms  # noqa: PLC0415

    from sparse_attn import runtime  # noqa: PLC0415

    props = torch.cuda.get_device_properties(0)
    print(f"device: {props.name}, torch {torch.__version__}", flush=True)
    gen = torch.Generator(device="cuda")
    gen.manual_seed(0)
    results = []
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, f"{props.name.replace(' ', '-')}-{datetime.date.today().isoformat()}"
                             f"-chains.json")

    def randn(*shape, dtype=torch.bfloat16):
        return torch.randn(*shape, generator=gen, device="cuda", dtype=dtype)

    def stage(chain, s, name, *args):
        fn = runtime.load(os.path.join(artifacts, f"{chain}-{s}-{name}"))
        got = fn(*args)
        got = list(got) if isinstance(got, (list, tuple)) else [got]
        ms = time_ms(lambda *a: fn(*a), inputs=[args])
        print(f"  {chain}-S{s} {name:18s} {ms:9.3f} ms", flush=True)
        return got, ms

    for s in SIZES:
        # NSA
        q, k, v = randn(1, 64, s, 128), randn(1, 4, s, 128), randn(1, 4, s, 128)
        times = {}
        (qp,), times["pool_q"] = stage("nsa", s, "pool_q", q)
        (kp,), times["pool_k"] = stage("nsa", s, "pool_k", k)
        (sc,), times["block_scores"] = stage("nsa", s, "block_scores", qp, kp)
        (num, idx), times["select_topk"] = stage("nsa", s, "select_topk", sc)
        (o, _), times["attention"] = stage("nsa", s, "attention", q, k, v, num, idx)
        results.append(dict(case=f"nsa-S{s}", stages_ms=times, total_ms=sum(times.values()),
                            numerics_ok=not bool(o.isnan().any())))
        # MoBA
        q = randn(1, 16, s, 128)
        times = {}
        (kp,), times["pool_k"] = stage("moba", s, "pool_k", q)
        (sc,), times["block_scores"] = stage("moba", s, "block_scores", q, kp)
        (num, idx), times["select_topk"] = stage("moba", s, "select_topk", sc)
        (o, _), times["attention"] = stage("moba", s, "attention", q, q, q, num, idx)
        results.append(dict(case=f"moba-S{s}", stages_ms=times, total_ms=sum(times.values()),
                            numerics_ok=not bool(o.isnan().any())))
        # DSA
        q, k, v = randn(1, 16, s, 192), randn(1, 1, s, 192), randn(1, 1, s, 128)
        qi, ki = randn(1, 64, s, 128), randn(1, s, 128)
        w = randn(1, s, 64, dtype=torch.float32)
        times = {}
        (ti,), times["lightning_indexer"] = stage("dsa", s, "lightning_indexer", qi, ki, w)
        (o, _), times["attention"] = stage("dsa", s, "attention", q, k, v, ti)
        results.append(dict(case=f"dsa-S{s}", stages_ms=times, total_ms=sum(times.values()),
                            numerics_ok=not bool(o.isnan().any())))
        for row in results[-3:]:
            print(f"{row['case']:12s} total {row['total_ms']:9.3f} ms  "
                  + "  ".join(f"{n} {ms:.3f}" for n, ms in row["stages_ms"].items()), flush=True)
        with open(path, "w") as f:
            json.dump(dict(device=props.name, torch=torch.__version__,
                           date=datetime.date.today().isoformat(), method=__doc__, cases=results),
                      f, indent=1)
        torch.cuda.empty_cache()
    return numerics_verdict(results)


if __name__ == "__main__":
    sys.exit(build_or_run(build, run))
