/* Whole datasets in memory for fit and evaluate: the data: section of the
 * model file, CSV columns mapped to the model's input and target, class
 * names to indices, integer labels one-hot encoded where the loss wants it.
 * The dataset owns x and y; dataset_free releases them. */
#ifndef NNC_DATASET_H
#define NNC_DATASET_H

#include <stddef.h>

#include "../checkpoint.h"
#include "../model.h"
#include "../spec.h"
#include "csv.h"

struct dataset {
    char *source;       /* file name for messages */
    size_t n;           /* samples */
    size_t n_x, n_y;    /* floats per sample: model input, loss target */
    float *x, *y;       /* (n, n_x), (n, n_y) */
    float *w;           /* (n) per-sample loss weights, or NULL (all 1) */
    size_t first_line;  /* file line of sample 0 (for messages) */
};

/* The data: section: target, features, sample_weight, header, delimiter. */
struct data_conf {
    const struct spec_node *target, *features;
    const struct spec_node *sample_weight; /* one numeric column: a weight >= 0 per row */
    struct csv_options csv;
};

int data_conf_parse(const struct spec_node *section, struct data_conf *out, struct diag *d);

/* Training data: resolves the columns from dc, records the mapping and the
 * class names in meta (which owns them afterwards). */
int dataset_load_train(const char *path, const struct data_conf *dc, const struct model *m,
                       struct dataset *ds, struct ckpt_meta *meta, struct diag *d);
/* Held-out data read with a checkpoint's mapping and class names. */
int dataset_load_eval(const char *path, const struct data_conf *dc, const struct model *m,
                      const struct ckpt_meta *meta, struct dataset *ds, struct diag *d);
/* Moves the last `count` samples of ds into tail (validation_split). */
void dataset_split_tail(struct dataset *ds, size_t count, struct dataset *tail);
void dataset_free(struct dataset *ds);

/* DATA... of train and evaluate (dataset_arrays.c): one CSV file (as
 * above), or NPY/IDX files with the features then the targets, or one NPZ
 * whose members are named after the model's input and output layers, or
 * x and y (x_train/y_train for training, x_test/y_test for evaluation).
 * Array rows are counted from 1 in messages ("y.npy:18: ..."). */
int dataset_load_train_files(const char *const *paths, size_t n_paths,
                             const struct data_conf *dc, const struct model *m,
                             struct dataset *ds, struct ckpt_meta *meta, struct diag *d);
int dataset_load_eval_files(const char *const *paths, size_t n_paths,
                            const struct data_conf *dc, const struct model *m,
                            const struct ckpt_meta *meta, struct dataset *ds, struct diag *d);
/* Raw targets t (ds->n, n_t) -> ds->y as the loss wants them: class
 * indices checked against the output's K, one-hot for categorical losses. */
int dataset_convert_targets(const struct model *m, struct dataset *ds, const float *t, size_t n_t,
                            bool is_class, size_t n_classes, struct diag *d);
/* predict's input when path is an NPY, NPZ (member as for evaluate) or
 * IDX file whose samples fit the model's input: 1 with *x open, 0 when
 * path is CSV (x untouched), -1 on error. */
struct array;
int predict_open_array(const char *path, const struct model *m, struct array *x,
                       struct diag *d);

/* Chooses the columns of a prediction input: the training feature columns by
 * name when the header has them, else all columns when their number is the
 * model's input size, else the training column positions. */
int predict_columns(struct csv_reader *r, const struct model *m, const struct ckpt_meta *meta,
                    struct diag *d);

#endif
