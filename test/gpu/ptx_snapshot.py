"""Compiles every benchmark kernel (bench/build.py's sources) and every GPU
case of a folder made by test/gpu/build_cases.py to PTX, one file per kernel
module, so that two compilers can be compared byte for byte (a refactoring
that should not change a kernel: `diff -r BEFORE AFTER`).

Usage (from the repository root, after `make check`):
  PYTHONPATH=build/python_packages:bench /usr/bin/python3 test/gpu/ptx_snapshot.py \\
      OUT [--cases build/gpu-cases] [--chips sm_90a,sm_90]

OUT/<chip>/<name>/<module>.ptx for each benchmark artifact (bench-<name>)
and each case (<case directory name>).
"""

import argparse
import os
import sys

import sparse_attn

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bench"))
import build as bench_build  # noqa: E402

# What build_cases.py adds to the options of a case title (nothing since
# attention takes the tensor-core kernel by default).
TITLE_OPTIONS = {}


def bench_sources():
    for d in (128, 64):
        for hkv in (16, 4):
            for mask in bench_build.MASKS:
                yield f"bench-attn-{mask}-d{d}-kv{hkv}", bench_build.attention_ir(mask, d, hkv)
            for s in (8192, 32768):
                yield f"bench-select-d{d}-kv{hkv}-s{s}", bench_build.select_ir(d, hkv, s)


def case_sources(root):
    for name in sorted(os.listdir(root)):
        source = os.path.join(root, name, "source.mlir")
        if os.path.exists(source):
            with open(source) as f:
                yield name, f.read()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--cases", default=None, help="a folder of build_cases.py")
    parser.add_argument("--chips", default="sm_90a,sm_90")
    options = parser.parse_args()
    sources = list(bench_sources())
    if options.cases:
        sources += list(case_sources(options.cases))
    failures = 0
    for chip in options.chips.split(","):
        for name, text in sources:
            title = name.rsplit("-", 2)[0]
            extra = TITLE_OPTIONS.get(title, "")
            directory = os.path.join(options.out, chip, name)
            os.makedirs(directory, exist_ok=True)
            try:
                artifact = sparse_attn.compile_gpu(text, "f", chip, extra)
            except (sparse_attn.MLIRError, ValueError) as error:
                failures += 1
                with open(os.path.join(directory, "error.txt"), "w") as f:
                    f.write(str(error))
                continue
            for module, ptx in artifact.modules.items():
                with open(os.path.join(directory, f"{module}.ptx"), "w") as f:
                    f.write(ptx)
        print(f"{chip}: {len(sources)} sources, {failures} failed to compile", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
