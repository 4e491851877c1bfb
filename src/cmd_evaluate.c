/* nnc evaluate CHECKPOINT DATA: loss and metrics on held-out data, printed
 * as Keras prints them ("loss: 0.1234 - accuracy: 0.9500") or as JSON. */
#include <stdio.h>

#include "commands.h"
#include "data/cache.h"
#include "data/dataset.h"
#include "free_length.h"
#include "stateful.h"
#include "train.h"

int load_trained(const char *path, const struct free_length_source *src, struct model *m,
                 struct model_file *mf, struct ckpt_meta *meta, struct diag *d)
{
    if (src ? model_load_free(path, free_length_of_data, (void *)src, m, mf, d) < 0
            : model_load_free(path, free_length_of_checkpoint, NULL, m, mf, d) < 0)
        return -1;
    if (checkpoint_load_weights(m, mf, d) < 0 || checkpoint_load_meta(mf, meta, d) < 0) {
        model_free(m);
        model_file_close(mf);
        return -1;
    }
    return 0;
}

int load_data(const struct cli_args *a, bool train, const struct data_conf *dc,
              const struct model *m, struct ckpt_meta *meta, struct dataset *ds, struct diag *d)
{
    const char *const *paths = (const char *const *)a->positional + 1;
    size_t n_paths = (size_t)a->n_positional - 1;
    bool named = a->inputs.n || a->targets.n;
    if (named && n_paths) {
        diag_set(d, "give the data as DATA or with --input/--target, not both");
        return -2;
    }
    if (!named && !n_paths) {
        diag_set(d, "%s: no data: give DATA, or --input NAME=FILE and --target NAME=FILE",
                 train ? "train" : "evaluate");
        return -2;
    }
    if (named)
        return dataset_load_named(m, a->inputs.item, (size_t)a->inputs.n, a->targets.item,
                                  (size_t)a->targets.n, dc, meta, ds, d);
    return train ? dataset_load_train_files(paths, n_paths, dc, m, ds, meta, d)
                 : dataset_load_eval_files(paths, n_paths, dc, m, meta, ds, d);
}

int cmd_evaluate(const struct cli_args *a)
{
    struct model m;
    struct model_file mf;
    struct ckpt_meta meta = {0};
    struct dataset ds = {0};
    struct diag d;
    int status = 1;
    struct free_length_source src = {(const char *const *)a->positional + 1,
                                     (size_t)a->n_positional - 1, LENGTH_FOR_EVALUATE};
    if (load_trained(a->positional[0], &src, &m, &mf, &meta, &d) < 0)
        return report(&d);
    struct data_conf dc;
    if (!m.compile.given) {
        diag_at(&d, mf.path, 0, 0, "no training config: nothing says which loss to evaluate");
        goto out;
    }
    if (data_conf_parse(mf.data, &dc, &d) < 0)
        goto out;
    data_cache_verbose = a->verbose_set && a->verbose == 2;
    int rc = load_data(a, false, &dc, &m, &meta, &ds, &d);
    if (rc == -2)
        status = 2;
    if (rc < 0)
        goto out;
    long sbs = stateful_batch_size(&m, a->batch_size_set,
                                   a->batch_size_set ? a->batch_size : 32, &d);
    if (sbs < 0)
        goto out;
    size_t bs = (size_t)sbs;
    int verbose = a->verbose_set ? (int)a->verbose : 0;
    if (model_workspace_checked(&m, batch_largest(bs, ds.n), false, &d) < 0)
        goto out;
    double values[MODEL_MAX_VALUES];
    train_evaluate(&m, &ds, bs, verbose, values);
    const char *names[MODEL_MAX_VALUES];
    char storage[MODEL_MAX_VALUES][80];
    size_t n = train_value_names(&m, names, "", storage);
    if (a->json) {
        struct json j;
        json_init(&j, stdout);
        json_object_begin(&j);
        for (size_t i = 0; i < n; i++) {
            json_key(&j, names[i]);
            json_double(&j, values[i]);
        }
        json_object_end(&j);
        fputc('\n', stdout);
    } else {
        for (size_t i = 0; i < n; i++)
            printf("%s%s: %.4f", i ? " - " : "", names[i], values[i]);
        putchar('\n');
    }
    status = fflush(stdout) == 0 ? 0 : 1;
    if (status)
        diag_set(&d, "write error on standard output");
out:
    if (status)
        report(&d);
    dataset_free(&ds);
    ckpt_meta_free(&meta);
    model_free(&m);
    model_file_close(&mf);
    return status;
}
