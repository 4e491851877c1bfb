/* Softmax (keras/layers/activation/softmax.py, tf.keras 2.x): y =
 * backend.softmax(x, axis) = tf.nn.softmax along one axis (default -1, the
 * last). Axes count the batch axis as 0, as in Keras: axis k in 1..rank or
 * -rank..-1 of the sample's shape; softmax over the batch axis is not
 * supported. Each sample is (outer, len, inner) around the axis:
 *   y[o, :, i] = exp(x[o, :, i] - max) / sum exp(x[o, :, i] - max)
 *   dx[o, :, i] += y (dy - sum_j y_j dy_j)
 * The last axis (inner = 1) goes through src/activation.c, as
 * Activation('softmax') does; other axes use the same arithmetic strided
 * (float exp, double sums, multiply by the float reciprocal), as TF
 * transposes the axis to the end. No cache (backward reads y). */
#include <math.h>
#include <stddef.h>

#include "../parallel.h"
#include "layers.h"

struct softmax_conf {
    long axis;
};

static const struct arg_def softmax_args[] = {
    {"axis", ARG_INT, offsetof(struct softmax_conf, axis), 0, NULL, NULL},
};

static void softmax_defaults(void *conf) { ((struct softmax_conf *)conf)->axis = -1; }

static int softmax_build(struct layer *l, const struct shape *in, size_t n_in, struct shape *out,
                         struct diag *d)
{
    const struct softmax_conf *c = l->conf;
    long r = in[0].rank, k = c->axis < 0 ? c->axis + r + 1 : c->axis;
    char buf[96];
    if (k == 0)
        return spec_error(l->where, d,
                          "Softmax axis %ld is the batch axis of input %s, which nnc does "
                          "not support",
                          c->axis, shape_format(&in[0], buf, sizeof buf));
    if (k < 0 || k > r)
        return spec_error(l->where, d,
                          "Softmax axis %ld is out of range for input %s: use 1 to %ld or "
                          "-%ld to -1",
                          c->axis, shape_format(&in[0], buf, sizeof buf), r, r);
    *out = in[0];
    return 0;
}

/* The sample as (outer, len, inner) around the softmax axis. */
struct softmax_dims {
    size_t outer, len, inner;
};

static struct softmax_dims softmax_dims(const struct layer *l)
{
    const struct softmax_conf *c = l->conf;
    const struct shape *s = &l->out_shape;
    int k = (int)(c->axis < 0 ? c->axis + s->rank : c->axis - 1); /* 0-based, no batch */
    struct softmax_dims d = {1, s->dim[k], 1};
    for (int i = 0; i < k; i++)
        d.outer *= s->dim[i];
    for (int i = k + 1; i < s->rank; i++)
        d.inner *= s->dim[i];
    return d;
}

struct softmax_job {
    struct softmax_dims d;
    const float *x, *y, *dy;
    float *out, *dx;
};

/* One sample-range of the strided softmax (inner > 1). */
static void softmax_forward_range(void *ctx, size_t b0, size_t b1)
{
    const struct softmax_job *j = ctx;
    size_t L = j->d.len, S = j->d.inner, n = j->d.outer * L * S;
    for (size_t b = b0; b < b1; b++) {
        for (size_t o = 0; o < j->d.outer; o++) {
            for (size_t i = 0; i < S; i++) {
                size_t base = b * n + o * L * S + i;
                const float *x = j->x + base;
                float *y = j->out + base;
                float max = -INFINITY;
                for (size_t t = 0; t < L; t++)
                    max = x[t * S] > max ? x[t * S] : max;
                double sum = 0;
                for (size_t t = 0; t < L; t++) {
                    y[t * S] = expf(x[t * S] - max);
                    sum += y[t * S];
                }
                float inv = (float)(1.0 / sum);
                for (size_t t = 0; t < L; t++)
                    y[t * S] *= inv;
            }
        }
    }
}

static void softmax_backward_range(void *ctx, size_t b0, size_t b1)
{
    const struct softmax_job *j = ctx;
    size_t L = j->d.len, S = j->d.inner, n = j->d.outer * L * S;
    for (size_t b = b0; b < b1; b++) {
        for (size_t o = 0; o < j->d.outer; o++) {
            for (size_t i = 0; i < S; i++) {
                size_t base = b * n + o * L * S + i;
                const float *y = j->y + base, *dy = j->dy + base;
                float *dx = j->dx + base;
                double dot = 0;
                for (size_t t = 0; t < L; t++)
                    dot += (double)y[t * S] * dy[t * S];
                for (size_t t = 0; t < L; t++)
                    dx[t * S] += y[t * S] * (dy[t * S] - (float)dot);
            }
        }
    }
}

/* Samples per chunk: about 16k values. */
static size_t grain(size_t n) { return n >= 16384 ? 1 : 16384 / n; }

static void softmax_forward(const struct layer *l, const struct layer_call *c)
{
    struct softmax_job j = {softmax_dims(l), c->x[0], NULL, NULL, c->y, NULL};
    size_t n = shape_size(&l->out_shape);
    if (j.d.inner == 1)
        activation_forward(ACT_SOFTMAX, c->x[0], c->y, c->B * j.d.outer, j.d.len);
    else
        parallel_for(c->B, grain(n), softmax_forward_range, &j);
}

static void softmax_backward(const struct layer *l, const struct layer_call *c)
{
    if (!c->dx[0])
        return;
    struct softmax_job j = {softmax_dims(l), NULL, c->y, c->dy, NULL, c->dx[0]};
    parallel_for(c->B, grain(shape_size(&l->out_shape)), softmax_backward_range, &j);
}

const struct layer_ops softmax_ops = {
    .class_name = "Softmax",
    .base_name = "softmax",
    .args = softmax_args,
    .n_args = 1,
    .conf_size = sizeof(struct softmax_conf),
    .defaults = softmax_defaults,
    .build = softmax_build,
    .forward = softmax_forward,
    .backward = softmax_backward,
    .mask_mode = layer_mask_keep, /* supports_masking */
};
