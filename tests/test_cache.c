/* The binary data cache (src/data/cache.c) and the loader: a cached CSV
 * gives the same rows, targets, weights, lines and class names as the
 * in-memory path; a truncated, foreign or damaged cache file is rebuilt
 * (never trusted, never a crash); the key follows the file's mtime and the
 * data mapping; a validation tail of a mapped dataset points into the map;
 * fit gives bit-identical weights from the cache and from memory. */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../src/data/cache.h"
#include "../src/data/dataset.h"
#include "../src/rng.h"
#include "../src/train.h"
#include "netcheck.h"
#include "fixtures.h"

static char dir[64];

static const char *MODEL =
    "layers:\n  - Dense: {units: 3, activation: softmax, input_shape: [2]}\n"
    "compile: {loss: sparse_categorical_crossentropy, optimizer: sgd, metrics: [accuracy]}\n";

/* A comment line and a blank line make the file lines irregular. */
static const char *CSV = "a,b,w,species\n1,2,0.5,cat\n# note\n3,4,2,dog\n\n5,6,1,cat\n"
                         "7,8,0,bird\n9,10,1,dog\n11,12,1,bird\n";

static char data_path[96];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/nnc_test_cache_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char cdir[96];
    snprintf(cdir, sizeof cdir, "%s/cache", dir);
    setenv("NNC_CACHE_DIR", cdir, 1);
    setenv("NNC_CACHE_MIN", "0", 1);
    snprintf(data_path, sizeof data_path, "%s/d.csv", dir);
    FILE *f = fopen(data_path, "w");
    fputs(CSV, f);
    fclose(f);
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static int load(struct net *n, struct dataset *ds, struct ckpt_meta *meta, struct diag *d)
{
    static const char *data = "{target: species, sample_weight: w, comment: '#'}";
    struct spec_doc doc;
    ck_assert(spec_load_string(&doc, "m.yaml", data, strlen(data), d) == 0);
    struct data_conf dc;
    int rc = data_conf_parse(doc.root, &dc, d);
    if (rc == 0)
        rc = dataset_load_train(data_path, &dc, &n->m, ds, meta, d);
    spec_free(&doc);
    return rc;
}

/* The one cache file in the cache directory. */
static void cache_file(char *out, size_t size)
{
    char cmd[160];
    snprintf(cmd, sizeof cmd, "ls %s/cache/*.nncdata", dir);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(fgets(out, (int)size, p));
    out[strcspn(out, "\n")] = '\0';
    ck_assert_ptr_null(fgets((char[160]){0}, 160, p)); /* only one */
    pclose(p);
}

static void same(const struct dataset *a, const struct dataset *b)
{
    ck_assert_uint_eq(a->n, b->n);
    ck_assert_uint_eq(a->n_x, b->n_x);
    ck_assert_uint_eq(a->n_y, b->n_y);
    ck_assert(!memcmp(a->x, b->x, a->n * a->n_x * sizeof *a->x));
    ck_assert(!memcmp(a->y, b->y, a->n * a->n_y * sizeof *a->y));
    ck_assert(a->w && b->w && !memcmp(a->w, b->w, a->n * sizeof *a->w));
    for (size_t i = 0; i < a->n; i++)
        ck_assert_uint_eq(dataset_line(a, i), dataset_line(b, i));
}

static void same_classes(const struct ckpt_meta *a, const struct ckpt_meta *b)
{
    ck_assert_uint_eq(a->n_classes, b->n_classes);
    for (size_t i = 0; i < a->n_classes; i++)
        ck_assert_str_eq(a->classes[i], b->classes[i]);
}

START_TEST(test_cache_same_as_memory)
{
    struct net n;
    net_load(&n, MODEL);
    struct diag d = {{0}};
    struct dataset mem, built, hit;
    struct ckpt_meta mm = {0}, mb = {0}, mh = {0};
    setenv("NNC_CACHE_DIR", "off", 1);
    ck_assert_msg(load(&n, &mem, &mm, &d) == 0, "%s", d.msg);
    ck_assert(!mem.mapped);
    char cdir[96];
    snprintf(cdir, sizeof cdir, "%s/cache", dir);
    setenv("NNC_CACHE_DIR", cdir, 1);
    ck_assert_msg(load(&n, &built, &mb, &d) == 0, "%s", d.msg); /* writes, then maps */
    ck_assert(built.mapped);
    ck_assert_msg(load(&n, &hit, &mh, &d) == 0, "%s", d.msg);   /* maps */
    ck_assert(hit.mapped);
    same(&mem, &built);
    same(&mem, &hit);
    same_classes(&mm, &mb);
    same_classes(&mm, &mh);
    ck_assert_uint_eq(mm.n_classes, 3);
    ck_assert_str_eq(mh.classes[0], "bird");
    ck_assert_uint_eq(dataset_line(&hit, 1), 4); /* after the comment line */
    ck_assert_str_eq(mh.feature_names[1], "b");
    /* The validation tail of a map points into it (no copy). */
    struct dataset tail;
    dataset_split_tail(&hit, 2, &tail);
    ck_assert(tail.mapped && tail.map == NULL);
    ck_assert(tail.x == hit.x + 4 * hit.n_x);
    ck_assert(tail.x[0] == 9 && tail.y[1] == 0); /* bird is class 0 */
    ck_assert_uint_eq(dataset_line(&tail, 0), 8);
    cache_release_pages(&hit);
    ck_assert(hit.x[0] == 1); /* dropped pages are read again */
    dataset_free(&tail);
    dataset_free(&mem);
    dataset_free(&built);
    dataset_free(&hit);
    ckpt_meta_free(&mm);
    ckpt_meta_free(&mb);
    ckpt_meta_free(&mh);
    net_free(&n);
}
END_TEST

/* Damages the cache file with `how`, loads again: the rows are those of
 * the in-memory path and the file is valid again (rebuilt). */
static void damaged(void (*how)(const char *path))
{
    struct net n;
    net_load(&n, MODEL);
    struct diag d = {{0}};
    struct dataset a, b;
    struct ckpt_meta ma = {0}, mb = {0};
    ck_assert_msg(load(&n, &b, &mb, &d) == 0, "%s", d.msg); /* writes the cache */
    dataset_free(&b); /* (damaging a mapped file in place would be a SIGBUS) */
    ckpt_meta_free(&mb);
    mb = (struct ckpt_meta){0};
    char cdir[96];
    snprintf(cdir, sizeof cdir, "%s/cache", dir);
    setenv("NNC_CACHE_DIR", "off", 1);
    ck_assert_msg(load(&n, &a, &ma, &d) == 0, "%s", d.msg); /* in memory */
    setenv("NNC_CACHE_DIR", cdir, 1);
    char path[160];
    cache_file(path, sizeof path);
    how(path);
    ck_assert_msg(load(&n, &b, &mb, &d) == 0, "%s", d.msg);
    same(&a, &b);
    same_classes(&ma, &mb);
    char again[160];
    cache_file(again, sizeof again);
    ck_assert_str_eq(path, again);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_gt(st.st_size, 100);
    dataset_free(&a);
    dataset_free(&b);
    ckpt_meta_free(&ma);
    ckpt_meta_free(&mb);
    net_free(&n);
}

static void truncate_half(const char *path)
{
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(truncate(path, st.st_size / 2), 0);
}

static void truncate_header(const char *path) { ck_assert_int_eq(truncate(path, 20), 0); }
static void empty(const char *path) { ck_assert_int_eq(truncate(path, 0), 0); }

static void foreign(const char *path)
{
    FILE *f = fopen(path, "w");
    fputs("this is not a cache file at all, just some text that is long enough\n"
          "to cover a header and then some more bytes......................\n", f);
    fclose(f);
}

/* The header's row count (the third u64 field) made huge. */
static void lying_count(const char *path)
{
    int fd = open(path, O_RDWR);
    unsigned long long v = 1ULL << 62;
    ck_assert_int_eq(pwrite(fd, &v, sizeof v, 8 + 2 * 8), (ssize_t)sizeof v);
    close(fd);
}

/* One more byte: the size no longer matches the header. */
static void grown(const char *path)
{
    FILE *f = fopen(path, "a");
    fputc(0, f);
    fclose(f);
}

START_TEST(test_cache_truncated) { damaged(truncate_half); }
END_TEST
START_TEST(test_cache_truncated_header) { damaged(truncate_header); }
END_TEST
START_TEST(test_cache_empty) { damaged(empty); }
END_TEST
START_TEST(test_cache_foreign) { damaged(foreign); }
END_TEST
START_TEST(test_cache_lying_count) { damaged(lying_count); }
END_TEST
START_TEST(test_cache_grown) { damaged(grown); }
END_TEST

START_TEST(test_cache_check_direct)
{
    unsigned char buf[256] = {0};
    size_t o[8];
    ck_assert_int_eq(cache_check(buf, 0, 1, o), -1);
    ck_assert_int_eq(cache_check(buf, sizeof buf, 1, o), -1); /* no magic */
    memcpy(buf, "NNCDATA\n", 8);
    ck_assert_int_eq(cache_check(buf, sizeof buf, 1, o), -1); /* version 0 */
}
END_TEST

/* The key follows the mtime and the mapping; a touched file is a miss. */
START_TEST(test_cache_key)
{
    struct cache_key a, b;
    ck_assert_int_eq(cache_key_start(&a, data_path), 0);
    ck_assert_int_eq(cache_key_start(&b, data_path), 0);
    ck_assert(a.h == b.h);
    cache_key_add_size(&b, 1);
    ck_assert(a.h != b.h);
    struct timespec t[2] = {{.tv_sec = 1000000000}, {.tv_sec = 1000000000}};
    ck_assert_int_eq(utimensat(AT_FDCWD, data_path, t, 0), 0);
    ck_assert_int_eq(cache_key_start(&b, data_path), 0);
    ck_assert(a.h != b.h);
    ck_assert(a.name == b.name); /* the same file name: the stale cache is replaced */
    ck_assert_int_eq(cache_key_start(&b, "-"), -1);
    setenv("NNC_CACHE_MIN", "1000000", 1);
    ck_assert_int_eq(cache_key_start(&b, data_path), -1); /* small: in memory */
    setenv("NNC_CACHE_MIN", "0", 1);
    setenv("NNC_CACHE_DIR", "off", 1);
    ck_assert_int_eq(cache_key_start(&b, data_path), -1);
}
END_TEST

/* fit from the cache and from memory: the same weights, bit for bit. */
static void fit(struct dataset *ds, float *w_out)
{
    struct net n;
    net_load(&n, MODEL);
    struct rng r;
    rng_seed(&r, 5);
    model_init_weights(&n.m, &r);
    struct fit_conf fc;
    fit_conf_default(&fc);
    fc.epochs = 3;
    fc.batch_size = 2;
    fc.verbose = 0;
    struct ckpt_meta meta = {0};
    float *state = calloc(n.m.n_weights + 1, sizeof *state);
    struct diag d = {{0}};
    ck_assert_msg(train_fit(&n.m, ds, NULL, &fc, state, &meta, &r, &d) == 0, "%s", d.msg);
    memcpy(w_out, n.m.w, n.m.n_weights * sizeof *w_out);
    free(state);
    ckpt_meta_free(&meta);
    net_free(&n);
}

START_TEST(test_cache_fit_identical)
{
    struct net n;
    net_load(&n, MODEL);
    struct diag d = {{0}};
    struct dataset mem, hit;
    struct ckpt_meta mm = {0}, mh = {0};
    setenv("NNC_CACHE_DIR", "off", 1);
    ck_assert_msg(load(&n, &mem, &mm, &d) == 0, "%s", d.msg);
    char cdir[96];
    snprintf(cdir, sizeof cdir, "%s/cache", dir);
    setenv("NNC_CACHE_DIR", cdir, 1);
    ck_assert_msg(load(&n, &hit, &mh, &d) == 0, "%s", d.msg);
    ck_assert(hit.mapped);
    size_t nw = n.m.n_weights;
    float *a = calloc(nw, sizeof *a), *b = calloc(nw, sizeof *b);
    fit(&mem, a);
    fit(&hit, b);
    ck_assert(!memcmp(a, b, nw * sizeof *a));
    free(a);
    free(b);
    dataset_free(&mem);
    dataset_free(&hit);
    ckpt_meta_free(&mm);
    ckpt_meta_free(&mh);
    net_free(&n);
}
END_TEST

/* Several inputs and outputs from one CSV's column groups: the cached rows
 * (built, then a hit) are the in-memory rows, lines included; the input
 * check (an Embedding index) gives the same error either way. */
static const char *GROUPS_MODEL =
    "inputs:\n  - Input: {name: a, shape: [2]}\n  - Input: {name: b, shape: [1]}\n"
    "layers:\n  - Embedding: {name: e, input_dim: 20, output_dim: 2, inputs: b}\n"
    "  - Flatten: {name: f}\n  - Concatenate: {name: c, inputs: [a, f]}\n"
    "  - Dense: {name: p, units: 3, activation: softmax, inputs: c}\n"
    "  - Dense: {name: v, units: 2, inputs: c}\n"
    "outputs: [p, v]\n"
    "compile: {loss: {p: categorical_crossentropy, v: mse}, optimizer: sgd}\n";

static int load_groups(struct net *n, const char *path, struct dataset *ds, struct diag *d)
{
    static const char *data = "{inputs: {a: [x0, x1], b: [k]}, targets: {p: [cls], v: [v0, v1]}}";
    struct spec_doc doc;
    ck_assert(spec_load_string(&doc, "m.yaml", data, strlen(data), d) == 0);
    struct data_conf dc;
    struct ckpt_meta meta = {0};
    int rc = data_conf_parse(doc.root, &dc, d);
    const char *paths[1] = {path};
    if (rc == 0)
        rc = dataset_load_multi(paths, 1, &dc, &n->m, true, &meta, ds, d);
    spec_free(&doc);
    ckpt_meta_free(&meta);
    return rc;
}

START_TEST(test_cache_column_groups)
{
    struct net n;
    net_load(&n, GROUPS_MODEL);
    char path[128];
    snprintf(path, sizeof path, "%s/g.csv", dir);
    FILE *f;
    /* The columns out of order; a blank line after row 20. */
    f = fopen(path, "w");
    fputs("v1,x0,k,cls,x1,v0\n", f);
    for (int i = 0; i < 50; i++)
        fprintf(f, "%d,%d,%d,%d,%d,%g\n%s", i, i % 7, i % 20, i % 3, i % 5, i * 0.5,
                i == 20 ? "\n" : "");
    fclose(f);
    struct diag d = {{0}};
    struct dataset mem, built, hit;
    char cdir[96];
    snprintf(cdir, sizeof cdir, "%s/cache", dir);
    setenv("NNC_CACHE_DIR", "off", 1);
    ck_assert_msg(load_groups(&n, path, &mem, &d) == 0, "%s", d.msg);
    ck_assert(!mem.mapped);
    setenv("NNC_CACHE_DIR", cdir, 1);
    ck_assert_msg(load_groups(&n, path, &built, &d) == 0, "%s", d.msg);
    ck_assert_msg(load_groups(&n, path, &hit, &d) == 0, "%s", d.msg);
    ck_assert(built.mapped && hit.mapped);
    for (const struct dataset *c = &built; c; c = c == &built ? &hit : NULL) {
        ck_assert_uint_eq(c->n, 50);
        ck_assert_uint_eq(c->n_x, 3);
        ck_assert_uint_eq(c->n_y, 5);
        ck_assert(!memcmp(c->x, mem.x, 50 * 3 * sizeof *c->x));
        ck_assert(!memcmp(c->y, mem.y, 50 * 5 * sizeof *c->y));
        for (size_t i = 0; i < 50; i++)
            ck_assert_uint_eq(dataset_line(c, i), dataset_line(&mem, i));
    }
    /* Row 5 (i = 5): x0 5, x1 0, k 5; class 2 one-hot; v0 2.5, v1 5. */
    ck_assert(hit.x[5 * 3] == 5 && hit.x[5 * 3 + 1] == 0 && hit.x[5 * 3 + 2] == 5);
    ck_assert(hit.y[5 * 5 + 2] == 1 && hit.y[5 * 5 + 3] == 2.5f && hit.y[5 * 5 + 4] == 5);
    ck_assert_uint_eq(dataset_line(&hit, 21), 24);
    dataset_free(&mem);
    dataset_free(&built);
    dataset_free(&hit);
    /* An index the Embedding cannot take, at line 12 (k = 25). */
    f = fopen(path, "w");
    fputs("v1,x0,k,cls,x1,v0\n", f);
    for (int i = 0; i < 50; i++)
        fprintf(f, "%d,%d,%d,%d,%d,%g\n", i, i % 7, i == 10 ? 25 : i % 20, i % 3, i % 5, i * 0.5);
    fclose(f);
    char want[1024];
    setenv("NNC_CACHE_DIR", "off", 1);
    ck_assert_int_eq(load_groups(&n, path, &mem, &d), -1);
    snprintf(want, sizeof want, "%s", d.msg);
    /* located at k's file column (3), not at its place in its input (1) */
    ck_assert_msg(strstr(want, "g.csv:12:3: ") != NULL, "%s", want);
    setenv("NNC_CACHE_DIR", cdir, 1);
    d.msg[0] = '\0';
    ck_assert_int_eq(load_groups(&n, path, &built, &d), -1);
    ck_assert_str_eq(d.msg, want);
    net_free(&n);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cache");
    TCase *tc = tcase_create("cache");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_cache_same_as_memory);
    tcase_add_test(tc, test_cache_truncated);
    tcase_add_test(tc, test_cache_truncated_header);
    tcase_add_test(tc, test_cache_empty);
    tcase_add_test(tc, test_cache_foreign);
    tcase_add_test(tc, test_cache_lying_count);
    tcase_add_test(tc, test_cache_grown);
    tcase_add_test(tc, test_cache_check_direct);
    tcase_add_test(tc, test_cache_key);
    tcase_add_test(tc, test_cache_fit_identical);
    tcase_add_test(tc, test_cache_column_groups);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
