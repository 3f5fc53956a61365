#!/usr/bin/env python3
"""Compiles a function of a .mlir file for the GPU into an artifact
directory (manifest.json + PTX) that sparse_attn.runtime.load runs.

Usage:
  PYTHONPATH=build/python_packages /usr/bin/python3 tools/compile_gpu.py \\
      in.mlir func_name out_dir [--chip sm_80|sm_90|sm_90a] [--options "nvgpu-options={block-q=64}"]

The command-line form of sparse_attn.compile_gpu(text, func_name, chip, options).save(dir).
"""

import argparse
import sys

import sparse_attn


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="the .mlir file")
    parser.add_argument("function", help="the func.func to compile (without @)")
    parser.add_argument("out", help="the artifact directory to write")
    parser.add_argument("--chip", default="sm_90", choices=["sm_80", "sm_90", "sm_90a"])
    parser.add_argument("--options", default="",
                        help="other sparse-attn-to-ptx-pipeline options, e.g. 'nvgpu-options={block-q=64}'")
    options = parser.parse_args()
    with open(options.source) as f:
        text = f.read()
    try:
        artifact = sparse_attn.compile_gpu(text, options.function, options.chip,
                                           options.options)
    except (sparse_attn.MLIRError, ValueError) as error:
        print(f"{options.source}: {error}", file=sys.stderr)
        return 1
    artifact.save(options.out)
    print(f"@{options.function} for {options.chip}: {len(artifact.plan['launches'])} "
          f"kernel launches, {len(artifact.modules)} PTX modules in {options.out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
