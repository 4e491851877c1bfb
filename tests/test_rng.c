/* rng: reference vectors of splitmix64 and xoshiro256**, determinism, and
 * the statistics of the derived draws (uniform, normal, below, shuffle). */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../src/rng.h"
#include "fixtures.h"

/* splitmix64 from 0: the first four outputs are the published reference
 * values (Vigna's splitmix64.c), and they become the xoshiro state. */
START_TEST(test_seed_splitmix64)
{
    struct rng r;
    rng_seed(&r, 0);
    ck_assert_uint_eq(r.s[0], 0xe220a8397b1dcdafu);
    ck_assert_uint_eq(r.s[1], 0x6e789e6aa1b965f4u);
    ck_assert_uint_eq(r.s[2], 0x06c45d188009454fu);
    ck_assert_uint_eq(r.s[3], 0xf88bb8a8724c81ecu);
    /* Regression values for this seeding + xoshiro256**. */
    ck_assert_uint_eq(rng_next(&r), 0x99ec5f36cb75f2b4u);
    ck_assert_uint_eq(rng_next(&r), 0xbf6e1f784956452au);
    ck_assert_uint_eq(rng_next(&r), 0x1a5f849d4933e6e0u);
}
END_TEST

/* xoshiro256** from state {1, 2, 3, 4}: reference outputs of the
 * algorithm's definition (as used by other implementations' test suites). */
START_TEST(test_xoshiro_vector)
{
    struct rng r = {{1, 2, 3, 4}};
    static const uint64_t want[] = {11520u, 0u, 1509978240u, 1215971899390074240u,
                                    1216172134540287360u, 607988272756665600u};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        ck_assert_uint_eq(rng_next(&r), want[i]);
}
END_TEST

START_TEST(test_deterministic)
{
    struct rng a, b, c;
    rng_seed(&a, 12345);
    rng_seed(&b, 12345);
    rng_seed(&c, 12346);
    int differ = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = rng_next(&a);
        ck_assert_uint_eq(x, rng_next(&b));
        differ += x != rng_next(&c);
    }
    ck_assert_int_ge(differ, 999);
}
END_TEST

START_TEST(test_uniform_stats)
{
    struct rng r;
    rng_seed(&r, 1);
    const int n = 1000000;
    double sum = 0, sum2 = 0, lo = 1, hi = 0;
    for (int i = 0; i < n; i++) {
        double u = rng_uniform(&r);
        ck_assert(u >= 0.0 && u < 1.0);
        sum += u;
        sum2 += u * u;
        lo = fmin(lo, u);
        hi = fmax(hi, u);
    }
    double mean = sum / n, var = sum2 / n - mean * mean;
    ck_assert_double_eq_tol(mean, 0.5, 0.002);
    ck_assert_double_eq_tol(var, 1.0 / 12, 0.001);
    ck_assert(lo < 1e-5 && hi > 1 - 1e-5);
}
END_TEST

START_TEST(test_normal_stats)
{
    struct rng r;
    rng_seed(&r, 2);
    const int n = 1000000;
    double sum = 0, sum2 = 0, sum4 = 0;
    int within1 = 0, beyond3 = 0;
    for (int i = 0; i < n; i++) {
        double z = rng_normal(&r);
        ck_assert(isfinite(z));
        sum += z;
        sum2 += z * z;
        sum4 += z * z * z * z;
        within1 += fabs(z) < 1;
        beyond3 += fabs(z) > 3;
    }
    double mean = sum / n, var = sum2 / n - mean * mean;
    ck_assert_double_eq_tol(mean, 0, 0.005);
    ck_assert_double_eq_tol(var, 1, 0.01);
    ck_assert_double_eq_tol(sum4 / n, 3, 0.05);                 /* kurtosis of N(0,1) */
    ck_assert_double_eq_tol((double)within1 / n, 0.682689, 0.002); /* P(|z| < 1) */
    ck_assert_double_eq_tol((double)beyond3 / n, 0.0026998, 0.0003);
}
END_TEST

START_TEST(test_below_small)
{
    struct rng r;
    rng_seed(&r, 3);
    ck_assert_uint_eq(rng_below(&r, 1), 0);
    enum { N = 7, DRAWS = 70000 };
    int count[N] = {0};
    for (int i = 0; i < DRAWS; i++) {
        size_t k = rng_below(&r, N);
        ck_assert_uint_lt(k, N);
        count[k]++;
    }
    /* Chi-square with 6 degrees of freedom: 22.46 is the 0.999 quantile. */
    double chi2 = 0, e = (double)DRAWS / N;
    for (int k = 0; k < N; k++)
        chi2 += (count[k] - e) * (count[k] - e) / e;
    ck_assert_double_lt(chi2, 22.46);
}
END_TEST

/* n = 3 * 2^62: a plain x % n would land in [0, 2^62) half of the time
 * (2^64 = n + 2^62 wraps onto it); unbiased, it is a third. */
START_TEST(test_below_unbiased)
{
    if (sizeof(size_t) < 8)
        return;
    struct rng r;
    rng_seed(&r, 4);
    size_t n = (size_t)3 << 62, quarter = (size_t)1 << 62;
    int low = 0;
    const int draws = 30000;
    for (int i = 0; i < draws; i++) {
        size_t k = rng_below(&r, n);
        ck_assert_uint_lt(k, n);
        low += k < quarter;
    }
    ck_assert_double_eq_tol((double)low / draws, 1.0 / 3, 0.015);
}
END_TEST

START_TEST(test_shuffle_permutation)
{
    struct rng r;
    rng_seed(&r, 5);
    enum { N = 1000 };
    size_t idx[N], seen[N] = {0};
    for (size_t i = 0; i < N; i++)
        idx[i] = i;
    rng_shuffle(&r, idx, N);
    size_t moved = 0;
    for (size_t i = 0; i < N; i++) {
        ck_assert_uint_lt(idx[i], N);
        seen[idx[i]]++;
        moved += idx[i] != i;
    }
    for (size_t i = 0; i < N; i++)
        ck_assert_uint_eq(seen[i], 1);
    ck_assert_uint_gt(moved, N - 20);

    /* Same seed, same permutation; n = 0 and 1 are no-ops. */
    size_t again[N];
    for (size_t i = 0; i < N; i++)
        again[i] = i;
    rng_seed(&r, 5);
    rng_shuffle(&r, again, N);
    ck_assert(memcmp(idx, again, sizeof idx) == 0);
    size_t one = 42;
    rng_shuffle(&r, &one, 1);
    rng_shuffle(&r, NULL, 0);
    ck_assert_uint_eq(one, 42);
}
END_TEST

/* All 6 orders of 3 items come out equally often. */
START_TEST(test_shuffle_uniform)
{
    struct rng r;
    rng_seed(&r, 6);
    enum { DRAWS = 60000 };
    int count[3][3][3] = {{{0}}};
    for (int t = 0; t < DRAWS; t++) {
        size_t p[3] = {0, 1, 2};
        rng_shuffle(&r, p, 3);
        count[p[0]][p[1]][p[2]]++;
    }
    static const int perms[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2},
                                    {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
    double chi2 = 0, e = DRAWS / 6.0;
    for (int k = 0; k < 6; k++) {
        int c = count[perms[k][0]][perms[k][1]][perms[k][2]];
        chi2 += (c - e) * (c - e) / e;
    }
    ck_assert_double_lt(chi2, 20.52); /* chi-square, 5 dof, 0.999 quantile */
}
END_TEST

static Suite *rng_suite(void)
{
    Suite *s = suite_create("rng");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_seed_splitmix64);
    tcase_add_test(tc, test_xoshiro_vector);
    tcase_add_test(tc, test_deterministic);
    tcase_add_test(tc, test_uniform_stats);
    tcase_add_test(tc, test_normal_stats);
    tcase_add_test(tc, test_below_small);
    tcase_add_test(tc, test_below_unbiased);
    tcase_add_test(tc, test_shuffle_permutation);
    tcase_add_test(tc, test_shuffle_uniform);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(rng_suite());
}
