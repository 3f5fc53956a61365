"""Runs every input of a fuzzing regression corpus through sparse-attn-opt's
canonicalize, CPU pipeline, raise-attention and PTX pipelines; fails when any run ends in
anything but success (0) or a diagnostic (1): a signal, an abort, a hang.

Usage: run_regressions.py SPARSE_ATTN_OPT DIR
"""

import glob
import os
import subprocess
import sys

PIPELINES = ["--canonicalize", "--sparse-attn-to-llvm-cpu-pipeline",
             "--sparse-attn-raise-attention",
             "--sparse-attn-to-ptx-pipeline=chip=sm_80",
             "--sparse-attn-to-ptx-pipeline=chip=sm_90a"]


def main():
    opt, directory = sys.argv[1], sys.argv[2]
    inputs = sorted(glob.glob(os.path.join(directory, "*.mlir")))
    failures = 0
    for path in inputs:
        for pipeline in PIPELINES:
            try:
                result = subprocess.run([opt, path, pipeline, "-o", os.devnull],
                                        capture_output=True, timeout=300)
                status = result.returncode
            except subprocess.TimeoutExpired:
                status = "timeout"
            if status not in (0, 1):
                failures += 1
                print(f"FAIL {os.path.basename(path)} {pipeline}: {status}")
    print(f"{len(inputs)} inputs x {len(PIPELINES)} pipelines, {failures} failures")
    return 1 if failures or not inputs else 0


if __name__ == "__main__":
    sys.exit(main())
