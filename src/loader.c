/* The batch loader (see loader.h). */
#include "loader.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>


/* A mapped dataset up to this size is read through its map: all of it may
 * become resident, which stays within the memory bound nnc promises (256
 * MB plus the model), and a row costs no system call (pread made a
 * 60000-row Fashion-MNIST epoch 13% slower). */
#define LOADER_MAP_RESIDENT ((size_t)256 << 20)

/* Row i of a dataset (x: n_x floats, then y: n_y floats) into the loader's
 * row buffer. A larger mapped dataset is read with pread rather than
 * through the map: random rows touched through a map would stay resident
 * (with the kernel's fault-around, 64 KiB a row), the page cache does not
 * count. */
static void read_row(struct loader *l, size_t i, const float **x, const float **y)
{
    const struct dataset *ds = l->ds;
    *x = ds->x + i * ds->n_x;
    *y = ds->y + i * ds->n_y;
    if (!ds->mapped || ds->map_len <= LOADER_MAP_RESIDENT)
        return;
    size_t xb = ds->n_x * sizeof(float), yb = ds->n_y * sizeof(float);
    off_t xo = (off_t)((const unsigned char *)*x - ds->base);
    off_t yo = (off_t)((const unsigned char *)*y - ds->base);
    if (pread(ds->fd, l->row, xb, xo) == (ssize_t)xb)
        *x = l->row; /* else (an I/O error): through the map */
    /* Targets of up to 2 floats come through the map: resident, they take
     * no more than the epoch's permutation (8 bytes a row), and a row
     * costs one system call instead of two. */
    if (ds->n_y > 2 && !ds->y_owned && pread(ds->fd, l->row + ds->n_x, yb, yo) == (ssize_t)yb)
        *y = l->row + ds->n_x;
}

static void gather(struct loader *l, struct batch *b, const size_t *idx, size_t first, size_t B)
{
    const struct model *m = l->m;
    const struct dataset *ds = l->ds;
    for (size_t s = 0; s < B; s++) {
        size_t i = idx ? idx[first + s] : first + s;
        const float *x, *y;
        read_row(l, i, &x, &y);
        float *xb = b->x;
        for (size_t k = 0; k < m->n_inputs; k++) {
            size_t size = shape_size(&m->inputs[k]->out);
            memcpy(xb + s * size, x, size * sizeof *x);
            x += size;
            xb += B * size;
        }
        float *block = b->y;
        for (size_t k = 0; k < m->n_outputs; k++) {
            size_t tw = model_target_size_at(m, k);
            memcpy(block + s * tw, y, tw * sizeof *y);
            y += tw;
            block += B * tw;
        }
        if (ds->w)
            b->w[s] = ds->w[i];
    }
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
        gather(l, b, idx, first, B);
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
    l->row = xcalloc(ds->n_x + ds->n_y + 1, sizeof *l->row);
    for (int k = 0; k < 2; k++) {
        l->slot[k].x = xcalloc(bs * (ds->n_x ? ds->n_x : 1), sizeof(float));
        l->slot[k].y = xcalloc(bs * (ds->n_y ? ds->n_y : 1), sizeof(float));
        l->slot[k].w = ds->w ? xcalloc(bs, sizeof(float)) : NULL;
        l->slot[k].step = -1;
    }
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    l->threaded = pthread_create(&l->thread, NULL, loader_main, l) == 0;
}

void loader_request(struct loader *l, long step, const size_t *idx, size_t first, size_t B)
{
    NNC_ASSERT(B <= l->bs);
    struct batch *b = &l->slot[step & 1];
    if (!l->threaded) {
        b->step = step;
        gather(l, b, idx, first, B);
        b->ready = true;
        return;
    }
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
    if (b->step != step)
        loader_request(l, step, idx, first, B);
    if (l->threaded) {
        pthread_mutex_lock(&l->mu);
        while (!b->ready)
            pthread_cond_wait(&l->cv, &l->mu);
        pthread_mutex_unlock(&l->mu);
    }
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
    free(l->row);
    for (int k = 0; k < 2; k++) {
        free(l->slot[k].x);
        free(l->slot[k].y);
        free(l->slot[k].w);
    }
    memset(l, 0, sizeof *l);
}
