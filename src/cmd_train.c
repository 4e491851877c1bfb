/* nnc train MODEL DATA: fit settings from the model file and the command
 * line (the command line wins), data, fit, then the checkpoint. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "data/cache.h"
#include "data/dataset.h"
#include "free_length.h"
#include "interrupt.h"
#include "plot_svg.h"
#include "train.h"

/* mlp.yaml -> mlp.model (in the current directory). */
static char *default_output(const char *model_path)
{
    const char *base = strrchr(model_path, '/');
    base = base ? base + 1 : model_path;
    size_t len = strlen(base);
    const char *dot = strrchr(base, '.');
    if (dot && dot != base)
        len = (size_t)(dot - base);
    char *out = xmalloc(len + 7);
    memcpy(out, base, len);
    strcpy(out + len, ".model");
    return out;
}

static void print_json_history(const struct history *h)
{
    struct json j;
    json_init(&j, stdout);
    json_object_begin(&j);
    json_key(&j, "epochs");
    json_long(&j, (long)h->n_epochs);
    json_key(&j, "history");
    json_object_begin(&j);
    for (size_t c = 0; c < h->n_cols; c++) {
        json_key(&j, h->cols[c]);
        json_array_begin(&j);
        for (size_t e = 0; e < h->n_epochs; e++)
            json_double(&j, h->values[e * h->n_cols + c]);
        json_array_end(&j);
    }
    json_object_end(&j);
    json_object_end(&j);
    fputc('\n', stdout);
}

/* The save hook ModelCheckpoint calls (callback.h). */
struct save_ctx {
    struct model *m;
    struct ckpt_meta *meta;
    float *state;
    size_t n_state;
    struct rng *r;
    const char *model_path;
};

static int save_hook(void *ctx, const char *path, bool weights_only, struct diag *d)
{
    const struct save_ctx *c = ctx;
    /* The random stream goes along, so a restored fit continues it. */
    c->meta->has_rng = true;
    memcpy(c->meta->rng, c->r->s, sizeof c->meta->rng);
    return checkpoint_save(path, c->m, c->meta, c->state, weights_only ? 0 : c->n_state, d);
}

/* Loads the checkpoint at path into the run: weights, optimizer state,
 * epoch, iterations, history and the random stream (--resume, and
 * BackupAndRestore through the restore hook). */
static int restore_run(const struct save_ctx *c, const char *path, struct diag *d)
{
    struct model rm;
    struct model_file rmf;
    struct ckpt_meta rmeta = {0};
    if (load_trained(path, NULL, &rm, &rmf, &rmeta, d) < 0)
        return -1;
    int rc = 0;
    if (rm.n_weights != c->m->n_weights) {
        diag_at(d, path, 0, 0, "the checkpoint's model differs from %s", c->model_path);
        rc = -1;
    }
    if (rc == 0) {
        memcpy(c->m->w, rm.w, rm.n_weights * sizeof *rm.w);
        rc = checkpoint_load_optimizer(&rmf, c->state, c->n_state, d) < 0 ? -1 : 0;
        c->meta->epoch = rmeta.epoch;
        c->meta->iterations = rmeta.iterations;
        history_free(&c->meta->history);
        c->meta->history = rmeta.history;
        memset(&rmeta.history, 0, sizeof rmeta.history);
        if (rmeta.has_rng) /* continue the stream as if never stopped */
            memcpy(c->r->s, rmeta.rng, sizeof c->r->s);
    }
    ckpt_meta_free(&rmeta);
    model_free(&rm);
    model_file_close(&rmf);
    return rc;
}

static int restore_hook(void *ctx, const char *path, struct diag *d)
{
    return restore_run(ctx, path, d);
}

int cmd_train(const struct cli_args *a)
{
    const char *model_path = a->positional[0], *data_path = a->positional[1];
    struct model m;
    struct model_file mf;
    struct diag d;
    struct ckpt_meta meta = {0};
    struct dataset train = {0}, val = {0};
    float *state = NULL;
    char *output = NULL, *val_path = NULL;
    int status = 1, sig = 0;
    bool have_val = false;

    /* None dimensions: the length the DATA files give (--input items give none) */
    struct free_length_source src = {(const char *const *)a->positional + 1,
                                     (size_t)a->n_positional - 1, LENGTH_FOR_TRAIN};
    if (model_load_free(model_path, free_length_of_data, &src, &m, &mf, &d) < 0)
        return report(&d);
    if (model_has_free_dims(&m))
        meta.free_length = layer_free_length();
    if (!m.compile.given) {
        diag_at(&d, mf.path, 0, 0, "no compile: section (nnc train needs at least compile.loss)");
        goto out;
    }
    struct fit_conf fc;
    fit_conf_default(&fc);
    struct save_ctx sc = {&m, &meta, NULL, 0, NULL, model_path};
    struct data_conf dc;
    if (fit_conf_parse(mf.fit, &fc, &d) < 0 || data_conf_parse(mf.data, &dc, &d) < 0)
        goto out;
    if (a->epochs_set) fc.epochs = a->epochs;
    if (a->batch_size_set) fc.batch_size = a->batch_size;
    if (a->validation_split_set) fc.validation_split = a->validation_split;
    if (a->verbose_set) fc.verbose = (int)a->verbose;
    if (a->seed_set) {
        fc.has_seed = true;
        fc.seed = (uint64_t)a->seed;
    }
    if (a->validation_freq_set) {
        fc.validation_freq = a->validation_freq;
        fc.validation_epochs = NULL;
    }
    if (a->validation_steps_set) fc.validation_steps = a->validation_steps;
    if (a->steps_per_epoch_set) fc.steps_per_epoch = a->steps_per_epoch;
    if (a->initial_epoch_set) {
        fc.initial_epoch = a->initial_epoch;
        fc.initial_epoch_set = true;
    }
    if (a->shuffle) {
        fc.shuffle = strcmp(a->shuffle, "false") != 0;
        fc.shuffle_batch = !strcmp(a->shuffle, "batch");
    }
    if (a->validation_data)
        fc.validation_data = val_path = xstrdup(a->validation_data);
    else if (fc.validation_data)
        fc.validation_data = val_path = fit_data_path(model_path, fc.validation_data);
    if (fc.initial_epoch_set && fc.epochs < fc.initial_epoch) {
        diag_at(&d, mf.path, 0, 0, "epochs (%ld) is the last epoch with initial_epoch; it is "
                "less than initial_epoch (%ld)", fc.epochs, fc.initial_epoch);
        goto out;
    }

    data_cache_verbose = fc.verbose == 2;
    int rc = load_data(a, true, &dc, &m, &meta, &train, &d);
    if (rc == -2)
        status = 2;
    if (rc < 0)
        goto out;
    if (!data_path)
        data_path = train.source;
    if (fc.validation_data) {
        const char *vp[1] = {fc.validation_data};
        if (dataset_load_eval_files(vp, 1, &dc, &m, &meta, &val, &d) < 0)
            goto out;
        have_val = true;
    } else if (fc.validation_split > 0) {
        /* Keras: split_at = floor(n * (1 - validation_split)); the tail validates. */
        size_t keep = (size_t)((double)train.n * (1.0 - fc.validation_split));
        if (keep == 0 || keep == train.n) {
            diag_at(&d, data_path, 0, 0,
                    "validation_split %g of %zu samples leaves %s set empty",
                    fc.validation_split, train.n, keep == 0 ? "the training" : "the validation");
            goto out;
        }
        dataset_split_tail(&train, train.n - keep, &val);
        have_val = true;
    }
    /* class_weight weighs the training samples only (Keras's validation
     * goes through evaluate, which has no class_weight). */
    size_t K = model_output_last_dim(&m);
    if (fc.class_weight && m.n_outputs > 1) {
        spec_error(fc.class_weight, &d, "class_weight is only supported for a model with one "
                   "output (as in Keras)");
        goto out;
    }
    if (fit_apply_class_weight(fc.class_weight, &meta, K > 1 ? K : 2, &train, &d) < 0)
        goto out;

    struct rng r;
    uint64_t seed = fc.has_seed ? fc.seed : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    rng_seed(&r, seed);
    size_t n_state = optim_n_slots(&m.compile.optimizer) * m.n_weights;
    state = xcalloc(n_state ? n_state : 1, sizeof *state);
    optim_init_state(&m.compile.optimizer, state, m.n_weights);
    model_init_weights(&m, &r);
    sc.state = state;
    sc.n_state = n_state;
    sc.r = &r;
    if (a->resume && restore_run(&sc, a->resume, &d) < 0)
        goto out;

    /* From here on Ctrl-C and SIGTERM stop the fit at the end of a batch and
     * the checkpoint is still written (signals during the save only set the
     * flag again). */
    interrupt_install();
    fc.callbacks.save = save_hook;
    fc.callbacks.restore = restore_hook;
    fc.callbacks.save_ctx = &sc;
    if (train_fit(&m, &train, have_val ? &val : NULL, &fc, state, &meta, &r, &d) < 0)
        goto out;
    meta.has_rng = true;
    memcpy(meta.rng, r.s, sizeof meta.rng);
    output = a->output ? xstrdup(a->output) : default_output(model_path);
    if (checkpoint_save(output, &m, &meta, state, n_state, &d) < 0)
        goto out;
    if (a->plot && plot_svg_write(a->plot, m.name, &meta.history, &d) < 0)
        goto out;
    sig = interrupt_signal();
    if (sig) {
        long e;
        size_t b;
        if (fc.verbose < 0 ? isatty(STDERR_FILENO) : fc.verbose == 1)
            fputc('\n', stderr); /* end the progress bar's line */
        if (interrupt_where(&e, &b))
            fprintf(stderr, "nnc: interrupted at epoch %ld, batch %zu; wrote %s\n", e, b, output);
        else
            fprintf(stderr, "nnc: interrupted after epoch %ld; wrote %s\n", meta.epoch, output);
    }
    if (a->json)
        print_json_history(&meta.history);
    int verbose = fc.verbose >= 0 ? fc.verbose : 1;
    if (verbose && !sig)
        fprintf(stderr, "nnc: wrote %s\n", output);
    status = 0;
out:
    if (status)
        report(&d);
    callback_list_free(&fc.callbacks);
    free(output);
    free(val_path);
    free(state);
    dataset_free(&train);
    dataset_free(&val);
    ckpt_meta_free(&meta);
    model_free(&m);
    model_file_close(&mf);
    if (sig && status == 0)
        return interrupt_reraise(sig); /* the shell sees 128 + sig: 130, 143 */
    return status;
}
