// RUN: sparse-attn-opt %s --split-input-file --sparse-attn-tile --canonicalize | FileCheck %s --check-prefix=SM90
// RUN: sparse-attn-opt %s --split-input-file --sparse-attn-tile="chip=sm_80" --canonicalize | FileCheck %s --check-prefix=SM80
// RUN: sparse-attn-opt %s --split-input-file --sparse-attn-tile="block-q=32 block-kv=16 stages=1" --canonicalize | FileCheck %s --check-prefix=FORCED

// The cost model: the largest query and kv tiles (128, 64, 32, 16) that fit
// the chip's shared memory per block with the most stages (sm_90: 227 KB,
// up to 3 stages; sm_80: 163 KB, up to 2):
// bytes = elementBytes * (block_q * D + stages * block_kv * (D + Dv)).

// bf16, D = Dv = 128: 2 * (128*128 + 3*128*256) = 229376 fits sm_90;
// sm_80 takes 2 stages: 2 * (128*128 + 2*128*256) = 163840.
// SM90-LABEL: func.func @bf16_d128
// (Canonicalization drops the unit batch dim of the forall.)
// SM90: scf.forall (%{{.*}}, %{{.*}}) in (8, 32)
// SM90: } {sparse_attn.tile = {block_kv = 128 : i64, block_q = 128 : i64, shared_memory_bytes = 229376 : i64, stages = 3 : i64}}
// SM80-LABEL: func.func @bf16_d128
// SM80: } {sparse_attn.tile = {block_kv = 128 : i64, block_q = 128 : i64, shared_memory_bytes = 163840 : i64, stages = 2 : i64}}
// FORCED-LABEL: func.func @bf16_d128
// FORCED: scf.forall (%{{.*}}, %{{.*}}) in (8, 128)
// FORCED: } {sparse_attn.tile = {block_kv = 16 : i64, block_q = 32 : i64, shared_memory_bytes = 16384 : i64, stages = 1 : i64}}
func.func @bf16_d128(%q: tensor<1x8x4096x128xbf16>, %k: tensor<1x8x4096x128xbf16>, %v: tensor<1x8x4096x128xbf16>) -> (tensor<1x8x4096x128xbf16>, tensor<1x8x4096xf32>) {
  %o, %lse = sparse_attn.attention %q, %k, %v {mask = #sparse_attn.causal}
      : tensor<1x8x4096x128xbf16>, tensor<1x8x4096x128xbf16>, tensor<1x8x4096x128xbf16> -> tensor<1x8x4096x128xbf16>, tensor<1x8x4096xf32>
  return %o, %lse : tensor<1x8x4096x128xbf16>, tensor<1x8x4096xf32>
}

// -----

// f32, D = Dv = 128: two stages of 128-key tiles do not fit sm_90
// (4 * (128*128 + 2*128*256) = 327680 > 232448); 64-key tiles do:
// 4 * (128*128 + 2*64*256) = 196608. sm_80 (166912) keeps double buffering
// with 32-key tiles (131072) rather than a single 64-key stage.
// SM90-LABEL: func.func @f32_d128
// SM90: } {sparse_attn.tile = {block_kv = 64 : i64, block_q = 128 : i64, shared_memory_bytes = 196608 : i64, stages = 2 : i64}}
// SM80-LABEL: func.func @f32_d128
// SM80: } {sparse_attn.tile = {block_kv = 32 : i64, block_q = 128 : i64, shared_memory_bytes = 131072 : i64, stages = 2 : i64}}
func.func @f32_d128(%q: tensor<?x4x?x128xf32>, %k: tensor<?x4x?x128xf32>, %v: tensor<?x4x?x128xf32>) -> (tensor<?x4x?x128xf32>, tensor<?x4x?xf32>) {
  %o, %lse = sparse_attn.attention %q, %k, %v
      : tensor<?x4x?x128xf32>, tensor<?x4x?x128xf32>, tensor<?x4x?x128xf32> -> tensor<?x4x?x128xf32>, tensor<?x4x?xf32>
  return %o, %lse : tensor<?x4x?x128xf32>, tensor<?x4x?xf32>
}

// -----

// Decode (Sq = 1): a 16-row query tile is enough.
// SM90-LABEL: func.func @decode_d64
// SM90: scf.forall (%{{.*}}, %{{.*}}) in (2, 32)
// SM90: } {sparse_attn.tile = {block_kv = 128 : i64, block_q = 16 : i64, shared_memory_bytes = 100352 : i64, stages = 3 : i64}}
func.func @decode_d64(%q: tensor<2x32x1x64xf16>, %k: tensor<2x8x?x64xf16>, %v: tensor<2x8x?x64xf16>) -> (tensor<2x32x1x64xf16>, tensor<2x32x1xf32>) {
  %o, %lse = sparse_attn.attention %q, %k, %v {mask = #sparse_attn.causal}
      : tensor<2x32x1x64xf16>, tensor<2x8x?x64xf16>, tensor<2x8x?x64xf16> -> tensor<2x32x1x64xf16>, tensor<2x32x1xf32>
  return %o, %lse : tensor<2x32x1x64xf16>, tensor<2x32x1xf32>
}

// -----

// Block-sparse tiles divide the blocks: [128, 128] bf16 D = 128 as is.
// SM90-LABEL: func.func @block_sparse
// SM90: scf.forall
// SM90: scf.for %{{.*}} = %c0 to %{{.*}} step %c1 iter_args
// SM90: tensor.extract %{{.*}} : tensor<1x2x32x8xi32>
// SM90: scf.if
// SM90: } {sparse_attn.tile = {block_kv = 128 : i64, block_q = 128 : i64, shared_memory_bytes = 229376 : i64, stages = 3 : i64}}
func.func @block_sparse(%q: tensor<1x8x4096x128xbf16>, %k: tensor<1x2x4096x128xbf16>, %v: tensor<1x2x4096x128xbf16>, %num: tensor<1x2x32xi32>, %idx: tensor<1x2x32x8xi32>) -> (tensor<1x8x4096x128xbf16>, tensor<1x8x4096xf32>) {
  %o, %lse = sparse_attn.block_sparse_attention %q, %k, %v, %num, %idx {block = [128, 128], mask = #sparse_attn.causal}
      : tensor<1x8x4096x128xbf16>, tensor<1x2x4096x128xbf16>, tensor<1x2x4096x128xbf16>, tensor<1x2x32xi32>, tensor<1x2x32x8xi32> -> tensor<1x8x4096x128xbf16>, tensor<1x8x4096xf32>
  return %o, %lse : tensor<1x8x4096x128xbf16>, tensor<1x8x4096xf32>
}
