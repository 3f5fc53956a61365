//===- KernelConfig.cpp - shape and occupancy of a tensor-core kernel -----===//
//
// The choice of a kernel's tiles and warps for an op, and the occupancy
// model that picks the wgmma kv tile and the register cap.
//
//===----------------------------------------------------------------------===//

#include "KernelConfig.h"

#include "SparseAttn/IR/SparseAttnDialect.h"
#include "SparseAttn/Utils/ChipInfo.h"
#include "SparseAttn/Utils/MaskLowering.h"

#include "llvm/ADT/STLExtras.h"

using namespace mlir;
using namespace mlir::sparse_attn;

int64_t MmaKernelConfig::fineListBytes() const {
  if (groupedRows)
    return groupBytes();
  if (rowListRows)
    return listHeaderBytes(false) + rowListBytes();
  return 0;
}

DictionaryAttr MmaKernelConfig::toAttr(Builder &builder) const {
  auto integer = [&](StringRef name, int64_t value) {
    return builder.getNamedAttr(name, builder.getI64IntegerAttr(value));
  };
  SmallVector<NamedAttribute> entries = {
      builder.getNamedAttr("mma",
                           builder.getStringAttr(simt        ? "simt"
                                                 : warpgroup ? "wgmma"
                                                             : "mma.sync")),
      integer("block_q", blockQ),
      integer("block_kv", blockKv),
      integer("warps", warps),
      integer("row_tiles", rowTiles),
      integer("items_per_block", itemsPerBlock),
      integer("blocks_per_sm", blocksPerSM),
      integer("stages", stages),
      integer("shared_memory_bytes", tileBytes())};
  // Decode only: the packed query length (query heads per kv head apart).
  if (packedQueries) {
    entries.push_back(integer("packed_queries", packedQueries));
    entries.push_back(integer("group_size", groupSize));
  }
  // Lists finer than the query tile: the list rows a tile reads.
  if (rowListRows)
    entries.push_back(integer("row_list_rows", rowListRows));
  if (groupedRows)
    entries.push_back(integer("row_groups", 1));
  if (valueSlices > 1)
    entries.push_back(integer("value_slices", valueSlices));
  return builder.getDictionaryAttr(entries);
}

/// What an attention op's operands say of the problem.
template <typename OpTy> static MmaKernelProblem getOperandsProblem(OpTy op) {
  MmaKernelProblem problem;
  problem.elementType = op.getQuery().getType().getElementType();
  problem.outputElementType = op.getOutput().getType().getElementType();
  problem.headDim = op.getQuery().getType().getDimSize(3);
  problem.valueDim = op.getValue().getType().getDimSize(3);
  problem.mask = op.getMaskAttr();
  return problem;
}

MmaKernelProblem sparse_attn::getMmaKernelProblem(BlockSparseAttentionOp op) {
  MmaKernelProblem problem = getOperandsProblem(op);
  BlockSizes block = op.getBlockSizes();
  problem.listBlockQ = block.query;
  problem.listBlockKv = block.kv;
  problem.capacity = op.getBlockIndices().getType().getDimSize(3);
  problem.kvLen = op.getKey().getType().getDimSize(2);
  if (op.getFullBlockIndices())
    problem.fullCapacity = op.getFullBlockIndices().getType().getDimSize(3);
  return problem;
}

MmaKernelProblem
sparse_attn::getMmaKernelProblem(FusedBlockSparseAttentionOp op) {
  MmaKernelProblem problem = getOperandsProblem(op);
  BlockSizes block = op.getBlockSizes();
  problem.listBlockQ = block.query;
  problem.listBlockKv = block.kv;
  problem.kvLen = op.getKey().getType().getDimSize(2);
  int64_t kvBlocks = op.getKeyPooled().getType().getDimSize(2);
  int64_t pooledDim = op.getKeyPooled().getType().getDimSize(3);
  problem.capacity = ShapedType::isDynamic(kvBlocks)
                         ? ShapedType::kDynamic
                         : op.getListCapacity() + 2 * kvBlocks + pooledDim;
  return problem;
}

MmaKernelProblem
sparse_attn::getMmaKernelProblem(AttentionOp op, BlockSizes block,
                                 int64_t capacity,
                                 std::optional<int64_t> fullCapacity) {
  MmaKernelProblem problem = getOperandsProblem(op);
  problem.listBlockQ = block.query;
  problem.listBlockKv = block.kv;
  problem.capacity = capacity;
  problem.fullCapacity = fullCapacity;
  auto mask = cast_or_null<MaskAttrInterface>(op.getMaskAttr());
  int64_t queryLen = op.getQuery().getType().getDimSize(2);
  int64_t queryHeads = op.getQuery().getType().getDimSize(1);
  int64_t kvHeads = op.getKey().getType().getDimSize(1);
  if (!ShapedType::isDynamic(queryLen) && queryLen >= 1 && queryLen <= 64 &&
      !(mask && mask.usesSegmentIds()) && kvHeads > 0 &&
      queryHeads % kvHeads == 0 && queryLen * (queryHeads / kvHeads) <= 4096) {
    problem.decodeQueryLen = queryLen;
    problem.groupSize = queryHeads / kvHeads;
  }
  return problem;
}

/// token_sparse_attention's problem for either op.
template <typename Op>
static MmaKernelProblem getTokenProblem(Op op, int64_t listBlockKv) {
  MmaKernelProblem problem;
  problem.elementType = op.getQuery().getType().getElementType();
  problem.outputElementType = op.getOutput().getType().getElementType();
  problem.headDim = op.getQuery().getType().getDimSize(3);
  problem.valueDim = op.getValue().getType().getDimSize(3);
  problem.listBlockKv = listBlockKv;
  int64_t queryHeads = op.getQuery().getType().getDimSize(1);
  int64_t kvHeads = op.getKey().getType().getDimSize(1);
  problem.gathersTokens = true;
  problem.decodeQueryLen = 1;
  problem.groupSize = kvHeads > 0 ? queryHeads / kvHeads : 1;
  return problem;
}

MmaKernelProblem sparse_attn::getMmaKernelProblem(TokenSparseAttentionOp op,
                                                  int64_t listBlockKv) {
  return getTokenProblem(op, listBlockKv);
}

MmaKernelProblem
sparse_attn::getMmaKernelProblem(FusedTokenSparseAttentionOp op,
                                 int64_t listBlockKv) {
  return getTokenProblem(op, listBlockKv);
}

static int64_t largestDividing(int64_t value, ArrayRef<int64_t> choices) {
  for (int64_t choice : choices)
    if (value % choice == 0)
      return choice;
  return 0;
}

/// Decode: a tile of the group's packed rows (from `smallestTile` up to 128
/// rows), one query tile per block; a token list's query: its group's query
/// heads, in tiles of up to 128 rows.
static void setUpDecode(const MmaKernelProblem &problem,
                        const MmaAttentionOptions &options,
                        int64_t smallestTile, MmaKernelConfig &config) {
  if (!problem.decodeQueryLen ||
      (!problem.gathersTokens && (!options.decode || options.blockQ)))
    return;
  config.packedQueries = problem.decodeQueryLen;
  config.groupSize = problem.groupSize;
  int64_t rows = config.packedQueries * config.groupSize;
  // A token list's rows past a tile take several tiles (blocks).
  if (problem.gathersTokens && options.blockQ) {
    config.listBlockQ = options.blockQ;
    return;
  }
  config.listBlockQ = 128;
  for (int64_t tile : {64, 32, 16})
    if (rows <= tile && tile >= smallestTile)
      config.listBlockQ = tile;
}

/// The bytes of shared memory the block lists take (their static part), or
/// failure when a static capacity cannot fit.
static FailureOr<int64_t> getListBytes(const MmaKernelProblem &problem,
                                       const ChipInfo &chip,
                                       std::string &reason) {
  // The list lives in shared memory too; its capacity is bounded here only
  // when static (a dynamic one is checked by the driver at launch).
  int64_t capacity = problem.capacity;
  bool withFull = problem.fullCapacity.has_value();
  // Static capacities come from types (up to 2^63 - 1): a list longer than
  // the shared memory holds is refused before its bytes are counted.
  const int64_t maxEntries = chip.sharedMemoryPerBlock / 4;
  for (int64_t entries : {capacity, problem.fullCapacity.value_or(0)})
    if (!ShapedType::isDynamic(entries) && entries > maxEntries) {
      reason = "the block lists do not fit the shared memory";
      return failure();
    }
  if (withFull)
    capacity = ShapedType::isDynamic(capacity) ||
                       ShapedType::isDynamic(*problem.fullCapacity)
                   ? ShapedType::kDynamic
                   : capacity + *problem.fullCapacity;
  return listHeaderBytes(withFull) +
         (ShapedType::isDynamic(capacity) ? 0 : 4 * capacity);
}

/// Whether the problem's lists are finer than any query tile (block_q not a
/// multiple of 16), which the kernels take as row lists.
static bool hasRowLists(const MmaKernelProblem &problem) {
  return !problem.gathersTokens && problem.listBlockQ > 0 &&
         problem.listBlockQ % 16 != 0;
}

/// Row lists for a tile of `config.blockQ` rows (see
/// MmaKernelConfig::rowListRows), or failure with the reason.
static LogicalResult setUpRowLists(const MmaKernelProblem &problem,
                                   const MmaAttentionOptions &options,
                                   MmaKernelConfig &config,
                                   std::string &reason) {
  if (problem.fullCapacity) {
    reason = "full lists with block_q below a query tile (16 rows)";
    return failure();
  }
  if (ShapedType::isDynamic(problem.kvLen)) {
    reason = "block_q below a query tile (16 rows) needs a static key length";
    return failure();
  }
  config.rowListBlocks = std::max<int64_t>(
      1, llvm::divideCeil(problem.kvLen, problem.listBlockKv));
  // Grouped (a tile of one kv block's queries): the queries' own blocks
  // only, at the price of f32 partial results per list slot; worth it for
  // long kv blocks. Masks reading segment ids keep the union (their bounds
  // are per tile of consecutive queries).
  auto mask = cast_or_null<MaskAttrInterface>(problem.mask);
  bool segments = mask && mask.usesSegmentIds();
  // (Lists per query only: block_q = 1.)
  config.groupedRows =
      problem.listBlockQ == 1 &&
      (options.rowLists == "grouped" ||
       (options.rowLists == "auto" && problem.listBlockKv >= 128));
  if (config.groupedRows && segments) {
    if (options.rowLists == "grouped") {
      reason = "row-lists=grouped with a mask reading segment ids";
      return failure();
    }
    config.groupedRows = false;
  }
  if (config.groupedRows)
    return success();
  // The query blocks a tile's rows span (a tile may start inside one).
  config.rowListRows =
      (config.blockQ + problem.listBlockQ - 2) / problem.listBlockQ + 1;
  return success();
}

/// The shared bytes of the lists: the block lists' (getListBytes) or the
/// row lists'.
static FailureOr<int64_t> getAllListBytes(const MmaKernelProblem &problem,
                                          const MmaKernelConfig &config,
                                          const ChipInfo &chip,
                                          std::string &reason) {
  if (config.groupedRows || config.rowListRows)
    return config.fineListBytes();
  return getListBytes(problem, chip, reason);
}

/// The blocks per multiprocessor the kernel is made for, and the register
/// cap that lets them fit (none for one block).
static void setBlocksPerSM(int64_t blocks, const ChipInfo &chip,
                           MmaKernelConfig &config) {
  config.blocksPerSM = blocks;
  config.chipMultiprocessors = chip.multiprocessors;
  config.maxRegisters =
      blocks > 1 ? getRegisterCap(chip, config.threads(), blocks) : 0;
}

/// The tensor-core kernel for `problem`, or why not.
static FailureOr<MmaKernelConfig>
chooseTensorCoreKernel(const MmaKernelProblem &problem,
                       const MmaAttentionOptions &options,
                       std::string &reason) {
  auto fail = [&](const Twine &why) -> FailureOr<MmaKernelConfig> {
    reason = why.str();
    return failure();
  };
  Type element = problem.elementType;
  if (!element.isF16() && !element.isBF16())
    return fail("element type is not f16 or bf16");
  if (problem.outputElementType != element)
    return fail("output element type differs from the inputs'");
  MmaKernelConfig config;
  config.prologueBytes = problem.prologueBytes;
  config.headDim = problem.headDim;
  config.valueDim = problem.valueDim;
  // Head dims past 256 (MLA's 576 / 512): wgmma reads Q and K from shared
  // memory in 64-column panels, and value dims past 256 are sliced.
  bool past256 = config.headDim > 256 || config.valueDim > 256;
  if (past256) {
    if (!options.chip.warpgroupMma)
      return fail("head dims above 256 need the warpgroup (sm_90a) kernel");
    for (int64_t dim : {config.headDim, config.valueDim})
      if (dim % kSwizzleElements != 0 || dim > 576)
        return fail("head dims above 256 must be multiples of 64 up to 576");
    int64_t width = largestDividing(config.valueDim, {256, 192, 128, 64});
    config.valueSlices = config.valueDim / width;
    config.valueDim = width;
  }
  for (int64_t dim : {config.headDim, config.valueDim})
    if (dim % 16 != 0 || (dim > 256 && !past256))
      return fail("head dims must be multiples of 16 up to 256");
  // Value dims past 128: the output accumulator alone takes 128 registers
  // per thread for 16 rows per warp, so a thread holds one row tile and a
  // block its multiprocessor (no register cap).
  bool wide = config.valueDim > 128;
  auto mask = cast_or_null<MaskAttrInterface>(problem.mask);
  if (!hasMaskLowering(mask))
    return fail("the mask has no lowering");
  config.listBlockQ = problem.listBlockQ;
  config.listBlockKv = problem.listBlockKv;
  setUpDecode(problem, options, options.chip.warpgroupMma ? 64 : 16, config);
  // wgmma: 64-row warpgroup tiles and 64-column swizzle panels.
  // Row lists: 64-row tiles (a larger one unites more rows' blocks).
  bool rowLists = hasRowLists(problem);
  config.warpgroup = options.chip.warpgroupMma &&
                     config.headDim % kSwizzleElements == 0 &&
                     config.valueDim % kSwizzleElements == 0 &&
                     (config.listBlockQ % 64 == 0 || rowLists) &&
                     (!options.blockQ || options.blockQ % 64 == 0);
  if (past256 && !config.warpgroup)
    return fail("head dims above 256 need the warpgroup kernel (64-row "
                "query blocks)");
  if (config.warpgroup) {
    // Head dims up to 64: one warpgroup per thread block taking two 64-row
    // tiles (one K/V tile serves 128 rows; two independent product chains
    // per warp). Head dim 128: two warpgroups of one 64-row tile each share
    // the K/V tiles. The kv tile is chosen below for occupancy.
    // (Measured on the H200: docs/performance.md.)
    bool small = config.headDim <= 64 && config.valueDim <= 64;
    // (Head dims past 256: a 64-row Q tile takes 72 KB at D = 576.)
    config.blockQ = options.blockQ ? options.blockQ
                    : rowLists || past256
                        ? 64
                        : largestDividing(config.listBlockQ, {128, 64});
    config.blockKv = options.blockKv ? options.blockKv
                                     : largestDividing(config.listBlockKv,
                                                       {128, 64, 32, 16});
    if (!rowLists && config.listBlockQ % config.blockQ != 0)
      return fail("block_q is not a multiple of the requested block-q");
    config.rowTiles = options.warpgroupRows ? options.warpgroupRows
                      : small && config.blockQ % 128 == 0 ? 2
                                                          : 1;
    if (config.blockQ % (64 * config.rowTiles) != 0)
      return fail("block-q is not a multiple of 64 x warpgroup-rows");
  } else {
    config.blockQ = options.blockQ ? options.blockQ
                    : rowLists
                        ? 64
                        : largestDividing(config.listBlockQ, {128, 64, 32, 16});
    config.blockKv = options.blockKv
                         ? options.blockKv
                         : largestDividing(config.listBlockKv, {64, 32, 16});
    if (!llvm::is_contained(ArrayRef<int64_t>{16, 32, 64, 128},
                            config.blockQ) ||
        (!rowLists && config.listBlockQ % config.blockQ != 0))
      return fail(
          "block_q is not a multiple of 16 (or of the requested block-q)");
    if (config.blockKv > 64)
      return fail("block-kv 128 needs the warpgroup (sm_90a) kernel");
    // mma.sync holds Q's fragments in registers too: head dims past 128
    // take one row tile per warp as well.
    config.rowTiles =
        config.blockQ >= 128 && !wide && config.headDim <= 128 ? 2 : 1;
  }
  if (!llvm::is_contained(ArrayRef<int64_t>{16, 32, 64, 128}, config.blockKv) ||
      config.listBlockKv % config.blockKv != 0)
    return fail(
        "block_kv is not a multiple of 16 (or of the requested block-kv)");
  config.warps = config.blockQ / (16 * config.rowTiles);
  config.stages = options.stages;
  if (config.stages != 1 && config.stages != 2)
    return fail("stages must be 1 or 2");
  // Several query tiles per block: the wgmma kernel with two stages.
  if (config.warpgroup && config.stages == 2 && options.itemsPerBlock > 1 &&
      !config.packedQueries && !rowLists && config.valueSlices == 1)
    config.itemsPerBlock = options.itemsPerBlock;
  if (rowLists && failed(setUpRowLists(problem, options, config, reason)))
    return failure();
  FailureOr<int64_t> listBytesOr =
      getAllListBytes(problem, config, options.chip, reason);
  if (failed(listBytesOr))
    return failure();
  int64_t listBytes = *listBytesOr;
  // Occupancy: thread blocks per multiprocessor by shared memory (up to 2;
  // a second block's loads, list and epilogue run under the first's math).
  // Without a requested kv tile the wgmma kernel takes the largest one
  // dividing block_kv with the most blocks: head dim 128 gets 64-key tiles
  // (99 KB, two blocks) over 128-key ones (165 KB, one); head dims up to 64
  // keep 128 keys (83 KB, two). Then the registers are capped so that the
  // blocks fit (128 for two blocks of 256 threads).
  const ChipInfo &chip = options.chip;
  auto blocksFor = [&](const MmaKernelConfig &candidate) {
    return getBlocksPerSM(chip, candidate.tilesEndBytes() + listBytes, 2);
  };
  if (wide && !options.blockKv) {
    // One block per multiprocessor: the largest kv tile that fits. Head
    // dims past 256 take 16 keys: with 32 the token-list kernel at D = 576
    // spills (255 registers) and was 11% slower at MLA's shape (Hq = 128,
    // topk 2048, S = 8192: 63.0 vs 56.6 ms, bench/token_sparse.py).
    static constexpr int64_t kvTileChoices[] = {128, 64, 32, 16};
    ArrayRef<int64_t> kvTiles(kvTileChoices);
    if (config.headDim > 256)
      kvTiles = kvTiles.take_back();
    for (int64_t kv : kvTiles) {
      MmaKernelConfig candidate = config;
      candidate.blockKv = kv;
      if (kv <= config.blockKv && config.listBlockKv % kv == 0 &&
          candidate.tilesEndBytes() + listBytes <= chip.sharedMemoryPerBlock) {
        config = candidate;
        break;
      }
    }
  } else if (config.warpgroup && !options.blockKv) {
    // (A smaller tile also when the larger does not fit: a prologue's or
    // the lists' bytes may leave room for one block of the smaller only.)
    auto fits = [&](const MmaKernelConfig &candidate) {
      return candidate.tilesEndBytes() + listBytes <= chip.sharedMemoryPerBlock;
    };
    MmaKernelConfig best = config;
    for (int64_t kv : {64, 32, 16}) {
      MmaKernelConfig candidate = config;
      candidate.blockKv = kv;
      if (kv < best.blockKv && config.listBlockKv % kv == 0 &&
          fits(candidate) &&
          (!fits(best) || blocksFor(candidate) > blocksFor(best)))
        best = candidate;
    }
    config = best;
  }
  if (config.tilesEndBytes() + listBytes > chip.sharedMemoryPerBlock)
    return fail("the tiles do not fit the shared memory");
  setBlocksPerSM(options.blocksPerSM ? options.blocksPerSM
                 : wide              ? 1
                                     : blocksFor(config),
                 chip, config);
  return config;
}

/// The CUDA-core kernel for `problem`, or why not: f16, bf16 or f32 inputs
/// and output, head dims multiples of 8 up to 256, 16-row query
/// tiles and kv tiles of 8 to 64 keys. Up to four warps (64 rows) per
/// block; the largest kv tile that lets eight warps share a multiprocessor
/// (two blocks of four, eight of one), else fewer.
static FailureOr<MmaKernelConfig>
chooseSimtKernel(const MmaKernelProblem &problem,
                 const MmaAttentionOptions &options, std::string &reason) {
  auto fail = [&](const Twine &why) -> FailureOr<MmaKernelConfig> {
    reason = why.str();
    return failure();
  };
  Type element = problem.elementType;
  if (!element.isF16() && !element.isBF16() && !element.isF32())
    return fail("element type is not f16, bf16 or f32");
  if (problem.outputElementType != element)
    return fail("output element type differs from the inputs'");
  MmaKernelConfig config;
  config.prologueBytes = problem.prologueBytes;
  config.simt = true;
  config.elementBytes = element.getIntOrFloatBitWidth() / 8;
  config.headDim = problem.headDim;
  config.valueDim = problem.valueDim;
  for (int64_t dim : {config.headDim, config.valueDim})
    if (dim % 8 != 0 || dim > 256)
      return fail("head dims must be multiples of 8 up to 256");
  auto mask = cast_or_null<MaskAttrInterface>(problem.mask);
  if (!hasMaskLowering(mask))
    return fail("the mask has no lowering");
  config.listBlockQ = problem.listBlockQ;
  config.listBlockKv = problem.listBlockKv;
  setUpDecode(problem, options, 16, config);
  bool rowLists = hasRowLists(problem);
  config.blockQ = options.blockQ ? options.blockQ
                  : rowLists ? 64
                             : largestDividing(config.listBlockQ, {64, 32, 16});
  if (!config.blockQ || config.blockQ % 16 != 0 ||
      (!rowLists && config.listBlockQ % config.blockQ != 0))
    return fail(
        "block_q is not a multiple of 16 (or of the requested block-q)");
  if (options.blockKv > 64)
    return fail("block-kv above 64 needs the warpgroup (sm_90a) kernel");
  config.rowTiles = 1;
  config.warps = config.blockQ / 16;
  config.stages = options.stages;
  if (rowLists && failed(setUpRowLists(problem, options, config, reason)))
    return failure();
  FailureOr<int64_t> listBytes =
      getAllListBytes(problem, config, options.chip, reason);
  if (failed(listBytes))
    return failure();
  const ChipInfo &chip = options.chip;
  // Eight warps per multiprocessor: two blocks of four warps, eight of one
  // (a short decode or token-list tile).
  int64_t wantedBlocks = std::max<int64_t>(2, 8 / config.warps);
  auto fits = [&](const MmaKernelConfig &candidate, int64_t blocks) {
    return getBlocksPerSM(chip, candidate.tilesEndBytes() + *listBytes,
                          wantedBlocks) >= blocks;
  };
  std::optional<MmaKernelConfig> chosen;
  for (int64_t blocks = wantedBlocks; blocks >= 1; blocks /= 2) {
    for (int64_t kv : {64, 32, 16, 8}) {
      MmaKernelConfig candidate = config;
      candidate.blockKv = kv;
      if ((options.blockKv && kv != options.blockKv) ||
          config.listBlockKv % kv != 0 || !fits(candidate, blocks))
        continue;
      chosen = candidate;
      break;
    }
    if (chosen)
      break;
  }
  if (!chosen)
    return fail("block_kv is not a multiple of 8 (or of the requested "
                "block-kv), or the tiles do not fit the shared memory");
  config = *chosen;
  setBlocksPerSM(options.blocksPerSM
                     ? options.blocksPerSM
                     : getBlocksPerSM(chip, config.tilesEndBytes() + *listBytes,
                                      wantedBlocks),
                 chip, config);
  return config;
}

FailureOr<MmaKernelConfig>
sparse_attn::chooseMmaKernel(const MmaKernelProblem &problem,
                             const MmaAttentionOptions &options,
                             std::string &reason) {
  std::string tensorCoreReason;
  if (options.tensorCores) {
    FailureOr<MmaKernelConfig> config =
        chooseTensorCoreKernel(problem, options, tensorCoreReason);
    if (succeeded(config))
      return config;
  }
  std::string simtReason;
  FailureOr<MmaKernelConfig> config =
      chooseSimtKernel(problem, options, simtReason);
  if (succeeded(config))
    return config;
  reason = options.tensorCores ? "tensor cores: " + tensorCoreReason +
                                     "; CUDA cores: " + simtReason
                               : "CUDA cores: " + simtReason;
  return failure();
}
