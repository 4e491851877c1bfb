/* NPY, NPZ and IDX readers: files written here byte by byte (every dtype,
 * both byte orders, NPY 1.0/2.0/3.0, Fortran order; zip members stored and
 * deflated, with zip64 extra fields and records and data descriptors; IDX
 * plain and gzipped) read back and compared with the values they were
 * made from; malformed files of each kind give their one-line message;
 * random damage never crashes (the sanitizer build checks memory). Test
 * files go to a fresh temporary directory. */
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "../src/data/array.h"
#include "../src/data/idx.h"
#include "../src/data/npy.h"
#include "../src/data/npz.h"
#include "fixtures.h"

static char dir[64];

static void setup(void)
{
    strcpy(dir, "/tmp/nnc_npy_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
    DIR *dp = opendir(dir);
    struct dirent *e;
    char p[512];
    while (dp && (e = readdir(dp)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
    if (dp)
        closedir(dp);
    rmdir(dir);
}

static const char *put(const char *name, const void *data, size_t n)
{
    const char *p = path_in(dir, name);
    FILE *f = fopen(p, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
    return p;
}

/* ---- byte buffers ---------------------------------------------------------- */

struct buf {
    unsigned char *p;
    size_t n, cap;
};

static void b_add(struct buf *b, const void *p, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        ck_assert_ptr_nonnull(b->p);
    }
    if (n)
        memcpy(b->p + b->n, p, n);
    b->n += n;
}

static void b_le(struct buf *b, uint64_t v, size_t size)
{
    for (size_t i = 0; i < size; i++) {
        unsigned char c = (unsigned char)(v >> (8 * i));
        b_add(b, &c, 1);
    }
}

static void b_be(struct buf *b, uint64_t v, size_t size)
{
    for (size_t i = size; i-- > 0;) {
        unsigned char c = (unsigned char)(v >> (8 * i));
        b_add(b, &c, 1);
    }
}

/* ---- element encoding ------------------------------------------------------- */

/* Exact values only (the test's values are small integers and halves). */
static uint16_t float_to_half(double v)
{
    uint16_t sign = v < 0 ? 0x8000 : 0;
    v = fabs(v);
    if (v == 0)
        return sign;
    int e;
    double m = frexp(v, &e); /* v = m * 2^e, m in [0.5, 1) */
    int E = e - 1 + 15;
    if (E <= 0)
        return (uint16_t)(sign | (uint16_t)(v / ldexp(1, -24)));
    return (uint16_t)(sign | E << 10 | (uint16_t)((m * 2 - 1) * 1024));
}

/* numpy's descr: '<f4', '>i2', '|u1'. */
static void encode(struct buf *b, const char *descr, double v)
{
    bool be = descr[0] == '>';
    char kind = descr[1];
    size_t size = (size_t)(descr[2] - '0');
    uint64_t bits;
    if (kind == 'f' && size == 2) {
        bits = float_to_half(v);
    } else if (kind == 'f' && size == 4) {
        float f = (float)v;
        uint32_t u;
        memcpy(&u, &f, 4);
        bits = u;
    } else if (kind == 'f') {
        memcpy(&bits, &v, 8);
    } else if (kind == 'i') {
        bits = (uint64_t)(int64_t)v;
    } else {
        bits = (uint64_t)v;
    }
    if (be)
        b_be(b, bits, size);
    else
        b_le(b, bits, size);
}

/* ---- NPY images ----------------------------------------------------------- */

/* magic, version, header length, header text (padded with spaces and a
 * newline to a multiple of 64 unless raw), then data. */
static struct buf npy_image(int major, const char *dict, bool raw, const void *data, size_t n)
{
    struct buf b = {0};
    b_add(&b, "\x93NUMPY", 6);
    unsigned char ver[2] = {(unsigned char)major, 0};
    b_add(&b, ver, 2);
    size_t pre = major == 1 ? 10 : 12, text = strlen(dict);
    size_t hlen = raw ? text : ((pre + text + 1 + 63) / 64 * 64 - pre);
    b_le(&b, hlen, major == 1 ? 2 : 4);
    b_add(&b, dict, text);
    for (size_t i = text; !raw && i + 1 < hlen; i++)
        b_add(&b, " ", 1);
    if (!raw)
        b_add(&b, "\n", 1);
    b_add(&b, data, n);
    return b;
}

static char *dict_of(const char *descr, bool fortran, const char *shape)
{
    static char s[256];
    snprintf(s, sizeof s, "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }", descr,
             fortran ? "True" : "False", shape);
    return s;
}

static void open_npy_ok(const char *path, struct array *a)
{
    struct diag d = {{0}};
    if (npy_open(path, a, &d) != 0)
        ck_abort_msg("npy_open %s: %s", path, d.msg);
}

static void expect_rows(const struct array *a, const double *want, size_t n)
{
    ck_assert_uint_eq(a->n * a->row_size, n);
    float *got = malloc((n ? n : 1) * sizeof *got);
    struct diag d = {{0}};
    if (array_read_rows(a, 0, a->n, got, &d) != 0)
        ck_abort_msg("array_read_rows %s: %s", a->name, d.msg);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(got[i] == (float)want[i], "%s: [%zu] = %g, want %g", a->name, i,
                      (double)got[i], want[i]);
    free(got);
}

/* ---- NPY: values ------------------------------------------------------------ */

static const char *const descrs[] = {
    "|b1", "|i1", "|u1", "<i2", ">i2", "<u2", ">u2", "<i4", ">i4", "<u4", ">u4",
    "<i8", ">i8", "<u8", ">u8", "<f2", ">f2", "<f4", ">f4", "<f8", ">f8",
};

/* Six values each dtype can hold exactly. */
static void values_for(const char *descr, double v[6])
{
    static const double bools[] = {0, 1, 1, 0, 1, 0};
    static const double small[] = {0, 1, 2, 127, 3, 100};
    static const double signedv[] = {-128, -1, 0, 1, 2, 127};
    static const double wide[] = {-16777216, -300, 0, 255, 65535, 16777216};
    static const double uwide[] = {0, 1, 255, 256, 65535, 16777216};
    static const double u16[] = {0, 1, 255, 256, 1000, 65535};
    static const double floats[] = {-2, -0.5, 0, 0.25, 1.5, 65504};
    const double *src = small;
    char kind = descr[1], size = descr[2];
    if (kind == 'b')
        src = bools;
    else if (kind == 'f')
        src = floats;
    else if (kind == 'i')
        src = size >= '4' ? wide : signedv;
    else if (kind == 'u')
        src = size >= '4' ? uwide : size == '2' ? u16 : small;
    memcpy(v, src, 6 * sizeof *v);
}

START_TEST(test_npy_dtypes)
{
    for (size_t k = 0; k < sizeof descrs / sizeof descrs[0]; k++) {
        double v[6];
        values_for(descrs[k], v);
        struct buf data = {0};
        for (int i = 0; i < 6; i++)
            encode(&data, descrs[k], v[i]);
        struct buf img = npy_image(1, dict_of(descrs[k], false, "(3, 2)"), false, data.p, data.n);
        const char *p = put("t.npy", img.p, img.n);
        struct array a;
        open_npy_ok(p, &a);
        ck_assert_uint_eq(a.n, 3);
        ck_assert_uint_eq(a.row_size, 2);
        ck_assert_uint_eq(a.rank, 2);
        char db[16];
        ck_assert_str_eq(array_dtype_format(&a, db, sizeof db), descrs[k]);
        expect_rows(&a, v, 6);
        /* A single row from the middle. */
        float row[2];
        struct diag d = {{0}};
        ck_assert_int_eq(array_read_rows(&a, 1, 1, row, &d), 0);
        ck_assert(row[0] == (float)v[2] && row[1] == (float)v[3]);
        array_free(&a);
        free(data.p);
        free(img.p);
    }
}
END_TEST

START_TEST(test_npy_half_specials)
{
    /* Subnormal 2^-24, the largest subnormal, the smallest normal, -0. */
    static const uint16_t h[] = {0x0001, 0x03ff, 0x0400, 0x8000, 0x3c00, 0xc000};
    const double want[] = {ldexp(1, -24), 1023 * ldexp(1, -24), ldexp(1, -14), -0.0, 1, -2};
    struct buf data = {0};
    for (int i = 0; i < 6; i++)
        b_le(&data, h[i], 2);
    struct buf img = npy_image(1, dict_of("<f2", false, "(6,)"), false, data.p, data.n);
    struct array a;
    open_npy_ok(put("h.npy", img.p, img.n), &a);
    ck_assert_uint_eq(a.row_size, 1);
    expect_rows(&a, want, 6);
    array_free(&a);
    free(data.p);
    free(img.p);
}
END_TEST

START_TEST(test_npy_versions)
{
    const double v[] = {1, 2, 3, 4};
    struct buf data = {0};
    for (int i = 0; i < 4; i++)
        encode(&data, "<f4", v[i]);
    for (int major = 1; major <= 3; major++) {
        struct buf img = npy_image(major, dict_of("<f4", false, "(2, 2)"), false, data.p, data.n);
        struct array a;
        open_npy_ok(put("v.npy", img.p, img.n), &a);
        expect_rows(&a, v, 4);
        array_free(&a);
        free(img.p);
    }
    /* Python 2's longs, double quotes, no trailing comma, keys in any order. */
    struct buf img = npy_image(1, "{\"shape\": (2L, 2L), \"fortran_order\": False, "
                                  "\"descr\": \"<f4\"}", false, data.p, data.n);
    struct array a;
    open_npy_ok(put("p2.npy", img.p, img.n), &a);
    expect_rows(&a, v, 4);
    array_free(&a);
    free(img.p);
    free(data.p);
}
END_TEST

/* A (2, 3, 2) array stored column-major reads back in C order. */
START_TEST(test_npy_fortran)
{
    double c[12];
    for (int i = 0; i < 12; i++)
        c[i] = i + 1;
    /* Fortran order: element (i, j, k) at i + 2*(j + 3*k). */
    double f[12];
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++)
            for (int k = 0; k < 2; k++)
                f[i + 2 * (j + 3 * k)] = c[(i * 3 + j) * 2 + k];
    struct buf data = {0};
    for (int i = 0; i < 12; i++)
        encode(&data, ">i2", f[i]);
    struct buf img = npy_image(1, dict_of(">i2", true, "(2, 3, 2)"), false, data.p, data.n);
    struct array a;
    open_npy_ok(put("f.npy", img.p, img.n), &a);
    ck_assert(a.fortran);
    expect_rows(&a, c, 12);
    float row[6];
    struct diag d = {{0}};
    ck_assert_int_eq(array_read_rows(&a, 1, 1, row, &d), 0);
    for (int j = 0; j < 6; j++)
        ck_assert(row[j] == (float)c[6 + j]);
    array_free(&a);
    /* A 1-D Fortran array is the same as C. */
    img.n = 0;
    free(img.p);
    img = npy_image(1, dict_of(">i2", true, "(12,)"), false, data.p, data.n);
    open_npy_ok(put("f1.npy", img.p, img.n), &a);
    expect_rows(&a, f, 12);
    array_free(&a);
    free(img.p);
    free(data.p);
}
END_TEST

START_TEST(test_npy_write_header)
{
    unsigned char h[256];
    size_t shape[] = {7, 28, 28};
    size_t n = npy_format_header(h, sizeof h, "<f4", shape, 3, 0);
    ck_assert_uint_eq(n % 64, 0);
    ck_assert(h[n - 1] == '\n');
    const char *want = "{'descr': '<f4', 'fortran_order': False, 'shape': (7, 28, 28), }";
    ck_assert(memcmp(h + 10, want, strlen(want)) == 0);
    /* A header padded to a fixed width parses back. */
    size_t one[] = {5};
    n = npy_format_header(h, sizeof h, "<i8", one, 1, 192);
    ck_assert_uint_eq(n, 192);
    struct array a = {.name = "w.npy"};
    size_t off;
    struct diag d = {{0}};
    ck_assert_int_eq(npy_parse_header(h, n, &a, &off, &d), 0);
    ck_assert_uint_eq(off, 192);
    ck_assert_uint_eq(a.rank, 1);
    ck_assert_uint_eq(a.n, 5);
    ck_assert(a.dtype == DT_I64);
    ck_assert_uint_eq(npy_format_header(h, sizeof h, "<i8", one, 1, 20), 0); /* too narrow */
}
END_TEST

/* ---- NPY: malformed ------------------------------------------------------- */

static void expect_npy_error(const void *img, size_t n, const char *want_fmt)
{
    const char *p = put("bad.npy", img, n);
    struct array a;
    struct diag d = {{0}};
    ck_assert_int_eq(npy_open(p, &a, &d), -1);
    char want[1024];
    snprintf(want, sizeof want, want_fmt, p);
    ck_assert_str_eq(d.msg, want);
}

static void expect_header_error(const char *dict, const char *want_fmt)
{
    struct buf img = npy_image(1, dict, false, "\0\0\0\0\0\0\0\0", 8);
    expect_npy_error(img.p, img.n, want_fmt);
    free(img.p);
}

START_TEST(test_npy_malformed)
{
    expect_npy_error("\x93NUM", 4, "%s: header: truncated (4 bytes)");
    expect_npy_error("", 0, "%s: header: truncated (0 bytes)");
    expect_npy_error("PK\3\4xxxxxxxx", 12, "%s: header: not an NPY file (no \\x93NUMPY magic)");
    expect_npy_error("\x93NUMPY\x04\x00\x10\x00", 10,
                     "%s: header: NPY version 4.0 (nnc reads 1.0, 2.0 and 3.0)");
    expect_npy_error("\x93NUMPY\x01\x00\x40\x00{'descr'", 18,
                     "%s: header: truncated (18 of its 74 bytes)");
    expect_npy_error("\x93NUMPY\x02\x00\xff\xff\xff\x7f", 12,
                     "%s: header: 2147483647 bytes long (numpy's limit is 10000)");
    expect_header_error("{'descr': '<f4', 'fortran_order': False}", "%s: header: no 'shape' key");
    expect_header_error("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}",
                        "%s: header: unknown key 'x'");
    expect_header_error("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}",
                        "%s: header: key 'descr' given twice");
    expect_header_error(dict_of("<c8", false, "(1,)"),
                        "%s: header: descr '<c8' is not a supported dtype (bool, int8-64, "
                        "uint8-64, float16-64 with byte order '<', '>' or '|')");
    expect_header_error(dict_of("|f4", false, "(2,)"),
                        "%s: header: descr '|f4' is not a supported dtype (bool, int8-64, "
                        "uint8-64, float16-64 with byte order '<', '>' or '|')");
    expect_header_error(dict_of("<U3", false, "(2,)"),
                        "%s: header: descr '<U3' is not a supported dtype (bool, int8-64, "
                        "uint8-64, float16-64 with byte order '<', '>' or '|')");
    expect_header_error("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,)}",
                        "%s: header: descr: structured dtypes (a list of fields) are not "
                        "supported");
    expect_header_error(dict_of("<f4", false, "(2)"),
                        "%s: header: shape: (n) is not a tuple; numpy writes (n,)");
    expect_header_error(dict_of("<f4", false, "(-2,)"),
                        "%s: header: shape: expected a non-negative integer");
    expect_header_error(dict_of("<f4", false, "(99999999999999999999999,)"),
                        "%s: header: shape: a dimension overflows");
    expect_header_error(dict_of("<f4", false, "(4294967296, 4294967296)"),
                        "%s: header: shape (4294967296, 4294967296) overflows (more than 2^64 "
                        "bytes)");
    char many[256] = "(";
    for (int i = 0; i < 33; i++)
        strcat(many, "1, ");
    strcat(many, ")");
    expect_header_error(dict_of("<f4", false, many), "%s: header: shape: more than 32 axes");
    expect_header_error("{'descr': '<f4', 'fortran_order': maybe, 'shape': (2,)}",
                        "%s: header: fortran_order: expected True or False");
    expect_header_error("{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} x",
                        "%s: header: text after the dict");
    expect_header_error("['descr']", "%s: header: expected a dict ('{')");
    expect_header_error("{'descr': '<f4\\n'}", "%s: header: unexpected string (too long or "
                                               "with escapes)");
    expect_header_error(dict_of("<f4", false, "(3,)"),
                        "%s: shape (3,) of <f4 needs 12 bytes of data, the file holds 8");
    expect_header_error(dict_of("|u1", false, "(2, 3)"),
                        "%s: 2 bytes after the data of shape (2, 3) of |u1");
    /* A header claiming far more than the file holds is caught before any read. */
    expect_header_error(dict_of("<f8", false, "(1000000000000,)"),
                        "%s: shape (1000000000000,) of <f8 needs 8000000000000 bytes of data, "
                        "the file holds 8");
}
END_TEST

/* Values that cannot come in exactly are located: ROW:COL, 1-based. */
START_TEST(test_npy_bad_values)
{
    struct {
        const char *descr;
        double v;
        const char *want;
    } cases[] = {
        {"<f4", NAN, "%s:2:2: nan is not a finite number"},
        {">f8", -INFINITY, "%s:2:2: -inf is not a finite number"},
        {"<f8", 1e39, "%s:2:2: 1e+39 is out of range for float32"},
        {"<i8", 16777217, "%s:2:2: 16777217 is not exactly representable in float32 "
                          "(integers up to 2^24)"},
        {">i4", -16777217, "%s:2:2: -16777217 is not exactly representable in float32 "
                           "(integers up to 2^24)"},
        {"<u8", 18446744073709551615.0, "%s:2:2: 18446744073709551615 is not exactly "
                                        "representable in float32 (integers up to 2^24)"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        struct buf data = {0};
        for (int i = 0; i < 4; i++) {
            if (i == 3 && cases[k].descr[2] == '8' && cases[k].descr[1] == 'u')
                b_le(&data, UINT64_MAX, 8);
            else
                encode(&data, cases[k].descr, i == 3 ? cases[k].v : i);
        }
        struct buf img = npy_image(1, dict_of(cases[k].descr, false, "(2, 2)"), false, data.p,
                                   data.n);
        struct array a;
        const char *p = put("val.npy", img.p, img.n);
        open_npy_ok(p, &a);
        float out[4];
        struct diag d = {{0}};
        ck_assert_int_eq(array_read_rows(&a, 0, 2, out, &d), -1);
        char want[512];
        snprintf(want, sizeof want, cases[k].want, p);
        ck_assert_str_eq(d.msg, want);
        /* The first row alone is fine. */
        ck_assert_int_eq(array_read_rows(&a, 0, 1, out, &d), 0);
        array_free(&a);
        free(data.p);
        free(img.p);
    }
}
END_TEST

/* ---- NPZ ---------------------------------------------------------------------- */

struct zmember {
    const char *name;
    struct buf data;
    int method;           /* 0 stored, 8 deflated, other: written as is */
    bool zip64;           /* sizes and offset in zip64 extra fields */
    bool descriptor;      /* sizes after the data (flag bit 3) */
    long long uncomp_lie; /* added to the directory's uncompressed size */
    long long comp_lie;   /* added to the directory's compressed size */
    bool bad_crc, encrypted;
    struct buf extra_deflate; /* deflated after the data (a bomb) */
};

static struct buf deflate_raw(const struct buf *a, const struct buf *b)
{
    z_stream zs = {0};
    ck_assert_int_eq(deflateInit2(&zs, 6, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    struct buf out = {0};
    out.cap = deflateBound(&zs, (uLong)(a->n + b->n)) + 64;
    out.p = malloc(out.cap);
    zs.next_out = out.p;
    zs.avail_out = (uInt)out.cap;
    zs.next_in = a->p;
    zs.avail_in = (uInt)a->n;
    ck_assert_int_eq(deflate(&zs, Z_NO_FLUSH), Z_OK);
    zs.next_in = b->p;
    zs.avail_in = (uInt)b->n;
    ck_assert_int_eq(deflate(&zs, Z_FINISH), Z_STREAM_END);
    out.n = zs.total_out;
    deflateEnd(&zs);
    return out;
}

/* A zip archive of the members; zip64_end adds the zip64 end record and
 * locator (with 0xffff... in the classic end record). */
static struct buf make_zip(struct zmember *m, size_t count, bool zip64_end)
{
    struct buf z = {0}, cd = {0};
    for (size_t i = 0; i < count; i++) {
        struct buf payload = m[i].data;
        bool own = false;
        if (m[i].method == 8) {
            payload = deflate_raw(&m[i].data, &m[i].extra_deflate);
            own = true;
        }
        uint32_t crc = (uint32_t)crc32(0, m[i].data.p, (uInt)m[i].data.n) ^ (m[i].bad_crc ? 1 : 0);
        uint64_t comp = (uint64_t)((long long)payload.n + m[i].comp_lie);
        uint64_t uncomp = (uint64_t)((long long)m[i].data.n + m[i].uncomp_lie);
        uint64_t local = z.n;
        unsigned flags = (m[i].descriptor ? 8 : 0) | (m[i].encrypted ? 1 : 0);
        size_t nlen = strlen(m[i].name);
        /* local header */
        b_le(&z, 0x04034b50, 4);
        b_le(&z, m[i].zip64 ? 45 : 20, 2);
        b_le(&z, flags, 2);
        b_le(&z, (uint64_t)m[i].method, 2);
        b_le(&z, 0, 2);
        b_le(&z, 0x21, 2);
        b_le(&z, m[i].descriptor ? 0 : crc, 4);
        b_le(&z, m[i].descriptor ? 0 : m[i].zip64 ? 0xffffffffu : comp, 4);
        b_le(&z, m[i].descriptor ? 0 : m[i].zip64 ? 0xffffffffu : uncomp, 4);
        b_le(&z, nlen, 2);
        b_le(&z, m[i].zip64 ? 20 : 0, 2);
        b_add(&z, m[i].name, nlen);
        if (m[i].zip64) {
            b_le(&z, 1, 2);
            b_le(&z, 16, 2);
            b_le(&z, m[i].descriptor ? 0 : uncomp, 8);
            b_le(&z, m[i].descriptor ? 0 : comp, 8);
        }
        b_add(&z, payload.p, payload.n);
        if (m[i].descriptor) {
            b_le(&z, 0x08074b50, 4);
            b_le(&z, crc, 4);
            b_le(&z, comp, m[i].zip64 ? 8 : 4);
            b_le(&z, uncomp, m[i].zip64 ? 8 : 4);
        }
        /* central directory entry */
        b_le(&cd, 0x02014b50, 4);
        b_le(&cd, 45, 2);
        b_le(&cd, m[i].zip64 ? 45 : 20, 2);
        b_le(&cd, flags, 2);
        b_le(&cd, (uint64_t)m[i].method, 2);
        b_le(&cd, 0, 2);
        b_le(&cd, 0x21, 2);
        b_le(&cd, crc, 4);
        b_le(&cd, m[i].zip64 ? 0xffffffffu : comp, 4);
        b_le(&cd, m[i].zip64 ? 0xffffffffu : uncomp, 4);
        b_le(&cd, nlen, 2);
        b_le(&cd, m[i].zip64 ? 28 : 0, 2);
        b_le(&cd, 0, 2);
        b_le(&cd, 0, 2);
        b_le(&cd, 0, 2);
        b_le(&cd, 0, 4);
        b_le(&cd, m[i].zip64 ? 0xffffffffu : local, 4);
        b_add(&cd, m[i].name, nlen);
        if (m[i].zip64) {
            b_le(&cd, 1, 2);
            b_le(&cd, 24, 2);
            b_le(&cd, uncomp, 8);
            b_le(&cd, comp, 8);
            b_le(&cd, local, 8);
        }
        if (own)
            free(payload.p);
    }
    uint64_t cd_off = z.n;
    b_add(&z, cd.p, cd.n);
    if (zip64_end) {
        uint64_t rec = z.n;
        b_le(&z, 0x06064b50, 4);
        b_le(&z, 44, 8);
        b_le(&z, 45, 2);
        b_le(&z, 45, 2);
        b_le(&z, 0, 4);
        b_le(&z, 0, 4);
        b_le(&z, count, 8);
        b_le(&z, count, 8);
        b_le(&z, cd.n, 8);
        b_le(&z, cd_off, 8);
        b_le(&z, 0x07064b50, 4);
        b_le(&z, 0, 4);
        b_le(&z, rec, 8);
        b_le(&z, 1, 4);
    }
    b_le(&z, 0x06054b50, 4);
    b_le(&z, 0, 2);
    b_le(&z, 0, 2);
    b_le(&z, zip64_end ? 0xffff : count, 2);
    b_le(&z, zip64_end ? 0xffff : count, 2);
    b_le(&z, zip64_end ? 0xffffffffu : cd.n, 4);
    b_le(&z, zip64_end ? 0xffffffffu : cd_off, 4);
    b_le(&z, 0, 2);
    free(cd.p);
    return z;
}

/* x: (3, 2) float32 1..6; y: (3,) uint8 0, 1, 2. */
static struct buf x_npy(void)
{
    struct buf data = {0};
    for (int i = 1; i <= 6; i++)
        encode(&data, "<f4", i);
    struct buf img = npy_image(1, dict_of("<f4", false, "(3, 2)"), false, data.p, data.n);
    free(data.p);
    return img;
}

static struct buf y_npy(void)
{
    return npy_image(1, dict_of("|u1", false, "(3,)"), false, "\0\1\2", 3);
}

static void load_xy(const char *path, bool expect_ok)
{
    struct npz *z;
    struct diag d = {{0}};
    if (npz_open(path, &z, &d) != 0)
        ck_abort_msg("npz_open: %s", d.msg);
    ck_assert_uint_eq(npz_n_members(z), 2);
    ck_assert(npz_has(z, "x.npy") && npz_has(z, "y.npy") && !npz_has(z, "z.npy"));
    struct array x, y;
    if (npz_load(z, "x.npy", &x, &d) != 0 || npz_load(z, "y.npy", &y, &d) != 0)
        ck_abort_msg("npz_load: %s", d.msg);
    npz_close(z); /* the arrays outlive the archive */
    ck_assert(expect_ok);
    expect_rows(&x, (const double[]){1, 2, 3, 4, 5, 6}, 6);
    expect_rows(&y, (const double[]){0, 1, 2}, 3);
    char name[300];
    snprintf(name, sizeof name, "%s(x.npy)", path);
    ck_assert_str_eq(x.name, name);
    array_free(&x);
    array_free(&y);
}

START_TEST(test_npz_members)
{
    for (int variant = 0; variant < 8; variant++) {
        bool deflated = variant & 1, zip64 = variant & 2, descriptor = variant & 4;
        struct zmember m[2] = {
            {"x.npy", x_npy(), deflated ? 8 : 0, zip64, descriptor, 0, 0, false, false, {0}},
            {"y.npy", y_npy(), 0, zip64, descriptor, 0, 0, false, false, {0}},
        };
        struct buf z = make_zip(m, 2, zip64);
        load_xy(put("d.npz", z.p, z.n), true);
        free(z.p);
        free(m[0].data.p);
        free(m[1].data.p);
    }
}
END_TEST

static void expect_npz_error(struct zmember *m, size_t count, const char *member,
                             const char *want_fmt)
{
    struct buf z = make_zip(m, count, false);
    const char *p = put("bad.npz", z.p, z.n);
    free(z.p);
    struct npz *zz = NULL;
    struct diag d = {{0}};
    int rc = npz_open(p, &zz, &d);
    if (rc == 0) {
        struct array a;
        rc = npz_load(zz, member, &a, &d);
        npz_close(zz);
    }
    ck_assert_int_eq(rc, -1);
    char want[1024];
    snprintf(want, sizeof want, want_fmt, p);
    ck_assert_str_eq(d.msg, want);
}

START_TEST(test_npz_malformed)
{
    struct zmember m = {"x.npy", x_npy(), 8, false, false, 0, 0, false, false, {0}};
    /* The directory claims more than the NPY header does. */
    m.uncomp_lie = 1000;
    expect_npz_error(&m, 1, "x.npy",
                     "%s(x.npy): the NPY header's shape (3, 2) needs 152 bytes, the zip "
                     "directory says the member holds 1152");
    m.uncomp_lie = 0;
    /* A bomb: the deflate stream goes on past what header and directory say. */
    m.extra_deflate.n = 1 << 20;
    m.extra_deflate.p = calloc(1, m.extra_deflate.n);
    expect_npz_error(&m, 1, "x.npy", "%s(x.npy): inflates to more than the member's 152 bytes");
    free(m.extra_deflate.p);
    m.extra_deflate = (struct buf){0};
    /* Compressed size past the end of the members. */
    m.comp_lie = 4000;
    expect_npz_error(&m, 1, "x.npy", "%s(x.npy): 4088 bytes of data at offset 35 run past the "
                                     "archive's members");
    m.comp_lie = -10;
    expect_npz_error(&m, 1, "x.npy", "%s(x.npy): the deflated data ends after 136 of the "
                                     "member's 152 bytes");
    m.comp_lie = 0;
    m.bad_crc = true;
    expect_npz_error(&m, 1, "x.npy", "%s(x.npy): CRC-32 mismatch (the member is damaged)");
    m.method = 0;
    expect_npz_error(&m, 1, "x.npy", "%s(x.npy): CRC-32 mismatch (the member is damaged)");
    m.bad_crc = false;
    m.uncomp_lie = 1;
    expect_npz_error(&m, 1, "x.npy", "%s(x.npy): a stored member whose sizes differ (152 and "
                                     "153 bytes)");
    m.uncomp_lie = 0;
    m.encrypted = true;
    expect_npz_error(&m, 1, "x.npy", "%s(x.npy): encrypted members are not supported");
    m.encrypted = false;
    m.method = 12;
    expect_npz_error(&m, 1, "x.npy", "%s(x.npy): compression method 12 (nnc reads stored and "
                                     "deflated)");
    m.method = 0;
    struct zmember two[2] = {m, m};
    expect_npz_error(two, 2, "x.npy", "%s: member x.npy appears twice");
    /* A header whose shape claims 100 MB while the deflated data holds a
     * few bytes: an error once the data runs out, not a 100 MB buffer. */
    struct buf img = npy_image(1, dict_of("|u1", false, "(100000000,)"), false, "abc", 3);
    struct zmember liar = {"x.npy", img, 8, false, false, 100000000 - 3, 0, false, false, {0}};
    expect_npz_error(&liar, 1, "x.npy", "%s(x.npy): the deflated data ends after 131 of the "
                                        "member's 100000128 bytes");
    free(img.p);
    free(m.data.p);

    /* Archive-level damage. */
    const char *p = put("t.npz", "PK\5\6", 4);
    struct npz *z;
    struct diag d = {{0}};
    ck_assert_int_eq(npz_open(p, &z, &d), -1);
    char want[512];
    snprintf(want, sizeof want, "%s: not a valid zip: too short for an end of central directory "
             "record", p);
    ck_assert_str_eq(d.msg, want);
    unsigned char end[22] = {'P', 'K', 5, 6, 0, 0, 0, 0, 1, 0, 1, 0, 46, 0, 0, 0, 0, 0, 0, 0};
    p = put("t.npz", end, sizeof end);
    ck_assert_int_eq(npz_open(p, &z, &d), -1);
    snprintf(want, sizeof want, "%s: not a valid zip: the central directory lies outside the "
             "file", p);
    ck_assert_str_eq(d.msg, want);
    p = put("t.npz", "just text, no zip at all......", 30);
    ck_assert_int_eq(npz_open(p, &z, &d), -1);
    snprintf(want, sizeof want, "%s: not a valid zip: no end of central directory record", p);
    ck_assert_str_eq(d.msg, want);
}
END_TEST

/* ---- IDX ----------------------------------------------------------------------- */

static struct buf idx_image(int type, const uint32_t *dims, int rank, const double *v, size_t n)
{
    struct buf b = {0};
    unsigned char m[4] = {0, 0, (unsigned char)type, (unsigned char)rank};
    b_add(&b, m, 4);
    for (int k = 0; k < rank; k++)
        b_be(&b, dims[k], 4);
    const char *descr = type == 8 ? ">u1" : type == 9 ? ">i1" : type == 0x0b ? ">i2"
                       : type == 0x0c ? ">i4" : type == 0x0d ? ">f4" : ">f8";
    for (size_t i = 0; i < n; i++)
        encode(&b, descr, v[i]);
    return b;
}

static const char *put_gz(const char *name, const void *data, size_t n)
{
    const char *p = path_in(dir, name);
    gzFile g = gzopen(p, "wb");
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(gzwrite(g, data, (unsigned)n), (int)n);
    ck_assert_int_eq(gzclose(g), Z_OK);
    return p;
}

START_TEST(test_idx_types)
{
    static const int types[] = {0x08, 0x09, 0x0b, 0x0c, 0x0d, 0x0e};
    static const double v[6][6] = {
        {0, 1, 2, 128, 200, 255}, {-128, -1, 0, 1, 2, 127}, {-32768, -1, 0, 1, 300, 32767},
        {-16777216, -1, 0, 1, 70000, 16777216}, {-2.5, -1, 0, 0.125, 3, 1e30},
        {-2.5, -1, 0, 0.125, 3, 1e30}};
    const uint32_t dims[] = {2, 3};
    for (int k = 0; k < 6; k++) {
        struct buf img = idx_image(types[k], dims, 2, v[k], 6);
        for (int gz = 0; gz < 2; gz++) {
            const char *p = gz ? put_gz("t-idx2.gz", img.p, img.n)
                               : put("t-idx2-ubyte", img.p, img.n);
            ck_assert_int_eq(data_format_detect(p), DATA_IDX);
            struct array a;
            struct diag d = {{0}};
            if (idx_open(p, &a, &d) != 0)
                ck_abort_msg("idx_open: %s", d.msg);
            ck_assert_uint_eq(a.n, 2);
            ck_assert_uint_eq(a.row_size, 3);
            ck_assert(a.big_endian);
            ck_assert(gz ? a.map == NULL : a.buf == NULL); /* plain files are mapped */
            expect_rows(&a, v[k], 6);
            array_free(&a);
        }
        free(img.p);
    }
}
END_TEST

static void expect_idx_error(const void *img, size_t n, bool gz, const char *want_fmt)
{
    const char *p = gz ? put_gz("bad-idx.gz", img, n) : put("bad-idx1-ubyte", img, n);
    struct array a;
    struct diag d = {{0}};
    ck_assert_int_eq(idx_open(p, &a, &d), -1);
    char want[1024];
    snprintf(want, sizeof want, want_fmt, p);
    ck_assert_str_eq(d.msg, want);
}

START_TEST(test_idx_malformed)
{
    const uint32_t dims[] = {4};
    const double v[] = {1, 2, 3, 4};
    struct buf img = idx_image(8, dims, 1, v, 4);
    for (int gz = 0; gz < 2; gz++) {
        expect_idx_error(img.p, 2, gz, "%s: header: truncated (2 bytes)");
        expect_idx_error("\0\0\x08\x02\0\0", 6, gz, "%s: header: truncated (6 of its 12 bytes)");
        expect_idx_error("\x01\x02\x08\x01", 4, gz, "%s: not an IDX file (magic 01 02 08 01; "
                                                   "IDX starts 00 00 TYPE RANK)");
        expect_idx_error("\0\0\x0a\x01", 4, gz, "%s: IDX type 0x0a is not one of 08 09 0B 0C "
                                                "0D 0E");
        expect_idx_error("\0\0\x08\x00", 4, gz, "%s: IDX rank 0 (1 to 32 axes)");
        expect_idx_error(img.p, img.n - 1, gz,
                         "%s: the header's shape (4,) needs 4 bytes of data, the file holds 3");
        struct buf longer = {0};
        b_add(&longer, img.p, img.n);
        b_add(&longer, "zz", 2);
        expect_idx_error(longer.p, longer.n, gz,
                         gz ? "%s: data after the 4 bytes the header's shape (4,) needs"
                            : "%s: 2 bytes after the data of shape (4,)");
        free(longer.p);
    }
    /* A header claiming 4 GB of gzipped data that holds 4 bytes. */
    const uint32_t big[] = {16384, 16384};
    struct buf liar = idx_image(8, big, 2, v, 4);
    expect_idx_error(liar.p, liar.n, true, "%s: the header's shape (16384, 16384) needs "
                                           "268435456 bytes of data, the file holds 4");
    free(liar.p);
    /* A damaged gzip stream. */
    const char *p = put_gz("g.gz", img.p, img.n);
    FILE *f = fopen(p, "r+b");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fseek(f, 12, SEEK_SET), 0);
    fputc(0xff, f);
    fputc(0xff, f);
    fclose(f);
    struct array a;
    struct diag d = {{0}};
    ck_assert_int_eq(idx_open(p, &a, &d), -1);
    ck_assert_msg(strstr(d.msg, ": gzip: ") || strstr(d.msg, ": header") ||
                  strstr(d.msg, ": not an IDX"), "%s", d.msg);
    free(img.p);
}
END_TEST

START_TEST(test_format_detect)
{
    ck_assert_int_eq(data_format_detect("-"), DATA_CSV);
    ck_assert_int_eq(data_format_detect("a/missing.npy"), DATA_NPY);
    ck_assert_int_eq(data_format_detect("a/missing.npz"), DATA_NPZ);
    ck_assert_int_eq(data_format_detect("a/train-images-idx3-ubyte.gz"), DATA_IDX);
    ck_assert_int_eq(data_format_detect("a/labels.idx"), DATA_IDX);
    ck_assert_int_eq(data_format_detect("a/data.csv"), DATA_CSV);
    ck_assert_int_eq(data_format_detect("a/missing"), DATA_CSV);
    struct buf img = x_npy();
    ck_assert_int_eq(data_format_detect(put("noext", img.p, img.n)), DATA_NPY);
    ck_assert_int_eq(data_format_detect(put("zip", "PK\3\4....", 8)), DATA_NPZ);
    ck_assert_int_eq(data_format_detect(put("idx", "\0\0\x08\x01\0\0\0\0", 8)), DATA_IDX);
    ck_assert_int_eq(data_format_detect(put("text", "a,b\n1,2\n", 8)), DATA_CSV);
    free(img.p);
}
END_TEST

/* Random damage (bytes overwritten, files cut short) of valid NPY, NPZ
 * and IDX files: each read either succeeds or fails with a message that
 * names the file. */
START_TEST(test_random_damage)
{
    struct zmember m[2] = {
        {"x.npy", x_npy(), 8, true, false, 0, 0, false, false, {0}},
        {"y.npy", y_npy(), 0, false, true, 0, 0, false, false, {0}},
    };
    struct buf zip = make_zip(m, 2, true), npy = x_npy();
    const uint32_t dims[] = {2, 3};
    const double v[] = {1, 2, 3, 4, 5, 6};
    struct buf idx = idx_image(0x0c, dims, 2, v, 6);
    struct buf *src[] = {&npy, &zip, &idx};
    unsigned s = 4321;
    unsigned char tmp[1024];
    for (int iter = 0; iter < 1500; iter++) {
        const struct buf *b = src[iter % 3];
        ck_assert_uint_le(b->n, sizeof tmp);
        memcpy(tmp, b->p, b->n);
        size_t n = b->n;
        s = s * 1103515245u + 12345u;
        if ((s >> 16) % 4 == 0)
            n = (s >> 8) % (b->n + 1);
        for (int k = 0; k < 3; k++) {
            s = s * 1103515245u + 12345u;
            size_t at = (s >> 8) % b->n;
            s = s * 1103515245u + 12345u;
            if (at < n)
                tmp[at] = (unsigned char)(s >> 16);
        }
        const char *p = put(iter % 3 == 0 ? "r.npy" : iter % 3 == 1 ? "r.npz" : "r-idx2", tmp, n);
        struct diag d = {{0}};
        struct array a;
        int rc;
        if (iter % 3 == 1) {
            struct npz *z;
            rc = npz_open(p, &z, &d);
            for (size_t i = 0; rc == 0 && i < npz_n_members(z); i++) {
                if (npz_load(z, npz_member_name(z, i), &a, &d) == 0) {
                    float *out = malloc((a.n * a.row_size + 1) * sizeof *out);
                    (void)array_read_rows(&a, 0, a.n, out, &d);
                    free(out);
                    array_free(&a);
                }
            }
            if (rc == 0)
                npz_close(z);
        } else {
            rc = iter % 3 == 0 ? npy_open(p, &a, &d) : idx_open(p, &a, &d);
            if (rc == 0) {
                float *out = malloc((a.n * a.row_size + 1) * sizeof *out);
                (void)array_read_rows(&a, 0, a.n, out, &d);
                free(out);
                array_free(&a);
            }
        }
        if (d.msg[0])
            ck_assert_msg(strncmp(d.msg, p, strlen(p)) == 0, "%s", d.msg);
    }
    free(zip.p);
    free(npy.p);
    free(idx.p);
    free(m[0].data.p);
    free(m[1].data.p);
}
END_TEST

static Suite *npy_suite(void)
{
    Suite *s = suite_create("npy");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_npy_dtypes);
    tcase_add_test(tc, test_npy_half_specials);
    tcase_add_test(tc, test_npy_versions);
    tcase_add_test(tc, test_npy_fortran);
    tcase_add_test(tc, test_npy_write_header);
    tcase_add_test(tc, test_npy_malformed);
    tcase_add_test(tc, test_npy_bad_values);
    tcase_add_test(tc, test_npz_members);
    tcase_add_test(tc, test_npz_malformed);
    tcase_add_test(tc, test_idx_types);
    tcase_add_test(tc, test_idx_malformed);
    tcase_add_test(tc, test_format_detect);
    tcase_add_test(tc, test_random_damage);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(npy_suite());
}
