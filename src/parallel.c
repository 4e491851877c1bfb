/* The fork-join pool (see parallel.h). One job at a time: the caller
 * publishes (fn, ctx, n, chunks) under the mutex, bumps the generation and
 * wakes the workers; then every thread, the caller included, claims the
 * next unclaimed chunk under the mutex and runs it, until none is left;
 * the caller returns when all are finished. A worker that is slow to wake
 * (the machine is busy) so leaves its chunk to the others instead of
 * holding the job up. Which thread runs a chunk changes nothing in the
 * result: chunk k's range (and its scratch) depend only on n and the
 * chunk count. The per-chunk scratch blocks are one allocation owned here,
 * kept for the process. */
#include "parallel.h"

#include <cblas.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "diag.h"

#define MAX_THREADS 256

static struct {
    pthread_mutex_t lock;
    pthread_cond_t start, done;
    int threads;         /* wanted, caller included */
    int workers;         /* started */
    pthread_t ids[MAX_THREADS];
    _Atomic unsigned long generation; /* of the current job */
    parallel_fn_k fn;
    void *ctx;
    size_t n, chunks;
    size_t next;         /* the next chunk to claim */
    _Atomic size_t finished; /* chunks done */
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER, .start = PTHREAD_COND_INITIALIZER,
          .done = PTHREAD_COND_INITIALIZER, .threads = 1};

static _Thread_local bool inside;

static void chunk_range(size_t n, size_t chunks, size_t k, size_t *begin, size_t *end)
{
    *begin = n * k / chunks;
    *end = n * (k + 1) / chunks;
}

/* Claims and runs job `gen`'s chunks until none is left. Called, and
 * returns, with the lock held. */
static void run_chunks(unsigned long gen)
{
    while (pool.generation == gen && pool.next < pool.chunks) {
        size_t k = pool.next++, begin, end;
        parallel_fn_k fn = pool.fn;
        void *ctx = pool.ctx;
        chunk_range(pool.n, pool.chunks, k, &begin, &end);
        pthread_mutex_unlock(&pool.lock);
        fn(ctx, k, begin, end);
        pthread_mutex_lock(&pool.lock);
        if (++pool.finished == pool.chunks)
            pthread_cond_signal(&pool.done);
    }
}

/* Before sleeping on a condition variable, a thread that waits (a worker
 * for the next job, the caller for the other chunks) polls for up to
 * SPIN_NS: jobs come in quick succession (a recurrent layer's steps are
 * ~100 us each), and a sleeping thread takes tens of microseconds to wake.
 * Measured on 2 idle cores, 2 threads: LSTM(128) training 7.8-8.1k
 * samples/s without polling, 9.9-11.5k with 50 us, 11.7k with 200 us; the
 * MLP 31-33k, 37-40k, 39-41k. Called without the lock. */
#define SPIN_NS 200000

static long elapsed_ns(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (t.tv_sec - t0->tv_sec) * 1000000000L + (t.tv_nsec - t0->tv_nsec);
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Until a new job is published (or the time is up). */
static void spin_for_job(unsigned long seen)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do
        for (int i = 0; i < 64; i++) {
            if (atomic_load(&pool.generation) != seen)
                return;
            cpu_relax();
        }
    while (elapsed_ns(&t0) < SPIN_NS);
}

/* Until `chunks` chunks are finished, as long as some finish in time. */
static void spin_for_chunks(size_t chunks)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    size_t last = atomic_load(&pool.finished);
    while (last < chunks) {
        for (int i = 0; i < 64; i++)
            cpu_relax();
        size_t f = atomic_load(&pool.finished);
        if (f != last) {
            last = f;
            clock_gettime(CLOCK_MONOTONIC, &t0);
        } else if (elapsed_ns(&t0) >= SPIN_NS) {
            return;
        }
    }
}

static void *worker(void *arg)
{
    unsigned long seen = (unsigned long)(size_t)arg;
    inside = true;
    pthread_mutex_lock(&pool.lock);
    for (;;) {
        if (pool.generation == seen) {
            pthread_mutex_unlock(&pool.lock);
            spin_for_job(seen);
            pthread_mutex_lock(&pool.lock);
        }
        while (pool.generation == seen)
            pthread_cond_wait(&pool.start, &pool.lock);
        seen = pool.generation;
        run_chunks(seen);
    }
    return NULL;
}

void parallel_set_threads(int n)
{
    pool.threads = n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : n;
    /* OpenBLAS's own pool would compete with this one for the cores (its
     * idle workers spin in sched_yield): its calls run in the calling
     * thread, and the callers split the work (parallel_gemm.h). Debian's
     * libopenblas0-pthread is built with USE_THREAD=1, which keeps its
     * shared state (memory.c's buffers) under locks, so concurrent calls
     * from several threads are safe since 0.3.7 (OpenBLAS issues #2126 and
     * #1844, pull request #2136; USAGE.md "How can I use OpenBLAS in
     * multi-threaded applications?": set it to one thread). */
    openblas_set_num_threads(1);
}

int parallel_threads(void) { return pool.threads; }

bool parallel_inside(void) { return inside; }

size_t parallel_for_k(size_t n, size_t grain, size_t max_chunks, parallel_fn_k fn, void *ctx)
{
    if (n == 0)
        return 0;
    if (grain == 0)
        grain = 1;
    size_t chunks = (size_t)pool.threads;
    if (chunks > n / grain)
        chunks = n / grain;
    if (max_chunks && chunks > max_chunks)
        chunks = max_chunks;
    if (chunks <= 1 || inside) {
        fn(ctx, 0, 0, n);
        return 1;
    }
    pthread_mutex_lock(&pool.lock);
    /* Workers are started on first need and live for the process; a new
     * one has seen every job so far. */
    while ((size_t)pool.workers + 1 < chunks) {
        pthread_t id;
        if (pthread_create(&id, NULL, worker, (void *)(size_t)pool.generation) != 0)
            break;
        pthread_detach(id);
        pool.ids[pool.workers++] = id;
    }
    /* Chunks without a worker (pthread_create failed) are claimed by the
     * others: the split stays the same. */
    pool.fn = fn;
    pool.ctx = ctx;
    pool.n = n;
    pool.chunks = chunks;
    pool.next = 0;
    pool.finished = 0;
    pool.generation++;
    pthread_cond_broadcast(&pool.start);
    inside = true;
    run_chunks(pool.generation);
    inside = false;
    if (pool.finished < chunks) {
        pthread_mutex_unlock(&pool.lock);
        spin_for_chunks(chunks);
        pthread_mutex_lock(&pool.lock);
    }
    while (pool.finished < chunks)
        pthread_cond_wait(&pool.done, &pool.lock);
    pthread_mutex_unlock(&pool.lock);
    return chunks;
}

struct plain_job {
    parallel_fn fn;
    void *ctx;
};

static void plain_chunk(void *ctx, size_t k, size_t begin, size_t end)
{
    const struct plain_job *j = ctx;
    (void)k;
    j->fn(j->ctx, begin, end);
}

void parallel_for(size_t n, size_t grain, parallel_fn fn, void *ctx)
{
    struct plain_job j = {fn, ctx};
    parallel_for_k(n, grain, 0, plain_chunk, &j);
}

struct zero_job {
    float *p;
};

static void zero_chunk(void *ctx, size_t begin, size_t end)
{
    const struct zero_job *j = ctx;
    memset(j->p + begin, 0, (end - begin) * sizeof *j->p);
}

void parallel_zero(float *p, size_t n)
{
    struct zero_job j = {p};
    parallel_for(n, (size_t)1 << 14, zero_chunk, &j);
}

/* ---- per-thread scratch --------------------------------------------------- */

static struct {
    float *block; /* slots + 1 blocks of `floats`, chunk 0's first */
    size_t floats, slots;
} scratch;

int parallel_reserve(size_t floats)
{
    size_t slots = (size_t)pool.threads - 1;
    if (scratch.block && floats <= scratch.floats && slots <= scratch.slots)
        return 0;
    if (floats < scratch.floats)
        floats = scratch.floats;
    if (slots < scratch.slots)
        slots = scratch.slots;
    if (floats > ((size_t)1 << 40) / (slots + 1))
        return -1;
    float *b = realloc(scratch.block, (floats ? floats : 1) * (slots + 1) * sizeof *b);
    if (!b)
        return -1;
    scratch.block = b;
    scratch.floats = floats;
    scratch.slots = slots;
    return 0;
}

size_t parallel_scratch_chunks(size_t floats)
{
    return scratch.block && floats <= scratch.floats ? scratch.slots + 1 : 1;
}

float *parallel_scratch(size_t k)
{
    NNC_ASSERT(scratch.block && k <= scratch.slots);
    return scratch.block + k * scratch.floats;
}

void parallel_for_samples(size_t n, size_t floats, parallel_fn fn, void *ctx)
{
    parallel_for(n, 1 + (1u << 15) / (floats + 1), fn, ctx);
}
