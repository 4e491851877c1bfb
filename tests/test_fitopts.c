/* Keras's fit options: the weighted loss (class_weight, sample_weight) on
 * hand-made batches with the expected sum(w_i * loss_i) / N written out by
 * hand (keras/utils/losses_utils.py compute_weighted_loss,
 * sum_over_batch_size), its gradient by finite differences (loss and whole
 * model), sample_weight columns from CSV and their errors, class_weight by
 * name and index and its errors, validation_freq, shuffle "batch",
 * initial_epoch and steps_per_epoch through train_fit. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../src/fit_options.h"
#include "../src/loss.h"
#include "../src/train.h"
#include "gradcheck.h"
#include "netcheck.h"
#include "fixtures.h"

static void close_to(double got, double want, double tol)
{
    ck_assert_msg(fabs(got - want) <= tol, "got %.9g, want %.9g", got, want);
}

START_TEST(test_weighted_mse_by_hand)
{
    struct loss l;
    loss_init(&l, LOSS_MSE);
    /* 3 rows of K = 2. Row losses: mean of squares. */
    const float yp[] = {1, 2, 0, 0, 3, 1};
    const float yt[] = {0, 0, 1, 1, 1, 1};
    double l0 = (1 + 4) / 2.0, l1 = (1 + 1) / 2.0, l2 = (4 + 0) / 2.0;
    const float w[] = {2, 0, 0.5f};
    /* Divided by the rows (3), not by the sum of the weights (2.5). */
    close_to(loss_compute_weighted(&l, yp, yt, 3, 2, w, 1, NULL), (2 * l0 + 0 * l1 + 0.5 * l2) / 3,
             1e-6);
    /* NULL weights: the plain mean. */
    close_to(loss_compute_weighted(&l, yp, yt, 3, 2, NULL, 1, NULL), (l0 + l1 + l2) / 3, 1e-6);
    /* All weights 1: the same as unweighted. */
    const float ones[] = {1, 1, 1};
    close_to(loss_compute_weighted(&l, yp, yt, 3, 2, ones, 1, NULL), (l0 + l1 + l2) / 3, 1e-6);
    /* A weight per sample of 3 rows... here 1 sample of 3 rows (timesteps). */
    const float w1[] = {4};
    close_to(loss_compute_weighted(&l, yp, yt, 3, 2, w1, 3, NULL), 4 * (l0 + l1 + l2) / 3, 1e-6);
}
END_TEST

START_TEST(test_weighted_sparse_ce_by_hand)
{
    struct loss l;
    loss_init(&l, LOSS_SPARSE_CE);
    const float p[] = {0.7f, 0.2f, 0.1f, 0.1f, 0.3f, 0.6f};
    const float t[] = {0, 1};
    const float w[] = {3, 0.25f};
    double want = (3 * -log(0.7f) + 0.25 * -log(0.3f)) / 2;
    close_to(loss_compute_weighted(&l, p, t, 2, 3, w, 1, NULL), want, 1e-6);
}
END_TEST

struct lctx {
    const struct loss *l;
    const float *yt, *w;
    size_t rows, K;
};

static double weighted_fn(void *ctx, const float *x)
{
    struct lctx *c = ctx;
    return loss_compute_weighted(c->l, x, c->yt, c->rows, c->K, c->w, 1, NULL);
}

START_TEST(test_weighted_loss_gradient)
{
    enum loss_kind kinds[] = {LOSS_MSE, LOSS_CATEGORICAL_CE, LOSS_HUBER};
    for (size_t k = 0; k < 3; k++) {
        struct loss l;
        loss_init(&l, kinds[k]);
        float yp[12], yt[12], dy[12];
        gc_fill_uniform(yp, 12, 0.1f, 0.9f, 7 + (unsigned)k);
        gc_fill_uniform(yt, 12, 0.1f, 0.9f, 9);
        const float w[] = {0.5f, 2, 0, 1.5f};
        struct lctx c = {&l, yt, w, 4, 3};
        loss_compute_weighted(&l, yp, yt, 4, 3, w, 1, dy);
        char report[256];
        ck_assert_msg(gradcheck(weighted_fn, &c, yp, 12, dy, 1e-3, 1e-4, 1e-2, report,
                                sizeof report) == 0, "%s", report);
        /* Row 2 has weight 0: no gradient. */
        for (size_t j = 0; j < 3; j++)
            ck_assert(dy[2 * 3 + j] == 0);
    }
}
END_TEST

/* The model's weights against finite differences of the weighted loss. */
static const float *g_w;
static double model_weighted_fn(void *ctx, const float *x)
{
    struct net *n = ctx;
    (void)x;
    model_forward(&n->m, n->B, false, NULL);
    return loss_compute_weighted(&n->m.compile.out[0].loss, n->m.output->y, n->t, net_rows(n),
                                 model_output_last_dim(&n->m), g_w, 1, NULL) +
           model_penalty(&n->m, n->B);
}

START_TEST(test_weighted_model_gradient)
{
    struct net n;
    net_load(&n, "layers:\n  - Dense: {units: 5, activation: tanh, input_shape: [3]}\n"
                 "  - Dense: {units: 3, activation: softmax}\n"
                 "compile: {loss: categorical_crossentropy, optimizer: sgd}\n");
    net_prepare(&n, 4, false, -1, 1);
    const float w[] = {1, 3, 0.5f, 0};
    g_w = w;
    model_forward(&n.m, n.B, false, NULL);
    double loss = model_backward_weighted(&n.m, n.B, n.t, w);
    close_to(loss, model_weighted_fn(&n, NULL), 1e-6);
    float *analytic = malloc(n.m.n_weights * sizeof *analytic);
    memcpy(analytic, n.m.dw, n.m.n_weights * sizeof *analytic);
    char report[256];
    ck_assert_msg(gradcheck(model_weighted_fn, &n, n.m.w, n.m.n_weights, analytic, GC_EPS,
                            GC_ATOL, GC_RTOL, report, sizeof report) == 0, "%s", report);
    /* And it differs from the unweighted gradient. */
    model_forward(&n.m, n.B, false, NULL);
    model_backward(&n.m, n.B, n.t);
    double diff = 0;
    for (size_t i = 0; i < n.m.n_weights; i++)
        diff += fabs(n.m.dw[i] - analytic[i]);
    ck_assert(diff > 1e-4);
    free(analytic);
    net_free(&n);
}
END_TEST

/* ---- data and fit fixtures ---- */

static const char *IRIS_LIKE =
    "layers:\n  - Dense: {units: 3, activation: softmax, input_shape: [2]}\n"
    "compile: {loss: sparse_categorical_crossentropy, optimizer: sgd, metrics: [accuracy]}\n";

static char *write_tmp(const char *text)
{
    char *path = strdup("/tmp/nnc_test_fitopts_XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *f = fdopen(fd, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

static const char *CSV = "a,b,w,species\n1,2,0.5,cat\n3,4,2,dog\n5,6,1,cat\n7,8,0,bird\n";

/* Loads CSV with the data section `data` (YAML) into ds; returns the rc. */
static int load(struct net *n, const char *csv, const char *data, struct dataset *ds,
                struct ckpt_meta *meta, struct diag *d)
{
    char *path = write_tmp(csv);
    struct spec_doc doc;
    ck_assert(spec_load_string(&doc, "m.yaml", data, strlen(data), d) == 0);
    struct data_conf dc;
    int rc = data_conf_parse(doc.root, &dc, d);
    if (rc == 0)
        rc = dataset_load_train(path, &dc, &n->m, ds, meta, d);
    spec_free(&doc);
    unlink(path);
    free(path);
    return rc;
}

START_TEST(test_sample_weight_column)
{
    struct net n;
    net_load(&n, IRIS_LIKE);
    struct dataset ds;
    struct ckpt_meta meta = {0};
    struct diag d = {{0}};
    ck_assert_msg(load(&n, CSV, "{target: species, sample_weight: w}", &ds, &meta, &d) == 0,
                  "%s", d.msg);
    ck_assert_uint_eq(ds.n_x, 2);          /* the weight column is no feature */
    ck_assert(ds.x[2] == 3 && ds.x[3] == 4);
    const float want[] = {0.5f, 2, 1, 0};
    for (size_t i = 0; i < 4; i++)
        ck_assert(ds.w[i] == want[i]);
    /* class_weight by name and by index, multiplied into the sample weights;
     * classes sorted: bird 0, cat 1, dog 2. */
    struct spec_doc doc;
    const char *cw = "{cat: 2, 2: 10, bird: 1}";
    ck_assert(spec_load_string(&doc, "m.yaml", cw, strlen(cw), &d) == 0);
    ck_assert_msg(fit_apply_class_weight(doc.root, &meta, 3, &ds, &d) == 0, "%s", d.msg);
    const float want2[] = {1, 20, 2, 0};
    for (size_t i = 0; i < 4; i++)
        ck_assert(ds.w[i] == want2[i]);
    spec_free(&doc);
    /* The validation tail keeps its weights. */
    struct dataset tail;
    dataset_split_tail(&ds, 1, &tail);
    ck_assert(tail.w && tail.w[0] == 0);
    dataset_free(&tail);
    dataset_free(&ds);
    ckpt_meta_free(&meta);
    net_free(&n);
}
END_TEST

static void expect_load_error(const char *csv, const char *data, const char *msg)
{
    struct net n;
    net_load(&n, IRIS_LIKE);
    struct dataset ds;
    struct ckpt_meta meta = {0};
    struct diag d = {{0}};
    ck_assert_int_eq(load(&n, csv, data, &ds, &meta, &d), -1);
    ck_assert_msg(strstr(d.msg, msg), "'%s' lacks '%s'", d.msg, msg);
    ckpt_meta_free(&meta);
    net_free(&n);
}

START_TEST(test_sample_weight_errors)
{
    expect_load_error(CSV, "{target: species, sample_weight: weight}", "m.yaml:1:");
    expect_load_error(CSV, "{target: species, sample_weight: weight}", "column 'weight'");
    expect_load_error("a,b,w,species\n1,2,-1,cat\n", "{target: species, sample_weight: w}",
                      ":2:3: sample weight -1 is negative");
    expect_load_error(CSV, "{target: species, sample_weight: [w, a]}", "one column");
    expect_load_error(CSV, "{target: species, sample_weight: species}", "also a feature");
}
END_TEST

static void expect_cw_error(const char *cw, const char *msg)
{
    struct net n;
    net_load(&n, IRIS_LIKE);
    struct dataset ds;
    struct ckpt_meta meta = {0};
    struct diag d = {{0}};
    ck_assert(load(&n, CSV, "{target: species, features: [a, b]}", &ds, &meta, &d) == 0);
    struct spec_doc doc;
    ck_assert(spec_load_string(&doc, "m.yaml", cw, strlen(cw), &d) == 0);
    struct fit_conf fc;
    fit_conf_default(&fc);
    int rc = fit_conf_parse(doc.root, &fc, &d);
    if (rc == 0)
        rc = fit_apply_class_weight(fc.class_weight, &meta, 3, &ds, &d);
    ck_assert_int_eq(rc, -1);
    ck_assert_msg(strstr(d.msg, msg), "'%s' lacks '%s'", d.msg, msg);
    spec_free(&doc);
    dataset_free(&ds);
    ckpt_meta_free(&meta);
    net_free(&n);
}

START_TEST(test_class_weight_errors)
{
    expect_cw_error("{class_weight: {cat: 1, dgo: 2, bird: 1}}",
                    "m.yaml:1:25: class_weight: unknown class 'dgo' (classes: bird, cat, dog)");
    expect_cw_error("{class_weight: {cat: 1, 3: 2, bird: 1}}", "unknown class '3'");
    expect_cw_error("{class_weight: {cat: -1}}", "m.yaml:1:22: a class weight must be a number >= 0");
    expect_cw_error("{class_weight: {cat: 1, bird: 1}}",
                    "class_weight has no weight for class 'dog'");
    expect_cw_error("{class_weight: {cat: 1, 1: 2}}", "given twice");
    expect_cw_error("{class_weight: [1, 2]}", "must be a map");
}
END_TEST

static int parse_fit(const char *text, struct fit_conf *fc, struct diag *d)
{
    struct spec_doc doc;
    ck_assert(spec_load_string(&doc, "m.yaml", text, strlen(text), d) == 0);
    fit_conf_default(fc);
    int rc = fit_conf_parse(doc.root, fc, d);
    fc->validation_epochs = NULL; /* the document is freed */
    if (rc == 0 && strstr(text, "[")) {
        /* re-parse to query the list while the document lives */
        rc = fit_conf_parse(doc.root, fc, d);
        for (long e = 0; e < 6; e++)
            ck_assert(fit_should_validate(fc, e) == (e == 0 || e == 4));
    }
    spec_free(&doc);
    return rc;
}

START_TEST(test_fit_keys)
{
    struct fit_conf fc;
    struct diag d = {{0}};
    ck_assert(parse_fit("{validation_freq: 2, shuffle: batch, initial_epoch: 3, epochs: 5,"
                        " steps_per_epoch: 4, validation_steps: 1}", &fc, &d) == 0);
    ck_assert(fc.shuffle && fc.shuffle_batch);
    ck_assert_int_eq(fc.steps_per_epoch, 4);
    ck_assert_int_eq(fc.validation_steps, 1);
    for (long e = 0; e < 6; e++)
        ck_assert(fit_should_validate(&fc, e) == (e % 2 == 1));
    long first, last;
    fit_epoch_range(&fc, 0, &first, &last);
    ck_assert(first == 3 && last == 5);
    ck_assert(parse_fit("{validation_freq: [1, 5]}", &fc, &d) == 0);
    ck_assert(parse_fit("{shuffle: false}", &fc, &d) == 0 && !fc.shuffle);
    fit_epoch_range(&fc, 2, &first, &last);
    ck_assert(first == 2 && last == 3);
    struct { const char *text, *msg; } bad[] = {
        {"{shuffle: batches}", "m.yaml:1:11: shuffle must be true, false or \"batch\""},
        {"{validation_freq: 0}", "validation_freq must be an integer >= 1"},
        {"{validation_freq: [1, 0]}", "m.yaml:1:23: a validation_freq epoch must be"},
        {"{initial_epoch: -1}", "initial_epoch must be an integer >= 0"},
        {"{steps_per_epoch: 0}", "steps_per_epoch must be an integer >= 1"},
        {"{validation_steps: x}", "m.yaml:1:20:"},
        {"{sample_weight: w}", "unknown key 'sample_weight'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(parse_fit(bad[i].text, &fc, &d), -1);
        ck_assert_msg(strstr(d.msg, bad[i].msg), "%s: '%s' lacks '%s'", bad[i].text, d.msg,
                      bad[i].msg);
    }
}
END_TEST

START_TEST(test_shuffle_batch_order)
{
    struct fit_conf fc;
    fit_conf_default(&fc);
    fc.shuffle_batch = true;
    struct rng r;
    rng_seed(&r, 3);
    size_t perm[23];
    bool moved = false;
    for (int trial = 0; trial < 5; trial++) {
        fit_order(&fc, &r, perm, 23, 5);
        /* Batches of 5 (the last of 3) stay contiguous and in order. */
        size_t seen[5] = {0};
        for (size_t at = 0; at < 23;) {
            size_t k = perm[at] / 5, len = k == 4 ? 3 : 5;
            ck_assert_uint_eq(perm[at] % 5, 0);
            for (size_t j = 0; j < len; j++)
                ck_assert_uint_eq(perm[at + j], k * 5 + j);
            seen[k]++;
            at += len;
        }
        for (size_t k = 0; k < 5; k++)
            ck_assert_uint_eq(seen[k], 1);
        moved |= perm[0] != 0;
    }
    ck_assert(moved);
    fc.shuffle = false;
    fit_order(&fc, &r, perm, 23, 5);
    for (size_t i = 0; i < 23; i++)
        ck_assert_uint_eq(perm[i], i);
}
END_TEST

/* train_fit with initial_epoch, steps_per_epoch, validation_freq. */
START_TEST(test_fit_loop)
{
    struct net n;
    net_load(&n, IRIS_LIKE);
    struct rng r;
    rng_seed(&r, 1);
    model_init_weights(&n.m, &r);
    struct dataset ds = {0};
    ds.source = strdup("t.csv");
    ds.n = 10;
    ds.n_x = 2;
    ds.n_y = 1;
    ds.x = calloc(20, sizeof *ds.x);
    ds.y = calloc(10, sizeof *ds.y);
    for (size_t i = 0; i < 10; i++) {
        ds.x[2 * i] = (float)i / 10;
        ds.y[i] = (float)(i % 3);
    }
    struct fit_conf fc;
    fit_conf_default(&fc);
    fc.epochs = 5;
    fc.initial_epoch = 2;
    fc.initial_epoch_set = true;
    fc.batch_size = 4;
    fc.steps_per_epoch = 5; /* more than a pass (3 batches): wraps into a new pass */
    fc.validation_freq = 2;
    fc.validation_steps = 1;
    fc.verbose = 0;
    struct ckpt_meta meta = {0};
    float state[1];
    struct diag d = {{0}};
    ck_assert(train_fit(&n.m, &ds, &ds, &fc, state, &meta, &r, &d) == 0);
    ck_assert_uint_eq(meta.history.n_epochs, 3); /* epochs 3, 4, 5 */
    ck_assert_int_eq(meta.epoch, 5);
    ck_assert_uint_eq(meta.iterations, 15);
    /* val_loss (column 2): only after epoch 4 ((epoch + 1) % 2 == 0). */
    const double *v = meta.history.values;
    size_t nc = meta.history.n_cols;
    ck_assert_str_eq(meta.history.cols[2], "val_loss");
    ck_assert(isnan(v[0 * nc + 2]) && !isnan(v[1 * nc + 2]) && isnan(v[2 * nc + 2]));
    ckpt_meta_free(&meta);
    dataset_free(&ds);
    net_free(&n);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fitopts");
    TCase *tc = tcase_create("fitopts");
    tcase_add_test(tc, test_weighted_mse_by_hand);
    tcase_add_test(tc, test_weighted_sparse_ce_by_hand);
    tcase_add_test(tc, test_weighted_loss_gradient);
    tcase_add_test(tc, test_weighted_model_gradient);
    tcase_add_test(tc, test_sample_weight_column);
    tcase_add_test(tc, test_sample_weight_errors);
    tcase_add_test(tc, test_class_weight_errors);
    tcase_add_test(tc, test_fit_keys);
    tcase_add_test(tc, test_shuffle_batch_order);
    tcase_add_test(tc, test_fit_loop);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
