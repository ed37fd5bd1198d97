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
  uint32_t context = 0;       // 0 = min(max_seq_len, 2048)
  uint32_t prefillTokens = 64;
  bool scoreGraph = false;    // also emit the all-rows-logits @score graph
  std::string emitMlir;       // write the IR right after import here
  std::string fromMlir;       // use this IR instead of building it
  std::string reportJson;     // write the compile report here
  std::string kvShare;            // --kv-share A:B (mote-kv-share split)
  int64_t kvShareBoundary = -1;   // --kv-share-boundary N (first shared layer)
  bool printIrAfterAll = false;
  bool quiet = false;
  std::string commandLine;    // recorded in the bundle
};

// Runs a compile. Returns the process exit code (0 or 1). On failure prints
// exactly one line "motec: error: <file>: <field>: <what>" on stderr and
// leaves no output file.
int runCompile(const CompileRequest &req);

// Prints a summary of a bundle's header and manifest on stdout.
int runInspect(const std::string &path);

} // namespace mote

#endif // MOTE_COMPILER_DRIVER_H
