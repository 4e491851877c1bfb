/* The binary data cache: a CSV converted once into float32 rows that later
 * runs memory-map instead of parsing the text again. A cache file is
 *   header (struct below, little-endian u64 fields after the magic),
 *   class names (NUL-terminated, one after the other),
 *   x (n, n_x) float32, y (n, n_y) float32, w (n) float32 if has_w,
 *   line (n) u64 if has_lines,
 * each block at a 64-byte boundary. It lives in the cache directory
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

/* The cache file for a key (malloc'd), creating the directory; NULL when
 * there is no usable directory. */
char *cache_file_path(const struct cache_key *k);

/* Maps the cache at path into ds (x, y, line point into the map; w is a
 * copy ds owns) and, when classes is non-NULL, hands its class names over
 * (*classes malloc'd, NULL when none). 1 on a hit, 0 when the file is
 * missing or invalid (an invalid one is removed), never an error. */
int cache_open(const char *path, const struct cache_key *k, struct dataset *ds, char ***classes,
               size_t *n_classes);
/* Writes ds (and the class names) to path, aside then renamed. 0, or -1
 * (the cache is simply not written; the reason is printed at -v 2). */
int cache_write(const char *path, const struct cache_key *k, const struct dataset *ds,
                char *const *classes, size_t n_classes);

/* Drops the map's resident pages (they are read again from the page cache
 * when needed): keeps the resident memory bounded while epochs sweep a
 * large cache. No-op for a dataset in memory. */
void cache_release_pages(const struct dataset *ds);

/* Validates a header + size (exposed for the unit tests). */
int cache_check(const unsigned char *map, size_t len, uint64_t key, size_t *offsets);

#endif
