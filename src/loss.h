/* Losses with Keras names, arguments and reduction: each row's loss is the
 * Keras function's reduction of the last axis (K values: a mean for most, a
 * sum or max for the categorical ones), the reported loss is the mean over
 * rows (rows = batch × any middle axes), as sum_over_batch_size does.
 * Probabilities are clipped to [1e-7, 1 - 1e-7] as Keras's backend does. */
#ifndef NNC_LOSS_H
#define NNC_LOSS_H

#include <stdbool.h>
#include <stddef.h>

#include "diag.h"
#include "json.h"
#include "spec.h"

enum loss_kind {
    LOSS_MSE, LOSS_MAE, LOSS_MAPE, LOSS_MSLE, LOSS_BINARY_CE, LOSS_CATEGORICAL_CE,
    LOSS_SPARSE_CE, LOSS_HINGE, LOSS_SQUARED_HINGE, LOSS_CATEGORICAL_HINGE, LOSS_KLD,
    LOSS_POISSON, LOSS_COSINE, LOSS_HUBER, LOSS_LOG_COSH
};

struct loss {
    enum loss_kind kind;
    bool from_logits;       /* binary/categorical/sparse crossentropy */
    double label_smoothing; /* binary/categorical crossentropy, in [0, 1] */
    double delta;           /* huber; Keras default 1.0 */
};

/* "mse", "mean_squared_error", "binary_crossentropy", ..., or
 * {categorical_crossentropy: {from_logits: true}} or Keras's
 * {class_name: ..., config: {...}}. */
int loss_parse(const struct spec_node *n, struct loss *out, struct diag *d);
/* Keras's serialized name ("mean_squared_error", "categorical_crossentropy"). */
const char *loss_name(const struct loss *l);
void loss_to_json(const struct loss *l, struct json *j);
/* The identifier TensorFlow.js's loadTrainingConfig accepts for this loss
 * (after camel-casing), or NULL when tfjs has no such loss (huber). */
const char *loss_tfjs_name(const struct loss *l);
/* Target values per row that the loss expects for an output of K values
 * per row: 1 (a class index) for sparse_categorical_crossentropy, else K. */
size_t loss_target_width(const struct loss *l, size_t K);

/* For metrics.c, which takes any loss function as a metric:
 * loss_lookup finds a function name or alias ("mse", "kld"; is_class false)
 * or a Loss class name ("Huber"); returns -1 when name is no loss.
 * loss_init sets the defaults of a kind. loss_check_args checks the keys of
 * an argument map against the function's keyword arguments plus extra[];
 * loss_apply_args then applies the function's arguments, skipping the
 * extra keys (the caller's). */
int loss_lookup(const char *name, enum loss_kind *kind, bool *is_class);
void loss_init(struct loss *l, enum loss_kind kind);
int loss_check_args(const struct loss *l, const struct spec_node *args, const char *const *extra,
                    size_t n_extra, const char *where, struct diag *d);
int loss_apply_args(struct loss *l, const struct spec_node *args, struct diag *d);
/* Every spelling loss_lookup accepts, for "did you mean" hints. */
size_t loss_spellings(const char **names, size_t max);

/* y_pred (rows, K), y_true (rows, loss_target_width). Returns the mean over
 * rows of the per-row loss (accumulated in double). When dy_pred is not
 * NULL, writes (overwrites) d(returned loss)/d(y_pred), shape (rows, K).
 * A sparse target that is not an integer in [0, K) is the caller's to check. */
double loss_compute(const struct loss *l, const float *y_pred, const float *y_true, size_t rows,
                    size_t K, float *dy_pred);
/* The same with a weight per row (w[r / rows_per_weight]: 1 for a weight
 * per row, rows per sample for a weight per sample): sum(w_r * loss_r) /
 * rows, Keras's sum_over_batch_size weighting; w NULL is loss_compute. */
double loss_compute_weighted(const struct loss *l, const float *y_pred, const float *y_true,
                             size_t rows, size_t K, const float *w, size_t rows_per_weight,
                             float *dy_pred);
/* The same under a time-step mask (mask[r / rows_per_mask]: 1 keeps row r,
 * 0 drops it; NULL is loss_compute_weighted): Keras's masked loss,
 * sum over kept rows of w_r * loss_r, divided by the number of kept rows
 * (0 when none is kept). Masked rows get a zero gradient. */
double loss_compute_masked(const struct loss *l, const float *y_pred, const float *y_true,
                           size_t rows, size_t K, const float *w, size_t rows_per_weight,
                           const unsigned char *mask, size_t rows_per_mask, float *dy_pred);

#endif
