/* BatchNormalization (keras/layers/normalization/batch_normalization.py),
 * per channel c of the axis (x viewed as (B, outer, C, inner), norm_axes.h):
 *   training:  y = gamma * (x - mean) / sqrt(var + eps) + beta with the
 *              batch's mean and biased variance over the B * outer * inner
 *              values of c, and the moving statistics updated in forward
 *              (through c->w_stats) as Keras's _assign_moving_average does:
 *                moving -= (moving - batch) * (1 - momentum)
 *   inference: the same with moving_mean and moving_variance. A layer with
 *              trainable: false always runs in inference (Keras 2 rule).
 * Keras takes the fused path (tf.compat.v1.nn.fused_batch_norm) for 4-D and
 * 5-D inputs normalized on their first or last axis; there the moving
 * variance is fed the batch variance with Bessel's correction, var * N /
 * (N - 1) (tensorflow/core/kernels/fused_batch_norm_op.cc, rest_size_adjust;
 * Keras's _bessels_correction_test_only keeps it), and epsilon is raised to
 * at least 1.001e-5 (tensorflow/python/ops/nn_impl.py fused_batch_norm).
 * Other inputs (after a Dense: 2-D) take tf.nn.moments' biased variance.
 * Under a time-step mask (BatchNormalization.call's mask in late tf.keras 2,
 * non-fused path only) the batch statistics are tf.nn.weighted_moments
 * with the mask as frequency weights: the mean and variance of the
 * unmasked steps (0 and 0 when none is), which then normalize every step.
 *
 * Memory: the cache holds, in sample 0's slot, whether forward used the
 * batch statistics, then (without a mask) each channel's mean and
 * 1 / sqrt(var + eps) that forward normalized with, which backward reads
 * back instead of passing over x twice more; under a mask backward
 * recomputes them from x with the same code (so the same values).
 * Channels are processed in groups of BN_GROUP;
 * groups are independent (statistics over the whole batch, accumulated in
 * double in a fixed order), so they run in parallel and the result does not
 * depend on the thread count. */
#include <math.h>
#include <stddef.h>

#include "../parallel.h"
#include "../simd.h"
#include "layers.h"
#include "norm_axes.h"

#define BN_GROUP 32

struct bn_conf {
    struct int_tuple axis;
    double momentum, epsilon;
    bool center, scale;
    struct initializer beta_initializer, gamma_initializer, moving_mean_initializer,
        moving_variance_initializer;
    struct regularizer beta_regularizer, gamma_regularizer;
    struct constraint beta_constraint, gamma_constraint;
    bool synchronized, renorm;
    double renorm_momentum;
    /* Set by build. */
    struct norm_axes ax;
    bool fused;
    float eps;                       /* epsilon as used (fused: at least 1.001e-5) */
    int p_gamma, p_beta, p_mean, p_var; /* parameter indices; -1 when absent */
};

#define ARG(name, type, flags) {#name, type, offsetof(struct bn_conf, name), flags, NULL, NULL}
#define LATER(name) {#name, ARG_UNSUPPORTED, 0, ARG_UNSAVED, NULL, NULL}
/* Keras's positional order (BatchNormalization.__init__), then the keyword
 * arguments of BatchNormalizationBase, which get_config leaves out. */
static const struct arg_def bn_args[] = {
    ARG(axis, ARG_TUPLE, 0),
    ARG(momentum, ARG_FLOAT, 0),
    ARG(epsilon, ARG_FLOAT, 0),
    ARG(center, ARG_BOOL, 0),
    ARG(scale, ARG_BOOL, 0),
    ARG(beta_initializer, ARG_INITIALIZER, 0),
    ARG(gamma_initializer, ARG_INITIALIZER, 0),
    ARG(moving_mean_initializer, ARG_INITIALIZER, 0),
    ARG(moving_variance_initializer, ARG_INITIALIZER, 0),
    ARG(beta_regularizer, ARG_REGULARIZER, 0),
    ARG(gamma_regularizer, ARG_REGULARIZER, 0),
    ARG(beta_constraint, ARG_CONSTRAINT, 0),
    ARG(gamma_constraint, ARG_CONSTRAINT, 0),
    ARG(synchronized, ARG_BOOL, ARG_UNSAVED),
    ARG(renorm, ARG_BOOL, ARG_UNSAVED),
    LATER(renorm_clipping),
    ARG(renorm_momentum, ARG_FLOAT, ARG_UNSAVED),
    LATER(fused),
    LATER(virtual_batch_size),
    LATER(adjustment),
};

static void bn_defaults(void *conf)
{
    struct bn_conf *c = conf;
    c->axis = (struct int_tuple){1, {-1}};
    c->momentum = 0.99;
    c->epsilon = 1e-3;
    c->center = c->scale = true;
    init_default(INIT_ZEROS, &c->beta_initializer);
    init_default(INIT_ONES, &c->gamma_initializer);
    init_default(INIT_ZEROS, &c->moving_mean_initializer);
    init_default(INIT_ONES, &c->moving_variance_initializer);
    c->renorm_momentum = 0.99;
}

static int bn_validate(const struct layer *l, const struct spec_node *where, struct diag *d)
{
    const struct bn_conf *c = l->conf;
    if (c->axis.n == 0)
        return spec_error(where, d, "BatchNormalization axis must name at least one axis");
    if (!(c->momentum >= 0 && c->momentum <= 1))
        return spec_error(where, d, "BatchNormalization momentum must be in [0, 1], found %g",
                          c->momentum);
    if (!(c->epsilon >= 0 && isfinite(c->epsilon)))
        return spec_error(where, d, "BatchNormalization epsilon must be >= 0, found %g",
                          c->epsilon);
    if (c->synchronized)
        return spec_error(where, d,
                          "BatchNormalization synchronized: true is not supported by nnc "
                          "(it has no distribution strategy)");
    if (c->renorm)
        return spec_error(where, d, "BatchNormalization renorm: true is not supported by nnc yet");
    return 0;
}

static int bn_build(struct layer *l, const struct shape *in, size_t n_in, struct shape *out,
                    struct diag *d)
{
    struct bn_conf *c = l->conf;
    if (norm_axes_resolve(l, &c->axis, &in[0], &c->ax, d) < 0)
        return -1;
    /* Serialized as Keras does after build: the resolved list ([3], not -1). */
    for (int k = 0; k < c->axis.n; k++)
        c->axis.v[k] = c->ax.axis[k];
    *out = in[0];

    /* One axis: shape (C,); several: the input's rank, batch included, with
     * 1 on the other axes (Keras's param_shape). */
    struct shape ps = {1, {c->ax.C}};
    if (c->axis.n > 1) {
        if (in[0].rank + 1 > SHAPE_MAX_RANK)
            return spec_error(l->where, d, "BatchNormalization over several axes of a %d-D input "
                                           "is not supported (weights of rank at most %d)",
                              in[0].rank, SHAPE_MAX_RANK);
        ps.rank = in[0].rank + 1;
        ps.dim[0] = 1;
        for (int i = 0; i < in[0].rank; i++)
            ps.dim[i + 1] = 1;
        for (int k = 0; k < c->axis.n; k++)
            ps.dim[c->ax.axis[k]] = in[0].dim[c->ax.axis[k] - 1];
    }
    long rank = in[0].rank + 1, a = c->ax.axis[0];
    c->fused = c->axis.n == 1 &&
               ((rank == 4 && (a == 1 || a == 3)) || (rank == 5 && (a == 1 || a == 4)));
    c->eps = (float)(c->fused && c->epsilon < 1.001e-5 ? 1.001e-5 : c->epsilon);

    c->p_gamma = c->p_beta = -1;
    if (c->scale) {
        c->p_gamma = (int)layer_add_param(l, "gamma", &ps, &c->gamma_initializer, true);
        if (layer_param_limits(l, (size_t)c->p_gamma, &c->gamma_regularizer, &c->gamma_constraint,
                               d) < 0)
            return -1;
    }
    if (c->center) {
        c->p_beta = (int)layer_add_param(l, "beta", &ps, &c->beta_initializer, true);
        if (layer_param_limits(l, (size_t)c->p_beta, &c->beta_regularizer, &c->beta_constraint,
                               d) < 0)
            return -1;
    }
    c->p_mean = (int)layer_add_param(l, "moving_mean", &ps, &c->moving_mean_initializer, false);
    c->p_var =
        (int)layer_add_param(l, "moving_variance", &ps, &c->moving_variance_initializer, false);
    return 0;
}

static size_t bn_cache(const struct layer *l, const struct shape *in, const struct shape *out)
{
    const struct bn_conf *cf = l->conf;
    return 1 + 2 * cf->ax.C;
}

/* One pass of the layer over a batch, shared by the channel groups. */
struct bn_run {
    const struct layer *l;
    const struct layer_call *c;
    size_t rows;        /* B * outer */
    bool batch_stats;   /* normalize with the batch's statistics (training) */
    /* The time-step mask weighting the batch statistics, or NULL: element e
     * of the batch has weight mask[e / per_step]. */
    const unsigned char *mask;
    size_t per_step;
};

static const float *bn_param(const struct bn_run *r, int p)
{
    return p < 0 ? NULL : r->c->w + r->l->params[p].offset;
}

/* bn_stats under a mask: weighted sums, and the weight of each channel in
 * W (tf.nn.weighted_moments, which divides with div_no_nan). */
static void bn_stats_masked(const struct bn_run *r, size_t c0, size_t k, float *mean, float *inv,
                            float *bmean, float *bvar, double *W)
{
    const struct bn_conf *cf = r->l->conf;
    size_t C = cf->ax.C, inner = cf->ax.inner;
    const float *x = r->c->x[0];
    double sum[BN_GROUP] = {0}, sq[BN_GROUP] = {0}, mu[BN_GROUP];
    for (size_t j = 0; j < k; j++)
        W[j] = 0;
    for (size_t row = 0; row < r->rows; row++)
        for (size_t j = 0; j < k; j++) {
            size_t at = (row * C + c0 + j) * inner;
            for (size_t i = 0; i < inner; i++)
                if (r->mask[(at + i) / r->per_step]) {
                    sum[j] += x[at + i];
                    W[j] += 1;
                }
        }
    for (size_t j = 0; j < k; j++)
        mu[j] = W[j] > 0 ? sum[j] / W[j] : 0;
    for (size_t row = 0; row < r->rows; row++)
        for (size_t j = 0; j < k; j++) {
            size_t at = (row * C + c0 + j) * inner;
            for (size_t i = 0; i < inner; i++)
                if (r->mask[(at + i) / r->per_step])
                    sq[j] += (x[at + i] - mu[j]) * (x[at + i] - mu[j]);
        }
    for (size_t j = 0; j < k; j++) {
        bmean[j] = mean[j] = (float)mu[j];
        bvar[j] = (float)(W[j] > 0 ? sq[j] / W[j] : 0);
        inv[j] = 1.0f / sqrtf(bvar[j] + cf->eps);
    }
}

/* The channels-last case (inner == 1, the channels of a row side by side):
 * the same sums, in the same order, as loops over the k channels of each
 * row, which vectorize; the general loops have a stride of `inner` there.
 * x points at channel c0 of row 0; rows are C apart. */
SIMD_CLONES static void rows_sum(const float *restrict x, size_t rows, size_t C, size_t k,
                                 double *restrict sum)
{
    for (size_t row = 0; row < rows; row++, x += C)
        for (size_t j = 0; j < k; j++)
            sum[j] += x[j];
}

SIMD_CLONES static void rows_sq(const float *restrict x, size_t rows, size_t C, size_t k,
                                const double *restrict mu, double *restrict sq)
{
    for (size_t row = 0; row < rows; row++, x += C)
        for (size_t j = 0; j < k; j++)
            sq[j] += (x[j] - mu[j]) * (x[j] - mu[j]);
}

SIMD_CLONES static void rows_affine(const float *restrict x, float *restrict y, size_t rows,
                                    size_t C, size_t k, const float *restrict mean,
                                    const float *restrict a, const float *restrict b)
{
    for (size_t row = 0; row < rows; row++, x += C, y += C)
        for (size_t j = 0; j < k; j++)
            y[j] = (x[j] - mean[j]) * a[j] + b[j];
}

SIMD_CLONES static void rows_grad_sums(const float *restrict x, const float *restrict dy,
                                       size_t rows, size_t C, size_t k, const float *restrict mean,
                                       const float *restrict inv, double *restrict sdy,
                                       double *restrict sdyx)
{
    for (size_t row = 0; row < rows; row++, x += C, dy += C)
        for (size_t j = 0; j < k; j++) {
            sdy[j] += dy[j];
            sdyx[j] += dy[j] * ((x[j] - mean[j]) * inv[j]);
        }
}

SIMD_CLONES static void rows_dx(const float *restrict x, const float *restrict dy,
                                float *restrict dx, size_t rows, size_t C, size_t k,
                                const float *restrict mean, const float *restrict inv,
                                const float *restrict a, const float *restrict mdy,
                                const float *restrict mdyx)
{
    for (size_t row = 0; row < rows; row++, x += C, dy += C, dx += C)
        for (size_t j = 0; j < k; j++) {
            float xh = (x[j] - mean[j]) * inv[j];
            dx[j] += a[j] * (dy[j] - mdy[j] - xh * mdyx[j]);
        }
}

/* Channels [c0, c0 + k): the mean and 1 / sqrt(var + eps) used to normalize,
 * and (batch statistics only) the float batch mean and biased variance and
 * in W the number of values they cover (the mask's weight under a mask). */
static void bn_stats(const struct bn_run *r, size_t c0, size_t k, float *mean, float *inv,
                     float *bmean, float *bvar, double *W)
{
    const struct bn_conf *cf = r->l->conf;
    size_t C = cf->ax.C, inner = cf->ax.inner;
    if (!r->batch_stats) {
        const float *mm = bn_param(r, cf->p_mean), *mv = bn_param(r, cf->p_var);
        for (size_t j = 0; j < k; j++) {
            mean[j] = mm[c0 + j];
            inv[j] = 1.0f / sqrtf(mv[c0 + j] + cf->eps);
        }
        return;
    }
    if (r->mask) {
        bn_stats_masked(r, c0, k, mean, inv, bmean, bvar, W);
        return;
    }
    /* Two passes in double: the mean, then the mean squared deviation. */
    const float *x = r->c->x[0];
    double sum[BN_GROUP] = {0}, sq[BN_GROUP] = {0}, mu[BN_GROUP];
    double N = (double)(r->rows * inner);
    for (size_t j = 0; j < k; j++)
        W[j] = N;
    if (inner == 1)
        rows_sum(x + c0, r->rows, C, k, sum);
    else
        for (size_t row = 0; row < r->rows; row++)
            for (size_t j = 0; j < k; j++) {
                const float *p = x + (row * C + c0 + j) * inner;
                for (size_t i = 0; i < inner; i++)
                    sum[j] += p[i];
            }
    for (size_t j = 0; j < k; j++)
        mu[j] = sum[j] / N;
    if (inner == 1)
        rows_sq(x + c0, r->rows, C, k, mu, sq);
    else
        for (size_t row = 0; row < r->rows; row++)
            for (size_t j = 0; j < k; j++) {
                const float *p = x + (row * C + c0 + j) * inner;
                for (size_t i = 0; i < inner; i++)
                    sq[j] += (p[i] - mu[j]) * (p[i] - mu[j]);
            }
    for (size_t j = 0; j < k; j++) {
        bmean[j] = mean[j] = (float)mu[j];
        bvar[j] = (float)(sq[j] / N);
        inv[j] = 1.0f / sqrtf(bvar[j] + cf->eps);
    }
}

/* Folds the batch statistics into the moving ones, in float as Keras does:
 * non-fused, moving -= (moving - batch) * (1 - momentum); fused (the kernel's
 * exponential_avg_factor f = 1 - momentum), moving = (1 - f) * moving +
 * f * batch, with var * N / (N - 1) for the variance. */
static void bn_update(const struct bn_run *r, size_t c0, size_t k, const float *bmean,
                      const float *bvar)
{
    const struct bn_conf *cf = r->l->conf;
    float *mm = r->c->w_stats + r->l->params[cf->p_mean].offset + c0;
    float *mv = r->c->w_stats + r->l->params[cf->p_var].offset + c0;
    float f = (float)(1.0 - cf->momentum);
    if (!cf->fused) {
        for (size_t j = 0; j < k; j++) {
            mm[j] -= (mm[j] - bmean[j]) * f;
            mv[j] -= (mv[j] - bvar[j]) * f;
        }
        return;
    }
    size_t N = r->rows * cf->ax.inner;
    float adjust = (float)N / (float)(N > 1 ? N - 1 : 1);
    for (size_t j = 0; j < k; j++) {
        mm[j] = (1.0f - f) * mm[j] + f * bmean[j];
        mv[j] = (1.0f - f) * mv[j] + (f * adjust) * bvar[j];
    }
}

static void bn_forward_groups(void *ctx, size_t g0, size_t g1)
{
    const struct bn_run *r = ctx;
    const struct bn_conf *cf = r->l->conf;
    size_t C = cf->ax.C, inner = cf->ax.inner;
    const float *x = r->c->x[0], *gamma = bn_param(r, cf->p_gamma), *beta = bn_param(r, cf->p_beta);
    float *y = r->c->y;
    for (size_t g = g0; g < g1; g++) {
        size_t c0 = g * BN_GROUP, k = C - c0 < BN_GROUP ? C - c0 : BN_GROUP;
        float mean[BN_GROUP], inv[BN_GROUP], bmean[BN_GROUP], bvar[BN_GROUP];
        float a[BN_GROUP], b[BN_GROUP];
        double W[BN_GROUP];
        bn_stats(r, c0, k, mean, inv, bmean, bvar, W);
        if (r->batch_stats && r->c->w_stats)
            bn_update(r, c0, k, bmean, bvar);
        if (r->batch_stats && !r->mask) /* for backward */
            for (size_t j = 0; j < k; j++) {
                r->c->cache[1 + c0 + j] = mean[j];
                r->c->cache[1 + C + c0 + j] = inv[j];
            }
        for (size_t j = 0; j < k; j++) {
            a[j] = gamma ? gamma[c0 + j] * inv[j] : inv[j];
            b[j] = beta ? beta[c0 + j] : 0.0f;
        }
        if (inner == 1) {
            rows_affine(x + c0, y + c0, r->rows, C, k, mean, a, b);
            continue;
        }
        for (size_t row = 0; row < r->rows; row++)
            for (size_t j = 0; j < k; j++) {
                size_t at = (row * C + c0 + j) * inner;
                for (size_t i = 0; i < inner; i++)
                    y[at + i] = (x[at + i] - mean[j]) * a[j] + b[j];
            }
    }
}

static size_t bn_groups(const struct bn_conf *cf) { return (cf->ax.C + BN_GROUP - 1) / BN_GROUP; }

/* The pass over a batch; Keras's fused path ignores a mask (with a warning). */
static struct bn_run bn_run_of(const struct layer *l, const struct layer_call *c, bool batch_stats)
{
    const struct bn_conf *cf = l->conf;
    struct bn_run r = {l, c, c->B * cf->ax.outer, batch_stats, NULL, 0};
    if (c->mask && batch_stats && !cf->fused) {
        r.mask = c->mask;
        r.per_step = shape_size(&l->in_shape) / l->in_shape.dim[0];
    }
    return r;
}

static void bn_forward(const struct layer *l, const struct layer_call *c)
{
    struct bn_run r = bn_run_of(l, c, c->training && l->trainable);
    c->cache[0] = r.batch_stats ? 1.0f : 0.0f;
    parallel_for(bn_groups(l->conf), 1, bn_forward_groups, &r);
}

/* Per channel, over its N values, with xh = (x - mean) * inv:
 *   dbeta = sum dy, dgamma = sum dy * xh;
 *   dx = gamma * inv * (dy - dbeta / N - xh * dgamma / N)  with batch statistics
 *   dx = gamma * inv * dy                                   with moving ones.
 * Under a mask (statistics over the W values of weight m = 1) every value
 * still depends on them: dx = gamma * inv * (dy - m dbeta / W - m xh dgamma / W). */
static void bn_backward_groups(void *ctx, size_t g0, size_t g1)
{
    const struct bn_run *r = ctx;
    const struct bn_conf *cf = r->l->conf;
    size_t C = cf->ax.C, inner = cf->ax.inner;
    const float *x = r->c->x[0], *dy = r->c->dy, *gamma = bn_param(r, cf->p_gamma);
    float *dx = r->c->dx[0];
    for (size_t g = g0; g < g1; g++) {
        size_t c0 = g * BN_GROUP, k = C - c0 < BN_GROUP ? C - c0 : BN_GROUP;
        float mean[BN_GROUP], inv[BN_GROUP], bmean[BN_GROUP], bvar[BN_GROUP];
        double sdy[BN_GROUP] = {0}, sdyx[BN_GROUP] = {0}, W[BN_GROUP];
        if (r->batch_stats && !r->mask) { /* as forward normalized */
            for (size_t j = 0; j < k; j++) {
                mean[j] = r->c->cache[1 + c0 + j];
                inv[j] = r->c->cache[1 + C + c0 + j];
                W[j] = (double)(r->rows * inner);
            }
        } else {
            bn_stats(r, c0, k, mean, inv, bmean, bvar, W);
        }
        if (inner == 1)
            rows_grad_sums(x + c0, dy + c0, r->rows, C, k, mean, inv, sdy, sdyx);
        else
            for (size_t row = 0; row < r->rows; row++)
                for (size_t j = 0; j < k; j++) {
                    size_t at = (row * C + c0 + j) * inner;
                    for (size_t i = 0; i < inner; i++) {
                        sdy[j] += dy[at + i];
                        sdyx[j] += dy[at + i] * ((x[at + i] - mean[j]) * inv[j]);
                    }
                }
        if (r->l->trainable) {
            if (cf->p_gamma >= 0)
                for (size_t j = 0; j < k; j++)
                    r->c->dw[r->l->params[cf->p_gamma].offset + c0 + j] += (float)sdyx[j];
            if (cf->p_beta >= 0)
                for (size_t j = 0; j < k; j++)
                    r->c->dw[r->l->params[cf->p_beta].offset + c0 + j] += (float)sdy[j];
        }
        if (!dx)
            continue;
        float a[BN_GROUP], mdy[BN_GROUP], mdyx[BN_GROUP];
        for (size_t j = 0; j < k; j++) {
            a[j] = gamma ? gamma[c0 + j] * inv[j] : inv[j];
            mdy[j] = r->batch_stats && W[j] > 0 ? (float)(sdy[j] / W[j]) : 0.0f;
            mdyx[j] = r->batch_stats && W[j] > 0 ? (float)(sdyx[j] / W[j]) : 0.0f;
        }
        if (inner == 1 && !r->mask) {
            rows_dx(x + c0, dy + c0, dx + c0, r->rows, C, k, mean, inv, a, mdy, mdyx);
            continue;
        }
        for (size_t row = 0; row < r->rows; row++)
            for (size_t j = 0; j < k; j++) {
                size_t at = (row * C + c0 + j) * inner;
                if (r->mask) {
                    for (size_t i = 0; i < inner; i++) {
                        float xh = (x[at + i] - mean[j]) * inv[j];
                        float m = r->mask[(at + i) / r->per_step] ? 1.0f : 0.0f;
                        dx[at + i] += a[j] * (dy[at + i] - m * mdy[j] - m * xh * mdyx[j]);
                    }
                    continue;
                }
                for (size_t i = 0; i < inner; i++) {
                    float xh = (x[at + i] - mean[j]) * inv[j];
                    dx[at + i] += a[j] * (dy[at + i] - mdy[j] - xh * mdyx[j]);
                }
            }
    }
}

static void bn_backward(const struct layer *l, const struct layer_call *c)
{
    const struct bn_conf *cf = l->conf;
    struct bn_run r = bn_run_of(l, c, c->cache[0] != 0.0f);
    parallel_for(bn_groups(cf), 1, bn_backward_groups, &r);
}

const struct layer_ops batch_norm_ops = {
    .class_name = "BatchNormalization",
    .base_name = "batch_normalization",
    .args = bn_args,
    .n_args = sizeof bn_args / sizeof bn_args[0],
    .conf_size = sizeof(struct bn_conf),
    .defaults = bn_defaults,
    .validate = bn_validate,
    .build = bn_build,
    .cache_floats = bn_cache,
    .forward = bn_forward,
    .backward = bn_backward,
    .mask_mode = layer_mask_keep, /* supports_masking */
};
