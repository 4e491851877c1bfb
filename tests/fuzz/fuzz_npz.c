/* Fuzz target: NPZ files (zip archives of NPY members, stored or
 * deflated, zip64). The input is opened as x.npz; every member (the first
 * 16) is loaded and its rows converted to float32. */
#include "../../src/data/npz.h"
#include "fuzz_array.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_path(0, "x.npz");
    fuzz_write(path, data, size);
    struct npz *z;
    struct diag d;
    if (npz_open(path, &z, &d) < 0) {
        fuzz_note("npz_open", d.msg);
        return 0;
    }
    npz_has(z, "x.npy");
    for (size_t i = 0; i < npz_n_members(z) && i < 16; i++) {
        struct array a;
        memset(&a, 0, sizeof a);
        if (npz_load(z, npz_member_name(z, i), &a, &d) == 0) {
            fuzz_note("npz_load", NULL);
            fuzz_read_rows(&a);
        } else {
            fuzz_note("npz_load", d.msg);
        }
        array_free(&a);
    }
    npz_close(z);
    return 0;
}
