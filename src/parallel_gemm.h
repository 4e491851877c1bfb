/* Matrix products on nnc's pool (parallel.h): C = alpha op(A) op(B) +
 * beta C as cblas_sgemm computes it (row-major), split between the threads
 * by rows of C, by columns of C, or over the inner dimension K with
 * per-chunk partial products (parallel_scratch) added in chunk order. The
 * split is chosen from the shape, the thread count and the reserved
 * scratch only, so a result is the same run to run at a given thread
 * count. With one thread, inside a parallel region or for a small product
 * it is one cblas_sgemm in the calling thread. Owns no memory. */
#ifndef NNC_PARALLEL_GEMM_H
#define NNC_PARALLEL_GEMM_H

#include <stdbool.h>
#include <stddef.h>

/* op(A) (M, K): A stored (M, K), or with ta its transpose stored (K, M);
 * op(B) (K, N): B stored (K, N), or with tb stored (N, K); C (M, N); lda,
 * ldb, ldc are the stored row lengths. */
void gemm_parallel(bool ta, bool tb, size_t M, size_t N, size_t K, float alpha, const float *A,
                   size_t lda, const float *B, size_t ldb, float beta, float *C, size_t ldc);
/* C = op(A) op(B) + bias, bias (N) added to every row (NULL: none). */
void gemm_parallel_bias(bool ta, bool tb, size_t M, size_t N, size_t K, const float *A,
                        size_t lda, const float *B, size_t ldb, const float *bias, float *C,
                        size_t ldc);
/* out[o] += sum over rows r of z[r * ldz + o], o < n (a bias gradient):
 * columns split between the threads, each summed over the rows in order,
 * so the bits are those of the plain loop at any thread count. */
void colsums_parallel(const float *z, size_t rows, size_t n, size_t ldz, float *out);
/* The same as one cblas_sgemm in the calling thread (for the chunks of a
 * caller's own parallel_for). */
void gemm_serial(bool ta, bool tb, size_t M, size_t N, size_t K, float alpha, const float *A,
                 size_t lda, const float *B, size_t ldb, float beta, float *C, size_t ldc);

#endif
