/* Loading weights: the weightsManifest of a model.json (ours or one from
 * Keras/TensorFlow.js) checked against a built model's parameters (names,
 * shapes, dtype, total file size) before anything is allocated, then its
 * files read into m->w; and optimizer.bin. checkpoint_load_weights
 * allocates m->w and m->dw (model_free releases them). */
#include "checkpoint_priv.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- reading a manifest group's files -------------------------------------- */

/* The concatenated files of one manifest group, read in order. */
struct group_reader {
    const struct spec_node *paths;
    const char *dir;
    size_t next; /* index of the next file to open */
    FILE *f;
    char *path; /* of the open file */
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
            r->path = ckpt_path_join(r->dir, r->paths->items[r->next++]->str);
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
    unsigned char buf[4 * CKPT_CHUNK];
    for (size_t i = 0; i < n; i += CKPT_CHUNK) {
        size_t k = n - i < CKPT_CHUNK ? n - i : CKPT_CHUNK;
        if (reader_bytes(r, buf, 4 * k, d) < 0)
            return -1;
        if (dst)
            for (size_t j = 0; j < k; j++)
                dst[i + j] = ckpt_get_f32le(buf + 4 * j);
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
            return spec_error(shape_n->items[i], d, "weight '%s': negative dimension %ld", name, v);
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
            return spec_error(name_n, d, "the model has no weight '%s' (did you mean '%s'?)", name,
                              hint);
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
        if (ckpt_check_rel_path(paths->items[i], &rel, d) < 0)
            return -1;
        char *p = ckpt_path_join(dir, rel);
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
            return spec_error(weights->items[i], d, "weightsManifest[%zu]: weights too large", gi);
    }
    if (group_file_bytes(paths, dir, &have, d) < 0)
        return -1;
    if (have != want) {
        char *p = ckpt_path_join(dir, paths->items[0]->str);
        if (paths->n == 1)
            diag_at(d, p, 0, 0, "expected %ju bytes, found %ju", want, have);
        else
            diag_at(d, p, 0, 0,
                    "with the %zu other files of weightsManifest[%zu]: expected %ju "
                    "bytes, found %ju",
                    paths->n - 1, gi, want, have);
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
        diag_at(d, mf->path, 0, 0,
                "no weightsManifest: the file describes a model without "
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
    if (ckpt_check_rel_path(s, &rel, d) < 0)
        return -1;
    char *dir = ckpt_dir(mf);
    char *path = ckpt_path_join(dir, rel);
    int rc = ckpt_read_floats_file(path, state, n_state, "optimizer values", d);
    free(path);
    free(dir);
    return rc < 0 ? -1 : 1;
}
