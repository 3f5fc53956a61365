# RUN: %python %s
"""sparse_attn.block_mask on the CPU path against the float64 golden model.

Structural masks with static types are run as written and after
`canonicalize` (which may fold them to constants); dynamic result types and
document masks exercise the run-time path. Covers partial blocks, q_len !=
kv_len both ways, decode, batch / head broadcast of the result, capacities
larger than needed, a run-time capacity overflow (first C blocks stored,
full count kept), dynamic capacities, documents with ids absent from the
keys, and every mask and combinator. Every case runs twice: with two
results (every occupied block) and with four (partial blocks, then the full
blocks in a capacity of their own, tight where static).
"""

import numpy as np

import common as c
import golden as g

I64_MAX = 2**63 - 1

STRUCTURAL = [
    dict(mask=g.Causal(), block=[128, 128], q_len=512, kv_len=512, C=4),
    dict(mask=g.Causal(), block=[64, 64], q_len=130, kv_len=150, C=3),
    dict(mask=g.Causal(), block=[16, 16], q_len=1, kv_len=40, C=3),
    dict(mask=g.Causal(), block=[16, 16], q_len=32, kv_len=8, C=1),
    dict(mask=g.SlidingWindow(16, 16), block=[32, 32], q_len=128, kv_len=128, C=3, H=2),
    dict(mask=g.SinkWindow(2, 8), block=[16, 16], q_len=64, kv_len=64, C=3),
    dict(mask=g.Neighborhood([8, 8], [3, 3]), block=[8, 8], q_len=64, kv_len=64, C=3),
    dict(mask=g.Neighborhood([16], [3], [2], [True]), block=[4, 4], q_len=16, kv_len=16, C=2),
    dict(mask=g.Intersect([g.Causal(), g.Union([g.SlidingWindow(0, 0), g.SlidingWindow(1000, 1000)]),
                           g.Union([g.SinkWindow(1, 0), g.SlidingWindow(0, 0)])]),
         block=[16, 16], q_len=64, kv_len=64, C=2),
    dict(mask=None, block=[64, 64], q_len=100, kv_len=100, C=2),
    dict(mask=g.SlidingWindow(100, 50), block=[64, 32], q_len=1000, kv_len=1000, C=32, B=2, H=3),
    dict(mask=g.Neighborhood([4, 8, 8], [3, 3, 5], [1, 2, 1], [True, False, False]), block=[16, 32],
         q_len=200, kv_len=256, C=8),
    dict(mask=g.Union([g.SinkWindow(4, 0), g.Intersect([g.Causal(), g.SlidingWindow(64, 64)])]),
         block=[8, 100], q_len=129, kv_len=1000, C=10),
    dict(mask=g.SlidingWindow(I64_MAX, I64_MAX), block=[7, 3], q_len=50, kv_len=20, C=7),
    dict(mask=g.SlidingWindow(2, 30), block=[5, 4], q_len=40, kv_len=24, C=6),
    dict(mask=g.SlidingWindow(I64_MAX, I64_MAX), block=[7, 3], q_len=20, kv_len=50, C=17),
    dict(mask=g.Union([g.SinkWindow(I64_MAX, 0), g.SlidingWindow(0, I64_MAX)]), block=[4, 4],
         q_len=30, kv_len=30, C=8),
    dict(mask=g.SinkWindow(3, 10), block=[17, 1], q_len=127, kv_len=127, C=40),
    dict(mask=g.Neighborhood([17], [5], [3]), block=[3, 4], q_len=20, kv_len=17, C=5),
    # Dynamic query-block count: the lists cannot fold.
    dict(mask=g.Causal(), block=[16, 16], q_len=129, kv_len=129, C=9, dyn_nq=True),
    dict(mask=g.Neighborhood([8, 16], [3, 5], [2, 1], [False, True]), block=[16, 16], q_len=128,
         kv_len=128, C=8, dyn_nq=True, B=2),
    dict(mask=g.SinkWindow(4, 20), block=[32, 16], q_len=1000, kv_len=1000, C=5, dyn_nq=True),
    # A dynamic capacity: whatever extent the lowering picks, the lists
    # follow the rule for that capacity.
    dict(mask=g.SlidingWindow(5, 5), block=[4, 4], q_len=33, kv_len=33, C=None, dyn_c=True),
]

DOCUMENT = [
    dict(mask=g.Document(), block=[128, 64], Sq=1000, Skv=1000, B=2, C=16),
    dict(mask=g.Document(), block=[64, 64], Sq=300, Skv=300, B=3, C=None, seg_dyn=(0, 1), res_dyn=(0, 2, 3)),
    # Run-time capacity overflow: 2 slots, more occupied blocks.
    dict(mask=g.Document(), block=[8, 8], Sq=100, Skv=100, B=2, C=2, seg_dyn=(1,), res_dyn=(2,),
         nseg=2),
    dict(mask=g.Intersect([g.Causal(), g.Document()]), block=[16, 8], Sq=50, Skv=90, B=2, H=2, C=12),
    dict(mask=g.Union([g.Document(), g.SlidingWindow(4, 0)]), block=[16, 16], Sq=129, Skv=129, B=1,
         C=9, absent=True),
    dict(mask=g.Document(), block=[10, 10], Sq=90, Skv=60, B=2, C=6, absent=True, seg_dyn=(0, 1),
         res_dyn=(0, 2)),
]


LENGTHS = [1, 17, 20, 64, 127, 128, 129, 200, 1000]


def sweep(n_struct, n_doc, seed=99):
    """Random masks, lengths and blocks (fixed seed); capacities are the
    longest list plus 0-2 spare slots."""
    r = np.random.default_rng(seed)
    cases = []
    while len(cases) < n_struct:
        kv_len = int(r.choice(LENGTHS))
        q_len = kv_len if r.random() < 0.4 else int(r.choice(LENGTHS))
        block = [int(r.choice([1, 3, 16, 32, 64, 128])), int(r.choice([1, 5, 16, 64, 128]))]
        mask = c.random_mask(r, kv_len, allow_document=False, right_ok=q_len <= kv_len)
        NK = -(-kv_len // block[1])
        if -(-q_len // block[0]) * NK > 20000:
            continue
        need = int(g.block_mask(mask, block, 1, 1, NK, q_len=q_len, kv_len=kv_len)[0].max())
        case = dict(mask=mask, block=block, q_len=q_len, kv_len=kv_len,
                    C=max(1, need + int(r.integers(0, 3))), B=int(r.choice([1, 2])),
                    H=int(r.choice([1, 3])), sweep=len(cases))
        if r.random() < 0.3:
            case["dyn_nq"] = True
        cases.append(case)
    while len(cases) < n_struct + n_doc:
        Skv = int(r.choice(LENGTHS))
        Sq = Skv if r.random() < 0.5 else int(r.choice(LENGTHS))
        block = [int(r.choice([1, 3, 16, 64])), int(r.choice([1, 5, 16, 64]))]
        NK = -(-Skv // block[1])
        if -(-Sq // block[0]) * NK > 20000:
            continue
        mask = None
        while mask is None or not mask.reads_segments:
            mask = c.random_mask(r, Skv, right_ok=Sq <= Skv)
        case = dict(mask=mask, block=block, Sq=Sq, Skv=Skv, B=int(r.choice([1, 2, 3])),
                    H=int(r.choice([1, 2])), C=NK + int(r.integers(0, 2)),
                    absent=bool(r.random() < 0.3), sweep=len(cases))
        if r.random() < 0.5:
            case["seg_dyn"] = [(0,), (1,), (0, 1)][r.integers(3)]
            case["res_dyn"] = [(0,), (2,), (0, 2)][r.integers(3)]
        cases.append(case)
    return cases


def canonicalized(text):
    import sparse_attn  # noqa: PLC0415
    module = sparse_attn.parse(text)
    module.run_pipeline("builtin.module(canonicalize)")
    return str(module)


RESULT_NAMES = ["num_blocks", "block_indices", "full_num_blocks", "full_block_indices"]


def result_clause(types):
    """The block_mask results: %num, %idx[, %fnum, %fidx] and their types."""
    names = ["num", "idx", "fnum", "fidx"][:len(types)]
    return ", ".join("%" + n for n in names), ", ".join(types), list(zip(names, types))


def check_lists(how, got, want):
    if len(got) != len(want):
        raise c.Mismatch(f"{how}: expected {len(want)} results, got {len(got)}")
    for name, x, y in zip(RESULT_NAMES, got, want):
        c.check_exact(f"{how}: {name}", x, y)


def run_structural(case, rng):
    B, H = case.get("B", 1), case.get("H", 1)
    bq, bkv = case["block"]
    q_len, kv_len = case["q_len"], case["kv_len"]
    NQ, NK = -(-q_len // bq), -(-kv_len // bkv)
    C = case["C"]
    golden = lambda cap, full_cap=None: g.block_mask(  # noqa: E731
        case["mask"], case["block"], B, H, cap, q_len=q_len, kv_len=kv_len, full_capacity=full_cap)
    row_dyn = (2,) if case.get("dyn_nq") else ()
    cap_dyn = row_dyn + ((3,) if case.get("dyn_c") else ())
    nT = c.ttype((B, H, NQ), "i32", row_dyn)
    iT = c.ttype((B, H, NQ, C or 1), "i32", cap_dyn)
    want = golden(C or NK)
    assert want[0].max() <= (C or NK), "static capacity must hold the longest list"
    # The full lists get the tightest static capacity (at least 1).
    CF = max(int(golden(NK, NK)[2].max()), 1)
    fiT = c.ttype((B, H, NQ, CF), "i32", cap_dyn)
    attrs = c.attr_dict(mask=case["mask"], block=case["block"], q_len=q_len, kv_len=kv_len)
    for types in ([nT, iT], [nT, iT, nT, fiT]):
        names, type_list, results = result_clause(types)
        body = f"  {names} = sparse_attn.block_mask {attrs} : {type_list}"
        text = c.func_text([], body, results)
        case["_ir"] = text
        texts = [("as written", text)]
        if not (case.get("dyn_nq") or case.get("dyn_c")):
            texts.append(("canonicalized", None))
        for how, t in texts:
            how = f"{len(types)} results, {how}"
            if t is None:
                t = canonicalized(text)
            got = c.run_cpu(t, [])
            caps = (C or NK, CF)
            if case.get("dyn_c") and len(got) >= 2:
                caps = tuple(np.asarray(x).shape[3] for x in got[1::2]) + (None,)
                case["_capacity"] = caps[0]
            want = golden(caps[0]) if len(types) == 2 else golden(caps[0], caps[1])
            check_lists(how, got, want)


def run_document(case, rng):
    B, H = case["B"], case.get("H", 1)
    Sq, Skv = case["Sq"], case["Skv"]
    bq, bkv = case["block"]
    NQ, NK = -(-Sq // bq), -(-Skv // bkv)
    nseg = case.get("nseg", 6)
    seg_q = c.segments(rng, B, Sq, nseg)
    seg_kv = seg_q.copy() if Sq == Skv else c.segments(rng, B, Skv, nseg)
    if case.get("absent"):
        start = (Sq // 2) // bq * bq  # two whole query blocks of an id no key has
        seg_q[:, start:start + 2 * bq] = 77
    if case.get("nseg") == 2:  # alternate to make every block hold both ids
        seg_q[:, ::3] = 1 - seg_q[:, ::3]
        seg_kv = seg_q.copy()
    seg_dyn = case.get("seg_dyn", ())
    res_dyn = case.get("res_dyn", ())
    C = case["C"]
    sqT, skT = c.ttype(seg_q.shape, "i32", seg_dyn), c.ttype(seg_kv.shape, "i32", seg_dyn)
    nT = c.ttype((B, H, NQ), "i32", res_dyn)
    iT = c.ttype((B, H, NQ, C or NK), "i32", res_dyn)
    golden = lambda cap, full_cap=None: g.block_mask(  # noqa: E731
        case["mask"], case["block"], B, H, cap, seg_q=seg_q, seg_kv=seg_kv, full_capacity=full_cap)
    want = golden(C or NK)
    if case.get("nseg") == 2:
        assert want[0].max() > C, "the overflow case must overflow"
    if case.get("absent") and isinstance(case["mask"], g.Document):
        assert (want[0] == 0).any()
    attrs = c.attr_dict(mask=case["mask"], block=case["block"])
    for types in ([nT, iT], [nT, iT, nT, iT]):
        names, type_list, results = result_clause(types)
        body = (f"  {names} = sparse_attn.block_mask segment_ids(%sq, %skv : {sqT}, {skT}) {attrs}"
                f" : {type_list}")
        text = c.func_text([("sq", sqT), ("skv", skT)], body, results)
        case["_ir"] = text
        got = c.run_cpu(text, [seg_q, seg_kv])
        caps = (C or NK,) * 2
        if C is None and len(got) >= 2:
            caps = tuple(np.asarray(x).shape[3] for x in got[1::2]) + (None,)
            case["_capacity"] = caps[0]
        want = golden(caps[0]) if len(types) == 2 else golden(caps[0], caps[1])
        check_lists(f"{len(types)} results", got, want)


def run_case(case, rng):
    if "q_len" in case:
        run_structural(case, rng)
    else:
        run_document(case, rng)
    if "_capacity" in case:
        print(f"    (dynamic capacity came back as {case['_capacity']})")


if __name__ == "__main__":
    c.exit_with(c.main(STRUCTURAL + DOCUMENT + sweep(60, 20), run_case, "block_mask"))
