/* None dimensions in a model's input shapes (input_shape: [null, 8], an
 * Embedding without input_length). Keras builds such a model once and runs
 * it on any length; nnc builds it for one length (layer_set_free_length):
 * the one each command's data gives, train's kept in the checkpoint
 * (nnc.free_length) for evaluate and predict when theirs gives none.
 * Weights never depend on the length (Keras refuses such a model), so
 * every build has the same ones. */
#ifndef NNC_FREE_LENGTH_H
#define NNC_FREE_LENGTH_H

#include <stdbool.h>
#include <stddef.h>

#include "model.h"
#include "model_file.h"

/* Two lengths to build with when the real one is not known (nnc summary,
 * and the first build here): large enough that no kernel or pool of a real
 * model shrinks them to nothing, and different, so sizes downstream differ. */
enum { FREE_LENGTH_PROBE = 1009, FREE_LENGTH_ALT = 1511 };

/* Whether some declared input shape has a None dimension. */
bool model_has_free_dims(const struct model *m);
/* The first layer whose weight count differs between two builds of one
 * model file, or NULL. */
const struct layer *model_weights_differ(const struct model *m, const struct model *alt);

/* The length of m's None dimensions: the one the command knows (a
 * checkpoint's), or else one its data gives from its values per sample
 * (*length 0: neither is known). m is a build with some length. */
typedef int (*free_length_fn)(void *ctx, const struct model *m, const struct model_file *mf,
                              size_t *length, struct diag *d);

/* model_load for a command that runs the model: a model without None
 * dimensions loads as it is; one with them is built for the length fn
 * finds. Errors: fn's, "DATA: 12 values a sample fit no length of the
 * input (None, 5)", no length known, weights that depend on the length. */
int model_load_free(const char *path, free_length_fn fn, void *ctx, struct model *m,
                    struct model_file *mf, struct diag *d);

/* A free_length_fn: the length a checkpoint nnc trained records
 * (nnc.free_length); ctx unused. */
int free_length_of_checkpoint(void *ctx, const struct model *m, const struct model_file *mf,
                              size_t *length, struct diag *d);

/* Where a command's length for None dimensions comes from
 * (free_length_of_data): its DATA files (none: standard input, or
 * --input), and how it reads a CSV. */
struct free_length_source {
    const char *const *paths;
    size_t n_paths;
    enum { LENGTH_FOR_TRAIN, LENGTH_FOR_EVALUATE, LENGTH_FOR_PREDICT } use;
};

/* A free_length_fn (ctx: struct free_length_source). train: the length
 * the data fills. evaluate, predict: the checkpoint's, unless the data
 * holds another number of values a sample that one length fills: Keras
 * runs a model with None dimensions on any length, and model_load_free
 * checks that the weights do not depend on it. (predict's CSV holds the
 * features alone, or the training data's columns; evaluate's the
 * training data's.) Data that fits no length is left to the command's
 * loader to report, when the checkpoint has a length. */
int free_length_of_data(void *ctx, const struct model *m, const struct model_file *mf,
                        size_t *length, struct diag *d);

/* The length for None dimensions from `values` values per sample of m's
 * first input (m built with any length): the one length L for which the
 * input shape holds `values` values; source names the data in errors. */
int free_length_from_values(const struct model *m, size_t values, const char *source,
                            size_t *length, struct diag *d);

#endif
