/* Decimal text -> float32 (see decimal.h). The target is r = (float)D where
 * D is strtod's correctly rounded double of the text x = W * 10^E.
 *
 * 1. Clinger's fast path (W. D. Clinger, "How to read floating point numbers
 *    accurately", PLDI 1990): when W <= 2^53 and |E| <= 22, W and 10^|E|
 *    are exact doubles (5^22 < 2^53), so the one IEEE multiply W * 10^E or
 *    divide W / 10^-E is correctly rounded: it is D, and r = (float)D.
 *    A W small enough to absorb part of a larger E exactly is moved first.
 *
 * 2. Longer significands (pandas' 17 digits, numpy's %.18e) and exponents
 *    up to float range, checked: w = the first 19 significant digits of W
 *    (w >= 10^18 when digits were dropped, so w * 10^e is within 10^-18 of
 *    x, relatively), y = (double)w * 10^e with a correctly rounded table
 *    entry: three roundings, so |y - x| <= 3.4e-16 x and |y - D| < 4.6e-16
 *    x (D is within 2^-53 of x). f = (float)y lies strictly between the
 *    midpoints m- and m+ to its float neighbours; if y is farther than
 *    2^-49 y (1.8e-15 y) from both, D lies strictly between them too, and
 *    (float)D = f. Otherwise (about one value in 2^25) and for results
 *    outside float's normal range, the text goes to step 3.
 *
 * 3. Everything else (inf, nan, malformed text, extreme exponents, values
 *    near a rounding boundary): strtod on the text in place. */
#include "decimal.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define TWO_53 9007199254740992u
#define POW10_MIN (-64)
#define POW10_MAX 40

/* 10^k for k in [POW10_MIN, POW10_MAX], each the correctly rounded double
 * (exact for 0 <= k <= 22) as the compiler reads the literal. */
static const double pow10_table[POW10_MAX - POW10_MIN + 1] = {
    1e-64, 1e-63, 1e-62, 1e-61, 1e-60, 1e-59, 1e-58, 1e-57, 1e-56, 1e-55, 1e-54,
    1e-53, 1e-52, 1e-51, 1e-50, 1e-49, 1e-48, 1e-47, 1e-46, 1e-45, 1e-44, 1e-43,
    1e-42, 1e-41, 1e-40, 1e-39, 1e-38, 1e-37, 1e-36, 1e-35, 1e-34, 1e-33, 1e-32,
    1e-31, 1e-30, 1e-29, 1e-28, 1e-27, 1e-26, 1e-25, 1e-24, 1e-23, 1e-22, 1e-21,
    1e-20, 1e-19, 1e-18, 1e-17, 1e-16, 1e-15, 1e-14, 1e-13, 1e-12, 1e-11, 1e-10,
    1e-9,  1e-8,  1e-7,  1e-6,  1e-5,  1e-4,  1e-3,  1e-2,  1e-1,  1e0,   1e1,
    1e2,   1e3,   1e4,   1e5,   1e6,   1e7,   1e8,   1e9,   1e10,  1e11,  1e12,
    1e13,  1e14,  1e15,  1e16,  1e17,  1e18,  1e19,  1e20,  1e21,  1e22,  1e23,
    1e24,  1e25,  1e26,  1e27,  1e28,  1e29,  1e30,  1e31,  1e32,  1e33,  1e34,
    1e35,  1e36,  1e37,  1e38,  1e39,  1e40,
};

static double pow10_of(long k) { return pow10_table[k - POW10_MIN]; }

static const uint64_t pow10_int[16] = {1u,
                                       10u,
                                       100u,
                                       1000u,
                                       10000u,
                                       100000u,
                                       1000000u,
                                       10000000u,
                                       100000000u,
                                       1000000000u,
                                       10000000000u,
                                       100000000000u,
                                       1000000000000u,
                                       10000000000000u,
                                       100000000000000u,
                                       1000000000000000u};

/* Step 3: strtod on the text in place, then the same classification. */
static enum decimal_status slow(const char *s, size_t n, float *out)
{
    /* strtod skips leading blanks and reads hexadecimal; we take neither. */
    if (n == 0 || s[0] == ' ' || (s[0] >= '\t' && s[0] <= '\r') || memchr(s, 'x', n) ||
        memchr(s, 'X', n))
        return DECIMAL_INVALID;
    char *stop;
    errno = 0;
    double v = strtod(s, &stop);
    if (stop != s + n)
        return DECIMAL_INVALID;
    if (errno == ERANGE && fabs(v) > 1)
        return DECIMAL_RANGE; /* beyond double: HUGE_VAL */
    if (!isfinite(v))
        return DECIMAL_NOT_FINITE;
    float f = (float)v;
    if (isinf(f))
        return DECIMAL_RANGE;
    *out = f;
    return DECIMAL_OK;
}

/* Step 2 for x ~ w * 10^e (w > 0, e in table range): true with *out set
 * when y is safely away from both rounding boundaries of f. */
static bool checked_float(uint64_t w, long e, float *out)
{
    double y = (double)w * pow10_of(e);
    if (!(y > 0x1p-125 && y < 0x1p127))
        return false; /* subnormal or near overflow: strtod decides */
    float f = (float)y;
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    uint32_t lo_bits = bits - 1, hi_bits = bits + 1;
    float lo, hi;
    memcpy(&lo, &lo_bits, sizeof lo);
    memcpy(&hi, &hi_bits, sizeof hi);
    /* Midpoints of two adjacent floats: 25 significant bits, exact. */
    double m_lo = ((double)lo + (double)f) * 0.5, m_hi = ((double)hi + (double)f) * 0.5;
    double margin = y * 0x1p-49;
    if (fabs(y - m_lo) <= margin || fabs(y - m_hi) <= margin)
        return false;
    *out = f;
    return true;
}

static inline unsigned digit(char c) { return (unsigned)(unsigned char)c - '0'; }

enum decimal_status decimal_to_float(const char *s, size_t n, float *out)
{
    const char *p = s, *end = s + n;
    bool neg = false;
    if (p < end && (*p == '+' || *p == '-'))
        neg = *p++ == '-';

    /* Significant digits into w (leading zeros skipped; past 19 they are
     * dropped and counted in e); e also counts the digits after the point. */
    uint64_t w = 0;
    long e = 0;
    int n_sig = 0;
    size_t n_digits = 0;
    for (; p < end && digit(*p) < 10; p++, n_digits++) {
        if (n_sig < 19) {
            w = w * 10 + digit(*p);
            n_sig += w != 0;
        } else {
            e++;
        }
    }
    if (p < end && *p == '.')
        for (p++; p < end && digit(*p) < 10; p++, n_digits++)
            if (n_sig < 19) {
                w = w * 10 + digit(*p);
                n_sig += w != 0;
                e--;
            }
    if (n_digits == 0)
        return slow(s, n, out); /* inf, nan, ".", garbage */
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        bool eneg = false;
        if (p < end && (*p == '+' || *p == '-'))
            eneg = *p++ == '-';
        if (p == end || digit(*p) >= 10)
            return slow(s, n, out);
        long x = 0;
        for (; p < end && digit(*p) < 10; p++)
            if (x < 100000)
                x = x * 10 + (long)digit(*p);
        e += eneg ? -x : x;
    }
    if (p != end)
        return slow(s, n, out);

    if (w == 0) {
        *out = neg ? -0.0f : 0.0f;
        return DECIMAL_OK;
    }
    float f;
    if (w <= TWO_53) { /* so at most 16 digits: none was dropped */
        if (e > 22 && e <= 22 + 15 && w <= TWO_53 / pow10_int[e - 22]) {
            w *= pow10_int[e - 22];
            e = 22;
        }
        if (e >= -22 && e <= 22) {
            double v = (double)w;
            v = e < 0 ? v / pow10_of(-e) : v * pow10_of(e);
            /* |v| <= 2^53 * 10^22 < FLT_MAX: never out of range here. */
            f = (float)v;
            *out = neg ? -f : f;
            return DECIMAL_OK;
        }
    }
    if (e >= POW10_MIN && e <= POW10_MAX && checked_float(w, e, &f)) {
        *out = neg ? -f : f;
        return DECIMAL_OK;
    }
    return slow(s, n, out);
}
