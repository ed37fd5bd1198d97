/* posix.c: POSIX implementation of the platform layer (mmap, clock_gettime, stderr). */
#include "platform.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "status.h"

/* Clears *out and opens `path` as a regular file: *fd and *size on success;
 * an empty file is MOTE_OK with *fd = -1 (nothing to map or read). */
static mote_status_t open_regular(const char *path, mote_pal_mapping_t *out, int *fd,
                                  size_t *size) {
  memset(out, 0, sizeof(*out));
  *fd = open(path, O_RDONLY | O_CLOEXEC);
  if (*fd < 0)
    return mote_set_error(MOTE_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  struct stat st;
  if (fstat(*fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(*fd);
    *fd = -1;
    return mote_set_error(MOTE_ERR_IO, "%s: not a regular file", path);
  }
  *size = (size_t)st.st_size;
  if (*size == 0) { /* mmap rejects length 0 */
    close(*fd);
    *fd = -1;
  }
  return MOTE_OK;
}

mote_status_t mote_pal_map_file(const char *path, mote_pal_mapping_t *out) {
  int fd;
  size_t size = 0;
  MOTE_RETURN_IF_ERROR(open_regular(path, out, &fd, &size));
  if (fd < 0) return MOTE_OK;
  void *p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
  int err = errno;
  close(fd); /* the mapping keeps the file alive */
  if (p == MAP_FAILED)
    return mote_set_error(MOTE_ERR_IO, "%s: mmap failed: %s", path,
                          strerror(err));
#ifdef MADV_HUGEPAGE
  /* Advice: where the page cache does not hold the file yet, the faults
   * read it into huge folios mapped by 2 MiB entries (Linux 6.18, ext4:
   * all of a 1B w4 bundle vs 77%, decode +5%; docs/c-api.md). Pages the
   * cache already holds keep their size. The pages stay clean file pages. */
  (void)madvise(p, size, MADV_HUGEPAGE);
#endif
  out->data = p;
  out->size = size;
  out->handle = p;
  out->handle_size = size;
  return MOTE_OK;
}

#define HUGE_ALIGN ((size_t)2 << 20)

static size_t page_round(size_t n) {
  size_t pg = (size_t)sysconf(_SC_PAGESIZE);
  return (n + pg - 1) / pg * pg;
}

/* Commits [p, p + len): MADV_POPULATE_WRITE where the kernel has it (5.14),
 * else a write to every page (the pages are zero, so writing 0 keeps them).
 * 0, or -1 when the kernel says there is not enough memory (then the caller
 * fails cleanly instead of the process dying on a later touch). */
static int commit_pages(uint8_t *p, size_t len) {
#ifdef MADV_POPULATE_WRITE
  if (madvise(p, len, MADV_POPULATE_WRITE) == 0) return 0;
  if (errno == ENOMEM || errno == EFAULT) return -1;
#endif
  size_t pg = (size_t)sysconf(_SC_PAGESIZE);
  for (size_t o = 0; o < len; o += pg) ((volatile uint8_t *)p)[o] = 0;
  return 0;
}

void *mote_pal_alloc_pages(size_t size, unsigned flags) {
  if (size == 0 || size > SIZE_MAX - 2 * HUGE_ALIGN) {
    errno = ENOMEM;
    return NULL;
  }
  size_t len = page_round(size);
  uint8_t *p;
  if (!(flags & MOTE_PAL_HUGE)) {
    void *q = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (q == MAP_FAILED) return NULL;
    p = q;
  } else {
    /* Reserve 2 MiB more, so that an aligned start exists inside it (huge
     * pages need aligned virtual addresses), then give back both ends. */
    size_t reserve = len + HUGE_ALIGN;
    void *r = mmap(NULL, reserve, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (r == MAP_FAILED) return NULL;
    p = (uint8_t *)(((uintptr_t)r + HUGE_ALIGN - 1) & ~(uintptr_t)(HUGE_ALIGN - 1));
    size_t head = (size_t)(p - (uint8_t *)r), tail = reserve - head - len;
    if (head) munmap(r, head);
    if (tail) munmap(p + len, tail);
#ifdef MADV_HUGEPAGE
    (void)madvise(p, len, MADV_HUGEPAGE); /* advice: ignored where unsupported */
#endif
  }
  if ((flags & MOTE_PAL_COMMIT) && commit_pages(p, len) != 0) {
    munmap(p, len);
    errno = ENOMEM;
    return NULL;
  }
  return p;
}

void mote_pal_free_pages(void *p, size_t size) {
  if (p) munmap(p, page_round(size));
}

mote_status_t mote_pal_read_file(const char *path, mote_pal_mapping_t *out) {
  int fd;
  size_t size = 0;
  MOTE_RETURN_IF_ERROR(open_regular(path, out, &fd, &size));
  if (fd < 0) return MOTE_OK;
  uint8_t *p = mote_pal_alloc_pages(size, MOTE_PAL_HUGE);
  if (!p) {
    int err = errno;
    close(fd);
    return mote_set_error(MOTE_ERR_OUT_OF_MEMORY, "%s: cannot allocate %zu bytes: %s", path,
                          size, strerror(err));
  }
  size_t got = 0;
  while (got < size) {
    ssize_t n = pread(fd, p + got, size - got, (off_t)got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = n < 0 ? errno : EIO;
      close(fd);
      mote_pal_free_pages(p, size);
      return mote_set_error(MOTE_ERR_IO, "%s: read failed at byte %zu: %s", path, got,
                            n < 0 ? strerror(err) : "file shrank while reading");
    }
    got += (size_t)n;
  }
  close(fd);
  (void)mprotect(p, page_round(size), PROT_READ); /* the weights are read-only from here */
  out->data = p;
  out->size = size;
  out->handle = p;
  out->handle_size = page_round(size);
  return MOTE_OK;
}

void mote_pal_unmap_file(mote_pal_mapping_t *m) {
  if (m && m->handle) munmap(m->handle, m->handle_size);
  if (m) memset(m, 0, sizeof(*m));
}

uint64_t mote_pal_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint32_t mote_pal_cpu_count(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1u : (uint32_t)n;
}

static int log_threshold(void) {
  const char *s = getenv("MOTE_LOG");
  if (!s) return MOTE_LOG_WARN;
  if (!strcmp(s, "debug")) return MOTE_LOG_DEBUG;
  if (!strcmp(s, "info")) return MOTE_LOG_INFO;
  if (!strcmp(s, "error")) return MOTE_LOG_ERROR;
  return MOTE_LOG_WARN;
}

void mote_pal_log(int level, const char *fmt, ...) {
  if (level < log_threshold()) return;
  static const char *const names[] = {"debug", "info", "warn", "error"};
  fprintf(stderr, "mote %s: ", names[level & 3]);
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}
