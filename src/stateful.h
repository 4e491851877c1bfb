/* What running a model with stateful recurrent layers asks of fit,
 * evaluate and predict (Keras: a stateful RNN needs a fixed batch size,
 * carries sample i's state to sample i of the next batch, and makes no
 * sense with shuffled batches). The states themselves live in the model's
 * workspace (model_reset_states). */
#ifndef NNC_STATEFUL_H
#define NNC_STATEFUL_H

#include <stdbool.h>
#include <stddef.h>

#include "diag.h"
#include "model.h"

/* The first stateful layer, or NULL. */
const struct layer *stateful_layer(const struct model *m);
/* Fit with a stateful layer: the batch size is the model's fixed one,
 * shuffle is off, and the training and validation sample counts are
 * multiples of the batch size. Errors name the layer (located at it) or the
 * data. 0 when the model has no stateful layer. */
int stateful_check_fit(const struct model *m, long batch_size, bool shuffle, size_t n_train,
                       const char *train_source, size_t n_val, const char *val_source,
                       struct diag *d);
/* Evaluate and predict: the batch size to use, the model's fixed one for a
 * stateful model (an error when another was given), else `batch_size`.
 * Returns -1 on error. */
long stateful_batch_size(const struct model *m, bool given, long batch_size, struct diag *d);

#endif
