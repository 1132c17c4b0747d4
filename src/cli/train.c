/* triage train: options in, train_run (core/train.h) on the data set, the
 * model written atomically. The training itself lives in the library. */
#include "cli.h"
#include "core/train.h"
#include "core/tri_err.h"
#include "core/tune.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* --min-df not given: the default depends on the algorithm. */
#define MIN_DF_UNSET UINT32_MAX

#define DEF_ALGO CLI_DEF_ALGO
#define DEF_C CLI_DEF_C
#define DEF_NGRAMS CLI_DEF_NGRAMS
#define DEF_CHARS CLI_DEF_CHARS
#define DEF_STEM CLI_DEF_STEM

enum { OPT_C = CLI_OPT_SEARCH_END, OPT_CHARS, OPT_IDF, OPT_NORM, OPT_REVIEW_BELOW, OPT_REVIEW_PRECISION, OPT_COST, OPT_CV,
       OPT_LANG_MIN_SHARE, OPT_TUNE };
/* parse_args and check_args: go on (anything else is the exit code). */
enum { GO_ON = -1 };

/* What the command line says. */
typedef struct args {
    cli_data_opts_t d;
    train_opts_t to;
    const char *stopspec, *stem, *per_account;
    const char *chars, *features, *idf, *norm; /* NULL: the algorithm's default */
    double review_below, review_precision, cost[2], lang_min_share;
    uint32_t cv, min_records, jobs;
    int prep, refit;
    int tune;                 /* --tune (with --per-account) */
    cli_search_opts_t search; /* its --trials, --budget, --folds */
} args_t;

/* --cost A:B into two positive costs. */
static int parse_cost(const char *s, double cost[2])
{
    char tmp[64];
    if (strlen(s) >= sizeof tmp)
        return -1;
    strcpy(tmp, s);
    char *colon = strchr(tmp, ':');
    if (!colon)
        return -1;
    *colon = '\0';
    if (cli_parse_double(tmp, &cost[0]) || cli_parse_double(colon + 1, &cost[1]) || !(cost[0] > 0) ||
        !(cost[1] > 0))
        return -1;
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: triage train --data FILE [--data FILE]... --label FIELD --out MODEL\n"
            "         [--text FIELD[,FIELD...]]   text fields, joined (default: text)\n"
            "         [--prep plain|tweet|email]  text preparation, stored in the model (default plain;\n"
            "                                     email: subject marked, HTML to text, quoted replies and\n"
            "                                     signatures cut; fields such as subject,body or subject,html)\n"
            "         [--algo svm|lr|nb|bnb|cnb]  linear SVM or logistic regression (LIBLINEAR), or\n"
            "                                     multinomial, Bernoulli, complement NB (default " DEF_ALGO ")\n"
            "         [--C C]                     svm/lr inverse regularisation (default " DEF_C ")\n"
            "         [--ngrams MIN-MAX]          word n-gram range, 1..5 (default " DEF_NGRAMS ")\n"
            "         [--chars MIN-MAX|none]      character n-grams within word boundaries, 1..8\n"
            "                                     (default " DEF_CHARS " for svm/lr, none for NB)\n"
            "         [--bits N]                  hash buckets 2^N (default 22)\n"
            "         [--features presence|counts|sublinear]  sublinear = 1 + ln(tf)\n"
            "                                     (default sublinear for svm/lr, presence for NB)\n"
            "         [--idf on|off] [--norm l2|none]  IDF weights, per-record L2 norm (svm/lr; default on, l2)\n"
            "         [--stopwords none|en|FILE]  (default none)\n"
            "         [--stem none|english|...]   Snowball stemmer (default " DEF_STEM ")\n"
            "         [--review-below P]          mark records whose top score is below P for review\n"
            "         [--review-precision Q]      or choose P on the held-out records so that those not\n"
            "                                     marked are labeled with precision Q (e.g. 0.95)\n"
            "         [--lang-min-share S]        mark records in a language under share S of the training\n"
            "                                     texts (reliably detected) for review (default 0.01)\n"
            "         [--cost A:B]                two labels: cost of an error on a record of the first,\n"
            "                                     of the second label (in sorted order); sets the decision\n"
            "         [--sb RATIO]                keep n-grams whose signal/background ratio exceeds\n"
            "                                     RATIO for some label (default 0: off; 4 = published setup)\n"
            "         [--min-df N]                keep n-grams seen in at least N documents\n"
            "                                     (default 1 for svm/lr, 2 for NB)\n"
            "         [--alpha A]                 Lidstone smoothing (default 0.25)\n"
            "         [--holdout FRACTION]        held out to measure (default 0.1; 0 disables)\n"
            "         [--seed N]                  seed of the split and of the hash (default 1)\n"
            "         [--no-refit]                keep the model fitted without the held-out part\n"
            "         [--cv K]                    first report K-fold cross-validated accuracy of these settings\n"
            "         [--name NAME]               model name stored in the metadata\n"
            "         [--quiet]\n"
            "       triage train --per-account FIELD [--min-records N] [--jobs N] --out DIR (other options as above)\n"
            "                                     a model per account (FIELD of each record) with at least N labeled\n"
            "                                     records (default 50) and the shared default, N threads (default:\n"
            "                                     the cores), written as a tree for triage push --tree, with a report\n"
            "         [--tune [--trials N] [--budget DURATION] [--folds K]]\n"
            "                                     first search each account's settings as triage tune does, on\n"
            "                                     its training records: N trials per account (default 10, or\n"
            "                                     only the budget when one is given), DURATION for the whole\n"
            "                                     run (90s, 10m, 1h; each account gets its share by records),\n"
            "                                     K folds (default 5); the default model keeps the settings given\n"
            "Records whose label field is null or missing are skipped.\n");
}

/* The options of the fit itself (train_opts_t): 0 taken, -1 not one of
 * them, EXIT_USAGE after printing why. */
static int fit_option(int c, const char *arg, train_opts_t *to)
{
    switch (c) {
    case 'a':
        if ((to->algo = train_algo_parse(arg)) < 0)
            return cli_usage_error("train", "--algo takes svm, lr, nb, bnb or cnb, not '%s'", arg);
        return 0;
    case 'n':
        if (cli_parse_range(arg, &to->feat.ngram_min, &to->feat.ngram_max))
            return cli_usage_error("train", "--ngrams takes MIN-MAX such as 1-5, not '%s'", arg);
        return 0;
    case 'B': return cli_opt_u32("train", arg, &to->feat.bits, 0, UINT32_MAX, "--bits takes a number");
    case 's':
        if (cli_parse_double(arg, &to->sb) || to->sb < 0)
            return cli_usage_error("train", "--sb takes a non-negative ratio, not '%s'", arg);
        return 0;
    case 'D': return cli_opt_u32("train", arg, &to->min_df, 0, MIN_DF_UNSET - 1, "--min-df takes a count");
    case 'A':
        if (cli_parse_double(arg, &to->alpha) || !(to->alpha > 0))
            return cli_usage_error("train", "--alpha takes a positive number, not '%s'", arg);
        return 0;
    case OPT_C:
        if (cli_parse_double(arg, &to->C) || !(to->C > 0))
            return cli_usage_error("train", "--C takes a positive number, not '%s'", arg);
        return 0;
    default: return -1;
    }
}

/* The options around the fit: 0 taken, -1 not one of them, EXIT_USAGE
 * after printing why. */
static int run_option(int c, char *arg, args_t *a)
{
    switch (c) {
    case 'S': a->stopspec = arg; return 0;
    case 'T': a->stem = arg; return 0;
    case 'F': a->features = arg; return 0;
    case OPT_CHARS: a->chars = arg; return 0;
    case OPT_IDF: a->idf = arg; return 0;
    case OPT_NORM: a->norm = arg; return 0;
    case 'R': a->refit = 0; return 0;
    case 'P': a->per_account = arg; return 0;
    case OPT_REVIEW_BELOW:
        if (cli_parse_double(arg, &a->review_below) || !(a->review_below > 0 && a->review_below <= 1))
            return cli_usage_error("train", "--review-below takes a probability in (0,1], not '%s'", arg);
        return 0;
    case OPT_REVIEW_PRECISION:
        if (cli_parse_double(arg, &a->review_precision) || !(a->review_precision > 0 && a->review_precision < 1))
            return cli_usage_error("train", "--review-precision takes a fraction in (0,1), not '%s'", arg);
        return 0;
    case OPT_LANG_MIN_SHARE:
        if (cli_parse_double(arg, &a->lang_min_share) || !(a->lang_min_share >= 0 && a->lang_min_share < 1))
            return cli_usage_error("train", "--lang-min-share takes a fraction in [0,1), not '%s'", arg);
        return 0;
    case OPT_CV: return cli_opt_u32("train", arg, &a->cv, 2, 20, "--cv takes 2..20 folds");
    case OPT_COST:
        if (parse_cost(arg, a->cost))
            return cli_usage_error("train", "--cost takes A:B, two positive costs, not '%s'", arg);
        return 0;
    case 'E':
        if ((a->prep = prep_mode_parse(arg)) < 0)
            return cli_usage_error("train", "--prep takes plain, tweet or email, not '%s'", arg);
        return 0;
    case 'M':
        return cli_opt_u32("train", arg, &a->min_records, 2, UINT32_MAX, "--min-records takes a count of at least 2");
    case 'j': return cli_opt_u32("train", arg, &a->jobs, 1, 256, "--jobs takes 1 to 256");
    case OPT_TUNE: a->tune = 1; return 0;
    default: return cli_search_option("train", c, arg, &a->search);
    }
}

/* Fills a from the command line: GO_ON, or the exit code (help, a refused
 * option). */
static int parse_args(int argc, char **argv, args_t *a)
{
    static const struct option opts[] = {
        CLI_DATA_LONGOPTS,
        {"algo", required_argument, 0, 'a'},   {"ngrams", required_argument, 0, 'n'},
        {"bits", required_argument, 0, 'B'},   {"stopwords", required_argument, 0, 'S'},
        {"stem", required_argument, 0, 'T'},   {"sb", required_argument, 0, 's'},
        {"min-df", required_argument, 0, 'D'}, {"alpha", required_argument, 0, 'A'},
        {"features", required_argument, 0, 'F'}, {"no-refit", no_argument, 0, 'R'},
        {"per-account", required_argument, 0, 'P'}, {"min-records", required_argument, 0, 'M'},
        {"jobs", required_argument, 0, 'j'},
        {"C", required_argument, 0, OPT_C},    {"chars", required_argument, 0, OPT_CHARS},
        {"idf", required_argument, 0, OPT_IDF}, {"norm", required_argument, 0, OPT_NORM},
        {"review-below", required_argument, 0, OPT_REVIEW_BELOW},
        {"review-precision", required_argument, 0, OPT_REVIEW_PRECISION},
        {"lang-min-share", required_argument, 0, OPT_LANG_MIN_SHARE},
        {"cost", required_argument, 0, OPT_COST}, {"cv", required_argument, 0, OPT_CV},
        {"prep", required_argument, 0, 'E'},
        {"tune", no_argument, 0, OPT_TUNE},   CLI_SEARCH_LONGOPTS,
        {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
    int c, rc;
    optind = 1;
    while ((c = getopt_long(argc, argv, CLI_DATA_SHORTOPTS "a:n:B:S:T:s:D:A:F:RhP:M:j:E:", opts, NULL)) != -1) {
        if ((rc = cli_data_option("train", c, optarg, &a->d)) >= 0 || (rc = fit_option(c, optarg, &a->to)) >= 0 ||
            (rc = run_option(c, optarg, a)) >= 0) {
            if (rc)
                return rc;
            continue;
        }
        if (c == 'h') {
            usage(stdout);
            return EXIT_OKAY;
        }
        usage(stderr);
        return EXIT_USAGE;
    }
    return GO_ON;
}

/* The combinations of options, the feature configuration and the tokenizer
 * (stop words into *stopwords, the caller's to free), and the schema:
 * GO_ON or EXIT_USAGE (printed). */
static int check_args(int argc, char **argv, args_t *a, char **stopwords, rec_schema_t *schema)
{
    int rc;
    train_opts_t *to = &a->to;
    if ((rc = cli_data_required("train", argc, argv, &a->d)))
        return rc;
    if (cli_feature_options("train", to, a->chars, a->features, a->idf, a->norm))
        return EXIT_USAGE;
    /* Naive Bayes keeps its own default: its models store a row per n-gram,
     * and a once-seen n-gram's smoothed estimate is mostly the prior. */
    if (to->min_df == MIN_DF_UNSET)
        to->min_df = to->algo == TRAIN_SVM || to->algo == TRAIN_LR ? CLI_DEF_MIN_DF : CLI_DEF_NB_MIN_DF;
    if (a->review_below && a->review_precision)
        return cli_usage_error("train", "give --review-below or --review-precision, not both");
    if ((a->search.trials || a->search.folds || a->search.budget_s > 0) && !a->tune)
        return cli_usage_error("train", "--trials, --budget and --folds go with --tune");
    if (a->tune && !a->per_account)
        return cli_usage_error("train", "--tune is for --per-account; 'triage tune' searches the settings of one model");
    if (a->review_precision && a->d.holdout <= 0)
        return cli_usage_error("train", "--review-precision chooses the threshold on held-out records: needs --holdout");
    char err[TRI_ERRLEN];
    if (feat_config_check(&to->feat, err, sizeof err))
        return cli_usage_error("train", "%s", err);
    if (strcmp(a->stem, "none")) {
        if (strlen(a->stem) >= sizeof to->tok.stem)
            return cli_usage_error("train", "--stem: unknown stemmer '%s'", a->stem);
        strcpy(to->tok.stem, a->stem);
    } else
        to->tok.stem[0] = '\0';
    if (cli_stopwords(a->stopspec, stopwords, &to->tok.stopwords_len))
        return EXIT_USAGE;
    to->tok.stopwords = *stopwords;
    tok_t *check;
    if (tok_new(&to->tok, &check, err, sizeof err))
        return cli_usage_error("train", "%s", err);
    tok_free(check);
    to->feat.seed = a->d.seed;
    if ((rc = cli_data_schema("train", &a->d, schema)))
        return rc;
    schema->prep_mode = a->prep;
    return GO_ON;
}

/* triage train --per-account: the checks of its own, then per_account.c. */
static int run_per_account(const args_t *a, rec_schema_t *schema)
{
    if (!(a->d.holdout > 0))
        return cli_usage_error("train", "--per-account compares models on held-out records: --holdout must be > 0");
    if (a->prep != PREP_PLAIN) {
        /* The per-account trainer reads records itself and stores no
         * preparation: its models would not match the text served. */
        return cli_usage_error("train", "--prep %s is not available with --per-account", prep_mode_name(a->prep));
    }
    schema->account_field = a->per_account;
    pa_opts_t pa = {.run = {.fit = a->to, .holdout = a->d.holdout, .seed = a->d.seed, .refit = a->refit,
                            .review_below = a->review_below, .review_precision = a->review_precision,
                            .cost = {a->cost[0], a->cost[1]}},
                    .files = a->d.files, .nfiles = a->d.nfiles, .schema = *schema, .out = a->d.out,
                    .name = a->d.name ? a->d.name : "default", .stopspec = a->stopspec, .stem = a->stem,
                    .min_records = a->min_records, .jobs = a->jobs ? a->jobs : 1, .quiet = a->d.quiet,
                    .tune = a->tune, .tune_folds = a->search.folds ? a->search.folds : 5,
                    .tune_trials = a->search.trials ? a->search.trials : a->search.budget_s > 0 ? 0 : 10,
                    .tune_budget_s = a->search.budget_s};
    return train_per_account(&pa);
}

/* Reads the data, optionally cross-validates, runs train_run and writes the
 * model: EXIT_OKAY or EXIT_FAIL (printed). */
static int train_and_save(const args_t *a, const rec_schema_t *schema)
{
    const cli_data_opts_t *d = &a->d;
    cli_run_t r = {0};
    char err[TRI_ERRLEN];
    int rc = EXIT_FAIL;
    if (cli_read_data("train", &r.ds, d->files, d->nfiles, schema, NULL, 0))
        goto out;
    /* Provenance only the program knows; train_run adds the rest. */
    r.meta = dataset_meta(&r.ds, d->files, d->nfiles, schema, d->name ? d->name : "default", a->stopspec, a->stem);
    if (!r.meta)
        goto out;
    /* Stored only when not plain, so a model without it means joined fields
     * to every build, old and new. */
    if (a->prep != PREP_PLAIN)
        json_object_set_new(r.meta, "prep", json_pack("{s:s}", "mode", prep_mode_name(a->prep)));
    /* The languages of the prepared training texts: records in others are
     * marked for review when served (lang.h). */
    json_t *mix = lang_mix_json(r.ds.text, r.ds.len, r.ds.n, a->lang_min_share);
    if (!mix || json_object_set_new(r.meta, "lang", mix))
        goto out;
    train_run_opts_t ro = {.fit = a->to, .holdout = d->holdout, .seed = d->seed, .refit = a->refit, .meta = r.meta,
                           .review_below = a->review_below, .review_precision = a->review_precision,
                           .cost = {a->cost[0], a->cost[1]}};
    if (a->cost[0] && r.ds.nlabels != 2) {
        fprintf(stderr, "triage train: --cost is for two-label tasks; '%s' has %u labels\n", d->label,
                r.ds.nlabels);
        goto out;
    }
    train_set_t set;
    dataset_as_set(&r.ds, &set);
    if (a->cv) {
        double acc, f1;
        if (tune_cv(&a->to, &set, a->cv, d->seed, 2, &acc, &f1, err, sizeof err)) {
            fprintf(stderr, "triage train: cross-validation: %s\n", err);
            goto out;
        }
        printf("%u-fold cross-validation (seed %u): accuracy %.4f  macro-F1 %.4f\n", a->cv, d->seed, acc, f1);
    }
    if (train_run(&ro, &set, &r.res, err, sizeof err)) {
        fprintf(stderr, "triage train: %s\n", err);
        goto out;
    }
    if (!d->quiet && r.res.holdout) {
        printf("held out %zu of %zu records (seed %u):\n", r.res.nhold, r.ds.n, d->seed);
        cli_report_print(stdout, r.res.holdout, r.ds.labels, 0);
    }
    if (model_save_file(d->out, r.res.bytes.p, r.res.bytes.len, err, sizeof err)) {
        fprintf(stderr, "triage train: %s\n", err);
        goto out;
    }
    if (!d->quiet)
        printf("trained %s on %zu records (%zu without label skipped, %zu bad), %u labels; %zu n-grams seen, %u kept; "
               "temperature %.3f\n"
               "wrote %s (%zu bytes)\n",
               train_algo_name(a->to.algo), r.res.nfit, r.ds.skipped_nolabel, r.ds.bad, r.ds.nlabels,
               r.res.candidates, r.res.nrows, r.res.temperature, d->out, r.res.bytes.len);
    rc = EXIT_OKAY;
out:
    cli_run_free(&r);
    return rc;
}

int cmd_train(int argc, char **argv)
{
    args_t a = {.stopspec = "none", .stem = DEF_STEM, .prep = PREP_PLAIN, .refit = 1, .min_records = 50,
                .jobs = (uint32_t)sysconf(_SC_NPROCESSORS_ONLN), .lang_min_share = LANG_MIN_SHARE_DEFAULT};
    cli_data_init(&a.d);
    cli_train_defaults(&a.to);
    a.to.min_df = MIN_DF_UNSET; /* resolved by algorithm in check_args */
    char *stopwords = NULL;
    rec_schema_t schema;
    int rc = parse_args(argc, argv, &a);
    if (rc == GO_ON)
        rc = check_args(argc, argv, &a, &stopwords, &schema);
    if (rc == GO_ON)
        rc = a.per_account ? run_per_account(&a, &schema) : train_and_save(&a, &schema);
    free(stopwords);
    cli_data_free(&a.d);
    return rc;
}
