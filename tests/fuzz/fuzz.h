/* Shared by the fuzz targets (tests/fuzz/fuzz_*.c): a private scratch
 * directory (removed at exit) where each input is written as the file the
 * reader under test opens, and a sink for printed output. The library's
 * readers take paths, so the targets go through real files, as nnc does.
 * Harness failures (disk full, ...) abort: they are not findings. */
#ifndef NNC_FUZZ_H
#define NNC_FUZZ_H

#include <dirent.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char fuzz_dir_path[256];

static inline void fuzz_die(const char *what)
{
    perror(what);
    abort();
}

/* Removes every file of the scratch directory, then (at exit) the directory. */
static inline void fuzz_clean(const char *dir)
{
    DIR *dp = opendir(dir);
    if (!dp)
        return;
    struct dirent *e;
    char p[512];
    while ((e = readdir(dp))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (unlink(p) < 0 && rmdir(p) < 0)
            fuzz_clean(p), rmdir(p);
    }
    closedir(dp);
}

static inline void fuzz_remove_dir(void)
{
    fuzz_clean(fuzz_dir_path);
    rmdir(fuzz_dir_path);
}

/* The scratch directory: in /dev/shm when there is one (no disk traffic). */
static inline const char *fuzz_dir(void)
{
    if (fuzz_dir_path[0])
        return fuzz_dir_path;
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    snprintf(fuzz_dir_path, sizeof fuzz_dir_path, "%s/nnc-fuzz.XXXXXX", base ? base : "/tmp");
    if (!mkdtemp(fuzz_dir_path))
        fuzz_die("mkdtemp");
    atexit(fuzz_remove_dir);
    return fuzz_dir_path;
}

/* dir/name, in a static buffer per slot (0..3). */
static inline const char *fuzz_path(int slot, const char *name)
{
    static char buf[4][512];
    snprintf(buf[slot], sizeof buf[slot], "%s/%s", fuzz_dir(), name);
    return buf[slot];
}

static inline void fuzz_write(const char *path, const void *data, size_t size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        fuzz_die(path);
    const char *p = data;
    while (size > 0) {
        ssize_t n = write(fd, p, size);
        if (n <= 0)
            fuzz_die("write");
        p += n;
        size -= (size_t)n;
    }
    if (close(fd) < 0)
        fuzz_die("close");
}

/* Where printed output goes (summaries, predictions). */
static inline FILE *fuzz_sink(void)
{
    static FILE *f;
    if (!f && !(f = fopen("/dev/null", "w")))
        fuzz_die("/dev/null");
    return f;
}

/* With FUZZ_VERBOSE set, says how far an input got (to check that the
 * seeds reach the code they are meant for). */
static inline void fuzz_note(const char *stage, const char *msg)
{
    static int verbose = -1;
    if (verbose < 0)
        verbose = getenv("FUZZ_VERBOSE") != NULL;
    if (verbose)
        fprintf(stderr, "  %s: %s\n", stage, msg ? msg : "ok");
}

/* The first occurrence of a marker in data[0..size), or NULL. */
static inline const uint8_t *fuzz_find(const uint8_t *data, size_t size, const char *marker)
{
    size_t m = strlen(marker);
    for (size_t i = 0; m <= size && i <= size - m; i++)
        if (data[i] == (uint8_t)marker[0] && !memcmp(data + i, marker, m))
            return data + i;
    return NULL;
}

#endif
