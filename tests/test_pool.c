/* Pooling layers: MaxPooling1D/2D, AveragePooling1D/2D and the global
 * poolings. Forward values against naive loops written here (windows walked
 * in padded coordinates, TF's "same" split) and against the Keras docstring
 * examples; gradients by finite differences (max-pooling inputs kept away
 * from ties with a margin on the gap between each window's two largest
 * values); TF's gradient conventions at ties; the layer contracts; shapes,
 * parameter counts and Keras serialization. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../src/layer.h"
#include "../src/model.h"
#include "fixtures.h"
#include "gradcheck.h"
#include "netcheck.h"

/* ---- the reference ---------------------------------------------------------- */

/* One pooling configuration; W = 0 means a 1-D layer (steps H, features C). */
struct pool_case {
    size_t H, W, C;
    size_t ph, pw, sh, sw;
    bool same;
};

/* keras/utils/conv_utils.py conv_output_length, dilation 1. */
static size_t ref_out_len(size_t n, size_t p, size_t s, bool same)
{
    size_t len = same ? n : n - p + 1;
    return (len + s - 1) / s;
}

/* TF's SAME padding: the total need, floor(half) before. */
static size_t ref_pad_before(size_t n, size_t p, size_t s, bool same)
{
    if (!same)
        return 0;
    long need = (long)((ref_out_len(n, p, s, true) - 1) * s + p) - (long)n;
    return need > 0 ? (size_t)need / 2 : 0;
}

static void case_dims(const struct pool_case *pc, size_t *W, size_t *pw, size_t *sw, size_t *OH,
                      size_t *OW)
{
    *W = pc->W ? pc->W : 1;
    *pw = pc->W ? pc->pw : 1;
    *sw = pc->W ? pc->sw : 1;
    *OH = ref_out_len(pc->H, pc->ph, pc->sh, pc->same);
    *OW = ref_out_len(*W, *pw, *sw, pc->same);
}

static void ref_pool(const struct pool_case *pc, bool max, const float *x, float *y)
{
    size_t W, pw, sw, OH, OW;
    case_dims(pc, &W, &pw, &sw, &OH, &OW);
    long top = (long)ref_pad_before(pc->H, pc->ph, pc->sh, pc->same);
    long left = (long)ref_pad_before(W, pw, sw, pc->same);
    for (size_t oh = 0; oh < OH; oh++)
        for (size_t ow = 0; ow < OW; ow++)
            for (size_t c = 0; c < pc->C; c++) {
                double best = -INFINITY, sum = 0;
                size_t count = 0;
                for (size_t i = 0; i < pc->ph; i++)
                    for (size_t j = 0; j < pw; j++) {
                        long h = (long)(oh * pc->sh + i) - top, w = (long)(ow * sw + j) - left;
                        if (h < 0 || w < 0 || h >= (long)pc->H || w >= (long)W)
                            continue;
                        double v = x[((size_t)h * W + (size_t)w) * pc->C + c];
                        best = fmax(best, v);
                        sum += v;
                        count++;
                    }
                ck_assert_uint_gt(count, 0);
                y[(oh * OW + ow) * pc->C + c] = (float)(max ? best : sum / (double)count);
            }
}

/* The smallest gap between the two largest real values of any window. */
static double ref_tie_gap(const struct pool_case *pc, const float *x)
{
    size_t W, pw, sw, OH, OW;
    case_dims(pc, &W, &pw, &sw, &OH, &OW);
    long top = (long)ref_pad_before(pc->H, pc->ph, pc->sh, pc->same);
    long left = (long)ref_pad_before(W, pw, sw, pc->same);
    double gap = INFINITY;
    for (size_t oh = 0; oh < OH; oh++)
        for (size_t ow = 0; ow < OW; ow++)
            for (size_t c = 0; c < pc->C; c++) {
                double a = -INFINITY, b = -INFINITY;
                for (size_t i = 0; i < pc->ph; i++)
                    for (size_t j = 0; j < pw; j++) {
                        long h = (long)(oh * pc->sh + i) - top, w = (long)(ow * sw + j) - left;
                        if (h < 0 || w < 0 || h >= (long)pc->H || w >= (long)W)
                            continue;
                        double v = x[((size_t)h * W + (size_t)w) * pc->C + c];
                        if (v > a) {
                            b = a;
                            a = v;
                        } else if (v > b) {
                            b = v;
                        }
                    }
                gap = fmin(gap, a - b); /* inf when the window has one value */
            }
    return gap;
}

static void layer_yaml(char *buf, size_t size, const char *cls, const struct pool_case *pc,
                       const char *input_key, const char *before, const char *after)
{
    char args[256];
    if (pc->W)
        snprintf(args, sizeof args,
                 "pool_size: [%zu, %zu], strides: [%zu, %zu], padding: %s", pc->ph, pc->pw,
                 pc->sh, pc->sw, pc->same ? "same" : "valid");
    else
        snprintf(args, sizeof args, "pool_size: %zu, strides: %zu, padding: %s", pc->ph, pc->sh,
                 pc->same ? "same" : "valid");
    char shape[64];
    if (pc->W)
        snprintf(shape, sizeof shape, "[%zu, %zu, %s]", pc->H, pc->W, input_key);
    else
        snprintf(shape, sizeof shape, "[%zu, %s]", pc->H, input_key);
    snprintf(buf, size, "layers:\n%s  - %s: {%s%s%s}\n%scompile: {loss: mse}\n",
             before ? before : "", cls, args, before ? "" : ", input_shape: ",
             before ? "" : shape, after ? after : "");
}

static const struct pool_case forward_cases[] = {
    {5, 7, 3, 2, 2, 2, 2, false},  /* windows do not tile: the last row/col dropped */
    {5, 7, 3, 3, 2, 1, 2, false},  /* overlapping rows */
    {5, 7, 2, 3, 3, 2, 2, true},   /* same, padding 1 on every side */
    {6, 5, 2, 2, 3, 3, 1, true},   /* strides > pool rows; pad 0 + 1 */
    {4, 4, 1, 4, 1, 1, 1, true},   /* same with pad 1 before, 2 after */
    {3, 3, 2, 1, 1, 2, 2, false},  /* 1x1 windows with stride: subsampling */
    {9, 0, 2, 3, 0, 2, 0, true},   /* 1-D */
    {9, 0, 3, 4, 0, 1, 0, true},   /* 1-D, pad 1 before, 2 after */
    {8, 0, 2, 2, 0, 3, 0, false},  /* 1-D, stride > pool */
    {7, 0, 1, 3, 0, 1, 0, false},  /* 1-D, overlapping */
};
#define N_FORWARD (int)(sizeof forward_cases / sizeof forward_cases[0])

/* A model of one layer on B samples of x; output in n->m.output->y. */
static void run_layer(struct net *n, const char *yaml, size_t B, const float *x)
{
    net_load(n, yaml);
    n->B = B;
    model_workspace(&n->m, B);
    memcpy(model_input(&n->m), x, B * model_input_size(&n->m) * sizeof *x);
    model_forward(&n->m, B, false, NULL);
}

/* Every case, max and average (_i = 2 * case + average). */
START_TEST(test_pool_forward)
{
    const struct pool_case *pc = &forward_cases[_i / 2];
    bool max = _i % 2 == 0;
    char cls[32], yaml[512], what[64];
    snprintf(cls, sizeof cls, "%sPooling%dD", max ? "Max" : "Average", pc->W ? 2 : 1);
    char channels[16];
    snprintf(channels, sizeof channels, "%zu", pc->C);
    layer_yaml(yaml, sizeof yaml, cls, pc, channels, NULL, NULL);
    snprintf(what, sizeof what, "%s case %d", cls, _i / 2);

    enum { B = 3 };
    size_t W, pw, sw, OH, OW;
    case_dims(pc, &W, &pw, &sw, &OH, &OW);
    size_t in = pc->H * W * pc->C, out = OH * OW * pc->C;
    float *x = filled(B * in, 0), *want = filled(out, 0);
    gc_fill_uniform(x, B * in, -3, 3, 17 + (unsigned)_i);
    struct net n;
    run_layer(&n, yaml, B, x);
    ck_assert_uint_eq(model_output_size(&n.m), out);
    ck_assert_uint_eq(n.m.output->out.dim[0], OH);
    if (pc->W)
        ck_assert_uint_eq(n.m.output->out.dim[1], OW);
    for (size_t b = 0; b < B; b++) {
        ref_pool(pc, max, x + b * in, want);
        for (size_t k = 0; k < out; k++) {
            float got = n.m.output->y[b * out + k];
            ck_assert_msg(fabsf(got - want[k]) <= 1e-6f * (1 + fabsf(want[k])),
                          "%s: sample %zu y[%zu] = %.9g, want %.9g", what, b, k, got, want[k]);
        }
    }
    free(x), free(want);
    net_free(&n);
}
END_TEST

/* The examples of the Keras docstrings (keras/layers/pooling/max_pooling1d.py and its siblings). */
START_TEST(test_pool_keras_examples)
{
    static const struct {
        const char *yaml;
        size_t n_in;
        float x[16];
        size_t n_out;
        float y[16];
    } cases[] = {
        /* MaxPooling1D: x = [1..5], strides 1, valid / strides 2 / same. */
        {"  - MaxPooling1D: {pool_size: 2, strides: 1, padding: valid, input_shape: [5, 1]}\n",
         5, {1, 2, 3, 4, 5}, 4, {2, 3, 4, 5}},
        {"  - MaxPooling1D: {pool_size: 2, strides: 2, padding: valid, input_shape: [5, 1]}\n",
         5, {1, 2, 3, 4, 5}, 2, {2, 4}},
        {"  - MaxPooling1D: {pool_size: 2, strides: 1, padding: same, input_shape: [5, 1]}\n",
         5, {1, 2, 3, 4, 5}, 5, {2, 3, 4, 5, 5}},
        {"  - AveragePooling1D: {pool_size: 2, strides: 1, padding: valid, input_shape: [5, 1]}\n",
         5, {1, 2, 3, 4, 5}, 4, {1.5f, 2.5f, 3.5f, 4.5f}},
        {"  - AveragePooling1D: {pool_size: 2, strides: 2, padding: valid, input_shape: [5, 1]}\n",
         5, {1, 2, 3, 4, 5}, 2, {1.5f, 3.5f}},
        {"  - AveragePooling1D: {pool_size: 2, strides: 1, padding: same, input_shape: [5, 1]}\n",
         5, {1, 2, 3, 4, 5}, 5, {1.5f, 2.5f, 3.5f, 4.5f, 5}},
        /* MaxPooling2D on [[1, 2, 3], [4, 5, 6], [7, 8, 9]], (2, 2), strides 1. */
        {"  - MaxPooling2D: {pool_size: [2, 2], strides: [1, 1], padding: valid, "
         "input_shape: [3, 3, 1]}\n",
         9, {1, 2, 3, 4, 5, 6, 7, 8, 9}, 4, {5, 6, 8, 9}},
        {"  - MaxPooling2D: {pool_size: [2, 2], strides: [1, 1], padding: same, "
         "input_shape: [3, 3, 1]}\n",
         9, {1, 2, 3, 4, 5, 6, 7, 8, 9}, 9, {5, 6, 6, 8, 9, 9, 8, 9, 9}},
        /* AveragePooling2D, same: border windows average only real values. */
        {"  - AveragePooling2D: {pool_size: [2, 2], strides: [1, 1], padding: same, "
         "input_shape: [3, 3, 1]}\n",
         9, {1, 2, 3, 4, 5, 6, 7, 8, 9}, 9, {3, 4, 4.5f, 6, 7, 7.5f, 7.5f, 8.5f, 9}},
        /* MaxPooling2D docstring: 3x4 input, (2, 2), strides 2 -> [[6, 8]]. */
        {"  - MaxPooling2D: {input_shape: [3, 4, 1]}\n", 12,
         {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, 2, {6, 8}},
    };
    char yaml[512];
    snprintf(yaml, sizeof yaml, "layers:\n%scompile: {loss: mse}\n", cases[_i].yaml);
    struct net n;
    run_layer(&n, yaml, 1, cases[_i].x);
    ck_assert_uint_eq(model_input_size(&n.m), cases[_i].n_in);
    ck_assert_uint_eq(model_output_size(&n.m), cases[_i].n_out);
    for (size_t k = 0; k < cases[_i].n_out; k++)
        ck_assert_msg(fabsf(n.m.output->y[k] - cases[_i].y[k]) <= 1e-6f,
                      "case %d: y[%zu] = %g, want %g", _i, k, n.m.output->y[k], cases[_i].y[k]);
    net_free(&n);
}
END_TEST

/* ---- gradients ------------------------------------------------------------- */

static const struct pool_case *margin_case; /* the pooling node's geometry */

/* The gap between the two largest values of every max-pooling window. */
static double pool_margin(struct net *n)
{
    double gap = INFINITY;
    for (size_t i = 1; i < n->m.n_nodes; i++) {
        const struct node *nd = &n->m.nodes[i];
        if (strncmp(nd->layer->ops->class_name, "MaxPooling", 10) != 0)
            continue;
        size_t in = shape_size(&nd->in[0]->out);
        for (size_t b = 0; b < n->B; b++)
            gap = fmin(gap, ref_tie_gap(margin_case, nd->in[0]->y + b * in));
    }
    return gap;
}

static const struct pool_case grad_cases[] = {
    {5, 4, 2, 3, 2, 2, 1, true},  /* windows overlap in rows and cols */
    {5, 5, 2, 2, 2, 3, 3, false}, /* strides > pool: some inputs get no gradient */
    {4, 5, 2, 3, 3, 1, 2, true},  /* overlapping rows, same padding on both sides */
    {7, 0, 3, 3, 0, 2, 0, true},  /* 1-D, overlap */
    {6, 0, 2, 2, 0, 1, 0, false}, /* 1-D, stride 1 */
};
#define N_GRAD (int)(sizeof grad_cases / sizeof grad_cases[0])

/* Dense(C) on the last axis, the pooling layer, Flatten, Dense(2): the first
 * Dense's weights check the pooling layer's dx. _i = 2 * case + average. */
START_TEST(test_pool_gradients)
{
    const struct pool_case *pc = &grad_cases[_i / 2];
    bool max = _i % 2 == 0;
    char cls[32], yaml[768], before[128], what[64];
    snprintf(cls, sizeof cls, "%sPooling%dD", max ? "Max" : "Average", pc->W ? 2 : 1);
    if (pc->W)
        snprintf(before, sizeof before, "  - Dense: {units: %zu, input_shape: [%zu, %zu, 3]}\n",
                 pc->C, pc->H, pc->W);
    else
        snprintf(before, sizeof before, "  - Dense: {units: %zu, input_shape: [%zu, 3]}\n",
                 pc->C, pc->H);
    layer_yaml(yaml, sizeof yaml, cls, pc, "", before, "  - Flatten\n  - Dense: 2\n");
    snprintf(what, sizeof what, "%s grad case %d", cls, _i / 2);
    margin_case = pc;
    check_model_margin(yaml, 2, false, max ? pool_margin : NULL, what);
}
END_TEST

/* The margin function is not vacuous: it finds the gaps of an input built
 * with a tie, and the seed search avoids inputs like it. */
START_TEST(test_pool_margin_sees_ties)
{
    static const struct pool_case pc = {2, 2, 1, 2, 2, 2, 2, false};
    const float tie[4] = {1, 3, 3, 0}, apart[4] = {1, 3, 2.5f, 0};
    ck_assert(ref_tie_gap(&pc, tie) == 0);
    ck_assert(fabs(ref_tie_gap(&pc, apart) - 0.5) < 1e-6);
}
END_TEST

/* One backward pass of the single-layer model n on dy (B samples). */
static void layer_backward(struct net *n, const float *dy, float *dx)
{
    float *dw = filled(n->m.n_weights + 1, 0);
    node_backward(n, 1, dy, dx, dw);
    free(dw);
}

/* Ties: MaxPooling routes dy to the first maximum in row-major order (TF's
 * MaxPoolGrad); GlobalMaxPooling splits it evenly (tf.reduce_max's
 * gradient). */
START_TEST(test_max_ties)
{
    const float x[8] = {2, 5, 5, 1, /* */ 5, 0, 3, 3};
    struct net n;
    /* 2x4 image, 1 channel, (2, 2) windows: [2 5 / 5 0] and [5 1 / 3 3]. */
    run_layer(&n, "layers:\n  - MaxPooling2D: {input_shape: [2, 4, 1]}\ncompile: {loss: mse}\n",
              1, x);
    ck_assert_float_eq(n.m.output->y[0], 5);
    ck_assert_float_eq(n.m.output->y[1], 5);
    const float dy[2] = {1, 10};
    float dx[8] = {0};
    layer_backward(&n, dy, dx);
    const float want[8] = {0, 1, 10, 0, 0, 0, 0, 0};
    for (int k = 0; k < 8; k++)
        ck_assert_msg(dx[k] == want[k], "max dx[%d] = %g, want %g", k, dx[k], want[k]);
    net_free(&n);

    /* GlobalMaxPooling1D over 4 steps, 2 features: three maxima of 5 in
     * feature 0, one of 3 in feature 1. */
    const float g[8] = {5, 1, 5, 3, 2, 2, 5, 0};
    run_layer(&n, "layers:\n  - GlobalMaxPooling1D: {input_shape: [4, 2]}\n"
                  "compile: {loss: mse}\n", 1, g);
    ck_assert_float_eq(n.m.output->y[0], 5);
    ck_assert_float_eq(n.m.output->y[1], 3);
    const float gdy[2] = {3, 7};
    float gdx[8] = {0};
    layer_backward(&n, gdy, gdx);
    const float gwant[8] = {1, 0, 1, 7, 0, 0, 1, 0};
    for (int k = 0; k < 8; k++)
        ck_assert_msg(fabsf(gdx[k] - gwant[k]) < 1e-6f, "global dx[%d] = %g, want %g", k,
                      gdx[k], gwant[k]);
    net_free(&n);
}
END_TEST

/* ---- global pooling ----------------------------------------------------------- */

START_TEST(test_global_forward)
{
    static const struct {
        const char *cls;
        const char *shape;
        size_t P, C;
        bool keepdims;
        const char *out;
    } cases[] = {
        {"GlobalMaxPooling1D", "[7, 3]", 7, 3, false, "(None, 3)"},
        {"GlobalMaxPooling1D", "[7, 3]", 7, 3, true, "(None, 1, 3)"},
        {"GlobalAveragePooling1D", "[7, 3]", 7, 3, false, "(None, 3)"},
        {"GlobalAveragePooling1D", "[1, 4]", 1, 4, true, "(None, 1, 4)"},
        {"GlobalMaxPooling2D", "[3, 5, 2]", 15, 2, false, "(None, 2)"},
        {"GlobalMaxPooling2D", "[3, 5, 2]", 15, 2, true, "(None, 1, 1, 2)"},
        {"GlobalAveragePooling2D", "[3, 5, 2]", 15, 2, false, "(None, 2)"},
        {"GlobalAveragePooling2D", "[4, 2, 3]", 8, 3, true, "(None, 1, 1, 3)"},
    };
    char yaml[256], buf[64];
    snprintf(yaml, sizeof yaml, "layers:\n  - %s: {keepdims: %s, input_shape: %s}\n"
             "compile: {loss: mse}\n", cases[_i].cls, cases[_i].keepdims ? "true" : "false",
             cases[_i].shape);
    enum { B = 3 };
    size_t P = cases[_i].P, C = cases[_i].C;
    float *x = filled(B * P * C, 0);
    gc_fill_uniform(x, B * P * C, -2, 2, 5 + (unsigned)_i);
    struct net n;
    run_layer(&n, yaml, B, x);
    ck_assert_str_eq(shape_format(&n.m.output->out, buf, sizeof buf), cases[_i].out);
    bool max = strstr(cases[_i].cls, "Max") != NULL;
    for (size_t b = 0; b < B; b++)
        for (size_t c = 0; c < C; c++) {
            double best = -INFINITY, sum = 0;
            for (size_t p = 0; p < P; p++) {
                best = fmax(best, x[(b * P + p) * C + c]);
                sum += x[(b * P + p) * C + c];
            }
            double want = max ? best : sum / (double)P;
            ck_assert_msg(fabs(n.m.output->y[b * C + c] - want) <= 1e-6 * (1 + fabs(want)),
                          "%s: y[%zu, %zu] = %g, want %g", cases[_i].cls, b, c,
                          n.m.output->y[b * C + c], want);
        }
    free(x);
    net_free(&n);
}
END_TEST

/* Gap between the two largest values of each channel of a GlobalMaxPooling
 * input (all positions). */
static double global_margin(struct net *n)
{
    double gap = INFINITY;
    for (size_t i = 1; i < n->m.n_nodes; i++) {
        const struct node *nd = &n->m.nodes[i];
        if (strncmp(nd->layer->ops->class_name, "GlobalMaxPooling", 16) != 0)
            continue;
        const struct shape *s = &nd->in[0]->out;
        size_t C = s->dim[s->rank - 1], P = shape_size(s) / C;
        for (size_t b = 0; b < n->B; b++)
            for (size_t c = 0; c < C; c++) {
                double a = -INFINITY, z = -INFINITY;
                for (size_t p = 0; p < P; p++) {
                    double v = nd->in[0]->y[(b * P + p) * C + c];
                    if (v > a) {
                        z = a;
                        a = v;
                    } else if (v > z) {
                        z = v;
                    }
                }
                gap = fmin(gap, a - z);
            }
    }
    return gap;
}

START_TEST(test_global_gradients)
{
    static const char *const cases[] = {
        "  - Dense: {units: 3, input_shape: [5, 2]}\n  - GlobalMaxPooling1D\n",
        "  - Dense: {units: 3, input_shape: [5, 2]}\n  - GlobalAveragePooling1D\n",
        ("  - Dense: {units: 2, input_shape: [3, 4, 2]}\n"
         "  - GlobalMaxPooling2D: {keepdims: true}\n  - Flatten\n"),
        "  - Dense: {units: 2, input_shape: [3, 4, 2]}\n  - GlobalAveragePooling2D\n",
    };
    char yaml[512];
    snprintf(yaml, sizeof yaml, "layers:\n%s  - Dense: {units: 2, activation: tanh}\n"
             "compile: {loss: mse}\n", cases[_i]);
    check_model_margin(yaml, 3, false, global_margin, cases[_i]);
}
END_TEST

/* ---- contracts, shapes, serialization --------------------------------------------- */

START_TEST(test_pool_contracts)
{
    static const char *const model =
        "layers:\n"
        "  - Dense: {units: 3, input_shape: [6, 5, 2]}\n"
        "  - MaxPooling2D: {pool_size: 3, strides: [1, 2], padding: same}\n"
        "  - AveragePooling2D: {pool_size: [2, 3], strides: 1, padding: same}\n"
        "  - MaxPooling2D: {pool_size: [2, 1], padding: valid}\n"
        "  - GlobalAveragePooling2D: {keepdims: true}\n"
        "  - Reshape: [1, 3]\n"
        "  - Dense: {units: 4}\n"
        "  - Reshape: [4, 1]\n"
        "  - MaxPooling1D: {pool_size: 3, strides: 1, padding: same}\n"
        "  - AveragePooling1D: {pool_size: 2, strides: 1}\n"
        "  - GlobalMaxPooling1D\n"
        "  - Dense: {units: 2, activation: softmax}\n"
        "compile: {loss: categorical_crossentropy}\n";
    check_contracts(model, false, "pooling");
}
END_TEST

START_TEST(test_pool_shapes)
{
    static const struct {
        const char *layer, *input, *out;
    } cases[] = {
        /* The Keras guide's VGG-like convnet after its convolutions. */
        {"MaxPooling2D: [2, 2]", "[96, 96, 32]", "(None, 48, 48, 32)"},
        {"MaxPooling2D: {pool_size: [2, 2]}", "[44, 44, 64]", "(None, 22, 22, 64)"},
        {"MaxPooling1D: 3", "[96, 64]", "(None, 32, 64)"},
        {"MaxPooling1D", "[5, 2]", "(None, 2, 2)"},
        {"AveragePooling1D: {padding: same}", "[5, 2]", "(None, 3, 2)"},
        {"AveragePooling2D: {pool_size: 3, strides: 2}", "[7, 8, 1]", "(None, 3, 3, 1)"},
        {"AveragePooling2D: {pool_size: 3, strides: 2, padding: same}", "[7, 8, 1]",
         "(None, 4, 4, 1)"},
        {"MaxPooling2D: [2, null, same]", "[5, 5, 3]", "(None, 3, 3, 3)"},
        {"MaxPool2D: {pool_size: [3, 1], strides: [1, 1]}", "[3, 3, 2]", "(None, 1, 3, 2)"},
        {"AvgPool1D: {pool_size: 4, strides: 4, padding: valid}", "[4, 3]", "(None, 1, 3)"},
        {"GlobalAvgPool2D", "[3, 3, 5]", "(None, 5)"},
        {"GlobalMaxPool1D: {keepdims: true}", "[3, 5]", "(None, 1, 5)"},
    };
    char yaml[256], buf[64];
    snprintf(yaml, sizeof yaml, "layers:\n  - Input: {shape: %s}\n  - %s\n"
             "compile: {loss: mse}\n", cases[_i].input, cases[_i].layer);
    struct net n;
    net_load(&n, yaml);
    ck_assert_str_eq(shape_format(&n.m.output->out, buf, sizeof buf), cases[_i].out);
    ck_assert_uint_eq(model_count_params(&n.m, true), 0);
    ck_assert_uint_eq(model_count_params(&n.m, false), 0);
    ck_assert_uint_eq(n.m.n_weights, 0);
    net_free(&n);
}
END_TEST

/* The layer's Keras config as JSON text (layer_to_json). */
static char *layer_json(const char *yaml, size_t node)
{
    return yaml_layer_json(yaml, node, false);
}

/* Keras serializes the normalized tuples: 1-D pool_size and strides as
 * 1-tuples, strides = pool_size when null (base_pooling1d.py). */
START_TEST(test_pool_serialization)
{
    static const struct {
        const char *layer, *input, *want;
    } cases[] = {
        {"MaxPooling1D", "[6, 2]",
         "\"pool_size\":[2],\"strides\":[2],\"padding\":\"valid\","
         "\"data_format\":\"channels_last\""},
        {"AveragePooling1D: {pool_size: 3, strides: 1, padding: same}", "[6, 2]",
         "\"pool_size\":[3],\"strides\":[1],\"padding\":\"same\""},
        {"MaxPooling2D: 3", "[6, 6, 2]", "\"pool_size\":[3,3],\"strides\":[3,3]"},
        {"AveragePooling2D: {pool_size: [2, 3], strides: 1}", "[6, 6, 2]",
         "\"pool_size\":[2,3],\"strides\":[1,1]"},
        {"GlobalMaxPooling2D", "[6, 6, 2]",
         "\"data_format\":\"channels_last\",\"keepdims\":false"},
        {"GlobalAveragePooling1D: {keepdims: true}", "[6, 2]", "\"keepdims\":true"},
    };
    char yaml[256];
    snprintf(yaml, sizeof yaml, "layers:\n  - Input: {shape: %s}\n  - %s\n"
             "compile: {loss: mse}\n", cases[_i].input, cases[_i].layer);
    char *text = layer_json(yaml, 1);
    /* The writer may put spaces after ':' and ','; compare without them. */
    char *p = text, *q = text;
    for (; *p; p++)
        if (*p != ' ' && *p != '\n')
            *q++ = *p;
    *q = 0;
    ck_assert_msg(strstr(text, cases[_i].want) != NULL, "%s: %s lacks %s", cases[_i].layer,
                  text, cases[_i].want);
    free(text);
}
END_TEST

/* Bad configurations are located errors, never crashes. */
START_TEST(test_pool_errors)
{
    static const struct {
        const char *layer, *input, *msg;
    } cases[] = {
        {"MaxPooling2D: 0", "[4, 4, 1]", "pool_size values must be positive"},
        {"MaxPooling2D: {strides: [1, -1]}", "[4, 4, 1]", "strides values must be positive"},
        {"MaxPooling1D: [2, 2]", "[4, 1]", "pool_size must be one integer"},
        {"AveragePooling2D: {pool_size: [1, 2, 3]}", "[4, 4, 1]", "found 3 values"},
        {"MaxPooling2D: 3", "[2, 5, 1]", "pool_size 3 is larger than the input's 2 rows"},
        {"MaxPooling1D: 4", "[3, 2]", "the output would be empty"},
        {"MaxPooling2D", "[4, 4]", "expects input of rank 4"},
        {"GlobalAveragePooling1D", "[4, 4, 4]", "expects input of rank 3"},
        {"MaxPooling2D: {data_format: channels_first}", "[4, 4, 1]",
         "data_format 'channels_first' of MaxPooling2D is not supported by nnc yet"},
        {"AveragePooling2D: {padding: causal}", "[4, 4, 1]", "unknown padding 'causal'"},
        {"GlobalMaxPooling2D: {data_format: channels_first}", "[4, 4, 1]",
         "not supported by nnc yet"},
    };
    char yaml[256];
    snprintf(yaml, sizeof yaml,
             "layers:\n  - Input: {shape: %s}\n  - %s\n"
             "compile: {loss: mse}\n",
             cases[_i].input, cases[_i].layer);
    /* Located: "file:line:col: ..." on the layer's line. */
    expect_model_error(yaml, cases[_i].msg, 3);
}
END_TEST

static Suite *pool_suite(void)
{
    Suite *s = suite_create("pool");
    TCase *tc = tcase_create("forward");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_pool_forward, 0, 2 * N_FORWARD);
    tcase_add_loop_test(tc, test_pool_keras_examples, 0, 10);
    tcase_add_loop_test(tc, test_global_forward, 0, 8);
    suite_add_tcase(s, tc);

    tc = tcase_create("gradients");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_pool_gradients, 0, 2 * N_GRAD);
    tcase_add_test(tc, test_pool_margin_sees_ties);
    tcase_add_test(tc, test_max_ties);
    tcase_add_loop_test(tc, test_global_gradients, 0, 4);
    suite_add_tcase(s, tc);

    tc = tcase_create("contracts");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_pool_contracts);
    tcase_add_loop_test(tc, test_pool_shapes, 0, 12);
    tcase_add_loop_test(tc, test_pool_serialization, 0, 6);
    tcase_add_loop_test(tc, test_pool_errors, 0, 11);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(pool_suite());
}
