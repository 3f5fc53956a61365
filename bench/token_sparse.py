"""`token_sparse_attention` (DeepSeek Sparse Attention's attention over each
query's top-k token list) on the kernels, next to a gather-based PyTorch
reference on the same lists.

Build here (where MLIR is), then run on the GPU machine:
  PYTHONPATH=build/python_packages /usr/bin/python3 bench/token_sparse.py build build/bench-token [--chip sm_90a]
  PYTHONPATH=python-bindings python3 bench/token_sparse.py run build/bench-token OUT_DIR

Artifacts: `sparse_attn.token_sparse_attention` on bf16, B = 1, Hkv = 1 (one
latent kv head shared by every query head, as MLA), dynamic lengths and
list width: DeepSeek's example shape (D = 192, Dv = 128; Hq = 16 and 64)
and MLA's (D = 576, Dv = 512; Hq = 64 and 128: the wgmma kernel with the
value columns in two 256-column slices; 16-key tiles by default, 32 with
`nvgpu-options={block-kv=32}` for comparison). Lists: per query 2048 distinct keys
drawn at random among the causal prefix (all of it when shorter, padded
with -1), as the lightning indexer's top-k gives them.

Method: as bench/run.py (`time_ms`: CUDA graphs, interleaved rounds,
medians). Reference: PyTorch gathers the listed keys and values per chunk
of 256 queries (k[idx], v[idx]; 64 at D = 576), masks the -1 slots, and
computes the softmax attention in bf16 matmuls with f32 softmax (einsum),
the way a framework without a sparse kernel runs DSA. Effective TFLOP/s =
2 * Hq * (valid slots) * (D + Dv) / time. Numerics: 64 random query rows
against the float64 reference; our max error must be <= 2x the
reference's + 1e-3. TOKEN_CASES=mla (environment) runs the MLA cases only.

Writes OUT_DIR/<gpu>-<date>-token-sparse.json and prints one line per case.
"""

import datetime
import json
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from cli import build_or_run, numerics_verdict  # noqa: E402

TOPK = 2048
# (name, Hq, S, D, Dv, pipeline options)
CASES = [
    ("ds-h16", 16, 8192, 192, 128, ""),
    ("ds-h16", 16, 32768, 192, 128, ""),
    ("ds-h64", 64, 8192, 192, 128, ""),
    ("mla-h64", 64, 8192, 576, 512, ""),
    ("mla-h128", 128, 8192, 576, 512, ""),
    ("mla-h128-kv32", 128, 8192, 576, 512, "nvgpu-options={block-kv=32}"),
]


def token_ir(hq, d, dv):
    q = f"tensor<1x{hq}x?x{d}xbf16>"
    k = f"tensor<1x1x?x{d}xbf16>"
    v = f"tensor<1x1x?x{dv}xbf16>"
    o = f"tensor<1x{hq}x?x{dv}xbf16>"
    lse = f"tensor<1x{hq}x?xf32>"
    ti = "tensor<1x?x?xi32>"
    return f"""func.func @f(%q: {q}, %k: {k}, %v: {v}, %ti: {ti}) -> ({o}, {lse}) {{
  %o, %lse = sparse_attn.token_sparse_attention %q, %k, %v, %ti : {q}, {k}, {v}, {ti} -> {o}, {lse}
  return %o, %lse : {o}, {lse}
}}"""


def build(out, chip):
    import sparse_attn  # noqa: PLC0415

    os.makedirs(out, exist_ok=True)
    configs = {}
    for name, hq, _, d, dv, options in CASES:
        if name in configs:
            continue
        artifact = sparse_attn.compile_gpu(token_ir(hq, d, dv), "f", chip, options)
        artifact.save(os.path.join(out, f"token-{name}"))
        configs[name] = artifact.configs[-1] if artifact.configs else None
        print(name, configs[name])
    with open(os.path.join(out, "configs.json"), "w") as f:
        json.dump(configs, f, indent=1)


def torch_gather_attention(q, k, v, idx, scale, chunk=256):
    """The gather-based PyTorch path: per chunk of queries, the listed keys
    and values gathered ([chunk, n, D]), bf16 einsums, softmax in f32 over
    the valid slots (-1 skipped); one kv head, B = 1."""
    import torch  # noqa: PLC0415

    outs = []
    for start in range(0, q.shape[2], chunk):
        rows = idx[0, start:start + chunk]
        ok = rows >= 0
        safe = rows.clamp(min=0).long()
        kg, vg = k[0, 0][safe], v[0, 0][safe]  # [c, n, D]
        sc = torch.einsum("hcd,cnd->hcn", q[0, :, start:start + chunk], kg).float() * scale
        p = torch.softmax(sc.masked_fill(~ok[None], float("-inf")), -1)
        outs.append(torch.einsum("hcn,cnd->hcd", p.to(v.dtype), vg))
    return torch.cat(outs, 1)[None]


def run(artifacts, out):
    import torch  # noqa: PLC0415

    from run import time_ms  # noqa: PLC0415

    from sparse_attn import runtime  # noqa: PLC0415

    props = torch.cuda.get_device_properties(0)
    print(f"device: {props.name}, torch {torch.__version__}", flush=True)
    gen = torch.Generator(device="cuda")
    gen.manual_seed(0)
    with open(os.path.join(artifacts, "configs.json")) as f:
        configs = json.load(f)
    results = []
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, f"{props.name.replace(' ', '-')}-{datetime.date.today().isoformat()}"
                             f"-token-sparse.json")
    only = os.environ.get("TOKEN_CASES")
    for name, hq, s, d, dv, _ in CASES:
        if only and not name.startswith(only):
            continue
        fn = runtime.load(os.path.join(artifacts, f"token-{name}"))
        q = torch.randn(1, hq, s, d, generator=gen, device="cuda", dtype=torch.bfloat16)
        k = torch.randn(1, 1, s, d, generator=gen, device="cuda", dtype=torch.bfloat16)
        v = torch.randn(1, 1, s, dv, generator=gen, device="cuda", dtype=torch.bfloat16)
        # Per query: TOPK distinct keys of its causal prefix (all when shorter).
        i = torch.arange(s, device="cuda")
        keys = torch.rand(s, s, generator=gen, device="cuda")
        keys = keys.masked_fill(i[None, :] > i[:, None], -1.0)
        top = keys.topk(TOPK, dim=1)
        idx = torch.where(top.values >= 0, top.indices, -1).to(torch.int32)
        del keys, top
        idx = idx.sort(dim=1, descending=True).values.contiguous()[None]
        valid_slots = int((idx >= 0).sum())
        scale = d ** -0.5

        def reference(q, k, v, idx):
            return torch_gather_attention(q, k, v, idx, scale, chunk=256 if d <= 256 else 64)

        o, _ = fn(q, k, v, idx, fill_outputs=float("nan"))
        torch.cuda.synchronize()
        rows = torch.randint(0, s, (64,), generator=gen, device="cuda")
        sel = idx[0, rows].long()
        ok = sel >= 0
        kg = k[0, 0][sel.clamp(min=0)].double()
        vg = v[0, 0][sel.clamp(min=0)].double()
        sc = torch.einsum("hrd,rnd->hrn", q[0][:, rows].double(), kg) * scale
        want = torch.einsum("hrn,rnd->hrd", torch.softmax(sc.masked_fill(~ok[None], float("-inf")), -1), vg)
        ref_err = reference(q, k, v, idx)[0][:, rows].double().sub(want).abs().max().item()
        err = o[0][:, rows].double().sub(want).abs().max().item()
        numerics_ok = err <= 2 * ref_err + 1e-3 and not bool(o.isnan().any())
        ms, ref_ms = time_ms(lambda a, b, c, t: fn(a, b, c, t), reference,
                             inputs=[(q, k, v, idx)])
        flops = 2 * hq * valid_slots * (d + dv)
        row = dict(case=f"token-{name}-S{s}-topk{TOPK}", Hq=hq, S=s, topk=TOPK, d=d, Dv=dv, ms=ms,
                   tflops=flops / ms / 1e9, torch_gather_ms=ref_ms, ratio_vs_torch=ref_ms / ms,
                   max_err=err, torch_err=ref_err, numerics_ok=numerics_ok,
                   config=configs.get(name))
        results.append(row)
        with open(path, "w") as f:
            json.dump(dict(device=props.name, torch=torch.__version__,
                           date=datetime.date.today().isoformat(), method=__doc__, cases=results),
                      f, indent=1)
        print(f"{row['case']:34s} ours {ms:8.3f} ms {row['tflops']:6.1f} TF/s  torch gather "
              f"{ref_ms:8.3f} ms  x{ref_ms / ms:.2f}  err {err:.2e} (torch {ref_err:.2e}) "
              f"{'ok' if numerics_ok else 'FAIL'}", flush=True)
        del q, k, v, idx
        torch.cuda.empty_cache()
    return numerics_verdict(results)


if __name__ == "__main__":
    sys.exit(build_or_run(build, run))
