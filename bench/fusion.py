"""Selection fused with attention (issue 16's benchmark): NSA's chain
(pool q and k, GQA-shared block_scores, select_topk or select_threshold,
block_sparse_attention) as one function, compiled

- fused: sparse-attn-to-ptx-pipeline with nvgpu-options={in-kernel-selection=true}
  (sparse-attn-fuse-selection, then two pool launches and one attention
  launch whose blocks select their own lists; FusedSelection.cpp; without
  the option, the pipeline's default, the fused op runs as its chain's
  kernels: the unfused times);
- unfused: the same function with fuse-selection=false (pool, pool,
  block_scores, the selection and the attention: five launches);
- attention alone: block_sparse_attention on the lists the unfused chain
  selected (the floor the fused total is held to: <= 1.1x of it);
- peer: eager PyTorch selection (pool by view+mean, einsum + masked_fill,
  topk or a sort/cumsum threshold with the forced blocks) feeding
  FlexAttention over the same lists (BlockMask.from_kv_blocks, causal
  mask_mod).

Numerics: the fused and unfused outputs of every head at 4 query rows
against float64 attention over the unfused chain's lists (the fused kernel
selects in its own summation order, so a near-tie may pick another block:
the max difference between fused and unfused outputs is reported too).
Global-memory traffic (bytes, from the launch plan's shapes): the scores
and lists the unfused chain writes and reads, and the pooled rows the fused
kernel's blocks read instead.

Cases (bf16, B = 1, D = 128, causal, 64-token blocks, Hq = 64, Hkv = 4):
nsa (k = 13, sink = 1, local = 2), threshold-0.9 and threshold-0.95
(mass, max_blocks = 32, sink = 1, local = 2); S = 8192 and 32768.

  PYTHONPATH=build/python_packages /usr/bin/python3 bench/fusion.py build build/bench-fusion
  PYTHONPATH=python-bindings python3 bench/fusion.py run build/bench-fusion OUT_DIR
"""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from chains import func, t  # noqa: E402
from cli import build_or_run, numerics_verdict  # noqa: E402

SIZES = (8192, 32768)
HQ, HKV, D, BLK = 64, 4, 128, 64
# The query heads a fused block computes over one selection: the GQA
# group (SparseAttnToNVGPU.cpp).
HEADS_PER_BLOCK = HQ // HKV
SELECTORS = {
    "nsa": dict(k=13, sink=1, local=2),
    "threshold-0.9": dict(mass=0.9, max_blocks=32, sink=1, local=2),
    "threshold-0.95": dict(mass=0.95, max_blocks=32, sink=1, local=2),
}


def capacity(sel):
    return sel.get("k", sel.get("max_blocks")) + sel["sink"] + sel["local"]


def select_line(sel, sc, num, idx):
    if "k" in sel:
        attrs = f"k = {sel['k']}, sink = {sel['sink']}, local = {sel['local']}"
        return f"  %n, %i = sparse_attn.select_topk %s {{{attrs}}} : {sc} -> {num}, {idx}"
    attrs = (f"mass = {sel['mass']} : f32, max_blocks = {sel['max_blocks']}, sink = {sel['sink']}, "
             f"local = {sel['local']}")
    return f"  %n, %i = sparse_attn.select_threshold %s {{{attrs}}} : {sc} -> {num}, {idx}"


def functions(s, sel):
    nb, c = s // BLK, capacity(sel)
    q, kv = t((1, HQ, s, D), "bf16"), t((1, HKV, s, D), "bf16")
    qp, kp = t((1, HQ, nb, D), "f32"), t((1, HKV, nb, D), "f32")
    sc = t((1, HKV, nb, nb), "f32")
    num, idx = t((1, HKV, nb), "i32"), t((1, HKV, nb, c), "i32")
    o, lse = t((1, HQ, s, D), "bf16"), t((1, HQ, s), "f32")
    lists = "\n".join([
        f"  %qp = sparse_attn.pool mean %q {{block = {BLK}}} : {q} -> {qp}",
        f"  %kp = sparse_attn.pool mean %k {{block = {BLK}}} : {kv} -> {kp}",
        f"  %s = sparse_attn.block_scores %qp, %kp {{mask = #sparse_attn.causal, block = [{BLK}, {BLK}], "
        f"q_len = {s}, kv_len = {s}}} : {qp}, {kp} -> {sc}",
        select_line(sel, sc, num, idx)])
    attention = (f"  %o, %l = sparse_attn.block_sparse_attention %q, %k, %v, %n, %i {{block = [{BLK}, {BLK}], "
                 f"mask = #sparse_attn.causal}} : {q}, {kv}, {kv}, {num}, {idx} -> {o}, {lse}")
    return {
        "chain": func([("q", q), ("k", kv), ("v", kv)], lists + "\n" + attention,
                      [("o", o), ("l", lse)]),
        "lists": func([("q", q), ("k", kv)], lists, [("n", num), ("i", idx)]),
        "attention": func([("q", q), ("k", kv), ("v", kv), ("n", num), ("i", idx)], attention,
                          [("o", o), ("l", lse)]),
    }


def traffic(s, sel, pooled_rows_read):
    """Global bytes of the selection's intermediates (unfused) and of the
    pooled rows the fused kernel's blocks read."""
    nb, c = s // BLK, capacity(sel)
    scores = HKV * nb * nb * 4
    lists = HKV * nb * (1 + c) * 4
    # Unfused: block_scores reads the pooled q and k once, writes the
    # scores; the selection reads them and writes the lists; the attention
    # reads the lists (once per query head).
    unfused = (HQ + HKV) * nb * D * 4 + scores + scores + lists + lists * (HQ // HKV)
    return dict(unfused_selection_bytes=unfused, fused_selection_bytes=pooled_rows_read,
                scores_bytes=scores, lists_bytes=lists)


def build(out, chip):
    import sparse_attn  # noqa: PLC0415

    for name, sel in SELECTORS.items():
        for s in SIZES:
            fns = functions(s, sel)
            base = os.path.join(out, f"{name}-{s}")
            sparse_attn.compile_gpu(fns["chain"], "f", chip,
                                    "nvgpu-options={in-kernel-selection=true}").save(base + "-fused")
            sparse_attn.compile_gpu(fns["chain"], "f", chip, "fuse-selection=false").save(
                base + "-unfused")
            sparse_attn.compile_gpu(fns["lists"], "f", chip).save(base + "-lists")
            sparse_attn.compile_gpu(fns["attention"], "f", chip).save(base + "-attention")
            print(base, flush=True)


def run(artifacts, out):
    import torch  # noqa: PLC0415
    from torch.nn.attention.flex_attention import BlockMask  # noqa: PLC0415

    from run import save, start_run, time_ms  # noqa: PLC0415

    from sparse_attn import runtime  # noqa: PLC0415

    props, flex, gen, path = start_run(out, "fusion")
    results = []

    def load(name):
        return runtime.load(os.path.join(artifacts, name))

    for s in SIZES:
        nb = s // BLK
        q = torch.randn(1, HQ, s, D, generator=gen, device="cuda", dtype=torch.bfloat16)
        k = torch.randn(1, HKV, s, D, generator=gen, device="cuda", dtype=torch.bfloat16)
        v = torch.randn(1, HKV, s, D, generator=gen, device="cuda", dtype=torch.bfloat16)
        blocks = torch.arange(nb, device="cuda")
        above = blocks[None, :] > blocks[:, None]

        def pool(x):
            return x.view(x.shape[0], x.shape[1], -1, BLK, x.shape[-1]).float().mean(3)

        def scores_of(a, b):
            dots = torch.einsum("bhgid,bhjd->bhij", a.view(1, HKV, HQ // HKV, nb, D), b)
            return (dots * D ** -0.5).masked_fill(above, float("-inf"))

        def forced_of(scores, sink, local):
            fin = ~torch.isneginf(scores)
            first = fin & (fin.int().cumsum(-1) <= sink)
            last = fin & (fin.int().flip(-1).cumsum(-1).flip(-1) <= local)
            return first | last

        def as_lists(chosen, cap):
            key = torch.where(chosen, blocks.float(), float(nb))
            ind = key.sort(-1).values[..., :cap].long()
            return torch.where(ind == nb, -1, ind)

        def select_topk(scores, sel):
            forced = forced_of(scores, sel["sink"], sel["local"])
            cand = scores.masked_fill(forced, float("-inf"))
            vals, ind = cand.topk(sel["k"], dim=-1)
            taken = torch.zeros_like(forced).scatter_(-1, ind, ~torch.isneginf(vals))
            return as_lists(forced | taken, capacity(sel))

        def select_threshold(scores, sel):
            fin = ~torch.isneginf(scores)
            forced = forced_of(scores, sel["sink"], sel["local"])
            m = scores.amax(-1, keepdim=True)
            w = torch.where(fin, torch.exp(scores - m), 0.0)
            total = w.sum(-1, keepdim=True)
            taken = (w * forced).sum(-1, keepdim=True)
            cand = scores.masked_fill(forced, float("-inf"))
            vals, ind = cand.sort(-1, descending=True)
            ws = torch.where(torch.isneginf(vals), 0.0, w.gather(-1, ind))
            before = taken + ws.cumsum(-1) - ws
            rank = torch.arange(nb, device="cuda")
            take = (before < sel["mass"] * total) & ~torch.isneginf(vals) & (rank < sel["max_blocks"])
            return as_lists(forced | torch.zeros_like(forced).scatter_(-1, ind, take),
                            capacity(sel))

        for name, sel in SELECTORS.items():
            base = f"{name}-{s}"
            fused, unfused = load(base + "-fused"), load(base + "-unfused")
            lists_fn, attention = load(base + "-lists"), load(base + "-attention")
            num, idx = lists_fn(q, k)
            fo, _ = fused(q, k, v)
            uo, _ = unfused(q, k, v)
            fused_ms, unfused_ms, attention_ms = time_ms(
                lambda a, b, c: fused(a, b, c), lambda a, b, c: unfused(a, b, c),
                lambda a, b, c: attention(a, b, c, num, idx), inputs=[(q, k, v)])
            select = select_topk if "k" in sel else select_threshold

            def peer_selection(a, b):
                return select(scores_of(pool(a), pool(b)), sel)

            pidx = peer_selection(q, k)
            same_sel = float((pidx == idx.long()).all(-1).float().mean())
            kv_num = num.repeat_interleave(HQ // HKV, 1)
            kv_idx = torch.zeros(1, HQ, nb, nb, dtype=torch.int32, device="cuda")
            kv_idx[..., :capacity(sel)] = idx.clamp(min=0).repeat_interleave(HQ // HKV, 1)

            def peer(a, b, c):
                lists = peer_selection(a, b)
                n = (lists >= 0).sum(-1).int().repeat_interleave(HQ // HKV, 1)
                ii = torch.zeros(1, HQ, nb, nb, dtype=torch.int32, device="cuda")
                ii[..., :lists.shape[-1]] = lists.clamp(min=0).int().repeat_interleave(HQ // HKV, 1)
                bm = BlockMask.from_kv_blocks(n, ii, BLOCK_SIZE=BLK,
                                              mask_mod=lambda b_, h, i, j: i >= j,
                                              seq_lengths=(s, s))
                return flex(a, b, c, block_mask=bm, enable_gqa=True,
                            kernel_options={"BLOCK_M": BLK, "BLOCK_N": BLK})

            peer_out = peer(q, k, v)
            peer_ms = time_ms(peer, inputs=[(q, k, v)], rounds=3)
            # float64 at 4 rows over the unfused lists.
            rows = [s - 1, s // 2 + 7, 100, 5]
            lists = idx[0].long().cpu()
            want = []
            for i in rows:
                per_head = []
                for h in range(HQ):
                    sel_blocks = lists[h // (HQ // HKV), i // BLK]
                    keys = torch.cat([torch.arange(b * BLK, (b + 1) * BLK)
                                      for b in sel_blocks.tolist() if b >= 0])
                    keys = keys[keys <= i].cuda()
                    kk = k[0, h // (HQ // HKV), keys].double()
                    sc = kk @ q[0, h, i].double() * D ** -0.5
                    per_head.append(torch.softmax(sc, 0) @ v[0, h // (HQ // HKV), keys].double())
                want.append(torch.stack(per_head))
            want = torch.stack(want)

            def err(o):
                return (o[0][:, rows].transpose(0, 1).double() - want).abs().max().item()

            # Pooled rows the fused kernel's blocks read: per block (query
            # block, HEADS_PER_BLOCK heads of a group: convert-sparse-attn-
            # to-nvgpu's rule) the group's pooled query rows and the
            # occupied kv blocks' pooled keys (causal: I + 1 of them).
            pooled_read = (HQ // HEADS_PER_BLOCK) * sum(
                (HQ // HKV) * D * 4 + (i + 1) * D * 4 for i in range(nb))
            listed = float((idx >= 0).sum(-1).float().mean())
            # The attention's own K and V reads (each listed block's keys
            # and values per query block and head), for scale.
            kv_read = int(HQ * (idx >= 0).sum().item() // HKV * BLK * D * 2 * 2)
            row = dict(case=base, config=dict(Hq=HQ, Hkv=HKV, D=D, block=BLK, S=s, **sel),
                       fused_ms=fused_ms, unfused_ms=unfused_ms, attention_alone_ms=attention_ms,
                       peer_ms=peer_ms, fused_over_attention=fused_ms / attention_ms,
                       unfused_over_fused=unfused_ms / fused_ms, peer_over_fused=peer_ms / fused_ms,
                       mean_listed_blocks=listed, selection_equal_to_torch=same_sel,
                       fused_err=err(fo), unfused_err=err(uo), peer_err=err(peer_out),
                       fused_vs_unfused_max_diff=(fo.float() - uo.float()).abs().max().item(),
                       traffic=dict(traffic(s, sel, pooled_read), attention_kv_bytes=kv_read,
                                    heads_per_block=HEADS_PER_BLOCK))
            row["numerics_ok"] = (row["unfused_err"] <= 2 * row["peer_err"] + 1e-3 and
                                  row["fused_err"] <= 2 * row["peer_err"] + 1e-3)
            results.append(row)
            print(f"{base:22s} fused {fused_ms:8.3f} ms  unfused {unfused_ms:8.3f}  attention alone "
                  f"{attention_ms:8.3f} (fused/alone {fused_ms / attention_ms:.3f})  peer "
                  f"{peer_ms:8.3f}  blocks/row {listed:.1f}  sel==torch {same_sel:.3f}  err "
                  f"{row['fused_err']:.2e}/{row['unfused_err']:.2e}/{row['peer_err']:.2e}",
                  flush=True)
            save(results, props, path, method=__doc__)
        del q, k, v
        torch.cuda.empty_cache()
    return numerics_verdict(results)


if __name__ == "__main__":
    sys.exit(build_or_run(build, run))
