/* SeparableConv2D (keras/layers/convolutional/separable_conv2d.py,
 * base_separable_conv.py): a depthwise convolution (strides, padding,
 * dilation) followed by a 1x1 convolution that mixes the channels, as
 * tf.nn.separable_conv2d, then bias and activation.
 *   x (B, H, W, C)   depthwise_kernel (KH, KW, C, M)
 *   pointwise_kernel (1, 1, C*M, F)   bias (F)   y (B, OH, OW, F)
 * mid (B*P, C*M) = depthwise(x);  z = mid . pointwise + bias (one GEMM).
 * Backward: dpointwise += mid^T dz; dmid = dz . pointwise^T (over mid);
 * the depthwise backward takes dmid to dx and ddepthwise.
 * Cache: [z (B*P*F) when the activation is not linear][mid (B*P*C*M)]
 * [bias-gradient sums (B*F)]. */

#include "../parallel_gemm.h"
#include "conv_common.h"
#include "layers.h"

#define A CONV_ARG
static const struct arg_def separable_args[] = {
    A(filters, ARG_INT, ARG_REQUIRED, NULL, NULL),
    A(kernel_size, ARG_TUPLE, ARG_REQUIRED, NULL, NULL),
    A(strides, ARG_TUPLE, 0, NULL, NULL),
    A(padding, ARG_CHOICE, 0, conv_paddings, NULL),
    A(data_format, ARG_CHOICE, 0, conv_data_formats, conv_data_formats_later),
    A(dilation_rate, ARG_TUPLE, 0, NULL, NULL),
    A(depth_multiplier, ARG_INT, 0, NULL, NULL),
    A(activation, ARG_ACTIVATION, 0, NULL, NULL),
    A(use_bias, ARG_BOOL, 0, NULL, NULL),
    A(depthwise_initializer, ARG_INITIALIZER, 0, NULL, NULL),
    A(pointwise_initializer, ARG_INITIALIZER, 0, NULL, NULL),
    A(bias_initializer, ARG_INITIALIZER, 0, NULL, NULL),
    A(depthwise_regularizer, ARG_REGULARIZER, 0, NULL, NULL),
    A(pointwise_regularizer, ARG_REGULARIZER, 0, NULL, NULL),
    A(bias_regularizer, ARG_REGULARIZER, 0, NULL, NULL),
    A(activity_regularizer, ARG_REGULARIZER, 0, NULL, NULL),
    A(depthwise_constraint, ARG_CONSTRAINT, 0, NULL, NULL),
    A(pointwise_constraint, ARG_CONSTRAINT, 0, NULL, NULL),
    A(bias_constraint, ARG_CONSTRAINT, 0, NULL, NULL),
    /* In Keras's config (inherited from Conv) but keyword-only; Keras never
     * uses the kernel_* three, and TensorFlow.js refuses them unless null. */
    A(groups, ARG_INT, 0, NULL, NULL),
    A(kernel_initializer, ARG_INITIALIZER, ARG_UNUSED, NULL, NULL),
    A(kernel_regularizer, ARG_REGULARIZER, ARG_UNUSED, NULL, NULL),
    A(kernel_constraint, ARG_CONSTRAINT, ARG_UNUSED, NULL, NULL),
};
#undef A

static int separable_validate(const struct layer *l, const struct spec_node *where,
                              struct diag *d)
{
    return conv_validate(l, 2, true, true, where, d);
}

static int separable_build(struct layer *l, const struct shape *in, size_t n_in,
                           struct shape *out, struct diag *d)
{
    const struct conv_conf *c = l->conf;
    struct conv_geom g;
    size_t M = (size_t)c->depth_multiplier, F = (size_t)c->filters, CM;
    (void)n_in;
    if (conv_geometry(l, 2, in, &g, d) < 0)
        return -1;
    if (size_mul(g.C, M, &CM) < 0)
        return spec_error(l->where, d, "SeparableConv2D: the convolution is too large");
    if (conv_check_sizes(l, &g, CM, d) < 0 || conv_check_sizes(l, &g, F, d) < 0)
        return -1;
    *out = (struct shape){3, {g.OH, g.OW, F}};
    struct shape dk = {4, {g.KH, g.KW, g.C, M}}, pk = {4, {1, 1, CM, F}};
    size_t p = layer_add_param(l, "depthwise_kernel", &dk, &c->depthwise_initializer, true);
    if (layer_param_limits(l, p, &c->depthwise_regularizer, &c->depthwise_constraint, d) < 0)
        return -1;
    p = layer_add_param(l, "pointwise_kernel", &pk, &c->pointwise_initializer, true);
    if (layer_param_limits(l, p, &c->pointwise_regularizer, &c->pointwise_constraint, d) < 0)
        return -1;
    if (c->use_bias) {
        struct shape b = {1, {F}};
        p = layer_add_param(l, "bias", &b, &c->bias_initializer, true);
        if (layer_param_limits(l, p, &c->bias_regularizer, &c->bias_constraint, d) < 0)
            return -1;
    }
    return 0;
}

static void geometry(const struct layer *l, struct conv_geom *g)
{
    struct diag d;
    int rc = conv_geometry(l, 2, &l->in_shape, g, &d);
    NNC_ASSERT(rc == 0);
}

static size_t separable_cache(const struct layer *l, const struct shape *in,
                              const struct shape *out)
{
    const struct conv_conf *c = l->conf;
    struct conv_geom g;
    struct diag d;
    if (conv_geometry(l, 2, in, &g, &d) < 0)
        return 0;
    size_t z = c->activation == ACT_LINEAR ? 0 : shape_size(out);
    return z + conv_positions(&g) * g.C * (size_t)c->depth_multiplier + (size_t)c->filters;
}

static void separable_forward(const struct layer *l, const struct layer_call *c)
{
    const struct conv_conf *cf = l->conf;
    struct conv_geom g;
    geometry(l, &g);
    size_t F = (size_t)cf->filters, CM = g.C * (size_t)cf->depth_multiplier;
    size_t P = conv_positions(&g), rows = c->B * P;
    bool act = cf->activation != ACT_LINEAR;
    float *z = act ? c->cache : c->y, *mid = c->cache + (act ? rows * F : 0);
    conv_depthwise_forward(&g, (size_t)cf->depth_multiplier, c->B, c->x[0],
                           c->w + l->params[0].offset, mid);
    gemm_parallel(false, false, rows, F, CM, 1.0f, mid, CM, c->w + l->params[1].offset, F, 0.0f, z,
                  F);
    conv_bias_activate(cf->activation, cf->use_bias ? c->w + l->params[2].offset : NULL, z, c->y,
                       c->B, P, F);
}

static void separable_backward(const struct layer *l, const struct layer_call *c)
{
    const struct conv_conf *cf = l->conf;
    struct conv_geom g;
    geometry(l, &g);
    size_t F = (size_t)cf->filters, CM = g.C * (size_t)cf->depth_multiplier;
    size_t P = conv_positions(&g), rows = c->B * P;
    bool act = cf->activation != ACT_LINEAR;
    float *mid = c->cache + (act ? rows * F : 0);
    const float *pointwise = c->w + l->params[1].offset;
    float *db = l->trainable && cf->use_bias ? c->dw + l->params[2].offset : NULL;
    const float *dz = conv_backward_epilogue(cf->activation, c->cache, c->y, c->dy, db,
                                             mid + rows * CM, c->B, P, F);
    /* dpointwise (CM, F) += mid^T (CM, B*P) . dz (B*P, F) */
    if (l->trainable)
        gemm_parallel(true, false, CM, F, rows, 1.0f, mid, CM, dz, F, 1.0f,
                      c->dw + l->params[1].offset, F);
    if (!l->trainable && !c->dx[0])
        return;
    /* dmid (B*P, CM) = dz . pointwise^T, over mid (its last use was above). */
    gemm_parallel(false, true, rows, CM, F, 1.0f, dz, F, pointwise, F, 0.0f, mid, CM);
    conv_depthwise_backward(&g, (size_t)cf->depth_multiplier, c->B, c->x[0],
                            c->w + l->params[0].offset, mid, c->dx[0],
                            l->trainable ? c->dw + l->params[0].offset : NULL);
}

const struct layer_ops separable_conv2d_ops = {
    .class_name = "SeparableConv2D",
    .base_name = "separable_conv2d",
    .args = separable_args,
    .n_args = sizeof separable_args / sizeof separable_args[0],
    .conf_size = sizeof(struct conv_conf),
    .defaults = conv_defaults,
    .validate = separable_validate,
    .build = separable_build,
    .cache_floats = separable_cache,
    .forward = separable_forward,
    .backward = separable_backward,
};
