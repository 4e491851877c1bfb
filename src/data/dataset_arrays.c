/* Datasets from array files (NPY, NPZ, IDX): the files of nnc train and
 * evaluate sorted by format, features and targets matched by row count and
 * fitted to the model's input (any sample shape with the input's number of
 * values: 28x28 images feed a (28, 28, 1) input), integer labels through
 * the CSV path's target conversion. The whole feature array is converted to
 * float32 once (struct dataset holds it); the arrays themselves are
 * mapped, so a streaming loader can later read rows from them instead. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
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
    char tried[256] = "", holds[256] = "";
    for (size_t i = 0; i < n_names; i++) {
        char member[160];
        snprintf(member, sizeof member, "%s.npy", names[i]);
        if (npz_has(z, member))
            return npz_load(z, member, a, d);
        size_t k = strlen(tried);
        snprintf(tried + k, sizeof tried - k, "%s%s", i ? ", " : "", member);
    }
    for (size_t i = 0; i < npz_n_members(z); i++) {
        size_t k = strlen(holds);
        snprintf(holds + k, sizeof holds - k, "%s%s", i ? ", " : "", npz_member_name(z, i));
    }
    diag_at(d, path, 0, 0, "no member %s (the archive holds %s)", tried,
            npz_n_members(z) ? holds : "nothing");
    return -1;
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

static int load_arrays(const char *const *paths, size_t n_paths, const struct data_conf *dc,
                       const struct model *m, enum role role, struct dataset *ds, struct diag *d)
{
    struct array x = {0}, y = {0};
    float *t = NULL;
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
    if (!(ds->x = read_all(&x, d)) || !(t = read_all(&y, d)) ||
        dataset_check_input(m, x.name, 1, NULL, ds->x, ds->n, NULL, d) < 0)
        goto out;
    rc = dataset_convert_targets(m, ds, t, y.row_size, false, 0, d);
out:
    free(t);
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
