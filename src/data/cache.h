/* The binary data cache: a CSV converted once into float32 rows that later
 * runs memory-map instead of parsing the text again. A cache file is
 *   header (magic, then u64 fields in the machine's byte order),
 *   x (n, n_x) float32, y (n, n_y) float32, w (n) float32 if has_w,
 *   line (n) u64 if has_lines (each at a 64-byte boundary),
 *   class names (NUL-terminated, one after the other). It lives in the cache directory
 * ($NNC_CACHE_DIR, else $XDG_CACHE_HOME/nnc, else $HOME/.cache/nnc) under a
 * name made from a hash of the source's path and everything that shaped the
 * rows (columns, CSV options, loss, classes); the header holds the hash of
 * all that and the source's size, mtime and inode.
 * A file whose header, key or size does not check out (a changed source
 * included) is rebuilt; it is
 * written aside and renamed, so an interrupted conversion leaves none. */
#ifndef NNC_CACHE_H
#define NNC_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../diag.h"

struct dataset;

#define DATA_CACHE_VERSION 1

/* Set by the commands: 1 prints "nnc: using cache ..." and "nnc: wrote
 * cache ..." on stderr (-v 2). */
extern int data_cache_verbose;

/* A key being built: FNV-1a 64 over what is fed to it. name leaves out
 * the source's size, mtime and inode (the cache file's name: one file per
 * source and mapping); h has everything (checked against the header). */
struct cache_key {
    uint64_t h, name;
};

/* Starts a key for the regular file `path`: 0, or -1 when the file must not
 * be cached (stdin, a pipe, smaller than $NNC_CACHE_MIN bytes, default
 * 64 MiB, or caching switched off with NNC_CACHE_DIR=off). */
int cache_key_start(struct cache_key *k, const char *path);
void cache_key_add(struct cache_key *k, const void *bytes, size_t n);
void cache_key_add_size(struct cache_key *k, size_t v);
struct csv_options;
/* Adds what changes a CSV's parse: header, delimiter, missing values, comment. */
void cache_key_add_csv(struct cache_key *k, const struct csv_options *opt);

/* Adds another file (an array's targets) to the key: its path to both
 * hashes, its size, mtime and inode to h. -1 when it is not a regular file. */
int cache_key_add_file(struct cache_key *k, const char *path);
/* A scratch file next to the cache file cpath (its name plus the process
 * id and tag), unlinked at once so that it is never left behind; NULL if
 * it cannot be made. */
FILE *cache_scratch_file(const char *cpath, const char *tag);

/* The cache file for a key (malloc'd), creating the directory; NULL when
 * there is no usable directory. */
char *cache_file_path(const struct cache_key *k);

/* Maps the cache at path into ds (x, y, line point into the map; w is a
 * copy ds owns) and, when classes is non-NULL, hands its class names over
 * (*classes malloc'd, NULL when none). 1 on a hit, 0 when the file is
 * missing or invalid (an invalid one is removed), never an error. */
int cache_open(const char *path, const struct cache_key *k, struct dataset *ds, char ***classes,
               size_t *n_classes);
/* Writing a cache while the CSV is read: x rows as they come, then the
 * other blocks (by row) once the rows are counted, then commit writes the
 * class names and the header, syncs and renames the file into place.
 * Every call is -1 once a write failed (the cache is then simply not
 * written: commit removes the partial file; -v 2 says why). */
struct cache_out {
    const char *path, *source; /* source: for the -v 2 note, set by the caller */
    char *tmp;
    int fd, failed;
    size_t n, n_x, n_y;
    bool has_w, has_lines;
};
enum cache_block { CACHE_Y, CACHE_W, CACHE_LINE };

int cache_out_open(struct cache_out *o, const char *path, size_t n_x, size_t n_y, bool has_w,
                   bool has_lines);
/* Appends `rows` rows of n_x floats. */
int cache_out_x(struct cache_out *o, const float *x, size_t rows);
/* Rows first .. first+rows of block b (y: n_y floats a row, w: a float,
 * line: a u64) after every x row was appended. */
int cache_out_block(struct cache_out *o, enum cache_block b, size_t first, const void *p,
                    size_t rows);
int cache_out_commit(struct cache_out *o, const struct cache_key *k, size_t first_line,
                     char *const *classes, size_t n_classes);
/* Removes the partial file (after an error in the data). */
void cache_out_abort(struct cache_out *o);

/* Drops the map's resident pages (they are read again from the page cache
 * when needed): keeps the resident memory bounded while epochs sweep a
 * large cache. No-op for a dataset in memory. */
void cache_release_pages(const struct dataset *ds);

/* The same for the pages of [p, p + n) of any read-only file map. */
void cache_release_range(const void *p, size_t n);

/* Validates a header + size (exposed for the unit tests). */
int cache_check(const unsigned char *map, size_t len, uint64_t key, size_t *offsets);

#endif
