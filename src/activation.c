/* Element-wise activations and row softmax: Keras names, forward, backward.
 * Formulas follow tf.keras 2 (keras/activations.py and the TF kernels it
 * calls); each case cites what it matches. Forward and backward run in the
 * per-batch path: one switch, then a plain loop; no allocation. */
#include "activation.h"

#include <math.h>
#include <string.h>

#include "approx_math.h"
#include "simd.h"

/* tf.nn.selu constants (keras/activations.py selu -> tf.nn.selu), in the
 * float precision the kernel computes in. */
#define SELU_ALPHA 1.6732632423543772848170429916717f
#define SELU_SCALE 1.0507009873554804934193349852946f
#define SQRT1_2 0.70710678118654752440f     /* 1 / sqrt(2) */
#define INV_SQRT_2PI 0.39894228040143267794f /* 1 / sqrt(2 pi) */
/* Keras 3 keras.activations.leaky_relu(negative_slope=0.2), the same default
 * as tf.nn.leaky_relu(alpha=0.2). */
#define LEAKY_SLOPE 0.2f

/* Every accepted spelling: slot k < ACT_COUNT is kind k's serialization
 * name; the slots after it are aliases. */
static const char *const act_spellings[] = {
    [ACT_LINEAR] = "linear",           [ACT_RELU] = "relu",
    [ACT_SIGMOID] = "sigmoid",         [ACT_TANH] = "tanh",
    [ACT_SOFTMAX] = "softmax",         [ACT_ELU] = "elu",
    [ACT_SELU] = "selu",               [ACT_SOFTPLUS] = "softplus",
    [ACT_SOFTSIGN] = "softsign",       [ACT_HARD_SIGMOID] = "hard_sigmoid",
    [ACT_EXPONENTIAL] = "exponential", [ACT_GELU] = "gelu",
    [ACT_SWISH] = "swish",             [ACT_RELU6] = "relu6",
    [ACT_LEAKY_RELU] = "leaky_relu",
    [ACT_COUNT] = "silu", /* keras.activations.swish is tf.nn.silu */
};
#define N_SPELLINGS (sizeof act_spellings / sizeof act_spellings[0])

int activation_parse(const char *name, enum act_kind *out)
{
    for (size_t i = 0; i < N_SPELLINGS; i++) {
        if (strcmp(name, act_spellings[i]) == 0) {
            *out = i < ACT_COUNT ? (enum act_kind)i : ACT_SWISH; /* the one alias */
            return 0;
        }
    }
    return -1;
}

const char *activation_name(enum act_kind k)
{
    return (unsigned)k < ACT_COUNT ? act_spellings[k] : "?";
}

const char *const *activation_names(size_t *n)
{
    *n = N_SPELLINGS;
    return act_spellings;
}

static float sigmoidf(float z) { return 1.0f / (1.0f + expf(-z)); }

/* The element-wise loops vectorize: y and z (dz and z or dy) may be the same
 * buffer, but element i only ever reads index i before writing it, so there
 * is no dependence between iterations, which SIMD_INDEPENDENT (simd.h)
 * tells the compiler (otherwise it checks the pointers at run time and,
 * as they are equal, runs the scalar loop). ReLU's selects load both sides first and pick
 * between values (x > 0 ? d : 0), so they compile to masks instead of a
 * branch per element (a mispredicted one for about half the elements).
 * Every result is the same bit for bit. */

/* softmax along each row of a (rows, cols) block: subtract the row max so
 * exp never overflows, sum in double, scale by the reciprocal as TF's
 * softmax kernel does. y may alias z: z[j] is read before y[j] is written. */
static void softmax_forward(const float *z, float *y, size_t rows, size_t cols)
{
    for (size_t r = 0; r < rows; r++) {
        const float *zr = z + r * cols;
        float *yr = y + r * cols;
        float max = -INFINITY;
        for (size_t j = 0; j < cols; j++)
            max = zr[j] > max ? zr[j] : max;
        double sum = 0;
        for (size_t j = 0; j < cols; j++) {
            yr[j] = expf(zr[j] - max);
            sum += yr[j];
        }
        float inv = (float)(1.0 / sum);
        for (size_t j = 0; j < cols; j++)
            yr[j] *= inv;
    }
}

/* tanh, and scale x or alpha (e^x - 1) (ELU: 1, 1; SELU: its constants),
 * by approx_math.h, vectorized with AVX-512 (SIMD_CLONES_512); y may be
 * z. */
SIMD_CLONES_512 static void tanh_values(const float *z, float *y, size_t n)
{
    SIMD_INDEPENDENT
    for (size_t i = 0; i < n; i++)
        y[i] = tanh_approx(z[i]);
}

SIMD_CLONES_512 static void elu_values(const float *z, float *y, size_t n, float scale, float alpha)
{
    SIMD_INDEPENDENT
    for (size_t i = 0; i < n; i++)
        y[i] = z[i] > 0 ? scale * z[i] : alpha * expm1_approx(z[i]);
}

SIMD_CLONES static void forward_clones(enum act_kind k, const float *z, float *y, size_t rows,
                                       size_t cols)
{
    size_t n = rows * cols;
    switch (k) {
    case ACT_LINEAR:
        if (y != z)
            memmove(y, z, n * sizeof *y);
        break;
    case ACT_RELU:
        SIMD_INDEPENDENT
        for (size_t i = 0; i < n; i++) {
            float x = z[i];
            y[i] = x > 0 ? x : 0.0f;
        }
        break;
    case ACT_SIGMOID:
        for (size_t i = 0; i < n; i++)
            y[i] = sigmoidf(z[i]);
        break;
    case ACT_SOFTMAX: softmax_forward(z, y, rows, cols); break;
    case ACT_SOFTPLUS: /* log(1 + e^x) = max(x, 0) + log1p(e^-|x|), no overflow */
        for (size_t i = 0; i < n; i++)
            y[i] = fmaxf(z[i], 0) + log1pf(expf(-fabsf(z[i])));
        break;
    case ACT_SOFTSIGN: /* x / (1 + |x|) */
        SIMD_INDEPENDENT
        for (size_t i = 0; i < n; i++)
            y[i] = z[i] / (1 + fabsf(z[i]));
        break;
    case ACT_HARD_SIGMOID: /* Keras 2 backend.hard_sigmoid: clip(0.2 x + 0.5, 0, 1) */
        for (size_t i = 0; i < n; i++)
            y[i] = fminf(fmaxf(0.2f * z[i] + 0.5f, 0), 1);
        break;
    case ACT_EXPONENTIAL:
        for (size_t i = 0; i < n; i++)
            y[i] = expf(z[i]);
        break;
    case ACT_GELU: /* Keras default approximate=False: 0.5 x (1 + erf(x / sqrt 2)) */
        for (size_t i = 0; i < n; i++)
            y[i] = 0.5f * z[i] * (1 + erff(z[i] * SQRT1_2));
        break;
    case ACT_SWISH: /* x sigmoid(x) (tf.nn.silu) */
        for (size_t i = 0; i < n; i++)
            y[i] = z[i] * sigmoidf(z[i]);
        break;
    case ACT_RELU6: /* min(max(x, 0), 6) */
        for (size_t i = 0; i < n; i++)
            y[i] = fminf(fmaxf(z[i], 0), 6);
        break;
    case ACT_LEAKY_RELU:
        for (size_t i = 0; i < n; i++)
            y[i] = z[i] > 0 ? z[i] : LEAKY_SLOPE * z[i];
        break;
    case ACT_TANH: /* activation_forward's own */
    case ACT_ELU:
    case ACT_SELU:
    case ACT_COUNT:
        break;
    }
}

/* The extern functions call their clones (simd.h: clones are static). */
void activation_forward(enum act_kind k, const float *z, float *y, size_t rows, size_t cols)
{
    /* Called from here, not from forward_clones: a clone calls the clone
     * of its own target, and forward_clones has no AVX-512 one. */
    size_t n = rows * cols;
    switch (k) {
    case ACT_TANH: /* approx_math.h, as the recurrent gates' */ tanh_values(z, y, n); return;
    case ACT_ELU: /* alpha = 1: x if x > 0 else exp(x) - 1 (tf.nn.elu) */
        elu_values(z, y, n, 1.0f, 1.0f);
        return;
    case ACT_SELU: /* scale * (x if x > 0 else alpha * (exp(x) - 1)) */
        elu_values(z, y, n, SELU_SCALE, SELU_SCALE * SELU_ALPHA);
        return;
    default: forward_clones(k, z, y, rows, cols);
    }
}

/* Softmax Jacobian-vector product per row: dz_i = y_i (dy_i - sum_j y_j dy_j).
 * Needs only y and dy, so dz aliasing z (or dy) is harmless. */
static void softmax_backward(const float *y, const float *dy, float *dz, size_t rows,
                             size_t cols)
{
    for (size_t r = 0; r < rows; r++) {
        const float *yr = y + r * cols, *dyr = dy + r * cols;
        float *dzr = dz + r * cols;
        double dot = 0;
        for (size_t j = 0; j < cols; j++)
            dot += (double)yr[j] * dyr[j];
        for (size_t j = 0; j < cols; j++)
            dzr[j] = yr[j] * (dyr[j] - (float)dot);
    }
}

/* Derivatives at kinks follow TF's gradient kernels: ReLU, ReLU6 and leaky
 * ReLU take the "x > 0" side as 0 / alpha at x == 0, ELU/SELU use the
 * exponential branch at 0. Each loop reads z[i], y[i], dy[i] before writing
 * dz[i], so dz may alias z or dy. */
SIMD_CLONES static void backward_clones(enum act_kind k, const float *z, const float *y,
                                        const float *dy, float *dz, size_t rows, size_t cols)
{
    size_t n = rows * cols;
    switch (k) {
    case ACT_LINEAR:
        if (dz != dy)
            memmove(dz, dy, n * sizeof *dz);
        break;
    case ACT_RELU:
        SIMD_INDEPENDENT
        for (size_t i = 0; i < n; i++) {
            float x = z[i], d = dy[i];
            dz[i] = x > 0 ? d : 0.0f;
        }
        break;
    case ACT_SIGMOID: /* s (1 - s) */
        SIMD_INDEPENDENT
        for (size_t i = 0; i < n; i++)
            dz[i] = dy[i] * y[i] * (1 - y[i]);
        break;
    case ACT_TANH: /* 1 - tanh^2 */
        SIMD_INDEPENDENT
        for (size_t i = 0; i < n; i++)
            dz[i] = dy[i] * (1 - y[i] * y[i]);
        break;
    case ACT_SOFTMAX:
        softmax_backward(y, dy, dz, rows, cols);
        break;
    case ACT_ELU: /* 1, or exp(x) = y + 1 */
        for (size_t i = 0; i < n; i++)
            dz[i] = z[i] > 0 ? dy[i] : dy[i] * (y[i] + 1);
        break;
    case ACT_SELU: /* scale, or scale alpha exp(x) */
        for (size_t i = 0; i < n; i++)
            dz[i] = dy[i] * (z[i] > 0 ? SELU_SCALE : SELU_SCALE * SELU_ALPHA * expf(z[i]));
        break;
    case ACT_SOFTPLUS: /* sigmoid(x) */
        for (size_t i = 0; i < n; i++)
            dz[i] = dy[i] * sigmoidf(z[i]);
        break;
    case ACT_SOFTSIGN: /* 1 / (1 + |x|)^2 */
        SIMD_INDEPENDENT
        for (size_t i = 0; i < n; i++) {
            float a = 1 + fabsf(z[i]);
            dz[i] = dy[i] / (a * a);
        }
        break;
    case ACT_HARD_SIGMOID: /* 0.2 inside (-2.5, 2.5), 0 where clipped */
        for (size_t i = 0; i < n; i++)
            dz[i] = z[i] > -2.5f && z[i] < 2.5f ? 0.2f * dy[i] : 0;
        break;
    case ACT_EXPONENTIAL:
        SIMD_INDEPENDENT
        for (size_t i = 0; i < n; i++)
            dz[i] = dy[i] * y[i];
        break;
    case ACT_GELU: /* Phi(x) + x phi(x), phi the standard normal density */
        for (size_t i = 0; i < n; i++) {
            float x = z[i];
            float cdf = 0.5f * (1 + erff(x * SQRT1_2));
            float pdf = expf(-0.5f * x * x) * INV_SQRT_2PI;
            dz[i] = dy[i] * (cdf + x * pdf);
        }
        break;
    case ACT_SWISH: /* s + x s (1 - s) = s (1 + x (1 - s)) */
        for (size_t i = 0; i < n; i++) {
            float x = z[i], s = sigmoidf(x);
            dz[i] = dy[i] * s * (1 + x * (1 - s));
        }
        break;
    case ACT_RELU6:
        SIMD_INDEPENDENT
        for (size_t i = 0; i < n; i++) {
            float x = z[i], d = dy[i];
            dz[i] = x > 0 && x < 6 ? d : 0.0f;
        }
        break;
    case ACT_LEAKY_RELU:
        for (size_t i = 0; i < n; i++)
            dz[i] = z[i] > 0 ? dy[i] : LEAKY_SLOPE * dy[i];
        break;
    case ACT_COUNT:
        break;
    }
}

void activation_backward(enum act_kind k, const float *z, const float *y, const float *dy,
                         float *dz, size_t rows, size_t cols)
{
    backward_clones(k, z, y, dy, dz, rows, cols);
}
