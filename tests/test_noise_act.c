/* The activation layers (ReLU, LeakyReLU, PReLU, ELU, Softmax) and the
 * regularization layers (SpatialDropout1D/2D, GaussianNoise,
 * GaussianDropout, ActivityRegularization): forward values against hand
 * values from the Keras docstrings and naive loops, noise statistics,
 * finite-difference gradients (each layer after a Dense, inputs kept away
 * from the layer's kinks), the contracts of tests/netcheck.h, parameter
 * counts, the activity penalty in the loss, and the Keras serialization. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/layer.h"
#include "../src/loss.h"
#include "../src/model.h"
#include "../src/rng.h"
#include "fixtures.h"
#include "gradcheck.h"
#include "netcheck.h"

/* ---- fixtures ----------------------------------------------------------- */

/* Loads `yaml`, initializes weights (seed 1), copies B samples of x into the
 * input and runs one forward pass with the rng seeded by `seed`. */
static void run(struct net *n, const char *yaml, size_t B, const float *x, bool training,
                uint64_t seed)
{
    net_load(n, yaml);
    n->B = B;
    model_workspace(&n->m, B);
    struct rng r;
    rng_seed(&r, 1);
    model_init_weights(&n->m, &r);
    memcpy(model_input(&n->m), x, B * model_input_size(&n->m) * sizeof *x);
    rng_seed(&r, seed);
    model_forward(&n->m, B, training, &r);
}

/* A model of the one layer `layer` (a YAML flow map body, e.g. "ReLU:
 * {max_value: 1") on input `shape`, closed with the input_shape. */
static const char *one_layer(const char *layer, const char *shape)
{
    static char yaml[512];
    size_t len = strlen(layer);
    snprintf(yaml, sizeof yaml, "layers:\n  - %s%sinput_shape: %s}\ncompile: {loss: mse}\n", layer,
             len && layer[len - 1] == '{' ? "" : ", ", shape);
    return yaml;
}

/* The output's gradient dy = 1 run back through the last node into dx. */
static void backward_ones(struct net *n, float *dx)
{
    struct node *nd = n->m.output;
    size_t count = n->B * shape_size(&nd->out);
    float *dy = filled(count, 1);
    const float *xs[1] = {nd->in[0]->y};
    float *dxs[1] = {dx};
    struct layer_call c = {
        .B = n->B, .x = xs, .y = nd->y, .cache = nd->cache, .dy = dy, .dx = dxs,
        .w = n->m.w, .dw = n->m.dw, .training = true,
    };
    nd->layer->ops->backward(nd->layer, &c);
    free(dy);
}

static void expect_close(const float *got, const double *want, size_t count, double tol,
                         const char *what)
{
    for (size_t i = 0; i < count; i++)
        ck_assert_msg(fabs(got[i] - want[i]) <= tol * (1 + fabs(want[i])),
                      "%s: [%zu] = %.9g, want %.9g", what, i, got[i], want[i]);
}

/* Kinks of the layer under test: net_margin's callback measures how close
 * the inputs of the ReLU-family layers (and of ActivityRegularization,
 * whose l1 penalty has a kink at 0) come to them. */
static double kinks[4];
static size_t n_kinks;

static double layer_margin(struct net *n)
{
    static const char *const kinked[] = {"ReLU", "LeakyReLU", "PReLU", "ELU",
                                         "ActivityRegularization"};
    double best = INFINITY;
    for (size_t i = 1; i < n->m.n_nodes; i++) {
        const struct node *nd = &n->m.nodes[i];
        bool has = false;
        for (size_t k = 0; k < sizeof kinked / sizeof kinked[0]; k++)
            has |= nd->layer->ops == layer_find(kinked[k]);
        if (!has)
            continue;
        const float *x = nd->in[0]->y;
        for (size_t j = 0; j < n->B * shape_size(&nd->in[0]->out); j++)
            for (size_t k = 0; k < n_kinks; k++)
                best = fmin(best, fabs(x[j] - kinks[k]));
    }
    return best;
}

static void check_kinked(const char *yaml, bool training, const double *ks, size_t nk,
                         const char *what)
{
    memcpy(kinks, ks, nk * sizeof *ks);
    n_kinks = nk;
    check_model_margin(yaml, 4, training, layer_margin, what);
}

/* ---- ReLU --------------------------------------------------------------- */

/* Hand values: the examples of the Keras docstrings (tf.keras 2 ReLU, Keras
 * 3 relu), and a combination worked out from backend.relu by hand. */
START_TEST(test_relu_hand)
{
    static const struct {
        const char *args;
        size_t n;
        float x[8];
        double y[8];
    } cases[] = {
        {"ReLU: {", 4, {-3, -1, 0, 2}, {0, 0, 0, 2}},
        {"ReLU: {max_value: 1.0", 4, {-3, -1, 0, 2}, {0, 0, 0, 1}},
        {"ReLU: {negative_slope: 1.0", 4, {-3, -1, 0, 2}, {-3, -1, 0, 2}},
        {"ReLU: {threshold: 1.5", 4, {-3, -1, 1, 2}, {0, 0, 0, 2}},
        {"ReLU: {negative_slope: 0.5", 5, {-10, -5, 0, 5, 10}, {-5, -2.5, 0, 5, 10}},
        {"ReLU: {max_value: 5", 5, {-10, -5, 0, 5, 10}, {0, 0, 0, 5, 5}},
        {"ReLU: {threshold: 5", 5, {-10, -5, 0, 5, 10}, {0, 0, 0, 0, 10}},
        {"ReLU: {max_value: 10, negative_slope: 0.5, threshold: 0", 5, {-10, -5, 0, 5, 10},
         {-5, -2.5, 0, 5, 10}},
        /* pos = x > 1 ? min(x, 4) : 0, minus 0.5 max(1 - x, 0); at x == threshold
         * backend.relu gives 0 (x * (x > threshold)), not x */
        {"ReLU: {max_value: 4, negative_slope: 0.5, threshold: 1", 7, {-2, 0, 0.5, 1, 2, 4, 6},
         {-1.5, -0.5, -0.25, 0, 2, 4, 4}},
        /* max_value 6 without threshold: tf.nn.relu6, then the negative part */
        {"ReLU: {max_value: 6, negative_slope: 0.1", 5, {-1, 3, 6, 7, 0}, {-0.1, 3, 6, 6, 0}},
        {"LeakyReLU: {", 4, {-3, -1, 0, 2}, {-0.9, -0.3, 0, 2}},
        {"LeakyReLU: {alpha: 0.1", 4, {-3, -1, 0, 2}, {-0.3, -0.1, 0, 2}},
        {"LeakyReLU: {alpha: 0", 4, {-3, -1, 0, 2}, {0, 0, 0, 2}},
        {"ELU: {", 3, {-1, 0, 2}, {-0.63212055882855767, 0, 2}},
        {"ELU: {alpha: 0.5", 3, {-1, 0, 2}, {-0.31606027941427884, 0, 2}},
    };
    char shape[16];
    snprintf(shape, sizeof shape, "[%zu]", cases[_i].n);
    struct net n;
    run(&n, one_layer(cases[_i].args, shape), 1, cases[_i].x, false, 1);
    expect_close(n.m.output->y, cases[_i].y, cases[_i].n, 1e-6, cases[_i].args);
    net_free(&n);
}
END_TEST

/* The docstring's piecewise form (tf.keras 2 ReLU), for threshold <
 * max_value and inputs never exactly at the threshold:
 *   max_value                        x >= max_value
 *   x                                threshold <= x < max_value
 *   negative_slope (x - threshold)   otherwise */
static double relu_doc(double x, double max_value, double slope, double threshold)
{
    if (!isnan(max_value) && x >= max_value)
        return max_value;
    if (x >= threshold)
        return x;
    return slope * (x - threshold);
}

START_TEST(test_relu_naive)
{
    static const struct {
        double max_value, slope, threshold;
    } cases[] = {
        {NAN, 0, 0}, {NAN, 0.2, 0}, {2, 0, 0}, {6, 0, 0}, {6, 0.3, 0},
        {NAN, 0, 0.7}, {1.5, 0.25, 0.5}, {3, 1.5, 1},
    };
    enum { B = 10, N = 40 };
    float x[B * N];
    gc_fill_uniform(x, B * N, -4, 8, 3 + (unsigned)_i);
    char layer[128];
    if (isnan(cases[_i].max_value))
        snprintf(layer, sizeof layer, "ReLU: {max_value: null, negative_slope: %g, threshold: %g",
                 cases[_i].slope, cases[_i].threshold);
    else
        snprintf(layer, sizeof layer, "ReLU: {max_value: %g, negative_slope: %g, threshold: %g",
                 cases[_i].max_value, cases[_i].slope, cases[_i].threshold);
    struct net n;
    run(&n, one_layer(layer, "[40]"), B, x, false, 1);
    double want[B * N];
    for (size_t i = 0; i < B * N; i++)
        want[i] = relu_doc(x[i], cases[_i].max_value, cases[_i].slope, cases[_i].threshold);
    expect_close(n.m.output->y, want, B * N, 1e-6, layer);
    net_free(&n);
}
END_TEST

START_TEST(test_elu_naive)
{
    static const double alphas[] = {1.0, 0.5, 2.5};
    enum { B = 6, N = 50 };
    float x[B * N];
    gc_fill_uniform(x, B * N, -6, 3, 17);
    char layer[64];
    snprintf(layer, sizeof layer, "ELU: {alpha: %g", alphas[_i]);
    struct net n;
    run(&n, one_layer(layer, "[5, 10]"), B, x, false, 1);
    double want[B * N];
    for (size_t i = 0; i < B * N; i++)
        want[i] = x[i] > 0 ? x[i] : alphas[_i] * (exp(x[i]) - 1);
    expect_close(n.m.output->y, want, B * N, 1e-6, layer);
    net_free(&n);
}
END_TEST

/* ---- PReLU -------------------------------------------------------------- */

/* On (None, 3, 4): alpha's shape and count for each shared_axes, and the
 * values against a naive broadcast. */
START_TEST(test_prelu)
{
    static const struct {
        const char *shared;
        size_t a0, a1, params;
    } cases[] = {
        {"null", 3, 4, 12}, {"[1]", 1, 4, 4}, {"2", 3, 1, 3}, {"[1, 2]", 1, 1, 1}, {"[2, 1]", 1, 1, 1},
    };
    enum { B = 5 };
    float x[B * 12];
    gc_fill_uniform(x, B * 12, -2, 2, 9);
    char layer[64];
    snprintf(layer, sizeof layer, "PReLU: {shared_axes: %s", cases[_i].shared);
    struct net n;
    run(&n, one_layer(layer, "[3, 4]"), B, x, false, 1);
    const struct layer *l = n.m.output->layer;
    ck_assert_uint_eq(l->n_params, 1);
    ck_assert_str_eq(l->params[0].name, "alpha");
    ck_assert_int_eq(l->params[0].shape.rank, 2);
    ck_assert_uint_eq(l->params[0].shape.dim[0], cases[_i].a0);
    ck_assert_uint_eq(l->params[0].shape.dim[1], cases[_i].a1);
    ck_assert_uint_eq(model_count_params(&n.m, true), cases[_i].params);
    ck_assert_uint_eq(model_count_params(&n.m, false), 0);
    /* alpha_initializer zeros: y = relu(x) */
    for (size_t i = 0; i < B * 12; i++)
        ck_assert_float_eq(n.m.output->y[i], x[i] > 0 ? x[i] : 0);
    /* distinct slopes, some negative or above 1 */
    float *alpha = n.m.w + l->params[0].offset;
    for (size_t k = 0; k < cases[_i].params; k++)
        alpha[k] = 0.35f * (float)k - 0.4f;
    model_forward(&n.m, B, false, NULL);
    double want[B * 12];
    for (size_t b = 0; b < B; b++)
        for (size_t t = 0; t < 3; t++)
            for (size_t ch = 0; ch < 4; ch++) {
                size_t i = b * 12 + t * 4 + ch;
                size_t ai = (cases[_i].a0 == 1 ? 0 : t) * cases[_i].a1 + (cases[_i].a1 == 1 ? 0 : ch);
                want[i] = x[i] > 0 ? x[i] : (double)alpha[ai] * x[i];
            }
    expect_close(n.m.output->y, want, B * 12, 1e-7, layer);
    net_free(&n);
}
END_TEST

/* ---- Softmax ------------------------------------------------------------ */

/* On (None, 3, 4, 5): every axis by positive and negative index, against a
 * naive softmax in double. */
START_TEST(test_softmax_axes)
{
    static const struct {
        long axis;
        int k; /* the axis among (3, 4, 5) */
    } cases[] = {{-1, 2}, {3, 2}, {2, 1}, {-2, 1}, {1, 0}, {-3, 0}};
    static const size_t dims[3] = {3, 4, 5};
    enum { B = 4, N = 60 };
    float x[B * N];
    gc_fill_uniform(x, B * N, -5, 5, 23);
    char layer[64];
    snprintf(layer, sizeof layer, "Softmax: {axis: %ld", cases[_i].axis);
    struct net n;
    run(&n, one_layer(layer, "[3, 4, 5]"), B, x, false, 1);
    int k = cases[_i].k;
    size_t stride = k == 2 ? 1 : k == 1 ? 5 : 20, len = dims[k];
    double want[B * N];
    for (size_t i = 0; i < B * N; i++) {
        /* i's position along the axis and the first element of its line */
        size_t pos = i / stride % len, first = i - pos * stride;
        double max = -INFINITY, sum = 0;
        for (size_t t = 0; t < len; t++)
            max = fmax(max, x[first + t * stride]);
        for (size_t t = 0; t < len; t++)
            sum += exp(x[first + t * stride] - max);
        want[i] = exp(x[i] - max) / sum;
    }
    expect_close(n.m.output->y, want, B * N, 1e-6, layer);
    net_free(&n);
}
END_TEST

/* ---- SpatialDropout ------------------------------------------------------ */

/* Each (sample, channel) is dropped whole or kept whole and scaled; about
 * `rate` of them are dropped; the mean is kept; backward uses the same
 * mask; inference is the identity. */
static void check_spatial(const char *cls, const char *shape, size_t B, size_t n, size_t C,
                          double rate)
{
    char layer[64];
    snprintf(layer, sizeof layer, "%s: {rate: %g", cls, rate);
    float *x = filled(B * n, 0);
    gc_fill_uniform(x, B * n, 0.5f, 1.5f, 5);
    struct net a;
    run(&a, one_layer(layer, shape), B, x, true, 42);
    const float *y = a.m.output->y;
    float scale = (float)(1.0 / (1.0 - rate));
    size_t dropped = 0;
    double sx = 0, sy = 0;
    for (size_t b = 0; b < B; b++) {
        for (size_t ch = 0; ch < C; ch++) {
            bool drop = y[b * n + ch] == 0;
            dropped += drop;
            for (size_t p = ch; p < n; p += C) {
                float want = drop ? 0.0f : x[b * n + p] * scale;
                ck_assert_msg(y[b * n + p] == want, "%s: sample %zu value %zu: %g, want %g", cls,
                              b, p, y[b * n + p], want);
                sx += x[b * n + p];
                sy += y[b * n + p];
            }
        }
    }
    double frac = (double)dropped / (double)(B * C);
    ck_assert_msg(fabs(frac - rate) <= 0.03, "%s: %g of the channels dropped, rate %g", cls, frac,
                  rate);
    ck_assert_msg(fabs(sy / sx - 1) <= 0.05, "%s: mean changed by %g", cls, sy / sx - 1);
    float *dx = filled(B * n, 0);
    backward_ones(&a, dx);
    for (size_t i = 0; i < B * n; i++)
        ck_assert_float_eq(dx[i], y[i] == 0 ? 0.0f : scale);

    /* the same seed replays the mask, another seed draws another */
    struct net b2, c2;
    run(&b2, one_layer(layer, shape), B, x, true, 42);
    run(&c2, one_layer(layer, shape), B, x, true, 43);
    ck_assert(memcmp(y, b2.m.output->y, B * n * sizeof *y) == 0);
    ck_assert(memcmp(y, c2.m.output->y, B * n * sizeof *y) != 0);

    /* inference: the identity, forward and backward */
    model_forward(&a.m, B, false, NULL);
    ck_assert(memcmp(a.m.output->y, x, B * n * sizeof *x) == 0);
    memset(dx, 0, B * n * sizeof *dx);
    backward_ones(&a, dx);
    for (size_t i = 0; i < B * n; i++)
        ck_assert_float_eq(dx[i], 1.0f);
    free(x), free(dx);
    net_free(&a), net_free(&b2), net_free(&c2);
}

START_TEST(test_spatial_dropout)
{
    check_spatial("SpatialDropout1D", "[10, 20]", 200, 200, 20, 0.3);
    check_spatial("SpatialDropout1D", "[7, 9]", 300, 63, 9, 0.6);
    check_spatial("SpatialDropout2D", "[4, 5, 16]", 150, 320, 16, 0.25);
    check_spatial("SpatialDropout2D", "[3, 2, 8]", 400, 48, 8, 0.5);
}
END_TEST

/* ---- GaussianNoise, GaussianDropout -------------------------------------- */

START_TEST(test_gaussian_noise)
{
    enum { B = 100, N = 1000 };
    const double stddev = 0.5;
    float *x = filled(B * N, 0), *dx = filled(B * N, 0);
    gc_fill_uniform(x, B * N, -1, 1, 7);
    struct net a, b;
    run(&a, one_layer("GaussianNoise: {stddev: 0.5", "[1000]"), B, x, true, 5);
    double s = 0, s2 = 0;
    for (size_t i = 0; i < B * N; i++) {
        double e = (double)a.m.output->y[i] - x[i];
        s += e;
        s2 += e * e;
    }
    double mean = s / (B * N), sd = sqrt(s2 / (B * N) - mean * mean);
    ck_assert_msg(fabs(mean) <= 5 * stddev / sqrt(B * N), "noise mean %g", mean);
    ck_assert_msg(fabs(sd / stddev - 1) <= 0.01, "noise stddev %g, want %g", sd, stddev);
    backward_ones(&a, dx); /* additive noise: dx = dy */
    for (size_t i = 0; i < B * N; i++)
        ck_assert_float_eq(dx[i], 1.0f);
    run(&b, one_layer("GaussianNoise: {stddev: 0.5", "[1000]"), B, x, true, 5);
    ck_assert(memcmp(a.m.output->y, b.m.output->y, B * N * sizeof *x) == 0);
    model_forward(&a.m, B, false, NULL);
    ck_assert(memcmp(a.m.output->y, x, B * N * sizeof *x) == 0);
    free(x), free(dx);
    net_free(&a), net_free(&b);
}
END_TEST

START_TEST(test_gaussian_dropout)
{
    enum { B = 100, N = 1000 };
    static const double rates[] = {0.2, 0.5, 0.05};
    double rate = rates[_i], sd_want = sqrt(rate / (1 - rate));
    float *x = filled(B * N, 0), *dx = filled(B * N, 0);
    gc_fill_uniform(x, B * N, 0.5f, 1.5f, 8);
    char layer[64];
    snprintf(layer, sizeof layer, "GaussianDropout: {rate: %g", rate);
    struct net a;
    run(&a, one_layer(layer, "[10, 100]"), B, x, true, 6);
    backward_ones(&a, dx); /* dx = m, the multiplier */
    double s = 0, s2 = 0;
    for (size_t i = 0; i < B * N; i++) {
        double m = (double)a.m.output->y[i] / x[i];
        ck_assert_msg(fabs(dx[i] - m) <= 1e-6 * (1 + fabs(m)), "dx[%zu] = %g, y / x = %g", i,
                      dx[i], m);
        s += m;
        s2 += m * m;
    }
    double mean = s / (B * N), sd = sqrt(s2 / (B * N) - mean * mean);
    ck_assert_msg(fabs(mean - 1) <= 5 * sd_want / sqrt(B * N), "rate %g: mean %g", rate, mean);
    ck_assert_msg(fabs(sd / sd_want - 1) <= 0.01, "rate %g: stddev %g, want %g", rate, sd,
                  sd_want);
    /* inference: the identity, and so is backward after it */
    model_forward(&a.m, B, false, NULL);
    ck_assert(memcmp(a.m.output->y, x, B * N * sizeof *x) == 0);
    memset(dx, 0, B * N * sizeof *dx);
    backward_ones(&a, dx);
    for (size_t i = 0; i < B * N; i++)
        ck_assert_float_eq(dx[i], 1.0f);
    free(x), free(dx);
    net_free(&a);
}
END_TEST

/* rate 0 is the identity in training too (Keras: only 0 < rate < 1 adds
 * noise; tf.nn.dropout returns x for rate 0); stddev 0 adds nothing. */
START_TEST(test_noise_identity)
{
    static const char *const layers[] = {
        "GaussianDropout: {rate: 0", "SpatialDropout1D: {rate: 0.0", "GaussianNoise: {stddev: 0",
        "ActivityRegularization: {l1: 0.5",
    };
    enum { B = 8, N = 30 };
    float x[B * N];
    gc_fill_uniform(x, B * N, -1, 1, 4);
    struct net n;
    run(&n, one_layer(layers[_i], "[5, 6]"), B, x, true, 3);
    ck_assert(memcmp(n.m.output->y, x, sizeof x) == 0);
    net_free(&n);
}
END_TEST

/* ---- ActivityRegularization -------------------------------------------- */

/* The loss includes (l1 sum |y| + l2 sum y^2) / B over the layer's output,
 * with the factors cast to float32 as L1L2 does. */
START_TEST(test_activity_penalty)
{
    static const struct {
        const char *args;
        float l1, l2;
    } cases[] = {
        {"{l1: 0.01, l2: 0.02}", 0.01f, 0.02f},
        {"[0.0, 0.5]", 0, 0.5f},
        {"0.3", 0.3f, 0},
        {"null", 0, 0},
    };
    char yaml[256];
    snprintf(yaml, sizeof yaml,
             "layers:\n"
             "  - Dense: {units: 4, input_shape: [3]}\n"
             "  - ActivityRegularization: %s\n"
             "  - Dense: {units: 2, activation: tanh}\n"
             "compile: {loss: mse}\n",
             cases[_i].args);
    enum { B = 5 };
    struct net n;
    net_load(&n, yaml);
    net_prepare(&n, B, false, -2, 2);
    double total = forward_loss(&n);
    const float *y = n.m.nodes[2].y;
    double want = 0;
    for (size_t i = 0; i < B * 4; i++)
        want += (double)cases[_i].l1 * fabs(y[i]) + (double)cases[_i].l2 * y[i] * y[i];
    want /= B;
    double plain = loss_compute(&n.m.compile.out[0].loss, n.m.output->y, n.t, net_rows(&n), 2, NULL);
    ck_assert_msg(fabs(model_penalty(&n.m, B) - want) <= 1e-9 + 1e-6 * want, "%s: penalty %.9g, want %.9g",
                  cases[_i].args, model_penalty(&n.m, B), want);
    ck_assert_msg(fabs(total - (plain + want)) <= 1e-6 * (1 + total), "%s: loss %.9g vs %.9g",
                  cases[_i].args, total, plain + want);
    double trained = model_backward(&n.m, B, n.t);
    ck_assert_msg(fabs(trained - total) <= 1e-6 * (1 + total), "%s: model_backward %.9g vs %.9g",
                  cases[_i].args, trained, total);
    net_free(&n);
}
END_TEST

/* ---- gradients ---------------------------------------------------------- */

static const double kink0[] = {0};

START_TEST(test_relu_gradients)
{
    static const struct {
        const char *args;
        double kinks[3];
        size_t n;
    } cases[] = {
        {"{}", {0}, 1},
        {"{max_value: 1.0}", {0, 1}, 2},
        {"{negative_slope: 0.3}", {0}, 1},
        {"{threshold: 0.5}", {0.5}, 1},
        {"{max_value: 6, negative_slope: 0.2}", {0, 6}, 2},
        {"{max_value: 1.2, negative_slope: 0.25, threshold: 0.4}", {0.4, 1.2}, 2},
        {"[0.8, 0.5, 0.3]", {0.3, 0.8}, 2},
    };
    char yaml[512];
    snprintf(yaml, sizeof yaml,
             "layers:\n"
             "  - Dense: {units: 6, input_shape: [5]}\n"
             "  - ReLU: %s\n"
             "  - Dense: {units: 3}\n"
             "compile: {loss: mse}\n",
             cases[_i].args);
    check_kinked(yaml, false, cases[_i].kinks, cases[_i].n, cases[_i].args);
}
END_TEST

START_TEST(test_activation_gradients)
{
    static const char *const layers[] = {
        "LeakyReLU", "{LeakyReLU: {alpha: 0.1}}", "{LeakyReLU: 1.7}", "ELU",
        "{ELU: {alpha: 0.5}}", "PReLU", "{PReLU: {alpha_initializer: {constant: 0.3}}}",
        "{PReLU: {shared_axes: [1], alpha_regularizer: {l2: 0.1}}}", "{PReLU: {shared_axes: 2}}",
    };
    char yaml[512];
    snprintf(yaml, sizeof yaml,
             "layers:\n"
             "  - Dense: {units: 4, input_shape: [3, 5]}\n"
             "  - %s\n"
             "  - Dense: {units: 2}\n"
             "compile: {loss: mse}\n",
             layers[_i]);
    check_kinked(yaml, false, kink0, 1, layers[_i]);
}
END_TEST

/* The first Dense has no bias: a bias is constant along axes 1 and 2, where
 * softmax ignores constants, so its gradient would be exactly 0. */
START_TEST(test_softmax_gradients)
{
    static const char *const axes[] = {"-1", "1", "2", "-2", "3"};
    char yaml[512];
    snprintf(yaml, sizeof yaml,
             "layers:\n"
             "  - Dense: {units: 4, use_bias: false, input_shape: [2, 3, 5]}\n"
             "  - Softmax: {axis: %s}\n"
             "  - Dense: {units: 2}\n"
             "compile: {loss: mse}\n",
             axes[_i]);
    check_model(yaml, 3, false, axes[_i]);
}
END_TEST

START_TEST(test_noise_gradients)
{
    static const struct {
        const char *in, *layer;
    } cases[] = {
        {"[4, 3]", "SpatialDropout1D: 0.5"},
        {"[2, 3, 4]", "SpatialDropout2D: {rate: 0.4}"},
        {"[5]", "GaussianNoise: 0.3"},
        {"[2, 5]", "GaussianDropout: 0.4"},
    };
    char yaml[512];
    snprintf(yaml, sizeof yaml,
             "layers:\n"
             "  - Dense: {units: 6, input_shape: %s}\n"
             "  - %s\n"
             "  - Dense: {units: 3, activation: tanh}\n"
             "compile: {loss: mse}\n",
             cases[_i].in, cases[_i].layer);
    check_model(yaml, 4, true, cases[_i].layer);
    check_model(yaml, 4, false, cases[_i].layer);
}
END_TEST

START_TEST(test_activity_gradients)
{
    static const char *const args[] = {"{l1: 0.05}", "{l2: 0.1}", "[0.02, 0.03]"};
    char yaml[512];
    snprintf(yaml, sizeof yaml,
             "layers:\n"
             "  - Dense: {units: 6, input_shape: [5]}\n"
             "  - ActivityRegularization: %s\n"
             "  - Dense: {units: 3}\n"
             "compile: {loss: mse}\n",
             args[_i]);
    check_kinked(yaml, false, kink0, 1, args[_i]);
}
END_TEST

/* ---- contracts ---------------------------------------------------------- */

static const char *const chain_inference =
    "layers:\n"
    "  - Dense: {units: 6, input_shape: [2, 3]}\n"
    "  - ReLU: {max_value: 1.0, negative_slope: 0.1, threshold: 0.2}\n"
    "  - LeakyReLU\n"
    "  - PReLU: {shared_axes: [1], alpha_initializer: {constant: 0.2}}\n"
    "  - ELU: 0.7\n"
    "  - Softmax: 1\n"
    "  - ActivityRegularization: {l1: 0.01, l2: 0.01}\n"
    "  - Softmax\n"
    "  - Dense: {units: 2}\n"
    "compile: {loss: mse}\n";

static const char *const chain_training =
    "layers:\n"
    "  - Dense: {units: 6, input_shape: [4, 3]}\n"
    "  - SpatialDropout1D: 0.3\n"
    "  - GaussianNoise: 0.2\n"
    "  - GaussianDropout: 0.3\n"
    "  - Reshape: [2, 2, 6]\n"
    "  - SpatialDropout2D: 0.2\n"
    "  - Flatten\n"
    "  - Dense: {units: 2}\n"
    "compile: {loss: mse}\n";

START_TEST(test_contracts)
{
    check_accumulates(chain_inference, false, "activations");
    check_accumulates(chain_training, true, "noise, training");
    check_accumulates(chain_training, false, "noise, inference");
    check_batch_equals_singles(chain_inference, "activations");
    check_batch_equals_singles(chain_training, "noise");
    const char *chains[] = {chain_inference, chain_training};
    for (int k = 0; k < 2; k++)
        for (int training = 0; training < 2; training++) {
            struct net n;
            net_load(&n, chains[k]);
            check_writes(&n, training, k ? "noise" : "activations");
            net_free(&n);
        }
}
END_TEST

/* ---- serialization ------------------------------------------------------ */

/* layer_to_json of the one layer of a model: the config keys of the Keras
 * class's get_config, in its order. */
START_TEST(test_keras_config)
{
    static const struct {
        const char *layer, *json;
    } cases[] = {
        {"ReLU: {", "\"max_value\": null, \"negative_slope\": 0.0, \"threshold\": 0.0"},
        {"ReLU: {max_value: 6, threshold: 0.5",
         "\"max_value\": 6.0, \"negative_slope\": 0.0, \"threshold\": 0.5"},
        {"LeakyReLU: {", "\"alpha\": 0.3"},
        {"ELU: {", "\"alpha\": 1.0"},
        {"Softmax: {", "\"axis\": -1"},
        {"PReLU: {shared_axes: 1",
         "\"alpha_initializer\": {\"class_name\": \"Zeros\", \"config\": {}}, "
         "\"alpha_regularizer\": null, \"alpha_constraint\": null, \"shared_axes\": [1]"},
        {"SpatialDropout1D: {rate: 0.5", "\"rate\": 0.5, \"noise_shape\": null, \"seed\": null"},
        {"SpatialDropout2D: {rate: 0.5",
         "\"rate\": 0.5, \"data_format\": \"channels_last\", \"noise_shape\": null, "
         "\"seed\": null"},
        {"GaussianNoise: {stddev: 0.1", "\"stddev\": 0.1, \"seed\": null"},
        {"GaussianDropout: {rate: 0.1", "\"rate\": 0.1, \"seed\": null"},
        {"ActivityRegularization: {l2: 0.01", "\"l1\": 0.0, \"l2\": 0.01"},
    };
    const char *shape = strncmp(cases[_i].layer, "SpatialDropout2D", 16) == 0 ? "[2, 2, 3]"
                        : strncmp(cases[_i].layer, "SpatialDropout1D", 16) == 0 ? "[2, 3]"
                                                                                 : "[3]";
    struct net n;
    net_load(&n, one_layer(cases[_i].layer, shape));
    char *buf = layer_json_text(n.m.output->layer, false);
    char want[512];
    snprintf(want, sizeof want, "\"dtype\": \"float32\", %s}}", cases[_i].json);
    ck_assert_msg(strstr(buf, want) != NULL, "%s\ngot  %s\nwant ...%s", cases[_i].layer, buf, want);
    free(buf);
    net_free(&n);
}
END_TEST

static Suite *noise_act_suite(void)
{
    Suite *s = suite_create("noise_act");
    TCase *tc = tcase_create("forward");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_relu_hand, 0, 15);
    tcase_add_loop_test(tc, test_relu_naive, 0, 8);
    tcase_add_loop_test(tc, test_elu_naive, 0, 3);
    tcase_add_loop_test(tc, test_prelu, 0, 5);
    tcase_add_loop_test(tc, test_softmax_axes, 0, 6);
    tcase_add_test(tc, test_spatial_dropout);
    tcase_add_test(tc, test_gaussian_noise);
    tcase_add_loop_test(tc, test_gaussian_dropout, 0, 3);
    tcase_add_loop_test(tc, test_noise_identity, 0, 4);
    tcase_add_loop_test(tc, test_activity_penalty, 0, 4);
    tcase_add_loop_test(tc, test_keras_config, 0, 11);
    suite_add_tcase(s, tc);

    tc = tcase_create("gradients");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_relu_gradients, 0, 7);
    tcase_add_loop_test(tc, test_activation_gradients, 0, 9);
    tcase_add_loop_test(tc, test_softmax_gradients, 0, 5);
    tcase_add_loop_test(tc, test_noise_gradients, 0, 4);
    tcase_add_loop_test(tc, test_activity_gradients, 0, 3);
    tcase_add_test(tc, test_contracts);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(noise_act_suite());
}
