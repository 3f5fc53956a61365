"""The CUDA-core kernel (what the tensor cores cannot take: f32 inputs, head
dims that are multiples of 8 but not 16) next to FlexAttention and SDPA on
the same problem, in the same precision.

Build here (where MLIR is), then run on the GPU machine:
  PYTHONPATH=build/python_packages /usr/bin/python3 bench/general.py build build/bench-general [--chip sm_90a]
  PYTHONPATH=python-bindings python3 bench/general.py run build/bench-general OUT_DIR

Artifacts: `sparse_attn.attention` with dynamic batch and lengths, Hq = Hkv
= H, the mask attribute of the case (masks as bench/attention.py): f32
causal at the issue's shape (S = 4096, H = 8, D = 128) and at D = 64, f32
sliding window 1024 and document-causal (8 documents) at S = 8192, f32
dense at S = 4096; bf16 causal with D = 72 (not a multiple of 16: no
tensor-core kernel takes it).

Method: as bench/run.py (`time_ms`: CUDA graphs, interleaved rounds,
medians). FlexAttention: torch.compile(flex_attention) on the same dtype
with create_block_mask of the same mask_mod (none for dense); for f32 it
computes in f32 (torch's default matmul precision "highest": no TF32),
which the run records. SDPA: the memory-efficient backend (the one that
takes f32; flash and cuDNN do not) for dense and causal. Effective TFLOP/s
= 4 * H * D * (allowed pairs) / time. Numerics: 64 random query rows per
head against the float64 reference; our max error must be <= 2x that of
torch's computation in the input precision + 1e-5 (f32) or 1e-3 (bf16).

Writes OUT_DIR/<gpu>-<date>-general.json and prints one line per case.
"""

import datetime
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from attention import MASKS, allowed_pairs, documents  # noqa: E402
from cli import build_or_run, numerics_verdict  # noqa: E402

# (mask, S, H, D, element)
CASES = [
    ("causal", 4096, 8, 128, "f32"),
    ("causal", 4096, 8, 64, "f32"),
    ("sliding1024", 8192, 8, 128, "f32"),
    ("document", 8192, 8, 128, "f32"),
    ("dense", 4096, 8, 128, "f32"),
    ("causal", 8192, 16, 72, "bf16"),
]


def attention_ir(mask, h, d, elt):
    t = f"tensor<?x{h}x?x{d}x{elt}>"
    lse = f"tensor<?x{h}x?xf32>"
    attr = f" {{mask = {MASKS[mask]}}}" if MASKS[mask] else ""
    seg = ""
    args = f"%q: {t}, %k: {t}, %v: {t}"
    if mask == "document":
        args += ", %seg: tensor<?x?xi32>"
        seg = " segment_ids(%seg, %seg : tensor<?x?xi32>, tensor<?x?xi32>)"
    return f"""func.func @f({args}) -> ({t}, {lse}) {{
  %o, %lse = sparse_attn.attention %q, %k, %v{seg}{attr} : {t}, {t}, {t} -> {t}, {lse}
  return %o, %lse : {t}, {lse}
}}"""


def case_name(mask, h, d, elt):
    return f"attention-{mask}-h{h}-d{d}-{elt}"


def build(out, chip):
    import sparse_attn  # noqa: PLC0415

    os.makedirs(out, exist_ok=True)
    configs, seconds = {}, {}
    for mask, _, h, d, elt in CASES:
        name = case_name(mask, h, d, elt)
        if name in configs:
            continue
        start = time.time()
        artifact = sparse_attn.compile_gpu(attention_ir(mask, h, d, elt), "f", chip)
        seconds[name] = time.time() - start
        artifact.save(os.path.join(out, name))
        configs[name] = artifact.configs[-1] if artifact.configs else None
        print(name, configs[name])
    with open(os.path.join(out, "compile_times.json"), "w") as f:
        json.dump(dict(chip=chip, seconds=seconds, configs=configs), f, indent=1)


def run(artifacts, out):
    import torch  # noqa: PLC0415
    import torch.nn.functional as F  # noqa: PLC0415
    from torch.nn.attention import SDPBackend, sdpa_kernel  # noqa: PLC0415
    from torch.nn.attention.flex_attention import create_block_mask  # noqa: PLC0415

    from run import compiled_flex, time_ms  # noqa: PLC0415

    from sparse_attn import runtime  # noqa: PLC0415

    props = torch.cuda.get_device_properties(0)
    precision = torch.get_float32_matmul_precision()
    print(f"device: {props.name}, torch {torch.__version__}, float32 matmul precision "
          f"{precision}, allow_tf32 {torch.backends.cuda.matmul.allow_tf32}", flush=True)
    flex = compiled_flex()
    gen = torch.Generator(device="cuda")
    gen.manual_seed(0)
    with open(os.path.join(artifacts, "compile_times.json")) as f:
        recorded = json.load(f)
    dtypes = {"f32": torch.float32, "bf16": torch.bfloat16}
    results = []
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, f"{props.name.replace(' ', '-')}-{datetime.date.today().isoformat()}"
                             f"-general.json")
    for mask, s, h, d, elt in CASES:
        name = case_name(mask, h, d, elt)
        dtype = dtypes[elt]
        fn = runtime.load(os.path.join(artifacts, name))
        seg_np = documents(s, s + d) if mask == "document" else None
        extra = ()
        mods = {"causal": lambda b, hh, i, j: i >= j,
                "sliding1024": lambda b, hh, i, j: (i >= j) & (i - j < 1024)}
        if seg_np is not None:
            seg = torch.from_numpy(seg_np).cuda()[None]
            extra = (seg,)
            mods["document"] = lambda b, hh, i, j, seg=seg: (i >= j) & (seg[b, i] == seg[b, j])
        inputs = [tuple(torch.randn(1, h, s, d, generator=gen, device="cuda", dtype=dtype)
                        for _ in range(3)) for _ in range(2)]
        q, k, v = inputs[0]
        o, _ = fn(q, k, v, *extra, fill_outputs=float("nan"))
        torch.cuda.synchronize()
        rows = torch.randint(0, s, (64,), generator=gen, device="cuda")
        j = torch.arange(s, device="cuda")
        allowed = torch.ones(64, s, dtype=torch.bool, device="cuda")
        if mask in mods:
            allowed = mods[mask](0, 0, rows[:, None], j[None, :])
        scores = torch.einsum("hrd,hkd->hrk", q[0][:, rows].double(), k[0].double()) / d ** 0.5
        want = torch.softmax(scores.masked_fill(~allowed, float("-inf")), -1) @ v[0].double()
        # torch in the input precision (scores and softmax in f32, P rounded
        # to the input type for P V).
        low = torch.einsum("hrd,hkd->hrk", q[0][:, rows], k[0]).float() / d ** 0.5
        p = torch.softmax(low.masked_fill(~allowed, float("-inf")), -1).to(dtype)
        torch_err = (p @ v[0]).double().sub(want).abs().max().item()
        err = o[0][:, rows].double().sub(want).abs().max().item()
        ok = err <= 2 * torch_err + (1e-5 if elt == "f32" else 1e-3) and not bool(o.isnan().any())
        block_mask = None
        if mask in mods:
            block_mask = create_block_mask(mods[mask], None, None, s, s, device="cuda")
        flex_ms = None
        try:
            ms, flex_ms = time_ms(lambda a, b, c: fn(a, b, c, *extra),
                                  lambda a, b, c: flex(a, b, c, block_mask=block_mask),
                                  inputs=inputs)
        except Exception as error:  # noqa: BLE001 (FlexAttention refusing a shape)
            print(f"  flex: {str(error).splitlines()[0][:120]}")
            ms = time_ms(lambda a, b, c: fn(a, b, c, *extra), inputs=inputs)
        sdpa_ms = None
        if mask in ("causal", "dense"):
            try:
                with sdpa_kernel(SDPBackend.EFFICIENT_ATTENTION):
                    sdpa_ms = time_ms(lambda a, b, c: F.scaled_dot_product_attention(
                        a, b, c, is_causal=mask == "causal"), inputs=inputs)
            except RuntimeError as error:
                print(f"  sdpa: {str(error).splitlines()[0][:100]}")
        flops = 4 * h * d * allowed_pairs(mask, s, seg_np)
        row = dict(case=f"{mask}-S{s}-H{h}-D{d}-{elt}", mask=mask, S=s, H=h, D=d, elt=elt, ms=ms,
                   tflops=flops / ms / 1e9, flex_ms=flex_ms,
                   flex_tflops=flops / flex_ms / 1e9 if flex_ms else None,
                   ratio_vs_flex=flex_ms / ms if flex_ms else None,
                   sdpa_efficient_ms=sdpa_ms,
                   ratio_vs_sdpa=sdpa_ms / ms if sdpa_ms else None,
                   max_err=err, torch_err=torch_err, numerics_ok=ok,
                   float32_matmul_precision=precision,
                   config=recorded["configs"].get(name), compile_s=recorded["seconds"].get(name))
        results.append(row)
        with open(path, "w") as f:
            json.dump(dict(device=props.name, torch=torch.__version__,
                           date=datetime.date.today().isoformat(), method=__doc__, cases=results),
                      f, indent=1)
        flex_text = (f"flex {flex_ms:8.3f} ms {row['flex_tflops']:6.1f}  "
                     f"x{row['ratio_vs_flex']:.2f} vs flex" if flex_ms else "flex -")
        print(f"{row['case']:30s} ours {ms:8.3f} ms {row['tflops']:6.1f} TF/s  {flex_text}  "
              + (f"sdpa-efficient {sdpa_ms:.3f} ms  " if sdpa_ms else "")
              + f"err {err:.2e} (torch {torch_err:.2e}) {'ok' if ok else 'FAIL'}", flush=True)
        del inputs, block_mask
        torch.cuda.empty_cache()
    return numerics_verdict(results)


if __name__ == "__main__":
    sys.exit(build_or_run(build, run))
