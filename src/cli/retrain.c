/* triage retrain: corrections flow back into the model. Reads the feedback
 * topic to its end (io/topic_read.h), merges it with the base training data
 * by id (codec/feedback.h: the latest feedback for an id wins), trains with
 * the settings of the model in use (train_opts_from_model, then train_run as
 * `triage train` does) and publishes the result only through the
 * champion/challenger gate `triage push --gate` applies. */
#include "target.h"
#include "codec/feedback.h"
#include "core/lang.h"
#include "core/tri_err.h"
#include "io/topic_read.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* A usable feedback record as read, merged once the whole topic is in (in
 * partition and offset order, so the training file does not depend on how
 * the partitions' records interleaved on the way). */
typedef struct fb_item {
    int32_t partition;
    int64_t offset, ts;
    char *id;
    json_t *rec;
} fb_item_t;

typedef struct rt {
    target_t t;
    char **base;
    size_t nbase;
    const char *feedback, *out;
    char *gate;                 /* --gate FILE, or the held-out feedback written to tmp */
    double min_gain, gate_share;
    int timeout_ms, dry_run;
    model_t *champ;
    char champ_tag[600];
    const char *label_field;
    rec_schema_t fb_schema;     /* feedback records: the champion's text fields */
    fb_merge_t *train, *held;   /* training records; feedback held out for the gate */
    fb_rec_t rec;
    fb_item_t *items;
    size_t nitems, capitems;
    uint64_t seq;
    size_t fb_read, fb_bad, base_bad;
    char tmp[512];
} rt_t;

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: triage retrain --feedback BROKERS/TOPIC --store URL [--name NAME | --account ACCOUNT]\n"
            "         [--base FILE]...        base training data (JSONL with the model's label field)\n"
            "         [--gate FILE]           labeled records to compare the new model and the one in use on\n"
            "                                 (default: a seeded share of the feedback ids, not trained on)\n"
            "         [--gate-share F]        that share (default 0.2)\n"
            "         [--min-gain X]          the new model must beat the one in use by X (default 0)\n"
            "         [--timeout DURATION]    for reading the topic (default 60 s)\n"
            "         [--out MODEL] [--dry-run]  keep the new model; gate it but publish nothing\n"
            "Reads TOPIC to its end (no consumer group), merges it with the base data by id (the\n"
            "latest feedback for an id wins over older feedback and over the base record), trains with\n"
            "the settings of the version in use and publishes the new model only if it passes the gate\n"
            "(exit 1 when refused).\n");
    target_opts_usage(f);
}

/* ---- reading ---- */

/* FNV-1a of the id: which side of the gate an id falls on, the same in
 * every run (so all of an id's feedback records fall on one side). */
static int held_out(const rt_t *r, const char *id)
{
    uint64_t h = 1469598103934665603ull;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    return !r->gate && (double)(h % 10000) < r->gate_share * 10000;
}

static int base_line(const char *line, size_t len, size_t lineno, void *ctx)
{
    rt_t *r = ctx;
    json_error_t je;
    json_t *o = json_loadb(line, len, 0, &je);
    json_t *id = json_object_get(o, "id");
    char key[64];
    const char *k = json_is_string(id) ? json_string_value(id) : NULL;
    if (json_is_integer(id)) {
        snprintf(key, sizeof key, "%" JSON_INTEGER_FORMAT, json_integer_value(id));
        k = key;
    }
    if (!json_is_object(o) || !k || !*k) {
        if (r->base_bad++ < 5)
            fprintf(stderr, "triage retrain: base line %zu: %s\n", lineno, o ? "no usable id" : je.text);
        json_decref(o);
        return 0;
    }
    return fb_merge_add(r->train, k, 0, -1, r->seq++, o) < 0 ? -1 : 0;
}

/* A decoded feedback record as a training record: id, text fields, the
 * label under the model's label field, account and ts. */
static json_t *training_record(const rt_t *r, const fb_rec_t *f)
{
    const rec_t *x = &f->rec;
    json_t *o = json_object();
    if (!o || json_object_set_new(o, "id", json_loadb(x->id.raw, x->id.raw_len, JSON_DECODE_ANY, NULL)))
        goto fail;
    for (size_t k = 0; k < r->fb_schema.ntext; k++)
        if (x->field_has[k] &&
            json_object_set_new(o, r->fb_schema.text_fields[k], json_stringn(x->text.p + x->field_off[k], x->field_len[k])))
            goto fail;
    if (json_object_set_new(o, r->label_field, json_string(f->label)))
        goto fail;
    if (x->has_account)
        json_object_set_new(o, "account", json_stringn(x->account.p, x->account.len));
    return o;
fail:
    json_decref(o);
    return NULL;
}

static int feedback_msg(void *ctx, const rd_kafka_message_t *m)
{
    rt_t *r = ctx;
    char detail[256];
    r->fb_read++;
    int st = m->payload ? fb_decode(&r->fb_schema, m->payload, m->len, &r->rec, detail, sizeof detail) : REC_NOT_JSON;
    if (st) {
        if (r->fb_bad++ < 5)
            fprintf(stderr, "triage retrain: skipping feedback [%d] offset %lld: %s: %s\n", (int)m->partition,
                    (long long)m->offset, rec_status_code(st), m->payload ? detail : "empty record");
        return 0;
    }
    buf_t key = BUF_INIT;
    rec_put_key(&r->rec.rec, &key);
    json_t *o = training_record(r, &r->rec);
    buf_cstr(&key);
    if (r->nitems == r->capitems) {
        fb_item_t *v = buf_grow(r->items, &r->capitems, sizeof *v, 1024);
        if (v)
            r->items = v;
    }
    if (!o || key.oom || r->nitems == r->capitems) {
        json_decref(o);
        buf_free(&key);
        return -1;
    }
    r->items[r->nitems++] = (fb_item_t){m->partition, m->offset, r->rec.rec.has_ts ? r->rec.rec.ts_ms : -1, key.p, o};
    return 0;
}

static int cmp_item(const void *a, const void *b)
{
    const fb_item_t *x = a, *y = b;
    if (x->partition != y->partition)
        return x->partition < y->partition ? -1 : 1;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* The feedback read into the merges, in partition and offset order. */
static int merge_feedback(rt_t *r)
{
    qsort(r->items, r->nitems, sizeof *r->items, cmp_item);
    int rc = 0;
    for (size_t i = 0; i < r->nitems; i++) {
        fb_item_t *it = &r->items[i];
        fb_merge_t *into = held_out(r, it->id) ? r->held : r->train;
        if (!rc && fb_merge_add(into, it->id, 1, it->ts, r->seq++, it->rec) < 0)
            rc = -1;
        else if (rc)
            json_decref(it->rec);
        free(it->id);
    }
    r->nitems = 0;
    return rc;
}

/* ---- writing the merged sets ---- */

typedef struct writer {
    FILE *f;
    const fb_merge_t *skip;  /* ids held out: their base records are not trained on either */
    size_t n;
} writer_t;

static int write_rec(void *ctx, const char *id, int feedback, json_t *rec)
{
    writer_t *w = ctx;
    (void)feedback;
    if (w->skip && fb_merge_get(w->skip, id, NULL))
        return 0;
    w->n++;
    return json_dumpf(rec, w->f, JSON_COMPACT) || fputc('\n', w->f) == EOF ? -1 : 0;
}

static int write_set(const fb_merge_t *m, const fb_merge_t *skip, const char *path, size_t *n)
{
    writer_t w = {fopen(path, "w"), skip, 0};
    if (!w.f) {
        fprintf(stderr, "triage retrain: %s: %s\n", path, strerror(errno));
        return -1;
    }
    int rc = fb_merge_each(m, write_rec, &w);
    if (fclose(w.f) || rc) {
        fprintf(stderr, "triage retrain: cannot write %s\n", path);
        return -1;
    }
    *n = w.n;
    return 0;
}

/* ---- training ---- */

/* The metadata a model trained by `triage train` on this file would carry,
 * plus where it came from. NULL after printing why. */
static json_t *successor_meta(rt_t *r, cli_run_t *run, char **files, const rec_schema_t *s)
{
    const json_t *cm = model_meta(r->champ);
    const char *name = json_string_value(json_object_get(cm, "name"));
    const char *stop = json_string_value(json_object_get(cm, "stopwords"));
    const char *stem = json_string_value(json_object_get(cm, "stem"));
    json_t *meta = dataset_meta(&run->ds, files, 1, s, name ? name : r->t.dir, stop ? stop : "none",
                                stem ? stem : "none");
    if (!meta)
        return NULL;
    json_t *prep = json_object_get(cm, "prep");
    if (prep)
        json_object_set(meta, "prep", prep);
    json_t *share = json_object_get(json_object_get(cm, "lang"), "min_share");
    json_t *mix = lang_mix_json(run->ds.text, run->ds.len, run->ds.n,
                                json_is_number(share) ? json_number_value(share) : LANG_MIN_SHARE_DEFAULT);
    json_t *from = json_array();
    for (size_t i = 0; from && i < r->nbase; i++)
        json_array_append_new(from, json_string(r->base[i]));
    if (!mix || json_object_set_new(meta, "lang", mix) ||
        json_object_set_new(meta, "retrain",
                            json_pack("{s:s,s:s,s:I,s:I,s:o}", "from", r->champ_tag, "feedback", r->feedback,
                                      "feedback_records", (json_int_t)r->fb_read, "feedback_bad",
                                      (json_int_t)r->fb_bad, "base", from ? from : json_array()))) {
        json_decref(meta);
        return NULL;
    }
    return meta;
}

/* Trains the successor on path with the champion's settings into model_path;
 * *out gets it loaded. */
static int train_successor(rt_t *r, char *path, const char *model_path, model_t **out)
{
    rec_schema_t s;
    rec_schema_default(&s);
    s.label_field = r->label_field;
    if (cli_model_schema("retrain", r->champ, &s, 0))
        return -1;
    cli_run_t run = {0};
    char err[TRI_ERRLEN];
    char *files[] = {path};
    train_run_opts_t ro;
    int rc = -1;
    if (train_opts_from_model(r->champ, &ro, err, sizeof err)) {
        fprintf(stderr, "triage retrain: %s: %s\n", r->champ_tag, err);
        return -1;
    }
    if (cli_read_data("retrain", &run.ds, files, 1, &s, NULL, 0) || !(run.meta = successor_meta(r, &run, files, &s)))
        goto out;
    ro.meta = run.meta;
    train_set_t set;
    dataset_as_set(&run.ds, &set);
    double t0 = now_s();
    if (train_run(&ro, &set, &run.res, err, sizeof err) ||
        model_save_file(model_path, run.res.bytes.p, run.res.bytes.len, err, sizeof err)) {
        fprintf(stderr, "triage retrain: %s\n", err);
        goto out;
    }
    printf("trained %s (the settings of %s) on %zu records, %u labels, in %.1f s; held-out accuracy %.4f\n",
           train_algo_name(ro.fit.algo), r->champ_tag, run.res.nfit, run.ds.nlabels, now_s() - t0,
           run.res.holdout ? json_number_value(json_object_get(json_object_get(model_meta(run.res.model), "holdout"),
                                                               "accuracy"))
                           : 0.0);
    *out = model_ref(run.res.model);
    rc = 0;
out:
    cli_run_free(&run);
    return rc;
}

/* ---- the command ---- */

static int parse_args(int argc, char **argv, rt_t *r)
{
    enum { OPT_FEEDBACK = 256, OPT_BASE, OPT_GATE, OPT_GATE_SHARE, OPT_MIN_GAIN, OPT_TIMEOUT, OPT_OUT, OPT_DRY };
    static const struct option opts[] = {TARGET_OPTS,
                                         {"feedback", required_argument, 0, OPT_FEEDBACK},
                                         {"base", required_argument, 0, OPT_BASE},
                                         {"gate", required_argument, 0, OPT_GATE},
                                         {"gate-share", required_argument, 0, OPT_GATE_SHARE},
                                         {"min-gain", required_argument, 0, OPT_MIN_GAIN},
                                         {"timeout", required_argument, 0, OPT_TIMEOUT},
                                         {"out", required_argument, 0, OPT_OUT},
                                         {"dry-run", no_argument, 0, OPT_DRY},
                                         {0, 0, 0, 0}};
    int c;
    double secs;
    optind = 1;
    while ((c = getopt_long(argc, argv, "S:n:a:E:R:h", opts, NULL)) != -1) {
        if (target_opt(c, &r->t))
            continue;
        switch (c) {
        case OPT_FEEDBACK: r->feedback = optarg; break;
        case OPT_BASE:
            if (cli_add_arg(&r->base, &r->nbase, optarg))
                return EXIT_FAIL;
            break;
        case OPT_GATE: r->gate = optarg; break;
        case OPT_OUT: r->out = optarg; break;
        case OPT_DRY: r->dry_run = 1; break;
        case OPT_GATE_SHARE:
            if (cli_parse_double(optarg, &r->gate_share) || !(r->gate_share > 0 && r->gate_share < 1))
                return cli_usage_error("retrain", "--gate-share takes a fraction in (0,1), not '%s'", optarg);
            break;
        case OPT_MIN_GAIN:
            if (cli_parse_double(optarg, &r->min_gain))
                return cli_usage_error("retrain", "--min-gain takes a number, not '%s'", optarg);
            break;
        case OPT_TIMEOUT:
            if (cli_parse_double(optarg, &secs) || !(secs > 0 && secs < 86400))
                return cli_usage_error("retrain", "--timeout takes seconds (0 < S < 86400), not '%s'", optarg);
            r->timeout_ms = (int)(secs * 1000);
            break;
        case 'h': usage(stdout); return EXIT_OKAY;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (optind != argc)
        return cli_usage_error("retrain", "unexpected argument '%s'", argv[optind]);
    if (!r->feedback)
        return cli_usage_error("retrain", "--feedback BROKERS/TOPIC is required");
    return target_check("retrain", &r->t);
}

/* The version in use, whose settings the successor is trained with. */
static int load_champion(rt_t *r, store_t *s, versions_t *vs)
{
    char err[TRI_ERRLEN];
    if (target_versions(s, r->t.dir, vs, err, sizeof err)) {
        fprintf(stderr, "triage retrain: %s: %s\n", store_url(s), err);
        return -1;
    }
    const char *using = versions_in_use(vs);
    if (!using) {
        fprintf(stderr, "triage retrain: no version of %s in %s to take the training settings from (push one first)\n",
                r->t.dir, store_url(s));
        return -1;
    }
    if (target_load(s, r->t.dir, using, &r->champ, err, sizeof err)) {
        fprintf(stderr, "triage retrain: cannot read the version in use (%s): %s\n", using, err);
        return -1;
    }
    snprintf(r->champ_tag, sizeof r->champ_tag, "%s@%s", r->t.dir, using);
    r->label_field = json_string_value(json_object_get(model_meta(r->champ), "label_field"));
    if (!r->label_field) {
        fprintf(stderr, "triage retrain: %s has no label_field in its metadata\n", r->champ_tag);
        return -1;
    }
    return 0;
}

/* Base files and the feedback topic into r->train and r->held. */
static int read_inputs(rt_t *r)
{
    char err[TRI_ERRLEN];
    for (size_t i = 0; i < r->nbase; i++)
        if (cli_each_line(r->base[i], base_line, r))
            return -1;
    /* Feedback records: id, account and ts as inputs have them, the label
     * in "label", the text in the fields the model reads. */
    rec_schema_default(&r->fb_schema);
    r->fb_schema.label_field = "label";
    if (cli_model_schema("retrain", r->champ, &r->fb_schema, 0))
        return -1;
    char *boot = NULL, *topic = NULL;
    if (topic_read_parse(r->feedback, &boot, &topic, err, sizeof err)) {
        fprintf(stderr, "triage retrain: --feedback: %s\n", err);
        return -1;
    }
    double t0 = now_s();
    size_t n;
    int rc = topic_read_all(boot, topic, r->timeout_ms, feedback_msg, r, &n, err, sizeof err);
    if (rc)
        fprintf(stderr, "triage retrain: %s: %s\n", r->feedback, rc == -1 ? "out of memory" : err);
    else if ((rc = merge_feedback(r)))
        fprintf(stderr, "triage retrain: out of memory\n");
    else
        printf("read %zu feedback records from %s in %.2f s (%zu unusable, skipped); %zu ids from feedback, "
               "%zu of them held out for the gate; %zu base records\n",
               r->fb_read, topic, now_s() - t0, r->fb_bad, fb_merge_feedback(r->train) + fb_merge_count(r->held),
               fb_merge_count(r->held), fb_merge_count(r->train) - fb_merge_feedback(r->train));
    free(boot);
    free(topic);
    return rc ? -1 : 0;
}

/* Compares the successor with the champion on the gate; 0 when it passes. */
static int gate(rt_t *r, model_t *m)
{
    double acc_new, acc_cur;
    size_t n_new, n_cur;
    if (gate_accuracy(m, r->gate, r->label_field, &acc_new, &n_new) ||
        gate_accuracy(r->champ, r->gate, r->label_field, &acc_cur, &n_cur))
        return -1;
    printf("gate on %s (%zu labeled records): challenger %.4f, champion %s %.4f, required gain %+.4f\n", r->gate,
           n_new, acc_new, r->champ_tag, acc_cur, r->min_gain);
    if (acc_new + 1e-12 < acc_cur + r->min_gain) {
        fprintf(stderr, "triage retrain: refused: the retrained model (%.4f) does not beat %s (%.4f) by %+.4f\n",
                acc_new, r->champ_tag, acc_cur, r->min_gain);
        return -1;
    }
    return 0;
}

static int run(rt_t *r, store_t *s, versions_t *vs)
{
    char path[600], model_path[600];
    size_t ntrain, nheld = 0;
    model_t *m = NULL;
    int rc = EXIT_FAIL;
    if (load_champion(r, s, vs) || read_inputs(r))
        return EXIT_FAIL;
    snprintf(path, sizeof path, "%s/train.jsonl", r->tmp);
    if (write_set(r->train, r->held, path, &ntrain))
        return EXIT_FAIL;
    if (!r->gate) {
        static char held[600];
        snprintf(held, sizeof held, "%s/gate.jsonl", r->tmp);
        if (write_set(r->held, NULL, held, &nheld))
            return EXIT_FAIL;
        if (!nheld) {
            fprintf(stderr, "triage retrain: no feedback held out for the gate: give --gate FILE\n");
            return EXIT_FAIL;
        }
        r->gate = held;
    }
    snprintf(model_path, sizeof model_path, "%s", r->out ? r->out : "");
    if (!r->out)
        snprintf(model_path, sizeof model_path, "%s/model.tmodel", r->tmp);
    if (train_successor(r, path, model_path, &m) || gate(r, m))
        goto out;
    char err[TRI_ERRLEN], version[64];
    if (r->dry_run) {
        printf("passed the gate; --dry-run: nothing published\n");
    } else if (target_publish(s, r->t.dir, model_path, m, vs, version, err, sizeof err)) {
        fprintf(stderr, "triage retrain: %s: %s\n", store_url(s), err);
        goto out;
    } else {
        printf("pushed the retrained model as %s@%s to %s/%s/\n", r->t.dir, version, store_url(s), r->t.dir);
        if (vs->pinned[0])
            printf("note: %s is pinned to %s; workers keep serving it until 'triage promote' or 'triage unpin'\n",
                   r->t.dir, vs->pinned);
    }
    rc = EXIT_OKAY;
out:
    model_unref(m);
    return rc;
}

static void remove_tmp(const char *dir)
{
    static const char *const names[] = {"train.jsonl", "gate.jsonl", "model.tmodel"};
    char p[600];
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        unlink(p);
    }
    rmdir(dir);
}

int cmd_retrain(int argc, char **argv)
{
    rt_t r = {.gate_share = 0.2, .timeout_ms = 60000};
    int rc = parse_args(argc, argv, &r);
    if (rc != EXIT_OKAY || (argc > 1 && !r.feedback)) {
        free(r.base);
        return rc;
    }
    store_t *s = NULL;
    versions_t vs = {0};
    const char *td = getenv("TMPDIR");
    snprintf(r.tmp, sizeof r.tmp, "%s/triage-retrain.XXXXXX", td && *td ? td : "/tmp");
    r.train = fb_merge_new();
    r.held = fb_merge_new();
    if (!r.train || !r.held || !mkdtemp(r.tmp)) {
        fprintf(stderr, "triage retrain: %s: %s\n", r.tmp, strerror(errno));
        r.tmp[0] = '\0';
        rc = EXIT_FAIL;
    } else if (target_open("retrain", &r.t, &s)) {
        rc = EXIT_FAIL;
    } else {
        rc = run(&r, s, &vs);
    }
    if (r.tmp[0])
        remove_tmp(r.tmp);
    versions_free(&vs);
    store_close(s);
    model_unref(r.champ);
    fb_merge_free(r.train);
    fb_merge_free(r.held);
    fb_rec_free(&r.rec);
    for (size_t i = 0; i < r.nitems; i++) {
        free(r.items[i].id);
        json_decref(r.items[i].rec);
    }
    free(r.items);
    free(r.base);
    return rc;
}
