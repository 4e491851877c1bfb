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

/* Small enough that a run takes milliseconds whatever the layers are: per
 * sample at most RUN_MAX_FLOATS floats of outputs, caches and states, and
 * RUN_MAX_WEIGHTS weights. A layer's work per sample is at most (its output
 * positions or time steps) x (its weights), or (its input) x (its output)
 * for the layers without weights, so below 4096 x 16384. */
#define RUN_MAX_FLOATS 4096
#define RUN_MAX_WEIGHTS (1 << 14)
#define RUN_BATCH 2

/* Copies RUN_BATCH dataset rows into the model's inputs. */
static inline void fuzz_scatter(struct model *m, const float *x)
{
    for (size_t b = 0; b < RUN_BATCH; b++)
        for (size_t k = 0; k < m->n_inputs; k++) {
            size_t size = shape_size(&m->inputs[k]->out);
            memcpy(m->inputs[k]->y + b * size, x, size * sizeof *x);
            x += size;
        }
}

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
    /* dataset rows: every input's values, input after input */
    size_t n_x = model_inputs_size(m);
    float *x = xcalloc(RUN_BATCH * n_x, sizeof *x);
    for (size_t i = 0; i < RUN_BATCH * n_x; i++)
        x[i] = (float)(2 * rng_uniform(&r) - 1);
    size_t sample, value;
    char why[128];
    if (model_check_input(m, x, RUN_BATCH, &sample, &value, why, sizeof why) < 0) {
        /* indices for an Embedding: 0 is always one */
        memset(x, 0, RUN_BATCH * n_x * sizeof *x);
        if (model_check_input(m, x, RUN_BATCH, &sample, &value, why, sizeof why) < 0) {
            free(x);
            return;
        }
    }
    if (model_needs_adapt(m))
        model_adapt(m, x, RUN_BATCH, RUN_BATCH);
    model_workspace(m, RUN_BATCH);
    if (m->compile.given) {
        /* zeros: a valid target for every loss (class 0, one-hot or not) */
        float *y = xcalloc(RUN_BATCH * model_targets_size(m), sizeof *y);
        fuzz_scatter(m, x);
        model_forward(m, RUN_BATCH, true, &r);
        model_backward(m, RUN_BATCH, y);
        model_apply_constraints(m);
        free(y);
    }
    fuzz_scatter(m, x);
    model_forward(m, RUN_BATCH, false, NULL);
    free(x);
}

#endif
