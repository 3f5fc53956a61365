"""Self-checking tests of the sparse_attn bindings on plain tensor IR (no
sparse_attn ops, so they do not depend on the lowering of the dialect).

    PYTHONPATH=build/python_packages /usr/bin/python3 python-bindings/tests/test_bindings.py

Covers: parse / print / run_pipeline, MLIRError formatting, dtype mapping
(f32, f16, bf16, f64, i64, i32, i1), 0-d tensors, dynamic shapes, several
results, returning an argument or a constant, read-only arguments,
argument checking, the cf.assert -> ValueError path, memory stability over
1000 calls, and importing the package without the extension.
"""

import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

import sparse_attn
from sparse_attn.bf16 import bf16_round

R = sparse_attn.run_cpu
FAILS = []


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL:", what)


def raises(exc, fn, *needles):
    try:
        fn()
    except exc as e:
        msg = str(e)
        for n in needles:
            check(n in msg, f"{n!r} not in {msg!r}")
        return msg
    except Exception as e:  # noqa: BLE001
        check(False, f"expected {exc.__name__}, got {type(e).__name__}: {e}")
        return None
    check(False, f"expected {exc.__name__}, nothing raised")
    return None


def rss_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1])
    return 0


ADD = """
func.func @f(%a: tensor<?x?xf32>, %b: tensor<?x?xf32>) -> tensor<?x?xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %d0 = tensor.dim %a, %c0 : tensor<?x?xf32>
  %d1 = tensor.dim %a, %c1 : tensor<?x?xf32>
  %ok0 = arith.cmpi eq, %d0, %d0 : index
  %e = tensor.empty(%d0, %d1) : tensor<?x?xf32>
  %c = linalg.add ins(%a, %b : tensor<?x?xf32>, tensor<?x?xf32>) outs(%e : tensor<?x?xf32>) -> tensor<?x?xf32>
  return %c : tensor<?x?xf32>
}"""

MULTI = """
#id = affine_map<(d0) -> (d0)>
func.func @g(%a: tensor<?xf16>, %b: tensor<4xi32>, %s: tensor<f64>, %x: tensor<?xbf16>, %l: tensor<2x2xi64>)
    -> (tensor<?xf16>, tensor<4xi32>, tensor<f64>, tensor<?xbf16>, tensor<2x2xi64>, tensor<3xf32>) {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %a, %c0 : tensor<?xf16>
  %e = tensor.empty(%n) : tensor<?xf16>
  %a2 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]}
      ins(%a : tensor<?xf16>) outs(%e : tensor<?xf16>) {
  ^bb0(%in: f16, %o: f16):
    %r = arith.addf %in, %in : f16
    linalg.yield %r : f16
  } -> tensor<?xf16>
  %eb = tensor.empty() : tensor<4xi32>
  %b2 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]}
      ins(%b : tensor<4xi32>) outs(%eb : tensor<4xi32>) {
  ^bb0(%in: i32, %o: i32):
    %c7 = arith.constant 7 : i32
    %r = arith.muli %in, %c7 : i32
    linalg.yield %r : i32
  } -> tensor<4xi32>
  %m = tensor.dim %x, %c0 : tensor<?xbf16>
  %ex = tensor.empty(%m) : tensor<?xbf16>
  %x2 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]}
      ins(%x : tensor<?xbf16>) outs(%ex : tensor<?xbf16>) {
  ^bb0(%in: bf16, %o: bf16):
    %w = arith.extf %in : bf16 to f32
    %r = arith.addf %w, %w : f32
    %t = arith.truncf %r : f32 to bf16
    linalg.yield %t : bf16
  } -> tensor<?xbf16>
  %cst = arith.constant dense<[1.5, 2.5, 3.5]> : tensor<3xf32>
  return %a2, %b2, %s, %x2, %l, %cst
      : tensor<?xf16>, tensor<4xi32>, tensor<f64>, tensor<?xbf16>, tensor<2x2xi64>, tensor<3xf32>
}"""

ASSERT = """
func.func @f(%a: tensor<?xf32>, %b: tensor<?xf32>) -> tensor<?xf32> {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %a, %c0 : tensor<?xf32>
  %m = tensor.dim %b, %c0 : tensor<?xf32>
  %ok = arith.cmpi eq, %n, %m : index
  cf.assert %ok, "f: a and b lengths differ"
  %e = tensor.empty(%n) : tensor<?xf32>
  %c = linalg.add ins(%a, %b : tensor<?xf32>, tensor<?xf32>) outs(%e : tensor<?xf32>) -> tensor<?xf32>
  return %c : tensor<?xf32>
}"""


def test_parse_and_pipelines():
    m = sparse_attn.parse(ADD)
    check("linalg.add" in str(m), "str(module)")
    m.run_pipeline("canonicalize,cse")
    m.run_pipeline("builtin.module(canonicalize)")
    m.run_pipeline("func.func(canonicalize)")
    check("arith.cmpi" not in str(m), "canonicalize ran")
    check(isinstance(m, sparse_attn.Module), "Module type")
    for bad in ("no-such-pass", "builtin.module(no-such-pass)", "builtin.module(canonicalize",
                "garbage(((", "canonicalize{bad-option=1}"):
        raises(sparse_attn.MLIRError, lambda b=bad: m.run_pipeline(b), "invalid pass pipeline")
    m2 = sparse_attn.parse(ADD)
    m2.run_pipeline("sparse-attn-to-llvm-cpu-pipeline")
    check("llvm.func @f" in str(m2), "CPU pipeline through run_pipeline")

    msg = raises(sparse_attn.MLIRError, lambda: sparse_attn.parse(
        "func.func @f(%a: tensor<2xf32>) -> tensor<3xf32> {\n  return %a : tensor<2xf32>\n}"),
        "<input>:2:3: error: type of return operand 0")
    try:
        sparse_attn.parse("func.func @f( {")
    except sparse_attn.MLIRError as e:
        check(e.diagnostics and e.diagnostics[0].startswith("<input>:1:"), "diagnostics list")
    del msg


def test_dtypes_and_results():
    a = np.array([1, 2.5, -3], np.float16)
    b = np.array([1, 2, 3, -4], np.int32)
    s = np.array(3.25, np.float64)
    x = np.array([1.00390625, 1.01171875, 1.0, np.nan, -np.inf, 3.0e38, -0.0, 1e-40], np.float32)
    l = np.arange(4, dtype=np.int64).reshape(2, 2)
    for _ in range(3):
        res = R(MULTI, "g", [a, b, s, x, l])
        check(res[0].dtype == np.float16 and np.array_equal(res[0], a + a), "f16")
        check(res[1].dtype == np.int32 and np.array_equal(res[1], b * 7), "i32")
        check(res[2].dtype == np.float64 and res[2].shape == () and res[2] == 3.25, "0-d f64")
        with np.errstate(over="ignore"):
            want = bf16_round(bf16_round(x).astype(np.float32) * 2)
        check(res[3].dtype == np.float32 and np.array_equal(res[3], want, equal_nan=True),
              f"bf16 {res[3]} vs {want}")
        check(res[4].dtype == np.int64 and np.array_equal(res[4], l), "i64")
        check(np.array_equal(res[5], [1.5, 2.5, 3.5]), "constant result")
    # bf16 round trip: ties to even, NaN kept.
    ident = "func.func @i(%a: tensor<5xbf16>) -> tensor<5xbf16> { return %a : tensor<5xbf16> }"
    v = np.array([1.00390625, 1.01171875, np.nan, 1e-40, -2.0], np.float32)
    got = R(ident, "i", [v])[0]
    check(np.array_equal(got, [1.0, 1.015625, np.nan, bf16_round(1e-40)[()], -2.0], equal_nan=True),
          f"bf16 round trip {got}")
    # i1 and 0-d
    z = """func.func @z(%a: tensor<f32>, %p: tensor<3xi1>) -> (tensor<f32>, tensor<3xi1>) {
      return %a, %p : tensor<f32>, tensor<3xi1> }"""
    r = R(z, "@z", [np.array(2.5, np.float32), np.array([True, False, True])])
    check(r[0].shape == () and r[0] == 2.5 and r[1].tolist() == [True, False, True], "0-d / i1")
    # no results
    check(R("func.func @n(%a: tensor<2xf32>) { return }", "n", [np.zeros(2, np.float32)]) == [],
          "no results")


def test_identity_constant_readonly_strided():
    idn = """func.func @id(%a: tensor<?x3xf32>) -> (tensor<?x3xf32>, tensor<?x3xf32>) {
      return %a, %a : tensor<?x3xf32>, tensor<?x3xf32> }"""
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    r = R(idn, "id", [a])
    check(all(np.array_equal(q, a) for q in r), "identity values")
    a[0, 0] = 99
    check(r[0][0, 0] == 0 and r[1][0, 0] == 0, "results are copies")
    check(R(idn, "id", [np.zeros((0, 3), np.float32)])[0].shape == (0, 3), "empty tensors")

    cst = """func.func @c() -> tensor<2x2xi32> {
      %c = arith.constant dense<[[1, 2], [3, 4]]> : tensor<2x2xi32>
      return %c : tensor<2x2xi32> }"""
    for _ in range(3):
        check(R(cst, "c", [])[0].tolist() == [[1, 2], [3, 4]], "constant")

    w = """func.func @w(%a: tensor<4xf32>) -> tensor<4xf32> {
      %c = arith.constant 5.0 : f32
      %r = linalg.fill ins(%c : f32) outs(%a : tensor<4xf32>) -> tensor<4xf32>
      return %r : tensor<4xf32> }"""
    a = np.zeros(4, np.float32)
    a.flags.writeable = False
    check(R(w, "w", [a])[0].tolist() == [5.0] * 4 and a.tolist() == [0.0] * 4, "read-only args")

    s = """func.func @s(%a: tensor<4x6xf32>) -> tensor<2x3xf32> {
      %r = tensor.extract_slice %a[1, 0] [2, 3] [2, 2] : tensor<4x6xf32> to tensor<2x3xf32>
      return %r : tensor<2x3xf32> }"""
    x = np.arange(24, dtype=np.float32).reshape(4, 6)
    check(np.array_equal(R(s, "s", [x])[0], x[1::2, ::2]), "strided slice result (memrefCopy)")

    big = np.arange(24, dtype=np.float32).reshape(4, 6)
    got = R(ADD, "f", [big[::2, ::2], big[1::2, 1::2].T.T])[0]
    check(np.array_equal(got, big[::2, ::2] + big[1::2, 1::2]), "non-contiguous inputs")
    got = R(ADD, "f", [np.asfortranarray(big), big])[0]
    check(np.array_equal(got, 2 * big), "fortran-order input")


def test_argument_errors():
    sig = """func.func @f(%q: tensor<?x2x?x64xf32>, %k: tensor<?x2x?x64xf32>) -> tensor<?x2x?x64xf32> {
      return %q : tensor<?x2x?x64xf32> }"""
    ok = np.zeros((1, 2, 3, 64), np.float32)
    raises(ValueError, lambda: R(sig, "f", [ok, ok.astype(np.float64)]),
           "argument 1: expected tensor<?x2x?x64xf32> (float32), got float64 array of shape (1, 2, 3, 64)")
    raises(ValueError, lambda: R(sig, "f", [ok, np.zeros((1, 3, 3, 64), np.float32)]),
           "argument 1", "dim 1 is 3, expected 2")
    raises(ValueError, lambda: R(sig, "f", [np.zeros((2, 3, 64), np.float32), ok]), "argument 0")
    raises(ValueError, lambda: R(sig, "f", [ok, [1, 2]]), "argument 1", "list")
    raises(ValueError, lambda: R(sig, "f", [ok]), "expects 2 arguments, got 1")
    raises(ValueError, lambda: R(sig, "nope", []), "no func.func @nope", "@f")
    raises(ValueError, lambda: R("func.func @s(%a: i32) -> i32 { return %a : i32 }", "s", [1]),
           "only tensor arguments/results")
    raises(ValueError, lambda: R("func.func private @d(%a: tensor<2xf32>)", "d", []), "declaration")
    raises(sparse_attn.MLIRError, lambda: R("func.func @f(", "f", []), "<input>:1:")
    raises(sparse_attn.MLIRError, lambda: R("""func.func private @nosuch(f32) -> f32
      func.func @f(%a: tensor<f32>) -> tensor<f32> {
        %x = tensor.extract %a[] : tensor<f32>
        %y = func.call @nosuch(%x) : (f32) -> f32
        %r = tensor.from_elements %y : tensor<f32>
        return %r : tensor<f32> }""", "f", [np.zeros((), np.float32)]), "nosuch")


def test_runtime_checks_and_memory():
    a = np.ones(4, np.float32)
    check(np.array_equal(R(ASSERT, "f", [a, a])[0], 2 * a), "assert path ok")
    for _ in range(3):
        raises(ValueError, lambda: R(ASSERT, "f", [a, np.ones(5, np.float32)]),
               "run-time check failed", "f: a and b lengths differ")
    check(np.array_equal(R(ASSERT, "f", [a, a * 2])[0], 3 * a), "works after abort")

    big = np.random.default_rng(0).random(1 << 18).astype(np.float32)
    multi_args = [np.ones(3, np.float16), np.ones(4, np.int32), np.array(1.0), big,
                  np.ones((2, 2), np.int64)]
    for _ in range(200):  # warm up the allocator
        R(ASSERT, "f", [big, big])
        R(MULTI, "g", multi_args)
    r0 = rss_kb()
    for _ in range(1000):
        R(ASSERT, "f", [big, big])
        R(MULTI, "g", multi_args)
        try:
            R(ASSERT, "f", [a, big])
        except ValueError:
            pass
    grown = rss_kb() - r0
    print(f"  RSS growth over 1000 x 3 calls with 1 MiB tensors: {grown} kB")
    check(grown < 16 * 1024, f"RSS grew by {grown} kB")
    info = sparse_attn.cache_info()
    check(info["hits"] > 1000 and info["size"] >= 2, f"cache {info}")


def test_import_without_extension():
    pkg = os.path.dirname(sparse_attn.__file__)
    with tempfile.TemporaryDirectory() as tmp:
        dst = os.path.join(tmp, "sparse_attn")
        shutil.copytree(pkg, dst, ignore=shutil.ignore_patterns("_native*", "__pycache__"))
        code = ("import sparse_attn, sparse_attn.errors, sparse_attn.bf16\n"
                "assert not sparse_attn.native_available()\n"
                "assert issubclass(sparse_attn.MLIRError, Exception)\n"
                "try:\n    sparse_attn.parse('module {}')\n"
                "except ImportError as e:\n    print('ImportError', e)\n")
        p = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, PYTHONPATH=tmp),
                           capture_output=True, text=True)
        check(p.returncode == 0 and "ImportError" in p.stdout and "_native" in p.stdout,
              f"import without the extension: {p.stdout}{p.stderr}")


if __name__ == "__main__":
    for name, fn in list(globals().items()):
        if name.startswith("test_") and callable(fn):
            print(name)
            fn()
    if FAILS:
        print(f"{len(FAILS)} failure(s)")
        sys.exit(1)
    print("all passed")
