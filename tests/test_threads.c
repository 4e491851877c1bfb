/* nnc's one pool doing OpenBLAS's splitting (parallel_gemm.c, the
 * convolution, Dense and recurrent layers): split products equal a plain
 * one for every split (rows, columns, K with partial sums) and transpose,
 * split column sums the plain loop's bits;
 * single-threaded cblas_sgemm calls from several pool threads at once give
 * the same bits as one after the other (OpenBLAS's thread safety at one
 * thread); models give the same outputs and gradients at 1 and 3 threads
 * (up to rounding) and the same bits run to run at 3 threads; gradient
 * checks pass with the batch split. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../src/parallel.h"
#include "../src/parallel_gemm.h"
#include "../src/rng.h"
#include "netcheck.h"
#include "fixtures.h"

static float *random_floats(size_t n, struct rng *r)
{
    float *v = malloc((n ? n : 1) * sizeof *v);
    ck_assert_ptr_nonnull(v);
    for (size_t i = 0; i < n; i++)
        v[i] = (float)(rng_uniform(r) * 2 - 1);
    return v;
}

/* C = alpha op(A) op(B) + beta C (+ bias) in double, as the reference. */
static void naive(bool ta, bool tb, size_t M, size_t N, size_t K, float alpha, const float *A,
                  size_t lda, const float *B, size_t ldb, float beta, const float *bias, float *C,
                  size_t ldc)
{
    for (size_t i = 0; i < M; i++)
        for (size_t j = 0; j < N; j++) {
            double s = 0;
            for (size_t k = 0; k < K; k++)
                s += (double)(ta ? A[k * lda + i] : A[i * lda + k]) *
                     (tb ? B[j * ldb + k] : B[k * ldb + j]);
            C[i * ldc + j] = bias ? (float)(s + bias[j]) : (float)(alpha * s + beta * C[i * ldc + j]);
        }
}

struct shape3 {
    size_t M, N, K;
};

START_TEST(test_gemm_splits)
{
    /* rows (M >= N), columns (N > M), K (K >> M, N), too small to split,
     * uneven sizes and an empty K (all but those two above MIN_SPLIT, 2^20
     * multiply-adds). */
    static const struct shape3 shapes[] = {
        {160, 96, 80}, {40, 400, 70},  {9, 32, 5000},  {20, 24, 4096},
        {7, 5, 3},     {131, 77, 129}, {1, 1200, 900}, {50, 40, 0},
    };
    static const int threads[] = {1, 2, 3};
    struct rng r;
    rng_seed(&r, 5);
    for (size_t ti = 0; ti < 3; ti++) {
        parallel_set_threads(threads[ti]);
        ck_assert_int_eq(parallel_reserve(32 * 32), 0);
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
            for (int tr = 0; tr < 4; tr++)
                for (int with_bias = 0; with_bias < 2; with_bias++) {
                    bool ta = tr & 1, tb = tr & 2;
                    size_t M = shapes[si].M, N = shapes[si].N, K = shapes[si].K;
                    size_t lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 1, ldc = N + 2;
                    float *A = random_floats((ta ? K : M) * lda, &r);
                    float *B = random_floats((tb ? N : K) * ldb, &r);
                    float *C = random_floats(M * ldc, &r), *bias = random_floats(N, &r);
                    float *want = malloc(M * ldc * sizeof *want), *again = malloc(M * ldc * sizeof *again);
                    memcpy(want, C, M * ldc * sizeof *C);
                    memcpy(again, C, M * ldc * sizeof *C);
                    naive(ta, tb, M, N, K, 0.5f, A, lda, B, ldb, 0.75f, with_bias ? bias : NULL,
                          want, ldc);
                    if (with_bias) {
                        gemm_parallel_bias(ta, tb, M, N, K, A, lda, B, ldb, bias, C, ldc);
                        gemm_parallel_bias(ta, tb, M, N, K, A, lda, B, ldb, bias, again, ldc);
                    } else {
                        gemm_parallel(ta, tb, M, N, K, 0.5f, A, lda, B, ldb, 0.75f, C, ldc);
                        gemm_parallel(ta, tb, M, N, K, 0.5f, A, lda, B, ldb, 0.75f, again, ldc);
                    }
                    for (size_t i = 0; i < M; i++)
                        for (size_t j = 0; j < ldc; j++) {
                            float got = C[i * ldc + j], w = want[i * ldc + j];
                            if (j >= N) /* padding between rows: untouched */
                                continue;
                            ck_assert_msg(fabsf(got - w) <= 1e-5f * (1 + sqrtf((float)K)),
                                          "threads %d %zux%zux%zu ta %d tb %d bias %d: C[%zu][%zu] "
                                          "%g, want %g", threads[ti], M, N, K, ta, tb, with_bias,
                                          i, j, got, w);
                        }
                    /* The padding is untouched, and the same call gives the same bits. */
                    ck_assert(memcmp(C, again, M * ldc * sizeof *C) == 0);
                    free(A), free(B), free(C), free(bias), free(want), free(again);
                }
    }
    parallel_set_threads(1);
}
END_TEST

/* Column sums split by columns: the plain loop's bits at any thread count. */
START_TEST(test_colsums)
{
    static const size_t sizes[][2] = {{3584, 512}, {128, 10}, {1000, 77}, {5, 1}};
    struct rng r;
    rng_seed(&r, 3);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t rows = sizes[i][0], n = sizes[i][1], ld = n + 3;
        float *z = random_floats(rows * ld, &r), *want = random_floats(n, &r);
        float *got = malloc(n * sizeof *got);
        memcpy(got, want, n * sizeof *got);
        for (size_t k = 0; k < rows; k++)
            for (size_t o = 0; o < n; o++)
                want[o] += z[k * ld + o];
        parallel_set_threads(3);
        colsums_parallel(z, rows, n, ld, got);
        parallel_set_threads(1);
        ck_assert_msg(memcmp(got, want, n * sizeof *got) == 0, "%zu x %zu", rows, n);
        free(z), free(want), free(got);
    }
}
END_TEST

/* Many single-threaded products at once from the pool's threads. */
enum { JOBS = 24, PM = 64, PN = 48, PK = 80 };

struct many {
    float *A[JOBS], *B[JOBS], *C[JOBS];
};

static void many_products(void *ctx, size_t j0, size_t j1)
{
    struct many *m = ctx;
    for (size_t j = j0; j < j1; j++)
        gemm_serial(false, j % 2, PM, PN, PK, 1.0f, m->A[j], PK, m->B[j], j % 2 ? PK : PN, 0.0f,
                    m->C[j], PN);
}

START_TEST(test_gemm_concurrent)
{
    struct rng r;
    rng_seed(&r, 9);
    struct many m;
    float *want[JOBS];
    for (size_t j = 0; j < JOBS; j++) {
        m.A[j] = random_floats(PM * PK, &r);
        m.B[j] = random_floats(PK * PN, &r);
        m.C[j] = malloc(PM * PN * sizeof(float));
        want[j] = malloc(PM * PN * sizeof(float));
    }
    parallel_set_threads(1);
    many_products(&m, 0, JOBS);
    for (size_t j = 0; j < JOBS; j++)
        memcpy(want[j], m.C[j], PM * PN * sizeof(float));
    parallel_set_threads(3);
    for (int round = 0; round < 30; round++) {
        for (size_t j = 0; j < JOBS; j++)
            memset(m.C[j], 0, PM * PN * sizeof(float));
        parallel_for(JOBS, 1, many_products, &m);
        for (size_t j = 0; j < JOBS; j++)
            ck_assert_msg(memcmp(m.C[j], want[j], PM * PN * sizeof(float)) == 0,
                          "round %d: product %zu differs", round, j);
    }
    parallel_set_threads(1);
    for (size_t j = 0; j < JOBS; j++)
        free(m.A[j]), free(m.B[j]), free(m.C[j]), free(want[j]);
}
END_TEST

/* ---- models ------------------------------------------------------------------ */

static const char *const models[] = {
    /* Conv2D split over the batch (kernel gradient as partial sums), a 1x1
     * convolution (x as its own columns), Dense products large enough to
     * split. */
    "layers:\n"
    "  - Conv2D: {filters: 8, kernel_size: 3, activation: relu, input_shape: [10, 10, 3]}\n"
    "  - Conv2D: {filters: 6, kernel_size: 1, activation: tanh}\n"
    "  - MaxPooling2D: {pool_size: 2}\n"
    "  - Flatten\n"
    "  - Dense: {units: 256, activation: relu}\n"
    "  - Dense: {units: 256, activation: tanh}\n"
    "  - Dense: {units: 5, activation: softmax}\n"
    "compile: {loss: categorical_crossentropy}\n",
    /* Conv1D with same padding and no activation, then the recurrent layers:
     * their steps split over the batch (GRU with recurrent dropout: the
     * masked rows). */
    "layers:\n"
    "  - Conv1D: {filters: 12, kernel_size: 3, padding: same, input_shape: [9, 4]}\n"
    "  - LSTM: {units: 32, return_sequences: true}\n"
    "  - GRU: {units: 24, return_sequences: true, recurrent_dropout: 0.25}\n"
    "  - SimpleRNN: {units: 16}\n"
    "  - Dense: {units: 3}\n"
    "compile: {loss: mse}\n",
    /* Rescaling between two Dense layers, wide enough (8192 floats a
     * sample) for its forward and its input gradient to be split. */
    "layers:\n"
    "  - Dense: {units: 8192, activation: tanh, input_shape: [16]}\n"
    "  - Rescaling: {scale: 0.5, offset: 0.25}\n"
    "  - Dense: {units: 3}\n"
    "compile: {loss: mse}\n",
};

enum { BATCH = 12 };

/* Output and gradients of one training step at `threads` threads. */
static void step(const char *yaml, int threads, float **y, float **dw, size_t *ny, size_t *nw)
{
    parallel_set_threads(threads);
    struct net n;
    net_load(&n, yaml);
    ck_assert_int_eq(parallel_reserve(0), 0);
    net_prepare_margin(&n, BATCH, true, -2, 2, 0); /* rounding is far smaller than any margin */
    struct rng r;
    rng_seed(&r, n.drop_seed);
    model_forward(&n.m, BATCH, true, &r);
    model_backward(&n.m, BATCH, n.t);
    *ny = BATCH * model_output_size(&n.m);
    *nw = n.m.n_weights;
    *y = malloc(*ny * sizeof **y);
    *dw = malloc(*nw * sizeof **dw);
    memcpy(*y, n.m.output->y, *ny * sizeof **y);
    memcpy(*dw, n.m.dw, *nw * sizeof **dw);
    net_free(&n);
    parallel_set_threads(1);
}

static void assert_close(const float *a, const float *b, size_t n, const char *what, size_t model)
{
    double scale = 0;
    for (size_t i = 0; i < n; i++)
        scale = fmax(scale, fabs(a[i]));
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(fabs(a[i] - b[i]) <= 1e-5 * (scale + 1e-3) + 1e-4 * fabs(a[i]),
                      "model %zu %s[%zu]: %g at 1 thread, %g at 3", model, what, i, a[i], b[i]);
}

START_TEST(test_models_threads)
{
    for (size_t k = 0; k < sizeof models / sizeof models[0]; k++) {
        float *y1, *dw1, *y3, *dw3, *y3b, *dw3b;
        size_t ny, nw;
        step(models[k], 1, &y1, &dw1, &ny, &nw);
        step(models[k], 3, &y3, &dw3, &ny, &nw);
        step(models[k], 3, &y3b, &dw3b, &ny, &nw);
        assert_close(y1, y3, ny, "y", k);
        assert_close(dw1, dw3, nw, "dw", k);
        ck_assert_msg(memcmp(y3, y3b, ny * sizeof *y3) == 0, "model %zu: y differs run to run", k);
        ck_assert_msg(memcmp(dw3, dw3b, nw * sizeof *dw3) == 0, "model %zu: dw differs run to run",
                      k);
        free(y1), free(dw1), free(y3), free(dw3), free(y3b), free(dw3b);
    }
}
END_TEST

/* Finite differences with the batch split between 3 threads. */
START_TEST(test_gradcheck_threads)
{
    parallel_set_threads(3);
    check_model("layers:\n"
                "  - Conv2D: {filters: 3, kernel_size: 2, activation: tanh, input_shape: [5, 5, 2]}\n"
                "  - Conv2D: {filters: 2, kernel_size: 1, strides: 1}\n"
                "  - Flatten\n"
                "  - Dense: {units: 3, activation: tanh}\n"
                "compile: {loss: mse}\n",
                6, true, "conv split over 3 threads");
    check_model("layers:\n"
                "  - LSTM: {units: 4, return_sequences: true, input_shape: [3, 2]}\n"
                "  - GRU: {units: 3, return_sequences: true}\n"
                "  - SimpleRNN: {units: 2}\n"
                "compile: {loss: mse}\n",
                6, true, "recurrent steps split over 3 threads");
    parallel_set_threads(1);
}
END_TEST

static Suite *threads_suite(void)
{
    Suite *s = suite_create("threads");
    TCase *tc = tcase_create("pool gemm");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_gemm_splits);
    tcase_add_test(tc, test_gemm_concurrent);
    tcase_add_test(tc, test_colsums);
    tcase_add_test(tc, test_models_threads);
    tcase_add_test(tc, test_gradcheck_threads);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(threads_suite());
}
