/* IDX reading (see idx.h). */
#include "idx.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

/* The 4-byte magic: type and rank. */
static int parse_magic(const unsigned char *m, struct array *a, struct diag *d)
{
    if (m[0] != 0 || m[1] != 0) {
        diag_at(d, a->name, 0, 0,
                "not an IDX file (magic %02x %02x %02x %02x; IDX starts 00 00 TYPE RANK)", m[0],
                m[1], m[2], m[3]);
        return -1;
    }
    switch (m[2]) {
    case 0x08: a->dtype = DT_U8; break;
    case 0x09: a->dtype = DT_I8; break;
    case 0x0b: a->dtype = DT_I16; break;
    case 0x0c: a->dtype = DT_I32; break;
    case 0x0d: a->dtype = DT_F32; break;
    case 0x0e: a->dtype = DT_F64; break;
    default:
        diag_at(d, a->name, 0, 0, "IDX type 0x%02x is not one of 08 09 0B 0C 0D 0E", m[2]);
        return -1;
    }
    a->itemsize = array_dtype_size(a->dtype);
    a->big_endian = true;
    if (m[3] == 0 || m[3] > ARRAY_MAX_RANK) {
        diag_at(d, a->name, 0, 0, "IDX rank %u (1 to %d axes)", m[3], ARRAY_MAX_RANK);
        return -1;
    }
    return 0;
}

static int parse_dims(const unsigned char *p, struct array *a, size_t rank, struct diag *d)
{
    size_t shape[ARRAY_MAX_RANK];
    for (size_t k = 0; k < rank; k++)
        shape[k] = (size_t)p[4 * k] << 24 | (size_t)p[4 * k + 1] << 16 |
                   (size_t)p[4 * k + 2] << 8 | p[4 * k + 3];
    return array_set_shape(a, shape, rank, "header", d);
}

static void size_error(const struct array *a, size_t have, struct diag *d)
{
    char sb[96];
    size_t need = array_bytes(a);
    if (have < need)
        diag_at(d, a->name, 0, 0, "the header's shape %s needs %zu bytes of data, %s %zu",
                array_shape_format(a, sb, sizeof sb), need, "the file holds", have);
    else
        diag_at(d, a->name, 0, 0, "%zu bytes after the data of shape %s", have - need,
                array_shape_format(a, sb, sizeof sb));
}

static int open_plain(struct array *a, struct diag *d)
{
    if (array_map_file(a->name, &a->map, &a->map_len, d) < 0)
        return -1;
    const unsigned char *p = a->map;
    if (a->map_len < 4) {
        diag_at(d, a->name, 0, 0, "header: truncated (%zu bytes)", a->map_len);
        return -1;
    }
    if (parse_magic(p, a, d) < 0)
        return -1;
    size_t rank = p[3], off = 4 + 4 * rank;
    if (a->map_len < off) {
        diag_at(d, a->name, 0, 0, "header: truncated (%zu of its %zu bytes)", a->map_len, off);
        return -1;
    }
    if (parse_dims(p + 4, a, rank, d) < 0)
        return -1;
    if (a->map_len - off != array_bytes(a)) {
        size_error(a, a->map_len - off, d);
        return -1;
    }
    a->data = p + off;
    return 0;
}

/* Reads up to n bytes; -1 on a gzip error. */
static long gz_read(gzFile g, struct array *a, unsigned char *buf, size_t n, struct diag *d)
{
    size_t got = 0;
    while (got < n) {
        unsigned chunk = n - got > (1u << 30) ? (1u << 30) : (unsigned)(n - got);
        int r = gzread(g, buf + got, chunk);
        int err;
        const char *msg = gzerror(g, &err);
        if (r < 0 || (err != Z_OK && err != Z_BUF_ERROR) || (err == Z_BUF_ERROR && r == 0)) {
            /* zlib words it "PATH: what"; the path is ours to put first. */
            size_t plen = strlen(a->name);
            if (msg && !strncmp(msg, a->name, plen) && !strncmp(msg + plen, ": ", 2))
                msg += plen + 2;
            diag_at(d, a->name, 0, 0, "gzip: %s",
                    err == Z_ERRNO ? strerror(errno) : msg && *msg ? msg : "read error");
            return -1;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (long)got;
}

static int open_gz(struct array *a, struct diag *d)
{
    gzFile g = gzopen(a->name, "rb");
    if (!g) {
        diag_at(d, a->name, 0, 0, "cannot open: %s", strerror(errno));
        return -1;
    }
    int rc = -1;
    unsigned char head[4 + 4 * ARRAY_MAX_RANK];
    long got = gz_read(g, a, head, 4, d);
    if (got < 0)
        goto out;
    if (got < 4) {
        diag_at(d, a->name, 0, 0, "header: truncated (%ld bytes)", got);
        goto out;
    }
    if (parse_magic(head, a, d) < 0)
        goto out;
    size_t rank = head[3];
    got = gz_read(g, a, head + 4, 4 * rank, d);
    if (got < 0)
        goto out;
    if ((size_t)got < 4 * rank) {
        diag_at(d, a->name, 0, 0, "header: truncated (%zu of its %zu bytes)", 4 + (size_t)got,
                4 + 4 * rank);
        goto out;
    }
    if (parse_dims(head + 4, a, rank, d) < 0)
        goto out;
    size_t total = array_bytes(a), have = 0, cap = total < (1u << 20) ? total : (1u << 20);
    if (array_check_memory(total, a->name, "inflating", d) < 0)
        goto out;
    /* The buffer grows as data arrives: a header claiming more than the
     * file delivers costs only what was delivered. */
    a->buf = xmalloc(cap ? cap : 1);
    while (have < total) {
        if (have == cap) {
            cap = cap > total / 2 ? total : cap * 2;
            a->buf = xrealloc(a->buf, cap);
        }
        got = gz_read(g, a, a->buf + have, cap - have, d);
        if (got < 0)
            goto out;
        have += (size_t)got;
        if (got == 0)
            break;
    }
    unsigned char extra[64];
    if (have == total) {
        got = gz_read(g, a, extra, sizeof extra, d);
        if (got < 0)
            goto out;
        have += (size_t)got;
    }
    if (have < total) {
        size_error(a, have, d);
        goto out;
    }
    if (have > total) {
        char sb[96];
        diag_at(d, a->name, 0, 0, "data after the %zu bytes the header's shape %s needs", total,
                array_shape_format(a, sb, sizeof sb));
        goto out;
    }
    a->data = a->buf;
    rc = 0;
out:
    gzclose(g);
    return rc;
}

int idx_open(const char *path, struct array *a, struct diag *d)
{
    memset(a, 0, sizeof *a);
    a->name = xstrdup(path);
    /* A regular file is mapped unless gzipped; anything else (a pipe) is
     * read through zlib's gz functions, which pass plain data through. */
    struct stat st;
    bool gz = true;
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
        FILE *f = fopen(path, "rb");
        unsigned char m[2] = {0};
        if (f) {
            gz = fread(m, 1, 2, f) == 2 && m[0] == 0x1f && m[1] == 0x8b;
            fclose(f);
        }
    }
    int rc = gz ? open_gz(a, d) : open_plain(a, d);
    if (rc < 0)
        array_free(a);
    return rc;
}
