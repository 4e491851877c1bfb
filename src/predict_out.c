/* predict's output destinations (see predict_out.h). */
#include "predict_out.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/npy.h"

static const char *dest(const struct pred_out *o)
{
    return o->path ? o->path : "<stdout>";
}

static int write_error(const struct pred_out *o, struct diag *d)
{
    diag_at(d, dest(o), 0, 0, "write error: %s", strerror(errno ? errno : EIO));
    return -1;
}

/* The NPY header for `rows` rows, padded to width (0: natural size). */
static size_t header(const struct pred_out *o, size_t rows, unsigned char *buf, size_t size,
                     size_t width)
{
    size_t shape[PRED_OUT_MAX_RANK + 1];
    shape[0] = rows;
    memcpy(shape + 1, o->shape, o->rank * sizeof *shape);
    return npy_format_header(buf, size, o->int64 ? "<i8" : "<f4", shape, o->rank + 1, width);
}

int pred_out_open(struct pred_out *o, const char *path, bool npy, bool int64,
                  const size_t *sample_shape, size_t rank, struct diag *d)
{
    memset(o, 0, sizeof *o);
    o->path = path;
    o->npy = npy;
    o->int64 = int64;
    NNC_ASSERT(rank <= PRED_OUT_MAX_RANK);
    o->rank = rank;
    memcpy(o->shape, sample_shape, rank * sizeof *sample_shape);
    if (npy && !path && isatty(STDOUT_FILENO)) {
        diag_set(d, "--format npy: refusing to write binary data to a terminal (redirect "
                 "standard output or use -o FILE)");
        return -1;
    }
    if (path) {
        size_t n = strlen(path) + 32;
        o->tmp = xmalloc(n);
        snprintf(o->tmp, n, "%s.tmp-%ld", path, (long)getpid());
        o->f = fopen(o->tmp, "wb");
        if (!o->f) {
            diag_at(d, path, 0, 0, "cannot create %s: %s", o->tmp, strerror(errno));
            free(o->tmp);
            o->tmp = NULL;
            return -1;
        }
    } else if (npy) {
        o->f = tmpfile();
        if (!o->f) {
            diag_set(d, "cannot create a temporary file: %s", strerror(errno));
            return -1;
        }
    } else {
        o->f = stdout;
    }
    if (npy) {
        /* Room for the largest row count; rewritten at the end. */
        unsigned char buf[NPY_MAX_HEADER];
        o->header = header(o, SIZE_MAX, buf, sizeof buf, 0);
        NNC_ASSERT(o->header > 0);
        memset(buf, ' ', o->header);
        if (fwrite(buf, 1, o->header, o->f) != o->header) {
            write_error(o, d);
            pred_out_abort(o);
            return -1;
        }
    }
    return 0;
}

FILE *pred_out_file(const struct pred_out *o) { return o->f; }

int pred_out_npy_rows(struct pred_out *o, const void *values, size_t rows, struct diag *d)
{
    size_t per = 1;
    for (size_t k = 0; k < o->rank; k++)
        per *= o->shape[k];
    size_t n = rows * per, size = o->int64 ? 8 : 4;
    unsigned char buf[4096];
    for (size_t i = 0; i < n;) {
        size_t k = 0;
        for (; i < n && k + size <= sizeof buf; i++, k += size) {
            uint64_t bits;
            if (o->int64) {
                bits = (uint64_t)((const int64_t *)values)[i];
            } else {
                uint32_t b32;
                memcpy(&b32, (const float *)values + i, 4);
                bits = b32;
            }
            for (size_t j = 0; j < size; j++) /* little-endian whatever the host */
                buf[k + j] = (unsigned char)(bits >> (8 * j));
        }
        if (fwrite(buf, 1, k, o->f) != k)
            return write_error(o, d);
    }
    o->rows += rows;
    return 0;
}

int pred_out_flush(struct pred_out *o, struct diag *d)
{
    if (fflush(o->f) != 0 || ferror(o->f))
        return write_error(o, d);
    return 0;
}

/* Copies the finished temporary file to standard output. */
static int copy_to_stdout(struct pred_out *o, struct diag *d)
{
    char buf[65536];
    rewind(o->f);
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, o->f)) > 0)
        if (fwrite(buf, 1, n, stdout) != n)
            return write_error(o, d);
    if (ferror(o->f)) {
        diag_set(d, "read error on the temporary file: %s", strerror(errno));
        return -1;
    }
    return fflush(stdout) == 0 ? 0 : write_error(o, d);
}

int pred_out_finish(struct pred_out *o, struct diag *d)
{
    int rc = 0;
    if (o->npy) {
        unsigned char buf[NPY_MAX_HEADER];
        size_t n = header(o, o->rows, buf, sizeof buf, o->header);
        NNC_ASSERT(n == o->header);
        if (fflush(o->f) != 0 || fseek(o->f, 0, SEEK_SET) != 0 ||
            fwrite(buf, 1, n, o->f) != n || fflush(o->f) != 0)
            rc = write_error(o, d);
        if (rc == 0 && !o->path)
            rc = copy_to_stdout(o, d);
    }
    if (rc == 0 && o->path) {
        FILE *f = o->f;
        o->f = NULL;
        if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
            rc = write_error(o, d);
            fclose(f);
        } else if (fclose(f) != 0) {
            rc = write_error(o, d);
        } else if (rename(o->tmp, o->path) != 0) {
            diag_at(d, o->path, 0, 0, "cannot rename %s into place: %s", o->tmp,
                    strerror(errno));
            rc = -1;
        } else {
            free(o->tmp);
            o->tmp = NULL;
        }
    } else if (rc == 0 && !o->npy) {
        rc = pred_out_flush(o, d);
    }
    pred_out_abort(o);
    return rc;
}

void pred_out_abort(struct pred_out *o)
{
    if (o->f && o->f != stdout)
        fclose(o->f);
    o->f = NULL;
    if (o->tmp) {
        unlink(o->tmp);
        free(o->tmp);
        o->tmp = NULL;
    }
}
