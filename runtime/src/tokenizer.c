/* tokenizer.c: SentencePiece-exact BPE encode/decode over a piece hash table. */
#include "tokenizer.h"

#include <stdlib.h>
#include <string.h>

#include "minheap.h"
#include "status.h"
#include "tokenizer_bbpe.h"

/* "▁" (U+2581): SentencePiece's visible space. */
static const char kSpace[3] = {'\xe2', '\x96', '\x81'};
/* SentencePiece's default unk_surface: " ⁇ ". */
static const char kUnkSurface[] = " \xe2\x81\x87 ";
static const char kReplacement[3] = {'\xef', '\xbf', '\xbd'};

/* Longest text encode accepts: keeps every index inside int32. */
#define TK_MAX_TEXT ((size_t)1 << 28)

struct mote_tokenizer {
  mote_allocator_t alloc; /* alloc == NULL: malloc/free */
  mote_tok_config_t cfg;
  uint32_t n;
  char *text;        /* all pieces, concatenated */
  uint32_t *off;     /* (n+1) piece i is text[off[i], off[i+1]) */
  float *scores;     /* (n) */
  uint8_t *types;    /* (n) MOTE_PIECE_* */
  uint8_t *byte_val; /* (n) value of BYTE pieces */
  char *disp;        /* streaming text of every piece, concatenated */
  uint32_t *disp_off;/* (n+1) */
  int32_t *table;    /* (mask+1) open addressing, -1 empty */
  uint32_t mask;
  int32_t *user_ids; /* USER_DEFINED pieces, matched before splitting */
  uint32_t n_user;
  uint32_t max_len;  /* longest piece in bytes: bounds pair lookups */
  int has_unused;
  char *unk_surface; /* NULL: kUnkSurface */
  size_t unk_len;
  int32_t byte_id[256];
  mote_bbpe_t *bb;   /* byte-level BPE: everything else above is unused */
};

/* ---- memory ------------------------------------------------------------ */

void *mote_tk_alloc(const mote_allocator_t *a, size_t size) {
  if (size == 0) size = 1;
  return a->alloc ? a->alloc(a->user, size, 16) : malloc(size);
}

void mote_tk_free(const mote_allocator_t *a, void *p) {
  if (!p) return;
  if (a->alloc) {
    if (a->free) a->free(a->user, p);
  } else {
    free(p);
  }
}

void mote_tokenizer_destroy(mote_tokenizer_t *t) {
  if (!t) return;
  mote_allocator_t a = t->alloc;
  mote_bbpe_destroy(t->bb);
  void *parts[] = {t->text, t->off, t->scores, t->types, t->byte_val,
                   t->disp, t->disp_off, t->table, t->user_ids,
                   t->unk_surface};
  for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); ++i)
    mote_tk_free(&a, parts[i]);
  mote_tk_free(&a, t);
}

uint32_t mote_tokenizer_size(const mote_tokenizer_t *t) {
  return !t ? 0 : t->bb ? mote_bbpe_size(t->bb) : t->n;
}

mote_status_t mote_tokenizer_create_byte_bpe(const mote_bbpe_config_t *cfg, uint32_t n,
                                             const char *const *ptrs,
                                             const uint32_t *lens, const uint32_t *ranks,
                                             const uint8_t *types,
                                             const mote_allocator_t *alloc,
                                             mote_tokenizer_t **out) {
  MOTE_CHECK_OR_RETURN(out, MOTE_ERR_INVALID_ARGUMENT, "tokenizer: out is NULL");
  *out = NULL;
  mote_allocator_t a = {0};
  if (alloc && alloc->alloc) a = *alloc;
  mote_tokenizer_t *t = mote_tk_alloc(&a, sizeof(*t));
  MOTE_CHECK_OR_RETURN(t, MOTE_ERR_OUT_OF_MEMORY, "tokenizer: out of memory");
  memset(t, 0, sizeof(*t));
  t->alloc = a;
  mote_status_t st = mote_bbpe_create(cfg, n, ptrs, lens, ranks, types, alloc, &t->bb);
  if (st != MOTE_OK) {
    mote_tk_free(&a, t);
    return st;
  }
  t->n = n;
  *out = t;
  return MOTE_OK;
}

mote_status_t mote_tokenizer_set_unk_surface(mote_tokenizer_t *t, const char *s,
                                             size_t len) {
  MOTE_CHECK_OR_RETURN(t && (s || len == 0) && len <= 4096, MOTE_ERR_INVALID_ARGUMENT,
                       "tokenizer: bad unk surface");
  if (t->bb) return MOTE_OK; /* byte-level BPE has no unknown token */
  char *copy = mote_tk_alloc(&t->alloc, len);
  MOTE_CHECK_OR_RETURN(copy, MOTE_ERR_OUT_OF_MEMORY, "tokenizer: out of memory");
  if (len) memcpy(copy, s, len);
  mote_tk_free(&t->alloc, t->unk_surface);
  t->unk_surface = copy;
  t->unk_len = len;
  return MOTE_OK;
}

static void tk_unk_text(const mote_tokenizer_t *t, const char **p, size_t *len) {
  *p = t->unk_surface ? t->unk_surface : kUnkSurface;
  *len = t->unk_surface ? t->unk_len : sizeof(kUnkSurface) - 1;
}

/* ---- piece table ------------------------------------------------------- */

static uint32_t tk_hash(const char *s, size_t len) {
  uint32_t h = 2166136261u; /* FNV-1a: short keys, good spread */
  for (size_t i = 0; i < len; ++i) h = (h ^ (uint8_t)s[i]) * 16777619u;
  return h;
}

/* Id of the piece with exactly these bytes, or -1. */
static int32_t tk_lookup(const mote_tokenizer_t *t, const char *s, size_t len) {
  if (len > t->max_len) return -1;
  for (uint32_t h = tk_hash(s, len) & t->mask;; h = (h + 1) & t->mask) {
    int32_t id = t->table[h];
    if (id < 0) return -1;
    uint32_t plen = t->off[id + 1] - t->off[id];
    if (plen == len && memcmp(t->text + t->off[id], s, len) == 0) return id;
  }
}

/* "<0xAB>" -> 0xAB; -1 when the piece is not in that form. */
static int tk_parse_byte(const char *s, size_t len) {
  if (len != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>') return -1;
  int v = 0;
  for (int i = 3; i < 5; ++i) {
    char c = s[i];
    int d = c >= '0' && c <= '9' ? c - '0'
          : c >= 'A' && c <= 'F' ? c - 'A' + 10
          : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

/* Streaming text of piece i: "▁" -> ' ', byte pieces -> their byte. */
static size_t tk_display(const mote_tokenizer_t *t, uint32_t i, char *out) {
  const char *p = t->text + t->off[i];
  size_t len = t->off[i + 1] - t->off[i], o = 0;
  if (t->types[i] == MOTE_PIECE_CONTROL) return 0;
  if (t->types[i] == MOTE_PIECE_BYTE) {
    out[0] = (char)t->byte_val[i];
    return 1;
  }
  if (t->types[i] == MOTE_PIECE_UNKNOWN) {
    memcpy(out, kUnkSurface, sizeof(kUnkSurface) - 1);
    return sizeof(kUnkSurface) - 1;
  }
  for (size_t k = 0; k < len;) {
    if (len - k >= 3 && memcmp(p + k, kSpace, 3) == 0) {
      out[o++] = ' ';
      k += 3;
    } else {
      out[o++] = p[k++];
    }
  }
  return o;
}

static mote_status_t tk_check_args(const mote_tok_config_t *cfg, uint32_t n,
                                   const char *const *ptrs,
                                   const uint32_t *lens, const float *scores,
                                   const uint8_t *types, size_t *total) {
  MOTE_CHECK_OR_RETURN(cfg && ptrs && lens && scores && types, MOTE_ERR_INVALID_ARGUMENT,
                       "tokenizer: NULL argument");
  /* n < 2^28 keeps the display offsets (pieces + 5 bytes each) in uint32. */
  MOTE_CHECK_OR_RETURN(n > 0 && n < (1u << 28), MOTE_ERR_INVALID_ARGUMENT,
                       "tokenizer: bad piece count %u", n);
  const int32_t ids[4] = {cfg->bos_id, cfg->eos_id, cfg->unk_id, cfg->pad_id};
  for (int k = 0; k < 4; ++k)
    MOTE_CHECK_OR_RETURN(ids[k] >= -1 && ids[k] < (int64_t)n, MOTE_ERR_INVALID_ARGUMENT,
                         "tokenizer: special id %d outside vocabulary of %u",
                         ids[k], n);
  /* encode emits unk_id for text no piece covers: without one it would
   * hand out id -1 (SentencePiece and motec require an unk piece too). */
  MOTE_CHECK_OR_RETURN(cfg->unk_id >= 0, MOTE_ERR_INVALID_ARGUMENT,
                       "tokenizer: no unk_id");
  size_t sum = 0;
  for (uint32_t i = 0; i < n; ++i) {
    MOTE_CHECK_OR_RETURN(types[i] <= MOTE_PIECE_UNUSED, MOTE_ERR_INVALID_ARGUMENT,
                         "tokenizer: piece %u has bad type %u", i, types[i]);
    MOTE_CHECK_OR_RETURN(lens[i] == 0 || ptrs[i], MOTE_ERR_INVALID_ARGUMENT,
                         "tokenizer: piece %u is NULL", i);
    sum += lens[i];
    MOTE_CHECK_OR_RETURN(sum < (1u << 30), MOTE_ERR_INVALID_ARGUMENT,
                         "tokenizer: pieces exceed 1 GiB");
  }
  *total = sum;
  return MOTE_OK;
}

/* Copies pieces, fills the hash table and the per-type side tables. */
static mote_status_t tk_fill(mote_tokenizer_t *t, const char *const *ptrs,
                             const uint32_t *lens, const uint8_t *types) {
  uint32_t o = 0;
  for (uint32_t i = 0; i < t->n; ++i) {
    t->off[i] = o;
    if (lens[i]) memcpy(t->text + o, ptrs[i], lens[i]);
    o += lens[i];
    if (lens[i] > t->max_len) t->max_len = lens[i];
  }
  t->off[t->n] = o;
  for (uint32_t i = 0; i < t->n; ++i) {
    const char *p = t->text + t->off[i];
    uint32_t len = lens[i];
    if (tk_lookup(t, p, len) < 0) { /* first of duplicates wins */
      uint32_t h = tk_hash(p, len) & t->mask;
      while (t->table[h] >= 0) h = (h + 1) & t->mask;
      t->table[h] = (int32_t)i;
    }
    if (types[i] == MOTE_PIECE_BYTE) {
      int v = tk_parse_byte(p, len);
      MOTE_CHECK_OR_RETURN(v >= 0, MOTE_ERR_INVALID_ARGUMENT,
                           "tokenizer: byte piece %u is not <0xXX>", i);
      t->byte_val[i] = (uint8_t)v;
      if (t->byte_id[v] < 0) t->byte_id[v] = (int32_t)i;
    }
    if (types[i] == MOTE_PIECE_USER_DEFINED && len > 0)
      t->user_ids[t->n_user++] = (int32_t)i;
    if (types[i] == MOTE_PIECE_UNUSED) t->has_unused = 1;
  }
  uint32_t d = 0;
  for (uint32_t i = 0; i < t->n; ++i) {
    t->disp_off[i] = d;
    d += (uint32_t)tk_display(t, i, t->disp + d);
  }
  t->disp_off[t->n] = d;
  return MOTE_OK;
}

mote_status_t mote_tokenizer_create(const mote_tok_config_t *cfg, uint32_t n,
                                    const char *const *ptrs,
                                    const uint32_t *lens, const float *scores,
                                    const uint8_t *types,
                                    const mote_allocator_t *alloc,
                                    mote_tokenizer_t **out) {
  MOTE_CHECK_OR_RETURN(out, MOTE_ERR_INVALID_ARGUMENT, "tokenizer: out is NULL");
  *out = NULL;
  size_t total = 0;
  MOTE_RETURN_IF_ERROR(tk_check_args(cfg, n, ptrs, lens, scores, types, &total));
  mote_allocator_t a = {0};
  if (alloc && alloc->alloc) a = *alloc;
  mote_tokenizer_t *t = mote_tk_alloc(&a, sizeof(*t));
  MOTE_CHECK_OR_RETURN(t, MOTE_ERR_OUT_OF_MEMORY, "tokenizer: out of memory");
  memset(t, 0, sizeof(*t));
  t->alloc = a;
  t->cfg = *cfg;
  t->n = n;
  uint32_t slots = 16;
  while (slots < 2 * n) slots *= 2;
  t->mask = slots - 1;
  /* Display text is never longer than the piece (or the unk surface). */
  size_t disp_bytes = total + (size_t)n * sizeof(kUnkSurface);
  t->text = mote_tk_alloc(&a, total);
  t->off = mote_tk_alloc(&a, ((size_t)n + 1) * sizeof(uint32_t));
  t->scores = mote_tk_alloc(&a, (size_t)n * sizeof(float));
  t->types = mote_tk_alloc(&a, n);
  t->byte_val = mote_tk_alloc(&a, n);
  t->disp = mote_tk_alloc(&a, disp_bytes);
  t->disp_off = mote_tk_alloc(&a, ((size_t)n + 1) * sizeof(uint32_t));
  t->table = mote_tk_alloc(&a, (size_t)slots * sizeof(int32_t));
  t->user_ids = mote_tk_alloc(&a, (size_t)n * sizeof(int32_t));
  if (!t->text || !t->off || !t->scores || !t->types || !t->byte_val ||
      !t->disp || !t->disp_off || !t->table || !t->user_ids) {
    mote_tokenizer_destroy(t);
    return mote_set_error(MOTE_ERR_OUT_OF_MEMORY, "tokenizer: out of memory");
  }
  memcpy(t->scores, scores, (size_t)n * sizeof(float));
  memcpy(t->types, types, n);
  memset(t->byte_val, 0, n);
  memset(t->table, 0xff, (size_t)slots * sizeof(int32_t));
  for (int b = 0; b < 256; ++b) t->byte_id[b] = -1;
  mote_status_t st = tk_fill(t, ptrs, lens, types);
  if (st != MOTE_OK) {
    mote_tokenizer_destroy(t);
    return st;
  }
  *out = t;
  return MOTE_OK;
}

/* ---- normalization ----------------------------------------------------- */

/* Length of the valid UTF-8 character at s, or 0 when malformed (overlong,
 * surrogate, > U+10FFFF, truncated), as SentencePiece's DecodeUTF8 judges. */
static size_t tk_utf8_len(const uint8_t *s, size_t n) {
  uint32_t c = s[0];
  if (c < 0x80) return 1;
#define TK_TRAIL(b) (((b) & 0xC0) == 0x80)
  if (n >= 2 && (c & 0xE0) == 0xC0) {
    uint32_t cp = ((c & 0x1F) << 6) | (s[1] & 0x3F);
    return TK_TRAIL(s[1]) && cp >= 0x80 ? 2 : 0;
  }
  if (n >= 3 && (c & 0xF0) == 0xE0) {
    uint32_t cp = ((c & 0x0F) << 12) | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3F);
    return TK_TRAIL(s[1]) && TK_TRAIL(s[2]) && cp >= 0x800 &&
                   (cp < 0xD800 || cp > 0xDFFF) ? 3 : 0;
  }
  if (n >= 4 && (c & 0xF8) == 0xF0) {
    uint32_t cp = ((c & 0x07) << 18) | ((s[1] & 0x3Fu) << 12) |
                  ((s[2] & 0x3Fu) << 6) | (s[3] & 0x3F);
    return TK_TRAIL(s[1]) && TK_TRAIL(s[2]) && TK_TRAIL(s[3]) &&
                   cp >= 0x10000 && cp <= 0x10FFFF ? 4 : 0;
  }
#undef TK_TRAIL
  return 0;
}

static size_t tk_put_space(const mote_tokenizer_t *t, uint8_t *out, size_t o) {
  if (!t->cfg.escape_whitespaces) {
    out[o] = ' ';
    return o + 1;
  }
  memcpy(out + o, kSpace, 3);
  return o + 3;
}

/* SentencePiece's identity normalizer: malformed bytes -> U+FFFD each,
 * optional whitespace squeezing, dummy prefix, ' ' -> "▁". `out` holds
 * 3 * len + 3 bytes. Empty (or all-space when squeezing) input -> empty. */
static size_t tk_normalize(const mote_tokenizer_t *t, const uint8_t *in,
                           size_t len, uint8_t *out) {
  const int squeeze = t->cfg.remove_extra_whitespaces;
  size_t i = 0, o = 0;
  if (squeeze)
    while (i < len && in[i] == ' ') ++i;
  if (i == len) return 0;
  if (t->cfg.add_dummy_prefix) o = tk_put_space(t, out, o);
  int prev_space = squeeze;
  while (i < len) {
    size_t n = tk_utf8_len(in + i, len - i);
    if (n == 0) {
      memcpy(out + o, kReplacement, 3);
      o += 3;
      n = 1;
      prev_space = 0;
    } else if (in[i] == ' ') {
      if (!prev_space) o = tk_put_space(t, out, o);
      prev_space = 1;
    } else {
      memcpy(out + o, in + i, n);
      o += n;
      prev_space = 0;
    }
    i += n;
    if (!squeeze) prev_space = 0;
  }
  if (squeeze) {
    size_t sl = t->cfg.escape_whitespaces ? 3 : 1;
    const char *sp = t->cfg.escape_whitespaces ? kSpace : " ";
    while (o >= sl && memcmp(out + o - sl, sp, sl) == 0) o -= sl;
  }
  return o;
}

/* ---- BPE --------------------------------------------------------------- */

typedef struct tk_sym {
  uint32_t start, len; /* bytes of the normalized text; len 0 = merged away */
  int32_t prev, next;  /* linked list of live symbols */
  uint32_t freeze;     /* user-defined piece: never merged */
} tk_sym_t;

typedef struct tk_pair {
  float score;
  int32_t left, right;
  uint32_t size; /* bytes of the merged piece: detects stale entries */
} tk_pair_t;

/* How an UNUSED piece was formed, to split it back (SentencePiece's
 * rev_merge: keyed by the piece's text, the last pair pushed wins). */
typedef struct tk_rev {
  uint32_t start, len, left_len;
} tk_rev_t;

typedef struct tk_bpe {
  const mote_tokenizer_t *t;
  const uint8_t *buf;
  tk_sym_t *sym;
  tk_pair_t *heap;
  size_t n_heap;
  tk_rev_t *rev;
  size_t n_rev;
  int32_t *out;
  size_t cap, count;
  int last_unk; /* the last id emitted was an unknown piece of the text */
} tk_bpe_t;

/* Heap order: higher score first, then the leftmost pair. */
static int tk_before(const tk_pair_t *a, const tk_pair_t *b) {
  return a->score > b->score || (a->score == b->score && a->left < b->left);
}

MOTE_HEAP(tk_heap, tk_pair_t, tk_before)

static int tk_mergeable(uint8_t type) {
  return type == MOTE_PIECE_NORMAL || type == MOTE_PIECE_USER_DEFINED ||
         type == MOTE_PIECE_UNUSED;
}

/* Queues the merge of two neighbours when their concatenation is a piece. */
static void tk_try_pair(tk_bpe_t *s, int32_t left, int32_t right) {
  if (left < 0 || right < 0) return;
  const tk_sym_t *l = &s->sym[left], *r = &s->sym[right];
  if (l->freeze || r->freeze) return;
  uint32_t size = l->len + r->len;
  int32_t id = tk_lookup(s->t, (const char *)s->buf + l->start, size);
  if (id < 0 || !tk_mergeable(s->t->types[id])) return;
  tk_pair_t p = {s->t->scores[id], left, right, size};
  tk_heap_push(s->heap, &s->n_heap, p);
  if (s->t->types[id] == MOTE_PIECE_UNUSED) {
    tk_rev_t rv = {l->start, size, l->len};
    s->rev[s->n_rev++] = rv;
  }
}

static void tk_emit(tk_bpe_t *s, int32_t id) {
  if (s->count < s->cap) s->out[s->count] = id;
  s->count++;
  s->last_unk = 0;
}

/* Emits the ids of one final symbol: UNUSED pieces split back into their
 * parts, unknown text as byte pieces (byte_fallback) or unk. */
static void tk_emit_piece(tk_bpe_t *s, uint32_t start, uint32_t len, int depth) {
  const mote_tokenizer_t *t = s->t;
  const char *p = (const char *)s->buf + start;
  int32_t id = tk_lookup(t, p, len);
  if (id >= 0 && t->types[id] == MOTE_PIECE_UNUSED && depth < 64) {
    for (size_t k = s->n_rev; k-- > 0;) {
      const tk_rev_t *rv = &s->rev[k];
      if (rv->len == len && memcmp(s->buf + rv->start, p, len) == 0) {
        tk_emit_piece(s, start, rv->left_len, depth + 1);
        tk_emit_piece(s, start + rv->left_len, len - rv->left_len, depth + 1);
        return;
      }
    }
  }
  if (id < 0) id = t->cfg.unk_id;
  if (id >= 0 && t->types[id] == MOTE_PIECE_UNKNOWN && t->cfg.byte_fallback) {
    for (uint32_t k = 0; k < len; ++k) {
      int32_t b = t->byte_id[(uint8_t)p[k]];
      tk_emit(s, b >= 0 ? b : id);
    }
    return;
  }
  /* Without byte fallback SentencePiece folds a run of unknowns into one. */
  int unk = id >= 0 && t->types[id] == MOTE_PIECE_UNKNOWN;
  if (unk && s->last_unk) return;
  tk_emit(s, id);
  s->last_unk = unk;
}

/* Splits into characters (longest user-defined piece first); returns the
 * symbol count. */
static int32_t tk_split(tk_bpe_t *s, uint32_t len) {
  const mote_tokenizer_t *t = s->t;
  int32_t n = 0;
  for (uint32_t i = 0; i < len;) {
    uint32_t best = 0;
    for (uint32_t u = 0; u < t->n_user; ++u) {
      int32_t id = t->user_ids[u];
      uint32_t pl = t->off[id + 1] - t->off[id];
      if (pl > best && pl <= len - i &&
          memcmp(s->buf + i, t->text + t->off[id], pl) == 0)
        best = pl;
    }
    uint32_t c = best;
    if (c == 0) {
      static const uint8_t kLen[16] = {1, 1, 1, 1, 1, 1, 1, 1,
                                       1, 1, 1, 1, 2, 2, 3, 4};
      c = kLen[s->buf[i] >> 4];
      if (c > len - i) c = len - i;
    }
    tk_sym_t sy = {i, c, n - 1, n + 1, best > 0};
    s->sym[n++] = sy;
    i += c;
  }
  if (n > 0) s->sym[n - 1].next = -1;
  return n;
}

/* BPE over the normalized text: merge the best-scoring adjacent pair until
 * none is a piece, then emit. */
static void tk_bpe(tk_bpe_t *s, int32_t n) {
  for (int32_t i = 1; i < n; ++i) tk_try_pair(s, i - 1, i);
  while (s->n_heap > 0) {
    tk_pair_t p = tk_heap_pop(s->heap, &s->n_heap);
    tk_sym_t *l = &s->sym[p.left], *r = &s->sym[p.right];
    if (l->len == 0 || r->len == 0 || l->len + r->len != p.size) continue;
    l->len += r->len;
    r->len = 0;
    l->next = r->next;
    if (l->next >= 0) s->sym[l->next].prev = p.left;
    tk_try_pair(s, l->prev, p.left);
    tk_try_pair(s, p.left, l->next);
  }
  for (int32_t i = n > 0 ? 0 : -1; i >= 0; i = s->sym[i].next)
    tk_emit_piece(s, s->sym[i].start, s->sym[i].len, 0);
}

mote_status_t mote_tokenizer_encode(const mote_tokenizer_t *t, const char *text,
                                    size_t len, int add_bos, int32_t *out_ids,
                                    size_t capacity, size_t *out_count) {
  MOTE_CHECK_OR_RETURN(t && out_count && (text || len == 0) &&
                           (out_ids || capacity == 0),
                       MOTE_ERR_INVALID_ARGUMENT, "tokenize: NULL argument");
  if (t->bb) return mote_bbpe_encode(t->bb, text, len, add_bos, out_ids, capacity, out_count);
  MOTE_CHECK_OR_RETURN(len <= TK_MAX_TEXT, MOTE_ERR_INVALID_ARGUMENT,
                       "tokenize: text of %zu bytes exceeds the 256 MiB limit", len);
  *out_count = 0;
  tk_bpe_t s;
  memset(&s, 0, sizeof(s));
  s.t = t;
  s.out = out_ids;
  s.cap = capacity;
  int bos = add_bos < 0 ? t->cfg.add_bos : add_bos != 0;
  if (bos && t->cfg.bos_id >= 0) tk_emit(&s, t->cfg.bos_id);
  uint8_t *buf = mote_tk_alloc(&t->alloc, 3 * len + 3);
  MOTE_CHECK_OR_RETURN(buf, MOTE_ERR_OUT_OF_MEMORY, "tokenize: out of memory");
  uint32_t nlen = (uint32_t)tk_normalize(t, (const uint8_t *)text, len, buf);
  s.buf = buf;
  /* Symbols <= bytes; each merge queues <= 2 pairs, so pairs <= 3 * n. */
  size_t n_max = nlen + 1;
  size_t scratch = n_max * sizeof(tk_sym_t) + 3 * n_max * sizeof(tk_pair_t) +
                   (t->has_unused ? 3 * n_max * sizeof(tk_rev_t) : 0);
  void *mem = mote_tk_alloc(&t->alloc, scratch);
  if (!mem) {
    mote_tk_free(&t->alloc, buf);
    return mote_set_error(MOTE_ERR_OUT_OF_MEMORY, "tokenize: out of memory");
  }
  s.sym = mem;
  s.heap = (tk_pair_t *)(s.sym + n_max);
  s.rev = (tk_rev_t *)(s.heap + 3 * n_max);
  tk_bpe(&s, tk_split(&s, nlen));
  mote_tk_free(&t->alloc, mem);
  mote_tk_free(&t->alloc, buf);
  if (t->cfg.add_eos && t->cfg.eos_id >= 0) tk_emit(&s, t->cfg.eos_id);
  *out_count = s.count;
  MOTE_CHECK_OR_RETURN(s.count <= capacity, MOTE_ERR_BUFFER_TOO_SMALL,
                       "tokenize: %zu ids do not fit in %zu", s.count, capacity);
  return MOTE_OK;
}

/* ---- decode ------------------------------------------------------------ */

typedef struct tk_writer {
  char *out;
  size_t cap, len;
} tk_writer_t;

static void tk_write(tk_writer_t *w, const void *p, size_t n) {
  if (w->len < w->cap) {
    size_t k = w->cap - w->len < n ? w->cap - w->len : n;
    memcpy(w->out + w->len, p, k);
  }
  w->len += n;
}

/* Writes a run of byte pieces as UTF-8; each malformed byte -> U+FFFD, as
 * SentencePiece's decoder does. */
static void tk_flush_bytes(const mote_tokenizer_t *t, const int32_t *ids,
                           size_t n, tk_writer_t *w) {
  for (size_t i = 0; i < n;) {
    uint8_t b[4];
    size_t m = n - i < 4 ? n - i : 4;
    for (size_t k = 0; k < m; ++k) b[k] = t->byte_val[ids[i + k]];
    size_t c = tk_utf8_len(b, m);
    if (c == 0) {
      tk_write(w, kReplacement, 3);
      c = 1;
    } else {
      tk_write(w, b, c);
    }
    i += c;
  }
}

/* Text of a normal piece, "▁" -> ' '. At the start of the text the
 * dummy-prefix space is dropped: one "▁", or every leading "▁" when the
 * normalizer squeezes whitespace. Returns the bytes written. */
static size_t tk_write_piece(const mote_tokenizer_t *t, int32_t id, int at_start,
                             tk_writer_t *w) {
  const char *p = t->text + t->off[id];
  size_t len = t->off[id + 1] - t->off[id], k = 0, before = w->len;
  if (at_start && (t->cfg.add_dummy_prefix || t->cfg.remove_extra_whitespaces)) {
    while (len - k >= 3 && memcmp(p + k, kSpace, 3) == 0) {
      k += 3;
      if (!t->cfg.remove_extra_whitespaces) break;
    }
  }
  while (k < len) {
    if (len - k >= 3 && memcmp(p + k, kSpace, 3) == 0) {
      tk_write(w, " ", 1);
      k += 3;
    } else {
      tk_write(w, p + k, 1);
      k++;
    }
  }
  return w->len - before;
}

mote_status_t mote_tokenizer_decode(const mote_tokenizer_t *t, const int32_t *ids,
                                    size_t count, char *out, size_t capacity,
                                    size_t *out_len) {
  MOTE_CHECK_OR_RETURN(t && out_len && (ids || count == 0) && (out || capacity == 0),
                       MOTE_ERR_INVALID_ARGUMENT, "detokenize: NULL argument");
  if (t->bb) return mote_bbpe_decode(t->bb, ids, count, out, capacity, out_len);
  *out_len = 0;
  for (size_t i = 0; i < count; ++i)
    MOTE_CHECK_OR_RETURN(ids[i] >= 0 && (uint32_t)ids[i] < t->n, MOTE_ERR_OUT_OF_RANGE,
                         "detokenize: id %d at %zu outside vocabulary of %u",
                         ids[i], i, t->n);
  tk_writer_t w = {out, capacity, 0};
  /* SentencePiece drops the dummy prefix of the first non-control piece;
   * when squeezing whitespace, of every piece until some text appears. */
  const int squeeze = t->cfg.remove_extra_whitespaces;
  int at_start = 1;
  size_t run = 0;   /* start of the pending run of byte pieces */
  for (size_t i = 0; i <= count; ++i) {
    uint8_t type = i < count ? t->types[ids[i]] : MOTE_PIECE_CONTROL;
    if (i < count && type == MOTE_PIECE_BYTE) {
      at_start = 0;
      continue;
    }
    if (run < i) tk_flush_bytes(t, ids + run, i - run, &w);
    run = i + 1;
    if (i == count || type == MOTE_PIECE_CONTROL) continue;
    size_t wrote;
    if (type == MOTE_PIECE_UNKNOWN) {
      const char *u;
      tk_unk_text(t, &u, &wrote);
      tk_write(&w, u, wrote);
    } else {
      wrote = tk_write_piece(t, ids[i], at_start, &w);
    }
    at_start = squeeze && at_start && wrote == 0;
  }
  *out_len = w.len;
  if (w.len < capacity) out[w.len] = '\0';
  MOTE_CHECK_OR_RETURN(w.len <= capacity, MOTE_ERR_BUFFER_TOO_SMALL,
                       "detokenize: %zu bytes do not fit in %zu", w.len, capacity);
  return MOTE_OK;
}

mote_status_t mote_tokenizer_token_text(const mote_tokenizer_t *t, int32_t prev_id,
                                        int32_t id, const char **out_text,
                                        size_t *out_len) {
  MOTE_CHECK_OR_RETURN(t && out_text && out_len, MOTE_ERR_INVALID_ARGUMENT,
                       "token_text: NULL argument");
  if (t->bb) return mote_bbpe_token_text(t->bb, id, out_text, out_len);
  MOTE_CHECK_OR_RETURN(id >= 0 && (uint32_t)id < t->n, MOTE_ERR_OUT_OF_RANGE,
                       "token_text: id %d outside vocabulary of %u", id, t->n);
  const char *p = t->disp + t->disp_off[id];
  size_t len = t->disp_off[id + 1] - t->disp_off[id];
  if (t->types[id] == MOTE_PIECE_UNKNOWN) tk_unk_text(t, &p, &len);
  /* After BOS the dummy-prefix space is not text (llama2.c does the same). */
  if (prev_id >= 0 && prev_id == t->cfg.bos_id && len > 0 && p[0] == ' ' &&
      (t->cfg.add_dummy_prefix || t->cfg.remove_extra_whitespaces) &&
      t->types[id] != MOTE_PIECE_BYTE && t->types[id] != MOTE_PIECE_UNKNOWN) {
    ++p;
    --len;
  }
  *out_text = p;
  *out_len = len;
  return MOTE_OK;
}
