/* The fit and evaluate loops (no printing of their own beyond the progress
 * bar): batches gathered from an in-memory dataset into the model's
 * workspace, forward, backward, optimizer step, Keras-style running means. */
#ifndef NNC_TRAIN_H
#define NNC_TRAIN_H

#include <stdbool.h>
#include <stdint.h>

#include "callback.h"
#include "checkpoint.h"
#include "data/dataset.h"
#include "fit_options.h"
#include "model.h"
#include "rng.h"

struct fit_conf {
    long epochs;              /* Keras default 1 */
    long batch_size;          /* 32 */
    bool shuffle;             /* true */
    double validation_split;  /* 0 */
    int verbose;              /* -1: 1 on a terminal, else 2 */
    bool has_seed;
    uint64_t seed;
    const char *validation_data; /* a CSV with the training layout, or NULL */
    /* fit_options.h: */
    bool shuffle_batch;       /* shuffle: "batch" */
    long validation_freq;     /* 1: every epoch; 0 with validation_epochs */
    const struct spec_node *validation_epochs; /* validation_freq: [epochs] */
    long validation_steps;    /* 0: the whole validation set */
    long steps_per_epoch;     /* 0: one pass over the data */
    long initial_epoch;       /* with initial_epoch_set, epochs is the last epoch */
    bool initial_epoch_set;
    const struct spec_node *class_weight; /* map class -> weight, or NULL */
    struct callback_list callbacks; /* fit.callbacks (owned: callback_list_free) */
};

void fit_conf_default(struct fit_conf *fc);
/* The fit: section (epochs, batch_size, shuffle, validation_split, verbose,
 * seed, callbacks). */
int fit_conf_parse(const struct spec_node *fit, struct fit_conf *fc, struct diag *d);

/* The number of reported values (at most MODEL_MAX_VALUES) and their
 * names: "loss", each output's loss when there are several
 * ("out_a_loss"), then each output's metrics ("accuracy", or
 * "out_a_accuracy" when there are several outputs), with prefix ("val_"). */
size_t train_n_values(const struct model *m);
size_t train_value_names(const struct model *m, const char **names, const char *prefix,
                         char (*storage)[80]);

/* Trains for fc->epochs from meta->epoch, appending to meta->history; state
 * is the optimizer state (optim_n_slots * n_weights floats). */
int train_fit(struct model *m, const struct dataset *train, const struct dataset *val,
              const struct fit_conf *fc, float *state, struct ckpt_meta *meta, struct rng *r,
              struct diag *d);
/* Loss and metrics over a dataset in batches (values: loss, metrics...);
 * the loss weighted by ds->w when present. */
void train_evaluate(struct model *m, const struct dataset *ds, size_t batch_size, int verbose,
                    double *values);
/* The same over the first `steps` batches only (0: all; validation_steps). */
void train_evaluate_steps(struct model *m, const struct dataset *ds, size_t batch_size,
                          size_t steps, int verbose, double *values);

#endif
