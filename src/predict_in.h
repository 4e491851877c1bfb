/* Where nnc predict's input rows come from, batch by batch, into the
 * model's inputs: for each input its own file (--input NAME=FILE: an NPY,
 * IDX or NPZ array read row by row, or a CSV of numbers streamed), or one
 * DATA file (or standard input) for them all: an array (one input), an NPZ
 * with a member per input, or CSV rows holding every input's columns (the
 * training layout, or exactly the inputs' values in order). Row counts
 * that disagree between files are an error naming both. pred_in_close
 * releases everything. */
#ifndef NNC_PREDICT_IN_H
#define NNC_PREDICT_IN_H

#include <stddef.h>

#include "checkpoint.h"
#include "data/array.h"
#include "data/csv.h"
#include "data/dataset.h"
#include "model.h"

struct pred_feed {
    const char *name;        /* for messages */
    struct array x;          /* an array's rows, or */
    struct csv_reader *r;    /* CSV rows */
    size_t done;             /* rows read so far */
    size_t line;             /* the file line (CSV) or row (arrays, 1-based) of the next row */
};

struct pred_in {
    size_t n_feeds;          /* one per input; 1 with combined */
    struct pred_feed feed[MODEL_MAX_IO];
    bool combined;           /* one CSV holding every input's columns */
    float *rows;             /* combined: a batch of dataset rows */
    size_t max_batch;
};

/* items: --input NAME=FILE (n_items of them), or else path (DATA, "-"). */
int pred_in_open(struct pred_in *in, const struct model *m, const char *const *items,
                 size_t n_items, const char *path, const struct data_conf *dc,
                 const struct ckpt_meta *meta, size_t max_batch, struct diag *d);
/* The next batch into the model's inputs (Embedding indices checked):
 * samples read, 0 at the end, -1 on error. */
long pred_in_next(struct pred_in *in, struct model *m, struct diag *d);
void pred_in_close(struct pred_in *in);

#endif
