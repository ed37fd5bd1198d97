/* minheap.h: a binary heap over a caller-sized array, generated per element
 * type (the BPE merge queues of tokenizer.c and tokenizer_bbpe.c).
 *
 *   MOTE_HEAP(name, T, before)
 *
 * defines `static void name##_push(T *heap, size_t *n, T p)` and `static T
 * name##_pop(T *heap, size_t *n)` (n > 0); `before(const T *a, const T *b)`
 * is nonzero when a must come out before b. No allocation: the caller's
 * array holds every element pushed. */
#ifndef MOTE_MINHEAP_H
#define MOTE_MINHEAP_H

#include <stddef.h>

#define MOTE_HEAP(name, T, before)                                             \
  static void name##_push(T *heap, size_t *n, T p) {                           \
    size_t i = (*n)++;                                                         \
    while (i > 0) {                                                            \
      size_t parent = (i - 1) / 2;                                             \
      if (!before(&p, &heap[parent])) break;                                   \
      heap[i] = heap[parent];                                                  \
      i = parent;                                                              \
    }                                                                          \
    heap[i] = p;                                                               \
  }                                                                            \
  static T name##_pop(T *heap, size_t *n) {                                    \
    T top = heap[0], last = heap[--(*n)];                                      \
    size_t i = 0, m = *n;                                                      \
    for (;;) {                                                                 \
      size_t c = 2 * i + 1;                                                    \
      if (c >= m) break;                                                       \
      if (c + 1 < m && before(&heap[c + 1], &heap[c])) ++c;                    \
      if (!before(&heap[c], &last)) break;                                     \
      heap[i] = heap[c];                                                       \
      i = c;                                                                   \
    }                                                                          \
    if (m > 0) heap[i] = last;                                                 \
    return top;                                                                \
  }

#endif /* MOTE_MINHEAP_H */
