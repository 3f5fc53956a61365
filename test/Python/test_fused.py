# RUN: %python %s
"""sparse-attn-fuse-selection and the fused ops on the CPU path.

Each case writes a selection chain (pool -> block_scores -> select_topk |
select_threshold -> block_sparse_attention, or lightning_indexer ->
token_sparse_attention), fuses it with sparse-attn-fuse-selection (the
fused op must replace the chain), runs both forms with run_cpu and checks
that the fused op's results equal the chain's bit for bit (the same blocks
selected) and the float64 golden chain within the usual tolerance. Inputs
are quantized (scores exact in f32, ties decided by the rule, not by
rounding) or, for threshold selection, redrawn until no running mass is
within 1e-4 of its target.

Covers: one selection per GQA group and per query head, sink / local / k,
threshold masses with and without a binding max_blocks, MoBA's per-query
lists (block_q = 1), partial last blocks, Sq != Skv, different score and
attention masks, explicit scales, f32 / bf16, and DSA's indexer chain.
"""

import numpy as np

import common as c
import golden as g

CASES = [
    # NSA: one selection per GQA group.
    dict(kind="block", B=1, Hq=4, Hkv=2, Sq=256, Skv=256, D=16, block=[32, 32], Hr="Hkv", k=2,
         sink=1, local=1, mask=g.Causal(), score_mask=g.Causal(), elt="bf16"),
    # Per query head, no masks, partial last blocks, explicit scales.
    dict(kind="block", B=2, Hq=2, Hkv=1, Sq=100, Skv=130, D=16, block=[16, 32], Hr="Hq", k=2,
         scale=0.5, score_scale=0.25, elt="f32"),
    # MoBA: each query scores the pooled key blocks itself.
    dict(kind="block", B=1, Hq=2, Hkv=2, Sq=128, Skv=128, D=16, block=[1, 32], Hr="Hq", k=1,
         local=1, mask=g.Causal(), score_mask=g.Causal(), elt="bf16", moba=True),
    # Threshold selection, GQA-shared, max_blocks not binding / binding.
    dict(kind="block", B=1, Hq=4, Hkv=2, Sq=192, Skv=192, D=16, block=[32, 32], Hr="Hkv",
         mass=0.9, max_blocks=6, sink=1, local=1, mask=g.Causal(), score_mask=g.Causal(),
         elt="f32", inputs="random"),
    dict(kind="block", B=2, Hq=2, Hkv=2, Sq=128, Skv=160, D=32, block=[16, 16], Hr="Hq",
         mass=0.95, max_blocks=2, mask=g.SlidingWindow(40, 0), score_mask=g.Causal(),
         elt="f32", inputs="random"),
    dict(kind="block", B=1, Hq=2, Hkv=1, Sq=96, Skv=96, D=16, block=[1, 16], Hr="Hq", mass=0.5,
         max_blocks=3, local=1, mask=g.Causal(), score_mask=g.Causal(), elt="f32",
         inputs="random", moba=True),
    # DSA.
    dict(kind="token", B=1, Hq=4, Hkv=1, Sq=64, Skv=64, D=32, Dv=16, HI=2, DI=16, topk=16,
         index_mask=g.Causal(), elt="bf16"),
    dict(kind="token", B=2, Hq=2, Hkv=1, Sq=40, Skv=50, D=16, Dv=16, HI=4, DI=16, topk=8,
         scale=0.3, elt="f32"),
]


def pooled_chain(case, rng):
    """The block chain's IR and its golden results."""
    B, Hq, Hkv, Sq, Skv, D = (case[k] for k in ("B", "Hq", "Hkv", "Sq", "Skv", "D"))
    bq, bkv = case["block"]
    NQ, NK = -(-Sq // bq), -(-Skv // bkv)
    Hr = Hq if case["Hr"] == "Hq" else Hkv
    elt = case["elt"]
    sink, local = case.get("sink", 0), case.get("local", 0)
    threshold = "mass" in case
    cap = case["max_blocks"] if threshold else case["k"]
    C = cap + sink + local
    for _ in range(100):
        if case.get("inputs") == "random":
            q, k, v = (c.randn(rng, (B, H, S, D), elt) for H, S in ((Hq, Sq), (Hkv, Skv), (Hkv, Skv)))
        else:
            q, k, v = (c.quantized(rng, (B, H, S, D), elt)
                       for H, S in ((Hq, Sq), (Hkv, Skv), (Hkv, Skv)))
        qp = c.f64(q) if case.get("moba") else g.pool(q, "mean", bq)
        kp = g.pool(k, "mean", bkv)
        scores = g.block_scores(qp, kp, case["block"], Hr, case.get("score_mask"), Sq, Skv,
                                case.get("score_scale"))
        if not threshold or g.threshold_margin(scores, case["mass"], cap, sink, local) > 1e-4:
            break
    else:
        raise AssertionError("no scores away from the mass boundary")
    if threshold:
        num, idx = g.select_threshold(scores, np.float32(case["mass"]), cap, sink, local, C)
    else:
        num, idx = g.select_topk(scores, cap, sink, local, C)
    want = g.block_sparse_attention(q, k, v, num, idx, case["block"], case.get("mask"),
                                    case.get("scale"))

    qT, kT = c.ttype(q.shape, elt), c.ttype(k.shape, elt)
    oT, lT = c.ttype((B, Hq, Sq, D), elt), c.ttype((B, Hq, Sq), "f32")
    qpT = qT if case.get("moba") else c.ttype((B, Hq, NQ, D), "f32")
    kpT = c.ttype((B, Hkv, NK, D), "f32")
    sT = c.ttype((B, Hr, NQ, NK), "f32")
    nT, iT = c.ttype((B, Hr, NQ), "i32"), c.ttype((B, Hr, NQ, C), "i32")
    lines = []
    if case.get("moba"):
        qp_name = "q"
    else:
        qp_name = "qp"
        lines.append(f"  %qp = sparse_attn.pool mean %q {{block = {bq}}} : {qT} -> {qpT}")
    lines.append(f"  %kp = sparse_attn.pool mean %k {{block = {bkv}}} : {kT} -> {kpT}")
    score_attrs = c.attr_dict(mask=case.get("score_mask"), block=case["block"], q_len=Sq,
                              kv_len=Skv, scale=case.get("score_scale"))
    lines.append(f"  %s = sparse_attn.block_scores %{qp_name}, %kp {score_attrs} : {qpT}, {kpT} -> {sT}")
    if threshold:
        sel = c.attr_dict(mass=f"{c.fmt_f32(case['mass'])} : f32", max_blocks=cap,
                          sink=sink or None, local=local or None)
        lines.append(f"  %n, %i = sparse_attn.select_threshold %s {sel} : {sT} -> {nT}, {iT}")
    else:
        sel = c.attr_dict(k=cap, sink=sink or None, local=local or None)
        lines.append(f"  %n, %i = sparse_attn.select_topk %s {sel} : {sT} -> {nT}, {iT}")
    attn = c.attr_dict(block=case["block"], mask=case.get("mask"), scale=case.get("scale"))
    lines.append(f"  %o, %lse = sparse_attn.block_sparse_attention %q, %k, %v, %n, %i {attn} : "
                 f"{qT}, {kT}, {kT}, {nT}, {iT} -> {oT}, {lT}")
    text = c.func_text([("q", qT), ("k", kT), ("v", kT)], "\n".join(lines),
                       [("o", oT), ("lse", lT)])
    return text, [q, k, v], want


def token_chain(case, rng):
    B, Hq, Hkv, Sq, Skv, D, Dv = (case[k] for k in ("B", "Hq", "Hkv", "Sq", "Skv", "D", "Dv"))
    HI, DI, topk, elt = case["HI"], case["DI"], case["topk"], case["elt"]
    q = c.quantized(rng, (B, Hq, Sq, D), elt)
    k = c.quantized(rng, (B, Hkv, Skv, D), elt)
    v = c.quantized(rng, (B, Hkv, Skv, Dv), elt)
    # Small integers: the indexer's scores are exact, ties go by the rule.
    qi = c.to_elt(rng.integers(-3, 4, size=(B, HI, Sq, DI)), elt)
    ki = c.to_elt(rng.integers(-3, 4, size=(B, Skv, DI)), elt)
    w = c.to_elt(rng.integers(0, 3, size=(B, Sq, HI)), "f32")
    ti = g.lightning_indexer(qi, ki, w, topk, case.get("index_mask"))
    want = g.token_sparse_attention(q, k, v, ti, case.get("scale"))
    qT, kT, vT = c.ttype(q.shape, elt), c.ttype(k.shape, elt), c.ttype(v.shape, elt)
    qiT, kiT, wT = c.ttype(qi.shape, elt), c.ttype(ki.shape, elt), c.ttype(w.shape, "f32")
    tT = c.ttype((B, Sq, topk), "i32")
    oT, lT = c.ttype((B, Hq, Sq, Dv), elt), c.ttype((B, Hq, Sq), "f32")
    idx_attrs = c.attr_dict(topk=topk, mask=case.get("index_mask"))
    body = (f"  %t = sparse_attn.lightning_indexer %qi, %ki, %w {idx_attrs} : {qiT}, {kiT}, {wT} -> {tT}\n"
            f"  %o, %lse = sparse_attn.token_sparse_attention %q, %k, %v, %t "
            f"{c.attr_dict(scale=case.get('scale'))} : {qT}, {kT}, {vT}, {tT} -> {oT}, {lT}")
    text = c.func_text([("q", qT), ("k", kT), ("v", vT), ("qi", qiT), ("ki", kiT), ("w", wT)],
                       body, [("o", oT), ("lse", lT)])
    return text, [q, k, v, qi, ki, w], want


def fuse(text):
    import sparse_attn  # noqa: PLC0415
    module = sparse_attn.parse(text)
    module.run_pipeline("sparse-attn-fuse-selection")
    return str(module)


def run_case(case, rng):
    build = pooled_chain if case["kind"] == "block" else token_chain
    text, args, want = build(case, rng)
    case["_ir"] = text
    fused = fuse(text)
    op = "fused_block_sparse_attention" if case["kind"] == "block" else "fused_token_sparse_attention"
    chain_ops = ("block_scores", "select_topk", "select_threshold", "lightning_indexer",
                 "sparse_attn.block_sparse_attention", "sparse_attn.token_sparse_attention")
    if op not in fused or any(name in fused for name in chain_ops):
        raise c.Mismatch(f"the chain was not fused:\n{fused}")
    chain = c.run_cpu(text, args)
    got = c.run_cpu(fused, args)  # last: test/gpu/build_cases.py keeps its checks
    for name, x, y in zip(("out", "lse"), got, chain):
        if not np.array_equal(np.asarray(x).view(np.uint8), np.asarray(y).view(np.uint8)):
            raise c.Mismatch(f"{name}: the fused op differs from the chain")
    c.check_attention(got, want, case["elt"])


if __name__ == "__main__":
    c.exit_with(c.main(CASES, run_case, "fused"))
