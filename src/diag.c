/* Located error messages, did-you-mean suggestions, checked allocation. */
#include "diag.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

void diag_set(struct diag *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->msg, sizeof d->msg, fmt, ap);
    va_end(ap);
}

void diag_at(struct diag *d, const char *file, size_t line, size_t col, const char *fmt, ...)
{
    int n;
    if (line && col)
        n = snprintf(d->msg, sizeof d->msg, "%s:%zu:%zu: ", file, line, col);
    else if (line)
        n = snprintf(d->msg, sizeof d->msg, "%s:%zu: ", file, line);
    else
        n = snprintf(d->msg, sizeof d->msg, "%s: ", file);
    if (n < 0 || (size_t)n >= sizeof d->msg)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->msg + n, sizeof d->msg - (size_t)n, fmt, ap);
    va_end(ap);
}

/* Levenshtein distance, case-insensitive; words longer than 63 never match. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return SIZE_MAX;
    size_t row[64];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag_prev = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            int ca = a[i - 1] | 0x20, cb = b[j - 1] | 0x20;
            size_t best = diag_prev + (ca != cb);
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag_prev = up;
        }
    }
    return row[lb];
}

const char *diag_suggest(const char *word, const char *const *candidates, size_t n)
{
    const char *best = NULL;
    size_t best_d = SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
        size_t dist = edit_distance(word, candidates[i]);
        if (dist < best_d) {
            best_d = dist;
            best = candidates[i];
        }
    }
    /* Suggest only when a third or less of the word differs. */
    size_t len = strlen(word);
    size_t limit = len < 3 ? 1 : (len + 2) / 3;
    return best_d <= limit ? best : NULL;
}

_Noreturn void nnc_assert_fail(const char *cond, const char *file, int line)
{
    fprintf(stderr, "nnc: internal error: %s:%d: assertion '%s' failed\n", file, line, cond);
    abort();
}

_Noreturn void nnc_out_of_memory(const char *msg)
{
    fprintf(stderr, "nnc: %s\n", msg ? msg : "out of memory");
    /* _exit: no atexit handlers or stdio flushes while other threads run. */
    _exit(1);
}

static void *check_alloc(void *p)
{
    if (!p)
        nnc_out_of_memory(NULL);
    return p;
}

/* Blocks of HUGE_MIN bytes or more (a dataset held in memory) ask the
 * kernel for transparent huge pages (Debian's default THP mode is
 * "madvise": only advised ranges get them). Training reads a shuffled
 * batch's rows from all over such a block, and with 4 KiB pages each row
 * costs a TLB miss: the bench MLP at 1 thread trained at 45.0-45.7k
 * samples/s without, 45.6-46.2k with (Fashion-MNIST's 188 MB in memory,
 * runs alternated). Only the block's whole pages are advised; failure
 * (no THP in the kernel) changes nothing. */
#define HUGE_MIN ((size_t)16 << 20)

static void *advise_huge(void *p, size_t n)
{
#ifdef MADV_HUGEPAGE
    if (p && n >= HUGE_MIN) {
        uintptr_t page = 4096, begin = ((uintptr_t)p + page - 1) & ~(page - 1);
        uintptr_t end = ((uintptr_t)p + n) & ~(page - 1);
        if (end > begin)
            madvise((void *)begin, end - begin, MADV_HUGEPAGE);
    }
#else
    (void)n;
#endif
    return p;
}

void *xmalloc(size_t n) { return check_alloc(advise_huge(malloc(n ? n : 1), n)); }

void *xcalloc(size_t n, size_t size)
{
    void *p = check_alloc(calloc(n ? n : 1, size ? size : 1));
    return n && size <= SIZE_MAX / n ? advise_huge(p, n * size) : p;
}

void *xrealloc(void *p, size_t n) { return check_alloc(advise_huge(realloc(p, n ? n : 1), n)); }

char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(xmalloc(n), s, n);
}

int size_mul(size_t a, size_t b, size_t *out)
{
    if (a && b > SIZE_MAX / a)
        return -1;
    *out = a * b;
    return 0;
}
