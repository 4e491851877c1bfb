/* GaussianDropout (keras/layers/regularization/gaussian_dropout.py, tf.keras
 * 2.x): for 0 < rate < 1, in training y = x * m with m ~ N(1, rate / (1 -
 * rate)) (stddev sqrt(rate / (1 - rate))) drawn afresh for every value; at
 * inference, or with rate 0, y = x. The cache keeps m for backward (1 when
 * the layer passed x through), so dx = dy * m. The seed argument is not
 * supported (the model's rng decides). */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "layers.h"

struct gaussian_dropout_conf {
    double rate;
};

static const struct arg_def gaussian_dropout_args[] = {
    {"rate", ARG_FLOAT, offsetof(struct gaussian_dropout_conf, rate), ARG_REQUIRED, NULL, NULL},
    {"seed", ARG_UNSUPPORTED, 0, 0, NULL, NULL},
};

/* Keras passes other rates through unchanged; as for Dropout, nnc asks for
 * a drop probability in [0, 1). */
static int gaussian_dropout_validate(const struct layer *l, const struct spec_node *where,
                                     struct diag *d)
{
    const struct gaussian_dropout_conf *c = l->conf;
    if (!(c->rate >= 0 && c->rate < 1))
        return spec_error(where, d, "GaussianDropout rate must be in [0, 1), found %g", c->rate);
    return 0;
}

static int gaussian_dropout_build(struct layer *l, const struct shape *in, size_t n_in,
                                  struct shape *out, struct diag *d)
{
    *out = in[0];
    return 0;
}

static size_t gaussian_dropout_cache(const struct layer *l, const struct shape *in,
                                     const struct shape *out)
{
    return shape_size(out);
}

static void gaussian_dropout_forward(const struct layer *l, const struct layer_call *c)
{
    const struct gaussian_dropout_conf *cf = l->conf;
    size_t n = c->B * shape_size(&l->out_shape);
    if (!c->training || cf->rate == 0) {
        memcpy(c->y, c->x[0], n * sizeof *c->y);
        for (size_t i = 0; i < n; i++)
            c->cache[i] = 1.0f;
        return;
    }
    double stddev = sqrt(cf->rate / (1.0 - cf->rate));
    for (size_t i = 0; i < n; i++) { /* serial: one rng stream, in order */
        float m = (float)(1.0 + stddev * rng_normal(c->rng));
        c->cache[i] = m;
        c->y[i] = c->x[0][i] * m;
    }
}

static void gaussian_dropout_backward(const struct layer *l, const struct layer_call *c)
{
    if (!c->dx[0])
        return;
    size_t n = c->B * shape_size(&l->out_shape);
    for (size_t i = 0; i < n; i++)
        c->dx[0][i] += c->dy[i] * c->cache[i];
}

const struct layer_ops gaussian_dropout_ops = {
    .class_name = "GaussianDropout",
    .base_name = "gaussian_dropout",
    .args = gaussian_dropout_args,
    .n_args = sizeof gaussian_dropout_args / sizeof gaussian_dropout_args[0],
    .conf_size = sizeof(struct gaussian_dropout_conf),
    .validate = gaussian_dropout_validate,
    .build = gaussian_dropout_build,
    .cache_floats = gaussian_dropout_cache,
    .forward = gaussian_dropout_forward,
    .backward = gaussian_dropout_backward,
    .mask_mode = layer_mask_keep, /* supports_masking */
};
