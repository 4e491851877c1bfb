/* Conv2DTranspose (keras/layers/convolutional/conv2d_transpose.py): the
 * adjoint of a Conv2D, as tf.nn.conv2d_transpose computes it.
 *   x (B, H, W, C)   kernel (KH, KW, F, C)   bias (F)   y (B, OH, OW, F)
 * OH, OW from conv_utils.deconv_output_length. Seen from the convolution
 * it reverses (image (OH, OW, F) -> grid (H, W), TensorFlow's padding),
 * forward is that convolution's input gradient:
 *   cols (B*H*W, KH*KW*F) = x . kernel^T   (kernel as a (KH*KW*F, C) matrix)
 *   z = bias + col2im(cols)
 * and backward its forward pass and weight gradient:
 *   dcols = im2col(dz);  dkernel += dcols^T x;  dx += dcols . kernel.
 * Cache: [z (B*OH*OW*F) when f is not linear][cols (B*H*W*KH*KW*F)]
 * [bias-gradient sums (B*F)]. */
#include <stdio.h>

#include "../parallel_gemm.h"
#include "conv_common.h"
#include "layers.h"
#include "../parallel.h"

#define A CONV_ARG
static const struct arg_def conv_transpose_args[] = {
    A(filters, ARG_INT, ARG_REQUIRED, NULL, NULL),
    A(kernel_size, ARG_TUPLE, ARG_REQUIRED, NULL, NULL),
    A(strides, ARG_TUPLE, 0, NULL, NULL),
    A(padding, ARG_CHOICE, 0, conv_paddings, NULL),
    A(output_padding, ARG_TUPLE, ARG_NULLABLE, NULL, NULL),
    A(data_format, ARG_CHOICE, 0, conv_data_formats, conv_data_formats_later),
    A(dilation_rate, ARG_TUPLE, 0, NULL, NULL),
    A(activation, ARG_ACTIVATION, 0, NULL, NULL),
    A(use_bias, ARG_BOOL, 0, NULL, NULL),
    A(kernel_initializer, ARG_INITIALIZER, 0, NULL, NULL),
    A(bias_initializer, ARG_INITIALIZER, 0, NULL, NULL),
    A(kernel_regularizer, ARG_REGULARIZER, 0, NULL, NULL),
    A(bias_regularizer, ARG_REGULARIZER, 0, NULL, NULL),
    A(activity_regularizer, ARG_REGULARIZER, 0, NULL, NULL),
    A(kernel_constraint, ARG_CONSTRAINT, 0, NULL, NULL),
    A(bias_constraint, ARG_CONSTRAINT, 0, NULL, NULL),
    /* Keyword-only in Keras (through Conv2D's **kwargs), but in its config. */
    A(groups, ARG_INT, 0, NULL, NULL),
};
#undef A

static int conv_transpose_validate(const struct layer *l, const struct spec_node *where,
                                   struct diag *d)
{
    struct conv_conf *c = l->conf;
    if (conv_validate(l, 2, true, false, where, d) < 0)
        return -1;
    /* keras backend.conv2d_transpose: one dilation rate for both axes. */
    if (c->dilation_rate.v[0] != c->dilation_rate.v[1])
        return spec_error(where, d,
                          "Conv2DTranspose needs the same dilation_rate on both axes, found "
                          "(%ld, %ld)",
                          c->dilation_rate.v[0], c->dilation_rate.v[1]);
    struct int_tuple *op = &c->output_padding;
    if (op->n == 0)
        return 0;
    if (op->n == 1)
        op->v[1] = op->v[0];
    else if (op->n != 2)
        return spec_error(where, d,
                          "Conv2DTranspose output_padding must be null, an integer or a list of "
                          "2 integers");
    op->n = 2;
    for (int i = 0; i < 2; i++)
        if (op->v[i] < 0 || op->v[i] >= c->strides.v[i])
            return spec_error(where, d,
                              "Conv2DTranspose output_padding must be >= 0 and smaller than "
                              "strides, found output_padding (%ld, %ld), strides (%ld, %ld)",
                              op->v[0], op->v[1], c->strides.v[0], c->strides.v[1]);
    return 0;
}

/* The convolution this layer reverses: its image is our output, its grid
 * our input. Fills out (OH, OW, F). */
static int transpose_geometry(const struct layer *l, const struct shape *in, struct conv_geom *g,
                              struct shape *out, struct diag *d)
{
    const struct conv_conf *c = l->conf;
    char a[96], b[96];
    if (in->rank != 3)
        return spec_error(l->where, d,
                          "Conv2DTranspose expects input of shape (None, rows, cols, channels), "
                          "found %s",
                          shape_format(in, a, sizeof a));
    enum conv_padding p = conv_padding_of(c);
    size_t n[2], o[2], pad[2];
    *out = (struct shape){3, {0, 0, (size_t)c->filters}};
    for (int i = 0; i < 2; i++) {
        long k = c->kernel_size.v[i], s = c->strides.v[i], dl = c->dilation_rate.v[i];
        long op = c->output_padding.n ? c->output_padding.v[i] : -1;
        long len = conv_deconv_length((long)in->dim[i], k, p, op, s, dl);
        out->dim[i] = len > 0 ? (size_t)len : 0;
        if (len <= 0)
            return spec_error(l->where, d,
                              "Conv2DTranspose output %s of input %s has a dimension <= 0",
                              shape_format(out, a, sizeof a), shape_format(in, b, sizeof b));
        /* tf.nn.conv2d_transpose refuses an output that the convolution does
         * not map back onto the input (same padding, even kernel, no
         * output_padding). */
        if (conv_output_length(len, k, p, s, dl) != (long)in->dim[i])
            return spec_error(l->where, d,
                              "Conv2DTranspose output %s does not convolve back to the input %s "
                              "(TensorFlow rejects this output_padding)",
                              shape_format(out, a, sizeof a), shape_format(in, b, sizeof b));
        n[i] = (size_t)len;
        o[i] = in->dim[i];
        pad[i] = conv_pad_before(n[i], o[i], (size_t)k, p, (size_t)s, (size_t)dl);
    }
    *g = (struct conv_geom){
        .H = n[0], .W = n[1], .C = (size_t)c->filters, .OH = o[0], .OW = o[1],
        .KH = (size_t)c->kernel_size.v[0], .KW = (size_t)c->kernel_size.v[1],
        .SH = (size_t)c->strides.v[0], .SW = (size_t)c->strides.v[1],
        .DH = (size_t)c->dilation_rate.v[0], .DW = (size_t)c->dilation_rate.v[1],
        .PT = pad[0], .PL = pad[1],
    };
    return 0;
}

static int conv_transpose_build(struct layer *l, const struct shape *in, size_t n_in,
                                struct shape *out, struct diag *d)
{
    const struct conv_conf *c = l->conf;
    struct conv_geom g;
    (void)n_in;
    if (transpose_geometry(l, in, &g, out, d) < 0 || conv_check_sizes(l, &g, in->dim[2], d) < 0)
        return -1;
    struct shape k = {4, {g.KH, g.KW, (size_t)c->filters, in->dim[2]}};
    size_t p = layer_add_param(l, "kernel", &k, &c->kernel_initializer, true);
    if (layer_param_limits(l, p, &c->kernel_regularizer, &c->kernel_constraint, d) < 0)
        return -1;
    if (c->use_bias) {
        struct shape b = {1, {(size_t)c->filters}};
        p = layer_add_param(l, "bias", &b, &c->bias_initializer, true);
        if (layer_param_limits(l, p, &c->bias_regularizer, &c->bias_constraint, d) < 0)
            return -1;
    }
    return 0;
}

static void geometry(const struct layer *l, struct conv_geom *g)
{
    struct diag d;
    struct shape out;
    int rc = transpose_geometry(l, &l->in_shape, g, &out, &d);
    NNC_ASSERT(rc == 0);
}

static size_t conv_transpose_cache(const struct layer *l, const struct shape *in,
                                   const struct shape *out)
{
    const struct conv_conf *c = l->conf;
    struct conv_geom g;
    struct shape o;
    struct diag d;
    if (transpose_geometry(l, in, &g, &o, &d) < 0)
        return 0;
    size_t z = c->activation == ACT_LINEAR ? 0 : shape_size(out);
    return z + conv_positions(&g) * conv_taps(&g) * g.C + g.C;
}

/* Per sample: z = bias (or 0), then z += col2im(cols). */
struct scatter_job {
    const struct conv_geom *g;
    const float *cols, *bias;
    float *z;
};

static void scatter_chunk(void *ctx, size_t b0, size_t b1)
{
    const struct scatter_job *j = ctx;
    const struct conv_geom *g = j->g;
    size_t image = g->H * g->W * g->C, block = conv_positions(g) * conv_taps(g) * g->C;
    for (size_t b = b0; b < b1; b++) {
        float *z = j->z + b * image;
        for (size_t r = 0; r < g->H * g->W; r++)
            for (size_t f = 0; f < g->C; f++)
                z[r * g->C + f] = j->bias ? j->bias[f] : 0.0f;
        conv_col2im(g, j->cols + b * block, z);
    }
}

static void conv_transpose_forward(const struct layer *l, const struct layer_call *c)
{
    const struct conv_conf *cf = l->conf;
    struct conv_geom g;
    geometry(l, &g);
    size_t Cin = l->in_shape.dim[2], KF = conv_taps(&g) * g.C, rows = c->B * conv_positions(&g);
    bool act = cf->activation != ACT_LINEAR;
    float *z = act ? c->cache : c->y;
    float *cols = c->cache + (act ? c->B * shape_size(&l->out_shape) : 0);
    /* cols (B*H*W, KF) = x (B*H*W, Cin) . kernel^T (Cin, KF) */
    gemm_parallel(false, true, rows, KF, Cin, 1.0f, c->x[0], Cin, c->w + l->params[0].offset, Cin,
                  0.0f, cols, KF);
    struct scatter_job j = {&g, cols, cf->use_bias ? c->w + l->params[1].offset : NULL, z};
    parallel_for(c->B, 1, scatter_chunk, &j);
    conv_bias_activate(cf->activation, NULL, z, c->y, c->B, g.H * g.W, g.C);
}

static void conv_transpose_backward(const struct layer *l, const struct layer_call *c)
{
    const struct conv_conf *cf = l->conf;
    struct conv_geom g;
    geometry(l, &g);
    size_t Cin = l->in_shape.dim[2], KF = conv_taps(&g) * g.C, rows = c->B * conv_positions(&g);
    bool act = cf->activation != ACT_LINEAR;
    float *dcols = c->cache + (act ? c->B * shape_size(&l->out_shape) : 0);
    float *db = l->trainable && cf->use_bias ? c->dw + l->params[1].offset : NULL;
    const float *dz = conv_backward_epilogue(cf->activation, c->cache, c->y, c->dy, db,
                                             dcols + rows * KF, c->B, g.H * g.W, g.C);
    conv_im2col_batch(&g, c->B, dz, dcols);
    /* dkernel (KF, Cin) += dcols^T (KF, B*H*W) . x (B*H*W, Cin) */
    if (l->trainable)
        gemm_parallel(true, false, KF, Cin, rows, 1.0f, dcols, KF, c->x[0], Cin, 1.0f,
                      c->dw + l->params[0].offset, Cin);
    /* dx (B*H*W, Cin) += dcols . kernel (KF, Cin) */
    if (c->dx[0])
        gemm_parallel(false, false, rows, Cin, KF, 1.0f, dcols, KF, c->w + l->params[0].offset, Cin,
                      1.0f, c->dx[0], Cin);
}

const struct layer_ops conv2d_transpose_ops = {
    .class_name = "Conv2DTranspose",
    .base_name = "conv2d_transpose",
    .args = conv_transpose_args,
    .n_args = sizeof conv_transpose_args / sizeof conv_transpose_args[0],
    .conf_size = sizeof(struct conv_conf),
    .defaults = conv_defaults,
    .validate = conv_transpose_validate,
    .build = conv_transpose_build,
    .cache_floats = conv_transpose_cache,
    .forward = conv_transpose_forward,
    .backward = conv_transpose_backward,
};
