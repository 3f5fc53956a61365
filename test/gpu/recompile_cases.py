"""Recompiles the kernels of an existing folder of GPU cases (from
test/gpu/build_cases.py) with the current compiler, keeping each case's
inputs and golden results: a changed kernel is retested without computing
the float64 golden model again.

Usage (from the repository root, after `make check`):
  PYTHONPATH=build/python_packages /usr/bin/python3 test/gpu/recompile_cases.py \\
      build/gpu-cases --chip sm_90a [--options "nvgpu-options={block-q=64}"] [--only mma-000-0,...]

Each case directory's source.mlir is compiled again and its manifest and
PTX rewritten; data.npz and meta.json are left as they are.
"""

import argparse
import os
import sys

import sparse_attn


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("root")
    parser.add_argument("--chip", default="sm_90")
    parser.add_argument("--options", default="", help="other sparse-attn-to-ptx-pipeline options")
    parser.add_argument("--only", default=None, help="comma-separated case directories")
    options = parser.parse_args()
    names = sorted(os.listdir(options.root))
    if options.only:
        names = [name for name in names if name in options.only.split(",")]
    for name in names:
        directory = os.path.join(options.root, name)
        source = os.path.join(directory, "source.mlir")
        if not os.path.exists(source):
            continue
        with open(source) as f:
            text = f.read()
        try:
            sparse_attn.compile_gpu(text, "f", options.chip, options.options).save(directory)
        except (sparse_attn.MLIRError, ValueError) as error:
            print(f"FAIL {name}: {error}", file=sys.stderr)
            return 1
    print(f"recompiled {len(names)} cases in {options.root} for {options.chip} {options.options}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
