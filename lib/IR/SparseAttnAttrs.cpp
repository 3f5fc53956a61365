//===- SparseAttnAttrs.cpp - mask attributes --------------------*- C++ -*-===//
//
// Parsing, printing, verification and key enumeration of the mask
// attributes.
//
//===----------------------------------------------------------------------===//

#include "SparseAttn/IR/SparseAttnAttrs.h"
#include "SparseAttn/IR/MaskUtils.h"
#include "SparseAttn/IR/SparseAttnDialect.h"

#include "llvm/ADT/ScopeExit.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/TypeSwitch.h" // used by the generated attribute printer

#include <algorithm>

using namespace mlir;
using namespace mlir::sparse_attn;

#include "SparseAttn/IR/SparseAttnAttrInterfaces.cpp.inc"
#include "SparseAttn/IR/SparseAttnEnums.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "SparseAttn/IR/SparseAttnAttrs.cpp.inc"

void SparseAttnDialect::registerAttributes() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "SparseAttn/IR/SparseAttnAttrs.cpp.inc"
      >();
}

/// Window parameters are clamped to this before position arithmetic: every
/// position fits in 32 bits, so a larger window behaves the same and the
/// sums below cannot overflow.

/// A neighborhood query whose window splits into more key ranges than this
/// is not enumerated at compile time (its analysis fails instead).
static constexpr int64_t kMaxNeighborhoodRanges = int64_t(1) << 16;

//===----------------------------------------------------------------------===//
// CausalAttr
//===----------------------------------------------------------------------===//

bool CausalAttr::usesSegmentIds() const { return false; }

LogicalResult
CausalAttr::appendAllowedKeys(int64_t queryPos, int64_t kvLen,
                              SmallVectorImpl<KeyRange> &ranges) const {
  appendClampedRange(0, queryPos + 1, kvLen, ranges);
  return success();
}

//===----------------------------------------------------------------------===//
// SlidingWindowAttr
//===----------------------------------------------------------------------===//

LogicalResult
SlidingWindowAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                          int64_t left, int64_t right) {
  if (left < 0 || right < 0)
    return emitError() << "sliding_window expects left >= 0 and right >= 0, "
                          "got left = "
                       << left << ", right = " << right;
  return success();
}

bool SlidingWindowAttr::usesSegmentIds() const { return false; }

LogicalResult
SlidingWindowAttr::appendAllowedKeys(int64_t queryPos, int64_t kvLen,
                                     SmallVectorImpl<KeyRange> &ranges) const {
  appendClampedRange(queryPos - clampWindow(getLeft()),
                     queryPos + clampWindow(getRight()) + 1, kvLen, ranges);
  return success();
}

//===----------------------------------------------------------------------===//
// SinkWindowAttr
//===----------------------------------------------------------------------===//

LogicalResult
SinkWindowAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                       int64_t sink, int64_t window) {
  if (sink < 0 || window < 0)
    return emitError() << "sink_window expects sink >= 0 and window >= 0, "
                          "got sink = "
                       << sink << ", window = " << window;
  return success();
}

bool SinkWindowAttr::usesSegmentIds() const { return false; }

LogicalResult
SinkWindowAttr::appendAllowedKeys(int64_t queryPos, int64_t kvLen,
                                  SmallVectorImpl<KeyRange> &ranges) const {
  // j <= i' and (j < sink or i' - j < window).
  SmallVector<KeyRange, 2> sinks, window;
  appendClampedRange(0, std::min(clampWindow(getSink()), queryPos + 1), kvLen,
                     sinks);
  appendClampedRange(queryPos - clampWindow(getWindow()) + 1, queryPos + 1,
                     kvLen, window);
  llvm::append_range(ranges, unionKeyRanges(sinks, window));
  return success();
}

//===----------------------------------------------------------------------===//
// DocumentAttr
//===----------------------------------------------------------------------===//

bool DocumentAttr::usesSegmentIds() const { return true; }

LogicalResult
DocumentAttr::appendAllowedKeys(int64_t, int64_t,
                                SmallVectorImpl<KeyRange> &) const {
  return failure();
}

//===----------------------------------------------------------------------===//
// NeighborhoodAttr
//===----------------------------------------------------------------------===//

static ParseResult parseIntegerList(AsmParser &parser,
                                    SmallVectorImpl<int64_t> &values) {
  return parser.parseCommaSeparatedList(AsmParser::Delimiter::Square, [&] {
    return parser.parseInteger(values.emplace_back());
  });
}

static ParseResult parseBoolList(AsmParser &parser,
                                 SmallVectorImpl<bool> &values) {
  return parser.parseCommaSeparatedList(
      AsmParser::Delimiter::Square, [&]() -> ParseResult {
        if (succeeded(parser.parseOptionalKeyword("true"))) {
          values.push_back(true);
          return success();
        }
        if (succeeded(parser.parseOptionalKeyword("false"))) {
          values.push_back(false);
          return success();
        }
        return parser.emitError(parser.getCurrentLocation(),
                                "expected 'true' or 'false'");
      });
}

Attribute NeighborhoodAttr::parse(AsmParser &parser, Type) {
  SMLoc loc = parser.getCurrentLocation();
  SmallVector<int64_t> grid, window, dilation;
  SmallVector<bool> causal;
  bool hasDilation = false, hasCausal = false;
  if (parser.parseLess() || parser.parseKeyword("grid") ||
      parser.parseEqual() || parseIntegerList(parser, grid) ||
      parser.parseComma() || parser.parseKeyword("window") ||
      parser.parseEqual() || parseIntegerList(parser, window))
    return {};
  // `dilation` and `causal` are optional, in this order.
  while (succeeded(parser.parseOptionalComma())) {
    if (!hasDilation && !hasCausal &&
        succeeded(parser.parseOptionalKeyword("dilation"))) {
      hasDilation = true;
      if (parser.parseEqual() || parseIntegerList(parser, dilation))
        return {};
      continue;
    }
    if (!hasCausal && succeeded(parser.parseOptionalKeyword("causal"))) {
      hasCausal = true;
      if (parser.parseEqual() || parseBoolList(parser, causal))
        return {};
      continue;
    }
    parser.emitError(parser.getCurrentLocation(),
                     "expected 'dilation' or 'causal' (in this order)");
    return {};
  }
  if (parser.parseGreater())
    return {};
  if (!hasDilation)
    dilation.assign(grid.size(), 1);
  if (!hasCausal)
    causal.assign(grid.size(), false);
  return NeighborhoodAttr::getChecked([&] { return parser.emitError(loc); },
                                      parser.getContext(), grid, window,
                                      dilation, causal);
}

void NeighborhoodAttr::print(AsmPrinter &printer) const {
  printer << "<grid = [" << getGrid() << "], window = [" << getWindow()
          << "], dilation = [" << getDilation() << "], causal = [";
  llvm::interleaveComma(getCausal(), printer, [&](bool value) {
    printer << (value ? "true" : "false");
  });
  printer << "]>";
}

LogicalResult
NeighborhoodAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                         ArrayRef<int64_t> grid, ArrayRef<int64_t> window,
                         ArrayRef<int64_t> dilation, ArrayRef<bool> causal) {
  size_t rank = grid.size();
  if (rank < 1 || rank > 3)
    return emitError()
           << "neighborhood expects a grid of 1 to 3 dimensions, got " << rank;
  if (window.size() != rank || dilation.size() != rank || causal.size() != rank)
    return emitError() << "neighborhood expects window, dilation and causal "
                          "to have one entry per grid dimension ("
                       << rank << "), got " << window.size() << ", "
                       << dilation.size() << " and " << causal.size();
  int64_t numTokens = 1;
  for (size_t d = 0; d < rank; ++d) {
    if (grid[d] < 1 || window[d] < 1 || dilation[d] < 1)
      return emitError() << "neighborhood expects grid, window and dilation "
                            ">= 1, got grid = "
                         << grid[d] << ", window = " << window[d]
                         << ", dilation = " << dilation[d] << " in dimension "
                         << d;
    // window * dilation <= grid, without overflow.
    if (window[d] > grid[d] / dilation[d])
      return emitError() << "neighborhood window " << window[d]
                         << " times dilation " << dilation[d]
                         << " exceeds the grid extent " << grid[d]
                         << " in dimension " << d;
    if (grid[d] > kMaxSequenceLength / numTokens)
      return emitError() << "neighborhood grid holds more than "
                         << kMaxSequenceLength << " tokens";
    numTokens *= grid[d];
  }
  return success();
}

bool NeighborhoodAttr::usesSegmentIds() const { return false; }

int64_t NeighborhoodAttr::getNumTokens() const {
  int64_t numTokens = 1;
  for (int64_t extent : getGrid())
    numTokens *= extent;
  return numTokens;
}

LogicalResult
NeighborhoodAttr::appendAllowedKeys(int64_t queryPos, int64_t kvLen,
                                    SmallVectorImpl<KeyRange> &ranges) const {
  ArrayRef<int64_t> grid = getGrid();
  unsigned rank = grid.size();
  // Queries placed before the grid (Sq > Skv) see no key.
  if (queryPos < 0 || queryPos >= getNumTokens())
    return success();

  SmallVector<int64_t, 3> coords(rank), strides(rank, 1);
  for (int d = rank - 2; d >= 0; --d)
    strides[d] = strides[d + 1] * grid[d + 1];
  for (unsigned d = 0; d < rank; ++d) {
    coords[d] = queryPos / strides[d];
    queryPos %= strides[d];
  }

  // Per dimension, the window is the members [begin, end) of the query's
  // dilation group: coordinates begin * dilation + group, ...
  struct Window {
    int64_t begin, end, group, dilation;
  };
  SmallVector<Window, 3> windows;
  for (unsigned d = 0; d < rank; ++d) {
    int64_t extent = grid[d], window = getWindow()[d],
            dilation = getDilation()[d];
    int64_t group = coords[d] % dilation;
    int64_t groupSize = (extent - 1 - group) / dilation + 1;
    int64_t inGroup = coords[d] / dilation;
    int64_t begin;
    if (getCausal()[d])
      begin = std::max<int64_t>(inGroup - window + 1, 0);
    else
      begin = std::clamp<int64_t>(inGroup - window / 2, 0, groupSize - window);
    int64_t end = getCausal()[d] ? inGroup + 1 : begin + window;
    windows.push_back({begin, end, group, dilation});
  }

  // The last dimension is one contiguous range when undilated; refuse to
  // enumerate windows that would produce an unreasonable number of ranges.
  const Window &last = windows.back();
  int64_t numRanges = last.dilation == 1 ? 1 : last.end - last.begin;
  for (unsigned d = 0; d + 1 < rank; ++d) {
    numRanges *= windows[d].end - windows[d].begin;
    if (numRanges > kMaxNeighborhoodRanges)
      return failure();
  }
  if (numRanges > kMaxNeighborhoodRanges)
    return failure();

  auto appendKeys = [&](int64_t begin, int64_t end) {
    end = std::min(end, kvLen);
    if (begin >= end)
      return;
    if (!ranges.empty() && ranges.back().end == begin)
      ranges.back().end = end;
    else
      ranges.push_back({begin, end});
  };
  // Row-major enumeration over the leading dimensions yields ascending keys.
  SmallVector<int64_t, 3> member(rank - 1);
  for (unsigned d = 0; d + 1 < rank; ++d)
    member[d] = windows[d].begin;
  while (true) {
    int64_t base = 0;
    for (unsigned d = 0; d + 1 < rank; ++d)
      base += (member[d] * windows[d].dilation + windows[d].group) * strides[d];
    if (last.dilation == 1) {
      appendKeys(base + last.begin, base + last.end);
    } else {
      for (int64_t m = last.begin; m < last.end; ++m) {
        int64_t key = base + m * last.dilation + last.group;
        appendKeys(key, key + 1);
      }
    }
    int d = static_cast<int>(rank) - 2;
    while (d >= 0 && ++member[d] == windows[d].end) {
      member[d] = windows[d].begin;
      --d;
    }
    if (d < 0)
      break;
  }
  return success();
}

LogicalResult NeighborhoodAttr::verifyLengths(
    std::optional<int64_t>, std::optional<int64_t> kvLen,
    function_ref<InFlightDiagnostic()> emitError) const {
  if (kvLen && *kvLen != getNumTokens())
    return emitError() << "neighborhood grid holds " << getNumTokens()
                       << " tokens but the key length is " << *kvLen;
  return success();
}

//===----------------------------------------------------------------------===//
// IntersectAttr and UnionAttr
//===----------------------------------------------------------------------===//

/// How deep the combinators being parsed on this thread nest: the parser
/// stops at the nesting limit before descending further, so that deeply
/// nested input cannot exhaust the stack (the verifier's check comes only
/// after the whole parse).
static thread_local unsigned combinatorParseDepth = 0;

static ParseResult parseMaskList(AsmParser &parser, StringRef combinator,
                                 SmallVectorImpl<Attribute> &masks) {
  // This combinator holds at least one more level: its elements.
  unsigned depth = combinatorParseDepth + 2;
  if (depth > kMaxMaskNesting)
    return parser.emitError(parser.getCurrentLocation())
           << combinator << " nests masks " << depth << " deep; at most "
           << kMaxMaskNesting << " are supported";
  ++combinatorParseDepth;
  llvm::scope_exit leave([] { --combinatorParseDepth; });
  if (parser.parseLess())
    return failure();
  if (failed(parser.parseOptionalLSquare()))
    return parser.emitError(parser.getCurrentLocation(),
                            "expected '[' starting a list of masks");
  if (failed(parser.parseOptionalRSquare())) {
    if (parser.parseCommaSeparatedList(
            [&] { return parser.parseAttribute(masks.emplace_back()); }) ||
        parser.parseRSquare())
      return failure();
  }
  return parser.parseGreater();
}

static void printMaskList(AsmPrinter &printer, ArrayRef<Attribute> masks) {
  printer << "<[";
  llvm::interleaveComma(masks, printer,
                        [&](Attribute mask) { printer.printAttribute(mask); });
  printer << "]>";
}

static LogicalResult
verifyMaskList(function_ref<InFlightDiagnostic()> emitError,
               StringRef combinator, ArrayRef<Attribute> masks) {
  if (masks.empty())
    return emitError() << combinator << " expects a non-empty list of masks";
  unsigned depth = 0;
  for (auto [position, mask] : llvm::enumerate(masks)) {
    if (!mask || !isa<MaskAttrInterface>(mask))
      return emitError() << combinator << " element #" << position
                         << " is not a mask attribute: " << mask;
    depth = std::max(depth, getMaskNestingDepth(mask));
  }
  if (depth + 1 > kMaxMaskNesting)
    return emitError() << combinator << " nests masks " << depth + 1
                       << " deep; at most " << kMaxMaskNesting
                       << " are supported";
  return success();
}

/// Combines the allowed keys of every element with `combine`.
template <typename Combine>
static LogicalResult
appendCombinedKeys(ArrayRef<Attribute> masks, int64_t queryPos, int64_t kvLen,
                   SmallVectorImpl<KeyRange> &ranges, Combine combine) {
  SmallVector<KeyRange> combined;
  for (auto [position, attr] : llvm::enumerate(masks)) {
    SmallVector<KeyRange> element;
    if (failed(cast<MaskAttrInterface>(attr).appendAllowedKeys(queryPos, kvLen,
                                                               element)))
      return failure();
    combined = position == 0 ? std::move(element) : combine(combined, element);
  }
  llvm::append_range(ranges, combined);
  return success();
}

static bool anyUsesSegmentIds(ArrayRef<Attribute> masks) {
  return llvm::any_of(masks, [](Attribute mask) {
    return cast<MaskAttrInterface>(mask).usesSegmentIds();
  });
}

static LogicalResult
verifyEveryLength(ArrayRef<Attribute> masks, std::optional<int64_t> qLen,
                  std::optional<int64_t> kvLen,
                  function_ref<InFlightDiagnostic()> emitError) {
  for (Attribute mask : masks)
    if (failed(cast<MaskAttrInterface>(mask).verifyLengths(qLen, kvLen,
                                                           emitError)))
      return failure();
  return success();
}

/// Parses `<[mask, ...]>` into a verified combinator.
template <typename CombinatorAttr>
static Attribute parseCombinator(AsmParser &parser, StringRef combinator) {
  SMLoc loc = parser.getCurrentLocation();
  SmallVector<Attribute> masks;
  if (parseMaskList(parser, combinator, masks))
    return {};
  return CombinatorAttr::getChecked([&] { return parser.emitError(loc); },
                                    parser.getContext(), masks);
}

Attribute IntersectAttr::parse(AsmParser &parser, Type) {
  return parseCombinator<IntersectAttr>(parser, "intersect");
}

void IntersectAttr::print(AsmPrinter &printer) const {
  printMaskList(printer, getMasks());
}

LogicalResult
IntersectAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                      ArrayRef<Attribute> masks) {
  return verifyMaskList(emitError, "intersect", masks);
}

bool IntersectAttr::usesSegmentIds() const {
  return anyUsesSegmentIds(getMasks());
}

LogicalResult
IntersectAttr::appendAllowedKeys(int64_t queryPos, int64_t kvLen,
                                 SmallVectorImpl<KeyRange> &ranges) const {
  return appendCombinedKeys(getMasks(), queryPos, kvLen, ranges,
                            intersectKeyRanges);
}

LogicalResult IntersectAttr::verifyLengths(
    std::optional<int64_t> qLen, std::optional<int64_t> kvLen,
    function_ref<InFlightDiagnostic()> emitError) const {
  return verifyEveryLength(getMasks(), qLen, kvLen, emitError);
}

Attribute UnionAttr::parse(AsmParser &parser, Type) {
  return parseCombinator<UnionAttr>(parser, "union");
}

void UnionAttr::print(AsmPrinter &printer) const {
  printMaskList(printer, getMasks());
}

LogicalResult UnionAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                ArrayRef<Attribute> masks) {
  return verifyMaskList(emitError, "union", masks);
}

bool UnionAttr::usesSegmentIds() const { return anyUsesSegmentIds(getMasks()); }

LogicalResult
UnionAttr::appendAllowedKeys(int64_t queryPos, int64_t kvLen,
                             SmallVectorImpl<KeyRange> &ranges) const {
  return appendCombinedKeys(getMasks(), queryPos, kvLen, ranges,
                            unionKeyRanges);
}

LogicalResult
UnionAttr::verifyLengths(std::optional<int64_t> qLen,
                         std::optional<int64_t> kvLen,
                         function_ref<InFlightDiagnostic()> emitError) const {
  return verifyEveryLength(getMasks(), qLen, kvLen, emitError);
}
