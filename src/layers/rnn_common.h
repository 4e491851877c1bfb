/* What the recurrent layers share (simple_rnn.c, lstm.c, gru.c): one
 * configuration struct that every class's argument table points into, the
 * checks and weights of keras/layers/rnn/base_rnn.py and its cells, the
 * cache layout, Keras's per-sequence dropout masks, the input projection of
 * all time steps in one GEMM, the time loop (masks, state carry, stateful
 * states, outputs) and the weight and input gradients after
 * backpropagation through time. A cell file supplies its step: the gate
 * math of one time step over the batch, forward and backward.
 *
 * Shapes: x (B, T, D) (batch, steps, input features), U units, k gate
 * blocks (SimpleRNN 1, LSTM 4: i f c o, GRU 3: z r h), G = k U. Weights in
 * Keras layout: kernel W (D, G), recurrent_kernel R (U, G), bias b (G) or
 * GRU reset_after (2, G) (input row, recurrent row).
 *
 * Time: step s (0..T-1) processes time t = s, or T-1-s with go_backwards.
 * Everything kept per step is indexed by t, so that the weight gradients
 * are one GEMM over all B*T rows; the output sequence is in step order,
 * as Keras returns it (reversed with go_backwards).
 *
 * Cache (per batch; every array is (B, ...) and lives at B * its per-sample
 * offset), see struct rnn_run. Owns no memory. */
#ifndef NNC_RNN_COMMON_H
#define NNC_RNN_COMMON_H

#include <stddef.h>

#include "../layer.h"
#include "../simd.h"

struct rnn_cell;

struct rnn_conf {
    const struct rnn_cell *cell;                      /* the class's, set by its defaults */
    long units;
    enum act_kind activation, recurrent_activation;   /* SimpleRNN: activation only */
    bool use_bias;
    struct initializer kernel_initializer, recurrent_initializer, bias_initializer;
    bool unit_forget_bias;                            /* LSTM */
    struct regularizer kernel_regularizer, recurrent_regularizer, bias_regularizer,
        activity_regularizer;
    struct constraint kernel_constraint, recurrent_constraint, bias_constraint;
    double dropout, recurrent_dropout;
    bool return_sequences, return_state, go_backwards, stateful, unroll, time_major;
    bool reset_after;                                 /* GRU */
    long implementation;                              /* LSTM, GRU: 1 or 2 */
    long input_length;                                /* legacy input shape; ARG_NULL_INT */
    bool zero_output_for_mask;                        /* masked steps output 0 (Bidirectional) */
    long seed;                                        /* Keras 3's dropout seed: read, ignored */
    size_t n_inputs;                                  /* set by build: 1, or 1 + states given */
};

/* An argument-table row for a field of struct rnn_conf. */
#define RNN_ARG(name, type, flags) {#name, type, offsetof(struct rnn_conf, name), flags, NULL, NULL}
/* The rows from use_bias to bias_initializer, in every class's Keras order. */
#define RNN_INIT_ARGS                                                                 \
    RNN_ARG(use_bias, ARG_BOOL, 0), RNN_ARG(kernel_initializer, ARG_INITIALIZER, 0),  \
        RNN_ARG(recurrent_initializer, ARG_INITIALIZER, 0),                           \
        RNN_ARG(bias_initializer, ARG_INITIALIZER, 0)
/* The rows from kernel_regularizer to stateful, the same in every class. */
#define RNN_LIMIT_ARGS                                                                \
    RNN_ARG(kernel_regularizer, ARG_REGULARIZER, 0),                                  \
        RNN_ARG(recurrent_regularizer, ARG_REGULARIZER, 0),                           \
        RNN_ARG(bias_regularizer, ARG_REGULARIZER, 0),                                \
        RNN_ARG(activity_regularizer, ARG_REGULARIZER, 0),                            \
        RNN_ARG(kernel_constraint, ARG_CONSTRAINT, 0),                                \
        RNN_ARG(recurrent_constraint, ARG_CONSTRAINT, 0),                             \
        RNN_ARG(bias_constraint, ARG_CONSTRAINT, 0), RNN_ARG(dropout, ARG_FLOAT, 0),  \
        RNN_ARG(recurrent_dropout, ARG_FLOAT, 0),                                     \
        RNN_ARG(return_sequences, ARG_BOOL, 0), RNN_ARG(return_state, ARG_BOOL, 0),   \
        RNN_ARG(go_backwards, ARG_BOOL, 0), RNN_ARG(stateful, ARG_BOOL, 0)
/* The keyword-only rows every recurrent class ends its table with. */
#define RNN_KWARGS                                                                    \
    RNN_ARG(input_length, ARG_INT, ARG_NULLABLE | ARG_UNSAVED | ARG_INPUT_LENGTH),    \
        RNN_ARG(zero_output_for_mask, ARG_BOOL, ARG_SAVED_IF_TRUE),                   \
        RNN_ARG(seed, ARG_INT, ARG_NULLABLE | ARG_UNSAVED)

struct rnn_run;

/* A cell: its gate count, its states, and one time step over the batch. */
struct rnn_cell {
    int gates;      /* k */
    int states;     /* 1: h; 2: h and c (LSTM) */
    bool extra;     /* keeps one more (B, T, U) array per step (LSTM act(c), GRU's RH) */
    bool has_reset_after; /* GRU: the reset_after argument counts */
    /* Step s: Z rows at t hold the input projection (bias included); the
     * step completes the pre-activations, writes the activations A, the
     * new state rows (rnn_h_new, rnn_c_new) for every sample (masked ones
     * are overwritten with the carried state afterwards). */
    void (*forward)(const struct rnn_run *r, size_t s);
    /* Step s in reverse: gh (and gc) hold d loss / d new state; writes
     * d loss / d pre-activation of the input part into the Z rows at t
     * (zero for masked samples) and replaces gh (gc) by d loss / d previous
     * state (unchanged for masked samples). */
    void (*backward)(const struct rnn_run *r, size_t s);
    /* After the time loop (trainable layers): d loss / d recurrent_kernel
     * (and the recurrent bias row of GRU reset_after). NULL: the generic
     * dR += HP^T dZ over all columns. */
    void (*grad_recurrent)(const struct rnn_run *r);
};

/* One call's view of the cache, weights and gradients. */
struct rnn_run {
    const struct layer *l;
    const struct rnn_conf *cf;
    const struct rnn_cell *cell;
    size_t B, T, D, U, G;
    bool training;
    const float *x;                 /* (B, T, D) */
    const float *W, *R, *bias;      /* bias NULL without use_bias */
    float *dW, *dR, *db;            /* NULL when the layer is frozen */
    const unsigned char *mask;      /* (B, T), 1 = step kept; NULL: all kept */
    float *xd;                      /* (B, T, D): x times an input dropout mask; NULL
                                       when dropout is 0 */
    float *z, *a;                   /* (B, T, G): pre-activations and activations */
    float *hp, *cp;                 /* (B, T, U): h (c) before the step at t */
    float *ht, *ct;                 /* (B, U): h (c) after the last step */
    float *ex;                      /* (B, T, U): the cell's extra array */
    size_t k_in, k_rec;             /* dropout masks on inputs / on h: 0 (none), 1 or k */
    float *mi;                      /* (k_in, B, D) */
    float *mr;                      /* (k_rec, B, U) */
    float *gh, *gc;                 /* (B, U): gradient carries in backward */
    float *sc;                      /* (B, G): step scratch */
    float *hs;                      /* (B, U): h times a recurrent mask */
};

/* ---- the layer ops every recurrent class uses (its cell from the conf) ---- */

/* Keras's defaults and the class's cell. */
void rnn_defaults(void *conf, const struct rnn_cell *cell);
/* Checks units, dropout rates, time_major and implementation. */
int rnn_validate(const struct layer *l, const struct spec_node *where, struct diag *d);
/* Output shape and the weights of a `cell` layer. */
int rnn_build(struct layer *l, const struct shape *in, size_t n_in, struct shape *out,
              struct diag *d);
size_t rnn_cache_floats(const struct layer *l, const struct shape *in, const struct shape *out);
enum mask_mode rnn_mask_mode(const struct layer *l);
size_t rnn_state_floats(const struct layer *l);
/* return_state: the final states as outputs after the first (ops->more_outputs). */
size_t rnn_more_outputs(const struct layer *l, struct shape *shapes);
void rnn_forward(const struct layer *l, const struct layer_call *c);
void rnn_backward(const struct layer *l, const struct layer_call *c);

/* ---- for the cells' steps ---- */

/* The cells' element-wise gate loops are SIMD_CLONES_512 (simd.h). */

static inline size_t rnn_time(const struct rnn_run *r, size_t s)
{
    return r->cf->go_backwards ? r->T - 1 - s : s;
}
static inline bool rnn_kept(const struct rnn_run *r, size_t b, size_t t)
{
    return !r->mask || r->mask[b * r->T + t];
}
/* Rows of sample b at time t: (B, T, n) arrays. */
static inline float *rnn_row(float *p, const struct rnn_run *r, size_t b, size_t t, size_t n)
{
    return p + (b * r->T + t) * n;
}
/* Where step s leaves sample b's new h (c): the next step's hp row, or ht. */
float *rnn_h_new(const struct rnn_run *r, size_t s, size_t b);
float *rnn_c_new(const struct rnn_run *r, size_t s, size_t b);
/* Sample b's recurrent dropout mask of gate block g (U floats); NULL when
 * there is none (or outside training in forward). */
const float *rnn_rec_mask(const struct rnn_run *r, size_t g, size_t b);
/* fn(r, s, b0, b1) over the batch, in parallel when the work is large. */
typedef void (*rnn_rows_fn)(const struct rnn_run *r, size_t s, size_t b0, size_t b1);
void rnn_rows(const struct rnn_run *r, size_t s, size_t work_per_sample, rnn_rows_fn fn);
/* dst[b, 0:n) = beta dst + (h[b] * mask) @ R[:, col0:col0+n) for every b:
 * h rows at stride ldh, dst rows at stride ldd; `masked` applies the
 * recurrent dropout mask of each gate block the columns cover. */
void rnn_recurrent(const struct rnn_run *r, const float *h, size_t ldh, size_t col0, size_t n,
                   float *dst, size_t ldd, float beta, bool masked);
/* The transpose: gh[b] += (dsrc[b, 0:n) @ R[:, col0:col0+n)^T) * mask. */
void rnn_recurrent_back(const struct rnn_run *r, const float *dsrc, size_t lds, size_t col0,
                        size_t n, float *gh, bool masked);
/* The same two for the samples [b0, b1) only (h, dst, dsrc and gh still
 * point at sample 0), for a step's rnn_rows function that multiplies and
 * then applies the gates to its own samples: one parallel pass per step. */
void rnn_recurrent_rows(const struct rnn_run *r, size_t b0, size_t b1, const float *h,
                        size_t ldh, size_t col0, size_t n, float *dst, size_t ldd, float beta,
                        bool masked);
void rnn_recurrent_back_rows(const struct rnn_run *r, size_t b0, size_t b1, const float *dsrc,
                             size_t lds, size_t col0, size_t n, float *gh, bool masked);
/* dR[:, col0:col0+n) += sum over b, t of (h[b, t] * mask)^T dsrc[b, t, 0:n):
 * h and dsrc are (B, T, U) and (B, T, lds) arrays. */
void rnn_grad_recurrent(const struct rnn_run *r, const float *h, size_t col0, size_t n,
                        const float *dsrc, size_t lds, bool masked);
/* Element-wise activation of one row of n values (and its backward, dz =
 * f'(z) dy, which may alias z). */
void rnn_act(enum act_kind k, const float *z, float *y, size_t n);
void rnn_act_back(enum act_kind k, const float *z, const float *y, const float *dy, float *dz,
                  size_t n);

#endif
