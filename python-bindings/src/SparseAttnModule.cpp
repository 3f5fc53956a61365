//===- SparseAttnModule.cpp - the sparse_attn._native extension -----------===//
//
// pybind11 bindings over the C++ API: parse IR into a Module that owns its
// MLIRContext, run textual pass pipelines on it, and JIT-compile a function
// through the host pipeline and call it on numpy arrays (run_cpu).
//
// Errors: MLIR diagnostics become sparse_attn.errors.MLIRError (a pure-Python
// class, imported when this module loads); bad arguments and failed run-time
// checks of the compiled code become ValueError.
//
// This translation unit is the only one of the project compiled with C++
// exceptions (pybind11 needs them). No exception may cross an MLIR/LLVM
// frame: the callbacks handed to MLIR (diagnostic handler, JIT symbol
// overrides) never throw.
//
//===----------------------------------------------------------------------===//

#include "SparseAttn/InitAll.h"
#include "SparseAttn/Pipelines/Pipelines.h"
#include "SparseAttn/Target/LaunchPlan.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"

#include "llvm/ExecutionEngine/Orc/Mangling.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <csetjmp>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <list>
#include <memory>
#include <string>
#include <unistd.h>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace py = pybind11;
using namespace mlir;

namespace {

//===----------------------------------------------------------------------===//
// Errors
//===----------------------------------------------------------------------===//

/// sparse_attn.errors.MLIRError, looked up once when the module loads. Kept
/// as a raw, intentionally leaked reference so that nothing touches Python
/// from a static destructor after the interpreter is gone.
PyObject *gMLIRErrorClass = nullptr;

/// `text` as a Python string; bytes that are not UTF-8 (a location's file
/// name, say) become U+FFFD instead of raising UnicodeDecodeError.
py::str decodeText(const std::string &text) {
  return py::reinterpret_steal<py::str>(PyUnicode_DecodeUTF8(
      text.data(), static_cast<Py_ssize_t>(text.size()), "replace"));
}

/// Raises MLIRError(message, diagnostics). The message is `summary`, then
/// every diagnostic on its own line.
[[noreturn]] void throwMLIRError(const std::string &summary,
                                 const std::vector<std::string> &diags) {
  std::string message = summary;
  if (!diags.empty()) {
    message += ":";
    for (const std::string &d : diags)
      message += "\n" + d;
  }
  py::list decodedDiags;
  for (const std::string &d : diags)
    decodedDiags.append(decodeText(d));
  py::handle cls(gMLIRErrorClass ? gMLIRErrorClass : PyExc_RuntimeError);
  py::object inst = cls(decodeText(message), decodedDiags);
  PyErr_SetObject(cls.ptr(), inst.ptr());
  throw py::error_already_set();
}

/// `file:line:col` of a location (the first file location inside fused,
/// name or call-site locations), or an empty string when there is none.
std::string formatLocation(Location loc) {
  if (auto fileLoc = loc->findInstanceOf<FileLineColLoc>()) {
    std::string s;
    llvm::raw_string_ostream os(s);
    os << fileLoc.getFilename().getValue() << ":" << fileLoc.getLine() << ":"
       << fileLoc.getColumn();
    return s;
  }
  if (isa<UnknownLoc>(loc))
    return "";
  std::string s;
  llvm::raw_string_ostream os(s);
  os << loc;
  return s;
}

const char *severityName(DiagnosticSeverity severity) {
  switch (severity) {
  case DiagnosticSeverity::Error:
    return "error";
  case DiagnosticSeverity::Warning:
    return "warning";
  case DiagnosticSeverity::Note:
    return "note";
  case DiagnosticSeverity::Remark:
    return "remark";
  }
  return "error";
}

std::string formatOne(Diagnostic &diag, const char *severity) {
  std::string loc = formatLocation(diag.getLocation());
  std::string s = loc.empty() ? "" : loc + ": ";
  s += severity;
  s += ": ";
  s += diag.str();
  return s;
}

/// Collects every diagnostic (with its attached notes) emitted on a context
/// while alive, formatted `file:line:col: severity: message`. Never throws.
class DiagnosticCollector {
public:
  explicit DiagnosticCollector(MLIRContext *ctx)
      : handler(ctx, [this](Diagnostic &diag) {
          std::string text = formatOne(diag, severityName(diag.getSeverity()));
          for (Diagnostic &note : diag.getNotes())
            text += "\n" + formatOne(note, "note");
          diags.push_back(std::move(text));
          return success();
        }) {}

  std::vector<std::string> diags;

private:
  ScopedDiagnosticHandler handler;
};

//===----------------------------------------------------------------------===//
// Contexts, parsing, pipelines
//===----------------------------------------------------------------------===//

std::unique_ptr<MLIRContext> makeContext() {
  DialectRegistry registry;
  sparse_attn::registerSparseAttnDialects(registry);
  registerBuiltinDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
  // One context per module or compilation; a thread pool each would cost
  // more than it buys on the small modules we handle.
  auto context =
      std::make_unique<MLIRContext>(registry, MLIRContext::Threading::DISABLED);
  // Diagnostics name locations; a dump of the (possibly huge) op is noise.
  context->printOpOnDiagnostic(false);
  return context;
}

/// Name of the source buffer: locations read `<input>:line:col`.
constexpr const char *kSourceName = "<input>";

OwningOpRef<ModuleOp> parseModule(const std::string &text, MLIRContext *ctx,
                                  DiagnosticCollector &collector) {
  ParserConfig config(ctx, /*verifyAfterParse=*/true);
  OwningOpRef<ModuleOp> module =
      parseSourceString<ModuleOp>(text, config, kSourceName);
  if (!module)
    throwMLIRError("failed to parse MLIR", collector.diags);
  return module;
}

std::string trimmed(std::string s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos)
    return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

/// Builds the pass manager for a textual pipeline: anchored
/// (`builtin.module(...)`) as is, otherwise wrapped in builtin.module(...).
void buildPipeline(PassManager &pm, const std::string &pipeline) {
  std::string text = trimmed(pipeline);
  if (text.empty())
    throwMLIRError("empty pass pipeline", {});
  std::string asIsErrors, wrappedErrors;
  {
    llvm::raw_string_ostream os(asIsErrors);
    FailureOr<OpPassManager> parsed = parsePassPipeline(text, os);
    if (succeeded(parsed) &&
        parsed->getOpAnchorName() == ModuleOp::getOperationName()) {
      static_cast<OpPassManager &>(pm) = *parsed;
      return;
    }
  }
  {
    llvm::raw_string_ostream os(wrappedErrors);
    FailureOr<OpPassManager> parsed =
        parsePassPipeline("builtin.module(" + text + ")", os);
    if (succeeded(parsed)) {
      static_cast<OpPassManager &>(pm) = *parsed;
      return;
    }
  }
  bool anchored = text.rfind("builtin.module(", 0) == 0;
  std::string errors = trimmed(anchored ? asIsErrors : wrappedErrors);
  throwMLIRError("invalid pass pipeline '" + text + "'", {errors});
}

/// A parsed module that keeps its context alive. The module is destroyed
/// before the context (member order).
struct PyModule {
  std::unique_ptr<MLIRContext> context;
  OwningOpRef<ModuleOp> module;

  std::string str() {
    std::string s;
    llvm::raw_string_ostream os(s);
    module->print(os);
    return s;
  }

  void runPipeline(const std::string &pipeline) {
    DiagnosticCollector collector(context.get());
    PassManager pm(context.get());
    buildPipeline(pm, pipeline);
    if (failed(pm.run(*module)))
      throwMLIRError("pass pipeline '" + trimmed(pipeline) + "' failed",
                     collector.diags);
  }

  void verify() {
    DiagnosticCollector collector(context.get());
    if (failed(mlir::verify(*module)))
      throwMLIRError("module failed to verify", collector.diags);
  }
};

std::unique_ptr<PyModule> parse(const std::string &text) {
  auto result = std::make_unique<PyModule>();
  result->context = makeContext();
  DiagnosticCollector collector(result->context.get());
  result->module = parseModule(text, result->context.get(), collector);
  return result;
}

//===----------------------------------------------------------------------===//
// Element types and signatures
//===----------------------------------------------------------------------===//

struct ElemInfo {
  const char *numpyName; ///< dtype of the numpy arrays passed and returned
  size_t storageBytes;   ///< bytes of one element in the memref
  bool isBF16;           ///< float32 on the Python side, bf16 in memory
};

const ElemInfo kF32{"float32", 4, false};
const ElemInfo kF64{"float64", 8, false};
const ElemInfo kF16{"float16", 2, false};
const ElemInfo kBF16{"float32", 2, true};
const ElemInfo kI64{"int64", 8, false};
const ElemInfo kI32{"int32", 4, false};
const ElemInfo kI16{"int16", 2, false};
const ElemInfo kI8{"int8", 1, false};
const ElemInfo kI1{"bool", 1, false};

const ElemInfo *elemInfoFor(Type t) {
  if (t.isF32())
    return &kF32;
  if (t.isF64())
    return &kF64;
  if (t.isF16())
    return &kF16;
  if (t.isBF16())
    return &kBF16;
  if (t.isIndex())
    return &kI64;
  if (auto it = dyn_cast<IntegerType>(t)) {
    if (it.isUnsigned())
      return nullptr;
    switch (it.getWidth()) {
    case 64:
      return &kI64;
    case 32:
      return &kI32;
    case 16:
      return &kI16;
    case 8:
      return &kI8;
    case 1:
      return &kI1;
    default:
      return nullptr;
    }
  }
  return nullptr;
}

struct TensorSig {
  const ElemInfo *elem;
  std::vector<int64_t> shape; ///< -1 for dynamic dims
  std::string typeStr;

  size_t rank() const { return shape.size(); }
  /// Words (8 bytes) of the memref descriptor of this rank.
  size_t descriptorWords() const { return 3 + 2 * shape.size(); }
};

std::string typeToString(Type t) {
  std::string s;
  llvm::raw_string_ostream os(s);
  t.print(os);
  return s;
}

TensorSig describe(Type type, const char *what, size_t index,
                   const std::string &funcName) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  if (!tensor)
    throw py::value_error(
        "@" + funcName + ": " + what + " " + std::to_string(index) +
        " has type " + typeToString(type) +
        ": only tensor arguments/results (ranked tensors of f32, f16, bf16, "
        "f64, i64, i32, i16, i8, i1, index) are supported");
  const ElemInfo *elem = elemInfoFor(tensor.getElementType());
  if (!elem)
    throw py::value_error("@" + funcName + ": " + what + " " +
                          std::to_string(index) + " has type " +
                          typeToString(type) +
                          ": unsupported element type (supported: f32, f16, "
                          "bf16, f64, i64, i32, i16, i8, i1, index)");
  TensorSig sig;
  sig.elem = elem;
  for (int64_t d : tensor.getShape())
    sig.shape.push_back(ShapedType::isDynamic(d) ? -1 : d);
  sig.typeStr = typeToString(type);
  return sig;
}

//===----------------------------------------------------------------------===//
// JIT trap for run-time checks (puts + abort)
//===----------------------------------------------------------------------===//

/// Per-thread state of the call in flight. Trivially constructible, so the
/// thread_local needs no dynamic initialisation.
struct TrapState {
  std::jmp_buf *env;
  size_t len;
  char msg[8192];
};
thread_local TrapState tTrap;

/// `puts` as seen by JIT code: records the message while a call is in
/// flight on this thread, prints it otherwise.
int jitPuts(const char *s) {
  TrapState &t = tTrap;
  if (!t.env)
    return std::puts(s);
  size_t n = std::strlen(s);
  size_t room = sizeof(t.msg) - 1 - t.len;
  if (t.len && room) {
    t.msg[t.len++] = '\n';
    --room;
  }
  if (n > room)
    n = room;
  std::memcpy(t.msg + t.len, s, n);
  t.len += n;
  t.msg[t.len] = '\0';
  return 1;
}

/// `abort` as seen by JIT code: unwinds (longjmp) to the call site while a
/// call is in flight on this thread, aborts for real otherwise.
[[noreturn]] void jitAbort() {
  TrapState &t = tTrap;
  std::jmp_buf *env = t.env;
  if (!env)
    std::abort();
  t.env = nullptr;
  std::longjmp(*env, 1);
}

/// `memrefCopy` (what memref.copy between non-contiguous memrefs lowers to),
/// normally found in libmlir_c_runner_utils: copies `elemSize`-byte elements
/// between two unranked memrefs of the same shape.
struct UnrankedDescriptor {
  int64_t rank;
  const int64_t *descriptor; ///< {allocated, aligned, offset, sizes, strides}
};

void jitMemrefCopy(int64_t elemSize, UnrankedDescriptor *srcArg,
                   UnrankedDescriptor *dstArg) {
  const int64_t rank = srcArg->rank;
  const int64_t *src = srcArg->descriptor, *dst = dstArg->descriptor;
  const char *srcBase =
      reinterpret_cast<const char *>(src[1]) + src[2] * elemSize;
  char *dstBase = reinterpret_cast<char *>(dst[1]) + dst[2] * elemSize;
  const int64_t *sizes = src + 3;
  const int64_t *srcStrides = src + 3 + rank, *dstStrides = dst + 3 + rank;
  int64_t total = 1;
  bool contiguous = true;
  for (int64_t d = rank - 1; d >= 0; --d) {
    if (sizes[d] != 1 && (srcStrides[d] != total || dstStrides[d] != total))
      contiguous = false;
    total *= sizes[d];
  }
  if (total <= 0)
    return;
  if (contiguous) {
    std::memmove(dstBase, srcBase, static_cast<size_t>(total * elemSize));
    return;
  }
  std::vector<int64_t> idx(static_cast<size_t>(rank), 0);
  int64_t srcPos = 0, dstPos = 0;
  for (int64_t n = 0; n < total; ++n) {
    std::memcpy(dstBase + dstPos * elemSize, srcBase + srcPos * elemSize,
                static_cast<size_t>(elemSize));
    for (int64_t d = rank - 1; d >= 0; --d) {
      if (++idx[d] < sizes[d]) {
        srcPos += srcStrides[d];
        dstPos += dstStrides[d];
        break;
      }
      srcPos -= srcStrides[d] * (sizes[d] - 1);
      dstPos -= dstStrides[d] * (sizes[d] - 1);
      idx[d] = 0;
    }
  }
}

/// Symbols the JIT resolves to the extension rather than the process.
const char *const kOverriddenSymbols[] = {"puts", "abort", "memrefCopy"};

/// Calls the packed JIT function. Returns false when the code called abort.
/// No object with a non-trivial destructor lives in this frame: longjmp
/// lands here from JIT frames.
__attribute__((noinline)) bool callGuarded(void (*fn)(void **), void **args) {
  TrapState &t = tTrap;
  std::jmp_buf env;
  t.len = 0;
  t.msg[0] = '\0';
  if (setjmp(env) != 0) {
    t.env = nullptr;
    return false;
  }
  t.env = &env;
  fn(args);
  t.env = nullptr;
  return true;
}

//===----------------------------------------------------------------------===//
// Compilation and cache
//===----------------------------------------------------------------------===//

struct Compiled {
  std::string funcName;
  std::vector<TensorSig> args, results;
  std::unique_ptr<ExecutionEngine> engine;
  void (*fn)(void **) = nullptr;
};

//===----------------------------------------------------------------------===//
// compile_gpu
//===----------------------------------------------------------------------===//

/// Runs `body` with the process's stderr (where LLVM's option parser writes
/// what it rejects) sent to a temporary file; returns what was written.
std::string captureStderr(function_ref<void()> body) {
  llvm::errs().flush();
  std::fflush(stderr);
  std::FILE *capture = std::tmpfile();
  int saved = capture ? dup(2) : -1;
  if (saved < 0) {
    if (capture)
      std::fclose(capture);
    body();
    return "";
  }
  dup2(fileno(capture), 2);
  body();
  llvm::errs().flush();
  std::fflush(stderr);
  dup2(saved, 2);
  close(saved);
  std::string text;
  std::rewind(capture);
  char buffer[512];
  for (size_t n; (n = std::fread(buffer, 1, sizeof(buffer), capture)) > 0;)
    text.append(buffer, n);
  std::fclose(capture);
  return text;
}

/// Compiles @funcName for a GPU: returns {"plan": JSON text of the launch
/// plan, "modules": {name: PTX}}. The inputs are marked read-only, as for
/// run_cpu (the runtime passes the caller's tensors).
py::dict compileGpu(const std::string &text, const std::string &funcName,
                    const std::string &chip,
                    const std::string &pipelineOptions) {
  std::unique_ptr<MLIRContext> context = makeContext();
  MLIRContext *ctx = context.get();
  DiagnosticCollector collector(ctx);
  OwningOpRef<ModuleOp> module = parseModule(text, ctx, collector);
  auto func = module->lookupSymbol<func::FuncOp>(funcName);
  if (!func || func.isExternal())
    throw py::value_error("no func.func @" + funcName +
                          " with a body in the module");
  for (unsigned i = 0, e = func.getNumArguments(); i < e; ++i)
    func.setArgAttr(i, "bufferization.writable", BoolAttr::get(ctx, false));

  // Other options of sparse-attn-to-ptx-pipeline, in its textual form,
  // parsed and checked by the pipeline and its passes. The option parser
  // reports a malformed value on stderr, not in its stream: that is
  // captured for the message.
  auto badOptions = [&](const Twine &why) {
    PyErr_SetObject(PyExc_ValueError,
                    decodeText(("bad pipeline options '" + pipelineOptions +
                                "': " + why)
                                   .str())
                        .ptr());
    throw py::error_already_set();
  };
  sparse_attn::SparseAttnToPTXOptions options;
  PassManager kernels(ctx);
  std::string errors;
  llvm::raw_string_ostream errorStream(errors);
  LogicalResult built = failure();
  std::string parserOutput = captureStderr([&] {
    if (failed(options.parseFromString(pipelineOptions, errorStream)))
      return;
    options.chip = chip;
    built = sparse_attn::buildSparseAttnToGPUKernelsPipeline(
        kernels, options, [&](const Twine &why) { errorStream << why; });
  });
  if (failed(built)) {
    // The option parser's own messages start with its (empty) tool name.
    std::string combined = errors + parserOutput;
    StringRef why = StringRef(combined).trim().ltrim(": ");
    badOptions(why.empty() ? StringRef("rejected by the option parser") : why);
  }
  if (failed(kernels.run(*module)))
    throwMLIRError("compiling @" + funcName + " for " + chip + " failed",
                   collector.diags);
  func = module->lookupSymbol<func::FuncOp>(funcName);
  FailureOr<llvm::json::Object> plan = sparse_attn::buildLaunchPlan(func);
  if (failed(plan))
    throwMLIRError("@" + funcName + " has no GPU launch plan", collector.diags);
  (*plan)["chip"] = chip;

  PassManager ptx(ctx);
  sparse_attn::buildSparseAttnGPUToPTXPipeline(ptx, options);
  if (failed(ptx.run(*module)))
    throwMLIRError("generating PTX for @" + funcName + " failed",
                   collector.diags);
  py::dict modules;
  for (auto binary : module->getOps<gpu::BinaryOp>())
    for (Attribute object : binary.getObjects())
      modules[py::str(binary.getName().str())] =
          py::str(cast<gpu::ObjectAttr>(object).getObject().getValue().str());
  std::string planText;
  llvm::raw_string_ostream os(planText);
  os << llvm::json::Value(std::move(*plan));
  py::dict result;
  result["plan"] = py::str(planText);
  result["modules"] = modules;
  return result;
}

bool gTargetsInitialized = false;

/// What run_cpu does to the called function before lowering: a C interface
/// wrapper (_mlir_ciface_<name>) visible to the JIT lookup, and read-only
/// arguments (they are the caller's numpy buffers: bufferization copies
/// instead of writing into them).
void prepareForHost(func::FuncOp func) {
  MLIRContext *ctx = func.getContext();
  func->setAttr(LLVM::LLVMDialect::getEmitCWrapperAttrName(),
                UnitAttr::get(ctx));
  func.setPublic();
  for (unsigned i = 0, e = func.getNumArguments(); i < e; ++i)
    func.setArgAttr(i, "bufferization.writable", BoolAttr::get(ctx, false));
}

std::shared_ptr<Compiled> compile(const std::string &text,
                                  const std::string &funcName) {
  std::unique_ptr<MLIRContext> context = makeContext();
  MLIRContext *ctx = context.get();
  DiagnosticCollector collector(ctx);
  OwningOpRef<ModuleOp> module = parseModule(text, ctx, collector);

  auto func = module->lookupSymbol<func::FuncOp>(funcName);
  if (!func) {
    std::string names;
    for (auto f : module->getOps<func::FuncOp>())
      names += (names.empty() ? "@" : ", @") + f.getName().str();
    throw py::value_error("no func.func @" + funcName + " in the module" +
                          (names.empty() ? std::string(" (it has no functions)")
                                         : " (functions: " + names + ")"));
  }
  if (func.isExternal())
    throw py::value_error("func.func @" + funcName +
                          " is a declaration without a body");

  auto compiled = std::make_shared<Compiled>();
  compiled->funcName = funcName;
  FunctionType fnType = func.getFunctionType();
  for (auto [i, t] : llvm::enumerate(fnType.getInputs()))
    compiled->args.push_back(describe(t, "argument", i, funcName));
  for (auto [i, t] : llvm::enumerate(fnType.getResults()))
    compiled->results.push_back(describe(t, "result", i, funcName));

  prepareForHost(func);

  PassManager pm(ctx);
  sparse_attn::buildSparseAttnToLLVMCPUPipeline(pm);
  if (failed(pm.run(*module)))
    throwMLIRError("lowering @" + funcName + " to LLVM failed",
                   collector.diags);

  // External functions the code calls must come from the process (libc,
  // libm, ...) or from us; say which are missing rather than letting the JIT
  // fail with "Failed to materialize symbols".
  std::string missing;
  for (auto decl : module->getOps<LLVM::LLVMFuncOp>()) {
    if (!decl.isExternal() || decl.symbolKnownUseEmpty(*module))
      continue;
    StringRef name = decl.getName();
    if (llvm::is_contained(kOverriddenSymbols, name) ||
        dlsym(RTLD_DEFAULT, name.str().c_str()))
      continue;
    missing += (missing.empty() ? "" : ", ") + name.str();
  }
  if (!missing.empty())
    throwMLIRError("@" + funcName +
                       " calls external functions the JIT cannot resolve "
                       "(not in the process nor provided by sparse_attn): " +
                       missing,
                   collector.diags);

  if (!gTargetsInitialized) {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    gTargetsInitialized = true;
  }
  auto transformer = makeOptimizingTransformer(/*optLevel=*/2,
                                               /*sizeLevel=*/0,
                                               /*targetMachine=*/nullptr);
  ExecutionEngineOptions options;
  options.transformer = transformer;
  options.jitCodeGenOptLevel = llvm::CodeGenOptLevel::Default;
  options.enableGDBNotificationListener = false;
  options.enablePerfNotificationListener = false;
  auto engineOrError = ExecutionEngine::create(*module, options);
  if (!engineOrError)
    throwMLIRError("JIT compilation of @" + funcName +
                       " failed: " + llvm::toString(engineOrError.takeError()),
                   collector.diags);
  std::unique_ptr<ExecutionEngine> engine = std::move(*engineOrError);

  engine->registerSymbols([](llvm::orc::MangleAndInterner interner) {
    llvm::orc::SymbolMap map;
    map[interner("puts")] = {llvm::orc::ExecutorAddr::fromPtr(&jitPuts),
                             llvm::JITSymbolFlags::Exported};
    map[interner("abort")] = {llvm::orc::ExecutorAddr::fromPtr(&jitAbort),
                              llvm::JITSymbolFlags::Exported};
    map[interner("memrefCopy")] = {
        llvm::orc::ExecutorAddr::fromPtr(&jitMemrefCopy),
        llvm::JITSymbolFlags::Exported};
    return map;
  });
  engine->initialize();

  auto fnOrError = engine->lookupPacked("_mlir_ciface_" + funcName);
  if (!fnOrError)
    throwMLIRError("JIT compilation of @" + funcName +
                       " failed: " + llvm::toString(fnOrError.takeError()),
                   collector.diags);
  compiled->fn = *fnOrError;
  compiled->engine = std::move(engine);
  return compiled;
}

/// LRU cache of compiled functions keyed by (function name, module text).
/// Heap-allocated and never destroyed: the JITs must not be torn down from
/// static destructors at interpreter exit.
struct EngineCache {
  using Entry = std::pair<std::string, std::shared_ptr<Compiled>>;
  size_t capacity = 64;
  std::list<Entry> lru;
  std::unordered_map<std::string, std::list<Entry>::iterator> index;
  uint64_t hits = 0, misses = 0;

  void trim() {
    while (lru.size() > capacity) {
      index.erase(lru.back().first);
      lru.pop_back();
    }
  }

  std::shared_ptr<Compiled> get(const std::string &text,
                                const std::string &funcName) {
    std::string key = funcName;
    key.push_back('\0');
    key += text;
    auto it = index.find(key);
    if (it != index.end()) {
      ++hits;
      lru.splice(lru.begin(), lru, it->second);
      return it->second->second;
    }
    ++misses;
    std::shared_ptr<Compiled> compiled = compile(text, funcName);
    if (capacity == 0)
      return compiled;
    lru.emplace_front(key, compiled);
    index[std::move(key)] = lru.begin();
    trim();
    return compiled;
  }
};

EngineCache &cache() {
  static EngineCache *c = new EngineCache();
  return *c;
}

//===----------------------------------------------------------------------===//
// run_cpu
//===----------------------------------------------------------------------===//

std::string shapeString(const py::array &a) {
  std::string s = "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) {
    if (i)
      s += ", ";
    s += std::to_string(a.shape(i));
  }
  if (a.ndim() == 1)
    s += ",";
  return s + ")";
}

std::string describeValue(py::handle obj) {
  if (py::isinstance<py::array>(obj)) {
    auto a = py::reinterpret_borrow<py::array>(obj);
    return py::str(a.dtype()).cast<std::string>() + " array of shape " +
           shapeString(a);
  }
  return "an object of type " +
         py::str(py::type::handle_of(obj).attr("__name__")).cast<std::string>();
}

py::dtype dtypeFor(const ElemInfo &e) { return py::dtype(e.numpyName); }

uint16_t floatToBF16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) // NaN: keep it a (quiet) NaN
    return static_cast<uint16_t>((u >> 16) | 0x0040u);
  u += 0x7fffu + ((u >> 16) & 1u); // round to nearest, ties to even
  return static_cast<uint16_t>(u >> 16);
}

float bf16ToFloat(uint16_t h) {
  uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

/// Copies a strided memref into a dense row-major buffer (bf16 widened to
/// float32).
void copyOut(const char *aligned, int64_t offset, const int64_t *sizes,
             const int64_t *strides, size_t rank, const ElemInfo &elem,
             char *dst) {
  int64_t total = 1;
  for (size_t d = 0; d < rank; ++d)
    total *= sizes[d];
  if (total == 0)
    return;
  const size_t srcBytes = elem.storageBytes;
  const char *base = aligned + offset * static_cast<int64_t>(srcBytes);
  bool contiguous = true;
  int64_t expect = 1;
  for (size_t d = rank; d-- > 0;) {
    if (sizes[d] != 1 && strides[d] != expect)
      contiguous = false;
    expect *= sizes[d];
  }
  if (contiguous && !elem.isBF16) {
    std::memcpy(dst, base, static_cast<size_t>(total) * srcBytes);
    return;
  }
  std::vector<int64_t> idx(rank, 0);
  int64_t pos = 0;
  for (int64_t n = 0; n < total; ++n) {
    const char *src = base + pos * static_cast<int64_t>(srcBytes);
    if (elem.isBF16) {
      uint16_t h;
      std::memcpy(&h, src, 2);
      float f = bf16ToFloat(h);
      std::memcpy(dst + n * 4, &f, 4);
    } else {
      std::memcpy(dst + n * srcBytes, src, srcBytes);
    }
    for (size_t d = rank; d-- > 0;) {
      if (++idx[d] < sizes[d]) {
        pos += strides[d];
        break;
      }
      pos -= strides[d] * (sizes[d] - 1);
      idx[d] = 0;
    }
  }
}

/// Frees the result buffers of one call (each distinct allocation once, never
/// an input buffer nor the marker of a global) when it goes out of scope.
struct ResultBuffers {
  std::unordered_set<void *> toFree;
  ~ResultBuffers() {
    for (void *p : toFree)
      std::free(p);
  }
};

py::list runCpu(const std::string &text, std::string funcName,
                py::sequence args) {
  if (!funcName.empty() && funcName[0] == '@')
    funcName.erase(0, 1);
  std::shared_ptr<Compiled> compiled = cache().get(text, funcName);
  const Compiled &c = *compiled;

  size_t nargs = py::len(args);
  if (nargs != c.args.size())
    throw py::value_error("@" + funcName + " expects " +
                          std::to_string(c.args.size()) + " argument" +
                          (c.args.size() == 1 ? "" : "s") + ", got " +
                          std::to_string(nargs));

  // Check and marshal the arguments: contiguous arrays kept alive here,
  // bf16 copies, memref descriptors, pointers to them, packed pointers.
  auto &npy = py::detail::npy_api::get();
  std::vector<py::array> keepAlive;
  std::vector<std::vector<uint16_t>> bf16Copies;
  std::vector<std::vector<int64_t>> argDescs(nargs);
  std::vector<void *> argDescPtrs(nargs);
  std::vector<const void *> inputBuffers;
  keepAlive.reserve(nargs);
  for (size_t i = 0; i < nargs; ++i) {
    const TensorSig &sig = c.args[i];
    py::object obj = args[i];
    py::dtype want = dtypeFor(*sig.elem);
    auto fail = [&](const std::string &detail) {
      throw py::value_error("argument " + std::to_string(i) + ": expected " +
                            sig.typeStr + " (" +
                            py::str(want).cast<std::string>() + "), got " +
                            describeValue(obj) + detail);
    };
    if (!py::isinstance<py::array>(obj))
      fail("");
    auto arr = py::reinterpret_borrow<py::array>(obj);
    if (!npy.PyArray_EquivTypes_(arr.dtype().ptr(), want.ptr()))
      fail("");
    if (static_cast<size_t>(arr.ndim()) != sig.rank())
      fail("");
    for (size_t d = 0; d < sig.rank(); ++d)
      if (sig.shape[d] >= 0 && arr.shape(d) != sig.shape[d])
        fail(" (dim " + std::to_string(d) + " is " +
             std::to_string(arr.shape(d)) + ", expected " +
             std::to_string(sig.shape[d]) + ")");

    py::array dense =
        py::array::ensure(arr, py::detail::npy_api::NPY_ARRAY_C_CONTIGUOUS_ |
                                   py::detail::npy_api::NPY_ARRAY_ALIGNED_);
    if (!dense)
      throw py::error_already_set();
    const void *data = dense.data();
    if (sig.elem->isBF16) {
      size_t n = static_cast<size_t>(dense.size());
      std::vector<uint16_t> copy(n);
      const float *src = static_cast<const float *>(data);
      for (size_t k = 0; k < n; ++k)
        copy[k] = floatToBF16(src[k]);
      bf16Copies.push_back(std::move(copy));
      data = bf16Copies.back().data();
    }
    keepAlive.push_back(std::move(dense));
    inputBuffers.push_back(data);

    std::vector<int64_t> &desc = argDescs[i];
    desc.assign(sig.descriptorWords(), 0);
    auto ptrWord = reinterpret_cast<int64_t>(data);
    desc[0] = ptrWord; // allocated
    desc[1] = ptrWord; // aligned
    desc[2] = 0;       // offset
    int64_t stride = 1;
    for (size_t d = sig.rank(); d-- > 0;) {
      desc[3 + d] = arr.shape(d);
      desc[3 + sig.rank() + d] = stride;
      stride *= arr.shape(d);
    }
    argDescPtrs[i] = desc.data();
  }

  size_t resultWords = 0;
  for (const TensorSig &r : c.results)
    resultWords += r.descriptorWords();
  std::vector<int64_t> resultStorage(resultWords ? resultWords : 1, 0);
  void *resultPtr = resultStorage.data();

  std::vector<void *> packed;
  if (!c.results.empty())
    packed.push_back(&resultPtr);
  for (size_t i = 0; i < nargs; ++i)
    packed.push_back(&argDescPtrs[i]);
  packed.push_back(nullptr); // keeps data() valid when there is nothing

  bool ok;
  {
    py::gil_scoped_release release;
    ok = callGuarded(c.fn, packed.data());
  }
  std::string messages(tTrap.msg, tTrap.len);
  if (!ok)
    throw py::value_error(
        "@" + funcName + ": run-time check failed: " +
        (messages.empty() ? std::string("abort() called") : trimmed(messages)));
  if (!messages.empty()) {
    // The function printed without failing: let the text through.
    std::fputs(messages.c_str(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
  }

  // Collect the buffers to free before anything can throw.
  ResultBuffers owned;
  const int64_t *word = resultStorage.data();
  std::vector<const int64_t *> descs;
  for (const TensorSig &r : c.results) {
    descs.push_back(word);
    void *allocated = reinterpret_cast<void *>(word[0]);
    bool isInput = false;
    for (const void *in : inputBuffers)
      isInput |= in == allocated;
    // memref.get_global descriptors carry 0xdeadbeef as allocated pointer.
    if (allocated && !isInput &&
        allocated != reinterpret_cast<void *>(uintptr_t{0xdeadbeef}))
      owned.toFree.insert(allocated);
    word += r.descriptorWords();
  }

  py::list out;
  for (size_t k = 0; k < c.results.size(); ++k) {
    const TensorSig &r = c.results[k];
    const int64_t *desc = descs[k];
    const char *aligned = reinterpret_cast<const char *>(desc[1]);
    const int64_t *sizes = desc + 3;
    const int64_t *strides = desc + 3 + r.rank();
    std::vector<py::ssize_t> shape(r.rank());
    for (size_t d = 0; d < r.rank(); ++d) {
      if (sizes[d] < 0)
        throw py::value_error("@" + funcName + ": result " + std::to_string(k) +
                              " has a negative size");
      shape[d] = sizes[d];
    }
    py::array result(dtypeFor(*r.elem), shape);
    copyOut(aligned, desc[2], sizes, strides, r.rank(), *r.elem,
            static_cast<char *>(result.mutable_data()));
    out.append(std::move(result));
  }
  return out;
}

std::string lowerToLLVM(const std::string &text,
                        std::optional<std::string> funcName) {
  std::unique_ptr<PyModule> m = parse(text);
  MLIRContext *ctx = m->context.get();
  DiagnosticCollector collector(ctx);
  if (funcName) {
    std::string name = *funcName;
    if (!name.empty() && name[0] == '@')
      name.erase(0, 1);
    auto func = m->module->lookupSymbol<func::FuncOp>(name);
    if (!func || func.isExternal())
      throw py::value_error("no func.func @" + name +
                            " with a body in the module");
    prepareForHost(func);
  }
  PassManager pm(ctx);
  sparse_attn::buildSparseAttnToLLVMCPUPipeline(pm);
  if (failed(pm.run(*m->module)))
    throwMLIRError("lowering to LLVM failed", collector.diags);
  return m->str();
}

} // namespace

PYBIND11_MODULE(_native, m) {
  m.doc() = "Native part of sparse_attn (MLIR parsing, pass pipelines, CPU "
            "JIT). Use the `sparse_attn` package rather than this module.";

  py::object errors = py::module_::import("sparse_attn.errors");
  py::object errorClass = errors.attr("MLIRError");
  gMLIRErrorClass = errorClass.release().ptr();

  // Our passes and pipelines, plus the upstream ones, by textual name.
  sparse_attn::registerSparseAttnPasses();

  py::class_<PyModule>(m, "Module",
                       "A parsed MLIR module owning its MLIRContext.")
      .def("__str__", &PyModule::str)
      .def("run_pipeline", &PyModule::runPipeline, py::arg("pipeline"),
           "Runs a textual pass pipeline in place, e.g. "
           "'builtin.module(canonicalize)' or 'canonicalize,cse'. Raises "
           "MLIRError with the diagnostics on failure.")
      .def("verify", &PyModule::verify,
           "Verifies the module; raises MLIRError on failure.");

  m.def("parse", &parse, py::arg("text"),
        "Parses and verifies MLIR text; raises MLIRError on failure.");
  m.def("run_cpu", &runCpu, py::arg("text"), py::arg("func_name"),
        py::arg("args"),
        "JIT-compiles @func_name of the module through the CPU pipeline "
        "(cached) and calls it on numpy arrays; returns the results.");
  m.def("compile_gpu", &compileGpu, py::arg("text"), py::arg("func_name"),
        py::arg("chip") = "sm_90", py::arg("options") = "",
        "Compiles @func_name to PTX kernels for `chip` (and the other options "
        "of sparse-attn-to-ptx-pipeline, e.g. 'nvgpu-options={block-q=64}') "
        "and its launch plan: "
        "returns {'plan': JSON text, 'modules': {name: PTX}}.");
  m.def("lower_to_llvm", &lowerToLLVM, py::arg("text"),
        py::arg("func_name") = py::none(),
        "Returns the module lowered by sparse-attn-to-llvm-cpu-pipeline.");
  m.def(
      "clear_cache",
      []() {
        cache().index.clear();
        cache().lru.clear();
      },
      "Drops every cached compiled function.");
  m.def(
      "set_cache_capacity",
      [](size_t n) {
        cache().capacity = n;
        cache().trim();
      },
      py::arg("capacity"),
      "Sets how many compiled functions run_cpu keeps (0 disables caching).");
  m.def(
      "cache_info",
      []() {
        py::dict d;
        d["size"] = cache().lru.size();
        d["capacity"] = cache().capacity;
        d["hits"] = cache().hits;
        d["misses"] = cache().misses;
        return d;
      },
      "Size, capacity, hits and misses of the compiled-function cache.");
}
