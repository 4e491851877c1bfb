/* Keras-style fit callbacks (keras/callbacks.py): a callback type is an ops
 * table, parsed from one entry of the model file's fit.callbacks list and
 * called by train_fit at train begin, epoch begin, batch end, epoch end and
 * train end. Hooks see a struct fit_state: the model, the run's meta, the
 * logs of the batch or epoch by name, and a stop flag. */
#ifndef NNC_CALLBACK_H
#define NNC_CALLBACK_H

#include <stdbool.h>
#include <stddef.h>

#include "checkpoint.h"
#include "diag.h"
#include "model.h"
#include "spec.h"

#define FIT_MAX_LOGS (2 * MODEL_MAX_VALUES + 2)

/* Saves the model being trained to a checkpoint directory (cmd_train wraps
 * checkpoint_save). weights_only: Keras's save_weights; nnc writes the same
 * TensorFlow.js checkpoint, without optimizer.bin. */
typedef int (*fit_save_fn)(void *ctx, const char *path, bool weights_only, struct diag *d);
/* Loads a checkpoint written by the save hook into the run being trained:
 * weights, optimizer state, meta (epoch, iterations, history) and the
 * random stream, as --resume does (BackupAndRestore). */
typedef int (*fit_restore_fn)(void *ctx, const char *path, struct diag *d);

struct fit_state {
    struct model *m;        /* weights m->w; the optimizer m->compile.optimizer */
    struct ckpt_meta *meta; /* epoch (completed), iterations, history */
    long epoch;             /* the current epoch, 0-based (Keras's `epoch`) */
    long batch;             /* the current batch within the epoch, 0-based */
    /* Logs: at batch end the running train values (loss, metrics); at epoch
     * end also val_*. Callbacks may add (ReduceLROnPlateau adds "lr"). */
    size_t n_logs;
    char names[FIT_MAX_LOGS][80];
    double values[FIT_MAX_LOGS];
    bool stop;              /* Keras's model.stop_training */
    fit_save_fn save;       /* NULL: saving is an error */
    fit_restore_fn restore; /* NULL: restoring is an error */
    void *save_ctx;         /* for both */
};

/* Replaces the logs with names[0..n) = values[0..n). */
void fit_state_logs(struct fit_state *fs, const char *const *names, const double *values,
                    size_t n);
/* The logged value called name, or NULL. */
double *fit_log(struct fit_state *fs, const char *name);
/* Sets (or adds) a log. */
void fit_log_set(struct fit_state *fs, const char *name, double value);
/* The monitored value, or NULL after a one-time warning on stderr (Keras
 * warns and skips when the monitor is absent from the logs). */
const double *fit_monitor(struct fit_state *fs, const char *who, const char *monitor,
                          bool *warned);

struct callback_type {
    const char *class_name;
    /* Reads the config map (NULL: all defaults) into a new instance *self;
     * unknown keys and bad values are located errors. */
    int (*parse)(const struct spec_node *config, const struct spec_node *where, void **self,
                 struct diag *d);
    /* Hooks (each may be NULL); returning -1 with d set aborts the fit. */
    int (*train_begin)(void *self, struct fit_state *fs, struct diag *d);
    int (*epoch_begin)(void *self, struct fit_state *fs, struct diag *d);
    int (*batch_end)(void *self, struct fit_state *fs, struct diag *d);
    int (*epoch_end)(void *self, struct fit_state *fs, struct diag *d);
    int (*train_end)(void *self, struct fit_state *fs, struct diag *d);
    void (*free)(void *self);
};

struct callback {
    const struct callback_type *type;
    void *self;
};

/* fit.callbacks, and the save hook train_fit hands to the callbacks. */
struct callback_list {
    size_t n;
    struct callback *items;
    fit_save_fn save;
    fit_restore_fn restore;
    void *save_ctx;
};

/* A list of entries: `Name`, `{Name: {config}}` or
 * `{class_name: Name, config: {...}}` (names compare case-insensitively,
 * underscores ignored: early_stopping = EarlyStopping). */
int callback_list_parse(const struct spec_node *list, struct callback_list *out,
                        struct diag *d);
void callback_list_free(struct callback_list *cl);

/* Calls one hook of every callback, in list order (Keras's CallbackList). */
enum callback_hook { CB_TRAIN_BEGIN, CB_EPOCH_BEGIN, CB_BATCH_END, CB_EPOCH_END, CB_TRAIN_END };
int callbacks_call(const struct callback_list *cl, enum callback_hook which,
                   struct fit_state *fs, struct diag *d);

/* Helpers for the types' parse functions. */
enum cb_mode { CB_MODE_AUTO, CB_MODE_MIN, CB_MODE_MAX };
int cb_arg_mode(const struct spec_node *v, enum cb_mode *out, struct diag *d);
int cb_arg_double(const struct spec_node *v, double *out, struct diag *d);
int cb_arg_long(const struct spec_node *v, long lo, long *out, struct diag *d);
int cb_arg_bool(const struct spec_node *v, bool *out, struct diag *d);
/* A string copied into buf (size bytes); too long is an error. */
int cb_arg_string(const struct spec_node *v, char *buf, size_t size, struct diag *d);
/* The shortest text that reads back as v (Python's repr of a float). */
void cb_format_double(char *buf, size_t size, double v);

#endif
