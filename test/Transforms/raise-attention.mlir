// RUN: sparse-attn-opt %s --sparse-attn-raise-attention | FileCheck %s
// RUN: sparse-attn-opt %s --sparse-attn-to-llvm-cpu-pipeline="raise-attention=true" | FileCheck %s --check-prefix=CPU
// RUN: sparse-attn-opt %s --sparse-attn-to-ptx-pipeline="chip=sm_90a raise-attention=true" | FileCheck %s --check-prefix=PTX

// Attention written in linalg by hand, in the shapes frontends use; the
// frontends' own forms are in raise-attention-frontends.mlir. Each function
// here runs through run_cpu before and after the pass in
// test/Python/test_raise_attention.py (the same results within 1e-5).

// CPU-NOT: sparse_attn.
// CPU-NOT: linalg.
// PTX: gpu.binary

#qk = affine_map<(b, h, i, j, d) -> (b, h, i, d)>
#kt = affine_map<(b, h, i, j, d) -> (b, h, j, d)>
#s5 = affine_map<(b, h, i, j, d) -> (b, h, i, j)>
#pv_p = affine_map<(b, h, i, e, j) -> (b, h, i, j)>
#pv_v = affine_map<(b, h, i, e, j) -> (b, h, j, e)>
#pv_o = affine_map<(b, h, i, e, j) -> (b, h, i, e)>
#id4 = affine_map<(b, h, i, j) -> (b, h, i, j)>
#id3 = affine_map<(x, i, j) -> (x, i, j)>
#row3 = affine_map<(x, i, j) -> (x, i)>
#ij4 = affine_map<(b, h, i, j) -> (i, j)>
#mm_a = affine_map<(i, j, d) -> (i, d)>
#mm_b = affine_map<(i, j, d) -> (j, d)>
#mm_c = affine_map<(i, j, d) -> (i, j)>
#id2 = affine_map<(i, j) -> (i, j)>

// [B*H, S, D] batch_matmuls (torch-mlir's bmm), K transposed by
// linalg.transpose, the scale on the scores, a causal select on
// linalg.index, linalg.softmax.
// CHECK-LABEL: func.func @bmm_causal(
// CHECK: %[[O:.*]], %{{.*}} = sparse_attn.attention %{{.*}}, %{{.*}}, %{{.*}} {mask = #sparse_attn.causal, scale = 2.500000e-01 : f32} : tensor<1x2x64x16xf32>, tensor<1x2x64x16xf32>, tensor<1x2x64x16xf32> -> tensor<1x2x64x16xf32>, tensor<1x2x64xf32>
// CHECK-NOT: linalg.softmax
// CHECK-NOT: linalg.batch_matmul
// CHECK: tensor.collapse_shape %[[O]]
func.func @bmm_causal(%q: tensor<1x2x64x16xf32>, %k: tensor<1x2x64x16xf32>, %v: tensor<1x2x64x16xf32>) -> tensor<2x64x16xf32> {
  %q3 = tensor.collapse_shape %q [[0, 1], [2], [3]] : tensor<1x2x64x16xf32> into tensor<2x64x16xf32>
  %k3 = tensor.collapse_shape %k [[0, 1], [2], [3]] : tensor<1x2x64x16xf32> into tensor<2x64x16xf32>
  %v3 = tensor.collapse_shape %v [[0, 1], [2], [3]] : tensor<1x2x64x16xf32> into tensor<2x64x16xf32>
  %e0 = tensor.empty() : tensor<2x16x64xf32>
  %kt = linalg.transpose ins(%k3 : tensor<2x64x16xf32>) outs(%e0 : tensor<2x16x64xf32>) permutation = [0, 2, 1]
  %zero = arith.constant 0.0 : f32
  %e1 = tensor.empty() : tensor<2x64x64xf32>
  %f1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<2x64x64xf32>) -> tensor<2x64x64xf32>
  %s = linalg.batch_matmul ins(%q3, %kt : tensor<2x64x16xf32>, tensor<2x16x64xf32>) outs(%f1 : tensor<2x64x64xf32>) -> tensor<2x64x64xf32>
  %ninf = arith.constant 0xFF800000 : f32
  %c = arith.constant 0.25 : f32
  %m = linalg.generic {indexing_maps = [#id3, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%s : tensor<2x64x64xf32>) outs(%e1 : tensor<2x64x64xf32>) {
  ^bb0(%x: f32, %o: f32):
    %i = linalg.index 1 : index
    %j = linalg.index 2 : index
    %keep = arith.cmpi ule, %j, %i : index
    %sc = arith.mulf %x, %c : f32
    %r = arith.select %keep, %sc, %ninf : f32
    linalg.yield %r : f32
  } -> tensor<2x64x64xf32>
  %p = linalg.softmax dimension(2) ins(%m : tensor<2x64x64xf32>) outs(%e1 : tensor<2x64x64xf32>) -> tensor<2x64x64xf32>
  %e2 = tensor.empty() : tensor<2x64x16xf32>
  %f2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<2x64x16xf32>) -> tensor<2x64x16xf32>
  %o = linalg.batch_matmul ins(%p, %v3 : tensor<2x64x64xf32>, tensor<2x64x16xf32>) outs(%f2 : tensor<2x64x16xf32>) -> tensor<2x64x16xf32>
  return %o : tensor<2x64x16xf32>
}

// 2D matmuls with a transposing map, a sliding window (j in [i - 8, i])
// as an additive 0 / -inf term, the scale divided on Q.
// CHECK-LABEL: func.func @matmul_window(
// CHECK: sparse_attn.attention %{{.*}}, %{{.*}}, %{{.*}} {mask = #sparse_attn.sliding_window<left = 8, right = 0>, scale = 1.250000e-01 : f32} : tensor<1x1x48x32xf32>
// CHECK-NOT: linalg.matmul
func.func @matmul_window(%q: tensor<48x32xf32>, %k: tensor<48x32xf32>, %v: tensor<48x32xf32>) -> tensor<48x32xf32> {
  %zero = arith.constant 0.0 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %d = arith.constant 8.0 : f32
  %eq = tensor.empty() : tensor<48x32xf32>
  %qs = linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]} ins(%q : tensor<48x32xf32>) outs(%eq : tensor<48x32xf32>) {
  ^bb0(%x: f32, %o: f32):
    %r = arith.divf %x, %d : f32
    linalg.yield %r : f32
  } -> tensor<48x32xf32>
  %e = tensor.empty() : tensor<48x48xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<48x48xf32>) -> tensor<48x48xf32>
  %s = linalg.matmul indexing_maps = [#mm_a, #mm_b, #mm_c] ins(%qs, %k : tensor<48x32xf32>, tensor<48x32xf32>) outs(%f : tensor<48x48xf32>) -> tensor<48x48xf32>
  %bias = linalg.generic {indexing_maps = [#id2], iterator_types = ["parallel", "parallel"]} outs(%e : tensor<48x48xf32>) {
  ^bb0(%o: f32):
    %i = linalg.index 0 : index
    %j = linalg.index 1 : index
    %c8 = arith.constant 8 : index
    %lo = arith.subi %i, %c8 : index
    %a = arith.cmpi sle, %j, %i : index
    %b = arith.cmpi sge, %j, %lo : index
    %ok = arith.andi %a, %b : i1
    %r = arith.select %ok, %zero, %ninf : f32
    linalg.yield %r : f32
  } -> tensor<48x48xf32>
  %m = linalg.generic {indexing_maps = [#id2, #id2, #id2], iterator_types = ["parallel", "parallel"]} ins(%s, %bias : tensor<48x48xf32>, tensor<48x48xf32>) outs(%e : tensor<48x48xf32>) {
  ^bb0(%x: f32, %y: f32, %o: f32):
    %r = arith.addf %x, %y : f32
    linalg.yield %r : f32
  } -> tensor<48x48xf32>
  %p = linalg.softmax dimension(1) ins(%m : tensor<48x48xf32>) outs(%e : tensor<48x48xf32>) -> tensor<48x48xf32>
  %f2 = linalg.fill ins(%zero : f32) outs(%eq : tensor<48x32xf32>) -> tensor<48x32xf32>
  %o = linalg.matmul ins(%p, %v : tensor<48x48xf32>, tensor<48x32xf32>) outs(%f2 : tensor<48x32xf32>) -> tensor<48x32xf32>
  return %o : tensor<48x32xf32>
}

// Sq != Skv: j <= i + (Skv - Sq) is causal (bottom-right); j <= i (torch's
// top-left is_causal with Sq < Skv) is not a structural mask: a mask_mod.
// CHECK-LABEL: func.func @bottom_right(
// CHECK: sparse_attn.attention {{.*}}{mask = #sparse_attn.causal, scale = 1.000000e+00 : f32} :
// CHECK-LABEL: func.func @top_left(
// CHECK: sparse_attn.attention {{.*}}{scale = 1.000000e+00 : f32} mask_mod {
// CHECK-NEXT: ^bb0(%{{.*}}: index, %{{.*}}: index, %[[I:.*]]: index, %[[J:.*]]: index):
// CHECK: arith.cmpi sle, %[[J]], %[[I]] : index
// CHECK: sparse_attn.yield
func.func @bottom_right(%q: tensor<1x2x32x16xf32>, %k: tensor<1x2x64x16xf32>, %v: tensor<1x2x64x16xf32>) -> tensor<1x2x32x16xf32> {
  %zero = arith.constant 0.0 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %e = tensor.empty() : tensor<1x2x32x64xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x2x32x64xf32>) -> tensor<1x2x32x64xf32>
  %s = linalg.generic {indexing_maps = [#qk, #kt, #s5], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%q, %k : tensor<1x2x32x16xf32>, tensor<1x2x64x16xf32>) outs(%f : tensor<1x2x32x64xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %p : f32
    linalg.yield %r : f32
  } -> tensor<1x2x32x64xf32>
  %m = linalg.generic {indexing_maps = [#id4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%s : tensor<1x2x32x64xf32>) outs(%e : tensor<1x2x32x64xf32>) {
  ^bb0(%x: f32, %o: f32):
    %i = linalg.index 2 : index
    %j = linalg.index 3 : index
    %c32 = arith.constant 32 : index
    %lim = arith.addi %i, %c32 : index
    %keep = arith.cmpi sle, %j, %lim : index
    %r = arith.select %keep, %x, %ninf : f32
    linalg.yield %r : f32
  } -> tensor<1x2x32x64xf32>
  %p = linalg.softmax dimension(3) ins(%m : tensor<1x2x32x64xf32>) outs(%e : tensor<1x2x32x64xf32>) -> tensor<1x2x32x64xf32>
  %e2 = tensor.empty() : tensor<1x2x32x16xf32>
  %f2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<1x2x32x16xf32>) -> tensor<1x2x32x16xf32>
  %out = linalg.generic {indexing_maps = [#pv_p, #pv_v, #pv_o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%p, %v : tensor<1x2x32x64xf32>, tensor<1x2x64x16xf32>) outs(%f2 : tensor<1x2x32x16xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %pr = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %pr : f32
    linalg.yield %r : f32
  } -> tensor<1x2x32x16xf32>
  return %out : tensor<1x2x32x16xf32>
}

func.func @top_left(%q: tensor<1x2x32x16xf32>, %k: tensor<1x2x64x16xf32>, %v: tensor<1x2x64x16xf32>) -> tensor<1x2x32x16xf32> {
  %zero = arith.constant 0.0 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %e = tensor.empty() : tensor<1x2x32x64xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x2x32x64xf32>) -> tensor<1x2x32x64xf32>
  %s = linalg.generic {indexing_maps = [#qk, #kt, #s5], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%q, %k : tensor<1x2x32x16xf32>, tensor<1x2x64x16xf32>) outs(%f : tensor<1x2x32x64xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %p : f32
    linalg.yield %r : f32
  } -> tensor<1x2x32x64xf32>
  %m = linalg.generic {indexing_maps = [#id4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%s : tensor<1x2x32x64xf32>) outs(%e : tensor<1x2x32x64xf32>) {
  ^bb0(%x: f32, %o: f32):
    %i = linalg.index 2 : index
    %j = linalg.index 3 : index
    %keep = arith.cmpi sle, %j, %i : index
    %r = arith.select %keep, %x, %ninf : f32
    linalg.yield %r : f32
  } -> tensor<1x2x32x64xf32>
  %p = linalg.softmax dimension(3) ins(%m : tensor<1x2x32x64xf32>) outs(%e : tensor<1x2x32x64xf32>) -> tensor<1x2x32x64xf32>
  %e2 = tensor.empty() : tensor<1x2x32x16xf32>
  %f2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<1x2x32x16xf32>) -> tensor<1x2x32x16xf32>
  %out = linalg.generic {indexing_maps = [#pv_p, #pv_v, #pv_o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%p, %v : tensor<1x2x32x64xf32>, tensor<1x2x64x16xf32>) outs(%f2 : tensor<1x2x32x16xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %pr = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %pr : f32
    linalg.yield %r : f32
  } -> tensor<1x2x32x16xf32>
  return %out : tensor<1x2x32x16xf32>
}


// GQA written as a broadcast of K and V over the group (each kv head
// repeated, then collapsed into the heads): the op reads the kv heads.
// Sinks and a window: sink_window.
// CHECK-LABEL: func.func @gqa_sinks(
// CHECK: sparse_attn.attention %{{.*}}, %{{.*}}, %{{.*}} {mask = #sparse_attn.sink_window<sink = 4, window = 16>, scale = 1.000000e+00 : f32} : tensor<1x4x64x16xf32>, tensor<1x2x64x16xf32>, tensor<1x2x64x16xf32>
// CHECK-NOT: linalg.broadcast

func.func @gqa_sinks(%q: tensor<1x4x64x16xf32>, %k: tensor<1x2x64x16xf32>, %v: tensor<1x2x64x16xf32>) -> tensor<1x4x64x16xf32> {
  %zero = arith.constant 0.0 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %kb0 = tensor.empty() : tensor<1x2x2x64x16xf32>
  %kb = linalg.broadcast ins(%k : tensor<1x2x64x16xf32>) outs(%kb0 : tensor<1x2x2x64x16xf32>) dimensions = [2]
  %kg = tensor.collapse_shape %kb [[0], [1, 2], [3], [4]] : tensor<1x2x2x64x16xf32> into tensor<1x4x64x16xf32>
  %vb = linalg.broadcast ins(%v : tensor<1x2x64x16xf32>) outs(%kb0 : tensor<1x2x2x64x16xf32>) dimensions = [2]
  %vg = tensor.collapse_shape %vb [[0], [1, 2], [3], [4]] : tensor<1x2x2x64x16xf32> into tensor<1x4x64x16xf32>
  %e = tensor.empty() : tensor<1x4x64x64xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x4x64x64xf32>) -> tensor<1x4x64x64xf32>
  %s = linalg.generic {indexing_maps = [#qk, #kt, #s5], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%q, %kg : tensor<1x4x64x16xf32>, tensor<1x4x64x16xf32>) outs(%f : tensor<1x4x64x64xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %p : f32
    linalg.yield %r : f32
  } -> tensor<1x4x64x64xf32>
  %m = linalg.generic {indexing_maps = [#id4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%s : tensor<1x4x64x64xf32>) outs(%e : tensor<1x4x64x64xf32>) {
  ^bb0(%x: f32, %o: f32):
    %i = linalg.index 2 : index
    %j = linalg.index 3 : index
    %c4 = arith.constant 4 : index
    %c15 = arith.constant 15 : index
    %causal = arith.cmpi ule, %j, %i : index
    %sink = arith.cmpi ult, %j, %c4 : index
    %lo = arith.subi %i, %c15 : index
    %near = arith.cmpi sge, %j, %lo : index
    %either = arith.ori %sink, %near : i1
    %keep = arith.andi %causal, %either : i1
    %r = arith.select %keep, %x, %ninf : f32
    linalg.yield %r : f32
  } -> tensor<1x4x64x64xf32>
  %p = linalg.softmax dimension(3) ins(%m : tensor<1x4x64x64xf32>) outs(%e : tensor<1x4x64x64xf32>) -> tensor<1x4x64x64xf32>
  %e2 = tensor.empty() : tensor<1x4x64x16xf32>
  %f2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<1x4x64x16xf32>) -> tensor<1x4x64x16xf32>
  %out = linalg.generic {indexing_maps = [#pv_p, #pv_v, #pv_o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%p, %vg : tensor<1x4x64x64xf32>, tensor<1x4x64x16xf32>) outs(%f2 : tensor<1x4x64x16xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %pr = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %pr : f32
    linalg.yield %r : f32
  } -> tensor<1x4x64x16xf32>
  return %out : tensor<1x4x64x16xf32>
}


// A boolean mask argument (SDPA's attn_mask) and an additive bias
// argument: a mask_mod and a score_mod reading them.
// CHECK-LABEL: func.func @bool_mask_and_bias(
// CHECK: sparse_attn.attention %{{.*}}, %{{.*}}, %{{.*}} {scale = 1.250000e-01 : f32} mask_mod {
// CHECK-NEXT: ^bb0(%{{.*}}: index, %{{.*}}: index, %[[I:.*]]: index, %[[J:.*]]: index):
// CHECK-NEXT: %[[M:.*]] = tensor.extract %arg3[%[[I]], %[[J]]] : tensor<64x64xi1>
// CHECK-NEXT: sparse_attn.yield %[[M]] : i1
// CHECK-NEXT: } score_mod {
// CHECK-NEXT: ^bb0(%[[S:.*]]: f32, %[[B:.*]]: index, %[[H:.*]]: index, %[[I2:.*]]: index, %[[J2:.*]]: index):
// CHECK: %[[X:.*]] = tensor.extract %arg4[%[[B]], %[[H]], %[[I2]], %[[J2]]] : tensor<1x2x64x64xf32>
// CHECK: arith.addf %[[S]], %[[X]] : f32

func.func @bool_mask_and_bias(%q: tensor<1x2x64x16xf32>, %k: tensor<1x2x64x16xf32>, %v: tensor<1x2x64x16xf32>, %mask: tensor<64x64xi1>, %bias4: tensor<1x2x64x64xf32>) -> tensor<1x2x64x16xf32> {
  %zero = arith.constant 0.0 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %e = tensor.empty() : tensor<1x2x64x64xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x2x64x64xf32>) -> tensor<1x2x64x64xf32>
  %s = linalg.generic {indexing_maps = [#qk, #kt, #s5], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%q, %k : tensor<1x2x64x16xf32>, tensor<1x2x64x16xf32>) outs(%f : tensor<1x2x64x64xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %p : f32
    linalg.yield %r : f32
  } -> tensor<1x2x64x64xf32>
  %m = linalg.generic {indexing_maps = [#id4, #ij4, #id4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%s, %mask, %bias4 : tensor<1x2x64x64xf32>, tensor<64x64xi1>, tensor<1x2x64x64xf32>) outs(%e : tensor<1x2x64x64xf32>) {
  ^bb0(%x: f32, %keep: i1, %bias: f32, %o: f32):
    %i = linalg.index 2 : index
    %j = linalg.index 3 : index
    %c = arith.constant 0.125 : f32
    %sc = arith.mulf %x, %c : f32
    %b = arith.addf %sc, %bias : f32
    %r = arith.select %keep, %b, %ninf : f32
    linalg.yield %r : f32
  } -> tensor<1x2x64x64xf32>
  %p = linalg.softmax dimension(3) ins(%m : tensor<1x2x64x64xf32>) outs(%e : tensor<1x2x64x64xf32>) -> tensor<1x2x64x64xf32>
  %e2 = tensor.empty() : tensor<1x2x64x16xf32>
  %f2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<1x2x64x16xf32>) -> tensor<1x2x64x16xf32>
  %out = linalg.generic {indexing_maps = [#pv_p, #pv_v, #pv_o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%p, %v : tensor<1x2x64x64xf32>, tensor<1x2x64x16xf32>) outs(%f2 : tensor<1x2x64x16xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %pr = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %pr : f32
    linalg.yield %r : f32
  } -> tensor<1x2x64x16xf32>
  return %out : tensor<1x2x64x16xf32>
}


// A softcap (tanh) and a causal mask: the mask as the attribute, the scale
// found under the softcap, the softcap as a score_mod.
// (s * 0.25 / 20 folds into the scale: tanh(0.0125 s) * 20.)
// CHECK-LABEL: func.func @softcap(
// CHECK: sparse_attn.attention %{{.*}}, %{{.*}}, %{{.*}} {mask = #sparse_attn.causal, scale = 1.250000e-02 : f32} score_mod {
// CHECK-NEXT: ^bb0(%[[S:.*]]: f32, %{{.*}}: index, %{{.*}}: index, %{{.*}}: index, %{{.*}}: index):
// CHECK: math.tanh
// CHECK-NOT: arith.select
// CHECK: sparse_attn.yield

func.func @softcap(%q: tensor<1x2x64x16xf32>, %k: tensor<1x2x64x16xf32>, %v: tensor<1x2x64x16xf32>) -> tensor<1x2x64x16xf32> {
  %zero = arith.constant 0.0 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %e = tensor.empty() : tensor<1x2x64x64xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x2x64x64xf32>) -> tensor<1x2x64x64xf32>
  %s = linalg.generic {indexing_maps = [#qk, #kt, #s5], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%q, %k : tensor<1x2x64x16xf32>, tensor<1x2x64x16xf32>) outs(%f : tensor<1x2x64x64xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %p : f32
    linalg.yield %r : f32
  } -> tensor<1x2x64x64xf32>
  %m = linalg.generic {indexing_maps = [#id4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%s : tensor<1x2x64x64xf32>) outs(%e : tensor<1x2x64x64xf32>) {
  ^bb0(%x: f32, %o: f32):
    %i = linalg.index 2 : index
    %j = linalg.index 3 : index
    %c = arith.constant 0.25 : f32
    %cap = arith.constant 20.0 : f32
    %sc = arith.mulf %x, %c : f32
    %d = arith.divf %sc, %cap : f32
    %t = math.tanh %d : f32
    %capped = arith.mulf %t, %cap : f32
    %keep = arith.cmpi sle, %j, %i : index
    %r = arith.select %keep, %capped, %ninf : f32
    linalg.yield %r : f32
  } -> tensor<1x2x64x64xf32>
  %p = linalg.softmax dimension(3) ins(%m : tensor<1x2x64x64xf32>) outs(%e : tensor<1x2x64x64xf32>) -> tensor<1x2x64x64xf32>
  %e2 = tensor.empty() : tensor<1x2x64x16xf32>
  %f2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<1x2x64x16xf32>) -> tensor<1x2x64x16xf32>
  %out = linalg.generic {indexing_maps = [#pv_p, #pv_v, #pv_o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%p, %v : tensor<1x2x64x64xf32>, tensor<1x2x64x16xf32>) outs(%f2 : tensor<1x2x64x16xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %pr = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %pr : f32
    linalg.yield %r : f32
  } -> tensor<1x2x64x16xf32>
  return %out : tensor<1x2x64x16xf32>
}


// Softmax over the query dim is not attention: left unchanged.
// CHECK-LABEL: func.func @not_attention(
// CHECK-NOT: sparse_attn.attention
// CHECK: linalg.softmax dimension(2)

func.func @not_attention(%q: tensor<1x2x64x16xf32>, %k: tensor<1x2x64x16xf32>, %v: tensor<1x2x64x16xf32>) -> tensor<1x2x64x16xf32> {
  %zero = arith.constant 0.0 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %e = tensor.empty() : tensor<1x2x64x64xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x2x64x64xf32>) -> tensor<1x2x64x64xf32>
  %s = linalg.generic {indexing_maps = [#qk, #kt, #s5], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%q, %k : tensor<1x2x64x16xf32>, tensor<1x2x64x16xf32>) outs(%f : tensor<1x2x64x64xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %p : f32
    linalg.yield %r : f32
  } -> tensor<1x2x64x64xf32>
  %m = linalg.generic {indexing_maps = [#id4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%s : tensor<1x2x64x64xf32>) outs(%e : tensor<1x2x64x64xf32>) {
  ^bb0(%x: f32, %o: f32):
    %i = linalg.index 2 : index
    %j = linalg.index 3 : index
    linalg.yield %x : f32
  } -> tensor<1x2x64x64xf32>
  %p = linalg.softmax dimension(2) ins(%m : tensor<1x2x64x64xf32>) outs(%e : tensor<1x2x64x64xf32>) -> tensor<1x2x64x64xf32>
  %e2 = tensor.empty() : tensor<1x2x64x16xf32>
  %f2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<1x2x64x16xf32>) -> tensor<1x2x64x16xf32>
  %out = linalg.generic {indexing_maps = [#pv_p, #pv_v, #pv_o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%p, %v : tensor<1x2x64x64xf32>, tensor<1x2x64x16xf32>) outs(%f2 : tensor<1x2x64x16xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %pr = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %pr : f32
    linalg.yield %r : f32
  } -> tensor<1x2x64x16xf32>
  return %out : tensor<1x2x64x16xf32>
}

// Dynamic sequence lengths: left unchanged (the mask and scale analysis
// needs the lengths).
// CHECK-LABEL: func.func @dynamic(
// CHECK-NOT: sparse_attn.attention
// CHECK: linalg.softmax
func.func @dynamic(%q: tensor<2x?x16xf32>, %kt: tensor<2x16x?xf32>, %v: tensor<2x?x16xf32>) -> tensor<2x?x16xf32> {
  %zero = arith.constant 0.0 : f32
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %sq = tensor.dim %q, %c1 : tensor<2x?x16xf32>
  %skv = tensor.dim %kt, %c2 : tensor<2x16x?xf32>
  %e = tensor.empty(%sq, %skv) : tensor<2x?x?xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2x?x?xf32>) -> tensor<2x?x?xf32>
  %s = linalg.batch_matmul ins(%q, %kt : tensor<2x?x16xf32>, tensor<2x16x?xf32>) outs(%f : tensor<2x?x?xf32>) -> tensor<2x?x?xf32>
  %p = linalg.softmax dimension(2) ins(%s : tensor<2x?x?xf32>) outs(%e : tensor<2x?x?xf32>) -> tensor<2x?x?xf32>
  %e2 = tensor.empty(%sq) : tensor<2x?x16xf32>
  %f2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<2x?x16xf32>) -> tensor<2x?x16xf32>
  %o = linalg.batch_matmul ins(%p, %v : tensor<2x?x?xf32>, tensor<2x?x16xf32>) outs(%f2 : tensor<2x?x16xf32>) -> tensor<2x?x16xf32>
  return %o : tensor<2x?x16xf32>
}
