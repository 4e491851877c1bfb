/* nnc's one thread pool, a small fork-join one: parallel_for splits
 * [0, n) into one contiguous chunk per thread, runs them at once and
 * returns when all are done. The split depends only on n and the thread
 * count, so results are the same run to run. It serves the per-sample work
 * (im2col, pooling, normalization) and the matrix products too: OpenBLAS is
 * kept at one thread (parallel_set_threads) and called from the pool's
 * threads on parts of each product (parallel_gemm.h), so that the two
 * never compete for the cores. A parallel_for inside a parallel_for runs
 * serially in the calling thread.
 *
 * Between calls workers poll for up to 200 us, then sleep on a condition
 * variable. Any free thread runs the next unclaimed chunk, so a worker that
 * is slow to wake does not hold a call up. The pool is process-wide. */
#ifndef NNC_PARALLEL_H
#define NNC_PARALLEL_H

#include <stddef.h>

#include <stdbool.h>

typedef void (*parallel_fn)(void *ctx, size_t begin, size_t end);
/* The same with the chunk's number k (0 is the calling thread's). */
typedef void (*parallel_fn_k)(void *ctx, size_t k, size_t begin, size_t end);

/* Threads to use, the caller included (1: everything runs inline); also
 * sets OpenBLAS to one thread. Call before the first parallel_for, or
 * between calls from one thread. */
void parallel_set_threads(int n);
int parallel_threads(void);
/* Whether the calling thread is running a chunk (nested calls run inline). */
bool parallel_inside(void);
/* fn(ctx, begin, end) over a partition of [0, n). Chunks smaller than
 * `grain` items are not split further (grain 0 counts as 1). */
void parallel_for(size_t n, size_t grain, parallel_fn fn, void *ctx);
/* parallel_for over a batch of n samples of `floats` each: samples are
 * grouped so that a chunk moves at least ~32k floats (smaller chunks cost
 * more to hand out than to run). */
void parallel_for_samples(size_t n, size_t floats, parallel_fn fn, void *ctx);
/* parallel_for with at most max_chunks chunks (0: no limit) whose numbers
 * k = 0, 1, ... are given to fn; returns the number of chunks used (chunk
 * k covers [n k / chunks, n (k + 1) / chunks)). */
size_t parallel_for_k(size_t n, size_t grain, size_t max_chunks, parallel_fn_k fn, void *ctx);
/* memset(p, 0, n floats), split between the threads when large (the
 * gradient buffers cleared before each backward pass). */
void parallel_zero(float *p, size_t n);

/* Scratch for per-chunk partial results (e.g. a weight gradient summed
 * over each chunk's samples, the partial sums then added in chunk order)
 * and per-chunk work of a size fixed by a layer, not by the batch.
 * parallel_reserve, at build time, makes every chunk k of the current
 * thread count (chunk 0 included) have `floats` floats (-1: out of
 * memory); parallel_scratch_chunks(floats) is how many chunks can have
 * that much (1 when none can: then the caller works unsplit, and has
 * chunk 0's block only if it reserved it); parallel_scratch(k) is chunk
 * k's block. */
int parallel_reserve(size_t floats);
size_t parallel_scratch_chunks(size_t floats);
float *parallel_scratch(size_t k);

#endif
