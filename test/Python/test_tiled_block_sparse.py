# RUN: %python %s
"""sparse-attn-tile on block_sparse_attention: every case of
test_block_sparse.py (every list broadcast form, -1 / out-of-range /
repeated entries, counts above the capacity and negative, masks and mods),
tiled with the default cost model for sm_80 (tiles are the blocks, or their
largest divisors that fit), then run on the CPU against the same float64
golden model. The small cases run a second time with 1 x 1 tiles, so every
block is split into several query and kv tiles."""

import common as c
import test_block_sparse as cases

DEFAULT = "func.func(sparse-attn-tile{chip=sm_80})"
SPLIT = "func.func(sparse-attn-tile{block-q=1 block-kv=1})"


def run_case(case, rng):
    c.PRE_PIPELINE = case["_pipeline"]
    cases.run_case(case, rng)


if __name__ == "__main__":
    runs = [dict(case, _pipeline=DEFAULT) for case in cases.CASES]
    runs += [dict(case, _pipeline=SPLIT, split=True) for case in cases.CASES
             if case.get("Sq", 0) * case.get("Skv", 0) * case.get("B", 1) <= 20000]
    c.exit_with(c.main(runs, run_case, "tiled block_sparse_attention"))
