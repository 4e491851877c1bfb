/* MaxPooling1D/2D and AveragePooling1D/2D, channels_last: each output
 * position reduces a pool_size window of the input, moved by strides
 * (keras/layers/pooling/base_pooling1d.py, base_pooling2d.py).
 *   x (B, H, W, C) -> y (B, OH, OW, C); a 1-D layer is the 2-D one with W = 1.
 * padding 'valid' keeps windows inside the input, OH = (H - ph) / sh + 1;
 * 'same' is TensorFlow's: OH = ceil(H / sh), padded by
 * max((OH - 1) sh + ph - H, 0) of which floor(half) goes on top, the rest at
 * the bottom. Padding never counts: max ignores it and the average divides
 * by the number of real values in the window, as TF's MaxPool/AvgPool do.
 * Max pooling keeps, per output value, the position in its window of the
 * window's first maximum (row-major order) in the cache; backward routes dy
 * there, as TF's MaxPoolGrad does. Average pooling needs no cache. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "pooling.h"

#include "../parallel.h"
#include "../simd.h"
#include "layers.h"

struct pool_conf {
    struct int_tuple pool_size, strides; /* normalized to `dims` values by build */
    const char *padding, *data_format;
    int dims;                            /* 1 or 2, set by defaults (not an argument) */
};

static const char *const paddings[] = {"valid", "same", NULL};
static const char *const data_formats[] = {"channels_last", NULL};
static const char *const data_formats_later[] = {"channels_first", NULL};

#define ARG(name, type, flags, choices, later) \
    {#name, type, offsetof(struct pool_conf, name), flags, choices, later}
static const struct arg_def pool_args[] = {
    ARG(pool_size, ARG_TUPLE, 0, NULL, NULL),
    ARG(strides, ARG_TUPLE, ARG_NULLABLE, NULL, NULL),
    ARG(padding, ARG_CHOICE, 0, paddings, NULL),
    ARG(data_format, ARG_CHOICE, 0, data_formats, data_formats_later),
};

static void pool_defaults(void *conf, int dims)
{
    struct pool_conf *c = conf;
    c->dims = dims;
    c->pool_size.n = dims;
    for (int i = 0; i < dims; i++)
        c->pool_size.v[i] = 2;
    c->strides.n = 0; /* null: pool_size */
    c->padding = paddings[0];
    c->data_format = data_formats[0];
}

static void pool1d_defaults(void *conf) { pool_defaults(conf, 1); }
static void pool2d_defaults(void *conf) { pool_defaults(conf, 2); }

/* A tuple argument holds one value (for every axis) or `dims` values, each
 * a positive integer. */
static int check_tuple(const struct layer *l, const struct spec_node *where,
                       const struct int_tuple *t, const char *name, struct diag *d)
{
    const struct pool_conf *c = l->conf;
    if (t->n != 1 && t->n != c->dims)
        return spec_error(where, d, "%s %s must be %s, found %d values", l->ops->class_name, name,
                          c->dims == 1 ? "one integer" : "an integer or 2 integers", t->n);
    for (int i = 0; i < t->n; i++)
        if (t->v[i] <= 0 || t->v[i] > (1L << 30))
            return spec_error(where, d, "%s %s values must be positive integers, found %ld",
                              l->ops->class_name, name, t->v[i]);
    return 0;
}

static int pool_validate(const struct layer *l, const struct spec_node *where, struct diag *d)
{
    const struct pool_conf *c = l->conf;
    if (check_tuple(l, where, &c->pool_size, "pool_size", d) < 0)
        return -1;
    if (c->strides.n && check_tuple(l, where, &c->strides, "strides", d) < 0)
        return -1;
    return 0;
}

/* For messages: the spatial axis i of a 1-D or 2-D layer. */
static const char *axis_name(int dims, int i)
{
    return dims == 1 ? "steps" : i == 0 ? "rows" : "cols";
}

/* Keras's normalize_tuple: one value stands for every axis. */
static void normalize(struct int_tuple *t, int dims)
{
    for (int i = t->n; i < dims; i++)
        t->v[i] = t->v[0];
    t->n = dims;
}

static int pool_build(struct layer *l, const struct shape *in, size_t n_in, struct shape *out,
                      struct diag *d)
{
    struct pool_conf *c = l->conf;
    char buf[96];
    if (layer_check_spatial_rank(l, &in[0], (int)c->dims, d) < 0)
        return -1;
    /* Keras serializes the normalized tuples, strides = pool_size when null. */
    normalize(&c->pool_size, c->dims);
    if (c->strides.n == 0)
        c->strides = c->pool_size;
    normalize(&c->strides, c->dims);
    *out = in[0];
    bool same = !strcmp(c->padding, "same");
    for (int i = 0; i < c->dims; i++) {
        size_t n = in[0].dim[i], p = (size_t)c->pool_size.v[i], s = (size_t)c->strides.v[i];
        if (!same && p > n)
            return spec_error(l->where, d,
                              "%s pool_size %zu is larger than the input's %zu %s (input %s, "
                              "padding 'valid'): the output would be empty",
                              l->ops->class_name, p, n, axis_name(c->dims, i),
                              shape_format(&in[0], buf, sizeof buf));
        /* conv_utils.conv_output_length */
        out->dim[i] = same ? (n + s - 1) / s : (n - p) / s + 1;
    }
    return 0;
}

/* ---- geometry ------------------------------------------------------------ */

struct pool_geom {
    size_t H, W, C, OH, OW;
    size_t ph, pw, sh, sw;
    size_t top, left; /* padding before; 0 for 'valid' */
};

/* TF's "same": total padding max((out - 1) s + p - n, 0), half of it first. */
static size_t pad_before(size_t n, size_t out, size_t p, size_t s)
{
    size_t need = (out - 1) * s + p;
    return need > n ? (need - n) / 2 : 0;
}

static void pool_geometry(const struct layer *l, struct pool_geom *g)
{
    const struct pool_conf *c = l->conf;
    const struct shape *in = &l->in_shape, *out = &l->out_shape;
    bool two = c->dims == 2;
    g->H = in->dim[0];
    g->W = two ? in->dim[1] : 1;
    g->C = in->dim[c->dims];
    g->OH = out->dim[0];
    g->OW = two ? out->dim[1] : 1;
    g->ph = (size_t)c->pool_size.v[0];
    g->pw = two ? (size_t)c->pool_size.v[1] : 1;
    g->sh = (size_t)c->strides.v[0];
    g->sw = two ? (size_t)c->strides.v[1] : 1;
    g->top = g->left = 0;
    if (!strcmp(c->padding, "same")) {
        g->top = pad_before(g->H, g->OH, g->ph, g->sh);
        g->left = pad_before(g->W, g->OW, g->pw, g->sw);
    }
}

/* The window of output (oh, ow) clipped to the input: rows [*h0, *h1),
 * cols [*w0, *w1); never empty, since the padding before is < pool size. */
static void window(const struct pool_geom *g, size_t oh, size_t ow, size_t *h0, size_t *h1,
                   size_t *w0, size_t *w1)
{
    size_t hs = oh * g->sh, ws = ow * g->sw; /* in padded coordinates */
    *h0 = hs > g->top ? hs - g->top : 0;
    *h1 = hs + g->ph > g->top ? hs + g->ph - g->top : 0;
    *w0 = ws > g->left ? ws - g->left : 0;
    *w1 = ws + g->pw > g->left ? ws + g->pw - g->left : 0;
    if (*h1 > g->H)
        *h1 = g->H;
    if (*w1 > g->W)
        *w1 = g->W;
}

/* ---- the per-sample passes ------------------------------------------------ */

/* The argmax of each output value is kept as its position k in its window
 * (row-major over the window clipped to the input, k < 2^31: sizes are
 * bounded by model_build), as uint32 in the cache's float slots. */
struct pool_job {
    const struct layer_call *c;
    struct pool_geom g;
    size_t in_size, out_size; /* per sample */
    bool assign;              /* backward: dx holds nothing yet */
};

/* The cache slots of output value o (only ever accessed as uint32, so the
 * float storage takes that type). */
static uint32_t *codes_at(float *cache, size_t o) { return (uint32_t *)(void *)(cache + o); }
static const uint32_t *codes_in(const float *cache, size_t o)
{
    return (const uint32_t *)(const void *)(cache + o);
}

/* Window position k folded into the running maxima of all C channels:
 * channels innermost so that the compare-and-selects become vector blends;
 * strict > keeps the first maximum. */
SIMD_CLONES static void max_fold(size_t C, const float *restrict xk, uint32_t k,
                                 float *restrict best, uint32_t *restrict code)
{
    /* The selects as masks: GCC 12 leaves a mixed float/int ?: scalar. */
    for (size_t ch = 0; ch < C; ch++) {
        float v = xk[ch], b = best[ch];
        uint32_t gt = (uint32_t)-(int32_t)(v > b);
        best[ch] = v > b ? v : b;
        code[ch] = (code[ch] & ~gt) | (k & gt);
    }
}

/* dx at window position k += dy where k holds the maximum, else += +0
 * (which leaves every value but -0 as it is): the select as a bit mask on
 * dy, so that it compiles to vector ANDs rather than a branch per value. */
SIMD_CLONES static void max_route(size_t C, const uint32_t *restrict code, uint32_t k,
                                  const float *restrict dy, float *restrict dxk)
{
    for (size_t ch = 0; ch < C; ch++) {
        uint32_t bits, hit = (uint32_t)-(int32_t)(code[ch] == k);
        float d;
        memcpy(&bits, dy + ch, sizeof bits);
        bits &= hit;
        memcpy(&d, &bits, sizeof d);
        dxk[ch] += d;
    }
}

/* dz at window position k += dy where k holds the maximum and the
 * maximum is > 0, else += +0 (max_route with ReLU's mask). */
SIMD_CLONES static void max_route_relu(size_t C, const uint32_t *restrict code, uint32_t k,
                                       const float *restrict y, const float *restrict dy,
                                       float *restrict dzk)
{
    for (size_t ch = 0; ch < C; ch++) {
        uint32_t bits, hit = (uint32_t) - (int32_t)((code[ch] == k) & (y[ch] > 0));
        float d;
        memcpy(&bits, dy + ch, sizeof bits);
        bits &= hit;
        memcpy(&d, &bits, sizeof d);
        dzk[ch] += d;
    }
}

static void max_forward_one(const struct pool_geom *g, const float *x, float *y, float *cache)
{
    size_t C = g->C;
    for (size_t oh = 0; oh < g->OH; oh++)
        for (size_t ow = 0; ow < g->OW; ow++) {
            size_t h0, h1, w0, w1, o = (oh * g->OW + ow) * C;
            window(g, oh, ow, &h0, &h1, &w0, &w1);
            uint32_t *code = codes_at(cache, o);
            memcpy(y + o, x + (h0 * g->W + w0) * C, C * sizeof *y);
            memset(code, 0, C * sizeof *code);
            uint32_t k = 0;
            for (size_t h = h0; h < h1; h++)
                for (size_t w = w0; w < w1; w++, k++)
                    if (k)
                        max_fold(C, x + (h * g->W + w) * C, k, y + o, code);
        }
}

static void max_forward_samples(void *ctx, size_t begin, size_t end)
{
    const struct pool_job *j = ctx;
    for (size_t b = begin; b < end; b++)
        max_forward_one(&j->g, j->c->x[0] + b * j->in_size, j->c->y + b * j->out_size,
                        j->c->cache + b * j->out_size);
}

/* One sample: dx += dy routed to each window's maximum (cleared first
 * when `clear`); with relu_y, only where that maximum y is > 0. Output by
 * output, as the forward pass met them: where windows overlap, an input's
 * gradient adds its outputs' in that order. */
static void max_backward_one(const struct pool_geom *g, const float *dy, const float *cache,
                             const float *relu_y, bool clear, float *dx)
{
    size_t C = g->C;
    if (clear) /* a sample at a time, while in cache */
        memset(dx, 0, g->H * g->W * C * sizeof *dx);
    for (size_t oh = 0; oh < g->OH; oh++)
        for (size_t ow = 0; ow < g->OW; ow++) {
            size_t h0, h1, w0, w1, o = (oh * g->OW + ow) * C;
            window(g, oh, ow, &h0, &h1, &w0, &w1);
            const uint32_t *code = codes_in(cache, o);
            uint32_t k = 0;
            for (size_t h = h0; h < h1; h++)
                for (size_t w = w0; w < w1; w++, k++) {
                    float *dxk = dx + (h * g->W + w) * C;
                    if (relu_y)
                        max_route_relu(C, code, k, relu_y + o, dy + o, dxk);
                    else
                        max_route(C, code, k, dy + o, dxk);
                }
        }
}

static void max_backward_samples(void *ctx, size_t begin, size_t end)
{
    const struct pool_job *j = ctx;
    for (size_t b = begin; b < end; b++)
        max_backward_one(&j->g, j->c->dy + b * j->out_size, j->c->cache + b * j->out_size, NULL,
                         j->assign, j->c->dx[0] + b * j->in_size);
}

static void avg_forward_samples(void *ctx, size_t begin, size_t end)
{
    const struct pool_job *j = ctx;
    const struct pool_geom *g = &j->g;
    size_t C = g->C;
    for (size_t b = begin; b < end; b++) {
        const float *x = j->c->x[0] + b * j->in_size;
        float *y = j->c->y + b * j->out_size;
        for (size_t oh = 0; oh < g->OH; oh++)
            for (size_t ow = 0; ow < g->OW; ow++) {
                size_t h0, h1, w0, w1;
                window(g, oh, ow, &h0, &h1, &w0, &w1);
                float *yo = y + (oh * g->OW + ow) * C;
                for (size_t ch = 0; ch < C; ch++)
                    yo[ch] = 0;
                for (size_t h = h0; h < h1; h++)
                    for (size_t w = w0; w < w1; w++) {
                        const float *xi = x + (h * g->W + w) * C;
                        for (size_t ch = 0; ch < C; ch++)
                            yo[ch] += xi[ch];
                    }
                float inv = 1.0f / (float)((h1 - h0) * (w1 - w0));
                for (size_t ch = 0; ch < C; ch++)
                    yo[ch] *= inv;
            }
    }
}

static void avg_backward_samples(void *ctx, size_t begin, size_t end)
{
    const struct pool_job *j = ctx;
    const struct pool_geom *g = &j->g;
    size_t C = g->C;
    for (size_t b = begin; b < end; b++) {
        const float *dy = j->c->dy + b * j->out_size;
        float *dx = j->c->dx[0] + b * j->in_size;
        if (j->assign)
            memset(dx, 0, j->in_size * sizeof *dx);
        for (size_t oh = 0; oh < g->OH; oh++)
            for (size_t ow = 0; ow < g->OW; ow++) {
                size_t h0, h1, w0, w1;
                window(g, oh, ow, &h0, &h1, &w0, &w1);
                const float *dyo = dy + (oh * g->OW + ow) * C;
                float inv = 1.0f / (float)((h1 - h0) * (w1 - w0));
                for (size_t h = h0; h < h1; h++)
                    for (size_t w = w0; w < w1; w++) {
                        float *dxi = dx + (h * g->W + w) * C;
                        for (size_t ch = 0; ch < C; ch++)
                            dxi[ch] += dyo[ch] * inv;
                    }
            }
    }
}

/* Runs fn over the batch, a few samples per task when samples are small. */
static void pool_run(const struct layer *l, const struct layer_call *c, parallel_fn fn)
{
    struct pool_job j = {.c = c, .assign = layer_dx_assign(c, 0)};
    pool_geometry(l, &j.g);
    j.in_size = shape_size(&l->in_shape);
    j.out_size = shape_size(&l->out_shape);
    size_t work = j.out_size * j.g.ph * j.g.pw;
    parallel_for_samples(c->B, work, fn, &j);
}

bool max_pool_is(const struct layer *l, int dims)
{
    return l->ops == (dims == 1 ? &max_pooling1d_ops : &max_pooling2d_ops);
}

void max_pool_forward_sample(const struct layer *l, const float *x, float *y, float *cache)
{
    struct pool_geom g;
    pool_geometry(l, &g);
    max_forward_one(&g, x, y, cache);
}

void max_pool_relu_backward_sample(const struct layer *l, const float *dy, const float *y,
                                   const float *cache, float *dz)
{
    struct pool_geom g;
    pool_geometry(l, &g);
    max_backward_one(&g, dy, cache, y, true, dz);
}

static size_t max_cache(const struct layer *l, const struct shape *in, const struct shape *out)
{
    return shape_size(out);
}

static void max_forward(const struct layer *l, const struct layer_call *c)
{
    pool_run(l, c, max_forward_samples);
}

static void max_backward(const struct layer *l, const struct layer_call *c)
{
    if (c->dx[0])
        pool_run(l, c, max_backward_samples);
}

static void avg_forward(const struct layer *l, const struct layer_call *c)
{
    pool_run(l, c, avg_forward_samples);
}

static void avg_backward(const struct layer *l, const struct layer_call *c)
{
    if (c->dx[0])
        pool_run(l, c, avg_backward_samples);
}

const struct layer_ops max_pooling1d_ops = {
    .class_name = "MaxPooling1D",
    .base_name = "max_pooling1d",
    .args = pool_args,
    .n_args = sizeof pool_args / sizeof pool_args[0],
    .conf_size = sizeof(struct pool_conf),
    .defaults = pool1d_defaults,
    .validate = pool_validate,
    .build = pool_build,
    .cache_floats = max_cache,
    .forward = max_forward,
    .backward = max_backward,
    .assigns_dx = true,
};

const struct layer_ops max_pooling2d_ops = {
    .class_name = "MaxPooling2D",
    .base_name = "max_pooling2d",
    .args = pool_args,
    .n_args = sizeof pool_args / sizeof pool_args[0],
    .conf_size = sizeof(struct pool_conf),
    .defaults = pool2d_defaults,
    .validate = pool_validate,
    .build = pool_build,
    .cache_floats = max_cache,
    .forward = max_forward,
    .backward = max_backward,
    .assigns_dx = true,
};

const struct layer_ops average_pooling1d_ops = {
    .class_name = "AveragePooling1D",
    .base_name = "average_pooling1d",
    .args = pool_args,
    .n_args = sizeof pool_args / sizeof pool_args[0],
    .conf_size = sizeof(struct pool_conf),
    .defaults = pool1d_defaults,
    .validate = pool_validate,
    .build = pool_build,
    .forward = avg_forward,
    .backward = avg_backward,
    .assigns_dx = true,
};

const struct layer_ops average_pooling2d_ops = {
    .class_name = "AveragePooling2D",
    .base_name = "average_pooling2d",
    .args = pool_args,
    .n_args = sizeof pool_args / sizeof pool_args[0],
    .conf_size = sizeof(struct pool_conf),
    .defaults = pool2d_defaults,
    .validate = pool_validate,
    .build = pool_build,
    .forward = avg_forward,
    .backward = avg_backward,
    .assigns_dx = true,
};
