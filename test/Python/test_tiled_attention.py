# RUN: %python %s
"""sparse-attn-tile on attention: every case of test_attention.py (masks,
combinators, mods, empty rows, GQA, f32/f16/bf16, static and dynamic dims),
tiled with small tiles so that sequences span many full and partial tiles,
then run on the CPU against the same float64 golden model."""

import common as c
import test_attention as cases

if __name__ == "__main__":
    c.PRE_PIPELINE = "func.func(sparse-attn-tile{block-q=16 block-kv=32})"
    c.exit_with(c.main(cases.CASES, cases.run_case, "tiled attention"))
