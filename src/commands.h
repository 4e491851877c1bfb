/* The command layer: each command parses its arguments, calls the library
 * and prints; it is the only place that prints errors ("nnc: ..."). Each
 * returns the process exit status (0, 1 failure, 2 usage). */
#ifndef NNC_COMMANDS_H
#define NNC_COMMANDS_H

#include "cli.h"
#include "diag.h"

int cmd_summary(const struct cli_args *a);
int cmd_train(const struct cli_args *a);
int cmd_evaluate(const struct cli_args *a);
int cmd_predict(const struct cli_args *a);
int cmd_history(const struct cli_args *a);
int cmd_plot(const struct cli_args *a);

/* Prints "nnc: MESSAGE" and returns 1. */
int report(const struct diag *d);



#include "checkpoint.h"
#include "model.h"
#include "model_file.h"

struct free_length_source;
/* Loads a checkpoint (or a model.json with weights) ready to run; a model
 * with None dimensions is built for the length of src's data, or else the
 * checkpoint's (src NULL: the checkpoint's; free_length.h). */
int load_trained(const char *path, const struct free_length_source *src, struct model *m,
                 struct model_file *mf, struct ckpt_meta *meta, struct diag *d);
struct data_conf;
struct dataset;
/* The data of train (meta receives the training data's mapping) and
 * evaluate (meta holds it): the DATA arguments after the model, or
 * --input NAME=FILE / --target NAME=FILE. Returns 0, -1 on a data error,
 * -2 on a usage error (both or neither given); d holds the message. */
int load_data(const struct cli_args *a, bool train, const struct data_conf *dc,
              const struct model *m, struct ckpt_meta *meta, struct dataset *ds, struct diag *d);
/* Loads a checkpoint's model and meta (not its weights); an empty history
 * is an error. */
int load_history(const char *path, struct model *m, struct model_file *mf,
                 struct ckpt_meta *meta, struct diag *d);
#endif
