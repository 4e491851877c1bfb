/* Array descriptions, format detection and the conversion of stored values
 * (any dtype, either byte order, C or Fortran order) to float32 rows. */
#include "array.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

/* MNIST's names: "train-images-idx3-ubyte", "t10k-labels.idx1-ubyte". */
static bool idx_name(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    for (const char *p = strstr(base, "idx"); p; p = strstr(p + 1, "idx"))
        if (p[3] >= '1' && p[3] <= '9')
            return true;
    return ends_with(base, ".idx") || ends_with(base, ".idx.gz");
}

enum data_format data_format_detect(const char *path)
{
    if (!strcmp(path, "-"))
        return DATA_CSV;
    if (ends_with(path, ".npy"))
        return DATA_NPY;
    if (ends_with(path, ".npz"))
        return DATA_NPZ;
    if (ends_with(path, ".csv") || ends_with(path, ".tsv") || ends_with(path, ".txt"))
        return DATA_CSV;
    /* Only regular files are sniffed: reading a pipe would eat its start. */
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return idx_name(path) ? DATA_IDX : DATA_CSV;
    unsigned char m[8] = {0};
    FILE *f = fopen(path, "rb");
    size_t got = 0;
    if (f) {
        got = fread(m, 1, sizeof m, f);
        fclose(f);
    }
    if (got >= 6 && !memcmp(m, "\x93NUMPY", 6))
        return DATA_NPY;
    if (got >= 4 && (!memcmp(m, "PK\3\4", 4) || !memcmp(m, "PK\5\6", 4)))
        return DATA_NPZ;
    if (got >= 2 && m[0] == 0x1f && m[1] == 0x8b)
        return DATA_IDX; /* gzip: the MNIST files as distributed */
    if (got >= 4 && m[0] == 0 && m[1] == 0 && (m[2] == 8 || m[2] == 9 || (m[2] >= 0x0b &&
                                                m[2] <= 0x0e)) && m[3] >= 1)
        return DATA_IDX;
    return idx_name(path) ? DATA_IDX : DATA_CSV;
}

size_t array_dtype_size(enum array_dtype t)
{
    switch (t) {
    case DT_BOOL: case DT_I8: case DT_U8: return 1;
    case DT_I16: case DT_U16: case DT_F16: return 2;
    case DT_I32: case DT_U32: case DT_F32: return 4;
    case DT_I64: case DT_U64: case DT_F64: return 8;
    }
    return 0;
}

int array_set_shape(struct array *a, const size_t *shape, size_t rank, const char *where,
                    struct diag *d)
{
    NNC_ASSERT(rank <= ARRAY_MAX_RANK);
    a->rank = rank;
    memcpy(a->shape, shape, rank * sizeof *shape);
    a->n = rank ? shape[0] : 1;
    size_t row = 1, bytes;
    bool over = false;
    for (size_t k = 1; k < rank; k++)
        over |= size_mul(row, shape[k], &row) < 0;
    /* The whole product, not only the row: the data must be addressable. */
    over |= size_mul(row, a->n, &bytes) < 0 || size_mul(bytes, a->itemsize, &bytes) < 0;
    a->row_size = row;
    if (over) {
        char buf[96];
        diag_at(d, a->name, 0, 0, "%s: shape %s overflows (more than 2^64 bytes)", where,
                array_shape_format(a, buf, sizeof buf));
        return -1;
    }
    return 0;
}

size_t array_bytes(const struct array *a)
{
    return a->n * a->row_size * a->itemsize;
}

const char *array_shape_format(const struct array *a, char *buf, size_t size)
{
    size_t k = 0;
    int n = snprintf(buf, size, "(");
    for (size_t i = 0; i < a->rank && n >= 0 && (size_t)n < size; i++) {
        k = (size_t)n;
        n = snprintf(buf + k, size - k, "%s%zu", i ? ", " : "", a->shape[i]) + (int)k;
    }
    if (n >= 0 && (size_t)n < size) {
        k = (size_t)n;
        snprintf(buf + k, size - k, "%s)", a->rank == 1 ? "," : "");
    }
    return buf;
}

const char *array_dtype_format(const struct array *a, char *buf, size_t size)
{
    static const char kind[] = {
        [DT_BOOL] = 'b', [DT_I8] = 'i', [DT_U8] = 'u', [DT_I16] = 'i', [DT_U16] = 'u',
        [DT_I32] = 'i', [DT_U32] = 'u', [DT_I64] = 'i', [DT_U64] = 'u', [DT_F16] = 'f',
        [DT_F32] = 'f', [DT_F64] = 'f'};
    char order = a->itemsize == 1 ? '|' : a->big_endian ? '>' : '<';
    snprintf(buf, size, "%c%c%zu", order, kind[a->dtype], a->itemsize);
    return buf;
}

/* ---- conversion ---------------------------------------------------------- */

static uint64_t load(const unsigned char *p, size_t size, bool be)
{
    uint64_t v = 0;
    for (size_t i = 0; i < size; i++)
        v |= (uint64_t)p[be ? i : size - 1 - i] << (8 * (size - 1 - i));
    return v;
}

static bool host_big_endian(void)
{
    const uint16_t one = 1;
    unsigned char first;
    memcpy(&first, &one, 1);
    return first == 0;
}

/* IEEE half -> float: normal (1024 + m) * 2^(e-25), subnormal m * 2^-24. */
static float half_to_float(uint16_t h)
{
    unsigned e = (h >> 10) & 0x1f, m = h & 0x3ff;
    float v;
    if (e == 0)
        v = ldexpf((float)m, -24);
    else if (e == 31)
        v = m ? NAN : INFINITY;
    else
        v = ldexpf((float)(m | 0x400), (int)e - 25);
    return (h & 0x8000) ? -v : v;
}

enum bad { BAD_NONE, BAD_INT, BAD_NONFINITE, BAD_RANGE };

struct bad_value {
    enum bad why;
    size_t at;       /* element index within the run */
    double value;    /* for the message */
    long long ivalue;
    bool is_unsigned;
    unsigned long long uvalue;
};

#define EXACT_INT 16777216 /* 2^24: float32 holds every integer up to here */

/* Converts count contiguous elements from p; stops at the first value that
 * cannot come in exactly (returns false with *bad filled). */
static bool convert_run(const struct array *a, const unsigned char *p, size_t count, float *out,
                        struct bad_value *bad)
{
    size_t sz = a->itemsize;
    bool be = a->big_endian;
    switch (a->dtype) {
    case DT_BOOL:
        for (size_t i = 0; i < count; i++)
            out[i] = p[i] != 0;
        return true;
    case DT_U8:
        for (size_t i = 0; i < count; i++)
            out[i] = p[i];
        return true;
    case DT_I8:
        for (size_t i = 0; i < count; i++)
            out[i] = (signed char)p[i];
        return true;
    case DT_I16: case DT_I32: case DT_I64:
        for (size_t i = 0; i < count; i++) {
            uint64_t raw = load(p + i * sz, sz, be);
            unsigned bits = (unsigned)(8 * sz);
            if (bits < 64 && (raw >> (bits - 1)) & 1)
                raw |= ~(uint64_t)0 << bits; /* sign-extend */
            int64_t v = (int64_t)raw;
            if (v > EXACT_INT || v < -EXACT_INT) {
                *bad = (struct bad_value){.why = BAD_INT, .at = i, .ivalue = (long long)v};
                return false;
            }
            out[i] = (float)v;
        }
        return true;
    case DT_U16: case DT_U32: case DT_U64:
        for (size_t i = 0; i < count; i++) {
            uint64_t v = load(p + i * sz, sz, be);
            if (v > EXACT_INT) {
                *bad = (struct bad_value){.why = BAD_INT, .at = i, .is_unsigned = true,
                                          .uvalue = (unsigned long long)v};
                return false;
            }
            out[i] = (float)v;
        }
        return true;
    case DT_F16: case DT_F32: case DT_F64:
        if (a->dtype == DT_F32 && be == host_big_endian()) {
            /* The common case: the bytes are the floats. */
            memcpy(out, p, count * sizeof *out);
            for (size_t i = 0; i < count; i++)
                if (!isfinite(out[i])) {
                    *bad = (struct bad_value){.why = BAD_NONFINITE, .at = i, .value = out[i]};
                    return false;
                }
            return true;
        }
        for (size_t i = 0; i < count; i++) {
            uint64_t raw = load(p + i * sz, sz, be);
            double v;
            if (a->dtype == DT_F16) {
                v = half_to_float((uint16_t)raw);
            } else if (a->dtype == DT_F32) {
                uint32_t r32 = (uint32_t)raw;
                float f;
                memcpy(&f, &r32, sizeof f);
                v = f;
            } else {
                memcpy(&v, &raw, sizeof v);
            }
            if (!isfinite(v)) {
                *bad = (struct bad_value){.why = BAD_NONFINITE, .at = i, .value = v};
                return false;
            }
            out[i] = (float)v;
            if (!isfinite(out[i])) {
                *bad = (struct bad_value){.why = BAD_RANGE, .at = i, .value = v};
                return false;
            }
        }
        return true;
    }
    return true;
}

static int report_bad(const struct array *a, size_t row, size_t col, const struct bad_value *b,
                      struct diag *d)
{
    switch (b->why) {
    case BAD_INT:
        if (b->is_unsigned)
            diag_at(d, a->name, row + 1, col + 1,
                    "%llu is not exactly representable in float32 (integers up to 2^24)",
                    b->uvalue);
        else
            diag_at(d, a->name, row + 1, col + 1,
                    "%lld is not exactly representable in float32 (integers up to 2^24)",
                    b->ivalue);
        break;
    case BAD_NONFINITE:
        diag_at(d, a->name, row + 1, col + 1, "%s is not a finite number",
                isnan(b->value) ? "nan" : b->value > 0 ? "inf" : "-inf");
        break;
    case BAD_RANGE:
        diag_at(d, a->name, row + 1, col + 1, "%g is out of range for float32", b->value);
        break;
    case BAD_NONE:
        break;
    }
    return -1;
}

/* Fortran order: element (i, j1, .., jr) sits at i + n*(j1 + s1*(j2 + ...)),
 * i.e. axis k has stride shape[0] * ... * shape[k-1] elements. */
static int read_rows_fortran(const struct array *a, size_t first, size_t count, float *out,
                             struct diag *d)
{
    size_t stride[ARRAY_MAX_RANK], idx[ARRAY_MAX_RANK] = {0};
    stride[0] = 1;
    for (size_t k = 1; k < a->rank; k++)
        stride[k] = stride[k - 1] * a->shape[k - 1];
    for (size_t i = 0; i < count; i++) {
        size_t row = first + i;
        memset(idx, 0, sizeof idx);
        for (size_t j = 0; j < a->row_size; j++) {
            size_t off = row;
            for (size_t k = 1; k < a->rank; k++)
                off += idx[k] * stride[k];
            struct bad_value bad;
            if (!convert_run(a, a->data + off * a->itemsize, 1, out + i * a->row_size + j, &bad))
                return report_bad(a, row, j, &bad, d);
            /* Next index in C order: the last axis fastest. */
            for (size_t k = a->rank; k-- > 1;) {
                if (++idx[k] < a->shape[k])
                    break;
                idx[k] = 0;
            }
        }
    }
    return 0;
}

int array_read_rows(const struct array *a, size_t first, size_t count, float *out,
                    struct diag *d)
{
    NNC_ASSERT(first <= a->n && count <= a->n - first);
    if (a->row_size == 0)
        return 0;
    if (a->fortran && a->rank > 1)
        return read_rows_fortran(a, first, count, out, d);
    size_t total = count * a->row_size;
    struct bad_value bad;
    if (convert_run(a, a->data + first * a->row_size * a->itemsize, total, out, &bad))
        return 0;
    size_t row = first + bad.at / a->row_size;
    return report_bad(a, row, bad.at % a->row_size, &bad, d);
}

/* ---- memory --------------------------------------------------------------- */

int array_check_memory(size_t bytes, const char *name, const char *what, struct diag *d)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page <= 0)
        return 0;
    double phys = (double)pages * (double)page;
    if ((double)bytes <= phys)
        return 0;
    diag_at(d, name, 0, 0, "%s needs %.1f GB, more than this machine's %.1f GB of memory", what,
            (double)bytes / 1e9, phys / 1e9);
    return -1;
}

static int map_file(const char *path, void **map, size_t *len, int *fd_out, struct diag *d)
{
    *map = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        diag_at(d, path, 0, 0, "cannot open: %s", strerror(errno));
        return -1;
    }
    struct stat st;
    int rc = -1;
    if (fstat(fd, &st) < 0) {
        diag_at(d, path, 0, 0, "cannot stat: %s", strerror(errno));
    } else if (S_ISDIR(st.st_mode)) {
        diag_at(d, path, 0, 0, "is a directory");
    } else if (!S_ISREG(st.st_mode)) {
        diag_at(d, path, 0, 0, "not a regular file (NPY, NPZ and IDX files are memory-mapped)");
    } else if (st.st_size == 0) {
        rc = 0;
    } else if ((uintmax_t)st.st_size > SIZE_MAX) {
        diag_at(d, path, 0, 0, "too large to map");
    } else {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            diag_at(d, path, 0, 0, "cannot map: %s", strerror(errno));
        } else {
            *map = p;
            *len = (size_t)st.st_size;
            rc = 0;
        }
    }
    if (rc == 0 && fd_out && *map) {
        *fd_out = fd;
        return 0;
    }
    close(fd);
    return rc;
}

int array_map_file(const char *path, void **map, size_t *len, struct diag *d)
{
    return map_file(path, map, len, NULL, d);
}

int array_map_file_fd(const char *path, struct array *a, struct diag *d)
{
    int fd = -1;
    if (map_file(path, &a->map, &a->map_len, &fd, d) < 0)
        return -1;
    a->has_fd = fd >= 0;
    a->fd = fd;
    return 0;
}

bool array_is_native_f32(const struct array *a)
{
    return a->dtype == DT_F32 && a->big_endian == host_big_endian() &&
           (!a->fortran || a->rank <= 1) && a->map && a->has_fd && a->data &&
           (uintptr_t)a->data % _Alignof(float) == 0;
}

void array_free(struct array *a)
{
    if (a->map)
        munmap(a->map, a->map_len);
    if (a->has_fd)
        close(a->fd);
    free(a->buf);
    free(a->name);
    memset(a, 0, sizeof *a);
}
