/* Array datasets without reading them into memory (src/data/dataset_arrays.c):
 * a native float32 NPY is trained from its own map, other mapped NPY and
 * IDX files are converted once into the binary cache; both give the rows,
 * targets, first error and fit (bit for bit) of the in-memory path, also
 * when the loader reads the rows with pread (NNC_MAP_RESIDENT=0). Files
 * are written here byte by byte into a fresh temporary directory. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../src/data/array.h"
#include "../src/data/dataset.h"
#include "../src/data/npy.h"
#include "../src/rng.h"
#include "../src/train.h"
#include "netcheck.h"
#include "fixtures.h"

static char dir[64];

static const char *MODEL =
    "layers:\n  - Dense: {units: 3, activation: softmax, input_shape: [64]}\n"
    "compile: {loss: categorical_crossentropy, optimizer: adam}\n";

enum { N = 37, NX = 64 };

static void setup(void)
{
    strcpy(dir, "/tmp/nnc_array_data_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char cdir[96];
    snprintf(cdir, sizeof cdir, "%s/cache", dir);
    setenv("NNC_CACHE_DIR", cdir, 1);
    setenv("NNC_CACHE_MIN", "0", 1);
    unsetenv("NNC_MAP_RESIDENT");
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
    unsetenv("NNC_MAP_RESIDENT");
}

/* An NPY 1.0 file of `count` values of `descr` (little-endian) from v. */
static const char *write_npy(const char *name, const char *descr, const size_t *shape,
                             size_t rank, const double *v, size_t count)
{
    unsigned char head[256];
    size_t hl = npy_format_header(head, sizeof head, descr, shape, rank, 0);
    ck_assert(hl > 0);
    const char *p = path_in(dir, name);
    FILE *f = fopen(p, "wb");
    ck_assert_ptr_nonnull(f);
    fwrite(head, 1, hl, f);
    for (size_t i = 0; i < count; i++) {
        if (!strcmp(descr, "<f4")) {
            float x = (float)v[i];
            fwrite(&x, sizeof x, 1, f);
        } else if (!strcmp(descr, "<f8")) {
            fwrite(&v[i], sizeof v[i], 1, f);
        } else if (!strcmp(descr, "|u1")) {
            unsigned char x = (unsigned char)v[i];
            fwrite(&x, 1, 1, f);
        } else if (!strcmp(descr, "<i8")) {
            int64_t x = (int64_t)v[i];
            fwrite(&x, sizeof x, 1, f);
        } else {
            ck_abort_msg("dtype %s", descr);
        }
    }
    fclose(f);
    return p;
}

/* Features: small integers (exact in every dtype); labels 0..2. */
static double xv[N * NX], yv[N];

static void make_values(void)
{
    for (size_t i = 0; i < N * NX; i++)
        xv[i] = (double)((i * 7 + 3) % 11);
    for (size_t i = 0; i < N; i++)
        yv[i] = (double)((i * 5) % 3);
}

static int load(struct net *n, const char *x, const char *y, struct dataset *ds,
                struct diag *d)
{
    struct data_conf dc;
    memset(&dc, 0, sizeof dc);
    dc.csv.header = -1;
    struct ckpt_meta meta = {0};
    const char *paths[2] = {x, y};
    int rc = dataset_load_train_files(paths, 2, &dc, &n->m, ds, &meta, d);
    ckpt_meta_free(&meta);
    return rc;
}

static void same(const struct dataset *a, const struct dataset *b)
{
    ck_assert_uint_eq(a->n, b->n);
    ck_assert_uint_eq(a->n_x, b->n_x);
    ck_assert_uint_eq(a->n_y, b->n_y);
    ck_assert(!memcmp(a->x, b->x, a->n * a->n_x * sizeof *a->x));
    ck_assert(!memcmp(a->y, b->y, a->n * a->n_y * sizeof *a->y));
}

/* The number of files in the cache directory. */
static int cache_files(void)
{
    char cmd[160];
    snprintf(cmd, sizeof cmd, "ls %s/cache 2>/dev/null | wc -l", dir);
    FILE *p = popen(cmd, "r");
    int k = -1;
    ck_assert_int_eq(fscanf(p, "%d", &k), 1);
    pclose(p);
    return k;
}

static void fit(struct dataset *ds, float *w_out, bool split)
{
    struct net n;
    net_load(&n, MODEL);
    struct rng r;
    rng_seed(&r, 5);
    model_init_weights(&n.m, &r);
    struct fit_conf fc;
    fit_conf_default(&fc);
    fc.epochs = 3;
    fc.batch_size = 5;
    fc.verbose = 0;
    struct ckpt_meta meta = {0};
    float *state = calloc(3 * n.m.n_weights + 1, sizeof *state);
    struct diag d = {{0}};
    struct dataset val;
    if (split)
        dataset_split_tail(ds, 7, &val);
    ck_assert_msg(train_fit(&n.m, ds, split ? &val : NULL, &fc, state, &meta, &r, &d) == 0,
                  "%s", d.msg);
    memcpy(w_out, n.m.w, n.m.n_weights * sizeof *w_out);
    if (split)
        dataset_free(&val);
    free(state);
    ckpt_meta_free(&meta);
    net_free(&n);
}

START_TEST(test_float32_npy_is_mapped)
{
    make_values();
    struct net n;
    net_load(&n, MODEL);
    size_t xs[2] = {N, NX}, ys[1] = {N};
    const char *x32 = write_npy("x32.npy", "<f4", xs, 2, xv, N * NX);
    const char *x64 = write_npy("x64.npy", "<f8", xs, 2, xv, N * NX);
    const char *y = write_npy("y.npy", "<i8", ys, 1, yv, N);
    struct diag d = {{0}};
    struct dataset map, mem;
    ck_assert_msg(load(&n, x32, y, &map, &d) == 0, "%s", d.msg);
    ck_assert(map.mapped && map.y_owned && map.map);
    /* x is the file's bytes after the 128-byte header. */
    ck_assert_ptr_eq((const unsigned char *)map.x, (const unsigned char *)map.map + 128);
    ck_assert_uint_gt(map.map_len, 8000); /* (test_fit_identical's bound) */
    ck_assert_uint_eq(cache_files(), 0); /* no copy anywhere */
    setenv("NNC_CACHE_DIR", "off", 1);
    ck_assert_msg(load(&n, x64, y, &mem, &d) == 0, "%s", d.msg);
    ck_assert(!mem.mapped);
    same(&map, &mem);
    /* A validation tail: x in the map, y a copy of its own. */
    struct dataset tail;
    dataset_split_tail(&map, 5, &tail);
    ck_assert(tail.mapped && tail.y_owned && !tail.map);
    ck_assert_ptr_eq(tail.x, map.x + (N - 5) * NX);
    ck_assert(tail.y != map.y + (N - 5) * 3 && tail.y[4 * 3 + (size_t)yv[N - 1]] == 1);
    dataset_free(&tail);
    dataset_free(&map);
    dataset_free(&mem);
    net_free(&n);
}
END_TEST

/* The values as uint8 features (cached when loaded: not float32) and int64
 * labels in dir, and MODEL loaded into n. */
static void u8_files(struct net *n, const char **x, const char **y)
{
    make_values();
    net_load(n, MODEL);
    size_t xs[2] = {N, NX}, ys[1] = {N};
    *x = write_npy("xu8.npy", "|u1", xs, 2, xv, N * NX);
    *y = write_npy("y.npy", "<i8", ys, 1, yv, N);
}

START_TEST(test_converted_npy_is_cached)
{
    struct net n;
    const char *xu8, *y;
    u8_files(&n, &xu8, &y);
    struct diag d = {{0}};
    struct dataset built, hit, mem;
    ck_assert_msg(load(&n, xu8, y, &built, &d) == 0, "%s", d.msg);
    ck_assert(built.mapped && !built.y_owned);
    ck_assert_uint_eq(cache_files(), 1);
    ck_assert_msg(load(&n, xu8, y, &hit, &d) == 0, "%s", d.msg);
    ck_assert(hit.mapped);
    ck_assert_uint_eq(cache_files(), 1);
    setenv("NNC_CACHE_DIR", "off", 1);
    ck_assert_msg(load(&n, xu8, y, &mem, &d) == 0, "%s", d.msg);
    ck_assert(!mem.mapped);
    same(&built, &mem);
    same(&hit, &mem);
    ck_assert(hit.x[1] == (float)xv[1] && hit.y[2 * 3 + (size_t)yv[2]] == 1);
    dataset_free(&built);
    dataset_free(&hit);
    dataset_free(&mem);
    net_free(&n);
}
END_TEST

/* Another target file or another loss is another cache file. */
START_TEST(test_cache_key_follows_targets)
{
    struct net n;
    const char *xu8, *y;
    u8_files(&n, &xu8, &y);
    size_t ys[1] = {N};
    struct diag d = {{0}};
    struct dataset a, b;
    ck_assert_msg(load(&n, xu8, y, &a, &d) == 0, "%s", d.msg);
    for (size_t i = 0; i < N; i++)
        yv[i] = 2 - yv[i];
    const char *y2 = write_npy("y2.npy", "<i8", ys, 1, yv, N);
    ck_assert_msg(load(&n, xu8, y2, &b, &d) == 0, "%s", d.msg);
    ck_assert_uint_eq(cache_files(), 2);
    ck_assert(a.y[0] == 1 && b.y[2] == 1); /* one-hot class 0, class 2 */
    dataset_free(&a);
    dataset_free(&b);
    net_free(&n);
}
END_TEST

/* The same first error from every path: a bad feature value, a bad label,
 * and an input the model's Embedding cannot take (before a bad label). */
static void error_everywhere(const char *descr_map, const char *descr_conv, const char *model,
                             size_t bad_x, double bad_value, size_t bad_y, const char *want)
{
    make_values();
    struct net n;
    net_load(&n, model);
    size_t xs[2] = {N, NX}, ys[1] = {N};
    if (bad_x < N * NX)
        xv[bad_x] = bad_value;
    if (bad_y < N)
        yv[bad_y] = 3;
    const char *paths[2] = {write_npy("a.npy", descr_map, xs, 2, xv, N * NX),
                            write_npy("b.npy", descr_conv, xs, 2, xv, N * NX)};
    const char *y = write_npy("y.npy", "<i8", ys, 1, yv, N);
    const char *dirs[2] = {NULL, "off"};
    char cdir[96];
    snprintf(cdir, sizeof cdir, "%s/cache", dir);
    for (int f = 0; f < 2; f++)
        for (int c = 0; c < 2; c++) {
            setenv("NNC_CACHE_DIR", dirs[c] ? dirs[c] : cdir, 1);
            struct diag d = {{0}};
            struct dataset ds;
            ck_assert_int_eq(load(&n, paths[f], y, &ds, &d), -1);
            /* "DIR/a.npy:..." (b.npy for the converted file) */
            const char *msg = strrchr(d.msg, '/');
            ck_assert_msg(msg && !strncmp(msg + 2, want + 1, strlen(want) - 1) &&
                          (want[0] == 'y' || msg[1] == "ab"[f]), "%s (want %s)", d.msg, want);
        }
    ck_assert_uint_eq(cache_files(), 0); /* nothing left behind */
    net_free(&n);
}

START_TEST(test_errors_nonfinite) /* row 3, value 2 */
{
    error_everywhere("<f4", "<f8", MODEL, 2 * NX + 1, INFINITY, N, "a.npy:3:2: inf is not a finite number");
}
END_TEST

START_TEST(test_errors_label)
{
    error_everywhere("<f4", "|u1", MODEL, N * NX, 0, 9, "y.npy:10: label 3 is not a class index in [0, 3)");
}
END_TEST

START_TEST(test_errors_input_before_label)
{
    static const char *emb =
        "layers:\n  - Embedding: {input_dim: 11, output_dim: 2, input_length: 64}\n"
        "  - Flatten: {}\n  - Dense: {units: 3, activation: softmax}\n"
        "compile: {loss: sparse_categorical_crossentropy, optimizer: adam}\n";
    error_everywhere("<f4", "|u1", emb, 30 * NX + 3, 11, 5,
                     "a.npy:31: embedding 'embedding': index 11 is not below input_dim 11");
}
END_TEST

/* fit: the same weights from the map, the cache and memory, with the
 * loader reading through the map and with pread, with a validation tail. */
START_TEST(test_fit_identical)
{
    make_values();
    struct net n;
    net_load(&n, MODEL);
    size_t nw = n.m.n_weights;
    size_t xs[2] = {N, NX}, ys[1] = {N};
    const char *files[3] = {write_npy("x32.npy", "<f4", xs, 2, xv, N * NX),
                            write_npy("xu8.npy", "|u1", xs, 2, xv, N * NX),
                            write_npy("x64.npy", "<f8", xs, 2, xv, N * NX)};
    const char *y = write_npy("y.npy", "<i8", ys, 1, yv, N);
    char cdir[96];
    snprintf(cdir, sizeof cdir, "%s/cache", dir);
    float *ref = calloc(nw, sizeof *ref), *w = calloc(nw, sizeof *w);
    for (int split = 0; split < 2; split++) {
        setenv("NNC_CACHE_DIR", "off", 1);
        struct diag d = {{0}};
        struct dataset mem;
        ck_assert_msg(load(&n, files[2], y, &mem, &d) == 0, "%s", d.msg);
        fit(&mem, ref, split);
        dataset_free(&mem);
        setenv("NNC_CACHE_DIR", cdir, 1);
        for (int f = 0; f < 2; f++)
            for (int pr = 0; pr < 3; pr++) {
                /* Through the map; pread; the first dozen rows through the
                 * map, the rest (x, and the cache's one-hot y) pread. */
                if (pr)
                    setenv("NNC_MAP_RESIDENT", pr == 1 ? "0" : "8000", 1);
                else
                    unsetenv("NNC_MAP_RESIDENT");
                struct dataset ds;
                ck_assert_msg(load(&n, files[f], y, &ds, &d) == 0, "%s", d.msg);
                ck_assert(ds.mapped);
                fit(&ds, w, split);
                ck_assert_msg(!memcmp(ref, w, nw * sizeof *w), "file %d pread %d split %d", f,
                              pr, split);
                dataset_free(&ds);
            }
    }
    free(ref);
    free(w);
    net_free(&n);
}
END_TEST

/* A plain IDX file is cached; a gzipped one stays in memory. */
START_TEST(test_idx)
{
    make_values();
    struct net n;
    net_load(&n, MODEL);
    const char *x = path_in(dir, "x-idx2-ubyte"), *y = path_in(dir, "y-idx1-ubyte");
    FILE *f = fopen(x, "wb");
    unsigned char h[12] = {0, 0, 8, 2, 0, 0, 0, N, 0, 0, 0, NX};
    fwrite(h, 1, sizeof h, f);
    for (size_t i = 0; i < N * NX; i++)
        fputc((int)xv[i], f);
    fclose(f);
    f = fopen(y, "wb");
    unsigned char hy[8] = {0, 0, 8, 1, 0, 0, 0, N};
    fwrite(hy, 1, sizeof hy, f);
    for (size_t i = 0; i < N; i++)
        fputc((int)yv[i], f);
    fclose(f);
    struct diag d = {{0}};
    struct dataset ds;
    ck_assert_msg(load(&n, x, y, &ds, &d) == 0, "%s", d.msg);
    ck_assert(ds.mapped && ds.x[NX + 1] == (float)xv[NX + 1]);
    ck_assert_uint_eq(cache_files(), 1);
    dataset_free(&ds);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "gzip -c '%s' > '%s.gz'", x, x);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "%s.gz", x);
    ck_assert_msg(load(&n, cmd, y, &ds, &d) == 0, "%s", d.msg);
    ck_assert(!ds.mapped && ds.x[NX + 1] == (float)xv[NX + 1]);
    ck_assert_uint_eq(cache_files(), 1);
    dataset_free(&ds);
    net_free(&n);
}
END_TEST

/* A stored (uncompressed) zip of members name -> bytes; `pad` extra bytes
 * in each local header (an unknown extra field) move the data's offset. */
struct member {
    const char *name;
    const unsigned char *data;
    size_t n;
};

static void put16(FILE *f, unsigned v) { fputc((int)(v & 255), f); fputc((int)(v >> 8), f); }
static void put32(FILE *f, unsigned long v) { put16(f, (unsigned)(v & 0xffff)); put16(f, (unsigned)(v >> 16)); }

static unsigned long crc32_of(const unsigned char *p, size_t n)
{
    unsigned long c = 0xffffffffUL;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xedb88320UL & (0UL - (c & 1)));
    }
    return c ^ 0xffffffffUL;
}

static void write_stored_zip(const char *path, const struct member *mb, size_t count, unsigned pad)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    unsigned long off[8], at = 0;
    for (size_t i = 0; i < count; i++) {
        off[i] = at;
        size_t nl = strlen(mb[i].name), extra = pad ? 4 + pad : 0;
        put32(f, 0x04034b50UL); put16(f, 20); put16(f, 0); put16(f, 0); put16(f, 0); put16(f, 0);
        put32(f, crc32_of(mb[i].data, mb[i].n)); put32(f, mb[i].n); put32(f, mb[i].n);
        put16(f, (unsigned)nl); put16(f, (unsigned)extra);
        fwrite(mb[i].name, 1, nl, f);
        if (pad) {
            put16(f, 0xcafe);
            put16(f, pad);
            for (unsigned k = 0; k < pad; k++)
                fputc(0, f);
        }
        fwrite(mb[i].data, 1, mb[i].n, f);
        at += 30 + nl + extra + mb[i].n;
    }
    unsigned long cd = at;
    for (size_t i = 0; i < count; i++) {
        size_t nl = strlen(mb[i].name);
        put32(f, 0x02014b50UL); put16(f, 20); put16(f, 20); put16(f, 0); put16(f, 0);
        put16(f, 0); put16(f, 0); put32(f, crc32_of(mb[i].data, mb[i].n));
        put32(f, mb[i].n); put32(f, mb[i].n); put16(f, (unsigned)nl); put16(f, 0); put16(f, 0);
        put16(f, 0); put16(f, 0); put32(f, 0); put32(f, off[i]);
        fwrite(mb[i].name, 1, nl, f);
        at += 46 + nl;
    }
    put32(f, 0x06054b50UL); put16(f, 0); put16(f, 0); put16(f, (unsigned)count);
    put16(f, (unsigned)count); put32(f, at - cd); put32(f, cd); put16(f, 0);
    fclose(f);
}

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    rewind(f);
    unsigned char *p = malloc(*n);
    ck_assert_uint_eq(fread(p, 1, *n, f), *n);
    fclose(f);
    return p;
}

/* A stored float32 member trains from the archive's map when its data is
 * aligned in the archive, from memory when not: the same rows either way. */
START_TEST(test_npz_stored_member)
{
    make_values();
    struct net n;
    net_load(&n, MODEL);
    size_t xs[2] = {N, NX}, ys[1] = {N};
    size_t nx, ny;
    unsigned char *xb = slurp(write_npy("x.npy", "<f4", xs, 2, xv, N * NX), &nx);
    unsigned char *yb = slurp(write_npy("y.npy", "<i8", ys, 1, yv, N), &ny);
    struct member mb[2] = {{"x.npy", xb, nx}, {"y.npy", yb, ny}};
    const char *aligned = path_in(dir, "a.npz"), *odd = path_in(dir, "b.npz");
    write_stored_zip(aligned, mb, 2, 1); /* 30 + 5 + 5 + 128: the data at 168 */
    write_stored_zip(odd, mb, 2, 0);     /* at 163 */
    struct diag d = {{0}};
    struct dataset a, b;
    struct data_conf dc;
    memset(&dc, 0, sizeof dc);
    struct ckpt_meta meta = {0};
    const char *pa[1] = {aligned}, *pb[1] = {odd};
    ck_assert_msg(dataset_load_train_files(pa, 1, &dc, &n.m, &a, &meta, &d) == 0, "%s", d.msg);
    ck_assert_msg(dataset_load_train_files(pb, 1, &dc, &n.m, &b, &meta, &d) == 0, "%s", d.msg);
    ck_assert(a.mapped && a.y_owned);
    ck_assert_ptr_eq((const unsigned char *)a.x, (const unsigned char *)a.map + 168);
    ck_assert(!b.mapped);
    same(&a, &b);
    float *wa = calloc(n.m.n_weights, sizeof *wa), *wb = calloc(n.m.n_weights, sizeof *wb);
    setenv("NNC_MAP_RESIDENT", "0", 1); /* pread from the archive */
    fit(&a, wa, true);
    fit(&b, wb, true);
    ck_assert(!memcmp(wa, wb, n.m.n_weights * sizeof *wa));
    free(wa);
    free(wb);
    dataset_free(&a);
    dataset_free(&b);
    ckpt_meta_free(&meta);
    free(xb);
    free(yb);
    net_free(&n);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("array_data");
    TCase *tc = tcase_create("array_data");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_float32_npy_is_mapped);
    tcase_add_test(tc, test_converted_npy_is_cached);
    tcase_add_test(tc, test_cache_key_follows_targets);
    tcase_add_test(tc, test_errors_nonfinite);
    tcase_add_test(tc, test_errors_label);
    tcase_add_test(tc, test_errors_input_before_label);
    tcase_add_test(tc, test_fit_identical);
    tcase_add_test(tc, test_idx);
    tcase_add_test(tc, test_npz_stored_member);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
