/* checkpoint: save -> model_load -> load round trips (weights bit-exact,
 * meta, optimizer state), the atomic replace and its failure modes, foreign
 * TensorFlow.js manifests (any order, several files, cell names), damaged
 * inputs (each a located error), and, when the tools are installed, that
 * model.json is strict JSON (python3) and that TensorFlow.js loads the
 * checkpoint and predicts what nnc predicts (node + tests/tfjs). */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../src/checkpoint.h"
#include "fixtures.h"

static const char *const tiny_yaml =
    "name: tiny\n"
    "layers:\n"
    "  - Dense: {units: 4, activation: relu, input_shape: [3]}\n"
    "  - Dropout: 0.5\n"
    "  - Dense: {units: 2, activation: softmax}\n"
    "compile:\n"
    "  optimizer: adam\n"
    "  loss: categorical_crossentropy\n"
    "  metrics: [accuracy]\n";

/* ---- helpers ------------------------------------------------------------- */

static char ws[64];      /* per-test scratch directory */
static char ckpt[128];   /* ws/tiny.model */

static void ws_path(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", ws, name);
}

/* Replaces the first occurrence of `from` (which must be there). */
static void replace_in_file(const char *path, const char *from, const char *to)
{
    size_t n;
    char *s = file_contents(path, &n);
    char *at = strstr(s, from);
    ck_assert_msg(at != NULL, "'%s' not in %s", from, path);
    size_t head = (size_t)(at - s), fl = strlen(from), tl = strlen(to);
    char *out = malloc(n - fl + tl + 1);
    memcpy(out, s, head);
    memcpy(out + head, to, tl);
    memcpy(out + head + tl, at + fl, n - head - fl);
    file_put(path, out, n - fl + tl);
    free(out);
    free(s);
}

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

static size_t count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    ck_assert(d != NULL);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

static void setup(void)
{
    snprintf(ws, sizeof ws, "/tmp/nnc-ckpt-XXXXXX");
    ck_assert(mkdtemp(ws) != NULL);
    snprintf(ckpt, sizeof ckpt, "%s/tiny.model", ws);
}

static void teardown(void)
{
    char cmd[160];
    snprintf(cmd, sizeof cmd, "chmod -R u+w '%s' && rm -rf '%s'", ws, ws);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", ws);
}

/* Builds a model from YAML with seeded weights. */
static void yaml_model(const char *yaml, struct model *m, struct model_file *mf, uint64_t seed)
{
    char path[128];
    ws_path(path, sizeof path, "tiny.yaml");
    file_put(path, yaml, strlen(yaml));
    struct diag d;
    ck_assert_msg(model_load(path, m, mf, &d) == 0, "%s", d.msg);
    struct rng r;
    rng_seed(&r, seed);
    model_init_weights(m, &r);
}

static void tiny_model(struct model *m, struct model_file *mf, uint64_t seed)
{
    yaml_model(tiny_yaml, m, mf, seed);
}

static void fill_meta(struct ckpt_meta *meta)
{
    memset(meta, 0, sizeof *meta);
    meta->n_classes = 2;
    meta->classes = malloc(2 * sizeof *meta->classes);
    meta->classes[0] = strdup("setosa");
    meta->classes[1] = strdup("vers \"icolor\"\n");
    meta->n_columns = 5;
    meta->n_features = 3;
    meta->feature_cols = malloc(3 * sizeof(size_t));
    meta->feature_names = malloc(3 * sizeof(char *));
    for (size_t i = 0; i < 3; i++) {
        meta->feature_cols[i] = i + 1;
        meta->feature_names[i] = strdup(i == 0 ? "a" : i == 1 ? "b" : "c");
    }
    meta->n_target = 1;
    meta->target_cols = malloc(sizeof(size_t));
    meta->target_cols[0] = 4;
    meta->epoch = 3;
    meta->iterations = 42;
    char *cols[] = {"loss", "accuracy", "lr"};
    history_init(&meta->history, cols, 3);
    double rows[3][3] = {{1.25, 0.5, 1e-3}, {0.1 + 0.2, 2.0 / 3.0, 1e-3}, {NAN, 1.0, 5e-310}};
    for (int e = 0; e < 3; e++)
        history_add(&meta->history, rows[e]);
}

static float *make_state(const struct model *m, size_t *n_state)
{
    *n_state = optim_n_slots(&m->compile.optimizer) * m->n_weights;
    ck_assert_uint_gt(*n_state, 0);
    float *s = malloc(*n_state * sizeof *s);
    for (size_t i = 0; i < *n_state; i++)
        s[i] = (float)i * 0.001f - 0.02f;
    return s;
}

static void save_ok(const char *dir, const struct model *m, const struct ckpt_meta *meta,
                    const float *state, size_t n_state)
{
    struct diag d;
    ck_assert_msg(checkpoint_save(dir, m, meta, state, n_state, &d) == 0, "%s", d.msg);
}

/* model_load + checkpoint_load_weights; returns 0 or -1 with d set. */
static int load_trained(const char *path, struct model *m, struct model_file *mf, struct diag *d)
{
    if (model_load(path, m, mf, d) < 0)
        return -1;
    if (checkpoint_load_weights(m, mf, d) < 0) {
        model_free(m);
        model_file_close(mf);
        return -1;
    }
    return 0;
}

static void assert_same_weights(const struct model *a, const struct model *b)
{
    ck_assert_uint_eq(a->n_weights, b->n_weights);
    ck_assert(memcmp(a->w, b->w, a->n_weights * sizeof *a->w) == 0);
}

/* A saved tiny checkpoint in ckpt; m keeps its weights. */
static void saved_tiny(struct model *m, struct model_file *mf)
{
    tiny_model(m, mf, 7);
    struct ckpt_meta meta;
    fill_meta(&meta);
    size_t n_state;
    float *state = make_state(m, &n_state);
    save_ok(ckpt, m, &meta, state, n_state);
    free(state);
    ckpt_meta_free(&meta);
}

/* ---- round trips ------------------------------------------------------------ */

START_TEST(test_roundtrip)
{
    struct model m, m2;
    struct model_file mf, mf2;
    struct diag d;
    tiny_model(&m, &mf, 1234);
    ck_assert_uint_eq(m.n_weights, 3 * 4 + 4 + 4 * 2 + 2);
    m.w[0] = -0.0f;
    m.w[1] = 1e-40f; /* subnormal */
    m.w[2] = NAN;    /* a diverged run still saves what it has */
    struct ckpt_meta meta, back;
    fill_meta(&meta);
    size_t n_state;
    float *state = make_state(&m, &n_state);
    save_ok(ckpt, &m, &meta, state, n_state);

    ck_assert_int_eq(load_trained(ckpt, &m2, &mf2, &d), 0);
    ck_assert_str_eq(m2.name, "tiny");
    ck_assert_uint_eq(m2.n_layers, m.n_layers);
    for (size_t i = 0; i < m.n_layers; i++)
        ck_assert_str_eq(m2.layers[i].name, m.layers[i].name);
    assert_same_weights(&m, &m2);
    ck_assert(m2.compile.given);
    ck_assert_int_eq(m2.compile.optimizer.kind, OPT_ADAM);
    ck_assert_int_eq(m2.compile.out[0].loss.kind, LOSS_CATEGORICAL_CE);
    ck_assert_uint_eq(m2.compile.out[0].n_metrics, 1);
    ck_assert_str_eq(m2.compile.out[0].metrics[0].name, "accuracy");

    ck_assert_msg(checkpoint_load_meta(&mf2, &back, &d) == 0, "%s", d.msg);
    ck_assert_uint_eq(back.n_classes, 2);
    ck_assert_str_eq(back.classes[0], "setosa");
    ck_assert_str_eq(back.classes[1], "vers \"icolor\"\n");
    ck_assert_uint_eq(back.n_columns, 5);
    ck_assert_uint_eq(back.n_features, 3);
    ck_assert_uint_eq(back.feature_cols[2], 3);
    ck_assert_str_eq(back.feature_names[1], "b");
    ck_assert_uint_eq(back.n_target, 1);
    ck_assert_uint_eq(back.target_cols[0], 4);
    ck_assert_int_eq(back.epoch, 3);
    ck_assert_int_eq(back.iterations, 42);
    ck_assert_uint_eq(back.history.n_cols, 3);
    ck_assert_uint_eq(back.history.n_epochs, 3);
    ck_assert_str_eq(back.history.cols[2], "lr");
    for (size_t i = 0; i < 9; i++) {
        double a = meta.history.values[i], b = back.history.values[i];
        ck_assert_msg(a == b || (isnan(a) && isnan(b)), "history[%zu]: %.17g vs %.17g", i, a, b);
    }

    float *state2 = calloc(n_state, sizeof *state2);
    ck_assert_int_eq(checkpoint_load_optimizer(&mf2, state2, n_state, &d), 1);
    ck_assert(memcmp(state, state2, n_state * sizeof *state) == 0);

    free(state);
    free(state2);
    ckpt_meta_free(&meta);
    ckpt_meta_free(&back);
    model_free(&m);
    model_free(&m2);
    model_file_close(&mf);
    model_file_close(&mf2);
}
END_TEST

/* A loss with arguments round trips through the top-level compile: key,
 * while trainingConfig keeps the plain name that tfjs can load. */
START_TEST(test_compile_arguments_roundtrip)
{
    static const char *const yaml =
        "layers:\n"
        "  - Dense: {units: 3, input_dim: 2}\n"
        "compile:\n"
        "  optimizer: {sgd: {learning_rate: 0.05, momentum: 0.9, nesterov: true}}\n"
        "  loss: {categorical_crossentropy: {from_logits: true, label_smoothing: 0.1}}\n"
        "  metrics: [acc, mse]\n";
    struct model m, m2;
    struct model_file mf, mf2;
    struct diag d;
    yaml_model(yaml, &m, &mf, 3);
    save_ok(ckpt, &m, NULL, NULL, 0);
    ck_assert_msg(load_trained(ckpt, &m2, &mf2, &d) == 0, "%s", d.msg);
    assert_same_weights(&m, &m2);
    ck_assert_int_eq(m2.compile.out[0].loss.kind, LOSS_CATEGORICAL_CE);
    ck_assert(m2.compile.out[0].loss.from_logits);
    ck_assert(m2.compile.out[0].loss.label_smoothing == 0.1);
    ck_assert_int_eq(m2.compile.optimizer.kind, OPT_SGD);
    ck_assert(m2.compile.optimizer.learning_rate == 0.05);
    ck_assert(m2.compile.optimizer.momentum == 0.9);
    ck_assert(m2.compile.optimizer.nesterov);
    ck_assert_uint_eq(m2.compile.out[0].n_metrics, 2);
    ck_assert_str_eq(m2.compile.out[0].metrics[0].name, "acc");
    ck_assert_str_eq(m2.compile.out[0].metrics[1].name, "mse");
    if (system("python3 -c pass >/dev/null 2>&1") == 0) {
        char cmd[512];
        snprintf(cmd, sizeof cmd,
                 "python3 -c 'import json,sys\n"
                 "d = json.load(open(sys.argv[1]))\n"
                 "assert d[\"trainingConfig\"][\"loss\"] == \"categorical_crossentropy\"\n"
                 "' '%s/model.json'",
                 ckpt);
        ck_assert_int_eq(system(cmd), 0);
    }
    model_free(&m);
    model_free(&m2);
    model_file_close(&mf);
    model_file_close(&mf2);
}
END_TEST

/* weights.bin is float32 little-endian whatever the host. */
START_TEST(test_weights_bin_encoding)
{
    struct model m;
    struct model_file mf;
    tiny_model(&m, &mf, 5);
    m.w[0] = 1.0f;   /* 0x3f800000 */
    m.w[1] = -2.5f;  /* 0xc0200000 */
    save_ok(ckpt, &m, NULL, NULL, 0);
    char path[192];
    snprintf(path, sizeof path, "%s/weights.bin", ckpt);
    size_t n;
    unsigned char *b = (unsigned char *)file_contents(path, &n);
    ck_assert_uint_eq(n, 4 * m.n_weights);
    static const unsigned char want[8] = {0, 0, 0x80, 0x3f, 0, 0, 0x20, 0xc0};
    ck_assert(memcmp(b, want, 8) == 0);
    free(b);
    /* No optimizer state: no optimizer.bin, and load_optimizer says absent. */
    snprintf(path, sizeof path, "%s/optimizer.bin", ckpt);
    ck_assert(!exists(path));
    struct model m2;
    struct model_file mf2;
    struct diag d;
    ck_assert_int_eq(load_trained(ckpt, &m2, &mf2, &d), 0);
    float s;
    ck_assert_int_eq(checkpoint_load_optimizer(&mf2, &s, 1, &d), 0);
    struct ckpt_meta meta;
    ck_assert_int_eq(checkpoint_load_meta(&mf2, &meta, &d), 0);
    ck_assert_ptr_null(meta.classes);
    ck_assert_uint_eq(meta.n_features, 0);
    ck_assert_int_eq(meta.epoch, 0);
    ckpt_meta_free(&meta);
    model_free(&m);
    model_free(&m2);
    model_file_close(&mf);
    model_file_close(&mf2);
}
END_TEST

/* Loading from the model.json path (not the directory) finds weights.bin
 * beside it. */
START_TEST(test_load_from_json_path)
{
    struct model m, m2;
    struct model_file mf, mf2;
    struct diag d;
    saved_tiny(&m, &mf);
    char path[192];
    snprintf(path, sizeof path, "%s/model.json", ckpt);
    ck_assert_msg(load_trained(path, &m2, &mf2, &d) == 0, "%s", d.msg);
    ck_assert_ptr_null(mf2.dir);
    assert_same_weights(&m, &m2);
    model_free(&m);
    model_free(&m2);
    model_file_close(&mf);
    model_file_close(&mf2);
}
END_TEST

START_TEST(test_model_json_is_strict_json)
{
    if (system("python3 -c pass >/dev/null 2>&1") != 0)
        return; /* no python3: skip */
    struct model m;
    struct model_file mf;
    saved_tiny(&m, &mf);
    char cmd[2048];
    /* parse_constant rejects NaN/Infinity, which JSON.parse (tfjs) refuses. */
    snprintf(cmd, sizeof cmd,
             "python3 -c 'import json,sys\n"
             "def bad(c): sys.exit(\"non-JSON constant \" + c)\n"
             "d = json.load(open(sys.argv[1]), parse_constant=bad)\n"
             "assert d[\"format\"] == \"layers-model\"\n"
             "assert d[\"generatedBy\"].startswith(\"nnc \")\n"
             "assert d[\"convertedBy\"] is None\n"
             "t = d[\"modelTopology\"]\n"
             "assert t[\"class_name\"] == \"Sequential\" and t[\"config\"][\"name\"] == \"tiny\"\n"
             "ls = t[\"config\"][\"layers\"]\n"
             "assert [l[\"class_name\"] for l in ls] == [\"Dense\", \"Dropout\", \"Dense\"]\n"
             "assert ls[0][\"config\"][\"batch_input_shape\"] == [None, 3]\n"
             "assert \"batch_input_shape\" not in ls[1][\"config\"]\n"
             "assert d[\"trainingConfig\"][\"metrics\"] == [\"accuracy\"]\n"
             "w = d[\"weightsManifest\"]\n"
             "assert w[0][\"paths\"] == [\"weights.bin\"]\n"
             "assert [(e[\"name\"], e[\"shape\"], e[\"dtype\"]) for e in w[0][\"weights\"]] == "
             "[(\"dense/kernel\", [3, 4], \"float32\"), (\"dense/bias\", [4], \"float32\"), "
             "(\"dense_1/kernel\", [4, 2], \"float32\"), (\"dense_1/bias\", [2], \"float32\")]\n"
             "assert d[\"nnc\"][\"history\"][\"rows\"][2][0] is None\n"
             "assert d[\"nnc\"][\"optimizer_state\"] == \"optimizer.bin\"\n"
             "' '%s/model.json'",
             ckpt);
    ck_assert_int_eq(system(cmd), 0);
    model_free(&m);
    model_file_close(&mf);
}
END_TEST

/* TensorFlow.js's loadLayersModel (through tests/tfjs/predict.js) loads the
 * checkpoint and predicts what model_forward predicts. */
START_TEST(test_tfjs_predicts_the_same)
{
    if (access("tests/tfjs/predict.js", R_OK) != 0 ||
        access("tests/tfjs/node_modules/@tensorflow/tfjs", R_OK) != 0 ||
        system("node -e 0 >/dev/null 2>&1") != 0)
        return; /* no node or no tfjs installed: skip */
    struct model m;
    struct model_file mf;
    saved_tiny(&m, &mf);
    enum { B = 5 };
    float x[B][3];
    char csv[512], path[128];
    size_t k = 0;
    for (int i = 0; i < B; i++) {
        for (int j = 0; j < 3; j++) {
            x[i][j] = (float)(i - 2) * 0.75f + (float)j * 0.5f;
            k += (size_t)snprintf(csv + k, sizeof csv - k, "%s%.9g", j ? "," : "", x[i][j]);
        }
        k += (size_t)snprintf(csv + k, sizeof csv - k, "\n");
    }
    ws_path(path, sizeof path, "x.csv");
    file_put(path, csv, k);
    model_workspace(&m, B);
    memcpy(model_input(&m), x, sizeof x);
    struct rng r;
    rng_seed(&r, 1);
    model_forward(&m, B, false, &r);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "node tests/tfjs/predict.js '%s' '%s' 2>&1", ckpt, path);
    FILE *p = popen(cmd, "r");
    ck_assert(p != NULL);
    char out[4096];
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    int status = pclose(p);
    ck_assert_msg(status == 0, "predict.js failed: %s", out);
    const char *s = out;
    for (size_t i = 0; i < B * 2; i++) {
        char *end;
        double v = strtod(s, &end);
        ck_assert_msg(end != s, "bad output: %s", out);
        double want = m.output->y[i];
        ck_assert_msg(fabs(v - want) <= 1e-5 * fabs(want) + 1e-7, "[%zu]: tfjs %.9g, nnc %.9g",
                      i, v, want);
        s = end + 1;
    }
    model_free(&m);
    model_file_close(&mf);
}
END_TEST

/* A TensorFlow.js-style manifest: weights in another order, split over
 * several groups and files (a float cut across two files), a "cell" name,
 * and optimizer weights to skip; no "nnc" key. */
START_TEST(test_foreign_manifest)
{
    char dir[128], path[192];
    ws_path(dir, sizeof dir, "foreign");
    ck_assert_int_eq(mkdir(dir, 0777), 0);
    static const char json[] =
        "{\"format\": \"layers-model\", \"generatedBy\": \"TensorFlow.js tfjs-layers v4.22.0\",\n"
        " \"convertedBy\": null,\n"
        " \"modelTopology\": {\"class_name\": \"Sequential\", \"config\": {\"name\": \"f\",\n"
        "   \"layers\": [{\"class_name\": \"Dense\", \"config\": {\"name\": \"dense\",\n"
        "     \"units\": 2, \"batch_input_shape\": [null, 3]}}]},\n"
        "   \"keras_version\": \"tfjs-layers 4.22.0\", \"backend\": \"tensor_flow.js\"},\n"
        " \"weightsManifest\": [\n"
        "  {\"paths\": [\"b.bin\"], \"weights\": [\n"
        "    {\"name\": \"dense/bias\", \"shape\": [2], \"dtype\": \"float32\"},\n"
        "    {\"name\": \"Adam/iter\", \"shape\": [1], \"dtype\": \"float32\",\n"
        "     \"group\": \"optimizer\"}]},\n"
        "  {\"paths\": [\"k1.bin\", \"k2.bin\"], \"weights\": [\n"
        "    {\"name\": \"dense/cell/kernel\", \"shape\": [3, 2], \"dtype\": \"float32\"}]}]}\n";
    snprintf(path, sizeof path, "%s/model.json", dir);
    file_put(path, json, strlen(json));
    static const unsigned char b[] = {0, 0, 0, 0x3f, 0, 0, 0x80, 0xbf, 0, 0, 0x40, 0x40};
    unsigned char k[24];
    for (int i = 0; i < 6; i++) { /* kernel[i] = i + 1 */
        float v = (float)(i + 1);
        uint32_t u;
        memcpy(&u, &v, 4);
        for (int j = 0; j < 4; j++)
            k[4 * i + j] = (unsigned char)(u >> (8 * j));
    }
    snprintf(path, sizeof path, "%s/b.bin", dir);
    file_put(path, b, sizeof b);
    snprintf(path, sizeof path, "%s/k1.bin", dir);
    file_put(path, k, 10);
    snprintf(path, sizeof path, "%s/k2.bin", dir);
    file_put(path, k + 10, 14);

    struct model m;
    struct model_file mf;
    struct diag d;
    ck_assert_msg(load_trained(dir, &m, &mf, &d) == 0, "%s", d.msg);
    ck_assert_uint_eq(m.n_weights, 8);
    const float want[8] = {1, 2, 3, 4, 5, 6, 0.5f, -1.0f}; /* kernel then bias */
    ck_assert(memcmp(m.w, want, sizeof want) == 0);
    struct ckpt_meta meta;
    ck_assert_int_eq(checkpoint_load_meta(&mf, &meta, &d), 0);
    ck_assert_ptr_null(meta.classes);
    ck_assert_uint_eq(meta.history.n_epochs, 0);
    float s;
    ck_assert_int_eq(checkpoint_load_optimizer(&mf, &s, 1, &d), 0);
    ckpt_meta_free(&meta);
    model_free(&m);
    model_file_close(&mf);
}
END_TEST

START_TEST(test_history_grows)
{
    struct history h;
    char *cols[] = {"loss", "val_loss"};
    history_init(&h, cols, 2);
    cols[0] = "changed"; /* the names were copied */
    for (int e = 0; e < 100; e++) {
        double row[2] = {e, -e};
        history_add(&h, row);
    }
    ck_assert_str_eq(h.cols[0], "loss");
    ck_assert_uint_eq(h.n_epochs, 100);
    ck_assert(h.values[99 * 2] == 99 && h.values[99 * 2 + 1] == -99);
    history_free(&h);
    ck_assert_uint_eq(h.n_epochs, 0);
}
END_TEST

/* ---- atomic replace ----------------------------------------------------------- */

START_TEST(test_overwrite_replaces)
{
    struct model m, m2, back;
    struct model_file mf, mf2, mfb;
    struct diag d;
    saved_tiny(&m, &mf);
    tiny_model(&m2, &mf2, 99);
    ck_assert(memcmp(m.w, m2.w, m.n_weights * sizeof *m.w) != 0);
    /* The second save has no optimizer state: optimizer.bin must go too. */
    char slash[160];
    snprintf(slash, sizeof slash, "%s/", ckpt); /* a trailing slash is fine */
    save_ok(slash, &m2, NULL, NULL, 0);
    ck_assert_int_eq(load_trained(ckpt, &back, &mfb, &d), 0);
    assert_same_weights(&m2, &back);
    ck_assert_uint_eq(count_entries(ckpt), 2); /* model.json, weights.bin */
    ck_assert_uint_eq(count_entries(ws), 2);   /* tiny.yaml, tiny.model: no leftovers */
    model_free(&m);
    model_free(&m2);
    model_free(&back);
    model_file_close(&mf);
    model_file_close(&mf2);
    model_file_close(&mfb);
}
END_TEST

/* The previous checkpoint still loads with the weights m had. */
static void assert_intact(const struct model *m)
{
    struct model back;
    struct model_file mfb;
    struct diag d;
    ck_assert_msg(load_trained(ckpt, &back, &mfb, &d) == 0, "%s", d.msg);
    assert_same_weights(m, &back);
    model_free(&back);
    model_file_close(&mfb);
}

START_TEST(test_failed_save_keeps_old)
{
    struct model m, m2;
    struct model_file mf, mf2;
    struct diag d;
    saved_tiny(&m, &mf);
    tiny_model(&m2, &mf2, 99);
    /* Something else sits where the temporary directory goes. */
    char tmp[192];
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld", ckpt, (long)getpid());
    file_put(tmp, "x", 1);
    ck_assert_int_eq(checkpoint_save(ckpt, &m2, NULL, NULL, 0, &d), -1);
    ck_assert_msg(strstr(d.msg, tmp) != NULL, "%s", d.msg);
    assert_intact(&m);
    ck_assert_int_eq(unlink(tmp), 0);
    ck_assert_uint_eq(count_entries(ws), 2);

    /* The parent is not writable (root ignores permissions: skip then). */
    if (geteuid() != 0) {
        ck_assert_int_eq(chmod(ws, 0555), 0);
        ck_assert_int_eq(checkpoint_save(ckpt, &m2, NULL, NULL, 0, &d), -1);
        ck_assert_int_eq(chmod(ws, 0755), 0);
        ck_assert_msg(strstr(d.msg, "tiny.model") != NULL, "%s", d.msg);
        assert_intact(&m);
        ck_assert_uint_eq(count_entries(ws), 2);
    }
    model_free(&m);
    model_free(&m2);
    model_file_close(&mf);
    model_file_close(&mf2);
}
END_TEST

START_TEST(test_refuses_foreign_content)
{
    struct model m;
    struct model_file mf;
    struct diag d;
    saved_tiny(&m, &mf);
    char notes[192];
    snprintf(notes, sizeof notes, "%s/notes.txt", ckpt);
    file_put(notes, "mine", 4);
    ck_assert_int_eq(checkpoint_save(ckpt, &m, NULL, NULL, 0, &d), -1);
    ck_assert_msg(strstr(d.msg, "notes.txt") && strstr(d.msg, "tiny.model"), "%s", d.msg);
    ck_assert(exists(notes));
    assert_intact(&m);
    ck_assert_uint_eq(count_entries(ws), 2);

    /* A plain file where the checkpoint goes is left alone. */
    char file[128];
    ws_path(file, sizeof file, "plain");
    file_put(file, "data", 4);
    ck_assert_int_eq(checkpoint_save(file, &m, NULL, NULL, 0, &d), -1);
    ck_assert_msg(strstr(d.msg, "plain") && strstr(d.msg, "not a directory"), "%s", d.msg);
    size_t n;
    char *s = file_contents(file, &n);
    ck_assert_uint_eq(n, 4);
    free(s);

    /* The parent is a file: nothing is created. */
    char below[160];
    snprintf(below, sizeof below, "%s/ckpt.model", file);
    ck_assert_int_eq(checkpoint_save(below, &m, NULL, NULL, 0, &d), -1);
    ck_assert_msg(strstr(d.msg, "ckpt.model") != NULL, "%s", d.msg);
    ck_assert_uint_eq(count_entries(ws), 3); /* tiny.yaml, tiny.model, plain */
    model_free(&m);
    model_file_close(&mf);
}
END_TEST

/* ---- damaged checkpoints -------------------------------------------------------- */

enum stage { AT_MODEL_LOAD, AT_WEIGHTS, AT_META, AT_OPTIMIZER };

/* Loads ckpt up to `stage`, expecting that stage to fail with a message
 * containing each of the needles. */
static void expect_failure(enum stage stage, const char *needle1, const char *needle2)
{
    struct model m;
    struct model_file mf;
    struct diag d;
    memset(&d, 0, sizeof d);
    int rc = model_load(ckpt, &m, &mf, &d);
    if (stage == AT_MODEL_LOAD) {
        ck_assert_int_eq(rc, -1);
    } else {
        ck_assert_msg(rc == 0, "%s", d.msg);
        rc = checkpoint_load_weights(&m, &mf, &d);
        if (stage == AT_WEIGHTS) {
            ck_assert_int_eq(rc, -1);
            ck_assert_ptr_null(m.w);
        } else {
            ck_assert_msg(rc == 0, "%s", d.msg);
            struct ckpt_meta meta;
            rc = checkpoint_load_meta(&mf, &meta, &d);
            if (stage == AT_META) {
                ck_assert_int_eq(rc, -1);
            } else {
                ck_assert_msg(rc == 0, "%s", d.msg);
                ckpt_meta_free(&meta);
                size_t n_state = optim_n_slots(&m.compile.optimizer) * m.n_weights;
                float *st = calloc(n_state, sizeof *st);
                rc = checkpoint_load_optimizer(&mf, st, n_state, &d);
                free(st);
                ck_assert_int_eq(rc, -1);
            }
        }
        model_free(&m);
        model_file_close(&mf);
    }
    ck_assert_msg(strstr(d.msg, needle1) != NULL, "'%s' not in: %s", needle1, d.msg);
    if (needle2)
        ck_assert_msg(strstr(d.msg, needle2) != NULL, "'%s' not in: %s", needle2, d.msg);
}

/* Saves the tiny checkpoint in ckpt; path is its file `name`, to damage. */
static void saved_file(char *path, size_t size, const char *name)
{
    struct model m;
    struct model_file mf;
    saved_tiny(&m, &mf);
    model_free(&m);
    model_file_close(&mf);
    snprintf(path, size, "%s/%s", ckpt, name);
}

static void damage(const char *file, const char *from, const char *to)
{
    char path[192];
    saved_file(path, sizeof path, file);
    replace_in_file(path, from, to);
}

START_TEST(test_damaged_empty_json)
{
    char path[192];
    saved_file(path, sizeof path, "model.json");
    file_put(path, "", 0);
    expect_failure(AT_MODEL_LOAD, "model.json", NULL);
}
END_TEST

START_TEST(test_damaged_truncated_json)
{
    char path[192];
    saved_file(path, sizeof path, "model.json");
    size_t n;
    char *s = file_contents(path, &n);
    for (size_t cut = 1; cut < n - 1; cut += n / 7) { /* n - 1: all but the newline */
        file_put(path, s, cut);
        expect_failure(AT_MODEL_LOAD, "model.json", NULL);
    }
    free(s);
}
END_TEST

START_TEST(test_damaged_missing_weights)
{
    char path[192];
    saved_file(path, sizeof path, "weights.bin");
    ck_assert_int_eq(unlink(path), 0);
    expect_failure(AT_WEIGHTS, "tiny.model/weights.bin", "No such file");
}
END_TEST

START_TEST(test_damaged_weights_size)
{
    char path[192];
    saved_file(path, sizeof path, "weights.bin");
    file_put(path, "0123456789", 10);
    expect_failure(AT_WEIGHTS, "tiny.model/weights.bin: expected 104 bytes, found 10", NULL);
}
END_TEST

/* A text change to model.json, and the stage that must then fail with a
 * message located in model.json that contains `msg`. */
static const struct {
    const char *from, *to;
    enum stage stage;
    const char *msg;
} text_damages[] = {
    /* the weights manifest */
    {"\"dense/kernel\"", "\"dense/kernal\"", AT_WEIGHTS,
     "no weight 'dense/kernal' (did you mean 'dense/kernel'?)"},
    {"\"dense_1/bias\"", "\"dense_1/kernel\"", AT_WEIGHTS, "'dense_1/kernel' appears twice"},
    {"{\"name\": \"dense_1/bias\", \"shape\": [2], \"dtype\": \"float32\"}",
     "{\"name\": \"Adam/iter\", \"shape\": [2], \"dtype\": \"float32\", "
     "\"group\": \"optimizer\"}",
     AT_WEIGHTS, "no weight 'dense_1/bias'"},
    {"\"shape\": [3, 4]", "\"shape\": [4, 3]", AT_WEIGHTS,
     "weight 'dense/kernel' has shape [4, 3], the model needs [3, 4]"},
    {"\"shape\": [3, 4]", "\"shape\": [4611686018427387904, 4611686018427387904]", AT_WEIGHTS,
     "too large"},
    {"\"shape\": [3, 4]", "\"shape\": [3, \"four\"]", AT_WEIGHTS, "expected an integer"},
    {"\"dtype\": \"float32\"}", "\"dtype\": \"int32\"}", AT_WEIGHTS, "dtype 'int32'"},
    {"\"paths\": [\"weights.bin\"]", "\"paths\": [\"../tiny.yaml\"]", AT_WEIGHTS,
     "inside the checkpoint directory"},
    {"\"weightsManifest\": [", "\"weightsManifest\": 3, \"userDefinedMetadata\": [", AT_WEIGHTS,
     "weightsManifest must be a list"},
    {"\"paths\": [\"weights.bin\"]", "\"paths\": []", AT_WEIGHTS, "list of paths"},
    /* the "nnc" key */
    {"\"epoch\": 3", "\"epoch\": \"three\"", AT_META, "expected an integer"},
    {"[1.25, 0.5, 0.001]", "[1.25, 0.5]", AT_META, "list of 3 numbers"},
    {"\"target_cols\": [4]", "\"target_cols\": [5]", AT_META, "column 5 is out of range"},
};
#define N_TEXT_DAMAGES (sizeof text_damages / sizeof text_damages[0])

START_TEST(test_damaged_text)
{
    damage("model.json", text_damages[_i].from, text_damages[_i].to);
    expect_failure(text_damages[_i].stage, "model.json:1:", text_damages[_i].msg);
}
END_TEST

START_TEST(test_damaged_meta_not_map)
{
    char path[192];
    saved_file(path, sizeof path, "model.json");
    size_t n;
    char *s = file_contents(path, &n);
    char *at = strstr(s, ", \"nnc\": {");
    ck_assert(at != NULL);
    strcpy(at, ", \"nnc\": [1, 2]}\n");
    file_put(path, s, strlen(s));
    free(s);
    expect_failure(AT_META, "model.json:1:", "must be a map");
}
END_TEST

START_TEST(test_damaged_optimizer_size)
{
    char path[192];
    saved_file(path, sizeof path, "optimizer.bin");
    file_put(path, "abcd", 4);
    expect_failure(AT_OPTIMIZER, "tiny.model/optimizer.bin: expected 208 bytes", "found 4");
    ck_assert_int_eq(unlink(path), 0);
    expect_failure(AT_OPTIMIZER, "tiny.model/optimizer.bin", "No such file");
}
END_TEST

static Suite *checkpoint_suite(void)
{
    Suite *s = suite_create("checkpoint");
    TCase *tc = tcase_create("roundtrip");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_roundtrip);
    tcase_add_test(tc, test_compile_arguments_roundtrip);
    tcase_add_test(tc, test_weights_bin_encoding);
    tcase_add_test(tc, test_load_from_json_path);
    tcase_add_test(tc, test_model_json_is_strict_json);
    tcase_add_test(tc, test_tfjs_predicts_the_same);
    tcase_add_test(tc, test_foreign_manifest);
    tcase_add_test(tc, test_history_grows);
    suite_add_tcase(s, tc);

    tc = tcase_create("atomic");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_overwrite_replaces);
    tcase_add_test(tc, test_failed_save_keeps_old);
    tcase_add_test(tc, test_refuses_foreign_content);
    suite_add_tcase(s, tc);

    tc = tcase_create("damaged");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_damaged_empty_json);
    tcase_add_test(tc, test_damaged_truncated_json);
    tcase_add_test(tc, test_damaged_missing_weights);
    tcase_add_test(tc, test_damaged_weights_size);
    tcase_add_loop_test(tc, test_damaged_text, 0, N_TEXT_DAMAGES);
    tcase_add_test(tc, test_damaged_meta_not_map);
    tcase_add_test(tc, test_damaged_optimizer_size);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(checkpoint_suite());
}
