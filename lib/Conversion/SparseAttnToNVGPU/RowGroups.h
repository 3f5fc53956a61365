//===- RowGroups.h - per-token lists grouped by kv block --------*- C++ -*-===//
//
// The launch before the attention kernel's for lists finer than a query
// tile taken grouped (MmaKernelConfig::groupedRows, MoBA's per-token
// lists): for each list head, its (query, slot) pairs by the kv block they
// name, as FlashMoBA gathers the queries of each kv block.
//
//===----------------------------------------------------------------------===//

#ifndef SPARSE_ATTN_LIB_CONVERSION_SPARSEATTNTONVGPU_ROWGROUPS_H
#define SPARSE_ATTN_LIB_CONVERSION_SPARSEATTNTONVGPU_ROWGROUPS_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/Value.h"

#include <cstdint>

namespace mlir::sparse_attn {

/// The buffers the grouping launch writes, per list batch and list head
/// (`memref<?x?x?xi32>` each).
struct RowGroupBuffers {
  /// `[Bl, Hl, Sq * capacity]`: the pairs `query * capacity + slot`, those
  /// of kv block j at [pairStarts[j], pairStarts[j + 1]) (in no particular
  /// order). A pair is a slot below the row's clamped count naming a kv
  /// block in range that no earlier slot of the row names.
  Value pairs;
  /// `[Bl, Hl, kvBlocks + 1]`: where each kv block's pairs start; the last
  /// entry is the pair count.
  Value pairStarts;
  /// `[Bl, Hl, kvBlocks + 1]`: the kernel's blocks (chunks of up to
  /// `chunkRows` pairs of one kv block) before kv block j's; the last entry
  /// is the chunk count.
  Value chunkStarts;
};

/// Emits at `builder`'s insertion point the buffers' allocation and one
/// launch that fills them: a block per (list head, list batch) counts the
/// pairs of each kv block in shared memory (atomics), scans the counts, and
/// places each pair at its block's cursor. `numBlocks` (`[Bl, Hl, Sq]`) and
/// `blockIndices` (`[Bl, Hl, Sq, capacity]`) are i32 buffers; the sizes are
/// index values; `kvBlocks` is static (its counters live in shared memory).
RowGroupBuffers buildRowGroupsLaunch(OpBuilder &builder, Location loc,
                                     Value numBlocks, Value blockIndices,
                                     Value listBatch, Value listHeads,
                                     Value queryLen, Value capacity,
                                     int64_t kvBlocks, int64_t chunkRows);

} // namespace mlir::sparse_attn

#endif // SPARSE_ATTN_LIB_CONVERSION_SPARSEATTNTONVGPU_ROWGROUPS_H
