/* LayerNormalization (keras/layers/normalization/layer_normalization.py):
 * each sample is normalized over the `axis` dimensions on its own, in
 * training and inference alike:
 *   y = (x - mean) / sqrt(var + eps) * gamma + beta
 * with the biased variance (tf.nn.moments) of each group of values that
 * differ only in their axis coordinates. With x viewed as (B, outer, A,
 * inner) (norm_axes.h) a group is one (b, o, i) and its A values; gamma and
 * beta have Keras's shape [input dim of each axis, in the order given] and
 * hold A values in the sorted-axes layout (Keras reshapes them so).
 *
 * The cache keeps each group's mean and 1 / sqrt(var + eps): per sample,
 * 2 * outer * inner floats. Forward and the dx pass run in parallel over the
 * samples; the dgamma/dbeta sums run in parallel over blocks of the axis
 * values, each summing the batch in a fixed order (deterministic). */
#include <math.h>
#include <stddef.h>

#include "../parallel.h"
#include "layers.h"
#include "norm_axes.h"

#define LN_BLOCK 32

struct ln_conf {
    struct int_tuple axis;
    double epsilon;
    bool center, scale;
    struct initializer beta_initializer, gamma_initializer;
    struct regularizer beta_regularizer, gamma_regularizer;
    struct constraint beta_constraint, gamma_constraint;
    /* Set by build. */
    struct norm_axes ax;
    int p_gamma, p_beta;    /* parameter indices; -1 when absent */
};

#define ARG(name, type) {#name, type, offsetof(struct ln_conf, name), 0, NULL, NULL}
static const struct arg_def ln_args[] = {
    ARG(axis, ARG_TUPLE),
    ARG(epsilon, ARG_FLOAT),
    ARG(center, ARG_BOOL),
    ARG(scale, ARG_BOOL),
    ARG(beta_initializer, ARG_INITIALIZER),
    ARG(gamma_initializer, ARG_INITIALIZER),
    ARG(beta_regularizer, ARG_REGULARIZER),
    ARG(gamma_regularizer, ARG_REGULARIZER),
    ARG(beta_constraint, ARG_CONSTRAINT),
    ARG(gamma_constraint, ARG_CONSTRAINT),
};

static void ln_defaults(void *conf)
{
    struct ln_conf *c = conf;
    c->axis = (struct int_tuple){1, {-1}};
    c->epsilon = 1e-3;
    c->center = c->scale = true;
    init_default(INIT_ZEROS, &c->beta_initializer);
    init_default(INIT_ONES, &c->gamma_initializer);
}

static int ln_validate(const struct layer *l, const struct spec_node *where, struct diag *d)
{
    const struct ln_conf *c = l->conf;
    if (c->axis.n == 0)
        return spec_error(where, d, "LayerNormalization axis must name at least one axis");
    if (!(c->epsilon >= 0 && isfinite(c->epsilon)))
        return spec_error(where, d, "LayerNormalization epsilon must be >= 0, found %g",
                          c->epsilon);
    return 0;
}

static int ln_build(struct layer *l, const struct shape *in, size_t n_in, struct shape *out,
                    struct diag *d)
{
    struct ln_conf *c = l->conf;
    if (norm_axes_resolve(l, &c->axis, &in[0], &c->ax, d) < 0)
        return -1;
    struct shape ps = {c->axis.n, {0}};
    for (int k = 0; k < c->axis.n; k++) {
        c->axis.v[k] = c->ax.axis[k]; /* serialized resolved, as Keras does after build */
        ps.dim[k] = in[0].dim[c->ax.axis[k] - 1];
    }
    *out = in[0];
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
    return 0;
}

static size_t ln_cache(const struct layer *l, const struct shape *in, const struct shape *out)
{
    const struct ln_conf *c = l->conf;
    return 2 * c->ax.outer * c->ax.inner;
}

struct ln_run {
    const struct layer *l;
    const struct layer_call *c;
};

static const float *ln_param(const struct ln_run *r, int p)
{
    return p < 0 ? NULL : r->c->w + r->l->params[p].offset;
}

static void ln_forward_samples(void *ctx, size_t b0, size_t b1)
{
    const struct ln_run *r = ctx;
    const struct ln_conf *cf = r->l->conf;
    size_t A = cf->ax.C, inner = cf->ax.inner, G = cf->ax.outer * inner;
    const float *gamma = ln_param(r, cf->p_gamma), *beta = ln_param(r, cf->p_beta);
    float eps = (float)cf->epsilon;
    for (size_t b = b0; b < b1; b++) {
        float *stats = r->c->cache + b * 2 * G;
        for (size_t g = 0; g < G; g++) {
            /* Group g = (o, i): values at ((o * A) + a) * inner + i. */
            size_t base = b * cf->ax.outer * A * inner + (g / inner) * A * inner + g % inner;
            const float *x = r->c->x[0] + base;
            float *y = r->c->y + base;
            double sum = 0, sq = 0;
            for (size_t a = 0; a < A; a++)
                sum += x[a * inner];
            double mu = sum / (double)A;
            for (size_t a = 0; a < A; a++)
                sq += (x[a * inner] - mu) * (x[a * inner] - mu);
            float mean = (float)mu, inv = 1.0f / sqrtf((float)(sq / (double)A) + eps);
            stats[2 * g] = mean;
            stats[2 * g + 1] = inv;
            for (size_t a = 0; a < A; a++) {
                float v = (x[a * inner] - mean) * inv;
                y[a * inner] = (gamma ? v * gamma[a] : v) + (beta ? beta[a] : 0.0f);
            }
        }
    }
}

static void ln_forward(const struct layer *l, const struct layer_call *c)
{
    struct ln_run r = {l, c};
    parallel_for(c->B, 1, ln_forward_samples, &r);
}

/* Per group, with xh = (x - mean) * inv and g = dy * gamma:
 *   dx = inv * (g - mean(g) - xh * mean(g * xh)). */
static void ln_dx_samples(void *ctx, size_t b0, size_t b1)
{
    const struct ln_run *r = ctx;
    const struct ln_conf *cf = r->l->conf;
    size_t A = cf->ax.C, inner = cf->ax.inner, G = cf->ax.outer * inner;
    const float *gamma = ln_param(r, cf->p_gamma);
    for (size_t b = b0; b < b1; b++) {
        const float *stats = r->c->cache + b * 2 * G;
        for (size_t g = 0; g < G; g++) {
            size_t base = b * cf->ax.outer * A * inner + (g / inner) * A * inner + g % inner;
            const float *x = r->c->x[0] + base, *dy = r->c->dy + base;
            float *dx = r->c->dx[0] + base;
            float mean = stats[2 * g], inv = stats[2 * g + 1];
            double sg = 0, sgx = 0;
            for (size_t a = 0; a < A; a++) {
                float ga = gamma ? dy[a * inner] * gamma[a] : dy[a * inner];
                sg += ga;
                sgx += ga * ((x[a * inner] - mean) * inv);
            }
            float mg = (float)(sg / (double)A), mgx = (float)(sgx / (double)A);
            for (size_t a = 0; a < A; a++) {
                float ga = gamma ? dy[a * inner] * gamma[a] : dy[a * inner];
                float xh = (x[a * inner] - mean) * inv;
                dx[a * inner] += inv * (ga - mg - xh * mgx);
            }
        }
    }
}

/* dgamma[a] += sum dy * xh, dbeta[a] += sum dy over every group of the
 * batch, for the axis values [a0, a0 + k) of each block. */
static void ln_dw_blocks(void *ctx, size_t k0, size_t k1)
{
    const struct ln_run *r = ctx;
    const struct ln_conf *cf = r->l->conf;
    size_t A = cf->ax.C, inner = cf->ax.inner, G = cf->ax.outer * inner;
    for (size_t blk = k0; blk < k1; blk++) {
        size_t a0 = blk * LN_BLOCK, k = A - a0 < LN_BLOCK ? A - a0 : LN_BLOCK;
        double sdyx[LN_BLOCK] = {0}, sdy[LN_BLOCK] = {0};
        for (size_t b = 0; b < r->c->B; b++) {
            const float *stats = r->c->cache + b * 2 * G;
            for (size_t g = 0; g < G; g++) {
                size_t base = b * cf->ax.outer * A * inner + (g / inner) * A * inner + g % inner;
                const float *x = r->c->x[0] + base, *dy = r->c->dy + base;
                float mean = stats[2 * g], inv = stats[2 * g + 1];
                for (size_t j = 0; j < k; j++) {
                    size_t at = (a0 + j) * inner;
                    sdy[j] += dy[at];
                    sdyx[j] += dy[at] * ((x[at] - mean) * inv);
                }
            }
        }
        if (cf->p_gamma >= 0)
            for (size_t j = 0; j < k; j++)
                r->c->dw[r->l->params[cf->p_gamma].offset + a0 + j] += (float)sdyx[j];
        if (cf->p_beta >= 0)
            for (size_t j = 0; j < k; j++)
                r->c->dw[r->l->params[cf->p_beta].offset + a0 + j] += (float)sdy[j];
    }
}

static void ln_backward(const struct layer *l, const struct layer_call *c)
{
    const struct ln_conf *cf = l->conf;
    struct ln_run r = {l, c};
    if (c->dx[0])
        parallel_for(c->B, 1, ln_dx_samples, &r);
    if (l->trainable && l->n_params)
        parallel_for((cf->ax.C + LN_BLOCK - 1) / LN_BLOCK, 1, ln_dw_blocks, &r);
}

const struct layer_ops layer_norm_ops = {
    .class_name = "LayerNormalization",
    .base_name = "layer_normalization",
    .args = ln_args,
    .n_args = sizeof ln_args / sizeof ln_args[0],
    .conf_size = sizeof(struct ln_conf),
    .defaults = ln_defaults,
    .validate = ln_validate,
    .build = ln_build,
    .cache_floats = ln_cache,
    .forward = ln_forward,
    .backward = ln_backward,
    .mask_mode = layer_mask_keep, /* supports_masking */
};
