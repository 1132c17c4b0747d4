#include "daemon/output.h"
#include "io/log.h"
#include "io/producer.h"
#include "core/tri_err.h"

#include <stdlib.h>
#include <string.h>

#define RETRY_FIRST_MS 100
#define RETRY_MAX_MS 5000
#define QUEUE_FULL_MS 5    /* wait before trying a full producer queue again */

struct output {
    uv_loop_t *loop;
    producer_t *kout;
    output_hooks_t h;
    char *topic, *dlq_topic;
    uv_poll_t ppoll;
    uv_timer_t retry;
    int handles_open;
    void (*closed)(void *);
    void *closed_ctx;
    output_msg_t **retry_q;    /* refused or failed, to produce again */
    size_t nretry, capretry;
    uint64_t retry_ms;
    uint64_t n_failed, n_refused;
    metrics_family_t *f_dr_fail, *f_refused;
};

static void on_retry(uv_timer_t *t);

static rd_kafka_resp_err_t produce(output_t *o, output_msg_t *m)
{
    /* librdkafka takes the headers it is given: each attempt gets a copy,
     * so a retry still has them. */
    rd_kafka_headers_t *h = m->headers ? rd_kafka_headers_copy(m->headers) : NULL;
    rd_kafka_resp_err_t e = producer_produce_headers(o->kout, m->dead ? o->dlq_topic : o->topic, m->key, m->klen,
                                                     m->val, m->vlen, h, m);
    if (e && h)
        rd_kafka_headers_destroy(h);
    return e;
}

static void arm_retry(output_t *o, uint64_t ms)
{
    uv_timer_stop(&o->retry);
    uv_timer_start(&o->retry, on_retry, ms, 0);
}

static void push_retry(output_t *o, output_msg_t *m)
{
    if (o->nretry == o->capretry) {
        output_msg_t **v = buf_grow(o->retry_q, &o->capretry, sizeof *v, 64);
        if (!v) {
            o->h.fatal(o->h.ctx, "out of memory queueing a retry");
            return;
        }
        o->retry_q = v;
    }
    o->retry_q[o->nretry++] = m;
    if (!uv_is_active((uv_handle_t *)&o->retry))
        arm_retry(o, o->retry_ms);
}

/* Errors no retry can cure: the message itself is refused. */
static int permanent(rd_kafka_resp_err_t e)
{
    return e == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE || e == RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE ||
           e == RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE || e == RD_KAFKA_RESP_ERR_INVALID_RECORD ||
           e == RD_KAFKA_RESP_ERR_INVALID_MSG;
}

/* Asks the owner to replace a refused message; 1 when it did. */
static int replace_refused(output_t *o, output_msg_t *m, rd_kafka_resp_err_t e)
{
    if (!permanent(e) || !o->h.refused || !o->h.refused(o->h.ctx, m, e))
        return 0;
    o->n_refused++;
    metrics_inc(metrics_series0(o->f_refused), 1);
    log_event(LOG_LEVEL_WARN, "output_refused", "code=%s action=%s", rd_kafka_err2name(e),
              log_q("sent to the dead-letter topic instead"));
    return 1;
}

output_result_t output_send(output_t *o, output_msg_t *m)
{
    rd_kafka_resp_err_t e = produce(o, m);
    if (e && replace_refused(o, m, e))
        e = produce(o, m);
    if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        producer_poll(o->kout);
        arm_retry(o, QUEUE_FULL_MS);
        return OUTPUT_RETRY;
    }
    if (e) {
        log_event(LOG_LEVEL_ERROR, "produce_failed", "code=%s", rd_kafka_err2name(e));
        o->n_failed++;
        metrics_inc(metrics_series0(o->f_dr_fail), 1);
        push_retry(o, m);
        return OUTPUT_ERROR;
    }
    return OUTPUT_OK;
}

static void on_retry(uv_timer_t *t)
{
    output_t *o = t->data;
    o->h.writable(o->h.ctx); /* first what waited for room in the queue, in order */
    size_t k = 0;
    for (size_t i = 0; i < o->nretry; i++) {
        output_msg_t *m = o->retry_q[i];
        if (produce(o, m))
            o->retry_q[k++] = m;
    }
    o->nretry = k;
    if (k) {
        o->retry_ms = o->retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : o->retry_ms * 2;
        arm_retry(o, o->retry_ms);
    }
}

static void on_dr(void *ctx, void *opaque, rd_kafka_resp_err_t err)
{
    output_t *o = ctx;
    output_msg_t *m = opaque;
    if (err && replace_refused(o, m, err)) {
        if (produce(o, m))
            push_retry(o, m);
        return;
    }
    if (err) {
        /* librdkafka already retried for message.timeout.ms; try again, later:
         * the record stays outstanding and its offset unstored. */
        o->n_failed++;
        metrics_inc(metrics_series0(o->f_dr_fail), 1);
        if (o->n_failed < 10 || o->n_failed % 1000 == 0)
            log_event(LOG_LEVEL_ERROR, "delivery_failed", "code=%s failures=%llu", rd_kafka_err2name(err),
                      (unsigned long long)o->n_failed);
        if (err == RD_KAFKA_RESP_ERR__FATAL) {
            char msg[256];
            snprintf(msg, sizeof msg, "producer: %s", rd_kafka_err2str(err));
            o->h.fatal(o->h.ctx, msg);
        }
        push_retry(o, m);
        return;
    }
    o->retry_ms = RETRY_FIRST_MS;
    o->h.delivered(o->h.ctx, m);
}

static void on_ppoll(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    output_t *o = h->data;
    producer_poll(o->kout);
    o->h.served(o->h.ctx);
}

void output_poll(output_t *o) { producer_poll(o->kout); }

int output_flush(output_t *o, int timeout_ms) { return producer_flush(o->kout, timeout_ms); }

size_t output_max_message(output_t *o) { return producer_max_message(o->kout); }

int output_failing(const output_t *o) { return o->nretry > 0; }

rd_kafka_t *output_rk(output_t *o) { return producer_rk(o->kout); }

int output_new(uv_loop_t *loop, const cfg_t *cfg, const char *bootstrap, metrics_t *met, const output_hooks_t *h,
               output_t **out, char *err, size_t errlen)
{
    output_t *o = calloc(1, sizeof *o);
    if (!o)
        return tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
    o->loop = loop;
    o->h = *h;
    o->retry_ms = RETRY_FIRST_MS;
    o->topic = strdup(cfg_str(cfg, "output.topic"));
    o->dlq_topic = strdup(cfg_str(cfg, "output.dlq.topic"));
    o->f_dr_fail = metrics_family(met, METRICS_COUNTER, "triage_delivery_failures_total",
                                  "Output deliveries that failed and were retried.", NULL, NULL, 0);
    o->f_refused = metrics_family(met, METRICS_COUNTER, "triage_output_refused_total",
                                  "Outputs Kafka refused for good (e.g. too large), dead-lettered instead.", NULL,
                                  NULL, 0);
    int rc;
    if (!o->topic || !o->dlq_topic || !o->f_dr_fail || !o->f_refused) {
        rc = tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
        goto fail;
    }
    if ((rc = producer_new(cfg, bootstrap, on_dr, o, &o->kout, err, errlen)))
        goto fail;
    uv_poll_init(loop, &o->ppoll, producer_fd(o->kout));
    uv_timer_init(loop, &o->retry);
    o->ppoll.data = o->retry.data = o;
    o->handles_open = 2;
    uv_poll_start(&o->ppoll, UV_READABLE, on_ppoll);
    *out = o;
    return 0;
fail:
    output_free(o);
    return rc;
}

static void on_closed(uv_handle_t *h)
{
    output_t *o = h->data;
    if (--o->handles_open == 0 && o->closed)
        o->closed(o->closed_ctx);
}

void output_close(output_t *o, void (*done)(void *ctx), void *ctx)
{
    o->closed = done;
    o->closed_ctx = ctx;
    uv_close((uv_handle_t *)&o->ppoll, on_closed);
    uv_close((uv_handle_t *)&o->retry, on_closed);
}

void output_free(output_t *o)
{
    if (!o)
        return;
    if (o->kout)
        producer_destroy(o->kout);
    free(o->retry_q);
    free(o->topic);
    free(o->dlq_topic);
    free(o);
}
