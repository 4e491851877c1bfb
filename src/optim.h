/* Optimizers with Keras (tf.keras 2) update rules and default
 * hyper-parameters. State is flat: slot s of parameter i lives at
 * state[s * n_total + i], so a step over any parameter range is a plain loop.
 * Per batch: optim_clip once over all trainable ranges, then optim_update
 * over all of them (or optim_step per range), all with the same `iteration`
 * (the steps taken before this one). optim.c parses and serializes,
 * optim_update.c clips and updates. */
#ifndef NNC_OPTIM_H
#define NNC_OPTIM_H

#include <stdbool.h>
#include <stddef.h>

#include "diag.h"
#include "json.h"
#include "lr_schedule.h"
#include "spec.h"

enum optim_kind {
    OPT_SGD, OPT_RMSPROP, OPT_ADAGRAD, OPT_ADAM, OPT_ADADELTA, OPT_ADAMAX, OPT_NADAM,
    OPT_ADAMW, OPT_FTRL,
};

struct optimizer {
    enum optim_kind kind;
    double learning_rate;   /* the constant rate, or the schedule's rate at step 0 */
    struct lr_schedule schedule; /* kind LR_CONSTANT: none */
    double decay;           /* legacy: lr / (1 + decay * iterations); nadam: the
                               momentum schedule's decay (default 0.004) */
    double clipnorm, clipvalue, global_clipnorm; /* < 0: not set */
    double momentum;        /* sgd, rmsprop */
    bool nesterov;          /* sgd */
    double rho;             /* rmsprop, adadelta */
    bool centered;          /* rmsprop */
    double epsilon;         /* all but sgd and ftrl */
    double initial_accumulator_value; /* adagrad, ftrl */
    double beta_1, beta_2;  /* adam, adamax, nadam, adamw */
    bool amsgrad;           /* adam, adamw */
    double weight_decay;    /* adamw */
    double learning_rate_power, l1, l2, l2_shrinkage, beta; /* ftrl */
};

/* One trainable variable: parameters [begin, end) of the flat buffers. */
struct optim_var {
    size_t begin, end;
};

void optim_default(enum optim_kind kind, struct optimizer *out);
/* "adam", {sgd: {learning_rate: 0.01, momentum: 0.9}}, {SGD: {...}}, or Keras
 * {class_name: SGD, config: {...}}; "lr" is accepted for learning_rate, and
 * learning_rate may be a schedule (see lr_schedule.h). */
int optim_parse(const struct spec_node *n, struct optimizer *out, struct diag *d);
/* {"class_name": "Adam", "config": {...}} as tf.keras serializes it. */
void optim_to_json(const struct optimizer *o, struct json *j);
/* The nearest optimizer TensorFlow.js 4.22 can deserialize, for a
 * model.json trainingConfig (tfjs has no Nadam, AdamW or Ftrl, and names
 * RMSprop "RMSProp"). */
void optim_to_tfjs_json(const struct optimizer *o, struct json *j);

/* Number of state slots (each n_total floats). */
size_t optim_n_slots(const struct optimizer *o);
/* Sets the initial state (e.g. adagrad's accumulator) for n_total params. */
void optim_init_state(const struct optimizer *o, float *state, size_t n_total);
/* The learning rate of the step after `iterations` steps: the schedule (or
 * constant rate) with the legacy decay applied. */
double optim_current_lr(const struct optimizer *o, long iterations);
/* Clips the batch's gradient g in place as Keras does before an update
 * (clipvalue, clipnorm per variable, global_clipnorm over vars[0..n_vars)). */
void optim_clip(const struct optimizer *o, float *g, const struct optim_var *vars,
                size_t n_vars);
/* One update of w[begin..end) from gradient g, `iteration` counting the
 * steps taken before this one (0 on the first step). */
void optim_step(const struct optimizer *o, float *w, const float *g, float *state,
                size_t n_total, size_t begin, size_t end, long iteration);
/* optim_step over every range vars[0..n_vars) in one pass, split over nnc's
 * pool (parallel.h) when it has more than one thread; the same result. */
void optim_update(const struct optimizer *o, float *w, const float *g, float *state,
                  size_t n_total, const struct optim_var *vars, size_t n_vars, long iteration);
/* optim_update, then g = 0 over the ranges, block by block while each block
 * of g is still in cache (cheaper than clearing the gradient apart). */
void optim_update_clear(const struct optimizer *o, float *w, float *g, float *state,
                        size_t n_total, const struct optim_var *vars, size_t n_vars,
                        long iteration);

#endif
