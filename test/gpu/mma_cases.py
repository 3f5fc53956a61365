"""GPU-only cases for the tensor-core kernel of block_sparse_attention
(convert-sparse-attn-to-nvgpu): f16/bf16, head dims 16-128, blocks that are
multiples of 16, every list broadcast form with junk entries and repeats,
masks, mods, GQA 1/4/8, S in {1, 17, 127, 128, 129, 1000, 4096}, Sq != Skv.

The expected values are the float64 golden model's (test/Python/golden.py);
these cases are too large for the CPU reference lowering, so
test/gpu/build_cases.py computes only the golden results for them.
"""

import common as c
import golden as g

CASES = [
    # Sizes and tiles: S in {1, 17, 127, 128, 129, 1000}, partial last blocks.
    dict(B=1, Hq=4, Hkv=1, Sq=128, Skv=128, D=64, Dv=64, block=[64, 64], lists="all", elt="bf16"),
    dict(B=2, Hq=8, Hkv=2, Sq=129, Skv=129, D=128, Dv=128, block=[128, 128], lists=("B", "Hkv"), C=2,
         mask=g.Causal(), elt="bf16"),
    dict(B=1, Hq=4, Hkv=4, Sq=127, Skv=127, D=64, Dv=64, block=[32, 32], lists=("1", "Hq"), C=4,
         elt="f16"),
    dict(B=2, Hq=8, Hkv=1, Sq=17, Skv=17, D=32, Dv=32, block=[16, 16], lists=("B", "1"), C=2,
         mask=g.Causal(), elt="bf16", dyn=(0, 2)),
    dict(B=1, Hq=8, Hkv=2, Sq=1, Skv=1000, D=128, Dv=128, block=[16, 64], lists=("1", "Hkv"), C=16,
         mask=g.Causal(), elt="bf16", dyn=(2,)),
    dict(B=1, Hq=4, Hkv=1, Sq=1000, Skv=1000, D=64, Dv=64, block=[128, 128], lists="exact",
         mask=g.Causal(), elt="bf16", dyn=(2,), list_dyn=(2,)),
    dict(B=1, Hq=4, Hkv=1, Sq=1000, Skv=1000, D=128, Dv=128, block=[64, 128], lists=("1", "Hq"), C=8,
         mask=g.SlidingWindow(200, 0), elt="f16"),
    # Sq != Skv both ways (bottom-right alignment, rows before the first key).
    dict(B=1, Hq=4, Hkv=2, Sq=17, Skv=129, D=64, Dv=64, block=[16, 32], lists="exact",
         mask=g.Causal(), elt="bf16"),
    dict(B=2, Hq=4, Hkv=1, Sq=129, Skv=17, D=64, Dv=64, block=[32, 16], lists="all",
         mask=g.Causal(), elt="f16", dyn=(0, 2)),
    # Dv != D, head dims 16 and 48 (an odd number of 32-wide steps).
    dict(B=1, Hq=2, Hkv=1, Sq=128, Skv=128, D=128, Dv=64, block=[64, 64], lists=("1", "Hq"), C=2,
         elt="bf16"),
    dict(B=1, Hq=2, Hkv=2, Sq=100, Skv=100, D=16, Dv=48, block=[32, 32], lists=("1", "1"), C=4,
         mask=g.SinkWindow(4, 16), elt="bf16"),
    # GQA 8 with per-head lists; junk entries, repeats, counts above capacity.
    dict(B=2, Hq=8, Hkv=1, Sq=256, Skv=256, D=64, Dv=64, block=[64, 64], lists=("B", "Hq"), C=6,
         p_valid=0.6, elt="bf16"),
    dict(B=1, Hq=4, Hkv=1, Sq=129, Skv=129, D=64, Dv=64, block=[16, 16], lists="overfull", C=3,
         mask=g.Union([g.SinkWindow(1, 0), g.Causal()]), elt="f16"),
    dict(B=1, Hq=4, Hkv=2, Sq=160, Skv=160, D=64, Dv=64, block=[32, 32], lists="none", elt="bf16"),
    # Masks: combinators, neighborhoods, mask_mod, score_mod, empty rows.
    dict(B=1, Hq=2, Hkv=1, Sq=128, Skv=128, D=64, Dv=64, block=[16, 16], lists="all",
         mask=g.Neighborhood([8, 16], [3, 5], [2, 1], [False, True]), elt="bf16"),
    dict(B=1, Hq=4, Hkv=2, Sq=129, Skv=129, D=64, Dv=64, block=[32, 32], lists="all",
         mask=g.Intersect([g.Causal(), g.SlidingWindow(40, 0)]), elt="bf16"),
    dict(B=1, Hq=4, Hkv=2, Sq=127, Skv=127, D=64, Dv=64, block=[32, 32], lists=("1", "Hkv"), C=4,
         mask=g.Causal(), mask_mod=c.MASK_MOD_MOD3, elt="bf16"),
    dict(B=1, Hq=2, Hkv=2, Sq=64, Skv=80, D=64, Dv=64, block=[16, 16], lists=("1", "Hq"), C=4,
         mask_mod=c.MASK_MOD_NEQ, score_mod=c.SCORE_MOD_SOFTCAP, inputs="quant", scale=1.0,
         elt="bf16"),
    dict(B=2, Hq=2, Hkv=1, Sq=48, Skv=48, D=32, Dv=32, block=[16, 16], lists=("B", "Hq"), C=3,
         mask=g.SlidingWindow(6, 2), score_mod=c.SCORE_MOD_NEG_INF_ROWS, elt="f16"),
    dict(B=2, Hq=2, Hkv=1, Sq=48, Skv=48, D=32, Dv=32, block=[16, 16], lists=("1", "1"), C=3,
         mask=g.Causal(), score_mod=c.SCORE_MOD_NEG_INF_COLS, elt="bf16"),
    # NaN / inf in keys and values of blocks the lists leave out.
    dict(B=2, Hq=4, Hkv=2, Sq=64, Skv=64, D=32, Dv=32, block=[16, 16], lists=("B", "Hq"), C=2,
         inputs="nan_v", elt="bf16"),
    # The wgmma kernel (chip sm_90a): head dims 64/128, block_q 64/128, kv
    # tiles of 16 to 128 keys (wgmma n = 16 ... 128), Dv != D, masks, mods,
    # junk lists, empty rows, NaN outside the listed blocks.
    dict(B=1, Hq=4, Hkv=2, Sq=200, Skv=333, D=64, Dv=128, block=[64, 16], lists=("1", "Hq"), C=8,
         mask=g.Causal(), elt="bf16"),
    dict(B=2, Hq=4, Hkv=4, Sq=300, Skv=300, D=128, Dv=64, block=[128, 32], lists=("B", "Hq"), C=5,
         p_valid=0.7, mask=g.SlidingWindow(70, 10), elt="f16"),
    dict(B=1, Hq=2, Hkv=1, Sq=128, Skv=128, D=64, Dv=64, block=[64, 64], lists="all",
         mask=g.Neighborhood([8, 16], [3, 5], [2, 1], [False, True]), elt="bf16"),
    dict(B=1, Hq=2, Hkv=2, Sq=192, Skv=192, D=64, Dv=64, block=[64, 64], lists=("1", "Hq"), C=3,
         mask_mod=c.MASK_MOD_NEQ, score_mod=c.SCORE_MOD_SOFTCAP, inputs="quant", scale=1.0,
         elt="bf16"),
    dict(B=1, Hq=4, Hkv=2, Sq=128, Skv=256, D=64, Dv=64, block=[64, 64], lists=("1", "Hq"), C=2,
         inputs="nan_v", elt="bf16"),
    dict(B=1, Hq=2, Hkv=1, Sq=128, Skv=128, D=64, Dv=64, block=[64, 64], lists=("1", "1"), C=2,
         mask=g.SlidingWindow(6, 2), score_mod=c.SCORE_MOD_NEG_INF_ROWS, elt="f16"),
    dict(B=1, Hq=8, Hkv=2, Sq=2048, Skv=2048, D=128, Dv=128, block=[128, 128], lists=("1", "Hq"),
         C=7, p_valid=0.8, elt="bf16"),
    # S = 4096, GQA 4, both head dims.
    dict(B=1, Hq=4, Hkv=1, Sq=4096, Skv=4096, D=128, Dv=128, block=[128, 128], lists="exact",
         mask=g.Causal(), elt="bf16", dyn=(2,), list_dyn=(2,)),
    dict(B=1, Hq=4, Hkv=1, Sq=4096, Skv=4096, D=64, Dv=64, block=[128, 128], lists=("1", "Hq"), C=6,
         p_valid=0.9, elt="f16"),
    # Full block lists (both kernels): block_mask's partial/full split, and
    # random full lists overlapping the first pair, with junk and repeats,
    # bypassing masks and mods (score_mod still applies).
    dict(B=1, Hq=4, Hkv=1, Sq=1000, Skv=1000, D=128, Dv=128, block=[128, 128], lists="exact",
         full="exact", mask=g.Causal(), elt="bf16"),
    dict(B=2, Hq=4, Hkv=2, Sq=300, Skv=300, D=64, Dv=64, block=[64, 64], lists=("B", "Hkv"), C=3,
         full=3, mask=g.SlidingWindow(70, 10), mask_mod=c.MASK_MOD_MOD3, elt="bf16", list_dyn=(3,)),
    dict(B=1, Hq=2, Hkv=2, Sq=192, Skv=192, D=64, Dv=64, block=[64, 64], lists=("1", "Hq"), C=2,
         full=2, mask_mod=c.MASK_MOD_NEQ, score_mod=c.SCORE_MOD_SOFTCAP, inputs="quant", scale=1.0,
         elt="bf16"),
    dict(B=1, Hq=8, Hkv=2, Sq=1000, Skv=1000, D=128, Dv=128, block=[64, 128], lists=("1", "Hq"),
         C=6, full=4, p_valid=0.8, mask=g.Causal(), elt="f16"),
    dict(B=2, Hq=4, Hkv=1, Sq=129, Skv=129, D=32, Dv=32, block=[32, 32], lists=("B", "1"), C=3,
         full=2, mask=g.SinkWindow(4, 16), elt="bf16"),
    dict(B=1, Hq=4, Hkv=1, Sq=4096, Skv=4096, D=64, Dv=64, block=[128, 128], lists="exact",
         full="exact", mask=g.SlidingWindow(1000, 0), elt="bf16", dyn=(2,), list_dyn=(2,)),
    # Tiles a group of rows skips (wholly masked for its warpgroup or warp, or
    # past the keys): every block listed under band, sink and union masks,
    # lengths that leave the last block's second kv tile empty, Sq != Skv.
    dict(B=1, Hq=4, Hkv=1, Sq=700, Skv=700, D=128, Dv=128, block=[128, 128], lists="all",
         mask=g.SlidingWindow(150, 20), elt="bf16"),
    dict(B=1, Hq=2, Hkv=1, Sq=300, Skv=500, D=64, Dv=64, block=[64, 64], lists="all",
         mask=g.SinkWindow(8, 100), elt="f16"),
    dict(B=1, Hq=4, Hkv=2, Sq=400, Skv=400, D=128, Dv=64, block=[64, 128], lists="all",
         mask=g.Union([g.SlidingWindow(30, 0), g.SinkWindow(16, 8)]), elt="bf16"),
    dict(B=1, Hq=4, Hkv=1, Sq=1000, Skv=1000, D=128, Dv=128, block=[128, 128], lists="exact",
         full="exact", mask=g.SlidingWindow(300, 0), elt="bf16"),
    # Combinators through the mask lowering interface: a union of causal and
    # a window is one key interval per row (the two-compare path, with a
    # right edge past the diagonal); every structural kind at once (pair
    # predicates, the neighborhood's among them; per-warpgroup tile tests).
    dict(B=1, Hq=4, Hkv=2, Sq=600, Skv=600, D=128, Dv=128, block=[128, 128], lists="all",
         mask=g.Union([g.Causal(), g.SlidingWindow(40, 12)]), elt="bf16"),
    dict(B=1, Hq=2, Hkv=1, Sq=300, Skv=300, D=64, Dv=64, block=[64, 64], lists="exact",
         full="exact", mask=g.Union([g.SlidingWindow(64, 0), g.SlidingWindow(8, 30)]), elt="f16"),
    dict(B=1, Hq=4, Hkv=1, Sq=512, Skv=512, D=128, Dv=128, block=[128, 128], lists="all",
         mask=g.Union([g.Intersect([g.Causal(), g.SlidingWindow(64, 64)]), g.SlidingWindow(16, 4),
                       g.SinkWindow(4, 32), g.Neighborhood([16, 32], [3, 5])]), elt="bf16"),
    # Documents (issue 14): block_mask's exact lists over 8 documents, every
    # block listed over unsorted negative ids, query ids no key has (mma.sync).
    dict(B=2, Hq=4, Hkv=2, Sq=1000, Skv=1000, D=128, Dv=128, block=[128, 128], lists="exact",
         full="exact", mask=g.Intersect([g.Causal(), g.Document()]), seg="docs", elt="bf16",
         dyn=(0, 2)),
    dict(B=1, Hq=4, Hkv=1, Sq=300, Skv=300, D=64, Dv=64, block=[64, 64], lists="all",
         mask=g.Document(), seg="unsorted", elt="f16"),
    dict(B=2, Hq=2, Hkv=1, Sq=129, Skv=129, D=64, Dv=64, block=[32, 32], lists=("B", "Hq"), C=4,
         mask=g.Document(), seg="absent", elt="bf16"),
    # Head dims past 128 over lists.
    dict(B=1, Hq=4, Hkv=1, Sq=600, Skv=600, D=256, Dv=256, block=[128, 128], lists="exact",
         full="exact", mask=g.Causal(), elt="bf16"),
    dict(B=1, Hq=2, Hkv=1, Sq=300, Skv=300, D=192, Dv=128, block=[64, 64], lists=("1", "Hq"), C=3,
         elt="f16"),
    # The CUDA-core kernel: f32 lists (junk entries, full lists), kv blocks
    # of 8 and 24 keys, f16/bf16 head dims multiples of 8 only.
    dict(B=2, Hq=4, Hkv=2, Sq=300, Skv=300, D=64, Dv=64, block=[64, 32], lists=("B", "Hq"), C=5,
         p_valid=0.7, mask=g.Causal(), elt="f32"),
    dict(B=1, Hq=4, Hkv=1, Sq=129, Skv=129, D=32, Dv=32, block=[16, 8], lists="overfull", C=6,
         mask=g.SlidingWindow(20, 0), elt="f32"),
    dict(B=1, Hq=2, Hkv=1, Sq=200, Skv=200, D=24, Dv=56, block=[32, 24], lists="exact",
         mask=g.Causal(), elt="bf16"),
    dict(B=1, Hq=4, Hkv=2, Sq=128, Skv=256, D=64, Dv=64, block=[64, 64], lists=("1", "Hq"), C=2,
         inputs="nan_v", elt="f32"),
]

# Lists finer than a query tile (block_q not a multiple of 16: MoBA's
# per-token lists): each 64-row tile walks the union of its rows' blocks and
# masks each row to its own. MoBA's shape (D = 128, 512-token blocks scaled
# down, per-head random lists with junk and repeats), GQA-shared lists,
# block_q = 24 and 3 (tiles starting inside a list row), counts above the
# capacity, empty rows, Sq != Skv, documents, mods, f32 (CUDA cores), exact
# and all-block lists.
ROW_CASES = [
    dict(B=1, Hq=4, Hkv=4, Sq=1000, Skv=1000, D=128, Dv=128, block=[1, 128], lists=("1", "Hq"),
         C=3, mask=g.Causal(), elt="bf16"),
    dict(B=2, Hq=8, Hkv=2, Sq=300, Skv=300, D=64, Dv=64, block=[1, 32], lists=("B", "Hkv"), C=5,
         p_valid=0.6, mask=g.SlidingWindow(90, 0), elt="f16", dyn=(0,)),
    dict(B=1, Hq=4, Hkv=1, Sq=300, Skv=500, D=64, Dv=64, block=[24, 32], lists=("1", "Hq"), C=4,
         mask=g.Causal(), elt="bf16"),
    dict(B=1, Hq=2, Hkv=1, Sq=129, Skv=300, D=128, Dv=128, block=[3, 16], lists="overfull", C=6,
         mask=g.Causal(), mask_mod=c.MASK_MOD_MOD3, elt="bf16"),
    dict(B=1, Hq=2, Hkv=2, Sq=5, Skv=64, D=64, Dv=64, block=[1, 16], lists="none", elt="bf16"),
    dict(B=1, Hq=4, Hkv=2, Sq=200, Skv=100, D=32, Dv=32, block=[1, 16], lists="exact",
         mask=g.Causal(), elt="bf16"),
    dict(B=1, Hq=4, Hkv=2, Sq=100, Skv=200, D=32, Dv=32, block=[1, 16], lists=("1", "Hkv"), C=4,
         mask=g.SinkWindow(4, 30), elt="f32"),
    dict(B=2, Hq=4, Hkv=2, Sq=256, Skv=256, D=64, Dv=64, block=[1, 64], lists="exact",
         mask=g.Intersect([g.Causal(), g.Document()]), seg="packed", elt="bf16"),
    dict(B=1, Hq=2, Hkv=1, Sq=150, Skv=150, D=128, Dv=64, block=[5, 32], lists="all",
         score_mod=c.SCORE_MOD_SOFTCAP, elt="bf16"),
    # Non-finite keys and values in the first and last blocks, which no row
    # lists (a block another row of the tile lists is visited: see
    # docs/semantics.md's known deviation).
    dict(B=1, Hq=2, Hkv=1, Sq=100, Skv=4096, D=64, Dv=64, block=[1, 16], lists="inner", C=8,
         inputs="nan_v", elt="bf16"),
]

ATTENTION_CASES = [
    # Head dims past 256 (wgmma, value slices): MLA's dense prefill (causal,
    # 16 query heads on one latent kv head), its decode (128 heads packed,
    # keys split and combined), a value dim of 320 (five 64-column slices).
    dict(B=1, Hq=16, Hkv=1, Sq=300, Skv=300, D=576, Dv=512, mask=g.Causal(), elt="bf16"),
    dict(B=1, Hq=128, Hkv=1, Sq=1, Skv=3000, D=576, Dv=512, mask=g.Causal(), elt="bf16"),
    dict(B=2, Hq=4, Hkv=2, Sq=100, Skv=130, D=128, Dv=320, mask=g.SlidingWindow(40, 3), elt="f16"),
    dict(B=1, Hq=8, Hkv=2, Sq=1000, Skv=1000, D=128, Dv=128, mask=g.Causal(), elt="bf16"),
    dict(B=2, Hq=4, Hkv=4, Sq=300, Skv=300, D=64, Dv=64, mask=g.SlidingWindow(70, 10),
         mask_mod=c.MASK_MOD_MOD3, elt="f16"),
    dict(B=1, Hq=4, Hkv=1, Sq=129, Skv=600, D=128, Dv=64, mask=g.SinkWindow(4, 100), elt="bf16"),
    dict(B=1, Hq=4, Hkv=2, Sq=257, Skv=257, D=64, Dv=64, elt="bf16"),
    # No lists (issue 14): each query tile walks its mask's key hull, for
    # dynamic lengths too; Sq != Skv both ways, decode rows, every mask kind.
    dict(B=2, Hq=8, Hkv=2, Sq=777, Skv=777, D=128, Dv=128, mask=g.Causal(), elt="bf16",
         dyn=(0, 2)),
    dict(B=1, Hq=4, Hkv=1, Sq=1, Skv=1500, D=128, Dv=128, mask=g.Causal(), elt="f16", dyn=(2,)),
    dict(B=1, Hq=4, Hkv=2, Sq=300, Skv=100, D=64, Dv=64, mask=g.Causal(), elt="bf16", dyn=(2,)),
    dict(B=1, Hq=2, Hkv=1, Sq=600, Skv=600, D=64, Dv=64, mask=g.SlidingWindow(100, 37),
         elt="bf16", dyn=(0, 2)),
    dict(B=1, Hq=4, Hkv=4, Sq=500, Skv=900, D=128, Dv=128, mask=g.SinkWindow(16, 130), elt="bf16"),
    dict(B=1, Hq=2, Hkv=1, Sq=512, Skv=512, D=64, Dv=64,
         mask=g.Neighborhood([16, 32], [5, 7], [1, 2], [True, False]), elt="f16"),
    dict(B=1, Hq=2, Hkv=2, Sq=640, Skv=640, D=32, Dv=32,
         mask=g.Union([g.Intersect([g.Causal(), g.SlidingWindow(64, 0)]), g.SinkWindow(8, 0)]),
         elt="bf16"),
    dict(B=2, Hq=4, Hkv=2, Sq=200, Skv=333, D=64, Dv=128, mask=g.Causal(),
         mask_mod=c.MASK_MOD_NEQ, score_mod=c.SCORE_MOD_SOFTCAP, elt="bf16", dyn=(0, 2)),
    dict(B=1, Hq=2, Hkv=1, Sq=130, Skv=130, D=16, Dv=48, score_mod=c.SCORE_MOD_NEG_INF_ROWS,
         elt="f16"),
    # A score_mod reading an outer tensor (ALiBi slopes), read by the kernel.
    dict(B=1, Hq=4, Hkv=2, Sq=100, Skv=100, D=64, Dv=64, mask=g.Causal(), alibi=True,
         elt="bf16"),
    # Documents on tensor cores: sorted ids (8 documents; one per token; a
    # descent at the last key, which voids the range search), unsorted and
    # negative ids, query ids no key has (empty rows), Sq != Skv, dynamic
    # lengths, combinators and mods.
    dict(B=2, Hq=8, Hkv=2, Sq=1000, Skv=1000, D=128, Dv=128,
         mask=g.Intersect([g.Causal(), g.Document()]), seg="docs", elt="bf16", dyn=(0, 2)),
    dict(B=1, Hq=4, Hkv=1, Sq=777, Skv=777, D=64, Dv=64, mask=g.Document(), seg="unsorted",
         elt="f16"),
    dict(B=2, Hq=4, Hkv=2, Sq=300, Skv=700, D=128, Dv=64, mask=g.Document(), seg="absent",
         elt="bf16"),
    dict(B=1, Hq=2, Hkv=1, Sq=513, Skv=513, D=64, Dv=64,
         mask=g.Intersect([g.Causal(), g.Document()]), seg="per_token", elt="bf16", dyn=(2,)),
    dict(B=2, Hq=4, Hkv=4, Sq=640, Skv=640, D=64, Dv=64,
         mask=g.Union([g.Document(), g.SinkWindow(4, 64)]), seg="descent_at_end", elt="bf16"),
    dict(B=1, Hq=4, Hkv=2, Sq=400, Skv=400, D=128, Dv=128,
         mask=g.Intersect([g.Causal(), g.Document()]), mask_mod=c.MASK_MOD_MOD3,
         score_mod=c.SCORE_MOD_SOFTCAP, seg="docs", elt="f16"),
    dict(B=1, Hq=2, Hkv=1, Sq=4096, Skv=4096, D=128, Dv=128,
         mask=g.Intersect([g.Causal(), g.Document()]), seg="docs", elt="bf16"),
    # Key walks: a sink's tiles before its window's (the sink spanning two
    # tiles; a union keeping the prefix; Sq < Skv), a 2D neighborhood's
    # rows.
    dict(B=1, Hq=4, Hkv=2, Sq=3000, Skv=3000, D=64, Dv=64, mask=g.SinkWindow(100, 500),
         elt="bf16", dyn=(0, 2)),
    dict(B=1, Hq=2, Hkv=1, Sq=1000, Skv=2500, D=128, Dv=128,
         mask=g.Union([g.SinkWindow(4, 300), g.SlidingWindow(10, 0)]), elt="f16"),
    dict(B=1, Hq=2, Hkv=1, Sq=4096, Skv=4096, D=128, Dv=128,
         mask=g.Neighborhood([64, 64], [13, 13], [1, 1], [False, False]), elt="bf16"),
    # Decode (a static query length up to 64): a GQA group's heads packed in
    # a tile's rows, the keys split across blocks and combined; dynamic and
    # static keys, masks (bottom-right aligned rows), mods, a sink with its
    # window in another split, a group filling several tiles, empty rows.
    dict(B=2, Hq=16, Hkv=4, Sq=1, Skv=3000, D=128, Dv=128, elt="bf16", kv_dyn=(0, 2)),
    dict(B=1, Hq=16, Hkv=4, Sq=16, Skv=3001, D=128, Dv=128, mask=g.Causal(), elt="bf16",
         kv_dyn=(2,)),
    dict(B=1, Hq=8, Hkv=8, Sq=1, Skv=2000, D=64, Dv=64, mask=g.SlidingWindow(300, 0), elt="f16"),
    dict(B=1, Hq=16, Hkv=2, Sq=7, Skv=4100, D=128, Dv=64, mask=g.SinkWindow(4, 200),
         mask_mod=c.MASK_MOD_MOD3, score_mod=c.SCORE_MOD_SOFTCAP, elt="bf16", kv_dyn=(2,)),
    dict(B=1, Hq=8, Hkv=1, Sq=64, Skv=700, D=64, Dv=64, mask=g.Causal(), elt="bf16"),
    dict(B=1, Hq=4, Hkv=2, Sq=3, Skv=1000, D=64, Dv=64, score_mod=c.SCORE_MOD_NEG_INF_ROWS,
         elt="f16"),
    # Head dims past 128: D = Dv = 256 (one block per multiprocessor, no
    # register cap), D = 192 with Dv = 128 (DeepSeek's shape), decode at
    # 256, a window on f16.
    dict(B=1, Hq=4, Hkv=2, Sq=700, Skv=700, D=256, Dv=256, mask=g.Causal(), elt="bf16",
         dyn=(0, 2)),
    dict(B=1, Hq=4, Hkv=1, Sq=513, Skv=513, D=192, Dv=128, mask=g.Causal(), elt="f16"),
    dict(B=1, Hq=8, Hkv=2, Sq=4, Skv=2000, D=256, Dv=256, elt="bf16", kv_dyn=(2,)),
    dict(B=2, Hq=2, Hkv=2, Sq=300, Skv=300, D=256, Dv=256, mask=g.SlidingWindow(50, 10),
         mask_mod=c.MASK_MOD_MOD3, elt="f16"),
    # The CUDA-core kernel (f32 fmas on the same skeleton): f32 with every
    # kind of walk (causal, window, sink prefix, documents, neighborhood,
    # decode), head dims 8 to 256, f16/bf16 head dims that are multiples of
    # 8 but not 16, dynamic lengths, mods, empty rows.
    dict(B=1, Hq=8, Hkv=2, Sq=1000, Skv=1000, D=128, Dv=128, mask=g.Causal(), elt="f32",
         dyn=(0, 2)),
    dict(B=2, Hq=4, Hkv=4, Sq=300, Skv=500, D=64, Dv=32, mask=g.SlidingWindow(70, 10),
         elt="f32"),
    dict(B=1, Hq=4, Hkv=1, Sq=700, Skv=700, D=72, Dv=40, mask=g.SinkWindow(4, 100), elt="bf16"),
    dict(B=1, Hq=2, Hkv=1, Sq=640, Skv=640, D=8, Dv=24,
         mask=g.Intersect([g.Causal(), g.Document()]), seg="docs", elt="f32"),
    dict(B=1, Hq=4, Hkv=2, Sq=513, Skv=513, D=96, Dv=96, mask=g.Document(), seg="unsorted",
         mask_mod=c.MASK_MOD_MOD3, elt="f32"),
    dict(B=1, Hq=2, Hkv=1, Sq=1024, Skv=1024, D=32, Dv=32,
         mask=g.Neighborhood([32, 32], [7, 7], [1, 1], [False, False]), elt="f32"),
    dict(B=2, Hq=16, Hkv=4, Sq=1, Skv=3000, D=128, Dv=128, elt="f32", kv_dyn=(0, 2)),
    dict(B=1, Hq=8, Hkv=2, Sq=9, Skv=2000, D=40, Dv=40, mask=g.Causal(),
         score_mod=c.SCORE_MOD_SOFTCAP, elt="f16"),
    dict(B=1, Hq=2, Hkv=2, Sq=200, Skv=200, D=256, Dv=256, mask=g.Causal(),
         score_mod=c.SCORE_MOD_NEG_INF_ROWS, elt="f32"),
]

# token_sparse_attention on the kernels: a block per query and kv head whose
# rows are the group's query heads, kv tiles gathered from the token list
# (invalid and junk slots zero-filled and masked, duplicates counted per
# slot): DeepSeek's example shape (Hq = 16, Hkv = 1, D = 192, Dv = 128), a
# 128-head group, a 256-head group (two row tiles), f32, empty rows.
TOKEN_CASES = [
    dict(B=1, Hq=16, Hkv=1, Sq=300, Skv=2000, D=192, Dv=128, n=256, p_valid=0.9, empty_rows=3,
         elt="bf16", dyn=(2,), ti_dyn=(1,)),
    dict(B=1, Hq=128, Hkv=1, Sq=100, Skv=1500, D=64, Dv=64, n=200, p_valid=0.75, elt="bf16"),
    dict(B=1, Hq=256, Hkv=1, Sq=20, Skv=300, D=32, Dv=32, n=64, lists="dup", elt="f16"),
    dict(B=2, Hq=8, Hkv=2, Sq=129, Skv=3000, D=128, Dv=128, n=512, p_valid=0.6, empty_rows=2,
         elt="f32", dyn=(0, 2), ti_dyn=(0, 1, 2)),
    # MLA's shape (D = 576, Dv = 512: wgmma, two 256-column value slices):
    # 64 and 128 heads (two row tiles), invalid slots, empty rows, repeats.
    dict(B=1, Hq=64, Hkv=1, Sq=40, Skv=3000, D=576, Dv=512, n=2048, p_valid=0.9, empty_rows=2,
         elt="bf16", dyn=(2,), ti_dyn=(1,)),
    dict(B=1, Hq=128, Hkv=1, Sq=9, Skv=500, D=576, Dv=512, n=300, lists="dup", elt="bf16"),
]

# select_topk on the GPU (a warp per row): NSA's configuration (k = 13,
# sink = 1, local = 2) over 512 blocks, rows of 4096 blocks, ties (rounded
# scores, +-0), NaN, +-inf, k past the candidates, dynamic dims.
SELECT_CASES = [
    dict(op="select_topk", shape=(2, 4, 512, 512), k=13, sink=1, local=2, scores="causal"),
    dict(op="select_topk", shape=(1, 2, 16, 4096), k=64, sink=1, local=2, scores="mixed",
         p_ninf=0.3, dyn=(0, 2, 3)),
    dict(op="select_topk", shape=(1, 1, 24, 2000), k=1500, sink=3, local=3, scores="mixed",
         p_ninf=0.6),
    dict(op="select_topk", shape=(2, 3, 40, 100), k=7, scores="ties"),
    # k <= 16 takes k warp argmaxes: MoBA's rows (k = 2, local = 1 over 64
    # blocks), k = 16 with ties and sinks, k past the candidates.
    dict(op="select_topk", shape=(1, 4, 2048, 64), k=2, local=1, scores="causal_moba"),
    dict(op="select_topk", shape=(2, 2, 33, 100), k=16, sink=2, local=1, scores="ties"),
    dict(op="select_topk", shape=(1, 2, 24, 2000), k=16, sink=3, local=3, scores="mixed",
         p_ninf=0.995),
    # select_threshold: the same warp per row (argmax rounds while the taken
    # weight is below mass * total): NSA's rows, wide random rows with a
    # cap that binds, MoBA's per-query rows.
    dict(op="select_threshold", shape=(2, 4, 512, 512), mass=0.9, max_blocks=16, sink=1,
         local=2, scores="causal"),
    dict(op="select_threshold", shape=(1, 2, 64, 2000), mass=0.95, max_blocks=40,
         scores="random"),
    dict(op="select_threshold", shape=(1, 4, 2048, 64), mass=0.5, max_blocks=2, local=1,
         scores="causal_moba"),
    # block_scores on tensor cores (3xTF32 mma.sync over 64 x 64 result
    # tiles, block_mask's classification for the -inf): NSA's shape (64 query
    # heads summed into 4 kv heads' scores, D = 128, causal over 8192 tokens),
    # documents with sorted ids and with ids no key holds, MoBA's block_q = 1
    # (bf16 queries against f32 pooled keys over 47 row tiles), inf / NaN
    # operands, head dims 18 (zero-padded) and 256, f16 against bf16,
    # windows, neighborhoods, decode, dynamic dims.
    dict(op="block_scores", B=1, Hq=64, Hkv=4, Hr=4, D=128, block=[64, 64], q_len=8192,
         kv_len=8192, mask=g.Causal()),
    dict(op="block_scores", B=2, Hq=8, Hkv=2, Hr=8, D=64, block=[64, 32], Sq=1000, Skv=1000,
         mask=g.Intersect([g.Causal(), g.Document()]), seg="packed", qelt="bf16", kelt="f32"),
    dict(op="block_scores", B=1, Hq=4, Hkv=1, Hr=1, NQ=40, NK=70, D=18),
    dict(op="block_scores", B=1, Hq=4, Hkv=4, Hr=4, D=128, block=[1, 512], q_len=3000,
         kv_len=3000, mask=g.Causal(), qelt="bf16", kelt="f32"),
    dict(op="block_scores", B=2, Hq=4, Hkv=2, Hr=4, D=16, block=[16, 16], Sq=100, Skv=120,
         mask=g.Document(), seg="absent"),
    dict(op="block_scores", B=2, Hq=4, Hkv=2, Hr=2, D=64, block=[64, 64], q_len=4480,
         kv_len=8320, mask=g.Causal(), special=True),
    dict(op="block_scores", B=2, Hq=4, Hkv=1, Hr=1, D=16, block=[32, 32], q_len=129,
         kv_len=257, mask=g.SlidingWindow(100, 0), scale=0.5, dyn=(0, 2)),
    dict(op="block_scores", B=1, Hq=8, Hkv=2, Hr=2, D=128, block=[16, 16], q_len=128,
         kv_len=128, mask=g.Neighborhood([8, 16], [3, 5], [2, 1], [False, True]), qelt="f16",
         kelt="f16"),
    dict(op="block_scores", B=1, Hq=4, Hkv=2, Hr=4, D=64, block=[1, 100], q_len=1, kv_len=1000,
         mask=g.Union([g.SinkWindow(4, 0), g.SlidingWindow(0, 0)])),
    dict(op="block_scores", B=2, Hq=2, Hkv=2, Hr=2, NQ=5, NK=7, D=256, block=[4, 4], scale=2.0,
         qelt="f16", kelt="bf16", dyn=(0, 2)),
    dict(op="block_scores", B=1, Hq=16, Hkv=16, Hr=16, NQ=130, NK=200, D=32, special=True),
    # lightning_indexer in one tensor-core kernel (logits, ReLU, weighted
    # head sum, streaming top-k): small-integer inputs give exact f32 scores
    # and many ties (the lowest index must win), so the lists are compared
    # exactly; float inputs up to near-ties. Capacities small against the
    # keys force compactions (topk 64 over 300 keys, 2048 over 5000, 512 over
    # 40000); head counts and dims that are not multiples of 16 (padded),
    # decode, topk above the allowed keys, every mask kind and documents.
    dict(op="lightning_indexer", B=1, HI=64, Sq=300, Skv=300, DI=128, topk=64,
         mask=g.Causal(), elt="bf16"),
    dict(op="lightning_indexer", B=1, HI=16, Sq=70, Skv=5000, DI=64, topk=2048, elt="bf16",
         inputs="float"),
    dict(op="lightning_indexer", B=1, HI=16, Sq=40, Skv=5000, DI=64, topk=2048, elt="bf16",
         mask=g.Causal()),
    dict(op="lightning_indexer", B=1, HI=4, Sq=8, Skv=40000, DI=32, topk=512, mask=g.Causal(),
         elt="f16"),
    dict(op="lightning_indexer", B=2, HI=20, Sq=45, Skv=90, DI=24, topk=30, mask=g.Causal(),
         elt="bf16", welt="bf16"),
    dict(op="lightning_indexer", B=2, HI=2, Sq=50, Skv=70, DI=16, topk=16, mask=g.Document(),
         seg="absent", elt="f16", welt="f16", dyn=(0, 1), seg_dyn=(0, 1)),
    dict(op="lightning_indexer", B=1, HI=4, Sq=33, Skv=33, DI=16, topk=16,
         mask=g.SlidingWindow(10, 0), elt="bf16"),
    dict(op="lightning_indexer", B=1, HI=2, Sq=64, Skv=64, DI=16, topk=12,
         mask=g.Neighborhood([8, 8], [3, 3]), elt="bf16"),
    dict(op="lightning_indexer", B=1, HI=8, Sq=128, Skv=128, DI=64, topk=32, mask=g.Causal(),
         inputs="float", elt="bf16"),
    dict(op="lightning_indexer", B=2, HI=4, Sq=1, Skv=1000, DI=32, topk=64, mask=g.Causal(),
         inputs="float", dyn=(0, 1), elt="f16"),
    dict(op="lightning_indexer", B=1, HI=2, Sq=20, Skv=40, DI=16, topk=100, elt="bf16"),
    dict(op="lightning_indexer", B=1, HI=1, Sq=40, Skv=40, DI=16, topk=10, inputs="binary",
         elt="bf16"),
    dict(op="lightning_indexer", B=2, HI=4, Sq=40, Skv=60, DI=16, topk=20, seg="packed",
         mask=g.Union([g.Intersect([g.Causal(), g.Document()]), g.SinkWindow(2, 0)]),
         elt="bf16"),
    dict(op="lightning_indexer", B=1, HI=4, Sq=30, Skv=20, DI=16, topk=6,
         mask=g.SlidingWindow(3, 3), elt="bf16"),
    dict(op="lightning_indexer", B=1, HI=4, Sq=64, Skv=64, DI=32, topk=16, mask=g.SinkWindow(4, 8),
         inputs="float", elt="f16", welt="f16"),
]


# Build them with --options "nvgpu-options={in-kernel-selection=true}" to
# test the in-kernel selection (the default runs the chains' kernels).
# fused_block_sparse_attention on the attention kernel (each block selects
# its query block's list from the pooled rows: FusedSelection.cpp), against
# the float64 golden chain: NSA's GQA-shared top-k with sink and local
# blocks, per-head top-k without masks (f32: the CUDA-core flavour), a
# GQA-shared threshold, partial blocks with Sq != Skv and a score mask
# other than the attention's; MoBA (block_q = 1) as its row kernel; DSA
# (the token chain) as one kernel (FusedTokenSelection.cpp) with one kv
# head: a block per 4 queries (Sq not a multiple of 4, Sq < Skv, no mask,
# a sliding index mask, index heads and dims not multiples of 16, 64 query
# heads, DeepSeek's 64 x 128 indexer with D 192 / Dv 128, fewer queries a
# block than warps), two kv heads as the chain's kernels.
FUSED_CASES = [
    dict(kind="block", B=1, Hq=16, Hkv=2, Sq=2048, Skv=2048, D=128, block=[64, 64], Hr="Hkv",
         k=8, sink=1, local=2, mask=g.Causal(), score_mask=g.Causal(), elt="bf16"),
    dict(kind="block", B=2, Hq=4, Hkv=2, Sq=1000, Skv=1000, D=64, block=[64, 64], Hr="Hq",
         k=4, scale=0.125, score_scale=0.25, elt="f32"),
    dict(kind="block", B=1, Hq=8, Hkv=2, Sq=2048, Skv=2048, D=64, block=[64, 64], Hr="Hkv",
         mass=0.9, max_blocks=12, sink=1, local=1, mask=g.Causal(), score_mask=g.Causal(),
         elt="bf16", inputs="random"),
    dict(kind="block", B=1, Hq=4, Hkv=1, Sq=1500, Skv=2000, D=128, block=[128, 64], Hr="Hkv",
         k=6, local=1, mask=g.SlidingWindow(700, 0), score_mask=g.Causal(), elt="f16"),
    dict(kind="block", B=1, Hq=4, Hkv=4, Sq=1024, Skv=1024, D=64, block=[1, 128], Hr="Hq", k=2,
         local=1, mask=g.Causal(), score_mask=g.Causal(), elt="bf16", moba=True),
    # MoBA's row kernel: two rounds of kv blocks (63), rows not a multiple
    # of its 8-row steps, GQA keys; a head dim not a multiple of 4 (f32).
    dict(kind="block", B=2, Hq=4, Hkv=2, Sq=1000, Skv=1000, D=48, block=[1, 16], Hr="Hq", k=3,
         local=1, mask=g.Causal(), score_mask=g.Causal(), elt="f16", moba=True),
    dict(kind="block", B=1, Hq=2, Hkv=2, Sq=100, Skv=100, D=20, block=[1, 16], Hr="Hq",
         mass=0.8, max_blocks=3, local=1, mask=g.Causal(), score_mask=g.Causal(), elt="f32",
         inputs="random", moba=True),
    dict(kind="token", B=1, Hq=8, Hkv=1, Sq=512, Skv=512, D=64, Dv=64, HI=4, DI=32, topk=64,
         index_mask=g.Causal(), elt="bf16"),
    dict(kind="token", B=2, Hq=16, Hkv=1, Sq=301, Skv=700, D=128, Dv=128, HI=8, DI=64,
         topk=128, elt="f16"),
    dict(kind="token", B=1, Hq=64, Hkv=1, Sq=256, Skv=256, D=64, Dv=64, HI=6, DI=40, topk=96,
         index_mask=g.SlidingWindow(100, 0), elt="bf16"),
    dict(kind="token", B=1, Hq=16, Hkv=1, Sq=1024, Skv=1024, D=192, Dv=128, HI=64, DI=128,
         topk=512, index_mask=g.Causal(), elt="bf16"),
    dict(kind="token", B=1, Hq=8, Hkv=2, Sq=200, Skv=200, D=64, Dv=64, HI=4, DI=32, topk=32,
         index_mask=g.Causal(), elt="bf16"),
    # topk 4096 with 64 x 128 index heads: 4 queries' candidates do not fit,
    # so 2 a block (the block's other 2 warps join only copies and barriers).
    dict(kind="token", B=1, Hq=16, Hkv=1, Sq=130, Skv=5000, D=64, Dv=64, HI=64, DI=128,
         topk=4096, elt="bf16"),
]

# vertical_slash's own kernels (test_vertical_slash.run_case, GPU only):
# several key splits, two to four tail row tiles (last_q not a multiple of
# 64, last_q > Sq), Sq != Skv, GQA, head dims 64 to 256, f16 / bf16,
# dynamic lengths; the lists are compared exactly with the float64 golden
# (inputs redrawn until no selection boundary is within 1e-4) and the
# attention over them too.
VS_CASES = [
    dict(op="vertical_slash", B=1, Hq=4, Hkv=1, Sq=1024, Skv=1024, D=128, last_q=100,
         vertical=24, slash=12, sink=4, local=8, block=(64, 64), elt="bf16"),
    dict(op="vertical_slash", B=2, Hq=2, Hkv=2, Sq=700, Skv=2000, D=64, last_q=64,
         vertical=40, slash=16, sink=2, local=3, block=(128, 64), elt="f16", dyn=True),
    dict(op="vertical_slash", B=1, Hq=2, Hkv=1, Sq=150, Skv=3000, D=256, last_q=200,
         vertical=20, slash=10, sink=1, local=2, block=(64, 128), elt="bf16"),
]
