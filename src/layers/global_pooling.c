/* GlobalMaxPooling1D/2D and GlobalAveragePooling1D/2D, channels_last: the
 * max or mean of each channel over all positions
 * (keras/layers/pooling/base_global_pooling1d.py, global_max_pooling2d.py).
 *   x (B, P..., C) -> y (B, C), or (B, 1[, 1], C) with keepdims.
 * Keras reduces with tf.reduce_max / reduce_mean, so the max's gradient is
 * TF's: split evenly between the positions equal to the maximum (ties are
 * rare except where a ReLU left a channel at 0). Backward recomputes them
 * from x and y; no cache.
 * GlobalAveragePooling1D honours a time-step mask as Keras's does
 * (keras/layers/pooling/global_average_pooling1d.py: sum(x * mask) /
 * sum(mask) over the steps; a sample with every step masked gives 0 here,
 * 0/0 there) and, like it, passes no mask on (compute_mask returns None).
 * The max pools do not support masking in Keras: they ignore it. */
#include <stddef.h>

#include "../parallel.h"
#include "layers.h"

struct global_conf {
    const char *data_format;
    bool keepdims;
    int dims; /* 1 or 2, set by defaults (not an argument) */
};

static const char *const data_formats[] = {"channels_last", NULL};
static const char *const data_formats_later[] = {"channels_first", NULL};

static const struct arg_def global_args[] = {
    {"data_format", ARG_CHOICE, offsetof(struct global_conf, data_format), 0, data_formats,
     data_formats_later},
    {"keepdims", ARG_BOOL, offsetof(struct global_conf, keepdims), 0, NULL, NULL},
};

static void global1d_defaults(void *conf)
{
    struct global_conf *c = conf;
    c->data_format = data_formats[0];
    c->dims = 1;
}

static void global2d_defaults(void *conf)
{
    global1d_defaults(conf);
    ((struct global_conf *)conf)->dims = 2;
}

static int global_build(struct layer *l, const struct shape *in, size_t n_in, struct shape *out,
                        struct diag *d)
{
    const struct global_conf *c = l->conf;
    if (layer_check_spatial_rank(l, &in[0], (int)c->dims, d) < 0)
        return -1;
    size_t C = in[0].dim[c->dims];
    out->rank = c->keepdims ? c->dims + 1 : 1;
    for (int i = 0; i < out->rank; i++)
        out->dim[i] = 1;
    out->dim[out->rank - 1] = C;
    return 0;
}

struct global_job {
    const struct layer_call *c;
    size_t P, C; /* positions and channels per sample */
    const unsigned char *mask; /* GlobalAveragePooling1D's time-step mask (B * P) or NULL */
};

static void max_forward_samples(void *ctx, size_t begin, size_t end)
{
    const struct global_job *j = ctx;
    size_t P = j->P, C = j->C;
    for (size_t b = begin; b < end; b++) {
        const float *x = j->c->x[0] + b * P * C;
        float *y = j->c->y + b * C;
        for (size_t ch = 0; ch < C; ch++)
            y[ch] = x[ch];
        for (size_t p = 1; p < P; p++)
            for (size_t ch = 0; ch < C; ch++)
                if (x[p * C + ch] > y[ch])
                    y[ch] = x[p * C + ch];
    }
}

/* dx += dy / (number of maxima) at every maximum. */
static void max_backward_samples(void *ctx, size_t begin, size_t end)
{
    const struct global_job *j = ctx;
    size_t P = j->P, C = j->C;
    for (size_t b = begin; b < end; b++) {
        const float *x = j->c->x[0] + b * P * C, *y = j->c->y + b * C, *dy = j->c->dy + b * C;
        float *dx = j->c->dx[0] + b * P * C;
        for (size_t ch = 0; ch < C; ch++) {
            size_t ties = 0;
            for (size_t p = 0; p < P; p++)
                ties += x[p * C + ch] == y[ch];
            if (ties == 0) /* NaN: no position equals the max */
                continue;
            float g = dy[ch] / (float)ties;
            for (size_t p = 0; p < P; p++)
                if (x[p * C + ch] == y[ch])
                    dx[p * C + ch] += g;
        }
    }
}

/* The steps of sample b that count (its mask; all P without one), or 0. */
static size_t avg_count(const struct global_job *j, size_t b)
{
    if (!j->mask)
        return j->P;
    size_t n = 0;
    for (size_t p = 0; p < j->P; p++)
        n += j->mask[b * j->P + p] != 0;
    return n;
}

static bool avg_kept(const struct global_job *j, size_t b, size_t p)
{
    return !j->mask || j->mask[b * j->P + p];
}

/* Sums in double: P can be large (a whole image). */
static void avg_forward_samples(void *ctx, size_t begin, size_t end)
{
    const struct global_job *j = ctx;
    size_t P = j->P, C = j->C;
    for (size_t b = begin; b < end; b++) {
        const float *x = j->c->x[0] + b * P * C;
        float *y = j->c->y + b * C;
        size_t n = avg_count(j, b);
        for (size_t ch = 0; ch < C; ch++) {
            double s = 0;
            for (size_t p = 0; p < P; p++)
                if (avg_kept(j, b, p))
                    s += x[p * C + ch];
            y[ch] = n ? (float)(s / (double)n) : 0.0f;
        }
    }
}

static void avg_backward_samples(void *ctx, size_t begin, size_t end)
{
    const struct global_job *j = ctx;
    size_t P = j->P, C = j->C;
    for (size_t b = begin; b < end; b++) {
        const float *dy = j->c->dy + b * C;
        float *dx = j->c->dx[0] + b * P * C;
        size_t n = avg_count(j, b);
        for (size_t p = 0; p < P; p++)
            for (size_t ch = 0; n && avg_kept(j, b, p) && ch < C; ch++)
                dx[p * C + ch] += dy[ch] / (float)n;
    }
}

static void global_run(const struct layer *l, const struct layer_call *c, parallel_fn fn)
{
    const struct global_conf *cf = l->conf;
    struct global_job j = {.c = c, .mask = cf->dims == 1 ? c->mask : NULL};
    j.C = l->in_shape.dim[l->in_shape.rank - 1];
    j.P = shape_size(&l->in_shape) / j.C;
    parallel_for_samples(c->B, j.P * j.C, fn, &j);
}

static void max_forward(const struct layer *l, const struct layer_call *c)
{
    global_run(l, c, max_forward_samples);
}

static void max_backward(const struct layer *l, const struct layer_call *c)
{
    if (c->dx[0])
        global_run(l, c, max_backward_samples);
}

static void avg_forward(const struct layer *l, const struct layer_call *c)
{
    global_run(l, c, avg_forward_samples);
}

static void avg_backward(const struct layer *l, const struct layer_call *c)
{
    if (c->dx[0])
        global_run(l, c, avg_backward_samples);
}

const struct layer_ops global_max_pooling1d_ops = {
    .class_name = "GlobalMaxPooling1D",
    .base_name = "global_max_pooling1d",
    .args = global_args,
    .n_args = sizeof global_args / sizeof global_args[0],
    .conf_size = sizeof(struct global_conf),
    .defaults = global1d_defaults,
    .build = global_build,
    .forward = max_forward,
    .backward = max_backward,
};

const struct layer_ops global_max_pooling2d_ops = {
    .class_name = "GlobalMaxPooling2D",
    .base_name = "global_max_pooling2d",
    .args = global_args,
    .n_args = sizeof global_args / sizeof global_args[0],
    .conf_size = sizeof(struct global_conf),
    .defaults = global2d_defaults,
    .build = global_build,
    .forward = max_forward,
    .backward = max_backward,
};

const struct layer_ops global_average_pooling1d_ops = {
    .class_name = "GlobalAveragePooling1D",
    .base_name = "global_average_pooling1d",
    .args = global_args,
    .n_args = sizeof global_args / sizeof global_args[0],
    .conf_size = sizeof(struct global_conf),
    .defaults = global1d_defaults,
    .build = global_build,
    .forward = avg_forward,
    .backward = avg_backward,
};

const struct layer_ops global_average_pooling2d_ops = {
    .class_name = "GlobalAveragePooling2D",
    .base_name = "global_average_pooling2d",
    .args = global_args,
    .n_args = sizeof global_args / sizeof global_args[0],
    .conf_size = sizeof(struct global_conf),
    .defaults = global2d_defaults,
    .build = global_build,
    .forward = avg_forward,
    .backward = avg_backward,
};
