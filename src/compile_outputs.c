/* compile's loss, loss_weights and metrics spread over a model's outputs
 * as tf.keras 2 spreads them (keras/engine/compile_utils.py): one loss for
 * every output, a list in output order, or a map by output name; weights
 * as a list or a map (1 where a map says nothing); metrics as one list for
 * every output, a list of lists, or a map by output name. The metrics are
 * only collected here (metric_nodes); model_resolve_metrics reads them
 * once the output shapes are known. */
#include <string.h>

#include "model_parse.h"

/* The output a name names, or -1. */
static long output_index(const struct model *m, const char *name)
{
    for (size_t k = 0; k < m->n_outputs; k++)
        if (!strcmp(model_output_name(m, k), name))
            return (long)k;
    return -1;
}

/* Whether v is a map keyed by output names (rather than a loss object such
 * as {huber: {delta: 2}} or {class_name: Huber, config: {...}}). */
static bool by_output_name(const struct model *m, const struct spec_node *v)
{
    if (!v || v->kind != SPEC_MAP || v->n == 0)
        return false;
    for (size_t i = 0; i < v->n; i++)
        if (output_index(m, v->keys[i]->str) < 0)
            return false;
    return true;
}

static int unknown_output(const struct model *m, const struct spec_node *key, const char *what,
                          struct diag *d)
{
    const char *names[MODEL_MAX_IO];
    for (size_t k = 0; k < m->n_outputs; k++)
        names[k] = model_output_name(m, k);
    const char *hint = diag_suggest(key->str, names, m->n_outputs);
    if (hint)
        return spec_error(key, d, "%s: the model has no output '%s' (did you mean '%s'?)", what,
                          key->str, hint);
    return spec_error(key, d, "%s: the model has no output '%s'", what, key->str);
}

/* The node for output k of a list or map (NULL when a map omits it), or
 * -1 on a located error. */
static int per_output(const struct model *m, const struct spec_node *v, const char *what,
                      const struct spec_node **items, struct diag *d)
{
    for (size_t k = 0; k < m->n_outputs; k++)
        items[k] = NULL;
    if (v->kind == SPEC_SEQ) {
        if (v->n != m->n_outputs)
            return spec_error(v, d, "%s: %zu entries for %zu output%s", what, v->n, m->n_outputs,
                              m->n_outputs == 1 ? "" : "s");
        for (size_t k = 0; k < v->n; k++)
            items[k] = v->items[k];
        return 0;
    }
    for (size_t i = 0; i < v->n; i++) {
        long k = output_index(m, v->keys[i]->str);
        if (k < 0)
            return unknown_output(m, v->keys[i], what, d);
        items[k] = v->items[i];
    }
    return 0;
}

static int parse_losses(struct model *m, const struct spec_node *loss, struct diag *d)
{
    const struct spec_node *items[MODEL_MAX_IO];
    /* A map of several keys without class_name is per output, even with
     * a misspelled name (reported as such). */
    bool spread = loss->kind == SPEC_SEQ || by_output_name(m, loss) ||
                  (loss->kind == SPEC_MAP && loss->n > 1 && !spec_get(loss, "class_name"));
    if (!spread) {
        for (size_t k = 0; k < m->n_outputs; k++)
            if (loss_parse(loss, &m->compile.out[k].loss, d) < 0)
                return -1;
        return 0;
    }
    if (per_output(m, loss, "loss", items, d) < 0)
        return -1;
    for (size_t k = 0; k < m->n_outputs; k++) {
        if (!items[k] || spec_is_null(items[k]))
            return spec_error(loss, d, "loss: no loss for output '%s' (nnc trains every output)",
                              model_output_name(m, k));
        if (loss_parse(items[k], &m->compile.out[k].loss, d) < 0)
            return -1;
    }
    return 0;
}

static int parse_weights(struct model *m, const struct spec_node *w, struct diag *d)
{
    for (size_t k = 0; k < m->n_outputs; k++)
        m->compile.out[k].loss_weight = 1.0;
    if (!w || spec_is_null(w))
        return 0;
    if (w->kind != SPEC_SEQ && w->kind != SPEC_MAP)
        return spec_error(w, d, "loss_weights: a list in output order or a map by output name");
    const struct spec_node *items[MODEL_MAX_IO];
    if (per_output(m, w, "loss_weights", items, d) < 0)
        return -1;
    for (size_t k = 0; k < m->n_outputs; k++) {
        if (!items[k])
            continue;
        double *v = &m->compile.out[k].loss_weight;
        if (spec_double(items[k], v, d) < 0)
            return -1;
        if (!(*v >= 0 && *v < 1e30))
            return spec_error(items[k], d, "loss_weights: %g is not a weight >= 0", *v);
    }
    return 0;
}

/* One output's metrics: a metric or a list of them. */
static int add_metrics(struct output_compile *oc, const struct spec_node *v, struct diag *d)
{
    if (!v || spec_is_null(v))
        return 0;
    size_t n = v->kind == SPEC_SEQ ? v->n : 1;
    if (oc->n_metrics + n > MODEL_MAX_METRICS)
        return spec_error(v, d, "at most %d metrics per output", MODEL_MAX_METRICS);
    for (size_t i = 0; i < n; i++) {
        /* Keras 2.12+ serializes compiled metrics as MeanMetricWrapper
         * {name, fn}, which metric_parse reads. */
        oc->metric_nodes[oc->n_metrics++] = v->kind == SPEC_SEQ ? v->items[i] : v;
    }
    return 0;
}

static int parse_metrics(struct model *m, const struct spec_node *v, struct diag *d)
{
    if (!v || spec_is_null(v))
        return 0;
    if (v->kind == SPEC_SCALAR) {
        for (size_t k = 0; k < m->n_outputs; k++)
            if (add_metrics(&m->compile.out[k], v, d) < 0)
                return -1;
        return 0;
    }
    if (v->kind == SPEC_MAP && !by_output_name(m, v)) {
        for (size_t i = 0; i < v->n; i++)
            if (output_index(m, v->keys[i]->str) < 0)
                return unknown_output(m, v->keys[i], "metrics", d);
    }
    /* A list of lists is per output (tf.keras writes [[...]] for one). */
    bool nested = v->kind == SPEC_SEQ && v->n > 0;
    for (size_t i = 0; nested && i < v->n; i++)
        nested = v->items[i]->kind == SPEC_SEQ;
    if (v->kind == SPEC_MAP || nested) {
        const struct spec_node *items[MODEL_MAX_IO];
        if (per_output(m, v, "metrics", items, d) < 0)
            return -1;
        for (size_t k = 0; k < m->n_outputs; k++)
            if (add_metrics(&m->compile.out[k], items[k], d) < 0)
                return -1;
        return 0;
    }
    if (v->kind != SPEC_SEQ)
        return spec_error(v, d, "metrics: expected a list of metric names");
    /* A flat list: every output gets them all (tf.keras 2 broadcasts it). */
    for (size_t k = 0; k < m->n_outputs; k++)
        if (add_metrics(&m->compile.out[k], v, d) < 0)
            return -1;
    return 0;
}

int compile_parse_outputs(struct model *m, const struct spec_node *loss,
                          const struct spec_node *loss_weights, const struct spec_node *metrics,
                          struct diag *d)
{
    if (parse_losses(m, loss, d) < 0 || parse_weights(m, loss_weights, d) < 0 ||
        parse_metrics(m, metrics, d) < 0)
        return -1;
    size_t n = 1 + (m->n_outputs > 1 ? m->n_outputs : 0);
    for (size_t k = 0; k < m->n_outputs; k++)
        n += m->compile.out[k].n_metrics;
    if (n > MODEL_MAX_VALUES)
        return spec_error(metrics, d, "%zu losses and metrics to report; at most %d", n,
                          MODEL_MAX_VALUES);
    return 0;
}
