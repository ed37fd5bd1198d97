/* buckets.c: bucketed bundles (motec --buckets, docs/buckets.md). The bundle
 * holds static graphs per token bucket T and context bucket C; a prompt is
 * cut into chunks of bucket sizes by a DP over the remaining length that
 * minimises the summed per-call cost, where only the last chunk may be
 * padded. A chunk of T rows at position p runs on the smallest context
 * bucket C >= p + T: every C addresses a prefix of the one session cache,
 * so moving to a larger C needs no copy. Nothing here allocates. */
#include <math.h>
#include <string.h>

#include "session.h"
#include "status.h"

#define PICK_UNPADDED 0x80u /* run only the real rows (no padding fits) */

static int str_is(mote_str_t s, const char *lit) {
  size_t n = strlen(lit);
  return s.n == n && memcmp(s.p, lit, n) == 0;
}

/* Inserts v into the increasing list l[0..*n); returns its index, or -1 when
 * the list is full. */
static int insert_sorted(uint32_t *l, uint32_t *n, uint32_t v) {
  uint32_t i = 0;
  while (i < *n && l[i] < v) ++i;
  if (i < *n && l[i] == v) return (int)i;
  if (*n == MOTE_MAX_BUCKETS) return -1;
  memmove(l + i + 1, l + i, (*n - i) * sizeof *l);
  l[i] = v;
  ++*n;
  return (int)i;
}

static int index_of(const uint32_t *l, uint32_t n, uint32_t v) {
  for (uint32_t i = 0; i < n; ++i)
    if (l[i] == v) return (int)i;
  return -1;
}

mote_status_t mote_buckets_init(mote_model_t *m) {
  mote_bucket_table_t *bt = &m->buckets;
  memset(bt, 0, sizeof *bt);
  const char *label = m->b.label;
  int any = 0;
  for (uint32_t gi = 0; gi < m->b.n_graphs; ++gi) {
    const mote_graph_t *g = &m->b.graphs[gi];
    if (!g->bucket) continue;
    any = 1;
    int prefill = str_is(g->kind, "prefill"), decode = str_is(g->kind, "decode");
    if (!prefill && !decode)
      return mote_set_error(MOTE_ERR_INVALID_BUNDLE,
                            "%s: graphs[%u].bucket: kind '%.*s' is neither prefill nor decode",
                            label, gi, (int)g->kind.n, g->kind.p);
    if (decode && g->max_tokens != 1)
      return mote_set_error(MOTE_ERR_INVALID_BUNDLE,
                            "%s: graphs[%u].max_tokens: %u for a decode bucket (must be 1)",
                            label, gi, g->max_tokens);
    if ((prefill && insert_sorted(bt->t, &bt->n_t, g->max_tokens) < 0) ||
        insert_sorted(bt->c, &bt->n_c, g->context) < 0)
      return mote_set_error(MOTE_ERR_INVALID_BUNDLE,
                            "%s: graphs[%u].bucket: more than %d token or context buckets",
                            label, gi, MOTE_MAX_BUCKETS);
  }
  if (!any) return MOTE_OK;
  if (bt->n_t == 0)
    return mote_set_error(MOTE_ERR_INVALID_BUNDLE, "%s: graphs: bucket graphs but no prefill bucket",
                          label);
  for (uint32_t gi = 0; gi < m->b.n_graphs; ++gi) {
    const mote_graph_t *g = &m->b.graphs[gi];
    if (!g->bucket) continue;
    int ci = index_of(bt->c, bt->n_c, g->context);
    const mote_graph_t **slot = str_is(g->kind, "decode")
                                    ? &bt->decode[ci]
                                    : &bt->prefill[index_of(bt->t, bt->n_t, g->max_tokens)][ci];
    if (*slot)
      return mote_set_error(MOTE_ERR_INVALID_BUNDLE,
                            "%s: graphs[%u].bucket: second %.*s graph for T=%u C=%u", label, gi,
                            (int)g->kind.n, g->kind.p, g->max_tokens, g->context);
    *slot = g;
  }
  for (uint32_t ci = 0; ci < bt->n_c; ++ci) {
    if (!bt->decode[ci])
      return mote_set_error(MOTE_ERR_INVALID_BUNDLE,
                            "%s: graphs: no decode bucket graph for context %u", label,
                            bt->c[ci]);
    for (uint32_t ti = 0; ti < bt->n_t; ++ti)
      if (!bt->prefill[ti][ci])
        return mote_set_error(MOTE_ERR_INVALID_BUNDLE,
                              "%s: graphs: no prefill bucket graph for T=%u context %u", label,
                              bt->t[ti], bt->c[ci]);
  }
  for (uint32_t ti = 0; ti < bt->n_t; ++ti) {
    double c = bt->prefill[ti][0]->cost_estimate_s, l = bt->prefill[ti][0]->logits_estimate_s;
    /* No estimate in the bundle: cost proportional to rows plus a call. */
    int ok = isfinite(c) && c > 0;
    bt->cost[ti] = ok ? c : 1e-5 + 1e-6 * bt->t[ti];
    /* A chunk before the last skips the logits: that share of its cost. */
    bt->mid_share[ti] = ok && isfinite(l) && l > 0 && l < c ? 1.0 - l / c : 1.0;
  }
  return MOTE_OK;
}

mote_status_t mote_model_get_buckets(const mote_model_t *m, mote_buckets_info_t *out) {
  MOTE_CHECK_OR_RETURN(m && out, MOTE_ERR_INVALID_ARGUMENT, "get_buckets: NULL argument");
  memset(out, 0, sizeof *out);
  const mote_bucket_table_t *bt = &m->buckets;
  out->n_tokens = bt->n_t;
  out->n_contexts = bt->n_c;
  for (uint32_t i = 0; i < bt->n_t; ++i) {
    out->tokens[i] = bt->t[i];
    out->cost_estimate_s[i] = bt->cost[i];
    out->mid_share[i] = bt->mid_share[i];
  }
  for (uint32_t i = 0; i < bt->n_c; ++i) out->contexts[i] = bt->c[i];
  return MOTE_OK;
}

mote_status_t mote_session_set_prefill_policy(mote_session_t *s, int policy) {
  MOTE_CHECK_OR_RETURN(s, MOTE_ERR_INVALID_ARGUMENT, "set_prefill_policy: NULL session");
  MOTE_CHECK_OR_RETURN(policy >= MOTE_PREFILL_BUCKETS && policy <= MOTE_PREFILL_PAD_LARGEST,
                       MOTE_ERR_INVALID_ARGUMENT, "set_prefill_policy: unknown policy %d",
                       policy);
  s->prefill_policy = policy;
  return MOTE_OK;
}

mote_status_t mote_session_set_bucket_cost(mote_session_t *s, uint32_t tokens, double seconds) {
  MOTE_CHECK_OR_RETURN(s, MOTE_ERR_INVALID_ARGUMENT, "set_bucket_cost: NULL session");
  MOTE_CHECK_OR_RETURN(isfinite(seconds) && seconds > 0, MOTE_ERR_INVALID_ARGUMENT,
                       "set_bucket_cost: cost %g must be positive and finite", seconds);
  int i = index_of(s->m->buckets.t, s->m->buckets.n_t, tokens);
  MOTE_CHECK_OR_RETURN(i >= 0, MOTE_ERR_INVALID_ARGUMENT,
                       "set_bucket_cost: the bundle has no token bucket %u", tokens);
  s->bucket_cost[i] = seconds;
  s->bucket_cost_mid[i] = seconds * s->m->buckets.mid_share[i];
  return MOTE_OK;
}

/* Fills s->plan_cost/plan_pick for L tokens from s->pos. plan_cost[r] is the
 * least cost of feeding the last r tokens (the first of them at position
 * p = pos + L - r): a full chunk of T < r (without logits: mid cost) plus the
 * rest, or the prompt's last chunk, T = r, or T > r padded to T rows, which
 * is allowed only while p + T fits the context. */
static void plan(mote_session_t *s, size_t L) {
  const mote_bucket_table_t *bt = &s->m->buckets;
  double *best = s->plan_cost;
  uint8_t *pick = s->plan_pick;
  uint32_t first = s->prefill_policy == MOTE_PREFILL_PAD_LARGEST ? bt->n_t - 1 : 0;
  best[0] = 0.0;
  for (size_t r = 1; r <= L; ++r) {
    size_t p = s->pos + (L - r);
    double b = INFINITY;
    uint8_t k = (uint8_t)(PICK_UNPADDED | first);
    /* Largest first: on equal cost, fewer calls win. */
    for (uint32_t i = bt->n_t; i-- > first;) {
      uint32_t T = bt->t[i];
      double c;
      if (T < r) c = s->bucket_cost_mid[i] + best[r - T];
      else if (T == r) c = s->bucket_cost[i];
      else if (p + T <= s->context) c = s->bucket_cost[i];
      else continue;
      if (c < b) {
        b = c;
        k = (uint8_t)i;
      }
    }
    /* Nothing fits (r below the smallest bucket at the end of the context):
     * run the smallest allowed bucket on the r real rows only. */
    if (b == INFINITY) b = s->bucket_cost[first];
    best[r] = b;
    pick[r] = k;
  }
}

/* Rows the chunk at remaining length r runs, and its real tokens. */
static void chunk_at(const mote_session_t *s, size_t r, uint32_t *ti, uint32_t *n,
                     uint32_t *rows) {
  uint8_t k = s->plan_pick[r];
  *ti = k & 0x7fu;
  uint32_t T = s->m->buckets.t[*ti];
  *n = r < T ? (uint32_t)r : T;
  *rows = (k & PICK_UNPADDED) ? *n : T;
}

static int use_buckets(const mote_session_t *s) {
  return s->m->buckets.n_t && s->prefill_policy != MOTE_PREFILL_DYNAMIC;
}

mote_status_t mote_session_prefill_plan(mote_session_t *s, size_t count, uint32_t *out_rows,
                                        size_t capacity, size_t *out_n) {
  MOTE_CHECK_OR_RETURN(s && out_n && (out_rows || capacity == 0), MOTE_ERR_INVALID_ARGUMENT,
                       "prefill_plan: NULL argument");
  MOTE_CHECK_OR_RETURN(s->pos <= s->context && count <= s->context - s->pos,
                       MOTE_ERR_OUT_OF_RANGE,
                       "prefill_plan: %zu tokens at position %u exceed context %u", count,
                       s->pos, s->context);
  size_t k = 0;
  if (!use_buckets(s)) {
    const mote_graph_t *g = s->m->prefill ? s->m->prefill : s->m->decode;
    for (size_t done = 0; done < count; ++k) {
      size_t left = count - done;
      uint32_t n = left < g->max_tokens ? (uint32_t)left : g->max_tokens;
      if (k < capacity) out_rows[k] = n;
      done += n;
    }
  } else {
    plan(s, count);
    for (size_t r = count; r > 0; ++k) {
      uint32_t ti, n, rows;
      chunk_at(s, r, &ti, &n, &rows);
      if (k < capacity) out_rows[k] = rows;
      r -= n;
    }
  }
  *out_n = k;
  return k <= capacity ? MOTE_OK
                       : mote_set_error(MOTE_ERR_BUFFER_TOO_SMALL,
                                        "prefill_plan: %zu chunks, room for %zu", k, capacity);
}

/* Smallest context bucket holding positions up to end - 1, or -1. */
static int context_bucket(const mote_bucket_table_t *bt, size_t end) {
  for (uint32_t ci = 0; ci < bt->n_c; ++ci)
    if (end <= bt->c[ci]) return (int)ci;
  return -1;
}

mote_status_t mote_buckets_prefill(mote_session_t *s, const int32_t *tokens, size_t count,
                                   const float **out_logits) {
  const mote_bucket_table_t *bt = &s->m->buckets;
  plan(s, count);
  size_t done = 0;
  for (size_t r = count; r > 0;) {
    uint32_t ti, n, rows;
    chunk_at(s, r, &ti, &n, &rows);
    int ci = context_bucket(bt, (size_t)s->pos + rows);
    MOTE_CHECK_OR_RETURN(ci >= 0, MOTE_ERR_OUT_OF_RANGE,
                         "prefill: position %u + %u rows beyond the largest context bucket %u",
                         s->pos, rows, bt->c[bt->n_c - 1]);
    /* Only the last chunk's logits are returned: earlier chunks skip the
     * classifier (on an NPU: a variant of the graph without that output). */
    MOTE_RETURN_IF_ERROR(mote_exec_graph_padded(s, bt->prefill[ti][ci], tokens + done, n, rows,
                                                r == n ? out_logits : NULL));
    s->pos += n;
    done += n;
    r -= n;
  }
  return MOTE_OK;
}

const mote_graph_t *mote_buckets_decode_graph(const mote_session_t *s) {
  if (!use_buckets(s)) return NULL;
  int ci = context_bucket(&s->m->buckets, (size_t)s->pos + 1);
  return ci < 0 ? NULL : s->m->buckets.decode[ci];
}
