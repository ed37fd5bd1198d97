// motec: the Mote compiler's command line (flags only; work is in
// compiler/Driver.cpp).
#include "compiler/Driver.h"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>

int main(int argc, char **argv) {
  CLI::App app{"motec: compile a small Llama-family model into a Mote bundle"};
  app.require_subcommand(1);
  mote::CompileRequest req;
  for (int i = 0; i < argc; ++i)
    req.commandLine += (i ? " " : "") + std::string(argv[i]);

  CLI::App *compile = app.add_subcommand(
      "compile", "Compile MODEL (llama2.c .bin or Hugging Face dir) to a bundle");
  compile->add_option("MODEL", req.model,
                      "llama2.c checkpoint (.bin) or Hugging Face model directory")
      ->required();
  compile->add_option("-o,--output", req.output, "Output bundle (model.mote)")
      ->required();
  compile->add_option("--tokenizer", req.tokenizer,
                      "Tokenizer (tokenizer.model or tokenizer.bin) for llama2.c "
                      "checkpoints; default: found beside the checkpoint");
  compile->add_option("--target", req.target, "Target: cpu")->capture_default_str();
  compile->add_option("--weights", req.weights,
                      "Linear weights: f32, w8, w4 or w2 (packed, docs/quantization.md)")
      ->capture_default_str();
  compile->add_option("--group-size", req.groupSize,
                      "Quantized weights: input weights per scale (32, 64, 128; 0 = whole row)")
      ->capture_default_str();
  compile->add_option("--f", req.fMode,
                      "Quantized weights: clipping f = maxabs (1) or search (min squared error)")
      ->capture_default_str();
  compile->add_option("--embed-bits", req.embedBits,
                      "Embedding table and classifier bits (2, 4, 8; 0 = f32); "
                      "default 4 when --weights is quantized");
  compile->add_option("--scale-dtype", req.scaleDtype,
                      "Quantized scales: auto (f16 for 2/4-bit, f32 for 8-bit), f16 or f32")
      ->capture_default_str();
  compile->add_option("--weights-policy", req.weightsPolicy,
                      "JSON file of per-tensor widths, e.g. {\"layers.0.wq\": \"w8\"}");
  compile->add_option("--context", req.context,
                      "KV-cache rows (context length); default min(max_seq_len, 2048)");
  compile->add_option("--prefill-tokens", req.prefillTokens,
                      "Tokens per prefill call (capped at the context)")
      ->capture_default_str();
  compile->add_option("--kv-share", req.kvShare,
                      "KV sharing A:B (e.g. 5:3): the last B/(A+B) of the layers attend over "
                      "the last block-1 layer's K/V (changes a model trained without it)");
  compile->add_option("--kv-share-boundary", req.kvShareBoundary,
                      "KV sharing: first shared layer N (layers N.. read layer N-1's K/V)");
  compile->add_flag("--score-graph", req.scoreGraph,
                    "Also emit a 'score' graph (prefill's T, logits for every row) "
                    "for perplexity (mote_session_score)");
  compile->add_option("--emit-mlir", req.emitMlir,
                      "Write the mote IR right after import to FILE");
  compile->add_option("--from-mlir", req.fromMlir,
                      "Compile this mote IR instead of building it (weights from MODEL)");
  compile->add_flag("--print-ir-after-all", req.printIrAfterAll,
                    "Print the IR after every pass (stderr)");
  compile->add_option("--report-json", req.reportJson,
                      "Write the compile report as JSON to FILE");
  compile->add_flag("-q,--quiet", req.quiet, "No progress lines and no report on stderr");

  std::string bundlePath;
  CLI::App *inspect = app.add_subcommand("inspect", "Print a bundle's manifest summary");
  inspect->add_option("BUNDLE", bundlePath, "model.mote")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError &e) {
    if (e.get_exit_code() == 0)
      return app.exit(e);
    std::fprintf(stderr, "motec: error: command line: %s\n", e.what());
    return 1;
  }
  if (*compile)
    return mote::runCompile(req);
  return mote::runInspect(bundlePath);
}
