/* parallel_for: every index is visited exactly once for many sizes and
 * thread counts, chunks are contiguous and fixed by (n, threads), nested
 * calls run inline, and small inputs are not split below the grain. */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "../src/parallel.h"
#include "fixtures.h"

struct visit {
    atomic_int *count;
    atomic_int calls;
    size_t min_chunk;
    pthread_mutex_t lock;
};

static void mark(void *ctx, size_t begin, size_t end)
{
    struct visit *v = ctx;
    ck_assert_uint_lt(begin, end);
    for (size_t i = begin; i < end; i++)
        atomic_fetch_add(&v->count[i], 1);
    atomic_fetch_add(&v->calls, 1);
    pthread_mutex_lock(&v->lock);
    if (end - begin < v->min_chunk)
        v->min_chunk = end - begin;
    pthread_mutex_unlock(&v->lock);
}

START_TEST(test_covers_once)
{
    static const size_t sizes[] = {1, 2, 3, 7, 64, 1000, 4097};
    static const int threads[] = {1, 2, 3, 8};
    for (size_t t = 0; t < sizeof threads / sizeof threads[0]; t++) {
        parallel_set_threads(threads[t]);
        ck_assert_int_eq(parallel_threads(), threads[t]);
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            size_t n = sizes[s];
            struct visit v = {.min_chunk = (size_t)-1, .lock = PTHREAD_MUTEX_INITIALIZER};
            v.count = calloc(n, sizeof *v.count);
            ck_assert_ptr_nonnull(v.count);
            parallel_for(n, 2, mark, &v);
            for (size_t i = 0; i < n; i++)
                ck_assert_msg(v.count[i] == 1, "threads %d n %zu: index %zu visited %d times",
                              threads[t], n, i, (int)v.count[i]);
            size_t want = (size_t)threads[t] < n / 2 ? (size_t)threads[t] : n / 2;
            if (want < 1)
                want = 1;
            ck_assert_int_eq(v.calls, (int)want);
            ck_assert_uint_ge(v.min_chunk, n >= 2 ? 2 : 1);
            free(v.count);
        }
    }
    parallel_set_threads(1);
}
END_TEST

static void nested_inner(void *ctx, size_t begin, size_t end)
{
    mark(ctx, begin, end);
}

struct outer {
    struct visit *inner;
    size_t n_inner;
};

static void nested_outer(void *ctx, size_t begin, size_t end)
{
    struct outer *o = ctx;
    for (size_t i = begin; i < end; i++) {
        /* Inside a parallel region: runs inline as one call. */
        int before = atomic_load(&o->inner[i].calls);
        parallel_for(o->n_inner, 1, nested_inner, &o->inner[i]);
        ck_assert_int_eq(atomic_load(&o->inner[i].calls), before + 1);
    }
}

START_TEST(test_nested_runs_inline)
{
    parallel_set_threads(4);
    enum { OUTER = 8, INNER = 100 };
    struct visit inner[OUTER];
    for (int i = 0; i < OUTER; i++) {
        memset(&inner[i], 0, sizeof inner[i]);
        inner[i].min_chunk = (size_t)-1;
        pthread_mutex_init(&inner[i].lock, NULL);
        inner[i].count = calloc(INNER, sizeof *inner[i].count);
        ck_assert_ptr_nonnull(inner[i].count);
    }
    struct outer o = {inner, INNER};
    parallel_for(OUTER, 1, nested_outer, &o);
    for (int i = 0; i < OUTER; i++) {
        for (int k = 0; k < INNER; k++)
            ck_assert_int_eq(inner[i].count[k], 1);
        free(inner[i].count);
    }
    parallel_set_threads(1);
}
END_TEST

/* Many back-to-back jobs (the per-batch pattern) finish and stay correct. */
static void add_range(void *ctx, size_t begin, size_t end)
{
    long *sums = ctx;
    for (size_t i = begin; i < end; i++)
        sums[i] += (long)i;
}

START_TEST(test_many_jobs)
{
    parallel_set_threads(3);
    enum { N = 33, JOBS = 2000 };
    long sums[N] = {0};
    for (int j = 0; j < JOBS; j++)
        parallel_for(N, 1, add_range, sums);
    for (long i = 0; i < N; i++)
        ck_assert_int_eq(sums[i], i * JOBS);
    parallel_set_threads(1);
}
END_TEST

static Suite *parallel_suite(void)
{
    Suite *s = suite_create("parallel");
    TCase *tc = tcase_create("pool");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_covers_once);
    tcase_add_test(tc, test_nested_runs_inline);
    tcase_add_test(tc, test_many_jobs);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(parallel_suite());
}
