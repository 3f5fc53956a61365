//===- KernelBuilder.cpp - IR of a tensor-core kernel body ----------------===//
//
// The scalar, vector and warp-level ops of the attention kernels.
//
//===----------------------------------------------------------------------===//

#include "KernelBuilder.h"

#include "KernelConfig.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <cmath>

using namespace mlir;
using namespace mlir::sparse_attn;

Value KernelBuilder::f32(double value) {
  return arith::ConstantOp::create(builder, loc,
                                   builder.getF32FloatAttr(value));
}

Value KernelBuilder::fadd(Value x, Value y) {
  return arith::AddFOp::create(builder, loc, x, y);
}

Value KernelBuilder::fmul(Value x, Value y) {
  return arith::MulFOp::create(builder, loc, x, y);
}

Value KernelBuilder::fsub(Value x, Value y) {
  return arith::SubFOp::create(builder, loc, x, y);
}

Value KernelBuilder::fmax(Value x, Value y) {
  return arith::MaximumFOp::create(builder, loc, x, y);
}

Value KernelBuilder::isNegInf(Value x) {
  return arith::CmpFOp::create(builder, loc, arith::CmpFPredicate::OEQ, x,
                               f32(-INFINITY));
}

Value KernelBuilder::intrinsic(StringRef name, Value x) {
  return LLVM::CallIntrinsicOp::create(builder, loc, builder.getF32Type(),
                                       builder.getStringAttr(name),
                                       ValueRange{x})
      .getResult(0);
}

Value KernelBuilder::exp2(Value x) {
  return intrinsic("llvm.nvvm.ex2.approx.ftz.f", x);
}

Value KernelBuilder::log2(Value x) {
  return intrinsic("llvm.nvvm.lg2.approx.ftz.f", x);
}

Value KernelBuilder::quadReduce(Value x,
                                function_ref<Value(Value, Value)> combine) {
  for (int32_t offset : {1, 2}) {
    Value other = gpu::ShuffleOp::create(builder, loc, x, offset, kWarpSize,
                                         gpu::ShuffleMode::XOR)
                      .getShuffleResult();
    x = combine(x, other);
  }
  return x;
}

VectorType KernelBuilder::pairType() { return VectorType::get({2}, element); }

Value KernelBuilder::bitcastToI32(Value pair) {
  Value word = vector::BitCastOp::create(
      builder, loc, VectorType::get({1}, builder.getI32Type()), pair);
  return vector::ExtractOp::create(builder, loc, word, ArrayRef<int64_t>{0});
}

Value KernelBuilder::toOperand(Value pair) {
  return element.isF16() ? pair : bitcastToI32(pair);
}

Value KernelBuilder::packPair(Value lo, Value hi) {
  Value wide = vector::FromElementsOp::create(
      builder, loc, VectorType::get({2}, builder.getF32Type()),
      ValueRange{lo, hi});
  return toOperand(arith::TruncFOp::create(builder, loc, pairType(), wide));
}

Value KernelBuilder::asI32(Value operand) {
  return operand.getType().isInteger(32) ? operand : bitcastToI32(operand);
}

SmallVector<Value> KernelBuilder::loadMatrices(Value shared, ValueRange indices,
                                               int64_t tiles, bool transpose) {
  auto type = VectorType::get({tiles, 2}, element);
  Value fragments = nvgpu::LdMatrixOp::create(
      builder, loc, type, shared, indices, builder.getBoolAttr(transpose),
      builder.getI32IntegerAttr(tiles));
  SmallVector<Value> registers;
  for (int64_t tile = 0; tile < tiles; ++tile)
    registers.push_back(toOperand(vector::ExtractOp::create(
        builder, loc, fragments, ArrayRef<int64_t>{tile})));
  return registers;
}

SmallVector<Value> KernelBuilder::mmaSync(ArrayRef<Value> a, ArrayRef<Value> b,
                                          ArrayRef<Value> acc, bool tf32) {
  Type f32Type = builder.getF32Type();
  auto resultType = LLVM::LLVMStructType::getLiteral(
      builder.getContext(), {f32Type, f32Type, f32Type, f32Type});
  NVVM::MMATypes ptxType = tf32              ? NVVM::MMATypes::tf32
                           : element.isF16() ? NVVM::MMATypes::f16
                                             : NVVM::MMATypes::bf16;
  auto op = NVVM::MmaOp::create(
      builder, loc, resultType, a, b, acc,
      ArrayRef<int64_t>{16, 8, tf32 ? 8 : 16}, std::nullopt, std::nullopt,
      std::array<NVVM::MMATypes, 2>{ptxType, ptxType},
      std::array<NVVM::MMALayout, 2>{NVVM::MMALayout::row,
                                     NVVM::MMALayout::col});
  return extractFields(op.getResult(), 4);
}

void KernelBuilder::asyncWait(int32_t pending) {
  // The token operand is not what the wait counts (cp.async.wait_group
  // counts this thread's open groups), so any token serves.
  Value token = nvgpu::DeviceAsyncCreateGroupOp::create(
      builder, loc, nvgpu::DeviceAsyncTokenType::get(builder.getContext()),
      ValueRange{});
  nvgpu::DeviceAsyncWaitOp::create(builder, loc, token,
                                   builder.getI32IntegerAttr(pending));
}

void KernelBuilder::zeroColumns(Value tid, int64_t threads, Value tile,
                                int64_t rows, int64_t from, int64_t to,
                                Value zero) {
  int64_t width = to - from;
  if (width <= 0)
    return;
  scf::ForOp::create(
      builder, loc, tid, index(rows * width), index(threads), ValueRange{},
      [&](OpBuilder &b, Location l, Value idx, ValueRange) {
        KernelBuilder at(b, l, element);
        memref::StoreOp::create(
            b, l, zero, tile,
            ValueRange{at.udiv(idx, width), at.add(at.urem(idx, width), from)});
        scf::YieldOp::create(b, l);
      });
}

SmallVector<Value> KernelBuilder::extractFields(Value structValue,
                                                int64_t count) {
  SmallVector<Value> fields;
  for (int64_t i = 0; i < count; ++i)
    fields.push_back(LLVM::ExtractValueOp::create(builder, loc, structValue,
                                                  ArrayRef<int64_t>{i}));
  return fields;
}

Value KernelBuilder::loadI32(Value memref, ValueRange indices) {
  Value value = memref::LoadOp::create(builder, loc, memref, indices);
  return arith::IndexCastOp::create(builder, loc, builder.getIndexType(),
                                    value);
}

Value sparse_attn::toKernelBuffer(OpBuilder &builder, Location loc,
                                  Value tensor) {
  auto type = cast<RankedTensorType>(tensor.getType());
  SmallVector<int64_t> strides(type.getRank(), ShapedType::kDynamic);
  strides.back() = 1;
  auto layout = StridedLayoutAttr::get(builder.getContext(),
                                       ShapedType::kDynamic, strides);
  auto memrefType =
      MemRefType::get(type.getShape(), type.getElementType(), layout);
  return bufferization::ToBufferOp::create(builder, loc, memrefType, tensor,
                                           /*readOnly=*/true);
}

Value sparse_attn::toReadOnlyBuffer(OpBuilder &builder, Location loc,
                                    Value tensor) {
  auto type = cast<RankedTensorType>(tensor.getType());
  auto layout = StridedLayoutAttr::get(
      builder.getContext(), ShapedType::kDynamic,
      SmallVector<int64_t>(type.getRank(), ShapedType::kDynamic));
  return bufferization::ToBufferOp::create(
      builder, loc,
      MemRefType::get(type.getShape(), type.getElementType(), layout), tensor,
      /*readOnly=*/true);
}

void sparse_attn::replaceByWrittenBuffers(PatternRewriter &rewriter,
                                          Operation *op, ValueRange memrefs) {
  SmallVector<Value> results;
  for (auto [result, memref] : llvm::zip_equal(op->getResults(), memrefs))
    results.push_back(bufferization::ToTensorOp::create(
        rewriter, op->getLoc(), result.getType(), memref, /*restrict=*/true,
        /*writable=*/true));
  rewriter.replaceOp(op, results);
}

Value KernelBuilder::sharedView(Value base, Value offset,
                                ArrayRef<int64_t> shape, Type type,
                                ValueRange dynamicSizes) {
  auto workgroup = gpu::AddressSpaceAttr::get(builder.getContext(),
                                              gpu::AddressSpace::Workgroup);
  auto viewType =
      MemRefType::get(shape, type, MemRefLayoutAttrInterface{}, workgroup);
  return memref::ViewOp::create(builder, loc, viewType, base, offset,
                                dynamicSizes);
}

void KernelBuilder::ifThen(Value condition, function_ref<void()> body) {
  auto ifOp =
      scf::IfOp::create(builder, loc, condition, /*withElseRegion=*/false);
  OpBuilder::InsertionGuard guard(builder);
  builder.setInsertionPointToStart(ifOp.thenBlock());
  body();
}

void KernelBuilder::forRange(Value first, Value end, Value step,
                             function_ref<void(KernelBuilder &, Value)> body) {
  scf::ForOp::create(builder, loc, first, end, step, ValueRange{},
                     [&](OpBuilder &loopBuilder, Location loopLoc, Value i,
                         ValueRange) {
                       KernelBuilder at(loopBuilder, loopLoc, element);
                       body(at, i);
                       scf::YieldOp::create(loopBuilder, loopLoc);
                     });
}

Value KernelBuilder::repeatsEarlier(
    Value end, Value value, function_ref<Value(KernelBuilder &, Value)> entry) {
  auto loop = scf::ForOp::create(
      builder, loc, index(0), end, index(1),
      ValueRange{arith::ConstantIntOp::create(builder, loc, 0, 1).getResult()},
      [&](OpBuilder &scanBuilder, Location scanLoc, Value i, ValueRange seen) {
        KernelBuilder at(scanBuilder, scanLoc, element);
        Value same = at.eq(entry(at, i), value);
        scf::YieldOp::create(scanBuilder, scanLoc,
                             ValueRange{at.orI(seen[0], same)});
      });
  return loop.getResult(0);
}

void KernelBuilder::syncWarp() {
  NVVM::SyncWarpOp::create(builder, loc,
                           arith::ConstantIntOp::create(builder, loc, -1, 32));
}

Value KernelBuilder::dynamicSharedMemory() {
  auto workgroup = gpu::AddressSpaceAttr::get(builder.getContext(),
                                              gpu::AddressSpace::Workgroup);
  auto bytesType = MemRefType::get({ShapedType::kDynamic}, builder.getI8Type(),
                                   MemRefLayoutAttrInterface{}, workgroup);
  return gpu::DynamicSharedMemoryOp::create(builder, loc, bytesType);
}

Value KernelBuilder::warpReduceI32(Value x,
                                   function_ref<Value(Value, Value)> combine) {
  Type i32 = builder.getI32Type();
  for (int32_t offset = kWarpSize / 2; offset > 0; offset /= 2) {
    Value word = arith::IndexCastOp::create(builder, loc, i32, x);
    Value other = gpu::ShuffleOp::create(builder, loc, word, offset, kWarpSize,
                                         gpu::ShuffleMode::XOR)
                      .getShuffleResult();
    x = combine(x, arith::IndexCastOp::create(builder, loc,
                                              builder.getIndexType(), other));
  }
  return x;
}

Value KernelBuilder::ballotCount(Value predicate) {
  Type i32 = builder.getI32Type();
  Value all = arith::ConstantIntOp::create(builder, loc, -1, 32);
  Value mask = NVVM::VoteSyncOp::create(builder, loc, i32, all, predicate,
                                        NVVM::VoteSyncKind::ballot);
  Value count = LLVM::CtPopOp::create(builder, loc, mask);
  return arith::IndexCastOp::create(builder, loc, builder.getIndexType(),
                                    count);
}

Value KernelBuilder::laneRank(Value lane, Value predicate) {
  Type i32 = builder.getI32Type();
  Value all = arith::ConstantIntOp::create(builder, loc, -1, 32);
  Value mask = NVVM::VoteSyncOp::create(builder, loc, i32, all, predicate,
                                        NVVM::VoteSyncKind::ballot);
  Value lane32 = arith::IndexCastOp::create(builder, loc, i32, lane);
  Value below = arith::SubIOp::create(
      builder, loc,
      arith::ShLIOp::create(builder, loc,
                            arith::ConstantIntOp::create(builder, loc, 1, 32),
                            lane32),
      arith::ConstantIntOp::create(builder, loc, 1, 32));
  Value count = LLVM::CtPopOp::create(
      builder, loc, arith::AndIOp::create(builder, loc, mask, below));
  return arith::IndexCastOp::create(builder, loc, builder.getIndexType(),
                                    count);
}

void KernelBuilder::storeI32(Value value, Value memref, ValueRange indices) {
  Value word =
      arith::IndexCastOp::create(builder, loc, builder.getI32Type(), value);
  memref::StoreOp::create(builder, loc, word, memref, indices);
}

Value KernelBuilder::orderedKey(Value x) {
  Type i32 = builder.getI32Type();
  // Sign bit flipped for positives, all bits for negatives.
  Value isZero = arith::CmpFOp::create(builder, loc, arith::CmpFPredicate::OEQ,
                                       x, f32(0.0));
  x = arith::SelectOp::create(builder, loc, isZero, f32(0.0), x);
  Value bits = arith::BitcastOp::create(builder, loc, i32, x);
  auto constant = [&](int64_t value) -> Value {
    return arith::ConstantIntOp::create(builder, loc, value, 32);
  };
  Value negative = arith::CmpIOp::create(
      builder, loc, arith::CmpIPredicate::slt, bits, constant(0));
  return arith::SelectOp::create(
      builder, loc, negative,
      arith::XOrIOp::create(builder, loc, bits, constant(-1)),
      arith::OrIOp::create(builder, loc, bits, constant(int64_t(INT32_MIN))));
}

void KernelBuilder::copyRows(
    Value tid, int64_t threads, Value source, Value tile, int64_t rows,
    int64_t dim, int64_t paddedDim,
    function_ref<std::pair<SmallVector<Value>, Value>(KernelBuilder &, Value)>
        row) {
  int64_t vector = 16 / (element.getIntOrFloatBitWidth() / 8);
  while (dim % vector != 0)
    vector /= 2;
  int64_t chunks = dim / vector;
  auto vectorType = VectorType::get({vector}, element);
  Value zeros = arith::ConstantOp::create(
      builder, loc, vectorType,
      DenseElementsAttr::get(vectorType, builder.getZeroAttr(element)));
  scf::ForOp::create(
      builder, loc, tid, index(rows * chunks), index(threads), ValueRange{},
      [&](OpBuilder &b, Location l, Value idx, ValueRange) {
        KernelBuilder at(b, l, element);
        Value r = at.udiv(idx, chunks);
        Value column = at.mul(at.urem(idx, chunks), vector);
        auto [indices, exists] = row(at, r);
        indices.push_back(column);
        Value loaded = vector::LoadOp::create(b, l, vectorType, source, indices);
        loaded = arith::SelectOp::create(b, l, exists, loaded, zeros);
        vector::StoreOp::create(b, l, loaded, tile, ValueRange{r, column});
        scf::YieldOp::create(b, l);
      });
  if (paddedDim > dim)
    zeroColumns(tid, threads, tile, rows, dim, paddedDim,
                arith::ConstantOp::create(builder, loc,
                                          builder.getZeroAttr(element)));
}

Value KernelBuilder::warpInclusiveScan(Value lane, Value x) {
  Type i32 = builder.getI32Type();
  for (int32_t offset = 1; offset < kWarpSize; offset *= 2) {
    Value word = arith::IndexCastOp::create(builder, loc, i32, x);
    Value other = gpu::ShuffleOp::create(builder, loc, word, offset, kWarpSize,
                                         gpu::ShuffleMode::UP)
                      .getShuffleResult();
    Value otherIndex = arith::IndexCastOp::create(
        builder, loc, builder.getIndexType(), other);
    x = select(le(index(offset), lane), add(x, otherIndex), x);
  }
  return x;
}

std::pair<Value, Value> KernelBuilder::blockExclusiveScan(Value tid,
                                                          int64_t threads,
                                                          Value x,
                                                          Value scratch) {
  int64_t warps = threads / kWarpSize;
  Value lane = urem(tid, kWarpSize), warp = udiv(tid, kWarpSize);
  Value inclusive = warpInclusiveScan(lane, x);
  ifThen(eq(lane, index(kWarpSize - 1)),
         [&] { storeI32(inclusive, scratch, ValueRange{warp}); });
  gpu::BarrierOp::create(builder, loc);
  Value before = index(0), total = index(0);
  for (int64_t w = 0; w < warps; ++w) {
    Value count = loadI32(scratch, ValueRange{index(w)});
    before = add(before, select(lt(index(w), warp), count, index(0)));
    total = add(total, count);
  }
  // The scratch may be written again after this.
  gpu::BarrierOp::create(builder, loc);
  return {add(before, sub(inclusive, x)), total};
}

KernelBuilder::RadixDigit KernelBuilder::findRadixDigit(Value lane, Value hist,
                                                        ValueRange histPrefix,
                                                        Value remaining) {
  constexpr int64_t kBins = 256, perLane = kBins / kWarpSize;
  Type i32 = builder.getI32Type();
  auto i32Const = [&](int64_t value) -> Value {
    return arith::ConstantIntOp::create(builder, loc, value, 32);
  };
  // Lane L holds bins 255 - 8 L - q, q = 0..7 (descending digits).
  SmallVector<Value> bins;
  Value sum = index(0);
  auto binOf = [&](int64_t q) {
    return sub(index(kBins - 1 - q), mul(lane, perLane));
  };
  for (int64_t q = 0; q < perLane; ++q) {
    SmallVector<Value> indices(histPrefix.begin(), histPrefix.end());
    indices.push_back(binOf(q));
    bins.push_back(loadI32(hist, indices));
    sum = add(sum, bins.back());
  }
  Value inclusive = warpInclusiveScan(lane, sum);
  Value exclusive = sub(inclusive, sum);
  // The lane whose bins hold the remaining-th largest key, and there the
  // digit and the keys above it.
  Value found = andI(lt(exclusive, remaining), le(remaining, inclusive));
  Value above = exclusive, chosen = index(0), chosenAbove = exclusive;
  Value done = boolean(false);
  for (int64_t q = 0; q < perLane; ++q) {
    Value next = add(above, bins[q]);
    Value here = andI(notI(done), le(remaining, next));
    chosen = select(here, binOf(q), chosen);
    chosenAbove = select(here, above, chosenAbove);
    done = orI(done, here);
    above = next;
  }
  Value ballot = NVVM::VoteSyncOp::create(builder, loc, i32, i32Const(-1),
                                          found, NVVM::VoteSyncKind::ballot);
  // The lowest lane of the ballot.
  Value lowest = arith::AndIOp::create(
      builder, loc, ballot,
      arith::SubIOp::create(builder, loc, i32Const(0), ballot));
  Value source = LLVM::CtPopOp::create(
      builder, loc, arith::SubIOp::create(builder, loc, lowest, i32Const(1)));
  auto broadcast = [&](Value x, Value from) -> Value {
    Value word = arith::IndexCastOp::create(builder, loc, i32, x);
    return gpu::ShuffleOp::create(builder, loc, word, from,
                                  i32Const(kWarpSize), gpu::ShuffleMode::IDX)
        .getShuffleResult();
  };
  auto toIndex = [&](Value word) -> Value {
    return arith::IndexCastOp::create(builder, loc, builder.getIndexType(),
                                      word);
  };
  return {broadcast(chosen, source), toIndex(broadcast(chosenAbove, source)),
          toIndex(broadcast(inclusive, i32Const(kWarpSize - 1)))};
}
