/* Layers and whole models: finite-difference gradient checks of every weight
 * for every layer type and activation (each layer sits after a Dense, so the
 * first Dense's weights check the layer's dx too), every loss through a
 * model, and the contracts of STYLE.md: backward accumulates, a batch of B
 * equals B batches of 1, and forward/backward write exactly the shapes that
 * shape inference declared. Models are built from YAML text through
 * model_load (written to a mkstemp file that is removed at once). */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../src/layer.h"
#include "../src/loss.h"
#include "../src/model.h"
#include "../src/model_file.h"
#include "../src/rng.h"
#include "gradcheck.h"
#include "netcheck.h"
#include "fixtures.h"

START_TEST(test_dense_activations)
{
    const char *name = activation_name((enum act_kind)_i);
    char yaml[512];
    snprintf(yaml, sizeof yaml,
             "layers:\n"
             "  - Dense: {units: 4, input_shape: [5]}\n"
             "  - Dense: {units: 3, activation: %s}\n"
             "compile: {loss: mse}\n",
             name);
    check_model(yaml, 3, false, name);
}
END_TEST

/* The Activation layer with every activation, between two Dense layers. */
START_TEST(test_activation_layer)
{
    const char *name = activation_name((enum act_kind)_i);
    char yaml[512];
    snprintf(yaml, sizeof yaml,
             "layers:\n"
             "  - Dense: {units: 4, input_shape: [5]}\n"
             "  - Activation: {activation: %s}\n"
             "  - Dense: {units: 3}\n"
             "compile: {loss: mse}\n",
             name);
    check_model(yaml, 3, false, name);
}
END_TEST

START_TEST(test_dense_no_bias)
{
    check_model("layers:\n"
                "  - Dense: {units: 4, use_bias: false, activation: tanh, input_shape: [5]}\n"
                "  - Dense: {units: 3, use_bias: false}\n"
                "compile: {loss: mse}\n",
                3, false, "no bias");
}
END_TEST

/* Dense on (B, 3, 4) acts on the last axis: 3 rows per sample. */
START_TEST(test_dense_3d)
{
    check_model("layers:\n"
                "  - Dense: {units: 5, activation: tanh, input_shape: [3, 4]}\n"
                "  - Dense: {units: 2, activation: sigmoid}\n"
                "compile: {loss: mse}\n",
                2, false, "dense 3-D");
}
END_TEST

START_TEST(test_dropout_training)
{
    check_model("layers:\n"
                "  - Dense: {units: 6, input_shape: [5]}\n"
                "  - Dropout: {rate: 0.5}\n"
                "  - Dense: {units: 3, activation: tanh}\n"
                "compile: {loss: mse}\n",
                4, true, "dropout training");
}
END_TEST

/* Gradients of an inference-mode pass (Keras: Dropout is the identity
 * there), right after a training pass left a mask in the cache. */
START_TEST(test_dropout_inference_gradient)
{
    struct net n;
    net_load(&n, "layers:\n"
                 "  - Dense: {units: 6, input_shape: [5]}\n"
                 "  - Dropout: {rate: 0.5}\n"
                 "  - Dense: {units: 3, activation: tanh}\n"
                 "compile: {loss: mse}\n");
    net_prepare(&n, 4, true, -2, 2); /* leaves a training mask in the cache */
    n.training = false;
    net_gradcheck(&n, "dropout inference");
    net_free(&n);
}
END_TEST

START_TEST(test_flatten)
{
    check_model("layers:\n"
                "  - Dense: {units: 3, input_shape: [2, 4]}\n"
                "  - Flatten\n"
                "  - Dense: {units: 3, activation: tanh}\n"
                "compile: {loss: mse}\n",
                3, false, "flatten");
}
END_TEST

START_TEST(test_reshape)
{
    struct net n;
    net_load(&n, "layers:\n"
                 "  - Dense: {units: 6, input_shape: [5]}\n"
                 "  - Reshape: {target_shape: [2, -1]}\n"
                 "  - Dense: {units: 2, activation: tanh}\n"
                 "compile: {loss: mse}\n");
    char buf[96];
    ck_assert_str_eq(shape_format(&n.m.nodes[2].out, buf, sizeof buf), "(None, 2, 3)");
    ck_assert_str_eq(shape_format(&n.m.output->out, buf, sizeof buf), "(None, 2, 2)");
    net_prepare(&n, 3, false, -2, 2);
    net_gradcheck(&n, "reshape");
    net_free(&n);
}
END_TEST

/* A frozen layer passes the gradient on but gets none itself. */
START_TEST(test_frozen_layer)
{
    check_model("layers:\n"
                "  - Dense: {units: 4, input_shape: [5]}\n"
                "  - Dense: {units: 4, activation: tanh, trainable: false}\n"
                "  - Dense: {units: 2}\n"
                "compile: {loss: mse}\n",
                3, false, "frozen");
}
END_TEST

/* Every loss through a model, with the output activation it is used with. */
START_TEST(test_losses)
{
    static const struct {
        const char *loss, *head, *in;
    } cases[] = {
        {"categorical_crossentropy", "{units: 3, activation: softmax}", "[5]"},
        {"sparse_categorical_crossentropy", "{units: 3, activation: softmax}", "[5]"},
        {"sparse_categorical_crossentropy", "{units: 3, activation: softmax}", "[2, 5]"},
        {"binary_crossentropy", "{units: 2, activation: sigmoid}", "[5]"},
        {"mae", "{units: 3}", "[5]"},
        {"mse", "{units: 3}", "[2, 5]"},
        {"{categorical_crossentropy: {from_logits: true}}", "{units: 3}", "[5]"},
        {"{binary_crossentropy: {from_logits: true}}", "{units: 2}", "[5]"},
    };
    char yaml[512];
    snprintf(yaml, sizeof yaml,
             "layers:\n"
             "  - Dense: {units: 4, activation: tanh, input_shape: %s}\n"
             "  - Dense: %s\n"
             "compile: {loss: %s}\n",
             cases[_i].in, cases[_i].head, cases[_i].loss);
    check_model(yaml, 4, false, cases[_i].loss);
}
END_TEST

/* The checks are not vacuous: a gradient with one wrong sign fails. */
START_TEST(test_gradcheck_catches_errors)
{
    struct net n;
    net_load(&n, "layers:\n"
                 "  - Dense: {units: 4, activation: tanh, input_shape: [5]}\n"
                 "  - Dense: {units: 3}\n"
                 "compile: {loss: mse}\n");
    net_prepare(&n, 3, false, -2, 2);
    forward_loss(&n);
    model_backward(&n.m, n.B, n.t);
    size_t nw = n.m.n_weights, worst = 0;
    for (size_t i = 0; i < nw; i++)
        if (fabs(n.m.dw[i]) > fabs(n.m.dw[worst]))
            worst = i;
    float *g = malloc(nw * sizeof *g);
    ck_assert_ptr_nonnull(g);
    memcpy(g, n.m.dw, nw * sizeof *g);
    char report[256];
    ck_assert_int_eq(gradcheck(net_loss, &n, n.m.w, nw, g, GC_EPS, GC_ATOL, GC_RTOL, report,
                               sizeof report), 0);
    g[worst] = -g[worst];
    ck_assert_int_eq(gradcheck(net_loss, &n, n.m.w, nw, g, GC_EPS, GC_ATOL, GC_RTOL, report,
                               sizeof report), -1);
    g[worst] = -g[worst] * 1.05f; /* 5% off */
    ck_assert_int_eq(gradcheck(net_loss, &n, n.m.w, nw, g, GC_EPS, GC_ATOL, GC_RTOL, report,
                               sizeof report), -1);
    free(g);
    net_free(&n);
}
END_TEST

START_TEST(test_backward_accumulates)
{
    check_accumulates("layers:\n"
                      "  - Dense: {units: 6, input_shape: [2, 3]}\n"
                      "  - Dense: {units: 6, activation: tanh}\n"
                      "  - Dense: {units: 6, use_bias: false, activation: relu}\n"
                      "  - Activation: {activation: softmax}\n"
                      "  - Activation: {activation: elu}\n"
                      "  - Flatten\n"
                      "  - Reshape: {target_shape: [3, -1]}\n"
                      "  - Dense: {units: 2}\n"
                      "compile: {loss: mse}\n",
                      false, "inference");
    check_accumulates("layers:\n"
                      "  - Dense: {units: 7, input_shape: [5]}\n"
                      "  - Dropout: {rate: 0.4}\n"
                      "  - Dense: {units: 3, activation: sigmoid}\n"
                      "compile: {loss: mse}\n",
                      true, "dropout");
}
END_TEST

START_TEST(test_batch_equals_singles)
{
    check_batch_equals_singles("layers:\n"
                               "  - Dense: {units: 5, activation: tanh, input_shape: [3, 4]}\n"
                               "  - Dropout: 0.3\n"
                               "  - Flatten\n"
                               "  - Dense: {units: 6, use_bias: false}\n"
                               "  - Activation: relu\n"
                               "  - Dense: {units: 3, activation: softmax}\n"
                               "compile: {loss: categorical_crossentropy}\n",
                               "categorical");
    check_batch_equals_singles("layers:\n"
                               "  - Dense: {units: 6, activation: swish, input_shape: [4]}\n"
                               "  - Reshape: [2, 3]\n"
                               "  - Dense: {units: 4, activation: softmax}\n"
                               "compile: {loss: sparse_categorical_crossentropy}\n",
                               "sparse, 3-D output");
}
END_TEST

START_TEST(test_seed_shapes)
{
    static const struct {
        const char *input, *dense, *out;
        size_t params;
    } cases[] = {
        {"[784]", "(None, 4)", "(None, 10)", 3190},
        {"[784, 1]", "(None, 784, 4)", "(None, 784, 10)", 58},
        {"[32, 28]", "(None, 32, 4)", "(None, 32, 10)", 166},
        {"[32, 28, 1]", "(None, 32, 28, 4)", "(None, 32, 28, 10)", 58},
    };
    char yaml[512], buf[96];
    snprintf(yaml, sizeof yaml,
             "layers:\n"
             "  - Dense: {units: 4, input_shape: %s}\n"
             "  - Dense: {units: 10, activation: softmax}\n"
             "compile: {loss: categorical_crossentropy}\n",
             cases[_i].input);
    struct net n;
    net_load(&n, yaml);
    ck_assert_uint_eq(n.m.n_nodes, 3);
    ck_assert_str_eq(shape_format(&n.m.nodes[1].out, buf, sizeof buf), cases[_i].dense);
    ck_assert_str_eq(shape_format(&n.m.output->out, buf, sizeof buf), cases[_i].out);
    ck_assert_uint_eq(model_count_params(&n.m, true), cases[_i].params);
    ck_assert_uint_eq(model_count_params(&n.m, false), 0);
    ck_assert_uint_eq(n.m.n_weights, cases[_i].params);
    ck_assert_uint_eq(model_output_last_dim(&n.m), 10);
    check_writes(&n, false, cases[_i].input);
    net_free(&n);
}
END_TEST

START_TEST(test_layer_shapes)
{
    static const struct {
        const char *yaml;
        const char *shapes[6]; /* node outputs after the input */
        bool training;
    } cases[] = {
        {"layers:\n"
         "  - Dense: {units: 6, use_bias: false, activation: relu, input_shape: [2, 3]}\n"
         "  - Activation: softmax\n"
         "  - Flatten\n"
         "  - Reshape: {target_shape: [-1, 4]}\n"
         "  - Dense: 2\n"
         "compile: {loss: mse}\n",
         {"(None, 2, 6)", "(None, 2, 6)", "(None, 12)", "(None, 3, 4)", "(None, 3, 2)"},
         false},
        /* An odd number of values: Dropout draws one 64-bit number per two. */
        {"layers:\n"
         "  - Dense: {units: 7, input_shape: [3]}\n"
         "  - Dropout: 0.5\n"
         "  - Reshape: [7, 1]\n"
         "  - Dense: {units: 1, activation: sigmoid}\n"
         "compile: {loss: binary_crossentropy}\n",
         {"(None, 7)", "(None, 7)", "(None, 7, 1)", "(None, 7, 1)"},
         true},
        {"layers:\n"
         "  - Input: {shape: [5, 3]}\n"
         "  - Flatten\n"
         "  - Dropout: 0.2\n"
         "  - Dense: {units: 4, activation: softmax}\n"
         "compile: {loss: sparse_categorical_crossentropy}\n",
         {"(None, 15)", "(None, 15)", "(None, 4)"},
         false},
    };
    struct net n;
    net_load(&n, cases[_i].yaml);
    char buf[96], what[32];
    snprintf(what, sizeof what, "case %d", _i);
    size_t k = 0;
    for (size_t i = 1; i < n.m.n_nodes; i++, k++) {
        ck_assert_ptr_nonnull(cases[_i].shapes[k]);
        ck_assert_str_eq(shape_format(&n.m.nodes[i].out, buf, sizeof buf), cases[_i].shapes[k]);
    }
    ck_assert_ptr_null(cases[_i].shapes[k]);
    check_writes(&n, cases[_i].training, what);
    net_free(&n);
}
END_TEST

/* ---- Dropout ----------------------------------------------------------------- */

/* Dropout as the only layer on B = 100 samples of 1000 values. */
static void dropout_run(struct net *n, double rate, bool training, uint64_t seed)
{
    char yaml[256];
    snprintf(yaml, sizeof yaml,
             "layers:\n"
             "  - Dropout: {rate: %.17g, input_shape: [1000]}\n"
             "compile: {loss: mse}\n",
             rate);
    net_load(n, yaml);
    n->B = 100;
    model_workspace(&n->m, n->B);
    gc_fill_uniform(model_input(&n->m), n->B * 1000, 0.5f, 1.5f, 11);
    struct rng r;
    rng_seed(&r, seed);
    model_forward(&n->m, n->B, training, &r);
}

START_TEST(test_dropout_statistics)
{
    static const double rates[] = {0.1, 0.2, 0.5, 0.8};
    double rate = rates[_i];
    struct net n;
    dropout_run(&n, rate, true, 42);
    const float *x = model_input(&n.m), *y = n.m.output->y;
    float scale = (float)(1.0 / (1.0 - rate));
    size_t count = n.B * 1000, zeros = 0;
    double sx = 0, sy = 0;
    for (size_t i = 0; i < count; i++) {
        if (y[i] == 0)
            zeros++;
        else
            ck_assert_msg(y[i] == x[i] * scale, "y[%zu] = %.9g, want %.9g * %.9g", i, y[i], x[i],
                          scale);
        sx += x[i];
        sy += y[i];
    }
    double frac = (double)zeros / (double)count;
    ck_assert_msg(fabs(frac - rate) <= 0.02, "rate %g: %g of the values dropped", rate, frac);
    /* Inverted dropout keeps the expected value (std of the ratio ~ 0.6%). */
    ck_assert_msg(fabs(sy / sx - 1) <= 0.03, "rate %g: mean changed by %g", rate, sy / sx - 1);

    /* Backward passes the gradient through the same mask. */
    float *dy = n.m.output->dy, *dx = filled(count, 0);
    for (size_t i = 0; i < count; i++)
        dy[i] = 1;
    const float *xs[1] = {x};
    float *dxs[1] = {dx};
    struct layer_call c = {
        .B = n.B, .x = xs, .y = n.m.output->y, .cache = n.m.output->cache, .dy = dy, .dx = dxs,
        .w = n.m.w, .dw = n.m.dw, .training = true,
    };
    n.m.output->layer->ops->backward(n.m.output->layer, &c);
    for (size_t i = 0; i < count; i++)
        ck_assert_float_eq(dx[i], y[i] == 0 ? 0.0f : scale);
    free(dx);
    net_free(&n);
}
END_TEST

/* The same seed gives the same mask; another seed another one. */
START_TEST(test_dropout_replay)
{
    struct net a, b, c;
    dropout_run(&a, 0.5, true, 1);
    dropout_run(&b, 0.5, true, 1);
    dropout_run(&c, 0.5, true, 2);
    size_t count = a.B * 1000;
    ck_assert(memcmp(a.m.output->y, b.m.output->y, count * sizeof(float)) == 0);
    ck_assert(memcmp(a.m.output->y, c.m.output->y, count * sizeof(float)) != 0);
    net_free(&a), net_free(&b), net_free(&c);
}
END_TEST

/* At inference Dropout is the identity, and so is rate 0 in training. */
START_TEST(test_dropout_identity)
{
    struct net n;
    dropout_run(&n, 0.5, false, 1);
    size_t count = n.B * 1000;
    ck_assert(memcmp(n.m.output->y, model_input(&n.m), count * sizeof(float)) == 0);
    net_free(&n);
    dropout_run(&n, 0.0, true, 1);
    ck_assert(memcmp(n.m.output->y, model_input(&n.m), count * sizeof(float)) == 0);
    net_free(&n);
}
END_TEST

/* Backward reaches only nodes with trainable weights at or before them. */
START_TEST(test_needs_grad)
{
    struct net n;
    net_load(&n, "layers:\n"
                 "  - Rescaling: {scale: 0.5, input_shape: [4]}\n"
                 "  - Dense: {units: 3, trainable: false}\n"
                 "  - Dropout: 0.1\n"
                 "  - Dense: 3\n"
                 "  - Activation: tanh\n"
                 "compile: {loss: mse}\n");
    const bool want[] = {false, false, false, false, true, true};
    for (size_t i = 0; i < n.m.n_nodes; i++)
        ck_assert_msg(n.m.nodes[i].needs_grad == want[i], "node %zu", i);
    net_free(&n);
}
END_TEST

static Suite *layers_suite(void)
{
    Suite *s = suite_create("layers");
    TCase *tc = tcase_create("gradients");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_dense_activations, 0, ACT_COUNT);
    tcase_add_loop_test(tc, test_activation_layer, 0, ACT_COUNT);
    tcase_add_test(tc, test_dense_no_bias);
    tcase_add_test(tc, test_dense_3d);
    tcase_add_test(tc, test_dropout_training);
    tcase_add_test(tc, test_dropout_inference_gradient);
    tcase_add_test(tc, test_flatten);
    tcase_add_test(tc, test_reshape);
    tcase_add_test(tc, test_frozen_layer);
    tcase_add_loop_test(tc, test_losses, 0, 8);
    tcase_add_test(tc, test_gradcheck_catches_errors);
    suite_add_tcase(s, tc);

    tc = tcase_create("contracts");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_backward_accumulates);
    tcase_add_test(tc, test_batch_equals_singles);
    tcase_add_test(tc, test_needs_grad);
    tcase_add_loop_test(tc, test_seed_shapes, 0, 4);
    tcase_add_loop_test(tc, test_layer_shapes, 0, 3);
    suite_add_tcase(s, tc);

    tc = tcase_create("dropout");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_dropout_statistics, 0, 4);
    tcase_add_test(tc, test_dropout_replay);
    tcase_add_test(tc, test_dropout_identity);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(layers_suite());
}
