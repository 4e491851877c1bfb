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
    size_t *line;       /* (n) file line of each sample, or NULL: first_line + i */
    /* A cached CSV or array (cache.h), or a float32 NPY trained from its
     * own map (dataset_arrays.c): x, y and line point into this read-only
     * map of map_len bytes, which the dataset owns; mapped: x, y and line
     * are not the dataset's to free (also in a validation tail of a map). */
    void *map;
    size_t map_len;
    bool mapped;
    /* With mapped: y is malloc'd after all (an NPY's targets, converted in
     * memory), the dataset's to free and not in the map. */
    bool y_owned;
    /* With mapped: the mapped file, open (the map's owner closes it), and
     * the map's first byte: the loader preads rows (file offset = row
     * address - base) so that training never makes the map resident. */
    int fd;
    const unsigned char *base;
};

/* The file line of sample i, for messages. */
size_t dataset_line(const struct dataset *ds, size_t i);

/* The data: section: target, features, sample_weight, header, delimiter,
 * comment, na_value. */
struct data_conf {
    const struct spec_node *target, *features;
    const struct spec_node *sample_weight; /* one numeric column: a weight >= 0 per row */
    /* Column groups by model input / output name (dataset_named.c). */
    const struct spec_node *inputs, *targets;
    struct csv_options csv;
};

int data_conf_parse(const struct spec_node *section, struct data_conf *out, struct diag *d);

/* na_value (a number, or null / absent: none) into *has and *value. */
int data_parse_na_value(const struct spec_node *na, bool *has, float *value, struct diag *d);
/* dc's CSV options, with the training data's na_value and comment (saved in
 * the checkpoint's meta) where dc sets none: evaluate and predict read
 * their data as training did. */
struct csv_options data_csv_options(const struct data_conf *dc, const struct ckpt_meta *meta);

/* Training data: resolves the columns from dc, records the mapping and the
 * class names in meta (which owns them afterwards). */
int dataset_load_train(const char *path, const struct data_conf *dc, const struct model *m,
                       struct dataset *ds, struct ckpt_meta *meta, struct diag *d);
/* The number of feature columns training would read from the CSV at path
 * with the data section dc (dataset_load_train's columns). */
int dataset_csv_feature_count(const char *path, const struct data_conf *dc, size_t *n_f,
                              struct diag *d);
/* Values per sample of a one-input model's features in DATA as train and
 * evaluate read them (a CSV's feature columns, an array's row): *values 0
 * when it cannot be known before the data is read (stdin, several inputs,
 * column groups). m: any build of the model (names only are used); train:
 * an NPZ's x_train, else x_test, when no member has the input's name. */
int dataset_values_per_sample(const char *const *paths, size_t n_paths, const struct data_conf *dc,
                              const struct model *m, bool train, size_t *values, struct diag *d);
/* Held-out data read with a checkpoint's mapping and class names. */
int dataset_load_eval(const char *path, const struct data_conf *dc, const struct model *m,
                      const struct ckpt_meta *meta, struct dataset *ds, struct diag *d);
/* Checks n samples of model input x read from `source` (sample i on line
 * lines[i], or first_line + i when lines is NULL; cols: the file column of
 * each input value, or NULL) with
 * model_check_input: a located error "data.csv:12:3: index 1000 of
 * embedding ..." when one is out of its layer's domain. */
int dataset_check_input(const struct model *m, const char *source, size_t first_line,
                        const size_t *lines, const float *x, size_t n, const size_t *cols,
                        struct diag *d);
/* dataset_check_input over a mapped dataset (messages name source;
 * features: the file column of each value, or NULL), in chunks whose pages
 * are dropped as it goes. */
int dataset_check_input_mapped(const struct model *m, const struct dataset *ds,
                               const char *source, const size_t *features, struct diag *d);
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
/* Every remaining row of r (after csv_select): x (n, n_x), raw targets t
 * (n, n_t), each row's file line; malloc'd, the caller frees them (also on
 * error). "no data rows" is an error. */
int dataset_read_csv(struct csv_reader *r, size_t n_x, size_t n_t, float **x, float **t,
                     size_t **lines, size_t *n, struct diag *d);

/* Several inputs or outputs (dataset_named.c). A dataset row holds every
 * input's values, input after input, and every output's targets, output
 * after output (model_inputs_size, model_targets_size).
 * dataset_load_named: one file per input and per output's targets, from
 * --input NAME=FILE and --target NAME=FILE items (NPY, IDX, CSV of numbers
 * only, or an NPZ's member named NAME or its only member); row counts
 * must agree (an error names both files). With want_targets false
 * (predict) targets are neither wanted nor allowed. */
int dataset_load_named(const struct model *m, const char *const *inputs, size_t n_inputs,
                       const char *const *targets, size_t n_targets, const struct data_conf *dc,
                       const struct ckpt_meta *meta, struct dataset *ds, struct diag *d);
/* Matches "NAME=FILE" items to the model's inputs (outputs: its outputs):
 * path[k] for each; every one is needed, none may come twice; errors name
 * the option (--input, --target). */
int dataset_match_names(const struct model *m, bool outputs, const char *const *items,
                        size_t n_items, const char **path, struct diag *d);
/* DATA for a model with several inputs or outputs, or a data section with
 * inputs:/targets: column groups: one NPZ whose members are named after
 * the inputs and outputs, or one CSV whose data section maps each input
 * and output to its columns (train records the mapping in meta; evaluate
 * reads it from there). */
int dataset_load_multi(const char *const *paths, size_t n_paths, const struct data_conf *dc,
                       const struct model *m, bool train, struct ckpt_meta *meta,
                       struct dataset *ds, struct diag *d);

/* Raw targets t (ds->n, n_t) -> ds->y as the loss wants them: class
 * indices checked against the output's K, one-hot for categorical losses. */
int dataset_convert_targets(const struct model *m, struct dataset *ds, const float *t, size_t n_t,
                            bool is_class, size_t n_classes, struct diag *d);
/* The same for output k. */
int dataset_convert_targets_at(const struct model *m, size_t k, struct dataset *ds, const float *t,
                               size_t n_t, bool is_class, size_t n_classes, struct diag *d);
/* predict's input when path is an NPY, NPZ (member as for evaluate) or
 * IDX file whose samples fit the model's input: 1 with *x open, 0 when
 * path is CSV (x untouched), -1 on error. */
struct array;
int predict_open_array(const char *path, const struct model *m, struct array *x,
                       struct diag *d);

/* Chooses the columns of a prediction input: the training feature columns by
 * name when the header has them, else all columns when their number is the
 * model's input size (every input's, input after input), else the training
 * column positions. */
int predict_columns(struct csv_reader *r, const struct model *m, const struct ckpt_meta *meta,
                    struct diag *d);

#endif
