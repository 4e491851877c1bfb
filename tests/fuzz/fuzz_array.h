/* For the array fuzz targets (NPY, NPZ, IDX): every row of an opened array
 * converted to float32, the way train and predict read them, in batches
 * of up to 16 rows, until the first bad value. */
#ifndef NNC_FUZZ_ARRAY_H
#define NNC_FUZZ_ARRAY_H

#include "../../src/data/array.h"
#include "fuzz.h"

static inline void fuzz_read_rows(const struct array *a)
{
    if (a->n == 0 || a->row_size == 0)
        return;
    size_t batch = a->n < 16 ? a->n : 16, k;
    float *out = xcalloc(batch * a->row_size, sizeof *out);
    struct diag d;
    for (size_t first = 0; first < a->n; first += k) {
        k = a->n - first < batch ? a->n - first : batch;
        if (array_read_rows(a, first, k, out, &d) < 0) {
            fuzz_note("rows", d.msg);
            break;
        }
    }
    free(out);
}

#endif
