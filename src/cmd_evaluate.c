/* nnc evaluate CHECKPOINT DATA: loss and metrics on held-out data, printed
 * as Keras prints them ("loss: 0.1234 - accuracy: 0.9500") or as JSON. */
#include <stdio.h>

#include "commands.h"
#include "data/dataset.h"
#include "train.h"

int load_trained(const char *path, struct model *m, struct model_file *mf,
                 struct ckpt_meta *meta, struct diag *d)
{
    if (model_load(path, m, mf, d) < 0)
        return -1;
    if (checkpoint_load_weights(m, mf, d) < 0 || checkpoint_load_meta(mf, meta, d) < 0) {
        model_free(m);
        model_file_close(mf);
        return -1;
    }
    return 0;
}

int cmd_evaluate(const struct cli_args *a)
{
    struct model m;
    struct model_file mf;
    struct ckpt_meta meta = {0};
    struct dataset ds = {0};
    struct diag d;
    int status = 1;
    if (load_trained(a->positional[0], &m, &mf, &meta, &d) < 0)
        return report(&d);
    struct data_conf dc;
    if (!m.compile.given) {
        diag_at(&d, mf.path, 0, 0, "no training config: nothing says which loss to evaluate");
        goto out;
    }
    if (data_conf_parse(mf.data, &dc, &d) < 0 ||
        dataset_load_eval_files(a->positional + 1, (size_t)a->n_positional - 1, &dc, &m, &meta,
                                &ds, &d) < 0)
        goto out;
    size_t bs = a->batch_size_set ? (size_t)a->batch_size : 32;
    int verbose = a->verbose_set ? (int)a->verbose : 0;
    double values[1 + MODEL_MAX_METRICS];
    train_evaluate(&m, &ds, bs, verbose, values);
    const char *names[1 + MODEL_MAX_METRICS];
    char storage[1 + MODEL_MAX_METRICS][80];
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
