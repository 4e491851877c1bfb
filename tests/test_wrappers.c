/* Wrapper layers (TimeDistributed, Bidirectional) and the nested-layer
 * machinery under them: finite-difference gradients through the wrappers,
 * forward values against the inner layer applied by hand (or in a model of
 * its own), shapes, parameter counts and weight names as Keras has them,
 * Keras creation-order naming of nested layers, the serialization round
 * trip through a checkpoint, and located errors. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../src/checkpoint.h"
#include "../src/json.h"
#include "../src/layer.h"
#include "../src/model.h"
#include "../src/model_file.h"
#include "../src/rng.h"
#include "fixtures.h"
#include "gradcheck.h"
#include "netcheck.h"

/* ---- helpers ------------------------------------------------------------------ */

/* The weight's name as the manifest writes it: "<layer>/<param>". */
static void weight_name(const struct layer *l, size_t p, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s", l->name, l->params[p].name);
}

/* ---- TimeDistributed: gradients ------------------------------------------------ */

START_TEST(test_td_dense_gradient)
{
    check_model("layers:\n"
                "  - Dense: {units: 4, input_shape: [5, 3]}\n"
                "  - TimeDistributed: {Dense: {units: 3, activation: tanh}}\n"
                "  - Flatten\n"
                "  - Dense: 2\n"
                "compile: {loss: mse}\n",
                3, false, "TimeDistributed(Dense)");
}
END_TEST

/* Conv2D on every frame of (T, H, W, C) clips. */
START_TEST(test_td_conv2d_gradient)
{
    check_model("layers:\n"
                "  - Dense: {units: 2, input_shape: [3, 5, 4, 2]}\n"
                "  - TimeDistributed: {layer: {Conv2D: {filters: 3, kernel_size: 3, "
                "activation: tanh}}}\n"
                "  - TimeDistributed: {MaxPooling2D: {pool_size: [3, 2]}}\n"
                "  - Flatten\n"
                "  - Dense: 2\n"
                "compile: {loss: mse}\n",
                2, false, "TimeDistributed(Conv2D)");
}
END_TEST

/* A wrapper in a wrapper: (T1, T2, F) -> Dense on each of T1*T2 steps. */
START_TEST(test_td_nested_gradient)
{
    check_model("layers:\n"
                "  - Dense: {units: 3, input_shape: [2, 3, 4]}\n"
                "  - TimeDistributed: {TimeDistributed: {Dense: {units: 2, activation: "
                "sigmoid}}}\n"
                "  - Flatten\n"
                "  - Dense: 2\n"
                "compile: {loss: mse}\n",
                3, false, "TimeDistributed(TimeDistributed(Dense))");
}
END_TEST

/* BatchNormalization inside: the batch is B*T steps; its moving statistics
 * go through w_stats at the wrapper's offset. */
START_TEST(test_td_batchnorm_training)
{
    check_model("layers:\n"
                "  - Dense: {units: 3, activation: tanh, input_shape: [4, 2]}\n"
                "  - TimeDistributed: {BatchNormalization: {momentum: 0.5}}\n"
                "  - TimeDistributed: {Dense: {units: 2, activation: tanh}}\n"
                "  - Flatten\n"
                "  - Dense: 1\n"
                "compile: {loss: mse}\n",
                4, true, "TimeDistributed(BatchNormalization) training");
}
END_TEST

/* Dropout inside in training replays its rng like any layer. */
START_TEST(test_td_dropout_training)
{
    check_model("layers:\n"
                "  - Dense: {units: 5, input_shape: [3, 2]}\n"
                "  - TimeDistributed: {Dropout: 0.4}\n"
                "  - Dense: {units: 2, activation: tanh}\n"
                "compile: {loss: mse}\n",
                3, true, "TimeDistributed(Dropout)");
}
END_TEST

/* A frozen wrapper freezes its inner layer: no weight gradient, the input
 * gradient still flows (net_gradcheck checks both). */
START_TEST(test_td_frozen)
{
    struct net n;
    net_load(&n, "layers:\n"
                 "  - Dense: {units: 3, input_shape: [4, 2]}\n"
                 "  - TimeDistributed: {Dense: {units: 2, activation: tanh}, trainable: false}\n"
                 "  - Flatten\n"
                 "  - Dense: 1\n"
                 "compile: {loss: mse}\n");
    ck_assert_uint_eq(model_count_params(&n.m, false), 3 * 2 + 2);
    ck_assert_uint_eq(model_count_params(&n.m, true), (2 * 3 + 3) + (8 * 1 + 1));
    net_prepare(&n, 3, false, -2, 2);
    net_gradcheck(&n, "frozen TimeDistributed");
    net_free(&n);
}
END_TEST

/* ---- TimeDistributed: forward values, shapes, names ---------------------------- */

/* y[b, t] = x[b, t] W + b, computed here with naive loops. */
START_TEST(test_td_dense_forward)
{
    struct net n;
    net_load(&n, "layers:\n"
                 "  - TimeDistributed: {Dense: 3, input_shape: [4, 5]}\n"
                 "compile: {loss: mse}\n");
    const size_t B = 2, T = 4, F = 5, U = 3;
    n.B = B;
    model_workspace(&n.m, B);
    struct rng r;
    rng_seed(&r, 3);
    model_init_weights(&n.m, &r);
    const struct layer *td = &n.m.layers[1];
    ck_assert_uint_eq(td->n_params, 2);
    float *W = n.m.w + td->params[0].offset, *bias = n.m.w + td->params[1].offset;
    for (size_t u = 0; u < U; u++)
        bias[u] = 0.25f * (float)u - 0.3f;
    float *x = model_input(&n.m);
    gc_fill_uniform(x, B * T * F, -1, 1, 5);
    model_forward(&n.m, B, false, NULL);
    for (size_t b = 0; b < B; b++)
        for (size_t t = 0; t < T; t++)
            for (size_t u = 0; u < U; u++) {
                double want = bias[u];
                for (size_t f = 0; f < F; f++)
                    want += (double)x[(b * T + t) * F + f] * W[f * U + u];
                float got = n.m.output->y[(b * T + t) * U + u];
                ck_assert_msg(fabs(got - want) < 1e-5, "y[%zu, %zu, %zu] = %g, want %g", b, t, u,
                              got, want);
            }
    net_free(&n);
}
END_TEST

/* TimeDistributed(Conv2D) equals the same Conv2D run on each frame in a
 * model of its own with the same weights. */
START_TEST(test_td_conv2d_forward)
{
    struct net td, conv;
    net_load(&td, "layers:\n"
                  "  - TimeDistributed: {Conv2D: {filters: 4, kernel_size: [2, 3], padding: same, "
                  "activation: relu}, input_shape: [3, 5, 6, 2]}\n"
                  "compile: {loss: mse}\n");
    net_load(&conv, "layers:\n"
                    "  - Conv2D: {filters: 4, kernel_size: [2, 3], padding: same, "
                    "activation: relu, input_shape: [5, 6, 2]}\n"
                    "compile: {loss: mse}\n");
    const size_t B = 2, T = 3, in = 5 * 6 * 2, out = 5 * 6 * 4;
    model_workspace(&td.m, B);
    model_workspace(&conv.m, B * T);
    struct rng r;
    rng_seed(&r, 9);
    model_init_weights(&td.m, &r);
    rng_seed(&r, 10);
    model_init_weights(&conv.m, &r);
    ck_assert_uint_eq(td.m.n_weights, conv.m.n_weights);
    for (size_t i = 0; i < td.m.n_weights; i++)
        td.m.w[i] += 0.05f * (float)(i % 7) - 0.15f; /* a non-zero bias */
    memcpy(conv.m.w, td.m.w, td.m.n_weights * sizeof(float));
    gc_fill_uniform(model_input(&td.m), B * T * in, -1, 1, 4);
    /* The frames as a batch of B*T samples. */
    memcpy(model_input(&conv.m), model_input(&td.m), B * T * in * sizeof(float));
    model_forward(&td.m, B, false, NULL);
    model_forward(&conv.m, B * T, false, NULL);
    char buf[96];
    ck_assert_str_eq(shape_format(&td.m.output->out, buf, sizeof buf), "(None, 3, 5, 6, 4)");
    for (size_t i = 0; i < B * T * out; i++)
        ck_assert_msg(td.m.output->y[i] == conv.m.output->y[i], "y[%zu] = %g, want %g", i,
                      td.m.output->y[i], conv.m.output->y[i]);
    net_free(&td);
    net_free(&conv);
}
END_TEST

/* Keras: TimeDistributed(Dense(8), input_shape=(10, 16)) -> (None, 10, 8),
 * 16*8 + 8 params named time_distributed/kernel and /bias. Python creates
 * the inner Dense before its wrapper, so the inner layers are "dense" and
 * "dense_1" and the last Dense "dense_2". */
START_TEST(test_td_shapes_names)
{
    struct net n;
    net_load(&n, "layers:\n"
                 "  - TimeDistributed: {Dense: 8, input_shape: [10, 16]}\n"
                 "  - TimeDistributed: [{class_name: Dense, config: {units: 4}}]\n"
                 "  - Dense: 1\n"
                 "compile: {loss: mse}\n");
    char buf[96];
    const struct layer *td = &n.m.layers[1], *td1 = &n.m.layers[2];
    struct layer *inner[2];
    ck_assert_str_eq(td->name, "time_distributed");
    ck_assert_str_eq(td1->name, "time_distributed_1");
    ck_assert_uint_eq(layer_children(td, inner, 2), 1);
    ck_assert_str_eq(inner[0]->name, "dense");
    ck_assert_uint_eq(layer_children(td1, inner, 2), 1);
    ck_assert_str_eq(inner[0]->name, "dense_1");
    ck_assert_str_eq(n.m.layers[3].name, "dense_2");
    ck_assert_str_eq(shape_format(&n.m.nodes[1].out, buf, sizeof buf), "(None, 10, 8)");
    ck_assert_str_eq(shape_format(&n.m.nodes[2].out, buf, sizeof buf), "(None, 10, 4)");
    ck_assert_uint_eq(layer_count_params(td, true), 16 * 8 + 8);
    ck_assert_uint_eq(layer_count_params(td1, true), 8 * 4 + 4);
    weight_name(td, 0, buf, sizeof buf);
    ck_assert_str_eq(buf, "time_distributed/kernel");
    weight_name(td, 1, buf, sizeof buf);
    ck_assert_str_eq(buf, "time_distributed/bias");
    weight_name(td1, 0, buf, sizeof buf);
    ck_assert_str_eq(buf, "time_distributed_1/kernel");
    /* The wrapper's weights are contiguous, the inner offsets relative. */
    ck_assert_uint_eq(td1->params[0].offset, td->params[1].offset + 8);
    ck_assert_uint_eq(inner[0]->params[0].offset, 0);
    ck_assert_uint_eq(inner[0]->params[1].offset, 8 * 4);
    check_writes(&n, false, "TimeDistributed shapes");
    net_free(&n);
}
END_TEST

/* Keras applies the inner activity penalty inside, per inner sample:
 * l2 * sum y^2 / (B*T). */
START_TEST(test_td_activity_regularizer)
{
    struct net n;
    net_load(&n, "layers:\n"
                 "  - TimeDistributed: {Dense: {units: 3, activity_regularizer: {l2: 0.1}}, "
                 "input_shape: [4, 2]}\n"
                 "compile: {loss: mse}\n");
    const size_t B = 3, T = 4;
    n.B = B;
    model_workspace(&n.m, B);
    struct rng r;
    rng_seed(&r, 1);
    model_init_weights(&n.m, &r);
    gc_fill_uniform(model_input(&n.m), B * T * 2, -1, 1, 2);
    model_forward(&n.m, B, false, NULL);
    double sum = 0;
    for (size_t i = 0; i < B * T * 3; i++)
        sum += (double)n.m.output->y[i] * n.m.output->y[i];
    double want = 0.1 * sum / (double)(B * T), got = model_penalty(&n.m, B);
    ck_assert_msg(fabs(got - want) < 1e-6 * want, "penalty %g, want %g", got, want);
    net_prepare(&n, 2, false, -2, 2);
    net_gradcheck(&n, "TimeDistributed activity regularizer");
    net_free(&n);
}
END_TEST

START_TEST(test_td_contracts)
{
    static const char *yaml = "layers:\n"
                              "  - Dense: {units: 3, input_shape: [4, 2]}\n"
                              "  - TimeDistributed: {Dense: {units: 5, activation: tanh}}\n"
                              "  - TimeDistributed: {Dropout: 0.3}\n"
                              "  - TimeDistributed: {Reshape: [5, 1]}\n"
                              "  - TimeDistributed: {Conv1D: {filters: 2, kernel_size: 2}}\n"
                              "  - Flatten\n"
                              "  - Dense: {units: 3, activation: softmax}\n"
                              "compile: {loss: categorical_crossentropy}\n";
    check_accumulates(yaml, false, "TimeDistributed inference");
    check_accumulates(yaml, true, "TimeDistributed training");
    check_batch_equals_singles(yaml, "TimeDistributed");
    struct net n;
    net_load(&n, yaml);
    char buf[96];
    ck_assert_str_eq(shape_format(&n.m.nodes[4].out, buf, sizeof buf), "(None, 4, 5, 1)");
    ck_assert_str_eq(shape_format(&n.m.nodes[5].out, buf, sizeof buf), "(None, 4, 4, 2)");
    ck_assert_int_eq(n.m.layers[2].ops->mask_mode(&n.m.layers[2]), MASK_KEEP);
    n.B = 3;
    model_workspace(&n.m, 3);
    struct rng r;
    rng_seed(&r, 1);
    model_init_weights(&n.m, &r);
    check_writes(&n, true, "TimeDistributed writes");
    net_free(&n);
}
END_TEST

/* ---- nested serialization -------------------------------------------------------- */

/* Saved and loaded back: the same summary, weights and predictions, and the
 * model.json holds the inner layer in Keras's nested form. */
static void check_round_trip(const char *yaml, size_t n_in)
{
    struct model m, back;
    struct model_file mf, mf_back;
    struct diag d = {{0}};
    ck_assert_msg(load_model_text(yaml, &m, &mf, &d) == 0, "%s", d.msg);
    struct rng r;
    rng_seed(&r, 5);
    model_init_weights(&m, &r);
    char dir[] = "/tmp/nnc_test_wrappers_ckpt_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char ckpt[96];
    snprintf(ckpt, sizeof ckpt, "%s/m.model", dir);
    ck_assert_msg(checkpoint_save(ckpt, &m, NULL, NULL, 0, &d) == 0, "%s", d.msg);
    ck_assert_msg(model_load(ckpt, &back, &mf_back, &d) == 0, "%s", d.msg);
    ck_assert_msg(checkpoint_load_weights(&back, &mf_back, &d) == 0, "%s", d.msg);
    char *a = summary_text(&m), *b = summary_text(&back);
    ck_assert_str_eq(a, b);
    ck_assert_uint_eq(m.n_weights, back.n_weights);
    ck_assert(memcmp(m.w, back.w, m.n_weights * sizeof *m.w) == 0);
    model_workspace(&m, 2);
    model_workspace(&back, 2);
    gc_fill_uniform(model_input(&m), 2 * n_in, -1, 1, 8);
    memcpy(model_input(&back), model_input(&m), 2 * n_in * sizeof(float));
    model_forward(&m, 2, false, NULL);
    model_forward(&back, 2, false, NULL);
    ck_assert(memcmp(m.output->y, back.output->y, 2 * model_output_size(&m) * sizeof(float)) ==
              0);
    /* Nested as {"class_name": ..., "config": {...}}. */
    char path[160], text[8192];
    snprintf(path, sizeof path, "%s/model.json", ckpt);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    size_t len = fread(text, 1, sizeof text - 1, f);
    text[len] = '\0';
    fclose(f);
    ck_assert_msg(strstr(text, "\"layer\": {\"class_name\": ") != NULL, "%s", text);
    free(a);
    free(b);
    model_free(&m);
    model_free(&back);
    model_file_close(&mf);
    model_file_close(&mf_back);
    checkpoint_remove(ckpt);
    rmdir(dir);
}

START_TEST(test_td_round_trip)
{
    check_round_trip("layers:\n"
                     "  - TimeDistributed: {Dense: {units: 3, activation: tanh, name: proj}, "
                     "input_shape: [4, 2, 3]}\n"
                     "  - TimeDistributed: {TimeDistributed: {Dense: 1}}\n"
                     "compile: {loss: mse}\n",
                     24);
}
END_TEST

/* ---- Bidirectional ------------------------------------------------------------- */

static const char *const rnn_classes[] = {"SimpleRNN", "LSTM", "GRU"};
static const char *const merge_modes[] = {"concat", "sum", "mul", "ave"};

/* Dense (whose weights check the wrapper's dx) -> Bidirectional -> Dense. */
static void bi_yaml(char *yaml, size_t size, const char *cls, const char *inner_args,
                    const char *mode, bool sequences)
{
    snprintf(yaml, size,
             "layers:\n"
             "  - Dense: {units: 3, input_shape: [4, 2], kernel_initializer: {random_uniform: "
             "{minval: -1.5, maxval: 1.5}}}\n"
             "  - Bidirectional: {layer: {%s: {units: 3%s%s}}, merge_mode: %s}\n"
             "%s"
             "  - Dense: 2\n"
             "compile: {loss: mse}\n",
             cls, sequences ? ", return_sequences: true" : "", inner_args, mode,
             sequences ? "  - Flatten\n" : "");
}

/* With mul each direction's gradient is scaled by the other's output, small
 * for an LSTM started from glorot weights: larger weights and open gates
 * make the states larger (and the gradient check not vacuous). */
static const char *bi_mul_args(const char *mode)
{
    return strcmp(mode, "mul") ? ""
                               : ", kernel_initializer: {random_uniform: {minval: -1, maxval: 1}}, "
                                 "recurrent_initializer: {random_uniform: {minval: -1, maxval: 1}}, "
                                 "bias_initializer: ones";
}

/* Every recurrent class x merge mode x return_sequences. */
START_TEST(test_bi_gradient)
{
    const char *cls = rnn_classes[_i / 8], *mode = merge_modes[_i / 2 % 4];
    bool sequences = _i % 2;
    char yaml[1024], what[96];
    bi_yaml(yaml, sizeof yaml, cls, bi_mul_args(mode), mode, sequences);
    snprintf(what, sizeof what, "Bidirectional(%s) %s%s", cls, mode,
             sequences ? " sequences" : "");
    check_model(yaml, 3, false, what);
}
END_TEST

/* merge_mode None: the two directions as two outputs (then the states),
 * each consumed on its own: the forward one by a Dense, the backward one
 * (flipped back to input order) by another, with and without
 * return_sequences and return_state. */
START_TEST(test_bi_unmerged_gradient)
{
    const char *cls = rnn_classes[_i / 4];
    bool sequences = _i % 2, states = _i / 2 % 2;
    char yaml[1024], what[96];
    snprintf(yaml, sizeof yaml,
             "inputs:\n"
             "  - Input: {name: x, shape: [4, 2]}\n"
             "layers:\n"
             "  - Dense: {name: pre, units: 3, inputs: x, kernel_initializer: {random_uniform: "
             "{minval: -1.5, maxval: 1.5}}}\n"
             "  - Bidirectional: {name: bi, layer: {%s: {units: 3%s%s}}, merge_mode: null, "
             "inputs: pre}\n"
             "  - Flatten: {name: f0, inputs: \"bi[0]\"}\n"
             "  - Flatten: {name: f1, inputs: \"bi[1]\"}\n"
             "  - Dense: {name: d0, units: 2, inputs: f0}\n"
             "  - Dense: {name: d1, units: 2, activation: tanh, inputs: f1}\n"
             "%s"
             "  - Add: {name: sum, inputs: [d0, d1%s]}\n"
             "outputs: [sum]\n"
             "compile: {loss: mse}\n",
             cls, sequences ? ", return_sequences: true" : "", states ? ", return_state: true" : "",
             states ? "  - Dense: {name: d2, units: 2, inputs: \"bi[3]\"}\n" : "",
             states ? ", d2" : "");
    snprintf(what, sizeof what, "Bidirectional(%s) unmerged%s%s", cls,
             sequences ? " sequences" : "", states ? " states" : "");
    check_model(yaml, 3, false, what);
}
END_TEST

/* A time mask on the wrapper's input (node 1 is the Dense before it), as
 * Embedding(mask_zero) or Masking would give: both directions honour it and
 * masked steps of a returned sequence are 0. */
static const unsigned char bi_mask[3 * 4] = {
    1, 0, 1, 0, /* masked inside and at the end */
    0, 0, 1, 1, /* leading masked steps */
    1, 1, 1, 1,
};

START_TEST(test_bi_masked_gradient)
{
    const char *mode = merge_modes[_i / 2];
    bool sequences = _i % 2;
    char yaml[1024], what[96];
    bi_yaml(yaml, sizeof yaml, "LSTM", bi_mul_args(mode), mode, sequences);
    struct net n;
    net_load(&n, yaml);
    model_workspace(&n.m, 3);
    n.m.nodes[1].mask = (unsigned char *)bi_mask;
    net_prepare(&n, 3, false, -2, 2);
    snprintf(what, sizeof what, "masked Bidirectional(LSTM) %s%s", mode,
             sequences ? " sequences" : "");
    net_gradcheck(&n, what);
    net_free(&n);
}
END_TEST

/* Dropout inside both directions in training (each draws its own masks). */
START_TEST(test_bi_dropout_training)
{
    char yaml[1024];
    bi_yaml(yaml, sizeof yaml, "GRU", ", dropout: 0.3, recurrent_dropout: 0.2", "concat", true);
    check_model(yaml, 3, true, "Bidirectional(GRU) dropout");
}
END_TEST

/* A one-layer model of `layer` (its YAML entry) with a workspace for B. */
static void one_layer(struct net *n, const char *layer, size_t B)
{
    char yaml[1024];
    snprintf(yaml, sizeof yaml, "layers:\n  - %s\ncompile: {loss: mse}\n", layer);
    net_load(n, yaml);
    n->B = B;
    model_workspace(&n->m, B);
}

/* Bidirectional against its two directions run as layers of their own on
 * the same input and mask, with the same weights (the forward half, then
 * the backward half): y = merge(yf, flip(yb)), masked steps 0. */
START_TEST(test_bi_forward)
{
    const char *mode = merge_modes[_i / 4];
    bool sequences = _i / 2 % 2, with_mask = _i % 2;
    const size_t B = 3, T = 4, D = 2, U = 3;
    const char *rs = sequences ? ", return_sequences: true" : "";
    char buf[256];
    struct net bi, f, b;
    snprintf(buf, sizeof buf,
             "Bidirectional: {LSTM: {units: 3%s}, merge_mode: %s, input_shape: [4, 2]}", rs, mode);
    one_layer(&bi, buf, B);
    snprintf(buf, sizeof buf, "LSTM: {units: 3%s, input_shape: [4, 2]}", rs);
    one_layer(&f, buf, B);
    snprintf(buf, sizeof buf, "LSTM: {units: 3%s, go_backwards: true, input_shape: [4, 2]}", rs);
    one_layer(&b, buf, B);
    struct rng r;
    rng_seed(&r, 21 + (uint64_t)_i);
    model_init_weights(&bi.m, &r);
    for (size_t i = 0; i < bi.m.n_weights; i++)
        bi.m.w[i] += (float)(0.2 * rng_uniform(&r) - 0.1);
    size_t half = bi.m.n_weights / 2;
    ck_assert_uint_eq(f.m.n_weights, half);
    model_init_weights(&f.m, &r);
    model_init_weights(&b.m, &r);
    memcpy(f.m.w, bi.m.w, half * sizeof(float));
    memcpy(b.m.w, bi.m.w + half, half * sizeof(float));
    float *x = model_input(&bi.m);
    gc_fill_uniform(x, B * T * D, -1.5f, 1.5f, 3);
    memcpy(model_input(&f.m), x, B * T * D * sizeof(float));
    memcpy(model_input(&b.m), x, B * T * D * sizeof(float));
    if (with_mask)
        bi.m.nodes[0].mask = f.m.nodes[0].mask = b.m.nodes[0].mask = (unsigned char *)bi_mask;
    model_forward(&bi.m, B, false, NULL);
    model_forward(&f.m, B, false, NULL);
    model_forward(&b.m, B, false, NULL);
    size_t steps = sequences ? T : 1, width = !strcmp(mode, "concat") ? 2 * U : U;
    ck_assert_uint_eq(model_output_size(&bi.m), steps * width);
    for (size_t s = 0; s < B; s++)
        for (size_t t = 0; t < steps; t++) {
            const float *yf = f.m.output->y + (s * steps + t) * U;
            const float *yb = b.m.output->y + (s * steps + (steps - 1 - t)) * U;
            bool zero = sequences && with_mask && !bi_mask[s * T + t];
            for (size_t k = 0; k < width; k++) {
                double want;
                size_t u = k % U;
                if (zero)
                    want = 0;
                else if (!strcmp(mode, "concat"))
                    want = k < U ? yf[u] : yb[u];
                else if (!strcmp(mode, "sum"))
                    want = (double)yf[u] + yb[u];
                else if (!strcmp(mode, "mul"))
                    want = (double)yf[u] * yb[u];
                else
                    want = ((double)yf[u] + yb[u]) / 2;
                float got = bi.m.output->y[(s * steps + t) * width + k];
                ck_assert_msg(fabs(got - want) < 1e-6, "%s: y[%zu, %zu, %zu] = %.9g, want %.9g",
                              mode, s, t, k, got, want);
            }
        }
    net_free(&bi);
    net_free(&f);
    net_free(&b);
}
END_TEST

/* Keras: Bidirectional(LSTM(64)) on (10, 32) has 2 * 4 * (64 * (64 + 32) +
 * 64) weights, the forward layer's then the backward layer's, named as
 * TensorFlow.js scopes them; the backward copy is not serialized. */
START_TEST(test_bi_params_names)
{
    struct net n;
    net_load(&n, "layers:\n"
                 "  - Bidirectional: {LSTM: {units: 64, return_sequences: true}, "
                 "input_shape: [10, 32]}\n"
                 "  - Bidirectional: {GRU: {units: 8, return_sequences: true}, merge_mode: sum}\n"
                 "  - Bidirectional: [{SimpleRNN: 5}, mul]\n"
                 "compile: {loss: mse}\n");
    char buf[96];
    const struct layer *bi = &n.m.layers[1];
    ck_assert_str_eq(bi->name, "bidirectional");
    ck_assert_str_eq(n.m.layers[2].name, "bidirectional_1");
    ck_assert_uint_eq(layer_count_params(bi, true), 2 * 4 * (64 * (64 + 32) + 64));
    ck_assert_uint_eq(layer_count_params(bi, true), 49664);
    ck_assert_str_eq(shape_format(&n.m.nodes[1].out, buf, sizeof buf), "(None, 10, 128)");
    static const char *const names[] = {
        "bidirectional/forward_lstm/kernel",  "bidirectional/forward_lstm/recurrent_kernel",
        "bidirectional/forward_lstm/bias",    "bidirectional/backward_lstm/kernel",
        "bidirectional/backward_lstm/recurrent_kernel", "bidirectional/backward_lstm/bias",
    };
    ck_assert_uint_eq(bi->n_params, 6);
    for (size_t p = 0; p < 6; p++) {
        weight_name(bi, p, buf, sizeof buf);
        ck_assert_str_eq(buf, names[p]);
    }
    /* GRU reset_after (Keras 2's default): 3 * (8 * (8 + 128) + 2 * 8) each. */
    const struct layer *gru = &n.m.layers[2];
    ck_assert_str_eq(shape_format(&n.m.nodes[2].out, buf, sizeof buf), "(None, 10, 8)");
    ck_assert_uint_eq(layer_count_params(gru, true), 2 * 3 * (8 * (8 + 128) + 2 * 8));
    weight_name(gru, 3, buf, sizeof buf);
    ck_assert_str_eq(buf, "bidirectional_1/backward_gru/kernel");
    ck_assert_int_eq(gru->ops->mask_mode(gru), MASK_KEEP);
    const struct layer *rnn = &n.m.layers[3];
    ck_assert_int_eq(rnn->ops->mask_mode(rnn), MASK_DROP);
    ck_assert_str_eq(shape_format(&n.m.nodes[3].out, buf, sizeof buf), "(None, 5)");
    ck_assert_uint_eq(layer_count_params(rnn, true), 2 * (5 * (5 + 8) + 5));
    /* The nested layers: lstm (given), its derived backward copy. */
    struct layer *kids[2];
    ck_assert_uint_eq(layer_children(bi, kids, 2), 2);
    ck_assert_str_eq(kids[0]->name, "lstm");
    ck_assert(!kids[0]->derived);
    ck_assert(kids[1]->derived);
    ck_assert(*layer_bool_arg(kids[1], "go_backwards"));
    ck_assert(!*layer_bool_arg(kids[0], "go_backwards"));
    char *text = layer_json_text(bi, true);
    ck_assert_msg(strstr(text, "\"layer\": {\"class_name\": \"LSTM\", \"config\": {\"name\": "
                               "\"lstm\"") != NULL, "%s", text);
    ck_assert_msg(strstr(text, "\"merge_mode\": \"concat\"") != NULL, "%s", text);
    ck_assert_msg(strstr(text, "backward_layer") == NULL, "%s", text);
    ck_assert_msg(strstr(text, "\"go_backwards\": true") == NULL, "%s", text);
    free(text);
    net_free(&n);
}
END_TEST

/* A given backward_layer: created after `layer`, so "lstm_1" (weights
 * backward_lstm_1/...), serialized as given; gradients through both. */
START_TEST(test_bi_backward_layer)
{
    static const char *yaml =
        "layers:\n"
        "  - Dense: {units: 3, input_shape: [4, 2]}\n"
        "  - Bidirectional:\n"
        "      layer: {LSTM: {units: 3, return_sequences: true}}\n"
        "      backward_layer: {LSTM: {units: 3, return_sequences: true, go_backwards: true, "
        "activation: softsign}}\n"
        "  - LSTM: 2\n"
        "  - Dense: 2\n"
        "compile: {loss: mse}\n";
    struct net n;
    net_load(&n, yaml);
    char buf[96];
    const struct layer *bi = &n.m.layers[2];
    struct layer *kids[2];
    ck_assert_uint_eq(layer_children(bi, kids, 2), 2);
    ck_assert_str_eq(kids[0]->name, "lstm");
    ck_assert_str_eq(kids[1]->name, "lstm_1");
    ck_assert(!kids[1]->derived);
    ck_assert_str_eq(n.m.layers[3].name, "lstm_2");
    weight_name(bi, 3, buf, sizeof buf);
    ck_assert_str_eq(buf, "bidirectional/backward_lstm_1/kernel");
    net_free(&n);
    check_model(yaml, 2, false, "Bidirectional with backward_layer");
    check_round_trip("layers:\n"
                     "  - Bidirectional:\n"
                     "      layer: {GRU: {units: 3, return_sequences: true}}\n"
                     "      backward_layer: {GRU: {units: 3, return_sequences: true, "
                     "go_backwards: true, reset_after: false}}\n"
                     "      merge_mode: ave\n"
                     "      input_shape: [4, 2]\n"
                     "compile: {loss: mse}\n",
                     8);
}
END_TEST

START_TEST(test_bi_round_trip)
{
    check_round_trip("layers:\n"
                     "  - Bidirectional: {LSTM: {units: 4, return_sequences: true, "
                     "unit_forget_bias: false}, input_shape: [5, 3]}\n"
                     "  - TimeDistributed: {Dense: 2}\n"
                     "  - Bidirectional: {layer: {class_name: SimpleRNN, config: {units: 2, "
                     "name: rnn}}, merge_mode: mul}\n"
                     "compile: {loss: mse}\n",
                     15);
}
END_TEST

/* Stateful: each direction keeps its own state across batches, as two
 * stateful layers of their own would. */
START_TEST(test_bi_stateful)
{
    struct net bi, f, b;
    const size_t B = 2, T = 3, D = 2, U = 2;
    one_layer(&bi,
              "Bidirectional: {LSTM: {units: 2, stateful: true}, batch_input_shape: [2, 3, 2]}",
              B);
    one_layer(&f, "LSTM: {units: 2, stateful: true, batch_input_shape: [2, 3, 2]}", B);
    one_layer(&b, "LSTM: {units: 2, stateful: true, go_backwards: true, "
                  "batch_input_shape: [2, 3, 2]}", B);
    ck_assert_uint_eq(bi.m.nodes[1].state_floats, 2 * 2 * U);
    struct rng r;
    rng_seed(&r, 4);
    model_init_weights(&bi.m, &r);
    model_init_weights(&f.m, &r);
    model_init_weights(&b.m, &r);
    size_t half = bi.m.n_weights / 2;
    memcpy(f.m.w, bi.m.w, half * sizeof(float));
    memcpy(b.m.w, bi.m.w + half, half * sizeof(float));
    for (int call = 0; call < 2; call++) {
        struct net *all[] = {&bi, &f, &b};
        for (int k = 0; k < 3; k++) {
            gc_fill_uniform(model_input(&all[k]->m), B * T * D, -1, 1, 30 + (unsigned)call);
            model_forward(&all[k]->m, B, false, NULL);
        }
        for (size_t s = 0; s < B; s++)
            for (size_t u = 0; u < U; u++) {
                ck_assert_float_eq_tol(bi.m.output->y[s * 2 * U + u], f.m.output->y[s * U + u],
                                       1e-6);
                ck_assert_float_eq_tol(bi.m.output->y[s * 2 * U + U + u],
                                       b.m.output->y[s * U + u], 1e-6);
            }
    }
    net_free(&bi);
    net_free(&f);
    net_free(&b);
}
END_TEST

START_TEST(test_bi_contracts)
{
    static const char *yaml =
        "layers:\n"
        "  - Dense: {units: 3, input_shape: [4, 2]}\n"
        "  - Bidirectional: {LSTM: {units: 3, return_sequences: true}}\n"
        "  - Bidirectional: {layer: {GRU: {units: 2, dropout: 0.2}}, merge_mode: mul}\n"
        "  - Dense: {units: 3, activation: softmax}\n"
        "compile: {loss: categorical_crossentropy}\n";
    check_accumulates(yaml, false, "Bidirectional inference");
    check_accumulates(yaml, true, "Bidirectional training");
    check_batch_equals_singles(yaml, "Bidirectional");
    struct net n;
    net_load(&n, yaml);
    n.B = 3;
    model_workspace(&n.m, 3);
    struct rng r;
    rng_seed(&r, 1);
    model_init_weights(&n.m, &r);
    check_writes(&n, true, "Bidirectional writes");
    net_free(&n);
}
END_TEST

/* ---- errors ----------------------------------------------------------------------- */

START_TEST(test_wrapper_errors)
{
    static const struct {
        const char *layer, *input, *msg;
    } cases[] = {
        {"TimeDistributed: {Dense: 3}", "[4]",
         "TimeDistributed expects input of rank >= 3 (batch, time, ...), found (None, 2)"},
        {"TimeDistributed", "[4, 2]", "TimeDistributed needs argument 'layer'"},
        {"TimeDistributed: {Dens: 3}", "[4, 2]", "unknown layer 'Dens' (did you mean 'Dense'?)"},
        {"TimeDistributed: {layer: {class_name: Dense, config: {unit: 3}}}", "[4, 2]",
         "unknown argument 'unit' for Dense (did you mean 'units'?)"},
        {"TimeDistributed: {layer: 3}", "[4, 2]", "unknown layer '3'"},
        {"TimeDistributed: {layer: [Dense]}", "[4, 2]", "expected a layer"},
        {"TimeDistributed: {Dense: {units: 3, input_shape: [2]}}", "[4, 2]",
         "a nested layer takes no input shape (give it to the wrapper)"},
        {"TimeDistributed: {Input: {shape: [2]}}", "[4, 2]", "an Input cannot be nested"},
        {"TimeDistributed: {Conv1D: {filters: 2, kernel_size: 3}}", "[4, 5]",
         "Conv1D expects input of shape (None, steps, channels), found (None, 2)"},
        {"TimeDistributed: {Dense: 0}", "[4, 2]", "Dense units must be a positive integer"},
        {"TimeDistributed: {lyer: {Dense: 3}}", "[4, 2]",
         "unknown argument 'lyer' for TimeDistributed (did you mean 'layer'?)"},
        {"TimeDistributed: {Normalization: {}}", "[4, 2]",
         "Normalization inside TimeDistributed is not supported by nnc yet"},
        {"Bidirectional: {Dense: 3}", "[4, 2]",
         "Bidirectional needs a recurrent layer (SimpleRNN, LSTM, GRU), found Dense"},
        {"Bidirectional: {merge_mode: sum}", "[4, 2]", "Bidirectional needs argument 'layer'"},
        {"Bidirectional: {layer: {LSTM: 3}, merge_mode: add}", "[4, 2]",
         "unknown merge_mode 'add'"},
        {"Bidirectional: {layer: {LSTM: 3}, backward_layer: {LSTM: 3}}", "[4, 2]",
         "the forward and backward layers of Bidirectional need different go_backwards values"},
        {"Bidirectional: {layer: {LSTM: 3}, backward_layer: {LSTM: {units: 3, go_backwards: "
         "true, return_sequences: true}}}",
         "[4, 2]", "need the same return_sequences, found false and true"},
        {"Bidirectional: {layer: {LSTM: 3}, backward_layer: {GRU: {units: 4, go_backwards: "
         "true}}}",
         "[4, 2]",
         "the backward layer's output (None, 4) differs from the forward layer's (None, 3)"},
        {"Bidirectional: {layer: {LSTM: 3}, backward_layer: {Dense: 3}}", "[4, 2]",
         "needs a recurrent layer (SimpleRNN, LSTM, GRU), found Dense"},
        {"TimeDistributed: {layer: {LSTM: {units: 3, return_state: true}}}", "[4, 3, 2]",
         "TimeDistributed takes a layer with one output; 'lstm' has 3 (return_state)"},
        {"Bidirectional: {LSTM: {units: 3, return_state: true}}", "[4, 2]",
         "all layers in a Sequential model should have a single output tensor"},
        {"Bidirectional: {layer: {LSTM: 3}, merge_mode: null}", "[4, 2]",
         "layer 'bidirectional' has 2 outputs: all layers in a Sequential model should have a "
         "single output tensor"},
        {"Bidirectional: {LSTM: {units: 3, activity_regularizer: l2}, merge_mode: sum}", "[4, 2]",
         "supported by nnc only with merge_mode concat"},
        {"Bidirectional: {LSTM: 3}", "[4]", "LSTM expects"},
        {"Bidirectional: {LSTM: {units: 3, input_shape: [4, 2]}}", "[4, 2]",
         "a nested layer takes no input shape"},
    };
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "layers:\n"
             "  - Dense: {units: 2, input_shape: %s}\n"
             "  - %s\n"
             "compile: {loss: mse}\n",
             cases[_i].input, cases[_i].layer);
    expect_model_error(yaml, cases[_i].msg, 3);
}
END_TEST

static Suite *wrappers_suite(void)
{
    Suite *s = suite_create("wrappers");
    TCase *tc = tcase_create("time_distributed");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_td_dense_gradient);
    tcase_add_test(tc, test_td_conv2d_gradient);
    tcase_add_test(tc, test_td_nested_gradient);
    tcase_add_test(tc, test_td_batchnorm_training);
    tcase_add_test(tc, test_td_dropout_training);
    tcase_add_test(tc, test_td_frozen);
    tcase_add_test(tc, test_td_dense_forward);
    tcase_add_test(tc, test_td_conv2d_forward);
    tcase_add_test(tc, test_td_shapes_names);
    tcase_add_test(tc, test_td_activity_regularizer);
    tcase_add_test(tc, test_td_contracts);
    tcase_add_test(tc, test_td_round_trip);
    suite_add_tcase(s, tc);

    tc = tcase_create("bidirectional");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_bi_gradient, 0, 24);
    tcase_add_loop_test(tc, test_bi_unmerged_gradient, 0, 12);
    tcase_add_loop_test(tc, test_bi_masked_gradient, 0, 8);
    tcase_add_test(tc, test_bi_dropout_training);
    tcase_add_loop_test(tc, test_bi_forward, 0, 16);
    tcase_add_test(tc, test_bi_params_names);
    tcase_add_test(tc, test_bi_backward_layer);
    tcase_add_test(tc, test_bi_round_trip);
    tcase_add_test(tc, test_bi_stateful);
    tcase_add_test(tc, test_bi_contracts);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_loop_test(tc, test_wrapper_errors, 0, 25);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(wrappers_suite());
}
