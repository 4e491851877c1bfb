/* The recurrent layers SimpleRNN, LSTM and GRU: finite-difference gradient
 * checks through time (return_sequences, go_backwards, masks, dropout,
 * GRU reset_after both ways), forward values against a naive
 * implementation of Keras's cell equations written here in double, masks
 * (a masked step carries the state and repeats the output), stateful carry
 * (two halves with the state carried equal the whole sequence), dropout
 * masks fixed along the sequence, shapes, parameter counts, LSTM's
 * unit_forget_bias, the legacy input_length and the configuration errors. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../src/layer.h"
#include "../src/model.h"
#include "../src/model_file.h"
#include "../src/rng.h"
#include "fixtures.h"
#include "gradcheck.h"
#include "netcheck.h"
#include "rnn_naive.h"

static const char *const classes[] = {"SimpleRNN", "LSTM", "GRU"};

/* ---- gradients ---------------------------------------------------------- */

/* Dense (which checks the layer's dx) -> the layer -> Dense, over 5 steps. */
static void check_rnn(const char *cls, const char *args, size_t B, bool training)
{
    char yaml[768];
    snprintf(yaml, sizeof yaml,
             "layers:\n"
             "  - Dense: {units: 3, input_shape: [5, 2]}\n"
             "  - %s: {units: 4%s}\n"
             "  - Dense: 2\n"
             "compile: {loss: mse}\n",
             cls, args);
    char what[256];
    snprintf(what, sizeof what, "%s%s", cls, args);
    check_model(yaml, B, training, what);
}

START_TEST(test_grad_last)
{
    check_rnn(classes[_i], "", 3, false);
}
END_TEST

START_TEST(test_grad_sequences)
{
    check_rnn(classes[_i], ", return_sequences: true", 3, false);
}
END_TEST

START_TEST(test_grad_backwards)
{
    check_rnn(classes[_i], ", go_backwards: true", 3, false);
    check_rnn(classes[_i], ", go_backwards: true, return_sequences: true", 2, false);
}
END_TEST

START_TEST(test_grad_no_bias)
{
    check_rnn(classes[_i], ", use_bias: false, return_sequences: true", 2, false);
}
END_TEST

/* Other activations: softsign, and the gate activation hard_sigmoid of
 * older Keras (tfjs's default), whose kinks at +-2.5 the small
 * pre-activations here stay away from. L2 penalties only below (L1 has a
 * kink at 0, where jittered zero biases sit). */
START_TEST(test_grad_activations)
{
    check_rnn(classes[_i], ", activation: softsign", 2, false);
    if (_i > 0)
        check_rnn(classes[_i], ", recurrent_activation: hard_sigmoid, activation: softsign", 2,
                  false);
}
END_TEST

START_TEST(test_grad_gru_reset_before)
{
    check_rnn("GRU", ", reset_after: false", 3, false);
    check_rnn("GRU", ", reset_after: false, return_sequences: true, go_backwards: true", 2,
              false);
    check_rnn("GRU", ", reset_after: false, use_bias: false", 2, false);
}
END_TEST

/* Training with dropout on the inputs and on the state: the replayed seed
 * gives the same masks, so the gradients must match those of that mask.
 * Per-gate masks: recurrent_dropout, and implementation 1 off the fused path. */
START_TEST(test_grad_dropout)
{
    check_rnn(classes[_i], ", dropout: 0.3", 3, true);
    check_rnn(classes[_i], ", recurrent_dropout: 0.3, return_sequences: true", 3, true);
    check_rnn(classes[_i], ", dropout: 0.25, recurrent_dropout: 0.4", 3, true);
    if (_i > 0)
        check_rnn(classes[_i], ", dropout: 0.3, implementation: 1, activation: softsign", 3, true);
    if (_i == 2)
        check_rnn("GRU", ", dropout: 0.2, recurrent_dropout: 0.3, reset_after: false", 3, true);
}
END_TEST

/* Regularizers on all three weights and the activity. */
START_TEST(test_grad_regularized)
{
    check_rnn(classes[_i], ", kernel_regularizer: {l2: 0.01}, recurrent_regularizer: l2, "
                           "bias_regularizer: {l2: 0.03}, "
                           "activity_regularizer: {l2: 0.1}", 2, false);
}
END_TEST

/* Stacked: the first layer's sequence feeds the second. */
START_TEST(test_grad_stacked)
{
    char yaml[512];
    snprintf(yaml, sizeof yaml,
             "layers:\n"
             "  - %s: {units: 3, return_sequences: true, input_shape: [4, 2]}\n"
             "  - %s: {units: 3, go_backwards: true}\n"
             "  - Dense: 2\n"
             "compile: {loss: mse}\n",
             classes[_i], classes[(_i + 1) % 3]);
    check_model(yaml, 3, false, "stacked");
}
END_TEST

/* A hand-made time mask on the layer's input (node 1 is the Dense before
 * it), as Embedding(mask_zero) or Masking would give. */
static const unsigned char grad_mask[3 * 5] = {
    1, 0, 1, 1, 0, /* masked inside and at the end */
    0, 0, 1, 1, 1, /* leading masked steps */
    1, 1, 1, 1, 1,
};

static void check_masked(const char *cls, const char *args)
{
    char yaml[768];
    snprintf(yaml, sizeof yaml,
             "layers:\n"
             "  - Dense: {units: 3, input_shape: [5, 2]}\n"
             "  - %s: {units: 4%s}\n"
             "  - Dense: 2\n"
             "compile: {loss: mse}\n",
             cls, args);
    struct net n;
    net_load(&n, yaml);
    model_workspace(&n.m, 3);
    n.m.nodes[1].mask = (unsigned char *)grad_mask;
    net_prepare(&n, 3, false, -2, 2);
    char what[256];
    snprintf(what, sizeof what, "masked %s%s", cls, args);
    net_gradcheck(&n, what);
    net_free(&n);
}

START_TEST(test_grad_masked)
{
    check_masked(classes[_i], "");
    check_masked(classes[_i], ", return_sequences: true");
    check_masked(classes[_i], ", go_backwards: true, return_sequences: true");
    check_masked(classes[_i], ", zero_output_for_mask: true, return_sequences: true");
    if (_i == 2)
        check_masked("GRU", ", reset_after: false, return_sequences: true");
}
END_TEST

/* ---- contracts ---------------------------------------------------------- */

static void contract_yaml(char *yaml, size_t size, const char *cls, const char *args)
{
    snprintf(yaml, size,
             "layers:\n"
             "  - Dense: {units: 3, input_shape: [4, 2]}\n"
             "  - %s: {units: 3%s}\n"
             "  - Dense: 2\n"
             "compile: {loss: mse}\n",
             cls, args);
}

START_TEST(test_contracts)
{
    static const char *const args[] = {"", ", return_sequences: true, go_backwards: true",
                                        ", dropout: 0.2, recurrent_dropout: 0.3"};
    for (size_t a = 0; a < 3; a++) {
        char yaml[512];
        contract_yaml(yaml, sizeof yaml, classes[_i], args[a]);
        check_contracts(yaml, a == 2, yaml);
    }
}
END_TEST

/* ---- forward values against Keras's equations --------------------------- */

/* The layer alone on (T=6, D=3) inputs, B samples, compared with naive_run. */
static void check_forward(int kind, const char *args, const unsigned char *mask)
{
    enum { B = 4, T = 6, D = 3, U = 5 };
    char yaml[512];
    snprintf(yaml, sizeof yaml,
             "layers:\n"
             "  - %s: {units: %d, input_shape: [%d, %d]%s}\n"
             "compile: {loss: mse}\n",
             classes[kind], U, T, D, args);
    struct net n;
    net_load(&n, yaml);
    model_workspace(&n.m, B);
    n.m.nodes[0].mask = (unsigned char *)mask;
    net_prepare(&n, B, false, -2, 2);
    const struct layer *l = &n.m.layers[1];
    struct naive nv = {
        .kind = kind, .T = T, .D = D, .U = U,
        .W = n.m.w + l->params[0].offset, .R = n.m.w + l->params[1].offset,
        .b = l->n_params > 2 ? n.m.w + l->params[2].offset : NULL,
        .reset_after = kind == 2 && !strstr(args, "reset_after: false"),
        .go_backwards = strstr(args, "go_backwards: true") != NULL,
        .return_sequences = strstr(args, "return_sequences: true") != NULL,
        .zero_output = strstr(args, "zero_output_for_mask: true") != NULL,
        .act = strstr(args, "activation: linear") ? ACT_LINEAR : ACT_TANH,
    };
    model_forward(&n.m, B, false, NULL);
    size_t out = model_output_size(&n.m);
    const float *x = model_input(&n.m);
    for (size_t b = 0; b < B; b++) {
        double h[MAX_U] = {0}, c[MAX_U] = {0};
        float y[MAX_T * MAX_U];
        naive_run(&nv, x + b * T * D, mask ? mask + b * T : NULL, h, c, y);
        for (size_t k = 0; k < out; k++)
            ck_assert_msg(fabsf(y[k] - n.m.output->y[b * out + k]) <= 2e-6f,
                          "%s%s: sample %zu output %zu: %.7g (naive %.7g)", classes[kind], args, b,
                          k, n.m.output->y[b * out + k], y[k]);
    }
    net_free(&n);
}

START_TEST(test_forward_values)
{
    check_forward(_i, "", NULL);
    check_forward(_i, ", return_sequences: true", NULL);
    check_forward(_i, ", go_backwards: true, return_sequences: true", NULL);
    check_forward(_i, ", use_bias: false", NULL);
    check_forward(_i, ", activation: linear", NULL);
    if (_i == 2) {
        check_forward(2, ", reset_after: false, return_sequences: true", NULL);
        check_forward(2, ", reset_after: false, use_bias: false", NULL);
    }
}
END_TEST

static const unsigned char fwd_mask[4 * 6] = {
    1, 1, 0, 1, 0, 1,
    0, 0, 1, 1, 1, 0,
    0, 0, 0, 0, 0, 0,
    1, 1, 1, 1, 1, 1,
};

START_TEST(test_forward_masked)
{
    check_forward(_i, "", fwd_mask);
    check_forward(_i, ", return_sequences: true", fwd_mask);
    check_forward(_i, ", return_sequences: true, go_backwards: true", fwd_mask);
    check_forward(_i, ", return_sequences: true, zero_output_for_mask: true", fwd_mask);
    check_forward(_i, ", zero_output_for_mask: true", fwd_mask);
}
END_TEST

/* A masked step is as if it were not there: the last output of
 * [x0, x1, x2, x3] with x1, x3 masked is that of [x0, x2]. */
START_TEST(test_masked_steps_skipped)
{
    char yaml[256];
    struct net full, part;
    snprintf(yaml, sizeof yaml, "layers:\n  - %s: {units: 3, input_shape: [4, 2]}\n"
             "compile: {loss: mse}\n", classes[_i]);
    net_load(&full, yaml);
    snprintf(yaml, sizeof yaml, "layers:\n  - %s: {units: 3, input_shape: [2, 2]}\n"
             "compile: {loss: mse}\n", classes[_i]);
    net_load(&part, yaml);
    static const unsigned char mask[4] = {1, 0, 1, 0};
    model_workspace(&full.m, 1);
    full.m.nodes[0].mask = (unsigned char *)mask;
    net_prepare(&full, 1, false, -1, 1);
    net_prepare(&part, 1, false, -1, 1);
    memcpy(part.m.w, full.m.w, full.m.n_weights * sizeof *full.m.w);
    const float *x = model_input(&full.m);
    float *xp = model_input(&part.m);
    memcpy(xp, x, 2 * sizeof *x);
    memcpy(xp + 2, x + 4, 2 * sizeof *x);
    model_forward(&full.m, 1, false, NULL);
    model_forward(&part.m, 1, false, NULL);
    for (size_t k = 0; k < 3; k++)
        ck_assert_float_eq_tol(full.m.output->y[k], part.m.output->y[k], 1e-6f);
    net_free(&full);
    net_free(&part);
}
END_TEST

/* ---- stateful ------------------------------------------------------------- */

/* Two half-sequences through a stateful layer (state carried from the
 * first call to the second) equal the whole sequence through the same
 * weights; after model_reset_states the first half starts from zero. */
START_TEST(test_stateful_carry)
{
    enum { B = 3, T = 6, H = 3, D = 2 };
    char yaml[256];
    struct net whole, half;
    snprintf(yaml, sizeof yaml, "layers:\n  - %s: {units: 4, input_shape: [%d, %d]}\n"
             "compile: {loss: mse}\n", classes[_i], T, D);
    net_load(&whole, yaml);
    snprintf(yaml, sizeof yaml, "layers:\n  - %s: {units: 4, stateful: true, "
             "batch_input_shape: [%d, %d, %d]}\ncompile: {loss: mse}\n", classes[_i], B, H, D);
    net_load(&half, yaml);
    ck_assert_uint_eq(half.m.nodes[1].state_floats, (_i == 1 ? 2 : 1) * 4u);
    net_prepare(&whole, B, false, -1, 1);
    model_workspace(&half.m, B);
    struct rng r;
    rng_seed(&r, 1);
    model_init_weights(&half.m, &r);
    memcpy(half.m.w, whole.m.w, whole.m.n_weights * sizeof *whole.m.w);
    const float *x = model_input(&whole.m);
    float first[B * 4];
    for (int part = 0; part < 2; part++) {
        float *xh = model_input(&half.m);
        for (size_t b = 0; b < B; b++)
            memcpy(xh + b * H * D, x + (b * T + part * H) * D, H * D * sizeof *x);
        model_forward(&half.m, B, false, NULL);
        if (part == 0)
            memcpy(first, half.m.output->y, sizeof first);
    }
    model_forward(&whole.m, B, false, NULL);
    for (size_t k = 0; k < B * 4; k++)
        ck_assert_msg(fabsf(whole.m.output->y[k] - half.m.output->y[k]) <= 1e-6f,
                      "%s: output %zu: %.7g whole, %.7g in halves", classes[_i], k,
                      whole.m.output->y[k], half.m.output->y[k]);
    /* Again from a reset state: the first half's output as the first time. */
    model_reset_states(&half.m);
    float *xh = model_input(&half.m);
    for (size_t b = 0; b < B; b++)
        memcpy(xh + b * H * D, x + b * T * D, H * D * sizeof *x);
    model_forward(&half.m, B, false, NULL);
    ck_assert_mem_eq(first, half.m.output->y, sizeof first);
    net_free(&whole);
    net_free(&half);
}
END_TEST

/* ---- dropout masks -------------------------------------------------------- */

/* SimpleRNN as a probe: linear, W = identity, R = 0, no bias, so y_s = x_s
 * times the input mask: with x = 1 every step shows the mask itself. Keras
 * draws one mask per sequence: the same at every step, values 0 or
 * 1 / (1 - rate), about `rate` of them 0; none outside training. */
START_TEST(test_dropout_mask_per_sequence)
{
    enum { B = 64, T = 5, U = 8 };
    struct net n;
    net_load(&n, "layers:\n"
                 "  - SimpleRNN: {units: 8, activation: linear, use_bias: false, dropout: 0.25,\n"
                 "                return_sequences: true, input_shape: [5, 8]}\n"
                 "compile: {loss: mse}\n");
    model_workspace(&n.m, B);
    struct rng r;
    rng_seed(&r, 11);
    model_init_weights(&n.m, &r);
    const struct layer *l = &n.m.layers[1];
    memset(n.m.w, 0, n.m.n_weights * sizeof *n.m.w);
    for (size_t j = 0; j < U; j++)
        n.m.w[l->params[0].offset + j * U + j] = 1;
    float *x = model_input(&n.m);
    for (size_t i = 0; i < B * T * U; i++)
        x[i] = 1;
    model_forward(&n.m, B, true, &r);
    const float *y = n.m.output->y;
    size_t zeros = 0;
    for (size_t b = 0; b < B; b++)
        for (size_t j = 0; j < U; j++) {
            float m = y[b * T * U + j];
            ck_assert(m == 0.0f || fabsf(m - 1 / 0.75f) < 1e-6f);
            zeros += m == 0.0f;
            for (size_t s = 1; s < T; s++)
                ck_assert_float_eq(y[(b * T + s) * U + j], m);
        }
    ck_assert_msg(zeros > 0.15 * B * U && zeros < 0.35 * B * U, "%zu of %d dropped", zeros, B * U);
    model_forward(&n.m, B, false, NULL);
    for (size_t i = 0; i < B * T * U; i++)
        ck_assert_float_eq(n.m.output->y[i], 1.0f);
    net_free(&n);
}
END_TEST

/* ---- shapes, parameters, initializers -------------------------------------- */

START_TEST(test_shapes_and_counts)
{
    static const struct {
        const char *layer;
        const char *shape;
        size_t params;
    } cases[] = {
        /* u (u + in) + u */
        {"SimpleRNN: {units: 5}", "(None, 5)", 5 * (5 + 3) + 5},
        /* 4 (u (u + in) + u) */
        {"LSTM: {units: 5, return_sequences: true}", "(None, 7, 5)", 4 * (5 * (5 + 3) + 5)},
        /* reset_after: 3 (u (u + in) + 2 u) */
        {"GRU: 5", "(None, 5)", 3 * (5 * (5 + 3) + 2 * 5)},
        {"GRU: {units: 5, reset_after: false}", "(None, 5)", 3 * (5 * (5 + 3) + 5)},
        {"LSTM: {units: 5, use_bias: false}", "(None, 5)", 4 * 5 * (5 + 3)},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char yaml[256];
        snprintf(yaml, sizeof yaml,
                 "layers:\n  - Dense: {units: 3, input_shape: [7, 2]}\n  - %s\n"
                 "compile: {loss: mse}\n", cases[i].layer);
        struct net n;
        net_load(&n, yaml);
        char buf[96];
        ck_assert_str_eq(shape_format(&n.m.output->out, buf, sizeof buf), cases[i].shape);
        ck_assert_uint_eq(layer_count_params(&n.m.layers[2], true), cases[i].params);
        net_free(&n);
    }
}
END_TEST

/* Keras's weight shapes: kernel (in, k u), recurrent_kernel (u, k u),
 * bias (k u) or GRU reset_after (2, 3 u). */
START_TEST(test_weight_layout)
{
    struct net n;
    net_load(&n, "layers:\n"
                 "  - LSTM: {units: 4, return_sequences: true, input_shape: [3, 2]}\n"
                 "  - GRU: {units: 3, return_sequences: true}\n"
                 "  - GRU: {units: 2, reset_after: false}\n"
                 "compile: {loss: mse}\n");
    static const struct {
        size_t layer, param;
        const char *name;
        int rank;
        size_t d0, d1;
    } want[] = {
        {1, 0, "kernel", 2, 2, 16}, {1, 1, "recurrent_kernel", 2, 4, 16}, {1, 2, "bias", 1, 16, 0},
        {2, 0, "kernel", 2, 4, 9},  {2, 1, "recurrent_kernel", 2, 3, 9},  {2, 2, "bias", 2, 2, 9},
        {3, 0, "kernel", 2, 3, 6},  {3, 1, "recurrent_kernel", 2, 2, 6},  {3, 2, "bias", 1, 6, 0},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const struct param *p = &n.m.layers[want[i].layer].params[want[i].param];
        ck_assert_str_eq(p->name, want[i].name);
        ck_assert_int_eq(p->shape.rank, want[i].rank);
        ck_assert_uint_eq(p->shape.dim[0], want[i].d0);
        if (want[i].rank == 2)
            ck_assert_uint_eq(p->shape.dim[1], want[i].d1);
    }
    net_free(&n);
}
END_TEST

/* unit_forget_bias: the bias starts as zeros(u), ones(u), zeros(2 u); with
 * another bias initializer its parts come from it. */
START_TEST(test_unit_forget_bias)
{
    static const struct {
        const char *args;
        float want[4]; /* i, f, c, o */
    } cases[] = {
        {"", {0, 1, 0, 0}},
        {", unit_forget_bias: false", {0, 0, 0, 0}},
        {", bias_initializer: {constant: 0.5}", {0.5f, 1, 0.5f, 0.5f}},
        {", bias_initializer: ones, unit_forget_bias: false", {1, 1, 1, 1}},
        /* TensorFlow.js writes null for both (it means false, and 2) */
        {", unit_forget_bias: null, implementation: null", {0, 0, 0, 0}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char yaml[256];
        snprintf(yaml, sizeof yaml, "layers:\n  - LSTM: {units: 3, input_shape: [2, 2]%s}\n"
                 "compile: {loss: mse}\n", cases[i].args);
        struct net n;
        net_load(&n, yaml);
        struct rng r;
        rng_seed(&r, 1);
        model_init_weights(&n.m, &r);
        const float *b = n.m.w + n.m.layers[1].params[2].offset;
        for (size_t g = 0; g < 4; g++)
            for (size_t j = 0; j < 3; j++)
                ck_assert_msg(b[g * 3 + j] == cases[i].want[g], "%s: bias[%zu] = %g",
                              cases[i].args, g * 3 + j, b[g * 3 + j]);
        net_free(&n);
    }
}
END_TEST

/* The recurrent kernel starts orthogonal (Keras's default): R R^T = I for
 * the (u, u) blocks' whole (u, k u) matrix rows. */
START_TEST(test_recurrent_orthogonal)
{
    struct net n;
    net_load(&n, "layers:\n  - GRU: {units: 4, input_shape: [2, 3]}\ncompile: {loss: mse}\n");
    struct rng r;
    rng_seed(&r, 3);
    model_init_weights(&n.m, &r);
    const float *R = n.m.w + n.m.layers[1].params[1].offset;
    for (size_t a = 0; a < 4; a++)
        for (size_t b = 0; b < 4; b++) {
            double dot = 0;
            for (size_t k = 0; k < 12; k++)
                dot += (double)R[a * 12 + k] * R[b * 12 + k];
            ck_assert_msg(fabs(dot - (a == b)) < 1e-5, "row %zu . row %zu = %g", a, b, dot);
        }
    net_free(&n);
}
END_TEST

/* Legacy input_length + input_dim is input_shape [input_length, input_dim]. */
START_TEST(test_input_length)
{
    struct net n;
    net_load(&n, "layers:\n  - LSTM: {units: 3, input_length: 7, input_dim: 2}\n"
                 "compile: {loss: mse}\n");
    char buf[96];
    ck_assert_str_eq(shape_format(&n.m.nodes[0].out, buf, sizeof buf), "(None, 7, 2)");
    net_free(&n);
}
END_TEST

/* ---- errors ----------------------------------------------------------------- */

static void expect_error(const char *yaml, const char *message)
{
    expect_model_error(yaml, message, 0);
}

START_TEST(test_errors)
{
    expect_error("layers:\n  - LSTM: {units: 0, input_shape: [3, 2]}\n",
                 "LSTM units must be a positive integer, found 0");
    expect_error("layers:\n  - GRU: {units: 2, dropout: 1.5, input_shape: [3, 2]}\n",
                 "GRU dropout must be in [0, 1), found 1.5");
    expect_error("layers:\n  - SimpleRNN: {units: 2, recurrent_dropout: -1, input_shape: [3, 2]}\n",
                 "SimpleRNN recurrent_dropout must be in [0, 1)");
    expect_error("layers:\n  - LSTM: {units: 2, time_major: true, input_shape: [3, 2]}\n",
                 "time_major true is not supported");
    expect_error("layers:\n  - LSTM: {units: 2, return_state: true, input_shape: [3, 2]}\n",
                 "all layers in a Sequential model should have a single output tensor");
    expect_error("layers:\n  - LSTM: {units: 2, implementation: 3, input_shape: [3, 2]}\n",
                 "implementation must be 1 or 2");
    expect_error("layers:\n  - LSTM: {units: 2, input_shape: [3]}\n",
                 "LSTM expects input of rank 3 (batch, steps, features), found (None, 3)");
    expect_error("layers:\n  - LSTM: {units: 2, stateful: true, input_shape: [3, 2]}\n",
                 "layer 'lstm' is stateful: it needs a fixed batch size");
    expect_error("layers:\n  - LSTM: {units: 2, input_dim: 2}\n", "input_dim needs input_length");
    expect_error("layers:\n  - LSTM: {units: 2, input_length: 3}\n",
                 "input_length needs input_dim");
    expect_error("layers:\n  - LSTM: {units: 2, input_length: 3, input_dim: 2, "
                 "input_shape: [4, 2]}\n",
                 "input_length / input_dim disagree with input_shape");
    expect_error("layers:\n  - GRU: {units: 2, unit_forget_bias: true, input_shape: [3, 2]}\n",
                 "unknown argument 'unit_forget_bias' for GRU");
    expect_error("layers:\n  - SimpleRNN: {units: 2, reset_after: true, input_shape: [3, 2]}\n",
                 "unknown argument 'reset_after' for SimpleRNN");
}
END_TEST

static Suite *rnn_suite(void)
{
    Suite *s = suite_create("rnn");
    TCase *tc = tcase_create("gradients");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_grad_last, 0, 3);
    tcase_add_loop_test(tc, test_grad_sequences, 0, 3);
    tcase_add_loop_test(tc, test_grad_backwards, 0, 3);
    tcase_add_loop_test(tc, test_grad_no_bias, 0, 3);
    tcase_add_loop_test(tc, test_grad_activations, 0, 3);
    tcase_add_test(tc, test_grad_gru_reset_before);
    tcase_add_loop_test(tc, test_grad_dropout, 0, 3);
    tcase_add_loop_test(tc, test_grad_regularized, 0, 3);
    tcase_add_loop_test(tc, test_grad_stacked, 0, 3);
    tcase_add_loop_test(tc, test_grad_masked, 0, 3);
    suite_add_tcase(s, tc);

    tc = tcase_create("contracts");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_contracts, 0, 3);
    suite_add_tcase(s, tc);

    tc = tcase_create("values");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_forward_values, 0, 3);
    tcase_add_loop_test(tc, test_forward_masked, 0, 3);
    tcase_add_loop_test(tc, test_masked_steps_skipped, 0, 3);
    tcase_add_loop_test(tc, test_stateful_carry, 0, 3);
    tcase_add_test(tc, test_dropout_mask_per_sequence);
    suite_add_tcase(s, tc);

    tc = tcase_create("config");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_shapes_and_counts);
    tcase_add_test(tc, test_weight_layout);
    tcase_add_test(tc, test_unit_forget_bias);
    tcase_add_test(tc, test_recurrent_orthogonal);
    tcase_add_test(tc, test_input_length);
    tcase_add_test(tc, test_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(rnn_suite());
}
