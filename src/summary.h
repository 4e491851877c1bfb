/* model.summary() as tf.keras 2 prints it, character for character. */
#ifndef NNC_SUMMARY_H
#define NNC_SUMMARY_H

#include <stdio.h>

#include "model.h"

void summary_print(const struct model *m, FILE *out);
/* The same for a model with None dimensions: m and alt are the model built
 * with two lengths for them (layer_set_free_length); a size that differs
 * between the two prints as None. alt may be NULL. */
void summary_print_alt(const struct model *m, const struct model *alt, FILE *out);

#endif
