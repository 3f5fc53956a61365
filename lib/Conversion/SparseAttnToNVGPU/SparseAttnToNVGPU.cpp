//===- SparseAttnToNVGPU.cpp - block-sparse attention on tensor cores -----===//
//
// One gpu.launch per block_sparse_attention, iterating over the query
// block's listed kv blocks with the online softmax in registers. Two
// kernels share the structure: on sm_90a, warpgroups issue wgmma from
// 128-byte-swizzled shared-memory tiles (P from registers); elsewhere,
// FlashAttention-2's ldmatrix + mma.sync m16n8k16 from padded tiles. Q, K
// and V reach shared memory by cp.async, K/V double-buffered.
//
//===----------------------------------------------------------------------===//

#include "SparseAttn/Conversion/SparseAttnToNVGPU/SparseAttnToNVGPU.h"

#include "SparseAttn/Conversion/LoweringBuilder.h"
#include "SparseAttn/Conversion/MaskPredicate.h"
#include "SparseAttn/Conversion/Passes.h"
#include "SparseAttn/IR/MaskUtils.h"
#include "SparseAttn/IR/SparseAttnOps.h"
#include "SparseAttn/Transforms/TileConfig.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/WalkPatternRewriteDriver.h"

namespace mlir::sparse_attn {
#define GEN_PASS_DEF_CONVERTSPARSEATTNTONVGPUPASS
#define GEN_PASS_DEF_SPARSEATTNKERNELLIMITSPASS
#include "SparseAttn/Conversion/Passes.h.inc"
} // namespace mlir::sparse_attn

using namespace mlir;
using namespace mlir::sparse_attn;

namespace {

constexpr int64_t kWarpSize = 32;
/// Shared-memory rows are padded by 8 elements (16 bytes): the 8 rows an
/// ldmatrix reads then fall on distinct banks.
constexpr int64_t kRowPadding = 8;
/// Elements of one 16-byte cp.async.
constexpr int64_t kCopyElements = 8;
/// The Hopper kernel's tiles are stored as wgmma reads them with the
/// 128-byte swizzle: panels of 64 columns (128 bytes a row), the 16-byte
/// chunk c of row r at chunk c ^ (r % 8); a panel's 8-row groups are 1024
/// bytes apart and start on 1024-byte boundaries.
constexpr int64_t kSwizzleBytes = 128;
constexpr int64_t kSwizzleElements = 64;
constexpr int64_t kSwizzleAtomBytes = 1024;

//===----------------------------------------------------------------------===//
// Kernel configuration
//===----------------------------------------------------------------------===//

/// The shape of one generated kernel.
struct MmaKernelConfig {
  /// Warpgroup matrix products (wgmma, sm_90a) from swizzled shared-memory
  /// tiles, one warpgroup per 64 query rows; otherwise mma.sync from
  /// ldmatrix fragments of padded tiles.
  bool warpgroup = false;
  int64_t blockQ = 0;      // queries per thread block
  int64_t blockKv = 0;     // keys per shared-memory tile
  int64_t rowTiles = 1;    // mma.sync: 16-row tiles per warp; wgmma: 64-row
                           // tiles per warpgroup (a warp's 16 rows of each)
  int64_t warps = 0;       // blockQ / (16 * rowTiles)
  int64_t stages = 2;      // K/V tiles in flight
  int64_t itemsPerBlock = 1; // query tiles per thread block, in turn
  int64_t blocksPerSM = 1;   // thread blocks per multiprocessor to fit
  int64_t maxRegisters = 0;  // the register cap that fits them (0: none)
  int64_t headDim = 0, valueDim = 0;
  int64_t listBlockQ = 0, listBlockKv = 0;

  int64_t threads() const { return warps * kWarpSize; }
  /// Elements from one row of a tile to the next (padded by 8 for
  /// ldmatrix; the swizzled tiles are not padded).
  int64_t rowStride(int64_t dim) const {
    return warpgroup ? dim : dim + kRowPadding;
  }
  int64_t queryStride() const { return rowStride(headDim); }
  int64_t keyStride() const { return rowStride(headDim); }
  int64_t valueStride() const { return rowStride(valueDim); }
  int64_t queryBytes() const { return blockQ * queryStride() * 2; }
  /// Q buffers: a second one when the next query tile's Q is prefetched.
  int64_t queryBuffers() const { return itemsPerBlock > 1 ? 2 : 1; }
  int64_t queryBuffersBytes() const { return queryBuffers() * queryBytes(); }
  int64_t keyStageBytes() const { return blockKv * keyStride() * 2; }
  int64_t valueStageBytes() const { return blockKv * valueStride() * 2; }
  /// Bytes of the tiles; the swizzled ones are preceded by up to 1 KiB that
  /// aligns them.
  int64_t tileBytes() const {
    return (warpgroup ? kSwizzleAtomBytes : 0) + queryBuffersBytes() +
           stages * (keyStageBytes() + valueStageBytes());
  }
};

/// Shared bytes before the compacted list: its count, and with full lists
/// the count of its full blocks.
static int64_t listHeaderBytes(bool withFullLists) { return withFullLists ? 8 : 4; }

/// The register cap of a kernel, on an op of its body until outlined.
constexpr StringLiteral kMaxRegistersAttr = "sparse_attn.max_registers";

static int64_t largestDividing(int64_t value, ArrayRef<int64_t> choices) {
  for (int64_t choice : choices)
    if (value % choice == 0)
      return choice;
  return 0;
}

/// The kernel for `op`, or a reason why the general path must take it.
static FailureOr<MmaKernelConfig>
chooseMmaKernel(BlockSparseAttentionOp op, const MmaAttentionOptions &options,
                std::string &reason) {
  auto fail = [&](const Twine &why) -> FailureOr<MmaKernelConfig> {
    reason = why.str();
    return failure();
  };
  Type element = op.getQuery().getType().getElementType();
  if (!element.isF16() && !element.isBF16())
    return fail("element type is not f16 or bf16");
  if (op.getOutput().getType().getElementType() != element)
    return fail("output element type differs from the inputs'");
  MmaKernelConfig config;
  config.headDim = op.getQuery().getType().getDimSize(3);
  config.valueDim = op.getValue().getType().getDimSize(3);
  for (int64_t dim : {config.headDim, config.valueDim})
    if (dim % 16 != 0 || dim > 128)
      return fail("head dims must be multiples of 16 up to 128");
  MaskAttrInterface mask = op.getMaskAttr();
  if (mask && (!isMaskLowerable(mask) || mask.usesSegmentIds()))
    return fail("the mask reads segment ids");
  ArrayRef<Attribute> block = op.getBlock().getValue();
  config.listBlockQ = cast<IntegerAttr>(block[0]).getInt();
  config.listBlockKv = cast<IntegerAttr>(block[1]).getInt();
  // wgmma: 64-row warpgroup tiles and 64-column swizzle panels.
  config.warpgroup = options.warpgroupMma && config.headDim % kSwizzleElements == 0 &&
                     config.valueDim % kSwizzleElements == 0 &&
                     config.listBlockQ % 64 == 0 &&
                     (!options.blockQ || options.blockQ % 64 == 0);
  if (config.warpgroup) {
    // Head dims up to 64: one warpgroup per thread block taking two 64-row
    // tiles (one K/V tile serves 128 rows; two independent product chains
    // per warp). Head dim 128: two warpgroups of one 64-row tile each share
    // the K/V tiles. The kv tile is chosen below for occupancy.
    // (Measured on the H200: docs/performance.md.)
    bool small = config.headDim <= 64 && config.valueDim <= 64;
    config.blockQ = options.blockQ ? options.blockQ
                                   : largestDividing(config.listBlockQ, {128, 64});
    config.blockKv = options.blockKv
                         ? options.blockKv
                         : largestDividing(config.listBlockKv, {128, 64, 32, 16});
    if (config.listBlockQ % config.blockQ != 0)
      return fail("block_q is not a multiple of the requested block-q");
    config.rowTiles = options.warpgroupRows
                          ? options.warpgroupRows
                          : small && config.blockQ % 128 == 0 ? 2 : 1;
    if (config.blockQ % (64 * config.rowTiles) != 0)
      return fail("block-q is not a multiple of 64 x warpgroup-rows");
  } else {
    config.blockQ = options.blockQ
                        ? options.blockQ
                        : largestDividing(config.listBlockQ, {128, 64, 32, 16});
    config.blockKv = options.blockKv
                         ? options.blockKv
                         : largestDividing(config.listBlockKv, {64, 32, 16});
    if (!llvm::is_contained(ArrayRef<int64_t>{16, 32, 64, 128}, config.blockQ) ||
        config.listBlockQ % config.blockQ != 0)
      return fail("block_q is not a multiple of 16 (or of the requested block-q)");
    if (config.blockKv > 64)
      return fail("block-kv 128 needs the warpgroup (sm_90a) kernel");
    config.rowTiles = config.blockQ >= 128 ? 2 : 1;
  }
  if (!llvm::is_contained(ArrayRef<int64_t>{16, 32, 64, 128}, config.blockKv) ||
      config.listBlockKv % config.blockKv != 0)
    return fail("block_kv is not a multiple of 16 (or of the requested block-kv)");
  config.warps = config.blockQ / (16 * config.rowTiles);
  config.stages = options.stages;
  if (config.stages != 1 && config.stages != 2)
    return fail("stages must be 1 or 2");
  // Several query tiles per block: the wgmma kernel with two stages.
  if (config.warpgroup && config.stages == 2 && options.itemsPerBlock > 1)
    config.itemsPerBlock = options.itemsPerBlock;
  // The list lives in shared memory too; its capacity is bounded here only
  // when static (a dynamic one is checked by the driver at launch).
  int64_t capacity = op.getBlockIndices().getType().getDimSize(3);
  bool withFull = static_cast<bool>(op.getFullBlockIndices());
  if (withFull) {
    int64_t fullCapacity = op.getFullBlockIndices().getType().getDimSize(3);
    capacity = ShapedType::isDynamic(capacity) || ShapedType::isDynamic(fullCapacity)
                   ? ShapedType::kDynamic
                   : capacity + fullCapacity;
  }
  int64_t listBytes = listHeaderBytes(withFull) +
                      (ShapedType::isDynamic(capacity) ? 0 : 4 * capacity);
  // Occupancy: thread blocks per multiprocessor by shared memory (up to 2;
  // a second block's loads, list and epilogue run under the first's math).
  // Without a requested kv tile the wgmma kernel takes the largest one
  // dividing block_kv with the most blocks: head dim 128 gets 64-key tiles
  // (99 KB, two blocks) over 128-key ones (165 KB, one); head dims up to 64
  // keep 128 keys (83 KB, two). Then the registers are capped so that the
  // blocks fit (128 for two blocks of 256 threads).
  ChipInfo chip{"", options.sharedMemoryBytes, config.stages, options.warpgroupMma,
                options.sharedMemoryPerSM};
  auto blocksFor = [&](const MmaKernelConfig &candidate) {
    return getBlocksPerSM(chip, candidate.tileBytes() + listBytes, 2);
  };
  if (config.warpgroup && !options.blockKv) {
    MmaKernelConfig best = config;
    for (int64_t kv : {64, 32, 16}) {
      MmaKernelConfig candidate = config;
      candidate.blockKv = kv;
      if (kv < best.blockKv && config.listBlockKv % kv == 0 &&
          blocksFor(candidate) > blocksFor(best))
        best = candidate;
    }
    config = best;
  }
  if (config.tileBytes() + listBytes > options.sharedMemoryBytes)
    return fail("the tiles do not fit the shared memory");
  config.blocksPerSM = options.blocksPerSM ? options.blocksPerSM : blocksFor(config);
  config.maxRegisters =
      config.blocksPerSM > 1 ? getRegisterCap(chip, config.threads(), config.blocksPerSM) : 0;
  return config;
}

//===----------------------------------------------------------------------===//
// IR building inside the kernel
//===----------------------------------------------------------------------===//

/// Builds the scalar, vector and warp-level ops of the kernel body.
class KernelBuilder {
public:
  KernelBuilder(OpBuilder &b, Location loc, Type element)
      : b(b), loc(loc), element(element) {}

  OpBuilder &b;
  Location loc;
  Type element; // f16 or bf16

  Value idx(int64_t value) { return arith::ConstantIndexOp::create(b, loc, value); }
  Value f32(double value) {
    return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(value));
  }
  Value add(Value x, Value y) { return arith::AddIOp::create(b, loc, x, y); }
  Value sub(Value x, Value y) { return arith::SubIOp::create(b, loc, x, y); }
  Value mul(Value x, Value y) { return arith::MulIOp::create(b, loc, x, y); }
  Value div(Value x, int64_t y) { return arith::DivUIOp::create(b, loc, x, idx(y)); }
  Value rem(Value x, int64_t y) { return arith::RemUIOp::create(b, loc, x, idx(y)); }
  Value add(Value x, int64_t y) { return y ? add(x, idx(y)) : x; }
  Value mul(Value x, int64_t y) { return mul(x, idx(y)); }
  Value min(Value x, Value y) { return arith::MinSIOp::create(b, loc, x, y); }
  Value max(Value x, Value y) { return arith::MaxSIOp::create(b, loc, x, y); }
  Value cmp(arith::CmpIPredicate predicate, Value x, Value y) {
    return arith::CmpIOp::create(b, loc, predicate, x, y);
  }
  Value lt(Value x, Value y) { return cmp(arith::CmpIPredicate::slt, x, y); }
  Value select(Value c, Value x, Value y) {
    return arith::SelectOp::create(b, loc, c, x, y);
  }
  Value fadd(Value x, Value y) { return arith::AddFOp::create(b, loc, x, y); }
  Value fmul(Value x, Value y) { return arith::MulFOp::create(b, loc, x, y); }
  Value fsub(Value x, Value y) { return arith::SubFOp::create(b, loc, x, y); }
  /// NaN-propagating, as the reference's row maximum.
  Value fmax(Value x, Value y) { return arith::MaximumFOp::create(b, loc, x, y); }
  Value isNegInf(Value x) {
    return arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, x, f32(-INFINITY));
  }

  /// PTX's ex2.approx / lg2.approx (relative error about 2^-22): no
  /// libdevice, and the softmax's exponentials stay one instruction each.
  Value intrinsic(StringRef name, Value x) {
    return LLVM::CallIntrinsicOp::create(b, loc, b.getF32Type(),
                                         b.getStringAttr(name), ValueRange{x})
        .getResult(0);
  }
  Value exp2(Value x) { return intrinsic("llvm.nvvm.ex2.approx.ftz.f", x); }
  Value log2(Value x) { return intrinsic("llvm.nvvm.lg2.approx.ftz.f", x); }

  /// `x` combined with the values of the lanes `x ^ 1` and `x ^ 2`: the four
  /// lanes that hold one row of an mma accumulator.
  Value quadReduce(Value x, function_ref<Value(Value, Value)> combine) {
    for (int32_t offset : {1, 2}) {
      Value other = gpu::ShuffleOp::create(b, loc, x, offset, kWarpSize,
                                           gpu::ShuffleMode::XOR)
                        .getShuffleResult();
      x = combine(x, other);
    }
    return x;
  }

  VectorType pairType() { return VectorType::get({2}, element); }

  /// A pair of 16-bit elements as the register type mma.sync takes: f16x2
  /// for f16, i32 for bf16.
  Value toOperand(Value pair) {
    if (element.isF16())
      return pair;
    Value word = vector::BitCastOp::create(
        b, loc, VectorType::get({1}, b.getI32Type()), pair);
    return vector::ExtractOp::create(b, loc, word, ArrayRef<int64_t>{0});
  }

  /// Two f32 values rounded into one operand register.
  Value packPair(Value lo, Value hi) {
    Value wide = vector::FromElementsOp::create(
        b, loc, VectorType::get({2}, b.getF32Type()), ValueRange{lo, hi});
    return toOperand(arith::TruncFOp::create(b, loc, pairType(), wide));
  }

  /// ldmatrix of `tiles` 8x8 matrices; returns one operand register each.
  SmallVector<Value> loadMatrix(Value shared, ValueRange indices, int64_t tiles,
                                bool transpose) {
    auto type = VectorType::get({tiles, 2}, element);
    Value fragments = nvgpu::LdMatrixOp::create(
        b, loc, type, shared, indices, b.getBoolAttr(transpose),
        b.getI32IntegerAttr(tiles));
    SmallVector<Value> registers;
    for (int64_t t = 0; t < tiles; ++t)
      registers.push_back(toOperand(
          vector::ExtractOp::create(b, loc, fragments, ArrayRef<int64_t>{t})));
    return registers;
  }

  /// acc (4 x f32) += a (4 registers) * b (2 registers), m16n8k16.
  SmallVector<Value> mma(ArrayRef<Value> a, ArrayRef<Value> bRegs,
                         ArrayRef<Value> acc) {
    MLIRContext *ctx = b.getContext();
    Type f32Type = b.getF32Type();
    auto resultType = LLVM::LLVMStructType::getLiteral(
        ctx, {f32Type, f32Type, f32Type, f32Type});
    NVVM::MMATypes ptxType =
        element.isF16() ? NVVM::MMATypes::f16 : NVVM::MMATypes::bf16;
    auto op = NVVM::MmaOp::create(
        b, loc, resultType, a, bRegs, acc, ArrayRef<int64_t>{16, 8, 16},
        std::nullopt, std::nullopt,
        std::array<NVVM::MMATypes, 2>{ptxType, ptxType},
        std::array<NVVM::MMALayout, 2>{NVVM::MMALayout::row,
                                        NVVM::MMALayout::col});
    SmallVector<Value> result;
    for (int64_t i = 0; i < 4; ++i)
      result.push_back(LLVM::ExtractValueOp::create(b, loc, op.getResult(),
                                                    ArrayRef<int64_t>{i}));
    return result;
  }

  /// An operand register (f16x2 or i32) as an i32.
  Value asI32(Value operand) {
    if (operand.getType().isInteger(32))
      return operand;
    Value word = vector::BitCastOp::create(
        b, loc, VectorType::get({1}, b.getI32Type()), operand);
    return vector::ExtractOp::create(b, loc, word, ArrayRef<int64_t>{0});
  }

  /// One warpgroup's wgmma.mma_async m64n<n>k16 with f32 accumulators:
  /// `acc` + A B, or A B alone when `acc` is empty, as the n / 2 values a
  /// thread holds (value 4 t + e of the 8-column tile t, as mma.sync's
  /// accumulator). A is the shared-memory descriptor `aDesc`, or when null
  /// the four registers `aRegs` (mma.sync's A layout for the warp's 16
  /// rows); B is the descriptor `bDesc`, N-major when `transposeB`. Inline
  /// PTX: nvvm.wgmma.mma_async (and nvgpu.warpgroup.mma) take no A from
  /// registers.
  SmallVector<Value> wgmma(int64_t n, Value aDesc, ArrayRef<Value> aRegs,
                           Value bDesc, ArrayRef<Value> acc, bool transposeB) {
    int64_t count = n / 2;
    bool accumulate = !acc.empty();
    std::string type = element.isF16() ? "f16" : "bf16";
    std::string text, constraints;
    llvm::raw_string_ostream asmText(text), constraintText(constraints);
    SmallVector<Value> operands;
    for (int64_t i = 0; i < count; ++i)
      constraintText << (i ? "," : "") << "=f";
    if (accumulate) {
      for (int64_t i = 0; i < count; ++i)
        constraintText << "," << i;
      operands.append(acc.begin(), acc.end());
    }
    int64_t next = operands.size() + count;
    std::string aText = "$" + std::to_string(next);
    if (aDesc) {
      operands.push_back(aDesc);
      constraintText << ",l";
      ++next;
    } else {
      aText = "{";
      for (int64_t i = 0; i < 4; ++i) {
        aText += (i ? ", $" : "$") + std::to_string(next++);
        operands.push_back(asI32(aRegs[i]));
        constraintText << ",r";
      }
      aText += "}";
    }
    operands.push_back(bDesc);
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
    operands.push_back(arith::ConstantIntOp::create(b, loc, accumulate ? 1 : 0, 32));
    constraintText << ",r";
    SmallVector<Type> fields(count, b.getF32Type());
    auto resultType = LLVM::LLVMStructType::getLiteral(b.getContext(), fields);
    auto op = LLVM::InlineAsmOp::create(
        b, loc, resultType, operands, text, constraints,
        /*has_side_effects=*/true, /*is_align_stack=*/false,
        LLVM::tailcallkind::TailCallKind::None, LLVM::AsmDialectAttr{},
        ArrayAttr{});
    SmallVector<Value> result;
    for (int64_t i = 0; i < count; ++i)
      result.push_back(LLVM::ExtractValueOp::create(b, loc, op.getRes(),
                                                    ArrayRef<int64_t>{i}));
    return result;
  }

  Value loadI32(Value memref, ValueRange indices) {
    Value value = memref::LoadOp::create(b, loc, memref, indices);
    return arith::IndexCastOp::create(b, loc, b.getIndexType(), value);
  }
  void storeI32(Value value, Value memref, ValueRange indices) {
    Value word = arith::IndexCastOp::create(b, loc, b.getI32Type(), value);
    memref::StoreOp::create(b, loc, word, memref, indices);
  }
};

/// A tile test of a combined mask from its elements' tests (null: an element
/// without one): `disjunctive`, the or of those that have one; otherwise the
/// and of all, null if one has none. Null for masks that combine nothing.
static Value combineTileTests(KernelBuilder &k, Attribute mask, bool disjunctive,
                              function_ref<Value(Attribute)> test) {
  ArrayRef<Attribute> elements = getCombinedMasks(mask);
  if (elements.empty())
    return nullptr;
  Value result;
  for (Attribute element : elements) {
    Value holds = test(element);
    if (!holds) {
      if (disjunctive)
        continue;
      return nullptr;
    }
    result = !result       ? holds
             : disjunctive ? arith::OrIOp::create(k.b, k.loc, result, holds).getResult()
                           : arith::AndIOp::create(k.b, k.loc, result, holds).getResult();
  }
  return result;
}

/// Whether `mask` allows every pair of positions in [firstPos, lastPos] and
/// keys in [firstKey, lastKey] (an i1, uniform over the thread block), or
/// null when the mask has no such test (neighborhoods, documents): those
/// tiles are always masked pair by pair.
static Value buildTileFullyAllowed(KernelBuilder &k, Attribute mask,
                                   Value firstPos, Value lastPos,
                                   Value firstKey, Value lastKey) {
  using P = arith::CmpIPredicate;
  auto both = [&](Value x, Value y) -> Value {
    return arith::AndIOp::create(k.b, k.loc, x, y);
  };
  if (!mask)
    return arith::ConstantIntOp::create(k.b, k.loc, 1, 1);
  if (isa<CausalAttr>(mask))
    return k.cmp(P::sle, lastKey, firstPos);
  if (auto window = dyn_cast<SlidingWindowAttr>(mask))
    return both(k.cmp(P::sle, lastKey, k.add(firstPos, clampWindow(window.getRight()))),
                k.cmp(P::sge, firstKey, k.sub(lastPos, k.idx(clampWindow(window.getLeft())))));
  if (auto sink = dyn_cast<SinkWindowAttr>(mask)) {
    Value inSink = k.lt(lastKey, k.idx(clampWindow(sink.getSink())));
    Value inWindow =
        k.lt(k.sub(lastPos, firstKey), k.idx(clampWindow(sink.getWindow())));
    return both(k.cmp(P::sle, lastKey, firstPos),
                arith::OrIOp::create(k.b, k.loc, inSink, inWindow));
  }
  // A union is full if one element is; an intersection needs all.
  return combineTileTests(k, mask, /*disjunctive=*/isa<UnionAttr>(mask), [&](Attribute element) {
    return buildTileFullyAllowed(k, element, firstPos, lastPos, firstKey, lastKey);
  });
}

/// Whether `mask` allows no pair of positions in [firstPos, lastPos] and keys
/// in [firstKey, lastKey] (an i1), or null when the mask has no such test.
/// A tile it wholly masks contributes nothing whatever the mods: `mask_mod`
/// only narrows the mask and `score_mod` sees allowed pairs only.
static Value buildTileWhollyMasked(KernelBuilder &k, Attribute mask,
                                   Value firstPos, Value lastPos,
                                   Value firstKey, Value lastKey) {
  using P = arith::CmpIPredicate;
  auto either = [&](Value x, Value y) -> Value {
    return arith::OrIOp::create(k.b, k.loc, x, y);
  };
  // Every key after the last row's causal limit.
  auto afterCausal = [&] { return k.cmp(P::sgt, firstKey, lastPos); };
  if (!mask)
    return nullptr;
  if (isa<CausalAttr>(mask))
    return afterCausal();
  if (auto window = dyn_cast<SlidingWindowAttr>(mask))
    return either(
        k.cmp(P::sgt, firstKey, k.add(lastPos, clampWindow(window.getRight()))),
        k.lt(lastKey, k.sub(firstPos, k.idx(clampWindow(window.getLeft())))));
  if (auto sink = dyn_cast<SinkWindowAttr>(mask)) {
    // Causal, and past the sink and outside every row's window.
    Value pastSink = k.cmp(P::sge, firstKey, k.idx(clampWindow(sink.getSink())));
    Value outside = k.cmp(P::sge, k.sub(firstPos, lastKey),
                          k.idx(clampWindow(sink.getWindow())));
    return either(afterCausal(), arith::AndIOp::create(k.b, k.loc, pastSink, outside));
  }
  // An intersection is masked if one element masks; a union needs all.
  return combineTileTests(k, mask, /*disjunctive=*/!isa<UnionAttr>(mask), [&](Attribute element) {
    return buildTileWhollyMasked(k, element, firstPos, lastPos, firstKey, lastKey);
  });
}

/// Whether `mask` bounds each row's keys from below as well (a sliding or
/// sink window, alone or combined): then each edge block of the band has
/// quarters a warpgroup's rows wholly miss, and one it wholly sees.
static bool hasLowerEdge(Attribute mask) {
  if (auto window = dyn_cast_or_null<SlidingWindowAttr>(mask))
    return window.getLeft() < kWindowClamp;
  if (auto sink = dyn_cast_or_null<SinkWindowAttr>(mask))
    return sink.getWindow() < kWindowClamp;
  return mask && llvm::any_of(getCombinedMasks(mask), hasLowerEdge);
}

/// Everything the kernel body reads from the host side.
struct KernelOperands {
  Value query, key, value, numBlocks, blockIndices, output, lse; // memrefs
  Value fullNumBlocks, fullBlockIndices; // memrefs, null without full lists
  Value queryLen, kvLen, listBatch, capacity, kvBlocks;          // index
  Value fullCapacity; // index, 0 without full lists
  int64_t queryHeads = 0, kvHeads = 0, listHeads = 0;
  PairScoreRules rules;
  bool hasPairRules = false; // a mask, mask_mod or score_mod
};

/// The body of the gpu.launch.
class MmaAttentionKernel {
public:
  MmaAttentionKernel(KernelBuilder &k, const MmaKernelConfig &config,
                     const KernelOperands &operands, gpu::LaunchOp launch)
      : k(k), c(config), ops(operands), launch(launch) {}

  LogicalResult build();

private:
  /// One query tile's work (the block's only one, or one of several).
  /// Null inputs: the block's only item. Otherwise the stage of its first
  /// kv tile, whether its Q and its first kv tile are already in flight
  /// (issued during the previous item's last tile), and the next item, if
  /// any (`nextExists`), whose Q and first kv tile this one's last tile
  /// issues.
  struct ItemInput {
    Value stageBase, queryIssued, firstFetched;
    Value nextExists, nextQueryStart, nextQueryOffset;
  };
  struct ItemOutput {
    Value nextStageBase, nextIssued, nextFirstFetched;
  };
  FailureOr<ItemOutput> buildItem(const ItemInput &in);
  void issueQuery(Value start);
  /// Whether the list's first slot names a kv block in range, and the block.
  std::pair<Value, Value> firstListedBlock(KernelBuilder &fk);
  void asyncWait(OpBuilder &wb, Location wl, int32_t pending);

  KernelBuilder &k;
  const MmaKernelConfig &c;
  const KernelOperands &ops;
  gpu::LaunchOp launch;

  // Per-thread positions.
  Value tid, warp, lane, group, quad, batch, head, kvHead, queryStart;
  // The warp index as lane 0 has it: the same value, which the assembler
  // then knows to be uniform over the warp, so that a branch on it around
  // tensor-core ops is not compiled as a divergent one.
  Value uniformWarp;
  // A lane's place in the 8x8 matrices of an ldmatrix x4 (mma.sync kernel).
  Value laneRow, laneHalf, laneQuarter;
  // Shared memory views: padded tiles (mma.sync), or one array of the
  // swizzled tiles starting at shared address `tilesAddress` (wgmma).
  Value queryTile, keyTiles, valueTiles, listCount, list;
  Value tiles, tilesAddress;
  // The query block's lists: where they are read, and their clamped
  // counts. Slot s of the combined list is entry s of the full list for
  // s < fullEntries, then the entries of the first list: a block repeated
  // at a later slot (so a block in both lists) is full.
  Value listBatchIndex, listHead, queryBlock, listEntries, fullEntries;
  Value listEntry(KernelBuilder &nk, Value slot) {
    if (!ops.fullBlockIndices)
      return nk.loadI32(ops.blockIndices, {listBatchIndex, listHead, queryBlock, slot});
    Value inFull = nk.lt(slot, fullEntries);
    auto ifFull = scf::IfOp::create(nk.b, nk.loc, nk.b.getIndexType(), inFull,
                                    /*withElseRegion=*/true);
    OpBuilder::InsertionGuard guard(nk.b);
    nk.b.setInsertionPointToStart(ifFull.thenBlock());
    scf::YieldOp::create(nk.b, nk.loc,
                         nk.loadI32(ops.fullBlockIndices,
                                    {listBatchIndex, listHead, queryBlock, slot}));
    nk.b.setInsertionPointToStart(ifFull.elseBlock());
    scf::YieldOp::create(nk.b, nk.loc,
                         nk.loadI32(ops.blockIndices, {listBatchIndex, listHead, queryBlock,
                                                       nk.sub(slot, fullEntries)}));
    return ifFull.getResult(0);
  }
  void setUpList();

  /// Where a tile's rows go: `memref[lead..., row, col]` (padded), or the
  /// swizzled tile of `rows` rows at element `start` of `tiles`.
  struct TileSlot {
    Value memref;
    SmallVector<Value> lead;
    Value start;
    int64_t rows = 0;
  };
  SmallVector<Value> slotIndices(const TileSlot &slot, Value row, Value col);
  TileSlot querySlot();
  TileSlot keySlot(Value stage);
  TileSlot valueSlot(Value stage);
  /// Byte offsets in the swizzled tiles.
  Value keyOffset(Value stage) {
    return k.add(k.mul(stage, c.keyStageBytes()), c.queryBuffersBytes());
  }
  Value valueOffset(Value stage) {
    return k.add(k.mul(stage, c.valueStageBytes()),
                 c.queryBuffersBytes() + c.stages * c.keyStageBytes());
  }
  /// Byte offset of the Q buffer in use (wgmma; 0 with one buffer).
  Value queryOffset;
  /// The wgmma descriptor (128-byte swizzle) of the operand at `byteOffset`
  /// into the tiles, whose 64-column panels are `panelBytes` apart (the
  /// leading byte offset of an N-major operand; K-major ones ignore it).
  Value descriptor(Value byteOffset, int64_t panelBytes);

  /// The online-softmax state a thread holds: for each of its rows (two per
  /// 16-row tile) the running max (in log2 units) and partial sum, and the
  /// output accumulator fragments [rowTile][valueDim / 8][4].
  struct State {
    SmallVector<Value> rowMax, rowSum, acc;
  };
  int64_t rowsPerThread() const { return 2 * c.rowTiles; }
  int64_t accPerRowTile() const { return c.valueDim / 8 * 4; }

  /// The first and last query rows (inside queryLen) of the rows this
  /// thread's warpgroup (wgmma) or warp (mma.sync) computes: the unit whose
  /// tensor-core ops may branch together.
  /// Without per-group tile tests (see perGroupTiles), the block's rows.
  std::pair<Value, Value> groupRows() {
    int64_t rows = c.warpgroup ? 64 * c.rowTiles : 16 * c.rowTiles;
    if (!perGroupTiles())
      return {queryStart,
              k.sub(k.min(k.add(queryStart, c.blockQ), ops.queryLen), k.idx(1))};
    Value first =
        k.add(queryStart, k.mul(c.warpgroup ? k.div(uniformWarp, 4) : uniformWarp, rows));
    Value last = k.sub(k.min(k.add(first, k.idx(rows)), ops.queryLen), k.idx(1));
    return {first, last};
  }
  /// Whether tiles are tested per group of rows (fully allowed, skipped)
  /// rather than per block: only under masks with a lower edge, where two of
  /// a band's edge blocks' quarters are skipped and two take the fast path
  /// (sliding windows 0-3% faster at D = 128, 1024-key window). Elsewhere the
  /// test costs more than it saves (causal 1-3% slower; docs/performance.md,
  /// runs 14-15 of bench/results/experiments-2026-12-02).
  bool perGroupTiles() const {
    return c.warpgroup && c.rowTiles == 1 && hasLowerEdge(ops.rules.mask);
  }
  /// Whether the kv tile at `kvStart` contributes nothing to this thread's
  /// group of rows (all its keys past kvLen, or the mask allows none of its
  /// pairs and it is not part of a listed full block), or null when that
  /// cannot be told per tile or is not tested (see perGroupTiles).
  Value tileSkipped(KernelBuilder &tk, Value kvStart, Value listedFull);

  /// The query row of a thread's `r`-th row.
  Value threadRow(int64_t r) {
    if (c.warpgroup)
      return k.add(k.add(queryStart, k.mul(k.div(warp, 4), 64 * c.rowTiles)),
                   k.add(k.mul(k.rem(warp, 4), 16), k.add(group, (r / 2) * 64 + (r % 2) * 8)));
    return k.add(k.add(queryStart, k.mul(warp, 16 * c.rowTiles)),
                 k.add(group, (r / 2) * 16 + (r % 2) * 8));
  }

  void setUpShared();
  void copyRows(Value source, Value sourceHead, const TileSlot &slot,
                Value firstRow, Value rowLimit, int64_t rows, int64_t dim,
                SmallVector<Value> &tokens);
  /// S = Q K^T of the tile in `stage`: [8-key tile][4] per thread.
  SmallVector<SmallVector<Value>> computeScores(Value stage);
  /// acc + P V of the tile in `stage`, P the probabilities in `scores`.
  SmallVector<Value> accumulateValues(Value stage,
                                      ArrayRef<SmallVector<Value>> scores,
                                      ArrayRef<Value> acc);
  void loadKvTile(Value kvStart, Value stage);
  void buildList();
  FailureOr<State> processTile(Value kvStart, Value stage, Value listedFull,
                               const State &state);
  void writeResults(const State &state);

  SmallVector<Value> values(const State &state) {
    SmallVector<Value> all(state.rowMax);
    all.append(state.rowSum);
    all.append(state.acc);
    return all;
  }
  State fromValues(ValueRange all) {
    State state;
    int64_t rows = rowsPerThread();
    state.rowMax.assign(all.begin(), all.begin() + rows);
    state.rowSum.assign(all.begin() + rows, all.begin() + 2 * rows);
    state.acc.assign(all.begin() + 2 * rows, all.end());
    return state;
  }
};

void MmaAttentionKernel::setUpShared() {
  OpBuilder &b = k.b;
  Location loc = k.loc;
  auto workgroup = gpu::AddressSpaceAttr::get(b.getContext(),
                                              gpu::AddressSpace::Workgroup);
  auto bytesType = MemRefType::get({ShapedType::kDynamic}, b.getI8Type(),
                                   MemRefLayoutAttrInterface{}, workgroup);
  auto dynamicShared = gpu::DynamicSharedMemoryOp::create(b, loc, bytesType);
  // Outlining keeps this op's attributes: sparse-attn-kernel-limits moves
  // the register cap to the kernel function.
  if (c.maxRegisters)
    dynamicShared->setAttr(kMaxRegistersAttr, b.getI32IntegerAttr(c.maxRegisters));
  Value base = dynamicShared;
  auto view = [&](Value offset, ArrayRef<int64_t> shape, Type type) -> Value {
    auto viewType =
        MemRefType::get(shape, type, MemRefLayoutAttrInterface{}, workgroup);
    return memref::ViewOp::create(b, loc, viewType, base, offset, ValueRange{});
  };
  if (c.warpgroup) {
    // The swizzle is of address bits: the tiles start on a 1 KiB boundary.
    Value baseAddress = memref::ExtractAlignedPointerAsIndexOp::create(b, loc, base);
    Value pad = k.rem(k.sub(k.idx(kSwizzleAtomBytes),
                            k.rem(baseAddress, kSwizzleAtomBytes)),
                      kSwizzleAtomBytes);
    tilesAddress = k.add(baseAddress, pad);
    int64_t elements = (c.tileBytes() - kSwizzleAtomBytes) / 2;
    tiles = view(pad, {elements}, k.element);
  } else {
    int64_t offset = 0;
    queryTile = view(k.idx(offset), {c.blockQ, c.queryStride()}, k.element);
    offset += c.queryBytes();
    keyTiles = view(k.idx(offset), {c.stages, c.blockKv, c.keyStride()}, k.element);
    offset += c.stages * c.keyStageBytes();
    valueTiles =
        view(k.idx(offset), {c.stages, c.blockKv, c.valueStride()}, k.element);
  }
  // [kept blocks, kept full blocks], then the combined list.
  int64_t headerBytes = listHeaderBytes(static_cast<bool>(ops.fullBlockIndices));
  listCount = view(k.idx(c.tileBytes()), {headerBytes / 4}, b.getI32Type());
  auto listType = MemRefType::get({ShapedType::kDynamic}, b.getI32Type(),
                                  MemRefLayoutAttrInterface{}, workgroup);
  list = memref::ViewOp::create(b, loc, listType, base, k.idx(c.tileBytes() + headerBytes),
                                ValueRange{k.add(ops.capacity, ops.fullCapacity)});
}

void MmaAttentionKernel::setUpList() {
  listBatchIndex = ops.listBatch
                       ? k.select(k.cmp(arith::CmpIPredicate::eq, ops.listBatch, k.idx(1)),
                                  k.idx(0), batch)
                       : k.idx(0);
  listHead = k.div(head, ops.queryHeads / ops.listHeads);
  queryBlock = k.div(queryStart, c.listBlockQ);
  Value count = k.loadI32(ops.numBlocks, {listBatchIndex, listHead, queryBlock});
  listEntries = k.min(k.max(count, k.idx(0)), ops.capacity);
  fullEntries = k.idx(0);
  if (ops.fullNumBlocks) {
    Value full = k.loadI32(ops.fullNumBlocks, {listBatchIndex, listHead, queryBlock});
    fullEntries = k.min(k.max(full, k.idx(0)), ops.fullCapacity);
  }
}

SmallVector<Value> MmaAttentionKernel::slotIndices(const TileSlot &slot,
                                                   Value row, Value col) {
  if (!slot.start) {
    SmallVector<Value> indices(slot.lead);
    indices.append({row, col});
    return indices;
  }
  Value panel = k.div(col, kSwizzleElements);
  Value chunk = k.div(k.rem(col, kSwizzleElements), kCopyElements);
  Value swizzled = arith::XOrIOp::create(k.b, k.loc, chunk, k.rem(row, 8));
  Value index = k.add(k.add(slot.start, k.mul(panel, slot.rows * kSwizzleElements)),
                      k.add(k.mul(row, kSwizzleElements), k.mul(swizzled, kCopyElements)));
  return {index};
}

MmaAttentionKernel::TileSlot MmaAttentionKernel::querySlot() {
  if (c.warpgroup)
    return {tiles, {}, k.div(queryOffset, 2), c.blockQ};
  return {queryTile, {}, nullptr, c.blockQ};
}

MmaAttentionKernel::TileSlot MmaAttentionKernel::keySlot(Value stage) {
  if (c.warpgroup)
    return {tiles, {}, k.div(keyOffset(stage), 2), c.blockKv};
  return {keyTiles, {stage}, nullptr, c.blockKv};
}

MmaAttentionKernel::TileSlot MmaAttentionKernel::valueSlot(Value stage) {
  if (c.warpgroup)
    return {tiles, {}, k.div(valueOffset(stage), 2), c.blockKv};
  return {valueTiles, {stage}, nullptr, c.blockKv};
}

Value MmaAttentionKernel::descriptor(Value byteOffset, int64_t panelBytes) {
  OpBuilder &b = k.b;
  Location loc = k.loc;
  auto constant = [&](int64_t value) -> Value {
    return arith::ConstantIntOp::create(b, loc, value, 64);
  };
  Value address = arith::IndexCastUIOp::create(b, loc, b.getI64Type(),
                                               k.add(tilesAddress, byteOffset));
  // Bits 0-13: address / 16; 16-29: leading byte offset / 16; 32-45: stride
  // byte offset / 16 (from one 8-row group to the next); 62-63: 1, the
  // 128-byte swizzle.
  Value start = arith::AndIOp::create(
      b, loc, arith::ShRUIOp::create(b, loc, address, constant(4)), constant(0x3FFF));
  int64_t fixed = ((panelBytes >> 4) << 16) | ((kSwizzleAtomBytes >> 4) << 32) |
                  (int64_t(1) << 62);
  return arith::OrIOp::create(b, loc, start, constant(fixed));
}

/// cp.async of `rows` rows of `source[batch, sourceHead, firstRow + r, :]`
/// into `slot`, 16 bytes per copy spread over the threads; rows at or past
/// `rowLimit` are zero-filled and never read.
void MmaAttentionKernel::copyRows(Value source, Value sourceHead,
                                  const TileSlot &slot, Value firstRow,
                                  Value rowLimit, int64_t rows, int64_t dim,
                                  SmallVector<Value> &tokens) {
  OpBuilder &b = k.b;
  Location loc = k.loc;
  int64_t chunksPerRow = dim / kCopyElements;
  int64_t chunks = rows * chunksPerRow;
  Value lastRow = k.sub(rowLimit, k.idx(1));
  for (int64_t first = 0; first < chunks; first += c.threads()) {
    auto emitCopy = [&](OpBuilder &) {
      Value chunk = k.add(tid, first);
      Value row = k.div(chunk, chunksPerRow);
      Value col = k.mul(k.rem(chunk, chunksPerRow), kCopyElements);
      Value sourceRow = k.add(firstRow, row);
      Value exists = k.lt(sourceRow, rowLimit);
      Value clamped = k.max(k.min(sourceRow, lastRow), k.idx(0));
      Value elements = k.select(exists, k.idx(kCopyElements), k.idx(0));
      tokens.push_back(nvgpu::DeviceAsyncCopyOp::create(
          b, loc, slot.memref, slotIndices(slot, row, col), source,
          ValueRange{batch, sourceHead, clamped, col},
          b.getIndexAttr(kCopyElements), elements, b.getUnitAttr()));
    };
    if (first + c.threads() <= chunks) {
      emitCopy(b);
      continue;
    }
    // The last round: fewer chunks than threads.
    Value active = k.lt(k.add(tid, first), k.idx(chunks));
    auto ifOp = scf::IfOp::create(b, loc, active, /*withElseRegion=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(ifOp.thenBlock());
    emitCopy(b);
  }
}

void MmaAttentionKernel::loadKvTile(Value kvStart, Value stage) {
  SmallVector<Value> tokens;
  copyRows(ops.key, kvHead, keySlot(stage), kvStart, ops.kvLen, c.blockKv,
           c.headDim, tokens);
  copyRows(ops.value, kvHead, valueSlot(stage), kvStart, ops.kvLen,
           c.blockKv, c.valueDim, tokens);
  // Copies issued under an scf.if have tokens that do not dominate here;
  // commit_group does not need them (it closes every pending copy).
  SmallVector<Value> visible;
  for (Value token : tokens)
    if (token.getParentBlock() == k.b.getInsertionBlock())
      visible.push_back(token);
  nvgpu::DeviceAsyncCreateGroupOp::create(
      k.b, k.loc, nvgpu::DeviceAsyncTokenType::get(k.b.getContext()), visible);
}

/// The query block's listed kv blocks, each once, in list order, into
/// shared memory: the threads vet the entries (in range, not listed at an
/// earlier slot; the earlier slots' loads hit L1), and warp 0 compacts the
/// survivors 32 slots at a time (a ballot, then each lane's rank). No raw
/// copy in shared memory: it would cost blocks per multiprocessor.
void MmaAttentionKernel::buildList() {
  OpBuilder &b = k.b;
  Location loc = k.loc;
  Value count = k.add(fullEntries, listEntries);
  auto forSlots = [&](function_ref<void(KernelBuilder &, Value)> body) {
    scf::ForOp::create(b, loc, tid, count, k.idx(c.threads()), ValueRange{},
                       [&](OpBuilder &nb, Location nl, Value slot, ValueRange) {
                         KernelBuilder nk(nb, nl, k.element);
                         body(nk, slot);
                         scf::YieldOp::create(nb, nl);
                       });
  };
  forSlots([&](KernelBuilder &nk, Value slot) {
    OpBuilder &nb = nk.b;
    Location nl = nk.loc;
    Value block = listEntry(nk, slot);
    Value inRange = arith::AndIOp::create(
        nb, nl, nk.cmp(arith::CmpIPredicate::sge, block, nk.idx(0)),
        nk.lt(block, ops.kvBlocks));
    auto earlier = scf::ForOp::create(
        nb, nl, nk.idx(0), slot, nk.idx(1),
        ValueRange{arith::ConstantIntOp::create(nb, nl, 0, 1).getResult()},
        [&](OpBuilder &eb, Location el, Value previous, ValueRange seen) {
          KernelBuilder ek(eb, el, k.element);
          Value same = ek.cmp(arith::CmpIPredicate::eq, listEntry(ek, previous), block);
          scf::YieldOp::create(
              eb, el, ValueRange{arith::OrIOp::create(eb, el, seen[0], same).getResult()});
        });
    Value fresh = arith::XOrIOp::create(nb, nl, earlier.getResult(0),
                                        arith::ConstantIntOp::create(nb, nl, 1, 1));
    Value keep = arith::AndIOp::create(nb, nl, inRange, fresh);
    nk.storeI32(nk.select(keep, block, nk.idx(-1)), list, {slot});
  });
  gpu::BarrierOp::create(b, loc);
  auto ifWarp0 = scf::IfOp::create(b, loc, k.cmp(arith::CmpIPredicate::eq, warp, k.idx(0)),
                                   /*withElseRegion=*/false);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(ifWarp0.thenBlock());
    Type i32 = b.getI32Type();
    auto i32Constant = [&](OpBuilder &ob, int64_t value) -> Value {
      return arith::ConstantIntOp::create(ob, loc, value, 32);
    };
    Value lane32 = arith::IndexCastOp::create(b, loc, i32, lane);
    Value below = arith::SubIOp::create(
        b, loc, arith::ShLIOp::create(b, loc, i32Constant(b, 1), lane32), i32Constant(b, 1));
    // Kept entries, and kept entries of the full list (the first slots).
    auto compact = scf::ForOp::create(
        b, loc, k.idx(0), count, k.idx(kWarpSize), ValueRange{k.idx(0), k.idx(0)},
        [&](OpBuilder &nb, Location nl, Value base, ValueRange kept) {
          KernelBuilder nk(nb, nl, k.element);
          Value slot = nk.add(base, lane);
          Value inList = nk.lt(slot, count);
          Value block = nk.select(inList, nk.loadI32(list, {nk.min(slot, nk.sub(count, nk.idx(1)))}),
                                  nk.idx(-1));
          Value keep = nk.cmp(arith::CmpIPredicate::sge, block, nk.idx(0));
          // Every lane has read its entry before any writes (the ballot
          // converges the warp); ranks never pass a later round's slots.
          Value mask = NVVM::VoteSyncOp::create(nb, nl, i32, i32Constant(nb, -1), keep,
                                                NVVM::VoteSyncKind::ballot);
          Value rank = LLVM::CtPopOp::create(nb, nl, arith::AndIOp::create(nb, nl, mask, below));
          Value total = LLVM::CtPopOp::create(nb, nl, mask);
          auto ifKeep = scf::IfOp::create(nb, nl, keep, /*withElseRegion=*/false);
          {
            OpBuilder::InsertionGuard inner(nb);
            nb.setInsertionPointToStart(ifKeep.thenBlock());
            nk.storeI32(block, list,
                        {nk.add(kept[0], arith::IndexCastOp::create(nb, nl, nb.getIndexType(), rank))});
          }
          Value next = nk.add(kept[0], arith::IndexCastOp::create(nb, nl, nb.getIndexType(), total));
          Value nextFull = kept[1];
          if (ops.fullBlockIndices) {
            Value keepFull = arith::AndIOp::create(nb, nl, keep, nk.lt(slot, fullEntries));
            Value fullMask = NVVM::VoteSyncOp::create(nb, nl, i32, i32Constant(nb, -1), keepFull,
                                                      NVVM::VoteSyncKind::ballot);
            nextFull = nk.add(kept[1], arith::IndexCastOp::create(
                                           nb, nl, nb.getIndexType(),
                                           LLVM::CtPopOp::create(nb, nl, fullMask)));
          }
          scf::YieldOp::create(nb, nl, ValueRange{next, nextFull});
        });
    auto ifLane0 = scf::IfOp::create(b, loc, k.cmp(arith::CmpIPredicate::eq, lane, k.idx(0)),
                                     /*withElseRegion=*/false);
    b.setInsertionPointToStart(ifLane0.thenBlock());
    k.storeI32(compact.getResult(0), listCount, {k.idx(0)});
    if (ops.fullBlockIndices)
      k.storeI32(compact.getResult(1), listCount, {k.idx(1)});
  }
  gpu::BarrierOp::create(b, loc);
}

SmallVector<SmallVector<Value>> MmaAttentionKernel::computeScores(Value stage) {
  OpBuilder &b = k.b;
  Location loc = k.loc;
  int64_t nTiles = c.blockKv / 8;
  SmallVector<SmallVector<Value>> scores(c.rowTiles * nTiles);
  if (c.warpgroup) {
    // Each of the warpgroup's 64-row tiles of Q (rows 64 * (rowTiles *
    // (warp / 4) + rt) on) against the tile's keys, 16 head-dim columns per
    // wgmma: column step kt is at byte 32 * (kt % 4) of panel kt / 4.
    Value groupRows = k.mul(k.div(warp, 4), 64 * c.rowTiles * kSwizzleBytes);
    SmallVector<SmallVector<Value>> acc(c.rowTiles);
    NVVM::WgmmaFenceAlignedOp::create(b, loc);
    for (int64_t kt = 0; kt < c.headDim / 16; ++kt) {
      int64_t column = (kt % 4) * 32;
      Value keyDesc = descriptor(
          k.add(keyOffset(stage), (kt / 4) * c.blockKv * kSwizzleBytes + column), 16);
      for (int64_t rt = 0; rt < c.rowTiles; ++rt) {
        Value queryDesc = descriptor(
            k.add(k.add(queryOffset, groupRows),
                  (kt / 4) * c.blockQ * kSwizzleBytes + rt * 64 * kSwizzleBytes + column),
            16);
        acc[rt] = k.wgmma(c.blockKv, queryDesc, {}, keyDesc, acc[rt], /*transposeB=*/false);
      }
    }
    NVVM::WgmmaGroupSyncAlignedOp::create(b, loc);
    NVVM::WgmmaWaitGroupSyncOp::create(b, loc, 0);
    for (int64_t rt = 0; rt < c.rowTiles; ++rt)
      for (int64_t nt = 0; nt < nTiles; ++nt)
        scores[rt * nTiles + nt].assign(acc[rt].begin() + 4 * nt, acc[rt].begin() + 4 * nt + 4);
    return scores;
  }
  Value zero = k.f32(0.0);
  for (auto &fragment : scores)
    fragment.assign(4, zero);
  for (int64_t kt = 0; kt < c.headDim / 16; ++kt) {
    // A fragments of the warp's 16-row tiles: matrices (rows 0-7, k lo),
    // (rows 8-15, k lo), (rows 0-7, k hi), (rows 8-15, k hi).
    SmallVector<SmallVector<Value>> aRegs;
    for (int64_t rt = 0; rt < c.rowTiles; ++rt) {
      Value row = k.add(k.add(k.mul(warp, 16 * c.rowTiles), rt * 16),
                        k.add(laneRow, k.mul(laneHalf, 8)));
      Value col = k.add(k.mul(laneQuarter, 8), kt * 16);
      aRegs.push_back(k.loadMatrix(queryTile, {row, col}, 4, false));
    }
    // B fragments of two 8-key tiles at once: matrices (keys 0-7, k lo),
    // (keys 0-7, k hi), (keys 8-15, k lo), (keys 8-15, k hi).
    for (int64_t nt = 0; nt < nTiles; nt += 2) {
      Value row = k.add(k.add(laneRow, k.mul(laneQuarter, 8)), nt * 8);
      Value col = k.add(k.mul(laneHalf, 8), kt * 16);
      SmallVector<Value> bRegs = k.loadMatrix(keyTiles, {stage, row, col}, 4, false);
      for (int64_t half = 0; half < 2; ++half)
        for (int64_t rt = 0; rt < c.rowTiles; ++rt) {
          auto &fragment = scores[rt * nTiles + nt + half];
          fragment = k.mma(aRegs[rt], {bRegs[2 * half], bRegs[2 * half + 1]},
                           fragment);
        }
    }
  }
  return scores;
}

SmallVector<Value> MmaAttentionKernel::accumulateValues(
    Value stage, ArrayRef<SmallVector<Value>> scores, ArrayRef<Value> acc) {
  OpBuilder &b = k.b;
  Location loc = k.loc;
  int64_t nTiles = c.blockKv / 8;
  SmallVector<Value> result(acc);
  // P's accumulator layout is the A operand's layout, two 8-key tiles per
  // 16-key step.
  auto probabilities = [&](int64_t rt, int64_t kt) -> SmallVector<Value> {
    const auto &lo = scores[rt * nTiles + 2 * kt];
    const auto &hi = scores[rt * nTiles + 2 * kt + 1];
    return {k.packPair(lo[0], lo[1]), k.packPair(lo[2], lo[3]),
            k.packPair(hi[0], hi[1]), k.packPair(hi[2], hi[3])};
  };
  if (c.warpgroup) {
    // V is N-major (rows of keys): 16 keys per wgmma are 2048 bytes on,
    // its 64-column panels blockKv rows apart.
    NVVM::WgmmaFenceAlignedOp::create(b, loc);
    SmallVector<SmallVector<Value>> tileAcc;
    for (int64_t rt = 0; rt < c.rowTiles; ++rt)
      tileAcc.emplace_back(result.begin() + rt * accPerRowTile(),
                           result.begin() + (rt + 1) * accPerRowTile());
    for (int64_t kt = 0; kt < c.blockKv / 16; ++kt) {
      Value valueDesc = descriptor(k.add(valueOffset(stage), kt * 16 * kSwizzleBytes),
                                   c.blockKv * kSwizzleBytes);
      for (int64_t rt = 0; rt < c.rowTiles; ++rt)
        tileAcc[rt] = k.wgmma(c.valueDim, nullptr, probabilities(rt, kt), valueDesc,
                              tileAcc[rt], /*transposeB=*/true);
    }
    NVVM::WgmmaGroupSyncAlignedOp::create(b, loc);
    NVVM::WgmmaWaitGroupSyncOp::create(b, loc, 0);
    result.clear();
    for (auto &values : tileAcc)
      result.append(values);
    return result;
  }
  for (int64_t kt = 0; kt < c.blockKv / 16; ++kt) {
    SmallVector<SmallVector<Value>> pRegs;
    for (int64_t rt = 0; rt < c.rowTiles; ++rt)
      pRegs.push_back(probabilities(rt, kt));
    // Transposed V fragments of two 8-column tiles: matrices (keys 0-7,
    // cols lo), (keys 8-15, cols lo), (keys 0-7, cols hi), (keys 8-15, cols hi).
    for (int64_t dt = 0; dt < c.valueDim / 8; dt += 2) {
      Value row = k.add(k.add(laneRow, k.mul(laneHalf, 8)), kt * 16);
      Value col = k.add(k.mul(laneQuarter, 8), dt * 8);
      SmallVector<Value> vRegs = k.loadMatrix(valueTiles, {stage, row, col}, 4, true);
      for (int64_t half = 0; half < 2; ++half)
        for (int64_t rt = 0; rt < c.rowTiles; ++rt) {
          int64_t base = rt * accPerRowTile() + (dt + half) * 4;
          SmallVector<Value> fragment(result.begin() + base,
                                      result.begin() + base + 4);
          fragment = k.mma(pRegs[rt], {vRegs[2 * half], vRegs[2 * half + 1]},
                           fragment);
          llvm::copy(fragment, result.begin() + base);
        }
    }
  }
  return result;
}

FailureOr<MmaAttentionKernel::State>
MmaAttentionKernel::processTile(Value kvStart, Value stage, Value listedFull,
                                const State &state) {
  OpBuilder &b = k.b;
  Location loc = k.loc;
  int64_t nTiles = c.blockKv / 8;
  // S = Q K^T: scores[rowTile][nTile][4], f32.
  SmallVector<SmallVector<Value>> scores = computeScores(stage);
  Value zero = k.f32(0.0);

  // Masked scores. Element e of a fragment is at row group (+8 for e >= 2)
  // and key 2 * quad + (e % 2) of its 8-key tile. Without a score_mod (and
  // with a positive scale) they stay unscaled: the row maximum is taken
  // before scaling and each exponent is one fma, exp2(s * c - max * c);
  // otherwise they are scaled to log2 units here.
  double log2e = 1.4426950408889634;
  bool rawScores = !ops.rules.scoreMod && ops.rules.scale > 0;
  Value scaleLog2 = k.f32(ops.rules.scale * log2e);
  Value log2eValue = k.f32(log2e);
  Value negInf = k.f32(-INFINITY);
  Value lastQuery = k.sub(ops.queryLen, k.idx(1));
  Value lastKey = k.sub(ops.kvLen, k.idx(1));
  SmallVector<Value> flat;
  for (auto &fragment : scores)
    flat.append(fragment);
  // Tiles inside the keys and wholly allowed (by a structural mask without
  // mods, or as a listed full block without a score_mod) skip the per-pair
  // rules; the branch is uniform over the group of rows (warpgroup or
  // warp) whose tensor-core ops run together. `listedFull` (null without
  // full lists) also lets the per-pair rules allow every in-bounds pair.
  Value lastTileKey = k.add(kvStart, c.blockKv - 1);
  Value fullTile = k.lt(lastTileKey, ops.kvLen);
  if (ops.rules.scoreMod) {
    fullTile = nullptr;
  } else if (ops.rules.mask || ops.rules.maskMod) {
    Value allowed;
    if (ops.rules.mask && !ops.rules.maskMod) {
      // Over the rows of this thread's group: the branch is uniform there.
      Value offset = k.sub(ops.kvLen, ops.queryLen);
      auto [firstRow, lastRow] = groupRows();
      allowed = buildTileFullyAllowed(k, ops.rules.mask, k.add(firstRow, offset),
                                      k.add(lastRow, offset), kvStart, lastTileKey);
    }
    if (listedFull)
      allowed = allowed ? arith::OrIOp::create(b, loc, allowed, listedFull).getResult()
                        : listedFull;
    fullTile = allowed ? arith::AndIOp::create(b, loc, fullTile, allowed).getResult()
                       : nullptr;
  }
  // A causal or sliding-window mask allows each row one interval of keys:
  // its bounds are computed once per row, relative to the thread's first
  // key, and each score costs two i32 compares against a constant column.
  std::optional<std::pair<int64_t, int64_t>> window; // (left, right)
  if (isa_and_nonnull<CausalAttr>(ops.rules.mask))
    window = std::make_pair(kWindowClamp, int64_t(0));
  if (auto sliding = dyn_cast_or_null<SlidingWindowAttr>(ops.rules.mask))
    window = std::make_pair(clampWindow(sliding.getLeft()), clampWindow(sliding.getRight()));
  bool intervalMask = window && !ops.rules.maskMod && rawScores;
  auto maskScoresByInterval = [&]() -> SmallVector<Value> {
    Type i32 = b.getI32Type();
    Value offset = k.sub(ops.kvLen, ops.queryLen);
    // Keys relative to this thread's first key of the tile.
    Value base = k.add(kvStart, k.mul(quad, 2));
    Value lastRel = k.sub(lastKey, base);
    SmallVector<Value> lo, hi;
    for (int64_t r = 0; r < rowsPerThread(); ++r) {
      Value position = k.add(k.min(threadRow(r), lastQuery), offset);
      Value first = k.sub(k.sub(position, k.idx(window->first)), base);
      Value last = k.min(k.sub(k.add(position, k.idx(window->second)), base), lastRel);
      if (listedFull) {
        // A full block's tile allows every key inside the lengths.
        first = k.select(listedFull, k.idx(-1), first);
        last = k.select(listedFull, lastRel, last);
      }
      // Clamped to the tile's columns, so the i32 values cannot wrap.
      first = k.max(k.min(first, k.idx(c.blockKv)), k.idx(-1));
      last = k.max(k.min(last, k.idx(c.blockKv)), k.idx(-1));
      lo.push_back(arith::IndexCastOp::create(b, loc, i32, first));
      hi.push_back(arith::IndexCastOp::create(b, loc, i32, last));
    }
    SmallVector<Value> masked;
    for (auto [position, score] : llvm::enumerate(flat)) {
      int64_t rt = position / (4 * nTiles), nt = position / 4 % nTiles, e = position % 4;
      int64_t r = 2 * rt + e / 2;
      Value column = arith::ConstantIntOp::create(b, loc, nt * 8 + e % 2, 32);
      Value allowed = arith::AndIOp::create(
          b, loc, arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sle, lo[r], column),
          arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sle, column, hi[r]));
      masked.push_back(k.select(allowed, score, negInf));
    }
    return masked;
  };
  auto maskScores = [&](OpBuilder &) -> FailureOr<SmallVector<Value>> {
    if (intervalMask)
      return maskScoresByInterval();
    SmallVector<Value> rows;
    for (int64_t r = 0; r < rowsPerThread(); ++r)
      rows.push_back(k.min(threadRow(r), lastQuery));
    SmallVector<Value> masked;
    for (auto [position, score] : llvm::enumerate(flat)) {
      int64_t rt = position / (4 * nTiles), nt = position / 4 % nTiles, e = position % 4;
      Value key = k.add(k.add(kvStart, nt * 8 + e % 2), k.mul(quad, 2));
      Value inBounds = k.lt(key, ops.kvLen);
      if (!ops.hasPairRules) {
        masked.push_back(k.select(inBounds, rawScores ? score : k.fmul(score, scaleLog2),
                                  negInf));
        continue;
      }
      FailureOr<std::pair<Value, Value>> scored = buildPairScore(
          b, loc, ops.rules, score, batch, head, rows[2 * rt + e / 2],
          k.min(key, lastKey), ops.queryLen, ops.kvLen,
          [&](OpBuilder &, Location) { return inBounds; },
          listedFull ? function_ref<Value(OpBuilder &, Location)>(
                           [&](OpBuilder &fb, Location fl) -> Value {
                             return arith::AndIOp::create(fb, fl, listedFull, inBounds);
                           })
                     : nullptr);
      if (failed(scored))
        return failure();
      masked.push_back(rawScores ? k.select(scored->second, score, negInf)
                                 : k.fmul(scored->first, log2eValue));
    }
    return masked;
  };
  SmallVector<Value> final;
  if (!fullTile) {
    FailureOr<SmallVector<Value>> masked = maskScores(b);
    if (failed(masked))
      return failure();
    final = *masked;
  } else {
    SmallVector<Type> types(flat.size(), b.getF32Type());
    auto ifFull = scf::IfOp::create(b, loc, types, fullTile, /*withElseRegion=*/true);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(ifFull.thenBlock());
      SmallVector<Value> scaled;
      for (Value score : flat)
        scaled.push_back(rawScores ? score : k.fmul(score, scaleLog2));
      scf::YieldOp::create(b, loc, scaled);
      b.setInsertionPointToStart(ifFull.elseBlock());
      FailureOr<SmallVector<Value>> masked = maskScores(b);
      if (failed(masked))
        return failure();
      scf::YieldOp::create(b, loc, *masked);
    }
    final.assign(ifFull.getResults().begin(), ifFull.getResults().end());
  }
  for (auto [position, score] : llvm::enumerate(final))
    scores[position / 4][position % 4] = score;

  // Online softmax per row (in log2 units); the four lanes of a quad share
  // a row. Maxima and sums are pairwise trees: short dependency chains.
  auto tree = [&](ArrayRef<Value> input, function_ref<Value(Value, Value)> combine) {
    SmallVector<Value> values(input);
    while (values.size() > 1) {
      SmallVector<Value> next;
      for (size_t i = 0; i + 1 < values.size(); i += 2)
        next.push_back(combine(values[i], values[i + 1]));
      if (values.size() % 2)
        next.push_back(values.back());
      values = std::move(next);
    }
    return values.front();
  };
  auto fmax = [&](Value x, Value y) { return k.fmax(x, y); };
  auto fadd = [&](Value x, Value y) { return k.fadd(x, y); };
  State next;
  SmallVector<Value> rowScale;
  for (int64_t r = 0; r < rowsPerThread(); ++r) {
    int64_t rt = r / 2, e0 = (r % 2) * 2;
    SmallVector<Value> rowScores;
    for (int64_t nt = 0; nt < nTiles; ++nt)
      for (int64_t e = e0; e < e0 + 2; ++e)
        rowScores.push_back(scores[rt * nTiles + nt][e]);
    Value tileMax = k.quadReduce(tree(rowScores, fmax), fmax);
    if (rawScores)
      tileMax = k.fmul(tileMax, scaleLog2);
    Value newMax = k.fmax(state.rowMax[r], tileMax);
    // Shift by 0 while the row has seen no allowed key: exp2(-inf) = 0.
    Value shift = k.select(k.isNegInf(newMax), zero, newMax);
    Value alpha = k.exp2(k.fsub(state.rowMax[r], shift));
    SmallVector<Value> terms{k.fmul(state.rowSum[r], alpha)};
    for (int64_t nt = 0; nt < nTiles; ++nt)
      for (int64_t e = e0; e < e0 + 2; ++e) {
        Value &score = scores[rt * nTiles + nt][e];
        // llvm.intr.fma: math.fma would become a libdevice call.
        Value exponent = rawScores
                             ? Value(LLVM::FMAOp::create(b, loc, score, scaleLog2,
                                                         arith::NegFOp::create(b, loc, shift)))
                             : k.fsub(score, shift);
        score = k.exp2(exponent);
        terms.push_back(score);
      }
    Value sum = tree(terms, fadd);
    next.rowMax.push_back(newMax);
    next.rowSum.push_back(sum);
    rowScale.push_back(alpha);
  }
  next.acc = state.acc;
  for (int64_t rt = 0; rt < c.rowTiles; ++rt)
    for (int64_t i = 0; i < accPerRowTile(); ++i) {
      Value &acc = next.acc[rt * accPerRowTile() + i];
      acc = k.fmul(acc, rowScale[2 * rt + (i % 4) / 2]);
    }

  next.acc = accumulateValues(stage, scores, next.acc);
  return next;
}

Value MmaAttentionKernel::tileSkipped(KernelBuilder &tk, Value kvStart, Value listedFull) {
  if (!perGroupTiles())
    return nullptr;
  Value pastKeys = tk.cmp(arith::CmpIPredicate::sge, kvStart, ops.kvLen);
  if (!ops.rules.mask)
    return pastKeys;
  Value offset = tk.sub(ops.kvLen, ops.queryLen);
  auto [firstRow, lastRow] = groupRows();
  Value masked = buildTileWhollyMasked(tk, ops.rules.mask, tk.add(firstRow, offset),
                                       tk.add(lastRow, offset), kvStart,
                                       tk.add(kvStart, c.blockKv - 1));
  if (!masked)
    return pastKeys;
  // A listed full block's pairs are allowed whatever the mask says.
  if (listedFull)
    masked = arith::AndIOp::create(
        tk.b, tk.loc, masked,
        arith::XOrIOp::create(tk.b, tk.loc, listedFull,
                              arith::ConstantIntOp::create(tk.b, tk.loc, 1, 1)));
  return arith::OrIOp::create(tk.b, tk.loc, pastKeys, masked);
}

void MmaAttentionKernel::writeResults(const State &state) {
  OpBuilder &b = k.b;
  Location loc = k.loc;
  double ln2 = 0.6931471805599453;
  Value zero = k.f32(0.0);
  Value one = k.f32(1.0);
  for (int64_t r = 0; r < rowsPerThread(); ++r) {
    int64_t rt = r / 2, e0 = (r % 2) * 2;
    Value row = threadRow(r);
    Value sum = k.quadReduce(state.rowSum[r],
                             [&](Value x, Value y) { return k.fadd(x, y); });
    Value empty = k.isNegInf(state.rowMax[r]);
    Value inverse = arith::DivFOp::create(b, loc, one, sum);
    auto ifRow = scf::IfOp::create(b, loc, k.lt(row, ops.queryLen),
                                   /*withElseRegion=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(ifRow.thenBlock());
    for (int64_t dt = 0; dt < c.valueDim / 8; ++dt) {
      int64_t base = rt * accPerRowTile() + dt * 4 + e0;
      Value lo = k.select(empty, zero, k.fmul(state.acc[base], inverse));
      Value hi = k.select(empty, zero, k.fmul(state.acc[base + 1], inverse));
      Value wide = vector::FromElementsOp::create(
          b, loc, VectorType::get({2}, b.getF32Type()), ValueRange{lo, hi});
      Value pair = arith::TruncFOp::create(b, loc, k.pairType(), wide);
      Value col = k.add(k.mul(quad, 2), dt * 8);
      auto store = vector::StoreOp::create(b, loc, pair, ops.output,
                                           ValueRange{batch, head, row, col});
      store.setAlignmentAttr(b.getI64IntegerAttr(4));
    }
    Value lse = k.fmul(k.fadd(state.rowMax[r], k.log2(sum)), k.f32(ln2));
    lse = k.select(empty, k.f32(-INFINITY), lse);
    auto ifQuad = scf::IfOp::create(b, loc, k.cmp(arith::CmpIPredicate::eq, quad, k.idx(0)),
                                    /*withElseRegion=*/false);
    b.setInsertionPointToStart(ifQuad.thenBlock());
    memref::StoreOp::create(b, loc, lse, ops.lse, ValueRange{batch, head, row});
  }
}

LogicalResult MmaAttentionKernel::build() {
  OpBuilder &b = k.b;
  Location loc = k.loc;
  gpu::KernelDim3 blockIds = launch.getBlockIds();
  gpu::KernelDim3 threadIds = launch.getThreadIds();
  tid = threadIds.x;
  warp = k.div(tid, kWarpSize);
  if (perGroupTiles()) {
    Type i32 = b.getI32Type();
    Value word = arith::IndexCastOp::create(b, loc, i32, warp);
    Value first = gpu::ShuffleOp::create(b, loc, word, int32_t(0), int32_t(kWarpSize),
                                         gpu::ShuffleMode::IDX)
                      .getShuffleResult();
    uniformWarp = arith::IndexCastOp::create(b, loc, b.getIndexType(), first);
  }
  lane = k.rem(tid, kWarpSize);
  group = k.div(lane, 4);
  quad = k.rem(lane, 4);
  laneRow = k.rem(lane, 8);
  laneHalf = k.rem(k.div(lane, 8), 2);
  laneQuarter = k.div(lane, 16);
  head = blockIds.y;
  batch = blockIds.z;
  kvHead = k.div(head, ops.queryHeads / ops.kvHeads);
  queryOffset = k.idx(0);
  setUpShared();

  if (c.itemsPerBlock == 1) {
    // Later query tiles usually list more kv blocks (causal masks): they
    // start first, so the last wave is of short tiles.
    Value reversed = k.sub(k.sub(launch.getGridSize().x, blockIds.x), k.idx(1));
    queryStart = k.mul(reversed, c.blockQ);
    if (failed(buildItem(ItemInput{})))
      return failure();
    // An empty list never waited for Q; nothing reads it then, but no copy
    // may be left in flight when the block exits.
    asyncWait(b, loc, 0);
    return success();
  }

  // Query tiles j = x, x + gridDim.x, ... (of at most itemsPerBlock) in turn,
  // tile j being query tile queryTiles - 1 - j (the long ones of a causal
  // mask first). Carried: the stage of the next item's first kv tile, and
  // whether the last kv tile issued the next item's Q and first kv tile.
  Value queryTiles = k.div(k.add(ops.queryLen, c.blockQ - 1), c.blockQ);
  Value gridX = launch.getGridSize().x;
  Value falseValue = arith::ConstantIntOp::create(b, loc, 0, 1);
  bool failedItem = false;
  auto items = scf::ForOp::create(
      b, loc, k.idx(0), k.idx(c.itemsPerBlock), k.idx(1),
      ValueRange{k.idx(0), falseValue, falseValue},
      [&](OpBuilder &ib, Location il, Value it, ValueRange carried) {
        KernelBuilder ik(ib, il, k.element);
        Value item = ik.add(blockIds.x, ik.mul(it, gridX));
        auto ifActive = scf::IfOp::create(ib, il, carried.getTypes(), ik.lt(item, queryTiles),
                                          /*withElseRegion=*/true);
        {
          OpBuilder::InsertionGuard guard(ib);
          ib.setInsertionPointToStart(ifActive.thenBlock());
          auto tileOf = [&](Value j) {
            return ik.mul(ik.sub(ik.sub(queryTiles, ik.idx(1)), j), c.blockQ);
          };
          Value nextItem = ik.add(item, gridX);
          ItemInput in;
          in.stageBase = carried[0];
          in.queryIssued = carried[1];
          in.firstFetched = carried[2];
          in.nextExists = arith::AndIOp::create(ib, il, ik.lt(ik.add(it, 1), ik.idx(c.itemsPerBlock)),
                                                ik.lt(nextItem, queryTiles));
          in.nextQueryStart = tileOf(nextItem);
          Value buffer = ik.rem(it, 2);
          in.nextQueryOffset = ik.mul(ik.sub(ik.idx(1), buffer), c.queryBytes());
          queryStart = tileOf(item);
          queryOffset = ik.mul(buffer, c.queryBytes());
          FailureOr<ItemOutput> out = buildItem(in);
          if (failed(out)) {
            failedItem = true;
            scf::YieldOp::create(ib, il, carried);
          } else {
            scf::YieldOp::create(ib, il, ValueRange{out->nextStageBase, out->nextIssued,
                                                    out->nextFirstFetched});
          }
          ib.setInsertionPointToStart(ifActive.elseBlock());
          scf::YieldOp::create(ib, il, carried);
        }
        scf::YieldOp::create(ib, il, ifActive.getResults());
      });
  (void)items;
  if (failedItem)
    return failure();
  asyncWait(b, loc, 0);
  return success();
}

void MmaAttentionKernel::asyncWait(OpBuilder &wb, Location wl, int32_t pending) {
  // The token operand is not what the wait counts (cp.async.wait_group
  // counts this thread's open groups), so any token serves.
  Value token = nvgpu::DeviceAsyncCreateGroupOp::create(
      wb, wl, nvgpu::DeviceAsyncTokenType::get(wb.getContext()), ValueRange{});
  nvgpu::DeviceAsyncWaitOp::create(wb, wl, token, wb.getI32IntegerAttr(pending));
}

void MmaAttentionKernel::issueQuery(Value start) {
  SmallVector<Value> queryTokens;
  copyRows(ops.query, head, querySlot(), start, ops.queryLen, c.blockQ, c.headDim,
           queryTokens);
  nvgpu::DeviceAsyncCreateGroupOp::create(
      k.b, k.loc, nvgpu::DeviceAsyncTokenType::get(k.b.getContext()), ValueRange{});
}

std::pair<Value, Value> MmaAttentionKernel::firstListedBlock(KernelBuilder &fk) {
  Value any = fk.lt(fk.idx(0), fk.add(fullEntries, listEntries));
  auto ifAny = scf::IfOp::create(fk.b, fk.loc, TypeRange{fk.b.getI1Type(), fk.b.getIndexType()},
                                 any, /*withElseRegion=*/true);
  OpBuilder::InsertionGuard guard(fk.b);
  fk.b.setInsertionPointToStart(ifAny.thenBlock());
  Value first = listEntry(fk, fk.idx(0));
  Value inRange = arith::AndIOp::create(
      fk.b, fk.loc, fk.cmp(arith::CmpIPredicate::sge, first, fk.idx(0)),
      fk.lt(first, ops.kvBlocks));
  scf::YieldOp::create(fk.b, fk.loc, ValueRange{inRange, first});
  fk.b.setInsertionPointToStart(ifAny.elseBlock());
  scf::YieldOp::create(fk.b, fk.loc, ValueRange{any, fk.idx(0)});
  return {ifAny.getResult(0), ifAny.getResult(1)};
}

FailureOr<MmaAttentionKernel::ItemOutput>
MmaAttentionKernel::buildItem(const ItemInput &in) {
  OpBuilder &b = k.b;
  Location loc = k.loc;
  Value trueValue = arith::ConstantIntOp::create(b, loc, 1, 1);
  auto negate = [&](Value x) { return arith::XOrIOp::create(b, loc, x, trueValue).getResult(); };
  // The stage of the item's kv tile `tile`.
  auto stageOf = [&](KernelBuilder &sk, Value tile) {
    return sk.rem(in.stageBase ? sk.add(tile, in.stageBase) : tile, 2);
  };
  auto ifThen = [&](Value condition, function_ref<void()> body) {
    auto ifOp = scf::IfOp::create(b, loc, condition, /*withElseRegion=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(ifOp.thenBlock());
    body();
  };

  // Q (its own copy group), the list, then the kv tiles.
  if (!in.queryIssued)
    issueQuery(queryStart);
  else
    ifThen(negate(in.queryIssued), [&] { issueQuery(queryStart); });
  setUpList();
  // The list's first slot, when in range, is its first block whatever the
  // rest holds: its tile is fetched before the list is vetted (here, or by
  // the block's previous item).
  Value firstFetched = in.firstFetched;
  if (c.stages == 2) {
    Value fetchNow = in.firstFetched ? negate(in.firstFetched) : trueValue;
    auto ifFetch = scf::IfOp::create(b, loc, b.getI1Type(), fetchNow, /*withElseRegion=*/true);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(ifFetch.thenBlock());
      auto [inRange, first] = firstListedBlock(k);
      ifThen(inRange, [&] { loadKvTile(k.mul(first, c.listBlockKv), stageOf(k, k.idx(0))); });
      scf::YieldOp::create(b, loc, inRange);
      b.setInsertionPointToStart(ifFetch.elseBlock());
      scf::YieldOp::create(b, loc, trueValue);
    }
    firstFetched = ifFetch.getResult(0);
  }
  buildList();
  Value blocks = k.loadI32(listCount, {k.idx(0)});
  Value fullBlocks = ops.fullBlockIndices ? k.loadI32(listCount, {k.idx(1)}) : Value();
  int64_t subTiles = c.listBlockKv / c.blockKv;
  Value tiles = k.mul(blocks, subTiles);
  auto tileStart = [&](KernelBuilder &tk, Value tile) {
    Value block = tk.loadI32(list, {tk.div(tile, subTiles)});
    return tk.add(tk.mul(block, c.listBlockKv), tk.mul(tk.rem(tile, subTiles), c.blockKv));
  };

  // The next item's first listed block, read now (its loads' latency hides
  // behind this item's tiles); its count and list are vetted in its turn.
  Value nextFirstInRange, nextFirst;
  if (in.nextExists) {
    auto ifNext = scf::IfOp::create(b, loc, TypeRange{b.getI1Type(), b.getIndexType()},
                                    in.nextExists, /*withElseRegion=*/true);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(ifNext.thenBlock());
      // setUpList's values for the next item live in this region only.
      std::array<Value *, 6> place = {&queryStart, &listBatchIndex, &listHead,
                                      &queryBlock, &listEntries, &fullEntries};
      std::array<Value, 6> saved;
      for (auto [slot, value] : llvm::zip_equal(saved, place))
        slot = *value;
      queryStart = in.nextQueryStart;
      setUpList();
      auto [inRange, first] = firstListedBlock(k);
      for (auto [slot, value] : llvm::zip_equal(saved, place))
        *value = slot;
      scf::YieldOp::create(b, loc, ValueRange{inRange, first});
      b.setInsertionPointToStart(ifNext.elseBlock());
      scf::YieldOp::create(b, loc,
                           ValueRange{arith::ConstantIntOp::create(b, loc, 0, 1).getResult(),
                                      k.idx(0)});
    }
    nextFirstInRange = ifNext.getResult(0);
    nextFirst = ifNext.getResult(1);
  }

  State initial;
  for (int64_t r = 0; r < rowsPerThread(); ++r) {
    initial.rowMax.push_back(k.f32(-INFINITY));
    initial.rowSum.push_back(k.f32(0.0));
  }
  initial.acc.assign(c.rowTiles * accPerRowTile(), k.f32(0.0));

  if (c.stages == 2) {
    // Prefetch the first tile; each iteration then waits for its tile and
    // issues the next one before its own math.
    Value fetch = arith::AndIOp::create(b, loc, k.lt(k.idx(0), tiles), negate(firstFetched));
    ifThen(fetch, [&] { loadKvTile(tileStart(k, k.idx(0)), stageOf(k, k.idx(0))); });
  }
  bool failedTile = false;
  auto loop = scf::ForOp::create(
      b, loc, k.idx(0), tiles, k.idx(1), values(initial),
      [&](OpBuilder &lb, Location ll, Value tile, ValueRange args) {
        KernelBuilder lk(lb, ll, k.element);
        Value stage = c.stages == 2 ? stageOf(lk, tile) : lk.idx(0);
        Value kvStart = tileStart(lk, tile);
        if (c.stages == 1) {
          gpu::BarrierOp::create(lb, ll);
          loadKvTile(kvStart, stage);
        }
        asyncWait(lb, ll, 0);
        // wgmma reads shared memory through the async proxy: each thread's
        // completed copies are fenced to it before the barrier.
        if (c.warpgroup)
          NVVM::FenceProxyOp::create(
              lb, ll, NVVM::ProxyKindAttr::get(lb.getContext(), NVVM::ProxyKind::async_shared),
              NVVM::SharedSpaceAttr::get(lb.getContext(), NVVM::SharedSpace::shared_cta));
        gpu::BarrierOp::create(lb, ll);
        if (c.stages == 2) {
          Value nextTile = lk.add(tile, 1);
          auto ifNext = scf::IfOp::create(lb, ll, lk.lt(nextTile, tiles),
                                          /*withElseRegion=*/static_cast<bool>(in.nextExists));
          OpBuilder::InsertionGuard guard(lb);
          lb.setInsertionPointToStart(ifNext.thenBlock());
          KernelBuilder nk(lb, ll, k.element);
          loadKvTile(tileStart(nk, nextTile), stageOf(nk, nextTile));
          if (in.nextExists) {
            // The last tile: the next item's Q (the other buffer) and its
            // first kv tile (the stage after this one) go in flight now.
            lb.setInsertionPointToStart(ifNext.elseBlock());
            auto ifItem = scf::IfOp::create(lb, ll, in.nextExists, /*withElseRegion=*/false);
            lb.setInsertionPointToStart(ifItem.thenBlock());
            Value saved = queryOffset;
            queryOffset = in.nextQueryOffset;
            issueQuery(in.nextQueryStart);
            queryOffset = saved;
            auto ifFirst = scf::IfOp::create(lb, ll, nextFirstInRange, /*withElseRegion=*/false);
            lb.setInsertionPointToStart(ifFirst.thenBlock());
            loadKvTile(nk.mul(nextFirst, c.listBlockKv), stageOf(nk, tiles));
          }
        }
        Value listedFull =
            fullBlocks ? lk.lt(lk.div(tile, subTiles), fullBlocks) : Value();
        // A tile that contributes nothing to this group's rows (the masked
        // quarter of a band's edge block, keys past the end) is skipped: its
        // products too, under a branch uniform over the group.
        scf::IfOp ifSkip;
        if (Value skipped = tileSkipped(lk, kvStart, listedFull)) {
          ifSkip = scf::IfOp::create(lb, ll, args.getTypes(), skipped, /*withElseRegion=*/true);
          lb.setInsertionPointToStart(ifSkip.thenBlock());
          scf::YieldOp::create(lb, ll, args);
          lb.setInsertionPointToStart(ifSkip.elseBlock());
        }
        FailureOr<State> updated = processTile(kvStart, stage, listedFull, fromValues(args));
        failedTile |= failed(updated);
        scf::YieldOp::create(lb, ll,
                             succeeded(updated) ? values(*updated) : SmallVector<Value>(args));
        if (ifSkip) {
          lb.setInsertionPointAfter(ifSkip);
          scf::YieldOp::create(lb, ll, ifSkip.getResults());
        }
      });
  if (failedTile)
    return failure();
  ItemOutput out;
  if (in.nextExists) {
    // An empty list never waited for this item's Q, which a later item's
    // copy into the same buffer must not race.
    ifThen(k.cmp(arith::CmpIPredicate::eq, tiles, k.idx(0)), [&] { asyncWait(b, loc, 0); });
    Value any = k.lt(k.idx(0), tiles);
    out.nextStageBase = stageOf(k, tiles);
    out.nextIssued = arith::AndIOp::create(b, loc, in.nextExists, any);
    out.nextFirstFetched = arith::AndIOp::create(b, loc, out.nextIssued, nextFirstInRange);
  }
  writeResults(fromValues(loop.getResults()));
  return out;
}

//===----------------------------------------------------------------------===//
// The rewrite
//===----------------------------------------------------------------------===//

/// `tensor` as a memref whose innermost stride is 1 (any other layout of the
/// tensor's buffer is a cast away).
static Value toKernelBuffer(OpBuilder &b, Location loc, Value tensor) {
  auto type = cast<RankedTensorType>(tensor.getType());
  SmallVector<int64_t> strides(type.getRank(), ShapedType::kDynamic);
  strides.back() = 1;
  auto layout = StridedLayoutAttr::get(b.getContext(), ShapedType::kDynamic, strides);
  auto memrefType = MemRefType::get(type.getShape(), type.getElementType(), layout);
  return bufferization::ToBufferOp::create(b, loc, memrefType, tensor,
                                           /*readOnly=*/true);
}

struct BlockSparseAttentionMmaLowering
    : public OpRewritePattern<BlockSparseAttentionOp> {
  BlockSparseAttentionMmaLowering(MLIRContext *ctx,
                                  const MmaAttentionOptions &options)
      : OpRewritePattern(ctx, /*benefit=*/2), options(options) {}

  LogicalResult matchAndRewrite(BlockSparseAttentionOp op,
                                PatternRewriter &rewriter) const override {
    return lower(op, rewriter, options);
  }

  /// Replaces `op` by the tensor-core kernel's launch (fails, leaving the
  /// IR as it was, when the kernel does not take it).
  static LogicalResult lower(BlockSparseAttentionOp op, PatternRewriter &rewriter,
                             const MmaAttentionOptions &options) {
    std::string reason;
    FailureOr<MmaKernelConfig> config = chooseMmaKernel(op, options, reason);
    if (failed(config))
      return rewriter.notifyMatchFailure(op, reason);
    Location loc = op.getLoc();
    LoweringBuilder l(rewriter, op, options.runtimeChecks);
    AttentionShape shape = getAttentionShape(l, op.getQuery(), op.getKey(),
                                             op.getValue(), nullptr, nullptr);
    checkMaskLengths(l, op.getMaskAttr(), shape.kvLen);
    Value numBlocks = op.getNumBlocks(), blockIndices = op.getBlockIndices();
    l.checkEq(l.dim(numBlocks, 2), l.ceilDiv(shape.queryLen, config->listBlockQ),
              "block lists do not have ceil(Sq / block_q) query blocks");
    l.commonDim({{numBlocks, 0}, {blockIndices, 0}},
                "num_blocks and block_indices batch differ");
    l.commonDim({{numBlocks, 2}, {blockIndices, 2}},
                "num_blocks and block_indices query blocks differ");

    KernelOperands operands;
    operands.queryLen = shape.queryLen;
    operands.kvLen = shape.kvLen;
    operands.queryHeads = shape.queryHeads;
    operands.kvHeads = shape.kvHeads;
    operands.listHeads = cast<RankedTensorType>(blockIndices.getType()).getDimSize(1);
    operands.capacity = l.dim(blockIndices, 3);
    operands.fullCapacity = l.index(0);
    if (Value fullNum = op.getFullNumBlocks()) {
      checkFullListShapes(l, numBlocks, fullNum, op.getFullBlockIndices(),
                          l.ceilDiv(shape.queryLen, config->listBlockQ));
      operands.fullCapacity = l.dim(op.getFullBlockIndices(), 3);
    }
    operands.kvBlocks = l.ceilDiv(shape.kvLen, config->listBlockKv);
    Value listBatch = l.dim(numBlocks, 0);
    if (std::optional<int64_t> value = getConstantIntValue(listBatch);
        !value || *value != 1) {
      Value isOne = arith::CmpIOp::create(rewriter, loc, arith::CmpIPredicate::eq,
                                          listBatch, l.index(1));
      Value isBatch = arith::CmpIOp::create(rewriter, loc, arith::CmpIPredicate::eq,
                                            listBatch, shape.batch);
      l.check(arith::OrIOp::create(rewriter, loc, isOne, isBatch),
              "block lists' batch is neither 1 nor the batch size");
      operands.listBatch = listBatch;
    }
    operands.rules.mask = op.getMaskAttr();
    operands.rules.scale = getScaleValue(op.getScaleAttr(), shape.headDim);
    if (!op.getMaskMod().empty())
      operands.rules.maskMod = &op.getMaskMod();
    if (!op.getScoreMod().empty())
      operands.rules.scoreMod = &op.getScoreMod();
    operands.hasPairRules = operands.rules.mask || operands.rules.maskMod ||
                            operands.rules.scoreMod;

    operands.query = toKernelBuffer(rewriter, loc, op.getQuery());
    operands.key = toKernelBuffer(rewriter, loc, op.getKey());
    operands.value = toKernelBuffer(rewriter, loc, op.getValue());
    operands.numBlocks = toKernelBuffer(rewriter, loc, numBlocks);
    operands.blockIndices = toKernelBuffer(rewriter, loc, blockIndices);
    if (op.getFullNumBlocks()) {
      operands.fullNumBlocks = toKernelBuffer(rewriter, loc, op.getFullNumBlocks());
      operands.fullBlockIndices = toKernelBuffer(rewriter, loc, op.getFullBlockIndices());
    }
    auto outputType = op.getOutput().getType();
    auto lseType = op.getLse().getType();
    auto allocOf = [&](RankedTensorType type, ArrayRef<Value> sizes) -> Value {
      SmallVector<Value> dynamicSizes;
      for (auto [d, size] : llvm::enumerate(sizes)) {
        if (type.isDynamicDim(d))
          dynamicSizes.push_back(size);
        else
          l.checkEq(size, l.index(type.getDimSize(d)),
                    "result shape dim " + Twine(d));
      }
      auto memrefType = MemRefType::get(type.getShape(), type.getElementType());
      return memref::AllocOp::create(rewriter, loc, memrefType, dynamicSizes);
    };
    Value heads = l.index(shape.queryHeads);
    operands.output = allocOf(outputType, {shape.batch, heads, shape.queryLen,
                                           l.index(shape.valueDim)});
    operands.lse = allocOf(lseType, {shape.batch, heads, shape.queryLen});

    Value queryTiles = l.ceilDiv(shape.queryLen, config->blockQ);
    // Thread blocks along x: one per query tile, or per itemsPerBlock of them.
    Value blocksX = config->itemsPerBlock == 1
                        ? queryTiles
                        : l.ceilDiv(queryTiles, config->itemsPerBlock);
    // The counts and the combined list after the tiles (4 bytes each).
    Value sharedBytes = arith::AddIOp::create(
        rewriter, loc,
        l.index(config->tileBytes() + listHeaderBytes(static_cast<bool>(operands.fullNumBlocks))),
        arith::MulIOp::create(
            rewriter, loc,
            arith::AddIOp::create(rewriter, loc, operands.capacity, operands.fullCapacity),
            l.index(4)));
    // A dynamic capacity bounds the list only at run time.
    l.check(arith::CmpIOp::create(rewriter, loc, arith::CmpIPredicate::sle, sharedBytes,
                                  l.index(options.sharedMemoryBytes)),
            "block_indices capacity " + Twine(operands.fullNumBlocks ? "(plus full_block_indices') " : "") +
                "exceeds what the tensor-core kernel's shared memory holds");
    Value sharedBytesI32 =
        arith::IndexCastOp::create(rewriter, loc, rewriter.getI32Type(), sharedBytes);
    Value one = l.index(1);
    auto launch = gpu::LaunchOp::create(
        rewriter, loc, blocksX, heads, shape.batch, l.index(config->threads()),
        one, one, sharedBytesI32);
    launch->setAttr("sparse_attn.mma_kernel",
                    rewriter.getDictionaryAttr(
                        {rewriter.getNamedAttr("mma", rewriter.getStringAttr(config->warpgroup ? "wgmma" : "mma.sync")),
                         rewriter.getNamedAttr("block_q", rewriter.getI64IntegerAttr(config->blockQ)),
                         rewriter.getNamedAttr("block_kv", rewriter.getI64IntegerAttr(config->blockKv)),
                         rewriter.getNamedAttr("warps", rewriter.getI64IntegerAttr(config->warps)),
                         rewriter.getNamedAttr("row_tiles", rewriter.getI64IntegerAttr(config->rowTiles)),
                         rewriter.getNamedAttr("items_per_block", rewriter.getI64IntegerAttr(config->itemsPerBlock)),
                         rewriter.getNamedAttr("blocks_per_sm", rewriter.getI64IntegerAttr(config->blocksPerSM)),
                         rewriter.getNamedAttr("stages", rewriter.getI64IntegerAttr(config->stages)),
                         rewriter.getNamedAttr("shared_memory_bytes",
                                               rewriter.getI64IntegerAttr(config->tileBytes()))}));
    {
      OpBuilder::InsertionGuard guard(rewriter);
      rewriter.setInsertionPointToStart(&launch.getBody().front());
      KernelBuilder k(rewriter, loc, outputType.getElementType());
      MmaAttentionKernel kernel(k, *config, operands, launch);
      if (failed(kernel.build())) {
        rewriter.eraseOp(launch);
        return rewriter.notifyMatchFailure(op, "the mask cannot be lowered");
      }
      gpu::TerminatorOp::create(rewriter, loc);
    }
    Value output = bufferization::ToTensorOp::create(
        rewriter, loc, outputType, operands.output, /*restrict=*/true,
        /*writable=*/true);
    Value lse = bufferization::ToTensorOp::create(
        rewriter, loc, lseType, operands.lse, /*restrict=*/true, /*writable=*/true);
    rewriter.replaceOp(op, {output, lse});
    return success();
  }

  MmaAttentionOptions options;
};

/// `attention` on the tensor cores: with static lengths and a mask that
/// reads no segment ids it is `block_sparse_attention` over the exact lists
/// of `block_mask` (128 x 128 blocks; partial and full blocks apart unless
/// a mask_mod must see every pair), which then takes the block-sparse
/// kernel. The lists fold to constants when small enough, else become a
/// kernel of their own.
struct AttentionMmaLowering : public OpRewritePattern<AttentionOp> {
  AttentionMmaLowering(MLIRContext *ctx, const MmaAttentionOptions &options)
      : OpRewritePattern(ctx, /*benefit=*/2), options(options) {}

  LogicalResult matchAndRewrite(AttentionOp op, PatternRewriter &rewriter) const override {
    constexpr int64_t kBlock = 128;
    if (op.getSegmentIdsQ())
      return rewriter.notifyMatchFailure(op, "the mask reads segment ids");
    int64_t queryLen = op.getQuery().getType().getDimSize(2);
    int64_t kvLen = op.getKey().getType().getDimSize(2);
    if (ShapedType::isDynamic(queryLen) || ShapedType::isDynamic(kvLen))
      return rewriter.notifyMatchFailure(op, "dynamic sequence lengths");
    MaskAttrInterface mask = op.getMaskAttr();
    bool withFull = op.getMaskMod().empty();
    int64_t queryBlocks = ceilDiv(queryLen, kBlock), kvBlocks = ceilDiv(kvLen, kBlock);
    // Capacities: the longest lists (at least 1), or every kv block.
    int64_t capacity = kvBlocks, fullCapacity = kvBlocks;
    if (FailureOr<BlockLists> lists =
            computeBlockLists(mask, queryLen, kvLen, kBlock, kBlock);
        succeeded(lists)) {
      capacity = std::max<int64_t>(1, withFull ? lists->maxPartialCount : lists->maxCount);
      fullCapacity = std::max<int64_t>(1, lists->maxFullCount);
    }
    Location loc = op.getLoc();
    Type i32 = rewriter.getI32Type();
    auto countsType = RankedTensorType::get({1, 1, queryBlocks}, i32);
    auto listType = [&](int64_t c) {
      return RankedTensorType::get({1, 1, queryBlocks, c}, i32);
    };
    ArrayAttr block = rewriter.getI64ArrayAttr({kBlock, kBlock});
    auto blockMask = BlockMaskOp::create(
        rewriter, loc, countsType, listType(capacity), withFull ? countsType : Type(),
        withFull ? listType(fullCapacity) : Type(), Value(), Value(), mask, block,
        rewriter.getI64IntegerAttr(queryLen), rewriter.getI64IntegerAttr(kvLen));
    auto sparse = BlockSparseAttentionOp::create(
        rewriter, loc, op.getOutput().getType(), op.getLse().getType(), op.getQuery(),
        op.getKey(), op.getValue(), blockMask.getNumBlocks(), blockMask.getBlockIndices(),
        blockMask.getFullNumBlocks(), blockMask.getFullBlockIndices(), Value(), Value(), block,
        mask, op.getScaleAttr());
    IRMapping mapping;
    rewriter.cloneRegionBefore(op.getMaskMod(), sparse.getMaskMod(), sparse.getMaskMod().end(),
                               mapping);
    rewriter.cloneRegionBefore(op.getScoreMod(), sparse.getScoreMod(),
                               sparse.getScoreMod().end(), mapping);
    auto undo = [&]() {
      rewriter.eraseOp(sparse);
      rewriter.eraseOp(blockMask);
      return rewriter.notifyMatchFailure(op, "the tensor-core kernel does not take it");
    };
    // The kernel's results replace the new op's uses: the attention's, now.
    rewriter.replaceAllUsesWith(op.getResults(), sparse.getResults());
    if (failed(BlockSparseAttentionMmaLowering::lower(sparse, rewriter, options))) {
      rewriter.replaceAllUsesWith(sparse.getResults(), op.getResults());
      return undo();
    }
    rewriter.eraseOp(op);
    return success();
  }

  MmaAttentionOptions options;
};

struct ConvertSparseAttnToNVGPUPass
    : sparse_attn::impl::ConvertSparseAttnToNVGPUPassBase<
          ConvertSparseAttnToNVGPUPass> {
  using Base::Base;

  void runOnOperation() override {
    std::optional<ChipInfo> chipInfo = getChipInfo(chip);
    if (!chipInfo) {
      getOperation()->emitError() << "convert-sparse-attn-to-nvgpu: unknown chip '"
                                  << chip << "' (expected sm_80, sm_90 or sm_90a)";
      return signalPassFailure();
    }
    // A request the kernel cannot take is an error, not a silent fallback.
    if (!llvm::is_contained(ArrayRef<int64_t>{0, 16, 32, 64, 128}, int64_t(blockQ)) ||
        !llvm::is_contained(ArrayRef<int64_t>{0, 16, 32, 64, 128}, int64_t(blockKv)) ||
        (blockKv == 128 && !chipInfo->warpgroupMma) ||
        (stages != 1 && stages != 2)) {
      getOperation()->emitError()
          << "convert-sparse-attn-to-nvgpu: block-q must be 16, 32, 64 or 128, "
             "block-kv 16, 32, 64 (or 128 on sm_90a), stages 1 or 2 (got block-q = "
          << blockQ << ", block-kv = " << blockKv << ", stages = " << stages << ")";
      return signalPassFailure();
    }
    if (blocksPerSM < 0 || blocksPerSM > 2) {
      getOperation()->emitError() << "convert-sparse-attn-to-nvgpu: blocks-per-sm must be 0 (the kernel's choice), 1 or 2 (got "
                                  << int64_t(blocksPerSM) << ")";
      return signalPassFailure();
    }
    if (itemsPerBlock < 1 || itemsPerBlock > 8) {
      getOperation()->emitError() << "convert-sparse-attn-to-nvgpu: items-per-block must be 1 to 8 (got "
                                  << int64_t(itemsPerBlock) << ")";
      return signalPassFailure();
    }
    if (warpgroupRows < 0 || warpgroupRows > 2) {
      getOperation()->emitError() << "convert-sparse-attn-to-nvgpu: warpgroup-rows must be 0 (the kernel's choice), 1 or 2 (got "
                                  << int64_t(warpgroupRows) << ")";
      return signalPassFailure();
    }
    MmaAttentionOptions options;
    options.warpgroupRows = warpgroupRows;
    options.itemsPerBlock = itemsPerBlock;
    options.blocksPerSM = blocksPerSM;
    options.attention = attention;
    options.blockQ = blockQ;
    options.blockKv = blockKv;
    options.stages = stages;
    options.sharedMemoryBytes = chipInfo->sharedMemoryPerBlock;
    options.sharedMemoryPerSM = chipInfo->sharedMemoryPerSM;
    options.warpgroupMma = chipInfo->warpgroupMma;
    options.runtimeChecks = runtimeChecks;
    RewritePatternSet patterns(&getContext());
    populateSparseAttnToNVGPUPatterns(patterns, options);
    // Each op is rewritten once, into ops no pattern matches: a walk, not a
    // fixed point (and no folding, which would hoist the kernel's constants
    // out of the launch).
    walkAndApplyPatterns(getOperation(), std::move(patterns));
  }
};

struct SparseAttnKernelLimitsPass
    : sparse_attn::impl::SparseAttnKernelLimitsPassBase<SparseAttnKernelLimitsPass> {
  void runOnOperation() override {
    getOperation().walk([](gpu::GPUFuncOp func) {
      std::optional<int64_t> cap;
      func.walk([&](Operation *op) {
        if (auto limit = op->getAttrOfType<IntegerAttr>(kMaxRegistersAttr)) {
          cap = cap ? std::min(*cap, limit.getInt()) : limit.getInt();
          op->removeAttr(kMaxRegistersAttr);
        }
      });
      if (cap)
        func->setAttr(NVVM::NVVMDialect::getMaxnregAttrName(),
                      IntegerAttr::get(IntegerType::get(func.getContext(), 32), *cap));
    });
  }
};

} // namespace

void sparse_attn::populateSparseAttnToNVGPUPatterns(
    RewritePatternSet &patterns, const MmaAttentionOptions &options) {
  patterns.add<BlockSparseAttentionMmaLowering>(patterns.getContext(), options);
  if (options.attention)
    patterns.add<AttentionMmaLowering>(patterns.getContext(), options);
}
