/* The option table and its parser (see cli.h). */
#include <stdio.h>

#include "cli.h"

#include "parallel.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spec.h"

enum opt_type { OPT_FLAG, OPT_LONG, OPT_DOUBLE, OPT_STRING,
                OPT_LIST /* repeatable: values into a struct cli_list */ };

struct cli_option {
    const char *name;     /* long name without "--" */
    char short_name;
    enum opt_type type;
    unsigned cmds;        /* CMD_* mask */
    size_t value, set;    /* offsets in struct cli_args (set: 0 = none) */
    long min, max;        /* OPT_LONG range */
    const char *metavar, *help;
};

#define OFF(f) offsetof(struct cli_args, f)
#define ALL (CMD_SUMMARY | CMD_TRAIN | CMD_EVALUATE | CMD_PREDICT | CMD_HISTORY | CMD_PLOT)
static const struct cli_option options[] = {
    {"output", 'o', OPT_STRING, CMD_TRAIN, OFF(output), 0, 0, 0, "DIR",
     "checkpoint directory (default: the model file's stem + .model)"},
    {"output", 'o', OPT_STRING, CMD_PLOT, OFF(output), 0, 0, 0, "FILE.svg",
     "write the SVG to FILE.svg, atomically (default: standard output)"},
    {"plot", 0, OPT_STRING, CMD_TRAIN, OFF(plot), 0, 0, 0, "FILE.svg",
     "after training, draw the history's curves into FILE.svg (as nnc plot)"},
    {"epochs", 0, OPT_LONG, CMD_TRAIN, OFF(epochs), OFF(epochs_set), 0, 1000000, "N",
     "epochs to train (default: fit.epochs, else 1)"},
    {"batch-size", 0, OPT_LONG, CMD_TRAIN | CMD_EVALUATE | CMD_PREDICT, OFF(batch_size),
     OFF(batch_size_set), 1, 1 << 24, "N",
     "samples per batch (train: fit.batch_size, else 32; evaluate, predict: 32)"},
    {"validation-split", 0, OPT_DOUBLE, CMD_TRAIN, OFF(validation_split),
     OFF(validation_split_set), 0, 0, "F", "fraction of the data, from its end, held out for validation"},
    {"validation-data", 0, OPT_STRING, CMD_TRAIN, OFF(validation_data), 0, 0, 0, "FILE",
     "validation data in the training data's layout"},
    {"validation-freq", 0, OPT_LONG, CMD_TRAIN, OFF(validation_freq), OFF(validation_freq_set),
     1, 1000000, "N", "validate every N epochs (default: fit.validation_freq, else 1)"},
    {"validation-steps", 0, OPT_LONG, CMD_TRAIN, OFF(validation_steps),
     OFF(validation_steps_set), 1, 0x7fffffffL, "N",
     "validation batches per validation (default: all)"},
    {"initial-epoch", 0, OPT_LONG, CMD_TRAIN, OFF(initial_epoch), OFF(initial_epoch_set), 0,
     1000000, "N", "epoch to start at; --epochs is then the last epoch (Keras)"},
    {"steps-per-epoch", 0, OPT_LONG, CMD_TRAIN, OFF(steps_per_epoch), OFF(steps_per_epoch_set),
     1, 0x7fffffffL, "N", "training batches per epoch (default: one pass over the data)"},
    {"shuffle", 0, OPT_STRING, CMD_TRAIN, OFF(shuffle), 0, 0, 0, "true|false|batch",
     "shuffle the samples each epoch, or only the order of the batches (default: true)"},
    {"seed", 0, OPT_LONG, CMD_TRAIN, OFF(seed), OFF(seed_set), 0, 0x7fffffffffffffffL, "N",
     "random seed: same seed, data and threads give bit-identical weights"},
    {"threads", 0, OPT_LONG, ALL, OFF(threads), OFF(threads_set), 1, 1024, "N",
     "threads to use (default: NNC_NUM_THREADS, else all cores)"},
    {"verbose", 'v', OPT_LONG, CMD_TRAIN | CMD_EVALUATE, OFF(verbose), OFF(verbose_set), 0, 2,
     "0|1|2",
     "0 silent, 1 progress bar, 2 one line per epoch (train: 1 on a terminal, else 2; evaluate: 0)"},
    {"resume", 0, OPT_STRING, CMD_TRAIN, OFF(resume), 0, 0, 0, "CHECKPOINT",
     "continue from a checkpoint's weights, optimizer state and epoch"},
    {"json", 0, OPT_FLAG, CMD_TRAIN | CMD_EVALUATE, OFF(json), 0, 0, 0, NULL,
     "print the results as JSON on stdout"},
    {"argmax", 0, OPT_FLAG, CMD_PREDICT, OFF(argmax), 0, 0, 0, NULL,
     "print the class index (or the class name) instead of the outputs"},
    {"format", 0, OPT_STRING, CMD_PREDICT, OFF(format), 0, 0, 0, "csv|npy",
     "output format: CSV lines, or one NPY array (float32; int64 with --argmax)"},
    {"output", 'o', OPT_STRING, CMD_PREDICT, OFF(output), 0, 0, 0, "FILE",
     "write the predictions to FILE, atomically (default: standard output)"},
    {"format", 0, OPT_STRING, CMD_HISTORY, OFF(format), 0, 0, 0, "table|csv|json",
     "output format (default: table)"},
    {"input", 0, OPT_LIST, CMD_TRAIN | CMD_EVALUATE | CMD_PREDICT, OFF(inputs), 0, 0, 0,
     "NAME=FILE", "the data of the model input NAME (repeat for each input; instead of DATA)"},
    {"target", 0, OPT_LIST, CMD_TRAIN | CMD_EVALUATE, OFF(targets), 0, 0, 0, "NAME=FILE",
     "the targets of the model output NAME (repeat for each output)"},
    {"only", 0, OPT_STRING, CMD_PREDICT, OFF(only), 0, 0, 0, "NAME",
     "write the model output NAME only (of several)"},
    {"help", 'h', OPT_FLAG, ALL, OFF(help), 0, 0, 0, NULL, "show this help"},
};
#define N_OPTIONS (sizeof options / sizeof options[0])

static const char *cmd_name(enum cli_cmd c)
{
    switch (c) {
    case CMD_SUMMARY: return "summary";
    case CMD_TRAIN: return "train";
    case CMD_EVALUATE: return "evaluate";
    case CMD_PREDICT: return "predict";
    case CMD_HISTORY: return "history";
    case CMD_PLOT: return "plot";
    }
    return "?";
}

static int set_value(const struct cli_option *o, const char *v, struct cli_args *a, char *err,
                     size_t err_size)
{
    char *p = (char *)a + o->value;
    switch (o->type) {
    case OPT_FLAG:
        *(bool *)p = true;
        break;
    case OPT_STRING:
        *(const char **)p = v;
        break;
    case OPT_LIST: {
        struct cli_list *l = (struct cli_list *)p;
        if (l->n == CLI_MAX_LIST) {
            snprintf(err, err_size, "--%s: at most %d times", o->name, CLI_MAX_LIST);
            return -1;
        }
        const char *eq = strchr(v, '=');
        if (!eq || eq == v || !eq[1]) {
            snprintf(err, err_size, "--%s: '%s' is not NAME=FILE", o->name, v);
            return -1;
        }
        l->item[l->n++] = v;
        break;
    }
    case OPT_LONG: {
        long n;
        if (!parse_long(v, &n) || n < o->min || n > o->max) {
            snprintf(err, err_size, "--%s: '%s' is not an integer in [%ld, %ld]", o->name, v,
                     o->min, o->max);
            return -1;
        }
        *(long *)p = n;
        break;
    }
    case OPT_DOUBLE: {
        double x;
        if (!parse_double(v, &x) || !(x >= 0 && x < 1)) {
            snprintf(err, err_size, "--%s: '%s' is not a number in [0, 1)", o->name, v);
            return -1;
        }
        *(double *)p = x;
        break;
    }
    }
    if (o->set)
        *((bool *)((char *)a + o->set)) = true;
    return 0;
}

int cli_parse(enum cli_cmd cmd, int argc, char **argv, struct cli_args *a, char *err,
              size_t err_size)
{
    memset(a, 0, sizeof *a);
    a->cmd = cmd;
    bool only_positional = false;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (only_positional || arg[0] != '-' || !strcmp(arg, "-")) {
            if (a->n_positional == 64) {
                snprintf(err, err_size, "too many arguments");
                return -1;
            }
            a->positional[a->n_positional++] = arg;
            continue;
        }
        if (!strcmp(arg, "--")) {
            only_positional = true;
            continue;
        }
        const struct cli_option *o = NULL;
        const char *value = NULL;
        if (arg[1] == '-') {
            const char *name = arg + 2;
            const char *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            for (size_t k = 0; k < N_OPTIONS; k++)
                if (strlen(options[k].name) == len && !strncmp(options[k].name, name, len) &&
                    (!o || (options[k].cmds & cmd)))
                    o = &options[k];
            if (eq)
                value = eq + 1;
        } else if (arg[2] == '\0') {
            for (size_t k = 0; k < N_OPTIONS; k++)
                if (options[k].short_name == arg[1] && (!o || (options[k].cmds & cmd)))
                    o = &options[k];
        } else {
            /* -v2 */
            for (size_t k = 0; k < N_OPTIONS; k++)
                if (options[k].short_name == arg[1] && options[k].type != OPT_FLAG &&
                    (!o || (options[k].cmds & cmd))) {
                    o = &options[k];
                    value = arg + 2;
                }
        }
        if (!o || !(o->cmds & cmd)) {
            if (o)
                snprintf(err, err_size, "option '%s' does not apply to 'nnc %s'", arg,
                         cmd_name(cmd));
            else
                snprintf(err, err_size, "unknown option '%s' for 'nnc %s'", arg, cmd_name(cmd));
            return -1;
        }
        if (o->type == OPT_FLAG) {
            if (value) {
                snprintf(err, err_size, "option '--%s' takes no value", o->name);
                return -1;
            }
        } else if (!value) {
            if (i + 1 >= argc) {
                snprintf(err, err_size, "option '%s' needs a value (%s)", arg, o->metavar);
                return -1;
            }
            value = argv[++i];
        }
        if (set_value(o, value, a, err, err_size) < 0)
            return -1;
    }
    if (a->shuffle && strcmp(a->shuffle, "true") && strcmp(a->shuffle, "false") &&
        strcmp(a->shuffle, "batch")) {
        snprintf(err, err_size, "--shuffle: '%s' is not true, false or batch", a->shuffle);
        return -1;
    }
    if (a->format && cmd == CMD_PREDICT && strcmp(a->format, "csv") != 0 &&
        strcmp(a->format, "npy") != 0) {
        snprintf(err, err_size, "--format: '%s' is not supported (csv, npy)", a->format);
        return -1;
    }
    if (a->format && cmd == CMD_HISTORY && strcmp(a->format, "table") != 0 &&
        strcmp(a->format, "csv") != 0 && strcmp(a->format, "json") != 0) {
        snprintf(err, err_size, "--format: '%s' is not supported (table, csv, json)", a->format);
        return -1;
    }
    return 0;
}

static const char *cmd_usage(enum cli_cmd c)
{
    switch (c) {
    case CMD_SUMMARY: return "nnc summary MODEL\n  Print the Keras summary table of a model file or checkpoint.";
    case CMD_TRAIN: return "nnc train MODEL DATA... [options]\n  Fit the model on DATA (a CSV file; NPY or IDX features and targets; an NPZ), or on --input/--target files, and write a checkpoint.";
    case CMD_EVALUATE: return "nnc evaluate CHECKPOINT DATA... [options]\n  Loss and metrics on held-out DATA, or --input/--target files (as for train).";
    case CMD_PREDICT: return "nnc predict CHECKPOINT [DATA|-] [options]\n  Outputs as CSV or NPY, one row per input row of DATA (CSV, NPY, NPZ or IDX; standard input when DATA is - or absent).";
    case CMD_HISTORY: return "nnc history CHECKPOINT [--format table|csv|json]\n  The per-epoch history (loss, metrics, val_*, lr, seconds) stored by nnc train.";
    case CMD_PLOT: return "nnc plot CHECKPOINT [-o FILE.svg]\n  The history's loss and metric curves, train vs validation, as an SVG.";
    }
    return "";
}

void cli_print_help(enum cli_cmd cmd, FILE *out)
{
    fprintf(out, "usage: %s\n\noptions:\n", cmd_usage(cmd));
    for (size_t k = 0; k < N_OPTIONS; k++) {
        const struct cli_option *o = &options[k];
        if (!(o->cmds & cmd))
            continue;
        char flag[64];
        if (o->short_name)
            snprintf(flag, sizeof flag, "-%c, --%s%s%s", o->short_name, o->name,
                     o->metavar ? " " : "", o->metavar ? o->metavar : "");
        else
            snprintf(flag, sizeof flag, "    --%s%s%s", o->name, o->metavar ? " " : "",
                     o->metavar ? o->metavar : "");
        fprintf(out, "  %-30s %s\n", flag, o->help);
    }
}

void cli_print_usage(FILE *out)
{
    fputs("usage: nnc COMMAND [options]\n\n"
          "commands:\n"
          "  summary  MODEL                    print the Keras summary table\n"
          "  train    MODEL DATA... [options]  fit; writes a checkpoint\n"
          "  evaluate CHECKPOINT DATA...       loss and metrics on held-out data\n"
          "  predict  CHECKPOINT [DATA|-]      outputs, one row per input row, to stdout\n"
          "  history  CHECKPOINT               the per-epoch history (table, csv, json)\n"
          "  plot     CHECKPOINT -o F.svg      the loss and metric curves as an SVG\n\n"
          "DATA: a CSV file; NPY or IDX files, features then targets; or an NPZ.\n"
          "nnc COMMAND --help lists a command's options; nnc --version prints the version.\n"
          "See man nnc.\n",
          out);
}

int cli_apply_threads(const struct cli_args *a, char *err, size_t err_size)
{
    long n = 0;
    if (a->threads_set) {
        n = a->threads;
    } else {
        const char *env = getenv("NNC_NUM_THREADS");
        if (env && *env) {
            if (!parse_long(env, &n) || n < 1 || n > 1024) {
                snprintf(err, err_size, "NNC_NUM_THREADS: '%s' is not an integer in [1, 1024]",
                         env);
                return -1;
            }
        }
    }
    if (n <= 0)
        n = sysconf(_SC_NPROCESSORS_ONLN);
    /* nnc's pool does the splitting; OpenBLAS runs in its threads. */
    parallel_set_threads(n > 0 ? (int)n : 1);
    return 0;
}
