//===- WgmmaKernel.cpp - the wgmma flavour of the kernel ------------------===//
//
// The Hopper (sm_90a) flavour: warpgroups of four warps own 64 query rows
// per row tile; Q, K and V sit in shared memory in the 128-byte-swizzled
// layout wgmma reads (one 1 KiB-aligned array), fenced to the async proxy
// after their cp.async copies; S = Q K^T is wgmma.mma_async from two
// shared-memory descriptors, O += P V takes P from registers and V N-major.
//
//===----------------------------------------------------------------------===//

#include "AttentionKernel.h"

#include "SparseAttn/Utils/MaskLowering.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "llvm/Support/raw_ostream.h"

#include <string>

using namespace mlir;
using namespace mlir::sparse_attn;

namespace {

class WgmmaAttentionKernel : public AttentionKernel {
public:
  using AttentionKernel::AttentionKernel;

private:
  void setUpTiles(Value base) override;
  TileSlot querySlot() override {
    return {tiles, {}, emit.udiv(queryOffset, 2), config.blockQ};
  }
  TileSlot keySlot(Value stage) override {
    return {tiles, {}, emit.udiv(keyOffset(stage), 2), config.blockKv};
  }
  TileSlot valueSlot(Value stage) override {
    return {tiles, {}, emit.udiv(valueOffset(stage), 2), config.blockKv};
  }
  SmallVector<Value> slotIndices(const TileSlot &slot, Value row,
                                 Value col) override;
  Value threadRow(int64_t r) override {
    return emit.add(emit.add(queryStart, emit.mul(emit.udiv(warp, 4),
                                                  64 * config.rowTiles)),
                    emit.add(emit.mul(emit.urem(warp, 4), 16),
                             emit.add(group, (r / 2) * 64 + (r % 2) * 8)));
  }
  int64_t rowsPerGroup() const override { return 64 * config.rowTiles; }
  Value groupOfWarp(Value warpIndex) override {
    return emit.udiv(warpIndex, 4);
  }
  /// Only under masks with a lower edge, where two of a band's edge blocks'
  /// quarters are skipped and two take the fast path (sliding windows 0-3%
  /// faster at D = 128, 1024-key window). Elsewhere the test costs more
  /// than it saves (causal 1-3% slower; docs/performance.md, runs 14-15 of
  /// bench/results/experiments-2026-12-02).
  bool testsTilesPerGroup() const override {
    return config.rowTiles == 1 && hasLowerEdge(operands.rules.mask);
  }
  SmallVector<SmallVector<Value>> computeScores(Value stage) override;
  SmallVector<Value> accumulateValues(Value stage,
                                      ArrayRef<SmallVector<Value>> scores,
                                      ArrayRef<Value> acc) override;
  /// wgmma reads shared memory through the async proxy: each thread's
  /// completed copies are fenced to it before the barrier.
  void fenceCopiesForMma(OpBuilder &builder, Location loc) override {
    NVVM::FenceProxyOp::create(
        builder, loc,
        NVVM::ProxyKindAttr::get(builder.getContext(),
                                 NVVM::ProxyKind::async_shared),
        NVVM::SharedSpaceAttr::get(builder.getContext(),
                                   NVVM::SharedSpace::shared_cta));
  }

  /// Byte offsets of a stage's K and V tiles in the swizzled array.
  Value keyOffset(Value stage) {
    return emit.add(emit.mul(stage, config.keyStageBytes()),
                    config.queryBuffersBytes());
  }
  Value valueOffset(Value stage) {
    return emit.add(emit.mul(stage, config.valueStageBytes()),
                    config.queryBuffersBytes() +
                        config.stages * config.keyStageBytes());
  }
  /// The wgmma descriptor (128-byte swizzle) of the operand at `byteOffset`
  /// into the tiles, whose 64-column panels are `panelBytes` apart (the
  /// leading byte offset of an N-major operand; K-major ones ignore it).
  Value descriptor(Value byteOffset, int64_t panelBytes);
  /// One warpgroup's wgmma.mma_async m64n<n>k16 with f32 accumulators:
  /// `acc` + A B, or A B alone when `acc` is empty, as the n / 2 values a
  /// thread holds (value 4 t + e of the 8-column tile t, as mma.sync's
  /// accumulator). A is the shared-memory descriptor `aDesc`, or when null
  /// the four registers `aRegs` (mma.sync's A layout for the warp's 16
  /// rows); B is the descriptor `bDesc`, N-major when `transposeB`. Inline
  /// PTX: nvvm.wgmma.mma_async (and nvgpu.warpgroup.mma) take no A from
  /// registers.
  SmallVector<Value> wgmma(int64_t n, Value aDesc, ArrayRef<Value> aRegs,
                           Value bDesc, ArrayRef<Value> acc, bool transposeB);

  // The swizzled tiles, as one array of elements, and its shared address.
  Value tiles, tilesAddress;
};

} // namespace

void WgmmaAttentionKernel::setUpTiles(Value base) {
  // The swizzle is of address bits: the tiles start on a 1 KiB boundary.
  Value baseAddress = memref::ExtractAlignedPointerAsIndexOp::create(
      emit.builder, emit.loc, base);
  Value pad = emit.urem(emit.sub(emit.index(kSwizzleAtomBytes),
                                 emit.urem(baseAddress, kSwizzleAtomBytes)),
                        kSwizzleAtomBytes);
  tilesAddress = emit.add(baseAddress, pad);
  int64_t elements =
      (config.tileBytes() - kSwizzleAtomBytes) / config.elementBytes;
  tiles = emit.sharedView(base, pad, {elements}, emit.element);
}

SmallVector<Value> WgmmaAttentionKernel::slotIndices(const TileSlot &slot,
                                                     Value row, Value col) {
  Value panel = emit.udiv(col, kSwizzleElements);
  Value chunk =
      emit.udiv(emit.urem(col, kSwizzleElements), config.copyElements());
  Value swizzled =
      arith::XOrIOp::create(emit.builder, emit.loc, chunk, emit.urem(row, 8));
  Value index = emit.add(
      emit.add(slot.start, emit.mul(panel, slot.rows * kSwizzleElements)),
      emit.add(emit.mul(row, kSwizzleElements),
               emit.mul(swizzled, config.copyElements())));
  return {index};
}

Value WgmmaAttentionKernel::descriptor(Value byteOffset, int64_t panelBytes) {
  OpBuilder &builder = emit.builder;
  Location loc = emit.loc;
  auto constant = [&](int64_t value) -> Value {
    return arith::ConstantIntOp::create(builder, loc, value, 64);
  };
  Value address = arith::IndexCastUIOp::create(
      builder, loc, builder.getI64Type(), emit.add(tilesAddress, byteOffset));
  // Bits 0-13: address / 16; 16-29: leading byte offset / 16; 32-45: stride
  // byte offset / 16 (from one 8-row group to the next); 62-63: 1, the
  // 128-byte swizzle.
  Value start = arith::AndIOp::create(
      builder, loc, arith::ShRUIOp::create(builder, loc, address, constant(4)),
      constant(0x3FFF));
  int64_t fixed = ((panelBytes >> 4) << 16) | ((kSwizzleAtomBytes >> 4) << 32) |
                  (int64_t(1) << 62);
  return arith::OrIOp::create(builder, loc, start, constant(fixed));
}

SmallVector<Value> WgmmaAttentionKernel::wgmma(int64_t n, Value aDesc,
                                               ArrayRef<Value> aRegs,
                                               Value bDesc, ArrayRef<Value> acc,
                                               bool transposeB) {
  OpBuilder &builder = emit.builder;
  Location loc = emit.loc;
  int64_t count = n / 2;
  bool accumulate = !acc.empty();
  std::string type = emit.element.isF16() ? "f16" : "bf16";
  std::string text, constraints;
  llvm::raw_string_ostream asmText(text), constraintText(constraints);
  SmallVector<Value> asmOperands;
  for (int64_t i = 0; i < count; ++i)
    constraintText << (i ? "," : "") << "=f";
  if (accumulate) {
    for (int64_t i = 0; i < count; ++i)
      constraintText << "," << i;
    asmOperands.append(acc.begin(), acc.end());
  }
  int64_t next = asmOperands.size() + count;
  std::string aText = "$" + std::to_string(next);
  if (aDesc) {
    asmOperands.push_back(aDesc);
    constraintText << ",l";
    ++next;
  } else {
    aText = "{";
    for (int64_t i = 0; i < 4; ++i) {
      aText += (i ? ", $" : "$") + std::to_string(next++);
      asmOperands.push_back(emit.asI32(aRegs[i]));
      constraintText << ",r";
    }
    aText += "}";
  }
  asmOperands.push_back(bDesc);
  constraintText << ",l";
  int64_t bIndex = next++;
  asmText << "{\n.reg .pred p;\nsetp.ne.b32 p, $" << next << ", 0;\n"
          << "wgmma.mma_async.sync.aligned.m64n" << n << "k16.f32." << type
          << "." << type << " {";
  for (int64_t i = 0; i < count; ++i)
    asmText << (i ? ", $" : "$") << i;
  // scale-d, imm-scale-a, imm-scale-b[, imm-trans-a], imm-trans-b.
  asmText << "}, " << aText << ", $" << bIndex << ", p, 1, 1, "
          << (aDesc ? "0, " : "") << (transposeB ? 1 : 0) << ";\n}";
  asmOperands.push_back(
      arith::ConstantIntOp::create(builder, loc, accumulate ? 1 : 0, 32));
  constraintText << ",r";
  SmallVector<Type> fields(count, builder.getF32Type());
  auto resultType =
      LLVM::LLVMStructType::getLiteral(builder.getContext(), fields);
  auto op = LLVM::InlineAsmOp::create(
      builder, loc, resultType, asmOperands, text, constraints,
      /*has_side_effects=*/true, /*is_align_stack=*/false,
      LLVM::tailcallkind::TailCallKind::None, LLVM::AsmDialectAttr{},
      ArrayAttr{});
  return emit.extractFields(op.getRes(), count);
}

SmallVector<SmallVector<Value>>
WgmmaAttentionKernel::computeScores(Value stage) {
  OpBuilder &builder = emit.builder;
  Location loc = emit.loc;
  int64_t nTiles = config.blockKv / 8;
  SmallVector<SmallVector<Value>> scores(config.rowTiles * nTiles);
  // Each of the warpgroup's 64-row tiles of Q (rows 64 * (rowTiles *
  // (warp / 4) + rt) on) against the tile's keys, 16 head-dim columns per
  // wgmma: column step kt is at byte 32 * (kt % 4) of panel kt / 4.
  Value groupRows =
      emit.mul(emit.udiv(warp, 4), 64 * config.rowTiles * kSwizzleBytes);
  SmallVector<SmallVector<Value>> acc(config.rowTiles);
  // Head dims past 256: each descriptor is its tile's first one (passed
  // through an opaque move, so that LLVM cannot hoist them out of the kv
  // loop) plus the step's offset / 16; hoisted, D = 576's 36 steps held 72
  // registers of descriptors and the kernel spilled.
  bool stepped = config.headDim > 256;
  auto opaque = [&](Value value) -> Value {
    auto op = LLVM::InlineAsmOp::create(
        builder, loc, builder.getI64Type(), ValueRange{value},
        "mov.b64 $0, $1;", "=l,l", /*has_side_effects=*/true,
        /*is_align_stack=*/false, LLVM::tailcallkind::TailCallKind::None,
        LLVM::AsmDialectAttr{}, ArrayAttr{});
    return op.getRes();
  };
  auto offsetBy = [&](Value desc, int64_t bytes) -> Value {
    return arith::AddIOp::create(
        builder, loc, desc,
        arith::ConstantIntOp::create(builder, loc, bytes >> 4, 64));
  };
  Value keyBase, queryBase;
  if (stepped) {
    keyBase = opaque(descriptor(keyOffset(stage), 16));
    queryBase = opaque(descriptor(emit.add(queryOffset, groupRows), 16));
  }
  NVVM::WgmmaFenceAlignedOp::create(builder, loc);
  for (int64_t kt = 0; kt < config.headDim / 16; ++kt) {
    int64_t column = (kt % 4) * 32;
    int64_t keyStep = (kt / 4) * config.blockKv * kSwizzleBytes + column;
    Value keyDesc = stepped
                        ? offsetBy(keyBase, keyStep)
                        : descriptor(emit.add(keyOffset(stage), keyStep), 16);
    for (int64_t rt = 0; rt < config.rowTiles; ++rt) {
      int64_t queryStep = (kt / 4) * config.blockQ * kSwizzleBytes +
                          rt * 64 * kSwizzleBytes + column;
      Value queryDesc =
          stepped
              ? offsetBy(queryBase, queryStep)
              : descriptor(
                    emit.add(emit.add(queryOffset, groupRows), queryStep), 16);
      acc[rt] = wgmma(config.blockKv, queryDesc, {}, keyDesc, acc[rt],
                      /*transposeB=*/false);
    }
  }
  NVVM::WgmmaGroupSyncAlignedOp::create(builder, loc);
  NVVM::WgmmaWaitGroupSyncOp::create(builder, loc, 0);
  for (int64_t rt = 0; rt < config.rowTiles; ++rt)
    for (int64_t nt = 0; nt < nTiles; ++nt)
      scores[rt * nTiles + nt].assign(acc[rt].begin() + 4 * nt,
                                      acc[rt].begin() + 4 * nt + 4);
  return scores;
}

SmallVector<Value> WgmmaAttentionKernel::accumulateValues(
    Value stage, ArrayRef<SmallVector<Value>> scores, ArrayRef<Value> acc) {
  OpBuilder &builder = emit.builder;
  Location loc = emit.loc;
  // V is N-major (rows of keys): 16 keys per wgmma are 2048 bytes on, its
  // 64-column panels blockKv rows apart.
  NVVM::WgmmaFenceAlignedOp::create(builder, loc);
  SmallVector<SmallVector<Value>> tileAcc;
  for (int64_t rt = 0; rt < config.rowTiles; ++rt)
    tileAcc.emplace_back(acc.begin() + rt * accPerRowTile(),
                         acc.begin() + (rt + 1) * accPerRowTile());
  for (int64_t kt = 0; kt < config.blockKv / 16; ++kt) {
    Value valueDesc =
        descriptor(emit.add(valueOffset(stage), kt * 16 * kSwizzleBytes),
                   config.blockKv * kSwizzleBytes);
    for (int64_t rt = 0; rt < config.rowTiles; ++rt)
      tileAcc[rt] =
          wgmma(config.valueDim, nullptr, probabilityOperands(scores, rt, kt),
                valueDesc, tileAcc[rt], /*transposeB=*/true);
  }
  NVVM::WgmmaGroupSyncAlignedOp::create(builder, loc);
  NVVM::WgmmaWaitGroupSyncOp::create(builder, loc, 0);
  SmallVector<Value> result;
  for (auto &values : tileAcc)
    result.append(values);
  return result;
}

std::unique_ptr<AttentionKernel> sparse_attn::createWgmmaKernel(
    KernelBuilder &emit, const MmaKernelConfig &config,
    const KernelOperands &operands, gpu::LaunchOp launch) {
  return std::make_unique<WgmmaAttentionKernel>(emit, config, operands, launch);
}
