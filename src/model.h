/* A model: layers (configuration + weights) and nodes (calls of layers, in
 * topological order), the flat parameter and gradient blocks, the compile
 * settings, and the per-batch workspace. Built from a model file by
 * model_load (model_file.c); a Sequential model is the chain of its layers
 * (model_chain), a functional model a graph (model_functional.c) in which a
 * shared layer has one node per call.
 *
 * Memory: model_free releases everything. `w` and `dw` hold all weights in
 * manifest order (layer by layer, Keras weight order). The workspace holds,
 * per node, its output, the gradient of its output and its cache, for
 * batches of up to `max_batch` samples; it is allocated once by
 * model_workspace and reused for every batch. */
#ifndef NNC_MODEL_H
#define NNC_MODEL_H

#include <stdbool.h>
#include <stddef.h>

#include "layer.h"
#include "loss.h"
#include "metrics.h"
#include "optim.h"
#include "rng.h"
#include "spec.h"

#define MODEL_MAX_METRICS 8
#define NODE_MAX_INPUTS 8
#define MODEL_MAX_IO 16         /* inputs, and outputs, of a model */

struct node {
    struct layer *layer;        /* an InputLayer for the model's inputs */
    size_t n_in;                /* 0 exactly for the model's inputs */
    struct node *in[NODE_MAX_INPUTS];
    size_t call;                /* the layer's call number (Keras's node index) */
    size_t depth;               /* Keras's node depth: 0 at the outputs */
    const struct spec_node *where; /* the call's definition, for messages */
    struct shape out;
    size_t cache_floats;        /* per sample */
    /* Whether backward must reach this node: it has trainable weights or
     * feeds from one that has. Others get no dy, no dx and no backward call
     * (a first convolution after Rescaling needs no input gradient). */
    bool needs_grad;
    bool is_output;             /* one of the model's outputs */
    bool dy_set;                /* backward: dy holds a value (else nothing yet) */
    /* Its layer does the work of the next node too (layer_ops.absorbs; set
     * by model_build): `absorbs` is that node, which is marked `absorbed`
     * and whose own forward and backward calls are skipped. This node's y
     * and dy stay unused. */
    struct node *absorbs;
    bool absorbed;
    /* Workspace views, set by model_workspace: */
    float *y, *dy, *cache;
    /* The output's mask (max_batch * out.dim[0] bytes): the node's own for a
     * MASK_MAKE layer, its input's for MASK_KEEP, NULL when it has none. */
    unsigned char *mask;
    /* max_batch * state_floats floats kept across batches; NULL if none. */
    size_t state_floats;
    float *state;
    /* A call of a layer with several outputs (layer_n_outputs > 1): its
     * tensors after the first are nodes of their own, in m->more, each with
     * tensor = its index (>= 1) and in[0] = this node; they are never run
     * (this node's call writes their y and reads their dy), and consumers
     * and outputs refer to them like any node. tensor is 0 for the rest. */
    size_t tensor;
    size_t n_more;
    struct node *more[LAYER_MAX_OUTPUTS - 1];
};

/* What compile says for one output of the model. */
struct output_compile {
    struct loss loss;
    double loss_weight;         /* loss_weights; 1 */
    size_t n_metrics;
    struct metric metrics[MODEL_MAX_METRICS];
    const struct spec_node *metric_nodes[MODEL_MAX_METRICS]; /* resolved at build */
};

struct compile_conf {
    bool given;                 /* a compile: section (or training config) exists */
    struct optimizer optimizer;
    struct output_compile out[MODEL_MAX_IO]; /* per output (out[0]: a single output's) */
};

/* The values fit and evaluate report: the loss, each output's loss when
 * there are several, each output's metrics. */
#define MODEL_MAX_VALUES 48

struct model {
    char *name;
    bool sequential;
    size_t n_layers;
    /* All layers: a Sequential model's InputLayer first, then its layers;
     * a functional model's in Keras's model.layers order (by depth from
     * the inputs, ties in the order a search from the outputs meets them). */
    struct layer *layers;
    size_t n_nodes;
    struct node *nodes;         /* topological order, the model's inputs first */
    size_t n_inputs, n_outputs;
    struct node *inputs[MODEL_MAX_IO];  /* inputs[0] == &nodes[0] */
    struct node *outputs[MODEL_MAX_IO];
    struct node *output;        /* outputs[0] */
    /* The tensors after the first of multi-output calls (node.more). */
    size_t n_more;
    struct node *more;
    /* Keras's output_names: each output's layer name, made unique with
     * _1, _2, ... when a layer gives several outputs (functional.py
     * _set_output_names). Set by model_build. */
    char *output_names[MODEL_MAX_IO];
    size_t n_weights;           /* floats in w (and dw) */
    float *w, *dw;
    bool dw_zero;               /* dw is all zeros: backward need not clear it */
    struct compile_conf compile;
    /* Workspace */
    size_t max_batch;
    bool has_grads; /* the workspace holds the outputs' gradients (dy) */
    float *workspace;
    unsigned char *masks;       /* the MASK_MAKE nodes' masks */
    float *states;              /* the stateful nodes' states */
    const float *x_in[NODE_MAX_INPUTS]; /* scratch for layer_call */
};

/* The nodes of a Sequential model (m->layers parsed, InputLayer first):
 * each layer called once on the previous one. */
void model_chain(struct model *m);
/* Builds the graph (m->nodes, inputs and outputs set, in topological
 * order): infers shapes node by node, building each layer at its first call
 * (later calls must see the same input shapes), lays out parameters in
 * layer order. Errors name the layer definition's or the call's position. */
int model_build(struct model *m, struct diag *d);
/* Undoes model_build's pairing of nodes (node.absorbs): every node runs
 * its own forward and backward again (tests compare the two ways). */
void model_separate(struct model *m);
/* Allocates w and dw and initializes every weight from the rng in manifest
 * order (the same seed gives the same weights). */
void model_init_weights(struct model *m, struct rng *r);
/* Resolves compile metrics against the output shape. */
int model_resolve_metrics(struct model *m, struct diag *d);
void model_free(struct model *m);
/* A functional model's Keras config {name, layers (with inbound_nodes),
 * input_layers, output_layers}, as tf.keras 2's get_config writes it
 * (model_functional.c). */
void model_functional_to_json(const struct model *m, struct json *j);

/* The node of layer l's call number `call` (Keras's node index), or NULL. */
const struct node *model_call_node(const struct model *m, const struct layer *l, size_t call);
/* Output k's name in Keras's output_names (for losses, metrics, data). */
const char *model_output_name(const struct model *m, size_t k);
/* For a functional model's graph: creates the tensor nodes of every call
 * of a multi-output layer (m->more, node.more); m->nodes must not move
 * afterwards. */
void model_add_tensor_nodes(struct model *m);

size_t model_input_size(const struct model *m);   /* floats per sample (input 0) */
/* The fixed batch size of the (first) input's batch_input_shape, or 0. */
long model_batch_size(const struct model *m);
size_t model_output_size(const struct model *m);  /* output 0 */
/* Rows and K of the output for losses: rows per sample × K = output size. */
size_t model_output_last_dim(const struct model *m);
/* Floats per sample of targets that the loss expects (output 0). */
size_t model_target_size(const struct model *m);
/* The same for output k. */
size_t model_output_size_at(const struct model *m, size_t k);
size_t model_output_last_dim_at(const struct model *m, size_t k);
size_t model_target_size_at(const struct model *m, size_t k);
/* Floats per sample of all inputs, of all outputs' targets: a dataset row
 * holds the inputs one after the other in input order, and the targets in
 * output order. */
size_t model_inputs_size(const struct model *m);
size_t model_targets_size(const struct model *m);
size_t model_count_params(const struct model *m, bool trainable);

/* (Re)allocates the workspace for batches of up to max_batch samples, with
 * the outputs' gradients for training (grads) or without, for forward
 * passes alone (evaluate, predict: about half the address space, so a
 * batch twice as large fits); one already that large (and with gradients
 * when they are asked for) is kept. Error: the memory is not to be had
 * ("batch size 2048 needs 92.5 GB of memory ..."). A command calls this
 * once, with the largest batch it will run (no larger than its data),
 * before any of the calls below. */
int model_workspace_checked(struct model *m, size_t max_batch, bool grads, struct diag *d);
/* The largest batch of n samples in batches of batch_size (Keras makes one
 * batch of all n when batch_size is larger). */
static inline size_t batch_largest(size_t batch_size, size_t n)
{
    return n && n < batch_size ? n : batch_size;
}
/* The same where the workspace is known to fit (tests, or after the
 * command's call), with gradients or for forward passes alone: on
 * failure, the error and exit status 1. */
void model_workspace(struct model *m, size_t max_batch);
void model_workspace_forward(struct model *m, size_t max_batch);
/* Zeroes every stateful layer's state (Keras's reset_states). */
void model_reset_states(struct model *m);
/* Forward pass on B samples already copied into model_input(m). Output in
 * m->output->y. */
void model_forward(struct model *m, size_t B, bool training, struct rng *r);
/* Clears dw and every dy, sets the outputs' dy from the loss, runs
 * backward. y_true holds each output's B targets, output after output
 * (model_target_block). Returns the batch loss: model_loss plus the
 * regularization penalty (model_penalty), whose gradients are included. */
double model_backward(struct model *m, size_t B, const float *y_true);
/* The same with a weight per sample (w: B floats, or NULL): the loss is
 * Keras's weighted mean, sum(w_i * loss_i) / rows (loss_compute_weighted). */
double model_backward_weighted(struct model *m, size_t B, const float *y_true, const float *w);
/* The same, with each output's unweighted loss in per_output (n_outputs
 * values; NULL for none). */
double model_backward_outputs(struct model *m, size_t B, const float *y_true, const float *w,
                              double *per_output);
float *model_input(struct model *m);
/* After a forward pass: the output's time-step mask (B * out.dim[0] bytes)
 * or NULL, and in *rows_per_mask the loss rows per mask entry. */
const unsigned char *model_output_mask(const struct model *m, size_t *rows_per_mask);
const unsigned char *model_output_mask_at(const struct model *m, size_t k, size_t *rows_per_mask);
/* Output k's targets in y_true laid out as model_backward takes them: the
 * B targets of output 0, then those of output 1, ... */
const float *model_target_block(const struct model *m, size_t B, const float *y_true, size_t k);
/* The batch loss of B samples after a forward pass, without penalties: the
 * sum over outputs of each output's loss times its loss weight, each
 * weighted by w (B floats, or NULL) and masked by the output's mask as
 * Keras does (loss_compute_masked). With grad, d loss / d output into each
 * output's dy (overwritten); per_output (n_outputs values, or NULL) gets
 * each output's unweighted loss. */
double model_loss(const struct model *m, size_t B, const float *y_true, const float *w, bool grad,
                  double *per_output);
/* Checks n samples of model input (before anything runs) against the layers
 * fed straight from it that check their input (Embedding's indices). A
 * sample is a dataset row: every input's values, input after input.
 * Returns 0, or -1 with the sample, the value's index in it and the reason. */
int model_check_input(const struct model *m, const float *x, size_t n, size_t *sample,
                      size_t *value, char *why, size_t why_size);
/* The same for the layers fed by input k, its values at x, x + stride, ...
 * (the value index counts within input k). */
int model_check_input_at(const struct model *m, size_t k, const float *x, size_t stride,
                         size_t n, size_t *sample, size_t *value, char *why, size_t why_size);
/* After a forward pass of B samples: the regularization losses Keras adds
 * to the loss (weight penalties, and activity penalties / B). */
double model_penalty(const struct model *m, size_t B);
/* Projects every trainable weight with a constraint (after an update). */
void model_apply_constraints(struct model *m);
/* Whether a layer adapts to the training data (Normalization), and the
 * adaptation itself: x holds n samples (dataset rows: every input's
 * values, input after input); batches of up to batch_size. */
bool model_needs_adapt(const struct model *m);
void model_adapt(struct model *m, const float *x, size_t n, size_t batch_size);

#endif
