// Mask combinators nested far past the limit end in the nesting diagnostic
// at depth 17, before the parser descends further (a recursive parse of
// thousands of levels would exhaust the stack).
// RUN: %python -c "n = 7000; print('func.func @f() attributes {m = ' + '#sparse_attn.intersect<[' * n + '#sparse_attn.causal' + ']>' * n + '} { return }')" > %t.intersect.mlir
// RUN: not sparse-attn-opt %t.intersect.mlir 2>&1 | FileCheck %s --check-prefix=INTERSECT
// RUN: %python -c "n = 20000; print('func.func @f() attributes {m = ' + '#sparse_attn.union<[' * n + '#sparse_attn.causal' + ']>' * n + '} { return }')" > %t.union.mlir
// RUN: not sparse-attn-opt %t.union.mlir 2>&1 | FileCheck %s --check-prefix=UNION
// RUN: %python -c "n = 15; print('func.func @f() attributes {m = ' + '#sparse_attn.union<[' * n + '#sparse_attn.causal' + ']>' * n + '} { return }')" > %t.limit.mlir
// RUN: sparse-attn-opt %t.limit.mlir | FileCheck %s --check-prefix=LIMIT

// INTERSECT: error: intersect nests masks 17 deep; at most 16 are supported
// INTERSECT-NOT: error
// UNION: error: union nests masks 17 deep; at most 16 are supported
// Fifteen combinators around a mask (16 levels) are still accepted.
// LIMIT: func.func @f() attributes {m = #sparse_attn.union<[#sparse_attn.union<[
