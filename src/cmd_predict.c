/* nnc predict CHECKPOINT [DATA|-]: streams CSV rows through the model and
 * writes one CSV row per input row as soon as each batch is done, so a
 * `--batch-size 1` pipe answers line by line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "data/csv.h"
#include "data/dataset.h"

/* The shortest %g text that reads back as the same float. */
static void print_float(float v, FILE *out)
{
    char buf[32];
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)v);
        if (strtof(buf, NULL) == v)
            break;
    }
    fputs(buf, out);
}

int cmd_predict(const struct cli_args *a)
{
    struct model m;
    struct model_file mf;
    struct ckpt_meta meta = {0};
    struct diag d;
    struct csv_reader *r = NULL;
    int status = 1;
    if (load_trained(a->positional[0], &m, &mf, &meta, &d) < 0)
        return report(&d);
    const char *input = a->n_positional > 1 ? a->positional[1] : "-";
    struct data_conf dc;
    if (data_conf_parse(mf.data, &dc, &d) < 0)
        goto out;
    if (csv_open(&r, input, &dc.csv, &d) < 0 || predict_columns(r, &m, &meta, &d) < 0)
        goto out;
    size_t bs = a->batch_size_set ? (size_t)a->batch_size : 32;
    model_workspace(&m, bs);
    size_t n_out = model_output_size(&m), K = model_output_last_dim(&m);
    size_t line = csv_has_header(r) ? 2 : 1; /* of the batch's first row */
    for (;;) {
        long got = csv_read(r, bs, model_input(&m), NULL, &d);
        if (got < 0)
            goto out;
        if (got == 0)
            break;
        if (dataset_check_input(&m, csv_path(r), line, model_input(&m), (size_t)got, NULL, &d) < 0)
            goto out;
        line += (size_t)got;
        model_forward(&m, (size_t)got, false, NULL);
        for (size_t b = 0; b < (size_t)got; b++) {
            const float *y = m.output->y + b * n_out;
            if (a->argmax) {
                /* Per row of the last axis; a 1-unit sigmoid output thresholds at 0.5. */
                for (size_t row = 0; row < n_out / K; row++) {
                    const float *p = y + row * K;
                    size_t best = 0;
                    if (K == 1)
                        best = p[0] > 0.5f;
                    for (size_t k = 1; k < K; k++)
                        if (p[k] > p[best])
                            best = k;
                    if (row)
                        putchar(',');
                    if (meta.classes && best < meta.n_classes)
                        fputs(meta.classes[best], stdout);
                    else
                        printf("%zu", best);
                }
            } else {
                for (size_t k = 0; k < n_out; k++) {
                    if (k)
                        putchar(',');
                    print_float(y[k], stdout);
                }
            }
            putchar('\n');
        }
        if (fflush(stdout) != 0) {
            diag_set(&d, "write error on standard output");
            goto out;
        }
    }
    status = 0;
out:
    if (status)
        report(&d);
    if (r)
        csv_close(r);
    ckpt_meta_free(&meta);
    model_free(&m);
    model_file_close(&mf);
    return status;
}
