/* nnc: the command table, and nothing else. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <xmmintrin.h>
#endif

#include "blas_select.h"
#include "commands.h"

/* Denormal floats are flushed to zero, as TensorFlow does on CPU
 * (tensorflow/core/platform/denormal.h, ScopedFlushDenormal around every
 * kernel): tiny gradients otherwise run 10-100x slower on x86. Threads
 * started later (nnc's pool) inherit the setting. */
static void flush_denormals(void)
{
#if defined(__SSE2__)
    _mm_setcsr(_mm_getcsr() | 0x8040); /* FTZ (bit 15) and DAZ (bit 6) */
#endif
}

/* OpenBLAS's constructor starts a worker per core, which spins in
 * sched_yield for its first ~0.1 s (on the cores nnc's own pool runs on),
 * unless OPENBLAS_NUM_THREADS is 1 by then; nnc calls OpenBLAS at one
 * thread from its pool (parallel.h), so it needs none. A constructor with
 * a priority runs before those without, OpenBLAS's among them when its
 * archive is linked in (the Makefile; a shared library's constructor runs
 * before the executable's). (Not .preinit_array: the C library's start
 * resets the environment after it.) */
__attribute__((constructor(101))) static void no_blas_workers(void)
{
    setenv("OPENBLAS_NUM_THREADS", "1", 1);
}

static const struct {
    const char *name;
    enum cli_cmd cmd;
    int (*run)(const struct cli_args *);
    int min_pos, max_pos;
} commands[] = {
    {"summary", CMD_SUMMARY, cmd_summary, 1, 1},
    {"train", CMD_TRAIN, cmd_train, 1, 3},        /* DATA, or --input/--target */
    {"evaluate", CMD_EVALUATE, cmd_evaluate, 1, 3},
    {"predict", CMD_PREDICT, cmd_predict, 1, 2},
    {"history", CMD_HISTORY, cmd_history, 1, 1},
    {"plot", CMD_PLOT, cmd_plot, 1, 1},
};

int main(int argc, char **argv)
{
    blas_select_kernels(argv);
    if (argc < 2) {
        cli_print_usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        cli_print_usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("nnc %s\n", NNC_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(argv[1], commands[i].name) != 0)
            continue;
        struct cli_args a;
        char err[256];
        if (cli_parse(commands[i].cmd, argc - 2, argv + 2, &a, err, sizeof err) < 0) {
            fprintf(stderr, "nnc: %s\n", err);
            return 2;
        }
        if (a.help) {
            cli_print_help(commands[i].cmd, stdout);
            return 0;
        }
        if (a.n_positional < commands[i].min_pos || a.n_positional > commands[i].max_pos) {
            fprintf(stderr, "nnc: %s: expected %s\n", commands[i].name,
                    a.n_positional < commands[i].min_pos ? "more arguments"
                                                         : "fewer arguments");
            cli_print_help(commands[i].cmd, stderr);
            return 2;
        }
        if (cli_apply_threads(&a, err, sizeof err) < 0) {
            fprintf(stderr, "nnc: %s\n", err);
            return 2;
        }
        flush_denormals();
        return commands[i].run(&a);
    }
    fprintf(stderr, "nnc: unknown command '%s' (try nnc --help)\n", argv[1]);
    return 2;
}
