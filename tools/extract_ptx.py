#!/usr/bin/env python3
"""Writes the PTX of every gpu.binary in a lowered module to a directory.

Usage: extract_ptx.py <lowered.mlir> <out-dir>

Each `gpu.binary @name` object's `assembly` (produced by
`sparse-attn-to-ptx-pipeline`) becomes <out-dir>/<name>.ptx; the script
prints one line per kernel module and where they went.
"""

import os
import re
import sys


def unescape(text):
    """MLIR string escapes: \\XX hex bytes, \\\\ and \\"."""
    out = bytearray()
    i = 0
    while i < len(text):
        if text[i] == "\\":
            if text[i + 1] in "\\\"":
                out.append(ord(text[i + 1]))
                i += 2
            else:
                out.append(int(text[i + 1:i + 3], 16))
                i += 3
            continue
        out.extend(text[i].encode())
        i += 1
    return out.decode()


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    source, out_dir = sys.argv[1], sys.argv[2]
    text = open(source).read()
    binaries = re.findall(
        r'gpu\.binary @([\w$.]+)\s*\[#gpu\.object<#nvvm\.target<chip = "(\w+)"[^\]]*?'
        r'assembly = "((?:[^"\\]|\\.)*)"', text, re.S)
    if not binaries:
        sys.exit(f"{source}: no gpu.binary with PTX assembly")
    os.makedirs(out_dir, exist_ok=True)
    for name, chip, assembly in binaries:
        path = os.path.join(out_dir, f"{name}.ptx")
        with open(path, "w") as f:
            f.write(unescape(assembly))
        print(f"  {name}: {chip}")
    print(f"{len(binaries)} kernel module(s) as PTX in {out_dir}/ (from {source})")


if __name__ == "__main__":
    main()
