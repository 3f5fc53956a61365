//===- KernelBuilder.h - IR of a tensor-core kernel body --------*- C++ -*-===//
//
// The scalar, vector and warp-level ops the attention kernels are built
// from: f32 arithmetic, PTX's approximate exp2/log2, quad reductions,
// 16-bit operand registers, i32 loads and stores of shared lists.
//
//===----------------------------------------------------------------------===//

#ifndef SPARSE_ATTN_LIB_CONVERSION_SPARSEATTNTONVGPU_KERNELBUILDER_H
#define SPARSE_ATTN_LIB_CONVERSION_SPARSEATTNTONVGPU_KERNELBUILDER_H

#include "SparseAttn/Utils/IndexArith.h"

#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::sparse_attn {

/// `tensor` as a read-only buffer with a fully dynamic strided layout (for
/// kernels that read it by memref.load: segment ids, captured tables).
Value toReadOnlyBuffer(OpBuilder &builder, Location loc, Value tensor);
/// `tensor` as a read-only memref whose innermost stride is 1 (rows the
/// kernels load in vectors; any other layout of the tensor's buffer is a
/// cast away).
Value toKernelBuffer(OpBuilder &builder, Location loc, Value tensor);
/// Replaces `op`'s results by tensors of the buffers the kernels wrote
/// (`memrefs`, one per result, in order).
void replaceByWrittenBuffers(PatternRewriter &rewriter, Operation *op,
                             ValueRange memrefs);

/// Builds the ops of a kernel body at one insertion point; `element` is the
/// kernel's input type (f16 or bf16).
class KernelBuilder : public IndexArith {
public:
  KernelBuilder(OpBuilder &builder, Location loc, Type element)
      : IndexArith(builder, loc), element(element) {}

  Type element;

  Value f32(double value);
  Value fadd(Value x, Value y);
  Value fmul(Value x, Value y);
  Value fsub(Value x, Value y);
  /// NaN-propagating, as the reference's row maximum.
  Value fmax(Value x, Value y);
  Value isNegInf(Value x);

  /// PTX's ex2.approx / lg2.approx (relative error about 2^-22): no
  /// libdevice, and the softmax's exponentials stay one instruction each.
  Value exp2(Value x);
  Value log2(Value x);

  /// `x` combined with the values of the lanes `x ^ 1` and `x ^ 2`: the four
  /// lanes that hold one row of an mma accumulator.
  Value quadReduce(Value x, function_ref<Value(Value, Value)> combine);

  /// vector<2 x element>.
  VectorType pairType();
  /// A pair of 16-bit elements as the register type mma.sync takes: f16x2
  /// for f16, i32 for bf16.
  Value toOperand(Value pair);
  /// Two f32 values rounded into one operand register.
  Value packPair(Value lo, Value hi);
  /// An operand register (f16x2 or i32) as an i32.
  Value asI32(Value operand);

  /// ldmatrix of `tiles` 8x8 matrices of `element` at `indices` of `shared`
  /// (a 2-d view); one operand register each.
  SmallVector<Value> loadMatrices(Value shared, ValueRange indices,
                                  int64_t tiles, bool transpose);
  /// acc (4 x f32) += A B by one mma.sync: m16n8k16 on `element` operands
  /// (4 A and 2 B registers), or with `tf32` m16n8k8 on tf32 registers
  /// (i32; 4 A and 2 B).
  SmallVector<Value> mmaSync(ArrayRef<Value> a, ArrayRef<Value> b,
                             ArrayRef<Value> acc, bool tf32 = false);

  /// cp.async.wait_group `pending`: waits until at most `pending` of this
  /// thread's committed groups of asynchronous copies are in flight.
  void asyncWait(int32_t pending);
  /// Stores `zero` to columns [`from`, `to`) of the `rows` rows of the 2-d
  /// `tile`, the block's `threads` threads (`tid`) splitting the elements.
  void zeroColumns(Value tid, int64_t threads, Value tile, int64_t rows,
                   int64_t from, int64_t to, Value zero);

  /// The first `count` fields of an LLVM struct value.
  SmallVector<Value> extractFields(Value structValue, int64_t count);

  /// An i32 element of `memref` as an index, and back.
  Value loadI32(Value memref, ValueRange indices);
  /// The block's dynamic shared memory, as bytes (`gpu.dynamic_shared_memory`).
  Value dynamicSharedMemory();
  /// A view of `shape` x `type` at byte `offset` of the dynamic shared
  /// memory `base` (`dynamicSizes` for its dynamic dims).
  Value sharedView(Value base, Value offset, ArrayRef<int64_t> shape, Type type,
                   ValueRange dynamicSizes = {});
  /// bar.warp.sync over the whole warp: orders the lanes' shared-memory
  /// accesses before and after it.
  void syncWarp();
  /// `body` under an scf.if on `condition` (no results), at the builder's
  /// insertion point; the insertion point is restored after it.
  void ifThen(Value condition, function_ref<void()> body);
  /// `body(at, i)` for i from `first` below `end` by `step` (an scf.for
  /// without results; `at` builds inside it).
  void forRange(Value first, Value end, Value step,
                function_ref<void(KernelBuilder &, Value)> body);
  /// Whether `entry(at, i)` equals `value` for some i in [0, end): a list's
  /// entry repeated at an earlier slot (an i1; a loop with no early exit).
  Value repeatsEarlier(Value end, Value value,
                       function_ref<Value(KernelBuilder &, Value)> entry);
  /// `x` (an index holding an i32) combined over the warp's 32 lanes.
  Value warpReduceI32(Value x, function_ref<Value(Value, Value)> combine);
  /// How many of the warp's lanes hold `predicate` (an i1), as an index;
  /// every lane must take part.
  Value ballotCount(Value predicate);
  /// How many lanes below `lane` hold `predicate` (every lane takes part).
  Value laneRank(Value lane, Value predicate);
  void storeI32(Value value, Value memref, ValueRange indices);
  /// An f32 as an i32 whose unsigned order is the floats' (-0 and +0 one
  /// key; every non-NaN key above 0x007FFFFE; NaN's key unspecified).
  Value orderedKey(Value x);

  /// Copies `rows` rows of `dim` elements (of `element`) into the 2-d
  /// `tile`, the block's `threads` threads (`tid`) splitting 16-byte
  /// chunks: `row(at, r)` gives the source indices of row `r` but the
  /// column, and whether the row exists; missing rows and the columns
  /// [`dim`, `paddedDim`) are zero.
  void copyRows(
      Value tid, int64_t threads, Value source, Value tile, int64_t rows,
      int64_t dim, int64_t paddedDim,
      function_ref<std::pair<SmallVector<Value>, Value>(KernelBuilder &, Value)>
          row);
  /// The sum of `x` (an index holding an i32) over lanes 0 .. `lane` (every
  /// lane takes part).
  Value warpInclusiveScan(Value lane, Value x);
  /// The sum of `x` (an index holding an i32) over the block's threads
  /// below `tid`, and over all of them: every one of the `threads` threads
  /// takes part (barriers inside); `scratch` is a shared i32 [threads / 32].
  std::pair<Value, Value> blockExclusiveScan(Value tid, int64_t threads,
                                             Value x, Value scratch);

  /// One digit of a radix select, found by one warp from a histogram of
  /// 256 bins (shared i32 at `histPrefix`, bin): the digit (an i32) of the
  /// `remaining`-th largest key, the keys in higher bins (`above`) and in
  /// all bins (`total`), as indices the same in every lane. Needs 1 <=
  /// remaining <= total.
  struct RadixDigit {
    Value digit, above, total;
  };
  RadixDigit findRadixDigit(Value lane, Value hist, ValueRange histPrefix,
                            Value remaining);

private:
  Value intrinsic(StringRef name, Value x);
  /// A vector of two 16-bit elements as one i32.
  Value bitcastToI32(Value pair);
};

} // namespace mlir::sparse_attn

#endif // SPARSE_ATTN_LIB_CONVERSION_SPARSEATTNTONVGPU_KERNELBUILDER_H
