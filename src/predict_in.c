/* predict's input rows (see predict_in.h). */
#include "predict_in.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/npy.h"
#include "data/npz.h"
#include "data/idx.h"

static const char *input_name(const struct model *m, size_t k) { return m->inputs[k]->layer->name; }

/* An NPZ's member for input k: NAME.npy, or the only member. */
static int open_npz_member(const char *path, const char *name, struct array *x, struct diag *d)
{
    struct npz *z;
    if (npz_open(path, &z, d) < 0)
        return -1;
    char member[200];
    snprintf(member, sizeof member, "%s.npy", name);
    int rc;
    if (npz_has(z, member))
        rc = npz_load(z, member, x, d);
    else if (npz_n_members(z) == 1)
        rc = npz_load(z, npz_member_name(z, 0), x, d);
    else {
        diag_at(d, path, 0, 0, "no member %s for the model's input '%s'", member, name);
        rc = -1;
    }
    npz_close(z);
    return rc;
}

/* Input k's own file: an array or a CSV of exactly its values. */
static int open_feed(struct pred_feed *f, const struct model *m, size_t k, const char *path,
                     const struct csv_options *opt, struct diag *d)
{
    size_t need = shape_size(&m->inputs[k]->out), have;
    char buf[96];
    f->name = path;
    f->line = 1;
    switch (data_format_detect(path)) {
    case DATA_CSV: {
        if (csv_open(&f->r, path, opt, d) < 0)
            return -1;
        have = csv_n_columns(f->r);
        size_t *cols = xcalloc(have, sizeof *cols);
        for (size_t i = 0; i < have; i++)
            cols[i] = i;
        int rc = have == need ? csv_select(f->r, cols, have, NULL, 0, d) : 0;
        free(cols);
        if (rc < 0)
            return -1;
        f->line = csv_has_header(f->r) ? 2 : 1;
        break;
    }
    case DATA_NPY:
        if (npy_open(path, &f->x, d) < 0)
            return -1;
        have = f->x.row_size;
        break;
    case DATA_IDX:
        if (idx_open(path, &f->x, d) < 0)
            return -1;
        have = f->x.row_size;
        break;
    case DATA_NPZ:
        if (open_npz_member(path, input_name(m, k), &f->x, d) < 0)
            return -1;
        have = f->x.row_size;
        break;
    default:
        NNC_ASSERT(!"unknown data format");
    }
    if (!f->r && f->x.rank == 0) {
        diag_at(d, f->x.name, 0, 0, "a single value, not an array of samples");
        return -1;
    }
    if (have != need) {
        diag_at(d, path, 0, 0, "%zu values per sample, the model's input '%s' %s needs %zu", have,
                input_name(m, k), shape_format(&m->inputs[k]->out, buf, sizeof buf), need);
        return -1;
    }
    return 0;
}

int pred_in_open(struct pred_in *in, const struct model *m, const char *const *items,
                 size_t n_items, const char *path, const struct data_conf *dc,
                 const struct ckpt_meta *meta, size_t max_batch, struct diag *d)
{
    memset(in, 0, sizeof *in);
    in->max_batch = max_batch;
    struct csv_options opt = data_csv_options(dc, meta);
    if (n_items) {
        const char *paths[MODEL_MAX_IO];
        if (dataset_match_names(m, false, items, n_items, paths, d) < 0)
            return -1;
        in->n_feeds = m->n_inputs;
        for (size_t k = 0; k < m->n_inputs; k++)
            if (open_feed(&in->feed[k], m, k, paths[k], &opt, d) < 0)
                return -1;
        return 0;
    }
    struct pred_feed *f = &in->feed[0];
    f->name = path;
    f->line = 1;
    enum data_format fmt = data_format_detect(path);
    if (m->n_inputs > 1 && fmt == DATA_NPZ) {
        /* A member per input. */
        in->n_feeds = m->n_inputs;
        for (size_t k = 0; k < m->n_inputs; k++)
            if (open_feed(&in->feed[k], m, k, path, &opt, d) < 0)
                return -1;
        return 0;
    }
    in->n_feeds = 1;
    if (m->n_inputs == 1) {
        int is_array = predict_open_array(path, m, &f->x, d);
        if (is_array < 0)
            return -1;
        if (is_array)
            return 0;
    } else if (fmt != DATA_CSV) {
        diag_at(d, path, 0, 0, "a model with %zu inputs predicts from one NPZ (a member per "
                "input), one CSV holding every input's columns, or --input NAME=FILE for each",
                m->n_inputs);
        return -1;
    }
    if (csv_open(&f->r, path, &opt, d) < 0 || predict_columns(f->r, m, meta, d) < 0)
        return -1;
    f->line = csv_has_header(f->r) ? 2 : 1;
    if (m->n_inputs > 1) {
        in->combined = true;
        in->rows = xcalloc(max_batch * model_inputs_size(m), sizeof *in->rows);
    }
    return 0;
}

/* Up to bs rows of feed f into dst (row_size values each). */
static long feed_read(struct pred_feed *f, size_t bs, float *dst, struct diag *d)
{
    if (f->r)
        return csv_read(f->r, bs, dst, NULL, d);
    size_t got = f->x.n - f->done < bs ? f->x.n - f->done : bs;
    if (got && array_read_rows(&f->x, f->done, got, dst, d) < 0)
        return -1;
    return (long)got;
}

/* The line of row i of the batch just read. */
static size_t feed_line(const struct pred_feed *f, size_t i)
{
    return f->r ? csv_row_line(f->r, i) : f->line + i;
}

/* Embedding indices of input k (stride values per sample at x). */
static int check(const struct model *m, size_t k, const struct pred_feed *f, const float *x,
                 size_t stride, size_t offset, size_t n, struct diag *d)
{
    size_t sample, value;
    char why[200];
    if (model_check_input_at(m, k, x, stride, n, &sample, &value, why, sizeof why) == 0)
        return 0;
    /* A CSV's value is located at its file column; an array's by row. */
    diag_at(d, f->r ? csv_path(f->r) : f->x.name, feed_line(f, sample),
            f->r ? csv_feature_column(f->r, value + offset) + 1 : 0, "%s", why);
    return -1;
}

long pred_in_next(struct pred_in *in, struct model *m, struct diag *d)
{
    size_t bs = in->max_batch;
    long n = -1;
    if (in->combined) {
        struct pred_feed *f = &in->feed[0];
        n = feed_read(f, bs, in->rows, d);
        if (n <= 0)
            return n;
        size_t stride = model_inputs_size(m);
        for (size_t k = 0, off = 0; k < m->n_inputs; k++) {
            size_t size = shape_size(&m->inputs[k]->out);
            for (size_t b = 0; b < (size_t)n; b++)
                memcpy(m->inputs[k]->y + b * size, in->rows + b * stride + off,
                       size * sizeof(float));
            if (check(m, k, f, in->rows + off, stride, off, (size_t)n, d) < 0)
                return -1;
            off += size;
        }
        f->done += (size_t)n;
        return n;
    }
    for (size_t k = 0; k < in->n_feeds; k++) {
        struct pred_feed *f = &in->feed[k];
        size_t size = shape_size(&m->inputs[k]->out);
        long got = feed_read(f, bs, m->inputs[k]->y, d);
        if (got < 0)
            return -1;
        if (k > 0 && got != n) {
            const struct pred_feed *a = got < n ? f : &in->feed[0], *b = got < n ? &in->feed[0] : f;
            diag_at(d, a->name, 0, 0, "%zu rows, but %s has more", a->done + (size_t)(got < n ? got : n),
                    b->name);
            return -1;
        }
        n = got;
        if (got > 0 && check(m, k, f, m->inputs[k]->y, size, 0, (size_t)got, d) < 0)
            return -1;
    }
    for (size_t k = 0; k < in->n_feeds; k++) {
        in->feed[k].done += (size_t)n;
        if (!in->feed[k].r)
            in->feed[k].line += (size_t)n;
    }
    return n;
}

void pred_in_close(struct pred_in *in)
{
    for (size_t k = 0; k < MODEL_MAX_IO; k++) {
        if (in->feed[k].r)
            csv_close(in->feed[k].r);
        array_free(&in->feed[k].x);
    }
    free(in->rows);
    memset(in, 0, sizeof *in);
}
