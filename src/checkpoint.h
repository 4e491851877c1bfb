/* Checkpoints (SPEC 5): a directory with model.json in the TensorFlow.js
 * layers-model format, weights.bin (float32 little-endian in manifest
 * order) and optimizer.bin (optimizer state for --resume). Written
 * atomically: everything goes to a sibling temporary directory that is
 * renamed over the target, so a failed or interrupted run leaves the old
 * checkpoint (or none), never a partial one. */
#ifndef NNC_CHECKPOINT_H
#define NNC_CHECKPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diag.h"
#include "model.h"
#include "model_file.h"

/* Per-epoch history: values[epoch * n_cols + col], columns like "loss",
 * "accuracy", "val_loss", "val_accuracy", "lr", "seconds". */
struct history {
    size_t n_cols, n_epochs, cap;
    char **cols;
    double *values;
};

/* What nnc alone needs, stored under model.json's "nnc" key. */
/* The longest None length a checkpoint may record (2^24 steps a sample). */
#define FREE_LENGTH_MAX (1 << 24)

struct ckpt_meta {
    size_t n_classes;
    char **classes;              /* target class names, or NULL */
    size_t n_features;
    char **feature_names;        /* feature column names (header), or NULL */
    size_t *feature_cols;        /* feature column indices in the training CSV */
    size_t n_columns;            /* columns of the training CSV */
    size_t n_target;
    size_t *target_cols;
    /* Several outputs: target_cols holds each output's columns, output
     * after output, n_target_groups (= the outputs) counts of them. */
    size_t n_target_groups;
    size_t target_groups[MODEL_MAX_IO];
    bool has_na;                 /* the training data section's na_value, */
    float na_value;              /* which evaluate and predict apply too */
    char *comment;               /* its comment marker, or NULL */
    size_t free_length;          /* the length None dimensions were trained with
                                  * (free_length.h), or 0 */
    long epoch;                  /* epochs completed */
    long iterations;             /* optimizer steps taken */
    bool has_rng;                /* rng: the generator's state after the fit, */
    uint64_t rng[4];             /* so that --resume continues its stream */
    struct history history;
};

int checkpoint_save(const char *dir, const struct model *m, const struct ckpt_meta *meta,
                    const float *opt_state, size_t n_state, struct diag *d);
/* Reads weights.bin into m->w (allocating w and dw), checking the manifest
 * against the model's parameters: names, shapes, dtype and file size. */
/* Deletes a checkpoint directory nnc wrote (its files, then the directory);
 * -1 when something could not be removed. */
int checkpoint_remove(const char *dir);
int checkpoint_load_weights(struct model *m, const struct model_file *mf, struct diag *d);
/* Reads the "nnc" key (absent in a foreign model.json: an empty meta). */
int checkpoint_load_meta(const struct model_file *mf, struct ckpt_meta *meta, struct diag *d);
/* Reads optimizer.bin (n_state floats) if present; returns 1 if read, 0 if
 * absent, -1 on error. */
int checkpoint_load_optimizer(const struct model_file *mf, float *state, size_t n_state,
                              struct diag *d);
void ckpt_meta_free(struct ckpt_meta *meta);

void history_init(struct history *h, char **cols, size_t n_cols); /* copies the names */
void history_add(struct history *h, const double *row);
void history_free(struct history *h);

#endif
