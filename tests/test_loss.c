/* Loss tests: values on small hand-computed batches (expected values written
 * out with plain double arithmetic, independently of src/loss.c), finite
 * difference gradient checks for every loss away from clip bounds and kinks,
 * clipping at p = 0 and p = 1, parsing (names, arguments, Keras serialized
 * form, located errors with suggestions) and the training_config JSON. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/loss.h"
#include "fixtures.h"
#include "gradcheck.h"

#define EPS 1e-7 /* Keras backend epsilon */
#define EPSF ((double)1e-7f) /* the same as the float32 TF clips with */

static int parse(const char *text, struct loss *l, struct diag *d)
{
    struct spec_doc doc;
    ck_assert_msg(spec_load_string(&doc, "t.yaml", text, strlen(text), d) == 0, "%s", d->msg);
    int rc = loss_parse(doc.root, l, d);
    spec_free(&doc);
    return rc;
}

static struct loss parsed(const char *text)
{
    struct loss l;
    struct diag d = {{0}};
    ck_assert_msg(parse(text, &l, &d) == 0, "%s: %s", text, d.msg);
    return l;
}

static void expect_error(const char *text, const char *msg)
{
    struct loss l;
    struct diag d = {{0}};
    ck_assert_int_eq(parse(text, &l, &d), -1);
    ck_assert_str_eq(d.msg, msg);
}

static char *json_of(const struct loss *l)
{
    struct capture c;
    loss_to_json(l, capture_json(&c));
    return capture_close(&c);
}

static void check_close(double got, double want, double tol)
{
    ck_assert_msg(fabs(got - want) <= tol * (1 + fabs(want)), "got %.10g, want %.10g", got,
                  want);
}

/* ---- values --------------------------------------------------------------- */

static const float P[6] = {0.9f, 0.2f, 0.4f, 0.7f, 0.5f, 0.1f}; /* (3, 2) or (2, 3) */

START_TEST(test_mse_mae_values)
{
    const float yp[6] = {0.1f, 0.5f, -0.3f, 1.0f, 2.0f, 0.0f};
    const float yt[6] = {0, 1, 0, 1, 1, 1};
    struct loss l = parsed("mse");
    /* rows: (0.01 + 0.25 + 0.09)/3, (0 + 1 + 1)/3 */
    double want = ((0.01 + 0.25 + 0.09) / 3 + 2.0 / 3) / 2;
    check_close(loss_compute(&l, yp, yt, 2, 3, NULL), want, 1e-6);
    l = parsed("mean_absolute_error");
    want = ((0.1 + 0.5 + 0.3) / 3 + (0 + 1 + 1) / 3.0) / 2;
    check_close(loss_compute(&l, yp, yt, 2, 3, NULL), want, 1e-6);
}
END_TEST

START_TEST(test_binary_values)
{
    /* (2 rows, 2 values): p = [[0.9, 0.2], [0.4, 0.7]], t = [[1, 0], [0, 1]] */
    const float yt[4] = {1, 0, 0, 1};
    struct loss l = parsed("binary_crossentropy");
    double r0 = -(log(0.9 + EPS) + log(1 - 0.2 + EPS)) / 2;
    double r1 = -(log(1 - 0.4 + EPS) + log(0.7 + EPS)) / 2;
    check_close(loss_compute(&l, P, yt, 2, 2, NULL), (r0 + r1) / 2, 1e-6);

    /* label_smoothing 0.2: 1 -> 0.9, 0 -> 0.1 */
    l = parsed("{binary_crossentropy: {label_smoothing: 0.2}}");
    double t1 = 0.9, t0 = 0.1;
    r0 = -(t1 * log(0.9 + EPS) + (1 - t1) * log(0.1 + EPS) + t0 * log(0.2 + EPS) +
           (1 - t0) * log(0.8 + EPS)) / 2;
    r1 = -(t0 * log(0.4 + EPS) + (1 - t0) * log(0.6 + EPS) + t1 * log(0.7 + EPS) +
           (1 - t1) * log(0.3 + EPS)) / 2;
    check_close(loss_compute(&l, P, yt, 2, 2, NULL), (r0 + r1) / 2, 1e-6);

    /* from_logits: -(t log s(x) + (1-t) log(1 - s(x))) */
    l = parsed("{BinaryCrossentropy: {from_logits: true}}");
    const float x[4] = {2.0f, -1.0f, 0.5f, -3.0f};
    double s[4];
    for (int i = 0; i < 4; i++)
        s[i] = 1 / (1 + exp(-(double)x[i]));
    r0 = -(log(s[0]) + log(1 - s[1])) / 2;
    r1 = -(log(1 - s[2]) + log(s[3])) / 2;
    check_close(loss_compute(&l, x, yt, 2, 2, NULL), (r0 + r1) / 2, 1e-6);

    /* from_logits with label_smoothing 0.4: targets 1 -> 0.8, 0 -> 0.2 */
    l = parsed("{binary_crossentropy: {from_logits: true, label_smoothing: 0.4}}");
    r0 = -(0.8 * log(s[0]) + 0.2 * log(1 - s[0]) + 0.2 * log(s[1]) + 0.8 * log(1 - s[1])) / 2;
    r1 = -(0.2 * log(s[2]) + 0.8 * log(1 - s[2]) + 0.8 * log(s[3]) + 0.2 * log(1 - s[3])) / 2;
    check_close(loss_compute(&l, x, yt, 2, 2, NULL), (r0 + r1) / 2, 1e-6);

    /* from_logits stays finite for large logits */
    l = parsed("{BinaryCrossentropy: {from_logits: true}}");
    const float big[2] = {80.0f, -80.0f}, tb[2] = {0, 1};
    check_close(loss_compute(&l, big, tb, 1, 2, NULL), 80.0, 1e-6);
}
END_TEST

START_TEST(test_categorical_values)
{
    /* p = [[0.9, 0.2, 0.4], [0.7, 0.5, 0.1]] (rows sum to 1.5 and 1.3: Keras
     * normalizes first), t = [[0, 1, 0], [1, 0, 0]] */
    const float yt[6] = {0, 1, 0, 1, 0, 0};
    struct loss l = parsed("categorical_crossentropy");
    double want = (-log(0.2 / 1.5) - log(0.7 / 1.3)) / 2;
    check_close(loss_compute(&l, P, yt, 2, 3, NULL), want, 1e-6);

    /* label_smoothing 0.3, K = 3: 1 -> 0.8, 0 -> 0.1 */
    l = parsed("{categorical_crossentropy: {label_smoothing: 0.3}}");
    double r0 = -(0.1 * log(0.9 / 1.5) + 0.8 * log(0.2 / 1.5) + 0.1 * log(0.4 / 1.5));
    double r1 = -(0.8 * log(0.7 / 1.3) + 0.1 * log(0.5 / 1.3) + 0.1 * log(0.1 / 1.3));
    check_close(loss_compute(&l, P, yt, 2, 3, NULL), (r0 + r1) / 2, 1e-6);

    /* from_logits: -log softmax */
    l = parsed("{categorical_crossentropy: {from_logits: true}}");
    const float x[6] = {1.0f, 2.0f, 0.5f, -1.0f, 0.0f, 3.0f};
    double z0 = exp(1.0) + exp(2.0) + exp(0.5), z1 = exp(-1.0) + exp(0.0) + exp(3.0);
    want = (-(2.0 - log(z0)) - (-1.0 - log(z1))) / 2;
    check_close(loss_compute(&l, x, yt, 2, 3, NULL), want, 1e-6);

    /* stable for huge logits */
    const float hx[3] = {1000.0f, 0.0f, -1000.0f}, ht[3] = {0, 1, 0};
    check_close(loss_compute(&l, hx, ht, 1, 3, NULL), 1000.0, 1e-6);
}
END_TEST

START_TEST(test_sparse_values)
{
    /* Same probabilities, labels [1, 0]. Keras feeds log(clip(p)) to
     * sparse_softmax_cross_entropy_with_logits: -log p_y + log sum p. */
    const float yt[2] = {1, 0};
    struct loss l = parsed("sparse_categorical_crossentropy");
    ck_assert_uint_eq(loss_target_width(&l, 3), 1);
    double want = ((-log(0.2) + log(1.5)) + (-log(0.7) + log(1.3))) / 2;
    check_close(loss_compute(&l, P, yt, 2, 3, NULL), want, 1e-6);

    l = parsed("{SparseCategoricalCrossentropy: {from_logits: true}}");
    const float x[6] = {1.0f, 2.0f, 0.5f, -1.0f, 0.0f, 3.0f};
    double z0 = exp(1.0) + exp(2.0) + exp(0.5), z1 = exp(-1.0) + exp(0.0) + exp(3.0);
    want = ((log(z0) - 2.0) + (log(z1) + 1.0)) / 2;
    check_close(loss_compute(&l, x, yt, 2, 3, NULL), want, 1e-6);
}
END_TEST

START_TEST(test_regression_values)
{
    /* mape: 100 mean |t - p| / max(|t|, eps); t = 0 hits the eps clamp. */
    const float mp[4] = {1.0f, 2.5f, 0.5f, 3.0f}, mt[4] = {2.0f, 2.0f, 0.0f, -1.0f};
    struct loss l = parsed("mape");
    double want = (100 * (1 / 2.0 + 0.5 / 2.0) / 2 + 100 * (0.5 / EPSF + 4 / 1.0) / 2) / 2;
    check_close(loss_compute(&l, mp, mt, 2, 2, NULL), want, 1e-6);
    /* msle: mean (log(max(p, eps) + 1) - log(max(t, eps) + 1))^2 */
    const float sp[3] = {0.5f, -0.5f, 2.0f}, st[3] = {1.0f, 0.0f, 3.0f};
    l = parsed("MeanSquaredLogarithmicError");
    want = (pow(log(1.5) - log(2.0), 2) + 0 + pow(log(3.0) - log(4.0), 2)) / 3;
    check_close(loss_compute(&l, sp, st, 1, 3, NULL), want, 1e-6);
    /* poisson: mean p - t log(p + eps) */
    const float pp[2] = {0.5f, 2.0f}, pt[2] = {1.0f, 3.0f};
    l = parsed("poisson");
    want = (0.5 - log(0.5 + EPSF) + 2.0 - 3 * log(2.0 + EPSF)) / 2;
    check_close(loss_compute(&l, pp, pt, 1, 2, NULL), want, 1e-6);
    /* huber, errors 0.5, 3, -2: delta 1 -> 0.125, 3 - 0.5, 2 - 0.5;
     * delta 2 -> 0.125, 6 - 2, 0.5 * 4 */
    const float hp[3] = {0.5f, 3.0f, -2.0f}, ht[3] = {0, 0, 0};
    l = parsed("huber");
    check_close(loss_compute(&l, hp, ht, 1, 3, NULL), (0.125 + 2.5 + 1.5) / 3, 1e-7);
    l = parsed("{Huber: {delta: 2.0}}");
    check_close(l.delta, 2.0, 0);
    check_close(loss_compute(&l, hp, ht, 1, 3, NULL), (0.125 + 4.0 + 2.0) / 3, 1e-7);
    /* log_cosh: mean log(cosh(p - t)) */
    const float cp[2] = {0.3f, -2.0f}, ct[2] = {0, 1};
    l = parsed("logcosh");
    want = (log(cosh((double)0.3f)) + log(cosh(-3.0))) / 2;
    check_close(loss_compute(&l, cp, ct, 1, 2, NULL), want, 1e-6);
    /* stable for large errors: |x| - log 2 */
    const float bp[1] = {200.0f}, bt[1] = {0};
    check_close(loss_compute(&l, bp, bt, 1, 1, NULL), 200 - log(2.0), 1e-9);
}
END_TEST

START_TEST(test_hinge_values)
{
    /* p = [[0.3, -0.5], [2.0, 0.8]]. Targets all 0/1 become -1/1
     * (keras/losses.py _maybe_convert_labels): m = 1 - t p =
     * [[1.3, 1.5], [-1, 1.8]] -> hinge rows 1.4, 0.9. */
    const float p[4] = {0.3f, -0.5f, 2.0f, 0.8f};
    const float t01[4] = {0, 1, 1, 0}, tpm[4] = {-1, 1, 1, -1}, tmix[4] = {0, 1, 0.5f, 0};
    struct loss l = parsed("hinge");
    double m[4] = {1 + (double)0.3f, 1 - (double)-0.5f, 1 - 2.0, 1 + (double)0.8f};
    check_close(loss_compute(&l, p, t01, 2, 2, NULL), ((m[0] + m[1]) / 2 + (0 + m[3]) / 2) / 2,
                1e-6);
    check_close(loss_compute(&l, p, tpm, 2, 2, NULL), ((m[0] + m[1]) / 2 + (0 + m[3]) / 2) / 2,
                1e-6);
    /* one target that is neither 0 nor 1: no conversion for the batch */
    double r0 = (1 - 0 + 1 - (double)-0.5f) / 2, r1 = (fmax(1 - 0.5 * 2.0, 0) + 1) / 2;
    check_close(loss_compute(&l, p, tmix, 2, 2, NULL), (r0 + r1) / 2, 1e-6);
    l = parsed("squared_hinge");
    check_close(loss_compute(&l, p, t01, 2, 2, NULL),
                ((m[0] * m[0] + m[1] * m[1]) / 2 + (0 + m[3] * m[3]) / 2) / 2, 1e-6);
    /* categorical_hinge: max(max((1 - t) p) - sum t p + 1, 0) per row */
    const float cp[6] = {0.2f, 0.7f, 0.1f, 0.5f, 0.3f, 0.2f}, ct[6] = {0, 1, 0, 0, 0, 1};
    l = parsed("CategoricalHinge");
    check_close(loss_compute(&l, cp, ct, 2, 3, NULL), ((0.2 - 0.7 + 1) + (0.5 - 0.2 + 1)) / 2,
                1e-6);
    const float far[3] = {0.0f, 3.0f, 0.0f};
    check_close(loss_compute(&l, far, ct, 1, 3, NULL), 0.0, 0); /* margin met: 0 */
}
END_TEST

START_TEST(test_kld_cosine_values)
{
    /* kl_divergence: sum tc log(tc / pc), both clipped to [eps, 1] */
    const float kt[3] = {0.2f, 0.8f, 0.0f}, kp[3] = {0.5f, 0.4f, 0.1f};
    struct loss l = parsed("kld");
    double want = (double)0.2f * log((double)0.2f / 0.5) + (double)0.8f * log((double)0.8f / (double)0.4f) +
                  EPSF * log(EPSF / (double)0.1f);
    check_close(loss_compute(&l, kp, kt, 1, 3, NULL), want, 1e-6);
    const float kt2[3] = {0.5f, 0.5f, 0.0f}, kp2[3] = {1.5f, 0.0f, 0.2f}; /* p clipped to 1, eps */
    want = 0.5 * log(0.5 / 1.0) + 0.5 * log(0.5 / EPSF) + EPSF * log(EPSF / (double)0.2f);
    check_close(loss_compute(&l, kp2, kt2, 1, 3, NULL), want, 1e-6);
    /* cosine_similarity: the loss is -cos; a zero target gives 0 */
    const float ct[6] = {1, 0, 0, 0, 3, 4}, cp[6] = {1, 1, 1, 2, 4, 3};
    l = parsed("cosine_similarity");
    check_close(loss_compute(&l, cp, ct, 3, 2, NULL), (-1 / sqrt(2.0) + 0 - 24.0 / 25) / 3, 1e-7);
    struct loss prox = parsed("cosine_proximity"); /* tfjs's and Keras 1's name */
    ck_assert_int_eq(prox.kind, LOSS_COSINE);
}
END_TEST

START_TEST(test_rows_are_mean_of_rows)
{
    /* A batch of 3 rows reports the mean of three 1-row batches. */
    const float yp[6] = {0.3f, 0.7f, 0.6f, 0.4f, 0.2f, 0.8f}, yt[6] = {0, 1, 1, 0, 1, 0};
    const char *names[] = {"mse", "mae", "mape", "msle", "binary_crossentropy",
                           "categorical_crossentropy", "hinge", "squared_hinge",
                           "categorical_hinge", "kld", "poisson", "cosine_similarity", "huber",
                           "log_cosh"};
    for (int i = 0; i < 14; i++) {
        struct loss l = parsed(names[i]);
        double sum = 0;
        for (int r = 0; r < 3; r++)
            sum += loss_compute(&l, yp + 2 * r, yt + 2 * r, 1, 2, NULL);
        check_close(loss_compute(&l, yp, yt, 3, 2, NULL), sum / 3, 1e-12);
    }
}
END_TEST

/* ---- clipping ------------------------------------------------------------- */

START_TEST(test_clipping_is_finite)
{
    const float lo = 1e-7f, hi = 1.0f - 1e-7f;
    /* binary: p = 0 with t = 1 and p = 1 with t = 0 give -log(eps + eps) */
    const float p[2] = {0.0f, 1.0f}, t[2] = {1, 0};
    struct loss l = parsed("binary_crossentropy");
    float dy[3];
    double v = loss_compute(&l, p, t, 1, 2, dy);
    double want = (-log((double)lo + EPS) - log(1 - (double)hi + EPS)) / 2;
    ck_assert(isfinite(v));
    check_close(v, want, 1e-6);
    /* outside the clip range the gradient is zero, as autodiff of clip gives */
    ck_assert(dy[0] == 0.0f && dy[1] == 0.0f);

    /* categorical: q = [0, 1, 0] -> clipped, -log(eps) for a missed class */
    const float pc[3] = {0.0f, 1.0f, 0.0f}, tc[3] = {1, 0, 0};
    l = parsed("categorical_crossentropy");
    v = loss_compute(&l, pc, tc, 1, 3, dy);
    ck_assert(isfinite(v));
    check_close(v, -log((double)lo), 1e-6);
    for (int k = 0; k < 3; k++)
        ck_assert(isfinite(dy[k]));

    /* sparse: label 0 with p_0 = 0 */
    const float ts[1] = {0};
    l = parsed("sparse_categorical_crossentropy");
    v = loss_compute(&l, pc, ts, 1, 3, dy);
    ck_assert(isfinite(v));
    check_close(v, -log((double)lo) + log(2.0 * lo + hi), 1e-6);
    ck_assert(dy[0] == 0.0f && dy[2] == 0.0f);
    ck_assert(isfinite(dy[1]));
}
END_TEST

/* ---- gradients ------------------------------------------------------------ */

struct gc_ctx {
    const struct loss *l;
    const float *yt;
    size_t R, K;
};

static double loss_at(void *ctx, const float *x)
{
    const struct gc_ctx *c = ctx;
    return loss_compute(c->l, x, c->yt, c->R, c->K, NULL);
}

/* Checks dy_pred against central differences for y_pred in [lo, hi). */
static void check_gradient(const char *spec, const float *yt, size_t R, size_t K, float lo,
                           float hi, unsigned seed)
{
    struct loss l = parsed(spec);
    float x[64], dy[64];
    ck_assert(R * K <= 64);
    gc_fill_uniform(x, R * K, lo, hi, seed);
    loss_compute(&l, x, yt, R, K, dy);
    struct gc_ctx c = {&l, yt, R, K};
    char report[200];
    int rc = gradcheck(loss_at, &c, x, R * K, dy, 1e-3, 1e-5, 1e-3, report, sizeof report);
    ck_assert_msg(rc == 0, "%s: %s", spec, report);
}

/* The same at given y_pred x (chosen away from kinks). */
static void check_gradient_at(const char *spec, const float *yt, const float *x0, size_t R,
                              size_t K)
{
    struct loss l = parsed(spec);
    float x[64], dy[64];
    ck_assert(R * K <= 64);
    memcpy(x, x0, R * K * sizeof *x);
    loss_compute(&l, x, yt, R, K, dy);
    struct gc_ctx c = {&l, yt, R, K};
    char report[200];
    int rc = gradcheck(loss_at, &c, x, R * K, dy, 1e-3, 1e-5, 1e-3, report, sizeof report);
    ck_assert_msg(rc == 0, "%s: %s", spec, report);
}

START_TEST(test_gradients)
{
    enum { R = 3, K = 4 };
    const float onehot[R * K] = {0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1};
    const float labels[R] = {1, 0, 3};
    float soft[R * K], reg[R * K];
    gc_fill_uniform(soft, R * K, 0.0f, 1.0f, 7);   /* binary targets in [0, 1] */
    gc_fill_uniform(reg, R * K, -2.0f, -1.5f, 8);  /* far from y_pred: no |e| kink */

    check_gradient("mse", reg, R, K, -1.0f, 1.0f, 1);
    check_gradient("mae", reg, R, K, 0.0f, 1.0f, 2);
    check_gradient("binary_crossentropy", soft, R, K, 0.05f, 0.95f, 3);
    check_gradient("{binary_crossentropy: {label_smoothing: 0.1}}", onehot, R, K, 0.05f, 0.95f, 4);
    check_gradient("{binary_crossentropy: {from_logits: true}}", soft, R, K, -3.0f, 3.0f, 5);
    check_gradient("{binary_crossentropy: {from_logits: true, label_smoothing: 0.2}}", onehot, R,
                   K, -3.0f, 3.0f, 6);
    /* unnormalized probabilities: the gradient includes p / sum(p) */
    check_gradient("categorical_crossentropy", onehot, R, K, 0.1f, 1.0f, 9);
    check_gradient("{categorical_crossentropy: {label_smoothing: 0.2}}", onehot, R, K, 0.1f, 1.0f,
                   10);
    check_gradient("{categorical_crossentropy: {from_logits: true}}", onehot, R, K, -3.0f, 3.0f,
                   11);
    check_gradient("{categorical_crossentropy: {from_logits: true, label_smoothing: 0.2}}", onehot,
                   R, K, -3.0f, 3.0f, 12);
    check_gradient("sparse_categorical_crossentropy", labels, R, K, 0.1f, 1.0f, 13);
    check_gradient("{sparse_categorical_crossentropy: {from_logits: true}}", labels, R, K, -3.0f,
                   3.0f, 14);

    /* regression losses, targets in [-2, -1.5) or positive ones */
    float pos[R * K];
    gc_fill_uniform(pos, R * K, 0.5f, 3.0f, 15);
    check_gradient("mape", reg, R, K, 0.0f, 1.0f, 16);
    check_gradient("msle", pos, R, K, 0.2f, 4.0f, 17);
    check_gradient("poisson", pos, R, K, 0.2f, 4.0f, 18);
    check_gradient("log_cosh", reg, R, K, -4.0f, 3.0f, 19);
    check_gradient("kl_divergence", soft, R, K, 0.05f, 0.95f, 20);
    check_gradient("cosine_similarity", reg, R, K, -1.0f, 1.0f, 21);
    check_gradient("{CosineSimilarity: {axis: -1}}", soft, R, K, -1.0f, 1.0f, 22);

    /* kinked losses at chosen points: huber |e| on both sides of delta,
     * hinge margins on both sides of 0, categorical hinge without ties */
    const float zeros[R * K] = {0};
    const float he[R * K] = {0.3f, -0.2f, 1.4f, -2.5f, 0.9f, -0.7f,
                             3.0f, -1.2f, 0.05f, 0.6f, -0.4f, 2.2f};
    check_gradient_at("huber", zeros, he, R, K);
    check_gradient_at("{huber: {delta: 0.5}}", zeros, he, R, K);
    check_gradient_at("hinge", onehot, he, R, K);        /* 0/1 -> -1/1 */
    check_gradient_at("squared_hinge", onehot, he, R, K);
    const float pm[R * K] = {1, -1, -1, 1, 1, 1, -1, -1, 1, -1, 1, -1};
    check_gradient_at("hinge", pm, he, R, K);
    check_gradient_at("squared_hinge", pm, he, R, K);
    const float cp[R * K] = {0.2f, 0.7f, 0.1f, 0.4f, 0.9f, 0.3f,
                             0.35f, 0.15f, 0.5f, 0.1f, 0.45f, 0.8f};
    check_gradient_at("categorical_hinge", onehot, cp, R, K);
}
END_TEST

START_TEST(test_gradient_clips)
{
    /* Outside a clip range the gradient is 0 (TF's clip_by_value and
     * maximum gradients): kld for p > 1, msle for p < eps; mape and mae
     * have a zero gradient where p equals t. */
    float dy[3];
    const float t[3] = {0.5f, 0.5f, 0.0f}, p[3] = {1.5f, 0.3f, 0.2f};
    struct loss l = parsed("kld");
    loss_compute(&l, p, t, 1, 3, dy);
    ck_assert(dy[0] == 0.0f && dy[1] != 0.0f);
    const float mp[3] = {-0.5f, 0.5f, 1.0f}, mt[3] = {1, 1, 1};
    l = parsed("msle");
    loss_compute(&l, mp, mt, 1, 3, dy);
    ck_assert(dy[0] == 0.0f && dy[1] < 0.0f && dy[2] == 0.0f);
    l = parsed("mape");
    loss_compute(&l, mp, mt, 1, 3, dy);
    check_close(dy[0], -100.0 / 3, 1e-6);
    ck_assert(dy[2] == 0.0f);
    /* cosine of a zero prediction: finite, the l2_normalize floor */
    const float z[2] = {0, 0}, ct[2] = {1, 0};
    l = parsed("cosine_similarity");
    check_close(loss_compute(&l, z, ct, 1, 2, dy), 0.0, 0);
    ck_assert(isfinite(dy[0]) && isfinite(dy[1]));
}
END_TEST

START_TEST(test_gradient_overwrites)
{
    const float yp[2] = {0.3f, 0.7f}, yt[2] = {0, 1};
    float dy[2] = {100.0f, 100.0f};
    struct loss l = parsed("mse");
    loss_compute(&l, yp, yt, 1, 2, dy);
    check_close(dy[0], 2 * 0.3 / 2, 1e-6);
    check_close(dy[1], 2 * -0.3 / 2, 1e-6);
}
END_TEST

/* ---- parsing -------------------------------------------------------------- */

START_TEST(test_parse_names)
{
    static const struct {
        const char *text;
        enum loss_kind kind;
    } cases[] = {
        {"mse", LOSS_MSE},
        {"MSE", LOSS_MSE},
        {"mean_squared_error", LOSS_MSE},
        {"MeanSquaredError", LOSS_MSE},
        {"mae", LOSS_MAE},
        {"MAE", LOSS_MAE},
        {"MeanAbsoluteError", LOSS_MAE},
        {"bce", LOSS_BINARY_CE},
        {"BinaryCrossentropy", LOSS_BINARY_CE},
        {"CategoricalCrossentropy", LOSS_CATEGORICAL_CE},
        {"SparseCategoricalCrossentropy", LOSS_SPARSE_CE},
        {"{categorical_crossentropy: }", LOSS_CATEGORICAL_CE},
        {"mape", LOSS_MAPE},
        {"MAPE", LOSS_MAPE},
        {"mean_absolute_percentage_error", LOSS_MAPE},
        {"MeanAbsolutePercentageError", LOSS_MAPE},
        {"msle", LOSS_MSLE},
        {"MSLE", LOSS_MSLE},
        {"mean_squared_logarithmic_error", LOSS_MSLE},
        {"hinge", LOSS_HINGE},
        {"Hinge", LOSS_HINGE},
        {"squared_hinge", LOSS_SQUARED_HINGE},
        {"SquaredHinge", LOSS_SQUARED_HINGE},
        {"categorical_hinge", LOSS_CATEGORICAL_HINGE},
        {"CategoricalHinge", LOSS_CATEGORICAL_HINGE},
        {"kl_divergence", LOSS_KLD},
        {"kullback_leibler_divergence", LOSS_KLD},
        {"kld", LOSS_KLD},
        {"KLD", LOSS_KLD},
        {"KLDivergence", LOSS_KLD},
        {"poisson", LOSS_POISSON},
        {"Poisson", LOSS_POISSON},
        {"cosine_similarity", LOSS_COSINE},
        {"CosineSimilarity", LOSS_COSINE},
        {"huber", LOSS_HUBER},
        {"huber_loss", LOSS_HUBER},
        {"Huber", LOSS_HUBER},
        {"log_cosh", LOSS_LOG_COSH},
        {"logcosh", LOSS_LOG_COSH},
        {"LogCosh", LOSS_LOG_COSH},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct loss l = parsed(cases[i].text);
        ck_assert_int_eq(l.kind, cases[i].kind);
        ck_assert(!l.from_logits && l.label_smoothing == 0 && l.delta == 1.0);
    }
    struct loss l = parsed("mse");
    ck_assert_str_eq(loss_name(&l), "mean_squared_error");
    ck_assert_uint_eq(loss_target_width(&l, 5), 5);
    l = parsed("KLD");
    ck_assert_str_eq(loss_name(&l), "kl_divergence");
    ck_assert_str_eq(loss_tfjs_name(&l), "kullback_leibler_divergence");
    l = parsed("logcosh");
    ck_assert_str_eq(loss_name(&l), "log_cosh");
    ck_assert_str_eq(loss_tfjs_name(&l), "logcosh");
    l = parsed("cosine_similarity");
    ck_assert_str_eq(loss_tfjs_name(&l), "cosine_proximity");
    l = parsed("huber_loss");
    ck_assert_str_eq(loss_name(&l), "huber");
    ck_assert_ptr_null(loss_tfjs_name(&l)); /* tfjs has no huber */
}
END_TEST

START_TEST(test_parse_keras_config)
{
    /* What tf.keras 2 writes for CategoricalCrossentropy(from_logits=True). */
    struct loss l = parsed("{\"class_name\": \"CategoricalCrossentropy\", \"config\": "
                           "{\"reduction\": \"auto\", \"name\": \"categorical_crossentropy\", "
                           "\"from_logits\": true, \"label_smoothing\": 0.1, \"axis\": -1}}");
    ck_assert_int_eq(l.kind, LOSS_CATEGORICAL_CE);
    ck_assert(l.from_logits);
    check_close(l.label_smoothing, 0.1, 1e-15);
    l = parsed("{class_name: SparseCategoricalCrossentropy, config: {reduction: "
               "sum_over_batch_size, name: scce, from_logits: false, ignore_class: null}}");
    ck_assert_int_eq(l.kind, LOSS_SPARSE_CE);
    l = parsed("{class_name: Huber, config: {reduction: auto, name: huber_loss, delta: 0.25}}");
    ck_assert(l.kind == LOSS_HUBER && l.delta == 0.25);
    l = parsed("{class_name: CosineSimilarity, config: {reduction: auto, name: cosine_similarity, "
               "axis: -1}}");
    ck_assert_int_eq(l.kind, LOSS_COSINE);
    l = parsed("{class_name: KLDivergence, config: {reduction: auto, name: kl_divergence}}");
    ck_assert_int_eq(l.kind, LOSS_KLD);
}
END_TEST

START_TEST(test_parse_errors)
{
    expect_error("{mse: {}, mae: {}}",
                 "t.yaml:1:1: a loss is a name (categorical_crossentropy), a one-key map "
                 "{name: {arguments}}, or {class_name: ..., config: {...}}");
    expect_error("categorical_crossentropy:\n  from_logit: true\n",
                 "t.yaml:2:3: unknown key 'from_logit' in loss 'categorical_crossentropy' (did "
                 "you mean 'from_logits'?)");
    expect_error("categorical_crosentropy", "t.yaml:1:1: unknown loss 'categorical_crosentropy' "
                                            "(did you mean 'categorical_crossentropy'?)");
    expect_error("binary_focal_crossentropy",
                 "t.yaml:1:1: loss 'binary_focal_crossentropy' is not supported yet");
    expect_error("{huber: {delta: -1}}", "t.yaml:1:17: delta must be a positive number, got -1");
    expect_error("{hinge: {from_logits: true}}",
                 "t.yaml:1:10: unknown key 'from_logits' in loss 'hinge'");
    expect_error("{Hinge: {delta: 2}}", "t.yaml:1:10: unknown key 'delta' in loss 'Hinge'");
    expect_error("{CosineSimilarity: {axis: 0}}",
                 "t.yaml:1:27: axis 0 is not supported yet (only -1)");
    expect_error("kl_divergance",
                 "t.yaml:1:1: unknown loss 'kl_divergance' (did you mean 'kl_divergence'?)");
    expect_error("sparse_categorical_crossentropy:\n  from_logits: true\n  label_smoothing: 0.1\n",
                 "t.yaml:3:3: sparse_categorical_crossentropy has no label_smoothing in tf.keras "
                 "2 (use categorical_crossentropy with one-hot targets)");
    expect_error("{binary_crossentropy: {label_smoothing: 1.5}}",
                 "t.yaml:1:41: label_smoothing must be in [0, 1], got 1.5");
    expect_error("{binary_crossentropy: {from_logits: maybe}}",
                 "t.yaml:1:37: expected true or false, found 'maybe'");
    /* reduction and name belong to the class form only, as in Keras */
    expect_error("{binary_crossentropy: {reduction: auto}}",
                 "t.yaml:1:24: unknown key 'reduction' in loss 'binary_crossentropy'");
    expect_error("{class_name: BinaryCrossentropy, config: {reduction: sum}}",
                 "t.yaml:1:54: reduction 'sum' is not supported yet (only 'auto' and "
                 "'sum_over_batch_size')");
    expect_error("{class_name: BinaryCrossentropy, config: {reduction: autoo}}",
                 "t.yaml:1:54: unknown reduction 'autoo' (did you mean 'auto'?)");
    expect_error("{BinaryCrossentropy: {axis: 1}}",
                 "t.yaml:1:29: axis 1 is not supported yet (only -1)");
    expect_error("{sparse_categorical_crossentropy: {ignore_class: 0}}",
                 "t.yaml:1:50: ignore_class is not supported yet (only null)");
    expect_error("{mse: 3}", "t.yaml:1:7: the arguments of loss 'mse' must be a map, found '3'");
    expect_error("{class_name: Hubber, config: {}}",
                 "t.yaml:1:14: unknown loss 'Hubber' (did you mean 'huber'?)");
    expect_error("{class_name: Hinge, config: {reduction: auto, name: hinge, delta: 1}}",
                 "t.yaml:1:60: unknown key 'delta' in loss 'Hinge'");
}
END_TEST

START_TEST(test_json)
{
    struct loss l = parsed("mse");
    char *s = json_of(&l);
    ck_assert_str_eq(s, "\"mean_squared_error\"");
    free(s);
    l = parsed("{categorical_crossentropy: {from_logits: false, label_smoothing: 0}}");
    s = json_of(&l);
    ck_assert_str_eq(s, "\"categorical_crossentropy\"");
    free(s);
    l = parsed("{categorical_crossentropy: {from_logits: true}}");
    s = json_of(&l);
    ck_assert_str_eq(s, "{\"class_name\": \"CategoricalCrossentropy\", \"config\": "
                        "{\"reduction\": \"auto\", \"name\": \"categorical_crossentropy\", "
                        "\"from_logits\": true, \"label_smoothing\": 0.0, \"axis\": -1}}");
    free(s);
    l = parsed("{bce: {label_smoothing: 0.1}}");
    s = json_of(&l);
    ck_assert_str_eq(s, "{\"class_name\": \"BinaryCrossentropy\", \"config\": "
                        "{\"reduction\": \"auto\", \"name\": \"binary_crossentropy\", "
                        "\"from_logits\": false, \"label_smoothing\": 0.1, \"axis\": -1}}");
    free(s);
    l = parsed("{sparse_categorical_crossentropy: {from_logits: true}}");
    s = json_of(&l);
    ck_assert_str_eq(s, "{\"class_name\": \"SparseCategoricalCrossentropy\", \"config\": "
                        "{\"reduction\": \"auto\", \"name\": \"sparse_categorical_crossentropy\", "
                        "\"from_logits\": true, \"ignore_class\": null}}");
    free(s);
    l = parsed("{huber: {delta: 2.5}}");
    s = json_of(&l);
    ck_assert_str_eq(s, "{\"class_name\": \"Huber\", \"config\": {\"reduction\": \"auto\", "
                        "\"name\": \"huber_loss\", \"delta\": 2.5}}");
    free(s);
}
END_TEST

/* Every loss reads back from what loss_to_json writes (checkpoints). */
START_TEST(test_json_round_trip)
{
    const char *specs[] = {
        "mse", "MAE", "mape", "MSLE", "bce", "{binary_crossentropy: {label_smoothing: 0.1}}",
        "{BinaryCrossentropy: {from_logits: true}}", "categorical_crossentropy",
        "{categorical_crossentropy: {from_logits: true, label_smoothing: 0.2}}",
        "sparse_categorical_crossentropy", "{SparseCategoricalCrossentropy: {from_logits: true}}",
        "hinge", "SquaredHinge", "categorical_hinge", "KLD", "poisson", "CosineSimilarity",
        "huber", "{Huber: {delta: 0.75}}", "logcosh",
    };
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        struct loss a = parsed(specs[i]);
        char *s = json_of(&a);
        struct loss b = parsed(s);
        ck_assert_msg(a.kind == b.kind && a.from_logits == b.from_logits &&
                          a.label_smoothing == b.label_smoothing && a.delta == b.delta,
                      "%s -> %s", specs[i], s);
        free(s);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("loss");
    TCase *tc = tcase_create("loss");
    tcase_add_test(tc, test_mse_mae_values);
    tcase_add_test(tc, test_binary_values);
    tcase_add_test(tc, test_categorical_values);
    tcase_add_test(tc, test_sparse_values);
    tcase_add_test(tc, test_regression_values);
    tcase_add_test(tc, test_hinge_values);
    tcase_add_test(tc, test_kld_cosine_values);
    tcase_add_test(tc, test_rows_are_mean_of_rows);
    tcase_add_test(tc, test_clipping_is_finite);
    tcase_add_test(tc, test_gradients);
    tcase_add_test(tc, test_gradient_clips);
    tcase_add_test(tc, test_gradient_overwrites);
    tcase_add_test(tc, test_parse_names);
    tcase_add_test(tc, test_parse_keras_config);
    tcase_add_test(tc, test_parse_errors);
    tcase_add_test(tc, test_json);
    tcase_add_test(tc, test_json_round_trip);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
