//===- IndexArith.h - index and i1 arithmetic at one point ------*- C++ -*-===//
//
// The integer arithmetic every lowering of sparse_attn builds: constants,
// offsets, divisions, compares and selects on `index` and `i1` values.
//
//===----------------------------------------------------------------------===//

#ifndef SPARSE_ATTN_UTILS_INDEXARITH_H
#define SPARSE_ATTN_UTILS_INDEXARITH_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Builders.h"

namespace mlir::sparse_attn {

/// Builds `index` and `i1` arithmetic at `builder`'s insertion point. Each
/// call creates its ops in the order its arguments are written, so the IR
/// does not depend on the C++ compiler's evaluation order beyond that.
class IndexArith {
public:
  IndexArith(OpBuilder &builder, Location loc) : builder(builder), loc(loc) {}

  OpBuilder &builder;
  Location loc;

  Value index(int64_t value) {
    return arith::ConstantIndexOp::create(builder, loc, value);
  }
  Value boolean(bool value) {
    return arith::ConstantIntOp::create(builder, loc, value, 1);
  }

  Value add(Value x, Value y) {
    return arith::AddIOp::create(builder, loc, x, y);
  }
  /// `x + value`, or `x` itself when `value` is 0.
  Value add(Value x, int64_t value) { return value ? add(x, index(value)) : x; }
  Value sub(Value x, Value y) {
    return arith::SubIOp::create(builder, loc, x, y);
  }
  Value mul(Value x, Value y) {
    return arith::MulIOp::create(builder, loc, x, y);
  }
  Value mul(Value x, int64_t value) { return mul(x, index(value)); }
  /// Unsigned division and remainder: for values known non-negative
  /// (thread ids, tile counters), where they are cheaper than signed ones.
  Value udiv(Value x, int64_t divisor) {
    return arith::DivUIOp::create(builder, loc, x, index(divisor));
  }
  Value urem(Value x, int64_t divisor) {
    return arith::RemUIOp::create(builder, loc, x, index(divisor));
  }
  /// Signed division and remainder (rounding toward zero).
  Value sdiv(Value x, int64_t divisor) {
    return arith::DivSIOp::create(builder, loc, x, index(divisor));
  }
  Value srem(Value x, int64_t divisor) {
    return arith::RemSIOp::create(builder, loc, x, index(divisor));
  }
  Value min(Value x, Value y) {
    return arith::MinSIOp::create(builder, loc, x, y);
  }
  Value max(Value x, Value y) {
    return arith::MaxSIOp::create(builder, loc, x, y);
  }

  Value cmp(arith::CmpIPredicate predicate, Value x, Value y) {
    return arith::CmpIOp::create(builder, loc, predicate, x, y);
  }
  Value lt(Value x, Value y) { return cmp(arith::CmpIPredicate::slt, x, y); }
  Value le(Value x, Value y) { return cmp(arith::CmpIPredicate::sle, x, y); }
  Value eq(Value x, Value y) { return cmp(arith::CmpIPredicate::eq, x, y); }
  Value select(Value condition, Value x, Value y) {
    return arith::SelectOp::create(builder, loc, condition, x, y);
  }
  Value andI(Value x, Value y) {
    return arith::AndIOp::create(builder, loc, x, y);
  }
  Value orI(Value x, Value y) {
    return arith::OrIOp::create(builder, loc, x, y);
  }
  /// `not x` of an i1.
  Value notI(Value x) {
    return arith::XOrIOp::create(builder, loc, x, boolean(true));
  }
};

} // namespace mlir::sparse_attn

#endif // SPARSE_ATTN_UTILS_INDEXARITH_H
