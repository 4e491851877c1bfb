/* Whole-model fixtures for the layer tests: build a model from YAML text,
 * fill weights, inputs and targets, and check the contracts of STYLE.md —
 * finite-difference gradients of every weight (net_gradcheck, check_model),
 * backward accumulates (check_accumulates), a batch of B equals B batches
 * of 1 (check_batch_equals_singles), and forward/backward write exactly the
 * declared shapes (check_writes). Every test program links this file.
 *
 * Checks fail through Check's ck_assert, so call them inside a START_TEST. */
#ifndef NNC_TEST_NETCHECK_H
#define NNC_TEST_NETCHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../src/model.h"
#include "../src/model_file.h"

/* Central differences on float forward passes: the loss is O(1), so float
 * rounding puts ~1e-7 of noise on it and ~5e-5 on a numeric gradient; a
 * weight step of GC_EPS moves a pre-activation by at most ~1e-2, well
 * inside KINK_MARGIN. The atol is scaled by the block's largest gradient. */
#define GC_EPS 2e-3
#define GC_ATOL 1e-3
#define GC_RTOL 1e-2
#define KINK_MARGIN 0.05
#define MAX_SEEDS 400


struct net {
    struct model m;
    struct model_file mf;
    size_t B;
    float *t;           /* targets, B * model_targets_size floats (model_target_block) */
    bool training;
    uint64_t drop_seed; /* replayed before every forward pass */
    /* Optional: the margin from kinks of layer-specific values (pooling
     * ties, a ReLU layer's input), checked with the built-in ones. */
    double (*margin)(struct net *n);
};

/* ---- fixtures ---- */

/* Loads a model from YAML text (must have a compile: section). */
void net_load(struct net *n, const char *yaml);
void net_free(struct net *n);
/* Rows the loss sees for the current B. */
size_t net_rows(const struct net *n);
/* Forward pass (replaying the dropout seed) and the loss, penalties included. */
double forward_loss(struct net *n);
/* gc_fn over the weights (perturbed in place in n->m.w). */
double net_loss(void *ctx, const float *w);
/* Random targets fitting each output's loss, output after output. */
void fill_targets(struct net *n, unsigned seed);
/* Weights from the initializers plus jitter, inputs uniform in [lo, hi). */
void net_setup(struct net *n, unsigned seed, float lo, float hi);
double dist_to_kinks(const float *v, size_t count);
/* After a forward pass: the smallest distance of a pre-activation (or of
 * what n->margin reports) from a kink. */
double net_margin(struct net *n);
/* Tries seeds until net_margin >= margin. */
void net_prepare_margin(struct net *n, size_t B, bool training, float lo, float hi,
                        double margin);
void net_prepare(struct net *n, size_t B, bool training, float lo, float hi);

/* ---- checks ---- */

/* Every trainable weight block against central differences; frozen ones
 * get exactly zero. */
void net_gradcheck(struct net *n, const char *what);
/* net_load + net_prepare(B, training, -2, 2) + net_gradcheck. */
void check_model(const char *yaml, size_t B, bool training, const char *what);
/* The same with a layer-specific margin (see struct net). */
void check_model_margin(const char *yaml, size_t B, bool training, double (*margin)(struct net *),
                        const char *what);
/* One node's backward after a fresh forward pass. */
void node_backward(struct net *n, size_t i, const float *dy, float *dx, float *dw);
/* The same with dx for the node's input k (the others get none). */
void node_backward_at(struct net *n, size_t i, size_t k, const float *dy, float *dx, float *dw);
float *filled(size_t count, float v);
void expect_added(const float *after, const float *fresh, size_t count, const char *what,
                  const char *which);
/* Every node's backward adds into dx (of each of its inputs) and dw
 * (never overwrites), leaves dy alone and works without dx. */
void check_accumulates(const char *yaml, bool training, const char *what);
/* Outputs and gradients of a batch of 5 equal those of 5 single samples. */
void check_batch_equals_singles(const char *yaml, const char *what);
/* The same over B samples, with inputs chosen to keep the pre-activations
 * `margin` from the kinks (0: any). */
void check_batch_equals_singles_margin(const char *yaml, size_t B, double margin, const char *what);
/* Forward and backward write exactly B * declared size floats of y and dy. */
void check_writes(struct net *n, bool training, const char *what);
/* The three above on the model yaml describes: check_accumulates,
 * check_batch_equals_singles and check_writes (on a fresh net_load). */
void check_contracts(const char *yaml, bool training, const char *what);

#endif
