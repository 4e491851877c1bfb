/* The tf.keras 2 summary table (keras/utils/layer_utils.py print_summary):
 * Sequential-like models use a line length of 65 with columns ending at
 * int(65 * .45) = 29, int(65 * .85) = 55 and 65; other functional models a
 * line length of 98, columns ending at int(98 * .33) = 32, int(98 * .55) =
 * 53, int(98 * .67) = 65 and 98, and a "Connected to" column. Each field
 * is appended, cut at its column's end and padded to it, and the character
 * before the next field becomes a space. Parameter counts in rows are
 * plain integers; totals use thousands separators ("{:,}"). */
#include "summary.h"

#include <stdbool.h>
#include <string.h>

#define SEQ_LENGTH 65
#define FUNC_LENGTH 98

static void print_row(FILE *out, const char *const *fields, const int *positions, int n)
{
    char line[512] = "";
    size_t len = 0;
    for (int i = 0; i < n; i++) {
        if (i > 0 && len > 0)
            line[len - 1] = ' ';
        size_t flen = strlen(fields[i]);
        if (len + flen >= sizeof line)
            flen = sizeof line - len - 1;
        memcpy(line + len, fields[i], flen);
        len += flen;
        if (len > (size_t)positions[i])
            len = (size_t)positions[i];
        while (len < (size_t)positions[i])
            line[len++] = ' ';
        line[len] = '\0';
    }
    fprintf(out, "%s\n", line);
}

static void print_rule(FILE *out, char c, int length)
{
    for (int i = 0; i < length; i++)
        fputc(c, out);
    fputc('\n', out);
}

/* Python's "{:,}". */
static const char *with_commas(size_t v, char *buf, size_t size)
{
    char digits[32];
    int n = snprintf(digits, sizeof digits, "%zu", v);
    size_t k = 0;
    for (int i = 0; i < n && k + 2 < size; i++) {
        if (i > 0 && (n - i) % 3 == 0)
            buf[k++] = ',';
        buf[k++] = digits[i];
    }
    buf[k] = '\0';
    return buf;
}

/* Keras's sequential_like test for a functional model: every depth holds
 * one node, no node has several inbound tensors, no layer is called twice
 * in the model. */
static bool sequential_like(const struct model *m)
{
    if (m->sequential)
        return true;
    for (size_t i = 0; i < m->n_nodes; i++) {
        const struct node *n = &m->nodes[i];
        if (n->n_in > 1 || n->call > 0)
            return false;
        for (size_t j = 0; j < i; j++)
            if (m->nodes[j].depth == n->depth)
                return false;
    }
    return true;
}

/* One shape as Python prints the tuple: the batch axis None unless the
 * batch size is fixed, and None where the model built with another length
 * for its None dimensions (alt_s, or NULL) has another size. */
#define SHAPE_TEXT 160

static void format_shape(const struct model *m, const struct shape *s, const struct shape *alt_s,
                         char *shape)
{
    long batch = model_batch_size(m);
    size_t len = batch ? (size_t)snprintf(shape, SHAPE_TEXT, "(%ld", batch)
                       : (size_t)snprintf(shape, SHAPE_TEXT, "(None");
    for (int i = 0; i < s->rank && len < SHAPE_TEXT; i++) {
        if (alt_s && alt_s->dim[i] != s->dim[i])
            len += (size_t)snprintf(shape + len, SHAPE_TEXT - len, ", None");
        else
            len += (size_t)snprintf(shape + len, SHAPE_TEXT - len, ", %zu", s->dim[i]);
    }
    if (len < SHAPE_TEXT)
        snprintf(shape + len, SHAPE_TEXT - len, s->rank == 0 ? ",)" : ")");
}

/* The same shape in the alternative build (NULL without one). */
static const struct shape *alt_shape(const struct model *m, const struct model *alt,
                                     const struct node *n)
{
    if (!alt)
        return NULL;
    if (n >= m->nodes && n < m->nodes + m->n_nodes)
        return &alt->nodes[n - m->nodes].out;
    return &alt->more[n - m->more].out;
}

/* Output Shape: an InputLayer's output is a list of one shape in tf.keras 2
 * ("[(None, 4)]"), a multi-output layer's the list of its outputs' shapes
 * ("[(None, 8), (None, 8), (None, 8)]", Python's str of the list). */
static void format_output(const struct model *m, const struct model *alt, const struct layer *l,
                          char *buf, size_t size)
{
    const struct node *n = model_call_node(m, l, 0);
    char shape[SHAPE_TEXT];
    format_shape(m, &l->out_shape, n ? alt_shape(m, alt, n) : NULL, shape);
    if (l->ops == layer_find("InputLayer")) {
        snprintf(buf, size, "[%s]", shape);
        return;
    }
    if (!n || n->n_more == 0) {
        snprintf(buf, size, "%s", shape);
        return;
    }
    size_t len = (size_t)snprintf(buf, size, "[%s", shape);
    for (size_t k = 0; k < n->n_more && len < size; k++) {
        format_shape(m, &n->more[k]->out, alt_shape(m, alt, n->more[k]), shape);
        len += (size_t)snprintf(buf + len, size - len, ", %s", shape);
    }
    if (len < size)
        snprintf(buf + len, size - len, "]");
}

static void print_totals(const struct model *m, FILE *out, int length)
{
    char a[40], b[40], c[40];
    size_t trainable = model_count_params(m, true), frozen = model_count_params(m, false);
    fprintf(out, "Total params: %s\n", with_commas(trainable + frozen, a, sizeof a));
    fprintf(out, "Trainable params: %s\n", with_commas(trainable, b, sizeof b));
    fprintf(out, "Non-trainable params: %s\n", with_commas(frozen, c, sizeof c));
    print_rule(out, '_', length);
}

/* The rows of a Sequential-like model: a Sequential model's layers (not its
 * InputLayer), or every layer of a functional chain. */
static void print_sequential(const struct model *m, const struct model *alt, FILE *out)
{
    static const int positions[] = {29, 55, SEQ_LENGTH};
    static const char *const header[] = {"Layer (type)", "Output Shape", "Param #"};
    print_rule(out, '_', SEQ_LENGTH);
    print_row(out, header, positions, 3);
    print_rule(out, '=', SEQ_LENGTH);
    size_t first = m->sequential ? 1 : 0;
    for (size_t i = first; i < m->n_layers; i++) {
        const struct layer *l = &m->layers[i];
        char name[300], shape[LAYER_MAX_OUTPUTS * (SHAPE_TEXT + 2) + 4], params[32];
        snprintf(name, sizeof name, "%s (%s)", l->name, l->ops->class_name);
        format_output(m, alt, l, shape, sizeof shape);
        snprintf(params, sizeof params, "%zu",
                 layer_count_params(l, true) + layer_count_params(l, false));
        const char *fields[] = {name, shape, params};
        print_row(out, fields, positions, 3);
        print_rule(out, i + 1 == m->n_layers ? '=' : '_', SEQ_LENGTH);
    }
    print_totals(m, out, SEQ_LENGTH);
}

/* A layer's inbound tensors over its calls in the model, in call order,
 * as "name[node][tensor]", one row each after the layer's first. */
static void print_functional_layer(const struct model *m, const struct model *alt,
                                   const struct layer *l, FILE *out)
{
    static const int positions[] = {32, 53, 65, FUNC_LENGTH};
    char name[300], shape[LAYER_MAX_OUTPUTS * (SHAPE_TEXT + 2) + 4], params[32], conn[300];
    snprintf(name, sizeof name, "%s (%s)", l->name, l->ops->class_name);
    format_output(m, alt, l, shape, sizeof shape);
    snprintf(params, sizeof params, "%zu",
             layer_count_params(l, true) + layer_count_params(l, false));
    size_t n_conn = 0;
    for (size_t call = 0;; call++) {
        const struct node *n = model_call_node(m, l, call);
        if (!n)
            break;
        for (size_t k = 0; k < n->n_in; k++, n_conn++) {
            snprintf(conn, sizeof conn, "%s[%zu][%zu]", n->in[k]->layer->name, n->in[k]->call,
                     n->in[k]->tensor);
            const char *fields[] = {n_conn ? "" : name, n_conn ? "" : shape, n_conn ? "" : params,
                                    conn};
            print_row(out, fields, positions, 4);
        }
    }
    if (n_conn == 0) {
        const char *fields[] = {name, shape, params, ""};
        print_row(out, fields, positions, 4);
    }
}

void summary_print(const struct model *m, FILE *out) { summary_print_alt(m, NULL, out); }

void summary_print_alt(const struct model *m, const struct model *alt, FILE *out)
{
    fprintf(out, "Model: \"%s\"\n", m->name);
    if (sequential_like(m)) {
        print_sequential(m, alt, out);
        return;
    }
    static const int positions[] = {32, 53, 65, FUNC_LENGTH};
    static const char *const header[] = {"Layer (type)", "Output Shape", "Param #",
                                         "Connected to"};
    print_rule(out, '_', FUNC_LENGTH);
    print_row(out, header, positions, 4);
    print_rule(out, '=', FUNC_LENGTH);
    for (size_t i = 0; i < m->n_layers; i++) {
        print_functional_layer(m, alt, &m->layers[i], out);
        print_rule(out, i + 1 == m->n_layers ? '=' : '_', FUNC_LENGTH);
    }
    print_totals(m, out, FUNC_LENGTH);
}
