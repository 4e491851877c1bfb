/* model.json of a checkpoint: the TensorFlow.js layers-model format
 * (modelTopology, trainingConfig, weightsManifest) plus nnc's own "compile"
 * and "nnc" keys. Writes only; checkpoint_weights.c and checkpoint_meta.c
 * read it back. */
#include "checkpoint_priv.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "json.h"

#ifndef NNC_VERSION
#define NNC_VERSION "0.0.0"
#endif

/* What tfjs-layers 4.x writes in modelTopology (Container.updatedConfig,
 * run through convertTsToPythonic: "TensorFlow.js" -> "tensor_flow.js"). */
#define TFJS_KERAS_VERSION "tfjs-layers 4.22.0"
#define TFJS_BACKEND "tensor_flow.js"

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
    if (meta->free_length) {
        json_key(j, "free_length");
        json_size(j, meta->free_length);
    }
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

void ckpt_write_model_json(FILE *f, const struct model *m, const struct ckpt_meta *meta,
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
