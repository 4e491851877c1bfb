/* Recurrent states as tensors: return_state (Keras's `[output] + states`,
 * tensors 1.. of the layer's call) and initial states given as inputs
 * (Keras's `layer(x, initial_state=[h, c])`, serialized as the call's
 * inbound tensors after the first). Forward values against the naive
 * cells of rnn_naive.c, finite-difference gradients through the states
 * (a loss on a state, a state into a Dense, an encoder's states starting a
 * decoder, masks, go_backwards), the workspace contracts, Keras's output
 * names, and the errors. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/model.h"
#include "../src/model_file.h"
#include "fixtures.h"
#include "netcheck.h"
#include "rnn_naive.h"

static const char *const classes[] = {"SimpleRNN", "LSTM", "GRU"};

/* The states of a class: h, and c for LSTM. */
static int n_states(int kind) { return kind == 1 ? 2 : 1; }

/* ---- forward values ------------------------------------------------------ */

enum { B = 4, T = 6, D = 3, U = 5 };

static const unsigned char value_mask[B * T] = {
    1, 1, 0, 1, 0, 0, /* masked at the end: the state is the last kept step's */
    0, 0, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1,
    0, 1, 0, 1, 0, 1,
};

/* x (T, D) -> the layer with return_state (and, with `initial`, its
 * initial states as inputs h0, c0); outputs: the output then each state. */
static void state_model(char *yaml, size_t size, int kind, const char *args, bool initial)
{
    char inputs[160] = "", refs[64] = "x", outs[64];
    if (initial) {
        snprintf(inputs, sizeof inputs, "  - Input: {name: h0, shape: [%d]}\n%s", U,
                 kind == 1 ? "  - Input: {name: c0, shape: [5]}\n" : "");
        snprintf(refs, sizeof refs, "[x, h0%s]", kind == 1 ? ", c0" : "");
    }
    snprintf(outs, sizeof outs, "[r, \"r[1]\"%s]", kind == 1 ? ", \"r[0][2]\"" : "");
    snprintf(yaml, size,
             "inputs:\n  - Input: {name: x, shape: [%d, %d]}\n%s"
             "layers:\n"
             "  - %s: {name: r, units: %d, return_state: true, inputs: %s%s}\n"
             "outputs: %s\n"
             "compile: {loss: mse}\n",
             T, D, inputs, classes[kind], U, refs, args, outs);
}

static void check_states(int kind, const char *args, const unsigned char *mask, bool initial)
{
    char yaml[1024];
    state_model(yaml, sizeof yaml, kind, args, initial);
    struct net n;
    net_load(&n, yaml);
    ck_assert_uint_eq(n.m.n_outputs, 1 + (size_t)n_states(kind));
    model_workspace(&n.m, B);
    net_prepare(&n, B, false, -2, 2);
    n.m.nodes[0].mask = (unsigned char *)mask;
    const struct layer *l = NULL;
    for (size_t i = 0; i < n.m.n_layers; i++)
        if (!strcmp(n.m.layers[i].name, "r"))
            l = &n.m.layers[i];
    ck_assert_ptr_nonnull(l);
    struct naive nv = {
        .kind = kind, .T = T, .D = D, .U = U,
        .W = n.m.w + l->params[0].offset, .R = n.m.w + l->params[1].offset,
        .b = n.m.w + l->params[2].offset,
        .reset_after = kind == 2,
        .go_backwards = strstr(args, "go_backwards: true") != NULL,
        .return_sequences = strstr(args, "return_sequences: true") != NULL,
        .act = ACT_TANH,
    };
    model_forward(&n.m, B, false, NULL);
    size_t out = model_output_size(&n.m);
    for (size_t b = 0; b < B; b++) {
        double h[MAX_U] = {0}, c[MAX_U] = {0};
        for (size_t j = 0; initial && j < U; j++) {
            h[j] = n.m.inputs[1]->y[b * U + j];
            if (kind == 1)
                c[j] = n.m.inputs[2]->y[b * U + j];
        }
        float y[MAX_T * MAX_U];
        naive_run(&nv, n.m.inputs[0]->y + b * T * D, mask ? mask + b * T : NULL, h, c, y);
        for (size_t k = 0; k < out; k++)
            ck_assert_msg(fabsf(y[k] - n.m.outputs[0]->y[b * out + k]) <= 2e-6f,
                          "%s%s: sample %zu output %zu: %.7g (naive %.7g)", classes[kind], args,
                          b, k, n.m.outputs[0]->y[b * out + k], y[k]);
        for (int s = 0; s < n_states(kind); s++) {
            const double *want = s ? c : h;
            const float *got = n.m.outputs[1 + s]->y + b * U;
            for (size_t j = 0; j < U; j++)
                ck_assert_msg(fabs(got[j] - want[j]) <= 2e-6,
                              "%s%s%s: sample %zu state %d[%zu]: %.7g (naive %.7g)",
                              classes[kind], args, initial ? " (initial states)" : "", b, s, j,
                              got[j], want[j]);
        }
    }
    n.m.nodes[0].mask = NULL;
    net_free(&n);
}

START_TEST(test_state_values)
{
    check_states(_i, "", NULL, false);
    check_states(_i, ", return_sequences: true", NULL, false);
    check_states(_i, ", go_backwards: true", NULL, false);
    check_states(_i, "", value_mask, false);
    check_states(_i, ", return_sequences: true, go_backwards: true", value_mask, false);
}
END_TEST

START_TEST(test_initial_state_values)
{
    check_states(_i, "", NULL, true);
    check_states(_i, ", return_sequences: true, go_backwards: true", NULL, true);
    check_states(_i, "", value_mask, true);
}
END_TEST

/* Bidirectional(return_state): [output] + forward states + backward
 * states, the backward ones those of the go_backwards copy. */
START_TEST(test_bidirectional_state_values)
{
    int kind = _i;
    char yaml[512];
    snprintf(yaml, sizeof yaml,
             "inputs:\n  - Input: {name: x, shape: [%d, %d]}\n"
             "layers:\n"
             "  - Bidirectional: {name: b, layer: {%s: {units: %d, return_state: true}}}\n"
             "outputs: [b%s]\n"
             "compile: {loss: mse}\n",
             T, D, classes[kind], U,
             kind == 1 ? ", \"b[1]\", \"b[2]\", \"b[3]\", \"b[4]\"" : ", \"b[1]\", \"b[2]\"");
    struct net n;
    net_load(&n, yaml);
    ck_assert_uint_eq(n.m.n_outputs, 1 + 2 * (size_t)n_states(kind));
    net_prepare(&n, B, false, -2, 2);
    n.m.nodes[0].mask = (unsigned char *)value_mask;
    model_forward(&n.m, B, false, NULL);
    const struct layer *l = n.m.nodes[1].layer;
    ck_assert_uint_eq(l->n_params, 6);
    for (int dir = 0; dir < 2; dir++) {
        const struct param *p = &l->params[3 * dir];
        struct naive nv = {
            .kind = kind, .T = T, .D = D, .U = U, .W = n.m.w + p[0].offset,
            .R = n.m.w + p[1].offset, .b = n.m.w + p[2].offset, .reset_after = kind == 2,
            .go_backwards = dir == 1, .act = ACT_TANH,
        };
        for (size_t b = 0; b < B; b++) {
            double h[MAX_U] = {0}, c[MAX_U] = {0};
            float y[MAX_T * MAX_U];
            naive_run(&nv, n.m.inputs[0]->y + b * T * D, value_mask + b * T, h, c, y);
            /* concat: the forward output, then the backward one */
            for (size_t j = 0; j < U; j++)
                ck_assert(fabs(n.m.outputs[0]->y[b * 2 * U + dir * U + j] - y[j]) <= 2e-6);
            for (int s = 0; s < n_states(kind); s++) {
                const double *want = s ? c : h;
                const float *got = n.m.outputs[1 + dir * n_states(kind) + s]->y + b * U;
                for (size_t j = 0; j < U; j++)
                    ck_assert_msg(fabs(got[j] - want[j]) <= 2e-6,
                                  "%s: direction %d sample %zu state %d[%zu]: %.7g (naive %.7g)",
                                  classes[kind], dir, b, s, j, got[j], want[j]);
            }
        }
    }
    n.m.nodes[0].mask = NULL;
    net_free(&n);
}
END_TEST

/* ---- gradients ------------------------------------------------------------ */

/* The graphs, for a class (%1$s) and its extra arguments (%2$s); every
 * path from a weight to the loss goes through a state somewhere. */
static const char *const graphs[] = {
    /* 0: a loss on the output and one on the last state; the h state into
     * a Dense as well */
    "inputs:\n  - Input: {name: x, shape: [5, 2]}\n"
    "layers:\n"
    "  - Dense: {name: d, units: 3, inputs: x}\n"
    "  - %1$s: {name: r, units: 4, return_state: true%2$s}\n"
    "  - Dense: {name: o, units: 2, inputs: \"r[1]\"}\n"
    "outputs: [o, r, \"r[%3$d]\"]\n"
    "compile: {loss: mse}\n",
    /* 2 (listed last): Bidirectional with return_state; the backward
     * layer's h into a Dense, a loss on the forward layer's last state */
    /* 1: an encoder's states start a decoder (its gradient reaches the
     * encoder only through them) */
    "inputs:\n  - Input: {name: x, shape: [5, 2]}\n  - Input: {name: z, shape: [4, 2]}\n"
    "layers:\n"
    "  - Dense: {name: d, units: 3, inputs: x}\n"
    "  - %1$s: {name: enc, units: 4, return_state: true%2$s}\n"
    "  - %1$s: {name: dec, units: 4, return_sequences: true%2$s, inputs: [z, %4$s]}\n"
    "  - Dense: {name: o, units: 2}\n"
    "compile: {loss: mse}\n",
    "inputs:\n  - Input: {name: x, shape: [5, 2]}\n"
    "layers:\n"
    "  - Dense: {name: d, units: 3, inputs: x}\n"
    "  - Bidirectional: {name: b, layer: {%1$s: {units: 4, return_state: true%2$s}}}\n"
    "  - Dense: {name: o, units: 2, inputs: \"b[%5$d]\"}\n"
    "outputs: [o, b, \"b[%3$d]\"]\n"
    "compile: {loss: mse}\n",
};

static void graph_yaml(char *yaml, size_t size, size_t g, int kind, const char *args)
{
    const char *states = kind == 1 ? "\"enc[1]\", \"enc[2]\"" : "\"enc[1]\"";
    snprintf(yaml, size, graphs[g], classes[kind], args, n_states(kind), states,
             1 + n_states(kind));
}

/* A time mask on the recurrent layer's input (the Dense d). */
static const unsigned char grad_mask[3 * 5] = {
    1, 0, 1, 1, 0,
    0, 0, 1, 1, 1,
    1, 1, 1, 1, 1,
};

static void check_graph(size_t g, int kind, const char *args, bool masked)
{
    char yaml[1024], what[300];
    graph_yaml(yaml, sizeof yaml, g, kind, args);
    snprintf(what, sizeof what, "graph %zu %s%s%s", g, classes[kind], args,
             masked ? " masked" : "");
    struct net n;
    net_load(&n, yaml);
    model_workspace(&n.m, 3);
    for (size_t i = 0; masked && i < n.m.n_nodes; i++)
        if (!strcmp(n.m.nodes[i].layer->name, "d"))
            n.m.nodes[i].mask = (unsigned char *)grad_mask;
    net_prepare(&n, 3, false, -2, 2);
    net_gradcheck(&n, what);
    net_free(&n);
}

START_TEST(test_state_gradients)
{
    for (size_t g = 0; g < 3; g++) {
        check_graph(g, _i, "", false);
        check_graph(g, _i, ", go_backwards: true", false);
        check_graph(g, _i, "", true);
    }
    check_graph(0, _i, ", return_sequences: true", true);
}
END_TEST

START_TEST(test_state_contracts)
{
    for (size_t g = 0; g < 3; g++) {
        char yaml[1024];
        graph_yaml(yaml, sizeof yaml, g, _i, "");
        check_contracts(yaml, false, yaml);
    }
}
END_TEST

/* ---- names, summary text, errors ------------------------------------------ */

/* Loads YAML text; err gets the message after the (temporary) file's
 * name: "2:5: ...". */
static int load(const char *yaml, struct model *m, char *err, size_t size)
{
    struct model_file mf;
    struct diag d = {{0}};
    memset(m, 0, sizeof *m);
    memset(&mf, 0, sizeof mf);
    int rc = load_model_text(yaml, m, &mf, &d);
    const char *colon = strchr(d.msg, ':');
    snprintf(err, size, "%s", rc < 0 && colon ? colon + 1 : "");
    model_file_close(&mf);
    return rc;
}

/* keras/engine/functional.py _set_output_names: a layer named twice gets
 * _1, _2, ... */
START_TEST(test_output_names)
{
    struct model m;
    char err[512];
    ck_assert_int_eq(load("inputs:\n  - Input: {name: x, shape: [3, 2]}\n"
                          "layers:\n  - LSTM: {name: r, units: 2, return_state: true}\n"
                          "outputs: [\"r[2]\", r, \"r[0][1]\"]\n",
                          &m, err, sizeof err), 0);
    ck_assert_str_eq(model_output_name(&m, 0), "r");
    ck_assert_str_eq(model_output_name(&m, 1), "r_1");
    ck_assert_str_eq(model_output_name(&m, 2), "r_2");
    ck_assert_uint_eq(m.outputs[0]->tensor, 2);
    ck_assert_uint_eq(m.outputs[1]->tensor, 0);
    ck_assert_ptr_eq(m.outputs[2], m.outputs[1]->more[0]);
    model_free(&m);
}
END_TEST

START_TEST(test_errors)
{
    static const struct {
        const char *yaml, *want;
    } cases[] = {
        {"layers:\n  - LSTM: {units: 2, return_state: true, input_shape: [3, 2]}\n",
         "2:5: layer 'lstm' has 3 outputs: all layers in a Sequential model should have a "
         "single output tensor (for multi-output layers, use a functional model)"},
        {"inputs:\n  - Input: {name: x, shape: [3, 2]}\n"
         "layers:\n  - GRU: {name: r, units: 2, return_state: true}\n  - Dense: {units: 1, "
         "inputs: \"r[2]\"}\n",
         "5:31: layer 'r' has 2 outputs; there is no tensor 2"},
        {"inputs:\n  - Input: {name: x, shape: [3, 2]}\n"
         "layers:\n  - GRU: {name: r, units: 2}\n  - Dense: {units: 1, inputs: \"r[1]\"}\n",
         "5:31: layer 'r' has 1 output; there is no tensor 1 (its return_state is false)"},
        {"inputs:\n  - Input: {name: x, shape: [3, 2]}\n"
         "layers:\n  - GRU: {name: r, units: 2}\n  - Dense: {units: 1, inputs: \"r[0][0][0]\"}\n",
         "5:31: expected NAME, NAME[tensor] or NAME[node][tensor], found 'r[0][0][0]'"},
        {"inputs:\n  - Input: {name: x, shape: [3, 2]}\n"
         "layers:\n  - GRU: {name: r, units: 2}\n  - Dense: {units: 1, inputs: \"r[1][0]\"}\n",
         "5:31: layer 'r' has 1 node; there is no node 1"},
        {"inputs:\n  - Input: {name: x, shape: [3, 2]}\n  - Input: {name: h, shape: [2]}\n"
         "layers:\n  - LSTM: {name: r, units: 2, inputs: [x, h]}\n",
         "5:5: layer 'r' takes its input and 2 initial states, found 2 inputs"},
        {"inputs:\n  - Input: {name: x, shape: [3, 2]}\n  - Input: {name: h, shape: [3]}\n"
         "layers:\n  - GRU: {name: r, units: 2, inputs: [x, h]}\n",
         "5:5: layer 'r': initial state 0 must be (None, 2), found (None, 3)"},
        {"inputs:\n  - Input: {name: x, shape: [3, 2]}\n"
         "layers:\n  - LSTM: {name: r, units: 2, return_state: true}\n"
         "outputs: [\"r[1]\", \"r[1]\"]\n",
         "5:19: output tensor 1 of layer 'r' is listed twice"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct model m;
        char err[512];
        ck_assert_msg(load(cases[i].yaml, &m, err, sizeof err) < 0, "case %zu loads", i);
        ck_assert_msg(!strcmp(err, cases[i].want), "case %zu:\n got %s\nwant %s", i, err,
                      cases[i].want);
        model_free(&m);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("rnn_state");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_state_values, 0, 3);
    tcase_add_loop_test(tc, test_initial_state_values, 0, 3);
    tcase_add_loop_test(tc, test_bidirectional_state_values, 0, 3);
    tcase_add_loop_test(tc, test_state_gradients, 0, 3);
    tcase_add_loop_test(tc, test_state_contracts, 0, 3);
    tcase_add_test(tc, test_output_names);
    tcase_add_test(tc, test_errors);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
