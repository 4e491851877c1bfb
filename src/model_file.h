/* Reading model files: nnc's YAML (SPEC 2.1), Keras's to_json/to_yaml
 * serialization and TensorFlow.js model.json (SPEC 2.3), including nnc's own
 * checkpoints (a directory holding model.json). The parsed document stays
 * open in struct model_file so the fit: and data: sections can be read by the
 * commands; model_file_close releases it. */
#ifndef NNC_MODEL_FILE_H
#define NNC_MODEL_FILE_H

#include <stdbool.h>

#include "model.h"
#include "spec.h"

struct model_file {
    struct spec_doc doc;
    char *path;                    /* the file actually read */
    char *dir;                     /* checkpoint directory, or NULL */
    const struct spec_node *fit;   /* fit: section or NULL */
    const struct spec_node *data;  /* data: section or NULL */
    const struct spec_node *nnc;   /* checkpoint: the "nnc" key */
    const struct spec_node *weights_manifest;
};

/* Loads and builds the model (shapes, parameter layout, compile settings);
 * weights are not initialized. */
int model_load(const char *path, struct model *m, struct model_file *mf, struct diag *d);
void model_file_close(struct model_file *mf);
/* The layer type a class-name node names (aliases included), or a located
 * "unknown layer" / "not supported yet" error. */
const struct layer_ops *model_file_layer_type(const struct spec_node *key, struct diag *d);

#endif
