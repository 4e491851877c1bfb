/* ELU (keras/layers/activation/elu.py, tf.keras 2.x): y = backend.elu(x,
 * alpha) = tf.where(x > 0, e, alpha * e) with e = tf.nn.elu(x) (x for x > 0,
 * exp(x) - 1 otherwise; computed with expm1 as src/activation.c does), so
 *   y = x > 0 ? x : alpha * (exp(x) - 1)
 * and, through TF's EluGrad (e < 0 ? e + 1 : 1), dy/dx = x > 0 ? 1 :
 * alpha * (e + 1) (alpha at x = 0). alpha is cast to float32. Same shape
 * in and out; no cache (backward reads x). */
#include <math.h>
#include <stddef.h>

#include "../parallel.h"
#include "layers.h"

struct elu_conf {
    double alpha;
};

static const struct arg_def elu_args[] = {
    {"alpha", ARG_FLOAT, offsetof(struct elu_conf, alpha), 0, NULL, NULL},
};

static void elu_defaults(void *conf) { ((struct elu_conf *)conf)->alpha = 1.0; }

static int elu_build(struct layer *l, const struct shape *in, size_t n_in, struct shape *out,
                     struct diag *d)
{
    *out = in[0];
    return 0;
}

struct elu_job {
    float alpha;
    size_t n; /* values per sample */
    const float *x, *dy;
    float *y, *dx;
};

static void elu_forward_range(void *ctx, size_t b0, size_t b1)
{
    const struct elu_job *j = ctx;
    for (size_t i = b0 * j->n; i < b1 * j->n; i++) {
        float x = j->x[i];
        j->y[i] = x > 0 ? x : j->alpha * expm1f(x);
    }
}

static void elu_backward_range(void *ctx, size_t b0, size_t b1)
{
    const struct elu_job *j = ctx;
    for (size_t i = b0 * j->n; i < b1 * j->n; i++) {
        float x = j->x[i];
        j->dx[i] += x > 0 ? j->dy[i] : j->alpha * (expm1f(x) + 1.0f) * j->dy[i];
    }
}

/* Samples per chunk: about 16k values. */
static size_t grain(size_t n) { return n >= 16384 ? 1 : 16384 / n; }

static void elu_forward(const struct layer *l, const struct layer_call *c)
{
    const struct elu_conf *cf = l->conf;
    struct elu_job j = {(float)cf->alpha, shape_size(&l->out_shape), c->x[0], NULL, c->y, NULL};
    parallel_for(c->B, grain(j.n), elu_forward_range, &j);
}

static void elu_backward(const struct layer *l, const struct layer_call *c)
{
    const struct elu_conf *cf = l->conf;
    if (!c->dx[0])
        return;
    struct elu_job j = {(float)cf->alpha, shape_size(&l->out_shape), c->x[0], c->dy, NULL,
                        c->dx[0]};
    parallel_for(c->B, grain(j.n), elu_backward_range, &j);
}

const struct layer_ops elu_ops = {
    .class_name = "ELU",
    .base_name = "elu",
    .args = elu_args,
    .n_args = 1,
    .conf_size = sizeof(struct elu_conf),
    .defaults = elu_defaults,
    .build = elu_build,
    .forward = elu_forward,
    .backward = elu_backward,
    .mask_mode = layer_mask_keep, /* supports_masking */
};
