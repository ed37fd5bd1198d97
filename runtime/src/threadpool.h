/* threadpool.h: persistent worker threads with ~1 µs fork/join dispatch. */
#ifndef MOTE_THREADPOOL_H
#define MOTE_THREADPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "mote/mote.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mote_threadpool mote_threadpool_t;

/* fn runs [begin, end) of the range on thread `tid` (0 = the caller). */
typedef void (*mote_range_fn)(void *ctx, size_t begin, size_t end, uint32_t tid);

/* n_threads includes the caller; 1 creates no threads. */
mote_status_t mote_threadpool_create(uint32_t n_threads, const mote_allocator_t *alloc,
                                     mote_threadpool_t **out);
void mote_threadpool_destroy(mote_threadpool_t *p);
uint32_t mote_threadpool_size(const mote_threadpool_t *p);

/* Splits [0, n) into contiguous chunks (boundaries are multiples of
 * `grain`; a few per thread) that the caller and the workers claim as they
 * get to them, and returns when all are done. n_threads_max (0 = all) bounds
 * the parallelism; 1 runs everything on the caller (small work). */
void mote_parallel_for(mote_threadpool_t *p, size_t n, size_t grain,
                       uint32_t n_threads_max, mote_range_fn fn, void *ctx);

#ifdef __cplusplus
}
#endif

#endif /* MOTE_THREADPOOL_H */
