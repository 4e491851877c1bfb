/* Regularizers and constraints: every accepted form with Keras's defaults,
 * penalties and gradients on hand-computed cases, the projections of each
 * constraint (against norms computed here), located errors, the Keras
 * serialization, and both through a model: the penalty is part of the loss
 * (gradient-checked) and constraints hold after an update. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/constraint.h"
#include "../src/regularizer.h"
#include "gradcheck.h"
#include "netcheck.h"
#include "fixtures.h"

static struct spec_doc doc;

static const struct spec_node *parse_yaml(const char *text)
{
    struct diag d = {{0}};
    ck_assert_msg(spec_load_string(&doc, "t.yaml", text, strlen(text), &d) == 0, "%s", d.msg);
    ck_assert_ptr_nonnull(doc.root);
    return doc.root;
}

static struct regularizer reg_ok(const char *text)
{
    struct regularizer r;
    struct diag d = {{0}};
    ck_assert_msg(regularizer_parse(parse_yaml(text), &r, &d) == 0, "%s: %s", text, d.msg);
    spec_free(&doc);
    return r;
}

static const char *reg_err(const char *text)
{
    static struct diag d;
    struct regularizer r;
    ck_assert_msg(regularizer_parse(parse_yaml(text), &r, &d) == -1, "%s parsed", text);
    spec_free(&doc);
    return d.msg;
}

static struct constraint con_ok(const char *text)
{
    struct constraint c;
    struct diag d = {{0}};
    ck_assert_msg(constraint_parse(parse_yaml(text), &c, &d) == 0, "%s: %s", text, d.msg);
    spec_free(&doc);
    c.where = NULL;
    return c;
}

static const char *con_err(const char *text)
{
    static struct diag d;
    struct constraint c;
    ck_assert_msg(constraint_parse(parse_yaml(text), &c, &d) == -1, "%s parsed", text);
    spec_free(&doc);
    return d.msg;
}

/* Keras casts factors to float32: 0.01 is 0.009999999776482582. */
#define F32(x) ((double)(float)(x))

START_TEST(test_regularizer_forms)
{
    static const struct {
        const char *text;
        double l1, l2;
    } cases[] = {
        {"l1", F32(0.01), 0},
        {"l2", 0, F32(0.01)},
        {"l1_l2", F32(0.01), F32(0.01)},
        {"L1L2", 0, 0},
        {"{l2: 0.001}", 0, F32(0.001)},
        {"{l1: 0.5, l2: 0.25}", 0.5, 0.25},
        {"{l1_l2: {l2: 0.3}}", F32(0.01), F32(0.3)},
        {"{l1: {l1: 0.2}}", F32(0.2), 0},
        {"{class_name: L2, config: {l2: 0.02}}", 0, F32(0.02)},
        {"{class_name: L1, config: {}}", F32(0.01), 0},
        {"{class_name: L1L2, config: {l1: 0.0, l2: 0.009999999776482582}}", 0, F32(0.01)},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct regularizer r = reg_ok(cases[i].text);
        ck_assert_msg(r.set, "%s", cases[i].text);
        ck_assert_msg(r.l1 == cases[i].l1 && r.l2 == cases[i].l2, "%s: l1 %.17g l2 %.17g",
                      cases[i].text, r.l1, r.l2);
    }
    ck_assert(!reg_ok("null").set);
}
END_TEST

START_TEST(test_regularizer_errors)
{
    ck_assert_str_eq(reg_err("l3"), "t.yaml:1:1: unknown regularizer 'l3' (did you mean 'l1'?)");
    ck_assert_str_eq(reg_err("{l2: -1}"),
                     "t.yaml:1:6: a regularization factor must be finite and 0 or more");
    ck_assert_str_eq(reg_err("{l2: {l1: 0.1}}"),
                     "t.yaml:1:7: unknown argument 'l1' for regularizer 'l2'");
    ck_assert_str_eq(reg_err("{class_name: L2, config: {l2: x}}"),
                     "t.yaml:1:31: expected a number, found 'x'");
    ck_assert(strstr(reg_err("[1, 2]"), "expected a regularizer"));
}
END_TEST

START_TEST(test_regularizer_penalty)
{
    const float w[] = {1.5f, -2.0f, 0.0f, 0.5f};
    struct regularizer r = {true, 0.1, 0.01};
    /* 0.1 * 4 + 0.01 * (2.25 + 4 + 0 + 0.25) */
    ck_assert_double_eq_tol(regularizer_penalty(&r, w, 4), 0.4 + 0.065, 1e-9);
    float dw[4] = {1, 1, 1, 1};
    regularizer_gradient(&r, w, dw, 4, 2.0f);
    /* 1 + 2 * (0.1 sign(w) + 0.02 w); sign(0) = 0 */
    const float want[] = {1 + 2 * (0.1f + 0.03f), 1 + 2 * (-0.1f - 0.04f), 1, 1 + 2 * (0.1f + 0.01f)};
    for (int i = 0; i < 4; i++)
        ck_assert_float_eq_tol(dw[i], want[i], 1e-6f);
    struct regularizer none = {false, 0, 0};
    ck_assert(regularizer_penalty(&none, w, 4) == 0);
}
END_TEST

static char *to_json(void (*write)(const void *, struct json *), const void *x)
{
    static char buf[512];
    FILE *f = fmemopen(buf, sizeof buf, "w");
    ck_assert_ptr_nonnull(f);
    struct json j;
    json_init(&j, f);
    write(x, &j);
    fclose(f);
    return buf;
}

static void write_reg(const void *x, struct json *j) { regularizer_to_json(x, j); }
static void write_con(const void *x, struct json *j) { constraint_to_json(x, j); }

START_TEST(test_serialization)
{
    struct regularizer r = reg_ok("l2");
    ck_assert_str_eq(to_json(write_reg, &r),
                     "{\"class_name\": \"L1L2\", \"config\": {\"l1\": 0.0, \"l2\": 0.009999999776482582}}");
    struct constraint c = con_ok("max_norm");
    ck_assert_str_eq(to_json(write_con, &c),
                     "{\"class_name\": \"MaxNorm\", \"config\": {\"max_value\": 2.0, \"axis\": 0}}");
    c = con_ok("{min_max_norm: {min_value: 0.5, axis: [0, 1]}}");
    ck_assert_str_eq(to_json(write_con, &c),
                     "{\"class_name\": \"MinMaxNorm\", \"config\": {\"min_value\": 0.5, "
                     "\"max_value\": 1.0, \"rate\": 1.0, \"axis\": [0, 1]}}");
    c = con_ok("NonNeg");
    ck_assert_str_eq(to_json(write_con, &c), "{\"class_name\": \"NonNeg\", \"config\": {}}");
    c = con_ok("{class_name: UnitNorm, config: {axis: 1}}");
    ck_assert_str_eq(to_json(write_con, &c),
                     "{\"class_name\": \"UnitNorm\", \"config\": {\"axis\": 1}}");
}
END_TEST

START_TEST(test_constraint_errors)
{
    ck_assert_str_eq(con_err("max_nrom"),
                     "t.yaml:1:1: unknown constraint 'max_nrom' (did you mean 'max_norm'?)");
    ck_assert_str_eq(con_err("{max_norm: {max_value: -1}}"),
                     "t.yaml:1:24: expected a finite number 0 or more");
    ck_assert_str_eq(con_err("{non_neg: {axis: 0}}"),
                     "t.yaml:1:12: unknown argument 'axis' for constraint 'non_neg'");
    ck_assert_str_eq(con_err("{min_max_norm: {min_value: 2, max_value: 1}}"),
                     "t.yaml:1:16: min_max_norm: min_value is larger than max_value");
}
END_TEST

/* Norms over `axes` computed the plain way on a (3, 4) matrix. */
static double column_norm(const float *w, size_t col)
{
    double s = 0;
    for (size_t r = 0; r < 3; r++)
        s += (double)w[r * 4 + col] * w[r * 4 + col];
    return sqrt(s);
}

START_TEST(test_constraint_apply)
{
    const struct shape s = {2, {3, 4}};
    float w[12], orig[12];
    gc_fill_uniform(orig, 12, -2, 2, 5);

    /* max_norm(2) on axis 0: columns longer than 2 are scaled to 2 (up to
     * Keras's epsilon), shorter ones are kept. */
    memcpy(w, orig, sizeof w);
    struct constraint c = con_ok("max_norm");
    constraint_apply(&c, w, &s);
    for (size_t col = 0; col < 4; col++) {
        double before = column_norm(orig, col), after = column_norm(w, col);
        double want = before > 2 ? 2 * before / (before + 1e-7) : before * before / (before + 1e-7);
        ck_assert_msg(fabs(after - want) < 1e-5, "col %zu: %g -> %g, want %g", col, before, after,
                      want);
        /* Direction unchanged. */
        for (size_t r = 0; r < 3; r++)
            ck_assert_float_eq_tol(w[r * 4 + col] * (float)before,
                                   orig[r * 4 + col] * (float)after, 1e-4f);
    }

    /* unit_norm on axis 1: every row has norm 1. */
    memcpy(w, orig, sizeof w);
    c = con_ok("{unit_norm: {axis: 1}}");
    constraint_apply(&c, w, &s);
    for (size_t r = 0; r < 3; r++) {
        double n = 0;
        for (size_t k = 0; k < 4; k++)
            n += (double)w[r * 4 + k] * w[r * 4 + k];
        ck_assert_double_eq_tol(sqrt(n), 1, 1e-5);
    }

    /* min_max_norm with rate 0.5 on both axes: one norm for the whole matrix. */
    memcpy(w, orig, sizeof w);
    c = con_ok("{min_max_norm: {min_value: 10, max_value: 20, rate: 0.5, axis: [0, -1]}}");
    constraint_apply(&c, w, &s);
    double total = 0, after = 0;
    for (int i = 0; i < 12; i++) {
        total += (double)orig[i] * orig[i];
        after += (double)w[i] * w[i];
    }
    double n = sqrt(total), want = (0.5 * 10 + 0.5 * n) / (1e-7 + n) * n;
    ck_assert_msg(n < 10, "fixture: norm %g should be under min_value", n);
    ck_assert_double_eq_tol(sqrt(after), want, 1e-4);

    /* non_neg zeroes the negatives only. */
    memcpy(w, orig, sizeof w);
    c = con_ok("non_neg");
    constraint_apply(&c, w, &s);
    for (int i = 0; i < 12; i++)
        ck_assert(w[i] == (orig[i] < 0 ? 0 : orig[i]));
}
END_TEST

/* A 4-D kernel with axis [0, 1, 2]: one norm per output filter. */
START_TEST(test_constraint_conv_kernel)
{
    const struct shape s = {4, {2, 3, 2, 5}};
    float w[60];
    gc_fill_uniform(w, 60, -1, 1, 9);
    struct constraint c = con_ok("{max_norm: {max_value: 0.5, axis: [0, 1, 2]}}");
    constraint_apply(&c, w, &s);
    for (int f = 0; f < 5; f++) {
        double n = 0;
        for (int i = 0; i < 12; i++)
            n += (double)w[i * 5 + f] * w[i * 5 + f];
        ck_assert_double_eq_tol(sqrt(n), 0.5, 1e-5);
    }
}
END_TEST

/* ---- through a model ---- */

static const char *const regularized =
    "layers:\n"
    "  - Dense: {units: 5, activation: tanh, input_shape: [4], kernel_regularizer: l1_l2,\n"
    "            bias_regularizer: {l2: 0.3}, activity_regularizer: {l1: 0.05, l2: 0.02}}\n"
    "  - Dense: {units: 3, kernel_regularizer: {l1: 0.2}, activity_regularizer: l2}\n"
    "compile: {loss: mse}\n";

START_TEST(test_model_gradients)
{
    /* forward_loss adds model_penalty, so this checks every penalty's
     * gradient against central differences. */
    check_model(regularized, 3, false, "regularized dense");
}
END_TEST

START_TEST(test_model_penalty_value)
{
    struct net n;
    net_load(&n, regularized);
    net_prepare(&n, 3, false, -2, 2);
    forward_loss(&n);
    double want = 0;
    const struct layer *d0 = &n.m.layers[1], *d1 = &n.m.layers[2];
    const float *k0 = n.m.w + d0->params[0].offset, *b0 = n.m.w + d0->params[1].offset;
    const float *k1 = n.m.w + d1->params[0].offset;
    for (int i = 0; i < 20; i++)
        want += (double)(float)0.01 * fabs(k0[i]) + (double)(float)0.01 * k0[i] * k0[i];
    for (int i = 0; i < 5; i++)
        want += (double)(float)0.3 * b0[i] * b0[i];
    for (int i = 0; i < 15; i++)
        want += (double)(float)0.2 * fabs(k1[i]);
    /* Activity penalties are divided by the batch size (Keras). */
    double a0 = 0, a1 = 0;
    for (int i = 0; i < 15; i++)
        a0 += (double)(float)0.05 * fabs(n.m.nodes[1].y[i]) +
              (double)(float)0.02 * n.m.nodes[1].y[i] * n.m.nodes[1].y[i];
    for (int i = 0; i < 9; i++)
        a1 += (double)(float)0.01 * n.m.nodes[2].y[i] * n.m.nodes[2].y[i];
    want += (a0 + a1) / 3;
    ck_assert_double_eq_tol(model_penalty(&n.m, 3), want, 1e-6 * want);
    /* The training loss is the data loss plus the penalty. */
    double data = loss_compute(&n.m.compile.out[0].loss, n.m.output->y, n.t, 3, 3, NULL);
    ck_assert_double_eq_tol(model_backward(&n.m, 3, n.t), data + want, 1e-6 * (data + want));
    net_free(&n);
}
END_TEST

START_TEST(test_model_constraints)
{
    struct net n;
    net_load(&n, "layers:\n"
                 "  - Dense: {units: 5, input_shape: [4], kernel_constraint: {max_norm: 0.3},\n"
                 "            bias_constraint: non_neg}\n"
                 "  - Dense: {units: 2, trainable: false, kernel_constraint: non_neg}\n"
                 "compile: {loss: mse}\n");
    net_prepare(&n, 2, false, -2, 2);
    const struct param *k = &n.m.layers[1].params[0], *b = &n.m.layers[1].params[1];
    const struct param *frozen = &n.m.layers[2].params[0];
    bool negative = false;
    for (size_t i = 0; i < 10; i++)
        negative |= n.m.w[frozen->offset + i] < 0;
    ck_assert_msg(negative, "fixture: the frozen kernel should have negative weights");
    model_apply_constraints(&n.m);
    for (size_t col = 0; col < 5; col++) {
        double s = 0;
        for (size_t r = 0; r < 4; r++)
            s += pow(n.m.w[k->offset + r * 5 + col], 2);
        ck_assert_msg(sqrt(s) <= 0.3 + 1e-6, "column %zu norm %g", col, sqrt(s));
    }
    for (size_t i = 0; i < 5; i++)
        ck_assert(n.m.w[b->offset + i] >= 0);
    /* A frozen layer's weights are never touched. */
    negative = false;
    for (size_t i = 0; i < 10; i++)
        negative |= n.m.w[frozen->offset + i] < 0;
    ck_assert(negative);
    net_free(&n);
}
END_TEST

static Suite *regularizer_suite(void)
{
    Suite *s = suite_create("regularizer");
    TCase *tc = tcase_create("regularizers");
    tcase_add_test(tc, test_regularizer_forms);
    tcase_add_test(tc, test_regularizer_errors);
    tcase_add_test(tc, test_regularizer_penalty);
    tcase_add_test(tc, test_serialization);
    suite_add_tcase(s, tc);
    tc = tcase_create("constraints");
    tcase_add_test(tc, test_constraint_errors);
    tcase_add_test(tc, test_constraint_apply);
    tcase_add_test(tc, test_constraint_conv_kernel);
    suite_add_tcase(s, tc);
    tc = tcase_create("model");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_model_gradients);
    tcase_add_test(tc, test_model_penalty_value);
    tcase_add_test(tc, test_model_constraints);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(regularizer_suite());
}
