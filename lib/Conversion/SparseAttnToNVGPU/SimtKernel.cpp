//===- SimtKernel.cpp - the CUDA-core flavour of the kernel ---------------===//
//
// The kernel without tensor cores, for f32 inputs and the shapes the
// tensor-core flavours cannot take: the same skeleton (lists or key hulls,
// cp.async stages, masking, online softmax, decode splits) with the two
// products as f32 fmas. Each thread computes exactly the elements that
// mma.sync's accumulator layout gives it (rows group and group + 8 of its
// warp's 16-row tiles; keys, then value columns, 2 quad and 2 quad + 1 of
// each 8-wide tile), so masking and softmax are shared with the mma.sync
// flavour:
//   S = Q K^T: a loop over the head dim, 4 elements a step, one vector load
//     per row and key (padded rows: the 8 rows and 4 keys a warp reads at
//     once fall on distinct banks) and a 2 x (blockKv / 4) block of fmas;
//   O += P V: the probabilities go through shared memory (each row is
//     written and read by the four lanes of one quad, so a warp barrier
//     orders them), then a loop over the tile's keys.
//
//===----------------------------------------------------------------------===//

#include "AttentionKernel.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;
using namespace mlir::sparse_attn;

namespace {

/// Head-dim elements per step of the score loop (one vector load each).
constexpr int64_t kScoreStep = 4;

class SimtAttentionKernel : public PaddedTileKernel {
public:
  using PaddedTileKernel::PaddedTileKernel;

private:
  void setUpTiles(Value base) override;
  SmallVector<SmallVector<Value>> computeScores(Value stage) override;
  SmallVector<Value> accumulateValues(Value stage,
                                      ArrayRef<SmallVector<Value>> scores,
                                      ArrayRef<Value> acc) override;
  /// Output columns: each pair of 8-column tiles (2m, 2m + 1) gives the
  /// thread four adjacent columns, 16 m + 4 quad + {0, 1 | 2, 3} (one
  /// 4-wide load of V); a last unpaired tile keeps 8 dt + 2 quad.
  Value valueColumn(int64_t dt) override {
    if (pairedTile(dt))
      return emit.add(emit.mul(quad, 4), (dt / 2) * 16 + (dt % 2) * 2);
    return PaddedTileKernel::valueColumn(dt);
  }
  bool pairedTile(int64_t dt) const {
    return (dt / 2) * 2 + 1 < config.valueDim / 8;
  }

  /// `width` elements of `tile` at `indices` as f32 values.
  SmallVector<Value> loadF32(KernelBuilder &at, Value tile, ValueRange indices,
                             int64_t width);
  Value fma(KernelBuilder &at, Value a, Value b, Value c) {
    return LLVM::FMAOp::create(at.builder, at.loc, a, b, c);
  }

  // [blockQ][blockKv + 4] f32: the probabilities of the current kv tile.
  Value probabilities;
};

} // namespace

void SimtAttentionKernel::setUpTiles(Value base) {
  PaddedTileKernel::setUpTiles(base);
  probabilities = emit.sharedView(base, emit.index(tilesEnd),
                                  {config.blockQ, config.probabilityStride()},
                                  emit.builder.getF32Type());
}

SmallVector<Value> SimtAttentionKernel::loadF32(KernelBuilder &at, Value tile,
                                                ValueRange indices,
                                                int64_t width) {
  OpBuilder &builder = at.builder;
  auto type = VectorType::get({width}, at.element);
  auto load = vector::LoadOp::create(builder, at.loc, type, tile, indices);
  // Rows are 16-byte aligned and the column a multiple of `width`.
  load.setAlignmentAttr(builder.getI64IntegerAttr(width * config.elementBytes));
  Value wide = load;
  if (!at.element.isF32())
    wide = arith::ExtFOp::create(
        builder, at.loc, VectorType::get({width}, builder.getF32Type()), wide);
  SmallVector<Value> values;
  for (int64_t i = 0; i < width; ++i)
    values.push_back(
        vector::ExtractOp::create(builder, at.loc, wide, ArrayRef<int64_t>{i}));
  return values;
}

SmallVector<SmallVector<Value>>
SimtAttentionKernel::computeScores(Value stage) {
  OpBuilder &builder = emit.builder;
  int64_t nTiles = config.blockKv / 8;
  int64_t rows = rowsPerThread(), keys = 2 * nTiles;
  SmallVector<Value> rowIndex, keyIndex;
  for (int64_t r = 0; r < rows; ++r)
    rowIndex.push_back(tileRow(r));
  for (int64_t c = 0; c < keys; ++c)
    keyIndex.push_back(emit.add(emit.mul(quad, 2), (c / 2) * 8 + c % 2));
  // Flat as the fragments: [rowTile][nTile][4], element e at row 2 rowTile +
  // e / 2 and key column 2 nTile + e % 2.
  auto flatIndex = [&](int64_t r, int64_t c) {
    return ((r / 2) * nTiles + c / 2) * 4 + (r % 2) * 2 + c % 2;
  };
  SmallVector<Value> zeros(rows * keys, emit.f32(0.0));
  auto loop = scf::ForOp::create(
      builder, emit.loc, emit.index(0), emit.index(config.headDim),
      emit.index(kScoreStep), zeros,
      [&](OpBuilder &loopBuilder, Location loopLoc, Value d,
          ValueRange partial) {
        KernelBuilder at(loopBuilder, loopLoc, emit.element);
        SmallVector<SmallVector<Value>> q, k;
        for (Value row : rowIndex)
          q.push_back(loadF32(at, queryTile, {row, d}, kScoreStep));
        for (Value key : keyIndex)
          k.push_back(loadF32(at, keyTiles, {stage, key, d}, kScoreStep));
        SmallVector<Value> next(partial);
        for (int64_t i = 0; i < kScoreStep; ++i)
          for (int64_t r = 0; r < rows; ++r)
            for (int64_t c = 0; c < keys; ++c) {
              Value &acc = next[flatIndex(r, c)];
              acc = fma(at, q[r][i], k[c][i], acc);
            }
        scf::YieldOp::create(loopBuilder, loopLoc, next);
      });
  SmallVector<SmallVector<Value>> scores(config.rowTiles * nTiles);
  for (auto [position, fragment] : llvm::enumerate(scores))
    fragment.assign(loop.getResults().begin() + 4 * position,
                    loop.getResults().begin() + 4 * position + 4);
  return scores;
}

SmallVector<Value> SimtAttentionKernel::accumulateValues(
    Value stage, ArrayRef<SmallVector<Value>> scores, ArrayRef<Value> acc) {
  OpBuilder &builder = emit.builder;
  Location loc = emit.loc;
  int64_t nTiles = config.blockKv / 8, columnTiles = config.valueDim / 8;
  auto pairType = VectorType::get({2}, builder.getF32Type());
  // The quad's lanes may still read the previous tile's probabilities.
  emit.syncWarp();
  SmallVector<Value> rowIndex;
  for (int64_t r = 0; r < rowsPerThread(); ++r)
    rowIndex.push_back(tileRow(r));
  for (int64_t r = 0; r < rowsPerThread(); ++r) {
    int64_t rt = r / 2, e0 = (r % 2) * 2;
    for (int64_t nt = 0; nt < nTiles; ++nt) {
      const SmallVector<Value> &fragment = scores[rt * nTiles + nt];
      Value pair = vector::FromElementsOp::create(
          builder, loc, pairType, ValueRange{fragment[e0], fragment[e0 + 1]});
      auto store = vector::StoreOp::create(
          builder, loc, pair, probabilities,
          ValueRange{rowIndex[r], emit.add(emit.mul(quad, 2), nt * 8)});
      store.setAlignmentAttr(builder.getI64IntegerAttr(8));
    }
  }
  emit.syncWarp();
  // acc [rowTile][columnTile][4]: element e at row 2 rowTile + e / 2 and
  // column valueColumn(columnTile) + e % 2. Four keys a step: their
  // probabilities in one 4-wide load per row.
  constexpr int64_t keyStep = 4;
  SmallVector<Value> columns;
  for (int64_t dt = 0; dt < columnTiles; ++dt)
    columns.push_back(valueColumn(dt));
  auto loop = scf::ForOp::create(
      builder, loc, emit.index(0), emit.index(config.blockKv),
      emit.index(keyStep), acc,
      [&](OpBuilder &loopBuilder, Location loopLoc, Value firstKey,
          ValueRange partial) {
        KernelBuilder at(loopBuilder, loopLoc, emit.element);
        auto probabilityLoad = [&](Value row) {
          OpBuilder &b = at.builder;
          auto type = VectorType::get({keyStep}, b.getF32Type());
          auto load = vector::LoadOp::create(b, at.loc, type, probabilities,
                                             ValueRange{row, firstKey});
          load.setAlignmentAttr(b.getI64IntegerAttr(4 * keyStep));
          SmallVector<Value> values;
          for (int64_t i = 0; i < keyStep; ++i)
            values.push_back(vector::ExtractOp::create(b, at.loc, load,
                                                       ArrayRef<int64_t>{i}));
          return values;
        };
        SmallVector<SmallVector<Value>> p;
        for (Value row : rowIndex)
          p.push_back(probabilityLoad(row));
        SmallVector<Value> next(partial);
        for (int64_t i = 0; i < keyStep; ++i) {
          Value key = at.add(firstKey, i);
          for (int64_t dt = 0; dt < columnTiles;) {
            int64_t tiles = pairedTile(dt) ? 2 : 1;
            SmallVector<Value> v =
                loadF32(at, valueTiles, {stage, key, columns[dt]}, 2 * tiles);
            for (int64_t r = 0; r < rowsPerThread(); ++r)
              for (int64_t j = 0; j < 2 * tiles; ++j) {
                int64_t element = (r / 2) * accPerRowTile() + (dt + j / 2) * 4 +
                                  (r % 2) * 2 + j % 2;
                next[element] = fma(at, p[r][i], v[j], next[element]);
              }
            dt += tiles;
          }
        }
        scf::YieldOp::create(loopBuilder, loopLoc, next);
      });
  return SmallVector<Value>(loop.getResults());
}

std::unique_ptr<AttentionKernel> sparse_attn::createSimtKernel(
    KernelBuilder &emit, const MmaKernelConfig &config,
    const KernelOperands &operands, gpu::LaunchOp launch) {
  return std::make_unique<SimtAttentionKernel>(emit, config, operands, launch);
}
