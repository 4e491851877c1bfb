/* loader_micro: the batch loader's cost a row, without any compute: every
 * batch of a shuffled epoch gathered and taken (src/loader.c), for the
 * dataset nnc train would load from DATA (a model file's data, or arrays),
 * with the rows read through the map (resident, as arrays in memory would
 * be), with pread for all rows (NNC_MAP_RESIDENT=0), and as the default
 * bound (256 MiB) decides. Prints the process CPU time and the wall time a
 * row of each epoch; on a loaded machine the CPU time is the steadier
 * figure, and it is what the loader takes from the compute threads.
 *
 *   make && cc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -Isrc $(pkg-config --cflags openblas) \
 *       bench/loader_micro.c build/libnnc.a -o build/loader_micro \
 *       $(pkg-config --libs openblas yaml-0.1) -lcsv -lz -lm -lpthread
 *   build/loader_micro MODEL.yaml DATA... [--epochs N] [--batch B]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "data/cache.h"
#include "data/dataset.h"
#include "loader.h"
#include "model_file.h"
#include "rng.h"

static double wall(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static double cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

int main(int argc, char **argv)
{
    const char *paths[4];
    size_t n_paths = 0, bs = 1024;
    int epochs = 2;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--epochs") && i + 1 < argc)
            epochs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc)
            bs = (size_t)atol(argv[++i]);
        else if (n_paths < 4)
            paths[n_paths++] = argv[i];
    }
    if (argc < 3 || n_paths == 0) {
        fprintf(stderr, "usage: loader_micro MODEL.yaml DATA... [--epochs N] [--batch B]\n");
        return 2;
    }
    struct model m;
    struct model_file mf;
    struct diag d;
    struct data_conf dc;
    struct ckpt_meta meta = {0};
    struct dataset ds;
    if (model_load(argv[1], &m, &mf, &d) < 0 || data_conf_parse(mf.data, &dc, &d) < 0 ||
        dataset_load_train_files(paths, n_paths, &dc, &m, &ds, &meta, &d) < 0) {
        fprintf(stderr, "loader_micro: %s\n", d.msg);
        return 1;
    }
    model_workspace(&m, bs);
    size_t *perm = malloc(ds.n * sizeof *perm);
    struct rng r;
    rng_seed(&r, 1);
    printf("%zu rows of %zu + %zu floats, map %zu MB, batch %zu\n", ds.n, ds.n_x, ds.n_y,
           ds.map_len >> 20, bs);
    static const char *modes[][2] = {{"through the map", "1000000000000000"},
                                     {"pread every row", "0"},
                                     {"default bound", NULL}};
    for (int mode = 0; mode < 3; mode++) {
        if (modes[mode][1])
            setenv("NNC_MAP_RESIDENT", modes[mode][1], 1);
        else
            unsetenv("NNC_MAP_RESIDENT");
        struct loader ld;
        loader_start(&ld, &m, &ds, bs);
        long seq = 0;
        for (int e = 0; e < epochs; e++) {
            for (size_t i = 0; i < ds.n; i++)
                perm[i] = i;
            for (size_t i = ds.n; i > 1; i--) {
                size_t j = (size_t)(rng_uniform(&r) * (double)i);
                size_t t = perm[i - 1];
                perm[i - 1] = perm[j < i ? j : i - 1];
                perm[j < i ? j : i - 1] = t;
            }
            double w0 = wall(), c0 = cpu();
            for (size_t first = 0; first < ds.n; first += bs) {
                size_t B = ds.n - first < bs ? ds.n - first : bs;
                loader_take(&ld, &m, seq++, perm, first, B);
            }
            double w = wall() - w0, c = cpu() - c0;
            printf("%-16s epoch %d: %6.0f ns CPU a row, %6.0f ns wall\n", modes[mode][0], e + 1,
                   c / (double)ds.n * 1e9, w / (double)ds.n * 1e9);
        }
        loader_stop(&ld);
        cache_release_pages(&ds);
    }
    free(perm);
    dataset_free(&ds);
    ckpt_meta_free(&meta);
    model_free(&m);
    return 0;
}
