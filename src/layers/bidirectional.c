/* Bidirectional(layer, merge_mode, weights, backward_layer): a recurrent
 * layer run forward and a copy of it run backward over the same input, the
 * two outputs merged (keras/layers/rnn/bidirectional.py, tf.keras 2.x).
 *   yf = forward(x)    yb = backward(x)        each (B, T, U) or (B, U)
 *   with return_sequences yb is in processed (reversed) order: flipped
 *   y = concat(yf, yb) (B, ..., 2U) | yf + yb | yf * yb | (yf + yb) / 2
 * The backward layer is backward_layer if given, else a copy of `layer`
 * with go_backwards flipped. Their weights are the wrapper's, forward's
 * then backward's, named "forward_<name>/<weight>" and "backward_<name>/..."
 * as TensorFlow.js scopes them (wrappers.js build). With return_sequences
 * Keras sets zero_output_for_mask, so masked steps output 0; the mask goes
 * to both layers unchanged and is kept on the output. With return_state
 * the final states follow the output, the forward layer's then the
 * backward's. merge_mode None: two outputs, yf and yb (flipped back, as
 * the merge reads it), then the states; the mask is kept on the first.
 *
 * Cache per call: the two inner caches, then yf, yb (kept for backward),
 * then dyf, dyb (backward's scratch), each region B samples long. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "../parallel.h"
#include "layers.h"

#define NAME_SIZE 160

struct bidirectional_conf {
    struct layer *layer;           /* as given; serialized back as "layer" */
    const char *merge_mode;        /* NULL: Keras's None */
    struct layer *backward_layer;  /* as given, or derived from layer by build */
    /* Set by build: */
    char names[LAYER_MAX_PARAMS][NAME_SIZE];
    struct regularizer activity;
};

static const char *const merge_modes[] = {"concat", "sum", "mul", "ave", NULL};

#define OFF(f) offsetof(struct bidirectional_conf, f)
static const struct arg_def bidirectional_args[] = {
    {"layer", ARG_LAYER, OFF(layer), ARG_REQUIRED, NULL, NULL},
    {"merge_mode", ARG_CHOICE, OFF(merge_mode), ARG_NULLABLE, merge_modes, NULL},
    {"weights", ARG_UNSUPPORTED, 0, ARG_UNSAVED, NULL, NULL},
    {"backward_layer", ARG_LAYER, OFF(backward_layer), ARG_NULLABLE, NULL, NULL},
};

static void bidirectional_defaults(void *conf)
{
    ((struct bidirectional_conf *)conf)->merge_mode = merge_modes[0];
}

/* The recurrent flags Keras reads from the wrapped layer. */
static bool flag(const struct layer *l, const char *name)
{
    const bool *b = layer_bool_arg(l, name);
    return b && *b;
}

static int check_recurrent(const struct layer *inner, struct diag *d)
{
    if (!layer_bool_arg(inner, "go_backwards") || !layer_bool_arg(inner, "return_sequences"))
        return spec_error(inner->where, d,
                          "Bidirectional needs a recurrent layer (SimpleRNN, LSTM, GRU), found %s",
                          inner->ops->class_name);
    return 0;
}

static int bidirectional_validate(const struct layer *l, const struct spec_node *where,
                                  struct diag *d)
{
    const struct bidirectional_conf *c = l->conf;
    (void)where;
    if (check_recurrent(c->layer, d) < 0)
        return -1;
    const struct layer *b = c->backward_layer;
    if (!b)
        return 0;
    if (check_recurrent(b, d) < 0)
        return -1;
    /* Bidirectional._verify_layer_config */
    if (flag(b, "go_backwards") == flag(c->layer, "go_backwards"))
        return spec_error(b->where, d,
                          "the forward and backward layers of Bidirectional need different "
                          "go_backwards values");
    static const char *const common[] = {"stateful", "return_sequences", "return_state"};
    for (size_t k = 0; k < sizeof common / sizeof common[0]; k++)
        if (flag(b, common[k]) != flag(c->layer, common[k]))
            return spec_error(b->where, d,
                              "the forward and backward layers of Bidirectional need the same "
                              "%s, found %s and %s",
                              common[k], flag(c->layer, common[k]) ? "true" : "false",
                              flag(b, common[k]) ? "true" : "false");
    return 0;
}

static int bidirectional_build(struct layer *l, const struct shape *in, size_t n_in,
                               struct shape *out, struct diag *d)
{
    struct bidirectional_conf *c = l->conf;
    struct layer *fwd = c->layer;
    if (!c->backward_layer) {
        /* Keras: the layer's config with go_backwards flipped. */
        c->backward_layer = layer_copy(fwd);
        c->backward_layer->derived = true;
        bool *gb = layer_bool_arg(c->backward_layer, "go_backwards");
        *gb = !*gb;
    }
    struct layer *bwd = c->backward_layer;
    char prefix[NAME_SIZE];
    struct shape of, ob;
    snprintf(prefix, sizeof prefix, "forward_%s/", fwd->name);
    if (layer_build_nested(l, fwd, &in[0], &of, prefix, c->names[0], NAME_SIZE, d) < 0)
        return -1;
    snprintf(prefix, sizeof prefix, "backward_%s/", bwd->name);
    if (layer_build_nested(l, bwd, &in[0], &ob, prefix, c->names[0], NAME_SIZE, d) < 0)
        return -1;
    if (!shape_equal(&of, &ob)) {
        char a[96], b[96];
        return spec_error(bwd->where, d,
                          "the backward layer's output %s differs from the forward layer's %s",
                          shape_format(&ob, b, sizeof b), shape_format(&of, a, sizeof a));
    }
    *out = of;
    bool concat = c->merge_mode && !strcmp(c->merge_mode, "concat");
    if (concat)
        out->dim[out->rank - 1] *= 2;
    /* Each inner layer's penalty is on its own output; summed, that is the
     * penalty on the concatenation, and only then. */
    const struct regularizer *af = layer_activity_regularizer(fwd),
                             *ab = layer_activity_regularizer(bwd);
    c->activity = (struct regularizer){0};
    if (af || ab) {
        if (!concat || !af || !ab || af->l1 != ab->l1 || af->l2 != ab->l2)
            return spec_error(l->where, d,
                              "an activity_regularizer inside Bidirectional is supported by nnc "
                              "only with merge_mode concat and the same one on both layers");
        c->activity = *af;
    }
    return 0;
}

/* ---- shapes of a call ------------------------------------------------------- */

struct bi {
    const struct layer *fwd, *bwd;
    size_t T;       /* steps of the inner outputs: T with return_sequences, else 1 */
    size_t U;       /* features per step */
    size_t cf, cb;  /* inner cache floats per sample */
    size_t sf;      /* forward state floats per sample */
    size_t ns;      /* state outputs of each inner layer (return_state), else 0 */
    enum { CONCAT, SUM, MUL, AVE, NONE } mode; /* NONE: yb is a second output */
};

static void bi_get(const struct layer *l, struct bi *s)
{
    const struct bidirectional_conf *c = l->conf;
    s->fwd = c->layer;
    s->bwd = c->backward_layer;
    const struct shape *o = &s->fwd->out_shape;
    s->T = flag(s->fwd, "return_sequences") ? o->dim[0] : 1;
    s->U = shape_size(o) / s->T;
    s->cf = s->fwd->ops->cache_floats
                ? s->fwd->ops->cache_floats(s->fwd, &s->fwd->in_shape, &s->fwd->out_shape)
                : 0;
    s->cb = s->bwd->ops->cache_floats
                ? s->bwd->ops->cache_floats(s->bwd, &s->bwd->in_shape, &s->bwd->out_shape)
                : 0;
    s->sf = s->fwd->ops->state_floats ? s->fwd->ops->state_floats(s->fwd) : 0;
    s->ns = layer_n_outputs(s->fwd) - 1;
    const char *m = c->merge_mode;
    s->mode = !m                     ? NONE
              : !strcmp(m, "concat") ? CONCAT
              : !strcmp(m, "sum")    ? SUM
              : !strcmp(m, "mul")    ? MUL
                                     : AVE;
}

static size_t bidirectional_cache(const struct layer *l, const struct shape *in,
                                  const struct shape *out)
{
    struct bi s;
    bi_get(l, &s);
    return s.cf + s.cb + 4 * s.T * s.U;
}

/* The inner calls of one call c: caches, outputs and gradients in c's cache. */
struct inner {
    struct layer_call f, b;
    float *yf, *yb, *dyf, *dyb;
};

static void inner_calls(const struct layer *l, const struct bi *s, const struct layer_call *c,
                        struct inner *in)
{
    size_t B = c->B, o = s->T * s->U;
    in->yf = c->cache + B * (s->cf + s->cb);
    in->yb = in->yf + B * o;
    in->dyf = in->yb + B * o;
    in->dyb = in->dyf + B * o;
    in->f = layer_nested_call(l, c, B);
    in->f.y = in->yf;
    in->f.dy = in->dyf;
    in->f.cache = c->cache;
    in->b = layer_nested_call(l, c, B);
    in->b.y = in->yb;
    in->b.dy = in->dyb;
    in->b.cache = c->cache + B * s->cf;
    in->b.state = c->state ? c->state + B * s->sf : NULL;
    /* return_state: the forward layer's states, then the backward's (after
     * the backward output without a merge). */
    size_t at = s->mode == NONE ? 1 : 0;
    if (c->more_y) {
        in->f.more_y = c->more_y + at;
        in->b.more_y = c->more_y + at + s->ns;
    }
    if (c->more_dy) {
        in->f.more_dy = c->more_dy + at;
        in->b.more_dy = c->more_dy + at + s->ns;
    }
}

/* ---- merging, per sample ------------------------------------------------------ */

struct merge {
    const struct bi *s;
    const struct layer_call *c;
    const struct inner *in;
};

/* Step t of sample b: its forward output, its (flipped) backward output,
 * and whether Keras zeroes it (a masked step of a returned sequence). */
static const float *step_f(const struct merge *m, const float *yf, size_t b, size_t t)
{
    return yf + (b * m->s->T + t) * m->s->U;
}

static size_t flipped(const struct merge *m, size_t t) { return m->s->T - 1 - t; }

static bool masked(const struct merge *m, size_t b, size_t t)
{
    return m->s->T > 1 && m->c->mask && !m->c->mask[b * m->s->T + t];
}

static void merge_forward(void *ctx, size_t begin, size_t end)
{
    const struct merge *m = ctx;
    const struct bi *s = m->s;
    size_t U = s->U, width = s->mode == CONCAT ? 2 * U : U;
    for (size_t b = begin; b < end; b++)
        for (size_t t = 0; t < s->T; t++) {
            float *y = m->c->y + (b * s->T + t) * width;
            float *y2 = s->mode == NONE ? m->c->more_y[0] + (b * s->T + t) * U : NULL;
            if (masked(m, b, t)) {
                memset(y, 0, width * sizeof *y);
                if (y2)
                    memset(y2, 0, U * sizeof *y2);
                continue;
            }
            const float *f = step_f(m, m->in->yf, b, t), *r = step_f(m, m->in->yb, b, flipped(m, t));
            switch (s->mode) {
            case NONE:
                memcpy(y, f, U * sizeof *y);
                memcpy(y2, r, U * sizeof *y2);
                break;
            case CONCAT:
                memcpy(y, f, U * sizeof *y);
                memcpy(y + U, r, U * sizeof *y);
                break;
            case SUM: for (size_t u = 0; u < U; u++) y[u] = f[u] + r[u]; break;
            case MUL: for (size_t u = 0; u < U; u++) y[u] = f[u] * r[u]; break;
            case AVE: for (size_t u = 0; u < U; u++) y[u] = (f[u] + r[u]) / 2; break;
            }
        }
}

/* dyf and dyb (in processed order) from dy. */
static void merge_backward(void *ctx, size_t begin, size_t end)
{
    const struct merge *m = ctx;
    const struct bi *s = m->s;
    size_t U = s->U, width = s->mode == CONCAT ? 2 * U : U;
    for (size_t b = begin; b < end; b++)
        for (size_t t = 0; t < s->T; t++) {
            const float *dy = m->c->dy + (b * s->T + t) * width;
            const float *dy2 = s->mode == NONE ? m->c->more_dy[0] + (b * s->T + t) * U : NULL;
            float *df = m->in->dyf + (b * s->T + t) * U;
            float *dr = m->in->dyb + (b * s->T + flipped(m, t)) * U;
            if (masked(m, b, t)) {
                memset(df, 0, U * sizeof *df);
                memset(dr, 0, U * sizeof *dr);
                continue;
            }
            const float *f = step_f(m, m->in->yf, b, t), *r = step_f(m, m->in->yb, b, flipped(m, t));
            switch (s->mode) {
            case NONE:
                memcpy(df, dy, U * sizeof *df);
                memcpy(dr, dy2, U * sizeof *dr);
                break;
            case CONCAT:
                memcpy(df, dy, U * sizeof *df);
                memcpy(dr, dy + U, U * sizeof *dr);
                break;
            case SUM:
                memcpy(df, dy, U * sizeof *df);
                memcpy(dr, dy, U * sizeof *dr);
                break;
            case MUL:
                for (size_t u = 0; u < U; u++) {
                    df[u] = dy[u] * r[u];
                    dr[u] = dy[u] * f[u];
                }
                break;
            case AVE:
                for (size_t u = 0; u < U; u++)
                    df[u] = dr[u] = dy[u] / 2;
                break;
            }
        }
}

static void bidirectional_forward(const struct layer *l, const struct layer_call *c)
{
    struct bi s;
    struct inner in;
    bi_get(l, &s);
    inner_calls(l, &s, c, &in);
    s.fwd->ops->forward(s.fwd, &in.f);
    s.bwd->ops->forward(s.bwd, &in.b);
    struct merge m = {&s, c, &in};
    parallel_for_samples(c->B, 2 * s.T * s.U, merge_forward, &m);
}

static void bidirectional_backward(const struct layer *l, const struct layer_call *c)
{
    struct bi s;
    struct inner in;
    bi_get(l, &s);
    inner_calls(l, &s, c, &in);
    struct merge m = {&s, c, &in};
    parallel_for_samples(c->B, 2 * s.T * s.U, merge_backward, &m);
    s.fwd->ops->backward(s.fwd, &in.f);
    s.bwd->ops->backward(s.bwd, &in.b);
}

static const struct regularizer *bidirectional_activity(const struct layer *l)
{
    const struct bidirectional_conf *c = l->conf;
    return c->activity.set ? &c->activity : NULL;
}

/* Bidirectional.compute_mask: the input's mask with return_sequences. */
static enum mask_mode bidirectional_mask_mode(const struct layer *l)
{
    const struct bidirectional_conf *c = l->conf;
    return flag(c->layer, "return_sequences") ? MASK_KEEP : MASK_DROP;
}

static size_t bidirectional_state(const struct layer *l)
{
    const struct bidirectional_conf *c = l->conf;
    const struct layer *f = c->layer, *b = c->backward_layer;
    return (f->ops->state_floats ? f->ops->state_floats(f) : 0) +
           (b->ops->state_floats ? b->ops->state_floats(b) : 0);
}

/* With return_state: [output] + forward states + backward states; with
 * merge_mode None the output is [yf, yb] (Bidirectional.call and
 * compute_output_shape). */
static size_t bidirectional_more_outputs(const struct layer *l, struct shape *shapes)
{
    const struct bidirectional_conf *c = l->conf;
    const struct layer *f = c->layer;
    size_t n = layer_n_outputs(f) - 1, at = c->merge_mode ? 0 : 1;
    if (shapes && at)
        shapes[0] = f->out_shape;
    if (shapes && n) {
        f->ops->more_outputs(f, shapes + at);
        for (size_t k = 0; k < n; k++)
            shapes[at + n + k] = shapes[at + k];
    }
    return at + 2 * n;
}

const struct layer_ops bidirectional_ops = {
    .class_name = "Bidirectional",
    .base_name = "bidirectional",
    .args = bidirectional_args,
    .n_args = sizeof bidirectional_args / sizeof bidirectional_args[0],
    .conf_size = sizeof(struct bidirectional_conf),
    .defaults = bidirectional_defaults,
    .validate = bidirectional_validate,
    .build = bidirectional_build,
    .cache_floats = bidirectional_cache,
    .forward = bidirectional_forward,
    .backward = bidirectional_backward,
    .activity = bidirectional_activity,
    .mask_mode = bidirectional_mask_mode,
    .state_floats = bidirectional_state,
    .more_outputs = bidirectional_more_outputs,
};
