// One case per diagnostic of the dialect.
// RUN: sparse-attn-opt %s -split-input-file -verify-diagnostics -allow-unregistered-dialect

//===----------------------------------------------------------------------===//
// Mask attributes
//===----------------------------------------------------------------------===//

// expected-error @+1 {{sliding_window expects left >= 0 and right >= 0, got left = -1, right = 0}}
func.func @sliding_window_negative() attributes {m = #sparse_attn.sliding_window<left = -1, right = 0>} { return }

// -----

// expected-error @+1 {{sink_window expects sink >= 0 and window >= 0, got sink = 4, window = -8}}
func.func @sink_window_negative() attributes {m = #sparse_attn.sink_window<sink = 4, window = -8>} { return }

// -----

// expected-error @+1 {{duplicate or unknown struct parameter name: rigth}}
func.func @sliding_window_unknown_parameter() attributes {m = #sparse_attn.sliding_window<left = 1, rigth = 2>} { return }

// -----

// expected-error @+1 {{neighborhood expects a grid of 1 to 3 dimensions, got 4}}
func.func @neighborhood_rank() attributes {m = #sparse_attn.neighborhood<grid = [2, 2, 2, 2], window = [1, 1, 1, 1]>} { return }

// -----

// expected-error @+1 {{neighborhood expects window, dilation and causal to have one entry per grid dimension (2), got 1, 2 and 2}}
func.func @neighborhood_arity() attributes {m = #sparse_attn.neighborhood<grid = [8, 8], window = [3]>} { return }

// -----

// expected-error @+1 {{neighborhood expects grid, window and dilation >= 1, got grid = 8, window = 3, dilation = 0 in dimension 1}}
func.func @neighborhood_dilation_zero() attributes {m = #sparse_attn.neighborhood<grid = [8, 8], window = [3, 3], dilation = [1, 0]>} { return }

// -----

// expected-error @+1 {{neighborhood window 5 times dilation 2 exceeds the grid extent 8 in dimension 0}}
func.func @neighborhood_window_too_large() attributes {m = #sparse_attn.neighborhood<grid = [8], window = [5], dilation = [2]>} { return }

// -----

// expected-error @+1 {{neighborhood grid holds more than 2147483647 tokens}}
func.func @neighborhood_too_many_tokens() attributes {m = #sparse_attn.neighborhood<grid = [65536, 65536], window = [3, 3]>} { return }

// -----

// expected-error @+1 {{expected 'true' or 'false'}}
func.func @neighborhood_causal_not_bool() attributes {m = #sparse_attn.neighborhood<grid = [8], window = [3], causal = [1]>} { return }

// -----

// expected-error @+1 {{expected 'dilation' or 'causal' (in this order)}}
func.func @neighborhood_parameter_order() attributes {m = #sparse_attn.neighborhood<grid = [8], window = [3], causal = [true], dilation = [1]>} { return }

// -----

// expected-error @+1 {{expected '[' starting a list of masks}}
func.func @combinator_without_list() attributes {m = #sparse_attn.intersect<#sparse_attn.causal>} { return }

// -----

// expected-error @+1 {{intersect expects a non-empty list of masks}}
func.func @intersect_empty() attributes {m = #sparse_attn.intersect<[]>} { return }

// -----

// expected-error @+1 {{union expects a non-empty list of masks}}
func.func @union_empty() attributes {m = #sparse_attn.union<[]>} { return }

// -----

// expected-error @+1 {{union element #1 is not a mask attribute: 5 : i64}}
func.func @union_non_mask() attributes {m = #sparse_attn.union<[#sparse_attn.causal, 5]>} { return }

// -----

// expected-error @+1 {{intersect nests masks 17 deep; at most 16 are supported}}
func.func @combinator_too_deep() attributes {m = #sparse_attn.intersect<[#sparse_attn.intersect<[#sparse_attn.intersect<[#sparse_attn.intersect<[#sparse_attn.intersect<[#sparse_attn.intersect<[#sparse_attn.intersect<[#sparse_attn.intersect<[#sparse_attn.intersect<[#sparse_attn.intersect<[#sparse_attn.intersect<[#sparse_attn.intersect<[#sparse_attn.intersect<[#sparse_attn.intersect<[#sparse_attn.intersect<[#sparse_attn.intersect<[#sparse_attn.causal]>]>]>]>]>]>]>]>]>]>]>]>]>]>]>]>} { return }

// -----

func.func @pool_kind(%k: tensor<1x2x64x16xf32>) {
  // expected-error @+1 {{expected pooling kind 'mean' or 'max', got 'sum'}}
  %kp = sparse_attn.pool sum %k {block = 16} : tensor<1x2x64x16xf32> -> tensor<1x2x4x16xf32>
  return
}

//===----------------------------------------------------------------------===//
// attention
//===----------------------------------------------------------------------===//

// -----

func.func @attention_element_types(%q: tensor<1x4x16x8xf16>, %k: tensor<1x2x16x8xf32>, %v: tensor<1x2x16x8xf32>) {
  // expected-error @+1 {{'sparse_attn.attention' op expects query, key and value of one element type, got 'f16', 'f32' and 'f32'}}
  %o, %l = sparse_attn.attention %q, %k, %v : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32> -> tensor<1x4x16x8xf16>, tensor<1x4x16xf32>
  return
}

// -----

func.func @attention_operand_type(%q: tensor<1x4x16x8xi32>, %k: tensor<1x2x16x8xf32>, %v: tensor<1x2x16x8xf32>) {
  // expected-error @+1 {{'sparse_attn.attention' op operand #0 must be 4D tensor of 16-bit float or bfloat16 type or 32-bit float values, but got 'tensor<1x4x16x8xi32>'}}
  %o, %l = sparse_attn.attention %q, %k, %v : tensor<1x4x16x8xi32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32> -> tensor<1x4x16x8xf32>, tensor<1x4x16xf32>
  return
}

// -----

func.func @attention_dynamic_heads(%q: tensor<1x?x16x8xf32>, %k: tensor<1x2x16x8xf32>, %v: tensor<1x2x16x8xf32>) {
  // expected-error @+1 {{expects static heads and head dim in query, got 'tensor<1x?x16x8xf32>'}}
  %o, %l = sparse_attn.attention %q, %k, %v : tensor<1x?x16x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32> -> tensor<1x4x16x8xf32>, tensor<1x4x16xf32>
  return
}

// -----

func.func @attention_batch(%q: tensor<2x4x16x8xf32>, %k: tensor<1x2x16x8xf32>, %v: tensor<?x2x16x8xf32>) {
  // expected-error @+1 {{expects query, key and value to share the batch size, got [2, 1, ?]}}
  %o, %l = sparse_attn.attention %q, %k, %v : tensor<2x4x16x8xf32>, tensor<1x2x16x8xf32>, tensor<?x2x16x8xf32> -> tensor<2x4x16x8xf32>, tensor<2x4x16xf32>
  return
}

// -----

func.func @attention_kv_heads(%q: tensor<1x4x16x8xf32>, %k: tensor<1x2x16x8xf32>, %v: tensor<1x4x16x8xf32>) {
  // expected-error @+1 {{expects key and value to have the same number of heads, got 2 and 4}}
  %o, %l = sparse_attn.attention %q, %k, %v : tensor<1x4x16x8xf32>, tensor<1x2x16x8xf32>, tensor<1x4x16x8xf32> -> tensor<1x4x16x8xf32>, tensor<1x4x16xf32>
  return
}

// -----

func.func @attention_gqa_ratio(%q: tensor<1x4x16x8xf32>, %k: tensor<1x3x16x8xf32>, %v: tensor<1x3x16x8xf32>) {
  // expected-error @+1 {{expects query heads (4) to be a multiple of key/value heads (3)}}
  %o, %l = sparse_attn.attention %q, %k, %v : tensor<1x4x16x8xf32>, tensor<1x3x16x8xf32>, tensor<1x3x16x8xf32> -> tensor<1x4x16x8xf32>, tensor<1x4x16xf32>
  return
}

// -----

func.func @attention_head_dim(%q: tensor<1x4x16x8xf32>, %k: tensor<1x2x16x16xf32>, %v: tensor<1x2x16x8xf32>) {
  // expected-error @+1 {{expects query and key head dims to match, got 8 and 16}}
  %o, %l = sparse_attn.attention %q, %k, %v : tensor<1x4x16x8xf32>, tensor<1x2x16x16xf32>, tensor<1x2x16x8xf32> -> tensor<1x4x16x8xf32>, tensor<1x4x16xf32>
  return
}

// -----

func.func @attention_kv_length(%q: tensor<1x4x16x8xf32>, %k: tensor<1x2x16x8xf32>, %v: tensor<1x2x32x8xf32>) {
  // expected-error @+1 {{expects key and value lengths to match, got 16 and 32}}
  %o, %l = sparse_attn.attention %q, %k, %v : tensor<1x4x16x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x32x8xf32> -> tensor<1x4x16x8xf32>, tensor<1x4x16xf32>
  return
}

// -----

func.func @attention_output(%q: tensor<1x4x16x8xf32>, %k: tensor<1x2x16x8xf32>, %v: tensor<1x2x16x32xf32>) {
  // expected-error @+1 {{expects output of shape [B, Hq, Sq, Dv] = [1, 4, 16, 32] with element type 'f32', got 'tensor<1x4x16x8xf32>'}}
  %o, %l = sparse_attn.attention %q, %k, %v : tensor<1x4x16x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x32xf32> -> tensor<1x4x16x8xf32>, tensor<1x4x16xf32>
  return
}

// -----

func.func @attention_lse(%q: tensor<?x4x?x8xf32>, %k: tensor<?x2x?x8xf32>, %v: tensor<?x2x?x8xf32>) {
  // expected-error @+1 {{expects lse of shape [B, Hq, Sq] = [?, 4, ?] with element type 'f32', got 'tensor<?x2x?xf32>'}}
  %o, %l = sparse_attn.attention %q, %k, %v : tensor<?x4x?x8xf32>, tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32> -> tensor<?x4x?x8xf32>, tensor<?x2x?xf32>
  return
}

// -----

func.func @attention_scale(%q: tensor<1x4x16x8xf32>, %k: tensor<1x2x16x8xf32>, %v: tensor<1x2x16x8xf32>) {
  // expected-error @+1 {{expects a finite scale, got 0x7F800000 : f32}}
  %o, %l = sparse_attn.attention %q, %k, %v {scale = 0x7F800000 : f32} : tensor<1x4x16x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32> -> tensor<1x4x16x8xf32>, tensor<1x4x16xf32>
  return
}

// -----

func.func @attention_mask_not_a_mask(%q: tensor<1x4x16x8xf32>, %k: tensor<1x2x16x8xf32>, %v: tensor<1x2x16x8xf32>) {
  // expected-error @+1 {{'sparse_attn.attention' op attribute 'mask' failed to satisfy constraint: sparse_attn mask attribute}}
  %o, %l = sparse_attn.attention %q, %k, %v {mask = 1 : i32} : tensor<1x4x16x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32> -> tensor<1x4x16x8xf32>, tensor<1x4x16xf32>
  return
}

// -----

func.func @attention_neighborhood_length(%q: tensor<1x4x16x8xf32>, %k: tensor<1x2x16x8xf32>, %v: tensor<1x2x16x8xf32>) {
  // expected-error @+1 {{neighborhood grid holds 64 tokens but the key length is 16}}
  %o, %l = sparse_attn.attention %q, %k, %v {mask = #sparse_attn.union<[#sparse_attn.causal, #sparse_attn.neighborhood<grid = [8, 8], window = [3, 3]>]>} : tensor<1x4x16x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32> -> tensor<1x4x16x8xf32>, tensor<1x4x16xf32>
  return
}

// -----

func.func @attention_document_without_segments(%q: tensor<1x4x16x8xf32>, %k: tensor<1x2x16x8xf32>, %v: tensor<1x2x16x8xf32>) {
  // expected-error @+1 {{mask #sparse_attn.intersect<[#sparse_attn.causal, #sparse_attn.document]> reads segment ids, but the op has no segment_ids(...) operands}}
  %o, %l = sparse_attn.attention %q, %k, %v {mask = #sparse_attn.intersect<[#sparse_attn.causal, #sparse_attn.document]>} : tensor<1x4x16x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32> -> tensor<1x4x16x8xf32>, tensor<1x4x16xf32>
  return
}

// -----

func.func @attention_segments_without_document(%q: tensor<1x4x16x8xf32>, %k: tensor<1x2x16x8xf32>, %v: tensor<1x2x16x8xf32>, %s: tensor<1x16xi32>) {
  // expected-error @+1 {{has segment_ids(...) operands, but no #sparse_attn.document mask reads them}}
  %o, %l = sparse_attn.attention %q, %k, %v segment_ids(%s, %s : tensor<1x16xi32>, tensor<1x16xi32>) {mask = #sparse_attn.causal} : tensor<1x4x16x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32> -> tensor<1x4x16x8xf32>, tensor<1x4x16xf32>
  return
}

// -----

func.func @attention_one_segment_operand(%q: tensor<1x4x16x8xf32>, %k: tensor<1x2x16x8xf32>, %v: tensor<1x2x16x8xf32>, %s: tensor<1x16xi32>) {
  // expected-error @+1 {{expects segment ids for both queries and keys, or neither}}
  %o:2 = "sparse_attn.attention"(%q, %k, %v, %s) <{mask = #sparse_attn.document, operandSegmentSizes = array<i32: 1, 1, 1, 1, 0>}> ({}, {}) : (tensor<1x4x16x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>, tensor<1x16xi32>) -> (tensor<1x4x16x8xf32>, tensor<1x4x16xf32>)
  return
}

// -----

func.func @attention_query_segments(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %sq: tensor<1x16xi32>, %skv: tensor<2x16xi32>) {
  // expected-error @+1 {{expects query segment ids of shape [B, Sq] = [2, 16] with element type 'i32', got 'tensor<1x16xi32>'}}
  %o, %l = sparse_attn.attention %q, %k, %v segment_ids(%sq, %skv : tensor<1x16xi32>, tensor<2x16xi32>) {mask = #sparse_attn.document} : tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32> -> tensor<2x4x16x8xf32>, tensor<2x4x16xf32>
  return
}

// -----

func.func @attention_key_segments(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x32x8xf32>, %v: tensor<2x2x32x8xf32>, %sq: tensor<2x16xi32>) {
  // expected-error @+1 {{expects key segment ids of shape [B, Skv] = [2, 32] with element type 'i32', got 'tensor<2x16xi32>'}}
  %o, %l = sparse_attn.attention %q, %k, %v segment_ids(%sq, %sq : tensor<2x16xi32>, tensor<2x16xi32>) {mask = #sparse_attn.document} : tensor<2x4x16x8xf32>, tensor<2x2x32x8xf32>, tensor<2x2x32x8xf32> -> tensor<2x4x16x8xf32>, tensor<2x4x16xf32>
  return
}

// -----

func.func @attention_mask_mod_arguments(%q: tensor<1x4x16x8xf32>, %k: tensor<1x2x16x8xf32>, %v: tensor<1x2x16x8xf32>) {
  // expected-error @+1 {{mask_mod region expects arguments (index, index, index, index), got (index, index, i32, index)}}
  %o, %l = sparse_attn.attention %q, %k, %v mask_mod {
  ^bb0(%b: index, %h: index, %i: i32, %j: index):
    %t = arith.constant true
    sparse_attn.yield %t : i1
  } : tensor<1x4x16x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32> -> tensor<1x4x16x8xf32>, tensor<1x4x16xf32>
  return
}

// -----

func.func @attention_mask_mod_yield(%q: tensor<1x4x16x8xf32>, %k: tensor<1x2x16x8xf32>, %v: tensor<1x2x16x8xf32>) {
  // expected-error @+1 {{mask_mod region must yield one 'i1', got (index)}}
  %o, %l = sparse_attn.attention %q, %k, %v mask_mod {
  ^bb0(%b: index, %h: index, %i: index, %j: index):
    sparse_attn.yield %i : index
  } : tensor<1x4x16x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32> -> tensor<1x4x16x8xf32>, tensor<1x4x16xf32>
  return
}

// -----

func.func @attention_score_mod_arguments(%q: tensor<1x4x16x8xf32>, %k: tensor<1x2x16x8xf32>, %v: tensor<1x2x16x8xf32>) {
  // expected-error @+1 {{score_mod region expects arguments (f32, index, index, index, index), got (f32)}}
  %o, %l = sparse_attn.attention %q, %k, %v score_mod {
  ^bb0(%s: f32):
    sparse_attn.yield %s : f32
  } : tensor<1x4x16x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32> -> tensor<1x4x16x8xf32>, tensor<1x4x16xf32>
  return
}

// -----

func.func @attention_score_mod_yield(%q: tensor<1x4x16x8xf32>, %k: tensor<1x2x16x8xf32>, %v: tensor<1x2x16x8xf32>) {
  // expected-error @+1 {{score_mod region must yield one 'f32', got ()}}
  %o, %l = sparse_attn.attention %q, %k, %v score_mod {
  ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
    sparse_attn.yield
  } : tensor<1x4x16x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32> -> tensor<1x4x16x8xf32>, tensor<1x4x16xf32>
  return
}

// -----

func.func @attention_mod_terminator(%q: tensor<1x4x16x8xf32>, %k: tensor<1x2x16x8xf32>, %v: tensor<1x2x16x8xf32>) {
  // expected-error @+1 {{mask_mod region must end in sparse_attn.yield}}
  %o, %l = sparse_attn.attention %q, %k, %v mask_mod {
  ^bb0(%b: index, %h: index, %i: index, %j: index):
    "test.terminator"() : () -> ()
  } : tensor<1x4x16x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32> -> tensor<1x4x16x8xf32>, tensor<1x4x16xf32>
  return
}

// -----

func.func @yield_outside_mod() {
  // expected-error @+1 {{'sparse_attn.yield' op expects parent op to be one of 'sparse_attn.attention, sparse_attn.block_sparse_attention'}}
  sparse_attn.yield
}

//===----------------------------------------------------------------------===//
// block_sparse_attention
//===----------------------------------------------------------------------===//

// -----

func.func @bsa_block_arity(%q: tensor<1x4x256x8xf32>, %k: tensor<1x2x256x8xf32>, %v: tensor<1x2x256x8xf32>, %n: tensor<1x1x2xi32>, %i: tensor<1x1x2x2xi32>) {
  // expected-error @+1 {{'sparse_attn.block_sparse_attention' op attribute 'block' failed to satisfy constraint: 64-bit integer array attribute with exactly 2 elements}}
  %o, %l = sparse_attn.block_sparse_attention %q, %k, %v, %n, %i {block = [128]} : tensor<1x4x256x8xf32>, tensor<1x2x256x8xf32>, tensor<1x2x256x8xf32>, tensor<1x1x2xi32>, tensor<1x1x2x2xi32> -> tensor<1x4x256x8xf32>, tensor<1x4x256xf32>
  return
}

// -----

func.func @bsa_block_size(%q: tensor<1x4x256x8xf32>, %k: tensor<1x2x256x8xf32>, %v: tensor<1x2x256x8xf32>, %n: tensor<1x1x2xi32>, %i: tensor<1x1x2x2xi32>) {
  // expected-error @+1 {{expects block sizes in [1, 2147483647], got [128, 0]}}
  %o, %l = sparse_attn.block_sparse_attention %q, %k, %v, %n, %i {block = [128, 0]} : tensor<1x4x256x8xf32>, tensor<1x2x256x8xf32>, tensor<1x2x256x8xf32>, tensor<1x1x2xi32>, tensor<1x1x2x2xi32> -> tensor<1x4x256x8xf32>, tensor<1x4x256xf32>
  return
}

// -----

func.func @bsa_index_type(%q: tensor<1x4x256x8xf32>, %k: tensor<1x2x256x8xf32>, %v: tensor<1x2x256x8xf32>, %n: tensor<1x1x2xi64>, %i: tensor<1x1x2x2xi32>) {
  // expected-error @+1 {{'sparse_attn.block_sparse_attention' op operand #3 must be 3D tensor of 32-bit signless integer values, but got 'tensor<1x1x2xi64>'}}
  %o, %l = sparse_attn.block_sparse_attention %q, %k, %v, %n, %i {block = [128, 128]} : tensor<1x4x256x8xf32>, tensor<1x2x256x8xf32>, tensor<1x2x256x8xf32>, tensor<1x1x2xi64>, tensor<1x1x2x2xi32> -> tensor<1x4x256x8xf32>, tensor<1x4x256xf32>
  return
}

// -----

func.func @bsa_list_dims(%q: tensor<1x4x256x8xf32>, %k: tensor<1x2x256x8xf32>, %v: tensor<1x2x256x8xf32>, %n: tensor<1x1x2xi32>, %i: tensor<1x2x2x2xi32>) {
  // expected-error @+1 {{expects num_blocks 'tensor<1x1x2xi32>' to match the leading dims of block_indices 'tensor<1x2x2x2xi32>'}}
  %o, %l = sparse_attn.block_sparse_attention %q, %k, %v, %n, %i {block = [128, 128]} : tensor<1x4x256x8xf32>, tensor<1x2x256x8xf32>, tensor<1x2x256x8xf32>, tensor<1x1x2xi32>, tensor<1x2x2x2xi32> -> tensor<1x4x256x8xf32>, tensor<1x4x256xf32>
  return
}

// -----

func.func @bsa_list_batch(%q: tensor<2x4x256x8xf32>, %k: tensor<2x2x256x8xf32>, %v: tensor<2x2x256x8xf32>, %n: tensor<3x1x2xi32>, %i: tensor<3x1x2x2xi32>) {
  // expected-error @+1 {{expects the block lists' batch dim to be 1 or the batch size (2), got 3}}
  %o, %l = sparse_attn.block_sparse_attention %q, %k, %v, %n, %i {block = [128, 128]} : tensor<2x4x256x8xf32>, tensor<2x2x256x8xf32>, tensor<2x2x256x8xf32>, tensor<3x1x2xi32>, tensor<3x1x2x2xi32> -> tensor<2x4x256x8xf32>, tensor<2x4x256xf32>
  return
}

// -----

func.func @bsa_list_dynamic_heads(%q: tensor<1x4x256x8xf32>, %k: tensor<1x2x256x8xf32>, %v: tensor<1x2x256x8xf32>, %n: tensor<1x?x2xi32>, %i: tensor<1x?x2x2xi32>) {
  // expected-error @+1 {{expects static heads in num_blocks, got 'tensor<1x?x2xi32>'}}
  %o, %l = sparse_attn.block_sparse_attention %q, %k, %v, %n, %i {block = [128, 128]} : tensor<1x4x256x8xf32>, tensor<1x2x256x8xf32>, tensor<1x2x256x8xf32>, tensor<1x?x2xi32>, tensor<1x?x2x2xi32> -> tensor<1x4x256x8xf32>, tensor<1x4x256xf32>
  return
}

// -----

func.func @bsa_list_heads(%q: tensor<1x8x256x8xf32>, %k: tensor<1x2x256x8xf32>, %v: tensor<1x2x256x8xf32>, %n: tensor<1x4x2xi32>, %i: tensor<1x4x2x2xi32>) {
  // expected-error @+1 {{expects the block lists' head dim to be 1, Hkv (2) or Hq (8), got 4}}
  %o, %l = sparse_attn.block_sparse_attention %q, %k, %v, %n, %i {block = [128, 128]} : tensor<1x8x256x8xf32>, tensor<1x2x256x8xf32>, tensor<1x2x256x8xf32>, tensor<1x4x2xi32>, tensor<1x4x2x2xi32> -> tensor<1x8x256x8xf32>, tensor<1x8x256xf32>
  return
}

// -----

func.func @bsa_query_blocks(%q: tensor<1x4x257x8xf32>, %k: tensor<1x2x256x8xf32>, %v: tensor<1x2x256x8xf32>, %n: tensor<1x1x2xi32>, %i: tensor<1x1x2x2xi32>) {
  // expected-error @+1 {{expects 3 query blocks (ceil(257 / 128)) in the block lists, got 2}}
  %o, %l = sparse_attn.block_sparse_attention %q, %k, %v, %n, %i {block = [128, 128]} : tensor<1x4x257x8xf32>, tensor<1x2x256x8xf32>, tensor<1x2x256x8xf32>, tensor<1x1x2xi32>, tensor<1x1x2x2xi32> -> tensor<1x4x257x8xf32>, tensor<1x4x257xf32>
  return
}

// -----

func.func @bsa_shares_attention_checks(%q: tensor<1x4x256x8xf32>, %k: tensor<1x3x256x8xf32>, %v: tensor<1x3x256x8xf32>, %n: tensor<1x1x2xi32>, %i: tensor<1x1x2x2xi32>) {
  // expected-error @+1 {{expects query heads (4) to be a multiple of key/value heads (3)}}
  %o, %l = sparse_attn.block_sparse_attention %q, %k, %v, %n, %i {block = [128, 128]} : tensor<1x4x256x8xf32>, tensor<1x3x256x8xf32>, tensor<1x3x256x8xf32>, tensor<1x1x2xi32>, tensor<1x1x2x2xi32> -> tensor<1x4x256x8xf32>, tensor<1x4x256xf32>
  return
}

// -----

func.func @bsa_mask_mod_yield(%q: tensor<1x4x256x8xf32>, %k: tensor<1x2x256x8xf32>, %v: tensor<1x2x256x8xf32>, %n: tensor<1x1x2xi32>, %i: tensor<1x1x2x2xi32>) {
  // expected-error @+1 {{mask_mod region must yield one 'i1', got (f32)}}
  %o, %l = sparse_attn.block_sparse_attention %q, %k, %v, %n, %i {block = [128, 128]} mask_mod {
  ^bb0(%b: index, %h: index, %qi: index, %kj: index):
    %c = arith.constant 1.0 : f32
    sparse_attn.yield %c : f32
  } : tensor<1x4x256x8xf32>, tensor<1x2x256x8xf32>, tensor<1x2x256x8xf32>, tensor<1x1x2xi32>, tensor<1x1x2x2xi32> -> tensor<1x4x256x8xf32>, tensor<1x4x256xf32>
  return
}

//===----------------------------------------------------------------------===//
// token_sparse_attention
//===----------------------------------------------------------------------===//

// -----

func.func @tsa_indices(%q: tensor<1x4x16x8xf32>, %k: tensor<1x2x32x8xf32>, %v: tensor<1x2x32x8xf32>, %t: tensor<1x32x4xi32>) {
  // expected-error @+1 {{expects token_indices of shape [B, Sq, n] = [1, 16, 4] with element type 'i32', got 'tensor<1x32x4xi32>'}}
  %o, %l = sparse_attn.token_sparse_attention %q, %k, %v, %t : tensor<1x4x16x8xf32>, tensor<1x2x32x8xf32>, tensor<1x2x32x8xf32>, tensor<1x32x4xi32> -> tensor<1x4x16x8xf32>, tensor<1x4x16xf32>
  return
}

// -----

func.func @tsa_shares_attention_checks(%q: tensor<1x4x16x8xf32>, %k: tensor<1x2x32x8xf32>, %v: tensor<1x2x32x8xf32>, %t: tensor<1x16x4xi32>) {
  // expected-error @+1 {{expects lse of shape [B, Hq, Sq] = [1, 4, 16] with element type 'f32', got 'tensor<1x2x16xf32>'}}
  %o, %l = sparse_attn.token_sparse_attention %q, %k, %v, %t : tensor<1x4x16x8xf32>, tensor<1x2x32x8xf32>, tensor<1x2x32x8xf32>, tensor<1x16x4xi32> -> tensor<1x4x16x8xf32>, tensor<1x2x16xf32>
  return
}

//===----------------------------------------------------------------------===//
// block_mask
//===----------------------------------------------------------------------===//

// -----

func.func @block_mask_lengths_missing() {
  // expected-error @+1 {{expects q_len and kv_len (or segment_ids whose shapes give the lengths)}}
  %n, %i = sparse_attn.block_mask {mask = #sparse_attn.causal, block = [128, 128], q_len = 512} : tensor<1x1x4xi32>, tensor<1x1x4x4xi32>
  return
}

// -----

func.func @block_mask_length_range() {
  // expected-error @+1 {{expects kv_len in [1, 2147483647], got 0}}
  %n, %i = sparse_attn.block_mask {mask = #sparse_attn.causal, block = [128, 128], q_len = 512, kv_len = 0} : tensor<1x1x4xi32>, tensor<1x1x4x4xi32>
  return
}

// -----

func.func @block_mask_block_size() {
  // expected-error @+1 {{expects block sizes in [1, 2147483647], got [-128, 128]}}
  %n, %i = sparse_attn.block_mask {block = [-128, 128], q_len = 512, kv_len = 512} : tensor<1x1x4xi32>, tensor<1x1x4x4xi32>
  return
}

// -----

func.func @block_mask_lengths_vs_segments(%sq: tensor<1x256xi32>, %skv: tensor<1x512xi32>) {
  // expected-error @+1 {{expects q_len and kv_len to match the segment ids' lengths, got [q_len, kv_len] = [512, 512] and segment ids of 'tensor<1x256xi32>' and 'tensor<1x512xi32>'}}
  %n, %i = sparse_attn.block_mask segment_ids(%sq, %skv : tensor<1x256xi32>, tensor<1x512xi32>) {mask = #sparse_attn.document, block = [128, 128], q_len = 512, kv_len = 512} : tensor<1x1x4xi32>, tensor<1x1x4x4xi32>
  return
}

// -----

func.func @block_mask_kv_len_vs_segments(%sq: tensor<1x256xi32>, %skv: tensor<1x512xi32>) {
  // expected-error @+1 {{expects q_len and kv_len to match the segment ids' lengths, got [q_len, kv_len] = [?, 256]}}
  %n, %i = sparse_attn.block_mask segment_ids(%sq, %skv : tensor<1x256xi32>, tensor<1x512xi32>) {mask = #sparse_attn.document, block = [128, 128], kv_len = 256} : tensor<1x1x2xi32>, tensor<1x1x2x4xi32>
  return
}

// -----

func.func @block_mask_query_blocks() {
  // expected-error @+1 {{expects num_blocks of shape [B, H, ceil(q_len / block_q)] = [1, 1, 4] with element type 'i32', got 'tensor<1x1x5xi32>'}}
  %n, %i = sparse_attn.block_mask {mask = #sparse_attn.causal, block = [128, 128], q_len = 512, kv_len = 512} : tensor<1x1x5xi32>, tensor<1x1x5x4xi32>
  return
}

// -----

func.func @block_mask_indices_shape() {
  // expected-error @+1 {{expects block_indices of shape [B, H, ceil(q_len / block_q), capacity] = [1, 2, 4, 4] with element type 'i32', got 'tensor<1x1x4x4xi32>'}}
  %n, %i = sparse_attn.block_mask {mask = #sparse_attn.causal, block = [128, 128], q_len = 512, kv_len = 512} : tensor<1x2x4xi32>, tensor<1x1x4x4xi32>
  return
}

// -----

func.func @block_mask_dynamic_heads() {
  // expected-error @+1 {{expects static heads in num_blocks, got 'tensor<1x?x4xi32>'}}
  %n, %i = sparse_attn.block_mask {mask = #sparse_attn.causal, block = [128, 128], q_len = 512, kv_len = 512} : tensor<1x?x4xi32>, tensor<1x?x4x4xi32>
  return
}

// -----

func.func @block_mask_capacity() {
  // expected-error @+1 {{expects a capacity of at least 3 (the most kv blocks a query block needs), got 2}}
  %n, %i = sparse_attn.block_mask {mask = #sparse_attn.sliding_window<left = 128, right = 128>, block = [128, 128], q_len = 512, kv_len = 512} : tensor<1x1x4xi32>, tensor<1x1x4x2xi32>
  return
}

// -----

func.func @block_mask_full_capacity() {
  // expected-error @+1 {{expects a full_block_indices capacity of at least 3 (the most kv blocks a query block needs), got 2}}
  %n, %i, %fn, %fi = sparse_attn.block_mask {mask = #sparse_attn.causal, block = [128, 128], q_len = 512, kv_len = 512} : tensor<1x1x4xi32>, tensor<1x1x4x1xi32>, tensor<1x1x4xi32>, tensor<1x1x4x2xi32>
  return
}

// -----

func.func @block_mask_partial_capacity() {
  // expected-error @+1 {{expects a capacity of at least 1 (the most kv blocks a query block needs), got 0}}
  %n, %i, %fn, %fi = sparse_attn.block_mask {mask = #sparse_attn.causal, block = [128, 128], q_len = 512, kv_len = 512} : tensor<1x1x4xi32>, tensor<1x1x4x0xi32>, tensor<1x1x4xi32>, tensor<1x1x4x3xi32>
  return
}

// -----

func.func @block_mask_one_full_result() {
  // expected-error @+1 {{expects both full_num_blocks and full_block_indices, or neither}}
  %n, %i, %fn = "sparse_attn.block_mask"() <{block = [128, 128], mask = #sparse_attn.causal, q_len = 512 : i64, kv_len = 512 : i64, operandSegmentSizes = array<i32: 0, 0>, resultSegmentSizes = array<i32: 1, 1, 1, 0>}> : () -> (tensor<1x1x4xi32>, tensor<1x1x4x4xi32>, tensor<1x1x4xi32>)
  return
}

// -----

func.func @block_mask_full_shape() {
  // expected-error @+1 {{expects full_num_blocks of shape [B, H, ceil(q_len / block_q)] = [1, 1, 4] with element type 'i32', got 'tensor<1x2x4xi32>'}}
  %n, %i, %fn, %fi = sparse_attn.block_mask {mask = #sparse_attn.causal, block = [128, 128], q_len = 512, kv_len = 512} : tensor<1x1x4xi32>, tensor<1x1x4x4xi32>, tensor<1x2x4xi32>, tensor<1x1x4x4xi32>
  return
}

// -----

func.func @block_sparse_full_lists(%q: tensor<1x8x512x64xbf16>, %k: tensor<1x2x512x64xbf16>, %num: tensor<1x1x4xi32>, %idx: tensor<1x1x4x4xi32>, %fnum: tensor<1x2x4xi32>, %fidx: tensor<1x2x4x4xi32>) {
  // expected-error @+1 {{expects full_num_blocks 'tensor<1x2x4xi32>' and the leading dims of full_block_indices 'tensor<1x2x4x4xi32>' to match num_blocks 'tensor<1x1x4xi32>'}}
  %o, %lse = sparse_attn.block_sparse_attention %q, %k, %k, %num, %idx full(%fnum, %fidx : tensor<1x2x4xi32>, tensor<1x2x4x4xi32>) {block = [128, 128]} : tensor<1x8x512x64xbf16>, tensor<1x2x512x64xbf16>, tensor<1x2x512x64xbf16>, tensor<1x1x4xi32>, tensor<1x1x4x4xi32> -> tensor<1x8x512x64xbf16>, tensor<1x8x512xf32>
  return
}

// -----

func.func @block_mask_capacity_document(%sq: tensor<2x512xi32>, %skv: tensor<2x512xi32>) {
  // expected-error @+1 {{expects a capacity of at least 4 (every kv block, since the mask reads segment ids), got 2}}
  %n, %i = sparse_attn.block_mask segment_ids(%sq, %skv : tensor<2x512xi32>, tensor<2x512xi32>) {mask = #sparse_attn.document, block = [128, 128]} : tensor<2x1x4xi32>, tensor<2x1x4x2xi32>
  return
}

// -----

func.func @block_mask_segment_batch(%sq: tensor<2x512xi32>, %skv: tensor<2x512xi32>) {
  // expected-error @+1 {{expects query segment ids of shape [B, Sq] = [3, 512] with element type 'i32', got 'tensor<2x512xi32>'}}
  %n, %i = sparse_attn.block_mask segment_ids(%sq, %skv : tensor<2x512xi32>, tensor<2x512xi32>) {mask = #sparse_attn.document, block = [128, 128]} : tensor<3x1x4xi32>, tensor<3x1x4x4xi32>
  return
}

// -----

func.func @block_mask_neighborhood_length() {
  // expected-error @+1 {{neighborhood grid holds 256 tokens but the key length is 512}}
  %n, %i = sparse_attn.block_mask {mask = #sparse_attn.neighborhood<grid = [16, 16], window = [3, 3]>, block = [128, 128], q_len = 512, kv_len = 512} : tensor<1x1x4xi32>, tensor<1x1x4x4xi32>
  return
}

//===----------------------------------------------------------------------===//
// pool
//===----------------------------------------------------------------------===//

// -----

func.func @pool_block(%k: tensor<1x2x64x16xf32>) {
  // expected-error @+1 {{expects block in [1, 2147483647], got 0}}
  %kp = sparse_attn.pool mean %k {block = 0} : tensor<1x2x64x16xf32> -> tensor<1x2x4x16xf32>
  return
}

// -----

func.func @pool_result(%k: tensor<1x2x65x16xbf16>) {
  // expected-error @+1 {{expects result of shape [B, H, ceil(S / block), D] = [1, 2, 5, 16] with element type 'f32', got 'tensor<1x2x4x16xf32>'}}
  %kp = sparse_attn.pool max %k {block = 16} : tensor<1x2x65x16xbf16> -> tensor<1x2x4x16xf32>
  return
}

//===----------------------------------------------------------------------===//
// block_scores
//===----------------------------------------------------------------------===//

// -----

func.func @block_scores_dynamic_heads(%qp: tensor<1x?x4x16xf32>, %kp: tensor<1x2x4x16xf32>) {
  // expected-error @+1 {{expects static heads and head dim in query_pooled, got 'tensor<1x?x4x16xf32>'}}
  %s = sparse_attn.block_scores %qp, %kp {block = [64, 64]} : tensor<1x?x4x16xf32>, tensor<1x2x4x16xf32> -> tensor<1x2x4x4xf32>
  return
}

// -----

func.func @block_scores_batch(%qp: tensor<1x4x4x16xf32>, %kp: tensor<2x2x4x16xf32>) {
  // expected-error @+1 {{expects query_pooled and key_pooled to share the batch size, got 1 and 2}}
  %s = sparse_attn.block_scores %qp, %kp {block = [64, 64]} : tensor<1x4x4x16xf32>, tensor<2x2x4x16xf32> -> tensor<1x4x4x4xf32>
  return
}

// -----

func.func @block_scores_heads(%qp: tensor<1x4x4x16xf32>, %kp: tensor<1x3x4x16xf32>) {
  // expected-error @+1 {{expects query heads (4) to be a multiple of key heads (3)}}
  %s = sparse_attn.block_scores %qp, %kp {block = [64, 64]} : tensor<1x4x4x16xf32>, tensor<1x3x4x16xf32> -> tensor<1x4x4x4xf32>
  return
}

// -----

func.func @block_scores_head_dim(%qp: tensor<1x4x4x16xf32>, %kp: tensor<1x2x4x32xf32>) {
  // expected-error @+1 {{expects query and key head dims to match, got 16 and 32}}
  %s = sparse_attn.block_scores %qp, %kp {block = [64, 64]} : tensor<1x4x4x16xf32>, tensor<1x2x4x32xf32> -> tensor<1x4x4x4xf32>
  return
}

// -----

func.func @block_scores_scale(%qp: tensor<1x4x4x16xf32>, %kp: tensor<1x2x4x16xf32>) {
  // expected-error @+1 {{expects a finite scale, got 0x7FC00000 : f32}}
  %s = sparse_attn.block_scores %qp, %kp {block = [64, 64], scale = 0x7FC00000 : f32} : tensor<1x4x4x16xf32>, tensor<1x2x4x16xf32> -> tensor<1x4x4x4xf32>
  return
}

// -----

func.func @block_scores_lengths_for_mask(%qp: tensor<1x4x4x16xf32>, %kp: tensor<1x2x4x16xf32>) {
  // expected-error @+1 {{expects q_len and kv_len when a mask is given}}
  %s = sparse_attn.block_scores %qp, %kp {block = [64, 64], mask = #sparse_attn.causal} : tensor<1x4x4x16xf32>, tensor<1x2x4x16xf32> -> tensor<1x4x4x4xf32>
  return
}

// -----

func.func @block_scores_block_count(%qp: tensor<1x4x4x16xf32>, %kp: tensor<1x2x4x16xf32>) {
  // expected-error @+1 {{expects [4, 5] pooled query and key blocks for [q_len, kv_len] = [256, 257] and block = [64, 64], got [4, 4]}}
  %s = sparse_attn.block_scores %qp, %kp {block = [64, 64], q_len = 256, kv_len = 257, mask = #sparse_attn.causal} : tensor<1x4x4x16xf32>, tensor<1x2x4x16xf32> -> tensor<1x4x4x4xf32>
  return
}

// -----

func.func @block_scores_result_heads(%qp: tensor<1x4x4x16xf32>, %kp: tensor<1x2x4x16xf32>) {
  // expected-error @+1 {{expects scores with Hq (4) or Hkv (2) heads, got 'tensor<1x1x4x4xf32>'}}
  %s = sparse_attn.block_scores %qp, %kp {block = [64, 64]} : tensor<1x4x4x16xf32>, tensor<1x2x4x16xf32> -> tensor<1x1x4x4xf32>
  return
}

// -----

func.func @block_scores_result_shape(%qp: tensor<1x4x4x16xf32>, %kp: tensor<1x2x8x16xf32>) {
  // expected-error @+1 {{expects scores of shape [B, H, NQ, NK] = [1, 2, 4, 8] with element type 'f32', got 'tensor<1x2x4x4xf32>'}}
  %s = sparse_attn.block_scores %qp, %kp {block = [64, 64]} : tensor<1x4x4x16xf32>, tensor<1x2x8x16xf32> -> tensor<1x2x4x4xf32>
  return
}

// -----

func.func @block_scores_document(%qp: tensor<1x4x4x16xf32>, %kp: tensor<1x2x4x16xf32>, %s: tensor<1x256xi32>) {
  // expected-error @+1 {{mask #sparse_attn.document reads segment ids, but the op has no segment_ids(...) operands}}
  %sc = sparse_attn.block_scores %qp, %kp {block = [64, 64], q_len = 256, kv_len = 256, mask = #sparse_attn.document} : tensor<1x4x4x16xf32>, tensor<1x2x4x16xf32> -> tensor<1x4x4x4xf32>
  return
}

//===----------------------------------------------------------------------===//
// select_topk
//===----------------------------------------------------------------------===//

// -----

func.func @select_topk_k(%s: tensor<1x2x4x4xf32>) {
  // expected-error @+1 {{expects 1 <= k and 0 <= sink, local (all <= 2147483647), got k = 0, sink = 0, local = 0}}
  %n, %i = sparse_attn.select_topk %s {k = 0} : tensor<1x2x4x4xf32> -> tensor<1x2x4xi32>, tensor<1x2x4x4xi32>
  return
}

// -----

func.func @select_topk_local(%s: tensor<1x2x4x4xf32>) {
  // expected-error @+1 {{expects 1 <= k and 0 <= sink, local (all <= 2147483647), got k = 2, sink = 0, local = -1}}
  %n, %i = sparse_attn.select_topk %s {k = 2, local = -1} : tensor<1x2x4x4xf32> -> tensor<1x2x4xi32>, tensor<1x2x4x4xi32>
  return
}

// -----

func.func @select_topk_num(%s: tensor<1x2x4x4xf32>) {
  // expected-error @+1 {{expects num_blocks of shape [B, H, NQ] = [1, 2, 4] with element type 'i32', got 'tensor<1x2x3xi32>'}}
  %n, %i = sparse_attn.select_topk %s {k = 2} : tensor<1x2x4x4xf32> -> tensor<1x2x3xi32>, tensor<1x2x4x4xi32>
  return
}

// -----

func.func @select_topk_indices(%s: tensor<1x2x4x4xf32>) {
  // expected-error @+1 {{expects block_indices of shape [B, H, NQ, capacity] = [1, 2, 4, 4] with element type 'i32', got 'tensor<1x1x4x4xi32>'}}
  %n, %i = sparse_attn.select_topk %s {k = 2} : tensor<1x2x4x4xf32> -> tensor<1x2x4xi32>, tensor<1x1x4x4xi32>
  return
}

// -----

func.func @select_topk_capacity(%s: tensor<1x2x64x64xf32>) {
  // expected-error @+1 {{expects a capacity of at least k + sink + local = 11, got 8}}
  %n, %i = sparse_attn.select_topk %s {k = 8, sink = 1, local = 2} : tensor<1x2x64x64xf32> -> tensor<1x2x64xi32>, tensor<1x2x64x8xi32>
  return
}

//===----------------------------------------------------------------------===//
// select_threshold (select_topk's shape rules, with max_blocks for k)
//===----------------------------------------------------------------------===//

// -----

func.func @select_threshold_mass(%s: tensor<1x2x4x4xf32>) {
  // expected-error @+1 {{expects 0 < mass <= 1, got 1.5}}
  %n, %i = sparse_attn.select_threshold %s {mass = 1.5 : f32, max_blocks = 2} : tensor<1x2x4x4xf32> -> tensor<1x2x4xi32>, tensor<1x2x4x4xi32>
  return
}

// -----

func.func @select_threshold_zero_mass(%s: tensor<1x2x4x4xf32>) {
  // expected-error @+1 {{expects 0 < mass <= 1, got 0}}
  %n, %i = sparse_attn.select_threshold %s {mass = 0.0 : f32, max_blocks = 2} : tensor<1x2x4x4xf32> -> tensor<1x2x4xi32>, tensor<1x2x4x4xi32>
  return
}

// -----

func.func @select_threshold_max_blocks(%s: tensor<1x2x4x4xf32>) {
  // expected-error @+1 {{expects 1 <= max_blocks and 0 <= sink, local (all <= 2147483647), got max_blocks = 0, sink = 0, local = 0}}
  %n, %i = sparse_attn.select_threshold %s {mass = 0.5 : f32, max_blocks = 0} : tensor<1x2x4x4xf32> -> tensor<1x2x4xi32>, tensor<1x2x4x4xi32>
  return
}

// -----

func.func @select_threshold_capacity(%s: tensor<1x2x64x64xf32>) {
  // expected-error @+1 {{expects a capacity of at least max_blocks + sink + local = 11, got 8}}
  %n, %i = sparse_attn.select_threshold %s {mass = 0.9 : f32, max_blocks = 8, sink = 1, local = 2} : tensor<1x2x64x64xf32> -> tensor<1x2x64xi32>, tensor<1x2x64x8xi32>
  return
}

// -----

func.func @select_threshold_nan_mass(%s: tensor<1x2x4x4xf32>) {
  // expected-error @+1 {{expects 0 < mass <= 1, got nan}}
  %n, %i = sparse_attn.select_threshold %s {mass = 0x7FC00000 : f32, max_blocks = 2} : tensor<1x2x4x4xf32> -> tensor<1x2x4xi32>, tensor<1x2x4x4xi32>
  return
}

//===----------------------------------------------------------------------===//
// lightning_indexer
//===----------------------------------------------------------------------===//

// -----

func.func @indexer_element_types(%qi: tensor<1x4x16x8xbf16>, %ki: tensor<1x32x8xf32>, %w: tensor<1x16x4xf32>) {
  // expected-error @+1 {{expects index_query and index_key of one element type, got 'bf16' and 'f32'}}
  %t = sparse_attn.lightning_indexer %qi, %ki, %w {topk = 8} : tensor<1x4x16x8xbf16>, tensor<1x32x8xf32>, tensor<1x16x4xf32> -> tensor<1x16x8xi32>
  return
}

// -----

func.func @indexer_dynamic_heads(%qi: tensor<1x?x16x8xf32>, %ki: tensor<1x32x8xf32>, %w: tensor<1x16x4xf32>) {
  // expected-error @+1 {{expects static heads and head dim in index_query, got 'tensor<1x?x16x8xf32>'}}
  %t = sparse_attn.lightning_indexer %qi, %ki, %w {topk = 8} : tensor<1x?x16x8xf32>, tensor<1x32x8xf32>, tensor<1x16x4xf32> -> tensor<1x16x8xi32>
  return
}

// -----

func.func @indexer_batch(%qi: tensor<1x4x16x8xf32>, %ki: tensor<2x32x8xf32>, %w: tensor<1x16x4xf32>) {
  // expected-error @+1 {{expects index_query and index_key to share the batch size, got 1 and 2}}
  %t = sparse_attn.lightning_indexer %qi, %ki, %w {topk = 8} : tensor<1x4x16x8xf32>, tensor<2x32x8xf32>, tensor<1x16x4xf32> -> tensor<1x16x8xi32>
  return
}

// -----

func.func @indexer_key_dim(%qi: tensor<1x4x16x8xf32>, %ki: tensor<1x32x16xf32>, %w: tensor<1x16x4xf32>) {
  // expected-error @+1 {{expects index_key of shape [B, Skv, DI] = [1, 32, 8] with element type 'f32', got 'tensor<1x32x16xf32>'}}
  %t = sparse_attn.lightning_indexer %qi, %ki, %w {topk = 8} : tensor<1x4x16x8xf32>, tensor<1x32x16xf32>, tensor<1x16x4xf32> -> tensor<1x16x8xi32>
  return
}

// -----

func.func @indexer_weights(%qi: tensor<1x4x16x8xf32>, %ki: tensor<1x32x8xf32>, %w: tensor<1x16x2xf32>) {
  // expected-error @+1 {{expects weights of shape [B, Sq, HI] = [1, 16, 4] with element type 'f32', got 'tensor<1x16x2xf32>'}}
  %t = sparse_attn.lightning_indexer %qi, %ki, %w {topk = 8} : tensor<1x4x16x8xf32>, tensor<1x32x8xf32>, tensor<1x16x2xf32> -> tensor<1x16x8xi32>
  return
}

// -----

func.func @indexer_topk(%qi: tensor<1x4x16x8xf32>, %ki: tensor<1x32x8xf32>, %w: tensor<1x16x4xf32>) {
  // expected-error @+1 {{expects topk in [1, 2147483647], got 0}}
  %t = sparse_attn.lightning_indexer %qi, %ki, %w {topk = 0} : tensor<1x4x16x8xf32>, tensor<1x32x8xf32>, tensor<1x16x4xf32> -> tensor<1x16x0xi32>
  return
}

// -----

func.func @indexer_result(%qi: tensor<1x4x16x8xf32>, %ki: tensor<1x32x8xf32>, %w: tensor<1x16x4xf32>) {
  // expected-error @+1 {{expects token_indices of shape [B, Sq, topk] = [1, 16, 8] with element type 'i32', got 'tensor<1x16x4xi32>'}}
  %t = sparse_attn.lightning_indexer %qi, %ki, %w {topk = 8} : tensor<1x4x16x8xf32>, tensor<1x32x8xf32>, tensor<1x16x4xf32> -> tensor<1x16x4xi32>
  return
}

// -----

func.func @indexer_segments(%qi: tensor<1x4x16x8xf32>, %ki: tensor<1x32x8xf32>, %w: tensor<1x16x4xf32>, %s: tensor<1x16xi32>) {
  // expected-error @+1 {{expects key segment ids of shape [B, Skv] = [1, 32] with element type 'i32', got 'tensor<1x16xi32>'}}
  %t = sparse_attn.lightning_indexer %qi, %ki, %w segment_ids(%s, %s : tensor<1x16xi32>, tensor<1x16xi32>) {topk = 8, mask = #sparse_attn.document} : tensor<1x4x16x8xf32>, tensor<1x32x8xf32>, tensor<1x16x4xf32> -> tensor<1x16x8xi32>
  return
}

//===----------------------------------------------------------------------===//
// Malformed text
//===----------------------------------------------------------------------===//

// -----

// expected-error @+1 {{expected attribute value}}
func.func @malformed_mask() attributes {m = #sparse_attn.union<[#sparse_attn.causal,]>} { return }

// -----

func.func @missing_types(%q: tensor<1x4x16x8xf32>) {
  // expected-error @+1 {{expected ':'}}
  %o, %l = sparse_attn.attention %q, %q, %q {mask = #sparse_attn.causal}
  return
}

// -----

//===----------------------------------------------------------------------===//
// Fused selection ops
//===----------------------------------------------------------------------===//

func.func @f(%q: tensor<1x8x256x16xf32>, %k: tensor<1x2x256x16xf32>, %qp: tensor<1x8x4x16xf32>, %kp: tensor<1x2x4x16xf32>) {
  // expected-error @+1 {{expects exactly one of k (top-k selection) and mass (threshold selection)}}
  %o, %l = sparse_attn.fused_block_sparse_attention %q, %k, %k, %qp, %kp {block = [64, 64], list_heads = 2}
      : tensor<1x8x256x16xf32>, tensor<1x2x256x16xf32>, tensor<1x2x256x16xf32>, tensor<1x8x4x16xf32>, tensor<1x2x4x16xf32>
     -> tensor<1x8x256x16xf32>, tensor<1x8x256xf32>
  return
}

// -----

func.func @f(%q: tensor<1x8x256x16xf32>, %k: tensor<1x2x256x16xf32>, %qp: tensor<1x8x4x16xf32>, %kp: tensor<1x2x4x16xf32>) {
  // expected-error @+1 {{expects exactly one of k (top-k selection) and mass (threshold selection)}}
  %o, %l = sparse_attn.fused_block_sparse_attention %q, %k, %k, %qp, %kp {block = [64, 64], list_heads = 2, k = 2, mass = 0.5 : f32}
      : tensor<1x8x256x16xf32>, tensor<1x2x256x16xf32>, tensor<1x2x256x16xf32>, tensor<1x8x4x16xf32>, tensor<1x2x4x16xf32>
     -> tensor<1x8x256x16xf32>, tensor<1x8x256xf32>
  return
}

// -----

func.func @f(%q: tensor<1x8x256x16xf32>, %k: tensor<1x2x256x16xf32>, %qp: tensor<1x8x4x16xf32>, %kp: tensor<1x2x4x16xf32>) {
  // expected-error @+1 {{expects max_blocks with mass, and only with it}}
  %o, %l = sparse_attn.fused_block_sparse_attention %q, %k, %k, %qp, %kp {block = [64, 64], list_heads = 2, mass = 0.5 : f32}
      : tensor<1x8x256x16xf32>, tensor<1x2x256x16xf32>, tensor<1x2x256x16xf32>, tensor<1x8x4x16xf32>, tensor<1x2x4x16xf32>
     -> tensor<1x8x256x16xf32>, tensor<1x8x256xf32>
  return
}

// -----

func.func @f(%q: tensor<1x8x256x16xf32>, %k: tensor<1x2x256x16xf32>, %qp: tensor<1x8x4x16xf32>, %kp: tensor<1x2x4x16xf32>) {
  // expected-error @+1 {{expects max_blocks with mass, and only with it}}
  %o, %l = sparse_attn.fused_block_sparse_attention %q, %k, %k, %qp, %kp {block = [64, 64], list_heads = 2, k = 2, max_blocks = 3}
      : tensor<1x8x256x16xf32>, tensor<1x2x256x16xf32>, tensor<1x2x256x16xf32>, tensor<1x8x4x16xf32>, tensor<1x2x4x16xf32>
     -> tensor<1x8x256x16xf32>, tensor<1x8x256xf32>
  return
}

// -----

func.func @f(%q: tensor<1x8x256x16xf32>, %k: tensor<1x2x256x16xf32>, %qp: tensor<1x8x4x16xf32>, %kp: tensor<1x2x4x16xf32>) {
  // expected-error @+1 {{expects 0 < mass <= 1, got 1.5}}
  %o, %l = sparse_attn.fused_block_sparse_attention %q, %k, %k, %qp, %kp {block = [64, 64], list_heads = 2, mass = 1.5 : f32, max_blocks = 3}
      : tensor<1x8x256x16xf32>, tensor<1x2x256x16xf32>, tensor<1x2x256x16xf32>, tensor<1x8x4x16xf32>, tensor<1x2x4x16xf32>
     -> tensor<1x8x256x16xf32>, tensor<1x8x256xf32>
  return
}

// -----

func.func @f(%q: tensor<1x8x256x16xf32>, %k: tensor<1x2x256x16xf32>, %qp: tensor<1x8x4x16xf32>, %kp: tensor<1x2x4x16xf32>) {
  // expected-error @+1 {{expects 1 <= k and 0 <= sink, local}}
  %o, %l = sparse_attn.fused_block_sparse_attention %q, %k, %k, %qp, %kp {block = [64, 64], list_heads = 2, k = 0}
      : tensor<1x8x256x16xf32>, tensor<1x2x256x16xf32>, tensor<1x2x256x16xf32>, tensor<1x8x4x16xf32>, tensor<1x2x4x16xf32>
     -> tensor<1x8x256x16xf32>, tensor<1x8x256xf32>
  return
}

// -----

func.func @f(%q: tensor<1x8x256x16xf32>, %k: tensor<1x2x256x16xf32>, %qp: tensor<1x8x4x16xf32>, %kp: tensor<1x2x4x16xf32>) {
  // expected-error @+1 {{expects list_heads to be Hq (8) or Hkv (2), got 4}}
  %o, %l = sparse_attn.fused_block_sparse_attention %q, %k, %k, %qp, %kp {block = [64, 64], list_heads = 4, k = 2}
      : tensor<1x8x256x16xf32>, tensor<1x2x256x16xf32>, tensor<1x2x256x16xf32>, tensor<1x8x4x16xf32>, tensor<1x2x4x16xf32>
     -> tensor<1x8x256x16xf32>, tensor<1x8x256xf32>
  return
}

// -----

func.func @f(%q: tensor<1x8x256x16xf32>, %k: tensor<1x2x256x16xf32>, %qp: tensor<1x8x4x16xf32>, %kp: tensor<1x2x4x16xf32>) {
  // expected-error @+1 {{expects query_pooled of shape [B, Hq, ceil(Sq / block_q), Dp] = [1, 8, 8, 16]}}
  %o, %l = sparse_attn.fused_block_sparse_attention %q, %k, %k, %qp, %kp {block = [32, 64], list_heads = 2, k = 2}
      : tensor<1x8x256x16xf32>, tensor<1x2x256x16xf32>, tensor<1x2x256x16xf32>, tensor<1x8x4x16xf32>, tensor<1x2x4x16xf32>
     -> tensor<1x8x256x16xf32>, tensor<1x8x256xf32>
  return
}

// -----

func.func @f(%q: tensor<1x8x256x16xf32>, %k: tensor<1x2x256x16xf32>, %qp: tensor<1x8x4x16xf32>, %kp: tensor<1x2x4x8xf32>) {
  // expected-error @+1 {{expects key_pooled of shape [B, Hkv, ceil(Skv / block_kv), Dp] = [1, 2, 4, 16]}}
  %o, %l = sparse_attn.fused_block_sparse_attention %q, %k, %k, %qp, %kp {block = [64, 64], list_heads = 2, k = 2}
      : tensor<1x8x256x16xf32>, tensor<1x2x256x16xf32>, tensor<1x2x256x16xf32>, tensor<1x8x4x16xf32>, tensor<1x2x4x8xf32>
     -> tensor<1x8x256x16xf32>, tensor<1x8x256xf32>
  return
}

// -----

func.func @f(%q: tensor<1x8x256x16xf32>, %k: tensor<1x2x256x16xf32>, %qp: tensor<1x8x4x16xf32>, %kp: tensor<1x2x4x16xf32>) {
  // expected-error @+1 {{expects a score_mask that reads no segment ids, got #sparse_attn.document}}
  %o, %l = sparse_attn.fused_block_sparse_attention %q, %k, %k, %qp, %kp {block = [64, 64], list_heads = 2, k = 2, score_mask = #sparse_attn.document}
      : tensor<1x8x256x16xf32>, tensor<1x2x256x16xf32>, tensor<1x2x256x16xf32>, tensor<1x8x4x16xf32>, tensor<1x2x4x16xf32>
     -> tensor<1x8x256x16xf32>, tensor<1x8x256xf32>
  return
}

// -----

func.func @f(%q: tensor<1x8x256x16xf32>, %k: tensor<1x2x256x16xf32>, %qi: tensor<1x4x256x16xf32>, %ki: tensor<1x256x16xf32>, %w: tensor<1x256x2xf32>) {
  // expected-error @+1 {{expects weights of shape [B, Sq, HI] = [1, 256, 4]}}
  %o, %l = sparse_attn.fused_token_sparse_attention %q, %k, %k, %qi, %ki, %w {topk = 16}
      : tensor<1x8x256x16xf32>, tensor<1x2x256x16xf32>, tensor<1x2x256x16xf32>, tensor<1x4x256x16xf32>, tensor<1x256x16xf32>, tensor<1x256x2xf32>
     -> tensor<1x8x256x16xf32>, tensor<1x8x256xf32>
  return
}

// -----

func.func @f(%q: tensor<1x8x256x16xf32>, %k: tensor<1x2x256x16xf32>, %qi: tensor<1x4x256x16xbf16>, %ki: tensor<1x256x16xf32>, %w: tensor<1x256x4xf32>) {
  // expected-error @+1 {{expects index_query and index_key of one element type, got 'bf16' and 'f32'}}
  %o, %l = sparse_attn.fused_token_sparse_attention %q, %k, %k, %qi, %ki, %w {topk = 16}
      : tensor<1x8x256x16xf32>, tensor<1x2x256x16xf32>, tensor<1x2x256x16xf32>, tensor<1x4x256x16xbf16>, tensor<1x256x16xf32>, tensor<1x256x4xf32>
     -> tensor<1x8x256x16xf32>, tensor<1x8x256xf32>
  return
}

// -----

// Invalid IR exits with a failure code and a diagnostic, never a crash
// (`not` fails on a signal).
// RUN: not sparse-attn-opt %s -split-input-file -allow-unregistered-dialect 2>&1 | FileCheck %s --check-prefix=EXIT
// EXIT: error: sliding_window expects left >= 0

//===----------------------------------------------------------------------===//
// vertical_slash and block_sparse_attention's columns
//===----------------------------------------------------------------------===//

// -----

func.func @columns_mismatch(%q: tensor<1x2x64x16xf32>, %n: tensor<1x2x4xi32>, %i: tensor<1x2x4x2xi32>, %cn: tensor<1x2x3xi32>, %ci: tensor<1x2x3x5xi32>) {
  // expected-error @+1 {{expects num_columns 'tensor<1x2x3xi32>' and the leading dims of column_indices 'tensor<1x2x3x5xi32>' to match num_blocks 'tensor<1x2x4xi32>'}}
  %o, %l = sparse_attn.block_sparse_attention %q, %q, %q, %n, %i columns(%cn, %ci : tensor<1x2x3xi32>, tensor<1x2x3x5xi32>) {block = [16, 16]}
      : tensor<1x2x64x16xf32>, tensor<1x2x64x16xf32>, tensor<1x2x64x16xf32>, tensor<1x2x4xi32>, tensor<1x2x4x2xi32> -> tensor<1x2x64x16xf32>, tensor<1x2x64xf32>
  return
}

// -----

func.func @vertical_slash_heads(%q: tensor<1x3x64x16xf32>, %k: tensor<1x2x64x16xf32>) {
  // expected-error @+1 {{expects query heads (3) to be a multiple of key heads (2)}}
  %n, %i, %cn, %ci = sparse_attn.vertical_slash %q, %k {last_q = 8, vertical = 4, slash = 2, block = [16, 16]}
      : tensor<1x3x64x16xf32>, tensor<1x2x64x16xf32> -> tensor<1x3x4xi32>, tensor<1x3x4x4xi32>, tensor<1x3x4xi32>, tensor<1x3x4x4xi32>
  return
}

// -----

func.func @vertical_slash_types(%q: tensor<1x2x64x16xf32>, %k: tensor<1x2x64x16xbf16>) {
  // expected-error @+1 {{expects query and key of one element type, got 'f32' and 'bf16'}}
  %n, %i, %cn, %ci = sparse_attn.vertical_slash %q, %k {last_q = 8, vertical = 4, slash = 2, block = [16, 16]}
      : tensor<1x2x64x16xf32>, tensor<1x2x64x16xbf16> -> tensor<1x2x4xi32>, tensor<1x2x4x4xi32>, tensor<1x2x4xi32>, tensor<1x2x4x4xi32>
  return
}

// -----

func.func @vertical_slash_budget(%q: tensor<1x2x64x16xf32>) {
  // expected-error @+1 {{expects last_q, vertical and slash in [1, 2147483647], got 8, 0 and 2}}
  %n, %i, %cn, %ci = sparse_attn.vertical_slash %q, %q {last_q = 8, vertical = 0, slash = 2, block = [16, 16]}
      : tensor<1x2x64x16xf32>, tensor<1x2x64x16xf32> -> tensor<1x2x4xi32>, tensor<1x2x4x4xi32>, tensor<1x2x4xi32>, tensor<1x2x4x4xi32>
  return
}

// -----

func.func @vertical_slash_forced(%q: tensor<1x2x64x16xf32>) {
  // expected-error @+1 {{expects 0 <= sink <= vertical and 0 <= local <= slash, got sink = 5, local = 0}}
  %n, %i, %cn, %ci = sparse_attn.vertical_slash %q, %q {last_q = 8, vertical = 4, slash = 2, sink = 5, block = [16, 16]}
      : tensor<1x2x64x16xf32>, tensor<1x2x64x16xf32> -> tensor<1x2x4xi32>, tensor<1x2x4x4xi32>, tensor<1x2x4xi32>, tensor<1x2x4x4xi32>
  return
}

// -----

func.func @vertical_slash_block_capacity(%q: tensor<1x2x64x16xf32>) {
  // expected-error @+1 {{expects a block_indices capacity of at least 4, got 3}}
  %n, %i, %cn, %ci = sparse_attn.vertical_slash %q, %q {last_q = 8, vertical = 4, slash = 2, block = [16, 16]}
      : tensor<1x2x64x16xf32>, tensor<1x2x64x16xf32> -> tensor<1x2x4xi32>, tensor<1x2x4x3xi32>, tensor<1x2x4xi32>, tensor<1x2x4x4xi32>
  return
}

// -----

func.func @vertical_slash_column_capacity(%q: tensor<1x2x64x16xf32>) {
  // expected-error @+1 {{expects a column_indices capacity of at least 4, got 2}}
  %n, %i, %cn, %ci = sparse_attn.vertical_slash %q, %q {last_q = 8, vertical = 4, slash = 1, block = [16, 16]}
      : tensor<1x2x64x16xf32>, tensor<1x2x64x16xf32> -> tensor<1x2x4xi32>, tensor<1x2x4x2xi32>, tensor<1x2x4xi32>, tensor<1x2x4x2xi32>
  return
}

// -----

func.func @vertical_slash_lists(%q: tensor<1x2x64x16xf32>) {
  // expected-error @+1 {{expects num_columns of shape [B, Hq, ceil(Sq / block_q)] = [1, 2, 4] with element type 'i32', got 'tensor<1x1x4xi32>'}}
  %n, %i, %cn, %ci = sparse_attn.vertical_slash %q, %q {last_q = 8, vertical = 4, slash = 1, block = [16, 16]}
      : tensor<1x2x64x16xf32>, tensor<1x2x64x16xf32> -> tensor<1x2x4xi32>, tensor<1x2x4x2xi32>, tensor<1x1x4xi32>, tensor<1x2x4x4xi32>
  return
}
