/* Fuzz target: IDX files, plain (mapped) or gzipped (inflated; idx_open
 * tells them by the gzip magic). Every row is converted to float32. */
#include "../../src/data/idx.h"
#include "fuzz_array.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_path(0, "x-idx3-ubyte");
    fuzz_write(path, data, size);
    struct array a;
    struct diag d;
    if (idx_open(path, &a, &d) == 0) {
        fuzz_note("idx_open", NULL);
        fuzz_read_rows(&a);
        array_free(&a);
    } else {
        fuzz_note("idx_open", d.msg);
    }
    return 0;
}
