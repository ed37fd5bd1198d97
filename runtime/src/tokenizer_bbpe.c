/* tokenizer_bbpe.c: byte-level BPE (GPT-2 / Llama 3 style).
 *
 * encode: special tokens are cut out of the text first (longest match at
 * each position); every stretch between them is split by the pre-tokenizer
 * (the Llama 3 or GPT-2 regex, written out by hand below), and every
 * pre-token is merged from single bytes: the adjacent pair whose
 * concatenation is the token of lowest merge rank goes first (leftmost on a
 * tie) until no pair is a token. decode: the tokens' raw bytes, special
 * tokens giving nothing. docs/tokenizers.md describes both. */
#include "tokenizer_bbpe.h"

#include <stdlib.h>
#include <string.h>

#include "minheap.h"
#include "status.h"
#include "tokenizer_unicode.h"

#define BB_NO_RANK 0xFFFFFFFFu
#define BB_MAX_TEXT ((size_t)1 << 28)

struct mote_bbpe {
  mote_allocator_t alloc;
  mote_bbpe_config_t cfg;
  uint32_t n;
  char *text;       /* all tokens' bytes, concatenated */
  uint32_t *off;    /* (n+1) token i is text[off[i], off[i+1]) */
  uint32_t *ranks;  /* (n) merge rank, BB_NO_RANK = never formed by a merge */
  uint8_t *types;   /* (n) MOTE_PIECE_NORMAL / CONTROL / USER_DEFINED */
  int32_t *table;   /* (mask+1) open addressing over token bytes, -1 empty */
  uint32_t mask, max_len;
  int32_t byte_id[256];
  uint32_t *spec_lens; /* distinct lengths of the specials, longest first */
  uint32_t n_spec_lens;
  uint8_t spec_first[256]; /* 1: some special starts with this byte */
};

/* ---- memory ------------------------------------------------------------ */

/* Allocations: mote_tk_alloc / mote_tk_free (tokenizer.h). */

void mote_bbpe_destroy(mote_bbpe_t *t) {
  if (!t) return;
  mote_allocator_t a = t->alloc;
  void *parts[] = {t->text, t->off, t->ranks, t->types, t->table, t->spec_lens};
  for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); ++i) mote_tk_free(&a, parts[i]);
  mote_tk_free(&a, t);
}

uint32_t mote_bbpe_size(const mote_bbpe_t *t) { return t ? t->n : 0; }

/* ---- token table ------------------------------------------------------- */

static uint32_t bb_hash(const char *s, size_t len) {
  uint32_t h = 2166136261u; /* FNV-1a */
  for (size_t i = 0; i < len; ++i) h = (h ^ (uint8_t)s[i]) * 16777619u;
  return h;
}

static int bb_is_special(uint8_t type) {
  return type == MOTE_PIECE_CONTROL || type == MOTE_PIECE_USER_DEFINED;
}

/* Id of the first normal (special = 0) or special (1) token with exactly
 * these bytes, or -1. A special token may repeat a normal token's bytes
 * (GPT-NeoX's "  "): both are in the table. */
static int32_t bb_find(const mote_bbpe_t *t, const char *s, size_t len, int special) {
  if (len > t->max_len) return -1;
  for (uint32_t h = bb_hash(s, len) & t->mask;; h = (h + 1) & t->mask) {
    int32_t id = t->table[h];
    if (id < 0) return -1;
    uint32_t tl = t->off[id + 1] - t->off[id];
    if (tl == len && bb_is_special(t->types[id]) == special &&
        memcmp(t->text + t->off[id], s, len) == 0)
      return id;
  }
}

static int32_t bb_lookup(const mote_bbpe_t *t, const char *s, size_t len) {
  return bb_find(t, s, len, 0);
}

static mote_status_t bb_check_args(const mote_bbpe_config_t *cfg, uint32_t n,
                                   const char *const *ptrs, const uint32_t *lens,
                                   const uint32_t *ranks, const uint8_t *types,
                                   size_t *total) {
  MOTE_CHECK_OR_RETURN(cfg && ptrs && lens && ranks && types, MOTE_ERR_INVALID_ARGUMENT,
                       "tokenizer: NULL argument");
  MOTE_CHECK_OR_RETURN(n >= 256 && n < (1u << 28), MOTE_ERR_INVALID_ARGUMENT,
                       "tokenizer: bad token count %u (byte-bpe needs >= 256)", n);
  MOTE_CHECK_OR_RETURN(cfg->pre_tokenizer == MOTE_PRE_LLAMA3 ||
                           cfg->pre_tokenizer == MOTE_PRE_GPT2,
                       MOTE_ERR_INVALID_ARGUMENT, "tokenizer: unknown pre-tokenizer %u",
                       cfg->pre_tokenizer);
  const int32_t ids[3] = {cfg->bos_id, cfg->eos_id, cfg->pad_id};
  for (int k = 0; k < 3; ++k)
    MOTE_CHECK_OR_RETURN(ids[k] >= -1 && ids[k] < (int64_t)n, MOTE_ERR_INVALID_ARGUMENT,
                         "tokenizer: special id %d outside vocabulary of %u", ids[k], n);
  size_t sum = 0;
  for (uint32_t i = 0; i < n; ++i) {
    MOTE_CHECK_OR_RETURN(types[i] == MOTE_PIECE_NORMAL || bb_is_special(types[i]),
                         MOTE_ERR_INVALID_ARGUMENT,
                         "tokenizer: token %u has type %u (byte-bpe: normal, control "
                         "or user-defined)", i, types[i]);
    MOTE_CHECK_OR_RETURN(lens[i] == 0 || ptrs[i], MOTE_ERR_INVALID_ARGUMENT,
                         "tokenizer: token %u is NULL", i);
    MOTE_CHECK_OR_RETURN(lens[i] > 0 || types[i] != MOTE_PIECE_NORMAL,
                         MOTE_ERR_INVALID_ARGUMENT, "tokenizer: token %u is empty", i);
    sum += lens[i];
    MOTE_CHECK_OR_RETURN(sum < (1u << 30), MOTE_ERR_INVALID_ARGUMENT,
                         "tokenizer: tokens exceed 1 GiB");
  }
  *total = sum;
  return MOTE_OK;
}

static mote_status_t bb_fill(mote_bbpe_t *t, const char *const *ptrs,
                             const uint32_t *lens) {
  uint32_t o = 0;
  for (uint32_t i = 0; i < t->n; ++i) {
    t->off[i] = o;
    if (lens[i]) memcpy(t->text + o, ptrs[i], lens[i]);
    o += lens[i];
    if (lens[i] > t->max_len) t->max_len = lens[i];
  }
  t->off[t->n] = o;
  /* Normal and special tokens are looked up apart (bb_find). */
  for (uint32_t i = 0; i < t->n; ++i) {
    const char *p = t->text + t->off[i];
    uint32_t len = lens[i];
    int special = bb_is_special(t->types[i]);
    if (len == 0 || bb_find(t, p, len, special) >= 0) continue; /* first wins */
    uint32_t h = bb_hash(p, len) & t->mask;
    while (t->table[h] >= 0) h = (h + 1) & t->mask;
    t->table[h] = (int32_t)i;
    if (t->types[i] == MOTE_PIECE_NORMAL && len == 1)
      t->byte_id[(uint8_t)p[0]] = (int32_t)i;
    if (bb_is_special(t->types[i])) {
      t->spec_first[(uint8_t)p[0]] = 1;
      uint32_t k = 0;
      while (k < t->n_spec_lens && t->spec_lens[k] > len) ++k;
      if (k == t->n_spec_lens || t->spec_lens[k] != len) {
        memmove(t->spec_lens + k + 1, t->spec_lens + k,
                (t->n_spec_lens - k) * sizeof(uint32_t));
        t->spec_lens[k] = len;
        t->n_spec_lens++;
      }
    }
  }
  /* A byte without a token (GPT-NeoX has none for 0xC0, 0xC1, 0xF5..0xFF,
   * which valid UTF-8 never holds) is dropped by encode. */
  return MOTE_OK;
}

mote_status_t mote_bbpe_create(const mote_bbpe_config_t *cfg, uint32_t n,
                               const char *const *ptrs, const uint32_t *lens,
                               const uint32_t *ranks, const uint8_t *types,
                               const mote_allocator_t *alloc, mote_bbpe_t **out) {
  MOTE_CHECK_OR_RETURN(out, MOTE_ERR_INVALID_ARGUMENT, "tokenizer: out is NULL");
  *out = NULL;
  size_t total = 0;
  MOTE_RETURN_IF_ERROR(bb_check_args(cfg, n, ptrs, lens, ranks, types, &total));
  mote_allocator_t a = {0};
  if (alloc && alloc->alloc) a = *alloc;
  mote_bbpe_t *t = mote_tk_alloc(&a, sizeof(*t));
  MOTE_CHECK_OR_RETURN(t, MOTE_ERR_OUT_OF_MEMORY, "tokenizer: out of memory");
  memset(t, 0, sizeof(*t));
  t->alloc = a;
  t->cfg = *cfg;
  t->n = n;
  uint32_t slots = 16;
  while (slots < 2 * n) slots *= 2;
  t->mask = slots - 1;
  t->text = mote_tk_alloc(&a, total);
  t->off = mote_tk_alloc(&a, ((size_t)n + 1) * sizeof(uint32_t));
  t->ranks = mote_tk_alloc(&a, (size_t)n * sizeof(uint32_t));
  t->types = mote_tk_alloc(&a, n);
  t->table = mote_tk_alloc(&a, (size_t)slots * sizeof(int32_t));
  t->spec_lens = mote_tk_alloc(&a, (size_t)n * sizeof(uint32_t));
  if (!t->text || !t->off || !t->ranks || !t->types || !t->table || !t->spec_lens) {
    mote_bbpe_destroy(t);
    return mote_set_error(MOTE_ERR_OUT_OF_MEMORY, "tokenizer: out of memory");
  }
  memcpy(t->ranks, ranks, (size_t)n * sizeof(uint32_t));
  memcpy(t->types, types, n);
  memset(t->table, 0xff, (size_t)slots * sizeof(int32_t));
  for (int b = 0; b < 256; ++b) t->byte_id[b] = -1;
  mote_status_t st = bb_fill(t, ptrs, lens);
  if (st != MOTE_OK) {
    mote_bbpe_destroy(t);
    return st;
  }
  *out = t;
  return MOTE_OK;
}

/* ---- characters -------------------------------------------------------- */

/* Decodes the UTF-8 character at s (n > 0 bytes left). Malformed input
 * (overlong, surrogate, > U+10FFFF, truncated, stray byte) is one byte of
 * class OTHER with cp = BB_NO_RANK: byte-level BPE still encodes it. */
static size_t bb_utf8(const uint8_t *s, size_t n, uint32_t *cp) {
  uint32_t c = s[0];
  *cp = BB_NO_RANK;
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
#define BB_TRAIL(b) (((b) & 0xC0) == 0x80)
  if (n >= 2 && (c & 0xE0) == 0xC0 && BB_TRAIL(s[1])) {
    uint32_t v = ((c & 0x1F) << 6) | (s[1] & 0x3F);
    if (v >= 0x80) { *cp = v; return 2; }
  } else if (n >= 3 && (c & 0xF0) == 0xE0 && BB_TRAIL(s[1]) && BB_TRAIL(s[2])) {
    uint32_t v = ((c & 0x0F) << 12) | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3F);
    if (v >= 0x800 && (v < 0xD800 || v > 0xDFFF)) { *cp = v; return 3; }
  } else if (n >= 4 && (c & 0xF8) == 0xF0 && BB_TRAIL(s[1]) && BB_TRAIL(s[2]) &&
             BB_TRAIL(s[3])) {
    uint32_t v = ((c & 0x07) << 18) | ((s[1] & 0x3Fu) << 12) | ((s[2] & 0x3Fu) << 6) |
                 (s[3] & 0x3F);
    if (v >= 0x10000 && v <= 0x10FFFF) { *cp = v; return 4; }
  }
#undef BB_TRAIL
  return 1;
}

static uint8_t bb_class(uint32_t cp) {
  if (cp < 0x80) {
    if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z')) return MOTE_UCD_L;
    if (cp >= '0' && cp <= '9') return MOTE_UCD_N;
    if (cp == ' ' || (cp >= 0x09 && cp <= 0x0D)) return MOTE_UCD_S;
    return MOTE_UCD_OTHER;
  }
  if (cp == BB_NO_RANK) return MOTE_UCD_OTHER;
  return (uint8_t)mote_ucd_class(cp);
}

/* The text cut into characters: code point, class, byte offset. */
typedef struct bb_chars {
  const uint32_t *cp;
  const uint8_t *cl;
  uint32_t n;
} bb_chars_t;

static int bb_nl(uint32_t c) { return c == '\r' || c == '\n'; }

static uint32_t bb_lower(uint32_t c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

/* 's 't 're 've 'm 'll 'd at i: its length in characters, or 0. */
static uint32_t bb_contraction(const bb_chars_t *c, uint32_t i, int icase) {
  if (c->cp[i] != '\'' || i + 1 >= c->n) return 0;
  uint32_t a = icase ? bb_lower(c->cp[i + 1]) : c->cp[i + 1];
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
  if (i + 2 >= c->n) return 0;
  uint32_t b = icase ? bb_lower(c->cp[i + 2]) : c->cp[i + 2];
  if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
  return 0;
}

static uint32_t bb_run(const bb_chars_t *c, uint32_t j, uint8_t cls) {
  while (j < c->n && c->cl[j] == cls) ++j;
  return j;
}

/* \s+(?!\S) | \s+ from i (a whitespace character); j = end of the run. */
static uint32_t bb_space_tail(const bb_chars_t *c, uint32_t i, uint32_t j) {
  if (j == c->n) return j;      /* \s+ up to the end: nothing follows */
  if (j - 1 > i) return j - 1;  /* leave the last space to the next word */
  return j;                     /* \s+ */
}

/* Llama 3: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
 *          ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 * Returns where the pre-token starting at character i ends. */
static uint32_t bb_next_llama3(const bb_chars_t *c, uint32_t i) {
  uint32_t k = bb_contraction(c, i, 1);
  if (k) return i + k;
  uint8_t cl = c->cl[i];
  if (cl == MOTE_UCD_L) return bb_run(c, i + 1, MOTE_UCD_L);
  if (cl != MOTE_UCD_N && !bb_nl(c->cp[i]) && i + 1 < c->n && c->cl[i + 1] == MOTE_UCD_L)
    return bb_run(c, i + 2, MOTE_UCD_L);
  if (cl == MOTE_UCD_N) {
    uint32_t j = i + 1;
    while (j < c->n && j < i + 3 && c->cl[j] == MOTE_UCD_N) ++j;
    return j;
  }
  uint32_t s = i;
  if (c->cp[i] == ' ' && i + 1 < c->n && c->cl[i + 1] == MOTE_UCD_OTHER) s = i + 1;
  if (c->cl[s] == MOTE_UCD_OTHER) {
    uint32_t j = bb_run(c, s + 1, MOTE_UCD_OTHER);
    while (j < c->n && bb_nl(c->cp[j])) ++j;
    return j;
  }
  /* whitespace */
  uint32_t j = bb_run(c, i + 1, MOTE_UCD_S);
  for (uint32_t p = j; p > i; --p) /* \s*[\r\n]+: up to the last newline */
    if (bb_nl(c->cp[p - 1])) return p;
  return bb_space_tail(c, i, j);
}

/* GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|
 *        \s+(?!\S)|\s+ */
static uint32_t bb_next_gpt2(const bb_chars_t *c, uint32_t i) {
  uint32_t k = bb_contraction(c, i, 0);
  if (k) return i + k;
  uint32_t s = i;
  if (c->cp[i] == ' ' && i + 1 < c->n && c->cl[i + 1] != MOTE_UCD_S) s = i + 1;
  uint8_t cl = c->cl[s];
  if (cl != MOTE_UCD_S) return bb_run(c, s + 1, cl);
  return bb_space_tail(c, i, bb_run(c, i + 1, MOTE_UCD_S));
}

/* ---- scratch ----------------------------------------------------------- */

typedef struct bb_sym {
  uint32_t start, len; /* bytes of the pre-token; len 0 = merged away */
  int32_t prev, next;
} bb_sym_t;

typedef struct bb_pair {
  uint32_t rank;
  int32_t left, right;
  uint32_t size; /* bytes of the merged token: detects stale entries */
} bb_pair_t;

typedef struct bb_work {
  const mote_bbpe_t *t;
  uint32_t *cp;   /* per character of the segment */
  uint8_t *cl;
  uint32_t *bo;   /* byte offset of each character, +1 */
  bb_sym_t *sym;  /* per byte of a pre-token */
  bb_pair_t *heap;
  size_t n_heap;
  int32_t *out;
  size_t cap, count;
} bb_work_t;

static void bb_emit(bb_work_t *w, int32_t id) {
  if (w->count < w->cap) w->out[w->count] = id;
  w->count++;
}

/* Heap order: lower rank first, then the leftmost pair. */
static int bb_before(const bb_pair_t *a, const bb_pair_t *b) {
  return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

MOTE_HEAP(bb_heap, bb_pair_t, bb_before)

/* Rank of the normal token with the bytes of two neighbours, or none. */
static void bb_try_pair(bb_work_t *w, const uint8_t *p, int32_t left, int32_t right) {
  if (left < 0 || right < 0) return;
  const bb_sym_t *l = &w->sym[left], *r = &w->sym[right];
  uint32_t size = l->len + r->len;
  int32_t id = bb_lookup(w->t, (const char *)p + l->start, size);
  if (id < 0 || w->t->types[id] != MOTE_PIECE_NORMAL || w->t->ranks[id] == BB_NO_RANK)
    return;
  bb_pair_t pr = {w->t->ranks[id], left, right, size};
  bb_heap_push(w->heap, &w->n_heap, pr);
}

/* Merges one pre-token (bytes p, len) and emits its ids. */
static void bb_merge(bb_work_t *w, const uint8_t *p, uint32_t len) {
  const mote_bbpe_t *t = w->t;
  if (len == 1) {
    if (t->byte_id[p[0]] >= 0) bb_emit(w, t->byte_id[p[0]]);
    return;
  }
  if (t->cfg.ignore_merges) {
    int32_t id = bb_lookup(t, (const char *)p, len);
    if (id >= 0 && t->types[id] == MOTE_PIECE_NORMAL) {
      bb_emit(w, id);
      return;
    }
  }
  for (uint32_t i = 0; i < len; ++i) {
    bb_sym_t s = {i, 1, (int32_t)i - 1, i + 1 < len ? (int32_t)i + 1 : -1};
    w->sym[i] = s;
  }
  w->n_heap = 0;
  for (uint32_t i = 1; i < len; ++i) bb_try_pair(w, p, (int32_t)i - 1, (int32_t)i);
  while (w->n_heap > 0) {
    bb_pair_t pr = bb_heap_pop(w->heap, &w->n_heap);
    bb_sym_t *l = &w->sym[pr.left], *r = &w->sym[pr.right];
    if (l->len == 0 || r->len == 0 || l->len + r->len != pr.size) continue;
    l->len += r->len;
    r->len = 0;
    l->next = r->next;
    if (l->next >= 0) w->sym[l->next].prev = pr.left;
    bb_try_pair(w, p, l->prev, pr.left);
    bb_try_pair(w, p, pr.left, l->next);
  }
  for (int32_t i = 0; i >= 0; i = w->sym[i].next) {
    const bb_sym_t *s = &w->sym[i];
    int32_t id = s->len == 1 ? t->byte_id[p[s->start]]
                             : bb_lookup(t, (const char *)p + s->start, s->len);
    if (id >= 0) bb_emit(w, id); /* merged symbols are tokens by construction */
  }
}

/* Cuts text (len bytes) into characters; returns the character count. */
static uint32_t bb_chars(bb_work_t *w, const uint8_t *text, size_t len) {
  uint32_t n = 0;
  for (size_t i = 0; i < len;) {
    uint32_t cp;
    size_t k = bb_utf8(text + i, len - i, &cp);
    w->cp[n] = cp;
    w->cl[n] = bb_class(cp);
    w->bo[n] = (uint32_t)i;
    ++n;
    i += k;
  }
  w->bo[n] = (uint32_t)len;
  return n;
}

typedef void (*bb_sink_fn)(bb_work_t *w, const uint8_t *p, uint32_t len, void *user);

static void bb_split(bb_work_t *w, uint32_t pre, const uint8_t *text, size_t len,
                     bb_sink_fn sink, void *user) {
  bb_chars_t c = {w->cp, w->cl, bb_chars(w, text, len)};
  for (uint32_t i = 0; i < c.n;) {
    uint32_t j = pre == MOTE_PRE_LLAMA3 ? bb_next_llama3(&c, i) : bb_next_gpt2(&c, i);
    sink(w, text + w->bo[i], w->bo[j] - w->bo[i], user);
    i = j;
  }
}

static void bb_merge_sink(bb_work_t *w, const uint8_t *p, uint32_t len, void *user) {
  (void)user;
  bb_merge(w, p, len);
}

/* Allocates the scratch for `len` bytes of text: per byte one character
 * (cp, class, offset), one symbol and at most 3 queued pairs. */
static void *bb_scratch(const mote_allocator_t *a, bb_work_t *w, size_t len) {
  size_t n = len + 1;
  size_t bytes = n * (sizeof(uint32_t) * 2 + sizeof(bb_sym_t) + 3 * sizeof(bb_pair_t)) + n;
  void *mem = mote_tk_alloc(a, bytes);
  if (!mem) return NULL;
  w->sym = mem;
  w->heap = (bb_pair_t *)(w->sym + n);
  w->cp = (uint32_t *)(w->heap + 3 * n);
  w->bo = w->cp + n;
  w->cl = (uint8_t *)(w->bo + n);
  return mem;
}

/* Length of the special token at text[i], or 0 (its id in *id). */
static uint32_t bb_special_at(const mote_bbpe_t *t, const uint8_t *text, size_t len,
                              size_t i, int32_t *id) {
  if (!t->spec_first[text[i]]) return 0;
  for (uint32_t k = 0; k < t->n_spec_lens; ++k) {
    uint32_t L = t->spec_lens[k];
    if (L > len - i) continue;
    int32_t found = bb_find(t, (const char *)text + i, L, 1);
    if (found >= 0) {
      *id = found;
      return L;
    }
  }
  return 0;
}

mote_status_t mote_bbpe_encode(const mote_bbpe_t *t, const char *text, size_t len,
                               int add_bos, int32_t *out_ids, size_t capacity,
                               size_t *out_count) {
  MOTE_CHECK_OR_RETURN(t && out_count && (text || len == 0) && (out_ids || capacity == 0),
                       MOTE_ERR_INVALID_ARGUMENT, "tokenize: NULL argument");
  MOTE_CHECK_OR_RETURN(len <= BB_MAX_TEXT, MOTE_ERR_INVALID_ARGUMENT,
                       "tokenize: text of %zu bytes exceeds the 256 MiB limit", len);
  *out_count = 0;
  bb_work_t w;
  memset(&w, 0, sizeof(w));
  w.t = t;
  w.out = out_ids;
  w.cap = capacity;
  int bos = add_bos < 0 ? t->cfg.add_bos : add_bos != 0;
  if (bos && t->cfg.bos_id >= 0) bb_emit(&w, t->cfg.bos_id);
  void *mem = bb_scratch(&t->alloc, &w, len);
  MOTE_CHECK_OR_RETURN(mem, MOTE_ERR_OUT_OF_MEMORY, "tokenize: out of memory");
  const uint8_t *s = (const uint8_t *)text;
  size_t seg = 0;
  for (size_t i = 0; i < len;) {
    int32_t id = -1;
    uint32_t L = t->n_spec_lens ? bb_special_at(t, s, len, i, &id) : 0;
    if (L == 0) {
      ++i;
      continue;
    }
    if (seg < i) bb_split(&w, t->cfg.pre_tokenizer, s + seg, i - seg, bb_merge_sink, NULL);
    bb_emit(&w, id);
    i += L;
    seg = i;
  }
  if (seg < len) bb_split(&w, t->cfg.pre_tokenizer, s + seg, len - seg, bb_merge_sink, NULL);
  mote_tk_free(&t->alloc, mem);
  if (t->cfg.add_eos && t->cfg.eos_id >= 0) bb_emit(&w, t->cfg.eos_id);
  *out_count = w.count;
  MOTE_CHECK_OR_RETURN(w.count <= capacity, MOTE_ERR_BUFFER_TOO_SMALL,
                       "tokenize: %zu ids do not fit in %zu", w.count, capacity);
  return MOTE_OK;
}

typedef struct bb_ends {
  const uint8_t *base;
  uint32_t *ends;
  size_t cap, n;
} bb_ends_t;

static void bb_ends_sink(bb_work_t *w, const uint8_t *p, uint32_t len, void *user) {
  (void)w;
  bb_ends_t *e = user;
  if (e->n < e->cap) e->ends[e->n] = (uint32_t)(p + len - e->base);
  e->n++;
}

mote_status_t mote_bbpe_pretokenize(uint32_t pre, const mote_allocator_t *alloc,
                                    const char *text, size_t len, uint32_t *ends,
                                    size_t cap, size_t *n_out) {
  MOTE_CHECK_OR_RETURN(n_out && (text || len == 0) && (ends || cap == 0) &&
                           (pre == MOTE_PRE_LLAMA3 || pre == MOTE_PRE_GPT2),
                       MOTE_ERR_INVALID_ARGUMENT, "pretokenize: bad argument");
  MOTE_CHECK_OR_RETURN(len <= BB_MAX_TEXT, MOTE_ERR_INVALID_ARGUMENT,
                       "pretokenize: text too long");
  mote_allocator_t a = {0};
  if (alloc && alloc->alloc) a = *alloc;
  bb_work_t w;
  memset(&w, 0, sizeof(w));
  void *mem = bb_scratch(&a, &w, len);
  MOTE_CHECK_OR_RETURN(mem, MOTE_ERR_OUT_OF_MEMORY, "pretokenize: out of memory");
  bb_ends_t e = {(const uint8_t *)text, ends, cap, 0};
  bb_split(&w, pre, (const uint8_t *)text, len, bb_ends_sink, &e);
  mote_tk_free(&a, mem);
  *n_out = e.n;
  MOTE_CHECK_OR_RETURN(e.n <= cap, MOTE_ERR_BUFFER_TOO_SMALL,
                       "pretokenize: %zu pieces do not fit in %zu", e.n, cap);
  return MOTE_OK;
}

/* ---- decode ------------------------------------------------------------ */

mote_status_t mote_bbpe_token_text(const mote_bbpe_t *t, int32_t id,
                                   const char **out_text, size_t *out_len) {
  MOTE_CHECK_OR_RETURN(t && out_text && out_len, MOTE_ERR_INVALID_ARGUMENT,
                       "token_text: NULL argument");
  MOTE_CHECK_OR_RETURN(id >= 0 && (uint32_t)id < t->n, MOTE_ERR_OUT_OF_RANGE,
                       "token_text: id %d outside vocabulary of %u", id, t->n);
  *out_text = t->text + t->off[id];
  *out_len = t->types[id] == MOTE_PIECE_CONTROL ? 0 : t->off[id + 1] - t->off[id];
  return MOTE_OK;
}

mote_status_t mote_bbpe_decode(const mote_bbpe_t *t, const int32_t *ids, size_t count,
                               char *out, size_t capacity, size_t *out_len) {
  MOTE_CHECK_OR_RETURN(t && out_len && (ids || count == 0) && (out || capacity == 0),
                       MOTE_ERR_INVALID_ARGUMENT, "detokenize: NULL argument");
  *out_len = 0;
  size_t o = 0;
  for (size_t i = 0; i < count; ++i) {
    MOTE_CHECK_OR_RETURN(ids[i] >= 0 && (uint32_t)ids[i] < t->n, MOTE_ERR_OUT_OF_RANGE,
                         "detokenize: id %d at %zu outside vocabulary of %u", ids[i], i,
                         t->n);
    if (t->types[ids[i]] == MOTE_PIECE_CONTROL) continue;
    size_t n = t->off[ids[i] + 1] - t->off[ids[i]];
    if (o < capacity) {
      size_t k = capacity - o < n ? capacity - o : n;
      memcpy(out + o, t->text + t->off[ids[i]], k);
    }
    o += n;
  }
  *out_len = o;
  if (o < capacity) out[o] = '\0';
  MOTE_CHECK_OR_RETURN(o <= capacity, MOTE_ERR_BUFFER_TOO_SMALL,
                       "detokenize: %zu bytes do not fit in %zu", o, capacity);
  return MOTE_OK;
}
