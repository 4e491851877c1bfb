/* Whole-model fixtures for the layer tests (see netcheck.h). Models are
 * built from YAML text through load_model_text (fixtures.c). */
#include "netcheck.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../src/layer.h"
#include "../src/loss.h"
#include "../src/rng.h"
#include "fixtures.h"
#include "gradcheck.h"

/* Where some activation's derivative jumps: relu/leaky_relu/selu/relu6/elu
 * at 0, hard_sigmoid at +-2.5, relu6 at 6. */
static const double kinks[] = {0, 2.5, -2.5, 6};

/* ---- fixtures -------------------------------------------------------------- */

void net_load(struct net *n, const char *yaml)
{
    memset(n, 0, sizeof *n);
    struct diag d = {{0}};
    int rc = load_model_text(yaml, &n->m, &n->mf, &d);
    ck_assert_msg(rc == 0, "%s\n%s", d.msg, yaml);
    ck_assert(n->m.compile.given);
}

void net_free(struct net *n)
{
    free(n->t);
    model_free(&n->m);
    model_file_close(&n->mf);
}

size_t net_rows(const struct net *n)
{
    return n->B * (model_output_size(&n->m) / model_output_last_dim(&n->m));
}

double forward_loss(struct net *n)
{
    struct rng r;
    rng_seed(&r, n->drop_seed);
    model_forward(&n->m, n->B, n->training, &r);
    /* model_loss: the output's time-step mask, if any, as training has it. */
    return model_loss(&n->m, n->B, n->t, NULL, false, NULL) + model_penalty(&n->m, n->B);
}

/* f(w) for gradcheck: w is n->m.w itself, perturbed in place. */
double net_loss(void *ctx, const float *w)
{
    (void)w;
    return forward_loss(ctx);
}

/* Output k's targets: rows of the loss's target form. */
static void fill_output_targets(struct net *n, size_t k, float *t, struct rng *r)
{
    size_t K = model_output_last_dim_at(&n->m, k);
    size_t rows = n->B * (model_output_size_at(&n->m, k) / K);
    for (size_t i = 0; i < rows; i++) {
        switch (n->m.compile.out[k].loss.kind) {
        default: /* regression losses */
            for (size_t j = 0; j < K; j++)
                t[i * K + j] = (float)(2 * rng_uniform(r) - 1);
            break;
        case LOSS_BINARY_CE:
            for (size_t j = 0; j < K; j++)
                t[i * K + j] = (float)rng_below(r, 2);
            break;
        case LOSS_CATEGORICAL_CE:
        case LOSS_CATEGORICAL_HINGE:
        case LOSS_KLD:
            t[i * K + rng_below(r, K)] = 1;
            break;
        case LOSS_SPARSE_CE:
            t[i] = (float)rng_below(r, K);
            break;
        }
    }
}

/* Every output's targets, output after output (model_target_block). */
void fill_targets(struct net *n, unsigned seed)
{
    free(n->t);
    n->t = calloc(n->B * model_targets_size(&n->m) + 1, sizeof *n->t);
    ck_assert_ptr_nonnull(n->t);
    struct rng r;
    rng_seed(&r, seed);
    for (size_t k = 0; k < n->m.n_outputs; k++)
        fill_output_targets(n, k, (float *)model_target_block(&n->m, n->B, n->t, k), &r);
}

/* Weights from the model's initializers plus a small uniform jitter (so
 * zero-initialized biases are not zero), inputs uniform in [lo, hi). */
void net_setup(struct net *n, unsigned seed, float lo, float hi)
{
    struct rng r;
    rng_seed(&r, seed);
    model_init_weights(&n->m, &r);
    for (size_t i = 0; i < n->m.n_weights; i++)
        n->m.w[i] += (float)(0.2 * rng_uniform(&r) - 0.1);
    for (size_t k = 0; k < n->m.n_inputs; k++)
        gc_fill_uniform(n->m.inputs[k]->y, n->B * shape_size(&n->m.inputs[k]->out), lo, hi,
                        seed + 1000 + (unsigned)k);
    fill_targets(n, seed + 2000);
    n->drop_seed = 7919u * seed + 1;
}

double dist_to_kinks(const float *v, size_t count)
{
    double best = INFINITY;
    for (size_t i = 0; i < count; i++)
        for (size_t k = 0; k < sizeof kinks / sizeof kinks[0]; k++)
            best = fmin(best, fabs((double)v[i] - kinks[k]));
    return best;
}

/* After a forward pass: how close any pre-activation (Dense's cached z,
 * Activation's input) is to a kink, and for mae how close an output is to
 * its target. */
double net_margin(struct net *n)
{
    const struct layer_ops *dense = layer_find("Dense"), *act = layer_find("Activation");
    double best = INFINITY;
    for (size_t i = 1; i < n->m.n_nodes; i++) {
        const struct node *nd = &n->m.nodes[i];
        if (nd->layer->ops == dense && nd->cache_floats)
            best = fmin(best, dist_to_kinks(nd->cache, n->B * nd->cache_floats));
        if (nd->layer->ops == act)
            best = fmin(best, dist_to_kinks(nd->in[0]->y, n->B * shape_size(&nd->in[0]->out)));
    }
    if (n->m.compile.out[0].loss.kind == LOSS_MAE) {
        size_t count = n->B * model_output_size(&n->m);
        for (size_t i = 0; i < count; i++)
            best = fmin(best, fabs((double)n->m.output->y[i] - n->t[i]));
    }
    if (n->margin)
        best = fmin(best, n->margin(n));
    return best;
}

/* Tries seeds until every pre-activation keeps `margin` from a kink. */
void net_prepare_margin(struct net *n, size_t B, bool training, float lo, float hi,
                               double margin)
{
    n->B = B;
    n->training = training;
    model_workspace(&n->m, B);
    for (unsigned seed = 1; seed <= MAX_SEEDS; seed++) {
        net_setup(n, seed, lo, hi);
        forward_loss(n);
        if (net_margin(n) >= margin)
            return;
    }
    ck_abort_msg("no seed keeps the pre-activations %g away from the kinks", margin);
}

void net_prepare(struct net *n, size_t B, bool training, float lo, float hi)
{
    net_prepare_margin(n, B, training, lo, hi, KINK_MARGIN);
}

/* ---- gradient checks ------------------------------------------------------- */

/* Forward + model_backward, then every trainable weight block against
 * central differences. Frozen layers must get no gradient at all. */
void net_gradcheck(struct net *n, const char *what)
{
    struct rng r;
    rng_seed(&r, n->drop_seed);
    model_forward(&n->m, n->B, n->training, &r);
    double loss = model_backward(&n->m, n->B, n->t);
    ck_assert_msg(isfinite(loss), "%s: loss %g", what, loss);
    /* The replayed forward pass gives the same loss (fixed dropout mask). */
    ck_assert_msg(fabs(forward_loss(n) - loss) <= 1e-6 * (1 + fabs(loss)), "%s: loss %.9g vs %.9g",
                  what, forward_loss(n), loss);

    size_t nw = n->m.n_weights;
    float *g = malloc(nw * sizeof *g);
    ck_assert_ptr_nonnull(g);
    memcpy(g, n->m.dw, nw * sizeof *g);
    size_t checked = 0;
    for (size_t li = 0; li < n->m.n_layers; li++) {
        const struct layer *l = &n->m.layers[li];
        for (size_t p = 0; p < l->n_params; p++) {
            const struct param *pa = &l->params[p];
            size_t size = shape_size(&pa->shape);
            double gmax = 0;
            for (size_t i = 0; i < size; i++)
                gmax = fmax(gmax, fabs(g[pa->offset + i]));
            if (!l->trainable || !pa->trainable) {
                ck_assert_msg(gmax == 0, "%s: frozen %s/%s got a gradient", what, l->name,
                              pa->name);
                continue;
            }
            /* Not vacuous: a dead layer would pass any check. */
            ck_assert_msg(gmax > 1e-3, "%s: %s/%s gradient is ~0 (%g)", what, l->name, pa->name,
                          gmax);
            char report[256];
            int rc = gradcheck(net_loss, n, n->m.w + pa->offset, size, g + pa->offset, GC_EPS,
                               GC_ATOL * fmax(1, gmax), GC_RTOL, report, sizeof report);
            ck_assert_msg(rc == 0, "%s: %s/%s: %s", what, l->name, pa->name, report);
            checked++;
        }
    }
    ck_assert_uint_gt(checked, 0);
    free(g);
}

void check_model_margin(const char *yaml, size_t B, bool training, double (*margin)(struct net *),
                        const char *what)
{
    struct net n;
    net_load(&n, yaml);
    n.margin = margin;
    net_prepare(&n, B, training, -2, 2);
    net_gradcheck(&n, what);
    net_free(&n);
}

void check_model(const char *yaml, size_t B, bool training, const char *what)
{
    check_model_margin(yaml, B, training, NULL, what);
}

/* Dense with every activation, after a linear Dense (which checks its dx). */
/* ---- contract: backward accumulates ---------------------------------------- */

/* One node's backward on a fresh forward pass (Dense turns its cache into
 * dz in place, so every backward needs its own forward). */
void node_backward(struct net *n, size_t i, const float *dy, float *dx, float *dw)
{
    node_backward_at(n, i, 0, dy, dx, dw);
}

void node_backward_at(struct net *n, size_t i, size_t k, const float *dy, float *dx, float *dw)
{
    struct rng r;
    rng_seed(&r, n->drop_seed);
    model_forward(&n->m, n->B, n->training, &r);
    struct node *nd = &n->m.nodes[i];
    const float *xs[NODE_MAX_INPUTS];
    float *dxs[NODE_MAX_INPUTS] = {NULL};
    for (size_t j = 0; j < nd->n_in; j++)
        xs[j] = nd->in[j]->y;
    dxs[k] = dx;
    /* A multi-output layer's other tensors keep what their nodes hold. */
    float *more_y[LAYER_MAX_OUTPUTS - 1];
    const float *more_dy[LAYER_MAX_OUTPUTS - 1];
    for (size_t j = 0; j < nd->n_more; j++) {
        more_y[j] = nd->more[j]->y;
        more_dy[j] = nd->more[j]->dy;
    }
    struct layer_call c = {
        .B = n->B, .x = xs, .y = nd->y, .cache = nd->cache, .dy = dy, .dx = dxs,
        .w = n->m.w, .dw = dw, .training = true, .rng = NULL,
        .more_y = nd->n_more ? more_y : NULL, .more_dy = nd->n_more ? more_dy : NULL,
    };
    nd->layer->ops->backward(nd->layer, &c);
}

float *filled(size_t count, float v)
{
    float *p = malloc((count ? count : 1) * sizeof *p);
    ck_assert_ptr_nonnull(p);
    for (size_t i = 0; i < count; i++)
        p[i] = v;
    return p;
}

void expect_added(const float *after, const float *fresh, size_t count, const char *what,
                         const char *which)
{
    for (size_t i = 0; i < count; i++)
        ck_assert_msg(fabsf((after[i] - 1.0f) - fresh[i]) <= 1e-5f * (1 + fabsf(fresh[i])),
                      "%s: %s[%zu]: %.8g after 1.0, %.8g from 0", what, which, i, after[i],
                      fresh[i]);
}

/* Node i's backward with dx for its input k. */
static void check_accumulates_at(struct net *n, size_t i, size_t k, const char *what)
{
    const struct node *nd = &n->m.nodes[i];
    size_t nw = n->m.n_weights;
    size_t n_in = n->B * shape_size(&nd->in[k]->out), n_out = n->B * shape_size(&nd->out);
    float *dy = filled(n_out, 0), *dy_copy = filled(n_out, 0);
    gc_fill_uniform(dy, n_out, -1, 1, 77 + (unsigned)i);
    memcpy(dy_copy, dy, n_out * sizeof *dy);
    float *dx0 = filled(n_in, 0), *dx1 = filled(n_in, 1);
    float *dw0 = filled(nw, 0), *dw1 = filled(nw, 1), *dw2 = filled(nw, 0);
    node_backward_at(n, i, k, dy, dx0, dw0);
    node_backward_at(n, i, k, dy, dx1, dw1);
    node_backward_at(n, i, k, dy, NULL, dw2); /* no dx wanted: weights still get theirs */
    expect_added(dx1, dx0, n_in, what, "dx");
    expect_added(dw1, dw0, nw, what, "dw");
    for (size_t j = 0; j < nw; j++)
        ck_assert_msg(dw2[j] == dw0[j], "%s: dw[%zu] differs without dx", what, j);
    /* dy is read-only and the gradient is not vacuous. */
    ck_assert_msg(memcmp(dy, dy_copy, n_out * sizeof *dy) == 0, "%s: node %zu wrote dy", what, i);
    double dxmax = 0;
    for (size_t j = 0; j < n_in; j++)
        dxmax = fmax(dxmax, fabs(dx0[j]));
    ck_assert_msg(dxmax > 1e-3, "%s: node %zu: dx[%zu] is ~0", what, i, k);
    free(dy), free(dy_copy), free(dx0), free(dx1), free(dw0), free(dw1), free(dw2);
}

void check_accumulates(const char *yaml, bool training, const char *what)
{
    struct net n;
    net_load(&n, yaml);
    net_prepare_margin(&n, 3, training, -2, 2, 0); /* no differences taken: kinks are fine */
    for (size_t i = 0; i < n.m.n_nodes; i++)
        for (size_t k = 0; k < n.m.nodes[i].n_in; k++) /* none for a model input */
            check_accumulates_at(&n, i, k, what);
    net_free(&n);
}

/* ---- contract: a batch of B equals B batches of 1 --------------------------- */

void check_batch_equals_singles(const char *yaml, const char *what)
{
    check_batch_equals_singles_margin(yaml, 5, KINK_MARGIN, what);
}

void check_batch_equals_singles_margin(const char *yaml, size_t B, double margin, const char *what)
{
    struct net n;
    net_load(&n, yaml);
    net_prepare_margin(&n, B, false, -2, 2, margin);
    size_t in = 0, out = model_output_size(&n.m), nw = n.m.n_weights;
    size_t tw = model_targets_size(&n.m);
    /* Sample s's targets: each output's, output after output (the layout
     * of a batch of 1). */
    float *ts = filled(B * tw, 0);
    for (size_t s = 0, at = 0; s < B; s++)
        for (size_t k = 0; k < n.m.n_outputs; k++) {
            size_t size = model_target_size_at(&n.m, k);
            memcpy(ts + at, model_target_block(&n.m, B, n.t, k) + s * size, size * sizeof *ts);
            at += size;
        }
    for (size_t k = 0; k < n.m.n_inputs; k++)
        in += shape_size(&n.m.inputs[k]->out);
    float *x = filled(B * in, 0), *yb = filled(B * out, 0), *dwb = filled(nw, 0);
    double *dws = calloc(nw, sizeof *dws);
    ck_assert_ptr_nonnull(dws);
    /* x holds each input's B samples, input after input. */
    for (size_t k = 0, at = 0; k < n.m.n_inputs; k++) {
        size_t size = B * shape_size(&n.m.inputs[k]->out);
        memcpy(x + at, n.m.inputs[k]->y, size * sizeof *x);
        at += size;
    }

    forward_loss(&n);
    double loss_b = model_backward(&n.m, B, n.t);
    memcpy(yb, n.m.output->y, B * out * sizeof *yb);
    memcpy(dwb, n.m.dw, nw * sizeof *dwb);

    double loss_s = 0;
    for (size_t s = 0; s < B; s++) {
        for (size_t k = 0, at = 0; k < n.m.n_inputs; k++) {
            size_t size = shape_size(&n.m.inputs[k]->out);
            memcpy(n.m.inputs[k]->y, x + at + s * size, size * sizeof *x);
            at += B * size;
        }
        model_forward(&n.m, 1, false, NULL);
        for (size_t k = 0; k < out; k++)
            ck_assert_msg(fabsf(n.m.output->y[k] - yb[s * out + k]) <= 1e-6f,
                          "%s: sample %zu output %zu: %.9g alone, %.9g in the batch", what, s, k,
                          n.m.output->y[k], yb[s * out + k]);
        loss_s += model_backward(&n.m, 1, ts + s * tw);
        for (size_t k = 0; k < nw; k++)
            dws[k] += n.m.dw[k];
    }
    /* The batch loss is the mean over samples, so its gradient is the mean. */
    ck_assert_msg(fabs(loss_b - loss_s / B) <= 1e-6 * (1 + fabs(loss_b)), "%s: loss %.9g vs %.9g",
                  what, loss_b, loss_s / B);
    for (size_t k = 0; k < nw; k++)
        ck_assert_msg(fabs(dwb[k] - dws[k] / B) <= 1e-6 + 1e-5 * fabs(dwb[k]),
                      "%s: dw[%zu]: %.9g in the batch, %.9g from singles", what, k, dwb[k],
                      dws[k] / B);
    free(x), free(yb), free(dwb), free(dws), free(ts);
    net_free(&n);
}

/* ---- contract: shape inference matches what forward writes ----------------- */

/* A NaN whose bits forward/backward would not produce by accident, one per
 * node and view, so that a copy of a neighbour's poison is caught too. */
enum view { VIEW_Y, VIEW_DY, VIEW_CACHE };

static float sentinel(size_t node, enum view v)
{
    uint32_t bits = 0x7fc0d000u | (uint32_t)(node & 0xff) << 2 | (uint32_t)v;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static void fill_sentinel(float *p, size_t count, float s)
{
    for (size_t i = 0; i < count; i++)
        p[i] = s;
}

/* p[0, used) holds finite values and p[used, total) is untouched. */
static void expect_written(const float *p, size_t used, size_t total, float s, const char *what,
                           const char *layer, const char *which)
{
    for (size_t i = 0; i < used; i++)
        ck_assert_msg(isfinite(p[i]), "%s: %s %s[%zu] = %g not written", what, layer, which, i,
                      p[i]);
    for (size_t i = used; i < total; i++)
        ck_assert_msg(memcmp(&p[i], &s, sizeof s) == 0, "%s: %s wrote %s[%zu] past the batch",
                      what, layer, which, i);
}

/* Forward and backward on B < max_batch samples with every workspace view
 * poisoned: exactly B * (declared size) floats of y, dy and cache are written.
 * Caches are scratch (Activation's is only written in backward, Dropout's
 * only in training), so they are checked only for staying within B. */
void check_writes(struct net *n, bool training, const char *what)
{
    enum { MAXB = 4, B = 3 };
    model_workspace(&n->m, MAXB);
    n->B = B;
    n->training = training;
    for (size_t i = 0; i < n->m.n_nodes; i++) {
        struct node *nd = &n->m.nodes[i];
        fill_sentinel(nd->y, MAXB * shape_size(&nd->out), sentinel(i, VIEW_Y));
        if (nd->dy)
            fill_sentinel(nd->dy, MAXB * shape_size(&nd->out), sentinel(i, VIEW_DY));
        if (nd->cache)
            fill_sentinel(nd->cache, MAXB * nd->cache_floats, sentinel(i, VIEW_CACHE));
    }
    /* The tensors after the first of multi-output layers (numbered after
     * the nodes for their sentinels). */
    for (size_t i = 0; i < n->m.n_more; i++) {
        struct node *t = &n->m.more[i];
        fill_sentinel(t->y, MAXB * shape_size(&t->out), sentinel(n->m.n_nodes + i, VIEW_Y));
        fill_sentinel(t->dy, MAXB * shape_size(&t->out), sentinel(n->m.n_nodes + i, VIEW_DY));
    }
    struct rng r;
    rng_seed(&r, 3);
    model_init_weights(&n->m, &r);
    for (size_t k = 0; k < n->m.n_inputs; k++)
        gc_fill_uniform(n->m.inputs[k]->y, B * shape_size(&n->m.inputs[k]->out), -1, 1,
                        5 + (unsigned)k);
    fill_targets(n, 9);
    double loss = forward_loss(n);
    for (size_t i = 0; i < n->m.n_nodes; i++) {
        const struct node *nd = &n->m.nodes[i];
        size_t size = shape_size(&nd->out);
        expect_written(nd->y, B * size, MAXB * size, sentinel(i, VIEW_Y), what, nd->layer->name,
                       "y");
        if (nd->cache)
            expect_written(nd->cache + B * nd->cache_floats, 0, (MAXB - B) * nd->cache_floats,
                           sentinel(i, VIEW_CACHE), what, nd->layer->name, "cache");
    }
    for (size_t i = 0; i < n->m.n_more; i++) {
        const struct node *t = &n->m.more[i];
        size_t size = shape_size(&t->out);
        expect_written(t->y, B * size, MAXB * size, sentinel(n->m.n_nodes + i, VIEW_Y), what,
                       t->layer->name, "more y");
    }
    ck_assert_msg(isfinite(loss), "%s: loss %g", what, loss);
    model_backward(&n->m, B, n->t);
    for (size_t i = 0; i < n->m.n_more; i++) {
        const struct node *t = &n->m.more[i];
        size_t size = shape_size(&t->out);
        expect_written(t->dy, B * size, MAXB * size, sentinel(n->m.n_nodes + i, VIEW_DY), what,
                       t->layer->name, "more dy");
    }
    for (size_t i = 0; i < n->m.n_nodes; i++) {
        const struct node *nd = &n->m.nodes[i];
        if (nd->n_in == 0)
            continue; /* a model input has no dy */
        size_t size = shape_size(&nd->out);
        /* Nodes with nothing trainable at or before them get no gradient
         * at all: their dy stays untouched. */
        bool wanted = nd->needs_grad || nd->is_output;
        expect_written(nd->dy, wanted ? B * size : 0, MAXB * size, sentinel(i, VIEW_DY), what,
                       nd->layer->name, "dy");
        if (nd->cache)
            expect_written(nd->cache + B * nd->cache_floats, 0, (MAXB - B) * nd->cache_floats,
                           sentinel(i, VIEW_CACHE), what, nd->layer->name, "cache");
    }
    for (size_t k = 0; k < n->m.n_weights; k++)
        ck_assert_msg(isfinite(n->m.dw[k]), "%s: dw[%zu] = %g", what, k, n->m.dw[k]);
}

/* The seed cases: Dense(4) on each input shape, then Dense(10, softmax);
 * the shapes and counts Keras's model.summary() prints. */

void check_contracts(const char *yaml, bool training, const char *what)
{
    check_accumulates(yaml, training, what);
    check_batch_equals_singles(yaml, what);
    struct net n;
    net_load(&n, yaml);
    check_writes(&n, training, what);
    net_free(&n);
}
