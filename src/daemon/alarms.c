#include "daemon/alarms.h"
#include "daemon/notify.h"
#include "core/detector.h"
#include "codec/jscan.h"
#include "io/kafka.h"
#include "io/consumer.h"
#include "io/producer.h"
#include "io/offsets.h"
#include "codec/rec.h"
#include "io/log.h"
#include "core/tri_err.h"
#include <math.h>
#include "core/tstamp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RECENT 50
#define POLL_BUDGET 4096

/* Why a record on the labeled topic was not counted. Anyone who can write to
 * the topic can write anything to it: each reason is counted, none stops the
 * role. */
enum reject { REJ_NONE = RECL_OK, /* 1 .. RECL_NSTATUS-1: the decoder's reasons (codec/rec.h) */
              REJ_UNKNOWN_LABEL = RECL_NSTATUS, REJ_BAD_TS, REJ_LATE, NREJ };
static const char *const reject_names[NREJ] = {"", "not_json", "invalid_utf8", "no_label", "field_too_long",
                                               "bad_field", "unknown_label", "bad_timestamp", "late"};

struct alr {
    uv_loop_t *loop;
    const cfg_t *cfg;
    consumer_t *kin;
    producer_t *kout;
    detector_t *det;
    uv_poll_t cpoll, ppoll;
    uv_timer_t tick, ckpt;
    int handles_open, started, stopping;
    void (*done)(void *);
    void *done_ctx;
    char *out_topic, *dlq_topic, *alarm_topic, *state_file;
    rec_labeled_t rec;     /* decode scratch */
    offsets_set_t off;     /* per partition, `stored` = the next offset to read, from records
                              processed (or the checkpoint): what the checkpoint covers */
    json_t *recent;        /* last RECENT events, newest first */
    int dirty;             /* records since the last checkpoint */
    int fatal;
    char fatal_msg[256];
    metrics_family_t *f_events, *f_active, *f_records, *f_dead, *f_late, *f_quality, *f_psi, *f_ckpt, *f_pub_fail, *f_reject;
    metrics_series_t *m_reject[NREJ];
    notify_t *notify;      /* Alertmanager and webhook delivery; NULL: none configured */
    json_t *labels;        /* every label of the models seen (keys); empty: no model yet, any label goes */
    char *ignore_dead_raw; /* "\"TOPIC\"": dead letters from it are not counted (feedback.topic) */
};

/* ---- events ---- */

static void publish_failed(alarms_t *a, rd_kafka_resp_err_t err)
{
    log_event(LOG_LEVEL_ERROR, "alarm_publish_failed", "code=%s", rd_kafka_err2name(err));
    metrics_inc(metrics_series0(a->f_pub_fail), 1);
}

static void dr_free(void *ctx, void *opaque, rd_kafka_resp_err_t err)
{
    if (err)
        publish_failed(ctx, err);
    free(opaque);
}

static void on_event(void *ctx, const detector_event_t *ev)
{
    alarms_t *a = ctx;
    json_t *j = detector_event_json(ev);
    char *text = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(6));
    char key[512];
    snprintf(key, sizeof key, "%s|%s|%s", detector_kind_name(ev->kind), ev->label ? ev->label : "",
             ev->account ? ev->account : "");
    if (text) {
        /* The producer does not copy: the text lives until its delivery report. */
        rd_kafka_resp_err_t e = producer_produce(a->kout, a->alarm_topic, key, strlen(key), text, strlen(text), text);
        if (e) {
            publish_failed(a, e);
            free(text);
        }
    }
    const char *type = ev->type == DETECTOR_RAISE ? "alarm" : ev->type == DETECTOR_UPDATE ? "update" : "clear";
    const char *vals[] = {type, detector_kind_name(ev->kind)};
    metrics_inc(metrics_series(a->f_events, vals), 1);
    char ws[40];
    tstamp_format(ev->window_start, ws, sizeof ws);
    log_event(ev->type == DETECTOR_CLEAR ? LOG_LEVEL_INFO : LOG_LEVEL_WARN,
              ev->type == DETECTOR_RAISE ? "alarm" : ev->type == DETECTOR_UPDATE ? "alarm_updated" : "alarm_cleared",
         "kind=%s label=%s account=%s window_start=%s observed=%.6g expected=%.6g p_value=%.3g",
         detector_kind_name(ev->kind), log_q(ev->label ? ev->label : ""), log_q(ev->account ? ev->account : ""), ws,
         ev->observed, ev->expected, ev->p_value);
    notify_event(a->notify, ev, j);
    json_array_insert_new(a->recent, 0, j);
    while (json_array_size(a->recent) > RECENT)
        json_array_remove(a->recent, RECENT);
}

/* ---- records ---- */

/* Decodes one record of the labeled or dead-letter topic (codec/rec.h, the
 * same rules as `triage alarms --replay`) and feeds it to the detector: 0,
 * or the reason it was not counted. Without a "ts" (dead letters have none)
 * a record counts at its Kafka timestamp. */
/* Whether a dead letter came from the ignored source topic. */
static int ignored_dead(const alarms_t *a, const rd_kafka_message_t *m)
{
    static const char *const key[] = {"topic"};
    jscan_val_t v;
    size_t n = a->ignore_dead_raw ? strlen(a->ignore_dead_raw) : 0;
    return n && !jscan_scan_object(m->payload, m->len, key, 1, &v, NULL) && v.type == JSCAN_STR && v.raw_len == n &&
           !memcmp(v.raw, a->ignore_dead_raw, n);
}

static int count_record(alarms_t *a, const rd_kafka_message_t *m, int64_t kts)
{
    int rc = rec_decode_labeled(m->payload, m->len, "label", &a->rec);
    if (rc)
        return rc;
    const rec_labeled_t *r = &a->rec;
    if (r->dead && ignored_dead(a, m))
        return 0;
    int64_t ts = r->ts_ms >= 0 ? r->ts_ms : kts;
    if (r->dead)
        rc = detector_add_dead(a->det, ts);
    else if (a->labels && json_object_size(a->labels) && !json_object_get(a->labels, r->label))
        return REJ_UNKNOWN_LABEL;
    else
        rc = detector_add_rec(a->det, &(detector_rec_t){ts, r->label, r->account, r->model, r->known, r->score, r->id,
                                                        r->excerpt, r->excerpt_len, r->features});
    return rc == DETECTOR_BAD_TS ? REJ_BAD_TS : rc == DETECTOR_LATE ? REJ_LATE : 0;
}

static void on_record(alarms_t *a, rd_kafka_message_t *m)
{
    const char *topic = rd_kafka_topic_name(m->rkt);
    offsets_part_t *o = offsets_set_add(&a->off, topic, m->partition);
    if (o)
        o->stored = m->offset + 1;
    a->dirty = 1;
    int64_t kts = rd_kafka_message_timestamp(m, NULL);
    if (kts < 0)
        kts = tstamp_now_ms();
    int rc = count_record(a, m, kts);
    if (rc)
        metrics_inc(a->m_reject[rc], 1);
}

static void poll_input(alarms_t *a)
{
    rd_kafka_message_t *m;
    size_t n = 0;
    while (!a->stopping && n < POLL_BUDGET && (m = consumer_poll(a->kin))) {
        if (m->err) {
            log_event(m->err == RD_KAFKA_RESP_ERR__FATAL ? LOG_LEVEL_ERROR : LOG_LEVEL_WARN, "consume_error", "role=alarms code=%s msg=%s",
                 rd_kafka_err2name(m->err), log_q(rd_kafka_message_errstr(m)));
            if (m->err == RD_KAFKA_RESP_ERR__FATAL) {
                a->fatal = 1;
                snprintf(a->fatal_msg, sizeof a->fatal_msg, "alarms consumer: %s", rd_kafka_message_errstr(m));
            }
        } else {
            on_record(a, m);
        }
        rd_kafka_message_destroy(m);
        n++;
    }
    detector_stats_t st = detector_stats(a->det);
    metrics_set(metrics_series0(a->f_active), (double)st.active);
    metrics_set(metrics_series0(a->f_records), (double)st.records);
    metrics_set(metrics_series0(a->f_dead), (double)st.dead);
    metrics_set(metrics_series0(a->f_late), (double)st.late);
    notify_publish(a->notify);
}

static void on_cpoll(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    poll_input(h->data);
}

static void on_ppoll(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    alarms_t *a = h->data;
    producer_poll(a->kout);
}

static void on_tick(uv_timer_t *t)
{
    alarms_t *a = t->data;
    producer_poll(a->kout);
    if (a->started && !a->stopping)
        poll_input(a);
}

/* ---- checkpoint ---- */

static int checkpoint(alarms_t *a)
{
    if (!*a->state_file)
        return 0;
    json_t *st = json_object(), *offs = json_array();
    json_object_set_new(st, "detector", detector_save(a->det));
    for (size_t i = 0; i < a->off.n; i++) {
        const offsets_part_t *o = a->off.parts[i];
        if (o->stored >= 0)
            json_array_append_new(offs, json_pack("{s:s,s:i,s:I}", "topic", o->topic, "partition", (int)o->partition,
                                                  "next", (json_int_t)o->stored));
    }
    json_object_set_new(st, "offsets", offs);
    json_object_set(st, "recent", a->recent);
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp", a->state_file);
    int rc = json_dump_file(st, tmp, JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(st);
    if (rc || rename(tmp, a->state_file)) {
        log_event(LOG_LEVEL_ERROR, "checkpoint_failed", "file=%s msg=%s", log_q(a->state_file), log_q(strerror(errno)));
        unlink(tmp);
        return TRI_EIO;
    }
    /* Only what the checkpoint covers is committed. */
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)a->off.n + 1);
    for (size_t i = 0; i < a->off.n; i++) {
        const offsets_part_t *o = a->off.parts[i];
        if (o->stored >= 0)
            rd_kafka_topic_partition_list_add(l, o->topic, o->partition)->offset = o->stored;
    }
    char err[TRI_ERRLEN];
    if (l->cnt && a->kin && consumer_commit_offsets(a->kin, l, err, sizeof err))
        log_event(LOG_LEVEL_WARN, "commit_failed", "role=alarms msg=%s", log_q(err));
    rd_kafka_topic_partition_list_destroy(l);
    metrics_inc(metrics_series0(a->f_ckpt), 1);
    a->dirty = 0;
    return 0;
}

static void on_ckpt(uv_timer_t *t)
{
    alarms_t *a = t->data;
    if (a->dirty)
        checkpoint(a);
}

static void load_state(alarms_t *a)
{
    if (!*a->state_file || access(a->state_file, R_OK))
        return;
    json_error_t je;
    json_t *st = json_load_file(a->state_file, 0, &je);
    char err[TRI_ERRLEN];
    if (!st) {
        log_event(LOG_LEVEL_WARN, "alarm_state_unreadable", "file=%s msg=%s", log_q(a->state_file), log_q(je.text));
        return;
    }
    if (detector_load(a->det, json_object_get(st, "detector"), err, sizeof err)) {
        log_event(LOG_LEVEL_WARN, "alarm_state_ignored", "file=%s msg=%s", log_q(a->state_file), log_q(err));
        json_decref(st);
        return;
    }
    size_t i;
    json_t *o;
    json_array_foreach(json_object_get(st, "offsets"), i, o)
    {
        const char *t = json_string_value(json_object_get(o, "topic"));
        offsets_part_t *off =
            t ? offsets_set_add(&a->off, t, (int32_t)json_integer_value(json_object_get(o, "partition"))) : NULL;
        if (off)
            off->stored = (int64_t)json_integer_value(json_object_get(o, "next"));
    }
    json_t *rec = json_object_get(st, "recent");
    if (json_is_array(rec)) {
        json_decref(a->recent);
        a->recent = json_incref(rec);
    }
    detector_stats_t s = detector_stats(a->det);
    log_event(LOG_LEVEL_INFO, "alarm_state_loaded", "file=%s series=%zu records=%llu active=%zu", log_q(a->state_file),
         s.series, (unsigned long long)s.records, s.active);
    json_decref(st);
}

/* Partitions assigned: resume where the checkpoint left off. */
static void on_assigned(void *ctx, const rd_kafka_topic_partition_list_t *parts)
{
    alarms_t *a = ctx;
    for (int i = 0; i < parts->cnt; i++) {
        offsets_part_t *o = offsets_set_find(&a->off, parts->elems[i].topic, parts->elems[i].partition);
        if (o && o->stored >= 0)
            consumer_seek(a->kin, o->topic, o->partition, o->stored);
    }
}

static void on_revoking(void *ctx, const rd_kafka_topic_partition_list_t *parts, int lost)
{
    alarms_t *a = ctx;
    if (!lost)
        checkpoint(a);
    /* Forget them: a later checkpoint must not commit offsets of partitions
     * another member now owns. */
    offsets_set_remove_list(&a->off, parts);
}

/* ---- lifecycle ---- */

static detector_opts_t opts_from(const cfg_t *c)
{
    detector_opts_t o;
    detector_opts_default(&o);
    o.window_ms = cfg_int(c, "alarms.window");
    o.lateness_ms = cfg_int(c, "alarms.lateness");
    o.p = cfg_double(c, "alarms.p");
    o.min_count = cfg_double(c, "alarms.min.count");
    o.min_ratio = cfg_double(c, "alarms.min.ratio");
    o.min_history = (int)cfg_int(c, "alarms.min.history");
    o.clear_windows = (int)cfg_int(c, "alarms.clear.windows");
    o.alpha = cfg_double(c, "alarms.alpha");
    o.by_account = (int)cfg_int(c, "alarms.by.account");
    o.seasonal = (int)cfg_int(c, "alarms.seasonal");
    o.profiles = (int)cfg_int(c, "alarms.profiles");
    o.drop_ratio = cfg_double(c, "alarms.drop.ratio");
    o.quality_min = cfg_double(c, "alarms.quality.min");
    o.oov_max = cfg_double(c, "alarms.oov.max");
    o.low_score = cfg_double(c, "alarms.low.score");
    o.low_max = cfg_double(c, "alarms.low.max");
    o.low_margin = cfg_double(c, "alarms.low.margin");
    o.dlq_max = cfg_double(c, "alarms.dlq.max");
    o.psi_max = cfg_double(c, "alarms.psi.max");
    o.max_series = (size_t)cfg_int(c, "alarms.max.series");
    o.future_skew_ms = cfg_int(c, "alarms.future.skew");
    o.fdr = cfg_double(c, "alarms.fdr");
    o.spike_ratio = cfg_double(c, "alarms.spike.ratio");
    const char *fl = cfg_str(c, "alarms.time.floor");
    if (tstamp_parse(fl, strlen(fl), &o.ts_floor_ms))
        o.ts_floor_ms = INT64_MIN; /* refused by alarms_new */
    return o;
}

int alarms_check_config(const cfg_t *cfg, char *err, size_t errlen)
{
    detector_opts_t o = opts_from(cfg);
    char e[TRI_ERRLEN];
    if (o.ts_floor_ms == INT64_MIN)
        return tri_errf(err, errlen, TRI_EINVAL, "%s: alarms.time.floor: not a time (RFC 3339 or epoch ms): '%s'",
                        cfg_origin(cfg, "alarms.time.floor"), cfg_str(cfg, "alarms.time.floor"));
    if (detector_parse_scales(&o, cfg_str(cfg, "alarms.scales"), e, sizeof e) || detector_check_opts(&o, e, sizeof e))
        return tri_errf(err, errlen, TRI_EINVAL, "%s: alarms.scales: %s", cfg_origin(cfg, "alarms.scales"), e);
    return 0;
}

int alarms_new(uv_loop_t *loop, const cfg_t *cfg, const char *bootstrap, metrics_t *met, alarms_t **out, char *err,
            size_t errlen)
{
    alarms_t *a = calloc(1, sizeof *a);
    if (!a)
        return tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
    a->loop = loop;
    a->cfg = cfg;
    a->out_topic = strdup(cfg_str(cfg, "output.topic"));
    a->dlq_topic = strdup(cfg_str(cfg, "output.dlq.topic"));
    a->alarm_topic = strdup(cfg_str(cfg, "alarms.topic"));
    a->state_file = strdup(cfg_str(cfg, "alarms.state.file"));
    a->recent = json_array();
    detector_opts_t ao = opts_from(cfg);
    int rc;
    if ((rc = alarms_check_config(cfg, err, errlen))) {
        alarms_free(a);
        return rc;
    }
    detector_parse_scales(&ao, cfg_str(cfg, "alarms.scales"), err, errlen); /* checked just above */
    a->det = detector_new(&ao, on_event, a);
    a->f_events = metrics_family(met, METRICS_COUNTER, "triage_alarm_events_total", "Alarm and clear events, by kind.",
                             "type,kind", NULL, 0);
    a->f_active = metrics_family(met, METRICS_GAUGE, "triage_alarms_active", "Alarms raised and not yet cleared.", NULL, NULL,
                             0);
    /* Counters restored from the checkpoint with the detector: monotonic
     * across restarts of the alarms role. */
    a->f_records = metrics_family(met, METRICS_COUNTER, "triage_alarm_records_total", "Records the detector has counted.",
                              NULL, NULL, 0);
    a->f_dead = metrics_family(met, METRICS_COUNTER, "triage_alarm_dead_letters_total",
                               "Dead letters the detector has counted (the classify traffic's; not feedback's).",
                               NULL, NULL, 0);
    a->f_late = metrics_family(met, METRICS_COUNTER, "triage_alarm_late_records_total",
                           "Records that arrived after their window had closed (not counted).", NULL, NULL, 0);
    a->f_quality = metrics_family(met, METRICS_GAUGE, "triage_quality_ratio",
                              "Shares of the last closed window's records: with under 5% of their n-grams known to the model "
                              "(unknown_text), predicted below alarms.low.score (low_confidence), dead-lettered "
                              "(dead_letter).",
                              "figure", NULL, 0);
    a->f_psi = metrics_family(met, METRICS_GAUGE, "triage_label_mix_psi",
                          "Population stability index of the last closed window's predicted label mix against "
                          "the training mix (drift).",
                          NULL, NULL, 0);
    a->f_pub_fail = metrics_family(met, METRICS_COUNTER, "triage_alarm_publish_failures_total",
                               "Alarm events that could not be published to alarms.topic.", NULL, NULL, 0);
    a->f_ckpt = metrics_family(met, METRICS_COUNTER, "triage_alarm_checkpoints_total", "Detector checkpoints written.", NULL,
                           NULL, 0);
    a->f_reject = metrics_family(met, METRICS_COUNTER, "triage_alarm_rejected_records_total",
                                 "Records on the labeled or dead-letter topic the detector did not count, by reason "
                                 "(malformed, unknown label, event time beyond now + alarms.future.skew, late).",
                                 "reason", NULL, 0);
    for (int r = 1; r < NREJ; r++)
        a->m_reject[r] = metrics_series1(a->f_reject, reject_names[r]);
    a->labels = json_object();
    if (!a->out_topic || !a->dlq_topic || !a->alarm_topic || !a->state_file || !a->recent || !a->det || !a->f_ckpt) {
        rc = tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
        goto fail;
    }
    if ((rc = notify_new(cfg, met, &a->notify, err, errlen)))
        goto fail;
    load_state(a);
    consumer_hooks_t hooks = {on_assigned, on_revoking, a};
    consumer_opts_t ko = {cfg_str(cfg, "alarms.group"), cfg_str(cfg, "input.assignment"), 0};
    if ((rc = consumer_new(cfg, &ko, bootstrap, &hooks, &a->kin, err, errlen)) ||
        (rc = producer_new(cfg, bootstrap, dr_free, a, &a->kout, err, errlen)))
        goto fail;
    uv_poll_init(loop, &a->cpoll, consumer_fd(a->kin));
    uv_poll_init(loop, &a->ppoll, producer_fd(a->kout));
    uv_timer_init(loop, &a->tick);
    uv_timer_init(loop, &a->ckpt);
    a->cpoll.data = a->ppoll.data = a->tick.data = a->ckpt.data = a;
    a->handles_open = 4;
    uv_poll_start(&a->ppoll, UV_READABLE, on_ppoll);
    uv_timer_start(&a->tick, on_tick, 100, 100);
    uint64_t ci = (uint64_t)cfg_int(cfg, "alarms.checkpoint.interval");
    uv_timer_start(&a->ckpt, on_ckpt, ci, ci);
    *out = a;
    return 0;
fail:
    alarms_free(a);
    return rc;
}

int alarms_start(alarms_t *a, char *err, size_t errlen)
{
    char topics[1024];
    snprintf(topics, sizeof topics, "%s,%s", a->out_topic, a->dlq_topic);
    int rc = consumer_subscribe(a->kin, topics, err, errlen);
    if (rc)
        return rc;
    a->started = 1;
    uv_poll_start(&a->cpoll, UV_READABLE, on_cpoll);
    log_event(LOG_LEVEL_INFO, "alarms_consuming", "topics=%s group=%s window_ms=%lld", log_q(topics),
         log_q(cfg_str(a->cfg, "alarms.group")), (long long)cfg_int(a->cfg, "alarms.window"));
    return 0;
}

/* The share of the model's held-out predictions scoring below low_score, from
 * the confidence histogram training stores (bins of 1/n); NAN when the model
 * has none (older files) or its bins do not fall on the threshold. */
static double held_out_low_share(const json_t *meta, double low_score)
{
    const json_t *h = json_object_get(json_object_get(meta, "holdout"), "confidence_hist");
    size_t n = json_array_size(h), cut;
    double tot = 0, low = 0;
    if (n < 2 || n > 1000)
        return NAN;
    cut = (size_t)lround(low_score * (double)n);
    if (fabs((double)cut - low_score * (double)n) > 1e-6)
        return NAN;
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_array_get(h, i);
        if (!json_is_integer(v) || json_integer_value(v) < 0)
            return NAN;
        tot += (double)json_integer_value(v);
        if (i < cut)
            low += (double)json_integer_value(v);
    }
    return tot > 0 ? low / tot : NAN;
}

void alarms_set_model(alarms_t *a, registry_model_t *m)
{
    detector_set_low_baseline(a->det, held_out_low_share(model_meta(registry_model_model(m)), cfg_double(a->cfg, "alarms.low.score")));
    json_t *lc = json_object_get(model_meta(registry_model_model(m)), "labels");
    size_t n = json_object_size(lc), i = 0;
    if (!n)
        return;
    const char **labels = calloc(n, sizeof *labels);
    double *shares = calloc(n, sizeof *shares), tot = 0;
    const char *k;
    json_t *v;
    if (labels && shares) {
        json_object_foreach(lc, k, v)
        {
            json_object_set_new(a->labels, k, json_true());
            labels[i] = k;
            shares[i] = json_number_value(v);
            tot += shares[i++];
        }
        for (i = 0; i < n && tot > 0; i++)
            shares[i] /= tot;
        if (tot > 0)
            detector_set_reference(a->det, labels, shares, n);
    }
    free(labels);
    free(shares);
}

static void on_closed(uv_handle_t *h)
{
    alarms_t *a = h->data;
    if (--a->handles_open == 0 && a->done)
        a->done(a->done_ctx);
}

void alarms_stop(alarms_t *a, void (*done)(void *), void *ctx)
{
    if (a->stopping)
        return;
    a->stopping = 1;
    a->done = done;
    a->done_ctx = ctx;
    checkpoint(a);
    consumer_close(a->kin, 5000);
    producer_flush(a->kout, 2000);
    uv_close((uv_handle_t *)&a->cpoll, on_closed);
    uv_close((uv_handle_t *)&a->ppoll, on_closed);
    uv_close((uv_handle_t *)&a->tick, on_closed);
    uv_close((uv_handle_t *)&a->ckpt, on_closed);
}

void alarms_free(alarms_t *a)
{
    if (!a)
        return;
    if (a->kin)
        consumer_destroy(a->kin);
    if (a->kout)
        producer_destroy(a->kout);
    detector_free(a->det);
    notify_free(a->notify);
    offsets_set_clear(&a->off);
    rec_labeled_free(&a->rec);
    if (a->recent)
        json_decref(a->recent);
    if (a->labels)
        json_decref(a->labels);
    free(a->out_topic);
    free(a->dlq_topic);
    free(a->alarm_topic);
    free(a->state_file);
    free(a->ignore_dead_raw);
    free(a);
}

json_t *alarms_status(alarms_t *a)
{
    json_t *s = detector_status(a->det, 24, 40);
    json_t *alarms = json_object();
    json_object_set(alarms, "active", json_object_get(s, "active"));
    json_object_set(alarms, "recent", a->recent);
    json_object_del(s, "active");
    json_object_set_new(s, "alarms", alarms);
    json_t *q = json_object_get(s, "quality");
    static const char *const figs[][2] = {{"oov_share", "unknown_text"},
                                          {"low_confidence_share", "low_confidence"},
                                          {"dead_letter_rate", "dead_letter"}};
    for (size_t i = 0; i < 3; i++) {
        json_t *v = json_object_get(q, figs[i][0]);
        if (json_is_number(v))
            metrics_set(metrics_series1(a->f_quality, figs[i][1]), json_number_value(v));
    }
    json_t *psi = json_object_get(q, "psi");
    if (json_is_number(psi))
        metrics_set(metrics_series0(a->f_psi), json_number_value(psi));
    return s;
}

void alarms_publish(alarms_t *a, const detector_event_t *ev) { on_event(a, ev); }

int alarms_ignore_dead_from(alarms_t *a, const char *topic)
{
    free(a->ignore_dead_raw);
    a->ignore_dead_raw = NULL;
    if (!*topic)
        return 0;
    size_t n = strlen(topic) + 3;
    if (!(a->ignore_dead_raw = malloc(n)))
        return TRI_ENOMEM;
    snprintf(a->ignore_dead_raw, n, "\"%s\"", topic);
    return 0;
}

int alarms_fatal(alarms_t *a, char *msg, size_t n)
{
    char fe[256];
    if (!a->fatal && (kafka_fatal(consumer_rk(a->kin), fe, sizeof fe) || kafka_fatal(producer_rk(a->kout), fe, sizeof fe))) {
        a->fatal = 1;
        snprintf(a->fatal_msg, sizeof a->fatal_msg, "%s", fe);
    }
    if (a->fatal)
        snprintf(msg, n, "%s", a->fatal_msg);
    return a->fatal;
}
