/* InputLayer (Keras's Input): declares the model's input shape. It computes
 * nothing: its output buffer is filled from the data. `shape` is the Keras
 * Input argument; serialized Keras files give batch_input_shape instead. */
#include <stddef.h>

#include "layers.h"

struct input_conf {
    struct int_tuple shape;
    bool sparse, ragged;
};

static const struct arg_def input_args[] = {
    {"shape", ARG_TUPLE, offsetof(struct input_conf, shape), ARG_NULL_ITEMS, NULL, NULL},
    {"sparse", ARG_BOOL, offsetof(struct input_conf, sparse), 0, NULL, NULL},
    {"ragged", ARG_BOOL, offsetof(struct input_conf, ragged), 0, NULL, NULL},
};

static int input_validate(const struct layer *l, const struct spec_node *where, struct diag *d)
{
    const struct input_conf *c = l->conf;
    if (c->sparse || c->ragged)
        return spec_error(where, d, "sparse and ragged inputs are not supported by nnc");
    if (c->shape.n) {
        struct shape s = {c->shape.n, {0}};
        unsigned free = 0;
        for (int i = 0; i < c->shape.n; i++) {
            if (c->shape.v[i] == ARG_NULL_INT) { /* None */
                if (!layer_free_length())
                    return layer_free_dim_error(where, d);
                free |= 1u << i;
                s.dim[i] = layer_free_length();
                continue;
            }
            if (c->shape.v[i] <= 0 || c->shape.v[i] > (1L << 31))
                return spec_error(where, d, "Input shape values must be positive, found %ld",
                                  c->shape.v[i]);
            s.dim[i] = (size_t)c->shape.v[i];
        }
        if (l->has_input_shape && !shape_equal(&s, &l->input_shape))
            return spec_error(where, d, "Input shape disagrees with batch_input_shape");
        struct layer *ml = (struct layer *)l; /* the declared shape is part of the layer */
        ml->has_input_shape = true;
        ml->input_shape = s;
        ml->free_dims = free;
    }
    if (!l->has_input_shape)
        return spec_error(where, d, "Input needs a shape");
    return 0;
}

static int input_build(struct layer *l, const struct shape *in, size_t n_in, struct shape *out,
                       struct diag *d)
{
    *out = l->input_shape;
    return 0;
}

const struct layer_ops input_layer_ops = {
    .class_name = "InputLayer",
    .base_name = "input",
    .args = input_args,
    .n_args = sizeof input_args / sizeof input_args[0],
    .conf_size = sizeof(struct input_conf),
    .validate = input_validate,
    .build = input_build,
};
