/* Activation: y = f(x), same shape. The cache is scratch for dz, since x
 * belongs to the previous layer and must not be overwritten. */
#include <stddef.h>

#include "layers.h"

struct activation_conf {
    enum act_kind activation;
};

static const struct arg_def activation_args[] = {
    {"activation", ARG_ACTIVATION, offsetof(struct activation_conf, activation), ARG_REQUIRED,
     NULL, NULL},
};

static int activation_build(struct layer *l, const struct shape *in, size_t n_in,
                            struct shape *out, struct diag *d)
{
    *out = in[0];
    return 0;
}

static size_t activation_cache(const struct layer *l, const struct shape *in,
                               const struct shape *out)
{
    return shape_size(out);
}

/* Rows for softmax: the last axis is the one normalised. */
static void rows_cols(const struct layer *l, size_t B, size_t *rows, size_t *cols)
{
    *cols = l->out_shape.dim[l->out_shape.rank - 1];
    *rows = B * (shape_size(&l->out_shape) / *cols);
}

static void activation_forward_(const struct layer *l, const struct layer_call *c)
{
    const struct activation_conf *cf = l->conf;
    size_t rows, cols;
    rows_cols(l, c->B, &rows, &cols);
    activation_forward(cf->activation, c->x[0], c->y, rows, cols);
}

static void activation_backward_(const struct layer *l, const struct layer_call *c)
{
    const struct activation_conf *cf = l->conf;
    if (!c->dx[0])
        return;
    size_t rows, cols;
    rows_cols(l, c->B, &rows, &cols);
    activation_backward(cf->activation, c->x[0], c->y, c->dy, c->cache, rows, cols);
    size_t n = rows * cols;
    for (size_t i = 0; i < n; i++)
        c->dx[0][i] += c->cache[i];
}

const struct layer_ops activation_layer_ops = {
    .class_name = "Activation",
    .base_name = "activation",
    .args = activation_args,
    .n_args = 1,
    .conf_size = sizeof(struct activation_conf),
    .build = activation_build,
    .cache_floats = activation_cache,
    .forward = activation_forward_,
    .backward = activation_backward_,
    .mask_mode = layer_mask_keep, /* supports_masking */
};
