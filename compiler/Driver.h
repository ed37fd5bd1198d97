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
  std::string weights = "f32";
  uint32_t context = 0;       // 0 = min(max_seq_len, 2048)
  uint32_t prefillTokens = 64;
  std::string emitMlir;       // write the IR right after import here
  std::string fromMlir;       // use this IR instead of building it
  std::string reportJson;     // write the compile report here
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
