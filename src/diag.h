/* Located user errors: functions that can fail on input fill a struct diag
 * and return -1; only the command layer prints it (as "nnc: MESSAGE").
 * Programmer errors abort through NNC_ASSERT with file:line. */
#ifndef NNC_DIAG_H
#define NNC_DIAG_H

#include <stddef.h>

struct diag {
    char msg[1024]; /* "file:line:col: what is wrong", no trailing newline */
};

/* Printf-style message with no location. */
void diag_set(struct diag *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* "file:line:col: ..." (col 0 omits the column, line 0 omits both). */
void diag_at(struct diag *d, const char *file, size_t line, size_t col, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* The closest of candidates[0..n) to word by edit distance, or NULL when none
 * is close enough to suggest ("did you mean ...?"). */
const char *diag_suggest(const char *word, const char *const *candidates, size_t n);

/* Aborts with file:line; for broken invariants, never for user input. */
#define NNC_ASSERT(cond) \
    ((cond) ? (void)0 : nnc_assert_fail(#cond, __FILE__, __LINE__))
_Noreturn void nnc_assert_fail(const char *cond, const char *file, int line);

/* Allocation that exits (nnc_out_of_memory) on failure (sizes checked by
 * the caller). */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

/* "nnc: MSG" (or "nnc: out of memory") and exit status 1, from any thread:
 * running out of memory comes of the input's sizes, not of a bug. The
 * files nnc writes whole (checkpoints, predictions, data caches, plots)
 * are written under temporary names and renamed when complete, so none
 * is left half-written. */
_Noreturn void nnc_out_of_memory(const char *msg);

/* a*b with overflow detection: returns -1 (and leaves *out) on overflow. */
int size_mul(size_t a, size_t b, size_t *out);

#endif
