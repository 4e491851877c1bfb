/* Functional models (see model_parse.h): both file forms are read into one
 * graph of calls — a call is one use of a layer, its inbound tensors named
 * by the layer (nnc form: or by an Apply's name) and node index — which is
 * then resolved, checked (unknown names, cycles, unused inputs, outputs
 * nothing computes, entries that lead to no output) and ordered as Keras
 * orders it (keras/engine/functional.py _map_graph_network: a depth-first
 * search from the outputs gives the topological order and each layer's
 * first-seen rank; depths grow from 0 at the outputs; model.layers is by
 * depth, deepest first, ties by that rank). The layers then move into the
 * model in that order, the calls become its nodes, and model_build infers
 * the shapes. Everything the graph holds besides the layers is freed here. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model_parse.h"

#define NO_CALL SIZE_MAX

/* An inbound tensor as written: by name (the nnc form: a layer's first call
 * or an Apply; node < 0) or by layer, node index and tensor index (Keras). */
struct tref {
    const struct spec_node *where;
    const char *name;            /* NULL when call is known already */
    long node, tensor;
    size_t call;                 /* resolved: index into graph.calls */
};

struct call {
    size_t layer;                /* index into graph.layers (NO_CALL: Apply, unresolved) */
    size_t index;                /* Keras's node index: the layer's call number */
    const char *name;            /* nnc: an Apply's name, or NULL */
    const struct spec_node *target; /* nnc: an Apply's layer: value */
    const struct spec_node *where;
    size_t n_in;
    struct tref in[NODE_MAX_INPUTS];
    /* The search from the outputs: */
    int mark;                    /* 0 unseen, 1 on the current path, 2 done */
    size_t depth;
};

struct graph {
    struct layer_list layers;
    struct call *calls;
    size_t n_calls, cap;
    size_t n_inputs, n_outputs;
    struct tref inputs[MODEL_MAX_IO], outputs[MODEL_MAX_IO];
    char **names;                /* names cut from "NAME[...]" references */
    size_t n_names, names_cap;
};

static struct call *add_call(struct graph *g, size_t layer, const struct spec_node *where)
{
    if (g->n_calls == g->cap) {
        g->cap = g->cap ? 2 * g->cap : 16;
        g->calls = xrealloc(g->calls, g->cap * sizeof *g->calls);
    }
    struct call *c = &g->calls[g->n_calls++];
    memset(c, 0, sizeof *c);
    c->layer = layer;
    c->where = where;
    return c;
}

static void graph_free(struct graph *g)
{
    layer_list_free(&g->layers);
    free(g->calls);
    for (size_t i = 0; i < g->n_names; i++)
        free(g->names[i]);
    free(g->names);
    memset(g, 0, sizeof *g);
}

static const struct layer_ops *input_ops(void) { return layer_find("InputLayer"); }

static bool is_input_call(const struct graph *g, const struct call *c)
{
    return g->layers.items[c->layer].ops == input_ops();
}

/* What a call is called in messages: "layer 'x'" or "the call of 'x' at ...". */
static const char *call_desc(const struct graph *g, const struct call *c, char *buf, size_t size)
{
    const struct layer *l = &g->layers.items[c->layer];
    if (c->name)
        snprintf(buf, size, "'%s' (a call of layer '%s')", c->name, l->name);
    else if (c->index > 0)
        snprintf(buf, size, "call %zu of layer '%s'", c->index, l->name);
    else
        snprintf(buf, size, "%s '%s'", l->ops == input_ops() ? "input" : "layer", l->name);
    return buf;
}

/* ---- names ------------------------------------------------------------------ */

struct name_entry {
    const char *name;
    size_t id;
};

static int cmp_entry(const void *a, const void *b)
{
    const struct name_entry *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->id > y->id) - (x->id < y->id);
}

/* A sorted table; a duplicate name is reported at its later definition. */
struct name_table {
    struct name_entry *e;
    size_t n;
    const char **names; /* for suggestions */
};

static const struct name_entry *table_find(const struct name_table *t, const char *name)
{
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(t->e[mid].name, name);
        if (c == 0)
            return &t->e[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static void table_sort(struct name_table *t)
{
    qsort(t->e, t->n, sizeof *t->e, cmp_entry);
    t->names = xcalloc(t->n ? t->n : 1, sizeof *t->names);
    for (size_t i = 0; i < t->n; i++)
        t->names[i] = t->e[i].name;
}

static void table_free(struct name_table *t)
{
    free(t->e);
    free(t->names);
}

static int unknown_name(const struct name_table *t, const struct tref *r, const char *what,
                        struct diag *d)
{
    const char *hint = diag_suggest(r->name, t->names, t->n);
    if (hint)
        return spec_error(r->where, d, "unknown %s '%s' (did you mean '%s'?)", what, r->name,
                          hint);
    return spec_error(r->where, d, "unknown %s '%s'", what, r->name);
}

/* ---- resolving references ------------------------------------------------------ */

static int resolve_refs(struct graph *g, int (*one)(struct graph *, const void *, struct tref *,
                                                     struct diag *),
                        const void *ctx, struct diag *d)
{
    for (size_t i = 0; i < g->n_calls; i++)
        for (size_t k = 0; k < g->calls[i].n_in; k++)
            if (one(g, ctx, &g->calls[i].in[k], d) < 0)
                return -1;
    for (size_t i = 0; i < g->n_inputs; i++)
        if (one(g, ctx, &g->inputs[i], d) < 0)
            return -1;
    for (size_t i = 0; i < g->n_outputs; i++)
        if (one(g, ctx, &g->outputs[i], d) < 0)
            return -1;
    return 0;
}

/* nnc form: a name is a layer's (its defining entry) or an Apply's; with
 * a node index (NAME[node][tensor]), the layer's call of that index. */
static int resolve_nnc_one(struct graph *g, const void *ctx, struct tref *r, struct diag *d)
{
    if (!r->name)
        return 0;
    const struct name_entry *e = table_find(ctx, r->name);
    if (!e)
        return unknown_name(ctx, r, "layer", d);
    r->call = e->id;
    if (r->node < 0)
        return 0;
    const struct call *c = &g->calls[e->id];
    if (c->target)
        return spec_error(r->where, d, "'%s' is a call: name its layer with [node][tensor], or "
                          "write '%s[tensor]'", r->name, r->name);
    size_t n = 0;
    r->call = NO_CALL;
    for (size_t i = 0; i < g->n_calls; i++)
        if (g->calls[i].layer == c->layer) {
            n++;
            if (g->calls[i].index == (size_t)r->node)
                r->call = i;
        }
    if (r->call == NO_CALL)
        return spec_error(r->where, d, "layer '%s' has %zu node%s; there is no node %ld", r->name,
                          n, n == 1 ? "" : "s", r->node);
    return 0;
}

/* Apply's layer: names resolved, then each layer's calls numbered in file
 * order after its own entry (node 0). */
static int resolve_apply(struct graph *g, const struct name_table *t, struct diag *d)
{
    size_t *count = xcalloc(g->layers.n ? g->layers.n : 1, sizeof *count);
    int rc = 0;
    for (size_t i = 0; i < g->n_calls && rc == 0; i++) {
        struct call *c = &g->calls[i];
        if (!c->target) {
            count[c->layer]++;
            continue;
        }
        struct tref r = {.where = c->target, .name = c->target->str};
        const struct name_entry *e = table_find(t, r.name);
        if (!e || g->calls[e->id].index != 0 || g->calls[e->id].target) {
            rc = e ? spec_error(c->target, d, "'%s' is a call, not a layer: Apply names the layer",
                                r.name)
                   : unknown_name(t, &r, "layer", d);
            break;
        }
        c->layer = g->calls[e->id].layer;
        if (g->layers.items[c->layer].ops == input_ops())
            rc = spec_error(c->target, d, "'%s' is an Input; Apply calls a layer", r.name);
    }
    for (size_t i = 0; i < g->n_calls && rc == 0; i++)
        if (g->calls[i].target)
            g->calls[i].index = count[g->calls[i].layer]++;
    free(count);
    return rc;
}

static int resolve_nnc(struct graph *g, struct diag *d)
{
    struct name_table t = {xcalloc(g->n_calls ? g->n_calls : 1, sizeof *t.e), 0, NULL};
    for (size_t i = 0; i < g->n_calls; i++) {
        const struct call *c = &g->calls[i];
        const char *name = c->target ? c->name : g->layers.items[c->layer].name;
        if (name)
            t.e[t.n++] = (struct name_entry){name, i};
    }
    table_sort(&t);
    int rc = 0;
    for (size_t i = 1; i < t.n && rc == 0; i++)
        if (!strcmp(t.e[i].name, t.e[i - 1].name)) {
            const struct call *c = &g->calls[t.e[i].id];
            bool both_layers = !c->target && !g->calls[t.e[i - 1].id].target;
            rc = both_layers ? spec_error(c->where, d,
                                          "two layers are named '%s' (layer names must be unique)",
                                          t.e[i].name)
                             : spec_error(c->where, d, "the name '%s' is taken already",
                                          t.e[i].name);
        }
    if (rc == 0)
        rc = resolve_apply(g, &t, d);
    if (rc == 0)
        rc = resolve_refs(g, resolve_nnc_one, &t, d);
    table_free(&t);
    return rc;
}

/* Keras form: [layer name, node index, tensor index]. */
struct keras_ctx {
    struct name_table t;     /* layer name -> layer index */
    size_t *first, *n;       /* per layer: its first call and number of calls */
};

static int resolve_keras_one(struct graph *g, const void *ctx, struct tref *r, struct diag *d)
{
    const struct keras_ctx *k = ctx;
    const struct name_entry *e = table_find(&k->t, r->name);
    if (!e)
        return unknown_name(&k->t, r, "layer", d);
    size_t l = e->id;
    if (r->node < 0 || (size_t)r->node >= k->n[l])
        return spec_error(r->where, d, "layer '%s' has %zu node%s; there is no node %ld", r->name,
                          k->n[l], k->n[l] == 1 ? "" : "s", r->node);
    r->call = k->first[l] + (size_t)r->node;
    return 0;
}

static int resolve_keras(struct graph *g, struct diag *d)
{
    struct keras_ctx k = {{xcalloc(g->layers.n ? g->layers.n : 1, sizeof *k.t.e), 0, NULL},
                          xcalloc(g->layers.n ? g->layers.n : 1, sizeof *k.first),
                          xcalloc(g->layers.n ? g->layers.n : 1, sizeof *k.n)};
    for (size_t i = 0; i < g->layers.n; i++)
        k.t.e[k.t.n++] = (struct name_entry){g->layers.items[i].name, i};
    /* The calls of a layer are made one after another, from its entry. */
    for (size_t i = g->n_calls; i-- > 0;) {
        k.first[g->calls[i].layer] = i;
        k.n[g->calls[i].layer]++;
    }
    table_sort(&k.t);
    int rc = 0;
    for (size_t i = 1; i < k.t.n && rc == 0; i++)
        if (!strcmp(k.t.e[i].name, k.t.e[i - 1].name))
            rc = spec_error(g->layers.items[k.t.e[i].id].where, d,
                            "two layers are named '%s' (layer names must be unique)",
                            k.t.e[i].name);
    if (rc == 0)
        rc = resolve_refs(g, resolve_keras_one, &k, d);
    table_free(&k.t);
    free(k.first);
    free(k.n);
    return rc;
}

/* ---- checking and ordering ------------------------------------------------------ */

/* Depth-first from the outputs, as _build_map does: a call's inputs are
 * visited in order before it is appended to *post (so *post is a
 * topological order), a call met again on the current path is a cycle, and
 * each layer gets the rank at which the search first meets it. */
static int walk(struct graph *g, size_t *post, size_t *n_post, size_t *layer_rank,
                struct diag *d)
{
    size_t *stack = xcalloc(g->n_calls, sizeof *stack), *next = xcalloc(g->n_calls, sizeof *next);
    size_t top = 0, rank = 0;
    int rc = 0;
    *n_post = 0;
    for (size_t o = 0; o < g->n_outputs && rc == 0; o++) {
        if (g->calls[g->outputs[o].call].mark)
            continue;
        stack[top++] = g->outputs[o].call;
        while (top > 0 && rc == 0) {
            size_t t = stack[top - 1];
            struct call *c = &g->calls[t];
            if (c->mark == 0) {
                c->mark = 1;
                next[t] = 0;
                if (layer_rank[c->layer] == NO_CALL)
                    layer_rank[c->layer] = rank++;
            }
            if (next[t] < c->n_in) {
                size_t child = c->in[next[t]++].call;
                if (g->calls[child].mark == 1) {
                    char buf[300];
                    rc = spec_error(c->where, d, "%s is part of a cycle (its inputs lead back to it)",
                                    call_desc(g, c, buf, sizeof buf));
                } else if (g->calls[child].mark == 0) {
                    stack[top++] = child;
                }
                continue;
            }
            c->mark = 2;
            post[(*n_post)++] = t;
            top--;
        }
    }
    free(stack);
    free(next);
    return rc;
}

static int check_io(const struct graph *g, struct diag *d)
{
    char buf[300];
    for (size_t i = 0; i < g->n_inputs; i++) {
        const struct call *c = &g->calls[g->inputs[i].call];
        if (!is_input_call(g, c))
            return spec_error(g->inputs[i].where, d, "model input %s is not an Input",
                              call_desc(g, c, buf, sizeof buf));
        for (size_t j = 0; j < i; j++)
            if (g->inputs[j].call == g->inputs[i].call)
                return spec_error(g->inputs[i].where, d, "input '%s' is listed twice",
                                  g->layers.items[c->layer].name);
    }
    for (size_t i = 0; i < g->n_outputs; i++) {
        const struct call *c = &g->calls[g->outputs[i].call];
        if (is_input_call(g, c))
            return spec_error(g->outputs[i].where, d,
                              "output '%s' is a model input: no layer computes it",
                              g->layers.items[c->layer].name);
        for (size_t j = 0; j < i; j++)
            if (g->outputs[j].call == g->outputs[i].call &&
                g->outputs[j].tensor == g->outputs[i].tensor)
                return g->outputs[i].tensor
                           ? spec_error(g->outputs[i].where, d,
                                        "output tensor %ld of %s is listed twice",
                                        g->outputs[i].tensor, call_desc(g, c, buf, sizeof buf))
                           : spec_error(g->outputs[i].where, d, "output %s is listed twice",
                                        call_desc(g, c, buf, sizeof buf));
    }
    for (size_t i = 0; i < g->n_calls; i++) {
        const struct call *c = &g->calls[i];
        bool listed = false;
        for (size_t j = 0; j < g->n_inputs; j++)
            listed |= g->inputs[j].call == i;
        if (is_input_call(g, c) && !listed)
            return spec_error(c->where, d, "input '%s' is not among the model's inputs",
                              g->layers.items[c->layer].name);
        if (c->mark != 2)
            return spec_error(c->where, d,
                              is_input_call(g, c) ? "%s is not used by any output"
                                                  : "%s does not lead to any output",
                              call_desc(g, c, buf, sizeof buf));
    }
    return 0;
}

/* Keras's depths: from the outputs back, a call is one deeper than its
 * deepest consumer, and a layer as deep as its deepest call (so that a
 * shared layer's calls share its place). */
static void set_depths(struct graph *g, const size_t *post, size_t n_post, size_t *layer_depth)
{
    for (size_t i = n_post; i-- > 0;) {
        struct call *c = &g->calls[post[i]];
        size_t depth = c->depth > layer_depth[c->layer] ? c->depth : layer_depth[c->layer];
        layer_depth[c->layer] = depth;
        c->depth = depth;
        for (size_t k = 0; k < c->n_in; k++) {
            struct call *p = &g->calls[c->in[k].call];
            if (p->depth < depth + 1)
                p->depth = depth + 1;
        }
    }
}

struct layer_key {
    size_t depth, rank, index;
};

static int cmp_layer_key(const void *a, const void *b)
{
    const struct layer_key *x = a, *y = b;
    if (x->depth != y->depth)
        return x->depth < y->depth ? 1 : -1; /* deepest first */
    return (x->rank > y->rank) - (x->rank < y->rank);
}

/* The node of a resolved reference: its call's, or one of the call's
 * tensor nodes (check_tensors checked the index). */
static struct node *tensor_node(struct model *m, const size_t *where_call, const struct tref *r)
{
    struct node *n = &m->nodes[where_call[r->call]];
    return r->tensor > 0 ? n->more[r->tensor - 1] : n;
}

/* Tensor indices against the layers' outputs (an Input has one). */
static int check_tensor(const struct graph *g, const struct tref *r, struct diag *d)
{
    const struct layer *l = &g->layers.items[g->calls[r->call].layer];
    size_t n = layer_n_outputs(l);
    if (r->tensor >= 0 && (size_t)r->tensor < n)
        return 0;
    const bool *state = layer_bool_arg(l, "return_state");
    return spec_error(r->where, d, "layer '%s' has %zu output%s; there is no tensor %ld%s",
                      l->name, n, n == 1 ? "" : "s", r->tensor,
                      state && !*state ? " (its return_state is false)" : "");
}

static int check_tensors(const struct graph *g, struct diag *d)
{
    for (size_t i = 0; i < g->n_calls; i++)
        for (size_t k = 0; k < g->calls[i].n_in; k++)
            if (check_tensor(g, &g->calls[i].in[k], d) < 0)
                return -1;
    for (size_t i = 0; i < g->n_inputs; i++)
        if (check_tensor(g, &g->inputs[i], d) < 0)
            return -1;
    for (size_t i = 0; i < g->n_outputs; i++)
        if (check_tensor(g, &g->outputs[i], d) < 0)
            return -1;
    return 0;
}

/* Moves the layers into m in Keras's order and makes the calls its nodes:
 * the inputs first (in the model's input order), the rest in topological
 * order. */
static void assemble(struct model *m, struct graph *g, const size_t *post, size_t n_post,
                     const size_t *layer_rank, const size_t *layer_depth)
{
    size_t nl = g->layers.n, nc = g->n_calls;
    struct layer_key *keys = xcalloc(nl, sizeof *keys);
    size_t *where_layer = xcalloc(nl, sizeof *where_layer);
    size_t *where_call = xcalloc(nc, sizeof *where_call);
    for (size_t i = 0; i < nl; i++)
        keys[i] = (struct layer_key){layer_depth[i], layer_rank[i], i};
    qsort(keys, nl, sizeof *keys, cmp_layer_key);
    m->n_layers = nl;
    m->layers = xcalloc(nl, sizeof *m->layers);
    for (size_t i = 0; i < nl; i++) {
        m->layers[i] = g->layers.items[keys[i].index];
        where_layer[keys[i].index] = i;
    }
    free(g->layers.items);
    memset(&g->layers, 0, sizeof g->layers);

    m->n_nodes = nc;
    m->nodes = xcalloc(nc, sizeof *m->nodes);
    size_t k = 0;
    for (size_t i = 0; i < g->n_inputs; i++)
        where_call[g->inputs[i].call] = k++;
    for (size_t i = 0; i < n_post; i++)
        if (g->calls[post[i]].n_in > 0)
            where_call[post[i]] = k++;
    NNC_ASSERT(k == nc);
    for (size_t i = 0; i < nc; i++) {
        const struct call *c = &g->calls[i];
        struct node *n = &m->nodes[where_call[i]];
        n->layer = &m->layers[where_layer[c->layer]];
        n->call = c->index;
        n->depth = c->depth;
        n->where = c->where;
        n->n_in = c->n_in;
    }
    model_add_tensor_nodes(m);
    for (size_t i = 0; i < nc; i++) {
        const struct call *c = &g->calls[i];
        struct node *n = &m->nodes[where_call[i]];
        for (size_t j = 0; j < c->n_in; j++)
            n->in[j] = tensor_node(m, where_call, &c->in[j]);
    }
    m->n_inputs = g->n_inputs;
    for (size_t i = 0; i < g->n_inputs; i++)
        m->inputs[i] = &m->nodes[where_call[g->inputs[i].call]];
    m->n_outputs = g->n_outputs;
    for (size_t i = 0; i < g->n_outputs; i++)
        m->outputs[i] = tensor_node(m, where_call, &g->outputs[i]);
    free(keys);
    free(where_layer);
    free(where_call);
}

/* Resolved graph -> built model. */
static int finish(struct model *m, struct graph *g, struct diag *d)
{
    size_t nl = g->layers.n, nc = g->n_calls;
    size_t *post = xcalloc(nc ? nc : 1, sizeof *post), n_post = 0;
    size_t *layer_rank = xcalloc(nl ? nl : 1, sizeof *layer_rank);
    size_t *layer_depth = xcalloc(nl ? nl : 1, sizeof *layer_depth);
    for (size_t i = 0; i < nl; i++)
        layer_rank[i] = NO_CALL;
    int rc = check_tensors(g, d);
    if (rc == 0)
        rc = walk(g, post, &n_post, layer_rank, d);
    if (rc == 0)
        rc = check_io(g, d);
    if (rc == 0) {
        set_depths(g, post, n_post, layer_depth);
        assemble(m, g, post, n_post, layer_rank, layer_depth);
        m->sequential = false;
        rc = model_build(m, d);
    }
    free(post);
    free(layer_rank);
    free(layer_depth);
    return rc;
}

/* ---- the nnc form --------------------------------------------------------------- */

/* "NAME[tensor]" (a tensor of a call: a layer's first or an Apply) or
 * "NAME[node][tensor]" (as the summary's Connected to prints it): the name
 * is copied into the spec node's own string, cut before the '['. */
static int parse_indices(struct graph *g, const struct spec_node *v, struct tref *r,
                         struct diag *d)
{
    const char *s = v->str, *open = strchr(s, '[');
    long idx[2];
    int n = 0;
    const char *p = open;
    while (*p == '[' && n < 2) {
        char *end;
        if (p[1] < '0' || p[1] > '9')
            break;
        idx[n] = strtol(p + 1, &end, 10);
        if (*end != ']' || idx[n] > 1000000)
            break;
        n++;
        p = end + 1;
    }
    if (*p || n == 0 || open == s)
        return spec_error(v, d, "expected NAME, NAME[tensor] or NAME[node][tensor], found '%s'",
                          s);
    if (g->n_names == g->names_cap) {
        g->names_cap = g->names_cap ? 2 * g->names_cap : 8;
        g->names = xrealloc(g->names, g->names_cap * sizeof *g->names);
    }
    size_t len = (size_t)(open - s);
    char *name = xmalloc(len + 1);
    memcpy(name, s, len);
    name[len] = '\0';
    r->name = g->names[g->n_names++] = name;
    r->node = n == 2 ? idx[0] : -1;
    r->tensor = idx[n - 1];
    return 0;
}

/* A name or a list of names into refs[0..*n) (at most max). */
static int parse_names(struct graph *g, const struct spec_node *v, const char *what,
                       struct tref *refs, size_t *n, size_t max, struct diag *d)
{
    const struct spec_node *const *items = (const struct spec_node *const *)&v;
    size_t count = 1;
    if (v && v->kind == SPEC_SEQ) {
        items = (const struct spec_node *const *)v->items;
        count = v->n;
        if (count == 0)
            return spec_error(v, d, "%s: the list is empty", what);
    }
    if (count > max)
        return spec_error(v, d, "%s: at most %zu, found %zu", what, max, count);
    for (size_t i = 0; i < count; i++) {
        const char *s;
        if (!items[i] || items[i]->kind != SPEC_SCALAR || spec_is_null(items[i]))
            return spec_error(items[i] ? items[i] : v, d,
                              "%s: expected a layer name or a list of names", what);
        if (spec_string(items[i], &s, d) < 0)
            return -1;
        refs[i] = (struct tref){.where = items[i], .name = s, .node = -1, .call = NO_CALL};
        if (strchr(s, '[') && parse_indices(g, items[i], &refs[i], d) < 0)
            return -1;
    }
    *n = count;
    return 0;
}

/* - Apply: {layer: NAME, inputs: ..., name: NAME} */
static int parse_apply(struct graph *g, const struct spec_node *key, const struct spec_node *v,
                       struct call **out, struct diag *d)
{
    static const char *const keys[] = {"layer", "inputs", "name"};
    if (!v || v->kind != SPEC_MAP)
        return spec_error(v ? v : key, d, "Apply takes a map {layer: NAME, inputs: ..., name: ...}");
    if (spec_check_keys(v, keys, 3, "Apply", d) < 0)
        return -1;
    const struct spec_node *layer = spec_get(v, "layer"), *name = spec_get(v, "name");
    const char *s;
    if (!layer)
        return spec_error(key, d, "Apply needs 'layer': the name of the layer to call again");
    if (spec_string(layer, &s, d) < 0)
        return -1;
    struct call *c = add_call(g, NO_CALL, key);
    c->target = layer;
    if (name) {
        if (spec_string(name, &c->name, d) < 0)
            return -1;
        if (!*c->name || strchr(c->name, '/'))
            return spec_error(name, d, "invalid name '%s'", c->name);
    }
    *out = c;
    return 0;
}

/* One entry of layers: a layer (its defining call) or an Apply. */
static int parse_entry(struct graph *g, const struct spec_node *entry, struct diag *d)
{
    static const char *const extra[] = {"inputs"};
    const struct spec_node *value = NULL;
    if (entry->kind == SPEC_MAP && entry->n == 1) {
        value = entry->items[0];
        if (!strcmp(entry->keys[0]->str, "Apply")) {
            struct call *c = NULL;
            if (parse_apply(g, entry->keys[0], value, &c, d) < 0)
                return -1;
            const struct spec_node *in = spec_get(value, "inputs");
            return in ? parse_names(g, in, "inputs", c->in, &c->n_in, NODE_MAX_INPUTS, d) : 0;
        }
    }
    struct layer *l = layer_list_push(&g->layers);
    if (model_parse_nnc_layer(entry, l, extra, 1, d) < 0)
        return -1;
    if (l->ops == input_ops())
        return spec_error(l->where, d, "an Input belongs under the model's inputs:");
    if (l->has_input_shape)
        return spec_error(l->where, d,
                          "a layer of a functional model takes no input shape: declare the "
                          "model's inputs under inputs:");
    struct call *c = add_call(g, g->layers.n - 1, l->where);
    const struct spec_node *in = value && value->kind == SPEC_MAP ? spec_get(value, "inputs") : NULL;
    return in ? parse_names(g, in, "inputs", c->in, &c->n_in, NODE_MAX_INPUTS, d) : 0;
}

int functional_load_nnc(struct model *m, const struct spec_node *root, struct diag *d)
{
    const struct spec_node *inputs = spec_get(root, "inputs"), *layers = spec_get(root, "layers");
    const struct spec_node *outputs = spec_get(root, "outputs");
    struct graph g = {0};
    int rc = -1;
    if (!inputs || inputs->kind != SPEC_SEQ || inputs->n == 0) {
        spec_error(inputs ? inputs : outputs, d,
                   "a functional model lists its inputs: '- Input: {name: ..., shape: [...]}'");
        goto out;
    }
    if (inputs->n > MODEL_MAX_IO) {
        spec_error(inputs, d, "at most %d inputs", MODEL_MAX_IO);
        goto out;
    }
    for (size_t i = 0; i < inputs->n; i++) {
        struct layer *l = layer_list_push(&g.layers);
        if (model_parse_nnc_layer(inputs->items[i], l, NULL, 0, d) < 0)
            goto out;
        if (l->ops != input_ops()) {
            spec_error(l->where, d, "inputs: lists Input layers ('- Input: {name: ..., shape: "
                       "[...]}'); %s belongs under layers:", l->ops->class_name);
            goto out;
        }
        add_call(&g, i, l->where);
        g.inputs[g.n_inputs++] = (struct tref){.where = l->where, .call = i};
    }
    if (!layers || layers->kind != SPEC_SEQ || layers->n == 0) {
        spec_error(layers ? layers : root, d, "the model file has no 'layers:' list");
        goto out;
    }
    if (model_check_layer_count(layers, d) < 0)
        goto out;
    for (size_t i = 0; i < layers->n; i++) {
        size_t prev = g.n_calls - 1;
        if (parse_entry(&g, layers->items[i], d) < 0)
            goto out;
        struct call *c = &g.calls[g.n_calls - 1];
        if (c->n_in == 0) {
            /* No inputs: the previous entry's output (the first layer takes
             * the model's only input). */
            if (i == 0 && g.n_inputs > 1) {
                spec_error(c->where, d, "the first layer needs 'inputs:' (the model has %zu "
                           "inputs)", g.n_inputs);
                goto out;
            }
            c->in[0] = (struct tref){.where = c->where, .call = prev};
            c->n_in = 1;
        }
    }
    if (outputs) {
        if (parse_names(&g, outputs, "outputs", g.outputs, &g.n_outputs, MODEL_MAX_IO, d) < 0)
            goto out;
    } else {
        g.outputs[0] = (struct tref){.where = layers, .call = g.n_calls - 1};
        g.n_outputs = 1;
    }
    model_assign_names(&g.layers);
    if (resolve_nnc(&g, d) < 0 || finish(m, &g, d) < 0)
        goto out;
    rc = 0;
out:
    graph_free(&g);
    return rc;
}

/* ---- Keras's form ---------------------------------------------------------------- */

/* [name, node, tensor] or [name, node, tensor, kwargs] (Keras 2); kwargs
 * must be empty: nnc has no call arguments. */
static int parse_triple(const struct spec_node *v, struct tref *r, bool kwargs_ok, struct diag *d)
{
    if (!v || v->kind != SPEC_SEQ || v->n < 3 || v->n > (kwargs_ok ? 4u : 3u))
        return spec_error(v, d, "expected [layer name, node index, tensor index%s]",
                          kwargs_ok ? ", {kwargs}" : "");
    *r = (struct tref){.where = v, .call = NO_CALL};
    if (spec_string(v->items[0], &r->name, d) < 0 || spec_long(v->items[1], &r->node, d) < 0 ||
        spec_long(v->items[2], &r->tensor, d) < 0)
        return -1;
    if (v->n == 4) {
        const struct spec_node *kw = v->items[3];
        if (kw->kind != SPEC_MAP && !spec_is_null(kw))
            return spec_error(kw, d, "expected the call's keyword arguments as a map");
        for (size_t i = 0; kw->kind == SPEC_MAP && i < kw->n; i++)
            if (!spec_is_null(kw->items[i]))
                return spec_error(kw->keys[i], d,
                                  "call argument '%s' is not supported by nnc", kw->keys[i]->str);
    }
    return 0;
}

/* Keras 3's tensor: {class_name: __keras_tensor__, config: {shape, dtype,
 * keras_history: [name, node, tensor]}}. */
static int parse_keras_tensor(const struct spec_node *v, struct tref *r, struct diag *d)
{
    const struct spec_node *cls = spec_get(v, "class_name"), *cfg = spec_get(v, "config");
    if (!cls || !cls->str || strcmp(cls->str, "__keras_tensor__") || !cfg)
        return spec_error(v, d, "expected a Keras tensor {class_name: __keras_tensor__, config}");
    const struct spec_node *h = spec_get(cfg, "keras_history");
    if (!h)
        return spec_error(cfg, d, "a Keras tensor without keras_history");
    if (parse_triple(h, r, false, d) < 0)
        return -1;
    r->where = v;
    return 0;
}

/* One inbound node: Keras 2's list of tensors, or Keras 3's {args, kwargs}
 * with tensors in args (a merge gets a list of them as its one argument). */
static int parse_inbound_node(const struct spec_node *v, struct call *c, struct diag *d)
{
    if (v && v->kind == SPEC_SEQ) {
        if (v->n == 0 || v->n > NODE_MAX_INPUTS)
            return spec_error(v, d, "an inbound node has 1 to %d tensors, found %zu",
                              NODE_MAX_INPUTS, v->n);
        for (size_t i = 0; i < v->n; i++)
            if (parse_triple(v->items[i], &c->in[c->n_in++], true, d) < 0)
                return -1;
        return 0;
    }
    static const char *const keys[] = {"args", "kwargs"};
    if (!v || v->kind != SPEC_MAP)
        return spec_error(v, d, "an inbound node is a list of [layer, node, tensor] or {args, "
                          "kwargs}");
    if (spec_check_keys(v, keys, 2, "an inbound node", d) < 0)
        return -1;
    const struct spec_node *args = spec_get(v, "args"), *kw = spec_get(v, "kwargs");
    if (!args || args->kind != SPEC_SEQ || args->n == 0)
        return spec_error(args ? args : v, d, "an inbound node needs a list of args");
    for (size_t i = 0; i < args->n; i++) {
        const struct spec_node *a = args->items[i];
        size_t n = a->kind == SPEC_SEQ ? a->n : 1;
        for (size_t j = 0; j < n; j++) {
            if (c->n_in == NODE_MAX_INPUTS)
                return spec_error(a, d, "at most %d inbound tensors", NODE_MAX_INPUTS);
            if (parse_keras_tensor(a->kind == SPEC_SEQ ? a->items[j] : a, &c->in[c->n_in++], d) <
                0)
                return -1;
        }
    }
    for (size_t i = 0; kw && kw->kind == SPEC_MAP && i < kw->n; i++) {
        const struct spec_node *val = kw->items[i];
        /* training: nnc runs a call in the mode of the pass. */
        if (spec_is_null(val) || (!strcmp(kw->keys[i]->str, "training") && val->str &&
                                (!strcmp(val->str, "false") || !strcmp(val->str, "true"))))
            continue;
        /* Keras 3's initial_state of a recurrent layer: nnc's inputs after
         * the first (as Keras 2 serializes them). */
        if (!strcmp(kw->keys[i]->str, "initial_state") && c->n_in == 1) {
            size_t n = val->kind == SPEC_SEQ ? val->n : 1;
            for (size_t j = 0; j < n; j++) {
                if (c->n_in == NODE_MAX_INPUTS)
                    return spec_error(val, d, "at most %d inbound tensors", NODE_MAX_INPUTS);
                const struct spec_node *t = val->kind == SPEC_SEQ ? val->items[j] : val;
                if (parse_keras_tensor(t, &c->in[c->n_in++], d) < 0)
                    return -1;
            }
            continue;
        }
        return spec_error(kw->keys[i], d, "call argument '%s' is not supported by nnc",
                          kw->keys[i]->str);
    }
    return 0;
}

static int parse_keras_entry(struct graph *g, const struct spec_node *entry, struct diag *d)
{
    struct layer *l = layer_list_push(&g->layers);
    size_t li = g->layers.n - 1;
    if (model_parse_keras_layer(entry, l, d) < 0)
        return -1;
    const struct spec_node *name = spec_get(entry, "name");
    const char *s;
    if (name && !spec_is_null(name)) {
        if (spec_string(name, &s, d) < 0)
            return -1;
        if (!l->name)
            l->name = xstrdup(s);
        else if (strcmp(s, l->name) != 0)
            return spec_error(name, d, "the layer is named '%s' here and '%s' in its config", s,
                              l->name);
    }
    if (!l->name)
        return spec_error(entry, d, "a layer of a functional model needs a name");
    const struct spec_node *in = spec_get(entry, "inbound_nodes");
    size_t n = in && in->kind == SPEC_SEQ ? in->n : 0;
    if (in && !spec_is_null(in) && in->kind != SPEC_SEQ)
        return spec_error(in, d, "inbound_nodes must be a list");
    if (l->ops == input_ops()) {
        if (n)
            return spec_error(in, d, "an InputLayer has no inbound nodes");
        add_call(g, li, l->where);
        return 0;
    }
    if (l->has_input_shape)
        return spec_error(l->where, d, "layer '%s' of a functional model takes no input shape",
                          l->name);
    if (n == 0)
        return spec_error(in ? in : entry, d, "layer '%s' is not called on anything "
                          "(inbound_nodes is empty)", l->name);
    for (size_t i = 0; i < n; i++) {
        struct call *c = add_call(g, li, in->items[i]);
        c->index = i;
        if (parse_inbound_node(in->items[i], c, d) < 0)
            return -1;
    }
    if (n > 0)
        g->calls[g->n_calls - n].where = l->where; /* node 0 is the layer's own */
    return 0;
}

/* input_layers / output_layers: a list of triples, or one triple. */
static int parse_io(const struct spec_node *v, const char *what, struct tref *refs, size_t *n,
                    const struct spec_node *at, struct diag *d)
{
    if (!v || v->kind != SPEC_SEQ || v->n == 0)
        return spec_error(v ? v : at, d, "the functional config needs %s", what);
    if (v->items[0]->kind != SPEC_SEQ) {
        *n = 1;
        return parse_triple(v, &refs[0], false, d);
    }
    if (v->n > MODEL_MAX_IO)
        return spec_error(v, d, "%s: at most %d", what, MODEL_MAX_IO);
    for (size_t i = 0; i < v->n; i++)
        if (parse_triple(v->items[i], &refs[i], false, d) < 0)
            return -1;
    *n = v->n;
    return 0;
}

int functional_load_keras(struct model *m, const struct spec_node *config, struct diag *d)
{
    static const char *const keys[] = {"name", "layers", "input_layers", "output_layers",
                                       "trainable", "dtype"};
    struct graph g = {0};
    int rc = -1;
    if (!config || config->kind != SPEC_MAP)
        return spec_error(config, d, "a functional config is a map {name, layers, input_layers, "
                          "output_layers}");
    if (spec_check_keys(config, keys, sizeof keys / sizeof keys[0], "the functional config", d) <
        0)
        return -1;
    const struct spec_node *layers = spec_get(config, "layers"), *name = spec_get(config, "name");
    const char *s;
    if (name && !spec_is_null(name)) {
        if (spec_string(name, &s, d) < 0)
            return -1;
        free(m->name);
        m->name = xstrdup(s);
    }
    if (!layers || layers->kind != SPEC_SEQ || layers->n == 0)
        return spec_error(layers ? layers : config, d, "the functional config has no layer list");
    if (model_check_layer_count(layers, d) < 0)
        return -1;
    for (size_t i = 0; i < layers->n; i++)
        if (parse_keras_entry(&g, layers->items[i], d) < 0)
            goto out;
    if (parse_io(spec_get(config, "input_layers"), "input_layers", g.inputs, &g.n_inputs, config,
                 d) < 0 ||
        parse_io(spec_get(config, "output_layers"), "output_layers", g.outputs, &g.n_outputs,
                 config, d) < 0)
        goto out;
    if (resolve_keras(&g, d) < 0 || finish(m, &g, d) < 0)
        goto out;
    rc = 0;
out:
    graph_free(&g);
    return rc;
}

/* ---- writing Keras's form ------------------------------------------------------- */

/* tf.keras 2's InputLayer config: {batch_input_shape, dtype, sparse, ragged,
 * name} (no trainable, no shape). */
static void input_config_to_json(const struct layer *l, struct json *j)
{
    json_object_begin(j);
    json_key(j, "batch_input_shape");
    layer_batch_shape_to_json(l, &l->input_shape, j);
    json_key(j, "dtype");
    json_string(j, "float32");
    json_key(j, "sparse");
    json_bool(j, false);
    json_key(j, "ragged");
    json_bool(j, false);
    json_key(j, "name");
    json_string(j, l->name);
    json_object_end(j);
}

static void tensor_to_json(const struct node *n, bool kwargs, struct json *j)
{
    json_array_begin(j);
    json_string(j, n->layer->name);
    json_long(j, (long)n->call);
    json_long(j, (long)n->tensor);
    if (kwargs) {
        json_object_begin(j);
        json_object_end(j);
    }
    json_array_end(j);
}

/* Keras 2's get_config of a functional model: the layers in model.layers
 * order, each with its inbound nodes (one per call, in call order), then
 * input_layers and output_layers. */
void model_functional_to_json(const struct model *m, struct json *j)
{
    json_object_begin(j);
    json_key(j, "name");
    json_string(j, m->name);
    json_key(j, "layers");
    json_array_begin(j);
    for (size_t i = 0; i < m->n_layers; i++) {
        const struct layer *l = &m->layers[i];
        json_object_begin(j);
        json_key(j, "class_name");
        json_string(j, l->ops->class_name);
        json_key(j, "config");
        if (l->ops == input_ops())
            input_config_to_json(l, j);
        else
            layer_config_to_json(l, false, j);
        json_key(j, "name");
        json_string(j, l->name);
        json_key(j, "inbound_nodes");
        json_array_begin(j);
        for (size_t call = 0; l->ops != input_ops(); call++) {
            const struct node *n = model_call_node(m, l, call);
            if (!n)
                break;
            json_array_begin(j);
            for (size_t k = 0; k < n->n_in; k++)
                tensor_to_json(n->in[k], true, j);
            json_array_end(j);
        }
        json_array_end(j);
        json_object_end(j);
    }
    json_array_end(j);
    json_key(j, "input_layers");
    json_array_begin(j);
    for (size_t i = 0; i < m->n_inputs; i++)
        tensor_to_json(m->inputs[i], false, j);
    json_array_end(j);
    json_key(j, "output_layers");
    json_array_begin(j);
    for (size_t i = 0; i < m->n_outputs; i++)
        tensor_to_json(m->outputs[i], false, j);
    json_array_end(j);
    json_object_end(j);
}
