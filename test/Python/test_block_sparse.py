# RUN: %python %s
"""sparse_attn.block_sparse_attention (and block_mask feeding it) on the CPU
path against the float64 golden model.

Covers every list broadcast form (list batch 1 or B; list heads 1, Hkv, Hq),
random lists with counts > capacity, negative counts, -1 / out-of-range /
INT32_MIN / INT32_MAX entries and duplicates, exact and superset lists
(equal to masked attention), partial last blocks on both sides, block_q = 1
(MoBA), decode, Sq != Skv both ways, masks incl. document with absent ids,
mask_mod / score_mod, f32 / f16 / bf16, static and dynamic dims; full
block lists (`full(...)`): block_mask's exact partial/full split, and
random full lists overlapping the first pair, with junk entries, duplicates
and their own capacity, under masks and mods they bypass.
"""

import numpy as np

import common as c
import golden as g

CASES = [
    dict(B=1, Hq=4, Hkv=2, Sq=128, Skv=128, D=64, Dv=64, block=[32, 32], lists=("1", "1"), C=4),
    dict(B=2, Hq=4, Hkv=2, Sq=129, Skv=129, D=16, Dv=32, block=[16, 32], lists=("B", "Hkv"), C=3,
         mask=g.Causal(), dyn=(0, 2), list_dyn=(0, 2, 3)),
    dict(B=2, Hq=8, Hkv=1, Sq=127, Skv=127, D=128, Dv=64, block=[64, 16], lists=("B", "Hq"), C=9,
         mask=g.SlidingWindow(20, 0)),
    dict(B=2, Hq=4, Hkv=2, Sq=17, Skv=1000, D=16, Dv=16, block=[8, 128], lists=("1", "Hkv"), C=5,
         mask=g.SinkWindow(4, 64), elt="f16", dyn=(0, 2)),
    dict(B=2, Hq=2, Hkv=1, Sq=1000, Skv=17, D=16, Dv=16, block=[100, 5], lists=("B", "1"), C=2,
         mask=g.Causal(), elt="bf16"),
    dict(B=2, Hq=8, Hkv=2, Sq=1, Skv=1000, D=128, Dv=128, block=[1, 64], lists=("B", "Hq"), C=20,
         mask=g.Causal(), dyn=(0, 2), list_dyn=(0,)),
    dict(B=1, Hq=4, Hkv=4, Sq=128, Skv=128, D=16, Dv=16, block=[1, 16], lists=("1", "Hq"), C=3,
         mask=g.Causal(), mask_mod=c.MASK_MOD_MOD3),
    dict(B=2, Hq=4, Hkv=2, Sq=129, Skv=129, D=64, Dv=64, block=[32, 32], lists="exact",
         mask=g.Intersect([g.Causal(), g.Document()]), seg="packed", elt="bf16", dyn=(0, 2)),
    dict(B=1, Hq=2, Hkv=1, Sq=128, Skv=128, D=16, Dv=16, block=[16, 16], lists="all",
         mask=g.Neighborhood([8, 16], [3, 5], [2, 1], [False, True])),
    dict(B=1, Hq=2, Hkv=2, Sq=64, Skv=80, D=64, Dv=16, block=[16, 16], lists=("1", "Hq"), C=4,
         mask_mod=c.MASK_MOD_NEQ, score_mod=c.SCORE_MOD_SOFTCAP, inputs="quant", scale=1.0),
    dict(B=2, Hq=2, Hkv=1, Sq=33, Skv=33, D=16, Dv=16, block=[8, 8], lists=("B", "Hq"), C=5,
         mask=g.SlidingWindow(6, 2), score_mod=c.SCORE_MOD_NEG_INF_ROWS),
    dict(B=2, Hq=4, Hkv=2, Sq=100, Skv=128, D=16, Dv=32, block=[32, 16], lists=("B", "Hkv"), C=8,
         mask=g.Document(), seg="absent", p_valid=0.95),
    dict(B=1, Hq=2, Hkv=1, Sq=17, Skv=17, D=16, Dv=16, block=[4, 4], lists="none"),
    dict(B=1, Hq=2, Hkv=1, Sq=1000, Skv=1000, D=64, Dv=64, block=[128, 128], lists=("1", "1"), C=8,
         p_valid=0.9),
    dict(B=2, Hq=4, Hkv=1, Sq=129, Skv=129, D=16, Dv=16, block=[16, 16], lists="overfull", C=3,
         mask=g.Union([g.SinkWindow(1, 0), g.Causal()]), elt="f16"),
    # NaN / inf in keys of blocks some lists leave out.
    dict(B=2, Hq=4, Hkv=2, Sq=40, Skv=40, D=16, Dv=16, block=[4, 4], lists=("B", "Hq"), C=3,
         inputs="nan_v"),
    dict(B=2, Hq=2, Hkv=1, Sq=40, Skv=40, D=16, Dv=16, block=[8, 4], lists=("1", "1"), C=4,
         mask=g.Causal(), score_mod=c.SCORE_MOD_NEG_INF_COLS, elt="bf16"),
    # Full lists: block_mask's split (equal to masked attention), and random
    # ones that overlap the first pair and bypass masks and mods.
    dict(B=1, Hq=4, Hkv=2, Sq=129, Skv=129, D=64, Dv=64, block=[32, 32], lists="exact",
         full="exact", mask=g.Causal(), elt="bf16"),
    dict(B=2, Hq=4, Hkv=2, Sq=100, Skv=128, D=16, Dv=32, block=[32, 16], lists="exact",
         full="exact", mask=g.Intersect([g.Causal(), g.Document()]), seg="packed", dyn=(0, 2)),
    dict(B=2, Hq=4, Hkv=2, Sq=129, Skv=129, D=16, Dv=16, block=[16, 16], lists=("B", "Hkv"), C=4,
         full=3, mask=g.SlidingWindow(20, 0), mask_mod=c.MASK_MOD_MOD3, list_dyn=(0, 2, 3)),
    dict(B=1, Hq=2, Hkv=2, Sq=64, Skv=80, D=64, Dv=16, block=[16, 16], lists=("1", "Hq"), C=2,
         full=5, mask_mod=c.MASK_MOD_NEQ, score_mod=c.SCORE_MOD_SOFTCAP, inputs="quant", scale=1.0),
    dict(B=2, Hq=4, Hkv=2, Sq=100, Skv=128, D=16, Dv=32, block=[32, 16], lists=("B", "Hkv"), C=3,
         full=2, mask=g.Document(), seg="absent"),
]



def sweep(n, seed=424242, budget=1.5e8):
    """Random combinations (fixed seed) of sizes, blocks, list forms, masks,
    mods and element types."""
    r = np.random.default_rng(seed)
    sizes = [1, 17, 127, 128, 129, 1000]
    cases = []
    while len(cases) < n:
        Skv = int(r.choice(sizes))
        Sq = Skv if r.random() < 0.4 else int(r.choice(sizes))
        Hkv = int(r.choice([1, 2, 4]))
        G = int(r.choice([1, 2, 4, 8]))
        D = int(r.choice([16, 64, 128]))
        Dv = D if r.random() < 0.5 else int(r.choice([16, 32, 64]))
        B = int(r.choice([1, 2, 3]))
        if B * Hkv * G * Sq * Skv * max(D, Dv) > budget:
            continue
        bq = int(r.choice([1, 4, 16, 32, 64, 128]))
        bkv = int(r.choice([1, 8, 16, 64, 128]))
        NK = -(-Skv // bkv)
        case = dict(B=B, Hq=Hkv * G, Hkv=Hkv, Sq=Sq, Skv=Skv, D=D, Dv=Dv, block=[bq, bkv])
        mask = c.random_mask(r, Skv, right_ok=Sq <= Skv, p_none=0.3)
        if mask is not None:
            case["mask"] = mask
            if mask.reads_segments:
                case["seg"] = str(r.choice(["packed", "absent", "random"]))
        if r.random() < 0.2:
            case["lists"] = "exact"
        else:
            case["lists"] = (str(r.choice(["1", "B"])), str(r.choice(["1", "Hkv", "Hq"])))
            case["C"] = int(r.integers(1, min(NK + 3, 40) + 1))
            case["p_valid"] = float(r.choice([0.5, 0.75, 0.95]))
        x = r.random()
        if x < 0.15:
            case["mask_mod"] = c.MASK_MOD_MOD3
        elif x < 0.2:
            case["mask_mod"] = c.MASK_MOD_NEQ
        if r.random() < 0.15:
            case["score_mod"] = c.SCORE_MOD_SOFTCAP
            case["inputs"] = "quant"
            case["scale"] = 0.5
        case["elt"] = str(r.choice(["f32", "f32", "bf16", "f16"]))
        dyn = [(), (0,), (2,), (0, 2)][r.integers(4)]
        if dyn:
            case["dyn"] = dyn
        ld = [(), (0,), (2,), (0, 2, 3), (3,)][r.integers(5)]
        if ld:
            case["list_dyn"] = ld
        if r.random() < 0.3:
            case["full"] = "exact" if case["lists"] == "exact" else int(r.integers(1, 6))
        case["sweep"] = len(cases)
        cases.append(case)
    return cases


CASES += sweep(60)

CHAIN_CASES = [
    # FlexAttention: static causal block_mask (foldable) feeding the kernel.
    dict(chain="causal", B=1, Hq=4, Hkv=1, S=256, D=64, block=[64, 64], elt="bf16"),
    # Packed documents of runtime length: lists built at run time.
    dict(chain="document", B=2, Hq=4, Hkv=4, S=200, D=64, block=[64, 64], elt="f16"),
]


def list_dims(case):
    B, Hq, Hkv = case["B"], case["Hq"], case["Hkv"]
    bl, hl = case["lists"]
    return (1 if bl == "1" else B), {"1": 1, "Hkv": Hkv, "Hq": Hq}[hl]


def make_lists(case, rng, seg):
    B, Hq, Sq, Skv = case["B"], case["Hq"], case["Sq"], case["Skv"]
    bq, bkv = case["block"]
    NQ, NK = -(-Sq // bq), -(-Skv // bkv)
    kind = case["lists"]
    if kind == "exact":
        return g.block_mask(case.get("mask"), case["block"], B, 1, NK, q_len=Sq, kv_len=Skv,
                            seg_q=None if seg is None else seg[0],
                            seg_kv=None if seg is None else seg[1])
    if kind == "all":  # a superset: every kv block, in descending order
        num = np.full((1, 1, NQ), NK, dtype=np.int32)
        idx = np.broadcast_to(np.arange(NK - 1, -1, -1, dtype=np.int32), (1, 1, NQ, NK)).copy()
        return num, idx
    if kind == "none":  # zero / negative counts and only junk entries
        num = np.array([[[0, -1, -(2**31), 0, 2**31 - 1]]], dtype=np.int32)[:, :, :NQ]
        idx = np.full((1, 1, NQ, 2), -1, dtype=np.int32)
        idx[0, 0, 4] = [NK, 2**31 - 1]
        return num, idx
    if kind == "inner":  # random per-head lists that never name the first or last block
        num, idx = c.rand_block_lists(rng, 1, Hq, NQ, case["C"], NK, case.get("p_valid", 0.75))
        idx[(idx == 0) | (idx == NK - 1)] = 1
        return num, idx
    if kind == "overfull":  # counts above the capacity, every entry valid
        C = case["C"]
        num = np.full((B, Hq, NQ), C + 5, dtype=np.int32)
        idx = rng.integers(0, NK, size=(B, Hq, NQ, C)).astype(np.int32)
        return num, idx
    Bl, Hl = list_dims(case)
    return c.rand_block_lists(rng, Bl, Hl, NQ, case["C"], NK, case.get("p_valid", 0.75))


def make_full_lists(case, rng, seg, lists):
    """(lists, full lists): block_mask's partial/full split for "exact", or
    random full lists of capacity case["full"] beside the given lists."""
    full = case.get("full")
    if full is None:
        return lists, None
    B, Sq, Skv = case["B"], case["Sq"], case["Skv"]
    bq, bkv = case["block"]
    NQ, NK = -(-Sq // bq), -(-Skv // bkv)
    if full == "exact":
        num, idx, fnum, fidx = g.block_mask(
            case.get("mask"), case["block"], B, 1, NK, q_len=Sq, kv_len=Skv,
            seg_q=None if seg is None else seg[0], seg_kv=None if seg is None else seg[1],
            full_capacity=NK)
        return (num, idx), (fnum, fidx)
    Bl, Hl = lists[0].shape[:2]
    return lists, c.rand_block_lists(rng, Bl, Hl, NQ, full, NK, case.get("p_valid", 0.75))


def run_case(case, rng):
    if "chain" in case:
        return run_chain(case, rng)
    elt = case.get("elt", "f32")
    dyn = case.get("dyn", ())
    q, k, v = c.attention_inputs(case, rng)
    seg = c.attention_segments(case, rng)
    (num, idx), full = make_full_lists(case, rng, seg, make_lists(case, rng, seg))
    mask = case.get("mask")
    scale = case.get("scale")
    mask_mod = case.get("mask_mod")
    score_mod = case.get("score_mod")
    seg_dyn = tuple(a for a, qa in ((0, 0), (1, 2)) if qa in dyn)
    text, args = c.attention_ir(
        "block_sparse_attention", q, k, v, elt, dyn=dyn, lists=(num, idx),
        list_dyn=case.get("list_dyn", ()), seg=seg, seg_dyn=seg_dyn, full_lists=full,
        attrs=dict(block=case["block"], mask=mask, scale=scale),
        mask_mod=mask_mod[0] if mask_mod else None, score_mod=score_mod[0] if score_mod else None)
    case["_ir"] = text
    kw = dict(mask=mask, scale=None if scale is None else g.f32(scale),
              mask_mod=mask_mod[1] if mask_mod else None,
              score_mod=score_mod[1] if score_mod else None,
              seg_q=None if seg is None else seg[0], seg_kv=None if seg is None else seg[1])
    want = g.block_sparse_attention(c.f64(q), c.f64(k), c.f64(v), num, idx, case["block"],
                                    full=full, **kw)
    if case["lists"] in ("exact", "all") and case.get("full") in (None, "exact") and (
            full is None or case.get("mask_mod") is None):
        # Lists holding every block of the mask change nothing (semantics.md).
        dense = g.attention(c.f64(q), c.f64(k), c.f64(v), **kw)
        assert np.array_equal(np.isneginf(dense[1]), np.isneginf(want[1]))
        assert np.allclose(dense[0], want[0], rtol=1e-12, atol=1e-12)
    if case["lists"] == "none":
        assert np.isneginf(want[1]).all()
    got = c.run_cpu(text, args)
    if len(got) != 2:
        raise c.Mismatch(f"expected 2 results, got {len(got)}")
    c.check_attention(got, want, elt)


def run_chain(case, rng):
    elt = case["elt"]
    B, Hq, Hkv, S, D = case["B"], case["Hq"], case["Hkv"], case["S"], case["D"]
    bq, bkv = case["block"]
    NQ, NK = -(-S // bq), -(-S // bkv)
    q = c.randn(rng, (B, Hq, S, D), elt)
    k = c.randn(rng, (B, Hkv, S, D), elt)
    v = c.randn(rng, (B, Hkv, S, D), elt)
    if case["chain"] == "causal":
        mask = g.Causal()
        dyn = ()
        nT, iT = c.ttype((1, 1, NQ), "i32"), c.ttype((1, 1, NQ, NK), "i32")
        seg = None
        bm = (f"  %num, %idx = sparse_attn.block_mask {c.attr_dict(mask=mask, block=[bq, bkv], q_len=S, kv_len=S)}"
              f" : {nT}, {iT}\n")
        segc = ""
    else:
        mask = g.Intersect([g.Causal(), g.Document()])
        dyn = (2,)
        nT, iT = c.ttype((B, 1, NQ), "i32", (2,)), c.ttype((B, 1, NQ, NK), "i32", (2, 3))
        seg = c.segments(rng, B, S, 5)
        sT = c.ttype(seg.shape, "i32", (1,))
        segc = f" segment_ids(%s, %s : {sT}, {sT})"
        bm = (f"  %num, %idx = sparse_attn.block_mask{segc} {c.attr_dict(mask=mask, block=[bq, bkv])}"
              f" : {nT}, {iT}\n")
    qT, kT = c.ttype(q.shape, elt, dyn), c.ttype(k.shape, elt, dyn)
    oT, lT = c.ttype((B, Hq, S, D), elt, dyn), c.ttype((B, Hq, S), "f32", dyn)
    body = bm + (f"  %o, %lse = sparse_attn.block_sparse_attention %q, %k, %v, %num, %idx{segc} "
                 f"{c.attr_dict(block=[bq, bkv], mask=mask)}\n"
                 f"      : {qT}, {kT}, {kT}, {nT}, {iT} -> {oT}, {lT}")
    fargs = [("q", qT), ("k", kT), ("v", kT)] + ([("s", sT)] if seg is not None else [])
    text = c.func_text(fargs, body, [("o", oT), ("lse", lT)])
    case["_ir"] = text
    want = g.attention(c.f64(q), c.f64(k), c.f64(v), mask=mask, seg_q=seg, seg_kv=seg)
    got = c.run_cpu(text, [q, k, v] + ([seg] if seg is not None else []))
    c.check_attention(got, want, elt)


if __name__ == "__main__":
    c.exit_with(c.main(CASES + CHAIN_CASES, run_case, "block_sparse_attention"))
