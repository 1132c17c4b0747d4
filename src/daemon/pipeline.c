#include "daemon/pipeline.h"
#include "codec/jscan.h"
#include "io/kafka.h"
#include "io/consumer.h"
#include "io/producer.h"
#include "io/offsets.h"
#include "codec/rec.h"
#include "io/log.h"
#include "core/tri_err.h"
#include "core/tstamp.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Batches are recycled: their arenas and record arrays keep their capacity. */
#define FREE_BATCHES 8
#define POLL_BUDGET 4096   /* messages taken per loop turn before yielding */

enum { B_FILLING, B_QUEUED, B_WORKING, B_WORKED };

typedef struct pbatch pbatch_t;

/* One consumed record, from poll to delivery report. */
typedef struct prec {
    rd_kafka_message_t *msg;   /* owned until enqueued to the producer */
    offsets_part_t *part;           /* reference, until delivered or dropped */
    uint64_t seq;
    pbatch_t *b;
    uint32_t out_off, out_len, key_off, key_len;  /* in b->arena */
    int16_t status;            /* REC_OK: labeled; else dead-lettered */
    int32_t label;
    uint32_t nknown;
    uint32_t mi;               /* index into b->models */
} prec_t;

struct pbatch {
    pipeline_t *pl;
    uv_work_t work;
    prec_t *recs;
    size_t n, cap;
    buf_t arena;               /* outputs and keys: freed as one */
    rec_t rec;                 /* decode scratch for the worker */
    /* The versions that score this batch (the default first, then accounts'
     * own), one reference and one scorer each, held until the batch is done. */
    registry_model_t **models;
    clf_t **clfs;
    size_t nmodels, capmodels;
    size_t resolved;           /* records whose model is chosen */
    uint64_t t_first;          /* uv_hrtime of the first record */
    uint64_t work_ns;
    size_t produced;           /* records handed to the producer */
    size_t outstanding;        /* records not yet delivered */
    int state;
    int finished;              /* worker done (under pl->mu) */
    int after_pending;         /* libuv's after-work callback still to run */
    pbatch_t *next;            /* FIFO of batches not yet fully produced */
    pbatch_t *live_prev, *live_next; /* every batch not in the free list */
};

struct pl {
    uv_loop_t *loop;
    const cfg_t *cfg;
    consumer_t *kin;
    producer_t *kout;
    registry_t *reg;
    uv_poll_t cpoll, ppoll;
    uv_timer_t linger, tick, retry;
    uv_idle_t more;
    int handles_open, closing;

    rec_schema_t schema;
    char *textlist;
    size_t batch_size, max_inflight, dlq_max;
    uint64_t linger_ms, flush_ms;
    int workers;
    char *out_topic, *dlq_topic;

    pbatch_t *cur, *head, *tail, *freelist;
    pbatch_t *live;            /* batches in use, whatever their state: freed at exit */
    size_t nfree;
    int nworking;
    offsets_part_t **parts;
    size_t nparts, capparts;
    offsets_part_t *last_part;
    prec_t **retry_q;
    size_t nretry, capretry;
    uint64_t retry_ms;
    size_t inflight;
    int paused, throttled, in_revoke, started, stopping, finalizing;
    uint64_t throttled_since;
    uint64_t stop_deadline;
    void (*stop_done)(void *);
    void *stop_ctx;
    int fatal;
    char fatal_msg[256];
    uint64_t n_in, n_out, n_dead, n_failed_dr;
    uint64_t last_dr_failure_ns;

    pthread_mutex_t mu;
    pthread_cond_t cv;

    metrics_family_t *f_in, *f_out, *f_dead, *f_batches, *f_batch_size, *f_batch_latency, *f_classify, *f_labels,
        *f_unknown, *f_lag, *f_assigned, *f_rebalances, *f_inflight, *f_paused, *f_throttled, *f_dr_fail;
};

static void produce_ready(pipeline_t *pl);
static void on_more(uv_idle_t *h);
static void kick(pipeline_t *pl);
static void backpressure(pipeline_t *pl);
static void check_stop(pipeline_t *pl);
static void on_cpoll(uv_poll_t *h, int status, int events);

/* ---- batches ---- */

static pbatch_t *batch_get(pipeline_t *pl)
{
    pbatch_t *b = pl->freelist;
    if (b) {
        pl->freelist = b->next;
        pl->nfree--;
    } else {
        b = calloc(1, sizeof *b);
        if (!b)
            return NULL;
        b->pl = pl;
        b->work.data = b;
    }
    b->n = b->produced = b->outstanding = 0;
    b->state = B_FILLING;
    b->finished = b->after_pending = 0;
    b->next = NULL;
    b->nmodels = 0;
    b->resolved = 0;
    buf_reset(&b->arena);
    b->live_prev = NULL;
    b->live_next = pl->live;
    if (pl->live)
        pl->live->live_prev = b;
    pl->live = b;
    return b;
}

static void live_unlink(pipeline_t *pl, pbatch_t *b)
{
    if (b->live_prev)
        b->live_prev->live_next = b->live_next;
    else
        pl->live = b->live_next;
    if (b->live_next)
        b->live_next->live_prev = b->live_prev;
    b->live_prev = b->live_next = NULL;
}

static void batch_destroy(pbatch_t *b)
{
    free(b->models);
    free(b->clfs);
    free(b->recs);
    buf_free(&b->arena);
    rec_free(&b->rec);
    free(b);
}

/* Frees a batch once nothing refers to it any more. */
static void batch_maybe_free(pipeline_t *pl, pbatch_t *b)
{
    if (b->state == B_FILLING || b->after_pending || b->produced < b->n || b->outstanding)
        return;
    for (size_t i = 0; i < b->nmodels; i++) {
        if (b->clfs[i])
            registry_clf_put(b->models[i], b->clfs[i]);
        registry_model_unref(b->models[i]);
    }
    b->nmodels = 0;
    live_unlink(pl, b);
    if (pl->nfree < FREE_BATCHES && b->arena.cap < (64u << 20)) {
        b->next = pl->freelist;
        pl->freelist = b;
        pl->nfree++;
    } else {
        batch_destroy(b);
    }
}

/* ---- partition trackers ---- */

static offsets_part_t *find_part(pipeline_t *pl, const char *topic, int32_t partition)
{
    offsets_part_t *l = pl->last_part;
    if (l && l->partition == partition && !strcmp(l->topic, topic))
        return l;
    for (size_t i = 0; i < pl->nparts; i++)
        if (pl->parts[i]->partition == partition && !strcmp(pl->parts[i]->topic, topic))
            return pl->last_part = pl->parts[i];
    return NULL;
}

static offsets_part_t *add_part(pipeline_t *pl, const char *topic, int32_t partition)
{
    offsets_part_t *t = find_part(pl, topic, partition);
    if (t)
        return t;
    if (pl->nparts == pl->capparts) {
        size_t cap = pl->capparts ? pl->capparts * 2 : 16;
        offsets_part_t **v = realloc(pl->parts, cap * sizeof *v);
        if (!v)
            return NULL;
        pl->parts = v;
        pl->capparts = cap;
    }
    t = offsets_new(topic, partition);
    if (t)
        pl->parts[pl->nparts++] = t;
    return t;
}

static void remove_part(pipeline_t *pl, offsets_part_t *t)
{
    for (size_t i = 0; i < pl->nparts; i++)
        if (pl->parts[i] == t) {
            pl->parts[i] = pl->parts[--pl->nparts];
            break;
        }
    if (pl->last_part == t)
        pl->last_part = NULL;
    t->revoked = 1;
    offsets_unref(t);
}

/* ---- classification (worker thread) ---- */

static void classify_one(pipeline_t *pl, pbatch_t *b, prec_t *r)
{
    const rd_kafka_message_t *m = r->msg;
    char detail[256];
    buf_t *a = &b->arena;
    r->label = -1;
    r->nknown = 0;
    int st = rec_decode(&pl->schema, m->payload, m->len, &b->rec, detail, sizeof detail);
    if (st == REC_OK) {
        clf_result_t res;
        registry_model_t *rm = b->models[r->mi];
        if (clf_classify(b->clfs[r->mi], b->rec.text.p, b->rec.text.len, &res)) {
            st = REC_BAD_FIELD;
            snprintf(detail, sizeof detail, "out of memory while classifying");
        } else {
            int64_t ts = b->rec.has_ts ? b->rec.ts_ms : rd_kafka_message_timestamp(m, NULL);
            if (ts < 0)
                ts = tstamp_now_ms();
            r->key_off = (uint32_t)a->len;
            rec_put_key(&b->rec, a);
            r->key_len = (uint32_t)(a->len - r->key_off);
            r->out_off = (uint32_t)a->len;
            rec_put_labeled(a, &b->rec, &res, rm->label_json, rm->label_json_len, rm->tag_json, rm->tag_json_len, ts);
            r->out_len = (uint32_t)(a->len - r->out_off);
            r->label = (int32_t)res.label;
            r->nknown = res.nknown;
        }
    }
    r->status = (int16_t)st;
    if (st != REC_OK) {
        r->key_off = (uint32_t)a->len;
        buf_append(a, m->key, m->key ? m->key_len : 0);
        r->key_len = (uint32_t)(a->len - r->key_off);
        r->out_off = (uint32_t)a->len;
        rec_put_dead(a, st, detail, rd_kafka_topic_name(m->rkt), m->partition, m->offset, m->payload, m->len,
                     pl->dlq_max);
        r->out_len = (uint32_t)(a->len - r->out_off);
    }
}

static void batch_work(uv_work_t *w)
{
    pbatch_t *b = w->data;
    pipeline_t *pl = b->pl;
    uint64_t t0 = uv_hrtime();
    for (size_t i = 0; i < b->n; i++)
        classify_one(pl, b, &b->recs[i]);
    b->work_ns = uv_hrtime() - t0;
    pthread_mutex_lock(&pl->mu);
    b->finished = 1;
    pthread_cond_broadcast(&pl->cv);
    pthread_mutex_unlock(&pl->mu);
}

/* Loop side of a finished classification. */
static void finish_work(pipeline_t *pl, pbatch_t *b)
{
    b->state = B_WORKED;
    pl->nworking--;
    for (size_t i = 0; i < b->nmodels; i++) {
        registry_clf_put(b->models[i], b->clfs[i]);
        b->clfs[i] = NULL;
    }
    if (b->arena.oom) {
        /* Nothing can be produced from a truncated arena: fail loudly, keep
         * the offsets unstored so the records are read again. */
        pl->fatal = 1;
        snprintf(pl->fatal_msg, sizeof pl->fatal_msg, "out of memory encoding a batch");
    }
    metrics_inc(metrics_series0(pl->f_batches), 1);
    metrics_observe(pl->f_batch_size, metrics_series0(pl->f_batch_size), (double)b->n);
    metrics_observe(pl->f_classify, metrics_series0(pl->f_classify), (double)b->work_ns / 1e9);
    for (size_t i = 0; i < b->n; i++) {
        prec_t *r = &b->recs[i];
        if (r->label < 0)
            continue;
        registry_model_t *m = b->models[r->mi];
        if (!m->label_series[r->label])
            m->label_series[r->label] = metrics_series1(pl->f_labels, model_label(m->model, (uint32_t)r->label));
        metrics_inc(m->label_series[r->label], 1);
        if (!r->nknown)
            metrics_inc(metrics_series0(pl->f_unknown), 1);
    }
}

static void batch_after(uv_work_t *w, int status)
{
    (void)status;
    pbatch_t *b = w->data;
    pipeline_t *pl = b->pl;
    b->after_pending = 0;
    if (b->state == B_WORKING)
        finish_work(pl, b);
    produce_ready(pl);
    kick(pl);
    batch_maybe_free(pl, b);
    check_stop(pl);
}

static int add_model(pbatch_t *b, registry_model_t *m, uint32_t *mi)
{
    for (size_t i = b->nmodels; i-- > 0;)
        if (b->models[i] == m) {
            *mi = (uint32_t)i;
            return 0;
        }
    if (b->nmodels == b->capmodels) {
        size_t cap = b->capmodels ? b->capmodels * 2 : 4;
        registry_model_t **v = realloc(b->models, cap * sizeof *v);
        if (!v)
            return TRI_ENOMEM;
        b->models = v;
        clf_t **c = realloc(b->clfs, cap * sizeof *c);
        if (!c)
            return TRI_ENOMEM;
        b->clfs = c;
        b->capmodels = cap;
    }
    b->clfs[b->nmodels] = registry_clf_get(m);
    if (!b->clfs[b->nmodels])
        return TRI_ENOMEM;
    b->models[b->nmodels] = registry_model_ref(m);
    *mi = (uint32_t)b->nmodels++;
    return 0;
}

static void release_models(pbatch_t *b)
{
    for (size_t i = 0; i < b->nmodels; i++) {
        registry_clf_put(b->models[i], b->clfs[i]);
        registry_model_unref(b->models[i]);
    }
    b->nmodels = 0;
}

/* Chooses each record's model: the default, or its account's own. Returns 1
 * when an account model is still loading: the batch waits, keeping the
 * references it took so far (so a tight cache budget cannot evict a model
 * this batch needs while it loads another), and resumes where it stopped.
 * Only when some account has a model of its own is the account field read
 * here; a malformed record keeps the default and is dead-lettered later. */
static int resolve_models(pipeline_t *pl, pbatch_t *b)
{
    registry_model_t *def = registry_current(pl->reg);
    if (!def)
        return -1;
    if (b->nmodels && b->models[0] != def) {
        release_models(b); /* the default changed while waiting: one version per batch */
        b->resolved = 0;
    }
    uint32_t mi0;
    if (add_model(b, def, &mi0))
        return -1;
    int accounts = registry_has_accounts(pl->reg) && pl->schema.account_field;
    buf_t acc = BUF_INIT;
    int rc = 0;
    for (; b->resolved < b->n; b->resolved++) {
        prec_t *r = &b->recs[b->resolved];
        r->mi = mi0;
        if (!accounts)
            continue;
        const char *key = pl->schema.account_field;
        jscan_val_t v;
        if (jscan_scan_object(r->msg->payload, r->msg->len, &key, 1, &v, NULL) || v.type != JSCAN_STR)
            continue;
        buf_reset(&acc);
        if (jscan_str_decode(&v, &acc)) {
            rc = -1;
            break;
        }
        int wait;
        registry_model_t *m = registry_for_account(pl->reg, acc.p ? acc.p : "", acc.len, &wait);
        if (wait) {
            rc = 1;
            break;
        }
        if (m && m != def && add_model(b, m, &r->mi)) {
            rc = -1;
            break;
        }
    }
    buf_free(&acc);
    return rc;
}

static void start_work(pipeline_t *pl, pbatch_t *b)
{
    int rc = resolve_models(pl, b);
    if (rc < 0) {
        release_models(b);
        b->resolved = 0;
    }
    if (rc)
        return; /* stays queued: retried when the model arrives, or by the tick */
    b->state = B_WORKING;
    b->finished = 0;
    b->after_pending = 1;
    pl->nworking++;
    if (uv_queue_work(pl->loop, &b->work, batch_work, batch_after)) {
        /* Cannot happen with a live loop; keep it queued and retry. */
        b->state = B_QUEUED;
        b->after_pending = 0;
        pl->nworking--;
        release_models(b);
        b->resolved = 0;
    }
}

static void kick(pipeline_t *pl)
{
    for (pbatch_t *b = pl->head; b && pl->nworking < pl->workers; b = b->next)
        if (b->state == B_QUEUED)
            start_work(pl, b);
}

static void close_batch(pipeline_t *pl)
{
    pbatch_t *b = pl->cur;
    uv_timer_stop(&pl->linger);
    if (!b)
        return;
    pl->cur = NULL;
    if (!b->n) {
        b->state = B_WORKED;
        batch_maybe_free(pl, b);
        return;
    }
    b->state = B_QUEUED;
    b->outstanding = b->n;
    if (pl->tail)
        pl->tail->next = b;
    else
        pl->head = b;
    pl->tail = b;
    kick(pl);
}

static void on_linger(uv_timer_t *t) { close_batch(t->data); }

/* ---- output ---- */

static rd_kafka_resp_err_t produce_rec(pipeline_t *pl, prec_t *r)
{
    pbatch_t *b = r->b;
    return producer_produce(pl->kout, r->status == REC_OK ? pl->out_topic : pl->dlq_topic, b->arena.p + r->key_off,
                        r->key_len, b->arena.p + r->out_off, r->out_len, r);
}

static void on_retry(uv_timer_t *t);

static void arm_retry(pipeline_t *pl, uint64_t ms)
{
    uv_timer_stop(&pl->retry);
    uv_timer_start(&pl->retry, on_retry, ms, 0);
}

static void push_retry(pipeline_t *pl, prec_t *r)
{
    if (pl->nretry == pl->capretry) {
        size_t cap = pl->capretry ? pl->capretry * 2 : 64;
        prec_t **v = realloc(pl->retry_q, cap * sizeof *v);
        if (!v) {
            pl->fatal = 1;
            snprintf(pl->fatal_msg, sizeof pl->fatal_msg, "out of memory queueing a retry");
            return;
        }
        pl->retry_q = v;
        pl->capretry = cap;
    }
    pl->retry_q[pl->nretry++] = r;
    if (!uv_is_active((uv_handle_t *)&pl->retry))
        arm_retry(pl, pl->retry_ms);
}


/* Enqueues the records of classified batches, in batch order. */
static void produce_ready(pipeline_t *pl)
{
    pbatch_t *b;
    while ((b = pl->head) && b->state == B_WORKED) {
        while (b->produced < b->n) {
            prec_t *r = &b->recs[b->produced];
            rd_kafka_resp_err_t e = produce_rec(pl, r);
            if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                producer_poll(pl->kout);
                arm_retry(pl, 5);
                return;
            }
            if (e) {
                log_event(LOG_LEVEL_ERROR, "produce_failed", "code=%s", rd_kafka_err2name(e));
                pl->n_failed_dr++;
                metrics_inc(metrics_series0(pl->f_dr_fail), 1);
                push_retry(pl, r);
            }
            rd_kafka_message_destroy(r->msg);
            r->msg = NULL;
            b->produced++;
        }
        pl->head = b->next;
        if (!pl->head)
            pl->tail = NULL;
        b->next = NULL;
        batch_maybe_free(pl, b);
    }
}

static void on_retry(uv_timer_t *t)
{
    pipeline_t *pl = t->data;
    produce_ready(pl);
    size_t k = 0;
    for (size_t i = 0; i < pl->nretry; i++) {
        prec_t *r = pl->retry_q[i];
        rd_kafka_resp_err_t e = produce_rec(pl, r);
        if (e)
            pl->retry_q[k++] = r;
    }
    pl->nretry = k;
    if (k) {
        pl->retry_ms = pl->retry_ms * 2 > 5000 ? 5000 : pl->retry_ms * 2;
        arm_retry(pl, pl->retry_ms);
    }
}

static void on_dr(void *ctx, void *opaque, rd_kafka_resp_err_t err)
{
    pipeline_t *pl = ctx;
    prec_t *r = opaque;
    if (err) {
        /* librdkafka already retried for message.timeout.ms; try again, later:
         * the record stays outstanding and its offset unstored. */
        pl->n_failed_dr++;
        pl->last_dr_failure_ns = uv_hrtime();
        metrics_inc(metrics_series0(pl->f_dr_fail), 1);
        if (pl->n_failed_dr < 10 || pl->n_failed_dr % 1000 == 0)
            log_event(LOG_LEVEL_ERROR, "delivery_failed", "code=%s failures=%llu", rd_kafka_err2name(err),
                 (unsigned long long)pl->n_failed_dr);
        if (err == RD_KAFKA_RESP_ERR__FATAL) {
            pl->fatal = 1;
            snprintf(pl->fatal_msg, sizeof pl->fatal_msg, "producer: %s", rd_kafka_err2str(err));
        }
        push_retry(pl, r);
        return;
    }
    pl->retry_ms = 100;
    int64_t store;
    offsets_part_t *t = r->part;
    if (offsets_done(t, r->seq, &store) == 1 && !t->revoked)
        consumer_store(pl->kin, t->topic, t->partition, store);
    offsets_unref(t);
    r->part = NULL;
    if (r->status == REC_OK) {
        pl->n_out++;
        metrics_inc(metrics_series0(pl->f_out), 1);
    } else {
        pl->n_dead++;
        metrics_inc(metrics_series1(pl->f_dead, rec_status_code(r->status)), 1);
    }
    pl->inflight--;
    pbatch_t *b = r->b;
    if (--b->outstanding == 0 && b->produced == b->n) {
        metrics_observe(pl->f_batch_latency, metrics_series0(pl->f_batch_latency),
                    (double)(uv_hrtime() - b->t_first) / 1e9);
        batch_maybe_free(pl, b);
    }
    backpressure(pl);
}

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
    if (pl->inflight >= pl->max_inflight) {
        if (!pl->throttled && !pl->paused)
            set_throttle(pl, 1);
        if (pl->throttled && !pl->paused && uv_hrtime() - pl->throttled_since > PAUSE_AFTER_MS * 1000000ull &&
            !consumer_pause(pl->kin, 1)) {
            pl->paused = 1;
            metrics_set(metrics_series0(pl->f_paused), 1);
            log_event(LOG_LEVEL_WARN, "input_paused", "inflight=%zu limit=%zu waited_ms=%d", pl->inflight, pl->max_inflight,
                 PAUSE_AFTER_MS);
            set_throttle(pl, 0); /* paused partitions deliver nothing: polling is safe again */
        }
    } else if (pl->inflight <= pl->max_inflight / 2) {
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
        if (m->err == RD_KAFKA_RESP_ERR__FATAL || kafka_fatal(consumer_rk(pl->kin), fe, sizeof fe)) {
            pl->fatal = 1;
            snprintf(pl->fatal_msg, sizeof pl->fatal_msg, "consumer: %s", rd_kafka_message_errstr(m));
        }
        log_event(m->err == RD_KAFKA_RESP_ERR__FATAL ? LOG_LEVEL_ERROR : LOG_LEVEL_WARN, "consume_error", "code=%s msg=%s",
             rd_kafka_err2name(m->err), log_q(rd_kafka_message_errstr(m)));
        rd_kafka_message_destroy(m);
        return;
    }
    const char *topic = rd_kafka_topic_name(m->rkt);
    offsets_part_t *t = find_part(pl, topic, m->partition);
    if (!t)
        t = add_part(pl, topic, m->partition);
    if (!pl->cur) {
        pl->cur = batch_get(pl);
        if (pl->cur) {
            pl->cur->t_first = uv_hrtime();
            uv_timer_start(&pl->linger, on_linger, pl->linger_ms, 0);
        }
    }
    pbatch_t *b = pl->cur;
    if (b && b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : pl->batch_size;
        prec_t *v = realloc(b->recs, cap * sizeof *v);
        if (v) {
            b->recs = v;
            b->cap = cap;
        }
    }
    uint64_t seq = t ? offsets_push(t, m->offset) : UINT64_MAX;
    if (!b || b->n == b->cap || seq == UINT64_MAX) {
        /* Out of memory: drop the message unprocessed. Its offset is never
         * stored, so it is read again after a restart; stop cleanly. */
        pl->fatal = 1;
        snprintf(pl->fatal_msg, sizeof pl->fatal_msg, "out of memory buffering input");
        rd_kafka_message_destroy(m);
        return;
    }
    prec_t *r = &b->recs[b->n++];
    memset(r, 0, sizeof *r);
    r->msg = m;
    r->part = offsets_ref(t);
    r->seq = seq;
    r->b = b;
    pl->inflight++;
    pl->n_in++;
    metrics_inc(metrics_series0(pl->f_in), 1);
    if (b->n >= pl->batch_size)
        close_batch(pl);
}

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

static void on_ppoll(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    pipeline_t *pl = h->data;
    producer_poll(pl->kout);
    check_stop(pl);
}

/* ---- rebalance hooks (run inside consumer_poll / consumer_close) ---- */

static void on_assigned(void *ctx, const rd_kafka_topic_partition_list_t *parts)
{
    pipeline_t *pl = ctx;
    for (int i = 0; i < parts->cnt; i++) {
        offsets_part_t *old = find_part(pl, parts->elems[i].topic, parts->elems[i].partition);
        if (old)
            remove_part(pl, old); /* a stale tracker from a lost assignment */
        add_part(pl, parts->elems[i].topic, parts->elems[i].partition);
    }
    metrics_inc(metrics_series1(pl->f_rebalances, "assign"), 1);
    if (pl->paused)
        consumer_pause_parts(pl->kin, parts, 1);
}

static int in_set(const rd_kafka_topic_partition_list_t *parts, const offsets_part_t *t)
{
    for (int i = 0; i < parts->cnt; i++)
        if (parts->elems[i].partition == t->partition && !strcmp(parts->elems[i].topic, t->topic))
            return 1;
    return 0;
}

/* Drops the records of revoked partitions that no worker has started on. */
static void drop_records(pipeline_t *pl, pbatch_t *b, const rd_kafka_topic_partition_list_t *parts)
{
    size_t k = 0;
    for (size_t i = 0; i < b->n; i++) {
        prec_t *r = &b->recs[i];
        if (in_set(parts, r->part)) {
            rd_kafka_message_destroy(r->msg);
            offsets_unref(r->part);
            pl->inflight--;
            if (b->state == B_QUEUED)
                b->outstanding--;
            continue;
        }
        b->recs[k++] = *r;
    }
    b->n = k;
    b->resolved = 0; /* indices moved: choose the models again */
}

static void on_revoking(void *ctx, const rd_kafka_topic_partition_list_t *parts, int lost)
{
    pipeline_t *pl = ctx;
    pl->in_revoke = 1;
    if (pl->cur)
        drop_records(pl, pl->cur, parts);
    pbatch_t *prev = NULL;
    for (pbatch_t *b = pl->head; b;) {
        pbatch_t *next = b->next;
        if (b->state == B_QUEUED) {
            drop_records(pl, b, parts);
            if (!b->n) {
                if (prev)
                    prev->next = next;
                else
                    pl->head = next;
                if (pl->tail == b)
                    pl->tail = prev;
                b->state = B_WORKED;
                batch_maybe_free(pl, b);
                b = next;
                continue;
            }
        }
        prev = b;
        b = next;
    }
    if (!lost) {
        /* Finish what the workers hold, hand everything classified to the
         * producer, wait for the deliveries (bounded) and commit, so the next
         * owner starts after our last delivered record. */
        for (pbatch_t *b = pl->head; b; b = b->next) {
            if (b->state != B_WORKING)
                continue;
            pthread_mutex_lock(&pl->mu);
            while (!b->finished)
                pthread_cond_wait(&pl->cv, &pl->mu);
            pthread_mutex_unlock(&pl->mu);
            finish_work(pl, b);
        }
        produce_ready(pl);
        uint64_t timeout = pl->finalizing && uv_hrtime() > pl->stop_deadline ? 0 : pl->flush_ms;
        int left = producer_flush(pl->kout, (int)timeout);
        if (left)
            log_event(LOG_LEVEL_WARN, "revoke_flush_incomplete", "undelivered=%d", left);
        char err[TRI_ERRLEN];
        if (consumer_commit(pl->kin, err, sizeof err))
            log_event(LOG_LEVEL_WARN, "commit_failed", "msg=%s", log_q(err));
    }
    for (int i = 0; i < parts->cnt; i++) {
        offsets_part_t *t = find_part(pl, parts->elems[i].topic, parts->elems[i].partition);
        if (t)
            remove_part(pl, t);
    }
    metrics_inc(metrics_series1(pl->f_rebalances, lost ? "lost" : "revoke"), 1);
    pl->in_revoke = 0;
    backpressure(pl);
}

/* ---- lifecycle ---- */

static void on_tick(uv_timer_t *t)
{
    pipeline_t *pl = t->data;
    char fe[256];
    if (!pl->fatal && (kafka_fatal(producer_rk(pl->kout), fe, sizeof fe) || kafka_fatal(consumer_rk(pl->kin), fe, sizeof fe))) {
        pl->fatal = 1;
        snprintf(pl->fatal_msg, sizeof pl->fatal_msg, "%s", fe);
    }
    producer_poll(pl->kout);
    backpressure(pl); /* a throttle that has lasted too long turns into a pause */
    if (pl->started && !pl->stopping)
        poll_input(pl);
    kick(pl);
    check_stop(pl);
}

int pipeline_new(uv_loop_t *loop, const cfg_t *cfg, const char *bootstrap, metrics_t *met, pipeline_t **out, char *err,
           size_t errlen)
{
    pipeline_t *pl = calloc(1, sizeof *pl);
    if (!pl)
        return tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
    pl->loop = loop;
    pl->cfg = cfg;
    pthread_mutex_init(&pl->mu, NULL);
    pthread_cond_init(&pl->cv, NULL);
    rec_schema_default(&pl->schema);
    pl->schema.id_field = cfg_str(cfg, "input.id.field");
    pl->schema.account_field = *cfg_str(cfg, "input.account.field") ? cfg_str(cfg, "input.account.field") : NULL;
    pl->schema.ts_field = *cfg_str(cfg, "input.ts.field") ? cfg_str(cfg, "input.ts.field") : NULL;
    pl->schema.max_bytes = (size_t)cfg_int(cfg, "input.max.bytes");
    pl->textlist = strdup(cfg_str(cfg, "input.text.fields"));
    int rc;
    if (!pl->textlist) {
        rc = tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
        goto fail;
    }
    char terr[TRI_ERRLEN];
    if (rec_schema_set_text(&pl->schema, pl->textlist, terr, sizeof terr)) {
        rc = tri_errf(err, errlen, TRI_EINVAL, "%s: input.text.fields: %s", cfg_origin(cfg, "input.text.fields"),
                      terr);
        goto fail;
    }
    pl->batch_size = (size_t)cfg_int(cfg, "batch.size");
    pl->linger_ms = (uint64_t)cfg_int(cfg, "batch.linger.ms");
    pl->workers = (int)cfg_int(cfg, "batch.workers");
    pl->max_inflight = (size_t)cfg_int(cfg, "input.max.inflight");
    pl->dlq_max = (size_t)cfg_int(cfg, "output.dlq.payload.max.bytes");
    pl->flush_ms = (uint64_t)cfg_int(cfg, "output.flush.timeout.ms");
    pl->out_topic = strdup(cfg_str(cfg, "output.topic"));
    pl->dlq_topic = strdup(cfg_str(cfg, "output.dlq.topic"));
    pl->retry_ms = 100;

    static const double size_bounds[] = {1, 10, 50, 100, 250, 500, 1000, 5000};
    static const double lat_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10};
    static const double cls_bounds[] = {0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5};
    pl->f_in = metrics_family(met, METRICS_COUNTER, "triage_records_in_total", "Records consumed.", NULL, NULL, 0);
    pl->f_out = metrics_family(met, METRICS_COUNTER, "triage_records_out_total", "Labeled records delivered.", NULL, NULL, 0);
    pl->f_dead = metrics_family(met, METRICS_COUNTER, "triage_records_dead_lettered_total",
                            "Records delivered to the dead-letter topic, by reason.", "reason", NULL, 0);
    pl->f_batches = metrics_family(met, METRICS_COUNTER, "triage_batches_total", "Batches classified.", NULL, NULL, 0);
    pl->f_batch_size = metrics_family(met, METRICS_HISTOGRAM, "triage_batch_size", "Records per batch.", NULL, size_bounds,
                                  sizeof size_bounds / sizeof *size_bounds);
    pl->f_batch_latency = metrics_family(met, METRICS_HISTOGRAM, "triage_batch_latency_seconds",
                                     "From a batch's first record consumed to its last output delivered.", NULL,
                                     lat_bounds, sizeof lat_bounds / sizeof *lat_bounds);
    pl->f_classify = metrics_family(met, METRICS_HISTOGRAM, "triage_classify_seconds",
                                "Time to decode, classify and encode one batch.", NULL, cls_bounds,
                                sizeof cls_bounds / sizeof *cls_bounds);
    pl->f_labels = metrics_family(met, METRICS_COUNTER, "triage_labels_total", "Records classified, by predicted label.",
                              "label", NULL, 0);
    pl->f_unknown = metrics_family(met, METRICS_COUNTER, "triage_unknown_text_total",
                               "Records with no n-gram known to the model.", NULL, NULL, 0);
    pl->f_lag = metrics_family(met, METRICS_GAUGE, "triage_consumer_lag", "Records behind the high watermark.",
                           "topic,partition", NULL, 0);
    pl->f_assigned = metrics_family(met, METRICS_GAUGE, "triage_assigned_partitions", "Partitions assigned to this worker.",
                                NULL, NULL, 0);
    pl->f_rebalances = metrics_family(met, METRICS_COUNTER, "triage_rebalances_total", "Rebalance events, by kind.", "kind",
                                  NULL, 0);
    pl->f_inflight = metrics_family(met, METRICS_GAUGE, "triage_inflight_records", "Records consumed, not yet delivered.",
                                NULL, NULL, 0);
    pl->f_paused = metrics_family(met, METRICS_GAUGE, "triage_input_paused", "1 while back-pressure pauses the input.", NULL,
                              NULL, 0);
    pl->f_throttled = metrics_family(met, METRICS_GAUGE, "triage_input_throttled",
                                 "1 while the input is held back because too many records are in flight.", NULL,
                                 NULL, 0);
    pl->f_dr_fail = metrics_family(met, METRICS_COUNTER, "triage_delivery_failures_total",
                               "Output deliveries that failed and were retried.", NULL, NULL, 0);
    /* Known reasons start at zero, so a dashboard sees the series before the
     * first bad record. */
    for (int st = REC_OK + 1; st < REC_NSTATUS && pl->f_dead; st++)
        metrics_series1(pl->f_dead, rec_status_code(st));
    if (!pl->out_topic || !pl->dlq_topic || !pl->f_dr_fail) {
        rc = tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
        goto fail;
    }
    consumer_hooks_t hooks = {on_assigned, on_revoking, pl};
    consumer_opts_t ko = {cfg_str(cfg, "input.group"), cfg_str(cfg, "input.assignment"),
                     cfg_int(cfg, "input.commit.interval.ms")};
    if ((rc = consumer_new(cfg, &ko, bootstrap, &hooks, &pl->kin, err, errlen)))
        goto fail;
    if ((rc = producer_new(cfg, bootstrap, on_dr, pl, &pl->kout, err, errlen)))
        goto fail;
    uv_poll_init(loop, &pl->cpoll, consumer_fd(pl->kin));
    uv_poll_init(loop, &pl->ppoll, producer_fd(pl->kout));
    uv_timer_init(loop, &pl->linger);
    uv_timer_init(loop, &pl->tick);
    uv_timer_init(loop, &pl->retry);
    uv_idle_init(loop, &pl->more);
    pl->cpoll.data = pl->ppoll.data = pl->linger.data = pl->tick.data = pl->retry.data = pl->more.data = pl;
    pl->handles_open = 6;
    uv_poll_start(&pl->ppoll, UV_READABLE, on_ppoll);
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

static void on_closed(uv_handle_t *h)
{
    pipeline_t *pl = h->data;
    if (--pl->handles_open == 0 && pl->stop_done)
        pl->stop_done(pl->stop_ctx);
}

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
    producer_flush(pl->kout, 1000);
    log_event(LOG_LEVEL_INFO, "pipeline_stopped", "in=%llu out=%llu dead=%llu", (unsigned long long)pl->n_in,
         (unsigned long long)pl->n_out, (unsigned long long)pl->n_dead);
    pl->closing = 1;
    uv_close((uv_handle_t *)&pl->cpoll, on_closed);
    uv_close((uv_handle_t *)&pl->ppoll, on_closed);
    uv_close((uv_handle_t *)&pl->linger, on_closed);
    uv_close((uv_handle_t *)&pl->tick, on_closed);
    uv_close((uv_handle_t *)&pl->retry, on_closed);
    uv_close((uv_handle_t *)&pl->more, on_closed);
}

static void check_stop(pipeline_t *pl)
{
    if (!pl->stopping || pl->finalizing || pl->in_revoke)
        return;
    int idle = !pl->head && !pl->nworking && !pl->inflight;
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
    log_event(LOG_LEVEL_INFO, "pipeline_stopping", "inflight=%zu batches_working=%d", pl->inflight, pl->nworking);
    check_stop(pl);
}

void pipeline_free(pipeline_t *pl)
{
    if (!pl)
        return;
    /* Normally every batch is done by now; after a fatal error or a flush
     * timeout some are not: release their messages (before the consumer
     * handle goes), trackers and models. Their offsets were never stored. */
    while (pl->live) {
        pbatch_t *b = pl->live;
        live_unlink(pl, b);
        for (size_t i = 0; i < b->n; i++) {
            if (b->recs[i].msg)
                rd_kafka_message_destroy(b->recs[i].msg);
            if (b->recs[i].part)
                offsets_unref(b->recs[i].part);
        }
        for (size_t i = 0; i < b->nmodels; i++) {
            if (b->clfs[i])
                registry_clf_put(b->models[i], b->clfs[i]);
            registry_model_unref(b->models[i]);
        }
        batch_destroy(b);
    }
    while (pl->freelist) {
        pbatch_t *b = pl->freelist;
        pl->freelist = b->next;
        batch_destroy(b);
    }
    for (size_t i = 0; i < pl->nparts; i++)
        offsets_unref(pl->parts[i]);
    free(pl->parts);
    free(pl->retry_q);
    if (pl->kin)
        consumer_destroy(pl->kin);
    if (pl->kout)
        producer_destroy(pl->kout);
    free(pl->textlist);
    free(pl->out_topic);
    free(pl->dlq_topic);
    pthread_mutex_destroy(&pl->mu);
    pthread_cond_destroy(&pl->cv);
    free(pl);
}

void pipeline_models_ready(pipeline_t *pl)
{
    kick(pl);
}

void pipeline_status(pipeline_t *pl, pipeline_status_t *st)
{
    memset(st, 0, sizeof *st);
    st->started = pl->started;
    st->joined = pl->started && consumer_joined(pl->kin);
    st->assigned = (int)pl->nparts;
    st->fatal = pl->fatal;
    snprintf(st->fatal_msg, sizeof st->fatal_msg, "%s", pl->fatal_msg);
    st->producer_ok = !pl->fatal && !pl->nretry;
    st->in = pl->n_in;
    st->out = pl->n_out;
    st->dead = pl->n_dead;
    st->inflight = pl->inflight;
    st->paused = pl->paused;
}

json_t *pipeline_lag_json(pipeline_t *pl)
{
    json_t *parts = json_array();
    int64_t total = 0;
    for (size_t i = 0; i < pl->nparts; i++) {
        int64_t lag = consumer_lag(pl->kin, pl->parts[i]->topic, pl->parts[i]->partition);
        if (lag < 0)
            continue;
        total += lag;
        json_array_append_new(parts, json_pack("{s:s,s:i,s:I}", "topic", pl->parts[i]->topic, "partition",
                                               (int)pl->parts[i]->partition, "lag", (json_int_t)lag));
    }
    return json_pack("{s:I,s:o}", "total", (json_int_t)total, "partitions", parts);
}

void pipeline_refresh_metrics(pipeline_t *pl)
{
    metrics_reset_family(pl->f_lag);
    for (size_t i = 0; i < pl->nparts; i++) {
        char p[16];
        snprintf(p, sizeof p, "%d", (int)pl->parts[i]->partition);
        int64_t lag = consumer_lag(pl->kin, pl->parts[i]->topic, pl->parts[i]->partition);
        if (lag >= 0) {
            const char *v[] = {pl->parts[i]->topic, p};
            metrics_set(metrics_series(pl->f_lag, v), (double)lag);
        }
    }
    metrics_set(metrics_series0(pl->f_assigned), (double)pl->nparts);
    metrics_set(metrics_series0(pl->f_inflight), (double)pl->inflight);
}
