/* NPY files (numpy's format, versions 1.0, 2.0 and 3.0): the magic, the
 * header length, the Python-dict header {'descr', 'fortran_order',
 * 'shape'} parsed strictly, the data mapped from the file. Formats NPY 1.0
 * headers for predict --format npy. */
#ifndef NNC_NPY_H
#define NNC_NPY_H

#include <stddef.h>

#include "array.h"

/* numpy refuses headers longer than this (format.py, _MAX_HEADER_SIZE). */
#define NPY_MAX_HEADER 10000
/* Bytes before the header text: magic (6), version (2), length (2 or 4). */
#define NPY_PREAMBLE_MAX 12

/* From the first bytes of an NPY file (at least NPY_PREAMBLE_MAX, or all
 * there are): the total length of magic + header, so the caller knows how
 * much to read before npy_parse_header. */
int npy_header_length(const unsigned char *p, size_t len, const char *name, size_t *total,
                      struct diag *d);
/* Parses the preamble and header in p[0..len) (len >= the header length)
 * into a (name must be set): dtype, order, shape. *data_offset is where the
 * data starts. Errors: "NAME: header: ...". */
int npy_parse_header(const unsigned char *p, size_t len, struct array *a, size_t *data_offset,
                     struct diag *d);
/* A whole NPY image in memory: the header, then exactly the data it
 * claims (a short or long image is an error). a->data points into p. */
int npy_parse(const unsigned char *p, size_t len, struct array *a, struct diag *d);
/* Maps path and parses it; the array owns the map. */
int npy_open(const char *path, struct array *a, struct diag *d);

/* Formats an NPY 1.0 header for a C-order array of the given numpy dtype
 * ("<f4", "<i8") and shape into out[0..size), padded with spaces to
 * exactly `width` bytes when width is non-zero (so that a header can be
 * rewritten in place once the row count is known), else to a multiple of
 * 64 as numpy does. Returns its length, 0 when it does not fit. */
size_t npy_format_header(unsigned char *out, size_t size, const char *descr, const size_t *shape,
                         size_t rank, size_t width);

#endif
