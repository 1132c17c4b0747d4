#include "io/topic_read.h"
#include "core/tri_err.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int topic_read_parse(const char *spec, char **bootstrap, char **topic, char *err, size_t errlen)
{
    const char *slash = strrchr(spec, '/');
    if (!slash || slash == spec || !slash[1])
        return tri_errf(err, errlen, TRI_EINVAL, "'%s' is not BROKERS/TOPIC (e.g. 127.0.0.1:9092/triage.feedback)",
                        spec);
    *bootstrap = strndup(spec, (size_t)(slash - spec));
    *topic = strdup(slash + 1);
    if (!*bootstrap || !*topic) {
        free(*bootstrap);
        free(*topic);
        return tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
    }
    return 0;
}

static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static rd_kafka_t *open_client(const char *bootstrap, char *err, size_t errlen)
{
    char e[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    /* A group id is needed for a consumer handle, but the partitions are
     * assigned, never subscribed: no group is joined, nothing committed. */
    static const char *const kv[] = {"bootstrap.servers", NULL, "group.id", "triage-topic-read",
                                      "enable.auto.commit", "false", "enable.auto.offset.store", "false",
                                      "enable.partition.eof", "true", "client.id", "triage-retrain", NULL};
    for (size_t i = 0; kv[i]; i += 2)
        if (rd_kafka_conf_set(conf, kv[i], kv[i + 1] ? kv[i + 1] : bootstrap, e, sizeof e) != RD_KAFKA_CONF_OK) {
            rd_kafka_conf_destroy(conf);
            tri_errf(err, errlen, TRI_EINVAL, "%s: %s", kv[i], e);
            return NULL;
        }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, e, sizeof e);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        tri_errf(err, errlen, TRI_EIO, "cannot create a Kafka consumer: %s", e);
    }
    return rk;
}

/* The partitions of topic with records, each at its low watermark, and the
 * high watermarks (ends[p]); *total the records to read. */
static int plan(rd_kafka_t *rk, const char *topic, int timeout_ms, rd_kafka_topic_partition_list_t **out,
                int64_t **ends, size_t *total, char *err, size_t errlen)
{
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    const rd_kafka_metadata_t *md = NULL;
    rd_kafka_resp_err_t r = t ? rd_kafka_metadata(rk, 0, t, &md, timeout_ms) : RD_KAFKA_RESP_ERR__FAIL;
    int rc = 0;
    if (r || !md || md->topic_cnt != 1 || md->topics[0].err) {
        rc = tri_errf(err, errlen, TRI_EIO, "%s: %s", topic,
                      rd_kafka_err2str(r ? r : md && md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR__FAIL));
        goto out;
    }
    int np = md->topics[0].partition_cnt;
    *out = rd_kafka_topic_partition_list_new(np > 0 ? np : 1);
    *ends = calloc((size_t)(np > 0 ? np : 1), sizeof **ends);
    if (!*ends) {
        rc = tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
        goto out;
    }
    *total = 0;
    for (int i = 0; i < np; i++) {
        int32_t p = md->topics[0].partitions[i].id;
        int64_t lo, hi;
        if ((r = rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, timeout_ms))) {
            rc = tri_errf(err, errlen, TRI_EIO, "%s [%d]: watermarks: %s", topic, (int)p, rd_kafka_err2str(r));
            goto out;
        }
        if (hi > lo) {
            rd_kafka_topic_partition_list_add(*out, topic, p)->offset = lo;
            (*ends)[(*out)->cnt - 1] = hi;
            *total += (size_t)(hi - lo);
        }
    }
out:
    if (md)
        rd_kafka_metadata_destroy(md);
    if (t)
        rd_kafka_topic_destroy(t);
    return rc;
}

/* Polls until every partition has handed over its records up to its end. */
static int drain(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts, const int64_t *ends, int64_t deadline,
                 topic_read_fn fn, void *ctx, size_t *nread, char *err, size_t errlen)
{
    int open = parts->cnt;
    while (open > 0) {
        if (now_ms() > deadline)
            return tri_errf(err, errlen, TRI_EIO, "timed out after %zu records (%d partitions not read to their end)",
                            *nread, open);
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (!m)
            continue;
        int rc = 0;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            /* The end, even when the last offsets hold no record a consumer
             * sees (compacted away, transaction markers). */
            for (int i = 0; i < parts->cnt; i++)
                if (parts->elems[i].partition == m->partition && parts->elems[i].offset < ends[i]) {
                    parts->elems[i].offset = ends[i];
                    open--;
                }
        } else if (m->err) {
            rc = tri_errf(err, errlen, TRI_EIO, "%s", rd_kafka_message_errstr(m));
        } else {
            for (int i = 0; i < parts->cnt; i++) {
                rd_kafka_topic_partition_t *p = &parts->elems[i];
                if (p->partition != m->partition || p->offset >= ends[i])
                    continue;
                if (m->offset < ends[i]) {
                    (*nread)++;
                    rc = fn(ctx, m);
                }
                p->offset = m->offset + 1; /* the next to read */
                open -= p->offset >= ends[i];
                break;
            }
        }
        rd_kafka_message_destroy(m);
        if (rc)
            return rc;
    }
    return 0;
}

int topic_read_all(const char *bootstrap, const char *topic, int timeout_ms, topic_read_fn fn, void *ctx,
                   size_t *nread, char *err, size_t errlen)
{
    *nread = 0;
    rd_kafka_t *rk = open_client(bootstrap, err, errlen);
    if (!rk)
        return TRI_EIO;
    int64_t deadline = now_ms() + timeout_ms;
    rd_kafka_topic_partition_list_t *parts = NULL;
    int64_t *ends = NULL;
    size_t total = 0;
    int rc = plan(rk, topic, timeout_ms, &parts, &ends, &total, err, errlen);
    if (!rc && parts->cnt) {
        rd_kafka_poll_set_consumer(rk);
        rd_kafka_resp_err_t r = rd_kafka_assign(rk, parts);
        if (r)
            rc = tri_errf(err, errlen, TRI_EIO, "assign: %s", rd_kafka_err2str(r));
        else
            rc = drain(rk, parts, ends, deadline, fn, ctx, nread, err, errlen);
        rd_kafka_assign(rk, NULL);
    }
    if (parts)
        rd_kafka_topic_partition_list_destroy(parts);
    free(ends);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rc;
}
