/* csv: header and delimiter detection, quoting, CRLF, BOM, column selection
 * and its messages, class targets, every located data error, batch-size
 * independence, a pipe answered row by row, and random bytes that must
 * neither crash nor hang. Test data goes to a fresh temporary directory. */
#include <check.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../src/data/csv.h"
#include "../src/data/decimal.h"
#include "../src/spec.h"
#include "fixtures.h"

static char dir[64];
static char paths[16][128];
static int n_paths;

static void setup(void)
{
    strcpy(dir, "/tmp/nnc_csv_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    n_paths = 0;
}

static void teardown(void)
{
    for (int i = 0; i < n_paths; i++)
        unlink(paths[i]);
    rmdir(dir);
}

/* Writes n bytes to dir/name and returns the path. */
static const char *put_n(const char *name, const char *data, size_t n)
{
    ck_assert_int_lt(n_paths, 16);
    char *path = paths[n_paths++];
    snprintf(path, sizeof paths[0], "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
    return path;
}

static const char *put(const char *name, const char *text) { return put_n(name, text, strlen(text)); }

static struct csv_reader *open_ok(const char *path, int header, int delim)
{
    struct csv_options opt = {.header = header, .delimiter = delim};
    struct csv_reader *r = NULL;
    struct diag d = {{0}};
    if (csv_open(&r, path, &opt, &d) != 0)
        ck_abort_msg("csv_open failed: %s", d.msg);
    return r;
}

/* d->msg must equal fmt with the path put in for %s. */
static void expect_msg(const struct diag *d, const char *fmt, const char *path)
{
    char want[1024];
    snprintf(want, sizeof want, fmt, path);
    ck_assert_str_eq(d->msg, want);
}

static void expect_open_error(const char *path, int header, const char *fmt)
{
    struct csv_options opt = {.header = header, .delimiter = 0};
    struct csv_reader *r = NULL;
    struct diag d = {{0}};
    ck_assert_int_eq(csv_open(&r, path, &opt, &d), -1);
    ck_assert_ptr_null(r);
    expect_msg(&d, fmt, path);
}

/* Reads everything in batches of `batch`; returns the rows, -1 on error.
 * *x (n, nf) and *y (n, nt) are malloc'd. */
static long read_all(struct csv_reader *r, size_t batch, size_t nf, size_t nt, float **x,
                     float **y, struct diag *d)
{
    size_t n = 0, cap = 16;
    *x = malloc(cap * (nf + 1) * sizeof **x);
    *y = malloc(cap * (nt + 1) * sizeof **y);
    for (;;) {
        while (n + batch > cap) {
            cap *= 2;
            *x = realloc(*x, cap * (nf + 1) * sizeof **x);
            *y = realloc(*y, cap * (nt + 1) * sizeof **y);
        }
        long got = csv_read(r, batch, *x + n * nf, *y + n * nt, d);
        if (got < 0)
            return -1;
        if (got == 0)
            return (long)n;
        ck_assert_uint_le((size_t)got, batch);
        n += (size_t)got;
    }
}

/* Opens path (detection on), selects all-but-last -> features, last -> target,
 * reads it all and expects the error fmt. */
static void expect_read_error(const char *path, const char *fmt)
{
    struct csv_reader *r = open_ok(path, -1, 0);
    size_t nc = csv_n_columns(r), feats[64];
    ck_assert_uint_le(nc, 64);
    for (size_t i = 0; i + 1 < nc; i++)
        feats[i] = i;
    size_t target = nc - 1;
    struct diag d = {{0}};
    ck_assert_int_eq(csv_select(r, feats, nc - 1, &target, 1, &d), 0);
    float *x, *y;
    long n = read_all(r, 3, nc - 1, 1, &x, &y, &d);
    ck_assert_msg(n == -1, "%s: read %ld rows", path, n);
    expect_msg(&d, fmt, path);
    /* The reader stays failed with the same message. */
    struct diag d2 = {{0}};
    ck_assert_int_eq(csv_read(r, 1, x, y, &d2), -1);
    ck_assert_str_eq(d2.msg, d.msg);
    free(x);
    free(y);
    csv_close(r);
}

/* Reads all columns as features with the given batch size; returns the rows. */
static long read_features(struct csv_reader *r, size_t batch, float **x)
{
    float *y;
    struct diag d = {{0}};
    long n = read_all(r, batch, csv_n_columns(r), 0, x, &y, &d);
    if (n < 0)
        ck_abort_msg("csv_read failed: %s", d.msg);
    free(y);
    return n;
}

/* ---- the number parser ------------------------------------------------------------ */

/* What decimal_to_float must equal: strtod on the whole text, then (float). */
static enum decimal_status ref_decimal(const char *s, float *out)
{
    size_t n = strlen(s);
    if (n == 0 || s[0] == ' ' || (s[0] >= '\t' && s[0] <= '\r') || strpbrk(s, "xX"))
        return DECIMAL_INVALID;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end != s + n)
        return DECIMAL_INVALID;
    if (errno == ERANGE && fabs(v) > 1)
        return DECIMAL_RANGE;
    if (isnan(v) || isinf(v))
        return DECIMAL_NOT_FINITE;
    if (isinf((float)v))
        return DECIMAL_RANGE;
    *out = (float)v;
    return DECIMAL_OK;
}

/* decimal_to_float(s) and the reference agree on the status and, for
 * numbers, on every bit (so -0 differs from 0). Returns false on a mismatch. */
static bool same_as_strtod(const char *s)
{
    float got = 12345, want = 12345;
    enum decimal_status a = decimal_to_float(s, strlen(s), &got), b = ref_decimal(s, &want);
    uint32_t gb, wb;
    memcpy(&gb, &got, 4);
    memcpy(&wb, &want, 4);
    if (a == b && (a != DECIMAL_OK || gb == wb))
        return true;
    fprintf(stderr, "decimal '%s': status %d bits %08x, strtod: status %d bits %08x\n", s, a,
            (unsigned)gb, b, (unsigned)wb);
    return false;
}

START_TEST(test_decimal_edges)
{
    static const char *const cases[] = {
        /* simple, signs, points */
        "0", "-0", "+0", "0.0", "-0.0", "00000", "1", "-1", "+1", "1.", ".5", "-.5", "+.5e1",
        "5.e-1", "123456", "0.1", "0.2", "0.3", "3.14159", "-2.718281828", "1e0", "1E5",
        "1e+5", "1e-5", "1.5E-05", "007", "0.000001", "000.0001000",
        /* Clinger's boundaries: 2^53 and around, 10^22 and 10^23 */
        "9007199254740992", "9007199254740993", "9007199254740991", "9007199254740994",
        "1e22", "1e23", "1e-22", "1e-23", "9007199254740992e22", "9007199254740993e-22",
        "4.5e37", "1e37", "123e30", "12345e25", "1e38", "1e39",
        /* 17 to 25 significant digits (pandas, numpy %.18e), dropped digits */
        "0.30000000000000004", "0.1000000000000000055511151231257827",
        "1.234567890123456789e-01", "9.999999999999999999e+00", "12345678901234567890",
        "1234567890123456789012345", "0.000000000000000000000000012345678901234567890",
        "-47.123456789012345", "3.4028234663852886e38", "1.1754943508222875e-38",
        "99999999999999999999999999999999999999999999", "1.00000000000000000000000000001",
        /* float range: max, overflow threshold, min normal, subnormals, underflow */
        "3.4028235e38", "3.4028236e38", "3.40282356e38", "3.402823567e38",
        "3.4028235677973366e38", "3.4028235677973367e38", "3.40282357e38", "-3.5e38", "1e39",
        "1.17549435e-38", "1.1754942e-38", "1.4e-45", "1.401298464324817e-45", "7e-46",
        "7.006492321624086e-46", "7.1e-46", "1e-46", "1e-50", "2.2250738585072014e-308",
        "4.9e-324", "2e-324", "1e-400", "-1e-400", "1e308", "1.7976931348623157e308",
        "1.7976931348623159e308", "1e309", "-1e400", "1e99999999999", "1e-99999999999",
        "0e99999999", "0.0e-99999",
        /* not finite, not numbers */
        "inf", "-inf", "+INF", "Infinity", "-infinity", "nan", "NaN", "-nan", "nan(123)",
        "infinit", "in", "na", "", "-", "+", ".", "-.", "e5", ".e5", "1e", "1e+", "1e-",
        "1e5.", "1.2.3", "--1", "+-1", "1-", "1 ", " 1", "1\t", "\t1", "1,5", "1_000", "0x10",
        "0X1p3", "1x", "abc", "1e5x", "١", "1e0000000000000000000000000001",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        ck_assert_msg(same_as_strtod(cases[i]), "case '%s'", cases[i]);
    /* Statuses by name. */
    float v;
    ck_assert_int_eq(decimal_to_float("nan", 3, &v), DECIMAL_NOT_FINITE);
    ck_assert_int_eq(decimal_to_float("1e39", 4, &v), DECIMAL_RANGE);
    ck_assert_int_eq(decimal_to_float("1e400", 5, &v), DECIMAL_RANGE);
    ck_assert_int_eq(decimal_to_float("0x1", 3, &v), DECIMAL_INVALID);
    ck_assert_int_eq(decimal_to_float("1e-50", 5, &v), DECIMAL_OK);
    ck_assert(v == 0 && !signbit(v));
    ck_assert_int_eq(decimal_to_float("-0", 2, &v), DECIMAL_OK);
    ck_assert(v == 0 && signbit(v));
    ck_assert_int_eq(decimal_to_float("0.1", 3, &v), DECIMAL_OK);
    ck_assert(v == 0.1f);
}
END_TEST

static uint64_t rng_state = 88172645463325252u;

static uint64_t next_u64(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static unsigned below(unsigned n) { return (unsigned)(next_u64() % n); }

/* A random decimal: sign, 1-25 digits with a point somewhere (or none),
 * an exponent sometimes (mostly small, sometimes far out). */
static void random_decimal(char *s)
{
    char *p = s;
    unsigned r = below(4);
    if (r == 1)
        *p++ = '-';
    else if (r == 2)
        *p++ = '+';
    unsigned n = 1 + below(below(3) ? 18 : 25), point = below(n + 2);
    for (unsigned i = 0; i < n; i++) {
        if (i == point)
            *p++ = '.';
        *p++ = (char)('0' + (i == 0 && below(2) ? 0 : below(10)));
    }
    if (point == n)
        *p++ = '.';
    if (below(3) == 0)
        p += sprintf(p, "%c%d", below(2) ? 'e' : 'E', below(4) ? (int)below(61) - 30
                                                              : (int)below(801) - 400);
    *p = '\0';
}

/* A decimal at or next to the midpoint of two adjacent floats, where one
 * more rounding (text -> double -> float) could tip either way. */
static void near_midpoint(char *s)
{
    uint32_t bits = (uint32_t)(next_u64() % 0x7F000000u) + 0x00800000u / 2;
    float f, g;
    memcpy(&f, &bits, 4);
    bits++;
    memcpy(&g, &bits, 4);
    double m = ((double)f + (double)g) / 2; /* exact */
    static const int digits[] = {9, 15, 16, 17, 18, 19, 20, 25, 40};
    sprintf(s, "%.*e", digits[below(9)] - 1, m);
    if (below(2)) {
        /* nudge the last mantissa digit up or down */
        char *e = strchr(s, 'e'), *last = e - 1;
        if (*last > '0' && *last < '9')
            *last = (char)(*last + (below(2) ? 1 : -1));
    }
}

START_TEST(test_decimal_random)
{
    char s[128];
    int bad = 0;
    for (int i = 0; i < 1000000 && bad < 5; i++) {
        unsigned kind = below(8);
        if (kind < 4) {
            random_decimal(s);
        } else if (kind < 6) {
            near_midpoint(s);
        } else {
            /* what writers produce from random values: %g, %.17g, %.18e, %f */
            double v = ldexp((double)(next_u64() >> 11), -53) * pow(10, (int)below(20) - 10);
            if (below(2))
                v = -v;
            static const char *const fmt[] = {"%g", "%.9g", "%.17g", "%.18e", "%f", "%.3f"};
            sprintf(s, fmt[below(6)], kind == 6 ? (double)(float)v : v);
        }
        bad += !same_as_strtod(s);
    }
    ck_assert_int_eq(bad, 0);
}
END_TEST

/* ---- detection ------------------------------------------------------------ */

START_TEST(test_header_detected)
{
    const char *p = put("h.csv", "a, b ,c\n1,2,3\n4,5,6\n");
    struct csv_reader *r = open_ok(p, -1, 0);
    ck_assert(csv_has_header(r));
    ck_assert_uint_eq(csv_n_columns(r), 3);
    ck_assert_str_eq(csv_column_name(r, 0), "a");
    ck_assert_str_eq(csv_column_name(r, 1), "b");
    ck_assert_str_eq(csv_column_name(r, 2), "c");
    float *x;
    ck_assert_int_eq(read_features(r, 10, &x), 2);
    static const float want[] = {1, 2, 3, 4, 5, 6};
    for (int i = 0; i < 6; i++)
        ck_assert_float_eq(x[i], want[i]);
    free(x);
    csv_close(r);
}
END_TEST

START_TEST(test_no_header_detected)
{
    const char *p = put("n.csv", "1,2,3\n4,5,6\n");
    struct csv_reader *r = open_ok(p, -1, 0);
    ck_assert(!csv_has_header(r));
    ck_assert_ptr_null(csv_column_name(r, 0));
    float *x;
    ck_assert_int_eq(read_features(r, 10, &x), 2);
    ck_assert_float_eq(x[0], 1);
    free(x);
    csv_close(r);

    /* Names in data rows (a class column) are not a header: both rows hold
     * text in the same column, and the other columns are numbers in both. */
    p = put("iris.csv", "5.1,3.5,setosa\n4.9,3.0,versicolor\n");
    r = open_ok(p, -1, 0);
    ck_assert(!csv_has_header(r));
    csv_close(r);

    /* All text over some numbers: a header even when one column is text below. */
    p = put("mixed.csv", "x,label\n1,cat\n");
    r = open_ok(p, -1, 0);
    ck_assert(csv_has_header(r));
    csv_close(r);

    /* Empty fields are neither text nor numbers. */
    p = put("empty.csv", "1,,3\n4,5,6\n");
    r = open_ok(p, -1, 0);
    ck_assert(!csv_has_header(r));
    csv_close(r);
}
END_TEST

START_TEST(test_header_forced)
{
    const char *p = put("f.csv", "1,2\n3,4\n");
    struct csv_reader *r = open_ok(p, 1, 0);
    ck_assert(csv_has_header(r));
    ck_assert_str_eq(csv_column_name(r, 1), "2");
    float *x;
    ck_assert_int_eq(read_features(r, 10, &x), 1);
    ck_assert_float_eq(x[0], 3);
    free(x);
    csv_close(r);

    p = put("g.csv", "a,b\n3,4\n");
    r = open_ok(p, 0, 0);
    ck_assert(!csv_has_header(r));
    float *y;
    struct diag d = {{0}};
    ck_assert_int_eq(read_all(r, 10, 2, 0, &x, &y, &d), -1);
    expect_msg(&d, "%s:1:1: 'a' is not a number", p);
    free(x);
    free(y);
    csv_close(r);
}
END_TEST

START_TEST(test_no_data_rows)
{
    expect_open_error(put("e.csv", ""), -1, "%s: no data rows");
    expect_open_error(put("blank.csv", "\n\n  \r\n"), -1, "%s: no data rows");
    /* A single row with text is a header, and then there is no data. */
    expect_open_error(put("h.csv", "a,b\n"), -1, "%s: no data rows");
    expect_open_error(put("h2.csv", "\"a\",b\r\n\r\n"), -1, "%s: no data rows");

    /* A single numeric row is data. */
    struct csv_reader *r = open_ok(put("one.csv", "1,2"), -1, 0);
    ck_assert(!csv_has_header(r));
    float *x;
    ck_assert_int_eq(read_features(r, 1, &x), 1);
    free(x);
    csv_close(r);

    /* Forced header on a pipe-like read: found missing by csv_read. */
    const char *p = put("only.csv", "1,2\n");
    r = open_ok(p, 1, 0);
    float buf[2];
    struct diag d = {{0}};
    ck_assert_int_eq(csv_read(r, 4, buf, NULL, &d), -1);
    expect_msg(&d, "%s: no data rows", p);
    csv_close(r);

    expect_open_error("/nonexistent/x.csv", -1, "%s: cannot open: No such file or directory");
}
END_TEST

START_TEST(test_delimiters)
{
    static const struct {
        const char *name, *text;
        size_t n_columns;
    } cases[] = {
        {"c.csv", "a,b;c\n1,2;3\n", 2},          {"t.txt", "a\tb\tc,d\n1\t2\t3,4\n", 3},
        {"s.csv", "a;b;c,d\n1;2;3,4\n", 3},      {"p.csv", "a|b|c\n1|2|3\n", 3},
        {"q.csv", "\"a;b;c\",d\n1,2\n", 2},      {"x.tsv", "a,b\tc,d\n1,2\t3\n", 2},
        {"tie.csv", "a,b;c\n1,2;3\n", 2},        {"one.csv", "a b\n1\n", 1},
        {"blank.csv", "\n  \na;b\n1;2\n", 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *p = put(cases[i].name, cases[i].text);
        struct csv_reader *r = open_ok(p, -1, 0);
        ck_assert_msg(csv_n_columns(r) == cases[i].n_columns, "%s: %zu columns", cases[i].name,
                      csv_n_columns(r));
        csv_close(r);
    }
    /* An explicit delimiter wins over detection and over .tsv. */
    const char *p = put("e.tsv", "a;b,c\n1;2,3\n");
    struct csv_reader *r = open_ok(p, -1, ';');
    ck_assert_uint_eq(csv_n_columns(r), 2);
    ck_assert_str_eq(csv_column_name(r, 1), "b,c");
    csv_close(r);
    /* Tab-separated with spaces around values. */
    p = put("sp.tsv", "a b\t c \n 1 \t2\n");
    r = open_ok(p, -1, 0);
    ck_assert_str_eq(csv_column_name(r, 0), "a b");
    ck_assert_str_eq(csv_column_name(r, 1), "c");
    float *x;
    ck_assert_int_eq(read_features(r, 1, &x), 1);
    ck_assert_float_eq(x[0], 1);
    ck_assert_float_eq(x[1], 2);
    free(x);
    csv_close(r);
}
END_TEST

/* ---- quoting, line ends, BOM -------------------------------------------------- */

START_TEST(test_quoted_fields)
{
    const char *p = put("q.csv", "\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\"\n"
                                 "\"1\", 2 ,\"3\"\n"
                                 "4,\"5\",6\n"
                                 "7,8,x\n");
    struct csv_reader *r = open_ok(p, -1, 0);
    ck_assert(csv_has_header(r));
    ck_assert_str_eq(csv_column_name(r, 0), "a,b");
    ck_assert_str_eq(csv_column_name(r, 1), "say \"hi\"");
    ck_assert_str_eq(csv_column_name(r, 2), "two\nlines");
    float x[6];
    struct diag d = {{0}};
    ck_assert_int_eq(csv_read(r, 2, x, NULL, &d), 2);
    static const float want[] = {1, 2, 3, 4, 5, 6};
    for (int i = 0; i < 6; i++)
        ck_assert_float_eq(x[i], want[i]);
    /* Line numbers count the quoted newline: row "7,8,x" is line 5. */
    ck_assert_int_eq(csv_read(r, 2, x, NULL, &d), -1);
    expect_msg(&d, "%s:5:3: 'x' is not a number", p);
    csv_close(r);
}
END_TEST

START_TEST(test_crlf_bom_blank_lines)
{
    const char *p = put("w.csv", "\xEF\xBB\xBFid,v\r\n1,2\r\n\r\n3,4\r\n\r\n");
    struct csv_reader *r = open_ok(p, -1, 0);
    ck_assert(csv_has_header(r));
    ck_assert_str_eq(csv_column_name(r, 0), "id");
    ck_assert_str_eq(csv_column_name(r, 1), "v");
    float *x;
    ck_assert_int_eq(read_features(r, 5, &x), 2);
    ck_assert_float_eq(x[2], 3);
    ck_assert_float_eq(x[3], 4);
    free(x);
    csv_close(r);

    /* CRLF line numbers, a quoted CRLF, no final newline. */
    p = put("w2.csv", "a,b\r\n1,\"x\r\ny\"\r\n3,4\r\n,5");
    expect_read_error(p, "%s:5:1: missing value");
    p = put("w3.csv", "\xEF\xBB\xBF" "1;2\n3;4");
    r = open_ok(p, -1, 0);
    ck_assert_uint_eq(csv_n_columns(r), 2);
    ck_assert_int_eq(read_features(r, 5, &x), 2);
    ck_assert_float_eq(x[0], 1);
    free(x);
    csv_close(r);
}
END_TEST

/* ---- comment lines, whitespace, missing values ----------------------------------- */

static struct csv_reader *open_opt(const char *path, const struct csv_options *opt)
{
    struct csv_reader *r = NULL;
    struct diag d = {{0}};
    if (csv_open(&r, path, opt, &d) != 0)
        ck_abort_msg("csv_open failed: %s", d.msg);
    return r;
}

START_TEST(test_comment_lines)
{
    struct csv_options opt = {.header = -1, .comment = "#"};
    /* Before the header (with ; in it: detection passes over comments), between
     * rows, right after a BOM, with CRLF, and a comment line longer than the
     * read buffer. */
    size_t big = 300000, len = 0;
    char *text = malloc(big + 200);
    len += (size_t)sprintf(text, "\xEF\xBB\xBF# a;b;c;d\r\n#\r\na,b\r\n1,2\r\n# x;y\r\n");
    text[len++] = '#';
    memset(text + len, ';', big);
    len += big;
    len += (size_t)sprintf(text + len, "\n3,4\n  \n#\n5,q\n");
    const char *p = put_n("c.csv", text, len);
    free(text);
    struct csv_reader *r = open_opt(p, &opt);
    ck_assert(csv_has_header(r));
    ck_assert_uint_eq(csv_n_columns(r), 2);
    ck_assert_str_eq(csv_column_name(r, 1), "b");
    float x[8];
    struct diag d = {{0}};
    ck_assert_int_eq(csv_read(r, 2, x, NULL, &d), 2);
    ck_assert_float_eq(x[1], 2);
    ck_assert_float_eq(x[3], 4);
    /* Lines still count: the comments are lines 1, 2, 5, 6 and 9. */
    ck_assert_int_eq(csv_read(r, 2, x, NULL, &d), -1);
    expect_msg(&d, "%s:10:2: 'q' is not a number", p);
    csv_close(r);

    /* A marker inside a quoted field is data; a marker of two characters. */
    opt.comment = "//";
    p = put("q.csv", "x,label\n// skip\n1,\"two\n// lines\"\n/,3\n");
    r = open_opt(p, &opt);
    ck_assert_int_eq(csv_select(r, (size_t[]){0}, 1, (size_t[]){1}, 1, &d), 0);
    float y[2];
    ck_assert_int_eq(csv_read(r, 1, x, y, &d), 1);
    size_t n;
    ck_assert_str_eq(csv_classes(r, &n)[0], "two\n// lines");
    ck_assert_int_eq(csv_read(r, 1, x, y, &d), -1);
    expect_msg(&d, "%s:5:1: '/' is not a number", p);
    csv_close(r);

    /* Without the option, '#' lines are data; a file of comments has none. */
    p = put("n.csv", "1\n# c\n");
    expect_read_error(p, "%s:2:1: '# c' is not a number");
    opt.comment = "#";
    struct csv_reader *r2 = NULL;
    p = put("only.csv", "# a\n#b\n");
    ck_assert_int_eq(csv_open(&r2, p, &opt, &d), -1);
    expect_msg(&d, "%s: no data rows", p);
    opt.comment = "";
    ck_assert_int_eq(csv_open(&r2, p, &opt, &d), -1);
    expect_msg(&d, "%s: invalid comment marker", p);
}
END_TEST

START_TEST(test_whitespace_separated)
{
    /* numpy.savetxt's default: blanks, %.18e. */
    const char *p = put("np.txt", "1.000000000000000000e+00 -2.500000000000000000e-01\n"
                                  "3.000000000000000000e+00 4.000000000000000000e+00\n");
    struct csv_reader *r = open_ok(p, -1, 0);
    ck_assert_uint_eq(csv_n_columns(r), 2);
    ck_assert(!csv_has_header(r));
    float *x;
    ck_assert_int_eq(read_features(r, 4, &x), 2);
    ck_assert_float_eq(x[1], -0.25f);
    ck_assert_float_eq(x[3], 4);
    free(x);
    csv_close(r);

    /* Runs of blanks, leading and trailing blanks, CRLF, blank lines; a
     * header whose field count matches the next line's. */
    p = put("ws.txt", "  x   y  z \r\n\r\n 1  2\t\t3\r\n4 5 6 \r\n7 8 q\n");
    r = open_ok(p, -1, 0);
    ck_assert(csv_has_header(r));
    ck_assert_uint_eq(csv_n_columns(r), 3);
    ck_assert_str_eq(csv_column_name(r, 2), "z");
    float buf[12];
    struct diag d = {{0}};
    ck_assert_int_eq(csv_read(r, 2, buf, NULL, &d), 2);
    static const float want[] = {1, 2, 3, 4, 5, 6};
    for (int i = 0; i < 6; i++)
        ck_assert_float_eq(buf[i], want[i]);
    ck_assert_int_eq(csv_read(r, 2, buf, NULL, &d), -1);
    expect_msg(&d, "%s:5:3: 'q' is not a number", p);
    csv_close(r);

    /* Ragged rows are still errors; one text field per line is one column. */
    expect_read_error(put("rag.txt", "1 2 3\n4 5\n"), "%s:2: expected 3 fields, found 2");
    p = put("names.txt", "first name\nsecond\n");
    r = open_ok(p, -1, 0);
    ck_assert_uint_eq(csv_n_columns(r), 1);
    csv_close(r);

    /* Set explicitly: quotes are ordinary characters there. */
    p = put("q.txt", "\"a b\" c\n1 2 3\n");
    r = open_ok(p, 1, ' ');
    ck_assert_uint_eq(csv_n_columns(r), 3);
    ck_assert_str_eq(csv_column_name(r, 0), "\"a");
    ck_assert_str_eq(csv_column_name(r, 1), "b\"");
    csv_close(r);
}
END_TEST

START_TEST(test_missing_values)
{
    const char *p = put("na.csv", "a,b,c,y\n,NA,nan,1\nN/A, null ,None,2\n-NaN,#N/A,<NA>,3\n"
                                  "7,NULL,n/a,4\n");
    struct csv_options opt = {.header = -1, .has_na = true, .na_value = -1.5f};
    struct csv_reader *r = open_opt(p, &opt);
    struct diag d = {{0}};
    ck_assert_int_eq(csv_select(r, (size_t[]){0, 1, 2}, 3, (size_t[]){3}, 1, &d), 0);
    float x[12], y[4];
    ck_assert_int_eq(csv_read(r, 4, x, y, &d), 4);
    for (int i = 0; i < 12; i++)
        ck_assert_float_eq(x[i], i == 9 ? 7 : -1.5f);
    ck_assert_float_eq(y[3], 4);
    csv_close(r);

    /* Targets are never filled; inf and text stay errors. */
    static const struct {
        const char *text, *err;
    } cases[] = {
        {"a,y\n1,\n", "%s:2:2: missing value"},
        {"a,y\n1,2\n1,NA\n", "%s:3:2: 'NA' is not a number"},
        {"a,b,y\n1,inf,2\n", "%s:2:2: 'inf' is not a finite number"},
        {"a,b,y\n1,abc,2\n", "%s:2:2: 'abc' is not a number"},
        {"a,b,y\nclass,1,2\n", "%s:2:1: 'class' is not a number"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        p = put_n("e.csv", cases[i].text, strlen(cases[i].text));
        n_paths--;
        r = open_opt(p, &opt);
        size_t nc = csv_n_columns(r), t = nc - 1;
        ck_assert_int_eq(csv_select(r, (size_t[]){0, 1}, nc - 1, &t, 1, &d), 0);
        ck_assert_int_eq(csv_read(r, 4, x, y, &d), -1);
        expect_msg(&d, cases[i].err, p);
        csv_close(r);
    }
    unlink(paths[n_paths]);

    /* Without na_value: each names its cell. */
    expect_read_error(put("m1.csv", "a,b,y\n1,2,3\n4,,6\n"), "%s:3:2: missing value");
    expect_read_error(put("m2.csv", "a,b,y\n1,\" \",3\n"), "%s:2:2: missing value");
    expect_read_error(put("m3.csv", "a,b,y\n1,NA,3\n"), "%s:2:2: 'NA' is not a number");
    expect_read_error(put("m4.csv", "a,b,y\n1,2,\n"), "%s:2:3: missing value");
}
END_TEST

/* ---- the fast splitter and libcsv on the same file -------------------------------- */

START_TEST(test_mixed_lines)
{
    /* Quoted rows (libcsv, fields across lines, a quoted CRLF) between
     * unquoted rows (split directly): values and line numbers agree. */
    const char *p = put("mix.csv", "x,label\n1,\"a\nb\"\n2,c\n\"3\",\"d\r\ne\"\n4,c\r\n5, \"c\" \nz,c\n");
    struct csv_reader *r = open_ok(p, -1, 0);
    struct diag d = {{0}};
    ck_assert_int_eq(csv_select(r, (size_t[]){0}, 1, (size_t[]){1}, 1, &d), 0);
    float x[8], y[8];
    ck_assert_int_eq(csv_read(r, 5, x, y, &d), 5);
    static const float wx[] = {1, 2, 3, 4, 5}, wy[] = {0, 1, 2, 1, 1};
    for (int i = 0; i < 5; i++) {
        ck_assert_float_eq(x[i], wx[i]);
        ck_assert_float_eq(y[i], wy[i]);
    }
    size_t n;
    char *const *names = csv_classes(r, &n);
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(names[0], "a\nb");
    ck_assert_str_eq(names[2], "d\r\ne");
    ck_assert_int_eq(csv_read(r, 5, x, y, &d), -1);
    expect_msg(&d, "%s:9:1: 'z' is not a number", p);
    csv_close(r);

    /* A CR alone ends a row (libcsv's rule) without counting as a line. */
    expect_read_error(put("cr.csv", "1,2\r3,4\n5,x\n"), "%s:2:2: 'x' is not a number");
    /* Blank lines of blanks; a tab-separated line of empty fields is a row. */
    expect_read_error(put("b.csv", "a,b\n1,2\n \t \n3,x\n"), "%s:4:2: 'x' is not a number");
    expect_read_error(put("t.tsv", "a\tb\n1\t2\n\t\n"), "%s:3:1: missing value");
    /* A quote later in an unquoted field is libcsv's error, as before. */
    expect_read_error(put("q.csv", "a,b\n1,2\n3,4\"\n"),
                      "%s:3:2: unexpected '\"' in a field (quote the whole field and double "
                      "the quotes inside it)");
}
END_TEST

/* A valid 8 MB line (900,000 fields) reads in linear time; a 10 MB line of
 * one field, or of too many fields, is a located error. */
START_TEST(test_long_lines)
{
    size_t fields = 900000, n = fields * 9;
    char *buf = malloc(n + 64);
    for (size_t i = 0; i < fields; i++)
        memcpy(buf + 9 * i, i + 1 < fields ? "1.234567," : "7.654321\n", 9);
    const char *p = put_n("wide.csv", buf, n);
    struct csv_reader *r = open_ok(p, -1, 0);
    ck_assert_uint_eq(csv_n_columns(r), fields);
    float *x = malloc(fields * sizeof *x);
    struct diag d = {{0}};
    ck_assert_int_eq(csv_read(r, 1, x, NULL, &d), 1);
    ck_assert_float_eq(x[0], 1.234567f);
    ck_assert_float_eq(x[fields - 1], 7.654321f);
    ck_assert_int_eq(csv_read(r, 1, x, NULL, &d), 0);
    free(x);
    csv_close(r);

    n = 10u << 20;
    buf = xrealloc(buf, n + 16);
    memcpy(buf, "a,b\n1,2\n", 8);
    memset(buf + 8, '5', n - 8);
    memcpy(buf + n - 3, ",1\n", 3);
    expect_read_error(put_n("one.csv", buf, n), "%s:3:1: field longer than 1048576 bytes");
    for (size_t i = 8; i + 3 < n; i += 2)
        buf[i + 1] = ',';
    expect_read_error(put_n("many.csv", buf, n), "%s:3: row with more than 1048576 fields");
    free(buf);
}
END_TEST

START_TEST(test_utf8_names)
{
    const char *p = put("u.csv", "caf\xc3\xa9,\xe2\x82\xac,label\n1,2,\xc3\xa9t\xc3\xa9\n");
    struct csv_reader *r = open_ok(p, -1, 0);
    ck_assert_str_eq(csv_column_name(r, 0), "caf\xc3\xa9");
    csv_close(r);
    expect_open_error(put("bad.csv", "a,b\xff,c\n1,2,3\n"), -1,
                      "%s:1:2: column name 'b\\xff' is not valid UTF-8 text");
    expect_open_error(put("over.csv", "a,\xc0\xaf\n1,2\n"), -1,
                      "%s:1:2: column name '\\xc0\\xaf' is not valid UTF-8 text");
    expect_read_error(put("cls.csv", "a,y\n1,ok\n2,b\xed\xa0\x80\n"),
                      "%s:3:2: class name 'b\\xed\\xa0\\x80' is not valid UTF-8 text");
}
END_TEST

/* ---- column selection ----------------------------------------------------------- */

static const char *model_yaml = "t1: label\n"
                                "t2: lable\n"
                                "t3: 1\n"
                                "t4: \"1\"\n"
                                "t5: -1\n"
                                "t6: \"1:3\"\n"
                                "t7: \":2\"\n"
                                "t8: \"-2:\"\n"
                                "t9: [a, 2, \"0:1\", -1]\n"
                                "t10: 7\n"
                                "t11: -5\n"
                                "t12: \"3:1\"\n"
                                "t13: {x: 1}\n"
                                "t14: 1:9\n"
                                "t15: zzz\n"
                                "t16: \"2:\"\n"
                                "t17: [a, [b]]\n"
                                "t18: ~\n";

static void resolve(const struct csv_reader *r, const struct spec_doc *doc, const char *key,
                    const size_t *want, size_t n_want, const char *err, const char *path)
{
    size_t *cols = NULL, n = 99;
    struct diag d = {{0}};
    const struct spec_node *node = spec_get(doc->root, key);
    ck_assert_ptr_nonnull(node);
    int rc = csv_resolve_columns(r, node, &cols, &n, &d);
    if (err) {
        ck_assert_msg(rc == -1, "%s resolved", key);
        expect_msg(&d, err, path);
        ck_assert_ptr_null(cols);
        return;
    }
    ck_assert_msg(rc == 0, "%s: %s", key, d.msg);
    ck_assert_uint_eq(n, n_want);
    for (size_t i = 0; i < n; i++)
        ck_assert_uint_eq(cols[i], want[i]);
    free(cols);
}

START_TEST(test_resolve_columns)
{
    const char *p = put("cols.csv", "a,b,label,1\n1,2,3,4\n");
    struct csv_reader *r = open_ok(p, -1, 0);
    struct spec_doc doc;
    struct diag d = {{0}};
    ck_assert_msg(spec_load_string(&doc, "model.yaml", model_yaml, strlen(model_yaml), &d) == 0,
                  "%s", d.msg);
    resolve(r, &doc, "t1", (size_t[]){2}, 1, NULL, p);
    resolve(r, &doc, "t2", NULL, 0, "model.yaml:2:5: column 'lable' not in %s (did you mean 'label'?)",
            p);
    resolve(r, &doc, "t3", (size_t[]){1}, 1, NULL, p);  /* a YAML int is an index */
    resolve(r, &doc, "t4", (size_t[]){3}, 1, NULL, p);  /* a quoted "1" is a name */
    resolve(r, &doc, "t5", (size_t[]){3}, 1, NULL, p);
    resolve(r, &doc, "t6", (size_t[]){1, 2}, 2, NULL, p);
    resolve(r, &doc, "t7", (size_t[]){0, 1}, 2, NULL, p);
    resolve(r, &doc, "t8", (size_t[]){2, 3}, 2, NULL, p);
    resolve(r, &doc, "t9", (size_t[]){0, 2, 0, 3}, 4, NULL, p);
    resolve(r, &doc, "t10", NULL, 0, "model.yaml:10:6: column index 7 out of range for %s (4 columns)",
            p);
    resolve(r, &doc, "t11", NULL, 0,
            "model.yaml:11:6: column index -5 out of range for %s (4 columns)", p);
    resolve(r, &doc, "t12", NULL, 0,
            "model.yaml:12:6: range '3:1' selects no columns of %s (4 columns)", p);
    resolve(r, &doc, "t13", NULL, 0,
            "model.yaml:13:6: expected a column name, index or range, found a map", p);
    resolve(r, &doc, "t14", (size_t[]){1, 2, 3}, 3, NULL, p); /* clamps like Python */
    resolve(r, &doc, "t15", NULL, 0, "model.yaml:15:6: column 'zzz' not in %s", p);
    resolve(r, &doc, "t16", (size_t[]){2, 3}, 2, NULL, p);
    resolve(r, &doc, "t17", NULL, 0,
            "model.yaml:17:10: expected a column name, index or range, found a list", p);
    resolve(r, &doc, "t18", NULL, 0,
            "model.yaml:18:6: expected a column name, index or range, found null", p);
    csv_close(r);

    /* Without a header, names cannot resolve. */
    p = put("nohead.csv", "1,2\n3,4\n");
    r = open_ok(p, -1, 0);
    resolve(r, &doc, "t1", NULL, 0, "model.yaml:1:5: column 'label' not in %s (it has no header row)",
            p);
    resolve(r, &doc, "t5", (size_t[]){1}, 1, NULL, p);
    csv_close(r);

    /* A duplicated header name is ambiguous. */
    p = put("dup.csv", "a,label,label\n1,2,3\n");
    r = open_ok(p, -1, 0);
    resolve(r, &doc, "t1", NULL, 0,
            "model.yaml:1:5: column 'label' appears more than once in %s (indices 1 and 2)", p);
    csv_close(r);
    spec_free(&doc);
}
END_TEST

START_TEST(test_select_order)
{
    const char *p = put("s.csv", "a,b,c,d\n1,2,3,4\n5,6,7,8\n");
    struct csv_reader *r = open_ok(p, -1, 0);
    struct diag d = {{0}};
    ck_assert_int_eq(csv_select(r, (size_t[]){3, 0}, 2, (size_t[]){2, 1}, 2, &d), 0);
    float x[4], y[4];
    ck_assert_int_eq(csv_read(r, 2, x, y, &d), 2);
    static const float wx[] = {4, 1, 8, 5}, wy[] = {3, 2, 7, 6};
    for (int i = 0; i < 4; i++) {
        ck_assert_float_eq(x[i], wx[i]);
        ck_assert_float_eq(y[i], wy[i]);
    }
    ck_assert(!csv_target_is_class(r));
    ck_assert_int_eq(csv_read(r, 2, x, y, &d), 0);
    ck_assert_int_eq(csv_read(r, 2, x, y, &d), 0);
    csv_close(r);
}
END_TEST

/* ---- class targets ---------------------------------------------------------------- */

START_TEST(test_class_first_appearance)
{
    const char *p = put("c.csv", "f,species\n1,b\n2, a \n3,b\n4,\"c\"\n5,7\n");
    struct csv_reader *r = open_ok(p, -1, 0);
    struct diag d = {{0}};
    ck_assert_int_eq(csv_select(r, (size_t[]){0}, 1, (size_t[]){1}, 1, &d), 0);
    float *x, *y;
    ck_assert_int_eq(read_all(r, 2, 1, 1, &x, &y, &d), 5);
    ck_assert(csv_target_is_class(r));
    static const float want[] = {0, 1, 0, 2, 3};
    for (int i = 0; i < 5; i++) {
        ck_assert_float_eq(y[i], want[i]);
        ck_assert_float_eq(x[i], i + 1);
    }
    size_t n;
    char *const *names = csv_classes(r, &n);
    ck_assert_uint_eq(n, 4);
    ck_assert_str_eq(names[0], "b");
    ck_assert_str_eq(names[1], "a");
    ck_assert_str_eq(names[2], "c");
    ck_assert_str_eq(names[3], "7"); /* numeric-looking, still a name */
    free(x);
    free(y);
    csv_close(r);
}
END_TEST

START_TEST(test_class_fixed)
{
    const char *p = put("c.csv", "f,g,h,i,species\n1,1,1,1,b\n2,2,2,2,a\n1,1,1,1,c\n"
                                 "1,1,1,1,c\n1,1,1,1,Iris-foo\n");
    struct csv_reader *r = open_ok(p, -1, 0);
    char *names[] = {"a", "b", "c"};
    csv_fix_classes(r, names, 3);
    struct diag d = {{0}};
    ck_assert_int_eq(csv_select(r, (size_t[]){0, 1, 2, 3}, 4, (size_t[]){4}, 1, &d), 0);
    float x[16], y[4];
    ck_assert_int_eq(csv_read(r, 4, x, y, &d), 4);
    ck_assert(csv_target_is_class(r));
    ck_assert_float_eq(y[0], 1);
    ck_assert_float_eq(y[1], 0);
    ck_assert_float_eq(y[2], 2);
    ck_assert_int_eq(csv_read(r, 4, x, y, &d), -1);
    expect_msg(&d, "%s:6:5: unknown class 'Iris-foo' (known: a, b, c)", p);
    size_t n;
    csv_classes(r, &n);
    ck_assert_uint_eq(n, 3);
    csv_close(r);
}
END_TEST

START_TEST(test_numeric_target_then_text)
{
    expect_read_error(put("t.csv", "f,t\n1,2\n2,abc\n"), "%s:3:2: 'abc' is not a number");
    /* Two target columns are never classes. */
    const char *p = put("t2.csv", "f,t,u\n1,a,b\n");
    struct csv_reader *r = open_ok(p, -1, 0);
    struct diag d = {{0}};
    ck_assert_int_eq(csv_select(r, (size_t[]){0}, 1, (size_t[]){1, 2}, 2, &d), 0);
    float x[1], y[2];
    ck_assert_int_eq(csv_read(r, 1, x, y, &d), -1);
    expect_msg(&d, "%s:2:2: 'a' is not a number", p);
    ck_assert(!csv_target_is_class(r));
    csv_close(r);
}
END_TEST

/* ---- located errors ------------------------------------------------------------------ */

START_TEST(test_data_errors)
{
    expect_read_error(put("a.csv", "a,b,c\n1,2,3\n4,5\n"), "%s:3: expected 3 fields, found 2");
    expect_read_error(put("b.csv", "a,b,c\n1,2,3\n\n\n4,5,6,7\n"),
                      "%s:5: expected 3 fields, found 4");
    expect_read_error(put("c.csv", "a,b,c\n1,abc,3\n"), "%s:2:2: 'abc' is not a number");
    expect_read_error(put("d.csv", "a,b,c\n1,,3\n"), "%s:2:2: missing value");
    expect_read_error(put("e.csv", "a,b,c\n1,2,\"  \"\n"), "%s:2:3: missing value");
    expect_read_error(put("f.csv", "a,b,c\n1,2,3\n1,nan,3\n"), "%s:3:2: 'nan' is not a finite number");
    expect_read_error(put("g.csv", "a,b,c\n-inf,2,3\n"), "%s:2:1: '-inf' is not a finite number");
    expect_read_error(put("h.csv", "a,b,c\n1e300,2,3\n"), "%s:2:1: '1e300' is out of range for float32");
    expect_read_error(put("i.csv", "a,b,c\n1,2,3\n4,5,\"6\n7,8,9\n"),
                      "%s:3: unterminated quoted field");
    expect_read_error(put("j.csv", "a,b,c\n1,2,3\n4,5\"x,6\n"),
                      "%s:3:2: unexpected '\"' in a field (quote the whole field and double the "
                      "quotes inside it)");
    expect_read_error(put("k.csv", "a,b,c\n1,2,3\n4,\"5\"x,6\n"),
                      "%s:3:2: unexpected 'x' after a closing quote");
    expect_read_error(put_n("l.csv", "a,b,c\n1,2\0003,4\n", 15), "%s:2:2: NUL byte in field");
    expect_read_error(put("m.csv", "a,b,c\n1,\xff\xfe,3\n"), "%s:2:2: '\\xff\\xfe' is not a number");
    expect_read_error(put("n.csv", "a,b,c\n1,2,3\n  \"4\n\n5\"  ,6,z\n"),
                      "%s:3:1: '4??5' is not a number");
    expect_read_error(put("n2.csv", "a,b,c\n1,2,3\n\"\n\n\"\n"), "%s:3: expected 3 fields, found 1");
    /* Values are shortened in messages. */
    expect_read_error(put("o.csv", "a,b\naaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa,1\n"),
                      "%s:2:1: 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...' is not a number");
}
END_TEST

START_TEST(test_limits)
{
    /* Each oversized row comes after a good one, so csv_open (which reads
     * two rows to settle the header) succeeds and csv_read reports it. */
    size_t n = (2u << 20) + 16;
    char *buf = malloc(n);
    memset(buf, '7', n);
    memcpy(buf, "a,b\n1,2\n1,", 10);
    buf[n - 1] = '\n';
    expect_read_error(put_n("big.csv", buf, n), "%s:3:2: field longer than 1048576 bytes");
    memset(buf, ',', n);
    memcpy(buf, "a,b\n1,2\n1", 9);
    buf[n - 1] = '\n';
    expect_read_error(put_n("wide.csv", buf, n), "%s:3: row with more than 1048576 fields");
    free(buf);
    /* A 17 MiB row of 512 KiB fields. */
    size_t field = 512u << 10, fields = 34;
    n = 8 + fields * (field + 1);
    buf = malloc(n);
    memcpy(buf, "a,b\n1,2\n", 8);
    for (size_t i = 0; i < fields; i++) {
        memset(buf + 8 + i * (field + 1), '1', field);
        buf[8 + i * (field + 1) + field] = i + 1 < fields ? ',' : '\n';
    }
    expect_read_error(put_n("long.csv", buf, n), "%s:3: row longer than 16777216 bytes");
    free(buf);
}
END_TEST

/* ---- streaming ------------------------------------------------------------------------- */

START_TEST(test_batch_sizes_agree)
{
    size_t rows = 1500, cap = rows * 64 + 64, len = 0;
    char *text = malloc(cap);
    len += (size_t)snprintf(text + len, cap - len, "x0,\"x 1\",y\r\n");
    for (size_t i = 0; i < rows; i++) {
        if (i % 7 == 3)
            len += (size_t)snprintf(text + len, cap - len, "\"%zu\", %zu.5 ,\"%s\"\n", i, i * 3,
                                    i % 2 ? "odd" : "ev\nen");
        else
            len += (size_t)snprintf(text + len, cap - len, "%zu,%zu.25,%s\n", i, i * 3,
                                    i % 3 ? "odd" : "zero");
        if (i % 100 == 0)
            len += (size_t)snprintf(text + len, cap - len, "\n");
    }
    const char *p = put_n("big.csv", text, len);
    free(text);
    float *ref_x = NULL, *ref_y = NULL;
    size_t ref_classes = 0;
    static const size_t batches[] = {1000, 1, 2, 999, 1501};
    for (size_t b = 0; b < sizeof batches / sizeof batches[0]; b++) {
        struct csv_reader *r = open_ok(p, -1, 0);
        struct diag d = {{0}};
        ck_assert_int_eq(csv_select(r, (size_t[]){0, 1}, 2, (size_t[]){2}, 1, &d), 0);
        float *x, *y;
        long n = read_all(r, batches[b], 2, 1, &x, &y, &d);
        ck_assert_msg(n == (long)rows, "batch %zu: %ld rows: %s", batches[b], n, d.msg);
        size_t nc;
        csv_classes(r, &nc);
        if (!ref_x) {
            ref_x = x;
            ref_y = y;
            ref_classes = nc;
            ck_assert_float_eq(x[2 * 11], 11);
            ck_assert_float_eq(x[2 * 11 + 1], 33.25f);
            ck_assert_float_eq(x[2 * 10 + 1], 30.5f);
        } else {
            ck_assert_uint_eq(nc, ref_classes);
            ck_assert_int_eq(memcmp(x, ref_x, rows * 2 * sizeof *x), 0);
            ck_assert_int_eq(memcmp(y, ref_y, rows * sizeof *y), 0);
            free(x);
            free(y);
        }
        csv_close(r);
    }
    ck_assert_uint_eq(ref_classes, 3);
    free(ref_x);
    free(ref_y);
}
END_TEST

static void write_all(int fd, const char *s)
{
    size_t n = strlen(s);
    ck_assert_int_eq(write(fd, s, n), (ssize_t)n);
}

/* The writer sends a line, then waits for the reader's go before sending the
 * next: a reader that asked for more than it needed would deadlock (caught by
 * alarm). Covers a numeric first row (no wait for row 2) and a header. */
static void pipe_dialogue(const char *first, const char *second, int want_header)
{
    int data[2], go[2];
    ck_assert_int_eq(pipe(data), 0);
    ck_assert_int_eq(pipe(go), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(data[0]);
        close(go[1]);
        char c;
        if (write(data[1], first, strlen(first)) < 0 || read(go[0], &c, 1) != 1 ||
            write(data[1], second, strlen(second)) < 0)
            _exit(1);
        _exit(0);
    }
    close(data[1]);
    close(go[0]);
    alarm(5);
    ck_assert_int_eq(dup2(data[0], STDIN_FILENO), STDIN_FILENO);
    close(data[0]);
    struct csv_reader *r = open_ok("-", -1, 0);
    ck_assert_str_eq(csv_path(r), "<stdin>");
    ck_assert_int_eq(csv_has_header(r), want_header);
    float x[4];
    struct diag d = {{0}};
    ck_assert_int_eq(csv_read(r, 1, x, NULL, &d), 1);
    ck_assert_float_eq(x[0], 1);
    ck_assert_float_eq(x[1], 2);
    write_all(go[1], "g");
    close(go[1]);
    ck_assert_int_eq(csv_read(r, 1, x, NULL, &d), 1);
    ck_assert_float_eq(x[0], 3);
    ck_assert_int_eq(csv_read(r, 4, x, NULL, &d), -1);
    ck_assert_str_eq(d.msg, "<stdin>:4:2: 'q' is not a number");
    csv_close(r);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    alarm(0);
}

START_TEST(test_pipe_row_by_row)
{
    pipe_dialogue("1,2\n", "3,4\n\n5,q\n", 0);
}
END_TEST

START_TEST(test_pipe_header_row_by_row)
{
    pipe_dialogue("a,b\r\n1,2\r\n", "3,4\r\n5,q\r\n", 1);
}
END_TEST

START_TEST(test_pipe_blanks_row_by_row)
{
    pipe_dialogue("1 2\n", "3 4\n\n5 q\n", 0);
}
END_TEST

/* Random bytes from a CSV-ish alphabet: every outcome is a row count or a
 * located error; nothing crashes (the sanitizer build checks memory). */
START_TEST(test_random_bytes)
{
    static const char alphabet[] = ",;\t|\"\r\n 1.5ae-\0\xff\xef\xbb\xbf#  \n\n12";
    unsigned s = 12345;
    char text[600];
    for (int iter = 0; iter < 1000; iter++) {
        s = s * 1103515245u + 12345u;
        size_t n = (s >> 16) % sizeof text;
        for (size_t i = 0; i < n; i++) {
            s = s * 1103515245u + 12345u;
            text[i] = alphabet[(s >> 16) % (sizeof alphabet - 1)];
        }
        const char *p = put_n("r.csv", text, n);
        n_paths--; /* reuse the slot; the file is overwritten */
        struct csv_options opt = {.header = (int)(iter % 3) - 1,
                                  .delimiter = iter % 5 == 4 ? ' ' : 0,
                                  .comment = iter % 2 ? "#" : NULL,
                                  .has_na = iter % 4 == 1};
        struct csv_reader *r = NULL;
        struct diag d = {{0}};
        if (csv_open(&r, p, &opt, &d) != 0) {
            ck_assert(strncmp(d.msg, p, strlen(p)) == 0);
            continue;
        }
        size_t nc = csv_n_columns(r);
        ck_assert_uint_ge(nc, 1);
        if (nc > 1) {
            size_t t = nc - 1;
            ck_assert_int_eq(csv_select(r, (size_t[]){0}, 1, &t, 1, &d), 0);
        }
        float *x = malloc(7 * nc * sizeof *x), y[7];
        long got;
        while ((got = csv_read(r, 7, x, y, &d)) > 0)
            ;
        if (got < 0)
            ck_assert(strncmp(d.msg, p, strlen(p)) == 0);
        free(x);
        csv_close(r);
    }
    unlink(paths[n_paths]);
}
END_TEST

static Suite *csv_suite(void)
{
    Suite *s = suite_create("csv");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_decimal_edges);
    tcase_add_test(tc, test_decimal_random);
    tcase_add_test(tc, test_header_detected);
    tcase_add_test(tc, test_no_header_detected);
    tcase_add_test(tc, test_header_forced);
    tcase_add_test(tc, test_no_data_rows);
    tcase_add_test(tc, test_delimiters);
    tcase_add_test(tc, test_quoted_fields);
    tcase_add_test(tc, test_crlf_bom_blank_lines);
    tcase_add_test(tc, test_comment_lines);
    tcase_add_test(tc, test_whitespace_separated);
    tcase_add_test(tc, test_missing_values);
    tcase_add_test(tc, test_mixed_lines);
    tcase_add_test(tc, test_long_lines);
    tcase_add_test(tc, test_utf8_names);
    tcase_add_test(tc, test_resolve_columns);
    tcase_add_test(tc, test_select_order);
    tcase_add_test(tc, test_class_first_appearance);
    tcase_add_test(tc, test_class_fixed);
    tcase_add_test(tc, test_numeric_target_then_text);
    tcase_add_test(tc, test_data_errors);
    tcase_add_test(tc, test_limits);
    tcase_add_test(tc, test_batch_sizes_agree);
    tcase_add_test(tc, test_pipe_row_by_row);
    tcase_add_test(tc, test_pipe_header_row_by_row);
    tcase_add_test(tc, test_pipe_blanks_row_by_row);
    tcase_add_test(tc, test_random_bytes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(csv_suite());
}
