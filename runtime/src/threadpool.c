/* threadpool.c: fork/join over chunks that every thread, the caller included,
 * claims from one atomic word, so a late or preempted worker never stalls a
 * region: whoever is running takes the work. Idle workers spin (yielding)
 * for a short while after each job, then sleep on a condvar. */
#include "threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>

#include "bundle.h" /* mote_alloc */
#include "platform.h"
#include "status.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define CPU_RELAX() __asm__ __volatile__("yield")
#else
#define CPU_RELAX() ((void)0)
#endif

/* A worker keeps spinning this long after the last job it saw: longer than
 * the gap between two regions of one call and between two decode calls,
 * far shorter than a user's think time. */
#define IDLE_SPIN_NS 2000000u
/* For this long a worker spins without yielding: within one graph call the
 * next region comes within microseconds, and a sched_yield (a syscall) would
 * make the worker late for it. */
#define PURE_SPIN_NS 200000u
/* Pauses between clock reads / sched_yield calls while spinning. Yielding
 * lets other runnable tasks (on a loaded machine) use the core; on an idle
 * one it returns at once. */
#define SPIN_BATCH 256
/* Chunks per thread: enough that a thread descheduled mid-region holds
 * little, few enough that claiming stays cheap. */
#ifndef CHUNKS_PER_THREAD
#define CHUNKS_PER_THREAD 4
#endif

/* The claim word: job id (32) | chunk count (16) | next chunk (16). */
#define CLAIM(id, total, next) (((uint64_t)(id) << 32) | ((uint64_t)(total) << 16) | (next))
#define CLAIM_ID(c) ((uint32_t)((c) >> 32))
#define CLAIM_TOTAL(c) ((uint32_t)((c) >> 16) & 0xffffu)
#define CLAIM_NEXT(c) ((uint32_t)(c) & 0xffffu)

typedef struct worker {
  struct mote_threadpool *pool;
  uint32_t tid;
  pthread_t thread;
} worker_t;

struct mote_threadpool {
  uint32_t n_threads;
  worker_t *workers; /* n_threads - 1 */
  const mote_allocator_t *alloc;
  /* The job: written by the caller before the claim word is published, and
   * read only by a thread that holds a claimed chunk (so never while being
   * rewritten: the caller waits for every claimed chunk). */
  mote_range_fn fn;
  void *ctx;
  size_t n, units_per_chunk, grain;
  uint32_t job;                                /* caller-private job counter */
  _Alignas(64) _Atomic uint64_t claim;         /* polled by idle workers */
  _Alignas(64) _Atomic uint32_t done;          /* chunks finished, this job */
  _Alignas(64) _Atomic uint32_t sleepers;
  _Atomic int stop;
  pthread_mutex_t mu;
  pthread_cond_t cv;
};

/* Claims the next chunk of job `id`; returns its index or -1 when the job
 * is finished or replaced. */
static int claim_chunk(mote_threadpool_t *p, uint32_t id) {
  uint64_t c = atomic_load_explicit(&p->claim, memory_order_acquire);
  for (;;) {
    if (CLAIM_ID(c) != id || CLAIM_NEXT(c) >= CLAIM_TOTAL(c)) return -1;
    if (atomic_compare_exchange_weak_explicit(&p->claim, &c, c + 1, memory_order_acq_rel,
                                              memory_order_acquire))
      return (int)CLAIM_NEXT(c);
  }
}

static void run_chunk(mote_threadpool_t *p, uint32_t k, uint32_t tid) {
  size_t b = (size_t)k * p->units_per_chunk * p->grain;
  size_t e = b + p->units_per_chunk * p->grain;
  if (e > p->n) e = p->n;
  if (b < e) p->fn(p->ctx, b, e, tid);
}

/* Runs chunks of job `id` until none are left; returns how many it ran. */
static uint32_t work_on(mote_threadpool_t *p, uint32_t id, uint32_t tid) {
  uint32_t ran = 0;
  int k;
  while ((k = claim_chunk(p, id)) >= 0) {
    run_chunk(p, (uint32_t)k, tid);
    ++ran;
  }
  return ran;
}

/* Waits until the claim word names a job other than `seen` (or stop). */
static uint32_t wait_for_job(mote_threadpool_t *p, uint32_t seen) {
  uint64_t since = mote_pal_now_ns();
  for (;;) {
    for (int i = 0; i < SPIN_BATCH; ++i) {
      uint32_t id = CLAIM_ID(atomic_load_explicit(&p->claim, memory_order_acquire));
      if (id != seen || atomic_load_explicit(&p->stop, memory_order_relaxed)) return id;
      CPU_RELAX();
    }
    uint64_t idle = mote_pal_now_ns() - since;
    if (idle < IDLE_SPIN_NS) {
      if (idle >= PURE_SPIN_NS) sched_yield();
      continue;
    }
    /* Sleep; sleepers is raised before re-checking the claim word, so a
     * caller that publishes then reads sleepers==0 cannot miss us (seq_cst). */
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add(&p->sleepers, 1);
    while (CLAIM_ID(atomic_load(&p->claim)) == seen && !atomic_load(&p->stop))
      pthread_cond_wait(&p->cv, &p->mu);
    atomic_fetch_sub(&p->sleepers, 1);
    pthread_mutex_unlock(&p->mu);
    since = mote_pal_now_ns();
  }
}

static void *worker_main(void *arg) {
  worker_t *w = (worker_t *)arg;
  mote_threadpool_t *p = w->pool;
  uint32_t seen = 0; /* job 0 is never posted */
  for (;;) {
    uint32_t id = wait_for_job(p, seen);
    if (atomic_load(&p->stop)) return NULL;
    seen = id;
    uint32_t ran = work_on(p, id, w->tid);
    if (ran) atomic_fetch_add_explicit(&p->done, ran, memory_order_release);
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
  /* n_threads_max < pool size still lets any thread claim; what it bounds
   * is the chunk count, hence the parallelism. */
  size_t max_chunks = (size_t)nt * (nt < p->n_threads ? 1 : CHUNKS_PER_THREAD);
  size_t per = (units + max_chunks - 1) / max_chunks;
  uint32_t total = (uint32_t)((units + per - 1) / per);
  p->fn = fn;
  p->ctx = ctx;
  p->n = n;
  p->grain = grain;
  p->units_per_chunk = per;
  if (++p->job == 0) p->job = 1; /* 0 means "none yet" to a new worker */
  uint32_t id = p->job;
  atomic_store_explicit(&p->done, 0, memory_order_relaxed);
  atomic_store(&p->claim, CLAIM(id, total, 0)); /* seq_cst: publishes the job */
  if (atomic_load(&p->sleepers) > 0) {
    pthread_mutex_lock(&p->mu);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
  }
  uint32_t mine = work_on(p, id, 0);
  /* Chunks claimed by workers: wait, yielding now and then so a worker that
   * shares this core on a loaded machine gets to finish. */
  for (uint32_t spins = 0;
       atomic_load_explicit(&p->done, memory_order_acquire) + mine < total; ++spins) {
    CPU_RELAX();
    if ((spins & 1023) == 1023) sched_yield();
  }
}
