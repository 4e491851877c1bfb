/* The normalization layers: BatchNormalization, LayerNormalization,
 * Normalization and Rescaling. Forward passes against values computed here
 * with naive loops (two-pass mean and variance in double, channel indices
 * from coordinates); BatchNormalization's moving statistics after one and
 * two batches; gradient checks in training and inference; the contracts
 * (accumulating backward, batch = singles at inference, exact writes);
 * parameter counts and shapes as Keras's summary shows them; Normalization's
 * adapt against the data's statistics; serialization and checkpoint round
 * trips. Malformed configurations are in tests/errors (bn_*, ln_*, norm_*,
 * rescaling_*). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../src/checkpoint.h"
#include "../src/layer.h"
#include "../src/model.h"
#include "../src/parallel.h"
#include "fixtures.h"
#include "gradcheck.h"
#include "netcheck.h"

/* ---- helpers ----------------------------------------------------------------- */

/* The index of element e of a sample in the kept dims (row-major over the
 * kept dims in order): Keras's layout of per-channel weights. */
static size_t naive_channel(const size_t *dims, const bool *kept, int rank, size_t e)
{
    size_t coord[8], ch = 0;
    for (int i = rank - 1; i >= 0; i--) {
        coord[i] = e % dims[i];
        e /= dims[i];
    }
    for (int i = 0; i < rank; i++)
        if (kept[i])
            ch = ch * dims[i] + coord[i];
    return ch;
}

/* ...and in the other dims (LayerNormalization's groups). */
static size_t naive_group(const size_t *dims, const bool *kept, int rank, size_t e)
{
    bool other[8];
    for (int i = 0; i < rank; i++)
        other[i] = !kept[i];
    return naive_channel(dims, other, rank, e);
}

static void expect_close(const float *got, const double *want, size_t n, double tol,
                         const char *what)
{
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(fabs(got[i] - want[i]) <= tol * (1 + fabs(want[i])),
                      "%s[%zu]: %.9g, want %.9g", what, i, got[i], want[i]);
}

static const float *param(const struct net *n, size_t layer, size_t p)
{
    ck_assert_uint_lt(p, n->m.layers[layer].n_params);
    return n->m.w + n->m.layers[layer].params[p].offset;
}

static char *layer_json(const struct layer *l) { return layer_json_text(l, false); }

/* ---- BatchNormalization: forward and moving statistics ------------------------ */

static const struct bn_case {
    const char *input, *axis;
    int rank;
    size_t dims[3];
    bool kept[3];
    bool fused;     /* Keras's fused path: Bessel-corrected moving variance */
    int ps_rank;
    size_t ps[4];   /* weight shape */
} bn_cases[] = {
    {"[5]", "-1", 1, {5}, {true}, false, 1, {5}},
    {"[3, 4]", "1", 2, {3, 4}, {true, false}, false, 1, {3}},
    {"[2, 3, 4]", "-1", 3, {2, 3, 4}, {false, false, true}, true, 1, {4}},
    {"[3, 2, 2]", "1", 3, {3, 2, 2}, {true, false, false}, true, 1, {3}},
    {"[2, 3, 4]", "2", 3, {2, 3, 4}, {false, true, false}, false, 1, {3}},
    {"[2, 3, 4]", "[1, 2]", 3, {2, 3, 4}, {true, true, false}, false, 4, {1, 2, 3, 1}},
};

/* Per channel: the batch's mean and biased variance (two passes, double). */
static void naive_moments(const struct bn_case *k, const float *x, size_t B, size_t C,
                          double *mean, double *var, size_t *count)
{
    size_t S = 1;
    for (int i = 0; i < k->rank; i++)
        S *= k->dims[i];
    for (size_t c = 0; c < C; c++)
        mean[c] = var[c] = 0, count[c] = 0;
    for (size_t e = 0; e < B * S; e++) {
        size_t c = naive_channel(k->dims, k->kept, k->rank, e % S);
        mean[c] += x[e];
        count[c]++;
    }
    for (size_t c = 0; c < C; c++)
        mean[c] /= (double)count[c];
    for (size_t e = 0; e < B * S; e++) {
        size_t c = naive_channel(k->dims, k->kept, k->rank, e % S);
        var[c] += (x[e] - mean[c]) * (x[e] - mean[c]);
    }
    for (size_t c = 0; c < C; c++)
        var[c] /= (double)count[c];
}

START_TEST(test_bn_forward)
{
    const struct bn_case *k = &bn_cases[_i];
    const double momentum = 0.75, eps = 0.01;
    enum { B = 5 };
    char yaml[256];
    snprintf(yaml, sizeof yaml,
             "layers:\n"
             "  - BatchNormalization: {axis: %s, momentum: %g, epsilon: %g, input_shape: %s}\n"
             "compile: {loss: mse}\n",
             k->axis, momentum, eps, k->input);
    struct net n;
    net_load(&n, yaml);
    const struct layer *l = &n.m.layers[1];
    ck_assert_uint_eq(l->n_params, 4);
    static const char *const names[] = {"gamma", "beta", "moving_mean", "moving_variance"};
    for (size_t p = 0; p < 4; p++) {
        ck_assert_str_eq(l->params[p].name, names[p]);
        ck_assert_int_eq(l->params[p].trainable, p < 2);
        ck_assert_int_eq(l->params[p].shape.rank, k->ps_rank);
        for (int i = 0; i < k->ps_rank; i++)
            ck_assert_uint_eq(l->params[p].shape.dim[i], k->ps[i]);
    }
    size_t C = shape_size(&l->params[0].shape), S = model_input_size(&n.m);
    n.B = B;
    model_workspace(&n.m, B);
    net_setup(&n, 3, 1, 4); /* jittered weights; inputs away from 0 */

    const float *gamma = param(&n, 1, 0), *beta = param(&n, 1, 1);
    const float *mm = param(&n, 1, 2), *mv = param(&n, 1, 3);
    double mean[64], var[64], want_mm[64], want_mv[64], *y = calloc(B * S, sizeof *y);
    size_t count[64];
    ck_assert_uint_le(C, 64);
    float *x = model_input(&n.m);
    for (int batch = 0; batch < 2; batch++) {
        if (batch)
            gc_fill_uniform(x, B * S, -3, 1, 99);
        naive_moments(k, x, B, C, mean, var, count);
        for (size_t c = 0; c < C; c++) {
            double v = k->fused ? var[c] * count[c] / (count[c] - 1) : var[c];
            want_mm[c] = mm[c] * momentum + mean[c] * (1 - momentum);
            want_mv[c] = mv[c] * momentum + v * (1 - momentum);
        }
        model_forward(&n.m, B, true, NULL);
        for (size_t e = 0; e < B * S; e++) {
            size_t c = naive_channel(k->dims, k->kept, k->rank, e % S);
            y[e] = (x[e] - mean[c]) / sqrt(var[c] + eps) * gamma[c] + beta[c];
        }
        expect_close(n.m.output->y, y, B * S, 1e-5, "training y");
        expect_close(mm, want_mm, C, 2e-6, "moving_mean");
        expect_close(mv, want_mv, C, 2e-6, "moving_variance");
    }
    /* Inference: the moving statistics, left unchanged. */
    model_forward(&n.m, B, false, NULL);
    for (size_t e = 0; e < B * S; e++) {
        size_t c = naive_channel(k->dims, k->kept, k->rank, e % S);
        y[e] = (x[e] - mm[c]) / sqrt(mv[c] + eps) * gamma[c] + beta[c];
    }
    expect_close(n.m.output->y, y, B * S, 1e-5, "inference y");
    expect_close(mm, want_mm, C, 2e-6, "moving_mean after inference");
    free(y);
    net_free(&n);
}
END_TEST

/* By hand: 2 features, 4 samples, Keras's defaults (momentum 0.99, epsilon
 * 0.001, gamma 1, beta 0, moving statistics 0 and 1). Batch means (3, 25),
 * biased variances (3.5, 125):
 *   moving_mean     0 -> 0.03, 0.25    -> 0.0597, 0.4975
 *   moving_variance 1 -> 1.025, 2.24   -> 1.04975, 3.4676 */
START_TEST(test_bn_hand)
{
    struct net n;
    net_load(&n, "layers:\n"
                 "  - BatchNormalization: {input_shape: [2]}\n"
                 "compile: {loss: mse}\n");
    model_workspace(&n.m, 4);
    model_init_weights(&n.m, NULL);
    static const float x[8] = {1, 10, 2, 20, 3, 30, 6, 40};
    memcpy(model_input(&n.m), x, sizeof x);
    const float *mm = param(&n, 1, 2), *mv = param(&n, 1, 3);
    model_forward(&n.m, 4, true, NULL);
    const double want1[] = {0.03, 0.25}, wantv1[] = {1.025, 2.24};
    expect_close(mm, want1, 2, 1e-6, "moving_mean after 1");
    expect_close(mv, wantv1, 2, 1e-6, "moving_variance after 1");
    const double y0[] = {-2 / sqrt(3.501), -15 / sqrt(125.001)};
    expect_close(n.m.output->y, y0, 2, 1e-6, "y[0]");
    model_forward(&n.m, 4, true, NULL);
    const double want2[] = {0.0597, 0.4975}, wantv2[] = {1.04975, 3.4676};
    expect_close(mm, want2, 2, 1e-6, "moving_mean after 2");
    expect_close(mv, wantv2, 2, 1e-6, "moving_variance after 2");
    model_forward(&n.m, 4, false, NULL);
    const double yi[] = {(1 - 0.0597) / sqrt(1.04975 + 0.001), (10 - 0.4975) / sqrt(3.4676 + 0.001)};
    expect_close(n.m.output->y, yi, 2, 1e-6, "inference y[0]");
    net_free(&n);
}
END_TEST

/* The fused path (4-D input, last axis) raises epsilon to 1.001e-5, as
 * tf.compat.v1.nn.fused_batch_norm does; the 2-D path keeps it. */
START_TEST(test_bn_fused_epsilon)
{
    static const char *const inputs[] = {"[1, 1, 2]", "[2]"};
    static const double used[] = {1.001e-5, 1e-7};
    struct net n;
    char yaml[256];
    snprintf(yaml, sizeof yaml,
             "layers:\n"
             "  - BatchNormalization: {epsilon: 1.0e-7, input_shape: %s}\n"
             "compile: {loss: mse}\n",
             inputs[_i]);
    net_load(&n, yaml);
    model_workspace(&n.m, 1);
    model_init_weights(&n.m, NULL);
    float *mv = n.m.w + n.m.layers[1].params[3].offset;
    mv[0] = mv[1] = 1e-5f;
    model_input(&n.m)[0] = model_input(&n.m)[1] = 1;
    model_forward(&n.m, 1, false, NULL);
    double want = 1 / sqrt(1e-5f + used[_i]);
    ck_assert_msg(fabs(n.m.output->y[0] - want) <= 1e-5 * want, "y %.9g, want %.9g",
                  n.m.output->y[0], want);
    net_free(&n);
}
END_TEST

/* trainable: false runs BatchNormalization in inference even in training
 * (Keras 2), and leaves the moving statistics alone. */
START_TEST(test_bn_frozen)
{
    struct net n;
    net_load(&n, "layers:\n"
                 "  - BatchNormalization: {trainable: false, input_shape: [3]}\n"
                 "compile: {loss: mse}\n");
    n.B = 4;
    model_workspace(&n.m, 4);
    net_setup(&n, 5, -1, 1);
    size_t nw = n.m.n_weights;
    float *w0 = malloc(nw * sizeof *w0), *y = malloc(12 * sizeof *y);
    memcpy(w0, n.m.w, nw * sizeof *w0);
    model_forward(&n.m, 4, false, NULL);
    memcpy(y, n.m.output->y, 12 * sizeof *y);
    model_forward(&n.m, 4, true, NULL);
    ck_assert(memcmp(n.m.w, w0, nw * sizeof *w0) == 0);
    ck_assert(memcmp(n.m.output->y, y, 12 * sizeof *y) == 0);
    ck_assert_uint_eq(model_count_params(&n.m, true), 0);
    ck_assert_uint_eq(model_count_params(&n.m, false), 12);
    free(w0), free(y);
    net_free(&n);
}
END_TEST

/* Channel groups run on several threads: the same bits as one thread. */
START_TEST(test_bn_threads)
{
    float *out[2], *w[2];
    for (int t = 0; t < 2; t++) {
        parallel_set_threads(t + 1);
        struct net n;
        net_load(&n, "layers:\n"
                     "  - BatchNormalization: {input_shape: [100]}\n"
                     "  - LayerNormalization\n"
                     "compile: {loss: mse}\n");
        net_prepare_margin(&n, 7, true, -2, 2, 0);
        model_backward(&n.m, 7, n.t);
        out[t] = malloc(700 * sizeof(float));
        w[t] = malloc(2 * n.m.n_weights * sizeof(float));
        memcpy(out[t], n.m.nodes[1].dy, 700 * sizeof(float));
        memcpy(w[t], n.m.w, n.m.n_weights * sizeof(float));
        memcpy(w[t] + n.m.n_weights, n.m.dw, n.m.n_weights * sizeof(float));
        ck_assert(memcmp(out[0], out[t], 700 * sizeof(float)) == 0);
        ck_assert(memcmp(w[0], w[t], 2 * n.m.n_weights * sizeof(float)) == 0);
        net_free(&n);
    }
    parallel_set_threads(1);
    free(out[0]), free(out[1]), free(w[0]), free(w[1]);
}
END_TEST

/* ---- LayerNormalization and Normalization: forward ---------------------------- */

static const struct ln_case {
    const char *input, *axis;
    int rank;
    size_t dims[3];
    bool kept[3];
    int ps_rank;
    size_t ps[3];
} ln_cases[] = {
    {"[5]", "-1", 1, {5}, {true}, 1, {5}},
    {"[3, 4]", "1", 2, {3, 4}, {true, false}, 1, {3}},
    {"[2, 3, 4]", "[1, 2]", 3, {2, 3, 4}, {true, true, false}, 2, {2, 3}},
    {"[3, 4]", "[2, 1]", 2, {3, 4}, {true, true}, 2, {4, 3}}, /* Keras's shape: as given */
};

START_TEST(test_ln_forward)
{
    const struct ln_case *k = &ln_cases[_i];
    enum { B = 3 };
    const double eps = 0.002;
    char yaml[256];
    snprintf(yaml, sizeof yaml,
             "layers:\n"
             "  - LayerNormalization: {axis: %s, epsilon: %g, input_shape: %s}\n"
             "compile: {loss: mse}\n",
             k->axis, eps, k->input);
    struct net n;
    net_load(&n, yaml);
    const struct layer *l = &n.m.layers[1];
    ck_assert_uint_eq(l->n_params, 2);
    ck_assert_str_eq(l->params[0].name, "gamma");
    ck_assert_str_eq(l->params[1].name, "beta");
    ck_assert_int_eq(l->params[0].shape.rank, k->ps_rank);
    for (int i = 0; i < k->ps_rank; i++)
        ck_assert_uint_eq(l->params[0].shape.dim[i], k->ps[i]);
    size_t S = model_input_size(&n.m);
    n.B = B;
    model_workspace(&n.m, B);
    net_setup(&n, 4, -1, 3);
    const float *x = model_input(&n.m), *gamma = param(&n, 1, 0), *beta = param(&n, 1, 1);
    double *y = calloc(B * S, sizeof *y), mean[64], var[64];
    size_t count[64];
    for (size_t b = 0; b < B; b++) {
        memset(mean, 0, sizeof mean), memset(var, 0, sizeof var), memset(count, 0, sizeof count);
        for (size_t e = 0; e < S; e++) {
            size_t g = naive_group(k->dims, k->kept, k->rank, e);
            mean[g] += x[b * S + e];
            count[g]++;
        }
        for (size_t g = 0; g < 64; g++)
            mean[g] /= count[g] ? (double)count[g] : 1;
        for (size_t e = 0; e < S; e++) {
            size_t g = naive_group(k->dims, k->kept, k->rank, e);
            var[g] += (x[b * S + e] - mean[g]) * (x[b * S + e] - mean[g]);
        }
        for (size_t e = 0; e < S; e++) {
            size_t g = naive_group(k->dims, k->kept, k->rank, e);
            size_t a = naive_channel(k->dims, k->kept, k->rank, e);
            y[b * S + e] = (x[b * S + e] - mean[g]) / sqrt(var[g] / count[g] + eps) * gamma[a] +
                           beta[a];
        }
    }
    for (int training = 0; training < 2; training++) {
        model_forward(&n.m, B, training, NULL);
        expect_close(n.m.output->y, y, B * S, 1e-5, "y");
    }
    free(y);
    net_free(&n);
}
END_TEST

/* mean (1, 2) and variance (4, 0.25): (3, 2.5) -> (1, 1); inverted
 * (1 + 3 * 2, 2 + 2.5 * 0.5); a zero variance divides by 1e-7. */
START_TEST(test_normalization_forward)
{
    static const char *const yaml[] = {
        "  - Normalization: {mean: [1, 2], variance: [4, 0.25], input_shape: [2]}\n",
        "  - Normalization: {mean: [1, 2], variance: [4, 0.25], invert: true, input_shape: [2]}\n",
        "  - Normalization: {axis: -1, mean: 2, variance: 0, input_shape: [2]}\n",
    };
    static const double want[][2] = {{1, 1}, {7, 3.25}, {1 / 1e-7f, 0.5 / 1e-7f}};
    char text[256];
    snprintf(text, sizeof text, "layers:\n%scompile: {loss: mse}\n", yaml[_i]);
    struct net n;
    net_load(&n, text);
    ck_assert_uint_eq(n.m.n_weights, 0);
    model_workspace(&n.m, 1);
    model_init_weights(&n.m, NULL);
    model_input(&n.m)[0] = 3;
    model_input(&n.m)[1] = 2.5f;
    model_forward(&n.m, 1, false, NULL);
    expect_close(n.m.output->y, want[_i], 2, 1e-6, "y");
    net_free(&n);
}
END_TEST

/* Adapted weights, per kept index: (x - mean) / max(sqrt(var), 1e-7). */
START_TEST(test_normalization_weights_forward)
{
    struct net n;
    net_load(&n, "layers:\n"
                 "  - Normalization: {axis: 1, input_shape: [3, 2]}\n"
                 "compile: {loss: mse}\n");
    const struct layer *l = &n.m.layers[1];
    ck_assert_uint_eq(l->n_params, 3);
    ck_assert_str_eq(l->params[2].name, "count");
    ck_assert_int_eq(l->params[2].shape.rank, 0);
    n.B = 2;
    model_workspace(&n.m, 2);
    net_setup(&n, 1, -5, 5);
    float *var = n.m.w + l->params[1].offset;
    var[2] = 0; /* clamped to 1e-7 */
    const float *x = model_input(&n.m), *mean = param(&n, 1, 0);
    double y[12];
    for (size_t e = 0; e < 12; e++) {
        size_t p = (e % 6) / 2;
        y[e] = ((double)x[e] - mean[p]) / fmax(sqrt(var[p]), 1e-7f);
    }
    model_forward(&n.m, 2, false, NULL);
    expect_close(n.m.output->y, y, 12, 1e-6, "y");
    net_free(&n);
}
END_TEST

START_TEST(test_rescaling_forward)
{
    struct net n;
    net_load(&n, "layers:\n"
                 "  - Rescaling: {scale: 0.00392156862745098, offset: -0.5, input_shape: [3]}\n"
                 "compile: {loss: mse}\n");
    model_workspace(&n.m, 1);
    model_init_weights(&n.m, NULL);
    float *x = model_input(&n.m);
    x[0] = 0, x[1] = 255, x[2] = 51;
    model_forward(&n.m, 1, false, NULL);
    const double want[] = {-0.5, 0.5, -0.3};
    expect_close(n.m.output->y, want, 3, 1e-6, "y");
    net_free(&n);
}
END_TEST

/* ---- gradients ------------------------------------------------------------------ */

/* Each normalization layer after a Dense (whose weights check its dx); a
 * Dense right before BatchNormalization has a tanh so that its bias
 * matters (the batch mean would cancel it). */
static const struct {
    const char *layers;
    bool training;
} grad_cases[] = {
    {"  - Dense: {units: 6, activation: tanh, input_shape: [4]}\n"
     "  - BatchNormalization: {momentum: 0.9, gamma_regularizer: l2}\n"
     "  - Dense: {units: 3}\n",
     true},
    {"  - Dense: {units: 6, activation: tanh, input_shape: [4]}\n"
     "  - BatchNormalization: {momentum: 0.9, gamma_regularizer: l2}\n"
     "  - Dense: {units: 3}\n",
     false},
    {"  - Dense: {units: 4, activation: tanh, input_shape: [3, 5]}\n"
     "  - BatchNormalization: {axis: 1}\n"
     "  - Flatten\n"
     "  - Dense: {units: 2}\n",
     true},
    {"  - Dense: {units: 3, activation: tanh, input_shape: [2, 2, 4]}\n"
     "  - BatchNormalization: {center: false}\n"
     "  - Flatten\n"
     "  - Dense: {units: 2}\n",
     true},
    {"  - Dense: {units: 5, activation: tanh, input_shape: [4]}\n"
     "  - BatchNormalization: {scale: false, center: false}\n"
     "  - Dense: {units: 2, activation: tanh}\n",
     true},
    {"  - Dense: {units: 5, activation: tanh, input_shape: [4]}\n"
     "  - BatchNormalization: {trainable: false}\n"
     "  - Dense: {units: 2, activation: tanh}\n",
     true},
    {"  - Dense: {units: 6, input_shape: [4]}\n"
     "  - LayerNormalization\n"
     "  - Dense: {units: 3, activation: tanh}\n",
     true},
    {"  - Dense: {units: 4, input_shape: [3, 5]}\n"
     "  - LayerNormalization: {axis: [1, 2], beta_regularizer: {l1: 0.01}}\n"
     "  - Flatten\n"
     "  - Dense: {units: 2, activation: tanh}\n",
     false},
    {"  - Dense: {units: 4, activation: tanh, input_shape: [3, 5]}\n"
     "  - LayerNormalization: {axis: 1, scale: false}\n"
     "  - Flatten\n"
     "  - Dense: {units: 2, activation: tanh}\n",
     false},
    {"  - Dense: {units: 4, input_shape: [3]}\n"
     "  - Rescaling: {scale: -0.7, offset: 0.3}\n"
     "  - Dense: {units: 2, activation: tanh}\n",
     false},
    {"  - Dense: {units: 5, input_shape: [4]}\n"
     "  - Normalization\n"
     "  - Dense: {units: 3, activation: tanh}\n",
     true},
    {"  - Dense: {units: 5, input_shape: [4]}\n"
     "  - Normalization: {axis: null, invert: true}\n"
     "  - Dense: {units: 3, activation: tanh}\n",
     false},
    {"  - Dense: {units: 2, input_shape: [4]}\n"
     "  - Normalization: {mean: [0.5, -1], variance: [2, 0.3]}\n"
     "  - Dense: {units: 3, activation: tanh}\n",
     false},
};

START_TEST(test_gradients)
{
    char yaml[512], what[32];
    snprintf(yaml, sizeof yaml, "layers:\n%scompile: {loss: mse}\n", grad_cases[_i].layers);
    snprintf(what, sizeof what, "case %d (%s)", _i, grad_cases[_i].training ? "training" : "inference");
    struct net n;
    net_load(&n, yaml);
    net_prepare(&n, 6, grad_cases[_i].training, -2, 2);
    net_gradcheck(&n, what);
    net_free(&n);
}
END_TEST

/* ---- contracts --------------------------------------------------------------- */

static const char *const chain_yaml =
    "layers:\n"
    "  - Dense: {units: 6, activation: tanh, input_shape: [2, 3]}\n"
    "  - BatchNormalization\n"
    "  - Dense: {units: 5}\n"
    "  - LayerNormalization: {axis: [1, 2]}\n"
    "  - Rescaling: {scale: 2, offset: 1}\n"
    "  - Normalization: {axis: 1}\n"
    "  - Flatten\n"
    "  - Dense: {units: 3, activation: softmax}\n"
    "compile: {loss: categorical_crossentropy}\n";

START_TEST(test_accumulates)
{
    check_accumulates(chain_yaml, true, "training");
    check_accumulates(chain_yaml, false, "inference");
}
END_TEST

/* In training BatchNormalization couples the samples (batch statistics), so
 * a batch differs from single samples by design: inference only. */
START_TEST(test_batch_equals_singles)
{
    check_batch_equals_singles(chain_yaml, "chain");
}
END_TEST

START_TEST(test_writes)
{
    struct net n;
    net_load(&n, chain_yaml);
    check_writes(&n, _i == 1, _i ? "training" : "inference");
    net_free(&n);
}
END_TEST

/* ---- parameters as Keras's summary counts them ---------------------------------- */

START_TEST(test_param_counts)
{
    static const struct {
        const char *layer, *input;
        size_t trainable, frozen;
    } cases[] = {
        /* 4 C params, 2 C of them non-trainable (the moving statistics) */
        {"BatchNormalization", "[16]", 32, 32},
        {"BatchNormalization: {scale: false}", "[16]", 16, 32},
        {"BatchNormalization: {scale: false, center: false}", "[16]", 0, 32},
        {"BatchNormalization: {trainable: false}", "[16]", 0, 64},
        {"BatchNormalization: {axis: [1, 2]}", "[2, 3, 4]", 12, 12},
        {"BatchNormalization: {axis: -2}", "[5, 3]", 10, 10},
        {"LayerNormalization", "[3, 4]", 8, 0},
        {"LayerNormalization: {axis: [2, 1], center: false}", "[3, 4]", 12, 0},
        /* mean and variance of the kept axes, plus the scalar count */
        {"Normalization", "[4]", 0, 9},
        {"Normalization: {axis: null}", "[4]", 0, 3},
        {"Normalization: {axis: [1]}", "[3, 4]", 0, 7},
        {"Normalization: {mean: 0, variance: 1}", "[4]", 0, 0},
        {"Rescaling: {scale: 2}", "[4]", 0, 0},
    };
    char yaml[256];
    snprintf(yaml, sizeof yaml,
             "layers:\n"
             "  - Input: {shape: %s}\n"
             "  - %s\n"
             "compile: {loss: mse}\n",
             cases[_i].input, cases[_i].layer);
    struct net n;
    net_load(&n, yaml);
    ck_assert_uint_eq(model_count_params(&n.m, true), cases[_i].trainable);
    ck_assert_uint_eq(model_count_params(&n.m, false), cases[_i].frozen);
    ck_assert_uint_eq(n.m.n_weights, cases[_i].trainable + cases[_i].frozen);
    net_free(&n);
}
END_TEST

/* ---- Normalization.adapt --------------------------------------------------------- */

/* n samples of S values: column j is offset_j + spread_j * u. */
static float *offset_data(size_t n, size_t S)
{
    float *x = malloc(n * S * sizeof *x);
    gc_fill_uniform(x, n * S, -1, 1, 21);
    for (size_t i = 0; i < n * S; i++) {
        size_t j = i % S;
        x[i] = (float)((j % 3 == 0 ? 1e4 : j % 3 == 1 ? -500 : 3) + (1.0 + (double)j) * x[i]);
    }
    return x;
}

START_TEST(test_adapt)
{
    static const struct {
        const char *layer, *input;
        int rank;
        size_t dims[2];
        bool kept[2];
        size_t C;
    } cases[] = {
        {"Normalization", "[3]", 1, {3}, {true}, 3},
        {"Normalization: {axis: null}", "[2, 3]", 2, {2, 3}, {false, false}, 1},
        {"Normalization: {axis: 1}", "[3, 2]", 2, {3, 2}, {true, false}, 3},
        {"Normalization: {axis: [-1, -2]}", "[3, 2]", 2, {3, 2}, {true, true}, 6},
    };
    enum { N = 50 };
    char yaml[256];
    snprintf(yaml, sizeof yaml,
             "layers:\n"
             "  - %s: {input_shape: %s}\n"
             "  - Dense: 1\n"
             "compile: {loss: mse}\n",
             cases[_i].layer, cases[_i].input);
    if (strchr(cases[_i].layer, '{'))
        snprintf(yaml, sizeof yaml,
                 "layers:\n"
                 "  - Input: {shape: %s}\n"
                 "  - %s\n"
                 "  - Dense: 1\n"
                 "compile: {loss: mse}\n",
                 cases[_i].input, cases[_i].layer);
    struct net n;
    net_load(&n, yaml);
    size_t S = model_input_size(&n.m), C = cases[_i].C;
    float *x = offset_data(N, S);
    double mean[8] = {0}, var[8] = {0};
    size_t count[8] = {0};
    for (size_t e = 0; e < N * S; e++) {
        size_t c = naive_channel(cases[_i].dims, cases[_i].kept, cases[_i].rank, e % S);
        mean[c] += x[e];
        count[c]++;
    }
    for (size_t c = 0; c < C; c++)
        mean[c] /= (double)count[c];
    for (size_t e = 0; e < N * S; e++) {
        size_t c = naive_channel(cases[_i].dims, cases[_i].kept, cases[_i].rank, e % S);
        var[c] += (x[e] - mean[c]) * (x[e] - mean[c]);
    }
    for (size_t c = 0; c < C; c++)
        var[c] /= (double)count[c];
    struct rng r;
    rng_seed(&r, 1);
    model_init_weights(&n.m, &r);
    ck_assert(model_needs_adapt(&n.m));
    /* In one batch, then in batches of 7 merged as Keras's update_state
     * does (adapt starts afresh each time, as Keras resets the state). The
     * running mean is stored in float between batches; with offsets 1e4
     * times the spread that costs ~1e-4 of the variance, as in Keras. */
    for (int round = 0; round < 2; round++) {
        model_adapt(&n.m, x, N, round ? 7 : N);
        expect_close(param(&n, 1, 0), mean, C, 1e-6, "mean");
        expect_close(param(&n, 1, 1), var, C, round ? 1e-3 : 1e-6, "variance");
        ck_assert_float_eq(param(&n, 1, 2)[0], (float)count[0]);
    }
    /* Adapted, the layer standardizes the data (to the float resolution of
     * a mean near 1e4: ~1e-3 of the spread). */
    model_workspace(&n.m, N);
    memcpy(model_input(&n.m), x, N * S * sizeof *x);
    model_forward(&n.m, N, false, NULL);
    const float *y = n.m.nodes[1].y;
    double m2[8] = {0}, v2[8] = {0};
    for (size_t e = 0; e < N * S; e++) {
        size_t c = naive_channel(cases[_i].dims, cases[_i].kept, cases[_i].rank, e % S);
        m2[c] += y[e] / count[c];
        v2[c] += (double)y[e] * y[e] / count[c];
    }
    for (size_t c = 0; c < C; c++) {
        ck_assert_msg(fabs(m2[c]) < 5e-3, "standardized mean %g", m2[c]);
        ck_assert_msg(fabs(v2[c] - 1) < 5e-3, "standardized variance %g", v2[c]);
    }
    free(x);
    net_free(&n);
}
END_TEST

/* Given mean and variance: nothing to adapt. */
START_TEST(test_adapt_fixed)
{
    struct net n;
    net_load(&n, "layers:\n"
                 "  - Normalization: {mean: 1, variance: 4, input_shape: [3]}\n"
                 "  - Dense: 1\n"
                 "compile: {loss: mse}\n");
    struct rng r;
    rng_seed(&r, 1);
    model_init_weights(&n.m, &r);
    float *x = offset_data(10, 3);
    float before[16];
    memcpy(before, n.m.w, n.m.n_weights * sizeof *before);
    model_adapt(&n.m, x, 10, 4);
    ck_assert(memcmp(before, n.m.w, n.m.n_weights * sizeof *before) == 0);
    free(x);
    net_free(&n);
}
END_TEST

/* ---- serialization --------------------------------------------------------------- */

START_TEST(test_serialization)
{
    struct net n;
    net_load(&n, "layers:\n"
                 "  - Dense: {units: 4, input_shape: [3, 2]}\n"
                 "  - BatchNormalization: {renorm: false, fused: null, synchronized: false}\n"
                 "  - LayerNormalization: {axis: [-1, 1]}\n"
                 "  - Normalization: [-1, 3, [1, 2, 3, 4], true]\n"
                 "  - Normalization: {axis: null}\n"
                 "  - Rescaling: 0.5\n"
                 "compile: {loss: mse}\n");
    static const char *const want[][3] = {
        {"\"axis\": [2], \"momentum\": 0.99, \"epsilon\": 0.001, \"center\": true", "renorm",
         "gamma_constraint\": null}"},
        {"\"axis\": [2, 1], \"epsilon\": 0.001", "momentum", "gamma_constraint\": null}"},
        {"\"axis\": [-1], \"mean\": 3.0, \"variance\": [1.0, 2.0, 3.0, 4.0], \"invert\": true}",
         "count", ""},
        {"\"axis\": null, \"mean\": null, \"variance\": null, \"invert\": false}", "[", ""},
        {"\"scale\": 0.5, \"offset\": 0.0}", "axis", ""},
    };
    for (size_t i = 0; i < 5; i++) {
        char *s = layer_json(&n.m.layers[i + 2]);
        ck_assert_msg(strstr(s, want[i][0]) != NULL, "%s lacks %s", s, want[i][0]);
        ck_assert_msg(strstr(s, want[i][1]) == NULL, "%s has %s", s, want[i][1]);
        ck_assert_msg(strstr(s, want[i][2]) != NULL, "%s lacks %s", s, want[i][2]);
        free(s);
    }
    net_free(&n);
}
END_TEST

/* Saved and loaded back: the same configuration, weights and predictions. */
START_TEST(test_checkpoint_roundtrip)
{
    struct net n;
    net_load(&n, "layers:\n"
                 "  - Normalization: {input_shape: [2, 3]}\n"
                 "  - Dense: {units: 4, activation: tanh}\n"
                 "  - BatchNormalization: {axis: [1, 2], momentum: 0.5}\n"
                 "  - LayerNormalization: {axis: [2, 1]}\n"
                 "  - Normalization: {axis: [1], mean: [1, 2], variance: [3, 4], invert: true}\n"
                 "  - Rescaling: {scale: 3, offset: -1}\n"
                 "  - Flatten\n"
                 "  - Dense: 2\n"
                 "compile: {optimizer: adam, loss: mse}\n");
    net_prepare_margin(&n, 4, true, -2, 2, 0);
    float *x = offset_data(4, 6);
    model_adapt(&n.m, x, 4, 3);
    memcpy(model_input(&n.m), x, 4 * 6 * sizeof *x);
    model_forward(&n.m, 4, true, NULL); /* moves the moving statistics */
    model_forward(&n.m, 4, false, NULL);
    float y[8];
    memcpy(y, n.m.output->y, sizeof y);

    char dir[] = "/tmp/nnc_test_norm_XXXXXX", path[64];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/m.model", dir);
    struct ckpt_meta meta = {0};
    struct diag d = {{0}};
    ck_assert_msg(checkpoint_save(path, &n.m, &meta, NULL, 0, &d) == 0, "%s", d.msg);
    struct model m2;
    struct model_file mf2;
    ck_assert_msg(model_load(path, &m2, &mf2, &d) == 0, "%s", d.msg);
    ck_assert_msg(checkpoint_load_weights(&m2, &mf2, &d) == 0, "%s", d.msg);
    ck_assert_uint_eq(m2.n_weights, n.m.n_weights);
    ck_assert(memcmp(m2.w, n.m.w, m2.n_weights * sizeof *m2.w) == 0);
    for (size_t i = 0; i < m2.n_layers; i++) {
        char *a = layer_json(&n.m.layers[i]), *b = layer_json(&m2.layers[i]);
        ck_assert_str_eq(a, b);
        free(a), free(b);
    }
    model_workspace(&m2, 4);
    memcpy(model_input(&m2), x, 4 * 6 * sizeof *x);
    model_forward(&m2, 4, false, NULL);
    ck_assert(memcmp(m2.output->y, y, sizeof y) == 0);
    model_free(&m2);
    model_file_close(&mf2);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
    free(x);
    net_free(&n);
}
END_TEST

static Suite *norm_suite(void)
{
    Suite *s = suite_create("norm");
    TCase *tc = tcase_create("forward");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_bn_forward, 0, sizeof bn_cases / sizeof bn_cases[0]);
    tcase_add_test(tc, test_bn_hand);
    tcase_add_loop_test(tc, test_bn_fused_epsilon, 0, 2);
    tcase_add_test(tc, test_bn_frozen);
    tcase_add_test(tc, test_bn_threads);
    tcase_add_loop_test(tc, test_ln_forward, 0, sizeof ln_cases / sizeof ln_cases[0]);
    tcase_add_loop_test(tc, test_normalization_forward, 0, 3);
    tcase_add_test(tc, test_normalization_weights_forward);
    tcase_add_test(tc, test_rescaling_forward);
    suite_add_tcase(s, tc);

    tc = tcase_create("gradients");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_gradients, 0, sizeof grad_cases / sizeof grad_cases[0]);
    tcase_add_test(tc, test_accumulates);
    tcase_add_test(tc, test_batch_equals_singles);
    tcase_add_loop_test(tc, test_writes, 0, 2);
    suite_add_tcase(s, tc);

    tc = tcase_create("model");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_param_counts, 0, 13);
    tcase_add_loop_test(tc, test_adapt, 0, 4);
    tcase_add_test(tc, test_adapt_fixed);
    tcase_add_test(tc, test_serialization);
    tcase_add_test(tc, test_checkpoint_roundtrip);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(norm_suite());
}
