//===- FusedTokenSelection.cpp - a block selects its queries' tokens ------===//
//
// fused_token_sparse_attention (DeepSeek Sparse Attention) on the attention
// kernel: a block takes W consecutive queries (W up to its warps) and
//   1. runs the lightning indexer's body for them (IndexerKernel.h: a warp
//      per query, logits on tensor cores, the weighted ReLU head sums and a
//      streaming top-k; other warps join the copies and barriers), its key
//      tiles, candidates and histograms in the shared memory the
//      attention's tiles take afterwards; each warp's list (ascending)
//      stays in shared memory past the tiles, with its count;
//   2. computes the W queries in turn, each an item of the token-list
//      walk (all query heads of the query as the tile's rows, the keys its
//      list's slots name gathered by cp.async), reading the list from
//      shared memory.
// The [Sq, topk] lists of the unfused chain never reach global memory.
//
//===----------------------------------------------------------------------===//

#include "AttentionKernel.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

using namespace mlir;
using namespace mlir::sparse_attn;

LogicalResult AttentionKernel::buildSelectedTokenItems(Value blockX) {
  OpBuilder &builder = emit.builder;
  const TokenSelection &selection = *operands.tokenSelection;
  const IndexerLayout &layout = selection.layout;
  Type i32 = builder.getI32Type();
  Value firstQuery = emit.mul(blockX, layout.warps);

  // 1. The lists (the indexer's body ends with each warp's buffer in
  //    order; a warp's count is for its lanes only).
  auto [count, lists] = buildIndexerSelection(
      emit, tid, firstQuery, batch, selection.problem, layout, sharedBase);
  tokenLists = lists;
  tokenCounts = emit.sharedView(sharedBase, emit.index(selection.countsOffset),
                                {layout.warps}, i32);
  emit.ifThen(emit.andI(emit.eq(lane, emit.index(0)),
                        emit.lt(warp, emit.index(layout.warps))),
              [&] { emit.storeI32(count, tokenCounts, {warp}); });

  // 2. The queries in turn: each starts after every thread has left the
  //    selection's shared memory (the first) or the previous query's tiles.
  queryStart = emit.index(0);
  bool failedItem = false;
  emit.forRange(emit.index(0), emit.index(layout.warps), emit.index(1),
                [&](KernelBuilder &at, Value item) {
                  gpu::BarrierOp::create(at.builder, at.loc);
                  tokenItem = item;
                  tokenQuery = at.add(firstQuery, item);
                  // (Uniform over the block; `at` builds with the launch's
                  // builder, so buildItem's ops land in the loop.)
                  at.ifThen(at.lt(tokenQuery, operands.queryLen), [&] {
                    tokenCount = at.loadI32(tokenCounts, {item});
                    failedItem |= failed(buildItem(ItemInput{}));
                    asyncWait(at.builder, at.loc, 0);
                  });
                });
  return failure(failedItem);
}
