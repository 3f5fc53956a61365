"""Decode: `attention` with a static query length of 1 or 16 against a long
key sequence, next to FlexAttention (its decoding path) and SDPA on the
same problem, and the HBM copy bandwidth measured in the same run.

Build here (where MLIR is), then run on the GPU machine:
  PYTHONPATH=build/python_packages /usr/bin/python3 bench/decode.py build build/bench-decode [--chip sm_90a]
  PYTHONPATH=python-bindings python3 bench/decode.py run build/bench-decode OUT_DIR

Artifacts: `sparse_attn.attention` on bf16, Hq = 32, Hkv = 8 (GQA 4),
D = Dv = 128, static Sq (1 or 16), dynamic batch and key length, no mask
(every key). The decode kernel packs each kv head's 4 query heads (x Sq
rows) into one tile and splits the keys across thread blocks, whose
partial results a second launch combines.

Method: as bench/run.py (`time_ms`: CUDA graphs, interleaved rounds,
medians), two input sets rotated (the keys, 134 MB at 32K, exceed L2).
FlexAttention: torch.compile(flex_attention) with enable_gqa=True and no
block mask (it takes its decoding kernel for short queries). SDPA: flash
and cuDNN backends with enable_gqa=True (None where a backend refuses).
Bandwidth: bytes of K and V read / time; the copy bandwidth is a 2 GiB
device-to-device copy (read + write bytes / time) in the same run.
Numerics: every row against the float64 reference; our max error must be
<= 2x that of torch's bf16 computation + 1e-3.

Writes OUT_DIR/<gpu>-<date>-decode.json and prints one line per case.
"""

import datetime
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from cli import build_or_run, numerics_verdict  # noqa: E402

HQ, HKV, D = 32, 8, 128
CASES = [(1, 32768), (1, 131072), (16, 32768), (16, 131072)]


def decode_ir(sq):
    q = f"tensor<?x{HQ}x{sq}x{D}xbf16>"
    kv = f"tensor<?x{HKV}x?x{D}xbf16>"
    lse = f"tensor<?x{HQ}x{sq}xf32>"
    return f"""func.func @f(%q: {q}, %k: {kv}, %v: {kv}) -> ({q}, {lse}) {{
  %o, %lse = sparse_attn.attention %q, %k, %v : {q}, {kv}, {kv} -> {q}, {lse}
  return %o, %lse : {q}, {lse}
}}"""


def build(out, chip):
    import sparse_attn  # noqa: PLC0415

    os.makedirs(out, exist_ok=True)
    configs = {}
    for sq in sorted({sq for sq, _ in CASES}):
        name = f"decode-sq{sq}"
        artifact = sparse_attn.compile_gpu(decode_ir(sq), "f", chip)
        artifact.save(os.path.join(out, name))
        configs[name] = artifact.configs
        print(name, artifact.configs)
    with open(os.path.join(out, "configs.json"), "w") as f:
        json.dump(dict(chip=chip, configs=configs), f, indent=1)


def run(artifacts, out):
    import torch  # noqa: PLC0415
    import torch.nn.functional as F  # noqa: PLC0415
    from torch.nn.attention import SDPBackend, sdpa_kernel  # noqa: PLC0415

    sys.path.insert(0, os.path.dirname(__file__))
    from run import compiled_flex, time_ms  # noqa: PLC0415

    from sparse_attn import runtime  # noqa: PLC0415

    props = torch.cuda.get_device_properties(0)
    print(f"device: {props.name}, torch {torch.__version__}", flush=True)
    # Copy bandwidth, same run.
    x = torch.empty(2**30, dtype=torch.int16, device="cuda")
    y = torch.empty_like(x)
    copy_ms = time_ms(lambda a: y.copy_(a), inputs=[(x,)])
    copy_gbs = 2 * x.numel() * 2 / copy_ms / 1e6
    print(f"copy bandwidth: {copy_gbs:.0f} GB/s", flush=True)
    del x, y
    flex = compiled_flex()
    gen = torch.Generator(device="cuda")
    gen.manual_seed(0)
    results = []
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, f"{props.name.replace(' ', '-')}-{datetime.date.today().isoformat()}"
                             f"-decode.json")
    for sq, skv in CASES:
        fn = runtime.load(os.path.join(artifacts, f"decode-sq{sq}"))
        inputs = [(torch.randn(1, HQ, sq, D, generator=gen, device="cuda", dtype=torch.bfloat16),
                   torch.randn(1, HKV, skv, D, generator=gen, device="cuda", dtype=torch.bfloat16),
                   torch.randn(1, HKV, skv, D, generator=gen, device="cuda", dtype=torch.bfloat16))
                  for _ in range(2)]
        q, k, v = inputs[0]
        o, lse = fn(q, k, v, fill_outputs=float("nan"))
        torch.cuda.synchronize()
        kr = k[0].repeat_interleave(HQ // HKV, 0)
        vr = v[0].repeat_interleave(HQ // HKV, 0)
        scores = torch.einsum("hrd,hkd->hrk", q[0].double(), kr.double()) / D ** 0.5
        want = torch.softmax(scores, -1) @ vr.double()
        s16 = torch.einsum("hrd,hkd->hrk", q[0], kr).float() / D ** 0.5
        torch_err = (torch.softmax(s16, -1).bfloat16() @ vr).double().sub(want).abs().max().item()
        err = o[0].double().sub(want).abs().max().item()
        ok = err <= 2 * torch_err + 1e-3 and not bool(o.isnan().any())
        del kr, vr, scores, want, s16
        ms, flex_ms = time_ms(lambda a, b, c: fn(a, b, c),
                              lambda a, b, c: flex(a, b, c, enable_gqa=True), inputs=inputs)
        sdpa = {}
        for backend, key in ((SDPBackend.FLASH_ATTENTION, "sdpa_flash_ms"),
                             (SDPBackend.CUDNN_ATTENTION, "sdpa_cudnn_ms")):
            sdpa[key] = None
            try:
                with sdpa_kernel(backend):
                    sdpa[key] = time_ms(lambda a, b, c: F.scaled_dot_product_attention(
                        a, b, c, enable_gqa=True), inputs=inputs)
            except RuntimeError as error:
                print(f"  {key}: {str(error).splitlines()[0][:100]}")
        kv_bytes = 2 * HKV * skv * D * 2
        gbs = kv_bytes / ms / 1e6
        best_sdpa = min((t for t in sdpa.values() if t), default=None)
        row = dict(case=f"decode-Sq{sq}-Skv{skv}", Sq=sq, Skv=skv, Hq=HQ, Hkv=HKV, D=D, ms=ms,
                   kv_gbs=gbs, copy_gbs=copy_gbs, fraction_of_copy=gbs / copy_gbs,
                   flex_ms=flex_ms, ratio_vs_flex=flex_ms / ms, **sdpa,
                   ratio_vs_best_sdpa=best_sdpa / ms if best_sdpa else None,
                   max_err=err, torch_bf16_err=torch_err, numerics_ok=ok)
        results.append(row)
        with open(path, "w") as f:
            json.dump(dict(device=props.name, torch=torch.__version__,
                           date=datetime.date.today().isoformat(), method=__doc__,
                           copy_gbs=copy_gbs, cases=results), f, indent=1)
        sd = "  ".join(f"{key[5:-3]} {t * 1e3:.1f} us" for key, t in sdpa.items() if t)
        print(f"{row['case']:24s} ours {ms * 1e3:8.1f} us {gbs:6.0f} GB/s ({gbs / copy_gbs:.0%} of copy)"
              f"  flex {flex_ms * 1e3:8.1f} us x{flex_ms / ms:.2f}  {sd}  "
              f"err {err:.2e} (torch {torch_err:.2e}) {'ok' if ok else 'FAIL'}", flush=True)
        del inputs
        torch.cuda.empty_cache()
    return numerics_verdict(results)


if __name__ == "__main__":
    sys.exit(build_or_run(build, run))
