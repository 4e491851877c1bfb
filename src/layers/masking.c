/* Masking (keras/layers/core/masking.py): a time step whose features all
 * equal mask_value is masked for the layers after it, and zeroed:
 *   keep[b, t] = any_f(x[b, t, f] != mask_value)
 *   y = x * keep,   dx = dy * keep
 *   x, y (B, T, F)
 * The comparison is in float32 (Keras compares the float32 inputs with
 * mask_value converted to a float32 tensor). The mask comes from x alone, so
 * forward, backward and make_mask each recompute keep from x: no cache.
 * nnc masks time steps only, so the input must be (steps, features). */
#include <stddef.h>

#include "layers.h"

struct masking_conf {
    double mask_value;
};

static const struct arg_def masking_args[] = {
    {"mask_value", ARG_FLOAT, offsetof(struct masking_conf, mask_value), 0, NULL, NULL},
};

static int masking_build(struct layer *l, const struct shape *in, size_t n_in, struct shape *out,
                         struct diag *d)
{
    char buf[96];
    if (in[0].rank != 2)
        return spec_error(l->where, d,
                          "Masking expects input of rank 3 (batch, steps, features), found %s "
                          "(nnc masks time steps only)",
                          shape_format(&in[0], buf, sizeof buf));
    *out = in[0];
    return 0;
}

/* Whether the F features of one step at x are kept. */
static bool step_kept(const float *x, size_t F, float mask_value)
{
    for (size_t f = 0; f < F; f++)
        if (x[f] != mask_value)
            return true;
    return false;
}

static void masking_forward(const struct layer *l, const struct layer_call *c)
{
    const struct masking_conf *cf = l->conf;
    size_t steps = c->B * l->in_shape.dim[0], F = l->in_shape.dim[1];
    for (size_t s = 0; s < steps; s++) {
        const float *x = c->x[0] + s * F;
        float keep = step_kept(x, F, (float)cf->mask_value) ? 1.0f : 0.0f;
        for (size_t f = 0; f < F; f++)
            c->y[s * F + f] = x[f] * keep;
    }
}

static void masking_backward(const struct layer *l, const struct layer_call *c)
{
    const struct masking_conf *cf = l->conf;
    size_t steps = c->B * l->in_shape.dim[0], F = l->in_shape.dim[1];
    if (!c->dx[0])
        return;
    for (size_t s = 0; s < steps; s++) {
        if (!step_kept(c->x[0] + s * F, F, (float)cf->mask_value))
            continue;
        for (size_t f = 0; f < F; f++)
            c->dx[0][s * F + f] += c->dy[s * F + f];
    }
}

static enum mask_mode masking_mask_mode(const struct layer *l)
{
    (void)l;
    return MASK_MAKE;
}

static void masking_make_mask(const struct layer *l, size_t B, const float *x, unsigned char *mask)
{
    const struct masking_conf *cf = l->conf;
    size_t steps = B * l->in_shape.dim[0], F = l->in_shape.dim[1];
    for (size_t s = 0; s < steps; s++)
        mask[s] = step_kept(x + s * F, F, (float)cf->mask_value);
}

const struct layer_ops masking_ops = {
    .class_name = "Masking",
    .base_name = "masking",
    .args = masking_args,
    .n_args = sizeof masking_args / sizeof masking_args[0],
    .conf_size = sizeof(struct masking_conf),
    .build = masking_build,
    .forward = masking_forward,
    .backward = masking_backward,
    .mask_mode = masking_mask_mode,
    .make_mask = masking_make_mask,
};
