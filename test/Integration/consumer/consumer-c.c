/*===- consumer-c.c - a C program over the installed libSparseAttnC.so
-----===*\
|*                                                                            *|
|* Reads a module from stdin, parses the pipeline given as its argument, runs *|
|* it and prints the result: all through the C API.                           *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#include "mlir-c/IR.h"
#include "mlir-c/Pass.h"
#include "sparse-attn-c/Dialects.h"
#include "sparse-attn-c/Passes.h"

#include <stdio.h>
#include <stdlib.h>

static void print(MlirStringRef text, void *userData) {
  fwrite(text.data, 1, text.length, (FILE *)userData);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: consumer-c PIPELINE < module.mlir\n");
    return 2;
  }
  static char source[1 << 20];
  size_t length = fread(source, 1, sizeof(source) - 1, stdin);
  source[length] = 0;

  MlirContext ctx = mlirContextCreate();
  MlirDialectRegistry registry = mlirDialectRegistryCreate();
  sparseAttnRegisterDialects(registry);
  mlirContextAppendDialectRegistry(ctx, registry);
  mlirDialectRegistryDestroy(registry);
  sparseAttnRegisterPasses();

  int status = 1;
  MlirModule module =
      mlirModuleCreateParse(ctx, mlirStringRefCreateFromCString(source));
  MlirPassManager pm = mlirPassManagerCreate(ctx);
  if (!mlirModuleIsNull(module) &&
      mlirLogicalResultIsSuccess(mlirParsePassPipeline(
          mlirPassManagerGetAsOpPassManager(pm),
          mlirStringRefCreateFromCString(argv[1]), print, stderr)) &&
      mlirLogicalResultIsSuccess(
          mlirPassManagerRunOnOp(pm, mlirModuleGetOperation(module)))) {
    mlirOperationPrint(mlirModuleGetOperation(module), print, stdout);
    printf("\n");
    status = 0;
  }
  mlirPassManagerDestroy(pm);
  if (!mlirModuleIsNull(module))
    mlirModuleDestroy(module);
  mlirContextDestroy(ctx);
  return status;
}
