"""Writes the fuzzer's seed corpus: every module of the lit suite (split at
`// -----`) and every example, one file each.

Usage: python3 tools/sparse-attn-fuzz/make_corpus.py OUT_DIR
"""

import glob
import hashlib
import os
import sys


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    root = os.path.join(os.path.dirname(__file__), "..", "..")
    sources = sorted(glob.glob(os.path.join(root, "test", "**", "*.mlir"), recursive=True))
    sources += sorted(glob.glob(os.path.join(root, "examples", "*.mlir")))
    written = 0
    for path in sources:
        with open(path) as f:
            text = f.read()
        for piece in text.split("\n// -----\n"):
            if not piece.strip():
                continue
            data = piece.encode()
            name = hashlib.sha1(data).hexdigest()[:16] + ".mlir"
            with open(os.path.join(out, name), "wb") as f:
                f.write(data)
            written += 1
    print(f"{written} seeds from {len(sources)} files in {out}")


if __name__ == "__main__":
    main()
