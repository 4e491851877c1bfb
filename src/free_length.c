/* None dimensions: building a model for the length its data gives (see
 * free_length.h). */
#include "free_length.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "checkpoint.h"
#include "data/array.h"
#include "data/dataset.h"
#include "diag.h"
#include "layer.h"

bool model_has_free_dims(const struct model *m)
{
    for (size_t i = 0; i < m->n_layers; i++)
        if (m->layers[i].free_dims)
            return true;
    return false;
}

const struct layer *model_weights_differ(const struct model *m, const struct model *alt)
{
    for (size_t i = 0; i < m->n_layers; i++) {
        const struct layer *a = &m->layers[i], *b = &alt->layers[i];
        if (layer_count_params(a, true) + layer_count_params(a, false) !=
            layer_count_params(b, true) + layer_count_params(b, false))
            return a;
    }
    return NULL;
}

/* "(None, None, 3)": the input's shape with its None dimensions. */
static const char *free_shape(const struct layer *in, const struct shape *s, char *buf, size_t size)
{
    size_t at = (size_t)snprintf(buf, size, "(None");
    for (int i = 0; i < s->rank && at < size; i++) {
        if (in->free_dims & (1u << i))
            at += (size_t)snprintf(buf + at, size - at, ", None");
        else
            at += (size_t)snprintf(buf + at, size - at, ", %zu", s->dim[i]);
    }
    if (at < size)
        snprintf(buf + at, size - at, ")");
    return buf;
}

int free_length_from_values(const struct model *m, size_t values, const char *source,
                            size_t *length, struct diag *d)
{
    const struct node *in = m->inputs[0];
    const struct shape *s = &in->out;
    size_t fixed = 1;
    int k = 0;
    for (int i = 0; i < s->rank; i++) {
        if (in->layer->free_dims & (1u << i))
            k++;
        else
            fixed *= s->dim[i];
    }
    *length = 0;
    if (k > 0 && values > 0 && values % fixed == 0) {
        /* the whole k-th root of values / fixed, if there is one */
        size_t q = values / fixed, guess = (size_t)llround(pow((double)q, 1.0 / k));
        for (size_t l = guess > 1 ? guess - 1 : 1; l <= guess + 1 && !*length; l++) {
            size_t p = 1;
            for (int i = 0; i < k && p <= q; i++)
                p *= l;
            if (p == q)
                *length = l;
        }
    }
    if (*length)
        return 0;
    char buf[160];
    diag_at(d, source, 0, 0,
            "%zu values a sample do not fill the input %s for any one length "
            "of its None dimensions",
            values, free_shape(in->layer, s, buf, sizeof buf));
    return -1;
}

int model_load_free(const char *path, free_length_fn fn, void *ctx, struct model *m,
                    struct model_file *mf, struct diag *d)
{
    struct model probe;
    struct model_file probe_mf;
    layer_set_free_length(FREE_LENGTH_PROBE);
    if (model_load(path, m, mf, d) < 0)
        return -1;
    if (!model_has_free_dims(m)) {
        layer_set_free_length(0);
        return 0;
    }
    /* m becomes the probe: m is rebuilt below for the real length. */
    probe = *m;
    probe_mf = *mf;
    size_t length = 0;
    int rc = fn(ctx, &probe, &probe_mf, &length, d);
    if (rc == 0 && !length) {
        char buf[160];
        diag_at(d, probe_mf.path, 0, 0,
                "the input %s has None dimensions and nothing gives "
                "their length (nnc train takes it from NPY, NPZ, IDX or CSV files, and its "
                "checkpoints keep it); give the length in the shape",
                free_shape(probe.inputs[0]->layer, &probe.inputs[0]->out, buf, sizeof buf));
        rc = -1;
    }
    if (rc == 0) {
        layer_set_free_length(length == FREE_LENGTH_PROBE ? FREE_LENGTH_ALT : length);
        struct model other;
        struct model_file other_mf;
        rc = model_load(path, &other, &other_mf, d);
        if (rc == 0) {
            const struct layer *l = model_weights_differ(&probe, &other);
            if (l)
                rc = spec_error(l->where, d,
                                "layer '%s': its weights depend on the length of "
                                "a None dimension; give that length",
                                l->name);
            if (length == FREE_LENGTH_PROBE || rc < 0) {
                model_free(&other);
                model_file_close(&other_mf);
            } else {
                model_free(&probe);
                model_file_close(&probe_mf);
                probe = other;
                probe_mf = other_mf;
            }
        }
        layer_set_free_length(length);
    }
    if (rc < 0) {
        model_free(&probe);
        model_file_close(&probe_mf);
        return -1;
    }
    *m = probe;
    *mf = probe_mf;
    return 0;
}

int free_length_of_checkpoint(void *ctx, const struct model *m, const struct model_file *mf,
                              size_t *length, struct diag *d)
{
    (void)ctx;
    (void)m;
    struct ckpt_meta meta;
    if (checkpoint_load_meta(mf, &meta, d) < 0)
        return -1;
    *length = meta.free_length;
    ckpt_meta_free(&meta);
    return 0;
}

/* Values per sample of m's first input when its None dimensions have
 * length L. */
static size_t values_at_length(const struct model *m, size_t L)
{
    const struct node *in = m->inputs[0];
    size_t v = 1;
    for (int i = 0; i < in->out.rank; i++)
        v *= in->layer->free_dims & (1u << i) ? L : in->out.dim[i];
    return v;
}

/* Values per sample in the source's data as its command reads them; 0
 * when that is not known before reading (standard input or another pipe,
 * whose rows a look would take from the command, --input, a model of
 * several inputs). */
static int source_values(const struct free_length_source *src, const struct model *m,
                         const struct model_file *mf, size_t *values, struct diag *d)
{
    *values = 0;
    struct stat st;
    if (!src->n_paths || !strcmp(src->paths[0], "-") || m->n_inputs != 1 ||
        (stat(src->paths[0], &st) == 0 && !S_ISREG(st.st_mode)))
        return 0;
    struct data_conf dc;
    if (data_conf_parse(mf->data, &dc, d) < 0)
        return -1;
    if (src->use != LENGTH_FOR_PREDICT || data_format_detect(src->paths[0]) != DATA_CSV)
        return dataset_values_per_sample(src->paths, src->n_paths, &dc, m,
                                         src->use == LENGTH_FOR_TRAIN, values, d);
    struct csv_reader *r;
    if (csv_open(&r, src->paths[0], &dc.csv, d) < 0)
        return -1;
    *values = csv_n_columns(r);
    csv_close(r);
    return 0;
}

int free_length_of_data(void *ctx, const struct model *m, const struct model_file *mf,
                        size_t *length, struct diag *d)
{
    const struct free_length_source *src = ctx;
    *length = 0;
    if (src->use == LENGTH_FOR_TRAIN) {
        size_t values;
        if (source_values(src, m, mf, &values, d) < 0)
            return -1;
        return values ? free_length_from_values(m, values, src->paths[0], length, d) : 0;
    }
    struct ckpt_meta meta;
    if (checkpoint_load_meta(mf, &meta, d) < 0)
        return -1;
    *length = meta.free_length;
    size_t values = 0, fit;
    struct diag ignored = {{0}};
    /* without the checkpoint's length, the data's errors are the only ones */
    struct diag *dd = *length ? &ignored : d;
    int rc = source_values(src, m, mf, &values, dd);
    bool keep = values == 0 || (*length && values == values_at_length(m, *length)) ||
                (src->use == LENGTH_FOR_PREDICT && values == meta.n_columns);
    if (rc == 0 && !keep) {
        rc = free_length_from_values(m, values, src->paths[0], &fit, dd);
        if (rc == 0)
            *length = fit;
    }
    ckpt_meta_free(&meta);
    return *length ? 0 : rc;
}
