# RUN: %python %s
"""sparse_attn.vertical_slash and block_sparse_attention's columns(...) on the
CPU path against the float64 golden model.

columns: random column lists (negative / oversized counts, -1, out-of-range
entries, duplicates) with and without block lists' entries, under causal /
no mask / a window, GQA list heads, list batch 1, f32 / bf16, dynamic dims.
vertical_slash: MHA / GQA, Sq = Skv / Sq < Skv / Sq > Skv, last_q above Sq,
budgets above Skv, sink / local, block_q != block_kv, partial blocks,
explicit scale, bf16, dynamic dims; the lists are compared exactly (inputs
are redrawn until no selection boundary is within 1e-4: f32 sums may order
near-ties differently from float64), then the chain vertical_slash ->
block_sparse_attention columns(...) {causal} against the golden attention,
and the allowed set checked to hold every pair of the exact vertical-slash
pattern.
"""

import numpy as np

import common as c
import golden as g

# ----------------------------------------------------------------------------
# block_sparse_attention with columns(...)
# ----------------------------------------------------------------------------

COLUMNS = [
    dict(op="columns", B=1, Hq=2, Hkv=2, Sq=64, Skv=64, D=16, block=(16, 16), list_heads=2,
         mask=g.Causal()),
    dict(op="columns", B=2, Hq=4, Hkv=2, Sq=50, Skv=70, D=32, block=(16, 32), list_heads=2,
         mask=None, list_batch=1),
    dict(op="columns", B=1, Hq=4, Hkv=1, Sq=40, Skv=40, D=16, block=(8, 16), list_heads=4,
         mask=g.SlidingWindow(12, 0), elt="bf16"),
    dict(op="columns", B=2, Hq=2, Hkv=1, Sq=33, Skv=65, D=16, block=(16, 16), list_heads=1,
         mask=g.Causal(), dyn=True, no_blocks=True),
    # Shapes the tensor-core kernels take (the GPU cases): column slots over
    # several kv tiles, partial last tiles, GQA lists.
    dict(op="columns", B=1, Hq=4, Hkv=2, Sq=256, Skv=256, D=64, block=(64, 64), list_heads=2,
         mask=g.Causal(), elt="bf16", columns=150),
    dict(op="columns", B=2, Hq=2, Hkv=1, Sq=200, Skv=320, D=128, block=(128, 64), list_heads=2,
         mask=g.Causal(), elt="bf16", columns=70, dyn=True),
    dict(op="columns", B=1, Hq=2, Hkv=2, Sq=192, Skv=192, D=64, block=(64, 128), list_heads=1,
         mask=g.SlidingWindow(40, 0), elt="f16", columns=64, list_batch=1),
]


def run_columns(case, rng):
    elt = case.get("elt", "f32")
    B, Hq, Hkv, Sq, Skv, D = (case[x] for x in ("B", "Hq", "Hkv", "Sq", "Skv", "D"))
    bq, bkv = case["block"]
    NQ, NK = -(-Sq // bq), -(-Skv // bkv)
    Bl = case.get("list_batch", B)
    Hl = case["list_heads"]
    q = c.randn(rng, (B, Hq, Sq, D), elt)
    k = c.randn(rng, (B, Hkv, Skv, D), elt)
    v = c.randn(rng, (B, Hkv, Skv, D), elt)
    num, idx = c.rand_block_lists(rng, Bl, Hl, NQ, 3, NK)
    if case.get("no_blocks"):
        num[:] = 0
    ncol, cidx = c.rand_block_lists(rng, Bl, Hl, NQ, case.get("columns", 9), Skv)
    dyn = (0, 2) if case.get("dyn") else ()
    ldyn = (0,) if case.get("dyn") else ()
    qT, kT = c.ttype(q.shape, elt, dyn), c.ttype(k.shape, elt, dyn)
    oT, lT = qT, c.ttype((B, Hq, Sq), "f32", dyn)
    nT, iT = c.ttype(num.shape, "i32", ldyn), c.ttype(idx.shape, "i32", ldyn)
    ncT, ciT = c.ttype(ncol.shape, "i32", ldyn), c.ttype(cidx.shape, "i32", ldyn)
    attrs = c.attr_dict(block=case["block"], mask=case.get("mask"))
    body = (f"  %o, %l = sparse_attn.block_sparse_attention %q, %k, %v, %n, %i "
            f"columns(%nc, %ci : {ncT}, {ciT}) {attrs}\n"
            f"      : {qT}, {kT}, {kT}, {nT}, {iT} -> {oT}, {lT}")
    text = c.func_text([("q", qT), ("k", kT), ("v", kT), ("n", nT), ("i", iT), ("nc", ncT),
                        ("ci", ciT)], body, [("o", oT), ("l", lT)])
    case["_ir"] = text
    want = g.block_sparse_attention(c.f64(q), c.f64(k), c.f64(v), num, idx, case["block"],
                                    mask=case.get("mask"), columns=(ncol, cidx))
    got = c.run_cpu(text, [q, k, v, num, idx, ncol, cidx])
    c.check_attention(got, want, elt)


# ----------------------------------------------------------------------------
# vertical_slash
# ----------------------------------------------------------------------------

VS = [
    dict(op="vertical_slash", B=1, Hq=2, Hkv=2, Sq=128, Skv=128, D=32, last_q=16, vertical=12,
         slash=6, sink=2, local=2, block=(32, 32)),
    dict(op="vertical_slash", B=2, Hq=4, Hkv=2, Sq=96, Skv=160, D=16, last_q=8, vertical=20,
         slash=5, sink=0, local=1, block=(16, 32)),
    dict(op="vertical_slash", B=1, Hq=2, Hkv=1, Sq=100, Skv=100, D=16, last_q=24, vertical=7,
         slash=9, sink=3, local=0, block=(32, 16), scale=0.4),
    dict(op="vertical_slash", B=1, Hq=2, Hkv=2, Sq=20, Skv=20, D=16, last_q=64, vertical=40,
         slash=30, sink=5, local=4, block=(8, 8)),
    dict(op="vertical_slash", B=1, Hq=2, Hkv=2, Sq=80, Skv=48, D=16, last_q=16, vertical=6,
         slash=4, sink=1, local=1, block=(16, 16)),
    dict(op="vertical_slash", B=2, Hq=4, Hkv=1, Sq=72, Skv=72, D=32, last_q=16, vertical=10,
         slash=4, sink=2, local=1, block=(16, 16), elt="bf16", dyn=True),
    dict(op="vertical_slash", B=1, Hq=4, Hkv=2, Sq=256, Skv=256, D=64, last_q=64, vertical=40,
         slash=6, sink=4, local=2, block=(64, 64), elt="bf16"),
]


def boundary_gap(scores, count, forced):
    """Smallest gap, over rows, between the last chosen and the first
    unchosen non-forced score (inf when nothing is left out)."""
    B, H, N = scores.shape
    if count >= N:
        return np.inf
    gap = np.inf
    for b in range(B):
        for h in range(H):
            rest = np.sort(scores[b, h, forced:])[::-1]
            n = count - min(forced, N)
            gap = min(gap, rest[n - 1] - rest[n]) if n >= 1 else gap
    return gap


def run_vertical_slash(case, rng):
    elt = case.get("elt", "f32")
    B, Hq, Hkv, Sq, Skv, D = (case[x] for x in ("B", "Hq", "Hkv", "Sq", "Skv", "D"))
    bq, bkv = case["block"]
    NQ, NK = -(-Sq // bq), -(-Skv // bkv)
    kw = dict(last_q=case["last_q"], vertical=case["vertical"], slash=case["slash"],
              sink=case["sink"], local=case["local"])
    for _ in range(50):
        q = c.randn(rng, (B, Hq, Sq, D), elt, std=2.0)
        k = c.randn(rng, (B, Hkv, Skv, D), elt)
        v = c.randn(rng, (B, Hkv, Skv, D), elt)
        (lists, (V, Dg, col, diag)) = g.vertical_slash(
            c.f64(q), c.f64(k), block=case["block"], scale=case.get("scale"), **kw)
        if (boundary_gap(col, kw["vertical"], kw["sink"]) > 1e-4 and
                boundary_gap(diag, kw["slash"], kw["local"]) > 1e-4):
            break
    else:
        raise AssertionError("no input without near-ties at the selection boundary")
    nb, bi, nc, ci = lists
    dyn = (0, 2) if case.get("dyn") else ()
    qT, kT = c.ttype(q.shape, elt, dyn), c.ttype(k.shape, elt, dyn)
    lt = lambda a: c.ttype(a.shape, "i32", (0, 2) if dyn else ())  # noqa: E731
    attrs = c.attr_dict(block=case["block"], scale=case.get("scale"), **kw)
    oT, lT = qT, c.ttype((B, Hq, Sq), "f32", dyn)
    body = (f"  %nb, %bi, %nc, %ci = sparse_attn.vertical_slash %q, %k {attrs}\n"
            f"      : {qT}, {kT} -> {lt(nb)}, {lt(bi)}, {lt(nc)}, {lt(ci)}\n"
            f"  %o, %l = sparse_attn.block_sparse_attention %q, %k, %v, %nb, %bi "
            f"columns(%nc, %ci : {lt(nc)}, {lt(ci)}) {{block = [{bq}, {bkv}], "
            f"mask = #sparse_attn.causal}}\n"
            f"      : {qT}, {kT}, {kT}, {lt(nb)}, {lt(bi)} -> {oT}, {lT}")
    text = c.func_text([("q", qT), ("k", kT), ("v", kT)], body,
                       [("nb", lt(nb)), ("bi", lt(bi)), ("nc", lt(nc)), ("ci", lt(ci)),
                        ("o", oT), ("l", lT)])
    case["_ir"] = text
    got = c.run_cpu(text, [q, k, v])
    for name, x, w in zip(("num_blocks", "block_indices", "num_columns", "column_indices"),
                          got[:4], lists):
        c.check_exact(name, x, w)
    want = g.block_sparse_attention(c.f64(q), c.f64(k), c.f64(v), nb, bi, case["block"],
                                    mask=g.Causal(), columns=(nc, ci))
    c.check_attention(got[4:], want, elt)

    # The allowed set holds every pair of the exact pattern: j <= p and
    # (j a chosen column or p - j a chosen diagonal).
    I = np.arange(Sq) // bq
    blocks = g.listed_blocks(nb, bi, B, Hq, NK)[:, :, I][:, :, :, np.arange(Skv) // bkv]
    columns = g.listed_blocks(nc, ci, B, Hq, Skv)[:, :, I]
    p = np.arange(Sq)[:, None] + (Skv - Sq)
    j = np.arange(Skv)[None, :]
    diag_of = np.clip(p - j, 0, Skv - 1)
    exact = (j <= p) & (V[:, :, None, :] | np.take_along_axis(
        Dg[:, :, None, :], np.broadcast_to(diag_of, (B, Hq, Sq, Skv)), axis=3))
    missed = exact & ~(blocks | columns)
    if missed.any():
        raise c.Mismatch(f"pattern pair {tuple(np.argwhere(missed)[0])} not allowed")


def run_case(case, rng):
    {"columns": run_columns, "vertical_slash": run_vertical_slash}[case["op"]](case, rng)


if __name__ == "__main__":
    c.exit_with(c.main(COLUMNS + VS, run_case, "vertical_slash"))
