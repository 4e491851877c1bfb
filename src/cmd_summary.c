/* nnc summary MODEL: the Keras summary table on stdout. */
#include <stdbool.h>
#include <stdio.h>

#include "commands.h"
#include "free_length.h"
#include "model_file.h"
#include "summary.h"

int report(const struct diag *d)
{
    fprintf(stderr, "nnc: %s\n", d->msg);
    return 1;
}

int cmd_summary(const struct cli_args *a)
{
    struct model m, alt;
    struct model_file mf, mf_alt;
    struct diag d;
    layer_set_free_length(FREE_LENGTH_PROBE);
    if (model_load(a->positional[0], &m, &mf, &d) < 0)
        return report(&d);
    bool free_dims = model_has_free_dims(&m);
    if (free_dims) {
        layer_set_free_length(FREE_LENGTH_ALT);
        if (model_load(a->positional[0], &alt, &mf_alt, &d) < 0) {
            model_free(&m);
            model_file_close(&mf);
            return report(&d);
        }
        /* Weights cannot depend on a None length (Keras refuses such a
         * model: a Dense after Flatten needs a defined last axis). */
        const struct layer *l = model_weights_differ(&m, &alt);
        if (l) {
            spec_error(l->where, &d,
                       "layer '%s': its weights depend on the length of a None "
                       "dimension; give that length",
                       l->name);
            model_free(&alt);
            model_file_close(&mf_alt);
            model_free(&m);
            model_file_close(&mf);
            return report(&d);
        }
    }
    summary_print_alt(&m, free_dims ? &alt : NULL, stdout);
    if (free_dims) {
        model_free(&alt);
        model_file_close(&mf_alt);
    }
    model_free(&m);
    model_file_close(&mf);
    return fflush(stdout) == 0 ? 0 : 1;
}
