/* Optimizers (see optim.h): Keras optimizer identifiers -> struct optimizer,
 * its tf.keras 2 serialization, the state's layout and the learning rate.
 * Gradient clipping and the update rules are in optim_update.c. */
#include "optim.h"

#include <math.h>
#include <stdio.h>
#include <ctype.h>
#include <string.h>

/* backend_config.epsilon(): what Keras substitutes for a falsy epsilon. */
#define KERAS_EPSILON 1e-7

/* ---- defaults and names --------------------------------------------------- */

/* Class names as tf.keras serializes them, and the lower-case names
 * keras.optimizers.get() accepts, indexed by enum optim_kind. */
static const char *const class_names[] = {"SGD",      "RMSprop", "Adagrad", "Adam", "Adadelta",
                                          "Adamax",   "Nadam",   "AdamW",   "Ftrl"};
static const char *const lower_names[] = {"sgd",      "rmsprop", "adagrad", "adam", "adadelta",
                                          "adamax",   "nadam",   "adamw",   "ftrl"};
#define N_KINDS (sizeof class_names / sizeof class_names[0])

void optim_default(enum optim_kind kind, struct optimizer *out)
{
    memset(out, 0, sizeof *out);
    out->kind = kind;
    out->schedule.kind = LR_CONSTANT;
    out->learning_rate = 0.001;
    out->epsilon = KERAS_EPSILON;
    out->clipnorm = out->clipvalue = out->global_clipnorm = -1;
    out->beta_1 = 0.9;
    out->beta_2 = 0.999;
    switch (kind) {
    case OPT_SGD: out->learning_rate = 0.01; break;
    case OPT_RMSPROP: out->rho = 0.9; break;
    case OPT_ADAGRAD: out->initial_accumulator_value = 0.1; break;
    case OPT_ADAM: break;
    case OPT_ADADELTA: out->rho = 0.95; break; /* optimizer_v2/adadelta.py */
    case OPT_ADAMAX: break;                     /* optimizer_v2/adamax.py */
    case OPT_NADAM: out->decay = 0.004; break;  /* optimizer_v2/nadam.py schedule_decay */
    case OPT_ADAMW: out->weight_decay = 0.004; break; /* optimizers/adamw.py */
    case OPT_FTRL:                              /* optimizer_v2/ftrl.py */
        out->learning_rate_power = -0.5;
        out->initial_accumulator_value = 0.1;
        break;
    }
}

/* ASCII case-insensitive equality (strcasecmp is POSIX, not C11). */
static bool same_ci(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
            return false;
    return *a == *b;
}

/* keras.optimizers.get/deserialize lower-cases built-in names, so "Adam",
 * "adam" and "ADAM" are all Adam; Keras >= 2.13 tfjs exports may say
 * "Custom>Adam". */
static int find_kind(const char *name, enum optim_kind *out)
{
    if (!strncmp(name, "Custom>", 7))
        name += 7;
    for (size_t k = 0; k < N_KINDS; k++)
        if (same_ci(name, lower_names[k])) {
            *out = (enum optim_kind)k;
            return 0;
        }
    return -1;
}

static int unknown_optimizer(const struct spec_node *at, const char *name, struct diag *d)
{
    static const char *const keras_only[] = {"lion", "adafactor"};
    const char *ours[2 * N_KINDS];
    for (size_t i = 0; i < sizeof keras_only / sizeof keras_only[0]; i++)
        if (same_ci(name, keras_only[i]))
            return spec_error(at, d, "optimizer '%s' is not supported yet", name);
    for (size_t k = 0; k < N_KINDS; k++) {
        ours[k] = lower_names[k];
        ours[N_KINDS + k] = class_names[k];
    }
    const char *hint = diag_suggest(name, ours, 2 * N_KINDS);
    if (hint)
        return spec_error(at, d, "unknown optimizer '%s' (did you mean '%s'?)", name, hint);
    return spec_error(at, d, "unknown optimizer '%s'", name);
}

/* ---- parsing -------------------------------------------------------------- */

static int number_in(const struct spec_node *v, double lo, double hi, bool hi_open,
                     double *out, struct diag *d)
{
    if (spec_double(v, out, d))
        return -1;
    if (isinf(hi) && *out < lo)
        return spec_error(v, d, "expected a number >= %g, found %s", lo, v->str);
    if (*out < lo || *out > hi || (hi_open && *out == hi))
        return spec_error(v, d, "expected a number in [%g, %g%c, found %s", lo, hi,
                          hi_open ? ')' : ']', v->str);
    return 0;
}

/* The keys each optimizer accepts: its own constructor arguments, the
 * OptimizerV2 kwargs (lr, decay, clip*), and the keys the Keras >= 2.11
 * optimizers write in get_config() (keras/optimizers/optimizer.py). */
static size_t allowed_keys(enum optim_kind kind, const char **keys)
{
    static const char *const common[] = {
        "name",           "learning_rate", "lr",       "decay",        "clipnorm",
        "clipvalue",      "global_clipnorm", "weight_decay", "use_ema", "ema_momentum",
        "ema_overwrite_frequency", "jit_compile", "is_legacy_optimizer"};
    size_t n = 0;
    for (size_t i = 0; i < sizeof common / sizeof common[0]; i++)
        keys[n++] = common[i];
    switch (kind) {
    case OPT_SGD:
        keys[n++] = "momentum";
        keys[n++] = "nesterov";
        break;
    case OPT_RMSPROP:
        keys[n++] = "rho";
        keys[n++] = "momentum";
        keys[n++] = "epsilon";
        keys[n++] = "centered";
        break;
    case OPT_ADAGRAD:
        keys[n++] = "initial_accumulator_value";
        keys[n++] = "epsilon";
        break;
    case OPT_ADAM:
    case OPT_ADAMW:
        keys[n++] = "beta_1";
        keys[n++] = "beta_2";
        keys[n++] = "epsilon";
        keys[n++] = "amsgrad";
        break;
    case OPT_ADADELTA:
        keys[n++] = "rho";
        keys[n++] = "epsilon";
        break;
    case OPT_NADAM:
        keys[n++] = "schedule_decay";
        /* fall through */
    case OPT_ADAMAX:
        keys[n++] = "beta_1";
        keys[n++] = "beta_2";
        keys[n++] = "epsilon";
        break;
    case OPT_FTRL:
        keys[n++] = "learning_rate_power";
        keys[n++] = "initial_accumulator_value";
        keys[n++] = "l1_regularization_strength";
        keys[n++] = "l2_regularization_strength";
        keys[n++] = "l2_shrinkage_regularization_strength";
        keys[n++] = "beta";
        break;
    }
    return n;
}

/* Nodes remembered while parsing, for checks across keys. */
struct parse_ctx {
    const struct spec_node *legacy_false, *clipnorm, *global_clipnorm, *schedule;
};

static int parse_clip(const struct spec_node *v, double *out, struct diag *d)
{
    /* OptimizerV2: "Expected clipnorm >= 0"; null is unset. */
    if (spec_is_null(v)) {
        *out = -1;
        return 0;
    }
    return number_in(v, 0, INFINITY, false, out, d);
}

static int parse_learning_rate(const struct spec_node *v, struct optimizer *o,
                               struct parse_ctx *ctx, struct diag *d)
{
    if (v->kind == SPEC_MAP) {
        if (lr_schedule_parse(v, &o->schedule, d))
            return -1;
        o->learning_rate = lr_schedule_initial(&o->schedule);
        ctx->schedule = v;
        return 0;
    }
    o->schedule.kind = LR_CONSTANT;
    ctx->schedule = NULL;
    return number_in(v, 0, INFINITY, false, &o->learning_rate, d);
}

static int parse_one(const struct spec_node *key, const struct spec_node *v,
                     struct optimizer *o, struct parse_ctx *ctx, struct diag *d)
{
    const char *k = key->str;
    bool b;
    double x;
    if (!strcmp(k, "lr") && o->kind == OPT_ADAMW)
        /* keras/optimizers/optimizer.py _process_kwargs pops and ignores it */
        return spec_error(key, d, "AdamW ignores 'lr' (a Keras 2.11+ optimizer); use "
                                  "'learning_rate'");
    if (!strcmp(k, "learning_rate") || !strcmp(k, "lr"))
        return parse_learning_rate(v, o, ctx, d);
    if (!strcmp(k, "decay")) {
        if (o->kind == OPT_ADAMW)
            return spec_error(key, d, "AdamW does not accept 'decay' (a Keras 2.11+ optimizer); "
                                      "use a learning-rate schedule");
        /* OptimizerV2: "decay cannot be less than 0". For Nadam it is the
         * momentum schedule's decay, which get_config() writes as "decay". */
        return number_in(v, 0, INFINITY, false, &o->decay, d);
    }
    if (!strcmp(k, "schedule_decay")) /* Nadam's Keras 1 name for it */
        return number_in(v, 0, INFINITY, false, &o->decay, d);
    if (!strcmp(k, "momentum")) /* SGD, RMSprop: "must be between [0, 1]" */
        return number_in(v, 0, 1, false, &o->momentum, d);
    if (!strcmp(k, "rho"))
        return number_in(v, 0, 1, false, &o->rho, d);
    if (!strcmp(k, "beta_1"))
        return number_in(v, 0, 1, true, &o->beta_1, d);
    if (!strcmp(k, "beta_2"))
        return number_in(v, 0, 1, true, &o->beta_2, d);
    if (!strcmp(k, "initial_accumulator_value")) /* Adagrad, Ftrl: "must be non-negative" */
        return number_in(v, 0, INFINITY, false, &o->initial_accumulator_value, d);
    if (!strcmp(k, "epsilon")) {
        /* AdamW keeps epsilon as given; every OptimizerV2 class says
         * `self.epsilon = epsilon or backend_config.epsilon()`, so null and 0
         * both mean 1e-7 there. */
        if (o->kind == OPT_ADAMW)
            return number_in(v, 0, INFINITY, false, &o->epsilon, d);
        if (spec_is_null(v)) {
            o->epsilon = KERAS_EPSILON;
            return 0;
        }
        if (number_in(v, 0, INFINITY, false, &x, d))
            return -1;
        o->epsilon = x == 0 ? KERAS_EPSILON : x;
        return 0;
    }
    if (!strcmp(k, "learning_rate_power")) { /* Ftrl: "needs to be negative or zero" */
        if (spec_double(v, &o->learning_rate_power, d))
            return -1;
        return o->learning_rate_power <= 0
                   ? 0
                   : spec_error(v, d, "expected a number <= 0, found %s", v->str);
    }
    if (!strcmp(k, "l1_regularization_strength"))
        return number_in(v, 0, INFINITY, false, &o->l1, d);
    if (!strcmp(k, "l2_regularization_strength"))
        return number_in(v, 0, INFINITY, false, &o->l2, d);
    if (!strcmp(k, "l2_shrinkage_regularization_strength"))
        return number_in(v, 0, INFINITY, false, &o->l2_shrinkage, d);
    if (!strcmp(k, "beta"))
        return number_in(v, 0, INFINITY, false, &o->beta, d);
    if (!strcmp(k, "nesterov"))
        return spec_bool(v, &o->nesterov, d);
    if (!strcmp(k, "centered"))
        return spec_bool(v, &o->centered, d);
    if (!strcmp(k, "amsgrad"))
        return spec_bool(v, &o->amsgrad, d);
    if (!strcmp(k, "name")) {
        const char *s;
        return spec_string(v, &s, d);
    }
    if (!strcmp(k, "clipnorm")) {
        ctx->clipnorm = spec_is_null(v) ? NULL : key;
        return parse_clip(v, &o->clipnorm, d);
    }
    if (!strcmp(k, "global_clipnorm")) {
        ctx->global_clipnorm = spec_is_null(v) ? NULL : key;
        return parse_clip(v, &o->global_clipnorm, d);
    }
    if (!strcmp(k, "clipvalue"))
        return parse_clip(v, &o->clipvalue, d);
    if (!strcmp(k, "weight_decay")) {
        if (o->kind == OPT_ADAMW) /* adamw.py: "Missing value of `weight_decay`" for null */
            return number_in(v, 0, INFINITY, false, &o->weight_decay, d);
        if (spec_is_null(v))
            return 0;
        if (spec_double(v, &x, d))
            return -1;
        return x == 0 ? 0
                      : spec_error(v, d, "'weight_decay' is not supported by %s yet (only "
                                         "null; adamw has it)", class_names[o->kind]);
    }
    if (!strcmp(k, "use_ema")) {
        if (spec_bool(v, &b, d))
            return -1;
        return b ? spec_error(v, d, "'use_ema' is not supported yet (only false)") : 0;
    }
    /* Unused by Keras itself while use_ema is false, so any valid value is
     * as good as the default. */
    if (!strcmp(k, "ema_momentum"))
        return number_in(v, 0, 1, false, &x, d);
    if (!strcmp(k, "ema_overwrite_frequency")) {
        long f;
        return spec_is_null(v) ? 0 : spec_long(v, &f, d);
    }
    /* XLA compilation changes nothing in the arithmetic. */
    if (!strcmp(k, "jit_compile"))
        return spec_bool(v, &b, d);
    if (!strcmp(k, "is_legacy_optimizer")) {
        if (spec_bool(v, &b, d))
            return -1;
        if (!b)
            ctx->legacy_false = v;
        return 0;
    }
    NNC_ASSERT(!"key passed spec_check_keys but has no parser");
    return -1;
}

static int parse_args(const struct spec_node *args, const char *written, struct optimizer *o,
                      struct diag *d)
{
    if (spec_is_null(args))
        return 0;
    if (args->kind != SPEC_MAP) {
        char buf[80];
        return spec_error(args, d, "the arguments of optimizer '%s' must be a map, found %s",
                          written, spec_describe(args, buf, sizeof buf));
    }
    const char *keys[32];
    size_t n_keys = allowed_keys(o->kind, keys);
    char where[96];
    snprintf(where, sizeof where, "optimizer '%s'", written);
    if (spec_check_keys(args, keys, n_keys, where, d))
        return -1;
    bool seen_lr = false;
    for (size_t i = 0; i < args->n; i++) {
        const char *k = args->keys[i]->str;
        if (strcmp(k, "lr") && strcmp(k, "learning_rate"))
            continue;
        if (seen_lr)
            return spec_error(args->keys[i], d,
                              "both 'lr' and 'learning_rate' given ('lr' is Keras's legacy "
                              "name for 'learning_rate')");
        seen_lr = true;
    }
    struct parse_ctx ctx = {0};
    for (size_t i = 0; i < args->n; i++)
        if (parse_one(args->keys[i], args->items[i], o, &ctx, d))
            return -1;
    if (ctx.clipnorm && ctx.global_clipnorm) { /* both Keras generations refuse it */
        const struct spec_node *later =
            ctx.clipnorm->line > ctx.global_clipnorm->line ||
                    (ctx.clipnorm->line == ctx.global_clipnorm->line &&
                     ctx.clipnorm->col > ctx.global_clipnorm->col)
                ? ctx.clipnorm
                : ctx.global_clipnorm;
        return spec_error(later, d, "'clipnorm' and 'global_clipnorm' cannot both be set");
    }
    if (ctx.schedule && o->kind == OPT_NADAM) /* optimizer_v2/nadam.py raises ValueError */
        return spec_error(ctx.schedule, d,
                          "Nadam does not support learning-rate schedules (as in Keras)");
    /* is_legacy_optimizer: false is the Keras >= 2.11 optimizer. Its updates
     * equal OptimizerV2's except that its RMSprop without momentum and its
     * Adagrad put epsilon inside the square root
     * (keras/optimizers/optimizer_experimental/rmsprop.py, adagrad.py). */
    if (ctx.legacy_false &&
        (o->kind == OPT_ADAGRAD || (o->kind == OPT_RMSPROP && o->momentum == 0)))
        return spec_error(ctx.legacy_false, d,
                          "is_legacy_optimizer: false selects the Keras 2.11+ %s update "
                          "(epsilon inside the square root), which is not supported yet; "
                          "nnc implements the tf.keras OptimizerV2 update "
                          "(is_legacy_optimizer: true)",
                          class_names[o->kind]);
    return 0;
}

static int parse_named(const struct spec_node *name_node, const struct spec_node *args,
                       struct optimizer *out, struct diag *d)
{
    const char *name;
    enum optim_kind kind;
    if (spec_string(name_node, &name, d))
        return -1;
    if (find_kind(name, &kind))
        return unknown_optimizer(name_node, name, d);
    optim_default(kind, out);
    return parse_args(args, name, out, d);
}

int optim_parse(const struct spec_node *n, struct optimizer *out, struct diag *d)
{
    NNC_ASSERT(n);
    if (n->kind == SPEC_SCALAR)
        return parse_named(n, NULL, out, d);
    if (n->kind == SPEC_MAP && spec_get(n, "class_name")) {
        static const char *const keys[] = {"class_name", "config", "module", "registered_name"};
        if (spec_check_keys(n, keys, 4, "a serialized optimizer", d))
            return -1;
        return parse_named(spec_get(n, "class_name"), spec_get(n, "config"), out, d);
    }
    if (n->kind == SPEC_MAP && n->n == 1)
        return parse_named(n->keys[0], n->items[0], out, d);
    return spec_error(n, d,
                      "an optimizer is a name (adam), a one-key map {name: {arguments}}, "
                      "or {class_name: ..., config: {...}}");
}

/* ---- serialization -------------------------------------------------------- */

static void key_double(struct json *j, const char *key, double v)
{
    json_key(j, key);
    json_double(j, v);
}

static void key_bool(struct json *j, const char *key, bool v)
{
    json_key(j, key);
    json_bool(j, v);
}

static void key_clip(struct json *j, const char *key, double v, bool always)
{
    if (v < 0 && !always)
        return;
    json_key(j, key);
    if (v < 0)
        json_null(j);
    else
        json_double(j, v);
}

static void key_learning_rate(struct json *j, const struct optimizer *o)
{
    json_key(j, "learning_rate");
    if (o->schedule.kind == LR_CONSTANT)
        json_double(j, o->learning_rate);
    else
        lr_schedule_to_json(&o->schedule, j);
}

/* AdamW's get_config(): the Keras 2.11+ base keys, then its own. */
static void adamw_config(const struct optimizer *o, struct json *j)
{
    key_double(j, "weight_decay", o->weight_decay);
    key_clip(j, "clipnorm", o->clipnorm, true);
    key_clip(j, "global_clipnorm", o->global_clipnorm, true);
    key_clip(j, "clipvalue", o->clipvalue, true);
    key_bool(j, "use_ema", false);
    key_double(j, "ema_momentum", 0.99);
    json_key(j, "ema_overwrite_frequency");
    json_null(j);
    key_bool(j, "jit_compile", false); /* what Keras records without a GPU */
    key_bool(j, "is_legacy_optimizer", false);
    key_learning_rate(j, o);
    key_double(j, "beta_1", o->beta_1);
    key_double(j, "beta_2", o->beta_2);
    key_double(j, "epsilon", o->epsilon);
    key_bool(j, "amsgrad", o->amsgrad);
}

void optim_to_json(const struct optimizer *o, struct json *j)
{
    json_object_begin(j);
    json_key(j, "class_name");
    json_string(j, class_names[o->kind]);
    json_key(j, "config");
    json_object_begin(j);
    json_key(j, "name");
    json_string(j, class_names[o->kind]);
    if (o->kind == OPT_ADAMW) {
        adamw_config(o, j);
        json_object_end(j);
        json_object_end(j);
        return;
    }
    /* OptimizerV2.get_config(): name, clip* only when set, then each
     * class's get_config() update in source order. */
    key_clip(j, "clipnorm", o->clipnorm, false);
    key_clip(j, "clipvalue", o->clipvalue, false);
    key_clip(j, "global_clipnorm", o->global_clipnorm, false);
    key_learning_rate(j, o);
    key_double(j, "decay", o->decay);
    switch (o->kind) {
    case OPT_SGD:
        key_double(j, "momentum", o->momentum);
        key_bool(j, "nesterov", o->nesterov);
        break;
    case OPT_RMSPROP:
        key_double(j, "rho", o->rho);
        key_double(j, "momentum", o->momentum);
        key_double(j, "epsilon", o->epsilon);
        key_bool(j, "centered", o->centered);
        break;
    case OPT_ADAGRAD:
        key_double(j, "initial_accumulator_value", o->initial_accumulator_value);
        key_double(j, "epsilon", o->epsilon);
        break;
    case OPT_ADAM:
        key_double(j, "beta_1", o->beta_1);
        key_double(j, "beta_2", o->beta_2);
        key_double(j, "epsilon", o->epsilon);
        key_bool(j, "amsgrad", o->amsgrad);
        break;
    case OPT_ADADELTA:
        key_double(j, "rho", o->rho);
        key_double(j, "epsilon", o->epsilon);
        break;
    case OPT_ADAMAX:
    case OPT_NADAM:
        key_double(j, "beta_1", o->beta_1);
        key_double(j, "beta_2", o->beta_2);
        key_double(j, "epsilon", o->epsilon);
        break;
    case OPT_FTRL:
        key_double(j, "initial_accumulator_value", o->initial_accumulator_value);
        key_double(j, "learning_rate_power", o->learning_rate_power);
        key_double(j, "l1_regularization_strength", o->l1);
        key_double(j, "l2_regularization_strength", o->l2);
        key_double(j, "beta", o->beta);
        key_double(j, "l2_shrinkage_regularization_strength", o->l2_shrinkage);
        break;
    case OPT_ADAMW: break;
    }
    json_object_end(j);
    json_object_end(j);
}

/* tfjs-core's optimizers (tfjs-core/src/optimizers/) register SGD, Momentum,
 * RMSProp, Adagrad, Adadelta, Adam and Adamax; loadTrainingConfig
 * camel-cases the keys and each fromConfig reads only its own. Anything
 * else fails to deserialize, and with it tf.loadLayersModel, so: Nadam and
 * AdamW stand in as Adam, Ftrl as Adagrad, a schedule as its initial rate.
 * The exact optimizer is in the checkpoint's compile key. */
void optim_to_tfjs_json(const struct optimizer *o, struct json *j)
{
    static const char *const tfjs_names[] = {"SGD",      "RMSProp", "Adagrad", "Adam", "Adadelta",
                                             "Adamax",   "Adam",    "Adam",    "Adagrad"};
    bool momentum = o->kind == OPT_SGD && o->momentum > 0;
    json_object_begin(j);
    json_key(j, "class_name");
    json_string(j, momentum ? "Momentum" : tfjs_names[o->kind]);
    json_key(j, "config");
    json_object_begin(j);
    key_double(j, "learning_rate", o->learning_rate);
    switch (o->kind) {
    case OPT_SGD:
        if (momentum) {
            key_double(j, "momentum", o->momentum);
            key_bool(j, "use_nesterov", o->nesterov);
        }
        break;
    case OPT_RMSPROP: /* tfjs's RMSProp calls rho "decay" */
        key_double(j, "decay", o->rho);
        key_double(j, "momentum", o->momentum);
        key_double(j, "epsilon", o->epsilon);
        key_bool(j, "centered", o->centered);
        break;
    case OPT_ADAGRAD:
    case OPT_FTRL:
        key_double(j, "initial_accumulator_value", o->initial_accumulator_value);
        break;
    case OPT_ADADELTA:
        key_double(j, "rho", o->rho);
        key_double(j, "epsilon", o->epsilon);
        break;
    case OPT_ADAMAX: /* tfjs's Adamax has the same legacy decay */
        key_double(j, "decay", o->decay);
        /* fall through */
    case OPT_ADAM:
    case OPT_NADAM:
    case OPT_ADAMW:
        key_double(j, "beta_1", o->beta_1);
        key_double(j, "beta_2", o->beta_2);
        key_double(j, "epsilon", o->epsilon);
        break;
    }
    json_object_end(j);
    json_object_end(j);
}

/* ---- state and learning rate ---------------------------------------------- */
/* Slots in Keras's creation order: SGD [momentum]; RMSprop rms, [momentum],
 * [mg]; Adagrad accumulator; Adam and AdamW m, v, [vhat]; Adadelta
 * accum_grad, accum_var; Adamax and Nadam m, v; Ftrl accumulator, linear.
 * Nadam's momentum_cache is a function of the iteration count (see
 * nadam_coefficients), so it needs no slot. */

size_t optim_n_slots(const struct optimizer *o)
{
    switch (o->kind) {
    case OPT_SGD: return o->momentum > 0;
    case OPT_RMSPROP: return 1 + (o->momentum > 0) + o->centered;
    case OPT_ADAGRAD: return 1;
    case OPT_ADAM:
    case OPT_ADAMW: return 2 + o->amsgrad;
    case OPT_ADADELTA:
    case OPT_ADAMAX:
    case OPT_NADAM:
    case OPT_FTRL: return 2;
    }
    return 0;
}

void optim_init_state(const struct optimizer *o, float *state, size_t n_total)
{
    size_t n = optim_n_slots(o) * n_total;
    for (size_t i = 0; i < n; i++)
        state[i] = 0.0f;
    /* The accumulator (slot 0) starts at initial_accumulator_value. */
    if (o->kind == OPT_ADAGRAD || o->kind == OPT_FTRL)
        for (size_t i = 0; i < n_total; i++)
            state[i] = (float)o->initial_accumulator_value;
}

double optim_current_lr(const struct optimizer *o, long iterations)
{
    /* Nadam's _prepare_local reads the learning_rate hyper as is (its
     * `decay` is the momentum schedule's and schedules are refused). */
    if (o->kind == OPT_NADAM)
        return o->learning_rate;
    double step = (double)iterations;
    double lr = o->schedule.kind == LR_CONSTANT ? o->learning_rate
                                                : lr_schedule_at(&o->schedule, step);
    /* OptimizerV2._decayed_lr: the schedule at iterations, then
     * / (1 + decay * iterations). AdamW has no decay. */
    if (o->decay > 0)
        lr /= 1 + o->decay * step;
    return lr;
}
