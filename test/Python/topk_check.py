"""The tolerant check of a top-k list (numpy only: the GPU runner uses it
too). With float inputs the f32 scores may order near-ties differently from
the float64 golden; a row that differs from the golden must still be a valid
top-k: ascending allowed keys, min(topk, |allowed|) of them, -1 after, and
no unselected allowed key scoring more than 1e-5 * bound above a selected
one (bound: the row's largest sum_h |w| * sum_d |qi * ki|)."""

import numpy as np


def topk_problem(name, got, scores, bound, allowed, topk, want):
    """None when `got` ([B, Sq, topk]) passes, else what is wrong."""
    got = np.asarray(got)
    if got.shape != want.shape:
        return f"{name}: shape {got.shape}, want {want.shape}"
    rows = np.argwhere((got != want).any(axis=-1))
    for b, i in rows:
        row = got[b, i]
        n = int(min(topk, allowed[b, i].sum()))
        sel = row[:n]
        ctx = f"{name}: row [{b}, {i}] got {row.tolist()[:40]}, golden {want[b, i].tolist()[:40]}"
        if not (row[n:] == -1).all() or (sel < 0).any() or not (np.diff(sel) > 0).all():
            return ctx + ": not an ascending list padded with -1"
        if not allowed[b, i, sel].all():
            return ctx + ": lists a key the mask does not allow"
        unsel = allowed[b, i].copy()
        unsel[sel] = False
        if unsel.any():
            tol = 1e-5 * bound[b, i]
            lo = scores[b, i, sel].min()
            hi = scores[b, i, unsel].max()
            if hi > lo + tol:
                return ctx + f": unselected score {hi!r} beats selected {lo!r} (tol {tol:.3g})"
    return None
