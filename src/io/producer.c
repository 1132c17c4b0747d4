#include "io/producer.h"
#include "io/kafka.h"
#include "io/log.h"
#include "core/tri_err.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_TOPICS 8

struct kout {
    kafka_client_t c;
    producer_dr_fn dr;
    void *ctx;
    rd_kafka_topic_t *topics[MAX_TOPICS];
    size_t ntopics;
};

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    producer_t *k = opaque;
    k->dr(k->ctx, m->_private, m->err);
}

/* The client configuration, the same for producer_new and producer_check. */
static rd_kafka_conf_t *producer_conf(const cfg_t *cfg, const char *bootstrap, char *err, size_t errlen)
{
    /* Defaults an operator may override: a short linger batches small
     * records without adding visible latency; the local queue is sized well
     * above input.max.inflight so back-pressure engages before __QUEUE_FULL. */
    static const char *const defaults[] = {"linger.ms", "5", "queue.buffering.max.messages", "1000000",
                                           "compression.type", "lz4", NULL};
    rd_kafka_conf_t *conf = kafka_build(cfg, "producer", bootstrap, defaults, err, errlen);
    if (!conf)
        return NULL;
    if (kafka_set(conf, "enable.idempotence", "true", err, errlen)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    return conf;
}

static size_t conf_max_message(const rd_kafka_conf_t *conf)
{
    char v[32];
    size_t vl = sizeof v;
    if (rd_kafka_conf_get(conf, "message.max.bytes", v, &vl) != RD_KAFKA_CONF_OK)
        return 1000000; /* librdkafka's default */
    return (size_t)strtoull(v, NULL, 10);
}

int producer_check(const cfg_t *cfg, const char *bootstrap, size_t *max_message, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = producer_conf(cfg, bootstrap, err, errlen);
    if (!conf)
        return TRI_EINVAL;
    *max_message = conf_max_message(conf);
    return kafka_check_client(RD_KAFKA_PRODUCER, conf, "producer", err, errlen);
}

size_t producer_max_message(producer_t *k) { return conf_max_message(rd_kafka_conf(k->c.rk)); }

int producer_new(const cfg_t *cfg, const char *bootstrap, producer_dr_fn dr, void *ctx, producer_t **out, char *err,
             size_t errlen)
{
    rd_kafka_conf_t *conf = producer_conf(cfg, bootstrap, err, errlen);
    if (!conf)
        return TRI_EINVAL;
    producer_t *k = calloc(1, sizeof *k);
    if (!k) {
        rd_kafka_conf_destroy(conf);
        return tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
    }
    k->dr = dr;
    k->ctx = ctx;
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set_opaque(conf, k);
    int rc = kafka_client_open(&k->c, RD_KAFKA_PRODUCER, conf, "producer", err, errlen);
    if (rc) {
        free(k);
        return rc;
    }
    *out = k;
    return 0;
}

rd_kafka_t *producer_rk(producer_t *k) { return k->c.rk; }
int producer_fd(const producer_t *k) { return k->c.fds[0]; }

static rd_kafka_topic_t *topic(producer_t *k, const char *name)
{
    for (size_t i = 0; i < k->ntopics; i++)
        if (!strcmp(rd_kafka_topic_name(k->topics[i]), name))
            return k->topics[i];
    if (k->ntopics == MAX_TOPICS)
        return NULL;
    rd_kafka_topic_t *t = rd_kafka_topic_new(k->c.rk, name, NULL);
    if (t)
        k->topics[k->ntopics++] = t;
    return t;
}

rd_kafka_resp_err_t producer_produce(producer_t *k, const char *name, const void *key, size_t klen, const void *val,
                                 size_t vlen, void *opaque)
{
    return producer_produce_headers(k, name, key, klen, val, vlen, NULL, opaque);
}

rd_kafka_resp_err_t producer_produce_headers(producer_t *k, const char *name, const void *key, size_t klen,
                                             const void *val, size_t vlen, rd_kafka_headers_t *hdrs, void *opaque)
{
    rd_kafka_topic_t *t = topic(k, name);
    if (!t)
        return RD_KAFKA_RESP_ERR__INVALID_ARG;
    if (!hdrs)
        return rd_kafka_produce(t, RD_KAFKA_PARTITION_UA, 0, (void *)val, vlen, key, klen, opaque) == -1
                   ? rd_kafka_last_error()
                   : 0;
    return rd_kafka_producev(k->c.rk, RD_KAFKA_V_RKT(t), RD_KAFKA_V_VALUE((void *)val, vlen),
                             RD_KAFKA_V_KEY(key, klen), RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(opaque),
                             RD_KAFKA_V_END);
}

void producer_poll(producer_t *k)
{
    kafka_drain_fd(k->c.fds[0]);
    rd_kafka_poll(k->c.rk, 0);
}

int producer_flush(producer_t *k, int timeout_ms)
{
    rd_kafka_flush(k->c.rk, timeout_ms);
    return rd_kafka_outq_len(k->c.rk);
}

int producer_outstanding(producer_t *k) { return rd_kafka_outq_len(k->c.rk); }

void producer_destroy(producer_t *k)
{
    if (!k)
        return;
    for (size_t i = 0; i < k->ntopics; i++)
        rd_kafka_topic_destroy(k->topics[i]);
    kafka_client_close(&k->c);
    free(k);
}
