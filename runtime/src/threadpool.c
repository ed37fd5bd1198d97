/* threadpool.c: workers spin briefly on a generation counter, then sleep on a
 * condvar; the caller runs chunk 0 itself so a region costs ~1 µs when hot. */
#include "threadpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "bundle.h" /* mote_alloc */
#include "status.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define CPU_RELAX() __asm__ __volatile__("yield")
#else
#define CPU_RELAX() ((void)0)
#endif

/* Spins before sleeping: ~50-100 µs, longer than the gap between two
 * parallel regions of one token, far shorter than a user's think time. */
#define SPIN_ITERS 20000

typedef struct worker {
  struct mote_threadpool *pool;
  uint32_t tid;
  pthread_t thread;
} worker_t;

struct mote_threadpool {
  uint32_t n_threads;
  worker_t *workers; /* n_threads - 1 */
  const mote_allocator_t *alloc;
  /* The job: written by the caller before bumping `gen`. */
  mote_range_fn fn;
  void *ctx;
  size_t n, grain;
  uint32_t n_active; /* threads taking part in the current job */
  _Atomic uint64_t gen;
  _Atomic uint32_t pending; /* workers still running the current job */
  _Atomic uint32_t sleepers;
  _Atomic int stop;
  pthread_mutex_t mu;
  pthread_cond_t cv;
};

static void chunk(const mote_threadpool_t *p, uint32_t tid, size_t *b, size_t *e) {
  size_t units = (p->n + p->grain - 1) / p->grain;
  size_t per = units / p->n_active, rem = units % p->n_active;
  size_t ub = tid * per + (tid < rem ? tid : rem);
  size_t ue = ub + per + (tid < rem ? 1 : 0);
  *b = ub * p->grain;
  *e = ue * p->grain;
  if (*b > p->n) *b = p->n;
  if (*e > p->n) *e = p->n;
}

static void run_chunk(mote_threadpool_t *p, uint32_t tid) {
  size_t b, e;
  chunk(p, tid, &b, &e);
  if (b < e) p->fn(p->ctx, b, e, tid);
}

static void *worker_main(void *arg) {
  worker_t *w = (worker_t *)arg;
  mote_threadpool_t *p = w->pool;
  uint64_t seen = 0; /* gen at creation: a job may be posted before we run */
  for (;;) {
    uint64_t g;
    int spins = 0;
    while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen &&
           !atomic_load_explicit(&p->stop, memory_order_relaxed)) {
      if (++spins < SPIN_ITERS) { CPU_RELAX(); continue; }
      /* Sleep; sleepers is raised before re-checking gen, so a dispatcher
       * that bumps gen then reads sleepers==0 cannot miss us (seq_cst). */
      pthread_mutex_lock(&p->mu);
      atomic_fetch_add(&p->sleepers, 1);
      while (atomic_load(&p->gen) == seen && !atomic_load(&p->stop))
        pthread_cond_wait(&p->cv, &p->mu);
      atomic_fetch_sub(&p->sleepers, 1);
      pthread_mutex_unlock(&p->mu);
      spins = 0;
    }
    if (atomic_load(&p->stop)) return NULL;
    seen = g;
    if (w->tid < p->n_active) run_chunk(p, w->tid);
    atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel);
  }
}

mote_status_t mote_threadpool_create(uint32_t n_threads, const mote_allocator_t *alloc,
                                     mote_threadpool_t **out) {
  *out = NULL;
  if (n_threads == 0) n_threads = 1;
  mote_threadpool_t *p = mote_alloc(alloc, sizeof(*p), 64);
  if (!p) return mote_set_error(MOTE_ERR_OUT_OF_MEMORY, "thread pool: out of memory");
  memset(p, 0, sizeof(*p));
  p->alloc = alloc;
  p->n_threads = 1;
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cv, NULL);
  if (n_threads > 1) {
    p->workers = mote_alloc(alloc, sizeof(worker_t) * (n_threads - 1), 64);
    if (!p->workers) {
      mote_threadpool_destroy(p);
      return mote_set_error(MOTE_ERR_OUT_OF_MEMORY, "thread pool: out of memory");
    }
    for (uint32_t k = 1; k < n_threads; ++k) {
      worker_t *w = &p->workers[k - 1];
      w->pool = p;
      w->tid = k;
      if (pthread_create(&w->thread, NULL, worker_main, w) != 0) break;
      p->n_threads = k + 1;
    }
  }
  *out = p;
  return MOTE_OK;
}

void mote_threadpool_destroy(mote_threadpool_t *p) {
  if (!p) return;
  pthread_mutex_lock(&p->mu);
  atomic_store(&p->stop, 1);
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
  for (uint32_t k = 1; k < p->n_threads; ++k) pthread_join(p->workers[k - 1].thread, NULL);
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->cv);
  mote_free(p->alloc, p->workers);
  mote_free(p->alloc, p);
}

uint32_t mote_threadpool_size(const mote_threadpool_t *p) { return p ? p->n_threads : 1; }

void mote_parallel_for(mote_threadpool_t *p, size_t n, size_t grain,
                       uint32_t n_threads_max, mote_range_fn fn, void *ctx) {
  if (n == 0) return;
  if (grain == 0) grain = 1;
  uint32_t nt = p ? p->n_threads : 1;
  if (n_threads_max && n_threads_max < nt) nt = n_threads_max;
  size_t units = (n + grain - 1) / grain;
  if (units < nt) nt = (uint32_t)units;
  if (nt <= 1) {
    fn(ctx, 0, n, 0);
    return;
  }
  p->fn = fn;
  p->ctx = ctx;
  p->n = n;
  p->grain = grain;
  p->n_active = nt;
  atomic_store(&p->pending, p->n_threads - 1);
  atomic_fetch_add(&p->gen, 1); /* seq_cst: publishes the job */
  if (atomic_load(&p->sleepers) > 0) {
    pthread_mutex_lock(&p->mu);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
  }
  run_chunk(p, 0);
  while (atomic_load_explicit(&p->pending, memory_order_acquire) != 0) CPU_RELAX();
}
