/* For the model and checkpoint fuzz targets: a built model that is small
 * is run on a batch of 2 random samples (adapt, one training step when it
 * has a loss, then a prediction), so that a configuration or weights the
 * readers let through but the layer code cannot handle show up. */
#ifndef NNC_FUZZ_RUN_H
#define NNC_FUZZ_RUN_H

#include "../../src/model.h"
#include "../../src/parallel.h"
#include "../../src/rng.h"
#include "fuzz.h"

/* Per sample at most this many floats of outputs and caches: every layer's
 * work is then below (its input) x (its output) <= the square of this, so
 * a run takes milliseconds whatever the layers are. */
#define RUN_MAX_FLOATS 4096
#define RUN_MAX_WEIGHTS (1 << 18)
#define RUN_BATCH 2

/* init: fresh weights (a model file); else m->w as loaded (a checkpoint). */
static inline void fuzz_run_model(struct model *m, bool init)
{
    size_t floats = 0;
    for (size_t i = 0; i < m->n_nodes; i++)
        floats += shape_size(&m->nodes[i].out) + m->nodes[i].cache_floats +
                  m->nodes[i].state_floats;
    if (floats > RUN_MAX_FLOATS || m->n_weights > RUN_MAX_WEIGHTS)
        return;
    fuzz_note("run", NULL);
    parallel_set_threads(1);
    struct rng r;
    rng_seed(&r, 7);
    if (init)
        model_init_weights(m, &r);
    size_t n_x = model_input_size(m);
    float *x = xcalloc(RUN_BATCH * n_x, sizeof *x);
    for (size_t i = 0; i < RUN_BATCH * n_x; i++)
        x[i] = (float)(2 * rng_uniform(&r) - 1);
    if (model_needs_adapt(m))
        model_adapt(m, x, RUN_BATCH, RUN_BATCH);
    model_workspace(m, RUN_BATCH);
    if (m->compile.given) {
        /* zeros: a valid target for every loss (class 0, one-hot or not) */
        float *y = xcalloc(RUN_BATCH * model_target_size(m), sizeof *y);
        memcpy(model_input(m), x, RUN_BATCH * n_x * sizeof *x);
        model_forward(m, RUN_BATCH, true, &r);
        model_backward(m, RUN_BATCH, y);
        model_apply_constraints(m);
        free(y);
    }
    memcpy(model_input(m), x, RUN_BATCH * n_x * sizeof *x);
    model_forward(m, RUN_BATCH, false, NULL);
    free(x);
}

#endif
