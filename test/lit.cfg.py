# -*- Python -*-
# lit configuration of the sparse-attn regression suite.

import os

import lit.formats
from lit.llvm import llvm_config
from lit.llvm.subst import ToolSubst

config.name = "SPARSE_ATTN"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test", ".c"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.sparse_attn_obj_root, "test")
config.excludes = ["CMakeLists.txt", "README.md", "lit.cfg.py", "lit.site.cfg.py"]

config.substitutions.append(("%PATH%", config.environment["PATH"]))
config.substitutions.append(("%sparse_attn_src_root", config.sparse_attn_src_root))
# %python: the interpreter CMake was configured with (Debian's, with numpy).
# In a sanitizer build (make check-sanitizers) it runs with the ASan runtime
# preloaded, which the instrumented bindings need; leaks are not reported
# for Python (the interpreter keeps its objects alive at exit), but are for
# sparse-attn-opt.
config.python_command = '"%s"' % config.python_executable
if config.asan_runtime:
    config.python_command = 'env LD_PRELOAD="%s" ASAN_OPTIONS=detect_leaks=0:allow_user_poisoning=0 %s' % (
        config.asan_runtime,
        config.python_command,
    )
    # See tools/SanitizerDefaults.h (sparse-attn-opt sets the same itself).
    config.environment["ASAN_OPTIONS"] = "allow_user_poisoning=0"
    config.environment["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"
    config.available_features.add("sanitizers")
config.substitutions.append(("%python", config.python_command))

# %cmake_configure DIR BUILD: configure a CMake project as the project was
# (generator, compilers, build type, MLIR), for test/Integration.
config.substitutions.append(("%sparse_attn_obj_root", config.sparse_attn_obj_root))
config.substitutions.append(
    (
        "%cmake_configure",
        '"%s" -G "%s" -DCMAKE_MAKE_PROGRAM="%s" -DCMAKE_BUILD_TYPE="%s" '
        '-DCMAKE_C_COMPILER="%s" -DCMAKE_CXX_COMPILER="%s" -DMLIR_DIR="%s"'
        % (
            config.cmake_command,
            config.cmake_generator,
            config.cmake_make_program,
            config.cmake_build_type or "Release",
            config.c_compiler,
            config.cxx_compiler,
            config.mlir_dir,
        ),
    )
)

# (After %cmake_configure, which it prefixes.)
config.substitutions.append(("%cmake", '"%s"' % config.cmake_command))

llvm_config.with_system_environment(["HOME", "INCLUDE", "LIB", "TMP", "TEMP"])
llvm_config.use_default_substitutions()
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)

# Tools come from the build (ours) and from LLVM's bin directory (FileCheck, not).
config.sparse_attn_tools_dir = os.path.join(config.sparse_attn_obj_root, "bin")
tool_dirs = [config.sparse_attn_tools_dir, config.llvm_tools_dir]
tools = ["sparse-attn-opt", "sparse-attn-capi-test", "not", "count"]
llvm_config.add_tool_substitutions(tools, tool_dirs)
