// motec compile: import -> IR (built or parsed) -> verify -> CPU pipeline ->
// bundle, with one-line errors and a compile report.
#include "compiler/Driver.h"

#include "compiler/IRBuilder.h"
#include "compiler/bundle/BundleWriter.h"
#include "compiler/quant/AwqScale.h"
#include "compiler/quant/CalibrationStats.h"
#include "mote/bundle_format.h"
#include "mote_bundle.pb.h"
#include "compiler/import/Import.h"
#include "dialects/Mote/IR/MoteOps.h"
#include "passes/MotePasses.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/raw_ostream.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace mote {
namespace {

void printError(const std::string &msg) {
  std::string one = msg;
  for (char &c : one)
    if (c == '\n' || c == '\r')
      c = ' ';
  std::fprintf(stderr, "motec: error: %s\n", one.c_str());
}

// Turns MLIR diagnostics into one "<file>: <where>: <what>" line: the first
// error wins, everything else (notes, later errors) is dropped.
class FirstError {
public:
  FirstError(mlir::MLIRContext &ctx, std::string file)
      : file_(std::move(file)),
        handler_(&ctx, [this](mlir::Diagnostic &d) {
          if (d.getSeverity() == mlir::DiagnosticSeverity::Error && msg_.empty())
            msg_ = file_ + ": " + where(d.getLocation()) + ": " + d.str();
          return mlir::success();
        }) {}
  void setFile(std::string f) { file_ = std::move(f); }
  std::string take(const std::string &fallback) {
    return msg_.empty() ? file_ + ": " + fallback : msg_;
  }

private:
  static std::string where(mlir::Location loc) {
    if (auto n = mlir::dyn_cast<mlir::NameLoc>(loc))
      return n.getName().str();
    if (auto f = mlir::dyn_cast<mlir::FileLineColLoc>(loc))
      return "line " + std::to_string(f.getLine()) + " col " +
             std::to_string(f.getColumn());
    if (auto f = mlir::dyn_cast<mlir::FusedLoc>(loc))
      if (!f.getLocations().empty())
        return where(f.getLocations().front());
    if (auto c = mlir::dyn_cast<mlir::CallSiteLoc>(loc))
      return where(c.getCallee());
    return "module";
  }
  std::string file_, msg_;
  mlir::ScopedDiagnosticHandler handler_;
};

Status checkRequest(const CompileRequest &r) {
  if (r.target != "cpu")
    return Status::Error("--target " + r.target + ": not implemented yet (cpu only)");
  if (r.weights != "f32" && r.weights != "f16" && r.weights != "w2" && r.weights != "w4" &&
      r.weights != "w8")
    return Status::Error("--weights " + r.weights + ": must be f32, f16, w2, w4 or w8");
  if (r.groupSize != 0 && r.groupSize != 32 && r.groupSize != 64 && r.groupSize != 128)
    return Status::Error("--group-size " + std::to_string(r.groupSize) +
                         ": must be 32, 64, 128 or 0 (whole row)");
  if (r.fMode != "maxabs" && r.fMode != "search")
    return Status::Error("--f " + r.fMode + ": must be maxabs or search");
  if (r.scaleDtype != "auto" && r.scaleDtype != "f16" && r.scaleDtype != "f32")
    return Status::Error("--scale-dtype " + r.scaleDtype + ": must be auto, f16 or f32");
  if (r.embedBits != -1 && r.embedBits != 0 && r.embedBits != 2 && r.embedBits != 4 &&
      r.embedBits != 8 && r.embedBits != 16)
    return Status::Error("--embed-bits " + std::to_string(r.embedBits) +
                         ": must be 2, 4, 8, 16 (f16) or 0 (f32)");
  if (r.rounding != "nearest" && r.rounding != "awq" && r.rounding != "gptq" &&
      r.rounding != "gptq-act")
    return Status::Error("--rounding " + r.rounding +
                         ": must be nearest, awq, gptq or gptq-act");
  if (r.rounding != "nearest" && r.calibration.empty())
    return Status::Error("--rounding " + r.rounding + ": needs --calibration STATS");
  if (!r.calibration.empty() && r.rounding == "nearest")
    return Status::Error("--calibration " + r.calibration +
                         ": needs --rounding awq, gptq or gptq-act");
  if (r.awqScale && r.calibration.empty())
    return Status::Error("--awq-scale: needs --calibration STATS and --rounding awq, gptq "
                         "or gptq-act");
  if (r.awqScale && r.weights != "w2" && r.weights != "w4" && r.weights != "w8")
    return Status::Error("--awq-scale: needs --weights w2, w4 or w8 (it searches the "
                         "scaling for quantized weights)");
  if (r.awqScale && r.loraMaxRank > 0)
    return Status::Error("--awq-scale: cannot be combined with --lora-max-rank (it rescales "
                         "the norm weights, so adapters would see x/s)");
  if (r.kvDtype != "f32" && r.kvDtype != "q8")
    return Status::Error("--kv-dtype " + r.kvDtype + ": must be f32 or q8");
  if (r.activations != "auto" && r.activations != "int8" && r.activations != "f32")
    return Status::Error("--activations " + r.activations + ": must be auto, int8 or f32");
  if (r.loraMaxRank < 0 || r.loraMaxRank > 256)
    return Status::Error("--lora-max-rank " + std::to_string(r.loraMaxRank) +
                         ": rank above the maximum (must be in 1..256, or 0 = no LoRA)");
  if (r.output.empty())
    return Status::Error("-o: an output file is required");
  return Status::Ok();
}

// The mote-quantize pass runs only when asked for, so IR given with
// --from-mlir keeps its own mote.quant attributes under --weights f32.
bool quantizing(const CompileRequest &r) {
  return r.weights != "f32" || !r.weightsPolicy.empty() || r.embedBits > 0;
}

Status writeMlir(mlir::ModuleOp m, const std::string &path) {
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec, llvm::sys::fs::OF_Text);
  if (ec)
    return Status::Error(path + ": cannot write: " + ec.message());
  mlir::OpPrintingFlags flags;
  flags.enableDebugInfo(/*enable=*/true, /*prettyForm=*/false);
  m->print(os, flags);
  os << "\n";
  os.close();
  if (os.has_error())
    return Status::Error(path + ": write failed");
  return Status::Ok();
}

double mib(uint64_t b) { return double(b) / (1024.0 * 1024.0); }

void printReport(const std::string &out, const BundleReport &r) {
  std::fprintf(stderr, "motec: wrote %s (%.2f MiB, %llu bytes)\n", out.c_str(),
               mib(r.fileBytes), (unsigned long long)r.fileBytes);
  uint64_t numel = 0;
  for (const TensorSummary &t : r.tensorList)
    numel += t.numel;
  std::fprintf(stderr,
               "  tensors: %llu, weights %.2f MiB (%llu bytes, %.3f bits per weight "
               "stored, codes + scales)\n",
               (unsigned long long)r.tensors, mib(r.weightBytes),
               (unsigned long long)r.weightBytes,
               numel ? 8.0 * double(r.weightBytes) / double(numel) : 0.0);
  for (const TensorSummary &t : r.tensorList)
    if (t.bits != 32)
      std::fprintf(stderr,
                   "    %-28s w%u g%llu f=%-6s %.3f bits/weight (%llu bytes), "
                   "rel. sq. error %.3e (maxabs %.3e)\n",
                   t.name.c_str(), t.bits, (unsigned long long)t.groupSize,
                   t.f.c_str(), 8.0 * double(t.bytes) / double(t.numel),
                   (unsigned long long)t.bytes, t.relErr, t.relErrMaxAbs);
  for (const TensorSummary &t : r.tensorList)
    if (t.relOutErr >= 0) // calibrated rounding
      std::fprintf(stderr,
                   "    %-28s rel. output error on the calibration H %.3e "
                   "(weight-only search %.3e)\n",
                   t.name.c_str(), t.relOutErr, t.relOutErrSearch);
  std::fprintf(stderr, "  kv cache: %llu bytes per token\n",
               (unsigned long long)r.kvBytesPerToken);
  for (const GraphSummary &g : r.graphs)
    std::fprintf(stderr,
                 "  graph %s: T=%u, context %u, %llu steps, %llu values, arena %llu bytes\n",
                 g.name.c_str(), g.maxTokens, g.context,
                 (unsigned long long)g.steps, (unsigned long long)g.values,
                 (unsigned long long)g.arenaBytes);
}

// What --kv-share / --kv-share-boundary did, for the report.
struct KVShareSummary {
  bool applied = false;
  uint32_t trainedShared = 0, shared = 0, source = 0; // source: the layer read
  uint64_t bytesBefore = 0, bytesAfter = 0;           // KV bytes per token
};

Status writeReportJson(const std::string &path, const CompileRequest &req,
                       const BundleReport &r, const KVShareSummary &kvs,
                       const AwqScaleResult &awq) {
  nlohmann::json j;
  j["output"] = req.output;
  j["model"] = req.model;
  j["file_bytes"] = r.fileBytes;
  j["tensors"] = r.tensors;
  j["weight_bytes"] = r.weightBytes;
  uint64_t numel = 0;
  j["tensor_bits"] = nlohmann::json::array();
  for (const TensorSummary &t : r.tensorList) {
    numel += t.numel;
    j["tensor_bits"].push_back(
        {{"name", t.name}, {"bits", t.bits}, {"group_size", t.groupSize},
         {"f", t.f}, {"numel", t.numel}, {"bytes", t.bytes},
         {"rel_sq_error", t.relErr}, {"rel_sq_error_maxabs", t.relErrMaxAbs},
         {"bits_per_weight", t.numel ? 8.0 * double(t.bytes) / double(t.numel) : 0.0}});
    if (t.relOutErr >= 0) { // calibrated rounding
      j["tensor_bits"].back()["rel_out_error"] = t.relOutErr;
      j["tensor_bits"].back()["rel_out_error_search"] = t.relOutErrSearch;
    }
  }
  j["weight_numel"] = numel;
  j["bits_per_weight"] = numel ? 8.0 * double(r.weightBytes) / double(numel) : 0.0;
  j["kv_bytes_per_token"] = r.kvBytesPerToken;
  if (kvs.applied) // the rewrite changes the model when it shares more than trained
    j["kv_share"] = {{"shared_layers", kvs.shared},
                     {"trained_shared_layers", kvs.trainedShared},
                     {"source_layer", kvs.source},
                     {"kv_bytes_per_token_before", kvs.bytesBefore},
                     {"kv_bytes_per_token_after", kvs.bytesAfter},
                     {"changes_model", kvs.shared > kvs.trainedShared}};
  if (req.awqScale) { // --awq-scale: the f32 norms (and wv/w3 rows) were rescaled
    nlohmann::json groups = nlohmann::json::array();
    for (const AwqScaleGroup &g : awq.groups)
      groups.push_back({{"site", g.site}, {"linears", g.linears},
                        {"folded_into", g.foldedInto}, {"alpha", g.alpha},
                        {"loss_unscaled", g.err0}, {"loss", g.err}, {"s", g.s}});
    j["awq_scale"] = {{"statistic", awq.statistic}, {"changed_tensors", awq.changed},
                      {"changes_norm_weights", !awq.changed.empty()}, {"groups", groups}};
  }
  j["graphs"] = nlohmann::json::array();
  for (const GraphSummary &g : r.graphs)
    j["graphs"].push_back({{"name", g.name}, {"kind", g.kind},
                           {"max_tokens", g.maxTokens}, {"context", g.context},
                           {"steps", g.steps}, {"values", g.values},
                           {"arena_bytes", g.arenaBytes}});
  std::ofstream os(path);
  os << j.dump(2) << "\n";
  os.close();
  if (!os)
    return Status::Error(path + ": cannot write the report");
  return Status::Ok();
}

// Prints "weights X/Y MiB" at most every 10% of the total (and at the end)
// for models big enough for it to take a while.
// KV bytes per token of the module's caches (what the runtime allocates).
uint64_t kvBytesPerToken(mlir::ModuleOp m) {
  uint64_t n = 0;
  for (KVCacheOp c : m.getOps<KVCacheOp>())
    if (auto t = mlir::dyn_cast<mlir::RankedTensorType>(c.getType()))
      n += uint64_t(t.getDimSize(1)) * t.getElementTypeBitWidth() / 8;
  return n;
}

// Whether the model spec says some layers read an earlier layer's KV cache.
bool hasSharedLayers(mlir::ModuleOp module) {
  auto spec = module->getAttrOfType<mlir::DictionaryAttr>(kModelAttr);
  auto n = spec ? spec.getAs<mlir::IntegerAttr>("num_kv_shared_layers")
                : mlir::IntegerAttr();
  return n && n.getInt() > 0;
}

// --kv-share / --kv-share-boundary: runs mote-kv-share before anything else
// and says what it did. On a model trained without sharing (or with fewer
// shared layers) this changes the model, and the report says so.
Status applyKvShare(const CompileRequest &req, mlir::MLIRContext &ctx,
                    mlir::ModuleOp module, ImportedModel &model,
                    FirstError &diag, KVShareSummary &out) {
  if (req.kvShare.empty() && req.kvShareBoundary < 0)
    return Status::Ok();
  uint64_t before = kvBytesPerToken(module);
  MoteKVSharePassOptions o;
  o.split = req.kvShare;
  o.boundary = req.kvShareBoundary;
  mlir::PassManager pm(&ctx);
  pm.addPass(createMoteKVSharePass(o));
  if (mlir::failed(pm.run(module)))
    return Status::Error(diag.take("mote-kv-share failed"));
  uint64_t after = kvBytesPerToken(module);
  uint32_t shared = 0;
  if (auto spec = module->getAttrOfType<mlir::DictionaryAttr>(kModelAttr))
    if (auto n = spec.getAs<mlir::IntegerAttr>("num_kv_shared_layers"))
      shared = uint32_t(n.getInt());
  uint32_t trained = model.spec.num_kv_shared_layers;
  model.spec.num_kv_shared_layers = shared; // the bundle's spec says what runs
  const uint32_t nl = model.spec.n_layers;
  out = {true, trained, shared, nl > shared ? nl - shared - 1 : 0, before, after};
  if (!req.quiet) {
    uint32_t L = model.spec.n_layers, first = L - shared;
    std::fprintf(stderr,
                 "motec: kv sharing (%s%s): layers %u..%u attend over layer %u's K/V\n",
                 req.kvShare.empty() ? "boundary " : "split ",
                 req.kvShare.empty() ? std::to_string(req.kvShareBoundary).c_str()
                                     : req.kvShare.c_str(),
                 first, L - 1, first ? first - 1 : 0);
    if (shared > trained)
      std::fprintf(stderr,
                   "motec: warning: this changes the model: it was trained with %u "
                   "KV-shared layers, it now runs with %u (quality will differ; "
                   "measure it with mote-bench --perplexity)\n",
                   trained, shared);
    std::fprintf(stderr,
                 "  kv cache: %llu -> %llu bytes per token (%+.1f%%)\n",
                 (unsigned long long)before, (unsigned long long)after,
                 before ? 100.0 * (double(after) - double(before)) / double(before) : 0.0);
  }
  return Status::Ok();
}

// --buckets prefill=1,8,32:context=256,1024 (context defaults to the
// compile context). Values are checked by mote-bucketize; this only parses.
Status parseBuckets(const std::string &spec, uint32_t context,
                    MoteBucketizePassOptions &o) {
  auto bad = [&](const std::string &why) {
    return Status::Error("--buckets " + spec + ": " + why);
  };
  std::vector<int64_t> prefill, ctx;
  bool havePrefill = false, haveContext = false;
  std::stringstream parts(spec);
  std::string part;
  while (std::getline(parts, part, ':')) {
    size_t eq = part.find('=');
    if (eq == std::string::npos)
      return bad("'" + part + "' is not KEY=N,N,...");
    std::string key = part.substr(0, eq);
    std::vector<int64_t> *dst = key == "prefill" ? &prefill : key == "context" ? &ctx : nullptr;
    if (!dst)
      return bad("unknown key '" + key + "' (prefill or context)");
    (key == "prefill" ? havePrefill : haveContext) = true;
    std::stringstream nums(part.substr(eq + 1));
    std::string n;
    while (std::getline(nums, n, ',')) {
      char *end = nullptr;
      long long v = std::strtoll(n.c_str(), &end, 10);
      if (n.empty() || *end || v < 0 || v > (1ll << 24))
        return bad("'" + n + "' is not a token count");
      dst->push_back(v);
    }
  }
  if (!havePrefill)
    return bad("needs prefill=T,T,...");
  if (!haveContext)
    ctx.push_back(context);
  o.prefill.assign(prefill.begin(), prefill.end());
  o.context.assign(ctx.begin(), ctx.end());
  return Status::Ok();
}

ProgressFn makeProgress(bool quiet) {
  if (quiet)
    return {};
  auto last = std::make_shared<int>(-1);
  return [last](uint64_t done, uint64_t total) {
    if (total < (16u << 20)) // small models: the final report is enough
      return;
    int decile = total ? int(done * 10 / total) : 10;
    if (decile == *last)
      return;
    *last = decile;
    std::fprintf(stderr, "motec: weights written %.1f/%.1f MiB\n", mib(done),
                 mib(total));
  };
}

Status loadModule(mlir::MLIRContext &ctx, const CompileRequest &req,
                  const ImportedModel &model, const GraphOptions &gopts,
                  FirstError &diag, mlir::OwningOpRef<mlir::ModuleOp> &module) {
  if (!req.fromMlir.empty()) {
    diag.setFile(req.fromMlir);
    module = mlir::parseSourceFile<mlir::ModuleOp>(req.fromMlir, &ctx);
    if (!module)
      return Status::Error(diag.take("cannot parse"));
  } else {
    module = buildModule(ctx, model, gopts);
  }
  if (!req.emitMlir.empty()) {
    Status st = writeMlir(*module, req.emitMlir);
    if (!st.ok())
      return st;
  }
  if (mlir::failed(mlir::verify(*module)))
    return Status::Error(diag.take("module does not verify"));
  return Status::Ok();
}

Status compile(const CompileRequest &req, BundleReport &report, KVShareSummary &kvs,
               CalibrationStats &stats, AwqScaleResult &awq) {
  Status st = checkRequest(req);
  if (!st.ok())
    return st;
  auto t0 = std::chrono::steady_clock::now();
  ImportedModel model;
  if (!(st = importModel(req.model, req.tokenizer, model)).ok())
    return st;
  GraphOptions gopts;
  gopts.context = req.context;
  gopts.prefillTokens = req.prefillTokens;
  gopts.scoreGraph = req.scoreGraph;
  if (!(st = checkBuildable(model.spec, gopts)).ok())
    return st;

  mlir::DialectRegistry registry;
  registry.insert<MoteDialect, mlir::func::FuncDialect>();
  mlir::MLIRContext ctx(registry);
  ctx.loadAllAvailableDialects();
  FirstError diag(ctx, req.model);
  mlir::OwningOpRef<mlir::ModuleOp> module;
  if (!(st = loadModule(ctx, req, model, gopts, diag, module)).ok())
    return st;
  if (!(st = applyKvShare(req, ctx, *module, model, diag, kvs)).ok())
    return st;
  // --awq-scale: AWQ per-channel weight scaling, folded into the norms (and
  // wv / w3 rows); the stats' H rewritten to match (compiler/quant/AwqScale.h).
  if (req.awqScale) {
    if (!(st = loadCalibrationStats(req.calibration, stats)).ok())
      return st;
    quant::QuantSpec qs;
    qs.bits = req.weights == "w2" ? 2 : req.weights == "w4" ? 4 : 8;
    qs.groupSize = uint64_t(req.groupSize);
    qs.f16Scales = req.scaleDtype == "f16" || (req.scaleDtype == "auto" && qs.bits != 8);
    if (!(st = applyAwqScale(model, stats, qs, awq)).ok())
      return st.message.rfind(req.calibration, 0) == 0 ? st
                                                       : Status::Error(req.model + ": " + st.message);
    if (!req.quiet) {
      int scaled = 0;
      double meanAlpha = 0.0;
      for (const AwqScaleGroup &g : awq.groups) {
        scaled += g.alpha != 0.0;
        meanAlpha += g.alpha / double(awq.groups.size());
      }
      std::fprintf(stderr,
                   "motec: awq-scale: %d of %zu input groups scaled (mean alpha %.2f, "
                   "statistic %s); this changes %zu f32/linear tensors, the norm weights "
                   "included (attn_norm, ffn_norm take 1/s; same function in exact "
                   "arithmetic)\n",
                   scaled, awq.groups.size(), meanAlpha, awq.statistic.c_str(),
                   awq.changed.size());
    }
  }

  mlir::PassManager pm(&ctx);
  if (req.printIrAfterAll) {
    ctx.disableMultithreading();
    // After every pass, changed or not (like mlir-opt's flag of that name).
    pm.enableIRPrinting([](mlir::Pass *, mlir::Operation *) { return false; },
                        [](mlir::Pass *, mlir::Operation *) { return true; },
                        /*printModuleScope=*/true,
                        /*printAfterOnlyOnChange=*/false);
  }
  if (quantizing(req)) {
    MoteQuantizePassOptions qo;
    qo.policy = req.weights;
    qo.group = req.groupSize;
    qo.f = req.fMode;
    // Default embedding width: f32 with f32 weights, f16 with f16 weights,
    // else 4-bit (as Apple's on-device model).
    qo.embed = req.embedBits >= 0      ? req.embedBits
               : req.weights == "f32" ? 0
               : req.weights == "f16" ? 16
                                      : 4;
    qo.policyFile = req.weightsPolicy;
    pm.addPass(createMoteQuantizePass(qo));
  }
  // --kv-dtype q8: i8 caches (the 8-bit KV cache, docs/quantization.md).
  if (req.kvDtype != "f32") {
    MoteKVDtypePassOptions ko;
    ko.dtype = req.kvDtype;
    pm.addPass(createMoteKVDtypePass(ko));
  }
  // KV-shared layers (native or --kv-share) write no KV: in prefill they
  // only need the last row (docs/passes/mote-prune-shared-prefill.md).
  if (hasSharedLayers(*module))
    pm.addPass(createMotePruneSharedPrefillPass());
  // --lora-max-rank: run-time LoRA adapter sites (docs/lora.md).
  if (req.loraMaxRank > 0) {
    MoteLoraFusePassOptions lo;
    lo.maxRank = req.loraMaxRank;
    lo.targets = req.loraTargets;
    pm.addPass(createMoteLoraFusePass(lo));
  }
  // --buckets: static-shape (T, C) clones of the graphs (docs/buckets.md).
  if (!req.buckets.empty()) {
    MoteBucketizePassOptions bo;
    if (!(st = parseBuckets(req.buckets, resolvedContext(model.spec, gopts), bo)).ok())
      return st;
    pm.addPass(createMoteBucketizePass(bo));
  }
  buildCpuPipeline(pm);
  if (mlir::failed(pm.run(*module)))
    return Status::Error(diag.take("the CPU pipeline failed"));

  BundleOptions bopts;
  bopts.commandLine = req.commandLine;
  bopts.weights = req.weights;
  bopts.context = resolvedContext(model.spec, gopts);
  bopts.prefillTokens = std::min(req.prefillTokens, bopts.context);
  bopts.targets = req.target;
  bopts.scaleDtype = req.scaleDtype;
  bopts.calibration = req.calibration;
  bopts.rounding = req.rounding;
  if (req.awqScale)
    bopts.calibrationStats = &stats;
  bopts.kvDtype = req.kvDtype;
  // auto: int8 whenever some weight is quantized (measured faster at a small
  // error, docs/quantization.md "int8 activations"); nothing recorded else.
  if (req.activations != "auto")
    bopts.activations = req.activations;
  else if (req.weights == "w2" || req.weights == "w4" || req.weights == "w8" ||
           !req.weightsPolicy.empty() || (req.embedBits > 0 && req.embedBits < 16))
    bopts.activations = "int8";
  st = writeBundle(*module, model, bopts, req.output, report,
                   makeProgress(req.quiet));
  // I/O errors name the output already; the rest are about the IR.
  // So do errors about the calibration stats file.
  if (!st.ok() && st.message.rfind(req.output, 0) != 0 &&
      (req.calibration.empty() || st.message.rfind(req.calibration, 0) != 0))
    return Status::Error((req.fromMlir.empty() ? req.model : req.fromMlir) +
                         ": " + st.message);
  if (!st.ok())
    return st;
  if (!req.quiet) {
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    printReport(req.output, report);
    std::fprintf(stderr, "  time: %.2f s\n", s);
  }
  return Status::Ok();
}

} // namespace

int runCompile(const CompileRequest &req) {
  BundleReport report;
  KVShareSummary kvs;
  CalibrationStats stats;
  AwqScaleResult awq;
  Status st = compile(req, report, kvs, stats, awq);
  if (st.ok() && !req.reportJson.empty())
    st = writeReportJson(req.reportJson, req, report, kvs, awq);
  if (!st.ok()) {
    // A report failure comes after the bundle was written: take it back so
    // a failing motec never leaves an output file.
    if (!req.reportJson.empty() && report.fileBytes)
      std::remove(req.output.c_str());
    printError(st.message);
    return 1;
  }
  return 0;
}

namespace {

uint64_t getU64(const std::string &b, size_t off) {
  uint64_t v;
  std::memcpy(&v, b.data() + off, 8);
  return v;
}

// Header and manifest checks for inspect; the runtime does the same (and
// more) with its own reader.
Status readBundle(const std::string &path, std::string &bytes,
                  bundle::Manifest &m) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return Status::Error(path + ": cannot open");
  std::ostringstream ss;
  ss << in.rdbuf();
  bytes = ss.str();
  if (bytes.size() < MOTE_BUNDLE_HEADER_SIZE ||
      (bytes.compare(0, 8, MOTE_BUNDLE_MAGIC, 8) != 0 &&
       bytes.compare(0, 8, MOTE_ADAPTER_MAGIC, 8) != 0)) // LoRA adapters too
    return Status::Error(path + ": header: not a Mote bundle (bad magic)");
  if (getU64(bytes, MOTE_HDR_OFF_HEADER_XXH64) !=
      mote_xxh64(bytes.data(), MOTE_HDR_OFF_HEADER_XXH64, 0))
    return Status::Error(path + ": header: checksum mismatch");
  uint64_t off = getU64(bytes, MOTE_HDR_OFF_MANIFEST_OFFSET);
  uint64_t len = getU64(bytes, MOTE_HDR_OFF_MANIFEST_SIZE);
  if (getU64(bytes, MOTE_HDR_OFF_FILE_SIZE) != bytes.size() ||
      off > bytes.size() || len > bytes.size() - off)
    return Status::Error(path + ": header: manifest or file size out of range");
  if (getU64(bytes, MOTE_HDR_OFF_MANIFEST_XXH64) !=
      mote_xxh64(bytes.data() + off, len, 0))
    return Status::Error(path + ": manifest: checksum mismatch");
  if (!m.ParseFromArray(bytes.data() + off, int(len)))
    return Status::Error(path + ": manifest: not a valid protobuf");
  for (const bundle::Section &s : m.sections())
    if (s.offset() > bytes.size() || s.size() > bytes.size() - s.offset() ||
        mote_xxh64(bytes.data() + s.offset(), s.size(), 0) != s.xxh64())
      return Status::Error(path + ": sections: " + s.name() +
                           ": out of range or checksum mismatch");
  return Status::Ok();
}

} // namespace

int runInspect(const std::string &path) {
  std::string bytes;
  bundle::Manifest m;
  Status st = readBundle(path, bytes, m);
  if (!st.ok()) {
    printError(st.message);
    return 1;
  }
  const bundle::ModelSpec &s = m.model();
  std::printf("%s: Mote bundle v%u, %zu bytes, checksums ok\n", path.c_str(),
              m.format_version(), bytes.size());
  std::printf("model: %s (%s) dim %u, hidden %u, %u layers, %u/%u heads, "
              "head_dim %u, vocab %u, max_seq_len %u\n",
              s.arch().c_str(), s.source_format().c_str(), s.dim(),
              s.hidden_dim(), s.n_layers(), s.n_heads(), s.n_kv_heads(),
              s.head_dim(), s.vocab_size(), s.max_seq_len());
  std::printf("tokenizer: %s, %d pieces (bos %d, eos %d)\n",
              m.tokenizer().kind().c_str(), m.tokenizer().pieces_size(),
              m.tokenizer().bos_id(), m.tokenizer().eos_id());
  for (const bundle::Section &sec : m.sections())
    std::printf("section %s: offset %llu, %llu bytes, align %u\n",
                sec.name().c_str(), (unsigned long long)sec.offset(),
                (unsigned long long)sec.size(), sec.alignment());
  std::printf("tensors: %d, kv caches: %d\n", m.tensors_size(),
              m.kv_caches_size());
  if (m.kv_caches_size() && m.kv_caches(0).dtype() == bundle::Q8)
    std::printf("kv cache dtype: q8 (int8 codes + one f32 scale per %u columns)\n",
                m.kv_caches(0).group_size());
  for (const bundle::LoraSite &l : m.lora_sites()) { // LoRA (docs/lora.md)
    if (m.kind() == "adapter")
      std::printf("lora adapter %s: %ux%u, rank %u, scale %g\n", l.name().c_str(),
                  l.out_features(), l.in_features(), l.max_rank(), double(l.scale()));
    else
      std::printf("lora site %s: %ux%u, max rank %u\n", l.name().c_str(), l.out_features(),
                  l.in_features(), l.max_rank());
  }
  if (m.kind() == "adapter")
    std::printf("base_hash: %016llx\n", (unsigned long long)m.base_hash());
  for (const bundle::Graph &g : m.graphs())
    std::printf("graph %s (%s, %s): T=%u, context %u, %d steps, %d values, "
                "arena %llu bytes\n",
                g.name().c_str(), g.kind().c_str(), g.target().c_str(),
                g.max_tokens(), g.context(), g.steps_size(), g.values_size(),
                (unsigned long long)g.arena_bytes());
  std::printf("compiled with: %s\n", m.options().command_line().c_str());
  return 0;
}

} // namespace mote
