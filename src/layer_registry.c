/* The table of layer types: adding a type is one line here plus its file. */
#include <string.h>

#include "layer.h"
#include "layers/layers.h"

static const struct layer_ops *const registry[] = {
    &input_layer_ops, &dense_ops, &activation_layer_ops, &dropout_ops, &flatten_ops, &reshape_ops,
    &max_pooling1d_ops, &max_pooling2d_ops, &average_pooling1d_ops, &average_pooling2d_ops,
    &global_max_pooling1d_ops, &global_max_pooling2d_ops, &global_average_pooling1d_ops,
    &global_average_pooling2d_ops, &zero_padding1d_ops, &zero_padding2d_ops, &cropping1d_ops,
    &cropping2d_ops, &upsampling1d_ops, &upsampling2d_ops, &permute_ops, &repeat_vector_ops,
    &relu_ops, &leaky_relu_ops, &prelu_ops, &elu_ops, &softmax_ops,
    &spatial_dropout1d_ops, &spatial_dropout2d_ops, &gaussian_noise_ops, &gaussian_dropout_ops,
    &activity_regularization_ops,
    &batch_norm_ops, &layer_norm_ops, &normalization_ops, &rescaling_ops,
    &conv1d_ops, &conv2d_ops, &conv2d_transpose_ops, &depthwise_conv2d_ops, &separable_conv2d_ops,
    &add_ops, &subtract_ops, &multiply_ops, &average_ops, &maximum_ops, &minimum_ops, &concatenate_ops, &dot_ops,
    &embedding_ops, &masking_ops,
    &simple_rnn_ops, &lstm_ops, &gru_ops,
    &time_distributed_ops, &bidirectional_ops,
};

/* Keras's other names for the same classes (keras/layers/__init__.py). */
static const char *const aliases[][2] = {
    {"Input", "InputLayer"},
    {"Convolution1D", "Conv1D"},
    {"Convolution2D", "Conv2D"},
    {"Convolution2DTranspose", "Conv2DTranspose"},
    {"SeparableConvolution2D", "SeparableConv2D"},
    {"MaxPool1D", "MaxPooling1D"},
    {"MaxPool2D", "MaxPooling2D"},
    {"AvgPool1D", "AveragePooling1D"},
    {"AvgPool2D", "AveragePooling2D"},
    {"GlobalMaxPool1D", "GlobalMaxPooling1D"},
    {"GlobalMaxPool2D", "GlobalMaxPooling2D"},
    {"GlobalAvgPool1D", "GlobalAveragePooling1D"},
    {"GlobalAvgPool2D", "GlobalAveragePooling2D"},
};

const struct layer_ops *layer_find(const char *class_name)
{
    for (size_t a = 0; a < sizeof aliases / sizeof aliases[0]; a++)
        if (!strcmp(class_name, aliases[a][0]))
            class_name = aliases[a][1];
    for (size_t i = 0; i < sizeof registry / sizeof registry[0]; i++)
        if (!strcmp(registry[i]->class_name, class_name))
            return registry[i];
    return NULL;
}

const struct layer_ops *const *layer_all(size_t *n)
{
    *n = sizeof registry / sizeof registry[0];
    return registry;
}
