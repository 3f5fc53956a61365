//===- IndexerKernel.cpp - lightning_indexer on tensor cores --------------===//
//
// lightning_indexer with its top-k in one kernel: the [Sq, Skv] index
// scores never reach global memory.
//
// A thread block of W warps takes W consecutive queries (a warp each) of one
// batch. The queries' HI index heads sit in shared memory (padded rows, zero
// past HI and DI); the block walks the kv tiles of its queries' key hull, 64
// keys at a time, loading each tile once for its W queries. A warp computes
// its query's logits with the keys as the rows of mma.sync m16n8k16 and the
// heads as its columns (DeepGEMM's MQA-logits orientation): a thread's
// accumulators are two keys' logits for 2 heads of each 8-head tile, so the
// ReLU, the weights (held in registers) and the head sum are register
// arithmetic and a reduction over the 4 lanes of a quad.
//
// The top-k streams: each warp keeps a buffer of candidates in shared
// memory (ordered unsigned keys of the scores and their indices, appended
// by ballots in ascending index order) and a threshold; a key enters when
// allowed by the mask and above the threshold. When the buffer could not
// take another tile, a radix select (four 8-bit digits, histograms in
// shared memory) finds the k-th largest key T; a compaction keeps the keys
// above T and the first (lowest-index) ties, exactly k, in order, and T
// becomes the threshold. The buffer stays sorted by index, so the result is
// the buffer's first k entries, then -1.
//
//===----------------------------------------------------------------------===//

#include "IndexerKernel.h"

#include "KernelBuilder.h"
#include "KernelConfig.h"

#include "SparseAttn/IR/SparseAttnOps.h"
#include "SparseAttn/Utils/LoweringBuilder.h"
#include "SparseAttn/Utils/MaskLowering.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace mlir::sparse_attn;

namespace {

// (nvgpu has a kWarpSize of its own.)
using sparse_attn::kWarpSize;

/// Keys of a kv tile: four 16-row m tiles.
constexpr int64_t kKvTile = 64;
/// Head dims the kernel takes.
constexpr int64_t kMaxIndexDim = 256;
/// Heads one pass of the accumulators covers (8 n tiles, 32 registers).
constexpr int64_t kHeadChunk = 64;
/// Bins of a radix digit.
constexpr int64_t kBins = 256;

// (Free functions: the fused DSA kernel runs the same body.)
Value i32Const(OpBuilder &b, Location l, int64_t value) {
  return arith::ConstantIntOp::create(b, l, value, 32);
}

/// buildIf with the branches given a KernelBuilder.
SmallVector<Value>
ifThenElse(KernelBuilder &at, Value condition, TypeRange types,
           function_ref<SmallVector<Value>(KernelBuilder &)> then,
           function_ref<SmallVector<Value>(KernelBuilder &)> otherwise) {
  auto branch = [&](function_ref<SmallVector<Value>(KernelBuilder &)> body) {
    return [&at, body](OpBuilder &b) {
      KernelBuilder in(b, at.loc, at.element);
      return body(in);
    };
  };
  return llvm::to_vector(buildIf(at.builder, at.loc, types, condition,
                                 branch(then), branch(otherwise)));
}

/// The warp's buffer cut to exactly `topk` entries (it holds `count` >
/// topk, sorted by index): the k-th largest key T by a radix select, then
/// the keys above T and the lowest-index ties, in order. Returns T (the
/// new threshold, i32).
Value compact(KernelBuilder &emit, Value lane, Value warp, Value keys,
              Value indices, Value hist, Value count, int64_t topk) {
  OpBuilder &builder = emit.builder;
  Location loc = emit.loc;
  Value prefix = i32Const(builder, loc, 0);
  Value remaining = emit.index(topk);
  for (int64_t digit = 3; digit >= 0; --digit) {
    int64_t shift = 8 * digit;
    Value highMask = i32Const(
        builder, loc,
        digit == 3 ? 0
                   : int64_t(int32_t(uint32_t(0xFFFFFFFFu) << (shift + 8))));
    for (int64_t q = 0; q < kBins / kWarpSize; ++q)
      memref::StoreOp::create(builder, loc, i32Const(builder, loc, 0), hist,
                              ValueRange{warp, emit.add(lane, q * kWarpSize)});
    emit.syncWarp();
    scf::ForOp::create(
        builder, loc, lane, count, emit.index(kWarpSize), ValueRange{},
        [&](OpBuilder &b, Location l, Value e, ValueRange) {
          KernelBuilder at(b, l, emit.element);
          Value key = memref::LoadOp::create(b, l, keys, ValueRange{warp, e});
          Value matches = arith::CmpIOp::create(
              b, l, arith::CmpIPredicate::eq,
              arith::AndIOp::create(b, l, key, highMask), prefix);
          auto ifMatch = scf::IfOp::create(b, l, matches, false);
          {
            OpBuilder::InsertionGuard guard(b);
            b.setInsertionPointToStart(ifMatch.thenBlock());
            Value bin = arith::AndIOp::create(
                b, l, arith::ShRUIOp::create(b, l, key, i32Const(b, l, shift)),
                i32Const(b, l, 255));
            memref::AtomicRMWOp::create(
                b, l, arith::AtomicRMWKind::addi, i32Const(b, l, 1), hist,
                ValueRange{warp, arith::IndexCastOp::create(
                                     b, l, b.getIndexType(), bin)});
          }
          scf::YieldOp::create(b, l);
        });
    emit.syncWarp();
    KernelBuilder::RadixDigit found =
        emit.findRadixDigit(lane, hist, ValueRange{warp}, remaining);
    Value digitValue = found.digit;
    Value aboveValue = found.above;
    prefix = arith::OrIOp::create(
        builder, loc, prefix,
        arith::ShLIOp::create(builder, loc, digitValue,
                              i32Const(builder, loc, shift)));
    remaining = emit.sub(remaining, aboveValue);
    emit.syncWarp();
  }
  Value threshold = prefix;
  // Keys above T and the first `remaining` ties, in order, in place.
  scf::ForOp::create(
      builder, loc, emit.index(0), count, emit.index(kWarpSize),
      ValueRange{emit.index(0), emit.index(0)},
      [&](OpBuilder &b, Location l, Value base, ValueRange carried) {
        KernelBuilder at(b, l, emit.element);
        Value e = at.add(base, lane);
        Value valid = at.lt(e, count);
        Value safe = at.select(valid, e, at.index(0));
        Value key = memref::LoadOp::create(b, l, keys, ValueRange{warp, safe});
        Value index =
            memref::LoadOp::create(b, l, indices, ValueRange{warp, safe});
        Value tie =
            at.andI(valid, arith::CmpIOp::create(b, l, arith::CmpIPredicate::eq,
                                                 key, threshold));
        Value tieRank = at.add(carried[1], at.laneRank(lane, tie));
        Value keep = at.andI(
            valid, at.orI(arith::CmpIOp::create(b, l, arith::CmpIPredicate::ugt,
                                                key, threshold),
                          at.andI(tie, at.lt(tieRank, remaining))));
        Value slot = at.add(carried[0], at.laneRank(lane, keep));
        at.syncWarp();
        auto ifKeep = scf::IfOp::create(b, l, keep, false);
        {
          OpBuilder::InsertionGuard guard(b);
          b.setInsertionPointToStart(ifKeep.thenBlock());
          memref::StoreOp::create(b, l, key, keys, ValueRange{warp, slot});
          memref::StoreOp::create(b, l, index, indices, ValueRange{warp, slot});
        }
        at.syncWarp();
        scf::YieldOp::create(
            b, l,
            ValueRange{at.add(carried[0], at.ballotCount(keep)),
                       at.add(carried[1], at.ballotCount(tie))});
      });
  return threshold;
}

} // namespace

IndexerLayout::IndexerLayout(int64_t warps, int64_t stages, int64_t headCount,
                             int64_t headDim, int64_t topk)
    : warps(warps), stages(stages), threads(warps * kWarpSize) {
  heads = llvm::alignTo(headCount, 16);
  dim = llvm::alignTo(headDim, 16);
  // 16-bit elements; an odd number of 16-byte chunks a row: ldmatrix's
  // eight rows fall on eight different bank groups.
  stride = dim + 8;
  // Room for k candidates and at least one more tile's (and then some,
  // so that compactions stay rare).
  capacity = llvm::alignTo(topk + std::max<int64_t>(kKvTile, topk / 2), 32);
  queryBytes = warps * heads * stride * 2;
  keyOffset = queryBytes;
  keysOffset = keyOffset + stages * kKvTile * stride * 2;
  histOffset = keysOffset + warps * capacity * 4;
  transientBytes = histOffset + warps * kBins * 4;
  placeIndicesAt(transientBytes);
}

void IndexerLayout::placeIndicesAt(int64_t offset) {
  assert(offset >= transientBytes && offset % 16 == 0 && "overlapping indices");
  indicesOffset = offset;
  bytes = indicesOffset + indicesBytes();
}

int64_t sparse_attn::getIndexerMaxStages(int64_t headDim,
                                         const ChipInfo &chip) {
  return headDim % 8 == 0 ? chip.maxStages : 1;
}

IndexerProblem sparse_attn::getIndexerProblem(
    PatternRewriter &rewriter, LoweringBuilder &emit, Value query, Value key,
    Value weights, Value idsQ, Value idsKv, Attribute mask, int64_t topk) {
  Location loc = emit.op->getLoc();
  auto queryType = cast<RankedTensorType>(query.getType());
  IndexerProblem p;
  p.mask = mask;
  p.heads = queryType.getDimSize(1);
  p.headDim = queryType.getDimSize(3);
  p.topk = topk;
  p.element = queryType.getElementType();
  p.weightElement = cast<RankedTensorType>(weights.getType()).getElementType();
  IndexerLengths lengths =
      getIndexerLengths(emit, query, key, weights, idsQ, idsKv);
  p.batch = lengths.batch;
  p.queryLen = lengths.queryLen;
  p.kvLen = lengths.kvLen;
  checkMaskLengths(emit, mask, p.kvLen);
  if (idsQ) {
    p.idsQ = toReadOnlyBuffer(rewriter, loc, idsQ);
    p.idsKv = toReadOnlyBuffer(rewriter, loc, idsKv);
  }
  p.queries = toKernelBuffer(rewriter, loc, query);
  p.keys = toKernelBuffer(rewriter, loc, key);
  p.weights = toReadOnlyBuffer(rewriter, loc, weights);
  return p;
}

LogicalResult sparse_attn::checkIndexerInputs(Type element, int64_t headDim,
                                              Attribute mask,
                                              std::string &reason) {
  if (!element.isF16() && !element.isBF16())
    reason = "not f16 or bf16";
  else if (headDim > kMaxIndexDim)
    reason = "head dim above 256";
  else if (mask && !hasMaskLowering(mask))
    reason = "the mask has no lowering";
  else
    return success();
  return failure();
}

IndexerSelection sparse_attn::buildIndexerSelection(
    KernelBuilder &emit, Value tid, Value firstQuery, Value b,
    const IndexerProblem &p, const IndexerLayout &layout, Value shared) {
  OpBuilder &builder = emit.builder;
  Location loc = emit.loc;
  Type f32 = builder.getF32Type(), i32 = builder.getI32Type();
  int64_t threads = layout.threads;
  // A warp per query; warps past layout.warps (a block with more warps than
  // queries) join the copies and barriers only.
  Value warpIndex = emit.udiv(tid, kWarpSize), lane = emit.urem(tid, kWarpSize);
  Value computes = emit.lt(warpIndex, emit.index(layout.warps));
  Value warp = threads == layout.warps * kWarpSize
                   ? warpIndex
                   : emit.min(warpIndex, emit.index(layout.warps - 1));
  Value group = emit.udiv(lane, 4), quad = emit.urem(lane, 4);
  Value laneRow = emit.urem(lane, 8);
  Value laneHalf = emit.urem(emit.udiv(lane, 8), 2);
  Value laneQuarter = emit.udiv(lane, 16);
  Value query = emit.add(firstQuery, warp);
  Value active = emit.andI(computes, emit.lt(query, p.queryLen));
  Value safeQuery = emit.min(query, emit.sub(p.queryLen, emit.index(1)));

  Value queryTiles =
      emit.sharedView(shared, emit.index(0),
                      {layout.warps, layout.heads, layout.stride}, p.element);
  Value keyTiles =
      emit.sharedView(shared, emit.index(layout.keyOffset),
                      {layout.stages, kKvTile, layout.stride}, p.element);
  Value keys = emit.sharedView(shared, emit.index(layout.keysOffset),
                               {layout.warps, layout.capacity}, i32);
  Value indices = emit.sharedView(shared, emit.index(layout.indicesOffset),
                                  {layout.warps, layout.capacity}, i32);
  Value hist = emit.sharedView(shared, emit.index(layout.histOffset),
                               {layout.warps, kBins}, i32);

  // The block's queries' heads ([W * heads] rows; zero past HI and Sq).
  Value flatQueries =
      emit.sharedView(shared, emit.index(0),
                      {layout.warps * layout.heads, layout.stride}, p.element);
  emit.copyRows(
      tid, threads, p.queries, flatQueries, layout.warps * layout.heads,
      p.headDim, layout.dim, [&](KernelBuilder &at, Value r) {
        Value w = at.udiv(r, layout.heads);
        Value h = at.urem(r, layout.heads);
        Value row = at.add(firstQuery, w);
        Value exists =
            at.andI(at.lt(row, p.queryLen), at.lt(h, at.index(p.heads)));
        Value safeRow = at.min(row, at.sub(p.queryLen, at.index(1)));
        Value safeHead = at.min(h, at.index(p.heads - 1));
        return std::pair{SmallVector<Value>{b, safeHead, safeRow}, exists};
      });
  // This thread's weights: heads 8 nt + 2 quad + {0, 1} (0 past HI or for
  // a query past Sq).
  SmallVector<Value> weights;
  for (int64_t nt = 0; nt < layout.heads / 8; ++nt)
    for (int64_t e = 0; e < 2; ++e) {
      Value h = emit.add(emit.mul(quad, 2), nt * 8 + e);
      Value exists = emit.andI(active, emit.lt(h, emit.index(p.heads)));
      Value safeHead = emit.min(h, emit.index(p.heads - 1));
      Value w = memref::LoadOp::create(builder, loc, p.weights,
                                       ValueRange{b, safeQuery, safeHead});
      if (!p.weightElement.isF32())
        w = arith::ExtFOp::create(builder, loc, f32, w);
      weights.push_back(emit.select(exists, w, emit.f32(0.0)));
    }

  // The keys the block's queries may see.
  Value offset = emit.sub(p.kvLen, p.queryLen);
  Value lastQuery = emit.sub(
      emit.min(emit.add(firstQuery, layout.warps), p.queryLen), emit.index(1));
  KeyHull hull = buildKeyHull(emit, p.mask, emit.add(firstQuery, offset),
                              emit.add(lastQuery, offset), p.kvLen);
  // Clamped to [0, Skv] (queries before the first key, with Sq > Skv,
  // may see none).
  Value hullHi = emit.max(emit.min(hull.hi, p.kvLen), emit.index(0));
  Value hullLo = emit.min(emit.max(hull.lo, emit.index(0)), hullHi);
  Value firstTile = emit.mul(emit.udiv(hullLo, kKvTile), kKvTile);

  int64_t capacityLeft = layout.capacity - kKvTile;
  int64_t stages = layout.stages;
  // Key tile `tileBase` into stage `stage`: cp.async 16-byte chunks (rows
  // past Skv zero-filled), one commit group; with one stage, plain copies.
  auto issueKeys = [&](KernelBuilder &at, Value tileBase, Value stage) {
    if (stages == 1) {
      Value tile = emit.sharedView(shared, emit.index(layout.keyOffset),
                                   {kKvTile, layout.stride}, p.element);
      at.copyRows(tid, threads, p.keys, tile, kKvTile, p.headDim, layout.dim,
                  [&](KernelBuilder &in, Value r) {
                    Value row = in.add(tileBase, r);
                    Value exists = in.lt(row, p.kvLen);
                    Value safeRow = in.min(row, in.sub(p.kvLen, in.index(1)));
                    return std::pair{SmallVector<Value>{b, safeRow}, exists};
                  });
      return;
    }
    int64_t chunks = p.headDim / 8;
    scf::ForOp::create(
        at.builder, at.loc, tid, at.index(kKvTile * chunks), at.index(threads),
        ValueRange{}, [&](OpBuilder &cb, Location cl, Value idx, ValueRange) {
          KernelBuilder in(cb, cl, emit.element);
          Value r = in.udiv(idx, chunks);
          Value column = in.mul(in.urem(idx, chunks), 8);
          Value row = in.add(tileBase, r);
          Value exists = in.lt(row, p.kvLen);
          Value safeRow =
              in.max(in.min(row, in.sub(p.kvLen, in.index(1))), in.index(0));
          nvgpu::DeviceAsyncCopyOp::create(
              cb, cl, keyTiles, ValueRange{stage, r, column}, p.keys,
              ValueRange{b, safeRow, column}, cb.getIndexAttr(8),
              in.select(exists, in.index(8), in.index(0)), cb.getUnitAttr());
          scf::YieldOp::create(cb, cl);
        });
    nvgpu::DeviceAsyncCreateGroupOp::create(
        at.builder, at.loc,
        nvgpu::DeviceAsyncTokenType::get(at.builder.getContext()),
        ValueRange{});
  };
  if (stages > 1) {
    // The padding columns once for every stage (the stages' rows as one
    // 2-d view); tiles 0 .. stages - 2.
    emit.zeroColumns(tid, threads,
                     emit.sharedView(shared, emit.index(layout.keyOffset),
                                     {stages * kKvTile, layout.stride},
                                     p.element),
                     stages * kKvTile, p.headDim, layout.dim,
                     arith::ConstantOp::create(builder, loc,
                                               builder.getZeroAttr(p.element)));
    for (int64_t t = 0; t + 1 < stages; ++t) {
      Value tileBase = emit.add(firstTile, t * kKvTile);
      auto ifTile =
          scf::IfOp::create(builder, loc, emit.lt(tileBase, hullHi), false);
      OpBuilder::InsertionGuard guard(builder);
      builder.setInsertionPointToStart(ifTile.thenBlock());
      KernelBuilder in(builder, loc, emit.element);
      issueKeys(in, tileBase, in.index(t));
    }
  }
  auto tiles = scf::ForOp::create(
      builder, loc, firstTile, hullHi, emit.index(kKvTile),
      ValueRange{emit.index(0), i32Const(builder, loc, 0)},
      [&](OpBuilder &tb, Location tl, Value tileBase, ValueRange state) {
        KernelBuilder at(tb, tl, emit.element);
        Value tileIndex = at.udiv(at.sub(tileBase, firstTile), kKvTile);
        Value stage = at.urem(tileIndex, stages);
        if (stages == 1) {
          gpu::BarrierOp::create(tb, tl);
          issueKeys(at, tileBase, stage);
          gpu::BarrierOp::create(tb, tl);
        } else {
          // This tile's group is the oldest of the open ones (each
          // thread counts its own; a tile that was never issued left
          // none, so waiting for all is then exact too).
          Value next = at.add(tileBase, (stages - 1) * kKvTile);
          Value more = at.lt(next, hullHi);
          // Groups issued after this tile's: min(stages - 2, tiles left
          // after it); wait_group needs a constant, so wait for all but
          // stages - 2 while enough tiles follow, else for all. The
          // barrier then also frees the stage the next issue refills
          // (the previous tile's).
          Value enough =
              at.lt(at.add(tileBase, (stages - 2) * kKvTile), hullHi);
          auto ifEnough = scf::IfOp::create(tb, tl, enough, true);
          {
            OpBuilder::InsertionGuard guard(tb);
            tb.setInsertionPointToStart(ifEnough.thenBlock());
            KernelBuilder(tb, tl, emit.element).asyncWait(stages - 2);
            tb.setInsertionPointToStart(ifEnough.elseBlock());
            KernelBuilder(tb, tl, emit.element).asyncWait(0);
          }
          gpu::BarrierOp::create(tb, tl);
          auto ifMore = scf::IfOp::create(tb, tl, more, false);
          {
            OpBuilder::InsertionGuard guard(tb);
            tb.setInsertionPointToStart(ifMore.thenBlock());
            KernelBuilder in(tb, tl, emit.element);
            issueKeys(in, next, in.urem(in.add(tileIndex, stages - 1), stages));
          }
        }

        // The computing warps (all, unless the block has more warps than
        // queries): the tile's logits, then the candidates.
        auto compute = [&](KernelBuilder &at) -> SmallVector<Value> {
          OpBuilder &tb = at.builder;
          Location tl = at.loc;
          // The tile's logits: each head's fragments loaded once per 16
          // dims and used by the four 16-key m tiles (128 accumulators).
          constexpr int64_t mTiles = kKvTile / 16;
          Value zero = at.f32(0.0);
          SmallVector<std::array<Value, 2>> scores(mTiles, {zero, zero});
          for (int64_t chunk = 0; chunk < layout.heads; chunk += kHeadChunk) {
            int64_t nTiles = std::min(kHeadChunk, layout.heads - chunk) / 8;
            SmallVector<SmallVector<SmallVector<Value>>> acc(
                mTiles, SmallVector<SmallVector<Value>>(
                            nTiles, SmallVector<Value>(4, zero)));
            for (int64_t ks = 0; ks < layout.dim / 16; ++ks) {
              // Heads as B's columns: matrices (heads 0-7, k lo), (heads
              // 0-7, k hi), (heads 8-15, k lo), (heads 8-15, k hi).
              SmallVector<SmallVector<Value>> bRegs;
              for (int64_t nt = 0; nt < nTiles; nt += 2) {
                Value bRow = at.add(at.add(laneRow, at.mul(laneQuarter, 8)),
                                    chunk + nt * 8);
                Value bCol = at.add(at.mul(laneHalf, 8), ks * 16);
                bRegs.push_back(
                    at.loadMatrices(queryTiles, {warp, bRow, bCol}, 4, false));
              }
              for (int64_t mt = 0; mt < mTiles; ++mt) {
                Value aRow = at.add(laneRow, at.mul(laneHalf, 8));
                aRow = at.add(aRow, mt * 16);
                Value aCol = at.add(at.mul(laneQuarter, 8), ks * 16);
                SmallVector<Value> a =
                    at.loadMatrices(keyTiles, {stage, aRow, aCol}, 4, false);
                for (int64_t nt = 0; nt < nTiles; nt += 2) {
                  const SmallVector<Value> &bPair = bRegs[nt / 2];
                  acc[mt][nt] =
                      at.mmaSync(a, {bPair[0], bPair[1]}, acc[mt][nt]);
                  acc[mt][nt + 1] =
                      at.mmaSync(a, {bPair[2], bPair[3]}, acc[mt][nt + 1]);
                }
              }
            }
            // relu, weights, this thread's heads.
            for (int64_t mt = 0; mt < mTiles; ++mt)
              for (int64_t nt = 0; nt < nTiles; ++nt)
                for (int64_t e = 0; e < 4; ++e) {
                  Value weight = weights[(chunk / 8 + nt) * 2 + e % 2];
                  Value relu = at.fmax(acc[mt][nt][e], zero);
                  scores[mt][e / 2] =
                      at.fadd(scores[mt][e / 2], at.fmul(weight, relu));
                }
          }
          // The candidates in key order: m tile, then rows group, group + 8.
          Value count = state[0], threshold = state[1];
          for (int64_t mt = 0; mt < mTiles; ++mt)
            for (int64_t half = 0; half < 2; ++half) {
              KernelBuilder &m = at;
              OpBuilder &mb = tb;
              Location ml = tl;
              Value score =
                  m.quadReduce(scores[mt][half],
                               [&](Value x, Value y) { return m.fadd(x, y); });
              Value key = m.add(tileBase, m.add(group, mt * 16 + half * 8));
              Value allowed =
                  m.andI(active, m.andI(m.le(hullLo, key), m.lt(key, hullHi)));
              MaskPairValues pair{b,       safeQuery, key,    p.queryLen,
                                  p.kvLen, p.idsQ,    p.idsKv};
              pair.keyRow = m.min(key, m.sub(p.kvLen, m.index(1)));
              allowed =
                  m.andI(allowed, *buildMaskPredicate(mb, ml, p.mask, pair));
              Value isNaN = arith::CmpFOp::create(
                  mb, ml, arith::CmpFPredicate::UNO, score, score);
              Value ordered = arith::SelectOp::create(
                  mb, ml, isNaN, i32Const(mb, ml, 1), m.orderedKey(score));
              Value take = m.andI(
                  m.andI(allowed, m.eq(quad, m.index(0))),
                  arith::CmpIOp::create(mb, ml, arith::CmpIPredicate::ugt,
                                        ordered, threshold));
              Value slot = m.add(count, m.laneRank(lane, take));
              auto ifTake = scf::IfOp::create(mb, ml, take, false);
              {
                OpBuilder::InsertionGuard guard(mb);
                mb.setInsertionPointToStart(ifTake.thenBlock());
                memref::StoreOp::create(mb, ml, ordered, keys,
                                        ValueRange{warp, slot});
                m.storeI32(key, indices, {warp, slot});
              }
              count = m.add(count, m.ballotCount(take));
            }
          // Room for the next tile's candidates.
          return ifThenElse(
              at, at.lt(at.index(capacityLeft), count),
              TypeRange{at.builder.getIndexType(), i32},
              [&](KernelBuilder &in) -> SmallVector<Value> {
                in.syncWarp();
                Value t =
                    compact(in, lane, warp, keys, indices, hist, count, p.topk);
                return {in.index(p.topk), t};
              },
              [&](KernelBuilder &) -> SmallVector<Value> {
                return {count, threshold};
              });
        };
        SmallVector<Value> next =
            threads == layout.warps * kWarpSize
                ? compute(at)
                : ifThenElse(at, computes, TypeRange(state), compute,
                             [&](KernelBuilder &) -> SmallVector<Value> {
                               return SmallVector<Value>(state);
                             });
        scf::YieldOp::create(tb, tl, next);
      });
  Value count = tiles.getResult(0);
  emit.syncWarp();
  Value finalCount =
      ifThenElse(
          emit, emit.lt(emit.index(p.topk), count),
          TypeRange{builder.getIndexType()},
          [&](KernelBuilder &in) -> SmallVector<Value> {
            compact(in, lane, warp, keys, indices, hist, count, p.topk);
            return {in.index(p.topk)};
          },
          [&](KernelBuilder &) -> SmallVector<Value> { return {count}; })
          .front();
  emit.syncWarp();
  return {finalCount, indices};
}

namespace {

struct LightningIndexerGpuLowering
    : public OpRewritePattern<LightningIndexerOp> {
  LightningIndexerGpuLowering(MLIRContext *context,
                              const MmaAttentionOptions &options)
      : OpRewritePattern(context, /*benefit=*/2), options(options) {}

  LogicalResult matchAndRewrite(LightningIndexerOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    RankedTensorType queryType = op.getIndexQuery().getType();
    Type element = queryType.getElementType();
    int64_t headDim = queryType.getDimSize(3);
    Attribute mask = op.getMaskAttr();
    std::string reason;
    if (failed(checkIndexerInputs(element, headDim, mask, reason)))
      return rewriter.notifyMatchFailure(op, reason);
    int64_t heads = queryType.getDimSize(1), topk = op.getTopk();
    // The most queries a block (they share each key tile), then the most
    // cp.async stages of key tiles (one: synchronous copies; also when rows
    // are not whole 16-byte chunks).
    std::optional<IndexerLayout> layout;
    int64_t maxStages = getIndexerMaxStages(headDim, options.chip);
    for (int64_t warps : {4, 2, 1}) {
      std::optional<IndexerLayout> fitting;
      for (int64_t stages = maxStages; stages >= 1 && !fitting; --stages) {
        IndexerLayout candidate(warps, stages, heads, headDim, topk);
        if (candidate.bytes <= options.chip.sharedMemoryPerBlock)
          fitting = candidate;
      }
      // Two stages at least, where copies can be asynchronous, unless even
      // one query a block has no room for them.
      if (fitting &&
          (fitting->stages >= std::min<int64_t>(2, maxStages) || warps == 1)) {
        layout = fitting;
        break;
      }
    }
    if (!layout)
      return rewriter.notifyMatchFailure(
          op, "topk's candidates exceed shared memory");

    LoweringBuilder emit(rewriter, op, options.runtimeChecks);
    IndexerProblem p = getIndexerProblem(
        rewriter, emit, op.getIndexQuery(), op.getIndexKey(), op.getWeights(),
        op.getSegmentIdsQ(), op.getSegmentIdsKv(), mask, topk);
    Value result = emit.allocOfType(op.getTokenIndices().getType(),
                                    {p.batch, p.queryLen, emit.index(topk)},
                                    "token_indices shape");
    Value one = emit.index(1);
    auto launch = gpu::LaunchOp::create(
        rewriter, loc, emit.ceilDiv(p.queryLen, layout->warps), one, p.batch,
        emit.index(layout->warps * kWarpSize), one, one,
        arith::ConstantIntOp::create(rewriter, loc, layout->bytes, 32));
    {
      OpBuilder::InsertionGuard guard(rewriter);
      rewriter.setInsertionPointToStart(&launch.getBody().front());
      KernelBuilder kernel(rewriter, loc, element);
      buildBody(kernel, launch, p, *layout, result);
      gpu::TerminatorOp::create(rewriter, loc);
    }
    replaceByWrittenBuffers(rewriter, op, result);
    return success();
  }

  /// The body for the block's queries, then each warp's list into
  /// `result`: the buffer's entries in order, then -1.
  void buildBody(KernelBuilder &emit, gpu::LaunchOp launch,
                 const IndexerProblem &p, const IndexerLayout &layout,
                 Value result) const {
    OpBuilder &builder = emit.builder;
    Location loc = emit.loc;
    Value tid = launch.getThreadIds().x;
    Value b = launch.getBlockIds().z;
    Value firstQuery = emit.mul(launch.getBlockIds().x, layout.warps);
    Value shared = emit.dynamicSharedMemory();
    auto [count, indices] =
        buildIndexerSelection(emit, tid, firstQuery, b, p, layout, shared);
    Value warp = emit.udiv(tid, kWarpSize), lane = emit.urem(tid, kWarpSize);
    Value query = emit.add(firstQuery, warp);
    Value active = emit.lt(query, p.queryLen);
    auto ifActive = scf::IfOp::create(builder, loc, active, false);
    OpBuilder::InsertionGuard guard(builder);
    builder.setInsertionPointToStart(ifActive.thenBlock());
    scf::ForOp::create(
        builder, loc, lane, emit.index(p.topk), emit.index(kWarpSize),
        ValueRange{}, [&](OpBuilder &ob, Location ol, Value s, ValueRange) {
          KernelBuilder at(ob, ol, emit.element);
          Value listed = at.lt(s, count);
          Value safe = at.select(listed, s, at.index(0));
          Value index =
              memref::LoadOp::create(ob, ol, indices, ValueRange{warp, safe});
          Value value = arith::SelectOp::create(ob, ol, listed, index,
                                                i32Const(ob, ol, -1));
          memref::StoreOp::create(ob, ol, value, result,
                                  ValueRange{b, query, s});
          scf::YieldOp::create(ob, ol);
        });
  }

  MmaAttentionOptions options;
};

} // namespace

void sparse_attn::populateIndexerKernelPatterns(
    RewritePatternSet &patterns, const MmaAttentionOptions &options) {
  patterns.add<LightningIndexerGpuLowering>(patterns.getContext(), options);
}
