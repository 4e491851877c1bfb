/* GRU (keras/layers/rnn/gru.py, GRUCell): gate blocks z, r, h of
 * W (D, 3U) and R (U, 3U). With reset_after (Keras 2's default; bias
 * (2, 3U): b_in, b_rec):
 *   Xz, Xr, Xh = x_t W + b_in        Rz, Rr, Rh = h_prev R + b_rec
 *   z = g(Xz + Rz)   r = g(Xr + Rr)   h~ = f(Xh + r Rh)
 * without (bias (3U): b_in only):
 *   z = g(Xz + h_prev Rz)   r = g(Xr + h_prev Rr)   h~ = f(Xh + (r h_prev) R_h)
 * and in both  h = z h_prev + (1 - z) h~.
 * Z holds the full pre-activations of z, r, h~ (so dZ is the input part's
 * gradient); A holds z, r, h~; the extra array RH holds Rh (reset_after)
 * or r h_prev (times the h block's recurrent dropout mask). */
#include <string.h>

#include "../parallel_gemm.h"
#include "layers.h"
#include "rnn_common.h"

/* ---- reset_after: the recurrent projection of the step in one GEMM ---- */

/* The element-wise loops of a step, over a row's U units, on distinct
 * arrays (restrict) and compiled for AVX2 and AVX-512 too (SIMD_CLONES_512):
 * the same operations as written out before, so the same results.
 * z and r's pre-activations get the recurrent part and its bias, and RH
 * the h block's: z[0, 2U) += rec + b_rec, rh = rec_h + b_rec_h (no bias:
 * + 0, as before). */
SIMD_CLONES_512 static void after_add_recurrent(size_t U, float *restrict z,
                                                const float *restrict rec,
                                                const float *restrict brec, float *restrict rh)
{
    if (brec) {
        for (size_t j = 0; j < 2 * U; j++)
            z[j] += rec[j] + brec[j];
        for (size_t j = 0; j < U; j++)
            rh[j] = rec[2 * U + j] + brec[2 * U + j];
    } else {
        for (size_t j = 0; j < 2 * U; j++)
            z[j] += rec[j] + 0.0f;
        for (size_t j = 0; j < U; j++)
            rh[j] = rec[2 * U + j] + 0.0f;
    }
}

/* Xh + r Rh, into the h block of z. */
SIMD_CLONES_512 static void after_candidate(size_t U, float *restrict zh, const float *restrict rg,
                                            const float *restrict rh)
{
    for (size_t j = 0; j < U; j++)
        zh[j] += rg[j] * rh[j];
}

/* h = z h_prev + (1 - z) h~ */
SIMD_CLONES_512 static void gru_new_h(size_t U, float *restrict h, const float *restrict zg,
                                      const float *restrict h_prev, const float *restrict hh)
{
    for (size_t j = 0; j < U; j++)
        h[j] = zg[j] * h_prev[j] + (1.0f - zg[j]) * hh[j];
}

static void after_rows(const struct rnn_run *r, size_t s, size_t b0, size_t b1)
{
    size_t U = r->U, G = r->G, t = rnn_time(r, s);
    enum act_kind ga = r->cf->recurrent_activation, fa = r->cf->activation;
    const float *brec = r->bias ? r->bias + G : NULL;
    for (size_t b = b0; b < b1; b++) {
        float *z = rnn_row(r->z, r, b, t, G), *a = rnn_row(r->a, r, b, t, G);
        float *rh = rnn_row(r->ex, r, b, t, U);
        after_add_recurrent(U, z, r->sc + b * G, brec, rh);
        rnn_act(ga, z, a, 2 * U);
        after_candidate(U, z + 2 * U, a + U, rh);
        rnn_act(fa, z + 2 * U, a + 2 * U, U);
        gru_new_h(U, rnn_h_new(r, s, b), a, rnn_row(r->hp, r, b, t, U), a + 2 * U);
    }
}

/* after_back_rows for Keras's default activations (sigmoid gates, tanh),
 * fused into one loop: the same operations in the same order, with
 * sigmoid' = a (1 - a) and tanh' = 1 - a^2 from the activations, as
 * activation_backward computes them. */
SIMD_CLONES_512 static void after_back_sigmoid_tanh(size_t U, float *restrict z,
                                                    const float *restrict a,
                                                    const float *restrict h_prev,
                                                    float *restrict rh, float *restrict gh)
{
    for (size_t j = 0; j < U; j++) {
        float zg = a[j], rg = a[U + j], hh = a[2 * U + j], g = gh[j];
        float dzg = g * (h_prev[j] - hh), dhh = g * (1.0f - zg);
        gh[j] = g * zg;
        float dxh = dhh * (1.0f - hh * hh);
        float drg = dxh * rh[j];
        z[2 * U + j] = dxh;
        rh[j] = dxh * rg;
        z[j] = dzg * zg * (1.0f - zg);
        z[U + j] = drg * rg * (1.0f - rg);
    }
}

/* dz = gh (h_prev - h~), dh~ = gh (1 - z), gh <- gh z (the direct path);
 * dXh = f'() dh~; dr = dXh Rh; dRh = dXh r (kept in RH for dR);
 * dXz, dXr through g'. */
static void after_back_rows(const struct rnn_run *r, size_t s, size_t b0, size_t b1)
{
    size_t U = r->U, G = r->G, t = rnn_time(r, s);
    enum act_kind ga = r->cf->recurrent_activation, fa = r->cf->activation;
    for (size_t b = b0; b < b1; b++) {
        float *z = rnn_row(r->z, r, b, t, G), *rh = rnn_row(r->ex, r, b, t, U);
        if (!rnn_kept(r, b, t)) {
            memset(z, 0, G * sizeof *z);
            memset(rh, 0, U * sizeof *rh);
            continue;
        }
        const float *a = rnn_row(r->a, r, b, t, G), *h_prev = rnn_row(r->hp, r, b, t, U);
        if (ga == ACT_SIGMOID && fa == ACT_TANH) {
            after_back_sigmoid_tanh(U, z, a, h_prev, rh, r->gh + b * U);
            continue;
        }
        const float *zg = a, *rg = a + U, *hh = a + 2 * U;
        float *gh = r->gh + b * U, *da = r->sc + b * G;
        for (size_t j = 0; j < U; j++) {
            da[j] = gh[j] * (h_prev[j] - hh[j]);
            da[2 * U + j] = gh[j] * (1.0f - zg[j]);
            gh[j] *= zg[j];
        }
        rnn_act_back(fa, z + 2 * U, hh, da + 2 * U, z + 2 * U, U);
        for (size_t j = 0; j < U; j++) {
            da[U + j] = z[2 * U + j] * rh[j];
            rh[j] = z[2 * U + j] * rg[j];
        }
        rnn_act_back(ga, z, zg, da, z, U);
        rnn_act_back(ga, z + U, rg, da + U, z + U, U);
    }
}

/* The recurrent product and the gates for the rows: one parallel pass. */
static void after_rows_recurrent(const struct rnn_run *r, size_t s, size_t b0, size_t b1)
{
    size_t t = rnn_time(r, s), T = r->T, U = r->U, G = r->G;
    rnn_recurrent_rows(r, b0, b1, r->hp + t * U, T * U, 0, G, r->sc, G, 0.0f, true);
    after_rows(r, s, b0, b1);
}

static void gru_after_step(const struct rnn_run *r, size_t s)
{
    rnn_rows(r, s, 12 * r->G + 2 * r->U * r->G, after_rows_recurrent);
}

static void after_back_rows_recurrent(const struct rnn_run *r, size_t s, size_t b0, size_t b1)
{
    size_t t = rnn_time(r, s), T = r->T, U = r->U, G = r->G;
    after_back_rows(r, s, b0, b1);
    rnn_recurrent_back_rows(r, b0, b1, r->z + t * G, T * G, 0, 2 * U, r->gh, true);
    rnn_recurrent_back_rows(r, b0, b1, r->ex + t * U, T * U, 2 * U, U, r->gh, true);
}

static void gru_after_step_back(const struct rnn_run *r, size_t s)
{
    rnn_rows(r, s, 12 * r->G + 2 * r->U * r->G, after_back_rows_recurrent);
}

/* dR = h_prev^T [dXz dXr dRh]; the recurrent bias row gets their sums. */
static void gru_after_grad(const struct rnn_run *r)
{
    size_t U = r->U, G = r->G, rows = r->B * r->T;
    rnn_grad_recurrent(r, r->hp, 0, 2 * U, r->z, G, true);
    rnn_grad_recurrent(r, r->hp, 2 * U, U, r->ex, U, true);
    if (r->db) {
        float *db = r->db + G;
        for (size_t i = 0; i < rows; i++) {
            for (size_t j = 0; j < 2 * U; j++)
                db[j] += r->z[i * G + j];
            for (size_t j = 0; j < U; j++)
                db[2 * U + j] += r->ex[i * U + j];
        }
    }
}

/* ---- reset_after false: r multiplies h_prev before R_h ---- */

static void before_rows(const struct rnn_run *r, size_t s, size_t b0, size_t b1)
{
    size_t U = r->U, G = r->G, t = rnn_time(r, s);
    enum act_kind ga = r->cf->recurrent_activation;
    for (size_t b = b0; b < b1; b++) {
        const float *z = rnn_row(r->z, r, b, t, G), *h_prev = rnn_row(r->hp, r, b, t, U);
        float *a = rnn_row(r->a, r, b, t, G), *rh = rnn_row(r->ex, r, b, t, U);
        const float *m = rnn_rec_mask(r, 2, b);
        rnn_act(ga, z, a, U);
        rnn_act(ga, z + U, a + U, U);
        for (size_t j = 0; j < U; j++)
            rh[j] = a[U + j] * h_prev[j] * (m ? m[j] : 1.0f);
    }
}

static void before_rows2(const struct rnn_run *r, size_t s, size_t b0, size_t b1)
{
    size_t U = r->U, G = r->G, t = rnn_time(r, s);
    for (size_t b = b0; b < b1; b++) {
        const float *z = rnn_row(r->z, r, b, t, G), *h_prev = rnn_row(r->hp, r, b, t, U);
        float *a = rnn_row(r->a, r, b, t, G), *h = rnn_h_new(r, s, b);
        rnn_act(r->cf->activation, z + 2 * U, a + 2 * U, U);
        for (size_t j = 0; j < U; j++)
            h[j] = a[j] * h_prev[j] + (1.0f - a[j]) * a[2 * U + j];
    }
}

static void gru_before_step(const struct rnn_run *r, size_t s)
{
    size_t t = rnn_time(r, s), T = r->T, U = r->U, G = r->G;
    rnn_recurrent(r, r->hp + t * U, T * U, 0, 2 * U, r->z + t * G, T * G, 1.0f, true);
    rnn_rows(r, s, 8 * G, before_rows);
    rnn_recurrent(r, r->ex + t * U, T * U, 2 * U, U, r->z + t * G + 2 * U, T * G, 1.0f, false);
    rnn_rows(r, s, 4 * G, before_rows2);
}

/* First dz, dh~ -> dXh and the direct path gh z; then (after d(r h_prev)
 * = dXh R_h^T, in the scratch's r block) dr and the path through r. */
static void before_back_rows(const struct rnn_run *r, size_t s, size_t b0, size_t b1)
{
    size_t U = r->U, G = r->G, t = rnn_time(r, s);
    for (size_t b = b0; b < b1; b++) {
        float *z = rnn_row(r->z, r, b, t, G);
        if (!rnn_kept(r, b, t)) {
            memset(z, 0, G * sizeof *z);
            continue;
        }
        const float *a = rnn_row(r->a, r, b, t, G), *h_prev = rnn_row(r->hp, r, b, t, U);
        const float *zg = a, *hh = a + 2 * U;
        float *gh = r->gh + b * U, *da = r->sc + b * G;
        for (size_t j = 0; j < U; j++) {
            da[j] = gh[j] * (h_prev[j] - hh[j]);
            da[2 * U + j] = gh[j] * (1.0f - zg[j]);
            gh[j] *= zg[j];
        }
        rnn_act_back(r->cf->activation, z + 2 * U, hh, da + 2 * U, z + 2 * U, U);
    }
}

static void before_back_rows2(const struct rnn_run *r, size_t s, size_t b0, size_t b1)
{
    size_t U = r->U, G = r->G, t = rnn_time(r, s);
    enum act_kind ga = r->cf->recurrent_activation;
    for (size_t b = b0; b < b1; b++) {
        if (!rnn_kept(r, b, t))
            continue;
        float *z = rnn_row(r->z, r, b, t, G);
        const float *a = rnn_row(r->a, r, b, t, G), *h_prev = rnn_row(r->hp, r, b, t, U);
        const float *m = rnn_rec_mask(r, 2, b);
        float *gh = r->gh + b * U, *da = r->sc + b * G;
        for (size_t j = 0; j < U; j++) {
            float drh = da[U + j] * (m ? m[j] : 1.0f); /* d(r h_prev) before the mask */
            da[U + j] = drh * h_prev[j];
            gh[j] += drh * a[U + j];
        }
        rnn_act_back(ga, z, a, da, z, U);
        rnn_act_back(ga, z + U, a + U, da + U, z + U, U);
    }
}

static void gru_before_step_back(const struct rnn_run *r, size_t s)
{
    size_t t = rnn_time(r, s), T = r->T, B = r->B, U = r->U, G = r->G;
    rnn_rows(r, s, 8 * G, before_back_rows);
    gemm_parallel(false, true, B, U, U, 1.0f, r->z + t * G + 2 * U, T * G, r->R + 2 * U, G, 0.0f,
                  r->sc + U, G);
    rnn_rows(r, s, 8 * G, before_back_rows2);
    rnn_recurrent_back(r, r->z + t * G, T * G, 0, 2 * U, r->gh, true);
}

/* dR_zr = h_prev^T dX_zr; dR_h = (r h_prev)^T dXh. */
static void gru_before_grad(const struct rnn_run *r)
{
    size_t U = r->U, G = r->G;
    rnn_grad_recurrent(r, r->hp, 0, 2 * U, r->z, G, true);
    rnn_grad_recurrent(r, r->ex, 2 * U, U, r->z + 2 * U, G, false);
}

/* ---- the layer ---- */

static void gru_step(const struct rnn_run *r, size_t s)
{
    if (r->cf->reset_after)
        gru_after_step(r, s);
    else
        gru_before_step(r, s);
}

static void gru_step_back(const struct rnn_run *r, size_t s)
{
    if (r->cf->reset_after)
        gru_after_step_back(r, s);
    else
        gru_before_step_back(r, s);
}

static void gru_grad(const struct rnn_run *r)
{
    if (r->cf->reset_after)
        gru_after_grad(r);
    else
        gru_before_grad(r);
}

static const struct rnn_cell gru_cell = {
    .gates = 3,
    .states = 1,
    .extra = true,
    .has_reset_after = true,
    .forward = gru_step,
    .backward = gru_step_back,
    .grad_recurrent = gru_grad,
};

static const struct arg_def gru_args[] = {
    RNN_ARG(units, ARG_INT, ARG_REQUIRED),
    RNN_ARG(activation, ARG_ACTIVATION, 0),
    RNN_ARG(recurrent_activation, ARG_ACTIVATION, 0),
    RNN_INIT_ARGS,
    RNN_LIMIT_ARGS,
    RNN_ARG(unroll, ARG_BOOL, 0),
    RNN_ARG(time_major, ARG_BOOL, 0),
    RNN_ARG(reset_after, ARG_BOOL, 0),
    RNN_ARG(implementation, ARG_INT, ARG_NULLABLE), /* null (TensorFlow.js): 2 */
    RNN_KWARGS,
};

static void gru_defaults(void *conf) { rnn_defaults(conf, &gru_cell); }

const struct layer_ops gru_ops = {
    .class_name = "GRU",
    .base_name = "gru",
    .args = gru_args,
    .n_args = sizeof gru_args / sizeof gru_args[0],
    .conf_size = sizeof(struct rnn_conf),
    .defaults = gru_defaults,
    .validate = rnn_validate,
    .build = rnn_build,
    .cache_floats = rnn_cache_floats,
    .forward = rnn_forward,
    .backward = rnn_backward,
    .mask_mode = rnn_mask_mode,
    .state_floats = rnn_state_floats,
    .more_outputs = rnn_more_outputs,
};
