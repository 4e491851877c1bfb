/* fit / evaluate (see train.h). The per-batch path allocates nothing: the
 * workspace, the target batch and the permutation are made before the loop. */
#include "train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/cache.h"
#include "interrupt.h"
#include "loader.h"
#include "progress.h"
#include "stateful.h"

void fit_conf_default(struct fit_conf *fc)
{
    memset(fc, 0, sizeof *fc);
    fc->epochs = 1;
    fc->batch_size = 32;
    fc->shuffle = true;
    fc->verbose = -1;
    fc->validation_freq = 1;
}

int fit_conf_parse(const struct spec_node *fit, struct fit_conf *fc, struct diag *d)
{
    static const char *const keys[] = {"epochs", "batch_size", "shuffle", "validation_split",
                                       "verbose", "seed",
                                       /* fit_options.c: */
                                       "validation_data", "validation_freq", "validation_steps",
                                       "initial_epoch", "steps_per_epoch", "class_weight",
                                       /* callback.c: */
                                       "callbacks"};
    if (!fit || spec_is_null(fit))
        return 0;
    if (spec_check_keys(fit, keys, sizeof keys / sizeof keys[0], "the fit section", d) < 0)
        return -1;
    const struct spec_node *v;
    if ((v = spec_get(fit, "epochs"))) {
        if (spec_long(v, &fc->epochs, d) < 0)
            return -1;
        if (fc->epochs < 0)
            return spec_error(v, d, "epochs must be 0 or more");
    }
    if ((v = spec_get(fit, "batch_size"))) {
        if (spec_long(v, &fc->batch_size, d) < 0)
            return -1;
        if (fc->batch_size <= 0 || fc->batch_size > (1L << 24))
            return spec_error(v, d, "batch_size must be a positive integer");
    }
    if (fit_options_parse(fit, fc, d) < 0)
        return -1;
    if ((v = spec_get(fit, "validation_split"))) {
        if (spec_double(v, &fc->validation_split, d) < 0)
            return -1;
        if (!(fc->validation_split >= 0 && fc->validation_split < 1))
            return spec_error(v, d, "validation_split must be in [0, 1)");
    }
    if ((v = spec_get(fit, "verbose"))) {
        long verbose;
        if (spec_long(v, &verbose, d) < 0)
            return -1;
        if (verbose < 0 || verbose > 2)
            return spec_error(v, d, "verbose must be 0, 1 or 2");
        fc->verbose = (int)verbose;
    }
    if ((v = spec_get(fit, "seed"))) {
        long seed;
        if (spec_long(v, &seed, d) < 0)
            return -1;
        fc->has_seed = true;
        fc->seed = (uint64_t)seed;
    }
    return callback_list_parse(spec_get(fit, "callbacks"), &fc->callbacks, d);
}

size_t train_n_values(const struct model *m)
{
    size_t n = 1 + (m->n_outputs > 1 ? m->n_outputs : 0);
    for (size_t k = 0; k < m->n_outputs; k++)
        n += m->compile.out[k].n_metrics;
    return n;
}

/* Keras's names: "loss", then with several outputs each output's loss as
 * "<output>_loss", then each output's metrics, prefixed "<output>_" when
 * there are several (tf.keras 2 compile_utils: LossesContainer and
 * MetricsContainer._set_metric_names). */
size_t train_value_names(const struct model *m, const char **names, const char *prefix,
                         char (*storage)[80])
{
    bool several = m->n_outputs > 1;
    size_t n = 0;
    snprintf(storage[n], 80, "%sloss", prefix);
    names[n] = storage[n];
    n++;
    for (size_t k = 0; several && k < m->n_outputs; k++, n++) {
        snprintf(storage[n], 80, "%s%s_loss", prefix, model_output_name(m, k));
        names[n] = storage[n];
    }
    for (size_t k = 0; k < m->n_outputs; k++)
        for (size_t i = 0; i < m->compile.out[k].n_metrics; i++, n++) {
            snprintf(storage[n], 80, "%s%s%s%s", prefix, several ? model_output_name(m, k) : "",
                     several ? "_" : "", m->compile.out[k].metrics[i].name);
            names[n] = storage[n];
        }
    NNC_ASSERT(n == train_n_values(m));
    return n;
}

/* An epoch's running values as Keras reports them: the losses are means
 * weighted by batch size (fit's loss trackers), each metric accumulates in
 * its own state (metrics.h: means over rows, or confusion counts). */
struct running {
    double loss_sum, output_sum[MODEL_MAX_IO];
    size_t seen;
    struct metric_state metrics[MODEL_MAX_IO][MODEL_MAX_METRICS];
};

static void running_init(const struct model *m, struct running *run)
{
    memset(run, 0, sizeof *run);
    for (size_t k = 0; k < m->n_outputs; k++)
        for (size_t i = 0; i < m->compile.out[k].n_metrics; i++)
            metric_state_init(&m->compile.out[k].metrics[i], &run->metrics[k][i]);
}

static void running_reset(const struct model *m, struct running *run)
{
    run->loss_sum = 0;
    run->seen = 0;
    for (size_t k = 0; k < m->n_outputs; k++) {
        run->output_sum[k] = 0;
        for (size_t i = 0; i < m->compile.out[k].n_metrics; i++)
            metric_reset(&m->compile.out[k].metrics[i], &run->metrics[k][i]);
    }
}

static void running_free(const struct model *m, struct running *run)
{
    for (size_t k = 0; k < m->n_outputs; k++)
        for (size_t i = 0; i < m->compile.out[k].n_metrics; i++)
            metric_state_free(&run->metrics[k][i]);
}

/* Adds the batch's losses (the total, and each output's) and metrics, then
 * writes the values so far in train_value_names order to values. */
static void accumulate(const struct model *m, size_t B, double loss, const double *per_output,
                       const float *y_batch, struct running *run, double *values)
{
    run->loss_sum += loss * (double)B;
    run->seen += B;
    size_t n = 0;
    values[n++] = run->loss_sum / (double)run->seen;
    for (size_t k = 0; m->n_outputs > 1 && k < m->n_outputs; k++) {
        run->output_sum[k] += per_output[k] * (double)B;
        values[n++] = run->output_sum[k] / (double)run->seen;
    }
    for (size_t k = 0; k < m->n_outputs; k++) {
        const struct output_compile *oc = &m->compile.out[k];
        size_t K = model_output_last_dim_at(m, k);
        size_t rows = B * (model_output_size_at(m, k) / K);
        size_t tw = loss_target_width(&oc->loss, K), rows_per_mask = 1;
        const unsigned char *mask = model_output_mask_at(m, k, &rows_per_mask);
        const float *t = model_target_block(m, B, y_batch, k);
        for (size_t i = 0; i < oc->n_metrics; i++) {
            const struct metric *mt = &oc->metrics[i];
            metric_update_masked(mt, &run->metrics[k][i], m->outputs[k]->y, t, rows, K, tw,
                                 mask, rows_per_mask);
            values[n++] = metric_result(mt, &run->metrics[k][i]);
        }
    }
}

void train_evaluate(struct model *m, const struct dataset *ds, size_t batch_size, int verbose,
                    double *values)
{
    train_evaluate_steps(m, ds, batch_size, 0, verbose, values);
}

void train_evaluate_steps(struct model *m, const struct dataset *ds, size_t batch_size,
                          size_t max_steps, int verbose, double *values)
{
    size_t n_values = train_n_values(m);
    struct running run;
    running_init(m, &run);
    model_workspace_forward(m, batch_largest(batch_size, ds->n));
    model_reset_states(m); /* stateful layers start each evaluation afresh */
    struct loader ld;
    loader_start(&ld, m, ds, batch_size);
    size_t steps = (ds->n + batch_size - 1) / batch_size;
    if (max_steps && max_steps < steps)
        steps = max_steps;
    struct progress p;
    const char *names[MODEL_MAX_VALUES];
    char storage[MODEL_MAX_VALUES][80];
    train_value_names(m, names, "", storage);
    progress_start(&p, stderr, verbose, steps);
    for (size_t s = 0; s < steps; s++) {
        size_t first = s * batch_size;
        size_t B = ds->n - first < batch_size ? ds->n - first : batch_size;
        const struct batch *b = loader_take(&ld, m, (long)s, NULL, first, B);
        const float *y_batch = b->y, *w = ds->w ? b->w : NULL;
        if (s + 1 < steps) {
            size_t next = first + B;
            loader_request(&ld, (long)s + 1, NULL, next,
                           ds->n - next < batch_size ? ds->n - next : batch_size);
        }
        model_forward(m, B, false, NULL);
        double per_output[MODEL_MAX_IO];
        double loss = model_loss(m, B, y_batch, w, false, per_output) + model_penalty(m, B);
        accumulate(m, B, loss, per_output, y_batch, &run, values);
        progress_update(&p, s + 1, names, values, n_values, s + 1 == steps);
    }
    running_free(m, &run);
    loader_stop(&ld);
}

/* The trainable parameters (Keras's trainable variables) as ranges of the
 * flat buffers, in layer and weight order. */
static struct optim_var *trainable_vars(const struct model *m, size_t *n_vars)
{
    size_t n = 0;
    for (size_t l = 0; l < m->n_layers; l++)
        n += m->layers[l].n_params;
    struct optim_var *vars = xcalloc(n ? n : 1, sizeof *vars);
    n = 0;
    for (size_t l = 0; l < m->n_layers; l++) {
        const struct layer *ly = &m->layers[l];
        for (size_t k = 0; ly->trainable && k < ly->n_params; k++) {
            const struct param *pa = &ly->params[k];
            if (pa->trainable)
                vars[n++] = (struct optim_var){pa->offset, pa->offset + shape_size(&pa->shape)};
        }
    }
    *n_vars = n;
    return vars;
}

int train_fit(struct model *m, const struct dataset *train, const struct dataset *val,
              const struct fit_conf *fc, float *state, struct ckpt_meta *meta, struct rng *r,
              struct diag *d)
{
    size_t bs = (size_t)fc->batch_size;
    size_t n_values = train_n_values(m);
    int verbose = fc->verbose >= 0 ? fc->verbose : (isatty(STDERR_FILENO) ? 1 : 2);
    if (train->n == 0) {
        diag_set(d, "%s: no training samples left after the validation split", train->source);
        return -1;
    }
    if (stateful_check_fit(m, fc->batch_size, fc->shuffle, train->n, train->source,
                           val ? val->n : 0, val && val->source ? val->source : "validation data",
                           d) < 0)
        return -1;
    /* One workspace for the training batches and validation's. */
    size_t most = val && val->n > train->n ? val->n : train->n;
    if (model_workspace_checked(m, batch_largest(bs, most), true, d) < 0)
        return -1;
    size_t *perm = xcalloc(train->n, sizeof *perm);
    /* steps_per_epoch: with in-memory data Keras recreates the iterator
     * every epoch (data_adapter.py DataHandler.enumerate_epochs), so each
     * epoch starts a fresh shuffled pass; more steps than a pass continue
     * into another freshly shuffled pass. */
    size_t pass_steps = (train->n + bs - 1) / bs;
    size_t steps = fc->steps_per_epoch ? (size_t)fc->steps_per_epoch : pass_steps;
    size_t n_vars;
    struct optim_var *vars = trainable_vars(m, &n_vars);
    /* When the variables cover every weight, the optimizer's pass can leave
     * all of dw zero for the next step's backward (model.h dw_zero). */
    size_t n_trainable = 0;
    for (size_t v = 0; v < n_vars; v++)
        n_trainable += vars[v].end - vars[v].begin;
    bool all_trainable = n_trainable == m->n_weights;
    struct running run;
    running_init(m, &run);

    /* History columns: loss, metrics, val_loss, val_metrics, lr, seconds. */
    const char *names[2 * MODEL_MAX_VALUES + 2];
    char storage[2 * MODEL_MAX_VALUES][80];
    size_t n_names = train_value_names(m, names, "", storage);
    if (val)
        n_names += train_value_names(m, names + n_names, "val_", storage + n_values);
    if (meta->history.n_cols == 0) {
        char *cols[2 * MODEL_MAX_VALUES + 2];
        for (size_t i = 0; i < n_names; i++)
            cols[i] = (char *)names[i];
        cols[n_names] = "lr";
        cols[n_names + 1] = "seconds";
        history_init(&meta->history, cols, n_names + 2);
    }

    /* Normalization layers learn their statistics from the training data
     * once, before the first epoch (Keras: layer.adapt(data) before fit). */
    if (meta->epoch == 0 && meta->iterations == 0 && model_needs_adapt(m)) {
        model_adapt(m, train->x, train->n, bs);
        cache_release_pages(train);
    }
    /* Batches come from the loader thread; seq numbers them across epochs. */
    struct loader ld;
    loader_start(&ld, m, train, bs);
    long seq = 0;

    int rc = 0;
    struct fit_state fs = {.m = m, .meta = meta, .save = fc->callbacks.save,
                           .restore = fc->callbacks.restore,
                           .save_ctx = fc->callbacks.save_ctx};
    long first_epoch, last_epoch;
    fit_epoch_range(fc, meta->epoch, &first_epoch, &last_epoch);
    model_reset_states(m); /* after adapt's passes: stateful layers start from zero */
    if (callbacks_call(&fc->callbacks, CB_TRAIN_BEGIN, &fs, d) < 0)
        goto fail;
    /* BackupAndRestore may have restored a fit that had got further: it
     * goes on from there to the same last epoch (keras/callbacks.py:
     * the backup's epoch becomes the initial epoch). */
    if (meta->epoch > first_epoch)
        first_epoch = meta->epoch;
    for (long epoch = first_epoch; epoch < last_epoch && !fs.stop; epoch++) {
        if (verbose)
            fprintf(stderr, "Epoch %ld/%ld\n", epoch + 1, last_epoch);
        fs.epoch = epoch;
        if (callbacks_call(&fc->callbacks, CB_EPOCH_BEGIN, &fs, d) < 0)
            goto fail;
        bool validate = val && fit_should_validate(fc, epoch);
        struct progress p;
        progress_start(&p, stderr, verbose, steps);
        running_reset(m, &run);
        double row[2 * MODEL_MAX_VALUES + 2];
        for (size_t s = 0; s < steps; s++) {
            if (s % pass_steps == 0)
                fit_order(fc, r, perm, train->n, bs);
            size_t first = (s % pass_steps) * bs;
            size_t B = train->n - first < bs ? train->n - first : bs;
            const struct batch *b = loader_take(&ld, m, seq, perm, first, B);
            const float *y_batch = b->y, *w = train->w ? b->w : NULL;
            if (s + 1 < steps && (s + 1) % pass_steps != 0) { /* the next batch, same pass */
                size_t next = first + B;
                loader_request(&ld, seq + 1, perm, next, train->n - next < bs ? train->n - next : bs);
            }
            seq++;
            model_forward(m, B, true, r);
            double per_output[MODEL_MAX_IO];
            double loss = model_backward_outputs(m, B, y_batch, w, per_output);
            optim_clip(&m->compile.optimizer, m->dw, vars, n_vars);
            if (all_trainable) { /* the update clears dw for the next backward */
                optim_update_clear(&m->compile.optimizer, m->w, m->dw, state, m->n_weights, vars,
                                   n_vars, meta->iterations);
                m->dw_zero = true;
            } else {
                optim_update(&m->compile.optimizer, m->w, m->dw, state, m->n_weights, vars,
                             n_vars, meta->iterations);
            }
            model_apply_constraints(m);
            meta->iterations++;
            accumulate(m, B, loss, per_output, y_batch, &run, row);
            fs.batch = (long)s;
            fit_state_logs(&fs, names, row, n_values);
            if (callbacks_call(&fc->callbacks, CB_BATCH_END, &fs, d) < 0)
                goto fail;
            if (!isfinite(loss) && !fs.stop) {
                diag_set(d, "the loss became %g at epoch %ld, batch %zu: lower the learning rate "
                            "or check the data", loss, epoch + 1, s + 1);
                goto fail;
            }
            if (fs.stop) { /* Keras checks stop_training after every batch */
                if (!validate)
                    progress_update(&p, s + 1, names, row, n_values, true);
                break;
            }
            if (interrupt_check(epoch + 1, s + 1))
                break; /* the partial epoch's updates stay; meta->epoch does not count it */
            if (s + 1 < steps || !validate)
                progress_update(&p, s + 1, names, row, n_values, s + 1 == steps && !validate);
        }
        if (interrupt_stopped())
            break;
        if (validate) {
            train_evaluate_steps(m, val, bs, (size_t)fc->validation_steps, 0, row + n_values);
            progress_update(&p, steps, names, row, 2 * n_values, true);
        } else if (val) {
            /* Keras leaves val_* out of the epoch's logs; the table has NaN. */
            for (size_t i = 0; i < n_values; i++)
                row[n_values + i] = NAN;
        }
        model_reset_states(m); /* stateful layers: Keras's reset_states between epochs */
        const struct optimizer *o = &m->compile.optimizer;
        row[n_names] = optim_current_lr(o, meta->iterations);
        row[n_names + 1] = progress_now() - p.start;
        history_add(&meta->history, row);
        meta->epoch = epoch + 1;
        fit_state_logs(&fs, names, row, validate ? n_names : n_values);
        if (callbacks_call(&fc->callbacks, CB_EPOCH_END, &fs, d) < 0)
            goto fail;
    }
    if (callbacks_call(&fc->callbacks, CB_TRAIN_END, &fs, d) == 0)
        goto done;
fail:
    rc = -1;
done:
    running_free(m, &run);
    loader_stop(&ld);
    free(perm);
    free(vars);
    return rc;
}
