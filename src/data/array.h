/* Numeric arrays read from NPY, NPZ and IDX files: one description (dtype,
 * byte order, shape, C or Fortran order) over bytes that are either mapped
 * from the file or inflated into a buffer the array owns; rows are converted
 * to float32 on demand (array_read_rows), so a caller can stream batches
 * from the map. array_free releases the map or the buffer. */
#ifndef NNC_ARRAY_H
#define NNC_ARRAY_H

#include <stdbool.h>
#include <stddef.h>

#include "../diag.h"

/* numpy allowed 32 axes (NPY_MAXDIMS) until 2.0; more is an absurd header. */
#define ARRAY_MAX_RANK 32

enum array_dtype {
    DT_BOOL, DT_I8, DT_U8, DT_I16, DT_U16, DT_I32, DT_U32, DT_I64, DT_U64,
    DT_F16, DT_F32, DT_F64
};

struct array {
    char *name;                   /* "x.npy", "d.npz:x.npy", for messages */
    enum array_dtype dtype;
    size_t itemsize;              /* bytes per element */
    bool big_endian;
    bool fortran;                 /* column-major (first axis fastest) */
    size_t rank;                  /* 0 = a scalar: one row of one value */
    size_t shape[ARRAY_MAX_RANK];
    size_t n;                     /* rows: shape[0] (1 for a scalar) */
    size_t row_size;              /* values per row: product of shape[1..] */
    const unsigned char *data;    /* n * row_size * itemsize bytes */
    void *map;                    /* owned mapping (munmap) or NULL */
    size_t map_len;
    bool has_fd;                  /* fd: the mapped file, open (array_free closes it) */
    int fd;
    unsigned char *buf;           /* owned buffer (free) or NULL */
};

/* The kinds of data file nnc reads. */
enum data_format { DATA_CSV, DATA_NPY, DATA_NPZ, DATA_IDX };

/* By extension (.npy, .npz, .csv/.tsv/.txt), then by the first bytes (NPY
 * magic, a zip, gzip or the IDX magic) of a regular file (a pipe is not
 * read), then by an IDX-style name ("...-idx3-ubyte", ".idx"); anything
 * else, and "-", is CSV. */
enum data_format data_format_detect(const char *path);

/* Sets shape, rank, n and row_size, checking that the number of bytes the
 * shape needs fits in size_t. Message: "NAME: WHERE: shape ... overflows". */
int array_set_shape(struct array *a, const size_t *shape, size_t rank, const char *where,
                    struct diag *d);
/* Bytes of data the shape holds (array_set_shape checked the product). */
size_t array_bytes(const struct array *a);
/* "(60000, 28, 28)" into buf. */
const char *array_shape_format(const struct array *a, char *buf, size_t size);
/* numpy's name of the dtype: "<f4", "|u1", ">i2". */
const char *array_dtype_format(const struct array *a, char *buf, size_t size);
size_t array_dtype_size(enum array_dtype t);

/* Converts rows first .. first+count into out (count * row_size floats),
 * C order within a row whatever the storage order. Integers must be exact
 * in float32 (|v| <= 2^24) and floats finite and in float32's range, else
 * -1 with "NAME:ROW:COL: ..." (both 1-based: ROW is sample first+i+1, COL
 * the value's place in the flattened sample). */
int array_read_rows(const struct array *a, size_t first, size_t count, float *out,
                    struct diag *d);

/* Whether bytes fit this machine's memory; else -1 with a message naming
 * what (a member, a file). Guards buffers whose size a header claims. */
int array_check_memory(size_t bytes, const char *name, const char *what, struct diag *d);

/* Maps a whole file read-only; *len 0 (and *map NULL) for an empty file. */
int array_map_file(const char *path, void **map, size_t *len, struct diag *d);
/* The same, keeping the file open in a (has_fd, fd): the loader reads rows
 * of a large map with pread (loader.c). */
int array_map_file_fd(const char *path, struct array *a, struct diag *d);

/* Whether the stored bytes are the float32 rows themselves (native-endian
 * float32, C order, aligned, mapped with the file open): a dataset can
 * then train from the map without converting anything. */
bool array_is_native_f32(const struct array *a);

void array_free(struct array *a);

#endif
