/* SimpleRNN (keras/layers/rnn/simple_rnn.py): per step
 *   h = f(x_t W + b + h_prev R)
 * with W (D, U), R (U, U), b (U). The time loop, masks, dropout and
 * states are rnn_common.c's; here is the step. Z holds x_t W + b + h R,
 * A holds h. */
#include <string.h>

#include "layers.h"
#include "rnn_common.h"

static void step_rows(const struct rnn_run *r, size_t s, size_t b0, size_t b1)
{
    size_t U = r->U, t = rnn_time(r, s);
    for (size_t b = b0; b < b1; b++) {
        float *a = rnn_row(r->a, r, b, t, U);
        rnn_act(r->cf->activation, rnn_row(r->z, r, b, t, U), a, U);
        memcpy(rnn_h_new(r, s, b), a, U * sizeof *a);
    }
}

/* Z_t += h_prev R and the activation for the rows: one parallel pass. */
static void step_rows_recurrent(const struct rnn_run *r, size_t s, size_t b0, size_t b1)
{
    size_t t = rnn_time(r, s), T = r->T, U = r->U;
    rnn_recurrent_rows(r, b0, b1, r->hp + t * U, T * U, 0, U, r->z + t * U, T * U, 1.0f, true);
    step_rows(r, s, b0, b1);
}

static void simple_rnn_step(const struct rnn_run *r, size_t s)
{
    rnn_rows(r, s, 8 * r->U + 2 * r->U * r->U, step_rows_recurrent);
}

/* dZ = f'(Z) gh in place; h_prev reaches the loss only through R. */
static void step_back_rows(const struct rnn_run *r, size_t s, size_t b0, size_t b1)
{
    size_t U = r->U, t = rnn_time(r, s);
    for (size_t b = b0; b < b1; b++) {
        float *z = rnn_row(r->z, r, b, t, U), *gh = r->gh + b * U;
        if (!rnn_kept(r, b, t)) {
            memset(z, 0, U * sizeof *z);
            continue;
        }
        rnn_act_back(r->cf->activation, z, rnn_row(r->a, r, b, t, U), gh, z, U);
        memset(gh, 0, U * sizeof *gh);
    }
}

static void step_back_rows_recurrent(const struct rnn_run *r, size_t s, size_t b0, size_t b1)
{
    size_t t = rnn_time(r, s), T = r->T, U = r->U;
    step_back_rows(r, s, b0, b1);
    rnn_recurrent_back_rows(r, b0, b1, r->z + t * U, T * U, 0, U, r->gh, true);
}

static void simple_rnn_step_back(const struct rnn_run *r, size_t s)
{
    rnn_rows(r, s, 8 * r->U + 2 * r->U * r->U, step_back_rows_recurrent);
}

static const struct rnn_cell simple_rnn_cell = {
    .gates = 1,
    .states = 1,
    .forward = simple_rnn_step,
    .backward = simple_rnn_step_back,
};

static const struct arg_def simple_rnn_args[] = {
    RNN_ARG(units, ARG_INT, ARG_REQUIRED),
    RNN_ARG(activation, ARG_ACTIVATION, 0),
    RNN_INIT_ARGS,
    RNN_LIMIT_ARGS,
    RNN_ARG(unroll, ARG_BOOL, 0),
    RNN_ARG(time_major, ARG_BOOL, 0),
    RNN_KWARGS,
};

static void simple_rnn_defaults(void *conf) { rnn_defaults(conf, &simple_rnn_cell); }

const struct layer_ops simple_rnn_ops = {
    .class_name = "SimpleRNN",
    .base_name = "simple_rnn",
    .args = simple_rnn_args,
    .n_args = sizeof simple_rnn_args / sizeof simple_rnn_args[0],
    .conf_size = sizeof(struct rnn_conf),
    .defaults = simple_rnn_defaults,
    .validate = rnn_validate,
    .build = rnn_build,
    .cache_floats = rnn_cache_floats,
    .forward = rnn_forward,
    .backward = rnn_backward,
    .mask_mode = rnn_mask_mode,
    .state_floats = rnn_state_floats,
    .more_outputs = rnn_more_outputs,
};
