/* Checkpoint directories (see checkpoint.h): the model.json writer, the
 * float32 little-endian encoding of weights.bin and optimizer.bin, the
 * write-aside-then-rename swap, and the readers that check a weights
 * manifest against a built model. Nothing here trains or prints.
 * Memory: checkpoint_load_meta allocates what ckpt_meta_free releases;
 * checkpoint_load_weights allocates m->w and m->dw (model_free releases). */
/* fsync, lstat, fileno, getpid: POSIX (the Makefile defines it too). */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include "checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "json.h"

#ifndef NNC_VERSION
#define NNC_VERSION "0.0.0"
#endif

/* The files of a checkpoint; the only names checkpoint_save ever deletes. */
#define CKPT_MODEL "model.json"
#define CKPT_WEIGHTS "weights.bin"
#define CKPT_OPTIMIZER "optimizer.bin"
static const char *const ckpt_files[] = {CKPT_MODEL, CKPT_WEIGHTS, CKPT_OPTIMIZER};
#define N_CKPT_FILES (sizeof ckpt_files / sizeof ckpt_files[0])

/* What tfjs-layers 4.x writes in modelTopology (Container.updatedConfig,
 * run through convertTsToPythonic: "TensorFlow.js" -> "tensor_flow.js"). */
#define TFJS_KERAS_VERSION "tfjs-layers 4.22.0"
#define TFJS_BACKEND "tensor_flow.js"

/* Floats per read/write chunk. */
#define CHUNK 4096

static char *path_join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = xmalloc(n);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* ---- float32 little-endian ------------------------------------------------ */

/* Byte order is written out explicitly, so the files are the same on any
 * host (tfjs reads them as a little-endian Float32Array). */
static void put_f32le(unsigned char *p, float v)
{
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    p[0] = (unsigned char)(u & 0xff);
    p[1] = (unsigned char)((u >> 8) & 0xff);
    p[2] = (unsigned char)((u >> 16) & 0xff);
    p[3] = (unsigned char)((u >> 24) & 0xff);
}

static float get_f32le(const unsigned char *p)
{
    uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                 (uint32_t)p[3] << 24;
    float v;
    memcpy(&v, &u, sizeof v);
    return v;
}

/* ---- writing files ------------------------------------------------------- */

static int write_f32le(FILE *f, const float *x, size_t n)
{
    unsigned char buf[4 * CHUNK];
    for (size_t i = 0; i < n; i += CHUNK) {
        size_t k = n - i < CHUNK ? n - i : CHUNK;
        for (size_t j = 0; j < k; j++)
            put_f32le(buf + 4 * j, x[i + j]);
        if (fwrite(buf, 4, k, f) != k)
            return -1;
    }
    return 0;
}

/* Flushes, syncs and closes f (always closed); errors name `name` inside
 * the checkpoint `target`. */
static int close_synced(FILE *f, const char *target, const char *name, struct diag *d)
{
    int err = 0;
    if (ferror(f))
        err = errno ? errno : EIO;
    else if (fflush(f) != 0 || fsync(fileno(f)) != 0)
        err = errno;
    if (fclose(f) != 0 && !err)
        err = errno;
    if (err) {
        diag_at(d, target, 0, 0, "cannot write %s: %s", name, strerror(err));
        return -1;
    }
    return 0;
}

static FILE *create_in(const char *tmp, const char *target, const char *name, struct diag *d)
{
    char *path = path_join(tmp, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        diag_at(d, target, 0, 0, "cannot create %s: %s", path, strerror(errno));
    free(path);
    return f;
}

static int save_floats(const char *tmp, const char *target, const char *name, const float *x,
                       size_t n, struct diag *d)
{
    FILE *f = create_in(tmp, target, name, d);
    if (!f)
        return -1;
    errno = 0;
    if (write_f32le(f, x, n) < 0) {
        int err = errno ? errno : EIO;
        fclose(f);
        diag_at(d, target, 0, 0, "cannot write %s: %s", name, strerror(err));
        return -1;
    }
    return close_synced(f, target, name, d);
}

/* ---- model.json ------------------------------------------------------------ */

static void json_size(struct json *j, size_t v) { json_long(j, (long)v); }

static void json_strings(struct json *j, char *const *s, size_t n)
{
    if (!s) {
        json_null(j);
        return;
    }
    json_array_begin(j);
    for (size_t i = 0; i < n; i++)
        json_string(j, s[i]);
    json_array_end(j);
}

static void json_sizes(struct json *j, const size_t *v, size_t n)
{
    json_array_begin(j);
    for (size_t i = 0; i < n; i++)
        json_size(j, v[i]);
    json_array_end(j);
}

static void write_topology(struct json *j, const struct model *m)
{
    json_object_begin(j);
    json_key(j, "class_name");
    json_string(j, m->sequential ? "Sequential" : "Functional");
    json_key(j, "config");
    if (!m->sequential) {
        model_functional_to_json(m, j);
        goto versions;
    }
    json_object_begin(j);
    json_key(j, "name");
    json_string(j, m->name);
    json_key(j, "layers");
    json_array_begin(j);
    /* layers[0] is the InputLayer Keras derives from the first layer's
     * batch_input_shape; a Sequential config does not list it. */
    for (size_t i = 1; i < m->n_layers; i++)
        layer_to_json(&m->layers[i], i == 1, j);
    json_array_end(j);
    json_object_end(j);
versions:
    json_key(j, "keras_version");
    json_string(j, TFJS_KERAS_VERSION);
    json_key(j, "backend");
    json_string(j, TFJS_BACKEND);
    json_object_end(j);
}

/* tfjs's LayersModel.getTrainingConfig: {loss, metrics, optimizer_config}.
 * The optimizer is the nearest one tfjs can deserialize (optim_to_tfjs_json).
 * tfjs's loadTrainingConfig camel-cases string identifiers and compiles
 * with them, failing on any it lacks, so the loss and metrics are written
 * under their tfjs names and metrics tfjs lacks are left out
 * (loss_tfjs_name, metric_tfjs_name). The loss is always a plain name:
 * tfjs fails on a Keras loss object ({class_name, config}). */
static void write_tfjs_metrics(struct json *j, const struct output_compile *oc)
{
    json_array_begin(j);
    for (size_t i = 0; i < oc->n_metrics; i++) {
        const char *name = metric_tfjs_name(&oc->metrics[i], &oc->loss);
        if (name)
            json_string(j, name);
    }
    json_array_end(j);
}

/* Several outputs: the loss and the metrics as maps by output name (tfjs
 * compiles those; it refuses loss_weights, which only the compile key
 * below carries). */
static void write_training_config(struct json *j, const struct model *m)
{
    bool several = m->n_outputs > 1;
    json_object_begin(j);
    json_key(j, "loss");
    if (several)
        json_object_begin(j);
    for (size_t k = 0; k < m->n_outputs; k++) {
        if (several)
            json_key(j, model_output_name(m, k));
        json_string(j, loss_tfjs_name(&m->compile.out[k].loss));
    }
    if (several)
        json_object_end(j);
    json_key(j, "metrics");
    if (several) {
        json_object_begin(j);
        for (size_t k = 0; k < m->n_outputs; k++) {
            json_key(j, model_output_name(m, k));
            write_tfjs_metrics(j, &m->compile.out[k]);
        }
        json_object_end(j);
    } else {
        write_tfjs_metrics(j, &m->compile.out[0]);
    }
    json_key(j, "optimizer_config");
    optim_to_tfjs_json(&m->compile.optimizer, j);
    json_object_end(j);
}

/* Whether tfjs can compile every output's loss. */
static bool tfjs_has_losses(const struct model *m)
{
    for (size_t k = 0; k < m->n_outputs; k++)
        if (!loss_tfjs_name(&m->compile.out[k].loss))
            return false;
    return true;
}

static void write_metrics(struct json *j, const struct output_compile *oc)
{
    json_array_begin(j);
    for (size_t i = 0; i < oc->n_metrics; i++)
        metric_to_json(&oc->metrics[i], j);
    json_array_end(j);
}

/* The exact compile settings for nnc (model_file.c prefers a top-level
 * compile: to trainingConfig; tfjs ignores the key): with several outputs
 * the loss, loss_weights and metrics as maps by output name. */
static void write_compile(struct json *j, const struct model *m)
{
    bool several = m->n_outputs > 1;
    json_object_begin(j);
    json_key(j, "optimizer");
    optim_to_json(&m->compile.optimizer, j);
    json_key(j, "loss");
    if (!several) {
        loss_to_json(&m->compile.out[0].loss, j);
        json_key(j, "metrics");
        write_metrics(j, &m->compile.out[0]);
        json_object_end(j);
        return;
    }
    json_object_begin(j);
    for (size_t k = 0; k < m->n_outputs; k++) {
        json_key(j, model_output_name(m, k));
        loss_to_json(&m->compile.out[k].loss, j);
    }
    json_object_end(j);
    json_key(j, "loss_weights");
    json_object_begin(j);
    for (size_t k = 0; k < m->n_outputs; k++) {
        json_key(j, model_output_name(m, k));
        json_double(j, m->compile.out[k].loss_weight);
    }
    json_object_end(j);
    json_key(j, "metrics");
    json_object_begin(j);
    for (size_t k = 0; k < m->n_outputs; k++) {
        json_key(j, model_output_name(m, k));
        write_metrics(j, &m->compile.out[k]);
    }
    json_object_end(j);
    json_object_end(j);
}

/* One group, one file: every parameter in layer order, then Keras weight
 * order, which is the order of param.offset in m->w. */
static void write_manifest(struct json *j, const struct model *m)
{
    json_array_begin(j);
    json_object_begin(j);
    json_key(j, "paths");
    json_array_begin(j);
    json_string(j, CKPT_WEIGHTS);
    json_array_end(j);
    json_key(j, "weights");
    json_array_begin(j);
    size_t expect = 0;
    for (size_t i = 0; i < m->n_layers; i++) {
        const struct layer *l = &m->layers[i];
        for (size_t p = 0; p < l->n_params; p++) {
            const struct param *pa = &l->params[p];
            NNC_ASSERT(pa->offset == expect);
            expect += shape_size(&pa->shape);
            char name[512];
            snprintf(name, sizeof name, "%s/%s", l->name, pa->name);
            json_object_begin(j);
            json_key(j, "name");
            json_string(j, name);
            json_key(j, "shape");
            json_sizes(j, pa->shape.dim, (size_t)pa->shape.rank);
            json_key(j, "dtype");
            json_string(j, "float32");
            json_object_end(j);
        }
    }
    NNC_ASSERT(expect == m->n_weights);
    json_array_end(j);
    json_object_end(j);
    json_array_end(j);
}

/* History values that are not finite are written as null: tfjs reads
 * model.json with JSON.parse, which rejects NaN and Infinity. */
static void write_history(struct json *j, const struct history *h)
{
    json_object_begin(j);
    json_key(j, "columns");
    json_array_begin(j);
    for (size_t c = 0; c < h->n_cols; c++)
        json_string(j, h->cols[c]);
    json_array_end(j);
    json_key(j, "rows");
    json_array_begin(j);
    for (size_t e = 0; e < h->n_epochs; e++) {
        json_array_begin(j);
        for (size_t c = 0; c < h->n_cols; c++) {
            double v = h->values[e * h->n_cols + c];
            if (isfinite(v))
                json_double(j, v);
            else
                json_null(j);
        }
        json_array_end(j);
    }
    json_array_end(j);
    json_object_end(j);
}

/* The rng state as four 16-digit hex strings (JSON numbers lose bits). */
static void write_rng(struct json *j, const struct ckpt_meta *meta)
{
    if (!meta->has_rng)
        return;
    json_key(j, "rng");
    json_array_begin(j);
    for (int i = 0; i < 4; i++) {
        char hex[17];
        snprintf(hex, sizeof hex, "%016llx", (unsigned long long)meta->rng[i]);
        json_string(j, hex);
    }
    json_array_end(j);
}

static void write_nnc(struct json *j, const struct ckpt_meta *meta, bool has_state)
{
    static const struct ckpt_meta empty = {0};
    if (!meta)
        meta = &empty;
    json_object_begin(j);
    json_key(j, "version");
    json_string(j, NNC_VERSION);
    json_key(j, "epoch");
    json_long(j, meta->epoch);
    json_key(j, "iterations");
    json_long(j, meta->iterations);
    json_key(j, "classes");
    json_strings(j, meta->classes, meta->n_classes);
    json_key(j, "data");
    if (meta->n_columns == 0 && meta->n_features == 0 && meta->n_target == 0) {
        json_null(j);
    } else {
        json_object_begin(j);
        json_key(j, "n_columns");
        json_size(j, meta->n_columns);
        json_key(j, "feature_cols");
        json_sizes(j, meta->feature_cols, meta->n_features);
        json_key(j, "feature_names");
        json_strings(j, meta->feature_names, meta->n_features);
        json_key(j, "target_cols");
        json_sizes(j, meta->target_cols, meta->n_target);
        if (meta->n_target_groups) {
            json_key(j, "target_groups");
            json_sizes(j, meta->target_groups, meta->n_target_groups);
        }
        json_key(j, "na_value");
        if (meta->has_na)
            json_double(j, meta->na_value);
        else
            json_null(j);
        json_key(j, "comment");
        if (meta->comment)
            json_string(j, meta->comment);
        else
            json_null(j);
        json_object_end(j);
    }
    json_key(j, "history");
    write_history(j, &meta->history);
    write_rng(j, meta);
    json_key(j, "optimizer_state");
    if (has_state)
        json_string(j, CKPT_OPTIMIZER);
    else
        json_null(j);
    json_object_end(j);
}

static void write_model_json(FILE *f, const struct model *m, const struct ckpt_meta *meta,
                             bool has_state)
{
    struct json j;
    json_init(&j, f);
    json_object_begin(&j);
    json_key(&j, "format");
    json_string(&j, "layers-model");
    json_key(&j, "generatedBy");
    json_string(&j, "nnc " NNC_VERSION);
    json_key(&j, "convertedBy");
    json_null(&j);
    json_key(&j, "modelTopology");
    write_topology(&j, m);
    if (m->compile.given) {
        /* A loss tfjs lacks (huber): no training config, so tfjs still loads
         * the model (uncompiled); nnc reads "compile". */
        if (tfjs_has_losses(m)) {
            json_key(&j, "trainingConfig");
            write_training_config(&j, m);
        }
        json_key(&j, "compile");
        write_compile(&j, m);
    }
    json_key(&j, "weightsManifest");
    write_manifest(&j, m);
    json_key(&j, "nnc");
    write_nnc(&j, meta, has_state);
    json_object_end(&j);
    fputc('\n', f);
}

/* ---- the directory swap ---------------------------------------------------- */

static bool is_ckpt_file(const char *name)
{
    for (size_t i = 0; i < N_CKPT_FILES; i++)
        if (!strcmp(name, ckpt_files[i]))
            return true;
    return false;
}

/* Checks that path is absent (*exists = false) or a directory holding
 * nothing but regular files named like ours, so replacing it can never
 * delete anything else. */
static int check_replaceable(const char *path, bool *exists, struct diag *d)
{
    struct stat st;
    *exists = false;
    if (lstat(path, &st) < 0) {
        if (errno == ENOENT)
            return 0;
        diag_at(d, path, 0, 0, "cannot inspect: %s", strerror(errno));
        return -1;
    }
    if (S_ISLNK(st.st_mode)) {
        diag_at(d, path, 0, 0, "is a symbolic link; nnc writes checkpoints to real directories");
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        diag_at(d, path, 0, 0, "exists and is not a directory; not replacing it with a checkpoint");
        return -1;
    }
    DIR *dir = opendir(path);
    if (!dir) {
        diag_at(d, path, 0, 0, "cannot read directory: %s", strerror(errno));
        return -1;
    }
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(dir)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        struct stat fst;
        char *p = path_join(path, e->d_name);
        if (!is_ckpt_file(e->d_name) || lstat(p, &fst) < 0 || !S_ISREG(fst.st_mode)) {
            diag_at(d, path, 0, 0,
                    "holds '%s', which is not part of an nnc checkpoint; not replacing the "
                    "directory (choose another output or remove it)",
                    e->d_name);
            rc = -1;
        }
        free(p);
    }
    closedir(dir);
    *exists = true;
    return rc;
}

/* Removes our files from a directory, then the directory (which
 * check_replaceable or we ourselves made sure holds nothing else). */
static int remove_ckpt_dir(const char *path)
{
    int rc = 0;
    for (size_t i = 0; i < N_CKPT_FILES; i++) {
        char *p = path_join(path, ckpt_files[i]);
        if (unlink(p) < 0 && errno != ENOENT)
            rc = -1;
        free(p);
    }
    if (rmdir(path) < 0)
        rc = -1;
    return rc;
}

int checkpoint_remove(const char *dir)
{
    return remove_ckpt_dir(dir);
}

/* Makes renames and new files durable; some file systems cannot sync a
 * directory, which is not an error for us. */
static void sync_dir(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return;
    (void)fsync(fd);
    close(fd);
}

static char *parent_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return xstrdup(".");
    if (slash == path)
        return xstrdup("/");
    size_t n = (size_t)(slash - path);
    char *p = xmalloc(n + 1);
    memcpy(p, path, n);
    p[n] = '\0';
    return p;
}

/* Writes the three files into tmp. */
static int write_all(const char *tmp, const char *target, const struct model *m,
                     const struct ckpt_meta *meta, const float *opt_state, size_t n_state,
                     struct diag *d)
{
    FILE *f = create_in(tmp, target, CKPT_MODEL, d);
    if (!f)
        return -1;
    write_model_json(f, m, meta, n_state > 0);
    if (close_synced(f, target, CKPT_MODEL, d) < 0)
        return -1;
    if (save_floats(tmp, target, CKPT_WEIGHTS, m->w, m->n_weights, d) < 0)
        return -1;
    if (n_state > 0 && save_floats(tmp, target, CKPT_OPTIMIZER, opt_state, n_state, d) < 0)
        return -1;
    sync_dir(tmp);
    return 0;
}

/* Write aside, then swap: target.tmp-PID is filled and synced, the old
 * checkpoint (if any) is renamed to target.old-PID, the new one renamed
 * into place, and the old one deleted. rename() cannot replace a non-empty
 * directory, hence two renames; between them (an instant) the previous
 * checkpoint exists only as target.old-PID, never damaged. */
int checkpoint_save(const char *dir, const struct model *m, const struct ckpt_meta *meta,
                    const float *opt_state, size_t n_state, struct diag *d)
{
    NNC_ASSERT((m->w || m->n_weights == 0) && (n_state == 0 || opt_state));
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/')
        len--;
    if (len == 0 || (len == 1 && dir[0] == '/')) {
        diag_set(d, "'%s' is not a valid checkpoint directory", dir);
        return -1;
    }
    char *target = xmalloc(len + 1);
    memcpy(target, dir, len);
    target[len] = '\0';
    size_t n = len + 32;
    char *tmp = xmalloc(n), *old = xmalloc(n);
    snprintf(tmp, n, "%s.tmp-%ld", target, (long)getpid());
    snprintf(old, n, "%s.old-%ld", target, (long)getpid());
    char *parent = parent_dir(target);
    int rc = -1;
    bool exists, stale;

    if (check_replaceable(target, &exists, d) < 0)
        goto out;
    /* A leftover of an earlier run with our pid: only ever our own files. */
    if (check_replaceable(tmp, &stale, d) < 0)
        goto out;
    if (stale && remove_ckpt_dir(tmp) < 0) {
        diag_at(d, tmp, 0, 0, "cannot remove this leftover: %s", strerror(errno));
        goto out;
    }
    if (mkdir(tmp, 0777) < 0) {
        diag_at(d, target, 0, 0, "cannot create %s: %s", tmp, strerror(errno));
        goto out;
    }
    if (write_all(tmp, target, m, meta, opt_state, n_state, d) < 0) {
        remove_ckpt_dir(tmp);
        goto out;
    }
    if (exists && rename(target, old) < 0) {
        diag_at(d, target, 0, 0, "cannot move the previous checkpoint aside to %s: %s", old,
                strerror(errno));
        remove_ckpt_dir(tmp);
        goto out;
    }
    if (rename(tmp, target) < 0) {
        int err = errno;
        if (exists)
            (void)rename(old, target);
        remove_ckpt_dir(tmp);
        diag_at(d, target, 0, 0, "cannot rename %s into place: %s", tmp, strerror(err));
        goto out;
    }
    sync_dir(parent);
    if (exists && remove_ckpt_dir(old) < 0) {
        diag_at(d, target, 0, 0, "checkpoint written, but the previous one is left in %s: %s",
                old, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    free(parent);
    free(old);
    free(tmp);
    free(target);
    return rc;
}

/* ---- reading binary files --------------------------------------------------- */

static char *ckpt_dir(const struct model_file *mf)
{
    return mf->dir ? xstrdup(mf->dir) : parent_dir(mf->path);
}

/* A file name from model.json, relative to the checkpoint directory. */
static int check_rel_path(const struct spec_node *n, const char **out, struct diag *d)
{
    if (!n || n->kind != SPEC_SCALAR || spec_is_null(n) || !n->str[0])
        return spec_error(n, d, "expected a file name");
    const char *s = n->str;
    if (s[0] == '/')
        return spec_error(n, d, "'%s': weight files are named relative to the model.json", s);
    for (const char *p = s; *p;) {
        size_t k = strcspn(p, "/");
        if (k == 2 && p[0] == '.' && p[1] == '.')
            return spec_error(n, d, "'%s': weight files must be inside the checkpoint directory",
                              s);
        p += k;
        if (*p == '/')
            p++;
    }
    *out = s;
    return 0;
}

/* Reads exactly the whole of path (n floats) into dst. */
static int read_floats_file(const char *path, float *dst, size_t n, const char *what,
                            struct diag *d)
{
    size_t bytes;
    if (size_mul(n, 4, &bytes) < 0) {
        diag_at(d, path, 0, 0, "%s too large", what);
        return -1;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        diag_at(d, path, 0, 0, "cannot open: %s", strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode)) {
        diag_at(d, path, 0, 0, "not a regular file");
        fclose(f);
        return -1;
    }
    if ((uintmax_t)st.st_size != (uintmax_t)bytes) {
        diag_at(d, path, 0, 0, "expected %zu bytes (%zu %s), found %jd", bytes, n, what,
                (intmax_t)st.st_size);
        fclose(f);
        return -1;
    }
    unsigned char buf[4 * CHUNK];
    for (size_t i = 0; i < n; i += CHUNK) {
        size_t k = n - i < CHUNK ? n - i : CHUNK;
        if (fread(buf, 4, k, f) != k) {
            diag_at(d, path, 0, 0, "read error: %s", ferror(f) ? strerror(errno) : "file shrank");
            fclose(f);
            return -1;
        }
        for (size_t j = 0; j < k; j++)
            dst[i + j] = get_f32le(buf + 4 * j);
    }
    fclose(f);
    return 0;
}

/* The concatenated files of one manifest group, read in order. */
struct group_reader {
    const struct spec_node *paths;
    const char *dir;
    size_t next;          /* index of the next file to open */
    FILE *f;
    char *path;           /* of the open file */
};

static int reader_bytes(struct group_reader *r, unsigned char *buf, size_t n, struct diag *d)
{
    while (n > 0) {
        if (!r->f) {
            if (r->next == r->paths->n) {
                diag_at(d, r->path ? r->path : r->dir, 0, 0, "file shrank while reading");
                return -1;
            }
            free(r->path);
            r->path = path_join(r->dir, r->paths->items[r->next++]->str);
            r->f = fopen(r->path, "rb");
            if (!r->f) {
                diag_at(d, r->path, 0, 0, "cannot open: %s", strerror(errno));
                return -1;
            }
        }
        size_t got = fread(buf, 1, n, r->f);
        if (got < n) {
            if (ferror(r->f)) {
                diag_at(d, r->path, 0, 0, "read error: %s", strerror(errno));
                return -1;
            }
            fclose(r->f);
            r->f = NULL;
        }
        buf += got;
        n -= got;
    }
    return 0;
}

/* Reads n floats into dst, or skips them when dst is NULL. */
static int reader_floats(struct group_reader *r, float *dst, size_t n, struct diag *d)
{
    unsigned char buf[4 * CHUNK];
    for (size_t i = 0; i < n; i += CHUNK) {
        size_t k = n - i < CHUNK ? n - i : CHUNK;
        if (reader_bytes(r, buf, 4 * k, d) < 0)
            return -1;
        if (dst)
            for (size_t j = 0; j < k; j++)
                dst[i + j] = get_f32le(buf + 4 * j);
    }
    return 0;
}

static void reader_close(struct group_reader *r)
{
    if (r->f)
        fclose(r->f);
    free(r->path);
}

/* ---- the weights manifest ---------------------------------------------------- */

/* The model's weights by name: "<layer>/<param>", in m->w order. */
struct wtable {
    size_t n;
    char **names;
    const struct param **params;
    bool *seen;
};

static void wtable_init(struct wtable *t, const struct model *m)
{
    size_t n = 0;
    for (size_t i = 0; i < m->n_layers; i++)
        n += m->layers[i].n_params;
    t->n = n;
    t->names = xcalloc(n ? n : 1, sizeof *t->names);
    t->params = xcalloc(n ? n : 1, sizeof *t->params);
    t->seen = xcalloc(n ? n : 1, sizeof *t->seen);
    size_t k = 0;
    for (size_t i = 0; i < m->n_layers; i++) {
        const struct layer *l = &m->layers[i];
        for (size_t p = 0; p < l->n_params; p++, k++) {
            size_t len = strlen(l->name) + strlen(l->params[p].name) + 2;
            t->names[k] = xmalloc(len);
            snprintf(t->names[k], len, "%s/%s", l->name, l->params[p].name);
            t->params[k] = &l->params[p];
        }
    }
}

static void wtable_free(struct wtable *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->names[i]);
    free(t->names);
    free(t->params);
    free(t->seen);
}

/* Exact name, or tfjs's rule for TF >= 2.2 names "layer/cell/weight":
 * drop the tokens between the first and the last (container.js
 * loadWeights). Returns the index or t->n. */
static size_t wtable_find(const struct wtable *t, const char *name)
{
    for (size_t i = 0; i < t->n; i++)
        if (!strcmp(t->names[i], name))
            return i;
    const char *first = strchr(name, '/'), *last = strrchr(name, '/');
    if (!first || first == last)
        return t->n;
    /* tokens.slice(0, -2) + last: everything before the second-to-last '/'. */
    const char *cut = last;
    while (cut > name && cut[-1] != '/')
        cut--;
    cut--; /* the '/' before the cell token */
    size_t head = (size_t)(cut - name);
    for (size_t i = 0; i < t->n; i++)
        if (!strncmp(t->names[i], name, head) && t->names[i][head] == '/' &&
            !strcmp(t->names[i] + head, last))
            return i;
    return t->n;
}

static const char *format_dims(const size_t *dim, int rank, char *buf, size_t size)
{
    size_t k = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < rank && k < size; i++)
        k += (size_t)snprintf(buf + k, size - k, "%s%zu", i ? ", " : "", dim[i]);
    if (k < size)
        snprintf(buf + k, size - k, "]");
    return buf;
}

/* One manifest entry, checked: index into the table (t->n for optimizer
 * weights, which are skipped) and its float count. */
struct wentry {
    size_t index;
    size_t count;
};

static int parse_entry(const struct spec_node *e, const struct wtable *t, struct wentry *out,
                       struct diag *d)
{
    static const char *const keys[] = {"name", "shape", "dtype", "group", "quantization"};
    if (!e || e->kind != SPEC_MAP)
        return spec_error(e, d, "a weightsManifest weight is a map {name, shape, dtype}");
    if (spec_check_keys(e, keys, sizeof keys / sizeof keys[0], "a weightsManifest weight", d) < 0)
        return -1;
    const struct spec_node *name_n = spec_get(e, "name"), *shape_n = spec_get(e, "shape");
    const struct spec_node *dtype_n = spec_get(e, "dtype"), *group_n = spec_get(e, "group");
    const char *name, *dtype, *group = NULL;
    if (!name_n)
        return spec_error(e, d, "weight without a name");
    if (spec_string(name_n, &name, d) < 0)
        return -1;
    if (!shape_n || shape_n->kind != SPEC_SEQ)
        return spec_error(shape_n ? shape_n : e, d, "weight '%s' needs a shape list", name);
    if (!dtype_n)
        return spec_error(e, d, "weight '%s' has no dtype", name);
    if (spec_string(dtype_n, &dtype, d) < 0)
        return -1;
    if (spec_get(e, "quantization"))
        return spec_error(spec_get(e, "quantization"), d,
                          "weight '%s' is quantized; nnc reads float32 weights only", name);
    if (strcmp(dtype, "float32") != 0)
        return spec_error(dtype_n, d, "weight '%s' has dtype '%s'; nnc reads float32 weights only",
                          name, dtype);
    if (group_n && !spec_is_null(group_n) && spec_string(group_n, &group, d) < 0)
        return -1;
    if (shape_n->n > SHAPE_MAX_RANK)
        return spec_error(shape_n, d, "weight '%s' has rank %zu (at most %d)", name, shape_n->n,
                          SHAPE_MAX_RANK);
    size_t dim[SHAPE_MAX_RANK], count = 1;
    for (size_t i = 0; i < shape_n->n; i++) {
        long v;
        if (spec_long(shape_n->items[i], &v, d) < 0)
            return -1;
        if (v < 0)
            return spec_error(shape_n->items[i], d, "weight '%s': negative dimension %ld", name,
                              v);
        dim[i] = (size_t)v;
        if (size_mul(count, dim[i], &count) < 0 || count > SIZE_MAX / 8)
            return spec_error(shape_n, d, "weight '%s': shape too large", name);
    }
    out->count = count;
    if (group && !strcmp(group, "optimizer")) {
        out->index = t->n; /* tfjs's optimizer weights: not ours to load */
        return 0;
    }
    size_t k = wtable_find(t, name);
    if (k == t->n) {
        const char *hint = diag_suggest(name, (const char *const *)t->names, t->n);
        if (hint)
            return spec_error(name_n, d, "the model has no weight '%s' (did you mean '%s'?)",
                              name, hint);
        return spec_error(name_n, d, "the model has no weight '%s'", name);
    }
    if (t->seen[k])
        return spec_error(name_n, d, "weight '%s' appears twice in the weightsManifest", name);
    const struct shape *want = &t->params[k]->shape;
    bool same = (size_t)want->rank == shape_n->n;
    for (size_t i = 0; same && i < shape_n->n; i++)
        same = want->dim[i] == dim[i];
    if (!same) {
        char a[160], b[160];
        return spec_error(shape_n, d, "weight '%s' has shape %s, the model needs %s", name,
                          format_dims(dim, (int)shape_n->n, a, sizeof a),
                          format_dims(want->dim, want->rank, b, sizeof b));
    }
    out->index = k;
    return 0;
}

/* Sum of the sizes of a group's files; each must be a regular file. */
static int group_file_bytes(const struct spec_node *paths, const char *dir, uintmax_t *total,
                            struct diag *d)
{
    *total = 0;
    for (size_t i = 0; i < paths->n; i++) {
        const char *rel;
        if (check_rel_path(paths->items[i], &rel, d) < 0)
            return -1;
        char *p = path_join(dir, rel);
        struct stat st;
        int rc = 0;
        if (stat(p, &st) < 0) {
            diag_at(d, p, 0, 0, "cannot open: %s", strerror(errno));
            rc = -1;
        } else if (!S_ISREG(st.st_mode)) {
            diag_at(d, p, 0, 0, "not a regular file");
            rc = -1;
        } else {
            *total += (uintmax_t)st.st_size;
        }
        free(p);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* One manifest group, checked: its files and its entries. */
struct wgroup {
    const struct spec_node *paths;
    struct wentry *ents;
    size_t n;
};

/* Checks group g against the model and its files' total size, reading
 * nothing yet, so that nothing is allocated for a model the files cannot
 * hold. */
static int check_group(const struct spec_node *g, size_t gi, struct wtable *t, const char *dir,
                       struct wgroup *out, struct diag *d)
{
    static const char *const keys[] = {"paths", "weights"};
    if (!g || g->kind != SPEC_MAP)
        return spec_error(g, d, "weightsManifest[%zu] must be a map {paths, weights}", gi);
    if (spec_check_keys(g, keys, 2, "a weightsManifest group", d) < 0)
        return -1;
    const struct spec_node *paths = spec_get(g, "paths"), *weights = spec_get(g, "weights");
    if (!paths || paths->kind != SPEC_SEQ || paths->n == 0)
        return spec_error(paths ? paths : g, d, "weightsManifest[%zu] needs a list of paths", gi);
    if (!weights || weights->kind != SPEC_SEQ)
        return spec_error(weights ? weights : g, d, "weightsManifest[%zu] needs a weights list",
                          gi);
    out->paths = paths;
    out->n = weights->n;
    out->ents = xcalloc(weights->n ? weights->n : 1, sizeof *out->ents);
    uintmax_t want = 0, have;
    for (size_t i = 0; i < weights->n; i++) {
        if (parse_entry(weights->items[i], t, &out->ents[i], d) < 0)
            return -1;
        if (out->ents[i].index < t->n)
            t->seen[out->ents[i].index] = true;
        /* count <= SIZE_MAX / 8, and there are far fewer entries than that */
        want += 4 * (uintmax_t)out->ents[i].count;
        if (want > (uintmax_t)SIZE_MAX / 2)
            return spec_error(weights->items[i], d, "weightsManifest[%zu]: weights too large",
                              gi);
    }
    if (group_file_bytes(paths, dir, &have, d) < 0)
        return -1;
    if (have != want) {
        char *p = path_join(dir, paths->items[0]->str);
        if (paths->n == 1)
            diag_at(d, p, 0, 0, "expected %ju bytes, found %ju", want, have);
        else
            diag_at(d, p, 0, 0, "with the %zu other files of weightsManifest[%zu]: expected %ju "
                    "bytes, found %ju", paths->n - 1, gi, want, have);
        free(p);
        return -1;
    }
    return 0;
}

static int read_group(const struct wgroup *g, const struct wtable *t, struct model *m,
                      const char *dir, struct diag *d)
{
    struct group_reader r = {.paths = g->paths, .dir = dir};
    int rc = 0;
    for (size_t i = 0; i < g->n && rc == 0; i++) {
        float *dst = g->ents[i].index < t->n ? m->w + t->params[g->ents[i].index]->offset : NULL;
        rc = reader_floats(&r, dst, g->ents[i].count, d);
    }
    reader_close(&r);
    return rc;
}

int checkpoint_load_weights(struct model *m, const struct model_file *mf, struct diag *d)
{
    const struct spec_node *man = mf->weights_manifest;
    if (!man || spec_is_null(man)) {
        diag_at(d, mf->path, 0, 0, "no weightsManifest: the file describes a model without "
                "weights");
        return -1;
    }
    if (man->kind != SPEC_SEQ)
        return spec_error(man, d, "weightsManifest must be a list of {paths, weights} groups");
    free(m->w);
    free(m->dw);
    m->w = m->dw = NULL;
    struct wtable t;
    wtable_init(&t, m);
    char *dir = ckpt_dir(mf);
    struct wgroup *groups = xcalloc(man->n ? man->n : 1, sizeof *groups);
    int rc = 0;
    for (size_t g = 0; g < man->n && rc == 0; g++)
        rc = check_group(man->items[g], g, &t, dir, &groups[g], d);
    for (size_t i = 0; i < t.n && rc == 0; i++)
        if (!t.seen[i])
            rc = spec_error(man, d, "the weightsManifest has no weight '%s'", t.names[i]);
    if (rc == 0) {
        /* Every weight is in a file of the right size: the files hold them. */
        m->w = xcalloc(m->n_weights ? m->n_weights : 1, sizeof *m->w);
        m->dw = xcalloc(m->n_weights ? m->n_weights : 1, sizeof *m->dw);
    }
    for (size_t g = 0; g < man->n && rc == 0; g++)
        rc = read_group(&groups[g], &t, m, dir, d);
    if (rc < 0) {
        free(m->w);
        free(m->dw);
        m->w = m->dw = NULL;
    }
    for (size_t g = 0; g < man->n; g++)
        free(groups[g].ents);
    free(groups);
    free(dir);
    wtable_free(&t);
    return rc;
}

int checkpoint_load_optimizer(const struct model_file *mf, float *state, size_t n_state,
                              struct diag *d)
{
    const struct spec_node *s = spec_get(mf->nnc, "optimizer_state");
    if (!s || spec_is_null(s))
        return 0;
    const char *rel;
    if (check_rel_path(s, &rel, d) < 0)
        return -1;
    char *dir = ckpt_dir(mf);
    char *path = path_join(dir, rel);
    int rc = read_floats_file(path, state, n_state, "optimizer values", d);
    free(path);
    free(dir);
    return rc < 0 ? -1 : 1;
}

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
    static const char *const keys[] = {"n_columns", "feature_cols",  "feature_names", "target_cols",
                                       "na_value",  "comment",       "target_groups"};
    if (spec_is_null(n))
        return 0;
    if (spec_check_keys(n, keys, 7, "the checkpoint's data mapping", d) < 0)
        return -1;
    const struct spec_node *na = spec_get(n, "na_value"), *cm = spec_get(n, "comment");
    if (na && !spec_is_null(na)) {
        double v;
        if (spec_double(na, &v, d) < 0)
            return -1;
        if (fabs(v) > FLT_MAX)
            return spec_error(na, d, "na_value %g is out of range for float32", v);
        meta->has_na = true;
        meta->na_value = (float)v;
    }
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
        read_cols(spec_get(n, "target_cols"), meta->n_columns, &meta->target_cols,
                  &meta->n_target, d) < 0)
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
    static const char *const keys[] = {"version", "epoch", "iterations", "classes",
                                       "data", "history", "optimizer_state", "rng"};
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
    if (read_strings(spec_get(n, "classes"), &meta->classes, &meta->n_classes, d) < 0 ||
        read_data(spec_get(n, "data"), meta, d) < 0 ||
        read_history(spec_get(n, "history"), &meta->history, d) < 0)
        goto fail;
    const struct spec_node *os = spec_get(n, "optimizer_state");
    if (os && !spec_is_null(os) && check_rel_path(os, &s, d) < 0)
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
