/* Flatten and Reshape: the same values under another shape, so forward is a
 * copy and backward adds the gradient straight through. Reshape's
 * target_shape may hold one -1, inferred from the input size as Keras does. */
#include <stddef.h>
#include <string.h>

#include "layers.h"

struct flatten_conf {
    const char *data_format;
};

static const char *const data_formats[] = {"channels_last", NULL};
static const char *const data_formats_later[] = {"channels_first", NULL};

static const struct arg_def flatten_args[] = {
    {"data_format", ARG_CHOICE, offsetof(struct flatten_conf, data_format), 0, data_formats,
     data_formats_later},
};

static void flatten_defaults(void *conf) { ((struct flatten_conf *)conf)->data_format = data_formats[0]; }

static int flatten_build(struct layer *l, const struct shape *in, size_t n_in, struct shape *out,
                         struct diag *d)
{
    out->rank = 1;
    out->dim[0] = shape_size(&in[0]);
    return 0;
}

struct reshape_conf {
    struct int_tuple target_shape;
};

static const struct arg_def reshape_args[] = {
    {"target_shape", ARG_TUPLE, offsetof(struct reshape_conf, target_shape), ARG_REQUIRED, NULL,
     NULL},
};

static int reshape_validate(const struct layer *l, const struct spec_node *where, struct diag *d)
{
    const struct int_tuple *t = &((const struct reshape_conf *)l->conf)->target_shape;
    int unknown = 0;
    for (int i = 0; i < t->n; i++) {
        if (t->v[i] == -1)
            unknown++;
        else if (t->v[i] <= 0 || t->v[i] > (1L << 31))
            return spec_error(where, d, "Reshape target_shape values must be positive or -1, found %ld",
                              t->v[i]);
    }
    if (t->n == 0)
        return spec_error(where, d, "Reshape target_shape is empty");
    if (unknown > 1)
        return spec_error(where, d, "Reshape target_shape can have only one -1");
    return 0;
}

static int reshape_build(struct layer *l, const struct shape *in, size_t n_in, struct shape *out,
                         struct diag *d)
{
    const struct int_tuple *t = &((const struct reshape_conf *)l->conf)->target_shape;
    size_t total = shape_size(&in[0]), known = 1;
    int unknown = -1;
    out->rank = t->n;
    for (int i = 0; i < t->n; i++) {
        if (t->v[i] == -1) {
            unknown = i;
            continue;
        }
        out->dim[i] = (size_t)t->v[i];
        if (size_mul(known, out->dim[i], &known) < 0)
            known = 0;
    }
    char a[96], b[96];
    /* keras/layers/reshaping/reshape.py _fix_unknown_dimension */
    if (known == 0)
        return spec_error(l->where, d, "Reshape target_shape is too large");
    if (unknown >= 0) {
        if (total % known != 0)
            return spec_error(l->where, d,
                              "cannot reshape input %s (%zu values) to target_shape with -1: "
                              "%zu is not a multiple of %zu",
                              shape_format(&in[0], a, sizeof a), total, total, known);
        out->dim[unknown] = total / known;
    } else if (known != total) {
        return spec_error(l->where, d, "cannot reshape input %s (%zu values) to %s (%zu values)",
                          shape_format(&in[0], a, sizeof a), total, shape_format(out, b, sizeof b),
                          known);
    }
    return 0;
}

static void copy_forward(const struct layer *l, const struct layer_call *c)
{
    memcpy(c->y, c->x[0], c->B * shape_size(&l->out_shape) * sizeof *c->y);
}

static void copy_backward(const struct layer *l, const struct layer_call *c)
{
    if (!c->dx[0])
        return;
    size_t n = c->B * shape_size(&l->out_shape);
    if (layer_dx_assign(c, 0)) {
        memcpy(c->dx[0], c->dy, n * sizeof *c->dy);
        return;
    }
    for (size_t i = 0; i < n; i++)
        c->dx[0][i] += c->dy[i];
}

const struct layer_ops flatten_ops = {
    .class_name = "Flatten",
    .base_name = "flatten",
    .args = flatten_args,
    .n_args = 1,
    .conf_size = sizeof(struct flatten_conf),
    .defaults = flatten_defaults,
    .build = flatten_build,
    .forward = copy_forward,
    .backward = copy_backward,
    .assigns_dx = true,
};

const struct layer_ops reshape_ops = {
    .class_name = "Reshape",
    .base_name = "reshape",
    .args = reshape_args,
    .n_args = 1,
    .conf_size = sizeof(struct reshape_conf),
    .validate = reshape_validate,
    .build = reshape_build,
    .forward = copy_forward,
    .backward = copy_backward,
    .assigns_dx = true,
};
