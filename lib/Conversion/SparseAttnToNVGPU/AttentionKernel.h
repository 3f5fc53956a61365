//===- AttentionKernel.h - the tensor-core attention kernel -----*- C++ -*-===//
//
// The body of one block-sparse attention launch, written once: the query
// block's list walk, the K/V pipeline stages, masking and the online
// softmax. A flavour (mma.sync, wgmma) supplies what depends on the matrix
// instructions: the shared-memory layout of the tiles, the score and value
// products, and which rows each thread holds.
//
//===----------------------------------------------------------------------===//

#ifndef SPARSE_ATTN_LIB_CONVERSION_SPARSEATTNTONVGPU_ATTENTIONKERNEL_H
#define SPARSE_ATTN_LIB_CONVERSION_SPARSEATTNTONVGPU_ATTENTIONKERNEL_H

#include "IndexerKernel.h"
#include "KernelBuilder.h"
#include "KernelConfig.h"
#include "RowSelection.h"

#include "SparseAttn/Utils/LoweringBuilder.h"
#include "SparseAttn/Utils/MaskLowering.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"

#include <memory>

namespace mlir::sparse_attn {

/// fused_block_sparse_attention: how a block selects its query block's
/// list (FusedSelection.cpp).
struct FusedSelection {
  RowSelectionRule rule;
  double scoreScale = 1.0;
  /// The score mask (null: every block pair occupied).
  Attribute scoreMask;
  /// The pooled head dim (a multiple of 4), the kv blocks and the list's
  /// capacity (operands.capacity; all static).
  int64_t pooledDim = 0, kvBlocks = 0, capacity = 0;
  /// Shared bytes of the selection's scratch (keys, marks, the summed
  /// pooled query row), after the list.
  int64_t scratchBytes() const { return 8 * kvBlocks + 4 * pooledDim; }
};

/// fused_token_sparse_attention: how a block selects its queries' token
/// lists (FusedTokenSelection.cpp): the lightning indexer's body for
/// `layout.warps` consecutive queries (a warp each, the block's warps),
/// its transient part in the tiles' place (MmaKernelConfig::prologueBytes),
/// the lists from `layout.indicesOffset` and their counts at
/// `countsOffset`, both past the tiles.
struct TokenSelection {
  IndexerProblem problem;
  IndexerLayout layout;
  int64_t countsOffset = 0;
};

/// Everything the kernel body reads from the host side. Without block
/// lists (`numBlocks` null: the `attention` op) each query tile visits the
/// kv tiles of its rows' key hull under the mask, which it derives itself.
struct KernelOperands {
  Value query, key, value, numBlocks, blockIndices, output, lse; // memrefs
  Value fullNumBlocks, fullBlockIndices; // memrefs, null without full lists
  // block_sparse_attention's columns(...) (vertical-slash): the counts and
  // key lists (memrefs in the lists' layout) and the lists' capacity
  // (index). After its listed blocks' tiles a query tile walks tiles of
  // its column slots, whose key rows are gathered. Null without columns.
  Value numColumns, columnIndices, columnCapacity;
  Value queryLen, kvLen, listBatch, capacity, kvBlocks; // index
  Value fullCapacity; // index, 0 without full lists
  // A mask reading segment ids: the ids (memrefs `BxSxi32`) and what the
  // segment-bounds launch wrote before the kernel's (SegmentBounds.h):
  // whether each batch's key ids are sorted, each query tile's id range and
  // documents' keys. Null otherwise.
  Value segmentIdsQ, segmentIdsKv, keysSorted, tileBounds;
  // Decode with the keys split (config.packedQueries): `splits` blocks per
  // query tile, `splitKeys` keys each (index), writing normalized partial
  // outputs and log-sum-exps (f32 memrefs `B x Hq x splits x Sq [x Dv]`)
  // that a second launch combines. Null otherwise.
  Value splits, splitKeys, partialOutput, partialLse;
  // token_sparse_attention: a block per query (and tile of its group's
  // packed query heads, config.packedQueries = 1) whose "keys" are the
  // slots of its list: kvLen is the slot count n, `tokenIndices` (memref
  // `B x Sq x n` i32) names each slot's key row, valid iff in [0,
  // tokenKeys) (Skv); invalid slots are zero-filled and masked. Null
  // otherwise.
  Value tokenIndices, tokenKeys;
  // fused_token_sparse_attention (tokenKeys set, tokenIndices null): a
  // block selects its queries' lists in shared memory, then computes the
  // queries in turn over them (a block per `layout.warps` queries).
  std::optional<TokenSelection> tokenSelection;
  // Lists finer than a query tile taken grouped (config.groupedRows): the
  // grouping launch's buffers (RowGroups.h); a block takes one chunk of one
  // kv block's (query, slot) pairs, its rows gathered queries of one head,
  // and writes each row's normalized partial output and log-sum-exp at the
  // row's slot (partialOutput / partialLse, `splits` = the capacity). The
  // list's batch and head come from listBatch / listHeads. Null otherwise.
  Value groupPairs, groupPairStarts, groupChunkStarts;
  // fused_block_sparse_attention: the pooled queries and keys (memrefs
  // `B x Hq x NQ x Dp`, `B x Hkv x NK x Dp`, any float type) from which
  // each block selects its query block's list into shared memory (no list
  // is read or written); `selection` says how. Null otherwise.
  Value queryPooled, keyPooled;
  FusedSelection selection;
  // The query heads a block computes in turn over one selected list (a GQA
  // group's with list_heads = Hkv: the selection is made once for all);
  // the grid's y is then the kv head. 1 otherwise.
  int64_t headsPerBlock = 1;
  int64_t queryHeads = 0, kvHeads = 0, listHeads = 0;
  PairScoreRules rules;
  bool hasPairRules = false; // a mask, mask_mod or score_mod
};

/// The body of the gpu.launch. `create` picks the flavour the config names;
/// `build` emits the body at the launch's start.
class AttentionKernel {
public:
  static std::unique_ptr<AttentionKernel> create(KernelBuilder &emit,
                                                 const MmaKernelConfig &config,
                                                 const KernelOperands &operands,
                                                 gpu::LaunchOp launch);
  /// For the flavours (the class is abstract).
  AttentionKernel(KernelBuilder &emit, const MmaKernelConfig &config,
                  const KernelOperands &operands, gpu::LaunchOp launch)
      : emit(emit), config(config), operands(operands), launch(launch) {}
  virtual ~AttentionKernel() = default;

  LogicalResult build();

protected:
  //===--------------------------------------------------------------------===//
  // What a flavour provides
  //===--------------------------------------------------------------------===//

  /// Where a tile's rows go: `memref[lead..., row, col]` (padded), or the
  /// swizzled tile of `rows` rows at element `start` of one flat array.
  struct TileSlot {
    Value memref;
    SmallVector<Value> lead;
    Value start;
    int64_t rows = 0;
  };

  /// Views of the Q, K and V tiles at the start of the dynamic shared
  /// memory `base` (KernelBuilder::sharedView builds one).
  virtual void setUpTiles(Value base) = 0;
  /// Per-lane values the flavour's fragments need (built once, after the
  /// thread's lane, group and quad).
  virtual void setUpLanes() {}
  virtual TileSlot querySlot() = 0;
  virtual TileSlot keySlot(Value stage) = 0;
  virtual TileSlot valueSlot(Value stage) = 0;
  /// The indices of element (row, col) of a tile in `slot`.
  virtual SmallVector<Value> slotIndices(const TileSlot &slot, Value row,
                                         Value col) = 0;
  /// The query row of a thread's `r`-th row (two per 16-row tile).
  virtual Value threadRow(int64_t r) = 0;
  /// The rows of the unit whose tensor-core ops may branch together (a warp
  /// or a warpgroup), and the unit of a (uniform) warp index.
  virtual int64_t rowsPerGroup() const = 0;
  virtual Value groupOfWarp(Value warpIndex) = 0;
  /// Whether tiles are tested per group of rows (fully allowed, skipped)
  /// rather than per block.
  virtual bool testsTilesPerGroup() const = 0;
  /// S = Q K^T of the tile in `stage`: [rowTile * 8-key tile][4] per
  /// thread, in mma.sync's accumulator layout.
  virtual SmallVector<SmallVector<Value>> computeScores(Value stage) = 0;
  /// acc + P V of the tile in `stage`, P the probabilities in `scores`.
  virtual SmallVector<Value>
  accumulateValues(Value stage, ArrayRef<SmallVector<Value>> scores,
                   ArrayRef<Value> acc) = 0;
  /// The first of the two adjacent output columns that the thread's
  /// accumulator elements e0 and e0 + 1 of 8-column tile `dt` hold
  /// (mma.sync's and wgmma's layout: 8 dt + 2 quad).
  virtual Value valueColumn(int64_t dt) {
    return emit.add(emit.mul(quad, 2), dt * 8);
  }
  /// Makes the thread's completed copies visible to the matrix products
  /// (before the barrier that publishes a tile).
  virtual void fenceCopiesForMma(OpBuilder &builder, Location loc) {}

  /// The A operand registers of P (scores turned probabilities) for 16-row
  /// tile `rowTile` and 16-key step `keyStep`: P's accumulator layout is the
  /// A operand's layout, two 8-key tiles per 16-key step.
  SmallVector<Value> probabilityOperands(ArrayRef<SmallVector<Value>> scores,
                                         int64_t rowTile, int64_t keyStep);

  //===--------------------------------------------------------------------===//
  // State the skeleton and the flavours share
  //===--------------------------------------------------------------------===//

  KernelBuilder &emit;
  const MmaKernelConfig &config;
  const KernelOperands &operands;
  gpu::LaunchOp launch;

  // Per-thread positions.
  Value tid, warp, lane, group, quad, batch, head, kvHead, queryStart;
  // The warp index as lane 0 has it: the same value, which the assembler
  // then knows to be uniform over the warp, so that a branch on it around
  // tensor-core ops is not compiled as a divergent one.
  Value uniformWarp;
  /// Byte offset of the Q buffer in use (0 with one buffer).
  Value queryOffset;
  /// The dynamic shared memory (bytes).
  Value sharedBase;

  int64_t rowsPerThread() const { return 2 * config.rowTiles; }
  int64_t accPerRowTile() const { return config.valueDim / 8 * 4; }

private:
  //===--------------------------------------------------------------------===//
  // The skeleton (AttentionKernel.cpp: lists, loads, items; OnlineSoftmax.cpp:
  // masking, softmax, results)
  //===--------------------------------------------------------------------===//

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
  FailureOr<ItemOutput> buildItem(const ItemInput &input);
  void issueQuery(Value start);
  /// Whether the walk's first kv tile exists (with lists: the list's first
  /// slot names a kv block in range), and its first key.
  std::pair<Value, Value> firstTileStart(KernelBuilder &nestedEmit);
  void asyncWait(OpBuilder &builder, Location loc, int32_t pending);

  // The query block's lists: where they are read, and their clamped
  // counts. Slot s of the combined list is entry s of the full list for
  // s < fullEntries, then the entries of the first list: a block repeated
  // at a later slot (so a block in both lists) is full. Without lists,
  // `listEntries` kv tiles: those of the key hull's prefix, then those from
  // tile `kvFirstTile` on.
  Value listBatchIndex, listHead, queryBlock, listEntries, fullEntries;
  /// listBatchIndex and listHead: the block's batch and head in the lists.
  void setUpListHead();
  Value kvFirstTile;
  // Without lists, a mask with a sink: the `kvPrefixTiles` kv tiles from
  // `kvPrefixFirstTile` (its sink) come first, then the range (null without
  // a prefix).
  Value kvPrefixTiles, kvPrefixFirstTile;
  bool usesLists() const {
    return static_cast<bool>(operands.numBlocks) || selects();
  }
  /// fused_block_sparse_attention: the block selects its list.
  bool selects() const { return static_cast<bool>(operands.keyPooled); }
  /// Selects the query block's list into `list` and its count into
  /// `listCount` (FusedSelection.cpp), then sets listEntries.
  void selectList();
  /// Whether selectList has been emitted (a block computing several heads
  /// selects once, before them; each head's item then reads the count).
  bool listSelected = false;
  // The selection's scratch in shared memory: ordered score keys and marks
  // per kv block, the query block's pooled row summed over the list's heads.
  Value selectionKeys, selectionMarks, selectionQuery;
  /// The query tile's segment bounds (with a mask reading segment ids; set
  /// by setUpList from the segment-bounds launch's buffers): whether the
  /// key ids are sorted, the least and greatest id of its rows, and without
  /// lists its documents' key range.
  SegmentBounds segments;
  bool readsSegments() const { return static_cast<bool>(operands.segmentIdsQ); }
  void setUpSegments();
  /// `segments` with the ids of the first and last key of the kv tile at
  /// `kvStart` (only with a mask reading segment ids).
  SegmentBounds tileSegmentBounds(KernelBuilder &tileEmit, Value kvStart);
  // Shared memory: the kept count(s) and the compacted list.
  Value listCount, list;
  /// Row lists (config.rowListRows): the union of the tile's rows' blocks is
  /// the compacted list, ascending; `listBits` holds the union's bitmap over
  /// the kv blocks, then one per list row the tile reads (rows from
  /// `queryBlock` on).
  bool rowLists() const { return config.rowListRows > 0; }
  Value listBits;
  void buildRowLists();
  /// Whether list row `listRow` (relative to queryBlock) lists kv block
  /// `block`.
  Value rowListsBlock(KernelBuilder &at, Value listRow, Value block);
  /// Row lists: for each of the thread's rows, whether its list has the
  /// block of the kv tile at `kvStart`.
  SmallVector<Value> threadRowsListed(KernelBuilder &at, Value kvStart);
  /// Row lists: whether no row of the thread's group (rowsPerGroup) lists
  /// the block of the kv tile at `kvStart` (uniform over the group).
  Value groupListsNone(KernelBuilder &at, Value kvStart);
  Value listEntry(KernelBuilder &nestedEmit, Value slot);
  /// Whether a list entry names a kv block in [0, kvBlocks).
  Value namesKvBlock(KernelBuilder &nestedEmit, Value entry);
  void setUpList();
  void setUpShared();

  /// The first and last query positions (bottom-right aligned) of the rows
  /// this thread's group (see rowsPerGroup) computes; the block's rows
  /// without per-group tile tests.
  std::pair<Value, Value> groupPositions();

  /// Decode packing: the tile rows of the launch (queryLen, or the packed
  /// rows), the query head and query of a tile row inside them, and the
  /// queries a range of tile rows holds (all when the range spans heads).
  bool packed() const { return config.packedQueries > 0; }
  /// token_sparse_attention: the block's query and its row tile.
  bool gathers() const {
    return static_cast<bool>(operands.tokenIndices) || selectsTokens();
  }
  /// fused_token_sparse_attention: the block selects its queries' lists.
  bool selectsTokens() const { return operands.tokenSelection.has_value(); }
  /// Selects the lists of the block's queries (from block x's first) into
  /// shared memory, then builds each query's item over its list.
  LogicalResult buildSelectedTokenItems(Value blockX);
  /// The selected lists and counts (shared), the item's row of them and its
  /// count (index).
  Value tokenLists, tokenCounts, tokenItem, tokenCount;
  /// Grouped row lists: each tile row's query and slot and the tile's least
  /// and greatest query (shared), and the keys of the block's kv block.
  bool grouped() const { return static_cast<bool>(operands.groupPairs); }
  Value groupQueries, groupSlots, groupBounds, groupKeysLo, groupKeysHi;
  /// Grouped: the block's chunk (of kv block `kvBlock`) into shared memory.
  void setUpGroup(Value chunk, Value kvBlock);
  /// Grouped: the slot of tile row `row`.
  Value groupSlot(KernelBuilder &at, Value row);
  Value tokenQuery;
  /// The key row slot `slot` of the block's list names and whether it is
  /// valid (`slot` < n and the entry in [0, Skv)); row 0 when invalid.
  std::pair<Value, Value> listedToken(KernelBuilder &at, Value slot);
  Value rowLimit;
  std::pair<Value, Value> headAndQuery(KernelBuilder &rowEmit, Value row);
  std::pair<Value, Value> queryRange(Value firstRow, Value lastRow);
  /// The block's part of the keys with a split (null otherwise).
  Value split;
  /// The first value column of the block's slice (config.valueSlices: the
  /// slice times its width; 0 without slices).
  Value valueFirstColumn;
  /// Whether the kv tile at `kvStart` contributes nothing to this thread's
  /// group of rows (all its keys past kvLen, or the mask allows none of its
  /// pairs and it is not part of a listed full block), or null when that
  /// cannot be told per tile or is not tested.
  Value tileSkipped(KernelBuilder &tileEmit, Value kvStart, Value listedFull,
                    const SegmentBounds *tileSegments);
  /// The part of tileSkipped the mask and the lengths decide.
  Value tileSkippedByMask(KernelBuilder &tileEmit, Value kvStart,
                          Value listedFull, const SegmentBounds *tileSegments);

  /// `locate`, when given, maps a source row to its (head, row) instead of
  /// (`sourceHead`, row); with `gather` a row is a slot of the block's token
  /// list, copied from the key row it names (zeros for an invalid one);
  /// `sourceColumn`, when given, is the first source column copied.
  void copyRows(Value source, Value sourceHead, const TileSlot &slot,
                Value firstRow, Value rowLimit, int64_t rows, int64_t dim,
                SmallVector<Value> &tokens,
                function_ref<std::pair<Value, Value>(KernelBuilder &, Value)>
                    locate = nullptr,
                bool gather = false, Value sourceColumn = nullptr);
  /// `columnTile` (an i1, null without columns): whether the tile is one
  /// of column slots starting at slot `kvStart` rather than keys.
  void loadKvTile(Value kvStart, Value stage, Value columnTile = nullptr);
  /// Columns: the query block's clamped column count, and whether the code
  /// being emitted reads column slots (listedToken then reads the columns).
  bool hasColumns() const { return static_cast<bool>(operands.numColumns); }
  Value columnEntries;
  bool readingColumns = false;
  void buildList();

  /// The online-softmax state a thread holds: for each of its rows (two per
  /// 16-row tile) the running max (in log2 units) and partial sum, and the
  /// output accumulator fragments [rowTile][valueDim / 8][4].
  struct State {
    SmallVector<Value> rowMax, rowSum, acc;
  };
  /// `tileSegments`: the tile's segment bounds (null without segment ids).
  /// `columnTile` as for loadKvTile: a column tile's pairs are masked one
  /// by one at the keys its slots name.
  FailureOr<State> processTile(Value kvStart, Value stage, Value listedFull,
                               const SegmentBounds *tileSegments,
                               const State &state, Value columnTile = nullptr);
  void writeResults(const State &state);
  SmallVector<Value> values(const State &state);
  State fromValues(ValueRange all);
};

/// The flavours whose tiles sit in padded rows (`[row][dim + 16 bytes]`)
/// and whose threads hold mma.sync's accumulator layout: each warp owns 16
/// query rows per row tile, thread (group, quad) rows group and group + 8 of
/// each and keys (or value columns) 2 quad and 2 quad + 1 of each 8-wide
/// tile.
class PaddedTileKernel : public AttentionKernel {
public:
  using AttentionKernel::AttentionKernel;

protected:
  void setUpTiles(Value base) override;
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
    return emit.add(queryStart, tileRow(r));
  }
  int64_t rowsPerGroup() const override { return 16 * config.rowTiles; }
  Value groupOfWarp(Value warpIndex) override { return warpIndex; }
  bool testsTilesPerGroup() const override { return false; }

  /// The row of the Q tile holding the thread's `r`-th row.
  Value tileRow(int64_t r) {
    return emit.add(emit.mul(warp, 16 * config.rowTiles),
                    emit.add(group, (r / 2) * 16 + (r % 2) * 8));
  }

  // Padded tiles: Q [blockQ][D + pad], K and V [stages][blockKv][D + pad];
  // the shared memory after them (MmaKernelConfig::tileBytes) starts at
  // byte `tilesEnd`.
  Value queryTile, keyTiles, valueTiles;
  int64_t tilesEnd = 0;
};

/// The flavours.
std::unique_ptr<AttentionKernel>
createMmaSyncKernel(KernelBuilder &emit, const MmaKernelConfig &config,
                    const KernelOperands &operands, gpu::LaunchOp launch);
std::unique_ptr<AttentionKernel>
createWgmmaKernel(KernelBuilder &emit, const MmaKernelConfig &config,
                  const KernelOperands &operands, gpu::LaunchOp launch);
std::unique_ptr<AttentionKernel>
createSimtKernel(KernelBuilder &emit, const MmaKernelConfig &config,
                 const KernelOperands &operands, gpu::LaunchOp launch);

} // namespace mlir::sparse_attn

#endif // SPARSE_ATTN_LIB_CONVERSION_SPARSEATTNTONVGPU_ATTENTIONKERNEL_H
