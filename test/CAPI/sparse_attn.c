/*===- sparse_attn.c - the C API, from C ----------------------------------===*\
|*                                                                            *|
|* Compiled as C (C99) and linked against libSparseAttnC.so alone: a context, *|
|* the dialect through its handle and sparseAttnRegisterDialects, every mask  *|
|* attribute (constructors, isa, getters, a rejected one), a module of        *|
|* sparse_attn ops parsed and verified, one pass made by its generated C      *|
|* constructor, and sparse-attn-to-ptx-pipeline{chip=sm_90a} parsed from text *|
|* and run through the C pass manager.                                        *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

// RUN: sparse-attn-capi-test 2>&1 | FileCheck %s

#include "mlir-c/BuiltinAttributes.h"
#include "mlir-c/Diagnostics.h"
#include "mlir-c/IR.h"
#include "mlir-c/Pass.h"
#include "mlir-c/Support.h"
#include "sparse-attn-c/Dialects.h"
#include "sparse-attn-c/Passes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void printToStdout(MlirStringRef text, void *userData) {
  (void)userData;
  fwrite(text.data, 1, text.length, stdout);
}

static void printAttr(const char *label, MlirAttribute attr) {
  printf("%s: ", label);
  mlirAttributePrint(attr, printToStdout, NULL);
  printf("\n");
}

static MlirLogicalResult printDiagnostic(MlirDiagnostic diagnostic,
                                         void *userData) {
  (void)userData;
  printf("diagnostic: ");
  mlirDiagnosticPrint(diagnostic, printToStdout, NULL);
  printf("\n");
  return mlirLogicalResultSuccess();
}

static int failures = 0;
#define EXPECT(cond)                                                           \
  do {                                                                         \
    if (!(cond)) {                                                             \
      printf("FAILED: %s (line %d)\n", #cond, __LINE__);                       \
      ++failures;                                                              \
    }                                                                          \
  } while (0)

/* CHECK-LABEL: == dialect ==
 * CHECK: loaded sparse_attn
 */
static void testDialect(MlirContext ctx) {
  printf("== dialect ==\n");
  MlirDialect dialect = mlirDialectHandleLoadDialect(
      mlirGetDialectHandle__sparse_attn__(), ctx);
  EXPECT(!mlirDialectIsNull(dialect));
  MlirStringRef name = mlirDialectGetNamespace(dialect);
  printf("loaded %.*s\n", (int)name.length, name.data);
}

/* CHECK-LABEL: == masks ==
 * CHECK: causal: #sparse_attn.causal
 * CHECK: sliding: #sparse_attn.sliding_window<left = 128, right = 0>
 * CHECK: sink: #sparse_attn.sink_window<sink = 4, window = 1020>
 * CHECK: document: #sparse_attn.document
 * CHECK: neighborhood: #sparse_attn.neighborhood<grid = [16, 16], window = [5, 3], dilation = [1, 2], causal = [false, true]>
 * CHECK: intersect: #sparse_attn.intersect<[#sparse_attn.causal, #sparse_attn.document]>
 * CHECK: union: #sparse_attn.union<[#sparse_attn.sink_window<sink = 4, window = 1020>, #sparse_attn.sliding_window<left = 128, right = 0>]>
 * CHECK: diagnostic: {{.*}}left
 * CHECK: rejected sliding window: null
 * CHECK: diagnostic: {{.*}}mask 1 is null
 * CHECK: rejected union: null
 * CHECK: masks checked
 */
static void testMasks(MlirContext ctx) {
  printf("== masks ==\n");
  MlirAttribute causal = sparseAttnCausalAttrGet(ctx);
  printAttr("causal", causal);
  EXPECT(sparseAttnAttributeIsACausal(causal));
  EXPECT(sparseAttnAttributeIsAMask(causal));
  EXPECT(!sparseAttnAttributeIsASlidingWindow(causal));

  MlirAttribute sliding = sparseAttnSlidingWindowAttrGet(ctx, 128, 0);
  printAttr("sliding", sliding);
  EXPECT(sparseAttnAttributeIsASlidingWindow(sliding));
  EXPECT(sparseAttnSlidingWindowAttrGetLeft(sliding) == 128);
  EXPECT(sparseAttnSlidingWindowAttrGetRight(sliding) == 0);

  MlirAttribute sink = sparseAttnSinkWindowAttrGet(ctx, 4, 1020);
  printAttr("sink", sink);
  EXPECT(sparseAttnAttributeIsASinkWindow(sink));
  EXPECT(sparseAttnSinkWindowAttrGetSink(sink) == 4);
  EXPECT(sparseAttnSinkWindowAttrGetWindow(sink) == 1020);

  MlirAttribute document = sparseAttnDocumentAttrGet(ctx);
  printAttr("document", document);
  EXPECT(sparseAttnAttributeIsADocument(document));

  int64_t grid[] = {16, 16}, window[] = {5, 3}, dilation[] = {1, 2};
  bool causalDims[] = {false, true};
  MlirAttribute neighborhood = sparseAttnNeighborhoodAttrGet(
      ctx, 2, grid, window, dilation, causalDims);
  printAttr("neighborhood", neighborhood);
  EXPECT(sparseAttnAttributeIsANeighborhood(neighborhood));
  EXPECT(sparseAttnNeighborhoodAttrGetRank(neighborhood) == 2);
  EXPECT(sparseAttnNeighborhoodAttrGetGrid(neighborhood, 1) == 16);
  EXPECT(sparseAttnNeighborhoodAttrGetWindow(neighborhood, 0) == 5);
  EXPECT(sparseAttnNeighborhoodAttrGetDilation(neighborhood, 1) == 2);
  EXPECT(sparseAttnNeighborhoodAttrGetCausal(neighborhood, 1));
  MlirAttribute plain =
      sparseAttnNeighborhoodAttrGet(ctx, 2, grid, window, NULL, NULL);
  EXPECT(sparseAttnNeighborhoodAttrGetDilation(plain, 1) == 1);
  EXPECT(!sparseAttnNeighborhoodAttrGetCausal(plain, 1));

  MlirAttribute both[] = {causal, document};
  MlirAttribute intersect = sparseAttnIntersectAttrGet(ctx, 2, both);
  printAttr("intersect", intersect);
  EXPECT(sparseAttnAttributeIsAIntersect(intersect));
  EXPECT(sparseAttnIntersectAttrGetNumMasks(intersect) == 2);
  EXPECT(mlirAttributeEqual(sparseAttnIntersectAttrGetMask(intersect, 1),
                            document));

  MlirAttribute either[] = {sink, sliding};
  MlirAttribute unionMask = sparseAttnUnionAttrGet(ctx, 2, either);
  printAttr("union", unionMask);
  EXPECT(sparseAttnAttributeIsAUnion(unionMask));
  EXPECT(sparseAttnUnionAttrGetNumMasks(unionMask) == 2);
  EXPECT(mlirAttributeEqual(sparseAttnUnionAttrGetMask(unionMask, 0), sink));

  /* Invalid parameters: a diagnostic and a null attribute, never a crash. */
  MlirAttribute bad = sparseAttnSlidingWindowAttrGet(ctx, -1, 0);
  printf("rejected sliding window: %s\n",
         mlirAttributeIsNull(bad) ? "null" : "NOT NULL");
  MlirAttribute withNull[] = {causal, bad};
  MlirAttribute badUnion = sparseAttnUnionAttrGet(ctx, 2, withNull);
  printf("rejected union: %s\n",
         mlirAttributeIsNull(badUnion) ? "null" : "NOT NULL");
  printf("masks checked\n");
}

static const char *kModule =
    "func.func @causal(%q: tensor<1x4x256x64xbf16>, %k: tensor<1x2x256x64xbf16>,\n"
    "                  %v: tensor<1x2x256x64xbf16>)\n"
    "    -> (tensor<1x4x256x64xbf16>, tensor<1x4x256xf32>) {\n"
    "  %o, %lse = sparse_attn.attention %q, %k, %v {mask = #sparse_attn.causal}\n"
    "      : tensor<1x4x256x64xbf16>, tensor<1x2x256x64xbf16>, tensor<1x2x256x64xbf16>\n"
    "     -> tensor<1x4x256x64xbf16>, tensor<1x4x256xf32>\n"
    "  return %o, %lse : tensor<1x4x256x64xbf16>, tensor<1x4x256xf32>\n"
    "}\n";

/* CHECK-LABEL: == parse ==
 * CHECK: sparse_attn.attention %{{.*}} {mask = #sparse_attn.causal}
 * CHECK: parsed and verified
 */
static MlirModule testParse(MlirContext ctx) {
  printf("== parse ==\n");
  MlirModule module =
      mlirModuleCreateParse(ctx, mlirStringRefCreateFromCString(kModule));
  EXPECT(!mlirModuleIsNull(module));
  if (mlirModuleIsNull(module))
    return module;
  MlirOperation op = mlirModuleGetOperation(module);
  EXPECT(mlirOperationVerify(op));
  mlirOperationPrint(op, printToStdout, NULL);
  printf("\nparsed and verified\n");
  return module;
}

/* A pass made by its generated constructor: the reference lowering.
 * CHECK-LABEL: == constructor ==
 * CHECK-NOT: sparse_attn.attention
 * CHECK: linalg.
 * CHECK: lowered by mlirCreateSparseAttnConversionConvertSparseAttnToLinalgPass
 */
static void testPassConstructor(MlirContext ctx) {
  printf("== constructor ==\n");
  MlirModule module =
      mlirModuleCreateParse(ctx, mlirStringRefCreateFromCString(kModule));
  MlirPassManager pm = mlirPassManagerCreate(ctx);
  MlirOpPassManager funcPm = mlirPassManagerGetNestedUnder(
      pm, mlirStringRefCreateFromCString("func.func"));
  mlirOpPassManagerAddOwnedPass(
      funcPm, mlirCreateSparseAttnConversionConvertSparseAttnToLinalgPass());
  EXPECT(mlirLogicalResultIsSuccess(
      mlirPassManagerRunOnOp(pm, mlirModuleGetOperation(module))));
  mlirOperationPrint(mlirModuleGetOperation(module), printToStdout, NULL);
  printf("\nlowered by mlirCreateSparseAttnConversionConvertSparseAttnToLinalgPass\n");
  mlirPassManagerDestroy(pm);
  mlirModuleDestroy(module);
}

/* CHECK-LABEL: == pipeline ==
 * CHECK: error: {{.*}}unknown chip 'sm_70'
 * CHECK-NOT: sparse_attn.
 * CHECK: gpu.launch_func
 * CHECK: gpu.binary @{{.*}}#nvvm.target<chip = "sm_90a"{{.*}}.target sm_90a
 * CHECK: pipeline ran
 */
static void testPipeline(MlirContext ctx, MlirModule module) {
  printf("== pipeline ==\n");
  sparseAttnRegisterPasses();
  sparseAttnRegisterPasses(); /* a second call does nothing */
  MlirPassManager pm = mlirPassManagerCreate(ctx);
  MlirOpPassManager opm = mlirPassManagerGetAsOpPassManager(pm);
  /* A rejected option is reported through the callback. */
  printf("error: ");
  EXPECT(mlirLogicalResultIsFailure(mlirParsePassPipeline(
      opm,
      mlirStringRefCreateFromCString(
          "builtin.module(sparse-attn-to-ptx-pipeline{chip=sm_70})"),
      printToStdout, NULL)));
  printf("\n");
  mlirPassManagerDestroy(pm);

  pm = mlirPassManagerCreate(ctx);
  opm = mlirPassManagerGetAsOpPassManager(pm);
  MlirLogicalResult parsed = mlirParsePassPipeline(
      opm,
      mlirStringRefCreateFromCString(
          "builtin.module(sparse-attn-to-ptx-pipeline{chip=sm_90a})"),
      printToStdout, NULL);
  EXPECT(mlirLogicalResultIsSuccess(parsed));
  MlirOperation op = mlirModuleGetOperation(module);
  EXPECT(mlirLogicalResultIsSuccess(mlirPassManagerRunOnOp(pm, op)));
  mlirOperationPrint(op, printToStdout, NULL);
  printf("\npipeline ran\n");
  mlirPassManagerDestroy(pm);
}

// CHECK: {{^}}0 failures
int main(void) {
  MlirContext ctx = mlirContextCreate();
  MlirDialectRegistry registry = mlirDialectRegistryCreate();
  sparseAttnRegisterDialects(registry);
  mlirContextAppendDialectRegistry(ctx, registry);
  mlirDialectRegistryDestroy(registry);
  mlirContextAttachDiagnosticHandler(ctx, printDiagnostic, NULL, NULL);

  testDialect(ctx);
  testMasks(ctx);
  MlirModule module = testParse(ctx);
  testPassConstructor(ctx);
  if (!mlirModuleIsNull(module)) {
    testPipeline(ctx, module);
    mlirModuleDestroy(module);
  }
  mlirContextDestroy(ctx);
  printf("%d failures\n", failures);
  return failures == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
