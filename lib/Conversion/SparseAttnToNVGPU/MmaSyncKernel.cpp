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

class MmaSyncAttentionKernel : public AttentionKernel {
public:
  MmaSyncAttentionKernel(KernelBuilder &emit, const MmaKernelConfig &config,
                         const KernelOperands &operands, gpu::LaunchOp launch)
      : AttentionKernel(emit, config, operands, launch) {}

private:
  void setUpTiles(Value base) override;
  void setUpLanes() override;
  TileSlot querySlot() override {
    return {queryTile, {}, nullptr, config.blockQ};
  }
  TileSlot keySlot(Value stage) override {
    return {keyTiles, {stage}, nullptr, config.blockKv};
  }
  TileSlot valueSlot(Value stage) override {
    return {valueTiles, {stage}, nullptr, config.blockKv};
  }
  SmallVector<Value> slotIndices(const TileSlot &slot, Value row,
                                 Value col) override {
    SmallVector<Value> indices(slot.lead);
    indices.append({row, col});
    return indices;
  }
  Value threadRow(int64_t r) override {
    return emit.add(emit.add(queryStart, emit.mul(warp, 16 * config.rowTiles)),
                    emit.add(group, (r / 2) * 16 + (r % 2) * 8));
  }
  int64_t rowsPerGroup() const override { return 16 * config.rowTiles; }
  Value groupOfWarp(Value warpIndex) override { return warpIndex; }
  bool testsTilesPerGroup() const override { return false; }
  SmallVector<SmallVector<Value>> computeScores(Value stage) override;
  SmallVector<Value> accumulateValues(Value stage,
                                      ArrayRef<SmallVector<Value>> scores,
                                      ArrayRef<Value> acc) override;

  /// ldmatrix of `tiles` 8x8 matrices; returns one operand register each.
  SmallVector<Value> loadMatrix(Value shared, ValueRange indices, int64_t tiles,
                                bool transpose);
  /// acc (4 x f32) += a (4 registers) * b (2 registers), m16n8k16.
  SmallVector<Value> mma(ArrayRef<Value> aRegs, ArrayRef<Value> bRegs,
                         ArrayRef<Value> acc);

  // Padded tiles: Q [blockQ][D + 8], K and V [stages][blockKv][D + 8].
  Value queryTile, keyTiles, valueTiles;
  // A lane's place in the 8x8 matrices of an ldmatrix x4.
  Value laneRow, laneHalf, laneQuarter;
};

} // namespace

void MmaSyncAttentionKernel::setUpTiles(Value base) {
  int64_t offset = 0;
  queryTile = sharedView(base, emit.index(offset),
                         {config.blockQ, config.queryStride()}, emit.element);
  offset += config.queryBytes();
  keyTiles = sharedView(base, emit.index(offset),
                        {config.stages, config.blockKv, config.keyStride()},
                        emit.element);
  offset += config.stages * config.keyStageBytes();
  valueTiles = sharedView(base, emit.index(offset),
                          {config.stages, config.blockKv, config.valueStride()},
                          emit.element);
}

void MmaSyncAttentionKernel::setUpLanes() {
  laneRow = emit.urem(lane, 8);
  laneHalf = emit.urem(emit.udiv(lane, 8), 2);
  laneQuarter = emit.udiv(lane, 16);
}

SmallVector<Value> MmaSyncAttentionKernel::loadMatrix(Value shared,
                                                      ValueRange indices,
                                                      int64_t tiles,
                                                      bool transpose) {
  OpBuilder &builder = emit.builder;
  auto type = VectorType::get({tiles, 2}, emit.element);
  Value fragments = nvgpu::LdMatrixOp::create(
      builder, emit.loc, type, shared, indices, builder.getBoolAttr(transpose),
      builder.getI32IntegerAttr(tiles));
  SmallVector<Value> registers;
  for (int64_t tile = 0; tile < tiles; ++tile)
    registers.push_back(emit.toOperand(vector::ExtractOp::create(
        builder, emit.loc, fragments, ArrayRef<int64_t>{tile})));
  return registers;
}

SmallVector<Value> MmaSyncAttentionKernel::mma(ArrayRef<Value> aRegs,
                                               ArrayRef<Value> bRegs,
                                               ArrayRef<Value> acc) {
  OpBuilder &builder = emit.builder;
  Type f32Type = builder.getF32Type();
  auto resultType = LLVM::LLVMStructType::getLiteral(
      builder.getContext(), {f32Type, f32Type, f32Type, f32Type});
  NVVM::MMATypes ptxType =
      emit.element.isF16() ? NVVM::MMATypes::f16 : NVVM::MMATypes::bf16;
  auto op = NVVM::MmaOp::create(
      builder, emit.loc, resultType, aRegs, bRegs, acc,
      ArrayRef<int64_t>{16, 8, 16}, std::nullopt, std::nullopt,
      std::array<NVVM::MMATypes, 2>{ptxType, ptxType},
      std::array<NVVM::MMALayout, 2>{NVVM::MMALayout::row,
                                     NVVM::MMALayout::col});
  return emit.extractFields(op.getResult(), 4);
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
      aRegs.push_back(loadMatrix(queryTile, {row, col}, 4, false));
    }
    // B fragments of two 8-key tiles at once: matrices (keys 0-7, k lo),
    // (keys 0-7, k hi), (keys 8-15, k lo), (keys 8-15, k hi).
    for (int64_t nt = 0; nt < nTiles; nt += 2) {
      Value row = emit.add(emit.add(laneRow, emit.mul(laneQuarter, 8)), nt * 8);
      Value col = emit.add(emit.mul(laneHalf, 8), kt * 16);
      SmallVector<Value> bRegs =
          loadMatrix(keyTiles, {stage, row, col}, 4, false);
      for (int64_t half = 0; half < 2; ++half)
        for (int64_t rt = 0; rt < config.rowTiles; ++rt) {
          auto &fragment = scores[rt * nTiles + nt + half];
          fragment =
              mma(aRegs[rt], {bRegs[2 * half], bRegs[2 * half + 1]}, fragment);
        }
    }
  }
  return scores;
}

SmallVector<Value> MmaSyncAttentionKernel::accumulateValues(
    Value stage, ArrayRef<SmallVector<Value>> scores, ArrayRef<Value> acc) {
  SmallVector<Value> result(acc);
  for (int64_t kt = 0; kt < config.blockKv / 16; ++kt) {
    SmallVector<SmallVector<Value>> pRegs;
    for (int64_t rt = 0; rt < config.rowTiles; ++rt)
      pRegs.push_back(probabilityOperands(scores, rt, kt));
    // Transposed V fragments of two 8-column tiles: matrices (keys 0-7,
    // cols lo), (keys 8-15, cols lo), (keys 0-7, cols hi), (keys 8-15, cols
    // hi).
    for (int64_t dt = 0; dt < config.valueDim / 8; dt += 2) {
      Value row = emit.add(emit.add(laneRow, emit.mul(laneHalf, 8)), kt * 16);
      Value col = emit.add(emit.mul(laneQuarter, 8), dt * 8);
      SmallVector<Value> vRegs =
          loadMatrix(valueTiles, {stage, row, col}, 4, true);
      for (int64_t half = 0; half < 2; ++half)
        for (int64_t rt = 0; rt < config.rowTiles; ++rt) {
          int64_t base = rt * accPerRowTile() + (dt + half) * 4;
          SmallVector<Value> fragment(result.begin() + base,
                                      result.begin() + base + 4);
          fragment =
              mma(pRegs[rt], {vRegs[2 * half], vRegs[2 * half + 1]}, fragment);
          llvm::copy(fragment, result.begin() + base);
        }
    }
  }
  return result;
}

std::unique_ptr<AttentionKernel> sparse_attn::createMmaSyncKernel(
    KernelBuilder &emit, const MmaKernelConfig &config,
    const KernelOperands &operands, gpu::LaunchOp launch) {
  return std::make_unique<MmaSyncAttentionKernel>(emit, config, operands,
                                                  launch);
}
