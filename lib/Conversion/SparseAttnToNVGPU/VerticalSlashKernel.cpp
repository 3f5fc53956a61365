//===- VerticalSlashKernel.cpp - vertical_slash on the GPU ----------------===//
//
// MInference's estimator (docs/semantics.md, `vertical_slash`) in four
// launches; nothing the size of the tail's [L, Skv] probabilities reaches
// global memory:
//   1. statistics, a block of four warps per (split of the key tiles, query
//      head, batch): the L = min(last_q, Sq) tail queries in shared memory
//      (64-row tiles, zero past L), each 64-key tile of the split copied in
//      turn; S = Q K^T by mma.sync m16n8k16 (16-bit inputs; f32 inputs take
//      CUDA-core products in the same fragment layout), scaled into base 2
//      and masked (row r sees j <= Skv - L + r); each row's running maximum
//      and exponential sum (quad reductions), written per split;
//   2. sums, the same grid: the splits' statistics merged per row, then the
//      same scores again as probabilities staged by tiles in shared memory:
//      each key's column sum over the rows (rows ascending, as the CPU
//      lowering), and per (key tile, row tile) the sums of its 127
//      diagonals, which the selection adds up (a diagonal meets at most two
//      key tiles of a row tile): deterministic, no atomics;
//   3. selection, a block of 512 threads per (head, batch) and each of the
//      two selections (columns: the first `sink` keys forced; diagonals:
//      the first `local` forced, both as +inf): ordered unsigned keys
//      (0: unselectable, as select_topk's) in a global scratch row, a radix
//      select of the k-th largest (four 8-bit digits, block histograms,
//      the digit found by one warp), then a compaction over contiguous
//      chunks with two block scans: the keys above it and the lowest-index
//      ties, ascending, and the prefix counts of the chosen ones;
//   4. lists, a warp per (query block, head, batch): a kv block is crossed
//      when the chosen diagonals' prefix counts differ across its range
//      [pLo - jHi, pHi - jLo]; the crossed blocks ascending
//      (buildWarpMarkedList), then the chosen columns that some row of the
//      block sees and no crossed block holds, -1 past the counts.
//
//===----------------------------------------------------------------------===//

#include "VerticalSlashKernel.h"

#include "KernelBuilder.h"
#include "KernelConfig.h"
#include "RowSelection.h"

#include "SparseAttn/IR/SparseAttnOps.h"
#include "SparseAttn/Utils/LoweringBuilder.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/PatternMatch.h"

#include <cmath>

using namespace mlir;
using namespace mlir::sparse_attn;

namespace {

// (nvgpu has a kWarpSize of its own.)
using sparse_attn::kWarpSize;

/// Rows of a tail tile and keys of a key tile; four warps of 16 rows.
constexpr int64_t kTile = 64;
constexpr int64_t kWarps = kTile / 16;
constexpr int64_t kThreads = kWarps * kWarpSize;
/// Diagonals of a kTile x kTile tile.
constexpr int64_t kDiagonals = 2 * kTile - 1;
/// Splits of the key tiles a (head, batch) is spread over, at most.
constexpr int64_t kMaxSplits = 32;
/// Threads of a selection block.
constexpr int64_t kSelectThreads = 512;
constexpr int64_t kBins = 256;
constexpr int64_t kMaxHeadDim = 256;

/// Shared memory of launches 1 and 2 (bytes).
struct TailLayout {
  int64_t rowTiles, dim, stride, elementBytes;
  int64_t keyOffset, stagedOffset, statsOffset, bytes;
  /// Columns of the staged probability tile (rows on different banks).
  static constexpr int64_t stagedStride = kTile + 1;

  TailLayout(int64_t lastQ, int64_t headDim, Type element) {
    rowTiles = std::max<int64_t>(llvm::divideCeil(lastQ, kTile), 1);
    elementBytes = element.getIntOrFloatBitWidth() / 8;
    dim = llvm::alignTo(headDim, 16);
    // 16-bit rows: an odd number of 16-byte chunks (ldmatrix's eight rows
    // on eight bank groups); f32 rows 16-byte aligned.
    stride = dim + (elementBytes == 2 ? 8 : 4);
    int64_t tileBytes = kTile * stride * elementBytes;
    keyOffset = rowTiles * tileBytes;
    stagedOffset = keyOffset + tileBytes;
    statsOffset = stagedOffset + kTile * stagedStride * 4;
    bytes = statsOffset + 2 * rowTiles * kTile * 4;
  }
};

struct VerticalSlashGpuLowering : public OpRewritePattern<VerticalSlashOp> {
  VerticalSlashGpuLowering(MLIRContext *context,
                           const MmaAttentionOptions &options)
      : OpRewritePattern(context, /*benefit=*/2), options(options) {}

  /// What the bodies need to know of the op.
  struct Problem {
    Value query, key;
    Value batch, qLen, kvLen, tail, keyTiles, span, splits;
    int64_t group, headDim, vertical, slash, sink, local, rowTiles;
    BlockSizes block;
    Type element;
    /// scale * log2(e): scores in base 2.
    double scaleLog2;
    // Scratch buffers between the launches.
    Value partialMax, partialSum, columnSums, diagonalParts, keys, chosen,
        chosenCount, ranks;
  };

  LogicalResult matchAndRewrite(VerticalSlashOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    RankedTensorType queryType = op.getQuery().getType();
    Type element = queryType.getElementType();
    if (!element.isF16() && !element.isBF16() && !element.isF32())
      return rewriter.notifyMatchFailure(op, "not f16, bf16 or f32");
    int64_t headDim = queryType.getDimSize(3);
    if (ShapedType::isDynamic(headDim) || headDim > kMaxHeadDim)
      return rewriter.notifyMatchFailure(op, "head dim dynamic or above 256");
    if (op.getLastQ() > uint64_t(options.chip.sharedMemoryPerBlock))
      return rewriter.notifyMatchFailure(op, "last_q above shared memory");
    TailLayout layout(op.getLastQ(), headDim, element);
    if (layout.bytes > options.chip.sharedMemoryPerBlock)
      return rewriter.notifyMatchFailure(
          op, "last_q's query tiles exceed shared memory");

    LoweringBuilder emit(rewriter, op, options.runtimeChecks);
    Problem p;
    p.headDim = headDim;
    p.rowTiles = layout.rowTiles;
    p.element = element;
    int64_t heads = queryType.getDimSize(1);
    p.group = heads / op.getKey().getType().getDimSize(1);
    p.vertical = op.getVertical();
    p.slash = op.getSlash();
    p.sink = op.getSink();
    p.local = op.getLocal();
    p.block = op.getBlockSizes();
    p.scaleLog2 = getScaleValue(op.getScaleAttr(), headDim) * M_LOG2E;
    p.batch = emit.commonDim({{op.getQuery(), 0}, {op.getKey(), 0}},
                             "query and key batch sizes differ");
    p.qLen = emit.dim(op.getQuery(), 2);
    p.kvLen = emit.dim(op.getKey(), 2);
    p.tail = emit.min(p.qLen, emit.index(op.getLastQ()));
    p.keyTiles = emit.ceilDiv(p.kvLen, kTile);
    p.span = emit.max(emit.ceilDiv(p.keyTiles, kMaxSplits), emit.index(1));
    p.splits = emit.max(
        arith::CeilDivUIOp::create(rewriter, loc, p.keyTiles, p.span),
        emit.index(1));
    p.query = toKernelBuffer(rewriter, loc, op.getQuery());
    p.key = toKernelBuffer(rewriter, loc, op.getKey());

    // Lists and their capacities (as the reference lowering's).
    Value queryBlocks = emit.ceilDiv(p.qLen, p.block.query);
    Value kvBlocks = emit.ceilDiv(p.kvLen, p.block.kv);
    RankedTensorType indicesType = op.getBlockIndices().getType();
    RankedTensorType columnIndicesType = op.getColumnIndices().getType();
    Value blockCapacity, columnCapacity;
    std::tie(blockCapacity, columnCapacity) = getVerticalSlashCapacities(
        emit, indicesType, columnIndicesType, p.vertical, p.slash,
        p.block.query, p.block.kv, p.kvLen, kvBlocks);
    emit.check(emit.le(emit.mul(kvBlocks, emit.index(4)),
                       emit.index(options.chip.sharedMemoryPerBlock)),
               "more kv blocks than the list kernel's shared memory holds");
    Value headsValue = emit.index(heads);
    SmallVector<Value> listRows = {p.batch, headsValue, queryBlocks};
    Value num = emit.allocOfType(op.getNumBlocks().getType(), listRows,
                                 "num_blocks shape");
    Value indices = emit.allocOfType(
        indicesType, {p.batch, headsValue, queryBlocks, blockCapacity},
        "block_indices shape");
    Value numColumns = emit.allocOfType(op.getNumColumns().getType(), listRows,
                                        "num_columns shape");
    Value columnIndices = emit.allocOfType(
        columnIndicesType, {p.batch, headsValue, queryBlocks, columnCapacity},
        "column_indices shape");

    Type f32 = rewriter.getF32Type(), i32 = rewriter.getI32Type();
    auto scratch = [&](ArrayRef<Value> sizes, Type type) -> Value {
      SmallVector<int64_t> shape(sizes.size(), ShapedType::kDynamic);
      return memref::AllocOp::create(rewriter, loc, MemRefType::get(shape, type),
                                     sizes);
    };
    Value rows = emit.index(layout.rowTiles * kTile);
    Value two = emit.index(2);
    p.partialMax = scratch({p.batch, headsValue, p.splits, rows}, f32);
    p.partialSum = scratch({p.batch, headsValue, p.splits, rows}, f32);
    p.columnSums = scratch({p.batch, headsValue, p.kvLen}, f32);
    p.diagonalParts =
        scratch({p.batch, headsValue, p.keyTiles, emit.index(layout.rowTiles),
                 emit.index(kDiagonals)},
                f32);
    p.keys = scratch({p.batch, headsValue, two, p.kvLen}, i32);
    p.chosen = scratch({p.batch, headsValue, two,
                        emit.index(std::max(p.vertical, p.slash))},
                       i32);
    p.chosenCount = scratch({p.batch, headsValue, two}, i32);
    p.ranks = scratch({p.batch, headsValue, two, emit.add(p.kvLen, 1)}, i32);

    Value one = emit.index(1);
    auto launch = [&](Value gridX, int64_t threads, Value sharedBytes,
                      function_ref<void(KernelBuilder &, gpu::LaunchOp)> body) {
      auto op =
          gpu::LaunchOp::create(rewriter, loc, gridX, headsValue, p.batch,
                                emit.index(threads), one, one, sharedBytes);
      OpBuilder::InsertionGuard guard(rewriter);
      rewriter.setInsertionPointToStart(&op.getBody().front());
      KernelBuilder kernel(rewriter, loc, element);
      body(kernel, op);
      gpu::TerminatorOp::create(rewriter, loc);
    };
    auto i32Bytes = [&](int64_t bytes) -> Value {
      return arith::ConstantIntOp::create(rewriter, loc, bytes, 32);
    };
    Value tailBytes = i32Bytes(layout.bytes);
    launch(p.splits, kThreads, tailBytes,
           [&](KernelBuilder &at, gpu::LaunchOp l) {
             buildStatistics(at, l, p, layout);
           });
    launch(p.splits, kThreads, tailBytes,
           [&](KernelBuilder &at, gpu::LaunchOp l) {
             buildSums(at, l, p, layout);
           });
    launch(
        two, kSelectThreads,
        i32Bytes(kBins * 4 + kSelectThreads / kWarpSize * 4 + 8),
        [&](KernelBuilder &at, gpu::LaunchOp l) { buildSelection(at, l, p); });
    launch(queryBlocks, kWarpSize,
           arith::IndexCastOp::create(rewriter, loc, i32,
                                      emit.mul(kvBlocks, emit.index(4))),
           [&](KernelBuilder &at, gpu::LaunchOp l) {
             buildLists(at, l, p, kvBlocks, num, indices, blockCapacity,
                        numColumns, columnIndices, columnCapacity);
           });
    replaceByWrittenBuffers(rewriter, op,
                            {num, indices, numColumns, columnIndices});
    return success();
  }

  /// The tail queries (rows Sq - L ..) into `queries` [rowTiles * 64,
  /// stride], zero past L.
  static void loadTail(KernelBuilder &emit, Value tid, Value b, Value head,
                       Value queries, const Problem &p,
                       const TailLayout &layout) {
    // With no tail row there is nothing to read (the scores are all masked).
    emit.ifThen(emit.lt(emit.index(0), p.tail), [&] {
      emit.copyRows(tid, kThreads, p.query, queries, layout.rowTiles * kTile,
                    p.headDim, layout.dim, [&](KernelBuilder &at, Value r) {
                      Value exists = at.lt(r, p.tail);
                      Value safe = at.min(r, at.sub(p.tail, at.index(1)));
                      Value row = at.add(at.sub(p.qLen, p.tail), safe);
                      return std::pair{SmallVector<Value>{b, head, row},
                                       exists};
                    });
    });
  }

  /// Key tile `tile` into `keys` [64, stride] (zero past Skv), between
  /// barriers.
  static void loadKeyTile(KernelBuilder &emit, Value tid, Value b,
                          Value kvHead, Value tile, Value keys,
                          const Problem &p, const TailLayout &layout) {
    gpu::BarrierOp::create(emit.builder, emit.loc);
    Value base = emit.mul(tile, kTile);
    emit.copyRows(tid, kThreads, p.key, keys, kTile, p.headDim, layout.dim,
                  [&](KernelBuilder &at, Value r) {
                    Value row = at.add(base, r);
                    Value safe = at.min(row, at.sub(p.kvLen, at.index(1)));
                    return std::pair{SmallVector<Value>{b, kvHead, safe},
                                     at.lt(row, p.kvLen)};
                  });
    gpu::BarrierOp::create(emit.builder, emit.loc);
  }

  /// Where a thread's accumulator element sits: element e of n tile nt is
  /// row warp * 16 + lane / 4 + 8 (e / 2) and key nt * 8 + 2 (lane % 4) +
  /// e % 2 of the tile (mma.sync's m16n8 layout).
  static Value fragmentRow(KernelBuilder &at, Value warp, Value lane,
                           int64_t e) {
    return at.add(at.add(at.mul(warp, 16), at.udiv(lane, 4)), e / 2 * 8);
  }
  static Value fragmentKey(KernelBuilder &at, Value lane, int64_t nt,
                           int64_t e) {
    return at.add(at.mul(at.urem(lane, 4), 2), nt * 8 + e % 2);
  }

  /// The scores (base 2, -inf where masked) of row tile `rowTile` against
  /// the key tile at `keyBase`: 8 n tiles x 4 elements per thread.
  static SmallVector<Value> buildScores(KernelBuilder &emit, Value warp,
                                        Value lane, int64_t rowTile,
                                        Value keyBase, Value queries,
                                        Value keys, const Problem &p,
                                        const TailLayout &layout) {
    OpBuilder &builder = emit.builder;
    Location loc = emit.loc;
    constexpr int64_t nTiles = kTile / 8;
    Value zero = emit.f32(0.0);
    SmallVector<SmallVector<Value>> acc(nTiles, SmallVector<Value>(4, zero));
    Value rowBase = emit.index(rowTile * kTile);
    if (layout.elementBytes == 2) {
      Value laneRow = emit.urem(lane, 8);
      Value laneHalf = emit.urem(emit.udiv(lane, 8), 2);
      Value laneQuarter = emit.udiv(lane, 16);
      for (int64_t ks = 0; ks < layout.dim / 16; ++ks) {
        Value aRow = emit.add(emit.add(rowBase, emit.mul(warp, 16)),
                              emit.add(laneRow, emit.mul(laneHalf, 8)));
        Value aCol = emit.add(emit.mul(laneQuarter, 8), ks * 16);
        SmallVector<Value> a =
            emit.loadMatrices(queries, {aRow, aCol}, 4, false);
        for (int64_t nt = 0; nt < nTiles; nt += 2) {
          Value bRow = emit.add(emit.add(laneRow, emit.mul(laneQuarter, 8)),
                                nt * 8);
          Value bCol = emit.add(emit.mul(laneHalf, 8), ks * 16);
          SmallVector<Value> bRegs =
              emit.loadMatrices(keys, {bRow, bCol}, 4, false);
          acc[nt] = emit.mmaSync(a, {bRegs[0], bRegs[1]}, acc[nt]);
          acc[nt + 1] = emit.mmaSync(a, {bRegs[2], bRegs[3]}, acc[nt + 1]);
        }
      }
    } else {
      // f32: each thread's elements by f32 products over the head dim.
      SmallVector<Value> init;
      for (auto &tile : acc)
        init.append(tile);
      Value row0 = emit.add(rowBase, fragmentRow(emit, warp, lane, 0));
      Value row8 = emit.add(row0, 8);
      auto loop = scf::ForOp::create(
          builder, loc, emit.index(0), emit.index(p.headDim), emit.index(1),
          init, [&](OpBuilder &b, Location l, Value d, ValueRange carried) {
            KernelBuilder at(b, l, emit.element);
            Value q0 = memref::LoadOp::create(b, l, queries, ValueRange{row0, d});
            Value q8 = memref::LoadOp::create(b, l, queries, ValueRange{row8, d});
            SmallVector<Value> next;
            for (int64_t nt = 0; nt < nTiles; ++nt)
              for (int64_t e = 0; e < 4; ++e) {
                Value k = memref::LoadOp::create(
                    b, l, keys, ValueRange{fragmentKey(at, lane, nt, e), d});
                next.push_back(at.fadd(carried[nt * 4 + e],
                                       at.fmul(e < 2 ? q0 : q8, k)));
              }
            scf::YieldOp::create(b, l, next);
          });
      for (int64_t nt = 0; nt < nTiles; ++nt)
        for (int64_t e = 0; e < 4; ++e)
          acc[nt][e] = loop.getResult(nt * 4 + e);
    }
    // Row r (of the tail) sees keys j <= Skv - L + r.
    Value firstPosition = emit.sub(p.kvLen, p.tail);
    Value scale = emit.f32(p.scaleLog2), negInf = emit.f32(-INFINITY);
    SmallVector<Value> scores;
    for (int64_t nt = 0; nt < nTiles; ++nt)
      for (int64_t e = 0; e < 4; ++e) {
        Value row = emit.add(rowBase, fragmentRow(emit, warp, lane, e));
        Value key = emit.add(keyBase, fragmentKey(emit, lane, nt, e));
        Value seen = emit.andI(emit.lt(row, p.tail),
                               emit.le(key, emit.add(firstPosition, row)));
        scores.push_back(
            emit.select(seen, emit.fmul(acc[nt][e], scale), negInf));
      }
    return scores;
  }

  /// 0 for -inf (so that exp2(x - safe) is 0, never NaN, for x = -inf).
  static Value safeMax(KernelBuilder &at, Value m) {
    return at.select(at.isNegInf(m), at.f32(0.0), m);
  }

  void buildStatistics(KernelBuilder &emit, gpu::LaunchOp launch,
                       const Problem &p, const TailLayout &layout) const {
    OpBuilder &builder = emit.builder;
    Location loc = emit.loc;
    Value tid = launch.getThreadIds().x;
    Value warp = emit.udiv(tid, kWarpSize), lane = emit.urem(tid, kWarpSize);
    Value split = launch.getBlockIds().x, head = launch.getBlockIds().y,
          b = launch.getBlockIds().z;
    Value kvHead = emit.udiv(head, p.group);
    Value shared = emit.dynamicSharedMemory();
    Value queries =
        emit.sharedView(shared, emit.index(0),
                        {layout.rowTiles * kTile, layout.stride}, p.element);
    Value keys = emit.sharedView(shared, emit.index(layout.keyOffset),
                                 {kTile, layout.stride}, p.element);
    loadTail(emit, tid, b, head, queries, p, layout);
    Value firstTile = emit.mul(split, p.span);
    Value endTile = emit.min(emit.add(firstTile, p.span), p.keyTiles);
    // Per (row tile, half): the running maximum and sum of the thread's row.
    SmallVector<Value> init;
    for (int64_t i = 0; i < layout.rowTiles * 2; ++i)
      init.append({emit.f32(-INFINITY), emit.f32(0.0)});
    auto loop = scf::ForOp::create(
        builder, loc, firstTile, endTile, emit.index(1), init,
        [&](OpBuilder &tb, Location tl, Value tile, ValueRange state) {
          KernelBuilder at(tb, tl, emit.element);
          loadKeyTile(at, tid, b, kvHead, tile, keys, p, layout);
          SmallVector<Value> next;
          for (int64_t rt = 0; rt < layout.rowTiles; ++rt) {
            SmallVector<Value> scores =
                buildScores(at, warp, lane, rt, at.mul(tile, kTile), queries,
                            keys, p, layout);
            for (int64_t half = 0; half < 2; ++half) {
              Value m = state[(rt * 2 + half) * 2],
                    l = state[(rt * 2 + half) * 2 + 1];
              Value tileMax = at.f32(-INFINITY);
              for (int64_t nt = 0; nt < kTile / 8; ++nt)
                for (int64_t e = 0; e < 2; ++e)
                  tileMax = at.fmax(tileMax, scores[nt * 4 + half * 2 + e]);
              tileMax = at.quadReduce(
                  tileMax, [&](Value x, Value y) { return at.fmax(x, y); });
              Value newMax = at.fmax(m, tileMax);
              Value safe = safeMax(at, newMax);
              Value sum = at.f32(0.0);
              for (int64_t nt = 0; nt < kTile / 8; ++nt)
                for (int64_t e = 0; e < 2; ++e)
                  sum = at.fadd(sum, at.exp2(at.fsub(
                                         scores[nt * 4 + half * 2 + e], safe)));
              sum = at.quadReduce(
                  sum, [&](Value x, Value y) { return at.fadd(x, y); });
              next.push_back(newMax);
              next.push_back(
                  at.fadd(at.fmul(l, at.exp2(at.fsub(m, safe))), sum));
            }
          }
          scf::YieldOp::create(tb, tl, next);
        });
    emit.ifThen(emit.eq(emit.urem(lane, 4), emit.index(0)), [&] {
      for (int64_t rt = 0; rt < layout.rowTiles; ++rt)
        for (int64_t half = 0; half < 2; ++half) {
          Value row = emit.add(fragmentRow(emit, warp, lane, half * 2),
                               rt * kTile);
          int64_t at = (rt * 2 + half) * 2;
          memref::StoreOp::create(builder, loc, loop.getResult(at),
                                  p.partialMax,
                                  ValueRange{b, head, split, row});
          memref::StoreOp::create(builder, loc, loop.getResult(at + 1),
                                  p.partialSum,
                                  ValueRange{b, head, split, row});
        }
    });
  }

  void buildSums(KernelBuilder &emit, gpu::LaunchOp launch, const Problem &p,
                 const TailLayout &layout) const {
    OpBuilder &builder = emit.builder;
    Location loc = emit.loc;
    Type f32 = builder.getF32Type();
    Value tid = launch.getThreadIds().x;
    Value warp = emit.udiv(tid, kWarpSize), lane = emit.urem(tid, kWarpSize);
    Value split = launch.getBlockIds().x, head = launch.getBlockIds().y,
          b = launch.getBlockIds().z;
    Value kvHead = emit.udiv(head, p.group);
    Value shared = emit.dynamicSharedMemory();
    int64_t rows = layout.rowTiles * kTile;
    Value queries = emit.sharedView(shared, emit.index(0),
                                    {rows, layout.stride}, p.element);
    Value keys = emit.sharedView(shared, emit.index(layout.keyOffset),
                                 {kTile, layout.stride}, p.element);
    Value staged =
        emit.sharedView(shared, emit.index(layout.stagedOffset),
                        {kTile, TailLayout::stagedStride}, f32);
    Value stats = emit.sharedView(shared, emit.index(layout.statsOffset),
                                  {2, rows}, f32);
    loadTail(emit, tid, b, head, queries, p, layout);
    // Each row's maximum (0 when it sees no key) and 1 / sum (0 likewise)
    // from the splits' statistics.
    emit.forRange(tid, emit.index(rows), emit.index(kThreads),
                  [&](KernelBuilder &at, Value row) {
                    auto merged = scf::ForOp::create(
                        at.builder, at.loc, at.index(0), p.splits, at.index(1),
                        ValueRange{at.f32(-INFINITY), at.f32(0.0)},
                        [&](OpBuilder &sb, Location sl, Value s,
                            ValueRange state) {
                          KernelBuilder in(sb, sl, emit.element);
                          Value m = memref::LoadOp::create(
                              sb, sl, p.partialMax, ValueRange{b, head, s, row});
                          Value l = memref::LoadOp::create(
                              sb, sl, p.partialSum, ValueRange{b, head, s, row});
                          Value newMax = in.fmax(state[0], m);
                          Value safe = safeMax(in, newMax);
                          Value sum = in.fadd(
                              in.fmul(state[1], in.exp2(in.fsub(state[0], safe))),
                              in.fmul(l, in.exp2(in.fsub(m, safe))));
                          scf::YieldOp::create(sb, sl, ValueRange{newMax, sum});
                        });
                    Value sum = merged.getResult(1);
                    Value inverse = at.select(
                        arith::CmpFOp::create(at.builder, at.loc,
                                              arith::CmpFPredicate::OGT, sum,
                                              at.f32(0.0)),
                        arith::DivFOp::create(at.builder, at.loc, at.f32(1.0),
                                              sum),
                        at.f32(0.0));
                    memref::StoreOp::create(at.builder, at.loc,
                                            safeMax(at, merged.getResult(0)),
                                            stats, ValueRange{at.index(0), row});
                    memref::StoreOp::create(at.builder, at.loc, inverse, stats,
                                            ValueRange{at.index(1), row});
                  });
    gpu::BarrierOp::create(builder, loc);
    SmallVector<Value> rowMax, rowInverse;
    for (int64_t rt = 0; rt < layout.rowTiles; ++rt)
      for (int64_t half = 0; half < 2; ++half) {
        Value row =
            emit.add(fragmentRow(emit, warp, lane, half * 2), rt * kTile);
        rowMax.push_back(memref::LoadOp::create(builder, loc, stats,
                                                ValueRange{emit.index(0), row}));
        rowInverse.push_back(memref::LoadOp::create(
            builder, loc, stats, ValueRange{emit.index(1), row}));
      }
    Value firstTile = emit.mul(split, p.span);
    Value endTile = emit.min(emit.add(firstTile, p.span), p.keyTiles);
    // Thread t sums column t % 64 and diagonal t (t < 127) of each tile.
    Value column = emit.urem(tid, kTile);
    emit.forRange(
        firstTile, endTile, emit.index(1), [&](KernelBuilder &at, Value tile) {
          OpBuilder &tb = at.builder;
          Location tl = at.loc;
          loadKeyTile(at, tid, b, kvHead, tile, keys, p, layout);
          Value keyBase = at.mul(tile, kTile);
          Value columnSum = at.f32(0.0);
          for (int64_t rt = 0; rt < layout.rowTiles; ++rt) {
            SmallVector<Value> scores = buildScores(
                at, warp, lane, rt, keyBase, queries, keys, p, layout);
            for (int64_t nt = 0; nt < kTile / 8; ++nt)
              for (int64_t e = 0; e < 4; ++e) {
                int64_t i = rt * 2 + e / 2;
                Value probability = at.fmul(
                    at.exp2(at.fsub(scores[nt * 4 + e], rowMax[i])),
                    rowInverse[i]);
                memref::StoreOp::create(
                    tb, tl, probability, staged,
                    ValueRange{fragmentRow(at, warp, lane, e),
                               fragmentKey(at, lane, nt, e)});
              }
            gpu::BarrierOp::create(tb, tl);
            auto sums = scf::ForOp::create(
                tb, tl, at.index(0), at.index(kTile), at.index(1),
                ValueRange{columnSum, at.f32(0.0)},
                [&](OpBuilder &rb, Location rl, Value r, ValueRange acc) {
                  KernelBuilder in(rb, rl, emit.element);
                  Value down = memref::LoadOp::create(rb, rl, staged,
                                                      ValueRange{r, column});
                  // Diagonal t holds (r, r + 63 - t).
                  Value c = in.sub(in.add(r, kTile - 1), tid);
                  Value inside =
                      in.andI(in.le(in.index(0), c), in.lt(c, in.index(kTile)));
                  Value safe = in.select(inside, c, in.index(0));
                  Value across = memref::LoadOp::create(rb, rl, staged,
                                                        ValueRange{r, safe});
                  scf::YieldOp::create(
                      rb, rl,
                      ValueRange{in.fadd(acc[0], down),
                                 in.fadd(acc[1], in.select(inside, across,
                                                           in.f32(0.0)))});
                });
            columnSum = sums.getResult(0);
            at.ifThen(at.lt(tid, at.index(kDiagonals)), [&] {
              memref::StoreOp::create(
                  tb, tl, sums.getResult(1), p.diagonalParts,
                  ValueRange{b, head, tile, at.index(rt), tid});
            });
            gpu::BarrierOp::create(tb, tl);
          }
          Value key = at.add(keyBase, column);
          at.ifThen(
              at.andI(at.lt(tid, at.index(kTile)), at.lt(key, p.kvLen)), [&] {
                memref::StoreOp::create(tb, tl, columnSum, p.columnSums,
                                        ValueRange{b, head, key});
              });
        });
  }

  /// diag[d]: per row tile R the parts of the (at most two) key tiles its
  /// diagonal d meets, at t = 64 T + d + L - Skv - 64 R + 63 in [0, 127).
  static Value diagonalSum(KernelBuilder &at, Value b, Value head, Value d,
                           const Problem &p) {
    Value sum = at.f32(0.0);
    for (int64_t rt = 0; rt < p.rowTiles; ++rt) {
      Value offset = at.add(at.sub(at.add(d, p.tail), p.kvLen),
                            kTile - 1 - rt * kTile);
      Value firstTile = at.sub(
          at.index(0), arith::FloorDivSIOp::create(at.builder, at.loc, offset,
                                                   at.index(kTile)));
      for (int64_t n = 0; n < 2; ++n) {
        Value tile = at.add(firstTile, n);
        Value t = at.add(at.mul(tile, kTile), offset);
        Value inside = at.andI(
            at.andI(at.le(at.index(0), tile), at.lt(tile, p.keyTiles)),
            at.andI(at.le(at.index(0), t), at.lt(t, at.index(kDiagonals))));
        Value part = memref::LoadOp::create(
            at.builder, at.loc, p.diagonalParts,
            ValueRange{b, head, at.select(inside, tile, at.index(0)),
                       at.index(rt), at.select(inside, t, at.index(0))});
        sum = at.fadd(sum, at.select(inside, part, at.f32(0.0)));
      }
    }
    return sum;
  }

  void buildSelection(KernelBuilder &emit, gpu::LaunchOp launch,
                      const Problem &p) const {
    OpBuilder &builder = emit.builder;
    Location loc = emit.loc;
    Type f32 = builder.getF32Type(), i32 = builder.getI32Type();
    Value tid = launch.getThreadIds().x;
    Value warp = emit.udiv(tid, kWarpSize), lane = emit.urem(tid, kWarpSize);
    Value which = launch.getBlockIds().x, head = launch.getBlockIds().y,
          b = launch.getBlockIds().z;
    Value isColumns = emit.eq(which, emit.index(0));
    Value count = emit.select(isColumns, emit.index(p.vertical),
                              emit.index(p.slash));
    Value forced =
        emit.select(isColumns, emit.index(p.sink), emit.index(p.local));
    Value shared = emit.dynamicSharedMemory();
    Value hist = emit.sharedView(shared, emit.index(0), {kBins}, i32);
    Value scanScratch = emit.sharedView(shared, emit.index(kBins * 4),
                                        {kSelectThreads / kWarpSize}, i32);
    Value found = emit.sharedView(
        shared, emit.index(kBins * 4 + kSelectThreads / kWarpSize * 4), {2},
        i32);
    auto i32Const = [&](OpBuilder &b, int64_t value) -> Value {
      return arith::ConstantIntOp::create(b, loc, value, 32);
    };
    // The row's ordered keys (forced ones +inf's) and how many are
    // selectable.
    Value infinityKey = emit.orderedKey(emit.f32(INFINITY));
    auto counted = scf::ForOp::create(
        builder, loc, tid, p.kvLen, emit.index(kSelectThreads),
        ValueRange{emit.index(0)},
        [&](OpBuilder &jb, Location jl, Value j, ValueRange carried) {
          KernelBuilder at(jb, jl, emit.element);
          auto score = scf::IfOp::create(jb, jl, TypeRange{f32}, isColumns,
                                         /*withElseRegion=*/true);
          {
            OpBuilder::InsertionGuard guard(jb);
            jb.setInsertionPointToStart(score.thenBlock());
            scf::YieldOp::create(
                jb, jl,
                ValueRange{memref::LoadOp::create(jb, jl, p.columnSums,
                                                  ValueRange{b, head, j})});
            jb.setInsertionPointToStart(score.elseBlock());
            KernelBuilder in(jb, jl, emit.element);
            scf::YieldOp::create(
                jb, jl, diagonalSum(in, b, head, j, p));
          }
          Value key = at.select(at.lt(j, forced), infinityKey,
                                rowSelectionKey(at, score.getResult(0)));
          memref::StoreOp::create(jb, jl, key, p.keys,
                                  ValueRange{b, head, which, j});
          Value selectable = arith::CmpIOp::create(
              jb, jl, arith::CmpIPredicate::ne, key, i32Const(jb, 0));
          scf::YieldOp::create(
              jb, jl,
              ValueRange{at.add(carried[0],
                                at.select(selectable, at.index(1),
                                          at.index(0)))});
        });
    // (The barrier inside the scan also orders the keys' stores.)
    Value selectable =
        emit.blockExclusiveScan(tid, kSelectThreads, counted.getResult(0),
                                scanScratch)
            .second;
    Value wanted = emit.min(emit.min(count, p.kvLen), selectable);
    auto loadKey = [&](KernelBuilder &at, Value j) -> Value {
      return memref::LoadOp::create(at.builder, at.loc, p.keys,
                                    ValueRange{b, head, which, j});
    };

    // The k-th largest key T and how many of its ties are taken (none
    // wanted: T above every key).
    auto radix = scf::IfOp::create(builder, loc,
                                   TypeRange{i32, builder.getIndexType()},
                                   emit.lt(emit.index(0), wanted),
                                   /*withElseRegion=*/true);
    {
      OpBuilder::InsertionGuard guard(builder);
      builder.setInsertionPointToStart(radix.thenBlock());
      Value prefix = i32Const(builder, 0);
      Value remaining = wanted;
      for (int64_t digit = 3; digit >= 0; --digit) {
        int64_t shift = 8 * digit;
        Value highMask = i32Const(
            builder,
            digit == 3 ? 0
                       : int64_t(int32_t(uint32_t(0xFFFFFFFFu) << (shift + 8))));
        emit.forRange(tid, emit.index(kBins), emit.index(kSelectThreads),
                      [&](KernelBuilder &at, Value bin) {
                        memref::StoreOp::create(at.builder, at.loc,
                                                i32Const(at.builder, 0), hist,
                                                ValueRange{bin});
                      });
        gpu::BarrierOp::create(builder, loc);
        emit.forRange(
            tid, p.kvLen, emit.index(kSelectThreads),
            [&](KernelBuilder &at, Value j) {
              OpBuilder &jb = at.builder;
              Location jl = at.loc;
              Value key = loadKey(at, j);
              Value matches = at.andI(
                  arith::CmpIOp::create(jb, jl, arith::CmpIPredicate::ne, key,
                                        i32Const(jb, 0)),
                  arith::CmpIOp::create(
                      jb, jl, arith::CmpIPredicate::eq,
                      arith::AndIOp::create(jb, jl, key, highMask), prefix));
              at.ifThen(matches, [&] {
                Value bin = arith::AndIOp::create(
                    jb, jl,
                    arith::ShRUIOp::create(jb, jl, key, i32Const(jb, shift)),
                    i32Const(jb, kBins - 1));
                memref::AtomicRMWOp::create(
                    jb, jl, arith::AtomicRMWKind::addi, i32Const(jb, 1), hist,
                    ValueRange{arith::IndexCastOp::create(
                        jb, jl, jb.getIndexType(), bin)});
              });
            });
        gpu::BarrierOp::create(builder, loc);
        emit.ifThen(emit.eq(warp, emit.index(0)), [&] {
          KernelBuilder::RadixDigit digitFound =
              emit.findRadixDigit(lane, hist, ValueRange{}, remaining);
          emit.ifThen(emit.eq(lane, emit.index(0)), [&] {
            memref::StoreOp::create(
                builder, loc,
                arith::OrIOp::create(
                    builder, loc, prefix,
                    arith::ShLIOp::create(builder, loc, digitFound.digit,
                                          i32Const(builder, shift))),
                found, ValueRange{emit.index(0)});
            emit.storeI32(emit.sub(remaining, digitFound.above), found,
                          ValueRange{emit.index(1)});
          });
        });
        gpu::BarrierOp::create(builder, loc);
        prefix = memref::LoadOp::create(builder, loc, found,
                                        ValueRange{emit.index(0)});
        remaining = emit.loadI32(found, ValueRange{emit.index(1)});
        // Every thread has read them before the next digit writes them.
        gpu::BarrierOp::create(builder, loc);
      }
      scf::YieldOp::create(builder, loc, ValueRange{prefix, remaining});
      builder.setInsertionPointToStart(radix.elseBlock());
      scf::YieldOp::create(builder, loc,
                           ValueRange{i32Const(builder, -1), emit.index(0)});
    }
    Value threshold = radix.getResult(0), ties = radix.getResult(1);

    // Each thread's contiguous chunk of the row: keys above T, and the
    // lowest-index ties the scan leaves it.
    Value chunk = emit.udiv(emit.add(p.kvLen, kSelectThreads - 1), kSelectThreads);
    Value lo = emit.min(emit.mul(tid, chunk), p.kvLen);
    Value hi = emit.min(emit.add(lo, chunk), p.kvLen);
    auto above = [&](KernelBuilder &at, Value key) {
      return arith::CmpIOp::create(at.builder, at.loc,
                                   arith::CmpIPredicate::ugt, key, threshold);
    };
    auto tie = [&](KernelBuilder &at, Value key) {
      return arith::CmpIOp::create(at.builder, at.loc, arith::CmpIPredicate::eq,
                                   key, threshold);
    };
    auto asIndex = [&](KernelBuilder &at, Value flag) {
      return at.select(flag, at.index(1), at.index(0));
    };
    auto counts = scf::ForOp::create(
        builder, loc, lo, hi, emit.index(1),
        ValueRange{emit.index(0), emit.index(0)},
        [&](OpBuilder &jb, Location jl, Value j, ValueRange carried) {
          KernelBuilder at(jb, jl, emit.element);
          Value key = loadKey(at, j);
          scf::YieldOp::create(
              jb, jl,
              ValueRange{at.add(carried[0], asIndex(at, above(at, key))),
                         at.add(carried[1], asIndex(at, tie(at, key)))});
        });
    Value tiesBefore =
        emit.blockExclusiveScan(tid, kSelectThreads, counts.getResult(1),
                                scanScratch)
            .first;
    Value myTies = emit.min(
        emit.max(emit.sub(ties, tiesBefore), emit.index(0)),
        counts.getResult(1));
    auto [outBase, total] = emit.blockExclusiveScan(
        tid, kSelectThreads, emit.add(counts.getResult(0), myTies),
        scanScratch);
    scf::ForOp::create(
        builder, loc, lo, hi, emit.index(1),
        ValueRange{emit.index(0), emit.index(0)},
        [&](OpBuilder &jb, Location jl, Value j, ValueRange carried) {
          KernelBuilder at(jb, jl, emit.element);
          Value key = loadKey(at, j);
          Value isTie = tie(at, key);
          Value keep = at.orI(above(at, key),
                              at.andI(isTie, at.lt(carried[1], myTies)));
          Value slot = at.add(outBase, carried[0]);
          at.ifThen(keep, [&] {
            at.storeI32(j, p.chosen, ValueRange{b, head, which, slot});
          });
          Value taken = at.add(carried[0], asIndex(at, keep));
          at.storeI32(at.add(outBase, taken), p.ranks,
                      ValueRange{b, head, which, at.add(j, 1)});
          scf::YieldOp::create(
              jb, jl,
              ValueRange{taken, at.add(carried[1], asIndex(at, isTie))});
        });
    emit.ifThen(emit.eq(tid, emit.index(0)), [&] {
      emit.storeI32(emit.index(0), p.ranks,
                    ValueRange{b, head, which, emit.index(0)});
      emit.storeI32(total, p.chosenCount, ValueRange{b, head, which});
    });
  }

  void buildLists(KernelBuilder &emit, gpu::LaunchOp launch, const Problem &p,
                  Value kvBlocks, Value num, Value indices,
                  Value blockCapacity, Value numColumns, Value columnIndices,
                  Value columnCapacity) const {
    OpBuilder &builder = emit.builder;
    Location loc = emit.loc;
    Type i32 = builder.getI32Type();
    Value lane = launch.getThreadIds().x;
    Value queryBlock = launch.getBlockIds().x, head = launch.getBlockIds().y,
          b = launch.getBlockIds().z;
    Value marks = emit.sharedView(emit.dynamicSharedMemory(), emit.index(0),
                                  {ShapedType::kDynamic}, i32, kvBlocks);
    // The block's rows sit at positions [pLo, pHi].
    Value offset = emit.sub(p.kvLen, p.qLen);
    Value first = emit.mul(queryBlock, p.block.query);
    Value last =
        emit.sub(emit.min(emit.add(first, p.block.query), p.qLen), emit.index(1));
    Value pLo = emit.add(first, offset), pHi = emit.add(last, offset);
    Value slashes = emit.index(1);
    auto rank = [&](KernelBuilder &at, Value d) {
      return at.loadI32(p.ranks, ValueRange{b, head, slashes, d});
    };
    // Kv block J is crossed when a chosen diagonal lies in [pLo - jHi,
    // pHi - jLo] (within [0, Skv)).
    emit.forRange(lane, kvBlocks, emit.index(kWarpSize),
                  [&](KernelBuilder &at, Value kvBlock) {
                    Value jLo = at.mul(kvBlock, p.block.kv);
                    Value jHi = at.sub(
                        at.min(at.add(jLo, p.block.kv), p.kvLen), at.index(1));
                    Value lo = at.max(at.sub(pLo, jHi), at.index(0));
                    Value hi = at.min(at.sub(pHi, jLo),
                                      at.sub(p.kvLen, at.index(1)));
                    Value nonEmpty = at.le(lo, hi);
                    Value safeLo = at.select(nonEmpty, lo, at.index(0));
                    Value safeHi = at.select(nonEmpty, hi, at.index(0));
                    Value crossed = at.andI(
                        nonEmpty, at.lt(rank(at, safeLo),
                                        rank(at, at.add(safeHi, 1))));
                    memref::StoreOp::create(
                        at.builder, at.loc,
                        arith::ExtUIOp::create(at.builder, at.loc, i32, crossed),
                        marks, ValueRange{kvBlock});
                  });
    emit.syncWarp();
    Value blockCount = buildWarpMarkedList(
        emit, lane, marks, kvBlocks,
        [&](KernelBuilder &at, Value slot, Value kvBlock) {
          at.ifThen(at.lt(slot, blockCapacity), [&] {
            at.storeI32(kvBlock, indices, ValueRange{b, head, queryBlock, slot});
          });
        });
    // The chosen columns (ascending) some row sees and no crossed block
    // holds.
    Value columns = emit.index(0);
    Value chosenColumns =
        emit.loadI32(p.chosenCount, ValueRange{b, head, columns});
    auto columnLoop = scf::ForOp::create(
        builder, loc, emit.index(0), chosenColumns, emit.index(kWarpSize),
        ValueRange{emit.index(0)},
        [&](OpBuilder &cb, Location cl, Value base, ValueRange carried) {
          KernelBuilder at(cb, cl, emit.element);
          Value s = at.add(base, lane);
          Value valid = at.lt(s, chosenColumns);
          Value column = at.loadI32(
              p.chosen,
              ValueRange{b, head, columns, at.select(valid, s, at.index(0))});
          column = at.select(valid, column, at.index(0));
          Value blocked = arith::CmpIOp::create(
              cb, cl, arith::CmpIPredicate::ne,
              memref::LoadOp::create(cb, cl, marks,
                                     ValueRange{at.udiv(column, p.block.kv)}),
              arith::ConstantIntOp::create(cb, cl, 0, 32));
          Value keep = at.andI(valid, at.andI(at.le(column, pHi),
                                              at.notI(blocked)));
          Value slot = at.add(carried[0], at.laneRank(lane, keep));
          at.ifThen(at.andI(keep, at.lt(slot, columnCapacity)), [&] {
            at.storeI32(column, columnIndices,
                        ValueRange{b, head, queryBlock, slot});
          });
          scf::YieldOp::create(
              cb, cl, ValueRange{at.add(carried[0], at.ballotCount(keep))});
        });
    Value columnCount = columnLoop.getResult(0);
    auto pad = [&](Value from, Value capacity, Value list) {
      emit.forRange(emit.add(from, lane), capacity, emit.index(kWarpSize),
                    [&](KernelBuilder &at, Value slot) {
                      at.storeI32(at.index(-1), list,
                                  ValueRange{b, head, queryBlock, slot});
                    });
    };
    pad(blockCount, blockCapacity, indices);
    pad(columnCount, columnCapacity, columnIndices);
    emit.ifThen(emit.eq(lane, emit.index(0)), [&] {
      emit.storeI32(blockCount, num, ValueRange{b, head, queryBlock});
      emit.storeI32(columnCount, numColumns, ValueRange{b, head, queryBlock});
    });
  }

  MmaAttentionOptions options;
};

} // namespace

void sparse_attn::populateVerticalSlashKernelPatterns(
    RewritePatternSet &patterns, const MmaAttentionOptions &options) {
  patterns.add<VerticalSlashGpuLowering>(patterns.getContext(), options);
}
