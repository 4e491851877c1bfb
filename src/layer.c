/* Generic layer handling driven by each type's argument table: parsing the
 * accepted forms of a layer entry, the common Keras keys, parameter
 * declaration and Keras serialization. */
#include "layer.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const common_keys[] = {
    "name", "trainable", "dtype", "input_shape", "input_dim", "batch_input_shape",
    "batch_size", "batch_shape",
};
#define N_COMMON (sizeof common_keys / sizeof common_keys[0])

/* Names the argument in the error that parsing its value v left in d, after
 * the location: "file:3:20: units: expected an integer, found 'abc'". The
 * typed readers (spec_long, ...) and the initializer, regularizer and
 * constraint parsers do not know which argument they read. A message that
 * already starts with "name:" is left alone. Returns -1. */
static int arg_error(const char *name, const struct spec_node *v, struct diag *d)
{
    /* Skip what diag_at put first: "file:line:col: ", "file:line: " or "file: ". */
    const char *p = d->msg;
    size_t n = v && v->file ? strlen(v->file) : 0;
    if (n && !strncmp(p, v->file, n)) {
        p += n;
        for (int k = 0; k < 2 && p[0] == ':' && isdigit((unsigned char)p[1]); k++)
            for (p++; isdigit((unsigned char)*p); p++)
                ;
        p = p[0] == ':' && p[1] == ' ' ? p + 2 : d->msg;
    }
    size_t head = (size_t)(p - d->msg), len = strlen(name);
    if (!strncmp(p, name, len) && p[len] == ':')
        return -1;
    char rest[sizeof d->msg];
    snprintf(rest, sizeof rest, "%s", p);
    snprintf(d->msg + head, sizeof d->msg - head, "%s: %s", name, rest);
    return -1;
}

static int arg_long(const char *name, const struct spec_node *v, long *out, struct diag *d)
{
    return spec_long(v, out, d) < 0 ? arg_error(name, v, d) : 0;
}

static int arg_double(const char *name, const struct spec_node *v, double *out, struct diag *d)
{
    return spec_double(v, out, d) < 0 ? arg_error(name, v, d) : 0;
}

static int arg_bool(const char *name, const struct spec_node *v, bool *out, struct diag *d)
{
    return spec_bool(v, out, d) < 0 ? arg_error(name, v, d) : 0;
}

static int arg_string(const char *name, const struct spec_node *v, const char **out, struct diag *d)
{
    return spec_string(v, out, d) < 0 ? arg_error(name, v, d) : 0;
}

static size_t free_length;

void layer_set_free_length(size_t n) { free_length = n; }
size_t layer_free_length(void) { return free_length; }

int layer_free_dim_error(const struct spec_node *where, struct diag *d)
{
    return spec_error(where, d,
                      "variable-length dimensions (None) need a length here, which "
                      "nnc train takes from its data (or give it in the shape)");
}

/* Reads a list of positive dimensions; a leading null (the batch axis) is
 * allowed when batch_first, and its value (if any) lands in *batch. A
 * later null (None) takes the free length, its bit set in *free. */
static int parse_dims(const struct spec_node *n, bool batch_first, struct shape *out, long *batch,
                      unsigned *free, struct diag *d)
{
    if (!n || n->kind != SPEC_SEQ) {
        char buf[80];
        return spec_error(n, d, "expected a list of dimensions, found %s",
                          spec_describe(n, buf, sizeof buf));
    }
    size_t first = batch_first ? 1 : 0;
    if (n->n < first + 1)
        return spec_error(n, d, "a shape needs at least one dimension%s",
                          batch_first ? " after the batch size" : "");
    if (n->n - first > SHAPE_MAX_RANK)
        return spec_error(n, d, "shapes of more than %d dimensions are not supported",
                          SHAPE_MAX_RANK);
    if (batch_first && !spec_is_null(n->items[0])) {
        long b;
        if (spec_long(n->items[0], &b, d) < 0)
            return -1;
        if (b <= 0)
            return spec_error(n->items[0], d, "batch size must be positive, found %ld", b);
        *batch = b;
    }
    out->rank = (int)(n->n - first);
    for (size_t i = first; i < n->n; i++) {
        long v;
        if (spec_is_null(n->items[i])) {
            if (!free_length)
                return layer_free_dim_error(n->items[i], d);
            *free |= 1u << (i - first);
            out->dim[i - first] = free_length;
            continue;
        }
        if (spec_long(n->items[i], &v, d) < 0)
            return -1;
        if (v <= 0 || v > (1L << 31))
            return spec_error(n->items[i], d, "dimension must be a positive integer, found %ld",
                              v);
        out->dim[i - first] = (size_t)v;
    }
    return 0;
}

static int parse_common(struct layer *l, const char *key, const struct spec_node *v,
                        struct shape *from_dim, bool *has_dim, struct diag *d)
{
    if (!strcmp(key, "name")) {
        const char *s;
        if (arg_string(key, v, &s, d) < 0)
            return -1;
        if (!*s || strchr(s, '/'))
            return spec_error(v, d, "invalid layer name '%s'", s);
        free(l->name);
        l->name = xstrdup(s);
        return 0;
    }
    if (!strcmp(key, "trainable"))
        return arg_bool(key, v, &l->trainable, d);
    if (!strcmp(key, "dtype")) {
        const char *s;
        if (spec_is_null(v))
            return 0;
        /* Keras 3 writes a policy: {class_name: DTypePolicy, config: {name: float32}}. */
        if (v->kind == SPEC_MAP && spec_get(v, "config"))
            v = spec_get(spec_get(v, "config"), "name");
        if (arg_string(key, v, &s, d) < 0)
            return -1;
        /* Token indices: Keras's Input(dtype="int32") before an Embedding;
         * nnc holds them as floats, exact below 2^24. */
        bool index_input =
            l->ops == layer_find("InputLayer") && (!strcmp(s, "int32") || !strcmp(s, "int64"));
        if (strcmp(s, "float32") != 0 && !index_input)
            return spec_error(v, d, "dtype '%s' is not supported (nnc computes in float32)", s);
        return 0;
    }
    if (!strcmp(key, "input_dim")) {
        long n;
        if (arg_long(key, v, &n, d) < 0)
            return -1;
        if (n <= 0 || n > (1L << 31))
            return spec_error(v, d, "input_dim must be a positive integer, found %ld", n);
        from_dim->rank = 1;
        from_dim->dim[0] = (size_t)n;
        *has_dim = true;
        return 0;
    }
    if (!strcmp(key, "batch_size")) {
        if (spec_is_null(v))
            return 0;
        if (arg_long(key, v, &l->batch_size, d) < 0)
            return -1;
        if (l->batch_size <= 0)
            return spec_error(v, d, "batch_size must be positive");
        return 0;
    }
    /* input_shape, batch_input_shape, batch_shape (Keras 3's name). */
    bool batched = strcmp(key, "input_shape") != 0;
    if (spec_is_null(v))
        return 0;
    struct shape s;
    long batch = 0;
    unsigned free = 0;
    if (parse_dims(v, batched, &s, &batch, &free, d) < 0)
        return arg_error(key, v, d);
    if (l->has_input_shape && !shape_equal(&s, &l->input_shape))
        return spec_error(v, d, "'%s' disagrees with the input shape given before", key);
    l->has_input_shape = true;
    l->input_shape = s;
    l->free_dims = free;
    if (batch)
        l->batch_size = batch;
    return 0;
}

/* ARG_PAIRS: one value, >= 0 as Keras's normalize_tuple(..., allow_zero=True) wants. */
static int parse_pad(const struct arg_def *a, const struct spec_node *v, long *out,
                     struct diag *d)
{
    if (arg_long(a->name, v, out, d) < 0)
        return -1;
    if (*out < 0 || *out > (1L << 31))
        return spec_error(v, d, "%s values must be non-negative integers, found %ld", a->name,
                          *out);
    return 0;
}

/* ARG_PAIRS: an int (every axis), a pair (one axis) or one entry per axis
 * (keras/layers/reshaping/zero_padding2d.py). */
static int parse_pairs(const struct arg_def *a, const struct spec_node *v, struct int_tuple *t,
                       struct diag *d)
{
    int axes = a->flags >> 8 ? (int)(a->flags >> 8) : 1;
    NNC_ASSERT(2 * axes <= SHAPE_MAX_RANK);
    t->n = 2 * axes;
    if (v && v->kind == SPEC_SCALAR) {
        if (parse_pad(a, v, &t->v[0], d) < 0)
            return -1;
        for (int i = 1; i < t->n; i++)
            t->v[i] = t->v[0];
        return 0;
    }
    if (axes == 1) {
        if (!v || v->kind != SPEC_SEQ || v->n != 2)
            return spec_error(v, d, "%s: expected an integer or a list of 2 integers", a->name);
        if (parse_pad(a, v->items[0], &t->v[0], d) < 0)
            return -1;
        return parse_pad(a, v->items[1], &t->v[1], d);
    }
    if (!v || v->kind != SPEC_SEQ || v->n != (size_t)axes)
        return spec_error(v, d, "%s: expected an integer or a list of %d entries, each an integer "
                          "or a list of 2 integers", a->name, axes);
    for (int k = 0; k < axes; k++) {
        const struct spec_node *e = v->items[k];
        if (e->kind == SPEC_SCALAR) {
            if (parse_pad(a, e, &t->v[2 * k], d) < 0)
                return -1;
            t->v[2 * k + 1] = t->v[2 * k];
        } else if (e->kind == SPEC_SEQ && e->n == 2) {
            if (parse_pad(a, e->items[0], &t->v[2 * k], d) < 0 ||
                parse_pad(a, e->items[1], &t->v[2 * k + 1], d) < 0)
                return -1;
        } else {
            return spec_error(e, d, "%s: expected an integer or a list of 2 integers", a->name);
        }
    }
    return 0;
}

static int parse_arg(struct layer *l, const struct arg_def *a, const struct spec_node *v,
                     struct diag *d)
{
    void *p = (char *)l->conf + a->offset;
    if ((a->flags & ARG_UNUSED) && spec_is_null(v))
        return 0;
    switch (a->type) {
    case ARG_INT:
        if ((a->flags & ARG_NULLABLE) && spec_is_null(v)) {
            *(long *)p = ARG_NULL_INT;
            return 0;
        }
        return arg_long(a->name, v, (long *)p, d);
    case ARG_FLOAT:
        if ((a->flags & ARG_NULLABLE) && spec_is_null(v)) {
            *(double *)p = NAN;
            return 0;
        }
        return arg_double(a->name, v, (double *)p, d);
    case ARG_BOOL:
        if ((a->flags & ARG_NULLABLE) && spec_is_null(v)) {
            *(bool *)p = false;
            return 0;
        }
        return arg_bool(a->name, v, (bool *)p, d);
    case ARG_CHOICE: {
        const char *s;
        if ((a->flags & ARG_NULLABLE) && spec_is_null(v)) {
            *(const char **)p = NULL;
            return 0;
        }
        if (arg_string(a->name, v, &s, d) < 0)
            return -1;
        for (const char *const *c = a->choices; *c; c++)
            if (!strcmp(s, *c)) {
                *(const char **)p = *c;
                return 0;
            }
        for (const char *const *c = a->later; c && *c; c++)
            if (!strcmp(s, *c))
                return spec_error(v, d, "%s '%s' of %s is not supported by nnc yet", a->name, s,
                                  l->ops->class_name);
        size_t n = 0;
        while (a->choices[n])
            n++;
        const char *hint = diag_suggest(s, a->choices, n);
        if (hint)
            return spec_error(v, d, "unknown %s '%s' (did you mean '%s'?)", a->name, s, hint);
        return spec_error(v, d, "unknown %s '%s'", a->name, s);
    }
    case ARG_ACTIVATION: {
        const char *s;
        if (spec_is_null(v)) {
            *(enum act_kind *)p = ACT_LINEAR;
            return 0;
        }
        if (arg_string(a->name, v, &s, d) < 0)
            return -1;
        if (activation_parse(s, (enum act_kind *)p) == 0)
            return 0;
        size_t n;
        const char *const *names = activation_names(&n);
        const char *hint = diag_suggest(s, names, n);
        if (hint)
            return spec_error(v, d, "unknown activation '%s' (did you mean '%s'?)", s, hint);
        return spec_error(v, d, "unknown activation '%s'", s);
    }
    case ARG_INITIALIZER:
        return init_parse(v, (struct initializer *)p, d) < 0 ? arg_error(a->name, v, d) : 0;
    case ARG_TUPLE: {
        struct int_tuple *t = p;
        if ((a->flags & ARG_NULLABLE) && spec_is_null(v)) {
            t->n = 0;
            return 0;
        }
        if (v && v->kind == SPEC_SCALAR) {
            t->n = 1;
            return arg_long(a->name, v, &t->v[0], d);
        }
        if (!v || v->kind != SPEC_SEQ)
            return spec_error(v, d, "%s: expected an integer or a list of integers", a->name);
        if (v->n > SHAPE_MAX_RANK)
            return spec_error(v, d, "%s: more than %d values", a->name, SHAPE_MAX_RANK);
        t->n = (int)v->n;
        for (size_t i = 0; i < v->n; i++) {
            if ((a->flags & ARG_NULL_ITEMS) && spec_is_null(v->items[i]))
                t->v[i] = ARG_NULL_INT;
            else if (arg_long(a->name, v->items[i], &t->v[i], d) < 0)
                return -1;
        }
        return 0;
    }
    case ARG_REGULARIZER:
        return regularizer_parse(v, (struct regularizer *)p, d) < 0 ? arg_error(a->name, v, d) : 0;
    case ARG_CONSTRAINT:
        return constraint_parse(v, (struct constraint *)p, d) < 0 ? arg_error(a->name, v, d) : 0;
    case ARG_PAIRS:
        return parse_pairs(a, v, (struct int_tuple *)p, d);
    case ARG_UNSUPPORTED:
        if (spec_is_null(v))
            return 0;
        return spec_error(v, d, "argument '%s' of %s is not supported by nnc yet", a->name,
                          l->ops->class_name);
    case ARG_LAYER: {
        struct layer **nested = p, *parsed = NULL;
        if ((a->flags & ARG_NULLABLE) && spec_is_null(v))
            parsed = NULL;
        else if (layer_parse_nested(v, &parsed, d) < 0)
            return -1;
        if (*nested) {
            layer_free(*nested);
            free(*nested);
        }
        *nested = parsed;
        return 0;
    }
    case ARG_FLOATS: {
        struct float_list *f = p;
        free(f->v);
        *f = (struct float_list){0};
        if ((a->flags & ARG_NULLABLE) && spec_is_null(v))
            return 0;
        bool list = v && v->kind == SPEC_SEQ;
        size_t n = list ? v->n : 1;
        if (list && n == 0)
            return spec_error(v, d, "%s: expected a number or a list of numbers, found []",
                              a->name);
        f->v = xcalloc(n, sizeof *f->v);
        f->n = n;
        f->is_list = list;
        for (size_t i = 0; i < n; i++)
            if (arg_double(a->name, list ? v->items[i] : v, &f->v[i], d) < 0)
                return -1;
        return 0;
    }
    }
    return 0;
}

static bool is_integer(const struct spec_node *n)
{
    long v;
    return n->kind == SPEC_SCALAR && !n->quoted && parse_long(n->str, &v);
}

/* Recurrent layers' legacy input_length + input_dim ≡ input_shape
 * [input_length, input_dim] (keras/layers/rnn/base_rnn.py, used when
 * input_shape is absent; nnc checks that they agree when both are given).
 * Either alone would leave a dimension None, which nnc does not support. */
static int legacy_sequence_shape(struct layer *l, struct shape *from_dim, bool has_dim,
                                 const struct spec_node *where, struct diag *d)
{
    const long *len = NULL;
    for (size_t k = 0; k < l->ops->n_args; k++)
        if (l->ops->args[k].flags & ARG_INPUT_LENGTH)
            len = (const long *)((const char *)l->conf + l->ops->args[k].offset);
    if (!len || (*len == ARG_NULL_INT && !has_dim))
        return 0;
    if (*len != ARG_NULL_INT && (*len <= 0 || *len > (1L << 31)))
        return spec_error(where, d, "input_length must be a positive integer, found %ld", *len);
    const struct shape *given = l->has_input_shape ? &l->input_shape : NULL;
    size_t steps = *len != ARG_NULL_INT ? (size_t)*len : given ? given->dim[0] : 0;
    if (given && (given->rank != 2 || given->dim[0] != steps ||
                  (has_dim && given->dim[1] != from_dim->dim[0])))
        return spec_error(where, d, "input_length / input_dim disagree with input_shape");
    if (given) {
        *from_dim = *given;
        return 0;
    }
    if (!has_dim)
        return spec_error(where, d, "%s: input_length needs input_dim (or give input_shape: "
                          "[steps, features])", l->ops->class_name);
    if (!steps)
        return spec_error(where, d, "%s: input_dim needs input_length (variable-length sequences "
                          "are not supported; or give input_shape: [steps, features])",
                          l->ops->class_name);
    *from_dim = (struct shape){2, {steps, from_dim->dim[0]}};
    l->has_input_shape = true;
    l->input_shape = *from_dim;
    return 0;
}

static bool arg_is_set_required(const struct arg_def *a) { return a->flags & ARG_REQUIRED; }

/* A wrapper's shorthand: in {TimeDistributed: {Dense: 8}} the one-key map
 * {Dense: 8} is its first argument, the nested layer (class names are
 * CamelCase, Keras arguments snake_case). Returns 1 when key was that, 0
 * when it is not (an unknown argument), -1 on error. */
static int parse_shorthand(struct layer *l, struct spec_node *key, struct spec_node *v,
                           bool *given, struct diag *d)
{
    const struct layer_ops *ops = l->ops;
    if (!ops->n_args || ops->args[0].type != ARG_LAYER || given[0] || key->str[0] < 'A' ||
        key->str[0] > 'Z')
        return 0;
    struct spec_node entry = *key;
    entry.kind = SPEC_MAP;
    entry.n = 1;
    entry.keys = &key;
    entry.items = &v;
    if (parse_arg(l, &ops->args[0], &entry, d) < 0)
        return -1;
    given[0] = true;
    return 1;
}

int layer_parse(struct layer *l, const struct layer_ops *ops, const struct spec_node *value,
                const struct spec_node *where, const char *const *extra_keys, size_t n_extra,
                struct diag *d)
{
    memset(l, 0, sizeof *l);
    l->ops = ops;
    l->trainable = true;
    l->where = where;
    l->conf = xcalloc(1, ops->conf_size ? ops->conf_size : 1);
    if (ops->defaults)
        ops->defaults(l->conf);

    bool given[32] = {false};
    NNC_ASSERT(ops->n_args <= 32);
    struct shape from_dim = {0};
    bool has_dim = false;

    if (value && value->kind == SPEC_MAP) {
        for (size_t i = 0; i < value->n; i++) {
            const char *key = value->keys[i]->str;
            const struct spec_node *v = value->items[i];
            size_t k;
            for (k = 0; k < n_extra && strcmp(key, extra_keys[k]); k++)
                ;
            if (k < n_extra)
                continue;
            /* The layer's own arguments first: Embedding's input_dim is the
             * vocabulary size, not the common input_dim. */
            for (k = 0; k < ops->n_args && strcmp(key, ops->args[k].name); k++)
                ;
            size_t c;
            for (c = 0; k == ops->n_args && c < N_COMMON && strcmp(key, common_keys[c]); c++)
                ;
            if (k == ops->n_args && c < N_COMMON) {
                if (parse_common(l, key, v, &from_dim, &has_dim, d) < 0)
                    return -1;
                continue;
            }
            if (k == ops->n_args) {
                int rc = parse_shorthand(l, value->keys[i], value->items[i], given, d);
                if (rc < 0)
                    return -1;
                if (rc > 0)
                    continue;
                const char *names[64];
                size_t n = 0;
                for (size_t j = 0; j < ops->n_args && n < 64; j++)
                    names[n++] = ops->args[j].name;
                for (size_t j = 0; j < N_COMMON && n < 64; j++)
                    names[n++] = common_keys[j];
                const char *hint = diag_suggest(key, names, n);
                if (hint)
                    return spec_error(value->keys[i], d,
                                      "unknown argument '%s' for %s (did you mean '%s'?)", key,
                                      ops->class_name, hint);
                return spec_error(value->keys[i], d, "unknown argument '%s' for %s", key,
                                  ops->class_name);
            }
            if (parse_arg(l, &ops->args[k], v, d) < 0)
                return -1;
            given[k] = true;
        }
    } else if (value && value->kind == SPEC_SEQ) {
        /* Positional arguments. A list of plain integers for a layer whose
         * first argument is a tuple is that tuple: Reshape: [28, 28, 1];
         * for padding/cropping pairs also a list of integers and pairs:
         * ZeroPadding2D: [[1, 1], [2, 2]]. */
        enum arg_type first = ops->n_args ? ops->args[0].type : ARG_UNSUPPORTED;
        bool whole = (first == ARG_TUPLE || first == ARG_PAIRS) && value->n > 0;
        for (size_t i = 0; whole && i < value->n; i++) {
            const struct spec_node *e = value->items[i];
            if (first == ARG_PAIRS && e->kind == SPEC_SEQ) {
                for (size_t k = 0; k < e->n; k++)
                    whole = whole && is_integer(e->items[k]);
            } else {
                whole = is_integer(e);
            }
        }
        if (whole) {
            if (parse_arg(l, &ops->args[0], value, d) < 0)
                return -1;
            given[0] = true;
        } else {
            if (value->n > ops->n_args)
                return spec_error(value, d, "%s takes at most %zu positional arguments, found %zu",
                                  ops->class_name, ops->n_args, value->n);
            for (size_t i = 0; i < value->n; i++) {
                if (parse_arg(l, &ops->args[i], value->items[i], d) < 0)
                    return -1;
                given[i] = true;
            }
        }
    } else if (value && !spec_is_null(value)) {
        if (ops->n_args == 0)
            return spec_error(value, d, "%s takes no positional argument", ops->class_name);
        if (parse_arg(l, &ops->args[0], value, d) < 0)
            return -1;
        given[0] = true;
    }

    for (size_t k = 0; k < ops->n_args; k++)
        if (arg_is_set_required(&ops->args[k]) && !given[k])
            return spec_error(where, d, "%s needs argument '%s'", ops->class_name,
                              ops->args[k].name);
    if (legacy_sequence_shape(l, &from_dim, has_dim, where, d) < 0)
        return -1;
    if (has_dim) {
        /* Keras: input_dim is used only when input_shape is absent. */
        if (l->has_input_shape && !shape_equal(&from_dim, &l->input_shape))
            return spec_error(where, d, "input_dim disagrees with input_shape");
        l->has_input_shape = true;
        l->input_shape = from_dim;
    }
    if (ops->validate && ops->validate(l, where, d) < 0)
        return -1;
    return 0;
}

void layer_free(struct layer *l)
{
    if (!l)
        return;
    for (size_t k = 0; l->conf && k < l->ops->n_args; k++) {
        void *p = (char *)l->conf + l->ops->args[k].offset;
        if (l->ops->args[k].type == ARG_FLOATS)
            free(((struct float_list *)p)->v);
        if (l->ops->args[k].type == ARG_LAYER && *(struct layer **)p) {
            layer_free(*(struct layer **)p);
            free(*(struct layer **)p);
        }
    }
    free(l->name);
    free(l->conf);
    memset(l, 0, sizeof *l);
}

size_t layer_add_param(struct layer *l, const char *name, const struct shape *shape,
                       const struct initializer *init, bool trainable)
{
    NNC_ASSERT(l->n_params < LAYER_MAX_PARAMS);
    struct param *p = &l->params[l->n_params];
    memset(p, 0, sizeof *p);
    p->name = name;
    p->shape = *shape;
    p->init = *init;
    p->trainable = trainable;
    return l->n_params++;
}

size_t layer_count_params(const struct layer *l, bool trainable)
{
    /* A frozen layer (trainable: false) makes all its weights non-trainable. */
    size_t n = 0;
    for (size_t i = 0; i < l->n_params; i++)
        if ((l->trainable && l->params[i].trainable) == trainable)
            n += shape_size(&l->params[i].shape);
    return n;
}

int layer_param_limits(struct layer *l, size_t idx, const struct regularizer *r,
                       const struct constraint *c, struct diag *d)
{
    NNC_ASSERT(idx < l->n_params);
    struct param *p = &l->params[idx];
    p->regularizer = r && r->set ? r : NULL;
    p->constraint = c && c->kind != CON_NONE ? c : NULL;
    if (p->constraint)
        return constraint_check(c, &p->shape, p->name, l->where, d);
    return 0;
}

int layer_check_spatial_rank(const struct layer *l, const struct shape *in, int dims,
                             struct diag *d)
{
    char buf[96];
    if (in->rank == dims + 1)
        return 0;
    return spec_error(l->where, d, "%s expects input of rank %d %s, found %s", l->ops->class_name,
                      dims + 2, dims == 1 ? "(batch, steps, features)" : "(batch, rows, cols, channels)",
                      shape_format(in, buf, sizeof buf));
}

enum mask_mode layer_mask_keep(const struct layer *l)
{
    (void)l;
    return MASK_KEEP;
}

enum mask_mode layer_mask_combine(const struct layer *l)
{
    (void)l;
    return MASK_COMBINE;
}

size_t layer_n_outputs(const struct layer *l)
{
    return 1 + (l->ops->more_outputs ? l->ops->more_outputs(l, NULL) : 0);
}

const struct regularizer *layer_activity_regularizer(const struct layer *l)
{
    if (l->ops->activity)
        return l->ops->activity(l);
    for (size_t k = 0; k < l->ops->n_args; k++) {
        const struct arg_def *a = &l->ops->args[k];
        if (a->type == ARG_REGULARIZER && !strcmp(a->name, "activity_regularizer")) {
            const struct regularizer *r = (const void *)((const char *)l->conf + a->offset);
            return r->set ? r : NULL;
        }
    }
    return NULL;
}

static void write_arg(const struct layer *l, const struct arg_def *a, struct json *j)
{
    const void *p = (const char *)l->conf + a->offset;
    json_key(j, a->name);
    if (a->flags & ARG_UNUSED) {
        json_null(j);
        return;
    }
    switch (a->type) {
    case ARG_INT:
        if (*(const long *)p == ARG_NULL_INT)
            json_null(j);
        else
            json_long(j, *(const long *)p);
        break;
    case ARG_FLOAT:
        if (isnan(*(const double *)p))
            json_null(j);
        else
            json_double(j, *(const double *)p);
        break;
    case ARG_BOOL: json_bool(j, *(const bool *)p); break;
    case ARG_CHOICE:
        if (*(const char *const *)p)
            json_string(j, *(const char *const *)p);
        else
            json_null(j);
        break;
    case ARG_ACTIVATION: json_string(j, activation_name(*(const enum act_kind *)p)); break;
    case ARG_INITIALIZER: init_to_json((const struct initializer *)p, j); break;
    case ARG_TUPLE: {
        const struct int_tuple *t = p;
        if (t->n == 0) {
            json_null(j);
            break;
        }
        if (t->n == 1 && (a->flags & ARG_SCALAR_IF_ONE)) {
            json_long(j, t->v[0]);
            break;
        }
        json_array_begin(j);
        for (int i = 0; i < t->n; i++)
            json_long(j, t->v[i]);
        json_array_end(j);
        break;
    }
    case ARG_REGULARIZER: regularizer_to_json((const struct regularizer *)p, j); break;
    case ARG_CONSTRAINT: constraint_to_json((const struct constraint *)p, j); break;
    case ARG_PAIRS: {
        const struct int_tuple *t = p;
        if (t->n > 2)
            json_array_begin(j);
        for (int i = 0; i < t->n; i += 2) {
            json_array_begin(j);
            json_long(j, t->v[i]);
            json_long(j, t->v[i + 1]);
            json_array_end(j);
        }
        if (t->n > 2)
            json_array_end(j);
        break;
    }
    case ARG_UNSUPPORTED: json_null(j); break;
    case ARG_LAYER: layer_to_json(*(struct layer *const *)p, false, j); break;
    case ARG_FLOATS: {
        const struct float_list *f = p;
        if (f->n == 0) {
            json_null(j);
            break;
        }
        if (f->is_list)
            json_array_begin(j);
        for (size_t i = 0; i < f->n; i++)
            json_double(j, f->v[i]);
        if (f->is_list)
            json_array_end(j);
        break;
    }
    }
}

void layer_to_json(const struct layer *l, bool with_input_shape, struct json *j)
{
    json_object_begin(j);
    json_key(j, "class_name");
    json_string(j, l->ops->class_name);
    json_key(j, "config");
    layer_config_to_json(l, with_input_shape, j);
    json_object_end(j);
}

void layer_batch_shape_to_json(const struct layer *l, const struct shape *s, struct json *j)
{
    json_array_begin(j);
    if (l->batch_size)
        json_long(j, l->batch_size);
    else
        json_null(j);
    for (int i = 0; i < s->rank; i++)
        if (l->free_dims & (1u << i))
            json_null(j);
        else
            json_long(j, (long)s->dim[i]);
    json_array_end(j);
}

void layer_config_to_json(const struct layer *l, bool with_input_shape, struct json *j)
{
    json_object_begin(j);
    json_key(j, "name");
    json_string(j, l->name);
    json_key(j, "trainable");
    json_bool(j, l->trainable);
    if (with_input_shape) {
        json_key(j, "batch_input_shape");
        layer_batch_shape_to_json(l, &l->in_shape, j);
    }
    json_key(j, "dtype");
    json_string(j, "float32");
    for (size_t k = 0; k < l->ops->n_args; k++) {
        const struct arg_def *a = &l->ops->args[k];
        if (a->flags & ARG_UNSAVED)
            continue;
        const bool *flag = (const bool *)((const char *)l->conf + a->offset);
        if ((a->flags & ARG_SAVED_IF_TRUE) && !*flag)
            continue;
        /* Keras writes a wrapper's optional layer only when it was given
         * (Bidirectional's backward_layer). */
        if (a->type == ARG_LAYER) {
            const struct layer *nested = *(struct layer *const *)((const char *)l->conf + a->offset);
            if (!nested || nested->derived)
                continue;
        }
        write_arg(l, a, j);
    }
    json_object_end(j);
}
