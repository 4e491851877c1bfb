/* PReLU (keras/layers/activation/prelu.py, tf.keras 2.x): a leaky ReLU with
 * a learned slope per position, y = relu(x) - alpha * relu(-x), i.e.
 *   y = x > 0 ? x : alpha * x (0 at 0)   dy/dx = x > 0 ? 1 : x < 0 ? alpha : 0
 *   dy/dalpha = min(x, 0)
 * Weight `alpha` has the sample's shape with every axis in shared_axes
 * (1-based, axis 1 is the first after the batch) set to 1, and is
 * broadcast over them: x (B, d1, ..., dr), alpha (a1, ..., ar), ai = di or 1.
 * An element's alpha index is walked with an odometer over the sample's
 * axes (alpha stride 0 on shared ones). No cache (backward reads x). */
#include <stddef.h>

#include "../parallel.h"
#include "layers.h"

struct prelu_conf {
    struct initializer alpha_initializer;
    struct regularizer alpha_regularizer;
    struct constraint alpha_constraint;
    struct int_tuple shared_axes; /* n = 0: None */
};

#define ARG(name, type, flags) {#name, type, offsetof(struct prelu_conf, name), flags, NULL, NULL}
static const struct arg_def prelu_args[] = {
    ARG(alpha_initializer, ARG_INITIALIZER, 0),
    ARG(alpha_regularizer, ARG_REGULARIZER, 0),
    ARG(alpha_constraint, ARG_CONSTRAINT, 0),
    ARG(shared_axes, ARG_TUPLE, ARG_NULLABLE),
};

static void prelu_defaults(void *conf)
{
    struct prelu_conf *c = conf;
    init_default(INIT_ZEROS, &c->alpha_initializer);
}

static int prelu_build(struct layer *l, const struct shape *in, size_t n_in, struct shape *out,
                       struct diag *d)
{
    const struct prelu_conf *c = l->conf;
    *out = in[0];
    /* build: param_shape = input_shape[1:], param_shape[i - 1] = 1 per shared axis */
    struct shape a = in[0];
    for (int k = 0; k < c->shared_axes.n; k++) {
        long ax = c->shared_axes.v[k];
        if (ax < 1 || ax > in[0].rank) {
            char buf[96];
            return spec_error(l->where, d,
                              "PReLU shared_axes value %ld is out of range for input %s "
                              "(axes 1 to %d)",
                              ax, shape_format(&in[0], buf, sizeof buf), in[0].rank);
        }
        a.dim[ax - 1] = 1;
    }
    size_t p = layer_add_param(l, "alpha", &a, &c->alpha_initializer, true);
    return layer_param_limits(l, p, &c->alpha_regularizer, &c->alpha_constraint, d);
}

/* Strides into alpha per input axis (0 where alpha is broadcast). */
static void alpha_strides(const struct layer *l, size_t *stride)
{
    const struct shape *a = &l->params[0].shape;
    size_t s = 1;
    for (int k = a->rank - 1; k >= 0; k--) {
        stride[k] = a->dim[k] == 1 ? 0 : s;
        s *= a->dim[k];
    }
}

/* Advances the multi-index idx over dims by one element, keeping *ai the
 * matching alpha index. */
static void odometer_step(const struct shape *dims, const size_t *stride, size_t *idx,
                          size_t *ai)
{
    for (int k = dims->rank - 1; k >= 0; k--) {
        *ai += stride[k];
        if (++idx[k] < dims->dim[k])
            return;
        *ai -= stride[k] * dims->dim[k];
        idx[k] = 0;
    }
}

struct prelu_job {
    const struct layer *l;
    const float *x, *alpha;
    float *y;
};

static void prelu_forward_range(void *ctx, size_t b0, size_t b1)
{
    const struct prelu_job *j = ctx;
    const struct shape *s = &j->l->out_shape;
    size_t n = shape_size(s), stride[SHAPE_MAX_RANK];
    alpha_strides(j->l, stride);
    for (size_t b = b0; b < b1; b++) {
        size_t idx[SHAPE_MAX_RANK] = {0}, ai = 0;
        const float *x = j->x + b * n;
        float *y = j->y + b * n;
        for (size_t i = 0; i < n; i++) {
            y[i] = x[i] > 0 ? x[i] : x[i] < 0 ? j->alpha[ai] * x[i] : 0.0f;
            odometer_step(s, stride, idx, &ai);
        }
    }
}

static void prelu_forward(const struct layer *l, const struct layer_call *c)
{
    size_t n = shape_size(&l->out_shape);
    struct prelu_job j = {l, c->x[0], c->w + l->params[0].offset, c->y};
    parallel_for(c->B, n >= 16384 ? 1 : 16384 / n, prelu_forward_range, &j);
}

/* Serial: every sample adds into the same dalpha. */
static void prelu_backward(const struct layer *l, const struct layer_call *c)
{
    const struct shape *s = &l->out_shape;
    size_t n = shape_size(s), stride[SHAPE_MAX_RANK];
    alpha_strides(l, stride);
    const float *alpha = c->w + l->params[0].offset;
    float *dalpha = l->trainable ? c->dw + l->params[0].offset : NULL;
    for (size_t b = 0; b < c->B; b++) {
        size_t idx[SHAPE_MAX_RANK] = {0}, ai = 0;
        const float *x = c->x[0] + b * n, *dy = c->dy + b * n;
        float *dx = c->dx[0] ? c->dx[0] + b * n : NULL;
        for (size_t i = 0; i < n; i++) {
            if (dx)
                dx[i] += x[i] > 0 ? dy[i] : x[i] < 0 ? alpha[ai] * dy[i] : 0.0f;
            if (dalpha && x[i] < 0)
                dalpha[ai] += x[i] * dy[i];
            odometer_step(s, stride, idx, &ai);
        }
    }
}

const struct layer_ops prelu_ops = {
    .class_name = "PReLU",
    .base_name = "p_re_lu",
    .args = prelu_args,
    .n_args = sizeof prelu_args / sizeof prelu_args[0],
    .conf_size = sizeof(struct prelu_conf),
    .defaults = prelu_defaults,
    .build = prelu_build,
    .forward = prelu_forward,
    .backward = prelu_backward,
    .mask_mode = layer_mask_keep, /* supports_masking */
};
