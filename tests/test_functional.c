/* Functional models: whole-graph gradient checks (fan-out, shared layers,
 * every merge layer, several inputs), the merge layers' forward values
 * against loops written here, the rule that a shared layer's gradient is
 * the sum over its calls, the layer contracts on multi-input nodes, graph
 * order (Keras's model.layers) and located graph errors. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../src/checkpoint.h"
#include "../src/layer.h"
#include "../src/model.h"
#include "../src/rng.h"
#include "../src/train.h"
#include "fixtures.h"
#include "gradcheck.h"
#include "netcheck.h"

/* ---- gradient checks of whole graphs ----------------------------------------- */

/* Maximum/Minimum switch inputs where two are equal: keep the merged
 * inputs apart. */
static double merge_margin(struct net *n)
{
    double best = INFINITY;
    for (size_t i = 0; i < n->m.n_nodes; i++) {
        const struct node *nd = &n->m.nodes[i];
        const char *cls = nd->layer->ops->class_name;
        if (strcmp(cls, "Maximum") && strcmp(cls, "Minimum"))
            continue;
        size_t size = n->B * shape_size(&nd->out);
        for (size_t j = 0; j < size; j++)
            for (size_t a = 0; a < nd->n_in; a++)
                for (size_t b = 0; b < a; b++)
                    best = fmin(best, fabs(nd->in[a]->y[j] - nd->in[b]->y[j]));
    }
    return best;
}

static const char *const graphs[] = {
    /* 0: fan-out and Concatenate */
    "inputs:\n  - Input: {name: x, shape: [3]}\n"
    "layers:\n"
    "  - Dense: {name: a, units: 4, activation: tanh, inputs: x}\n"
    "  - Dense: {name: b, units: 2, activation: sigmoid, inputs: x}\n"
    "  - Concatenate: {inputs: [a, b]}\n"
    "  - Dense: {units: 2}\n"
    "compile: {loss: mse}\n",
    /* 1-6: each element-wise merge of two branches */
    "inputs:\n  - Input: {name: x, shape: [3]}\n"
    "layers:\n"
    "  - Dense: {name: a, units: 4, activation: tanh, inputs: x}\n"
    "  - Dense: {name: b, units: 4, inputs: x}\n"
    "  - Add: {inputs: [a, b]}\n"
    "  - Dense: {units: 2}\n"
    "compile: {loss: mse}\n",
    "inputs:\n  - Input: {name: x, shape: [3]}\n"
    "layers:\n"
    "  - Dense: {name: a, units: 4, activation: tanh, inputs: x}\n"
    "  - Dense: {name: b, units: 4, inputs: x}\n"
    "  - Subtract: {inputs: [a, b]}\n"
    "  - Dense: {units: 2}\n"
    "compile: {loss: mse}\n",
    "inputs:\n  - Input: {name: x, shape: [3]}\n"
    "layers:\n"
    "  - Dense: {name: a, units: 4, activation: tanh, inputs: x}\n"
    "  - Dense: {name: b, units: 4, inputs: x}\n"
    "  - Dense: {name: c, units: 4, activation: sigmoid, inputs: x}\n"
    "  - Multiply: {inputs: [a, b, c]}\n"
    "  - Dense: {units: 2}\n"
    "compile: {loss: mse}\n",
    "inputs:\n  - Input: {name: x, shape: [3]}\n"
    "layers:\n"
    "  - Dense: {name: a, units: 4, activation: tanh, inputs: x}\n"
    "  - Dense: {name: b, units: 4, inputs: x}\n"
    "  - Dense: {name: c, units: 4, inputs: x}\n"
    "  - Average: {inputs: [a, b, c]}\n"
    "  - Dense: {units: 2}\n"
    "compile: {loss: mse}\n",
    "inputs:\n  - Input: {name: x, shape: [3]}\n"
    "layers:\n"
    "  - Dense: {name: a, units: 4, activation: tanh, inputs: x}\n"
    "  - Dense: {name: b, units: 4, inputs: x}\n"
    "  - Dense: {name: c, units: 4, inputs: x}\n"
    "  - Maximum: {inputs: [a, b, c]}\n"
    "  - Dense: {units: 2}\n"
    "compile: {loss: mse}\n",
    "inputs:\n  - Input: {name: x, shape: [3]}\n"
    "layers:\n"
    "  - Dense: {name: a, units: 4, activation: tanh, inputs: x}\n"
    "  - Dense: {name: b, units: 4, inputs: x}\n"
    "  - Minimum: {inputs: [a, b]}\n"
    "  - Dense: {units: 2}\n"
    "compile: {loss: mse}\n",
    /* 7: broadcasting across inputs of different ranks: (3, 4) + (4,),
     * (3, 4) * (3, 1) */
    "inputs:\n  - Input: {name: x, shape: [3, 2]}\n  - Input: {name: v, shape: [5]}\n"
    "layers:\n"
    "  - Dense: {name: a, units: 4, activation: tanh, inputs: x}\n"
    "  - Dense: {name: b, units: 4, inputs: v}\n"
    "  - Add: {name: s, inputs: [a, b]}\n"
    "  - Dense: {name: g, units: 1, activation: sigmoid, inputs: x}\n"
    "  - Multiply: {inputs: [s, g]}\n"
    "  - Flatten\n"
    "  - Dense: {units: 2}\n"
    "compile: {loss: mse}\n",
    /* 8: Concatenate on a middle axis of rank-2 samples */
    "inputs:\n  - Input: {name: x, shape: [2, 3]}\n  - Input: {name: y, shape: [4, 2]}\n"
    "layers:\n"
    "  - Dense: {name: a, units: 5, activation: tanh, inputs: x}\n"
    "  - Dense: {name: b, units: 5, inputs: y}\n"
    "  - Concatenate: {axis: 1, inputs: [a, b]}\n"
    "  - Flatten\n"
    "  - Dense: {units: 2}\n"
    "compile: {loss: mse}\n",
    /* 9: Dot of two vectors, plain and normalized */
    "inputs:\n  - Input: {name: x, shape: [3]}\n"
    "layers:\n"
    "  - Dense: {name: a, units: 4, activation: tanh, inputs: x}\n"
    "  - Dense: {name: b, units: 4, inputs: x}\n"
    "  - Dot: {name: d1, axes: 1, inputs: [a, b]}\n"
    "  - Dot: {name: d2, axes: -1, normalize: true, inputs: [a, b]}\n"
    "  - Concatenate: {inputs: [d1, d2]}\n"
    "  - Dense: {units: 2}\n"
    "compile: {loss: mse}\n",
    /* 10: Dot of matrices along chosen axes: (3, 4) . (4, 2) on [2, 1]
     * -> (3, 2); (3, 4) . (3, 2) on [1, 1] -> (4, 2), normalized */
    "inputs:\n  - Input: {name: x, shape: [3, 2]}\n  - Input: {name: y, shape: [4, 3]}\n"
    "layers:\n"
    "  - Dense: {name: a, units: 4, activation: tanh, inputs: x}\n"
    "  - Dense: {name: b, units: 2, inputs: y}\n"
    "  - Dot: {name: d1, axes: [2, 1], inputs: [a, b]}\n"
    "  - Dense: {name: c, units: 2, inputs: x}\n"
    "  - Dot: {name: d2, axes: [1, 1], normalize: true, inputs: [a, c]}\n"
    "  - Flatten: {name: f1, inputs: d1}\n"
    "  - Flatten: {name: f2, inputs: d2}\n"
    "  - Concatenate: {inputs: [f1, f2]}\n"
    "  - Dense: {units: 2}\n"
    "compile: {loss: mse}\n",
    /* 11: a shared layer on two inputs (a siamese pair) */
    "inputs:\n  - Input: {name: l, shape: [3]}\n  - Input: {name: r, shape: [3]}\n"
    "layers:\n"
    "  - Dense: {name: f, units: 4, activation: tanh, inputs: l}\n"
    "  - Apply: {layer: f, inputs: r, name: fr}\n"
    "  - Subtract: {inputs: [f, fr]}\n"
    "  - Dense: {units: 2}\n"
    "compile: {loss: mse}\n",
    /* 12: a shared layer applied to its own output, and a node merged
     * with itself */
    "inputs:\n  - Input: {name: x, shape: [4]}\n"
    "layers:\n"
    "  - Dense: {name: f, units: 4, activation: tanh}\n"
    "  - Apply: {layer: f}\n"
    "  - Add: {inputs: [f_again, f_again]}\n"
    "  - Dense: {units: 2}\n"
    "compile: {loss: mse}\n",
    /* 13: two inputs, two outputs with their own losses and weights; the
     * first output also feeds the second, so its dy is its loss's
     * gradient plus what the second passes back */
    "inputs:\n  - Input: {name: x, shape: [3]}\n  - Input: {name: y, shape: [2]}\n"
    "layers:\n"
    "  - Dense: {name: a, units: 4, activation: tanh, inputs: x}\n"
    "  - Dense: {name: o1, units: 2, inputs: a}\n"
    "  - Dense: {name: b, units: 3, activation: sigmoid, inputs: y}\n"
    "  - Concatenate: {name: c, inputs: [o1, b]}\n"
    "  - Dense: {name: o2, units: 3, activation: softmax, inputs: c}\n"
    "outputs: [o1, o2]\n"
    "compile:\n"
    "  loss: {o1: mse, o2: categorical_crossentropy}\n"
    "  loss_weights: {o1: 0.5, o2: 2.0}\n",
    /* 14: three outputs (one per branch), losses as a list, one sparse */
    "inputs:\n  - Input: {name: x, shape: [3]}\n"
    "layers:\n"
    "  - Dense: {name: h, units: 4, activation: tanh}\n"
    "  - Dense: {name: p, units: 3, activation: softmax, inputs: h}\n"
    "  - Dense: {name: q, units: 1, activation: sigmoid, inputs: h}\n"
    "  - Dense: {name: r, units: 2, inputs: x}\n"
    "outputs: [p, q, r]\n"
    "compile: {loss: [sparse_categorical_crossentropy, binary_crossentropy, mae], "
    "loss_weights: [1, 0.25, 3]}\n",
};
#define N_GRAPHS (sizeof graphs / sizeof graphs[0])

static char *with_apply_name(const char *yaml)
{
    /* graph 12 names its Apply by position: give it the name it uses. */
    const char *at = strstr(yaml, "Apply: {layer: f}");
    char *s = malloc(strlen(yaml) + 64);
    ck_assert_ptr_nonnull(s);
    if (!at) {
        strcpy(s, yaml);
        return s;
    }
    size_t k = (size_t)(at - yaml);
    memcpy(s, yaml, k);
    strcpy(s + k, "Apply: {layer: f, name: f_again}");
    strcat(s, at + strlen("Apply: {layer: f}"));
    return s;
}

START_TEST(test_graph_gradients)
{
    char *yaml = with_apply_name(graphs[_i]);
    char what[32];
    snprintf(what, sizeof what, "graph %d", _i);
    check_model_margin(yaml, 3, false, merge_margin, what);
    free(yaml);
}
END_TEST

START_TEST(test_graph_contracts)
{
    char *yaml = with_apply_name(graphs[_i]);
    char what[32];
    snprintf(what, sizeof what, "graph %d", _i);
    check_contracts(yaml, false, what);
    free(yaml);
}
END_TEST

/* A layer called twice gets the sum of both calls' gradients: the shared
 * model's dw equals the sum of two unshared copies' (same weights). */
START_TEST(test_shared_gradient_is_sum)
{
    static const char *const shared =
        "inputs:\n  - Input: {name: l, shape: [3]}\n  - Input: {name: r, shape: [3]}\n"
        "layers:\n"
        "  - Dense: {name: f, units: 4, activation: tanh, inputs: l}\n"
        "  - Apply: {layer: f, inputs: r, name: fr}\n"
        "  - Multiply: {inputs: [f, fr]}\n"
        "  - Dense: {name: out, units: 2}\n"
        "compile: {loss: mse}\n";
    static const char *const copies =
        "inputs:\n  - Input: {name: l, shape: [3]}\n  - Input: {name: r, shape: [3]}\n"
        "layers:\n"
        "  - Dense: {name: f, units: 4, activation: tanh, inputs: l}\n"
        "  - Dense: {name: g, units: 4, activation: tanh, inputs: r}\n"
        "  - Multiply: {inputs: [f, g]}\n"
        "  - Dense: {name: out, units: 2}\n"
        "compile: {loss: mse}\n";
    struct net a, b;
    net_load(&a, shared);
    net_load(&b, copies);
    net_prepare(&a, 4, false, -2, 2);
    model_workspace(&b.m, 4);
    b.B = 4;
    struct rng r;
    rng_seed(&r, 1);
    model_init_weights(&b.m, &r);
    /* b's layers in Keras order: l, r, f, g, multiply, out; a's: l, r, f,
     * multiply, out. Copy f into f and g, out into out. */
    const struct layer *fa = NULL, *oa = NULL, *fb = NULL, *gb = NULL, *ob = NULL;
    for (size_t i = 0; i < a.m.n_layers; i++) {
        if (!strcmp(a.m.layers[i].name, "f"))
            fa = &a.m.layers[i];
        if (!strcmp(a.m.layers[i].name, "out"))
            oa = &a.m.layers[i];
    }
    for (size_t i = 0; i < b.m.n_layers; i++) {
        const struct layer *l = &b.m.layers[i];
        if (!strcmp(l->name, "f"))
            fb = l;
        else if (!strcmp(l->name, "g"))
            gb = l;
        else if (!strcmp(l->name, "out"))
            ob = l;
    }
    ck_assert(fa && oa && fb && gb && ob);
    size_t nf = 3 * 4 + 4, no = 4 * 2 + 2;
    memcpy(b.m.w + fb->params[0].offset, a.m.w + fa->params[0].offset, nf * sizeof(float));
    memcpy(b.m.w + gb->params[0].offset, a.m.w + fa->params[0].offset, nf * sizeof(float));
    memcpy(b.m.w + ob->params[0].offset, a.m.w + oa->params[0].offset, no * sizeof(float));
    for (size_t k = 0; k < 2; k++)
        memcpy(b.m.inputs[k]->y, a.m.inputs[k]->y, 4 * 3 * sizeof(float));
    model_forward(&a.m, 4, false, NULL);
    model_forward(&b.m, 4, false, NULL);
    double la = model_backward(&a.m, 4, a.t), lb = model_backward(&b.m, 4, a.t);
    ck_assert_msg(fabs(la - lb) < 1e-6, "loss %g vs %g", la, lb);
    for (size_t k = 0; k < nf; k++) {
        float sum = b.m.dw[fb->params[0].offset + k] + b.m.dw[gb->params[0].offset + k];
        float got = a.m.dw[fa->params[0].offset + k];
        ck_assert_msg(fabsf(got - sum) <= 1e-6f + 1e-5f * fabsf(sum), "dw[%zu]: %g vs %g", k,
                      got, sum);
    }
    net_free(&a);
    net_free(&b);
}
END_TEST

/* ---- several outputs: compile, names, the loss ------------------------------------- */

static const char *const two_outputs =
    "inputs:\n  - Input: {name: x, shape: [3]}\n"
    "layers:\n"
    "  - Dense: {name: h, units: 4, activation: tanh}\n"
    "  - Dense: {name: out_a, units: 3, activation: softmax, inputs: h}\n"
    "  - Dense: {name: out_b, units: 1, activation: sigmoid, inputs: h}\n"
    "outputs: [out_a, out_b]\n";

/* The forms of compile for several outputs and the names fit reports. */
START_TEST(test_compile_outputs)
{
    static const struct {
        const char *compile, *names;
        enum loss_kind a, b;
        double wa, wb;
    } cases[] = {
        {"{loss: mse, metrics: [mae]}",
         "loss out_a_loss out_b_loss out_a_mae out_b_mae", LOSS_MSE, LOSS_MSE, 1, 1},
        {"{loss: [categorical_crossentropy, binary_crossentropy], loss_weights: [2, 0.5], "
         "metrics: [[accuracy], [accuracy, mse]]}",
         "loss out_a_loss out_b_loss out_a_accuracy out_b_accuracy out_b_mse",
         LOSS_CATEGORICAL_CE, LOSS_BINARY_CE, 2, 0.5},
        {"{loss: {out_b: binary_crossentropy, out_a: {categorical_crossentropy: "
         "{label_smoothing: 0.1}}}, loss_weights: {out_b: 3}, metrics: {out_b: auc}}",
         "loss out_a_loss out_b_loss out_b_auc", LOSS_CATEGORICAL_CE, LOSS_BINARY_CE, 1, 3},
        {"{loss: {huber: {delta: 2}}}", "loss out_a_loss out_b_loss", LOSS_HUBER, LOSS_HUBER,
         1, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char yaml[1024];
        snprintf(yaml, sizeof yaml, "%scompile: %s\n", two_outputs, cases[i].compile);
        struct net n;
        struct diag d;
        memset(&n, 0, sizeof n);
        int rc = load_model_text(yaml, &n.m, &n.mf, &d);
        ck_assert_msg(rc == 0, "case %zu: %s", i, d.msg);
        const struct output_compile *a = &n.m.compile.out[0], *b = &n.m.compile.out[1];
        ck_assert_int_eq(a->loss.kind, cases[i].a);
        ck_assert_int_eq(b->loss.kind, cases[i].b);
        ck_assert(a->loss_weight == cases[i].wa && b->loss_weight == cases[i].wb);
        const char *names[MODEL_MAX_VALUES];
        char storage[MODEL_MAX_VALUES][80], got[512] = "";
        size_t nv = train_value_names(&n.m, names, "", storage);
        ck_assert_uint_eq(nv, train_n_values(&n.m));
        for (size_t k = 0; k < nv; k++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s", k ? " " : "", names[k]);
        ck_assert_msg(!strcmp(got, cases[i].names), "case %zu: %s, want %s", i, got,
                      cases[i].names);
        net_free(&n);
    }
    /* A single output keeps Keras's plain names, val_ prefixed. */
    struct net n;
    net_load(&n, "layers:\n  - Dense: {units: 2, activation: softmax, input_dim: 3}\n"
                 "compile: {loss: {dense: sparse_categorical_crossentropy}, metrics: [acc]}\n");
    const char *names[MODEL_MAX_VALUES];
    char storage[MODEL_MAX_VALUES][80];
    ck_assert_uint_eq(train_value_names(&n.m, names, "val_", storage), 2);
    ck_assert_str_eq(names[0], "val_loss");
    ck_assert_str_eq(names[1], "val_acc");
    net_free(&n);
}
END_TEST

START_TEST(test_compile_output_errors)
{
    static const struct {
        const char *compile, *want;
    } cases[] = {
        {"{loss: [mse]}", "loss: 1 entries for 2 outputs"},
        {"{loss: {out_a: mse, out_c: mse}}",
         "loss: the model has no output 'out_c' (did you mean 'out_a'?)"},
        {"{loss: {out_a: mse}}", "loss: no loss for output 'out_b' (nnc trains every output)"},
        {"{loss: mse, loss_weights: {out_b: -1}}", "loss_weights: -1 is not a weight >= 0"},
        {"{loss: mse, loss_weights: 2}",
         "loss_weights: a list in output order or a map by output name"},
        {"{loss: mse, metrics: {out_x: mae}}",
         "metrics: the model has no output 'out_x' (did you mean 'out_a'?)"},
        {"{loss: mse, metrics: [[mae]]}", "metrics: 1 entries for 2 outputs"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char yaml[1024];
        snprintf(yaml, sizeof yaml, "%scompile: %s\n", two_outputs, cases[i].compile);
        struct net n;
        struct diag d;
        memset(&n, 0, sizeof n);
        int rc = load_model_text(yaml, &n.m, &n.mf, &d);
        ck_assert_msg(rc < 0, "case %zu loaded", i);
        const char *msg = strchr(d.msg, ' '); /* after "file:line:col:" */
        ck_assert_msg(msg && !strcmp(msg + 1, cases[i].want), "case %zu: %s\nwant: %s", i,
                      d.msg, cases[i].want);
    }
}
END_TEST

/* The loss is the sum of each output's loss times its weight; each
 * output's value is its loss function on its own targets. */
START_TEST(test_loss_sum)
{
    struct net n;
    char yaml[1024];
    snprintf(yaml, sizeof yaml, "%scompile: {loss: [categorical_crossentropy, mse], "
             "loss_weights: [0.3, 4]}\n", two_outputs);
    net_load(&n, yaml);
    net_prepare(&n, 5, false, -2, 2);
    double per[MODEL_MAX_IO];
    double total = model_loss(&n.m, 5, n.t, NULL, false, per);
    double a = loss_compute(&n.m.compile.out[0].loss, n.m.outputs[0]->y, n.t, 5, 3, NULL);
    double b = loss_compute(&n.m.compile.out[1].loss, n.m.outputs[1]->y, n.t + 5 * 3, 5, 1, NULL);
    ck_assert(fabs(per[0] - a) < 1e-9 && fabs(per[1] - b) < 1e-9);
    ck_assert_msg(fabs(total - (0.3 * a + 4 * b)) < 1e-9, "%g vs %g", total, 0.3 * a + 4 * b);
    double loss = model_backward_outputs(&n.m, 5, n.t, NULL, per);
    ck_assert(fabs(loss - total - model_penalty(&n.m, 5)) < 1e-9);
    net_free(&n);
}
END_TEST

/* ---- forward values against loops written here ----------------------------------- */

/* A model whose output is one merge of its inputs (shapes a, b[, c]). */
static void merge_model(struct net *n, const char *merge, const char *const *shapes, size_t k,
                        size_t B)
{
    char yaml[1024];
    size_t len = (size_t)snprintf(yaml, sizeof yaml, "inputs:\n");
    for (size_t i = 0; i < k; i++)
        len += (size_t)snprintf(yaml + len, sizeof yaml - len,
                                "  - Input: {name: i%zu, shape: %s}\n", i, shapes[i]);
    len += (size_t)snprintf(yaml + len, sizeof yaml - len, "layers:\n  - %s\ncompile: {loss: mse}\n",
                            merge);
    net_load(n, yaml);
    n->B = B;
    model_workspace(&n->m, B);
    for (size_t i = 0; i < k; i++)
        gc_fill_uniform(n->m.inputs[i]->y, B * shape_size(&n->m.inputs[i]->out), -2, 2,
                        11 + (unsigned)i);
    model_forward(&n->m, B, false, NULL);
}

START_TEST(test_elementwise_values)
{
    static const char *const merges[] = {
        "Add: {inputs: [i0, i1, i2]}",     "Subtract: {inputs: [i0, i1]}",
        "Multiply: {inputs: [i0, i1, i2]}", "Average: {inputs: [i0, i1, i2]}",
        "Maximum: {inputs: [i0, i1, i2]}",  "Minimum: {inputs: [i0, i1, i2]}",
    };
    /* Shapes broadcast to (2, 3, 4): (2, 3, 4), (3, 1), (4,). */
    static const char *const shapes[] = {"[2, 3, 4]", "[3, 1]", "[4]"};
    enum { B = 2 };
    for (int op = 0; op < 6; op++) {
        struct net n;
        size_t k = op == 1 ? 2 : 3;
        merge_model(&n, merges[op], shapes, k, B);
        const float *x0 = n.m.inputs[0]->y, *x1 = n.m.inputs[1]->y, *x2 = n.m.inputs[2 % k]->y;
        ck_assert_uint_eq(shape_size(&n.m.output->out), 24);
        for (size_t b = 0; b < B; b++)
            for (size_t i = 0; i < 2; i++)
                for (size_t j = 0; j < 3; j++)
                    for (size_t l = 0; l < 4; l++) {
                        float a = x0[b * 24 + (i * 3 + j) * 4 + l], c = x1[b * 3 + j];
                        float e = k == 3 ? x2[b * 4 + l] : 0, want;
                        switch (op) {
                        case 0: want = a + c + e; break;
                        case 1: want = a - c; break;
                        case 2: want = a * c * e; break;
                        case 3: want = (a + c + e) / 3; break;
                        case 4: want = fmaxf(a, fmaxf(c, e)); break;
                        default: want = fminf(a, fminf(c, e)); break;
                        }
                        float got = n.m.output->y[b * 24 + (i * 3 + j) * 4 + l];
                        ck_assert_msg(fabsf(got - want) <= 1e-6f * (1 + fabsf(want)),
                                      "%s at %zu,%zu,%zu,%zu: %g, want %g", merges[op], b, i, j,
                                      l, got, want);
                    }
        net_free(&n);
    }
}
END_TEST

START_TEST(test_concatenate_values)
{
    /* (2, 3) and (2, 1) on axis -1 -> (2, 4); (2, 3) and (1, 3) on axis 1
     * -> (3, 3). */
    static const char *const last[] = {"[2, 3]", "[2, 1]"}, *const mid[] = {"[2, 3]", "[1, 3]"};
    enum { B = 3 };
    struct net n;
    merge_model(&n, "Concatenate: {inputs: [i0, i1]}", last, 2, B);
    const float *a = n.m.inputs[0]->y, *c = n.m.inputs[1]->y, *y = n.m.output->y;
    for (size_t b = 0; b < B; b++)
        for (size_t i = 0; i < 2; i++)
            for (size_t j = 0; j < 4; j++)
                ck_assert(y[b * 8 + i * 4 + j] == (j < 3 ? a[b * 6 + i * 3 + j] : c[b * 2 + i]));
    net_free(&n);
    merge_model(&n, "Concatenate: {axis: 1, inputs: [i0, i1]}", mid, 2, B);
    a = n.m.inputs[0]->y, c = n.m.inputs[1]->y, y = n.m.output->y;
    for (size_t b = 0; b < B; b++)
        for (size_t i = 0; i < 3; i++)
            for (size_t j = 0; j < 3; j++)
                ck_assert(y[b * 9 + i * 3 + j] == (i < 2 ? a[b * 6 + i * 3 + j] : c[b * 3 + j]));
    net_free(&n);
}
END_TEST

START_TEST(test_dot_values)
{
    /* Dot([x, y], axes=[1, 2]) on x (3, 2), y (4, 3): out[q, r] = sum_k
     * x[k, q] y[r, k] -> (2, 4); normalize divides each vector first. */
    static const char *const shapes[] = {"[3, 2]", "[4, 3]"};
    enum { B = 2 };
    for (int norm = 0; norm < 2; norm++) {
        struct net n;
        merge_model(&n, norm ? "Dot: {axes: [1, 2], normalize: true, inputs: [i0, i1]}"
                             : "Dot: {axes: [1, 2], inputs: [i0, i1]}",
                    shapes, 2, B);
        ck_assert_int_eq(n.m.output->out.rank, 2);
        ck_assert_uint_eq(n.m.output->out.dim[0], 2);
        ck_assert_uint_eq(n.m.output->out.dim[1], 4);
        const float *x = n.m.inputs[0]->y, *y = n.m.inputs[1]->y;
        for (size_t b = 0; b < B; b++)
            for (size_t q = 0; q < 2; q++)
                for (size_t r = 0; r < 4; r++) {
                    double s = 0, nx = 0, ny = 0;
                    for (size_t k = 0; k < 3; k++) {
                        double u = x[b * 6 + k * 2 + q], v = y[b * 12 + r * 3 + k];
                        s += u * v;
                        nx += u * u;
                        ny += v * v;
                    }
                    double want = norm ? s / sqrt(nx) / sqrt(ny) : s;
                    float got = n.m.output->y[b * 8 + q * 4 + r];
                    ck_assert_msg(fabs(got - want) <= 1e-5 * (1 + fabs(want)),
                                  "normalize %d: %g, want %g", norm, got, want);
                }
        net_free(&n);
    }
    /* Two vectors: (None, 1) holding their dot product (Keras's example:
     * Dot(axes=1) of Dense outputs). */
    static const char *const vecs[] = {"[5]", "[5]"};
    struct net n;
    merge_model(&n, "Dot: {axes: 1, inputs: [i0, i1]}", vecs, 2, B);
    ck_assert_int_eq(n.m.output->out.rank, 1);
    ck_assert_uint_eq(n.m.output->out.dim[0], 1);
    for (size_t b = 0; b < B; b++) {
        double s = 0;
        for (size_t k = 0; k < 5; k++)
            s += (double)n.m.inputs[0]->y[b * 5 + k] * n.m.inputs[1]->y[b * 5 + k];
        ck_assert(fabs(n.m.output->y[b] - s) <= 1e-5 * (1 + fabs(s)));
    }
    net_free(&n);
}
END_TEST

/* ---- shapes and order ------------------------------------------------------------ */

/* Output shapes Keras computes for merges. */
START_TEST(test_merge_shapes)
{
    static const struct {
        const char *merge, *a, *b, *want;
    } cases[] = {
        {"Add", "[4]", "[4]", "(None, 4)"},
        {"Add", "[3, 1]", "[5]", "(None, 3, 5)"},
        {"Maximum", "[1, 6]", "[2, 1]", "(None, 2, 6)"},
        {"Concatenate", "[3, 4]", "[3, 2]", "(None, 3, 6)"},
        {"Concatenate: {axis: 1}", "[3, 4]", "[2, 4]", "(None, 5, 4)"},
        {"Concatenate: {axis: -2}", "[3, 4]", "[2, 4]", "(None, 5, 4)"},
        {"Dot: {axes: 1}", "[4]", "[4]", "(None, 1)"},
        {"Dot: {axes: [2, 1]}", "[3, 4]", "[4, 5]", "(None, 3, 5)"},
        {"Dot: {axes: -1}", "[3, 4]", "[5, 4]", "(None, 3, 5)"},
        {"Dot: {axes: [1, 2]}", "[4]", "[3, 4]", "(None, 3)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char yaml[512], merge[128], buf[96];
        const char *m = cases[i].merge;
        if (strchr(m, '{'))
            snprintf(merge, sizeof merge, "%.*s, inputs: [a, b]}", (int)(strlen(m) - 1), m);
        else
            snprintf(merge, sizeof merge, "%s: {inputs: [a, b]}", m);
        snprintf(yaml, sizeof yaml,
                 "inputs:\n  - Input: {name: a, shape: %s}\n  - Input: {name: b, shape: %s}\n"
                 "layers:\n  - %s\ncompile: {loss: mse}\n",
                 cases[i].a, cases[i].b, merge);
        struct net n;
        net_load(&n, yaml);
        shape_format(&n.m.output->out, buf, sizeof buf);
        ck_assert_msg(!strcmp(buf, cases[i].want), "%s on %s, %s: %s, want %s", cases[i].merge,
                      cases[i].a, cases[i].b, buf, cases[i].want);
        net_free(&n);
    }
}
END_TEST

/* model.layers in Keras's order: by depth from the outputs (deepest
 * first), ties in the order a search from the outputs meets the layers; the
 * nodes: inputs first, then a topological order. */
START_TEST(test_layer_order)
{
    static const char *const yaml =
        "inputs:\n  - Input: {name: title, shape: [4]}\n  - Input: {name: body, shape: [4]}\n"
        "  - Input: {name: tags, shape: [3]}\n"
        "layers:\n"
        "  - Dense: {name: e1, units: 4, inputs: title}\n"
        "  - Dense: {name: e2, units: 4, inputs: body}\n"
        "  - Dense: {name: l1, units: 2, inputs: e1}\n"
        "  - Dense: {name: l2, units: 2, inputs: e2}\n"
        "  - Concatenate: {name: cat, inputs: [l1, l2, tags]}\n"
        "  - Dense: {name: priority, units: 1, inputs: cat}\n"
        "  - Dense: {name: department, units: 4, inputs: cat}\n"
        "outputs: [priority, department]\n"
        "compile: {loss: mse}\n";
    /* The Keras guide's multi-input, multi-output model prints this order. */
    static const char *const want[] = {"title", "body", "e1", "e2", "l1", "l2", "tags",
                                       "cat", "priority", "department"};
    struct net n;
    memset(&n, 0, sizeof n);
    struct diag d;
    ck_assert_msg(load_model_text(yaml, &n.m, &n.mf, &d) == 0, "%s", d.msg);
    ck_assert_uint_eq(n.m.n_layers, 10);
    for (size_t i = 0; i < 10; i++)
        ck_assert_msg(!strcmp(n.m.layers[i].name, want[i]), "layer %zu: %s, want %s", i,
                      n.m.layers[i].name, want[i]);
    ck_assert_uint_eq(n.m.n_inputs, 3);
    ck_assert_uint_eq(n.m.n_outputs, 2);
    for (size_t k = 0; k < 3; k++)
        ck_assert_ptr_eq(n.m.inputs[k], &n.m.nodes[k]);
    ck_assert_str_eq(n.m.outputs[1]->layer->name, "department");
    for (size_t i = 0; i < n.m.n_nodes; i++)
        for (size_t k = 0; k < n.m.nodes[i].n_in; k++)
            ck_assert(n.m.nodes[i].in[k] < &n.m.nodes[i]); /* topological */
    model_free(&n.m);
    model_file_close(&n.mf);
}
END_TEST

/* ---- checkpoints: Keras's functional config written and read back ------------- */

static const char *const roundtrip_models[] = {
    "models/functional_mlp.yaml", "models/shared_input_towers.yaml", "models/multi_input_cnn.yaml",
    "models/siamese.yaml",        "models/toy_resnet.yaml",          "models/keras_toy_resnet.json",
    "models/keras3_functional.json",
};

/* A model saved as a checkpoint and loaded back has the same summary, the
 * same weights by name, computes the same outputs, and saves to the same
 * model.json. */
START_TEST(test_checkpoint_roundtrip)
{
    const char *path = roundtrip_models[_i];
    struct model m, r;
    struct model_file mf, rf;
    struct diag d;
    ck_assert_msg(model_load(path, &m, &mf, &d) == 0, "%s", d.msg);
    struct rng rng;
    rng_seed(&rng, 5);
    model_init_weights(&m, &rng);
    char dir[] = "/tmp/nnc_test_func_ckXXXXXX";
    ck_assert(mkdtemp(dir) != NULL);
    char a[64], b[64];
    snprintf(a, sizeof a, "%s/a", dir);
    snprintf(b, sizeof b, "%s/b", dir);
    ck_assert_msg(checkpoint_save(a, &m, NULL, NULL, 0, &d) == 0, "%s", d.msg);
    ck_assert_msg(model_load(a, &r, &rf, &d) == 0, "%s: %s", path, d.msg);
    ck_assert_msg(checkpoint_load_weights(&r, &rf, &d) == 0, "%s", d.msg);
    char *s1 = summary_text(&m), *s2 = summary_text(&r);
    ck_assert_msg(!strcmp(s1, s2), "%s:\n%s\nreloaded:\n%s", path, s1, s2);
    ck_assert_uint_eq(m.n_weights, r.n_weights);
    ck_assert(memcmp(m.w, r.w, m.n_weights * sizeof *m.w) == 0);
    enum { B = 2 };
    model_workspace(&m, B);
    model_workspace(&r, B);
    for (size_t k = 0; k < m.n_inputs; k++) {
        size_t size = B * shape_size(&m.inputs[k]->out);
        gc_fill_uniform(m.inputs[k]->y, size, -1, 1, 3 + (unsigned)k);
        memcpy(r.inputs[k]->y, m.inputs[k]->y, size * sizeof(float));
    }
    model_forward(&m, B, false, NULL);
    model_forward(&r, B, false, NULL);
    for (size_t k = 0; k < m.n_outputs; k++)
        ck_assert(memcmp(m.outputs[k]->y, r.outputs[k]->y,
                         B * shape_size(&m.outputs[k]->out) * sizeof(float)) == 0);
    ck_assert_msg(checkpoint_save(b, &r, NULL, NULL, 0, &d) == 0, "%s", d.msg);
    char ja[80], jb[80];
    snprintf(ja, sizeof ja, "%s/model.json", a);
    snprintf(jb, sizeof jb, "%s/model.json", b);
    char *t1 = file_contents(ja, NULL), *t2 = file_contents(jb, NULL);
    ck_assert_msg(!strcmp(t1, t2), "%s: model.json differs after a round trip", path);
    free(s1), free(s2), free(t1), free(t2);
    ck_assert_int_eq(checkpoint_remove(a), 0);
    ck_assert_int_eq(checkpoint_remove(b), 0);
    ck_assert_int_eq(rmdir(dir), 0);
    model_free(&m);
    model_free(&r);
    model_file_close(&mf);
    model_file_close(&rf);
}
END_TEST

/* ---- errors --------------------------------------------------------------------- */

static const struct {
    const char *yaml, *want;
} errors[] = {
    {"inputs:\n  - Input: {name: a, shape: [4]}\nlayers:\n  - Dense: {units: 3, inputs: b}\n",
     "4:31: unknown layer 'b' (did you mean 'a'?)"},
    {"inputs:\n  - Input: {name: a, shape: [4]}\nlayers:\n"
     "  - Dense: {name: d1, units: 4, inputs: d2}\n  - Dense: {name: d2, units: 4, inputs: d1}\n"
     "  - Dense: {name: out, units: 1, inputs: d2}\n",
     "4:5: layer 'd1' is part of a cycle (its inputs lead back to it)"},
    {"inputs:\n  - Input: {name: a, shape: [4]}\n  - Input: {name: b, shape: [4]}\n"
     "layers:\n  - Dense: {units: 3, inputs: a}\n",
     "3:5: input 'b' is not used by any output"},
    {"inputs:\n  - Input: {name: a, shape: [4]}\nlayers:\n  - Dense: 3\noutputs: [a]\n",
     "5:11: output 'a' is a model input: no layer computes it"},
    {"inputs:\n  - Input: {name: a, shape: [4]}\nlayers:\n  - Dense: {name: a, units: 3}\n",
     "4:5: two layers are named 'a' (layer names must be unique)"},
    {"inputs:\n  - Input: {name: a, shape: [4]}\n  - Input: {name: b, shape: [3]}\n"
     "layers:\n  - Add: {inputs: [a, b]}\n",
     "5:5: Add 'add': inputs have incompatible shapes (None, 4) and (None, 3)"},
    {"inputs:\n  - Input: {name: a, shape: [4]}\nlayers:\n  - Dense: {name: x, units: 3}\n"
     "  - Dense: {name: y, units: 3, inputs: a}\noutputs: x\n",
     "5:5: layer 'y' does not lead to any output"},
    {"inputs:\n  - Input: {name: a, shape: [4]}\n  - Input: {name: b, shape: [5]}\nlayers:\n"
     "  - Dense: {name: x, units: 3, inputs: a}\n  - Apply: {layer: x, inputs: b, name: xb}\n"
     "  - Add: {inputs: [x, xb]}\n",
     "6:5: layer 'x' is called on (None, 5) here but was built for (None, 4) (a shared layer "
     "takes inputs of one shape)"},
    {"inputs:\n  - Input: {name: a, shape: [4]}\nlayers:\n  - Add: {inputs: [a]}\n",
     "4:5: Add 'add' needs a list of at least 2 inputs, found 1"},
    {"inputs:\n  - Input: {name: a, shape: [4]}\nlayers:\n  - Subtract: {inputs: [a, a, a]}\n",
     "4:5: Subtract 'subtract' needs exactly 2 inputs, found 3"},
    {"inputs:\n  - Input: {name: a, shape: [4]}\nlayers:\n"
     "  - Concatenate: {axis: 2, inputs: [a, a]}\n",
     "4:5: Concatenate 'concatenate': axis 2 is out of range for inputs (None, 4)"},
    {"inputs:\n  - Input: {name: a, shape: [4]}\nlayers:\n"
     "  - Concatenate: {axis: 0, inputs: [a, a]}\n",
     "4:5: Concatenate 'concatenate': axis 0 is the batch axis"},
    {"inputs:\n  - Input: {name: a, shape: [4]}\n  - Input: {name: b, shape: [3]}\nlayers:\n"
     "  - Dot: {axes: 1, inputs: [a, b]}\n",
     "5:5: Dot 'dot': inputs (None, 4) and (None, 3) differ on the axes 1 and 1 (4 != 3)"},
    {"inputs:\n  - Input: {name: a, shape: [4]}\nlayers:\n  - Dot: {axes: 0, inputs: [a, a]}\n",
     "4:5: Dot 'dot': axis 0 is the batch axis of input (None, 4)"},
    {"inputs:\n  - Input: {name: a, shape: [4]}\nlayers:\n  - Dot: {axes: [1, 2, 3], inputs: [a, a]}\n",
     "4:5: Dot axes must be an integer or a list of 2 integers"},
    {"inputs:\n  - Input: {name: a, shape: [4]}\n  - Input: {name: b, shape: [4]}\nlayers:\n"
     "  - Dense: 3\n",
     "5:5: the first layer needs 'inputs:' (the model has 2 inputs)"},
    {"inputs:\n  - Input: {name: a, shape: [4]}\nlayers:\n  - Apply: {layer: dense, inputs: a}\n",
     "4:20: unknown layer 'dense'"},
    {"inputs:\n  - Input: {name: a, shape: [4]}\nlayers:\n  - Apply: {layer: a}\n",
     "4:20: 'a' is an Input; Apply calls a layer"},
    {"inputs:\n  - Input: {name: a, shape: [4]}\nlayers:\n  - Dense: {units: 2, input_shape: [4]}\n",
     "4:5: a layer of a functional model takes no input shape: declare the model's inputs under "
     "inputs:"},
    {"inputs:\n  - Dense: 3\nlayers:\n  - Dense: 2\n",
     "2:5: inputs: lists Input layers ('- Input: {name: ..., shape: [...]}'); Dense belongs "
     "under layers:"},
    {"inputs:\n  - Input: {name: a, shape: [4]}\nlayers:\n  - Dense: 2\noutputs: [dense, dense]\n",
     "5:18: output layer 'dense' is listed twice"},
    {"inputs:\n  - Input: {name: a, shape: [4]}\nlayers:\n  - Dense: {units: 2, inputs: []}\n",
     "4:31: inputs: the list is empty"},
    {"inputs:\n  - Input: {name: a, shape: [4]}\nlayers:\n  - Dense: 2\n"
     "  - Apply: {layer: dense, name: dense}\n",
     "5:5: the name 'dense' is taken already"},
};
#define N_ERRORS (sizeof errors / sizeof errors[0])

START_TEST(test_graph_errors)
{
    struct model m;
    struct model_file mf;
    struct diag d;
    int rc = load_model_text(errors[_i].yaml, &m, &mf, &d);
    ck_assert_msg(rc < 0, "case %d loaded", _i);
    const char *msg = strchr(d.msg, ':');
    ck_assert_ptr_nonnull(msg);
    ck_assert_msg(!strcmp(msg + 1, errors[_i].want), "case %d: %s\nwant: %s", _i, msg + 1,
                  errors[_i].want);
}
END_TEST

static Suite *functional_suite(void)
{
    Suite *s = suite_create("functional");
    TCase *tc = tcase_create("gradients");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_graph_gradients, 0, (int)N_GRAPHS);
    tcase_add_loop_test(tc, test_graph_contracts, 0, (int)N_GRAPHS);
    tcase_add_test(tc, test_shared_gradient_is_sum);
    suite_add_tcase(s, tc);

    tc = tcase_create("outputs");
    tcase_add_test(tc, test_compile_outputs);
    tcase_add_test(tc, test_compile_output_errors);
    tcase_add_test(tc, test_loss_sum);
    suite_add_tcase(s, tc);

    tc = tcase_create("values");
    tcase_add_test(tc, test_elementwise_values);
    tcase_add_test(tc, test_concatenate_values);
    tcase_add_test(tc, test_dot_values);
    tcase_add_test(tc, test_merge_shapes);
    tcase_add_test(tc, test_layer_order);
    suite_add_tcase(s, tc);

    tc = tcase_create("checkpoints");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_checkpoint_roundtrip, 0,
                        (int)(sizeof roundtrip_models / sizeof roundtrip_models[0]));
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_loop_test(tc, test_graph_errors, 0, (int)N_ERRORS);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(functional_suite());
}
