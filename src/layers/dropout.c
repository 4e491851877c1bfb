/* Dropout (inverted, as Keras): in training each value is kept with
 * probability 1 - rate and scaled by 1 / (1 - rate); at inference y = x.
 * The cache holds the mask for backward: 0 or the scale in training, 1 at
 * inference (so a gradient taken in inference mode is the identity's). */
#include <stddef.h>
#include <string.h>

#include "layers.h"

/* Values per block of random draws (even: a draw covers two values). */
#define DROPOUT_BLOCK 256

struct dropout_conf {
    double rate;
};

static const struct arg_def dropout_args[] = {
    {"rate", ARG_FLOAT, offsetof(struct dropout_conf, rate), ARG_REQUIRED, NULL, NULL},
    {"noise_shape", ARG_UNSUPPORTED, 0, 0, NULL, NULL},
    {"seed", ARG_UNSUPPORTED, 0, 0, NULL, NULL},
};

static int dropout_validate(const struct layer *l, const struct spec_node *where, struct diag *d)
{
    const struct dropout_conf *c = l->conf;
    if (!(c->rate >= 0 && c->rate < 1))
        return spec_error(where, d, "Dropout rate must be in [0, 1), found %g", c->rate);
    return 0;
}

static int dropout_build(struct layer *l, const struct shape *in, size_t n_in, struct shape *out,
                         struct diag *d)
{
    *out = in[0];
    return 0;
}

static size_t dropout_cache(const struct layer *l, const struct shape *in, const struct shape *out)
{
    return shape_size(out);
}

static void dropout_forward(const struct layer *l, const struct layer_call *c)
{
    const struct dropout_conf *cf = l->conf;
    size_t n = c->B * shape_size(&l->out_shape);
    if (!c->training || cf->rate == 0) {
        /* The identity, and its mask for backward: a gradient taken after an
         * inference pass must not reuse the last training mask. */
        memcpy(c->y, c->x[0], n * sizeof *c->y);
        for (size_t i = 0; i < n; i++)
            c->cache[i] = 1.0f;
        return;
    }
    float scale = (float)(1.0 / (1.0 - cf->rate));
    /* Compare 32-bit uniforms against the rate: one rng draw per two values
     * (the low half first). The draws of a block go to a buffer first, so
     * that the select below is branch-free and vectorizes (a branch taken
     * at random for half of the values mispredicted half of the time). */
    uint32_t threshold = (uint32_t)(cf->rate * 4294967296.0); /* rate < 1: < 2^32 */
    const float *x = c->x[0];
    float *y = c->y, *mask = c->cache;
    uint64_t bits[DROPOUT_BLOCK / 2];
    uint32_t u[DROPOUT_BLOCK];
    for (size_t i = 0; i < n; i += DROPOUT_BLOCK) {
        size_t len = n - i < DROPOUT_BLOCK ? n - i : DROPOUT_BLOCK;
        rng_fill(c->rng, bits, (len + 1) / 2);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        memcpy(u, bits, (len + 1) / 2 * sizeof *bits); /* the low half of each draw first */
#else
        for (size_t k = 0; k < len; k += 2) {
            u[k] = (uint32_t)bits[k / 2];
            u[k + 1] = (uint32_t)(bits[k / 2] >> 32);
        }
#endif
        for (size_t k = 0; k < len; k++) {
            float m = u[k] >= threshold ? scale : 0.0f;
            mask[i + k] = m;
            y[i + k] = x[i + k] * m;
        }
    }
}

static void dropout_backward(const struct layer *l, const struct layer_call *c)
{
    if (!c->dx[0])
        return;
    size_t n = c->B * shape_size(&l->out_shape);
    for (size_t i = 0; i < n; i++)
        c->dx[0][i] += c->dy[i] * c->cache[i];
}

const struct layer_ops dropout_ops = {
    .class_name = "Dropout",
    .base_name = "dropout",
    .args = dropout_args,
    .n_args = sizeof dropout_args / sizeof dropout_args[0],
    .conf_size = sizeof(struct dropout_conf),
    .validate = dropout_validate,
    .build = dropout_build,
    .cache_floats = dropout_cache,
    .forward = dropout_forward,
    .backward = dropout_backward,
    .mask_mode = layer_mask_keep, /* supports_masking */
};
