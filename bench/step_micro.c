/* step_micro: the wall time of one training step's forward and backward
 * passes (no optimizer, no data input) of a model file at batch 128, at a
 * given thread count: for measuring how the layers' work splits between
 * threads on a machine that other jobs share (the minimum over many steps
 * is close to what a quiet machine gives).
 *
 *   make && cc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -Isrc $(pkg-config --cflags openblas) \
 *       bench/step_micro.c build/libnnc.a -o build/step_micro \
 *       $(pkg-config --libs openblas yaml-0.1) -lcsv -lz -lm -lpthread
 *   build/step_micro MODEL.yaml [THREADS] [STEPS]     (default 2 threads, 100 steps)
 *
 * Inputs are uniform in [0, 255) (the bench models rescale them), targets
 * uniform class numbers 0..9 (sparse_categorical_crossentropy). Prints the
 * minimum and median milliseconds per step, the samples/s they give, and
 * the median process CPU time per step. Like nnc, it picks OpenBLAS's
 * kernels (src/blas_select.c) and flushes denormals to zero. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#if defined(__SSE2__)
#include <xmmintrin.h>
#endif

#include "blas_select.h"
#include "diag.h"
#include "model.h"
#include "model_file.h"
#include "parallel.h"
#include "rng.h"

enum { B = 128 };

static double now_ms(clockid_t clock)
{
    struct timespec t;
    clock_gettime(clock, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: step_micro MODEL.yaml [THREADS] [STEPS]\n");
        return 2;
    }
    blas_select_kernels(argv); /* OpenBLAS's kernels as nnc picks them */
#if defined(__SSE2__)
    _mm_setcsr(_mm_getcsr() | 0x8040); /* flush denormals to zero, as nnc does */
#endif
    int threads = argc > 2 ? atoi(argv[2]) : 2, steps = argc > 3 ? atoi(argv[3]) : 100;
    if (threads < 1 || steps < 1)
        return 2;
    parallel_set_threads(threads);
    struct model m;
    struct model_file mf;
    struct diag d = {{0}};
    if (model_load(argv[1], &m, &mf, &d) < 0) {
        fprintf(stderr, "step_micro: %s\n", d.msg);
        return 1;
    }
    model_workspace(&m, B);
    struct rng r;
    rng_seed(&r, 1);
    model_init_weights(&m, &r);
    size_t n_in = B * model_inputs_size(&m), n_t = B * model_targets_size(&m);
    float *x = model_input(&m), *t = malloc(n_t * sizeof *t);
    double *wall = malloc(steps * sizeof *wall), *cpu = malloc(steps * sizeof *cpu);
    if (!t || !wall || !cpu)
        return 1;
    for (size_t i = 0; i < n_in; i++)
        x[i] = (float)(255 * rng_uniform(&r));
    for (size_t i = 0; i < n_t; i++)
        t[i] = (float)(int)(10 * rng_uniform(&r));
    for (int k = -5; k < steps; k++) { /* 5 warm-up steps */
        double c0 = now_ms(CLOCK_PROCESS_CPUTIME_ID), t0 = now_ms(CLOCK_MONOTONIC);
        model_forward(&m, B, true, &r);
        model_backward(&m, B, t);
        double t1 = now_ms(CLOCK_MONOTONIC), c1 = now_ms(CLOCK_PROCESS_CPUTIME_ID);
        if (k >= 0)
            wall[k] = t1 - t0, cpu[k] = c1 - c0;
    }
    qsort(wall, steps, sizeof *wall, cmp);
    qsort(cpu, steps, sizeof *cpu, cmp);
    printf("%s, batch %d, %d thread(s), %d steps: min %.3f ms (%.0f/s), median %.3f ms "
           "(%.0f/s), cpu %.3f ms\n",
           argv[1], B, threads, steps, wall[0], B * 1e3 / wall[0], wall[steps / 2],
           B * 1e3 / wall[steps / 2], cpu[steps / 2]);
    free(t), free(wall), free(cpu);
    model_free(&m);
    model_file_close(&mf);
    return 0;
}
