"""End-to-end selection chains (issue 15's benchmark), stage by stage: NSA's
selection branch, MoBA and DeepSeek Sparse Attention through our kernels
(MoBA's block_q = 1 attention grouped by kv block, FlashMoBA's way, and
the union walk beside it: a 64-row tile over its rows' blocks, each row
masked to its own; the keys each does are reported against dense
causal's). Peers in the same run: the same
selection in eager PyTorch (pooling by view+mean, einsum + masked_fill,
topk with the sink/local blocks forced, sort) feeding FlexAttention over
the same lists (NSA: BlockMask.from_kv_blocks of our lists; MoBA: a
mask_mod reading the per-query blocks), and for DSA the chunked torch
indexer of bench/selection.py and a gather-based attention; dense causal
attention at each chain's shape (cuDNN SDPA, FlexAttention). Numerics:
outputs of 4 query rows x every head against float64 attention over our
selected keys (passing when within 2x the peer's error + 1e-3); the
selections against eager torch's (fraction of identical rows; f32 vs f32,
so rare near-ties may differ; the indexer's own float64 check is in
bench/selection.py).

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
is the sum. MoBA and DSA also run as one function ("whole"), compiled
by default (sparse-attn-fuse-selection; the fused ops run as their
chains), with nvgpu-options={in-kernel-selection=true} (MoBA's
block_scores and select_topk become one kernel, FusedRowSelection.cpp;
DSA's fused op becomes one kernel, FusedTokenSelection.cpp: a block per 4
queries selects their token lists in shared memory and attends over them;
its output is compared bit for bit with the chain's) and with
fuse-selection=false (the
stages' kernels): issue 16's fused and unfused totals (`whole_fused_ms`,
`whole_in_kernel_ms`, `whole_unfused_ms`).
CHAINS_SIZES=8192 (environment) runs one size.

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
        # The chain as one function (q = k = v, as above): compiled by
        # default (fused: block_scores and the selection in one kernel) and
        # with fuse-selection=false (the stages' kernels).
        "whole": func(
            [("q", q)],
            f"  %kp = sparse_attn.pool mean %q {{block = {blk}}} : {q} -> {kp}\n"
            f"  %s = sparse_attn.block_scores %q, %kp {{mask = #sparse_attn.causal, block = [1, {blk}], "
            f"q_len = {s}, kv_len = {s}}} : {q}, {kp} -> {sc}\n"
            f"  %n, %i = sparse_attn.select_topk %s {{k = {k}, local = {local}}} : {sc} -> {num}, {idx}\n"
            f"  %o, %l = sparse_attn.block_sparse_attention %q, %q, %q, %n, %i {{block = [1, {blk}], "
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
        "whole": func(
            [("q", q), ("k", k), ("v", v), ("qi", qi), ("ki", ki), ("w", w)],
            f"  %t = sparse_attn.lightning_indexer %qi, %ki, %w {{topk = {topk}, mask = #sparse_attn.causal}} "
            f": {qi}, {ki}, {w} -> {ti}\n"
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
                if stage == "whole":
                    sparse_attn.compile_gpu(text, "f", chip, "fuse-selection=false").save(
                        path + "-unfused")
                    sparse_attn.compile_gpu(
                        text, "f", chip, "nvgpu-options={in-kernel-selection=true}").save(
                            path + "-in-kernel")
                if chain == "moba" and stage == "attention":
                    # The other way to take per-token lists, for comparison.
                    sparse_attn.compile_gpu(text, "f", chip, "nvgpu-options={row-lists=union}").save(
                        path + "-union")


def run(artifacts, out):
    import torch  # noqa: PLC0415
    import torch.nn.functional as F  # noqa: PLC0415
    from torch.nn.attention import SDPBackend, sdpa_kernel  # noqa: PLC0415
    from torch.nn.attention.flex_attention import BlockMask, create_block_mask  # noqa: PLC0415

    from run import compiled_flex, time_ms  # noqa: PLC0415
    from selection import torch_indexer  # noqa: PLC0415
    from token_sparse import torch_gather_attention  # noqa: PLC0415

    from sparse_attn import runtime  # noqa: PLC0415

    props = torch.cuda.get_device_properties(0)
    print(f"device: {props.name}, torch {torch.__version__}", flush=True)
    flex = compiled_flex()
    gen = torch.Generator(device="cuda")
    gen.manual_seed(0)
    sizes = [int(x) for x in os.environ.get("CHAINS_SIZES", ",".join(map(str, SIZES))).split(",")]
    results = []
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, f"{props.name.replace(' ', '-')}-{datetime.date.today().isoformat()}"
                             f"-chains-{'-'.join(map(str, sizes))}.json")

    def randn(*shape, dtype=torch.bfloat16):
        return torch.randn(*shape, generator=gen, device="cuda", dtype=dtype)

    def stage(chain, s, name, *args):
        fn = runtime.load(os.path.join(artifacts, f"{chain}-{s}-{name}"))
        got = list(fn(*args))
        ms = time_ms(lambda *a: fn(*a), inputs=[args])
        print(f"  {chain}-S{s} {name:18s} {ms:9.3f} ms", flush=True)
        return got, ms

    def peer(name, fn, *args, rounds=5):
        got = fn(*args)
        ms = time_ms(fn, inputs=[args], rounds=rounds)
        print(f"  peer {name:22s} {ms:9.3f} ms", flush=True)
        return got, ms

    def dense(s, hq, hkv, d, dv):
        """cuDNN SDPA and FlexAttention, dense causal, same shape."""
        q, k, v = randn(1, hq, s, d), randn(1, hkv, s, d), randn(1, hkv, s, dv)
        out = {}
        try:
            kk, vv = (k.repeat_interleave(hq // hkv, 1), v.repeat_interleave(hq // hkv, 1))

            def cudnn(a, b, c):
                with sdpa_kernel(SDPBackend.CUDNN_ATTENTION):
                    return F.scaled_dot_product_attention(a, b, c, is_causal=True)
            out["cudnn_causal_ms"] = time_ms(cudnn, inputs=[(q, kk, vv)], rounds=3)
        except Exception as error:  # noqa: BLE001
            print(f"  (cuDNN: {str(error).splitlines()[0][:100]})")
            out["cudnn_causal_ms"] = None
        causal_mask = create_block_mask(lambda b, h, i, j: i >= j, None, None, s, s)
        try:
            out["flex_causal_ms"] = time_ms(
                lambda a, b, c: flex(a, b, c, block_mask=causal_mask, enable_gqa=hq != hkv),
                inputs=[(q, k, v)], rounds=3)
        except Exception as error:  # noqa: BLE001
            print(f"  (Flex: {str(error).splitlines()[0][:100]})")
            out["flex_causal_ms"] = None
        print(f"  dense causal: cuDNN {out['cudnn_causal_ms']} ms, Flex {out['flex_causal_ms']} ms",
              flush=True)
        return out

    def attention_f64(q, k, v, rows, keys_of):
        """Float64 attention of query rows `rows` (per head h, the keys
        keys_of(h, i)); [len(rows), Hq, Dv]."""
        hq, hkv = q.shape[1], k.shape[1]
        outs = []
        for i in rows:
            per_head = []
            for h in range(hq):
                keys = keys_of(h, i)
                kk = k[0, h // (hq // hkv), keys].double()
                sc = kk @ q[0, h, i].double() * q.shape[-1] ** -0.5
                per_head.append(torch.softmax(sc, 0) @ v[0, h // (hq // hkv), keys].double())
            outs.append(torch.stack(per_head))
        return torch.stack(outs)

    def finish(row):
        row["total_ms"] = sum(row["stages_ms"].values())
        row["peer_total_ms"] = sum(row["peer_stages_ms"].values())
        sel = sum(ms for n, ms in row["stages_ms"].items() if n != "attention")
        row["selection_share"] = sel / row["total_ms"]
        row["vs_cudnn_dense"] = (row["dense"]["cudnn_causal_ms"] / row["total_ms"]
                                 if row["dense"].get("cudnn_causal_ms") else None)
        row["stage_ratio_vs_peer"] = {n: row["peer_stages_ms"][n] / ms
                                      for n, ms in row["stages_ms"].items()
                                      if n in row["peer_stages_ms"]}
        results.append(row)
        print(f"{row['case']:10s} total {row['total_ms']:9.3f} ms (selection "
              f"{row['selection_share']:.0%}), peer {row['peer_total_ms']:9.3f} ms, cuDNN dense "
              f"{row['dense'].get('cudnn_causal_ms')} ms, numerics "
              f"{'ok' if row['numerics_ok'] else 'FAIL'}", flush=True)
        with open(path, "w") as f:
            json.dump(dict(device=props.name, torch=torch.__version__,
                           date=datetime.date.today().isoformat(), method=__doc__, cases=results),
                      f, indent=1)

    for s in sizes:
        # ---------------------------------------------------------------- NSA
        hq, hkv, d, blk, k_sel, sink, local = 64, 4, 128, 64, 13, 1, 2
        nb, cap = s // blk, 13 + 1 + 2
        q, k, v = randn(1, hq, s, d), randn(1, hkv, s, d), randn(1, hkv, s, d)
        times, peer_times = {}, {}
        (qp,), times["pool_q"] = stage("nsa", s, "pool_q", q)
        (kp,), times["pool_k"] = stage("nsa", s, "pool_k", k)
        (sc,), times["block_scores"] = stage("nsa", s, "block_scores", qp, kp)
        (num, idx), times["select_topk"] = stage("nsa", s, "select_topk", sc)
        (o, _), times["attention"] = stage("nsa", s, "attention", q, k, v, num, idx)
        blocks = torch.arange(nb, device="cuda")
        above = blocks[None, :] > blocks[:, None]

        def pool(x, b=blk):
            return x.view(x.shape[0], x.shape[1], -1, b, x.shape[-1]).float().mean(3)

        def nsa_scores(a, b):
            dots = torch.einsum("bhgid,bhjd->bhij", a.view(1, hkv, hq // hkv, nb, d), b)
            return (dots * d ** -0.5).masked_fill(above, float("-inf"))

        def select(scores, k_, sink_, local_, current_only=False):
            forced = scores.clone()
            n = scores.shape[-2]
            if sink_:
                forced[..., :sink_] = float("inf")
            rows = torch.arange(n, device="cuda")
            diag = rows if not current_only else rows // blk
            for back in range(local_):
                col = (diag - back).clamp(min=0)
                forced.scatter_(3, col.view(1, 1, n, 1).expand(*scores.shape[:2], n, 1),
                                float("inf"))
            forced = forced.masked_fill(torch.isneginf(scores), float("-inf"))
            vals, ind = forced.topk(k_ + sink_ + local_, dim=-1)
            ind = torch.where(torch.isneginf(vals), scores.shape[-1], ind).sort(-1).values
            return torch.where(ind == scores.shape[-1], -1, ind)

        (pq,), peer_times["pool_q"] = peer("nsa pool q", lambda a: (pool(a),), q)
        (pk,), peer_times["pool_k"] = peer("nsa pool k", lambda a: (pool(a),), k)
        (psc,), peer_times["block_scores"] = peer("nsa einsum+mask", lambda a, b: (nsa_scores(a, b),),
                                                  pq, pk)
        (pidx,), peer_times["select_topk"] = peer(
            "nsa topk", lambda x: (select(x, k_sel, sink, local),), psc)
        same_sel = float((pidx == idx.long()).all(-1).float().mean())
        kv_num = num.repeat_interleave(hq // hkv, 1)
        kv_idx = torch.zeros(1, hq, nb, nb, dtype=torch.int32, device="cuda")
        kv_idx[..., :cap] = idx.clamp(min=0).repeat_interleave(hq // hkv, 1)
        bm = BlockMask.from_kv_blocks(kv_num, kv_idx, BLOCK_SIZE=blk,
                                      mask_mod=lambda b, h, i, j: i >= j, seq_lengths=(s, s))
        (fo,), peer_times["attention"] = peer(
            "nsa Flex over lists",
            lambda a, b, c: (flex(a, b, c, block_mask=bm, enable_gqa=True,
                                  kernel_options={"BLOCK_M": blk, "BLOCK_N": blk}),),
            q, k, v, rounds=3)
        rows = [s - 1, s // 2 + 7, 100, 5]
        lists = idx[0].long().cpu()

        def nsa_keys(h, i):
            sel = lists[h // (hq // hkv), i // blk]
            keys = torch.cat([torch.arange(b * blk, (b + 1) * blk) for b in sel.tolist() if b >= 0])
            return keys[keys <= i].cuda()

        want = attention_f64(q, k, v, rows, nsa_keys)
        err = (o[0][:, rows].transpose(0, 1).double() - want).abs().max().item()
        flex_err = (fo[0][:, rows].transpose(0, 1).double() - want).abs().max().item()
        finish(dict(case=f"nsa-S{s}", config=dict(Hq=hq, Hkv=hkv, D=d, block=blk, k=k_sel, sink=sink,
                                                  local=local),
                    stages_ms=times, peer_stages_ms=peer_times, dense=dense(s, hq, hkv, d, d),
                    selection_equal_to_torch=same_sel, max_err=err, flex_err=flex_err,
                    numerics_ok=err <= 2 * flex_err + 1e-3 and same_sel > 0.99))
        del q, k, v, o, fo, sc, psc
        torch.cuda.empty_cache()

        # --------------------------------------------------------------- MoBA
        h, d, blk = 16, 128, 512
        nb = s // blk
        q = randn(1, h, s, d)
        times, peer_times = {}, {}
        (kp,), times["pool_k"] = stage("moba", s, "pool_k", q)
        (sc,), times["block_scores"] = stage("moba", s, "block_scores", q, kp)
        (num, idx), times["select_topk"] = stage("moba", s, "select_topk", sc)
        beyond = torch.arange(nb, device="cuda")[None, :] > \
            (torch.arange(s, device="cuda") // blk)[:, None]

        def moba_scores(a, b):
            dots = torch.einsum("bhid,bhjd->bhij", a.float(), b)
            return (dots * d ** -0.5).masked_fill(beyond, float("-inf"))

        (pk,), peer_times["pool_k"] = peer("moba pool k", lambda a: (pool(a, blk),), q)
        (psc,), peer_times["block_scores"] = peer("moba einsum+mask",
                                                  lambda a, b: (moba_scores(a, b),), q, pk)
        (pidx,), peer_times["select_topk"] = peer(
            "moba topk", lambda x: (select(x, 2, 0, 1, current_only=True),), psc)
        same_sel = float((pidx == idx.long()).all(-1).float().mean())
        # Flex over the same per-query blocks: a mask_mod reading them.
        chosen = torch.zeros(h, s, nb, dtype=torch.bool, device="cuda")
        chosen.scatter_(2, idx[0].long().clamp(min=0), True)
        chosen &= ~beyond[None]

        def moba_mod(b, hh, i, j):
            return chosen[hh, i, j // blk] & (j <= i)

        try:
            bm = create_block_mask(moba_mod, 1, h, s, s, _compile=True)
            (fo,), peer_times["attention"] = peer(
                "moba Flex mask_mod", lambda a: (flex(a, a, a, block_mask=bm),), q, rounds=3)
        except Exception as error:  # noqa: BLE001
            print(f"  (MoBA Flex: {str(error).splitlines()[0][:100]})", flush=True)
            fo = None
        # block_q = 1 lists, grouped (the default for 512-key blocks: a tile
        # of the queries that listed one kv block, partial results combined
        # by lse); the union walk (a 64-row tile over its rows' blocks, each
        # row masked to its own) timed beside it.
        (o, _), times["attention"] = stage("moba", s, "attention", q, q, q, num, idx)
        (ou, _), union_ms = stage("moba", s, "attention-union", q, q, q, num, idx)
        (wo, _), whole = stage("moba", s, "whole", q)
        (wio, _), whole_in_kernel = stage("moba", s, "whole-in-kernel", q)
        (_, _), whole_unfused = stage("moba", s, "whole-unfused", q)
        rows = [s - 1, s // 2 + 7, 600, 5]
        lists = idx[0].long().cpu()

        def moba_keys(hh, i):
            sel = lists[hh, i]
            keys = torch.cat([torch.arange(b * blk, (b + 1) * blk)
                              for b in sel.tolist() if b >= 0])
            return keys[keys <= i].cuda()

        want = attention_f64(q, q, q, rows, moba_keys)
        err = (o[0][:, rows].transpose(0, 1).double() - want).abs().max().item()
        union_err = (ou[0][:, rows].transpose(0, 1).double() - want).abs().max().item()
        flex_err = ((fo[0][:, rows].transpose(0, 1).double() - want).abs().max().item()
                    if fo is not None else 1.0)
        # The work: keys the rows attend (their lists under causal), keys
        # the union walk visits (each 64-row tile's union of blocks, up to
        # the tile's last row), and dense causal's, summed over heads.
        pos = torch.arange(s, device="cuda")
        row_keys = (chosen.float().sum(-1) * blk).sum().item()  # upper bound (last block partial)
        tile_union = chosen.view(h, s // 64, 64, nb).any(2)
        union_keys = (tile_union.float().sum(-1) * blk * 64).sum().item()  # 64 rows a tile
        dense_keys = h * float((pos + 1).sum())
        work = dict(row_keys_over_dense=row_keys / dense_keys,
                    union_keys_over_dense=union_keys / dense_keys)
        row = dict(case=f"moba-S{s}", config=dict(H=h, D=d, block=blk, k=2, local=1),
                   stages_ms=times, peer_stages_ms=peer_times, dense=dense(s, h, h, d, d),
                   selection_equal_to_torch=same_sel, max_err=err, flex_err=flex_err,
                   attention_path="row lists grouped by kv block (the union walk in union_attention_ms)",
                   union_attention_ms=union_ms, union_err=union_err, work=work,
                   whole_fused_ms=whole, whole_in_kernel_ms=whole_in_kernel,
                   whole_unfused_ms=whole_unfused,
                   whole_fused_err=(wo[0][:, rows].transpose(0, 1).double() - want).abs().max().item(),
                   whole_in_kernel_err=(wio[0][:, rows].transpose(0, 1).double() - want)
                   .abs().max().item(),
                   numerics_ok=same_sel > 0.99 and max(err, union_err) <= 2 * flex_err + 1e-3)
        finish(row)
        del q, sc, psc, chosen
        torch.cuda.empty_cache()

        # ---------------------------------------------------------------- DSA
        hq, d, dv, hi, di, topk = 16, 192, 128, 64, 128, 2048
        q, k, v = randn(1, hq, s, d), randn(1, 1, s, d), randn(1, 1, s, dv)
        qi, ki = randn(1, hi, s, di), randn(1, s, di)
        w = torch.rand(1, s, hi, generator=gen, device="cuda")
        times, peer_times = {}, {}
        (ti,), times["lightning_indexer"] = stage("dsa", s, "lightning_indexer", qi, ki, w)
        (o, _), times["attention"] = stage("dsa", s, "attention", q, k, v, ti)
        (pti,), peer_times["lightning_indexer"] = peer(
            "dsa torch indexer", lambda a, b, c: (torch_indexer(a, b, c),), qi, ki, w, rounds=2)
        same_sel = float((pti == ti.long()).all(-1).float().mean())

        def gathered(a, b, c, idx_):
            return (torch_gather_attention(a, b, c, idx_, d ** -0.5),)

        (go,), peer_times["attention"] = peer("dsa torch gather", gathered, q, k, v, ti, rounds=3)
        rows = [s - 1, s // 2 + 7, 3000 % s, 5]
        lists = ti[0].long().cpu()

        def dsa_keys(hh, i):
            sel = lists[i]
            return sel[sel >= 0].cuda()

        want = attention_f64(q, k, v, rows, dsa_keys)
        err = (o[0][:, rows].transpose(0, 1).double() - want).abs().max().item()
        torch_err = (go[0][:, rows].transpose(0, 1).double() - want).abs().max().item()
        (wo, _), whole = stage("dsa", s, "whole", q, k, v, qi, ki, w)
        (wio, _), whole_in_kernel = stage("dsa", s, "whole-in-kernel", q, k, v, qi, ki, w)
        (_, _), whole_unfused = stage("dsa", s, "whole-unfused", q, k, v, qi, ki, w)
        finish(dict(case=f"dsa-S{s}", config=dict(Hq=hq, Hkv=1, D=d, Dv=dv, HI=hi, DI=di, topk=topk),
                    whole_fused_ms=whole, whole_in_kernel_ms=whole_in_kernel,
                    whole_unfused_ms=whole_unfused,
                    whole_fused_err=(wo[0][:, rows].transpose(0, 1).double() - want)
                    .abs().max().item(),
                    whole_in_kernel_err=(wio[0][:, rows].transpose(0, 1).double() - want)
                    .abs().max().item(),
                    whole_in_kernel_equals_chain=bool(torch.equal(wio, o)),
                    stages_ms=times, peer_stages_ms=peer_times, dense=dense(s, hq, 1, d, dv),
                    selection_equal_to_torch=same_sel, max_err=err, torch_err=torch_err,
                    numerics_ok=err <= 2 * torch_err + 1e-3))
        del q, k, v, qi, ki, w, o, go
        torch.cuda.empty_cache()
    return numerics_verdict(results)


if __name__ == "__main__":
    sys.exit(build_or_run(build, run))
