/* kin — the Kafka input: a high-level consumer in a consumer group, with
 * offsets stored only by the application (enable.auto.offset.store=false) and
 * committed periodically by librdkafka from what was stored, explicitly on
 * revoke and on close.
 *
 * Rebalances are served inside kin_poll/kin_close on the caller's thread:
 * the `assigned` hook runs after the partitions are assigned; the `revoking`
 * hook runs BEFORE they are let go, so the owner can finish and store their
 * outputs first (with lost = 1 when the assignment was lost: then nothing may
 * be committed). Eager and cooperative protocols are both handled.
 *
 * Ownership: kin_t is created by kin_new and destroyed by kin_destroy (after
 * kin_close). Messages returned by kin_poll belong to the caller
 * (rd_kafka_message_destroy). */
#ifndef KIN_H
#define KIN_H
#include "cfg.h"
#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

typedef struct kin_hooks {
    void (*assigned)(void *ctx, const rd_kafka_topic_partition_list_t *parts);
    void (*revoking)(void *ctx, const rd_kafka_topic_partition_list_t *parts, int lost);
    void *ctx;
} kin_hooks_t;

typedef struct kin kin_t;

typedef struct kin_opts {
    const char *group;
    const char *assignment;       /* partition.assignment.strategy */
    int64_t commit_interval_ms;   /* > 0: librdkafka commits stored offsets this often;
                                     0: the owner commits explicitly (kin_commit_offsets) */
} kin_opts_t;

int kin_new(const cfg_t *cfg, const kin_opts_t *o, const char *bootstrap, const kin_hooks_t *hooks, kin_t **out,
            char *err, size_t errlen);
void kin_destroy(kin_t *k);
rd_kafka_t *kin_rk(kin_t *k);

/* Subscribes to a comma-separated topic list. */
int kin_subscribe(kin_t *k, const char *topics, char *err, size_t errlen);
/* Descriptor that becomes readable when kin_poll has something to serve. */
int kin_fd(const kin_t *k);
/* Next message (or error message, m->err != 0) without blocking, or NULL. */
rd_kafka_message_t *kin_poll(kin_t *k);

int kin_store(kin_t *k, const char *topic, int32_t partition, int64_t next_offset);
/* Commits the stored offsets now, synchronously. */
int kin_commit(kin_t *k, char *err, size_t errlen);
/* Commits the given offsets (next offset to read) synchronously. */
int kin_commit_offsets(kin_t *k, const rd_kafka_topic_partition_list_t *offsets, char *err, size_t errlen);
/* Moves an assigned partition's position (e.g. to a checkpoint's offset). */
int kin_seek(kin_t *k, const char *topic, int32_t partition, int64_t offset);
/* Pauses or resumes the whole current assignment. */
int kin_pause(kin_t *k, int pause);
int kin_pause_parts(kin_t *k, const rd_kafka_topic_partition_list_t *parts, int pause);
/* Whether the consumer has joined its group (has a member id). */
int kin_joined(kin_t *k);
/* Consumer lag of a partition (high watermark - position), or -1. */
int64_t kin_lag(kin_t *k, const char *topic, int32_t partition);
/* Leaves the group (serving the final revoke, which commits), waiting at
 * most timeout_ms; kin_destroy afterwards never blocks on the group. */
void kin_close(kin_t *k, int timeout_ms);
/* Rebalances served so far, by kind. */
typedef struct kin_stats {
    uint64_t assigns, revokes, lost;
} kin_stats_t;
kin_stats_t kin_stats(const kin_t *k);

#endif
