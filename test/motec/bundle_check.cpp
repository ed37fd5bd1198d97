// Independent reader for motec's output in tests: parses a bundle with
// libprotobuf and checks the container (header, checksums, sections,
// alignment), the schedule's indices and, optionally, the report JSON and the
// weights against another bundle or the raw llama2.c checkpoint.
#include "mote/bundle_format.h"
#include "mote_bundle.pb.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

namespace pb = mote::bundle;

static int failures = 0;
#define CHECK(cond, ...)                                                       \
  do {                                                                         \
    if (!(cond)) {                                                             \
      std::fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);     \
      std::fprintf(stderr, __VA_ARGS__);                                       \
      std::fprintf(stderr, "\n");                                              \
      ++failures;                                                              \
    }                                                                          \
  } while (0)

static std::string slurp(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

static uint64_t u64(const std::string &b, size_t off) {
  uint64_t v;
  std::memcpy(&v, b.data() + off, 8);
  return v;
}
static uint32_t u32(const std::string &b, size_t off) {
  uint32_t v;
  std::memcpy(&v, b.data() + off, 4);
  return v;
}

struct Bundle {
  std::string bytes;
  pb::Manifest m;
  const float *tensor(const std::string &name, uint64_t &n) const {
    for (const pb::Tensor &t : m.tensors())
      if (t.name() == name) {
        n = t.size() / 4;
        return reinterpret_cast<const float *>(
            bytes.data() + m.sections(t.section()).offset() + t.offset());
      }
    return nullptr;
  }
};

static bool loadAndCheckContainer(const std::string &path, Bundle &b) {
  b.bytes = slurp(path);
  const std::string &f = b.bytes;
  if (f.size() < MOTE_BUNDLE_HEADER_SIZE) {
    CHECK(false, "%s: shorter than the header", path.c_str());
    return false;
  }
  CHECK(std::memcmp(f.data(), MOTE_BUNDLE_MAGIC, 8) == 0, "magic");
  CHECK(u32(f, MOTE_HDR_OFF_VERSION) == MOTE_BUNDLE_FORMAT_VERSION, "version");
  CHECK(u32(f, MOTE_HDR_OFF_HEADER_SIZE) == MOTE_BUNDLE_HEADER_SIZE, "header size");
  CHECK(u64(f, MOTE_HDR_OFF_FILE_SIZE) == f.size(), "file_size %llu vs %zu",
        (unsigned long long)u64(f, MOTE_HDR_OFF_FILE_SIZE), f.size());
  CHECK(u64(f, MOTE_HDR_OFF_FLAGS) == 0, "flags");
  CHECK(u64(f, MOTE_HDR_OFF_HEADER_XXH64) ==
            mote_xxh64(f.data(), MOTE_HDR_OFF_HEADER_XXH64, 0), "header xxh64");
  uint64_t off = u64(f, MOTE_HDR_OFF_MANIFEST_OFFSET);
  uint64_t len = u64(f, MOTE_HDR_OFF_MANIFEST_SIZE);
  CHECK(off == MOTE_BUNDLE_HEADER_SIZE, "manifest offset %llu", (unsigned long long)off);
  if (off > f.size() || len > f.size() - off) {
    CHECK(false, "manifest out of the file");
    return false;
  }
  CHECK(u64(f, MOTE_HDR_OFF_MANIFEST_XXH64) == mote_xxh64(f.data() + off, len, 0),
        "manifest xxh64");
  if (!b.m.ParseFromArray(f.data() + off, int(len))) {
    CHECK(false, "manifest does not parse");
    return false;
  }
  CHECK(b.m.format_version() == 1 && b.m.kind() == "model", "manifest kind");
  uint64_t prevEnd = off + len;
  for (const pb::Section &s : b.m.sections()) {
    CHECK(s.alignment() >= MOTE_BUNDLE_MIN_ALIGN && s.offset() % s.alignment() == 0,
          "section %s alignment", s.name().c_str());
    if (s.name() == "weights")
      CHECK(s.alignment() == MOTE_BUNDLE_WEIGHT_ALIGN, "weights align 4 KiB");
    CHECK(s.offset() >= prevEnd, "section %s overlaps", s.name().c_str());
    if (s.offset() > f.size() || s.size() > f.size() - s.offset()) {
      CHECK(false, "section %s outside the file", s.name().c_str());
      return false;
    }
    CHECK(mote_xxh64(f.data() + s.offset(), s.size(), 0) == s.xxh64(),
          "section %s xxh64", s.name().c_str());
    prevEnd = s.offset() + s.size();
  }
  return failures == 0;
}

static int g_expectGraphs = 2; // --graphs N (bucketed bundles have more)

// mote-bucketize clones (docs/buckets.md): flagged, estimated, and their
// token inputs / KV views have T / C rows.
static void checkBucketGraph(const pb::Graph &g) {
  if (!g.bucket())
    return;
  CHECK(g.cost_estimate_s() > 0, "%s: cost estimate", g.name().c_str());
  CHECK(g.values(int(g.input_tokens())).shape(0) == g.max_tokens(), "%s: T rows",
        g.name().c_str());
  for (const pb::Value &v : g.values())
    if (v.kind() == pb::KV)
      CHECK(v.shape(0) == g.context(), "%s: KV view of C rows", g.name().c_str());
}

static void checkTensorsAndGraphs(const Bundle &b) {
  const pb::Manifest &m = b.m;
  const pb::ModelSpec &s = m.model();
  CHECK(m.tokenizer().pieces_size() == int(s.vocab_size()), "tokenizer size");
  CHECK(m.kv_caches_size() == int(2 * s.n_layers()), "kv caches");
  for (const pb::Tensor &t : m.tensors()) {
    uint64_t n = 1;
    for (uint64_t d : t.shape()) n *= d;
    CHECK(t.dtype() == pb::F32 && t.size() == n * 4, "tensor %s size", t.name().c_str());
    CHECK(t.offset() % 64 == 0, "tensor %s 64-byte aligned", t.name().c_str());
    CHECK(t.section() < uint32_t(m.sections_size()) &&
              t.offset() + t.size() <= m.sections(t.section()).size(),
          "tensor %s inside its section", t.name().c_str());
  }
  CHECK(m.graphs_size() == g_expectGraphs, "%d graphs", g_expectGraphs);
  for (const pb::Graph &g : m.graphs()) {
    uint32_t nv = g.values_size();
    checkBucketGraph(g);
    for (const pb::Value &v : g.values()) {
      uint64_t n = v.dtype() == pb::F32 || v.dtype() == pb::I32 ? 4 : 0;
      for (uint64_t d : v.shape()) n *= d;
      if (v.kind() == pb::ARENA)
        CHECK(v.offset() % 64 == 0 && v.offset() + n <= g.arena_bytes(),
              "%s: arena value in the arena", g.name().c_str());
      else if (v.kind() == pb::WEIGHT)
        CHECK(v.ref() < uint32_t(m.tensors_size()), "weight ref");
      else
        CHECK(v.kind() == pb::KV && v.ref() < uint32_t(m.kv_caches_size()), "kv ref");
    }
    CHECK(g.input_tokens() < nv && g.input_positions() < nv && g.output_logits() < nv,
          "graph io");
    CHECK(g.steps_size() == int(3 + 17 * s.n_layers()), "%s: %d steps",
          g.name().c_str(), g.steps_size());
    for (const pb::Step &st : g.steps()) {
      CHECK(!st.kernel().empty() && !st.loc().empty(), "step kernel/loc");
      for (uint32_t i : st.operands()) CHECK(i < nv, "operand index");
      for (uint32_t i : st.results()) CHECK(i < nv, "result index");
      if (st.op() == pb::ATTENTION)
        CHECK(st.i_size() == 3 && st.i(0) == s.n_heads() && st.i(1) == s.n_kv_heads() &&
                  std::fabs(st.f(0) - 1.0 / std::sqrt(double(s.head_dim()))) < 1e-6,
              "attention attrs");
      if (st.op() == pb::ROPE)
        CHECK(st.i_size() == 2 && st.i(0) == s.head_dim() && st.i(1) == s.rope_style(),
              "rope attrs");
    }
  }
}

static void checkReport(const Bundle &b, const std::string &path) {
  nlohmann::json j = nlohmann::json::parse(slurp(path), nullptr, false);
  if (j.is_discarded()) {
    CHECK(false, "report %s is not JSON", path.c_str());
    return;
  }
  CHECK(j.value("file_bytes", 0ull) == b.bytes.size(), "report file_bytes");
  CHECK(j.value("tensors", 0) == b.m.tensors_size(), "report tensors");
  uint64_t wb = 0, kv = 0;
  for (const pb::Tensor &t : b.m.tensors()) wb += t.size();
  for (const pb::KVCache &c : b.m.kv_caches()) kv += c.width() * 4ull;
  CHECK(j.value("weight_bytes", 0ull) == wb, "report weight_bytes");
  CHECK(j.value("kv_bytes_per_token", 0ull) == kv, "report kv bytes");
  CHECK(j["graphs"].size() == size_t(b.m.graphs_size()), "report graphs");
  for (size_t i = 0; i < j["graphs"].size() && int(i) < b.m.graphs_size(); ++i) {
    CHECK(j["graphs"][i].value("steps", 0) == b.m.graphs(i).steps_size(), "report steps");
    CHECK(j["graphs"][i].value("arena_bytes", 0ull) == b.m.graphs(i).arena_bytes(),
          "report arena");
  }
}

static uint16_t toBf16(float x) { // round to nearest even, as the converter did
  uint32_t u;
  std::memcpy(&u, &x, 4);
  return uint16_t((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}

// Tensors of `b` equal those of `ref` (bf16: ref rounded to bf16), except
// wq/wk when `skipQK` (llama2.c and HF order their rows differently).
static void checkSameWeights(const Bundle &b, const Bundle &ref, bool bf16, bool skipQK) {
  int compared = 0;
  for (const pb::Tensor &t : b.m.tensors()) {
    bool qk = t.name().size() > 3 &&
              (t.name().compare(t.name().size() - 3, 3, ".wq") == 0 ||
               t.name().compare(t.name().size() - 3, 3, ".wk") == 0);
    if (skipQK && qk)
      continue;
    uint64_t n, rn;
    const float *x = b.tensor(t.name(), n), *r = ref.tensor(t.name(), rn);
    CHECK(r && rn == n, "%s: missing or different size in the reference", t.name().c_str());
    if (!r || rn != n)
      continue;
    uint64_t bad = 0;
    for (uint64_t i = 0; i < n; ++i) {
      float want = r[i];
      if (bf16) {
        uint32_t u = uint32_t(toBf16(r[i])) << 16;
        std::memcpy(&want, &u, 4);
      }
      if (std::memcmp(&x[i], &want, 4) != 0) ++bad;
    }
    CHECK(bad == 0, "%s: %llu of %llu values differ", t.name().c_str(),
          (unsigned long long)bad, (unsigned long long)n);
    ++compared;
  }
  CHECK(compared >= 10, "compared only %d tensors", compared);
}

// llama2.c legacy layout: 7 x int32 header, then token embeddings (V, D).
static void checkRawV0(const Bundle &b, const std::string &ckpt) {
  std::string raw = slurp(ckpt);
  uint64_t n;
  const float *emb = b.tensor("tok_embeddings", n);
  CHECK(emb && raw.size() >= 28 + n * 4, "tok_embeddings vs checkpoint size");
  if (emb && raw.size() >= 28 + n * 4)
    CHECK(std::memcmp(emb, raw.data() + 28, n * 4) == 0, "tok_embeddings bytes");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: bundle_check BUNDLE [--report J] "
                         "[--same-weights REF [--bf16] [--skip-qk]] [--raw-v0 CKPT]\n");
    return 2;
  }
  Bundle b;
  if (!loadAndCheckContainer(argv[1], b))
    return 1;
  for (int i = 2; i + 1 < argc; ++i)
    if (std::string(argv[i]) == "--graphs")
      g_expectGraphs = std::atoi(argv[i + 1]);
  checkTensorsAndGraphs(b);
  Bundle ref;
  bool haveRef = false, bf16 = false, skipQK = false;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--bf16") bf16 = true;
    else if (a == "--skip-qk") skipQK = true;
    else if (a == "--graphs" && i + 1 < argc) ++i; // read above
    else if (a == "--report" && i + 1 < argc) checkReport(b, argv[++i]);
    else if (a == "--raw-v0" && i + 1 < argc) checkRawV0(b, argv[++i]);
    else if (a == "--same-weights" && i + 1 < argc)
      haveRef = loadAndCheckContainer(argv[++i], ref);
    else { std::fprintf(stderr, "bad argument %s\n", a.c_str()); return 2; }
  }
  if (haveRef)
    checkSameWeights(b, ref, bf16, skipQK);
  if (failures == 0)
    std::printf("ok %s: %d tensors, %d graphs\n", argv[1], b.m.tensors_size(),
                b.m.graphs_size());
  return failures ? 1 : 0;
}
