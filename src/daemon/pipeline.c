#include "daemon/pipeline.h"
#include "daemon/batches.h"
#include "daemon/output.h"
#include "daemon/shadow.h"
#include "codec/rec.h"
#include "io/consumer.h"
#include "io/kafka.h"
#include "io/log.h"
#include "io/offsets.h"
#include "core/tri_err.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define POLL_BUDGET 4096   /* messages taken per loop turn before yielding */

struct pipeline {
    uv_loop_t *loop;
    const cfg_t *cfg;
    pipeline_hooks_t h;
    consumer_t *kin;
    output_t *out;
    batches_t *bs;
    shadow_t *shadow;          /* the challenger's shadow scoring; NULL when model.challenger is off */
    registry_t *reg;
    offsets_set_t parts;       /* the assigned partitions' trackers */
    uv_poll_t cpoll;
    uv_timer_t linger, tick;
    uv_idle_t more;
    int handles_open, closing;

    rec_schema_t schema;
    char *textlist, *passlist, *hdrlist;
    const char *hdr_names[16];
    size_t nhdr;
    size_t batch_size, max_inflight, max_inflight_bytes;
    uint64_t linger_ms, flush_ms;

    size_t inflight;           /* consumed, not yet delivered */
    int paused, throttled, in_revoke, started, stopping, finalizing;
    uint64_t throttled_since;
    uint64_t stop_deadline;
    void (*stop_done)(void *);
    void *stop_ctx;
    int fatal;
    char fatal_msg[256];
    uint64_t n_in, n_out, n_dead;
    uint32_t *counts;          /* count_labels' scratch */
    size_t capcounts;

    metrics_family_t *f_in, *f_out, *f_dead, *f_batches, *f_batch_size, *f_batch_latency, *f_classify, *f_labels,
        *f_unknown, *f_lag, *f_assigned, *f_rebalances, *f_inflight, *f_inflight_bytes, *f_paused, *f_throttled;
};

static void backpressure(pipeline_t *pl);
static void check_stop(pipeline_t *pl);
static void on_cpoll(uv_poll_t *h, int status, int events);

/* The first fatal error stops the input and is reported once, to the owner. */
static void fail(pipeline_t *pl, const char *fmt, ...)
{
    if (pl->fatal)
        return;
    pl->fatal = 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pl->fatal_msg, sizeof pl->fatal_msg, fmt, ap);
    va_end(ap);
    if (pl->h.fatal)
        pl->h.fatal(pl->h.ctx, pl->fatal_msg);
}

/* ---- output ---- */

/* Hands the outputs of classified batches to the producer, in batch order. */
static void produce_ready(pipeline_t *pl)
{
    batch_rec_t *r;
    while ((r = batches_next_out(pl->bs))) {
        if (output_send(pl->out, &r->out) == OUTPUT_RETRY)
            return; /* the queue is full: the output calls back (on_writable) */
        batches_handed_on(pl->bs, r);
    }
}

static void on_writable(void *ctx) { produce_ready(ctx); }

static int on_refused(void *ctx, output_msg_t *m, rd_kafka_resp_err_t err)
{
    pipeline_t *pl = ctx;
    batch_rec_t *r = (batch_rec_t *)m; /* out is its first member */
    char reason[128];
    snprintf(reason, sizeof reason, "Kafka refused the output: %s", rd_kafka_err2name(err));
    return batches_refused(pl->bs, r, reason) == 0;
}

static void on_output_fatal(void *ctx, const char *msg) { fail(ctx, "%s", msg); }

static void on_served(void *ctx) { check_stop(ctx); }

static void on_delivered(void *ctx, output_msg_t *m)
{
    pipeline_t *pl = ctx;
    batch_rec_t *r = (batch_rec_t *)m; /* out is its first member */
    int64_t store;
    offsets_part_t *t = r->part;
    if (offsets_done(t, r->seq, &store) == 1 && !t->revoked)
        consumer_store(pl->kin, t->topic, t->partition, store);
    if (r->status == REC_OK) {
        pl->n_out++;
        metrics_inc(metrics_series0(pl->f_out), 1);
    } else {
        pl->n_dead++;
        metrics_inc(metrics_series1(pl->f_dead, rec_status_code(r->status)), 1);
    }
    pl->inflight--;
    uint64_t age_ns;
    if (batches_delivered(pl->bs, r, &age_ns))
        metrics_observe(pl->f_batch_latency, metrics_series0(pl->f_batch_latency), (double)age_ns / 1e9);
    backpressure(pl);
}

/* ---- batches ---- */

/* Counts a batch's predicted labels: per label name, once per batch (a
 * series lookup per distinct label, not per record). */
static void count_labels(pipeline_t *pl, const batch_t *b)
{
    size_t need = b->nmodels;
    for (size_t k = 0; k < b->nmodels; k++)
        need += model_nlabels(registry_model_model(b->models[k]));
    if (need > pl->capcounts) {
        uint32_t *v = realloc(pl->counts, need * sizeof *v);
        if (!v)
            return; /* a metric, not a record: skip this batch's counts */
        pl->counts = v;
        pl->capcounts = need;
    }
    /* counts[0..nmodels): where each model's labels start; then the counts. */
    uint32_t *base = pl->counts;
    memset(base, 0, need * sizeof *base);
    for (size_t k = 0, at = b->nmodels; k < b->nmodels; k++) {
        base[k] = (uint32_t)at;
        at += model_nlabels(registry_model_model(b->models[k]));
    }
    uint64_t unknown = 0;
    for (size_t i = 0; i < b->n; i++) {
        const batch_rec_t *r = &b->recs[i];
        if (r->label < 0)
            continue;
        pl->counts[base[r->mi] + (uint32_t)r->label]++;
        unknown += clf_text_unknown(r->nknown, r->nfeatures);
    }
    for (size_t k = 0; k < b->nmodels; k++) {
        const model_t *m = registry_model_model(b->models[k]);
        for (uint32_t l = 0; l < model_nlabels(m); l++)
            if (pl->counts[base[k] + l])
                metrics_inc(metrics_series1(pl->f_labels, model_label(m, l)), pl->counts[base[k] + l]);
    }
    if (unknown)
        metrics_inc(metrics_series0(pl->f_unknown), (double)unknown);
}

static void on_worked(void *ctx, batch_t *b)
{
    pipeline_t *pl = ctx;
    if (b->arena.oom) {
        /* Nothing can be produced from a truncated arena: fail loudly, keep
         * the offsets unstored so the records are read again. */
        fail(pl, "out of memory encoding a batch");
    }
    metrics_inc(metrics_series0(pl->f_batches), 1);
    metrics_observe(pl->f_batch_size, metrics_series0(pl->f_batch_size), (double)b->n);
    metrics_observe(pl->f_classify, metrics_series0(pl->f_classify), (double)b->work_ns / 1e9);
    count_labels(pl, b);
    /* Copies of the sampled records; the batch's outputs go on at once. */
    if (pl->shadow && pl->reg && !b->arena.oom)
        shadow_batch(pl->shadow, pl->reg, b);
}

static void on_batch_after(void *ctx)
{
    pipeline_t *pl = ctx;
    produce_ready(pl);
    batches_kick(pl->bs, pl->reg);
    check_stop(pl);
}

static void close_batch(pipeline_t *pl)
{
    uv_timer_stop(&pl->linger);
    batches_close(pl->bs, pl->reg);
}

static void on_linger(uv_timer_t *t) { close_batch(t->data); }

/* ---- input ---- */

/* Back-pressure in two steps. Above input.max.inflight the loop first stops
 * taking records: librdkafka keeps prefetching into its own bounded queue
 * (queued.max.messages.kbytes), nothing is thrown away, and taking resumes
 * the moment deliveries bring the count below half the limit — the normal
 * flow control of a busy pipeline. Only if that lasts PAUSE_AFTER_MS (the
 * output is down or very slow) are the partitions paused: pausing discards
 * librdkafka's prefetched records (they are fetched again on resume), but it
 * lets the loop poll the consumer again, so rebalances are served and the
 * group does not evict this member for exceeding max.poll.interval.ms. */
#define PAUSE_AFTER_MS 2000

static void set_throttle(pipeline_t *pl, int on)
{
    pl->throttled = on;
    metrics_set(metrics_series0(pl->f_throttled), on);
    if (on) {
        pl->throttled_since = uv_hrtime();
        uv_poll_stop(&pl->cpoll); /* the queue stays non-empty: do not spin on it */
    } else if (!pl->stopping && !pl->closing) {
        uv_poll_start(&pl->cpoll, UV_READABLE, on_cpoll);
    }
}

static void backpressure(pipeline_t *pl)
{
    if (pl->in_revoke || !pl->started || pl->finalizing)
        return;
    /* Counted in records and in bytes: input.max.inflight records of up to
     * input.max.bytes each would be far too much memory. */
    size_t bytes = batches_bytes(pl->bs);
    if (pl->inflight >= pl->max_inflight || bytes >= pl->max_inflight_bytes) {
        if (!pl->throttled && !pl->paused)
            set_throttle(pl, 1);
        if (pl->throttled && !pl->paused && uv_hrtime() - pl->throttled_since > PAUSE_AFTER_MS * 1000000ull &&
            !consumer_pause(pl->kin, 1)) {
            pl->paused = 1;
            metrics_set(metrics_series0(pl->f_paused), 1);
            log_event(LOG_LEVEL_WARN, "input_paused", "inflight=%zu limit=%zu bytes=%zu bytes_limit=%zu waited_ms=%d",
                      pl->inflight, pl->max_inflight, bytes, pl->max_inflight_bytes, PAUSE_AFTER_MS);
            set_throttle(pl, 0); /* paused partitions deliver nothing: polling is safe again */
        }
    } else if (pl->inflight <= pl->max_inflight / 2 && bytes <= pl->max_inflight_bytes / 2) {
        if (pl->throttled)
            set_throttle(pl, 0);
        if (pl->paused && !consumer_pause(pl->kin, 0)) {
            pl->paused = 0;
            metrics_set(metrics_series0(pl->f_paused), 0);
            log_event(LOG_LEVEL_INFO, "input_resumed", "inflight=%zu", pl->inflight);
        }
    }
}

static void on_message(pipeline_t *pl, rd_kafka_message_t *m)
{
    if (m->err) {
        char fe[256];
        if (m->err == RD_KAFKA_RESP_ERR__FATAL || kafka_fatal(consumer_rk(pl->kin), fe, sizeof fe))
            fail(pl, "consumer: %s", rd_kafka_message_errstr(m));
        log_event(m->err == RD_KAFKA_RESP_ERR__FATAL ? LOG_LEVEL_ERROR : LOG_LEVEL_WARN, "consume_error",
                  "code=%s msg=%s", rd_kafka_err2name(m->err), log_q(rd_kafka_message_errstr(m)));
        rd_kafka_message_destroy(m);
        return;
    }
    offsets_part_t *t = offsets_set_add(&pl->parts, rd_kafka_topic_name(m->rkt), m->partition);
    uint64_t seq = t ? offsets_push(t, m->offset) : UINT64_MAX;
    int rc = seq == UINT64_MAX ? TRI_ENOMEM : batches_add(pl->bs, m, t, seq);
    if (rc < 0) {
        /* Out of memory: drop the message unprocessed. Its offset is never
         * stored, so it is read again after a restart; stop cleanly. */
        fail(pl, "out of memory buffering input");
        rd_kafka_message_destroy(m);
        return;
    }
    pl->inflight++;
    pl->n_in++;
    metrics_inc(metrics_series0(pl->f_in), 1);
    if (rc == BATCHES_OPENED)
        uv_timer_start(&pl->linger, on_linger, pl->linger_ms, 0);
    else if (rc == BATCHES_FULL)
        close_batch(pl);
}

static void on_more(uv_idle_t *h);

static void poll_input(pipeline_t *pl)
{
    size_t n = 0;
    rd_kafka_message_t *m;
    /* Back-pressure is checked per message (see backpressure()). */
    while (!pl->stopping && !pl->fatal && !pl->throttled && n < POLL_BUDGET && (m = consumer_poll(pl->kin))) {
        on_message(pl, m);
        backpressure(pl);
        n++;
    }
    backpressure(pl);
    if (n >= POLL_BUDGET)
        uv_idle_start(&pl->more, on_more);
}

static void on_more(uv_idle_t *h)
{
    uv_idle_stop(h);
    poll_input(h->data);
}

static void on_cpoll(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    poll_input(h->data);
}

/* ---- rebalance hooks (run inside consumer_poll / consumer_close) ---- */

static void on_assigned(void *ctx, const rd_kafka_topic_partition_list_t *parts)
{
    pipeline_t *pl = ctx;
    /* A tracker left from a lost assignment is stale: start afresh. */
    offsets_set_remove_list(&pl->parts, parts);
    for (int i = 0; i < parts->cnt; i++)
        offsets_set_add(&pl->parts, parts->elems[i].topic, parts->elems[i].partition);
    metrics_inc(metrics_series1(pl->f_rebalances, "assign"), 1);
    if (pl->paused)
        consumer_pause_parts(pl->kin, parts, 1);
}

/* Blocks the loop; see pipeline.h for the bound. */
static void on_revoking(void *ctx, const rd_kafka_topic_partition_list_t *parts, int lost)
{
    pipeline_t *pl = ctx;
    pl->in_revoke = 1;
    pl->inflight -= batches_drop(pl->bs, parts);
    if (!lost) {
        /* Finish what the workers hold, hand everything classified to the
         * producer, wait for the deliveries (bounded) and commit, so the next
         * owner starts after our last delivered record. */
        batches_wait_workers(pl->bs);
        produce_ready(pl);
        uint64_t timeout = pl->finalizing && uv_hrtime() > pl->stop_deadline ? 0 : pl->flush_ms;
        int left = output_flush(pl->out, (int)timeout);
        if (left)
            log_event(LOG_LEVEL_WARN, "revoke_flush_incomplete", "undelivered=%d", left);
        char err[TRI_ERRLEN];
        if (consumer_commit(pl->kin, err, sizeof err))
            log_event(LOG_LEVEL_WARN, "commit_failed", "msg=%s", log_q(err));
    }
    offsets_set_remove_list(&pl->parts, parts);
    metrics_inc(metrics_series1(pl->f_rebalances, lost ? "lost" : "revoke"), 1);
    pl->in_revoke = 0;
    backpressure(pl);
}

/* ---- lifecycle ---- */

static void on_tick(uv_timer_t *t)
{
    pipeline_t *pl = t->data;
    char fe[256];
    if (kafka_fatal(output_rk(pl->out), fe, sizeof fe) || kafka_fatal(consumer_rk(pl->kin), fe, sizeof fe))
        fail(pl, "%s", fe);
    output_poll(pl->out);
    backpressure(pl); /* a throttle that has lasted too long turns into a pause */
    if (pl->started && !pl->stopping)
        poll_input(pl);
    batches_kick(pl->bs, pl->reg);
    check_stop(pl);
}

static int read_schema(pipeline_t *pl, const cfg_t *cfg, char *err, size_t errlen)
{
    rec_schema_default(&pl->schema);
    pl->schema.id_field = cfg_str(cfg, "input.id.field");
    pl->schema.account_field = *cfg_str(cfg, "input.account.field") ? cfg_str(cfg, "input.account.field") : NULL;
    pl->schema.ts_field = *cfg_str(cfg, "input.ts.field") ? cfg_str(cfg, "input.ts.field") : NULL;
    pl->schema.max_bytes = (size_t)cfg_int(cfg, "input.max.bytes");
    pl->textlist = strdup(cfg_str(cfg, "input.text.fields"));
    if (!pl->textlist)
        return tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
    char terr[TRI_ERRLEN];
    if (rec_schema_set_text(&pl->schema, pl->textlist, terr, sizeof terr))
        return tri_errf(err, errlen, TRI_EINVAL, "%s: input.text.fields: %s", cfg_origin(cfg, "input.text.fields"),
                        terr);
    pl->passlist = strdup(cfg_str(cfg, "output.passthrough.fields"));
    pl->hdrlist = strdup(cfg_str(cfg, "output.headers"));
    if (!pl->passlist || !pl->hdrlist)
        return tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
    if (rec_schema_set_passthrough(&pl->schema, pl->passlist, terr, sizeof terr))
        return tri_errf(err, errlen, TRI_EINVAL, "%s: output.passthrough.fields: %s",
                        cfg_origin(cfg, "output.passthrough.fields"), terr);
    pl->schema.excerpt_bytes = (size_t)cfg_int(cfg, "output.excerpt.bytes");
    if (strcmp(pl->hdrlist, "*"))
        for (char *p = pl->hdrlist, *c; *p; p = c + 1) {
            if ((c = strchr(p, ',')))
                *c = '\0';
            if (!*p || pl->nhdr == sizeof pl->hdr_names / sizeof *pl->hdr_names)
                return tri_errf(err, errlen, TRI_EINVAL, "%s: output.headers: an empty name or more than %zu names",
                                cfg_origin(cfg, "output.headers"), sizeof pl->hdr_names / sizeof *pl->hdr_names);
            pl->hdr_names[pl->nhdr++] = p;
            if (!c)
                break;
        }
    return 0;
}

static int register_metrics(pipeline_t *pl, metrics_t *met)
{
    static const double size_bounds[] = {1, 10, 50, 100, 250, 500, 1000, 5000};
    static const double lat_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10};
    static const double cls_bounds[] = {0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5};
    pl->f_in = metrics_family(met, METRICS_COUNTER, "triage_records_in_total", "Records consumed.", NULL, NULL, 0);
    pl->f_out =
        metrics_family(met, METRICS_COUNTER, "triage_records_out_total", "Labeled records delivered.", NULL, NULL, 0);
    pl->f_dead = metrics_family(met, METRICS_COUNTER, "triage_records_dead_lettered_total",
                                "Records delivered to the dead-letter topic, by reason.", "reason", NULL, 0);
    pl->f_batches = metrics_family(met, METRICS_COUNTER, "triage_batches_total", "Batches classified.", NULL, NULL, 0);
    pl->f_batch_size = metrics_family(met, METRICS_HISTOGRAM, "triage_batch_size", "Records per batch.", NULL,
                                      size_bounds, sizeof size_bounds / sizeof *size_bounds);
    pl->f_batch_latency = metrics_family(met, METRICS_HISTOGRAM, "triage_batch_latency_seconds",
                                         "From a batch's first record consumed to its last output delivered.", NULL,
                                         lat_bounds, sizeof lat_bounds / sizeof *lat_bounds);
    pl->f_classify = metrics_family(met, METRICS_HISTOGRAM, "triage_classify_seconds",
                                    "Time to decode, classify and encode one batch.", NULL, cls_bounds,
                                    sizeof cls_bounds / sizeof *cls_bounds);
    pl->f_labels = metrics_family(met, METRICS_COUNTER, "triage_labels_total",
                                  "Records classified, by predicted label.", "label", NULL, 0);
    pl->f_unknown = metrics_family(met, METRICS_COUNTER, "triage_unknown_text_total",
                                   "Records the model does not know: fewer than 5% of their n-grams known.", NULL, NULL, 0);
    pl->f_lag = metrics_family(met, METRICS_GAUGE, "triage_consumer_lag", "Records behind the high watermark.",
                               "topic,partition", NULL, 0);
    pl->f_assigned = metrics_family(met, METRICS_GAUGE, "triage_assigned_partitions",
                                    "Partitions assigned to this worker.", NULL, NULL, 0);
    pl->f_rebalances = metrics_family(met, METRICS_COUNTER, "triage_rebalances_total", "Rebalance events, by kind.",
                                      "kind", NULL, 0);
    pl->f_inflight = metrics_family(met, METRICS_GAUGE, "triage_inflight_records",
                                    "Records consumed, not yet delivered.", NULL, NULL, 0);
    pl->f_inflight_bytes = metrics_family(met, METRICS_GAUGE, "triage_inflight_bytes",
                                          "Bytes held for records in flight (inputs and encoded outputs).", NULL,
                                          NULL, 0);
    pl->f_paused = metrics_family(met, METRICS_GAUGE, "triage_input_paused",
                                  "1 while back-pressure pauses the input.", NULL, NULL, 0);
    pl->f_throttled = metrics_family(met, METRICS_GAUGE, "triage_input_throttled",
                                     "1 while the input is held back because too many records are in flight.", NULL,
                                     NULL, 0);
    /* Known reasons start at zero, so a dashboard sees the series before the
     * first bad record. */
    for (int st = REC_OK + 1; st < REC_NSTATUS && pl->f_dead; st++)
        metrics_series1(pl->f_dead, rec_status_code(st));
    return pl->f_throttled ? 0 : TRI_ENOMEM;
}

int pipeline_new(uv_loop_t *loop, const cfg_t *cfg, const char *bootstrap, metrics_t *met,
                 const pipeline_hooks_t *hooks, pipeline_t **out, char *err, size_t errlen)
{
    pipeline_t *pl = calloc(1, sizeof *pl);
    if (!pl)
        return tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
    pl->loop = loop;
    pl->cfg = cfg;
    pl->h = *hooks;
    int rc;
    if ((rc = read_schema(pl, cfg, err, errlen)))
        goto fail;
    pl->batch_size = (size_t)cfg_int(cfg, "batch.size");
    pl->linger_ms = (uint64_t)cfg_int(cfg, "batch.linger.ms");
    pl->max_inflight = (size_t)cfg_int(cfg, "input.max.inflight");
    pl->max_inflight_bytes = (size_t)cfg_int(cfg, "input.max.inflight.bytes");
    pl->flush_ms = (uint64_t)cfg_int(cfg, "output.flush.timeout.ms");
    if (register_metrics(pl, met)) {
        rc = tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
        goto fail;
    }
    output_hooks_t oh = {on_delivered, on_writable, on_served, on_refused, on_output_fatal, pl};
    if ((rc = output_new(loop, cfg, bootstrap, met, &oh, &pl->out, err, errlen)))
        goto fail;
    batches_opts_t bo = {&pl->schema, pl->batch_size, (int)cfg_int(cfg, "batch.workers"),
                         (size_t)cfg_int(cfg, "output.dlq.payload.max.bytes"), (size_t)cfg_int(cfg, "batch.max.bytes"),
                         output_max_message(pl->out), !strcmp(pl->hdrlist, "*"), pl->hdr_names, pl->nhdr};
    batches_hooks_t bh = {on_worked, on_batch_after, pl};
    if (batches_new(loop, &bo, &bh, &pl->bs)) {
        rc = tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
        goto fail;
    }
    if (*cfg_str(cfg, "model.challenger") &&
        (rc = shadow_new(loop, cfg, &pl->schema, met, &pl->shadow, err, errlen)))
        goto fail;
    consumer_hooks_t ch = {on_assigned, on_revoking, pl};
    consumer_opts_t ko = {cfg_str(cfg, "input.group"), cfg_str(cfg, "input.assignment"),
                          cfg_int(cfg, "input.commit.interval.ms")};
    if ((rc = consumer_new(cfg, &ko, bootstrap, &ch, &pl->kin, err, errlen)))
        goto fail;
    uv_poll_init(loop, &pl->cpoll, consumer_fd(pl->kin));
    uv_timer_init(loop, &pl->linger);
    uv_timer_init(loop, &pl->tick);
    uv_idle_init(loop, &pl->more);
    pl->cpoll.data = pl->linger.data = pl->tick.data = pl->more.data = pl;
    pl->handles_open = 5; /* four here, and the output's */
    uv_timer_start(&pl->tick, on_tick, 50, 50);
    *out = pl;
    return 0;
fail:
    pipeline_free(pl);
    return rc;
}

int pipeline_start(pipeline_t *pl, registry_t *reg, char *err, size_t errlen)
{
    pl->reg = reg;
    int rc = consumer_subscribe(pl->kin, cfg_str(pl->cfg, "input.topics"), err, errlen);
    if (rc)
        return rc;
    pl->started = 1;
    uv_poll_start(&pl->cpoll, UV_READABLE, on_cpoll);
    log_event(LOG_LEVEL_INFO, "consuming", "topics=%s group=%s batch_size=%zu linger_ms=%llu",
              log_q(cfg_str(pl->cfg, "input.topics")), log_q(cfg_str(pl->cfg, "input.group")), pl->batch_size,
              (unsigned long long)pl->linger_ms);
    return 0;
}

static void on_part_closed(void *ctx)
{
    pipeline_t *pl = ctx;
    if (--pl->handles_open == 0 && pl->stop_done)
        pl->stop_done(pl->stop_ctx);
}

static void on_closed(uv_handle_t *h) { on_part_closed(h->data); }

static void finalize(pipeline_t *pl)
{
    pl->finalizing = 1;
    if (pl->inflight)
        log_event(LOG_LEVEL_WARN, "shutdown_undelivered", "records=%zu note=%s", pl->inflight,
                  log_q("their offsets stay uncommitted: they will be processed again"));
    char err[TRI_ERRLEN];
    if (pl->started && consumer_commit(pl->kin, err, sizeof err))
        log_event(LOG_LEVEL_WARN, "commit_failed", "msg=%s", log_q(err));
    consumer_close(pl->kin, (int)(pl->flush_ms > 1000 ? pl->flush_ms : 1000));
    output_flush(pl->out, 1000);
    log_event(LOG_LEVEL_INFO, "pipeline_stopped", "in=%llu out=%llu dead=%llu", (unsigned long long)pl->n_in,
              (unsigned long long)pl->n_out, (unsigned long long)pl->n_dead);
    pl->closing = 1;
    uv_close((uv_handle_t *)&pl->cpoll, on_closed);
    uv_close((uv_handle_t *)&pl->linger, on_closed);
    uv_close((uv_handle_t *)&pl->tick, on_closed);
    uv_close((uv_handle_t *)&pl->more, on_closed);
    output_close(pl->out, on_part_closed, pl);
}

static void check_stop(pipeline_t *pl)
{
    if (!pl->stopping || pl->finalizing || pl->in_revoke)
        return;
    /* A shadow job on the pool is waited for (one at most: it holds model
     * references and the schema); queued ones were dropped by the stop. */
    int idle = batches_idle(pl->bs) && !pl->inflight && !(pl->shadow && shadow_running(pl->shadow));
    if (idle || uv_hrtime() > pl->stop_deadline || pl->fatal)
        finalize(pl);
}

void pipeline_stop(pipeline_t *pl, void (*done)(void *), void *ctx)
{
    if (pl->stopping)
        return;
    pl->stopping = 1;
    pl->throttled = 0;
    pl->stop_done = done;
    pl->stop_ctx = ctx;
    pl->stop_deadline = uv_hrtime() + pl->flush_ms * 1000000ull;
    uv_poll_stop(&pl->cpoll);
    uv_idle_stop(&pl->more);
    close_batch(pl);
    if (pl->shadow)
        shadow_stop(pl->shadow);
    log_event(LOG_LEVEL_INFO, "pipeline_stopping", "inflight=%zu batches_working=%d", pl->inflight,
              batches_working(pl->bs));
    check_stop(pl);
}

void pipeline_free(pipeline_t *pl)
{
    if (!pl)
        return;
    /* Batches release their messages before the consumer handle goes. */
    batches_free(pl->bs);
    shadow_free(pl->shadow);
    offsets_set_clear(&pl->parts);
    if (pl->kin)
        consumer_destroy(pl->kin);
    output_free(pl->out);
    free(pl->textlist);
    free(pl->counts);
    free(pl->passlist);
    free(pl->hdrlist);
    free(pl);
}

json_t *pipeline_challenger_json(pipeline_t *pl)
{
    return pl->shadow ? shadow_status_json(pl->shadow) : json_null();
}

void pipeline_models_ready(pipeline_t *pl) { batches_kick(pl->bs, pl->reg); }

void pipeline_status(pipeline_t *pl, pipeline_status_t *st)
{
    memset(st, 0, sizeof *st);
    st->started = pl->started;
    st->joined = pl->started && consumer_joined(pl->kin);
    st->assigned = (int)pl->parts.n;
    st->fatal = pl->fatal;
    snprintf(st->fatal_msg, sizeof st->fatal_msg, "%s", pl->fatal_msg);
    st->producer_ok = !pl->fatal && !output_failing(pl->out);
    st->in = pl->n_in;
    st->out = pl->n_out;
    st->dead = pl->n_dead;
    st->inflight = pl->inflight;
}

json_t *pipeline_lag_json(pipeline_t *pl)
{
    json_t *parts = json_array();
    int64_t total = 0;
    for (size_t i = 0; i < pl->parts.n; i++) {
        const offsets_part_t *t = pl->parts.parts[i];
        int64_t lag = consumer_lag(pl->kin, t->topic, t->partition);
        if (lag < 0)
            continue;
        total += lag;
        json_array_append_new(parts, json_pack("{s:s,s:i,s:I}", "topic", t->topic, "partition", (int)t->partition,
                                               "lag", (json_int_t)lag));
    }
    return json_pack("{s:I,s:o}", "total", (json_int_t)total, "partitions", parts);
}

void pipeline_refresh_metrics(pipeline_t *pl)
{
    metrics_reset_family(pl->f_lag);
    for (size_t i = 0; i < pl->parts.n; i++) {
        const offsets_part_t *t = pl->parts.parts[i];
        char p[16];
        snprintf(p, sizeof p, "%d", (int)t->partition);
        int64_t lag = consumer_lag(pl->kin, t->topic, t->partition);
        if (lag >= 0) {
            const char *v[] = {t->topic, p};
            metrics_set(metrics_series(pl->f_lag, v), (double)lag);
        }
    }
    metrics_set(metrics_series0(pl->f_assigned), (double)pl->parts.n);
    metrics_set(metrics_series0(pl->f_inflight), (double)pl->inflight);
    metrics_set(metrics_series0(pl->f_inflight_bytes), (double)batches_bytes(pl->bs));
}
