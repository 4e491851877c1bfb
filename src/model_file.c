/* Model files -> struct model (see model_file.h). The three accepted forms
 * all end as a list of parsed layers handed to model_build. */
#include "model_file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model_parse.h"

/* Keras layers that nnc does not have yet: named so the error says "not yet"
 * rather than "unknown". */
static const char *const later_layers[] = {
    "Conv3D", "Conv1DTranspose", "Conv3DTranspose", "SeparableConv1D", "DepthwiseConv1D",
    "MaxPooling3D", "AveragePooling3D", "GlobalMaxPooling3D", "GlobalAveragePooling3D",
    "ZeroPadding3D", "Cropping3D", "UpSampling3D", "SpatialDropout3D", "AlphaDropout",
    "UnitNormalization", "GroupNormalization", "ConvLSTM2D", "MultiHeadAttention", "Attention",
    "AdditiveAttention", "ThresholdedReLU", "Concatenate", "Add", "Subtract", "Multiply",
    "Average", "Maximum", "Minimum", "Dot", "Lambda", "Resizing", "CenterCrop", "RandomFlip",
    "RandomRotation", "RandomZoom", "RandomCrop", "RandomTranslation", "RandomContrast",
    "CategoryEncoding", "Discretization", "Hashing", "StringLookup", "IntegerLookup",
    "TextVectorization",
};

static const struct layer_ops *find_layer_type(const struct spec_node *key, struct diag *d)
{
    const struct layer_ops *ops = layer_find(key->str);
    if (ops)
        return ops;
    for (size_t i = 0; i < sizeof later_layers / sizeof later_layers[0]; i++)
        if (!strcmp(key->str, later_layers[i])) {
            spec_error(key, d, "layer '%s' is not supported by nnc yet", key->str);
            return NULL;
        }
    size_t n;
    const struct layer_ops *const *all = layer_all(&n);
    const char *names[256];
    size_t k = 0;
    for (size_t i = 0; i < n && k < 255; i++)
        names[k++] = all[i]->class_name;
    names[k++] = "Input";
    NNC_ASSERT(k < 256);
    const char *hint = diag_suggest(key->str, names, k);
    if (hint)
        spec_error(key, d, "unknown layer '%s' (did you mean '%s'?)", key->str, hint);
    else
        spec_error(key, d, "unknown layer '%s'", key->str);
    return NULL;
}

/* ---- layer lists -------------------------------------------------------- */

/* Far more than any Keras model has; bounds the time the name checks take
 * (quadratic in the count) whatever the file holds. */
enum { MAX_LAYERS = 10000 };

int model_check_layer_count(const struct spec_node *layers, struct diag *d)
{
    if (layers->n > MAX_LAYERS)
        return spec_error(layers, d, "%zu layers (nnc takes at most %d)", layers->n, MAX_LAYERS);
    return 0;
}

struct layer *layer_list_push(struct layer_list *ll)
{
    if (ll->n == ll->cap) {
        ll->cap = ll->cap ? 2 * ll->cap : 8;
        ll->items = xrealloc(ll->items, ll->cap * sizeof *ll->items);
    }
    /* Zeroed, so a half-parsed entry is safe for list_free. */
    memset(&ll->items[ll->n], 0, sizeof ll->items[0]);
    return &ll->items[ll->n++];
}

void layer_list_free(struct layer_list *ll)
{
    for (size_t i = 0; i < ll->n; i++)
        layer_free(&ll->items[i]);
    free(ll->items);
    memset(ll, 0, sizeof *ll);
}

/* nnc form: "- Flatten" or "- Dense: {...}" (one-key map). */
int model_parse_nnc_layer(const struct spec_node *entry, struct layer *l,
                          const char *const *extra_keys, size_t n_extra, struct diag *d)
{
    const struct spec_node *key, *value = NULL;
    if (entry->kind == SPEC_SCALAR && !spec_is_null(entry)) {
        key = entry;
    } else if (entry->kind == SPEC_MAP && entry->n == 1) {
        key = entry->keys[0];
        value = entry->items[0];
    } else if (entry->kind == SPEC_MAP && spec_get(entry, "class_name")) {
        return spec_error(entry, d,
                          "a Keras-serialized layer ({class_name, config}) inside an nnc "
                          "'layers:' list; write '- %s: {...}' instead",
                          spec_get(entry, "class_name")->str ? spec_get(entry, "class_name")->str
                                                             : "Layer");
    } else {
        return spec_error(entry, d,
                          "a layer is a layer name or a one-key map like '- Dense: {units: 8}'");
    }
    const struct layer_ops *ops = find_layer_type(key, d);
    if (!ops)
        return -1;
    return layer_parse(l, ops, value, key, extra_keys, n_extra, d);
}

/* Keras form: {class_name: Dense, config: {...}} (plus name/inbound_nodes in
 * functional models, which a Sequential config does not have). */
int model_parse_keras_layer(const struct spec_node *entry, struct layer *l, struct diag *d)
{
    static const char *const keys[] = {"class_name", "config", "name", "inbound_nodes", "module",
                                       "registered_name", "build_config"};
    if (!entry || entry->kind != SPEC_MAP)
        return spec_error(entry, d, "expected a layer {class_name: ..., config: {...}}");
    if (spec_check_keys(entry, keys, sizeof keys / sizeof keys[0], "a Keras layer", d) < 0)
        return -1;
    const struct spec_node *cls = spec_get(entry, "class_name");
    const char *name;
    if (!cls)
        return spec_error(entry, d, "layer without class_name");
    if (spec_string(cls, &name, d) < 0)
        return -1;
    const struct layer_ops *ops = find_layer_type(cls, d);
    if (!ops)
        return -1;
    const struct spec_node *config = spec_get(entry, "config");
    if (config && !spec_is_null(config) && config->kind != SPEC_MAP)
        return spec_error(config, d, "a layer config must be a map");
    return layer_parse(l, ops, config, cls, NULL, 0, d);
}

/* ---- names --------------------------------------------------------------- */

/* The layers in the order Keras creates them: a wrapper's nested layers
 * (depth first, in argument order) before the wrapper, as Python evaluates
 * TimeDistributed(Dense(8)). Layers a wrapper derives are not counted. */
static void creation_order(struct layer *l, struct layer ***all, size_t *n, size_t *cap)
{
    struct layer *kids[8];
    if (l->derived)
        return;
    size_t n_kids = layer_children(l, kids, 8);
    for (size_t k = 0; k < n_kids && k < 8; k++)
        creation_order(kids[k], all, n, cap);
    if (*n == *cap) {
        *cap = *cap ? 2 * *cap : 16;
        *all = xrealloc(*all, *cap * sizeof **all);
    }
    (*all)[(*n)++] = l;
}

/* tf.keras default names: the snake-case base name, then _1, _2, ... counted
 * per base name over the layers without an explicit name, nested layers
 * included. Input layers are numbered from 1 (input_1), as Keras's Input()
 * does. */
void model_assign_names(struct layer_list *ll)
{
    const struct layer_ops *input = layer_find("InputLayer");
    struct layer **all = NULL;
    size_t n_all = 0, cap = 0;
    for (size_t i = 0; i < ll->n; i++)
        creation_order(&ll->items[i], &all, &n_all, &cap);
    for (size_t i = 0; i < n_all; i++) {
        struct layer *l = all[i];
        if (l->name)
            continue;
        size_t seen = l->ops == input ? 1 : 0;
        for (size_t j = 0; j < i; j++)
            if (all[j]->ops == l->ops && all[j]->auto_named)
                seen++;
        char buf[128];
        if (seen == 0)
            snprintf(buf, sizeof buf, "%s", l->ops->base_name);
        else
            snprintf(buf, sizeof buf, "%s_%zu", l->ops->base_name, seen);
        l->name = xstrdup(buf);
        l->auto_named = true;
    }
    free(all);
}

int model_check_unique_names(const struct layer_list *ll, struct diag *d)
{
    for (size_t i = 0; i < ll->n; i++)
        for (size_t j = 0; j < i; j++)
            if (!strcmp(ll->items[i].name, ll->items[j].name))
                return spec_error(ll->items[i].where, d,
                                  "two layers are named '%s' (layer names must be unique)",
                                  ll->items[i].name);
    return 0;
}

/* ---- Sequential assembly -------------------------------------------------- */

/* Turns the parsed layer list into m->layers with an InputLayer first. */
static int assemble_sequential(struct model *m, struct layer_list *ll, const struct spec_node *at,
                               struct diag *d)
{
    if (ll->n == 0)
        return spec_error(at, d, "the model has no layers");
    struct layer *first = &ll->items[0];
    bool leading_input = first->ops == layer_find("InputLayer");
    if (leading_input && ll->n == 1)
        return spec_error(at, d, "the model has no layers after its Input");
    struct layer *first_real = leading_input ? &ll->items[1] : first;
    /* Keras's Embedding without input_length takes input_shape (None,). */
    if (!leading_input && !first->has_input_shape && first->ops == layer_find("Embedding")) {
        if (!layer_free_length())
            return spec_error(first->where, d,
                              "the first layer needs input_length or input_shape here "
                              "(without them its input is (None, None), whose length nnc "
                              "train takes from its data)");
        first->has_input_shape = true;
        first->input_shape = (struct shape){1, {layer_free_length()}};
        first->free_dims = 1;
    }
    if (!leading_input && !first->has_input_shape)
        return spec_error(first->where, d,
                          "the first layer needs an input shape (input_shape, input_dim or "
                          "batch_input_shape), or put '- Input: {shape: [...]}' first");
    if (leading_input && first_real->has_input_shape &&
        !shape_equal(&first_real->input_shape, &first->input_shape))
        return spec_error(first_real->where, d, "input shape disagrees with the Input before it");
    for (size_t i = 1; i < ll->n; i++) {
        if (ll->items[i].ops == layer_find("InputLayer"))
            return spec_error(ll->items[i].where, d, "an Input can only come first");
        /* (the layer after a leading Input may repeat its shape: compared above) */
        if (ll->items[i].has_input_shape && !(leading_input && i == 1))
            return spec_error(ll->items[i].where, d,
                              "only the first layer of a Sequential model takes an input shape");
    }
    m->n_layers = leading_input ? ll->n : ll->n + 1;
    m->layers = xcalloc(m->n_layers, sizeof *m->layers);
    size_t k = 0;
    if (!leading_input) {
        /* Keras creates the InputLayer from the first layer's input shape. */
        struct layer *in = &m->layers[k++];
        in->ops = layer_find("InputLayer");
        in->conf = xcalloc(1, in->ops->conf_size);
        in->trainable = true;
        in->where = first->where;
        in->has_input_shape = true;
        in->input_shape = first->input_shape;
        in->free_dims = first->free_dims;
        in->batch_size = first->batch_size;
        char buf[160];
        snprintf(buf, sizeof buf, "%s_input", first->name);
        in->name = xstrdup(buf);
    }
    for (size_t i = 0; i < ll->n; i++)
        m->layers[k++] = ll->items[i];
    if (leading_input)
        m->layers[1].batch_size = m->layers[0].batch_size;
    free(ll->items);
    memset(ll, 0, sizeof *ll);
    m->sequential = true;
    model_chain(m);
    return model_build(m, d);
}

/* ---- compile -------------------------------------------------------------- */

/* compile: {optimizer, loss, metrics} (nnc and Keras-file top level) or
 * tf.keras training_config {optimizer_config, loss, metrics, ...}. */
static int parse_compile(struct model *m, const struct spec_node *c, bool training_config,
                         struct diag *d)
{
    static const char *const keys[] = {"optimizer", "loss", "metrics", "loss_weights"};
    static const char *const tc_keys[] = {"optimizer_config", "loss", "metrics",
                                          "weighted_metrics", "loss_weights", "sample_weight_mode"};
    if (!c || spec_is_null(c))
        return 0;
    if (training_config) {
        if (spec_check_keys(c, tc_keys, 6, "the training config", d) < 0)
            return -1;
        const struct spec_node *wm = spec_get(c, "weighted_metrics");
        if (wm && !spec_is_null(wm) && !(wm->kind == SPEC_SEQ && wm->n == 0))
            return spec_error(wm, d, "weighted_metrics are not supported by nnc yet");
    } else if (spec_check_keys(c, keys, 4, "compile", d) < 0) {
        return -1;
    }
    m->compile.given = true;
    optim_default(OPT_RMSPROP, &m->compile.optimizer); /* Keras compile's default */
    const struct spec_node *opt = spec_get(c, training_config ? "optimizer_config" : "optimizer");
    if (opt && optim_parse(opt, &m->compile.optimizer, d) < 0)
        return -1;
    const struct spec_node *loss = spec_get(c, "loss");
    if (!loss || spec_is_null(loss))
        return spec_error(c, d, "compile needs a loss");
    return compile_parse_outputs(m, loss, spec_get(c, "loss_weights"), spec_get(c, "metrics"),
                                 d);
}

/* ---- the three file forms ------------------------------------------------- */

static int load_nnc(struct model *m, struct model_file *mf, const struct spec_node *root,
                    struct diag *d)
{
    static const char *const keys[] = {"name", "layers", "compile", "fit", "data",
                                       "inputs", "outputs"};
    if (spec_check_keys(root, keys, sizeof keys / sizeof keys[0], "the model file", d) < 0)
        return -1;
    /* inputs:/outputs: make it a functional model (SPEC 2.2). */
    bool functional = spec_get(root, "inputs") || spec_get(root, "outputs");
    const struct spec_node *name = spec_get(root, "name");
    const char *s = functional ? "model" : "sequential";
    if (name && spec_string(name, &s, d) < 0)
        return -1;
    m->name = xstrdup(s);
    const struct spec_node *layers = spec_get(root, "layers");
    if (functional) {
        if (functional_load_nnc(m, root, d) < 0)
            return -1;
    } else {
        if (!layers)
            return spec_error(root, d, "the model file has no 'layers:' list");
        if (layers->kind != SPEC_SEQ)
            return spec_error(layers, d, "'layers' must be a list");
        if (model_check_layer_count(layers, d) < 0)
            return -1;
        struct layer_list ll = {0};
        for (size_t i = 0; i < layers->n; i++)
            if (model_parse_nnc_layer(layers->items[i], layer_list_push(&ll), NULL, 0, d) < 0) {
                layer_list_free(&ll);
                return -1;
            }
        model_assign_names(&ll);
        if (model_check_unique_names(&ll, d) < 0 || assemble_sequential(m, &ll, layers, d) < 0) {
            layer_list_free(&ll);
            return -1;
        }
    }
    if (parse_compile(m, spec_get(root, "compile"), false, d) < 0)
        return -1;
    mf->fit = spec_get(root, "fit");
    mf->data = spec_get(root, "data");
    return 0;
}

/* {class_name: Sequential, config: {name, layers} | [layers]}. */
static int load_keras_topology(struct model *m, const struct spec_node *topo, struct diag *d)
{
    static const char *const keys[] = {"class_name", "config", "keras_version", "backend",
                                       "module", "registered_name", "build_config",
                                       "compile_config"};
    if (!topo || topo->kind != SPEC_MAP)
        return spec_error(topo, d, "expected a Keras model {class_name: ..., config: ...}");
    if (spec_check_keys(topo, keys, sizeof keys / sizeof keys[0], "the Keras model", d) < 0)
        return -1;
    const struct spec_node *cls = spec_get(topo, "class_name");
    const char *cname;
    if (!cls)
        return spec_error(topo, d, "the Keras model has no class_name");
    if (spec_string(cls, &cname, d) < 0)
        return -1;
    const struct spec_node *config = spec_get(topo, "config");
    if (!strcmp(cname, "Functional") || !strcmp(cname, "Model")) {
        m->name = xstrdup("model");
        return functional_load_keras(m, config, d);
    }
    if (strcmp(cname, "Sequential") != 0)
        return spec_error(cls, d, "unknown model class '%s' (expected Sequential, Functional or "
                          "Model)", cname);
    const struct spec_node *layers = config;
    const char *name = "sequential";
    if (config && config->kind == SPEC_MAP) {
        static const char *const ckeys[] = {"name", "layers", "build_input_shape", "trainable",
                                            "dtype"};
        if (spec_check_keys(config, ckeys, 5, "the Sequential config", d) < 0)
            return -1;
        const struct spec_node *n = spec_get(config, "name");
        if (n && spec_string(n, &name, d) < 0)
            return -1;
        layers = spec_get(config, "layers");
    }
    if (!layers || layers->kind != SPEC_SEQ)
        return spec_error(config ? config : topo, d, "the Sequential config has no layer list");
    if (model_check_layer_count(layers, d) < 0)
        return -1;
    m->name = xstrdup(name);
    struct layer_list ll = {0};
    for (size_t i = 0; i < layers->n; i++)
        if (model_parse_keras_layer(layers->items[i], layer_list_push(&ll), d) < 0) {
            layer_list_free(&ll);
            return -1;
        }
    model_assign_names(&ll);
    if (model_check_unique_names(&ll, d) < 0 || assemble_sequential(m, &ll, layers, d) < 0) {
        layer_list_free(&ll);
        return -1;
    }
    return 0;
}

static int load_keras(struct model *m, struct model_file *mf, const struct spec_node *root,
                      struct diag *d)
{
    /* Keras's own keys plus nnc's training sections beside them. */
    const struct spec_node *compile = spec_get(root, "compile");
    const struct spec_node *fit = spec_get(root, "fit");
    const struct spec_node *data = spec_get(root, "data");
    static const char *const keys[] = {"class_name", "config", "keras_version", "backend",
                                       "module", "registered_name", "build_config",
                                       "compile_config", "compile", "fit", "data"};
    if (spec_check_keys(root, keys, sizeof keys / sizeof keys[0], "the Keras model file", d) < 0)
        return -1;
    /* load_keras_topology checks the Keras keys only, so hide ours from it. */
    struct spec_node topo = *root;
    struct spec_node *k2[16], *v2[16];
    topo.n = 0;
    for (size_t i = 0; i < root->n && topo.n < 16; i++) {
        const char *k = root->keys[i]->str;
        if (strcmp(k, "compile") && strcmp(k, "fit") && strcmp(k, "data")) {
            k2[topo.n] = root->keys[i];
            v2[topo.n++] = root->items[i];
        }
    }
    topo.keys = k2;
    topo.items = v2;
    if (load_keras_topology(m, &topo, d) < 0)
        return -1;
    if (parse_compile(m, compile, false, d) < 0)
        return -1;
    mf->fit = fit;
    mf->data = data;
    return 0;
}

/* TensorFlow.js model.json (and nnc checkpoints, which are that). */
static int load_tfjs(struct model *m, struct model_file *mf, const struct spec_node *root,
                     struct diag *d)
{
    static const char *const keys[] = {"format", "generatedBy", "convertedBy", "modelTopology",
                                       "trainingConfig", "weightsManifest", "userDefinedMetadata",
                                       "modelInitializer", "signature", "nnc", "compile", "fit",
                                       "data"};
    if (spec_check_keys(root, keys, sizeof keys / sizeof keys[0], "the model.json", d) < 0)
        return -1;
    const struct spec_node *topo = spec_get(root, "modelTopology");
    const struct spec_node *tc = spec_get(root, "trainingConfig");
    /* Python-converted files nest the model under model_config. */
    const struct spec_node *mc = spec_get(topo, "model_config");
    if (mc) {
        if (!tc)
            tc = spec_get(topo, "training_config");
        topo = mc;
    }
    if (load_keras_topology(m, topo, d) < 0)
        return -1;
    const struct spec_node *compile = spec_get(root, "compile");
    if (compile) {
        if (parse_compile(m, compile, false, d) < 0)
            return -1;
    } else if (tc && parse_compile(m, tc, true, d) < 0) {
        return -1;
    }
    mf->fit = spec_get(root, "fit");
    mf->data = spec_get(root, "data");
    mf->nnc = spec_get(root, "nnc");
    mf->weights_manifest = spec_get(root, "weightsManifest");
    return 0;
}

int model_load(const char *path, struct model *m, struct model_file *mf, struct diag *d)
{
    memset(m, 0, sizeof *m);
    memset(mf, 0, sizeof *mf);
    struct stat st;
    if (stat(path, &st) < 0) {
        diag_at(d, path, 0, 0, "cannot open: %s", strerror(errno));
        return -1;
    }
    if (S_ISDIR(st.st_mode)) {
        size_t n = strlen(path) + 16;
        mf->dir = xstrdup(path);
        mf->path = xmalloc(n);
        snprintf(mf->path, n, "%s/model.json", path);
    } else {
        mf->path = xstrdup(path);
    }
    if (spec_load_file(&mf->doc, mf->path, d) < 0)
        goto fail;
    const struct spec_node *root = mf->doc.root;
    if (!root) {
        diag_at(d, mf->path, 0, 0, "empty model file");
        goto fail;
    }
    if (root->kind != SPEC_MAP) {
        spec_error(root, d, "a model file is a map (name:, layers:, compile:, ...)");
        goto fail;
    }
    int rc;
    if (spec_get(root, "modelTopology"))
        rc = load_tfjs(m, mf, root, d);
    else if (spec_get(root, "class_name"))
        rc = load_keras(m, mf, root, d);
    else
        rc = load_nnc(m, mf, root, d);
    if (rc < 0)
        goto fail;
    if (m->compile.given && model_resolve_metrics(m, d) < 0)
        goto fail;
    return 0;
fail:
    model_free(m);
    model_file_close(mf);
    return -1;
}

void model_file_close(struct model_file *mf)
{
    spec_free(&mf->doc);
    free(mf->path);
    free(mf->dir);
    memset(mf, 0, sizeof *mf);
}

const struct layer_ops *model_file_layer_type(const struct spec_node *key, struct diag *d)
{
    return find_layer_type(key, d);
}
