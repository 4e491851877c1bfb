/* Where nnc predict's rows go: standard output, or -o FILE written aside
 * and renamed into place when every row is done (an error leaves no file).
 * CSV rows are printed by the caller into pred_out_file and stream to
 * standard output batch by batch; NPY output (float32 values, or int64
 * class indices with --argmax) goes through a temporary file, because the
 * row count in its header is known only at the end, and reaches its
 * destination only when complete. */
#ifndef NNC_PREDICT_OUT_H
#define NNC_PREDICT_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "diag.h"

#define PRED_OUT_MAX_RANK 8

struct pred_out {
    const char *path;          /* -o FILE, or NULL: standard output */
    char *tmp;                 /* the aside file's name (path given) */
    FILE *f;                   /* what rows are written to */
    bool npy, int64;           /* NPY output; of int64 (else float32) */
    size_t rank;               /* per-sample shape of the NPY output */
    size_t shape[PRED_OUT_MAX_RANK];
    size_t header;             /* bytes reserved for the NPY header */
    size_t rows;
};

/* sample_shape/rank: one sample's output shape (NPY only). */
int pred_out_open(struct pred_out *o, const char *path, bool npy, bool int64,
                  const size_t *sample_shape, size_t rank, struct diag *d);
FILE *pred_out_file(const struct pred_out *o);
/* NPY: appends rows of values (float or int64_t, rows * sample size). */
int pred_out_npy_rows(struct pred_out *o, const void *values, size_t rows, struct diag *d);
/* After each batch: CSV to standard output is flushed; write errors. */
int pred_out_flush(struct pred_out *o, struct diag *d);
/* Completes the output: the NPY header, then the rename or the copy to
 * standard output. */
int pred_out_finish(struct pred_out *o, struct diag *d);
/* Drops an unfinished output (removes the aside file). */
void pred_out_abort(struct pred_out *o);

#endif
