/* gemm: the machine's cblas_sgemm peak and the GEMM-only ceiling of an MLP
 * training step, for bench/run. Picks OpenBLAS's kernels as nnc does
 * (blas_select_kernels), then for each thread count:
 *   peak  C = A B on N x N single-precision matrices (beta 0), best of R
 *         calls after a warm-up: 2 N^3 / seconds.
 *   mlp   the sgemm calls of one training step of the MLP I-H1-...-O at
 *         batch B, with nnc's shapes, transposes and beta (src/layers/dense.c,
 *         row-major; the bias is preloaded into z, so beta is 1 throughout):
 *           forward, per layer   z (B x O) += x (B x I) W (I x O)      NN
 *           dW, per layer        dW (I x O) += x^T dz                   TN
 *           dX, all but layer 0  dx (B x I) += dz W^T                   NT
 *         (the first layer's input gradient is never needed), timed alone:
 *         best of R blocks of S steps; samples/s = B / seconds per step.
 * Nothing else of the step (bias, activations, loss, Adam) is timed, so the
 * samples/s is a ceiling no implementation built on these sgemm calls can
 * pass at this thread count.
 *   mlp_pool  the same calls as nnc makes them: OpenBLAS at one thread and
 *         each product split between nnc's pool of T threads
 *         (src/parallel_gemm.c), so that the two ways of using T threads are
 *         compared in the same run.
 *
 *   make && cc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -Isrc $(pkg-config --cflags openblas) \
 *       bench/gemm.c build/libnnc.a -o build/bench-gemm $(pkg-config --libs openblas) -lm -lpthread
 *   build/bench-gemm [--threads "1 2"] [--size N] [--repeats R] [--steps S]
 *                    [--mlp 784,512,256,10] [--batch B]
 *
 * --size 0 skips the peak (bench/suite.py times the ceiling alone, over as
 * many steps as a training epoch, right before and after nnc trains (b)).
 *
 * Prints one JSON object per line on stdout:
 *   {"kind": "peak", "threads": T, "n": N, "seconds": s, "gflops": g}
 *   {"kind": "mlp", "threads": T, "batch": B, "layers": "784,512,256,10",
 *    "flop_per_step": f, "seconds": s, "samples_per_s": r, "gflops": g}
 *   {"kind": "mlp_pool", ... the same fields}
 * and first {"kind": "core", "core": "SkylakeX", "config": "..."}. Buffers
 * are freed at exit by the OS (a one-shot benchmark). */
#include <cblas.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "blas_select.h"
#include "parallel.h"
#include "parallel_gemm.h"

char *openblas_get_corename(void);
char *openblas_get_config(void);

enum { MAX_LAYERS = 16 };

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* n floats uniform in [-1, 1) from a fixed LCG; exits when out of memory. */
static float *random_floats(size_t n, unsigned *state)
{
    float *p = malloc(n * sizeof *p);
    if (!p) {
        fprintf(stderr, "gemm: out of memory (%zu floats)\n", n);
        exit(1);
    }
    for (size_t i = 0; i < n; i++) {
        *state = *state * 1664525u + 1013904223u;
        p[i] = (float)(*state >> 8) / (float)(1u << 23) - 1.0f;
    }
    return p;
}

static void peak(int threads, int n, int repeats)
{
    unsigned s = 1;
    float *a = random_floats((size_t)n * n, &s), *b = random_floats((size_t)n * n, &s);
    float *c = random_floats((size_t)n * n, &s);
    double best = 1e30;
    for (int r = 0; r <= repeats; r++) { /* r == 0: warm-up */
        double t0 = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        double t = now() - t0;
        if (r > 0 && t < best)
            best = t;
    }
    printf("{\"kind\": \"peak\", \"threads\": %d, \"n\": %d, \"seconds\": %.6f, \"gflops\": %.2f}\n",
           threads, n, best, 2.0 * n * n * (double)n / best / 1e9);
    free(a);
    free(b);
    free(c);
}

/* The step's buffers: per layer l (n_in = dims[l], n_out = dims[l + 1]) its input
 * x (B x n_in), weights W and dW (n_in x n_out), output z and its gradient
 * dz (B x n_out), and the input gradient dx (B x n_in). Inputs are fixed random values (the
 * outputs only accumulate, so nothing grows out of range). */
struct mlp {
    int n_layers, batch, dims[MAX_LAYERS + 1];
    float *x[MAX_LAYERS], *w[MAX_LAYERS], *dw[MAX_LAYERS], *z[MAX_LAYERS], *dz[MAX_LAYERS],
        *dx[MAX_LAYERS];
};

/* The same products through nnc's pool (parallel_gemm.h). */
static void mlp_step_pool(struct mlp *m)
{
    const size_t B = (size_t)m->batch;
    for (int l = 0; l < m->n_layers; l++) {
        size_t n_in = (size_t)m->dims[l], n_out = (size_t)m->dims[l + 1];
        gemm_parallel(false, false, B, n_out, n_in, 1.0f, m->x[l], n_in, m->w[l], n_out, 1.0f,
                      m->z[l], n_out);
    }
    for (int l = m->n_layers - 1; l >= 0; l--) {
        size_t n_in = (size_t)m->dims[l], n_out = (size_t)m->dims[l + 1];
        gemm_parallel(true, false, n_in, n_out, B, 1.0f, m->x[l], n_in, m->dz[l], n_out, 1.0f,
                      m->dw[l], n_out);
        if (l > 0)
            gemm_parallel(false, true, B, n_in, n_out, 1.0f, m->dz[l], n_out, m->w[l], n_out, 1.0f,
                          m->dx[l], n_in);
    }
}

static void mlp_step(struct mlp *m)
{
    const int B = m->batch;
    for (int l = 0; l < m->n_layers; l++) {
        int n_in = m->dims[l], n_out = m->dims[l + 1];
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, n_out, n_in, 1.0f, m->x[l], n_in,
                    m->w[l], n_out, 1.0f, m->z[l], n_out);
    }
    for (int l = m->n_layers - 1; l >= 0; l--) {
        int n_in = m->dims[l], n_out = m->dims[l + 1];
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n_in, n_out, B, 1.0f, m->x[l], n_in,
                    m->dz[l], n_out, 1.0f, m->dw[l], n_out);
        if (l > 0)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, n_in, n_out, 1.0f, m->dz[l], n_out,
                        m->w[l], n_out, 1.0f, m->dx[l], n_in);
    }
}

static void mlp_ceiling(struct mlp *m, const char *spec, int threads, int repeats, int steps,
                        bool pool)
{
    double flop = 0;
    for (int l = 0; l < m->n_layers; l++)
        flop += 2.0 * m->batch * m->dims[l] * m->dims[l + 1] * (l > 0 ? 3 : 2);
    void (*step)(struct mlp *) = pool ? mlp_step_pool : mlp_step;
    step(m); /* warm-up */
    double best = 1e30;
    for (int r = 0; r < repeats; r++) {
        double t0 = now();
        for (int s = 0; s < steps; s++)
            step(m);
        double t = (now() - t0) / steps;
        if (t < best)
            best = t;
    }
    printf("{\"kind\": \"%s\", \"threads\": %d, \"batch\": %d, \"layers\": \"%s\", "
           "\"flop_per_step\": %.0f, \"seconds\": %.7f, \"samples_per_s\": %.1f, \"gflops\": %.2f}\n",
           pool ? "mlp_pool" : "mlp", threads, m->batch, spec, flop, best, m->batch / best,
           flop / best / 1e9);
}

static void mlp_alloc(struct mlp *m)
{
    unsigned s = 2;
    for (int l = 0; l < m->n_layers; l++) {
        size_t n_in = (size_t)m->dims[l], n_out = (size_t)m->dims[l + 1], B = (size_t)m->batch;
        m->x[l] = random_floats(B * n_in, &s);
        m->w[l] = random_floats(n_in * n_out, &s);
        m->dw[l] = random_floats(n_in * n_out, &s);
        m->z[l] = random_floats(B * n_out, &s);
        m->dz[l] = random_floats(B * n_out, &s);
        m->dx[l] = random_floats(B * n_in, &s);
    }
}

static int parse_int(const char *s, const char *what, int lo, int hi)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "gemm: %s: '%s' is not an integer in [%d, %d]\n", what, s, lo, hi);
        exit(2);
    }
    return (int)v;
}

int main(int argc, char **argv)
{
    blas_select_kernels(argv);
    const char *threads = "1 2", *spec = "784,512,256,10";
    int n = 2048, repeats = 5, steps = 20;
    struct mlp m = {.batch = 128};
    for (int i = 1; i < argc; i += 2) { /* options come with a value */
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            puts("usage: bench-gemm [--threads \"1 2\"] [--size N (0: no peak)] [--repeats R] "
                 "[--steps S] [--mlp 784,512,256,10] [--batch B]");
            return 0;
        }
        if (!v) {
            fprintf(stderr, "gemm: unknown option or missing value: %s\n", a);
            return 2;
        }
        if (!strcmp(a, "--threads"))
            threads = v;
        else if (!strcmp(a, "--size"))
            n = parse_int(v, a, 0, 16384);
        else if (!strcmp(a, "--repeats"))
            repeats = parse_int(v, a, 1, 1000);
        else if (!strcmp(a, "--steps"))
            steps = parse_int(v, a, 1, 100000);
        else if (!strcmp(a, "--mlp"))
            spec = v;
        else if (!strcmp(a, "--batch"))
            m.batch = parse_int(v, a, 1, 65536);
        else {
            fprintf(stderr, "gemm: unknown option %s\n", a);
            return 2;
        }
    }

    /* The layer sizes: comma-separated, at least two. */
    char buf[256];
    snprintf(buf, sizeof buf, "%s", spec);
    int n_dims = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (n_dims > MAX_LAYERS) {
            fprintf(stderr, "gemm: --mlp: more than %d layers\n", MAX_LAYERS);
            return 2;
        }
        m.dims[n_dims++] = parse_int(tok, "--mlp", 1, 65536);
    }
    if (n_dims < 2) {
        fprintf(stderr, "gemm: --mlp: at least two sizes (input, output)\n");
        return 2;
    }
    m.n_layers = n_dims - 1;
    mlp_alloc(&m);

    printf("{\"kind\": \"core\", \"core\": \"%s\", \"config\": \"%s\"}\n", openblas_get_corename(),
           openblas_get_config());
    snprintf(buf, sizeof buf, "%s", threads);
    for (char *save = NULL, *tok = strtok_r(buf, " ,", &save); tok; tok = strtok_r(NULL, " ,", &save)) {
        int t = parse_int(tok, "--threads", 1, 1024);
        openblas_set_num_threads(t);
        if (n > 0)
            peak(t, n, repeats);
        mlp_ceiling(&m, spec, t, repeats, steps, false);
        parallel_set_threads(t); /* nnc's pool of t; OpenBLAS at one thread */
        mlp_ceiling(&m, spec, t, repeats, steps, true);
        fflush(stdout);
    }
    return 0;
}
