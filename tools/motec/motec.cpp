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
                      "Linear weights: f32, f16, w8, w4 or w2 (packed, docs/quantization.md)")
      ->capture_default_str();
  compile->add_option("--group-size", req.groupSize,
                      "Quantized weights: input weights per scale (32, 64, 128; 0 = whole row)")
      ->capture_default_str();
  compile->add_option("--f", req.fMode,
                      "Quantized weights: clipping f = maxabs (1) or search (min squared error)")
      ->capture_default_str();
  compile->add_option("--embed-bits", req.embedBits,
                      "Embedding table and classifier bits (2, 4, 8, 16 = f16; 0 = f32); "
                      "default 4 when --weights is quantized, 16 with --weights f16");
  compile->add_option("--scale-dtype", req.scaleDtype,
                      "Quantized scales: auto (f16 for 2/4-bit, f32 for 8-bit), f16 or f32")
      ->capture_default_str();
  compile->add_option("--activations", req.activations,
                      "Quantized linears' activations: int8 (per-32 block, integer dot "
                      "products), f32, or auto (int8 when weights are quantized); "
                      "MOTE_ACTIVATIONS overrides it at run time")
      ->capture_default_str();
  compile->add_option("--kv-dtype", req.kvDtype,
                      "KV cache: f32, or q8 (int8 codes + one f32 scale per row and KV head, "
                      "docs/quantization.md)")
      ->capture_default_str();
  compile->add_option("--calibration", req.calibration,
                      "Calibration stats (python3 -m mote_ref calib-stats): the "
                      "quantized linear weights minimise their output error");
  compile->add_option("--rounding", req.rounding,
                      "Quantized linear weights: nearest, awq (activation-aware clipping) "
                      "gptq (error feedback) or gptq-act (GPTQ in act-order); "
                      "awq/gptq/gptq-act need --calibration")
      ->capture_default_str();
  compile->add_flag("--awq-scale", req.awqScale,
                    "AWQ per-channel weight scaling searched on --calibration (W diag(s), "
                    "1/s folded into the norms and the wv/w3 rows; changes f32 norm weights)");
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
  compile->add_option("--buckets", req.buckets,
                      "Static-shape buckets, e.g. prefill=1,8,32,128:context=256,1024 "
                      "(context defaults to --context; docs/buckets.md)");
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
  compile->add_option("--lora-max-rank", req.loraMaxRank,
                      "LoRA: give the targeted linears run-time adapter sites of rank "
                      "<= N (1..256; docs/lora.md)");
  compile->add_option("--lora-targets", req.loraTargets,
                      "LoRA: modules with sites (q,k,v,o,gate,up,down)")
      ->capture_default_str();

  mote::AdapterRequest areq;
  CLI::App *adapter = app.add_subcommand(
      "adapter", "Convert a PEFT LoRA directory into an adapter file for one base bundle");
  adapter->add_option("ADAPTER_DIR", areq.adapterDir,
                      "adapter_config.json + adapter_model.safetensors")
      ->required();
  adapter->add_option("--base", areq.base, "The base bundle (motec compile --lora-max-rank)")
      ->required();
  adapter->add_option("-o,--output", areq.output, "Output adapter (name.mote-lora)")
      ->required();
  adapter->add_option("--dtype", areq.dtype, "A and B storage: f32 or f16 (half the size)")
      ->capture_default_str();
  adapter->add_flag("-q,--quiet", areq.quiet, "No report on stderr");

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
  if (*adapter)
    return mote::runAdapter(areq);
  return mote::runInspect(bundlePath);
}
