// RUN: sparse-attn-opt %s --sparse-attn-to-ptx-pipeline="chip=sm_90" -o %t.sm90.mlir
// RUN: FileCheck %s --check-prefix=PTX < %t.sm90.mlir
// RUN: FileCheck %s --check-prefix=CPASYNC < %t.sm90.mlir
// RUN: FileCheck %s --check-prefix=LDMATRIX < %t.sm90.mlir
// RUN: FileCheck %s --check-prefix=TRANS < %t.sm90.mlir
// RUN: FileCheck %s --check-prefix=EXP < %t.sm90.mlir
// RUN: %python %S/ptxas_check.py %t.sm90.mlir sm_90 | FileCheck %s --check-prefix=PTXAS
// RUN: sparse-attn-opt %s --sparse-attn-to-ptx-pipeline="chip=sm_80" -o %t.sm80.mlir
// RUN: %python %S/ptxas_check.py %t.sm80.mlir sm_80 | FileCheck %s --check-prefix=PTXAS
// RUN: sparse-attn-opt %s --sparse-attn-to-ptx-pipeline="chip=sm_90 tensor-cores=false" | FileCheck %s --check-prefix=GENERAL
// RUN: sparse-attn-opt %s --sparse-attn-to-ptx-pipeline="chip=sm_90a" -o %t.sm90a.mlir
// RUN: FileCheck %s --check-prefix=WGMMA < %t.sm90a.mlir
// RUN: %python %S/ptxas_check.py %t.sm90a.mlir sm_90a | FileCheck %s --check-prefix=PTXAS
// RUN: sparse-attn-opt %s --sparse-attn-to-ptx-pipeline="chip=sm_90a nvgpu-options={block-q=64 items-per-block=2}" -o /dev/null \
// RUN:   --mlir-print-ir-after=sparse-attn-kernel-limits 2>&1 | FileCheck %s --check-prefix=NESTED
// RUN: not sparse-attn-opt %s --sparse-attn-to-ptx-pipeline="chip=sm_90a nvgpu-options={warpgroup-rows=3}" 2>&1 | FileCheck %s --check-prefix=NESTED-BAD
// RUN: not sparse-attn-opt %s --sparse-attn-to-ptx-pipeline="chip=sm_90a nvgpu-options={chip=sm_80}" 2>&1 | FileCheck %s --check-prefix=NESTED-CHIP
// RUN: not sparse-attn-opt %s --sparse-attn-to-ptx-pipeline="chip=sm_90a nvgpu-options={tensor-cores=false}" 2>&1 | FileCheck %s --check-prefix=NESTED-TC

// nvgpu-options passes convert-sparse-attn-to-nvgpu's own options through;
// the kernel's configuration lands on its gpu.func.
// NESTED: gpu.func @{{.*}} kernel attributes {{{.*}}sparse_attn.mma_kernel = {block_kv = 64 : i64, block_q = 64 : i64, {{.*}}items_per_block = 2 : i64, mma = "wgmma"
// NESTED-BAD: convert-sparse-attn-to-nvgpu: warpgroup-rows must be 0 (the kernel's choice), 1 or 2 (got 3)
// NESTED-CHIP: sparse-attn-to-ptx-pipeline: set chip on the pipeline, not in nvgpu-options
// NESTED-TC: sparse-attn-to-ptx-pipeline: set tensor-cores on the pipeline, not in nvgpu-options

// The pipeline gives block_sparse_attention on bf16 to the tensor-core
// kernel: its PTX stages tiles with cp.async, feeds mma.sync from
// ldmatrix (transposed for V) and takes exponentials with ex2.approx.
// With tensor-cores=false the op takes the CUDA-core kernel (no mma.sync).

// PTXAS: {{ptxas assembled [0-9]+ PTX module\(s\)|ptxas not found: [0-9]+ PTX module\(s\) for sm_[0-9]+ NOT assembled}}

// PTX-LABEL: llvm.func @causal(
// PTX: gpu.launch_func @causal_kernel::@causal_kernel
// PTX: gpu.binary @causal_kernel
// PTX-SAME: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
// CPASYNC: gpu.binary @causal_kernel {{.*}}cp.async.cg.shared.global
// LDMATRIX: gpu.binary @causal_kernel {{.*}}ldmatrix.sync.aligned.m8n8.x4.shared.b16
// TRANS: gpu.binary @causal_kernel {{.*}}ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16
// EXP: gpu.binary @causal_kernel {{.*}}ex2.approx.ftz.f32

// On sm_90a the kernel is the warpgroup one: both products are wgmma
// (P V with A from registers), the copies fenced to the async proxy; at
// head dim 128 its registers are capped at 128 (two blocks per
// multiprocessor) and its kv tiles hold 64 keys (S: m64n64k16).
// WGMMA: gpu.binary @causal_kernel
// WGMMA-SAME: .target sm_90a
// WGMMA-SAME: .maxnreg 128
// WGMMA-SAME: cp.async.cg.shared.global
// WGMMA-SAME: fence.proxy.async.shared::cta
// WGMMA-SAME: wgmma.fence.sync.aligned
// WGMMA-SAME: wgmma.mma_async.sync.aligned.m64n{{64|128}}k16.f32.bf16.bf16
// WGMMA-SAME: wgmma.commit_group.sync.aligned
// WGMMA-SAME: wgmma.wait_group.sync.aligned {{.*}}0;
// WGMMA-NOT: ldmatrix

// GENERAL-LABEL: llvm.func @causal(
// GENERAL: gpu.binary @causal_kernel {{.*}}fma.rn.f32
// GENERAL-NOT: mma.sync
func.func @causal(%q: tensor<?x8x?x128xbf16>, %k: tensor<?x2x?x128xbf16>, %v: tensor<?x2x?x128xbf16>,
                  %num: tensor<1x8x?xi32>, %idx: tensor<1x8x?x?xi32>) -> (tensor<?x8x?x128xbf16>, tensor<?x8x?xf32>) {
  %o, %lse = sparse_attn.block_sparse_attention %q, %k, %v, %num, %idx {block = [128, 128], mask = #sparse_attn.causal}
      : tensor<?x8x?x128xbf16>, tensor<?x2x?x128xbf16>, tensor<?x2x?x128xbf16>, tensor<1x8x?xi32>, tensor<1x8x?x?xi32>
     -> tensor<?x8x?x128xbf16>, tensor<?x8x?xf32>
  return %o, %lse : tensor<?x8x?x128xbf16>, tensor<?x8x?xf32>
}

// Head dim 64 on sm_90a: one warpgroup over 128 rows (two 64-row tiles);
// ptxas assembles it with the sm_90a runs above.
// WGMMA: gpu.binary @d64_kernel
// WGMMA-SAME: wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16
func.func @d64(%q: tensor<1x8x?x64xbf16>, %k: tensor<1x8x?x64xbf16>, %v: tensor<1x8x?x64xbf16>,
               %num: tensor<1x8x?xi32>, %idx: tensor<1x8x?x?xi32>) -> (tensor<1x8x?x64xbf16>, tensor<1x8x?xf32>) {
  %o, %lse = sparse_attn.block_sparse_attention %q, %k, %v, %num, %idx {block = [128, 128]}
      : tensor<1x8x?x64xbf16>, tensor<1x8x?x64xbf16>, tensor<1x8x?x64xbf16>, tensor<1x8x?xi32>, tensor<1x8x?x?xi32>
     -> tensor<1x8x?x64xbf16>, tensor<1x8x?xf32>
  return %o, %lse : tensor<1x8x?x64xbf16>, tensor<1x8x?xf32>
}
