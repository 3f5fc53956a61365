//===- MaskLoweringInterface.td - how a mask lowers ---------*- tablegen -*-===//
//
// The questions every lowering of sparse_attn asks a mask attribute, as one
// attribute interface. Its implementations are external models (registered
// by registerMaskLoweringInterfaceExternalModels), so the IR library stays
// free of lowering code.
//
//===----------------------------------------------------------------------===//

#ifndef SPARSE_ATTN_UTILS_MASKLOWERINGINTERFACE_TD
#define SPARSE_ATTN_UTILS_MASKLOWERINGINTERFACE_TD

include "mlir/IR/OpBase.td"

def SparseAttn_MaskLoweringAttrInterface
    : AttrInterface<"MaskLoweringAttrInterface"> {
  let cppNamespace = "::mlir::sparse_attn";
  let description = [{
    How a mask attribute lowers: the per-pair predicate every path
    evaluates, and the tile-level questions that let kernels skip work (the
    keys a range of query rows may see, whether a tile is wholly allowed or
    wholly masked, each row's key interval). Positions are bottom-right
    aligned (`p = i + Skv - Sq`), as in `docs/semantics.md`.

    Every method is required: a mask without a tile test says so by
    returning null, so a new mask cannot silently take a fallback. The
    combinators (`intersect`, `union`) fold their elements' answers.
  }];
  let methods = [
    InterfaceMethod<[{
        Whether the mask allows the pair (an `i1`), for the query at
        bottom-right aligned `position` and the key `pair.keyRow`. Fails
        when the mask reads operands `pair` lacks (segment ids).
      }], "::llvm::FailureOr<::mlir::Value>", "buildPairAllowed",
      (ins "::mlir::sparse_attn::IndexArith &":$arith,
           "const ::mlir::sparse_attn::MaskPairValues &":$pair,
           "::mlir::Value":$position)>,
    InterfaceMethod<[{
        `[lo, hi)` covering every key a query at a position in
        `[firstPosition, lastPosition]` may see (before clamping to
        `[0, kvLen)`); `[0, kvLen)` when the mask has no narrower bound.
        `segments` (null when unknown) bounds the rows' segment ids: a
        mask reading them may narrow its hull to their keys. A mask with a
        sink may also set `prefixEnd`: the keys `[0, prefixEnd)` besides
        `[lo, hi)`.
      }], "::mlir::sparse_attn::KeyHull", "buildKeyHull",
      (ins "::mlir::sparse_attn::IndexArith &":$arith,
           "::mlir::Value":$firstPosition, "::mlir::Value":$lastPosition,
           "::mlir::Value":$kvLen,
           "const ::mlir::sparse_attn::SegmentBounds *":$segments)>,
    InterfaceMethod<[{
        Whether the mask allows every pair of the tile (an `i1`), or null
        when the mask has no such test (the tile is then masked pair by
        pair). A mask reading segment ids answers from `tile.segments`.
      }], "::mlir::Value", "buildTileFullyAllowed",
      (ins "::mlir::sparse_attn::IndexArith &":$arith,
           "const ::mlir::sparse_attn::TileBounds &":$tile)>,
    InterfaceMethod<[{
        Whether the mask allows no pair of the tile (an `i1`), or null when
        the mask has no such test.
      }], "::mlir::Value", "buildTileWhollyMasked",
      (ins "::mlir::sparse_attn::IndexArith &":$arith,
           "const ::mlir::sparse_attn::TileBounds &":$tile)>,
    InterfaceMethod<[{
        When the mask allows each row exactly the keys of one interval
        `[p - left, p + right]` (causal: left unbounded, right 0), that
        interval; kernels then mask a score with two compares.
      }], "std::optional<::mlir::sparse_attn::RowKeyInterval>",
      "getRowKeyInterval", (ins)>,
    InterfaceMethod<[{
        Whether the mask bounds each row's keys from below (a window) and
        has a wholly-masked tile test: then a band's edge tiles have parts
        a group of rows wholly misses, worth testing per group.
      }], "bool", "hasLowerEdge", (ins)>,
    InterfaceMethod<[{
        Run-time checks of the lengths the mask needs (a neighborhood's grid
        must hold exactly the keys), which the verifier makes when the
        lengths are static.
      }], "void", "buildLengthChecks",
      (ins "::mlir::sparse_attn::LoweringBuilder &":$builder,
           "::mlir::Value":$kvLen)>,
  ];
}

#endif // SPARSE_ATTN_UTILS_MASKLOWERINGINTERFACE_TD
