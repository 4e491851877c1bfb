/* Metrics (see metrics.h): one compile.metrics entry -> struct metric,
 * resolved against the output's shape the way tf.keras 2 does in
 * keras/engine/compile_utils.py (MetricsContainer._get_metric_object), and
 * the per-epoch state each metric keeps (keras/metrics/). Nothing here
 * prints; only metric_state_init allocates (the auc buckets). */
#include "metrics.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- names ---------------------------------------------------------------- */

/* Spellings keras.metrics.get resolves (case-sensitive) beyond the loss
 * functions, which loss.c knows: the metric functions, the Metric classes
 * (printed under the class's default name), and precision, recall, auc and
 * root_mean_squared_error, the snake-case class names Keras 3 accepts. A metric class that wraps a
 * loss function names the loss kind. */
struct metric_spelling {
    const char *name;
    enum metric_kind kind;
    const char *class_default; /* NULL: prints as written */
    enum loss_kind loss;       /* MET_LOSS */
};

static const struct metric_spelling spellings[] = {
    {"binary_accuracy", MET_BINARY_ACCURACY, NULL, 0},
    {"categorical_accuracy", MET_CATEGORICAL_ACCURACY, NULL, 0},
    {"sparse_categorical_accuracy", MET_SPARSE_CATEGORICAL_ACCURACY, NULL, 0},
    {"top_k_categorical_accuracy", MET_TOP_K, NULL, 0},
    {"sparse_top_k_categorical_accuracy", MET_SPARSE_TOP_K, NULL, 0},
    /* keras/metrics/regression_metrics.py: the metric is +similarity */
    {"cosine_similarity", MET_COSINE_SIMILARITY, NULL, 0},
    {"cosine_proximity", MET_COSINE_SIMILARITY, NULL, 0},
    {"precision", MET_PRECISION, NULL, 0},
    {"recall", MET_RECALL, NULL, 0},
    {"auc", MET_AUC, NULL, 0},
    {"root_mean_squared_error", MET_RMSE, NULL, 0},
    {"BinaryAccuracy", MET_BINARY_ACCURACY, "binary_accuracy", 0},
    {"CategoricalAccuracy", MET_CATEGORICAL_ACCURACY, "categorical_accuracy", 0},
    {"SparseCategoricalAccuracy", MET_SPARSE_CATEGORICAL_ACCURACY, "sparse_categorical_accuracy",
     0},
    {"TopKCategoricalAccuracy", MET_TOP_K, "top_k_categorical_accuracy", 0},
    {"SparseTopKCategoricalAccuracy", MET_SPARSE_TOP_K, "sparse_top_k_categorical_accuracy", 0},
    {"CosineSimilarity", MET_COSINE_SIMILARITY, "cosine_similarity", 0},
    {"RootMeanSquaredError", MET_RMSE, "root_mean_squared_error", 0},
    {"Precision", MET_PRECISION, "precision", 0},
    {"Recall", MET_RECALL, "recall", 0},
    {"AUC", MET_AUC, "auc", 0},
    {"MeanSquaredError", MET_LOSS, "mean_squared_error", LOSS_MSE},
    {"MeanAbsoluteError", MET_LOSS, "mean_absolute_error", LOSS_MAE},
    {"MeanAbsolutePercentageError", MET_LOSS, "mean_absolute_percentage_error", LOSS_MAPE},
    {"MeanSquaredLogarithmicError", MET_LOSS, "mean_squared_logarithmic_error", LOSS_MSLE},
    {"BinaryCrossentropy", MET_LOSS, "binary_crossentropy", LOSS_BINARY_CE},
    {"CategoricalCrossentropy", MET_LOSS, "categorical_crossentropy", LOSS_CATEGORICAL_CE},
    {"SparseCategoricalCrossentropy", MET_LOSS, "sparse_categorical_crossentropy",
     LOSS_SPARSE_CE},
    {"Hinge", MET_LOSS, "hinge", LOSS_HINGE},
    {"SquaredHinge", MET_LOSS, "squared_hinge", LOSS_SQUARED_HINGE},
    {"CategoricalHinge", MET_LOSS, "categorical_hinge", LOSS_CATEGORICAL_HINGE},
    {"KLDivergence", MET_LOSS, "kullback_leibler_divergence", LOSS_KLD},
    {"Poisson", MET_LOSS, "poisson", LOSS_POISSON},
    {"LogCoshError", MET_LOSS, "logcosh", LOSS_LOG_COSH},
};
#define N_SPELLINGS (sizeof spellings / sizeof spellings[0])

/* Keras metrics nnc does not compute yet. */
static const char *const keras_only[] = {
    "MeanIoU", "IoU", "BinaryIoU", "OneHotIoU", "OneHotMeanIoU", "TruePositives",
    "TrueNegatives", "FalsePositives", "FalseNegatives", "PrecisionAtRecall",
    "RecallAtPrecision", "SensitivityAtSpecificity", "SpecificityAtSensitivity", "F1Score",
    "FBetaScore", "R2Score", "MeanRelativeError", "Mean", "Sum", "MeanTensor",
    "binary_focal_crossentropy", "categorical_focal_crossentropy",
};
#define N_KERAS_ONLY (sizeof keras_only / sizeof keras_only[0])

/* What a kind is called in messages and which class it serializes as. */
static const char *const kind_names[] = {
    [MET_BINARY_ACCURACY] = "binary_accuracy",
    [MET_CATEGORICAL_ACCURACY] = "categorical_accuracy",
    [MET_SPARSE_CATEGORICAL_ACCURACY] = "sparse_categorical_accuracy",
    [MET_TOP_K] = "top_k_categorical_accuracy",
    [MET_SPARSE_TOP_K] = "sparse_top_k_categorical_accuracy",
    [MET_LOSS] = NULL, /* the loss's name */
    [MET_COSINE_SIMILARITY] = "cosine_similarity",
    [MET_RMSE] = "root_mean_squared_error",
    [MET_PRECISION] = "precision",
    [MET_RECALL] = "recall",
    [MET_AUC] = "auc",
};

static const char *kind_name(const struct metric *m)
{
    return m->kind == MET_LOSS ? loss_name(&m->loss) : kind_names[m->kind];
}

/* compile_utils.py special-cases 'accuracy'/'acc' and 'crossentropy'/'ce';
 * as in nnc's accuracy resolution so far, the comparison ignores case. */
static bool is_word(const char *s, const char *a, const char *b)
{
    char low[16];
    size_t i = 0;
    for (; i < sizeof low - 1 && s[i]; i++)
        low[i] = (char)tolower((unsigned char)s[i]);
    if (s[i])
        return false;
    low[i] = 0;
    return !strcmp(low, a) || !strcmp(low, b);
}

static bool is_accuracy(const char *s) { return is_word(s, "accuracy", "acc"); }

static int unknown_metric(const struct spec_node *at, const char *name, struct diag *d)
{
    for (size_t i = 0; i < N_KERAS_ONLY; i++)
        if (!strcmp(name, keras_only[i]))
            return spec_error(at, d, "metric '%s' is not supported yet", name);
    const char *cands[N_SPELLINGS + 64] = {"accuracy", "acc", "crossentropy"};
    size_t n = 3;
    for (size_t i = 0; i < N_SPELLINGS; i++)
        cands[n++] = spellings[i].name;
    const char *losses[64];
    size_t n_losses = loss_spellings(losses, 64);
    for (size_t i = 0; i < n_losses; i++) {
        enum loss_kind kind;
        bool is_class;
        if (!loss_lookup(losses[i], &kind, &is_class) && !is_class)
            cands[n++] = losses[i];
    }
    const char *hint = diag_suggest(name, cands, n);
    if (hint)
        return spec_error(at, d, "unknown metric '%s' (did you mean '%s'?)", name, hint);
    return spec_error(at, d, "unknown metric '%s'", name);
}

static int set_name(struct metric *out, const struct spec_node *at, const char *name,
                    struct diag *d)
{
    if (strlen(name) >= sizeof out->name)
        return spec_error(at, d, "metric name '%.40s...' is longer than %zu characters", name,
                          sizeof out->name - 1);
    strcpy(out->name, name);
    return 0;
}

/* Resolves a metric name (not its arguments) into out with Keras's
 * defaults: kind, printed name, loss. */
static int resolve(const struct spec_node *at, const char *name, size_t K, size_t target_width,
                   struct metric *out, struct diag *d)
{
    memset(out, 0, sizeof *out);
    out->threshold = 0.5;
    out->k = 5;
    out->class_id = -1;
    out->num_thresholds = 200;
    out->curve = AUC_ROC;
    out->summation = AUC_INTERPOLATION;
    loss_init(&out->loss, LOSS_MSE);
    /* is_binary = y_p_last_dim == 1; is_sparse_categorical =
     * y_t_last_dim == 1 and y_p_last_dim > 1; else categorical. */
    bool binary = K == 1, sparse = !binary && target_width == 1;
    if (is_accuracy(name)) {
        out->kind = binary   ? MET_BINARY_ACCURACY
                    : sparse ? MET_SPARSE_CATEGORICAL_ACCURACY
                             : MET_CATEGORICAL_ACCURACY;
        return set_name(out, at, name, d);
    }
    if (is_word(name, "crossentropy", "ce")) {
        out->kind = MET_LOSS;
        loss_init(&out->loss, binary   ? LOSS_BINARY_CE
                              : sparse ? LOSS_SPARSE_CE
                                       : LOSS_CATEGORICAL_CE);
        return set_name(out, at, name, d);
    }
    for (size_t i = 0; i < N_SPELLINGS; i++)
        if (!strcmp(name, spellings[i].name)) {
            out->kind = spellings[i].kind;
            loss_init(&out->loss, out->kind == MET_COSINE_SIMILARITY ? LOSS_COSINE
                                                                     : spellings[i].loss);
            return set_name(out, at, spellings[i].class_default ? spellings[i].class_default
                                                                : name,
                            d);
        }
    /* Any loss function is a metric, printed as written (compile_utils.py
     * wraps it in MeanMetricWrapper named after the string). */
    enum loss_kind kind;
    bool is_class;
    if (!loss_lookup(name, &kind, &is_class) && !is_class) {
        out->kind = MET_LOSS;
        loss_init(&out->loss, kind);
        return set_name(out, at, name, d);
    }
    return unknown_metric(at, name, d);
}

/* Targets must fit the resolved metric: one class index per row for the
 * sparse ones, K values per row for everything else. */
static int check_width(const struct spec_node *at, const struct metric *m, size_t K,
                       size_t target_width, struct diag *d)
{
    bool sparse = m->kind == MET_SPARSE_CATEGORICAL_ACCURACY || m->kind == MET_SPARSE_TOP_K ||
                  (m->kind == MET_LOSS && m->loss.kind == LOSS_SPARSE_CE);
    size_t want = sparse ? 1 : K;
    if (target_width == want)
        return 0;
    return spec_error(at, d,
                      "metric '%s' (%s) needs %zu target value%s per row for an output of %zu, "
                      "but the targets have %zu",
                      m->name, kind_name(m), want, want == 1 ? "" : "s", K, target_width);
}

/* ---- arguments ------------------------------------------------------------ */

static int parse_choice(const struct spec_node *v, const char *what, const char *const *choices,
                        size_t n, int *out, struct diag *d)
{
    const char *s;
    if (spec_string(v, &s, d))
        return -1;
    for (size_t i = 0; i < n; i++)
        if (!strcasecmp(s, choices[i])) {
            *out = (int)i;
            return 0;
        }
    const char *hint = diag_suggest(s, choices, n);
    if (hint)
        return spec_error(v, d, "unknown %s '%s' (did you mean '%s'?)", what, s, hint);
    return spec_error(v, d, "unknown %s '%s'", what, s);
}

static int parse_null_only(const struct spec_node *v, const char *key, struct diag *d)
{
    if (!spec_is_null(v))
        return spec_error(v, d, "%s is not supported yet (only null)", key);
    return 0;
}

/* Precision/Recall thresholds: one value in [0, 1] (a one-element list is
 * the same); Keras reports a list of values for several, which a progress
 * bar cannot show. */
static int parse_thresholds(const struct spec_node *v, double *out, struct diag *d)
{
    if (spec_is_null(v))
        return 0;
    const struct spec_node *x = v;
    if (v->kind == SPEC_SEQ) {
        if (v->n != 1)
            return spec_error(v, d, "only one threshold is supported (Keras reports a list "
                                    "of values for several)");
        x = v->items[0];
    }
    if (spec_double(x, out, d))
        return -1;
    if (!(*out >= 0 && *out <= 1))
        return spec_error(x, d, "thresholds must be in [0, 1], got %s", x->str);
    return 0;
}

/* One argument of a non-loss metric (keras/metrics/ constructors). */
static int parse_arg(const char *key, const struct spec_node *v, size_t K, struct metric *out,
                     struct diag *d)
{
    static const char *const curves[] = {"ROC", "PR"};
    static const char *const sums[] = {"interpolation", "minoring", "majoring"};
    long n;
    int choice;
    if (!strcmp(key, "threshold"))
        return spec_double(v, &out->threshold, d);
    if (!strcmp(key, "thresholds"))
        return out->kind == MET_AUC
                   ? spec_error(v, d, "thresholds is not supported yet for auc "
                                      "(num_thresholds sets evenly spaced ones)")
                   : parse_thresholds(v, &out->threshold, d);
    if (!strcmp(key, "k")) {
        if (spec_long(v, &out->k, d))
            return -1;
        if (out->k < 1)
            return spec_error(v, d, "k must be a positive integer, got %s", v->str);
        return 0;
    }
    if (!strcmp(key, "class_id")) {
        if (spec_is_null(v))
            return 0;
        if (spec_long(v, &out->class_id, d))
            return -1;
        if (out->class_id < 0 || (size_t)out->class_id >= K)
            return spec_error(v, d, "class_id %ld is not a column of an output of %zu",
                              out->class_id, K);
        return 0;
    }
    if (!strcmp(key, "num_thresholds")) {
        if (spec_long(v, &n, d))
            return -1;
        if (n < 2 || n > 1000000)
            return spec_error(v, d, "num_thresholds must be an integer in [2, 1000000], got %s",
                              v->str);
        out->num_thresholds = n;
        return 0;
    }
    if (!strcmp(key, "curve")) {
        if (parse_choice(v, "curve", curves, 2, &choice, d))
            return -1;
        out->curve = (enum auc_curve)choice;
        return 0;
    }
    if (!strcmp(key, "summation_method")) {
        if (parse_choice(v, "summation_method", sums, 3, &choice, d))
            return -1;
        out->summation = (enum auc_summation)choice;
        return 0;
    }
    if (!strcmp(key, "multi_label")) {
        bool b;
        if (spec_bool(v, &b, d))
            return -1;
        return b ? spec_error(v, d, "multi_label is not supported yet (only false)") : 0;
    }
    if (!strcmp(key, "from_logits"))
        return spec_bool(v, &out->from_logits, d);
    if (!strcmp(key, "top_k") || !strcmp(key, "num_labels") || !strcmp(key, "label_weights"))
        return parse_null_only(v, key, d);
    return 0; /* name, dtype: the caller's */
}

/* The keys each kind takes besides name and dtype (Keras's constructors). */
static size_t kind_keys(enum metric_kind kind, const char **keys)
{
    size_t n = 0;
    switch (kind) {
    case MET_BINARY_ACCURACY: keys[n++] = "threshold"; break;
    case MET_TOP_K:
    case MET_SPARSE_TOP_K: keys[n++] = "k"; break;
    case MET_PRECISION:
    case MET_RECALL:
        keys[n++] = "thresholds";
        keys[n++] = "top_k";
        keys[n++] = "class_id";
        break;
    case MET_AUC:
        keys[n++] = "num_thresholds";
        keys[n++] = "curve";
        keys[n++] = "summation_method";
        keys[n++] = "thresholds";
        keys[n++] = "multi_label";
        keys[n++] = "num_labels";
        keys[n++] = "label_weights";
        keys[n++] = "from_logits";
        break;
    default: break;
    }
    return n;
}

/* Arguments: name (the printed name), dtype (float32 only), and the
 * kind's own (kind_keys, or the loss function's keyword arguments). */
static int parse_args(const struct spec_node *args, const char *written, size_t K,
                      struct metric *out, struct diag *d)
{
    if (spec_is_null(args))
        return 0;
    char where[96];
    snprintf(where, sizeof where, "metric '%s'", written);
    if (args->kind != SPEC_MAP) {
        char buf[80];
        return spec_error(args, d, "the arguments of %s must be a map, found %s", where,
                          spec_describe(args, buf, sizeof buf));
    }
    static const char *const common[] = {"name", "dtype"};
    bool lossy = out->kind == MET_LOSS || out->kind == MET_COSINE_SIMILARITY;
    for (size_t i = 0; i < args->n; i++)
        if (!strcmp(args->keys[i]->str, "threshold") &&
            (is_accuracy(written) || out->kind == MET_CATEGORICAL_ACCURACY ||
             out->kind == MET_SPARSE_CATEGORICAL_ACCURACY))
            return spec_error(args->keys[i], d,
                              "threshold applies to binary_accuracy only, not to '%s'", written);
    if (lossy) {
        if (loss_check_args(&out->loss, args, common, 2, where, d) ||
            loss_apply_args(&out->loss, args, d))
            return -1;
    } else {
        const char *keys[16] = {"name", "dtype"};
        size_t n = 2 + kind_keys(out->kind, keys + 2);
        if (spec_check_keys(args, keys, n, where, d))
            return -1;
    }
    for (size_t i = 0; i < args->n; i++) {
        const char *key = args->keys[i]->str;
        const struct spec_node *v = args->items[i];
        const char *s;
        if (!strcmp(key, "name")) {
            if (spec_string(v, &s, d) || set_name(out, v, s, d))
                return -1;
        } else if (!strcmp(key, "dtype")) {
            if (spec_string(v, &s, d))
                return -1;
            if (strcmp(s, "float32"))
                return spec_error(v, d, "dtype '%s' is not supported yet (only float32)", s);
        } else if (!lossy && parse_arg(key, v, K, out, d)) {
            return -1;
        }
    }
    return 0;
}

static bool same_metric(const struct metric *a, const struct metric *b)
{
    return a->kind == b->kind && !strcmp(a->name, b->name) && a->threshold == b->threshold &&
           a->k == b->k && a->class_id == b->class_id && a->loss.kind == b->loss.kind &&
           a->loss.from_logits == b->loss.from_logits &&
           a->loss.label_smoothing == b->loss.label_smoothing && a->loss.delta == b->loss.delta &&
           a->num_thresholds == b->num_thresholds && a->curve == b->curve &&
           a->summation == b->summation && a->from_logits == b->from_logits;
}

/* Keras's MeanMetricWrapper config {name, dtype, fn}: what tf.keras >= 2.12
 * saves for a metric given as a function name ('accuracy' included). */
static int parse_wrapper(const struct spec_node *n, const struct spec_node *args, size_t K,
                         size_t target_width, struct metric *out, struct diag *d)
{
    if (!args)
        return spec_error(n, d, "MeanMetricWrapper needs a config with 'fn'");
    static const char *const wkeys[] = {"name", "dtype", "fn"};
    if (spec_check_keys(args, wkeys, 3, "MeanMetricWrapper", d))
        return -1;
    const struct spec_node *fn = spec_get(args, "fn"), *nm = spec_get(args, "name");
    const char *fname, *pname;
    if (!fn)
        return spec_error(args, d, "MeanMetricWrapper needs 'fn'");
    if (spec_string(fn, &fname, d) || resolve(fn, fname, K, target_width, out, d))
        return -1;
    if (nm && (spec_string(nm, &pname, d) || set_name(out, nm, pname, d)))
        return -1;
    return 0;
}

int metric_parse(const struct spec_node *n, size_t K, size_t target_width, struct metric *out,
                 struct diag *d)
{
    NNC_ASSERT(n && K > 0 && target_width > 0);
    const struct spec_node *name_node, *args = NULL;
    const char *name;
    bool serialized = false;
    if (n->kind == SPEC_SCALAR) {
        name_node = n;
    } else if (n->kind == SPEC_MAP && spec_get(n, "class_name")) {
        /* Keras's serialized form; 'accuracy' is saved as
         * {class_name: MeanMetricWrapper, config: {name: accuracy, fn: ...}}. */
        static const char *const keys[] = {"class_name", "config", "module", "registered_name"};
        if (spec_check_keys(n, keys, 4, "a serialized metric", d))
            return -1;
        name_node = spec_get(n, "class_name");
        args = spec_get(n, "config");
        serialized = true;
    } else if (n->kind == SPEC_MAP && n->n == 1) {
        name_node = n->keys[0];
        args = n->items[0];
    } else {
        return spec_error(n, d,
                          "a metric is a name (accuracy), a one-key map {name: {arguments}}, "
                          "or {class_name: ..., config: {...}}");
    }
    if (spec_string(name_node, &name, d))
        return -1;
    if (serialized && !strcmp(name, "MeanMetricWrapper")) {
        if (parse_wrapper(n, args, K, target_width, out, d))
            return -1;
    } else if (resolve(name_node, name, K, target_width, out, d) ||
               parse_args(args, name, K, out, d)) {
        return -1;
    }
    if (check_width(n, out, K, target_width, d))
        return -1;
    /* Checkpoints write the name alone when it resolves back to the same. */
    struct metric probe;
    struct diag quiet = {{0}};
    out->plain = !resolve(n, out->name, K, target_width, &probe, &quiet) &&
                 same_metric(out, &probe);
    return 0;
}

/* ---- serialization -------------------------------------------------------- */

/* The class (or loss function) that metric_parse reads back as this kind. */
static const char *class_of(const struct metric *m)
{
    static const char *const classes[] = {
        [MET_BINARY_ACCURACY] = "BinaryAccuracy",
        [MET_CATEGORICAL_ACCURACY] = "CategoricalAccuracy",
        [MET_SPARSE_CATEGORICAL_ACCURACY] = "SparseCategoricalAccuracy",
        [MET_TOP_K] = "TopKCategoricalAccuracy",
        [MET_SPARSE_TOP_K] = "SparseTopKCategoricalAccuracy",
        [MET_LOSS] = NULL,
        [MET_COSINE_SIMILARITY] = "CosineSimilarity",
        [MET_RMSE] = "RootMeanSquaredError",
        [MET_PRECISION] = "Precision",
        [MET_RECALL] = "Recall",
        [MET_AUC] = "AUC",
    };
    if (m->kind != MET_LOSS)
        return classes[m->kind];
    for (size_t i = 0; i < N_SPELLINGS; i++)
        if (spellings[i].kind == MET_LOSS && spellings[i].loss == m->loss.kind)
            return spellings[i].name;
    return loss_name(&m->loss); /* huber: no metric class in Keras */
}

void metric_to_json(const struct metric *m, struct json *j)
{
    static const char *const curves[] = {"ROC", "PR"};
    static const char *const sums[] = {"interpolation", "minoring", "majoring"};
    if (m->plain) {
        json_string(j, m->name);
        return;
    }
    json_object_begin(j);
    json_key(j, class_of(m));
    json_object_begin(j);
    json_key(j, "name");
    json_string(j, m->name);
    switch (m->kind) {
    case MET_BINARY_ACCURACY:
        json_key(j, "threshold");
        json_double(j, m->threshold);
        break;
    case MET_TOP_K:
    case MET_SPARSE_TOP_K:
        json_key(j, "k");
        json_long(j, m->k);
        break;
    case MET_PRECISION:
    case MET_RECALL:
        json_key(j, "thresholds");
        json_double(j, m->threshold);
        json_key(j, "class_id");
        if (m->class_id >= 0)
            json_long(j, m->class_id);
        else
            json_null(j);
        break;
    case MET_AUC:
        json_key(j, "num_thresholds");
        json_long(j, m->num_thresholds);
        json_key(j, "curve");
        json_string(j, curves[m->curve]);
        json_key(j, "summation_method");
        json_string(j, sums[m->summation]);
        json_key(j, "from_logits");
        json_bool(j, m->from_logits);
        break;
    case MET_LOSS:
        if (m->loss.kind == LOSS_HUBER) {
            json_key(j, "delta");
            json_double(j, m->loss.delta);
        } else if (m->loss.kind == LOSS_BINARY_CE || m->loss.kind == LOSS_CATEGORICAL_CE ||
                   m->loss.kind == LOSS_SPARSE_CE) {
            json_key(j, "from_logits");
            json_bool(j, m->loss.from_logits);
            if (m->loss.kind != LOSS_SPARSE_CE) {
                json_key(j, "label_smoothing");
                json_double(j, m->loss.label_smoothing);
            }
        }
        break;
    default: break;
    }
    json_object_end(j);
    json_object_end(j);
}

const char *metric_tfjs_name(const struct metric *m, const struct loss *loss)
{
    const struct loss *l = &m->loss;
    bool plain_ce = !l->from_logits && l->label_smoothing == 0;
    /* tfjs resolves 'accuracy' from the loss (training.ts compile): binary
     * next to binary_crossentropy, sparse next to
     * sparse_categorical_crossentropy, else categorical. */
    switch (m->kind) {
    case MET_BINARY_ACCURACY:
        if (m->threshold != 0.5)
            return NULL;
        return loss->kind == LOSS_BINARY_CE ? "accuracy" : "binary_accuracy";
    case MET_CATEGORICAL_ACCURACY:
        return loss->kind == LOSS_CATEGORICAL_CE ? "accuracy" : "categorical_accuracy";
    case MET_SPARSE_CATEGORICAL_ACCURACY:
        return loss->kind == LOSS_SPARSE_CE ? "accuracy" : NULL;
    case MET_PRECISION: return m->threshold == 0.5 && m->class_id < 0 ? "precision" : NULL;
    case MET_LOSS:
        switch (l->kind) {
        case LOSS_MSE: return "mse";
        case LOSS_MAE: return "mae";
        case LOSS_MAPE: return "mape";
        case LOSS_CATEGORICAL_CE: return plain_ce ? "categorical_crossentropy" : NULL;
        case LOSS_SPARSE_CE: return plain_ce ? "sparse_categorical_crossentropy" : NULL;
        default: return NULL;
        }
    default: return NULL;
    }
}

/* ---- state ---------------------------------------------------------------- */

void metric_state_init(const struct metric *m, struct metric_state *s)
{
    memset(s, 0, sizeof *s);
    if (m->kind == MET_AUC) {
        s->pos = xcalloc((size_t)m->num_thresholds, sizeof *s->pos);
        s->neg = xcalloc((size_t)m->num_thresholds, sizeof *s->neg);
    }
}

void metric_state_free(struct metric_state *s)
{
    free(s->pos);
    free(s->neg);
    memset(s, 0, sizeof *s);
}

void metric_reset(const struct metric *m, struct metric_state *s)
{
    s->total = s->count = s->tp = s->fp = s->fn = 0;
    if (m->kind == MET_AUC) {
        memset(s->pos, 0, (size_t)m->num_thresholds * sizeof *s->pos);
        memset(s->neg, 0, (size_t)m->num_thresholds * sizeof *s->neg);
    }
}

/* First index of the largest value, as numpy/tf.argmax on CPU. */
static size_t argmax(const float *x, size_t K)
{
    size_t best = 0;
    for (size_t k = 1; k < K; k++)
        if (x[k] > x[best])
            best = k;
    return best;
}

/* tf.math.in_top_k: the target is in the top k when fewer than k classes
 * score strictly higher (ties straddling the boundary all count); a
 * non-finite score anywhere, or a target outside [0, K), is a miss. */
static bool in_top_k(const float *p, size_t K, double target, long k)
{
    if (!(target >= 0 && target < (double)K))
        return false;
    float pt = p[(size_t)target]; /* the int32 cast truncates */
    if (!isfinite(pt))
        return false;
    long higher = 0;
    for (size_t j = 0; j < K; j++) {
        if (!isfinite(p[j]))
            return false;
        higher += p[j] > pt;
    }
    return higher < k;
}

/* The mean metrics' value of one row (keras/metrics/accuracy_metrics.py). */
static double row_value(const struct metric *m, const float *p, const float *t, size_t K)
{
    /* binary_accuracy compares y_true with cast(y_pred > threshold) in the
     * prediction's dtype, so the threshold is a float32. */
    const float thr = (float)m->threshold;
    double v = 0;
    switch (m->kind) {
    case MET_BINARY_ACCURACY:
        for (size_t k = 0; k < K; k++)
            v += t[k] == (p[k] > thr ? 1.0f : 0.0f);
        return v / (double)K;
    case MET_CATEGORICAL_ACCURACY: return argmax(t, K) == argmax(p, K);
    /* keras: equal(y_true, cast(argmax(y_pred), y_true.dtype)) */
    case MET_SPARSE_CATEGORICAL_ACCURACY: return (double)t[0] == (double)argmax(p, K);
    case MET_TOP_K: return in_top_k(p, K, (double)argmax(t, K), m->k);
    case MET_SPARSE_TOP_K: return in_top_k(p, K, t[0], m->k);
    default: NNC_ASSERT(!"not a row metric"); return 0;
    }
}

/* The confusion counts of Precision and Recall at one threshold, the
 * standard path of keras/utils/metrics_utils.py
 * update_confusion_matrix_variables: labels are cast to bool, a prediction
 * is positive when > threshold (float32); class_id picks one column. */
static void update_counts(const struct metric *m, struct metric_state *s, const float *p,
                          const float *t, size_t rows, size_t K)
{
    const float thr = (float)m->threshold;
    size_t k0 = m->class_id >= 0 ? (size_t)m->class_id : 0;
    size_t k1 = m->class_id >= 0 ? k0 + 1 : K;
    for (size_t r = 0; r < rows; r++)
        for (size_t k = k0; k < k1; k++) {
            bool label = t[r * K + k] != 0.0f, pos = p[r * K + k] > thr;
            s->tp += label && pos;
            s->fp += !label && pos;
            s->fn += label && !pos;
        }
}

/* AUC's confusion counts, the bucketed path of metrics_utils.py
 * (_update_confusion_matrix_variables_optimized) for its evenly spaced
 * thresholds [-eps, 1/(n-1), ..., (n-2)/(n-1), 1+eps]: a prediction
 * clipped to [0, 1] falls into bucket max(ceil(p (n-1)) - 1, 0) and counts
 * as positive at every threshold up to its bucket. NaN predictions fall out
 * (their bucket id is invalid in unsorted_segment_sum). */
static void update_buckets(const struct metric *m, struct metric_state *s, const float *p,
                           const float *t, size_t n)
{
    const float steps = (float)(m->num_thresholds - 1);
    for (size_t i = 0; i < n; i++) {
        float x = p[i];
        if (m->from_logits)
            x = 1.0f / (1.0f + expf(-x));
        if (isnan(x))
            continue;
        x = x < 0.0f ? 0.0f : x > 1.0f ? 1.0f : x;
        float b = ceilf(x * steps) - 1.0f;
        size_t bucket = b < 0.0f ? 0 : (size_t)b;
        if (t[i] != 0.0f)
            s->pos[bucket] += 1;
        else
            s->neg[bucket] += 1;
    }
}

void metric_update(const struct metric *m, struct metric_state *s, const float *y_pred,
                   const float *y_true, size_t rows, size_t K, size_t target_width)
{
    switch (m->kind) {
    case MET_LOSS:
        s->total += loss_compute(&m->loss, y_pred, y_true, rows, K, NULL) * (double)rows;
        s->count += (double)rows;
        break;
    case MET_COSINE_SIMILARITY:
        s->total -= loss_compute(&m->loss, y_pred, y_true, rows, K, NULL) * (double)rows;
        s->count += (double)rows;
        break;
    case MET_RMSE:
        /* Mean of the squared errors of every value, then the root. */
        for (size_t i = 0; i < rows * K; i++)
            s->total += ((double)y_pred[i] - y_true[i]) * ((double)y_pred[i] - y_true[i]);
        s->count += (double)(rows * K);
        break;
    case MET_PRECISION:
    case MET_RECALL: update_counts(m, s, y_pred, y_true, rows, K); break;
    case MET_AUC: update_buckets(m, s, y_pred, y_true, rows * K); break;
    default:
        for (size_t r = 0; r < rows; r++)
            s->total += row_value(m, y_pred + r * K, y_true + r * target_width, K);
        s->count += (double)rows;
        break;
    }
}

/* A 0/1 sample weight per row is the same as leaving the 0 rows out, for
 * every metric here (means, confusion counts, buckets): runs of kept rows
 * go through metric_update. */
void metric_update_masked(const struct metric *m, struct metric_state *s, const float *y_pred,
                          const float *y_true, size_t rows, size_t K, size_t target_width,
                          const unsigned char *mask, size_t rows_per_mask)
{
    if (!mask) {
        metric_update(m, s, y_pred, y_true, rows, K, target_width);
        return;
    }
    for (size_t r = 0; r < rows;) {
        if (!mask[r / rows_per_mask]) {
            r++;
            continue;
        }
        size_t end = r + 1;
        while (end < rows && mask[end / rows_per_mask])
            end++;
        metric_update(m, s, y_pred + r * K, y_true + r * target_width, end - r, K, target_width);
        r = end;
    }
}

/* tf.math.divide_no_nan */
static double div0(double x, double y) { return y == 0 ? 0 : x / y; }

/* keras/metrics/confusion_metrics.py AUC.result: the counts at threshold i
 * are suffix sums of the buckets; for ROC x = false positive rate and
 * y = recall, for PR x = recall and y = precision; the area is
 * sum (x[i] - x[i+1]) h_i with h the mean (interpolation), min (minoring)
 * or max (majoring) of y[i], y[i+1]. PR with interpolation is Davis &
 * Goadrich's interpolation (AUC.interpolate_pr_auc). */
static double auc_result(const struct metric *m, const struct metric_state *s)
{
    size_t n = (size_t)m->num_thresholds;
    double P = 0, N = 0;
    for (size_t i = 0; i < n; i++) {
        P += s->pos[i];
        N += s->neg[i];
    }
    double tp1 = s->pos[n - 1], fp1 = s->neg[n - 1]; /* threshold i + 1 */
    double area = 0;
    for (size_t i = n - 1; i-- > 0;) {
        double tp0 = tp1 + s->pos[i], fp0 = fp1 + s->neg[i]; /* threshold i */
        if (m->curve == AUC_PR && m->summation == AUC_INTERPOLATION) {
            double dtp = tp0 - tp1, p0 = tp0 + fp0, p1 = tp1 + fp1;
            double slope = div0(dtp, fmax(p0 - p1, 0));
            double intercept = tp1 - slope * p1;
            double ratio = p0 > 0 && p1 > 0 ? div0(p0, fmax(p1, 0)) : 1;
            area += div0(slope * (dtp + intercept * log(ratio)), fmax(P, 0));
        } else {
            double x0, x1, y0, y1;
            if (m->curve == AUC_ROC) {
                x0 = div0(fp0, N);
                x1 = div0(fp1, N);
                y0 = div0(tp0, P);
                y1 = div0(tp1, P);
            } else {
                x0 = div0(tp0, P);
                x1 = div0(tp1, P);
                y0 = div0(tp0, tp0 + fp0);
                y1 = div0(tp1, tp1 + fp1);
            }
            double h = m->summation == AUC_INTERPOLATION ? (y0 + y1) / 2
                       : m->summation == AUC_MINORING    ? fmin(y0, y1)
                                                         : fmax(y0, y1);
            area += (x0 - x1) * h;
        }
        tp1 = tp0;
        fp1 = fp0;
    }
    return area;
}

double metric_result(const struct metric *m, const struct metric_state *s)
{
    switch (m->kind) {
    case MET_PRECISION: return div0(s->tp, s->tp + s->fp);
    case MET_RECALL: return div0(s->tp, s->tp + s->fn);
    case MET_AUC: return auc_result(m, s);
    case MET_RMSE: return sqrt(div0(s->total, s->count));
    default: return div0(s->total, s->count);
    }
}
