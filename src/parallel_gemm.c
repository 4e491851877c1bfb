/* Splitting a matrix product between the pool's threads (see
 * parallel_gemm.h). Each chunk is one single-threaded cblas_sgemm on a
 * block: rows [m0, m1) of C read the same rows of op(A) and all of op(B);
 * columns [n0, n1) read all of op(A); a K range reads its columns of op(A)
 * and rows of op(B) and writes a partial product. Rows are split when C
 * has at least as many rows as columns (each chunk then re-packs op(B),
 * the smaller operand's share), columns otherwise; K when it is much the
 * longest dimension (a weight gradient summed over a batch of positions)
 * and the partial products fit the reserved scratch. */
#include "parallel_gemm.h"

#include <cblas.h>
#include <string.h>

#include "parallel.h"
#include "simd.h"

/* Below this many multiply-adds (~40-80 us on one core) a product is not
 * split: handing half of it to another thread costs about what it saves.
 * Measured with bench/step.c at 2 threads: the seed's MLP (its 128 x 64 x 64
 * products are 2^19) trains at 1.37-1.40M samples/s with them split and
 * 1.82-1.90M unsplit; the bench MLP, CNN and LSTM have no product in
 * between (theirs are far larger, or inside the batch split). */
#define MIN_SPLIT ((size_t)1 << 20)
/* Rows and columns are split at multiples of UNIT (OpenBLAS's SkylakeX
 * and Haswell kernels work on 16 x 4 and 8 x 8 blocks of C); K at multiples
 * of K_UNIT. */
#define UNIT 16
#define K_UNIT 64

enum split { BY_ROWS, BY_COLS, BY_K };

struct gemm_job {
    bool ta, tb;
    size_t M, N, K;
    float alpha, beta;
    const float *A, *B, *bias;
    size_t lda, ldb, ldc;
    float *C;
    enum split split;
};

void gemm_serial(bool ta, bool tb, size_t M, size_t N, size_t K, float alpha, const float *A,
                 size_t lda, const float *B, size_t ldb, float beta, float *C, size_t ldc)
{
    if (M == 0 || N == 0)
        return;
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                (int)M, (int)N, (int)K, alpha, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
}

/* C block (rows, cols) = bias[0..cols) on every row. */
static void fill_bias(float *C, size_t ldc, size_t rows, size_t cols, const float *bias)
{
    for (size_t r = 0; r < rows; r++)
        memcpy(C + r * ldc, bias, cols * sizeof *C);
}

static void gemm_chunk(void *ctx, size_t k, size_t u0, size_t u1)
{
    const struct gemm_job *j = ctx;
    float beta = j->bias ? 1.0f : j->beta;
    switch (j->split) {
    case BY_ROWS: {
        size_t m0 = u0 * UNIT, m1 = u1 * UNIT < j->M ? u1 * UNIT : j->M;
        float *C = j->C + m0 * j->ldc;
        if (j->bias)
            fill_bias(C, j->ldc, m1 - m0, j->N, j->bias);
        gemm_serial(j->ta, j->tb, m1 - m0, j->N, j->K, j->alpha,
                    j->ta ? j->A + m0 : j->A + m0 * j->lda, j->lda, j->B, j->ldb, beta, C,
                    j->ldc);
        break;
    }
    case BY_COLS: {
        size_t n0 = u0 * UNIT, n1 = u1 * UNIT < j->N ? u1 * UNIT : j->N;
        float *C = j->C + n0;
        if (j->bias)
            fill_bias(C, j->ldc, j->M, n1 - n0, j->bias + n0);
        gemm_serial(j->ta, j->tb, j->M, n1 - n0, j->K, j->alpha, j->A, j->lda,
                    j->tb ? j->B + n0 * j->ldb : j->B + n0, j->ldb, beta, C, j->ldc);
        break;
    }
    case BY_K: {
        size_t k0 = u0 * K_UNIT, k1 = u1 * K_UNIT < j->K ? u1 * K_UNIT : j->K;
        const float *A = j->ta ? j->A + k0 * j->lda : j->A + k0;
        const float *B = j->tb ? j->B + k0 : j->B + k0 * j->ldb;
        if (k == 0) {
            if (j->bias)
                fill_bias(j->C, j->ldc, j->M, j->N, j->bias);
            gemm_serial(j->ta, j->tb, j->M, j->N, k1 - k0, j->alpha, A, j->lda, B, j->ldb, beta,
                        j->C, j->ldc);
        } else {
            gemm_serial(j->ta, j->tb, j->M, j->N, k1 - k0, j->alpha, A, j->lda, B, j->ldb, 0.0f,
                        parallel_scratch(k), j->N);
        }
        break;
    }
    }
}

static void gemm_run(struct gemm_job *j)
{
    size_t M = j->M, N = j->N, K = j->K, big = M > N ? M : N;
    size_t T = (size_t)parallel_threads();
    if (T > 1 && !parallel_inside() && M * N * K >= MIN_SPLIT) {
        size_t k_chunks = parallel_scratch_chunks(M * N);
        if (K >= 8 * big && K >= 2 * K_UNIT && k_chunks >= 2) {
            j->split = BY_K;
            size_t chunks = parallel_for_k((K + K_UNIT - 1) / K_UNIT, 1, k_chunks, gemm_chunk, j);
            /* C += the partial products, in chunk order. */
            for (size_t c = 1; c < chunks; c++) {
                const float *p = parallel_scratch(c);
                for (size_t r = 0; r < M; r++)
                    for (size_t o = 0; o < N; o++)
                        j->C[r * j->ldc + o] += p[r * N + o];
            }
            return;
        }
        if (big >= 2 * UNIT) {
            j->split = M >= N ? BY_ROWS : BY_COLS;
            parallel_for_k((big + UNIT - 1) / UNIT, 1, 0, gemm_chunk, j);
            return;
        }
    }
    j->split = BY_ROWS; /* one chunk: all the rows */
    gemm_chunk(j, 0, 0, (M + UNIT - 1) / UNIT);
}

void gemm_parallel(bool ta, bool tb, size_t M, size_t N, size_t K, float alpha, const float *A,
                   size_t lda, const float *B, size_t ldb, float beta, float *C, size_t ldc)
{
    struct gemm_job j = {.ta = ta, .tb = tb, .M = M, .N = N, .K = K, .alpha = alpha,
                         .beta = beta, .A = A, .B = B, .lda = lda, .ldb = ldb, .C = C,
                         .ldc = ldc};
    gemm_run(&j);
}

void gemm_parallel_bias(bool ta, bool tb, size_t M, size_t N, size_t K, const float *A,
                        size_t lda, const float *B, size_t ldb, const float *bias, float *C,
                        size_t ldc)
{
    struct gemm_job j = {.ta = ta, .tb = tb, .M = M, .N = N, .K = K, .alpha = 1.0f,
                         .beta = 0.0f, .A = A, .B = B, .bias = bias, .lda = lda, .ldb = ldb,
                         .C = C, .ldc = ldc};
    gemm_run(&j);
}

struct colsum_job {
    const float *z;
    size_t rows, n, ldz;
    float *out;
};

SIMD_CLONES static void colsum_chunk(void *ctx, size_t u0, size_t u1)
{
    const struct colsum_job *j = ctx;
    size_t o0 = u0 * UNIT, o1 = u1 * UNIT < j->n ? u1 * UNIT : j->n;
    for (size_t r = 0; r < j->rows; r++) {
        const float *row = j->z + r * j->ldz;
        for (size_t o = o0; o < o1; o++)
            j->out[o] += row[o];
    }
}

void colsums_parallel(const float *z, size_t rows, size_t n, size_t ldz, float *out)
{
    struct colsum_job j = {z, rows, n, ldz, out};
    size_t units = (n + UNIT - 1) / UNIT;
    /* ~32k additions at least per chunk */
    size_t grain = 1 + ((size_t)1 << 15) / (rows * UNIT + 1);
    parallel_for(units, grain, colsum_chunk, &j);
}
