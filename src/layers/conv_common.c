/* The convolution layers' shared machinery (see conv_common.h): argument
 * checks after keras/layers/convolutional/base_conv.py, output lengths
 * after keras/utils/conv_utils.py, im2col / col2im, and the parallel
 * epilogues. */
#include "conv_common.h"

#include <stdio.h>
#include <string.h>

#include "../parallel.h"
#include "../simd.h"

const char *const conv_paddings[] = {"valid", "same", "causal", NULL};
const char *const conv_data_formats[] = {"channels_last", NULL};
const char *const conv_data_formats_later[] = {"channels_first", NULL};

void conv_defaults(void *conf)
{
    struct conv_conf *c = conf;
    c->kernel_size = (struct int_tuple){1, {1}};
    c->strides = (struct int_tuple){1, {1}};
    c->dilation_rate = (struct int_tuple){1, {1}};
    c->output_padding.n = 0;
    c->padding = conv_paddings[0];
    c->data_format = conv_data_formats[0];
    c->groups = 1;
    c->depth_multiplier = 1;
    c->activation = ACT_LINEAR;
    c->use_bias = true;
    init_default(INIT_GLOROT_UNIFORM, &c->kernel_initializer);
    init_default(INIT_GLOROT_UNIFORM, &c->depthwise_initializer);
    init_default(INIT_GLOROT_UNIFORM, &c->pointwise_initializer);
    init_default(INIT_ZEROS, &c->bias_initializer);
}

enum conv_padding conv_padding_of(const struct conv_conf *c)
{
    if (!strcmp(c->padding, "same"))
        return CONV_SAME;
    if (!strcmp(c->padding, "causal"))
        return CONV_CAUSAL;
    return CONV_VALID;
}

/* Python's tuple text, for messages: "(3, 0)", "(3,)". */
static const char *tuple_text(const struct int_tuple *t, char *buf, size_t size)
{
    size_t k = (size_t)snprintf(buf, size, "(");
    for (int i = 0; i < t->n && k < size; i++)
        k += (size_t)snprintf(buf + k, size - k, i ? ", %ld" : "%ld", t->v[i]);
    if (k < size)
        snprintf(buf + k, size - k, t->n == 1 ? ",)" : ")");
    return buf;
}

/* conv_utils.normalize_tuple: one value stands for all `rank` of them; each
 * must be >= min (1, or 0 for output_padding). */
static int normalize_tuple(const struct layer *l, struct int_tuple *t, int rank, const char *name,
                           long min, const struct spec_node *where, struct diag *d)
{
    char buf[128];
    if (t->n == 1)
        for (int i = 1; i < rank; i++)
            t->v[i] = t->v[0];
    else if (t->n != rank)
        return spec_error(where, d, "%s %s must be an integer or a list of %d integer%s, found %s",
                          l->ops->class_name, name, rank, rank == 1 ? "" : "s",
                          tuple_text(t, buf, sizeof buf));
    t->n = rank;
    for (int i = 0; i < rank; i++)
        if (t->v[i] < min || t->v[i] > (1L << 31))
            return spec_error(where, d, "%s %s must hold integers >= %ld, found %s",
                              l->ops->class_name, name, min, tuple_text(t, buf, sizeof buf));
    return 0;
}

static bool any_above_one(const struct int_tuple *t)
{
    for (int i = 0; i < t->n; i++)
        if (t->v[i] > 1)
            return true;
    return false;
}

int conv_validate(const struct layer *l, int rank, bool has_filters, bool has_multiplier,
                  const struct spec_node *where, struct diag *d)
{
    struct conv_conf *c = l->conf;
    const char *cls = l->ops->class_name;
    if (has_filters && (c->filters <= 0 || c->filters > (1L << 31)))
        return spec_error(where, d, "%s filters must be a positive integer, found %ld", cls,
                          c->filters);
    if (has_multiplier && (c->depth_multiplier <= 0 || c->depth_multiplier > (1L << 31)))
        return spec_error(where, d, "%s depth_multiplier must be a positive integer, found %ld",
                          cls, c->depth_multiplier);
    if (normalize_tuple(l, &c->kernel_size, rank, "kernel_size", 1, where, d) < 0 ||
        normalize_tuple(l, &c->strides, rank, "strides", 1, where, d) < 0 ||
        normalize_tuple(l, &c->dilation_rate, rank, "dilation_rate", 1, where, d) < 0)
        return -1;
    /* TensorFlow's convolutions refuse the combination (tf.nn.convolution). */
    if (any_above_one(&c->strides) && any_above_one(&c->dilation_rate)) {
        char a[128], b[128];
        return spec_error(where, d,
                          "%s strides > 1 cannot be combined with dilation_rate > 1 (strides %s, "
                          "dilation_rate %s)",
                          cls, tuple_text(&c->strides, a, sizeof a),
                          tuple_text(&c->dilation_rate, b, sizeof b));
    }
    if (c->groups <= 0)
        return spec_error(where, d, "%s groups must be a positive integer, found %ld", cls,
                          c->groups);
    if (c->groups != 1)
        return spec_error(where, d, "%s groups other than 1 are not supported by nnc yet", cls);
    if (rank != 1 && conv_padding_of(c) == CONV_CAUSAL)
        return spec_error(where, d, "padding 'causal' is only supported by Conv1D, not %s", cls);
    return 0;
}

/* ---- output lengths ------------------------------------------------------- */

long conv_output_length(long n, long k, enum conv_padding p, long stride, long dilation)
{
    long dk = k + (k - 1) * (dilation - 1);
    long len = p == CONV_VALID ? n - dk + 1 : n;
    if (len <= 0)
        return len;
    return (len + stride - 1) / stride;
}

long conv_deconv_length(long n, long k, enum conv_padding p, long output_padding, long stride,
                        long dilation)
{
    long dk = k + (k - 1) * (dilation - 1);
    if (output_padding < 0)
        return p == CONV_VALID ? n * stride + (dk > stride ? dk - stride : 0) : n * stride;
    long pad = p == CONV_SAME ? dk / 2 : 0;
    return (n - 1) * stride + dk - 2 * pad + output_padding;
}

size_t conv_pad_before(size_t n, size_t out, size_t k, enum conv_padding p, size_t stride,
                       size_t dilation)
{
    size_t dk = k + (k - 1) * (dilation - 1);
    switch (p) {
    case CONV_VALID: return 0;
    case CONV_CAUSAL: return dk - 1;
    case CONV_SAME: {
        size_t need = (out - 1) * stride + dk;
        return need > n ? (need - n) / 2 : 0;
    }
    }
    return 0;
}

int conv_geometry(const struct layer *l, int rank, const struct shape *in, struct conv_geom *g,
                  struct diag *d)
{
    const struct conv_conf *c = l->conf;
    const char *cls = l->ops->class_name;
    char a[96];
    if (in->rank != rank + 1)
        return spec_error(l->where, d, "%s expects input of shape %s, found %s", cls,
                          rank == 1 ? "(None, steps, channels)" : "(None, rows, cols, channels)",
                          shape_format(in, a, sizeof a));
    enum conv_padding p = conv_padding_of(c);
    const struct int_tuple *k = &c->kernel_size, *s = &c->strides, *dl = &c->dilation_rate;
    size_t n[2] = {1, 1}, out[2] = {1, 1}, pad[2] = {0, 0}, K[2] = {1, 1}, S[2] = {1, 1},
           D[2] = {1, 1};
    for (int i = 0; i < rank; i++) {
        int j = i + 2 - rank; /* 1-D lives in the column axis */
        n[j] = in->dim[i];
        long len = conv_output_length((long)n[j], k->v[i], p, s->v[i], dl->v[i]);
        if (len <= 0) {
            char b[128], e[160] = "";
            long dk = k->v[i] + (k->v[i] - 1) * (dl->v[i] - 1);
            if (dk != k->v[i]) {
                char f[128];
                snprintf(e, sizeof e, " dilated by %s spans %ld and",
                         tuple_text(dl, f, sizeof f), dk);
            }
            return spec_error(l->where, d,
                              "%s kernel_size %s%s is larger than the input %s with padding "
                              "'valid'",
                              cls, tuple_text(k, b, sizeof b), e, shape_format(in, a, sizeof a));
        }
        out[j] = (size_t)len;
        K[j] = (size_t)k->v[i];
        S[j] = (size_t)s->v[i];
        D[j] = (size_t)dl->v[i];
        pad[j] = conv_pad_before(n[j], out[j], K[j], p, S[j], D[j]);
    }
    *g = (struct conv_geom){
        .H = n[0], .W = n[1], .C = in->dim[rank], .OH = out[0], .OW = out[1], .KH = K[0],
        .KW = K[1], .SH = S[0], .SW = S[1], .DH = D[0], .DW = D[1], .PT = pad[0], .PL = pad[1],
    };
    return 0;
}

int conv_check_sizes(const struct layer *l, const struct conv_geom *g, size_t n_out_channels,
                     struct diag *d)
{
    size_t a, b;
    if (size_mul(conv_positions(g), conv_taps(g), &a) < 0 || size_mul(a, g->C, &a) < 0 ||
        size_mul(conv_positions(g), n_out_channels, &b) < 0 || a > ((size_t)1 << 40) ||
        b > ((size_t)1 << 40) || size_mul(g->H * g->W, g->C, &b) < 0)
        return spec_error(l->where, d, "%s: the convolution is too large", l->ops->class_name);
    return 0;
}

/* ---- im2col / col2im ------------------------------------------------------ */

/* One tap row of one window: the KW taps (th fixed) of output column ow,
 * which read image row r - PT (in padded coordinates, already known to be
 * inside the image). With dilation 1 and no overhang they are KW*C
 * consecutive floats of x, and of cols. */
static inline void window_row_gather(const struct conv_geom *g, const float *xrow, size_t ow,
                                     float *cols)
{
    const size_t C = g->C;
    size_t q0 = ow * g->SW;
    if (g->DW == 1 && q0 >= g->PL && q0 - g->PL + g->KW <= g->W) {
        const float *src = xrow + (q0 - g->PL) * C;
        for (size_t k = 0; k < g->KW * C; k++)
            cols[k] = src[k];
        return;
    }
    for (size_t tw = 0; tw < g->KW; tw++, cols += C) {
        size_t q = q0 + tw * g->DW;
        if (q >= g->PL && q - g->PL < g->W)
            for (size_t c = 0; c < C; c++)
                cols[c] = xrow[(q - g->PL) * C + c];
        else
            for (size_t c = 0; c < C; c++)
                cols[c] = 0;
    }
}

/* The adjoint of window_row_gather: x row += the KW taps. */
static inline void window_row_scatter(const struct conv_geom *g, const float *cols, size_t ow,
                                      float *xrow)
{
    const size_t C = g->C;
    size_t q0 = ow * g->SW;
    if (g->DW == 1 && q0 >= g->PL && q0 - g->PL + g->KW <= g->W) {
        float *dst = xrow + (q0 - g->PL) * C;
        for (size_t k = 0; k < g->KW * C; k++)
            dst[k] += cols[k];
        return;
    }
    for (size_t tw = 0; tw < g->KW; tw++, cols += C) {
        size_t q = q0 + tw * g->DW;
        if (q >= g->PL && q - g->PL < g->W)
            for (size_t c = 0; c < C; c++)
                xrow[(q - g->PL) * C + c] += cols[c];
    }
}

/* The output columns [*lo, *hi) whose windows lie inside the image
 * horizontally with undilated taps: each window row is KW*C consecutive
 * floats of x. Empty (lo = hi) when the taps are dilated. */
static void interior_columns(const struct conv_geom *g, size_t *lo, size_t *hi)
{
    *lo = *hi = 0;
    if (g->DW != 1)
        return;
    *lo = (g->PL + g->SW - 1) / g->SW;
    if (g->W + g->PL >= g->KW)
        *hi = (g->W + g->PL - g->KW) / g->SW + 1;
    if (*hi > g->OW)
        *hi = g->OW;
    if (*lo > *hi)
        *lo = *hi;
}

/* n window rows of `row` floats, src stepping by `stride`, cols by `step`.
 * Always inlined, so that a constant row makes the copy a few moves. (A
 * loop, not memcpy: with a call of memcpy per row, a 3x3 window of 32
 * channels took 2.3 us a 13x13 sample against 1.8, in cache.) */
static inline __attribute__((always_inline)) void copy_rows(const float *restrict src,
                                                            size_t stride, size_t n, size_t row,
                                                            size_t step, float *restrict cols)
{
    for (size_t i = 0; i < n; i++, src += stride, cols += step)
        for (size_t k = 0; k < row; k++)
            cols[k] = src[k];
}

/* copy_rows, with the rows of a first layer (3 taps of one channel: 12
 * bytes, or of three: 36) at a length known at compile time, a few moves
 * where a loop or a memcpy call per row cost more than the copy (with the
 * rows taken a whole output row at a time, conv1 of bench/cnn.yaml:
 * forward 2.44 -> 1.52 ms a batch). */
static void gather_rows(const float *restrict src, size_t stride, size_t n, size_t row, size_t step,
                        float *restrict cols)
{
    switch (row) {
    case 1: copy_rows(src, stride, n, 1, step, cols); break;
    case 2: copy_rows(src, stride, n, 2, step, cols); break;
    case 3: copy_rows(src, stride, n, 3, step, cols); break;
    case 4: copy_rows(src, stride, n, 4, step, cols); break;
    case 5: copy_rows(src, stride, n, 5, step, cols); break;
    case 6: copy_rows(src, stride, n, 6, step, cols); break;
    case 7: copy_rows(src, stride, n, 7, step, cols); break;
    case 8: copy_rows(src, stride, n, 8, step, cols); break;
    case 9: copy_rows(src, stride, n, 9, step, cols); break;
    case 12: copy_rows(src, stride, n, 12, step, cols); break;
    case 15: copy_rows(src, stride, n, 15, step, cols); break;
    case 16: copy_rows(src, stride, n, 16, step, cols); break;
    default: copy_rows(src, stride, n, row, step, cols);
    }
}

/* Output row by output row, one tap row th at a time: the windows of the
 * interior columns in one gather_rows, the overhanging ones and dilated
 * taps through window_row_gather. */
void conv_im2col(const struct conv_geom *g, const float *x, float *cols)
{
    const size_t row = g->KW * g->C, step = g->KH * row; /* floats per tap row, per window */
    size_t lo, hi;
    interior_columns(g, &lo, &hi);
    for (size_t oh = 0; oh < g->OH; oh++, cols += g->OW * step)
        for (size_t th = 0; th < g->KH; th++) {
            float *out = cols + th * row;
            size_t r = oh * g->SH + th * g->DH; /* r - PT is the image row */
            if (r < g->PT || r - g->PT >= g->H) {
                for (size_t ow = 0; ow < g->OW; ow++)
                    memset(out + ow * step, 0, row * sizeof *out);
                continue;
            }
            const float *xrow = x + (r - g->PT) * g->W * g->C;
            for (size_t ow = 0; ow < lo; ow++)
                window_row_gather(g, xrow, ow, out + ow * step);
            if (hi > lo)
                gather_rows(xrow + (lo * g->SW - g->PL) * g->C, g->SW * g->C, hi - lo, row, step,
                            out + lo * step);
            for (size_t ow = hi; ow < g->OW; ow++)
                window_row_gather(g, xrow, ow, out + ow * step);
        }
}

void conv_col2im(const struct conv_geom *g, const float *cols, float *x)
{
    const size_t row = g->KW * g->C;
    for (size_t oh = 0; oh < g->OH; oh++)
        for (size_t ow = 0; ow < g->OW; ow++)
            for (size_t th = 0; th < g->KH; th++, cols += row) {
                size_t r = oh * g->SH + th * g->DH;
                if (r >= g->PT && r - g->PT < g->H)
                    window_row_scatter(g, cols, ow, x + (r - g->PT) * g->W * g->C);
            }
}

struct cols_job {
    const struct conv_geom *g;
    const float *src;
    float *dst;
};

static void im2col_chunk(void *ctx, size_t b0, size_t b1)
{
    const struct cols_job *j = ctx;
    size_t image = j->g->H * j->g->W * j->g->C, block = conv_positions(j->g) * conv_taps(j->g) * j->g->C;
    for (size_t b = b0; b < b1; b++)
        conv_im2col(j->g, j->src + b * image, j->dst + b * block);
}

static void col2im_chunk(void *ctx, size_t b0, size_t b1)
{
    const struct cols_job *j = ctx;
    size_t image = j->g->H * j->g->W * j->g->C, block = conv_positions(j->g) * conv_taps(j->g) * j->g->C;
    for (size_t b = b0; b < b1; b++)
        conv_col2im(j->g, j->src + b * block, j->dst + b * image);
}

void conv_im2col_batch(const struct conv_geom *g, size_t B, const float *x, float *cols)
{
    struct cols_job j = {g, x, cols};
    parallel_for(B, 1, im2col_chunk, &j);
}

void conv_col2im_batch(const struct conv_geom *g, size_t B, const float *cols, float *x)
{
    struct cols_job j = {g, cols, x};
    parallel_for(B, 1, col2im_chunk, &j);
}

/* ---- epilogues ------------------------------------------------------------ */

/* Both work one sample at a time, so that its rows stay in cache between
 * the steps. */
struct epilogue_job {
    enum act_kind f;
    const float *bias, *y_in, *dy;
    float *z, *y, *sums;
    size_t rows, n;
};

/* z += bias; y = relu(z), in one pass (z and y are distinct here). */
SIMD_CLONES static void bias_relu(float *restrict z, float *restrict y,
                                  const float *restrict bias, size_t rows, size_t n)
{
    for (size_t r = 0; r < rows; r++, z += n, y += n)
        for (size_t o = 0; o < n; o++) {
            float v = z[o] + bias[o];
            z[o] = v;
            y[o] = v > 0 ? v : 0;
        }
}

/* y = relu(y + bias) in place: bias_relu's pass where z is not kept, one
 * pass instead of the bias's and the activation's (a 9-sample block of
 * 26x26x32: 16 us against 28 us, AVX2, measured alone). */
SIMD_CLONES static void bias_relu_in_place(float *restrict y, const float *restrict bias,
                                           size_t rows, size_t n)
{
    for (size_t r = 0; r < rows; r++, y += n)
        for (size_t o = 0; o < n; o++) {
            float v = y[o] + bias[o];
            y[o] = v > 0 ? v : 0;
        }
}

void conv_epilogue_forward(enum act_kind f, const float *bias, float *z, float *y, size_t B,
                           size_t rows, size_t n)
{
    size_t per = rows * n;
    for (size_t b = 0; b < B; b++, z += per, y += per) {
        if (bias && f == ACT_RELU) {
            if (z != y)
                bias_relu(z, y, bias, rows, n);
            else
                bias_relu_in_place(y, bias, rows, n);
            continue;
        }
        if (bias)
            for (size_t r = 0; r < rows; r++)
                for (size_t o = 0; o < n; o++)
                    z[r * n + o] += bias[o];
        if (f != ACT_LINEAR || z != y)
            activation_forward(f, z, y, rows, n);
    }
}

static void bias_activate_chunk(void *ctx, size_t b0, size_t b1)
{
    const struct epilogue_job *j = ctx;
    size_t per = j->rows * j->n;
    conv_epilogue_forward(j->f, j->bias, j->z + b0 * per, j->y + b0 * per, b1 - b0, j->rows,
                          j->n);
}

void conv_bias_activate(enum act_kind f, const float *bias, float *z, float *y, size_t B,
                        size_t rows, size_t n)
{
    if (!bias && f == ACT_LINEAR && z == y)
        return;
    struct epilogue_job j = {.f = f, .bias = bias, .z = z, .y = y, .rows = rows, .n = n};
    parallel_for(B, 1, bias_activate_chunk, &j);
}

/* dz = relu'(z) dy, and s (n) = its column sums, in one pass. relu'(z) is
 * read off y = relu(z): y > 0 exactly where z > 0 (a NaN z gives y = 0 and
 * a zero gradient either way), so z need not be kept. */
SIMD_CLONES static void relu_backward_sums(const float *restrict y, const float *restrict dy,
                                           float *restrict dz, float *restrict s, size_t rows,
                                           size_t n)
{
    for (size_t o = 0; o < n; o++)
        s[o] = 0;
    for (size_t r = 0; r < rows; r++, y += n, dy += n, dz += n)
        for (size_t o = 0; o < n; o++) {
            float g = dy[o], v = y[o] > 0 ? g : 0; /* both loaded: no branch */
            dz[o] = v;
            s[o] += v;
        }
}

/* Defined before its first use: clang does not make a function
 * multiversioned (SIMD_CLONES) after a call to it. */
SIMD_CLONES static void column_sums(const float *restrict dz, size_t rows, size_t n,
                                    float *restrict s)
{
    for (size_t o = 0; o < n; o++)
        s[o] = 0;
    for (size_t r = 0; r < rows; r++)
        for (size_t o = 0; o < n; o++)
            s[o] += dz[r * n + o];
}

void conv_column_sums(const float *restrict dz, size_t rows, size_t n, float *restrict s)
{
    column_sums(dz, rows, n, s);
}

const float *conv_epilogue_backward(enum act_kind f, float *z, const float *y, const float *dy,
                                   float *sums, size_t B, size_t rows, size_t n)
{
    size_t per = rows * n;
    for (size_t b = 0; b < B; b++) {
        const float *dz = dy + b * per;
        if (f == ACT_RELU && z != y) {
            if (sums)
                relu_backward_sums(y + b * per, dz, z + b * per, sums + b * n, rows, n);
            else /* relu'(y) is relu'(z): y stands for z */
                activation_backward(f, y + b * per, y + b * per, dz, z + b * per, rows, n);
            continue;
        }
        if (f != ACT_LINEAR) {
            activation_backward(f, z + b * per, y + b * per, dz, z + b * per, rows, n);
            dz = z + b * per;
        }
        if (sums)
            conv_column_sums(dz, rows, n, sums + b * n);
    }
    return f == ACT_LINEAR ? dy : z;
}

static void backward_chunk(void *ctx, size_t b0, size_t b1)
{
    const struct epilogue_job *j = ctx;
    size_t per = j->rows * j->n;
    conv_epilogue_backward(j->f, j->z + b0 * per, j->y_in + b0 * per, j->dy + b0 * per,
                           j->sums ? j->sums + b0 * j->n : NULL, b1 - b0, j->rows, j->n);
}

const float *conv_backward_epilogue(enum act_kind f, float *z, const float *y, const float *dy,
                                    float *db, float *sums, size_t B, size_t rows, size_t n)
{
    struct epilogue_job j = {.f = f, .z = z, .y_in = y, .dy = dy, .sums = db ? sums : NULL,
                             .rows = rows, .n = n};
    if (f == ACT_LINEAR && !db)
        return dy;
    parallel_for(B, 1, backward_chunk, &j);
    /* The per-sample sums in sample order: the same result for any thread
     * count. */
    for (size_t b = 0; db && b < B; b++)
        for (size_t o = 0; o < n; o++)
            db[o] += sums[b * n + o];
    return f == ACT_LINEAR ? dy : z;
}
