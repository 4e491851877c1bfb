/* optim_update (all trainable variables in one pass, split over the pool)
 * against optim_step per variable, bit for bit, for every optimizer and
 * variant, with 1 and 2 threads and gaps (non-trainable weights) between the
 * variables; and the vectorized rules against the scalar formulas they
 * replaced (Adam, AMSGrad, AdamW, RMSprop's four forms, SGD with Nesterov),
 * written out here as plain loops, bit for bit. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../src/optim.h"
#include "../src/parallel.h"
#include "fixtures.h"

static struct optimizer parsed(const char *text)
{
    struct spec_doc doc;
    struct diag d = {{0}};
    ck_assert_msg(spec_load_string(&doc, "m.yaml", text, strlen(text), &d) == 0, "%s", d.msg);
    struct optimizer o;
    ck_assert_msg(optim_parse(doc.root, &o, &d) == 0, "%s: %s", text, d.msg);
    spec_free(&doc);
    return o;
}

/* A reproducible value in [-1, 1). */
static float val(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return (float)((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static const char *const OPTIMIZERS[] = {
    "sgd",
    "{sgd: {momentum: 0.9}}",
    "{sgd: {momentum: 0.9, nesterov: true}}",
    "rmsprop",
    "{rmsprop: {centered: true}}",
    "{rmsprop: {momentum: 0.5}}",
    "{rmsprop: {momentum: 0.5, centered: true}}",
    "adagrad",
    "adam",
    "{adam: {amsgrad: true}}",
    "{adamw: {weight_decay: 0.01}}",
    "{adamw: {amsgrad: true}}",
    "adadelta",
    "adamax",
    "nadam",
    "ftrl",
    ("{ftrl: {learning_rate_power: -0.3, l1_regularization_strength: 0.01, "
     "l2_regularization_strength: 0.02, l2_shrinkage_regularization_strength: 0.1, beta: 0.5}}"),
};

/* Three variables with gaps: [5, 40005), [40010, 70011), [70020, 70027) of
 * 70030 weights: more than the 2 x 32768 from which the pool splits. */
#define N_TOTAL 70030
static const struct optim_var VARS[] = {{5, 40005}, {40010, 70011}, {70020, 70027}};

static void fill(const struct optimizer *o, float *w, float *g, float *state, unsigned seed)
{
    unsigned s = seed;
    for (size_t i = 0; i < N_TOTAL; i++) {
        w[i] = val(&s);
        g[i] = val(&s) * 0.1f;
    }
    optim_init_state(o, state, N_TOTAL);
    /* Non-zero state (positive where it is an accumulator of squares). */
    for (size_t i = 0; i < optim_n_slots(o) * N_TOTAL; i++)
        state[i] += fabsf(val(&s)) * 0.01f;
}

START_TEST(test_update_equals_steps)
{
    for (size_t k = 0; k < sizeof OPTIMIZERS / sizeof OPTIMIZERS[0]; k++) {
        struct optimizer o = parsed(OPTIMIZERS[k]);
        size_t slots = optim_n_slots(&o);
        float *w0 = malloc(N_TOTAL * sizeof *w0), *g = malloc(N_TOTAL * sizeof *g);
        float *s0 = malloc((slots + 1) * N_TOTAL * sizeof *s0);
        float *w[3], *st[3];
        fill(&o, w0, g, s0, (unsigned)k + 1);
        for (int v = 0; v < 3; v++) {
            w[v] = malloc(N_TOTAL * sizeof *w[v]);
            st[v] = malloc((slots + 1) * N_TOTAL * sizeof *st[v]);
            memcpy(w[v], w0, N_TOTAL * sizeof *w0);
            memcpy(st[v], s0, (slots + 1) * N_TOTAL * sizeof *s0);
        }
        for (long it = 0; it < 3; it++) {
            for (size_t v = 0; v < 3; v++)
                optim_step(&o, w[0], g, st[0], N_TOTAL, VARS[v].begin, VARS[v].end, it);
            parallel_set_threads(1);
            optim_update(&o, w[1], g, st[1], N_TOTAL, VARS, 3, it);
            parallel_set_threads(2);
            optim_update(&o, w[2], g, st[2], N_TOTAL, VARS, 3, it);
            parallel_set_threads(1);
        }
        for (int v = 1; v < 3; v++) {
            ck_assert_msg(!memcmp(w[0], w[v], N_TOTAL * sizeof *w0), "%s: weights, %d thread(s)",
                          OPTIMIZERS[k], v);
            ck_assert_msg(!memcmp(st[0], st[v], slots * N_TOTAL * sizeof *s0),
                          "%s: state, %d thread(s)", OPTIMIZERS[k], v);
        }
        /* The gaps are untouched. */
        ck_assert(!memcmp(w[2], w0, 5 * sizeof *w0));
        ck_assert(!memcmp(w[2] + 40005, w0 + 40005, 5 * sizeof *w0));
        ck_assert(!memcmp(w[2] + 70027, w0 + 70027, 3 * sizeof *w0));
        if (strcmp(OPTIMIZERS[k], "sgd") != 0)
            ck_assert_msg(memcmp(w[2], w0, N_TOTAL * sizeof *w0) != 0, "%s", OPTIMIZERS[k]);
        for (int v = 0; v < 3; v++) {
            free(w[v]);
            free(st[v]);
        }
        free(w0);
        free(g);
        free(s0);
    }
}
END_TEST

/* optim_update_clear: optim_update's result, and g zero over the variables
 * (only there). */
START_TEST(test_update_clear)
{
    struct optimizer o = parsed("adam");
    size_t slots = optim_n_slots(&o);
    float *w[2], *g[2], *st[2];
    for (int k = 0; k < 2; k++) {
        w[k] = malloc(N_TOTAL * sizeof(float));
        g[k] = malloc(N_TOTAL * sizeof(float));
        st[k] = malloc(slots * N_TOTAL * sizeof(float));
        fill(&o, w[k], g[k], st[k], 77);
    }
    for (int threads = 1; threads <= 2; threads++) {
        parallel_set_threads(threads);
        optim_update(&o, w[0], g[0], st[0], N_TOTAL, VARS, 3, threads);
        optim_update_clear(&o, w[1], g[1], st[1], N_TOTAL, VARS, 3, threads);
        parallel_set_threads(1);
        ck_assert(!memcmp(w[0], w[1], N_TOTAL * sizeof(float)));
        ck_assert(!memcmp(st[0], st[1], slots * N_TOTAL * sizeof(float)));
        size_t v = 0;
        for (size_t i = 0; i < N_TOTAL; i++) {
            while (v < 3 && i >= VARS[v].end)
                v++;
            bool in = v < 3 && i >= VARS[v].begin;
            ck_assert_msg(in ? g[1][i] == 0.0f : g[1][i] == g[0][i], "g[%zu]", i);
        }
        memcpy(g[1], g[0], N_TOTAL * sizeof(float)); /* the gradient again */
    }
    for (int k = 0; k < 2; k++) {
        free(w[k]);
        free(g[k]);
        free(st[k]);
    }
}
END_TEST

#define N 1031 /* not a multiple of any vector width */

/* The scalar forms, as optim.c wrote them before the rules were vectorized. */
static void adam_ref(const struct optimizer *o, long iteration, float *w, const float *g,
                     float *m, float *v, float *vhat)
{
    double lr = o->learning_rate, t = (double)iteration + 1;
    if (o->kind == OPT_ADAMW)
        for (size_t i = 0; i < N; i++)
            w[i] -= w[i] * (float)o->weight_decay * (float)lr;
    const float alpha = (float)(lr * sqrt(1 - pow(o->beta_2, t)) / (1 - pow(o->beta_1, t)));
    const float one_minus_b1 = 1.0f - (float)o->beta_1, one_minus_b2 = 1.0f - (float)o->beta_2;
    const float eps = (float)o->epsilon;
    for (size_t i = 0; i < N; i++) {
        m[i] += (g[i] - m[i]) * one_minus_b1;
        v[i] += (g[i] * g[i] - v[i]) * one_minus_b2;
        float denom = v[i];
        if (vhat) {
            vhat[i] = fmaxf(vhat[i], v[i]);
            denom = vhat[i];
        }
        w[i] -= alpha * m[i] / (sqrtf(denom) + eps);
    }
}

static void rmsprop_ref(const struct optimizer *o, float *w, const float *g, float *ms,
                        float *mom, float *mg)
{
    const float lr = (float)o->learning_rate, rho = (float)o->rho, one_minus_rho = 1.0f - rho;
    const float eps = (float)o->epsilon;
    if (!(o->momentum > 0)) {
        for (size_t i = 0; i < N; i++) {
            ms[i] = rho * ms[i] + one_minus_rho * g[i] * g[i];
            float denom = ms[i];
            if (mg) {
                mg[i] = rho * mg[i] + one_minus_rho * g[i];
                denom = ms[i] - mg[i] * mg[i];
            }
            w[i] -= lr * g[i] / (sqrtf(denom) + eps);
        }
        return;
    }
    const float m = (float)o->momentum;
    for (size_t i = 0; i < N; i++) {
        ms[i] += (g[i] * g[i] - ms[i]) * one_minus_rho;
        float denom = ms[i];
        if (mg) {
            mg[i] += (g[i] - mg[i]) * one_minus_rho;
            denom = ms[i] - mg[i] * mg[i];
        }
        mom[i] = mom[i] * m + lr * g[i] / sqrtf(denom + eps);
        w[i] -= mom[i];
    }
}

static void sgd_ref(const struct optimizer *o, float *w, const float *g, float *a)
{
    const float lr = (float)o->learning_rate, m = (float)o->momentum;
    for (size_t i = 0; i < N; i++) {
        a[i] = a[i] * m - lr * g[i];
        w[i] += o->nesterov ? a[i] * m - lr * g[i] : a[i];
    }
}

START_TEST(test_rules_equal_scalar_forms)
{
    static const char *const cases[] = {
        "adam", "{adam: {amsgrad: true}}", "{adamw: {weight_decay: 0.01}}",
        "{adamw: {amsgrad: true, weight_decay: 0.1}}", "rmsprop", "{rmsprop: {centered: true}}",
        "{rmsprop: {momentum: 0.5}}", "{rmsprop: {momentum: 0.5, centered: true}}",
        "{sgd: {momentum: 0.9}}", "{sgd: {momentum: 0.9, nesterov: true}}",
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        struct optimizer o = parsed(cases[k]);
        size_t slots = optim_n_slots(&o);
        float w[2][N], g[N], st[2][3 * N];
        unsigned s = 7u + (unsigned)k;
        for (size_t i = 0; i < N; i++) {
            w[0][i] = w[1][i] = val(&s);
            g[i] = val(&s) * 0.1f;
        }
        for (size_t i = 0; i < 3 * N; i++)
            st[0][i] = st[1][i] = fabsf(val(&s)) * 0.01f;
        for (long it = 0; it < 3; it++) {
            optim_step(&o, w[0], g, st[0], N, 0, N, it);
            float *s0 = st[1], *s1 = st[1] + N, *s2 = st[1] + 2 * N;
            switch (o.kind) {
            case OPT_ADAM:
            case OPT_ADAMW: adam_ref(&o, it, w[1], g, s0, s1, o.amsgrad ? s2 : NULL); break;
            case OPT_RMSPROP: {
                bool mom = o.momentum > 0;
                rmsprop_ref(&o, w[1], g, s0, mom ? s1 : NULL,
                            o.centered ? (mom ? s2 : s1) : NULL);
                break;
            }
            case OPT_SGD: sgd_ref(&o, w[1], g, s0); break;
            default: ck_abort();
            }
        }
        ck_assert_msg(!memcmp(w[0], w[1], sizeof w[0]), "%s: weights", cases[k]);
        ck_assert_msg(!memcmp(st[0], st[1], slots * N * sizeof(float)), "%s: state", cases[k]);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("optim_update");
    TCase *tc = tcase_create("optim_update");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_update_equals_steps);
    tcase_add_test(tc, test_rules_equal_scalar_forms);
    tcase_add_test(tc, test_update_clear);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
