/* triage classify: JSONL in, one JSON line out per input line, in order,
 * processed in batches of 500. Bad lines are reported on stderr with their
 * line number and counted; the exit status is 1 when any line failed. */
#include "cli.h"
#include "core/clf_explain.h"
#include "core/tri_err.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#define BATCH 500

static void usage(FILE *f)
{
    fprintf(f, "usage: triage classify --model MODEL [--text FIELD[,FIELD...]] [--id FIELD] [--explain] [--no-lang]\n"
               "                       [FILE|-]\n"
               "Reads JSONL records and writes, for each,\n"
               "  {\"id\":...,\"label\":...,\"score\":...,\"top\":[{\"label\":...,\"score\":...},...],\"lang\":...}\n"
               "  --explain   adds \"explain\": the prepared text, its tokens, feature counts and the %d\n"
               "              n-grams that weighed most for the chosen label (value x weight)\n"
               "  --no-lang   no language detection: \"lang\" is \"und\" and no record is marked for review\n"
               "              for its language (CLD2 takes about 6 us a record, more than scoring it)\n",
            CLF_EXPLAIN_TOP);
}

typedef struct line {
    char *p;
    size_t len, cap;
    size_t lineno;
} line_t;

typedef struct cctx {
    clf_t *clf;
    rec_schema_t schema;
    rec_t rec;
    buf_t out;
    char **label_json;   /* each label pre-escaped as a JSON string */
    size_t *label_json_len;
    size_t failed, done;
    const char *path;
    int explain;
} cctx_t;

/* The record with "explain" added as its last member. */
static int put_explained(cctx_t *c, const clf_result_t *r, json_t *ex)
{
    char *js = json_dumps(ex, JSON_COMPACT | JSON_REAL_PRECISION(6));
    if (!js)
        return TRI_ENOMEM;
    rec_put_labeled(&c->out, &c->schema, &c->rec, r, c->label_json, c->label_json_len, NULL, 0, 0);
    c->out.len--; /* its closing brace */
    buf_append(&c->out, ",\"explain\":", 11);
    buf_append(&c->out, js, strlen(js));
    buf_putc(&c->out, '}');
    free(js);
    return 0;
}

static void classify_line(cctx_t *c, const line_t *l)
{
    char detail[200];
    int st = rec_decode(&c->schema, l->p, l->len, &c->rec, detail, sizeof detail);
    if (st != REC_OK) {
        fprintf(stderr, "triage classify: %s:%zu: %s: %s\n", c->path, l->lineno, rec_status_code(st), detail);
        c->failed++;
        return;
    }
    clf_result_t r;
    prep_field_t fields[REC_MAX_TEXT_FIELDS];
    size_t nf = rec_prep_fields(&c->schema, &c->rec, fields);
    json_t *ex = NULL;
    int crc = c->explain ? clf_explain(c->clf, fields, nf, CLF_EXPLAIN_TOP, &r, &ex) : clf_classify_fields(c->clf, fields, nf, &r);
    if (!crc && ex) {
        crc = put_explained(c, &r, ex);
        json_decref(ex);
    }
    if (crc) {
        if (crc == CLF_NO_TEXT)
            fprintf(stderr, "triage classify: %s:%zu: no_text: nothing left after %s preparation\n", c->path,
                    l->lineno, prep_mode_name(clf_prep_mode(c->clf)));
        else
            fprintf(stderr, "triage classify: %s:%zu: out of memory\n", c->path, l->lineno);
        c->failed++;
        return;
    }
    if (!c->explain)
        rec_put_labeled(&c->out, &c->schema, &c->rec, &r, c->label_json, c->label_json_len, NULL, 0, 0);
    buf_putc(&c->out, '\n');
    c->done++;
}

/* Each label of m pre-escaped as a JSON string, into c. 0 or -1. */
static int escape_labels(const model_t *m, cctx_t *cx)
{
    uint32_t L = model_nlabels(m);
    cx->label_json = calloc(L, sizeof *cx->label_json);
    cx->label_json_len = calloc(L, sizeof *cx->label_json_len);
    if (!cx->label_json || !cx->label_json_len)
        return -1;
    for (uint32_t i = 0; i < L; i++) {
        buf_t b = BUF_INIT;
        jscan_put_str(&b, model_label(m, i), strlen(model_label(m, i)));
        cx->label_json_len[i] = b.len;
        cx->label_json[i] = b.p;
        if (b.oom)
            return -1;
    }
    return 0;
}

/* Reads `in` BATCH lines at a time (lines: BATCH reusable buffers),
 * classifies them and writes their output in order. 0, or -1 when out of
 * memory or stdout fails (printed); a read error is left to ferror(in). */
static int run_batches(cctx_t *cx, FILE *in, line_t *lines)
{
    size_t lineno = 0;
    int eof = 0;
    while (!eof) {
        size_t n = 0;
        while (n < BATCH) {
            ssize_t k = getline(&lines[n].p, &lines[n].cap, in);
            if (k < 0) {
                eof = 1;
                break;
            }
            size_t len = (size_t)k;
            if (len && lines[n].p[len - 1] == '\n')
                len--;
            if (len && lines[n].p[len - 1] == '\r')
                len--;
            lines[n].len = len;
            lines[n].lineno = ++lineno;
            n++;
        }
        buf_reset(&cx->out);
        for (size_t i = 0; i < n; i++)
            classify_line(cx, &lines[i]);
        if (cx->out.oom) {
            fprintf(stderr, "triage classify: out of memory\n");
            return -1;
        }
        if (cx->out.len && fwrite(cx->out.p, 1, cx->out.len, stdout) != cx->out.len) {
            fprintf(stderr, "triage classify: write error: %s\n", strerror(errno));
            return -1;
        }
    }
    return 0;
}

int cmd_classify(int argc, char **argv)
{
    static const struct option opts[] = {{"model", required_argument, 0, 'm'},
                                         {"text", required_argument, 0, 't'},
                                         {"id", required_argument, 0, 'i'},
                                         {"explain", no_argument, 0, 'x'},
                                         {"no-lang", no_argument, 0, 'L'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *model_path = NULL, *path = "-";
    char *text = NULL;
    int c, rc = EXIT_USAGE, no_lang = 0;
    cctx_t cx = {0};
    model_t *m = NULL;
    line_t *lines = NULL;
    FILE *in = NULL;
    rec_schema_default(&cx.schema);
    cx.schema.account_field = NULL;
    cx.schema.ts_field = NULL;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:t:i:xh", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model_path = optarg; break;
        case 't': text = optarg; break;
        case 'i': cx.schema.id_field = optarg; break;
        case 'x': cx.explain = 1; break;
        case 'L': no_lang = 1; break;
        case 'h': usage(stdout); return EXIT_OKAY;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (optind < argc)
        path = argv[optind++];
    if (optind < argc)
        return cli_usage_error("classify", "one input file at most");
    if (!model_path)
        return cli_usage_error("classify", "--model is required");
    char err[TRI_ERRLEN];
    if (text && rec_schema_set_text(&cx.schema, text, err, sizeof err))
        return cli_usage_error("classify", "--text: %s", err);
    rc = EXIT_FAIL;
    if (model_load_file(model_path, &m, err, sizeof err)) {
        fprintf(stderr, "triage classify: refusing model: %s\n", err);
        goto out;
    }
    if (cli_model_schema("classify", m, &cx.schema, text != NULL))
        goto out;
    if (clf_new(m, &cx.clf, err, sizeof err)) {
        fprintf(stderr, "triage classify: %s\n", err);
        goto out;
    }
    clf_set_lang(cx.clf, !no_lang);
    if (escape_labels(m, &cx))
        goto out;
    in = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!in) {
        fprintf(stderr, "triage classify: %s: %s\n", path, strerror(errno));
        goto out;
    }
    cx.path = strcmp(path, "-") ? path : "stdin";
    static char outbuf[1 << 16];
    setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);
    lines = calloc(BATCH, sizeof *lines);
    if (!lines || run_batches(&cx, in, lines))
        goto out;
    if (ferror(in)) {
        fprintf(stderr, "triage classify: %s: read error\n", cx.path);
        goto out;
    }
    if (fflush(stdout)) {
        fprintf(stderr, "triage classify: write error: %s\n", strerror(errno));
        goto out;
    }
    if (cx.failed)
        fprintf(stderr, "triage classify: %zu of %zu records failed\n", cx.failed, cx.failed + cx.done);
    rc = cx.failed ? EXIT_FAIL : EXIT_OKAY;
out:
    if (in && in != stdin)
        fclose(in);
    if (lines)
        for (size_t i = 0; i < BATCH; i++)
            free(lines[i].p);
    free(lines);
    if (cx.label_json)
        for (uint32_t i = 0; i < model_nlabels(m); i++)
            free(cx.label_json[i]);
    free(cx.label_json);
    free(cx.label_json_len);
    buf_free(&cx.out);
    rec_free(&cx.rec);
    clf_free(cx.clf);
    model_unref(m);
    return rc;
}
