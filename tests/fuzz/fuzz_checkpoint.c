/* Fuzz target: checkpoint directories. The input is model.json, optionally
 * followed by the weights and the optimizer state, each after a marker line:
 *     {...model.json...}
 *     ==> weights.bin <==
 *     <float32 bytes>
 *     ==> optimizer.bin <==
 *     <float32 bytes>
 * (tests/fuzz/checkpoint.dict has the markers). The parts become a
 * checkpoint directory that goes the way of evaluate/predict/--resume
 * (model_load, weights, the "nnc" metadata, optimizer state; a small model
 * is run on its weights) and of `nnc history` and `nnc plot` (the stored
 * history printed). */
#include "../../src/checkpoint.h"
#include "../../src/cli.h"
#include "../../src/commands.h"
#include "../../src/model_file.h"
#include "../../src/optim.h"
#include "../../src/plot_svg.h"
#include "fuzz_run.h"

#define SEP_WEIGHTS "\n==> weights.bin <==\n"
#define SEP_OPTIMIZER "\n==> optimizer.bin <==\n"

/* Writes data[0..size) to dir/name, or removes dir/name when data is NULL. */
static void put_part(int slot, const char *name, const uint8_t *data, size_t size)
{
    const char *path = fuzz_path(slot, name);
    if (data)
        fuzz_write(path, data, size);
    else
        unlink(path);
}

static void history_outputs(const char *dir, const struct model *m, const struct ckpt_meta *meta,
                            size_t size)
{
    static bool redirected;
    if (!redirected) { /* cmd_history prints to stdout */
        if (!freopen("/dev/null", "w", stdout))
            fuzz_die("freopen");
        redirected = true;
    }
    plot_svg_print(fuzz_sink(), m->name, &meta->history);
    static const char *const formats[] = {"table", "csv", "json"};
    struct cli_args a = {.cmd = CMD_HISTORY, .n_positional = 1, .format = formats[size % 3]};
    a.positional[0] = dir;
    cmd_history(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *dir = fuzz_path(3, "ckpt");
    if (mkdir(dir, 0700) < 0 && access(dir, W_OK) < 0)
        fuzz_die(dir);
    /* The optimizer marker is looked for after the weights marker. */
    const uint8_t *end = data + size, *w = fuzz_find(data, size, SEP_WEIGHTS);
    const uint8_t *json_end = w ? w : end, *w_start = NULL, *w_end = NULL, *o_start = NULL;
    if (w) {
        w_start = w + strlen(SEP_WEIGHTS);
        const uint8_t *o = fuzz_find(w_start, (size_t)(end - w_start), SEP_OPTIMIZER);
        w_end = o ? o : end;
        if (o)
            o_start = o + strlen(SEP_OPTIMIZER);
    }
    put_part(0, "ckpt/model.json", data, (size_t)(json_end - data));
    put_part(1, "ckpt/weights.bin", w_start, w_start ? (size_t)(w_end - w_start) : 0);
    put_part(2, "ckpt/optimizer.bin", o_start, o_start ? (size_t)(end - o_start) : 0);

    struct model m;
    struct model_file mf;
    struct ckpt_meta meta = {0};
    struct diag d;
    if (model_load(dir, &m, &mf, &d) < 0) {
        fuzz_note("model_load", d.msg);
        return 0;
    }
    int rc = checkpoint_load_weights(&m, &mf, &d);
    fuzz_note("weights", rc < 0 ? d.msg : NULL);
    if (rc == 0) {
        /* --resume: the state nnc train allocates for the loaded model */
        size_t n_state = optim_n_slots(&m.compile.optimizer) * m.n_weights;
        float *state = xcalloc(n_state ? n_state : 1, sizeof *state);
        rc = checkpoint_load_optimizer(&mf, state, n_state, &d);
        fuzz_note("optimizer", rc < 0 ? d.msg : rc == 0 ? "none" : NULL);
        free(state);
        fuzz_run_model(&m, false); /* predict and a --resume step on these weights */
    }
    rc = checkpoint_load_meta(&mf, &meta, &d);
    fuzz_note("meta", rc < 0 ? d.msg : NULL);
    if (rc == 0 && meta.history.n_epochs > 0)
        history_outputs(dir, &m, &meta, size);
    ckpt_meta_free(&meta);
    model_free(&m);
    model_file_close(&mf);
    return 0;
}
