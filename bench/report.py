"""Prints the Markdown table of a bench/run.py results file (docs/performance.md).

Usage: python3 bench/report.py bench/results/NVIDIA-H200-2026-12-02.json
"""

import json
import sys


def main():
    with open(sys.argv[1]) as f:
        run = json.load(f)
    print(f"{run['device']}, torch {run['torch']}, {run['date']}\n")
    print("| case | density | ours ms | ours TFLOP/s | Flex ms | Flex TFLOP/s | Flex / ours "
          "| SDPA flash ms | SDPA cuDNN ms | max err (torch bf16) | kernel |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
    for r in run["cases"]:
        c = r.get("config")
        kernel = "" if not isinstance(c, dict) else (
            f"{c['mma']} {c['block_q']}x{c['block_kv']}, {c['warps']} warps, "
            f"row tiles {c.get('row_tiles', '?')}, {c.get('blocks_per_sm', 1)} blocks/SM")
        flash = "" if r["sdpa_flash_ms"] is None else f"{r['sdpa_flash_ms']:.3f}"
        cudnn = "" if r["sdpa_cudnn_ms"] is None else f"{r['sdpa_cudnn_ms']:.3f}"
        print(f"| {r['case']} | {r['density']:.3f} | {r['ms']:.3f} | {r['tflops']:.0f} | "
              f"{r['flex_ms']:.3f} | {r['flex_tflops']:.0f} | {r['ratio_vs_flex']:.3f} | {flash} | "
              f"{cudnn} | {r['max_err']:.1e} ({r['torch_bf16_err']:.1e}) | {kernel} |")


if __name__ == "__main__":
    main()
