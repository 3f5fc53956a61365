# RUN: %python %s
"""The runtime checks an artifact's manifest before using it (no torch, no
GPU needed): a wrong version, buffer kind, dtype, duplicate input, unknown
output, module, operator or argument, or a PTX file name that leaves the
artifact, is a ValueError naming the field; integer kernel arguments are
range-checked, never truncated; an artifact keeps only the kernels its
function launches."""

import copy
import ctypes
import json
import os
import tempfile

import sparse_attn
from sparse_attn import runtime

TWO_FUNCTIONS = """
func.func @f(%x: tensor<?x8x?x64xbf16>, %k: tensor<?x2x?x64xbf16>) -> (tensor<?x8x?x64xbf16>, tensor<?x8x?xf32>) {
  %o, %lse = sparse_attn.attention %x, %k, %k {mask = #sparse_attn.causal}
      : tensor<?x8x?x64xbf16>, tensor<?x2x?x64xbf16>, tensor<?x2x?x64xbf16> -> tensor<?x8x?x64xbf16>, tensor<?x8x?xf32>
  return %o, %lse : tensor<?x8x?x64xbf16>, tensor<?x8x?xf32>
}
func.func @g(%x: tensor<?x4x?x32xf32>) -> tensor<?x4x?x32xf32> {
  %p = sparse_attn.pool mean %x {block = 16} : tensor<?x4x?x32xf32> -> tensor<?x4x?x32xf32>
  return %p : tensor<?x4x?x32xf32>
}
"""


RESHAPED = """
func.func @r(%q: tensor<1x2x256x64xbf16>, %k: tensor<1x2x256x64xbf16>) -> tensor<2x256x64xbf16> {
  %o, %lse = sparse_attn.attention %q, %k, %k {mask = #sparse_attn.causal}
      : tensor<1x2x256x64xbf16>, tensor<1x2x256x64xbf16>, tensor<1x2x256x64xbf16> -> tensor<1x2x256x64xbf16>, tensor<1x2x256xf32>
  %c = tensor.collapse_shape %o [[0, 1], [2], [3]] : tensor<1x2x256x64xbf16> into tensor<2x256x64xbf16>
  return %c : tensor<2x256x64xbf16>
}
"""


def expect_bad(directory, manifest, needle):
    with open(os.path.join(directory, "manifest.json"), "w") as f:
        json.dump(manifest, f)
    try:
        runtime.load(directory)
    except ValueError as error:
        assert needle in str(error), (needle, str(error))
        return
    raise AssertionError(f"expected ValueError for {needle}")


def main():
    artifact = sparse_attn.compile_gpu(TWO_FUNCTIONS, "f", "sm_90a")
    launched = {launch["module"] for launch in artifact.plan["launches"]}
    assert set(artifact.modules) - launched, "expected @g's kernels in the module"
    with tempfile.TemporaryDirectory() as directory:
        artifact.save(directory)
        ptx_files = sorted(f for f in os.listdir(directory) if f.endswith(".ptx"))
        assert ptx_files == sorted(f"{m}.ptx" for m in launched), ptx_files
        good = json.load(open(os.path.join(directory, "manifest.json")))
        assert set(good["ptx"]) == launched, good["ptx"]
        runtime.load(directory)  # the saved manifest passes

        def mutated(change):
            manifest = copy.deepcopy(good)
            change(manifest)
            return manifest

        first_input = next(n for n, b in enumerate(good["buffers"]) if b["kind"] == "input")
        cases = [
            (lambda m: m.update(version=999), "version: expected 1"),
            (lambda m: m["buffers"][0].update(kind="scratch"), "buffers[0].kind: unknown kind"),
            (lambda m: m["buffers"][0].update(dtype="f8"), "buffers[0].dtype: unknown dtype"),
            (lambda m: m["buffers"].append(dict(m["buffers"][first_input], id=999)),
             "appears twice"),
            (lambda m: m["outputs"].append(12345), "outputs[2]: no buffer 12345"),
            (lambda m: m["ptx"].update({m["launches"][0]["module"]: "../../../etc/passwd"}),
             "is not a file name inside the artifact"),
            (lambda m: m["ptx"].update({m["launches"][0]["module"]: "/etc/passwd"}),
             "is not a file name inside the artifact"),
            (lambda m: m["launches"][0].update(module="nowhere"), "no PTX for module"),
            (lambda m: m["launches"][0]["grid"].__setitem__(0, {"op": "pow", "args": []}),
             "launches[0].grid[0].op: unknown operator 'pow'"),
            (lambda m: m["launches"][0]["grid"].__setitem__(0, {"op": "add", "args": [{"const": 1}]}),
             "add takes 2 operands"),
            (lambda m: m["launches"][0]["grid"].__setitem__(0, {"dim": [7, 0]}),
             "no dim 0 of input 7"),
            (lambda m: m["launches"][0]["args"].append({"kind": "tensor"}),
             "unknown argument kind 'tensor'"),
            (lambda m: m["launches"][0]["args"].append({"kind": "scalar", "type": "f32", "bits": 2 ** 40}),
             "not a f32 bit pattern"),
            (lambda m: m["launches"][0]["args"].append({"kind": "memref", "buffer": 777}),
             "no buffer 777"),
        ]
        for change, needle in cases:
            expect_bad(directory, mutated(change), needle)
        with open(os.path.join(directory, "manifest.json"), "w") as f:
            f.write("{not json")
        try:
            runtime.load(directory)
            raise AssertionError("expected ValueError for malformed JSON")
        except ValueError as error:
            assert "not JSON" in str(error), error

    # Integer arguments are checked against their type, not truncated.
    pack = runtime.GPUFunction._pack
    (value,) = pack({"kind": "scalar", "type": "i32", "expr": {"const": 2 ** 31 - 1}}, {}, [])
    assert isinstance(value, ctypes.c_int32) and value.value == 2 ** 31 - 1
    for kind, bad in (("i32", 2 ** 40 + 7), ("i32", -(2 ** 31) - 1), ("i8", 128), ("index", 2 ** 63)):
        try:
            pack({"kind": "scalar", "type": kind, "expr": {"const": bad}}, {}, [])
            raise AssertionError(f"expected ValueError for {kind} {bad}")
        except ValueError as error:
            assert f"does not fit {kind}" in str(error), error
    # A function returning a reshape of its result: the output is a view
    # (buffer, offset, sizes, strides), checked like the rest.
    reshaped = sparse_attn.compile_gpu(RESHAPED, "r", "sm_90a")
    (view,) = reshaped.plan["outputs"]
    assert isinstance(view, dict) and set(view) == {"buffer", "offset", "sizes", "strides"}, view
    sizes = [runtime.evaluate(e, [[2, 256, 64]] * 3) for e in view["sizes"]]
    strides = [runtime.evaluate(e, [[2, 256, 64]] * 3) for e in view["strides"]]
    assert sizes == [2, 256, 64] and strides == [256 * 64, 64, 1], (sizes, strides)
    with tempfile.TemporaryDirectory() as directory:
        reshaped.save(directory)
        good = json.load(open(os.path.join(directory, "manifest.json")))
        runtime.load(directory)
        for change, needle in (
                (lambda m: m["outputs"][0].update(buffer=99), "outputs[0].buffer"),
                (lambda m: m["outputs"][0].update(strides=[{"const": 1}]), "outputs[0].strides"),
                (lambda m: m["outputs"].append("x"), "outputs[1]")):
            manifest = copy.deepcopy(good)
            change(manifest)
            expect_bad(directory, manifest, needle)
    print("manifest checks OK")


if __name__ == "__main__":
    main()
