# RUN: %python %s
"""sparse_attn.token_sparse_attention (and lightning_indexer feeding it) on
the CPU path against the float64 golden model.

Covers random token lists with -1, other negative, out-of-range, INT32_MIN /
INT32_MAX entries and duplicates (which count once per slot), rows with no
valid slot (empty), n = 1 to n > Skv, decode, MQA / GQA, D != Dv, explicit
scale, f32 / f16 / bf16, static and dynamic dims, and the DSA chain.
"""

import numpy as np

import common as c
import golden as g

CASES = [
    dict(B=1, Hq=4, Hkv=1, Sq=17, Skv=17, D=64, Dv=32, n=8),
    dict(B=2, Hq=8, Hkv=2, Sq=129, Skv=1000, D=128, Dv=64, n=64, dyn=(0, 2), ti_dyn=(0, 1),
         empty_rows=6),
    dict(B=2, Hq=16, Hkv=1, Sq=1, Skv=1000, D=128, Dv=64, n=128, elt="f16", dyn=(0, 2),
         ti_dyn=(0, 1, 2)),
    dict(B=1, Hq=2, Hkv=2, Sq=128, Skv=127, D=16, Dv=16, n=1, elt="bf16", empty_rows=3),
    dict(B=1, Hq=2, Hkv=2, Sq=1000, Skv=128, D=16, Dv=16, n=16, dyn=(2,), ti_dyn=(1,)),
    dict(B=2, Hq=4, Hkv=2, Sq=33, Skv=40, D=64, Dv=64, n=6, lists="dup"),
    dict(B=1, Hq=4, Hkv=4, Sq=64, Skv=64, D=64, Dv=16, n=32, scale=0.0721687836, elt="bf16"),
    dict(B=2, Hq=8, Hkv=1, Sq=17, Skv=17, D=16, Dv=128, n=64, p_valid=0.9, elt="f16"),
    dict(B=1, Hq=2, Hkv=1, Sq=9, Skv=50, D=16, Dv=16, n=5, lists="junk"),
    dict(B=2, Hq=4, Hkv=2, Sq=30, Skv=20, D=16, Dv=16, n=4, inputs="nan", p_valid=0.5),
]



def sweep(n, seed=777, budget=1.5e8):
    r = np.random.default_rng(seed)
    sizes = [1, 17, 127, 128, 129, 1000]
    cases = []
    while len(cases) < n:
        Skv = int(r.choice(sizes))
        Sq = int(r.choice(sizes))
        Hkv = int(r.choice([1, 2, 4]))
        G = int(r.choice([1, 2, 4, 8]))
        D = int(r.choice([16, 64, 128]))
        Dv = D if r.random() < 0.5 else int(r.choice([16, 32, 64]))
        B = int(r.choice([1, 2]))
        nslots = int(r.choice([1, 3, 16, 64, 200]))
        if B * Hkv * G * Sq * nslots * max(D, Dv) * 4 > budget:
            continue
        case = dict(B=B, Hq=Hkv * G, Hkv=Hkv, Sq=Sq, Skv=Skv, D=D, Dv=Dv, n=nslots,
                    p_valid=float(r.choice([0.3, 0.75, 1.0])), empty_rows=int(r.integers(0, 3)),
                    elt=str(r.choice(["f32", "f32", "bf16", "f16"])))
        if r.random() < 0.2:
            case["scale"] = float(r.choice([0.03125, 0.3, 1.0]))
        dyn = [(), (0,), (2,), (0, 2)][r.integers(4)]
        if dyn:
            case["dyn"] = dyn
            case["ti_dyn"] = tuple({0: 0, 2: 1}[a] for a in dyn) + ((2,) if r.random() < 0.5 else ())
        case["sweep"] = len(cases)
        cases.append(case)
    return cases


CASES += sweep(30)

CHAIN_CASES = [
    dict(chain="dsa", B=1, Hq=4, Hkv=1, Sq=64, Skv=96, D=64, Dv=32, HI=4, DI=16, topk=48,
         elt="bf16"),
]


def make_lists(case, rng):
    B, Sq, Skv, n = case["B"], case["Sq"], case["Skv"], case["n"]
    kind = case.get("lists", "random")
    if kind == "dup":
        # Every row: one key listed 1..n times among junk.
        ti = np.full((B, Sq, n), -1, dtype=np.int32)
        for b in range(B):
            for i in range(Sq):
                j = rng.integers(0, Skv)
                reps = rng.integers(1, n + 1)
                slots = rng.choice(n, size=reps, replace=False)
                ti[b, i, slots] = j
                other = [s for s in range(n) if s not in slots]
                if other:
                    ti[b, i, other[0]] = rng.choice([Skv, -5, 2**31 - 1])
        return ti
    if kind == "junk":
        return rng.choice([-1, -(2**31), 2**31 - 1, Skv, Skv + 1], size=(B, Sq, n)).astype(np.int32)
    return c.rand_token_lists(rng, B, Sq, n, Skv, case.get("p_valid", 0.75),
                              case.get("empty_rows", 0))


def run_case(case, rng):
    if "chain" in case:
        return run_chain(case, rng)
    elt = case.get("elt", "f32")
    dyn = case.get("dyn", ())
    B, Hq, Hkv, Sq, Skv = case["B"], case["Hq"], case["Hkv"], case["Sq"], case["Skv"]
    q = c.randn(rng, (B, Hq, Sq, case["D"]), elt)
    k = c.randn(rng, (B, Hkv, Skv, case["D"]), elt)
    v = c.randn(rng, (B, Hkv, Skv, case["Dv"]), elt)
    if case.get("inputs") == "nan":
        # Key 0 (what a careless kernel reads for invalid slots) and key 3.
        k[:, :, 0, 1] = np.nan
        v[:, :, 3, 0] = np.inf
    ti = make_lists(case, rng)
    scale = case.get("scale")
    text, args = c.attention_ir("token_sparse_attention", q, k, v, elt, dyn=dyn, token_indices=ti,
                                ti_dyn=case.get("ti_dyn", ()), attrs=dict(scale=scale))
    case["_ir"] = text
    want = g.token_sparse_attention(c.f64(q), c.f64(k), c.f64(v), ti,
                                    scale=None if scale is None else g.f32(scale))
    if case.get("empty_rows") or case.get("lists") == "junk":
        assert np.isneginf(want[1]).any()
    got = c.run_cpu(text, args)
    if len(got) != 2:
        raise c.Mismatch(f"expected 2 results, got {len(got)}")
    c.check_attention(got, want, elt)


def run_chain(case, rng):
    """DeepSeek Sparse Attention: lightning_indexer (causal) -> token_sparse_attention.

    Indexer inputs are small integers, so the f32 index scores are exact and
    the selection (ties included) is compared exactly."""
    elt = case["elt"]
    B, Hq, Hkv, Sq, Skv = case["B"], case["Hq"], case["Hkv"], case["Sq"], case["Skv"]
    HI, DI, topk = case["HI"], case["DI"], case["topk"]
    q = c.randn(rng, (B, Hq, Sq, case["D"]), elt)
    k = c.randn(rng, (B, Hkv, Skv, case["D"]), elt)
    v = c.randn(rng, (B, Hkv, Skv, case["Dv"]), elt)
    qi = c.quantized(rng, (B, HI, Sq, DI), elt, -2, 2, 1.0)
    ki = c.quantized(rng, (B, Skv, DI), elt, -2, 2, 1.0)
    w = c.quantized(rng, (B, Sq, HI), "f32", -2, 3, 0.5)
    mask = g.Causal()
    qT, kT, vT = (c.ttype(x.shape, elt) for x in (q, k, v))
    qiT, kiT, wT = c.ttype(qi.shape, elt), c.ttype(ki.shape, elt), c.ttype(w.shape, "f32")
    tT = c.ttype((B, Sq, topk), "i32")
    oT, lT = c.ttype((B, Hq, Sq, case["Dv"]), elt), c.ttype((B, Hq, Sq), "f32")
    body = (f"  %ti = sparse_attn.lightning_indexer %qi, %ki, %w {c.attr_dict(topk=topk, mask=mask)}\n"
            f"      : {qiT}, {kiT}, {wT} -> {tT}\n"
            f"  %o, %lse = sparse_attn.token_sparse_attention %q, %k, %v, %ti\n"
            f"      : {qT}, {kT}, {vT}, {tT} -> {oT}, {lT}")
    text = c.func_text([("q", qT), ("k", kT), ("v", vT), ("qi", qiT), ("ki", kiT), ("w", wT)],
                       body, [("ti", tT), ("o", oT), ("lse", lT)])
    case["_ir"] = text
    want_ti = g.lightning_indexer(c.f64(qi), c.f64(ki), c.f64(w), topk, mask=mask)
    want = g.token_sparse_attention(c.f64(q), c.f64(k), c.f64(v), want_ti)
    got = c.run_cpu(text, [q, k, v, qi, ki, w])
    if len(got) != 3:
        raise c.Mismatch(f"expected 3 results, got {len(got)}")
    c.check_exact("token_indices", got[0], want_ti)
    c.check_attention(got[1:], want, elt)


if __name__ == "__main__":
    c.exit_with(c.main(CASES + CHAIN_CASES, run_case, "token_sparse_attention"))
