/* csv_parse: the CSV loader alone, for bench/csv.sh. Linked to libnnc.a.
 *
 *   csv_parse FILE [RUNS]        parse FILE RUNS times (default 1) through
 *                                csv_open/csv_read (every column a feature,
 *                                1024-row batches); print the best run's wall
 *                                and CPU (user + system) time and MB/s
 *   csv_parse gen KIND MB        write about MB megabytes of KIND to stdout:
 *                                pixels  785 integer columns 0-255 (an MNIST CSV)
 *                                reals   20 columns of %.6g values from 1e-3 to 1e4
 *                                long    20 columns of %.17g values (as pandas writes
 *                                        float64: mostly 16-17 digits)
 *
 * The generator is a fixed LCG (seed 1), so files are the same on every
 * machine. The timing covers open, detection and conversion to float32;
 * the sum of the values is printed so that no work can be skipped. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "../src/data/csv.h"

static uint64_t lcg = 1;

static double uniform(void)
{
    lcg = lcg * 6364136223846793005u + 1442695040888963407u;
    return (double)(lcg >> 11) / 9007199254740992.0;
}

static int generate(const char *kind, long mb)
{
    static const double scale[] = {1e-3, 1e-2, 0.1, 1, 10, 100, 1e3, 1e4};
    long bytes = 0, limit = mb << 20;
    if (strcmp(kind, "pixels") && strcmp(kind, "reals") && strcmp(kind, "long")) {
        fprintf(stderr, "csv_parse: unknown kind '%s'\n", kind);
        return 2;
    }
    int cols = kind[0] == 'p' ? 785 : 20;
    for (int c = 0; c < cols; c++)
        bytes += printf("%sc%d", c ? "," : "", c);
    bytes += printf("\n");
    while (bytes < limit) {
        for (int c = 0; c < cols; c++) {
            const char *sep = c ? "," : "";
            double u = uniform();
            if (kind[0] == 'p')
                bytes += printf("%s%d", sep, c == 784 ? (int)(u * 10) : (int)(u * 256));
            else if (kind[0] == 'r')
                bytes += printf("%s%.6g", sep, (u - 0.5) * 2 * scale[c % 8]);
            else
                bytes += printf("%s%.17g", sep, u * 100 - 50);
        }
        bytes += printf("\n");
    }
    return fflush(stdout) == 0 ? 0 : 1;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* User + system CPU seconds of this process so far. */
static double cpu_now(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           1e-6 * (double)(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

/* One pass over path; returns the wall seconds taken (*cpu the CPU seconds),
 * -1 on error. */
static double parse_once(const char *path, size_t *rows, size_t *cols, double *sum, double *cpu)
{
    enum { BATCH = 1024 };
    struct csv_options opt = {.header = -1, .delimiter = 0};
    struct csv_reader *r;
    struct diag d;
    double t0 = now(), c0 = cpu_now();
    if (csv_open(&r, path, &opt, &d) < 0) {
        fprintf(stderr, "csv_parse: %s\n", d.msg);
        return -1;
    }
    *cols = csv_n_columns(r);
    float *x = malloc(BATCH * *cols * sizeof *x);
    long got;
    *rows = 0;
    *sum = 0;
    while ((got = csv_read(r, BATCH, x, NULL, &d)) > 0) {
        for (size_t i = 0; i < (size_t)got * *cols; i++)
            *sum += x[i];
        *rows += (size_t)got;
    }
    double t = now() - t0;
    *cpu = cpu_now() - c0;
    free(x);
    csv_close(r);
    if (got < 0) {
        fprintf(stderr, "csv_parse: %s\n", d.msg);
        return -1;
    }
    return t;
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "gen"))
        return generate(argv[2], atol(argv[3]));
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: csv_parse FILE [RUNS] | csv_parse gen pixels|reals|long MB\n");
        return 2;
    }
    int runs = argc == 3 ? atoi(argv[2]) : 1;
    struct stat st;
    if (stat(argv[1], &st) != 0) {
        perror(argv[1]);
        return 1;
    }
    double best = 0, best_cpu = 0, sum = 0;
    size_t rows = 0, cols = 0;
    for (int i = 0; i < (runs > 0 ? runs : 1); i++) {
        double cpu, t = parse_once(argv[1], &rows, &cols, &sum, &cpu);
        if (t < 0)
            return 1;
        if (i == 0 || t < best)
            best = t;
        if (i == 0 || cpu < best_cpu)
            best_cpu = cpu;
    }
    double mb = (double)st.st_size / 1e6;
    printf("%s: %.1f MB, %zu rows x %zu columns, best of %d: %.3f s wall %.1f MB/s, "
           "%.3f s CPU %.1f MB/s (sum %.6g)\n",
           argv[1], mb, rows, cols, runs, best, mb / best, best_cpu, mb / best_cpu, sum);
    return 0;
}
