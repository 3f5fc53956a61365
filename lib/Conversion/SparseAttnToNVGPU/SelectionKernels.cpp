//===- SelectionKernels.cpp - the selection ops on the GPU ----------------===//
//
// Kernels of the ops that choose blocks before an attention (NSA, MoBA):
//   pool: a thread block per (pooled block, head, batch); its threads split
//     the block's rows and 16-byte column chunks, each reducing its rows
//     with vector loads, then the partials are combined through shared
//     memory: a bandwidth-bound kernel.
//   select_topk: a warp per row. The row's scores become order-preserving
//     unsigned keys in shared memory (0 for the unselectable: -inf, NaN);
//     sink and local blocks are marked by ballots over ascending and
//     descending rounds of 32; the k-th largest remaining key is found bit
//     by bit (32 counting passes over the row in shared memory); keys
//     above it are taken, then the lowest-index ties; a last ascending
//     ballot pass writes the ascending list and the -1 padding.
//
//===----------------------------------------------------------------------===//

#include "SelectionKernels.h"

#include "KernelBuilder.h"

#include "SparseAttn/IR/SparseAttnOps.h"
#include "SparseAttn/Utils/LoweringBuilder.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/PatternMatch.h"

#include <cmath>

using namespace mlir;
using namespace mlir::sparse_attn;

namespace {

/// Threads of a pool block.
constexpr int64_t kPoolThreads = 128;
/// The largest k select_topk finds by k warp argmaxes (one pass over the
/// row each) rather than by a 32-pass threshold search.
constexpr int64_t kArgmaxK = 16;

struct PoolGpuLowering : public OpRewritePattern<PoolOp> {
  PoolGpuLowering(MLIRContext *context, const MmaAttentionOptions &options)
      : OpRewritePattern(context, /*benefit=*/2), options(options) {}

  LogicalResult matchAndRewrite(PoolOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto inputType = cast<RankedTensorType>(op.getInput().getType());
    Type element = inputType.getElementType();
    int64_t dim = inputType.getDimSize(3);
    if (ShapedType::isDynamic(dim))
      return rewriter.notifyMatchFailure(op, "dynamic head dim");
    int64_t block = op.getBlock();
    // Columns a thread loads at once: up to 16 bytes that divide a row.
    int64_t bytes = element.getIntOrFloatBitWidth() / 8;
    int64_t vector = 16 / bytes;
    while (dim % vector != 0)
      vector /= 2;
    int64_t chunks = dim / vector;
    // Row groups: the threads not needed for one row's chunks take other
    // rows of the block (at most `block` of them).
    int64_t rowGroups = std::clamp<int64_t>(kPoolThreads / chunks, 1,
                                            std::max<int64_t>(block, 1));
    int64_t threads = std::min(kPoolThreads, chunks * rowGroups);

    LoweringBuilder emit(rewriter, op, options.runtimeChecks);
    Value input = toKernelBuffer(rewriter, loc, op.getInput());
    Value batch = emit.dim(op.getInput(), 0),
          length = emit.dim(op.getInput(), 2);
    Value headsValue = emit.dim(op.getInput(), 1);
    Value blocks = emit.ceilDiv(length, block);
    auto resultType = op.getResult().getType();
    Value result = emit.allocOfType(
        resultType, {batch, headsValue, blocks, emit.index(dim)},
        "result shape");
    Value one = emit.index(1);
    int64_t sharedBytes = rowGroups * dim * 4;
    Value sharedValue =
        arith::ConstantIntOp::create(rewriter, loc, sharedBytes, 32);
    auto launch =
        gpu::LaunchOp::create(rewriter, loc, blocks, headsValue, batch,
                              emit.index(threads), one, one, sharedValue);
    {
      OpBuilder::InsertionGuard guard(rewriter);
      rewriter.setInsertionPointToStart(&launch.getBody().front());
      KernelBuilder kernel(rewriter, loc, element);
      buildBody(kernel, launch, op.getKind() == PoolKind::Max, input, result,
                length, block, dim, vector, chunks, rowGroups, threads);
      gpu::TerminatorOp::create(rewriter, loc);
    }
    replaceByWrittenBuffers(rewriter, op, result);
    return success();
  }

  void buildBody(KernelBuilder &emit, gpu::LaunchOp launch, bool isMax,
                 Value input, Value result, Value length, int64_t block,
                 int64_t dim, int64_t vector, int64_t chunks, int64_t rowGroups,
                 int64_t threads) const {
    OpBuilder &builder = emit.builder;
    Location loc = emit.loc;
    Type f32 = builder.getF32Type();
    Value tid = launch.getThreadIds().x;
    Value pooled = launch.getBlockIds().x, head = launch.getBlockIds().y,
          batch = launch.getBlockIds().z;
    Value begin = emit.mul(pooled, block);
    Value end = emit.min(emit.add(begin, block), length);
    Value identity = emit.f32(isMax ? -INFINITY : 0.0);
    auto combine = [&](KernelBuilder &at, Value x, Value y) -> Value {
      return isMax ? at.fmax(x, y) : at.fadd(x, y);
    };
    Value partials = emit.sharedView(emit.dynamicSharedMemory(), emit.index(0),
                                     {rowGroups, dim}, f32);
    // Thread t: row group t / chunkStride, column chunks t % chunkStride,
    // + chunkStride, ... (more than one when a row has more chunks than the
    // block has threads).
    int64_t chunkStride = threads / rowGroups;
    Value rowGroup = emit.udiv(tid, chunkStride);
    Value firstChunk = emit.urem(tid, chunkStride);
    auto vectorType = VectorType::get({vector}, emit.element);
    auto wideType = VectorType::get({vector}, f32);
    scf::ForOp::create(
        builder, loc, firstChunk, emit.index(chunks), emit.index(chunkStride),
        ValueRange{},
        [&](OpBuilder &chunkBuilder, Location chunkLoc, Value chunk,
            ValueRange) {
          KernelBuilder at(chunkBuilder, chunkLoc, emit.element);
          Value column = at.mul(chunk, vector);
          SmallVector<Value> init(vector, identity);
          auto rows = scf::ForOp::create(
              chunkBuilder, chunkLoc, at.add(begin, rowGroup), end,
              at.index(rowGroups), init,
              [&](OpBuilder &rowBuilder, Location rowLoc, Value row,
                  ValueRange acc) {
                KernelBuilder rowEmit(rowBuilder, rowLoc, emit.element);
                Value loaded = vector::LoadOp::create(
                    rowBuilder, rowLoc, vectorType, input,
                    ValueRange{batch, head, row, column});
                if (!emit.element.isF32())
                  loaded = arith::ExtFOp::create(rowBuilder, rowLoc, wideType,
                                                 loaded);
                SmallVector<Value> next;
                for (int64_t i = 0; i < vector; ++i)
                  next.push_back(combine(
                      rowEmit, acc[i],
                      vector::ExtractOp::create(rowBuilder, rowLoc, loaded,
                                                ArrayRef<int64_t>{i})));
                scf::YieldOp::create(rowBuilder, rowLoc, next);
              });
          for (int64_t i = 0; i < vector; ++i)
            memref::StoreOp::create(chunkBuilder, chunkLoc, rows.getResult(i),
                                    partials,
                                    ValueRange{rowGroup, at.add(column, i)});
          scf::YieldOp::create(chunkBuilder, chunkLoc);
        });
    gpu::BarrierOp::create(builder, loc);
    // The row groups' partials in order, then the mean's division.
    Value count = arith::UIToFPOp::create(
        builder, loc, f32,
        arith::IndexCastOp::create(builder, loc, builder.getI64Type(),
                                   emit.sub(end, begin)));
    scf::ForOp::create(
        builder, loc, tid, emit.index(dim), emit.index(threads), ValueRange{},
        [&](OpBuilder &colBuilder, Location colLoc, Value column, ValueRange) {
          KernelBuilder at(colBuilder, colLoc, emit.element);
          Value total = identity;
          // Groups past the block's rows hold the identity.
          for (int64_t g = 0; g < rowGroups; ++g)
            total = combine(
                at, total,
                memref::LoadOp::create(colBuilder, colLoc, partials,
                                       ValueRange{at.index(g), column}));
          if (!isMax)
            total = arith::DivFOp::create(colBuilder, colLoc, total, count);
          memref::StoreOp::create(colBuilder, colLoc, total, result,
                                  ValueRange{batch, head, pooled, column});
          scf::YieldOp::create(colBuilder, colLoc);
        });
  }

  MmaAttentionOptions options;
};

struct SelectTopKGpuLowering : public OpRewritePattern<SelectTopKOp> {
  SelectTopKGpuLowering(MLIRContext *context,
                        const MmaAttentionOptions &options)
      : OpRewritePattern(context, /*benefit=*/2), options(options) {}

  LogicalResult matchAndRewrite(SelectTopKOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    LoweringBuilder emit(rewriter, op, options.runtimeChecks);
    Value scoresTensor = op.getScores();
    Value batch = emit.dim(scoresTensor, 0), heads = emit.dim(scoresTensor, 1),
          rows = emit.dim(scoresTensor, 2), blocks = emit.dim(scoresTensor, 3);
    int64_t k = op.getK(), sink = op.getSink(), local = op.getLocal();
    RankedTensorType indicesType = op.getBlockIndices().getType();
    Value capacity = indicesType.isDynamicDim(3)
                         ? emit.index(k + sink + local)
                         : emit.index(indicesType.getDimSize(3));
    Value num = emit.allocOfType(op.getNumBlocks().getType(),
                                 {batch, heads, rows}, "num_blocks shape");
    Value indices = emit.allocOfType(
        indicesType, {batch, heads, rows, capacity}, "block_indices shape");
    Value scores = toKernelBuffer(rewriter, loc, scoresTensor);
    // The row's keys and marks in shared memory (4 bytes each).
    Value sharedBytes = emit.mul(blocks, emit.index(8));
    emit.check(
        arith::CmpIOp::create(rewriter, loc, arith::CmpIPredicate::sle,
                              sharedBytes,
                              emit.index(options.chip.sharedMemoryPerBlock)),
        "rows of more than " + Twine(options.chip.sharedMemoryPerBlock / 8) +
            " blocks do not fit the kernel's shared memory");
    Value one = emit.index(1);
    auto launch = gpu::LaunchOp::create(
        rewriter, loc, rows, heads, batch, emit.index(32), one, one,
        arith::IndexCastOp::create(rewriter, loc, rewriter.getI32Type(),
                                   sharedBytes));
    {
      OpBuilder::InsertionGuard guard(rewriter);
      rewriter.setInsertionPointToStart(&launch.getBody().front());
      KernelBuilder kernel(rewriter, loc, rewriter.getF32Type());
      buildBody(kernel, launch, scores, num, indices, blocks, capacity, k, sink,
                local);
      gpu::TerminatorOp::create(rewriter, loc);
    }
    replaceByWrittenBuffers(rewriter, op, {num, indices});
    return success();
  }

  void buildBody(KernelBuilder &emit, gpu::LaunchOp launch, Value scores,
                 Value num, Value indices, Value blocks, Value capacity,
                 int64_t k, int64_t sink, int64_t local) const {
    OpBuilder &builder = emit.builder;
    Location loc = emit.loc;
    Type i32 = builder.getI32Type();
    Value lane = launch.getThreadIds().x;
    Value row = launch.getBlockIds().x, head = launch.getBlockIds().y,
          batch = launch.getBlockIds().z;
    Value shared = emit.dynamicSharedMemory();
    Value keys = emit.sharedView(shared, emit.index(0), {ShapedType::kDynamic},
                                 i32, blocks);
    Value marks = emit.sharedView(shared, emit.mul(blocks, emit.index(4)),
                                  {ShapedType::kDynamic}, i32, blocks);
    auto constant = [&](OpBuilder &b, int64_t value) -> Value {
      return arith::ConstantIntOp::create(b, loc, value, 32);
    };
    // Every j of the row this lane holds (j = lane, lane + 32, ...).
    auto forLaneBlocks =
        [&](ValueRange init,
            function_ref<SmallVector<Value>(KernelBuilder &, Value, ValueRange)>
                body) {
          return scf::ForOp::create(
                     builder, loc, lane, blocks, emit.index(32), init,
                     [&](OpBuilder &b, Location l, Value j,
                         ValueRange carried) {
                       KernelBuilder at(b, l, emit.element);
                       scf::YieldOp::create(b, l, body(at, j, carried));
                     })
              .getResults();
        };
    // Rounds of 32 blocks, ascending (or descending: lane 0 the highest),
    // the whole warp in each; `count` carried (the same in every lane).
    auto forRounds =
        [&](bool descending,
            function_ref<Value(KernelBuilder &, Value, Value, Value)> body) {
          scf::ForOp::create(
              builder, loc, emit.index(0), blocks, emit.index(32),
              ValueRange{emit.index(0)},
              [&](OpBuilder &b, Location l, Value base, ValueRange carried) {
                KernelBuilder at(b, l, emit.element);
                Value offset = at.add(base, lane);
                Value j = descending
                              ? at.sub(at.sub(blocks, at.index(1)), offset)
                              : offset;
                Value valid = at.lt(offset, blocks);
                Value safe = at.select(valid, j, at.index(0));
                scf::YieldOp::create(b, l, body(at, safe, valid, carried[0]));
              });
        };
    auto load = [&](KernelBuilder &at, Value array, Value j) -> Value {
      return memref::LoadOp::create(at.builder, at.loc, array, j);
    };
    auto store = [&](KernelBuilder &at, Value value, Value array, Value j) {
      memref::StoreOp::create(at.builder, at.loc, value, array, j);
    };
    auto ifThen = [&](KernelBuilder &at, Value condition,
                      function_ref<void(KernelBuilder &)> body) {
      auto ifOp = scf::IfOp::create(at.builder, at.loc, condition,
                                    /*withElseRegion=*/false);
      OpBuilder::InsertionGuard guard(at.builder);
      at.builder.setInsertionPointToStart(ifOp.thenBlock());
      body(at);
    };
    // Ordered keys: selectable scores (> -inf, not NaN) as unsigned i32
    // whose order is the scores' (sign bit flipped for positives, all bits
    // for negatives; every such key exceeds 0x007FFFFF), 0 otherwise.
    forLaneBlocks({}, [&](KernelBuilder &at, Value j, ValueRange) {
      OpBuilder &b = at.builder;
      Value score = memref::LoadOp::create(b, at.loc, scores,
                                           ValueRange{batch, head, row, j});
      Value selectable = arith::CmpFOp::create(
          b, at.loc, arith::CmpFPredicate::OGT, score, at.f32(-INFINITY));
      Value ordered = at.orderedKey(score);
      store(at,
            arith::SelectOp::create(b, at.loc, selectable, ordered,
                                    constant(b, 0)),
            keys, j);
      store(at, constant(b, 0), marks, j);
      return SmallVector<Value>{};
    });
    emit.syncWarp();
    // Marks the first `limit` blocks holding `predicate`, in round order.
    auto markFirst = [&](bool descending, int64_t limit,
                         function_ref<Value(KernelBuilder &, Value)> predicate,
                         Value dynamicLimit = nullptr) {
      forRounds(
          descending,
          [&](KernelBuilder &at, Value j, Value valid, Value count) -> Value {
            Value holds = at.andI(valid, predicate(at, j));
            Value rank = at.laneRank(lane, holds);
            Value bound = dynamicLimit ? dynamicLimit : at.index(limit);
            ifThen(at, at.andI(holds, at.lt(at.add(count, rank), bound)),
                   [&](KernelBuilder &in) {
                     store(in, constant(in.builder, 1), marks, j);
                   });
            return at.add(count, at.ballotCount(holds));
          });
    };
    auto keyOf = [&](KernelBuilder &at, Value j) { return load(at, keys, j); };
    auto isSelectable = [&](KernelBuilder &at, Value j) -> Value {
      return arith::CmpIOp::create(at.builder, at.loc, arith::CmpIPredicate::ne,
                                   keyOf(at, j), constant(at.builder, 0));
    };
    if (sink > 0)
      markFirst(false, sink, isSelectable);
    if (local > 0)
      markFirst(true, local, isSelectable);
    emit.syncWarp();
    // Sink and local blocks leave the top-k's candidates.
    if (sink > 0 || local > 0) {
      forLaneBlocks({}, [&](KernelBuilder &at, Value j, ValueRange) {
        Value marked =
            arith::CmpIOp::create(at.builder, at.loc, arith::CmpIPredicate::ne,
                                  load(at, marks, j), constant(at.builder, 0));
        ifThen(at, marked, [&](KernelBuilder &in) {
          store(in, constant(in.builder, 0), keys, j);
        });
        return SmallVector<Value>{};
      });
      emit.syncWarp();
    }
    // The candidates with a key at least `threshold` (unsigned), over the
    // warp.
    auto countAtLeast = [&](KernelBuilder &at, Value threshold,
                            arith::CmpIPredicate predicate) -> Value {
      Value mine =
          scf::ForOp::create(
              at.builder, at.loc, lane, blocks, at.index(32),
              ValueRange{at.index(0)},
              [&](OpBuilder &b, Location l, Value j, ValueRange carried) {
                KernelBuilder in(b, l, emit.element);
                Value hit = arith::CmpIOp::create(b, l, predicate,
                                                  load(in, keys, j), threshold);
                scf::YieldOp::create(
                    b, l,
                    ValueRange{in.add(
                        carried[0], in.select(hit, in.index(1), in.index(0)))});
              })
              .getResult(0);
      return at.warpReduceI32(mine,
                              [&](Value x, Value y) { return at.add(x, y); });
    };
    if (k > 0 && k <= kArgmaxK) {
      // Small k: k rounds of a warp argmax over the remaining candidates
      // (the largest key, then the lowest index holding it), each taken
      // block marked and its key cleared; a round without candidates ends
      // the search.
      // Keys as indices in signed order (the sign bit flipped), so that
      // the warp reductions' i32 round trips keep them; no candidate is
      // INT32_MIN.
      Type index = builder.getIndexType();
      auto toIndex = [&](KernelBuilder &at, Value key) -> Value {
        return arith::IndexCastOp::create(
            at.builder, at.loc, index,
            arith::XOrIOp::create(at.builder, at.loc, key,
                                  constant(at.builder, int64_t(INT32_MIN))));
      };
      Value none = emit.index(INT32_MIN);
      scf::ForOp::create(
          builder, loc, emit.index(0), emit.index(k), emit.index(1),
          ValueRange{emit.boolean(false)},
          [&](OpBuilder &b, Location l, Value, ValueRange carried) {
            KernelBuilder at(b, l, emit.element);
            auto ifLeft = scf::IfOp::create(b, l, TypeRange{b.getI1Type()},
                                            at.notI(carried[0]), true);
            {
              OpBuilder::InsertionGuard guard(b);
              b.setInsertionPointToStart(ifLeft.thenBlock());
              // This lane's best (largest key, first index).
              auto best = forLaneBlocks(
                  {none, at.index(0)},
                  [&](KernelBuilder &in, Value j, ValueRange current) {
                    Value key = toIndex(in, keyOf(in, j));
                    Value better = in.cmp(arith::CmpIPredicate::sgt, key,
                                          current[0]);
                    return SmallVector<Value>{
                        in.select(better, key, current[0]),
                        in.select(better, j, current[1])};
                  });
              Value top = at.warpReduceI32(best[0], [&](Value x, Value y) {
                return at.select(at.cmp(arith::CmpIPredicate::sgt, x, y), x,
                                 y);
              });
              Value exhausted = at.eq(top, none);
              Value mine = at.select(at.eq(best[0], top), best[1],
                                     at.index(INT32_MAX));
              Value chosen = at.warpReduceI32(
                  mine, [&](Value x, Value y) { return at.min(x, y); });
              // Every lane's reads of the round before the write.
              at.syncWarp();
              ifThen(at,
                     at.andI(at.notI(exhausted), at.eq(lane, at.index(0))),
                     [&](KernelBuilder &in) {
                       store(in, constant(in.builder, 1), marks, chosen);
                       store(in, constant(in.builder, 0), keys, chosen);
                     });
              at.syncWarp();
              scf::YieldOp::create(b, l, exhausted);
              b.setInsertionPointToStart(ifLeft.elseBlock());
              scf::YieldOp::create(b, l, carried[0]);
            }
            scf::YieldOp::create(b, l, ifLeft.getResult(0));
          });
    } else if (k > 0) {
      // The k-th largest key, bit by bit from the top: the largest T with
      // at least k keys >= T (0 when fewer than k candidates remain).
      Value threshold = constant(builder, 0);
      for (int64_t bit = 31; bit >= 0; --bit) {
        Value candidate = arith::OrIOp::create(
            builder, loc, threshold,
            constant(builder, int64_t(uint32_t(1) << bit) |
                                  (bit == 31 ? int64_t(INT32_MIN) : 0)));
        Value enough =
            emit.cmp(arith::CmpIPredicate::sge,
                     countAtLeast(emit, candidate, arith::CmpIPredicate::uge),
                     emit.index(k));
        threshold =
            arith::SelectOp::create(builder, loc, enough, candidate, threshold);
      }
      Value above = countAtLeast(emit, threshold, arith::CmpIPredicate::ugt);
      forLaneBlocks({}, [&](KernelBuilder &at, Value j, ValueRange) {
        Value taken =
            arith::CmpIOp::create(at.builder, at.loc, arith::CmpIPredicate::ugt,
                                  keyOf(at, j), threshold);
        ifThen(at, taken, [&](KernelBuilder &in) {
          store(in, constant(in.builder, 1), marks, j);
        });
        return SmallVector<Value>{};
      });
      // Ties at the threshold, lowest index first, up to k in all (none
      // when the threshold is 0: the candidates ran out).
      Value nonzero =
          arith::CmpIOp::create(builder, loc, arith::CmpIPredicate::ne,
                                threshold, constant(builder, 0));
      Value needed =
          emit.select(nonzero, emit.sub(emit.index(k), above), emit.index(0));
      markFirst(
          false, 0,
          [&](KernelBuilder &at, Value j) -> Value {
            return arith::CmpIOp::create(at.builder, at.loc,
                                         arith::CmpIPredicate::eq, keyOf(at, j),
                                         threshold);
          },
          needed);
      emit.syncWarp();
    }
    // The marked blocks in ascending order, then -1 up to the capacity.
    Value total = emit.index(0);
    {
      auto loop = scf::ForOp::create(
          builder, loc, emit.index(0), blocks, emit.index(32),
          ValueRange{emit.index(0)},
          [&](OpBuilder &b, Location l, Value base, ValueRange carried) {
            KernelBuilder at(b, l, emit.element);
            Value j = at.add(base, lane);
            Value valid = at.lt(j, blocks);
            Value safe = at.select(valid, j, at.index(0));
            Value marked = at.andI(
                valid,
                arith::CmpIOp::create(b, l, arith::CmpIPredicate::ne,
                                      load(at, marks, safe), constant(b, 0)));
            Value slot = at.add(carried[0], at.laneRank(lane, marked));
            ifThen(at, at.andI(marked, at.lt(slot, capacity)),
                   [&](KernelBuilder &in) {
                     in.storeI32(safe, indices,
                                 ValueRange{batch, head, row, slot});
                   });
            scf::YieldOp::create(
                b, l, ValueRange{at.add(carried[0], at.ballotCount(marked))});
          });
      total = loop.getResult(0);
    }
    scf::ForOp::create(
        builder, loc, emit.add(total, lane), capacity, emit.index(32),
        ValueRange{}, [&](OpBuilder &b, Location l, Value slot, ValueRange) {
          memref::StoreOp::create(b, l, constant(b, -1), indices,
                                  ValueRange{batch, head, row, slot});
          scf::YieldOp::create(b, l);
        });
    ifThen(emit, emit.eq(lane, emit.index(0)), [&](KernelBuilder &in) {
      in.storeI32(total, num, ValueRange{batch, head, row});
    });
  }

  MmaAttentionOptions options;
};

} // namespace

void sparse_attn::populateSelectionKernelPatterns(
    RewritePatternSet &patterns, const MmaAttentionOptions &options) {
  patterns.add<PoolGpuLowering, SelectTopKGpuLowering>(patterns.getContext(),
                                                       options);
}
