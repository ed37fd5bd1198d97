/* fuzz_adapter.c: libFuzzer harness for the LoRA adapter reader
 * (mote_adapter_open, runtime/src/adapter.c + the container checks of
 * bundle.c/bundle_validate.c). Hostile adapter bytes are opened against one
 * real LoRA-enabled base bundle (MOTE_FUZZ_BASE: motec compile
 * --lora-max-rank N); an adapter that opens is bound to a session, which runs
 * a prefill and one decode step with it, and is then unbound and closed.
 *
 *   MOTE_FUZZ_BASE=base.mote fuzz_adapter CORPUS_DIR   (test/fuzz/fuzz_readers_smoke.sh)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_common.h"

#define MAX_BASES 4

static struct {
  mote_model_t *m;
  mote_session_t *s;
  mote_model_info_t info;
} g_base[MAX_BASES];
static int g_n;
static float *g_score;
static char g_path[4096];
static int g_fd = -1;

static void cleanup(void) {
  for (int i = 0; i < g_n; ++i) {
    mote_session_destroy(g_base[i].s);
    mote_model_close(g_base[i].m);
  }
  free(g_score);
  if (g_fd >= 0) close(g_fd);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  const char *base = getenv("MOTE_FUZZ_BASE");
  if (!base || !*base) {
    fprintf(stderr, "fuzz_adapter: set MOTE_FUZZ_BASE to a LoRA-enabled bundle "
                    "(motec compile --lora-max-rank N)\n");
    exit(2);
  }
  char paths[8192];
  uint32_t vmax = 1;
  snprintf(paths, sizeof paths, "%s", base);
  for (char *p = strtok(paths, ":"); p && g_n < MAX_BASES; p = strtok(NULL, ":"), ++g_n) {
    if (mote_model_open(p, NULL, &g_base[g_n].m) != MOTE_OK ||
        mote_model_get_info(g_base[g_n].m, &g_base[g_n].info) != MOTE_OK) {
      fprintf(stderr, "fuzz_adapter: %s: %s\n", p, mote_last_error());
      exit(2);
    }
    mote_model_info_t *in = &g_base[g_n].info;
    mote_session_options_t so = {1, in->context < 16 ? in->context : 16};
    if (in->context < 8 || mote_session_create(g_base[g_n].m, &so, &g_base[g_n].s) != MOTE_OK) {
      fprintf(stderr, "fuzz_adapter: %s: session (context >= 8): %s\n", p, mote_last_error());
      exit(2);
    }
    if (in->vocab_size > vmax) vmax = in->vocab_size;
  }
  g_score = malloc(3 * (size_t)vmax * sizeof(float));
  if (!g_score) abort();
  /* mote_adapter_open takes a path: each input is written to one scratch
   * file, unlinked at once (nothing is left behind, even after a crash) and
   * opened through /proc/self/fd (Linux, like the fuzzers). */
  const char *tmp = getenv("TMPDIR");
  snprintf(g_path, sizeof g_path, "%s/fuzz_adapter.%ld.XXXXXX",
           tmp && *tmp ? tmp : "/tmp", (long)getpid());
  g_fd = mkstemp(g_path);
  if (g_fd < 0) {
    perror("fuzz_adapter: mkstemp");
    exit(2);
  }
  unlink(g_path);
  snprintf(g_path, sizeof g_path, "/proc/self/fd/%d", g_fd);
  atexit(cleanup);
  return 0;
}

static void write_file(const uint8_t *d, size_t n) {
  if (ftruncate(g_fd, 0) != 0) abort();
  size_t done = 0;
  while (done < n) {
    ssize_t w = pwrite(g_fd, d + done, n - done, (off_t)done);
    if (w <= 0) abort();
    done += (size_t)w;
  }
}

static void open_and_run(int bi, const uint8_t *d, size_t n, uint32_t flags) {
  mote_model_t *m = g_base[bi].m;
  mote_session_t *s = g_base[bi].s;
  const mote_model_info_t *info = &g_base[bi].info;
  mote_adapter_options_t opt = {flags};
  mote_adapter_t *ad = (mote_adapter_t *)(uintptr_t)1;
  mote_status_t st = mote_adapter_open(m, g_path, &opt, &ad);
  if (getenv("MOTE_FUZZ_VERBOSE")) /* to check that seeds open */
    fprintf(stderr, "adapter_open(base %d): %s %s\n", bi, mote_status_name(st),
            mote_last_error());
  FUZZ_CHECK(fuzz_status_known(st), "adapter_open returned %d", st);
  if (st != MOTE_OK) {
    FUZZ_CHECK(ad == NULL, "failed adapter_open left *out set");
    FUZZ_CHECK(mote_last_error()[0], "failed adapter_open without an error message");
    return;
  }
  FUZZ_CHECK(mote_session_set_adapter(s, ad) == MOTE_OK, "bind: %s", mote_last_error());
  FUZZ_CHECK(mote_adapter_close(ad) == MOTE_ERR_INVALID_ARGUMENT, "closing a bound adapter");
  int32_t toks[3] = {info->bos_id >= 0 ? info->bos_id : 1, 5, 6};
  for (int k = 0; k < 3; ++k)
    if ((uint32_t)toks[k] >= info->vocab_size) toks[k] = 0;
  const float *lg = NULL;
  volatile float sink = 0.0f;
  /* Prefill (bucketed bases: a padded bucket), one decode step, and the
   * score graph (or its decode fallback). Logits may be inf/NaN: the
   * adapter's numbers are hostile too. */
  mote_session_reset(s);
  st = mote_session_prefill(s, toks, 3, &lg);
  FUZZ_CHECK(st == MOTE_OK, "prefill with a valid adapter: %s", mote_last_error());
  sink += fuzz_touch(lg, info->vocab_size);
  st = mote_session_decode(s, toks[0], &lg);
  FUZZ_CHECK(st == MOTE_OK, "decode with a valid adapter: %s", mote_last_error());
  sink += fuzz_touch(lg, info->vocab_size);
  mote_session_reset(s);
  st = mote_session_score(s, toks, 3, g_score);
  FUZZ_CHECK(st == MOTE_OK, "score with a valid adapter: %s", mote_last_error());
  sink += fuzz_touch(g_score, 3 * info->vocab_size);
  (void)sink;
  FUZZ_CHECK(mote_session_set_adapter(s, NULL) == MOTE_OK, "unbind");
  FUZZ_CHECK(mote_adapter_close(ad) == MOTE_OK, "close: %s", mote_last_error());
}

static void try_all(const uint8_t *d, size_t n) {
  write_file(d, n);
  for (int i = 0; i < g_n; ++i) open_and_run(i, d, n, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint8_t *buf = malloc(size ? size : 1);
  if (!buf) return 0;
  if (size) memcpy(buf, data, size);
  /* As given (checksums usually fail), then with every checksum repaired
   * so that mutations reach the manifest parser, the validator, the site
   * matching and the LoRA kernels. */
  try_all(buf, size);
  fuzz_fix_checksums(buf, size);
  if (size && memcmp(buf, data, size) != 0) try_all(buf, size);
  free(buf);
  return 0;
}
