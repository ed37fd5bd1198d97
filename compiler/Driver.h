// motec's compile pipeline as a library call: import -> build (or parse) IR ->
// verify -> CPU pipeline -> bundle. The CLI (tools/motec) only parses flags.
#ifndef MOTE_COMPILER_DRIVER_H
#define MOTE_COMPILER_DRIVER_H

#include <cstdint>
#include <string>

namespace mote {

struct CompileRequest {
  std::string model;          // checkpoint .bin or HF directory
  std::string output;         // model.mote
  std::string tokenizer;      // override (llama2.c checkpoints)
  std::string target = "cpu";
  std::string weights = "f32";      // f32 | w2 | w4 | w8 (linear weights)
  int64_t groupSize = 32;           // quantized: 32, 64, 128 or 0 = whole row
  std::string fMode = "maxabs";     // quantized: maxabs | search
  int64_t embedBits = -1;           // table + classifier; -1: 4 when quantized, else f32
  std::string weightsPolicy;        // JSON per-param widths (mote-quantize policy-file)
  std::string scaleDtype = "auto";  // quantized scales: auto (f16 for 2/4-bit) | f16 | f32
  std::string calibration;          // calib-stats safetensors (calibrated rounding)
  std::string rounding = "nearest"; // nearest | awq | gptq | gptq-act (need calibration)
  bool awqScale = false;            // --awq-scale: AWQ per-channel weight scaling
  std::string kvDtype = "f32";      // KV cache: f32 | q8 (mote-kv-dtype)
  std::string activations = "auto"; // quantized linears' x: auto | int8 | f32 (issue 4)
  uint32_t context = 0;       // 0 = min(max_seq_len, 2048)
  uint32_t prefillTokens = 64;
  bool scoreGraph = false;    // also emit the all-rows-logits @score graph
  std::string emitMlir;       // write the IR right after import here
  std::string fromMlir;       // use this IR instead of building it
  std::string reportJson;     // write the compile report here
  std::string kvShare;            // --kv-share A:B (mote-kv-share split)
  int64_t kvShareBoundary = -1;   // --kv-share-boundary N (first shared layer)
  std::string buckets;            // --buckets prefill=1,8:context=256,1024 (mote-bucketize)
  bool printIrAfterAll = false;
  bool quiet = false;
  std::string commandLine;    // recorded in the bundle
  int64_t loraMaxRank = 0;    // --lora-max-rank: 0 = no LoRA sites (mote-lora-fuse)
  std::string loraTargets = "q,k,v,o,gate,up,down"; // --lora-targets
};

// Runs a compile. Returns the process exit code (0 or 1). On failure prints
// exactly one line "motec: error: <file>: <field>: <what>" on stderr and
// leaves no output file.
int runCompile(const CompileRequest &req);

// Prints a summary of a bundle's header and manifest on stdout.
int runInspect(const std::string &path);

// motec adapter: a PEFT LoRA directory -> name.mote-lora for one base bundle
// (compiler/Adapter.cpp, docs/lora.md).
struct AdapterRequest {
  std::string adapterDir;     // adapter_config.json + adapter_model.safetensors
  std::string base;           // the base model.mote (compiled with --lora-max-rank)
  std::string output;         // name.mote-lora
  std::string dtype = "f32";  // A and B stored as f32 or f16 (IEEE half, RNE)
  bool quiet = false;
};
// Exit code 0 or 1; on failure one line "motec: error: <file>: <field>: <what>"
// and no output file.
int runAdapter(const AdapterRequest &req);

} // namespace mote

#endif // MOTE_COMPILER_DRIVER_H
