/* triage train: options in, train_run (core/train.h) on the data set, the
 * model written atomically. The training itself lives in the library. */
#include "cli.h"
#include "core/train.h"
#include "core/tri_err.h"

#include <getopt.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: triage train --data FILE [--data FILE]... --label FIELD --out MODEL\n"
            "         [--text FIELD[,FIELD...]]   text fields, joined (default: text)\n"
            "         [--algo nb|bnb|cnb]         multinomial, Bernoulli, complement NB (default nb)\n"
            "         [--ngrams MIN-MAX]          word n-gram range, 1..5 (default 1-2)\n"
            "         [--bits N]                  hash buckets 2^N (default 22)\n"
            "         [--features presence|counts]  (default presence)\n"
            "         [--stopwords none|en|FILE]  (default none)\n"
            "         [--stem none|english|...]   Snowball stemmer (default english)\n"
            "         [--sb RATIO]                keep n-grams whose signal/background ratio exceeds\n"
            "                                     RATIO for some label (default 0: off; 4 = published setup)\n"
            "         [--min-df N]                keep n-grams seen in at least N documents (default 2)\n"
            "         [--alpha A]                 Lidstone smoothing (default 0.25)\n"
            "         [--holdout FRACTION]        held out to measure (default 0.1; 0 disables)\n"
            "         [--seed N]                  seed of the split and of the hash (default 1)\n"
            "         [--no-refit]                keep the model fitted without the held-out part\n"
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
        {"jobs", required_argument, 0, 'j'},   {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    char **files = NULL;
    size_t nfiles = 0;
    const char *label = NULL, *out = NULL, *stopspec = "none", *stem = "english", *name = NULL;
    char *text = NULL, *textlist = NULL;
    double holdout = 0.1;
    uint32_t seed = 1;
    int refit = 1, quiet = 0, c, rc = EXIT_USAGE;
    const char *per_account = NULL;
    uint32_t min_records = 50, jobs = (uint32_t)sysconf(_SC_NPROCESSORS_ONLN);
    train_opts_t to = {.algo = TRAIN_NB, .alpha = 0.25, .sb = 0, .min_df = 2, .top_features = 25};
    to.feat = (feat_config_t){.ngram_min = 1, .ngram_max = 2, .bits = 22, .seed = 1, .mode = FEAT_PRESENCE};
    char *stopwords = NULL;
    dataset_t ds = {0};
    train_result_t res = {0};
    json_t *meta = NULL;

    optind = 1;
    while ((c = getopt_long(argc, argv, "d:l:t:a:n:B:S:T:s:D:A:H:r:o:F:RN:qhP:M:j:", opts, NULL)) != -1) {
        switch (c) {
        case 'd': {
            char **f = realloc(files, (nfiles + 1) * sizeof *f);
            if (!f)
                goto out;
            files = f;
            files[nfiles++] = optarg;
            break;
        }
        case 'l': label = optarg; break;
        case 't': text = optarg; break;
        case 'a':
            if ((to.algo = train_algo_parse(optarg)) < 0) {
                rc = cli_usage_error("train", "--algo takes nb, bnb or cnb, not '%s'", optarg);
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
        case 'F':
            if (!strcmp(optarg, "presence"))
                to.feat.mode = FEAT_PRESENCE;
            else if (!strcmp(optarg, "counts"))
                to.feat.mode = FEAT_COUNTS;
            else {
                rc = cli_usage_error("train", "--features takes presence or counts, not '%s'", optarg);
                goto out;
            }
            break;
        case 'R': refit = 0; break;
        case 'N': name = optarg; break;
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
    }
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
        schema.account_field = per_account;
        pa_opts_t pa = {.run = {.fit = to, .holdout = holdout, .seed = seed, .refit = refit},
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
    train_run_opts_t ro = {.fit = to, .holdout = holdout, .seed = seed, .refit = refit, .meta = meta};
    train_set_t set;
    dataset_as_set(&ds, &set);
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
