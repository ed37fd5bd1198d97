/* adapter.c: LoRA adapters (docs/lora.md). An adapter file is parsed and
 * validated like a bundle (bundle.c, bundle_validate.c), then matched to the
 * model it is opened on: base hash, site names, K, N and rank. The result is
 * one table entry per model site (rank 0 where the adapter has none), so a
 * session switches adapters by swapping one pointer. */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "session.h"
#include "status.h"

struct mote_adapter {
  mote_model_t *m;
  mote_bundle_t b;
  mote_pal_mapping_t map;
  mote_lora_bind_t *table; /* (m->b.n_lora) */
  float *bt;               /* every site's B transposed, (r, N) each */
  atomic_uint bound;       /* sessions binding it */
  char label[256];
};

static int str_eq(mote_str_t a, mote_str_t b) {
  return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}

static void adapter_free(mote_adapter_t *ad) {
  const mote_allocator_t *a = ad->m->alloc;
  mote_free(a, ad->table);
  mote_free(a, ad->bt);
  mote_bundle_free(&ad->b);
  mote_pal_unmap_file(&ad->map);
  mote_free(a, ad);
}

#define AFAIL(...) return mote_set_error(MOTE_ERR_INVALID_BUNDLE, __VA_ARGS__)

/* IEEE half -> f32, exact (f16 adapters, motec adapter --dtype f16). */
static float half_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu, u;
  float v;
  if (e == 0) {
    v = (float)m * (1.0f / 16777216.0f);
    memcpy(&u, &v, 4);
    u |= sign;
  } else if (e == 31) {
    u = sign | 0x7f800000u | (m << 13);
  } else {
    u = sign | ((e - 15u + 127u) << 23) | (m << 13);
  }
  memcpy(&v, &u, 4);
  return v;
}

/* Element i of an f32 or f16 tensor. */
static float elem(const mote_tensor_t *t, size_t i) {
  if (t->dtype == MOTE_DT_F32) return ((const float *)t->data)[i];
  const uint8_t *p = (const uint8_t *)t->data + 2 * i;
  return half_to_f32((uint16_t)(p[0] | (p[1] << 8)));
}

/* Per model site with an adapter (src[i] = its lora_sites index): A in the
 * mapping when f32, else widened; B (N, r) transposed to Bt (r, N) so the
 * up-projection kernel streams rows (lora_kernels.h). One owned buffer;
 * sizes were bounded at validation (r <= 256, tensors inside the file). */
static mote_status_t materialize(mote_adapter_t *ad, const uint32_t *src) {
  const mote_bundle_t *b = &ad->b;
  size_t total = 0;
  for (uint32_t i = 0; i < ad->m->b.n_lora; ++i) {
    if (src[i] == UINT32_MAX) continue;
    const mote_lora_site_t *l = &b->lora[src[i]];
    total += (size_t)l->max_rank * l->out_features;
    if (b->tensors[l->a_tensor].dtype != MOTE_DT_F32)
      total += (size_t)l->max_rank * l->in_features;
  }
  ad->bt = mote_alloc(ad->m->alloc, (total ? total : 1) * sizeof(float), 64);
  MOTE_CHECK_OR_RETURN(ad->bt, MOTE_ERR_OUT_OF_MEMORY, "%s: out of memory", ad->label);
  float *p = ad->bt;
  for (uint32_t i = 0; i < ad->m->b.n_lora; ++i) {
    if (src[i] == UINT32_MAX) continue;
    const mote_lora_site_t *l = &b->lora[src[i]];
    const mote_tensor_t *A = &b->tensors[l->a_tensor], *B = &b->tensors[l->b_tensor];
    size_t N = l->out_features, K = l->in_features, r = l->max_rank;
    mote_lora_bind_t *e = &ad->table[i];
    if (A->dtype == MOTE_DT_F32) {
      e->A = (const float *)A->data;
    } else {
      for (size_t k = 0; k < r * K; ++k) p[k] = elem(A, k);
      e->A = p;
      p += r * K;
    }
    for (size_t n = 0; n < N; ++n)
      for (size_t j = 0; j < r; ++j) p[j * N + n] = elem(B, n * r + j);
    e->Bt = p;
    p += r * N;
  }
  return MOTE_OK;
}

/* The adapter's sites against the model's: the table, or a one-line error. */
static mote_status_t match_model(mote_adapter_t *ad, uint32_t *src) {
  const mote_bundle_t *mb = &ad->m->b, *b = &ad->b;
  for (uint32_t i = 0; i < mb->n_lora; ++i) src[i] = UINT32_MAX;
  if (b->base_hash != mb->manifest_xxh64)
    AFAIL("%s: base_hash: %016llx but model %s has %016llx (an adapter for another base)",
          ad->label, (unsigned long long)b->base_hash, ad->m->label,
          (unsigned long long)mb->manifest_xxh64);
  if (mb->n_lora == 0)
    AFAIL("%s: model %s has no LoRA sites (compile it with motec compile --lora-max-rank)",
          ad->label, ad->m->label);
  for (uint32_t k = 0; k < b->n_lora; ++k) {
    const mote_lora_site_t *l = &b->lora[k];
    int nm = (int)l->name.n;
    const char *np = l->name.p ? l->name.p : "";
    uint32_t idx = mb->n_lora;
    for (uint32_t i = 0; i < mb->n_lora; ++i)
      if (str_eq(mb->lora[i].name, l->name)) {
        idx = i;
        break;
      }
    if (idx == mb->n_lora)
      AFAIL("%s: lora_sites[%u] (%.*s): model %s has no such site (not compiled for it)",
            ad->label, k, nm, np, ad->m->label);
    const mote_lora_site_t *ms = &mb->lora[idx];
    if (ms->in_features != l->in_features || ms->out_features != l->out_features)
      AFAIL("%s: lora_sites[%u] (%.*s): %ux%u but the model's site is %ux%u (an adapter "
            "for another base)", ad->label, k, nm, np, l->out_features, l->in_features,
            ms->out_features, ms->in_features);
    if (l->max_rank > ms->max_rank)
      AFAIL("%s: lora_sites[%u] (%.*s): rank %u above the model's compiled max %u",
            ad->label, k, nm, np, l->max_rank, ms->max_rank);
    if (ad->table[idx].rank)
      AFAIL("%s: lora_sites[%u] (%.*s): site given twice", ad->label, k, nm, np);
    src[idx] = k;
    ad->table[idx].scale = l->scale;
    ad->table[idx].rank = l->max_rank;
  }
  return materialize(ad, src);
}

mote_status_t mote_adapter_open(mote_model_t *m, const char *path,
                                const mote_adapter_options_t *opt, mote_adapter_t **out) {
  MOTE_CHECK_OR_RETURN(m && path && out, MOTE_ERR_INVALID_ARGUMENT,
                       "adapter_open: NULL argument");
  *out = NULL;
  const mote_allocator_t *a = m->alloc;
  mote_adapter_t *ad = mote_alloc(a, sizeof(*ad), 64);
  MOTE_CHECK_OR_RETURN(ad, MOTE_ERR_OUT_OF_MEMORY, "adapter_open: out of memory");
  memset(ad, 0, sizeof(*ad));
  ad->m = m;
  atomic_init(&ad->bound, 0u);
  const char *base = strrchr(path, '/');
  snprintf(ad->label, sizeof ad->label, "%s", base ? base + 1 : path);
  uint32_t *src = NULL; /* model site -> adapter lora_sites index */
  mote_status_t st = mote_pal_map_file(path, &ad->map);
  if (st == MOTE_OK)
    st = mote_bundle_load_adapter(&ad->b, ad->map.data, ad->map.size, ad->label,
                                  opt ? opt->flags : 0, a);
  if (st == MOTE_OK) {
    size_t n = m->b.n_lora ? m->b.n_lora : 1;
    ad->table = mote_alloc(a, n * sizeof(mote_lora_bind_t), 64);
    src = mote_alloc(a, n * sizeof(uint32_t), 64);
    if (!ad->table || !src)
      st = mote_set_error(MOTE_ERR_OUT_OF_MEMORY, "%s: out of memory", ad->label);
    else
      memset(ad->table, 0, n * sizeof(mote_lora_bind_t));
  }
  if (st == MOTE_OK) st = match_model(ad, src);
  mote_free(a, src);
  if (st != MOTE_OK) {
    adapter_free(ad);
    return st;
  }
  *out = ad;
  return MOTE_OK;
}

mote_status_t mote_adapter_close(mote_adapter_t *ad) {
  if (!ad) return MOTE_OK;
  unsigned n = atomic_load(&ad->bound);
  MOTE_CHECK_OR_RETURN(n == 0, MOTE_ERR_INVALID_ARGUMENT,
                       "adapter_close: %s is still bound to %u session(s); unbind it "
                       "(mote_session_set_adapter(s, NULL)) first", ad->label, n);
  adapter_free(ad);
  return MOTE_OK;
}

mote_status_t mote_session_set_adapter(mote_session_t *s, mote_adapter_t *ad) {
  MOTE_CHECK_OR_RETURN(s, MOTE_ERR_INVALID_ARGUMENT, "session_set_adapter: NULL session");
  MOTE_CHECK_OR_RETURN(!ad || ad->m == s->m, MOTE_ERR_INVALID_ARGUMENT,
                       "session_set_adapter: %s was opened on another model", ad->label);
  if (ad == s->adapter) return MOTE_OK;
  if (ad) atomic_fetch_add(&ad->bound, 1u);
  if (s->adapter) atomic_fetch_sub(&s->adapter->bound, 1u);
  s->adapter = ad;
  s->lora = ad ? ad->table : NULL;
  return MOTE_OK;
}

void mote_lora_session_release(mote_session_t *s) {
  if (s && s->adapter) {
    atomic_fetch_sub(&s->adapter->bound, 1u);
    s->adapter = NULL;
    s->lora = NULL;
  }
}
