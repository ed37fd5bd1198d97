// Micro-benchmark of linear_f32 (ref vs SIMD) on decode and prefill shapes; run by hand.
#include <benchmark/benchmark.h>

#include <sys/mman.h>

#include <cmath>
#include <cstdlib>
#include <cstdint>
#include <random>
#include <thread>
#include <atomic>
#include <vector>

#include "kernels_internal.h"

namespace {

// isa: 0 ref, 1 avx2, 2 avxvnni, 3 avx512vnni (NULL where the CPU lacks it).
const mote_kernels_t *Table(int isa) {
  switch (isa) {
    case 0: return mote_kernels_ref();
    case 1: return mote_kernels_avx2();
    case 2: return mote_kernels_avxvnni();
    default: return mote_kernels_avx512vnni();
  }
}

// Args: isa (above), T, N, K. With ->Threads(2) each thread runs
// its half of the rows, as the executor splits a call.
void BM_Linear(benchmark::State &state) {
  const mote_kernels_t *k = Table((int)state.range(0));
  if (!k) {
    state.SkipWithError("ISA not available");
    return;
  }
  size_t T = state.range(1), N = state.range(2), K = state.range(3);
  static thread_local std::vector<float> x, w, y;
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> d(-1, 1);
  // Every thread shares one W (as in the runtime); each has its own x, y.
  static std::vector<float> shared_w;
  if (state.thread_index() == 0) {
    shared_w.resize(N * K);
    for (float &v : shared_w) v = d(rng);
  }
  x.resize(T * K);
  y.resize(T * N);
  for (float &v : x) v = d(rng);
  size_t nb = N * state.thread_index() / state.threads();
  size_t ne = N * (state.thread_index() + 1) / state.threads();
  for (auto _ : state) {
    k->linear_f32(x.data(), T, K, shared_w.data(), nullptr, y.data(), N, nb, ne);
    benchmark::ClobberMemory();
  }
  // Iterations are summed over threads, so average the per-thread amounts.
  const auto flags = static_cast<benchmark::Counter::Flags>(
      benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kAvgThreads);
  double rows = (double)(ne - nb);
  state.counters["W_B/s"] = benchmark::Counter(rows * K * 4.0, flags);
  state.counters["FLOP/s"] = benchmark::Counter(2.0 * T * rows * K, flags);
  state.SetLabel(k->isa);
}

void Shapes(benchmark::internal::Benchmark *b) {
  const int64_t decode[][2] = {{288, 288}, {768, 288}, {288, 768}, {32000, 288},
                               {2048, 2048}, {8192, 2048}};
  for (int isa : {0, 1})
    for (int64_t T : {1, 64})
      for (auto &nk : decode) {
        if (isa == 0 && T == 64 && nk[0] * nk[1] > 2048 * 2048) continue; // too slow
        b->Args({isa, T, nk[0], nk[1]});
      }
  // Llama-3.2-1B's tied classifier: 1 GiB of f32, larger than any cache.
  b->Args({1, 1, 128256, 2048});
  b->ArgNames({"isa", "T", "N", "K"});
}

// One thread: rates over CPU time, steadier on a shared machine; two threads
// need wall time.
BENCHMARK(BM_Linear)->Apply(Shapes);
BENCHMARK(BM_Linear)->Apply(Shapes)->UseRealTime()->Threads(2);

// Quantized linear (issue 4). Args: isa, bits, T, N, K, f16; G = 32. W_B/s
// counts the packed bytes a call streams (codes + f32 or IEEE-half scales).
void BM_LinearQ(benchmark::State &state) {
  const mote_kernels_t *k = Table((int)state.range(0));
  if (!k) {
    state.SkipWithError("ISA not available");
    return;
  }
  size_t bits = state.range(1), T = state.range(2), N = state.range(3), K = state.range(4);
  size_t G = 32, ng = (K + G - 1) / G, row_bytes = (K + 31) / 32 * 32 * bits / 8;
  mote_linear_q_f32_fn f = bits == 2 ? k->linear_q2_f32 : bits == 4 ? k->linear_q4_f32
                                                                    : k->linear_q8_f32;
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> d(-1, 1);
  std::vector<uint8_t> codes(N * row_bytes);
  for (auto &c : codes) c = uint8_t(rng());
  std::vector<float> scales(N * ng), x(T * K), y(T * N);
  for (float &v : scales) v = 0.01f + 0.1f * std::abs(d(rng));
  for (float &v : x) v = d(rng);
  const bool f16 = state.range(5) != 0;  // IEEE-half scales, as motec writes for w2/w4
  std::vector<uint16_t> half(scales.size(), 0x2e66);  // ~0.1
  const void *sc = f16 ? static_cast<const void *>(half.data()) : scales.data();
  for (auto _ : state) {
    f(x.data(), T, K, codes.data(), sc, f16, G, row_bytes, nullptr, y.data(), N, 0, N);
    benchmark::ClobberMemory();
  }
  const auto flags = benchmark::Counter::kIsIterationInvariantRate;
  state.counters["W_B/s"] =
      benchmark::Counter((double)N * row_bytes + (f16 ? 2.0 : 4.0) * N * ng, flags);
  state.counters["FLOP/s"] = benchmark::Counter(2.0 * T * N * K, flags);
  state.SetLabel(k->isa);
}

void QShapes(benchmark::internal::Benchmark *b) {
  const int64_t nk[][2] = {{2048, 2048}, {8192, 2048}, {128256, 2048}};
  for (int64_t h : {0, 1})
    for (int64_t bits : {2, 4, 8})
      for (auto &s : nk) b->Args({1, bits, 1, s[0], s[1], h});
  for (int64_t h : {0, 1})
    for (int64_t bits : {2, 4, 8}) b->Args({1, bits, 64, 2048, 2048, h});
  b->Args({0, 4, 1, 2048, 2048, 0});
  b->ArgNames({"isa", "bits", "T", "N", "K", "f16"});
}
BENCHMARK(BM_LinearQ)->Apply(QShapes);

// int8 activations (issue 4): quantize x once, then the integer-dot kernel,
// both inside the timed loop (what the executor does per op). Args as above.
void BM_LinearQI8(benchmark::State &state) {
  const mote_kernels_t *k = Table((int)state.range(0));
  if (!k) {
    state.SkipWithError("ISA not available");
    return;
  }
  size_t bits = state.range(1), T = state.range(2), N = state.range(3), K = state.range(4);
  size_t G = 32, ng = (K + G - 1) / G, row_bytes = (K + 31) / 32 * 32 * bits / 8;
  mote_linear_q_i8_fn f = bits == 2 ? k->linear_q2_i8 : bits == 4 ? k->linear_q4_i8
                                                                  : k->linear_q8_i8;
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> d(-1, 1);
  std::vector<uint8_t> codes(N * row_bytes);
  for (auto &c : codes) c = uint8_t(rng());
  std::vector<float> scales(N * ng), x(T * K), y(T * N);
  for (float &v : scales) v = 0.01f + 0.1f * std::abs(d(rng));
  for (float &v : x) v = d(rng);
  const size_t kp = mote_act_i8_kp(K);
  std::vector<int8_t> q(T * kp);
  std::vector<float> xd(T * kp / 32), xs(T * kp / 32);
  mote_act_i8_t a{q.data(), xd.data(), xs.data(), kp};
  const bool f16 = state.range(5) != 0;  // IEEE-half scales, as motec writes for w2/w4
  std::vector<uint16_t> half(scales.size(), 0x2e66);  // ~0.1
  for (auto _ : state) {
    k->linear_qact_i8((unsigned)bits, x.data(), K, &a, 0, T);
    if (f16)
      f(&a, T, K, codes.data(), half.data(), 1, G, row_bytes, nullptr, y.data(), N, 0, N);
    else
      f(&a, T, K, codes.data(), scales.data(), 0, G, row_bytes, nullptr, y.data(), N, 0, N);
    benchmark::ClobberMemory();
  }
  const auto flags = benchmark::Counter::kIsIterationInvariantRate;
  state.counters["W_B/s"] =
      benchmark::Counter((double)N * row_bytes + (f16 ? 2.0 : 4.0) * N * ng, flags);
  state.counters["FLOP/s"] = benchmark::Counter(2.0 * T * N * K, flags);
  state.SetLabel(k->isa);
}
void QI8Shapes(benchmark::internal::Benchmark *b) {
  const int64_t nk[][2] = {{2048, 2048}, {8192, 2048}, {128256, 2048}, {768, 288}};
  for (int64_t isa : {1, 2, 3}) {
    for (int64_t h : {0, 1})
      for (int64_t bits : {2, 4, 8})
        for (auto &s : nk) b->Args({isa, bits, 1, s[0], s[1], h});
    for (int64_t bits : {2, 4, 8}) b->Args({isa, bits, 64, 2048, 2048, 0});
    for (int64_t bits : {2, 4, 8}) b->Args({isa, bits, 64, 768, 288, 0});
  }
  b->ArgNames({"isa", "bits", "T", "N", "K", "f16"});
}
BENCHMARK(BM_LinearQI8)->Apply(QI8Shapes);

// One random activation row of K, quantized once as the executor does
// before an int8-activation linear (buffers owned here).
struct RandomActI8 {
  RandomActI8(const mote_kernels_t *k, size_t bits, size_t K, std::mt19937 &rng)
      : kp(mote_act_i8_kp(K)), q(kp), xd(kp / 32), xs(kp / 32) {
    std::vector<float> x(K);
    for (float &v : x) v = std::uniform_real_distribution<float>(-1, 1)(rng);
    a = mote_act_i8_t{q.data(), xd.data(), xs.data(), kp};
    k->linear_qact_i8((unsigned)bits, x.data(), K, &a, 0, 1);
  }
  size_t kp;
  std::vector<int8_t> q;
  std::vector<float> xd, xs;
  mote_act_i8_t a;
};

// Decode from DRAM (session 4): a W of ~0.7 GB (far beyond any cache but
// this machine's shared 480 MB L3), G = 32, f16 scales, split by rows over
// two threads as the executor does, activations quantized once. GB/s of
// codes + scales against what the bandwidth probe of mote-bench reads: the
// figure the prefetch distance (linear_q_i8_x86.h) was tuned on.
// Args: isa, bits, K.
void BM_LinearQI8Stream(benchmark::State &state) {
  const mote_kernels_t *k = Table((int)state.range(0));
  if (!k) {
    state.SkipWithError("ISA not available");
    return;
  }
  size_t bits = state.range(1), K = state.range(2), G = 32, ng = K / G;
  size_t row_bytes = K * bits / 8, N = (size_t(600) << 20) / row_bytes;
  mote_linear_q_i8_fn f = bits == 2 ? k->linear_q2_i8 : bits == 4 ? k->linear_q4_i8
                                                                  : k->linear_q8_i8;
  std::vector<uint8_t> codes(N * row_bytes);
  std::mt19937 rng(1);
  for (auto &c : codes) c = uint8_t(rng());
  std::vector<uint16_t> half(N * ng, 0x2e66);
  std::vector<float> y(N);
  RandomActI8 act(k, bits, K, rng);
  const mote_act_i8_t &a = act.a;
  auto half_rows = [&](size_t b, size_t e) {
    f(&a, 1, K, codes.data(), half.data(), 1, G, row_bytes, nullptr, y.data(), N, b, e);
  };
  for (auto _ : state) {
    std::thread other(half_rows, N / 2, N);
    half_rows(0, N / 2);
    other.join();
    benchmark::ClobberMemory();
  }
  state.counters["W_B/s"] = benchmark::Counter((double)N * row_bytes + 2.0 * N * ng,
                                               benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(k->isa);
}
BENCHMARK(BM_LinearQI8Stream)
    ->ArgsProduct({{1, 3}, {2, 4, 8}, {2048, 8192}})
    ->ArgNames({"isa", "bits", "K"})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// n elements in 2 MiB-aligned memory advised for transparent huge pages,
// as the runtime allocates its KV cache (mote_pal_alloc_pages); huge =
// false advises against them: 4 KiB pages, as a bundle mapped from a page
// cache that holds it in small folios.
template <typename T> struct HugeBuffer {
  explicit HugeBuffer(size_t n, bool huge = true) : n_(n) {
    size_t bytes = (n * sizeof(T) + (size_t(2) << 20) - 1) & ~((size_t(2) << 20) - 1);
    p_ = static_cast<T *>(std::aligned_alloc(size_t(2) << 20, bytes));
    if (!p_) std::abort();
    madvise(p_, bytes, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
  }
  ~HugeBuffer() { std::free(p_); }
  HugeBuffer(const HugeBuffer &) = delete;
  HugeBuffer &operator=(const HugeBuffer &) = delete;
  T *data() { return p_; }
  T *begin() { return p_; }
  T *end() { return p_ + n_; }
  size_t n_;
  T *p_;
};

// Decode's matrices one after another from DRAM (session 5): each call
// runs one N x K matrix split in two halves over two threads (a helper
// thread that spins between calls, as the runtime's pool does), the next
// call the next matrix of a ~0.6 GB huge-page buffer. How fast a matrix the
// size of q or o (N = 2048) streams against one of gate+up (16384): any
// difference is the cost of starting and ending a region's streams.
// huge = 0: the buffer in 4 KiB pages (session 6: ~30% slower on this VM,
// as mote-bench's 4 KiB probe is; decisions.md section 12).
// Args: isa, bits, K, N, huge.
void BM_LinearQI8Rotate(benchmark::State &state) {
  const mote_kernels_t *k = Table((int)state.range(0));
  if (!k) {
    state.SkipWithError("ISA not available");
    return;
  }
  size_t bits = state.range(1), K = state.range(2), N = state.range(3), G = 32, ng = K / G;
  size_t row_bytes = K * bits / 8, mat = N * (row_bytes + 2 * ng);
  size_t count = (size_t(600) << 20) / mat;
  mote_linear_q_i8_fn f = bits == 2 ? k->linear_q2_i8 : bits == 4 ? k->linear_q4_i8
                                                                  : k->linear_q8_i8;
  HugeBuffer<uint8_t> buf(count * mat, state.range(4) != 0);
  std::mt19937 rng(1);
  for (uint8_t &c : buf) c = uint8_t(rng());
  for (size_t m = 0; m < count; ++m) // scales: f16 0.1 after each matrix's codes
    for (size_t i = 0; i < N * ng; ++i) {
      uint8_t *h = buf.data() + m * mat + N * row_bytes + 2 * i;
      h[0] = 0x66;
      h[1] = 0x2e;
    }
  std::vector<float> y(N);
  RandomActI8 act(k, bits, K, rng);
  const mote_act_i8_t &a = act.a;
  auto rows = [&](size_t m, size_t b, size_t e) {
    const uint8_t *base = buf.data() + m * mat;
    f(&a, 1, K, base, base + N * row_bytes, 1, G, row_bytes, nullptr, y.data(), N, b, e);
  };
  std::atomic<uint64_t> go{0}, done{0};
  std::atomic<bool> stop{false};
  std::thread helper([&] {
    uint64_t seen = 0;
    while (!stop.load()) {
      uint64_t g = go.load(std::memory_order_acquire);
      if (g == seen) continue;
      seen = g;
      rows((g - 1) % count, N / 2, N);
      done.store(g, std::memory_order_release);
    }
  });
  uint64_t gen = 0;
  for (auto _ : state) {
    go.store(++gen, std::memory_order_release);
    rows((gen - 1) % count, 0, N / 2);
    while (done.load(std::memory_order_acquire) != gen) {
    }
  }
  stop.store(true);
  helper.join();
  state.counters["W_B/s"] =
      benchmark::Counter((double)mat, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(k->isa);
}
BENCHMARK(BM_LinearQI8Rotate)
    ->ArgsProduct({{3}, {2}, {2048}, {1024, 2048, 4096, 16384}, {1, 0}})
    ->ArgNames({"isa", "bits", "K", "N", "huge"})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// One decode step's attention on the Llama-3.2-1B shape (32 query heads over
// 8 KV heads, head_dim 64), all heads on one thread, at n cached positions.
// cold = 1: each call reads another of a set of caches ~0.5 GB in all, as a
// decode step finds its layer's cache after the weight stream evicted it.
// head_major = 1: the runtime's f32 cache layout (Hkv, C, hd); 0: (C, Hkv*hd).
// Args: isa, n, cold, head_major.
void BM_AttentionDecode(benchmark::State &state) {
  const mote_kernels_t *k = Table((int)state.range(0));
  if (!k) {
    state.SkipWithError("ISA not available");
    return;
  }
  const size_t Hq = 32, Hkv = 8, hd = 64, n = state.range(1);
  const size_t row = Hkv * hd, cache = n * row;
  const size_t copies = state.range(2) ? (size_t(512) << 20) / (2 * cache * sizeof(float)) : 1;
  std::vector<float> q(Hq * hd), out(Hq * hd);
  HugeBuffer<float> kv(2 * cache * copies);
  std::vector<float> scores(MOTE_ATTENTION_HEADS * n);
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-1, 1);
  for (float &v : kv) v = u(rng);
  for (float &v : q) v = u(rng);
  const int32_t pos = (int32_t)n - 1;
  size_t c = 0;
  for (auto _ : state) {
    const float *kc = kv.data() + 2 * cache * c, *vc = kc + cache;
    if (state.range(3)) // head-major, the runtime's f32 cache
      k->attention_f32(q.data(), kc, vc, hd, n * hd, &pos, out.data(), 1, Hq, Hkv, hd,
                       0.125f, scores.data(), 0, Hq);
    else
      k->attention_f32(q.data(), kc, vc, row, hd, &pos, out.data(), 1, Hq, Hkv, hd, 0.125f,
                       scores.data(), 0, Hq);
    benchmark::ClobberMemory();
    c = c + 1 == copies ? 0 : c + 1;
  }
  state.counters["KV_B/s"] = benchmark::Counter(2.0 * cache * sizeof(float),
                                                benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(k->isa);
}
BENCHMARK(BM_AttentionDecode)
    ->ArgsProduct({{0, 1}, {256, 1024}, {0, 1}, {0, 1}})
    ->ArgNames({"isa", "n", "cold", "head_major"})
    ->Unit(benchmark::kMicrosecond);

} // namespace

BENCHMARK_MAIN();
