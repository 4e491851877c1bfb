/* exp, expm1 and tanh written so that GCC vectorizes the loops that call
 * them (no calls, no branches): libm's scalar tanhf and expm1f cost as
 * much as a Dense layer's GEMM (an MLP 784-512-256-10 with tanh trained
 * 47% slower than with ReLU), and they were a quarter of an LSTM's
 * training time. Used by the activations (activation.c) and the recurrent
 * gates (layers/rnn_common.c), so a tanh is the same number in both.
 * ISO C contracts no FMA, so vectorized and scalar code give the same
 * results bit for bit. */
#ifndef NNC_APPROX_MATH_H
#define NNC_APPROX_MATH_H

#include <stdint.h>
#include <string.h>

/* exp as Cephes's expf: n = round(x log2 e) by the 1.5 * 2^23 trick,
 * r = x - n ln 2 in two parts, a degree-6 polynomial, times 2^n built in
 * the exponent bits; within 2 ulp of expf over [-87, 88] (x is clamped
 * there). */
static inline float exp_approx(float x)
{
    x = x < -87.0f ? -87.0f : x > 88.0f ? 88.0f : x;
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = x - n * 0.693359375f + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    /* NaN stays NaN through p; only its exponent bits need a number (a
     * NaN converted to an integer is undefined) */
    int32_t e = ((int32_t)(n == n ? n : 0.0f) + 127) << 23;
    float scale;
    memcpy(&scale, &e, sizeof scale);
    return p * scale;
}

/* tanh: Cephes's tanhf polynomial for |x| < 0.625, else
 * 1 - 2 / (e^2|x| + 1), with x's sign. */
static inline float tanh_approx(float x)
{
    float a = x < 0 ? -x : x, s = a * a;
    float small = ((((-5.70498872745e-3f * s + 2.06390887954e-2f) * s - 5.37397155531e-2f) * s +
                    1.33314422036e-1f) *
                       s -
                   3.33332819422e-1f) *
                      s * a +
                  a;
    float large = 1.0f - 2.0f / (exp_approx(2.0f * a) + 1.0f);
    float t = a < 0.625f ? small : large;
    return x < 0 ? -t : t;
}

/* exp(x) - 1 without the cancellation near 0: its Taylor series to x^8
 * for |x| < 0.35 (the next term is below 2e-9 of the result), else
 * exp_approx(x) - 1, whose result is then at least 0.29 in size. */
static inline float expm1_approx(float x)
{
    float p = 1.0f / 40320;
    p = p * x + 1.0f / 5040;
    p = p * x + 1.0f / 720;
    p = p * x + 1.0f / 120;
    p = p * x + 1.0f / 24;
    p = p * x + 1.0f / 6;
    p = p * x + 0.5f;
    float small = p * x * x + x, a = x < 0 ? -x : x;
    return a < 0.35f ? small : exp_approx(x) - 1.0f;
}

#endif
