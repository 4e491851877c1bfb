/* DepthwiseConv2D (keras/layers/convolutional/depthwise_conv2d.py,
 * base_depthwise_conv.py): every input channel convolved on its own with
 * depth_multiplier filters, as tf.nn.depthwise_conv2d.
 *   x (B, H, W, C)   depthwise_kernel (KH, KW, C, M)   bias (C*M)
 *   y (B, OH, OW, C*M), output channel c*M + m
 * Direct loops (a GEMM per channel would be K x M tiny): forward and dx in
 * parallel over the batch, the kernel gradient in parallel over channels.
 * Cache: [z (B*OH*OW*C*M) when the activation is not linear]
 * [bias-gradient sums (B*C*M)]. */
#include "../parallel.h"
#include "../simd.h"
#include "conv_common.h"
#include "layers.h"

/* ---- the depthwise convolution (shared with SeparableConv2D) -------------- */

/* Where tap (th, tw) of output position (oh, ow) reads x: false when it
 * falls on padding (zeros, so the tap is skipped). */
static inline bool tap_at(const struct conv_geom *g, size_t oh, size_t ow, size_t th, size_t tw,
                          size_t *xoff)
{
    size_t r = oh * g->SH + th * g->DH, q = ow * g->SW + tw * g->DW;
    if (r < g->PT || r - g->PT >= g->H || q < g->PL || q - g->PL >= g->W)
        return false;
    *xoff = ((r - g->PT) * g->W + (q - g->PL)) * g->C;
    return true;
}

/* acc[i] += a[i] b[i]: the one-filter-per-channel (depth_multiplier 1)
 * inner loop of all three passes, over a row of channels; restrict, as
 * the three arrays are distinct buffers, lets it vectorize without
 * overlap checks. */
static inline void madd(float *restrict acc, const float *restrict a, const float *restrict b,
                        size_t n)
{
    for (size_t i = 0; i < n; i++)
        acc[i] += a[i] * b[i];
}

struct dw_job {
    const struct conv_geom *g;
    size_t M;
    const float *x, *kernel, *dz;
    float *z, *dx, *dkernel;
    size_t B;
};

SIMD_CLONES static void forward_chunk(void *ctx, size_t b0, size_t b1)
{
    const struct dw_job *j = ctx;
    const struct conv_geom *g = j->g;
    const size_t C = g->C, M = j->M, CM = C * M;
    for (size_t b = b0; b < b1; b++) {
        const float *x = j->x + b * g->H * g->W * C;
        float *z = j->z + b * conv_positions(g) * CM;
        for (size_t oh = 0; oh < g->OH; oh++)
            for (size_t ow = 0; ow < g->OW; ow++) {
                float *zp = z + (oh * g->OW + ow) * CM;
                for (size_t k = 0; k < CM; k++)
                    zp[k] = 0;
                for (size_t th = 0, t = 0; th < g->KH; th++)
                    for (size_t tw = 0; tw < g->KW; tw++, t++) {
                        size_t xo;
                        if (!tap_at(g, oh, ow, th, tw, &xo))
                            continue;
                        const float *xp = x + xo, *wp = j->kernel + t * CM;
                        if (M == 1)
                            madd(zp, xp, wp, C);
                        else
                            for (size_t c = 0; c < C; c++)
                                for (size_t m = 0; m < M; m++)
                                    zp[c * M + m] += xp[c] * wp[c * M + m];
                    }
            }
    }
}

void conv_depthwise_forward(const struct conv_geom *g, size_t M, size_t B, const float *x,
                            const float *kernel, float *z)
{
    struct dw_job j = {.g = g, .M = M, .x = x, .kernel = kernel, .z = z, .B = B};
    parallel_for(B, 1, forward_chunk, &j);
}

/* dx[pixel, c] += sum_m kernel[t, c, m] dz[p, c*M + m], per sample. */
SIMD_CLONES static void input_grad_chunk(void *ctx, size_t b0, size_t b1)
{
    const struct dw_job *j = ctx;
    const struct conv_geom *g = j->g;
    const size_t C = g->C, M = j->M, CM = C * M;
    for (size_t b = b0; b < b1; b++) {
        float *dx = j->dx + b * g->H * g->W * C;
        const float *dz = j->dz + b * conv_positions(g) * CM;
        for (size_t oh = 0; oh < g->OH; oh++)
            for (size_t ow = 0; ow < g->OW; ow++) {
                const float *dzp = dz + (oh * g->OW + ow) * CM;
                for (size_t th = 0, t = 0; th < g->KH; th++)
                    for (size_t tw = 0; tw < g->KW; tw++, t++) {
                        size_t xo;
                        if (!tap_at(g, oh, ow, th, tw, &xo))
                            continue;
                        float *dxp = dx + xo;
                        const float *wp = j->kernel + t * CM;
                        if (M == 1) {
                            madd(dxp, wp, dzp, C);
                            continue;
                        }
                        for (size_t c = 0; c < C; c++) {
                            float s = 0;
                            for (size_t m = 0; m < M; m++)
                                s += wp[c * M + m] * dzp[c * M + m];
                            dxp[c] += s;
                        }
                    }
            }
    }
}

/* dkernel[t, c, m] += sum over samples and positions of x dz, for the
 * channels [c0, c1): each chunk owns its channels, so no two threads add
 * into the same weight and the order of the sums is fixed. */
SIMD_CLONES static void kernel_grad_chunk(void *ctx, size_t c0, size_t c1)
{
    const struct dw_job *j = ctx;
    const struct conv_geom *g = j->g;
    const size_t C = g->C, M = j->M, CM = C * M;
    for (size_t b = 0; b < j->B; b++) {
        const float *x = j->x + b * g->H * g->W * C;
        const float *dz = j->dz + b * conv_positions(g) * CM;
        for (size_t oh = 0; oh < g->OH; oh++)
            for (size_t ow = 0; ow < g->OW; ow++) {
                const float *dzp = dz + (oh * g->OW + ow) * CM;
                for (size_t th = 0, t = 0; th < g->KH; th++)
                    for (size_t tw = 0; tw < g->KW; tw++, t++) {
                        size_t xo;
                        if (!tap_at(g, oh, ow, th, tw, &xo))
                            continue;
                        const float *xp = x + xo;
                        float *dwp = j->dkernel + t * CM;
                        if (M == 1) {
                            madd(dwp + c0, xp + c0, dzp + c0, c1 - c0);
                            continue;
                        }
                        for (size_t c = c0; c < c1; c++)
                            for (size_t m = 0; m < M; m++)
                                dwp[c * M + m] += xp[c] * dzp[c * M + m];
                    }
            }
    }
}

void conv_depthwise_backward(const struct conv_geom *g, size_t M, size_t B, const float *x,
                             const float *kernel, const float *dz, float *dx, float *dkernel)
{
    struct dw_job j = {.g = g, .M = M, .x = x, .kernel = kernel, .dz = dz, .dx = dx,
                       .dkernel = dkernel, .B = B};
    if (dkernel)
        parallel_for(g->C, 1, kernel_grad_chunk, &j);
    if (dx)
        parallel_for(B, 1, input_grad_chunk, &j);
}

/* ---- the layer ---------------------------------------------------------------- */

#define A CONV_ARG
static const struct arg_def depthwise_args[] = {
    A(kernel_size, ARG_TUPLE, ARG_REQUIRED, NULL, NULL),
    A(strides, ARG_TUPLE, 0, NULL, NULL),
    A(padding, ARG_CHOICE, 0, conv_paddings, NULL),
    A(depth_multiplier, ARG_INT, 0, NULL, NULL),
    A(data_format, ARG_CHOICE, 0, conv_data_formats, conv_data_formats_later),
    A(dilation_rate, ARG_TUPLE, 0, NULL, NULL),
    A(activation, ARG_ACTIVATION, 0, NULL, NULL),
    A(use_bias, ARG_BOOL, 0, NULL, NULL),
    A(depthwise_initializer, ARG_INITIALIZER, 0, NULL, NULL),
    A(bias_initializer, ARG_INITIALIZER, 0, NULL, NULL),
    A(depthwise_regularizer, ARG_REGULARIZER, 0, NULL, NULL),
    A(bias_regularizer, ARG_REGULARIZER, 0, NULL, NULL),
    A(activity_regularizer, ARG_REGULARIZER, 0, NULL, NULL),
    A(depthwise_constraint, ARG_CONSTRAINT, 0, NULL, NULL),
    A(bias_constraint, ARG_CONSTRAINT, 0, NULL, NULL),
    /* Keyword-only in Keras (through Conv's **kwargs), but in its config. */
    A(groups, ARG_INT, 0, NULL, NULL),
};
#undef A

static int depthwise_validate(const struct layer *l, const struct spec_node *where,
                              struct diag *d)
{
    return conv_validate(l, 2, false, true, where, d);
}

static int depthwise_build(struct layer *l, const struct shape *in, size_t n_in,
                           struct shape *out, struct diag *d)
{
    const struct conv_conf *c = l->conf;
    struct conv_geom g;
    size_t M = (size_t)c->depth_multiplier, CM;
    (void)n_in;
    if (conv_geometry(l, 2, in, &g, d) < 0)
        return -1;
    if (size_mul(g.C, M, &CM) < 0)
        return spec_error(l->where, d, "DepthwiseConv2D: the convolution is too large");
    if (conv_check_sizes(l, &g, CM, d) < 0)
        return -1;
    *out = (struct shape){3, {g.OH, g.OW, CM}};
    struct shape k = {4, {g.KH, g.KW, g.C, M}};
    size_t p = layer_add_param(l, "depthwise_kernel", &k, &c->depthwise_initializer, true);
    if (layer_param_limits(l, p, &c->depthwise_regularizer, &c->depthwise_constraint, d) < 0)
        return -1;
    if (c->use_bias) {
        struct shape b = {1, {CM}};
        p = layer_add_param(l, "bias", &b, &c->bias_initializer, true);
        if (layer_param_limits(l, p, &c->bias_regularizer, &c->bias_constraint, d) < 0)
            return -1;
    }
    return 0;
}

static size_t depthwise_cache(const struct layer *l, const struct shape *in,
                              const struct shape *out)
{
    const struct conv_conf *c = l->conf;
    return (c->activation == ACT_LINEAR ? 0 : shape_size(out)) + out->dim[2];
}

static void geometry(const struct layer *l, struct conv_geom *g)
{
    struct diag d;
    int rc = conv_geometry(l, 2, &l->in_shape, g, &d);
    NNC_ASSERT(rc == 0);
}

static void depthwise_forward(const struct layer *l, const struct layer_call *c)
{
    const struct conv_conf *cf = l->conf;
    struct conv_geom g;
    geometry(l, &g);
    size_t M = (size_t)cf->depth_multiplier;
    float *z = cf->activation == ACT_LINEAR ? c->y : c->cache;
    conv_depthwise_forward(&g, M, c->B, c->x[0], c->w + l->params[0].offset, z);
    conv_bias_activate(cf->activation, cf->use_bias ? c->w + l->params[1].offset : NULL, z, c->y,
                       c->B, conv_positions(&g), g.C * M);
}

static void depthwise_backward(const struct layer *l, const struct layer_call *c)
{
    const struct conv_conf *cf = l->conf;
    struct conv_geom g;
    geometry(l, &g);
    size_t M = (size_t)cf->depth_multiplier, P = conv_positions(&g);
    float *sums = c->cache + (cf->activation == ACT_LINEAR ? 0 : c->B * P * g.C * M);
    float *db = l->trainable && cf->use_bias ? c->dw + l->params[1].offset : NULL;
    const float *dz = conv_backward_epilogue(cf->activation, c->cache, c->y, c->dy, db, sums,
                                             c->B, P, g.C * M);
    conv_depthwise_backward(&g, M, c->B, c->x[0], c->w + l->params[0].offset, dz, c->dx[0],
                            l->trainable ? c->dw + l->params[0].offset : NULL);
}

const struct layer_ops depthwise_conv2d_ops = {
    .class_name = "DepthwiseConv2D",
    .base_name = "depthwise_conv2d",
    .args = depthwise_args,
    .n_args = sizeof depthwise_args / sizeof depthwise_args[0],
    .conf_size = sizeof(struct conv_conf),
    .defaults = conv_defaults,
    .validate = depthwise_validate,
    .build = depthwise_build,
    .cache_floats = depthwise_cache,
    .forward = depthwise_forward,
    .backward = depthwise_backward,
};
