/* Command-line options: one table drives parsing, --help text and value
 * checks. Usage errors exit with status 2 (the command layer decides). */
#ifndef NNC_CLI_H
#define NNC_CLI_H

#include <stdbool.h>
#include <stdint.h>

enum cli_cmd { CMD_SUMMARY = 1, CMD_TRAIN = 2, CMD_EVALUATE = 4, CMD_PREDICT = 8,
               CMD_HISTORY = 16, CMD_PLOT = 32 };

/* A repeatable option's values, in command-line order ("NAME=FILE"). */
#define CLI_MAX_LIST 32
struct cli_list {
    int n;
    const char *item[CLI_MAX_LIST];
};

struct cli_args {
    enum cli_cmd cmd;
    const char *positional[64];
    int n_positional;
    /* options; *_set says the user gave it (the command line wins over fit:) */
    const char *output;
    long epochs; bool epochs_set;
    long batch_size; bool batch_size_set;
    double validation_split; bool validation_split_set;
    const char *validation_data;
    long validation_freq; bool validation_freq_set;
    long validation_steps; bool validation_steps_set;
    long initial_epoch; bool initial_epoch_set;
    long steps_per_epoch; bool steps_per_epoch_set;
    const char *shuffle;      /* "true", "false" or "batch" */
    long seed; bool seed_set;
    long threads; bool threads_set;
    long verbose; bool verbose_set;
    const char *resume;
    bool json;
    bool argmax;
    const char *format;
    const char *plot;      /* train --plot FILE.svg */
    struct cli_list inputs, targets; /* --input NAME=FILE, --target NAME=FILE */
    const char *only;      /* predict --only NAME */
    bool help;
};

/* Parses argv after the command name. Returns 0, or -1 with a message in
 * err (a usage error). */
int cli_parse(enum cli_cmd cmd, int argc, char **argv, struct cli_args *a, char *err,
              size_t err_size);
void cli_print_help(enum cli_cmd cmd, FILE *out);
void cli_print_usage(FILE *out);
/* Sets the thread count for OpenBLAS from --threads or NNC_NUM_THREADS. */
int cli_apply_threads(const struct cli_args *a, char *err, size_t err_size);

#endif
