/* Private to the model-file readers (model_file.c, model_functional.c):
 * layer entries in nnc's and Keras's forms, lists of parsed layers and
 * their default names. A layer_list owns its layers until they move into
 * a model; layer_list_free releases what is left. */
#ifndef NNC_MODEL_PARSE_H
#define NNC_MODEL_PARSE_H

#include <stddef.h>

#include "layer.h"
#include "model.h"
#include "spec.h"

struct layer_list {
    struct layer *items;
    size_t n, cap;
};

/* A zeroed slot at the end of the list. */
struct layer *layer_list_push(struct layer_list *ll);
void layer_list_free(struct layer_list *ll);

/* "- Flatten" or "- Dense: {...}"; extra_keys are keys the caller reads
 * itself from the argument map (the functional form's "inputs"). */
int model_parse_nnc_layer(const struct spec_node *entry, struct layer *l,
                          const char *const *extra_keys, size_t n_extra, struct diag *d);
/* {class_name: Dense, config: {...}} (name and inbound_nodes beside them
 * are the caller's). */
int model_parse_keras_layer(const struct spec_node *entry, struct layer *l, struct diag *d);
/* tf.keras default names for the layers that have none (dense, dense_1,
 * ..., input_1, ...), in list order. */
void model_assign_names(struct layer_list *ll);
int model_check_unique_names(const struct layer_list *ll, struct diag *d);
/* At most 10000 entries in a layers: list (a located error), so that no
 * file can make the per-layer checks take long. */
int model_check_layer_count(const struct spec_node *layers, struct diag *d);

/* Functional models (model_functional.c). The nnc form: the model file's
 * inputs:, layers: and outputs: (SPEC 2.2); Keras's: a Functional/Model
 * config {name, layers (with inbound_nodes), input_layers, output_layers}
 * (SPEC 2.3). Both set m->name when the file names the model, and build
 * the model (model_build). */
int functional_load_nnc(struct model *m, const struct spec_node *root, struct diag *d);
int functional_load_keras(struct model *m, const struct spec_node *config, struct diag *d);

/* compile_outputs.c: compile's loss (required), loss_weights and metrics
 * (either may be NULL) over the built model's outputs. */
int compile_parse_outputs(struct model *m, const struct spec_node *loss,
                          const struct spec_node *loss_weights, const struct spec_node *metrics,
                          struct diag *d);

#endif
