//===- ChipInfo.h - what the lowerings know of a GPU ------------*- C++ -*-===//
//
// The chip table (shared memory, pipeline stages, warpgroup products) and
// the occupancy arithmetic every GPU lowering of sparse_attn shares.
//
//===----------------------------------------------------------------------===//

#ifndef SPARSE_ATTN_UTILS_CHIPINFO_H
#define SPARSE_ATTN_UTILS_CHIPINFO_H

#include "mlir/Support/LLVM.h"
#include "llvm/ADT/StringRef.h"

#include <cstdint>
#include <optional>

namespace mlir::sparse_attn {

/// What the tiling and the kernels need to know of a GPU.
struct ChipInfo {
  StringRef name;
  /// Shared memory one thread block may use (the opt-in maximum).
  int64_t sharedMemoryPerBlock;
  /// Pipeline stages the chip's asynchronous copies make worthwhile.
  int64_t maxStages;
  /// Whether the target has warpgroup matrix products (wgmma: sm_90a).
  bool warpgroupMma = false;
  /// Shared memory of one multiprocessor, and what each resident thread
  /// block reserves of it besides its own.
  int64_t sharedMemoryPerSM = 0;
  int64_t reservedSharedMemoryPerBlock = 1024;
  /// 32-bit registers of one multiprocessor.
  int64_t registersPerSM = 65536;
  /// Multiprocessors of the chip's common part (A100: 108, H100/H200:
  /// 132): what a split of the keys aims to fill.
  int64_t multiprocessors = 132;
};

/// sm_80 (A100: 163 KB per block), sm_90 (H100/H200: 227 KB per block) and
/// sm_90a (sm_90 with the architecture-specific wgmma and setmaxnreg);
/// nullopt for another name.
std::optional<ChipInfo> getChipInfo(StringRef chip);

/// The chip names getChipInfo knows, for diagnostics.
StringRef getKnownChipNames();

/// How many thread blocks of `sharedBytes` dynamic shared memory one
/// multiprocessor holds, at most `limit` (at least 1).
int64_t getBlocksPerSM(const ChipInfo &chip, int64_t sharedBytes,
                       int64_t limit);

/// The per-thread register cap under which `blocks` thread blocks of
/// `threads` threads fit one multiprocessor (a multiple of 8), or 0 when the
/// hardware maximum of 255 already fits them.
int64_t getRegisterCap(const ChipInfo &chip, int64_t threads, int64_t blocks);

} // namespace mlir::sparse_attn

#endif // SPARSE_ATTN_UTILS_CHIPINFO_H
