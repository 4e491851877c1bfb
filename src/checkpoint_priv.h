/* Private to the checkpoint files (checkpoint.c, checkpoint_file.c,
 * checkpoint_json.c, checkpoint_weights.c, checkpoint_meta.c): the file
 * names inside a checkpoint directory, paths, the float32 little-endian
 * encoding and the model.json writer. Returned strings are the caller's
 * to free. */
#ifndef NNC_CHECKPOINT_PRIV_H
#define NNC_CHECKPOINT_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "checkpoint.h"
#include "diag.h"
#include "model.h"
#include "model_file.h"
#include "spec.h"

/* The files of a checkpoint; the only names checkpoint_save ever deletes. */
#define CKPT_MODEL "model.json"
#define CKPT_WEIGHTS "weights.bin"
#define CKPT_OPTIMIZER "optimizer.bin"

/* Floats per read/write chunk. */
#define CKPT_CHUNK 4096

/* ---- checkpoint_file.c: paths and float32 files ---- */
char *ckpt_path_join(const char *dir, const char *name); /* "dir/name" */
char *ckpt_parent_dir(const char *path);                 /* "." without a slash */
/* The directory holding a loaded model.json. */
char *ckpt_dir(const struct model_file *mf);
/* A file name from model.json, relative to the checkpoint directory (no
 * leading '/', no ".." component): *out points into n. */
int ckpt_check_rel_path(const struct spec_node *n, const char **out, struct diag *d);
/* The float32 at p, little-endian. Inline: loading a checkpoint converts
 * every weight through it (a call each took 1.7 ms of a 2 MB MLP's load). */
static inline float ckpt_get_f32le(const unsigned char *p)
{
    uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    float v;
    memcpy(&v, &u, sizeof v);
    return v;
}
/* Reads exactly the whole of path (n floats) into dst; `what` names them
 * in errors. */
int ckpt_read_floats_file(const char *path, float *dst, size_t n, const char *what, struct diag *d);
/* Creates tmp/name for writing; errors name the checkpoint `target`. */
FILE *ckpt_create_in(const char *tmp, const char *target, const char *name, struct diag *d);
/* Flushes, syncs and closes f (always closed). */
int ckpt_close_synced(FILE *f, const char *target, const char *name, struct diag *d);
/* Writes tmp/name: n floats, float32 little-endian, synced. */
int ckpt_save_floats(const char *tmp, const char *target, const char *name, const float *x,
                     size_t n, struct diag *d);

/* ---- checkpoint_json.c: model.json ---- */
/* meta may be NULL (an empty "nnc" key); has_state: optimizer.bin is written
 * too. */
void ckpt_write_model_json(FILE *f, const struct model *m, const struct ckpt_meta *meta,
                           bool has_state);

#endif
