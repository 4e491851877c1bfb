/* Fuzz target: model files (nnc YAML, Keras to_json/to_yaml, TensorFlow.js
 * model.json). The input is written as a model file and goes the way of
 * `nnc summary` (None dimensions read, with a length of 5) and the start of
 * `nnc train`: model_load, the summary
 * table, then the fit: and data: sections. A model that builds and is small
 * (see run) is then run: adapt, a training step and a prediction on a
 * batch of 2, so that a configuration the checks let through but the layer
 * code cannot handle shows up. Any outcome but a crash, a leak, a hang or a
 * huge allocation is fine; errors are expected. */
#include "../../src/data/dataset.h"
#include "../../src/model_file.h"
#include "../../src/summary.h"
#include "../../src/train.h"
#include "fuzz_run.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_path(0, "model.yaml");
    fuzz_write(path, data, size);
    struct model m;
    struct model_file mf;
    struct diag d;
    /* None dimensions load (as for nnc summary) with a small length. */
    layer_set_free_length(5);
    if (model_load(path, &m, &mf, &d) < 0) {
        fuzz_note("model_load", d.msg);
        return 0;
    }
    fuzz_note("model_load", NULL);
    summary_print(&m, fuzz_sink());
    fuzz_run_model(&m, true);
    if (m.compile.given) {
        struct fit_conf fc;
        struct data_conf dc;
        fit_conf_default(&fc);
        if (fit_conf_parse(mf.fit, &fc, &d) < 0)
            fuzz_note("fit", d.msg);
        else
            fuzz_note("data", data_conf_parse(mf.data, &dc, &d) < 0 ? d.msg : NULL);
        callback_list_free(&fc.callbacks);
    }
    model_free(&m);
    model_file_close(&mf);
    return 0;
}
