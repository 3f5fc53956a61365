"""Pure-Python GPU runtime: runs a ``GPUArtifact`` directory on a machine
with a CUDA driver and no MLIR (nor the compiled extension).

    fn = sparse_attn.runtime.load("artifacts/attention")
    out, lse = fn(q, k, v)          # torch CUDA tensors in, torch tensors out

The PTX is loaded through the CUDA driver API (ctypes on libcuda); inputs
are checked (count, dtype, rank, static extents, device, contiguity) before
any launch; intermediates and outputs are allocated with torch on the
inputs' device; kernels are launched in order on torch's current stream.
"""

import ctypes
import json
import os

# Element types of the plan -> torch dtype names.
_TORCH_DTYPES = {
    "f32": "float32", "f16": "float16", "bf16": "bfloat16", "f64": "float64",
    "i32": "int32", "i64": "int64", "i16": "int16", "i8": "int8", "i1": "bool",
}


class CudaError(RuntimeError):
    """A CUDA driver call failed; the message holds the driver's text."""


class _Driver:
    """The few driver entry points the runtime uses."""

    def __init__(self):
        for name in ("libcuda.so.1", "libcuda.so"):
            try:
                self.lib = ctypes.CDLL(name)
                break
            except OSError:
                continue
        else:
            raise CudaError("libcuda.so (the CUDA driver) could not be loaded")
        self.check(self.lib.cuInit(0), "cuInit")

    def check(self, status, what):
        if status != 0:
            text = ctypes.c_char_p()
            self.lib.cuGetErrorString(status, ctypes.byref(text))
            message = text.value.decode() if text.value else f"error {status}"
            raise CudaError(f"{what} failed: {message}")

    def load_module(self, ptx):
        module = ctypes.c_void_p()
        data = ctypes.c_char_p(ptx.encode() + b"\0")
        self.check(self.lib.cuModuleLoadData(ctypes.byref(module), data), "cuModuleLoadData")
        return module

    def get_function(self, module, name):
        function = ctypes.c_void_p()
        self.check(self.lib.cuModuleGetFunction(ctypes.byref(function), module,
                                                name.encode()), f"cuModuleGetFunction({name})")
        return function

    def static_shared_memory(self, function):
        # CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES: the kernel's static shared
        # memory, which counts against the 48 KiB without opt-in too.
        value = ctypes.c_int(0)
        self.check(self.lib.cuFuncGetAttribute(ctypes.byref(value), ctypes.c_int(1), function),
                   "cuFuncGetAttribute(static shared memory)")
        return value.value

    def set_dynamic_shared_memory(self, function, size):
        # CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES: above 48 KiB a
        # kernel must opt in before its launch.
        self.check(self.lib.cuFuncSetAttribute(function, ctypes.c_int(8), ctypes.c_int(size)),
                   f"cuFuncSetAttribute(max dynamic shared memory = {size})")
        # CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT: all of the
        # unified L1/shared memory as shared memory, so that as many such
        # blocks as fit run on each multiprocessor (the kernels' copies
        # bypass L1).
        self.check(self.lib.cuFuncSetAttribute(function, ctypes.c_int(9), ctypes.c_int(100)),
                   "cuFuncSetAttribute(preferred shared memory carveout = 100)")

    def launch(self, function, grid, block, shared_memory, stream, params):
        self.check(self.lib.cuLaunchKernel(
            function, ctypes.c_uint(grid[0]), ctypes.c_uint(grid[1]), ctypes.c_uint(grid[2]),
            ctypes.c_uint(block[0]), ctypes.c_uint(block[1]), ctypes.c_uint(block[2]),
            ctypes.c_uint(shared_memory), ctypes.c_void_p(stream), params, None),
            "cuLaunchKernel")


_DRIVER = None


def _driver():
    global _DRIVER
    if _DRIVER is None:
        _DRIVER = _Driver()
    return _DRIVER


def _ceildiv(a, b):
    return -(-a // b)


_OPS = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
    "floordiv": lambda a, b: a // b, "ceildiv": _ceildiv,
    "mod": lambda a, b: a % b, "min": min, "max": max,
    "select": lambda c, a, b: a if c else b,
    "and": lambda a, b: a & b, "or": lambda a, b: a | b, "xor": lambda a, b: a ^ b,
    "cmp_eq": lambda a, b: a == b, "cmp_ne": lambda a, b: a != b,
    "cmp_slt": lambda a, b: a < b, "cmp_sle": lambda a, b: a <= b,
    "cmp_sgt": lambda a, b: a > b, "cmp_sge": lambda a, b: a >= b,
    "cmp_ult": lambda a, b: a < b, "cmp_ule": lambda a, b: a <= b,
    "cmp_ugt": lambda a, b: a > b, "cmp_uge": lambda a, b: a >= b,
}


# Value ranges of integer kernel arguments, and widths of float bit patterns.
_INT_RANGES = {"index": 64, "i64": 64, "i32": 32, "i16": 16, "i8": 8}
_FLOAT_BITS = {"f32": 32, "f64": 64, "f16": 16, "bf16": 16}
_SCALAR_TYPES = set(_INT_RANGES) | set(_FLOAT_BITS) | {"i1"}
_BUFFER_KINDS = ("input", "intermediate", "output", "constant")
_ARITY = {name: 3 if name == "select" else 2 for name in _OPS}
# Plan expressions nest this deep at most (the compiler's are shallow).
_MAX_EXPR_DEPTH = 256


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


class _ManifestChecker:
    """Checks a manifest against the launch plan's schema (docs/runtime.md)
    before anything uses it; raises ValueError naming the offending field."""

    def __init__(self, manifest, directory):
        self.manifest = manifest
        self.directory = directory

    def fail(self, where, why):
        raise ValueError(f"bad artifact manifest: {where}: {why}")

    def field(self, obj, key, where, kind):
        if not isinstance(obj, dict) or key not in obj:
            self.fail(where, f"missing '{key}'")
        value = obj[key]
        ok = {"int": _is_int(value), "str": isinstance(value, str),
              "list": isinstance(value, list), "dict": isinstance(value, dict)}[kind]
        if not ok:
            self.fail(f"{where}.{key}", f"expected {kind}, got {type(value).__name__}")
        return value

    def expr(self, e, where, depth=0):
        if depth > _MAX_EXPR_DEPTH:
            self.fail(where, f"expression nested over {_MAX_EXPR_DEPTH} deep")
        if not isinstance(e, dict):
            self.fail(where, f"expected an expression object, got {type(e).__name__}")
        if "const" in e:
            if not _is_int(e["const"]):
                self.fail(f"{where}.const", "expected an integer")
            return
        if "dim" in e:
            dim = e["dim"]
            if not (isinstance(dim, list) and len(dim) == 2 and all(_is_int(x) for x in dim)):
                self.fail(f"{where}.dim", "expected [input, dim]")
            argument, d = dim
            if not 0 <= argument < len(self.inputs) or not 0 <= d < len(self.inputs[argument]["shape"]):
                self.fail(f"{where}.dim", f"no dim {d} of input {argument}")
            return
        op = e.get("op")
        if op not in _OPS:
            self.fail(f"{where}.op", f"unknown operator {op!r}")
        args = self.field(e, "args", where, "list")
        if len(args) != _ARITY[op]:
            self.fail(f"{where}.args", f"{op} takes {_ARITY[op]} operands, got {len(args)}")
        for n, a in enumerate(args):
            self.expr(a, f"{where}.args[{n}]", depth + 1)

    def exprs(self, obj, key, where, count=None):
        values = self.field(obj, key, where, "list")
        if count is not None and len(values) != count:
            self.fail(f"{where}.{key}", f"expected {count} entries, got {len(values)}")
        for n, e in enumerate(values):
            self.expr(e, f"{where}.{key}[{n}]")
        return values

    def check(self):
        m = self.manifest
        if not isinstance(m, dict):
            self.fail("manifest", "expected an object")
        if m.get("version") != 1:
            self.fail("version", f"expected 1, got {m.get('version')!r}")
        self.field(m, "function", "manifest", "str")
        buffers = self.field(m, "buffers", "manifest", "list")
        ids, inputs = set(), {}
        for n, b in enumerate(buffers):
            where = f"buffers[{n}]"
            ident = self.field(b, "id", where, "int")
            if ident in ids:
                self.fail(f"{where}.id", f"duplicate buffer id {ident}")
            ids.add(ident)
            kind = self.field(b, "kind", where, "str")
            if kind not in _BUFFER_KINDS:
                self.fail(f"{where}.kind", f"unknown kind {kind!r}")
            dtype = self.field(b, "dtype", where, "str")
            if dtype not in _TORCH_DTYPES:
                self.fail(f"{where}.dtype", f"unknown dtype {dtype!r}")
            self.field(b, "shape", where, "list")
            if kind == "input":
                index = self.field(b, "input", where, "int")
                if index in inputs:
                    self.fail(f"{where}.input", f"input {index} appears twice")
                inputs[index] = b
            if kind == "constant":
                data = self.field(b, "data", where, "list")
                if not all(_is_int(x) for x in data):
                    self.fail(f"{where}.data", "expected integers")
        if sorted(inputs) != list(range(len(inputs))):
            self.fail("buffers", f"inputs {sorted(inputs)} are not 0..{len(inputs) - 1}")
        self.inputs = [inputs[i] for i in range(len(inputs))]
        for n, b in enumerate(buffers):
            self.exprs(b, "shape", f"buffers[{n}]")
        for n, c in enumerate(m.get("checks", [])):
            self.expr(self.field(c, "condition", f"checks[{n}]", "dict"), f"checks[{n}].condition")
            self.field(c, "message", f"checks[{n}]", "str")
        ptx = self.field(m, "ptx", "manifest", "dict")
        for name, filename in ptx.items():
            # Plain names inside the artifact: no path may leave it.
            if (not isinstance(filename, str) or not filename or filename in (".", "..")
                    or os.path.basename(filename) != filename or "\\" in filename):
                self.fail(f"ptx.{name}", f"{filename!r} is not a file name inside the artifact")
        for n, launch in enumerate(self.field(m, "launches", "manifest", "list")):
            where = f"launches[{n}]"
            module = self.field(launch, "module", where, "str")
            if module not in ptx:
                self.fail(f"{where}.module", f"no PTX for module {module!r}")
            self.field(launch, "kernel", where, "str")
            self.exprs(launch, "grid", where, 3)
            self.exprs(launch, "block", where, 3)
            self.expr(self.field(launch, "shared_memory", where, "dict"), f"{where}.shared_memory")
            for k, arg in enumerate(self.field(launch, "args", where, "list")):
                self.argument(arg, f"{where}.args[{k}]", ids)
        for n, output in enumerate(self.field(m, "outputs", "manifest", "list")):
            where = f"outputs[{n}]"
            if isinstance(output, dict):
                # A view of a buffer (the function returns a reshape of it).
                if self.field(output, "buffer", where, "int") not in ids:
                    self.fail(f"{where}.buffer", f"no buffer {output['buffer']!r}")
                self.expr(self.field(output, "offset", where, "dict"), f"{where}.offset")
                sizes = self.exprs(output, "sizes", where)
                self.exprs(output, "strides", where, len(sizes))
            elif _is_int(output):
                if output not in ids:
                    self.fail(where, f"no buffer {output!r}")
            else:
                self.fail(where, f"expected a buffer id or a view, got {type(output).__name__}")

    def argument(self, arg, where, ids):
        kind = self.field(arg, "kind", where, "str")
        if kind == "memref":
            if self.field(arg, "buffer", where, "int") not in ids:
                self.fail(f"{where}.buffer", f"no buffer {arg['buffer']}")
            self.expr(self.field(arg, "offset", where, "dict"), f"{where}.offset")
            sizes = self.exprs(arg, "sizes", where)
            self.exprs(arg, "strides", where, len(sizes))
        elif kind == "scalar":
            kind = self.field(arg, "type", where, "str")
            if kind not in _SCALAR_TYPES:
                self.fail(f"{where}.type", f"unknown scalar type {kind!r}")
            if "bits" in arg:
                bits = arg["bits"]
                if kind not in _FLOAT_BITS or not _is_int(bits) or not 0 <= bits < 2 ** _FLOAT_BITS[kind]:
                    self.fail(f"{where}.bits", f"not a {kind} bit pattern: {bits!r}")
            else:
                self.expr(self.field(arg, "expr", where, "dict"), f"{where}.expr")
        else:
            self.fail(f"{where}.kind", f"unknown argument kind {kind!r}")


def evaluate(expr, dims):
    """The value of a plan expression given the inputs' extents
    (``dims[input][d]``)."""
    if "const" in expr:
        return expr["const"]
    if "dim" in expr:
        argument, d = expr["dim"]
        return dims[argument][d]
    args = [evaluate(a, dims) for a in expr["args"]]
    return _OPS[expr["op"]](*args)


class GPUFunction:
    """A loaded artifact; call it with the function's arguments."""

    def __init__(self, directory):
        with open(os.path.join(directory, "manifest.json")) as f:
            try:
                self.manifest = json.load(f)
            except json.JSONDecodeError as error:
                raise ValueError(f"bad artifact manifest: not JSON: {error}") from None
        _ManifestChecker(self.manifest, directory).check()
        self.directory = directory
        self.inputs = sorted((b for b in self.manifest["buffers"] if b["kind"] == "input"),
                             key=lambda b: b["input"])
        self._functions = None
        self._shared_limits = {}  # kernel -> dynamic shared memory it may use as is

    def _load(self):
        driver = _driver()
        modules = {}
        for name, filename in self.manifest["ptx"].items():
            with open(os.path.join(self.directory, filename)) as f:
                modules[name] = driver.load_module(f.read())
        self._modules = modules
        self._functions = {
            (l["module"], l["kernel"]): driver.get_function(modules[l["module"]], l["kernel"])
            for l in self.manifest["launches"]}

    def _check_inputs(self, args, torch):
        if len(args) != len(self.inputs):
            raise ValueError(f"{self.manifest['function']} takes {len(self.inputs)} "
                             f"arguments, got {len(args)}")
        device = None
        for position, (tensor, spec) in enumerate(zip(args, self.inputs)):
            want = getattr(torch, _TORCH_DTYPES[spec["dtype"]])
            if not isinstance(tensor, torch.Tensor):
                raise ValueError(f"argument {position}: expected a torch tensor, got "
                                 f"{type(tensor).__name__}")
            if not tensor.is_cuda:
                raise ValueError(f"argument {position}: expected a CUDA tensor, got one "
                                 f"on {tensor.device}")
            if device is None:
                device = tensor.device
            elif tensor.device != device:
                raise ValueError(f"argument {position}: on {tensor.device}, the others "
                                 f"on {device}")
            if tensor.dtype != want:
                raise ValueError(f"argument {position}: expected {want}, got {tensor.dtype}")
            if tensor.dim() != len(spec["shape"]):
                raise ValueError(f"argument {position}: expected rank "
                                 f"{len(spec['shape'])}, got shape {tuple(tensor.shape)}")
            for d, extent in enumerate(spec["shape"]):
                if "const" in extent and tensor.shape[d] != extent["const"]:
                    raise ValueError(f"argument {position}: dim {d} must be "
                                     f"{extent['const']}, got shape {tuple(tensor.shape)}")
            if not tensor.is_contiguous():
                raise ValueError(f"argument {position}: must be contiguous")
        return device

    def __call__(self, *args, fill_outputs=None):
        """Runs the function; returns its results (torch tensors). With
        ``fill_outputs`` (e.g. float("nan")), outputs are filled with it
        before the launches, so an element no kernel writes shows."""
        import torch  # noqa: PLC0415  (only the GPU machine has it)
        device = self._check_inputs(args, torch)
        if device is None:  # no inputs: the current CUDA device
            device = torch.device("cuda", torch.cuda.current_device())
        dims = [list(t.shape) for t in args]
        # Shape rules the compiler could not check (dynamic extents that must
        # agree), checked before anything is allocated or launched.
        for check in self.manifest.get("checks", []):
            if not evaluate(check["condition"], dims):
                raise ValueError(check["message"])
        tensors = {}
        for buffer in self.manifest["buffers"]:
            if buffer["kind"] == "input":
                tensors[buffer["id"]] = args[buffer["input"]]
                continue
            shape = [evaluate(e, dims) for e in buffer["shape"]]
            if any(extent < 0 for extent in shape):
                raise ValueError(f"buffer {buffer['id']} would have shape {shape}: the "
                                 "inputs' extents are inconsistent")
            dtype = getattr(torch, _TORCH_DTYPES[buffer["dtype"]])
            if buffer["kind"] == "constant":
                tensors[buffer["id"]] = self._constant(buffer, shape, torch, device)
                continue
            tensor = torch.empty(shape, dtype=dtype, device=device)
            if fill_outputs is not None and buffer["kind"] == "output" and dtype.is_floating_point:
                tensor.fill_(fill_outputs)
            tensors[buffer["id"]] = tensor
        with torch.cuda.device(device):
            if self._functions is None:
                # Makes the device's primary context current on this thread
                # (a function without inputs has not touched the GPU yet).
                torch.cuda.synchronize(device)
                self._load()
            stream = torch.cuda.current_stream().cuda_stream
            for launch in self.manifest["launches"]:
                grid = [evaluate(e, dims) for e in launch["grid"]]
                block = [evaluate(e, dims) for e in launch["block"]]
                if min(grid) <= 0 or min(block) <= 0:
                    continue
                values = []
                for arg in launch["args"]:
                    values.extend(self._pack(arg, tensors, dims))
                params = (ctypes.c_void_p * len(values))(
                    *[ctypes.cast(ctypes.pointer(v), ctypes.c_void_p) for v in values])
                function = self._functions[(launch["module"], launch["kernel"])]
                shared_memory = evaluate(launch["shared_memory"], dims)
                limit = self._shared_limits.get(function.value)
                if limit is None:
                    # Dynamic shared memory that fits without opting in.
                    limit = 48 * 1024 - _driver().static_shared_memory(function)
                    self._shared_limits[function.value] = limit
                if shared_memory > limit:
                    _driver().set_dynamic_shared_memory(function, shared_memory)
                    self._shared_limits[function.value] = shared_memory
                _driver().launch(function, grid, block, shared_memory, stream, params)
        results = []
        for output in self.manifest["outputs"]:
            if not isinstance(output, dict):
                results.append(tensors[output])
                continue
            results.append(torch.as_strided(
                tensors[output["buffer"]],
                [evaluate(e, dims) for e in output["sizes"]],
                [evaluate(e, dims) for e in output["strides"]],
                evaluate(output["offset"], dims)))
        return results

    def _constant(self, buffer, shape, torch, device):
        """A folded constant of the plan (integers as values, floats as the
        bits of their type), uploaded once per device."""
        cache = self.__dict__.setdefault("_constants", {})
        key = (buffer["id"], str(device))
        if key not in cache:
            dtype = getattr(torch, _TORCH_DTYPES[buffer["dtype"]])
            if dtype.is_floating_point:
                bits = {"f32": torch.int32, "f64": torch.int64}.get(buffer["dtype"], torch.int16)
                values = torch.tensor(buffer["data"], dtype=torch.int64).to(bits).view(dtype)
            else:
                values = torch.tensor(buffer["data"], dtype=torch.int64).to(dtype)
            cache[key] = values.reshape(shape).to(device)
        # A returned constant is the caller's: give it a copy.
        return cache[key].clone()

    @staticmethod
    def _pack(arg, tensors, dims):
        """The kernel parameters of one argument (a memref becomes its
        descriptor: allocated and aligned pointers, offset, sizes, strides)."""
        if arg["kind"] == "memref":
            pointer = tensors[arg["buffer"]].data_ptr()
            fields = [ctypes.c_void_p(pointer), ctypes.c_void_p(pointer),
                      ctypes.c_int64(evaluate(arg["offset"], dims))]
            fields += [ctypes.c_int64(evaluate(e, dims)) for e in arg["sizes"]]
            fields += [ctypes.c_int64(evaluate(e, dims)) for e in arg["strides"]]
            return fields
        kind = arg["type"]
        if "bits" in arg:
            return [ctypes.c_uint32(arg["bits"]) if kind == "f32" else
                    ctypes.c_uint64(arg["bits"]) if kind == "f64" else
                    ctypes.c_uint16(arg["bits"])]
        value = evaluate(arg["expr"], dims)
        if kind == "i1":
            return [ctypes.c_uint8(1 if value else 0)]
        # Range-checked, never truncated.
        width = _INT_RANGES.get(kind)
        if width is not None:
            if not -(2 ** (width - 1)) <= value < 2 ** (width - 1):
                raise ValueError(f"kernel argument {value} does not fit {kind}")
            return [{64: ctypes.c_int64, 32: ctypes.c_int32, 16: ctypes.c_int16,
                     8: ctypes.c_int8}[width](value)]
        raise ValueError(f"unsupported kernel argument type {kind}")


def load(directory):
    """Loads a saved GPUArtifact directory; returns a callable."""
    return GPUFunction(directory)
