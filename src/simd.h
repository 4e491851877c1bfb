/* Element-wise loops compiled for AVX2 and the baseline x86-64, the version
 * chosen at load time by the CPU (target_clones, through an ifunc). ISO C
 * (-std=c11) contracts no a*b+c into an FMA, so both versions do the same
 * operations element by element and give the same results, twice as many
 * per instruction as the baseline's SSE2.
 * Not AVX-512: GCC turns a select such as `y > 0 ? dy : 0` into a masked
 * load there, which skips the lanes the mask clears, and the hardware
 * prefetcher no longer follows the stream: ReLU's backward over an 11 MB
 * activation took 2.0 ms with AVX-512 against 0.9-1.1 ms with AVX2 or SSE2
 * (2026-12-07, AMD EPYC).
 * Only on static functions (an extern one calls its static clones): clang
 * 14 names the ifunc of an extern function NAME.ifunc and leaves NAME
 * undefined for the callers in other files, so clang builds did not link. */
#ifndef NNC_SIMD_H
#define NNC_SIMD_H

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define SIMD_CLONES __attribute__((target_clones("avx2", "default")))
/* With AVX-512 too, for loops of arithmetic whose selects pick between
 * values already computed (approx_math.h's exp and tanh, the recurrent
 * gates): GCC 12 vectorizes those only with AVX-512's masks ("control flow
 * in loop" for AVX2 and SSE2, which then run them scalar). */
#define SIMD_CLONES_512 __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define SIMD_CLONES
#define SIMD_CLONES_512
#endif

/* Before a loop whose iterations are independent although the compiler
 * cannot prove it (stores through one pointer at offsets a run-time stride
 * apart): lets it vectorize without a run-time overlap check. */
#if defined(__clang__)
#define SIMD_INDEPENDENT _Pragma("clang loop vectorize(assume_safety)")
/* Under ASan and UBSan (make fuzz builds with clang -O1) clang may not
 * vectorize such a loop and warns that the request failed; the loop is
 * correct either way. */
#pragma clang diagnostic ignored "-Wpass-failed"
#elif defined(__GNUC__)
#define SIMD_INDEPENDENT _Pragma("GCC ivdep")
#else
#define SIMD_INDEPENDENT
#endif

#endif
