/* nnc predict CHECKPOINT [DATA|-]: streams rows (CSV, or an NPY, NPZ or
 * IDX array; for several inputs predict_in.c) through the model batch by
 * batch and writes one output row per input row: CSV on standard output
 * as soon as each batch is done (so a `--batch-size 1` pipe answers line
 * by line; several outputs side by side under a header naming their
 * columns, or one with --only), or an NPY array (--format npy, one
 * output); -o FILE writes either aside and renames it when done. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "data/array.h"
#include "data/csv.h"
#include "data/dataset.h"
#include "free_length.h"
#include "predict_in.h"
#include "predict_out.h"
#include "stateful.h"

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

/* One output's values of one sample (n_out of them, K per row), or with
 * by_class its class per row (a name when classes is not NULL). */
static void print_csv(const float *y, size_t n_out, size_t K, bool by_class, char *const *classes,
                      size_t n_classes, FILE *out)
{
    if (by_class) {
        for (size_t row = 0; row < n_out / K; row++) {
            size_t best = argmax(y + row * K, K);
            if (row)
                putc(',', out);
            if (classes && best < n_classes)
                fputs(classes[best], out);
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
}

/* With several outputs, a header line: each output's columns named after
 * it, NAME for one value per sample, else NAME_0, NAME_1, ... */
static void print_header(const struct model *m, const size_t *sel, size_t n_sel, bool by_class,
                         FILE *out)
{
    for (size_t i = 0; i < n_sel; i++) {
        size_t k = sel[i], n = model_output_size_at(m, k);
        if (by_class)
            n /= model_output_last_dim_at(m, k);
        const char *name = model_output_name(m, k);
        for (size_t c = 0; c < n; c++) {
            if (i || c)
                putc(',', out);
            if (n == 1)
                fputs(name, out);
            else
                fprintf(out, "%s_%zu", name, c);
        }
    }
    putc('\n', out);
}

/* The outputs to write: all, or the one --only names. */
static int select_outputs(const struct model *m, const char *only, size_t *sel, size_t *n_sel,
                          struct diag *d)
{
    *n_sel = 0;
    for (size_t k = 0; k < m->n_outputs; k++)
        if (!only || !strcmp(model_output_name(m, k), only))
            sel[(*n_sel)++] = k;
    if (*n_sel > 0)
        return 0;
    const char *names[MODEL_MAX_IO];
    for (size_t k = 0; k < m->n_outputs; k++)
        names[k] = model_output_name(m, k);
    const char *hint = diag_suggest(only, names, m->n_outputs);
    if (hint)
        diag_set(d, "--only: the model has no output '%s' (did you mean '%s'?)", only, hint);
    else
        diag_set(d, "--only: the model has no output '%s'", only);
    return -1;
}

int cmd_predict(const struct cli_args *a)
{
    struct model m;
    struct model_file mf;
    struct ckpt_meta meta = {0};
    struct diag d;
    struct pred_in in = {0};
    struct pred_out out = {0};
    int64_t *classes = NULL;
    int status = 1;
    if (a->inputs.n && a->n_positional > 1) {
        fprintf(stderr, "nnc: predict: give the data as DATA or with --input, not both\n");
        return 2;
    }
    struct free_length_source src = {(const char *const *)a->positional + 1,
                                     (size_t)a->n_positional - 1, LENGTH_FOR_PREDICT};
    if (load_trained(a->positional[0], &src, &m, &mf, &meta, &d) < 0)
        return report(&d);
    const char *input = a->n_positional > 1 ? a->positional[1] : "-";
    struct data_conf dc;
    size_t sel[MODEL_MAX_IO], n_sel;
    bool npy = a->format && !strcmp(a->format, "npy");
    if (data_conf_parse(mf.data, &dc, &d) < 0 || select_outputs(&m, a->only, sel, &n_sel, &d) < 0)
        goto out;
    if (npy && n_sel > 1) {
        diag_set(&d, "--format npy writes one output: choose one of the model's %zu outputs "
                 "with --only NAME", n_sel);
        goto out;
    }
    long sbs = stateful_batch_size(&m, a->batch_size_set,
                                   a->batch_size_set ? a->batch_size : 32, &d);
    if (sbs < 0)
        goto out;
    size_t bs = (size_t)sbs;
    if (pred_in_open(&in, &m, a->inputs.item, (size_t)a->inputs.n, input, &dc, &meta, bs, &d) < 0)
        goto out;
    if (model_workspace_checked(&m, bs, false, &d) < 0)
        goto out;
    /* NPY: the one selected output's shape (without its last axis with
     * --argmax). Class names only when the model has one output. */
    const struct shape *os = &m.outputs[sel[0]]->out;
    size_t shape[SHAPE_MAX_RANK], rank = (size_t)os->rank - (a->argmax ? 1 : 0);
    for (size_t k = 0; k < rank; k++)
        shape[k] = os->dim[k];
    char *const *names = m.n_outputs == 1 ? meta.classes : NULL;
    if (pred_out_open(&out, a->output, npy, a->argmax, shape, rank, &d) < 0)
        goto out;
    size_t n0 = model_output_size_at(&m, sel[0]), K0 = model_output_last_dim_at(&m, sel[0]);
    if (npy && a->argmax)
        classes = xcalloc(bs * (n0 / K0), sizeof *classes);
    if (!npy && n_sel > 1)
        print_header(&m, sel, n_sel, a->argmax, pred_out_file(&out));
    for (;;) {
        long got = pred_in_next(&in, &m, &d);
        if (got < 0)
            goto out;
        if (got == 0)
            break;
        model_forward(&m, (size_t)got, false, NULL);
        const float *y = m.outputs[sel[0]]->y;
        if (npy && a->argmax) {
            for (size_t i = 0; i < (size_t)got * (n0 / K0); i++)
                classes[i] = (int64_t)argmax(y + i * K0, K0);
            if (pred_out_npy_rows(&out, classes, (size_t)got, &d) < 0)
                goto out;
        } else if (npy) {
            if (pred_out_npy_rows(&out, y, (size_t)got, &d) < 0)
                goto out;
        } else {
            FILE *f = pred_out_file(&out);
            for (size_t b = 0; b < (size_t)got; b++) {
                for (size_t i = 0; i < n_sel; i++) {
                    size_t k = sel[i], n = model_output_size_at(&m, k);
                    if (i)
                        putc(',', f);
                    print_csv(m.outputs[k]->y + b * n, n, model_output_last_dim_at(&m, k),
                              a->argmax, names, meta.n_classes, f);
                }
                putc('\n', f);
            }
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
    pred_in_close(&in);
    ckpt_meta_free(&meta);
    model_free(&m);
    model_file_close(&mf);
    return status;
}
