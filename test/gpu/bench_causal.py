"""Times the generated causal attention kernel next to FlexAttention and
SDPA on the same problem, and checks it against SDPA (float32 math).

Usage (on the GPU machine; the artifact from
`tools/compile_gpu.py test/gpu/causal_4096.mlir f build/bench-causal`):
  PYTHONPATH=python-bindings python3 test/gpu/bench_causal.py build/bench-causal

Method: median of CUDA-event times over repetitions after warm-up, as
../shared/tools/anchors.py; B=1, H=8, S=4096, D=128, bf16, causal.
"""

import sys

import torch
import torch.nn.functional as F
from torch.nn.attention.flex_attention import create_block_mask, flex_attention

from sparse_attn import runtime


def bench(fn, warm=2, rep=5):
    for _ in range(warm):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(rep):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    times.sort()
    return times[len(times) // 2]


def main():
    B, H, S, D = 1, 8, 4096, 128
    torch.manual_seed(0)
    q, k, v = (torch.randn(B, H, S, D, device="cuda", dtype=torch.bfloat16) for _ in range(3))
    fn = runtime.load(sys.argv[1])
    out, lse = fn(q, k, v, fill_outputs=float("nan"))
    want = F.scaled_dot_product_attention(q.float(), k.float(), v.float(), is_causal=True)
    err = (out.float() - want).abs().max().item()
    bf16_err = (F.scaled_dot_product_attention(q, k, v, is_causal=True).float() - want).abs().max().item()
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}")
    print(f"max |generated - sdpa(f32)| = {err:.3e}; sdpa in bf16: {bf16_err:.3e}; "
          f"NaN in output: {bool(out.isnan().any())}")
    flops = 4 * B * H * S * S * D / 2
    mask = create_block_mask(lambda b, h, i, j: j <= i, B, H, S, S)
    flex = torch.compile(flex_attention, dynamic=False)
    rows = [
        ("generated (sparse-attn, this commit)", bench(lambda: fn(q, k, v), warm=1, rep=3)),
        ("flex_attention causal", bench(lambda: flex(q, k, v, block_mask=mask))),
        ("sdpa causal", bench(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True))),
    ]
    for name, ms in rows:
        print(f"{name:40s} {ms:10.3f} ms {flops / ms / 1e9:10.2f} TFLOP/s")


if __name__ == "__main__":
    main()
