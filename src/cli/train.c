/* triage train: options in, train_run (core/train.h) on the data set, the
 * model written atomically. The training itself lives in the library. */
#include "cli.h"
#include "core/train.h"
#include "core/tri_err.h"
#include "core/tune.h"

#include <getopt.h>
#include <math.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEF_ALGO CLI_DEF_ALGO
#define DEF_C CLI_DEF_C
#define DEF_NGRAMS CLI_DEF_NGRAMS
#define DEF_CHARS CLI_DEF_CHARS
#define DEF_STEM CLI_DEF_STEM

enum { OPT_C = 256, OPT_CHARS, OPT_IDF, OPT_NORM, OPT_REVIEW_BELOW, OPT_REVIEW_PRECISION, OPT_COST, OPT_CV, OPT_LANG_MIN_SHARE };

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
            "         [--min-df N]                keep n-grams seen in at least N documents (default 2)\n"
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
            "Records whose label field is null or missing are skipped.\n");
}

int cmd_train(int argc, char **argv)
{
    static const struct option opts[] = {
        {"data", required_argument, 0, 'd'},   {"label", required_argument, 0, 'l'},
        {"text", required_argument, 0, 't'},   {"algo", required_argument, 0, 'a'},
        {"ngrams", required_argument, 0, 'n'}, {"bits", required_argument, 0, 'B'},
        {"stopwords", required_argument, 0, 'S'}, {"stem", required_argument, 0, 'T'},
        {"sb", required_argument, 0, 's'},     {"min-df", required_argument, 0, 'D'},
        {"alpha", required_argument, 0, 'A'},  {"holdout", required_argument, 0, 'H'},
        {"seed", required_argument, 0, 'r'},   {"out", required_argument, 0, 'o'},
        {"features", required_argument, 0, 'F'}, {"no-refit", no_argument, 0, 'R'},
        {"name", required_argument, 0, 'N'},   {"quiet", no_argument, 0, 'q'},
        {"per-account", required_argument, 0, 'P'}, {"min-records", required_argument, 0, 'M'},
        {"jobs", required_argument, 0, 'j'},
        {"C", required_argument, 0, OPT_C},    {"chars", required_argument, 0, OPT_CHARS},
        {"idf", required_argument, 0, OPT_IDF}, {"norm", required_argument, 0, OPT_NORM},
        {"review-below", required_argument, 0, OPT_REVIEW_BELOW},
        {"review-precision", required_argument, 0, OPT_REVIEW_PRECISION},
        {"lang-min-share", required_argument, 0, OPT_LANG_MIN_SHARE},
        {"cost", required_argument, 0, OPT_COST}, {"cv", required_argument, 0, OPT_CV},
        {"prep", required_argument, 0, 'E'},
        {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
    char **files = NULL;
    size_t nfiles = 0;
    const char *label = NULL, *out = NULL, *stopspec = "none", *stem = DEF_STEM, *name = NULL;
    const char *chars = NULL, *features = NULL, *idf = NULL, *norm = NULL;
    double review_below = 0, review_precision = 0, cost[2] = {0, 0}, lang_min_share = LANG_MIN_SHARE_DEFAULT;
    char *text = NULL, *textlist = NULL;
    double holdout = 0.1;
    uint32_t seed = 1, cv = 0;
    int schema_prep = PREP_PLAIN;
    int refit = 1, quiet = 0, c, rc = EXIT_USAGE;
    const char *per_account = NULL;
    uint32_t min_records = 50, jobs = (uint32_t)sysconf(_SC_NPROCESSORS_ONLN);
    train_opts_t to;
    cli_train_defaults(&to);
    char *stopwords = NULL;
    dataset_t ds = {0};
    train_result_t res = {0};
    json_t *meta = NULL;

    optind = 1;
    while ((c = getopt_long(argc, argv, "d:l:t:a:n:B:S:T:s:D:A:H:r:o:F:RN:qhP:M:j:E:", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            if (cli_add_arg(&files, &nfiles, optarg))
                goto out;
            break;
        case 'l': label = optarg; break;
        case 't': text = optarg; break;
        case 'a':
            if ((to.algo = train_algo_parse(optarg)) < 0) {
                rc = cli_usage_error("train", "--algo takes svm, lr, nb, bnb or cnb, not '%s'", optarg);
                goto out;
            }
            break;
        case 'n':
            if (cli_parse_range(optarg, &to.feat.ngram_min, &to.feat.ngram_max)) {
                rc = cli_usage_error("train", "--ngrams takes MIN-MAX such as 1-5, not '%s'", optarg);
                goto out;
            }
            break;
        case 'B':
            if (cli_parse_u32(optarg, &to.feat.bits)) {
                rc = cli_usage_error("train", "--bits takes a number, not '%s'", optarg);
                goto out;
            }
            break;
        case 'S': stopspec = optarg; break;
        case 'T': stem = optarg; break;
        case 's':
            if (cli_parse_double(optarg, &to.sb) || to.sb < 0) {
                rc = cli_usage_error("train", "--sb takes a non-negative ratio, not '%s'", optarg);
                goto out;
            }
            break;
        case 'D':
            if (cli_parse_u32(optarg, &to.min_df)) {
                rc = cli_usage_error("train", "--min-df takes a count, not '%s'", optarg);
                goto out;
            }
            break;
        case 'A':
            if (cli_parse_double(optarg, &to.alpha) || !(to.alpha > 0)) {
                rc = cli_usage_error("train", "--alpha takes a positive number, not '%s'", optarg);
                goto out;
            }
            break;
        case 'H':
            if (cli_parse_double(optarg, &holdout) || holdout < 0 || holdout >= 1) {
                rc = cli_usage_error("train", "--holdout takes a fraction in [0,1), not '%s'", optarg);
                goto out;
            }
            break;
        case 'r':
            if (cli_parse_u32(optarg, &seed)) {
                rc = cli_usage_error("train", "--seed takes a number, not '%s'", optarg);
                goto out;
            }
            break;
        case 'o': out = optarg; break;
        case 'F': features = optarg; break;
        case OPT_CHARS: chars = optarg; break;
        case OPT_IDF: idf = optarg; break;
        case OPT_NORM: norm = optarg; break;
        case OPT_C:
            if (cli_parse_double(optarg, &to.C) || !(to.C > 0)) {
                rc = cli_usage_error("train", "--C takes a positive number, not '%s'", optarg);
                goto out;
            }
            break;
        case OPT_REVIEW_BELOW:
            if (cli_parse_double(optarg, &review_below) || !(review_below > 0 && review_below <= 1)) {
                rc = cli_usage_error("train", "--review-below takes a probability in (0,1], not '%s'", optarg);
                goto out;
            }
            break;
        case OPT_REVIEW_PRECISION:
            if (cli_parse_double(optarg, &review_precision) || !(review_precision > 0 && review_precision < 1)) {
                rc = cli_usage_error("train", "--review-precision takes a fraction in (0,1), not '%s'", optarg);
                goto out;
            }
            break;
        case OPT_LANG_MIN_SHARE:
            if (cli_parse_double(optarg, &lang_min_share) || !(lang_min_share >= 0 && lang_min_share < 1)) {
                rc = cli_usage_error("train", "--lang-min-share takes a fraction in [0,1), not '%s'", optarg);
                goto out;
            }
            break;
        case OPT_CV:
            if (cli_parse_u32(optarg, &cv) || cv < 2 || cv > 20) {
                rc = cli_usage_error("train", "--cv takes 2..20 folds, not '%s'", optarg);
                goto out;
            }
            break;
        case OPT_COST:
            if (parse_cost(optarg, cost)) {
                rc = cli_usage_error("train", "--cost takes A:B, two positive costs, not '%s'", optarg);
                goto out;
            }
            break;
        case 'R': refit = 0; break;
        case 'N': name = optarg; break;
        case 'E':
            if ((schema_prep = prep_mode_parse(optarg)) < 0) {
                rc = cli_usage_error("train", "--prep takes plain, tweet or email, not '%s'", optarg);
                goto out;
            }
            break;
        case 'q': quiet = 1; break;
        case 'P': per_account = optarg; break;
        case 'M':
            if (cli_parse_u32(optarg, &min_records) || min_records < 2) {
                rc = cli_usage_error("train", "--min-records takes a count of at least 2, not '%s'", optarg);
                goto out;
            }
            break;
        case 'j':
            if (cli_parse_u32(optarg, &jobs) || jobs < 1 || jobs > 256) {
                rc = cli_usage_error("train", "--jobs takes 1 to 256, not '%s'", optarg);
                goto out;
            }
            break;
        case 'h': usage(stdout); rc = EXIT_OKAY; goto out;
        default: usage(stderr); goto out;
        }
    }
    if (optind < argc) {
        rc = cli_usage_error("train", "unexpected argument '%s'", argv[optind]);
        goto out;
    }
    if (!nfiles || !label || !out) {
        rc = cli_usage_error("train", "--data, --label and --out are required");
        goto out;
    }
    if (cli_feature_options("train", &to, chars, features, idf, norm))
        goto out;
    if (review_below && review_precision) {
        rc = cli_usage_error("train", "give --review-below or --review-precision, not both");
        goto out;
    }
    if (review_precision && holdout <= 0) {
        rc = cli_usage_error("train", "--review-precision chooses the threshold on held-out records: needs --holdout");
        goto out;
    }
    char err[TRI_ERRLEN];
    if (feat_config_check(&to.feat, err, sizeof err)) {
        rc = cli_usage_error("train", "%s", err);
        goto out;
    }
    if (strcmp(stem, "none")) {
        if (strlen(stem) >= sizeof to.tok.stem) {
            rc = cli_usage_error("train", "--stem: unknown stemmer '%s'", stem);
            goto out;
        }
        strcpy(to.tok.stem, stem);
    } else
        to.tok.stem[0] = '\0';
    if (cli_stopwords(stopspec, &stopwords, &to.tok.stopwords_len))
        goto out;
    to.tok.stopwords = stopwords;
    tok_t *check;
    if (tok_new(&to.tok, &check, err, sizeof err)) {
        rc = cli_usage_error("train", "%s", err);
        goto out;
    }
    tok_free(check);
    to.feat.seed = seed;
    rec_schema_t schema;
    rec_schema_default(&schema);
    schema.label_field = label;
    schema.prep_mode = schema_prep;
    if (text) {
        textlist = strdup(text);
        if (!textlist || rec_schema_set_text(&schema, textlist, err, sizeof err)) {
            rc = cli_usage_error("train", "--text: %s", err);
            goto out;
        }
    }

    if (per_account) {
        if (!(holdout > 0)) {
            rc = cli_usage_error("train", "--per-account compares models on held-out records: --holdout must be > 0");
            goto out;
        }
        if (schema_prep != PREP_PLAIN) {
            /* The per-account trainer reads records itself and stores no
             * preparation: its models would not match the text served. */
            rc = cli_usage_error("train", "--prep %s is not available with --per-account", prep_mode_name(schema_prep));
            goto out;
        }
        schema.account_field = per_account;
        pa_opts_t pa = {.run = {.fit = to, .holdout = holdout, .seed = seed, .refit = refit,
                                .review_below = review_below, .review_precision = review_precision,
                                .cost = {cost[0], cost[1]}},
                        .files = files, .nfiles = nfiles, .schema = schema, .out = out,
                        .name = name ? name : "default", .stopspec = stopspec, .stem = stem,
                        .min_records = min_records, .jobs = jobs ? jobs : 1, .quiet = quiet};
        rc = train_per_account(&pa);
        goto out;
    }
    rc = EXIT_FAIL;
    if (cli_read_data("train", &ds, files, nfiles, &schema, NULL, 0))
        goto out;
    /* Provenance only the program knows; train_run adds the rest. */
    json_t *jfiles = json_array(), *jtext = json_array();
    for (size_t i = 0; i < nfiles; i++) {
        char *dup = strdup(files[i]);
        json_array_append_new(jfiles, json_string(dup ? basename(dup) : files[i]));
        free(dup);
    }
    for (size_t i = 0; i < schema.ntext; i++)
        json_array_append_new(jtext, json_string(schema.text_fields[i]));
    meta = json_pack("{s:s,s:s,s:s,s:s,s:s,s:o,s:{s:o,s:s,s:I,s:I,s:I}}", "name", name ? name : "default",
                     "triage_version", TRIAGE_VERSION, "stopwords", stopspec, "stem", stem, "label_field", label,
                     "text_fields", jtext, "data", "files", jfiles, "digest", ds.digest, "records", (json_int_t)ds.n,
                     "skipped_without_label", (json_int_t)ds.skipped_nolabel, "bad_records", (json_int_t)ds.bad);
    if (!meta)
        goto out;
    /* Stored only when not plain, so a model without it means joined fields
     * to every build, old and new. */
    if (schema_prep != PREP_PLAIN)
        json_object_set_new(meta, "prep", json_pack("{s:s}", "mode", prep_mode_name(schema_prep)));
    /* The languages of the prepared training texts: records in others are
     * marked for review when served (lang.h). */
    json_t *mix = lang_mix_json(ds.text, ds.len, ds.n, lang_min_share);
    if (!mix || json_object_set_new(meta, "lang", mix))
        goto out;
    train_run_opts_t ro = {.fit = to, .holdout = holdout, .seed = seed, .refit = refit, .meta = meta,
                           .review_below = review_below, .review_precision = review_precision,
                           .cost = {cost[0], cost[1]}};
    if (cost[0] && ds.nlabels != 2) {
        fprintf(stderr, "triage train: --cost is for two-label tasks; '%s' has %u labels\n", label, ds.nlabels);
        goto out;
    }
    train_set_t set;
    dataset_as_set(&ds, &set);
    if (cv) {
        double acc, f1;
        if (tune_cv(&to, &set, cv, seed, 2, &acc, &f1, err, sizeof err)) {
            fprintf(stderr, "triage train: cross-validation: %s\n", err);
            goto out;
        }
        printf("%u-fold cross-validation (seed %u): accuracy %.4f  macro-F1 %.4f\n", cv, seed, acc, f1);
    }
    if (train_run(&ro, &set, &res, err, sizeof err)) {
        fprintf(stderr, "triage train: %s\n", err);
        goto out;
    }
    if (!quiet && res.holdout) {
        printf("held out %zu of %zu records (seed %u):\n", res.nhold, ds.n, seed);
        cli_report_print(stdout, res.holdout, ds.labels, 0);
    }
    if (model_save_file(out, res.bytes.p, res.bytes.len, err, sizeof err)) {
        fprintf(stderr, "triage train: %s\n", err);
        goto out;
    }
    if (!quiet)
        printf("trained %s on %zu records (%zu without label skipped, %zu bad), %u labels; %zu n-grams seen, %u kept; "
               "temperature %.3f\n"
               "wrote %s (%zu bytes)\n",
               train_algo_name(to.algo), res.nfit, ds.skipped_nolabel, ds.bad, ds.nlabels, res.candidates, res.nrows,
               res.temperature, out, res.bytes.len);
    rc = EXIT_OKAY;
out:
    if (meta)
        json_decref(meta);
    train_result_free(&res);
    dataset_free(&ds);
    free(stopwords);
    free(textlist);
    free(files);
    return rc;
}
