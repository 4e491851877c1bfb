/* The files of a checkpoint at the byte level: paths inside its directory
 * and float32 little-endian arrays (weights.bin, optimizer.bin), written
 * synced and read whole with their size checked. Does not know model.json.
 * Returned paths are the caller's to free. */
/* fsync, lstat, fileno, getpid: POSIX (the Makefile defines it too). */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include "checkpoint_priv.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- paths ---------------------------------------------------------------- */

char *ckpt_path_join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = xmalloc(n);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

char *ckpt_parent_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return xstrdup(".");
    if (slash == path)
        return xstrdup("/");
    size_t n = (size_t)(slash - path);
    char *p = xmalloc(n + 1);
    memcpy(p, path, n);
    p[n] = '\0';
    return p;
}

char *ckpt_dir(const struct model_file *mf)
{
    return mf->dir ? xstrdup(mf->dir) : ckpt_parent_dir(mf->path);
}

/* A file name from model.json, relative to the checkpoint directory. */
int ckpt_check_rel_path(const struct spec_node *n, const char **out, struct diag *d)
{
    if (!n || n->kind != SPEC_SCALAR || spec_is_null(n) || !n->str[0])
        return spec_error(n, d, "expected a file name");
    const char *s = n->str;
    if (s[0] == '/')
        return spec_error(n, d, "'%s': weight files are named relative to the model.json", s);
    for (const char *p = s; *p;) {
        size_t k = strcspn(p, "/");
        if (k == 2 && p[0] == '.' && p[1] == '.')
            return spec_error(n, d, "'%s': weight files must be inside the checkpoint directory",
                              s);
        p += k;
        if (*p == '/')
            p++;
    }
    *out = s;
    return 0;
}

/* ---- float32 little-endian ------------------------------------------------ */

/* Byte order is written out explicitly, so the files are the same on any
 * host (tfjs reads them as a little-endian Float32Array). */
static void put_f32le(unsigned char *p, float v)
{
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    p[0] = (unsigned char)(u & 0xff);
    p[1] = (unsigned char)((u >> 8) & 0xff);
    p[2] = (unsigned char)((u >> 16) & 0xff);
    p[3] = (unsigned char)((u >> 24) & 0xff);
}

/* ---- writing files ------------------------------------------------------- */

static int write_f32le(FILE *f, const float *x, size_t n)
{
    unsigned char buf[4 * CKPT_CHUNK];
    for (size_t i = 0; i < n; i += CKPT_CHUNK) {
        size_t k = n - i < CKPT_CHUNK ? n - i : CKPT_CHUNK;
        for (size_t j = 0; j < k; j++)
            put_f32le(buf + 4 * j, x[i + j]);
        if (fwrite(buf, 4, k, f) != k)
            return -1;
    }
    return 0;
}

/* Flushes, syncs and closes f (always closed); errors name `name` inside
 * the checkpoint `target`. */
int ckpt_close_synced(FILE *f, const char *target, const char *name, struct diag *d)
{
    int err = 0;
    if (ferror(f))
        err = errno ? errno : EIO;
    else if (fflush(f) != 0 || fsync(fileno(f)) != 0)
        err = errno;
    if (fclose(f) != 0 && !err)
        err = errno;
    if (err) {
        diag_at(d, target, 0, 0, "cannot write %s: %s", name, strerror(err));
        return -1;
    }
    return 0;
}

FILE *ckpt_create_in(const char *tmp, const char *target, const char *name, struct diag *d)
{
    char *path = ckpt_path_join(tmp, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        diag_at(d, target, 0, 0, "cannot create %s: %s", path, strerror(errno));
    free(path);
    return f;
}

int ckpt_save_floats(const char *tmp, const char *target, const char *name, const float *x,
                     size_t n, struct diag *d)
{
    FILE *f = ckpt_create_in(tmp, target, name, d);
    if (!f)
        return -1;
    errno = 0;
    if (write_f32le(f, x, n) < 0) {
        int err = errno ? errno : EIO;
        fclose(f);
        diag_at(d, target, 0, 0, "cannot write %s: %s", name, strerror(err));
        return -1;
    }
    return ckpt_close_synced(f, target, name, d);
}

/* ---- reading files ------------------------------------------------------- */

/* Reads exactly the whole of path (n floats) into dst. */
int ckpt_read_floats_file(const char *path, float *dst, size_t n, const char *what, struct diag *d)
{
    size_t bytes;
    if (size_mul(n, 4, &bytes) < 0) {
        diag_at(d, path, 0, 0, "%s too large", what);
        return -1;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        diag_at(d, path, 0, 0, "cannot open: %s", strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode)) {
        diag_at(d, path, 0, 0, "not a regular file");
        fclose(f);
        return -1;
    }
    if ((uintmax_t)st.st_size != (uintmax_t)bytes) {
        diag_at(d, path, 0, 0, "expected %zu bytes (%zu %s), found %jd", bytes, n, what,
                (intmax_t)st.st_size);
        fclose(f);
        return -1;
    }
    unsigned char buf[4 * CKPT_CHUNK];
    for (size_t i = 0; i < n; i += CKPT_CHUNK) {
        size_t k = n - i < CKPT_CHUNK ? n - i : CKPT_CHUNK;
        if (fread(buf, 4, k, f) != k) {
            diag_at(d, path, 0, 0, "read error: %s", ferror(f) ? strerror(errno) : "file shrank");
            fclose(f);
            return -1;
        }
        for (size_t j = 0; j < k; j++)
            dst[i + j] = ckpt_get_f32le(buf + 4 * j);
    }
    fclose(f);
    return 0;
}
