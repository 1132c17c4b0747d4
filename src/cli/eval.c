/* triage eval: accuracy, macro-F1, per-label metrics, confusion matrix, and
 * the per-period accuracy projection. */
#include "cli.h"
#include "core/eval.h"
#include "core/tri_err.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void cli_report_print(FILE *f, const eval_t *e, char *const *labels, int confusion)
{
    eval_report_t r;
    if (eval_compute(e, &r))
        return;
    size_t w = 5;
    for (uint32_t i = 0; i < e->n; i++)
        if (strlen(labels[i]) > w)
            w = strlen(labels[i]);
    fprintf(f, "accuracy %.4f  macro-F1 %.4f  (%llu records)\n", r.accuracy, r.macro_f1,
            (unsigned long long)e->total);
    fprintf(f, "  %-*s  precision  recall  f1      support\n", (int)w, "label");
    for (uint32_t i = 0; i < e->n; i++)
        fprintf(f, "  %-*s  %.4f     %.4f  %.4f  %llu\n", (int)w, labels[i], r.labels[i].precision,
                r.labels[i].recall, r.labels[i].f1, (unsigned long long)r.labels[i].support);
    if (confusion) {
        fprintf(f, "confusion (rows: true label, columns: predicted, in the order above)\n");
        for (uint32_t i = 0; i < e->n; i++) {
            fprintf(f, "  %-*s", (int)w, labels[i]);
            for (uint32_t j = 0; j < e->n; j++)
                fprintf(f, " %6llu", (unsigned long long)e->cm[(size_t)i * e->n + j]);
            fputc('\n', f);
        }
    }
    eval_report_free(&r);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: triage eval --model MODEL --data FILE [--data FILE]... --label FIELD\n"
               "                   [--text FIELD[,FIELD...]] [--by day|month] [--json]\n"
               "Scores MODEL on labeled JSONL: accuracy, macro-F1, per-label precision, recall,\n"
               "F1 and support, and the confusion matrix. --by projects accuracy per period\n"
               "from per-label precision and each period's predicted label mix.\n");
}

/* What eval prints besides the report: calibration, coverage, review, and
 * the projection by period. */
typedef struct summary {
    double bins[EVAL_ECE_BINS * 3], ece, at[4];
    float rb;          /* the model's review threshold, 0 for none */
    size_t nrev, okrev; /* records marked for review; correct among the others */
    json_t *byj;       /* eval_by_period's object, or NULL without --by */
    size_t no_ts;
} summary_t;

static const double coverage[] = {0.5, 0.8, 0.9, 1.0};

static void summarize(const model_t *m, const dataset_t *ds, const float *conf, const uint8_t *correct, summary_t *s)
{
    /* Calibration of `score` and what abstaining buys. */
    s->ece = eval_ece(conf, correct, ds->n, EVAL_ECE_BINS, s->bins);
    for (int k = 0; k < 4; k++)
        s->at[k] = eval_accuracy_at_coverage(conf, correct, ds->n, coverage[k]);
    s->rb = model_review_below(m);
    for (size_t i = 0; s->rb > 0 && i < ds->n; i++)
        if (conf[i] < s->rb)
            s->nrev++;
        else
            s->okrev += correct[i];
}

static double not_reviewed_accuracy(const summary_t *s, size_t n)
{
    return n > s->nrev ? (double)s->okrev / (double)(n - s->nrev) : 0.0;
}

static void print_json(const char *model_path, const dataset_t *ds, const eval_t *e, summary_t *s)
{
    json_t *o = eval_report_json(e, (const char *const *)ds->labels);
    json_object_set_new(o, "model", json_string(model_path));
    json_object_set_new(o, "skipped_without_label", json_integer((json_int_t)ds->skipped_nolabel));
    json_object_set_new(o, "bad_records", json_integer((json_int_t)ds->bad));
    if (s->byj)
        json_object_set_new(o, "by", s->byj);
    s->byj = NULL;
    json_t *rel = json_array(), *cov = json_object();
    const double *bins = s->bins;
    for (int b = 0; b < EVAL_ECE_BINS; b++)
        json_array_append_new(rel, json_pack("{s:f,s:f,s:I,s:f,s:f}", "from", (double)b / EVAL_ECE_BINS, "to",
                                             (double)(b + 1) / EVAL_ECE_BINS, "records", (json_int_t)bins[3 * b],
                                             "mean_score", bins[3 * b + 1], "accuracy", bins[3 * b + 2]));
    for (int k = 0; k < 4; k++) {
        char key[16];
        snprintf(key, sizeof key, "%.0f%%", coverage[k] * 100);
        json_object_set_new(cov, key, json_real(s->at[k]));
    }
    json_object_set_new(o, "ece", json_real(s->ece));
    json_object_set_new(o, "reliability", rel);
    json_object_set_new(o, "accuracy_at_coverage", cov);
    if (s->rb > 0)
        json_object_set_new(o, "review", json_pack("{s:f,s:f,s:f}", "below", (double)s->rb, "share",
                                                   (double)s->nrev / (double)ds->n, "accuracy_not_reviewed",
                                                   not_reviewed_accuracy(s, ds->n)));
    json_dumpf(o, stdout, JSON_COMPACT | JSON_REAL_PRECISION(6));
    fputc('\n', stdout);
    json_decref(o);
}

static void print_periods(const char *by, const summary_t *s)
{
    json_t *periods = json_object_get(s->byj, "periods");
    printf("projected accuracy by %s: mean %.4f, band [%.4f, %.4f] (34.1%%-65.9%% quantiles of %zu periods)\n", by,
           json_real_value(json_object_get(s->byj, "mean")),
           json_real_value(json_array_get(json_object_get(s->byj, "band"), 0)),
           json_real_value(json_array_get(json_object_get(s->byj, "band"), 1)), json_array_size(periods));
    size_t k;
    json_t *p;
    json_array_foreach(periods, k, p)
        printf("  %s  %6lld records  projected %.4f  actual %.4f\n", json_string_value(json_object_get(p, "start")),
               (long long)json_integer_value(json_object_get(p, "records")),
               json_real_value(json_object_get(p, "projected_accuracy")),
               json_real_value(json_object_get(p, "actual_accuracy")));
    if (s->no_ts)
        printf("  (%zu records without a usable ts left out)\n", s->no_ts);
}

static void print_text(const char *model_path, const char *by, const dataset_t *ds, const eval_t *e,
                       const summary_t *s)
{
    printf("model %s on %zu labeled records (%zu without label skipped, %zu bad)\n", model_path, ds->n,
           ds->skipped_nolabel, ds->bad);
    cli_report_print(stdout, e, ds->labels, 1);
    printf("accuracy at coverage (most confident first): 50%% %.4f  80%% %.4f  90%% %.4f  100%% %.4f\n", s->at[0],
           s->at[1], s->at[2], s->at[3]);
    printf("calibration: expected calibration error of score %.4f (%d bins)\n", s->ece, EVAL_ECE_BINS);
    if (s->rb > 0)
        printf("review below %.4f: %zu records (%.1f%%) marked; the others %.4f accurate\n", (double)s->rb, s->nrev,
               100.0 * (double)s->nrev / (double)ds->n, not_reviewed_accuracy(s, ds->n));
    if (s->byj)
        print_periods(by, s);
}

/* Reads the data with the model's labels first: 0 or -1 (printed). */
static int read_data(model_t *m, dataset_t *ds, char **files, size_t nfiles, const rec_schema_t *schema)
{
    uint32_t L = model_nlabels(m);
    const char **names = malloc(L * sizeof *names);
    if (!names)
        return -1;
    for (uint32_t i = 0; i < L; i++)
        names[i] = model_label(m, i);
    int drc = cli_read_data("eval", ds, files, nfiles, schema, names, L);
    free(names);
    if (drc)
        return -1;
    if (!ds->n) {
        fprintf(stderr, "triage eval: no labeled records in the data\n");
        return -1;
    }
    return 0;
}

int cmd_eval(int argc, char **argv)
{
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"data", required_argument, 0, 'd'},
        {"label", required_argument, 0, 'l'}, {"text", required_argument, 0, 't'},
        {"by", required_argument, 0, 'b'},    {"json", no_argument, 0, 'j'},
        {"help", no_argument, 0, 'h'},        {0, 0, 0, 0}};
    const char *model_path = NULL, *label = NULL, *by = NULL;
    char *text = NULL;
    char **files = NULL;
    size_t nfiles = 0;
    int json = 0, c, rc = EXIT_USAGE;
    model_t *m = NULL;
    dataset_t ds = {0};
    eval_t *e = NULL;
    uint32_t *pred = NULL;
    float *conf = NULL;
    uint8_t *correct = NULL;
    summary_t s = {0};
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:d:l:t:b:jh", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model_path = optarg; break;
        case 'd':
            if (cli_add_arg(&files, &nfiles, optarg))
                goto out;
            break;
        case 'l': label = optarg; break;
        case 't': text = optarg; break;
        case 'b': by = optarg; break;
        case 'j': json = 1; break;
        case 'h': usage(stdout); rc = EXIT_OKAY; goto out;
        default: usage(stderr); goto out;
        }
    }
    if (!model_path || !nfiles || !label) {
        rc = cli_usage_error("eval", "--model, --data and --label are required");
        goto out;
    }
    if (by && strcmp(by, "day") && strcmp(by, "month")) {
        rc = cli_usage_error("eval", "--by takes day or month, not '%s'", by);
        goto out;
    }
    rec_schema_t schema;
    rec_schema_default(&schema);
    schema.label_field = label;
    char err[TRI_ERRLEN];
    if (text && rec_schema_set_text(&schema, text, err, sizeof err)) {
        rc = cli_usage_error("eval", "--text: %s", err);
        goto out;
    }
    rc = EXIT_FAIL;
    if (model_load_file(model_path, &m, err, sizeof err)) {
        fprintf(stderr, "triage eval: refusing model: %s\n", err);
        goto out;
    }
    if (cli_model_schema("eval", m, &schema, text != NULL) || read_data(m, &ds, files, nfiles, &schema))
        goto out;
    /* Labels seen in the data but unknown to the model stay in the matrix
     * (every such record is an error) after the model's own labels. */
    e = eval_new(ds.nlabels);
    pred = malloc(ds.n * sizeof *pred);
    conf = malloc(ds.n * sizeof *conf);
    correct = malloc(ds.n);
    if (!e || !pred || !conf || !correct || cli_predict(m, &ds, NULL, ds.n, pred, conf))
        goto out;
    for (size_t i = 0; i < ds.n; i++) {
        eval_add(e, ds.label[i], pred[i]);
        correct[i] = pred[i] == ds.label[i];
    }
    summarize(m, &ds, conf, correct, &s);
    if (by && !(s.byj = eval_by_period(e, ds.label, pred, ds.ts, ds.n, by, &s.no_ts)))
        goto out;
    if (json)
        print_json(model_path, &ds, e, &s);
    else
        print_text(model_path, by, &ds, e, &s);
    rc = EXIT_OKAY;
out:
    if (s.byj)
        json_decref(s.byj);
    free(pred);
    free(conf);
    free(correct);
    eval_free(e);
    dataset_free(&ds);
    model_unref(m);
    free(files);
    return rc;
}
