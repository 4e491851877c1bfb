/* Embedding (keras/layers/core/embedding.py): each input value is a token
 * index i, replaced by row i of the weight `embeddings`:
 *   x (B, T...)   embeddings (input_dim, output_dim)   y (B, T..., output_dim)
 * Our data is float32, so indices arrive as floats (exact up to 2^24, hence
 * that limit on input_dim); Keras casts them to int32, which truncates. The
 * data loaders reject indices that are negative, not integers, or >=
 * input_dim before anything runs (check_input); forward writes a zero row
 * for such a value where it could still appear (an Embedding not fed by the
 * model's input), where TensorFlow's CPU gather would fail.
 * Backward scatter-adds dy into the rows used; indices have no gradient
 * (Keras: None), so dx is left alone. mask_zero makes the time-step mask
 * x != 0 (compute_mask). No cache. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../parallel.h"
#include "layers.h"

#define EMBEDDING_MAX_INPUT_DIM (1L << 24) /* float32 holds every index below it */

struct embedding_conf {
    long input_dim, output_dim;
    struct initializer embeddings_initializer;
    struct regularizer embeddings_regularizer, activity_regularizer;
    struct constraint embeddings_constraint;
    bool mask_zero;
    long input_length; /* ARG_NULL_INT when not given */
    bool sparse;
};

#define ARG(name, type, flags) {#name, type, offsetof(struct embedding_conf, name), flags, NULL, NULL}
/* Keras's positional order; get_config leaves sparse out. */
static const struct arg_def embedding_args[] = {
    ARG(input_dim, ARG_INT, ARG_REQUIRED),
    ARG(output_dim, ARG_INT, ARG_REQUIRED),
    ARG(embeddings_initializer, ARG_INITIALIZER, 0),
    ARG(embeddings_regularizer, ARG_REGULARIZER, 0),
    ARG(activity_regularizer, ARG_REGULARIZER, 0),
    ARG(embeddings_constraint, ARG_CONSTRAINT, 0),
    ARG(mask_zero, ARG_BOOL, 0),
    ARG(input_length, ARG_INT, ARG_NULLABLE),
    ARG(sparse, ARG_BOOL, ARG_UNSAVED),
};

static void embedding_defaults(void *conf)
{
    struct embedding_conf *c = conf;
    /* "uniform": RandomUniform(minval=-0.05, maxval=0.05). */
    init_default(INIT_RANDOM_UNIFORM, &c->embeddings_initializer);
    c->input_length = ARG_NULL_INT;
}

/* Legacy input_length: Keras turns it into input_shape (input_length,) when
 * no input shape is given (Embedding.__init__), and compute_output_shape
 * rejects one that disagrees with the input. */
static int embedding_validate(const struct layer *l, const struct spec_node *where, struct diag *d)
{
    const struct embedding_conf *c = l->conf;
    if (c->input_dim <= 0)
        return spec_error(where, d, "Embedding input_dim must be a positive integer, found %ld",
                          c->input_dim);
    if (c->input_dim > EMBEDDING_MAX_INPUT_DIM)
        return spec_error(where, d,
                          "Embedding input_dim %ld is above %ld, the largest vocabulary whose "
                          "indices float32 data holds exactly",
                          c->input_dim, EMBEDDING_MAX_INPUT_DIM);
    if (c->output_dim <= 0 || c->output_dim > (1L << 31))
        return spec_error(where, d, "Embedding output_dim must be a positive integer, found %ld",
                          c->output_dim);
    if (c->sparse)
        return spec_error(where, d, "Embedding sparse: true is not supported by nnc");
    if (c->input_length == ARG_NULL_INT)
        return 0;
    if (c->input_length <= 0 || c->input_length > (1L << 31))
        return spec_error(where, d, "Embedding input_length must be a positive integer, found %ld",
                          c->input_length);
    if (!l->has_input_shape) {
        struct layer *ml = (struct layer *)l; /* the declared shape is part of the layer */
        ml->has_input_shape = true;
        ml->input_shape = (struct shape){1, {(size_t)c->input_length}};
    }
    return 0;
}

static int embedding_build(struct layer *l, const struct shape *in, size_t n_in,
                           struct shape *out, struct diag *d)
{
    const struct embedding_conf *c = l->conf;
    char buf[96];
    (void)n_in;
    if (c->input_length != ARG_NULL_INT &&
        (in[0].rank != 1 || in[0].dim[0] != (size_t)c->input_length))
        return spec_error(l->where, d, "Embedding input_length is %ld, but the input has shape %s",
                          c->input_length, shape_format(&in[0], buf, sizeof buf));
    if (in[0].rank >= SHAPE_MAX_RANK)
        return spec_error(l->where, d, "Embedding input %s has too many dimensions",
                          shape_format(&in[0], buf, sizeof buf));
    if (c->mask_zero && in[0].rank != 1)
        return spec_error(l->where, d,
                          "Embedding mask_zero needs an input of shape (steps,), found %s (nnc "
                          "masks time steps only)",
                          shape_format(&in[0], buf, sizeof buf));
    *out = in[0];
    out->dim[out->rank++] = (size_t)c->output_dim;
    struct shape e = {2, {(size_t)c->input_dim, (size_t)c->output_dim}};
    size_t p = layer_add_param(l, "embeddings", &e, &c->embeddings_initializer, true);
    return layer_param_limits(l, p, &c->embeddings_regularizer, &c->embeddings_constraint, d);
}

/* The row of an index value, or -1 where Keras's int32 cast and gather
 * would not give one. */
static long row_of(float v, long input_dim)
{
    return v >= 0 && v < (float)input_dim ? (long)v : -1;
}

struct gather_job {
    const float *x, *E;
    float *y;
    size_t T, D;
    long input_dim;
};

static void gather_samples(void *ctx, size_t b0, size_t b1)
{
    const struct gather_job *j = ctx;
    for (size_t r = b0 * j->T; r < b1 * j->T; r++) {
        long i = row_of(j->x[r], j->input_dim);
        if (i >= 0)
            memcpy(j->y + r * j->D, j->E + (size_t)i * j->D, j->D * sizeof *j->y);
        else
            memset(j->y + r * j->D, 0, j->D * sizeof *j->y);
    }
}

static void embedding_forward(const struct layer *l, const struct layer_call *c)
{
    const struct embedding_conf *cf = l->conf;
    struct gather_job j = {c->x[0], c->w + l->params[0].offset, c->y, shape_size(&l->in_shape),
                           (size_t)cf->output_dim, cf->input_dim};
    parallel_for_samples(c->B, j.T * j.D, gather_samples, &j);
}

/* dE[i] += dy of every position holding index i. Serial: two samples may
 * share a row. */
static void embedding_backward(const struct layer *l, const struct layer_call *c)
{
    const struct embedding_conf *cf = l->conf;
    if (!l->trainable)
        return;
    size_t rows = c->B * shape_size(&l->in_shape), D = (size_t)cf->output_dim;
    float *dE = c->dw + l->params[0].offset;
    for (size_t r = 0; r < rows; r++) {
        long i = row_of(c->x[0][r], cf->input_dim);
        if (i < 0)
            continue;
        float *g = dE + (size_t)i * D;
        const float *dy = c->dy + r * D;
        for (size_t k = 0; k < D; k++)
            g[k] += dy[k];
    }
}

static enum mask_mode embedding_mask_mode(const struct layer *l)
{
    const struct embedding_conf *c = l->conf;
    return c->mask_zero ? MASK_MAKE : MASK_DROP;
}

/* compute_mask: not_equal(inputs, 0), on the values as given. */
static void embedding_make_mask(const struct layer *l, size_t B, const float *x,
                                unsigned char *mask)
{
    size_t n = B * shape_size(&l->in_shape);
    for (size_t i = 0; i < n; i++)
        mask[i] = x[i] != 0.0f;
}

static int embedding_check_input(const struct layer *l, const float *x, size_t *at, char *why,
                                 size_t why_size)
{
    const struct embedding_conf *c = l->conf;
    size_t n = shape_size(&l->in_shape);
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        if (v == floorf(v) && v >= 0 && v < (float)c->input_dim)
            continue;
        *at = i;
        if (v != floorf(v))
            snprintf(why, why_size, "embedding '%s': index %.9g is not an integer", l->name,
                     (double)v);
        else if (v < 0)
            snprintf(why, why_size, "embedding '%s': index %.9g is negative", l->name, (double)v);
        else
            snprintf(why, why_size, "embedding '%s': index %.9g is not below input_dim %ld",
                     l->name, (double)v, c->input_dim);
        return -1;
    }
    return 0;
}

const struct layer_ops embedding_ops = {
    .class_name = "Embedding",
    .base_name = "embedding",
    .args = embedding_args,
    .n_args = sizeof embedding_args / sizeof embedding_args[0],
    .conf_size = sizeof(struct embedding_conf),
    .defaults = embedding_defaults,
    .validate = embedding_validate,
    .build = embedding_build,
    .forward = embedding_forward,
    .backward = embedding_backward,
    .mask_mode = embedding_mask_mode,
    .make_mask = embedding_make_mask,
    .check_input = embedding_check_input,
};
