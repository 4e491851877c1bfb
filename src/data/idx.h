/* IDX files (the MNIST family format, yann.lecun.com/exdb/mnist): magic
 * 00 00 TYPE RANK, RANK big-endian uint32 dimensions, then big-endian
 * values of TYPE 08 ubyte, 09 byte, 0B short, 0C int, 0D float, 0E double.
 * Plain files are memory-mapped; gzipped ones (as distributed) are
 * inflated into a buffer, never past the size the header implies. Values
 * come in as stored (no scaling: rescale in the model). */
#ifndef NNC_IDX_H
#define NNC_IDX_H

#include "array.h"

int idx_open(const char *path, struct array *a, struct diag *d);

#endif
