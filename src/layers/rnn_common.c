/* The recurrent layers' shared machinery (see rnn_common.h): arguments,
 * weights, cache layout, dropout masks, the input projection, the time
 * loop with masks and states, and the gradients after the time loop.
 * Keras sources: keras/layers/rnn/base_rnn.py (RNN: masks, states,
 * outputs), keras/backend.py rnn() (a masked step keeps the state and
 * repeats the previous output), keras/layers/rnn/dropout_rnn_cell_mixin.py
 * (one dropout mask per sequence). */
#include <string.h>

#include "../approx_math.h"
#include "../parallel.h"
#include "../parallel_gemm.h"
#include "rnn_common.h"

/* ---- arguments and shapes ------------------------------------------------ */

void rnn_defaults(void *conf, const struct rnn_cell *cell)
{
    struct rnn_conf *c = conf;
    c->cell = cell;
    c->activation = ACT_TANH;
    c->recurrent_activation = ACT_SIGMOID;
    c->use_bias = true;
    init_default(INIT_GLOROT_UNIFORM, &c->kernel_initializer);
    init_default(INIT_ORTHOGONAL, &c->recurrent_initializer);
    init_default(INIT_ZEROS, &c->bias_initializer);
    c->unit_forget_bias = true;
    c->reset_after = true;
    c->implementation = 2;
    c->input_length = ARG_NULL_INT;
    c->seed = ARG_NULL_INT;
}

int rnn_validate(const struct layer *l, const struct spec_node *where, struct diag *d)
{
    const struct rnn_conf *c = l->conf;
    const char *cls = l->ops->class_name;
    if (c->units <= 0 || c->units > (1L << 24))
        return spec_error(where, d, "%s units must be a positive integer, found %ld", cls,
                          c->units);
    /* Keras clamps the rates to [0, 1] and ignores 1; nnc refuses what
     * would not act as a dropout rate. */
    if (!(c->dropout >= 0 && c->dropout < 1))
        return spec_error(where, d, "%s dropout must be in [0, 1), found %g", cls, c->dropout);
    if (!(c->recurrent_dropout >= 0 && c->recurrent_dropout < 1))
        return spec_error(where, d, "%s recurrent_dropout must be in [0, 1), found %g", cls,
                          c->recurrent_dropout);
    if (c->time_major)
        return spec_error(where, d, "%s: time_major true is not supported by nnc (inputs are "
                          "(batch, steps, features))", cls);
    if (c->implementation != 1 && c->implementation != 2 && c->implementation != ARG_NULL_INT)
        return spec_error(where, d, "%s implementation must be 1 or 2, found %ld", cls,
                          c->implementation);
    return 0;
}

/* Keras's standard_lstm / standard_gru path (the one cuDNN can replace)
 * applies a single input dropout mask to all gates; the cells' own call
 * with implementation 1 draws one mask per gate, for the inputs and for
 * the recurrent state (recurrent_dropout always takes that path). */
static bool per_gate_masks(const struct rnn_conf *c, const struct rnn_cell *cell)
{
    if (cell->gates == 1)
        return false;
    if (c->recurrent_dropout > 0)
        return true;
    bool fused = c->activation == ACT_TANH && c->recurrent_activation == ACT_SIGMOID &&
                 !c->unroll && c->use_bias && (!cell->has_reset_after || c->reset_after);
    return c->implementation == 1 && !fused;
}

int rnn_build(struct layer *l, const struct shape *in, size_t n_in, struct shape *out,
              struct diag *d)
{
    struct rnn_conf *c = l->conf;
    const struct rnn_cell *cell = c->cell;
    if (layer_check_spatial_rank(l, in, 1, d) < 0)
        return -1;
    size_t T = in->dim[0], D = in->dim[1], U = (size_t)c->units, G = (size_t)cell->gates * U;
    /* Inputs after the first are the initial states (Keras's RNN.__call__
     * with initial_state of Keras tensors: [inputs] + initial_state). */
    c->n_inputs = n_in;
    if (n_in > 1 && n_in != 1 + (size_t)cell->states)
        return spec_error(l->where, d, "layer '%s' takes its input and %d initial state%s, "
                          "found %zu inputs", l->name, cell->states,
                          cell->states == 1 ? "" : "s", n_in);
    for (size_t k = 1; k < n_in; k++)
        if (in[k].rank != 1 || in[k].dim[0] != U) {
            char buf[96];
            return spec_error(l->where, d, "layer '%s': initial state %zu must be (None, %zu), "
                              "found %s", l->name, k - 1, U, shape_format(&in[k], buf, sizeof buf));
        }
    if (T * (G + D) > (1u << 28) || D * G > (1u << 30) || U * G > (1u << 30))
        return spec_error(l->where, d, "layer '%s': %zu steps of %zu features into %zu units "
                          "is too large", l->name, T, D, U);
    /* The cell switches to implementation 1 for recurrent dropout and
     * serializes that (keras/layers/rnn/lstm.py LSTMCell.__init__). */
    if (c->recurrent_dropout > 0 && cell->gates > 1)
        c->implementation = 1;
    *out = c->return_sequences ? (struct shape){2, {T, U}} : (struct shape){1, {U}};
    struct shape k = {2, {D, G}}, r = {2, {U, G}};
    size_t p = layer_add_param(l, "kernel", &k, &c->kernel_initializer, true);
    if (layer_param_limits(l, p, &c->kernel_regularizer, &c->kernel_constraint, d) < 0)
        return -1;
    p = layer_add_param(l, "recurrent_kernel", &r, &c->recurrent_initializer, true);
    if (layer_param_limits(l, p, &c->recurrent_regularizer, &c->recurrent_constraint, d) < 0)
        return -1;
    if (c->use_bias) {
        /* GRU reset_after: one row for the inputs, one for the state. */
        struct shape b = cell->has_reset_after && c->reset_after ? (struct shape){2, {2, G}}
                                                                 : (struct shape){1, {G}};
        p = layer_add_param(l, "bias", &b, &c->bias_initializer, true);
        if (layer_param_limits(l, p, &c->bias_regularizer, &c->bias_constraint, d) < 0)
            return -1;
    }
    return 0;
}

/* Keras's RNN.compute_mask: the input's mask with return_sequences (as it
 * is, not reversed, even with go_backwards), else none. */
enum mask_mode rnn_mask_mode(const struct layer *l)
{
    const struct rnn_conf *c = l->conf;
    return c->return_sequences ? MASK_KEEP : MASK_DROP;
}

/* Keras's RNN with return_state: [output] + states, each (None, units). */
size_t rnn_more_outputs(const struct layer *l, struct shape *shapes)
{
    const struct rnn_conf *c = l->conf;
    size_t n = c->return_state ? (size_t)c->cell->states : 0;
    for (size_t k = 0; shapes && k < n; k++)
        shapes[k] = (struct shape){1, {(size_t)c->units}};
    return n;
}

size_t rnn_state_floats(const struct layer *l)
{
    const struct rnn_conf *c = l->conf;
    return c->stateful ? (size_t)c->cell->states * (size_t)c->units : 0;
}

/* ---- cache layout -------------------------------------------------------- */

/* Per-sample offsets (floats) of the arrays of struct rnn_run. */
struct rnn_layout {
    size_t xd, z, a, hp, cp, ex, ht, ct, mi, mr, gh, gc, sc, hs, total;
    size_t k_in, k_rec;
};

static void layout(const struct rnn_conf *cf, const struct rnn_cell *cell, size_t T, size_t D,
                   struct rnn_layout *o)
{
    size_t U = (size_t)cf->units, G = (size_t)cell->gates * U;
    size_t two = cell->states == 2;
    o->k_in = cf->dropout > 0 ? (per_gate_masks(cf, cell) ? (size_t)cell->gates : 1) : 0;
    o->k_rec = cf->recurrent_dropout > 0 ? (size_t)cell->gates : 0;
    size_t n = 0;
    o->xd = n, n += o->k_in ? T * D : 0;
    o->z = n, n += T * G;
    o->a = n, n += T * G;
    o->hp = n, n += T * U;
    o->cp = n, n += two * T * U;
    o->ex = n, n += cell->extra ? T * U : 0;
    o->ht = n, n += U;
    o->ct = n, n += two * U;
    o->mi = n, n += o->k_in * D;
    o->mr = n, n += o->k_rec * U;
    o->gh = n, n += U;
    o->gc = n, n += two * U;
    o->sc = n, n += G;
    o->hs = n, n += U;
    o->total = n;
}

size_t rnn_cache_floats(const struct layer *l, const struct shape *in, const struct shape *out)
{
    const struct rnn_conf *c = l->conf;
    struct rnn_layout o;
    layout(c, c->cell, in->dim[0], in->dim[1], &o);
    return o.total;
}

static void run_init(struct rnn_run *r, const struct layer *l, const struct rnn_cell *cell,
                     const struct layer_call *c, bool training)
{
    const struct rnn_conf *cf = l->conf;
    memset(r, 0, sizeof *r);
    r->l = l;
    r->cf = cf;
    r->cell = cell;
    r->B = c->B;
    r->T = l->in_shape.dim[0];
    r->D = l->in_shape.dim[1];
    r->U = (size_t)cf->units;
    r->G = (size_t)cell->gates * r->U;
    r->training = training;
    r->x = c->x[0];
    r->W = c->w + l->params[0].offset;
    r->R = c->w + l->params[1].offset;
    r->bias = cf->use_bias ? c->w + l->params[2].offset : NULL;
    if (l->trainable && c->dw) {
        r->dW = c->dw + l->params[0].offset;
        r->dR = c->dw + l->params[1].offset;
        r->db = cf->use_bias ? c->dw + l->params[2].offset : NULL;
    }
    r->mask = c->mask;
    struct rnn_layout o;
    layout(cf, cell, r->T, r->D, &o);
    float *base = c->cache;
    size_t B = c->B;
    r->k_in = o.k_in;
    r->k_rec = o.k_rec;
    r->xd = o.k_in ? base + B * o.xd : NULL;
    r->z = base + B * o.z;
    r->a = base + B * o.a;
    r->hp = base + B * o.hp;
    r->cp = cell->states == 2 ? base + B * o.cp : NULL;
    r->ex = cell->extra ? base + B * o.ex : NULL;
    r->ht = base + B * o.ht;
    r->ct = cell->states == 2 ? base + B * o.ct : NULL;
    r->mi = base + B * o.mi;
    r->mr = base + B * o.mr;
    r->gh = base + B * o.gh;
    r->gc = cell->states == 2 ? base + B * o.gc : NULL;
    r->sc = base + B * o.sc;
    r->hs = base + B * o.hs;
}

/* ---- helpers for the cells ------------------------------------------------ */

float *rnn_h_new(const struct rnn_run *r, size_t s, size_t b)
{
    if (s + 1 < r->T)
        return rnn_row(r->hp, r, b, rnn_time(r, s + 1), r->U);
    return r->ht + b * r->U;
}

float *rnn_c_new(const struct rnn_run *r, size_t s, size_t b)
{
    if (s + 1 < r->T)
        return rnn_row(r->cp, r, b, rnn_time(r, s + 1), r->U);
    return r->ct + b * r->U;
}

const float *rnn_rec_mask(const struct rnn_run *r, size_t g, size_t b)
{
    if (!r->k_rec || !r->training)
        return NULL;
    return r->mr + ((g % r->k_rec) * r->B + b) * r->U;
}

struct rows_job {
    const struct rnn_run *r;
    size_t s;
    rnn_rows_fn fn;
};

static void rows_chunk(void *ctx, size_t b0, size_t b1)
{
    const struct rows_job *j = ctx;
    j->fn(j->r, j->s, b0, b1);
}

void rnn_rows(const struct rnn_run *r, size_t s, size_t work_per_sample, rnn_rows_fn fn)
{
    struct rows_job j = {r, s, fn};
    parallel_for_samples(r->B, work_per_sample, rows_chunk, &j);
}

/* ---- the gates' sigmoid and tanh ------------------------------------------ */

/* The gates' sigmoid and tanh by approx_math.h, vectorized: also compiled
 * for AVX2 and AVX-512 and picked at load time (target_clones), the same
 * operations element by element, so the same results, two to four times
 * as many per instruction. */
SIMD_CLONES_512 static void sigmoid_rows(const float *restrict z, float *restrict y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = 1.0f / (1.0f + exp_approx(-z[i]));
}

SIMD_CLONES_512 static void tanh_rows(const float *restrict z, float *restrict y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = tanh_approx(z[i]);
}

void rnn_act(enum act_kind k, const float *z, float *y, size_t n)
{
    if (k == ACT_SIGMOID && z != y)
        sigmoid_rows(z, y, n);
    else if (k == ACT_TANH && z != y)
        tanh_rows(z, y, n);
    else
        activation_forward(k, z, y, 1, n);
}

void rnn_act_back(enum act_kind k, const float *z, const float *y, const float *dy, float *dz,
                  size_t n)
{
    activation_backward(k, z, y, dy, dz, 1, n);
}

static bool use_rec_masks(const struct rnn_run *r, bool masked)
{
    return masked && r->k_rec && r->training;
}

void rnn_recurrent_rows(const struct rnn_run *r, size_t b0, size_t b1, const float *h,
                        size_t ldh, size_t col0, size_t n, float *dst, size_t ldd, float beta,
                        bool masked)
{
    size_t U = r->U, G = r->G, rows = b1 - b0;
    h += b0 * ldh;
    dst += b0 * ldd;
    if (!use_rec_masks(r, masked)) {
        gemm_parallel(false, false, rows, n, U, 1.0f, h, ldh, r->R + col0, G, beta, dst, ldd);
        return;
    }
    /* Each gate block sees h times its own mask. */
    float *hs = r->hs + b0 * U;
    for (size_t c0 = col0; c0 < col0 + n; c0 += U) {
        for (size_t b = b0; b < b1; b++) {
            const float *m = rnn_rec_mask(r, c0 / U, b);
            for (size_t j = 0; j < U; j++)
                hs[(b - b0) * U + j] = h[(b - b0) * ldh + j] * m[j];
        }
        gemm_parallel(false, false, rows, U, U, 1.0f, hs, U, r->R + c0, G, beta, dst + (c0 - col0),
                      ldd);
    }
}

void rnn_recurrent(const struct rnn_run *r, const float *h, size_t ldh, size_t col0, size_t n,
                   float *dst, size_t ldd, float beta, bool masked)
{
    rnn_recurrent_rows(r, 0, r->B, h, ldh, col0, n, dst, ldd, beta, masked);
}

void rnn_recurrent_back_rows(const struct rnn_run *r, size_t b0, size_t b1, const float *dsrc,
                             size_t lds, size_t col0, size_t n, float *gh, bool masked)
{
    size_t U = r->U, G = r->G, rows = b1 - b0;
    dsrc += b0 * lds;
    gh += b0 * U;
    if (!use_rec_masks(r, masked)) {
        gemm_parallel(false, true, rows, U, n, 1.0f, dsrc, lds, r->R + col0, G, 1.0f, gh, U);
        return;
    }
    float *hs = r->hs + b0 * U;
    for (size_t c0 = col0; c0 < col0 + n; c0 += U) {
        gemm_parallel(false, true, rows, U, U, 1.0f, dsrc + (c0 - col0), lds, r->R + c0, G, 0.0f,
                      hs, U);
        for (size_t b = b0; b < b1; b++) {
            const float *m = rnn_rec_mask(r, c0 / U, b);
            for (size_t j = 0; j < U; j++)
                gh[(b - b0) * U + j] += hs[(b - b0) * U + j] * m[j];
        }
    }
}

void rnn_recurrent_back(const struct rnn_run *r, const float *dsrc, size_t lds, size_t col0,
                        size_t n, float *gh, bool masked)
{
    rnn_recurrent_back_rows(r, 0, r->B, dsrc, lds, col0, n, gh, masked);
}

void rnn_grad_recurrent(const struct rnn_run *r, const float *h, size_t col0, size_t n,
                        const float *dsrc, size_t lds, bool masked)
{
    size_t B = r->B, T = r->T, U = r->U, G = r->G, rows = B * T;
    if (!use_rec_masks(r, masked)) {
        gemm_parallel(true, false, U, n, rows, 1.0f, h, U, dsrc, lds, 1.0f, r->dR + col0, G);
        return;
    }
    /* After the time loop the activations are dead: their array holds h
     * times one gate's mask, (B, T, U). */
    float *hm = r->a;
    for (size_t c0 = col0; c0 < col0 + n; c0 += U) {
        for (size_t b = 0; b < B; b++) {
            const float *m = rnn_rec_mask(r, c0 / U, b);
            for (size_t t = 0; t < T; t++)
                for (size_t j = 0; j < U; j++)
                    hm[(b * T + t) * U + j] = h[(b * T + t) * U + j] * m[j];
        }
        gemm_parallel(true, false, U, U, rows, 1.0f, hm, U, dsrc + (c0 - col0), lds, 1.0f,
                      r->dR + c0, G);
    }
}

/* ---- dropout masks --------------------------------------------------------- */

/* Keras's generator.dropout(ones, rate): each value kept with probability
 * 1 - rate and scaled by 1 / (1 - rate); ones outside training (so that a
 * backward pass after an inference pass is the plain layer's). */
static void fill_mask(float *m, size_t n, double rate, bool training, struct rng *rng)
{
    if (!training) {
        for (size_t i = 0; i < n; i++)
            m[i] = 1.0f;
        return;
    }
    float scale = (float)(1.0 / (1.0 - rate));
    uint64_t threshold = (uint64_t)(rate * 4294967296.0);
    for (size_t i = 0; i < n; i += 2) {
        uint64_t bits = rng_next(rng);
        for (size_t k = 0; k < 2 && i + k < n; k++)
            m[i + k] = ((bits >> (32 * k)) & 0xffffffffu) >= threshold ? scale : 0.0f;
    }
}

/* xd = x times input mask g, the same mask at every step. */
static void mask_inputs(const struct rnn_run *r, size_t g, const float *src, float *dst)
{
    size_t T = r->T, D = r->D;
    for (size_t b = 0; b < r->B; b++) {
        const float *m = r->mi + (g * r->B + b) * D;
        for (size_t t = 0; t < T; t++)
            for (size_t i = 0; i < D; i++)
                dst[(b * T + t) * D + i] = src[(b * T + t) * D + i] * m[i];
    }
}

/* ---- forward ----------------------------------------------------------------- */

/* Whether the call has its initial states as inputs (build checked their
 * number): a layer is built for one set of inputs. */
static bool initial_states_given(const struct layer *l)
{
    return ((const struct rnn_conf *)l->conf)->n_inputs > 1;
}

/* Z = (x * mask) W + b over all B * T rows: one GEMM, or one per gate
 * block when each gate has its own input mask. */
static void input_projection(const struct rnn_run *r)
{
    size_t rows = r->B * r->T, D = r->D, G = r->G;
    if (!r->k_in || !r->training) { /* the bias (GRU: its input row) added by the chunks */
        gemm_parallel_bias(false, false, rows, G, D, r->x, D, r->W, G, r->bias, r->z, G);
        return;
    }
    if (r->bias)
        for (size_t i = 0; i < rows; i++)
            memcpy(r->z + i * G, r->bias, G * sizeof *r->z); /* GRU: the input row */
    float beta = r->bias ? 1.0f : 0.0f;
    size_t blocks = r->k_in, width = G / blocks;
    for (size_t g = 0; g < blocks; g++) {
        mask_inputs(r, g, r->x, r->xd);
        gemm_parallel(false, false, rows, width, D, 1.0f, r->xd, D, r->W + g * width, G, beta,
                      r->z + g * width, G);
    }
}

/* After step s: masked samples keep their state; outputs as backend.rnn
 * gives them (the new h, or for a masked step the previous output, or 0
 * with zero_output_for_mask; the output before any step is 0). */
static void step_outputs(const struct rnn_run *r, size_t s, float *y)
{
    size_t T = r->T, U = r->U, t = rnn_time(r, s);
    bool seq = r->cf->return_sequences, zero = r->cf->zero_output_for_mask;
    if (!r->mask && !seq)
        return; /* y is the last h, copied at the end */
    for (size_t b = 0; b < r->B; b++) {
        bool kept = rnn_kept(r, b, t);
        float *hn = rnn_h_new(r, s, b);
        if (!kept) {
            memcpy(hn, rnn_row(r->hp, r, b, t, U), U * sizeof *hn);
            if (r->cp)
                memcpy(rnn_c_new(r, s, b), rnn_row(r->cp, r, b, t, U), U * sizeof *hn);
        }
        float *yo = seq ? y + (b * T + s) * U : y + b * U;
        if (kept)
            memcpy(yo, hn, U * sizeof *yo);
        else if (zero || (seq && s == 0))
            memset(yo, 0, U * sizeof *yo);
        else if (seq)
            memcpy(yo, yo - U, U * sizeof *yo);
    }
}

void rnn_forward(const struct layer *l, const struct layer_call *c)
{
    const struct rnn_cell *cell = ((const struct rnn_conf *)l->conf)->cell;
    struct rnn_run r;
    run_init(&r, l, cell, c, c->training);
    size_t B = r.B, T = r.T, U = r.U, t0 = rnn_time(&r, 0);
    size_t sf = (size_t)cell->states * U;
    /* Initial states: given as inputs, or the stateful layer's from the
     * last batch, or zeros. */
    bool given = initial_states_given(l);
    for (size_t b = 0; b < B; b++) {
        float *h0 = rnn_row(r.hp, &r, b, t0, U);
        if (given)
            memcpy(h0, c->x[1] + b * U, U * sizeof *h0);
        else if (r.cf->stateful && c->state)
            memcpy(h0, c->state + b * sf, U * sizeof *h0);
        else
            memset(h0, 0, U * sizeof *h0);
        if (r.cp) {
            float *c0 = rnn_row(r.cp, &r, b, t0, U);
            if (given)
                memcpy(c0, c->x[2] + b * U, U * sizeof *c0);
            else if (r.cf->stateful && c->state)
                memcpy(c0, c->state + b * sf + U, U * sizeof *c0);
            else
                memset(c0, 0, U * sizeof *c0);
        }
    }
    fill_mask(r.mi, r.k_in * B * r.D, r.cf->dropout, c->training, c->rng);
    fill_mask(r.mr, r.k_rec * B * U, r.cf->recurrent_dropout, c->training, c->rng);
    input_projection(&r);
    if (r.mask && !r.cf->return_sequences)
        memset(c->y, 0, B * U * sizeof *c->y);
    for (size_t s = 0; s < T; s++) {
        cell->forward(&r, s);
        step_outputs(&r, s, c->y);
    }
    if (!r.mask && !r.cf->return_sequences)
        memcpy(c->y, r.ht, B * U * sizeof *c->y);
    if (r.cf->return_state) {
        memcpy(c->more_y[0], r.ht, B * U * sizeof *r.ht);
        if (r.ct)
            memcpy(c->more_y[1], r.ct, B * U * sizeof *r.ct);
    }
    if (r.cf->stateful && c->state)
        for (size_t b = 0; b < B; b++) {
            memcpy(c->state + b * sf, r.ht + b * U, U * sizeof *r.ht);
            if (r.ct)
                memcpy(c->state + b * sf + U, r.ct + b * U, U * sizeof *r.ct);
        }
}

/* ---- backward ---------------------------------------------------------------- */

/* gh += d loss / d output of step s. A masked step's output is the last
 * kept step's h (or 0 with zero_output_for_mask), which gh carries back to. */
static void add_output_grad(const struct rnn_run *r, size_t s, const float *dy)
{
    size_t T = r->T, U = r->U, t = rnn_time(r, s);
    bool seq = r->cf->return_sequences;
    if (!seq && s != T - 1)
        return;
    for (size_t b = 0; b < r->B; b++) {
        if (!rnn_kept(r, b, t) && r->cf->zero_output_for_mask)
            continue;
        const float *src = seq ? dy + (b * T + s) * U : dy + b * U;
        float *g = r->gh + b * U;
        for (size_t j = 0; j < U; j++)
            g[j] += src[j];
    }
}

/* With Z holding d loss / d input-part pre-activations for every (b, t):
 * dW += (x * mask)^T dZ, db += column sums, dx += (dZ W^T) * mask. */
static void input_gradients(const struct rnn_run *r, float *dx)
{
    size_t rows = r->B * r->T, D = r->D, G = r->G;
    if (r->db)
        colsums_parallel(r->z, rows, G, G, r->db);
    if (!r->k_in) {
        if (r->dW)
            gemm_parallel(true, false, D, G, rows, 1.0f, r->x, D, r->z, G, 1.0f, r->dW, G);
        if (dx)
            gemm_parallel(false, true, rows, D, G, 1.0f, r->z, G, r->W, G, 1.0f, dx, D);
        return;
    }
    size_t blocks = r->k_in, width = G / blocks;
    for (size_t g = 0; g < blocks; g++) {
        if (r->dW) {
            mask_inputs(r, g, r->x, r->xd);
            gemm_parallel(true, false, D, width, rows, 1.0f, r->xd, D, r->z + g * width, G, 1.0f,
                          r->dW + g * width, G);
        }
        if (dx) {
            gemm_parallel(false, true, rows, D, width, 1.0f, r->z + g * width, G, r->W + g * width,
                          G, 0.0f, r->xd, D);
            for (size_t b = 0; b < r->B; b++) {
                const float *m = r->mi + (g * r->B + b) * D;
                for (size_t t = 0; t < r->T; t++)
                    for (size_t i = 0; i < D; i++)
                        dx[(b * r->T + t) * D + i] += r->xd[(b * r->T + t) * D + i] * m[i];
            }
        }
    }
}

void rnn_backward(const struct layer *l, const struct layer_call *c)
{
    const struct rnn_cell *cell = ((const struct rnn_conf *)l->conf)->cell;
    struct rnn_run r;
    run_init(&r, l, cell, c, true);
    /* The carries start from the gradients of the final states when they
     * are outputs too (return_state), else zero. */
    size_t BU = r.B * r.U;
    if (r.cf->return_state)
        memcpy(r.gh, c->more_dy[0], BU * sizeof *r.gh);
    else
        memset(r.gh, 0, BU * sizeof *r.gh);
    if (r.gc && r.cf->return_state)
        memcpy(r.gc, c->more_dy[1], BU * sizeof *r.gc);
    else if (r.gc)
        memset(r.gc, 0, BU * sizeof *r.gc);
    for (size_t s = r.T; s-- > 0;) {
        add_output_grad(&r, s, c->dy);
        cell->backward(&r, s);
    }
    /* gh (gc) now hold the gradient of the initial states: given ones get
     * it, zeros and stateful ones are constants. */
    if (initial_states_given(l))
        for (size_t k = 0; k < (size_t)cell->states; k++)
            if (c->dx[1 + k]) {
                const float *g = k ? r.gc : r.gh;
                for (size_t i = 0; i < BU; i++)
                    c->dx[1 + k][i] += g[i];
            }
    if (r.dR) {
        if (cell->grad_recurrent)
            cell->grad_recurrent(&r);
        else
            rnn_grad_recurrent(&r, r.hp, 0, r.G, r.z, r.G, true);
    }
    input_gradients(&r, c->dx[0]);
}
