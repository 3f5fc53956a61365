"""Python bindings of sparse-attn.

* ``parse(text) -> Module``: parse and verify MLIR text; ``str(module)``
  prints it, ``module.run_pipeline("canonicalize,cse")`` runs passes in place.
* ``run_cpu(text, func_name, args) -> list[numpy.ndarray]``: lower
  ``func.func @func_name`` with sparse-attn-to-llvm-cpu-pipeline, JIT it
  (cached per module text and function) and call it on numpy arrays.
* ``lower_to_llvm(text, func_name=None) -> str``: the lowered module, for
  debugging.
* ``MLIRError``: invalid IR, invalid pipeline or failing pass; the message
  lists every diagnostic as ``<input>:LINE:COL: error: text``.

This file and the other pure-Python modules (``errors``, ``bf16``) import
without the compiled extension ``sparse_attn._native``; only the functions
that need it raise ``ImportError`` when it cannot be loaded.
"""

import importlib as _importlib

from .errors import MLIRError

__version__ = "0.1.0"

__all__ = [
    "MLIRError",
    "Module",
    "parse",
    "run_cpu",
    "lower_to_llvm",
    "clear_cache",
    "set_cache_capacity",
    "cache_info",
    "native_available",
    "compile_gpu",
    "__version__",
]

try:
    _native = _importlib.import_module(__name__ + "._native")
except ImportError as _exc:  # missing, or built for another interpreter
    _native = None
    _NATIVE_IMPORT_ERROR = _exc
else:
    _NATIVE_IMPORT_ERROR = None


def native_available():
    """True when the compiled extension (parse, run_cpu, ...) is loaded."""
    return _native is not None


def _require_native():
    if _native is None:
        raise ImportError(
            "sparse_attn: the compiled extension sparse_attn._native could not be "
            f"loaded ({_NATIVE_IMPORT_ERROR}); parse/run_cpu/lower_to_llvm need it. "
            "Build it with `cmake --build build --target sparse-attn-python` and "
            "use /usr/bin/python3 with PYTHONPATH=build/python_packages."
        ) from _NATIVE_IMPORT_ERROR
    return _native


def parse(text):
    """Parses and verifies MLIR ``text``; returns a ``Module``.

    Raises ``MLIRError`` (holding the diagnostics) on invalid IR.
    """
    return _require_native().parse(text)


def run_cpu(text, func_name, args):
    """Compiles ``func.func @func_name`` of ``text`` for the host and calls it.

    ``args`` are numpy arrays, one per tensor argument (f32: float32,
    f16: float16, bf16: float32 rounded to bf16, f64: float64, i64/index:
    int64, i32: int32, i16: int16, i8: int8, i1: bool). Returns one fresh
    numpy array per result. Raises ``ValueError`` for bad arguments and for
    failed run-time checks of the compiled code, ``MLIRError`` when the IR
    does not parse, verify or lower.
    """
    return _require_native().run_cpu(text, func_name, list(args))


def lower_to_llvm(text, func_name=None):
    """Returns ``text`` lowered by sparse-attn-to-llvm-cpu-pipeline (LLVM
    dialect). With ``func_name``, that function gets a C interface first,
    as in ``run_cpu``."""
    return _require_native().lower_to_llvm(text, func_name)


def clear_cache():
    """Drops every compiled function cached by ``run_cpu``."""
    if _native is not None:
        _native.clear_cache()


def set_cache_capacity(capacity):
    """How many compiled functions ``run_cpu`` keeps (LRU; 0 disables)."""
    _require_native().set_cache_capacity(capacity)


def cache_info():
    """dict(size, capacity, hits, misses) of the ``run_cpu`` cache."""
    return _require_native().cache_info()


def __getattr__(name):
    if name == "Module":
        return _require_native().Module
    raise AttributeError(f"module 'sparse_attn' has no attribute {name!r}")


def compile_gpu(text, func_name, chip="sm_90", options=""):
    """Compiles ``func.func @func_name`` to PTX kernels for ``chip`` (sm_80,
    sm_90, sm_90a: wgmma kernels) and its launch plan; ``options`` are other
    options of sparse-attn-to-ptx-pipeline in its textual form (e.g.
    ``"nvgpu-options={block-q=64 block-kv=64}"``). Returns a ``GPUArtifact`` whose
    ``save(dir)`` writes what ``sparse_attn.runtime.load(dir)`` runs."""
    from .gpu import compile_gpu as _compile_gpu  # noqa: PLC0415

    return _compile_gpu(_require_native(), text, func_name, chip, options)
