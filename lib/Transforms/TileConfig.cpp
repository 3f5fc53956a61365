//===- TileConfig.cpp - tile sizes of attention kernels -------------------===//
//
// The shared-memory cost model of the attention tiles.
//
//===----------------------------------------------------------------------===//

#include "SparseAttn/Transforms/TileConfig.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/CheckedArithmetic.h"

#include <algorithm>
#include <limits>

using namespace mlir;
using namespace mlir::sparse_attn;

int64_t sparse_attn::getAttentionSharedMemoryBytes(
    int64_t blockQ, int64_t blockKv, int64_t stages, int64_t headDim,
    int64_t valueDim, int64_t elementBytes) {
  // Head dims come from static types and may be near 2^63: saturate.
  auto mul = [](std::optional<int64_t> a, std::optional<int64_t> b) {
    return a && b ? llvm::checkedMul(*a, *b) : std::nullopt;
  };
  auto add = [](std::optional<int64_t> a, std::optional<int64_t> b) {
    return a && b ? llvm::checkedAdd(*a, *b) : std::nullopt;
  };
  std::optional<int64_t> bytes =
      mul(elementBytes,
          add(mul(blockQ, headDim),
              mul(mul(stages, blockKv), add(headDim, valueDim))));
  return bytes.value_or(std::numeric_limits<int64_t>::max());
}

/// Candidate tile extents, largest first: tensor-core friendly multiples of
/// 16 rows.
static constexpr int64_t kTileCandidates[] = {128, 64, 32, 16};

/// The candidates for one tile dim, preferred first: the requested value;
/// for block-sparse attention the divisors of its block up to 128 (a tile
/// must not straddle blocks); otherwise every candidate down to the first
/// that covers a short static length.
static SmallVector<int64_t> tileChoices(std::optional<int64_t> block,
                                        int64_t requested,
                                        std::optional<int64_t> length) {
  if (requested > 0)
    return {requested};
  SmallVector<int64_t> choices;
  if (block) {
    for (int64_t divisor = std::min<int64_t>(*block, kTileCandidates[0]);
         divisor >= 1; --divisor)
      if (*block % divisor == 0)
        choices.push_back(divisor);
    return choices;
  }
  for (int64_t candidate : kTileCandidates) {
    // A smaller tile still covers the whole sequence: prefer it.
    if (length && candidate / 2 >= *length && candidate != kTileCandidates[3])
      continue;
    choices.push_back(candidate);
  }
  return choices;
}

FailureOr<AttentionTileConfig>
sparse_attn::chooseAttentionTile(const ChipInfo &chip,
                                 const AttentionTileProblem &problem,
                                 function_ref<InFlightDiagnostic()> emitError) {
  for (int64_t requested : {problem.requestedBlockQ, problem.requestedBlockKv,
                            problem.requestedStages})
    if (requested < 0)
      return emitError() << "tile sizes and stages must be positive, got "
                         << requested;
  if (problem.fixedBlockQ &&
      ((problem.requestedBlockQ &&
        *problem.fixedBlockQ % problem.requestedBlockQ) ||
       (problem.requestedBlockKv &&
        *problem.fixedBlockKv % problem.requestedBlockKv)))
    return emitError()
           << "block_sparse_attention tiles must divide its blocks ["
           << *problem.fixedBlockQ << ", " << *problem.fixedBlockKv
           << "], got block-q = " << problem.requestedBlockQ
           << " and block-kv = " << problem.requestedBlockKv;

  SmallVector<int64_t> stageChoices;
  if (problem.requestedStages > 0)
    stageChoices.push_back(problem.requestedStages);
  else
    for (int64_t stages = chip.maxStages; stages >= 1; --stages)
      stageChoices.push_back(stages);

  SmallVector<int64_t> queryChoices = tileChoices(
      problem.fixedBlockQ, problem.requestedBlockQ, problem.queryLen);
  SmallVector<int64_t> kvChoices = tileChoices(
      problem.fixedBlockKv, problem.requestedBlockKv, problem.kvLen);
  // Double buffering first (a kv tile loads while the previous one is
  // computed), then larger tiles (fewer passes over K/V), then more stages;
  // a single stage only when nothing pipelined fits.
  int64_t pipelined = std::min<int64_t>(2, stageChoices.front());
  for (int64_t minStages : {pipelined, int64_t(1)})
    for (int64_t blockQ : queryChoices)
      for (int64_t blockKv : kvChoices)
        for (int64_t stages : stageChoices) {
          if (stages < minStages)
            continue;
          int64_t bytes = getAttentionSharedMemoryBytes(
              blockQ, blockKv, stages, problem.headDim, problem.valueDim,
              problem.elementBytes);
          if (bytes <= chip.sharedMemoryPerBlock)
            return AttentionTileConfig{blockQ, blockKv, stages, bytes};
        }

  int64_t blockQ = queryChoices.back(), blockKv = kvChoices.back(),
          stages = stageChoices.back();
  return emitError() << "tile block_q = " << blockQ
                     << ", block_kv = " << blockKv << ", stages = " << stages
                     << " needs "
                     << getAttentionSharedMemoryBytes(
                            blockQ, blockKv, stages, problem.headDim,
                            problem.valueDim, problem.elementBytes)
                     << " bytes of shared memory for head dims "
                     << problem.headDim << "/" << problem.valueDim
                     << ", more than " << chip.name << "'s "
                     << chip.sharedMemoryPerBlock << " per block";
}
