/* The binary data cache (see cache.h). */
#include "cache.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csv.h"
#include "dataset.h"

int data_cache_verbose;

static const char magic[8] = {'N', 'N', 'C', 'D', 'A', 'T', 'A', '\n'};

/* The header's u64 fields, after the magic. */
enum { H_VERSION, H_KEY, H_N, H_NX, H_NY, H_HAS_W, H_HAS_LINES, H_FIRST_LINE, H_N_CLASSES,
       H_CLASS_BYTES, H_FILE_SIZE, H_COUNT };
#define HEADER_BYTES (sizeof magic + H_COUNT * sizeof(uint64_t))

/* Block offsets: classes, x, y, w, line, end. */
enum { O_CLASSES, O_X, O_Y, O_W, O_LINE, O_END, O_COUNT };

static void note(const char *fmt, const char *a, const char *b)
{
    if (data_cache_verbose) {
        fprintf(stderr, "nnc: ");
        fprintf(stderr, fmt, a, b);
        fputc('\n', stderr);
    }
}

void cache_key_add(struct cache_key *k, const void *bytes, size_t n)
{
    const unsigned char *p = bytes;
    for (size_t i = 0; i < n; i++) {
        k->h = (k->h ^ p[i]) * 0x100000001b3ULL;
        k->name = (k->name ^ p[i]) * 0x100000001b3ULL;
    }
}

void cache_key_add_size(struct cache_key *k, size_t v)
{
    uint64_t u = v;
    cache_key_add(k, &u, sizeof u);
}

void cache_key_add_csv(struct cache_key *k, const struct csv_options *opt)
{
    cache_key_add_size(k, (size_t)(opt->header + 1));
    cache_key_add_size(k, (size_t)opt->delimiter);
    cache_key_add_size(k, opt->has_na);
    cache_key_add(k, &opt->na_value, opt->has_na ? sizeof opt->na_value : 0);
    const char *comment = opt->comment ? opt->comment : "";
    cache_key_add(k, comment, strlen(comment) + 1);
}

static const char *cache_dir_env(void)
{
    const char *dir = getenv("NNC_CACHE_DIR");
    return dir && dir[0] ? dir : NULL;
}

int cache_key_start(struct cache_key *k, const char *path)
{
    const char *dir = cache_dir_env();
    if (!strcmp(path, "-") || (dir && !strcmp(dir, "off")))
        return -1;
    struct stat st;
    if (stat(path, &st) < 0 || !S_ISREG(st.st_mode) || sizeof(size_t) != sizeof(uint64_t))
        return -1;
    unsigned long long min = 64ULL << 20;
    const char *m = getenv("NNC_CACHE_MIN");
    if (m && m[0])
        min = strtoull(m, NULL, 10);
    if ((unsigned long long)st.st_size < min)
        return -1;
    k->h = k->name = 0xcbf29ce484222325ULL;
    static const char tag[] = "nnc data cache";
    cache_key_add(k, tag, sizeof tag);
    cache_key_add_size(k, DATA_CACHE_VERSION);
    return cache_key_add_file(k, path);
}

int cache_key_add_file(struct cache_key *k, const char *path)
{
    struct stat st;
    char *real;
    if (stat(path, &st) < 0 || !S_ISREG(st.st_mode) || !(real = realpath(path, NULL)))
        return -1;
    cache_key_add(k, real, strlen(real) + 1);
    free(real);
    uint64_t name = k->name;
    cache_key_add_size(k, (size_t)st.st_size);
    cache_key_add_size(k, (size_t)st.st_ino);
    cache_key_add_size(k, (size_t)st.st_dev);
    cache_key_add_size(k, (size_t)st.st_mtim.tv_sec);
    cache_key_add_size(k, (size_t)st.st_mtim.tv_nsec);
    k->name = name;
    return 0;
}

FILE *cache_scratch_file(const char *cpath, const char *tag)
{
    size_t n = strlen(cpath) + 48;
    char *p = xmalloc(n);
    snprintf(p, n, "%s.%ld.%s", cpath, (long)getpid(), tag);
    FILE *f = fopen(p, "w+b");
    if (f)
        unlink(p);
    free(p);
    return f;
}

/* mkdir -p for the cache directory. */
static int make_dirs(char *dir)
{
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        int rc = mkdir(dir, 0700);
        *p = '/';
        if (rc < 0 && errno != EEXIST)
            return -1;
    }
    return mkdir(dir, 0700) < 0 && errno != EEXIST ? -1 : 0;
}

char *cache_file_path(const struct cache_key *k)
{
    const char *env = cache_dir_env(), *base = NULL, *sub = "";
    if (env) {
        base = env;
    } else if ((base = getenv("XDG_CACHE_HOME")) && base[0] == '/') {
        sub = "/nnc";
    } else if ((base = getenv("HOME")) && base[0]) {
        sub = "/.cache/nnc";
    } else {
        return NULL;
    }
    size_t n = strlen(base) + strlen(sub) + 40;
    char *dir = xmalloc(n);
    snprintf(dir, n, "%s%s", base, sub);
    if (make_dirs(dir) < 0) {
        note("cannot create the cache directory %s: %s", dir, strerror(errno));
        free(dir);
        return NULL;
    }
    char *path = xmalloc(n);
    snprintf(path, n, "%s/%016llx.nncdata", dir, (unsigned long long)k->name);
    free(dir);
    return path;
}

static size_t align64(size_t v) { return (v + 63) & ~(size_t)63; }

/* Block offsets from the header's counts; -1 when they overflow. */
static int layout(const uint64_t *h, size_t *o)
{
    size_t xb, yb, v;
    if (h[H_N] > SIZE_MAX / 64 || h[H_CLASS_BYTES] > SIZE_MAX / 4 ||
        size_mul(h[H_N], h[H_NX], &v) < 0 || size_mul(v, sizeof(float), &xb) < 0 ||
        size_mul(h[H_N], h[H_NY], &v) < 0 || size_mul(v, sizeof(float), &yb) < 0 ||
        xb > SIZE_MAX / 4 || yb > SIZE_MAX / 4)
        return -1;
    size_t wb = h[H_HAS_W] ? h[H_N] * sizeof(float) : 0;
    size_t lb = h[H_HAS_LINES] ? h[H_N] * sizeof(uint64_t) : 0;
    o[O_X] = align64(HEADER_BYTES);
    o[O_Y] = align64(o[O_X] + xb);
    o[O_W] = align64(o[O_Y] + yb);
    o[O_LINE] = align64(o[O_W] + wb);
    o[O_CLASSES] = o[O_LINE] + lb;
    o[O_END] = o[O_CLASSES] + h[H_CLASS_BYTES];
    return 0;
}

int cache_check(const unsigned char *map, size_t len, uint64_t key, size_t *o)
{
    uint64_t h[H_COUNT];
    if (len < HEADER_BYTES || memcmp(map, magic, sizeof magic))
        return -1;
    memcpy(h, map + sizeof magic, sizeof h);
    if (h[H_VERSION] != DATA_CACHE_VERSION || h[H_KEY] != key || h[H_N] == 0 ||
        h[H_HAS_W] > 1 || h[H_HAS_LINES] > 1 || h[H_FILE_SIZE] != len || layout(h, o) < 0 ||
        o[O_END] != len || h[H_N_CLASSES] > h[H_CLASS_BYTES])
        return -1;
    /* The class block: exactly n_classes NUL-terminated names. */
    const unsigned char *c = map + o[O_CLASSES];
    size_t names = 0;
    for (size_t i = 0; i < h[H_CLASS_BYTES]; i++)
        names += c[i] == '\0';
    if (names != h[H_N_CLASSES] || (h[H_CLASS_BYTES] && c[h[H_CLASS_BYTES] - 1] != '\0'))
        return -1;
    return 0;
}

int cache_open(const char *path, const struct cache_key *k, struct dataset *ds, char ***classes,
               size_t *n_classes)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    struct stat st;
    void *map = MAP_FAILED;
    if (fstat(fd, &st) == 0 && st.st_size > 0)
        map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    size_t len = (size_t)st.st_size, o[O_COUNT];
    if (map == MAP_FAILED || cache_check(map, len, k->h, o) < 0) {
        close(fd);
        if (map != MAP_FAILED)
            munmap(map, len);
        note("%s is not a valid cache%s; rebuilding it", path, "");
        unlink(path);
        return 0;
    }
    const unsigned char *p = map;
    uint64_t h[H_COUNT];
    memcpy(h, p + sizeof magic, sizeof h);
    ds->map = map;
    ds->map_len = len;
    ds->mapped = true;
    ds->fd = fd;
    ds->base = p;
    ds->n = h[H_N];
    ds->n_x = h[H_NX];
    ds->n_y = h[H_NY];
    ds->first_line = h[H_FIRST_LINE];
    ds->x = (float *)(p + o[O_X]);
    ds->y = (float *)(p + o[O_Y]);
    ds->line = h[H_HAS_LINES] ? (size_t *)(p + o[O_LINE]) : NULL;
    ds->w = NULL;
    if (h[H_HAS_W]) { /* a copy: class_weight scales it */
        ds->w = xmalloc(ds->n * sizeof *ds->w);
        memcpy(ds->w, p + o[O_W], ds->n * sizeof *ds->w);
    }
    if (classes) {
        *n_classes = h[H_N_CLASSES];
        *classes = NULL;
        if (*n_classes) {
            *classes = xcalloc(*n_classes, sizeof **classes);
            const char *c = (const char *)p + o[O_CLASSES];
            for (size_t i = 0; i < *n_classes; i++) {
                (*classes)[i] = xstrdup(c);
                c += strlen(c) + 1;
            }
        }
    }
    note("using cache %s for %s", path, ds->source ? ds->source : "");
    return 1;
}

static int pwrite_all(int fd, const void *buf, size_t n, size_t at)
{
    const unsigned char *p = buf;
    while (n) {
        ssize_t got = pwrite(fd, p, n > (1u << 30) ? (1u << 30) : n, (off_t)at);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return -1;
        p += got;
        n -= (size_t)got;
        at += (size_t)got;
    }
    return 0;
}

/* Removes PATH.PID.tmp files that a conversion killed midway left behind:
 * those whose process no longer exists (a live one may be converting the
 * same source right now). */
static void remove_stale_tmp(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = xstrdup(slash ? path : ".");
    if (slash)
        dir[slash - path] = '\0';
    const char *base = slash ? slash + 1 : path;
    size_t base_len = strlen(base);
    DIR *dp = opendir(dir);
    for (struct dirent *e; dp && (e = readdir(dp));) {
        const char *name = e->d_name;
        if (strncmp(name, base, base_len) != 0 || name[base_len] != '.')
            continue;
        char *end;
        long pid = strtol(name + base_len + 1, &end, 10);
        if (pid <= 0 || end == name + base_len + 1 || strcmp(end, ".tmp") != 0 ||
            pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        size_t n = strlen(dir) + strlen(name) + 2;
        char *stale = xmalloc(n);
        snprintf(stale, n, "%s/%s", dir, name);
        unlink(stale);
        free(stale);
    }
    if (dp)
        closedir(dp);
    free(dir);
}

int cache_out_open(struct cache_out *o, const char *path, size_t n_x, size_t n_y, bool has_w,
                   bool has_lines)
{
    remove_stale_tmp(path);
    memset(o, 0, sizeof *o);
    size_t n = strlen(path) + 32;
    o->tmp = xmalloc(n);
    snprintf(o->tmp, n, "%s.%ld.tmp", path, (long)getpid());
    o->path = path;
    o->n_x = n_x;
    o->n_y = n_y;
    o->has_w = has_w;
    o->has_lines = has_lines;
    o->fd = open(o->tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (o->fd < 0) {
        note("could not write the cache %s: %s", o->tmp, strerror(errno));
        free(o->tmp);
        o->tmp = NULL;
        return -1;
    }
    return 0;
}

int cache_out_x(struct cache_out *o, const float *x, size_t rows)
{
    size_t at = align64(HEADER_BYTES) + o->n * o->n_x * sizeof *x;
    if (!o->failed && pwrite_all(o->fd, x, rows * o->n_x * sizeof *x, at) < 0)
        o->failed = errno ? errno : EIO;
    o->n += rows;
    return o->failed ? -1 : 0;
}

int cache_out_block(struct cache_out *o, enum cache_block b, size_t first, const void *p,
                    size_t rows)
{
    uint64_t h[H_COUNT] = {0};
    h[H_N] = o->n;
    h[H_NX] = o->n_x;
    h[H_NY] = o->n_y;
    h[H_HAS_W] = o->has_w;
    h[H_HAS_LINES] = o->has_lines;
    size_t off[O_COUNT], width = b == CACHE_Y ? o->n_y * sizeof(float)
                                 : b == CACHE_W ? sizeof(float) : sizeof(uint64_t);
    if (layout(h, off) < 0) {
        o->failed = EOVERFLOW;
        return -1;
    }
    size_t at = off[b == CACHE_Y ? O_Y : b == CACHE_W ? O_W : O_LINE] + first * width;
    if (!o->failed && pwrite_all(o->fd, p, rows * width, at) < 0)
        o->failed = errno ? errno : EIO;
    return o->failed ? -1 : 0;
}

int cache_out_commit(struct cache_out *o, const struct cache_key *k, size_t first_line,
                     char *const *classes, size_t n_classes)
{
    uint64_t h[H_COUNT] = {0};
    h[H_VERSION] = DATA_CACHE_VERSION;
    h[H_KEY] = k->h;
    h[H_N] = o->n;
    h[H_NX] = o->n_x;
    h[H_NY] = o->n_y;
    h[H_HAS_W] = o->has_w;
    h[H_HAS_LINES] = o->has_lines;
    h[H_FIRST_LINE] = first_line;
    h[H_N_CLASSES] = n_classes;
    for (size_t i = 0; i < n_classes; i++)
        h[H_CLASS_BYTES] += strlen(classes[i]) + 1;
    size_t off[O_COUNT] = {0};
    if (!o->failed && layout(h, off) < 0)
        o->failed = EOVERFLOW;
    h[H_FILE_SIZE] = off[O_END];
    size_t at = off[O_CLASSES];
    for (size_t i = 0; !o->failed && i < n_classes; i++) {
        size_t len = strlen(classes[i]) + 1;
        if (pwrite_all(o->fd, classes[i], len, at) < 0)
            o->failed = errno;
        at += len;
    }
    if (!o->failed && (ftruncate(o->fd, (off_t)off[O_END]) < 0 ||
                       pwrite_all(o->fd, magic, sizeof magic, 0) < 0 ||
                       pwrite_all(o->fd, h, sizeof h, sizeof magic) < 0 || fsync(o->fd) < 0))
        o->failed = errno ? errno : EIO;
    if (close(o->fd) < 0 && !o->failed)
        o->failed = errno;
    o->fd = -1;
    if (!o->failed && rename(o->tmp, o->path) < 0)
        o->failed = errno;
    if (o->failed) {
        note("could not write the cache %s: %s", o->path, strerror(o->failed));
        cache_out_abort(o);
        return -1;
    }
    note("wrote cache %s for %s", o->path, o->source ? o->source : "");
    free(o->tmp);
    o->tmp = NULL;
    return 0;
}

void cache_out_abort(struct cache_out *o)
{
    if (o->fd >= 0)
        close(o->fd);
    o->fd = -1;
    if (o->tmp)
        unlink(o->tmp);
    free(o->tmp);
    o->tmp = NULL;
}

/* MADV_DONTNEED over the pages that hold [p, p + n): a read-only shared
 * file map loses only its resident copies. The range is widened to whole
 * pages, which all belong to the map (a map covers whole pages). */
void cache_release_range(const void *p, size_t n)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE); /* (called from the loader thread too) */
    uintptr_t a = (uintptr_t)p & ~(uintptr_t)(page - 1);
    uintptr_t b = ((uintptr_t)p + n + page - 1) & ~(uintptr_t)(page - 1);
    if (n)
        madvise((void *)a, b - a, MADV_DONTNEED);
}

void cache_release_pages(const struct dataset *ds)
{
    if (!ds->mapped)
        return;
    cache_release_range(ds->x, ds->n * ds->n_x * sizeof *ds->x);
    if (!ds->y_owned)
        cache_release_range(ds->y, ds->n * ds->n_y * sizeof *ds->y);
    if (ds->line)
        cache_release_range(ds->line, ds->n * sizeof *ds->line);
}
