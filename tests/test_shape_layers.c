/* Layers that move values without weights: ZeroPadding1D/2D, Cropping1D/2D,
 * UpSampling1D/2D, Permute, RepeatVector, and Reshape/Flatten's Keras
 * behaviour. Forward values against naive loops written here (each walks
 * the input and places values where Keras puts them), every accepted form
 * of the padding/cropping arguments with its Keras serialization, gradient
 * checks, the layer contracts, shapes and located errors. */
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

/* A model of one layer on B samples of x; output in n->m.output->y. */
static void run_layer(struct net *n, const char *yaml, size_t B, const float *x)
{
    net_load(n, yaml);
    n->B = B;
    model_workspace(&n->m, B);
    memcpy(model_input(&n->m), x, B * model_input_size(&n->m) * sizeof *x);
    model_forward(&n->m, B, false, NULL);
}

static void one_layer_yaml(char *buf, size_t size, const char *input, const char *layer)
{
    snprintf(buf, size, "layers:\n  - Input: {shape: %s}\n  - %s\ncompile: {loss: mse}\n", input,
             layer);
}

/* The layer's Keras config as JSON text without blanks (layer_to_json). */
static char *layer_json(const char *yaml, size_t node)
{
    char *text = yaml_layer_json(yaml, node, false);
    char *q = text;
    for (const char *p = text; *p; p++)
        if (*p != ' ' && *p != '\n')
            *q++ = *p;
    *q = 0;
    return text;
}

static void expect_json(const char *yaml, const char *want)
{
    char *text = layer_json(yaml, 1);
    ck_assert_msg(strstr(text, want) != NULL, "%s lacks %s", text, want);
    free(text);
}

static void expect_close(const float *got, const float *want, size_t count, const char *what)
{
    for (size_t k = 0; k < count; k++)
        ck_assert_msg(got[k] == want[k], "%s: y[%zu] = %g, want %g", what, k, got[k], want[k]);
}

/* ---- padding and cropping ------------------------------------------------------ */

/* Every form Keras accepts (zero_padding2d.py, cropping2d.py, ...), what it
 * means as (top, bottom, left, right) and how Keras serializes it. Inputs:
 * 2-D layers (5, 6, 2), 1-D layers (7, 3). */
static const struct {
    const char *layer;
    long pad[4];
    const char *out, *json;
} pad_cases[] = {
    {"ZeroPadding2D", {1, 1, 1, 1}, "(None, 7, 8, 2)", "\"padding\":[[1,1],[1,1]]"},
    {"ZeroPadding2D: 2", {2, 2, 2, 2}, "(None, 9, 10, 2)", "\"padding\":[[2,2],[2,2]]"},
    {"ZeroPadding2D: [1, 2]", {1, 1, 2, 2}, "(None, 7, 10, 2)", "\"padding\":[[1,1],[2,2]]"},
    {"ZeroPadding2D: [[1, 0], [2, 3]]", {1, 0, 2, 3}, "(None, 6, 11, 2)",
     "\"padding\":[[1,0],[2,3]]"},
    {"ZeroPadding2D: [[0, 2], 1]", {0, 2, 1, 1}, "(None, 7, 8, 2)", "\"padding\":[[0,2],[1,1]]"},
    {"ZeroPadding2D: {padding: [[0, 1], [3, 0]], data_format: channels_last}", {0, 1, 3, 0},
     "(None, 6, 9, 2)", "\"padding\":[[0,1],[3,0]],\"data_format\":\"channels_last\""},
    {"ZeroPadding1D", {1, 1, 0, 0}, "(None, 9, 3)", "\"padding\":[1,1]"},
    {"ZeroPadding1D: 2", {2, 2, 0, 0}, "(None, 11, 3)", "\"padding\":[2,2]"},
    {"ZeroPadding1D: [0, 3]", {0, 3, 0, 0}, "(None, 10, 3)", "\"padding\":[0,3]"},
    {"Cropping1D", {1, 1, 0, 0}, "(None, 5, 3)", "\"cropping\":[1,1]"},
    {"Cropping1D: {cropping: [2, 0]}", {2, 0, 0, 0}, "(None, 5, 3)", "\"cropping\":[2,0]"},
    {"Cropping1D: 3", {3, 3, 0, 0}, "(None, 1, 3)", "\"cropping\":[3,3]"},
    {"Cropping2D", {0, 0, 0, 0}, "(None, 5, 6, 2)", "\"cropping\":[[0,0],[0,0]]"},
    {"Cropping2D: 1", {1, 1, 1, 1}, "(None, 3, 4, 2)", "\"cropping\":[[1,1],[1,1]]"},
    {"Cropping2D: [2, 1]", {2, 2, 1, 1}, "(None, 1, 4, 2)", "\"cropping\":[[2,2],[1,1]]"},
    {"Cropping2D: [[1, 0], [0, 3]]", {1, 0, 0, 3}, "(None, 4, 3, 2)",
     "\"cropping\":[[1,0],[0,3]]"},
};
#define N_PAD (int)(sizeof pad_cases / sizeof pad_cases[0])

START_TEST(test_pad_crop)
{
    bool two = strstr(pad_cases[_i].layer, "2D") != NULL;
    bool crop = strncmp(pad_cases[_i].layer, "Cropping", 8) == 0;
    size_t H = two ? 5 : 7, W = two ? 6 : 1, C = two ? 2 : 3;
    const long *p = pad_cases[_i].pad;
    char yaml[256], buf[64];
    one_layer_yaml(yaml, sizeof yaml, two ? "[5, 6, 2]" : "[7, 3]", pad_cases[_i].layer);
    enum { B = 2 };
    size_t in = H * W * C;
    float *x = filled(B * in, 0);
    gc_fill_uniform(x, B * in, -1, 1, 3 + (unsigned)_i);
    struct net n;
    run_layer(&n, yaml, B, x);
    ck_assert_str_eq(shape_format(&n.m.output->out, buf, sizeof buf), pad_cases[_i].out);
    size_t OH = crop ? H - p[0] - p[1] : H + p[0] + p[1];
    size_t OW = crop ? W - p[2] - p[3] : W + p[2] + p[3];
    size_t out = OH * OW * C;
    ck_assert_uint_eq(model_output_size(&n.m), out);
    float *want = filled(B * out, 0);
    if (crop) { /* every output reads the input shifted by (top, left) */
        for (size_t b = 0; b < B; b++)
            for (size_t oh = 0; oh < OH; oh++)
                for (size_t ow = 0; ow < OW; ow++)
                    for (size_t c = 0; c < C; c++)
                        want[((b * OH + oh) * OW + ow) * C + c] =
                            x[((b * H + oh + (size_t)p[0]) * W + ow + (size_t)p[2]) * C + c];
    } else { /* every input lands at (h + top, w + left) among zeros */
        for (size_t b = 0; b < B; b++)
            for (size_t h = 0; h < H; h++)
                for (size_t w = 0; w < W; w++)
                    for (size_t c = 0; c < C; c++)
                        want[((b * OH + h + (size_t)p[0]) * OW + w + (size_t)p[2]) * C + c] =
                            x[((b * H + h) * W + w) * C + c];
    }
    expect_close(n.m.output->y, want, B * out, pad_cases[_i].layer);
    ck_assert_uint_eq(n.m.n_weights, 0);
    net_free(&n);
    expect_json(yaml, pad_cases[_i].json);
    free(x), free(want);
}
END_TEST

/* ---- upsampling -------------------------------------------------------------- */

static const struct {
    const char *layer;
    size_t sh, sw;
    const char *out, *json;
} up_cases[] = {
    {"UpSampling1D", 2, 1, "(None, 8, 3)", "\"size\":2"},
    {"UpSampling1D: 3", 3, 1, "(None, 12, 3)", "\"size\":3"},
    {"UpSampling2D", 2, 2, "(None, 6, 8, 2)",
     "\"size\":[2,2],\"data_format\":\"channels_last\",\"interpolation\":\"nearest\""},
    {"UpSampling2D: 3", 3, 3, "(None, 9, 12, 2)", "\"size\":[3,3]"},
    {"UpSampling2D: [1, 2]", 1, 2, "(None, 3, 8, 2)", "\"size\":[1,2]"},
    {"UpSampling2D: {size: [3, 1], interpolation: nearest}", 3, 1, "(None, 9, 4, 2)",
     "\"size\":[3,1]"},
};

START_TEST(test_upsampling)
{
    bool two = strstr(up_cases[_i].layer, "2D") != NULL;
    size_t H = two ? 3 : 4, W = two ? 4 : 1, C = two ? 2 : 3;
    size_t sh = up_cases[_i].sh, sw = up_cases[_i].sw;
    char yaml[256], buf[64];
    one_layer_yaml(yaml, sizeof yaml, two ? "[3, 4, 2]" : "[4, 3]", up_cases[_i].layer);
    enum { B = 2 };
    size_t in = H * W * C, out = in * sh * sw, OW = W * sw;
    float *x = filled(B * in, 0), *want = filled(B * out, 0);
    gc_fill_uniform(x, B * in, -1, 1, 9 + (unsigned)_i);
    /* Each input value fills its sh x sw block. */
    for (size_t b = 0; b < B; b++)
        for (size_t h = 0; h < H; h++)
            for (size_t w = 0; w < W; w++)
                for (size_t i = 0; i < sh; i++)
                    for (size_t j = 0; j < sw; j++)
                        for (size_t c = 0; c < C; c++)
                            want[((b * H * sh + h * sh + i) * OW + w * sw + j) * C + c] =
                                x[((b * H + h) * W + w) * C + c];
    struct net n;
    run_layer(&n, yaml, B, x);
    ck_assert_str_eq(shape_format(&n.m.output->out, buf, sizeof buf), up_cases[_i].out);
    expect_close(n.m.output->y, want, B * out, up_cases[_i].layer);
    net_free(&n);
    expect_json(yaml, up_cases[_i].json);
    free(x), free(want);
}
END_TEST

/* The Keras docstring example: UpSampling1D(size=2) on [[0 1 2] [3 4 5]]. */
START_TEST(test_upsampling_keras_example)
{
    const float x[6] = {0, 1, 2, 3, 4, 5}, want[12] = {0, 1, 2, 0, 1, 2, 3, 4, 5, 3, 4, 5};
    struct net n;
    run_layer(&n, "layers:\n  - UpSampling1D: {size: 2, input_shape: [2, 3]}\n"
                  "compile: {loss: mse}\n", 1, x);
    expect_close(n.m.output->y, want, 12, "UpSampling1D example");
    net_free(&n);
}
END_TEST

/* ---- Permute and RepeatVector ------------------------------------------------------ */

static const struct {
    const char *layer, *input;
    int rank;
    size_t dim[4];
    int perm[4]; /* 1-based */
    const char *out;
} permute_cases[] = {
    {"Permute: [2, 1]", "[3, 4]", 2, {3, 4}, {2, 1}, "(None, 4, 3)"},
    {"Permute: {dims: [3, 1, 2]}", "[2, 3, 4]", 3, {2, 3, 4}, {3, 1, 2}, "(None, 4, 2, 3)"},
    {"Permute: [2, 3, 1]", "[2, 3, 4]", 3, {2, 3, 4}, {2, 3, 1}, "(None, 3, 4, 2)"},
    {"Permute: [1, 2, 3]", "[2, 3, 4]", 3, {2, 3, 4}, {1, 2, 3}, "(None, 2, 3, 4)"},
    {"Permute: [4, 2, 1, 3]", "[2, 3, 2, 3]", 4, {2, 3, 2, 3}, {4, 2, 1, 3},
     "(None, 3, 3, 2, 2)"},
};

START_TEST(test_permute)
{
    int r = permute_cases[_i].rank;
    const size_t *dim = permute_cases[_i].dim;
    const int *perm = permute_cases[_i].perm;
    char yaml[256], buf[64];
    one_layer_yaml(yaml, sizeof yaml, permute_cases[_i].input, permute_cases[_i].layer);
    size_t size = 1, odim[4], ostride[4];
    for (int a = 0; a < r; a++) {
        size *= dim[a];
        odim[a] = dim[perm[a] - 1];
    }
    for (int a = r - 1, s = 1; a >= 0; a--) {
        ostride[a] = (size_t)s;
        s *= (int)odim[a];
    }
    enum { B = 2 };
    float *x = filled(B * size, 0), *want = filled(B * size, 0);
    gc_fill_uniform(x, B * size, -1, 1, 21 + (unsigned)_i);
    /* Walk the input; output axis a takes input axis perm[a] - 1. */
    for (size_t b = 0; b < B; b++)
        for (size_t i = 0; i < size; i++) {
            size_t idx[4], rest = i, o = 0;
            for (int a = r - 1; a >= 0; a--) {
                idx[a] = rest % dim[a];
                rest /= dim[a];
            }
            for (int a = 0; a < r; a++)
                o += idx[perm[a] - 1] * ostride[a];
            want[b * size + o] = x[b * size + i];
        }
    struct net n;
    run_layer(&n, yaml, B, x);
    ck_assert_str_eq(shape_format(&n.m.output->out, buf, sizeof buf), permute_cases[_i].out);
    expect_close(n.m.output->y, want, B * size, permute_cases[_i].layer);
    net_free(&n);
    free(x), free(want);
}
END_TEST

START_TEST(test_repeat_vector)
{
    const float x[6] = {1, 2, 3, 4, 5, 6};
    const float want[18] = {1, 2, 3, 1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6, 4, 5, 6};
    char yaml[256], buf[64];
    one_layer_yaml(yaml, sizeof yaml, "[3]", "RepeatVector: 3");
    struct net n;
    run_layer(&n, yaml, 2, x);
    ck_assert_str_eq(shape_format(&n.m.output->out, buf, sizeof buf), "(None, 3, 3)");
    expect_close(n.m.output->y, want, 18, "RepeatVector");
    net_free(&n);
    expect_json(yaml, "\"n\":3");
    one_layer_yaml(yaml, sizeof yaml, "[2, 1]", "Permute: [2, 1]");
    expect_json(yaml, "\"dims\":[2,1]");
}
END_TEST

/* ---- Reshape and Flatten as Keras has them ---------------------------------------- */

START_TEST(test_reshape_keras)
{
    static const struct {
        const char *layer, *input, *out, *json;
    } cases[] = {
        /* keras/layers/reshaping/reshape.py docstring: (12,) -> (3, 4) -> (6, 2) -> (-1, 2, 2) */
        {"Reshape: [3, 4]", "[12]", "(None, 3, 4)", "\"target_shape\":[3,4]"},
        {"Reshape: {target_shape: [-1, 2, 2]}", "[6, 2]", "(None, 3, 2, 2)",
         "\"target_shape\":[-1,2,2]"},
        {"Reshape: [2, -1]", "[3, 2, 2]", "(None, 2, 6)", "\"target_shape\":[2,-1]"},
        {"Flatten", "[3, 2, 2]", "(None, 12)", "\"data_format\":\"channels_last\""},
    };
    char yaml[256], buf[64];
    one_layer_yaml(yaml, sizeof yaml, cases[_i].input, cases[_i].layer);
    struct net n;
    net_load(&n, yaml);
    ck_assert_str_eq(shape_format(&n.m.output->out, buf, sizeof buf), cases[_i].out);
    net_free(&n);
    expect_json(yaml, cases[_i].json);
}
END_TEST

/* ---- gradients and contracts -------------------------------------------------------- */

/* Each layer between a Dense on the last axis (whose weights check the
 * layer's dx) and a Dense after it. */
START_TEST(test_shape_gradients)
{
    static const char *const cases[] = {
        "  - Dense: {units: 2, input_shape: [3, 4, 2]}\n  - ZeroPadding2D: [[1, 0], [2, 1]]\n"
        "  - Flatten\n",
        "  - Dense: {units: 2, input_shape: [5, 4, 2]}\n  - Cropping2D: [[1, 2], [0, 1]]\n"
        "  - Flatten\n",
        "  - Dense: {units: 2, input_shape: [4, 3]}\n  - ZeroPadding1D: [2, 1]\n",
        "  - Dense: {units: 2, input_shape: [6, 3]}\n  - Cropping1D: [1, 3]\n",
        "  - Dense: {units: 2, input_shape: [2, 3, 2]}\n  - UpSampling2D: [2, 3]\n"
        "  - Flatten\n",
        "  - Dense: {units: 2, input_shape: [3, 2]}\n  - UpSampling1D: 3\n",
        "  - Dense: {units: 3, input_shape: [2, 4, 2]}\n  - Permute: [3, 1, 2]\n",
        "  - Dense: {units: 3, input_shape: [4]}\n  - RepeatVector: 3\n",
    };
    char yaml[512];
    snprintf(yaml, sizeof yaml, "layers:\n%s  - Dense: 2\ncompile: {loss: mse}\n", cases[_i]);
    check_model(yaml, 3, false, cases[_i]);
}
END_TEST

START_TEST(test_shape_contracts)
{
    static const char *const model =
        "layers:\n"
        "  - Dense: {units: 2, input_shape: [4, 3, 2]}\n"
        "  - ZeroPadding2D: [[1, 0], [2, 1]]\n"
        "  - UpSampling2D: [1, 2]\n"
        "  - Cropping2D: [[0, 2], [1, 3]]\n"
        "  - Permute: [2, 3, 1]\n"
        "  - Reshape: [-1, 3]\n"
        "  - ZeroPadding1D: 1\n"
        "  - UpSampling1D\n"
        "  - Cropping1D: [3, 2]\n"
        "  - Flatten\n"
        "  - Dense: {units: 3}\n"
        "  - RepeatVector: 2\n"
        "  - Dense: {units: 2, activation: softmax}\n"
        "compile: {loss: categorical_crossentropy}\n";
    check_contracts(model, false, "shape layers");
}
END_TEST

/* ---- errors ------------------------------------------------------------------------ */

START_TEST(test_shape_errors)
{
    static const struct {
        const char *layer, *input, *msg;
    } cases[] = {
        {"Cropping2D: [[3, 2], 0]", "[5, 6, 2]",
         "Cropping2D cropping 3 + 2 leaves nothing of the input's 5"},
        {"Cropping1D: [4, 3]", "[7, 3]", "cropping 4 + 3 leaves nothing"},
        {"ZeroPadding2D: -1", "[5, 6, 2]", "padding values must be non-negative integers"},
        {"ZeroPadding2D: [[1, -2], 1]", "[5, 6, 2]", "found -2"},
        {"ZeroPadding2D: [1, 2, 3]", "[5, 6, 2]", "expected an integer or a list of 2 entries"},
        {"ZeroPadding2D: [[1, 2, 3], 1]", "[5, 6, 2]", "expected an integer or a list of 2"},
        {"ZeroPadding1D: [[1, 2]]", "[5, 2]", "expected an integer or a list of 2 integers"},
        {"ZeroPadding1D: {padding: x}", "[5, 2]", "'x'"},
        {"ZeroPadding2D", "[5, 6]", "ZeroPadding2D expects input of rank 4"},
        {"Cropping1D", "[5, 6, 2]", "Cropping1D expects input of rank 3"},
        {"Cropping2D: {data_format: channels_first}", "[5, 6, 2]", "not supported by nnc yet"},
        {"UpSampling2D: {interpolation: bilinear}", "[5, 6, 2]",
         "interpolation 'bilinear' of UpSampling2D is not supported by nnc yet"},
        {"UpSampling2D: {interpolation: cubic}", "[5, 6, 2]", "unknown interpolation 'cubic'"},
        {"UpSampling1D: 0", "[5, 2]", "UpSampling1D size must be positive"},
        {"UpSampling2D: [2, 0]", "[5, 6, 2]", "UpSampling2D size must be positive"},
        {"UpSampling2D: [2, 2, 2]", "[5, 6, 2]", "found 3 values"},
        {"UpSampling1D", "[5]", "expects input of rank 3"},
        {"Permute: [1, 1]", "[2, 3]", "Permute dims must be a permutation of 1..2"},
        {"Permute: [0, 1]", "[2, 3]", "must be a permutation"},
        {"Permute: [1, 3]", "[2, 3]", "must be a permutation"},
        {"Permute: [2, 1]", "[2, 3, 4]", "Permute dims has 2 axes but the input (None, 2, 3, 4)"},
        {"Permute", "[2, 3]", "Permute needs argument 'dims'"},
        {"RepeatVector: 3", "[2, 3]",
         "RepeatVector expects input of rank 2 (batch, features), found (None, 2, 3)"},
        {"RepeatVector: 0", "[3]", "RepeatVector n must be a positive integer"},
        {"Reshape: [4, -1]", "[6]", "cannot reshape input (None, 6)"},
        {"Reshape: [4]", "[6]", "cannot reshape input (None, 6) (6 values) to (None, 4)"},
        {"Reshape: [-1, -1]", "[6]", "only one -1"},
    };
    char yaml[256];
    one_layer_yaml(yaml, sizeof yaml, cases[_i].input, cases[_i].layer);
    expect_model_error(yaml, cases[_i].msg, 3);
}
END_TEST

static Suite *shape_suite(void)
{
    Suite *s = suite_create("shape_layers");
    TCase *tc = tcase_create("forward");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_pad_crop, 0, N_PAD);
    tcase_add_loop_test(tc, test_upsampling, 0, 6);
    tcase_add_test(tc, test_upsampling_keras_example);
    tcase_add_loop_test(tc, test_permute, 0, 5);
    tcase_add_test(tc, test_repeat_vector);
    tcase_add_loop_test(tc, test_reshape_keras, 0, 4);
    suite_add_tcase(s, tc);

    tc = tcase_create("gradients");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_shape_gradients, 0, 8);
    tcase_add_test(tc, test_shape_contracts);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_shape_errors, 0, 27);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(shape_suite());
}
