/* triage tune: random search with k-fold cross-validation (core/tune.h) on
 * the training files, then train_run with the winner; the chosen settings
 * and their CV score go into the model's metadata. */
#include "cli.h"
#include "core/tri_err.h"
#include "core/tune.h"

#include <getopt.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: triage tune --data FILE [--data FILE]... --label FIELD --out MODEL\n"
               "         [--text FIELD[,FIELD...]]\n"
               "         [--trials N] [--budget DURATION]  stop after N trials or DURATION (90s, 10m, 1h);\n"
               "                                     at least one is needed (default --trials 20)\n"
               "         [--folds K]                 K-fold cross-validation (default 5)\n"
               "         [--threads N]               folds scored in parallel (default 2)\n"
               "         [--seed N]                  seed of the search, the folds and the holdout (default 1)\n"
               "         [--holdout FRACTION]        of the final training, for calibration (default 0.1)\n"
               "         [--name NAME] [--quiet]\n"
               "Searches algorithm, word and character n-grams, bits, C or alpha, S/B, min-df, stemming,\n"
               "stop words and weighting; trial 0 is the defaults of 'triage train'. Progress goes to\n"
               "stderr. Same seed and trial count, same model.\n");
}

static int parse_duration(const char *s, double *sec)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || !(v > 0))
        return -1;
    if (!*end || !strcmp(end, "s"))
        *sec = v;
    else if (!strcmp(end, "m"))
        *sec = v * 60;
    else if (!strcmp(end, "h"))
        *sec = v * 3600;
    else
        return -1;
    return 0;
}

static void progress(void *ctx, const tune_trial_t *t, const tune_trial_t *best)
{
    if (*(int *)ctx)
        return;
    fprintf(stderr, "trial %u: cv accuracy %.4f macro-F1 %.4f  %.1f s  %s\n       best %.4f (trial %u)\n", t->index,
            t->cv_accuracy, t->cv_macro_f1, t->seconds, t->desc, best->cv_accuracy, best->index);
}

enum { OPT_TRIALS = 256, OPT_BUDGET, OPT_FOLDS, OPT_THREADS };

int cmd_tune(int argc, char **argv)
{
    static const struct option opts[] = {
        {"data", required_argument, 0, 'd'},     {"label", required_argument, 0, 'l'},
        {"text", required_argument, 0, 't'},     {"out", required_argument, 0, 'o'},
        {"trials", required_argument, 0, OPT_TRIALS}, {"budget", required_argument, 0, OPT_BUDGET},
        {"folds", required_argument, 0, OPT_FOLDS}, {"threads", required_argument, 0, OPT_THREADS},
        {"seed", required_argument, 0, 'r'},     {"holdout", required_argument, 0, 'H'},
        {"name", required_argument, 0, 'N'},     {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},           {0, 0, 0, 0}};
    char **files = NULL;
    size_t nfiles = 0;
    const char *label = NULL, *out = NULL, *name = NULL;
    char *text = NULL, *textlist = NULL;
    uint32_t seed = 1, trials = 0;
    double holdout = 0.1;
    int quiet = 0, c, rc = EXIT_USAGE;
    tune_opts_t to = {.folds = 5, .threads = 2};
    dataset_t ds = {0};
    train_result_t res = {0};
    json_t *meta = NULL;
    optind = 1;
    while ((c = getopt_long(argc, argv, "d:l:t:o:r:H:N:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            if (cli_add_arg(&files, &nfiles, optarg))
                goto out;
            break;
        case 'l': label = optarg; break;
        case 't': text = optarg; break;
        case 'o': out = optarg; break;
        case 'N': name = optarg; break;
        case 'q': quiet = 1; break;
        case OPT_TRIALS:
            if (cli_parse_u32(optarg, &trials) || !trials) {
                rc = cli_usage_error("tune", "--trials takes a positive count, not '%s'", optarg);
                goto out;
            }
            break;
        case OPT_BUDGET:
            if (parse_duration(optarg, &to.budget_s)) {
                rc = cli_usage_error("tune", "--budget takes a duration such as 90s, 10m or 1h, not '%s'", optarg);
                goto out;
            }
            break;
        case OPT_FOLDS:
            if (cli_parse_u32(optarg, &to.folds) || to.folds < 2 || to.folds > 20) {
                rc = cli_usage_error("tune", "--folds takes 2..20, not '%s'", optarg);
                goto out;
            }
            break;
        case OPT_THREADS:
            if (cli_parse_u32(optarg, &to.threads) || !to.threads || to.threads > 64) {
                rc = cli_usage_error("tune", "--threads takes 1..64, not '%s'", optarg);
                goto out;
            }
            break;
        case 'r':
            if (cli_parse_u32(optarg, &seed)) {
                rc = cli_usage_error("tune", "--seed takes a number, not '%s'", optarg);
                goto out;
            }
            break;
        case 'H':
            if (cli_parse_double(optarg, &holdout) || holdout < 0 || holdout >= 1) {
                rc = cli_usage_error("tune", "--holdout takes a fraction in [0,1), not '%s'", optarg);
                goto out;
            }
            break;
        case 'h': usage(stdout); rc = EXIT_OKAY; goto out;
        default: usage(stderr); goto out;
        }
    }
    if (optind < argc) {
        rc = cli_usage_error("tune", "unexpected argument '%s'", argv[optind]);
        goto out;
    }
    if (!nfiles || !label || !out) {
        rc = cli_usage_error("tune", "--data, --label and --out are required");
        goto out;
    }
    to.trials = trials ? trials : to.budget_s > 0 ? 0 : 20;
    to.seed = seed;
    cli_train_defaults(&to.base);
    to.base.feat.seed = seed;
    to.progress = progress;
    to.progress_ctx = &quiet;
    rec_schema_t schema;
    rec_schema_default(&schema);
    schema.label_field = label;
    char err[TRI_ERRLEN];
    if (text) {
        textlist = strdup(text);
        if (!textlist || rec_schema_set_text(&schema, textlist, err, sizeof err)) {
            rc = cli_usage_error("tune", "--text: %s", err);
            goto out;
        }
    }
    rc = EXIT_FAIL;
    if (cli_read_data("tune", &ds, files, nfiles, &schema, NULL, 0))
        goto out;
    train_set_t set;
    dataset_as_set(&ds, &set);
    tune_trial_t best;
    uint32_t ran;
    if (tune_run(&to, &set, &best, &ran, err, sizeof err)) {
        fprintf(stderr, "triage tune: %s\n", err);
        goto out;
    }
    json_t *jfiles = json_array(), *jtext = json_array();
    for (size_t i = 0; i < nfiles; i++) {
        char *dup = strdup(files[i]);
        json_array_append_new(jfiles, json_string(dup ? basename(dup) : files[i]));
        free(dup);
    }
    for (size_t i = 0; i < schema.ntext; i++)
        json_array_append_new(jtext, json_string(schema.text_fields[i]));
    meta = json_pack("{s:s,s:s,s:s,s:s,s:s,s:o,s:{s:o,s:s,s:I,s:I,s:I},s:{s:s,s:I,s:I,s:I,s:f,s:f,s:f,s:i}}", "name",
                     name ? name : "default", "triage_version", TRIAGE_VERSION, "stopwords",
                     best.opts.tok.stopwords ? "en" : "none", "stem", best.opts.tok.stem[0] ? best.opts.tok.stem : "none",
                     "label_field", label, "text_fields", jtext, "data", "files", jfiles, "digest", ds.digest,
                     "records", (json_int_t)ds.n, "skipped_without_label", (json_int_t)ds.skipped_nolabel,
                     "bad_records", (json_int_t)ds.bad, "tune", "settings", best.desc, "trial", (json_int_t)best.index,
                     "trials", (json_int_t)ran, "folds", (json_int_t)to.folds, "cv_accuracy", best.cv_accuracy,
                     "cv_macro_f1", best.cv_macro_f1, "budget_s", to.budget_s, "seed", (int)seed);
    if (!meta)
        goto out;
    json_t *mix = lang_mix_json(ds.text, ds.len, ds.n, LANG_MIN_SHARE_DEFAULT);
    if (!mix || json_object_set_new(meta, "lang", mix))
        goto out;
    train_run_opts_t ro = {.fit = best.opts, .holdout = holdout, .seed = seed, .refit = 1, .meta = meta};
    if (train_run(&ro, &set, &res, err, sizeof err)) {
        fprintf(stderr, "triage tune: %s\n", err);
        goto out;
    }
    if (model_save_file(out, res.bytes.p, res.bytes.len, err, sizeof err)) {
        fprintf(stderr, "triage tune: %s\n", err);
        goto out;
    }
    if (!quiet)
        printf("%u trials, best trial %u: cv accuracy %.4f macro-F1 %.4f\n  %s\nwrote %s (%zu bytes)\n", ran,
               best.index, best.cv_accuracy, best.cv_macro_f1, best.desc, out, res.bytes.len);
    rc = EXIT_OKAY;
out:
    if (meta)
        json_decref(meta);
    train_result_free(&res);
    dataset_free(&ds);
    free(textlist);
    free(files);
    return rc;
}
