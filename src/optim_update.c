/* Optimizers, the per-batch part (see optim.h): gradient clipping and the
 * update rules. The rules are tf.keras 2's OptimizerV2
 * (keras/optimizers/optimizer_v2/) and the TF training kernels they call;
 * AdamW, which only exists as a Keras 2.11+ optimizer, follows
 * keras/optimizers/adamw.py and optimizer.py. Weights and state are updated
 * in float32; the learning rate and the other per-step coefficients are
 * computed in double, once per step (struct coef).
 *
 * Speed: each rule is one pass over its slots with restrict pointers and no
 * branch in the loop, so the compiler vectorizes it (this file is built with
 * -fno-math-errno, see the Makefile: sqrtf then is one instruction; the
 * results are the same, IEEE square roots either way), also built for AVX2
 * (src/simd.h: Adam over 536k weights, 0.29 -> 0.17 ms on an AMD EPYC,
 * where the divisions and square roots, not memory, set its pace; the
 * same elsewhere, where memory does). optim_update runs the
 * pass over every trainable variable at once, split into ranges of weights
 * over nnc's pool (parallel.h) when it has more than one thread: the rules
 * are element-wise, so the split cannot change a bit. Nothing here
 * allocates. */
#include <math.h>
#include <string.h>

#include "optim.h"
#include "parallel.h"
#include "simd.h"

/* ---- clipping ----------------------------------------------------------- */

/* tf.clip_by_value(g, -c, c); NaN stays NaN. */
static void clip_value(float *g, size_t begin, size_t end, double c)
{
    const float hi = (float)c;
    for (size_t i = begin; i < end; i++) {
        if (g[i] > hi)
            g[i] = hi;
        else if (g[i] < -hi)
            g[i] = -hi;
    }
}

static double sum_squares(const float *g, size_t begin, size_t end)
{
    double s = 0;
    for (size_t i = begin; i < end; i++)
        s += (double)g[i] * g[i];
    return s;
}

static void scale(float *g, size_t begin, size_t end, double s)
{
    const float f = (float)s;
    for (size_t i = begin; i < end; i++)
        g[i] *= f;
}

/* tf.clip_by_norm(g, c): g * c / max(||g||, c), so only a norm above c
 * changes g. */
static void clip_norm(float *g, size_t begin, size_t end, double c)
{
    double norm = sqrt(sum_squares(g, begin, end));
    if (norm > c)
        scale(g, begin, end, c / norm);
}

/* tf.clip_by_global_norm: every gradient times c / max(global norm, c). */
static void clip_global_norm(float *g, const struct optim_var *vars, size_t n_vars, double c)
{
    double s = 0;
    for (size_t v = 0; v < n_vars; v++)
        s += sum_squares(g, vars[v].begin, vars[v].end);
    double norm = sqrt(s);
    if (norm > c)
        for (size_t v = 0; v < n_vars; v++)
            scale(g, vars[v].begin, vars[v].end, c / norm);
}

void optim_clip(const struct optimizer *o, float *g, const struct optim_var *vars,
                size_t n_vars)
{
    if (o->kind == OPT_ADAMW) {
        /* Keras 2.11+ _clip_gradients: only the first of clipnorm,
         * global_clipnorm, clipvalue that is > 0. */
        if (o->clipnorm > 0) {
            for (size_t v = 0; v < n_vars; v++)
                clip_norm(g, vars[v].begin, vars[v].end, o->clipnorm);
        } else if (o->global_clipnorm > 0) {
            clip_global_norm(g, vars, n_vars, o->global_clipnorm);
        } else if (o->clipvalue > 0) {
            for (size_t v = 0; v < n_vars; v++)
                clip_value(g, vars[v].begin, vars[v].end, o->clipvalue);
        }
        return;
    }
    /* OptimizerV2._transform_gradients: clipvalue, then clipnorm, then
     * global_clipnorm, each when set (clipnorm and global_clipnorm exclude
     * each other). */
    if (o->clipvalue >= 0)
        for (size_t v = 0; v < n_vars; v++)
            clip_value(g, vars[v].begin, vars[v].end, o->clipvalue);
    if (o->clipnorm >= 0)
        for (size_t v = 0; v < n_vars; v++)
            clip_norm(g, vars[v].begin, vars[v].end, o->clipnorm);
    if (o->global_clipnorm >= 0)
        clip_global_norm(g, vars, n_vars, o->global_clipnorm);
}

/* ---- the step's coefficients ---------------------------------------------- */

/* Everything a rule needs besides the slots, computed once per step. */
struct coef {
    const struct optimizer *o;
    float lr;
    float a, b, c, d, e, f; /* per rule, named where they are set */
};

/* Nadam's momentum schedule (optimizer_v2/nadam.py _prepare_local) at step
 * t = iteration + 1: mu_s = beta_1 (1 - 0.5 * 0.96^(decay s)); Keras keeps
 * the running product mu_1 ... mu_t in its momentum_cache weight. The
 * product is recomputed here: it falls below 1e-30 (where 1 - product is 1
 * in double) or its factors settle at beta_1 (0.96^(decay s) < 1e-17) within
 * a few thousand steps, whatever decay is. */
static void nadam_coefficients(const struct optimizer *o, long iteration, double *mu_t,
                               double *mu_next, double *prod_t)
{
    const double b1 = o->beta_1, q = pow(0.96, o->decay);
    long t = iteration + 1;
    double f = 1, p = 1;
    long s = 1;
    for (; s <= t; s++) {
        f *= q; /* 0.96^(decay s) */
        p *= b1 * (1 - 0.5 * f);
        if (p < 1e-30) {
            p = 0;
            break;
        }
        if (f < 1e-17) {
            p *= pow(b1, (double)(t - s));
            break;
        }
    }
    *prod_t = p;
    *mu_t = b1 * (1 - 0.5 * pow(0.96, o->decay * (double)t));
    *mu_next = b1 * (1 - 0.5 * pow(0.96, o->decay * (double)(t + 1)));
}

static struct coef step_coef(const struct optimizer *o, long iteration)
{
    double lr = optim_current_lr(o, iteration);
    double t = (double)iteration + 1;
    struct coef k = {.o = o, .lr = (float)lr};
    switch (o->kind) {
    case OPT_SGD: k.a = (float)o->momentum; break;
    case OPT_RMSPROP:
    case OPT_ADADELTA:
        k.a = (float)o->rho, k.b = 1.0f - k.a, k.c = (float)o->epsilon, k.d = (float)o->momentum;
        break;
    case OPT_ADAGRAD: k.c = (float)o->epsilon; break;
    case OPT_ADAM:
    case OPT_ADAMW:
        /* a = alpha, b = 1 - beta_1, c = 1 - beta_2, d = eps, e = AdamW's decay */
        k.a = (float)(lr * sqrt(1 - pow(o->beta_2, t)) / (1 - pow(o->beta_1, t)));
        k.b = 1.0f - (float)o->beta_1, k.c = 1.0f - (float)o->beta_2, k.d = (float)o->epsilon;
        k.e = (float)o->weight_decay;
        break;
    case OPT_ADAMAX:
        /* a = lr / (1 - beta_1^t), b = 1 - beta_1, c = beta_2, d = eps */
        k.a = (float)(lr / (1 - pow(o->beta_1, t)));
        k.b = 1.0f - (float)o->beta_1, k.c = (float)o->beta_2, k.d = (float)o->epsilon;
        break;
    case OPT_NADAM: {
        /* a = 1 - P, b = 1 - P mu_{t+1}, c = 1 - beta_2^t, d = 1 - mu_t,
         * e = mu_{t+1}, f = eps */
        double mu_t, mu_next, prod;
        nadam_coefficients(o, iteration, &mu_t, &mu_next, &prod);
        k.a = (float)(1 - prod), k.b = (float)(1 - prod * mu_next);
        k.c = (float)(1 - pow(o->beta_2, t));
        k.d = 1.0f - (float)mu_t, k.e = (float)mu_next, k.f = (float)o->epsilon;
        break;
    }
    case OPT_FTRL:
        /* a = l1, b = l2 + beta / (2 lr), c = 2 l2_shrinkage,
         * d = -learning_rate_power */
        k.a = (float)o->l1, k.b = (float)(o->l2 + o->beta / (2 * lr));
        k.c = (float)(2 * o->l2_shrinkage), k.d = (float)-o->learning_rate_power;
        break;
    }
    return k;
}

/* ---- the rules: each over n weights, the slots s0, s1, s2 at the same
 * offset (pointers already moved to the range) ------------------------------ */

/* SGD, ResourceApplyGradientDescent / ResourceApplyKerasMomentum:
 *   no momentum: w -= lr g
 *   momentum:    a = m a - lr g;  w += a  (nesterov: w += m a - lr g) */
SIMD_CLONES static void sgd_step(const struct coef *k, float *restrict w, const float *restrict g,
                                 float *restrict acc, size_t n)
{
    const float lr = k->lr, m = k->a;
    if (!(k->o->momentum > 0)) {
        for (size_t i = 0; i < n; i++)
            w[i] -= lr * g[i];
    } else if (k->o->nesterov) {
        for (size_t i = 0; i < n; i++) {
            float a = acc[i] * m - lr * g[i];
            acc[i] = a;
            w[i] += a * m - lr * g[i];
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            float a = acc[i] * m - lr * g[i];
            acc[i] = a;
            w[i] += a;
        }
    }
}

/* RMSprop (keras/optimizers/optimizer_v2/rmsprop.py). Without momentum the
 * Python path puts epsilon outside the square root:
 *   ms = rho ms + (1-rho) g^2;  [mg = rho mg + (1-rho) g;  ms' = ms - mg^2]
 *   w -= lr g / (sqrt(ms') + eps)
 * With momentum it calls ResourceApply(Centered)RMSProp, whose kernels put
 * epsilon inside:
 *   ms += (g^2 - ms)(1-rho);  [mg += (g - mg)(1-rho)]
 *   mom = momentum mom + lr g / sqrt(ms - [mg^2] + eps);  w -= mom
 * Both are reproduced as tf.keras 2 runs them. */
SIMD_CLONES static void rmsprop_plain(const struct coef *k, float *restrict w,
                                      const float *restrict g, float *restrict ms,
                                      float *restrict mg, size_t n)
{
    const float lr = k->lr, rho = k->a, one_minus_rho = k->b, eps = k->c;
    if (!mg) {
        for (size_t i = 0; i < n; i++) {
            float s = rho * ms[i] + one_minus_rho * g[i] * g[i];
            ms[i] = s;
            w[i] -= lr * g[i] / (sqrtf(s) + eps);
        }
        return;
    }
    for (size_t i = 0; i < n; i++) {
        float s = rho * ms[i] + one_minus_rho * g[i] * g[i];
        float a = rho * mg[i] + one_minus_rho * g[i];
        ms[i] = s;
        mg[i] = a;
        w[i] -= lr * g[i] / (sqrtf(s - a * a) + eps);
    }
}

SIMD_CLONES static void rmsprop_momentum(const struct coef *k, float *restrict w,
                                         const float *restrict g, float *restrict ms,
                                         float *restrict mom, float *restrict mg, size_t n)
{
    const float lr = k->lr, one_minus_rho = k->b, eps = k->c, m = k->d;
    if (!mg) {
        for (size_t i = 0; i < n; i++) {
            float s = ms[i] + (g[i] * g[i] - ms[i]) * one_minus_rho;
            float u = mom[i] * m + lr * g[i] / sqrtf(s + eps);
            ms[i] = s;
            mom[i] = u;
            w[i] -= u;
        }
        return;
    }
    for (size_t i = 0; i < n; i++) {
        float s = ms[i] + (g[i] * g[i] - ms[i]) * one_minus_rho;
        float a = mg[i] + (g[i] - mg[i]) * one_minus_rho;
        float u = mom[i] * m + lr * g[i] / sqrtf(s - a * a + eps);
        ms[i] = s;
        mg[i] = a;
        mom[i] = u;
        w[i] -= u;
    }
}

/* Adagrad, ResourceApplyAdagradV2: acc += g^2;  w -= lr g / (sqrt(acc) + eps). */
SIMD_CLONES static void adagrad_step(const struct coef *k, float *restrict w,
                                     const float *restrict g, float *restrict acc, size_t n)
{
    const float lr = k->lr, eps = k->c;
    for (size_t i = 0; i < n; i++) {
        float a = acc[i] + g[i] * g[i];
        acc[i] = a;
        w[i] -= lr * g[i] / (sqrtf(a) + eps);
    }
}

/* Adam, ResourceApplyAdam(WithAmsgrad), and AdamW's update_step, with
 * t = iteration + 1 (keras/optimizers/optimizer_v2/adam.py _prepare_local,
 * keras/optimizers/adamw.py):
 *   alpha = lr sqrt(1 - beta_2^t) / (1 - beta_1^t)
 *   m += (g - m)(1 - beta_1);  v += (g^2 - v)(1 - beta_2);  [vhat = max(vhat, v)]
 *   w -= alpha m / (sqrt(v or vhat) + eps)
 * AdamW first decays the weights (keras/optimizers/optimizer.py
 * _apply_weight_decay, before the update): w -= w * weight_decay * lr. */
SIMD_CLONES static void adam_step(const struct coef *k, float *restrict w, const float *restrict g,
                                  float *restrict m, float *restrict v, float *restrict vhat,
                                  size_t n)
{
    const float alpha = k->a, one_minus_b1 = k->b, one_minus_b2 = k->c, eps = k->d;
    if (k->o->kind == OPT_ADAMW) {
        const float wd = k->e, lr = k->lr;
        for (size_t i = 0; i < n; i++)
            w[i] -= w[i] * wd * lr;
    }
    if (vhat) {
        for (size_t i = 0; i < n; i++) {
            float a = m[i] + (g[i] - m[i]) * one_minus_b1;
            float b = v[i] + (g[i] * g[i] - v[i]) * one_minus_b2;
            float h = fmaxf(vhat[i], b);
            m[i] = a;
            v[i] = b;
            vhat[i] = h;
            w[i] -= alpha * a / (sqrtf(h) + eps);
        }
        return;
    }
    for (size_t i = 0; i < n; i++) {
        float a = m[i] + (g[i] - m[i]) * one_minus_b1;
        float b = v[i] + (g[i] * g[i] - v[i]) * one_minus_b2;
        m[i] = a;
        v[i] = b;
        w[i] -= alpha * a / (sqrtf(b) + eps);
    }
}

/* Adadelta, ResourceApplyAdadelta:
 *   acc = rho acc + (1-rho) g^2
 *   u = sqrt(acc_u + eps) / sqrt(acc + eps) g;  w -= lr u
 *   acc_u = rho acc_u + (1-rho) u^2 */
SIMD_CLONES static void adadelta_step(const struct coef *k, float *restrict w,
                                      const float *restrict g, float *restrict acc,
                                      float *restrict acc_u, size_t n)
{
    const float lr = k->lr, rho = k->a, one_minus_rho = k->b, eps = k->c;
    for (size_t i = 0; i < n; i++) {
        float a = acc[i] * rho + g[i] * g[i] * one_minus_rho;
        float u = sqrtf(acc_u[i] + eps) / sqrtf(a + eps) * g[i];
        acc[i] = a;
        w[i] -= u * lr;
        acc_u[i] = acc_u[i] * rho + u * u * one_minus_rho;
    }
}

/* Adamax, ResourceApplyAdaMax with t = iteration + 1:
 *   m += (g - m)(1 - beta_1);  v = max(beta_2 v, |g|)
 *   w -= lr / (1 - beta_1^t) m / (v + eps) */
SIMD_CLONES static void adamax_step(const struct coef *k, float *restrict w,
                                    const float *restrict g, float *restrict m, float *restrict v,
                                    size_t n)
{
    const float scaled_lr = k->a, one_minus_b1 = k->b, b2 = k->c, eps = k->d;
    for (size_t i = 0; i < n; i++) {
        float a = m[i] + (g[i] - m[i]) * one_minus_b1;
        float b = fmaxf(b2 * v[i], fabsf(g[i]));
        m[i] = a;
        v[i] = b;
        w[i] -= scaled_lr * (a / (b + eps));
    }
}

/* Nadam (optimizer_v2/nadam.py _resource_apply_dense), with P = mu_1...mu_t:
 *   g' = g / (1 - P);  m = beta_1 m + (1-beta_1) g;  m' = m / (1 - P mu_{t+1})
 *   v = beta_2 v + (1-beta_2) g^2;  v' = v / (1 - beta_2^t)
 *   w -= lr ((1 - mu_t) g' + mu_{t+1} m') / (sqrt(v') + eps) */
SIMD_CLONES static void nadam_step(const struct coef *k, float *restrict w, const float *restrict g,
                                   float *restrict m, float *restrict v, size_t n)
{
    const float den_g = k->a, den_m = k->b, den_v = k->c, one_minus_mu = k->d, mu1 = k->e;
    const float eps = k->f, lr = k->lr;
    const float b1 = (float)k->o->beta_1, b2 = (float)k->o->beta_2;
    for (size_t i = 0; i < n; i++) {
        float g_prime = g[i] / den_g;
        float a = b1 * m[i] + (1.0f - b1) * g[i];
        float m_prime = a / den_m;
        float b = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
        float v_prime = b / den_v;
        float m_bar = one_minus_mu * g_prime + mu1 * m_prime;
        m[i] = a;
        v[i] = b;
        w[i] -= lr * m_bar / (sqrtf(v_prime) + eps);
    }
}

/* Ftrl (optimizer_v2/ftrl.py), ResourceApplyFtrl(V2) with
 * l2' = l2 + beta / (2 lr) and p = -learning_rate_power:
 *   gs = g + 2 l2_shrinkage w;  acc' = acc + g^2
 *   linear += gs - (acc'^p - acc^p) / lr w
 *   w = |linear| > l1 ? (sign(linear) l1 - linear) / (acc'^p / lr + 2 l2') : 0
 *   acc = acc' */
SIMD_CLONES static void ftrl_step(const struct coef *k, float *restrict w, const float *restrict g,
                                  float *restrict acc, float *restrict linear, size_t n)
{
    const float lr_f = k->lr, l1 = k->a, l2 = k->b, shrink2 = k->c, p = k->d;
    const bool half = k->o->learning_rate_power == -0.5; /* the kernels' sqrt special case */
    for (size_t i = 0; i < n; i++) {
        float gs = g[i] + shrink2 * w[i];
        float new_acc = acc[i] + g[i] * g[i];
        float pow_new = half ? sqrtf(new_acc) : powf(new_acc, p);
        float pow_old = half ? sqrtf(acc[i]) : powf(acc[i], p);
        linear[i] += gs - (pow_new - pow_old) / lr_f * w[i];
        float quadratic = pow_new / lr_f + 2 * l2;
        w[i] = fabsf(linear[i]) > l1 ? (copysignf(l1, linear[i]) - linear[i]) / quadratic : 0.0f;
        acc[i] = new_acc;
    }
}

/* The rule over weights [begin, end) of the flat buffers. */
static void apply(const struct coef *k, float *w, const float *g, float *state, size_t n_total,
                  size_t begin, size_t end)
{
    const struct optimizer *o = k->o;
    size_t n = end - begin;
    float *s0 = state + begin, *s1 = state + n_total + begin, *s2 = state + 2 * n_total + begin;
    w += begin;
    g += begin;
    switch (o->kind) {
    case OPT_SGD: sgd_step(k, w, g, s0, n); break;
    case OPT_RMSPROP:
        if (o->momentum > 0)
            rmsprop_momentum(k, w, g, s0, s1, o->centered ? s2 : NULL, n);
        else
            rmsprop_plain(k, w, g, s0, o->centered ? s1 : NULL, n);
        break;
    case OPT_ADAGRAD: adagrad_step(k, w, g, s0, n); break;
    case OPT_ADAM:
    case OPT_ADAMW: adam_step(k, w, g, s0, s1, o->amsgrad ? s2 : NULL, n); break;
    case OPT_ADADELTA: adadelta_step(k, w, g, s0, s1, n); break;
    case OPT_ADAMAX: adamax_step(k, w, g, s0, s1, n); break;
    case OPT_NADAM: nadam_step(k, w, g, s0, s1, n); break;
    case OPT_FTRL: ftrl_step(k, w, g, s0, s1, n); break;
    }
}

void optim_step(const struct optimizer *o, float *w, const float *g, float *state,
                size_t n_total, size_t begin, size_t end, long iteration)
{
    NNC_ASSERT(begin <= end && end <= n_total && iteration >= 0);
    struct coef k = step_coef(o, iteration);
    apply(&k, w, g, state, n_total, begin, end);
}

/* ---- all variables at once ------------------------------------------------ */

struct update_ctx {
    const struct coef *k;
    float *w, *state;
    const float *g;
    float *clear; /* g itself when it is to be zeroed, else NULL */
    size_t n_total;
    const struct optim_var *vars;
    size_t n_vars;
};

/* Weights per block when g is cleared as it goes: 16 KiB of g, in L1. */
#define CLEAR_BLOCK 4096

/* Positions [begin, end) of the trainable weights counted over the
 * variables one after the other. */
static void update_range(void *arg, size_t begin, size_t end)
{
    const struct update_ctx *u = arg;
    size_t at = 0; /* the position of vars[v].begin */
    for (size_t v = 0; v < u->n_vars && begin < end; v++) {
        size_t len = u->vars[v].end - u->vars[v].begin;
        if (begin < at + len) {
            size_t lo = u->vars[v].begin + (begin - at);
            size_t hi = u->vars[v].begin + (end < at + len ? end - at : len);
            if (!u->clear) {
                apply(u->k, u->w, u->g, u->state, u->n_total, lo, hi);
            } else {
                for (size_t b = lo; b < hi; b += CLEAR_BLOCK) {
                    size_t e = hi - b < CLEAR_BLOCK ? hi : b + CLEAR_BLOCK;
                    apply(u->k, u->w, u->g, u->state, u->n_total, b, e);
                    memset(u->clear + b, 0, (e - b) * sizeof *u->clear);
                }
            }
            begin = at + (hi - u->vars[v].begin);
        }
        at += len;
    }
}

static void update(const struct optimizer *o, float *w, const float *g, float *clear,
                   float *state, size_t n_total, const struct optim_var *vars, size_t n_vars,
                   long iteration)
{
    NNC_ASSERT(iteration >= 0);
    struct coef k = step_coef(o, iteration);
    size_t total = 0;
    for (size_t v = 0; v < n_vars; v++) {
        NNC_ASSERT(vars[v].begin <= vars[v].end && vars[v].end <= n_total);
        total += vars[v].end - vars[v].begin;
    }
    struct update_ctx u = {&k, w, state, g, clear, n_total, vars, n_vars};
    /* Ranges of at least 32k weights (a smaller split costs more to hand
     * out than it saves); one thread: a plain call. */
    if (parallel_threads() > 1 && total >= 2 * 32768)
        parallel_for(total, 32768, update_range, &u);
    else
        update_range(&u, 0, total);
}

void optim_update(const struct optimizer *o, float *w, const float *g, float *state,
                  size_t n_total, const struct optim_var *vars, size_t n_vars, long iteration)
{
    update(o, w, g, NULL, state, n_total, vars, n_vars, iteration);
}

void optim_update_clear(const struct optimizer *o, float *w, float *g, float *state,
                        size_t n_total, const struct optim_var *vars, size_t n_vars,
                        long iteration)
{
    update(o, w, g, g, state, n_total, vars, n_vars, iteration);
}
