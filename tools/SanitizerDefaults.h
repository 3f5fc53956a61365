//===- SanitizerDefaults.h - ASan defaults of the project's tools -*- C++ -*-===//
//
// Included once by each tool's main file (it defines a function).
//
// In a sanitizer build the project's code is instrumented, libMLIR's is not:
// the allocators they share (the context's, inline in LLVM's headers) poison
// slabs in our code that the library then fills without unpoisoning them,
// which ASan would report as use-after-poison. Manual poisoning is off;
// every other check stays. (Python loads the runtime before the bindings:
// lit passes the same option in ASAN_OPTIONS.)
//
//===----------------------------------------------------------------------===//

#ifndef SPARSE_ATTN_TOOLS_SANITIZERDEFAULTS_H
#define SPARSE_ATTN_TOOLS_SANITIZERDEFAULTS_H

extern "C" const char *__asan_default_options() {
  return "allow_user_poisoning=0";
}

#endif // SPARSE_ATTN_TOOLS_SANITIZERDEFAULTS_H
