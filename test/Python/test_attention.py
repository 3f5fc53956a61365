# RUN: %python %s
"""sparse_attn.attention on the CPU path against the float64 golden model.

Axes covered (each by several cases, not their product): S in {1, 17, 127,
128, 129, 1000}, Sq < Skv and Sq > Skv, decode (Sq = 1), D in {16, 64, 128},
Dv != D, GQA ratios 1, 2, 4, 8, every mask and combinator (nested too),
mask_mod, score_mod (softcap, -inf rows, ALiBi reading a tensor), empty
rows (causal overhang, absent document ids, mask_mod, score_mod -inf),
rows at p < 0 under structural masks (sliding windows reaching right too),
window parameters up to INT64_MAX, NaN propagation through allowed scores
and no leak of NaN / inf values of keys a row does not allow, large
(thousands) scores, zero-size dynamic dims, explicit scale, f32 / f16 /
bf16, static and dynamic dims; then 100 random combinations (fixed seed).
"""

import numpy as np

import common as c
import golden as g

I64_MAX = 2**63 - 1

CASES = [
    # Sizes, GQA and head dims with the simple masks.
    dict(B=1, Hq=1, Hkv=1, Sq=1, Skv=1, D=16, Dv=16),
    dict(B=2, Hq=4, Hkv=2, Sq=17, Skv=17, D=64, Dv=64, mask=g.Causal(), dyn=(0, 2)),
    dict(B=1, Hq=8, Hkv=2, Sq=127, Skv=127, D=128, Dv=64, mask=g.Causal()),
    dict(B=1, Hq=8, Hkv=1, Sq=128, Skv=128, D=64, Dv=32, mask=g.SlidingWindow(3, 0), dyn=(0, 2)),
    dict(B=2, Hq=2, Hkv=2, Sq=129, Skv=129, D=16, Dv=64, mask=g.SlidingWindow(5, 7)),
    dict(B=1, Hq=2, Hkv=1, Sq=1000, Skv=1000, D=16, Dv=16, mask=g.SinkWindow(4, 16), dyn=(2,)),
    dict(B=1, Hq=16, Hkv=2, Sq=64, Skv=64, D=128, Dv=128, mask=g.SlidingWindow(16, 16)),
    dict(B=1, Hq=8, Hkv=1, Sq=129, Skv=129, D=128, Dv=16, elt="f16"),
    dict(B=1, Hq=4, Hkv=4, Sq=128, Skv=1000, D=64, Dv=64, scale=0.3),
    # Sq != Skv both ways; decode.
    dict(B=1, Hq=4, Hkv=4, Sq=17, Skv=129, D=64, Dv=32, mask=g.Causal(), elt="bf16"),
    dict(B=2, Hq=2, Hkv=1, Sq=129, Skv=17, D=16, Dv=16, mask=g.Causal(), elt="f16", dyn=(0, 2)),
    dict(B=2, Hq=8, Hkv=2, Sq=1, Skv=1000, D=128, Dv=128, mask=g.SinkWindow(4, 64), elt="f16",
         dyn=(0, 2)),
    dict(B=3, Hq=4, Hkv=1, Sq=1, Skv=127, D=64, Dv=16, mask=g.Causal(), elt="bf16"),
    dict(B=1, Hq=2, Hkv=2, Sq=1, Skv=128, D=16, Dv=64, mask=g.SlidingWindow(10, 0), dyn=(2,)),
    dict(B=1, Hq=4, Hkv=1, Sq=1000, Skv=1000, D=64, Dv=64, mask=g.Causal(), elt="bf16"),
    # Structural masks with p < 0 rows and huge window parameters.
    dict(B=1, Hq=2, Hkv=1, Sq=40, Skv=24, D=16, Dv=16, mask=g.SlidingWindow(2, 30)),
    dict(B=1, Hq=2, Hkv=2, Sq=33, Skv=17, D=16, Dv=16, mask=g.SlidingWindow(I64_MAX, I64_MAX)),
    dict(B=1, Hq=2, Hkv=2, Sq=17, Skv=17, D=16, Dv=16, mask=g.SinkWindow(I64_MAX, 3)),
    dict(B=1, Hq=2, Hkv=2, Sq=17, Skv=33, D=16, Dv=16, mask=g.SlidingWindow(I64_MAX, I64_MAX)),
    dict(B=1, Hq=2, Hkv=1, Sq=33, Skv=33, D=16, Dv=16,
         mask=g.Intersect([g.SlidingWindow(I64_MAX, 0), g.SinkWindow(0, I64_MAX)]), dyn=(2,)),
    dict(B=1, Hq=2, Hkv=2, Sq=30, Skv=20, D=16, Dv=16, mask=g.SinkWindow(3, 5), dyn=(0, 2)),
    # Document masks (with query ids absent from the keys: empty rows).
    dict(B=2, Hq=4, Hkv=2, Sq=100, Skv=128, D=16, Dv=32, mask=g.Document(), seg="absent"),
    dict(B=2, Hq=2, Hkv=1, Sq=129, Skv=129, D=64, Dv=64, mask=g.Intersect([g.Causal(), g.Document()]),
         seg="packed", elt="bf16", dyn=(0, 2)),
    # Neighborhood 1D / 2D / 3D, dilation, causal dims, Sq < Skv and Sq > Skv.
    dict(B=1, Hq=4, Hkv=4, Sq=128, Skv=128, D=16, Dv=16, mask=g.Neighborhood([128], [7])),
    dict(B=1, Hq=2, Hkv=1, Sq=128, Skv=128, D=64, Dv=16,
         mask=g.Neighborhood([8, 16], [3, 5], [2, 1], [False, True]), dyn=(0, 2)),
    dict(B=1, Hq=2, Hkv=2, Sq=64, Skv=128, D=16, Dv=16,
         mask=g.Neighborhood([4, 4, 8], [3, 3, 3], [1, 1, 2], [True, False, False])),
    dict(B=2, Hq=2, Hkv=2, Sq=20, Skv=17, D=16, Dv=16, mask=g.Neighborhood([17], [5], [3], [False]),
         elt="f16"),
    dict(B=1, Hq=2, Hkv=1, Sq=127, Skv=128, D=16, Dv=16,
         mask=g.Neighborhood([2, 8, 8], [1, 3, 3], [1, 2, 1], [True, True, False])),
    # Combinators.
    dict(B=1, Hq=4, Hkv=2, Sq=129, Skv=129, D=64, Dv=64,
         mask=g.Union([g.SinkWindow(4, 0), g.SlidingWindow(8, 8)])),
    dict(B=2, Hq=2, Hkv=1, Sq=64, Skv=80, D=16, Dv=16, seg="packed",
         mask=g.Intersect([g.Union([g.Causal(), g.SlidingWindow(0, 4)]),
                           g.Union([g.SinkWindow(2, 8), g.Document()])])),
    dict(B=1, Hq=2, Hkv=2, Sq=64, Skv=64, D=16, Dv=16,
         mask=g.Union([g.Intersect([g.Causal(), g.Neighborhood([8, 8], [3, 3])]),
                       g.Intersect([g.SinkWindow(1, 0), g.Union([g.SlidingWindow(0, 0)])])])),
    # mask_mod and score_mod.
    dict(B=1, Hq=4, Hkv=2, Sq=127, Skv=127, D=64, Dv=64, mask=g.Causal(), mask_mod=c.MASK_MOD_MOD3,
         dyn=(0, 2)),
    dict(B=1, Hq=2, Hkv=2, Sq=17, Skv=17, D=16, Dv=16, mask_mod=c.MASK_MOD_NEQ),
    dict(B=2, Hq=2, Hkv=1, Sq=1, Skv=1, D=16, Dv=16, mask_mod=c.MASK_MOD_NEQ),
    dict(B=1, Hq=4, Hkv=1, Sq=128, Skv=128, D=64, Dv=64, mask=g.Causal(), score_mod=c.SCORE_MOD_SOFTCAP,
         inputs="quant", scale=1.0),
    dict(B=2, Hq=2, Hkv=2, Sq=64, Skv=64, D=64, Dv=16, mask=g.Document(), seg="packed",
         mask_mod=c.MASK_MOD_MOD3, score_mod=c.SCORE_MOD_SOFTCAP, inputs="quant", scale=0.5,
         elt="bf16"),
    dict(B=2, Hq=2, Hkv=1, Sq=33, Skv=33, D=16, Dv=16, mask=g.SlidingWindow(4, 4),
         score_mod=c.SCORE_MOD_NEG_INF_ROWS, dyn=(0, 2)),
    dict(B=1, Hq=4, Hkv=2, Sq=64, Skv=64, D=64, Dv=64, mask=g.Causal(), alibi=True),
    # NaN propagates through allowed scores only; non-finite values of keys a
    # row does not allow do not reach it.
    dict(B=1, Hq=2, Hkv=1, Sq=17, Skv=17, D=16, Dv=16, mask=g.Causal(), inputs="nan_k"),
    dict(B=2, Hq=2, Hkv=1, Sq=17, Skv=17, D=16, Dv=16, mask=g.Causal(), inputs="nan_v"),
    dict(B=1, Hq=4, Hkv=2, Sq=40, Skv=40, D=16, Dv=16, mask=g.SlidingWindow(2, 1), inputs="nan_v",
         elt="bf16"),
    dict(B=1, Hq=2, Hkv=1, Sq=20, Skv=20, D=16, Dv=16, mask=g.SinkWindow(1, 3), inputs="nan_v",
         elt="f16"),
    # Large scores (thousands): the softmax must stay stable.
    dict(B=1, Hq=4, Hkv=2, Sq=128, Skv=128, D=64, Dv=64, mask=g.Causal(), inputs="large", scale=1.0),
    dict(B=2, Hq=2, Hkv=2, Sq=1, Skv=1000, D=16, Dv=16, inputs="large", scale=1.0, elt="bf16"),
    # Zero-size dynamic dims: no keys (every row empty), no queries, no batch.
    dict(B=2, Hq=4, Hkv=2, Sq=5, Skv=0, D=16, Dv=8, mask=g.Causal(), dyn=(0, 2)),
    dict(B=2, Hq=4, Hkv=2, Sq=0, Skv=7, D=16, Dv=8, dyn=(0, 2)),
    dict(B=0, Hq=4, Hkv=2, Sq=5, Skv=7, D=16, Dv=8, mask=g.SlidingWindow(1, 1), dyn=(0, 2)),
    # Keys made -inf by score_mod inside otherwise live rows.
    dict(B=1, Hq=2, Hkv=1, Sq=33, Skv=33, D=16, Dv=16, mask=g.Causal(),
         score_mod=c.SCORE_MOD_NEG_INF_COLS),
]


SIZES = [1, 17, 127, 128, 129, 1000]


def sweep(n, seed=20261123, budget=1.5e8):
    """Random combinations of the axes above (fixed seed), each case's
    B*Hq*Sq*Skv*max(D, Dv) kept under `budget`."""
    r = np.random.default_rng(seed)
    cases = []
    while len(cases) < n:
        Skv = int(r.choice(SIZES))
        Sq = Skv if r.random() < 0.4 else int(r.choice(SIZES))
        Hkv = int(r.choice([1, 2, 4]))
        G = int(r.choice([1, 2, 4, 8]))
        D = int(r.choice([16, 64, 128]))
        Dv = D if r.random() < 0.5 else int(r.choice([16, 32, 64, 128]))
        B = int(r.choice([1, 2, 3]))
        if B * Hkv * G * Sq * Skv * max(D, Dv) > budget:
            continue
        case = dict(B=B, Hq=Hkv * G, Hkv=Hkv, Sq=Sq, Skv=Skv, D=D, Dv=Dv)
        mask = c.random_mask(r, Skv, right_ok=Sq <= Skv)
        if mask is not None:
            case["mask"] = mask
            if mask.reads_segments:
                case["seg"] = str(r.choice(["packed", "absent", "random"]))
        x = r.random()
        if x < 0.15:
            case["mask_mod"] = c.MASK_MOD_MOD3
        elif x < 0.2:
            case["mask_mod"] = c.MASK_MOD_NEQ
        if r.random() < 0.15:
            case["score_mod"] = c.SCORE_MOD_SOFTCAP
            case["inputs"] = "quant"
            case["scale"] = 0.5
        elif r.random() < 0.1:
            case["scale"] = float(r.choice([0.03125, 0.3, 1.0]))
        case["elt"] = str(r.choice(["f32", "f32", "bf16", "f16"]))
        dyn = [(), (0,), (2,), (0, 2)][r.integers(4)]
        if dyn:
            case["dyn"] = dyn
        case["sweep"] = len(cases)
        cases.append(case)
    return cases


CASES += sweep(100)


def run_case(case, rng):
    elt = case.get("elt", "f32")
    dyn = case.get("dyn", ())
    q, k, v = c.attention_inputs(case, rng)
    seg = c.attention_segments(case, rng)
    mask = case.get("mask")
    scale = case.get("scale")
    mask_mod = case.get("mask_mod")
    score_mod = case.get("score_mod")
    extra_args = []
    score_text = score_mod[0] if score_mod else None
    score_fn = score_mod[1] if score_mod else None
    if case.get("alibi"):
        Hq = case["Hq"]
        slopes = (2.0 ** -(np.arange(Hq) + 3)).astype(np.float32)
        extra_args = [("slopes", c.ttype((Hq,), "f32"), slopes)]
        score_text = c.score_mod_alibi(Hq)

        def score_fn(s, b, h, i, j):
            return 30.0 * np.tanh((s - slopes.astype(np.float64)[h] * (i - j)) / 30.0)

    seg_dyn = tuple(a for a, qa in ((0, 0), (1, 2)) if qa in dyn)
    text, args = c.attention_ir(
        "attention", q, k, v, elt, dyn=dyn, seg=seg, seg_dyn=seg_dyn,
        attrs=dict(mask=mask, scale=scale), mask_mod=mask_mod[0] if mask_mod else None,
        score_mod=score_text, extra_args=extra_args, kv_dyn=case.get("kv_dyn"))
    case["_ir"] = text
    want = g.attention(c.f64(q), c.f64(k), c.f64(v), mask=mask,
                       scale=None if scale is None else g.f32(scale),
                       mask_mod=mask_mod[1] if mask_mod else None, score_mod=score_fn,
                       seg_q=None if seg is None else seg[0], seg_kv=None if seg is None else seg[1])
    if case.get("inputs") in ("nan_k", "nan_v") and not (
            np.isnan(want[0]).any() and np.isfinite(want[0]).all(axis=-1).any()):
        raise AssertionError("the NaN case should hold both NaN and finite rows")
    if case.get("seg") == "absent" and isinstance(mask, g.Document) and not np.isneginf(want[1]).any():
        raise AssertionError("the absent-segment case should hold empty rows")
    got = c.run_cpu(text, args)
    if len(got) != 2:
        raise c.Mismatch(f"expected 2 results, got {len(got)}")
    c.check_attention(got, want, elt)


if __name__ == "__main__":
    c.exit_with(c.main(CASES, run_case, "attention"))
