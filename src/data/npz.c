/* The zip reader behind NPZ (see npz.h). Layout (PKWARE APPNOTE 6.3):
 * [local header, data, optional data descriptor]... central directory,
 * optional zip64 end record and locator, end of central directory. Every
 * offset and size read from the file is checked before it is used. */
#include "npz.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <zlib.h>

#include "npy.h"

#define SIG_LOCAL 0x04034b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_END 0x06054b50u
#define SIG_END64 0x06064b50u
#define SIG_LOCATOR64 0x07064b50u

struct entry {
    char *name;
    unsigned flags, method;
    uint32_t crc;
    uint64_t comp, uncomp, local; /* sizes and the local header's offset */
};

struct npz {
    char *path;
    void *map;
    size_t len;
    uint64_t cd_off;          /* members' data ends before the directory */
    size_t n, n_alloc;        /* entries read, entries allocated */
    struct entry *e;
};

static uint64_t le(const unsigned char *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = n; i-- > 0;)
        v = v << 8 | p[i];
    return v;
}

/* Bounds: [off, off + n) inside the file. */
static bool inside(const struct npz *z, uint64_t off, uint64_t n)
{
    return off <= z->len && n <= z->len - off;
}

static int bad(const struct npz *z, struct diag *d, const char *what)
{
    diag_at(d, z->path, 0, 0, "not a valid zip: %s", what);
    return -1;
}

/* The end of central directory record: the last "PK\5\6" whose comment
 * fits in the file, searched over the last 64 KiB + 22 bytes. */
static int find_end(const struct npz *z, size_t *at, struct diag *d)
{
    const unsigned char *p = z->map;
    if (z->len < 22)
        return bad(z, d, "too short for an end of central directory record");
    size_t lo = z->len > 22 + 0xffff ? z->len - 22 - 0xffff : 0;
    for (size_t off = z->len - 22 + 1; off-- > lo;) {
        if (le(p + off, 4) == SIG_END && off + 22 + le(p + off + 20, 2) <= z->len) {
            *at = off;
            return 0;
        }
    }
    return bad(z, d, "no end of central directory record");
}

/* The zip64 extra field (id 1) replaces, in this order, whichever of
 * uncompressed size, compressed size and local offset were 0xffffffff. */
static int apply_zip64(const struct npz *z, const unsigned char *extra, size_t n,
                       struct entry *e, struct diag *d)
{
    bool need_u = e->uncomp == 0xffffffffu, need_c = e->comp == 0xffffffffu,
         need_l = e->local == 0xffffffffu;
    while (n >= 4) {
        size_t id = (size_t)le(extra, 2), sz = (size_t)le(extra + 2, 2);
        if (sz > n - 4)
            return bad(z, d, "an extra field runs past its header");
        if (id == 1) {
            const unsigned char *f = extra + 4;
            size_t left = sz;
            uint64_t *fields[3] = {need_u ? &e->uncomp : NULL, need_c ? &e->comp : NULL,
                                   need_l ? &e->local : NULL};
            for (int k = 0; k < 3; k++) {
                if (!fields[k])
                    continue;
                if (left < 8)
                    return bad(z, d, "a zip64 extra field is too short");
                *fields[k] = le(f, 8);
                f += 8;
                left -= 8;
            }
            return 0;
        }
        extra += 4 + sz;
        n -= 4 + sz;
    }
    if (need_u || need_c || need_l)
        return bad(z, d, "a zip64 size without a zip64 extra field");
    return 0;
}

static int read_directory(struct npz *z, struct diag *d)
{
    const unsigned char *p = z->map;
    size_t end;
    if (find_end(z, &end, d) < 0)
        return -1;
    uint64_t count = le(p + end + 10, 2), cd_size = le(p + end + 12, 4),
             cd_off = le(p + end + 16, 4);
    if (le(p + end + 4, 2) != 0 || le(p + end + 6, 2) != 0 || le(p + end + 8, 2) != count)
        return bad(z, d, "multi-disk archives are not supported");
    if (count == 0xffff || cd_size == 0xffffffffu || cd_off == 0xffffffffu) {
        if (end < 20 || le(p + end - 20, 4) != SIG_LOCATOR64)
            return bad(z, d, "zip64 values without a zip64 locator");
        uint64_t off64 = le(p + end - 20 + 8, 8);
        if (!inside(z, off64, 56) || off64 > end - 20 || le(p + off64, 4) != SIG_END64)
            return bad(z, d, "the zip64 end record is missing or out of place");
        count = le(p + off64 + 32, 8);
        cd_size = le(p + off64 + 40, 8);
        cd_off = le(p + off64 + 48, 8);
        end = (size_t)off64;
    }
    if (!inside(z, cd_off, cd_size) || cd_off + cd_size > end)
        return bad(z, d, "the central directory lies outside the file");
    if (count > cd_size / 46)
        return bad(z, d, "more entries than the central directory can hold");
    z->cd_off = cd_off;
    z->e = xcalloc(count ? count : 1, sizeof *z->e);
    z->n_alloc = count;
    uint64_t at = cd_off, stop = cd_off + cd_size;
    for (z->n = 0; z->n < count; z->n++) {
        struct entry *e = &z->e[z->n];
        if (stop - at < 46 || le(p + at, 4) != SIG_CENTRAL)
            return bad(z, d, "a central directory entry is damaged");
        const unsigned char *h = p + at;
        size_t nlen = (size_t)le(h + 28, 2), elen = (size_t)le(h + 30, 2),
               clen = (size_t)le(h + 32, 2);
        if (stop - at - 46 < (uint64_t)nlen + elen + clen)
            return bad(z, d, "a central directory entry runs past the directory");
        e->flags = (unsigned)le(h + 8, 2);
        e->method = (unsigned)le(h + 10, 2);
        e->crc = (uint32_t)le(h + 16, 4);
        e->comp = le(h + 20, 4);
        e->uncomp = le(h + 24, 4);
        e->local = le(h + 42, 4);
        e->name = xmalloc(nlen + 1);
        memcpy(e->name, h + 46, nlen);
        e->name[nlen] = '\0';
        if (memchr(e->name, '\0', nlen))
            return bad(z, d, "a member name holds a NUL byte");
        if (apply_zip64(z, h + 46 + nlen, elen, e, d) < 0)
            return -1;
        for (size_t k = 0; k < z->n; k++)
            if (!strcmp(z->e[k].name, e->name)) {
                diag_at(d, z->path, 0, 0, "member %s appears twice", e->name);
                return -1;
            }
        at += 46 + nlen + elen + clen;
    }
    return 0;
}

int npz_open(const char *path, struct npz **out, struct diag *d)
{
    struct npz *z = xcalloc(1, sizeof *z);
    z->path = xstrdup(path);
    *out = NULL;
    if (array_map_file(path, &z->map, &z->len, d) < 0 || read_directory(z, d) < 0) {
        npz_close(z);
        return -1;
    }
    *out = z;
    return 0;
}

void npz_close(struct npz *z)
{
    if (!z)
        return;
    for (size_t i = 0; i < z->n_alloc; i++)
        free(z->e[i].name);
    free(z->e);
    if (z->map)
        munmap(z->map, z->len);
    free(z->path);
    free(z);
}

size_t npz_n_members(const struct npz *z) { return z->n; }
const char *npz_member_name(const struct npz *z, size_t i) { return z->e[i].name; }

static const struct entry *find(const struct npz *z, const char *member)
{
    for (size_t i = 0; i < z->n; i++)
        if (!strcmp(z->e[i].name, member))
            return &z->e[i];
    return NULL;
}

bool npz_has(const struct npz *z, const char *member) { return find(z, member) != NULL; }

/* ---- inflating with a hard output limit ----------------------------------- */

struct inflater {
    z_stream zs;
    const unsigned char *in;
    uint64_t in_left;
    bool ended;
};

/* Inflates up to want bytes into out; *got is what came. Returns -1 on
 * corrupt data (message in *err). Stops early only at the stream's end or
 * when the input is exhausted. */
static int inflate_some(struct inflater *f, unsigned char *out, size_t want, size_t *got,
                        const char **err)
{
    *got = 0;
    while (*got < want && !f->ended) {
        if (f->zs.avail_in == 0) {
            if (f->in_left == 0)
                break;
            uInt chunk = f->in_left > (1u << 30) ? (1u << 30) : (uInt)f->in_left;
            f->zs.next_in = (Bytef *)f->in;
            f->zs.avail_in = chunk;
            f->in += chunk;
            f->in_left -= chunk;
        }
        size_t room = want - *got;
        f->zs.next_out = out + *got;
        f->zs.avail_out = room > (1u << 30) ? (1u << 30) : (uInt)room;
        uInt before = f->zs.avail_out;
        int rc = inflate(&f->zs, Z_NO_FLUSH);
        *got += before - f->zs.avail_out;
        if (rc == Z_STREAM_END) {
            f->ended = true;
        } else if (rc != Z_OK && !(rc == Z_BUF_ERROR && f->zs.avail_in == 0 && f->in_left == 0)) {
            *err = f->zs.msg ? f->zs.msg : "corrupt deflate data";
            return -1;
        }
        if (rc == Z_BUF_ERROR)
            break;
    }
    return 0;
}

/* Inflates a member: first its NPY header, which says how many bytes the
 * member holds (they must equal the directory's size), then exactly that
 * many, growing the buffer as data actually arrives (a lying header cannot
 * make us allocate what the compressed data does not deliver). */
static int inflate_member(const struct entry *e, const unsigned char *data, struct array *a,
                          struct diag *d)
{
    struct inflater f = {.in = data, .in_left = e->comp};
    if (inflateInit2(&f.zs, -MAX_WBITS) != Z_OK) {
        diag_at(d, a->name, 0, 0, "cannot start inflating");
        return -1;
    }
    unsigned char *buf = NULL;
    const char *err = NULL;
    int rc = -1;
    size_t got, have, hlen;
    unsigned char head[NPY_PREAMBLE_MAX + NPY_MAX_HEADER];
    if (inflate_some(&f, head, NPY_PREAMBLE_MAX, &have, &err) < 0)
        goto corrupt;
    if (npy_header_length(head, have, a->name, &hlen, d) < 0)
        goto out;
    if (hlen > have) {
        if (inflate_some(&f, head + have, hlen - have, &got, &err) < 0)
            goto corrupt;
        have += got;
    }
    size_t off;
    if (npy_parse_header(head, have, a, &off, d) < 0)
        goto out;
    size_t total = off + array_bytes(a);
    if (total < off || total != e->uncomp || have > total) {
        char sb[96];
        diag_at(d, a->name, 0, 0,
                "the NPY header's shape %s needs %zu bytes, the zip directory says the member "
                "holds %llu",
                array_shape_format(a, sb, sizeof sb), off + array_bytes(a),
                (unsigned long long)e->uncomp);
        goto out;
    }
    if (array_check_memory(total, a->name, "inflating", d) < 0)
        goto out;
    size_t cap = total < (1u << 20) ? total : (1u << 20);
    if (cap < have)
        cap = have;
    buf = xmalloc(cap ? cap : 1);
    memcpy(buf, head, have);
    while (have < total) {
        if (have == cap) {
            cap = cap > total / 2 ? total : cap * 2;
            buf = xrealloc(buf, cap);
        }
        if (inflate_some(&f, buf + have, cap - have, &got, &err) < 0)
            goto corrupt;
        have += got;
        if (got == 0)
            break;
    }
    if (have < total) {
        diag_at(d, a->name, 0, 0, "the deflated data ends after %zu of the member's %zu bytes",
                have, total);
        goto out;
    }
    unsigned char extra;
    if (inflate_some(&f, &extra, 1, &got, &err) < 0)
        goto corrupt;
    if (got) {
        diag_at(d, a->name, 0, 0, "inflates to more than the member's %zu bytes", total);
        goto out;
    }
    if (!f.ended) {
        diag_at(d, a->name, 0, 0, "the deflated data is truncated");
        goto out;
    }
    if (crc32_z(crc32_z(0, NULL, 0), buf, total) != e->crc) {
        diag_at(d, a->name, 0, 0, "CRC-32 mismatch (the member is damaged)");
        goto out;
    }
    a->buf = buf;
    a->data = buf + off;
    buf = NULL;
    rc = 0;
    goto out;
corrupt:
    diag_at(d, a->name, 0, 0, "bad deflate data: %s", err);
out:
    free(buf);
    inflateEnd(&f.zs);
    return rc;
}

int npz_load(const struct npz *z, const char *member, struct array *a, struct diag *d)
{
    memset(a, 0, sizeof *a);
    size_t n = strlen(z->path) + strlen(member) + 3;
    a->name = xmalloc(n);
    snprintf(a->name, n, "%s(%s)", z->path, member);
    const struct entry *e = find(z, member);
    const unsigned char *p = z->map;
    NNC_ASSERT(e);
    if (e->flags & 1) {
        diag_at(d, a->name, 0, 0, "encrypted members are not supported");
        goto fail;
    }
    if (e->method != 0 && e->method != 8) {
        diag_at(d, a->name, 0, 0, "compression method %u (nnc reads stored and deflated)",
                e->method);
        goto fail;
    }
    if (!inside(z, e->local, 30) || le(p + e->local, 4) != SIG_LOCAL) {
        diag_at(d, a->name, 0, 0, "no local header at offset %llu",
                (unsigned long long)e->local);
        goto fail;
    }
    const unsigned char *h = p + e->local;
    uint64_t nlen = le(h + 26, 2), elen = le(h + 28, 2), start = e->local + 30 + nlen + elen;
    if (!inside(z, e->local + 30, nlen) || nlen != strlen(e->name) ||
        memcmp(h + 30, e->name, nlen) != 0 || le(h + 8, 2) != e->method) {
        diag_at(d, a->name, 0, 0, "the local header disagrees with the central directory");
        goto fail;
    }
    if (start > z->cd_off || e->comp > z->cd_off - start) {
        diag_at(d, a->name, 0, 0, "%llu bytes of data at offset %llu run past the archive's "
                "members", (unsigned long long)e->comp, (unsigned long long)start);
        goto fail;
    }
    if (e->method == 8) {
        if (inflate_member(e, p + start, a, d) < 0)
            goto fail;
        return 0;
    }
    if (e->comp != e->uncomp) {
        diag_at(d, a->name, 0, 0, "a stored member whose sizes differ (%llu and %llu bytes)",
                (unsigned long long)e->comp, (unsigned long long)e->uncomp);
        goto fail;
    }
    if (npy_parse(p + start, (size_t)e->comp, a, d) < 0)
        goto fail;
    if (crc32_z(crc32_z(0, NULL, 0), p + start, (size_t)e->comp) != e->crc) {
        diag_at(d, a->name, 0, 0, "CRC-32 mismatch (the member is damaged)");
        goto fail;
    }
    /* The array keeps its own mapping of the file, so the archive can close. */
    /* Open too: a large member's rows are read with pread (loader.c). */
    struct array file = {0};
    if (array_map_file_fd(z->path, &file, d) < 0)
        goto fail;
    if (file.map_len != z->len) {
        array_free(&file);
        diag_at(d, z->path, 0, 0, "the file changed while it was read");
        goto fail;
    }
    a->map = file.map;
    a->map_len = file.map_len;
    a->has_fd = file.has_fd;
    a->fd = file.fd;
    a->data = (const unsigned char *)file.map + (a->data - p);
    return 0;
fail:
    array_free(a);
    return -1;
}

int npz_no_member(const struct npz *z, const char *path, const char *wanted, struct diag *d)
{
    char holds[256] = "";
    for (size_t i = 0; i < npz_n_members(z); i++) {
        size_t k = strlen(holds);
        snprintf(holds + k, sizeof holds - k, "%s%s", i ? ", " : "", npz_member_name(z, i));
    }
    diag_at(d, path, 0, 0, "no member %s (the archive holds %s)", wanted,
            npz_n_members(z) ? holds : "nothing");
    return -1;
}
