/* Metric tests: how names resolve against the output and target widths
 * (keras/engine/compile_utils.py), printed names, arguments, Keras's
 * serialized form and nnc's checkpoint form, located errors, and values
 * over one or more batches computed independently in the test: mean
 * metrics, top-k with ties, precision and recall from pooled counts, and
 * AUC with Keras's threshold layout counted threshold by threshold. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/metrics.h"
#include "fixtures.h"

#define EPSF ((double)1e-7f)

static int parse(const char *text, size_t K, size_t tw, struct metric *m, struct diag *d)
{
    struct spec_doc doc;
    ck_assert_msg(spec_load_string(&doc, "m.yaml", text, strlen(text), d) == 0, "%s", d->msg);
    int rc = metric_parse(doc.root, K, tw, m, d);
    spec_free(&doc);
    return rc;
}

static struct metric parsed(const char *text, size_t K, size_t tw)
{
    struct metric m;
    struct diag d = {{0}};
    ck_assert_msg(parse(text, K, tw, &m, &d) == 0, "%s: %s", text, d.msg);
    return m;
}

static void expect_error(const char *text, size_t K, size_t tw, const char *msg)
{
    struct metric m;
    struct diag d = {{0}};
    ck_assert_int_eq(parse(text, K, tw, &m, &d), -1);
    ck_assert_str_eq(d.msg, msg);
}

static void check_close(double got, double want, double tol)
{
    ck_assert_msg(fabs(got - want) <= tol * (1 + fabs(want)), "got %.10g, want %.10g", got,
                  want);
}

/* The metric over one batch of rows. */
static double value(const struct metric *m, const float *p, const float *t, size_t rows,
                    size_t K, size_t tw)
{
    struct metric_state s;
    metric_state_init(m, &s);
    metric_reset(m, &s);
    metric_update(m, &s, p, t, rows, K, tw);
    double v = metric_result(m, &s);
    metric_state_free(&s);
    return v;
}

/* ---- names ---------------------------------------------------------------- */

START_TEST(test_resolution)
{
    static const struct {
        const char *text;
        size_t K, tw;
        enum metric_kind kind;
        const char *name;
    } cases[] = {
        {"accuracy", 1, 1, MET_BINARY_ACCURACY, "accuracy"},
        {"accuracy", 3, 1, MET_SPARSE_CATEGORICAL_ACCURACY, "accuracy"},
        {"accuracy", 3, 3, MET_CATEGORICAL_ACCURACY, "accuracy"},
        {"acc", 1, 1, MET_BINARY_ACCURACY, "acc"},
        {"acc", 10, 1, MET_SPARSE_CATEGORICAL_ACCURACY, "acc"},
        {"acc", 10, 10, MET_CATEGORICAL_ACCURACY, "acc"},
        {"ACC", 4, 4, MET_CATEGORICAL_ACCURACY, "ACC"},
        {"binary_accuracy", 2, 2, MET_BINARY_ACCURACY, "binary_accuracy"},
        {"categorical_accuracy", 3, 3, MET_CATEGORICAL_ACCURACY, "categorical_accuracy"},
        {"sparse_categorical_accuracy", 3, 1, MET_SPARSE_CATEGORICAL_ACCURACY,
         "sparse_categorical_accuracy"},
        {"top_k_categorical_accuracy", 6, 6, MET_TOP_K, "top_k_categorical_accuracy"},
        {"sparse_top_k_categorical_accuracy", 6, 1, MET_SPARSE_TOP_K,
         "sparse_top_k_categorical_accuracy"},
        {"precision", 1, 1, MET_PRECISION, "precision"},
        {"recall", 1, 1, MET_RECALL, "recall"},
        {"auc", 1, 1, MET_AUC, "auc"},
        {"cosine_similarity", 3, 3, MET_COSINE_SIMILARITY, "cosine_similarity"},
        /* class names print under the class's default name */
        {"BinaryAccuracy", 1, 1, MET_BINARY_ACCURACY, "binary_accuracy"},
        {"CategoricalAccuracy", 3, 3, MET_CATEGORICAL_ACCURACY, "categorical_accuracy"},
        {"SparseCategoricalAccuracy", 3, 1, MET_SPARSE_CATEGORICAL_ACCURACY,
         "sparse_categorical_accuracy"},
        {"TopKCategoricalAccuracy", 6, 6, MET_TOP_K, "top_k_categorical_accuracy"},
        {"SparseTopKCategoricalAccuracy", 6, 1, MET_SPARSE_TOP_K,
         "sparse_top_k_categorical_accuracy"},
        {"Precision", 1, 1, MET_PRECISION, "precision"},
        {"Recall", 2, 2, MET_RECALL, "recall"},
        {"AUC", 1, 1, MET_AUC, "auc"},
        {"RootMeanSquaredError", 2, 2, MET_RMSE, "root_mean_squared_error"},
        {"CosineSimilarity", 2, 2, MET_COSINE_SIMILARITY, "cosine_similarity"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct metric m = parsed(cases[i].text, cases[i].K, cases[i].tw);
        ck_assert_msg(m.kind == cases[i].kind, "%s: kind %d", cases[i].text, m.kind);
        ck_assert_str_eq(m.name, cases[i].name);
        ck_assert(m.threshold == 0.5 && m.k == 5 && m.class_id == -1);
        ck_assert(m.num_thresholds == 200 && m.curve == AUC_ROC &&
                  m.summation == AUC_INTERPOLATION && !m.from_logits);
        ck_assert_msg(m.plain, "%s", cases[i].text);
    }
}
END_TEST

START_TEST(test_loss_metrics)
{
    /* Any loss function is a metric printed as written; the metric classes
     * that wrap one print their Keras default names. */
    static const struct {
        const char *text;
        size_t K, tw;
        enum loss_kind loss;
        const char *name;
    } cases[] = {
        {"mse", 2, 2, LOSS_MSE, "mse"},
        {"MSE", 2, 2, LOSS_MSE, "MSE"},
        {"mean_squared_error", 2, 2, LOSS_MSE, "mean_squared_error"},
        {"mae", 2, 2, LOSS_MAE, "mae"},
        {"mape", 2, 2, LOSS_MAPE, "mape"},
        {"msle", 2, 2, LOSS_MSLE, "msle"},
        {"binary_crossentropy", 1, 1, LOSS_BINARY_CE, "binary_crossentropy"},
        {"hinge", 1, 1, LOSS_HINGE, "hinge"},
        {"kld", 3, 3, LOSS_KLD, "kld"},
        {"huber", 1, 1, LOSS_HUBER, "huber"},
        {"log_cosh", 1, 1, LOSS_LOG_COSH, "log_cosh"},
        {"poisson", 1, 1, LOSS_POISSON, "poisson"},
        {"sparse_categorical_crossentropy", 3, 1, LOSS_SPARSE_CE,
         "sparse_categorical_crossentropy"},
        {"crossentropy", 1, 1, LOSS_BINARY_CE, "crossentropy"},
        {"ce", 3, 1, LOSS_SPARSE_CE, "ce"},
        {"crossentropy", 3, 3, LOSS_CATEGORICAL_CE, "crossentropy"},
        {"MeanSquaredError", 1, 1, LOSS_MSE, "mean_squared_error"},
        {"MeanAbsoluteError", 1, 1, LOSS_MAE, "mean_absolute_error"},
        {"MeanAbsolutePercentageError", 1, 1, LOSS_MAPE, "mean_absolute_percentage_error"},
        {"MeanSquaredLogarithmicError", 1, 1, LOSS_MSLE, "mean_squared_logarithmic_error"},
        {"BinaryCrossentropy", 1, 1, LOSS_BINARY_CE, "binary_crossentropy"},
        {"CategoricalCrossentropy", 3, 3, LOSS_CATEGORICAL_CE, "categorical_crossentropy"},
        {"Hinge", 1, 1, LOSS_HINGE, "hinge"},
        {"SquaredHinge", 1, 1, LOSS_SQUARED_HINGE, "squared_hinge"},
        {"CategoricalHinge", 3, 3, LOSS_CATEGORICAL_HINGE, "categorical_hinge"},
        {"KLDivergence", 3, 3, LOSS_KLD, "kullback_leibler_divergence"},
        {"Poisson", 1, 1, LOSS_POISSON, "poisson"},
        {"LogCoshError", 1, 1, LOSS_LOG_COSH, "logcosh"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct metric m = parsed(cases[i].text, cases[i].K, cases[i].tw);
        ck_assert_msg(m.kind == MET_LOSS && m.loss.kind == cases[i].loss, "%s", cases[i].text);
        ck_assert_str_eq(m.name, cases[i].name);
    }
    struct metric m = parsed("{BinaryCrossentropy: {from_logits: true, label_smoothing: 0.1}}",
                             1, 1);
    ck_assert(m.loss.from_logits && m.loss.label_smoothing == 0.1 && !m.plain);
    m = parsed("{huber: {delta: 3}}", 1, 1);
    ck_assert(m.loss.delta == 3.0);
}
END_TEST

START_TEST(test_arguments_and_serialized)
{
    struct metric m = parsed("{binary_accuracy: {threshold: 0.7}}", 1, 1);
    ck_assert(m.kind == MET_BINARY_ACCURACY && m.threshold == 0.7 && !m.plain);
    ck_assert_str_eq(m.name, "binary_accuracy");
    m = parsed("{BinaryAccuracy: {threshold: 0.2, name: bin_acc}}", 1, 1);
    ck_assert(m.threshold == 0.2);
    ck_assert_str_eq(m.name, "bin_acc");
    m = parsed("{categorical_accuracy: }", 3, 3);
    ck_assert_str_eq(m.name, "categorical_accuracy");
    ck_assert(m.plain);
    /* what tf.keras saves for metrics=['accuracy'] with sparse targets */
    m = parsed("{\"class_name\": \"MeanMetricWrapper\", \"config\": {\"name\": \"accuracy\", "
               "\"dtype\": \"float32\", \"fn\": \"sparse_categorical_accuracy\"}}",
               3, 1);
    ck_assert(m.kind == MET_SPARSE_CATEGORICAL_ACCURACY && m.plain);
    ck_assert_str_eq(m.name, "accuracy");
    m = parsed("{class_name: MeanMetricWrapper, config: {name: my_acc, fn: binary_accuracy}}", 1,
               1);
    ck_assert(m.kind == MET_BINARY_ACCURACY && !m.plain);
    ck_assert_str_eq(m.name, "my_acc");
    m = parsed("{class_name: BinaryAccuracy, config: {name: binary_accuracy, dtype: float32, "
               "threshold: 0.5}}",
               1, 1);
    ck_assert(m.kind == MET_BINARY_ACCURACY && m.plain);
    /* named instances show their name */
    m = parsed("{class_name: AUC, config: {name: my_auc}}", 1, 1);
    ck_assert(m.kind == MET_AUC && !m.plain);
    ck_assert_str_eq(m.name, "my_auc");
    /* Keras's AUC get_config */
    m = parsed("{class_name: AUC, config: {name: auc_1, dtype: float32, num_thresholds: 50, "
               "curve: PR, summation_method: majoring, multi_label: false, num_labels: null, "
               "label_weights: null, from_logits: true}}",
               1, 1);
    ck_assert(m.num_thresholds == 50 && m.curve == AUC_PR && m.summation == AUC_MAJORING &&
              m.from_logits);
    m = parsed("{AUC: {curve: pr, summation_method: Minoring}}", 1, 1);
    ck_assert(m.curve == AUC_PR && m.summation == AUC_MINORING);
    /* Keras's Precision get_config */
    m = parsed("{class_name: Precision, config: {name: precision, dtype: float32, thresholds: "
               "[0.3], top_k: null, class_id: 2}}",
               3, 3);
    ck_assert(m.kind == MET_PRECISION && m.threshold == 0.3 && m.class_id == 2);
    m = parsed("{recall: {thresholds: 0.8}}", 1, 1);
    ck_assert(m.threshold == 0.8);
    m = parsed("{TopKCategoricalAccuracy: {k: 2}}", 4, 4);
    ck_assert(m.k == 2 && !m.plain);
    ck_assert_str_eq(m.name, "top_k_categorical_accuracy");
}
END_TEST

START_TEST(test_errors)
{
    expect_error("accuracyy", 1, 1,
                 "m.yaml:1:1: unknown metric 'accuracyy' (did you mean 'accuracy'?)");
    expect_error("categorical_acuracy", 3, 3,
                 "m.yaml:1:1: unknown metric 'categorical_acuracy' (did you mean "
                 "'categorical_accuracy'?)");
    expect_error("presicion", 1, 1,
                 "m.yaml:1:1: unknown metric 'presicion' (did you mean 'precision'?)");
    expect_error("MeanIoU", 1, 1, "m.yaml:1:1: metric 'MeanIoU' is not supported yet");
    expect_error("- accuracy\n- mse\n", 1, 1,
                 "m.yaml:1:1: a metric is a name (accuracy), a one-key map {name: {arguments}}, "
                 "or {class_name: ..., config: {...}}");
    expect_error("binary_accuracy:\n  treshold: 0.7\n", 1, 1,
                 "m.yaml:2:3: unknown key 'treshold' in metric 'binary_accuracy' (did you mean "
                 "'threshold'?)");
    expect_error("{categorical_accuracy: {threshold: 0.7}}", 3, 3,
                 "m.yaml:1:25: threshold applies to binary_accuracy only, not to "
                 "'categorical_accuracy'");
    expect_error("{accuracy: {threshold: 0.7}}", 1, 1,
                 "m.yaml:1:13: threshold applies to binary_accuracy only, not to 'accuracy'");
    expect_error("categorical_accuracy", 3, 1,
                 "m.yaml:1:1: metric 'categorical_accuracy' (categorical_accuracy) needs 3 target "
                 "values per row for an output of 3, but the targets have 1");
    expect_error("accuracy", 3, 2,
                 "m.yaml:1:1: metric 'accuracy' (categorical_accuracy) needs 3 target values per "
                 "row for an output of 3, but the targets have 2");
    expect_error("sparse_categorical_accuracy", 3, 3,
                 "m.yaml:1:1: metric 'sparse_categorical_accuracy' (sparse_categorical_accuracy) "
                 "needs 1 target value per row for an output of 3, but the targets have 3");
    expect_error("sparse_top_k_categorical_accuracy", 3, 3,
                 "m.yaml:1:1: metric 'sparse_top_k_categorical_accuracy' "
                 "(sparse_top_k_categorical_accuracy) needs 1 target value per row for an output "
                 "of 3, but the targets have 3");
    expect_error("SparseCategoricalCrossentropy", 3, 3,
                 "m.yaml:1:1: metric 'sparse_categorical_crossentropy' "
                 "(sparse_categorical_crossentropy) needs 1 target value per row for an output "
                 "of 3, but the targets have 3");
    expect_error("{BinaryAccuracy: {dtype: float64}}", 1, 1,
                 "m.yaml:1:26: dtype 'float64' is not supported yet (only float32)");
    expect_error("{AUC: {num_thresholds: 1}}", 1, 1,
                 "m.yaml:1:24: num_thresholds must be an integer in [2, 1000000], got 1");
    expect_error("{AUC: {curve: ROCC}}", 1, 1,
                 "m.yaml:1:15: unknown curve 'ROCC' (did you mean 'ROC'?)");
    expect_error("{AUC: {summation_method: interpolate}}", 1, 1,
                 "m.yaml:1:26: unknown summation_method 'interpolate' (did you mean "
                 "'interpolation'?)");
    expect_error("{AUC: {thresholds: [0.5]}}", 1, 1,
                 "m.yaml:1:20: thresholds is not supported yet for auc (num_thresholds sets "
                 "evenly spaced ones)");
    expect_error("{AUC: {multi_label: true}}", 1, 1,
                 "m.yaml:1:21: multi_label is not supported yet (only false)");
    expect_error("{AUC: {k: 2}}", 1, 1, "m.yaml:1:8: unknown key 'k' in metric 'AUC'");
    expect_error("{Precision: {thresholds: 1.5}}", 1, 1,
                 "m.yaml:1:26: thresholds must be in [0, 1], got 1.5");
    expect_error("{Precision: {thresholds: [0.3, 0.6]}}", 1, 1,
                 "m.yaml:1:26: only one threshold is supported (Keras reports a list of values "
                 "for several)");
    expect_error("{Recall: {top_k: 2}}", 3, 3,
                 "m.yaml:1:18: top_k is not supported yet (only null)");
    expect_error("{Recall: {class_id: 3}}", 3, 3,
                 "m.yaml:1:21: class_id 3 is not a column of an output of 3");
    expect_error("{precision: {threshold: 0.3}}", 1, 1,
                 "m.yaml:1:14: unknown key 'threshold' in metric 'precision' (did you mean "
                 "'thresholds'?)");
    expect_error("{top_k_categorical_accuracy: {k: 0}}", 3, 3,
                 "m.yaml:1:34: k must be a positive integer, got 0");
    expect_error("{binary_crossentropy: {from_logit: true}}", 1, 1,
                 "m.yaml:1:24: unknown key 'from_logit' in metric 'binary_crossentropy' (did you "
                 "mean 'from_logits'?)");
    expect_error("{mse: {delta: 1}}", 1, 1, "m.yaml:1:8: unknown key 'delta' in metric 'mse'");
    expect_error("{AUC: 3}", 1, 1, "m.yaml:1:7: the arguments of metric 'AUC' must be a map, "
                                   "found '3'");
}
END_TEST

/* ---- values --------------------------------------------------------------- */

START_TEST(test_mean_values)
{
    /* binary, K = 1: p = .7 .4 .5 .9, t = 1 0 1 0. With threshold 0.5 the
     * predictions are 1 0 0 1 (0.5 is not > 0.5): 2 of 4 right. */
    const float pb[4] = {0.7f, 0.4f, 0.5f, 0.9f}, tb[4] = {1, 0, 1, 0};
    struct metric m = parsed("accuracy", 1, 1);
    ck_assert_double_eq(value(&m, pb, tb, 4, 1, 1), 0.5);
    m = parsed("{binary_accuracy: {threshold: 0.45}}", 1, 1); /* 1 0 1 1: 3 right */
    ck_assert_double_eq(value(&m, pb, tb, 4, 1, 1), 0.75);
    /* binary, K = 2: the per-row value is the mean over the row */
    const float pb2[4] = {0.7f, 0.2f, 0.6f, 0.8f}, tb2[4] = {1, 1, 1, 1};
    m = parsed("binary_accuracy", 2, 2);
    ck_assert_double_eq(value(&m, pb2, tb2, 2, 2, 2), (0.5 + 1.0) / 2);

    /* categorical: argmax with ties going to the first maximum */
    const float pc[9] = {0.1f, 0.6f, 0.3f, 0.5f, 0.5f, 0.0f, 0.2f, 0.2f, 0.6f};
    const float tc[9] = {0, 1, 0, 0, 1, 0, 1, 0, 0};
    m = parsed("acc", 3, 3);
    ck_assert_double_eq(value(&m, pc, tc, 3, 3, 3), 1.0 / 3);
    const float tc_first[9] = {0, 1, 0, 1, 0, 0, 0, 0, 1};
    ck_assert_double_eq(value(&m, pc, tc_first, 3, 3, 3), 1.0);

    /* sparse: labels 1 0 2 -> all right; 1 1 0 -> one right */
    const float ts[3] = {1, 0, 2}, ts2[3] = {1, 1, 0};
    m = parsed("accuracy", 3, 1);
    ck_assert_double_eq(value(&m, pc, ts, 3, 3, 1), 1.0);
    ck_assert_double_eq(value(&m, pc, ts2, 3, 3, 1), 1.0 / 3);

    /* loss functions: mean over rows of the per-row mean over K */
    const float p[4] = {0.5f, 1.5f, -1.0f, 2.0f}, t[4] = {0, 1, 1, 1};
    m = parsed("mse", 2, 2);
    check_close(value(&m, p, t, 2, 2, 2), ((0.25 + 0.25) / 2 + (4 + 1) / 2.0) / 2, 1e-12);
    m = parsed("mae", 2, 2);
    check_close(value(&m, p, t, 2, 2, 2), ((0.5 + 0.5) / 2 + (2 + 1) / 2.0) / 2, 1e-12);
    m = parsed("mape", 2, 2);
    check_close(value(&m, p, t, 2, 2, 2),
                (100 * (0.5 / EPSF + 0.5) / 2 + 100 * (2 + 1) / 2.0) / 2, 1e-9);
    m = parsed("msle", 2, 2);
    double l1 = log(1.5), l2 = log(2.0), l3 = log(3.0), le = log1p(EPSF);
    check_close(value(&m, p, t, 2, 2, 2),
                ((pow(l1 - le, 2) + pow(log(2.5) - l2, 2)) / 2 +
                 (pow(le - l2, 2) + pow(l3 - l2, 2)) / 2) / 2,
                1e-9);
    /* root_mean_squared_error: sqrt of the mean over every value */
    m = parsed("RootMeanSquaredError", 2, 2);
    check_close(value(&m, p, t, 2, 2, 2), sqrt((0.25 + 0.25 + 4 + 1) / 4), 1e-12);
    /* hinge as a metric converts 0/1 targets per batch, as the loss does:
     * t -> -1 1 1 1, m = 1 - t p = 1.5, -0.5, 2, -1 */
    m = parsed("hinge", 2, 2);
    check_close(value(&m, p, t, 2, 2, 2), ((1.5 + 0) / 2 + (2 + 0) / 2) / 2, 1e-12);
    /* cosine_similarity as a metric is +cos (the loss is -cos) */
    const float ct[4] = {1, 0, 3, 4}, cp[4] = {1, 1, 4, 3};
    m = parsed("cosine_similarity", 2, 2);
    check_close(value(&m, cp, ct, 2, 2, 2), (1 / sqrt(2.0) + 24.0 / 25) / 2, 1e-7);
    /* crossentropy metric with from_logits */
    const float x[2] = {2.0f, -1.0f}, y[2] = {1, 0};
    m = parsed("{BinaryCrossentropy: {from_logits: true}}", 1, 1);
    check_close(value(&m, x, y, 2, 1, 1), (log1p(exp(-2.0)) + log1p(exp(-1.0))) / 2, 1e-9);
}
END_TEST

START_TEST(test_top_k)
{
    /* K = 4, k = 2. Row 0: target 2 (0.3) has one higher (0.5): hit.
     * Row 1: target 0 (0.1) has three higher: miss. Row 2: target 3 ties
     * with 1 at 0.4 behind 0.9 - one strictly higher: hit (in_top_k counts
     * ties straddling the boundary). Row 3: a NaN score: miss. */
    const float p[16] = {0.1f, 0.5f, 0.3f, 0.1f, 0.1f, 0.2f, 0.3f, 0.4f,
                         0.9f, 0.4f, 0.0f, 0.4f, 0.2f, NAN, 0.3f, 0.5f};
    const float labels[4] = {2, 0, 3, 3};
    const float onehot[16] = {0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1};
    struct metric m = parsed("{sparse_top_k_categorical_accuracy: {k: 2}}", 4, 1);
    ck_assert_double_eq(value(&m, p, labels, 4, 4, 1), 0.5);
    m = parsed("{TopKCategoricalAccuracy: {k: 2}}", 4, 4);
    ck_assert_double_eq(value(&m, p, onehot, 4, 4, 4), 0.5);
    /* the default k = 5 >= K: every finite row is a hit */
    m = parsed("sparse_top_k_categorical_accuracy", 4, 1);
    ck_assert_double_eq(value(&m, p, labels, 4, 4, 1), 0.75);
    /* k = 1 is categorical accuracy except for ties: row 2 (0.4 vs 0.9) */
    m = parsed("{SparseTopKCategoricalAccuracy: {k: 1}}", 4, 1);
    ck_assert_double_eq(value(&m, p, labels, 3, 4, 1), 0.0);
}
END_TEST

START_TEST(test_precision_recall_pooled)
{
    /* batch 1: p .9 .8 .3, t 1 0 1 -> tp 1, fp 1, fn 1: precision .5, recall .5
     * batch 2: p .7 .2 .6 .9, t 1 1 1 1 -> tp 3, fp 0, fn 1: precision 1, recall .75
     * the epoch (Keras): tp 4, fp 1, fn 2 -> precision .8, recall 4/6, not the
     * means of the batch values (.75, .625). */
    const float p1[3] = {0.9f, 0.8f, 0.3f}, t1[3] = {1, 0, 1};
    const float p2[4] = {0.7f, 0.2f, 0.6f, 0.9f}, t2[4] = {1, 1, 1, 1};
    struct metric prec = parsed("precision", 1, 1), rec = parsed("Recall", 1, 1);
    struct metric_state sp, sr;
    metric_state_init(&prec, &sp);
    metric_state_init(&rec, &sr);
    metric_update(&prec, &sp, p1, t1, 3, 1, 1);
    metric_update(&rec, &sr, p1, t1, 3, 1, 1);
    check_close(metric_result(&prec, &sp), 0.5, 1e-12);
    check_close(metric_result(&rec, &sr), 0.5, 1e-12);
    metric_update(&prec, &sp, p2, t2, 4, 1, 1);
    metric_update(&rec, &sr, p2, t2, 4, 1, 1);
    check_close(metric_result(&prec, &sp), 0.8, 1e-12);
    check_close(metric_result(&rec, &sr), 4.0 / 6, 1e-12);
    ck_assert(fabs(metric_result(&prec, &sp) - 0.75) > 0.01);
    ck_assert(fabs(metric_result(&rec, &sr) - 0.625) > 0.01);
    /* reset starts the next epoch */
    metric_reset(&prec, &sp);
    ck_assert_double_eq(metric_result(&prec, &sp), 0.0);
    metric_update(&prec, &sp, p2, t2, 4, 1, 1);
    ck_assert_double_eq(metric_result(&prec, &sp), 1.0);
    metric_state_free(&sp);
    metric_state_free(&sr);

    /* no predicted positives: divide_no_nan gives 0 */
    const float low[2] = {0.1f, 0.2f}, ones[2] = {1, 1};
    ck_assert_double_eq(value(&prec, low, ones, 2, 1, 1), 0.0);
    /* thresholds 0.25 -> .3 is positive too; labels are cast to bool (0.5 -> 1) */
    struct metric p25 = parsed("{Precision: {thresholds: 0.25}}", 1, 1);
    const float tb[3] = {0.5f, 0, 1};
    ck_assert_double_eq(value(&p25, p1, tb, 3, 1, 1), 2.0 / 3);
    /* K > 1 flattens every value; class_id keeps one column */
    const float pk[6] = {0.9f, 0.1f, 0.8f, 0.7f, 0.2f, 0.6f}, tk[6] = {1, 0, 0, 1, 1, 0};
    struct metric all = parsed("recall", 2, 2), col1 = parsed("{Recall: {class_id: 1}}", 2, 2);
    ck_assert_double_eq(value(&all, pk, tk, 3, 2, 2), 2.0 / 3); /* tp .9 .7, fn .2 */
    ck_assert_double_eq(value(&col1, pk, tk, 3, 2, 2), 1.0);    /* column 1: .7 (1), .6 (0) */
}
END_TEST

/* Keras's AUC the slow way: thresholds [-eps, 1/(n-1), ..., (n-2)/(n-1),
 * 1+eps] (keras/metrics/confusion_metrics.py AUC.__init__), counts of
 * p > threshold for each, then AUC.result's sum. */
static double auc_reference(const float *p, const float *t, size_t N, int n, int pr, int method)
{
    double tp[1000] = {0}, fp[1000] = {0}, fn[1000] = {0};
    ck_assert(n <= 1000);
    for (int i = 0; i < n; i++) {
        float thr = i == 0 ? -1e-7f : i == n - 1 ? 1.0f + 1e-7f : (float)i / (float)(n - 1);
        tp[i] = fp[i] = fn[i] = 0;
        for (size_t s = 0; s < N; s++) {
            bool pos = p[s] > thr, label = t[s] != 0;
            tp[i] += pos && label;
            fp[i] += pos && !label;
            fn[i] += !pos && label;
        }
    }
    double P = tp[0] + fn[0], Nn = 0, area = 0;
    for (size_t s = 0; s < N; s++)
        Nn += t[s] == 0;
    for (int i = 0; i + 1 < n; i++) {
        double x0, x1, y0, y1, h;
        if (pr && method == AUC_INTERPOLATION) {
            double dtp = tp[i] - tp[i + 1], p0 = tp[i] + fp[i], p1 = tp[i + 1] + fp[i + 1];
            double slope = p0 - p1 > 0 ? dtp / (p0 - p1) : 0;
            double icpt = tp[i + 1] - slope * p1;
            double ratio = p0 > 0 && p1 > 0 ? p0 / p1 : 1;
            area += P > 0 ? slope * (dtp + icpt * log(ratio)) / P : 0;
            continue;
        }
        if (pr) {
            x0 = tp[i] / P;
            x1 = tp[i + 1] / P;
            y0 = tp[i] + fp[i] > 0 ? tp[i] / (tp[i] + fp[i]) : 0;
            y1 = tp[i + 1] + fp[i + 1] > 0 ? tp[i + 1] / (tp[i + 1] + fp[i + 1]) : 0;
        } else {
            x0 = fp[i] / Nn;
            x1 = fp[i + 1] / Nn;
            y0 = tp[i] / P;
            y1 = tp[i + 1] / P;
        }
        h = method == AUC_INTERPOLATION ? (y0 + y1) / 2 : method == AUC_MINORING ? fmin(y0, y1)
                                                                                 : fmax(y0, y1);
        area += (x0 - x1) * h;
    }
    return area;
}

START_TEST(test_auc)
{
    /* Four samples: sklearn's classic example, ROC AUC 0.75 exactly; 200
     * thresholds separate every prediction, so interpolation is exact. */
    const float p4[4] = {0.1f, 0.4f, 0.35f, 0.8f}, t4[4] = {0, 0, 1, 1};
    struct metric m = parsed("auc", 1, 1);
    check_close(value(&m, p4, t4, 4, 1, 1), 0.75, 1e-12);
    check_close(auc_reference(p4, t4, 4, 200, 0, AUC_INTERPOLATION), 0.75, 1e-12);

    /* 60 samples over two batches, every curve and summation method */
    float p[60], t[60];
    unsigned s = 12345;
    for (int i = 0; i < 60; i++) {
        s = s * 1103515245u + 12345u;
        t[i] = (float)((s >> 16) & 1);
        s = s * 1103515245u + 12345u;
        double u = (double)((s >> 8) & 0xffff) / 65536.0;
        p[i] = (float)(0.6 * u + 0.35 * t[i]); /* informative, in [0, 0.95) */
    }
    static const char *const specs[] = {
        "AUC",
        "{AUC: {summation_method: minoring}}",
        "{AUC: {summation_method: majoring}}",
        "{AUC: {curve: PR}}",
        "{AUC: {curve: PR, summation_method: minoring}}",
        "{AUC: {curve: PR, summation_method: majoring, num_thresholds: 7}}",
        "{AUC: {num_thresholds: 13}}",
    };
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        m = parsed(specs[i], 1, 1);
        struct metric_state st;
        metric_state_init(&m, &st);
        metric_update(&m, &st, p, t, 25, 1, 1);
        metric_update(&m, &st, p + 25, t + 25, 35, 1, 1);
        double want = auc_reference(p, t, 60, (int)m.num_thresholds, m.curve == AUC_PR,
                                    (int)m.summation);
        check_close(metric_result(&m, &st), want, 1e-12);
        ck_assert(want > 0.5 && want < 1.0);
        metric_state_free(&st);
    }

    /* Predictions exactly on thresholds (n = 5: 0, .25, .5, .75, 1) count
     * as positive only above them; outside [0, 1] they are clipped. */
    const float pe[6] = {0.25f, 0.5f, 0.75f, 1.0f, -0.5f, 1.5f}, te[6] = {0, 1, 0, 1, 0, 1};
    m = parsed("{AUC: {num_thresholds: 5}}", 1, 1);
    const float pc[6] = {0.25f, 0.5f, 0.75f, 1.0f, 0.0f, 1.0f};
    check_close(value(&m, pe, te, 6, 1, 1), auc_reference(pc, te, 6, 5, 0, AUC_INTERPOLATION),
                1e-12);

    /* from_logits: the sigmoid of the predictions */
    float logits[4];
    for (int i = 0; i < 4; i++)
        logits[i] = (float)log(p4[i] / (1 - p4[i]));
    m = parsed("{AUC: {from_logits: true}}", 1, 1);
    check_close(value(&m, logits, t4, 4, 1, 1), 0.75, 1e-12);

    /* one class only: recall or false positive rate is 0/0 -> 0 */
    const float allpos[2] = {1, 1};
    m = parsed("auc", 1, 1);
    ck_assert_double_eq(value(&m, p4, allpos, 2, 1, 1), 0.0);
}
END_TEST

/* ---- serialization -------------------------------------------------------- */

static char *json_of(const struct metric *m)
{
    struct capture c;
    metric_to_json(m, capture_json(&c));
    return capture_close(&c);
}

START_TEST(test_json_round_trip)
{
    static const struct {
        const char *text;
        size_t K, tw;
    } cases[] = {
        {"accuracy", 3, 1},
        {"acc", 1, 1},
        {"mse", 2, 2},
        {"MeanSquaredError", 2, 2},
        {"crossentropy", 3, 3},
        {"AUC", 1, 1},
        {"precision", 1, 1},
        {"{class_name: AUC, config: {name: my_auc}}", 1, 1},
        {"{AUC: {name: pr_auc, curve: PR, num_thresholds: 50, from_logits: true}}", 1, 1},
        {"{binary_accuracy: {threshold: 0.7}}", 1, 1},
        {"{Precision: {thresholds: 0.3, class_id: 1, name: p1}}", 3, 3},
        {"{SparseTopKCategoricalAccuracy: {k: 2, name: top2}}", 5, 1},
        {"{huber: {delta: 2}}", 1, 1},
        {"{BinaryCrossentropy: {from_logits: true}}", 1, 1},
        {"{class_name: MeanMetricWrapper, config: {name: my_acc, fn: binary_accuracy}}", 1, 1},
        {"{KLDivergence: {name: kl}}", 3, 3},
        {"{cosine_similarity: {name: cos}}", 3, 3},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct metric a = parsed(cases[i].text, cases[i].K, cases[i].tw);
        char *s = json_of(&a);
        struct metric b = parsed(s, cases[i].K, cases[i].tw);
        ck_assert_msg(a.kind == b.kind && !strcmp(a.name, b.name) &&
                          a.threshold == b.threshold && a.k == b.k &&
                          a.class_id == b.class_id && a.loss.kind == b.loss.kind &&
                          a.loss.from_logits == b.loss.from_logits &&
                          a.loss.delta == b.loss.delta &&
                          a.num_thresholds == b.num_thresholds && a.curve == b.curve &&
                          a.summation == b.summation && a.from_logits == b.from_logits,
                      "%s -> %s", cases[i].text, s);
        free(s);
    }
    struct metric m = parsed("Precision", 1, 1);
    char *s = json_of(&m);
    ck_assert_str_eq(s, "\"precision\"");
    free(s);
    m = parsed("{class_name: AUC, config: {name: my_auc}}", 1, 1);
    s = json_of(&m);
    ck_assert_str_eq(s, "{\"AUC\": {\"name\": \"my_auc\", \"num_thresholds\": 200, \"curve\": "
                        "\"ROC\", \"summation_method\": \"interpolation\", \"from_logits\": "
                        "false}}");
    free(s);
}
END_TEST

START_TEST(test_tfjs_names)
{
    /* Only what tfjs-layers' compile accepts (metrics.ts metricsMap, or
     * 'accuracy' resolved against the loss). */
    struct loss sparse, bce;
    loss_init(&sparse, LOSS_SPARSE_CE);
    loss_init(&bce, LOSS_BINARY_CE);
    struct metric m = parsed("accuracy", 3, 1);
    ck_assert_str_eq(metric_tfjs_name(&m, &sparse), "accuracy");
    m = parsed("sparse_categorical_accuracy", 3, 1);
    ck_assert_str_eq(metric_tfjs_name(&m, &sparse), "accuracy");
    m = parsed("accuracy", 1, 1);
    ck_assert_str_eq(metric_tfjs_name(&m, &bce), "accuracy");
    ck_assert_str_eq(metric_tfjs_name(&m, &sparse), "binary_accuracy");
    m = parsed("categorical_accuracy", 3, 3);
    ck_assert_str_eq(metric_tfjs_name(&m, &bce), "categorical_accuracy");
    m = parsed("precision", 1, 1);
    ck_assert_str_eq(metric_tfjs_name(&m, &bce), "precision");
    m = parsed("MeanSquaredError", 1, 1);
    ck_assert_str_eq(metric_tfjs_name(&m, &bce), "mse");
    m = parsed("recall", 1, 1);
    ck_assert_ptr_null(metric_tfjs_name(&m, &bce));
    m = parsed("auc", 1, 1);
    ck_assert_ptr_null(metric_tfjs_name(&m, &bce));
    m = parsed("{binary_accuracy: {threshold: 0.3}}", 1, 1);
    ck_assert_ptr_null(metric_tfjs_name(&m, &bce));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("metrics");
    tcase_add_test(tc, test_resolution);
    tcase_add_test(tc, test_loss_metrics);
    tcase_add_test(tc, test_arguments_and_serialized);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_mean_values);
    tcase_add_test(tc, test_top_k);
    tcase_add_test(tc, test_precision_recall_pooled);
    tcase_add_test(tc, test_auc);
    tcase_add_test(tc, test_json_round_trip);
    tcase_add_test(tc, test_tfjs_names);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
