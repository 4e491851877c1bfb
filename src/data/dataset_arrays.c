/* Datasets from array files (NPY, NPZ, IDX): the files of nnc train and
 * evaluate sorted by format, features and targets matched by row count and
 * fitted to the model's input (any sample shape with the input's number of
 * values: 28x28 images feed a (28, 28, 1) input), integer labels through
 * the CSV path's target conversion. The features are never read whole
 * into memory when they need not be:
 *   - native float32 in C order (an NPY, or an NPZ's stored member): the
 *     dataset's x is the file's map itself (checked in one sweep);
 *   - any other mapped NPY or plain IDX of at least $NNC_CACHE_MIN bytes:
 *     converted once into the binary cache (cache.h), whose map later runs
 *     reuse;
 *   - otherwise (gzipped IDX, a deflated NPZ member, Fortran order, small
 *     files, caching off): converted into memory.
 * Targets are converted into memory (or into the cache with the rows).
 * Every path trains on the same floats and reports the same first error. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "cache.h"
#include "dataset.h"
#include "idx.h"
#include "npy.h"
#include "npz.h"

/* An NPY or IDX file. */
static int open_single(const char *path, enum data_format f, struct array *a, struct diag *d)
{
    return f == DATA_IDX ? idx_open(path, a, d) : npy_open(path, a, d);
}

/* The member for a role: the layer's name, the generic name, Keras's
 * datasets' name (mnist.npz holds x_train, y_train, x_test, y_test). */
static int load_member(const struct npz *z, const char *path, const char *const *names,
                       size_t n_names, struct array *a, struct diag *d)
{
    char tried[256] = "";
    for (size_t i = 0; i < n_names; i++) {
        char member[160];
        snprintf(member, sizeof member, "%s.npy", names[i]);
        if (npz_has(z, member))
            return npz_load(z, member, a, d);
        size_t k = strlen(tried);
        snprintf(tried + k, sizeof tried - k, "%s%s", i ? ", " : "", member);
    }
    return npz_no_member(z, path, tried, d);
}

enum role { ROLE_TRAIN, ROLE_EVAL };

static int open_npz(const char *path, const struct model *m, enum role role, bool want_y,
                    struct array *x, struct array *y, struct diag *d)
{
    struct npz *z;
    if (npz_open(path, &z, d) < 0)
        return -1;
    const char *xs[] = {m->nodes[0].layer->name, "x", role == ROLE_TRAIN ? "x_train" : "x_test"};
    const char *ys[] = {model_output_name(m, 0), "y", role == ROLE_TRAIN ? "y_train" : "y_test"};
    int rc = load_member(z, path, xs, 3, x, d);
    if (rc == 0 && want_y && load_member(z, path, ys, 3, y, d) < 0) {
        array_free(x);
        rc = -1;
    }
    npz_close(z);
    return rc;
}

/* "(28, 28)": a sample's shape (the array's shape without its first axis). */
static const char *sample_shape(const struct array *a, char *buf, size_t size)
{
    struct array s = *a;
    s.rank = a->rank ? a->rank - 1 : 0;
    memmove(s.shape, a->shape + (a->rank ? 1 : 0), s.rank * sizeof *s.shape);
    return array_shape_format(&s, buf, size);
}

static int check_input(const struct array *x, const struct model *m, struct diag *d)
{
    size_t need = model_input_size(m);
    if (x->rank == 0) {
        diag_at(d, x->name, 0, 0, "a single value, not an array of samples");
        return -1;
    }
    if (x->n == 0) {
        diag_at(d, x->name, 0, 0, "no samples (shape (0, ...))");
        return -1;
    }
    if (x->row_size != need) {
        char sb[96], mb[96];
        diag_at(d, x->name, 0, 0, "samples of shape %s hold %zu value%s, the model's input %s "
                "needs %zu", sample_shape(x, sb, sizeof sb), x->row_size,
                x->row_size == 1 ? "" : "s", shape_format(&m->nodes[0].out, mb, sizeof mb), need);
        return -1;
    }
    return 0;
}

/* The rows of a as one float array (n * row_size), checked for size. */
static float *read_all(const struct array *a, struct diag *d)
{
    size_t bytes;
    if (size_mul(a->n * a->row_size, sizeof(float), &bytes) < 0) {
        diag_at(d, a->name, 0, 0, "too large to convert to float32");
        return NULL;
    }
    if (array_check_memory(bytes, a->name, "converting to float32", d) < 0)
        return NULL;
    float *out = xmalloc(bytes ? bytes : 1);
    if (array_read_rows(a, 0, a->n, out, d) < 0) {
        free(out);
        return NULL;
    }
    return out;
}

/* The data section's column keys select CSV columns: with arrays they
 * would be silently ignored, so they are errors. */
static int check_no_columns(const struct data_conf *dc, const char *path, struct diag *d)
{
    const struct spec_node *keys[] = {dc->target, dc->features, dc->sample_weight};
    const char *names[] = {"target", "features", "sample_weight"};
    for (int i = 0; i < 3; i++)
        if (keys[i] && !spec_is_null(keys[i]))
            return spec_error(keys[i], d, "data.%s selects CSV columns; %s is not CSV (array "
                              "data gives the features, then the targets)", names[i], path);
    return 0;
}

/* Rows converted at a time by a sweep: about 4 MB of float32. */
static size_t sweep_chunk(const struct array *a)
{
    size_t row = a->row_size * sizeof(float);
    size_t rows = row ? ((size_t)4 << 20) / row : a->n;
    return rows ? rows : 1;
}

/* Every row of a mapped C-order array converted chunk by chunk (the checks
 * and the first error of read_all) and, with o, appended to the cache being
 * written; the source pages are dropped as the sweep goes. The model's
 * input check (dataset_check_input) runs on each chunk too, but its first
 * failure is only kept in *input_err (*input_bad): it is reported after
 * the targets' conversion errors, as read_all then the check would. */
static int sweep(const struct array *a, const struct model *m, struct cache_out *o,
                 struct diag *input_err, bool *input_bad, struct diag *d)
{
    size_t chunk = sweep_chunk(a), row_bytes = a->row_size * a->itemsize;
    float *buf = xmalloc(chunk * a->row_size * sizeof *buf + 1);
    int rc = 0;
    for (size_t i = 0; i < a->n && rc == 0; i += chunk) {
        size_t rows = a->n - i < chunk ? a->n - i : chunk;
        if (array_read_rows(a, i, rows, buf, d) < 0) {
            rc = -1;
        } else {
            if (!*input_bad &&
                dataset_check_input(m, a->name, 1 + i, NULL, buf, rows, NULL, input_err) < 0)
                *input_bad = true;
            if (o)
                cache_out_x(o, buf, rows);
        }
        cache_release_range(a->data + i * row_bytes, rows * row_bytes);
    }
    free(buf);
    return rc;
}

/* Native float32 features: ds->x is x's map (the dataset takes it over),
 * the targets are converted into memory. */
static int load_mapped(struct array *x, const struct array *y, const struct model *m,
                       struct dataset *ds, struct diag *d)
{
    struct diag input_err;
    bool input_bad = false;
    float *t = NULL;
    int rc = -1;
    if (sweep(x, m, NULL, &input_err, &input_bad, d) < 0 || !(t = read_all(y, d)))
        goto out;
    if (input_bad) {
        *d = input_err;
        goto out;
    }
    ds->map = x->map;
    ds->map_len = x->map_len;
    ds->fd = x->fd;
    ds->base = x->map;
    ds->mapped = true;
    ds->y_owned = true;
    ds->x = (float *)(uintptr_t)x->data; /* read-only: nothing writes a dataset's x */
    x->map = NULL;
    x->has_fd = false;
    rc = dataset_convert_targets(m, ds, t, y->row_size, false, 0, d);
out:
    free(t);
    return rc;
}

/* Features converted once into the binary cache (a hit maps it without
 * reading x at all). 1 when ds maps the cache, 0 when this array is not
 * cached (the caller converts it into memory), -1 on an error in the data. */
static int load_cached(const struct array *x, const struct array *y, const char *x_path,
                       const char *y_path, const struct model *m, struct dataset *ds,
                       struct diag *d)
{
    struct cache_key k;
    if (!x->map || (x->fortran && x->rank > 1) || !y_path || cache_key_start(&k, x_path) < 0)
        return 0;
    static const char tag[] = "arrays";
    cache_key_add(&k, tag, sizeof tag);
    if (cache_key_add_file(&k, y_path) < 0)
        return 0;
    size_t width = model_target_size_at(m, 0);
    cache_key_add_size(&k, x->row_size);
    cache_key_add_size(&k, y->row_size);
    cache_key_add_size(&k, (size_t)m->compile.out[0].loss.kind);
    cache_key_add_size(&k, model_output_last_dim(m));
    cache_key_add_size(&k, width);
    char *cpath = cache_file_path(&k);
    if (!cpath)
        return 0;
    if (cache_open(cpath, &k, ds, NULL, NULL) == 1) {
        free(cpath);
        return dataset_check_input_mapped(m, ds, x->name, NULL, d) < 0 ? -1 : 1;
    }
    struct cache_out o;
    if (cache_out_open(&o, cpath, x->row_size, width, false, false) < 0) {
        free(cpath);
        return 0;
    }
    o.source = x->name;
    struct diag input_err;
    bool input_bad = false;
    float *t = NULL;
    struct dataset targets = {.source = ds->source, .n = ds->n, .first_line = 1};
    int rc = -1;
    if (sweep(x, m, &o, &input_err, &input_bad, d) < 0 || !(t = read_all(y, d)))
        goto fail;
    if (input_bad) {
        *d = input_err;
        goto fail;
    }
    if (dataset_convert_targets(m, &targets, t, y->row_size, false, 0, d) < 0)
        goto fail;
    NNC_ASSERT(targets.n_y == width);
    cache_out_block(&o, CACHE_Y, 0, targets.y, ds->n);
    /* Not written (a full disk): the caller converts into memory instead. */
    rc = cache_out_commit(&o, &k, 1, NULL, 0) < 0 ? 0 : 1;
    if (rc == 1) {
        int verbose = data_cache_verbose;
        data_cache_verbose = 0;
        rc = cache_open(cpath, &k, ds, NULL, NULL) == 1;
        data_cache_verbose = verbose;
    }
    goto out;
fail:
    cache_out_abort(&o);
out:
    free(targets.y);
    free(t);
    free(cpath);
    return rc;
}

/* Everything converted into memory. */
static int load_memory(const struct array *x, const struct array *y, const struct model *m,
                       struct dataset *ds, struct diag *d)
{
    float *t = NULL;
    int rc = -1;
    if ((ds->x = read_all(x, d)) && (t = read_all(y, d)) &&
        dataset_check_input(m, x->name, 1, NULL, ds->x, ds->n, NULL, d) == 0)
        rc = dataset_convert_targets(m, ds, t, y->row_size, false, 0, d);
    free(t);
    return rc;
}

static int load_arrays(const char *const *paths, size_t n_paths, const struct data_conf *dc,
                       const struct model *m, enum role role, struct dataset *ds, struct diag *d)
{
    struct array x = {0}, y = {0};
    int rc = -1;
    enum data_format f0 = data_format_detect(paths[0]);
    memset(ds, 0, sizeof *ds);
    /* The files first: damaged data is reported before how it is used. */
    for (size_t i = 0; i < n_paths; i++) {
        enum data_format f = data_format_detect(paths[i]);
        if (n_paths > 1 && (f == DATA_CSV || f == DATA_NPZ)) {
            diag_at(d, paths[i], 0, 0, "%s; two data files are NPY or IDX files: features, "
                    "then targets", f == DATA_CSV ? "a CSV file holds features and targets "
                    "and comes alone" : "an NPZ file holds x and y and comes alone");
            goto out;
        }
    }
    if (f0 == DATA_NPZ) {
        if (open_npz(paths[0], m, role, true, &x, &y, d) < 0)
            goto out;
    } else if (open_single(paths[0], f0, &x, d) < 0 ||
               (n_paths > 1 && open_single(paths[1], data_format_detect(paths[1]), &y, d) < 0)) {
        goto out;
    }
    if (check_no_columns(dc, paths[0], d) < 0)
        goto out;
    if (n_paths == 1 && f0 != DATA_NPZ) {
        diag_at(d, paths[0], 0, 0, "no targets: give the target file after the features "
                "(DATA: X Y, or one NPZ holding x and y)");
        goto out;
    }
    if (check_input(&x, m, d) < 0)
        goto out;
    if (y.rank == 0 || y.n != x.n) {
        diag_at(d, x.name, 0, 0, "%zu rows, but %s has %zu", x.n, y.name, y.rank ? y.n : 0);
        goto out;
    }
    ds->source = xstrdup(y.name);
    ds->first_line = 1; /* messages count rows from 1 */
    ds->n = x.n;
    ds->n_x = x.row_size;
    if (array_is_native_f32(&x))
        rc = load_mapped(&x, &y, m, ds, d);
    else if ((rc = load_cached(&x, &y, paths[0], n_paths > 1 ? paths[1] : NULL, m, ds, d)) == 0)
        rc = load_memory(&x, &y, m, ds, d);
    rc = rc < 0 ? -1 : 0;
out:
    array_free(&x);
    array_free(&y);
    if (rc < 0)
        dataset_free(ds);
    return rc;
}

int dataset_load_train_files(const char *const *paths, size_t n_paths,
                             const struct data_conf *dc, const struct model *m,
                             struct dataset *ds, struct ckpt_meta *meta, struct diag *d)
{
    if (m->n_inputs > 1 || m->n_outputs > 1 || dc->inputs || dc->targets)
        return dataset_load_multi(paths, n_paths, dc, m, true, meta, ds, d);
    if (n_paths == 1 && data_format_detect(paths[0]) == DATA_CSV)
        return dataset_load_train(paths[0], dc, m, ds, meta, d);
    return load_arrays(paths, n_paths, dc, m, ROLE_TRAIN, ds, d);
}

int dataset_load_eval_files(const char *const *paths, size_t n_paths,
                            const struct data_conf *dc, const struct model *m,
                            const struct ckpt_meta *meta, struct dataset *ds, struct diag *d)
{
    if (m->n_inputs > 1 || m->n_outputs > 1 || meta->n_target_groups)
        return dataset_load_multi(paths, n_paths, dc, m, false, (struct ckpt_meta *)meta, ds, d);
    if (n_paths == 1 && data_format_detect(paths[0]) == DATA_CSV)
        return dataset_load_eval(paths[0], dc, m, meta, ds, d);
    return load_arrays(paths, n_paths, dc, m, ROLE_EVAL, ds, d);
}

int dataset_values_per_sample(const char *const *paths, size_t n_paths, const struct data_conf *dc,
                              const struct model *m, bool train, size_t *values, struct diag *d)
{
    *values = 0;
    if (n_paths == 0 || m->n_inputs > 1 || dc->inputs || dc->targets || !strcmp(paths[0], "-"))
        return 0;
    enum data_format f = data_format_detect(paths[0]);
    if (f == DATA_CSV)
        return dataset_csv_feature_count(paths[0], dc, values, d);
    struct array x = {0};
    int rc = f == DATA_NPZ
                 ? open_npz(paths[0], m, train ? ROLE_TRAIN : ROLE_EVAL, false, &x, NULL, d)
                 : open_single(paths[0], f, &x, d);
    if (rc == 0)
        *values = x.row_size;
    array_free(&x);
    return rc < 0 ? -1 : 0;
}

int predict_open_array(const char *path, const struct model *m, struct array *x,
                       struct diag *d)
{
    memset(x, 0, sizeof *x);
    enum data_format f = data_format_detect(path);
    if (f == DATA_CSV)
        return 0;
    int rc = f == DATA_NPZ ? open_npz(path, m, ROLE_EVAL, false, x, NULL, d)
                           : open_single(path, f, x, d);
    if (rc == 0 && check_input(x, m, d) < 0) {
        array_free(x);
        rc = -1;
    }
    return rc < 0 ? -1 : 1;
}
