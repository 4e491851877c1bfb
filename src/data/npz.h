/* NPZ files: a zip archive of NPY members ("x.npy", "y.npy"), as numpy's
 * savez (stored) and savez_compressed (deflated) write them. Our own zip
 * reader over zlib's inflate: the central directory (zip64 records and
 * extra fields included) is the authority; data descriptors need nothing
 * more. Sizes are checked against each other and against the file, and a
 * deflated member is never inflated past the size its NPY header and the
 * directory agree on. Members are named "data.npz(x.npy)" in messages. */
#ifndef NNC_NPZ_H
#define NNC_NPZ_H

#include <stdbool.h>

#include "array.h"

struct npz;

/* Maps path and reads the central directory. The caller npz_closes. */
int npz_open(const char *path, struct npz **out, struct diag *d);
void npz_close(struct npz *z);

size_t npz_n_members(const struct npz *z);
const char *npz_member_name(const struct npz *z, size_t i);
/* A located error on path: no member `wanted` (what was looked for), with
 * the members the archive holds. Returns -1. */
int npz_no_member(const struct npz *z, const char *path, const char *wanted, struct diag *d);
/* Whether the archive holds a member of that name ("x.npy"). */
bool npz_has(const struct npz *z, const char *member);

/* Loads a member: a stored one stays mapped from the file, a deflated one
 * is inflated into a buffer the array owns. The CRC-32 is checked. */
int npz_load(const struct npz *z, const char *member, struct array *a, struct diag *d);

#endif
