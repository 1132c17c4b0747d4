#include "daemon/feedback.h"
#include "daemon/output.h"
#include "io/consumer.h"
#include "io/kafka.h"
#include "io/log.h"
#include "io/offsets.h"
#include "core/tri_err.h"
#include "core/tstamp.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POLL_BUDGET 2048
#define STOP_FLUSH_MS 2000

/* A dead letter on its way: the output hands `out` back on delivery. */
typedef struct fb_dead {
    output_msg_t out;        /* first member: the output's hooks cast back */
    offsets_part_t *part;    /* referenced */
    uint64_t seq;
    int64_t offset;
    int status, bare;
    char *key, *val;
    struct fb_dead *next;    /* waiting for room in the producer's queue */
} fb_dead_t;

struct feedback {
    uv_loop_t *loop;
    const cfg_t *cfg;
    feedback_hooks_t h;
    char *topic, group[256];
    rec_schema_t schema;
    char *text_fields;       /* the schema's text field names live here */
    size_t dlq_max;
    consumer_t *kin;
    output_t *out;
    acc_t *acc;
    offsets_set_t off;
    fb_rec_t rec;            /* decode scratch */
    fb_dead_t *wait_head, *wait_tail;
    size_t inflight, max_inflight;
    uv_poll_t cpoll;
    uv_timer_t tick;
    int handles_open, started, stopping, out_open, fatal;
    char fatal_msg[300];
    void (*done)(void *);
    void *done_ctx;
    uint64_t n_records, n_counted, n_untallied, n_dead;
    metrics_family_t *f_records, *f_dead, *f_untallied, *f_acc, *f_recent, *f_label, *f_holdout, *f_alarm;
};

void feedback_group(const cfg_t *cfg, char *out, size_t n)
{
    const char *g = cfg_str(cfg, "feedback.group");
    if (*g)
        snprintf(out, n, "%s", g);
    else
        snprintf(out, n, "%s.feedback", cfg_str(cfg, "input.group"));
}

int feedback_check_config(const cfg_t *cfg, const char *bootstrap, char *err, size_t errlen)
{
    const char *topic = cfg_str(cfg, "feedback.topic");
    if (!*topic)
        return 0;
    char e[TRI_ERRLEN], group[256];
    if (consumer_check_topics(topic, e, sizeof e) || strchr(topic, ','))
        return tri_errf(err, errlen, TRI_EINVAL, "%s: feedback.topic: one topic, not '%s'",
                        cfg_origin(cfg, "feedback.topic"), topic);
    feedback_group(cfg, group, sizeof group);
    consumer_opts_t ko = {group, cfg_str(cfg, "input.assignment"), cfg_int(cfg, "input.commit.interval.ms")};
    return consumer_check(cfg, &ko, bootstrap, err, errlen);
}

static void fail(feedback_t *f, const char *msg)
{
    if (f->fatal)
        return;
    f->fatal = 1;
    snprintf(f->fatal_msg, sizeof f->fatal_msg, "feedback: %.256s", msg);
    log_event(LOG_LEVEL_ERROR, "feedback_fatal", "msg=%s", log_q(msg));
}

/* ---- processed records: their offsets may be stored ---- */

static void processed(feedback_t *f, offsets_part_t *part, uint64_t seq)
{
    int64_t store;
    if (offsets_done(part, seq, &store) == 1 && !part->revoked)
        consumer_store(f->kin, part->topic, part->partition, store);
}

static void dead_free(fb_dead_t *d)
{
    if (!d)
        return;
    offsets_unref(d->part);
    free(d->key);
    free(d->val);
    free(d);
}

/* Hands d to the output; a full producer queue keeps it (and those after
 * it) waiting for the output's `writable`. */
static void dead_send(feedback_t *f, fb_dead_t *d)
{
    if (!f->wait_head && output_send(f->out, &d->out) != OUTPUT_RETRY)
        return;
    d->next = NULL;
    if (f->wait_tail)
        f->wait_tail->next = d;
    else
        f->wait_head = d;
    f->wait_tail = d;
}

static void on_writable(void *ctx)
{
    feedback_t *f = ctx;
    while (f->wait_head) {
        fb_dead_t *d = f->wait_head;
        if (output_send(f->out, &d->out) == OUTPUT_RETRY)
            return;
        f->wait_head = d->next;
        if (!f->wait_head)
            f->wait_tail = NULL;
    }
}

static void on_delivered(void *ctx, output_msg_t *m)
{
    feedback_t *f = ctx;
    fb_dead_t *d = (fb_dead_t *)m;
    processed(f, d->part, d->seq);
    f->n_dead++;
    metrics_inc(metrics_series1(f->f_dead, rec_status_code(d->status)), 1);
    f->inflight--;
    dead_free(d);
}

/* Kafka refused a dead letter for good: send it again without its payload
 * (as the pipeline does); one without payload cannot be made smaller. */
static int on_refused(void *ctx, output_msg_t *m, rd_kafka_resp_err_t err)
{
    feedback_t *f = ctx;
    fb_dead_t *d = (fb_dead_t *)m;
    if (d->bare)
        return 0;
    char reason[128];
    snprintf(reason, sizeof reason, "Kafka refused the dead letter: %s", rd_kafka_err2name(err));
    buf_t b = BUF_INIT;
    rec_put_dead(&b, REC_UNDELIVERABLE, reason, d->part->topic, d->part->partition, d->offset, "", 0, 0);
    if (!buf_cstr(&b) || b.oom) {
        buf_free(&b);
        return 0;
    }
    free(d->val);
    d->val = b.p;
    d->out.val = b.p;
    d->out.vlen = b.len;
    d->bare = 1;
    d->status = REC_UNDELIVERABLE;
    (void)f;
    return 1;
}

static void on_served(void *ctx) { (void)ctx; }
static void on_output_fatal(void *ctx, const char *msg) { fail(ctx, msg); }

/* ---- records ---- */

static void dead_letter(feedback_t *f, const rd_kafka_message_t *m, offsets_part_t *part, uint64_t seq, int st,
                        const char *detail)
{
    fb_dead_t *d = calloc(1, sizeof *d);
    buf_t b = BUF_INIT;
    if (d)
        rec_put_dead(&b, st, detail, part->topic, m->partition, m->offset, m->payload, m->len, f->dlq_max);
    if (!d || !buf_cstr(&b) || b.oom || (m->key_len && !(d->key = malloc(m->key_len)))) {
        buf_free(&b);
        free(d);
        fail(f, "out of memory building a dead letter");
        return;
    }
    if (m->key_len)
        memcpy(d->key, m->key, m->key_len);
    d->val = b.p;
    d->status = st;
    d->part = offsets_ref(part);
    d->seq = seq;
    d->offset = m->offset;
    d->out = (output_msg_t){.dead = 1, .key = d->key, .klen = m->key_len, .val = d->val, .vlen = b.len};
    f->inflight++;
    dead_send(f, d);
}

static void on_record(feedback_t *f, const rd_kafka_message_t *m)
{
    offsets_part_t *part = offsets_set_add(&f->off, rd_kafka_topic_name(m->rkt), m->partition);
    uint64_t seq = part ? offsets_push(part, m->offset) : UINT64_MAX;
    if (seq == UINT64_MAX) {
        fail(f, "out of memory tracking offsets");
        return;
    }
    f->n_records++;
    char detail[256];
    int st = m->payload ? fb_decode(&f->schema, m->payload, m->len, &f->rec, detail, sizeof detail) : REC_NOT_JSON;
    if (!m->payload)
        snprintf(detail, sizeof detail, "empty record (a tombstone)");
    if (st) {
        dead_letter(f, m, part, seq, st, detail);
        return;
    }
    const fb_rec_t *r = &f->rec;
    if (r->model && r->predicted) {
        if (feedback_tally(f, r->model, r->label, r->predicted))
            fail(f, "out of memory counting feedback");
        f->n_counted++;
    } else {
        f->n_untallied++;
        metrics_inc(metrics_series0(f->f_untallied), 1);
    }
    if (f->h.record)
        f->h.record(f->h.ctx, r);
    processed(f, part, seq);
}

static void poll_input(feedback_t *f)
{
    rd_kafka_message_t *m;
    size_t n = 0;
    while (!f->stopping && !f->fatal && f->inflight < f->max_inflight && n < POLL_BUDGET &&
           (m = consumer_poll(f->kin))) {
        if (m->err) {
            log_event(m->err == RD_KAFKA_RESP_ERR__FATAL ? LOG_LEVEL_ERROR : LOG_LEVEL_WARN, "consume_error",
                      "role=feedback code=%s msg=%s", rd_kafka_err2name(m->err), log_q(rd_kafka_message_errstr(m)));
            if (m->err == RD_KAFKA_RESP_ERR__FATAL)
                fail(f, rd_kafka_message_errstr(m));
        } else {
            on_record(f, m);
        }
        rd_kafka_message_destroy(m);
        n++;
    }
}

static void on_cpoll(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    poll_input(h->data);
}

static void on_tick(uv_timer_t *t)
{
    feedback_t *f = t->data;
    output_poll(f->out);
    if (f->started && !f->stopping)
        poll_input(f);
}

/* ---- tallies and the quality alarm ---- */

static void raise_event(feedback_t *f, const acc_model_t *m, int change)
{
    int64_t now = tstamp_now_ms();
    double recent = acc_ratio(m->win_right, m->win_n);
    detector_event_t ev = {.type = change == ACC_RAISE ? DETECTOR_RAISE : DETECTOR_CLEAR, .kind = DETECTOR_QUALITY,
                           .label = DETECTOR_FEEDBACK_LABEL, .window_start = now, .window_end = now, .observed = recent,
                           .expected = m->holdout, .p_value = NAN, .model = m->name, .total = (double)m->win_n,
                           .share = NAN, .baseline_share = NAN, .ratio = NAN};
    log_event(change == ACC_RAISE ? LOG_LEVEL_WARN : LOG_LEVEL_INFO,
              change == ACC_RAISE ? "feedback_accuracy_low" : "feedback_accuracy_recovered",
              "model=%s recent_accuracy=%.4f records=%llu holdout_accuracy=%.4f", log_q(m->name), recent,
              (unsigned long long)m->win_n, m->holdout);
    if (f->h.alarm)
        f->h.alarm(f->h.ctx, &ev);
}

int feedback_tally(feedback_t *f, const char *model, const char *label, const char *predicted)
{
    const acc_model_t *m = NULL;
    int change = acc_tally(f->acc, model, label, predicted, &m);
    if (change < 0)
        return -1;
    int right = predicted && !strcmp(predicted, label);
    const char *vals[] = {model, right ? "confirmed" : "corrected"};
    metrics_inc(metrics_series(f->f_records, vals), 1);
    if (change != ACC_SAME)
        raise_event(f, m, change);
    return 0;
}

void feedback_set_holdout(feedback_t *f, const char *model, double holdout)
{
    const acc_model_t *m = NULL;
    int change = acc_set_holdout(f->acc, model, holdout, &m);
    if (change > 0)
        raise_event(f, m, change);
}

const acc_model_t *feedback_model(const feedback_t *f, const char *model) { return acc_get(f->acc, model); }

void feedback_refresh_metrics(feedback_t *f)
{
    metrics_family_t *fams[] = {f->f_acc, f->f_recent, f->f_label, f->f_holdout, f->f_alarm};
    for (size_t i = 0; i < sizeof fams / sizeof *fams; i++)
        metrics_reset_family(fams[i]);
    for (size_t i = 0; i < acc_count(f->acc); i++) {
        const acc_model_t *m = acc_at(f->acc, i);
        if (m->n) {
            metrics_set(metrics_series1(f->f_acc, m->name), acc_ratio(m->right, m->n));
            metrics_set(metrics_series1(f->f_recent, m->name), acc_ratio(m->win_right, m->win_n));
        }
        if (!isnan(m->holdout))
            metrics_set(metrics_series1(f->f_holdout, m->name), m->holdout);
        metrics_set(metrics_series1(f->f_alarm, m->name), m->alarm);
        for (size_t k = 0; k < m->nlabels; k++) {
            const char *vals[] = {m->name, m->labels[k].name};
            metrics_set(metrics_series(f->f_label, vals), acc_ratio(m->labels[k].right, m->labels[k].n));
        }
    }
}

json_t *feedback_status(feedback_t *f)
{
    return json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:o}", "topic", f->topic, "group", f->group, "records",
                     (json_int_t)f->n_records, "counted", (json_int_t)f->n_counted, "untallied",
                     (json_int_t)f->n_untallied, "dead_lettered", (json_int_t)f->n_dead, "models", acc_json(f->acc));
}

int feedback_fatal(feedback_t *f, char *msg, size_t n)
{
    char fe[256];
    if (!f->fatal && kafka_fatal(consumer_rk(f->kin), fe, sizeof fe))
        fail(f, fe);
    if (f->fatal)
        snprintf(msg, n, "%s", f->fatal_msg);
    return f->fatal;
}

/* ---- rebalances and lifecycle ---- */

static void on_revoking(void *ctx, const rd_kafka_topic_partition_list_t *parts, int lost)
{
    feedback_t *f = ctx;
    if (!lost) {
        /* Dead letters of these partitions delivered first, so their
         * offsets are stored before the commit. */
        output_flush(f->out, STOP_FLUSH_MS);
        char err[TRI_ERRLEN];
        if (consumer_commit(f->kin, err, sizeof err))
            log_event(LOG_LEVEL_WARN, "commit_failed", "role=feedback msg=%s", log_q(err));
    }
    offsets_set_remove_list(&f->off, parts);
}

static void register_metrics(feedback_t *f, metrics_t *met)
{
    f->f_records = metrics_family(met, METRICS_COUNTER, "triage_feedback_records_total",
                                  "Feedback records counted, by model version and outcome (confirmed: the agent kept "
                                  "the predicted label; corrected: changed it).",
                                  "model,outcome", NULL, 0);
    f->f_dead = metrics_family(met, METRICS_COUNTER, "triage_feedback_dead_lettered_total",
                               "Feedback records sent to the dead-letter topic, by reason.", "reason", NULL, 0);
    f->f_untallied = metrics_family(met, METRICS_COUNTER, "triage_feedback_untallied_total",
                                    "Feedback records without model or predicted label (kept for retraining only).",
                                    NULL, NULL, 0);
    f->f_acc = metrics_family(met, METRICS_GAUGE, "triage_feedback_accuracy",
                              "Share of a model version's feedback records whose predicted label the agent kept.",
                              "model", NULL, 0);
    f->f_recent = metrics_family(met, METRICS_GAUGE, "triage_feedback_accuracy_recent",
                                 "The same over the model's last feedback.window records (what the alarm judges).",
                                 "model", NULL, 0);
    f->f_label = metrics_family(met, METRICS_GAUGE, "triage_feedback_accuracy_label",
                                "Per final label: the share of its feedback records the model had predicted.",
                                "model,label", NULL, 0);
    f->f_holdout = metrics_family(met, METRICS_GAUGE, "triage_feedback_holdout_accuracy",
                                  "The model version's held-out accuracy from training, the alarm's reference.",
                                  "model", NULL, 0);
    f->f_alarm = metrics_family(met, METRICS_GAUGE, "triage_feedback_alarm",
                                "1 while the model's recent feedback accuracy is judged well below its held-out one.",
                                "model", NULL, 0);
    for (int st = REC_OK + 1; st < REC_NSTATUS && f->f_dead; st++)
        if (st != REC_OUTPUT_TOO_LARGE)
            metrics_series1(f->f_dead, rec_status_code(st));
}

int feedback_new(uv_loop_t *loop, const cfg_t *cfg, const char *bootstrap, metrics_t *met, const feedback_hooks_t *h,
                 feedback_t **out, char *err, size_t errlen)
{
    feedback_t *f = calloc(1, sizeof *f);
    if (!f)
        return tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
    f->loop = loop;
    f->cfg = cfg;
    f->h = *h;
    f->off = (offsets_set_t)OFFSETS_SET_INIT;
    f->max_inflight = (size_t)cfg_int(cfg, "feedback.max.inflight");
    f->dlq_max = (size_t)cfg_int(cfg, "output.dlq.payload.max.bytes");
    feedback_group(cfg, f->group, sizeof f->group);
    acc_opts_t ao = {(size_t)cfg_int(cfg, "feedback.max.models"), (size_t)cfg_int(cfg, "feedback.max.labels"),
                     (size_t)cfg_int(cfg, "feedback.window"), (size_t)cfg_int(cfg, "feedback.min.records"),
                     cfg_double(cfg, "feedback.accuracy.margin")};
    f->topic = strdup(cfg_str(cfg, "feedback.topic"));
    f->text_fields = strdup(cfg_str(cfg, "input.text.fields"));
    f->acc = acc_new(&ao);
    register_metrics(f, met);
    int rc;
    if (!f->topic || !f->text_fields || !f->acc || !f->f_alarm || !f->f_dead) {
        rc = tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
        goto fail;
    }
    if ((rc = fb_schema(&f->schema, f->text_fields, (size_t)cfg_int(cfg, "input.max.bytes"), err, errlen)))
        goto fail;
    output_hooks_t oh = {on_delivered, on_writable, on_served, on_refused, on_output_fatal, f};
    if ((rc = output_new(loop, cfg, bootstrap, met, &oh, &f->out, err, errlen)))
        goto fail;
    f->out_open = 1;
    consumer_hooks_t hooks = {NULL, on_revoking, f};
    consumer_opts_t ko = {f->group, cfg_str(cfg, "input.assignment"), cfg_int(cfg, "input.commit.interval.ms")};
    if ((rc = consumer_new(cfg, &ko, bootstrap, &hooks, &f->kin, err, errlen)))
        goto fail;
    uv_poll_init(loop, &f->cpoll, consumer_fd(f->kin));
    uv_timer_init(loop, &f->tick);
    f->cpoll.data = f->tick.data = f;
    f->handles_open = 2;
    uv_timer_start(&f->tick, on_tick, 100, 100);
    *out = f;
    return 0;
fail:
    feedback_free(f);
    return rc;
}

int feedback_start(feedback_t *f, char *err, size_t errlen)
{
    int rc = consumer_subscribe(f->kin, f->topic, err, errlen);
    if (rc)
        return rc;
    f->started = 1;
    uv_poll_start(&f->cpoll, UV_READABLE, on_cpoll);
    log_event(LOG_LEVEL_INFO, "feedback_consuming", "topic=%s group=%s", log_q(f->topic), log_q(f->group));
    return 0;
}

static void on_closed(uv_handle_t *h)
{
    feedback_t *f = h->data;
    if (--f->handles_open == 0 && f->done)
        f->done(f->done_ctx);
}

static void on_output_closed(void *ctx)
{
    feedback_t *f = ctx;
    f->out_open = 0;
    on_closed((uv_handle_t *)&f->tick);
}

void feedback_stop(feedback_t *f, void (*done)(void *), void *ctx)
{
    if (f->stopping)
        return;
    f->stopping = 1;
    f->done = done;
    f->done_ctx = ctx;
    on_writable(f);
    output_flush(f->out, STOP_FLUSH_MS); /* delivered dead letters store their offsets */
    consumer_close(f->kin, 5000);        /* the final revoke commits */
    f->handles_open++;                   /* the output's handles close as one */
    output_close(f->out, on_output_closed, f);
    uv_close((uv_handle_t *)&f->cpoll, on_closed);
    uv_close((uv_handle_t *)&f->tick, on_closed);
}

void feedback_free(feedback_t *f)
{
    if (!f)
        return;
    if (f->kin)
        consumer_destroy(f->kin);
    /* Dead letters still queued (a stop that could not deliver them): their
     * offsets were never stored, so they are read again next time. */
    while (f->wait_head) {
        fb_dead_t *d = f->wait_head;
        f->wait_head = d->next;
        dead_free(d);
    }
    output_free(f->out);
    acc_free(f->acc);
    offsets_set_clear(&f->off);
    fb_rec_free(&f->rec);
    free(f->topic);
    free(f->text_fields);
    free(f);
}
