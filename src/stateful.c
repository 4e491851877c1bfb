/* Fit, evaluate and predict with stateful layers (see stateful.h). */
#include "stateful.h"

const struct layer *stateful_layer(const struct model *m)
{
    for (size_t i = 1; i < m->n_nodes; i++)
        if (m->nodes[i].state_floats)
            return m->nodes[i].layer;
    return NULL;
}

static int check_count(const struct layer *l, size_t n, long batch, const char *source,
                       struct diag *d)
{
    if (n % (size_t)batch == 0)
        return 0;
    diag_set(d, "%s: %zu samples are not a multiple of the batch size %ld that the stateful "
             "layer '%s' needs (each batch carries on from the one before)", source, n, batch,
             l->name);
    return -1;
}

int stateful_check_fit(const struct model *m, long batch_size, bool shuffle, size_t n_train,
                       const char *train_source, size_t n_val, const char *val_source,
                       struct diag *d)
{
    const struct layer *l = stateful_layer(m);
    if (!l)
        return 0;
    long fixed = model_batch_size(m);
    if (batch_size != fixed)
        return spec_error(l->where, d, "layer '%s' is stateful with batch size %ld "
                          "(batch_input_shape); fit's batch size is %ld (use --batch-size %ld)",
                          l->name, fixed, batch_size, fixed);
    if (shuffle)
        return spec_error(l->where, d, "layer '%s' is stateful: fit needs shuffle: false "
                          "(its state carries from each batch to the next)", l->name);
    if (check_count(l, n_train, fixed, train_source, d) < 0)
        return -1;
    if (n_val && check_count(l, n_val, fixed, val_source, d) < 0)
        return -1;
    return 0;
}

long stateful_batch_size(const struct model *m, bool given, long batch_size, struct diag *d)
{
    const struct layer *l = stateful_layer(m);
    if (!l)
        return batch_size;
    long fixed = model_batch_size(m);
    if (given && batch_size != fixed) {
        diag_set(d, "layer '%s' is stateful with batch size %ld (batch_input_shape); "
                 "--batch-size %ld does not match", l->name, fixed, batch_size);
        return -1;
    }
    return fixed;
}
