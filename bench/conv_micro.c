/* conv_micro: forward + backward time of the two convolutions and the two
 * max-pools of the Fashion-MNIST CNN benchmark (Conv2D(32, 3, relu) on
 * 28x28x1, Conv2D(64, 3, relu) on 13x13x32 after a 2x2 max-pool), at batch 128,
 * calling the layers' forward and backward directly (no loss, no
 * optimizer). The first layer gets no dx (it is the model's input), the
 * second does, as in training.
 *
 *   make && cc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -Isrc $(pkg-config --cflags openblas) \
 *       bench/conv_micro.c build/libnnc.a -o build/conv_micro \
 *       $(pkg-config --libs openblas yaml-0.1) -lcsv -lz -lm -lpthread
 *   build/conv_micro [THREADS] [REPEATS]        (default 2 threads, 30 repeats)
 *
 * Prints the median wall milliseconds per batch of forward, backward and
 * both per layer, and the median process CPU time of both (on a loaded
 * machine the CPU time is the steadier figure). OpenBLAS 0.3.21 does not
 * know every CPU model and may fall back to its slow Prescott kernels
 * (OPENBLAS_VERBOSE=2 prints the core): compare OPENBLAS_CORETYPE=SkylakeX
 * (or Haswell) on such machines. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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

static void load(const char *yaml, struct model *m, struct model_file *mf)
{
    char path[] = "/tmp/conv_micro_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, yaml, strlen(yaml)) != (ssize_t)strlen(yaml) || close(fd) < 0) {
        perror("conv_micro: temporary model file");
        exit(1);
    }
    struct diag d = {{0}};
    int rc = model_load(path, m, mf, &d);
    unlink(path);
    if (rc < 0) {
        fprintf(stderr, "conv_micro: %s\n", d.msg);
        exit(1);
    }
}

/* Median forward and backward ms of the model's one conv layer. */
static void run(const char *name, const char *yaml, bool want_dx, int repeats)
{
    struct model m;
    struct model_file mf;
    load(yaml, &m, &mf);
    model_workspace(&m, B);
    struct rng r;
    rng_seed(&r, 1);
    model_init_weights(&m, &r);
    struct node *in = &m.nodes[0], *n = &m.nodes[1];
    size_t n_in = B * shape_size(&in->out), n_out = B * shape_size(&n->out);
    float *dx = calloc(n_in, sizeof *dx), *dy = malloc(n_out * sizeof *dy);
    double *tf = malloc(repeats * sizeof *tf), *tb = malloc(repeats * sizeof *tb);
    double *cpu = malloc(repeats * sizeof *cpu);
    if (!dx || !dy || !tf || !tb || !cpu)
        exit(1);
    for (size_t i = 0; i < n_in; i++)
        in->y[i] = (float)rng_uniform(&r);
    for (size_t i = 0; i < n_out; i++)
        dy[i] = (float)(rng_uniform(&r) - 0.5);
    const float *xs[1] = {in->y};
    float *dxs[1] = {want_dx ? dx : NULL};
    struct layer_call c = {.B = B, .x = xs, .y = n->y, .cache = n->cache, .dy = dy, .dx = dxs,
                           .w = m.w, .dw = m.dw, .training = true, .rng = &r};
    for (int k = -3; k < repeats; k++) { /* 3 warm-up rounds */
        double c0 = now_ms(CLOCK_PROCESS_CPUTIME_ID), t0 = now_ms(CLOCK_MONOTONIC);
        n->layer->ops->forward(n->layer, &c);
        double t1 = now_ms(CLOCK_MONOTONIC);
        n->layer->ops->backward(n->layer, &c);
        double t2 = now_ms(CLOCK_MONOTONIC), c2 = now_ms(CLOCK_PROCESS_CPUTIME_ID);
        if (k >= 0)
            tf[k] = t1 - t0, tb[k] = t2 - t1, cpu[k] = c2 - c0;
    }
    qsort(tf, repeats, sizeof *tf, cmp);
    qsort(tb, repeats, sizeof *tb, cmp);
    qsort(cpu, repeats, sizeof *cpu, cmp);
    printf("%-34s forward %6.2f  backward %6.2f  total %6.2f ms  (cpu %6.2f ms)\n", name,
           tf[repeats / 2], tb[repeats / 2], tf[repeats / 2] + tb[repeats / 2], cpu[repeats / 2]);
    free(dx), free(dy), free(tf), free(tb), free(cpu);
    model_free(&m);
    model_file_close(&mf);
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 2, repeats = argc > 2 ? atoi(argv[2]) : 30;
    if (threads < 1 || repeats < 1)
        return 2;
    parallel_set_threads(threads); /* nnc's pool; OpenBLAS at one thread */
    printf("batch %d, %d thread(s), median of %d\n", B, threads, repeats);
    run("Conv2D(32, 3, relu) 28x28x1", "layers:\n  - Conv2D: {filters: 32, kernel_size: 3, "
        "activation: relu, input_shape: [28, 28, 1]}\ncompile: {loss: mse}\n", false, repeats);
    run("Conv2D(64, 3, relu) 13x13x32, dx", "layers:\n  - Conv2D: {filters: 64, kernel_size: 3, "
        "activation: relu, input_shape: [13, 13, 32]}\ncompile: {loss: mse}\n", true, repeats);
    run("MaxPooling2D(2) 26x26x32, dx", "layers:\n  - MaxPooling2D: {pool_size: 2, "
        "input_shape: [26, 26, 32]}\ncompile: {loss: mse}\n", true, repeats);
    run("MaxPooling2D(2) 11x11x64, dx", "layers:\n  - MaxPooling2D: {pool_size: 2, "
        "input_shape: [11, 11, 64]}\ncompile: {loss: mse}\n", true, repeats);
    return 0;
}
