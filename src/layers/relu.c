/* ReLU (keras/layers/activation/relu.py, tf.keras 2.x): y = backend.relu(x,
 * alpha=negative_slope, max_value, threshold) of keras/backend.py, which is
 *   negative_slope != 0, no max_value, threshold 0:  tf.nn.leaky_relu,
 *       y = x > 0 ? x : negative_slope * x
 *   otherwise
 *       pos = threshold != 0 ? x * (x > threshold)
 *           : max_value == 6 ? relu6(x)           (tf.nn.relu6; no clip after)
 *           : max(x, 0)
 *       pos = clip(pos, 0, max_value)             (when max_value is set)
 *       y   = pos - negative_slope * max(threshold - x, 0)
 * all in float32 (the layer casts its arguments with cast_to_floatx).
 * Derivatives are those of TF's kernels: relu "x > 0", relu6 "0 < x < 6",
 * clip_by_value passes where min <= v <= max, the threshold mask is a
 * constant, leaky relu "x > 0 ? 1 : alpha". Same shape in and out; no
 * cache (backward reads x). */
#include <math.h>
#include <stddef.h>

#include "../parallel.h"
#include "layers.h"

struct relu_conf {
    double max_value; /* NAN: None */
    double negative_slope, threshold;
};

#define ARG(name, flags) {#name, ARG_FLOAT, offsetof(struct relu_conf, name), flags, NULL, NULL}
static const struct arg_def relu_args[] = {
    ARG(max_value, ARG_NULLABLE),
    ARG(negative_slope, 0),
    ARG(threshold, 0),
};

static void relu_defaults(void *conf)
{
    struct relu_conf *c = conf;
    c->max_value = NAN;
    c->negative_slope = 0;
    c->threshold = 0;
}

/* The checks of ReLU.__init__. */
static int relu_validate(const struct layer *l, const struct spec_node *where, struct diag *d)
{
    const struct relu_conf *c = l->conf;
    if (c->max_value < 0)
        return spec_error(where, d, "max_value of a ReLU layer cannot be negative, found %g",
                          c->max_value);
    if (c->negative_slope < 0)
        return spec_error(where, d, "negative_slope of a ReLU layer cannot be negative, found %g",
                          c->negative_slope);
    if (c->threshold < 0)
        return spec_error(where, d, "threshold of a ReLU layer cannot be negative, found %g",
                          c->threshold);
    return 0;
}

static int relu_build(struct layer *l, const struct shape *in, size_t n_in, struct shape *out,
                      struct diag *d)
{
    *out = in[0];
    return 0;
}

/* The float32 parameters and which branch of backend.relu applies. */
struct relu_fn {
    float alpha, thr, max;
    bool leaky, has_max, relu6;
};

static struct relu_fn relu_fn(const struct relu_conf *c)
{
    struct relu_fn f = {(float)c->negative_slope, (float)c->threshold, (float)c->max_value,
                        false, !isnan(c->max_value), false};
    f.leaky = f.alpha != 0 && !f.has_max && f.thr == 0;
    f.relu6 = f.thr == 0 && f.has_max && f.max == 6;
    return f;
}

/* y and dy/dx at x. */
static float relu_eval(const struct relu_fn *f, float x, float *grad)
{
    if (f->leaky) {
        *grad = x > 0 ? 1.0f : f->alpha;
        return x > 0 ? x : f->alpha * x;
    }
    float pos, g;
    if (f->thr != 0) {
        pos = x > f->thr ? x : 0.0f;
        g = x > f->thr ? 1.0f : 0.0f;
    } else if (f->relu6) {
        pos = fminf(fmaxf(x, 0.0f), 6.0f);
        g = x > 0 && x < 6 ? 1.0f : 0.0f;
    } else {
        pos = x > 0 ? x : 0.0f;
        g = x > 0 ? 1.0f : 0.0f;
    }
    if (f->has_max && !f->relu6) {
        g = pos <= f->max ? g : 0.0f; /* pos >= 0 already */
        pos = fminf(pos, f->max);
    }
    if (f->alpha != 0) {
        float neg = f->thr - x;
        if (neg > 0) {
            pos -= f->alpha * neg;
            g += f->alpha;
        }
    }
    *grad = g;
    return pos;
}

struct relu_job {
    struct relu_fn f;
    size_t n;        /* values per sample */
    const float *x, *dy;
    float *y, *dx;
};

static void relu_forward_range(void *ctx, size_t b0, size_t b1)
{
    const struct relu_job *j = ctx;
    float g;
    for (size_t i = b0 * j->n; i < b1 * j->n; i++)
        j->y[i] = relu_eval(&j->f, j->x[i], &g);
}

static void relu_backward_range(void *ctx, size_t b0, size_t b1)
{
    const struct relu_job *j = ctx;
    float g;
    for (size_t i = b0 * j->n; i < b1 * j->n; i++) {
        relu_eval(&j->f, j->x[i], &g);
        j->dx[i] += g * j->dy[i];
    }
}

/* Samples per chunk: about 16k values. */
static size_t grain(size_t n) { return n >= 16384 ? 1 : 16384 / n; }

static void relu_forward(const struct layer *l, const struct layer_call *c)
{
    struct relu_job j = {relu_fn(l->conf), shape_size(&l->out_shape), c->x[0], NULL, c->y, NULL};
    parallel_for(c->B, grain(j.n), relu_forward_range, &j);
}

static void relu_backward(const struct layer *l, const struct layer_call *c)
{
    if (!c->dx[0])
        return;
    struct relu_job j = {relu_fn(l->conf), shape_size(&l->out_shape), c->x[0], c->dy, NULL,
                         c->dx[0]};
    parallel_for(c->B, grain(j.n), relu_backward_range, &j);
}

const struct layer_ops relu_ops = {
    .class_name = "ReLU",
    .base_name = "re_lu",
    .args = relu_args,
    .n_args = sizeof relu_args / sizeof relu_args[0],
    .conf_size = sizeof(struct relu_conf),
    .defaults = relu_defaults,
    .validate = relu_validate,
    .build = relu_build,
    .forward = relu_forward,
    .backward = relu_backward,
    .mask_mode = layer_mask_keep, /* supports_masking */
};
