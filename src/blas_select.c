/* OpenBLAS 0.3.21 (Debian 12) detects the CPU by family/model number; a
 * newer model (Emerald Rapids is family 6 model 207) is unknown to it and
 * gets the Prescott (SSE3) kernels, which run sgemm 2-3x slower than the
 * SkylakeX kernels the same CPU can use (measured: an MLP epoch 6 s vs
 * 2 s). The choice is made in OpenBLAS's load-time constructor from
 * OPENBLAS_CORETYPE, so the only fix from inside the program is to set the
 * variable and start again. */
#include "blas_select.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

char *openblas_get_corename(void);

/* Core types an unknown x86-64 CPU falls back to. */
static const char *const generic[] = {"Prescott", "Core2", "Nehalem", "Sandybridge", "Katmai"};

void blas_select_kernels(char **argv)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (getenv("OPENBLAS_CORETYPE"))
        return;
    const char *core = openblas_get_corename();
    bool fallback = false;
    for (size_t i = 0; core && i < sizeof generic / sizeof generic[0]; i++)
        fallback |= !strcasecmp(core, generic[i]);
    if (!fallback)
        return;
    __builtin_cpu_init();
    const char *want = NULL;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl"))
        want = "SkylakeX";
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        want = "Haswell";
    if (!want || strcasecmp(core, want) == 0)
        return;
    if (setenv("OPENBLAS_CORETYPE", want, 1) != 0)
        return;
    /* The constructor also starts OpenBLAS's own workers, one per core,
     * which spin in sched_yield for their first ~0.1 s on the cores nnc's
     * pool runs on; nnc calls OpenBLAS at one thread from its pool
     * (parallel.h), so the second start needs none. A later
     * openblas_set_num_threads(n) still starts them (bench/gemm.c's
     * threaded ceiling). */
    setenv("OPENBLAS_NUM_THREADS", "1", 1);
    execv("/proc/self/exe", argv);
    /* Still here: run on with the generic kernels. */
    unsetenv("OPENBLAS_CORETYPE");
#else
    (void)argv;
#endif
}
