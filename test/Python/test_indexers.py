# RUN: %python %s
"""sparse_attn.pool, block_scores, select_topk and lightning_indexer on the
CPU path against the float64 golden model.

pool: mean / max, partial last blocks, block 1 and block > S, NaN in max,
f32 / f16 / bf16, dynamic dims. block_scores: Hq and Hkv result heads, no
mask / causal / window / document / combinators / neighborhood, block_q = 1
(MoBA), mixed operand types, explicit scale, decode, dynamic dims.
select_topk: sink / local / k, -inf, NaN and +inf scores, exact ties,
rows with nothing or too little selectable, capacity > k + sink + local.
lightning_indexer: small-integer inputs (exact f32 scores, so ties are
compared exactly) under every mask kind and padding, plus float inputs
checked up to near-ties (see check_topk_tolerant).
"""

import numpy as np

import common as c
import golden as g
from topk_check import topk_problem

# ----------------------------------------------------------------------------
# pool
# ----------------------------------------------------------------------------

POOL = [
    dict(op="pool", kind="mean", shape=(2, 2, 130, 64), block=64),
    dict(op="pool", kind="max", shape=(1, 4, 127, 16), block=16, elt="bf16", dyn=(0, 2)),
    dict(op="pool", kind="mean", shape=(1, 2, 1000, 128), block=100, elt="f16"),
    dict(op="pool", kind="max", shape=(1, 1, 17, 16), block=5, special=True),
    dict(op="pool", kind="mean", shape=(1, 2, 17, 16), block=1, dyn=(2,)),
    dict(op="pool", kind="mean", shape=(2, 1, 17, 64), block=64, elt="bf16"),
    dict(op="pool", kind="mean", shape=(1, 8, 129, 64), block=128, elt="bf16", dyn=(0, 2)),
    dict(op="pool", kind="max", shape=(1, 2, 1, 16), block=3, elt="f16"),
]


def run_pool(case, rng):
    elt = case.get("elt", "f32")
    dyn = case.get("dyn", ())
    B, H, S, D = case["shape"]
    x = c.randn(rng, case["shape"], elt, std=3.0)
    if case.get("special"):
        x[0, 0, 6, 2] = np.nan  # block 1 of column 2 is NaN
        x[0, 0, 10:15, 3] = -np.inf  # block 2 of column 3 is -inf
        x[0, 0, 15, 4] = np.inf
    NB = -(-S // case["block"])
    xT = c.ttype(x.shape, elt, dyn)
    rT = c.ttype((B, H, NB, D), "f32", dyn)
    body = f"  %r = sparse_attn.pool {case['kind']} %x {c.attr_dict(block=case['block'])} : {xT} -> {rT}"
    text = c.func_text([("x", xT)], body, [("r", rT)])
    case["_ir"] = text
    want = g.pool(c.f64(x), case["kind"], case["block"])
    got = c.run_cpu(text, [x])
    c.check_float("pool", got[0], want, "f32", "row")


# ----------------------------------------------------------------------------
# block_scores
# ----------------------------------------------------------------------------

SCORES = [
    dict(op="block_scores", B=1, Hq=8, Hkv=2, Hr=2, NQ=16, NK=16, D=64),
    dict(op="block_scores", B=1, Hq=8, Hkv=2, Hr=8, D=64, block=[64, 64], q_len=1000, kv_len=1000,
         mask=g.Causal()),
    dict(op="block_scores", B=2, Hq=4, Hkv=1, Hr=1, D=16, block=[32, 32], q_len=129, kv_len=257,
         mask=g.SlidingWindow(100, 0), scale=0.5),
    dict(op="block_scores", B=2, Hq=4, Hkv=2, Hr=4, D=16, block=[16, 16], Sq=100, Skv=120,
         mask=g.Document(), seg="absent"),
    dict(op="block_scores", B=2, Hq=4, Hkv=2, Hr=2, D=64, block=[32, 16], Sq=129, Skv=129,
         mask=g.Intersect([g.Causal(), g.Document()]), seg="packed", qelt="bf16", kelt="f32",
         dyn=(0, 2), seg_dyn=(0, 1)),
    dict(op="block_scores", B=1, Hq=4, Hkv=4, Hr=4, D=64, block=[1, 64], q_len=128, kv_len=128,
         mask=g.Causal(), qelt="bf16", kelt="f32"),
    dict(op="block_scores", B=1, Hq=8, Hkv=2, Hr=2, D=128, block=[16, 16], q_len=128, kv_len=128,
         mask=g.Neighborhood([8, 16], [3, 5], [2, 1], [False, True]), qelt="f16", kelt="f16"),
    dict(op="block_scores", B=2, Hq=2, Hkv=1, Hr=1, D=16, block=[8, 8], q_len=60, kv_len=60,
         mask=g.Causal(), dyn=(0, 2)),
    dict(op="block_scores", B=1, Hq=4, Hkv=2, Hr=4, D=64, block=[1, 100], q_len=1, kv_len=1000,
         mask=g.Union([g.SinkWindow(4, 0), g.SlidingWindow(0, 0)])),
    dict(op="block_scores", B=1, Hq=2, Hkv=2, Hr=2, NQ=5, NK=7, D=16, block=[4, 4], scale=2.0,
         qelt="f16", kelt="bf16", dyn=(0, 2)),
]


def run_scores(case, rng):
    B, Hq, Hkv, Hr, D = case["B"], case["Hq"], case["Hkv"], case["Hr"], case["D"]
    qelt, kelt = case.get("qelt", "f32"), case.get("kelt", "f32")
    dyn = case.get("dyn", ())
    mask = case.get("mask")
    block = case.get("block", [64, 64])
    seg = None
    if "Sq" in case:
        Sq, Skv = case["Sq"], case["Skv"]
        seg_q = c.segments(rng, B, Sq, 5)
        seg_kv = seg_q.copy() if case["seg"] == "packed" and Sq == Skv else c.segments(rng, B, Skv, 5)
        if case["seg"] == "absent":
            seg_q[:, 32:64] = 99
        seg = (seg_q, seg_kv)
        NQ, NK = -(-Sq // block[0]), -(-Skv // block[1])
        q_len = kv_len = None
    elif "q_len" in case:
        q_len, kv_len = case["q_len"], case["kv_len"]
        NQ, NK = -(-q_len // block[0]), -(-kv_len // block[1])
    else:
        q_len = kv_len = None
        NQ, NK = case["NQ"], case["NK"]
    qp = c.randn(rng, (B, Hq, NQ, D), qelt)
    kp = c.randn(rng, (B, Hkv, NK, D), kelt)
    if case.get("special"):
        # inf and NaN operands: rows and columns of inf / NaN scores (and
        # -inf of the mask over them where the pair is empty).
        qp[0, 0, NQ // 2, 1] = np.inf
        qp[-1, -1, NQ - 1, 0] = -np.inf
        kp[0, 0, NK // 3, 2] = np.nan
        kp[-1, -1, NK - 1, D - 1] = np.inf
    qT, kT = c.ttype(qp.shape, qelt, dyn), c.ttype(kp.shape, kelt, dyn)
    rT = c.ttype((B, Hr, NQ, NK), "f32", dyn + ((3,) if 2 in dyn else ()))
    attrs = c.attr_dict(mask=mask, block=block, q_len=q_len, kv_len=kv_len, scale=case.get("scale"))
    args = [("qp", qT), ("kp", kT)]
    arrays = [qp, kp]
    segc = ""
    if seg is not None:
        sd = case.get("seg_dyn", ())
        sqT, skT = c.ttype(seg[0].shape, "i32", sd), c.ttype(seg[1].shape, "i32", sd)
        segc = f" segment_ids(%sq, %skv : {sqT}, {skT})"
        args += [("sq", sqT), ("skv", skT)]
        arrays += list(seg)
    body = f"  %s = sparse_attn.block_scores %qp, %kp{segc} {attrs} : {qT}, {kT} -> {rT}"
    text = c.func_text(args, body, [("s", rT)])
    case["_ir"] = text
    want = g.block_scores(c.f64(qp), c.f64(kp), block, Hr, mask=mask, q_len=q_len, kv_len=kv_len,
                          scale=None if case.get("scale") is None else g.f32(case["scale"]),
                          seg_q=None if seg is None else seg[0],
                          seg_kv=None if seg is None else seg[1])
    if mask is not None and "sweep" not in case:
        assert np.isneginf(want).any() or isinstance(mask, g.Union)
    got = c.run_cpu(text, arrays)
    # Row scale: the magnitude of the summed products, not of the (cancelling) result.
    c.check_float("scores", got[0], want, "f32", "row")


# ----------------------------------------------------------------------------
# select_topk
# ----------------------------------------------------------------------------

TOPK = [
    dict(op="select_topk", shape=(2, 2, 16, 32), k=4, sink=1, local=2, scores="random"),
    dict(op="select_topk", shape=(1, 3, 20, 12), k=3, scores="ties"),
    dict(op="select_topk", shape=(2, 1, 9, 10), k=8, sink=2, local=2, scores="sparse"),
    dict(op="select_topk", shape=(1, 2, 64, 64), k=16, sink=1, local=2, scores="causal", dyn=(0, 2)),
    dict(op="select_topk", shape=(1, 2, 8, 8), k=2, sink=1, local=1, C=10, scores="ties"),
    dict(op="select_topk", shape=(1, 4, 128, 16), k=2, local=1, scores="causal_moba"),
    dict(op="select_topk", shape=(1, 1, 6, 32), k=40, scores="random"),
    dict(op="select_topk", shape=(2, 2, 5, 7), k=1, sink=3, local=3, scores="ties", dyn=(0, 2, 3)),
]


def topk_scores(case, rng):
    B, H, NQ, NK = case["shape"]
    kind = case["scores"]
    if kind == "random":
        s = rng.standard_normal((B, H, NQ, NK))
        s[rng.random(s.shape) < 0.3] = -np.inf
    elif kind == "ties":
        s = rng.choice([-1.0, 0.0, -0.0, 1.0, 2.0, np.inf, -np.inf, np.nan], size=(B, H, NQ, NK),
                       p=[0.15, 0.15, 0.1, 0.15, 0.15, 0.05, 0.2, 0.05])
    elif kind == "sparse":
        s = rng.standard_normal((B, H, NQ, NK))
        keep = rng.random(s.shape) < 0.35
        s = np.where(keep, s, -np.inf)
        s[:, :, 0] = -np.inf  # a row with nothing selectable
        s[:, :, 1] = -np.inf
        s[:, :, 1, 4] = 0.5  # one selectable block
    elif kind in ("causal", "causal_moba"):
        s = rng.standard_normal((B, H, NQ, NK))
        I = np.arange(NQ)[:, None]
        J = np.arange(NK)[None, :]
        if kind == "causal":
            s = np.where(J <= I, s, -np.inf)
        else:
            s = np.where(J <= I // (NQ // NK), s, -np.inf)
    elif kind == "mixed":
        s = rng.standard_normal((B, H, NQ, NK))
        s = np.where(rng.random(s.shape) < 0.5, np.round(s, 1), s)  # ties
        u = rng.random(s.shape)
        s[u < case["p_ninf"]] = -np.inf
        s[(u > 0.98) & (u < 0.99)] = np.nan
        s[u > 0.995] = np.inf
    else:
        raise ValueError(kind)
    return s.astype(np.float32)


def run_topk(case, rng):
    B, H, NQ, NK = case["shape"]
    k, sink, local = case["k"], case.get("sink", 0), case.get("local", 0)
    C = case.get("C", k + sink + local)
    dyn = case.get("dyn", ())
    s = topk_scores(case, rng)
    sT = c.ttype(s.shape, "f32", dyn)
    nT = c.ttype((B, H, NQ), "i32", tuple(a for a in dyn if a < 3))
    iT = c.ttype((B, H, NQ, C), "i32", tuple(a for a in dyn if a < 3))
    attrs = c.attr_dict(k=k, sink=sink if sink else None, local=local if local else None)
    body = f"  %num, %idx = sparse_attn.select_topk %s {attrs} : {sT} -> {nT}, {iT}"
    text = c.func_text([("s", sT)], body, [("num", nT), ("idx", iT)])
    case["_ir"] = text
    want = g.select_topk(c.f64(s), k, sink, local, C)
    got = c.run_cpu(text, [s])
    c.check_exact("num_blocks", got[0], want[0])
    c.check_exact("block_indices", got[1], want[1])


# ----------------------------------------------------------------------------
# select_threshold
# ----------------------------------------------------------------------------

# Masses from 0.3 to 1, forced blocks, caps that bind and caps that do not,
# rows with +inf, -inf, NaN and nothing selectable, dynamic dims. Random
# scores are redrawn until every running sum is at least 1e-4 (of the row's
# total) from the target, so that f32 and float64 agree on where to stop.
THRESHOLD = [
    dict(op="select_threshold", shape=(2, 2, 16, 32), mass=0.9, max_blocks=8, sink=1, local=2,
         scores="random"),
    dict(op="select_threshold", shape=(1, 3, 20, 24), mass=0.5, max_blocks=24, scores="random"),
    dict(op="select_threshold", shape=(1, 2, 12, 16), mass=1.0, max_blocks=4, sink=1,
         scores="random"),
    dict(op="select_threshold", shape=(2, 1, 9, 10), mass=0.95, max_blocks=8, sink=2, local=2,
         scores="sparse"),
    dict(op="select_threshold", shape=(1, 2, 64, 64), mass=0.3, max_blocks=16, local=1,
         scores="causal", dyn=(0, 2)),
    dict(op="select_threshold", shape=(1, 2, 8, 8), mass=0.8, max_blocks=3, sink=1, local=1, C=10,
         scores="ties"),
]


def run_threshold(case, rng):
    B, H, NQ, NK = case["shape"]
    mass, cap = case["mass"], case["max_blocks"]
    sink, local = case.get("sink", 0), case.get("local", 0)
    C = case.get("C", cap + sink + local)
    dyn = case.get("dyn", ())
    for _ in range(100):
        s = topk_scores(case, rng)
        if case["scores"] == "ties" or g.threshold_margin(s, mass, cap, sink, local) > 1e-4:
            break
    else:
        raise AssertionError("no scores away from the mass boundary")
    sT = c.ttype(s.shape, "f32", dyn)
    nT = c.ttype((B, H, NQ), "i32", tuple(a for a in dyn if a < 3))
    iT = c.ttype((B, H, NQ, C), "i32", tuple(a for a in dyn if a < 3))
    attrs = c.attr_dict(mass=f"{c.fmt_f32(mass)} : f32", max_blocks=cap,
                        sink=sink if sink else None, local=local if local else None)
    body = f"  %num, %idx = sparse_attn.select_threshold %s {attrs} : {sT} -> {nT}, {iT}"
    text = c.func_text([("s", sT)], body, [("num", nT), ("idx", iT)])
    case["_ir"] = text
    want = g.select_threshold(c.f64(s), np.float32(mass), cap, sink, local, C)
    got = c.run_cpu(text, [s])
    c.check_exact("num_blocks", got[0], want[0])
    c.check_exact("block_indices", got[1], want[1])


# ----------------------------------------------------------------------------
# lightning_indexer
# ----------------------------------------------------------------------------

INDEXER = [
    dict(op="lightning_indexer", B=1, HI=4, Sq=64, Skv=64, DI=16, topk=8),
    dict(op="lightning_indexer", B=1, HI=4, Sq=64, Skv=128, DI=16, topk=80, mask=g.Causal(),
         elt="bf16", welt="bf16"),
    dict(op="lightning_indexer", B=2, HI=2, Sq=50, Skv=70, DI=16, topk=16, mask=g.Document(),
         seg="absent", elt="f16", welt="f16", dyn=(0, 1), seg_dyn=(0, 1)),
    dict(op="lightning_indexer", B=1, HI=4, Sq=33, Skv=33, DI=16, topk=16,
         mask=g.SlidingWindow(10, 0)),
    dict(op="lightning_indexer", B=1, HI=2, Sq=64, Skv=64, DI=16, topk=12,
         mask=g.Neighborhood([8, 8], [3, 3])),
    dict(op="lightning_indexer", B=1, HI=8, Sq=128, Skv=128, DI=64, topk=32, mask=g.Causal(),
         inputs="float"),
    dict(op="lightning_indexer", B=2, HI=4, Sq=1, Skv=1000, DI=32, topk=64, mask=g.Causal(),
         inputs="float", dyn=(0, 1)),
    dict(op="lightning_indexer", B=1, HI=2, Sq=20, Skv=40, DI=16, topk=100),
    dict(op="lightning_indexer", B=1, HI=1, Sq=40, Skv=40, DI=16, topk=10, inputs="binary"),
    dict(op="lightning_indexer", B=2, HI=4, Sq=40, Skv=60, DI=16, topk=20, seg="packed",
         mask=g.Union([g.Intersect([g.Causal(), g.Document()]), g.SinkWindow(2, 0)])),
    dict(op="lightning_indexer", B=1, HI=4, Sq=30, Skv=20, DI=16, topk=6,
         mask=g.SlidingWindow(3, 3), elt="bf16"),
    dict(op="lightning_indexer", B=1, HI=4, Sq=64, Skv=64, DI=32, topk=16, mask=g.SinkWindow(4, 8),
         inputs="float", elt="f16", welt="f16"),
]


def check_topk_tolerant(name, got, scores, bound, allowed, topk, want):
    """Float inputs: topk_check.topk_problem's rule (near-ties may differ)."""
    c.check_dtype_shape(name, got, want.shape, "i32")
    problem = topk_problem(name, got, scores, bound, allowed, topk, want)
    if problem:
        raise c.Mismatch(problem)


def run_indexer(case, rng):
    elt = case.get("elt", "f32")
    dyn = case.get("dyn", ())  # axes (batch, Sq) of qi's [B, HI, Sq, DI] -> (0, 2)
    B, HI, Sq, Skv, DI, topk = (case[x] for x in ("B", "HI", "Sq", "Skv", "DI", "topk"))
    welt = case.get("welt", "f32")
    kind = case.get("inputs", "int")
    if kind == "float":
        qi = c.randn(rng, (B, HI, Sq, DI), elt)
        ki = c.randn(rng, (B, Skv, DI), elt)
        w = c.randn(rng, (B, Sq, HI), welt)
    elif kind == "binary":
        qi = c.to_elt(np.ones((B, HI, Sq, DI)), elt)
        ki = c.quantized(rng, (B, Skv, DI), elt, 0, 1, 1.0)
        w = c.to_elt(np.ones((B, Sq, HI)), welt)
    else:
        qi = c.quantized(rng, (B, HI, Sq, DI), elt, -2, 2, 1.0)
        ki = c.quantized(rng, (B, Skv, DI), elt, -2, 2, 1.0)
        w = c.quantized(rng, (B, Sq, HI), welt, -2, 3, 0.5)
    mask = case.get("mask")
    seg = None
    if case.get("seg"):
        seg_q = c.segments(rng, B, Sq, 4)
        seg_kv = c.segments(rng, B, Skv, 4)
        if case["seg"] == "absent":
            seg_q[:, 10:15] = 42
        seg = (seg_q, seg_kv)
    qdyn = tuple({0: 0, 1: 2}[a] for a in dyn)
    qiT = c.ttype(qi.shape, elt, qdyn)
    kiT = c.ttype(ki.shape, elt, tuple(a for a in dyn if a == 0) + ((1,) if 1 in dyn else ()))
    wT = c.ttype(w.shape, welt, dyn)
    tT = c.ttype((B, Sq, topk), "i32", dyn)
    args = [("qi", qiT), ("ki", kiT), ("w", wT)]
    arrays = [qi, ki, w]
    segc = ""
    if seg is not None:
        sd = case.get("seg_dyn", ())
        sqT, skT = c.ttype(seg[0].shape, "i32", sd), c.ttype(seg[1].shape, "i32", sd)
        segc = f" segment_ids(%sq, %skv : {sqT}, {skT})"
        args += [("sq", sqT), ("skv", skT)]
        arrays += list(seg)
    attrs = c.attr_dict(topk=topk, mask=mask)
    body = f"  %t = sparse_attn.lightning_indexer %qi, %ki, %w{segc} {attrs} : {qiT}, {kiT}, {wT} -> {tT}"
    text = c.func_text(args, body, [("t", tT)])
    case["_ir"] = text
    sq_, skv_ = (None, None) if seg is None else seg
    want = g.lightning_indexer(c.f64(qi), c.f64(ki), c.f64(w), topk, mask=mask, seg_q=sq_, seg_kv=skv_)
    got = c.run_cpu(text, arrays)
    if kind == "float":
        scores = g.lightning_scores(c.f64(qi), c.f64(ki), c.f64(w))
        bound = np.einsum("bih,bhij->bij", np.abs(c.f64(w)),
                          np.einsum("bhid,bjd->bhij", np.abs(c.f64(qi)), np.abs(c.f64(ki))))
        bound = bound.max(axis=-1)
        allowed = g.dense_allowed(mask, B, Sq, Skv, sq_, skv_)
        check_topk_tolerant("token_indices", got[0], scores, bound, allowed, topk, want)
    else:
        c.check_exact("token_indices", got[0], want)


# ----------------------------------------------------------------------------
# Sweeps (fixed seeds)
# ----------------------------------------------------------------------------


def sweep(seed=5150):
    r = np.random.default_rng(seed)
    cases = []
    for n in range(10):
        S = int(r.choice([1, 17, 127, 128, 129, 1000]))
        block = int(r.choice([1, 3, 16, 64, 128, 2000]))
        cases.append(dict(op="pool", kind=str(r.choice(["mean", "max"])),
                          shape=(int(r.choice([1, 2])), int(r.choice([1, 4])), S,
                                 int(r.choice([16, 64, 128]))),
                          block=block, elt=str(r.choice(["f32", "bf16", "f16"])),
                          dyn=[(), (0,), (2,), (0, 2)][r.integers(4)], sweep=n))
    lengths = [1, 17, 20, 64, 127, 128, 129, 200, 1000]
    n = 0
    while n < 14:
        Hkv = int(r.choice([1, 2, 4]))
        G = int(r.choice([1, 2, 4]))
        Hq = Hkv * G
        Skv = int(r.choice(lengths))
        Sq = Skv if r.random() < 0.4 else int(r.choice(lengths))
        block = [int(r.choice([1, 16, 64])), int(r.choice([8, 16, 64, 128]))]
        if -(-Sq // block[0]) * -(-Skv // block[1]) > 20000:
            continue
        case = dict(op="block_scores", B=int(r.choice([1, 2])), Hq=Hq, Hkv=Hkv,
                    Hr=int(r.choice([Hq, Hkv])), D=int(r.choice([16, 64, 128])), block=block,
                    qelt=str(r.choice(["f32", "bf16", "f16"])),
                    kelt=str(r.choice(["f32", "bf16", "f16"])), sweep=n)
        mask = c.random_mask(r, Skv, right_ok=Sq <= Skv, p_none=0.2)
        if mask is None:
            case.update(NQ=-(-Sq // block[0]), NK=-(-Skv // block[1]))
        elif mask.reads_segments:
            case.update(mask=mask, Sq=Sq, Skv=Skv, seg=str(r.choice(["packed", "absent", "random"])))
        else:
            case.update(mask=mask, q_len=Sq, kv_len=Skv)
        if r.random() < 0.3:
            case["scale"] = float(r.choice([0.25, 0.3, 2.0]))
        if r.random() < 0.4:
            case["dyn"] = (0, 2)
        cases.append(case)
        n += 1
    for n in range(16):
        NK = int(r.choice([1, 2, 7, 64, 200]))
        k = int(r.choice([1, 2, 5, NK, NK + 3]))
        sink, local = int(r.choice([0, 0, 1, 3])), int(r.choice([0, 0, 1, 2]))
        cases.append(dict(op="select_topk", shape=(int(r.choice([1, 2])), int(r.choice([1, 3])),
                                                   int(r.choice([1, 5, 33])), NK),
                          k=k, sink=sink, local=local, C=k + sink + local + int(r.integers(0, 3)),
                          scores="mixed", p_ninf=float(r.choice([0.0, 0.3, 0.9])),
                          dyn=[(), (0,), (0, 2), (0, 2, 3)][r.integers(4)], sweep=n))
    n = 0
    while n < 16:
        Skv = int(r.choice([1, 17, 64, 128, 129, 200]))
        Sq = Skv if r.random() < 0.4 else int(r.choice([1, 17, 64, 128, 129, 200]))
        mask = c.random_mask(r, Skv, right_ok=Sq <= Skv, p_none=0.2)
        elt = str(r.choice(["f32", "bf16", "f16"]))
        case = dict(op="lightning_indexer", B=int(r.choice([1, 2])), HI=int(r.choice([1, 2, 4, 8])),
                    Sq=Sq, Skv=Skv, DI=int(r.choice([16, 32, 64])),
                    topk=int(r.choice([1, 8, 64, 300])), elt=elt,
                    welt=str(r.choice(["f32", elt])), dyn=[(), (0,), (1,), (0, 1)][r.integers(4)],
                    sweep=n)
        if mask is not None:
            case["mask"] = mask
            if mask.reads_segments:
                case["seg"] = str(r.choice(["absent", "random"]))
        if r.random() < 0.25:
            case["inputs"] = "float"
        cases.append(case)
        n += 1
    return cases


RUNNERS = {"pool": run_pool, "block_scores": run_scores, "select_topk": run_topk,
           "select_threshold": run_threshold, "lightning_indexer": run_indexer}


def run_case(case, rng):
    RUNNERS[case["op"]](case, rng)


if __name__ == "__main__":
    c.exit_with(c.main(POOL + SCORES + TOPK + THRESHOLD + INDEXER + sweep(), run_case,
                       "indexers"))
