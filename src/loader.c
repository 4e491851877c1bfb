/* The batch loader (see loader.h). */
#include "loader.h"

#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "parallel.h"

/* A mapped dataset up to this size ($NNC_MAP_RESIDENT bytes, if set) is
 * read through its map: all of it may become resident, which stays within
 * the memory bound nnc promises (256 MB plus the model), and a row costs
 * no system call (pread made a 60000-row Fashion-MNIST epoch 13% slower).
 * Of a larger one, in a shuffled order, the first rows are still read
 * through the map, as many as fit in half that many bytes less what the
 * epoch's permutation (8 bytes a row) and the resident targets take (the
 * whole stays within the bound); the others, and every row of a sequential
 * pass (evaluate, validation, shuffle false: consecutive rows in one
 * call), with preadv: random rows touched through a map would stay
 * resident (with the kernel's fault-around, 64 KiB a row), the page cache
 * does not count. (Reading every row through the map and dropping its
 * pages with madvise every so often cost 2-3x pread's time a row here:
 * every row is a page fault again. bench/README.md.) */
#define LOADER_MAP_RESIDENT ((size_t)256 << 20)

struct row_ref {
    size_t row, s; /* dataset row, place in the batch */
};

static int by_row(const void *a, const void *b)
{
    size_t x = ((const struct row_ref *)a)->row, y = ((const struct row_ref *)b)->row;
    return x < y ? -1 : x > y;
}

/* Reads rows row .. row+count of a block (width floats a row) with one
 * preadv into dst[0 .. count) (a row each); false on an I/O error. */
static bool read_run(const struct loader *l, const float *block, size_t width, size_t row,
                     size_t count, float *const *dst)
{
    const struct dataset *ds = l->ds;
    size_t bytes = width * sizeof(float);
    for (size_t j = 0; j < count; j++)
        l->iov[j] = (struct iovec){dst[j], bytes};
    off_t at = (off_t)((const unsigned char *)(block + row * width) - ds->base);
    return preadv(ds->fd, l->iov, (int)count, at) == (ssize_t)(count * bytes);
}

/* Where each sample's rows go (b's own rows when the model has one input
 * or output: no copy after the read), where they are (xp, yp). With pread,
 * the batch's rows are read in file order, runs of consecutive rows (a
 * sequential pass: evaluate, validation, shuffle false) in one call. */
static void locate_rows(struct loader *l, struct batch *b, const size_t *idx, size_t first,
                        size_t B)
{
    const struct dataset *ds = l->ds;
    size_t n_x = ds->n_x, n_y = ds->n_y;
    for (size_t s = 0; s < B; s++) {
        size_t i = idx ? idx[first + s] : first + s;
        l->xp[s] = ds->x + i * n_x;
        l->yp[s] = ds->y + i * n_y;
    }
    if (!l->pread)
        return;
    size_t n = 0, map_rows = idx ? l->map_rows : 0;
    for (size_t s = 0; s < B; s++) {
        size_t i = idx ? idx[first + s] : first + s;
        if (i >= map_rows)
            l->ref[n++] = (struct row_ref){i, s};
    }
    bool sorted = true;
    for (size_t k = 1; k < n && sorted; k++)
        sorted = l->ref[k - 1].row <= l->ref[k].row;
    if (!sorted)
        qsort(l->ref, n, sizeof *l->ref, by_row);
    bool one_in = l->m->n_inputs == 1, one_out = l->m->n_outputs == 1;
    for (size_t k = 0; k < n;) {
        size_t run = 1, row = l->ref[k].row;
        while (k + run < n && run < l->max_run && l->ref[k + run].row == row + run)
            run++;
        for (size_t j = 0; j < run; j++) {
            size_t s = l->ref[k + j].s;
            l->xdst[j] = one_in ? b->x + s * n_x : l->xs + s * n_x;
            l->ydst[j] = one_out ? b->y + s * n_y : l->ys + s * n_y;
        }
        /* (After an I/O error: through the map.) */
        bool x_ok = read_run(l, ds->x, n_x, row, run, l->xdst);
        bool y_ok = l->y_read && read_run(l, ds->y, n_y, row, run, l->ydst);
        for (size_t j = 0; j < run; j++) {
            if (x_ok)
                l->xp[l->ref[k + j].s] = l->xdst[j];
            if (y_ok)
                l->yp[l->ref[k + j].s] = l->ydst[j];
        }
        k += run;
    }
}

struct gather_job {
    struct loader *l;
    struct batch *b;
    const size_t *idx;
    size_t first, B;
    struct model *into;
};

/* Samples [s0, s1) of a gather (each writes only its own rows). */
static void gather_rows(void *ctx, size_t s0, size_t s1)
{
    const struct gather_job *j = ctx;
    const struct loader *l = j->l;
    const struct model *m = l->m;
    const struct dataset *ds = l->ds;
    struct batch *b = j->b;
    for (size_t s = s0; s < s1; s++) {
        size_t i = j->idx ? j->idx[j->first + s] : j->first + s;
        const float *x = l->xp[s], *y = l->yp[s];
        float *xb = b->x;
        for (size_t k = 0; k < m->n_inputs; k++) {
            size_t size = shape_size(&m->inputs[k]->out);
            float *dst = j->into ? j->into->inputs[k]->y : xb; /* b->x is NULL when inline */
            if (x != dst + s * size) /* (read into place) */
                memcpy(dst + s * size, x, size * sizeof *x);
            x += size;
            if (!j->into)
                xb += j->B * size;
        }
        float *block = b->y;
        for (size_t k = 0; k < m->n_outputs; k++) {
            size_t tw = model_target_size_at(m, k);
            if (y != block + s * tw)
                memcpy(block + s * tw, y, tw * sizeof *y);
            y += tw;
            block += j->B * tw;
        }
        if (ds->w)
            b->w[s] = ds->w[i];
    }
}

/* The batch's rows into b (targets, weights, and the inputs when into is
 * NULL) or with the inputs straight into the model's (into). Inline (into,
 * the training thread) the copies are split between the pool's threads;
 * the loader thread copies alone (the pool runs one caller's job at a
 * time, and the training thread is using it). */
static void gather(struct loader *l, struct batch *b, const size_t *idx, size_t first, size_t B,
                   struct model *into)
{
    locate_rows(l, b, idx, first, B);
    struct gather_job j = {l, b, idx, first, B, into};
    if (into)
        parallel_for_samples(B, model_inputs_size(l->m) + model_targets_size(l->m), gather_rows,
                             &j);
    else
        gather_rows(&j, 0, B);
    b->B = B;
}

static void *loader_main(void *arg)
{
    struct loader *l = arg;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!l->pending && !l->quit)
            pthread_cond_wait(&l->cv, &l->mu);
        if (l->quit)
            break;
        struct batch *b = &l->slot[l->step & 1];
        const size_t *idx = l->idx;
        size_t first = l->first, B = l->B;
        pthread_mutex_unlock(&l->mu);
        gather(l, b, idx, first, B, NULL);
        pthread_mutex_lock(&l->mu);
        b->ready = true;
        l->pending = false;
        pthread_cond_broadcast(&l->cv);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

void loader_start(struct loader *l, const struct model *m, const struct dataset *ds, size_t bs)
{
    memset(l, 0, sizeof *l);
    l->m = m;
    l->ds = ds;
    l->bs = bs;
    size_t resident = LOADER_MAP_RESIDENT;
    const char *env = getenv("NNC_MAP_RESIDENT");
    if (env && env[0])
        resident = (size_t)strtoull(env, NULL, 10);
    l->pread = ds->mapped && ds->map_len > resident;
    l->xp = xcalloc(bs, sizeof *l->xp);
    l->yp = xcalloc(bs, sizeof *l->yp);
    if (l->pread) {
        /* Targets of up to 2 floats (or converted into memory) come through
         * the map or memory: resident, they take no more than the epoch's
         * permutation (8 bytes a row), and a row costs one system call
         * instead of two. */
        l->y_read = ds->n_y > 2 && !ds->y_owned;
        size_t row = (ds->n_x + (l->y_read ? ds->n_y : 0)) * sizeof(float) + 1;
        size_t fixed = ds->n * (sizeof(size_t) + (l->y_read ? 0 : ds->n_y * sizeof(float)));
        l->map_rows = resident / 2 > fixed ? (resident / 2 - fixed) / row : 0;
        long iov_max = sysconf(_SC_IOV_MAX);
        l->max_run = iov_max > 0 && iov_max < 1024 ? (size_t)iov_max : 1024;
        l->ref = xcalloc(bs, sizeof *l->ref);
        l->iov = xcalloc(l->max_run, sizeof *l->iov);
        l->xdst = xcalloc(l->max_run, sizeof *l->xdst);
        l->ydst = xcalloc(l->max_run, sizeof *l->ydst);
        if (m->n_inputs > 1)
            l->xs = xcalloc(bs * ds->n_x + 1, sizeof *l->xs);
        if (m->n_outputs > 1)
            l->ys = xcalloc(bs * ds->n_y + 1, sizeof *l->ys);
    }
    for (int k = 0; k < 2; k++) {
        /* Inputs are staged only by the thread (see below). */
        l->slot[k].x = ds->mapped ? xcalloc(bs * (ds->n_x ? ds->n_x : 1), sizeof(float)) : NULL;
        l->slot[k].y = xcalloc(bs * (ds->n_y ? ds->n_y : 1), sizeof(float));
        l->slot[k].w = ds->w ? xcalloc(bs, sizeof(float)) : NULL;
        l->slot[k].step = -1;
    }
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    /* Rows in memory are gathered inline, by loader_take, straight into
     * the model's inputs: the thread would save nothing (its staging copy
     * has to be copied into the inputs anyway) and cost two futex wake-ups
     * and context switches a step. It pays for a mapped dataset (the
     * cache), whose rows may need reading. */
    if (ds->mapped)
        l->threaded = pthread_create(&l->thread, NULL, loader_main, l) == 0;
}

void loader_request(struct loader *l, long step, const size_t *idx, size_t first, size_t B)
{
    NNC_ASSERT(B <= l->bs);
    struct batch *b = &l->slot[step & 1];
    if (!l->threaded) /* loader_take gathers it */
        return;
    pthread_mutex_lock(&l->mu);
    while (l->pending) /* at most one batch ahead */
        pthread_cond_wait(&l->cv, &l->mu);
    b->step = step;
    b->ready = false;
    l->idx = idx;
    l->first = first;
    l->B = B;
    l->step = step;
    l->pending = true;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
}

const struct batch *loader_take(struct loader *l, struct model *m, long step, const size_t *idx,
                                size_t first, size_t B)
{
    struct batch *b = &l->slot[step & 1];
    if (!l->threaded) {
        NNC_ASSERT(B <= l->bs);
        b->step = step;
        gather(l, b, idx, first, B, m);
        b->ready = true;
        return b;
    }
    if (b->step != step)
        loader_request(l, step, idx, first, B);
    pthread_mutex_lock(&l->mu);
    while (!b->ready)
        pthread_cond_wait(&l->cv, &l->mu);
    pthread_mutex_unlock(&l->mu);
    NNC_ASSERT(b->B == B);
    const float *x = b->x;
    for (size_t k = 0; k < m->n_inputs; k++) {
        size_t size = shape_size(&m->inputs[k]->out);
        memcpy(m->inputs[k]->y, x, B * size * sizeof *x);
        x += B * size;
    }
    return b;
}

void loader_stop(struct loader *l)
{
    if (l->threaded) {
        pthread_mutex_lock(&l->mu);
        l->quit = true;
        pthread_cond_broadcast(&l->cv);
        pthread_mutex_unlock(&l->mu);
        pthread_join(l->thread, NULL);
    }
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    free(l->xp);
    free(l->yp);
    free(l->ref);
    free(l->iov);
    free(l->xdst);
    free(l->ydst);
    free(l->xs);
    free(l->ys);
    for (int k = 0; k < 2; k++) {
        free(l->slot[k].x);
        free(l->slot[k].y);
        free(l->slot[k].w);
    }
    memset(l, 0, sizeof *l);
}
