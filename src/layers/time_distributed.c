/* TimeDistributed(layer): the same inner layer applied to every time step
 * (keras/layers/rnn/time_distributed.py, tf.keras 2.x, its reshape path):
 *   x (B, T, ...in)  ->  inner on (B*T, ...in)  ->  y (B, T, ...out)
 * A sample's steps are contiguous, so x and y already are the inner's
 * B*T-sample batches: one inner call, no copies (Dense inside stays one
 * sgemm). The weights are the inner layer's under its own names
 * ("time_distributed/kernel", as Keras and TensorFlow.js name them). The
 * cache is the inner's, T of its samples per sample. The input's mask
 * passes through (Keras's compute_mask gives it back for built-in layers);
 * the inner layer sees none. */
#include <stddef.h>

#include "layers.h"

struct time_distributed_conf {
    struct layer *layer;
    /* Set by build: the inner layer's activity penalty scaled by 1 / T
     * (Keras applies it inside, per inner sample: sum / (B*T)). */
    struct regularizer activity;
};

static const struct arg_def time_distributed_args[] = {
    {"layer", ARG_LAYER, offsetof(struct time_distributed_conf, layer), ARG_REQUIRED, NULL, NULL},
};

static size_t steps(const struct layer *l) { return l->in_shape.dim[0]; }

static int time_distributed_build(struct layer *l, const struct shape *in, size_t n_in,
                                  struct shape *out, struct diag *d)
{
    struct time_distributed_conf *c = l->conf;
    char buf[96];
    if (in[0].rank < 2)
        return spec_error(l->where, d,
                          "TimeDistributed expects input of rank >= 3 (batch, time, ...), found %s",
                          shape_format(&in[0], buf, sizeof buf));
    /* The wrapper has one output tensor; so must the layer it applies. */
    if (layer_n_outputs(c->layer) > 1)
        return spec_error(c->layer->where, d, "TimeDistributed takes a layer with one output; "
                          "'%s' has %zu (return_state)", c->layer->name,
                          layer_n_outputs(c->layer));
    struct shape step = {in[0].rank - 1, {0}}, inner_out;
    for (int i = 1; i < in[0].rank; i++)
        step.dim[i - 1] = in[0].dim[i];
    if (layer_build_nested(l, c->layer, &step, &inner_out, "", NULL, 0, d) < 0)
        return -1;
    if (inner_out.rank + 1 > SHAPE_MAX_RANK)
        return spec_error(l->where, d, "TimeDistributed output has more than %d dimensions",
                          SHAPE_MAX_RANK);
    out->rank = inner_out.rank + 1;
    out->dim[0] = in[0].dim[0];
    for (int i = 0; i < inner_out.rank; i++)
        out->dim[i + 1] = inner_out.dim[i];
    const struct regularizer *act = layer_activity_regularizer(c->layer);
    c->activity = (struct regularizer){0};
    if (act) {
        c->activity = *act;
        c->activity.l1 /= (double)in[0].dim[0];
        c->activity.l2 /= (double)in[0].dim[0];
    }
    return 0;
}

static size_t time_distributed_cache(const struct layer *l, const struct shape *in,
                                     const struct shape *out)
{
    const struct layer *inner = ((const struct time_distributed_conf *)l->conf)->layer;
    if (!inner->ops->cache_floats)
        return 0;
    return in[0].dim[0] * inner->ops->cache_floats(inner, &inner->in_shape, &inner->out_shape);
}

static struct layer_call inner_call(const struct layer *l, const struct layer_call *c)
{
    struct layer_call in = layer_nested_call(l, c, c->B * steps(l));
    in.mask = NULL;
    return in;
}

static void time_distributed_forward(const struct layer *l, const struct layer_call *c)
{
    const struct layer *inner = ((const struct time_distributed_conf *)l->conf)->layer;
    struct layer_call in = inner_call(l, c);
    inner->ops->forward(inner, &in);
}

static void time_distributed_backward(const struct layer *l, const struct layer_call *c)
{
    const struct layer *inner = ((const struct time_distributed_conf *)l->conf)->layer;
    struct layer_call in = inner_call(l, c);
    inner->ops->backward(inner, &in);
}

static const struct regularizer *time_distributed_activity(const struct layer *l)
{
    const struct time_distributed_conf *c = l->conf;
    return c->activity.set ? &c->activity : NULL;
}

static enum mask_mode time_distributed_mask_mode(const struct layer *l) { return MASK_KEEP; }

static size_t time_distributed_state(const struct layer *l)
{
    const struct layer *inner = ((const struct time_distributed_conf *)l->conf)->layer;
    return inner->ops->state_floats ? steps(l) * inner->ops->state_floats(inner) : 0;
}

const struct layer_ops time_distributed_ops = {
    .class_name = "TimeDistributed",
    .base_name = "time_distributed",
    .args = time_distributed_args,
    .n_args = sizeof time_distributed_args / sizeof time_distributed_args[0],
    .conf_size = sizeof(struct time_distributed_conf),
    .build = time_distributed_build,
    .cache_floats = time_distributed_cache,
    .forward = time_distributed_forward,
    .backward = time_distributed_backward,
    .activity = time_distributed_activity,
    .mask_mode = time_distributed_mask_mode,
    .state_floats = time_distributed_state,
};
