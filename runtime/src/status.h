/* status.h: internal error reporting (thread-local last error + early-return macros). */
#ifndef MOTE_STATUS_H
#define MOTE_STATUS_H

#include "mote/mote.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define MOTE_PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define MOTE_PRINTF_LIKE(f, a)
#endif

/* Records a one-line message for mote_last_error() on this thread and
 * returns `code` unchanged, so callers can `return mote_set_error(...)`. */
mote_status_t mote_set_error(mote_status_t code, const char *fmt, ...)
    MOTE_PRINTF_LIKE(2, 3);

/* Clears the thread's last error (sets it to ""). */
void mote_clear_error(void);

/* Propagates a failing status to the caller. */
#define MOTE_RETURN_IF_ERROR(expr)                                            \
  do {                                                                        \
    mote_status_t mote_status_tmp_ = (expr);                                  \
    if (mote_status_tmp_ != MOTE_OK) return mote_status_tmp_;                 \
  } while (0)

/* Returns `code` with a formatted message unless `cond` holds. */
#define MOTE_CHECK_OR_RETURN(cond, code, ...)                                 \
  do {                                                                        \
    if (!(cond)) return mote_set_error((code), __VA_ARGS__);                  \
  } while (0)

#ifdef __cplusplus
}
#endif

#endif /* MOTE_STATUS_H */
