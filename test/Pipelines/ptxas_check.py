"""Assembles every kernel of a sparse-attn-to-ptx-pipeline result with ptxas.

Usage: ptxas_check.py <lowered.mlir> <chip>

Extracts the PTX of each `gpu.binary` object (the `assembly = "..."` string,
MLIR-escaped), checks it targets <chip>, and runs `ptxas -arch=<chip>` on it
when ptxas is installed (CUDA is not part of the build: without it the
assembly step is skipped and the script says so).
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

# The repository's tools/ holds the PTX extraction this check shares.
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tools"))
from extract_ptx import unescape  # noqa: E402


def main():
    path, chip = sys.argv[1], sys.argv[2]
    text = open(path).read()
    kernels = [unescape(m) for m in re.findall(r'assembly = "((?:[^"\\]|\\.)*)"', text)]
    if not kernels:
        sys.exit(f"no gpu.binary assembly in {path}")
    for ptx in kernels:
        if f".target {chip}" not in ptx:
            sys.exit(f"a kernel does not target {chip}:\n{ptx[:400]}")
    ptxas = shutil.which("ptxas") or "/usr/local/cuda/bin/ptxas"
    if not os.path.exists(ptxas):
        print(f"ptxas not found: {len(kernels)} PTX module(s) for {chip} NOT assembled")
        return
    with tempfile.TemporaryDirectory() as tmp:
        for n, ptx in enumerate(kernels):
            src = os.path.join(tmp, f"kernel{n}.ptx")
            with open(src, "w") as f:
                f.write(ptx)
            result = subprocess.run([ptxas, f"-arch={chip}", src, "-o", src + ".cubin"],
                                    capture_output=True, text=True)
            if result.returncode != 0:
                sys.exit(f"ptxas failed on module {n}:\n{result.stderr}")
    print(f"ptxas assembled {len(kernels)} PTX module(s) for {chip}")


if __name__ == "__main__":
    main()
