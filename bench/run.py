"""Times the generated block-sparse attention kernels next to FlexAttention
(the identical block lists) and SDPA (flash, cuDNN), in one process, and
checks each kernel's numerics in the same run.

Usage (on the GPU machine, repository root; artifacts from bench/build.py):
  PYTHONPATH=python-bindings python3 bench/run.py build/bench OUT_DIR [--quick]

Method: bf16, B = 1, Hq = 16, block 128x128; inputs drawn from N(0, 1),
several input sets rotated when they fit in L2 (50 MB); CUDA events around
each call replayed from a CUDA graph. Ours and FlexAttention are timed
interleaved: each first runs for 50 ms, then 5 rounds in which each in turn
makes about 20 ms of calls (at least 5); the median of all of a side's
calls (SDPA: 10 ms warm-up, one round). FlexAttention is
torch.compile(flex_attention) with BlockMask.from_kv_blocks built from the
same lists (expanded to Hq heads) and the same mask_mod (none for random and
dense), so both compute the same blocks. For the masked cases (causal,
sliding, topk) the lists are split as create_block_mask splits them: partial
blocks (num/idx, mask evaluated) and full blocks (full_num/full_idx, mask
skipped), given to both; random and dense carry no mask. SDPA runs dense (causal
for the causal case) as a reference point. Effective TFLOP/s = 4 * Hq * D *
(q x k pairs inside the listed blocks) / time.

Numerics: for 64 random query rows per head, the float64 reference of the
same masked attention; our max error must be <= 2x the error of the same
computation in bf16 by torch (q k^T in bf16, softmax in f32 rounded to
bf16, P V in bf16) + 1e-3.

Writes OUT_DIR/<gpu>-<date>.json (one object per case) and a PNG plot.
"""

import argparse
import datetime
import json
import math
import os
import statistics
import sys

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.nn.attention.flex_attention import BlockMask, flex_attention

from sparse_attn import runtime

HQ, BLOCK = 16, 128
L2_BYTES = 50 * 2**20


def replayer(fn, inputs):
    """run(i): fn on input set i % len(inputs), replayed from a CUDA graph
    (captured after a warm-up call), so no framework's host overhead enters
    anyone's time; eager calls if the capture fails."""
    for args in inputs:
        fn(*args)
    torch.cuda.synchronize()
    try:
        graphs = []
        for args in inputs:
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                fn(*args)
            graphs.append(graph)
        run = lambda i: graphs[i % len(graphs)].replay()  # noqa: E731
    except Exception as error:  # noqa: BLE001
        print(f"  (no CUDA graph: {str(error).splitlines()[0][:80]}; timing eager calls)")
        run = lambda i: fn(*inputs[i % len(inputs)])  # noqa: E731
    return run


def compiled_flex():
    """torch.compile(flex_attention), allowed one compilation per shape and
    mask_mod: more than dynamo's default of 8, past which it would silently
    run FlexAttention's eager math instead."""
    for name in ("recompile_limit", "cache_size_limit", "accumulated_recompile_limit"):
        if hasattr(torch._dynamo.config, name):
            setattr(torch._dynamo.config, name, 256)
    return torch.compile(flex_attention, dynamic=False)


def start_run(out, name):
    """What every run side starts with: prints the device, compiles
    FlexAttention, seeds a CUDA generator and names the results file
    `OUT/<device>-<date>-<name>.json`. Returns (props, flex, gen, path)."""
    props = torch.cuda.get_device_properties(0)
    print(f"device: {props.name}, torch {torch.__version__}", flush=True)
    flex = compiled_flex()
    gen = torch.Generator(device="cuda")
    gen.manual_seed(0)
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, f"{props.name.replace(' ', '-')}-{datetime.date.today().isoformat()}"
                             f"-{name}.json")
    return props, flex, gen, path


def time_ms(*fns, inputs, warm_ms=50.0, round_ms=20.0, rounds=5, min_rep=5):
    """Median CUDA-event time (ms) of each of `fns` over the rotated inputs.
    The functions are measured in interleaved rounds (each round times every
    function in turn, about `round_ms` of calls each, at least `min_rep`),
    after each has run for `warm_ms`: whatever ran before (the previous
    case's long dense SDPA calls) and clock drift weigh on all alike, not on
    whichever is timed first."""
    runs = [replayer(fn, inputs) for fn in fns]

    def timed(run, i):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        run(i)
        end.record()
        end.synchronize()
        return start.elapsed_time(end)

    reps = []
    for run in runs:
        first = timed(run, 0)
        spent, i = first, 1
        while spent < warm_ms:
            spent += timed(run, i)
            i += 1
        reps.append(max(min_rep, math.ceil(round_ms / max(first, 1e-3))))
    times = [[] for _ in runs]
    for _ in range(rounds):
        for run, rep, out in zip(runs, reps, times):
            out.extend(timed(run, i) for i in range(rep))
    medians = [statistics.median(t) for t in times]
    return medians if len(fns) > 1 else medians[0]


def lists_for(mask, s, hkv, gen):
    """num [1, Hl, NQ], idx [1, Hl, NQ, C] (int32, ascending, -1 padded)."""
    n = s // BLOCK
    rows = torch.arange(n, device="cuda")
    if mask in ("causal", "dense", "sliding"):
        cols = torch.arange(n, device="cuda")
        if mask == "causal":
            member = cols[None, :] <= rows[:, None]
        elif mask == "sliding":  # keys p - 1023 .. p of every row of the block
            first = torch.clamp(rows * BLOCK - 1023, min=0) // BLOCK
            member = (cols[None, :] <= rows[:, None]) & (cols[None, :] >= first[:, None])
        else:
            member = torch.ones(n, n, dtype=torch.bool, device="cuda")
        member = member[None]
    elif mask == "random":  # 10% of the blocks, per head
        member = torch.rand(HQ, n, n, generator=gen, device="cuda") < 0.10
    else:
        raise ValueError(mask)
    return member_to_lists(member)


def member_to_lists(member):
    counts = member.sum(-1).to(torch.int32)
    capacity = max(int(counts.max()), 1)
    order = torch.sort((~member).to(torch.int8), dim=-1, stable=True).indices[..., :capacity]
    idx = torch.where(torch.arange(capacity, device="cuda") < counts[..., None], order, -1)
    return counts[None].contiguous(), idx[None].to(torch.int32).contiguous()


def membership(num, idx, n):
    """[Hl, NQ, NK] bool of the listed (valid) blocks."""
    hl, nq, cap = idx.shape[1:]
    valid = (torch.arange(cap, device="cuda") < num[0, ..., None].clamp(min=0)) & (idx[0] >= 0) & (idx[0] < n)
    member = torch.zeros(hl, nq, n + 1, dtype=torch.bool, device="cuda")
    member.scatter_(-1, torch.where(valid, idx[0], n).long(), True)
    return member[..., :n]


def split_full(member, mask):
    """(partial, full) block memberships [Hl, NQ, NK] of the listed blocks;
    full is None for the cases without a mask. The masks here are bands
    (lo(i) <= j <= hi(i), both bounds non-decreasing in i), so a block holds
    only allowed pairs iff its four corner pairs are allowed."""
    rule = pair_mask(mask)
    if rule is None:
        return member, None
    first = torch.arange(member.shape[-1], device="cuda") * BLOCK
    last = first + BLOCK - 1
    full = member.clone()
    for rows in (first, last):
        for cols in (first, last):
            full &= rule(0, 0, rows[:, None], cols[None, :])
    return member & ~full, full


def flex_lists(num, idx, heads, n):
    """num/idx for BlockMask.from_kv_blocks: one list per query head, NK
    columns (FlexAttention reads the first num entries; our -1 padding
    becomes block 0 there, never read)."""
    kv_idx = torch.zeros(*idx.shape[:3], n, dtype=torch.int32, device="cuda")
    kv_idx[..., :idx.shape[3]] = idx.clamp(min=0)
    return num.repeat_interleave(heads, dim=1), kv_idx.repeat_interleave(heads, dim=1)


def causal_mod(b, h, i, j):
    return j <= i


def sliding_mod(b, h, i, j):
    return (j <= i) & (i - j <= 1023)


def pair_mask(mask):
    # Module-level functions: torch.compile keys its cache on their identity.
    return {"causal": causal_mod, "topk": causal_mod, "sliding": sliding_mod}.get(mask)


def reference_check(out, q, k, v, member, mask, s, gen):
    """Max error of ours and of torch-in-bf16 against float64, on sampled rows."""
    hl = member.shape[0]
    rows = torch.randint(0, s, (64,), generator=gen, device="cuda")
    worst_ours = worst_torch = 0.0
    group = HQ // k.shape[1]
    keys = torch.arange(s, device="cuda")
    for h in range(HQ):
        kh, vh = k[0, h // group], v[0, h // group]
        blocks = member[h // (HQ // hl), rows // BLOCK]            # [64, NK]
        allowed = blocks.repeat_interleave(BLOCK, dim=-1)[:, :s]   # [64, S]
        rule = pair_mask(mask)
        if rule is not None:
            allowed &= rule(0, h, rows[:, None], keys[None, :])
        scale = 1.0 / math.sqrt(q.shape[-1])
        qh = q[0, h, rows]
        s64 = (qh.double() @ kh.double().T) * scale
        s64 = s64.masked_fill(~allowed, -math.inf)
        p64 = torch.softmax(s64, -1).nan_to_num(0.0)
        want = p64 @ vh.double()
        s16 = ((qh @ kh.T).float() * scale).masked_fill(~allowed, -math.inf)
        p16 = torch.softmax(s16, -1).nan_to_num(0.0).to(torch.bfloat16)
        torch_out = (p16 @ vh).double()
        worst_ours = max(worst_ours, (out[0, h, rows].double() - want).abs().max().item())
        worst_torch = max(worst_torch, (torch_out - want).abs().max().item())
    return worst_ours, worst_torch


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("artifacts")
    parser.add_argument("out")
    parser.add_argument("--quick", action="store_true", help="S = 8192 only, D = 128 only")
    parser.add_argument("--only", default=None, help="comma-separated masks")
    parser.add_argument("--sizes", default=None, help="comma-separated S:D:Hkv triples")
    options = parser.parse_args()
    os.makedirs(options.out, exist_ok=True)
    props = torch.cuda.get_device_properties(0)
    gpu = props.name.replace(" ", "-")
    print(f"device: {props.name}, torch {torch.__version__}", flush=True)
    flex = compiled_flex()
    gen = torch.Generator(device="cuda")
    gen.manual_seed(0)
    with open(os.path.join(options.artifacts, "compile_times.json")) as f:
        recorded = json.load(f)
    compile_times, configs = recorded["seconds"], recorded.get("configs", {})
    results = []
    path = os.path.join(options.out, f"{gpu}-{datetime.date.today().isoformat()}.json")
    masks = options.only.split(",") if options.only else ["causal", "sliding", "random", "topk", "dense"]
    sizes = [(s, d, hkv) for s in ([8192] if options.quick else [8192, 32768])
             for d in ([128] if options.quick else [128, 64]) for hkv in (16, 4)]
    if options.sizes:
        sizes = [tuple(int(x) for x in item.split(":")) for item in options.sizes.split(",")]
    for s, d, hkv in sizes:
        elements = HQ * s * d + 2 * hkv * s * d
        sets = max(1, min(4, L2_BYTES // (2 * elements) + 1))
        inputs = [tuple(torch.randn(1, h, s, d, generator=gen, device="cuda", dtype=torch.bfloat16)
                        for h in (HQ, hkv, hkv)) for _ in range(sets)]
        for mask in masks:
            name = f"attn-{mask}-d{d}-kv{hkv}"
            q, k, v = inputs[0]
            if mask == "topk":
                select = runtime.load(os.path.join(options.artifacts, f"select-d{d}-kv{hkv}-s{s}"))
                num, idx = select(q, k)
                num, idx = num.contiguous(), idx.contiguous()
            else:
                num, idx = lists_for(mask, s, hkv, gen)
            n = s // BLOCK
            member = membership(num, idx, n)
            partial, full = split_full(member, mask)
            lists = [member_to_lists(partial)]
            if full is not None:
                lists.append(member_to_lists(full))
            lists = [x for pair in lists for x in pair]
            fn = runtime.load(os.path.join(options.artifacts, name))
            out, lse = fn(q, k, v, *lists, fill_outputs=float("nan"))
            torch.cuda.synchronize()
            err, torch_err = reference_check(out, q, k, v, member, mask, s, gen)
            ok = err <= 2 * torch_err + 1e-3 and not bool(out.isnan().any())
            pairs = int(member.sum()) * BLOCK * BLOCK * (HQ // member.shape[0])
            density = pairs / (HQ * s * s)
            flops = 4 * d * pairs
            # FlexAttention: the same lists, one per query head; timed
            # interleaved with ours.
            heads = HQ // num.shape[1]
            kv_num, kv_idx = flex_lists(lists[0], lists[1], heads, n)
            full_num, full_idx = (flex_lists(lists[2], lists[3], heads, n) if full is not None
                                  else (None, None))
            block_mask = BlockMask.from_kv_blocks(kv_num, kv_idx, full_num, full_idx,
                                                  BLOCK_SIZE=BLOCK, mask_mod=pair_mask(mask),
                                                  seq_lengths=(s, s))
            gqa = hkv != HQ
            ms, flex_ms = time_ms(
                lambda a, b, c: fn(a, b, c, *lists),
                lambda a, b, c: flex(a, b, c, block_mask=block_mask, enable_gqa=gqa),
                inputs=inputs)
            sdpa = {}
            for backend, key in ((SDPBackend.FLASH_ATTENTION, "sdpa_flash_ms"),
                                 (SDPBackend.CUDNN_ATTENTION, "sdpa_cudnn_ms")):
                try:
                    with sdpa_kernel(backend):
                        sdpa[key] = time_ms(lambda a, b, c: F.scaled_dot_product_attention(
                            a, b, c, is_causal=mask == "causal", enable_gqa=gqa), inputs=inputs,
                            warm_ms=10.0, rounds=1, min_rep=10)
                except RuntimeError as error:
                    sdpa[key] = None
                    print(f"  {key}: {str(error).splitlines()[0][:100]}")
            row = dict(case=f"{mask}-S{s}-D{d}-Hkv{hkv}", S=s, D=d, Hkv=hkv, Hq=HQ, mask=mask,
                       density=round(density, 4), ms=ms, tflops=flops / ms / 1e9,
                       flex_ms=flex_ms, flex_tflops=flops / flex_ms / 1e9,
                       ratio_vs_flex=flex_ms / ms, **sdpa,
                       max_err=err, torch_bf16_err=torch_err, numerics_ok=ok,
                       compile_s=compile_times.get(name),
                       config=configs.get(name))
            results.append(row)
            save(results, props, path)
            print(f"{row['case']:28s} dens {density:5.3f}  ours {ms:8.3f} ms {row['tflops']:6.1f} TF/s"
                  f"  flex {flex_ms:8.3f} ms {row['flex_tflops']:6.1f}  ratio {row['ratio_vs_flex']:5.2f}"
                  f"  flash {sdpa['sdpa_flash_ms']}  cudnn {sdpa['sdpa_cudnn_ms']}"
                  f"  err {err:.2e} (torch {torch_err:.2e}) {'ok' if ok else 'FAIL'}", flush=True)
            del block_mask, out, lse
        del inputs
        torch.cuda.empty_cache()
    try:
        plot(results, path.replace(".json", ".png"))
    except Exception as error:  # noqa: BLE001 (the plot is a convenience)
        print(f"plot: {error}")
    failed = [r["case"] for r in results if not r["numerics_ok"]]
    print(f"{len(results)} cases, numerics failed: {failed or 'none'}; "
          f"ratio >= 1 in {sum(r['ratio_vs_flex'] >= 1 for r in results)} of {len(results)}")
    return 1 if failed else 0


def save(results, props, path, method=None):
    """Rewrites the results file after every case (a cut-off run keeps what
    it measured); `method` (default: this file's docstring) says how."""
    with open(path, "w") as f:
        json.dump(dict(device=props.name, torch=torch.__version__,
                       date=datetime.date.today().isoformat(),
                       method=__doc__ if method is None else method, cases=results),
                  f, indent=1)


def plot(results, path):
    import matplotlib  # noqa: PLC0415
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415
    names = [r["case"] for r in results]
    x = range(len(names))
    fig, ax = plt.subplots(figsize=(max(8, len(names) * 0.45), 5))
    ax.bar([i - 0.2 for i in x], [r["tflops"] for r in results], 0.4, label="sparse-attn (ours)")
    ax.bar([i + 0.2 for i in x], [r["flex_tflops"] for r in results], 0.4, label="FlexAttention")
    ax.set_xticks(list(x))
    ax.set_xticklabels(names, rotation=75, fontsize=7)
    ax.set_ylabel("effective TFLOP/s")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    sys.exit(main())
