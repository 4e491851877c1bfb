/* The batch loader: a thread that gathers batch k+1 (rows by index from a
 * dataset mapped from the cache; rows in memory are simply copied into the
 * model's inputs when taken) into one of two staging slots while batch k
 * trains. The caller asks for batches in order; the
 * loader never runs ahead of what it was asked, so the order of the rows
 * (and of everything drawn from the rng) is the same as gathering inline:
 * results are bit-identical with or without it. Slots are sized at
 * loader_start; nothing is allocated per batch. */
#ifndef NNC_LOADER_H
#define NNC_LOADER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "data/dataset.h"
#include "model.h"

/* One gathered batch: x holds input 0's B samples, then input 1's, ...;
 * y the target batch (model_target_block layout); w the B sample weights
 * (NULL when the dataset has none). */
struct batch {
    float *x, *y, *w;
    size_t B;
    long step;     /* the batch's number, -1 when empty */
    bool ready;
};

struct loader {
    const struct model *m;
    const struct dataset *ds;
    size_t bs;
    struct batch slot[2];
    /* Where each sample of the batch being gathered is (bs pointers). */
    const float **xp, **yp;
    /* A large mapped dataset is read with preadv (loader.c) but for its
     * first map_rows rows in a shuffled order; y only when y_read: the
     * batch's rows in file order (ref), runs of up to max_run consecutive
     * rows in one call (iov, xdst, ydst), into the batch itself or, with
     * several inputs (outputs), staged in xs (ys): bs rows each. */
    bool pread, y_read;
    size_t map_rows, max_run;
    struct row_ref *ref;
    struct iovec *iov;
    float **xdst, **ydst;
    float *xs, *ys;
    /* The pending request (guarded by mu). */
    bool pending, quit;
    const size_t *idx;
    size_t first, B;
    long step;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    bool threaded;
};

/* Sizes the slots for batches of up to bs samples and starts the thread
 * for a mapped dataset (gathers inline if it cannot be started). Rows in
 * memory are gathered inline, by loader_take, into the model's inputs. */
void loader_start(struct loader *l, const struct model *m, const struct dataset *ds, size_t bs);
/* Asks for batch `step`: samples idx[first .. first+B) (first .. first+B
 * when idx is NULL). idx must not change until the batch is taken. */
void loader_request(struct loader *l, long step, const size_t *idx, size_t first, size_t B);
/* Waits for batch `step` (asking for it first if it was not asked for) and
 * copies its inputs into the model's inputs. The batch stays valid until
 * the request after next. */
const struct batch *loader_take(struct loader *l, struct model *m, long step, const size_t *idx,
                                size_t first, size_t B);
void loader_stop(struct loader *l);

#endif
