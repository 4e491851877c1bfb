/* Embedding, Masking and time-step masks: shapes and parameters, forward
 * values against hand-computed ones, gradient checks (Embedding's weights;
 * a Masking -> Dense chain with masked steps, through the masked loss;
 * GlobalAveragePooling1D over a mask), mask propagation through the layers
 * that keep or drop it, the masked loss and compile metrics against an
 * independent computation, the check of Embedding indices in the data, and
 * Keras serialization. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/data/dataset.h"
#include "../src/layer.h"
#include "../src/loss.h"
#include "../src/model.h"
#include "../src/train.h"
#include "fixtures.h"
#include "gradcheck.h"
#include "netcheck.h"

static void close_to(double got, double want, double tol, const char *what)
{
    ck_assert_msg(fabs(got - want) <= tol * (1 + fabs(want)), "%s: %.9g, want %.9g", what, got,
                  want);
}

/* A model at batch size B, weights from the seed, inputs left to the caller. */
static void load_at(struct net *n, const char *yaml, size_t B)
{
    net_load(n, yaml);
    n->B = B;
    model_workspace(&n->m, B);
    net_setup(n, 1, -1, 1);
}

static void forward(struct net *n)
{
    model_forward(&n->m, n->B, false, NULL);
}

/* ---- Embedding ---------------------------------------------------------------- */

START_TEST(test_embedding_shapes)
{
    struct net n;
    /* The Keras documentation's example: (None, 10) -> (None, 10, 64). */
    net_load(&n, "layers:\n"
                 "  - Embedding: {input_dim: 1000, output_dim: 64, input_length: 10}\n"
                 "  - Flatten\n"
                 "  - Dense: {units: 1, activation: sigmoid}\n"
                 "compile: {loss: binary_crossentropy}\n");
    const struct node *e = &n.m.nodes[1];
    ck_assert_int_eq(n.m.nodes[0].out.rank, 1);
    ck_assert_uint_eq(n.m.nodes[0].out.dim[0], 10);
    ck_assert_int_eq(e->out.rank, 2);
    ck_assert_uint_eq(e->out.dim[0], 10);
    ck_assert_uint_eq(e->out.dim[1], 64);
    ck_assert_str_eq(e->layer->params[0].name, "embeddings");
    ck_assert_uint_eq(e->layer->params[0].shape.dim[0], 1000);
    ck_assert_uint_eq(e->layer->params[0].shape.dim[1], 64);
    ck_assert_uint_eq(model_count_params(&n.m, true), 64000 + 641);
    ck_assert(e->mask == NULL); /* mask_zero defaults to false */
    /* The default initializer is Keras's "uniform": RandomUniform(-0.05, 0.05). */
    struct rng r;
    rng_seed(&r, 5);
    model_init_weights(&n.m, &r);
    double lo = 1, hi = -1;
    for (size_t i = 0; i < 64000; i++) {
        lo = fmin(lo, n.m.w[e->layer->params[0].offset + i]);
        hi = fmax(hi, n.m.w[e->layer->params[0].offset + i]);
    }
    ck_assert_msg(lo >= -0.05 && lo < -0.049 && hi <= 0.05 && hi > 0.049, "[%g, %g]", lo, hi);
    net_free(&n);
}
END_TEST

START_TEST(test_embedding_nd)
{
    struct net n;
    net_load(&n, "layers:\n"
                 "  - Embedding: {input_dim: 50, output_dim: 8, input_shape: [6, 2]}\n"
                 "compile: {loss: mse}\n");
    const struct shape *o = &n.m.output->out;
    ck_assert_int_eq(o->rank, 3);
    ck_assert(o->dim[0] == 6 && o->dim[1] == 2 && o->dim[2] == 8);
    ck_assert_uint_eq(model_count_params(&n.m, true), 400);
    net_free(&n);
    /* input_length agreeing with the declared shape, and after an Input. */
    net_load(&n, "layers:\n"
                 "  - Embedding: {input_dim: 5, output_dim: 3, input_length: 4, "
                 "batch_input_shape: [null, 4]}\n"
                 "compile: {loss: mse}\n");
    ck_assert_uint_eq(n.m.output->out.dim[0], 4);
    net_free(&n);
    net_load(&n, "layers:\n"
                 "  - Input: {shape: [7]}\n"
                 "  - Embedding: [5, 3]\n"
                 "compile: {loss: mse}\n");
    ck_assert_uint_eq(n.m.output->out.dim[0], 7);
    ck_assert_uint_eq(n.m.output->out.dim[1], 3);
    net_free(&n);
}
END_TEST

static const char *emb_yaml = "layers:\n"
                              "  - Embedding: {input_dim: 4, output_dim: 3, input_length: 5}\n"
                              "compile: {loss: mse}\n";

/* Row i of the weights is 10 i + (0, 1, 2). */
static void set_rows(struct net *n)
{
    const struct param *p = &n->m.nodes[1].layer->params[0];
    for (size_t i = 0; i < 4; i++)
        for (size_t k = 0; k < 3; k++)
            n->m.w[p->offset + i * 3 + k] = (float)(10 * i + k);
}

START_TEST(test_embedding_forward)
{
    struct net n;
    load_at(&n, emb_yaml, 2);
    set_rows(&n);
    /* Integers, and what can only reach an Embedding not fed by the data:
     * 2.7 truncates to 2 (Keras's int32 cast), -1, 4 and NaN give zeros. */
    const float x[10] = {3, 0, 2, 2, 1, 2.7f, -1, 4, NAN, 1};
    const int rows[10] = {3, 0, 2, 2, 1, 2, -1, -1, -1, 1};
    memcpy(model_input(&n.m), x, sizeof x);
    forward(&n);
    for (size_t r = 0; r < 10; r++)
        for (size_t k = 0; k < 3; k++) {
            float want = rows[r] < 0 ? 0.0f : (float)(10 * rows[r] + (int)k);
            ck_assert_msg(n.m.output->y[r * 3 + k] == want, "position %zu, %zu: %g, want %g", r,
                          k, n.m.output->y[r * 3 + k], want);
        }
    net_free(&n);
}
END_TEST

/* Backward scatter-adds dy into the rows used (twice used: twice added),
 * adds to what dw holds, and leaves dx alone. */
START_TEST(test_embedding_backward)
{
    struct net n;
    load_at(&n, emb_yaml, 2);
    const float x[10] = {3, 0, 2, 2, 1, 1, 1, 0, 3, 3};
    memcpy(model_input(&n.m), x, sizeof x);
    float dy[30], dx[10], dw[12], want[12] = {0};
    for (size_t i = 0; i < 30; i++)
        dy[i] = (float)(i % 7) - 2.5f;
    for (size_t r = 0; r < 10; r++)
        for (size_t k = 0; k < 3; k++)
            want[(size_t)x[r] * 3 + k] += dy[r * 3 + k];
    for (size_t i = 0; i < 10; i++)
        dx[i] = 0.5f;
    for (size_t i = 0; i < 12; i++)
        dw[i] = 1.0f;
    node_backward(&n, 1, dy, dx, dw);
    for (size_t i = 0; i < 12; i++)
        ck_assert_msg(dw[i] == 1.0f + want[i], "dw[%zu] = %g, want %g", i, dw[i], 1 + want[i]);
    for (size_t i = 0; i < 10; i++)
        ck_assert(dx[i] == 0.5f);
    net_free(&n);
}
END_TEST

/* Integer inputs with repeats, in [0, vocab). */
static void int_inputs(struct net *n, size_t vocab, unsigned seed)
{
    size_t count = n->B * model_input_size(&n->m);
    float *x = model_input(&n->m);
    for (size_t i = 0; i < count; i++)
        x[i] = (float)((i * 5 + seed * 3 + i / 3) % vocab);
}

static void embedding_gradcheck(const char *yaml, size_t vocab, const char *what)
{
    struct net n;
    load_at(&n, yaml, 3);
    int_inputs(&n, vocab, 1);
    net_gradcheck(&n, what);
    net_free(&n);
}

START_TEST(test_embedding_gradients)
{
    embedding_gradcheck("layers:\n"
                        "  - Embedding: {input_dim: 7, output_dim: 3, input_length: 4}\n"
                        "  - Flatten\n"
                        "  - Dense: {units: 2, activation: tanh}\n"
                        "compile: {loss: mse}\n",
                        7, "Embedding -> Flatten -> Dense");
    /* Dense on the (steps, output_dim) output, a regularized embedding. */
    embedding_gradcheck("layers:\n"
                        "  - Embedding: {input_dim: 6, output_dim: 4, input_length: 5, "
                        "embeddings_regularizer: {l2: 0.01}}\n"
                        "  - Dense: {units: 3, activation: tanh}\n"
                        "compile: {loss: mse}\n",
                        6, "Embedding (l2) -> Dense on 3-D");
    /* mask_zero: the padding steps (index 0) drop out of the loss. */
    embedding_gradcheck("layers:\n"
                        "  - Embedding: {input_dim: 5, output_dim: 4, input_length: 6, "
                        "mask_zero: true}\n"
                        "  - Dense: {units: 2, activation: tanh}\n"
                        "compile: {loss: mse}\n",
                        5, "Embedding (mask_zero) -> Dense, masked loss");
}
END_TEST

/* A frozen Embedding gets no gradient and needs no backward. */
START_TEST(test_embedding_frozen)
{
    struct net n;
    load_at(&n,
            "layers:\n"
            "  - Embedding: {input_dim: 7, output_dim: 3, input_length: 4, trainable: false}\n"
            "  - Flatten\n"
            "  - Dense: {units: 2}\n"
            "compile: {loss: mse}\n",
            3);
    int_inputs(&n, 7, 2);
    ck_assert(!n.m.nodes[1].needs_grad);
    net_gradcheck(&n, "frozen Embedding");
    ck_assert_uint_eq(model_count_params(&n.m, false), 21);
    net_free(&n);
}
END_TEST

/* ---- Masking -------------------------------------------------------------------- */

START_TEST(test_masking_forward_backward)
{
    struct net n;
    load_at(&n,
            "layers:\n"
            "  - Masking: {mask_value: 2.0, input_shape: [4, 3]}\n"
            "compile: {loss: mse}\n",
            2);
    /* Steps all equal to 2 are masked and zeroed; one 2 among others is kept. */
    const float x[24] = {1, 2, 3, 2, 2, 2, 2, 0, 2, -1, 5, 7,
                         2, 2, 2, 2, 2, 2, 0, 0, 0, 2, 2, 2.5f};
    const unsigned char keep[8] = {1, 0, 1, 1, 0, 0, 1, 1};
    memcpy(model_input(&n.m), x, sizeof x);
    forward(&n);
    const struct node *mk = &n.m.nodes[1];
    ck_assert_ptr_nonnull(mk->mask);
    for (size_t s = 0; s < 8; s++) {
        ck_assert_msg(mk->mask[s] == keep[s], "mask[%zu] = %d", s, mk->mask[s]);
        for (size_t f = 0; f < 3; f++)
            ck_assert(mk->y[s * 3 + f] == (keep[s] ? x[s * 3 + f] : 0.0f));
    }
    /* dx = dy where kept, 0 where masked; added to dx. */
    float dy[24], dx[24];
    for (size_t i = 0; i < 24; i++) {
        dy[i] = (float)i - 10;
        dx[i] = 1;
    }
    node_backward(&n, 1, dy, dx, n.m.dw);
    for (size_t i = 0; i < 24; i++)
        ck_assert(dx[i] == 1 + (keep[i / 3] ? dy[i] : 0.0f));
    net_free(&n);
}
END_TEST

static const char *chain_yaml = "layers:\n"
                                "  - Masking: {mask_value: 0.0, input_shape: [5, 3]}\n"
                                "  - Dense: {units: 4, activation: tanh}\n"
                                "  - Dense: {units: 2}\n"
                                "compile: {loss: mse, metrics: [mae]}\n";

/* Masks sample 0 step 1, sample 1 steps 0 and 4, sample 2 step 3. */
static void mask_steps(struct net *n)
{
    static const size_t masked[][2] = {{0, 1}, {1, 0}, {1, 4}, {2, 3}};
    float *x = model_input(&n->m);
    for (size_t i = 0; i < sizeof masked / sizeof masked[0]; i++)
        memset(x + (masked[i][0] * 5 + masked[i][1]) * 3, 0, 3 * sizeof *x);
}

/* Masking -> Dense -> Dense on (steps, features) with masked steps: the
 * loss averages the kept steps only, and every weight's gradient checks
 * against finite differences of that loss. */
START_TEST(test_masked_chain_gradients)
{
    struct net n;
    load_at(&n, chain_yaml, 3);
    mask_steps(&n);
    net_gradcheck(&n, "Masking -> Dense -> Dense, masked steps");
    /* The masked rows get no gradient and their targets do not matter. */
    model_forward(&n.m, 3, false, NULL);
    double loss = model_backward(&n.m, 3, n.t);
    const float *dy = n.m.output->dy;
    ck_assert(dy[(0 * 5 + 1) * 2] == 0 && dy[(1 * 5 + 4) * 2 + 1] == 0);
    ck_assert(dy[(0 * 5 + 0) * 2] != 0);
    n.t[(2 * 5 + 3) * 2] += 100;
    close_to(model_loss(&n.m, 3, n.t, NULL, false, NULL), loss, 1e-9, "a masked target");
    n.t[(2 * 5 + 2) * 2] += 1;
    ck_assert(fabs(model_loss(&n.m, 3, n.t, NULL, false, NULL) - loss) > 1e-3);
    net_free(&n);
}
END_TEST

START_TEST(test_masking_contracts)
{
    check_contracts(chain_yaml, false, "Masking chain");
    struct net n;
    net_load(&n, "layers:\n"
                 "  - Embedding: {input_dim: 9, output_dim: 3, input_length: 4, mask_zero: true}\n"
                 "  - Dense: {units: 2}\n"
                 "compile: {loss: mse}\n");
    check_writes(&n, false, "Embedding");
    net_free(&n);
}
END_TEST

/* ---- mask propagation -------------------------------------------------------------- */

START_TEST(test_mask_propagation)
{
    struct net n;
    load_at(&n,
            "layers:\n"
            "  - Embedding: {input_dim: 10, output_dim: 4, input_length: 6, mask_zero: true}\n"
            "  - Dense: {units: 5, activation: relu}\n"
            "  - Dropout: 0.2\n"
            "  - LayerNormalization\n"
            "  - Activation: tanh\n"
            "  - Flatten\n"
            "  - Dense: {units: 2}\n"
            "compile: {loss: mse}\n",
            2);
    const float x[12] = {1, 0, 3, 0, 0, 9, 0, 0, 0, 0, 0, 0};
    memcpy(model_input(&n.m), x, sizeof x);
    forward(&n);
    const struct node *nd = n.m.nodes;
    ck_assert_ptr_nonnull(nd[1].mask);
    for (size_t i = 0; i < 12; i++)
        ck_assert(nd[1].mask[i] == (x[i] != 0));
    /* Dense, Dropout, LayerNormalization, Activation keep it (Keras's
     * supports_masking); Flatten drops it, so the loss is not masked. */
    for (size_t i = 2; i <= 5; i++)
        ck_assert_msg(nd[i].mask == nd[1].mask, "node %zu (%s)", i, nd[i].layer->name);
    ck_assert(nd[6].mask == NULL && nd[7].mask == NULL);
    size_t rpm;
    ck_assert(model_output_mask(&n.m, &rpm) == NULL);
    net_free(&n);

    /* Layers without masking support drop it: Conv1D, MaxPooling1D. */
    load_at(&n,
            "layers:\n"
            "  - Masking: {input_shape: [6, 2]}\n"
            "  - BatchNormalization\n"
            "  - Softmax\n"
            "  - Conv1D: {filters: 2, kernel_size: 3}\n"
            "  - Dense: {units: 2}\n"
            "compile: {loss: mse}\n",
            2);
    forward(&n);
    nd = n.m.nodes;
    ck_assert(nd[1].mask && nd[2].mask == nd[1].mask && nd[3].mask == nd[1].mask);
    ck_assert(nd[4].mask == NULL && nd[5].mask == NULL);
    net_free(&n);

    /* A masked output: the loss rows per mask entry. */
    load_at(&n,
            "layers:\n"
            "  - Masking: {input_shape: [6, 2]}\n"
            "  - Dense: {units: 3}\n"
            "compile: {loss: mse}\n",
            2);
    forward(&n);
    ck_assert(model_output_mask(&n.m, &rpm) == n.m.nodes[1].mask);
    ck_assert_uint_eq(rpm, 1);
    net_free(&n);
}
END_TEST

/* ---- merges combine their inputs' masks ---------------------------------------------- */

/* keras/layers/merging: _Merge.compute_mask is the AND of the inputs'
 * masks that exist; Concatenate's is the all() over the concatenated masks
 * (an unmasked input counts as kept): on the feature axis the same AND,
 * on the time axis the masks side by side. Dot has none. */
static const char *const merge_yaml =
    "inputs:\n"
    "  - Input: {name: a, shape: [4, 2]}\n"
    "  - Input: {name: b, shape: [4, 2]}\n"
    "  - Input: {name: c, shape: [3, 2]}\n"
    "  - Input: {name: d, shape: [4, 3]}\n"
    "layers:\n"
    "  - Masking: {name: ma, inputs: a}\n"
    "  - Masking: {name: mb, inputs: b}\n"
    "  - Add: {name: add, inputs: [ma, mb]}\n"
    "  - Concatenate: {name: cat, inputs: [ma, d]}\n"
    "  - Concatenate: {name: tcat, axis: 1, inputs: [mb, c]}\n"
    "  - Maximum: {name: max, inputs: [a, b]}\n"
    "  - Dot: {name: dot, axes: 2, inputs: [ma, mb]}\n"
    "outputs: [add, cat, tcat, max, dot]\n"
    "compile: {loss: mse}\n";

static const struct node *node_named(const struct model *m, const char *name)
{
    for (size_t i = 0; i < m->n_nodes; i++)
        if (!strcmp(m->nodes[i].layer->name, name))
            return &m->nodes[i];
    ck_abort_msg("no node %s", name);
    return NULL;
}

START_TEST(test_merge_masks)
{
    struct net n;
    load_at(&n, merge_yaml, 2);
    /* Zero steps (masked): a: sample 0 step 1, sample 1 step 3; b: sample 0
     * steps 1 and 2. */
    static const unsigned char ka[8] = {1, 0, 1, 1, 1, 1, 1, 0};
    static const unsigned char kb[8] = {1, 0, 0, 1, 1, 1, 1, 1};
    for (size_t i = 0; i < 8; i++) {
        if (!ka[i])
            memset(n.m.inputs[0]->y + i * 2, 0, 2 * sizeof(float));
        if (!kb[i])
            memset(n.m.inputs[1]->y + i * 2, 0, 2 * sizeof(float));
    }
    forward(&n);
    const unsigned char *add = node_named(&n.m, "add")->mask,
                        *cat = node_named(&n.m, "cat")->mask,
                        *tcat = node_named(&n.m, "tcat")->mask;
    ck_assert(add && cat && tcat);
    for (size_t i = 0; i < 8; i++) {
        ck_assert_msg(add[i] == (ka[i] && kb[i]), "add mask %zu", i);
        ck_assert_msg(cat[i] == ka[i], "cat mask %zu", i);
    }
    for (size_t b = 0; b < 2; b++)
        for (size_t t = 0; t < 7; t++)
            ck_assert_msg(tcat[b * 7 + t] == (t < 4 ? kb[b * 4 + t] : 1), "tcat mask %zu %zu", b,
                          t);
    /* No masked input, no mask; Dot drops it. */
    ck_assert(node_named(&n.m, "max")->mask == NULL);
    ck_assert(node_named(&n.m, "dot")->mask == NULL);
    /* The loss of a masked merge output skips its masked steps. */
    size_t rpm;
    ck_assert(model_output_mask_at(&n.m, 0, &rpm) == add);
    net_free(&n);
}
END_TEST

/* Two recurrent branches over one masked sequence, concatenated, read by
 * a third recurrent layer that must skip the masked steps: gradients. */
START_TEST(test_merge_mask_gradients)
{
    static const char *const yaml =
        "inputs:\n  - Input: {name: x, shape: [5, 3]}\n"
        "layers:\n"
        "  - Masking: {name: m, inputs: x}\n"
        "  - LSTM: {name: l1, units: 3, return_sequences: true, inputs: m}\n"
        "  - GRU: {name: l2, units: 2, return_sequences: true, inputs: m}\n"
        "  - Concatenate: {name: cat, inputs: [l1, l2]}\n"
        "  - SimpleRNN: {name: r, units: 2}\n"
        "compile: {loss: mse}\n";
    struct net n;
    load_at(&n, yaml, 3);
    mask_steps(&n);
    forward(&n);
    const unsigned char *cat = node_named(&n.m, "cat")->mask;
    ck_assert(cat && cat[1] == 0 && cat[5] == 0 && cat[9] == 0 && cat[13] == 0 && cat[0] == 1);
    net_gradcheck(&n, "masked merge of recurrent branches");
    net_free(&n);
}
END_TEST

/* ---- the masked loss and metrics ----------------------------------------------------- */

/* mse of one row of K values. */
static double row_mse(const float *p, const float *t, size_t K)
{
    double s = 0;
    for (size_t k = 0; k < K; k++)
        s += ((double)p[k] - t[k]) * ((double)p[k] - t[k]);
    return s / (double)K;
}

/* The rule of tf-keras's losses_utils.apply_valid_mask under fit:
 * sum(w * mask * loss) / sum(mask), computed here from the outputs. */
START_TEST(test_masked_loss_value)
{
    struct net n;
    load_at(&n, chain_yaml, 3);
    mask_steps(&n);
    forward(&n);
    const float w[3] = {2.0f, 0.5f, 0.0f};
    const float *y = n.m.output->y;
    double plain = 0, weighted = 0;
    size_t kept = 0;
    const unsigned char *mask = n.m.nodes[1].mask;
    for (size_t r = 0; r < 15; r++) {
        if (!mask[r])
            continue;
        double l = row_mse(y + r * 2, n.t + r * 2, 2);
        plain += l;
        weighted += w[r / 5] * l;
        kept++;
    }
    ck_assert_uint_eq(kept, 11);
    close_to(model_loss(&n.m, 3, n.t, NULL, false, NULL), plain / 11, 1e-6, "masked mse");
    close_to(model_loss(&n.m, 3, n.t, w, false, NULL), weighted / 11, 1e-6, "masked weighted mse");
    /* Unmasked, the mean is over all 15 rows. */
    double all = 0;
    for (size_t r = 0; r < 15; r++)
        all += row_mse(y + r * 2, n.t + r * 2, 2);
    close_to(loss_compute(&n.m.compile.out[0].loss, y, n.t, 15, 2, NULL), all / 15, 1e-6, "unmasked");
    net_free(&n);
}
END_TEST

struct masked_ctx {
    const struct loss *l;
    const float *yt, *w;
    const unsigned char *mask;
    size_t rows, K, rpw, rpm;
};

static double masked_fn(void *ctx, const float *x)
{
    const struct masked_ctx *c = ctx;
    return loss_compute_masked(c->l, x, c->yt, c->rows, c->K, c->w, c->rpw, c->mask, c->rpm,
                               NULL);
}

/* Several rows per mask entry (an output (steps, H, K)) and per weight; the
 * gradient against finite differences; an all-masked batch gives 0. */
START_TEST(test_loss_compute_masked)
{
    struct loss l;
    loss_init(&l, LOSS_CATEGORICAL_CE);
    enum { R = 8, K = 3 };
    float p[R * K], t[R * K] = {0}, dy[R * K];
    gc_fill_uniform(p, R * K, 0.1f, 0.9f, 3);
    for (size_t r = 0; r < R; r++)
        t[r * K + r % K] = 1;
    const unsigned char mask[4] = {1, 0, 1, 1}; /* 2 rows each */
    const float w[2] = {3.0f, 0.25f};           /* 4 rows each */
    double want = 0;
    for (size_t r = 0; r < R; r++)
        if (mask[r / 2])
            want += w[r / 4] * loss_compute(&l, p + r * K, t + r * K, 1, K, NULL);
    want /= 6;
    double got = loss_compute_masked(&l, p, t, R, K, w, 4, mask, 2, dy);
    close_to(got, want, 1e-6, "categorical_crossentropy, masked and weighted");
    for (size_t k = 0; k < K; k++)
        ck_assert(dy[2 * K + k] == 0 && dy[3 * K + k] == 0);
    struct masked_ctx c = {&l, t, w, mask, R, K, 4, 2};
    char report[256];
    ck_assert_msg(gradcheck(masked_fn, &c, p, R * K, dy, GC_EPS, GC_ATOL, GC_RTOL, report,
                            sizeof report) == 0,
                  "%s", report);
    const unsigned char none[4] = {0};
    close_to(loss_compute_masked(&l, p, t, R, K, NULL, 1, none, 2, dy), 0, 0, "all masked");
    for (size_t i = 0; i < R * K; i++)
        ck_assert(dy[i] == 0);
    /* No mask: loss_compute_weighted. */
    close_to(loss_compute_masked(&l, p, t, R, K, w, 4, NULL, 1, NULL),
             loss_compute_weighted(&l, p, t, R, K, w, 4, NULL), 1e-12, "no mask");
}
END_TEST

/* evaluate over 3 samples in batches of 2: the loss is the batch-size
 * weighted mean of the batches' masked losses (Keras's loss tracker), a
 * compile metric (mae) the mean over every kept row of the epoch. */
START_TEST(test_masked_evaluate)
{
    struct net n;
    load_at(&n, chain_yaml, 3);
    mask_steps(&n);
    size_t nx = model_input_size(&n.m), ny = model_target_size(&n.m);
    struct dataset ds = {.source = "test", .n = 3, .n_x = nx, .n_y = ny};
    ds.x = malloc(3 * nx * sizeof *ds.x);
    ds.y = malloc(3 * ny * sizeof *ds.y);
    ck_assert(ds.x && ds.y);
    memcpy(ds.x, model_input(&n.m), 3 * nx * sizeof *ds.x);
    memcpy(ds.y, n.t, 3 * ny * sizeof *ds.y);
    forward(&n);
    float y[30];
    unsigned char mask[15];
    memcpy(y, n.m.output->y, sizeof y);
    memcpy(mask, n.m.nodes[1].mask, sizeof mask);
    /* Independent: per batch, then per epoch. */
    double batch_loss[2] = {0}, mae = 0;
    size_t batch_kept[2] = {0}, kept = 0;
    for (size_t r = 0; r < 15; r++) {
        if (!mask[r])
            continue;
        size_t b = r / 10; /* rows 0-9: batch 0 (samples 0, 1) */
        batch_loss[b] += row_mse(y + r * 2, ds.y + r * 2, 2);
        batch_kept[b]++;
        mae += (fabs(y[r * 2] - ds.y[r * 2]) + fabs(y[r * 2 + 1] - ds.y[r * 2 + 1])) / 2;
        kept++;
    }
    double want_loss = (2 * batch_loss[0] / (double)batch_kept[0] +
                        1 * batch_loss[1] / (double)batch_kept[1]) / 3;
    double values[2];
    train_evaluate(&n.m, &ds, 2, 0, values);
    close_to(values[0], want_loss, 1e-6, "evaluate loss");
    close_to(values[1], mae / (double)kept, 1e-6, "evaluate mae");
    free(ds.x);
    free(ds.y);
    net_free(&n);
}
END_TEST

/* ---- GlobalAveragePooling1D over a mask --------------------------------------------- */

static const char *gap_yaml = "layers:\n"
                              "  - Embedding: {input_dim: 6, output_dim: 3, input_length: 5, "
                              "mask_zero: true}\n"
                              "  - GlobalAveragePooling1D\n"
                              "  - Dense: {units: 2, activation: tanh}\n"
                              "compile: {loss: mse}\n";

START_TEST(test_gap1d_masked)
{
    struct net n;
    load_at(&n, gap_yaml, 3);
    const struct param *p = &n.m.nodes[1].layer->params[0];
    for (size_t i = 0; i < 18; i++)
        n.m.w[p->offset + i] = (float)(i * i % 7) - 2;
    const float x[15] = {1, 0, 2, 0, 0, 5, 5, 5, 4, 3, 0, 0, 0, 0, 0};
    memcpy(model_input(&n.m), x, sizeof x);
    forward(&n);
    const float *E = n.m.w + p->offset, *y = n.m.nodes[2].y;
    for (size_t k = 0; k < 3; k++) {
        close_to(y[k], (E[3 + k] + E[6 + k]) / 2, 1e-6, "sample 0: the mean of its 2 tokens");
        close_to(y[3 + k], (3 * E[15 + k] + E[12 + k] + E[9 + k]) / 5, 1e-6, "sample 1");
        ck_assert(y[6 + k] == 0); /* every step masked */
    }
    ck_assert(n.m.nodes[2].mask == NULL); /* compute_mask returns None */
    net_free(&n);
    embedding_gradcheck(gap_yaml, 6, "Embedding (mask_zero) -> GlobalAveragePooling1D");
}
END_TEST

/* ---- BatchNormalization over a mask --------------------------------------------------- */

/* In training, the batch statistics are the mean and biased variance of
 * the unmasked steps (tf-keras batch_normalization.py: weighted_moments, the mask
 * as frequency weights); they normalize every step and feed the moving
 * statistics. */
START_TEST(test_batch_norm_masked)
{
    struct net n;
    load_at(&n,
            "layers:\n"
            "  - Masking: {input_shape: [5, 3]}\n"
            "  - BatchNormalization\n"
            "compile: {loss: mse}\n",
            3);
    mask_steps(&n);
    const struct layer *bn = n.m.nodes[2].layer;
    const float *gamma = n.m.w + bn->params[0].offset, *beta = n.m.w + bn->params[1].offset;
    float mm0[3], mv0[3];
    memcpy(mm0, n.m.w + bn->params[2].offset, sizeof mm0);
    memcpy(mv0, n.m.w + bn->params[3].offset, sizeof mv0);
    struct rng r;
    rng_seed(&r, 1);
    model_forward(&n.m, 3, true, &r);
    const float *x = model_input(&n.m), *y = n.m.output->y;
    const unsigned char *mask = n.m.nodes[1].mask;
    for (size_t f = 0; f < 3; f++) {
        double s = 0, q = 0, W = 0;
        for (size_t st = 0; st < 15; st++)
            if (mask[st]) {
                s += x[st * 3 + f];
                W++;
            }
        double mean = s / W;
        for (size_t st = 0; st < 15; st++)
            if (mask[st])
                q += (x[st * 3 + f] - mean) * (x[st * 3 + f] - mean);
        double var = q / W;
        for (size_t st = 0; st < 15; st++) {
            double in = mask[st] ? x[st * 3 + f] : 0.0; /* Masking zeroed the rest */
            close_to(y[st * 3 + f], (in - mean) / sqrt(var + 1e-3) * gamma[f] + beta[f], 1e-5,
                     "normalized with the unmasked steps' statistics");
        }
        close_to(n.m.w[bn->params[2].offset + f], mm0[f] - (mm0[f] - mean) * 0.01, 1e-6,
                 "moving_mean");
        close_to(n.m.w[bn->params[3].offset + f], mv0[f] - (mv0[f] - var) * 0.01, 1e-6,
                 "moving_variance");
    }
    net_free(&n);

    /* Gradients in training, with a Dense before (its weights check BN's dx). */
    load_at(&n,
            "layers:\n"
            "  - Masking: {input_shape: [5, 3]}\n"
            "  - Dense: {units: 4, use_bias: false}\n" /* BN cancels a bias */
            "  - BatchNormalization\n"
            "  - Dense: {units: 2, activation: tanh}\n"
            "compile: {loss: mse}\n",
            3);
    mask_steps(&n);
    n.training = true;
    net_gradcheck(&n, "Masking -> Dense -> BatchNormalization (training) -> Dense");
    net_free(&n);
    /* The masked steps' inputs depend on weights here (embedding row 0):
     * their gradient comes only through the statistics, which they are
     * not part of, so it is 0. */
    load_at(&n,
            "layers:\n"
            "  - Embedding: {input_dim: 5, output_dim: 3, input_length: 6, mask_zero: true}\n"
            "  - BatchNormalization\n"
            "  - Dense: {units: 2, activation: tanh}\n"
            "compile: {loss: mse}\n",
            3);
    int_inputs(&n, 5, 2);
    n.training = true;
    net_gradcheck(&n, "Embedding (mask_zero) -> BatchNormalization (training) -> Dense");
    net_free(&n);
}
END_TEST

/* ---- indices in the data ----------------------------------------------------------- */

START_TEST(test_check_input)
{
    struct net n;
    net_load(&n, "layers:\n"
                 "  - Input: {shape: [3]}\n"
                 "  - Embedding: {input_dim: 10, output_dim: 2}\n"
                 "compile: {loss: mse}\n");
    size_t s = 99, v = 99;
    char why[200];
    const float ok[6] = {0, 9, 3, 1, 2, 8};
    ck_assert_int_eq(model_check_input(&n.m, ok, 2, &s, &v, why, sizeof why), 0);
    static const struct {
        float bad;
        const char *why;
    } cases[] = {
        {10, "embedding 'embedding': index 10 is not below input_dim 10"},
        {-1, "embedding 'embedding': index -1 is negative"},
        {2.5f, "embedding 'embedding': index 2.5 is not an integer"},
        {NAN, "embedding 'embedding': index nan is not an integer"},
        {16777215, "embedding 'embedding': index 16777215 is not below input_dim 10"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        float x[6] = {1, 2, 3, 4, cases[i].bad, 6};
        ck_assert_int_eq(model_check_input(&n.m, x, 2, &s, &v, why, sizeof why), -1);
        ck_assert_uint_eq(s, 1);
        ck_assert_uint_eq(v, 1);
        ck_assert_str_eq(why, cases[i].why);
    }
    /* The located message: file, line of the sample, column of the value. */
    struct diag d = {{0}};
    float x[6] = {1, 2, 3, 4, 12, 6};
    const size_t cols[3] = {4, 2, 0};
    ck_assert_int_eq(dataset_check_input(&n.m, "data.csv", 2, NULL, x, 2, cols, &d), -1);
    ck_assert_str_eq(d.msg, "data.csv:3:3: embedding 'embedding': index 12 is not below "
                            "input_dim 10");
    net_free(&n);
    /* An Embedding that does not read the data is not checked. */
    net_load(&n, "layers:\n"
                 "  - Dense: {units: 3, input_shape: [3]}\n"
                 "  - Embedding: {input_dim: 10, output_dim: 2}\n"
                 "compile: {loss: mse}\n");
    float y[3] = {-5, 0.5f, 100};
    ck_assert_int_eq(model_check_input(&n.m, y, 1, &s, &v, why, sizeof why), 0);
    net_free(&n);
}
END_TEST

/* ---- serialization ---------------------------------------------------------------- */

/* The config of a one-layer model's layer (node 1, after the Input). */
static char *layer_json(const char *yaml) { return yaml_layer_json(yaml, 1, true); }

/* Keras's get_config keys in order (keras/layers/core/embedding.py,
 * masking.py). */
START_TEST(test_serialization)
{
    char *t = layer_json("layers:\n"
                         "  - Embedding: {input_dim: 1000, output_dim: 64, input_length: 10}\n"
                         "compile: {loss: mse}\n");
    const char *want =
        "\"batch_input_shape\": [null, 10], \"dtype\": \"float32\", \"input_dim\": 1000, "
        "\"output_dim\": 64, \"embeddings_initializer\": {\"class_name\": \"RandomUniform\", "
        "\"config\": {\"minval\": -0.05, \"maxval\": 0.05, \"seed\": null}}, "
        "\"embeddings_regularizer\": null, \"activity_regularizer\": null, "
        "\"embeddings_constraint\": null, \"mask_zero\": false, \"input_length\": 10}}";
    ck_assert_msg(strstr(t, want) != NULL, "got  %s\nwant ...%s", t, want);
    free(t);
    t = layer_json("layers:\n"
                   "  - Embedding: {input_dim: 5, output_dim: 2, input_shape: [3], "
                   "mask_zero: true}\n"
                   "compile: {loss: mse}\n");
    ck_assert_msg(strstr(t, "\"mask_zero\": true, \"input_length\": null}}") != NULL, "%s", t);
    free(t);
    t = layer_json("layers:\n"
                   "  - Masking: {input_shape: [3, 2]}\n"
                   "compile: {loss: mse}\n");
    ck_assert_msg(strstr(t, "\"dtype\": \"float32\", \"mask_value\": 0.0}}") != NULL, "%s", t);
    free(t);
}
END_TEST

static Suite *masking_suite(void)
{
    Suite *s = suite_create("masking");
    TCase *tc = tcase_create("embedding");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_embedding_shapes);
    tcase_add_test(tc, test_embedding_nd);
    tcase_add_test(tc, test_embedding_forward);
    tcase_add_test(tc, test_embedding_backward);
    tcase_add_test(tc, test_embedding_gradients);
    tcase_add_test(tc, test_embedding_frozen);
    tcase_add_test(tc, test_check_input);
    tcase_add_test(tc, test_serialization);
    suite_add_tcase(s, tc);

    tc = tcase_create("masks");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_masking_forward_backward);
    tcase_add_test(tc, test_masked_chain_gradients);
    tcase_add_test(tc, test_masking_contracts);
    tcase_add_test(tc, test_mask_propagation);
    tcase_add_test(tc, test_masked_loss_value);
    tcase_add_test(tc, test_loss_compute_masked);
    tcase_add_test(tc, test_masked_evaluate);
    tcase_add_test(tc, test_gap1d_masked);
    tcase_add_test(tc, test_batch_norm_masked);
    tcase_add_test(tc, test_merge_masks);
    tcase_add_test(tc, test_merge_mask_gradients);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(masking_suite());
}
