/* SpatialDropout1D and SpatialDropout2D (keras/layers/regularization/
 * spatial_dropout1d.py, spatial_dropout2d.py, tf.keras 2.x): Dropout whose
 * noise shape is (B, 1, C) for (B, T, C) input and (B, 1, 1, C) for
 * channels_last (B, H, W, C) input, so a dropped channel is zero at every
 * position of its sample. Inverted as Dropout: kept channels are scaled by
 * 1 / (1 - rate); at inference, or with rate 0, y = x.
 * Both inherit Dropout's get_config (rate, noise_shape, seed); nnc writes
 * SpatialDropout2D's data_format as well, which its constructor accepts.
 * The cache holds the (B, C) mask: 0 or the scale in training, 1 otherwise. */
#include <stddef.h>
#include <string.h>

#include "layers.h"

struct spatial_dropout_conf {
    double rate;
    const char *data_format; /* SpatialDropout2D */
};

static const char *const data_formats[] = {"channels_last", NULL};
static const char *const data_formats_later[] = {"channels_first", NULL};

#define ARG(name, type, flags) \
    {#name, type, offsetof(struct spatial_dropout_conf, name), flags, NULL, NULL}
static const struct arg_def spatial_dropout1d_args[] = {
    ARG(rate, ARG_FLOAT, ARG_REQUIRED),
    {"noise_shape", ARG_UNSUPPORTED, 0, 0, NULL, NULL},
    {"seed", ARG_UNSUPPORTED, 0, 0, NULL, NULL},
};
static const struct arg_def spatial_dropout2d_args[] = {
    ARG(rate, ARG_FLOAT, ARG_REQUIRED),
    {"data_format", ARG_CHOICE, offsetof(struct spatial_dropout_conf, data_format), 0,
     data_formats, data_formats_later},
    {"noise_shape", ARG_UNSUPPORTED, 0, 0, NULL, NULL},
    {"seed", ARG_UNSUPPORTED, 0, 0, NULL, NULL},
};

static void spatial_dropout_defaults(void *conf)
{
    /* data_format None means backend.image_data_format(): channels_last */
    ((struct spatial_dropout_conf *)conf)->data_format = data_formats[0];
}

static int spatial_dropout_validate(const struct layer *l, const struct spec_node *where,
                                    struct diag *d)
{
    const struct spatial_dropout_conf *c = l->conf;
    if (!(c->rate >= 0 && c->rate < 1))
        return spec_error(where, d, "%s rate must be in [0, 1), found %g", l->ops->class_name,
                          c->rate);
    return 0;
}

/* InputSpec(ndim=3) and InputSpec(ndim=4): rank 2 or 3 after the batch. */
static int spatial_dropout_build(struct layer *l, const struct shape *in, size_t n_in,
                                 struct shape *out, struct diag *d)
{
    int want = l->ops->args == spatial_dropout1d_args ? 2 : 3;
    if (in[0].rank != want) {
        char buf[96];
        return spec_error(l->where, d, "%s needs %s input, found %s", l->ops->class_name,
                          want == 2 ? "(batch, steps, channels)"
                                    : "(batch, rows, cols, channels)",
                          shape_format(&in[0], buf, sizeof buf));
    }
    *out = in[0];
    return 0;
}

static size_t spatial_dropout_cache(const struct layer *l, const struct shape *in,
                                    const struct shape *out)
{
    return out->dim[out->rank - 1];
}

static void spatial_dropout_forward(const struct layer *l, const struct layer_call *c)
{
    const struct spatial_dropout_conf *cf = l->conf;
    size_t n = shape_size(&l->out_shape), C = l->out_shape.dim[l->out_shape.rank - 1];
    size_t n_mask = c->B * C;
    float *mask = c->cache; /* (B, C) */
    if (!c->training || cf->rate == 0) {
        memcpy(c->y, c->x[0], c->B * n * sizeof *c->y);
        for (size_t i = 0; i < n_mask; i++)
            mask[i] = 1.0f;
        return;
    }
    /* As Dropout: 32-bit uniforms against the rate, two per rng draw. */
    float scale = (float)(1.0 / (1.0 - cf->rate));
    uint64_t threshold = (uint64_t)(cf->rate * 4294967296.0);
    for (size_t i = 0; i < n_mask; i += 2) {
        uint64_t bits = rng_next(c->rng);
        for (size_t k = 0; k < 2 && i + k < n_mask; k++)
            mask[i + k] = ((bits >> (32 * k)) & 0xffffffffu) >= threshold ? scale : 0.0f;
    }
    /* y[b, p, ch] = x[b, p, ch] * mask[b, ch] over the positions p */
    for (size_t b = 0; b < c->B; b++)
        for (size_t p = 0; p < n; p += C)
            for (size_t ch = 0; ch < C; ch++)
                c->y[b * n + p + ch] = c->x[0][b * n + p + ch] * mask[b * C + ch];
}

static void spatial_dropout_backward(const struct layer *l, const struct layer_call *c)
{
    if (!c->dx[0])
        return;
    size_t n = shape_size(&l->out_shape), C = l->out_shape.dim[l->out_shape.rank - 1];
    for (size_t b = 0; b < c->B; b++)
        for (size_t p = 0; p < n; p += C)
            for (size_t ch = 0; ch < C; ch++)
                c->dx[0][b * n + p + ch] += c->dy[b * n + p + ch] * c->cache[b * C + ch];
}

const struct layer_ops spatial_dropout1d_ops = {
    .class_name = "SpatialDropout1D",
    .base_name = "spatial_dropout1d",
    .args = spatial_dropout1d_args,
    .n_args = sizeof spatial_dropout1d_args / sizeof spatial_dropout1d_args[0],
    .conf_size = sizeof(struct spatial_dropout_conf),
    .defaults = spatial_dropout_defaults,
    .validate = spatial_dropout_validate,
    .build = spatial_dropout_build,
    .cache_floats = spatial_dropout_cache,
    .forward = spatial_dropout_forward,
    .backward = spatial_dropout_backward,
    .mask_mode = layer_mask_keep, /* supports_masking */
};

const struct layer_ops spatial_dropout2d_ops = {
    .class_name = "SpatialDropout2D",
    .base_name = "spatial_dropout2d",
    .args = spatial_dropout2d_args,
    .n_args = sizeof spatial_dropout2d_args / sizeof spatial_dropout2d_args[0],
    .conf_size = sizeof(struct spatial_dropout_conf),
    .defaults = spatial_dropout_defaults,
    .validate = spatial_dropout_validate,
    .build = spatial_dropout_build,
    .cache_floats = spatial_dropout_cache,
    .forward = spatial_dropout_forward,
    .backward = spatial_dropout_backward,
    .mask_mode = layer_mask_keep, /* supports_masking */
};
