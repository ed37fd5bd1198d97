/* platform.h: the runtime's few OS services (map a file, clock, log). */
#ifndef MOTE_PLATFORM_H
#define MOTE_PLATFORM_H

#include <stddef.h>
#include <stdint.h>

#include "mote/mote.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A read-only mapping of a whole file. */
typedef struct mote_pal_mapping {
  const void *data;
  size_t size;
  void *handle; /* platform detail */
  size_t handle_size; /* platform detail */
} mote_pal_mapping_t;

/* Maps `path` read-only; sets the thread's error and returns MOTE_ERR_IO on
 * failure. An empty file maps to data=NULL, size=0. */
mote_status_t mote_pal_map_file(const char *path, mote_pal_mapping_t *out);
/* Reads `path` into fresh anonymous memory instead (MOTE_OPEN_READ_INTO_MEMORY),
 * 2 MiB-aligned and advised for transparent huge pages where the OS has them;
 * released by mote_pal_unmap_file. Errors as mote_pal_map_file. */
mote_status_t mote_pal_read_file(const char *path, mote_pal_mapping_t *out);
void mote_pal_unmap_file(mote_pal_mapping_t *m);

/* `size` bytes of zero-filled anonymous memory from the OS. Flags:
 * MOTE_PAL_HUGE: 2 MiB-aligned and advised for transparent huge pages where
 * the OS has them (the first touch of a huge page may wait for the kernel
 * to compact memory); MOTE_PAL_COMMIT: every page committed now (that wait
 * happens here, not in the first use), else page by page on first touch.
 * NULL on failure. Released by mote_pal_free_pages(p, size). */
enum { MOTE_PAL_HUGE = 1, MOTE_PAL_COMMIT = 2 };
void *mote_pal_alloc_pages(size_t size, unsigned flags);
void mote_pal_free_pages(void *p, size_t size);

/* Monotonic time in nanoseconds. */
uint64_t mote_pal_now_ns(void);

/* Number of online CPUs (at least 1). */
uint32_t mote_pal_cpu_count(void);

enum { MOTE_LOG_DEBUG = 0, MOTE_LOG_INFO = 1, MOTE_LOG_WARN = 2,
       MOTE_LOG_ERROR = 3 };
/* Writes one line to stderr when level >= MOTE_LOG (env, default WARN). */
void mote_pal_log(int level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#ifdef __cplusplus
}
#endif

#endif /* MOTE_PLATFORM_H */
