/* ActivityRegularization (keras/layers/regularization/
 * activity_regularization.py, tf.keras 2.x): y = x, with the activity
 * regularizer L1L2(l1, l2) on its output. As for any layer's activity
 * regularizer (keras/engine/base_layer.py), the model adds
 * (l1 sum |y| + l2 sum y^2) / B to the loss and its gradient to dy
 * (model_penalty, model_backward); the layer hands that regularizer over
 * through the ops' activity hook. Serialized as {l1, l2}, as given; the
 * penalty uses them cast to float32 (L1L2 casts with cast_to_floatx). */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "layers.h"

struct activity_regularization_conf {
    double l1, l2;
    struct regularizer reg; /* set by build from l1, l2 */
};

#define ARG(name) \
    {#name, ARG_FLOAT, offsetof(struct activity_regularization_conf, name), 0, NULL, NULL}
static const struct arg_def activity_regularization_args[] = {ARG(l1), ARG(l2)};

/* The factors' check of src/regularizer.c. */
static int activity_regularization_validate(const struct layer *l, const struct spec_node *where,
                                            struct diag *d)
{
    const struct activity_regularization_conf *c = l->conf;
    if (!(c->l1 >= 0) || !(c->l2 >= 0))
        return spec_error(where, d, "ActivityRegularization l1 and l2 must be 0 or more, found "
                                    "l1 %g, l2 %g",
                          c->l1, c->l2);
    return 0;
}

static int activity_regularization_build(struct layer *l, const struct shape *in, size_t n_in,
                                         struct shape *out, struct diag *d)
{
    struct activity_regularization_conf *c = l->conf;
    c->reg = (struct regularizer){true, (double)(float)c->l1, (double)(float)c->l2};
    *out = in[0];
    return 0;
}

static const struct regularizer *activity_regularization_activity(const struct layer *l)
{
    const struct activity_regularization_conf *c = l->conf;
    return c->reg.set ? &c->reg : NULL;
}

static void activity_regularization_forward(const struct layer *l, const struct layer_call *c)
{
    memcpy(c->y, c->x[0], c->B * shape_size(&l->out_shape) * sizeof *c->y);
}

static void activity_regularization_backward(const struct layer *l, const struct layer_call *c)
{
    if (!c->dx[0])
        return;
    size_t n = c->B * shape_size(&l->out_shape);
    for (size_t i = 0; i < n; i++)
        c->dx[0][i] += c->dy[i];
}

const struct layer_ops activity_regularization_ops = {
    .class_name = "ActivityRegularization",
    .base_name = "activity_regularization",
    .args = activity_regularization_args,
    .n_args = 2,
    .conf_size = sizeof(struct activity_regularization_conf),
    .validate = activity_regularization_validate,
    .build = activity_regularization_build,
    .forward = activity_regularization_forward,
    .backward = activity_regularization_backward,
    .activity = activity_regularization_activity,
    .mask_mode = layer_mask_keep, /* supports_masking */
};
