/* offsets — the offset tracker of one partition (which consumed records have
 * their output delivered, and so which offset may be stored), and the set of
 * partitions a consumer role currently tracks.
 *
 * Invariant (DESIGN.md #1): the offset to store is 1 + the highest offset o
 * such that every record consumed up to o has a delivered output or
 * dead-letter record. Records are pushed in consumption order and may finish
 * in any order; nothing but offsets_done moves the frontier.
 *
 * Ownership: offsets_part_t is reference counted (offsets_ref/offsets_unref): a pipeline
 * record holds a reference so a delivery report arriving after the partition
 * was revoked still finds its tracker (and ignores it: `revoked` is set). An
 * offsets_set_t holds one reference to each of its partitions.
 *
 * Threads: not thread-safe; the owner's loop thread only. */
#ifndef OFFSETS_H
#define OFFSETS_H
#include <stddef.h>
#include <stdint.h>
#include <librdkafka/rdkafka.h>

typedef struct offsets_entry {
    int64_t offset;
    uint8_t done;
} offsets_entry_t;

typedef struct offsets_part {
    char *topic;
    int32_t partition;
    int refs;
    int revoked;          /* set on revoke/lost: results are no longer stored */
    offsets_entry_t *ring;
    size_t cap;           /* power of two */
    uint64_t head, tail;  /* sequence numbers: [head, tail) outstanding */
    int64_t stored;       /* last offset handed out for storing (the next offset
                             to read), or -1 */
} offsets_part_t;

offsets_part_t *offsets_new(const char *topic, int32_t partition);
offsets_part_t *offsets_ref(offsets_part_t *p);
void offsets_unref(offsets_part_t *p);

/* Registers a consumed record; returns its sequence number, or UINT64_MAX on
 * allocation failure. */
uint64_t offsets_push(offsets_part_t *p, int64_t offset);

/* Marks a record's output delivered. Returns 1 and sets *store (offset + 1 of
 * the new frontier) when the frontier advanced, 0 when it did not, -1 for an
 * unknown or repeated sequence number. */
int offsets_done(offsets_part_t *p, uint64_t seq, int64_t *store);

/* Records consumed and not yet delivered. */
static inline size_t offsets_outstanding(const offsets_part_t *p) { return (size_t)(p->tail - p->head); }

/* The partitions a role tracks, looked up by (topic, partition). Few
 * partitions per member: a linear scan behind a one-entry cache (records of
 * one partition arrive in runs). */
typedef struct offsets_set {
    offsets_part_t **parts;
    size_t n, cap;
    offsets_part_t *last;
} offsets_set_t;

#define OFFSETS_SET_INIT {NULL, 0, 0, NULL}

/* The tracker of (topic, partition), or NULL. */
offsets_part_t *offsets_set_find(offsets_set_t *s, const char *topic, int32_t partition);
/* The tracker of (topic, partition), created when missing; NULL when out of memory. */
offsets_part_t *offsets_set_add(offsets_set_t *s, const char *topic, int32_t partition);
/* Drops the set's reference to t and marks it revoked: records still holding
 * it store nothing. */
void offsets_set_remove(offsets_set_t *s, offsets_part_t *t);
/* Removes every partition listed (those not in the set are ignored). */
void offsets_set_remove_list(offsets_set_t *s, const rd_kafka_topic_partition_list_t *parts);
/* Whether t is one of the listed partitions. */
int offsets_in_list(const rd_kafka_topic_partition_list_t *parts, const offsets_part_t *t);
/* Releases every partition and the set's memory. */
void offsets_set_clear(offsets_set_t *s);

#endif
