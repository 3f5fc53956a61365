//===- ChipInfo.cpp - what the lowerings know of a GPU --------------------===//
//
// The chip table and the occupancy arithmetic.
//
//===----------------------------------------------------------------------===//

#include "SparseAttn/Utils/ChipInfo.h"

#include <algorithm>

using namespace mlir;
using namespace mlir::sparse_attn;

std::optional<ChipInfo> sparse_attn::getChipInfo(StringRef chip) {
  if (chip == "sm_80")
    return ChipInfo{"sm_80", 163 * 1024, 2,     /*warpgroupMma=*/false,
                    164 * 1024,  1024,      65536, /*multiprocessors=*/108};
  if (chip == "sm_90")
    return ChipInfo{"sm_90", 227 * 1024, 3, /*warpgroupMma=*/false, 228 * 1024};
  if (chip == "sm_90a")
    return ChipInfo{"sm_90a", 227 * 1024, 3, /*warpgroupMma=*/true, 228 * 1024};
  return std::nullopt;
}

StringRef sparse_attn::getKnownChipNames() { return "sm_80, sm_90 or sm_90a"; }

int64_t sparse_attn::getBlocksPerSM(const ChipInfo &chip, int64_t sharedBytes,
                                    int64_t limit) {
  int64_t perBlock = sharedBytes + chip.reservedSharedMemoryPerBlock;
  return std::clamp<int64_t>(chip.sharedMemoryPerSM / perBlock, 1, limit);
}

int64_t sparse_attn::getRegisterCap(const ChipInfo &chip, int64_t threads,
                                    int64_t blocks) {
  int64_t cap = chip.registersPerSM / (threads * blocks) / 8 * 8;
  return cap >= 255 ? 0 : cap;
}
