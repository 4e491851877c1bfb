/* Max pooling run by the layer before it (conv.c) when that layer absorbs
 * it (layer_ops.absorbs): the same per-sample passes as MaxPooling1D/2D's
 * own forward and backward, given one sample of the pooling layer's input
 * while it is still in cache. */
#ifndef NNC_POOLING_H
#define NNC_POOLING_H

#include <stdbool.h>

#include "../layer.h"

/* Whether l is MaxPooling1D (dims 1) or MaxPooling2D (dims 2). */
bool max_pool_is(const struct layer *l, int dims);
/* One sample: y and its argmax codes (cache: the pooling call's cache at
 * the sample) from x, exactly as the layer's forward computes them. */
void max_pool_forward_sample(const struct layer *l, const float *x, float *y, float *cache);
/* One sample of the gradient of relu(z) -> max pooling, for the layer that
 * made x = relu(z) and absorbed the pooling: dz (the pooling's input size)
 * = dy routed to each window's maximum where the maximum y is > 0, 0
 * elsewhere; bit for bit the unfused pooling's backward (into zeros)
 * followed by ReLU's gradient read off x, since x at a window's maximum is
 * that window's y. */
void max_pool_relu_backward_sample(const struct layer *l, const float *dy, const float *y,
                                   const float *cache, float *dz);

#endif
