# RUN: %python %s
"""Hand-worked checks of the golden model itself (no compiled code).

Each expected value below was worked out by hand from docs/semantics.md or
copied from the hand-worked folds in test/Dialect/SparseAttn/canonicalize.mlir.
"""

import math
import sys

import numpy as np

import golden as g

FAILURES = []


def check(name, cond, detail=""):
    if not cond:
        FAILURES.append(f"{name}: {detail}")


def close(a, b, tol=1e-12):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and np.array_equal(np.isinf(a), np.isinf(b)) and \
        np.allclose(a[np.isfinite(b)], b[np.isfinite(b)], rtol=tol, atol=tol) and \
        np.array_equal(a[np.isinf(b)], b[np.isinf(b)])


def test_scale():
    check("scale 64", g.default_scale(64) == 0.125)
    check("scale 3", g.default_scale(3) == float(np.float32(1 / math.sqrt(3))))
    check("scale 3 is f32", g.default_scale(3) != 1 / math.sqrt(3))


def test_causal_3x3():
    # D = 1, Dv = 1, scale 1; q = [1, 2, 0], k = [0, 1, 2], v = [1, 2, 4].
    q = np.array([1.0, 2.0, 0.0]).reshape(1, 1, 3, 1)
    k = np.array([0.0, 1.0, 2.0]).reshape(1, 1, 3, 1)
    v = np.array([1.0, 2.0, 4.0]).reshape(1, 1, 3, 1)
    out, lse = g.attention(q, k, v, mask=g.Causal(), scale=1.0)
    e2 = math.exp(2)
    want_out = [1.0, (1 + 2 * e2) / (1 + e2), 7 / 3]
    want_lse = [0.0, math.log(1 + e2), math.log(3)]
    check("causal3x3 out", close(out.reshape(-1), want_out), f"{out.reshape(-1)} vs {want_out}")
    check("causal3x3 lse", close(lse.reshape(-1), want_lse), f"{lse.reshape(-1)} vs {want_lse}")
    # Without a mask, row 0 (scores [0, 1, 2]) sees all three keys.
    out, lse = g.attention(q, k, v, scale=1.0)
    e = math.e
    check("dense row0", close(out[0, 0, 0, 0], (1 + 2 * e + 4 * e * e) / (1 + e + e * e))
          and close(lse[0, 0, 0], math.log(1 + e + e * e)), f"{out[0, 0, 0]} {lse[0, 0, 0]}")


def test_causal_overhang():
    # Sq = 3 > Skv = 2: row 0 sits at p = -1 (empty), row 1 at p = 0, row 2 at p = 1.
    q = np.zeros((1, 1, 3, 2))
    k = np.zeros((1, 1, 2, 2))
    v = np.array([[3.0], [5.0]]).reshape(1, 1, 2, 1)
    out, lse = g.attention(q, k, v, mask=g.Causal())
    check("overhang out", close(out.reshape(-1), [0.0, 3.0, 4.0]), str(out.reshape(-1)))
    check("overhang lse", close(lse.reshape(-1), [-np.inf, 0.0, math.log(2)]), str(lse.reshape(-1)))
    check("overhang +0", not np.signbit(out[0, 0, 0, 0]))
    # A p < 0 row follows the window formula: right = 5 reaches keys from p = -1.
    a = g.dense_allowed(g.SlidingWindow(0, 5), 1, 3, 2)
    check("sliding p<0", a[0, 0].tolist() == [True, True] and a[0, 1].tolist() == [True, True]
          and a[0, 2].tolist() == [False, True], str(a))
    a = g.dense_allowed(g.SinkWindow(1, 1), 1, 3, 2)
    check("sink p<0", a[0].tolist() == [[False, False], [True, False], [True, True]], str(a))


def test_decode():
    # Sq = 1 sits at the last position: causal sees every key.
    a = g.dense_allowed(g.Causal(), 1, 1, 5)
    check("decode causal", a.all())
    a = g.dense_allowed(g.SinkWindow(2, 2), 1, 1, 10)
    check("decode sink", np.nonzero(a[0, 0])[0].tolist() == [0, 1, 8, 9], str(a))
    a = g.dense_allowed(g.SlidingWindow(3, 0), 1, 1, 10)
    check("decode sliding", np.nonzero(a[0, 0])[0].tolist() == [6, 7, 8, 9])


def test_window_clamp():
    big = 2**63 - 1
    a = g.dense_allowed(g.SlidingWindow(big, big), 1, 4, 4)
    check("huge window", a.all())
    a = g.dense_allowed(g.SinkWindow(big, 0), 1, 4, 4)
    check("huge sink", (a[0] == np.tril(np.ones((4, 4), dtype=bool))).all())


def test_document():
    seg_q = np.array([[0, 0, 1, 7]])
    seg_kv = np.array([[0, 1, 1, 2, 0]])
    a = g.dense_allowed(g.Document(), 1, 4, 5, seg_q, seg_kv)
    want = [[1, 0, 0, 0, 1], [1, 0, 0, 0, 1], [0, 1, 1, 0, 0], [0, 0, 0, 0, 0]]
    check("document", a[0].astype(int).tolist() == want, str(a))
    q = np.zeros((1, 1, 4, 2))
    k = np.zeros((1, 1, 5, 2))
    v = np.arange(5.0).reshape(1, 1, 5, 1)
    out, lse = g.attention(q, k, v, mask=g.Document(), seg_q=seg_q, seg_kv=seg_kv)
    check("document out", close(out.reshape(-1), [2.0, 2.0, 1.5, 0.0]), str(out.reshape(-1)))
    check("document lse", close(lse.reshape(-1), [math.log(2), math.log(2), math.log(2), -np.inf]))
    # Intersect with causal (Sq = 4, Skv = 5: p = i + 1).
    a = g.dense_allowed(g.Intersect([g.Causal(), g.Document()]), 1, 4, 5, seg_q, seg_kv)
    want = [[1, 0, 0, 0, 0], [1, 0, 0, 0, 0], [0, 1, 1, 0, 0], [0, 0, 0, 0, 0]]
    check("causal document", a[0].astype(int).tolist() == want, str(a))


def test_neighborhood_1d():
    m = g.Neighborhood([8], [3])
    a = g.dense_allowed(m, 1, 8, 8)[0]
    rows = [np.nonzero(r)[0].tolist() for r in a]
    check("nbhd1d", rows == [[0, 1, 2], [0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 5], [4, 5, 6],
                             [5, 6, 7], [5, 6, 7]], str(rows))
    m = g.Neighborhood([8], [3], causal=[True])
    rows = [np.nonzero(r)[0].tolist() for r in g.dense_allowed(m, 1, 8, 8)[0]]
    check("nbhd1d causal", rows == [[0], [0, 1], [0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 5],
                                    [4, 5, 6], [5, 6, 7]], str(rows))
    # Dilation 2 on 9 tokens, window 3: group 0 = {0,2,4,6,8} (m = 5),
    # group 1 = {1,3,5,7} (m = 4).
    m = g.Neighborhood([9], [3], dilation=[2])
    rows = [np.nonzero(r)[0].tolist() for r in g.dense_allowed(m, 1, 9, 9)[0]]
    want = [[0, 2, 4], [1, 3, 5], [0, 2, 4], [1, 3, 5], [2, 4, 6], [3, 5, 7], [4, 6, 8],
            [3, 5, 7], [4, 6, 8]]
    check("nbhd1d dilated", rows == want, str(rows))
    # Sq < Skv: query 0 of 2 sits at p = 6; Sq > Skv: rows with p < 0 are empty.
    rows = [np.nonzero(r)[0].tolist() for r in g.dense_allowed(g.Neighborhood([8], [3]), 1, 2, 8)[0]]
    check("nbhd1d offset", rows == [[5, 6, 7], [5, 6, 7]], str(rows))
    a = g.dense_allowed(g.Neighborhood([4], [3]), 1, 6, 4)[0]
    check("nbhd1d overhang", not a[:2].any() and a[2].tolist() == [True, True, True, False])


def test_neighborhood_2d():
    # 3x4 grid, window [3, 3], dilation [1, 2], causal [false, true]. Query p = 5 = (1, 1):
    # rows s = clamp(0, 0, 0) = 0 -> rows {0,1,2}; cols: group 1 = {1, 3}, P = 0 -> J in [0, 0] -> {1}.
    m = g.Neighborhood([3, 4], [3, 2], dilation=[1, 2], causal=[False, True])
    a = g.dense_allowed(m, 1, 12, 12)[0]
    check("nbhd2d p5", np.nonzero(a[5])[0].tolist() == [1, 5, 9], str(np.nonzero(a[5])[0]))
    # p = 7 = (1, 3): col group 1, P = 1 -> J in [0, 1] -> cols {1, 3}.
    check("nbhd2d p7", np.nonzero(a[7])[0].tolist() == [1, 3, 5, 7, 9, 11], str(np.nonzero(a[7])[0]))
    check("nbhd2d text", m.to_mlir() == "#sparse_attn.neighborhood<grid = [3, 4], window = [3, 2], "
          "dilation = [1, 2], causal = [false, true]>", m.to_mlir())


def fold_check(name, mask, block, q_len, kv_len, H, C, want_num, want_idx):
    num, idx = g.block_mask(mask, block, 1, H, C, q_len=q_len, kv_len=kv_len)
    check(name + " num", num.tolist() == want_num, str(num.tolist()))
    check(name + " idx", idx.tolist() == want_idx, str(idx.tolist()))


def test_canonicalize_folds():
    # The hand-worked folds of test/Dialect/SparseAttn/canonicalize.mlir.
    fold_check("fold_causal", g.Causal(), [128, 128], 512, 512, 1, 4, [[[1, 2, 3, 4]]],
               [[[[0, -1, -1, -1], [0, 1, -1, -1], [0, 1, 2, -1], [0, 1, 2, 3]]]])
    fold_check("fold_causal_partial", g.Causal(), [64, 64], 130, 150, 1, 3, [[[2, 3, 3]]],
               [[[[0, 1, -1], [0, 1, 2], [0, 1, 2]]]])
    fold_check("fold_decode", g.Causal(), [16, 16], 1, 40, 1, 3, [[[3]]], [[[[0, 1, 2]]]])
    fold_check("fold_overhang", g.Causal(), [16, 16], 32, 8, 1, 1, [[[0, 1]]], [[[[-1], [0]]]])
    fold_check("fold_sliding", g.SlidingWindow(16, 16), [32, 32], 128, 128, 2, 3,
               [[[2, 3, 3, 2], [2, 3, 3, 2]]],
               [[[[0, 1, -1], [0, 1, 2], [1, 2, 3], [2, 3, -1]],
                 [[0, 1, -1], [0, 1, 2], [1, 2, 3], [2, 3, -1]]]])
    fold_check("fold_sink", g.SinkWindow(2, 8), [16, 16], 64, 64, 1, 3, [[[1, 2, 3, 3]]],
               [[[[0, -1, -1], [0, 1, -1], [0, 1, 2], [0, 2, 3]]]])
    fold_check("fold_nbhd2d", g.Neighborhood([8, 8], [3, 3]), [8, 8], 64, 64, 1, 3, [[[3] * 8]],
               [[[[0, 1, 2], [0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 5], [4, 5, 6], [5, 6, 7],
                  [5, 6, 7]]]])
    fold_check("fold_nbhd_dilated_causal", g.Neighborhood([16], [3], [2], [True]), [4, 4], 16, 16,
               1, 2, [[[1, 2, 2, 2]]], [[[[0, -1], [0, 1], [1, 2], [2, 3]]]])
    comb = g.Intersect([g.Causal(),
                        g.Union([g.SlidingWindow(0, 0), g.SlidingWindow(1000, 1000)]),
                        g.Union([g.SinkWindow(1, 0), g.SlidingWindow(0, 0)])])
    fold_check("fold_combinators", comb, [16, 16], 64, 64, 1, 2, [[[1, 2, 2, 2]]],
               [[[[0, -1], [0, 1], [0, 2], [0, 3]]]])
    fold_check("fold_dense", None, [64, 64], 100, 100, 1, 2, [[[2, 2]]], [[[[0, 1], [0, 1]]]])


def test_block_mask_document_and_truncation():
    seg = np.array([[0, 0, 0, 1, 1, 2, 2, 2], [5, 5, 5, 5, 5, 5, 5, 6]])
    num, idx = g.block_mask(g.Document(), [2, 2], 2, 1, 4, seg_q=seg, seg_kv=seg)
    # Blocks of 2 hold segments {0}, {0, 1}, {1, 2}, {2} in batch 0.
    check("doc num", num.tolist() == [[[2, 3, 3, 2]], [[4, 4, 4, 4]]], str(num.tolist()))
    check("doc idx b0", idx[0, 0].tolist() == [[0, 1, -1, -1], [0, 1, 2, -1], [1, 2, 3, -1],
                                               [2, 3, -1, -1]], str(idx[0, 0].tolist()))
    # Capacity 2 < 4: first two stored, the count keeps the full number.
    num, idx = g.block_mask(g.Document(), [2, 2], 2, 1, 2, seg_q=seg, seg_kv=seg)
    check("trunc num", num[1, 0].tolist() == [4, 4, 4, 4])
    check("trunc idx", idx[1, 0].tolist() == [[0, 1]] * 4, str(idx[1, 0].tolist()))


def test_block_mask_full_lists():
    # Causal, q_len = kv_len = 5, blocks [2, 2]: query block I holds rows
    # 2I, 2I+1; kv block J < I is full, J = I partial (row 2I sees key 2I
    # only), and the last blocks (row 4, key 4) are full: their one pair is
    # allowed.
    num, idx, fnum, fidx = g.block_mask(g.Causal(), [2, 2], 1, 1, 3, q_len=5, kv_len=5,
                                        full_capacity=3)
    check("full: partial num", num[0, 0].tolist() == [1, 1, 0], str(num.tolist()))
    check("full: partial idx", idx[0, 0].tolist() == [[0, -1, -1], [1, -1, -1], [-1] * 3],
          str(idx.tolist()))
    check("full: full num", fnum[0, 0].tolist() == [0, 1, 3], str(fnum.tolist()))
    check("full: full idx", fidx[0, 0].tolist() == [[-1] * 3, [0, -1, -1], [0, 1, 2]],
          str(fidx.tolist()))
    # Brute force over random masks: full iff every existing pair allowed;
    # the two lists partition the occupied blocks.
    for mask in (g.SlidingWindow(3, 1), g.SinkWindow(2, 3), g.Causal(), None):
        for q_len, kv_len, block in ((7, 9, [2, 3]), (9, 7, [4, 2]), (1, 5, [1, 5])):
            allowed = g.dense_allowed(mask, 1, q_len, kv_len, None, None)[0]
            NQ, NK = -(-q_len // block[0]), -(-kv_len // block[1])
            want = np.zeros((NQ, NK), dtype=bool)
            for I in range(NQ):
                for J in range(NK):
                    pairs = allowed[I * block[0]:(I + 1) * block[0], J * block[1]:(J + 1) * block[1]]
                    want[I, J] = pairs.all()
            got = g.block_occupancy(mask, block, q_len, kv_len, full=True)[0]
            check(f"full brute force {mask} {q_len}x{kv_len}", (got == want).all())
            n, i, fn, fi = g.block_mask(mask, block, 1, 1, NK, q_len=q_len, kv_len=kv_len,
                                        full_capacity=NK)
            occ = g.block_occupancy(mask, block, q_len, kv_len)[0]
            member = g.listed_blocks(n, i, 1, 1, NK)[0, 0]
            full = g.listed_blocks(fn, fi, 1, 1, NK)[0, 0]
            check(f"full partition {mask}", (member | full).tolist() == occ.tolist()
                  and not (member & full).any())
    # Full lists bypass the mask: a causal op whose full list names a block
    # above the diagonal attends to it.
    q = np.ones((1, 1, 2, 2))
    k = np.ones((1, 1, 4, 2))
    v = np.arange(8.0).reshape(1, 1, 4, 2)
    num = np.array([[[1]]])
    idx = np.array([[[[0]]]])
    o, _ = g.block_sparse_attention(q, k, v, num, idx, [2, 2], mask=g.Causal(),
                                    full=(np.array([[[1]]]), np.array([[[[1]]]])))
    # Rows 0 and 1 sit at positions 2 and 3 (bottom-right aligned): block 0
    # (keys 0, 1) is allowed by the mask, block 1 (keys 2, 3) is listed full,
    # so both rows see every key and, with equal scores, average v.
    check("full bypasses mask", close(o[0, 0], np.tile(v[0, 0].mean(axis=0), (2, 1))), str(o))


def test_block_sparse_membership():
    # B = 1, Hq = 2, one list head, NQ = 2, C = 3, NK = 4.
    num = np.array([[[5, -1]]])
    idx = np.array([[[[3, -1, 3], [0, 1, 2]]]])
    mem = g.listed_blocks(num, idx, 1, 2, 4)
    check("member I0", mem[0, 0, 0].tolist() == [False, False, False, True], str(mem[0, 0, 0]))
    check("member I1", not mem[0, :, 1].any())
    check("member heads", (mem[0, 0] == mem[0, 1]).all())
    # Per-query-head lists; out-of-range (4) is ignored; count 2 reads [1, 9].
    num = np.array([[[2], [3]]])
    idx = np.array([[[[1, 9, 0]], [[4, 2, 2]]]])
    mem = g.listed_blocks(num, idx, 1, 2, 4)
    check("member h0", mem[0, 0, 0].tolist() == [False, True, False, False], str(mem[0, 0, 0]))
    check("member h1", mem[0, 1, 0].tolist() == [False, False, True, False], str(mem[0, 1, 0]))
    # GQA lists (Hl = Hkv = 2, Hq = 4): heads 0,1 read list 0; heads 2,3 list 1.
    mem = g.listed_blocks(num, idx, 1, 4, 4)
    check("member gqa", [mem[0, h, 0].tolist() for h in range(4)] ==
          [[False, True, False, False]] * 2 + [[False, False, True, False]] * 2)
    # Block-sparse attention with lists equals masked attention.
    rng = np.random.default_rng(0)
    q = rng.standard_normal((1, 2, 5, 4))
    k = rng.standard_normal((1, 1, 7, 4))
    v = rng.standard_normal((1, 1, 7, 3))
    bn, bi = g.block_mask(g.Causal(), [2, 3], 1, 1, 3, q_len=5, kv_len=7)
    o1, l1 = g.block_sparse_attention(q, k, v, bn, bi, [2, 3], mask=g.Causal())
    o2, l2 = g.attention(q, k, v, mask=g.Causal())
    check("bsa == attention", close(o1, o2) and close(l1, l2))
    # Listing only kv block 1 (keys 3..5) for every query block.
    nn = np.full((1, 1, 3), 1)
    ii = np.full((1, 1, 3, 1), 1)
    o3, l3 = g.block_sparse_attention(q, k, v, nn, ii, [2, 3])
    o4, l4 = g.attention(q, k[:, :, 3:6], v[:, :, 3:6])
    check("bsa one block", close(o3, o4) and close(l3, l4))


def test_token_sparse():
    # Slot list [1, 1, 0, -1, 7] over Skv = 3: key 1 counts twice.
    q = np.array([[[[1.0]]]])
    k = np.array([0.0, 1.0, 2.0]).reshape(1, 1, 3, 1)
    v = np.array([10.0, 20.0, 30.0]).reshape(1, 1, 3, 1)
    ti = np.array([[[1, 1, 0, -1, 7]]])
    out, lse = g.token_sparse_attention(q, k, v, ti, scale=1.0)
    e = math.e
    check("tsa dup out", close(out.reshape(-1), [(2 * e * 20 + 10) / (2 * e + 1)]), str(out))
    check("tsa dup lse", close(lse.reshape(-1), [math.log(2 * e + 1)]), str(lse))
    out, lse = g.token_sparse_attention(q, k, v, np.array([[[-1, 3]]]))
    check("tsa empty", out[0, 0, 0, 0] == 0 and lse[0, 0, 0] == -np.inf)


def test_pool():
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0]).reshape(1, 1, 5, 1)
    check("pool mean", g.pool(x, "mean", 2).reshape(-1).tolist() == [1.5, 3.5, 5.0])
    check("pool max", g.pool(x, "max", 2).reshape(-1).tolist() == [2.0, 4.0, 5.0])
    check("pool big block", g.pool(x, "mean", 8).reshape(-1).tolist() == [3.0])


def test_block_scores():
    # Hq = 2, Hkv = 1, D = 1; qp = [[1], [3]] per head 0 and [[2], [4]] per head 1; kp = [[1], [10]].
    qp = np.array([[[[1.0], [3.0]], [[2.0], [4.0]]]])
    kp = np.array([[[[1.0], [10.0]]]])
    s = g.block_scores(qp, kp, [4, 4], 2, scale=1.0)
    check("bs Hq", s[0].tolist() == [[[1, 10], [3, 30]], [[2, 20], [4, 40]]], str(s))
    s = g.block_scores(qp, kp, [4, 4], 1, scale=0.5)
    check("bs Hkv", s[0].tolist() == [[[1.5, 15], [3.5, 35]]], str(s))
    s = g.block_scores(qp, kp, [4, 4], 1, mask=g.Causal(), q_len=8, kv_len=8, scale=0.5)
    check("bs causal", s[0].tolist() == [[[1.5, -np.inf], [3.5, 35]]], str(s))
    check("bs default scale", g.block_scores(qp, kp, [4, 4], 2)[0, 0, 0, 0] == 1.0)


def test_select_topk():
    ninf = -np.inf
    s = np.array([[[[5, ninf, 3, 3, np.nan, 7, 1],
                    [ninf] * 7,
                    [1, 1, 1, 1, 1, 1, 1],
                    [ninf, 2, ninf, ninf, ninf, ninf, ninf]]]])
    num, idx = g.select_topk(s, k=2, sink=1, local=1, capacity=5)
    check("topk num", num.tolist() == [[[4, 0, 4, 1]]], str(num.tolist()))
    check("topk idx", idx[0, 0].tolist() == [[0, 2, 5, 6, -1], [-1] * 5, [0, 1, 2, 6, -1],
                                             [1, -1, -1, -1, -1]], str(idx.tolist()))
    # Sink and local overlapping on a short row.
    num, idx = g.select_topk(np.array([[[[1.0, 2.0]]]]), k=1, sink=2, local=2)
    check("topk overlap", num.tolist() == [[[2]]] and idx[0, 0, 0].tolist() == [0, 1, -1, -1, -1])
    # k only: ties to the lower index; +inf is selectable.
    num, idx = g.select_topk(np.array([[[[0.5, 2, 2, np.inf, 2]]]]), k=3)
    check("topk ties", idx[0, 0, 0].tolist() == [1, 2, 3], str(idx))


def test_lightning_indexer():
    # HI = 1, DI = 1, w = 1: I[i, j] = relu(qi[i] * ki[j]).
    qi = np.array([1.0, -1.0, 2.0]).reshape(1, 1, 3, 1)
    ki = np.array([2.0, -3.0, 2.0, 1.0]).reshape(1, 4, 1)
    w = np.ones((1, 3, 1))
    I = g.lightning_scores(qi, ki, w)
    check("li scores", I[0].tolist() == [[2, 0, 2, 1], [0, 3, 0, 0], [4, 0, 4, 2]], str(I))
    ti = g.lightning_indexer(qi, ki, w, topk=2)
    check("li top2", ti[0].tolist() == [[0, 2], [0, 1], [0, 2]], str(ti))
    # Causal (Sq = 3, Skv = 4: p = i + 1) and topk larger than the allowed set.
    ti = g.lightning_indexer(qi, ki, w, topk=3, mask=g.Causal())
    check("li causal", ti[0].tolist() == [[0, 1, -1], [0, 1, 2], [0, 2, 3]], str(ti))
    # Negative weights: I = -relu(...).
    ti = g.lightning_indexer(qi, ki, -w, topk=1)
    check("li negw", ti[0].tolist() == [[1], [0], [1]], str(ti))


def test_score_mod_neg_inf_row():
    q = np.ones((1, 1, 2, 1))
    k = np.ones((1, 1, 3, 1))
    v = np.ones((1, 1, 3, 2))
    out, lse = g.attention(q, k, v, score_mod=lambda s, b, h, i, j: np.where(i == 0, -np.inf, s))
    check("score_mod -inf", (out[0, 0, 0] == 0).all() and lse[0, 0, 0] == -np.inf
          and close(out[0, 0, 1], [1, 1]))


def test_nan_propagates():
    q = np.ones((1, 1, 2, 1))
    k = np.array([np.nan, 1.0]).reshape(1, 1, 2, 1)
    v = np.ones((1, 1, 2, 1))
    # Sq = Skv = 2 causal: row 0 sees key 0 (NaN), row 1 sees both.
    out, lse = g.attention(q, k, v, mask=g.SlidingWindow(0, 0))
    check("nan row", np.isnan(out[0, 0, 0, 0]) and np.isnan(lse[0, 0, 0]))
    check("nan masked", out[0, 0, 1, 0] == 1.0 and lse[0, 0, 1] == 1.0)


def test_nonfinite_values_of_masked_keys():
    # NaN / inf in v (and k) of a key outside A must not leak into a row.
    q = np.ones((1, 1, 3, 1))
    k = np.ones((1, 1, 3, 1))
    v = np.array([[1.0, 2.0], [np.nan, 3.0], [np.inf, 4.0]]).reshape(1, 1, 3, 2)
    out, lse = g.attention(q, k, v, mask=g.Causal(), scale=1.0)
    check("masked nan row0", out[0, 0, 0].tolist() == [1.0, 2.0], str(out[0, 0, 0]))
    check("masked nan row1", np.isnan(out[0, 0, 1, 0]) and out[0, 0, 1, 1] == 2.5, str(out[0, 0, 1]))
    check("masked nan lse", np.isfinite(lse).all())
    # Token lists: invalid slots never read key 0's NaN.
    v2 = np.array([[np.nan], [5.0], [7.0]]).reshape(1, 1, 3, 1)
    out, lse = g.token_sparse_attention(q[:, :, :1], k, v2, np.array([[[1, -1, 3, 2]]]))
    check("tsa invalid slot", out[0, 0, 0, 0] == 6.0, str(out))
    out, lse = g.token_sparse_attention(q[:, :, :1], k, v2, np.array([[[0, 1]]]))
    check("tsa nan slot", np.isnan(out[0, 0, 0, 0]))


def test_to_mlir():
    m = g.Union([g.SinkWindow(4, 0), g.Intersect([g.Causal(), g.SlidingWindow(64, 64)]), g.Document()])
    want = ("#sparse_attn.union<[#sparse_attn.sink_window<sink = 4, window = 0>, "
            "#sparse_attn.intersect<[#sparse_attn.causal, #sparse_attn.sliding_window<left = 64, "
            "right = 64>]>, #sparse_attn.document]>")
    check("to_mlir", m.to_mlir() == want, m.to_mlir())
    check("reads_segments", m.reads_segments and not g.Causal().reads_segments)


def naive_attention(q, k, v, allowed_fn, scale, score_fn=None):
    """Scalar loops straight from the formulas of semantics.md."""
    B, Hq, Sq, D = q.shape
    Hkv, Skv, Dv = k.shape[1], k.shape[2], v.shape[3]
    G = Hq // Hkv
    out = np.zeros((B, Hq, Sq, Dv))
    lse = np.full((B, Hq, Sq), -np.inf)
    for b in range(B):
        for h in range(Hq):
            gh = h // G
            for i in range(Sq):
                ts = {}
                for j in range(Skv):
                    if not allowed_fn(b, h, i, j):
                        continue
                    s = scale * sum(q[b, h, i, d] * k[b, gh, j, d] for d in range(D))
                    ts[j] = score_fn(s, b, h, i, j) if score_fn else s
                if not ts or max(ts.values()) == -np.inf:
                    continue
                m = max(ts.values())
                l = sum(math.exp(t - m) for t in ts.values())
                for e in range(Dv):
                    out[b, h, i, e] = sum(math.exp(t - m) * v[b, gh, j, e] for j, t in ts.items()) / l
                lse[b, h, i] = m + math.log(l)
    return out, lse


def test_vectorized_vs_naive():
    rng = np.random.default_rng(7)
    B, Hq, Hkv, Sq, Skv, D, Dv = 2, 4, 2, 5, 7, 3, 2
    q = rng.standard_normal((B, Hq, Sq, D))
    k = rng.standard_normal((B, Hkv, Skv, D))
    v = rng.standard_normal((B, Hkv, Skv, Dv))
    seg_q = np.array([[0, 0, 1, 1, 5], [2, 2, 2, 3, 3]])
    seg_kv = np.array([[0, 0, 0, 1, 1, 1, 1], [2, 3, 3, 3, 3, 3, 2]])
    mask = g.Intersect([g.Union([g.Causal(), g.SlidingWindow(0, 1)]), g.Document()])

    def mm(b, h, i, j):
        return (i + j + h) % 3 != 0

    def sm(s, b, h, i, j):
        return 30 * np.tanh(s / 30) + 0.1 * b - 0.2 * h + 0.01 * (i - j)

    def allowed(b, h, i, j):
        return bool(mask.allowed(b, i, j, Sq, Skv, seg_q, seg_kv)) and mm(b, h, i, j)

    want = naive_attention(q, k, v, allowed, 0.7, sm)
    got = g.attention(q, k, v, mask=mask, scale=0.7, mask_mod=mm, score_mod=sm, seg_q=seg_q,
                      seg_kv=seg_kv)
    check("naive attention out", close(got[0], want[0], 1e-12), f"{got[0]} vs {want[0]}")
    check("naive attention lse", close(got[1], want[1], 1e-12), f"{got[1]} vs {want[1]}")
    check("naive has empty rows", np.isneginf(want[1]).any() and np.isfinite(want[1]).any())

    # Block-sparse: per-query-head lists, blocks [2, 3].
    num = rng.integers(-1, 4, size=(1, Hq, 3)).astype(np.int32)
    idx = rng.integers(-2, 5, size=(1, Hq, 3, 2)).astype(np.int32)

    def listed(b, h, i, j):
        n = min(max(int(num[0, h, i // 2]), 0), 2)
        return any(idx[0, h, i // 2, t] == j // 3 for t in range(n))

    want = naive_attention(q, k, v, lambda b, h, i, j: listed(b, h, i, j) and
                           bool(g.Causal().allowed(b, i, j, Sq, Skv)), g.default_scale(D))
    got = g.block_sparse_attention(q, k, v, num, idx, [2, 3], mask=g.Causal())
    check("naive bsa out", close(got[0], want[0], 1e-12))
    check("naive bsa lse", close(got[1], want[1], 1e-12))

    # Token-sparse against scalar loops over slots.
    ti = rng.integers(-2, Skv + 2, size=(B, Sq, 4)).astype(np.int32)
    out = np.zeros((B, Hq, Sq, Dv))
    lse = np.full((B, Hq, Sq), -np.inf)
    for b in range(B):
        for h in range(Hq):
            for i in range(Sq):
                slots = [x for x in ti[b, i] if 0 <= x < Skv]
                if not slots:
                    continue
                ss = [0.5 * float(q[b, h, i] @ k[b, h // 2, x]) for x in slots]
                m = max(ss)
                l = sum(math.exp(s - m) for s in ss)
                out[b, h, i] = sum(math.exp(s - m) * v[b, h // 2, x] for s, x in zip(ss, slots)) / l
                lse[b, h, i] = m + math.log(l)
    got = g.token_sparse_attention(q, k, v, ti, scale=0.5)
    check("naive tsa out", close(got[0], out, 1e-12))
    check("naive tsa lse", close(got[1], lse, 1e-12))


def main():
    tests = [v for k, v in sorted(globals().items()) if k.startswith("test_") and callable(v)]
    for t in tests:
        try:
            t()
        except Exception as e:  # noqa: BLE001
            FAILURES.append(f"{t.__name__} raised {type(e).__name__}: {e}")
    for f in FAILURES:
        print("FAIL:", f)
    print(f"{len(tests)} groups, {len(FAILURES)} failures")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
