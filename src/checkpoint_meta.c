/* Reading model.json's "nnc" key (training data columns, classes, epoch,
 * history, rng state) into a struct ckpt_meta, and the per-epoch history
 * table. checkpoint_load_meta allocates what ckpt_meta_free releases;
 * history_init what history_free releases. */
#include "checkpoint_priv.h"
#include "data/dataset.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- the "nnc" key ---------------------------------------------------------- */

static void free_strings(char **s, size_t n)
{
    if (!s)
        return;
    for (size_t i = 0; i < n; i++)
        free(s[i]);
    free(s);
}

static int read_strings(const struct spec_node *n, char ***out, size_t *count, struct diag *d)
{
    *out = NULL;
    *count = 0;
    if (spec_is_null(n))
        return 0;
    if (n->kind != SPEC_SEQ)
        return spec_error(n, d, "expected a list of names");
    char **s = xcalloc(n->n ? n->n : 1, sizeof *s);
    for (size_t i = 0; i < n->n; i++) {
        const char *v;
        if (spec_string(n->items[i], &v, d) < 0) {
            for (size_t k = 0; k < i; k++)
                free(s[k]);
            free(s);
            return -1;
        }
        s[i] = xstrdup(v);
    }
    *out = s;
    *count = n->n;
    return 0;
}

static int read_size(const struct spec_node *n, size_t *out, struct diag *d)
{
    long v;
    if (spec_long(n, &v, d) < 0)
        return -1;
    if (v < 0)
        return spec_error(n, d, "expected a non-negative integer, found %ld", v);
    *out = (size_t)v;
    return 0;
}

/* A list of column indices, each below n_columns. */
static int read_cols(const struct spec_node *n, size_t n_columns, size_t **out, size_t *count,
                     struct diag *d)
{
    if (!n || n->kind != SPEC_SEQ)
        return spec_error(n, d, "expected a list of column indices");
    *out = xcalloc(n->n ? n->n : 1, sizeof **out);
    *count = n->n;
    for (size_t i = 0; i < n->n; i++) {
        if (read_size(n->items[i], &(*out)[i], d) < 0)
            return -1;
        if ((*out)[i] >= n_columns)
            return spec_error(n->items[i], d, "column %zu is out of range (the data has %zu)",
                              (*out)[i], n_columns);
    }
    return 0;
}

static int read_data(const struct spec_node *n, struct ckpt_meta *meta, struct diag *d)
{
    static const char *const keys[] = {"n_columns", "feature_cols", "feature_names", "target_cols",
                                       "na_value",  "comment",      "target_groups"};
    if (spec_is_null(n))
        return 0;
    if (spec_check_keys(n, keys, 7, "the checkpoint's data mapping", d) < 0)
        return -1;
    const struct spec_node *na = spec_get(n, "na_value"), *cm = spec_get(n, "comment");
    if (data_parse_na_value(na, &meta->has_na, &meta->na_value, d) < 0)
        return -1;
    if (cm && !spec_is_null(cm)) {
        const char *s;
        if (spec_string(cm, &s, d) < 0)
            return -1;
        meta->comment = xstrdup(s);
    }
    const struct spec_node *nc = spec_get(n, "n_columns");
    if (!nc)
        return spec_error(n, d, "the data mapping has no n_columns");
    if (read_size(nc, &meta->n_columns, d) < 0)
        return -1;
    if (!spec_get(n, "feature_cols") || !spec_get(n, "target_cols"))
        return spec_error(n, d, "the data mapping needs feature_cols and target_cols");
    if (read_cols(spec_get(n, "feature_cols"), meta->n_columns, &meta->feature_cols,
                  &meta->n_features, d) < 0 ||
        read_cols(spec_get(n, "target_cols"), meta->n_columns, &meta->target_cols, &meta->n_target,
                  d) < 0)
        return -1;
    const struct spec_node *tg = spec_get(n, "target_groups");
    if (tg && !spec_is_null(tg)) {
        if (tg->kind != SPEC_SEQ || tg->n == 0 || tg->n > MODEL_MAX_IO)
            return spec_error(tg, d, "target_groups: a list of 1 to %d column counts",
                              MODEL_MAX_IO);
        size_t sum = 0;
        for (size_t i = 0; i < tg->n; i++) {
            if (read_size(tg->items[i], &meta->target_groups[i], d) < 0)
                return -1;
            sum += meta->target_groups[i];
        }
        if (sum != meta->n_target)
            return spec_error(tg, d, "target_groups count %zu columns, target_cols has %zu", sum,
                              meta->n_target);
        meta->n_target_groups = tg->n;
    }
    const struct spec_node *fn = spec_get(n, "feature_names");
    size_t n_names;
    if (read_strings(fn, &meta->feature_names, &n_names, d) < 0)
        return -1;
    if (meta->feature_names && n_names != meta->n_features) {
        free_strings(meta->feature_names, n_names);
        meta->feature_names = NULL;
        return spec_error(fn, d, "%zu feature names for %zu feature columns", n_names,
                          meta->n_features);
    }
    return 0;
}

static int read_history(const struct spec_node *n, struct history *h, struct diag *d)
{
    static const char *const keys[] = {"columns", "rows"};
    if (spec_is_null(n))
        return 0;
    if (spec_check_keys(n, keys, 2, "the checkpoint's history", d) < 0)
        return -1;
    const struct spec_node *cols = spec_get(n, "columns"), *rows = spec_get(n, "rows");
    char **names;
    size_t n_cols;
    if (!cols)
        return spec_error(n, d, "the history has no columns");
    if (read_strings(cols, &names, &n_cols, d) < 0)
        return -1;
    history_init(h, names, n_cols);
    for (size_t i = 0; i < n_cols; i++)
        free(names[i]);
    free(names);
    if (!rows || rows->kind != SPEC_SEQ)
        return spec_error(rows ? rows : n, d, "the history needs a list of rows");
    double *row = xcalloc(n_cols ? n_cols : 1, sizeof *row);
    int rc = 0;
    for (size_t e = 0; e < rows->n && rc == 0; e++) {
        const struct spec_node *r = rows->items[e];
        if (r->kind != SPEC_SEQ || r->n != n_cols) {
            rc = spec_error(r, d, "a history row must be a list of %zu numbers", n_cols);
            break;
        }
        for (size_t c = 0; c < n_cols && rc == 0; c++) {
            /* null stands for a value that was not finite (NaN). */
            if (spec_is_null(r->items[c]))
                row[c] = NAN;
            else
                rc = spec_double(r->items[c], &row[c], d);
        }
        if (rc == 0)
            history_add(h, row);
    }
    free(row);
    return rc;
}

static int read_rng(const struct spec_node *n, struct ckpt_meta *meta, struct diag *d)
{
    if (!n || spec_is_null(n))
        return 0;
    if (n->kind != SPEC_SEQ || n->n != 4)
        return spec_error(n, d, "rng must be a list of 4 hex strings");
    for (size_t i = 0; i < 4; i++) {
        const char *v;
        char *end;
        if (spec_string(n->items[i], &v, d) < 0)
            return -1;
        errno = 0;
        unsigned long long x = strtoull(v, &end, 16);
        if (!*v || *end || errno || strlen(v) != 16)
            return spec_error(n->items[i], d, "'%s' is not a 16-digit hex rng word", v);
        meta->rng[i] = (uint64_t)x;
    }
    meta->has_rng = true;
    return 0;
}

int checkpoint_load_meta(const struct model_file *mf, struct ckpt_meta *meta, struct diag *d)
{
    static const char *const keys[] = {"version", "epoch", "iterations",      "classes",    "data",
                                       "history", "rng",   "optimizer_state", "free_length"};
    memset(meta, 0, sizeof *meta);
    const struct spec_node *n = mf->nnc;
    if (!n)
        return 0; /* a foreign model.json: nothing but the model */
    if (n->kind != SPEC_MAP)
        return spec_error(n, d, "the 'nnc' key must be a map");
    if (spec_check_keys(n, keys, sizeof keys / sizeof keys[0], "the 'nnc' key", d) < 0)
        return -1;
    const struct spec_node *v = spec_get(n, "version"), *ep = spec_get(n, "epoch");
    const struct spec_node *it = spec_get(n, "iterations");
    const char *s;
    if (v && spec_string(v, &s, d) < 0)
        goto fail;
    if (ep && (spec_long(ep, &meta->epoch, d) < 0 ||
               (meta->epoch < 0 && spec_error(ep, d, "epoch must not be negative") < 0)))
        goto fail;
    if (it && (spec_long(it, &meta->iterations, d) < 0 ||
               (meta->iterations < 0 && spec_error(it, d, "iterations must not be negative") < 0)))
        goto fail;
    const struct spec_node *fl = spec_get(n, "free_length");
    if (fl && (read_size(fl, &meta->free_length, d) < 0 ||
               ((meta->free_length == 0 || meta->free_length > FREE_LENGTH_MAX) &&
                spec_error(fl, d, "free_length must be from 1 to %d", FREE_LENGTH_MAX) < 0)))
        goto fail;
    if (read_strings(spec_get(n, "classes"), &meta->classes, &meta->n_classes, d) < 0 ||
        read_data(spec_get(n, "data"), meta, d) < 0 ||
        read_history(spec_get(n, "history"), &meta->history, d) < 0)
        goto fail;
    const struct spec_node *os = spec_get(n, "optimizer_state");
    if (os && !spec_is_null(os) && ckpt_check_rel_path(os, &s, d) < 0)
        goto fail;
    if (read_rng(spec_get(n, "rng"), meta, d) < 0)
        goto fail;
    return 0;
fail:
    ckpt_meta_free(meta);
    return -1;
}

void ckpt_meta_free(struct ckpt_meta *meta)
{
    free_strings(meta->classes, meta->n_classes);
    free_strings(meta->feature_names, meta->n_features);
    free(meta->feature_cols);
    free(meta->target_cols);
    free(meta->comment);
    history_free(&meta->history);
    memset(meta, 0, sizeof *meta);
}

/* ---- history ---------------------------------------------------------------- */

void history_init(struct history *h, char **cols, size_t n_cols)
{
    memset(h, 0, sizeof *h);
    h->n_cols = n_cols;
    h->cols = xcalloc(n_cols ? n_cols : 1, sizeof *h->cols);
    for (size_t i = 0; i < n_cols; i++)
        h->cols[i] = xstrdup(cols[i]);
}

void history_add(struct history *h, const double *row)
{
    if (h->n_epochs == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 16, bytes;
        if (size_mul(cap, h->n_cols ? h->n_cols : 1, &bytes) < 0 ||
            size_mul(bytes, sizeof *h->values, &bytes) < 0)
            NNC_ASSERT(!"history size overflow");
        h->values = xrealloc(h->values, bytes);
        h->cap = cap;
    }
    if (h->n_cols)
        memcpy(h->values + h->n_epochs * h->n_cols, row, h->n_cols * sizeof *row);
    h->n_epochs++;
}

void history_free(struct history *h)
{
    free_strings(h->cols, h->n_cols);
    free(h->values);
    memset(h, 0, sizeof *h);
}
