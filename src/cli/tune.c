/* triage tune: random search with k-fold cross-validation (core/tune.h) on
 * the training files, then train_run with the winner; the chosen settings
 * and their CV score go into the model's metadata. */
#include "cli.h"
#include "core/tri_err.h"
#include "core/tune.h"

#include <getopt.h>
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

static void progress(void *ctx, const tune_trial_t *t, const tune_trial_t *best)
{
    if (*(int *)ctx)
        return;
    fprintf(stderr, "trial %u: cv accuracy %.4f macro-F1 %.4f  %.1f s  %s\n       best %.4f (trial %u)\n", t->index,
            t->cv_accuracy, t->cv_macro_f1, t->seconds, t->desc, best->cv_accuracy, best->index);
}

enum { OPT_THREADS = CLI_OPT_SEARCH_END };

/* Takes tune's own options into to: 0 taken, -1 not one of them,
 * EXIT_USAGE after printing why. */
static int tune_option(int c, const char *arg, tune_opts_t *to, cli_search_opts_t *s)
{
    int rc = cli_search_option("tune", c, arg, s);
    if (rc >= 0)
        return rc;
    switch (c) {
    case OPT_THREADS: return cli_opt_u32("tune", arg, &to->threads, 1, 64, "--threads takes 1..64");
    default: return -1;
    }
}

/* The search, then train_run with the winner and the model written:
 * EXIT_OKAY or EXIT_FAIL (printed). */
static int tune_and_save(const cli_data_opts_t *d, tune_opts_t *to, const rec_schema_t *schema)
{
    cli_run_t r = {0};
    tune_trial_t best;
    uint32_t ran;
    char err[TRI_ERRLEN];
    int rc = EXIT_FAIL;
    if (cli_read_data("tune", &r.ds, d->files, d->nfiles, schema, NULL, 0))
        goto out;
    train_set_t set;
    dataset_as_set(&r.ds, &set);
    if (tune_run(to, &set, &best, &ran, err, sizeof err)) {
        fprintf(stderr, "triage tune: %s\n", err);
        goto out;
    }
    r.meta = dataset_meta(&r.ds, d->files, d->nfiles, schema, d->name ? d->name : "default",
                          best.opts.tok.stopwords ? "en" : "none", best.opts.tok.stem[0] ? best.opts.tok.stem : "none");
    json_t *jtune = json_pack("{s:s,s:I,s:I,s:I,s:f,s:f,s:f,s:i}", "settings", best.desc, "trial",
                              (json_int_t)best.index, "trials", (json_int_t)ran, "folds", (json_int_t)to->folds,
                              "cv_accuracy", best.cv_accuracy, "cv_macro_f1", best.cv_macro_f1, "budget_s",
                              to->budget_s, "seed", (int)d->seed);
    if (!r.meta) {
        json_decref(jtune);
        goto out;
    }
    if (json_object_set_new(r.meta, "tune", jtune)) /* takes jtune, even on failure */
        goto out;
    json_t *mix = lang_mix_json(r.ds.text, r.ds.len, r.ds.n, LANG_MIN_SHARE_DEFAULT);
    if (!mix || json_object_set_new(r.meta, "lang", mix))
        goto out;
    train_run_opts_t ro = {.fit = best.opts, .holdout = d->holdout, .seed = d->seed, .refit = 1, .meta = r.meta};
    if (train_run(&ro, &set, &r.res, err, sizeof err)) {
        fprintf(stderr, "triage tune: %s\n", err);
        goto out;
    }
    if (model_save_file(d->out, r.res.bytes.p, r.res.bytes.len, err, sizeof err)) {
        fprintf(stderr, "triage tune: %s\n", err);
        goto out;
    }
    if (!d->quiet)
        printf("%u trials, best trial %u: cv accuracy %.4f macro-F1 %.4f\n  %s\nwrote %s (%zu bytes)\n", ran,
               best.index, best.cv_accuracy, best.cv_macro_f1, best.desc, d->out, r.res.bytes.len);
    rc = EXIT_OKAY;
out:
    cli_run_free(&r);
    return rc;
}

int cmd_tune(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_DATA_LONGOPTS,
        CLI_SEARCH_LONGOPTS, {"threads", required_argument, 0, OPT_THREADS},
        {"help", no_argument, 0, 'h'},           {0, 0, 0, 0}};
    cli_data_opts_t d;
    cli_data_init(&d);
    cli_search_opts_t search = {0};
    int c, rc = EXIT_USAGE;
    tune_opts_t to = {.threads = 2}; /* folds, trials and budget come from search */
    optind = 1;
    while ((c = getopt_long(argc, argv, CLI_DATA_SHORTOPTS "h", opts, NULL)) != -1) {
        if ((rc = cli_data_option("tune", c, optarg, &d)) >= 0 || (rc = tune_option(c, optarg, &to, &search)) >= 0) {
            if (rc)
                goto out;
            continue;
        }
        rc = c == 'h' ? EXIT_OKAY : EXIT_USAGE;
        usage(c == 'h' ? stdout : stderr);
        goto out;
    }
    rec_schema_t schema;
    if ((rc = cli_data_required("tune", argc, argv, &d)))
        goto out;
    to.budget_s = search.budget_s;
    to.folds = search.folds ? search.folds : 5;
    to.trials = search.trials ? search.trials : to.budget_s > 0 ? 0 : 20;
    to.seed = d.seed;
    cli_train_defaults(&to.base);
    to.base.feat.seed = d.seed;
    to.progress = progress;
    to.progress_ctx = &d.quiet;
    if ((rc = cli_data_schema("tune", &d, &schema)))
        goto out;
    rc = tune_and_save(&d, &to, &schema);
out:
    cli_data_free(&d);
    return rc;
}
