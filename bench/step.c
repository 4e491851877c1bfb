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
 * gradient as train.c does when every weight is trainable. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "blas_select.h"
#include "model.h"
#include "model_file.h"
#include "optim.h"
#include "parallel.h"
#include "rng.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL.yaml [THREADS [BATCH [SCALE [CLASSES]]]]\n", argv[0]);
        return 2;
    }
    blas_select_kernels(argv);
    int threads = argc > 2 ? atoi(argv[2]) : 1;
    size_t B = argc > 3 ? (size_t)atol(argv[3]) : 128;
    double scale = argc > 4 ? atof(argv[4]) : 255;
    size_t classes = argc > 5 ? (size_t)atol(argv[5]) : 10;
    openblas_set_num_threads(threads);
    parallel_set_threads(threads);
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
    size_t n_in = shape_size(&m.inputs[0]->out);
    float *x = malloc(B * n_in * sizeof *x), *y = malloc(B * sizeof *y);
    for (size_t i = 0; i < B * n_in; i++)
        x[i] = (float)(rng_uniform(&r) * scale);
    for (size_t i = 0; i < B; i++)
        y[i] = (float)rng_below(&r, classes);
    const struct optimizer *o = &m.compile.optimizer;
    float *state = calloc(optim_n_slots(o) * m.n_weights + 1, sizeof *state);
    optim_init_state(o, state, m.n_weights);
    struct optim_var all = {0, m.n_weights};
    double best = 1e9, best_f = 1e9, best_b = 1e9, best_u = 1e9;
    long it = 0;
    for (int rep = 0; rep < 60; rep++) {
        double f = 0, b = 0, u = 0, t0 = now();
        for (int s = 0; s < 10; s++) {
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
        }
        double t = (now() - t0) / 10;
        best = t < best ? t : best;
        best_f = f / 10 < best_f ? f / 10 : best_f;
        best_b = b / 10 < best_b ? b / 10 : best_b;
        best_u = u / 10 < best_u ? u / 10 : best_u;
    }
    printf("step %.3f ms (forward %.3f, backward %.3f, update %.3f): %.0f samples/s\n", best * 1e3,
           best_f * 1e3, best_b * 1e3, best_u * 1e3, (double)B / best);
    free(x);
    free(y);
    free(state);
    model_free(&m);
    model_file_close(&mf);
    return 0;
}
