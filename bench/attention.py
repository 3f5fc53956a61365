"""`attention` with a mask attribute (no block lists) on the tensor-core
kernel, next to FlexAttention and SDPA (flash, cuDNN) on the same problem.

Build here (where MLIR is), then run on the GPU machine:
  PYTHONPATH=build/python_packages /usr/bin/python3 bench/attention.py build build/bench-attn [--chip sm_90a]
  PYTHONPATH=python-bindings python3 bench/attention.py run build/bench-attn OUT_DIR [--only causal,document]

Artifacts: `sparse_attn.attention` on bf16 with dynamic batch and lengths
(one kernel serves every S), Hq = Hkv = H, the mask attribute of the case:
causal; sliding_window<left = 1023 | 4095, right = 0>; sink_window<sink =
4, window = 4096>; document-causal (intersect of causal and document, 8
documents of random lengths, the same segment ids for q and kv); a 2D
neighborhood (NATTEN: a 128 x 128 grid, 13 x 13 window, S = 16384 only);
none (dense). The kernel derives each query tile's kv tiles from the mask
(and the segment ids): no lists are built or read.

Method: as bench/run.py (its `time_ms`: CUDA graphs, interleaved rounds,
medians). FlexAttention: torch.compile(flex_attention) with
create_block_mask of the same mask_mod (none for dense; the document's
mask_mod reads the same segment ids); its mask build (create_block_mask,
median of 5 after a warm-up, synchronized) is its own column. SDPA: flash
and cuDNN backends where they compute the same thing (dense, causal).
Effective TFLOP/s = 4 * H * D * (allowed (query, key) pairs) / time.
Numerics: 64 random query rows per head against the float64 reference;
our max error must be <= 2x that of the same computation by torch in bf16
(q k^T in bf16, softmax in f32 rounded to bf16, P V in bf16) + 1e-3.

Causal, sliding and sink rows also time `block_sparse_attention` with the
same mask over the exact lists (FlexAttention's `create_block_mask` lists at
128 x 128, partial and full), in the same rounds: `attention` / that is
the cost of passing no lists (issue 14: within 3%).

Document rows also time our `block_mask` (partial and full lists, 128 x 128,
from the same segment ids, on the GPU) and check its lists against a dense
evaluation of every pair; its time is reported as a fraction of our
attention's.

Writes OUT_DIR/<gpu>-<date>-attention.json and prints one line per case.
"""

import datetime
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from cli import build_or_run, numerics_verdict  # noqa: E402

GRID, KERNEL = 128, 13  # the neighborhood case: 128 x 128 tokens, 13 x 13 window
MASKS = {
    "causal": "#sparse_attn.causal",
    "sliding1024": "#sparse_attn.sliding_window<left = 1023, right = 0>",
    "sliding4096": "#sparse_attn.sliding_window<left = 4095, right = 0>",
    "sink4-window4096": "#sparse_attn.sink_window<sink = 4, window = 4096>",
    "document": "#sparse_attn.intersect<[#sparse_attn.causal, #sparse_attn.document]>",
    "natten": f"#sparse_attn.neighborhood<grid = [{GRID}, {GRID}], window = [{KERNEL}, {KERNEL}]>",
    "dense": None,
}
# (mask, S, H, D): the first shape (causal S = 4096, H = 8, D = 128),
# then every mask at S = 8192 and 32768 with D = 128 and 64.
CASES = [("causal", 4096, 8, 128)]
for _mask in ("causal", "sliding1024", "sliding4096", "sink4-window4096", "document", "dense"):
    for _s in (8192, 32768):
        for _d in (128, 64):
            if _mask == "dense" and _s == 32768:
                continue
            CASES.append((_mask, _s, 16, _d))
CASES += [("natten", GRID * GRID, 16, 128), ("natten", GRID * GRID, 16, 64)]


def attention_ir(mask, h, d):
    t = f"tensor<?x{h}x?x{d}xbf16>"
    lse = f"tensor<?x{h}x?xf32>"
    attr = f" {{mask = {MASKS[mask]}}}" if MASKS[mask] else ""
    if mask == "document":
        seg = "tensor<?x?xi32>"
        return f"""func.func @f(%q: {t}, %k: {t}, %v: {t}, %seg: {seg}) -> ({t}, {lse}) {{
  %o, %lse = sparse_attn.attention %q, %k, %v segment_ids(%seg, %seg : {seg}, {seg}){attr} : {t}, {t}, {t} -> {t}, {lse}
  return %o, %lse : {t}, {lse}
}}"""
    return f"""func.func @f(%q: {t}, %k: {t}, %v: {t}) -> ({t}, {lse}) {{
  %o, %lse = sparse_attn.attention %q, %k, %v{attr} : {t}, {t}, {t} -> {t}, {lse}
  return %o, %lse : {t}, {lse}
}}"""


# Masks whose rows also run as block_sparse_attention over the exact lists
# (FlexAttention's create_block_mask at 128 x 128, partial and full), timed
# in the same round as `attention`: the cost of not passing lists.
LIST_MASKS = ("causal", "sliding1024", "sliding4096", "sink4-window4096")


def lists_ir(mask, h, d):
    t = f"tensor<?x{h}x?x{d}xbf16>"
    lse = f"tensor<?x{h}x?xf32>"
    num, idx = "tensor<1x1x?xi32>", "tensor<1x1x?x?xi32>"
    return f"""func.func @f(%q: {t}, %k: {t}, %v: {t}, %num: {num}, %idx: {idx}, %fnum: {num}, %fidx: {idx}) -> ({t}, {lse}) {{
  %o, %lse = sparse_attn.block_sparse_attention %q, %k, %v, %num, %idx full(%fnum, %fidx : {num}, {idx}) {{block = [128, 128], mask = {MASKS[mask]}}} : {t}, {t}, {t}, {num}, {idx} -> {t}, {lse}
  return %o, %lse : {t}, {lse}
}}"""


BLOCK_MASK_IR = """func.func @f(%seg: tensor<?x?xi32>) -> (tensor<?x1x?xi32>, tensor<?x1x?x?xi32>, tensor<?x1x?xi32>, tensor<?x1x?x?xi32>) {
  %n, %i, %fn, %fi = sparse_attn.block_mask segment_ids(%seg, %seg : tensor<?x?xi32>, tensor<?x?xi32>) {block = [128, 128], mask = #sparse_attn.intersect<[#sparse_attn.causal, #sparse_attn.document]>} : tensor<?x1x?xi32>, tensor<?x1x?x?xi32>, tensor<?x1x?xi32>, tensor<?x1x?x?xi32>
  return %n, %i, %fn, %fi : tensor<?x1x?xi32>, tensor<?x1x?x?xi32>, tensor<?x1x?xi32>, tensor<?x1x?x?xi32>
}"""


def build(out, chip):
    import sparse_attn  # noqa: PLC0415

    os.makedirs(out, exist_ok=True)
    sparse_attn.compile_gpu(BLOCK_MASK_IR, "f", chip).save(os.path.join(out, "block-mask-document"))
    configs, seconds = {}, {}
    for mask, _, h, d in CASES:
        name = f"attention-{mask}-h{h}-d{d}"
        if name in configs:
            continue
        start = time.time()
        artifact = sparse_attn.compile_gpu(attention_ir(mask, h, d), "f", chip)
        seconds[name] = time.time() - start
        artifact.save(os.path.join(out, name))
        configs[name] = artifact.configs[-1] if artifact.configs else None
        print(name, configs[name])
        if mask in LIST_MASKS:
            sparse_attn.compile_gpu(lists_ir(mask, h, d), "f", chip).save(
                os.path.join(out, f"lists-{mask}-h{h}-d{d}"))
    with open(os.path.join(out, "compile_times.json"), "w") as f:
        json.dump(dict(chip=chip, seconds=seconds, configs=configs), f, indent=1)


def documents(s, seed):
    """Segment ids of 8 documents of random lengths (sorted runs)."""
    rng = np.random.default_rng(seed)
    cuts = np.sort(rng.choice(np.arange(1, s), size=7, replace=False))
    return np.searchsorted(cuts, np.arange(s), "right").astype(np.int32)


def allowed_pairs(mask, s, seg=None):
    i = np.arange(s, dtype=np.int64)
    if mask == "causal":
        return s * (s + 1) // 2
    if mask.startswith("sliding"):
        w = int(mask[len("sliding"):])
        return int(np.minimum(i + 1, w).sum())
    if mask == "sink4-window4096":
        w, sink = 4096, 4
        return int((np.minimum(i + 1, w) + np.clip(i + 1 - w, 0, sink)).sum())
    if mask == "document":
        lengths = np.bincount(seg).astype(np.int64)
        return int((lengths * (lengths + 1) // 2).sum())
    if mask == "natten":
        return s * KERNEL * KERNEL
    return s * s


def run(artifacts, out, only=None):
    import torch  # noqa: PLC0415
    import torch.nn.functional as F  # noqa: PLC0415
    from torch.nn.attention import SDPBackend, sdpa_kernel  # noqa: PLC0415
    from torch.nn.attention.flex_attention import create_block_mask  # noqa: PLC0415

    sys.path.insert(0, os.path.dirname(__file__))
    from run import compiled_flex, time_ms  # noqa: PLC0415

    from sparse_attn import runtime  # noqa: PLC0415

    props = torch.cuda.get_device_properties(0)
    print(f"device: {props.name}, torch {torch.__version__}", flush=True)
    flex = compiled_flex()
    gen = torch.Generator(device="cuda")
    gen.manual_seed(0)
    with open(os.path.join(artifacts, "compile_times.json")) as f:
        recorded = json.load(f)
    def sliding(w):
        return lambda b, h, i, j: (i >= j) & (i - j < w)

    def natten(b, h, i, j):
        half = KERNEL // 2
        ci = (i // GRID).clamp(half, GRID - 1 - half)
        cj = (i % GRID).clamp(half, GRID - 1 - half)
        return ((j // GRID - ci).abs() <= half) & ((j % GRID - cj).abs() <= half)

    mods = {"causal": lambda b, h, i, j: i >= j, "sliding1024": sliding(1024),
            "sliding4096": sliding(4096),
            "sink4-window4096": lambda b, h, i, j: (i >= j) & ((j < 4) | (i - j < 4096)),
            "natten": natten}
    results = []
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, f"{props.name.replace(' ', '-')}-{datetime.date.today().isoformat()}"
                             f"-attention.json")
    for mask, s, h, d in CASES:
        if only and mask not in only:
            continue
        name = f"attention-{mask}-h{h}-d{d}"
        fn = runtime.load(os.path.join(artifacts, name))
        seg_np = documents(s, s + d) if mask == "document" else None
        extra = ()
        if seg_np is not None:
            seg = torch.from_numpy(seg_np).cuda()[None]
            extra = (seg,)
            mods["document"] = lambda b, h, i, j, seg=seg: (i >= j) & (seg[b, i] == seg[b, j])
        sets = max(1, min(4, 50 * 2**20 // (2 * 3 * h * s * d) + 1))
        inputs = [tuple(torch.randn(1, h, s, d, generator=gen, device="cuda", dtype=torch.bfloat16)
                        for _ in range(3)) for _ in range(sets)]
        q, k, v = inputs[0]
        o, lse = fn(q, k, v, *extra, fill_outputs=float("nan"))
        torch.cuda.synchronize()
        # Numerics on 64 random rows per head.
        rows = torch.randint(0, s, (64,), generator=gen, device="cuda")
        qi = q[0][:, rows].double()
        scores = torch.einsum("hrd,hkd->hrk", qi, k[0].double()) / d ** 0.5
        j = torch.arange(s, device="cuda")
        allowed = torch.ones(64, s, dtype=torch.bool, device="cuda")
        if mask in mods:
            allowed = mods[mask](0, 0, rows[:, None], j[None, :])
        want = torch.softmax(scores.masked_fill(~allowed, float("-inf")), -1) @ v[0].double()
        s16 = (torch.einsum("hrd,hkd->hrk", q[0][:, rows], k[0]).float() / d ** 0.5)
        p16 = torch.softmax(s16.masked_fill(~allowed, float("-inf")), -1).bfloat16()
        torch_err = (p16 @ v[0]).double().sub(want).abs().max().item()
        err = o[0][:, rows].double().sub(want).abs().max().item()
        ok = err <= 2 * torch_err + 1e-3 and not bool(o.isnan().any())
        block_mask, mask_build_ms = None, None
        if mask in mods:
            build_times = []
            for _ in range(6):
                torch.cuda.synchronize()
                start = time.perf_counter()
                block_mask = create_block_mask(mods[mask], None, None, s, s, device="cuda")
                torch.cuda.synchronize()
                build_times.append((time.perf_counter() - start) * 1e3)
            mask_build_ms = float(np.median(build_times[1:]))
        lists_ms = lists_ok = None
        lists_path = os.path.join(artifacts, f"lists-{mask}-h{h}-d{d}")
        if mask in LIST_MASKS and os.path.exists(lists_path):
            # block_sparse_attention over the exact lists (FlexAttention's).
            lists_fn = runtime.load(lists_path)
            bm_lists = [t.to(torch.int32).contiguous() for t in (
                block_mask.kv_num_blocks, block_mask.kv_indices,
                block_mask.full_kv_num_blocks, block_mask.full_kv_indices)]
            lo, _ = lists_fn(q, k, v, *bm_lists, fill_outputs=float("nan"))
            torch.cuda.synchronize()
            lists_ok = bool(torch.equal(lo, o)) or \
                lo[0][:, rows].double().sub(want).abs().max().item() <= 2 * torch_err + 1e-3
            ms, lists_ms, flex_ms = time_ms(lambda a, b, c: fn(a, b, c, *extra),
                                            lambda a, b, c: lists_fn(a, b, c, *bm_lists),
                                            lambda a, b, c: flex(a, b, c, block_mask=block_mask),
                                            inputs=inputs)
            ok = ok and lists_ok
        else:
            ms, flex_ms = time_ms(lambda a, b, c: fn(a, b, c, *extra),
                                  lambda a, b, c: flex(a, b, c, block_mask=block_mask),
                                  inputs=inputs)
        block_mask_ms = block_mask_ok = None
        if mask == "document":
            # Our block_mask's lists for the same segment ids (partial and
            # full, 128 x 128), timed alone and checked against a dense
            # evaluation of every pair.
            bm = runtime.load(os.path.join(artifacts, "block-mask-document"))
            num, idx, fnum, fidx = bm(seg)
            torch.cuda.synchronize()
            nb = (s + 127) // 128
            i = torch.arange(s, device="cuda")
            allowed_all = (i[:, None] >= i[None, :]) & (seg[0][:, None] == seg[0][None, :])
            blocks = allowed_all.view(nb, 128, nb, 128)
            occupied = blocks.any(3).any(1)
            full = blocks.all(3).all(1)
            partial = occupied & ~full
            block_mask_ok = bool((num[0, 0] == partial.sum(1)).all()) and bool(
                (fnum[0, 0] == full.sum(1)).all())
            for row in range(0, nb, max(1, nb // 16)):
                want = torch.nonzero(partial[row]).flatten()
                want_full = torch.nonzero(full[row]).flatten()
                block_mask_ok &= bool((idx[0, 0, row, :len(want)] == want).all())
                block_mask_ok &= bool((fidx[0, 0, row, :len(want_full)] == want_full).all())
            del allowed_all, blocks
            block_mask_ms = time_ms(lambda a: bm(a), inputs=[(seg,)])
            ok = ok and block_mask_ok
        sdpa = {}
        for backend, key in ((SDPBackend.FLASH_ATTENTION, "sdpa_flash_ms"),
                             (SDPBackend.CUDNN_ATTENTION, "sdpa_cudnn_ms")):
            sdpa[key] = None
            if mask not in ("causal", "dense"):
                continue
            try:
                with sdpa_kernel(backend):
                    sdpa[key] = time_ms(lambda a, b, c: F.scaled_dot_product_attention(
                        a, b, c, is_causal=mask == "causal"), inputs=inputs)
            except RuntimeError as error:
                print(f"  {key}: {str(error).splitlines()[0][:100]}")
        flops = 4 * h * d * allowed_pairs(mask, s, seg_np)
        best_sdpa = min((t for t in sdpa.values() if t), default=None)
        row = dict(case=f"{mask}-S{s}-H{h}-D{d}", mask=mask, S=s, H=h, D=d, ms=ms,
                   tflops=flops / ms / 1e9, flex_ms=flex_ms, flex_tflops=flops / flex_ms / 1e9,
                   ratio_vs_flex=flex_ms / ms, flex_mask_build_ms=mask_build_ms,
                   block_sparse_exact_lists_ms=lists_ms, block_sparse_lists_ok=lists_ok,
                   attention_over_block_sparse=ms / lists_ms if lists_ms else None,
                   our_block_mask_ms=block_mask_ms, our_block_mask_ok=block_mask_ok,
                   our_block_mask_vs_attention=block_mask_ms / ms if block_mask_ms else None,
                   ratio_vs_flex_with_build=(flex_ms + mask_build_ms) / ms if mask_build_ms else None,
                   **sdpa,
                   ratio_vs_best_sdpa=best_sdpa / ms if best_sdpa else None,
                   max_err=err, torch_bf16_err=torch_err, numerics_ok=ok,
                   config=recorded["configs"].get(name), compile_s=recorded["seconds"].get(name))
        results.append(row)
        with open(path, "w") as f:
            json.dump(dict(device=props.name, torch=torch.__version__,
                           date=datetime.date.today().isoformat(), method=__doc__, cases=results),
                      f, indent=1)
        sd = "  ".join(f"{key[5:-3]} {t:.3f} ms" for key, t in sdpa.items() if t)
        print(f"{row['case']:24s} ours {ms:8.3f} ms {row['tflops']:6.1f} TF/s  flex {flex_ms:8.3f} ms "
              f"{row['flex_tflops']:6.1f}  x{row['ratio_vs_flex']:.2f} vs flex  "
              f"(build {mask_build_ms or 0:.3f} ms)  {sd}  "
              + (f"our block_mask {block_mask_ms:.3f} ms ({block_mask_ms / ms:.1%}, "
                 f"{'exact' if block_mask_ok else 'WRONG'})  " if block_mask_ms else "")
              + (f"lists {lists_ms:.3f} ms (attention x{ms / lists_ms:.3f})  " if lists_ms else "")
              + f"err {err:.2e} (torch {torch_err:.2e}) {'ok' if ok else 'FAIL'}", flush=True)
        del inputs, block_mask
        torch.cuda.empty_cache()
    return numerics_verdict(results)


if __name__ == "__main__":
    sys.exit(build_or_run(build, run, with_only=True))
