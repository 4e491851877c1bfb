/* nnc history CHECKPOINT [--format table|csv|json]: the per-epoch table a
 * fit stored in the checkpoint (loss, metrics, val_*, lr, seconds).
 * table (the default) is right-aligned columns like a pandas DataFrame of
 * Keras's History.history; csv has the header epoch,loss,...; json is an
 * object of arrays like History.history plus "epoch". csv and json carry
 * every digit (the shortest text that reads back); the table rounds. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "free_length.h"
#include "json.h"

/* The shortest %g text that reads back to v ("nan", "inf" when not finite). */
static void format_exact(char *buf, size_t n, double v)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, v);
        if (!isfinite(v) || strtod(buf, NULL) == v)
            return;
    }
}

/* Keras's progress-line precision for values, %g for lr, 2 decimals for
 * seconds. */
static void format_cell(char *buf, size_t n, const char *col, double v)
{
    if (!strcmp(col, "lr"))
        snprintf(buf, n, "%g", v);
    else if (!strcmp(col, "seconds"))
        snprintf(buf, n, "%.2f", v);
    else
        snprintf(buf, n, "%.4f", v);
}

static void print_table(const struct history *h, long first_epoch)
{
    size_t *width = xcalloc(h->n_cols + 1, sizeof *width);
    char buf[64];
    width[0] = strlen("epoch");
    snprintf(buf, sizeof buf, "%ld", first_epoch + (long)h->n_epochs);
    if (strlen(buf) > width[0])
        width[0] = strlen(buf);
    for (size_t c = 0; c < h->n_cols; c++) {
        width[c + 1] = strlen(h->cols[c]);
        for (size_t e = 0; e < h->n_epochs; e++) {
            format_cell(buf, sizeof buf, h->cols[c], h->values[e * h->n_cols + c]);
            if (strlen(buf) > width[c + 1])
                width[c + 1] = strlen(buf);
        }
    }
    printf("%*s", (int)width[0], "epoch");
    for (size_t c = 0; c < h->n_cols; c++)
        printf("  %*s", (int)width[c + 1], h->cols[c]);
    putchar('\n');
    for (size_t e = 0; e < h->n_epochs; e++) {
        printf("%*ld", (int)width[0], first_epoch + (long)e);
        for (size_t c = 0; c < h->n_cols; c++) {
            format_cell(buf, sizeof buf, h->cols[c], h->values[e * h->n_cols + c]);
            printf("  %*s", (int)width[c + 1], buf);
        }
        putchar('\n');
    }
    free(width);
}

static void print_csv(const struct history *h, long first_epoch)
{
    char buf[64];
    fputs("epoch", stdout);
    for (size_t c = 0; c < h->n_cols; c++)
        printf(",%s", h->cols[c]); /* names are identifiers: no quoting needed */
    putchar('\n');
    for (size_t e = 0; e < h->n_epochs; e++) {
        printf("%ld", first_epoch + (long)e);
        for (size_t c = 0; c < h->n_cols; c++) {
            format_exact(buf, sizeof buf, h->values[e * h->n_cols + c]);
            printf(",%s", buf);
        }
        putchar('\n');
    }
}

/* Non-finite values become null: JSON has no NaN. */
static void print_json(const struct history *h, long first_epoch)
{
    struct json j;
    json_init(&j, stdout);
    json_object_begin(&j);
    json_key(&j, "epoch");
    json_array_begin(&j);
    for (size_t e = 0; e < h->n_epochs; e++)
        json_long(&j, first_epoch + (long)e);
    json_array_end(&j);
    for (size_t c = 0; c < h->n_cols; c++) {
        json_key(&j, h->cols[c]);
        json_array_begin(&j);
        for (size_t e = 0; e < h->n_epochs; e++) {
            double v = h->values[e * h->n_cols + c];
            if (isfinite(v))
                json_double(&j, v);
            else
                json_null(&j);
        }
        json_array_end(&j);
    }
    json_object_end(&j);
    putchar('\n');
}

int load_history(const char *path, struct model *m, struct model_file *mf,
                 struct ckpt_meta *meta, struct diag *d)
{
    if (model_load_free(path, free_length_of_checkpoint, NULL, m, mf, d) < 0)
        return -1;
    if (checkpoint_load_meta(mf, meta, d) < 0 ||
        (meta->history.n_epochs == 0 &&
         (diag_at(d, mf->path, 0, 0, "no training history in this checkpoint"), 1))) {
        ckpt_meta_free(meta);
        model_free(m);
        model_file_close(mf);
        return -1;
    }
    return 0;
}

int cmd_history(const struct cli_args *a)
{
    struct model m;
    struct model_file mf;
    struct ckpt_meta meta = {0};
    struct diag d;
    if (load_history(a->positional[0], &m, &mf, &meta, &d) < 0)
        return report(&d);
    /* Rows are the last n_epochs epochs (a history always starts at 1 today,
     * but a checkpoint may count more epochs than it has rows). */
    long first = meta.epoch - (long)meta.history.n_epochs + 1;
    if (first < 1)
        first = 1;
    const char *fmt = a->format ? a->format : "table";
    if (!strcmp(fmt, "csv"))
        print_csv(&meta.history, first);
    else if (!strcmp(fmt, "json"))
        print_json(&meta.history, first);
    else
        print_table(&meta.history, first);
    int status = fflush(stdout) == 0 ? 0 : 1;
    if (status) {
        diag_set(&d, "write error on standard output");
        report(&d);
    }
    ckpt_meta_free(&meta);
    model_free(&m);
    model_file_close(&mf);
    return status;
}
