/* cli — shared pieces of the `triage` command-line program: reading labeled
 * JSONL, resolving tokenizer options, small parsers. Program code only; no
 * library module includes this. */
#ifndef CLI_H
#define CLI_H
#include "core/version.h"
#include "core/clf.h"
#include "core/train.h"
#include "core/feat.h"
#include "codec/dataset.h"
#include "codec/rec.h"
#include "core/tok.h"
#include "core/train.h"
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>


int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_classify(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_push(int argc, char **argv);
int cmd_models(int argc, char **argv);
int cmd_pin(int argc, char **argv);
int cmd_unpin(int argc, char **argv);
int cmd_promote(int argc, char **argv);
int cmd_alarms(int argc, char **argv);
int cmd_tune(int argc, char **argv);
int cmd_retrain(int argc, char **argv);

/* triage train --per-account (per_account.c): the options cmd_train parsed. */
typedef struct pa_opts {
    train_run_opts_t run;      /* fit, holdout (> 0), seed, refit; meta is set per model */
    char **files;
    size_t nfiles;
    rec_schema_t schema;       /* label and text fields; account_field = the --per-account FIELD */
    const char *out;           /* the tree's directory */
    const char *name, *stopspec, *stem; /* for the metadata */
    uint32_t min_records, jobs;
    int quiet;
    /* --tune: the search of `triage tune` on each account's training records
     * (never its held-out ones) before its model is trained with the winner.
     * tune_budget_s is the whole run's: each account gets the share of it its
     * records are of all accounts' (times the threads, which tune at once). */
    int tune;
    uint32_t tune_trials, tune_folds; /* trials per account (0: the budget alone), folds */
    double tune_budget_s;             /* 0: none */
} pa_opts_t;
int train_per_account(const pa_opts_t *o);

/* Whether s can be one path segment of a store key (a model or account
 * name): not empty, ".", "..", at most 200 bytes, no '/' or control bytes. */
int cli_valid_part(const char *s);

/* Runs fn(arg) on n threads (workers that take jobs from a shared counter)
 * and waits for them; on the caller's thread when none can start. Returns
 * the number of threads that ran. */
unsigned cli_run_threads(unsigned n, void *(*fn)(void *), void *arg);

/* Exit codes: 0 ok, 1 the work ran but something failed (bad records, gate
 * refused), 2 usage or configuration error. */
enum { EXIT_OKAY = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

/* Sets s's text fields to those m was trained with (metadata "text_fields";
 * "text" when it names none; names borrowed from m) and s->prep_mode to m's
 * stored preparation. Returns 0, or -1 after printing why m is refused. */
int cli_model_schema(const char *cmd, model_t *m, rec_schema_t *s, int keep_fields);

/* dataset_read with bad records and errors reported on stderr as `triage CMD: ...`. */
int cli_read_data(const char *cmd, dataset_t *ds, char **files, size_t nfiles, const rec_schema_t *schema,
                  const char *const *fixed_labels, uint32_t nfixed);

/* Iterates the lines of a file ("-" for stdin): calls fn(line, len, lineno,
 * ctx) for each; the newline is stripped. Returns 0, the first nonzero value
 * of fn, or -1 on read error (message printed). */
typedef dataset_line_fn cli_line_fn;
int cli_each_line(const char *path, cli_line_fn fn, void *ctx);

/* Resolves --stopwords none|en|FILE into text (owned by *out, NULL for none). */
int cli_stopwords(const char *spec, char **out, size_t *len);

/* The defaults of `triage train` (and trial 0 of `triage tune`), chosen by
 * 5-fold cross-validation on the shared training files only (README,
 * "Choosing the defaults"). */
#define CLI_DEF_ALGO "svm"
#define CLI_DEF_C "0.5"
#define CLI_DEF_NGRAMS "1-2"
#define CLI_DEF_CHARS "2-5"
#define CLI_DEF_STEM "none"
/* Every n-gram seen in training (scripts/cv-defaults: on airline `reason`
 * dropping the once-seen ones cost 0.7 points of CV accuracy; words seen
 * once still shape the norm of a record's other features). */
#define CLI_DEF_MIN_DF 1
#define CLI_DEF_NB_MIN_DF 2
void cli_train_defaults(train_opts_t *to);

/* Resolves --chars, --features, --idf, --norm (NULL: the algorithm's default)
 * into to->feat; prints a usage error and returns EXIT_USAGE when invalid. */
int cli_feature_options(const char *cmd, train_opts_t *to, const char *chars, const char *features, const char *idf,
                        const char *norm);

/* "1-5" or "2" into min/max. */
int cli_parse_range(const char *s, uint32_t *lo, uint32_t *hi);
int cli_parse_double(const char *s, double *v);
/* A positive duration: 90, 90s, 10m or 1h, in seconds. */
int cli_parse_seconds(const char *s, double *sec);
int cli_parse_u32(const char *s, uint32_t *v);
/* An option's number in [lo, hi]: 0, or EXIT_USAGE after printing
 * "triage CMD: WHAT, not 'S'". */
int cli_opt_u32(const char *cmd, const char *s, uint32_t *v, uint32_t lo, uint32_t hi, const char *what);

/* The search options of `tune` and `train --tune`: --trials N, --budget
 * DURATION, --folds K. A command's own option codes start after them. */
enum { CLI_OPT_TRIALS = 0x100, CLI_OPT_BUDGET, CLI_OPT_FOLDS, CLI_OPT_SEARCH_END };
#define CLI_SEARCH_LONGOPTS                                                                                      \
    {"trials", required_argument, 0, CLI_OPT_TRIALS}, {"budget", required_argument, 0, CLI_OPT_BUDGET},         \
        {"folds", required_argument, 0, CLI_OPT_FOLDS}
typedef struct cli_search_opts {
    uint32_t trials, folds; /* 0: not given */
    double budget_s;        /* 0: not given */
} cli_search_opts_t;
/* Takes one search option into s: 0 taken, -1 not one of them, EXIT_USAGE
 * after printing why. */
int cli_search_option(const char *cmd, int c, const char *arg, cli_search_opts_t *s);

/* s made safe for a terminal: control and format characters (C0, DEL, C1,
 * bidirectional overrides, line separators) and bytes that are not UTF-8
 * become \xNN or \u{XXXX} (a NUL too, in the _n form); NULL becomes "?".
 * The result lives in one of eight rotating static buffers (so up to eight
 * may appear in one printf) and is cut, with "...", at about 1 KiB. */
const char *cli_printable(const char *s);
const char *cli_printable_n(const char *s, size_t n);

/* Prints a usage error and returns EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Model text classification over a data set; fills pred[i] (model label
 * index) for each document, and conf[i] (its probability) if conf != NULL. */
int cli_predict(model_t *m, const dataset_t *ds, const size_t *idx, size_t n, uint32_t *pred, float *conf);

/* Evaluation report over label names (truth x prediction confusion in e),
 * printed as a table (eval_report_json is the JSON form). */
struct evalm;
void cli_report_print(FILE *f, const struct evalm *e, char *const *labels, int confusion);

/* The options train and tune share: the data set, its fields, the seed, the
 * holdout and where the model goes. Both put CLI_DATA_LONGOPTS in their
 * option table and CLI_DATA_SHORTOPTS in their getopt string. */
typedef struct cli_data_opts {
    char **files;          /* --data, repeated (strings are argv's) */
    size_t nfiles;
    const char *label, *out, *name;
    const char *text;      /* --text as given, or NULL */
    char *textlist;        /* owned: the copy the schema's text fields point into */
    double holdout;        /* 0.1 */
    uint32_t seed;         /* 1 */
    int quiet;
} cli_data_opts_t;
#define CLI_DATA_SHORTOPTS "d:l:t:o:r:H:N:q"
#define CLI_DATA_LONGOPTS                                                                                    \
    {"data", required_argument, 0, 'd'}, {"label", required_argument, 0, 'l'},                                \
        {"text", required_argument, 0, 't'}, {"out", required_argument, 0, 'o'},                              \
        {"seed", required_argument, 0, 'r'}, {"holdout", required_argument, 0, 'H'},                         \
        {"name", required_argument, 0, 'N'}, {"quiet", no_argument, 0, 'q'}
void cli_data_init(cli_data_opts_t *d);
void cli_data_free(cli_data_opts_t *d);
/* Takes getopt's option c with value arg when it is one of the shared ones:
 * 0 taken, -1 not one of them, EXIT_USAGE after printing why. */
int cli_data_option(const char *cmd, int c, char *arg, cli_data_opts_t *d);
/* After getopt: no stray arguments, and --data, --label and --out given.
 * 0, or EXIT_USAGE after printing why. */
int cli_data_required(const char *cmd, int argc, char **argv, const cli_data_opts_t *d);
/* The default schema with d's label field and --text fields. 0, or
 * EXIT_USAGE after printing why. */
int cli_data_schema(const char *cmd, cli_data_opts_t *d, rec_schema_t *schema);

/* What train and tune hold while they run: the data set, train_run's result
 * and the model's metadata. Zero-initialise; cli_run_free frees all three. */
typedef struct cli_run {
    dataset_t ds;
    train_result_t res;
    json_t *meta;
} cli_run_t;
void cli_run_free(cli_run_t *r);

/* Appends a repeated option's value (--data FILE ...) to *v; -1 when out of
 * memory. The strings stay argv's; *v is the caller's to free. */
int cli_add_arg(char ***v, size_t *n, char *arg);

#endif
