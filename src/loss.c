/* Losses (see loss.h): Keras loss identifiers -> struct loss, and for a batch
 * the loss value plus its gradient with respect to y_pred. The formulas are
 * tf.keras 2's (keras/losses.py, keras/backend.py); gradients are what TF's
 * autodiff gives for them, including at clips and kinks. Sums are
 * accumulated in double. Nothing here allocates or prints. */
#include "loss.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Keras's backend.epsilon() as the float32 constant the TF backend clips with:
 * keras/backend.py clips to [epsilon_, 1. - epsilon_], both float32. */
#define LOSS_EPS 1e-7f
#define CLIP_LO LOSS_EPS
#define CLIP_HI (1.0f - LOSS_EPS)

/* ---- names ---------------------------------------------------------------- */

/* Every spelling tf.keras 2 resolves through keras.losses.get (case-sensitive):
 * function names, the aliases at the end of keras/losses.py (bce, mse, mae,
 * mape, msle, kld, kullback_leibler_divergence, logcosh, huber_loss) and the
 * Loss class names; plus cosine_proximity, the Keras 1 name TensorFlow.js
 * still uses for cosine_similarity. */
struct loss_spelling {
    const char *name;
    enum loss_kind kind;
    bool is_class; /* class form takes reduction and name too */
};

static const struct loss_spelling spellings[] = {
    {"mean_squared_error", LOSS_MSE, false},
    {"mse", LOSS_MSE, false},
    {"MSE", LOSS_MSE, false},
    {"MeanSquaredError", LOSS_MSE, true},
    {"mean_absolute_error", LOSS_MAE, false},
    {"mae", LOSS_MAE, false},
    {"MAE", LOSS_MAE, false},
    {"MeanAbsoluteError", LOSS_MAE, true},
    {"mean_absolute_percentage_error", LOSS_MAPE, false},
    {"mape", LOSS_MAPE, false},
    {"MAPE", LOSS_MAPE, false},
    {"MeanAbsolutePercentageError", LOSS_MAPE, true},
    {"mean_squared_logarithmic_error", LOSS_MSLE, false},
    {"msle", LOSS_MSLE, false},
    {"MSLE", LOSS_MSLE, false},
    {"MeanSquaredLogarithmicError", LOSS_MSLE, true},
    {"binary_crossentropy", LOSS_BINARY_CE, false},
    {"bce", LOSS_BINARY_CE, false},
    {"BCE", LOSS_BINARY_CE, false},
    {"BinaryCrossentropy", LOSS_BINARY_CE, true},
    {"categorical_crossentropy", LOSS_CATEGORICAL_CE, false},
    {"CategoricalCrossentropy", LOSS_CATEGORICAL_CE, true},
    {"sparse_categorical_crossentropy", LOSS_SPARSE_CE, false},
    {"SparseCategoricalCrossentropy", LOSS_SPARSE_CE, true},
    {"hinge", LOSS_HINGE, false},
    {"Hinge", LOSS_HINGE, true},
    {"squared_hinge", LOSS_SQUARED_HINGE, false},
    {"SquaredHinge", LOSS_SQUARED_HINGE, true},
    {"categorical_hinge", LOSS_CATEGORICAL_HINGE, false},
    {"CategoricalHinge", LOSS_CATEGORICAL_HINGE, true},
    {"kl_divergence", LOSS_KLD, false},
    {"kullback_leibler_divergence", LOSS_KLD, false},
    {"kld", LOSS_KLD, false},
    {"KLD", LOSS_KLD, false},
    {"KLDivergence", LOSS_KLD, true},
    {"poisson", LOSS_POISSON, false},
    {"Poisson", LOSS_POISSON, true},
    {"cosine_similarity", LOSS_COSINE, false},
    {"cosine_proximity", LOSS_COSINE, false},
    {"CosineSimilarity", LOSS_COSINE, true},
    {"huber", LOSS_HUBER, false},
    {"huber_loss", LOSS_HUBER, false},
    {"Huber", LOSS_HUBER, true},
    {"log_cosh", LOSS_LOG_COSH, false},
    {"logcosh", LOSS_LOG_COSH, false},
    {"LogCosh", LOSS_LOG_COSH, true},
};
#define N_SPELLINGS (sizeof spellings / sizeof spellings[0])

/* Keras losses nnc does not implement yet: named so the error says so. */
static const char *const keras_only[] = {
    "binary_focal_crossentropy", "BinaryFocalCrossentropy", "categorical_focal_crossentropy",
    "CategoricalFocalCrossentropy",
};
#define N_KERAS_ONLY (sizeof keras_only / sizeof keras_only[0])

/* Per kind: the function name Keras serializes, the Loss class with its
 * default name, and tfjs-layers' name (losses.ts lossesMap, snake_case). */
static const struct {
    const char *fn, *cls, *cls_name, *tfjs;
} names[] = {
    [LOSS_MSE] = {"mean_squared_error", "MeanSquaredError", "mean_squared_error",
                  "mean_squared_error"},
    [LOSS_MAE] = {"mean_absolute_error", "MeanAbsoluteError", "mean_absolute_error",
                  "mean_absolute_error"},
    [LOSS_MAPE] = {"mean_absolute_percentage_error", "MeanAbsolutePercentageError",
                   "mean_absolute_percentage_error", "mean_absolute_percentage_error"},
    [LOSS_MSLE] = {"mean_squared_logarithmic_error", "MeanSquaredLogarithmicError",
                   "mean_squared_logarithmic_error", "mean_squared_logarithmic_error"},
    [LOSS_BINARY_CE] = {"binary_crossentropy", "BinaryCrossentropy", "binary_crossentropy",
                        "binary_crossentropy"},
    [LOSS_CATEGORICAL_CE] = {"categorical_crossentropy", "CategoricalCrossentropy",
                             "categorical_crossentropy", "categorical_crossentropy"},
    [LOSS_SPARSE_CE] = {"sparse_categorical_crossentropy", "SparseCategoricalCrossentropy",
                        "sparse_categorical_crossentropy", "sparse_categorical_crossentropy"},
    [LOSS_HINGE] = {"hinge", "Hinge", "hinge", "hinge"},
    [LOSS_SQUARED_HINGE] = {"squared_hinge", "SquaredHinge", "squared_hinge", "squared_hinge"},
    [LOSS_CATEGORICAL_HINGE] = {"categorical_hinge", "CategoricalHinge", "categorical_hinge",
                                "categorical_hinge"},
    [LOSS_KLD] = {"kl_divergence", "KLDivergence", "kl_divergence",
                  "kullback_leibler_divergence"},
    [LOSS_POISSON] = {"poisson", "Poisson", "poisson", "poisson"},
    [LOSS_COSINE] = {"cosine_similarity", "CosineSimilarity", "cosine_similarity",
                     "cosine_proximity"},
    [LOSS_HUBER] = {"huber", "Huber", "huber_loss", NULL},
    [LOSS_LOG_COSH] = {"log_cosh", "LogCosh", "log_cosh", "logcosh"},
};

const char *loss_name(const struct loss *l) { return names[l->kind].fn; }
const char *loss_tfjs_name(const struct loss *l) { return names[l->kind].tfjs; }

size_t loss_target_width(const struct loss *l, size_t K)
{
    return l->kind == LOSS_SPARSE_CE ? 1 : K;
}

int loss_lookup(const char *name, enum loss_kind *kind, bool *is_class)
{
    for (size_t i = 0; i < N_SPELLINGS; i++)
        if (!strcmp(name, spellings[i].name)) {
            *kind = spellings[i].kind;
            *is_class = spellings[i].is_class;
            return 0;
        }
    return -1;
}

size_t loss_spellings(const char **out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < N_SPELLINGS && n < max; i++)
        out[n++] = spellings[i].name;
    return n;
}

void loss_init(struct loss *l, enum loss_kind kind)
{
    memset(l, 0, sizeof *l);
    l->kind = kind;
    l->delta = 1.0;
}

/* ---- parsing -------------------------------------------------------------- */

static int unknown_loss(const struct spec_node *at, const char *name, struct diag *d)
{
    for (size_t i = 0; i < N_KERAS_ONLY; i++)
        if (!strcmp(name, keras_only[i]))
            return spec_error(at, d, "loss '%s' is not supported yet", name);
    const char *cands[N_SPELLINGS];
    size_t n = loss_spellings(cands, N_SPELLINGS);
    const char *hint = diag_suggest(name, cands, n);
    if (hint)
        return spec_error(at, d, "unknown loss '%s' (did you mean '%s'?)", name, hint);
    return spec_error(at, d, "unknown loss '%s'", name);
}

/* reduction: Keras's ReductionV2 values. "auto" is sum_over_batch_size under
 * compile/fit (keras/utils/losses_utils.py), which is what loss_compute does. */
static int parse_reduction(const struct spec_node *v, struct diag *d)
{
    static const char *const all[] = {"auto", "sum_over_batch_size", "sum", "none"};
    const char *s;
    if (spec_string(v, &s, d))
        return -1;
    if (!strcmp(s, "auto") || !strcmp(s, "sum_over_batch_size"))
        return 0;
    if (!strcmp(s, "sum") || !strcmp(s, "none"))
        return spec_error(v, d,
                          "reduction '%s' is not supported yet (only 'auto' and "
                          "'sum_over_batch_size')",
                          s);
    const char *hint = diag_suggest(s, all, 4);
    if (hint)
        return spec_error(v, d, "unknown reduction '%s' (did you mean '%s'?)", s, hint);
    return spec_error(v, d, "unknown reduction '%s'", s);
}

/* The keyword arguments of each loss function as tf.keras 2 defines them
 * (keras/losses.py): binary_crossentropy(from_logits, label_smoothing, axis),
 * categorical_crossentropy(same), sparse_categorical_crossentropy(
 * from_logits, axis, ignore_class), huber(delta), cosine_similarity(axis). */
static size_t fn_keys(enum loss_kind kind, const char **keys)
{
    size_t n = 0;
    switch (kind) {
    case LOSS_BINARY_CE:
    case LOSS_CATEGORICAL_CE:
        keys[n++] = "from_logits";
        keys[n++] = "label_smoothing";
        keys[n++] = "axis";
        break;
    case LOSS_SPARSE_CE:
        keys[n++] = "from_logits";
        keys[n++] = "axis";
        keys[n++] = "ignore_class";
        break;
    case LOSS_HUBER: keys[n++] = "delta"; break;
    case LOSS_COSINE: keys[n++] = "axis"; break;
    default: break;
    }
    return n;
}

int loss_check_args(const struct loss *l, const struct spec_node *args, const char *const *extra,
                    size_t n_extra, const char *where, struct diag *d)
{
    if (spec_is_null(args))
        return 0;
    if (args->kind != SPEC_MAP) {
        char buf[80];
        return spec_error(args, d, "the arguments of %s must be a map, found %s", where,
                          spec_describe(args, buf, sizeof buf));
    }
    if (l->kind == LOSS_SPARSE_CE)
        for (size_t i = 0; i < args->n; i++)
            if (!strcmp(args->keys[i]->str, "label_smoothing"))
                return spec_error(args->keys[i], d,
                                  "sparse_categorical_crossentropy has no label_smoothing in "
                                  "tf.keras 2 (use categorical_crossentropy with one-hot "
                                  "targets)");
    const char *allowed[8];
    size_t n = fn_keys(l->kind, allowed);
    NNC_ASSERT(n + n_extra <= sizeof allowed / sizeof allowed[0]);
    for (size_t i = 0; i < n_extra; i++)
        allowed[n++] = extra[i];
    return spec_check_keys(args, allowed, n, where, d);
}

int loss_apply_args(struct loss *l, const struct spec_node *args, struct diag *d)
{
    if (spec_is_null(args))
        return 0;
    const char *keys[4];
    size_t n_keys = fn_keys(l->kind, keys);
    for (size_t i = 0; i < args->n; i++) {
        const char *key = args->keys[i]->str;
        const struct spec_node *v = args->items[i];
        bool mine = false;
        for (size_t k = 0; k < n_keys; k++)
            mine |= !strcmp(key, keys[k]);
        if (!mine)
            continue;
        if (!strcmp(key, "from_logits")) {
            if (spec_bool(v, &l->from_logits, d))
                return -1;
        } else if (!strcmp(key, "label_smoothing")) {
            if (spec_double(v, &l->label_smoothing, d))
                return -1;
            if (!(l->label_smoothing >= 0 && l->label_smoothing <= 1))
                return spec_error(v, d, "label_smoothing must be in [0, 1], got %s", v->str);
        } else if (!strcmp(key, "delta")) {
            if (spec_double(v, &l->delta, d))
                return -1;
            if (!(l->delta > 0 && isfinite(l->delta)))
                return spec_error(v, d, "delta must be a positive number, got %s", v->str);
        } else if (!strcmp(key, "axis")) {
            long axis;
            if (spec_long(v, &axis, d))
                return -1;
            if (axis != -1)
                return spec_error(v, d, "axis %ld is not supported yet (only -1)", axis);
        } else if (!strcmp(key, "ignore_class")) {
            if (!spec_is_null(v))
                return spec_error(v, d, "ignore_class is not supported yet (only null)");
        }
    }
    return 0;
}

/* The arguments of one loss: the function's keyword arguments, plus
 * reduction and name for the class form. */
static int parse_args(const struct spec_node *args, const char *written, bool is_class,
                      struct loss *out, struct diag *d)
{
    static const char *const class_keys[] = {"reduction", "name"};
    char where[96];
    snprintf(where, sizeof where, "loss '%s'", written);
    if (loss_check_args(out, args, class_keys, is_class ? 2 : 0, where, d) ||
        loss_apply_args(out, args, d))
        return -1;
    for (size_t i = 0; args && args->kind == SPEC_MAP && i < args->n; i++) {
        const char *key = args->keys[i]->str;
        const struct spec_node *v = args->items[i];
        const char *s;
        if (!strcmp(key, "reduction") && parse_reduction(v, d))
            return -1;
        /* Keras uses the name for op scopes only; the loss prints as "loss". */
        if (!strcmp(key, "name") && spec_string(v, &s, d))
            return -1;
    }
    return 0;
}

static int parse_named(const struct spec_node *name_node, const struct spec_node *args,
                       struct loss *out, struct diag *d)
{
    const char *name;
    enum loss_kind kind;
    bool is_class;
    if (spec_string(name_node, &name, d))
        return -1;
    if (loss_lookup(name, &kind, &is_class))
        return unknown_loss(name_node, name, d);
    loss_init(out, kind);
    return parse_args(args, name, is_class, out, d);
}

int loss_parse(const struct spec_node *n, struct loss *out, struct diag *d)
{
    NNC_ASSERT(n);
    if (n->kind == SPEC_SCALAR)
        return parse_named(n, NULL, out, d);
    if (n->kind == SPEC_MAP && spec_get(n, "class_name")) {
        /* Keras's serialize_keras_object form; Keras >= 2.13 adds module and
         * registered_name. The config holds the class's constructor args. */
        static const char *const keys[] = {"class_name", "config", "module", "registered_name"};
        if (spec_check_keys(n, keys, 4, "a serialized loss", d))
            return -1;
        const struct spec_node *cn = spec_get(n, "class_name");
        const char *name;
        enum loss_kind kind;
        bool is_class;
        if (spec_string(cn, &name, d))
            return -1;
        if (loss_lookup(name, &kind, &is_class))
            return unknown_loss(cn, name, d);
        loss_init(out, kind);
        return parse_args(spec_get(n, "config"), name, true, out, d);
    }
    if (n->kind == SPEC_MAP && n->n == 1)
        return parse_named(n->keys[0], n->items[0], out, d);
    return spec_error(n, d,
                      "a loss is a name (categorical_crossentropy), a one-key map "
                      "{name: {arguments}}, or {class_name: ..., config: {...}}");
}

void loss_to_json(const struct loss *l, struct json *j)
{
    /* tf.keras writes the identifier the user compiled with; with arguments it
     * writes the Loss object's get_config(): reduction and name first
     * (keras/losses.py Loss.get_config), then the function's kwargs in
     * signature order (LossFunctionWrapper.get_config). */
    bool ce = l->kind == LOSS_BINARY_CE || l->kind == LOSS_CATEGORICAL_CE ||
              l->kind == LOSS_SPARSE_CE;
    bool plain = ce ? !l->from_logits && l->label_smoothing == 0
                    : l->kind != LOSS_HUBER || l->delta == 1.0;
    if (plain) {
        json_string(j, names[l->kind].fn);
        return;
    }
    json_object_begin(j);
    json_key(j, "class_name");
    json_string(j, names[l->kind].cls);
    json_key(j, "config");
    json_object_begin(j);
    json_key(j, "reduction");
    json_string(j, "auto");
    json_key(j, "name");
    json_string(j, names[l->kind].cls_name);
    if (l->kind == LOSS_HUBER) {
        json_key(j, "delta");
        json_double(j, l->delta);
    } else {
        json_key(j, "from_logits");
        json_bool(j, l->from_logits);
        if (l->kind == LOSS_SPARSE_CE) {
            json_key(j, "ignore_class");
            json_null(j);
        } else {
            json_key(j, "label_smoothing");
            json_double(j, l->label_smoothing);
            json_key(j, "axis");
            json_long(j, -1);
        }
    }
    json_object_end(j);
    json_object_end(j);
}

/* ---- values and gradients ------------------------------------------------- */
/* Shapes: yp (R, K), yt (R, K) or (R, 1) for sparse, dy (R, K). Each function
 * returns the mean over rows of the per-row loss; dy gets d(that)/d(yp). */

/* clip_by_value, and whether its gradient passes (TF's _ClipByValueGrad
 * zeroes it where x < lo or x > hi; NaN passes through both). */
static double clip(double x) { return x < CLIP_LO ? CLIP_LO : x > CLIP_HI ? CLIP_HI : x; }
static bool clip_passes(double x) { return !(x < CLIP_LO) && !(x > CLIP_HI); }

static double sigmoid(double x)
{
    if (x >= 0)
        return 1 / (1 + exp(-x));
    double e = exp(x);
    return e / (1 + e);
}

/* d|x|/dx as TF's Abs gradient: sign(x), 0 at 0. */
static double sign(double x) { return x > 0 ? 1 : x < 0 ? -1 : 0; }

/* One element of a loss whose row value is the mean over the last axis
 * (keras/losses.py); returns the value and *g = d value / d p. t is the
 * target after hinge's label conversion or binary crossentropy's smoothing.
 * Gradients at kinks follow TF: Maximum(x, y) passes to x where x >= y. */
static double element(const struct loss *l, double p, double t, double *g)
{
    const double eps = LOSS_EPS;
    switch (l->kind) {
    case LOSS_MSE: {
        double e = p - t;
        *g = 2 * e;
        return e * e;
    }
    case LOSS_MAE:
        *g = sign(p - t);
        return fabs(p - t);
    case LOSS_MAPE: {
        /* 100 |t - p| / max(|t|, eps) */
        double den = fmax(fabs(t), eps);
        *g = 100 * sign(p - t) / den;
        return 100 * fabs(t - p) / den;
    }
    case LOSS_MSLE: {
        /* (log(max(p, eps) + 1) - log(max(t, eps) + 1))^2 */
        double q = fmax(p, eps), e = log1p(q) - log1p(fmax(t, eps));
        *g = p >= eps ? 2 * e / (1 + q) : 0;
        return e * e;
    }
    case LOSS_BINARY_CE:
        /* probabilities (keras/backend.py): c = clip(p, eps, 1-eps),
         *   -(t log(c + eps) + (1-t) log(1 - c + eps));
         * logits (tf.nn.sigmoid_cross_entropy_with_logits, stable form):
         *   max(x, 0) - x t + log(1 + exp(-|x|)),  d/dx = sigmoid(x) - t. */
        if (l->from_logits) {
            *g = sigmoid(p) - t;
            return fmax(p, 0) - p * t + log1p(exp(-fabs(p)));
        } else {
            double c = clip(p);
            *g = clip_passes(p) ? -t / (c + eps) + (1 - t) / (1 - c + eps) : 0;
            return -(t * log(c + eps) + (1 - t) * log(1 - c + eps));
        }
    case LOSS_HINGE: {
        double m = 1 - t * p;
        *g = m >= 0 ? -t : 0;
        return fmax(m, 0);
    }
    case LOSS_SQUARED_HINGE: {
        double m = fmax(1 - t * p, 0);
        *g = -2 * m * t;
        return m * m;
    }
    case LOSS_POISSON:
        /* p - t log(p + eps) */
        *g = 1 - t / (p + eps);
        return p - t * log(p + eps);
    case LOSS_HUBER: {
        /* 0.5 e^2 where |e| <= delta, else delta |e| - 0.5 delta^2 */
        double e = p - t, dl = l->delta;
        if (fabs(e) <= dl) {
            *g = e;
            return 0.5 * e * e;
        }
        *g = dl * sign(e);
        return dl * fabs(e) - 0.5 * dl * dl;
    }
    case LOSS_LOG_COSH: {
        /* x + softplus(-2x) - log 2 = |x| + log1p(exp(-2|x|)) - log 2 */
        double x = p - t;
        *g = tanh(x);
        return fabs(x) + log1p(exp(-2 * fabs(x))) - log(2.0);
    }
    default: NNC_ASSERT(!"not an element-wise loss"); return 0;
    }
}

/* keras/losses.py _maybe_convert_labels: when every target of the batch is
 * 0 or 1, hinge and squared_hinge use 2t - 1. */
static bool all_binary(const float *t, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (t[i] != 0.0f && t[i] != 1.0f)
            return false;
    return true;
}

/* The losses that are a mean over the last axis of element(). Binary
 * crossentropy smooths t to t(1-s) + s/2 first (keras/losses.py). */
static double mean_last_axis(const struct loss *l, const float *yp, const float *yt, size_t R,
                             size_t K, float *dy)
{
    bool pm1 = (l->kind == LOSS_HINGE || l->kind == LOSS_SQUARED_HINGE) && all_binary(yt, R * K);
    double s = l->kind == LOSS_BINARY_CE ? l->label_smoothing : 0;
    double total = 0, scale = 1 / ((double)R * (double)K);
    for (size_t r = 0; r < R; r++) {
        double row = 0;
        for (size_t k = 0; k < K; k++) {
            size_t i = r * K + k;
            double t = pm1 ? 2.0 * yt[i] - 1 : yt[i], g;
            if (s != 0)
                t = t * (1 - s) + 0.5 * s;
            row += element(l, yp[i], t, &g);
            if (dy)
                dy[i] = (float)(g * scale);
        }
        total += row / (double)K;
    }
    return total / (double)R;
}

/* categorical_crossentropy, t smoothed to t(1-s) + s/K:
 *   probabilities (keras/backend.py): q = p / sum(p), c = clip(q), -sum t log c.
 *     With g_k = dL/dq_k = -t_k/c_k (0 where clipped) and
 *     dq_k/dp_j = (delta_kj - q_k) / sum(p):  dL/dp_j = (g_j - sum_k g_k q_k) / sum(p).
 *   logits (tf.nn.softmax_cross_entropy_with_logits): -sum t log_softmax(x);
 *     the gradient is TF's kernel backprop, softmax(x) - t (exact when the
 *     targets sum to 1, as one-hot and smoothed targets do). */
static double categorical_ce(const struct loss *l, const float *yp, const float *yt, size_t R,
                             size_t K, float *dy)
{
    const double s = l->label_smoothing, sK = s / (double)K;
    double total = 0, inv_R = 1 / (double)R;
    for (size_t r = 0; r < R; r++) {
        const float *p = yp + r * K, *tr = yt + r * K;
        float *dp = dy ? dy + r * K : NULL;
        double row = 0;
        if (l->from_logits) {
            double m = p[0], z = 0;
            for (size_t k = 1; k < K; k++)
                m = fmax(m, p[k]);
            for (size_t k = 0; k < K; k++)
                z += exp(p[k] - m);
            double lse = m + log(z);
            for (size_t k = 0; k < K; k++) {
                double t = tr[k] * (1 - s) + sK;
                row -= t * (p[k] - lse);
                if (dp)
                    dp[k] = (float)((exp(p[k] - lse) - t) * inv_R);
            }
        } else {
            double sum = 0, dot = 0;
            for (size_t k = 0; k < K; k++)
                sum += p[k];
            for (size_t k = 0; k < K; k++) {
                double t = tr[k] * (1 - s) + sK, q = p[k] / sum, c = clip(q);
                row -= t * log(c);
                if (clip_passes(q))
                    dot += -t / c * q;
            }
            for (size_t k = 0; dp && k < K; k++) {
                double t = tr[k] * (1 - s) + sK, q = p[k] / sum;
                double g = clip_passes(q) ? -t / clip(q) : 0;
                dp[k] = (float)((g - dot) / sum * inv_R);
            }
        }
        total += row;
    }
    return total * inv_R;
}

/* sparse_categorical_crossentropy, label y = yt[r]:
 *   probabilities (keras/backend.py): logits z = log(clip(p)), then
 *     tf.nn.sparse_softmax_cross_entropy_with_logits(y, z)
 *     = -log c_y + log sum_k c_k   (the second term is ~0 for a softmax output);
 *     dL/dp_k = [clip passes] (1/sum c - [k == y]/c_y).
 *   logits: -x_y + logsumexp(x); dL/dx = softmax(x) - onehot(y). */
static double sparse_ce(const struct loss *l, const float *yp, const float *yt, size_t R,
                        size_t K, float *dy)
{
    double total = 0, inv_R = 1 / (double)R;
    for (size_t r = 0; r < R; r++) {
        const float *p = yp + r * K;
        float *dp = dy ? dy + r * K : NULL;
        float label = yt[r];
        NNC_ASSERT(label >= 0 && label < (float)K && label == floorf(label));
        size_t y = (size_t)label;
        if (l->from_logits) {
            double m = p[0], z = 0;
            for (size_t k = 1; k < K; k++)
                m = fmax(m, p[k]);
            for (size_t k = 0; k < K; k++)
                z += exp(p[k] - m);
            double lse = m + log(z);
            total += lse - p[y];
            for (size_t k = 0; dp && k < K; k++)
                dp[k] = (float)((exp(p[k] - lse) - (k == y)) * inv_R);
        } else {
            double sum = 0, cy = clip(p[y]);
            for (size_t k = 0; k < K; k++)
                sum += clip(p[k]);
            total += -log(cy) + log(sum);
            for (size_t k = 0; dp && k < K; k++) {
                double g = 1 / sum - (k == y ? 1 / cy : 0);
                dp[k] = clip_passes(p[k]) ? (float)(g * inv_R) : 0.0f;
            }
        }
    }
    return total * inv_R;
}

/* categorical_hinge: max(neg - pos + 1, 0) with pos = sum t p and
 * neg = max (1 - t) p; TF's reduce_max gradient splits evenly among ties. */
static double categorical_hinge(const float *yp, const float *yt, size_t R, size_t K, float *dy)
{
    double total = 0, inv_R = 1 / (double)R;
    for (size_t r = 0; r < R; r++) {
        const float *p = yp + r * K, *t = yt + r * K;
        double pos = 0, neg = -INFINITY;
        for (size_t k = 0; k < K; k++) {
            pos += (double)t[k] * p[k];
            neg = fmax(neg, (1 - (double)t[k]) * p[k]);
        }
        double v = neg - pos + 1;
        total += fmax(v, 0);
        if (!dy)
            continue;
        size_t n_max = 0;
        for (size_t k = 0; k < K; k++)
            n_max += (1 - (double)t[k]) * p[k] == neg;
        for (size_t k = 0; k < K; k++) {
            double g = -(double)t[k];
            if ((1 - (double)t[k]) * p[k] == neg)
                g += (1 - (double)t[k]) / (double)n_max;
            dy[r * K + k] = v >= 0 ? (float)(g * inv_R) : 0.0f;
        }
    }
    return total * inv_R;
}

/* kl_divergence: sum tc log(tc / pc) with tc, pc clipped to [eps, 1]
 * (keras/losses.py clips both and multiplies by the clipped target);
 * d/dp = -tc / pc where p is inside the clip range, else 0. */
static double kl_divergence(const float *yp, const float *yt, size_t R, size_t K, float *dy)
{
    const double lo = LOSS_EPS;
    double total = 0, inv_R = 1 / (double)R;
    for (size_t i = 0; i < R * K; i++) {
        double t = fmin(fmax(yt[i], lo), 1), p = yp[i], c = fmin(fmax(p, lo), 1);
        total += t * log(t / c);
        if (dy)
            dy[i] = !(p < lo) && !(p > 1) ? (float)(-t / c * inv_R) : 0.0f;
    }
    return total * inv_R;
}

/* cosine_similarity (the loss): -sum tn pn with xn = x / sqrt(max(sum x^2,
 * 1e-12)) (tf.linalg.l2_normalize). With n = |p| and c = tn . pn,
 * d/dp_j = -(tn_j - c pn_j) / n; below the 1e-12 floor n is a constant and
 * d/dp_j = -tn_j / n. */
static double cosine(const float *yp, const float *yt, size_t R, size_t K, float *dy)
{
    const double floor2 = 1e-12f;
    double total = 0, inv_R = 1 / (double)R;
    for (size_t r = 0; r < R; r++) {
        const float *p = yp + r * K, *t = yt + r * K;
        double st = 0, sp = 0, stp = 0;
        for (size_t k = 0; k < K; k++) {
            st += (double)t[k] * t[k];
            sp += (double)p[k] * p[k];
            stp += (double)t[k] * p[k];
        }
        double nt = sqrt(fmax(st, floor2)), np = sqrt(fmax(sp, floor2));
        double c = stp / (nt * np);
        total -= c;
        for (size_t k = 0; dy && k < K; k++) {
            double tn = t[k] / nt, pn = p[k] / np;
            double g = sp >= floor2 ? -(tn - c * pn) / np : -tn / np;
            dy[r * K + k] = (float)(g * inv_R);
        }
    }
    return total * inv_R;
}

double loss_compute(const struct loss *l, const float *y_pred, const float *y_true, size_t rows,
                    size_t K, float *dy_pred)
{
    NNC_ASSERT(rows > 0 && K > 0);
    switch (l->kind) {
    case LOSS_CATEGORICAL_CE: return categorical_ce(l, y_pred, y_true, rows, K, dy_pred);
    case LOSS_SPARSE_CE: return sparse_ce(l, y_pred, y_true, rows, K, dy_pred);
    case LOSS_CATEGORICAL_HINGE: return categorical_hinge(y_pred, y_true, rows, K, dy_pred);
    case LOSS_KLD: return kl_divergence(y_pred, y_true, rows, K, dy_pred);
    case LOSS_COSINE: return cosine(y_pred, y_true, rows, K, dy_pred);
    default: return mean_last_axis(l, y_pred, y_true, rows, K, dy_pred);
    }
}

/* Keras's weighted loss under compile/fit (keras/utils/losses_utils.py,
 * compute_weighted_loss with ReductionV2.SUM_OVER_BATCH_SIZE): each row's
 * loss times its weight, summed and divided by the number of rows — not by
 * the sum of the weights. Row by row through loss_compute (rows = 1 returns
 * the row's loss and its gradient), then scaled. */
double loss_compute_weighted(const struct loss *l, const float *y_pred, const float *y_true,
                             size_t rows, size_t K, const float *w, size_t rows_per_weight,
                             float *dy_pred)
{
    if (!w)
        return loss_compute(l, y_pred, y_true, rows, K, dy_pred);
    NNC_ASSERT(rows > 0 && K > 0 && rows_per_weight > 0);
    size_t tw = loss_target_width(l, K);
    double sum = 0;
    for (size_t r = 0; r < rows; r++) {
        float *dy = dy_pred ? dy_pred + r * K : NULL;
        double wr = w[r / rows_per_weight];
        sum += wr * loss_compute(l, y_pred + r * K, y_true + r * tw, 1, K, dy);
        for (size_t k = 0; dy && k < K; k++)
            dy[k] = (float)(dy[k] * wr / (double)rows);
    }
    return sum / (double)rows;
}

/* Keras's loss under a mask (tf-keras: engine/compile_utils.py
 * LossesContainer multiplies the sample weights by the output's mask
 * (losses_utils.apply_mask), then losses.py Loss.__call__ passes the same
 * mask to losses_utils.apply_valid_mask, which scales it by total / valid
 * before compute_weighted_loss's sum_over_batch_size mean). The mask factors
 * multiply to m (0 or 1) times total / valid, so the loss is
 *   sum_r w_r m_r loss_r / valid
 * with valid the kept entries of the mask; with rows_per_mask > 1 rows per
 * mask entry (an output (steps, H, K)) Keras broadcasts the mask over H and
 * divides by H * valid, the number of kept rows again. Keras divides by zero
 * when a whole batch is masked; here that batch contributes 0. */
double loss_compute_masked(const struct loss *l, const float *y_pred, const float *y_true,
                           size_t rows, size_t K, const float *w, size_t rows_per_weight,
                           const unsigned char *mask, size_t rows_per_mask, float *dy_pred)
{
    if (!mask)
        return loss_compute_weighted(l, y_pred, y_true, rows, K, w, rows_per_weight, dy_pred);
    NNC_ASSERT(rows > 0 && K > 0 && rows_per_mask > 0 && (!w || rows_per_weight > 0));
    size_t tw = loss_target_width(l, K), kept = 0;
    for (size_t r = 0; r < rows; r++)
        kept += mask[r / rows_per_mask] != 0;
    double sum = 0;
    for (size_t r = 0; r < rows; r++) {
        float *dy = dy_pred ? dy_pred + r * K : NULL;
        if (!mask[r / rows_per_mask]) {
            for (size_t k = 0; dy && k < K; k++)
                dy[k] = 0.0f;
            continue;
        }
        double wr = w ? w[r / rows_per_weight] : 1.0;
        sum += wr * loss_compute(l, y_pred + r * K, y_true + r * tw, 1, K, dy);
        for (size_t k = 0; dy && k < K; k++)
            dy[k] = (float)(dy[k] * wr / (double)kept);
    }
    return kept ? sum / (double)kept : 0.0;
}
