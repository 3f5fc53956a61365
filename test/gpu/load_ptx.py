"""Loads every PTX module under a directory through the CUDA driver (cupy)
and looks up each kernel entry: proof that the generated PTX is accepted by
the driver's JIT for the GPU at hand. Runs on the GPU machine.

Usage: python3 load_ptx.py <dir-with-.ptx-files>
"""

import pathlib
import re
import sys

import cupy


def main():
    root = pathlib.Path(sys.argv[1])
    files = sorted(root.rglob("*.ptx"))
    if not files:
        sys.exit(f"no .ptx files under {root}")
    device = cupy.cuda.Device()
    props = cupy.cuda.runtime.getDeviceProperties(device.id)
    print(f"device: {props['name'].decode()} (sm_{props['major']}{props['minor']})")
    failures = 0
    for path in files:
        text = path.read_text()
        entries = re.findall(r"\.visible \.entry (\w+)\(", text)
        try:
            module = cupy.RawModule(path=str(path))
            for entry in entries:
                module.get_function(entry)
            print(f"ok   {path.relative_to(root)}: {', '.join(entries)}")
        except Exception as error:  # noqa: BLE001
            failures += 1
            print(f"FAIL {path.relative_to(root)}: {error}")
    print(f"{len(files) - failures} of {len(files)} PTX modules loaded")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
