/* Winograd's minimal filtering F(2x2, 3x3) (Lavin and Gray, "Fast
 * Algorithms for Convolutional Neural Networks", 2015) for a 3x3 Conv2D
 * with stride 1 and no dilation: each 2x2 tile of the output from a 4x4
 * tile of the input in 16 products per channel pair where the direct
 * convolution takes 36,
 *   Y = A^T [(G g G^T) . (B^T d B)] A,
 * the 16 elementwise products summed over the channels as 16 GEMMs
 * (tiles x C) . (C x F). The result differs from the direct sum by
 * rounding only (the transforms add, subtract and halve).
 *
 * The kernel gradient goes through the same transform (winograd_kernel_grad).
 *
 * Layouts: the kernel (3, 3, C, F) as Keras stores it; u (16, C, F), the
 * transformed kernel (or kernel gradient); work: the transformed tiles of
 * a block of samples (conv_winograd.c, struct work). Owns no memory. */
#ifndef NNC_CONV_WINOGRAD_H
#define NNC_CONV_WINOGRAD_H

#include <stdbool.h>
#include <stddef.h>

#include "conv_common.h"

/* Whether the convolution of g with F filters is computed this way: 3x3,
 * stride 1, no dilation, and C and F both at least 32. With 16 the
 * products (K = C, or C x F for the kernel gradient) are too thin for the
 * GEMM to gain anything: bench/step.c at 1 thread, batch 64, two 'same'
 * layers on 32x32: 16 -> 16 -> 16 channels 2.2-2.4k samples/s either way;
 * 32 -> 32 on 30x30 1.9-2.0k direct, 2.8-3.0k Winograd; 64 -> 64 -> 128
 * on 16x16 0.61-0.64k against 0.80-0.84k. */
bool winograd_applies(const struct conv_geom *g, size_t F);
/* Floats of u, and of work per sample. */
size_t winograd_kernel_floats(const struct conv_geom *g, size_t F);
size_t winograd_sample_floats(const struct conv_geom *g, size_t F);
/* u = G g G^T for every channel pair of the kernel. */
void winograd_kernel(const struct conv_geom *g, size_t F, const float *kernel, float *u);
/* z (S, OH, OW, F) = the convolution of the S samples x (S, H, W, C) with
 * the kernel transformed into u (no bias), single-threaded; work holds
 * S * winograd_sample_floats. */
void winograd_forward(const struct conv_geom *g, size_t F, size_t S, const float *x, const float *u,
                      float *work, float *z);
/* The kernel gradient in the same transform: du (16, C, F) = (or +=
 * when add) the sum over the tiles of the S samples of
 * (B^T x B) . (A dz A^T), dz (S, OH, OW, F) the gradient of z, with A (4x2)
 * the transpose of A^T (a tile of dz reaches the kernel as A^T did the
 * products). work as winograd_forward's. */
void winograd_kernel_grad(const struct conv_geom *g, size_t F, size_t S, const float *x,
                          const float *dz, float *work, float *du, bool add);
/* dkernel (3, 3, C, F) = (or += when add) G^T du G. */
void winograd_kernel_grad_finish(const struct conv_geom *g, size_t F, const float *du,
                                 float *dkernel, bool add);

#endif
