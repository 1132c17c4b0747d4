/* triage train: read labeled JSONL, hold out a seeded fraction to measure,
 * fit the softmax temperature there, refit on everything, choose probe texts,
 * and write the model atomically. */
#include "cli.h"
#include "core/eval.h"
#include "core/train.h"
#include "core/tri_err.h"
#include "core/tstamp.h"

#include <getopt.h>
#include <libgen.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PROBES_PER_LABEL 2
#define PROBE_MAX_BYTES 280

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
            "Records whose label field is null or missing are skipped.\n");
}

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

typedef struct probe_cand {
    size_t doc;
    float margin;
} probe_cand_t;

static int cmp_cand(const void *a, const void *b)
{
    const probe_cand_t *x = a, *y = b;
    if (x->margin != y->margin)
        return x->margin < y->margin ? 1 : -1;
    return x->doc < y->doc ? -1 : x->doc > y->doc;
}

/* Probe texts: per label, the training texts the final model assigns to that
 * (true) label with the widest margin. A loaded copy of the model must give
 * the same answers, which catches a wrong tokenizer or damaged weights. */
static json_t *choose_probes(model_t *m, const dataset_t *ds)
{
    uint32_t L = model_nlabels(m);
    float *raw = malloc(ds->n * L * sizeof *raw);
    uint32_t *pred = malloc(ds->n * sizeof *pred);
    probe_cand_t *cand = malloc(ds->n * sizeof *cand);
    json_t *out = json_array();
    if (!raw || !pred || !cand || cli_predict(m, ds, NULL, ds->n, pred, raw))
        goto done;
    for (uint32_t c = 0; c < L; c++) {
        size_t nc = 0;
        for (size_t i = 0; i < ds->n; i++) {
            if (pred[i] != c || ds->label[i] != c || ds->len[i] > PROBE_MAX_BYTES || ds->len[i] < 8)
                continue;
            const float *r = raw + i * L;
            float second = -INFINITY;
            for (uint32_t k = 0; k < L; k++)
                if (k != c && r[k] > second)
                    second = r[k];
            cand[nc++] = (probe_cand_t){i, r[c] - second};
        }
        qsort(cand, nc, sizeof *cand, cmp_cand);
        for (size_t k = 0; k < nc && k < MAX_PROBES_PER_LABEL; k++)
            json_array_append_new(out, json_pack("{s:s%,s:s}", "text", ds->text[cand[k].doc], ds->len[cand[k].doc],
                                                 "label", model_label(m, c)));
    }
done:
    free(raw);
    free(pred);
    free(cand);
    return out;
}

/* Builds model bytes from a fit, with the given metadata. */
static int build_model(const train_out_t *fit, const train_opts_t *to, const dataset_t *ds, float temperature,
                       json_t *meta, buf_t *bytes, model_t **loaded)
{
    char *mj = json_dumps(meta, JSON_COMPACT | JSON_REAL_PRECISION(6));
    if (!mj)
        return TRI_ENOMEM;
    model_spec_t spec;
    train_set_t set = {.labels = (const char *const *)ds->labels};
    train_out_spec(fit, to, &set, temperature, mj, &spec);
    char err[TRI_ERRLEN];
    buf_reset(bytes);
    int rc = model_write(&spec, bytes, err, sizeof err);
    free(mj);
    if (rc) {
        fprintf(stderr, "triage train: %s\n", err);
        return rc;
    }
    if (loaded && (rc = model_load_mem(bytes->p, bytes->len, loaded, err, sizeof err)))
        fprintf(stderr, "triage train: the model just written does not load: %s\n", err);
    return rc;
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
        {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
    char **files = NULL;
    size_t nfiles = 0;
    const char *label = NULL, *out = NULL, *stopspec = "none", *stem = "english", *name = NULL;
    char *text = NULL, *textlist = NULL;
    double holdout = 0.1;
    uint32_t seed = 1;
    int refit = 1, quiet = 0, c, rc = EXIT_USAGE;
    train_opts_t to = {.algo = TRAIN_NB, .alpha = 0.25, .sb = 0, .min_df = 2, .top_features = 25};
    to.feat = (feat_config_t){.ngram_min = 1, .ngram_max = 2, .bits = 22, .seed = 1, .mode = FEAT_PRESENCE};
    char *stopwords = NULL;
    dataset_t ds = {0};
    train_out_t fit = {0};
    size_t *idx = NULL;
    uint32_t *pred = NULL;
    float *raw = NULL;
    json_t *meta = NULL, *hold = NULL;
    buf_t bytes = BUF_INIT;
    model_t *m = NULL;
    eval_t *e = NULL;
    float temperature = 1.0f;

    optind = 1;
    while ((c = getopt_long(argc, argv, "d:l:t:a:n:B:S:T:s:D:A:H:r:o:F:RN:qh", opts, NULL)) != -1) {
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

    rc = EXIT_FAIL;
    if (dataset_read(&ds, files, nfiles, &schema, NULL, 0))
        goto out;
    if (ds.nlabels < 2) {
        fprintf(stderr, "triage train: need at least two distinct labels in '%s', found %u (%zu records)\n", label,
                ds.nlabels, ds.n);
        goto out;
    }
    train_set_t set = {ds.n, (const char *const *)ds.text, ds.len, ds.label, ds.nlabels,
                       (const char *const *)ds.labels};

    /* Seeded shuffle, then the first `nhold` are held out. */
    idx = malloc(ds.n * sizeof *idx);
    if (!idx)
        goto out;
    for (size_t i = 0; i < ds.n; i++)
        idx[i] = i;
    uint64_t st = seed;
    for (size_t i = ds.n - 1; i > 0; i--) {
        size_t j = (size_t)(splitmix(&st) % (i + 1));
        size_t t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
    size_t nhold = (size_t)floor(holdout * (double)ds.n);
    if (holdout > 0 && (nhold < 1 || ds.n - nhold < 2)) {
        fprintf(stderr, "triage train: too few records (%zu) to hold out %.2f\n", ds.n, holdout);
        goto out;
    }
    if (nhold) {
        if (train_fit(&to, &set, idx + nhold, ds.n - nhold, &fit, err, sizeof err)) {
            fprintf(stderr, "triage train: %s\n", err);
            goto out;
        }
        json_t *pre = json_object();
        int brc = build_model(&fit, &to, &ds, 1.0f, pre, &bytes, &m);
        json_decref(pre);
        if (brc)
            goto out;
        pred = malloc(nhold * sizeof *pred);
        raw = malloc(nhold * ds.nlabels * sizeof *raw);
        e = eval_new(ds.nlabels);
        if (!pred || !raw || !e || cli_predict(m, &ds, idx, nhold, pred, raw))
            goto out;
        uint32_t *truth = malloc(nhold * sizeof *truth);
        if (!truth)
            goto out;
        for (size_t i = 0; i < nhold; i++) {
            truth[i] = ds.label[idx[i]];
            eval_add(e, truth[i], pred[i]);
        }
        temperature = train_fit_temperature(raw, truth, nhold, ds.nlabels);
        free(truth);
        hold = cli_report_json(e, ds.labels);
        json_object_set_new(hold, "fraction", json_real(holdout));
        json_object_set_new(hold, "seed", json_integer(seed));
        json_object_set_new(hold, "refit_on_all", json_boolean(refit));
        if (!quiet) {
            printf("held out %zu of %zu records (seed %u):\n", nhold, ds.n, seed);
            cli_report_print(stdout, e, ds.labels, 0);
        }
        model_unref(m);
        m = NULL;
        if (refit)
            train_out_free(&fit);
    }
    if (!nhold || refit) {
        if (train_fit(&to, &set, NULL, 0, &fit, err, sizeof err)) {
            fprintf(stderr, "triage train: %s\n", err);
            goto out;
        }
    }

    /* Metadata. */
    char now[40];
    tstamp_format(tstamp_now_ms() / 1000 * 1000, now, sizeof now);
    json_t *jfiles = json_array(), *jlabels = json_object(), *jtext = json_array();
    for (size_t i = 0; i < nfiles; i++) {
        char *dup = strdup(files[i]);
        json_array_append_new(jfiles, json_string(dup ? basename(dup) : files[i]));
        free(dup);
    }
    for (uint32_t i = 0; i < ds.nlabels; i++)
        json_object_set_new(jlabels, ds.labels[i], json_integer((json_int_t)fit.label_docs[i]));
    for (size_t i = 0; i < schema.ntext; i++)
        json_array_append_new(jtext, json_string(schema.text_fields[i]));
    size_t nfit = nhold && !refit ? ds.n - nhold : ds.n;
    meta = json_pack("{s:s,s:s,s:s,s:s,s:f,s:f,s:i,s:s,s:[i,i],s:i,s:s,s:s,s:s,s:o,s:{s:o,s:s,s:I,s:I,s:I},"
                     "s:o,s:I,s:I,s:f}",
                     "name", name ? name : "default", "created_at", now, "triage_version", TRIAGE_VERSION, "algo",
                     train_algo_name(to.algo), "alpha", to.alpha, "sb", to.sb, "min_df", (int)to.min_df, "features",
                     to.feat.mode == FEAT_COUNTS ? "counts" : "presence", "ngrams", (int)to.feat.ngram_min,
                     (int)to.feat.ngram_max, "bits", (int)to.feat.bits, "stopwords", stopspec, "stem", stem,
                     "label_field", label, "text_fields", jtext, "data", "files", jfiles, "digest", ds.digest,
                     "records", (json_int_t)ds.n, "skipped_without_label", (json_int_t)ds.skipped_nolabel,
                     "bad_records", (json_int_t)ds.bad, "labels", jlabels, "documents", (json_int_t)nfit,
                     "features_kept", (json_int_t)fit.nrows, "temperature", (double)temperature);
    if (!meta)
        goto out;
    json_object_set_new(meta, "features_seen", json_integer((json_int_t)fit.candidates));
    if (hold)
        json_object_set(meta, "holdout", hold);
    json_object_set(meta, "top_features", fit.top_features);
    /* Choose probes with the final weights, then write the final file. */
    if (build_model(&fit, &to, &ds, temperature, meta, &bytes, &m))
        goto out;
    json_object_set_new(meta, "probes", choose_probes(m, &ds));
    model_unref(m);
    m = NULL;
    if (build_model(&fit, &to, &ds, temperature, meta, &bytes, &m))
        goto out;
    if (model_save_file(out, bytes.p, bytes.len, err, sizeof err)) {
        fprintf(stderr, "triage train: %s\n", err);
        goto out;
    }
    if (!quiet)
        printf("trained %s on %zu records, %u labels; %zu n-grams seen, %u kept; temperature %.3f\n"
               "wrote %s (%zu bytes)\n",
               train_algo_name(to.algo), nfit, ds.nlabels, fit.candidates, fit.nrows, temperature, out, bytes.len);
    rc = EXIT_OKAY;
out:
    model_unref(m);
    buf_free(&bytes);
    if (meta)
        json_decref(meta);
    if (hold)
        json_decref(hold);
    eval_free(e);
    free(pred);
    free(raw);
    free(idx);
    train_out_free(&fit);
    dataset_free(&ds);
    free(stopwords);
    free(textlist);
    free(files);
    return rc;
}
