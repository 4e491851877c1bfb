/* Optimizer tests: two steps of every optimizer and variant on a 3-element
 * weight vector against values computed independently in double precision
 * (literal values from a Python transcription of the tf.keras 2 update
 * rules, or the documented formula written out in the test), values from
 * Keras's own tests and docstrings, convergence on a small least-squares
 * problem, gradient clipping, learning-rate schedules, state layout, parsing
 * with located errors, and the tf.keras 2 get_config() JSON. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/loss.h"
#include "../src/optim.h"
#include "fixtures.h"

static int parse(const char *text, struct optimizer *o, struct diag *d)
{
    struct spec_doc doc;
    ck_assert_msg(spec_load_string(&doc, "m.yaml", text, strlen(text), d) == 0, "%s", d->msg);
    int rc = optim_parse(doc.root, o, d);
    spec_free(&doc);
    return rc;
}

static struct optimizer parsed(const char *text)
{
    struct optimizer o;
    struct diag d = {{0}};
    ck_assert_msg(parse(text, &o, &d) == 0, "%s: %s", text, d.msg);
    return o;
}

static void expect_error(const char *text, const char *msg)
{
    struct optimizer o;
    struct diag d = {{0}};
    ck_assert_int_eq(parse(text, &o, &d), -1);
    ck_assert_str_eq(d.msg, msg);
}

/* ---- two steps against reference values ----------------------------------- */

/* w0 = [0.5, -1, 2]; gradients g1 then g2 (g2[0] small so that amsgrad's
 * vhat differs from v with beta_2 = 0.5). */
static const float W0[3] = {0.5f, -1.0f, 2.0f};
static const float G1[3] = {0.1f, -0.2f, 0.3f};
static const float G2[3] = {0.001f, 0.4f, 0.1f};

static void check_two_steps(const char *spec, const double want1[3], const double want2[3])
{
    struct optimizer o = parsed(spec);
    float w[3], state[3 * 3];
    memcpy(w, W0, sizeof w);
    ck_assert_uint_le(optim_n_slots(&o), 3);
    optim_init_state(&o, state, 3);
    optim_step(&o, w, G1, state, 3, 0, 3, 0);
    for (int i = 0; i < 3; i++)
        ck_assert_msg(fabs(w[i] - want1[i]) <= 1e-6 * (1 + fabs(want1[i])),
                      "%s step 1 w[%d] = %.9g, want %.9g", spec, i, w[i], want1[i]);
    optim_step(&o, w, G2, state, 3, 0, 3, 1);
    for (int i = 0; i < 3; i++)
        ck_assert_msg(fabs(w[i] - want2[i]) <= 1e-6 * (1 + fabs(want2[i])),
                      "%s step 2 w[%d] = %.9g, want %.9g", spec, i, w[i], want2[i]);
}

START_TEST(test_sgd_steps)
{
    /* w -= lr g */
    check_two_steps("{sgd: {learning_rate: 0.1}}", (double[]){0.49, -0.98, 1.97},
                    (double[]){0.4899, -1.02, 1.96});
    /* a = m a - lr g; w += a */
    check_two_steps("{sgd: {learning_rate: 0.1, momentum: 0.9}}", (double[]){0.49, -0.98, 1.97},
                    (double[]){0.4809, -1.002, 1.933});
    /* nesterov: w += m a - lr g */
    check_two_steps("{SGD: {lr: 0.1, momentum: 0.9, nesterov: true}}",
                    (double[]){0.481, -0.962, 1.943}, (double[]){0.47271, -1.0218, 1.8997});
    /* decay: lr_t = lr / (1 + decay * iterations); step 2 uses 0.1 / 1.5 */
    check_two_steps("{sgd: {learning_rate: 0.1, decay: 0.5}}", (double[]){0.49, -0.98, 1.97},
                    (double[]){0.4899333333, -1.006666667, 1.963333333});
}
END_TEST

START_TEST(test_rmsprop_steps)
{
    /* epsilon 0.1 makes its placement visible. No momentum (Keras's Python
     * path): ms = rho ms + (1-rho) g^2; w -= lr g / (sqrt(ms) + eps) */
    check_two_steps("{rmsprop: {learning_rate: 0.01, epsilon: 0.1}}",
                    (double[]){0.4924025307, -0.9877485177, 1.984604989},
                    (double[]){0.4923256086, -1.004415184, 1.979487123});
    /* centered: mg = rho mg + (1-rho) g; w -= lr g / (sqrt(ms - mg^2) + eps) */
    check_two_steps("{rmsprop: {learning_rate: 0.01, epsilon: 0.1, centered: true}}",
                    (double[]){0.4923076923, -0.9875, 1.984210526},
                    (double[]){0.4922299247, -1.004288339, 1.978889286});
    /* momentum (ApplyRMSProp kernel): mom = m mom + lr g / sqrt(ms + eps); w -= mom */
    check_two_steps("{rmsprop: {learning_rate: 0.01, epsilon: 0.1, momentum: 0.5}}",
                    (double[]){0.4968534161, -0.9937982633, 1.990913262},
                    (double[]){0.4952486428, -1.002263694, 1.983342369});
    /* centered + momentum (ApplyCenteredRMSProp): sqrt(ms - mg^2 + eps) */
    check_two_steps(
        "{RMSprop: {learning_rate: 0.01, epsilon: 0.1, momentum: 0.5, centered: true}}",
        (double[]){0.4968518572, -0.9937863023, 1.990875514},
        (double[]){0.4952462915, -1.002269227, 1.983266571});
}
END_TEST

START_TEST(test_adagrad_adam_steps)
{
    /* acc = 0.1 + sum g^2; w -= lr g / (sqrt(acc) + eps) */
    check_two_steps("{adagrad: {learning_rate: 0.1, epsilon: 0.1}}",
                    (double[]){0.4768337521, -0.9578206556, 1.944018351},
                    (double[]){0.4766020904, -1.019575491, 1.925743951});
    /* t = it + 1; alpha = lr sqrt(1 - b2^t) / (1 - b1^t);
     * m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; w -= alpha m / (sqrt(v) + eps) */
    check_two_steps("{adam: {learning_rate: 0.01, epsilon: 0.1}}",
                    (double[]){0.4996934657, -0.9994051651, 1.999133518},
                    (double[]){0.4994858887, -0.9998587253, 1.998341966});
    /* beta_2 0.5: v[0] falls on step 2, vhat = max(vhat, v) keeps it */
    check_two_steps("{adam: {learning_rate: 0.01, beta_2: 0.5}}",
                    (double[]){0.4900000141, -0.9900000071, 1.990000005},
                    (double[]){0.4817052484, -0.9933425601, 1.979830211});
    check_two_steps("{adam: {learning_rate: 0.01, beta_2: 0.5, amsgrad: true}}",
                    (double[]){0.4900000141, -0.9900000071, 1.990000005},
                    (double[]){0.4841341391, -0.9933425601, 1.98204991});
    /* decay 1: step 2 uses lr 0.005 */
    check_two_steps("{adam: {learning_rate: 0.01, decay: 1.0}}",
                    (double[]){0.4900003162, -0.9900001581, 1.990000105},
                    (double[]){0.4866130762, -0.9918306628, 1.985644829});
}
END_TEST

/* The documented update rule of one optimizer, written out in double: one
 * step of w[0..3) from g with state s (slots of 3, zero at first), t =
 * iteration + 1. */
typedef void (*ref_step_fn)(double w[3], const float g[3], double s[3][3], long t);

/* Two steps (G1 then G2) of `spec` against `ref`, slot 0 starting at acc0. */
static void check_against(const char *spec, ref_step_fn ref, double acc0)
{
    struct optimizer o = parsed(spec);
    float w[3], state[3 * 3];
    double rw[3] = {W0[0], W0[1], W0[2]}, rs[3][3] = {{acc0, acc0, acc0}};
    memcpy(w, W0, sizeof w);
    ck_assert_uint_le(optim_n_slots(&o), 3);
    optim_init_state(&o, state, 3);
    const float *grads[2] = {G1, G2};
    for (long it = 0; it < 2; it++) {
        optim_step(&o, w, grads[it], state, 3, 0, 3, it);
        ref(rw, grads[it], rs, it + 1);
        for (int i = 0; i < 3; i++)
            ck_assert_msg(fabs(w[i] - rw[i]) <= 2e-6 * (1 + fabs(rw[i])),
                          "%s step %ld w[%d] = %.9g, want %.9g", spec, it + 1, i, w[i], rw[i]);
    }
}

/* {adadelta: {learning_rate: 1.0, epsilon: 1e-3}} (rho 0.95):
 *   acc = rho acc + (1-rho) g^2;  u = sqrt(acc_u + eps) / sqrt(acc + eps) g
 *   w -= lr u;  acc_u = rho acc_u + (1-rho) u^2 */
static void ref_adadelta(double w[3], const float g[3], double s[3][3], long t)
{
    const double lr = 1.0, rho = 0.95, eps = 1e-3;
    for (int i = 0; i < 3; i++) {
        s[0][i] = rho * s[0][i] + (1 - rho) * g[i] * g[i];
        double u = sqrt(s[1][i] + eps) / sqrt(s[0][i] + eps) * g[i];
        w[i] -= lr * u;
        s[1][i] = rho * s[1][i] + (1 - rho) * u * u;
    }
}

/* {adamax: {learning_rate: 0.01, beta_2: 0.5, epsilon: 1e-3}}:
 *   m = b1 m + (1-b1) g;  u = max(b2 u, |g|);  w -= lr / (1 - b1^t) m / (u + eps) */
static void ref_adamax(double w[3], const float g[3], double s[3][3], long t)
{
    const double lr = 0.01, b1 = 0.9, b2 = 0.5, eps = 1e-3;
    for (int i = 0; i < 3; i++) {
        s[0][i] = b1 * s[0][i] + (1 - b1) * g[i];
        s[1][i] = fmax(b2 * s[1][i], fabs(g[i]));
        w[i] -= lr / (1 - pow(b1, (double)t)) * s[0][i] / (s[1][i] + eps);
    }
}

/* Nadam's momentum schedule mu_s = b1 (1 - 0.5 * 0.96^(decay s)) and its
 * running product over s = 1..t, multiplied out naively. */
static double nadam_mu(double b1, double decay, double s)
{
    return b1 * (1 - 0.5 * pow(0.96, decay * s));
}

static double nadam_product(double b1, double decay, long t)
{
    double p = 1;
    for (long s = 1; s <= t; s++)
        p *= nadam_mu(b1, decay, (double)s);
    return p;
}

/* {nadam: {learning_rate: 0.01, epsilon: 1e-3}} (decay 0.004):
 *   g' = g / (1 - P_t);  m = b1 m + (1-b1) g;  m' = m / (1 - P_t mu_{t+1})
 *   v = b2 v + (1-b2) g^2;  v' = v / (1 - b2^t)
 *   w -= lr ((1 - mu_t) g' + mu_{t+1} m') / (sqrt(v') + eps) */
static void nadam_ref(double w[3], const float g[3], double s[3][3], long t, double lr,
                      double decay, double eps)
{
    const double b1 = 0.9, b2 = 0.999;
    double p = nadam_product(b1, decay, t);
    double mu = nadam_mu(b1, decay, (double)t), mu1 = nadam_mu(b1, decay, (double)t + 1);
    for (int i = 0; i < 3; i++) {
        double gp = g[i] / (1 - p);
        s[0][i] = b1 * s[0][i] + (1 - b1) * g[i];
        double mp = s[0][i] / (1 - p * mu1);
        s[1][i] = b2 * s[1][i] + (1 - b2) * g[i] * g[i];
        double vp = s[1][i] / (1 - pow(b2, (double)t));
        w[i] -= lr * ((1 - mu) * gp + mu1 * mp) / (sqrt(vp) + eps);
    }
}

static void ref_nadam(double w[3], const float g[3], double s[3][3], long t)
{
    nadam_ref(w, g, s, t, 0.01, 0.004, 1e-3);
}

/* schedule_decay 0.5 makes the schedule move within two steps */
static void ref_nadam_decay(double w[3], const float g[3], double s[3][3], long t)
{
    nadam_ref(w, g, s, t, 0.01, 0.5, 1e-3);
}

/* {adamw: {learning_rate: 0.01, weight_decay: 0.1, epsilon: 1e-3}}: first
 * w -= w wd lr, then Adam: alpha = lr sqrt(1 - b2^t) / (1 - b1^t),
 * m = b1 m + (1-b1) g, v = b2 v + (1-b2) g^2, w -= alpha m / (sqrt(v) + eps). */
static void adamw_ref(double w[3], const float g[3], double s[3][3], long t, bool amsgrad)
{
    const double lr = 0.01, wd = 0.1, b1 = 0.9, b2 = amsgrad ? 0.5 : 0.999, eps = 1e-3;
    double alpha = lr * sqrt(1 - pow(b2, (double)t)) / (1 - pow(b1, (double)t));
    for (int i = 0; i < 3; i++) {
        w[i] -= w[i] * wd * lr;
        s[0][i] = b1 * s[0][i] + (1 - b1) * g[i];
        s[1][i] = b2 * s[1][i] + (1 - b2) * g[i] * g[i];
        s[2][i] = fmax(s[2][i], s[1][i]);
        w[i] -= alpha * s[0][i] / (sqrt(amsgrad ? s[2][i] : s[1][i]) + eps);
    }
}

static void ref_adamw(double w[3], const float g[3], double s[3][3], long t)
{
    adamw_ref(w, g, s, t, false);
}

static void ref_adamw_amsgrad(double w[3], const float g[3], double s[3][3], long t)
{
    adamw_ref(w, g, s, t, true);
}

/* {ftrl: {learning_rate: 0.5, learning_rate_power: -0.3, l1: 0.01, l2: 0.1,
 * l2_shrinkage: 0.05, beta: 0.2}} (accumulator from 0.1), p = 0.3,
 * l2' = l2 + beta / (2 lr):
 *   gs = g + 2 l2s w;  n = acc + g^2;  linear += gs - (n^p - acc^p) / lr w
 *   w = |linear| > l1 ? (sign(linear) l1 - linear) / (n^p / lr + 2 l2') : 0 */
static void ref_ftrl(double w[3], const float g[3], double s[3][3], long t)
{
    const double lr = 0.5, p = 0.3, l1 = 0.01, l2 = 0.1 + 0.2 / (2 * lr), l2s = 0.05;
    for (int i = 0; i < 3; i++) {
        double n = s[0][i] + (double)g[i] * g[i];
        s[1][i] += g[i] + 2 * l2s * w[i] - (pow(n, p) - pow(s[0][i], p)) / lr * w[i];
        double lin = s[1][i];
        w[i] = fabs(lin) > l1 ? ((lin > 0 ? l1 : -l1) - lin) / (pow(n, p) / lr + 2 * l2) : 0;
        s[0][i] = n;
    }
}

START_TEST(test_new_optimizer_steps)
{
    check_against("{adadelta: {learning_rate: 1.0, epsilon: 1e-3}}", ref_adadelta, 0);
    check_against("{Adamax: {learning_rate: 0.01, beta_2: 0.5, epsilon: 1e-3}}", ref_adamax, 0);
    check_against("{nadam: {learning_rate: 0.01, epsilon: 1e-3}}", ref_nadam, 0);
    check_against("{Nadam: {learning_rate: 0.01, epsilon: 1e-3, schedule_decay: 0.5}}",
                  ref_nadam_decay, 0);
    check_against("{adamw: {learning_rate: 0.01, weight_decay: 0.1, epsilon: 1e-3}}", ref_adamw,
                  0);
    check_against("{AdamW: {learning_rate: 0.01, weight_decay: 0.1, epsilon: 1e-3, beta_2: 0.5, "
                  "amsgrad: true}}",
                  ref_adamw_amsgrad, 0);
    check_against("{ftrl: {learning_rate: 0.5, learning_rate_power: -0.3, "
                  "l1_regularization_strength: 0.01, l2_regularization_strength: 0.1, "
                  "l2_shrinkage_regularization_strength: 0.05, beta: 0.2}}",
                  ref_ftrl, 0.1);
}
END_TEST

/* Nadam far into training: the momentum product, recomputed from the
 * iteration count, matches the naive product (schedule_decay 0.2 keeps the
 * factors moving for thousands of steps). */
START_TEST(test_nadam_late_step)
{
    struct optimizer o = parsed("{nadam: {learning_rate: 0.01, schedule_decay: 0.2}}");
    const long it = 3000;
    float w[3], state[6];
    memcpy(w, W0, sizeof w);
    optim_init_state(&o, state, 3);
    optim_step(&o, w, G1, state, 3, 0, 3, it);
    double rw[3] = {W0[0], W0[1], W0[2]}, rs[3][3] = {{0}};
    nadam_ref(rw, G1, rs, it + 1, 0.01, 0.2, 1e-7);
    for (int i = 0; i < 3; i++)
        ck_assert_msg(fabs(w[i] - rw[i]) <= 2e-6 * (1 + fabs(rw[i])), "w[%d] = %.9g, want %.9g",
                      i, w[i], rw[i]);
}
END_TEST

/* Values from Keras itself: the Nadam and Adam docstrings (var 10, loss
 * var^2 / 2, one step), adadelta_test.py testMinimizeSparseResourceVariable
 * and ftrl_test.py (two variables updated together). */
START_TEST(test_keras_reference_values)
{
    float w = 10, g = 10, state[3];
    struct optimizer o = parsed("{nadam: {learning_rate: 0.2}}");
    optim_init_state(&o, state, 1);
    optim_step(&o, &w, &g, state, 1, 0, 1, 0);
    ck_assert_msg(fabs(w - 9.8) < 0.05, "nadam: %g, Keras prints 9.8", w);
    w = 10;
    o = parsed("{adam: {learning_rate: 0.1}}");
    optim_init_state(&o, state, 1);
    optim_step(&o, &w, &g, state, 1, 0, 1, 0);
    ck_assert_msg(fabs(w - 9.9) < 0.05, "adam: %g, Keras prints 9.9", w);

    /* Adadelta(1.0, 1.0, 1.0) on (var . [4, 5])^2 from [1, 2]: [-111, -138] */
    float w2[2] = {1, 2}, g2[2] = {2 * 14 * 4, 2 * 14 * 5}, s2[4];
    o = parsed("{adadelta: {learning_rate: 1.0, rho: 1.0, epsilon: 1.0}}");
    optim_init_state(&o, s2, 2);
    optim_step(&o, w2, g2, s2, 2, 0, 2, 0);
    ck_assert(fabs(w2[0] + 111) < 1e-4 && fabs(w2[1] + 138) < 1e-4);

    /* Ftrl(3.0, initial_accumulator_value=0.1, ...) on var0 = a, var1 = b
     * with constant gradients [0.1, 0.2] and [0.01, 0.02]. */
    static const struct {
        const char *spec;
        int steps;
        float w0[4];
        double want[4];
    } ftrl[] = {
        {"{ftrl: {learning_rate: 3.0}}", 3, {0, 0, 0, 0},
         {-2.60260963, -4.29698515, -0.28432083, -0.56694895}},
        {"{ftrl: {learning_rate: 3.0}}", 3, {1, 2, 4, 3},
         {-2.55607247, -3.98729396, -0.28232238, -0.56096673}},
        {"{ftrl: {learning_rate: 3.0, l1_regularization_strength: 0.001}}", 10, {1, 2, 4, 3},
         {-7.66718769, -10.91273689, -0.93460727, -1.86147261}},
        {"{ftrl: {learning_rate: 3.0, beta: 0.1}}", 10, {1, 2, 4, 3},
         {-6.096838, -9.162214, -0.717741, -1.425132}},
        {"{ftrl: {learning_rate: 3.0, l2_regularization_strength: 0.1, beta: 0.1}}", 10,
         {1, 2, 4, 3}, {-2.735487, -4.704625, -0.294335, -0.586556}},
        {"{ftrl: {learning_rate: 3.0, l1_regularization_strength: 0.001, "
         "l2_regularization_strength: 2.0}}", 10, {1, 2, 4, 3},
         {-0.24059935, -0.46829352, -0.02406147, -0.04830509}},
        {"{ftrl: {learning_rate: 3.0, l1_regularization_strength: 0.001, "
         "l2_regularization_strength: 2.0, l2_shrinkage_regularization_strength: 0.1}}", 10,
         {1, 2, 4, 3}, {-0.22578995, -0.44345796, -0.14378493, -0.13229476}},
    };
    for (size_t c = 0; c < sizeof ftrl / sizeof ftrl[0]; c++) {
        float fw[4], fg[4] = {0.1f, 0.2f, 0.01f, 0.02f}, fs[8];
        memcpy(fw, ftrl[c].w0, sizeof fw);
        o = parsed(ftrl[c].spec);
        optim_init_state(&o, fs, 4);
        for (long it = 0; it < ftrl[c].steps; it++) {
            optim_step(&o, fw, fg, fs, 4, 0, 2, it);
            optim_step(&o, fw, fg, fs, 4, 2, 4, it);
        }
        for (int i = 0; i < 4; i++)
            ck_assert_msg(fabs(fw[i] - ftrl[c].want[i]) <= 1e-5 * (1 + fabs(ftrl[c].want[i])),
                          "%s: w[%d] = %.9g, Keras %.9g", ftrl[c].spec, i, fw[i],
                          ftrl[c].want[i]);
    }
}
END_TEST

/* AdamW with weight_decay 0 is Adam (the Keras 2.11+ Adam update equals
 * OptimizerV2's). */
START_TEST(test_adamw_without_decay_is_adam)
{
    struct optimizer a = parsed("{adam: {learning_rate: 0.01}}");
    struct optimizer b = parsed("{adamw: {learning_rate: 0.01, weight_decay: 0}}");
    float wa[3], wb[3], sa[6], sb[6];
    memcpy(wa, W0, sizeof wa);
    memcpy(wb, W0, sizeof wb);
    optim_init_state(&a, sa, 3);
    optim_init_state(&b, sb, 3);
    for (long it = 0; it < 2; it++) {
        optim_step(&a, wa, it ? G2 : G1, sa, 3, 0, 3, it);
        optim_step(&b, wb, it ? G2 : G1, sb, 3, 0, 3, it);
    }
    ck_assert(memcmp(wa, wb, sizeof wa) == 0);
}
END_TEST

START_TEST(test_step_range_and_slots)
{
    /* A step over [begin, end) touches only that range of w and state. */
    struct optimizer o = parsed("{adam: {amsgrad: true}}");
    ck_assert_uint_eq(optim_n_slots(&o), 3);
    float w[6] = {1, 1, 1, 1, 1, 1}, g[6] = {1, 1, 1, 1, 1, 1}, state[18];
    optim_init_state(&o, state, 6);
    optim_step(&o, w, g, state, 6, 2, 4, 0);
    for (int i = 0; i < 6; i++) {
        bool inside = i >= 2 && i < 4;
        ck_assert(inside ? w[i] < 1 : w[i] == 1);
        for (int s = 0; s < 3; s++)
            ck_assert(inside ? state[s * 6 + i] != 0 : state[s * 6 + i] == 0);
    }
    o = parsed("adagrad");
    ck_assert_uint_eq(optim_n_slots(&o), 1);
    optim_init_state(&o, state, 6);
    for (int i = 0; i < 6; i++)
        ck_assert_float_eq(state[i], 0.1f);
    ck_assert_uint_eq(optim_n_slots(&(struct optimizer){.kind = OPT_SGD}), 0);
    o = parsed("{sgd: {momentum: 0.5}}");
    ck_assert_uint_eq(optim_n_slots(&o), 1);
    o = parsed("{rmsprop: {momentum: 0.5, centered: true}}");
    ck_assert_uint_eq(optim_n_slots(&o), 3);
    o = parsed("{rmsprop: {centered: true}}");
    ck_assert_uint_eq(optim_n_slots(&o), 2);
    static const struct {
        const char *spec;
        size_t slots;
    } slots[] = {{"adadelta", 2}, {"adamax", 2}, {"nadam", 2}, {"adamw", 2},
                 {"{adamw: {amsgrad: true}}", 3}, {"ftrl", 2}};
    for (size_t c = 0; c < sizeof slots / sizeof slots[0]; c++) {
        o = parsed(slots[c].spec);
        ck_assert_uint_eq(optim_n_slots(&o), slots[c].slots);
    }
    /* Ftrl: accumulator from initial_accumulator_value, linear from 0 */
    o = parsed("{ftrl: {initial_accumulator_value: 0.5}}");
    optim_init_state(&o, state, 6);
    for (int i = 0; i < 6; i++)
        ck_assert(state[i] == 0.5f && state[6 + i] == 0);
}
END_TEST

/* ---- gradient clipping ------------------------------------------------------ */

static void expect_floats(const float *got, const double *want, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(fabs(got[i] - want[i]) <= 1e-6 * (1 + fabs(want[i])),
                      "%s: [%zu] = %.9g, want %.9g", what, i, got[i], want[i]);
}

/* Two variables: g[0..2) = (3, 4) with norm 5, g[2..5) = (1, -2, 2) with
 * norm 3; the global norm is sqrt(34). */
static const struct optim_var VARS[2] = {{0, 2}, {2, 5}};
static const float GRAD[5] = {3, 4, 1, -2, 2};

static void clipped(const char *spec, float g[5])
{
    struct optimizer o = parsed(spec);
    memcpy(g, GRAD, sizeof GRAD);
    optim_clip(&o, g, VARS, 2);
}

START_TEST(test_clip)
{
    float g[5];
    clipped("adam", g); /* nothing set: unchanged */
    ck_assert(memcmp(g, GRAD, sizeof g) == 0);
    /* clip_by_value(g, -1.5, 1.5) */
    clipped("{sgd: {clipvalue: 1.5}}", g);
    expect_floats(g, (double[]){1.5, 1.5, 1, -1.5, 1.5}, 5, "clipvalue");
    /* clip_by_norm per variable: (3, 4) * 4 / 5; (1, -2, 2) has norm 3 <= 4 */
    clipped("{sgd: {clipnorm: 4}}", g);
    expect_floats(g, (double[]){2.4, 3.2, 1, -2, 2}, 5, "clipnorm");
    clipped("{rmsprop: {clipnorm: 1}}", g);
    expect_floats(g, (double[]){0.6, 0.8, 1.0 / 3, -2.0 / 3, 2.0 / 3}, 5, "clipnorm 1");
    /* clip_by_global_norm: everything * 2 / sqrt(34) */
    clipped("{adam: {global_clipnorm: 2}}", g);
    double s = 2 / sqrt(34);
    expect_floats(g, (double[]){3 * s, 4 * s, s, -2 * s, 2 * s}, 5, "global_clipnorm");
    clipped("{adam: {global_clipnorm: 6}}", g); /* sqrt(34) < 6: unchanged */
    ck_assert(memcmp(g, GRAD, sizeof g) == 0);
    /* OptimizerV2 applies clipvalue, then clipnorm: (1.5, 1.5) has norm
     * 2.1213 > 2 -> * 2 / 2.1213; (1, -1.5, 1.5) has norm 2.3452 -> scaled */
    clipped("{sgd: {clipvalue: 1.5, clipnorm: 2}}", g);
    double a = 2 / sqrt(4.5), b = 2 / sqrt(5.5);
    expect_floats(g, (double[]){1.5 * a, 1.5 * a, b, -1.5 * b, 1.5 * b}, 5, "value then norm");
    /* ... and clipvalue then global_clipnorm (sqrt(4.5 + 5.5) = sqrt(10)) */
    clipped("{nadam: {clipvalue: 1.5, global_clipnorm: 1}}", g);
    double c = 1 / sqrt(10);
    expect_floats(g, (double[]){1.5 * c, 1.5 * c, c, -1.5 * c, 1.5 * c}, 5, "value, global");
    /* Keras 2.11+ (AdamW): only the first of clipnorm, global_clipnorm,
     * clipvalue is applied */
    clipped("{adamw: {clipvalue: 1.5, clipnorm: 4}}", g);
    expect_floats(g, (double[]){2.4, 3.2, 1, -2, 2}, 5, "adamw clipnorm only");
    clipped("{adamw: {clipvalue: 1.5}}", g);
    expect_floats(g, (double[]){1.5, 1.5, 1, -1.5, 1.5}, 5, "adamw clipvalue");
    clipped("{adamw: {global_clipnorm: 2, clipvalue: 1.5}}", g);
    expect_floats(g, (double[]){3 * s, 4 * s, s, -2 * s, 2 * s}, 5, "adamw global only");
    /* only the listed variables: a gap between ranges is left alone */
    struct optimizer o = parsed("{sgd: {clipvalue: 0.5}}");
    float h[4] = {1, 1, 1, 1};
    struct optim_var gap[2] = {{0, 1}, {3, 4}};
    optim_clip(&o, h, gap, 2);
    expect_floats(h, (double[]){0.5, 1, 1, 0.5}, 4, "gap");
}
END_TEST

/* ---- learning-rate schedules --------------------------------------------------- */

static void expect_lr(const char *spec, const long *steps, const double *want, size_t n)
{
    struct optimizer o = parsed(spec);
    for (size_t i = 0; i < n; i++) {
        double got = optim_current_lr(&o, steps[i]);
        ck_assert_msg(fabs(got - want[i]) <= 1e-12 * (1 + fabs(want[i])),
                      "%s at step %ld: %.12g, want %.12g", spec, steps[i], got, want[i]);
    }
}

START_TEST(test_schedules)
{
    /* initial * rate ^ (step / decay_steps) */
    expect_lr("{sgd: {learning_rate: {exponential_decay: {initial_learning_rate: 0.1, "
              "decay_steps: 10, decay_rate: 0.5}}}}",
              (long[]){0, 5, 10, 25}, (double[]){0.1, 0.1 * sqrt(0.5), 0.05, 0.1 * pow(0.5, 2.5)},
              4);
    /* staircase: the exponent floored */
    expect_lr("{sgd: {learning_rate: {class_name: ExponentialDecay, config: "
              "{initial_learning_rate: 0.1, decay_steps: 10, decay_rate: 0.5, staircase: true, "
              "name: null}}}}",
              (long[]){0, 9, 10, 19, 20}, (double[]){0.1, 0.1, 0.05, 0.05, 0.025}, 5);
    /* initial / (1 + rate * step / decay_steps) */
    expect_lr("{adam: {learning_rate: {inverse_time_decay: {initial_learning_rate: 0.1, "
              "decay_steps: 10, decay_rate: 0.5}}}}",
              (long[]){0, 5, 20}, (double[]){0.1, 0.08, 0.05}, 3);
    expect_lr("{adam: {learning_rate: {InverseTimeDecay: {initial_learning_rate: 0.1, "
              "decay_steps: 10, decay_rate: 0.5, staircase: true}}}}",
              (long[]){5, 15, 20}, (double[]){0.1, 0.1 / 1.5, 0.05}, 3);
    /* values[0] while step <= 10, values[1] while step <= 20, then values[2] */
    expect_lr("{sgd: {learning_rate: {piecewise_constant: {boundaries: [10, 20], "
              "values: [1.0, 0.5, 0.1]}}}}",
              (long[]){0, 10, 11, 20, 21, 1000}, (double[]){1, 1, 0.5, 0.5, 0.1, 0.1}, 6);
    /* initial ((1 - alpha) 0.5 (1 + cos(pi min(step, decay_steps) / decay_steps)) + alpha) */
    expect_lr("{adamw: {learning_rate: {cosine_decay: {initial_learning_rate: 0.1, "
              "decay_steps: 100, alpha: 0.1}}}}",
              (long[]){0, 25, 50, 100, 200},
              (double[]){0.1, 0.1 * (0.9 * 0.5 * (1 + cos(M_PI / 4)) + 0.1), 0.055, 0.01, 0.01},
              5);
    /* Keras 2.13 warmup: linear from initial to warmup_target over
     * warmup_steps, then the cosine decay from warmup_target */
    expect_lr("{adamw: {learning_rate: {CosineDecay: {initial_learning_rate: 0.0, "
              "decay_steps: 100, warmup_target: 0.1, warmup_steps: 10}}}}",
              (long[]){0, 5, 10, 60, 110, 500}, (double[]){0, 0.05, 0.1, 0.05, 0, 0}, 6);
    /* the legacy decay divides the scheduled rate (OptimizerV2._decayed_lr) */
    expect_lr("{sgd: {decay: 0.1, learning_rate: {exponential_decay: {initial_learning_rate: "
              "0.1, decay_steps: 10, decay_rate: 0.5}}}}",
              (long[]){0, 10}, (double[]){0.1, 0.025}, 2);
    expect_lr("{sgd: {learning_rate: 0.1, decay: 0.5}}", (long[]){0, 2}, (double[]){0.1, 0.05},
              2);
    /* Nadam's decay is its momentum schedule's: the rate stays */
    expect_lr("{nadam: {learning_rate: 0.1, decay: 0.5}}", (long[]){0, 2}, (double[]){0.1, 0.1},
              2);

    /* The schedule drives the step: SGD at iteration 10 moves by 0.05 g. */
    struct optimizer o = parsed("{sgd: {learning_rate: {exponential_decay: "
                                "{initial_learning_rate: 0.1, decay_steps: 10, decay_rate: 0.5}}}}");
    ck_assert(o.learning_rate == 0.1);
    float w = 1, g = 2, unused;
    optim_step(&o, &w, &g, &unused, 1, 0, 1, 10);
    ck_assert_float_eq_tol(w, 0.9f, 1e-7f);
    /* AdamW's weight decay uses the scheduled rate too: w - w * 0.5 * 0.05 */
    o = parsed("{adamw: {weight_decay: 0.5, learning_rate: {piecewise_constant: "
               "{boundaries: [3], values: [1.0, 0.05]}}}}");
    float state[2] = {0, 0};
    w = 2;
    g = 0;
    optim_step(&o, &w, &g, state, 1, 0, 1, 4);
    ck_assert_float_eq_tol(w, 2 - 2 * 0.5f * 0.05f, 1e-7f);
}
END_TEST

/* ---- convergence ---------------------------------------------------------- */

/* Least squares: pred = X w (8 rows, 3 features), targets from w* = [1, -2,
 * 0.5], loss mse, dw = X^T dpred. Starting from w = 0, 200 steps must shrink
 * the loss by the stated factor. */
static double lsq_loss(const float w[3], float dw[3])
{
    static const float X[8][3] = {{1, 0, 0.5f},   {0, 1, -1},       {1, 1, 1},
                                  {-1, 0.5f, 2},  {0.3f, -1, 0},    {2, 0.2f, -0.5f},
                                  {-0.7f, 1, 1},  {0.5f, 0.5f, 0.5f}};
    const float ws[3] = {1, -2, 0.5f};
    float pred[8], y[8], dpred[8];
    for (int r = 0; r < 8; r++) {
        pred[r] = y[r] = 0;
        for (int k = 0; k < 3; k++) {
            pred[r] += X[r][k] * w[k];
            y[r] += X[r][k] * ws[k];
        }
    }
    struct loss l = {.kind = LOSS_MSE};
    double v = loss_compute(&l, pred, y, 8, 1, dpred);
    for (int k = 0; k < 3; k++) {
        dw[k] = 0;
        for (int r = 0; r < 8; r++)
            dw[k] += X[r][k] * dpred[r];
    }
    return v;
}

START_TEST(test_least_squares)
{
    static const struct {
        const char *spec;
        double factor;
    } cases[] = {
        /* factors leave >= 3x margin over what the runs reach */
        {"{sgd: {learning_rate: 0.1}}", 1e-8},
        {"{sgd: {learning_rate: 0.02, momentum: 0.9, nesterov: true}}", 1e-8},
        {"{rmsprop: {learning_rate: 0.01}}", 1e-2},
        {"{rmsprop: {learning_rate: 0.01, momentum: 0.5, centered: true}}", 1e-4},
        {"{adagrad: {learning_rate: 0.5}}", 1e-8},
        {"{adam: {learning_rate: 0.05}}", 1e-6},
        {"{adam: {learning_rate: 0.05, amsgrad: true}}", 1e-6},
        {"{adadelta: {learning_rate: 1.0, epsilon: 1e-3}}", 3e-2},
        {"{adamax: {learning_rate: 0.05}}", 1e-7},
        {"{nadam: {learning_rate: 0.05}}", 1e-10},
        {"{adamw: {learning_rate: 0.05}}", 1e-5},
        {"{adamw: {learning_rate: 0.05, weight_decay: 0.1, amsgrad: true}}", 1e-2},
        {"{ftrl: {learning_rate: 0.5}}", 1e-12},
        {"{ftrl: {learning_rate: 0.5, learning_rate_power: -0.2, "
          "l2_regularization_strength: 0.01}}", 1e-12},
        {"{sgd: {learning_rate: 0.1, clipnorm: 0.5}}", 1e-12},
        {"{sgd: {learning_rate: 0.1, clipvalue: 0.2}}", 1e-9},
        {"{sgd: {learning_rate: 0.1, global_clipnorm: 0.2}}", 1e-8},
        {"{adam: {learning_rate: {cosine_decay: {initial_learning_rate: 0.1, "
          "decay_steps: 200}}}}", 1e-7},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        struct optimizer o = parsed(cases[c].spec);
        float w[3] = {0, 0, 0}, dw[3], state[9];
        optim_init_state(&o, state, 3);
        double first = lsq_loss(w, dw), last = first;
        for (long it = 0; it < 200; it++) {
            optim_clip(&o, dw, &(struct optim_var){0, 3}, 1);
            optim_step(&o, w, dw, state, 3, 0, 3, it);
            last = lsq_loss(w, dw);
        }
        ck_assert_msg(last <= first * cases[c].factor, "%s: loss %g -> %g, want factor %g",
                      cases[c].spec, first, last, cases[c].factor);
    }
}
END_TEST

/* ---- parsing -------------------------------------------------------------- */

START_TEST(test_parse_defaults)
{
    struct optimizer o = parsed("adam");
    ck_assert_int_eq(o.kind, OPT_ADAM);
    ck_assert(o.learning_rate == 0.001 && o.beta_1 == 0.9 && o.beta_2 == 0.999 &&
              o.epsilon == 1e-7 && !o.amsgrad && o.decay == 0);
    o = parsed("SGD");
    ck_assert(o.kind == OPT_SGD && o.learning_rate == 0.01 && o.momentum == 0 && !o.nesterov);
    o = parsed("RMSProp"); /* keras deserializes built-in names case-insensitively */
    ck_assert(o.kind == OPT_RMSPROP && o.learning_rate == 0.001 && o.rho == 0.9 &&
              o.momentum == 0 && o.epsilon == 1e-7 && !o.centered);
    o = parsed("Adagrad");
    ck_assert(o.kind == OPT_ADAGRAD && o.learning_rate == 0.001 &&
              o.initial_accumulator_value == 0.1 && o.epsilon == 1e-7);
    o = parsed("{adam: {lr: 0.01, epsilon: 0}}"); /* epsilon or backend.epsilon() */
    ck_assert(o.learning_rate == 0.01 && o.epsilon == 1e-7);
    o = parsed("{adam: }");
    ck_assert(o.learning_rate == 0.001);
    /* optimizer_v2/adadelta.py, adamax.py, nadam.py, ftrl.py; adamw.py */
    o = parsed("Adadelta");
    ck_assert(o.kind == OPT_ADADELTA && o.learning_rate == 0.001 && o.rho == 0.95 &&
              o.epsilon == 1e-7 && o.decay == 0);
    o = parsed("adamax");
    ck_assert(o.kind == OPT_ADAMAX && o.learning_rate == 0.001 && o.beta_1 == 0.9 &&
              o.beta_2 == 0.999 && o.epsilon == 1e-7);
    o = parsed("NADAM");
    ck_assert(o.kind == OPT_NADAM && o.learning_rate == 0.001 && o.beta_1 == 0.9 &&
              o.beta_2 == 0.999 && o.epsilon == 1e-7 && o.decay == 0.004);
    o = parsed("AdamW");
    ck_assert(o.kind == OPT_ADAMW && o.learning_rate == 0.001 && o.weight_decay == 0.004 &&
              o.beta_1 == 0.9 && o.beta_2 == 0.999 && o.epsilon == 1e-7 && !o.amsgrad);
    o = parsed("ftrl");
    ck_assert(o.kind == OPT_FTRL && o.learning_rate == 0.001 && o.learning_rate_power == -0.5 &&
              o.initial_accumulator_value == 0.1 && o.l1 == 0 && o.l2 == 0 &&
              o.l2_shrinkage == 0 && o.beta == 0);
    ck_assert(o.clipnorm < 0 && o.clipvalue < 0 && o.global_clipnorm < 0 &&
              o.schedule.kind == LR_CONSTANT);
    /* AdamW keeps epsilon 0; the OptimizerV2 classes substitute 1e-7 */
    ck_assert(parsed("{adamw: {epsilon: 0}}").epsilon == 0);
    ck_assert(parsed("{nadam: {epsilon: 0}}").epsilon == 1e-7);
    ck_assert(parsed("{adamax: {epsilon: null}}").epsilon == 1e-7);
    /* a schedule's rate at step 0 is the learning_rate */
    o = parsed("{sgd: {learning_rate: {piecewise_constant: {boundaries: [5], "
               "values: [0.3, 0.1]}}}}");
    ck_assert(o.learning_rate == 0.3 && optim_current_lr(&o, 1000) == 0.1);
    /* null clip values are unset */
    o = parsed("{sgd: {clipnorm: null, clipvalue: null, global_clipnorm: null}}");
    ck_assert(o.clipnorm < 0 && o.clipvalue < 0 && o.global_clipnorm < 0);
}
END_TEST

START_TEST(test_parse_keras_configs)
{
    /* tf.keras 2 OptimizerV2 get_config() */
    struct optimizer o = parsed(
        "{\"class_name\": \"SGD\", \"config\": {\"name\": \"SGD\", \"learning_rate\": "
        "0.009999999776482582, \"decay\": 0.0, \"momentum\": 0.9, \"nesterov\": true}}");
    ck_assert(o.kind == OPT_SGD && o.momentum == 0.9 && o.nesterov);
    /* Keras >= 2.11 get_config(): the extra keys at their defaults */
    o = parsed("{\"class_name\": \"Custom>Adam\", \"config\": {\"name\": \"Adam\", "
               "\"weight_decay\": null, \"clipnorm\": null, \"global_clipnorm\": null, "
               "\"clipvalue\": null, \"use_ema\": false, \"ema_momentum\": 0.99, "
               "\"ema_overwrite_frequency\": null, \"jit_compile\": false, "
               "\"is_legacy_optimizer\": false, \"learning_rate\": 0.0010000000474974513, "
               "\"beta_1\": 0.9, \"beta_2\": 0.999, \"epsilon\": 1e-07, \"amsgrad\": false}, "
               "\"module\": \"keras.optimizers\", \"registered_name\": null}");
    ck_assert(o.kind == OPT_ADAM && fabs(o.learning_rate - 0.001) < 1e-9);
    /* Keras 2.13 AdamW with a schedule (serialization_lib's extra keys) */
    o = parsed("{\"module\": \"keras.optimizers\", \"class_name\": \"AdamW\", \"config\": "
               "{\"name\": \"AdamW\", \"weight_decay\": 0.01, \"clipnorm\": null, "
               "\"global_clipnorm\": 1.0, \"clipvalue\": null, \"use_ema\": false, "
               "\"ema_momentum\": 0.99, \"ema_overwrite_frequency\": null, \"jit_compile\": "
               "true, \"is_legacy_optimizer\": false, \"learning_rate\": {\"module\": "
               "\"keras.optimizers.schedules\", \"class_name\": \"CosineDecay\", \"config\": "
               "{\"initial_learning_rate\": 0.001, \"decay_steps\": 1000, \"alpha\": 0.0, "
               "\"name\": null, \"warmup_target\": null, \"warmup_steps\": 0}, "
               "\"registered_name\": null}, \"beta_1\": 0.9, \"beta_2\": 0.999, \"epsilon\": "
               "1e-07, \"amsgrad\": false}, \"registered_name\": null}");
    ck_assert(o.kind == OPT_ADAMW && o.weight_decay == 0.01 && o.global_clipnorm == 1 &&
              o.clipnorm < 0 && o.schedule.kind == LR_COSINE && !o.schedule.warmup &&
              o.schedule.decay_steps == 1000);
    /* tf.keras 2 Nadam writes its schedule_decay as "decay" */
    o = parsed("{\"class_name\": \"Nadam\", \"config\": {\"name\": \"Nadam\", "
               "\"learning_rate\": 0.002, \"decay\": 0.01, \"beta_1\": 0.9, \"beta_2\": "
               "0.999, \"epsilon\": 1e-07}}");
    ck_assert(o.kind == OPT_NADAM && o.decay == 0.01 && optim_current_lr(&o, 100) == 0.002);
    /* RMSprop with momentum is the same update in both Keras generations */
    o = parsed("{class_name: RMSprop, config: {momentum: 0.9, is_legacy_optimizer: false}}");
    ck_assert(o.kind == OPT_RMSPROP && o.momentum == 0.9);
}
END_TEST

START_TEST(test_parse_errors)
{
    expect_error("adamm", "m.yaml:1:1: unknown optimizer 'adamm' (did you mean 'adam'?)");
    expect_error("lion", "m.yaml:1:1: optimizer 'lion' is not supported yet");
    expect_error("sgd:\n  learning_rate: 0.1\n  momentun: 0.9\n",
                 "m.yaml:3:3: unknown key 'momentun' in optimizer 'sgd' (did you mean "
                 "'momentum'?)");
    expect_error("sgd:\n  learning_rate: 0.1\n  lr: 0.2\n",
                 "m.yaml:3:3: both 'lr' and 'learning_rate' given ('lr' is Keras's legacy name "
                 "for 'learning_rate')");
    expect_error("{adam: {use_ema: true}}",
                 "m.yaml:1:18: 'use_ema' is not supported yet (only false)");
    expect_error("{sgd: {momentum: 1.5}}", "m.yaml:1:18: expected a number in [0, 1], found 1.5");
    expect_error("{adam: {beta_1: 1}}", "m.yaml:1:17: expected a number in [0, 1), found 1");
    expect_error("{sgd: {decay: -1}}", "m.yaml:1:15: expected a number >= 0, found -1");
    expect_error("{adagrad: {is_legacy_optimizer: false}}",
                 "m.yaml:1:33: is_legacy_optimizer: false selects the Keras 2.11+ Adagrad update "
                 "(epsilon inside the square root), which is not supported yet; nnc implements "
                 "the tf.keras OptimizerV2 update (is_legacy_optimizer: true)");
    expect_error("adamx", "m.yaml:1:1: unknown optimizer 'adamx' (did you mean 'adam'?)");
    expect_error("{adamw: {lr: 0.1}}",
                 "m.yaml:1:10: AdamW ignores 'lr' (a Keras 2.11+ optimizer); use 'learning_rate'");
    expect_error("{adamw: {decay: 0.1}}",
                 "m.yaml:1:10: AdamW does not accept 'decay' (a Keras 2.11+ optimizer); use a "
                 "learning-rate schedule");
    expect_error("{adam: {weight_decay: 0.1}}",
                 "m.yaml:1:23: 'weight_decay' is not supported by Adam yet (only null; adamw has "
                 "it)");
    expect_error("{sgd: {clipnorm: -1}}", "m.yaml:1:18: expected a number >= 0, found -1");
    expect_error("{sgd: {clipnorm: 1, global_clipnorm: 1}}",
                 "m.yaml:1:21: 'clipnorm' and 'global_clipnorm' cannot both be set");
    expect_error("{adamw: {global_clipnorm: 1, clipnorm: 1}}",
                 "m.yaml:1:30: 'clipnorm' and 'global_clipnorm' cannot both be set");
    expect_error("{nadam: {learning_rate: {exponential_decay: {initial_learning_rate: 0.1, "
                 "decay_steps: 10, decay_rate: 0.5}}}}",
                 "m.yaml:1:25: Nadam does not support learning-rate schedules (as in Keras)");
    expect_error("{ftrl: {learning_rate_power: 0.5}}",
                 "m.yaml:1:30: expected a number <= 0, found 0.5");
    expect_error("{ftrl: {l2_shrinkage_regularization_strength: -1}}",
                 "m.yaml:1:47: expected a number >= 0, found -1");
    expect_error("{ftrl: {epsilon: 0.1}}", "m.yaml:1:9: unknown key 'epsilon' in optimizer 'ftrl'");
    expect_error("{adamax: {amsgrad: true}}",
                 "m.yaml:1:11: unknown key 'amsgrad' in optimizer 'adamax'");
    expect_error("{adadelta: {rho: 1.5}}", "m.yaml:1:18: expected a number in [0, 1], found 1.5");
    /* schedules */
    expect_error("{sgd: {learning_rate: {exponential_decai: {initial_learning_rate: 0.1}}}}",
                 "m.yaml:1:24: unknown learning-rate schedule 'exponential_decai' (did you mean "
                 "'exponential_decay'?)");
    expect_error("{sgd: {learning_rate: {PolynomialDecay: {initial_learning_rate: 0.1}}}}",
                 "m.yaml:1:24: learning-rate schedule 'PolynomialDecay' is not supported yet");
    expect_error("{sgd: {learning_rate: {exponential_decay: {initial_learning_rate: 0.1, "
                 "decay_step: 10}}}}",
                 "m.yaml:1:72: unknown key 'decay_step' in learning-rate schedule "
                 "'exponential_decay' (did you mean 'decay_steps'?)");
    expect_error("{sgd: {learning_rate: {exponential_decay: {initial_learning_rate: 0.1, "
                 "decay_rate: 0.5}}}}",
                 "m.yaml:1:43: learning-rate schedule 'exponential_decay' needs 'decay_steps'");
    expect_error("{sgd: {learning_rate: {inverse_time_decay: {initial_learning_rate: 0.1, "
                 "decay_steps: 0, decay_rate: 0.5}}}}",
                 "m.yaml:1:86: expected a number > 0, found 0");
    expect_error("{sgd: {learning_rate: {piecewise_constant: {boundaries: [10, 20], "
                 "values: [1.0, 0.5]}}}}",
                 "m.yaml:1:75: 'values' needs 3 entries (one more than 'boundaries'), found 2");
    expect_error("{sgd: {learning_rate: {piecewise_constant: {boundaries: [10, 5], "
                 "values: [1.0, 0.5, 0.1]}}}}",
                 "m.yaml:1:62: 'boundaries' must be strictly increasing");
    expect_error("{sgd: {learning_rate: {piecewise_constant: {boundaries: [], values: [1]}}}}",
                 "m.yaml:1:57: 'boundaries' needs at least one entry");
    expect_error("{sgd: {learning_rate: {piecewise_constant: {boundaries: 10, values: [1]}}}}",
                 "m.yaml:1:57: 'boundaries' must be a list of numbers, found '10'");
    expect_error("{sgd: {learning_rate: {cosine_decay: {initial_learning_rate: 0.1, "
                 "decay_steps: 10, warmup_steps: -1}}}}",
                 "m.yaml:1:98: expected a number >= 0, found -1");
    expect_error("{sgd: {learning_rate: {class_name: CosineDecay}}}",
                 "m.yaml:1:36: learning-rate schedule 'CosineDecay' needs a map of arguments "
                 "(initial_learning_rate, ...)");
    expect_error("{sgd: {learning_rate: {cosine_decay: {}, exponential_decay: {}}}}",
                 "m.yaml:1:23: a learning-rate schedule is a one-key map {exponential_decay: "
                 "{arguments}} or {class_name: ExponentialDecay, config: {...}}");
    expect_error("{sgd: {nesterov: yes please}}",
                 "m.yaml:1:18: expected true or false, found 'yes please'");
    expect_error("{sgd: 0.1}",
                 "m.yaml:1:7: the arguments of optimizer 'sgd' must be a map, found '0.1'");
    expect_error("{adam: {}, sgd: {}}",
                 "m.yaml:1:1: an optimizer is a name (adam), a one-key map {name: {arguments}}, "
                 "or {class_name: ..., config: {...}}");
}
END_TEST

static char *json_of(const struct optimizer *o, bool tfjs)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    struct json j;
    json_init(&j, f);
    if (tfjs)
        optim_to_tfjs_json(o, &j);
    else
        optim_to_json(o, &j);
    fclose(f);
    return buf;
}

/* Every field that parsing sets. */
static void assert_same(const struct optimizer *a, const struct optimizer *b, const char *what)
{
    const struct lr_schedule *s = &a->schedule, *t = &b->schedule;
    bool same = a->kind == b->kind && a->learning_rate == b->learning_rate &&
                a->decay == b->decay && a->clipnorm == b->clipnorm &&
                a->clipvalue == b->clipvalue && a->global_clipnorm == b->global_clipnorm &&
                a->momentum == b->momentum && a->nesterov == b->nesterov && a->rho == b->rho &&
                a->centered == b->centered && a->epsilon == b->epsilon &&
                a->initial_accumulator_value == b->initial_accumulator_value &&
                a->beta_1 == b->beta_1 && a->beta_2 == b->beta_2 && a->amsgrad == b->amsgrad &&
                a->weight_decay == b->weight_decay &&
                a->learning_rate_power == b->learning_rate_power && a->l1 == b->l1 &&
                a->l2 == b->l2 && a->l2_shrinkage == b->l2_shrinkage && a->beta == b->beta &&
                s->kind == t->kind && s->initial_learning_rate == t->initial_learning_rate &&
                s->decay_steps == t->decay_steps && s->decay_rate == t->decay_rate &&
                s->staircase == t->staircase && s->alpha == t->alpha && s->warmup == t->warmup &&
                s->warmup_target == t->warmup_target && s->warmup_steps == t->warmup_steps &&
                s->n_boundaries == t->n_boundaries &&
                !memcmp(s->boundaries, t->boundaries, s->n_boundaries * sizeof *s->boundaries) &&
                !memcmp(s->values, t->values, (s->n_boundaries + 1) * sizeof *s->values);
    ck_assert_msg(same, "%s does not read back to the same optimizer", what);
}

START_TEST(test_json)
{
    /* tf.keras 2 get_config() (OptimizerV2: name, clip* when set, then the
     * class's keys; AdamW: the Keras 2.11+ base keys, then its own), and the
     * stand-in TensorFlow.js can deserialize (NULL: not checked). */
    static const struct {
        const char *spec, *json, *tfjs;
    } cases[] = {
        {"adam", "{\"class_name\": \"Adam\", \"config\": {\"name\": \"Adam\", \"learning_rate\": "
                 "0.001, \"decay\": 0.0, \"beta_1\": 0.9, \"beta_2\": 0.999, \"epsilon\": 1e-07, "
                 "\"amsgrad\": false}}",
         "{\"class_name\": \"Adam\", \"config\": {\"learning_rate\": 0.001, \"beta_1\": 0.9, "
         "\"beta_2\": 0.999, \"epsilon\": 1e-07}}"},
        {"{sgd: {lr: 0.1, momentum: 0.9, nesterov: true, decay: 0.01}}",
         "{\"class_name\": \"SGD\", \"config\": {\"name\": \"SGD\", \"learning_rate\": 0.1, "
         "\"decay\": 0.01, \"momentum\": 0.9, \"nesterov\": true}}",
         "{\"class_name\": \"Momentum\", \"config\": {\"learning_rate\": 0.1, \"momentum\": 0.9, "
         "\"use_nesterov\": true}}"},
        {"rmsprop", "{\"class_name\": \"RMSprop\", \"config\": {\"name\": \"RMSprop\", "
                    "\"learning_rate\": 0.001, \"decay\": 0.0, \"rho\": 0.9, \"momentum\": 0.0, "
                    "\"epsilon\": 1e-07, \"centered\": false}}",
         "{\"class_name\": \"RMSProp\", \"config\": {\"learning_rate\": 0.001, \"decay\": 0.9, "
         "\"momentum\": 0.0, \"epsilon\": 1e-07, \"centered\": false}}"},
        {"adagrad", "{\"class_name\": \"Adagrad\", \"config\": {\"name\": \"Adagrad\", "
                    "\"learning_rate\": 0.001, \"decay\": 0.0, \"initial_accumulator_value\": "
                    "0.1, \"epsilon\": 1e-07}}",
         NULL},
        {"adadelta", "{\"class_name\": \"Adadelta\", \"config\": {\"name\": \"Adadelta\", "
                     "\"learning_rate\": 0.001, \"decay\": 0.0, \"rho\": 0.95, \"epsilon\": "
                     "1e-07}}",
         "{\"class_name\": \"Adadelta\", \"config\": {\"learning_rate\": 0.001, \"rho\": 0.95, "
         "\"epsilon\": 1e-07}}"},
        {"adamax", "{\"class_name\": \"Adamax\", \"config\": {\"name\": \"Adamax\", "
                   "\"learning_rate\": 0.001, \"decay\": 0.0, \"beta_1\": 0.9, \"beta_2\": "
                   "0.999, \"epsilon\": 1e-07}}",
         "{\"class_name\": \"Adamax\", \"config\": {\"learning_rate\": 0.001, \"decay\": 0.0, "
         "\"beta_1\": 0.9, \"beta_2\": 0.999, \"epsilon\": 1e-07}}"},
        {"nadam", "{\"class_name\": \"Nadam\", \"config\": {\"name\": \"Nadam\", "
                  "\"learning_rate\": 0.001, \"decay\": 0.004, \"beta_1\": 0.9, \"beta_2\": "
                  "0.999, \"epsilon\": 1e-07}}",
         "{\"class_name\": \"Adam\", \"config\": {\"learning_rate\": 0.001, \"beta_1\": 0.9, "
         "\"beta_2\": 0.999, \"epsilon\": 1e-07}}"},
        {"adamw", "{\"class_name\": \"AdamW\", \"config\": {\"name\": \"AdamW\", "
                  "\"weight_decay\": 0.004, \"clipnorm\": null, \"global_clipnorm\": null, "
                  "\"clipvalue\": null, \"use_ema\": false, \"ema_momentum\": 0.99, "
                  "\"ema_overwrite_frequency\": null, \"jit_compile\": false, "
                  "\"is_legacy_optimizer\": false, \"learning_rate\": 0.001, \"beta_1\": 0.9, "
                  "\"beta_2\": 0.999, \"epsilon\": 1e-07, \"amsgrad\": false}}",
         "{\"class_name\": \"Adam\", \"config\": {\"learning_rate\": 0.001, \"beta_1\": 0.9, "
         "\"beta_2\": 0.999, \"epsilon\": 1e-07}}"},
        {"ftrl", "{\"class_name\": \"Ftrl\", \"config\": {\"name\": \"Ftrl\", \"learning_rate\": "
                 "0.001, \"decay\": 0.0, \"initial_accumulator_value\": 0.1, "
                 "\"learning_rate_power\": -0.5, \"l1_regularization_strength\": 0.0, "
                 "\"l2_regularization_strength\": 0.0, \"beta\": 0.0, "
                 "\"l2_shrinkage_regularization_strength\": 0.0}}",
         "{\"class_name\": \"Adagrad\", \"config\": {\"learning_rate\": 0.001, "
         "\"initial_accumulator_value\": 0.1}}"},
        {"{sgd: {clipvalue: 0.5, clipnorm: 1}}",
         "{\"class_name\": \"SGD\", \"config\": {\"name\": \"SGD\", \"clipnorm\": 1.0, "
         "\"clipvalue\": 0.5, \"learning_rate\": 0.01, \"decay\": 0.0, \"momentum\": 0.0, "
         "\"nesterov\": false}}",
         "{\"class_name\": \"SGD\", \"config\": {\"learning_rate\": 0.01}}"},
        {"{adamax: {global_clipnorm: 2, learning_rate: {exponential_decay: "
         "{initial_learning_rate: 0.1, decay_steps: 1000, decay_rate: 0.96, staircase: true}}}}",
         "{\"class_name\": \"Adamax\", \"config\": {\"name\": \"Adamax\", \"global_clipnorm\": "
         "2.0, \"learning_rate\": {\"class_name\": \"ExponentialDecay\", \"config\": "
         "{\"initial_learning_rate\": 0.1, \"decay_steps\": 1000, \"decay_rate\": 0.96, "
         "\"staircase\": true, \"name\": null}}, \"decay\": 0.0, \"beta_1\": 0.9, \"beta_2\": "
         "0.999, \"epsilon\": 1e-07}}",
         "{\"class_name\": \"Adamax\", \"config\": {\"learning_rate\": 0.1, \"decay\": 0.0, "
         "\"beta_1\": 0.9, \"beta_2\": 0.999, \"epsilon\": 1e-07}}"},
        {"{adamw: {clipvalue: 0.5, learning_rate: {cosine_decay: {initial_learning_rate: 0.0, "
         "decay_steps: 1000, warmup_target: 0.01, warmup_steps: 100}}}}",
         "{\"class_name\": \"AdamW\", \"config\": {\"name\": \"AdamW\", \"weight_decay\": 0.004, "
         "\"clipnorm\": null, \"global_clipnorm\": null, \"clipvalue\": 0.5, \"use_ema\": false, "
         "\"ema_momentum\": 0.99, \"ema_overwrite_frequency\": null, \"jit_compile\": false, "
         "\"is_legacy_optimizer\": false, \"learning_rate\": {\"class_name\": \"CosineDecay\", "
         "\"config\": {\"initial_learning_rate\": 0.0, \"decay_steps\": 1000, \"alpha\": 0.0, "
         "\"name\": null, \"warmup_target\": 0.01, \"warmup_steps\": 100}}, \"beta_1\": 0.9, "
         "\"beta_2\": 0.999, \"epsilon\": 1e-07, \"amsgrad\": false}}",
         NULL},
        {"{adam: {learning_rate: {piecewise_constant: {boundaries: [100, 200.5], "
         "values: [0.1, 0.01, 0.001]}}}}",
         "{\"class_name\": \"Adam\", \"config\": {\"name\": \"Adam\", \"learning_rate\": "
         "{\"class_name\": \"PiecewiseConstantDecay\", \"config\": {\"boundaries\": [100, "
         "200.5], \"values\": [0.1, 0.01, 0.001], \"name\": null}}, \"decay\": 0.0, \"beta_1\": "
         "0.9, \"beta_2\": 0.999, \"epsilon\": 1e-07, \"amsgrad\": false}}",
         "{\"class_name\": \"Adam\", \"config\": {\"learning_rate\": 0.1, \"beta_1\": 0.9, "
         "\"beta_2\": 0.999, \"epsilon\": 1e-07}}"},
        {"{adagrad: {learning_rate: {InverseTimeDecay: {initial_learning_rate: 0.1, "
         "decay_steps: 10, decay_rate: 0.5}}}}",
         "{\"class_name\": \"Adagrad\", \"config\": {\"name\": \"Adagrad\", \"learning_rate\": "
         "{\"class_name\": \"InverseTimeDecay\", \"config\": {\"initial_learning_rate\": 0.1, "
         "\"decay_steps\": 10, \"decay_rate\": 0.5, \"staircase\": false, \"name\": null}}, "
         "\"decay\": 0.0, \"initial_accumulator_value\": 0.1, \"epsilon\": 1e-07}}",
         NULL},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        struct optimizer o = parsed(cases[c].spec);
        char *buf = json_of(&o, false);
        ck_assert_str_eq(buf, cases[c].json);
        /* and it reads back to the same optimizer */
        struct optimizer back = parsed(buf);
        assert_same(&o, &back, cases[c].spec);
        free(buf);
        if (cases[c].tfjs) {
            buf = json_of(&o, true);
            ck_assert_str_eq(buf, cases[c].tfjs);
            free(buf);
        }
    }
    /* Every other option reads back too. */
    static const char *const more[] = {
        "{rmsprop: {learning_rate: 0.01, rho: 0.8, momentum: 0.5, epsilon: 0.1, centered: true, "
        "clipnorm: 3}}",
        "{adadelta: {learning_rate: 1.0, rho: 0.9, epsilon: 1e-6, decay: 0.1, clipvalue: 2}}",
        "{nadam: {learning_rate: 0.002, beta_1: 0.8, beta_2: 0.99, schedule_decay: 0.01}}",
        "{adamw: {learning_rate: 0.01, weight_decay: 0.1, beta_1: 0.8, beta_2: 0.9, epsilon: 0, "
        "amsgrad: true, global_clipnorm: 1}}",
        "{ftrl: {learning_rate: 0.1, learning_rate_power: -0.3, initial_accumulator_value: 0.2, "
        "l1_regularization_strength: 0.01, l2_regularization_strength: 0.02, "
        "l2_shrinkage_regularization_strength: 0.03, beta: 0.5, decay: 0.1}}",
        "{sgd: {learning_rate: {cosine_decay: {initial_learning_rate: 0.1, decay_steps: 100.5, "
        "alpha: 0.2}}}}",
    };
    for (size_t c = 0; c < sizeof more / sizeof more[0]; c++) {
        struct optimizer o = parsed(more[c]);
        char *buf = json_of(&o, false);
        struct optimizer back = parsed(buf);
        assert_same(&o, &back, more[c]);
        free(buf);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("optim");
    TCase *tc = tcase_create("optim");
    tcase_add_test(tc, test_sgd_steps);
    tcase_add_test(tc, test_rmsprop_steps);
    tcase_add_test(tc, test_adagrad_adam_steps);
    tcase_add_test(tc, test_new_optimizer_steps);
    tcase_add_test(tc, test_nadam_late_step);
    tcase_add_test(tc, test_keras_reference_values);
    tcase_add_test(tc, test_adamw_without_decay_is_adam);
    tcase_add_test(tc, test_step_range_and_slots);
    tcase_add_test(tc, test_clip);
    tcase_add_test(tc, test_schedules);
    tcase_add_test(tc, test_least_squares);
    tcase_add_test(tc, test_parse_defaults);
    tcase_add_test(tc, test_parse_keras_configs);
    tcase_add_test(tc, test_parse_errors);
    tcase_add_test(tc, test_json);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
