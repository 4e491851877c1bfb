/* Winograd F(2x2, 3x3) for Conv2D (conv_winograd.h). The matrices
 * (Lavin and Gray 2015, section 4.1):
 *   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
 *   G   = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
 *   A^T = [1 1 1 0; 0 1 -1 -1]
 * Every transform runs over a channel vector at a time (channels-last:
 * the C values of a pixel, the F values of a kernel tap, are contiguous),
 * so its loops are element-wise and vectorize. */
#include "conv_winograd.h"

#include <string.h>

#include "../parallel_gemm.h"
#include "../simd.h"

/* Output tiles per sample: rows, columns. */
static size_t tiles_h(const struct conv_geom *g) { return (g->OH + 1) / 2; }
static size_t tiles_w(const struct conv_geom *g) { return (g->OW + 1) / 2; }

bool winograd_applies(const struct conv_geom *g, size_t F)
{
    return g->KH == 3 && g->KW == 3 && g->SH == 1 && g->SW == 1 && g->DH == 1 && g->DW == 1 &&
           g->C >= 32 && F >= 32;
}

size_t winograd_kernel_floats(const struct conv_geom *g, size_t F) { return 16 * g->C * F; }

/* The work of a block of S samples, T tiles: v (16, T, C), the
 * transformed input; m (16, T, F), the products (forward) or the
 * transformed output gradient (kernel gradient); pad (16 C), a tile that
 * overhangs the image, zero-padded; sink (4 F), a row for each of a
 * tile's outputs that falls outside the output (a store instead of a test
 * in output_tile's loop; one each, as output_tile's pointers are
 * restrict); zeros (F), the output gradient there. */
struct work {
    float *v, *m, *pad, *sink, *zeros;
};

static struct work carve(const struct conv_geom *g, size_t F, size_t T, float *work)
{
    struct work w = {.v = work};
    w.m = w.v + 16 * T * g->C;
    w.pad = w.m + 16 * T * F;
    w.sink = w.pad + 16 * g->C;
    w.zeros = w.sink + 4 * F;
    return w;
}

size_t winograd_sample_floats(const struct conv_geom *g, size_t F)
{
    return 16 * tiles_h(g) * tiles_w(g) * (g->C + F) + 16 * g->C + 5 * F;
}

/* Output i (row i / 2, column i % 2) of tile (ty, tx): whether it lies in
 * the output, and its position there. */
static bool tile_output(const struct conv_geom *g, size_t ty, size_t tx, size_t i, size_t *at)
{
    size_t oh = 2 * ty + i / 2, ow = 2 * tx + i % 2;
    *at = oh * g->OW + ow;
    return oh < g->OH && ow < g->OW;
}

/* u[k][c][f] over f for one c: the kernel's 9 taps g[3*a + b] (rows of F
 * floats, C*F apart) into the 16 planes (C*F apart). */
SIMD_CLONES static void kernel_channel(const float *restrict g, size_t CF, size_t F,
                                       float *restrict u)
{
    for (size_t f = 0; f < F; f++) {
        float t[4][3]; /* G g */
        for (int b = 0; b < 3; b++) {
            float g0 = g[(0 + b) * CF + f], g1 = g[(3 + b) * CF + f], g2 = g[(6 + b) * CF + f];
            t[0][b] = g0;
            t[1][b] = 0.5f * (g0 + g1 + g2);
            t[2][b] = 0.5f * (g0 - g1 + g2);
            t[3][b] = g2;
        }
        for (int i = 0; i < 4; i++) { /* (G g) G^T */
            float *row = u + (size_t)(4 * i) * CF + f;
            row[0] = t[i][0];
            row[CF] = 0.5f * (t[i][0] + t[i][1] + t[i][2]);
            row[2 * CF] = 0.5f * (t[i][0] - t[i][1] + t[i][2]);
            row[3 * CF] = t[i][2];
        }
    }
}

void winograd_kernel(const struct conv_geom *g, size_t F, const float *kernel, float *u)
{
    size_t CF = g->C * F;
    for (size_t c = 0; c < g->C; c++)
        kernel_channel(kernel + c * F, CF, F, u + c * F);
}

/* B^T's combinations of four values d0..d3 (d0 - d2, d1 + d2, d2 - d1,
 * d1 - d3) into o, o + stride, o + 2 stride, o + 3 stride. */
static inline void bt_combine(float d0, float d1, float d2, float d3, float *o, size_t stride)
{
    o[0] = d0 - d2;
    o[stride] = d1 + d2;
    o[2 * stride] = d2 - d1;
    o[3 * stride] = d1 - d3;
}

/* B^T d B of one input tile, over its C channels: the tile's pixel at row
 * i, column j is x + i * row + j * C (C floats), v's plane k is at
 * v + k * stride. Written out in full: with loops over the tile, GCC
 * vectorizes those instead of the one over the channels. */
SIMD_CLONES static void input_tile(const float *restrict x, size_t row, size_t C, size_t stride,
                                   float *restrict v)
{
    const float *x0 = x, *x1 = x + row, *x2 = x + 2 * row, *x3 = x + 3 * row;
    const size_t c1 = C, c2 = 2 * C, c3 = 3 * C;
    /* the 16 planes are apart, but only at run time */
    SIMD_INDEPENDENT
    for (size_t c = 0; c < C; c++) {
        /* B^T d: rows 0 - 2, 1 + 2, 2 - 1, 1 - 3, column by column */
        float a0 = x0[c] - x2[c], a1 = x0[c1 + c] - x2[c1 + c];
        float a2 = x0[c2 + c] - x2[c2 + c], a3 = x0[c3 + c] - x2[c3 + c];
        float b0 = x1[c] + x2[c], b1 = x1[c1 + c] + x2[c1 + c];
        float b2 = x1[c2 + c] + x2[c2 + c], b3 = x1[c3 + c] + x2[c3 + c];
        float e0 = x2[c] - x1[c], e1 = x2[c1 + c] - x1[c1 + c];
        float e2 = x2[c2 + c] - x1[c2 + c], e3 = x2[c3 + c] - x1[c3 + c];
        float h0 = x1[c] - x3[c], h1 = x1[c1 + c] - x3[c1 + c];
        float h2 = x1[c2 + c] - x3[c2 + c], h3 = x1[c3 + c] - x3[c3 + c];
        /* (B^T d) B: the same combinations of the columns, row by row */
        float *o = v + c;
        bt_combine(a0, a1, a2, a3, o, stride);
        bt_combine(b0, b1, b2, b3, o + 4 * stride, stride);
        bt_combine(e0, e1, e2, e3, o + 8 * stride, stride);
        bt_combine(h0, h1, h2, h3, o + 12 * stride, stride);
    }
}

/* A^T m A of one output tile, over its F filters: m plane k at
 * m + k * stride; y0, y1 receive the tile's first output row, y2, y3 its
 * second. */
SIMD_CLONES static void output_tile(const float *restrict m, size_t stride, size_t F,
                                    float *restrict y0, float *restrict y1, float *restrict y2,
                                    float *restrict y3)
{
    for (size_t f = 0; f < F; f++) {
        const float *restrict q = m + f;
        /* A^T m: two rows of four */
        float s0 = q[0] + q[4 * stride] + q[8 * stride];
        float s1 = q[stride] + q[5 * stride] + q[9 * stride];
        float s2 = q[2 * stride] + q[6 * stride] + q[10 * stride];
        float s3 = q[3 * stride] + q[7 * stride] + q[11 * stride];
        float t0 = q[4 * stride] - q[8 * stride] - q[12 * stride];
        float t1 = q[5 * stride] - q[9 * stride] - q[13 * stride];
        float t2 = q[6 * stride] - q[10 * stride] - q[14 * stride];
        float t3 = q[7 * stride] - q[11 * stride] - q[15 * stride];
        /* (A^T m) A */
        y0[f] = s0 + s1 + s2;
        y1[f] = s1 - s2 - s3;
        y2[f] = t0 + t1 + t2;
        y3[f] = t1 - t2 - t3;
    }
}

/* The 4x4 tile at padded (r, q) of the image img, copied into pad (4 rows
 * of 4 C floats) with zeros where it overhangs. Returns pad. */
static const float *border_tile(const struct conv_geom *g, const float *img, size_t r, size_t q,
                                float *pad)
{
    const size_t C = g->C;
    for (size_t i = 0; i < 4; i++)
        for (size_t k = 0; k < 4; k++) {
            float *dst = pad + (4 * i + k) * C;
            size_t y = r + i, x = q + k;
            if (y >= g->PT && y - g->PT < g->H && x >= g->PL && x - g->PL < g->W)
                memcpy(dst, img + ((y - g->PT) * g->W + x - g->PL) * C, C * sizeof *dst);
            else
                memset(dst, 0, C * sizeof *dst);
        }
    return pad;
}

/* v (16, T, C) = B^T d B of the T tiles of the S samples x, pad the
 * scratch of a tile that overhangs the image. */
static void input_tiles(const struct conv_geom *g, size_t S, const float *x, float *pad, float *v)
{
    const size_t C = g->C, TH = tiles_h(g), TW = tiles_w(g), T = S * TH * TW;
    size_t t = 0;
    for (size_t s = 0; s < S; s++) {
        const float *img = x + s * g->H * g->W * C;
        for (size_t ty = 0; ty < TH; ty++)
            for (size_t tx = 0; tx < TW; tx++, t++) {
                /* the tile's first pixel in padded coordinates (the image
                 * starts at PT, PL) */
                size_t r = 2 * ty, q = 2 * tx;
                if (r >= g->PT && r - g->PT + 4 <= g->H && q >= g->PL && q - g->PL + 4 <= g->W)
                    input_tile(img + ((r - g->PT) * g->W + q - g->PL) * C, g->W * C, C, T * C,
                               v + t * C);
                else
                    input_tile(border_tile(g, img, r, q, pad), 4 * C, C, T * C, v + t * C);
            }
    }
}

void winograd_forward(const struct conv_geom *g, size_t F, size_t S, const float *x, const float *u,
                      float *work, float *z)
{
    const size_t C = g->C, TH = tiles_h(g), TW = tiles_w(g), T = S * TH * TW;
    struct work w = carve(g, F, T, work);
    input_tiles(g, S, x, w.pad, w.v);
    for (size_t k = 0; k < 16; k++)
        gemm_serial(false, false, T, F, C, 1.0f, w.v + k * T * C, C, u + k * C * F, F, 0.0f,
                    w.m + k * T * F, F);
    size_t t = 0;
    for (size_t s = 0; s < S; s++) {
        float *out = z + s * g->OH * g->OW * F;
        for (size_t ty = 0; ty < TH; ty++)
            for (size_t tx = 0; tx < TW; tx++, t++) {
                float *y[4];
                for (size_t i = 0, at; i < 4; i++)
                    y[i] = tile_output(g, ty, tx, i, &at) ? out + at * F : w.sink + i * F;
                output_tile(w.m + t * F, T * F, F, y[0], y[1], y[2], y[3]);
            }
    }
}

/* A's combinations of two values (d0, d0 + d1, d0 - d1, -d1) into o,
 * o + stride, o + 2 stride, o + 3 stride. */
static inline void a_combine(float d0, float d1, float *o, size_t stride)
{
    o[0] = d0;
    o[stride] = d0 + d1;
    o[2 * stride] = d0 - d1;
    o[3 * stride] = -d1;
}

/* A dy A^T of one output-gradient tile, over its F filters: dy0, dy1 the
 * tile's first row, dy2, dy3 its second; d's plane k at d + k * stride. */
SIMD_CLONES static void grad_tile(const float *restrict dy0, const float *restrict dy1,
                                  const float *restrict dy2, const float *restrict dy3, size_t F,
                                  size_t stride, float *restrict d)
{
    /* the 16 planes are apart, but only at run time */
    SIMD_INDEPENDENT
    for (size_t f = 0; f < F; f++) {
        /* A dy: rows 0, 0 + 1, 0 - 1, -1 of each column */
        float a0 = dy0[f], a1 = dy1[f], b0 = dy0[f] + dy2[f], b1 = dy1[f] + dy3[f];
        float e0 = dy0[f] - dy2[f], e1 = dy1[f] - dy3[f], h0 = -dy2[f], h1 = -dy3[f];
        /* (A dy) A^T: the same combinations of the columns, row by row */
        float *o = d + f;
        a_combine(a0, a1, o, stride);
        a_combine(b0, b1, o + 4 * stride, stride);
        a_combine(e0, e1, o + 8 * stride, stride);
        a_combine(h0, h1, o + 12 * stride, stride);
    }
}

void winograd_kernel_grad(const struct conv_geom *g, size_t F, size_t S, const float *x,
                          const float *dz, float *work, float *du, bool add)
{
    const size_t C = g->C, TH = tiles_h(g), TW = tiles_w(g), T = S * TH * TW;
    struct work w = carve(g, F, T, work);
    memset(w.zeros, 0, F * sizeof *w.zeros);
    input_tiles(g, S, x, w.pad, w.v);
    size_t t = 0;
    for (size_t s = 0; s < S; s++) {
        const float *dy = dz + s * g->OH * g->OW * F;
        for (size_t ty = 0; ty < TH; ty++)
            for (size_t tx = 0; tx < TW; tx++, t++) {
                const float *p[4];
                for (size_t i = 0, at; i < 4; i++)
                    p[i] = tile_output(g, ty, tx, i, &at) ? dy + at * F : w.zeros;
                grad_tile(p[0], p[1], p[2], p[3], F, T * F, w.m + t * F);
            }
    }
    /* du[k] (C, F) += v[k]^T (C, T) . m[k] (T, F) */
    for (size_t k = 0; k < 16; k++)
        gemm_serial(true, false, C, F, T, 1.0f, w.v + k * T * C, C, w.m + k * T * F, F,
                    add ? 1.0f : 0.0f, du + k * C * F, F);
}

/* G^T du G for n channel pairs: pair i's 16 values at du[k * plane + i],
 * its 9 taps into dk[(3 * a + b) * tap + i] (or added). */
SIMD_CLONES static void kernel_grad_pairs(const float *restrict du, size_t plane, size_t n,
                                          bool add, float *restrict dk, size_t tap)
{
    for (size_t i = 0; i < n; i++) {
        float m[16], r[3][4];
        for (size_t k = 0; k < 16; k++)
            m[k] = du[k * plane + i];
        for (int b = 0; b < 4; b++) { /* G^T m: rows 0 + (1 + 2)/2, (1 - 2)/2, (1 + 2)/2 + 3 */
            r[0][b] = m[b] + 0.5f * (m[4 + b] + m[8 + b]);
            r[1][b] = 0.5f * (m[4 + b] - m[8 + b]);
            r[2][b] = 0.5f * (m[4 + b] + m[8 + b]) + m[12 + b];
        }
        for (int a = 0; a < 3; a++) { /* (G^T m) G: the same on each row */
            float w[3] = {r[a][0] + 0.5f * (r[a][1] + r[a][2]), 0.5f * (r[a][1] - r[a][2]),
                          0.5f * (r[a][1] + r[a][2]) + r[a][3]};
            for (int b = 0; b < 3; b++) {
                float *o = dk + (size_t)(3 * a + b) * tap + i;
                *o = add ? *o + w[b] : w[b];
            }
        }
    }
}

void winograd_kernel_grad_finish(const struct conv_geom *g, size_t F, const float *du,
                                 float *dkernel, bool add)
{
    size_t CF = g->C * F;
    for (size_t c = 0; c < g->C; c++)
        kernel_grad_pairs(du + c * F, CF, F, add, dkernel + c * F, CF);
}
