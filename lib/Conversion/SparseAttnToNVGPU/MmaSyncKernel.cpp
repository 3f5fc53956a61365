//===- MmaSyncKernel.cpp - the mma.sync flavour of the kernel -------------===//
//
// FlashAttention-2's structure on any sm_80+ chip: each warp owns 16 query
// rows per row tile; Q, K and V sit in shared memory in padded rows (no
// bank conflicts for ldmatrix); S = Q K^T and O += P V are mma.sync
// m16n8k16 from ldmatrix fragments, P staying in registers.
//
//===----------------------------------------------------------------------===//

#include "AttentionKernel.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;
using namespace mlir::sparse_attn;

namespace {

class MmaSyncAttentionKernel : public PaddedTileKernel {
public:
  using PaddedTileKernel::PaddedTileKernel;

private:
  void setUpLanes() override;
  SmallVector<SmallVector<Value>> computeScores(Value stage) override;
  SmallVector<Value> accumulateValues(Value stage,
                                      ArrayRef<SmallVector<Value>> scores,
                                      ArrayRef<Value> acc) override;

  /// The four 8x8 matrices of an ldmatrix.x4 from the K or V tiles of
  /// `stage`: this lane reads row `laneRow + 8 rowHalf + rowOffset` and
  /// column `8 colHalf + colOffset`.
  SmallVector<Value> loadTileMatrices(Value tiles, Value stage, Value rowHalf,
                                      int64_t rowOffset, Value colHalf,
                                      int64_t colOffset, bool transpose) {
    Value row = emit.add(emit.add(laneRow, emit.mul(rowHalf, 8)), rowOffset);
    Value col = emit.add(emit.mul(colHalf, 8), colOffset);
    return emit.loadMatrices(tiles, {stage, row, col}, 4, transpose);
  }
  /// For each of the two 8-wide halves whose B registers one ldmatrix.x4
  /// loaded (`bRegs` 2 half and 2 half + 1) and each row tile:
  /// fragment(rowTile, half) += A[rowTile] B(half).
  void multiplyHalves(
      ArrayRef<SmallVector<Value>> aRegs, ArrayRef<Value> bRegs,
      function_ref<SmallVector<Value> &(int64_t rowTile, int64_t half)>
          fragment) {
    for (int64_t half = 0; half < 2; ++half)
      for (int64_t rt = 0; rt < config.rowTiles; ++rt) {
        SmallVector<Value> &acc = fragment(rt, half);
        acc = emit.mmaSync(aRegs[rt], {bRegs[2 * half], bRegs[2 * half + 1]},
                           acc);
      }
  }

  // A lane's place in the 8x8 matrices of an ldmatrix x4.
  Value laneRow, laneHalf, laneQuarter;
};

} // namespace

// The padded layout (PaddedTileKernel), which the CUDA-core flavour shares:
// Q, then the stages of K, then those of V.
void PaddedTileKernel::setUpTiles(Value base) {
  int64_t offset = 0;
  queryTile =
      emit.sharedView(base, emit.index(offset),
                      {config.blockQ, config.queryStride()}, emit.element);
  offset += config.queryBytes();
  keyTiles = emit.sharedView(
      base, emit.index(offset),
      {config.stages, config.blockKv, config.keyStride()}, emit.element);
  offset += config.stages * config.keyStageBytes();
  valueTiles = emit.sharedView(
      base, emit.index(offset),
      {config.stages, config.blockKv, config.valueStride()}, emit.element);
  tilesEnd = offset + config.stages * config.valueStageBytes();
}

void MmaSyncAttentionKernel::setUpLanes() {
  laneRow = emit.urem(lane, 8);
  laneHalf = emit.urem(emit.udiv(lane, 8), 2);
  laneQuarter = emit.udiv(lane, 16);
}

SmallVector<SmallVector<Value>>
MmaSyncAttentionKernel::computeScores(Value stage) {
  int64_t nTiles = config.blockKv / 8;
  SmallVector<SmallVector<Value>> scores(config.rowTiles * nTiles);
  Value zero = emit.f32(0.0);
  for (auto &fragment : scores)
    fragment.assign(4, zero);
  for (int64_t kt = 0; kt < config.headDim / 16; ++kt) {
    // A fragments of the warp's 16-row tiles: matrices (rows 0-7, k lo),
    // (rows 8-15, k lo), (rows 0-7, k hi), (rows 8-15, k hi).
    SmallVector<SmallVector<Value>> aRegs;
    for (int64_t rt = 0; rt < config.rowTiles; ++rt) {
      Value row =
          emit.add(emit.add(emit.mul(warp, 16 * config.rowTiles), rt * 16),
                   emit.add(laneRow, emit.mul(laneHalf, 8)));
      Value col = emit.add(emit.mul(laneQuarter, 8), kt * 16);
      aRegs.push_back(emit.loadMatrices(queryTile, {row, col}, 4, false));
    }
    // B fragments of two 8-key tiles at once: matrices (keys 0-7, k lo),
    // (keys 0-7, k hi), (keys 8-15, k lo), (keys 8-15, k hi).
    for (int64_t nt = 0; nt < nTiles; nt += 2) {
      SmallVector<Value> bRegs = loadTileMatrices(
          keyTiles, stage, laneQuarter, nt * 8, laneHalf, kt * 16, false);
      multiplyHalves(aRegs, bRegs, [&](int64_t rt, int64_t half) -> auto & {
        return scores[rt * nTiles + nt + half];
      });
    }
  }
  return scores;
}

SmallVector<Value> MmaSyncAttentionKernel::accumulateValues(
    Value stage, ArrayRef<SmallVector<Value>> scores, ArrayRef<Value> acc) {
  // The accumulator as [rowTile][8-column tile] fragments of 4.
  int64_t columnTiles = config.valueDim / 8;
  SmallVector<SmallVector<Value>> fragments;
  for (int64_t base = 0; base < static_cast<int64_t>(acc.size()); base += 4)
    fragments.emplace_back(acc.begin() + base, acc.begin() + base + 4);
  for (int64_t kt = 0; kt < config.blockKv / 16; ++kt) {
    SmallVector<SmallVector<Value>> pRegs;
    for (int64_t rt = 0; rt < config.rowTiles; ++rt)
      pRegs.push_back(probabilityOperands(scores, rt, kt));
    // Transposed V fragments of two 8-column tiles: matrices (keys 0-7,
    // cols lo), (keys 8-15, cols lo), (keys 0-7, cols hi), (keys 8-15, cols
    // hi).
    for (int64_t dt = 0; dt < columnTiles; dt += 2) {
      SmallVector<Value> vRegs = loadTileMatrices(
          valueTiles, stage, laneHalf, kt * 16, laneQuarter, dt * 8, true);
      multiplyHalves(pRegs, vRegs, [&](int64_t rt, int64_t half) -> auto & {
        return fragments[rt * columnTiles + dt + half];
      });
    }
  }
  SmallVector<Value> result;
  for (const SmallVector<Value> &fragment : fragments)
    result.append(fragment);
  return result;
}

std::unique_ptr<AttentionKernel> sparse_attn::createMmaSyncKernel(
    KernelBuilder &emit, const MmaKernelConfig &config,
    const KernelOperands &operands, gpu::LaunchOp launch) {
  return std::make_unique<MmaSyncAttentionKernel>(emit, config, operands,
                                                  launch);
}
