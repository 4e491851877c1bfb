/* Fuzz target: CSV/TSV data files. The first input byte picks the data:
 * section and the loss, the rest is the file:
 *     bits 0-1  header: detect, false, true, detect
 *     bits 2-4  delimiter: detect, ',', tab, ';', '|', ' ', detect, detect
 *     bits 5-6  loss: sparse_categorical_crossentropy (10 units),
 *               categorical_crossentropy (10 units), mse (1 unit),
 *               binary_crossentropy (1 unit)
 *     bit 7     file name ends in .tsv instead of .csv
 * The file goes the way of `nnc train` (a model whose input is every column
 * but the last, that column the target: dataset_load_train), then of
 * `nnc evaluate` with the training mapping and of `nnc predict` (columns
 * chosen by predict_columns, rows read in small batches). */
#include "../../src/data/dataset.h"
#include "../../src/model_file.h"
#include "fuzz.h"

static const char *const delimiters[] = {NULL, "','", "\"\\t\"", "';'", "'|'", "' '", NULL, NULL};
static const int delimiter_chars[] = {0, ',', '\t', ';', '|', ' ', 0, 0};
static const char *const headers[] = {NULL, "false", "true", NULL};
static const char *const losses[] = {
    "{units: 10, activation: softmax}} ]\ncompile: {loss: sparse_categorical_crossentropy}",
    "{units: 10, activation: softmax}} ]\ncompile: {loss: categorical_crossentropy}",
    "{units: 1}} ]\ncompile: {loss: mse}",
    "{units: 1, activation: sigmoid}} ]\ncompile: {loss: binary_crossentropy}",
};

/* The model file for an input of n_in features and the options byte. */
static int load_model(size_t n_in, unsigned opt, struct model *m, struct model_file *mf)
{
    char text[512];
    int k = snprintf(text, sizeof text,
                     "layers: [ {Input: {shape: [%zu]}}, {Dense: %s\ndata: {target: -1", n_in,
                     losses[(opt >> 5) & 3]);
    if (headers[opt & 3])
        k += snprintf(text + k, sizeof text - (size_t)k, ", header: %s", headers[opt & 3]);
    if (delimiters[(opt >> 2) & 7])
        k += snprintf(text + k, sizeof text - (size_t)k, ", delimiter: %s",
                      delimiters[(opt >> 2) & 7]);
    snprintf(text + k, sizeof text - (size_t)k, "}\n");
    const char *path = fuzz_path(1, "model.yaml");
    fuzz_write(path, text, strlen(text));
    struct diag d;
    if (model_load(path, m, mf, &d) < 0) {
        fprintf(stderr, "fuzz_csv: harness model: %s\n%s", d.msg, text);
        abort();
    }
    return 0;
}

/* nnc predict: the rows in batches of 5. */
static void predict(const char *path, const struct data_conf *dc, const struct model *m,
                    const struct ckpt_meta *meta)
{
    struct csv_reader *r;
    struct diag d;
    if (csv_open(&r, path, &dc->csv, &d) < 0)
        return;
    if (predict_columns(r, m, meta, &d) == 0) {
        size_t n = model_input_size(m);
        float *x = xcalloc(5 * n, sizeof *x);
        long got;
        while ((got = csv_read(r, 5, x, NULL, &d)) > 0)
            ;
        fuzz_note("predict", got < 0 ? d.msg : NULL);
        free(x);
    } else {
        fuzz_note("predict", d.msg);
    }
    csv_close(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    unsigned opt = data[0];
    const char *path = fuzz_path(0, opt & 0x80 ? "data.tsv" : "data.csv");
    fuzz_write(path, data + 1, size - 1);

    /* The column count, to size the model as a user would. */
    struct csv_reader *r;
    struct diag d;
    struct csv_options probe = {.header = -1, .delimiter = delimiter_chars[(opt >> 2) & 7]};
    if (csv_open(&r, path, &probe, &d) < 0) {
        fuzz_note("csv_open", d.msg);
        return 0;
    }
    size_t n_cols = csv_n_columns(r);
    csv_close(r);
    if (n_cols < 2 || n_cols > 4096)
        return 0;

    struct model m;
    struct model_file mf;
    load_model(n_cols - 1, opt, &m, &mf);
    struct data_conf dc;
    struct dataset ds = {0}, ev = {0};
    struct ckpt_meta meta = {0};
    if (data_conf_parse(mf.data, &dc, &d) < 0) {
        fprintf(stderr, "fuzz_csv: harness data section: %s\n", d.msg);
        abort();
    }
    if (dataset_load_train(path, &dc, &m, &ds, &meta, &d) == 0) {
        fuzz_note("train", NULL);
        fuzz_note("evaluate",
                  dataset_load_eval(path, &dc, &m, &meta, &ev, &d) < 0 ? d.msg : NULL);
        predict(path, &dc, &m, &meta);
    } else {
        fuzz_note("train", d.msg);
    }
    dataset_free(&ev);
    dataset_free(&ds);
    ckpt_meta_free(&meta);
    model_free(&m);
    model_file_close(&mf);
    return 0;
}
