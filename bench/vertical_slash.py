"""MInference's vertical-slash attention (issue 16's benchmark): causal
block_sparse_attention with columns(...) over the lists `vertical_slash`
defines, against FlexAttention over the same pairs and dense causal SDPA.

Four timings per case:

- estimator: our `vertical_slash` op alone (its four launches: the tail's
  softmax statistics and column / diagonal sums by mma.sync, two radix
  selections, the per-query-block lists);
- total: `vertical_slash` -> `block_sparse_attention ... columns(...)` as
  one compiled function (the default pipeline: the attention takes the
  op's lists straight from it);
- attention alone on lists built on the GPU by eager PyTorch with exactly
  the op's rule (docs/semantics.md), as below;
- the peer path: the same eager PyTorch estimator (softmax of the last 64
  queries, column sums, diagonal sums by one gather, top-k, the crossed
  blocks by searchsorted, the columns they miss), the BlockMask built from
  its lists, FlexAttention.

The op's lists are compared with the eager ones (equal up to the f32
summation order at near-ties): the fraction of (head, query block) rows
whose block list and column list are identical.

- ours: block_sparse_attention {causal} with the block lists and
  columns(...), compiled with nvgpu-options={trust-column-lists=true} (the
  lists come in as arguments; they are the op's) (the tensor-core kernel walks each query tile's crossed
  blocks, then its column slots gathered 64 at a time);
- FlexAttention: a BlockMask of the crossed blocks plus the blocks holding a
  chosen column, mask_mod = causal & (block crossed | column chosen): the
  same pairs (compiled, Triton backend);
- dense: causal SDPA (the flash / cuDNN backend torch picks), for scale.

Numerics: ours and Flex at 4 query rows of every head against float64 over
the same allowed keys.

Inputs: q = 2 f + noise, k = f + noise with rotary-like features f of the
position (cos / sin at 64 frequencies), v random.

Cases (bf16, B = 1, D = 128, 64-token blocks, Hq = 32, Hkv = 8, Llama-3-8B's
heads; MInference's budgets: vertical 1000, slash 6096, sink 30, local 100,
last_q 64): S = 8192 and 32768. Effective TFLOP/s count 4 * D flops per
allowed pair (QK^T and PV).

  PYTHONPATH=build/python_packages /usr/bin/python3 bench/vertical_slash.py build build/bench-vs
  PYTHONPATH=python-bindings python3 bench/vertical_slash.py run build/bench-vs OUT_DIR
"""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from chains import func, t  # noqa: E402
from cli import build_or_run, numerics_verdict  # noqa: E402

SIZES = (8192, 32768)
HQ, HKV, D, BLK = 32, 8, 128, 64
BUDGET = dict(vertical=1000, slash=6096, sink=30, local=100, last_q=64)


def block_capacity(s):
    nk = s // BLK
    return min(nk, min(BUDGET["slash"], s) * 2)


def attention_function(s):
    nq = s // BLK
    q, kv = t((1, HQ, s, D), "bf16"), t((1, HKV, s, D), "bf16")
    num, idx = t((1, HQ, nq), "i32"), t((1, HQ, nq, block_capacity(s)), "i32")
    cols = t((1, HQ, nq, BUDGET["vertical"]), "i32")
    o, lse = t((1, HQ, s, D), "bf16"), t((1, HQ, s), "f32")
    body = (f"  %o, %l = sparse_attn.block_sparse_attention %q, %k, %v, %n, %i "
            f"columns(%nc, %ci : {num}, {cols}) {{block = [{BLK}, {BLK}], "
            f"mask = #sparse_attn.causal}} : {q}, {kv}, {kv}, {num}, {idx} -> {o}, {lse}")
    return func([("q", q), ("k", kv), ("v", kv), ("n", num), ("i", idx), ("nc", num),
                 ("ci", cols)], body, [("o", o), ("l", lse)])


def estimator_text(s):
    nq = s // BLK
    q, kv = t((1, HQ, s, D), "bf16"), t((1, HKV, s, D), "bf16")
    num, idx = t((1, HQ, nq), "i32"), t((1, HQ, nq, block_capacity(s)), "i32")
    cols = t((1, HQ, nq, BUDGET["vertical"]), "i32")
    attrs = ", ".join(f"{name} = {value}" for name, value in BUDGET.items())
    line = (f"  %n, %i, %nc, %ci = sparse_attn.vertical_slash %q, %k {{{attrs}, "
            f"block = [{BLK}, {BLK}]}} : {q}, {kv} -> {num}, {idx}, {num}, {cols}")
    return line, (q, kv, num, idx, cols)


def estimator_function(s):
    line, (q, kv, num, idx, cols) = estimator_text(s)
    return func([("q", q), ("k", kv)], line, [("n", num), ("i", idx), ("nc", num), ("ci", cols)])


def chain_function(s):
    line, (q, kv, num, idx, cols) = estimator_text(s)
    o, lse = t((1, HQ, s, D), "bf16"), t((1, HQ, s), "f32")
    body = (line + "\n"
            f"  %o, %l = sparse_attn.block_sparse_attention %q, %k, %v, %n, %i "
            f"columns(%nc, %ci : {num}, {cols}) {{block = [{BLK}, {BLK}], "
            f"mask = #sparse_attn.causal}} : {q}, {kv}, {kv}, {num}, {idx} -> {o}, {lse}")
    return func([("q", q), ("k", kv), ("v", kv)], body, [("o", o), ("l", lse)])


def build(out, chip):
    import sparse_attn  # noqa: PLC0415

    for s in SIZES:
        base = os.path.join(out, f"vertical-slash-{s}")
        # The lists are the op's (distinct columns outside the crossed
        # blocks): the kernel may take them from arguments.
        sparse_attn.compile_gpu(attention_function(s), "f", chip,
                                "nvgpu-options={trust-column-lists=true}").save(base)
        sparse_attn.compile_gpu(estimator_function(s), "f", chip).save(base + "-estimator")
        sparse_attn.compile_gpu(chain_function(s), "f", chip).save(base + "-chain")
        print(base, flush=True)


def vertical_slash_lists(torch, q, k, s):
    """The op's lists (docs/semantics.md), eagerly: (num, idx, ncol, cols,
    crossed [H, NQ, NK], vmask [H, S])."""
    L, V, S_, sink, local = (BUDGET["last_q"], BUDGET["vertical"], BUDGET["slash"],
                             BUDGET["sink"], BUDGET["local"])
    nq = nk = s // BLK
    g = HQ // HKV
    kk = k[0].repeat_interleave(g, 0).float()
    tail = q[0, :, s - L:].float()
    sc = torch.einsum("hrd,hjd->hrj", tail, kk) * D ** -0.5
    pos = torch.arange(s - L, s, device="cuda")
    keys = torch.arange(s, device="cuda")
    sc = sc.masked_fill(keys[None, None, :] > pos[None, :, None], float("-inf"))
    p = torch.softmax(sc, -1)
    col = p.sum(1)
    col[:, :sink] = float("inf")
    # diag[d] = sum_r p[r, pos_r - d]: one gather.
    j = pos[:, None] - keys[None, :]  # [L, S]
    diag = (torch.gather(p, 2, j.clamp(min=0)[None].expand(HQ, L, s)) *
            (j >= 0)[None]).sum(1)
    diag[:, :local] = float("inf")
    vsel = torch.sort(col.topk(min(V, s), -1).indices, -1).values
    dsel = torch.sort(diag.topk(min(S_, s), -1).indices, -1).values
    blocks = torch.arange(nk, device="cuda")
    p_lo = blocks * BLK  # Sq == Skv: p = i
    p_hi = p_lo + BLK - 1
    lo = p_lo[:, None] - (blocks[None, :] * BLK + BLK - 1)
    hi = p_hi[:, None] - blocks[None, :] * BLK
    dd = dsel.contiguous()
    cnt_hi = torch.searchsorted(dd, hi.reshape(1, -1).expand(HQ, -1).contiguous(), right=True)
    cnt_lo = torch.searchsorted(dd, lo.reshape(1, -1).expand(HQ, -1).contiguous(), right=False)
    crossed = (cnt_hi > cnt_lo).view(HQ, nq, nk)
    cap = block_capacity(s)
    key = torch.where(crossed, blocks.float(), float(nk))
    ind = key.sort(-1).values[..., :cap].long()
    idx = torch.where(ind == nk, -1, ind).int()
    num = crossed.sum(-1).int()
    vb = vsel // BLK  # [H, V]
    in_block = torch.gather(crossed, 2, vb[:, None, :].expand(HQ, nq, vsel.shape[-1]))
    keep = (vsel[:, None, :] <= p_hi[None, :, None]) & ~in_block
    slots = torch.arange(vsel.shape[-1], device="cuda").float()
    order = torch.where(keep, slots, float(V)).sort(-1).values.long()
    picked = torch.gather(vsel[:, None, :].expand(HQ, nq, -1), 2, order.clamp(max=V - 1))
    cols = torch.where(order >= V, -1, picked).int()
    ncol = keep.sum(-1).int()
    vmask = torch.zeros(HQ, s, dtype=torch.bool, device="cuda")
    vmask.scatter_(1, vsel, True)
    return num[None], idx[None], ncol[None], cols[None], crossed, vmask


def run(artifacts, out):
    import torch  # noqa: PLC0415
    import torch.nn.functional as F  # noqa: PLC0415
    from torch.nn.attention.flex_attention import BlockMask  # noqa: PLC0415

    from run import save, start_run, time_ms  # noqa: PLC0415

    from sparse_attn import runtime  # noqa: PLC0415

    props, flex, gen, path = start_run(out, "vertical-slash")
    results = []
    for s in SIZES:
        nq = s // BLK
        # Rotary-like features (scores fall off with the distance i - j, as
        # in real models, so the slashes gather near the diagonal) plus
        # noise; random q and k alone would spread the chosen diagonals over
        # every block.
        t_ = torch.arange(s, device="cuda", dtype=torch.float32)
        freq = 10000.0 ** (-torch.arange(D // 2, device="cuda") / (D // 2))
        feat = torch.cat([torch.cos(t_[:, None] * freq), torch.sin(t_[:, None] * freq)], -1)
        q = (2 * feat + 0.5 * torch.randn(1, HQ, s, D, generator=gen, device="cuda")).bfloat16()
        k = (feat + 0.5 * torch.randn(1, HKV, s, D, generator=gen, device="cuda")).bfloat16()
        v = torch.randn(1, HKV, s, D, generator=gen, device="cuda", dtype=torch.bfloat16)
        num, idx, ncol, cols, crossed, vmask = vertical_slash_lists(torch, q, k, s)
        base = os.path.join(artifacts, f"vertical-slash-{s}")
        ours = runtime.load(base)
        estimator = runtime.load(base + "-estimator")
        chain = runtime.load(base + "-chain")
        oo, _ = ours(q, k, v, num, idx, ncol, cols)
        en, ei, enc, eci = estimator(q, k)
        same_blocks = ((en == num) & (ei == idx).all(-1)).float().mean().item()
        same_columns = ((enc == ncol) & (eci == cols).all(-1)).float().mean().item()
        co, _ = chain(q, k, v)

        # FlexAttention over the same pairs.
        blocks = torch.arange(nq, device="cuda")

        # The mask_mod reads these buffers (one function for the compiled
        # Flex; the peer's total path refills them).
        crossed_buf, vmask_buf = crossed.clone(), vmask.clone()

        def mask_mod(b, h, i, j):
            return (i >= j) & (crossed_buf[h, i // BLK, j // BLK] | vmask_buf[h, j])

        def flex_mask():
            col_blocks = vmask_buf.view(HQ, nq, BLK).any(-1)  # [H, NK]
            union = crossed_buf | (col_blocks[:, None, :] &
                                   (blocks[None, None, :] <= blocks[None, :, None]))
            fkey = torch.where(union, blocks.float(), float(nq))
            find = fkey.sort(-1).values.long()
            fidx = torch.where(find == nq, 0, find).int()[None]
            fnum = union.sum(-1).int()[None]
            return BlockMask.from_kv_blocks(fnum, fidx, BLOCK_SIZE=BLK, mask_mod=mask_mod,
                                            seq_lengths=(s, s))

        bm = flex_mask()

        def peer(a, b, c):
            return flex(a, b, c, block_mask=bm, enable_gqa=True,
                        kernel_options={"BLOCK_M": BLK, "BLOCK_N": BLK})

        def peer_total(a, b, c):
            lists = vertical_slash_lists(torch, a, b, s)
            crossed_buf.copy_(lists[4])
            vmask_buf.copy_(lists[5])
            return flex(a, b, c, block_mask=flex_mask(), enable_gqa=True,
                        kernel_options={"BLOCK_M": BLK, "BLOCK_N": BLK})

        def dense(a, b, c):
            return F.scaled_dot_product_attention(a, b, c, is_causal=True, enable_gqa=True)

        po = peer(q, k, v)
        ours_ms, est_ms, total_ms, peer_ms, peer_sel_ms, peer_total_ms, dense_ms = time_ms(
            lambda a, b, c: ours(a, b, c, num, idx, ncol, cols),
            lambda a, b, c: estimator(a, b), chain, peer,
            lambda a, b, c: vertical_slash_lists(torch, a, b, s), peer_total, dense,
            inputs=[(q, k, v)])
        # Allowed pairs (for TFLOP/s): per head and row, causal keys in a
        # crossed block or a chosen column.
        pos = torch.arange(s, device="cuda")
        pairs = 0
        for h in range(HQ):
            # Crossed blocks below the diagonal: all pairs; on it: causal.
            diag_pairs = (crossed[h] & (blocks[None, :] < blocks[:, None])).sum() * BLK * BLK
            diag_pairs += crossed[h].diagonal().sum() * BLK * (BLK + 1) // 2
            vcols = vmask[h].nonzero()[:, 0]
            in_blk = crossed[h][:, vcols // BLK]  # [NQ, V]
            # rows of block I seeing column j: rows i >= j inside the block.
            row_lo = blocks * BLK
            seen = (row_lo[:, None] + BLK - vcols[None, :]).clamp(0, BLK)
            pairs += int(diag_pairs) + int((seen * ~in_blk).sum())
        flops = 4.0 * D * pairs
        rows = [s - 1, s // 2 + 7, 100, 5]
        want = []
        for i in rows:
            per_head = []
            for h in range(HQ):
                keys = pos[(pos <= i) & (crossed[h, i // BLK][pos // BLK] | vmask[h])]
                kv_h = h // (HQ // HKV)
                sc = k[0, kv_h, keys].double() @ q[0, h, i].double() * D ** -0.5
                per_head.append(torch.softmax(sc, 0) @ v[0, kv_h, keys].double())
            want.append(torch.stack(per_head))
        want = torch.stack(want)

        def err(o):
            return (o[0][:, rows].transpose(0, 1).double() - want).abs().max().item()

        row = dict(case=f"vertical-slash-{s}", config=dict(Hq=HQ, Hkv=HKV, D=D, block=BLK, S=s,
                                                         **BUDGET),
                   ours_ms=ours_ms, estimator_ms=est_ms, total_ms=total_ms,
                   peer_selection_ms=peer_sel_ms, peer_total_ms=peer_total_ms,
                   total_over_attention=total_ms / ours_ms,
                   peer_total_over_total=peer_total_ms / total_ms,
                   same_block_rows=same_blocks, same_column_rows=same_columns,
                   flex_ms=peer_ms, dense_causal_ms=dense_ms,
                   flex_over_ours=peer_ms / ours_ms, dense_over_ours=dense_ms / ours_ms,
                   allowed_pairs=pairs, density=pairs / (s * (s + 1) / 2 * HQ),
                   ours_tflops=flops / ours_ms / 1e9, flex_tflops=flops / peer_ms / 1e9,
                   mean_blocks=float(num.float().mean()), mean_columns=float(ncol.float().mean()),
                   ours_err=err(oo), flex_err=err(po), total_err=err(co))
        row["numerics_ok"] = row["ours_err"] <= 2 * row["flex_err"] + 1e-3
        results.append(row)
        print(f"{row['case']:22s} ours {ours_ms:8.3f} ms ({row['ours_tflops']:.0f} TFLOP/s)  flex "
              f"{peer_ms:8.3f} ({row['flex_tflops']:.0f})  flex/ours {peer_ms / ours_ms:.2f}  dense "
              f"causal {dense_ms:8.3f}  density {row['density']:.3f}  blocks/row "
              f"{row['mean_blocks']:.1f}  columns/row {row['mean_columns']:.1f}  err "
              f"{row['ours_err']:.2e}/{row['flex_err']:.2e}", flush=True)
        print(f"{'':22s} estimator {est_ms:8.3f} ms  total {total_ms:8.3f} "
              f"({total_ms / ours_ms:.2f}x attention)  peer selection {peer_sel_ms:8.3f}  peer "
              f"total {peer_total_ms:8.3f} ({peer_total_ms / total_ms:.2f}x ours)  same lists "
              f"{same_blocks:.3f}/{same_columns:.3f}  total err {row['total_err']:.2e}",
              flush=True)
        save(results, props, path, method=__doc__)
        del q, k, v
        torch.cuda.empty_cache()
    return numerics_verdict(results)


if __name__ == "__main__":
    sys.exit(build_or_run(build, run))
