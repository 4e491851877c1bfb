/* What the convolution layers share (conv.c, conv_transpose.c,
 * depthwise_conv.c, separable_conv.c): one configuration struct that every
 * class's argument table points into, Keras's checks of it, the output
 * lengths of keras/utils/conv_utils.py, and im2col / col2im for 1-D and 2-D
 * windows with strides, dilation and zero padding. Owns no memory.
 *
 * Everything is channels-last. A 1-D convolution is a 2-D one with a single
 * row (H = 1, kernel height 1), so one im2col serves both.
 *
 * Cache layout (per batch, shared by the classes): when the activation is
 * not linear, the cache starts with the pre-activation z (B, out_size);
 * scratch (im2col columns, the depthwise result of SeparableConv2D)
 * follows, and last the per-sample bias-gradient sums (B, channels). */
#ifndef NNC_CONV_COMMON_H
#define NNC_CONV_COMMON_H

#include <stddef.h>

#include "../layer.h"

enum conv_padding { CONV_VALID, CONV_SAME, CONV_CAUSAL };

struct conv_conf {
    long filters;                      /* Conv1D/2D, Conv2DTranspose, SeparableConv2D */
    struct int_tuple kernel_size;      /* normalized to `rank` values by conv_validate */
    struct int_tuple strides;
    const char *padding;               /* "valid", "same", "causal" (Conv1D only) */
    struct int_tuple output_padding;   /* Conv2DTranspose; n = 0 is null */
    const char *data_format;           /* "channels_last" */
    struct int_tuple dilation_rate;
    long groups;                       /* only 1 */
    long depth_multiplier;             /* DepthwiseConv2D, SeparableConv2D */
    enum act_kind activation;
    bool use_bias;
    struct initializer kernel_initializer, depthwise_initializer, pointwise_initializer,
        bias_initializer;
    struct regularizer kernel_regularizer, depthwise_regularizer, pointwise_regularizer,
        bias_regularizer, activity_regularizer;
    struct constraint kernel_constraint, depthwise_constraint, pointwise_constraint,
        bias_constraint;
};

/* An argument-table row for a field of struct conv_conf. */
#define CONV_ARG(name, type, flags, choices, later) \
    {#name, type, offsetof(struct conv_conf, name), flags, choices, later}
extern const char *const conv_paddings[];      /* valid, same, causal */
extern const char *const conv_data_formats[];  /* channels_last */
extern const char *const conv_data_formats_later[]; /* channels_first */

/* Keras's defaults for every field (kernel_size 1 until given). */
void conv_defaults(void *conf);
/* Checks and normalizes the shared arguments of a `rank`-D convolution
 * (as Keras's Conv.__init__ and conv_utils.normalize_tuple do): one value
 * or `rank` values for kernel_size, strides and dilation_rate, all
 * positive; strides > 1 not with dilation_rate > 1; groups 1; causal
 * padding only for rank 1; filters and depth_multiplier positive when
 * the class has them. Normalizes the tuples in place (the conf is the
 * layer's own). */
int conv_validate(const struct layer *l, int rank, bool has_filters, bool has_multiplier,
                  const struct spec_node *where, struct diag *d);
enum conv_padding conv_padding_of(const struct conv_conf *c);

/* keras/utils/conv_utils.py conv_output_length: the output length of a
 * convolution, <= 0 when the (dilated) kernel does not fit. */
long conv_output_length(long n, long k, enum conv_padding p, long stride, long dilation);
/* conv_utils.deconv_output_length; output_padding < 0 means None. */
long conv_deconv_length(long n, long k, enum conv_padding p, long output_padding, long stride,
                        long dilation);
/* Zeros before the first element, as TensorFlow pads: same -> half of
 * max((out - 1) * stride + dilated_k - n, 0), rounded down (the odd one goes
 * after); causal -> dilation * (k - 1); valid -> 0. */
size_t conv_pad_before(size_t n, size_t out, size_t k, enum conv_padding p, size_t stride,
                       size_t dilation);

/* One sample's window geometry: the image (H, W, C), the output grid
 * (OH, OW), the kernel (KH, KW) with strides S and dilations D, and PT / PL
 * zeros before the first row / column. Output position (oh, ow), tap
 * (th, tw) reads image row oh*SH + th*DH - PT, column ow*SW + tw*DW - PL. */
struct conv_geom {
    size_t H, W, C;
    size_t OH, OW;
    size_t KH, KW;
    size_t SH, SW, DH, DW;
    size_t PT, PL;
};

/* Fills g for a `rank`-D convolution of the input shape `in` ((steps, C)
 * or (H, W, C)) as Keras computes it; errors (at the layer) when the input
 * has the wrong rank or an output length would be <= 0. */
int conv_geometry(const struct layer *l, int rank, const struct shape *in, struct conv_geom *g,
                  struct diag *d);
/* The output positions and the im2col row length. */
static inline size_t conv_positions(const struct conv_geom *g) { return g->OH * g->OW; }
static inline size_t conv_taps(const struct conv_geom *g) { return g->KH * g->KW; }
/* Whether im2col would copy x unchanged (1x1 kernel, stride 1). */
static inline bool conv_is_pointwise(const struct conv_geom *g)
{
    return g->KH == 1 && g->KW == 1 && g->SH == 1 && g->SW == 1 && g->PT == 0 && g->PL == 0;
}
/* Checks that the per-sample sizes the layer will use do not overflow:
 * positions * taps * C (+ extra). */
int conv_check_sizes(const struct layer *l, const struct conv_geom *g, size_t n_out_channels,
                     struct diag *d);

/* cols (OH*OW, KH*KW*C) of one sample x (H, W, C): row p = oh*OW + ow holds
 * the window at p, tap-major ((th*KW + tw)*C + c), zeros where it overhangs
 * the image. This is the kernel's (KH, KW, C, F) layout as a (KH*KW*C, F)
 * matrix, so z = cols . kernel. */
void conv_im2col(const struct conv_geom *g, const float *x, float *cols);
/* The adjoint: x (H, W, C) += the columns scattered back. */
void conv_col2im(const struct conv_geom *g, const float *cols, float *x);
/* The same over a batch (x: B images, cols: B blocks), in parallel. */
void conv_im2col_batch(const struct conv_geom *g, size_t B, const float *x, float *cols);
void conv_col2im_batch(const struct conv_geom *g, size_t B, const float *cols, float *x);

/* Depthwise convolution (defined in depthwise_conv.c, also used by
 * SeparableConv2D): each of the C channels convolved with its own M
 * filters, output channel c*M + m.  kernel (KH, KW, C, M).
 * z (B, OH, OW, C*M) = the convolution of x (B, H, W, C), written. */
void conv_depthwise_forward(const struct conv_geom *g, size_t M, size_t B, const float *x,
                            const float *kernel, float *z);
/* dx += the input gradient of dz (either may be in the batch), and
 * dkernel += the kernel gradient (NULL: skipped), in parallel. */
void conv_depthwise_backward(const struct conv_geom *g, size_t M, size_t B, const float *x,
                             const float *kernel, const float *dz, float *dx, float *dkernel);

/* Epilogues over B samples of `rows` rows of n values, in parallel:
 * z += bias (per column, when bias is not NULL), then y = f(z) (skipped
 * when f is linear and z == y). */
void conv_bias_activate(enum act_kind f, const float *bias, float *z, float *y, size_t B,
                        size_t rows, size_t n);
/* Backward: dz = f'(z) dy written over z (f not linear; else dz is dy),
 * and, when db is not NULL, db (n) += the column sums of dz, summed per
 * sample into sums (B * n floats of scratch) and then over the samples in
 * order (the result does not depend on the thread count). Returns dz. */
const float *conv_backward_epilogue(enum act_kind f, float *z, const float *y, const float *dy,
                                    float *db, float *sums, size_t B, size_t rows, size_t n);
/* The same two in the calling thread, for B samples (the chunks of a
 * caller's parallel_for): conv_epilogue_forward as conv_bias_activate;
 * conv_epilogue_backward writes dz over z (f not linear) and, when sums
 * is not NULL, each sample's column sums of dz into sums (B * n), and
 * returns dz (z, or dy when f is linear). */
void conv_epilogue_forward(enum act_kind f, const float *bias, float *z, float *y, size_t B,
                           size_t rows, size_t n);
const float *conv_epilogue_backward(enum act_kind f, float *z, const float *y, const float *dy,
                                    float *sums, size_t B, size_t rows, size_t n);
/* s (n) = the column sums of dz (rows, n), row by row. */
void conv_column_sums(const float *dz, size_t rows, size_t n, float *s);

#endif
