/* The tf.keras 2 summary table (keras/utils/layer_utils.py print_summary):
 * Sequential-like models use a line length of 65 with columns ending at
 * int(65 * .45) = 29, int(65 * .85) = 55 and 65. Each field is appended,
 * cut at its column's end and padded to it, and the character before the
 * next field becomes a space. Parameter counts in rows are plain integers;
 * totals use thousands separators ("{:,}"). */
#include "summary.h"

#include <string.h>

#define LINE_LENGTH 65

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

static void print_rule(FILE *out, char c)
{
    for (int i = 0; i < LINE_LENGTH; i++)
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

void summary_print(const struct model *m, FILE *out)
{
    static const int positions[] = {29, 55, 65};
    static const char *const header[] = {"Layer (type)", "Output Shape", "Param #"};
    fprintf(out, "Model: \"%s\"\n", m->name);
    print_rule(out, '_');
    print_row(out, header, positions, 3);
    print_rule(out, '=');
    /* A Sequential model does not list its InputLayer. */
    for (size_t i = 1; i < m->n_nodes; i++) {
        const struct node *n = &m->nodes[i];
        char name[300], shape[160], params[32];
        snprintf(name, sizeof name, "%s (%s)", n->layer->name, n->layer->ops->class_name);
        shape_format(&n->out, shape, sizeof shape);
        if (m->layers[0].batch_size) { /* a fixed batch size shows instead of None */
            char num[24];
            size_t k = (size_t)snprintf(num, sizeof num, "(%ld", m->layers[0].batch_size);
            size_t rest = strlen(shape + 5); /* after "(None" */
            if (k + rest < sizeof shape) {
                memmove(shape + k, shape + 5, rest + 1);
                memcpy(shape, num, k);
            }
        }
        snprintf(params, sizeof params, "%zu",
                 layer_count_params(n->layer, true) + layer_count_params(n->layer, false));
        const char *fields[] = {name, shape, params};
        print_row(out, fields, positions, 3);
        print_rule(out, i + 1 == m->n_nodes ? '=' : '_');
    }
    char a[40], b[40], c[40];
    size_t trainable = model_count_params(m, true), frozen = model_count_params(m, false);
    fprintf(out, "Total params: %s\n", with_commas(trainable + frozen, a, sizeof a));
    fprintf(out, "Trainable params: %s\n", with_commas(trainable, b, sizeof b));
    fprintf(out, "Non-trainable params: %s\n", with_commas(frozen, c, sizeof c));
    print_rule(out, '_');
}
