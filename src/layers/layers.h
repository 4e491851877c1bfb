/* The ops tables of the built-in layer types (one per file in this folder). */
#ifndef NNC_LAYERS_H
#define NNC_LAYERS_H

#include "../layer.h"

extern const struct layer_ops input_layer_ops;
extern const struct layer_ops dense_ops;
extern const struct layer_ops activation_layer_ops;
extern const struct layer_ops dropout_ops;
extern const struct layer_ops flatten_ops;
extern const struct layer_ops reshape_ops;
extern const struct layer_ops max_pooling1d_ops, max_pooling2d_ops;         /* pooling.c */
extern const struct layer_ops average_pooling1d_ops, average_pooling2d_ops;
extern const struct layer_ops global_max_pooling1d_ops, global_max_pooling2d_ops; /* global_pooling.c */
extern const struct layer_ops global_average_pooling1d_ops, global_average_pooling2d_ops;
extern const struct layer_ops zero_padding1d_ops, zero_padding2d_ops; /* padding.c */
extern const struct layer_ops cropping1d_ops, cropping2d_ops;
extern const struct layer_ops upsampling1d_ops, upsampling2d_ops; /* upsampling.c */
extern const struct layer_ops permute_ops;
extern const struct layer_ops repeat_vector_ops;
extern const struct layer_ops relu_ops;
extern const struct layer_ops leaky_relu_ops;
extern const struct layer_ops prelu_ops;
extern const struct layer_ops elu_ops;
extern const struct layer_ops softmax_ops;
extern const struct layer_ops spatial_dropout1d_ops;
extern const struct layer_ops spatial_dropout2d_ops;
extern const struct layer_ops gaussian_noise_ops;
extern const struct layer_ops gaussian_dropout_ops;
extern const struct layer_ops activity_regularization_ops;
extern const struct layer_ops batch_norm_ops, layer_norm_ops, normalization_ops, rescaling_ops;
extern const struct layer_ops conv1d_ops, conv2d_ops, conv2d_transpose_ops;
extern const struct layer_ops depthwise_conv2d_ops, separable_conv2d_ops;
extern const struct layer_ops add_ops, subtract_ops, multiply_ops, average_ops, maximum_ops, minimum_ops, concatenate_ops, dot_ops; /* merge.c, dot.c */
extern const struct layer_ops embedding_ops, masking_ops;
extern const struct layer_ops simple_rnn_ops, lstm_ops, gru_ops; /* simple_rnn.c lstm.c gru.c */
extern const struct layer_ops time_distributed_ops, bidirectional_ops; /* time_distributed.c, bidirectional.c */

#endif
