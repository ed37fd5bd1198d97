/* bandwidth.c: mote-bench's memory-read bandwidth probe (the roofline's roof). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* getrusage, sysconf, strtok_r, pthreads */
#endif

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "bench.h"

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#define BENCH_X86 1
#include <immintrin.h>
#endif

typedef struct probe_slice {
  const uint8_t *data;
  size_t bytes;
  size_t prefetch; /* software prefetch distance in bytes; 0 = none */
  uint64_t sink; /* folded result, so the loads cannot be optimized away */
} probe_slice_t;

/* Portable fallback: four independent 64-bit accumulators. */
static uint64_t read_scalar(const uint8_t *p, size_t bytes) {
  const uint64_t *q = (const uint64_t *)p;
  size_t n = bytes / 8;
  uint64_t a = 0, b = 0, c = 0, d = 0;
  for (size_t i = 0; i + 4 <= n; i += 4) {
    a ^= q[i];
    b ^= q[i + 1];
    c ^= q[i + 2];
    d ^= q[i + 3];
  }
  return a ^ b ^ c ^ d;
}

#ifdef BENCH_X86
/* 32-byte loads, four per iteration (128 bytes: two cache lines), into four
 * accumulators so the loop is bound by memory, not by a dependency chain.
 * pf > 0: also software-prefetch both lines pf bytes ahead, as Mote's
 * quantized kernels do; the roof is the better of the two ways to read, so
 * a kernel cannot look close to it merely because the plain loop leaves
 * bandwidth unused. */
__attribute__((target("avx2"))) static uint64_t read_avx2(const uint8_t *p, size_t bytes,
                                                          size_t pf) {
  __m256i a = _mm256_setzero_si256(), b = a, c = a, d = a;
  for (size_t i = 0; i + 128 <= bytes; i += 128) {
    if (pf) {
      _mm_prefetch((const char *)(p + i + pf), _MM_HINT_T0);
      _mm_prefetch((const char *)(p + i + pf + 64), _MM_HINT_T0);
    }
    a = _mm256_xor_si256(a, _mm256_load_si256((const __m256i *)(p + i)));
    b = _mm256_xor_si256(b, _mm256_load_si256((const __m256i *)(p + i + 32)));
    c = _mm256_xor_si256(c, _mm256_load_si256((const __m256i *)(p + i + 64)));
    d = _mm256_xor_si256(d, _mm256_load_si256((const __m256i *)(p + i + 96)));
  }
  a = _mm256_xor_si256(_mm256_xor_si256(a, b), _mm256_xor_si256(c, d));
  uint64_t lanes[4];
  _mm256_storeu_si256((__m256i *)lanes, a);
  return lanes[0] ^ lanes[1] ^ lanes[2] ^ lanes[3];
}
#endif

static void *probe_thread(void *arg) {
  probe_slice_t *s = (probe_slice_t *)arg;
#ifdef BENCH_X86
  if (__builtin_cpu_supports("avx2")) {
    s->sink = read_avx2(s->data, s->bytes, s->prefetch);
    return NULL;
  }
#endif
  s->sink = read_scalar(s->data, s->bytes);
  return NULL;
}

static double seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void *bench_bandwidth_buffer(size_t bytes, int huge) {
  void *p = NULL;
  /* 2 MiB-aligned. huge: advised for huge pages (where the OS has them), as
   * MOTE_OPEN_READ_INTO_MEMORY reads a bundle: with 4 KiB pages the probe
   * itself pays TLB misses and a huge-page decode would beat its "roof".
   * !huge: advised against them, the second roof: what a bundle mapped from
   * a page cache that holds it in 4 KiB pages can be read at. */
  if (posix_memalign(&p, (size_t)2 << 20, bytes) != 0) return NULL;
#if defined(MADV_HUGEPAGE) && defined(MADV_NOHUGEPAGE)
  (void)madvise(p, bytes, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
#else
  (void)huge;
#endif
  /* Touch every page with non-zero bytes: untouched pages all map the one
   * zero page, which would measure the cache, not memory. */
  memset(p, 0x5a, bytes);
  return p;
}

/* One timed pass: `threads` threads each read a contiguous slice. */
static double one_pass(const uint8_t *buf, size_t bytes, uint32_t threads,
                       size_t prefetch) {
  probe_slice_t slices[64];
  pthread_t tids[64];
  if (threads > 64) threads = 64;
  size_t per = (bytes / threads) & ~(size_t)127;
  double t0 = seconds();
  uint32_t started = 0;
  for (uint32_t t = 0; t < threads; t++) {
    slices[t].data = buf + (size_t)t * per;
    slices[t].bytes = per;
    slices[t].prefetch = prefetch;
    slices[t].sink = 0;
    if (t == 0) continue; /* the calling thread reads slice 0 itself */
    if (pthread_create(&tids[t], NULL, probe_thread, &slices[t]) != 0) break;
    started = t;
  }
  probe_thread(&slices[0]);
  for (uint32_t t = 1; t <= started; t++) pthread_join(tids[t], NULL);
  double dt = seconds() - t0;
  static volatile uint64_t sink;
  for (uint32_t t = 0; t <= started; t++) sink ^= slices[t].sink;
  return dt > 0 ? (double)per * (started + 1) / dt / 1e9 : -1.0;
}

double bench_read_bandwidth(void *buffer, size_t bytes, uint32_t threads,
                            int tries) {
  if (buffer == NULL || threads == 0) return -1.0;
  double best = -1.0;
  /* Plain reads and reads with a software prefetch 2 and 8 KiB ahead
   * (measured on the session-4 machine: each is the best on some runs). */
  static const size_t kPrefetch[] = {0, 2048, 8192};
  for (int i = 0; i < tries; i++)
    for (size_t v = 0; v < sizeof kPrefetch / sizeof kPrefetch[0]; v++) {
      double gbs = one_pass((const uint8_t *)buffer, bytes, threads, kPrefetch[v]);
      if (gbs > best) best = gbs;
    }
  return best;
}
