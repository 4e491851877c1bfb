/* What a layer type is (an ops table) and what a layer is (configuration,
 * shapes and parameter declarations). A layer type lives in one file under
 * src/layers/ and is listed once in layer_registry.c; the generic argument
 * table drives parsing (maps, scalars, positional lists), Keras
 * serialization and the man-page check, so a layer file holds only its
 * arguments, shape inference, forward and backward.
 *
 * A layer owns no memory of its own beyond `conf`: parameters live in the
 * model's flat blocks, activations in the model's per-batch workspace. */
#ifndef NNC_LAYER_H
#define NNC_LAYER_H

#include <stdbool.h>
#include <stddef.h>

#include "activation.h"
#include "constraint.h"
#include "diag.h"
#include "init.h"
#include "json.h"
#include "regularizer.h"
#include "rng.h"
#include "shape.h"
#include "spec.h"

/* ---- arguments ---------------------------------------------------------- */

enum arg_type {
    ARG_INT,         /* long */
    ARG_FLOAT,       /* double; with ARG_NULLABLE, null is NAN */
    ARG_BOOL,        /* bool */
    ARG_CHOICE,      /* const char * pointing into arg_def.choices; with ARG_NULLABLE,
                        null is NULL */
    ARG_ACTIVATION,  /* enum act_kind; null means linear */
    ARG_INITIALIZER, /* struct initializer */
    ARG_TUPLE,       /* struct int_tuple; a single int n means (n,); with ARG_NULLABLE,
                        null is n = 0 */
    ARG_REGULARIZER, /* struct regularizer; null means none */
    ARG_CONSTRAINT,  /* struct constraint; null means none */
    ARG_PAIRS,       /* struct int_tuple: (before, after) per axis, flat, values >= 0; the
                        axes are ARG_AXES(k) in flags (1 if absent). Keras's padding and
                        cropping forms: an int n is (n, n) on every axis; one axis: [a, b];
                        k axes: k entries, each an int (symmetric) or [a, b]. Serialized
                        as [a, b] for one axis, [[a, b], [c, d], ...] for more. */
    ARG_UNSUPPORTED, /* a Keras argument nnc does not have yet: only null is accepted */
    ARG_FLOATS,      /* struct float_list: a number or a list of numbers; with ARG_NULLABLE,
                        null is n = 0 */
    ARG_LAYER,       /* struct layer *: a nested layer (a wrapper's), in any form a layer
                        entry takes; owned by the conf (layer_free frees it). With
                        ARG_NULLABLE, null (or absent) is NULL, and a NULL or derived
                        layer is left out of the serialization (layer_nested.c) */
};

#define ARG_REQUIRED 1u  /* must be given */
#define ARG_NULLABLE 2u  /* ARG_INT: null allowed, stored as ARG_NULL_INT; ARG_FLOAT: NAN;
                            ARG_TUPLE: n = 0; ARG_CHOICE, ARG_LAYER: NULL; ARG_BOOL: false */
#define ARG_UNSAVED  4u  /* accepted, but left out of the serialization (as Keras's get_config
                            leaves out BatchNormalization's renorm, fused, ...) */
#define ARG_NULL_INT (-0x7fffffffL)
#define ARG_AXES(k) ((unsigned)(k) << 8) /* ARG_PAIRS: the number of axes */
#define ARG_UNUSED 8u    /* Keras writes it, never uses it: null or a value, ignored, written null */
#define ARG_SCALAR_IF_ONE 128u /* ARG_TUPLE: one value is written as a plain integer (Dot's
                                 axes: an int or a pair) */
/* ARG_TUPLE: a list item may be null (Input's shape: a None dimension),
 * stored as ARG_NULL_INT. */
#define ARG_NULL_ITEMS 64u
#define ARG_SAVED_IF_TRUE 16u /* ARG_BOOL written only when true (Keras's RNN config has
                                 zero_output_for_mask only when it is set) */
#define ARG_INPUT_LENGTH 32u /* ARG_INT: a recurrent layer's legacy input_length; with the
                                common input_dim it gives input_shape [input_length, input_dim] */

struct int_tuple {
    int n;
    long v[SHAPE_MAX_RANK];
};

/* Serialized back in the form it was given: a number stays a number. */
struct float_list {
    size_t n;               /* 0: null */
    bool is_list;
    double *v;              /* n values, owned by the conf (layer_free releases them) */
};

struct arg_def {
    const char *name;       /* Keras argument name, in Keras positional order */
    enum arg_type type;
    size_t offset;          /* into the layer's conf struct */
    unsigned flags;
    const char *const *choices; /* ARG_CHOICE: NULL-terminated accepted values... */
    const char *const *later;   /* ...and Keras values nnc does not support yet */
};

/* ---- layers ------------------------------------------------------------- */

#define LAYER_MAX_PARAMS 8
/* Bidirectional(LSTM) with return_state and merge_mode None: its two
 * outputs, then 2 x (h, c) */
#define LAYER_MAX_OUTPUTS 6

struct param {
    const char *name;       /* Keras weight name: "kernel", "bias", ... */
    struct shape shape;     /* Keras layout */
    struct initializer init;
    bool trainable;
    size_t offset;          /* floats from the start of the model's blocks */
    /* Set with layer_param_limits; NULL for none. Point into the conf. */
    const struct regularizer *regularizer;
    const struct constraint *constraint;
    /* May be NULL: fills the weight instead of `init` (LSTM's bias with
     * unit_forget_bias: init on (units,), ones, init on (2 units,)). */
    void (*fill)(const struct param *p, float *w, struct rng *r);
};

struct layer;

/* One call of a layer on a batch of B samples. Arrays are indexed by the
 * layer's inputs (one for most layers). Shapes are (B, per-sample size). */
struct layer_call {
    size_t B;
    const float *const *x;  /* inputs */
    float *y;               /* output */
    float *cache;           /* B * cache_floats(l) floats kept from forward to backward */
    const float *dy;        /* backward: d loss / d y */
    float *const *dx;       /* backward: add d loss / d x here; an entry may be NULL */
    /* Backward, for layers with ops->assigns_dx: where dx_assign[k] is true,
     * dx[k] holds nothing yet and the layer writes every value of it (=,
     * not +=), which spares the model clearing it first. NULL: add to all. */
    const bool *dx_assign;
    const float *w;         /* the model's parameter block (use param.offset) */
    float *dw;              /* the model's gradient block: add into it */
    /* Forward in training: the parameter block again, writable, for the
     * non-trainable statistics a layer updates as it runs (the moving mean
     * of BatchNormalization); NULL in inference and backward. */
    float *w_stats;
    bool training;
    struct rng *rng;
    /* The mask of input 0 (Keras's implicit masking of time steps, from
     * Embedding(mask_zero) or Masking): B * in_shape.dim[0] bytes, 1 where
     * the step is kept, 0 where it is masked; NULL when the input has none.
     * The same in forward and backward. */
    const unsigned char *mask;
    /* Stateful layers: B * ops->state_floats floats that persist from batch
     * to batch (zero at first and after model_reset_states). Forward starts
     * from them when the layer is stateful and leaves its final state there;
     * NULL for layers without state_floats. */
    float *state;
    /* A layer with several output tensors (ops->more_outputs): tensor k + 1
     * at more_y[k], which forward writes, and d loss / d tensor k + 1 at
     * more_dy[k] in backward (zeros when nothing uses it). NULL otherwise. */
    float *const *more_y;
    const float *const *more_dy;
    /* The call of the node this one absorbs (ops->absorbs): its layer, y,
     * cache and, in backward, dy; this call's own y and dy are then not
     * used (nothing else reads them). NULL otherwise. */
    const struct layer_call *next;
    const struct layer *layer; /* the called layer (what `next` is read for) */
};

/* Whether backward is to write dx[k] (=) rather than add to it. */
static inline bool layer_dx_assign(const struct layer_call *c, size_t k)
{
    return c->dx_assign && c->dx_assign[k];
}

/* What a layer does with the mask of its input (Keras's supports_masking
 * and compute_mask). */
enum mask_mode {
    MASK_DROP,  /* the output has no mask (Keras layers without masking support) */
    MASK_KEEP,  /* the output carries the input's mask (Dense, Dropout, an RNN with
                   return_sequences, TimeDistributed, ...) */
    MASK_MAKE,  /* the layer computes a mask from its input (make_mask) */
    MASK_COMBINE, /* the merge layers: the output's mask combines the inputs' masks
                     (the model does it, see model.c combine_masks) */
};

struct layer_ops {
    const char *class_name;   /* "Dense" */
    const char *base_name;    /* "dense": default names dense, dense_1, ... */
    const struct arg_def *args;
    size_t n_args;
    size_t conf_size;
    /* Sets Keras's defaults in conf. */
    void (*defaults)(void *conf);
    /* Checks the parsed values (at the layer's position); may be NULL. */
    int (*validate)(const struct layer *l, const struct spec_node *where, struct diag *d);
    /* Infers the output shape from the input shapes and declares parameters
     * with layer_add_param. No allocation of buffers. */
    int (*build)(struct layer *l, const struct shape *in, size_t n_in, struct shape *out,
                 struct diag *d);
    /* Floats per sample kept between forward and backward; may be NULL (0). */
    size_t (*cache_floats)(const struct layer *l, const struct shape *in, const struct shape *out);
    void (*forward)(const struct layer *l, const struct layer_call *c);
    void (*backward)(const struct layer *l, const struct layer_call *c);
    /* backward honours layer_call.dx_assign. */
    bool assigns_dx;
    /* May be NULL. Before the first epoch, training calls this once per
     * batch of the training data as it reaches the layer (x: n samples of
     * in_shape), with `seen` samples passed before; the layer folds them into
     * its non-trainable weights in w (Normalization's mean and variance). */
    void (*adapt)(const struct layer *l, float *w, const float *x, size_t n, size_t seen);
    /* May be NULL. The penalty on the layer's output when it does not come
     * from an activity_regularizer argument (ActivityRegularization's l1,
     * l2); NULL when there is none. */
    const struct regularizer *(*activity)(const struct layer *l);
    /* May be NULL (MASK_DROP). Depends on the configuration only. */
    enum mask_mode (*mask_mode)(const struct layer *l);
    /* MASK_MAKE: the output mask of B samples from the input x (B * in size):
     * B * out_shape.dim[0] bytes, 1 = keep. Called before forward. */
    void (*make_mask)(const struct layer *l, size_t B, const float *x, unsigned char *mask);
    /* May be NULL (0): floats per sample of state kept between batches
     * (layer_call.state), for stateful recurrent layers. */
    size_t (*state_floats)(const struct layer *l);
    /* May be NULL. For a layer fed straight from the model's input: checks
     * one sample x (in_shape) of the data before anything runs (Embedding's
     * indices). Returns 0, or -1 with *at the index of the offending value
     * in x and the reason in why. */
    int (*check_input)(const struct layer *l, const float *x, size_t *at, char *why,
                       size_t why_size);
    /* May be NULL (one output). The output tensors after the first (a
     * recurrent layer's final states with return_state, Keras's
     * `[output] + states`): returns how many, from the configuration alone
     * (at most LAYER_MAX_OUTPUTS - 1); after build, when shapes is not
     * NULL, also their per-sample shapes. They carry no mask. */
    size_t (*more_outputs)(const struct layer *l, struct shape *shapes);
    /* May be NULL (never). Whether forward and backward can do the work of
     * `next` too when next takes this layer's output as its only input and
     * is its only consumer (the model checks that, and that nothing else
     * reads the output: it is not a model output and has no activity
     * regularizer): the model then skips next's own calls and gives this
     * layer's layer_call.next, whose forward results and gradients must be
     * bit for bit those of the two calls (a convolution pooled while its
     * output is in cache). */
    bool (*absorbs)(const struct layer *l, const struct layer *next);
};

struct layer {
    const struct layer_ops *ops;
    char *name;
    bool auto_named;            /* name chosen by nnc, Keras-style */
    bool trainable;
    void *conf;                 /* ops->conf_size bytes, filled from the arg table */
    /* Declared input (first layer of a Sequential model). */
    bool has_input_shape;
    struct shape input_shape;
    /* Bit i: input_shape.dim[i] was None (a variable length), set to
     * layer_free_length(). */
    unsigned free_dims;
    long batch_size;            /* 0 when not given */
    /* Set by build. */
    struct shape in_shape, out_shape;
    size_t n_params;
    struct param params[LAYER_MAX_PARAMS];
    /* Where the layer was defined, for messages. */
    const struct spec_node *where;
    /* Made by its wrapper rather than given (Bidirectional's backward copy
     * of its layer): owned the same way, never serialized. */
    bool derived;
};

/* None dimensions in declared input shapes (Input(shape=(None, 8)), an
 * Embedding without input_length): nnc computes with fixed lengths, so a
 * None takes this length (nnc summary builds a model twice, with two
 * lengths, and prints None where the shapes differ). 0, the default: None
 * is a located error. Process-wide; set it before loading a model. */
void layer_set_free_length(size_t n);
size_t layer_free_length(void);
/* The message for a None where no length is set. */
int layer_free_dim_error(const struct spec_node *where, struct diag *d);

/* The registry of layer types. */
const struct layer_ops *layer_find(const char *class_name);
const struct layer_ops *const *layer_all(size_t *n);

/* Parses one layer entry's arguments: value is a map (Keras arguments plus
 * the common keys name, trainable, dtype, input_shape, input_dim,
 * batch_input_shape, batch_size), a scalar (the first argument), a list
 * (positional arguments) or null. `extra_keys` lists further keys the caller
 * handles itself (e.g. "inputs"); they are skipped here. */
int layer_parse(struct layer *l, const struct layer_ops *ops, const struct spec_node *value,
                const struct spec_node *where, const char *const *extra_keys, size_t n_extra,
                struct diag *d);
void layer_free(struct layer *l);

/* Declares a parameter during build; returns its index. */
size_t layer_add_param(struct layer *l, const char *name, const struct shape *shape,
                       const struct initializer *init, bool trainable);
size_t layer_count_params(const struct layer *l, bool trainable);
/* Attaches a regularizer and a constraint (either may be NULL or unset) to
 * parameter idx, checking the constraint's axes against its shape. */
int layer_param_limits(struct layer *l, size_t idx, const struct regularizer *r,
                       const struct constraint *c, struct diag *d);
/* Checks that a channels_last layer over `dims` spatial axes (1: steps,
 * 2: rows and cols) got an input of rank dims + 1 (+ the batch axis); a
 * located error naming the expected layout otherwise. */
int layer_check_spatial_rank(const struct layer *l, const struct shape *in, int dims,
                             struct diag *d);
/* The penalty on the layer's output: its ops' activity hook, or its
 * activity_regularizer argument when it has one that is set; else NULL. */
const struct regularizer *layer_activity_regularizer(const struct layer *l);

/* The number of output tensors of a parsed layer (1 + more_outputs). */
size_t layer_n_outputs(const struct layer *l);

/* mask_mode for the layers that pass their input's mask on unchanged
 * (Keras's supports_masking = True with the default compute_mask). */
enum mask_mode layer_mask_keep(const struct layer *l);
/* mask_mode of the merge layers (MASK_COMBINE). */
enum mask_mode layer_mask_combine(const struct layer *l);

/* Writes {"class_name": ..., "config": {...}} as Keras serializes the layer,
 * with batch_input_shape when with_input_shape. */
void layer_to_json(const struct layer *l, bool with_input_shape, struct json *j);
/* [batch, dims...] as Keras writes batch_input_shape: null for a batch
 * size not given and for None dimensions (free_dims). */
void layer_batch_shape_to_json(const struct layer *l, const struct shape *s, struct json *j);
/* Only the {...} of "config". */
void layer_config_to_json(const struct layer *l, bool with_input_shape, struct json *j);

/* ---- nested layers (layer_nested.c) ---------------------------------------- */

/* ARG_LAYER: parses a layer spec in any form a model file takes for a layer
 * entry (Flatten, {Dense: {units: 8}}, {class_name: Dense, config: {...}})
 * into a new layer (*out, freed with layer_free + free). Nested layers take
 * no input shape; their names are given by the model (model_file.c). */
int layer_parse_nested(const struct spec_node *v, struct layer **out, struct diag *d);
/* A parsed (not yet built) layer's deep copy: conf, name and nested layers. */
struct layer *layer_copy(const struct layer *src);
/* The layer's nested layers (its ARG_LAYER arguments that are set), in
 * argument order; returns how many (at most max are stored). */
size_t layer_children(const struct layer *l, struct layer **out, size_t max);
/* The value of a boolean argument by Keras name in the layer's conf, or NULL
 * when its type has no such ARG_BOOL argument (go_backwards, ...). */
bool *layer_bool_arg(const struct layer *l, const char *name);
/* For a wrapper's build: builds `inner` on the input shape `in` (one call's
 * sample) and appends its weights to the wrapper's, each named
 * prefix + its own name (prefix "" keeps the names; a non-empty prefix is
 * written into names[k], storage for LAYER_MAX_PARAMS names of `name_size`
 * chars that the wrapper owns). The inner weights' offsets become relative
 * to the wrapper's first weight: inner calls get w + layer_nested_base(l). */
int layer_build_nested(struct layer *l, struct layer *inner, const struct shape *in,
                       struct shape *out, const char *prefix, char *names, size_t name_size,
                       struct diag *d);
size_t layer_nested_base(const struct layer *l);
/* The call of a nested layer on B' samples, within a wrapper's call c:
 * weights, gradients and statistics shifted to the wrapper's block; x, y,
 * dy, dx, cache, mask and state are the caller's to set (copied from c). */
struct layer_call layer_nested_call(const struct layer *l, const struct layer_call *c, size_t B);

#endif
