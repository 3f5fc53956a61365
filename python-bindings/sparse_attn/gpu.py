"""GPU artifacts: compile a function to PTX kernels and a launch plan.

``compile_gpu(text, func_name, chip="sm_90")`` needs the compiled
extension; the ``GPUArtifact`` it returns saves a directory that
``sparse_attn.runtime.load`` runs on a machine without MLIR:

* ``manifest.json``: the launch plan (buffers with their dtypes and shapes
  as expressions of the inputs' extents, kernel launches in order with
  grid/block sizes and arguments; see ``docs/runtime.md``) plus the PTX file
  of each kernel module;
* ``<module>.ptx``: one per kernel module.
"""

import json
import os


class GPUArtifact:
    """PTX kernels and the launch plan of one function."""

    def __init__(self, plan, modules):
        self.plan = plan
        self.modules = dict(modules)

    @property
    def kernels(self):
        """Kernel launches in order: (module, kernel) names."""
        return [(launch["module"], launch["kernel"]) for launch in self.plan["launches"]]

    @property
    def configs(self):
        """Kernel launches in order: the configuration of each tensor-core
        kernel as convert-sparse-attn-to-nvgpu chose it (a dict: mma,
        block_q, block_kv, warps, row_tiles, items_per_block, blocks_per_sm,
        stages, shared_memory_bytes), None for the general path's kernels."""
        return [launch.get("config") for launch in self.plan["launches"]]

    def save(self, directory):
        """Writes manifest.json and one .ptx per kernel module the function
        launches; returns the directory."""
        os.makedirs(directory, exist_ok=True)
        files = {}
        # Only the kernels the function launches: the module may hold
        # other functions' kernels.
        launched = {launch["module"] for launch in self.plan["launches"]}
        for name, ptx in self.modules.items():
            if name not in launched:
                continue
            files[name] = f"{name}.ptx"
            with open(os.path.join(directory, files[name]), "w") as f:
                f.write(ptx)
        manifest = dict(self.plan, ptx=files)
        with open(os.path.join(directory, "manifest.json"), "w") as f:
            json.dump(manifest, f, indent=1, sort_keys=True)
        return directory


def compile_gpu(native, text, func_name, chip="sm_90", options=""):
    result = native.compile_gpu(text, func_name, chip, options)
    return GPUArtifact(json.loads(result["plan"]), result["modules"])
