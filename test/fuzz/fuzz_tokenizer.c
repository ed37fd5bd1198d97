/* fuzz_tokenizer.c: libFuzzer harness for the runtime tokenizer through the
 * C API (mote_tokenize, mote_detokenize, mote_token_text) on real bundles'
 * tokenizers (MOTE_FUZZ_TOK_BUNDLES: paths separated by ':'; the smoke test
 * gives stories260K's tok512 and the Llama 2 SentencePiece tokenizer).
 *
 * Input: byte 0 picks the bundle and add_bos; the rest is the prompt text
 * (any bytes). Checked besides "no crash, no UB, no leak":
 * - the BUFFER_TOO_SMALL protocol (same count, same prefix, NUL placement);
 * - every id is inside the vocabulary;
 * - decode(encode(x)) == x up to what SentencePiece's identity normalizer
 *   changes: each malformed UTF-8 byte becomes U+FFFD and, with
 *   remove_extra_whitespaces, runs of spaces are squeezed and the ends
 *   trimmed. Checked when the tokenizer has byte_fallback and all 256 byte
 *   pieces (then no text maps to <unk>) and x holds no U+2581, the
 *   tokenizer's own escaped space ("▁" in the text decodes as ' ');
 * - with BOS, the streaming pieces (mote_token_text) concatenate to the
 *   decoded text when x is valid UTF-8 (byte pieces stream raw bytes);
 * - the same bytes read as int32 ids: detokenize/token_text either succeed
 *   or say MOTE_ERR_OUT_OF_RANGE. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "session.h"
#include "tokenizer.h"

#define MAX_MODELS 4

static struct {
  mote_model_t *m;
  uint32_t n_pieces;
  int exact; /* byte_fallback and all 256 byte pieces */
  int squeeze, dummy;
} g_tok[MAX_MODELS];
static int g_n;

static void cleanup(void) {
  for (int i = 0; i < g_n; ++i) mote_model_close(g_tok[i].m);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  const char *env = getenv("MOTE_FUZZ_TOK_BUNDLES");
  if (!env || !*env) {
    fprintf(stderr, "fuzz_tokenizer: set MOTE_FUZZ_TOK_BUNDLES=a.mote[:b.mote...]\n");
    exit(2);
  }
  char paths[8192];
  snprintf(paths, sizeof paths, "%s", env);
  for (char *p = strtok(paths, ":"); p && g_n < MAX_MODELS; p = strtok(NULL, ":")) {
    mote_model_t *m = NULL;
    if (mote_model_open(p, NULL, &m) != MOTE_OK) {
      fprintf(stderr, "fuzz_tokenizer: %s: %s\n", p, mote_last_error());
      exit(2);
    }
    const mote_tok_manifest_t *t = &m->b.tok;
    int bytes = 0;
    for (int b = 0; b < 256; ++b) {
      char piece[8];
      snprintf(piece, sizeof piece, "<0x%02X>", b);
      for (uint32_t i = 0; i < t->n_pieces; ++i)
        if (t->types[i] == MOTE_PIECE_BYTE && t->piece_lens[i] == 6 &&
            memcmp(t->piece_ptrs[i], piece, 6) == 0) {
          ++bytes;
          break;
        }
    }
    g_tok[g_n].m = m;
    g_tok[g_n].n_pieces = mote_tokenizer_size(m->tok);
    g_tok[g_n].exact = t->byte_fallback && bytes == 256 && t->escape_whitespaces;
    g_tok[g_n].squeeze = t->remove_extra_whitespaces;
    g_tok[g_n].dummy = t->add_dummy_prefix;
    fprintf(stderr,
            "fuzz_tokenizer: %s: %u pieces, byte_fallback %d (%d byte pieces), "
            "add_dummy_prefix %d, remove_extra_whitespaces %d -> round-trip check %s\n",
            p, g_tok[g_n].n_pieces, t->byte_fallback, bytes, t->add_dummy_prefix,
            t->remove_extra_whitespaces, g_tok[g_n].exact ? "on" : "off");
    ++g_n;
  }
  atexit(cleanup);
  return 0;
}

/* Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlongs,
 * surrogates or code points past U+10FFFF), 0 when malformed. */
static size_t utf8_len(const uint8_t *s, size_t n) {
  uint8_t c = s[0];
  size_t k;
  uint32_t lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) k = 2;
  else if (c >= 0xE0 && c <= 0xEF) {
    k = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    k = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (n < k || s[1] < lo || s[1] > hi) return 0;
  for (size_t i = 2; i < k; ++i)
    if ((s[i] & 0xC0) != 0x80) return 0;
  return k;
}

/* What decode(encode(x)) must give: malformed bytes -> U+FFFD each; with
 * squeeze, no leading/trailing spaces and no runs. Sets *valid when x is
 * well-formed and *has_escape when it holds U+2581. out: 3 * n bytes. */
static size_t expected_text(const uint8_t *x, size_t n, int squeeze, uint8_t *out,
                            int *valid, int *has_escape) {
  size_t o = 0;
  *valid = 1;
  *has_escape = 0;
  for (size_t i = 0; i < n;) {
    size_t k = utf8_len(x + i, n - i);
    if (k == 0) {
      memcpy(out + o, "\xef\xbf\xbd", 3);
      o += 3;
      *valid = 0;
      ++i;
      continue;
    }
    if (k == 3 && memcmp(x + i, "\xe2\x96\x81", 3) == 0) *has_escape = 1;
    if (squeeze && x[i] == ' ' && (o == 0 || out[o - 1] == ' ')) {
      ++i;
      continue;
    }
    memcpy(out + o, x + i, k);
    o += k;
    i += k;
  }
  if (squeeze)
    while (o && out[o - 1] == ' ') --o;
  return o;
}

static void check_ids_as_input(const mote_model_t *m, uint32_t n_pieces, const uint8_t *d,
                               size_t n) {
  size_t count = n / 4;
  if (count > 64) count = 64;
  int32_t ids[64];
  int ok = 1;
  for (size_t i = 0; i < count; ++i) {
    uint32_t v = (uint32_t)d[4 * i] | (uint32_t)d[4 * i + 1] << 8 |
                 (uint32_t)d[4 * i + 2] << 16 | (uint32_t)d[4 * i + 3] << 24;
    /* Mostly in range (so control, unknown and byte pieces meet), some not. */
    ids[i] = (v & 0x80000000u) ? (int32_t)v : (int32_t)(v % (n_pieces + 2));
    if (ids[i] < 0 || (uint32_t)ids[i] >= n_pieces) ok = 0;
  }
  char out[2048];
  size_t len = 0;
  mote_status_t st = mote_detokenize(m, ids, count, out, sizeof out, &len);
  if (ok)
    FUZZ_CHECK(st == MOTE_OK || st == MOTE_ERR_BUFFER_TOO_SMALL, "detokenize: %s",
               mote_last_error());
  else
    FUZZ_CHECK(st == MOTE_ERR_OUT_OF_RANGE, "detokenize of an out-of-range id: %d", st);
  if (st == MOTE_OK) FUZZ_CHECK(len < sizeof out && out[len] == '\0', "NUL");
  for (size_t i = 0; i < count; ++i) {
    const char *p;
    size_t pl;
    st = mote_token_text(m, i ? ids[i - 1] : -1, ids[i], &p, &pl);
    int in = ids[i] >= 0 && (uint32_t)ids[i] < m->b.spec.vocab_size;
    FUZZ_CHECK(in ? st == MOTE_OK : st == MOTE_ERR_OUT_OF_RANGE, "token_text(%d): %d",
               ids[i], st);
    if (st == MOTE_OK && pl) out[0] = p[pl - 1];
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0 || g_n == 0) return 0;
  const int which = data[0] % g_n;
  const int add_bos = (int)((data[0] >> 2) % 3) - 1; /* -1, 0, 1 */
  const mote_model_t *m = g_tok[which].m;
  const uint8_t *x = data + 1;
  const size_t n = size - 1;

  /* Count first (capacity 0), then encode into exactly that many. */
  size_t count = 0, count2 = 0;
  mote_status_t st = mote_tokenize(m, (const char *)x, n, add_bos, NULL, 0, &count);
  FUZZ_CHECK(st == (count ? MOTE_ERR_BUFFER_TOO_SMALL : MOTE_OK), "tokenize(cap 0): %d %s", st,
             mote_last_error());
  int32_t *ids = malloc((count + 1) * sizeof(int32_t));
  int32_t *ids2 = malloc((count + 1) * sizeof(int32_t));
  if (!ids || !ids2) abort();
  st = mote_tokenize(m, (const char *)x, n, add_bos, ids, count, &count2);
  FUZZ_CHECK(st == MOTE_OK && count2 == count, "tokenize: %d, %zu vs %zu ids", st, count2,
             count);
  for (size_t i = 0; i < count; ++i)
    FUZZ_CHECK(ids[i] >= 0 && (uint32_t)ids[i] < g_tok[which].n_pieces, "id %d", ids[i]);
  if (count > 1) { /* one short: the same ids up to capacity */
    st = mote_tokenize(m, (const char *)x, n, add_bos, ids2, count - 1, &count2);
    FUZZ_CHECK(st == MOTE_ERR_BUFFER_TOO_SMALL && count2 == count, "short tokenize: %d", st);
    FUZZ_CHECK(memcmp(ids, ids2, (count - 1) * sizeof(int32_t)) == 0, "short tokenize ids");
  }

  /* Decode: length first, then exact, then short. */
  size_t len = 0, len2 = 0;
  st = mote_detokenize(m, ids, count, NULL, 0, &len);
  FUZZ_CHECK(st == (len ? MOTE_ERR_BUFFER_TOO_SMALL : MOTE_OK), "detokenize(cap 0): %d", st);
  char *text = malloc(len + 1), *text2 = malloc(len + 1);
  if (!text || !text2) abort();
  st = mote_detokenize(m, ids, count, text, len + 1, &len2);
  FUZZ_CHECK(st == MOTE_OK && len2 == len && text[len] == '\0', "detokenize: %d", st);
  if (len > 1) {
    memset(text2, 0x55, len + 1);
    st = mote_detokenize(m, ids, count, text2, len / 2, &len2);
    FUZZ_CHECK(st == MOTE_ERR_BUFFER_TOO_SMALL && len2 == len, "short detokenize: %d", st);
    FUZZ_CHECK(memcmp(text, text2, len / 2) == 0 && (uint8_t)text2[len / 2] == 0x55,
               "short detokenize wrote past its capacity or other bytes");
  }

  /* Round trip. */
  uint8_t *want = malloc(3 * n + 1);
  if (!want) abort();
  int valid = 0, has_escape = 0;
  size_t wl = expected_text(x, n, g_tok[which].squeeze, want, &valid, &has_escape);
  if (g_tok[which].exact && !has_escape)
    FUZZ_CHECK(wl == len && memcmp(want, text, len) == 0,
               "decode(encode(x)) != x: got %zu bytes \"%.*s\", want %zu \"%.*s\"", len,
               (int)len, text, wl, (int)wl, (const char *)want);

  /* Streaming text after BOS: the pieces concatenate to the decoded text. */
  if (valid && !has_escape && !g_tok[which].squeeze && count && ids[0] == m->b.tok.bos_id &&
      m->b.tok.bos_id >= 0) {
    size_t o = 0;
    int same = 1;
    for (size_t i = 0; i < count; ++i) {
      const char *p;
      size_t pl;
      st = mote_token_text(m, i ? ids[i - 1] : -1, ids[i], &p, &pl);
      FUZZ_CHECK(st == MOTE_OK, "token_text(%d): %s", ids[i], mote_last_error());
      if (o + pl > len || memcmp(text + o, p, pl) != 0) same = 0;
      o += pl;
    }
    FUZZ_CHECK(same && o == len, "streamed text (%zu bytes) != decoded text (%zu bytes)", o, len);
  }
  free(want);
  free(text);
  free(text2);
  free(ids);
  free(ids2);

  check_ids_as_input(m, g_tok[which].n_pieces, x, n);
  return 0;
}
