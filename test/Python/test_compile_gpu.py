# RUN: %python %s
"""compile_gpu here (no GPU): the artifact of a function with several ops
holds PTX for each kernel module and a launch plan whose buffers, launches
and outputs are consistent; saving writes the files the runtime reads; the
runtime imports and evaluates plan expressions without torch or the
extension."""

import json
import os
import sys
import tempfile

import sparse_attn
from sparse_attn import runtime

TEXT = """
func.func @f(%q: tensor<?x4x?x32xbf16>, %k: tensor<?x2x?x32xbf16>, %v: tensor<?x2x?x16xbf16>)
    -> (tensor<?x4x?x16xbf16>, tensor<?x4x?xf32>, tensor<?x2x?x32xf32>) {
  %o, %lse = sparse_attn.attention %q, %k, %v {mask = #sparse_attn.causal}
      : tensor<?x4x?x32xbf16>, tensor<?x2x?x32xbf16>, tensor<?x2x?x16xbf16> -> tensor<?x4x?x16xbf16>, tensor<?x4x?xf32>
  %kp = sparse_attn.pool mean %k {block = 16} : tensor<?x2x?x32xbf16> -> tensor<?x2x?x32xf32>
  return %o, %lse, %kp : tensor<?x4x?x16xbf16>, tensor<?x4x?xf32>, tensor<?x2x?x32xf32>
}
"""

BLOCK_SPARSE = """
func.func @f(%q: tensor<1x16x?x128xbf16>, %k: tensor<1x16x?x128xbf16>, %v: tensor<1x16x?x128xbf16>,
             %num: tensor<1x1x?xi32>, %idx: tensor<1x1x?x?xi32>) -> (tensor<1x16x?x128xbf16>, tensor<1x16x?xf32>) {
  %o, %lse = sparse_attn.block_sparse_attention %q, %k, %v, %num, %idx {block = [128, 128], mask = #sparse_attn.causal}
      : tensor<1x16x?x128xbf16>, tensor<1x16x?x128xbf16>, tensor<1x16x?x128xbf16>, tensor<1x1x?xi32>, tensor<1x1x?x?xi32>
     -> tensor<1x16x?x128xbf16>, tensor<1x16x?xf32>
  return %o, %lse : tensor<1x16x?x128xbf16>, tensor<1x16x?xf32>
}
"""

# The same with full(...) lists (a second pair of block lists).
BLOCK_SPARSE_FULL = BLOCK_SPARSE.replace(
    "%idx: tensor<1x1x?x?xi32>)",
    "%idx: tensor<1x1x?x?xi32>, %fnum: tensor<1x1x?xi32>, %fidx: tensor<1x1x?x?xi32>)").replace(
    "%num, %idx {block",
    "%num, %idx full(%fnum, %fidx : tensor<1x1x?xi32>, tensor<1x1x?x?xi32>) {block")


def main():
    for chip in ("sm_80", "sm_90"):
        artifact = sparse_attn.compile_gpu(TEXT, "f", chip)
        plan = artifact.plan
        assert plan["version"] == 1 and plan["function"] == "f" and plan["chip"] == chip, plan
        kinds = [b["kind"] for b in plan["buffers"]]
        assert kinds[:3] == ["input"] * 3, kinds
        assert [b["dtype"] for b in plan["buffers"][:3]] == ["bf16"] * 3
        assert len(plan["outputs"]) == 3, plan["outputs"]
        for buffer_id in plan["outputs"]:
            assert plan["buffers"][buffer_id]["kind"] == "output"
        assert plan["launches"], "no kernel launches"
        assert [l["config"] is not None for l in plan["launches"]].count(True) == 1, plan["launches"]
        for launch in plan["launches"]:
            assert launch["module"] in artifact.modules, launch["module"]
            assert f".target {chip}" in artifact.modules[launch["module"]]
            assert f".entry {launch['kernel']}(" in artifact.modules[launch["module"]]
            # The attention (bf16, head dims 32/16) runs on the tensor-core
            # kernel, which records its configuration; pool's general-path
            # kernel records none.
            config = launch["config"]
            assert config is None or config["mma"] == "mma.sync", config
            for arg in launch["args"]:
                if arg["kind"] == "memref":
                    assert len(arg["sizes"]) == len(arg["strides"])
                    assert 0 <= arg["buffer"] < len(plan["buffers"])
        # The output shapes follow the inputs': out [B, 4, Sq, 16].
        dims = [[2, 4, 37, 32], [2, 2, 50, 32], [2, 2, 50, 16]]
        out = plan["buffers"][plan["outputs"][0]]
        shape = [runtime.evaluate(e, dims) for e in out["shape"]]
        assert shape == [2, 4, 37, 16], shape
        # The shape rules dynamic dims hide become checks the runtime makes
        # before any launch: consistent extents pass, a batch mismatch fails.
        assert plan["checks"], "no shape checks in the plan"
        assert all(runtime.evaluate(check["condition"], dims) for check in plan["checks"])
        bad = [[2, 4, 37, 32], [3, 2, 50, 32], [3, 2, 50, 16]]
        failing = [check["message"] for check in plan["checks"]
                   if not runtime.evaluate(check["condition"], bad)]
        assert any("batch sizes" in message for message in failing), failing
        pooled = plan["buffers"][plan["outputs"][2]]
        assert [runtime.evaluate(e, dims) for e in pooled["shape"]] == [2, 2, 4, 32]
        with tempfile.TemporaryDirectory() as tmp:
            artifact.save(tmp)
            manifest = json.load(open(os.path.join(tmp, "manifest.json")))
            for name, filename in manifest["ptx"].items():
                assert os.path.exists(os.path.join(tmp, filename)), filename
            assert all("config" in launch for launch in manifest["launches"])
            assert runtime.load(tmp).manifest["function"] == "f"
    # sm_90a: block-sparse attention on bf16 takes the wgmma kernel, at the
    # pipeline's default shape or at one passed through `options`.
    for options, threads in (("", 256), ("nvgpu-options={block-q=64}", 128)):
        artifact = sparse_attn.compile_gpu(BLOCK_SPARSE, "f", "sm_90a", options)
        (launch,) = artifact.plan["launches"]
        ptx = artifact.modules[launch["module"]]
        assert ".target sm_90a" in ptx and "wgmma.mma_async.sync.aligned.m64n128k16" in ptx
        assert "ldmatrix" not in ptx
        assert [runtime.evaluate(e, [[1, 16, 512, 128]] * 3 + [[1, 1, 4], [1, 1, 4, 4]])
                for e in launch["block"]] == [threads, 1, 1], (options, launch["block"])
        # Head dim 128, 128-row blocks: two blocks per multiprocessor, so
        # the registers are capped at 128.
        assert (".maxnreg 128" in ptx) == (threads == 256), options
        # The kernel's configuration travels with the plan (and the manifest).
        config = launch["config"]
        assert artifact.configs == [config]
        assert config["mma"] == "wgmma" and config["warps"] * 32 == threads, config
        assert config["block_q"] == (64 if options else 128), config
    # Full lists: seven inputs, one kernel that vets both lists (a second
    # ballot counts the kept full blocks).
    artifact = sparse_attn.compile_gpu(BLOCK_SPARSE_FULL, "f", "sm_90a")
    inputs = [b for b in artifact.plan["buffers"] if b["kind"] == "input"]
    assert len(inputs) == 7, len(inputs)
    (launch,) = artifact.plan["launches"]
    assert artifact.modules[launch["module"]].count("vote.sync.ballot.b32") >= 2
    # attention on bf16 (static lengths here): the same kernel, walking each
    # query tile's key range under the mask: no block lists, no constants.
    attention = """
func.func @f(%q: tensor<1x8x1000x128xbf16>, %k: tensor<1x2x1000x128xbf16>) -> (tensor<1x8x1000x128xbf16>, tensor<1x8x1000xf32>) {
  %o, %lse = sparse_attn.attention %q, %k, %k {mask = #sparse_attn.causal}
      : tensor<1x8x1000x128xbf16>, tensor<1x2x1000x128xbf16>, tensor<1x2x1000x128xbf16> -> tensor<1x8x1000x128xbf16>, tensor<1x8x1000xf32>
  return %o, %lse : tensor<1x8x1000x128xbf16>, tensor<1x8x1000xf32>
}
"""
    artifact = sparse_attn.compile_gpu(attention, "f", "sm_90a")
    (launch,) = artifact.plan["launches"]
    assert "wgmma.mma_async" in artifact.modules[launch["module"]]
    assert launch["config"]["mma"] == "wgmma", launch["config"]
    kinds = [b["kind"] for b in artifact.plan["buffers"]]
    assert kinds.count("constant") == 0 and kinds.count("input") == 2, kinds
    # Bad pipeline options, the conversion's among them, are a ValueError
    # that says why, raised before anything is compiled.
    for options, why in (("mma-block-q=64", "no such option mma-block-q"),
                         ("nvgpu-options", "requires a value"),
                         ("nvgpu-options={block-q=abc}", "'abc' value invalid"),
                         ("nvgpu-options={bogus=1}", "no such option bogus"),
                         ("nvgpu-options={chip=sm_80}", "set chip on the pipeline"),
                         ("nvgpu-options={block-q=-1 block-kv=-64}", "got block-q = -1, block-kv = -64"),
                         ("nvgpu-options={warpgroup-rows=3}", "warpgroup-rows must be"),
                         ("nvgpu-options={blocks-per-sm=3}", "blocks-per-sm must be"),
                         ("nvgpu-options={items-per-block=0}", "items-per-block must be 1 to 8"),
                         ("tensor-cores=maybe", "invalid value for boolean"),
                         ("tensor-core-attention=true", "no such option tensor-core-attention"),
                         ("bogus=1", "no such option bogus")):
        try:
            sparse_attn.compile_gpu(BLOCK_SPARSE, "f", "sm_90a", options)
            raise AssertionError("expected ValueError")
        except ValueError as e:
            assert "bad pipeline options" in str(e) and why in str(e), e
    # A bad function name is a ValueError; bad IR an MLIRError.
    try:
        sparse_attn.compile_gpu(TEXT, "g")
        raise AssertionError("expected ValueError")
    except ValueError as e:
        assert "@g" in str(e), e
    try:
        sparse_attn.compile_gpu("func.func @f() { %x = }", "f")
        raise AssertionError("expected MLIRError")
    except sparse_attn.MLIRError as e:
        assert "<input>:1" in str(e), e
    # The command-line form writes the same directory.
    import subprocess  # noqa: PLC0415
    tool = os.path.join(os.path.dirname(__file__), "..", "..", "tools", "compile_gpu.py")
    with tempfile.TemporaryDirectory() as tmp:
        source = os.path.join(tmp, "f.mlir")
        with open(source, "w") as f:
            f.write(TEXT)
        done = subprocess.run([sys.executable, tool, source, "f", os.path.join(tmp, "out"),
                               "--chip", "sm_80"], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        manifest = json.load(open(os.path.join(tmp, "out", "manifest.json")))
        assert manifest["chip"] == "sm_80" and manifest["function"] == "f"
        missing = subprocess.run([sys.executable, tool, source, "g", os.path.join(tmp, "o2")],
                                 capture_output=True, text=True)
        assert missing.returncode == 1 and "@g" in missing.stderr, missing.stderr
    print("compile_gpu: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
