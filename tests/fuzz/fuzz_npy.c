/* Fuzz target: NPY files. The input is parsed in memory (npy_parse, the
 * way NPZ members are) and as a mapped file (npy_open, the way x.npy is),
 * and every row is converted to float32. */
#include "../../src/data/npy.h"
#include "fuzz_array.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct array a;
    struct diag d;
    memset(&a, 0, sizeof a);
    a.name = xstrdup("mem.npy");
    if (npy_parse(data, size, &a, &d) == 0) {
        fuzz_note("npy_parse", NULL);
        fuzz_read_rows(&a);
    } else {
        fuzz_note("npy_parse", d.msg);
    }
    array_free(&a);

    const char *path = fuzz_path(0, "x.npy");
    fuzz_write(path, data, size);
    if (npy_open(path, &a, &d) == 0) {
        fuzz_read_rows(&a);
        array_free(&a);
    }
    return 0;
}
