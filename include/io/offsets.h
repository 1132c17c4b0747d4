/* otrack — the offset tracker of one partition: which consumed records have
 * their output delivered, and so which offset may be stored.
 *
 * Invariant (DESIGN.md #1): the offset to store is 1 + the highest offset o
 * such that every record consumed up to o has a delivered output or
 * dead-letter record. Records are pushed in consumption order and may finish
 * in any order; nothing but offsets_done moves the frontier.
 *
 * Ownership: offsets_part_t is reference counted (offsets_ref/offsets_unref): a pipeline
 * record holds a reference so a delivery report arriving after the partition
 * was revoked still finds its tracker (and ignores it: `revoked` is set). */
#ifndef OTRACK_H
#define OTRACK_H
#include <stddef.h>
#include <stdint.h>

typedef struct offsets_entry {
    int64_t offset;
    uint8_t done;
} offsets_entry_t;

typedef struct offsets_part {
    char *topic;
    int32_t partition;
    int refs;
    int revoked;          /* set on revoke/lost: results are no longer stored */
    int paused;           /* paused by back-pressure */
    offsets_entry_t *ring;
    size_t cap;           /* power of two */
    uint64_t head, tail;  /* sequence numbers: [head, tail) outstanding */
    int64_t stored;       /* last offset handed out for storing, or -1 */
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

#endif
