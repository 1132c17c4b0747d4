/* triage inspect: what a model is, what it was trained on, how well it did,
 * and which n-grams pull hardest toward each label. */
#include "cli.h"
#include "core/tri_err.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: triage inspect MODEL [--top N] [--json]\n");
}

/* The training language mix (lang.h), largest shares first. */
static void print_lang_mix(const json_t *meta)
{
    lang_mix_t mix;
    char err[TRI_ERRLEN];
    const json_t *l = json_object_get(meta, "lang");
    if (!l) {
        printf("languages not recorded (trained before language detection): no record is marked for its language\n");
        return;
    }
    if (lang_mix_from_meta(meta, &mix, err, sizeof err)) {
        printf("languages %s\n", err);
        return;
    }
    printf("languages %" JSON_INTEGER_FORMAT " of %" JSON_INTEGER_FORMAT " texts detected reliably:",
           json_integer_value(json_object_get(l, "reliable")), json_integer_value(json_object_get(l, "records")));
    for (size_t i = 0; i < mix.n && i < 12; i++)
        printf(" %s %.2f%%", cli_printable(mix.code[i]), 100 * mix.share[i]);
    if (mix.n > 12)
        printf(" (+%zu more)", mix.n - 12);
    printf("\n          records in a language under %.1f%% of them are marked \"review\": true (review_reason lang)\n",
           100 * mix.min_share);
}

/* The model as `--json` prints it (sum: the checksum in hex). */
static void print_json(const model_t *m, const char *path, uint32_t top, const char *sum)
{
    json_t *meta = model_meta(m);
    const tok_config_t *tc = model_tok_config(m);
    const feat_config_t *fc = model_feat_config(m);
    uint32_t L = model_nlabels(m);
    json_t *tf = json_object_get(meta, "top_features");
    char err[TRI_ERRLEN];
    json_t *labels = json_array(), *topj = json_object();
    for (uint32_t i = 0; i < L; i++) {
        json_array_append_new(labels, json_string(model_label(m, i)));
        json_t *arr = json_array(), *src = json_object_get(tf, model_label(m, i));
        size_t k;
        json_t *v;
        json_array_foreach(src, k, v)
        {
            if (k >= top)
                break;
            json_array_append(arr, v);
        }
        json_object_set_new(topj, model_label(m, i), arr);
    }
    json_t *meta_copy = json_deep_copy(meta);
    json_object_del(meta_copy, "top_features");
    json_t *o = json_pack("{s:s,s:i,s:I,s:s,s:o,s:{s:s,s:I,s:[i,i],s:i,s:s,s:I},s:f,s:I,s:o,s:o}", "file", path,
                          "format_version", (int)model_format_version(m), "bytes", (json_int_t)model_bytes(m), "checksum", sum, "labels",
                          labels, "config", "stem", tc->stem[0] ? tc->stem : "none", "stopwords",
                          (json_int_t)(tc->stopwords_len ? 1 : 0), "ngrams", (int)fc->ngram_min,
                          (int)fc->ngram_max, "bits", (int)fc->bits, "features",
                          feat_mode_name(fc->mode), "seed", (json_int_t)fc->seed,
                          "temperature", (double)model_temperature(m), "rows", (json_int_t)model_nrows(m),
                          "meta", meta_copy, "top", topj);
    json_t *cfg = json_object_get(o, "config");
    json_object_set_new(cfg, "chars", fc->char_max ? json_pack("[i,i]", (int)fc->char_min, (int)fc->char_max)
                                                   : json_null());
    json_object_set_new(cfg, "idf", json_boolean(fc->idf));
    json_object_set_new(cfg, "norm", json_string(fc->l2 ? "l2" : "none"));
    if (model_review_below(m) > 0)
        json_object_set_new(o, "review_below", json_real(model_review_below(m)));
    /* stopwords: report the count of words rather than a flag */
    tok_t *t;
    if (o && !tok_new(tc, &t, err, sizeof err)) {
        json_object_set_new(json_object_get(o, "config"), "stopwords",
                            json_integer((json_int_t)tok_stopword_count(t)));
        tok_free(t);
    }
    json_dumpf(o, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
    fputc('\n', stdout);
    json_decref(o);
}

/* The text report's first part: what the model is and how it scores. */
static void print_model(const model_t *m, const char *path, const char *sum)
{
    json_t *meta = model_meta(m);
    const tok_config_t *tc = model_tok_config(m);
    const feat_config_t *fc = model_feat_config(m);
    char err[TRI_ERRLEN];
    /* Metadata strings are the file's, not ours: never raw to a terminal. */
    printf("model     %s (format %u, %zu bytes, checksum %s)\n", cli_printable(path), model_format_version(m),
           model_bytes(m), sum);
    printf("name      %s, trained %s by triage %s\n", cli_printable(json_string_value(json_object_get(meta, "name"))),
           cli_printable(json_string_value(json_object_get(meta, "created_at"))),
           cli_printable(json_string_value(json_object_get(meta, "triage_version"))));
    const char *algo = cli_printable(json_string_value(json_object_get(meta, "algo")));
    if (json_object_get(meta, "C"))
        printf("algorithm %s (LIBLINEAR), C %g, temperature %.3f\n", algo, json_number_value(json_object_get(meta, "C")),
               (double)model_temperature(m));
    else
        printf("algorithm %s, alpha %g, temperature %.3f\n", algo, json_number_value(json_object_get(meta, "alpha")),
               (double)model_temperature(m));
    if (model_review_below(m) > 0)
        printf("review    records whose score is below %.4f are marked \"review\": true\n",
               (double)model_review_below(m));
    if (model_decision(m))
        printf("decision  cost-weighted (offsets %+.3f %+.3f)\n", (double)model_decision(m)[0],
               (double)model_decision(m)[1]);
    json_t *tune = json_object_get(meta, "tune");
    if (tune)
        printf("tuned     %s\n          trial %" JSON_INTEGER_FORMAT " of %" JSON_INTEGER_FORMAT
               ", %" JSON_INTEGER_FORMAT "-fold cv accuracy %.4f, macro-F1 %.4f (seed %" JSON_INTEGER_FORMAT ")\n",
               cli_printable(json_string_value(json_object_get(tune, "settings"))),
               json_integer_value(json_object_get(tune, "trial")), json_integer_value(json_object_get(tune, "trials")),
               json_integer_value(json_object_get(tune, "folds")),
               json_number_value(json_object_get(tune, "cv_accuracy")),
               json_number_value(json_object_get(tune, "cv_macro_f1")), json_integer_value(json_object_get(tune, "seed")));
    tok_t *t = NULL;
    size_t nstop = 0;
    if (!tok_new(tc, &t, err, sizeof err)) {
        nstop = tok_stopword_count(t);
        tok_free(t);
    }
    printf("tokenizer stem %s, %zu stop words\n", tc->stem[0] ? tc->stem : "none", nstop);
    char chars[32] = "no character n-grams";
    if (fc->char_max)
        snprintf(chars, sizeof chars, "character n-grams %u-%u", fc->char_min, fc->char_max);
    printf("features  word n-grams %u-%u, %s, %s%s%s, 2^%u buckets, seed %" PRIu64 ", %u rows kept\n", fc->ngram_min,
           fc->ngram_max, chars, feat_mode_name(fc->mode), fc->idf ? " tf x idf" : "", fc->l2 ? ", L2 per family" : "",
           fc->bits, fc->seed, model_nrows(m));
}

/* The text report's second part: what it was trained on and learned. */
static void print_training(const model_t *m, uint32_t top)
{
    json_t *meta = model_meta(m);
    uint32_t L = model_nlabels(m);
    json_t *tf = json_object_get(meta, "top_features");
    json_t *data = json_object_get(meta, "data");
    if (data)
        printf("data      %" JSON_INTEGER_FORMAT " records, digest %s\n",
               json_integer_value(json_object_get(data, "records")),
               cli_printable(json_string_value(json_object_get(data, "digest"))));
    print_lang_mix(meta);
    json_t *lc = json_object_get(meta, "labels");
    printf("labels    %u:", L);
    for (uint32_t i = 0; i < L; i++)
        printf(" %s (%" JSON_INTEGER_FORMAT ")", model_label(m, i),
               json_integer_value(json_object_get(lc, model_label(m, i))));
    printf("\n");
    json_t *h = json_object_get(meta, "holdout");
    if (h)
        printf("held out  %.0f%%: accuracy %.4f, macro-F1 %.4f, calibration error %.4f on %" JSON_INTEGER_FORMAT
               " records\n",
               100 * json_number_value(json_object_get(h, "fraction")),
               json_number_value(json_object_get(h, "accuracy")), json_number_value(json_object_get(h, "macro_f1")),
               json_number_value(json_object_get(h, "ece")), json_integer_value(json_object_get(h, "records")));
    printf("probes    %zu\n", json_array_size(json_object_get(meta, "probes")));
    for (uint32_t i = 0; i < L; i++) {
        json_t *arr = json_object_get(tf, model_label(m, i));
        printf("\n%s: n-grams pulling hardest toward it\n", model_label(m, i));
        size_t k;
        json_t *v;
        json_array_foreach(arr, k, v)
        {
            if (k >= top)
                break;
            printf("  %+7.3f  %-40s (%" JSON_INTEGER_FORMAT " docs)\n",
                   json_number_value(json_object_get(v, "pull")),
                   cli_printable(json_string_value(json_object_get(v, "ngram"))),
                   json_integer_value(json_object_get(v, "docs")));
        }
    }
}

int cmd_inspect(int argc, char **argv)
{
    static const struct option opts[] = {{"top", required_argument, 0, 'n'},
                                         {"json", no_argument, 0, 'j'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    uint32_t top = 10;
    int json = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "n:jh", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            if (cli_parse_u32(optarg, &top))
                return cli_usage_error("inspect", "--top takes a count, not '%s'", optarg);
            break;
        case 'j': json = 1; break;
        case 'h': usage(stdout); return EXIT_OKAY;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (optind != argc - 1)
        return cli_usage_error("inspect", "give exactly one MODEL");
    const char *path = argv[optind];
    model_t *m;
    char err[TRI_ERRLEN];
    if (model_load_file(path, &m, err, sizeof err)) {
        fprintf(stderr, "triage inspect: refusing model: %s\n", err);
        return EXIT_FAIL;
    }
    char sum[24];
    snprintf(sum, sizeof sum, "%016" PRIx64, model_checksum(m));
    if (json)
        print_json(m, path, top, sum);
    else {
        print_model(m, path, sum);
        print_training(m, top);
    }
    model_unref(m);
    return EXIT_OKAY;
}
