/* triage — the command-line program: train, evaluate, classify and inspect
 * models. Each command lives in its own cli_*.c; this file only dispatches. */
#include "cli.h"

#include <string.h>

typedef struct command {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} command_t;

static const command_t commands[] = {
    {"train", cmd_train, "train a model from labeled JSONL"},
    {"tune", cmd_tune, "search training settings by cross-validation and train the best"},
    {"eval", cmd_eval, "score a model on labeled JSONL"},
    {"classify", cmd_classify, "label JSONL records"},
    {"inspect", cmd_inspect, "show a model's metadata and strongest n-grams"},
    {"push", cmd_push, "publish a model to a store (optionally gated on accuracy)"},
    {"retrain", cmd_retrain, "train on the feedback topic and base data, publish through the gate"},
    {"models", cmd_models, "list a store's model versions"},
    {"pin", cmd_pin, "serve a given version (rollback)"},
    {"unpin", cmd_unpin, "serve the newest version again"},
    {"promote", cmd_promote, "make the challenger (default: the newest unpinned version) the champion"},
    {"alarms", cmd_alarms, "replay labeled records through the alarm detector"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: triage COMMAND [options]   (triage COMMAND --help for its options)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "help") || !strcmp(argv[1], "-h")) {
        usage(stdout);
        return EXIT_OKAY;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        printf("triage %s\n", TRIAGE_VERSION);
        return EXIT_OKAY;
    }
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "triage: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return EXIT_USAGE;
}
