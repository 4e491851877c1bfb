/* The merge layers of keras/layers/merging/: Add, Subtract, Multiply,
 * Average, Maximum, Minimum (element-wise, base_merge.py) and Concatenate
 * (concatenate.py). Dot is in dot.c.
 *
 * Element-wise merges broadcast as base_merge.py's
 * _compute_elemwise_op_output_shape does: per-sample shapes are aligned at
 * their last axes (a shorter one gets leading 1s, as call()'s expand_dims
 * at axis 1 gives it) and an axis of 1 stretches to the other's length.
 *   x_k (B, in_k...)   y (B, out...)
 * Backward sums dy over the positions an input was stretched to. Maximum
 * and Minimum send the gradient to the first input holding the extreme
 * (tf.maximum's gradient goes to x where x >= y, and Keras folds the
 * inputs left to right).
 *
 * Keras merges AND their inputs' masks; nnc's merges drop masks. Build
 * stores the input shapes in the configuration, so a shared merge layer
 * takes inputs of one set of shapes. */
#include <string.h>

#include "../parallel.h"
#include "layers.h"

#define MERGE_MAX_INPUTS 8

enum merge_op { MERGE_ADD, MERGE_SUBTRACT, MERGE_MULTIPLY, MERGE_AVERAGE, MERGE_MAXIMUM,
                MERGE_MINIMUM, MERGE_CONCATENATE };

struct merge_conf {
    long axis;                                     /* Concatenate's argument */
    /* Set by build: */
    enum merge_op op;
    size_t n_in;
    struct shape in[MERGE_MAX_INPUTS];             /* per sample */
    struct shape out;
    bool same[MERGE_MAX_INPUTS];                   /* in[k] == out: no broadcast */
    size_t stride[MERGE_MAX_INPUTS][SHAPE_MAX_RANK]; /* x_k's stride per output axis (0: stretched) */
    /* Concatenate: out = outer blocks of the inputs' inner runs, in order. */
    size_t outer, inner[MERGE_MAX_INPUTS];
};

static const struct arg_def concat_args[] = {
    {"axis", ARG_INT, offsetof(struct merge_conf, axis), 0, NULL, NULL},
};

static void concat_defaults(void *conf) { ((struct merge_conf *)conf)->axis = -1; }

static enum merge_op op_of(const struct layer *l)
{
    static const char *const names[] = {"Add", "Subtract", "Multiply", "Average",
                                        "Maximum", "Minimum", "Concatenate"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(l->ops->class_name, names[i]))
            return (enum merge_op)i;
    NNC_ASSERT(!"not a merge layer");
}

/* The counts every merge checks: at least 2 inputs (Keras 2.x accepts a
 * list of 1, whose merge is the identity; nnc takes that for a mistake),
 * exactly 2 for Subtract. */
static int check_count(const struct layer *l, size_t n_in, struct diag *d)
{
    if (n_in > MERGE_MAX_INPUTS)
        return spec_error(l->where, d, "%s '%s' merges at most %d inputs, found %zu",
                          l->ops->class_name, l->name, MERGE_MAX_INPUTS, n_in);
    if (op_of(l) == MERGE_SUBTRACT && n_in != 2)
        return spec_error(l->where, d, "Subtract '%s' needs exactly 2 inputs, found %zu", l->name,
                          n_in);
    if (n_in < 2)
        return spec_error(l->where, d, "%s '%s' needs a list of at least 2 inputs, found %zu",
                          l->ops->class_name, l->name, n_in);
    return 0;
}

/* base_merge.py _compute_elemwise_op_output_shape over the per-sample
 * shapes (Keras drops the batch axis before comparing). */
static int broadcast_shape(const struct layer *l, const struct shape *a, const struct shape *b,
                           struct shape *out, struct diag *d)
{
    const struct shape *lo = a->rank >= b->rank ? a : b, *sh = a->rank >= b->rank ? b : a;
    struct shape r = *lo;
    int skip = lo->rank - sh->rank;
    for (int i = 0; i < sh->rank; i++) {
        size_t x = lo->dim[skip + i], y = sh->dim[i];
        if (x == 1)
            r.dim[skip + i] = y;
        else if (y != 1 && x != y) {
            char s1[96], s2[96];
            return spec_error(l->where, d, "%s '%s': inputs have incompatible shapes %s and %s",
                              l->ops->class_name, l->name, shape_format(a, s1, sizeof s1),
                              shape_format(b, s2, sizeof s2));
        }
    }
    *out = r;
    return 0;
}

static int elementwise_build(struct layer *l, const struct shape *in, size_t n_in,
                             struct shape *out, struct diag *d)
{
    struct merge_conf *c = l->conf;
    if (check_count(l, n_in, d) < 0)
        return -1;
    c->op = op_of(l);
    c->n_in = n_in;
    struct shape s = in[0];
    for (size_t k = 1; k < n_in; k++)
        if (broadcast_shape(l, &s, &in[k], &s, d) < 0)
            return -1;
    c->out = s;
    for (size_t k = 0; k < n_in; k++) {
        c->in[k] = in[k];
        c->same[k] = shape_equal(&in[k], &s);
        /* Input axis j sits at output axis j + skip. */
        int skip = s.rank - in[k].rank;
        size_t stride = 1;
        for (int a = s.rank - 1; a >= 0; a--) {
            size_t dim = a >= skip ? in[k].dim[a - skip] : 1;
            c->stride[k][a] = dim == 1 ? 0 : stride;
            stride *= dim;
        }
    }
    *out = s;
    return 0;
}

/* Offset in x_k of output position o (per sample). */
static size_t in_offset(const struct merge_conf *c, size_t k, size_t o)
{
    if (c->same[k])
        return o;
    size_t off = 0;
    for (int a = c->out.rank - 1; a >= 0; a--) {
        off += (o % c->out.dim[a]) * c->stride[k][a];
        o /= c->out.dim[a];
    }
    return off;
}

struct merge_job {
    const struct layer *l;
    const struct layer_call *c;
};

static float combine(enum merge_op op, float acc, float v)
{
    switch (op) {
    case MERGE_MULTIPLY: return acc * v;
    case MERGE_MAXIMUM: return v > acc ? v : acc;
    case MERGE_MINIMUM: return v < acc ? v : acc;
    default: return acc + v; /* add, average (scaled after) */
    }
}

static void elementwise_forward_range(void *ctx, size_t s0, size_t s1)
{
    const struct merge_job *j = ctx;
    const struct merge_conf *c = j->l->conf;
    size_t n_out = shape_size(&c->out);
    for (size_t s = s0; s < s1; s++) {
        float *y = j->c->y + s * n_out;
        const float *x[MERGE_MAX_INPUTS];
        bool all_same = true;
        for (size_t k = 0; k < c->n_in; k++) {
            x[k] = j->c->x[k] + s * shape_size(&c->in[k]);
            all_same = all_same && c->same[k];
        }
        if (all_same) {
            memcpy(y, x[0], n_out * sizeof *y);
            for (size_t k = 1; k < c->n_in; k++) {
                if (c->op == MERGE_SUBTRACT)
                    for (size_t o = 0; o < n_out; o++)
                        y[o] -= x[k][o];
                else
                    for (size_t o = 0; o < n_out; o++)
                        y[o] = combine(c->op, y[o], x[k][o]);
            }
        } else {
            for (size_t o = 0; o < n_out; o++) {
                float acc = x[0][in_offset(c, 0, o)];
                for (size_t k = 1; k < c->n_in; k++) {
                    float v = x[k][in_offset(c, k, o)];
                    acc = c->op == MERGE_SUBTRACT ? acc - v : combine(c->op, acc, v);
                }
                y[o] = acc;
            }
        }
        if (c->op == MERGE_AVERAGE)
            for (size_t o = 0; o < n_out; o++)
                y[o] /= (float)c->n_in;
    }
}

static void elementwise_forward(const struct layer *l, const struct layer_call *c)
{
    const struct merge_conf *cf = l->conf;
    struct merge_job j = {l, c};
    parallel_for_samples(c->B, shape_size(&cf->out) * (cf->n_in + 1), elementwise_forward_range,
                         &j);
}

/* d y / d x_k at output position o, times nothing: the factor that dy is
 * multiplied by for input k (0 when the gradient goes elsewhere). */
static float local_grad(const struct merge_conf *c, const float *const *x, size_t k, size_t o)
{
    switch (c->op) {
    case MERGE_ADD: return 1.0f;
    case MERGE_SUBTRACT: return k == 0 ? 1.0f : -1.0f;
    case MERGE_AVERAGE: return 1.0f / (float)c->n_in;
    case MERGE_MULTIPLY: {
        float p = 1.0f;
        for (size_t i = 0; i < c->n_in; i++)
            if (i != k)
                p *= x[i][in_offset(c, i, o)];
        return p;
    }
    case MERGE_MAXIMUM:
    case MERGE_MINIMUM: {
        /* The first input holding the extreme takes the gradient. */
        size_t best = 0;
        float v = x[0][in_offset(c, 0, o)];
        for (size_t i = 1; i < c->n_in; i++) {
            float u = x[i][in_offset(c, i, o)];
            if (c->op == MERGE_MAXIMUM ? u > v : u < v) {
                best = i;
                v = u;
            }
        }
        return best == k ? 1.0f : 0.0f;
    }
    case MERGE_CONCATENATE: break;
    }
    NNC_ASSERT(!"not an element-wise merge");
}

static void elementwise_backward_range(void *ctx, size_t s0, size_t s1)
{
    const struct merge_job *j = ctx;
    const struct merge_conf *c = j->l->conf;
    size_t n_out = shape_size(&c->out);
    for (size_t s = s0; s < s1; s++) {
        const float *dy = j->c->dy + s * n_out;
        const float *x[MERGE_MAX_INPUTS];
        for (size_t k = 0; k < c->n_in; k++)
            x[k] = j->c->x[k] + s * shape_size(&c->in[k]);
        for (size_t k = 0; k < c->n_in; k++) {
            if (!j->c->dx[k])
                continue;
            float *dx = j->c->dx[k] + s * shape_size(&c->in[k]);
            for (size_t o = 0; o < n_out; o++)
                dx[in_offset(c, k, o)] += dy[o] * local_grad(c, x, k, o);
        }
    }
}

static void elementwise_backward(const struct layer *l, const struct layer_call *c)
{
    const struct merge_conf *cf = l->conf;
    struct merge_job j = {l, c};
    parallel_for_samples(c->B, shape_size(&cf->out) * (2 * cf->n_in + 1),
                         elementwise_backward_range, &j);
}

/* ---- Concatenate ---------------------------------------------------------- */

static int concat_build(struct layer *l, const struct shape *in, size_t n_in, struct shape *out,
                        struct diag *d)
{
    struct merge_conf *c = l->conf;
    if (check_count(l, n_in, d) < 0)
        return -1;
    char s1[96], s2[96];
    int rank = in[0].rank;
    /* Keras's axis counts the batch axis: -1 is the last, 0 the batch. */
    long axis = c->axis < 0 ? c->axis + rank + 1 : c->axis;
    if (axis < 0 || axis > rank)
        return spec_error(l->where, d, "Concatenate '%s': axis %ld is out of range for inputs %s",
                          l->name, c->axis, shape_format(&in[0], s1, sizeof s1));
    if (axis == 0)
        return spec_error(l->where, d, "Concatenate '%s': axis %ld is the batch axis", l->name,
                          c->axis);
    int a = (int)axis - 1; /* per-sample axis */
    struct shape s = in[0];
    for (size_t k = 1; k < n_in; k++) {
        bool match = in[k].rank == rank;
        for (int i = 0; match && i < rank; i++)
            match = i == a || in[k].dim[i] == in[0].dim[i];
        if (!match)
            return spec_error(l->where, d,
                              "Concatenate '%s' needs inputs of matching shapes except on axis "
                              "%ld, found %s and %s",
                              l->name, c->axis, shape_format(&in[0], s1, sizeof s1),
                              shape_format(&in[k], s2, sizeof s2));
        s.dim[a] += in[k].dim[a];
    }
    c->op = MERGE_CONCATENATE;
    c->n_in = n_in;
    c->out = s;
    c->outer = 1;
    for (int i = 0; i < a; i++)
        c->outer *= s.dim[i];
    for (size_t k = 0; k < n_in; k++) {
        c->in[k] = in[k];
        c->inner[k] = shape_size(&in[k]) / c->outer;
    }
    *out = s;
    return 0;
}

static void concat_forward_range(void *ctx, size_t s0, size_t s1)
{
    const struct merge_job *j = ctx;
    const struct merge_conf *c = j->l->conf;
    size_t n_out = shape_size(&c->out);
    for (size_t s = s0; s < s1; s++) {
        float *y = j->c->y + s * n_out;
        for (size_t o = 0; o < c->outer; o++)
            for (size_t k = 0; k < c->n_in; k++) {
                const float *x = j->c->x[k] + s * shape_size(&c->in[k]) + o * c->inner[k];
                memcpy(y, x, c->inner[k] * sizeof *y);
                y += c->inner[k];
            }
    }
}

static void concat_backward_range(void *ctx, size_t s0, size_t s1)
{
    const struct merge_job *j = ctx;
    const struct merge_conf *c = j->l->conf;
    size_t n_out = shape_size(&c->out);
    for (size_t s = s0; s < s1; s++) {
        const float *dy = j->c->dy + s * n_out;
        for (size_t o = 0; o < c->outer; o++)
            for (size_t k = 0; k < c->n_in; k++) {
                float *dx = j->c->dx[k];
                if (dx) {
                    dx += s * shape_size(&c->in[k]) + o * c->inner[k];
                    for (size_t i = 0; i < c->inner[k]; i++)
                        dx[i] += dy[i];
                }
                dy += c->inner[k];
            }
    }
}

static void concat_forward(const struct layer *l, const struct layer_call *c)
{
    const struct merge_conf *cf = l->conf;
    struct merge_job j = {l, c};
    parallel_for_samples(c->B, 2 * shape_size(&cf->out), concat_forward_range, &j);
}

static void concat_backward(const struct layer *l, const struct layer_call *c)
{
    const struct merge_conf *cf = l->conf;
    struct merge_job j = {l, c};
    parallel_for_samples(c->B, 2 * shape_size(&cf->out), concat_backward_range, &j);
}

/* ---- the ops tables ----------------------------------------------------------- */

#define ELEMENTWISE(var, cls, base)                                                    \
    const struct layer_ops var = {                                                     \
        .class_name = cls,                                                             \
        .base_name = base,                                                             \
        .conf_size = sizeof(struct merge_conf),                                        \
        .build = elementwise_build,                                                    \
        .forward = elementwise_forward,                                                \
        .backward = elementwise_backward,                                              \
        .mask_mode = layer_mask_combine,                                               \
    }

ELEMENTWISE(add_ops, "Add", "add");
ELEMENTWISE(subtract_ops, "Subtract", "subtract");
ELEMENTWISE(multiply_ops, "Multiply", "multiply");
ELEMENTWISE(average_ops, "Average", "average");
ELEMENTWISE(maximum_ops, "Maximum", "maximum");
ELEMENTWISE(minimum_ops, "Minimum", "minimum");

const struct layer_ops concatenate_ops = {
    .class_name = "Concatenate",
    .base_name = "concatenate",
    .args = concat_args,
    .n_args = sizeof concat_args / sizeof concat_args[0],
    .conf_size = sizeof(struct merge_conf),
    .defaults = concat_defaults,
    .build = concat_build,
    .forward = concat_forward,
    .backward = concat_backward,
    .mask_mode = layer_mask_combine,
};
