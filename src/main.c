/* nnc: the command table, and nothing else. */
#include <stdio.h>
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
