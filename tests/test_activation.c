/* activation: names, forward values against Keras's documented outputs,
 * softmax normalisation and stability, finite-difference gradients of every
 * kind, and the aliasing/overwrite contract of backward. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../src/activation.h"
#include "gradcheck.h"
#include "fixtures.h"

START_TEST(test_names)
{
    size_t n;
    const char *const *names = activation_names(&n);
    ck_assert_uint_eq(n, ACT_COUNT + 1);
    for (size_t i = 0; i < n; i++) {
        enum act_kind k;
        ck_assert_int_eq(activation_parse(names[i], &k), 0);
        const char *want = strcmp(names[i], "silu") == 0 ? "swish" : names[i];
        ck_assert_str_eq(activation_name(k), want);
    }
    for (int k = 0; k < ACT_COUNT; k++) { /* every kind has its own name */
        enum act_kind back;
        ck_assert_int_eq(activation_parse(activation_name((enum act_kind)k), &back), 0);
        ck_assert_int_eq(back, k);
    }
    enum act_kind k = ACT_TANH;
    ck_assert_int_eq(activation_parse("silu", &k), 0);
    ck_assert_int_eq(k, ACT_SWISH);
    ck_assert_int_eq(activation_parse("leaky_relu", &k), 0);
    ck_assert_int_eq(k, ACT_LEAKY_RELU);
    /* Keras looks names up case-sensitively. */
    ck_assert_int_eq(activation_parse("relux", &k), -1);
    ck_assert_int_eq(activation_parse("Relu", &k), -1);
    ck_assert_int_eq(activation_parse("", &k), -1);
    ck_assert_int_eq(activation_parse("softmax_v2", &k), -1);
}
END_TEST

static void check_forward(enum act_kind k, const float *x, const float *want, size_t n)
{
    float y[8];
    ck_assert_uint_le(n, 8);
    activation_forward(k, x, y, 1, n);
    for (size_t i = 0; i < n; i++) {
        double tol = 1e-6 + 2e-6 * fabs(want[i]);
        ck_assert_msg(fabs(y[i] - want[i]) <= tol, "%s(%g) = %.9g, want %.9g",
                      activation_name(k), x[i], y[i], want[i]);
    }
}

/* Expected values are the docstring examples of tf.keras 2
 * keras/activations.py (float32 outputs printed by TensorFlow), and hand
 * computations for elu, selu, relu6, leaky_relu. */
START_TEST(test_forward_values)
{
    const float a[] = {-20, -1, 0, 1, 20};
    const float b[] = {-3, -1, 0, 1, 3};
    check_forward(ACT_SIGMOID, a,
                  (const float[]){2.0611537e-09f, 0.26894143f, 0.5f, 0.7310586f, 1.0f}, 5);
    check_forward(ACT_SOFTPLUS, a,
                  (const float[]){2.0611537e-09f, 0.31326166f, 0.69314718f, 1.3132616f, 20}, 5);
    check_forward(ACT_SWISH, a,
                  (const float[]){-4.1223075e-08f, -0.26894143f, 0, 0.7310586f, 20}, 5);
    check_forward(ACT_TANH, b,
                  (const float[]){-0.9950547f, -0.7615942f, 0, 0.7615942f, 0.9950547f}, 5);
    check_forward(ACT_EXPONENTIAL, b,
                  (const float[]){0.04978707f, 0.36787945f, 1, 2.7182817f, 20.085537f}, 5);
    check_forward(ACT_HARD_SIGMOID, b, (const float[]){0, 0.3f, 0.5f, 0.7f, 1}, 5);
    check_forward(ACT_GELU, b,
                  (const float[]){-0.00404951f, -0.15865529f, 0, 0.8413447f, 2.9959507f}, 5);
    check_forward(ACT_LINEAR, b, b, 5);
    check_forward(ACT_SOFTSIGN, (const float[]){-1, 0, 1, 3},
                  (const float[]){-0.5f, 0, 0.5f, 0.75f}, 4);
    check_forward(ACT_RELU, (const float[]){-10, -5, 0, 5, 10},
                  (const float[]){0, 0, 0, 5, 10}, 5);
    check_forward(ACT_RELU6, (const float[]){-1, 0, 3, 6, 7}, (const float[]){0, 0, 3, 6, 6}, 5);
    check_forward(ACT_LEAKY_RELU, (const float[]){-1, 0, 2}, (const float[]){-0.2f, 0, 2}, 3);
    /* elu(-1) = e^-1 - 1; selu(x) = 1.0507009873554805 (x or 1.6732632423543772 (e^x - 1)) */
    check_forward(ACT_ELU, (const float[]){-1, 0, 2}, (const float[]){-0.63212056f, 0, 2}, 3);
    check_forward(ACT_SELU, (const float[]){-1, 0, 1},
                  (const float[]){-1.1113307f, 0, 1.0507010f}, 3);
    /* Stable tails: no inf/nan far out. */
    const float far[] = {-100, 100};
    check_forward(ACT_SOFTPLUS, far, (const float[]){3.7200760e-44f, 100}, 2);
    check_forward(ACT_SIGMOID, far, (const float[]){3.7200760e-44f, 1}, 2);
    check_forward(ACT_SWISH, far, (const float[]){-3.7200760e-42f, 100}, 2);
}
END_TEST

/* tanh, ELU and SELU use approx_math.h's vectorized exp, expm1 and tanh:
 * against double-precision libm on a dense grid they stay within 4 float
 * ulps (relative 2.4e-7 of the result, or 1e-37 near 0), keep tiny inputs
 * exact (tanh x = x, e^x - 1 = x), saturate, and pass NaN through. */
START_TEST(test_forward_accuracy)
{
    enum { N = 40001 };
    static float z[N], y[N];
    const enum act_kind kinds[] = {ACT_TANH, ACT_ELU, ACT_SELU};
    for (size_t k = 0; k < 3; k++) {
        for (size_t i = 0; i < N; i++)
            z[i] = -20.0f + 40.0f * (float)i / (N - 1);
        activation_forward(kinds[k], z, y, 1, N);
        for (size_t i = 0; i < N; i++) {
            double x = z[i], want;
            if (kinds[k] == ACT_TANH)
                want = tanh(x);
            else if (kinds[k] == ACT_ELU)
                want = x > 0 ? x : expm1(x);
            else
                want = 1.0507009873554804934 * (x > 0 ? x : 1.6732632423543772848 * expm1(x));
            double err = fabs(y[i] - want), tol = 2.4e-7 * fabs(want) + 1e-37;
            ck_assert_msg(err <= tol, "%s(%.9g) = %.9g, want %.9g", activation_name(kinds[k]), x,
                          (double)y[i], want);
        }
        const float tiny[] = {1e-30f, -1e-30f, -1e-8f, 0.0f};
        float out[4];
        activation_forward(kinds[k], tiny, out, 1, 4);
        if (kinds[k] != ACT_SELU)
            for (size_t i = 0; i < 4; i++)
                ck_assert_float_eq(out[i], tiny[i]);
        const float edge[] = {NAN, -200.0f, 200.0f};
        activation_forward(kinds[k], edge, out, 1, 3);
        ck_assert(isnan(out[0]));
        ck_assert(isfinite(out[1]) && isfinite(out[2]));
    }
    /* in place, as Dense applies them */
    for (size_t i = 0; i < N; i++)
        y[i] = z[i] = -3.0f + 6.0f * (float)i / (N - 1);
    activation_forward(ACT_TANH, y, y, 1, N);
    for (size_t i = 0; i < N; i++)
        ck_assert(fabs(y[i] - tanh(z[i])) <= 2.4e-7 * fabs(tanh(z[i])) + 1e-37);
}
END_TEST

START_TEST(test_softmax)
{
    /* (3, 4) rows: ordinary, huge (1000), and very negative logits */
    float z[12] = {1, 2, 3, 4, 1000, 999, 998, 1000, -1000, 0, -1000, -5};
    float y[12];
    activation_forward(ACT_SOFTMAX, z, y, 3, 4);
    for (int r = 0; r < 3; r++) {
        double sum = 0;
        for (int j = 0; j < 4; j++) {
            ck_assert(isfinite(y[r * 4 + j]) && y[r * 4 + j] >= 0);
            sum += y[r * 4 + j];
        }
        ck_assert_double_eq_tol(sum, 1.0, 1e-6);
    }
    /* softmax(1, 2, 3, 4) = e^k / sum, computed by hand */
    const double e[4] = {exp(1), exp(2), exp(3), exp(4)};
    double s = e[0] + e[1] + e[2] + e[3];
    for (int j = 0; j < 4; j++)
        ck_assert_double_eq_tol(y[j], e[j] / s, 1e-7);
    /* shift invariance: (1000, 999, 998, 1000) == (2, 1, 0, 2) */
    float small[4] = {2, 1, 0, 2}, ys[4];
    activation_forward(ACT_SOFTMAX, small, ys, 1, 4);
    for (int j = 0; j < 4; j++)
        ck_assert_float_eq_tol(y[4 + j], ys[j], 1e-7f);
    ck_assert_float_eq(y[8], 0.0f);
    ck_assert_float_eq_tol(y[9], (float)(1 / (1 + exp(-5.0))), 1e-7f);

    /* in place (y aliasing z) gives the same result */
    activation_forward(ACT_SOFTMAX, z, z, 3, 4);
    ck_assert(memcmp(z, y, sizeof y) == 0);
}
END_TEST

/* ---- gradient checks ---- */

enum { ROWS = 4, COLS = 5, N = ROWS * COLS };

struct gc_ctx {
    enum act_kind k;
    const float *c; /* weights of the scalar objective */
};

/* f(x) = sum_i c_i act(x)_i, so df/dx = backward(dy = c). */
static double objective(void *vctx, const float *x)
{
    const struct gc_ctx *ctx = vctx;
    float y[N];
    activation_forward(ctx->k, x, y, ROWS, COLS);
    double f = 0;
    for (int i = 0; i < N; i++)
        f += (double)ctx->c[i] * y[i];
    return f;
}

/* Keeps x at least 0.1 from every kink of any kind (0, +-2.5, 6). */
static void avoid_kinks(float *x, size_t n)
{
    static const float kinks[] = {0, -2.5f, 2.5f, 6};
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < sizeof kinks / sizeof kinks[0]; j++)
            if (fabsf(x[i] - kinks[j]) < 0.05f)
                x[i] = kinks[j] + (x[i] < kinks[j] ? -0.1f : 0.1f);
}

START_TEST(test_gradients)
{
    enum act_kind k = (enum act_kind)_i;
    float x[N], c[N], y[N], dz[N];
    gc_fill_uniform(x, N, -4, 7, 100 + (unsigned)k); /* spans relu6's upper kink */
    gc_fill_uniform(c, N, -1, 1, 200);
    avoid_kinks(x, N);
    activation_forward(k, x, y, ROWS, COLS);
    activation_backward(k, x, y, c, dz, ROWS, COLS);
    struct gc_ctx ctx = {k, c};
    char report[256] = "";
    int rc = gradcheck(objective, &ctx, x, N, dz, 1e-3, 1e-3, 5e-3, report, sizeof report);
    ck_assert_msg(rc == 0, "%s: %s", activation_name(k), report);
}
END_TEST

/* The gradient of softmax also checks with large logits. */
START_TEST(test_softmax_gradient_large)
{
    float x[N], c[N], y[N], dz[N];
    gc_fill_uniform(x, N, 995, 1000, 7);
    gc_fill_uniform(c, N, -1, 1, 8);
    activation_forward(ACT_SOFTMAX, x, y, ROWS, COLS);
    activation_backward(ACT_SOFTMAX, x, y, c, dz, ROWS, COLS);
    struct gc_ctx ctx = {ACT_SOFTMAX, c};
    char report[256] = "";
    /* eps is coarse here: float spacing near 1000 is 6e-5 */
    int rc = gradcheck(objective, &ctx, x, N, dz, 2e-2, 1e-3, 1e-2, report, sizeof report);
    ck_assert_msg(rc == 0, "softmax at 1000: %s", report);
}
END_TEST

/* dz is written, not accumulated, and may alias z. */
START_TEST(test_backward_alias)
{
    enum act_kind k = (enum act_kind)_i;
    float z[N], y[N], dy[N], dz[N], buf[N];
    gc_fill_uniform(z, N, -3, 3, 300);
    gc_fill_uniform(dy, N, -1, 1, 301);
    activation_forward(k, z, y, ROWS, COLS);
    for (int i = 0; i < N; i++)
        dz[i] = 1e6f; /* stale values must be overwritten */
    activation_backward(k, z, y, dy, dz, ROWS, COLS);
    for (int i = 0; i < N; i++)
        ck_assert(isfinite(dz[i]) && fabsf(dz[i]) < 1e5f);
    memcpy(buf, z, sizeof z);
    activation_backward(k, buf, y, dy, buf, ROWS, COLS);
    ck_assert_msg(memcmp(buf, dz, sizeof dz) == 0, "%s: dz aliasing z differs",
                  activation_name(k));
    /* forward in place matches too */
    memcpy(buf, z, sizeof z);
    activation_forward(k, buf, buf, ROWS, COLS);
    ck_assert_msg(memcmp(buf, y, sizeof y) == 0, "%s: in-place forward differs",
                  activation_name(k));
}
END_TEST

/* Derivatives at and around the kinks take the sides TF's kernels take. */
START_TEST(test_kink_sides)
{
    const float z[] = {0, 6, -2.5f, 2.5f};
    const float dy[] = {1, 1, 1, 1};
    float y[4], dz[4];
    activation_forward(ACT_RELU, z, y, 1, 4);
    activation_backward(ACT_RELU, z, y, dy, dz, 1, 4);
    ck_assert_float_eq(dz[0], 0);
    ck_assert_float_eq(dz[1], 1);
    activation_forward(ACT_RELU6, z, y, 1, 4);
    activation_backward(ACT_RELU6, z, y, dy, dz, 1, 4);
    ck_assert_float_eq(dz[0], 0);
    ck_assert_float_eq(dz[1], 0);
    ck_assert_float_eq(dz[3], 1);
    activation_forward(ACT_LEAKY_RELU, z, y, 1, 4);
    activation_backward(ACT_LEAKY_RELU, z, y, dy, dz, 1, 4);
    ck_assert_float_eq_tol(dz[0], 0.2f, 1e-7f);
    ck_assert_float_eq_tol(dz[2], 0.2f, 1e-7f);
    activation_forward(ACT_HARD_SIGMOID, z, y, 1, 4);
    activation_backward(ACT_HARD_SIGMOID, z, y, dy, dz, 1, 4);
    ck_assert_float_eq_tol(dz[0], 0.2f, 1e-7f);
    ck_assert_float_eq(dz[1], 0);
}
END_TEST

static Suite *activation_suite(void)
{
    Suite *s = suite_create("activation");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_names);
    tcase_add_test(tc, test_forward_values);
    tcase_add_test(tc, test_forward_accuracy);
    tcase_add_test(tc, test_softmax);
    tcase_add_loop_test(tc, test_gradients, 0, ACT_COUNT);
    tcase_add_test(tc, test_softmax_gradient_large);
    tcase_add_loop_test(tc, test_backward_alias, 0, ACT_COUNT);
    tcase_add_test(tc, test_kink_sides);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(activation_suite());
}
