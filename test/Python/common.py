"""Shared helpers of the Python tests: IR text builders, input generators,
comparisons against the golden model and a tiny case runner.

Tolerances (documented here, used by every test):

* f32 results: |x - g| <= 1e-5 * |g| + 1e-5 * max(1, max|g| of the row)
  where a "row" is the last axis (one query's output vector, one row of
  block scores, one pooled row); lse uses the max over the whole tensor.
* f16 / bf16 results are f32 computations rounded once to the element type
  (semantics.md: `round(...)`), so the relative term grows by the unit
  roundoff of the type: 2^-11 for f16, 2^-8 for bf16.
* Non-finite values must match exactly: the same positions are -inf / +inf
  (with the same sign) and the same positions are NaN (NaN only where the
  golden has NaN).
* Integer results (block lists, counts, token indices) must be equal.
"""

import math
import sys
import time
import traceback

import numpy as np

import golden as g

# ----------------------------------------------------------------------------
# Element types
# ----------------------------------------------------------------------------

NP_DTYPE = {"f32": np.float32, "bf16": np.float32, "f16": np.float16, "i32": np.int32}
UNIT_ROUNDOFF = {"f32": 0.0, "f16": 2.0**-11, "bf16": 2.0**-8}
RTOL = 1e-5
ATOL = 1e-5


def bf16_round(x):
    """Round float32 values to the nearest bf16 (ties to even), kept as float32."""
    x = np.ascontiguousarray(np.asarray(x, dtype=np.float32))
    u = x.view(np.uint32).astype(np.uint64)
    rounded = ((u + 0x7FFF + ((u >> 16) & 1)) & 0xFFFF0000).astype(np.uint32)
    out = rounded.view(np.float32).copy()
    nan = np.isnan(x)
    out[nan] = x[nan]
    return out


def to_elt(x, elt):
    """The array run_cpu expects for element type `elt`, holding exactly the
    values the kernel computes with (bf16 rounded here, passed as float32)."""
    if elt == "f32":
        return np.asarray(x, dtype=np.float32)
    if elt == "f16":
        return np.asarray(x, dtype=np.float16)
    if elt == "bf16":
        return bf16_round(np.asarray(x, dtype=np.float32))
    if elt == "i32":
        return np.asarray(x, dtype=np.int32)
    raise ValueError(elt)


def f64(x):
    return np.asarray(x, dtype=np.float64)


# ----------------------------------------------------------------------------
# IR text
# ----------------------------------------------------------------------------


def ttype(shape, elt, dyn=()):
    """tensor<...> text; axes listed in `dyn` print as '?'."""
    dims = ["?" if a in dyn else str(d) for a, d in enumerate(shape)]
    return "tensor<" + "x".join(dims + [elt]) + ">"


def fmt_f32(x):
    v = float(np.float32(x))
    assert math.isfinite(v)
    return repr(v)


def attr_dict(**attrs):
    """{name = value, ...}; None values are dropped; scale is printed as f32."""
    parts = []
    for key, val in attrs.items():
        if val is None:
            continue
        if key == "scale":
            parts.append(f"scale = {fmt_f32(val)} : f32")
        elif isinstance(val, g.Mask):
            parts.append(f"{key} = {val.to_mlir()}")
        elif isinstance(val, (list, tuple)):
            parts.append(f"{key} = [" + ", ".join(str(int(v)) for v in val) + "]")
        else:
            parts.append(f"{key} = {val}")
    return "{" + ", ".join(parts) + "}" if parts else ""


def func_text(args, body, results):
    """A module with one `func.func @f(args) -> (results)`.

    args, results: lists of (ssa name without %, type text)."""
    sig = ", ".join(f"%{n}: {t}" for n, t in args)
    rtypes = ", ".join(t for _, t in results)
    ret = "return " + ", ".join("%" + n for n, _ in results) + " : " + rtypes
    return f"func.func @f({sig}) -> ({rtypes}) {{\n{body}\n  {ret}\n}}\n"


def seg_clause(seg_types):
    if seg_types is None:
        return ""
    return f" segment_ids(%sq, %skv : {seg_types[0]}, {seg_types[1]})"


# mask_mod / score_mod regions: (IR text, golden callable). Names are unique
# (regions are not isolated from above, so they share the function's scope).

MASK_MOD_MOD3 = ("""mask_mod {
  ^bb0(%mb: index, %mh: index, %mi: index, %mj: index):
    %mc3 = arith.constant 3 : index
    %mc0 = arith.constant 0 : index
    %ms0 = arith.addi %mi, %mj : index
    %ms1 = arith.addi %ms0, %mh : index
    %ms2 = arith.addi %ms1, %mb : index
    %mr = arith.remui %ms2, %mc3 : index
    %mok = arith.cmpi ne, %mr, %mc0 : index
    sparse_attn.yield %mok : i1
  }""", lambda b, h, i, j: (i + j + h + b) % 3 != 0, "(i + j + h + b) % 3 != 0")

MASK_MOD_NEQ = ("""mask_mod {
  ^bb0(%mb: index, %mh: index, %mi: index, %mj: index):
    %mok = arith.cmpi ne, %mi, %mj : index
    sparse_attn.yield %mok : i1
  }""", lambda b, h, i, j: i != j, "j != i")

SCORE_MOD_SOFTCAP = ("""score_mod {
  ^bb0(%ss: f32, %sb: index, %sh: index, %si: index, %sj: index):
    %scap = arith.constant 30.0 : f32
    %sx = arith.divf %ss, %scap : f32
    %st = math.tanh %sx : f32
    %sy = arith.mulf %st, %scap : f32
    sparse_attn.yield %sy : f32
  }""", lambda s, b, h, i, j: 30.0 * np.tanh(s / 30.0), "softcap 30")

# -inf for every key of rows i % 4 == 0 (an empty row through score_mod) and
# a batch/head-dependent shift elsewhere.
SCORE_MOD_NEG_INF_ROWS = ("""score_mod {
  ^bb0(%ss: f32, %sb: index, %sh: index, %si: index, %sj: index):
    %sc4 = arith.constant 4 : index
    %sc0 = arith.constant 0 : index
    %sninf = arith.constant 0xFF800000 : f32
    %sr = arith.remui %si, %sc4 : index
    %sz = arith.cmpi eq, %sr, %sc0 : index
    %sbh = arith.addi %sb, %sh : index
    %sbhi = arith.index_cast %sbh : index to i32
    %sbhf = arith.sitofp %sbhi : i32 to f32
    %sq8 = arith.constant 0.125 : f32
    %sadd = arith.mulf %sbhf, %sq8 : f32
    %sj2 = arith.index_cast %sj : index to i32
    %sjf = arith.sitofp %sj2 : i32 to f32
    %sjs = arith.mulf %sjf, %sq8 : f32
    %sy0 = arith.addf %ss, %sadd : f32
    %sy1 = arith.subf %sy0, %sjs : f32
    %sy = arith.select %sz, %sninf, %sy1 : f32
    sparse_attn.yield %sy : f32
  }""", lambda s, b, h, i, j: np.where(i % 4 == 0, -np.inf, s + (b + h) * 0.125 - j * 0.125),
    "-inf rows i%4==0, s + (b+h)/8 - j/8")


# -inf for the keys j % 5 == 2 (partially -inf rows), and a shift by i.
SCORE_MOD_NEG_INF_COLS = ("""score_mod {
  ^bb0(%ss: f32, %sb: index, %sh: index, %si: index, %sj: index):
    %sc5 = arith.constant 5 : index
    %sc2 = arith.constant 2 : index
    %sninf = arith.constant 0xFF800000 : f32
    %sr = arith.remui %sj, %sc5 : index
    %sz = arith.cmpi eq, %sr, %sc2 : index
    %si2 = arith.index_cast %si : index to i32
    %sif = arith.sitofp %si2 : i32 to f32
    %sy1 = arith.addf %ss, %sif : f32
    %sy = arith.select %sz, %sninf, %sy1 : f32
    sparse_attn.yield %sy : f32
  }""", lambda s, b, h, i, j: np.where(j % 5 == 2, -np.inf, s + i), "-inf keys j%5==2, s + i")


def score_mod_alibi(hq):
    """ALiBi through a tensor<Hq x f32> function argument %slopes, then a
    softcap of 30: reads a value defined above the region."""
    text = f"""score_mod {{
  ^bb0(%ss: f32, %sb: index, %sh: index, %si: index, %sj: index):
    %sslope = tensor.extract %slopes[%sh] : tensor<{hq}xf32>
    %sii = arith.index_cast %si : index to i64
    %sjj = arith.index_cast %sj : index to i64
    %sd = arith.subi %sii, %sjj : i64
    %sdf = arith.sitofp %sd : i64 to f32
    %sbias = arith.mulf %sslope, %sdf : f32
    %sbiased = arith.subf %ss, %sbias : f32
    %scap = arith.constant 30.0 : f32
    %sx = arith.divf %sbiased, %scap : f32
    %st = math.tanh %sx : f32
    %sy = arith.mulf %st, %scap : f32
    sparse_attn.yield %sy : f32
  }}"""
    return text


# ----------------------------------------------------------------------------
# Inputs
# ----------------------------------------------------------------------------


def randn(rng, shape, elt, std=1.0):
    return to_elt(rng.standard_normal(shape) * std, elt)


def quantized(rng, shape, elt, lo=-6, hi=6, step=0.25):
    """Values k * step with k in [lo, hi]: exact in every element type, so
    products and short sums are exact in f32."""
    return to_elt(rng.integers(lo, hi + 1, size=shape) * step, elt)


def segments(rng, batch, length, nseg):
    """Sorted runs of segment ids (packed documents)."""
    return np.sort(rng.integers(0, nseg, size=(batch, length)), axis=1).astype(np.int32)


JUNK_INDICES = [-1, -1, -2, -100, 2**31 - 1, -(2**31)]


def rand_block_lists(rng, Bl, Hl, NQ, C, NK, p_valid=0.75):
    """num [Bl, Hl, NQ] with negative counts and counts > C; indices with
    -1, out-of-range entries and duplicates."""
    num = rng.integers(-2, C + 3, size=(Bl, Hl, NQ))
    valid = rng.integers(0, NK, size=(Bl, Hl, NQ, C))
    junk = rng.choice(JUNK_INDICES + [NK, NK + 1, NK + 7], size=(Bl, Hl, NQ, C))
    idx = np.where(rng.random((Bl, Hl, NQ, C)) < p_valid, valid, junk)
    # Force a few explicit duplicates.
    if C >= 2:
        dup = rng.random((Bl, Hl, NQ)) < 0.3
        idx[..., 1] = np.where(dup, idx[..., 0], idx[..., 1])
    return num.astype(np.int32), idx.astype(np.int32)


def rand_token_lists(rng, B, Sq, n, Skv, p_valid=0.75, empty_rows=0):
    valid = rng.integers(0, Skv, size=(B, Sq, n))
    junk = rng.choice(JUNK_INDICES + [Skv, Skv + 1, Skv + 1000], size=(B, Sq, n))
    ti = np.where(rng.random((B, Sq, n)) < p_valid, valid, junk)
    if n >= 2:
        dup = rng.random((B, Sq)) < 0.3
        ti[..., 1] = np.where(dup, ti[..., 0], ti[..., 1])
    for _ in range(empty_rows):
        b, i = rng.integers(0, B), rng.integers(0, Sq)
        ti[b, i] = rng.choice([-1, Skv, -7], size=n)
    return ti.astype(np.int32)


# ----------------------------------------------------------------------------
# Running and comparing
# ----------------------------------------------------------------------------

_RUN_STATS = {"calls": 0, "seconds": 0.0, "worst": (0.0, ""), "worst_f32": (0.0, ""), "case": ""}


class ParseOnly(Exception):
    """Raised in SPARSE_ATTN_TEST_PARSE_ONLY mode after the IR verified."""


def _parse_only(text):
    import os  # noqa: PLC0415
    import subprocess  # noqa: PLC0415
    opt = os.environ["SPARSE_ATTN_TEST_PARSE_ONLY"]
    r = subprocess.run([opt, "-"], input=text, capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError("IR does not verify:\n" + r.stderr)
    raise ParseOnly()


# A pass pipeline run on every case's module before run_cpu (None: the ops
# go straight to the CPU pipeline). The tiled tests set it to sparse-attn-tile
# and reuse the cases of the untiled ones.
PRE_PIPELINE = None


def run_cpu(text, args):
    """sparse_attn.run_cpu(text, "f", args). With SPARSE_ATTN_TEST_PARSE_ONLY
    set to a sparse-attn-opt binary, only checks that the IR verifies (a
    development aid while the package is not built)."""
    import os  # noqa: PLC0415
    if os.environ.get("SPARSE_ATTN_TEST_PARSE_ONLY"):
        _parse_only(text)
    import sparse_attn  # noqa: PLC0415  (built by the other half of the project)
    t0 = time.time()
    if PRE_PIPELINE is not None:
        module = sparse_attn.parse(text)
        module.run_pipeline(PRE_PIPELINE)
        text = str(module)
    try:
        return sparse_attn.run_cpu(text, "f", list(args))
    finally:
        _RUN_STATS["calls"] += 1
        _RUN_STATS["seconds"] += time.time() - t0


class Mismatch(AssertionError):
    pass


def _fmt_index(idx):
    return "[" + ", ".join(str(int(i)) for i in idx) + "]"


def check_dtype_shape(name, got, want_shape, elt):
    got = np.asarray(got)
    want_dtype = NP_DTYPE[elt]
    if got.dtype != want_dtype:
        raise Mismatch(f"{name}: dtype {got.dtype}, expected {np.dtype(want_dtype)} for {elt}")
    if tuple(got.shape) != tuple(want_shape):
        raise Mismatch(f"{name}: shape {tuple(got.shape)}, expected {tuple(want_shape)}")
    if elt == "bf16":
        gf = got[np.isfinite(got)]
        if not np.array_equal(bf16_round(gf), gf):
            raise Mismatch(f"{name}: bf16 result holds values that are not bf16")


def check_float(name, got, want, elt, row_scope="row"):
    """Compare a float result against the float64 golden (see the module doc)."""
    check_dtype_shape(name, got, np.shape(want), elt)
    x = np.asarray(got, dtype=np.float64)
    w = np.asarray(want, dtype=np.float64)
    nan_x, nan_w = np.isnan(x), np.isnan(w)
    if not np.array_equal(nan_x, nan_w):
        bad = np.argwhere(nan_x != nan_w)
        first = tuple(bad[0])
        raise Mismatch(f"{name}: NaN pattern differs at {len(bad)} positions, first "
                       f"{_fmt_index(first)}: got {x[first]!r}, want {w[first]!r}")
    inf_x = np.isinf(x)
    inf_w = np.isinf(w)
    if not np.array_equal(inf_x, inf_w) or not np.array_equal(x[inf_w], w[inf_w]):
        bad = np.argwhere((inf_x != inf_w) | (inf_w & (x != w)))
        first = tuple(bad[0])
        raise Mismatch(f"{name}: +-inf pattern differs at {len(bad)} positions, first "
                       f"{_fmt_index(first)}: got {x[first]!r}, want {w[first]!r}")
    fin = np.isfinite(w)
    aw = np.where(fin, np.abs(w), 0.0)
    if w.ndim == 0 or row_scope == "tensor":
        scale = np.full(w.shape, max(1.0, float(aw.max()) if aw.size else 1.0))
    else:
        scale = np.maximum(1.0, aw.max(axis=-1, keepdims=True))
    rtol = RTOL + UNIT_ROUNDOFF[elt]
    tol = rtol * aw + ATOL * scale
    err = np.where(fin, np.abs(x - np.where(fin, w, 0.0)), 0.0)
    bad = err > tol
    if bad.any():
        ratio = np.where(fin, err / tol, 0.0)
        worst = np.unravel_index(np.argmax(ratio), ratio.shape)
        raise Mismatch(
            f"{name}: {int(bad.sum())} of {w.size} values out of tolerance "
            f"(rtol {rtol:.3g}, atol {ATOL:g}*max(1,max|g| per {row_scope})); worst at "
            f"{_fmt_index(worst)}: got {x[worst]!r}, want {w[worst]!r}, |err| {err[worst]:.3g} "
            f"> tol {tol[worst]:.3g}")
    worst = float(np.max(err / tol)) if err.size else 0.0
    key = "worst_f32" if elt == "f32" else "worst"
    if worst > _RUN_STATS[key][0]:
        _RUN_STATS[key] = (worst, f"{name} of {_RUN_STATS['case']}")
    return worst


def check_exact(name, got, want):
    check_dtype_shape(name, got, np.shape(want), "i32")
    x = np.asarray(got)
    w = np.asarray(want)
    if not np.array_equal(x, w):
        bad = np.argwhere(x != w)
        first = tuple(bad[0])
        row = first[:-1]
        raise Mismatch(f"{name}: {len(bad)} entries differ, first {_fmt_index(first)}: got "
                       f"{x[first]}, want {w[first]}; row {_fmt_index(row)} got "
                       f"{x[row].tolist()}, want {w[row].tolist()}")


def check_attention(got, want, elt):
    out, lse = got
    wo, wl = want
    check_float("out", out, wo, elt, "row")
    check_float("lse", lse, wl, "f32", "tensor")
    # Empty rows: out is exactly +0 (semantics.md), not merely small.
    empty = np.isneginf(np.asarray(wl))
    rows = np.asarray(out, dtype=np.float64)[empty]
    if rows.size and ((rows != 0).any() or np.signbit(rows).any()):
        bad = np.argwhere(empty[..., None] & ((np.asarray(out, dtype=np.float64) != 0) |
                                             np.signbit(np.asarray(out, dtype=np.float64))))
        first = tuple(bad[0])
        raise Mismatch(f"out: empty row {_fmt_index(first[:-1])} is not exactly +0: "
                       f"{np.asarray(out)[first[:-1]].tolist()[:8]}")


# ----------------------------------------------------------------------------
# Case runner
# ----------------------------------------------------------------------------


def describe(params):
    parts = []
    for k, v in params.items():
        if k.startswith("_"):
            continue
        if isinstance(v, g.Mask):
            v = v.to_mlir()
        elif isinstance(v, tuple) and len(v) == 3 and isinstance(v[0], str):
            v = v[2]  # a mod: print its description
        parts.append(f"{k}={v}")
    return ", ".join(parts)


def main(cases, run_case, title):
    """Run every case (a dict of parameters) through run_case(case, rng);
    report each failure with its parameters; exit status 1 on any failure."""
    t_start = time.time()
    failures = []
    for n, case in enumerate(cases):
        rng = np.random.default_rng(1000 + n)
        _RUN_STATS["case"] = f"#{n}"
        t0 = time.time()
        try:
            run_case(case, rng)
            status = "ok"
        except ParseOnly:
            status = "parsed"
        except Exception as e:  # noqa: BLE001
            status = "FAIL"
            failures.append((case, e, traceback.format_exc()))
        print(f"[{status}] {title} #{n} ({time.time() - t0:.2f}s): {describe(case)}", flush=True)
    for case, e, tb in failures:
        print("=" * 78)
        print(f"FAILED: {describe(case)}")
        if case.get("_ir"):
            print("IR:\n" + case["_ir"])
        if isinstance(e, Mismatch):
            print(f"  {e}")
        else:
            print(tb)
    print(f"{title}: {len(cases) - len(failures)} of {len(cases)} cases passed in "
          f"{time.time() - t_start:.1f}s ({_RUN_STATS['calls']} run_cpu calls, "
          f"{_RUN_STATS['seconds']:.1f}s in run_cpu); largest error/tolerance of a passing "
          f"comparison: f32 results {_RUN_STATS['worst_f32'][0]:.3f} ({_RUN_STATS['worst_f32'][1]}), "
          f"f16/bf16 results {_RUN_STATS['worst'][0]:.3f} ({_RUN_STATS['worst'][1]})")
    return 1 if failures else 0


def exit_with(code):
    sys.stdout.flush()
    sys.exit(code)


# ----------------------------------------------------------------------------
# Attention-like ops
# ----------------------------------------------------------------------------


def attention_ir(op, q, k, v, elt, dyn=(), lists=None, list_dyn=(), token_indices=None,
                 ti_dyn=(), seg=None, seg_dyn=(), attrs=None, mask_mod=None, score_mod=None,
                 extra_args=(), full_lists=None, kv_dyn=None):
    """IR text and argument list of one `attention`-like op.

    q/k/v: arrays already in the element type's numpy form; dyn: the axes of
    q/k/v (and of the results) printed as '?'. lists = (num, idx) for
    block_sparse_attention (full_lists = (full_num, full_idx) adds its
    `full(...)` clause); token_indices for token_sparse_attention;
    seg = (seg_q, seg_kv). extra_args: (name, type, array) read by a region.
    kv_dyn: the axes of k/v printed as '?' when they differ from q's (a
    static query length against dynamic keys: decode).
    """
    B, Hq, Sq, _ = q.shape
    Dv = v.shape[3]
    qT = ttype(q.shape, elt, dyn)
    kT, vT = (ttype(x.shape, elt, dyn if kv_dyn is None else kv_dyn) for x in (k, v))
    oT = ttype((B, Hq, Sq, Dv), elt, dyn)
    lT = ttype((B, Hq, Sq), "f32", dyn)
    args = [("q", qT), ("k", kT), ("v", vT)]
    arrays = [q, k, v]
    operands = "%q, %k, %v"
    types = [qT, kT, vT]
    if lists is not None:
        num, idx = lists
        nT = ttype(num.shape, "i32", list_dyn)
        iT = ttype(idx.shape, "i32", list_dyn)
        args += [("num", nT), ("idx", iT)]
        arrays += [num, idx]
        operands += ", %num, %idx"
        types += [nT, iT]
    if full_lists is not None:
        fnT = ttype(full_lists[0].shape, "i32", list_dyn)
        fiT = ttype(full_lists[1].shape, "i32", list_dyn)
        args += [("fnum", fnT), ("fidx", fiT)]
        arrays += list(full_lists)
        operands += f" full(%fnum, %fidx : {fnT}, {fiT})"
    if token_indices is not None:
        tT = ttype(token_indices.shape, "i32", ti_dyn)
        args.append(("ti", tT))
        arrays.append(token_indices)
        operands += ", %ti"
        types.append(tT)
    seg_types = None
    if seg is not None:
        seg_types = (ttype(seg[0].shape, "i32", seg_dyn), ttype(seg[1].shape, "i32", seg_dyn))
        args += [("sq", seg_types[0]), ("skv", seg_types[1])]
        arrays += [seg[0], seg[1]]
    for name, typ, arr in extra_args:
        args.append((name, typ))
        arrays.append(arr)
    regions = ""
    if mask_mod is not None:
        regions += " " + mask_mod
    if score_mod is not None:
        regions += " " + score_mod
    ad = attr_dict(**(attrs or {}))
    body = (f"  %o, %lse = sparse_attn.{op} {operands}{seg_clause(seg_types)} {ad}{regions}\n"
            f"      : {', '.join(types)}\n      -> {oT}, {lT}")
    return func_text(args, body, [("o", oT), ("lse", lT)]), arrays


def attention_inputs(case, rng):
    """q, k, v of an attention-like case (element-type arrays)."""
    elt = case.get("elt", "f32")
    B, Hq, Hkv = case["B"], case["Hq"], case["Hkv"]
    Sq, Skv, D, Dv = case["Sq"], case["Skv"], case["D"], case["Dv"]
    kind = case.get("inputs", "normal")
    if kind == "quant":
        q = quantized(rng, (B, Hq, Sq, D), elt)
        k = quantized(rng, (B, Hkv, Skv, D), elt)
    elif kind == "large":  # multiples of 4 up to 24: exact scores in the thousands
        q = quantized(rng, (B, Hq, Sq, D), elt, step=4.0)
        k = quantized(rng, (B, Hkv, Skv, D), elt, step=4.0)
    else:
        q = randn(rng, (B, Hq, Sq, D), elt)
        k = randn(rng, (B, Hkv, Skv, D), elt)
    v = randn(rng, (B, Hkv, Skv, Dv), elt)
    if kind == "nan_k":
        k[0, 0, 5, 3] = np.nan  # rows p >= 5 of both query heads turn NaN
    if kind == "nan_v":
        # Non-finite values in keys some rows do not allow: they must not leak.
        v[0, 0, 5, 0] = np.nan
        v[0, 0, 9, 1] = np.inf
        k[0, 0, 12, 2] = np.nan
        v[-1, -1, Skv - 1, :] = np.nan
    return q, k, v


def attention_segments(case, rng):
    """(seg_q, seg_kv) of a case with a mask reading segment ids, else None."""
    kind = case.get("seg")
    if kind is None:
        return None
    B, Sq, Skv = case["B"], case["Sq"], case["Skv"]
    if kind == "packed" and Sq == Skv:
        s = segments(rng, B, Sq, 4)
        return s, s.copy()
    if kind == "docs" and Sq == Skv:
        # 8 documents of random lengths (packed sequences).
        s = np.zeros((B, Sq), np.int32)
        for b in range(B):
            cuts = np.sort(rng.choice(np.arange(1, Sq), size=min(7, Sq - 1), replace=False))
            s[b] = np.searchsorted(cuts, np.arange(Sq), "right")
        return s, s.copy()
    if kind == "per_token" and Sq == Skv:
        s = np.tile(np.arange(Sq, dtype=np.int32), (B, 1))
        return s, s.copy()
    if kind == "unsorted":
        # Negative ids, in no order.
        return (rng.integers(-3, 3, size=(B, Sq)).astype(np.int32),
                rng.integers(-3, 3, size=(B, Skv)).astype(np.int32))
    if kind == "descent_at_end" and Sq == Skv:
        # Sorted but for the last key, whose id belongs to the first document.
        s = segments(rng, B, Sq, 4)
        s[:, -1] = s[:, 0]
        return s, s.copy()
    sq = segments(rng, B, Sq, 4)
    skv = segments(rng, B, Skv, 4)
    if kind == "absent":
        sq[:, Sq // 3: Sq // 3 + 5] = 99  # ids no key has: empty rows
    return sq, skv


# ----------------------------------------------------------------------------
# Random masks for the sweeps
# ----------------------------------------------------------------------------

# Row-major factorizations of the sequence lengths the sweeps use.
GRIDS = {1: [[1]], 17: [[17]], 20: [[4, 5]], 64: [[8, 8], [4, 4, 4], [64]],
         127: [[127]], 128: [[8, 16], [4, 4, 8], [128], [2, 8, 8]], 129: [[3, 43], [129]],
         200: [[10, 20], [2, 10, 10]], 1000: [[10, 100], [10, 10, 10], [1000]]}

BIG = 2**40


def random_neighborhood(r, skv):
    grid = GRIDS[skv][r.integers(len(GRIDS[skv]))]
    window, dilation, causal = [], [], []
    for n in grid:
        l = int(r.choice([1, 1, 2, 3])) if n >= 4 else 1
        l = min(l, n)
        w = int(r.integers(1, max(1, min(n // l, 9)) + 1))
        window.append(w)
        dilation.append(l)
        causal.append(bool(r.random() < 0.3))
    return g.Neighborhood(grid, window, dilation, causal)


def random_leaf(r, skv, allow_document=True, right_ok=True):
    kinds = ["causal", "sliding", "sink", "neighborhood"] + (["document"] if allow_document else [])
    if skv not in GRIDS:
        kinds.remove("neighborhood")
    kind = kinds[r.integers(len(kinds))]
    if kind == "causal":
        return g.Causal()
    if kind == "sliding":
        right = int(r.choice([0, 0, 2, 16, BIG])) if right_ok else 0
        return g.SlidingWindow(int(r.choice([0, 1, 3, 16, 100, BIG])), right)
    if kind == "sink":
        return g.SinkWindow(int(r.choice([0, 1, 4, 64, BIG])), int(r.choice([0, 1, 8, 100, BIG])))
    if kind == "document":
        return g.Document()
    return random_neighborhood(r, skv)


def random_mask(r, skv, allow_document=True, depth=0, p_none=0.1, right_ok=True):
    """A random mask (None, a leaf, or nested combinators up to depth 2).

    right_ok=False keeps sliding windows at right = 0: the sweeps use it
    when Sq > Skv, so that rows at p < 0 under a window reaching right
    (which do see keys, per the window formula in semantics.md) are
    exercised by the dedicated cases rather than by every sweep."""
    x = r.random()
    if depth == 0 and x < p_none:
        return None
    if depth < 2 and x < 0.45:
        parts = [random_mask(r, skv, allow_document, depth + 1, 0, right_ok)
                 for _ in range(r.integers(1, 4))]
        return (g.Intersect if r.random() < 0.5 else g.Union)(parts)
    return random_leaf(r, skv, allow_document, right_ok)
