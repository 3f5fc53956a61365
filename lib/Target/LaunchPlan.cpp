//===- LaunchPlan.cpp - what a GPU runtime must do to run a function ------===//
//
// Walks a host function after kernel outlining and writes its buffers and
// launches as JSON. Index values become expression trees over the inputs'
// extents: {"const": n}, {"dim": [input, d]}, {"op": name, "args": [...]}.
//
//===----------------------------------------------------------------------===//

#include "SparseAttn/Target/LaunchPlan.h"

#include "SparseAttn/IR/SparseAttnDialect.h"
#include "SparseAttn/IR/SparseAttnOps.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/SmallBitVector.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::sparse_attn;
using llvm::json::Array;
using llvm::json::Object;
using Json = llvm::json::Value;

/// Globals whose values the manifest embeds: at most this many elements.
static constexpr int64_t kMaxEmbeddedElements = int64_t(1) << 22;

/// The configuration a tensor-core kernel recorded on its gpu.func
/// (`sparse_attn.mma_kernel`, see sparse-attn-kernel-limits) as JSON; null
/// for the general path's kernels.
static Json kernelConfig(gpu::LaunchFuncOp launch) {
  auto func = SymbolTable::lookupNearestSymbolFrom<gpu::GPUFuncOp>(
      launch, launch.getKernel());
  DictionaryAttr config =
      func ? sparse_attn::SparseAttnDialect::MmaKernelAttrHelper(
                 launch.getContext())
                 .getAttr(func)
           : DictionaryAttr();
  if (!config)
    return nullptr;
  Object object;
  for (NamedAttribute entry : config) {
    if (auto integer = dyn_cast<IntegerAttr>(entry.getValue()))
      object[entry.getName().getValue()] = integer.getInt();
    else if (auto text = dyn_cast<StringAttr>(entry.getValue()))
      object[entry.getName().getValue()] = text.getValue().str();
  }
  return Json(std::move(object));
}

namespace {

/// The element type's name in the plan (and the runtime's dtype table).
FailureOr<std::string> getTypeName(Type type) {
  if (type.isF32())
    return std::string("f32");
  if (type.isF16())
    return std::string("f16");
  if (type.isBF16())
    return std::string("bf16");
  if (type.isF64())
    return std::string("f64");
  if (type.isIndex())
    return std::string("index");
  if (auto integer = dyn_cast<IntegerType>(type))
    return "i" + std::to_string(integer.getWidth());
  return failure();
}

Json constant(int64_t value) { return Object{{"const", value}}; }
Json apply(StringRef op, Array args) {
  return Object{{"op", op.str()}, {"args", std::move(args)}};
}

using Exprs = std::vector<Json>;

/// A memref as the kernels see it: a buffer and the view into it.
struct View {
  int64_t buffer = 0;
  Json offset = nullptr;
  Exprs sizes;
  Exprs strides;
};

class PlanBuilder {
public:
  explicit PlanBuilder(func::FuncOp func) : func(func) {}

  FailureOr<Object> build() {
    for (auto [position, argument] : llvm::enumerate(func.getArguments())) {
      auto type = dyn_cast<MemRefType>(argument.getType());
      if (!type || !type.getLayout().isIdentity())
        return emitError(func, "function arguments must be identity-layout "
                               "memrefs (bufferized tensors)");
      Exprs shape;
      for (int64_t d = 0; d < type.getRank(); ++d)
        shape.push_back(type.isDynamicDim(d)
                            ? Json(Object{{"dim", Array{int64_t(position), d}}})
                            : constant(type.getDimSize(d)));
      if (failed(addBuffer(argument, type, "input", std::move(shape),
                           int64_t(position))))
        return failure();
    }
    for (Operation &op : func.getBody().front())
      if (failed(visit(op)))
        return failure();
    return Object{{"version", kLaunchPlanVersion},
                  {"function", func.getSymName().str()},
                  {"buffers", std::move(buffers)},
                  {"checks", std::move(checks)},
                  {"launches", std::move(launches)},
                  {"outputs", std::move(outputs)}};
  }

private:
  LogicalResult emitError(Operation *op, const Twine &message) {
    op->emitOpError() << "cannot be described in a GPU launch plan: "
                      << message;
    return failure();
  }

  LogicalResult addBuffer(mlir::Value memref, MemRefType type, StringRef kind,
                          Exprs shape, std::optional<int64_t> input) {
    FailureOr<std::string> dtype = getTypeName(type.getElementType());
    if (failed(dtype))
      return emitError(func, "unsupported element type");
    int64_t id = buffers.size();
    Object buffer{{"id", id},
                  {"kind", kind.str()},
                  {"dtype", *dtype},
                  {"shape", Array(shape)}};
    if (input)
      buffer["input"] = *input;
    buffers.push_back(std::move(buffer));
    views.insert(
        {memref, View{id, constant(0), shape, contiguousStrides(shape)}});
    return success();
  }

  static Exprs contiguousStrides(const Exprs &shape) {
    Exprs strides(shape.size(), constant(1));
    for (int64_t d = static_cast<int64_t>(shape.size()) - 2; d >= 0; --d)
      strides[d] = apply("mul", Array{strides[d + 1], shape[d + 1]});
    return strides;
  }

  /// The expression of an index or integer value.
  FailureOr<Json> expr(mlir::Value value) {
    if (auto it = knownExprs.find(value); it != knownExprs.end())
      return it->second;
    Operation *def = value.getDefiningOp();
    if (!def)
      return emitError(func, "a scalar function argument is not supported");
    FailureOr<Json> result =
        TypeSwitch<Operation *, FailureOr<Json>>(def)
            .Case([&](arith::ConstantOp op) -> FailureOr<Json> {
              if (auto integer = dyn_cast<IntegerAttr>(op.getValue()))
                return Json(constant(integer.getValue().getSExtValue()));
              return failure();
            })
            .Case([&](memref::DimOp op) -> FailureOr<Json> {
              std::optional<int64_t> index = op.getConstantIndex();
              auto it = views.find(op.getSource());
              if (!index || it == views.end())
                return emitError(op, "dim of an unknown buffer");
              return Json(it->second.sizes[*index]);
            })
            .Case([&](affine::AffineApplyOp op) -> FailureOr<Json> {
              FailureOr<Exprs> operands = exprs(op.getMapOperands());
              if (failed(operands))
                return failure();
              AffineMap map = op.getAffineMap();
              return affineExpr(map.getResult(0), map.getNumDims(), *operands);
            })
            .Case<arith::IndexCastOp, arith::IndexCastUIOp, arith::ExtSIOp,
                  arith::ExtUIOp, arith::TruncIOp>(
                [&](Operation *op) { return expr(op->getOperand(0)); })
            .Case([&](arith::SelectOp op) { return operation("select", op); })
            .Case([&](arith::CmpIOp op) {
              return operation(
                  ("cmp_" + arith::stringifyCmpIPredicate(op.getPredicate()))
                      .str(),
                  op);
            })
            .Case([&](arith::AndIOp op) { return operation("and", op); })
            .Case([&](arith::OrIOp op) { return operation("or", op); })
            .Case([&](arith::XOrIOp op) { return operation("xor", op); })
            .Case([&](arith::AddIOp op) { return operation("add", op); })
            .Case([&](arith::SubIOp op) { return operation("sub", op); })
            .Case([&](arith::MulIOp op) { return operation("mul", op); })
            .Case<arith::DivSIOp, arith::FloorDivSIOp>(
                [&](Operation *op) { return operation("floordiv", op); })
            .Case([&](arith::DivUIOp op) { return operation("floordiv", op); })
            .Case(
                [&](arith::CeilDivSIOp op) { return operation("ceildiv", op); })
            .Case(
                [&](arith::CeilDivUIOp op) { return operation("ceildiv", op); })
            .Case([&](arith::RemSIOp op) { return operation("mod", op); })
            .Case([&](arith::RemUIOp op) { return operation("mod", op); })
            .Case([&](arith::MinSIOp op) { return operation("min", op); })
            .Case([&](arith::MaxSIOp op) { return operation("max", op); })
            .Case([&](arith::MinUIOp op) { return operation("min", op); })
            .Case([&](arith::MaxUIOp op) { return operation("max", op); })
            .Default([&](Operation *op) -> FailureOr<Json> {
              return emitError(op, "unsupported index computation");
            });
    if (succeeded(result))
      knownExprs.insert({value, *result});
    return result;
  }

  /// The expressions of several values, in order.
  FailureOr<Exprs> exprs(ValueRange values) {
    Exprs result;
    for (mlir::Value value : values) {
      FailureOr<Json> valueExpr = expr(value);
      if (failed(valueExpr))
        return failure();
      result.push_back(*valueExpr);
    }
    return result;
  }

  FailureOr<Json> operation(StringRef name, Operation *op) {
    FailureOr<Exprs> args = exprs(op->getOperands());
    if (failed(args))
      return failure();
    return apply(name, Array(*args));
  }

  FailureOr<Json> affineExpr(AffineExpr e, unsigned numDims,
                             ArrayRef<Json> operands) {
    if (auto c = dyn_cast<AffineConstantExpr>(e))
      return constant(c.getValue());
    if (auto d = dyn_cast<AffineDimExpr>(e))
      return operands[d.getPosition()];
    if (auto s = dyn_cast<AffineSymbolExpr>(e))
      return operands[numDims + s.getPosition()];
    auto binary = cast<AffineBinaryOpExpr>(e);
    FailureOr<Json> lhs = affineExpr(binary.getLHS(), numDims, operands);
    FailureOr<Json> rhs = affineExpr(binary.getRHS(), numDims, operands);
    if (failed(lhs) || failed(rhs))
      return failure();
    StringRef name;
    switch (e.getKind()) {
    case AffineExprKind::Add:
      name = "add";
      break;
    case AffineExprKind::Mul:
      name = "mul";
      break;
    case AffineExprKind::Mod:
      name = "mod";
      break;
    case AffineExprKind::FloorDiv:
      name = "floordiv";
      break;
    case AffineExprKind::CeilDiv:
      name = "ceildiv";
      break;
    default:
      return failure();
    }
    return apply(name, Array{*lhs, *rhs});
  }

  /// Launch argument: a memref view, or a scalar (index/integer expression
  /// or float constant).
  FailureOr<Json> argument(mlir::Value value) {
    if (isa<MemRefType>(value.getType())) {
      auto it = views.find(value);
      if (it == views.end())
        return emitError(func,
                         "a kernel argument is a memref of unknown origin");
      const View &view = it->second;
      return Json(Object{{"kind", "memref"},
                         {"buffer", view.buffer},
                         {"offset", view.offset},
                         {"sizes", Array(view.sizes)},
                         {"strides", Array(view.strides)}});
    }
    FailureOr<std::string> type = getTypeName(value.getType());
    if (failed(type))
      return emitError(func, "a kernel argument has an unsupported type");
    if (isa<FloatType>(value.getType())) {
      auto constantOp = value.getDefiningOp<arith::ConstantOp>();
      auto floatAttr =
          constantOp ? dyn_cast<FloatAttr>(constantOp.getValue()) : FloatAttr();
      if (!floatAttr)
        return emitError(func, "a float kernel argument is not a constant");
      // The bit pattern in the argument's own type: exact, and JSON has no
      // inf or NaN.
      uint64_t bits = floatAttr.getValue().bitcastToAPInt().getZExtValue();
      return Json(
          Object{{"kind", "scalar"}, {"type", *type}, {"bits", int64_t(bits)}});
    }
    FailureOr<Json> valueExpr = expr(value);
    if (failed(valueExpr))
      return failure();
    return Json(
        Object{{"kind", "scalar"}, {"type", *type}, {"expr", *valueExpr}});
  }

  LogicalResult visit(Operation &op) {
    return TypeSwitch<Operation *, LogicalResult>(&op)
        .Case([&](memref::AllocOp alloc) -> LogicalResult {
          MemRefType type = alloc.getType();
          if (!type.getLayout().isIdentity())
            return emitError(alloc, "non-identity layout");
          Exprs shape;
          unsigned dynamic = 0;
          for (int64_t d = 0; d < type.getRank(); ++d) {
            if (!type.isDynamicDim(d)) {
              shape.push_back(constant(type.getDimSize(d)));
              continue;
            }
            FailureOr<Json> size = expr(alloc.getDynamicSizes()[dynamic++]);
            if (failed(size))
              return failure();
            shape.push_back(*size);
          }
          return addBuffer(alloc, type, "intermediate", std::move(shape),
                           std::nullopt);
        })
        .Case([&](memref::ExpandShapeOp expand) -> LogicalResult {
          auto it = views.find(expand.getSrc());
          if (it == views.end())
            return emitError(expand, "expands an unknown buffer");
          Exprs sizes;
          for (OpFoldResult size : expand.getMixedOutputShape()) {
            if (auto attr = dyn_cast<Attribute>(size)) {
              sizes.push_back(constant(cast<IntegerAttr>(attr).getInt()));
              continue;
            }
            FailureOr<Json> sizeExpr = expr(cast<mlir::Value>(size));
            if (failed(sizeExpr))
              return failure();
            sizes.push_back(*sizeExpr);
          }
          // The sources here are contiguous: the view is contiguous too.
          views[expand.getResult()] = View{it->second.buffer, it->second.offset,
                                           sizes, contiguousStrides(sizes)};
          return success();
        })
        .Case([&](memref::CollapseShapeOp collapse) -> LogicalResult {
          auto it = views.find(collapse.getSrc());
          if (it == views.end())
            return emitError(collapse, "collapses an unknown buffer");
          const View &source = it->second;
          // Only views laid out contiguously (whole buffers and their
          // reshapes) collapse into one stride per group.
          if (source.strides != contiguousStrides(source.sizes))
            return emitError(collapse, "collapses a non-contiguous view");
          Exprs sizes;
          for (const ReassociationIndices &group :
               collapse.getReassociationIndices()) {
            Json size = constant(1);
            for (int64_t d : group)
              size = apply("mul", Array{size, source.sizes[d]});
            sizes.push_back(size);
          }
          views[collapse.getResult()] = View{source.buffer, source.offset,
                                             sizes, contiguousStrides(sizes)};
          return success();
        })
        .Case([&](memref::GetGlobalOp getGlobal) -> LogicalResult {
          // Folded constants (e.g. the block lists of a static block_mask):
          // the runtime uploads their values.
          auto global = SymbolTable::lookupNearestSymbolFrom<memref::GlobalOp>(
              getGlobal, getGlobal.getNameAttr());
          auto values = global ? dyn_cast_or_null<DenseElementsAttr>(
                                     global.getInitialValueAttr())
                               : DenseElementsAttr();
          MemRefType type = getGlobal.getType();
          if (!values || !type.hasStaticShape())
            return emitError(getGlobal, "a global without constant contents");
          // The values go into the manifest: bounded (the shape's element
          // count computed without overflow; a splat may claim 2^62).
          std::optional<int64_t> elements = getStaticElementCount(type);
          if (!elements || *elements > kMaxEmbeddedElements)
            return emitError(getGlobal, "a global of more than 2^22 elements");
          Array data;
          if (isa<IntegerType>(type.getElementType())) {
            for (const APInt &value : values.getValues<APInt>())
              data.push_back(value.getSExtValue());
          } else if (isa<FloatType>(type.getElementType())) {
            for (const APFloat &value : values.getValues<APFloat>())
              data.push_back(int64_t(value.bitcastToAPInt().getZExtValue()));
          } else {
            return emitError(getGlobal, "a global of unsupported element type");
          }
          Exprs shape;
          for (int64_t extent : type.getShape())
            shape.push_back(constant(extent));
          if (failed(
                  addBuffer(getGlobal, type, "constant", shape, std::nullopt)))
            return failure();
          // Integers as values, floats as the bits of their type.
          (*buffers.back().getAsObject())["data"] = std::move(data);
          return success();
        })
        .Case([&](memref::SubViewOp subview) -> LogicalResult {
          auto it = views.find(subview.getSource());
          if (it == views.end())
            return emitError(subview, "views an unknown buffer");
          View source = it->second;
          auto foldResult = [&](OpFoldResult value) -> FailureOr<Json> {
            if (auto attr = dyn_cast<Attribute>(value))
              return constant(cast<IntegerAttr>(attr).getInt());
            return expr(cast<mlir::Value>(value));
          };
          Json offset = source.offset;
          Exprs sizes, strides;
          llvm::SmallBitVector dropped = subview.getDroppedDims();
          for (auto [d, pieces] : llvm::enumerate(
                   llvm::zip(subview.getMixedOffsets(), subview.getMixedSizes(),
                             subview.getMixedStrides()))) {
            auto [offsetPart, sizePart, stridePart] = pieces;
            FailureOr<Json> start = foldResult(offsetPart);
            FailureOr<Json> size = foldResult(sizePart);
            FailureOr<Json> step = foldResult(stridePart);
            if (failed(start) || failed(size) || failed(step))
              return failure();
            offset = apply(
                "add",
                Array{offset, apply("mul", Array{*start, source.strides[d]})});
            if (dropped.test(d))
              continue;
            sizes.push_back(*size);
            strides.push_back(apply("mul", Array{source.strides[d], *step}));
          }
          views[subview.getResult()] =
              View{source.buffer, offset, std::move(sizes), std::move(strides)};
          return success();
        })
        .Case([&](memref::CastOp cast) -> LogicalResult {
          auto it = views.find(cast.getSource());
          if (it == views.end())
            return emitError(cast, "casts an unknown buffer");
          views[cast.getResult()] = it->second;
          return success();
        })
        .Case([&](gpu::LaunchFuncOp launch) -> LogicalResult {
          FailureOr<Exprs> grid =
              exprs({launch.getGridSizeX(), launch.getGridSizeY(),
                     launch.getGridSizeZ()});
          FailureOr<Exprs> block =
              exprs({launch.getBlockSizeX(), launch.getBlockSizeY(),
                     launch.getBlockSizeZ()});
          if (failed(grid) || failed(block))
            return failure();
          Array args;
          Json sharedMemory = constant(0);
          if (mlir::Value dynamicShared = launch.getDynamicSharedMemorySize()) {
            FailureOr<Json> sharedExpr = expr(dynamicShared);
            if (failed(sharedExpr))
              return failure();
            sharedMemory = *sharedExpr;
          }
          for (mlir::Value operand : launch.getKernelOperands()) {
            FailureOr<Json> arg = argument(operand);
            if (failed(arg))
              return failure();
            args.push_back(*arg);
          }
          launches.push_back(
              Object{{"module", launch.getKernelModuleName().getValue().str()},
                     {"kernel", launch.getKernelName().getValue().str()},
                     {"config", kernelConfig(launch)},
                     {"grid", Array(*grid)},
                     {"block", Array(*block)},
                     {"shared_memory", sharedMemory},
                     {"args", std::move(args)}});
          return success();
        })
        .Case([&](func::ReturnOp ret) -> LogicalResult {
          for (mlir::Value result : ret.getOperands()) {
            auto it = views.find(result);
            if (it == views.end())
              return emitError(ret, "returns a buffer of unknown origin");
            const View &view = it->second;
            Object &buffer = *buffers[view.buffer].getAsObject();
            if (buffer["kind"] == Json("intermediate"))
              buffer["kind"] = "output";
            // A whole buffer as its id; a view of one (a reshape of the
            // result, a subview) with its offset, sizes and strides.
            if (view.offset == constant(0) && Json(Array(view.sizes)) == buffer["shape"] &&
                view.strides == contiguousStrides(view.sizes)) {
              outputs.push_back(view.buffer);
              continue;
            }
            outputs.push_back(Object{{"buffer", view.buffer},
                                     {"offset", view.offset},
                                     {"sizes", Array(view.sizes)},
                                     {"strides", Array(view.strides)}});
          }
          return success();
        })
        .Case([&](cf::AssertOp check) -> LogicalResult {
          // A shape rule of the inputs: the runtime evaluates it before any
          // launch and refuses the call with the message.
          FailureOr<Json> condition = expr(check.getArg());
          if (failed(condition))
            return failure();
          checks.push_back(Object{{"condition", *condition},
                                  {"message", check.getMsg().str()}});
          return success();
        })
        // Buffers live as long as the runtime keeps them.
        .Case<memref::DeallocOp>([](Operation *) { return success(); })
        .Default([&](Operation *other) -> LogicalResult {
          // Index computations are expanded where they are used.
          if (isa<arith::ArithDialect, affine::AffineDialect>(
                  other->getDialect()) ||
              isa<memref::DimOp>(other))
            return success();
          return emitError(other, "unsupported host operation");
        });
  }

  func::FuncOp func;
  Array buffers, checks, launches, outputs;
  llvm::DenseMap<mlir::Value, View> views;
  llvm::DenseMap<mlir::Value, Json> knownExprs;
};

} // namespace

FailureOr<Object> sparse_attn::buildLaunchPlan(func::FuncOp hostFunc) {
  return PlanBuilder(hostFunc).build();
}
