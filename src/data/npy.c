/* NPY reading and header writing (see npy.h). The header is parsed as the
 * small subset of Python literals numpy writes (numpy/lib/format.py:
 * _write_array_header, read_array_header_1_0): a dict of exactly the keys
 * 'descr' (a dtype string), 'fortran_order' (True/False) and 'shape' (a
 * tuple of ints, Python 2's "3L" accepted), then spaces and a newline. */
#include "npy.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int npy_header_length(const unsigned char *p, size_t len, const char *name, size_t *total,
                      struct diag *d)
{
    if (len > 0 && memcmp(p, "\x93NUMPY", len < 6 ? len : 6) != 0) {
        diag_at(d, name, 0, 0, "header: not an NPY file (no \\x93NUMPY magic)");
        return -1;
    }
    if (len < 8) {
        diag_at(d, name, 0, 0, "header: truncated (%zu bytes)", len);
        return -1;
    }
    unsigned major = p[6], minor = p[7];
    if ((major != 1 && major != 2 && major != 3) || minor != 0) {
        diag_at(d, name, 0, 0, "header: NPY version %u.%u (nnc reads 1.0, 2.0 and 3.0)", major,
                minor);
        return -1;
    }
    size_t pre = major == 1 ? 10 : 12;
    if (len < pre) {
        diag_at(d, name, 0, 0, "header: truncated (%zu bytes)", len);
        return -1;
    }
    size_t hlen = (size_t)p[8] | (size_t)p[9] << 8;
    if (major > 1)
        hlen |= (size_t)p[10] << 16 | (size_t)p[11] << 24;
    if (hlen > NPY_MAX_HEADER) {
        diag_at(d, name, 0, 0, "header: %zu bytes long (numpy's limit is %d)", hlen,
                NPY_MAX_HEADER);
        return -1;
    }
    *total = pre + hlen;
    return 0;
}

/* ---- the header's Python literal ----------------------------------------- */

struct lit {
    const char *p, *end;
    const char *name;
    struct diag *d;
};

static void skip_space(struct lit *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static int fail(struct lit *s, const char *what)
{
    diag_at(s->d, s->name, 0, 0, "header: %s", what);
    return -1;
}

static bool accept(struct lit *s, char c)
{
    skip_space(s);
    if (s->p < s->end && *s->p == c) {
        s->p++;
        return true;
    }
    return false;
}

/* A quoted string without escapes into buf. */
static int parse_string(struct lit *s, char *buf, size_t size)
{
    skip_space(s);
    if (s->p >= s->end || (*s->p != '\'' && *s->p != '"'))
        return fail(s, "expected a quoted string");
    char q = *s->p++;
    size_t n = 0;
    while (s->p < s->end && *s->p != q) {
        if (*s->p == '\\' || *s->p == '\n' || n + 1 >= size)
            return fail(s, "unexpected string (too long or with escapes)");
        buf[n++] = *s->p++;
    }
    if (s->p >= s->end)
        return fail(s, "unterminated string");
    s->p++;
    buf[n] = '\0';
    return 0;
}

static int parse_size(struct lit *s, size_t *out)
{
    skip_space(s);
    if (s->p >= s->end || !isdigit((unsigned char)*s->p))
        return fail(s, "shape: expected a non-negative integer");
    size_t v = 0;
    while (s->p < s->end && isdigit((unsigned char)*s->p)) {
        size_t digit = (size_t)(*s->p++ - '0');
        if (v > (SIZE_MAX - digit) / 10)
            return fail(s, "shape: a dimension overflows");
        v = v * 10 + digit;
    }
    if (s->p < s->end && *s->p == 'L') /* Python 2's long */
        s->p++;
    *out = v;
    return 0;
}

static int parse_shape(struct lit *s, size_t *shape, size_t *rank)
{
    if (!accept(s, '('))
        return fail(s, "shape: expected a tuple");
    *rank = 0;
    if (accept(s, ')'))
        return 0;
    for (;;) {
        if (*rank == ARRAY_MAX_RANK) {
            diag_at(s->d, s->name, 0, 0, "header: shape: more than %d axes", ARRAY_MAX_RANK);
            return -1;
        }
        if (parse_size(s, &shape[(*rank)++]) < 0)
            return -1;
        if (accept(s, ')')) {
            /* Python writes a 1-tuple as (n,): "(n)" is an int. */
            if (*rank == 1)
                return fail(s, "shape: (n) is not a tuple; numpy writes (n,)");
            break;
        }
        if (!accept(s, ','))
            return fail(s, "shape: expected ',' or ')'");
        if (accept(s, ')'))
            break;
    }
    return 0;
}

static int parse_bool(struct lit *s, bool *out)
{
    skip_space(s);
    size_t left = (size_t)(s->end - s->p);
    if (left >= 4 && !memcmp(s->p, "True", 4)) {
        *out = true;
        s->p += 4;
    } else if (left >= 5 && !memcmp(s->p, "False", 5)) {
        *out = false;
        s->p += 5;
    } else {
        return fail(s, "fortran_order: expected True or False");
    }
    return 0;
}

/* '<f4', '>i8', '|u1', '|b1': byte order, kind, size. */
static int parse_descr(struct lit *s, struct array *a)
{
    skip_space(s);
    if (s->p < s->end && *s->p == '[')
        return fail(s, "descr: structured dtypes (a list of fields) are not supported");
    char t[32];
    if (parse_string(s, t, sizeof t) < 0)
        return -1;
    static const struct {
        const char *kind_size;
        enum array_dtype dtype;
    } types[] = {
        {"b1", DT_BOOL}, {"i1", DT_I8}, {"u1", DT_U8}, {"i2", DT_I16}, {"u2", DT_U16},
        {"i4", DT_I32}, {"u4", DT_U32}, {"i8", DT_I64}, {"u8", DT_U64}, {"f2", DT_F16},
        {"f4", DT_F32}, {"f8", DT_F64},
    };
    char order = t[0];
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        if (strcmp(t + 1, types[i].kind_size) != 0)
            continue;
        a->dtype = types[i].dtype;
        a->itemsize = array_dtype_size(a->dtype);
        if (order == '<' || order == '>' || (order == '|' && a->itemsize == 1)) {
            a->big_endian = order == '>';
            return 0;
        }
        break;
    }
    diag_at(s->d, s->name, 0, 0,
            "header: descr '%s' is not a supported dtype (bool, int8-64, uint8-64, float16-64 "
            "with byte order '<', '>' or '|')",
            t);
    return -1;
}

int npy_parse_header(const unsigned char *p, size_t len, struct array *a, size_t *data_offset,
                     struct diag *d)
{
    size_t total;
    if (npy_header_length(p, len, a->name, &total, d) < 0)
        return -1;
    if (total > len) {
        diag_at(d, a->name, 0, 0, "header: truncated (%zu of its %zu bytes)", len, total);
        return -1;
    }
    size_t pre = p[6] == 1 ? 10 : 12;
    struct lit s = {(const char *)p + pre, (const char *)p + total, a->name, d};
    for (const char *c = s.p; c < s.end; c++)
        if (*c == '\0')
            return fail(&s, "NUL byte");
    if (!accept(&s, '{'))
        return fail(&s, "expected a dict ('{')");
    bool have_descr = false, have_order = false, have_shape = false;
    size_t shape[ARRAY_MAX_RANK], rank = 0;
    a->fortran = false;
    while (!accept(&s, '}')) {
        char key[32];
        if (parse_string(&s, key, sizeof key) < 0)
            return -1;
        if (!accept(&s, ':'))
            return fail(&s, "expected ':' after a key");
        bool *seen;
        int rc;
        if (!strcmp(key, "descr")) {
            seen = &have_descr;
            rc = parse_descr(&s, a);
        } else if (!strcmp(key, "fortran_order")) {
            seen = &have_order;
            rc = parse_bool(&s, &a->fortran);
        } else if (!strcmp(key, "shape")) {
            seen = &have_shape;
            rc = parse_shape(&s, shape, &rank);
        } else {
            diag_at(d, a->name, 0, 0, "header: unknown key '%s'", key);
            return -1;
        }
        if (rc < 0)
            return -1;
        if (*seen) {
            diag_at(d, a->name, 0, 0, "header: key '%s' given twice", key);
            return -1;
        }
        *seen = true;
        if (!accept(&s, ',')) {
            if (!accept(&s, '}'))
                return fail(&s, "expected ',' or '}'");
            break;
        }
    }
    skip_space(&s);
    if (s.p != s.end)
        return fail(&s, "text after the dict");
    if (!have_descr || !have_order || !have_shape) {
        diag_at(d, a->name, 0, 0, "header: no '%s' key",
                !have_descr ? "descr" : !have_order ? "fortran_order" : "shape");
        return -1;
    }
    if (array_set_shape(a, shape, rank, "header", d) < 0)
        return -1;
    *data_offset = total;
    return 0;
}

int npy_parse(const unsigned char *p, size_t len, struct array *a, struct diag *d)
{
    size_t off;
    if (npy_parse_header(p, len, a, &off, d) < 0)
        return -1;
    size_t need = array_bytes(a), have = len - off;
    if (have != need) {
        char sb[96], tb[16];
        if (have < need)
            diag_at(d, a->name, 0, 0, "shape %s of %s needs %zu bytes of data, %s %zu",
                    array_shape_format(a, sb, sizeof sb), array_dtype_format(a, tb, sizeof tb),
                    need, "the file holds", have);
        else
            diag_at(d, a->name, 0, 0, "%zu bytes after the data of shape %s of %s", have - need,
                    array_shape_format(a, sb, sizeof sb), array_dtype_format(a, tb, sizeof tb));
        return -1;
    }
    a->data = p + off;
    return 0;
}

int npy_open(const char *path, struct array *a, struct diag *d)
{
    memset(a, 0, sizeof *a);
    a->name = xstrdup(path);
    if (array_map_file_fd(path, a, d) < 0 || npy_parse(a->map, a->map_len, a, d) < 0) {
        array_free(a);
        return -1;
    }
    return 0;
}

size_t npy_format_header(unsigned char *out, size_t size, const char *descr, const size_t *shape,
                         size_t rank, size_t width)
{
    char h[NPY_MAX_HEADER];
    int n = snprintf(h, sizeof h, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
    for (size_t i = 0; i < rank && n > 0 && (size_t)n < sizeof h; i++)
        n += snprintf(h + n, sizeof h - (size_t)n, "%s%zu", i ? ", " : "", shape[i]);
    if (n > 0 && (size_t)n < sizeof h)
        n += snprintf(h + n, sizeof h - (size_t)n, "%s), }", rank == 1 ? "," : "");
    if (n <= 0 || (size_t)n + 64 >= sizeof h)
        return 0;
    /* Spaces, then '\n', up to the width (numpy aligns the data to 64). */
    size_t text = (size_t)n + 1, total = width ? width : (10 + text + 63) / 64 * 64;
    if (total < 10 + text || total - 10 > 0xffff || total > size)
        return 0;
    size_t hlen = total - 10;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 0xff),
                             (unsigned char)(hlen >> 8)};
    memcpy(out, pre, 10);
    memcpy(out + 10, h, (size_t)n);
    memset(out + 10 + n, ' ', hlen - (size_t)n - 1);
    out[total - 1] = '\n';
    return total;
}
