"""Float64 golden model of the `sparse_attn` ops.

Written from docs/semantics.md only (not from any lowering code). Every
function takes float64 (or int) numpy arrays holding exactly the values the
kernel sees (bf16/f16 inputs are rounded by the caller first) and returns
float64 / int32 arrays:

  attention, block_sparse_attention, token_sparse_attention -> (out, lse)
  block_mask                                                -> (num, idx)
  pool, block_scores                                        -> float64 array
  select_topk                                               -> (num, idx)
  lightning_indexer                                         -> int32 [B, Sq, topk]

The only f32 behaviour modelled here is the default scale, 1/sqrt(D)
computed in double and rounded to f32 (semantics.md, "Scale"), and explicit
`scale` attributes, which are f32 values (the caller passes the f32 value).
Everything else is exact-ish float64; tests compare with a tolerance.

Masks are small objects with a vectorized predicate
`allowed(b, i, j, sq, skv, seg_q, seg_kv)` (numpy broadcasting over the
integer arrays b, i, j) and `to_mlir()` printing the attribute.
"""

import math

import numpy as np

# Window parameters larger than 2^33 behave as 2^33 (semantics.md).
WINDOW_CLAMP = 2**33


def f32(x):
    """The f32 value nearest to x, as a python float."""
    return float(np.float32(x))


def default_scale(d):
    """1/sqrt(D) computed in double and rounded to f32."""
    return f32(1.0 / math.sqrt(d))


# ----------------------------------------------------------------------------
# Masks
# ----------------------------------------------------------------------------


def _i64(x):
    return np.asarray(x, dtype=np.int64)


def _position(i, sq, skv):
    """Bottom-right alignment: query row i sits at p = i + (Skv - Sq)."""
    return _i64(i) + (int(skv) - int(sq))


class Mask:
    reads_segments = False

    def allowed(self, b, i, j, sq, skv, seg_q=None, seg_kv=None):
        raise NotImplementedError

    def to_mlir(self):
        raise NotImplementedError

    def __repr__(self):
        return self.to_mlir()


class Causal(Mask):
    """j <= p (rows with p < 0 see nothing)."""

    def allowed(self, b, i, j, sq, skv, seg_q=None, seg_kv=None):
        p = _position(i, sq, skv)
        j = _i64(j)
        return (p >= 0) & (j <= p) & (_i64(b) >= 0)

    def to_mlir(self):
        return "#sparse_attn.causal"


class SlidingWindow(Mask):
    """p - L <= j <= p + R, also for rows with p < 0 (when Sq > Skv): a
    large enough R reaches keys from there (docs/semantics.md)."""

    def __init__(self, left, right):
        self.left, self.right = int(left), int(right)

    def allowed(self, b, i, j, sq, skv, seg_q=None, seg_kv=None):
        p = _position(i, sq, skv)
        j = _i64(j)
        lo = p - min(self.left, WINDOW_CLAMP)
        hi = p + min(self.right, WINDOW_CLAMP)
        return (j >= lo) & (j <= hi) & (_i64(b) >= 0)

    def to_mlir(self):
        return f"#sparse_attn.sliding_window<left = {self.left}, right = {self.right}>"


class SinkWindow(Mask):
    """j <= p and (j < S or p - j < W)."""

    def __init__(self, sink, window):
        self.sink, self.window = int(sink), int(window)

    def allowed(self, b, i, j, sq, skv, seg_q=None, seg_kv=None):
        p = _position(i, sq, skv)
        j = _i64(j)
        s = min(self.sink, WINDOW_CLAMP)
        w = min(self.window, WINDOW_CLAMP)
        return (p >= 0) & (j <= p) & ((j < s) | (p - j < w)) & (_i64(b) >= 0)

    def to_mlir(self):
        return f"#sparse_attn.sink_window<sink = {self.sink}, window = {self.window}>"


class Document(Mask):
    """seg_q[b, i] == seg_kv[b, j]; no position involved."""

    reads_segments = True

    def allowed(self, b, i, j, sq, skv, seg_q=None, seg_kv=None):
        if seg_q is None or seg_kv is None:
            raise ValueError("document mask needs segment ids")
        seg_q = np.asarray(seg_q)
        seg_kv = np.asarray(seg_kv)
        b, i, j = _i64(b), _i64(i), _i64(j)
        return seg_q[b, i] == seg_kv[b, j]

    def to_mlir(self):
        return "#sparse_attn.document"


class Neighborhood(Mask):
    """NATTEN's neighborhood over a row-major grid (semantics.md)."""

    def __init__(self, grid, window, dilation=None, causal=None):
        self.grid = [int(x) for x in grid]
        self.window = [int(x) for x in window]
        r = len(self.grid)
        self.dilation = [1] * r if dilation is None else [int(x) for x in dilation]
        self.causal = [False] * r if causal is None else [bool(x) for x in causal]
        assert len(self.window) == r and len(self.dilation) == r and len(self.causal) == r
        for n, w, l in zip(self.grid, self.window, self.dilation):
            assert w >= 1 and l >= 1 and w * l <= n

    def num_tokens(self):
        return int(np.prod(self.grid))

    def _coords(self, x):
        coords = []
        for n in reversed(self.grid):
            coords.append(x % n)
            x = x // n
        return list(reversed(coords))

    def allowed(self, b, i, j, sq, skv, seg_q=None, seg_kv=None):
        assert self.num_tokens() == skv, "neighborhood grid must hold Skv tokens"
        p = _position(i, sq, skv)
        j = _i64(j)
        valid = (p >= 0) & (p < skv) & (_i64(b) >= 0)
        pc = np.where(valid, p, 0)
        ok = valid & (j >= 0) & (j < skv)
        for pd, jd, n, w, l, causal in zip(self._coords(pc), self._coords(j), self.grid,
                                           self.window, self.dilation, self.causal):
            c = pd % l
            ok = ok & (jd % l == c)
            m = (n - 1 - c) // l + 1
            P = pd // l
            J = jd // l
            if causal:
                ok = ok & (J >= np.maximum(P - w + 1, 0)) & (J <= P)
            else:
                s = np.minimum(np.maximum(P - w // 2, 0), m - w)
                ok = ok & (J >= s) & (J < s + w)
        return ok

    def to_mlir(self):
        def lst(xs):
            return "[" + ", ".join(str(x).lower() for x in xs) + "]"
        return (f"#sparse_attn.neighborhood<grid = {lst(self.grid)}, window = {lst(self.window)}, "
                f"dilation = {lst(self.dilation)}, causal = {lst(self.causal)}>")


class Intersect(Mask):
    def __init__(self, masks):
        self.masks = list(masks)
        assert self.masks
        self.reads_segments = any(m.reads_segments for m in self.masks)

    def allowed(self, b, i, j, sq, skv, seg_q=None, seg_kv=None):
        out = None
        for m in self.masks:
            a = m.allowed(b, i, j, sq, skv, seg_q, seg_kv)
            out = a if out is None else (out & a)
        return out

    def to_mlir(self):
        return "#sparse_attn.intersect<[" + ", ".join(m.to_mlir() for m in self.masks) + "]>"


class Union(Mask):
    def __init__(self, masks):
        self.masks = list(masks)
        assert self.masks
        self.reads_segments = any(m.reads_segments for m in self.masks)

    def allowed(self, b, i, j, sq, skv, seg_q=None, seg_kv=None):
        out = None
        for m in self.masks:
            a = m.allowed(b, i, j, sq, skv, seg_q, seg_kv)
            out = a if out is None else (out | a)
        return out

    def to_mlir(self):
        return "#sparse_attn.union<[" + ", ".join(m.to_mlir() for m in self.masks) + "]>"


def dense_allowed(mask, batch, sq, skv, seg_q=None, seg_kv=None):
    """Boolean [batch, sq, skv]: the pairs `mask` allows (None: every pair)."""
    if mask is None:
        return np.ones((batch, sq, skv), dtype=bool)
    b = np.arange(batch, dtype=np.int64)[:, None, None]
    i = np.arange(sq, dtype=np.int64)[None, :, None]
    j = np.arange(skv, dtype=np.int64)[None, None, :]
    a = mask.allowed(b, i, j, sq, skv, seg_q, seg_kv)
    return np.broadcast_to(a, (batch, sq, skv)).copy()


# ----------------------------------------------------------------------------
# Attention
# ----------------------------------------------------------------------------


# When set (test/gpu/build_cases.py), the attention ops round where torch's
# same computation in the input precision rounds: scores, normalized
# probabilities and outputs to the element type (products still summed in
# float64). The GPU pass rule compares against that computation's error.
ROUND = None


def _round(x):
    return x if ROUND is None else np.asarray(ROUND(x), dtype=np.float64)


def _softmax_rows(t, allowed, combine):
    """t [..., Skv] scores, allowed [..., Skv] bool; combine(p) -> [..., Dv]
    computes sum_j p_j v_j.

    Empty rows (nothing allowed, or every allowed score -inf) give out = 0
    and lse = -inf; NaN scores of allowed keys propagate.
    """
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        tm = np.where(allowed, t, -np.inf)
        m = np.max(tm, axis=-1) if tm.shape[-1] else np.full(tm.shape[:-1], -np.inf)
        empty = m == -np.inf
        m_safe = np.where(empty, 0.0, m)
        p = np.where(allowed, np.exp(tm - m_safe[..., None]), 0.0)
        l = p.sum(axis=-1)
        if ROUND is None:
            out = combine(p) / np.where(empty, 1.0, l)[..., None]
        else:
            out = _round(combine(_round(p / np.where(empty, 1.0, l)[..., None])))
        lse = m + np.log(np.where(empty, 1.0, l))
    out = np.where(empty[..., None], 0.0, out)
    lse = np.where(empty, -np.inf, lse)
    return out, lse


def _masked_matmul(p, allowed, vv):
    """sum over allowed j of p[..., i, j] * vv[..., j, e]: keys outside A are
    not summed at all, so a NaN / inf value of a masked key does not leak
    (0 * NaN). Allowed keys follow the formula literally."""
    finite = np.isfinite(vv)
    num = np.matmul(p, np.where(finite, vv, 0.0))
    if not finite.all():
        allowed = np.broadcast_to(allowed, p.shape)
        with np.errstate(invalid="ignore"):
            for b, h, j, e in np.argwhere(~finite):
                a = allowed[b, h, :, j]
                num[b, h, a, e] += p[b, h, a, j] * vv[b, h, j, e]
    return num


def _index_grids(B, H, Sq, Skv):
    b = np.arange(B, dtype=np.int64)[:, None, None, None]
    h = np.arange(H, dtype=np.int64)[None, :, None, None]
    i = np.arange(Sq, dtype=np.int64)[None, None, :, None]
    j = np.arange(Skv, dtype=np.int64)[None, None, None, :]
    return b, h, i, j


def attention(q, k, v, mask=None, scale=None, mask_mod=None, score_mod=None,
              seg_q=None, seg_kv=None, extra_allowed=None, forced_allowed=None):
    """Golden `attention`.

    q [B, Hq, Sq, D], k [B, Hkv, Skv, D], v [B, Hkv, Skv, Dv].
    mask_mod(b, h, i, j) -> bool and score_mod(s, b, h, i, j) -> float take
    broadcastable integer index arrays (h the query head, i/j raw rows).
    extra_allowed: optional bool [B, Hq, Sq, Skv] (block lists) and-ed in.
    forced_allowed: optional bool [B, Hq, Sq, Skv] (full block lists) or-ed
    in after the mask, mask_mod and extra_allowed.
    Returns out [B, Hq, Sq, Dv], lse [B, Hq, Sq] (float64).
    """
    q = np.asarray(q, dtype=np.float64)
    k = np.asarray(k, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    B, Hq, Sq, D = q.shape
    Bk, Hkv, Skv, Dk = k.shape
    assert Bk == B and Dk == D and v.shape[:3] == (B, Hkv, Skv) and Hq % Hkv == 0
    G = Hq // Hkv
    if scale is None:
        scale = default_scale(D)
    kk = np.repeat(k, G, axis=1)  # query head h reads kv head h // G
    vv = np.repeat(v, G, axis=1)
    with np.errstate(invalid="ignore", over="ignore"):
        s = _round(scale * np.matmul(q, np.swapaxes(kk, -1, -2)))
    allowed = dense_allowed(mask, B, Sq, Skv, seg_q, seg_kv)[:, None, :, :]
    b, h, i, j = _index_grids(B, Hq, Sq, Skv)
    if mask_mod is not None:
        allowed = allowed & np.asarray(mask_mod(b, h, i, j), dtype=bool)
    if extra_allowed is not None:
        allowed = allowed & extra_allowed
    if forced_allowed is not None:
        allowed = allowed | forced_allowed
    allowed = np.broadcast_to(allowed, (B, Hq, Sq, Skv))
    t = s
    if score_mod is not None:
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            t = np.broadcast_to(np.asarray(score_mod(s, b, h, i, j), dtype=np.float64), s.shape)
    return _softmax_rows(t, allowed, lambda p: _masked_matmul(p, allowed, vv))


def listed_blocks(num_blocks, block_indices, B, Hq, NK):
    """Membership [B, Hq, NQ, NK] of kv block J in the list of (b, h, I)."""
    num_blocks = np.asarray(num_blocks, dtype=np.int64)
    block_indices = np.asarray(block_indices, dtype=np.int64)
    Bl, Hl, NQ = num_blocks.shape
    C = block_indices.shape[3]
    assert block_indices.shape[:3] == (Bl, Hl, NQ)
    assert Bl in (1, B) and Hq % Hl == 0
    cnt = np.minimum(np.maximum(num_blocks, 0), C)
    t = np.arange(C, dtype=np.int64)
    valid = (t < cnt[..., None]) & (block_indices >= 0) & (block_indices < NK)
    target = np.where(valid, block_indices, NK)  # NK: a dummy column
    member = np.zeros((Bl, Hl, NQ, NK + 1), dtype=bool)
    np.put_along_axis(member, target, True, axis=3)
    member = member[..., :NK]
    bl = np.zeros(B, dtype=np.int64) if Bl == 1 else np.arange(B, dtype=np.int64)
    hl = np.arange(Hq, dtype=np.int64) // (Hq // Hl)
    return member[bl[:, None], hl[None, :]]


def block_sparse_attention(q, k, v, num_blocks, block_indices, block, mask=None, scale=None,
                           mask_mod=None, score_mod=None, seg_q=None, seg_kv=None, full=None,
                           columns=None):
    """Golden `block_sparse_attention` (block = [bq, bkv]); full = (full_num,
    full_idx): blocks whose pairs are all allowed, mask and mask_mod unread;
    columns = (num_columns, column_indices): single keys per query block,
    allowed like a listed block's pairs."""
    q = np.asarray(q, dtype=np.float64)
    B, Hq, Sq, _ = q.shape
    Skv = np.asarray(k).shape[2]
    bq, bkv = block
    NQ = -(-Sq // bq)
    NK = -(-Skv // bkv)
    assert np.asarray(num_blocks).shape[2] == NQ
    member = listed_blocks(num_blocks, block_indices, B, Hq, NK)  # [B, Hq, NQ, NK]
    I = np.arange(Sq) // bq
    J = np.arange(Skv) // bkv
    extra = member[:, :, I][:, :, :, J]
    if columns is not None:
        assert np.asarray(columns[0]).shape[2] == NQ
        extra = extra | listed_blocks(columns[0], columns[1], B, Hq, Skv)[:, :, I]
    forced = None
    if full is not None:
        assert np.asarray(full[0]).shape[2] == NQ
        forced = listed_blocks(full[0], full[1], B, Hq, NK)[:, :, I][:, :, :, J]
    return attention(q, k, v, mask=mask, scale=scale, mask_mod=mask_mod, score_mod=score_mod,
                     seg_q=seg_q, seg_kv=seg_kv, extra_allowed=extra, forced_allowed=forced)


def token_sparse_attention(q, k, v, token_indices, scale=None):
    """Golden `token_sparse_attention`: sums over valid slots (duplicates count)."""
    q = np.asarray(q, dtype=np.float64)
    k = np.asarray(k, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    ti = np.asarray(token_indices, dtype=np.int64)
    B, Hq, Sq, D = q.shape
    _, Hkv, Skv, _ = k.shape
    G = Hq // Hkv
    assert ti.shape[:2] == (B, Sq)
    if scale is None:
        scale = default_scale(D)
    valid = (ti >= 0) & (ti < Skv)  # [B, Sq, n]
    x = np.where(valid, ti, 0)
    bidx = np.arange(B)[:, None, None]
    kg = np.moveaxis(k[bidx, :, x], 3, 1)  # [B, Hkv, Sq, n, D]
    vg = np.moveaxis(v[bidx, :, x], 3, 1)  # [B, Hkv, Sq, n, Dv]
    # Query head h = kv head h // G: [B, Hkv, G, Sq, D] against the group's
    # gathered keys (not repeated per head: MLA's 128 heads x 576 dims).
    qg = q.reshape(B, Hkv, G, Sq, D)
    n = ti.shape[2]
    with np.errstate(invalid="ignore", over="ignore"):
        s = _round(scale * np.einsum("bkgid,bkitd->bkgit", qg, kg)).reshape(B, Hq, Sq, n)
    allowed = np.broadcast_to(valid[:, None], s.shape)
    # Invalid slots are never dereferenced: their (gathered) values are zeroed.
    vg = np.where(valid[:, None, :, :, None], vg, 0.0)

    def weighted(p):
        out = np.einsum("bkgit,bkitd->bkgid", p.reshape(B, Hkv, G, Sq, n), vg)
        return out.reshape(B, Hq, Sq, vg.shape[-1])

    return _softmax_rows(s, allowed, weighted)


# ----------------------------------------------------------------------------
# Block lists
# ----------------------------------------------------------------------------


def block_occupancy(mask, block, q_len, kv_len, batch=1, seg_q=None, seg_kv=None, full=False):
    """Bool [batch, NQ, NK]: kv block J holds an allowed pair for query block I
    (full=True: every pair of the block inside the lengths is allowed)."""
    bq, bkv = block
    NQ = -(-q_len // bq)
    NK = -(-kv_len // bkv)
    a = dense_allowed(mask, batch, q_len, kv_len, seg_q, seg_kv)
    pad = np.full((batch, NQ * bq, NK * bkv), full, dtype=bool)
    pad[:, :q_len, :kv_len] = a
    blocks = pad.reshape(batch, NQ, bq, NK, bkv)
    return blocks.all(axis=(2, 4)) if full else blocks.any(axis=(2, 4))


def lists_from_sets(sel, capacity):
    """sel bool [..., N]: (count [...], ascending indices [..., capacity], -1 padded).

    When a row has more than `capacity` members, the first `capacity` are
    stored and the count still holds the full number.
    """
    sel = np.asarray(sel, dtype=bool)
    count = sel.sum(axis=-1).astype(np.int32)
    N = sel.shape[-1]
    order = np.argsort(~sel, axis=-1, kind="stable")  # members first, ascending
    idx = np.full(sel.shape[:-1] + (capacity,), -1, dtype=np.int32)
    take = min(capacity, N)
    if take:
        first = order[..., :take].astype(np.int32)
        keep = np.arange(take) < count[..., None]
        idx[..., :take] = np.where(keep, first, -1)
    return count, idx


def block_mask(mask, block, batch, heads, capacity, q_len=None, kv_len=None, seg_q=None,
               seg_kv=None, full_capacity=None):
    """Golden `block_mask` -> (num_blocks [B, H, NQ], block_indices [B, H, NQ, C]);
    with full_capacity, the partial lists and then the full lists
    (full_num_blocks, full_block_indices [B, H, NQ, full_capacity])."""
    if mask is not None and mask.reads_segments:
        seg_q = np.asarray(seg_q)
        seg_kv = np.asarray(seg_kv)
        assert seg_q.shape[0] == batch and seg_kv.shape[0] == batch
        q_len, kv_len = seg_q.shape[1], seg_kv.shape[1]
        place = (batch, seg_q, seg_kv)
    else:
        place = (1,)
    occ = block_occupancy(mask, block, q_len, kv_len, *place)
    sets = [(occ, capacity)]
    if full_capacity is not None:
        full = block_occupancy(mask, block, q_len, kv_len, *place, full=True)
        sets = [(occ & ~full, capacity), (full, full_capacity)]
    results = []
    for sel, cap in sets:
        num, idx = lists_from_sets(sel, cap)
        results.append(np.broadcast_to(num[:, None], (batch, heads) + num.shape[1:]).copy())
        results.append(np.broadcast_to(idx[:, None], (batch, heads) + idx.shape[1:]).copy())
    return tuple(results)


# ----------------------------------------------------------------------------
# Indexers
# ----------------------------------------------------------------------------


def pool(x, kind, block):
    """Golden `pool` over [B, H, S, D] -> [B, H, ceil(S / block), D]."""
    x = np.asarray(x, dtype=np.float64)
    B, H, S, D = x.shape
    NB = -(-S // block)
    out = np.empty((B, H, NB, D), dtype=np.float64)
    for J in range(NB):
        rows = x[:, :, J * block:min((J + 1) * block, S), :]
        if kind == "mean":
            out[:, :, J] = rows.sum(axis=2) / rows.shape[2]
        elif kind == "max":
            out[:, :, J] = rows.max(axis=2)  # NaN propagates
        else:
            raise ValueError(kind)
    return out


def block_scores(qp, kp, block, result_heads, mask=None, q_len=None, kv_len=None, scale=None,
                 seg_q=None, seg_kv=None):
    """Golden `block_scores` -> scores [B, Hr, NQ, NK]."""
    qp = np.asarray(qp, dtype=np.float64)
    kp = np.asarray(kp, dtype=np.float64)
    B, Hq, NQ, D = qp.shape
    _, Hkv, NK, _ = kp.shape
    G = Hq // Hkv
    Hr = result_heads
    assert Hr in (Hq, Hkv)
    Gp = Hq // Hr
    if scale is None:
        scale = default_scale(D)
    dots = np.matmul(qp, np.swapaxes(np.repeat(kp, G, axis=1), -1, -2))  # [B, Hq, NQ, NK]
    scores = scale * dots.reshape(B, Hr, Gp, NQ, NK).sum(axis=2)
    if mask is not None:
        if mask.reads_segments:
            seg_q = np.asarray(seg_q)
            seg_kv = np.asarray(seg_kv)
            q_len, kv_len = seg_q.shape[1], seg_kv.shape[1]
            occ = block_occupancy(mask, block, q_len, kv_len, B, seg_q, seg_kv)
        else:
            occ = block_occupancy(mask, block, q_len, kv_len, 1)
        assert occ.shape[1:] == (NQ, NK), (occ.shape, NQ, NK)
        scores = np.where(occ[:, None], scores, -np.inf)
    return scores


def forced_blocks(row, sink, local):
    """A row's selectable blocks (score > -inf: NaN and -inf excluded) and
    the forced ones: the `sink` lowest- and `local` highest-index of them."""
    with np.errstate(invalid="ignore"):
        selectable = np.nonzero(row > -np.inf)[0]
    chosen = set(selectable[:sink].tolist())
    if local > 0:
        chosen |= set(selectable[-local:].tolist())
    return selectable, chosen


def _select_rows(scores, sink, local, capacity, pick):
    """Per row: the forced blocks plus `pick(row, selectable, chosen)`'s,
    ascending, -1 padded -> (num_blocks [B, H, NQ], block_indices [B, H, NQ, C])."""
    scores = np.asarray(scores, dtype=np.float64)
    B, H, NQ, NK = scores.shape
    num = np.zeros((B, H, NQ), dtype=np.int32)
    idx = np.full((B, H, NQ, capacity), -1, dtype=np.int32)
    for b in range(B):
        for h in range(H):
            for I in range(NQ):
                row = scores[b, h, I]
                selectable, chosen = forced_blocks(row, sink, local)
                rest = [j for j in selectable.tolist() if j not in chosen]
                rest.sort(key=lambda j: (-row[j], j))  # highest first, ties to lower index
                sel = sorted(chosen | set(pick(row, selectable, chosen, rest)))
                assert len(sel) <= capacity
                num[b, h, I] = len(sel)
                idx[b, h, I, :len(sel)] = sel
    return num, idx


def select_topk(scores, k, sink=0, local=0, capacity=None):
    """Golden `select_topk` -> (num_blocks [B, H, NQ], block_indices [B, H, NQ, C])."""
    return _select_rows(scores, sink, local, k + sink + local if capacity is None else capacity,
                        lambda row, selectable, chosen, rest: rest[:k])


def select_threshold(scores, mass, max_blocks, sink=0, local=0, capacity=None):
    """Golden `select_threshold` -> (num_blocks, block_indices): select_topk's
    forced blocks, then the others by descending score (ties to the lower
    index) while the selected softmax mass is below `mass` (float64), at
    most `max_blocks` of them."""

    def pick(row, selectable, chosen, rest):
        if not len(selectable):
            return []
        m = row[selectable].max()
        if m == np.inf:
            w = {j: 1.0 if row[j] == np.inf else 0.0 for j in selectable.tolist()}
        else:
            w = {j: float(np.exp(row[j] - m)) for j in selectable.tolist()}
        total = sum(w.values())
        acc = sum(w[j] for j in chosen)
        picked = []
        for j in rest[:max_blocks]:
            if acc >= mass * total:
                break
            picked.append(j)
            acc += w[j]
        return picked

    return _select_rows(scores, sink, local,
                        max_blocks + sink + local if capacity is None else capacity, pick)


def threshold_margin(scores, mass, max_blocks, sink=0, local=0):
    """The smallest distance, over rows, between the target mass and a
    running sum select_threshold compares with it (relative to the row's
    total): a test keeps it well above f32 rounding."""
    scores = np.asarray(scores, dtype=np.float64)
    margin = np.inf
    for row in scores.reshape(-1, scores.shape[-1]):
        selectable, chosen = forced_blocks(row, sink, local)
        if not len(selectable) or row[selectable].max() == np.inf:
            continue
        w = np.exp(row - row[selectable].max())
        total = w[selectable].sum()
        acc = sum(w[j] for j in chosen)
        rest = sorted((j for j in selectable.tolist() if j not in chosen), key=lambda j: (-row[j], j))
        for j in rest[:max_blocks]:
            margin = min(margin, abs(acc - mass * total) / total)
            if acc >= mass * total:
                break
            acc += w[j]
    return margin


def lightning_scores(qi, ki, w):
    """I[b, i, j] = sum_h w[b, i, h] * relu(<qi[b, h, i], ki[b, j]>), float64."""
    qi = np.asarray(qi, dtype=np.float64)
    ki = np.asarray(ki, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    dots = np.einsum("bhid,bjd->bhij", qi, ki)
    return np.einsum("bih,bhij->bij", w, np.maximum(dots, 0.0))


def topk_rows(scores, allowed, topk):
    """Per row: the min(topk, |allowed|) allowed columns with the largest
    score (ties to the lower index), ascending, then -1 up to topk."""
    B, Sq, Skv = scores.shape
    key = np.where(allowed, -scores, np.inf)
    order = np.argsort(key, axis=-1, kind="stable")
    count = allowed.sum(axis=-1)
    out = np.full((B, Sq, topk), -1, dtype=np.int32)
    take = min(topk, Skv)
    first = order[..., :take]
    keep = np.arange(take) < np.minimum(count, topk)[..., None]
    first = np.where(keep, first, np.iinfo(np.int64).max)
    first = np.sort(first, axis=-1)
    out[..., :take] = np.where(first == np.iinfo(np.int64).max, -1, first).astype(np.int32)
    return out


def lightning_indexer(qi, ki, w, topk, mask=None, seg_q=None, seg_kv=None):
    """Golden `lightning_indexer` -> token_indices [B, Sq, topk] (int32)."""
    I = lightning_scores(qi, ki, w)
    B, Sq, Skv = I.shape
    allowed = dense_allowed(mask, B, Sq, Skv, seg_q, seg_kv)
    return topk_rows(I, allowed, topk)


def vertical_slash_scores(q, k, last_q, scale=None):
    """MInference's estimate: per (b, h) the column sums and diagonal sums
    [B, Hq, Skv] of the causal softmax of the last min(last_q, Sq) queries
    (row r at p = Skv - L + r sees j <= p; an empty row adds 0)."""
    q = np.asarray(q, dtype=np.float64)
    k = np.asarray(k, dtype=np.float64)
    B, Hq, Sq, D = q.shape
    Skv = k.shape[2]
    G = Hq // k.shape[1]
    if scale is None:
        scale = default_scale(D)
    L = min(last_q, Sq)
    col = np.zeros((B, Hq, Skv))
    diag = np.zeros((B, Hq, Skv))
    for r in range(L):
        p = Skv - L + r
        if p < 0:
            continue
        seen = min(p, Skv - 1) + 1
        s = scale * np.einsum("bhd,bhjd->bhj", q[:, :, Sq - L + r],
                              np.repeat(k[:, :, :seen], G, axis=1))
        w = np.exp(s - s.max(axis=-1, keepdims=True))
        w /= w.sum(axis=-1, keepdims=True)
        col[:, :, :seen] += w
        d = p - np.arange(seen)  # the diagonal of each seen key
        diag[:, :, d] += w
    return col, diag


def top_with_forced(scores, count, forced):
    """Per row of [B, H, N]: the first `forced` indices plus the highest
    others (ties to the lower index), min(count, N) in all, as a bool set."""
    B, H, N = scores.shape
    sel = np.zeros((B, H, N), dtype=bool)
    for b in range(B):
        for h in range(H):
            order = sorted(range(N), key=lambda j: (j >= forced, -scores[b, h, j], j))
            sel[b, h, order[:min(count, N)]] = True
    return sel


def vertical_slash(q, k, last_q, vertical, slash, block, sink=0, local=0, scale=None,
                   capacities=None):
    """Golden `vertical_slash` -> (num_blocks, block_indices, num_columns,
    column_indices), plus the chosen column and diagonal sets."""
    B, Hq, Sq, _ = np.asarray(q).shape
    Skv = np.asarray(k).shape[2]
    bq, bkv = block
    NQ, NK = -(-Sq // bq), -(-Skv // bkv)
    col, diag = vertical_slash_scores(q, k, last_q, scale)
    V = top_with_forced(col, vertical, sink)
    Dg = top_with_forced(diag, slash, local)
    crossed = np.zeros((B, Hq, NQ, NK), dtype=bool)
    cols = np.zeros((B, Hq, NQ, Skv), dtype=bool)
    off = Skv - Sq
    for I in range(NQ):
        rows = np.arange(I * bq, min((I + 1) * bq, Sq))
        p = rows + off
        for d in range(Skv):
            j = p - d
            j = j[(j >= 0) & (j < Skv)]
            if j.size:
                crossed[:, :, I, np.unique(j // bkv)] |= Dg[:, :, d, None]
        seen = np.arange(Skv) <= p.max()
        blocked = crossed[:, :, I][:, :, np.arange(Skv) // bkv]
        cols[:, :, I] = V & seen & ~blocked
    if capacities is None:
        per = -(-bq // bkv) + 1
        capacities = (min(NK, min(slash, Skv) * per), min(vertical, Skv))
    nb, bi = lists_from_sets(crossed, capacities[0])
    nc, ci = lists_from_sets(cols, capacities[1])
    return (nb, bi, nc, ci), (V, Dg, col, diag)
