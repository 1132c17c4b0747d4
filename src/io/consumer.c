#include "io/consumer.h"
#include "io/kafka.h"
#include "io/log.h"
#include "core/tri_err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct kin {
    kafka_client_t c;
    int closing_done, closed;
    int coop;                                 /* a cooperative assignor was configured */
    int subscribed;
    consumer_hooks_t hooks;
    consumer_stats_t stats;
    /* Offsets the owner stored (next record to read after the last delivered
     * one), per partition currently owned. */
    rd_kafka_topic_partition_list_t *stored;
    /* Of the partitions given back at the last revocation, the stored
     * offsets: if the next assignment hands some of them straight back, this
     * member resumes there. Nobody else can have read them in between (one
     * generation owns a partition), and the commit at revocation may have
     * been refused (a coordinator that refuses commits while the group
     * rebalances, as librdkafka's mock does), which without this would make
     * us repeat everything since the last periodic commit. */
    rd_kafka_topic_partition_list_t *handback;
    /* Per owned partition, the offset the group has committed as far as this
     * member knows: the first offset read after the assignment (where the
     * group's committed offset, or a handback, started us), then each commit
     * that succeeded. A revoke or loss reports stored - base: the records
     * whose outputs were delivered but whose offsets were not committed, and
     * which the next owner will therefore label again. */
    rd_kafka_topic_partition_list_t *base;
};

/* The stored offsets of `parts` minus their base (see consumer_t.base), summed,
 * and the base entries dropped: the records the next owners repeat. */
static int64_t take_uncommitted(consumer_t *k, const rd_kafka_topic_partition_list_t *parts)
{
    int64_t sum = 0;
    for (int i = 0; i < parts->cnt; i++) {
        const rd_kafka_topic_partition_t *p = &parts->elems[i];
        rd_kafka_topic_partition_t *b = rd_kafka_topic_partition_list_find(k->base, p->topic, p->partition);
        rd_kafka_topic_partition_t *st = rd_kafka_topic_partition_list_find(k->stored, p->topic, p->partition);
        if (b && st && st->offset > b->offset)
            sum += st->offset - b->offset;
        if (b)
            rd_kafka_topic_partition_list_del(k->base, p->topic, p->partition);
    }
    return sum;
}

/* Moves the base of each listed partition up to `offsets` (those committed). */
static void advance_base(consumer_t *k, const rd_kafka_topic_partition_list_t *offsets)
{
    for (int i = 0; offsets && i < offsets->cnt; i++) {
        const rd_kafka_topic_partition_t *p = &offsets->elems[i];
        rd_kafka_topic_partition_t *b = rd_kafka_topic_partition_list_find(k->base, p->topic, p->partition);
        if (b && !p->err && p->offset > b->offset)
            b->offset = p->offset;
    }
}

/* librdkafka's report of every commit, periodic or explicit (served by
 * consumer_poll and the close queue). */
static void commit_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
    (void)rk;
    if (!err || err == RD_KAFKA_RESP_ERR__NO_OFFSET)
        advance_base(opaque, offsets);
}

/* Moves the stored offsets of `parts` out of k->stored into k->handback
 * (replacing it); lost partitions hand nothing back. */
static void keep_handback(consumer_t *k, const rd_kafka_topic_partition_list_t *parts, int lost)
{
    if (k->handback)
        rd_kafka_topic_partition_list_destroy(k->handback);
    k->handback = lost ? NULL : rd_kafka_topic_partition_list_new(parts->cnt);
    for (int i = 0; i < parts->cnt; i++) {
        const rd_kafka_topic_partition_t *p = &parts->elems[i];
        rd_kafka_topic_partition_t *st = rd_kafka_topic_partition_list_find(k->stored, p->topic, p->partition);
        if (st && k->handback)
            rd_kafka_topic_partition_list_add(k->handback, p->topic, p->partition)->offset = st->offset;
        if (st)
            rd_kafka_topic_partition_list_del(k->stored, p->topic, p->partition);
    }
}

/* Sets the start offset of the assigned partitions this member gave back at
 * the revocation just before; the others start from the committed offset. */
static void apply_handback(consumer_t *k, rd_kafka_topic_partition_list_t *parts)
{
    if (!k->handback)
        return;
    int resumed = 0;
    for (int i = 0; i < parts->cnt; i++) {
        rd_kafka_topic_partition_t *p = &parts->elems[i];
        rd_kafka_topic_partition_t *h = rd_kafka_topic_partition_list_find(k->handback, p->topic, p->partition);
        if (h && h->offset >= 0) {
            p->offset = h->offset;
            resumed++;
        }
    }
    if (resumed)
        log_event(LOG_LEVEL_INFO, "partitions_resumed", "count=%d", resumed);
    rd_kafka_topic_partition_list_destroy(k->handback);
    k->handback = NULL;
}

/* After the owner's revoke hook (which commits when it can): what was
 * delivered and is still uncommitted is repeated by the next owner (unless
 * the partition comes straight back, see handback). Logged so that each
 * duplicate a rebalance causes is accounted for. */
static void report_uncommitted(consumer_t *k, const rd_kafka_topic_partition_list_t *parts)
{
    int64_t n = take_uncommitted(k, parts);
    if (n <= 0)
        return;
    k->stats.uncommitted += (uint64_t)n;
    log_event(LOG_LEVEL_WARN, "revoked_uncommitted", "records=%lld partitions=%d note=%s", (long long)n, parts->cnt,
              log_q("delivered, offsets not committed: the next owner labels them again"));
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    consumer_t *k = opaque;
    int coop = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
    rd_kafka_error_t *e = NULL;
    rd_kafka_resp_err_t r = 0;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        apply_handback(k, parts);
        if (coop)
            e = rd_kafka_incremental_assign(rk, parts);
        else
            r = rd_kafka_assign(rk, parts);
        k->stats.assigns++;
        log_event(LOG_LEVEL_INFO, "partitions_assigned", "count=%d protocol=%s", parts->cnt, coop ? "cooperative" : "eager");
        if (!e && !r && k->hooks.assigned)
            k->hooks.assigned(k->hooks.ctx, parts);
    } else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        int lost = rd_kafka_assignment_lost(rk);
        k->stats.revokes++;
        if (lost)
            k->stats.lost++;
        log_event(lost ? LOG_LEVEL_WARN : LOG_LEVEL_INFO, lost ? "partitions_lost" : "partitions_revoked", "count=%d", parts->cnt);
        if (k->hooks.revoking)
            k->hooks.revoking(k->hooks.ctx, parts, lost);
        report_uncommitted(k, parts);
        keep_handback(k, parts, lost);
        if (coop)
            e = rd_kafka_incremental_unassign(rk, parts);
        else
            r = rd_kafka_assign(rk, NULL);
    } else {
        log_event(LOG_LEVEL_ERROR, "rebalance_failed", "code=%s", rd_kafka_err2name(err));
        if (k->hooks.revoking)
            k->hooks.revoking(k->hooks.ctx, parts, 1);
        report_uncommitted(k, parts);
        keep_handback(k, parts, 1);
        r = rd_kafka_assign(rk, NULL);
    }
    if (e) {
        log_event(LOG_LEVEL_ERROR, "assign_failed", "msg=%s", log_q(rd_kafka_error_string(e)));
        rd_kafka_error_destroy(e);
    }
    if (r)
        log_event(LOG_LEVEL_ERROR, "assign_failed", "code=%s", rd_kafka_err2name(r));
}

/* The client configuration, the same for consumer_new and consumer_check. */
static rd_kafka_conf_t *consumer_conf(const cfg_t *cfg, const consumer_opts_t *o, const char *bootstrap, char *err,
                                      size_t errlen)
{
    /* Defaults operators may override (kafka.*): a group without committed
     * offsets reads from the beginning, so records published before the first
     * worker came up are not skipped. */
    /* Also: a broker holds an empty fetch up to fetch.wait.max.ms (500 ms by
     * default; librdkafka's mock cluster always holds it that long): 25 ms
     * keeps a trickle of records from waiting, at the cost of a few more
     * empty fetches while idle. */
    /* And group timing: librdkafka's 45 s session timeout is how long a
     * crashed worker's partitions stay unowned; 6 s is the lowest a broker
     * accepts by default (group.min.session.timeout.ms). A heartbeat every
     * 300 ms lets members notice a rebalance quickly: until they do they
     * keep working on partitions whose offsets the coordinator may already
     * refuse to commit, and a partition that then moves is repeated from its
     * last commit (measured with scripts/bench-rebalance d: 25% duplicates
     * after three crashes with 1 s heartbeats, 7% with 300 ms). The
     * heartbeats come from librdkafka's own thread, so a busy event loop
     * does not make a worker look dead (max.poll.interval.ms guards against
     * a stuck one). */
    static const char *const defaults[] = {"auto.offset.reset", "earliest", "fetch.wait.max.ms", "25",
                                           "session.timeout.ms", "6000", "heartbeat.interval.ms", "300", NULL};
    rd_kafka_conf_t *conf = kafka_build(cfg, "consumer", bootstrap, defaults, err, errlen);
    if (!conf)
        return NULL;
    char ms[32];
    snprintf(ms, sizeof ms, "%lld", (long long)(o->commit_interval_ms > 0 ? o->commit_interval_ms : 5000));
    if (kafka_set(conf, "group.id", o->group, err, errlen) ||
        kafka_set(conf, "enable.auto.offset.store", "false", err, errlen) ||
        kafka_set(conf, "enable.auto.commit", o->commit_interval_ms > 0 ? "true" : "false", err, errlen) ||
        kafka_set(conf, "auto.commit.interval.ms", ms, err, errlen) ||
        kafka_set(conf, "partition.assignment.strategy", o->assignment, err, errlen) ||
        kafka_set(conf, "enable.partition.eof", "false", err, errlen)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    return conf;
}

int consumer_new(const cfg_t *cfg, const consumer_opts_t *o, const char *bootstrap, const consumer_hooks_t *hooks, consumer_t **out,
            char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = consumer_conf(cfg, o, bootstrap, err, errlen);
    if (!conf)
        return TRI_EINVAL;
    consumer_t *k = calloc(1, sizeof *k);
    if (!k) {
        rd_kafka_conf_destroy(conf);
        return tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
    }
    if (hooks)
        k->hooks = *hooks;
    k->coop = strstr(o->assignment, "cooperative") != NULL;
    if (!(k->stored = rd_kafka_topic_partition_list_new(16)) || !(k->base = rd_kafka_topic_partition_list_new(16))) {
        if (k->stored)
            rd_kafka_topic_partition_list_destroy(k->stored);
        free(k);
        rd_kafka_conf_destroy(conf);
        return tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
    }
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_offset_commit_cb(conf, commit_cb);
    rd_kafka_conf_set_opaque(conf, k);
    int rc = kafka_client_open(&k->c, RD_KAFKA_CONSUMER, conf, "consumer", err, errlen);
    if (rc) {
        rd_kafka_topic_partition_list_destroy(k->stored);
        rd_kafka_topic_partition_list_destroy(k->base);
        free(k);
        return rc;
    }
    *out = k;
    return 0;
}

rd_kafka_t *consumer_rk(consumer_t *k) { return k->c.rk; }
int consumer_fd(const consumer_t *k) { return k->c.fds[0]; }
consumer_stats_t consumer_stats(const consumer_t *k) { return k->stats; }

/* "a, b" -> a list of topics (caller destroys it); an empty list is an error. */
static int topic_list(const char *topics, rd_kafka_topic_partition_list_t **out, char *err, size_t errlen)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(4);
    char *copy = strdup(topics), *save = NULL;
    if (!copy) {
        rd_kafka_topic_partition_list_destroy(l);
        return tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
    }
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ')
            t++;
        size_t n = strlen(t);
        while (n && t[n - 1] == ' ')
            t[--n] = '\0';
        if (n)
            rd_kafka_topic_partition_list_add(l, t, RD_KAFKA_PARTITION_UA);
    }
    free(copy);
    if (!l->cnt) {
        rd_kafka_topic_partition_list_destroy(l);
        return tri_errf(err, errlen, TRI_EINVAL, "'%s' names no topic", topics);
    }
    *out = l;
    return 0;
}

int consumer_subscribe(consumer_t *k, const char *topics, char *err, size_t errlen)
{
    rd_kafka_topic_partition_list_t *l;
    int rc = topic_list(topics, &l, err, errlen);
    if (rc)
        return rc;
    rd_kafka_resp_err_t r = rd_kafka_subscribe(k->c.rk, l);
    if (r)
        rc = tri_errf(err, errlen, TRI_EINVAL, "subscribe: %s", rd_kafka_err2str(r));
    else
        k->subscribed = 1;
    rd_kafka_topic_partition_list_destroy(l);
    return rc;
}

int consumer_check_topics(const char *topics, char *err, size_t errlen)
{
    rd_kafka_topic_partition_list_t *l;
    int rc = topic_list(topics, &l, err, errlen);
    if (!rc)
        rd_kafka_topic_partition_list_destroy(l);
    return rc;
}

int consumer_check(const cfg_t *cfg, const consumer_opts_t *o, const char *bootstrap, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = consumer_conf(cfg, o, bootstrap, err, errlen);
    if (!conf)
        return TRI_EINVAL;
    return kafka_check_client(RD_KAFKA_CONSUMER, conf, "consumer", err, errlen);
}

rd_kafka_message_t *consumer_poll(consumer_t *k)
{
    kafka_drain_fd(k->c.fds[0]);
    rd_kafka_message_t *m = rd_kafka_consumer_poll(k->c.rk, 0);
    if (m && !m->err && m->rkt) {
        const char *topic = rd_kafka_topic_name(m->rkt);
        if (!rd_kafka_topic_partition_list_find(k->base, topic, m->partition))
            rd_kafka_topic_partition_list_add(k->base, topic, m->partition)->offset = m->offset;
    }
    return m;
}

int consumer_store(consumer_t *k, const char *topic, int32_t partition, int64_t next_offset)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, partition)->offset = next_offset;
    rd_kafka_resp_err_t r = rd_kafka_offsets_store(k->c.rk, l);
    if (!r && l->elems[0].err)
        r = l->elems[0].err;
    rd_kafka_topic_partition_list_destroy(l);
    if (!r) {
        rd_kafka_topic_partition_t *st = rd_kafka_topic_partition_list_find(k->stored, topic, partition);
        if (!st)
            st = rd_kafka_topic_partition_list_add(k->stored, topic, partition);
        st->offset = next_offset;
    }
    if (r)
        log_event(LOG_LEVEL_WARN, "offset_store_failed", "topic=%s partition=%d offset=%lld code=%s", log_q(topic),
             (int)partition, (long long)next_offset, rd_kafka_err2name(r));
    return r ? TRI_EINVAL : 0;
}

int consumer_commit(consumer_t *k, char *err, size_t errlen)
{
    rd_kafka_resp_err_t r = rd_kafka_commit(k->c.rk, NULL, 0);
    if (r && r != RD_KAFKA_RESP_ERR__NO_OFFSET)
        return tri_errf(err, errlen, TRI_EIO, "commit: %s", rd_kafka_err2str(r));
    /* Everything stored is committed now (the callback may come later). */
    advance_base(k, k->stored);
    return 0;
}

int consumer_commit_offsets(consumer_t *k, const rd_kafka_topic_partition_list_t *offsets, char *err, size_t errlen)
{
    rd_kafka_resp_err_t r = rd_kafka_commit(k->c.rk, offsets, 0);
    if (r && r != RD_KAFKA_RESP_ERR__NO_OFFSET)
        return tri_errf(err, errlen, TRI_EIO, "commit: %s", rd_kafka_err2str(r));
    advance_base(k, offsets);
    return 0;
}

int consumer_seek(consumer_t *k, const char *topic, int32_t partition, int64_t offset)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, partition)->offset = offset;
    rd_kafka_error_t *e = rd_kafka_seek_partitions(k->c.rk, l, 5000);
    int rc = 0;
    if (e) {
        log_event(LOG_LEVEL_WARN, "seek_failed", "topic=%s partition=%d msg=%s", log_q(topic), (int)partition,
             log_q(rd_kafka_error_string(e)));
        rd_kafka_error_destroy(e);
        rc = TRI_EIO;
    } else if (l->elems[0].err) {
        rc = TRI_EIO;
    }
    rd_kafka_topic_partition_list_destroy(l);
    return rc;
}

int consumer_pause_parts(consumer_t *k, const rd_kafka_topic_partition_list_t *parts, int pause)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_copy(parts);
    rd_kafka_resp_err_t r = pause ? rd_kafka_pause_partitions(k->c.rk, l) : rd_kafka_resume_partitions(k->c.rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    return r ? TRI_EINVAL : 0;
}

int consumer_pause(consumer_t *k, int pause)
{
    rd_kafka_topic_partition_list_t *l = NULL;
    if (rd_kafka_assignment(k->c.rk, &l) || !l)
        return TRI_EINVAL;
    int rc = l->cnt ? consumer_pause_parts(k, l, pause) : 0;
    rd_kafka_topic_partition_list_destroy(l);
    return rc;
}

int consumer_joined(consumer_t *k)
{
    char *id = rd_kafka_memberid(k->c.rk);
    int j = id && *id;
    if (id)
        rd_kafka_mem_free(k->c.rk, id);
    return j;
}

int64_t consumer_lag(consumer_t *k, const char *topic, int32_t partition)
{
    int64_t lo, hi;
    if (rd_kafka_get_watermark_offsets(k->c.rk, topic, partition, &lo, &hi) || hi < 0)
        return -1;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, partition);
    int64_t pos = -1;
    if (!rd_kafka_position(k->c.rk, l) && !l->elems[0].err)
        pos = l->elems[0].offset;
    rd_kafka_topic_partition_list_destroy(l);
    if (pos < 0)
        pos = lo;
    return hi > pos ? hi - pos : 0;
}

static int64_t mono_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* librdkafka 2.0.2 (Debian 12) aborts in the cooperative-sticky assignor when
 * a consumer is destroyed after its first JoinGroup response and before its
 * first assignment (upstream #4381, fixed in 2.2.1). So a cooperative
 * consumer closed that early first waits (serving the consumer queue; the
 * records it returns are dropped unstored, so they are read again) for that
 * assignment, at most until `deadline`. Returns whether it came. */
static int settle_first_assignment(consumer_t *k, int64_t deadline)
{
    if (!k->coop || !k->subscribed || k->stats.assigns)
        return 1;
    log_event(LOG_LEVEL_INFO, "consumer_close_waits", "reason=first_assignment");
    while (!k->stats.assigns && mono_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(k->c.rk, 100);
        if (m)
            rd_kafka_message_destroy(m);
    }
    return k->stats.assigns > 0;
}

void consumer_close(consumer_t *k, int timeout_ms)
{
    if (!k || !k->c.rk)
        return;
    int64_t t_start = mono_ms();
    /* At least 20 s: a group that keeps rebalancing (workers starting and
     * stopping together) may take a few 6 s session rounds to assign. */
    int settle_ms = timeout_ms > 20000 ? timeout_ms : 20000;
    if (!settle_first_assignment(k, t_start + settle_ms))
        log_event(LOG_LEVEL_WARN, "consumer_close", "msg=\"no first assignment within %d ms\"", settle_ms);
    timeout_ms -= (int)(mono_ms() - t_start);
    if (timeout_ms < 1000)
        timeout_ms = 1000;
    /* rd_kafka_consumer_close() waits as long as it takes to leave the group;
     * with the brokers gone that is tens of seconds. Close asynchronously and
     * serve the close queue (rebalance callbacks run here) until done or the
     * deadline; destroy then skips the blocking close. */
    rd_kafka_queue_t *q = rd_kafka_queue_new(k->c.rk);
    rd_kafka_error_t *e = rd_kafka_consumer_close_queue(k->c.rk, q);
    if (e) {
        log_event(LOG_LEVEL_WARN, "consumer_close", "msg=%s", log_q(rd_kafka_error_string(e)));
        rd_kafka_error_destroy(e);
    } else {
        struct timespec t0, t;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        int64_t elapsed = 0;
        while (!rd_kafka_consumer_closed(k->c.rk) && elapsed < timeout_ms) {
            rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 100);
            if (ev) {
                /* On this queue the final revocation arrives as an event, not
                 * a callback: run the same handling (finish, flush, commit). */
                if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_REBALANCE)
                    rebalance_cb(k->c.rk, rd_kafka_event_error(ev), rd_kafka_event_topic_partition_list(ev), k);
                rd_kafka_event_destroy(ev);
            }
            clock_gettime(CLOCK_MONOTONIC, &t);
            elapsed = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
        }
        if (!rd_kafka_consumer_closed(k->c.rk))
            log_event(LOG_LEVEL_WARN, "consumer_close_timeout", "waited_ms=%d", timeout_ms);
        else
            k->closed = 1;
    }
    rd_kafka_queue_destroy(q);
    k->closing_done = 1;
}

void consumer_destroy(consumer_t *k)
{
    if (!k)
        return;
    /* A cooperative consumer that never got its first assignment (see
     * settle_first_assignment) cannot be destroyed safely: then the handle
     * is left to the exit too. */
    int unsafe = k->coop && k->subscribed && !k->stats.assigns;
    if (k->closing_done && (!k->closed || unsafe) && k->c.rk) {
        /* The group could not be left in time (brokers gone): destroying the
         * handle would wait for librdkafka to give up on them, tens of
         * seconds. The process is exiting: leave the handle to the exit,
         * kept reachable so leak checkers do not report it. */
        /* The queue handle too: the client does not point to it, so dropped
         * it was a 24-byte leak report (exit 86 under ASan) whenever a close
         * timed out. */
        static struct abandoned {
            rd_kafka_t *rk;
            rd_kafka_queue_t *q;
        } abandoned[4];
        static size_t nabandoned;
        struct abandoned *slot = &abandoned[nabandoned++ % 4];
        slot->rk = k->c.rk;
        slot->q = k->c.q;
        /* Its pipe is closed below: no more wake-ups written to that fd
         * number, which the process may reuse. */
        if (k->c.q)
            rd_kafka_queue_io_event_enable(k->c.q, -1, NULL, 0);
        log_event(unsafe ? LOG_LEVEL_INFO : LOG_LEVEL_WARN, "consumer_abandoned", "client=%s reason=%s",
                  rd_kafka_name(k->c.rk), unsafe ? "before_first_assignment" : "close_timeout");
        k->c.rk = NULL;
        k->c.q = NULL;
    } else if (k->closing_done && k->c.rk) {
        /* Closed already: do not block in a second close. */
        if (k->c.q)
            rd_kafka_queue_destroy(k->c.q);
        k->c.q = NULL;
        rd_kafka_destroy_flags(k->c.rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
        k->c.rk = NULL;
    }
    kafka_client_close(&k->c);
    rd_kafka_topic_partition_list_destroy(k->stored);
    rd_kafka_topic_partition_list_destroy(k->base);
    if (k->handback)
        rd_kafka_topic_partition_list_destroy(k->handback);
    free(k);
}
