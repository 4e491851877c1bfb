/* LeakyReLU (keras/layers/activation/leaky_relu.py, tf.keras 2.x): y =
 * backend.relu(x, alpha), which is tf.nn.leaky_relu for alpha != 0 (TF's
 * kernel: x > 0 ? x : alpha * x, any sign or size of alpha; gradient 1 or
 * alpha) and tf.nn.relu for alpha == 0. alpha is cast to float32. Same
 * shape in and out; no cache (backward reads x). */
#include <stddef.h>

#include "../parallel.h"
#include "layers.h"

struct leaky_relu_conf {
    double alpha;
};

static const struct arg_def leaky_relu_args[] = {
    {"alpha", ARG_FLOAT, offsetof(struct leaky_relu_conf, alpha), 0, NULL, NULL},
};

static void leaky_relu_defaults(void *conf) { ((struct leaky_relu_conf *)conf)->alpha = 0.3; }

static int leaky_relu_build(struct layer *l, const struct shape *in, size_t n_in,
                            struct shape *out, struct diag *d)
{
    *out = in[0];
    return 0;
}

struct leaky_job {
    float alpha;
    size_t n; /* values per sample */
    const float *x, *dy;
    float *y, *dx;
};

static void leaky_forward_range(void *ctx, size_t b0, size_t b1)
{
    const struct leaky_job *j = ctx;
    for (size_t i = b0 * j->n; i < b1 * j->n; i++) {
        float x = j->x[i];
        j->y[i] = x > 0 ? x : j->alpha != 0 ? j->alpha * x : 0.0f;
    }
}

static void leaky_backward_range(void *ctx, size_t b0, size_t b1)
{
    const struct leaky_job *j = ctx;
    for (size_t i = b0 * j->n; i < b1 * j->n; i++)
        j->dx[i] += j->x[i] > 0 ? j->dy[i] : j->alpha * j->dy[i];
}

/* Samples per chunk: about 16k values. */
static size_t grain(size_t n) { return n >= 16384 ? 1 : 16384 / n; }

static void leaky_relu_forward(const struct layer *l, const struct layer_call *c)
{
    const struct leaky_relu_conf *cf = l->conf;
    struct leaky_job j = {(float)cf->alpha, shape_size(&l->out_shape), c->x[0], NULL, c->y, NULL};
    parallel_for(c->B, grain(j.n), leaky_forward_range, &j);
}

static void leaky_relu_backward(const struct layer *l, const struct layer_call *c)
{
    const struct leaky_relu_conf *cf = l->conf;
    if (!c->dx[0])
        return;
    struct leaky_job j = {(float)cf->alpha, shape_size(&l->out_shape), c->x[0], c->dy, NULL,
                          c->dx[0]};
    parallel_for(c->B, grain(j.n), leaky_backward_range, &j);
}

const struct layer_ops leaky_relu_ops = {
    .class_name = "LeakyReLU",
    .base_name = "leaky_re_lu",
    .args = leaky_relu_args,
    .n_args = 1,
    .conf_size = sizeof(struct leaky_relu_conf),
    .defaults = leaky_relu_defaults,
    .build = leaky_relu_build,
    .forward = leaky_relu_forward,
    .backward = leaky_relu_backward,
    .mask_mode = layer_mask_keep, /* supports_masking */
};
