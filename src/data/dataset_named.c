/* Datasets for models with several inputs or outputs (see dataset.h): each
 * input's values and each output's targets come from a file of their own
 * (--input NAME=FILE, --target NAME=FILE), from an NPZ's members named
 * after them, or from column groups of one CSV (data: {inputs: {NAME:
 * columns}, targets: {NAME: columns}}). They are assembled into dataset
 * rows: the inputs one after the other, the targets one after the other,
 * each output's targets converted as the loss wants them. Targets here are
 * numbers (class names need one target column: a single-output model's
 * data section). Everything read is freed here but the dataset. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "array.h"
#include "cache.h"
#include "dataset.h"
#include "idx.h"
#include "npy.h"
#include "npz.h"

/* One file's rows: values (n, width); CSV rows also their file lines. */
struct rows {
    char *name;        /* for messages: the file, or archive:member */
    size_t n, width;
    float *v;
    size_t *line;      /* NULL for arrays: row i is "line" i + 1 */
    const size_t *col; /* a CSV column group's: value j is file column col[j]
                        * (0-based; not owned); NULL: value j is column j */
};

static void rows_free(struct rows *r)
{
    free(r->name);
    free(r->v);
    free(r->line);
    memset(r, 0, sizeof *r);
}

static size_t row_line(const struct rows *r, size_t i) { return r->line ? r->line[i] : i + 1; }

static int rows_from_array(struct array *a, struct rows *r, struct diag *d)
{
    r->name = xstrdup(a->name);
    if (a->rank == 0 || a->n == 0) {
        diag_at(d, a->name, 0, 0, a->rank == 0 ? "a single value, not an array of samples"
                                               : "no samples (shape (0, ...))");
        return -1;
    }
    size_t bytes;
    if (size_mul(a->n * a->row_size, sizeof(float), &bytes) < 0 ||
        array_check_memory(bytes, a->name, "converting to float32", d) < 0) {
        if (!d->msg[0])
            diag_at(d, a->name, 0, 0, "too large to convert to float32");
        return -1;
    }
    r->n = a->n;
    r->width = a->row_size;
    r->v = xmalloc(bytes ? bytes : 1);
    return array_read_rows(a, 0, a->n, r->v, d);
}

/* A CSV file of numbers only: every column a value. */
static int rows_from_csv(const char *path, const struct csv_options *opt, struct rows *r,
                         struct diag *d)
{
    struct csv_reader *cr;
    if (csv_open(&cr, path, opt, d) < 0)
        return -1;
    r->name = xstrdup(csv_path(cr));
    size_t n = csv_n_columns(cr);
    size_t *cols = xcalloc(n, sizeof *cols);
    for (size_t i = 0; i < n; i++)
        cols[i] = i;
    float *t = NULL;
    int rc = csv_select(cr, cols, n, NULL, 0, d);
    if (rc == 0)
        rc = dataset_read_csv(cr, n, 0, &r->v, &t, &r->line, &r->n, d);
    r->width = n;
    free(t);
    free(cols);
    csv_close(cr);
    return rc;
}

/* NAME.npy in an NPZ, or its only member. */
static int npz_member(struct npz *z, const char *path, const char *name, struct array *a,
                      struct diag *d)
{
    char member[200];
    snprintf(member, sizeof member, "%s.npy", name);
    if (npz_has(z, member))
        return npz_load(z, member, a, d);
    if (npz_n_members(z) == 1)
        return npz_load(z, npz_member_name(z, 0), a, d);
    return npz_no_member(z, path, member, d);
}

/* Any data file: NPY, IDX, an NPZ's member for name, or CSV. */
static int rows_load(const char *path, const char *name, const struct csv_options *opt,
                     struct rows *r, struct diag *d)
{
    struct array a = {0};
    int rc = -1;
    switch (data_format_detect(path)) {
    case DATA_CSV:
        return rows_from_csv(path, opt, r, d);
    case DATA_NPY:
        rc = npy_open(path, &a, d);
        break;
    case DATA_IDX:
        rc = idx_open(path, &a, d);
        break;
    case DATA_NPZ: {
        struct npz *z;
        if (npz_open(path, &z, d) < 0)
            return -1;
        rc = npz_member(z, path, name, &a, d);
        npz_close(z);
        break;
    }
    }
    if (rc == 0)
        rc = rows_from_array(&a, r, d);
    array_free(&a);
    return rc;
}

/* ---- assembling dataset rows --------------------------------------------------- */

static const char *input_name(const struct model *m, size_t k) { return m->inputs[k]->layer->name; }
static const char *output_name(const struct model *m, size_t k)
{
    return model_output_name(m, k);
}

/* in[k] (n, input k's size) and, unless tg is NULL, tg[k] (n, raw target
 * columns of output k) -> ds. */
static int assemble(const struct model *m, const struct rows *in, const struct rows *tg,
                    struct dataset *ds, struct diag *d)
{
    char buf[96];
    const struct rows *first = &in[0];
    for (size_t k = 0; k < m->n_inputs; k++) {
        size_t need = shape_size(&m->inputs[k]->out);
        if (in[k].width != need) {
            diag_at(d, in[k].name, 0, 0, "%zu values per sample, the model's input '%s' %s needs "
                    "%zu", in[k].width, input_name(m, k),
                    shape_format(&m->inputs[k]->out, buf, sizeof buf), need);
            return -1;
        }
    }
    for (size_t k = 0; k < m->n_inputs + (tg ? m->n_outputs : 0); k++) {
        const struct rows *r = k < m->n_inputs ? &in[k] : &tg[k - m->n_inputs];
        if (r->n != first->n) {
            diag_at(d, r->name, 0, 0, "%zu rows, but %s has %zu", r->n, first->name, first->n);
            return -1;
        }
    }
    memset(ds, 0, sizeof *ds);
    ds->source = xstrdup(first->name);
    ds->first_line = 1;
    ds->n = first->n;
    ds->n_x = model_inputs_size(m);
    ds->x = xcalloc(ds->n * ds->n_x, sizeof *ds->x);
    for (size_t k = 0, off = 0; k < m->n_inputs; k++) {
        size_t size = in[k].width;
        for (size_t i = 0; i < ds->n; i++)
            memcpy(ds->x + i * ds->n_x + off, in[k].v + i * size, size * sizeof *ds->x);
        /* Embedding indices, located in the input's own file. */
        size_t sample, value;
        char why[200];
        if (model_check_input_at(m, k, in[k].v, size, ds->n, &sample, &value, why, sizeof why) <
            0) {
            size_t col = in[k].col ? in[k].col[value] + 1 : in[k].line ? value + 1 : 0;
            diag_at(d, in[k].name, row_line(&in[k], sample), col, "%s", why);
            return -1;
        }
        off += size;
    }
    if (!tg)
        return 0;
    ds->n_y = model_targets_size(m);
    ds->y = xcalloc(ds->n * ds->n_y, sizeof *ds->y);
    for (size_t k = 0, off = 0; k < m->n_outputs; k++) {
        struct dataset t = {.source = tg[k].name, .n = ds->n, .first_line = 1,
                            .line = tg[k].line};
        if (dataset_convert_targets_at(m, k, &t, tg[k].v, tg[k].width, false, 0, d) < 0) {
            free(t.y);
            return -1;
        }
        for (size_t i = 0; i < ds->n; i++)
            memcpy(ds->y + i * ds->n_y + off, t.y + i * t.n_y, t.n_y * sizeof *ds->y);
        off += t.n_y;
        free(t.y);
    }
    return 0;
}

/* ---- --input NAME=FILE, --target NAME=FILE ---------------------------------------- */

int dataset_match_names(const struct model *m, bool outputs, const char *const *items,
                        size_t n_items, const char **path, struct diag *d)
{
    const char *opt = outputs ? "--target" : "--input", *what = outputs ? "output" : "input";
    size_t n = outputs ? m->n_outputs : m->n_inputs;
    const char *names[MODEL_MAX_IO];
    for (size_t k = 0; k < n; k++) {
        names[k] = outputs ? output_name(m, k) : input_name(m, k);
        path[k] = NULL;
    }
    for (size_t i = 0; i < n_items; i++) {
        const char *eq = strchr(items[i], '=');
        size_t len = (size_t)(eq - items[i]), k;
        for (k = 0; k < n && (strlen(names[k]) != len || strncmp(names[k], items[i], len)); k++)
            ;
        if (k == n) {
            char name[128];
            snprintf(name, sizeof name, "%.*s", (int)(len < 100 ? len : 100), items[i]);
            const char *hint = diag_suggest(name, names, n);
            if (hint)
                diag_set(d, "%s: the model has no %s '%s' (did you mean '%s'?)", opt, what, name,
                         hint);
            else
                diag_set(d, "%s: the model has no %s '%s'", opt, what, name);
            return -1;
        }
        if (path[k]) {
            diag_set(d, "%s: %s '%s' is given twice", opt, what, names[k]);
            return -1;
        }
        path[k] = eq + 1;
    }
    for (size_t k = 0; k < n; k++)
        if (!path[k]) {
            diag_set(d, "%s: no data for the model's %s '%s' (add %s %s=FILE)", opt, what,
                     names[k], opt, names[k]);
            return -1;
        }
    return 0;
}

int dataset_load_named(const struct model *m, const char *const *inputs, size_t n_inputs,
                       const char *const *targets, size_t n_targets, const struct data_conf *dc,
                       const struct ckpt_meta *meta, struct dataset *ds, struct diag *d)
{
    const char *in_path[MODEL_MAX_IO], *tg_path[MODEL_MAX_IO];
    struct rows in[MODEL_MAX_IO] = {{0}}, tg[MODEL_MAX_IO] = {{0}};
    bool want = targets != NULL;
    int rc = -1;
    memset(ds, 0, sizeof *ds);
    struct csv_options opt = data_csv_options(dc, meta);
    const struct spec_node *cols[] = {dc->inputs, dc->targets, dc->target, dc->features,
                                      dc->sample_weight};
    for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++)
        if (cols[i] && !spec_is_null(cols[i]))
            return spec_error(cols[i], d, "the data section selects CSV columns, but the data "
                              "comes from --input/--target files");
    if (dataset_match_names(m, false, inputs, n_inputs, in_path, d) < 0 ||
        (want && dataset_match_names(m, true, targets, n_targets, tg_path, d) < 0))
        goto out;
    for (size_t k = 0; k < m->n_inputs; k++)
        if (rows_load(in_path[k], input_name(m, k), &opt, &in[k], d) < 0)
            goto out;
    for (size_t k = 0; want && k < m->n_outputs; k++)
        if (rows_load(tg_path[k], output_name(m, k), &opt, &tg[k], d) < 0)
            goto out;
    rc = assemble(m, in, want ? tg : NULL, ds, d);
out:
    for (size_t k = 0; k < MODEL_MAX_IO; k++) {
        rows_free(&in[k]);
        rows_free(&tg[k]);
    }
    if (rc < 0)
        dataset_free(ds);
    return rc;
}

/* ---- one NPZ or one CSV for every input and output ------------------------------------- */

static int load_npz(const char *path, const struct model *m, struct dataset *ds, struct diag *d)
{
    struct npz *z;
    struct rows in[MODEL_MAX_IO] = {{0}}, tg[MODEL_MAX_IO] = {{0}};
    int rc = -1;
    if (npz_open(path, &z, d) < 0)
        return -1;
    for (size_t k = 0; k < m->n_inputs + m->n_outputs; k++) {
        bool out = k >= m->n_inputs;
        size_t j = out ? k - m->n_inputs : k;
        const char *name = out ? output_name(m, j) : input_name(m, j);
        char member[200];
        struct array a = {0};
        snprintf(member, sizeof member, "%s.npy", name);
        if (!npz_has(z, member)) {
            diag_at(d, path, 0, 0, "no member %s: a model with several inputs or outputs reads "
                    "one member per input and output, named after it", member);
            goto out;
        }
        int r = npz_load(z, member, &a, d);
        if (r == 0)
            r = rows_from_array(&a, out ? &tg[j] : &in[j], d);
        array_free(&a);
        if (r < 0)
            goto out;
    }
    rc = assemble(m, in, tg, ds, d);
out:
    for (size_t k = 0; k < MODEL_MAX_IO; k++) {
        rows_free(&in[k]);
        rows_free(&tg[k]);
    }
    npz_close(z);
    return rc;
}

/* data.inputs / data.targets: a map from each input (output) name to its
 * columns, in model order: the columns one after the other into *cols,
 * each group's count into groups. */
static int resolve_groups(struct csv_reader *r, const struct model *m, bool outputs,
                          const struct spec_node *map, size_t **cols, size_t *n_cols,
                          size_t *groups, struct diag *d)
{
    const char *key = outputs ? "targets" : "inputs", *what = outputs ? "output" : "input";
    size_t n = outputs ? m->n_outputs : m->n_inputs;
    if (!map || map->kind != SPEC_MAP)
        return spec_error(map, d, "data.%s maps each model %s's name to its columns", key, what);
    const char *names[MODEL_MAX_IO];
    for (size_t k = 0; k < n; k++)
        names[k] = outputs ? output_name(m, k) : input_name(m, k);
    for (size_t i = 0; i < map->n; i++) {
        size_t k;
        for (k = 0; k < n && strcmp(names[k], map->keys[i]->str); k++)
            ;
        if (k == n) {
            const char *hint = diag_suggest(map->keys[i]->str, names, n);
            return hint ? spec_error(map->keys[i], d, "data.%s: the model has no %s '%s' (did "
                                     "you mean '%s'?)", key, what, map->keys[i]->str, hint)
                        : spec_error(map->keys[i], d, "data.%s: the model has no %s '%s'", key,
                                     what, map->keys[i]->str);
        }
    }
    *cols = NULL;
    *n_cols = 0;
    for (size_t k = 0; k < n; k++) {
        const struct spec_node *sel = spec_get(map, names[k]);
        if (!sel)
            return spec_error(map, d, "data.%s: no columns for the model's %s '%s'", key, what,
                              names[k]);
        size_t *c = NULL, nc = 0;
        if (csv_resolve_columns(r, sel, &c, &nc, d) < 0)
            return -1;
        if (!outputs && nc != shape_size(&m->inputs[k]->out)) {
            char buf[96];
            free(c);
            return spec_error(sel, d, "%zu columns for the input '%s' %s, which needs %zu", nc,
                              names[k], shape_format(&m->inputs[k]->out, buf, sizeof buf),
                              shape_size(&m->inputs[k]->out));
        }
        *cols = xrealloc(*cols, (*n_cols + nc + 1) * sizeof **cols);
        memcpy(*cols + *n_cols, c, nc * sizeof *c);
        *n_cols += nc;
        groups[k] = nc;
        free(c);
    }
    return 0;
}

/* ---- column groups through the binary cache ---------------------------------- */

/* The model's input checks (Embedding indices) over n assembled rows x
 * (every input's values, input after input, value j read from file column
 * features[j]): the first failure of each input k goes to err[k] (bad[k]),
 * located as assemble locates it. Inputs are checked one after the other
 * over all rows there, so the first bad input's first failure, over all
 * chunks, is the error it reports. */
static void check_inputs(const struct model *m, const char *path, const float *x, size_t n,
                         const size_t *lines, const size_t *features, bool *bad, struct diag *err)
{
    size_t n_x = model_inputs_size(m);
    for (size_t k = 0, off = 0; k < m->n_inputs; k++) {
        size_t sample, value;
        char why[200];
        if (!bad[k] && model_check_input_at(m, k, x + off, n_x, n, &sample, &value, why,
                                            sizeof why) < 0) {
            diag_at(&err[k], path, lines[sample], features[off + value] + 1, "%s", why);
            bad[k] = true;
        }
        off += shape_size(&m->inputs[k]->out);
    }
}

/* The first of the per-input (per-output) errors kept aside, if any. */
static int first_error(const bool *bad, const struct diag *err, size_t n, struct diag *d)
{
    for (size_t k = 0; k < n; k++)
        if (bad[k]) {
            *d = err[k];
            return -1;
        }
    return 0;
}

enum { GROUP_CHUNK = 4096 };

/* The CSV's rows streamed into the cache: the assembled input rows as they
 * are read, the raw targets and lines to scratch files, then each output's
 * targets converted chunk by chunk (dataset_convert_targets_at, as
 * assemble) into the cache's target rows. The errors are load_csv's, in
 * its order (input and output errors are kept per input and output and
 * the first reported). 1 when written, 0 when the cache files cannot be
 * created (nothing read yet), -1 on an error. */
static int convert_groups(struct csv_reader *r, const char *path, const char *cpath,
                          const struct cache_key *k, const struct model *m, const size_t *features,
                          size_t n_f, size_t n_t, const size_t *groups, struct diag *d)
{
    size_t n_y = model_targets_size(m), n = 0;
    FILE *tf = cache_scratch_file(cpath, "t"), *lf = cache_scratch_file(cpath, "l");
    float *x = xmalloc(GROUP_CHUNK * n_f * sizeof *x + 1);
    float *t = xmalloc(GROUP_CHUNK * n_t * sizeof *t + 1);
    float *tk = xmalloc(GROUP_CHUNK * n_t * sizeof *tk + 1);
    float *y = xmalloc(GROUP_CHUNK * n_y * sizeof *y + 1);
    size_t *lines = xmalloc(GROUP_CHUNK * sizeof *lines);
    bool bad[MODEL_MAX_IO] = {false};
    struct diag *err = xcalloc(MODEL_MAX_IO, sizeof *err);
    struct cache_out o;
    int rc = 0;
    if (!tf || !lf || cache_out_open(&o, cpath, n_f, n_y, false, true) < 0)
        goto out;
    o.source = path;
    rc = -1;
    for (;;) {
        long got = csv_read(r, GROUP_CHUNK, x, t, d);
        if (got < 0)
            goto fail;
        if (got == 0)
            break;
        for (size_t i = 0; i < (size_t)got; i++)
            lines[i] = csv_row_line(r, i);
        check_inputs(m, path, x, (size_t)got, lines, features, bad, err);
        if (fwrite(t, sizeof *t, (size_t)got * n_t, tf) != (size_t)got * n_t ||
            fwrite(lines, sizeof *lines, (size_t)got, lf) != (size_t)got)
            o.failed = EIO;
        cache_out_x(&o, x, (size_t)got);
        n += (size_t)got;
    }
    if (n == 0) {
        diag_at(d, path, 0, 0, "no data rows");
        goto fail;
    }
    if (n_t > 1 && csv_target_is_class(r)) {
        diag_at(d, path, 0, 0, "targets of a model with several outputs are numbers");
        goto fail;
    }
    if (first_error(bad, err, m->n_inputs, d) < 0)
        goto fail;
    rewind(tf);
    rewind(lf);
    for (size_t i = 0; i < n; i += GROUP_CHUNK) {
        size_t rows = n - i < GROUP_CHUNK ? n - i : GROUP_CHUNK;
        if (fread(t, sizeof *t, rows * n_t, tf) != rows * n_t ||
            fread(lines, sizeof *lines, rows, lf) != rows) {
            diag_at(d, path, 0, 0, "cannot read back the data cache's scratch files");
            goto fail;
        }
        for (size_t j = 0, off = 0, yoff = 0; j < m->n_outputs; j++) {
            for (size_t q = 0; q < rows; q++)
                memcpy(tk + q * groups[j], t + q * n_t + off, groups[j] * sizeof *tk);
            struct dataset c = {.source = (char *)path, .n = rows, .line = lines};
            size_t width = model_target_size_at(m, j);
            if (!bad[j] && dataset_convert_targets_at(m, j, &c, tk, groups[j], false, 0,
                                                      &err[j]) < 0)
                bad[j] = true;
            for (size_t q = 0; c.y && !bad[j] && q < rows; q++)
                memcpy(y + q * n_y + yoff, c.y + q * width, width * sizeof *y);
            free(c.y);
            off += groups[j];
            yoff += width;
        }
        cache_out_block(&o, CACHE_Y, i, y, rows);
        cache_out_block(&o, CACHE_LINE, i, lines, rows);
    }
    if (first_error(bad, err, m->n_outputs, d) < 0)
        goto fail;
    if (cache_out_commit(&o, k, csv_has_header(r) ? 2 : 1, NULL, 0) < 0) {
        diag_at(d, path, 0, 0, "cannot write the data cache %s: %s (NNC_CACHE_DIR=off reads "
                "the data into memory instead)", cpath, strerror(o.failed));
        goto out;
    }
    rc = 1;
    goto out;
fail:
    cache_out_abort(&o);
out:
    if (tf)
        fclose(tf);
    if (lf)
        fclose(lf);
    free(x);
    free(t);
    free(tk);
    free(y);
    free(lines);
    free(err);
    return rc;
}

/* The CSV's assembled rows through the binary cache (cache.h) when the file
 * is large enough: a hit maps them without parsing (the input checks run
 * over the map), a miss converts the file (convert_groups) and maps the
 * result. 1 with ds mapped, 0 when not cached (nothing read), -1 on an
 * error. */
static int load_csv_cached(struct csv_reader *r, const char *path, const struct csv_options *opt,
                           const struct model *m, const size_t *features, size_t n_f,
                           const size_t *target, size_t n_t, const size_t *groups,
                           struct dataset *ds, struct diag *d)
{
    struct cache_key k;
    if (cache_key_start(&k, path) < 0)
        return 0;
    static const char tag[] = "column groups";
    cache_key_add(&k, tag, sizeof tag);
    cache_key_add_size(&k, n_f);
    cache_key_add(&k, features, n_f * sizeof *features);
    cache_key_add_size(&k, n_t);
    cache_key_add(&k, target, n_t * sizeof *target);
    cache_key_add_size(&k, m->n_inputs);
    for (size_t i = 0; i < m->n_inputs; i++)
        cache_key_add_size(&k, shape_size(&m->inputs[i]->out));
    cache_key_add_size(&k, m->n_outputs);
    for (size_t j = 0; j < m->n_outputs; j++) {
        cache_key_add_size(&k, groups[j]);
        cache_key_add_size(&k, (size_t)m->compile.out[j].loss.kind);
        cache_key_add_size(&k, model_output_last_dim_at(m, j));
        cache_key_add_size(&k, model_target_size_at(m, j));
    }
    cache_key_add_csv(&k, opt);
    char *cpath = cache_file_path(&k);
    if (!cpath)
        return 0;
    ds->source = xstrdup(path);
    int rc = cache_open(cpath, &k, ds, NULL, NULL);
    if (rc == 1) {
        /* The input checks over the map, chunk by chunk, pages dropped. */
        bool bad[MODEL_MAX_IO] = {false};
        struct diag *err = xcalloc(MODEL_MAX_IO, sizeof *err);
        for (size_t i = 0; i < ds->n; i += GROUP_CHUNK) {
            size_t rows = ds->n - i < GROUP_CHUNK ? ds->n - i : GROUP_CHUNK;
            check_inputs(m, path, ds->x + i * ds->n_x, rows, ds->line + i, features, bad, err);
            cache_release_pages(ds);
        }
        rc = first_error(bad, err, m->n_inputs, d) < 0 ? -1 : 1;
        free(err);
    } else {
        rc = convert_groups(r, path, cpath, &k, m, features, n_f, n_t, groups, d);
        if (rc == 1) {
            int verbose = data_cache_verbose;
            data_cache_verbose = 0;
            if (cache_open(cpath, &k, ds, NULL, NULL) != 1) {
                diag_at(d, path, 0, 0, "the cache file just written is gone");
                rc = -1;
            }
            data_cache_verbose = verbose;
        }
    }
    if (rc == 0) {
        free(ds->source);
        ds->source = NULL;
    }
    free(cpath);
    return rc;
}

/* One CSV: the features are every input's columns in input order, the
 * targets every output's in output order (groups: their counts). */
static int load_csv(const char *path, const struct data_conf *dc, const struct model *m,
                    bool train, struct ckpt_meta *meta, struct dataset *ds, struct diag *d)
{
    struct csv_reader *r;
    struct csv_options opt = data_csv_options(dc, meta);
    if (csv_open(&r, path, &opt, d) < 0)
        return -1;
    size_t *features = NULL, *target = NULL, n_f = 0, n_t = 0, groups[MODEL_MAX_IO], in_groups[MODEL_MAX_IO];
    float *x = NULL, *t = NULL;
    size_t *lines = NULL;
    struct rows in[MODEL_MAX_IO] = {{0}}, tg[MODEL_MAX_IO] = {{0}};
    int rc = -1;
    if (dc->sample_weight && !spec_is_null(dc->sample_weight)) {
        spec_error(dc->sample_weight, d, "sample_weight with data.inputs/targets column groups "
                   "is not supported by nnc yet");
        goto out;
    }
    if (train) {
        if (!dc->inputs || !dc->targets) {
            diag_at(d, path, 0, 0, "a model with %zu input%s and %zu output%s reads a CSV "
                    "through column groups: data: {inputs: {NAME: columns, ...}, targets: "
                    "{NAME: columns, ...}}", m->n_inputs, m->n_inputs == 1 ? "" : "s",
                    m->n_outputs, m->n_outputs == 1 ? "" : "s");
            goto out;
        }
        if (resolve_groups(r, m, false, dc->inputs, &features, &n_f, in_groups, d) < 0 ||
            resolve_groups(r, m, true, dc->targets, &target, &n_t, groups, d) < 0)
            goto out;
        for (size_t i = 0; i < n_t; i++)
            for (size_t j = 0; j < n_f; j++)
                if (target[i] == features[j]) {
                    spec_error(dc->targets, d, "column %zu is both an input's and a target's",
                               target[i]);
                    goto out;
                }
    } else {
        /* The training data's layout, by position. */
        if (meta->n_target_groups != m->n_outputs || meta->n_features != model_inputs_size(m)) {
            diag_at(d, path, 0, 0, "the checkpoint has no CSV column groups for its %zu inputs "
                    "and %zu outputs: give the data with --input NAME=FILE and --target "
                    "NAME=FILE", m->n_inputs, m->n_outputs);
            goto out;
        }
        if (csv_n_columns(r) != meta->n_columns) {
            diag_at(d, path, 0, 0, "%zu columns, the training data had %zu", csv_n_columns(r),
                    meta->n_columns);
            goto out;
        }
        n_f = meta->n_features;
        n_t = meta->n_target;
        features = xcalloc(n_f + 1, sizeof *features);
        target = xcalloc(n_t + 1, sizeof *target);
        memcpy(features, meta->feature_cols, n_f * sizeof *features);
        memcpy(target, meta->target_cols, n_t * sizeof *target);
        memcpy(groups, meta->target_groups, m->n_outputs * sizeof *groups);
    }
    if (csv_select(r, features, n_f, target, n_t, d) < 0)
        goto out;
    int cached = load_csv_cached(r, path, &opt, m, features, n_f, target, n_t, groups, ds, d);
    if (cached < 0)
        goto out;
    if (cached) {
        rc = 0;
        goto record;
    }
    if (dataset_read_csv(r, n_f, n_t, &x, &t, &lines, &ds->n, d) < 0)
        goto out;
    if (n_t > 1 && csv_target_is_class(r)) {
        diag_at(d, path, 0, 0, "targets of a model with several outputs are numbers");
        goto out;
    }
    /* Split into the per-input and per-output rows assemble takes. */
    size_t n = ds->n;
    for (size_t k = 0, off = 0; k < m->n_inputs + m->n_outputs; k++) {
        bool out = k >= m->n_inputs;
        size_t j = out ? k - m->n_inputs : k;
        struct rows *rr = out ? &tg[j] : &in[j];
        size_t width = out ? groups[j] : shape_size(&m->inputs[j]->out), stride = out ? n_t : n_f;
        const float *src = out ? t : x;
        if (k == m->n_inputs)
            off = 0;
        rr->name = xstrdup(path);
        rr->n = n;
        rr->width = width;
        rr->v = xcalloc(n * width + 1, sizeof *rr->v);
        rr->line = xcalloc(n + 1, sizeof *rr->line);
        rr->col = (out ? target : features) + off;
        memcpy(rr->line, lines, n * sizeof *lines);
        for (size_t i = 0; i < n; i++)
            memcpy(rr->v + i * width, src + i * stride + off, width * sizeof *rr->v);
        off += width;
    }
    rc = assemble(m, in, tg, ds, d);
    if (rc == 0) {
        free(ds->source);
        ds->source = xstrdup(path);
        ds->line = lines;
        lines = NULL;
    }
record:
    if (rc == 0 && train) {
        meta->n_columns = csv_n_columns(r);
        meta->n_features = n_f;
        meta->feature_cols = features;
        meta->n_target = n_t;
        meta->target_cols = target;
        meta->n_target_groups = m->n_outputs;
        memcpy(meta->target_groups, groups, m->n_outputs * sizeof *groups);
        if (csv_has_header(r)) {
            meta->feature_names = xcalloc(n_f, sizeof *meta->feature_names);
            for (size_t i = 0; i < n_f; i++)
                meta->feature_names[i] = xstrdup(csv_column_name(r, features[i]));
        }
        features = target = NULL;
    }
out:
    for (size_t k = 0; k < MODEL_MAX_IO; k++) {
        rows_free(&in[k]);
        rows_free(&tg[k]);
    }
    free(features);
    free(target);
    free(x);
    free(t);
    free(lines);
    csv_close(r);
    return rc;
}

int dataset_load_multi(const char *const *paths, size_t n_paths, const struct data_conf *dc,
                       const struct model *m, bool train, struct ckpt_meta *meta,
                       struct dataset *ds, struct diag *d)
{
    memset(ds, 0, sizeof *ds);
    enum data_format f = data_format_detect(paths[0]);
    int rc;
    if (n_paths != 1 || (f != DATA_NPZ && f != DATA_CSV)) {
        diag_at(d, paths[0], 0, 0, "a model with %zu input%s and %zu output%s reads one NPZ "
                "(a member per input and output), one CSV (data: inputs/targets column "
                "groups), or one file per input and output (--input NAME=FILE, --target "
                "NAME=FILE)", m->n_inputs, m->n_inputs == 1 ? "" : "s", m->n_outputs,
                m->n_outputs == 1 ? "" : "s");
        return -1;
    }
    if (f == DATA_NPZ)
        rc = load_npz(paths[0], m, ds, d);
    else
        rc = load_csv(paths[0], dc, m, train, meta, ds, d);
    if (rc < 0)
        dataset_free(ds);
    return rc;
}
