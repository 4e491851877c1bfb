/* Nested layers: a wrapper's argument that is itself a layer (Keras's
 * TimeDistributed(layer), Bidirectional(layer, backward_layer=...)).
 * Parsing from the same forms as a model file's layer entries, deep copies,
 * and the two things every wrapper does: build an inner layer on its
 * per-call shape with its weights exposed as the wrapper's, and call it
 * within the wrapper's call. The wrapper's conf owns its nested layers
 * (layer_free frees them); the inner weights live in the model's blocks
 * like any other, as part of the wrapper's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layer.h"
#include "model_file.h"

int layer_parse_nested(const struct spec_node *v, struct layer **out, struct diag *d)
{
    static const char *const keras_keys[] = {"class_name", "config", "module", "registered_name",
                                             "build_config", "name"};
    const struct spec_node *key, *value = NULL;
    *out = NULL;
    if (v && v->kind == SPEC_SCALAR && !spec_is_null(v)) {
        key = v;    /* Flatten */
    } else if (v && v->kind == SPEC_MAP && spec_get(v, "class_name")) {
        /* Keras: {class_name: LSTM, config: {...}} */
        if (spec_check_keys(v, keras_keys, sizeof keras_keys / sizeof keras_keys[0],
                            "a Keras layer", d) < 0)
            return -1;
        key = spec_get(v, "class_name");
        const char *s;
        if (spec_string(key, &s, d) < 0)
            return -1;
        value = spec_get(v, "config");
        if (value && !spec_is_null(value) && value->kind != SPEC_MAP)
            return spec_error(value, d, "a layer config must be a map");
    } else if (v && v->kind == SPEC_MAP && v->n == 1) {
        key = v->keys[0];   /* {Dense: {units: 8}} */
        value = v->items[0];
    } else {
        char buf[80];
        return spec_error(v, d, "expected a layer ({Dense: {units: 8}} or {class_name: Dense, "
                          "config: {...}}), found %s", spec_describe(v, buf, sizeof buf));
    }
    const struct layer_ops *ops = model_file_layer_type(key, d);
    if (!ops)
        return -1;
    if (ops == layer_find("InputLayer"))
        return spec_error(key, d, "an Input cannot be nested in another layer");
    struct layer *l = xcalloc(1, sizeof *l);
    if (layer_parse(l, ops, value, key, NULL, 0, d) < 0)
        goto fail;
    if (l->has_input_shape || l->batch_size) {
        spec_error(key, d, "a nested layer takes no input shape (give it to the wrapper)");
        goto fail;
    }
    *out = l;
    return 0;
fail:
    layer_free(l);
    free(l);
    return -1;
}

struct layer *layer_copy(const struct layer *src)
{
    struct layer *l = xcalloc(1, sizeof *l);
    *l = *src;
    l->name = src->name ? xstrdup(src->name) : NULL;
    l->conf = xcalloc(1, src->ops->conf_size ? src->ops->conf_size : 1);
    memcpy(l->conf, src->conf, src->ops->conf_size);
    for (size_t k = 0; k < src->ops->n_args; k++) {
        const struct arg_def *a = &src->ops->args[k];
        void *p = (char *)l->conf + a->offset;
        if (a->type == ARG_FLOATS) {
            struct float_list *f = p;
            if (f->n) {
                double *v = xcalloc(f->n, sizeof *v);
                memcpy(v, f->v, f->n * sizeof *v);
                f->v = v;
            }
        } else if (a->type == ARG_LAYER && *(struct layer **)p) {
            *(struct layer **)p = layer_copy(*(struct layer **)p);
        }
    }
    return l;
}

size_t layer_children(const struct layer *l, struct layer **out, size_t max)
{
    size_t n = 0;
    for (size_t k = 0; l->conf && k < l->ops->n_args; k++) {
        const struct arg_def *a = &l->ops->args[k];
        struct layer *nested =
            a->type == ARG_LAYER ? *(struct layer **)((char *)l->conf + a->offset) : NULL;
        if (nested && n < max)
            out[n] = nested;
        n += nested != NULL;
    }
    return n;
}

bool *layer_bool_arg(const struct layer *l, const char *name)
{
    for (size_t k = 0; k < l->ops->n_args; k++)
        if (l->ops->args[k].type == ARG_BOOL && !strcmp(l->ops->args[k].name, name))
            return (bool *)((char *)l->conf + l->ops->args[k].offset);
    return NULL;
}

size_t layer_nested_base(const struct layer *l)
{
    return l->n_params ? l->params[0].offset : 0;
}

int layer_build_nested(struct layer *l, struct layer *inner, const struct shape *in,
                       struct shape *out, const char *prefix, char *names, size_t name_size,
                       struct diag *d)
{
    char buf[96];
    if (inner->ops->adapt)
        return spec_error(inner->where, d, "%s inside %s is not supported by nnc yet",
                          inner->ops->class_name, l->ops->class_name);
    if (inner->ops->mask_mode && inner->ops->mask_mode(inner) == MASK_MAKE)
        return spec_error(inner->where, d, "a masking %s inside %s is not supported by nnc yet",
                          inner->ops->class_name, l->ops->class_name);
    /* Keras sets trainable on a wrapper's sublayers too. */
    inner->trainable = inner->trainable && l->trainable;
    inner->in_shape = *in;
    inner->n_params = 0;
    if (inner->ops->build(inner, in, 1, out, d) < 0)
        return -1;
    inner->out_shape = *out;
    if (shape_size(out) == 0 || shape_size(out) > (1u << 30))
        return spec_error(inner->where, d, "layer '%s' output %s is too large", inner->name,
                          shape_format(out, buf, sizeof buf));
    /* Relative offsets: the wrapper's weights are contiguous in the model's
     * blocks, in the order declared here. */
    size_t offset = 0;
    for (size_t k = 0; k < l->n_params; k++)
        offset += shape_size(&l->params[k].shape);
    for (size_t k = 0; k < inner->n_params; k++) {
        if (l->n_params == LAYER_MAX_PARAMS)
            return spec_error(l->where, d, "layer '%s': more than %d weights", l->name,
                              LAYER_MAX_PARAMS);
        struct param *p = &inner->params[k];
        p->offset = offset;
        offset += shape_size(&p->shape);
        struct param *q = &l->params[l->n_params];
        *q = *p;
        q->trainable = p->trainable && inner->trainable;
        if (*prefix) {
            char *name = names + l->n_params * name_size;
            if ((size_t)snprintf(name, name_size, "%s%s", prefix, p->name) >= name_size)
                return spec_error(l->where, d, "layer '%s': weight name '%s%s' is too long",
                                  l->name, prefix, p->name);
            q->name = name;
        }
        l->n_params++;
    }
    return 0;
}

struct layer_call layer_nested_call(const struct layer *l, const struct layer_call *c, size_t B)
{
    size_t base = layer_nested_base(l);
    struct layer_call in = *c;
    in.B = B;
    in.w = c->w ? c->w + base : NULL;
    in.dw = c->dw ? c->dw + base : NULL;
    in.w_stats = c->w_stats ? c->w_stats + base : NULL;
    return in;
}
