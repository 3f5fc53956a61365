//===- KernelConfig.h - shape and occupancy of a tensor-core kernel -*- C++
//-*-===//
//
// What one generated attention kernel looks like (tile sizes, warps, stages,
// shared memory, register cap) and the choice of it for a problem: the
// occupancy model of the tensor-core kernels.
//
//===----------------------------------------------------------------------===//

#ifndef SPARSE_ATTN_LIB_CONVERSION_SPARSEATTNTONVGPU_KERNELCONFIG_H
#define SPARSE_ATTN_LIB_CONVERSION_SPARSEATTNTONVGPU_KERNELCONFIG_H

#include "SparseAttn/Conversion/SparseAttnToNVGPU/SparseAttnToNVGPU.h"
#include "SparseAttn/IR/SparseAttnOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"

#include <string>

namespace mlir::sparse_attn {

constexpr int64_t kWarpSize = 32;
/// Shared-memory rows are padded by 16 bytes (8 f16/bf16 elements): the 8
/// rows an ldmatrix (or the CUDA-core kernel's loads) reads then fall on
/// distinct banks.
constexpr int64_t kRowPaddingBytes = 16;
/// Bytes of one cp.async.
constexpr int64_t kCopyBytes = 16;
/// The Hopper kernel's tiles are stored as wgmma reads them with the
/// 128-byte swizzle: panels of 64 columns (128 bytes a row), the 16-byte
/// chunk c of row r at chunk c ^ (r % 8); a panel's 8-row groups are 1024
/// bytes apart and start on 1024-byte boundaries.
constexpr int64_t kSwizzleBytes = 128;
constexpr int64_t kSwizzleElements = 64;
constexpr int64_t kSwizzleAtomBytes = 1024;

/// The shape of one generated kernel.
struct MmaKernelConfig {
  /// Warpgroup matrix products (wgmma, sm_90a) from swizzled shared-memory
  /// tiles, one warpgroup per 64 query rows; otherwise mma.sync from
  /// ldmatrix fragments of padded tiles.
  bool warpgroup = false;
  /// No tensor cores: the products are f32 fmas from padded shared-memory
  /// tiles, each thread computing the elements mma.sync's accumulator layout
  /// gives it (SimtKernel.cpp). For f32 inputs and the shapes the
  /// tensor-core kernels cannot take.
  bool simt = false;
  /// Bytes of a q/k/v element (2 for f16/bf16, 4 for f32).
  int64_t elementBytes = 2;
  int64_t blockQ = 0;        // queries per thread block
  int64_t blockKv = 0;       // keys per shared-memory tile
  int64_t rowTiles = 1;      // mma.sync: 16-row tiles per warp; wgmma: 64-row
                             // tiles per warpgroup (a warp's 16 rows of each)
  int64_t warps = 0;         // blockQ / (16 * rowTiles)
  int64_t stages = 2;        // K/V tiles in flight
  int64_t itemsPerBlock = 1; // query tiles per thread block, in turn
  int64_t blocksPerSM = 1;   // thread blocks per multiprocessor to fit
  int64_t maxRegisters = 0;  // the register cap that fits them (0: none)
  int64_t headDim = 0, valueDim = 0;
  /// Value dims past 256 (wgmma's widest product): the output's columns are
  /// split into `valueSlices` slices of `valueDim` columns (the slice's
  /// width), one thread block each; every block computes the whole score
  /// tile and its slice of P V, and slice 0 writes the log-sum-exp. 1
  /// otherwise.
  int64_t valueSlices = 1;
  int64_t listBlockQ = 0, listBlockKv = 0;
  /// Decode: the static query length whose rows, for each of the `groupSize`
  /// query heads of a kv head, a tile packs (row r: head kvHead * groupSize
  /// + r / packedQueries, query r % packedQueries); 0 when not packed. Then
  /// the keys are split across thread blocks too.
  int64_t packedQueries = 0, groupSize = 1;
  /// Lists finer than the query tile (block_q not a multiple of 16: MoBA's
  /// per-token lists have block_q = 1): a tile's rows read the lists of the
  /// up to `rowListRows` query blocks they span; the tile walks the union
  /// of their blocks (at most `rowListBlocks`, the kv blocks) in ascending
  /// order and masks each row to its own list's. 0 otherwise.
  int64_t rowListRows = 0, rowListBlocks = 0;
  /// Row lists taken grouped instead (MmaAttentionOptions::rowLists): a
  /// launch groups each list head's (query, slot) pairs by kv block
  /// (RowGroups.h), a block takes up to blockQ of one kv block's queries
  /// (gathered Q rows) against that block's keys and writes each row's
  /// normalized partial output and log-sum-exp at its slot, and the
  /// combine launch merges a query's slots. `rowListBlocks` is then the kv
  /// blocks (rowListRows 0).
  bool groupedRows = false;
  /// The chip's multiprocessors (ChipInfo), which a split aims to fill.
  int64_t chipMultiprocessors = 132;

  int64_t threads() const { return warps * kWarpSize; }
  /// Elements of one 16-byte cp.async.
  int64_t copyElements() const { return kCopyBytes / elementBytes; }
  /// Elements from one row of a tile to the next (padded by 16 bytes; the
  /// swizzled tiles are not padded).
  int64_t rowStride(int64_t dim) const {
    return warpgroup ? dim : dim + kRowPaddingBytes / elementBytes;
  }
  int64_t queryStride() const { return rowStride(headDim); }
  int64_t keyStride() const { return rowStride(headDim); }
  int64_t valueStride() const { return rowStride(valueDim); }
  int64_t queryBytes() const { return blockQ * queryStride() * elementBytes; }
  /// Q buffers: a second one when the next query tile's Q is prefetched.
  int64_t queryBuffers() const { return itemsPerBlock > 1 ? 2 : 1; }
  int64_t queryBuffersBytes() const { return queryBuffers() * queryBytes(); }
  int64_t keyStageBytes() const { return blockKv * keyStride() * elementBytes; }
  int64_t valueStageBytes() const {
    return blockKv * valueStride() * elementBytes;
  }
  /// The CUDA-core kernel's probabilities: f32 rows of the kv tile's keys
  /// (padded by 4), each written and read by the warp owning the row.
  int64_t probabilityStride() const { return blockKv + 4; }
  int64_t probabilityBytes() const {
    return simt ? blockQ * probabilityStride() * 4 : 0;
  }
  /// Bytes of the tiles; the swizzled ones are preceded by up to 1 KiB that
  /// aligns them.
  int64_t tileBytes() const {
    return (warpgroup ? kSwizzleAtomBytes : 0) + queryBuffersBytes() +
           stages * (keyStageBytes() + valueStageBytes()) + probabilityBytes();
  }
  /// Shared bytes a prologue uses before the tiles' first loads, in their
  /// place (fused_token_sparse_attention's selection); 0 without one.
  int64_t prologueBytes = 0;
  /// Where what follows the tiles (lists, counts) starts.
  int64_t tilesEndBytes() const { return std::max(tileBytes(), prologueBytes); }

  /// Row lists: 32-bit words of a bitmap over the kv blocks, and the shared
  /// bytes after the count: the union list, then the union's bitmap and one
  /// bitmap per list row.
  int64_t rowListWords() const { return (rowListBlocks + 31) / 32; }
  int64_t rowListBytes() const {
    return 4 * (rowListBlocks + (rowListRows + 1) * rowListWords());
  }
  /// Grouped rows: each tile row's query and slot, then the tile's least
  /// and greatest query (i32 each).
  int64_t groupBytes() const { return 8 * blockQ + 8; }
  /// The shared bytes after the tiles of lists finer than the query tile
  /// (grouped, or the union's count, list and bitmaps), all static; 0
  /// otherwise.
  int64_t fineListBytes() const;

  /// The configuration as the `sparse_attn.mma_kernel` dictionary.
  DictionaryAttr toAttr(Builder &builder) const;
};

/// Shared bytes before the compacted list: its count, and with full lists
/// the count of its full blocks.
inline int64_t listHeaderBytes(bool withFullLists) {
  return withFullLists ? 8 : 4;
}

/// The kernel for `problem`, or a reason why the general path must take it.
FailureOr<MmaKernelConfig> chooseMmaKernel(const MmaKernelProblem &problem,
                                           const MmaAttentionOptions &options,
                                           std::string &reason);

} // namespace mlir::sparse_attn

#endif // SPARSE_ATTN_LIB_CONVERSION_SPARSEATTNTONVGPU_KERNELCONFIG_H
