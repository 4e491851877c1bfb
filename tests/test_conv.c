/* The convolution layers (Conv1D, Conv2D, Conv2DTranspose, DepthwiseConv2D,
 * SeparableConv2D): forward against naive direct loops written here (with
 * the expected output sizes and TensorFlow paddings computed by hand),
 * finite-difference gradients of every weight for every class (strided,
 * dilated, same, causal), the layer contracts on conv stacks, output shapes
 * and parameter counts as Keras reports them, and Keras serialization. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/layer.h"
#include "../src/layers/conv_common.h"
#include "../src/model.h"
#include "../src/parallel.h"
#include "../src/rng.h"
#include "fixtures.h"
#include "gradcheck.h"
#include "netcheck.h"

/* ---- naive references ------------------------------------------------------ */

/* One (transposed) convolution in the plainest form. Image sizes are the
 * input's for a convolution and the output's for a transposed one. */
struct ref {
    long H, W, C;       /* input */
    long OH, OW, F;     /* output, by hand */
    long KH, KW, SH, SW, DH, DW;
    long PT, PL;        /* TensorFlow's zeros before row 0 / column 0, by hand */
};

/* y[oh, ow, f] = bias[f] + sum x[oh*SH + th*DH - PT, ow*SW + tw*DW - PL, c] k[th, tw, c, f] */
static void ref_conv(const struct ref *r, const float *x, const float *k, const float *bias,
                     float *y)
{
    for (long oh = 0; oh < r->OH; oh++)
        for (long ow = 0; ow < r->OW; ow++)
            for (long f = 0; f < r->F; f++) {
                double s = bias ? bias[f] : 0;
                for (long th = 0; th < r->KH; th++)
                    for (long tw = 0; tw < r->KW; tw++) {
                        long ih = oh * r->SH + th * r->DH - r->PT;
                        long iw = ow * r->SW + tw * r->DW - r->PL;
                        if (ih < 0 || ih >= r->H || iw < 0 || iw >= r->W)
                            continue;
                        for (long c = 0; c < r->C; c++)
                            s += x[(ih * r->W + iw) * r->C + c] *
                                 k[((th * r->KW + tw) * r->C + c) * r->F + f];
                    }
                y[(oh * r->OW + ow) * r->F + f] = (float)s;
            }
}

/* Transposed: every input pixel (ih, iw) and tap adds x . k[th, tw, f, :]
 * into output (ih*SH + th*DH - PT, iw*SW + tw*DW - PL). */
static void ref_conv_transpose(const struct ref *r, const float *x, const float *k,
                               const float *bias, float *y)
{
    for (long p = 0; p < r->OH * r->OW; p++)
        for (long f = 0; f < r->F; f++)
            y[p * r->F + f] = bias ? bias[f] : 0;
    for (long ih = 0; ih < r->H; ih++)
        for (long iw = 0; iw < r->W; iw++)
            for (long th = 0; th < r->KH; th++)
                for (long tw = 0; tw < r->KW; tw++) {
                    long oh = ih * r->SH + th * r->DH - r->PT, ow = iw * r->SW + tw * r->DW - r->PL;
                    if (oh < 0 || oh >= r->OH || ow < 0 || ow >= r->OW)
                        continue;
                    for (long f = 0; f < r->F; f++) {
                        double s = 0;
                        for (long c = 0; c < r->C; c++)
                            s += x[(ih * r->W + iw) * r->C + c] *
                                 k[((th * r->KW + tw) * r->F + f) * r->C + c];
                        y[(oh * r->OW + ow) * r->F + f] += (float)s;
                    }
                }
}

/* Depthwise with multiplier M: output channel c*M + m (r->F = C*M). */
static void ref_depthwise(const struct ref *r, long M, const float *x, const float *k,
                          const float *bias, float *y)
{
    for (long oh = 0; oh < r->OH; oh++)
        for (long ow = 0; ow < r->OW; ow++)
            for (long c = 0; c < r->C; c++)
                for (long m = 0; m < M; m++) {
                    double s = bias ? bias[c * M + m] : 0;
                    for (long th = 0; th < r->KH; th++)
                        for (long tw = 0; tw < r->KW; tw++) {
                            long ih = oh * r->SH + th * r->DH - r->PT;
                            long iw = ow * r->SW + tw * r->DW - r->PL;
                            if (ih >= 0 && ih < r->H && iw >= 0 && iw < r->W)
                                s += x[(ih * r->W + iw) * r->C + c] *
                                     k[((th * r->KW + tw) * r->C + c) * M + m];
                        }
                    y[(oh * r->OW + ow) * r->C * M + c * M + m] = (float)s;
                }
}

/* ---- forward against the references ---------------------------------------- */

enum kind { K_CONV, K_TRANSPOSE, K_DEPTHWISE, K_SEPARABLE };

struct fwd_case {
    const char *layer;  /* the YAML of the one layer (input_shape included) */
    enum kind kind;
    struct ref r;
    long M;             /* depth multiplier */
    long F;             /* SeparableConv2D filters (r.F is C*M there) */
};

static const struct fwd_case fwd_cases[] = {
    /* valid, non-square kernel, strides (2, 1): OH = ceil((7-3+1)/2) = 3, OW = 5. */
    {"Conv2D: {filters: 3, kernel_size: [3, 2], strides: [2, 1], input_shape: [7, 6, 2]}",
     K_CONV,
     {7, 6, 2, 3, 5, 3, 3, 2, 2, 1, 1, 1, 0, 0},
     1,
     0},
    /* same, strides 2 on 6x5: 3x3; rows pad (2*2+3-6)=1 -> 0 before, 1 after;
     * cols pad (2*2+3-5)=2 -> 1 before. */
    {"Conv2D: {filters: 4, kernel_size: 3, strides: 2, padding: same, input_shape: [6, 5, 2]}",
     K_CONV,
     {6, 5, 2, 3, 3, 4, 3, 3, 2, 2, 1, 1, 0, 1},
     1,
     0},
    /* same with an even kernel: pad 3 = 1 before + 2 after. */
    {"Conv2D: {filters: 2, kernel_size: 4, padding: same, input_shape: [5, 5, 1]}",
     K_CONV,
     {5, 5, 1, 5, 5, 2, 4, 4, 1, 1, 1, 1, 1, 1},
     1,
     0},
    /* same, 3x3 taps of 7 channels: window rows of 21 floats (longer than
     * im2col's fixed-length copies), a zero column on either side. */
    {"Conv2D: {filters: 3, kernel_size: 3, padding: same, input_shape: [4, 6, 7]}",
     K_CONV,
     {4, 6, 7, 4, 6, 3, 3, 3, 1, 1, 1, 1, 1, 1},
     1,
     0},
    /* valid, strides 3 over 3 taps of 3 channels: fixed-length rows of 9
     * floats, 9 apart. */
    {"Conv2D: {filters: 2, kernel_size: 3, strides: [1, 3], input_shape: [4, 11, 3]}",
     K_CONV,
     {4, 11, 3, 2, 3, 2, 3, 3, 1, 3, 1, 1, 0, 0},
     1,
     0},
    /* 3x3, stride 1, 32 channels and filters or more: Winograd's F(2x2, 3x3)
     * (conv_winograd.c). valid, 4x5 out: the last column of tiles half
     * outside the output, and reading past the image's last column. */
    {"Conv2D: {filters: 32, kernel_size: 3, input_shape: [6, 7, 32]}",
     K_CONV,
     {6, 7, 32, 4, 5, 32, 3, 3, 1, 1, 1, 1, 0, 0},
     1,
     0},
    /* same: every tile on the border overhangs the image; channel counts
     * that are no multiple of a vector */
    {"Conv2D: {filters: 33, kernel_size: 3, padding: same, input_shape: [5, 4, 35]}",
     K_CONV,
     {5, 4, 35, 5, 4, 33, 3, 3, 1, 1, 1, 1, 1, 1},
     1,
     0},
    /* same on an image smaller than one tile */
    {"Conv2D: {filters: 32, kernel_size: 3, padding: same, use_bias: false, "
     "input_shape: [1, 2, 32]}",
     K_CONV,
     {1, 2, 32, 1, 2, 32, 3, 3, 1, 1, 1, 1, 1, 1},
     1,
     0},
    /* dilation 2, valid: dilated kernel 5 -> 3x4. */
    {"Conv2D: {filters: 2, kernel_size: 3, dilation_rate: 2, input_shape: [7, 8, 3]}",
     K_CONV,
     {7, 8, 3, 3, 4, 2, 3, 3, 1, 1, 2, 2, 0, 0},
     1,
     0},
    /* dilation 2, same, kernel (2, 3): dilated (3, 5), pads 2 -> 1 and 4 -> 2. */
    {"Conv2D: {filters: 3, kernel_size: [2, 3], dilation_rate: 2, padding: same, "
     "input_shape: [5, 6, 2]}",
     K_CONV,
     {5, 6, 2, 5, 6, 3, 2, 3, 1, 1, 2, 2, 1, 2},
     1,
     0},
    /* 1x1 stride 1: x is the im2col matrix. */
    {"Conv2D: {filters: 4, kernel_size: 1, input_shape: [4, 3, 5]}",
     K_CONV,
     {4, 3, 5, 4, 3, 4, 1, 1, 1, 1, 1, 1, 0, 0},
     1,
     0},
    /* 1x1 stride 2 goes through im2col. */
    {"Conv2D: {filters: 2, kernel_size: 1, strides: 2, use_bias: false, input_shape: [5, 5, 3]}",
     K_CONV,
     {5, 5, 3, 3, 3, 2, 1, 1, 2, 2, 1, 1, 0, 0},
     1,
     0},
    /* Conv1D causal, dilation 2: 4 zeros on the left, 9 steps out. */
    {"Conv1D: {filters: 3, kernel_size: 3, padding: causal, dilation_rate: 2, "
     "input_shape: [9, 2]}",
     K_CONV,
     {1, 9, 2, 1, 9, 3, 1, 3, 1, 1, 1, 2, 0, 4},
     1,
     0},
    /* Conv1D valid, strides 3: ceil((10-2+1)/3) = 3. */
    {"Input: {shape: [10, 3]}\n  - Conv1D: [2, 2, 3, valid, channels_last, 1, 1, null, true]",
     K_CONV,
     {1, 10, 3, 1, 3, 2, 1, 2, 1, 3, 1, 1, 0, 0},
     1,
     0},
    /* Conv1D same, even kernel: pad 3 = 1 + 2. */
    {"Conv1D: {filters: 2, kernel_size: 4, padding: same, input_shape: [6, 1]}",
     K_CONV,
     {1, 6, 1, 1, 6, 2, 1, 4, 1, 1, 1, 1, 0, 1},
     1,
     0},
    /* Transposed, strides 2, valid: 3*2 + (3-2) = 7, 4*2 + 1 = 9. */
    {"Conv2DTranspose: {filters: 3, kernel_size: 3, strides: 2, input_shape: [3, 4, 2]}",
     K_TRANSPOSE,
     {3, 4, 2, 7, 9, 3, 3, 3, 2, 2, 1, 1, 0, 0},
     1,
     0},
    /* Transposed, strides 2, same: 6x6, pad max(2*2+3-6, 0) = 1 -> 0 before. */
    {"Conv2DTranspose: {filters: 2, kernel_size: 3, strides: 2, padding: same, "
     "input_shape: [3, 3, 2]}",
     K_TRANSPOSE,
     {3, 3, 2, 6, 6, 2, 3, 3, 2, 2, 1, 1, 0, 0},
     1,
     0},
    /* output_padding 1, valid: 2*2 + 3 + 1 = 8. */
    {"Conv2DTranspose: {filters: 2, kernel_size: 3, strides: 2, output_padding: 1, "
     "input_shape: [3, 3, 1]}",
     K_TRANSPOSE,
     {3, 3, 1, 8, 8, 2, 3, 3, 2, 2, 1, 1, 0, 0},
     1,
     0},
    /* output_padding 2, same, kernel 4, strides 3 on 2x3: (2-1)*3 + 4 - 4 + 2 = 5
     * and 8; pads (3+4-5)=2 -> 1 and (6+4-8)=2 -> 1. */
    {"Conv2DTranspose: {filters: 2, kernel_size: 4, strides: 3, padding: same, "
     "output_padding: 2, input_shape: [2, 3, 2]}",
     K_TRANSPOSE,
     {2, 3, 2, 5, 8, 2, 4, 4, 3, 3, 1, 1, 1, 1},
     1,
     0},
    /* dilation 2, same: 4x4, pad (3 + 5 - 4) = 4 -> 2 before. */
    {"Conv2DTranspose: {filters: 2, kernel_size: 3, dilation_rate: 2, padding: same, "
     "input_shape: [4, 4, 1]}",
     K_TRANSPOSE,
     {4, 4, 1, 4, 4, 2, 3, 3, 1, 1, 2, 2, 2, 2},
     1,
     0},
    /* Depthwise, multiplier 2, strides 2, same on 5x6: 3x3, pads 2 -> 1, 1 -> 0. */
    {"DepthwiseConv2D: {kernel_size: 3, strides: 2, padding: same, depth_multiplier: 2, "
     "input_shape: [5, 6, 3]}",
     K_DEPTHWISE,
     {5, 6, 3, 3, 3, 6, 3, 3, 2, 2, 1, 1, 1, 0},
     2,
     0},
    /* Depthwise, dilation 2, valid, kernel (2, 3): dilated (3, 5) -> 3x2. */
    {"DepthwiseConv2D: {kernel_size: [2, 3], dilation_rate: 2, input_shape: [5, 6, 2]}",
     K_DEPTHWISE,
     {5, 6, 2, 3, 2, 2, 2, 3, 1, 1, 2, 2, 0, 0},
     1,
     0},
    /* Separable: depthwise (multiplier 2, same) then 1x1 to 4 filters. */
    {"SeparableConv2D: {filters: 4, kernel_size: 3, padding: same, depth_multiplier: 2, "
     "input_shape: [5, 5, 3]}",
     K_SEPARABLE,
     {5, 5, 3, 5, 5, 6, 3, 3, 1, 1, 1, 1, 1, 1},
     2,
     4},
    /* Separable, strides 2, valid, kernel (3, 2). */
    {"SeparableConv2D: {filters: 3, kernel_size: [3, 2], strides: 2, input_shape: [7, 6, 2]}",
     K_SEPARABLE,
     {7, 6, 2, 3, 3, 2, 3, 2, 2, 2, 1, 1, 0, 0},
     1,
     3},
};

START_TEST(test_forward_reference)
{
    const struct fwd_case *fc = &fwd_cases[_i];
    enum { B = 2 };
    char yaml[512];
    snprintf(yaml, sizeof yaml, "layers:\n  - %s\ncompile: {loss: mse}\n", fc->layer);
    struct net n;
    net_load(&n, yaml);
    model_workspace(&n.m, B);
    struct rng rg;
    rng_seed(&rg, 1);
    model_init_weights(&n.m, &rg);
    gc_fill_uniform(n.m.w, n.m.n_weights, -1, 1, 3 + (unsigned)_i);
    const struct layer *l = &n.m.layers[1];
    const float *k = n.m.w + l->params[0].offset;
    const struct ref *r = &fc->r;
    size_t in = (size_t)(r->H * r->W * r->C);
    ck_assert_uint_eq(model_input_size(&n.m), in);
    long out_c = fc->kind == K_SEPARABLE ? fc->F : r->F;
    size_t out = (size_t)(r->OH * r->OW * out_c);
    ck_assert_msg(model_output_size(&n.m) == out, "case %d: output %zu, want %zu", _i,
                  model_output_size(&n.m), out);
    gc_fill_uniform(model_input(&n.m), B * in, -1, 1, 100 + (unsigned)_i);
    model_forward(&n.m, B, false, NULL);

    float *want = malloc(out * sizeof *want), *mid = malloc((size_t)(r->OH * r->OW * r->F) * sizeof *mid);
    ck_assert_ptr_nonnull(want);
    ck_assert_ptr_nonnull(mid);
    for (size_t b = 0; b < B; b++) {
        const float *x = model_input(&n.m) + b * in;
        const float *bias = l->n_params > 1 && !strcmp(l->params[l->n_params - 1].name, "bias")
                                ? n.m.w + l->params[l->n_params - 1].offset
                                : NULL;
        switch (fc->kind) {
        case K_CONV: ref_conv(r, x, k, bias, want); break;
        case K_TRANSPOSE: ref_conv_transpose(r, x, k, bias, want); break;
        case K_DEPTHWISE: ref_depthwise(r, fc->M, x, k, bias, want); break;
        case K_SEPARABLE: {
            ref_depthwise(r, fc->M, x, k, NULL, mid);
            /* the pointwise step is a 1x1 convolution of mid */
            struct ref p = {r->OH, r->OW, r->F, r->OH, r->OW, fc->F, 1, 1, 1, 1, 1, 1, 0, 0};
            ref_conv(&p, mid, n.m.w + l->params[1].offset, bias, want);
            break;
        }
        }
        const float *y = n.m.output->y + b * out;
        for (size_t i = 0; i < out; i++)
            ck_assert_msg(fabsf(y[i] - want[i]) <= 1e-5f * (1 + fabsf(want[i])),
                          "case %d (%s) sample %zu y[%zu] = %.7g, want %.7g", _i, fc->layer, b, i,
                          y[i], want[i]);
    }
    free(want), free(mid);
    net_free(&n);
}
END_TEST

/* The activation is applied to conv + bias, and Keras's weight names. */
START_TEST(test_forward_activation_names)
{
    struct net n;
    net_load(&n, "layers:\n"
                 "  - Conv2D: {filters: 2, kernel_size: 2, activation: relu, input_shape: [3, 3, 1]}\n"
                 "compile: {loss: mse}\n");
    model_workspace(&n.m, 1);
    struct rng rg;
    rng_seed(&rg, 1);
    model_init_weights(&n.m, &rg);
    float *w = n.m.w;
    const struct layer *l = &n.m.layers[1];
    ck_assert_str_eq(l->params[0].name, "kernel");
    ck_assert_str_eq(l->params[1].name, "bias");
    /* kernel (2, 2, 1, 2): filter 0 sums the window, filter 1 its negation */
    for (int t = 0; t < 4; t++) {
        w[l->params[0].offset + 2 * t] = 1;
        w[l->params[0].offset + 2 * t + 1] = -1;
    }
    w[l->params[1].offset] = 0.5f;
    w[l->params[1].offset + 1] = 0.25f;
    float *x = model_input(&n.m);
    for (int i = 0; i < 9; i++)
        x[i] = (float)i; /* 0 1 2 / 3 4 5 / 6 7 8 */
    model_forward(&n.m, 1, false, NULL);
    const float want[8] = {8.5f, 0, 12.5f, 0, 20.5f, 0, 24.5f, 0};
    for (int i = 0; i < 8; i++)
        ck_assert_float_eq(n.m.output->y[i], want[i]);
    net_free(&n);

    static const struct {
        const char *layer, *names[3];
    } cases[] = {
        {"Conv1D: {filters: 2, kernel_size: 2, input_shape: [4, 3]}", {"kernel", "bias", NULL}},
        {"Conv2DTranspose: {filters: 2, kernel_size: 2, use_bias: false, input_shape: [4, 4, 3]}",
         {"kernel", NULL, NULL}},
        {"DepthwiseConv2D: {kernel_size: 2, input_shape: [4, 4, 3]}",
         {"depthwise_kernel", "bias", NULL}},
        {"SeparableConv2D: {filters: 2, kernel_size: 2, input_shape: [4, 4, 3]}",
         {"depthwise_kernel", "pointwise_kernel", "bias"}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char yaml[256];
        snprintf(yaml, sizeof yaml, "layers:\n  - %s\ncompile: {loss: mse}\n", cases[c].layer);
        net_load(&n, yaml);
        const struct layer *lc = &n.m.layers[1];
        size_t k = 0;
        for (; k < 3 && cases[c].names[k]; k++)
            ck_assert_str_eq(lc->params[k].name, cases[c].names[k]);
        ck_assert_uint_eq(lc->n_params, k);
        net_free(&n);
    }
}
END_TEST

/* ---- gradients ------------------------------------------------------------------ */

static bool is_conv(const struct layer *l)
{
    static const char *const names[] = {"Conv1D", "Conv2D", "Conv2DTranspose", "DepthwiseConv2D",
                                        "SeparableConv2D"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(l->ops->class_name, names[i]))
            return true;
    return false;
}

/* A conv layer's pre-activation z must stay away from its activation's
 * kinks. The layers keep z at the start of the cache (conv_common.h), but
 * Conv1D/Conv2D keep none for ReLU (its gradient is read off y), so for
 * those the forward pass is run again with the activation linear, which
 * makes y the pre-activation, and then restored. */
static bool kinked(enum act_kind f)
{
    switch (f) {
    case ACT_RELU: case ACT_ELU: case ACT_SELU: case ACT_RELU6: case ACT_LEAKY_RELU:
    case ACT_HARD_SIGMOID: return true;
    default: return false; /* smooth, or linear (no z kept) */
    }
}

static bool z_not_kept(const struct layer *l, enum act_kind f)
{
    return f == ACT_RELU &&
           (!strcmp(l->ops->class_name, "Conv1D") || !strcmp(l->ops->class_name, "Conv2D"));
}

static double conv_margin(struct net *n)
{
    double best = INFINITY;
    bool flipped[64] = {false}, rerun = false;
    ck_assert_uint_le(n->m.n_nodes, 64);
    for (size_t i = 1; i < n->m.n_nodes; i++) {
        const struct node *nd = &n->m.nodes[i];
        if (!is_conv(nd->layer))
            continue;
        struct conv_conf *cf = nd->layer->conf;
        /* The flip below would leave an absorbed pooling's input unwritten:
         * such pairs are checked against their separate run instead
         * (test_absorbed_pool). */
        ck_assert(!nd->absorbs);
        if (z_not_kept(nd->layer, cf->activation)) {
            cf->activation = ACT_LINEAR;
            flipped[i] = rerun = true;
        } else if (kinked(cf->activation)) {
            best = fmin(best, dist_to_kinks(nd->cache, n->B * shape_size(&nd->out)));
        }
    }
    if (!rerun)
        return best;
    forward_loss(n);
    for (size_t i = 1; i < n->m.n_nodes; i++) {
        const struct node *nd = &n->m.nodes[i];
        if (!flipped[i])
            continue;
        best = fmin(best, dist_to_kinks(nd->y, n->B * shape_size(&nd->out)));
        ((struct conv_conf *)nd->layer->conf)->activation = ACT_RELU;
    }
    forward_loss(n);
    return best;
}

/* Each conv sits after a Dense (whose weights then check the conv's dx)
 * and before Flatten + Dense. */
static const struct {
    const char *input, *layer;
} grad_cases[] = {
    {"[5, 4, 2]", "Conv2D: {filters: 3, kernel_size: [3, 2], strides: 2, padding: same, "
                  "activation: tanh}"},
    {"[6, 6, 2]", "Conv2D: {filters: 2, kernel_size: 2, dilation_rate: 2, activation: relu}"},
    {"[5, 5, 2]", "Conv2D: {filters: 2, kernel_size: 4, padding: same, use_bias: false}"},
    {"[3, 4, 3]", "Conv2D: {filters: 2, kernel_size: 1, activation: sigmoid}"},
    {"[6, 3]", "Conv1D: {filters: 3, kernel_size: 3, padding: causal, dilation_rate: 2, "
               "activation: tanh}"},
    {"[7, 2]", "Conv1D: {filters: 2, kernel_size: 2, strides: 2, padding: same}"},
    /* Columns no wider than the output (kept for the batch, conv.c), with
     * ReLU (no z kept): */
    {"[5, 5, 1]", "Conv2D: {filters: 4, kernel_size: 2, activation: relu}"},
    {"[6, 1]", "Conv1D: {filters: 3, kernel_size: 2, padding: same, activation: relu}"},
    {"[5, 5, 2]", "Conv2D: {filters: 3, kernel_size: 2, use_bias: false, activation: relu}"},
    {"[3, 3, 2]", "Conv2DTranspose: {filters: 2, kernel_size: 3, strides: 2, padding: same, "
                  "activation: tanh}"},
    {"[2, 3, 2]", "Conv2DTranspose: {filters: 2, kernel_size: [2, 3], strides: 2, "
                  "output_padding: 1}"},
    {"[3, 3, 1]", "Conv2DTranspose: {filters: 2, kernel_size: 2, dilation_rate: 2, "
                  "activation: relu}"},
    {"[5, 6, 2]", "DepthwiseConv2D: {kernel_size: 3, strides: 2, padding: same, "
                  "depth_multiplier: 2, activation: tanh}"},
    {"[5, 5, 2]", "DepthwiseConv2D: {kernel_size: [2, 3], dilation_rate: 2, activation: relu}"},
    {"[5, 5, 2]", "SeparableConv2D: {filters: 3, kernel_size: 3, strides: 2, padding: same, "
                  "depth_multiplier: 2, activation: relu}"},
    {"[6, 5, 2]", "SeparableConv2D: {filters: 2, kernel_size: 2, dilation_rate: 2, "
                  "use_bias: false}"},
    /* Penalties and activity regularization through a convolution. */
    {"[4, 4, 2]", "Conv2D: {filters: 2, kernel_size: 2, kernel_regularizer: l2, "
                  "bias_regularizer: {l1: 0.01}, activity_regularizer: {l2: 0.01}, "
                  "activation: tanh}"},
    {"[4, 4, 2]", "SeparableConv2D: {filters: 2, kernel_size: 2, depthwise_regularizer: l2, "
                  "pointwise_regularizer: l1, activation: tanh}"},
};

START_TEST(test_gradients)
{
    char yaml[768];
    snprintf(yaml, sizeof yaml,
             "layers:\n"
             "  - Dense: {units: 2, input_shape: %s}\n"
             "  - %s\n"
             "  - Flatten\n"
             "  - Dense: {units: 3, activation: tanh}\n"
             "compile: {loss: mse}\n",
             grad_cases[_i].input, grad_cases[_i].layer);
    check_model_margin(yaml, 2, false, conv_margin, grad_cases[_i].layer);
}
END_TEST

/* Stacks, conv first (no layer before it to take dx). */
static const char *const stack2d =
    "layers:\n"
    "  - Conv2D: {filters: 3, kernel_size: 3, padding: same, activation: tanh, "
    "input_shape: [6, 6, 2]}\n"
    "  - DepthwiseConv2D: {kernel_size: 2, strides: 2, depth_multiplier: 2, activation: sigmoid}\n"
    "  - SeparableConv2D: {filters: 2, kernel_size: 2, padding: same, activation: tanh}\n"
    "  - Conv2DTranspose: {filters: 2, kernel_size: 3, strides: 2, padding: same}\n"
    "  - Conv2D: {filters: 2, kernel_size: 1}\n"
    "  - Flatten\n"
    "  - Dense: {units: 3, activation: softmax}\n"
    "compile: {loss: categorical_crossentropy}\n";
static const char *const stack1d =
    "layers:\n"
    "  - Conv1D: {filters: 4, kernel_size: 3, padding: causal, activation: relu, "
    "input_shape: [8, 3]}\n"
    "  - Conv1D: {filters: 3, kernel_size: 2, strides: 2, activation: tanh}\n"
    "  - Flatten\n"
    "  - Dense: {units: 1, activation: sigmoid}\n"
    "compile: {loss: binary_crossentropy}\n";

/* Winograd's forward and kernel gradient (32 channels in and out, 3x3,
 * stride 1); the Dense before gives the convolution 32 channels. */
START_TEST(test_winograd_gradients)
{
    static const char *const yaml =
        "layers:\n"
        "  - Dense: {units: 32, input_shape: [5, 4, 2]}\n"
        "  - Conv2D: {filters: 32, kernel_size: 3, padding: same, activation: tanh}\n"
        "  - Conv2D: {filters: 32, kernel_size: 3, activation: sigmoid}\n"
        "  - Flatten\n"
        "  - Dense: {units: 3, activation: tanh}\n"
        "compile: {loss: mse}\n";
    check_model_margin(yaml, 2, false, conv_margin, "winograd");
}
END_TEST

START_TEST(test_stack_gradients)
{
    check_model_margin(stack2d, 2, false, conv_margin, "2-D stack");
    check_model_margin(stack1d, 3, false, conv_margin, "1-D stack");
}
END_TEST

/* Samples large enough that conv.c goes through a chunk in several blocks
 * (22 x 22 positions x (2 filters + 72 column values) ~ 36k floats a
 * sample: 7 samples a block), the columns made again per block in
 * backward and ReLU's dz in the chunk's first block, over one thread's
 * chunk of 15 samples and over three: the batch's outputs and gradients
 * equal those of the samples one at a time (one block each). Too many
 * pre-activations to keep them all away from ReLU's kink for finite
 * differences. */
START_TEST(test_block_gradients)
{
    static const char *const big =
        "layers:\n"
        "  - Dense: {units: 8, activation: tanh, input_shape: [24, 24, 3]}\n"
        "  - Conv2D: {filters: 2, kernel_size: 3, activation: relu}\n"
        "  - GlobalAveragePooling2D\n"
        "  - Dense: {units: 2, activation: softmax}\n"
        "compile: {loss: categorical_crossentropy}\n";
    /* Winograd's blocks: 16 tiles x (32 + 32) x 16 ~ 17k floats a
     * sample, 3 samples a block */
    static const char *const wide =
        "layers:\n"
        "  - Dense: {units: 32, activation: tanh, input_shape: [10, 10, 2]}\n"
        "  - Conv2D: {filters: 32, kernel_size: 3, activation: relu}\n"
        "  - GlobalAveragePooling2D\n"
        "  - Dense: {units: 2, activation: softmax}\n"
        "compile: {loss: categorical_crossentropy}\n";
    check_batch_equals_singles_margin(big, 15, 0, "blocks, 1 thread");
    check_batch_equals_singles_margin(wide, 15, 0, "winograd blocks, 1 thread");
    parallel_set_threads(3);
    check_batch_equals_singles_margin(big, 15, 0, "blocks, 3 threads");
    check_batch_equals_singles_margin(wide, 15, 0, "winograd blocks, 3 threads");
    parallel_set_threads(1);
}
END_TEST

/* ---- a ReLU convolution absorbing the max pooling after it ---------------------- */

/* Each with a layer before the convolution, so that its input gradient
 * reaches a weight (the first Dense's). B samples. */
static const struct {
    const char *yaml;
    size_t B;
} absorbed_cases[] = {
    {"layers:\n"
     "  - Dense: {units: 3, activation: tanh, input_shape: [10, 10, 2]}\n"
     "  - Conv2D: {filters: 4, kernel_size: 3, activation: relu}\n"
     "  - MaxPooling2D: {pool_size: 2}\n"
     "  - Flatten\n"
     "  - Dense: {units: 3, activation: softmax}\n"
     "compile: {loss: categorical_crossentropy}\n",
     5},
    /* overlapping windows, 'same' padding on both layers */
    {"layers:\n"
     "  - Dense: {units: 2, activation: tanh, input_shape: [7, 6, 2]}\n"
     "  - Conv2D: {filters: 3, kernel_size: 2, padding: same, activation: relu}\n"
     "  - MaxPooling2D: {pool_size: 3, strides: 2, padding: same}\n"
     "  - Flatten\n"
     "  - Dense: {units: 2}\n"
     "compile: {loss: mse}\n",
     4},
    /* no bias, uneven pool and strides; the pooling is the model's output */
    {"layers:\n"
     "  - Dense: {units: 2, activation: tanh, input_shape: [8, 9, 3]}\n"
     "  - Conv2D: {filters: 3, kernel_size: [2, 3], use_bias: false, activation: relu}\n"
     "  - MaxPooling2D: {pool_size: [2, 3], strides: [1, 2]}\n"
     "compile: {loss: mse}\n",
     3},
    /* 1-D, causal, overlapping */
    {"layers:\n"
     "  - Dense: {units: 3, activation: tanh, input_shape: [12, 2]}\n"
     "  - Conv1D: {filters: 4, kernel_size: 3, padding: causal, activation: relu}\n"
     "  - MaxPooling1D: {pool_size: 3, strides: 2}\n"
     "  - Flatten\n"
     "  - Dense: {units: 1, activation: sigmoid}\n"
     "compile: {loss: binary_crossentropy}\n",
     6},
    /* Winograd's forward and kernel gradient, 'same' */
    {"layers:\n"
     "  - Dense: {units: 32, activation: tanh, input_shape: [9, 8, 2]}\n"
     "  - Conv2D: {filters: 32, kernel_size: 3, padding: same, activation: relu}\n"
     "  - MaxPooling2D: {pool_size: 2}\n"
     "  - Flatten\n"
     "  - Dense: {units: 3, activation: softmax}\n"
     "compile: {loss: categorical_crossentropy}\n",
     5},
    /* several blocks a chunk (about 7 samples a block, see test_block_gradients) */
    {"layers:\n"
     "  - Dense: {units: 8, activation: tanh, input_shape: [24, 24, 3]}\n"
     "  - Conv2D: {filters: 2, kernel_size: 3, activation: relu}\n"
     "  - MaxPooling2D: {pool_size: 2}\n"
     "  - Flatten\n"
     "  - Dense: {units: 2, activation: softmax}\n"
     "compile: {loss: categorical_crossentropy}\n",
     15},
};

/* The convolution node that absorbs a max pooling, or NULL. */
static const struct node *absorbing(const struct model *m)
{
    for (size_t i = 0; i < m->n_nodes; i++)
        if (m->nodes[i].absorbs)
            return &m->nodes[i];
    return NULL;
}

/* The pair runs the pooling inside the convolution (model.c absorb_nodes,
 * conv_absorbs) with results bit for bit those of the two layers run
 * separately (model_separate): outputs, loss and every weight's gradient,
 * the convolution's input gradient included (through the first Dense),
 * at 1 and 3 threads. The separate layers' gradients are checked against
 * finite differences above and in test_pool.c. */
START_TEST(test_absorbed_pool)
{
    const char *yaml = absorbed_cases[_i].yaml;
    for (int threads = 1; threads <= 3; threads += 2) {
        struct net a, b;
        net_load(&a, yaml);
        net_load(&b, yaml);
        const struct node *conv = absorbing(&a.m);
        ck_assert_msg(conv && conv->absorbs->absorbed &&
                          !strncmp(conv->absorbs->layer->ops->class_name, "MaxPooling", 10),
                      "case %d: the convolution absorbs the pooling", _i);
        model_separate(&b.m);
        ck_assert(!absorbing(&b.m));
        parallel_set_threads(threads);
        net_prepare_margin(&a, absorbed_cases[_i].B, false, -2, 2, 0);
        net_prepare_margin(&b, absorbed_cases[_i].B, false, -2, 2, 0);
        double la = forward_loss(&a), lb = forward_loss(&b);
        model_backward(&a.m, a.B, a.t);
        model_backward(&b.m, b.B, b.t);
        parallel_set_threads(1);
        size_t out = a.B * model_output_size(&a.m);
        ck_assert_msg(la == lb, "case %d, %d threads: loss %.9g, separately %.9g", _i, threads, la,
                      lb);
        ck_assert_msg(!memcmp(a.m.output->y, b.m.output->y, out * sizeof(float)),
                      "case %d, %d threads: outputs differ", _i, threads);
        for (size_t i = 0; i < a.m.n_weights; i++)
            ck_assert_msg(!memcmp(&a.m.dw[i], &b.m.dw[i], sizeof(float)),
                          "case %d, %d threads: dw[%zu] = %.9g, separately %.9g", _i, threads, i,
                          a.m.dw[i], b.m.dw[i]);
        net_free(&a);
        net_free(&b);
    }
}
END_TEST

/* Where something else reads the convolution's output, or it is not ReLU,
 * the pooling runs on its own. */
START_TEST(test_not_absorbed)
{
    static const char *const cases[] = {
        /* tanh needs z kept */
        "layers:\n  - Conv2D: {filters: 2, kernel_size: 2, activation: tanh, "
        "input_shape: [4, 4, 1]}\n  - MaxPooling2D\ncompile: {loss: mse}\n",
        /* an activity regularizer reads y */
        "layers:\n  - Conv2D: {filters: 2, kernel_size: 2, activation: relu, "
        "activity_regularizer: l2, input_shape: [4, 4, 1]}\n  - MaxPooling2D\n"
        "compile: {loss: mse}\n",
        /* average pooling */
        "layers:\n  - Conv2D: {filters: 2, kernel_size: 2, activation: relu, "
        "input_shape: [4, 4, 1]}\n  - AveragePooling2D\ncompile: {loss: mse}\n",
        /* a second consumer */
        "inputs:\n  - Input: {name: x, shape: [4, 4, 1]}\n"
        "layers:\n"
        "  - Conv2D: {name: c, filters: 2, kernel_size: 3, activation: relu, inputs: x}\n"
        "  - MaxPooling2D: {name: p, pool_size: 2, inputs: c}\n"
        "  - Flatten: {name: f, inputs: c}\n"
        "  - Flatten: {name: g, inputs: p}\n"
        "  - Concatenate: {inputs: [f, g]}\n"
        "compile: {loss: mse}\n",
        /* the convolution is a model output */
        "inputs:\n  - Input: {name: x, shape: [4, 4, 1]}\n"
        "layers:\n"
        "  - Conv2D: {name: c, filters: 2, kernel_size: 3, activation: relu, inputs: x}\n"
        "  - MaxPooling2D: {name: p, pool_size: 2, inputs: c}\n"
        "outputs: [c, p]\n"
        "compile: {loss: mse}\n",
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        struct net n;
        net_load(&n, cases[k]);
        ck_assert_msg(!absorbing(&n.m), "case %zu: nothing absorbed", k);
        net_free(&n);
    }
}
END_TEST

/* A frozen convolution passes the gradient on and gets none. */
START_TEST(test_frozen)
{
    check_model_margin("layers:\n"
                       "  - Dense: {units: 2, input_shape: [4, 4, 2]}\n"
                       "  - Conv2D: {filters: 2, kernel_size: 2, trainable: false, "
                       "activation: tanh}\n"
                       "  - SeparableConv2D: {filters: 2, kernel_size: 2, trainable: false}\n"
                       "  - Flatten\n"
                       "  - Dense: {units: 2}\n"
                       "compile: {loss: mse}\n",
                       2, false, conv_margin, "frozen");
}
END_TEST

/* ---- contracts ------------------------------------------------------------------ */

START_TEST(test_accumulates)
{
    check_accumulates(stack2d, false, "2-D stack");
    check_accumulates(stack1d, false, "1-D stack");
}
END_TEST

START_TEST(test_batch_equals_singles)
{
    check_batch_equals_singles(stack2d, "2-D stack");
    check_batch_equals_singles(stack1d, "1-D stack");
}
END_TEST

/* The per-sample work split over threads gives the same numbers as one
 * thread (fixed-order sums; OpenBLAS keeps its own thread count). */
START_TEST(test_threads_same_result)
{
    const char *stacks[] = {stack2d, stack1d};
    for (size_t k = 0; k < 2; k++) {
        struct net n;
        net_load(&n, stacks[k]);
        net_prepare_margin(&n, 7, false, -2, 2, 0);
        size_t out = n.B * model_output_size(&n.m), nw = n.m.n_weights;
        float *y1 = filled(out, 0), *dw1 = filled(nw, 0);
        parallel_set_threads(1);
        forward_loss(&n);
        model_backward(&n.m, n.B, n.t);
        memcpy(y1, n.m.output->y, out * sizeof *y1);
        memcpy(dw1, n.m.dw, nw * sizeof *dw1);
        parallel_set_threads(3);
        forward_loss(&n);
        model_backward(&n.m, n.B, n.t);
        parallel_set_threads(1);
        ck_assert(memcmp(y1, n.m.output->y, out * sizeof *y1) == 0);
        ck_assert(memcmp(dw1, n.m.dw, nw * sizeof *dw1) == 0);
        free(y1), free(dw1);
        net_free(&n);
    }
}
END_TEST

/* ---- shapes and parameter counts (as tf.keras prints them) ------------------------- */

static const struct {
    const char *layer, *input, *shape;
    size_t params;
} shape_cases[] = {
    /* 3*3*1*32 + 32 */
    {"Conv2D: [32, 3, 1, valid, channels_last, 1, 1, relu]", "[28, 28, 1]", "(None, 26, 26, 32)", 320},
    {"Conv2D: {filters: 64, kernel_size: 3}", "[13, 13, 32]", "(None, 11, 11, 64)", 18496},
    {"Conv2D: {filters: 8, kernel_size: [5, 3], strides: [2, 3], padding: same}", "[9, 10, 3]",
     "(None, 5, 4, 8)", 5 * 3 * 3 * 8 + 8},
    {"Conv2D: {filters: 4, kernel_size: 3, dilation_rate: [2, 3], use_bias: false}",
     "[10, 10, 2]", "(None, 6, 4, 4)", 72},
    /* The Keras guide's 1-D classifier layers: (64, 100) -> 62 -> 60. */
    {"Conv1D: {filters: 64, kernel_size: 3, activation: relu}", "[64, 100]", "(None, 62, 64)", 3 * 100 * 64 + 64},
    {"Conv1D: {filters: 5, kernel_size: 4, padding: causal, strides: 3}", "[10, 2]",
     "(None, 4, 5)", 45},
    {"Conv2DTranspose: {filters: 3, kernel_size: 3, strides: 2}", "[4, 4, 2]",
     "(None, 9, 9, 3)", 57},
    {"Conv2DTranspose: {filters: 3, kernel_size: 2, strides: 3}", "[4, 5, 2]",
     "(None, 12, 15, 3)", 27},
    {"Conv2DTranspose: {filters: 3, kernel_size: 3, strides: 2, padding: same, "
     "output_padding: [0, 1]}",
     "[4, 4, 2]", "(None, 7, 8, 3)", 57},
    {"DepthwiseConv2D: {kernel_size: 3, depth_multiplier: 2}", "[8, 8, 3]", "(None, 6, 6, 6)",
     3 * 3 * 3 * 2 + 6},
    {"DepthwiseConv2D: [[3, 1], 2, same]", "[7, 7, 4]", "(None, 4, 4, 4)", 3 * 4 + 4},
    {"SeparableConv2D: {filters: 16, kernel_size: 3, depth_multiplier: 2}", "[10, 10, 3]",
     "(None, 8, 8, 16)", 3 * 3 * 3 * 2 + 6 * 16 + 16},
    {"SeparableConv2D: {filters: 4, kernel_size: 3, strides: 2, padding: same, "
     "use_bias: false}",
     "[9, 9, 5]", "(None, 5, 5, 4)", 45 + 20},
};

START_TEST(test_shapes)
{
    char yaml[512], buf[96];
    snprintf(yaml, sizeof yaml,
             "layers:\n"
             "  - Input: {shape: %s}\n"
             "  - %s\n"
             "  - Flatten\n"
             "  - Dense: 2\n"
             "compile: {loss: mse}\n",
             shape_cases[_i].input, shape_cases[_i].layer);
    struct net n;
    net_load(&n, yaml);
    ck_assert_str_eq(shape_format(&n.m.nodes[1].out, buf, sizeof buf), shape_cases[_i].shape);
    ck_assert_uint_eq(layer_count_params(n.m.nodes[1].layer, true), shape_cases[_i].params);
    check_writes(&n, false, shape_cases[_i].layer);
    net_free(&n);
}
END_TEST

/* ---- serialization ---------------------------------------------------------------- */

static char *layer_json(const char *yaml, size_t index)
{
    return yaml_layer_json(yaml, index, false);
}

static void expect_in(const char *text, const char *part)
{
    ck_assert_msg(strstr(text, part) != NULL, "'%s' not in %s", part, text);
}

/* Keras's config keys and normalized values (tuples of `rank` values). */
START_TEST(test_serialization)
{
    char *t = layer_json("layers:\n"
                         "  - Conv2D: {filters: 4, kernel_size: 3, input_shape: [8, 8, 1]}\n"
                         "compile: {loss: mse}\n",
                         1);
    const char *conv2d_keys[] = {
        "\"filters\": 4", "\"kernel_size\": [3, 3]", "\"strides\": [1, 1]",
        "\"padding\": \"valid\"", "\"data_format\": \"channels_last\"",
        "\"dilation_rate\": [1, 1]", "\"groups\": 1", "\"activation\": \"linear\"",
        "\"use_bias\": true", "\"kernel_initializer\": {\"class_name\": \"GlorotUniform\"",
        "\"bias_initializer\": {\"class_name\": \"Zeros\"", "\"kernel_regularizer\": null",
        "\"bias_regularizer\": null", "\"activity_regularizer\": null",
        "\"kernel_constraint\": null", "\"bias_constraint\": null"};
    for (size_t i = 0; i < sizeof conv2d_keys / sizeof conv2d_keys[0]; i++)
        expect_in(t, conv2d_keys[i]);
    free(t);

    t = layer_json("layers:\n"
                   "  - Conv1D: {filters: 2, kernel_size: 5, padding: causal, input_shape: [8, 1]}\n"
                   "compile: {loss: mse}\n",
                   1);
    expect_in(t, "\"kernel_size\": [5]");
    expect_in(t, "\"padding\": \"causal\"");
    free(t);

    t = layer_json("layers:\n"
                   "  - Conv2DTranspose: {filters: 2, kernel_size: [3, 2], strides: 2, "
                   "input_shape: [4, 4, 1]}\n"
                   "  - Conv2DTranspose: {filters: 2, kernel_size: 3, strides: 2, "
                   "output_padding: 1}\n"
                   "compile: {loss: mse}\n",
                   1);
    expect_in(t, "\"output_padding\": null");
    expect_in(t, "\"kernel_size\": [3, 2]");
    expect_in(t, "\"groups\": 1");
    free(t);
    t = layer_json("layers:\n"
                   "  - Conv2DTranspose: {filters: 2, kernel_size: 3, strides: 2, "
                   "output_padding: 1, input_shape: [4, 4, 1]}\n"
                   "compile: {loss: mse}\n",
                   1);
    expect_in(t, "\"output_padding\": [1, 1]");
    free(t);

    t = layer_json("layers:\n"
                   "  - DepthwiseConv2D: {kernel_size: 3, depth_multiplier: 2, "
                   "input_shape: [4, 4, 1]}\n"
                   "compile: {loss: mse}\n",
                   1);
    expect_in(t, "\"depth_multiplier\": 2");
    expect_in(t, "\"depthwise_initializer\": {\"class_name\": \"GlorotUniform\"");
    ck_assert_ptr_null(strstr(t, "\"filters\""));
    ck_assert_ptr_null(strstr(t, "\"kernel_initializer\""));
    free(t);

    /* Keras 2's own SeparableConv2D config carries the unused kernel_*
     * keys: accepted, and written back as null (TensorFlow.js refuses them
     * otherwise). */
    t = layer_json("layers:\n"
                   "  - SeparableConv2D: {filters: 2, kernel_size: 3, input_shape: [4, 4, 1], "
                   "groups: 1, kernel_initializer: {class_name: GlorotUniform, config: {seed: null}}, "
                   "kernel_regularizer: null, kernel_constraint: null}\n"
                   "compile: {loss: mse}\n",
                   1);
    expect_in(t, "\"kernel_initializer\": null");
    expect_in(t, "\"pointwise_initializer\": {\"class_name\": \"GlorotUniform\"");
    free(t);
}
END_TEST

/* Output-length arithmetic against keras/utils/conv_utils.py by hand. */
START_TEST(test_lengths)
{
    ck_assert_int_eq(conv_output_length(28, 3, CONV_VALID, 1, 1), 26);
    ck_assert_int_eq(conv_output_length(28, 3, CONV_SAME, 2, 1), 14);
    ck_assert_int_eq(conv_output_length(27, 3, CONV_SAME, 2, 1), 14);
    ck_assert_int_eq(conv_output_length(10, 3, CONV_VALID, 1, 4), 2); /* dilated 9 */
    ck_assert_int_eq(conv_output_length(10, 3, CONV_CAUSAL, 3, 2), 4);
    ck_assert_int_le(conv_output_length(3, 5, CONV_VALID, 2, 1), 0);
    ck_assert_int_eq(conv_deconv_length(4, 3, CONV_VALID, -1, 2, 1), 9);
    ck_assert_int_eq(conv_deconv_length(4, 1, CONV_VALID, -1, 3, 1), 12);
    ck_assert_int_eq(conv_deconv_length(4, 3, CONV_SAME, -1, 2, 1), 8);
    ck_assert_int_eq(conv_deconv_length(4, 3, CONV_SAME, 1, 2, 1), 8);
    ck_assert_int_eq(conv_deconv_length(4, 3, CONV_VALID, 1, 2, 1), 10);
    ck_assert_int_eq(conv_deconv_length(4, 3, CONV_VALID, 0, 1, 2), 8);
    ck_assert_uint_eq(conv_pad_before(5, 5, 4, CONV_SAME, 1, 1), 1);
    ck_assert_uint_eq(conv_pad_before(6, 3, 3, CONV_SAME, 2, 1), 0);
    ck_assert_uint_eq(conv_pad_before(9, 9, 3, CONV_CAUSAL, 1, 2), 4);
    ck_assert_uint_eq(conv_pad_before(9, 7, 3, CONV_VALID, 1, 1), 0);
}
END_TEST

/* What Conv2D keeps per sample in the workspace: z only when backward
 * needs it (not linear, not ReLU), the columns only when they are kept
 * (no wider than the output), and the bias sums. The blocks of columns,
 * Winograd's work and ReLU's z live in the pool's per-chunk scratch: at
 * 224x224, 64 -> 64 channels, the columns alone would be 115 MB a sample. */
static const struct {
    const char *input, *layer;
    size_t cache;
} cache_cases[] = {
    {"[64, 64, 64]", "Conv2D: {filters: 64, kernel_size: 3, padding: same, activation: relu}", 64},
    {"[64, 64, 64]", "Conv2D: {filters: 64, kernel_size: 3, padding: same}", 64},
    {"[64, 64, 64]", "Conv2D: {filters: 64, kernel_size: 3, padding: same, activation: tanh}",
     64 * 64 * 64 + 64},
    {"[16, 16, 16]", "Conv2D: {filters: 8, kernel_size: 3, activation: relu}", 8},
    /* a first layer's narrow columns (9 taps against 32 filters) are kept */
    {"[28, 28, 1]", "Conv2D: {filters: 32, kernel_size: 3, activation: relu}", 26 * 26 * 9 + 32},
};

START_TEST(test_cache_per_sample)
{
    char yaml[512];
    snprintf(yaml, sizeof yaml, "layers:\n  - Input: {shape: %s}\n  - %s\ncompile: {loss: mse}\n",
             cache_cases[_i].input, cache_cases[_i].layer);
    struct net n;
    net_load(&n, yaml);
    ck_assert_uint_eq(n.m.nodes[1].cache_floats, cache_cases[_i].cache);
    net_free(&n);
}
END_TEST

static Suite *conv_suite(void)
{
    Suite *s = suite_create("conv");
    TCase *tc = tcase_create("forward");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_forward_reference, 0,
                        (int)(sizeof fwd_cases / sizeof fwd_cases[0]));
    tcase_add_test(tc, test_forward_activation_names);
    tcase_add_test(tc, test_lengths);
    tcase_add_loop_test(tc, test_cache_per_sample, 0,
                        (int)(sizeof cache_cases / sizeof cache_cases[0]));
    suite_add_tcase(s, tc);

    tc = tcase_create("gradients");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_gradients, 0, (int)(sizeof grad_cases / sizeof grad_cases[0]));
    tcase_add_test(tc, test_stack_gradients);
    tcase_add_test(tc, test_winograd_gradients);
    tcase_add_test(tc, test_block_gradients);
    tcase_add_test(tc, test_frozen);
    tcase_add_loop_test(tc, test_absorbed_pool, 0,
                        (int)(sizeof absorbed_cases / sizeof absorbed_cases[0]));
    tcase_add_test(tc, test_not_absorbed);
    suite_add_tcase(s, tc);

    tc = tcase_create("contracts");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_accumulates);
    tcase_add_test(tc, test_batch_equals_singles);
    tcase_add_test(tc, test_threads_same_result);
    tcase_add_loop_test(tc, test_shapes, 0, (int)(sizeof shape_cases / sizeof shape_cases[0]));
    tcase_add_test(tc, test_serialization);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(conv_suite());
}
