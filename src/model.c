/* Graph building, parameter layout, weight initialization and the
 * forward/backward passes over the per-batch workspace (see model.h). */
#include "model.h"

#include <stdlib.h>
#include <string.h>

#include "parallel.h"

void model_chain(struct model *m)
{
    NNC_ASSERT(m->n_layers >= 1 && m->layers[0].ops == layer_find("InputLayer"));
    m->n_nodes = m->n_layers;
    m->nodes = xcalloc(m->n_nodes, sizeof *m->nodes);
    for (size_t i = 0; i < m->n_layers; i++) {
        struct node *n = &m->nodes[i];
        n->layer = &m->layers[i];
        n->where = m->layers[i].where;
        n->depth = m->n_layers - 1 - i;
        if (i > 0) {
            n->n_in = 1;
            n->in[0] = &m->nodes[i - 1];
        }
    }
    m->n_inputs = m->n_outputs = 1;
    m->inputs[0] = &m->nodes[0];
    m->outputs[0] = &m->nodes[m->n_nodes - 1];
}

static bool node_is_input(const struct node *n) { return n->n_in == 0; }

void model_add_tensor_nodes(struct model *m)
{
    size_t total = 0;
    for (size_t i = 0; i < m->n_nodes; i++)
        total += layer_n_outputs(m->nodes[i].layer) - 1;
    m->n_more = total;
    m->more = total ? xcalloc(total, sizeof *m->more) : NULL;
    struct node *t = m->more;
    for (size_t i = 0; i < m->n_nodes; i++) {
        struct node *n = &m->nodes[i];
        size_t more = layer_n_outputs(n->layer) - 1;
        NNC_ASSERT(more < LAYER_MAX_OUTPUTS);
        for (size_t k = 0; k < more; k++, t++) {
            *t = (struct node){.layer = n->layer, .n_in = 1, .in = {n}, .call = n->call,
                               .depth = n->depth, .where = n->where, .tensor = k + 1};
            n->more[n->n_more++] = t;
        }
    }
}

/* Keras's _set_output_names: a name taken already gets _1, _2, ... (the
 * count kept per layer name). */
static void set_output_names(struct model *m)
{
    for (size_t k = 0; k < m->n_outputs; k++) {
        const char *base = m->outputs[k]->layer->name;
        size_t count = 1;
        char *name = xstrdup(base);
        for (;;) {
            bool taken = false;
            for (size_t j = 0; j < k && !taken; j++)
                taken = !strcmp(m->output_names[j], name);
            if (!taken)
                break;
            free(name);
            size_t size = strlen(base) + 24;
            name = xmalloc(size);
            snprintf(name, size, "%s_%zu", base, count++);
        }
        free(m->output_names[k]);
        m->output_names[k] = name;
    }
}

const struct node *model_call_node(const struct model *m, const struct layer *l, size_t call)
{
    for (size_t i = 0; i < m->n_nodes; i++)
        if (m->nodes[i].layer == l && m->nodes[i].call == call)
            return &m->nodes[i];
    return NULL;
}

const char *model_output_name(const struct model *m, size_t k)
{
    return m->output_names[k] ? m->output_names[k] : m->outputs[k]->layer->name;
}

/* A tensor node's shape: its producer's k-th extra output. */
static void tensor_shapes(struct node *n)
{
    struct shape shapes[LAYER_MAX_OUTPUTS - 1];
    if (!n->n_more)
        return;
    n->layer->ops->more_outputs(n->layer, shapes);
    for (size_t k = 0; k < n->n_more; k++)
        n->more[k]->out = shapes[k];
}

/* The first node of n's layer (n itself when it is the first call). */
static const struct node *first_call(const struct model *m, const struct node *n)
{
    for (const struct node *p = m->nodes; p < n; p++)
        if (p->layer == n->layer)
            return p;
    return n;
}

/* A later call of a built layer: the same input shapes, the same output.
 * (Layers keep shape-dependent sizes in their configuration, so a layer
 * is built once, for one set of input shapes.) */
static int reuse_build(const struct node *first, struct node *n, struct diag *d)
{
    char a[96], b[96];
    const struct layer *l = n->layer;
    if (first->n_in != n->n_in)
        return spec_error(n->where, d, "layer '%s' is called with %zu inputs here and %zu before",
                          l->name, n->n_in, first->n_in);
    for (size_t k = 0; k < n->n_in; k++)
        if (!shape_equal(&first->in[k]->out, &n->in[k]->out))
            return spec_error(n->where, d,
                              "layer '%s' is called on %s here but was built for %s (a shared "
                              "layer takes inputs of one shape)",
                              l->name, shape_format(&n->in[k]->out, a, sizeof a),
                              shape_format(&first->in[k]->out, b, sizeof b));
    n->out = first->out;
    n->cache_floats = first->cache_floats;
    return 0;
}

static void absorb_nodes(struct model *m);
static enum mask_mode node_mask_mode(const struct node *n);

int model_build(struct model *m, struct diag *d)
{
    NNC_ASSERT(m->n_nodes >= 2 && m->n_inputs >= 1 && m->n_outputs >= 1);
    NNC_ASSERT(m->inputs[0] == &m->nodes[0]);
    for (size_t i = 0; i < m->n_nodes; i++) {
        struct node *n = &m->nodes[i];
        struct layer *l = n->layer;
        const struct node *first = first_call(m, n);
        /* keras/engine/sequential.py add() */
        if (m->sequential && layer_n_outputs(l) > 1)
            return spec_error(l->where, d, "layer '%s' has %zu outputs: all layers in a Sequential "
                              "model should have a single output tensor (for multi-output "
                              "layers, use a functional model)", l->name, layer_n_outputs(l));
        NNC_ASSERT(n->n_more == layer_n_outputs(l) - 1);
        if (first != n) {
            if (reuse_build(first, n, d) < 0)
                return -1;
            tensor_shapes(n);
            continue;
        }
        struct shape ins[NODE_MAX_INPUTS];
        for (size_t k = 0; k < n->n_in; k++)
            ins[k] = n->in[k]->out;
        l->in_shape = n->n_in ? ins[0] : l->input_shape;
        if (l->ops->build(l, ins, n->n_in, &n->out, d) < 0)
            return -1;
        l->out_shape = n->out;
        if (shape_size(&n->out) == 0 || shape_size(&n->out) > (1u << 30)) {
            char buf[96];
            return spec_error(l->where, d, "layer '%s' output %s is too large", l->name,
                              shape_format(&n->out, buf, sizeof buf));
        }
        n->cache_floats = l->ops->cache_floats ? l->ops->cache_floats(l, ins, &n->out) : 0;
        tensor_shapes(n);
    }
    size_t offset = 0;
    for (size_t i = 0; i < m->n_layers; i++) {
        struct layer *l = &m->layers[i];
        for (size_t p = 0; p < l->n_params; p++) {
            size_t size = shape_size(&l->params[p].shape);
            if (size == 0 || size > (1u << 30) || offset > (1u << 31))
                return spec_error(l->where, d, "layer '%s': weight '%s' is too large", l->name,
                                  l->params[p].name);
            if (init_check(&l->params[p].init, l->params[p].shape.dim, l->params[p].shape.rank,
                           l->name, l->params[p].name, l->where, d) < 0)
                return -1;
            l->params[p].offset = offset;
            offset += size;
        }
    }
    m->n_weights = offset;
    m->output = m->outputs[0];
    set_output_names(m);
    for (size_t k = 0; k < m->n_outputs; k++)
        m->outputs[k]->is_output = true;
    for (size_t i = 0; i < m->n_nodes; i++) {
        struct node *n = &m->nodes[i];
        const struct layer *l = n->layer;
        if (node_is_input(n))
            continue;
        n->state_floats = l->ops->state_floats ? l->ops->state_floats(l) : 0;
        if (n->state_floats && !model_batch_size(m))
            return spec_error(l->where, d, "layer '%s' is stateful: it needs a fixed batch size "
                              "(batch_input_shape: [batch, ...] on the first layer)", l->name);
        if (l->ops->mask_mode && l->ops->mask_mode(l) != MASK_DROP && n->out.rank < 1)
            return spec_error(l->where, d, "layer '%s': a masked output needs a time axis",
                              l->name);
    }
    for (size_t i = 0; i < m->n_nodes; i++) {
        struct node *n = &m->nodes[i];
        n->needs_grad = layer_count_params(n->layer, true) > 0;
        for (size_t k = 0; k < n->n_in; k++)
            n->needs_grad |= n->in[k]->needs_grad;
        for (size_t k = 0; k < n->n_more; k++)
            n->more[k]->needs_grad = n->needs_grad;
    }
    absorb_nodes(m);
    return 0;
}

/* The node whose only input is n and which is n's only consumer, or NULL. */
static struct node *sole_consumer(struct model *m, const struct node *n)
{
    struct node *found = NULL;
    for (size_t i = 0; i < m->n_nodes; i++)
        for (size_t k = 0; k < m->nodes[i].n_in; k++)
            if (m->nodes[i].in[k] == n) {
                if (found || m->nodes[i].n_in != 1)
                    return NULL;
                found = &m->nodes[i];
            }
    return found;
}

/* Pairs a node with the next one where its layer absorbs that layer's work
 * (layer_ops.absorbs) and nothing else reads the node's output. */
static void absorb_nodes(struct model *m)
{
    for (size_t i = 0; i < m->n_nodes; i++) {
        struct node *n = &m->nodes[i], *c;
        const struct layer *l = n->layer;
        if (node_is_input(n) || n->absorbed || !l->ops->absorbs || n->is_output || n->n_more ||
            layer_activity_regularizer(l) || !(c = sole_consumer(m, n)) || c->n_more ||
            c->needs_grad != n->needs_grad || node_mask_mode(c) != MASK_DROP ||
            !l->ops->absorbs(l, c->layer))
            continue;
        n->absorbs = c;
        c->absorbed = true;
    }
}

void model_separate(struct model *m)
{
    for (size_t i = 0; i < m->n_nodes; i++) {
        m->nodes[i].absorbs = NULL;
        m->nodes[i].absorbed = false;
    }
}

void model_init_weights(struct model *m, struct rng *r)
{
    free(m->w);
    free(m->dw);
    m->w = xcalloc(m->n_weights, sizeof *m->w);
    m->dw = xcalloc(m->n_weights, sizeof *m->dw);
    for (size_t i = 0; i < m->n_layers; i++) {
        const struct layer *l = &m->layers[i];
        for (size_t p = 0; p < l->n_params; p++) {
            const struct param *pa = &l->params[p];
            if (pa->fill)
                pa->fill(pa, m->w + pa->offset, r);
            else
                init_fill(&pa->init, m->w + pa->offset, pa->shape.dim, pa->shape.rank, r);
        }
    }
}

size_t model_input_size(const struct model *m) { return shape_size(&m->inputs[0]->out); }
long model_batch_size(const struct model *m) { return m->inputs[0]->layer->batch_size; }
size_t model_output_size(const struct model *m) { return model_output_size_at(m, 0); }
size_t model_output_last_dim(const struct model *m) { return model_output_last_dim_at(m, 0); }
size_t model_target_size(const struct model *m) { return model_target_size_at(m, 0); }

size_t model_output_size_at(const struct model *m, size_t k)
{
    return shape_size(&m->outputs[k]->out);
}

size_t model_output_last_dim_at(const struct model *m, size_t k)
{
    const struct shape *s = &m->outputs[k]->out;
    return s->dim[s->rank - 1];
}

size_t model_target_size_at(const struct model *m, size_t k)
{
    size_t K = model_output_last_dim_at(m, k);
    return model_output_size_at(m, k) / K * loss_target_width(&m->compile.out[k].loss, K);
}

size_t model_inputs_size(const struct model *m)
{
    size_t n = 0;
    for (size_t k = 0; k < m->n_inputs; k++)
        n += shape_size(&m->inputs[k]->out);
    return n;
}

size_t model_targets_size(const struct model *m)
{
    size_t n = 0;
    for (size_t k = 0; k < m->n_outputs; k++)
        n += model_target_size_at(m, k);
    return n;
}

size_t model_count_params(const struct model *m, bool trainable)
{
    size_t n = 0;
    for (size_t i = 0; i < m->n_layers; i++)
        n += layer_count_params(&m->layers[i], trainable);
    return n;
}

int model_resolve_metrics(struct model *m, struct diag *d)
{
    for (size_t k = 0; k < m->n_outputs; k++) {
        struct output_compile *oc = &m->compile.out[k];
        size_t K = model_output_last_dim_at(m, k);
        size_t tw = loss_target_width(&oc->loss, K);
        for (size_t i = 0; i < oc->n_metrics; i++)
            if (metric_parse(oc->metric_nodes[i], K, tw, &oc->metrics[i], d) < 0)
                return -1;
    }
    return 0;
}

static enum mask_mode node_mask_mode(const struct node *n)
{
    const struct layer *l = n->layer;
    return l->ops->mask_mode ? l->ops->mask_mode(l) : MASK_DROP;
}

/* Whether a node's output carries a time-step mask: its own (MASK_MAKE),
 * its first input's (MASK_KEEP), or one combined from its inputs' when any
 * has one (MASK_COMBINE, only on outputs with a time axis). */
static bool has_mask(const struct node *n, const bool *in_has)
{
    switch (node_mask_mode(n)) {
    case MASK_MAKE:
        return true;
    case MASK_KEEP:
        return in_has[0];
    case MASK_COMBINE:
        for (size_t k = 0; k < n->n_in; k++)
            if (in_has[k])
                return n->out.rank >= 2;
        return false;
    case MASK_DROP:
        break;
    }
    return false;
}

/* Masks and states, sized for max_batch: states start at zero. */
static void workspace_masks_states(struct model *m, size_t max_batch)
{
    size_t mask_bytes = 0, state_floats = 0;
    bool *own = xcalloc(m->n_nodes ? m->n_nodes : 1, sizeof *own);
    /* In topological order, so that inputs are decided first; a tensor
     * node (outside m->nodes) has no mask. */
    for (size_t i = 0; i < m->n_nodes; i++) {
        struct node *n = &m->nodes[i];
        if (node_is_input(n))
            continue;
        bool in_has[NODE_MAX_INPUTS] = {false};
        for (size_t k = 0; k < n->n_in; k++) {
            const struct node *p = n->in[k];
            in_has[k] = p >= m->nodes && p < m->nodes + m->n_nodes && own[p - m->nodes];
        }
        own[i] = has_mask(n, in_has);
        if (own[i] && node_mask_mode(n) != MASK_KEEP)
            mask_bytes += (size_t)n->out.dim[0] * max_batch;
        state_floats += n->state_floats * max_batch;
    }
    free(m->masks);
    free(m->states);
    m->masks = mask_bytes ? xcalloc(mask_bytes, 1) : NULL;
    m->states = state_floats ? xcalloc(state_floats, sizeof(float)) : NULL;
    unsigned char *mp = m->masks;
    float *sp = m->states;
    for (size_t i = 0; i < m->n_nodes; i++) {
        struct node *n = &m->nodes[i];
        if (node_is_input(n))
            continue;
        n->mask = NULL;
        if (own[i] && node_mask_mode(n) == MASK_KEEP) {
            n->mask = n->in[0]->mask;
            /* A layer that keeps a mask keeps the time axis it indexes. */
            NNC_ASSERT(n->out.rank >= 2 && n->out.dim[0] == n->in[0]->out.dim[0]);
        } else if (own[i]) {
            n->mask = mp;
            mp += (size_t)n->out.dim[0] * max_batch;
        }
        n->state = n->state_floats ? sp : NULL;
        if (n->state_floats) /* sp is NULL when no layer has state: NULL + 0 is UB */
            sp += n->state_floats * max_batch;
    }
    free(own);
}

/* MASK_COMBINE (keras/layers/merging): along the time axis (a Concatenate
 * there: the output's steps are the inputs' steps one after the other) the
 * inputs' masks side by side, an input without one all kept; otherwise
 * the AND of the inputs' masks that exist (_Merge.compute_mask; for
 * Concatenate the all() over the concatenated, expanded masks). */
static void combine_masks(const struct node *n, size_t B)
{
    /* Along the time axis exactly when the inputs' steps add up to the
     * output's and differ from it (a broadcasting merge has each input's
     * steps equal to the output's or 1, so their sum exceeds it). */
    size_t T = n->out.dim[0], sum = 0;
    bool differ = false;
    for (size_t k = 0; k < n->n_in; k++) {
        const struct shape *s = &n->in[k]->out;
        sum += s->rank == n->out.rank ? s->dim[0] : 0;
        differ |= s->dim[0] != T;
    }
    bool along_time = differ && sum == T;
    for (size_t b = 0; b < B; b++) {
        unsigned char *o = n->mask + b * T;
        if (along_time) {
            for (size_t k = 0; k < n->n_in; k++) {
                size_t Tk = n->in[k]->out.dim[0];
                if (n->in[k]->mask)
                    memcpy(o, n->in[k]->mask + b * Tk, Tk);
                else
                    memset(o, 1, Tk);
                o += Tk;
            }
            continue;
        }
        memset(o, 1, T);
        for (size_t k = 0; k < n->n_in; k++)
            if (n->in[k]->mask && n->in[k]->out.dim[0] == T) /* a broadcast one: left out */
                for (size_t t = 0; t < T; t++)
                    o[t] &= n->in[k]->mask[b * T + t];
    }
}

void model_reset_states(struct model *m)
{
    for (size_t i = 0; i < m->n_nodes; i++)
        if (m->nodes[i].state)
            memset(m->nodes[i].state, 0, m->max_batch * m->nodes[i].state_floats * sizeof(float));
}

int model_workspace_checked(struct model *m, size_t max_batch, bool grads, struct diag *d)
{
    if (m->workspace && m->max_batch >= max_batch && (m->has_grads || !grads))
        return 0;
    size_t total = 0;
    for (size_t i = 0; i < m->n_nodes; i++) {
        size_t out = shape_size(&m->nodes[i].out);
        total += out * (node_is_input(&m->nodes[i]) || !grads ? 1 : 2) + m->nodes[i].cache_floats;
    }
    for (size_t i = 0; i < m->n_more; i++)
        total += (grads ? 2 : 1) * shape_size(&m->more[i].out);
    /* calloc, not xcalloc: its size is the user's batch size times the
     * model's, and the one is chosen for the other (Keras would fail to
     * allocate the same tensors). The pages are the kernel's zeros until
     * touched. */
    size_t floats;
    float *p =
        size_mul(total, max_batch, &floats) < 0 ? NULL : calloc(floats ? floats : 1, sizeof *p);
    if (!p) {
        diag_set(d,
                 "batch size %zu needs %.1f GB of memory for the layers' outputs%s "
                 "and caches, more than there is: use a smaller batch size",
                 max_batch, (double)total * (double)max_batch * sizeof(float) / 1e9,
                 grads ? ", gradients" : "");
        return -1;
    }
    free(m->workspace);
    m->workspace = p;
    m->max_batch = max_batch;
    m->has_grads = grads;
    for (size_t i = 0; i < m->n_nodes; i++) {
        struct node *n = &m->nodes[i];
        size_t out = shape_size(&n->out) * max_batch;
        bool dy = grads && !node_is_input(n);
        n->y = p;
        p += out;
        n->dy = dy ? p : NULL;
        p += dy ? out : 0;
        n->cache = n->cache_floats ? p : NULL;
        p += n->cache_floats * max_batch;
    }
    for (size_t i = 0; i < m->n_more; i++) {
        size_t out = shape_size(&m->more[i].out) * max_batch;
        m->more[i].y = p;
        m->more[i].dy = grads ? p + out : NULL;
        p += (grads ? 2 : 1) * out;
    }
    workspace_masks_states(m, max_batch);
    return 0;
}

static void workspace_or_exit(struct model *m, size_t max_batch, bool grads)
{
    struct diag d;
    if (model_workspace_checked(m, max_batch, grads, &d) < 0)
        nnc_out_of_memory(d.msg);
}

void model_workspace(struct model *m, size_t max_batch) { workspace_or_exit(m, max_batch, true); }

void model_workspace_forward(struct model *m, size_t max_batch)
{
    workspace_or_exit(m, max_batch, false);
}

float *model_input(struct model *m) { return m->inputs[0]->y; }

/* The arrays a layer_call points to. */
struct call_arrays {
    const float *x[NODE_MAX_INPUTS];
    float *dx[NODE_MAX_INPUTS];
    float *more_y[LAYER_MAX_OUTPUTS - 1];
    const float *more_dy[LAYER_MAX_OUTPUTS - 1];
};

static void make_call(struct model *m, struct node *n, size_t B, bool training, struct rng *r,
                      struct layer_call *c, struct call_arrays *a)
{
    for (size_t k = 0; k < n->n_in; k++) {
        a->x[k] = n->in[k]->y;
        /* NULL where nothing upstream learns (and for model inputs). */
        a->dx[k] = n->in[k]->needs_grad ? n->in[k]->dy : NULL;
    }
    for (size_t k = 0; k < n->n_more; k++) {
        a->more_y[k] = n->more[k]->y;
        a->more_dy[k] = n->more[k]->dy;
    }
    *c = (struct layer_call){
        .B = B,
        .x = a->x,
        .y = n->y,
        .cache = n->cache,
        .dy = n->dy,
        .dx = a->dx,
        .w = m->w,
        .dw = m->dw,
        .training = training,
        .rng = r,
        .mask = n->n_in ? n->in[0]->mask : NULL,
        .state = n->state,
        .more_y = n->n_more ? a->more_y : NULL,
        .more_dy = n->n_more ? a->more_dy : NULL,
        .layer = n->layer,
    };
}

/* n's call and, when n absorbs the next node, that node's as c.next; both
 * with w_stats. Not to be copied: the calls point into the arrays. */
struct node_call {
    struct call_arrays a, na;
    struct layer_call c, nc;
};

static void make_node_call(struct model *m, struct node *n, size_t B, bool training, struct rng *r,
                           float *w_stats, struct node_call *k)
{
    make_call(m, n, B, training, r, &k->c, &k->a);
    k->c.w_stats = w_stats;
    if (n->absorbs) {
        make_call(m, n->absorbs, B, training, r, &k->nc, &k->na);
        k->nc.w_stats = w_stats;
        k->c.next = &k->nc;
    }
}

void model_forward(struct model *m, size_t B, bool training, struct rng *r)
{
    NNC_ASSERT(B <= m->max_batch);
    for (size_t i = 0; i < m->n_nodes; i++) {
        struct node *n = &m->nodes[i];
        if (node_is_input(n) || n->absorbed)
            continue;
        struct node_call k;
        make_node_call(m, n, B, training, r, training ? m->w : NULL, &k);
        if (node_mask_mode(n) == MASK_MAKE)
            n->layer->ops->make_mask(n->layer, B, k.a.x[0], n->mask);
        else if (node_mask_mode(n) == MASK_COMBINE && n->mask)
            combine_masks(n, B);
        n->layer->ops->forward(n->layer, &k.c);
    }
}

const unsigned char *model_output_mask(const struct model *m, size_t *rows_per_mask)
{
    return model_output_mask_at(m, 0, rows_per_mask);
}

const unsigned char *model_output_mask_at(const struct model *m, size_t k, size_t *rows_per_mask)
{
    const struct node *o = m->outputs[k];
    if (!o->mask)
        return NULL;
    /* A mask entry per step (out.dim[0]); the loss rows of a sample are the
     * output without its last axis, a whole number of rows per step. */
    size_t rows = model_output_size_at(m, k) / model_output_last_dim_at(m, k);
    NNC_ASSERT(o->out.rank >= 2 && rows % o->out.dim[0] == 0);
    *rows_per_mask = rows / o->out.dim[0];
    return o->mask;
}

const float *model_target_block(const struct model *m, size_t B, const float *y_true, size_t k)
{
    for (size_t j = 0; j < k; j++)
        y_true += B * model_target_size_at(m, j);
    return y_true;
}

double model_loss(const struct model *m, size_t B, const float *y_true, const float *w, bool grad,
                  double *per_output)
{
    /* Keras's LossesContainer: the sum of each output's loss times its
     * loss weight (the per-output values are reported unweighted). */
    double total = 0;
    for (size_t k = 0; k < m->n_outputs; k++) {
        const struct node *o = m->outputs[k];
        const struct output_compile *oc = &m->compile.out[k];
        size_t K = model_output_last_dim_at(m, k);
        size_t rows = B * (model_output_size_at(m, k) / K), rows_per_mask = 1;
        const unsigned char *mask = model_output_mask_at(m, k, &rows_per_mask);
        double loss = loss_compute_masked(&oc->loss, o->y, model_target_block(m, B, y_true, k),
                                          rows, K, w, rows / B, mask, rows_per_mask,
                                          grad ? o->dy : NULL);
        if (grad && oc->loss_weight != 1.0)
            for (size_t i = 0; i < B * model_output_size_at(m, k); i++)
                o->dy[i] *= (float)oc->loss_weight;
        if (per_output)
            per_output[k] = loss;
        total += oc->loss_weight * loss;
    }
    return total;
}

int model_check_input(const struct model *m, const float *x, size_t n, size_t *sample,
                      size_t *value, char *why, size_t why_size)
{
    size_t stride = model_inputs_size(m), offset = 0;
    for (size_t k = 0; k < m->n_inputs; k++) {
        if (model_check_input_at(m, k, x + offset, stride, n, sample, value, why, why_size) < 0) {
            *value += offset;
            return -1;
        }
        offset += shape_size(&m->inputs[k]->out);
    }
    return 0;
}

int model_check_input_at(const struct model *m, size_t k, const float *x, size_t stride,
                         size_t n, size_t *sample, size_t *value, char *why, size_t why_size)
{
    for (size_t i = 0; i < m->n_nodes; i++) {
        const struct node *nd = &m->nodes[i];
        if (!nd->layer->ops->check_input || nd->n_in == 0 || nd->in[0] != m->inputs[k])
            continue;
        for (size_t s = 0; s < n; s++)
            if (nd->layer->ops->check_input(nd->layer, x + s * stride, value, why, why_size) < 0) {
                *sample = s;
                return -1;
            }
    }
    return 0;
}

/* Copies B dataset rows (the inputs one after the other) into the inputs. */
static void scatter_inputs(struct model *m, const float *x, size_t B)
{
    size_t stride = model_inputs_size(m);
    for (size_t b = 0; b < B; b++) {
        const float *row = x + b * stride;
        for (size_t k = 0; k < m->n_inputs; k++) {
            size_t size = shape_size(&m->inputs[k]->out);
            memcpy(m->inputs[k]->y + b * size, row, size * sizeof *row);
            row += size;
        }
    }
}

/* Before n's backward: each input gradient n adds to that holds nothing
 * yet is either left to n to assign (assign[k]; a layer that assigns, and
 * an input it takes once) or cleared. */
static void make_dx_ready(struct node *n, size_t B, bool *assign)
{
    for (size_t k = 0; k < n->n_in; k++) {
        struct node *p = n->in[k];
        assign[k] = false;
        if (!p->needs_grad || p->dy_set)
            continue;
        bool once = true;
        for (size_t j = 0; j < n->n_in; j++)
            once &= j == k || n->in[j] != p;
        if (n->layer->ops->assigns_dx && once)
            assign[k] = true;
        else
            parallel_zero(p->dy, B * shape_size(&p->out));
        p->dy_set = true;
    }
}

double model_backward(struct model *m, size_t B, const float *y_true)
{
    return model_backward_weighted(m, B, y_true, NULL);
}

double model_backward_weighted(struct model *m, size_t B, const float *y_true, const float *w)
{
    return model_backward_outputs(m, B, y_true, w, NULL);
}

double model_backward_outputs(struct model *m, size_t B, const float *y_true, const float *w,
                              double *per_output)
{
    NNC_ASSERT(m->has_grads && B <= m->max_batch);
    if (!m->dw_zero) /* the optimizer cleared it (train.c) */
        parallel_zero(m->dw, m->n_weights);
    m->dw_zero = false;
    /* A node's dy is cleared just before something first adds to it, or
     * not at all when its first writer assigns it (ops->assigns_dx): the
     * outputs' before the loss, the other tensors' as backward reaches
     * them (make_dx_ready). */
    for (size_t i = 0; i < m->n_nodes; i++) {
        struct node *n = &m->nodes[i];
        n->dy_set = false;
        if (!node_is_input(n) && n->is_output) {
            parallel_zero(n->dy, B * shape_size(&n->out));
            n->dy_set = true;
        }
    }
    for (size_t i = 0; i < m->n_more; i++) {
        parallel_zero(m->more[i].dy, B * shape_size(&m->more[i].out));
        m->more[i].dy_set = true;
    }
    /* The loss writes each output's dy; consumers of an output (later in
     * the topological order) add theirs in backward. */
    double loss = model_loss(m, B, y_true, w, true, per_output) + model_penalty(m, B);
    for (size_t i = 0; i < m->n_layers; i++) {
        const struct layer *l = &m->layers[i];
        for (size_t p = 0; p < l->n_params && l->trainable; p++) {
            const struct param *pa = &l->params[p];
            if (pa->regularizer && pa->trainable)
                regularizer_gradient(pa->regularizer, m->w + pa->offset, m->dw + pa->offset,
                                     shape_size(&pa->shape), 1.0f);
        }
    }
    /* Reverse topological order: every consumer of a node has added its
     * part to the node's dy before the node's own backward runs. */
    for (size_t i = m->n_nodes; i-- > 0;) {
        struct node *n = &m->nodes[i];
        if (!n->needs_grad || node_is_input(n))
            continue;
        if (!n->dy_set && !n->absorbs) { /* nothing downstream gave it a gradient */
            parallel_zero(n->dy, B * shape_size(&n->out));
            n->dy_set = true;
        }
        /* Keras's _handle_activity_regularization: on every output tensor. */
        const struct regularizer *act = layer_activity_regularizer(n->layer);
        for (size_t k = 0; act && k <= n->n_more; k++) {
            struct node *t = k ? n->more[k - 1] : n;
            regularizer_gradient(act, t->y, t->dy, B * shape_size(&t->out), 1.0f / (float)B);
        }
        if (n->absorbed) /* its producer's backward does its part */
            continue;
        struct node_call k;
        bool assign[NODE_MAX_INPUTS];
        make_node_call(m, n, B, true, NULL, NULL, &k);
        make_dx_ready(n, B, assign);
        k.c.dx_assign = assign;
        n->layer->ops->backward(n->layer, &k.c);
    }
    return loss;
}

double model_penalty(const struct model *m, size_t B)
{
    double penalty = 0;
    for (size_t i = 0; i < m->n_layers; i++) {
        const struct layer *l = &m->layers[i];
        for (size_t p = 0; p < l->n_params; p++) {
            const struct param *pa = &l->params[p];
            if (pa->regularizer)
                penalty += regularizer_penalty(pa->regularizer, m->w + pa->offset,
                                               shape_size(&pa->shape));
        }
    }
    for (size_t i = 0; i < m->n_nodes; i++) {
        const struct node *n = &m->nodes[i];
        if (node_is_input(n))
            continue;
        const struct regularizer *act = layer_activity_regularizer(n->layer);
        for (size_t k = 0; act && k <= n->n_more; k++) {
            const struct node *t = k ? n->more[k - 1] : n;
            penalty += regularizer_penalty(act, t->y, B * shape_size(&t->out)) / (double)B;
        }
    }
    return penalty;
}

void model_apply_constraints(struct model *m)
{
    for (size_t i = 0; i < m->n_layers; i++) {
        const struct layer *l = &m->layers[i];
        for (size_t p = 0; p < l->n_params && l->trainable; p++) {
            const struct param *pa = &l->params[p];
            if (pa->constraint && pa->trainable)
                constraint_apply(pa->constraint, m->w + pa->offset, &pa->shape);
        }
    }
}

bool model_needs_adapt(const struct model *m)
{
    for (size_t i = 0; i < m->n_nodes; i++)
        if (m->nodes[i].layer->ops->adapt)
            return true;
    return false;
}

void model_adapt(struct model *m, const float *x, size_t n, size_t batch_size)
{
    size_t n_x = model_inputs_size(m);
    model_workspace_forward(m, batch_largest(batch_size, n));
    /* Node by node: a later layer adapts to what the earlier, already
     * adapted ones give it. */
    for (size_t i = 0; i < m->n_nodes; i++) {
        struct node *nd = &m->nodes[i];
        if (!nd->layer->ops->adapt || first_call(m, nd) != nd)
            continue;
        for (size_t first = 0; first < n; first += batch_size) {
            size_t B = n - first < batch_size ? n - first : batch_size;
            scatter_inputs(m, x + first * n_x, B);
            model_forward(m, B, false, NULL);
            nd->layer->ops->adapt(nd->layer, m->w, nd->in[0]->y, B, first);
        }
    }
}

void model_free(struct model *m)
{
    for (size_t i = 0; i < m->n_layers; i++)
        layer_free(&m->layers[i]);
    free(m->layers);
    free(m->nodes);
    free(m->more);
    for (size_t k = 0; k < MODEL_MAX_IO; k++)
        free(m->output_names[k]);
    free(m->name);
    free(m->w);
    free(m->dw);
    free(m->workspace);
    free(m->masks);
    free(m->states);
    memset(m, 0, sizeof *m);
}
