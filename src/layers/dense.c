/* Dense: y = f(x W + b) on the last axis of x (Keras semantics for N-D
 * input: every leading position is one row of the product).
 *   x (B, ..., n_in)   W (n_in, n_out)   b (n_out)   y (B, ..., n_out)
 * (not I and O: cblas.h pulls in complex.h, whose I is a macro.)
 * The cache keeps z = x W + b (when f is not linear), which backward turns
 * into dz in place. */
#include "../parallel.h"
#include "../parallel_gemm.h"
#include "layers.h"

struct dense_conf {
    long units;
    enum act_kind activation;
    bool use_bias;
    struct initializer kernel_initializer, bias_initializer;
    struct regularizer kernel_regularizer, bias_regularizer, activity_regularizer;
    struct constraint kernel_constraint, bias_constraint;
};

#define ARG(name, type, flags) {#name, type, offsetof(struct dense_conf, name), flags, NULL, NULL}
static const struct arg_def dense_args[] = {
    ARG(units, ARG_INT, ARG_REQUIRED),
    ARG(activation, ARG_ACTIVATION, 0),
    ARG(use_bias, ARG_BOOL, 0),
    ARG(kernel_initializer, ARG_INITIALIZER, 0),
    ARG(bias_initializer, ARG_INITIALIZER, 0),
    ARG(kernel_regularizer, ARG_REGULARIZER, 0),
    ARG(bias_regularizer, ARG_REGULARIZER, 0),
    ARG(activity_regularizer, ARG_REGULARIZER, 0),
    ARG(kernel_constraint, ARG_CONSTRAINT, 0),
    ARG(bias_constraint, ARG_CONSTRAINT, 0),
};

static void dense_defaults(void *conf)
{
    struct dense_conf *c = conf;
    c->activation = ACT_LINEAR;
    c->use_bias = true;
    init_default(INIT_GLOROT_UNIFORM, &c->kernel_initializer);
    init_default(INIT_ZEROS, &c->bias_initializer);
}

static int dense_validate(const struct layer *l, const struct spec_node *where, struct diag *d)
{
    const struct dense_conf *c = l->conf;
    if (c->units <= 0 || c->units > (1L << 31))
        return spec_error(where, d, "Dense units must be a positive integer, found %ld",
                          c->units);
    return 0;
}

static int dense_build(struct layer *l, const struct shape *in, size_t n_in, struct shape *out,
                       struct diag *d)
{
    const struct dense_conf *c = l->conf;
    (void)n_in;
    *out = in[0];
    out->dim[out->rank - 1] = (size_t)c->units;
    struct shape k = {2, {in[0].dim[in[0].rank - 1], (size_t)c->units}};
    size_t p = layer_add_param(l, "kernel", &k, &c->kernel_initializer, true);
    if (layer_param_limits(l, p, &c->kernel_regularizer, &c->kernel_constraint, d) < 0)
        return -1;
    if (c->use_bias) {
        struct shape b = {1, {(size_t)c->units}};
        p = layer_add_param(l, "bias", &b, &c->bias_initializer, true);
        if (layer_param_limits(l, p, &c->bias_regularizer, &c->bias_constraint, d) < 0)
            return -1;
    }
    return 0;
}

static size_t dense_cache(const struct layer *l, const struct shape *in, const struct shape *out)
{
    const struct dense_conf *c = l->conf;
    return c->activation == ACT_LINEAR ? 0 : shape_size(out);
}

/* The activation and its gradient over rows, split between the pool's
 * threads (activations are row-wise: softmax needs whole rows). */
struct act_job {
    enum act_kind f;
    const float *z, *y, *dy;
    float *out;
    size_t n;
};

static void act_forward_rows(void *ctx, size_t r0, size_t r1)
{
    const struct act_job *j = ctx;
    activation_forward(j->f, j->z + r0 * j->n, j->out + r0 * j->n, r1 - r0, j->n);
}

static void act_backward_rows(void *ctx, size_t r0, size_t r1)
{
    const struct act_job *j = ctx;
    size_t o = r0 * j->n;
    activation_backward(j->f, j->z + o, j->y + o, j->dy + o, j->out + o, r1 - r0, j->n);
}

static void dense_forward(const struct layer *l, const struct layer_call *c)
{
    const struct dense_conf *cf = l->conf;
    size_t n_in = l->in_shape.dim[l->in_shape.rank - 1], n_out = (size_t)cf->units;
    size_t rows = c->B * (shape_size(&l->in_shape) / n_in);
    const float *W = c->w + l->params[0].offset;
    float *z = cf->activation == ACT_LINEAR ? c->y : c->cache;
    /* z = x W + b */
    gemm_parallel_bias(false, false, rows, n_out, n_in, c->x[0], n_in, W, n_out,
                       cf->use_bias ? c->w + l->params[1].offset : NULL, z, n_out);
    if (cf->activation != ACT_LINEAR) {
        struct act_job j = {.f = cf->activation, .z = z, .out = c->y, .n = n_out};
        parallel_for_samples(rows, n_out, act_forward_rows, &j);
    }
}

static void dense_backward(const struct layer *l, const struct layer_call *c)
{
    const struct dense_conf *cf = l->conf;
    size_t n_in = l->in_shape.dim[l->in_shape.rank - 1], n_out = (size_t)cf->units;
    size_t rows = c->B * (shape_size(&l->in_shape) / n_in);
    const float *W = c->w + l->params[0].offset;
    const float *dz = c->dy;
    if (cf->activation != ACT_LINEAR) {
        struct act_job j = {.f = cf->activation, .z = c->cache, .y = c->y, .dy = c->dy,
                            .out = c->cache, .n = n_out};
        parallel_for_samples(rows, n_out, act_backward_rows, &j);
        dz = c->cache;
    }
    if (l->trainable) {
        /* dW += x^T dz;  db += column sums of dz */
        gemm_parallel(true, false, n_in, n_out, rows, 1.0f, c->x[0], n_in, dz, n_out, 1.0f,
                      c->dw + l->params[0].offset, n_out);
        if (cf->use_bias)
            colsums_parallel(dz, rows, n_out, n_out, c->dw + l->params[1].offset);
    }
    /* dx += dz W^T (or = when dx holds nothing yet) */
    if (c->dx[0])
        gemm_parallel(false, true, rows, n_in, n_out, 1.0f, dz, n_out, W, n_out,
                      layer_dx_assign(c, 0) ? 0.0f : 1.0f, c->dx[0], n_in);
}

const struct layer_ops dense_ops = {
    .class_name = "Dense",
    .base_name = "dense",
    .args = dense_args,
    .n_args = sizeof dense_args / sizeof dense_args[0],
    .conf_size = sizeof(struct dense_conf),
    .defaults = dense_defaults,
    .validate = dense_validate,
    .build = dense_build,
    .cache_floats = dense_cache,
    .forward = dense_forward,
    .backward = dense_backward,
    .assigns_dx = true,
    .mask_mode = layer_mask_keep, /* supports_masking */
};
