/* Checkpoint directories (see checkpoint.h): writing one by the
 * write-aside-then-rename swap, and removing one. The files' contents come
 * from checkpoint_json.c (model.json) and checkpoint_file.c (the float32
 * files); reading is in checkpoint_weights.c and checkpoint_meta.c.
 * Nothing here trains or prints. */
/* fsync, lstat, fileno, getpid: POSIX (the Makefile defines it too). */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include "checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "checkpoint_priv.h"

static const char *const ckpt_files[] = {CKPT_MODEL, CKPT_WEIGHTS, CKPT_OPTIMIZER};
#define N_CKPT_FILES (sizeof ckpt_files / sizeof ckpt_files[0])

/* ---- the directory swap ---------------------------------------------------- */

static bool is_ckpt_file(const char *name)
{
    for (size_t i = 0; i < N_CKPT_FILES; i++)
        if (!strcmp(name, ckpt_files[i]))
            return true;
    return false;
}

/* Checks that path is absent (*exists = false) or a directory holding
 * nothing but regular files named like ours, so replacing it can never
 * delete anything else. */
static int check_replaceable(const char *path, bool *exists, struct diag *d)
{
    struct stat st;
    *exists = false;
    if (lstat(path, &st) < 0) {
        if (errno == ENOENT)
            return 0;
        diag_at(d, path, 0, 0, "cannot inspect: %s", strerror(errno));
        return -1;
    }
    if (S_ISLNK(st.st_mode)) {
        diag_at(d, path, 0, 0, "is a symbolic link; nnc writes checkpoints to real directories");
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        diag_at(d, path, 0, 0, "exists and is not a directory; not replacing it with a checkpoint");
        return -1;
    }
    DIR *dir = opendir(path);
    if (!dir) {
        diag_at(d, path, 0, 0, "cannot read directory: %s", strerror(errno));
        return -1;
    }
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(dir)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        struct stat fst;
        char *p = ckpt_path_join(path, e->d_name);
        if (!is_ckpt_file(e->d_name) || lstat(p, &fst) < 0 || !S_ISREG(fst.st_mode)) {
            diag_at(d, path, 0, 0,
                    "holds '%s', which is not part of an nnc checkpoint; not replacing the "
                    "directory (choose another output or remove it)",
                    e->d_name);
            rc = -1;
        }
        free(p);
    }
    closedir(dir);
    *exists = true;
    return rc;
}

/* Removes our files from a directory, then the directory (which
 * check_replaceable or we ourselves made sure holds nothing else). */
static int remove_ckpt_dir(const char *path)
{
    int rc = 0;
    for (size_t i = 0; i < N_CKPT_FILES; i++) {
        char *p = ckpt_path_join(path, ckpt_files[i]);
        if (unlink(p) < 0 && errno != ENOENT)
            rc = -1;
        free(p);
    }
    if (rmdir(path) < 0)
        rc = -1;
    return rc;
}

int checkpoint_remove(const char *dir)
{
    return remove_ckpt_dir(dir);
}

/* Makes renames and new files durable; some file systems cannot sync a
 * directory, which is not an error for us. */
static void sync_dir(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return;
    (void)fsync(fd);
    close(fd);
}

/* Writes the three files into tmp. */
static int write_all(const char *tmp, const char *target, const struct model *m,
                     const struct ckpt_meta *meta, const float *opt_state, size_t n_state,
                     struct diag *d)
{
    FILE *f = ckpt_create_in(tmp, target, CKPT_MODEL, d);
    if (!f)
        return -1;
    ckpt_write_model_json(f, m, meta, n_state > 0);
    if (ckpt_close_synced(f, target, CKPT_MODEL, d) < 0)
        return -1;
    if (ckpt_save_floats(tmp, target, CKPT_WEIGHTS, m->w, m->n_weights, d) < 0)
        return -1;
    if (n_state > 0 && ckpt_save_floats(tmp, target, CKPT_OPTIMIZER, opt_state, n_state, d) < 0)
        return -1;
    sync_dir(tmp);
    return 0;
}

/* Write aside, then swap: target.tmp-PID is filled and synced, the old
 * checkpoint (if any) is renamed to target.old-PID, the new one renamed
 * into place, and the old one deleted. rename() cannot replace a non-empty
 * directory, hence two renames; between them (an instant) the previous
 * checkpoint exists only as target.old-PID, never damaged. */
int checkpoint_save(const char *dir, const struct model *m, const struct ckpt_meta *meta,
                    const float *opt_state, size_t n_state, struct diag *d)
{
    NNC_ASSERT((m->w || m->n_weights == 0) && (n_state == 0 || opt_state));
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/')
        len--;
    if (len == 0 || (len == 1 && dir[0] == '/')) {
        diag_set(d, "'%s' is not a valid checkpoint directory", dir);
        return -1;
    }
    char *target = xmalloc(len + 1);
    memcpy(target, dir, len);
    target[len] = '\0';
    size_t n = len + 32;
    char *tmp = xmalloc(n), *old = xmalloc(n);
    snprintf(tmp, n, "%s.tmp-%ld", target, (long)getpid());
    snprintf(old, n, "%s.old-%ld", target, (long)getpid());
    char *parent = ckpt_parent_dir(target);
    int rc = -1;
    bool exists, stale;

    if (check_replaceable(target, &exists, d) < 0)
        goto out;
    /* A leftover of an earlier run with our pid: only ever our own files. */
    if (check_replaceable(tmp, &stale, d) < 0)
        goto out;
    if (stale && remove_ckpt_dir(tmp) < 0) {
        diag_at(d, tmp, 0, 0, "cannot remove this leftover: %s", strerror(errno));
        goto out;
    }
    if (mkdir(tmp, 0777) < 0) {
        diag_at(d, target, 0, 0, "cannot create %s: %s", tmp, strerror(errno));
        goto out;
    }
    if (write_all(tmp, target, m, meta, opt_state, n_state, d) < 0) {
        remove_ckpt_dir(tmp);
        goto out;
    }
    if (exists && rename(target, old) < 0) {
        diag_at(d, target, 0, 0, "cannot move the previous checkpoint aside to %s: %s", old,
                strerror(errno));
        remove_ckpt_dir(tmp);
        goto out;
    }
    if (rename(tmp, target) < 0) {
        int err = errno;
        if (exists)
            (void)rename(old, target);
        remove_ckpt_dir(tmp);
        diag_at(d, target, 0, 0, "cannot rename %s into place: %s", tmp, strerror(err));
        goto out;
    }
    sync_dir(parent);
    if (exists && remove_ckpt_dir(old) < 0) {
        diag_at(d, target, 0, 0, "checkpoint written, but the previous one is left in %s: %s",
                old, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    free(parent);
    free(old);
    free(tmp);
    free(target);
    return rc;
}
