# RUN: %python %s
"""Error paths of the Python API: bad IR and bad pipelines raise
sparse_attn.MLIRError with the diagnostics; wrong argument count, rank,
dtype or static shape raise ValueError naming the argument; run-time
inconsistencies of dynamic dims (caught by the lowering's cf.assert) raise
ValueError; and the process keeps working afterwards (a good call after
every error matches the golden model).
"""

import re

import numpy as np

import common as c
import golden as g

ARG_RE = re.compile(r"argument\s*#?\s*(\d+)")

ATTN = """func.func @f(%q: tensor<?x4x?x16xf32>, %k: tensor<?x2x?x16xf32>, %v: tensor<?x2x?x8xf32>)
    -> (tensor<?x4x?x8xf32>, tensor<?x4x?xf32>) {
  %o, %lse = sparse_attn.attention %q, %k, %v {mask = #sparse_attn.causal}
      : tensor<?x4x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x8xf32> -> tensor<?x4x?x8xf32>, tensor<?x4x?xf32>
  return %o, %lse : tensor<?x4x?x8xf32>, tensor<?x4x?xf32>
}
"""

STATIC = """func.func @f(%q: tensor<1x4x16x8xf16>, %k: tensor<1x4x16x8xf16>, %v: tensor<1x4x16x8xf16>)
    -> (tensor<1x4x16x8xf16>, tensor<1x4x16xf32>) {
  %o, %lse = sparse_attn.attention %q, %k, %v
      : tensor<1x4x16x8xf16>, tensor<1x4x16x8xf16>, tensor<1x4x16x8xf16> -> tensor<1x4x16x8xf16>, tensor<1x4x16xf32>
  return %o, %lse : tensor<1x4x16x8xf16>, tensor<1x4x16xf32>
}
"""

BF16 = """func.func @f(%x: tensor<1x2x?x16xbf16>) -> tensor<1x2x?x16xf32> {
  %r = sparse_attn.pool max %x {block = 4} : tensor<1x2x?x16xbf16> -> tensor<1x2x?x16xf32>
  return %r : tensor<1x2x?x16xf32>
}
"""

BSA = """func.func @f(%q: tensor<?x2x?x16xf32>, %k: tensor<?x2x?x16xf32>, %v: tensor<?x2x?x16xf32>,
                 %n: tensor<?x1x?xi32>, %i: tensor<?x1x?x2xi32>) -> (tensor<?x2x?x16xf32>, tensor<?x2x?xf32>) {
  %o, %lse = sparse_attn.block_sparse_attention %q, %k, %v, %n, %i {block = [8, 8]}
      : tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x1x?xi32>, tensor<?x1x?x2xi32>
     -> tensor<?x2x?x16xf32>, tensor<?x2x?xf32>
  return %o, %lse : tensor<?x2x?x16xf32>, tensor<?x2x?xf32>
}
"""
# The same with full(...) lists of their own dynamic shape.
BSA_FULL = BSA.replace(
    "%i: tensor<?x1x?x2xi32>)", "%i: tensor<?x1x?x2xi32>, %fn: tensor<?x1x?xi32>, %fi: tensor<?x1x?x?xi32>)"
).replace("%n, %i {block", "%n, %i full(%fn, %fi : tensor<?x1x?xi32>, tensor<?x1x?x?xi32>) {block")

TSA = """func.func @f(%q: tensor<?x2x?x16xf32>, %k: tensor<?x1x?x16xf32>, %v: tensor<?x1x?x16xf32>,
                 %t: tensor<?x?x4xi32>) -> (tensor<?x2x?x16xf32>, tensor<?x2x?xf32>) {
  %o, %lse = sparse_attn.token_sparse_attention %q, %k, %v, %t
      : tensor<?x2x?x16xf32>, tensor<?x1x?x16xf32>, tensor<?x1x?x16xf32>, tensor<?x?x4xi32>
     -> tensor<?x2x?x16xf32>, tensor<?x2x?xf32>
  return %o, %lse : tensor<?x2x?x16xf32>, tensor<?x2x?xf32>
}
"""

# A neighborhood lays the keys on its grid: 2 x 4 = 8 keys, checked at run time.
NEIGHBORHOOD = """func.func @f(%q: tensor<1x1x?x8xf32>, %k: tensor<1x1x?x8xf32>, %v: tensor<1x1x?x8xf32>)
    -> (tensor<1x1x?x8xf32>, tensor<1x1x?xf32>) {
  %o, %lse = sparse_attn.attention %q, %k, %v {mask = #sparse_attn.neighborhood<grid = [2, 4], window = [1, 3]>}
      : tensor<1x1x?x8xf32>, tensor<1x1x?x8xf32>, tensor<1x1x?x8xf32> -> tensor<1x1x?x8xf32>, tensor<1x1x?xf32>
  return %o, %lse : tensor<1x1x?x8xf32>, tensor<1x1x?xf32>
}
"""

DOC = """func.func @f(%q: tensor<?x2x?x16xf32>, %k: tensor<?x2x?x16xf32>, %v: tensor<?x2x?x16xf32>,
                 %sq: tensor<?x?xi32>, %skv: tensor<?x?xi32>) -> (tensor<?x2x?x16xf32>, tensor<?x2x?xf32>) {
  %o, %lse = sparse_attn.attention %q, %k, %v segment_ids(%sq, %skv : tensor<?x?xi32>, tensor<?x?xi32>)
      {mask = #sparse_attn.document}
      : tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32> -> tensor<?x2x?x16xf32>, tensor<?x2x?xf32>
  return %o, %lse : tensor<?x2x?x16xf32>, tensor<?x2x?xf32>
}
"""

BAD_IR = [
    # Syntax: missing types.
    ("""func.func @f(%q: tensor<1x4x16x8xf32>) {
  %o, %l = sparse_attn.attention %q, %q, %q {mask = #sparse_attn.causal}
  return
}
""", "expected ':'"),
    # Verifier: GQA ratio.
    ("""func.func @f(%q: tensor<1x4x16x8xf32>, %k: tensor<1x3x16x8xf32>) -> tensor<1x4x16xf32> {
  %o, %l = sparse_attn.attention %q, %k, %k : tensor<1x4x16x8xf32>, tensor<1x3x16x8xf32>, tensor<1x3x16x8xf32> -> tensor<1x4x16x8xf32>, tensor<1x4x16xf32>
  return %l : tensor<1x4x16xf32>
}
""", "multiple of key/value heads"),
    # Attribute verifier.
    ("""func.func @f() attributes {m = #sparse_attn.sliding_window<left = -1, right = 0>} { return }
""", "sliding_window expects left >= 0"),
    # Unknown mask attribute.
    ("""func.func @f() attributes {m = #sparse_attn.diagonal} { return }
""", "diagonal"),
    # A location whose file name is not UTF-8: the diagnostic decodes with
    # replacement characters (it raised UnicodeDecodeError).
    ("""func.func @f(%q: tensor<1x4x16x8xf32>, %k: tensor<1x3x16x8xf32>) -> tensor<1x4x16xf32> {
  %o, %l = sparse_attn.attention %q, %k, %k : tensor<1x4x16x8xf32>, tensor<1x3x16x8xf32>, tensor<1x3x16x8xf32> -> tensor<1x4x16x8xf32>, tensor<1x4x16xf32> loc("\\FF\\FE.mlir":3:4)
  return %l : tensor<1x4x16xf32>
}
""", "\ufffd\ufffd.mlir:3:4"),
    # Combinators nested thousands deep: the parser stops at the limit (a
    # recursive parse would overflow the stack and kill the interpreter).
    ("func.func @f() attributes {m = " + "#sparse_attn.intersect<[" * 7000 + "#sparse_attn.causal"
     + "]>" * 7000 + "} { return }\n", "intersect nests masks 17 deep"),
]


def f32(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


def expect(exc_type, fn, what, check=None):
    try:
        fn()
    except exc_type as e:
        msg = str(e)
        if check is not None:
            check(msg)
        return msg
    except Exception as e:  # noqa: BLE001
        raise AssertionError(f"{what}: expected {exc_type.__name__}, got {type(e).__name__}: {e}")
    raise AssertionError(f"{what}: expected {exc_type.__name__}, nothing was raised")


ARG_BASE = []  # the index base the messages use (0 or 1), learnt from the first message


def names_argument(idx, what):
    def check(msg):
        nums = [int(x) for x in ARG_RE.findall(msg)]
        if not nums:
            raise AssertionError(f"{what}: the message does not name an argument: {msg!r}")
        if not ARG_BASE:
            if idx in nums:
                ARG_BASE.append(0)
            elif idx + 1 in nums:
                ARG_BASE.append(1)
            else:
                raise AssertionError(f"{what}: expected argument {idx} (0-based) in {msg!r}")
        if idx + ARG_BASE[0] not in nums:
            raise AssertionError(f"{what}: expected argument {idx + ARG_BASE[0]} "
                                 f"({ARG_BASE[0]}-based) in {msg!r}")
    return check


def good_call(rng, what):
    """A correct call after an error: the process and the JIT still work."""
    q, k, v = f32(rng, 2, 4, 5, 16), f32(rng, 2, 2, 7, 16), f32(rng, 2, 2, 7, 8)
    got = c.run_cpu(ATTN, [q, k, v])
    want = g.attention(c.f64(q), c.f64(k), c.f64(v), mask=g.Causal())
    try:
        c.check_attention(got, want, "f32")
    except c.Mismatch as e:
        raise AssertionError(f"good call after {what}: {e}") from e


def case_bad_ir(rng):
    import sparse_attn  # noqa: PLC0415
    for text, needle in BAD_IR:
        for how, fn in (("run_cpu", lambda t=text: c.run_cpu(t, [])),
                        ("parse", lambda t=text: sparse_attn.parse(t))):
            def check(msg, needle=needle, how=how):
                if "error:" not in msg:
                    raise AssertionError(f"{how}: no 'error:' in {msg!r}")
                if not re.search(r":\d+:\d+", msg):
                    raise AssertionError(f"{how}: no line:col in {msg!r}")
                if needle not in msg:
                    raise AssertionError(f"{how}: {needle!r} not in {msg!r}")
            expect(sparse_attn.MLIRError, fn, f"bad IR via {how} ({needle})", check)
        good_call(rng, "bad IR")


def case_bad_pipeline(rng):
    import sparse_attn  # noqa: PLC0415
    module = sparse_attn.parse(ATTN)
    for pipeline in ("builtin.module(no-such-pass)", "builtin.module(canonicalize", "garbage((("):
        expect(sparse_attn.MLIRError, lambda p=pipeline: module.run_pipeline(p),
               f"bad pipeline {pipeline!r}")
    module.run_pipeline("builtin.module(canonicalize)")
    text = str(module)
    if "sparse_attn.attention" not in text:
        raise AssertionError("canonicalize lost the attention op:\n" + text)
    good_call(rng, "bad pipeline")
    # The printed module still runs.
    q, k, v = f32(rng, 1, 4, 3, 16), f32(rng, 1, 2, 3, 16), f32(rng, 1, 2, 3, 8)
    got = c.run_cpu(text, [q, k, v])
    c.check_attention(got, g.attention(c.f64(q), c.f64(k), c.f64(v), mask=g.Causal()), "f32")


def case_bad_arguments(rng):
    q, k, v = f32(rng, 2, 4, 5, 16), f32(rng, 2, 2, 7, 16), f32(rng, 2, 2, 7, 8)
    # Count.
    expect(ValueError, lambda: c.run_cpu(ATTN, [q, k]), "two arguments for three")
    expect(ValueError, lambda: c.run_cpu(ATTN, [q, k, v, v]), "four arguments for three")
    # Rank.
    expect(ValueError, lambda: c.run_cpu(ATTN, [q, k[0], v]), "rank 3 for rank 4",
           names_argument(1, "rank"))
    # Static heads / head dim of a dynamic-batch tensor.
    expect(ValueError, lambda: c.run_cpu(ATTN, [q, k, f32(rng, 2, 3, 7, 8)]), "3 heads for 2",
           names_argument(2, "heads"))
    expect(ValueError, lambda: c.run_cpu(ATTN, [f32(rng, 2, 4, 5, 32), k, v]), "head dim 32 for 16",
           names_argument(0, "head dim"))
    # dtype.
    expect(ValueError, lambda: c.run_cpu(ATTN, [q, k, v.astype(np.float64)]), "float64 for f32",
           names_argument(2, "dtype float64"))
    expect(ValueError, lambda: c.run_cpu(ATTN, [q, k.astype(np.float16), v]), "float16 for f32",
           names_argument(1, "dtype float16"))
    sq, sk = (np.ones((1, 4, 16, 8), np.float16) for _ in range(2))
    sv = np.ones((1, 4, 16, 8), np.float16)
    expect(ValueError, lambda: c.run_cpu(STATIC, [sq, sk, sv.astype(np.float32)]), "float32 for f16",
           names_argument(2, "dtype float32 for f16"))
    expect(ValueError, lambda: c.run_cpu(BF16, [np.ones((1, 2, 8, 16), np.float16)]),
           "float16 for bf16", names_argument(0, "dtype float16 for bf16"))
    n = np.ones((1, 1, 1), np.int32)
    i = np.zeros((1, 1, 1, 2), np.int32)
    bq, bk = f32(rng, 1, 2, 8, 16), f32(rng, 1, 2, 8, 16)
    expect(ValueError, lambda: c.run_cpu(BSA, [bq, bk, bk, n.astype(np.int64), i]), "int64 for i32",
           names_argument(3, "dtype int64 for i32"))
    expect(ValueError, lambda: c.run_cpu(BSA, [bq, bk, bk, n, i.astype(np.float32)]),
           "float32 for i32", names_argument(4, "dtype float32 for i32"))
    # Static shape.
    expect(ValueError, lambda: c.run_cpu(STATIC, [sq, sk, np.ones((1, 4, 17, 8), np.float16)]),
           "static shape", names_argument(2, "static shape"))
    expect(ValueError, lambda: c.run_cpu(BSA, [bq, bk, bk, n, np.zeros((1, 1, 1, 3), np.int32)]),
           "static capacity", names_argument(4, "static capacity"))
    good_call(rng, "bad arguments")
    # bf16 and f16 still work after the errors.
    x = c.randn(rng, (1, 2, 9, 16), "bf16")
    got = c.run_cpu(BF16, [x])
    c.check_float("pool", got[0], g.pool(c.f64(x), "max", 4), "f32")
    got = c.run_cpu(STATIC, [sq, sk, sv])
    c.check_attention(got, g.attention(c.f64(sq), c.f64(sk), c.f64(sv)), "f16")


def case_dynamic_dims(rng):
    q, k, v = f32(rng, 2, 4, 5, 16), f32(rng, 2, 2, 7, 16), f32(rng, 2, 2, 7, 8)
    expect(ValueError, lambda: c.run_cpu(ATTN, [q, f32(rng, 3, 2, 7, 16), f32(rng, 3, 2, 7, 8)]),
           "q batch 2, k/v batch 3")
    expect(ValueError, lambda: c.run_cpu(ATTN, [q, k, f32(rng, 3, 2, 7, 8)]), "v batch 3")
    expect(ValueError, lambda: c.run_cpu(ATTN, [q, k, f32(rng, 2, 2, 6, 8)]), "k length 7, v length 6")
    good_call(rng, "inconsistent attention dims")
    bq, bk = f32(rng, 2, 2, 20, 16), f32(rng, 2, 2, 20, 16)
    NQ = 3
    n = np.ones((2, 1, NQ), np.int32)
    i = np.zeros((2, 1, NQ, 2), np.int32)
    expect(ValueError, lambda: c.run_cpu(BSA, [bq, bk, bk, np.ones((2, 1, 2), np.int32),
                                               np.zeros((2, 1, 2, 2), np.int32)]),
           "2 query blocks for ceil(20 / 8) = 3")
    expect(ValueError, lambda: c.run_cpu(BSA, [bq, bk, bk, np.ones((3, 1, NQ), np.int32),
                                               np.zeros((3, 1, NQ, 2), np.int32)]),
           "list batch 3 for batch 2")
    expect(ValueError, lambda: c.run_cpu(BSA, [bq, bk, bk, n, np.zeros((1, 1, NQ, 2), np.int32)]),
           "num_blocks batch 2, block_indices batch 1")
    # Full lists must match the first pair's batch and query blocks.
    fn, fi = np.ones((2, 1, NQ), np.int32), np.ones((2, 1, NQ, 1), np.int32)
    expect(ValueError, lambda: c.run_cpu(BSA_FULL, [bq, bk, bk, n, i, fn[:1], fi[:1]]),
           "full lists batch 1, lists batch 2")
    expect(ValueError, lambda: c.run_cpu(BSA_FULL, [bq, bk, bk, n, i, fn[:, :, :2], fi[:, :, :2]]),
           "full lists with 2 query blocks for 3")
    expect(ValueError, lambda: c.run_cpu(BSA_FULL, [bq, bk, bk, n, i, fn, fi[:1]]),
           "full_num_blocks batch 2, full_block_indices batch 1")
    got = c.run_cpu(BSA_FULL, [bq, bk, bk, n, i, fn, fi])
    want = g.block_sparse_attention(c.f64(bq), c.f64(bk), c.f64(bk), n, i, [8, 8], full=(fn, fi))
    c.check_attention(got, want, "f32")
    # The good lists (batch 2 and the broadcast batch 1) work.
    for lb in (2, 1):
        nn, ii = n[:lb], i[:lb]
        got = c.run_cpu(BSA, [bq, bk, bk, nn, ii])
        want = g.block_sparse_attention(c.f64(bq), c.f64(bk), c.f64(bk), nn, ii, [8, 8])
        c.check_attention(got, want, "f32")
    tq, tk = f32(rng, 2, 2, 6, 16), f32(rng, 2, 1, 9, 16)
    expect(ValueError, lambda: c.run_cpu(TSA, [tq, tk, tk, np.zeros((2, 5, 4), np.int32)]),
           "token_indices for 5 queries, q has 6")
    expect(ValueError, lambda: c.run_cpu(TSA, [tq, tk, tk, np.zeros((1, 6, 4), np.int32)]),
           "token_indices batch 1, q batch 2")
    dq, dk = f32(rng, 2, 2, 6, 16), f32(rng, 2, 2, 9, 16)
    s6, s9 = np.zeros((2, 6), np.int32), np.zeros((2, 9), np.int32)
    expect(ValueError, lambda: c.run_cpu(DOC, [dq, dk, dk, s6, s6]), "key segment ids of length 6 for 9")
    expect(ValueError, lambda: c.run_cpu(DOC, [dq, dk, dk, s9, s9]), "query segment ids of length 9 for 6")
    expect(ValueError, lambda: c.run_cpu(DOC, [dq, dk, dk, s6[:1], s9]), "segment ids batch 1 for 2")
    got = c.run_cpu(DOC, [dq, dk, dk, s6, s9])
    c.check_attention(got, g.attention(c.f64(dq), c.f64(dk), c.f64(dk), mask=g.Document(), seg_q=s6,
                                       seg_kv=s9), "f32")
    nq, nk = f32(rng, 1, 1, 8, 8), f32(rng, 1, 1, 9, 8)
    expect(ValueError, lambda: c.run_cpu(NEIGHBORHOOD, [nq, nk, nk]),
           "9 keys on a 2 x 4 neighborhood grid", lambda msg: _contains(msg, "neighborhood grid"))
    nk = f32(rng, 1, 1, 8, 8)
    got = c.run_cpu(NEIGHBORHOOD, [nq, nk, nk])
    c.check_attention(got, g.attention(c.f64(nq), c.f64(nk), c.f64(nk),
                                       mask=g.Neighborhood([2, 4], [1, 3], [1, 1], [False, False])),
                      "f32")
    good_call(rng, "inconsistent dynamic dims")


def _contains(msg, needle):
    if needle not in msg:
        raise AssertionError(f"expected {needle!r} in {msg!r}")


CASES = [
    dict(name="bad IR", _fn=case_bad_ir),
    dict(name="bad pipeline", _fn=case_bad_pipeline),
    dict(name="bad arguments", _fn=case_bad_arguments),
    dict(name="inconsistent dynamic dims", _fn=case_dynamic_dims),
]


if __name__ == "__main__":
    c.exit_with(c.main(CASES, lambda case, rng: case["_fn"](rng), "errors"))
