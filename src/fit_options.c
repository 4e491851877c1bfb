/* Keras's fit options (see fit_options.h). */
#include "fit_options.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train.h"

static int positive_long(const struct spec_node *v, long *out, long min, const char *what,
                         struct diag *d)
{
    if (spec_long(v, out, d) < 0)
        return -1;
    if (*out < min)
        return spec_error(v, d, "%s must be an integer >= %ld", what, min);
    return 0;
}

/* shuffle: true, false or "batch" (data_adapter.py: "batch" shuffles whole
 * batches, for HDF5-like data). */
static int parse_shuffle(const struct spec_node *v, struct fit_conf *fc, struct diag *d)
{
    if (v->kind == SPEC_SCALAR && !strcmp(v->str, "batch")) {
        fc->shuffle = true;
        fc->shuffle_batch = true;
        return 0;
    }
    fc->shuffle_batch = false;
    if (v->kind != SPEC_SCALAR || spec_bool(v, &fc->shuffle, d) < 0) {
        return spec_error(v, d, "shuffle must be true, false or \"batch\"");
    }
    return 0;
}

/* validation_freq: an integer >= 1 or a list of epochs (1-based). */
static int parse_validation_freq(const struct spec_node *v, struct fit_conf *fc, struct diag *d)
{
    if (v->kind == SPEC_SEQ) {
        for (size_t i = 0; i < v->n; i++) {
            long e;
            if (positive_long(v->items[i], &e, 1, "a validation_freq epoch", d) < 0)
                return -1;
        }
        fc->validation_freq = 0;
        fc->validation_epochs = v;
        return 0;
    }
    fc->validation_epochs = NULL;
    if (v->kind != SPEC_SCALAR)
        return spec_error(v, d, "validation_freq must be an integer or a list of epochs");
    return positive_long(v, &fc->validation_freq, 1, "validation_freq", d);
}

int fit_options_parse(const struct spec_node *fit, struct fit_conf *fc, struct diag *d)
{
    const struct spec_node *v;
    if ((v = spec_get(fit, "shuffle")) && parse_shuffle(v, fc, d) < 0)
        return -1;
    if ((v = spec_get(fit, "validation_freq")) && parse_validation_freq(v, fc, d) < 0)
        return -1;
    if ((v = spec_get(fit, "initial_epoch"))) {
        if (positive_long(v, &fc->initial_epoch, 0, "initial_epoch", d) < 0)
            return -1;
        fc->initial_epoch_set = true;
    }
    if ((v = spec_get(fit, "steps_per_epoch")) && !spec_is_null(v) &&
        positive_long(v, &fc->steps_per_epoch, 1, "steps_per_epoch", d) < 0)
        return -1;
    if ((v = spec_get(fit, "validation_steps")) && !spec_is_null(v) &&
        positive_long(v, &fc->validation_steps, 1, "validation_steps", d) < 0)
        return -1;
    if ((v = spec_get(fit, "validation_data")) && !spec_is_null(v) &&
        spec_string(v, &fc->validation_data, d) < 0)
        return -1;
    if ((v = spec_get(fit, "class_weight")) && !spec_is_null(v)) {
        if (v->kind != SPEC_MAP)
            return spec_error(v, d, "class_weight must be a map of class to weight");
        for (size_t i = 0; i < v->n; i++) {
            double w;
            if (spec_double(v->items[i], &w, d) < 0)
                return -1;
            if (!(w >= 0) || !isfinite(w))
                return spec_error(v->items[i], d, "a class weight must be a number >= 0");
        }
        fc->class_weight = v;
    }
    return 0;
}

bool fit_should_validate(const struct fit_conf *fc, long epoch)
{
    if (!fc->validation_epochs)
        return fc->validation_freq <= 1 || (epoch + 1) % fc->validation_freq == 0;
    for (size_t i = 0; i < fc->validation_epochs->n; i++) {
        long e;
        if (parse_long(fc->validation_epochs->items[i]->str, &e) && e == epoch + 1)
            return true;
    }
    return false;
}

void fit_order(const struct fit_conf *fc, struct rng *r, size_t *perm, size_t n, size_t bs)
{
    for (size_t i = 0; i < n; i++)
        perm[i] = i;
    if (!fc->shuffle)
        return;
    if (!fc->shuffle_batch) {
        rng_shuffle(r, perm, n);
        return;
    }
    size_t nb = (n + bs - 1) / bs;
    size_t *order = xcalloc(nb, sizeof *order);
    for (size_t k = 0; k < nb; k++)
        order[k] = k;
    rng_shuffle(r, order, nb);
    size_t at = 0;
    for (size_t k = 0; k < nb; k++)
        for (size_t i = order[k] * bs; i < n && i < (order[k] + 1) * bs; i++)
            perm[at++] = i;
    free(order);
}

void fit_epoch_range(const struct fit_conf *fc, long done, long *first, long *last)
{
    if (fc->initial_epoch_set) {
        /* training.py: for epoch in range(initial_epoch, epochs). */
        *first = fc->initial_epoch;
        *last = fc->epochs;
    } else {
        *first = done;
        *last = done + fc->epochs;
    }
}

/* A class_weight key: a class name of the data, or an index. */
static int class_key(const struct spec_node *key, const struct ckpt_meta *meta,
                     size_t n_classes, size_t *out, struct diag *d)
{
    for (size_t c = 0; c < meta->n_classes; c++)
        if (!strcmp(key->str, meta->classes[c])) {
            *out = c;
            return 0;
        }
    long i;
    if (parse_long(key->str, &i) && i >= 0 && (size_t)i < n_classes) {
        *out = (size_t)i;
        return 0;
    }
    if (meta->n_classes) {
        const char *hint = diag_suggest(key->str, (const char *const *)meta->classes,
                                        meta->n_classes);
        if (hint)
            return spec_error(key, d, "class_weight: unknown class '%s' (did you mean '%s'?)",
                              key->str, hint);
        char known[256] = "";
        for (size_t c = 0; c < meta->n_classes && strlen(known) < 200; c++)
            snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s",
                     c ? ", " : "", meta->classes[c]);
        return spec_error(key, d, "class_weight: unknown class '%s' (classes: %s)", key->str,
                          known);
    }
    return spec_error(key, d, "class_weight: '%s' is not a class index in [0, %zu)", key->str,
                      n_classes);
}

int fit_apply_class_weight(const struct spec_node *cw, const struct ckpt_meta *meta,
                           size_t n_classes, struct dataset *ds, struct diag *d)
{
    if (!cw)
        return 0;
    if (meta->n_classes)
        n_classes = meta->n_classes;
    double *weight = xcalloc(n_classes, sizeof *weight);
    bool *given = xcalloc(n_classes, sizeof *given);
    int rc = -1;
    for (size_t i = 0; i < cw->n; i++) {
        size_t c = 0;
        if (class_key(cw->keys[i], meta, n_classes, &c, d) < 0)
            goto out;
        if (given[c]) {
            spec_error(cw->keys[i], d, "class_weight: class %zu is given twice", c);
            goto out;
        }
        given[c] = true;
        spec_double(cw->items[i], &weight[c], d);
    }
    if (!ds->w) {
        ds->w = xcalloc(ds->n, sizeof *ds->w);
        for (size_t i = 0; i < ds->n; i++)
            ds->w[i] = 1.0f;
    }
    for (size_t i = 0; i < ds->n; i++) {
        const float *y = ds->y + i * ds->n_y;
        size_t c = 0;
        if (ds->n_y > 1) {
            for (size_t k = 1; k < ds->n_y; k++)
                if (y[k] > y[c])
                    c = k;
        } else if (y[0] == floorf(y[0]) && y[0] >= 0 && y[0] < (float)n_classes) {
            c = (size_t)y[0];
        } else {
            diag_at(d, ds->source, dataset_line(ds, i), 0,
                    "class_weight: target %g is not a class index in [0, %zu)", (double)y[0],
                    n_classes);
            goto out;
        }
        if (!given[c]) {
            char name[32];
            snprintf(name, sizeof name, "%zu", c);
            spec_error(cw, d, "class_weight has no weight for class '%s' (%s line %zu)",
                       meta->n_classes ? meta->classes[c] : name, ds->source,
                       dataset_line(ds, i));
            goto out;
        }
        ds->w[i] *= (float)weight[c];
    }
    rc = 0;
out:
    free(weight);
    free(given);
    return rc;
}

char *fit_data_path(const char *model_path, const char *file)
{
    const char *slash = strrchr(model_path, '/');
    if (file[0] == '/' || !slash)
        return xstrdup(file);
    size_t dir = (size_t)(slash - model_path) + 1;
    char *out = xmalloc(dir + strlen(file) + 1);
    memcpy(out, model_path, dir);
    strcpy(out + dir, file);
    return out;
}
