/* LSTM (keras/layers/rnn/lstm.py, LSTMCell): gate blocks i, f, c, o of
 * Z = x_t W + b + h_prev R (W (D, 4U), R (U, 4U), b (4U)), then
 *   i = g(Zi)  f = g(Zf)  c~ = f_act(Zc)  o = g(Zo)
 *   c = f c_prev + i c~     h = o f_act(c)
 * with g the recurrent_activation (sigmoid) and f_act the activation
 * (tanh). A holds i, f, c~, o; the extra array holds f_act(c). The bias
 * starts with ones for f when unit_forget_bias (Keras concatenates
 * init(U), ones(U), init(2U)). */
#include <string.h>

#include "layers.h"
#include "rnn_common.h"

/* c = f c_prev + i c~ over a row's units, on distinct arrays (restrict),
 * compiled for AVX2 and AVX-512 too: the same operations, so the same
 * results. */
SIMD_CLONES_512 static void new_c(size_t U, float *restrict c, const float *restrict a,
                                  const float *restrict c_prev)
{
    const float *i = a, *f = a + U, *g = a + 2 * U;
    for (size_t j = 0; j < U; j++)
        c[j] = f[j] * c_prev[j] + i[j] * g[j];
}

/* h = o f_act(c) */
SIMD_CLONES_512 static void new_h(size_t U, float *restrict h, const float *restrict o,
                                  const float *restrict fc)
{
    for (size_t j = 0; j < U; j++)
        h[j] = o[j] * fc[j];
}

static void step_rows(const struct rnn_run *r, size_t s, size_t b0, size_t b1)
{
    size_t U = r->U, G = r->G, t = rnn_time(r, s);
    enum act_kind ga = r->cf->recurrent_activation, fa = r->cf->activation;
    for (size_t b = b0; b < b1; b++) {
        const float *z = rnn_row(r->z, r, b, t, G);
        float *a = rnn_row(r->a, r, b, t, G);
        rnn_act(ga, z, a, 2 * U);
        rnn_act(fa, z + 2 * U, a + 2 * U, U);
        rnn_act(ga, z + 3 * U, a + 3 * U, U);
        float *c = rnn_c_new(r, s, b), *fc = rnn_row(r->ex, r, b, t, U);
        new_c(U, c, a, rnn_row(r->cp, r, b, t, U));
        rnn_act(fa, c, fc, U);
        new_h(U, rnn_h_new(r, s, b), a + 3 * U, fc);
    }
}

/* Z_t += h_prev R for the rows, then the gates: one parallel pass. */
static void step_rows_recurrent(const struct rnn_run *r, size_t s, size_t b0, size_t b1)
{
    size_t t = rnn_time(r, s), T = r->T, U = r->U, G = r->G;
    rnn_recurrent_rows(r, b0, b1, r->hp + t * U, T * U, 0, G, r->z + t * G, T * G, 1.0f, true);
    step_rows(r, s, b0, b1);
}

static void lstm_step(const struct rnn_run *r, size_t s)
{
    rnn_rows(r, s, 12 * r->G + 2 * r->U * r->G, step_rows_recurrent);
}

/* From gh = dL/dh and gc = dL/dc (carried from later steps):
 *   do = gh f_act(c)           dc = gc + f_act'(c) gh o
 *   di = dc c~   df = dc c_prev   dc~ = dc i      gc <- dc f
 * then dZ = act'(Z) dA per block, in place; gh <- 0 (h_prev acts only
 * through R, added by the caller). */
/* The same for Keras's default activations (sigmoid gates, tanh), fused
 * into one loop that GCC vectorizes: sigmoid' = a (1 - a), tanh' = 1 - a^2
 * from the activations, as activation_backward computes them. */
SIMD_CLONES_512 static void back_sigmoid_tanh(size_t U, float *restrict z, const float *restrict a,
                                              const float *restrict c_prev,
                                              const float *restrict fc, float *restrict gh,
                                              float *restrict gc)
{
    for (size_t j = 0; j < U; j++) {
        float i = a[j], f = a[U + j], g = a[2 * U + j], o = a[3 * U + j], t = fc[j];
        float dc = gc[j] + gh[j] * o * (1.0f - t * t);
        z[j] = dc * g * i * (1.0f - i);
        z[U + j] = dc * c_prev[j] * f * (1.0f - f);
        z[2 * U + j] = dc * i * (1.0f - g * g);
        z[3 * U + j] = gh[j] * t * o * (1.0f - o);
        gc[j] = dc * f;
        gh[j] = 0.0f;
    }
}

static void step_back_rows(const struct rnn_run *r, size_t s, size_t b0, size_t b1)
{
    size_t U = r->U, G = r->G, t = rnn_time(r, s);
    enum act_kind ga = r->cf->recurrent_activation, fa = r->cf->activation;
    for (size_t b = b0; b < b1; b++) {
        float *z = rnn_row(r->z, r, b, t, G);
        if (!rnn_kept(r, b, t)) {
            memset(z, 0, G * sizeof *z);
            continue;
        }
        const float *a = rnn_row(r->a, r, b, t, G);
        const float *i = a, *f = a + U, *g = a + 2 * U, *o = a + 3 * U;
        const float *c_prev = rnn_row(r->cp, r, b, t, U), *c = rnn_c_new(r, s, b);
        const float *fc = rnn_row(r->ex, r, b, t, U);
        float *gh = r->gh + b * U, *gc = r->gc + b * U;
        if (ga == ACT_SIGMOID && fa == ACT_TANH) {
            back_sigmoid_tanh(U, z, a, c_prev, fc, gh, gc);
            continue;
        }
        float *da = r->sc + b * G, *tmp = r->hs + b * U;
        for (size_t j = 0; j < U; j++) {
            da[3 * U + j] = gh[j] * fc[j];
            da[j] = gh[j] * o[j]; /* dL/d f_act(c), for now */
        }
        rnn_act_back(fa, c, fc, da, tmp, U);
        for (size_t j = 0; j < U; j++) {
            float dc = gc[j] + tmp[j];
            da[j] = dc * g[j];
            da[U + j] = dc * c_prev[j];
            da[2 * U + j] = dc * i[j];
            gc[j] = dc * f[j];
        }
        rnn_act_back(ga, z, i, da, z, U);
        rnn_act_back(ga, z + U, f, da + U, z + U, U);
        rnn_act_back(fa, z + 2 * U, g, da + 2 * U, z + 2 * U, U);
        rnn_act_back(ga, z + 3 * U, o, da + 3 * U, z + 3 * U, U);
        memset(gh, 0, U * sizeof *gh);
    }
}

/* The gates' gradients for the rows, then gh += dZ_t R^T for them. */
static void step_back_rows_recurrent(const struct rnn_run *r, size_t s, size_t b0, size_t b1)
{
    size_t t = rnn_time(r, s), T = r->T, G = r->G;
    step_back_rows(r, s, b0, b1);
    rnn_recurrent_back_rows(r, b0, b1, r->z + t * G, T * G, 0, G, r->gh, true);
}

static void lstm_step_back(const struct rnn_run *r, size_t s)
{
    rnn_rows(r, s, 12 * r->G + 2 * r->U * r->G, step_back_rows_recurrent);
}

static const struct rnn_cell lstm_cell = {
    .gates = 4,
    .states = 2,
    .extra = true,
    .forward = lstm_step,
    .backward = lstm_step_back,
};

static const struct arg_def lstm_args[] = {
    RNN_ARG(units, ARG_INT, ARG_REQUIRED),
    RNN_ARG(activation, ARG_ACTIVATION, 0),
    RNN_ARG(recurrent_activation, ARG_ACTIVATION, 0),
    RNN_INIT_ARGS,
    RNN_ARG(unit_forget_bias, ARG_BOOL, ARG_NULLABLE), /* TensorFlow.js writes null: false */
    RNN_LIMIT_ARGS,
    RNN_ARG(time_major, ARG_BOOL, 0),
    RNN_ARG(unroll, ARG_BOOL, 0),
    RNN_ARG(implementation, ARG_INT, ARG_NULLABLE), /* null (TensorFlow.js): 2 */
    RNN_KWARGS,
};

/* init(U), ones(U), init(2U): each part drawn with its own shape, as
 * Keras's bias_initializer closure in LSTMCell.build does. */
static void fill_forget_bias(const struct param *p, float *w, struct rng *r)
{
    size_t U = p->shape.dim[0] / 4, one[1] = {U}, two[1] = {2 * U};
    init_fill(&p->init, w, one, 1, r);
    for (size_t j = 0; j < U; j++)
        w[U + j] = 1.0f;
    init_fill(&p->init, w + 2 * U, two, 1, r);
}

static int lstm_build(struct layer *l, const struct shape *in, size_t n_in, struct shape *out,
                      struct diag *d)
{
    const struct rnn_conf *c = l->conf;
    if (rnn_build(l, in, n_in, out, d) < 0)
        return -1;
    if (c->use_bias && c->unit_forget_bias)
        l->params[2].fill = fill_forget_bias;
    return 0;
}

static void lstm_defaults(void *conf) { rnn_defaults(conf, &lstm_cell); }

const struct layer_ops lstm_ops = {
    .class_name = "LSTM",
    .base_name = "lstm",
    .args = lstm_args,
    .n_args = sizeof lstm_args / sizeof lstm_args[0],
    .conf_size = sizeof(struct rnn_conf),
    .defaults = lstm_defaults,
    .validate = rnn_validate,
    .build = lstm_build,
    .cache_floats = rnn_cache_floats,
    .forward = rnn_forward,
    .backward = rnn_backward,
    .mask_mode = rnn_mask_mode,
    .state_floats = rnn_state_floats,
    .more_outputs = rnn_more_outputs,
};
