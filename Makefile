# A thin wrapper over CMake + Ninja. `make run` and `make check` install what
# is missing (Debian 12 packages), configure and build incrementally into
# build/, then do their job.

LLVM_DIR      ?= /usr/lib/llvm-22
BUILD_DIR     ?= build
PYTHON        ?= /usr/bin/python3
CMAKE_BUILD_TYPE ?= Release
APT_PACKAGES  := llvm-22-dev llvm-22-tools libmlir-22-dev mlir-22-tools \
                 cmake ninja-build python3 python3-numpy pybind11-dev python3-dev
SUDO          := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
OPT           := $(BUILD_DIR)/bin/sparse-attn-opt

.PHONY: all deps configure build check check-sanitizers run docs format fuzz clean

all: build

# Installs only the packages that are missing, so a ready machine pays nothing.
deps:
	@missing=""; \
	for pkg in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$pkg 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing:$$missing"; \
	  $(SUDO) apt-get update && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y --no-install-recommends $$missing; \
	fi

$(BUILD_DIR)/build.ninja: CMakeLists.txt
	cmake -G Ninja -S . -B $(BUILD_DIR) \
	  -DCMAKE_BUILD_TYPE=$(CMAKE_BUILD_TYPE) \
	  -DMLIR_DIR=$(LLVM_DIR)/lib/cmake/mlir \
	  -DLLVM_DIR=$(LLVM_DIR)/lib/cmake/llvm \
	  -DPython3_EXECUTABLE=$(PYTHON) \
	  -DCMAKE_C_COMPILER=$(CC_FOR_BUILD) -DCMAKE_CXX_COMPILER=$(CXX_FOR_BUILD)

CC_FOR_BUILD  ?= gcc
CXX_FOR_BUILD ?= g++

configure: deps $(BUILD_DIR)/build.ninja

build: configure
	cmake --build $(BUILD_DIR) --target sparse-attn-opt mlir-doc sparse-attn-python

check: build
	cmake --build $(BUILD_DIR) --target check-sparse-attn

# The whole lit suite again over a second build with ASan + UBSan (GCC's
# runtime, asserts on, -O1 to keep the build short): CI runs both.
SAN_DIR       ?= build-sanitizers
check-sanitizers: deps
	@[ -f $(SAN_DIR)/build.ninja ] || cmake -G Ninja -S . -B $(SAN_DIR) \
	  -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE=-O1 -DCMAKE_C_FLAGS_RELEASE=-O1 \
	  -DSPARSE_ATTN_ENABLE_SANITIZERS=ON \
	  -DMLIR_DIR=$(LLVM_DIR)/lib/cmake/mlir -DLLVM_DIR=$(LLVM_DIR)/lib/cmake/llvm \
	  -DPython3_EXECUTABLE=$(PYTHON) -DCMAKE_C_COMPILER=$(CC_FOR_BUILD) -DCMAKE_CXX_COMPILER=$(CXX_FOR_BUILD)
	cmake --build $(SAN_DIR) --target check-sparse-attn

PTX_DIR       := $(BUILD_DIR)/ptx
PTX_CHIP      ?= sm_90

# Verifies and canonicalizes every example and prints the result, then
# compiles the NSA-style chain (pool, block_scores, select_topk,
# block_sparse_attention) to PTX kernels and says where they went.
run: build
	@for f in examples/*.mlir; do \
	  echo "// ===== $$f ====="; \
	  $(OPT) --canonicalize $$f || exit 1; \
	done
	@mkdir -p $(PTX_DIR)
	@$(OPT) examples/nsa.mlir --sparse-attn-to-ptx-pipeline="chip=$(PTX_CHIP)" \
	  -o $(PTX_DIR)/nsa.$(PTX_CHIP).mlir
	@$(PYTHON) tools/extract_ptx.py $(PTX_DIR)/nsa.$(PTX_CHIP).mlir $(PTX_DIR)/nsa.$(PTX_CHIP)

docs: build
	@echo "Op and attribute reference: $(BUILD_DIR)/docs/SparseAttn/"

# The libFuzzer target (tools/sparse-attn-fuzz) in its own build directory:
# clang 22, the project under ASan + UBSan; seeds from test/ and examples/,
# the dialect's keywords as a dictionary. Findings land in $(FUZZ_DIR)/crashes.
FUZZ_DIR      ?= build-fuzz
FUZZ_SECONDS  ?= 60
FUZZ_FLAGS    := -fsanitize=address,undefined -fsanitize=fuzzer-no-link \
                 -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g1
fuzz: deps
	@[ -x /usr/bin/clang++-22 ] && [ -f $(LLVM_DIR)/lib/clang/22/lib/linux/libclang_rt.fuzzer-x86_64.a ] || \
	  $(SUDO) apt-get install -y --no-install-recommends clang-22 libclang-rt-22-dev
	cmake -G Ninja -S . -B $(FUZZ_DIR) -DCMAKE_BUILD_TYPE=Release \
	  -DMLIR_DIR=$(LLVM_DIR)/lib/cmake/mlir -DLLVM_DIR=$(LLVM_DIR)/lib/cmake/llvm \
	  -DPython3_EXECUTABLE=$(PYTHON) -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 \
	  -DCMAKE_C_FLAGS="$(FUZZ_FLAGS)" -DCMAKE_CXX_FLAGS="$(FUZZ_FLAGS)" -DSPARSE_ATTN_ENABLE_FUZZER=ON
	cmake --build $(FUZZ_DIR) --target sparse-attn-fuzz
	$(PYTHON) tools/sparse-attn-fuzz/make_corpus.py $(FUZZ_DIR)/corpus
	@mkdir -p $(FUZZ_DIR)/crashes
	$(FUZZ_DIR)/bin/sparse-attn-fuzz $(FUZZ_DIR)/corpus -dict=tools/sparse-attn-fuzz/sparse_attn.dict \
	  -max_total_time=$(FUZZ_SECONDS) -timeout=120 -rss_limit_mb=4096 -print_final_stats=1 \
	  -artifact_prefix=$(FUZZ_DIR)/crashes/

# Formats the C++ sources with the .clang-format (LLVM style) of the
# project, with the clang-format of the LLVM release it builds against.
CLANG_FORMAT ?= clang-format-22
format:
	@command -v $(CLANG_FORMAT) >/dev/null || $(SUDO) apt-get install -y --no-install-recommends clang-format-22
	find include lib tools python-bindings/src -name '*.h' -o -name '*.cpp' | xargs $(CLANG_FORMAT) -i

clean:
	rm -rf $(BUILD_DIR)
