/* Rescaling (keras/layers/preprocessing/image_preprocessing.py, Keras 2):
 * y = x * scale + offset, in float32 (Keras casts scale and offset to the
 * compute dtype), so dx = dy * scale. No weights, no cache. Both passes
 * are split over the batch between the pool's threads (element-wise: the
 * split changes no bit). */
#include <math.h>
#include <stddef.h>

#include "../parallel.h"
#include "../simd.h"
#include "layers.h"

struct rescaling_conf {
    double scale, offset;
};

static const struct arg_def rescaling_args[] = {
    {"scale", ARG_FLOAT, offsetof(struct rescaling_conf, scale), ARG_REQUIRED, NULL, NULL},
    {"offset", ARG_FLOAT, offsetof(struct rescaling_conf, offset), 0, NULL, NULL},
};

static int rescaling_validate(const struct layer *l, const struct spec_node *where,
                              struct diag *d)
{
    const struct rescaling_conf *c = l->conf;
    if (!isfinite(c->scale) || !isfinite(c->offset))
        return spec_error(where, d, "Rescaling scale and offset must be finite numbers");
    return 0;
}

static int rescaling_build(struct layer *l, const struct shape *in, size_t n_in,
                           struct shape *out, struct diag *d)
{
    *out = in[0];
    return 0;
}

struct rescaling_job {
    float scale, offset;
    size_t n; /* floats per sample */
    const float *in;
    float *out;
};

SIMD_CLONES static void rescaling_forward_range(void *ctx, size_t b0, size_t b1)
{
    const struct rescaling_job *j = ctx;
    for (size_t i = b0 * j->n; i < b1 * j->n; i++)
        j->out[i] = j->in[i] * j->scale + j->offset;
}

/* dx += dy * scale */
SIMD_CLONES static void rescaling_backward_range(void *ctx, size_t b0, size_t b1)
{
    const struct rescaling_job *j = ctx;
    for (size_t i = b0 * j->n; i < b1 * j->n; i++)
        j->out[i] += j->in[i] * j->scale;
}

static void rescaling_forward(const struct layer *l, const struct layer_call *c)
{
    const struct rescaling_conf *cf = l->conf;
    struct rescaling_job j = {(float)cf->scale, (float)cf->offset, shape_size(&l->out_shape),
                              c->x[0], c->y};
    parallel_for_samples(c->B, j.n, rescaling_forward_range, &j);
}

static void rescaling_backward(const struct layer *l, const struct layer_call *c)
{
    const struct rescaling_conf *cf = l->conf;
    if (!c->dx[0])
        return;
    struct rescaling_job j = {(float)cf->scale, 0.0f, shape_size(&l->out_shape), c->dy, c->dx[0]};
    parallel_for_samples(c->B, j.n, rescaling_backward_range, &j);
}

const struct layer_ops rescaling_ops = {
    .class_name = "Rescaling",
    .base_name = "rescaling",
    .args = rescaling_args,
    .n_args = sizeof rescaling_args / sizeof rescaling_args[0],
    .conf_size = sizeof(struct rescaling_conf),
    .validate = rescaling_validate,
    .build = rescaling_build,
    .forward = rescaling_forward,
    .backward = rescaling_backward,
};
