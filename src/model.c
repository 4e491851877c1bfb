/* Graph building, parameter layout, weight initialization and the
 * forward/backward passes over the per-batch workspace (see model.h). */
#include "model.h"

#include <stdlib.h>
#include <string.h>

int model_build(struct model *m, struct diag *d)
{
    NNC_ASSERT(m->sequential && m->n_layers >= 1);
    struct layer *in = &m->layers[0];
    NNC_ASSERT(in->ops == layer_find("InputLayer"));
    m->n_nodes = m->n_layers;
    m->nodes = xcalloc(m->n_nodes, sizeof *m->nodes);
    size_t offset = 0;
    for (size_t i = 0; i < m->n_layers; i++) {
        struct layer *l = &m->layers[i];
        struct node *n = &m->nodes[i];
        n->layer = l;
        if (i > 0) {
            n->n_in = 1;
            n->in[0] = &m->nodes[i - 1];
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
    m->output = &m->nodes[m->n_nodes - 1];
    for (size_t i = 1; i < m->n_nodes; i++) {
        struct node *n = &m->nodes[i];
        const struct layer *l = n->layer;
        n->state_floats = l->ops->state_floats ? l->ops->state_floats(l) : 0;
        if (l->ops->mask_mode && l->ops->mask_mode(l) != MASK_DROP && n->out.rank < 1)
            return spec_error(l->where, d, "layer '%s': a masked output needs a time axis",
                              l->name);
    }
    for (size_t i = 1; i < m->n_nodes; i++) {
        struct node *n = &m->nodes[i];
        n->needs_grad = layer_count_params(n->layer, true) > 0;
        for (size_t k = 0; k < n->n_in; k++)
            n->needs_grad |= n->in[k]->needs_grad;
    }
    return 0;
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
            init_fill(&pa->init, m->w + pa->offset, pa->shape.dim, pa->shape.rank, r);
        }
    }
}

size_t model_input_size(const struct model *m) { return shape_size(&m->nodes[0].out); }
size_t model_output_size(const struct model *m) { return shape_size(&m->output->out); }

size_t model_output_last_dim(const struct model *m)
{
    return m->output->out.dim[m->output->out.rank - 1];
}

size_t model_target_size(const struct model *m)
{
    size_t K = model_output_last_dim(m);
    return model_output_size(m) / K * loss_target_width(&m->compile.loss, K);
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
    size_t K = model_output_last_dim(m);
    size_t tw = loss_target_width(&m->compile.loss, K);
    for (size_t i = 0; i < m->compile.n_metrics; i++)
        if (metric_parse(m->compile.metric_nodes[i], K, tw, &m->compile.metrics[i], d) < 0)
            return -1;
    return 0;
}

static enum mask_mode node_mask_mode(const struct node *n)
{
    const struct layer *l = n->layer;
    return l->ops->mask_mode ? l->ops->mask_mode(l) : MASK_DROP;
}

/* Masks and states, sized for max_batch: states start at zero. */
static void workspace_masks_states(struct model *m, size_t max_batch)
{
    size_t mask_bytes = 0, state_floats = 0;
    for (size_t i = 1; i < m->n_nodes; i++) {
        struct node *n = &m->nodes[i];
        if (node_mask_mode(n) == MASK_MAKE)
            mask_bytes += (size_t)n->out.dim[0] * max_batch;
        state_floats += n->state_floats * max_batch;
    }
    free(m->masks);
    free(m->states);
    m->masks = mask_bytes ? xcalloc(mask_bytes, 1) : NULL;
    m->states = state_floats ? xcalloc(state_floats, sizeof(float)) : NULL;
    unsigned char *mp = m->masks;
    float *sp = m->states;
    for (size_t i = 1; i < m->n_nodes; i++) {
        struct node *n = &m->nodes[i];
        switch (node_mask_mode(n)) {
        case MASK_MAKE:
            n->mask = mp;
            mp += (size_t)n->out.dim[0] * max_batch;
            break;
        case MASK_KEEP:
            n->mask = n->n_in ? n->in[0]->mask : NULL;
            break;
        case MASK_DROP:
            n->mask = NULL;
            break;
        }
        n->state = n->state_floats ? sp : NULL;
        if (n->state_floats) /* sp is NULL when no layer has state: NULL + 0 is UB */
            sp += n->state_floats * max_batch;
    }
}

void model_reset_states(struct model *m)
{
    for (size_t i = 1; i < m->n_nodes; i++)
        if (m->nodes[i].state)
            memset(m->nodes[i].state, 0, m->max_batch * m->nodes[i].state_floats * sizeof(float));
}

void model_workspace(struct model *m, size_t max_batch)
{
    if (m->workspace && m->max_batch >= max_batch)
        return;
    size_t total = 0;
    for (size_t i = 0; i < m->n_nodes; i++) {
        size_t out = shape_size(&m->nodes[i].out);
        total += out * (i == 0 ? 1 : 2) + m->nodes[i].cache_floats;
    }
    size_t floats;
    if (size_mul(total, max_batch, &floats) < 0)
        NNC_ASSERT(!"workspace size overflow");
    free(m->workspace);
    m->workspace = xcalloc(floats, sizeof(float));
    m->max_batch = max_batch;
    float *p = m->workspace;
    for (size_t i = 0; i < m->n_nodes; i++) {
        struct node *n = &m->nodes[i];
        size_t out = shape_size(&n->out) * max_batch;
        n->y = p;
        p += out;
        n->dy = i == 0 ? NULL : p;
        p += i == 0 ? 0 : out;
        n->cache = n->cache_floats ? p : NULL;
        p += n->cache_floats * max_batch;
    }
    workspace_masks_states(m, max_batch);
}

float *model_input(struct model *m) { return m->nodes[0].y; }

static void make_call(struct model *m, struct node *n, size_t B, bool training, struct rng *r,
                      struct layer_call *c, const float **xs, float **dxs)
{
    for (size_t k = 0; k < n->n_in; k++) {
        xs[k] = n->in[k]->y;
        /* NULL where nothing upstream learns (and for model inputs). */
        dxs[k] = n->in[k]->needs_grad ? n->in[k]->dy : NULL;
    }
    *c = (struct layer_call){
        .B = B, .x = xs, .y = n->y, .cache = n->cache, .dy = n->dy, .dx = dxs,
        .w = m->w, .dw = m->dw, .training = training, .rng = r,
        .mask = n->n_in ? n->in[0]->mask : NULL, .state = n->state,
    };
}

void model_forward(struct model *m, size_t B, bool training, struct rng *r)
{
    NNC_ASSERT(B <= m->max_batch);
    for (size_t i = 1; i < m->n_nodes; i++) {
        struct node *n = &m->nodes[i];
        const float *xs[NODE_MAX_INPUTS];
        float *dxs[NODE_MAX_INPUTS];
        struct layer_call c;
        make_call(m, n, B, training, r, &c, xs, dxs);
        c.w_stats = training ? m->w : NULL;
        if (node_mask_mode(n) == MASK_MAKE)
            n->layer->ops->make_mask(n->layer, B, xs[0], n->mask);
        n->layer->ops->forward(n->layer, &c);
    }
}

double model_backward(struct model *m, size_t B, const float *y_true)
{
    return model_backward_weighted(m, B, y_true, NULL);
}

double model_backward_weighted(struct model *m, size_t B, const float *y_true, const float *w)
{
    memset(m->dw, 0, m->n_weights * sizeof *m->dw);
    for (size_t i = 1; i < m->n_nodes; i++)
        if (m->nodes[i].needs_grad || &m->nodes[i] == m->output)
            memset(m->nodes[i].dy, 0, B * shape_size(&m->nodes[i].out) * sizeof(float));
    size_t K = model_output_last_dim(m);
    size_t rows = B * (model_output_size(m) / K);
    double loss = loss_compute_weighted(&m->compile.loss, m->output->y, y_true, rows, K, w,
                                        rows / B, m->output->dy);
    loss += model_penalty(m, B);
    for (size_t i = 0; i < m->n_layers; i++) {
        const struct layer *l = &m->layers[i];
        for (size_t p = 0; p < l->n_params && l->trainable; p++) {
            const struct param *pa = &l->params[p];
            if (pa->regularizer && pa->trainable)
                regularizer_gradient(pa->regularizer, m->w + pa->offset, m->dw + pa->offset,
                                     shape_size(&pa->shape), 1.0f);
        }
    }
    for (size_t i = m->n_nodes - 1; i >= 1; i--) {
        struct node *n = &m->nodes[i];
        if (!n->needs_grad)
            continue;
        const struct regularizer *act = layer_activity_regularizer(n->layer);
        if (act)
            regularizer_gradient(act, n->y, n->dy, B * shape_size(&n->out), 1.0f / (float)B);
        const float *xs[NODE_MAX_INPUTS];
        float *dxs[NODE_MAX_INPUTS];
        struct layer_call c;
        make_call(m, n, B, true, NULL, &c, xs, dxs);
        n->layer->ops->backward(n->layer, &c);
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
    for (size_t i = 1; i < m->n_nodes; i++) {
        const struct node *n = &m->nodes[i];
        const struct regularizer *act = layer_activity_regularizer(n->layer);
        if (act)
            penalty += regularizer_penalty(act, n->y, B * shape_size(&n->out)) / (double)B;
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
    for (size_t i = 1; i < m->n_nodes; i++)
        if (m->nodes[i].layer->ops->adapt)
            return true;
    return false;
}

void model_adapt(struct model *m, const float *x, size_t n, size_t batch_size)
{
    size_t n_x = model_input_size(m);
    model_workspace(m, batch_size);
    /* Node by node: a later layer adapts to what the earlier, already
     * adapted ones give it. */
    for (size_t i = 1; i < m->n_nodes; i++) {
        struct node *nd = &m->nodes[i];
        if (!nd->layer->ops->adapt)
            continue;
        for (size_t first = 0; first < n; first += batch_size) {
            size_t B = n - first < batch_size ? n - first : batch_size;
            memcpy(model_input(m), x + first * n_x, B * n_x * sizeof(float));
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
    free(m->name);
    free(m->w);
    free(m->dw);
    free(m->workspace);
    free(m->masks);
    free(m->states);
    memset(m, 0, sizeof *m);
}
