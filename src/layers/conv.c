/* Conv1D and Conv2D (keras/layers/convolutional/conv1d.py, conv2d.py,
 * base_conv.py): y = f(conv(x, kernel) + bias), channels-last.
 *   x (B, H, W, C) or (B, steps, C)    kernel (KH, KW, C, F) or (K, C, F)
 *   bias (F)                           y (B, OH, OW, F) or (B, OW, F)
 * As im2col + GEMM: cols (B*P, KH*KW*C) holds every window (P = OH*OW
 * output positions), z = cols . kernel (B*P, F). Backward: dkernel +=
 * cols^T dz, dbias = column sums of dz, then dcols = dz kernel^T (over
 * cols, which is no longer needed) scattered back into dx by col2im. A 1x1
 * kernel with stride 1 uses x as cols directly. The batch is split between
 * the pool's threads, each running single-threaded GEMMs on its samples;
 * the kernel gradient is summed per chunk (chunk 0 into dw, the others into
 * the pool's scratch) and the partial sums added in chunk order.
 * The chunks go through their samples in blocks that stay in cache. Columns
 * wider than the output are made again for each block in backward rather
 * than kept for the whole batch (writing them out and reading them back
 * costs more than im2col; narrow ones the other way round: measured with
 * bench/step.c on bench/cnn.yaml), and ReLU keeps no z (its gradient is
 * read off y), its dz living one block at a time.
 * A 3x3 Conv2D with stride 1 and 32 or more channels in and out runs its
 * forward pass and its kernel gradient as Winograd's F(2x2, 3x3) instead
 * (conv_winograd.h: 16 products per 2x2 outputs and channel pair where
 * im2col's GEMM takes 36) and makes no columns; its input gradient is
 * dcols and col2im as above (as Winograd's, the padded 15x15 gradient
 * took longer: 6.0 ms a batch against 5.5 on bench/cnn.yaml's second
 * convolution).
 * Cache, per sample: [z (P*F) when f needs it in backward (not linear,
 * not ReLU)][cols (P*KC) when kept][bias-gradient sums (F)]. What a
 * chunk of the batch needs one block at a time lives in the pool's
 * per-chunk scratch (struct conv_plan), so that it does not grow with
 * the batch: at 224x224 a 3x3 layer's columns are 115 MB a sample. */

#include <string.h>

#include "../parallel.h"
#include "../parallel_gemm.h"
#include "conv_common.h"
#include "conv_winograd.h"
#include "layers.h"
#include "pooling.h"

#define A CONV_ARG
static const struct arg_def conv_args[] = {
    A(filters, ARG_INT, ARG_REQUIRED, NULL, NULL),
    A(kernel_size, ARG_TUPLE, ARG_REQUIRED, NULL, NULL),
    A(strides, ARG_TUPLE, 0, NULL, NULL),
    A(padding, ARG_CHOICE, 0, conv_paddings, NULL),
    A(data_format, ARG_CHOICE, 0, conv_data_formats, conv_data_formats_later),
    A(dilation_rate, ARG_TUPLE, 0, NULL, NULL),
    A(groups, ARG_INT, 0, NULL, NULL),
    A(activation, ARG_ACTIVATION, 0, NULL, NULL),
    A(use_bias, ARG_BOOL, 0, NULL, NULL),
    A(kernel_initializer, ARG_INITIALIZER, 0, NULL, NULL),
    A(bias_initializer, ARG_INITIALIZER, 0, NULL, NULL),
    A(kernel_regularizer, ARG_REGULARIZER, 0, NULL, NULL),
    A(bias_regularizer, ARG_REGULARIZER, 0, NULL, NULL),
    A(activity_regularizer, ARG_REGULARIZER, 0, NULL, NULL),
    A(kernel_constraint, ARG_CONSTRAINT, 0, NULL, NULL),
    A(bias_constraint, ARG_CONSTRAINT, 0, NULL, NULL),
};
#undef A

static int rank_of(const struct layer *l) { return l->ops->class_name[4] == '1' ? 1 : 2; }

/* The batch is split between the pool's threads; each chunk of samples
 * goes through in blocks of about BLOCK_FLOATS floats of z and columns, so
 * that im2col, the GEMM and the epilogue (and in backward the kernel
 * gradient, dcols and col2im) find the block still in cache. */
#define BLOCK_FLOATS ((size_t)1 << 18)

/* Winograd's blocks are smaller: their transformed input and products
 * are 1.6 times im2col's columns for the same samples, and its 16 GEMMs
 * walk them all (bench/conv_micro.c, Conv2D(64, 3) on 13x13x32, 1
 * thread: forward 5.8 ms a batch in blocks of 4 samples, 4.9 in blocks of 2
 * and 4.8 in blocks of 1). */
#define WINOGRAD_BLOCK_FLOATS ((size_t)1 << 16)

/* How a convolution runs, from its geometry alone: its blocks, what it
 * keeps for the whole batch, and its per-chunk scratch
 * (parallel_scratch(k)), in this order: the kernel gradient's partial sum
 * (KC*F; chunk 0 sums into the gradient itself); Winograd's transformed
 * kernel or kernel gradient, at u_at; ReLU's block of z (dz in backward),
 * at z_at; the block of columns, or Winograd's work and then dcols, at
 * cols_at, unless the columns are kept. */
struct conv_plan {
    size_t P, KC, block, wblock;
    bool pointwise, winograd;
    bool keep_z;    /* f needs z in backward (not linear, not ReLU) */
    bool keep_cols; /* the batch's cols kept from forward, not made again */
    size_t u_at, z_at, cols_at, chunk_floats;
};

static void conv_plan(const struct conv_geom *g, size_t F, enum act_kind f, struct conv_plan *p)
{
    p->P = conv_positions(g);
    p->KC = conv_taps(g) * g->C;
    p->pointwise = conv_is_pointwise(g);
    p->winograd = winograd_applies(g, F);
    p->keep_z = f != ACT_LINEAR && f != ACT_RELU;
    /* Columns no wider than the output cost less to keep (written once,
     * read back once) than to make again (a first layer's 3x3 taps of one
     * channel: 9 values a position against 32 filters); wide ones (288
     * against 64) cost more. Winograd makes none. */
    p->keep_cols = !p->pointwise && p->KC <= F && !p->winograd;
    size_t per = p->P * (F + (p->pointwise ? 0 : p->KC));
    p->block = per >= BLOCK_FLOATS ? 1 : BLOCK_FLOATS / per;
    size_t wper = p->winograd ? winograd_sample_floats(g, F) : 0;
    p->wblock = !p->winograd ? 0 : wper >= WINOGRAD_BLOCK_FLOATS ? 1 : WINOGRAD_BLOCK_FLOATS / wper;
    size_t most = p->block > p->wblock ? p->block : p->wblock; /* samples in a block */
    p->u_at = p->KC * F;
    p->z_at = p->u_at + (p->winograd ? winograd_kernel_floats(g, F) : 0);
    p->cols_at = p->z_at + (f == ACT_RELU ? most * p->P * F : 0);
    size_t cols = 0;
    if (!p->pointwise && !p->keep_cols) {
        cols = p->block * p->P * p->KC;
        if (p->wblock * wper > cols)
            cols = p->wblock * wper;
    }
    p->chunk_floats = p->cols_at + cols;
}

static int conv_layer_validate(const struct layer *l, const struct spec_node *where,
                               struct diag *d)
{
    return conv_validate(l, rank_of(l), true, false, where, d);
}

static int conv_build(struct layer *l, const struct shape *in, size_t n_in, struct shape *out,
                      struct diag *d)
{
    const struct conv_conf *c = l->conf;
    int rank = rank_of(l);
    struct conv_geom g;
    (void)n_in;
    if (conv_geometry(l, rank, in, &g, d) < 0 ||
        conv_check_sizes(l, &g, (size_t)c->filters, d) < 0)
        return -1;
    struct conv_plan plan;
    conv_plan(&g, (size_t)c->filters, c->activation, &plan);
    if (parallel_reserve(plan.chunk_floats) < 0)
        return spec_error(l->where, d, "%s: out of memory", l->ops->class_name);
    *out = in[0];
    if (rank == 2)
        out->dim[0] = g.OH;
    out->dim[rank - 1] = g.OW;
    out->dim[rank] = (size_t)c->filters;
    struct shape k = {rank + 2, {0}};
    for (int i = 0; i < rank; i++)
        k.dim[i] = (size_t)c->kernel_size.v[i];
    k.dim[rank] = g.C;
    k.dim[rank + 1] = (size_t)c->filters;
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

/* The geometry again from the built shapes (cannot fail any more). */
static void geometry(const struct layer *l, struct conv_geom *g)
{
    struct diag d;
    int rc = conv_geometry(l, rank_of(l), &l->in_shape, g, &d);
    NNC_ASSERT(rc == 0);
}

static size_t conv_cache(const struct layer *l, const struct shape *in, const struct shape *out)
{
    const struct conv_conf *c = l->conf;
    struct conv_geom g;
    struct diag d;
    if (conv_geometry(l, rank_of(l), in, &g, &d) < 0)
        return 0;
    struct conv_plan p;
    conv_plan(&g, (size_t)c->filters, c->activation, &p);
    return (p.keep_z ? shape_size(out) : 0) + (p.keep_cols ? p.P * p.KC : 0) + (size_t)c->filters;
}

struct conv_job {
    struct conv_geom g;
    struct conv_plan p;
    size_t F;
    enum act_kind f;
    const float *x, *W, *bias, *y, *dy;
    float *z, *cols, *out, *dkernel, *sums, *dx; /* z, cols: when kept for the batch */
    bool dx_assign; /* backward: dx holds nothing yet (written, not added to) */
    /* The call of the max pooling absorbed (conv_absorbs; its layer is
     * next->layer): y lives one block at a time in the chunk's block of z,
     * pooled from there. */
    const struct layer_call *next;
    size_t pool_out; /* the pooling's output values per sample */
};

static void conv_job_init(struct conv_job *j, const struct layer *l, const struct layer_call *c)
{
    const struct conv_conf *cf = l->conf;
    geometry(l, &j->g);
    j->F = (size_t)cf->filters;
    j->f = cf->activation;
    conv_plan(&j->g, j->F, j->f, &j->p);
    j->x = c->x[0];
    j->W = c->w + l->params[0].offset;
    j->bias = cf->use_bias ? c->w + l->params[1].offset : NULL;
    size_t z = j->p.keep_z ? c->B * j->p.P * j->F : 0;
    size_t cols = j->p.keep_cols ? c->B * j->p.P * j->p.KC : 0;
    j->z = j->p.keep_z ? c->cache : NULL;
    j->cols = j->p.keep_cols ? c->cache + z : NULL;
    j->sums = c->cache + z + cols;
    j->next = c->next;
    j->pool_out = c->next ? shape_size(&c->next->layer->out_shape) : 0;
}

/* Chunk k's block of z (ReLU's) and of columns (or Winograd's work). */
static float *chunk_z(const struct conv_job *j, size_t k)
{
    return parallel_scratch(k) + j->p.z_at;
}

static float *chunk_cols(const struct conv_job *j, size_t k)
{
    return parallel_scratch(k) + j->p.cols_at;
}

/* How many chunks the pool may split the batch into: as many as have the
 * scratch (all of them: conv_build reserved it). */
static size_t conv_chunks(const struct conv_job *j)
{
    return parallel_scratch_chunks(j->p.chunk_floats);
}

/* cols of samples [s0, s1) of chunk k: x itself for a 1x1 kernel, else
 * im2col's (fill), kept for the batch at the samples' own place or made in
 * the chunk's block. */
static float *block_cols(const struct conv_job *j, size_t k, size_t s0, size_t s1, bool fill)
{
    size_t image = j->g.H * j->g.W * j->g.C, P = j->p.P, KC = j->p.KC;
    if (j->p.pointwise)
        return (float *)(j->x + s0 * image);
    float *cols = j->p.keep_cols ? j->cols + s0 * P * KC : chunk_cols(j, k);
    for (size_t b = s0; fill && b < s1; b++)
        conv_im2col(&j->g, j->x + b * image, cols + (b - s0) * P * KC);
    return cols;
}

/* z = cols . kernel (or Winograd's equal), y = f(z + bias) for the
 * chunk's samples (z is y itself unless f needs z kept, or the pooling
 * after it is absorbed). */
static void forward_chunk(void *ctx, size_t k, size_t b0, size_t b1)
{
    const struct conv_job *j = ctx;
    const struct conv_plan *p = &j->p;
    size_t P = p->P, F = j->F, block = p->winograd ? p->wblock : p->block;
    float *u = p->winograd ? parallel_scratch(k) + p->u_at : NULL;
    if (u) /* once per chunk */
        winograd_kernel(&j->g, F, j->W, u);
    for (size_t s0 = b0; s0 < b1; s0 += block) {
        size_t s1 = s0 + block < b1 ? s0 + block : b1;
        float *z = j->next ? chunk_z(j, k) : (p->keep_z ? j->z : j->out) + s0 * P * F;
        if (u) {
            winograd_forward(&j->g, F, s1 - s0, j->x + s0 * j->g.H * j->g.W * j->g.C, u,
                             chunk_cols(j, k), z);
        } else {
            const float *cols = block_cols(j, k, s0, s1, true);
            gemm_serial(false, false, (s1 - s0) * P, F, p->KC, 1.0f, cols, p->KC, j->W, F, 0.0f, z,
                        F);
        }
        conv_epilogue_forward(j->f, j->bias, z, j->next ? z : j->out + s0 * P * F, s1 - s0, P, F);
        for (size_t b = s0; j->next && b < s1; b++)
            max_pool_forward_sample(j->next->layer, z + (b - s0) * P * F,
                                    j->next->y + b * j->pool_out, j->next->cache + b * j->pool_out);
    }
}

static void conv_forward(const struct layer *l, const struct layer_call *c)
{
    struct conv_job j;
    conv_job_init(&j, l, c);
    j.out = c->y;
    parallel_for_k(c->B, 1, conv_chunks(&j), forward_chunk, &j);
}

/* For the chunk's samples: dz (over z; with ReLU in the chunk's block of
 * z) and the per-sample bias sums; cols again; the kernel gradient
 * cols^T dz into dkernel (chunk 0) or the chunk's scratch (with Winograd:
 * its transform summed over the chunk, turned into the kernel's at the
 * end); dcols = dz kernel^T (over cols, no longer needed) scattered into
 * dx. */
static void backward_chunk(void *ctx, size_t k, size_t b0, size_t b1)
{
    const struct conv_job *j = ctx;
    const struct conv_plan *p = &j->p;
    size_t P = p->P, F = j->F, KC = p->KC;
    float *dk = !j->dkernel ? NULL : k == 0 ? j->dkernel : parallel_scratch(k);
    /* Winograd's kernel gradient, transformed, summed over the chunk in the
     * chunk's scratch; its work, then dcols, in the chunk's block of
     * columns */
    float *du = p->winograd && dk ? parallel_scratch(k) + p->u_at : NULL;
    size_t image = j->g.H * j->g.W * j->g.C;
    for (size_t s0 = b0; s0 < b1; s0 += p->block) {
        size_t s1 = s0 + p->block < b1 ? s0 + p->block : b1, rows = (s1 - s0) * P;
        /* z: kept, ReLU's block (dz goes there), or unused (linear) */
        float *z = p->keep_z ? j->z + s0 * P * F : j->f == ACT_RELU ? chunk_z(j, k) : NULL;
        const float *dz = z;
        if (j->next)
            for (size_t b = s0; b < s1; b++) {
                size_t o = b * j->pool_out;
                max_pool_relu_backward_sample(j->next->layer, j->next->dy + o, j->next->y + o,
                                              j->next->cache + o, z + (b - s0) * P * F);
                if (j->sums)
                    conv_column_sums(z + (b - s0) * P * F, P, F, j->sums + b * F);
            }
        else
            dz = conv_epilogue_backward(j->f, z, j->y + s0 * P * F, j->dy + s0 * P * F,
                                        j->sums ? j->sums + s0 * F : NULL, s1 - s0, P, F);
        for (size_t b = s0; du && b < s1; b += p->wblock) {
            size_t n = s1 - b < p->wblock ? s1 - b : p->wblock;
            winograd_kernel_grad(&j->g, F, n, j->x + b * image, dz + (b - s0) * P * F,
                                 chunk_cols(j, k), du, b > b0);
        }
        /* dcols need no columns */
        float *cols = block_cols(j, k, s0, s1, dk && !du && !p->keep_cols);
        /* dkernel (KC, F) += cols^T (KC, rows) . dz (rows, F); a chunk's
         * scratch starts at its first block. */
        if (dk && !du)
            gemm_serial(true, false, KC, F, rows, 1.0f, cols, KC, dz, F,
                        k > 0 && s0 == b0 ? 0.0f : 1.0f, dk, F);
        if (!j->dx)
            continue;
        if (p->pointwise) {
            gemm_serial(false, true, rows, KC, F, 1.0f, dz, F, j->W, F, j->dx_assign ? 0.0f : 1.0f,
                        j->dx + s0 * P * KC, KC);
            continue;
        }
        float *dcols = cols;
        gemm_serial(false, true, rows, KC, F, 1.0f, dz, F, j->W, F, 0.0f, dcols, KC);
        for (size_t b = s0; b < s1; b++) {
            if (j->dx_assign) /* cleared a sample at a time, while in cache */
                memset(j->dx + b * image, 0, image * sizeof *j->dx);
            conv_col2im(&j->g, dcols + (b - s0) * P * KC, j->dx + b * image);
        }
    }
    if (du) /* chunk 0 adds into the kernel's gradient, the others write their scratch */
        winograd_kernel_grad_finish(&j->g, F, du, dk, k == 0);
}

static void conv_backward(const struct layer *l, const struct layer_call *c)
{
    const struct conv_conf *cf = l->conf;
    struct conv_job j;
    conv_job_init(&j, l, c);
    j.y = c->y;
    j.dy = c->dy;
    j.dx = c->dx[0];
    j.dx_assign = layer_dx_assign(c, 0);
    float *db = l->trainable && cf->use_bias ? c->dw + l->params[1].offset : NULL;
    if (!db)
        j.sums = NULL;
    j.dkernel = l->trainable ? c->dw + l->params[0].offset : NULL;
    size_t F = j.F, KF = j.p.KC * F;
    size_t chunks = parallel_for_k(c->B, 1, conv_chunks(&j), backward_chunk, &j);
    /* The partial sums in a fixed order: the same result run to run. */
    for (size_t k = 1; j.dkernel && k < chunks; k++) {
        const float *p = parallel_scratch(k);
        for (size_t i = 0; i < KF; i++)
            j.dkernel[i] += p[i];
    }
    for (size_t b = 0; db && b < c->B; b++)
        for (size_t o = 0; o < F; o++)
            db[o] += j.sums[b * F + o];
}

/* A ReLU convolution runs the max pooling after it (of its rank) block by
 * block, while its output is in cache: the output is never written out
 * nor read back, and in backward the pooling's gradient and ReLU's come
 * in one pass (max_pool_relu_backward_sample) instead of a pass writing
 * the pooling's input gradient and one reading it back with y. */
static bool conv_absorbs(const struct layer *l, const struct layer *next)
{
    const struct conv_conf *c = l->conf;
    return c->activation == ACT_RELU && max_pool_is(next, rank_of(l));
}

const struct layer_ops conv1d_ops = {
    .class_name = "Conv1D",
    .base_name = "conv1d",
    .args = conv_args,
    .n_args = sizeof conv_args / sizeof conv_args[0],
    .conf_size = sizeof(struct conv_conf),
    .defaults = conv_defaults,
    .validate = conv_layer_validate,
    .build = conv_build,
    .cache_floats = conv_cache,
    .forward = conv_forward,
    .backward = conv_backward,
    .assigns_dx = true,
    .absorbs = conv_absorbs,
};

const struct layer_ops conv2d_ops = {
    .class_name = "Conv2D",
    .base_name = "conv2d",
    .args = conv_args,
    .n_args = sizeof conv_args / sizeof conv_args[0],
    .conf_size = sizeof(struct conv_conf),
    .defaults = conv_defaults,
    .validate = conv_layer_validate,
    .build = conv_build,
    .cache_floats = conv_cache,
    .forward = conv_forward,
    .backward = conv_backward,
    .assigns_dx = true,
    .absorbs = conv_absorbs,
};
