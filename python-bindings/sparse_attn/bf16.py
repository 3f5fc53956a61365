"""bf16 helpers in pure numpy (importable without the compiled extension).

bf16 tensors cross the Python boundary as float32 arrays: inputs are rounded
to bf16 (round to nearest, ties to even; NaN stays NaN) and bf16 results are
widened exactly to float32. These functions do the same rounding on the
Python side.
"""

import numpy as np

__all__ = ["bf16_round", "to_bf16_bits", "from_bf16_bits"]


def to_bf16_bits(x):
    """uint16 bit patterns of ``x`` (any float array) rounded to bf16."""
    x = np.array(x, dtype=np.float32, order="C")  # keeps 0-d arrays 0-d
    u = x.view(np.uint32).astype(np.uint64)
    s16, one = np.uint64(16), np.uint64(1)
    bits = ((u + np.uint64(0x7FFF) + ((u >> s16) & one)) >> s16).astype(np.uint16)
    # NaN: the upper half with the quiet bit set (stays NaN, keeps its sign).
    nan_bits = ((u >> s16) | np.uint64(0x0040)).astype(np.uint16)
    return np.where(np.isnan(x), nan_bits, bits).astype(np.uint16)


def from_bf16_bits(bits):
    """float32 values of uint16 bf16 bit patterns (exact)."""
    bits = np.array(bits, dtype=np.uint16, order="C")
    return (bits.astype(np.uint32) << np.uint32(16)).view(np.float32)


def bf16_round(x):
    """``x`` rounded to the nearest bf16 value, as float32 (what run_cpu
    computes with for a bf16 argument)."""
    return from_bf16_bits(to_bf16_bits(x))
