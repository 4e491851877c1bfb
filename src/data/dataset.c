/* CSV -> in-memory datasets (see dataset.h). */
#include "dataset.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cache.h"

int data_conf_parse(const struct spec_node *section, struct data_conf *out, struct diag *d)
{
    static const char *const keys[] = {"target",        "features", "header", "delimiter",
                                       "sample_weight", "comment",  "na_value",
                                       "inputs", "targets"}; /* dataset_named.c */
    memset(out, 0, sizeof *out);
    out->csv.header = -1;
    if (!section || spec_is_null(section))
        return 0;
    if (spec_check_keys(section, keys, sizeof keys / sizeof keys[0], "the data section", d) < 0)
        return -1;
    out->target = spec_get(section, "target");
    out->sample_weight = spec_get(section, "sample_weight");
    out->features = spec_get(section, "features");
    out->inputs = spec_get(section, "inputs");
    out->targets = spec_get(section, "targets");
    const struct spec_node *h = spec_get(section, "header");
    if (h) {
        bool b;
        if (spec_bool(h, &b, d) < 0)
            return -1;
        out->csv.header = b;
    }
    const struct spec_node *delim = spec_get(section, "delimiter");
    if (delim) {
        const char *s;
        if (spec_string(delim, &s, d) < 0)
            return -1;
        if (!strcmp(s, "\\t") || !strcmp(s, "tab"))
            s = "\t";
        else if (!strcmp(s, "whitespace") || !strcmp(s, "space"))
            s = " ";
        if (strlen(s) != 1)
            return spec_error(delim, d,
                              "delimiter must be one character, tab or whitespace, not '%s'", s);
        if (strchr("\"\r\n", s[0]))
            return spec_error(delim, d, "a quote or line end cannot be the delimiter");
        out->csv.delimiter = (unsigned char)s[0];
    }
    const struct spec_node *comment = spec_get(section, "comment");
    if (comment && !spec_is_null(comment)) {
        if (spec_string(comment, &out->csv.comment, d) < 0)
            return -1;
        size_t n = strlen(out->csv.comment);
        if (n == 0 || n > 16 || strpbrk(out->csv.comment, "\r\n"))
            return spec_error(comment, d, "comment must be 1 to 16 characters on one line");
    }
    if (data_parse_na_value(spec_get(section, "na_value"), &out->csv.has_na, &out->csv.na_value,
                            d) < 0)
        return -1;
    return 0;
}

int data_parse_na_value(const struct spec_node *na, bool *has, float *value, struct diag *d)
{
    if (!na || spec_is_null(na))
        return 0;
    double v;
    if (spec_double(na, &v, d) < 0)
        return -1;
    if (fabs(v) > FLT_MAX)
        return spec_error(na, d, "na_value %g is out of range for float32", v);
    *has = true;
    *value = (float)v;
    return 0;
}

struct csv_options data_csv_options(const struct data_conf *dc, const struct ckpt_meta *meta)
{
    struct csv_options opt = dc->csv;
    if (!opt.has_na && meta->has_na) {
        opt.has_na = true;
        opt.na_value = meta->na_value;
    }
    if (!opt.comment)
        opt.comment = meta->comment;
    return opt;
}

/* Every column not in `not` (in order). */
static size_t *other_columns(size_t n_columns, const size_t *not, size_t n_not, size_t *n_out)
{
    size_t *cols = xcalloc(n_columns, sizeof *cols);
    size_t k = 0;
    for (size_t c = 0; c < n_columns; c++) {
        size_t j = 0;
        while (j < n_not && not[j] != c)
            j++;
        if (j == n_not)
            cols[k++] = c;
    }
    *n_out = k;
    return cols;
}

/* A class name with its index in order of first appearance. */
struct named_index {
    const char *name;
    size_t index;
};

static int cmp_named(const void *a, const void *b)
{
    return strcmp(((const struct named_index *)a)->name, ((const struct named_index *)b)->name);
}

/* Class indices in sorted name order (as sklearn's LabelEncoder): the
 * sorted copies of the n distinct names in *sorted, and the map from each
 * name's index in order of appearance to its sorted index (returned). */
static size_t *class_order(char *const *names, size_t n, char ***sorted)
{
    struct named_index *order = xcalloc(n, sizeof *order);
    for (size_t i = 0; i < n; i++)
        order[i] = (struct named_index){names[i], i};
    qsort(order, n, sizeof *order, cmp_named);
    *sorted = xcalloc(n, sizeof **sorted);
    size_t *remap = xcalloc(n, sizeof *remap);
    for (size_t j = 0; j < n; j++) {
        (*sorted)[j] = xstrdup(order[j].name);
        remap[order[j].index] = j;
    }
    free(order);
    return remap;
}

size_t dataset_line(const struct dataset *ds, size_t i)
{
    return ds->line ? ds->line[i] : ds->first_line + i;
}

/* Reads every row; y holds the raw target columns, *lines each row's line. */
static int read_all(struct csv_reader *r, size_t n_x, size_t n_t, float **x, float **t,
                    size_t **lines, size_t *n, struct diag *d)
{
    /* 1024 rows to start with, fewer when rows are wide (up to 2^20 fields) */
    size_t cap = n_x > 1024 ? ((size_t)1 << 20) / n_x + 1 : 1024, rows = 0;
    *x = xmalloc(cap * n_x * sizeof **x);
    *t = xmalloc(cap * (n_t ? n_t : 1) * sizeof **t);
    *lines = xmalloc(cap * sizeof **lines);
    for (;;) {
        if (rows == cap) {
            size_t bytes;
            if (size_mul(cap * 2, n_x * sizeof **x, &bytes) < 0) {
                diag_set(d, "%s: too much data", csv_path(r));
                return -1;
            }
            cap *= 2;
            *x = xrealloc(*x, bytes);
            *t = xrealloc(*t, cap * (n_t ? n_t : 1) * sizeof **t);
            *lines = xrealloc(*lines, cap * sizeof **lines);
        }
        long got = csv_read(r, cap - rows, *x + rows * n_x, *t + rows * n_t, d);
        if (got < 0)
            return -1;
        if (got == 0)
            break;
        for (size_t k = 0; k < (size_t)got; k++)
            (*lines)[rows + k] = csv_row_line(r, k);
        rows += (size_t)got;
    }
    if (rows == 0) {
        diag_at(d, csv_path(r), 0, 0, "no data rows");
        return -1;
    }
    *n = rows;
    return 0;
}

int dataset_read_csv(struct csv_reader *r, size_t n_x, size_t n_t, float **x, float **t,
                     size_t **lines, size_t *n, struct diag *d)
{
    return read_all(r, n_x, n_t, x, t, lines, n, d);
}

/* Raw targets (n, n_t) -> what the loss wants (n, model_target_size):
 * class indices stay indices for sparse losses, become one-hot vectors for
 * categorical ones (Keras's to_categorical), and are checked against K. */
int dataset_convert_targets(const struct model *m, struct dataset *ds, const float *t, size_t n_t,
                            bool is_class, size_t n_classes, struct diag *d)
{
    return dataset_convert_targets_at(m, 0, ds, t, n_t, is_class, n_classes, d);
}

/* How raw targets become what output k's loss wants (checked once). */
struct target_plan {
    const struct loss *loss;
    size_t K, width;
    bool index; /* one class index a row */
};

static int target_plan(const struct model *m, size_t k, const char *source, size_t n_t,
                       bool is_class, size_t n_classes, struct target_plan *p, struct diag *d)
{
    const struct loss *loss = &m->compile.out[k].loss;
    size_t K = model_output_last_dim_at(m, k);
    size_t width = model_target_size_at(m, k);
    bool index_target = n_t == 1 && (loss->kind == LOSS_SPARSE_CE ||
                                     (K > 1 && width == K && loss->kind == LOSS_CATEGORICAL_CE));
    if (is_class && !index_target && !(K == 1 && n_classes <= 2)) {
        diag_at(d, source, 0, 0,
                "the target holds class names; use sparse_categorical_crossentropy or "
                "categorical_crossentropy with a softmax output of %zu units",
                n_classes);
        return -1;
    }
    if (is_class && n_classes > K && K > 1) {
        diag_at(d, source, 0, 0, "the target has %zu classes, the model's output has %zu units",
                n_classes, K);
        return -1;
    }
    if (!index_target && n_t != width) {
        diag_at(d, source, 0, 0,
                "%zu target column%s, the model's output with loss %s needs %zu", n_t,
                n_t == 1 ? "" : "s", loss_name(loss), width);
        return -1;
    }
    *p = (struct target_plan){loss, K, width, index_target};
    return 0;
}

/* Rows 0..n of raw targets t (n, n_t) into y (n, width), zeroed; lines[i]
 * is row i's file line (for messages). */
static int target_rows(const struct target_plan *p, const char *source, const size_t *lines,
                       const float *t, size_t n, size_t n_t, float *y, struct diag *d)
{
    for (size_t i = 0; i < n; i++) {
        if (!p->index) {
            memcpy(y + i * p->width, t + i * n_t, p->width * sizeof *y);
            continue;
        }
        float v = t[i];
        if (v != floorf(v) || v < 0 || v >= (float)p->K) {
            diag_at(d, source, lines[i], 0, "label %g is not a class index in [0, %zu)",
                    (double)v, p->K);
            return -1;
        }
        if (p->loss->kind == LOSS_SPARSE_CE)
            y[i] = v;
        else
            y[i * p->width + (size_t)v] = 1.0f;
    }
    return 0;
}

int dataset_convert_targets_at(const struct model *m, size_t k, struct dataset *ds, const float *t,
                               size_t n_t, bool is_class, size_t n_classes, struct diag *d)
{
    struct target_plan p;
    if (target_plan(m, k, ds->source, n_t, is_class, n_classes, &p, d) < 0)
        return -1;
    ds->n_y = p.width;
    ds->y = xcalloc(ds->n * p.width, sizeof *ds->y);
    size_t lines[256];
    for (size_t i = 0; i < ds->n; i += 256) {
        size_t rows = ds->n - i < 256 ? ds->n - i : 256;
        for (size_t j = 0; j < rows; j++)
            lines[j] = dataset_line(ds, i + j);
        if (target_rows(&p, ds->source, lines, t + i * n_t, rows, n_t, ds->y + i * p.width, d) < 0)
            return -1;
    }
    return 0;
}

static int check_features(const struct model *m, const char *path, size_t n_features,
                          struct diag *d)
{
    size_t need = model_input_size(m);
    if (n_features == need)
        return 0;
    char buf[96];
    diag_at(d, path, 0, 0, "%zu feature columns, the model's input %s needs %zu", n_features,
            shape_format(&m->nodes[0].out, buf, sizeof buf), need);
    return -1;
}

/* The sample_weight column, read as one more feature after the real ones
 * (features are numbers, never class names), moved into ds->w and checked. */
static int split_weights(struct dataset *ds, size_t n_x, size_t weight_col, struct diag *d)
{
    ds->w = xcalloc(ds->n, sizeof *ds->w);
    for (size_t i = 0; i < ds->n; i++) {
        const float *row = ds->x + i * (n_x + 1);
        ds->w[i] = row[n_x];
        memmove(ds->x + i * n_x, row, n_x * sizeof *ds->x);
        if (ds->w[i] < 0) {
            diag_at(d, ds->source, dataset_line(ds, i), weight_col + 1,
                    "sample weight %g is negative", (double)ds->w[i]);
            return -1;
        }
    }
    return 0;
}

static int load_rows(struct csv_reader *r, const struct model *m, struct dataset *ds,
                     size_t n_x, size_t n_t, const size_t *weight_col, bool fixed_classes,
                     struct ckpt_meta *meta, struct diag *d)
{
    float *x = NULL, *t = NULL;
    int rc = -1;
    ds->source = xstrdup(csv_path(r));
    ds->first_line = csv_has_header(r) ? 2 : 1;
    if (read_all(r, n_x + (weight_col != NULL), n_t, &x, &t, &ds->line, &ds->n, d) < 0)
        goto out;
    ds->x = x;
    ds->n_x = n_x;
    x = NULL;
    if (weight_col && split_weights(ds, n_x, *weight_col, d) < 0)
        goto out;
    bool is_class = csv_target_is_class(r);
    size_t n_classes = 0;
    if (is_class && !fixed_classes) {
        char *const *names = csv_classes(r, &n_classes);
        char **sorted;
        size_t *remap = class_order(names, n_classes, &sorted);
        for (size_t i = 0; i < ds->n; i++)
            t[i] = (float)remap[(size_t)t[i]];
        free(remap);
        meta->classes = sorted;
        meta->n_classes = n_classes;
    } else if (is_class) {
        n_classes = meta->n_classes;
    }
    rc = dataset_convert_targets(m, ds, t, n_t, is_class, n_classes, d);
out:
    free(x);
    free(t);
    return rc;
}

/* The cache key's part beyond the file: everything that shaped the rows. */
static void rows_key(struct cache_key *k, const struct csv_options *opt, const struct model *m,
                     size_t n_x, const size_t *features, size_t n_t, const size_t *target,
                     const size_t *weight_col, bool fixed_classes, const struct ckpt_meta *meta)
{
    cache_key_add_size(k, n_x);
    cache_key_add(k, features, n_x * sizeof *features);
    cache_key_add_size(k, n_t);
    cache_key_add(k, target, n_t * sizeof *target);
    cache_key_add_size(k, weight_col ? *weight_col : SIZE_MAX);
    cache_key_add_csv(k, opt);
    cache_key_add_size(k, (size_t)m->compile.out[0].loss.kind);
    cache_key_add_size(k, model_output_last_dim(m));
    cache_key_add_size(k, model_target_size_at(m, 0));
    cache_key_add_size(k, fixed_classes);
    for (size_t i = 0; fixed_classes && i < meta->n_classes; i++)
        cache_key_add(k, meta->classes[i], strlen(meta->classes[i]) + 1);
}

/* (A sweep would make the whole map resident.) */
int dataset_check_input_mapped(const struct model *m, const struct dataset *ds,
                               const char *source, const size_t *features, struct diag *d)
{
    enum { ROWS = 1 << 14 };
    for (size_t i = 0; i < ds->n; i += ROWS) {
        size_t rows = ds->n - i < ROWS ? ds->n - i : ROWS;
        if (dataset_check_input(m, source, ds->first_line + i, ds->line ? ds->line + i : NULL,
                                ds->x + i * ds->n_x, rows, features, d) < 0)
            return -1;
        cache_release_pages(ds);
    }
    return 0;
}

enum { CHUNK = 4096 };

/* load_rows streaming into the cache file: x rows go to the file as they
 * are read; raw targets, weights and lines to scratch files; once the rows
 * are counted (and the class names known) the weights are checked, the
 * targets converted (the same checks, in the same order, as load_rows) and
 * written. Memory: a few chunks of rows. Returns 1 when the cache was
 * written, 0 when its files could not be created (nothing read yet: the
 * caller reads into memory), -1 on an error in the data or in writing. */
static int convert_streaming(struct csv_reader *r, const char *cpath, const struct cache_key *k,
                             const struct model *m, size_t n_x, size_t n_t,
                             const size_t *weight_col, bool fixed_classes, struct ckpt_meta *meta,
                             struct diag *d)
{
    struct target_plan plan;
    size_t n_read = n_x + (weight_col != NULL), n = 0, first_line = csv_has_header(r) ? 2 : 1;
    size_t width = model_target_size_at(m, 0);
    /* The raw targets, weights and lines while the rows stream. */
    FILE *tf = cache_scratch_file(cpath, "t"), *wf = cache_scratch_file(cpath, "w"),
         *lf = cache_scratch_file(cpath, "l");
    float *x = xmalloc(CHUNK * n_read * sizeof *x), *t = xmalloc(CHUNK * n_t * sizeof *t);
    float *w = xmalloc(CHUNK * sizeof *w), *y = xmalloc(CHUNK * width * sizeof *y);
    size_t *lines = xmalloc(CHUNK * sizeof *lines), *remap = NULL;
    struct cache_out o;
    int rc = 0;
    const char *source = csv_path(r);
    if (!tf || !wf || !lf || cache_out_open(&o, cpath, n_x, width, weight_col, true) < 0)
        goto out; /* no cache: rc 0 */
    o.source = source;
    rc = -1;
    for (;;) {
        long got = csv_read(r, CHUNK, x, t, d);
        if (got < 0)
            goto fail;
        if (got == 0)
            break;
        for (size_t i = 0; i < (size_t)got; i++) {
            lines[i] = csv_row_line(r, i);
            if (weight_col) {
                w[i] = x[i * n_read + n_x];
                memmove(x + i * n_x, x + i * n_read, n_x * sizeof *x);
            }
        }
        if (fwrite(t, sizeof *t, (size_t)got * n_t, tf) != (size_t)got * n_t ||
            fwrite(w, sizeof *w, (size_t)got, wf) != (size_t)got ||
            fwrite(lines, sizeof *lines, (size_t)got, lf) != (size_t)got)
            o.failed = EIO;
        cache_out_x(&o, x, (size_t)got);
        n += (size_t)got;
    }
    if (n == 0) {
        diag_at(d, source, 0, 0, "no data rows");
        goto fail;
    }
    /* Sample weights: >= 0 (split_weights's check), then back in. */
    rewind(wf);
    rewind(lf);
    for (size_t i = 0; weight_col && i < n; i += CHUNK) {
        size_t rows = n - i < CHUNK ? n - i : CHUNK;
        if (fread(w, sizeof *w, rows, wf) != rows || fread(lines, sizeof *lines, rows, lf) != rows)
            o.failed = EIO;
        for (size_t j = 0; !o.failed && j < rows; j++)
            if (w[j] < 0) {
                diag_at(d, source, lines[j], *weight_col + 1, "sample weight %g is negative",
                        (double)w[j]);
                goto fail;
            }
        cache_out_block(&o, CACHE_W, i, w, rows);
    }
    /* Class names: sorted indices, as load_rows. */
    bool is_class = csv_target_is_class(r);
    size_t n_classes = 0;
    if (is_class && !fixed_classes) {
        char *const *names = csv_classes(r, &n_classes);
        char **sorted;
        remap = class_order(names, n_classes, &sorted);
        meta->classes = sorted;
        meta->n_classes = n_classes;
    } else if (is_class) {
        n_classes = meta->n_classes;
    }
    if (target_plan(m, 0, source, n_t, is_class, n_classes, &plan, d) < 0)
        goto fail;
    rewind(tf);
    rewind(lf);
    for (size_t i = 0; i < n; i += CHUNK) {
        size_t rows = n - i < CHUNK ? n - i : CHUNK;
        if (fread(t, sizeof *t, rows * n_t, tf) != rows * n_t ||
            fread(lines, sizeof *lines, rows, lf) != rows)
            o.failed = EIO;
        for (size_t j = 0; remap && j < rows; j++)
            t[j] = (float)remap[(size_t)t[j]];
        memset(y, 0, rows * width * sizeof *y);
        if (!o.failed && target_rows(&plan, source, lines, t, rows, n_t, y, d) < 0)
            goto fail;
        cache_out_block(&o, CACHE_Y, i, y, rows);
        cache_out_block(&o, CACHE_LINE, i, lines, rows);
    }
    if (cache_out_commit(&o, k, first_line, fixed_classes ? NULL : meta->classes,
                         fixed_classes ? 0 : meta->n_classes) < 0) {
        /* The rows are consumed: no quiet fallback to memory here. */
        diag_at(d, source, 0, 0, "cannot write the data cache %s: %s (NNC_CACHE_DIR=off reads "
                "the data into memory instead)", cpath, strerror(o.failed));
        goto out;
    }
    if (!fixed_classes) { /* cache_open hands them over again */
        for (size_t i = 0; i < meta->n_classes; i++)
            free(meta->classes[i]);
        free(meta->classes);
        meta->classes = NULL;
        meta->n_classes = 0;
    }
    rc = 1;
    goto out;
fail:
    cache_out_abort(&o);
out:
    if (tf) fclose(tf);
    if (wf) fclose(wf);
    if (lf) fclose(lf);
    free(x);
    free(t);
    free(w);
    free(y);
    free(lines);
    free(remap);
    return rc;
}

/* load_rows and the input check, through the binary cache (cache.h) when
 * the file is large enough: a hit maps the rows (and gives the class
 * names) without parsing; a miss parses, writes the cache and continues
 * from its map, so both runs train on the same floats. */
static int load_checked(struct csv_reader *r, const char *path, const struct csv_options *opt,
                        const struct model *m, struct dataset *ds, size_t n_x,
                        const size_t *features, size_t n_t, const size_t *target,
                        const size_t *weight_col, bool fixed_classes, struct ckpt_meta *meta,
                        struct diag *d)
{
    struct cache_key k;
    char *cpath = NULL;
    if (cache_key_start(&k, path) == 0) {
        rows_key(&k, opt, m, n_x, features, n_t, target, weight_col, fixed_classes, meta);
        cpath = cache_file_path(&k);
    }
    if (cpath) {
        char **classes = NULL;
        size_t n_classes = 0;
        ds->source = xstrdup(csv_path(r));
        if (cache_open(cpath, &k, ds, fixed_classes ? NULL : &classes, &n_classes) == 1) {
            free(cpath);
            if (!fixed_classes) {
                meta->classes = classes;
                meta->n_classes = n_classes;
            }
            return dataset_check_input_mapped(m, ds, ds->source, features, d);
        }
        free(ds->source);
        ds->source = NULL;
    }
    if (cpath && m->n_outputs == 1) {
        int got = convert_streaming(r, cpath, &k, m, n_x, n_t, weight_col, fixed_classes, meta, d);
        if (got == 1) {
            ds->source = xstrdup(csv_path(r));
            int verbose = data_cache_verbose;
            data_cache_verbose = 0;
            got = cache_open(cpath, &k, ds, fixed_classes ? NULL : &meta->classes,
                             &meta->n_classes);
            data_cache_verbose = verbose;
            free(cpath);
            if (got != 1) {
                diag_at(d, ds->source, 0, 0, "the cache file just written is gone");
                return -1;
            }
            return dataset_check_input_mapped(m, ds, ds->source, features, d);
        }
        if (got < 0) {
            free(cpath);
            return -1;
        }
        /* got 0: the cache file could not be created; nothing was read. */
    }
    free(cpath);
    if (load_rows(r, m, ds, n_x, n_t, weight_col, fixed_classes, meta, d) < 0 ||
        dataset_check_input(m, ds->source, ds->first_line, ds->line, ds->x, ds->n, features,
                            d) < 0)
        return -1;
    return 0;
}

/* data: {sample_weight: COLUMN}: exactly one column, neither a feature nor a
 * target. Returns 1 with *col set, 0 when there is none, -1 on error. */
static int weight_column(struct csv_reader *r, const struct data_conf *dc, const size_t *used,
                         size_t n_used, size_t *col, struct diag *d)
{
    if (!dc->sample_weight || spec_is_null(dc->sample_weight))
        return 0;
    size_t *cols = NULL, n = 0;
    if (csv_resolve_columns(r, dc->sample_weight, &cols, &n, d) < 0)
        return -1;
    int rc = 1;
    if (n != 1)
        rc = spec_error(dc->sample_weight, d, "sample_weight must name one column, not %zu", n);
    for (size_t i = 0; rc == 1 && i < n_used; i++)
        if (used[i] == cols[0])
            rc = spec_error(dc->sample_weight, d,
                            "the sample_weight column is also a feature or target column");
    if (rc == 1)
        *col = cols[0];
    free(cols);
    return rc;
}

/* csv_select with the weight column appended to the features. */
static int select_columns(struct csv_reader *r, const size_t *features, size_t n_f,
                          const size_t *weight_col, const size_t *target, size_t n_t,
                          struct diag *d)
{
    size_t *cols = xcalloc(n_f + 1, sizeof *cols);
    memcpy(cols, features, n_f * sizeof *cols);
    if (weight_col)
        cols[n_f] = *weight_col;
    int rc = csv_select(r, cols, n_f + (weight_col != NULL), target, n_t, d);
    free(cols);
    return rc;
}

int dataset_check_input(const struct model *m, const char *source, size_t first_line,
                        const size_t *lines, const float *x, size_t n, const size_t *cols,
                        struct diag *d)
{
    size_t sample, value;
    char why[200];
    if (model_check_input(m, x, n, &sample, &value, why, sizeof why) == 0)
        return 0;
    diag_at(d, source, lines ? lines[sample] : first_line + sample,
            cols ? cols[value] + 1 : 0, "%s", why);
    return -1;
}

/* The training CSV's columns from the data section: the target (by default
 * the last column), the sample_weight column (has_w, wcol) and the
 * features (by default every other column); the caller frees target and
 * features, also on error. */
static int train_columns(struct csv_reader *r, const char *path, const struct data_conf *dc,
                         size_t **target, size_t *n_t, size_t **features, size_t *n_f, int *has_w,
                         size_t *wcol, struct diag *d)
{
    size_t n_cols = csv_n_columns(r);
    if (dc->target) {
        if (csv_resolve_columns(r, dc->target, target, n_t, d) < 0)
            return -1;
    } else {
        if (n_cols < 2) {
            diag_at(d, path, 0, 0, "one column only: no features besides the target");
            return -1;
        }
        *target = xcalloc(1, sizeof **target);
        (*target)[0] = n_cols - 1;
        *n_t = 1;
    }
    *has_w = weight_column(r, dc, *target, *n_t, wcol, d);
    if (*has_w < 0)
        return -1;
    if (dc->features) {
        if (csv_resolve_columns(r, dc->features, features, n_f, d) < 0)
            return -1;
        if (*has_w && weight_column(r, dc, *features, *n_f, wcol, d) < 0)
            return -1;
    } else {
        size_t *used = xcalloc(*n_t + 1, sizeof *used);
        memcpy(used, *target, *n_t * sizeof *used);
        used[*n_t] = *wcol;
        *features = other_columns(n_cols, used, *n_t + (size_t)*has_w, n_f);
        free(used);
    }
    return 0;
}

int dataset_csv_feature_count(const char *path, const struct data_conf *dc, size_t *n_f,
                              struct diag *d)
{
    struct csv_reader *r;
    if (csv_open(&r, path, &dc->csv, d) < 0)
        return -1;
    size_t *target = NULL, *features = NULL, n_t = 0, wcol = 0;
    int has_w;
    int rc = train_columns(r, path, dc, &target, &n_t, &features, n_f, &has_w, &wcol, d);
    free(target);
    free(features);
    csv_close(r);
    return rc;
}

int dataset_load_train(const char *path, const struct data_conf *dc, const struct model *m,
                       struct dataset *ds, struct ckpt_meta *meta, struct diag *d)
{
    memset(ds, 0, sizeof *ds);
    struct csv_reader *r;
    if (csv_open(&r, path, &dc->csv, d) < 0)
        return -1;
    size_t n_cols = csv_n_columns(r);
    size_t *target = NULL, *features = NULL, n_t = 0, n_f = 0, wcol = 0;
    int has_w, rc = -1;
    if (train_columns(r, path, dc, &target, &n_t, &features, &n_f, &has_w, &wcol, d) < 0)
        goto out;
    const size_t *wp = has_w ? &wcol : NULL;
    if (check_features(m, path, n_f, d) < 0 ||
        select_columns(r, features, n_f, wp, target, n_t, d) < 0)
        goto out;
    if (load_checked(r, path, &dc->csv, m, ds, n_f, features, n_t, target, wp, false, meta,
                     d) < 0)
        goto out;
    meta->n_columns = n_cols;
    meta->has_na = dc->csv.has_na;
    meta->na_value = dc->csv.na_value;
    meta->comment = dc->csv.comment ? xstrdup(dc->csv.comment) : NULL;
    meta->n_features = n_f;
    meta->feature_cols = features;
    meta->n_target = n_t;
    meta->target_cols = target;
    features = target = NULL;
    if (csv_has_header(r)) {
        meta->feature_names = xcalloc(n_f, sizeof *meta->feature_names);
        for (size_t i = 0; i < n_f; i++)
            meta->feature_names[i] = xstrdup(csv_column_name(r, meta->feature_cols[i]));
    }
    rc = 0;
out:
    free(target);
    free(features);
    csv_close(r);
    if (rc < 0)
        dataset_free(ds);
    return rc;
}

/* Finds `name` among the header's columns. */
static bool column_by_name(const struct csv_reader *r, const char *name, size_t *col)
{
    for (size_t c = 0; c < csv_n_columns(r); c++)
        if (csv_column_name(r, c) && !strcmp(csv_column_name(r, c), name)) {
            *col = c;
            return true;
        }
    return false;
}

int dataset_load_eval(const char *path, const struct data_conf *dc, const struct model *m,
                      const struct ckpt_meta *meta, struct dataset *ds, struct diag *d)
{
    memset(ds, 0, sizeof *ds);
    struct csv_reader *r;
    struct csv_options opt = data_csv_options(dc, meta);
    if (csv_open(&r, path, &opt, d) < 0)
        return -1;
    int rc = -1;
    size_t n_t = meta->n_target ? meta->n_target : 1;
    size_t *target = xcalloc(n_t, sizeof *target);
    size_t *features = NULL, n_f = 0;
    if (meta->n_target && meta->free_length && csv_n_columns(r) != meta->n_columns) {
        /* Another length of the model's None dimensions (free_length.h):
         * the columns as training chose them (the data section's target,
         * else the last column), not their positions then. */
        free(target);
        target = NULL;
        int unused_w;
        size_t unused_col;
        if (train_columns(r, path, dc, &target, &n_t, &features, &n_f, &unused_w, &unused_col, d) <
            0)
            goto out;
    } else if (meta->n_target) {
        /* The training layout: the same columns by position. */
        if (csv_n_columns(r) != meta->n_columns) {
            diag_at(d, path, 0, 0, "%zu columns, the training data had %zu", csv_n_columns(r),
                    meta->n_columns);
            goto out;
        }
        memcpy(target, meta->target_cols, n_t * sizeof *target);
        features = xcalloc(meta->n_features, sizeof *features);
        memcpy(features, meta->feature_cols, meta->n_features * sizeof *features);
        n_f = meta->n_features;
    } else {
        /* A foreign checkpoint: the last column is the target. */
        target[0] = csv_n_columns(r) - 1;
        features = other_columns(csv_n_columns(r), target, 1, &n_f);
    }
    size_t wcol;
    int has_w = weight_column(r, dc, target, n_t, &wcol, d);
    if (has_w < 0 || (has_w && weight_column(r, dc, features, n_f, &wcol, d) < 0))
        goto out;
    const size_t *wp = has_w ? &wcol : NULL;
    if (check_features(m, path, n_f, d) < 0 ||
        select_columns(r, features, n_f, wp, target, n_t, d) < 0)
        goto out;
    if (meta->n_classes)
        csv_fix_classes(r, meta->classes, meta->n_classes);
    if (load_checked(r, path, &opt, m, ds, n_f, features, n_t, target, wp, true,
                     (struct ckpt_meta *)meta, d) < 0)
        goto out;
    rc = 0;
out:
    free(target);
    free(features);
    csv_close(r);
    if (rc < 0)
        dataset_free(ds);
    return rc;
}

int predict_columns(struct csv_reader *r, const struct model *m, const struct ckpt_meta *meta,
                    struct diag *d)
{
    size_t need = model_inputs_size(m), n_cols = csv_n_columns(r);
    size_t *cols = xcalloc(need, sizeof *cols);
    int rc = -1;
    bool by_name = meta->feature_names && csv_has_header(r);
    for (size_t i = 0; by_name && i < meta->n_features; i++)
        by_name = column_by_name(r, meta->feature_names[i], &cols[i]);
    if (by_name && meta->n_features == need) {
        rc = csv_select(r, cols, need, NULL, 0, d);
    } else if (n_cols == need) {
        for (size_t i = 0; i < need; i++)
            cols[i] = i;
        rc = csv_select(r, cols, need, NULL, 0, d);
    } else if (meta->n_features == need && n_cols == meta->n_columns) {
        rc = csv_select(r, meta->feature_cols, need, NULL, 0, d);
    } else {
        char buf[96];
        char what[128];
        if (m->n_inputs > 1)
            snprintf(what, sizeof what, "%zu inputs need", m->n_inputs);
        else
            snprintf(what, sizeof what, "input %s needs",
                     shape_format(&m->nodes[0].out, buf, sizeof buf));
        diag_at(d, csv_path(r), 0, 0, "%zu columns, the model's %s %zu%s", n_cols, what, need,
                meta->n_columns ? " (or the training data's layout)" : "");
    }
    free(cols);
    return rc;
}

void dataset_split_tail(struct dataset *ds, size_t count, struct dataset *tail)
{
    memset(tail, 0, sizeof *tail);
    NNC_ASSERT(count <= ds->n);
    size_t keep = ds->n - count;
    tail->source = xstrdup(ds->source);
    tail->n = count;
    tail->n_x = ds->n_x;
    tail->n_y = ds->n_y;
    tail->first_line = ds->first_line + keep;
    if (ds->mapped) { /* the tail of the map, not a copy */
        tail->mapped = true;
        tail->map_len = ds->map_len; /* (the loader's choice; the map stays ds's) */
        tail->fd = ds->fd;
        tail->base = ds->base;
        tail->x = ds->x + keep * ds->n_x;
        tail->y = ds->y + keep * ds->n_y;
        if (ds->y_owned) {
            tail->y_owned = true;
            tail->y = xcalloc(count * ds->n_y, sizeof *tail->y);
            memcpy(tail->y, ds->y + keep * ds->n_y, count * ds->n_y * sizeof *tail->y);
        }
    } else {
        tail->x = xcalloc(count * ds->n_x, sizeof *tail->x);
        tail->y = xcalloc(count * ds->n_y, sizeof *tail->y);
        memcpy(tail->x, ds->x + keep * ds->n_x, count * ds->n_x * sizeof *tail->x);
        memcpy(tail->y, ds->y + keep * ds->n_y, count * ds->n_y * sizeof *tail->y);
    }
    if (ds->w) {
        /* Keras splits sample weights with the data (train_validation_split). */
        tail->w = xcalloc(count, sizeof *tail->w);
        memcpy(tail->w, ds->w + keep, count * sizeof *tail->w);
    }
    if (ds->line && ds->mapped) {
        tail->line = ds->line + keep;
    } else if (ds->line) {
        tail->line = xcalloc(count ? count : 1, sizeof *tail->line);
        memcpy(tail->line, ds->line + keep, count * sizeof *tail->line);
    }
    ds->n = keep;
}

void dataset_free(struct dataset *ds)
{
    free(ds->source);
    if (!ds->mapped) {
        free(ds->x);
        free(ds->y);
        free(ds->line);
    } else if (ds->y_owned) {
        free(ds->y);
    }
    free(ds->w);
    if (ds->map) {
        munmap(ds->map, ds->map_len);
        close(ds->fd);
    }
    memset(ds, 0, sizeof *ds);
}
