/* Scaffolding shared by the test programs (linked into every one, like
 * netcheck.c): models from YAML text and their expected load errors, whole
 * files in and out, and what a writer prints captured as a string. Checks
 * fail through Check's ck_assert, so call these inside a START_TEST.
 * Returned strings are the caller's to free. */
#ifndef NNC_TEST_FIXTURES_H
#define NNC_TEST_FIXTURES_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <check.h>

#include "../src/diag.h"
#include "../src/json.h"
#include "../src/layer.h"
#include "../src/model.h"
#include "../src/model_file.h"

/* ---- models from YAML text ---- */

/* model_load on YAML text (written to a temporary file, removed at once);
 * returns its result, the message in d. */
int load_model_text(const char *yaml, struct model *m, struct model_file *mf, struct diag *d);
/* Loading yaml must fail with a message containing want; when line > 0, the
 * message must be located on that line ("file:LINE:col: ..."). */
void expect_model_error(const char *yaml, const char *want, int line);

/* ---- files ---- */

/* The whole file, NUL-terminated; its size in *len unless len is NULL. */
char *file_contents(const char *path, size_t *len);
/* Creates or replaces path with len bytes of data. */
void file_put(const char *path, const void *data, size_t len);

/* dir/name, in one of 4 rotating static buffers (the 5th call reuses the
 * first's). */
const char *path_in(const char *dir, const char *name);

/* ---- captured output ---- */

/* What is written to c->f between capture_open and capture_close. */
struct capture {
    char *text;
    size_t len;
    FILE *f;
    struct json j;
};
FILE *capture_open(struct capture *c);
/* capture_open plus a JSON writer on the stream. */
struct json *capture_json(struct capture *c);
/* Closes the stream; returns the text (the caller frees it). */
char *capture_close(struct capture *c);
/* summary_print's table. */
char *summary_text(const struct model *m);
/* layer_to_json's Keras config of l (first: as the model's first layer). */
char *layer_json_text(const struct layer *l, bool first);
/* The same for the layer of node `node` (in m.nodes order) of the model
 * that yaml describes. */
char *yaml_layer_json(const char *yaml, size_t node, bool first);

/* ---- running ---- */

/* Runs every test of s (Check's normal output) and frees it: the test
 * program's exit status, EXIT_SUCCESS when none failed. */
int run_suite(Suite *s);

#endif
