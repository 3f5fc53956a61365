//===- RowSelection.h - one warp selects a row's blocks ---------*- C++ -*-===//
//
// The selection of select_topk and select_threshold over one row of block
// scores held in shared memory, by one warp: what their own kernels run per
// row and what the fused attention kernel runs per query block.
//
//===----------------------------------------------------------------------===//

#ifndef SPARSE_ATTN_LIB_CONVERSION_SPARSEATTNTONVGPU_ROWSELECTION_H
#define SPARSE_ATTN_LIB_CONVERSION_SPARSEATTNTONVGPU_ROWSELECTION_H

#include "KernelBuilder.h"

#include <optional>

namespace mlir::sparse_attn {

/// select_topk's rule (`count` = k) or select_threshold's (`count` =
/// max_blocks, with `mass`), with the forced sink and local blocks.
struct RowSelectionRule {
  int64_t count = 0, sink = 0, local = 0;
  std::optional<double> mass;
};

/// The rule of a select_topk or select_threshold op.
RowSelectionRule getRowSelectionRule(Operation *select);

class LoweringBuilder;

/// The result buffers of a select_topk or select_threshold op for `batch` x
/// `heads` x `rows` rows: its num_blocks and block_indices, whose capacity
/// is the type's, or count + sink + local when dynamic.
struct RowListBuffers {
  Value num, indices, capacity;
};
RowListBuffers allocateRowLists(LoweringBuilder &emit, Operation *select,
                                Value batch, Value heads, Value rows);

/// What `keys` holds for a block with `score` (f32): its
/// KernelBuilder::orderedKey when selectable (> -inf: NaN and -inf are
/// not), 0 otherwise (an i32).
Value rowSelectionKey(KernelBuilder &emit, Value score);

/// One warp (every lane takes part; `lane` its lane) selects the blocks of
/// a row of `blocks` entries. `keys` (shared i32 [blocks]) holds each
/// block's rowSelectionKey (0 also for blocks a mask leaves out); `marks`
/// (shared i32 [blocks]) must be 0. On return the selected blocks are marked
/// (non-zero) and `keys` is consumed. The selection is the ops'
/// (docs/semantics.md); threshold sums run in a warp order, not the CPU's.
void buildWarpRowSelection(KernelBuilder &emit, Value lane, Value keys,
                           Value marks, Value blocks,
                           const RowSelectionRule &rule);

/// The marked blocks of a row in ascending order: `write(at, slot, block)`
/// for each (under a condition), by one warp. Returns their count (the
/// same in every lane).
Value buildWarpMarkedList(
    KernelBuilder &emit, Value lane, Value marks, Value blocks,
    function_ref<void(KernelBuilder &, Value, Value)> write);

/// A selected row as the ops return it, by one warp: the marked blocks
/// ascending into `indices` at `row` (its indices but the slot) below
/// `capacity`, -1 from the count up to `capacity`, and the count into
/// `num` at `row`.
void buildWarpRowList(KernelBuilder &emit, Value lane, Value marks,
                      Value blocks, Value num, Value indices, ValueRange row,
                      Value capacity);

} // namespace mlir::sparse_attn

#endif // SPARSE_ATTN_LIB_CONVERSION_SPARSEATTNTONVGPU_ROWSELECTION_H
