/* consumer — the Kafka input: a high-level consumer in a consumer group, with
 * offsets stored only by the application (enable.auto.offset.store=false) and
 * committed periodically by librdkafka from what was stored, explicitly on
 * revoke and on close.
 *
 * Rebalances are served inside consumer_poll/consumer_close on the caller's thread:
 * the `assigned` hook runs after the partitions are assigned; the `revoking`
 * hook runs BEFORE they are let go, so the owner can finish and store their
 * outputs first (with lost = 1 when the assignment was lost: then nothing may
 * be committed). Eager and cooperative protocols are both handled.
 *
 * Ownership: consumer_t is created by consumer_new and destroyed by consumer_destroy (after
 * consumer_close). Messages returned by consumer_poll belong to the caller
 * (rd_kafka_message_destroy). */
#ifndef CONSUMER_H
#define CONSUMER_H
#include "io/cfg.h"
#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

typedef struct consumer_hooks {
    void (*assigned)(void *ctx, const rd_kafka_topic_partition_list_t *parts);
    void (*revoking)(void *ctx, const rd_kafka_topic_partition_list_t *parts, int lost);
    void *ctx;
} consumer_hooks_t;

typedef struct kin consumer_t;

typedef struct consumer_opts {
    const char *group;
    const char *assignment;       /* partition.assignment.strategy */
    int64_t commit_interval_ms;   /* > 0: librdkafka commits stored offsets this often;
                                     0: the owner commits explicitly (consumer_commit_offsets) */
} consumer_opts_t;

int consumer_new(const cfg_t *cfg, const consumer_opts_t *o, const char *bootstrap, const consumer_hooks_t *hooks, consumer_t **out,
            char *err, size_t errlen);
void consumer_destroy(consumer_t *k);
rd_kafka_t *consumer_rk(consumer_t *k);

/* What consumer_new would refuse, without joining anything: librdkafka
 * checks how properties combine only when a client is created, so one is
 * created and destroyed at once. For --check-config. */
int consumer_check(const cfg_t *cfg, const consumer_opts_t *o, const char *bootstrap, char *err, size_t errlen);
/* What consumer_subscribe would refuse in a topic list (e.g. ", ,"). */
int consumer_check_topics(const char *topics, char *err, size_t errlen);

/* Subscribes to a comma-separated topic list. */
int consumer_subscribe(consumer_t *k, const char *topics, char *err, size_t errlen);
/* Descriptor that becomes readable when consumer_poll has something to serve. */
int consumer_fd(const consumer_t *k);
/* Next message (or error message, m->err != 0) without blocking, or NULL. */
rd_kafka_message_t *consumer_poll(consumer_t *k);

int consumer_store(consumer_t *k, const char *topic, int32_t partition, int64_t next_offset);
/* Commits the stored offsets now, synchronously. */
int consumer_commit(consumer_t *k, char *err, size_t errlen);
/* Commits the given offsets (next offset to read) synchronously. */
int consumer_commit_offsets(consumer_t *k, const rd_kafka_topic_partition_list_t *offsets, char *err, size_t errlen);
/* Moves an assigned partition's position (e.g. to a checkpoint's offset). */
int consumer_seek(consumer_t *k, const char *topic, int32_t partition, int64_t offset);
/* Pauses or resumes the whole current assignment. */
int consumer_pause(consumer_t *k, int pause);
int consumer_pause_parts(consumer_t *k, const rd_kafka_topic_partition_list_t *parts, int pause);
/* Whether the consumer has joined its group (has a member id). */
int consumer_joined(consumer_t *k);
/* Consumer lag of a partition (high watermark - position), or -1. */
int64_t consumer_lag(consumer_t *k, const char *topic, int32_t partition);
/* Leaves the group (serving the final revoke, which commits), waiting at
 * most timeout_ms; consumer_destroy afterwards never blocks on the group. */
void consumer_close(consumer_t *k, int timeout_ms);
/* Rebalances served so far, by kind. */
typedef struct consumer_stats {
    uint64_t assigns, revokes, lost;
    /* Records delivered whose offsets were not committed when their
     * partitions were revoked or lost (a refused commit, a lost session):
     * the duplicates rebalances caused, each logged as revoked_uncommitted. */
    uint64_t uncommitted;
} consumer_stats_t;
consumer_stats_t consumer_stats(const consumer_t *k);

#endif
