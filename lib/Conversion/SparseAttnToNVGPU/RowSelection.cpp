//===- RowSelection.cpp - one warp selects a row's blocks -----------------===//
//
// Sink and local blocks are marked by ballots over ascending and descending
// rounds of 32. Top-k: for small k, k rounds of a warp argmax over the
// remaining candidates; otherwise the k-th largest key bit by bit (32
// counting passes), the keys above it, then the lowest-index ties.
// Threshold: the row's maximum and total weight by warp reductions, the
// forced blocks' weight, then argmax rounds while the taken mass is below
// the target, at most max_blocks of them.
//
//===----------------------------------------------------------------------===//

#include "RowSelection.h"

#include "KernelConfig.h"

#include "SparseAttn/IR/SparseAttnOps.h"
#include "SparseAttn/Utils/LoweringBuilder.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

#include <cmath>

using namespace mlir;
using namespace mlir::sparse_attn;

namespace {

/// The largest k select_topk finds by k warp argmaxes (one pass over the
/// row each) rather than by a 32-pass threshold search.
constexpr int64_t kArgmaxK = 16;

/// One warp over one row in shared memory.
class WarpRow {
public:
  WarpRow(KernelBuilder &emit, Value lane, Value keys, Value marks,
          Value blocks)
      : emit(emit), lane(lane), keys(keys), marks(marks), blocks(blocks) {}

  void select(const RowSelectionRule &rule);
  Value writeList(function_ref<void(KernelBuilder &, Value, Value)> write);

private:
  KernelBuilder &emit;
  Value lane, keys, marks, blocks;

  Value constant(OpBuilder &b, int64_t value) {
    return arith::ConstantIntOp::create(b, emit.loc, value, 32);
  }
  Value load(KernelBuilder &at, Value array, Value j) {
    return memref::LoadOp::create(at.builder, at.loc, array, j);
  }
  void store(KernelBuilder &at, Value value, Value array, Value j) {
    memref::StoreOp::create(at.builder, at.loc, value, array, j);
  }
  void ifThen(KernelBuilder &at, Value condition,
              function_ref<void(KernelBuilder &)> body) {
    auto ifOp = scf::IfOp::create(at.builder, at.loc, condition,
                                  /*withElseRegion=*/false);
    OpBuilder::InsertionGuard guard(at.builder);
    at.builder.setInsertionPointToStart(ifOp.thenBlock());
    body(at);
  }
  /// Every j of the row this lane holds (j = lane, lane + 32, ...).
  SmallVector<Value> forLaneBlocks(
      ValueRange init,
      function_ref<SmallVector<Value>(KernelBuilder &, Value, ValueRange)>
          body) {
    return scf::ForOp::create(
               emit.builder, emit.loc, lane, blocks, emit.index(32), init,
               [&](OpBuilder &b, Location l, Value j, ValueRange carried) {
                 KernelBuilder at(b, l, emit.element);
                 scf::YieldOp::create(b, l, body(at, j, carried));
               })
        .getResults();
  }
  /// Rounds of 32 blocks, ascending (or descending: lane 0 the highest),
  /// the whole warp in each; `count` carried (the same in every lane).
  void
  forRounds(bool descending,
            function_ref<Value(KernelBuilder &, Value, Value, Value)> body) {
    scf::ForOp::create(
        emit.builder, emit.loc, emit.index(0), blocks, emit.index(32),
        ValueRange{emit.index(0)},
        [&](OpBuilder &b, Location l, Value base, ValueRange carried) {
          KernelBuilder at(b, l, emit.element);
          Value offset = at.add(base, lane);
          Value j =
              descending ? at.sub(at.sub(blocks, at.index(1)), offset) : offset;
          Value valid = at.lt(offset, blocks);
          Value safe = at.select(valid, j, at.index(0));
          scf::YieldOp::create(b, l, body(at, safe, valid, carried[0]));
        });
  }
  /// Marks the first `limit` blocks holding `predicate`, in round order.
  void markFirst(bool descending, Value limit,
                 function_ref<Value(KernelBuilder &, Value)> predicate) {
    forRounds(
        descending,
        [&](KernelBuilder &at, Value j, Value valid, Value count) -> Value {
          Value holds = at.andI(valid, predicate(at, j));
          Value rank = at.laneRank(lane, holds);
          ifThen(at, at.andI(holds, at.lt(at.add(count, rank), limit)),
                 [&](KernelBuilder &in) {
                   store(in, constant(in.builder, 1), marks, j);
                 });
          return at.add(count, at.ballotCount(holds));
        });
  }
  Value keyOf(KernelBuilder &at, Value j) { return load(at, keys, j); }
  Value isSelectable(KernelBuilder &at, Value j) {
    return arith::CmpIOp::create(at.builder, at.loc, arith::CmpIPredicate::ne,
                                 keyOf(at, j), constant(at.builder, 0));
  }
  /// A key as an index in signed order (the sign bit flipped), so that the
  /// warp reductions' i32 round trips keep the order; no candidate is
  /// INT32_MIN, which stands for "none".
  Value toIndex(KernelBuilder &at, Value key) {
    return arith::IndexCastOp::create(
        at.builder, at.loc, at.builder.getIndexType(),
        arith::XOrIOp::create(at.builder, at.loc, key,
                              constant(at.builder, int64_t(INT32_MIN))));
  }
  Value fromIndex(KernelBuilder &at, Value index) {
    return arith::XOrIOp::create(
        at.builder, at.loc,
        arith::IndexCastOp::create(at.builder, at.loc, at.builder.getI32Type(),
                                   index),
        constant(at.builder, int64_t(INT32_MIN)));
  }
  /// The float a (non-zero) ordered key stands for.
  Value scoreOf(KernelBuilder &at, Value key) {
    OpBuilder &b = at.builder;
    Value positive = arith::CmpIOp::create(b, at.loc, arith::CmpIPredicate::slt,
                                           key, constant(b, 0));
    Value bits = arith::SelectOp::create(
        b, at.loc, positive,
        arith::XOrIOp::create(b, at.loc, key, constant(b, int64_t(INT32_MIN))),
        arith::XOrIOp::create(b, at.loc, key, constant(b, -1)));
    return arith::BitcastOp::create(b, at.loc, b.getF32Type(), bits);
  }
  Value warpSum(KernelBuilder &at, Value x) {
    for (int32_t offset = int32_t(kWarpSize) / 2; offset > 0; offset /= 2)
      x = at.fadd(x, gpu::ShuffleOp::create(at.builder, at.loc, x, offset,
                                            kWarpSize, gpu::ShuffleMode::XOR)
                         .getShuffleResult());
    return x;
  }

  void selectLargeK(int64_t k);
  /// Up to `rounds` warp argmaxes over the remaining candidates, each taken
  /// block marked and its key cleared; a round without candidates, or for
  /// which `stop` (given the carried values) holds, ends the search.
  /// `taken(at, key, carried)` gives the carried values after taking a
  /// block with `key`.
  void argmaxRounds(
      int64_t rounds, ValueRange init,
      function_ref<Value(KernelBuilder &, ValueRange)> stop,
      function_ref<SmallVector<Value>(KernelBuilder &, Value, ValueRange)>
          taken);
};

void WarpRow::select(const RowSelectionRule &rule) {
  // Threshold: the row's maximum score and the weight function.
  Value maxScore, maxInfinite;
  auto weightOf = [&](KernelBuilder &at, Value key) -> Value {
    Value score = scoreOf(at, key);
    Value scaled = at.fmul(at.fsub(score, maxScore), at.f32(M_LOG2E));
    Value finiteWeight = at.exp2(scaled);
    Value isInf = arith::CmpFOp::create(
        at.builder, at.loc, arith::CmpFPredicate::OEQ, score, at.f32(INFINITY));
    Value infiniteWeight = at.select(isInf, at.f32(1.0), at.f32(0.0));
    Value weight = at.select(maxInfinite, infiniteWeight, finiteWeight);
    Value selectable =
        arith::CmpIOp::create(at.builder, at.loc, arith::CmpIPredicate::ne, key,
                              constant(at.builder, 0));
    return at.select(selectable, weight, at.f32(0.0));
  };
  Value total;
  if (rule.mass) {
    Value none = emit.index(INT32_MIN);
    Value best = forLaneBlocks({none}, [&](KernelBuilder &at, Value j,
                                           ValueRange current) {
      Value key = toIndex(at, keyOf(at, j));
      return SmallVector<Value>{at.select(
          at.cmp(arith::CmpIPredicate::sgt, key, current[0]), key, current[0])};
    })[0];
    Value top = emit.warpReduceI32(best, [&](Value x, Value y) {
      return emit.select(emit.cmp(arith::CmpIPredicate::sgt, x, y), x, y);
    });
    maxScore = scoreOf(emit, fromIndex(emit, top));
    maxInfinite =
        arith::CmpFOp::create(emit.builder, emit.loc, arith::CmpFPredicate::OEQ,
                              maxScore, emit.f32(INFINITY));
    Value mine = forLaneBlocks({emit.f32(0.0)}, [&](KernelBuilder &at, Value j,
                                                    ValueRange sum) {
      return SmallVector<Value>{at.fadd(sum[0], weightOf(at, keyOf(at, j)))};
    })[0];
    total = warpSum(emit, mine);
  }
  if (rule.sink > 0)
    markFirst(false, emit.index(rule.sink),
              [&](KernelBuilder &at, Value j) { return isSelectable(at, j); });
  if (rule.local > 0)
    markFirst(true, emit.index(rule.local),
              [&](KernelBuilder &at, Value j) { return isSelectable(at, j); });
  emit.syncWarp();
  // Sink and local blocks leave the candidates (their weight is taken).
  Value forcedWeight = emit.f32(0.0);
  if (rule.sink > 0 || rule.local > 0) {
    Value mine = forLaneBlocks({emit.f32(0.0)}, [&](KernelBuilder &at, Value j,
                                                    ValueRange sum) {
      Value marked =
          arith::CmpIOp::create(at.builder, at.loc, arith::CmpIPredicate::ne,
                                load(at, marks, j), constant(at.builder, 0));
      Value key = keyOf(at, j);
      Value weight = rule.mass
                         ? at.select(marked, weightOf(at, key), at.f32(0.0))
                         : at.f32(0.0);
      // An unconditional store of a value read from the key: LLVM's NVPTX
      // build once sank the key's load past a conditional store of 0 to
      // the same address (in FusedRowSelection's kernel, where the shared
      // views come from a zero-length dynamic array), reading the forced
      // blocks' weights as 0.
      store(at, at.select(marked, constant(at.builder, 0), key), keys, j);
      return SmallVector<Value>{at.fadd(sum[0], weight)};
    })[0];
    if (rule.mass)
      forcedWeight = warpSum(emit, mine);
    emit.syncWarp();
  }
  if (rule.mass) {
    Value target = emit.fmul(emit.f32(*rule.mass), total);
    argmaxRounds(
        rule.count, ValueRange{forcedWeight},
        [&](KernelBuilder &at, ValueRange carried) -> Value {
          return arith::CmpFOp::create(at.builder, at.loc,
                                       arith::CmpFPredicate::OGE, carried[0],
                                       target);
        },
        [&](KernelBuilder &at, Value key, ValueRange carried) {
          return SmallVector<Value>{at.fadd(carried[0], weightOf(at, key))};
        });
    return;
  }
  if (rule.count <= kArgmaxK) {
    argmaxRounds(rule.count, ValueRange{}, nullptr, nullptr);
    return;
  }
  selectLargeK(rule.count);
}

void WarpRow::argmaxRounds(
    int64_t rounds, ValueRange init,
    function_ref<Value(KernelBuilder &, ValueRange)> stop,
    function_ref<SmallVector<Value>(KernelBuilder &, Value, ValueRange)>
        taken) {
  OpBuilder &builder = emit.builder;
  Location loc = emit.loc;
  Value none = emit.index(INT32_MIN);
  SmallVector<Value> initial{emit.boolean(false)};
  llvm::append_range(initial, init);
  scf::ForOp::create(
      builder, loc, emit.index(0), emit.index(rounds), emit.index(1), initial,
      [&](OpBuilder &b, Location l, Value, ValueRange carried) {
        KernelBuilder at(b, l, emit.element);
        Value done = carried[0];
        if (stop)
          done = at.orI(done, stop(at, carried.drop_front()));
        auto ifLeft =
            scf::IfOp::create(b, l, carried.getTypes(), at.notI(done), true);
        {
          OpBuilder::InsertionGuard guard(b);
          b.setInsertionPointToStart(ifLeft.thenBlock());
          // This lane's best (largest key, first index).
          auto best =
              forLaneBlocks({none, at.index(0)}, [&](KernelBuilder &in, Value j,
                                                     ValueRange current) {
                Value key = toIndex(in, keyOf(in, j));
                Value better =
                    in.cmp(arith::CmpIPredicate::sgt, key, current[0]);
                return SmallVector<Value>{in.select(better, key, current[0]),
                                          in.select(better, j, current[1])};
              });
          Value top = at.warpReduceI32(best[0], [&](Value x, Value y) {
            return at.select(at.cmp(arith::CmpIPredicate::sgt, x, y), x, y);
          });
          Value exhausted = at.eq(top, none);
          Value mine =
              at.select(at.eq(best[0], top), best[1], at.index(INT32_MAX));
          Value chosen = at.warpReduceI32(
              mine, [&](Value x, Value y) { return at.min(x, y); });
          // Every lane's reads of the round before the write.
          at.syncWarp();
          ifThen(at, at.andI(at.notI(exhausted), at.eq(lane, at.index(0))),
                 [&](KernelBuilder &in) {
                   store(in, constant(in.builder, 1), marks, chosen);
                   store(in, constant(in.builder, 0), keys, chosen);
                 });
          at.syncWarp();
          SmallVector<Value> next{exhausted};
          if (taken) {
            // The carried values after the take (unchanged when exhausted).
            SmallVector<Value> after =
                taken(at, fromIndex(at, top), carried.drop_front());
            for (auto [before, now] : llvm::zip(carried.drop_front(), after))
              next.push_back(at.select(exhausted, before, now));
          }
          scf::YieldOp::create(b, l, next);
          b.setInsertionPointToStart(ifLeft.elseBlock());
          SmallVector<Value> same{at.boolean(true)};
          llvm::append_range(same, carried.drop_front());
          scf::YieldOp::create(b, l, same);
        }
        scf::YieldOp::create(b, l, ifLeft.getResults());
      });
}

void WarpRow::selectLargeK(int64_t k) {
  OpBuilder &builder = emit.builder;
  Location loc = emit.loc;
  // The candidates with a key at least `threshold` (unsigned), over the warp.
  auto countAtLeast = [&](Value threshold,
                          arith::CmpIPredicate predicate) -> Value {
    Value mine = forLaneBlocks(
        {emit.index(0)}, [&](KernelBuilder &in, Value j, ValueRange carried) {
          Value hit = arith::CmpIOp::create(in.builder, in.loc, predicate,
                                            keyOf(in, j), threshold);
          return SmallVector<Value>{
              in.add(carried[0], in.select(hit, in.index(1), in.index(0)))};
        })[0];
    return emit.warpReduceI32(mine,
                              [&](Value x, Value y) { return emit.add(x, y); });
  };
  // The k-th largest key, bit by bit from the top: the largest T with at
  // least k keys >= T (0 when fewer than k candidates remain).
  Value threshold = constant(builder, 0);
  for (int64_t bit = 31; bit >= 0; --bit) {
    Value candidate = arith::OrIOp::create(
        builder, loc, threshold,
        constant(builder, int64_t(uint32_t(1) << bit) |
                              (bit == 31 ? int64_t(INT32_MIN) : 0)));
    Value enough = emit.cmp(arith::CmpIPredicate::sge,
                            countAtLeast(candidate, arith::CmpIPredicate::uge),
                            emit.index(k));
    threshold =
        arith::SelectOp::create(builder, loc, enough, candidate, threshold);
  }
  Value above = countAtLeast(threshold, arith::CmpIPredicate::ugt);
  forLaneBlocks({}, [&](KernelBuilder &at, Value j, ValueRange) {
    Value taken = arith::CmpIOp::create(
        at.builder, at.loc, arith::CmpIPredicate::ugt, keyOf(at, j), threshold);
    ifThen(at, taken, [&](KernelBuilder &in) {
      store(in, constant(in.builder, 1), marks, j);
    });
    return SmallVector<Value>{};
  });
  // Ties at the threshold, lowest index first, up to k in all (none when
  // the threshold is 0: the candidates ran out).
  Value nonzero = arith::CmpIOp::create(builder, loc, arith::CmpIPredicate::ne,
                                        threshold, constant(builder, 0));
  Value needed =
      emit.select(nonzero, emit.sub(emit.index(k), above), emit.index(0));
  markFirst(false, needed, [&](KernelBuilder &at, Value j) -> Value {
    return arith::CmpIOp::create(at.builder, at.loc, arith::CmpIPredicate::eq,
                                 keyOf(at, j), threshold);
  });
  emit.syncWarp();
}

Value WarpRow::writeList(
    function_ref<void(KernelBuilder &, Value, Value)> write) {
  auto loop = scf::ForOp::create(
      emit.builder, emit.loc, emit.index(0), blocks, emit.index(32),
      ValueRange{emit.index(0)},
      [&](OpBuilder &b, Location l, Value base, ValueRange carried) {
        KernelBuilder at(b, l, emit.element);
        Value j = at.add(base, lane);
        Value valid = at.lt(j, blocks);
        Value safe = at.select(valid, j, at.index(0));
        Value marked =
            at.andI(valid, arith::CmpIOp::create(b, l, arith::CmpIPredicate::ne,
                                                 load(at, marks, safe),
                                                 constant(b, 0)));
        Value slot = at.add(carried[0], at.laneRank(lane, marked));
        ifThen(at, marked, [&](KernelBuilder &in) { write(in, slot, safe); });
        scf::YieldOp::create(
            b, l, ValueRange{at.add(carried[0], at.ballotCount(marked))});
      });
  return loop.getResult(0);
}

} // namespace

Value sparse_attn::rowSelectionKey(KernelBuilder &emit, Value score) {
  Value selectable =
      arith::CmpFOp::create(emit.builder, emit.loc, arith::CmpFPredicate::OGT,
                            score, emit.f32(-INFINITY));
  return arith::SelectOp::create(
      emit.builder, emit.loc, selectable, emit.orderedKey(score),
      arith::ConstantIntOp::create(emit.builder, emit.loc, 0, 32));
}

void sparse_attn::buildWarpRowSelection(KernelBuilder &emit, Value lane,
                                        Value keys, Value marks, Value blocks,
                                        const RowSelectionRule &rule) {
  WarpRow(emit, lane, keys, marks, blocks).select(rule);
}

Value sparse_attn::buildWarpMarkedList(
    KernelBuilder &emit, Value lane, Value marks, Value blocks,
    function_ref<void(KernelBuilder &, Value, Value)> write) {
  return WarpRow(emit, lane, nullptr, marks, blocks).writeList(write);
}

RowSelectionRule sparse_attn::getRowSelectionRule(Operation *select) {
  if (auto topk = dyn_cast<SelectTopKOp>(select))
    return {static_cast<int64_t>(topk.getK()),
            static_cast<int64_t>(topk.getSink()),
            static_cast<int64_t>(topk.getLocal()), std::nullopt};
  auto threshold = cast<SelectThresholdOp>(select);
  return {static_cast<int64_t>(threshold.getMaxBlocks()),
          static_cast<int64_t>(threshold.getSink()),
          static_cast<int64_t>(threshold.getLocal()),
          threshold.getMass().convertToDouble()};
}

RowListBuffers sparse_attn::allocateRowLists(LoweringBuilder &emit,
                                             Operation *select, Value batch,
                                             Value heads, Value rows) {
  RowSelectionRule rule = getRowSelectionRule(select);
  auto numType = cast<RankedTensorType>(select->getResult(0).getType());
  auto indicesType = cast<RankedTensorType>(select->getResult(1).getType());
  RowListBuffers buffers;
  buffers.capacity = indicesType.isDynamicDim(3)
                         ? emit.index(rule.count + rule.sink + rule.local)
                         : emit.index(indicesType.getDimSize(3));
  buffers.num =
      emit.allocOfType(numType, {batch, heads, rows}, "num_blocks shape");
  buffers.indices = emit.allocOfType(
      indicesType, {batch, heads, rows, buffers.capacity},
      "block_indices shape");
  return buffers;
}

void sparse_attn::buildWarpRowList(KernelBuilder &emit, Value lane, Value marks,
                                   Value blocks, Value num, Value indices,
                                   ValueRange row, Value capacity) {
  auto at = [&](Value slot) {
    SmallVector<Value> position(row.begin(), row.end());
    position.push_back(slot);
    return position;
  };
  Value total =
      buildWarpMarkedList(emit, lane, marks, blocks,
                          [&](KernelBuilder &in, Value slot, Value block) {
                            in.ifThen(in.lt(slot, capacity), [&] {
                              in.storeI32(block, indices, at(slot));
                            });
                          });
  emit.forRange(emit.add(total, lane), capacity, emit.index(32),
                [&](KernelBuilder &in, Value slot) {
                  in.storeI32(in.index(-1), indices, at(slot));
                });
  emit.ifThen(emit.eq(lane, emit.index(0)),
              [&] { emit.storeI32(total, num, row); });
}
