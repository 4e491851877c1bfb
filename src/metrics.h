/* Metrics as Keras resolves and reports them: "accuracy"/"acc" become
 * binary, categorical or sparse categorical accuracy from the shapes, any
 * loss function is a metric (its mean), and precision, recall and auc come
 * from confusion counts. The printed name is the one Keras prints.
 *
 * A metric accumulates over an epoch in a struct metric_state, as a Keras
 * Metric's variables do: metric_reset at the start, metric_update per batch,
 * metric_result for the value so far. Mean metrics (accuracies, loss
 * functions) weight every row equally, i.e. batches by their size;
 * precision, recall and auc divide counts summed over all batches. */
#ifndef NNC_METRICS_H
#define NNC_METRICS_H

#include <stdbool.h>
#include <stddef.h>

#include "diag.h"
#include "json.h"
#include "loss.h"
#include "spec.h"

enum metric_kind {
    MET_BINARY_ACCURACY, MET_CATEGORICAL_ACCURACY, MET_SPARSE_CATEGORICAL_ACCURACY,
    MET_TOP_K, MET_SPARSE_TOP_K, /* (sparse_)top_k_categorical_accuracy */
    MET_LOSS,                    /* the mean of a loss function (mse, hinge, ...) */
    MET_COSINE_SIMILARITY,       /* the mean cosine similarity (the loss negated) */
    MET_RMSE,                    /* RootMeanSquaredError */
    MET_PRECISION, MET_RECALL, MET_AUC
};

enum auc_curve { AUC_ROC, AUC_PR };
enum auc_summation { AUC_INTERPOLATION, AUC_MINORING, AUC_MAJORING };

struct metric {
    enum metric_kind kind;
    char name[64];       /* as printed: "accuracy", "acc", "mse", "auc", ... */
    bool plain;          /* its name alone resolves back to it (checkpoints) */
    double threshold;    /* binary_accuracy, precision, recall; Keras 0.5 */
    long k;              /* top-k accuracies; Keras 5 */
    long class_id;       /* precision, recall: one column, or -1 for all */
    struct loss loss;    /* MET_LOSS, MET_COSINE_SIMILARITY */
    long num_thresholds; /* auc; Keras 200 */
    enum auc_curve curve;
    enum auc_summation summation;
    bool from_logits;    /* auc: predictions are logits */
};

struct metric_state {
    double total, count; /* mean metrics: sum of row values, rows */
    double tp, fp, fn;   /* precision, recall */
    double *pos, *neg;   /* auc: label weight per threshold bucket (num_thresholds) */
};

/* Resolves one entry of compile.out[0].metrics for an output with K values per row
 * whose targets have target_width values per row (1 and K > 1 = sparse). */
int metric_parse(const struct spec_node *n, size_t K, size_t target_width, struct metric *out,
                 struct diag *d);
/* What metric_parse reads back as the same metric with the same name: the
 * name alone, or {Class: {name: ..., arguments...}}. */
void metric_to_json(const struct metric *m, struct json *j);
/* The identifier TensorFlow.js's compile accepts for this metric (tfjs
 * metrics.ts metricsMap, or 'accuracy' resolved against the loss), or NULL
 * when tfjs has none. */
const char *metric_tfjs_name(const struct metric *m, const struct loss *loss);

/* The state allocates the auc buckets; metric_state_free releases them. */
void metric_state_init(const struct metric *m, struct metric_state *s);
void metric_state_free(struct metric_state *s);
void metric_reset(const struct metric *m, struct metric_state *s);
/* Adds a batch: y_pred (rows, K), y_true (rows, target_width). */
void metric_update(const struct metric *m, struct metric_state *s, const float *y_pred,
                   const float *y_true, size_t rows, size_t K, size_t target_width);
/* The same for the rows a time-step mask keeps (mask[r / rows_per_mask]
 * nonzero; NULL keeps all): Keras's MetricsContainer passes the output's
 * mask as the sample weight of compile metrics, so masked rows count for
 * nothing (tf-keras engine/compile_utils.py). */
void metric_update_masked(const struct metric *m, struct metric_state *s, const float *y_pred,
                          const float *y_true, size_t rows, size_t K, size_t target_width,
                          const unsigned char *mask, size_t rows_per_mask);
/* The metric over everything added since the reset (0 before any row). */
double metric_result(const struct metric *m, const struct metric_state *s);

#endif
