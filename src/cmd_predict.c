/* nnc predict CHECKPOINT [DATA|-]: streams rows (CSV, or an NPY, NPZ or
 * IDX array) through the model batch by batch and writes one output row
 * per input row: CSV on standard output as soon as each batch is done (so
 * a `--batch-size 1` pipe answers line by line), or an NPY array
 * (--format npy); -o FILE writes either aside and renames it when done. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "data/array.h"
#include "data/csv.h"
#include "data/dataset.h"
#include "predict_out.h"

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

/* Per row of the last axis; a 1-unit sigmoid output thresholds at 0.5. */
static size_t argmax(const float *p, size_t K)
{
    size_t best = 0;
    if (K == 1)
        best = p[0] > 0.5f;
    for (size_t k = 1; k < K; k++)
        if (p[k] > p[best])
            best = k;
    return best;
}

static void print_csv(const float *y, size_t n_out, size_t K, bool by_class,
                      const struct ckpt_meta *meta, FILE *out)
{
    if (by_class) {
        for (size_t row = 0; row < n_out / K; row++) {
            size_t best = argmax(y + row * K, K);
            if (row)
                putc(',', out);
            if (meta->classes && best < meta->n_classes)
                fputs(meta->classes[best], out);
            else
                fprintf(out, "%zu", best);
        }
    } else {
        for (size_t k = 0; k < n_out; k++) {
            if (k)
                putc(',', out);
            print_float(y[k], out);
        }
    }
    putc('\n', out);
}

int cmd_predict(const struct cli_args *a)
{
    struct model m;
    struct model_file mf;
    struct ckpt_meta meta = {0};
    struct diag d;
    struct csv_reader *r = NULL;
    struct array x = {0};
    struct pred_out out = {0};
    int64_t *classes = NULL;
    int status = 1;
    if (load_trained(a->positional[0], &m, &mf, &meta, &d) < 0)
        return report(&d);
    const char *input = a->n_positional > 1 ? a->positional[1] : "-";
    struct data_conf dc;
    if (data_conf_parse(mf.data, &dc, &d) < 0)
        goto out;
    int is_array = predict_open_array(input, &m, &x, &d);
    if (is_array < 0)
        goto out;
    if (!is_array &&
        (csv_open(&r, input, &dc.csv, &d) < 0 || predict_columns(r, &m, &meta, &d) < 0))
        goto out;
    size_t bs = a->batch_size_set ? (size_t)a->batch_size : 32;
    model_workspace(&m, bs);
    size_t n_out = model_output_size(&m), K = model_output_last_dim(&m);
    const struct shape *os = &m.output->out;
    size_t shape[SHAPE_MAX_RANK], rank = (size_t)os->rank - (a->argmax ? 1 : 0);
    for (size_t k = 0; k < rank; k++)
        shape[k] = os->dim[k];
    bool npy = a->format && !strcmp(a->format, "npy");
    if (pred_out_open(&out, a->output, npy, a->argmax, shape, rank, &d) < 0)
        goto out;
    if (npy && a->argmax)
        classes = xcalloc(bs * (n_out / K), sizeof *classes);
    for (size_t done = 0;;) {
        long got;
        if (is_array) {
            got = (long)(x.n - done < bs ? x.n - done : bs);
            if (got && array_read_rows(&x, done, (size_t)got, model_input(&m), &d) < 0)
                goto out;
            done += (size_t)got;
        } else {
            got = csv_read(r, bs, model_input(&m), NULL, &d);
        }
        if (got < 0)
            goto out;
        if (got == 0)
            break;
        model_forward(&m, (size_t)got, false, NULL);
        const float *y = m.output->y;
        if (npy && a->argmax) {
            for (size_t i = 0; i < (size_t)got * (n_out / K); i++)
                classes[i] = (int64_t)argmax(y + i * K, K);
            if (pred_out_npy_rows(&out, classes, (size_t)got, &d) < 0)
                goto out;
        } else if (npy) {
            if (pred_out_npy_rows(&out, y, (size_t)got, &d) < 0)
                goto out;
        } else {
            for (size_t b = 0; b < (size_t)got; b++)
                print_csv(y + b * n_out, n_out, K, a->argmax, &meta, pred_out_file(&out));
            if (pred_out_flush(&out, &d) < 0)
                goto out;
        }
    }
    if (pred_out_finish(&out, &d) < 0)
        goto out;
    status = 0;
out:
    if (status)
        report(&d);
    pred_out_abort(&out);
    free(classes);
    array_free(&x);
    if (r)
        csv_close(r);
    ckpt_meta_free(&meta);
    model_free(&m);
    model_file_close(&mf);
    return status;
}
