/* bench/step.c: the phases of one training step of a model, timed alone:
 * forward (the input copy included), backward (the loss and every layer's
 * backward), and the optimizer's update, on random data (inputs uniform in
 * [0, SCALE), integer labels below CLASSES), best of 60 blocks of 10 steps.
 * No data loading, no metrics, no callbacks: what train_fit adds on top of
 * this is the per-step overhead.
 *
 *   cc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -Isrc $(pkg-config --cflags openblas) \
 *      bench/step.c build/libnnc.a -o build/bench-step \
 *      $(pkg-config --libs openblas) -lyaml -lcsv -lz -lm -lpthread
 *   build/bench-step MODEL.yaml [THREADS [BATCH [SCALE [CLASSES]]]]
 *
 * e.g. build/bench-step bench/models/mlp.yaml 1 128 255 10, or
 * build/bench-step models/mlp_binary.yaml 1 128 1 2. The update clears the
 * gradient as train.c does when every weight is trainable. Like nnc, it
 * picks OpenBLAS's kernels (src/blas_select.c) and flushes denormals to
 * zero. A second line gives the median of the 600 steps, their mean, and
 * the process's CPU time per step: on a machine other jobs share, the best
 * block is close to what a quiet machine gives, and CPU time near the mean
 * times the thread count says the threads were busy (or spinning), not
 * descheduled. (Model files with
 * a data: section need it removed: the tool reads no data.) */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(__SSE2__)
#include <xmmintrin.h>
#endif

#include "blas_select.h"
#include "model.h"
#include "model_file.h"
#include "optim.h"
#include "parallel.h"
#include "rng.h"

static double now_on(clockid_t clock)
{
    struct timespec t;
    clock_gettime(clock, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static double now(void) { return now_on(CLOCK_MONOTONIC); }

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL.yaml [THREADS [BATCH [SCALE [CLASSES]]]]\n", argv[0]);
        return 2;
    }
    blas_select_kernels(argv);
#if defined(__SSE2__)
    _mm_setcsr(_mm_getcsr() | 0x8040); /* flush denormals to zero, as nnc does */
#endif
    int threads = argc > 2 ? atoi(argv[2]) : 1;
    size_t B = argc > 3 ? (size_t)atol(argv[3]) : 128;
    double scale = argc > 4 ? atof(argv[4]) : 255;
    size_t classes = argc > 5 ? (size_t)atol(argv[5]) : 10;
    if (threads < 1 || B < 1 || classes < 1 || scale <= 0) {
        fprintf(stderr, "%s: THREADS, BATCH, SCALE and CLASSES must be positive\n", argv[0]);
        return 2;
    }
    parallel_set_threads(threads); /* nnc's pool; OpenBLAS at one thread */
    struct model m;
    struct model_file mf;
    struct diag d = {{0}};
    if (model_load(argv[1], &m, &mf, &d) < 0) {
        fprintf(stderr, "%s\n", d.msg);
        return 1;
    }
    struct rng r;
    rng_seed(&r, 1);
    model_init_weights(&m, &r);
    model_workspace(&m, B);
    size_t n_in = shape_size(&m.inputs[0]->out), n_t = B * model_targets_size(&m);
    enum { BLOCKS = 60, STEPS = 10 };
    float *x = malloc(B * n_in * sizeof *x), *y = malloc(n_t * sizeof *y);
    double *wall = malloc(BLOCKS * STEPS * sizeof *wall);
    if (!x || !y || !wall)
        return 1;
    for (size_t i = 0; i < B * n_in; i++)
        x[i] = (float)(rng_uniform(&r) * scale);
    for (size_t i = 0; i < n_t; i++)
        y[i] = (float)rng_below(&r, classes);
    const struct optimizer *o = &m.compile.optimizer;
    float *state = calloc(optim_n_slots(o) * m.n_weights + 1, sizeof *state);
    optim_init_state(o, state, m.n_weights);
    struct optim_var all = {0, m.n_weights};
    double best = 1e9, best_f = 1e9, best_b = 1e9, best_u = 1e9;
    long it = 0;
    double cpu0 = now_on(CLOCK_PROCESS_CPUTIME_ID), wall0 = now();
    for (int rep = 0; rep < BLOCKS; rep++) {
        double f = 0, b = 0, u = 0, t0 = now();
        for (int s = 0; s < STEPS; s++) {
            double q0 = now();
            memcpy(m.inputs[0]->y, x, B * n_in * sizeof *x);
            model_forward(&m, B, true, &r);
            double q1 = now();
            model_backward_outputs(&m, B, y, NULL, NULL);
            double q2 = now();
            optim_update_clear(o, m.w, m.dw, state, m.n_weights, &all, 1, it++);
            m.dw_zero = true;
            double q3 = now();
            f += q1 - q0, b += q2 - q1, u += q3 - q2;
            wall[rep * STEPS + s] = q3 - q0;
        }
        double t = (now() - t0) / STEPS;
        best = t < best ? t : best;
        best_f = f / STEPS < best_f ? f / STEPS : best_f;
        best_b = b / STEPS < best_b ? b / STEPS : best_b;
        best_u = u / STEPS < best_u ? u / STEPS : best_u;
    }
    /* The process's CPU time over all the steps (per step it would be
     * sampled: another thread's time is only brought up to date at its
     * scheduler ticks). */
    double cpu = (now_on(CLOCK_PROCESS_CPUTIME_ID) - cpu0) / (BLOCKS * STEPS);
    double mean = (now() - wall0) / (BLOCKS * STEPS);
    qsort(wall, BLOCKS * STEPS, sizeof *wall, by_value);
    printf("step %.3f ms (forward %.3f, backward %.3f, update %.3f): %.0f samples/s\n", best * 1e3,
           best_f * 1e3, best_b * 1e3, best_u * 1e3, (double)B / best);
    printf("median step %.3f ms (%.0f samples/s); mean %.3f ms, CPU time %.3f ms a step\n",
           wall[BLOCKS * STEPS / 2] * 1e3, (double)B / wall[BLOCKS * STEPS / 2], mean * 1e3,
           cpu * 1e3);
    free(x);
    free(y);
    free(wall);
    free(state);
    model_free(&m);
    model_file_close(&mf);
    return 0;
}
