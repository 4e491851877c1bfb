/* GaussianNoise (keras/layers/regularization/gaussian_noise.py, tf.keras
 * 2.x): in training y = x + n with n ~ N(0, stddev^2) drawn afresh for
 * every value (random_normal(mean 0, stddev)); at inference y = x. The
 * noise is additive, so dy/dx = 1 in both modes and backward needs no
 * cache. The seed argument is not supported (the model's rng decides). */
#include <stddef.h>
#include <string.h>

#include "layers.h"

struct gaussian_noise_conf {
    double stddev;
};

static const struct arg_def gaussian_noise_args[] = {
    {"stddev", ARG_FLOAT, offsetof(struct gaussian_noise_conf, stddev), ARG_REQUIRED, NULL, NULL},
    {"seed", ARG_UNSUPPORTED, 0, 0, NULL, NULL},
};

/* Keras does not check; a negative standard deviation is meaningless. */
static int gaussian_noise_validate(const struct layer *l, const struct spec_node *where,
                                   struct diag *d)
{
    const struct gaussian_noise_conf *c = l->conf;
    if (!(c->stddev >= 0))
        return spec_error(where, d, "GaussianNoise stddev must be 0 or more, found %g",
                          c->stddev);
    return 0;
}

static int gaussian_noise_build(struct layer *l, const struct shape *in, size_t n_in,
                                struct shape *out, struct diag *d)
{
    *out = in[0];
    return 0;
}

static void gaussian_noise_forward(const struct layer *l, const struct layer_call *c)
{
    const struct gaussian_noise_conf *cf = l->conf;
    size_t n = c->B * shape_size(&l->out_shape);
    if (!c->training) {
        memcpy(c->y, c->x[0], n * sizeof *c->y);
        return;
    }
    /* Serial: the draws follow the one rng stream, in order. */
    for (size_t i = 0; i < n; i++)
        c->y[i] = c->x[0][i] + (float)(cf->stddev * rng_normal(c->rng));
}

static void gaussian_noise_backward(const struct layer *l, const struct layer_call *c)
{
    if (!c->dx[0])
        return;
    size_t n = c->B * shape_size(&l->out_shape);
    for (size_t i = 0; i < n; i++)
        c->dx[0][i] += c->dy[i];
}

const struct layer_ops gaussian_noise_ops = {
    .class_name = "GaussianNoise",
    .base_name = "gaussian_noise",
    .args = gaussian_noise_args,
    .n_args = sizeof gaussian_noise_args / sizeof gaussian_noise_args[0],
    .conf_size = sizeof(struct gaussian_noise_conf),
    .validate = gaussian_noise_validate,
    .build = gaussian_noise_build,
    .forward = gaussian_noise_forward,
    .backward = gaussian_noise_backward,
    .mask_mode = layer_mask_keep, /* supports_masking */
};
