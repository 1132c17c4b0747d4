/* batches — the classify role's batches: consumed records gathered into
 * batches, the model versions that score each batch, and the classification
 * of a batch on the libuv thread pool (decode, score, encode the labeled or
 * dead-letter record into the batch's arena).
 *
 * A batch moves FILLING (the current one, taking records) -> QUEUED (closed,
 * waiting for a worker and for its models) -> WORKING (on the thread pool)
 * -> WORKED (outputs encoded). Closed batches form a FIFO: outputs are
 * handed on in consumption order (batches_next_out), and a batch is recycled
 * once every record was handed on and delivered (batches_delivered).
 *
 * Ownership: batches_t is created by batches_new and freed by batches_free.
 * A batch owns its records' Kafka messages until they are handed on
 * (batches_handed_on destroys the message; key and output stay in the arena
 * until the batch is recycled). From choosing its models until its outputs
 * are encoded, a batch holds a reference to each model version it uses (and
 * the scorers lent to it); only the first `workers` queued batches choose
 * and ask for loads, and the registry admits a load only within the cache
 * budget, never evicting a held model, so what waiting batches hold stays
 * within the budget. Each record holds a reference to its partition tracker.
 *
 * Threads: everything runs on the loop thread, except the classification of
 * a batch, which touches only that batch and its scorers. */
#ifndef BATCHES_H
#define BATCHES_H
#include "codec/rec.h"
#include "core/buf.h"
#include "core/clf.h"
#include "daemon/output.h"
#include "daemon/registry.h"
#include "io/offsets.h"
#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct batch batch_t;
typedef struct batches batches_t;

/* One consumed record, from poll to delivery report. */
typedef struct batch_rec {
    output_msg_t out;          /* what is produced; filled by batches_next_out */
    rd_kafka_message_t *msg;   /* owned until handed on */
    offsets_part_t *part;      /* reference, until delivered or dropped */
    uint64_t seq;              /* in part's tracker */
    int64_t offset;            /* the input message's */
    size_t in_len;             /* the input message's payload bytes */
    batch_t *b;
    /* 64-bit: a batch's arena may pass 4 GiB (large records, large batches). */
    size_t out_off, out_len, key_off, key_len;  /* in b->arena */
    char *own;                 /* a dead letter built after the output was refused (owned) */
    int16_t status;            /* REC_OK: labeled; else dead-lettered */
    int16_t bare;              /* own is a dead letter without payload: nothing smaller */
    int32_t label;             /* predicted label, -1 when dead-lettered */
    uint32_t nknown, nfeatures;
    uint32_t mi;               /* index into b->models */
} batch_rec_t;

/* Read-only for everything but batches.c. */
struct batch {
    batches_t *bs;
    uv_work_t work;
    batch_rec_t *recs;
    size_t n, cap;
    buf_t arena;               /* outputs and keys: freed as one */
    rec_t rec;                 /* decode scratch for the worker */
    /* The versions that score this batch (the default first, then accounts'
     * own), one reference each and a scorer when one was idle (else the
     * worker makes one: clf_made), held while it is on the pool. */
    registry_model_t **models;
    clf_t **clfs;
    unsigned char *clf_made;
    size_t nmodels, capmodels;
    size_t *order, caporder;   /* record indices grouped by model (worker scratch) */
    size_t *mstart, capmstart; /* where each model's records start in order */
    uint64_t wait_since_ms;    /* uv_now when it first waited for an account model; 0: never */
    int wait_cut;              /* waiting could not bring its models in: it waits no more */
    uint64_t t_first;          /* uv_hrtime of the first record */
    uint64_t work_ns;          /* time spent classifying */
    size_t in_bytes;           /* input payload bytes taken (closes the batch at max_bytes) */
    size_t counted;            /* arena and own bytes counted in batches_bytes */
    size_t produced;           /* records handed on */
    size_t outstanding;        /* records of a closed batch not yet delivered */
    int state;
    int finished;              /* worker done (under bs->mu) */
    int after_pending;         /* libuv's after-work callback still to run */
    batch_t *next;             /* FIFO of batches not yet fully handed on */
    batch_t *live_prev, *live_next; /* every batch not in the free list */
};

enum { BATCH_FILLING, BATCH_QUEUED, BATCH_WORKING, BATCH_WORKED };

typedef struct batches_hooks {
    /* A batch's classification finished (its scorers are back): count it;
     * then the owner hands on what is ready (batches_next_out). */
    void (*worked)(void *ctx, batch_t *b);
    /* libuv's after-work callback for b has run (b may be recycled next). */
    void (*after)(void *ctx);
    void *ctx;
} batches_hooks_t;

typedef struct batches_opts {
    const rec_schema_t *schema; /* kept by reference: must outlive the batches */
    size_t batch_size;          /* records per batch */
    int workers;                /* batches classified at once */
    size_t dlq_max;             /* payload bytes kept in a dead-letter record */
    size_t max_bytes;           /* a batch closes once its inputs hold this many bytes */
    size_t max_message;         /* the producer's message.max.bytes: a bigger labeled
                                   record is dead-lettered as output_too_large */
    /* Input headers copied to the output: all, none, or those named. */
    int headers_all;
    const char *const *header_names; /* kept by reference */
    size_t nheader_names;
} batches_opts_t;

int batches_new(uv_loop_t *loop, const batches_opts_t *o, const batches_hooks_t *h, batches_t **out);
/* Releases every batch, whatever its state (after a fatal error or a flush
 * timeout some are not done): their messages, trackers and models. Their
 * offsets were never stored. No work may be in flight. */
void batches_free(batches_t *bs);

/* Adds a consumed record to the current batch (opening one when there is
 * none). Takes m and a reference to part. Returns BATCHES_ADDED,
 * BATCHES_OPENED (the first record of a new batch: start the linger timer),
 * BATCHES_FULL (the batch reached batch_size records or max_bytes: close
 * it), or TRI_ENOMEM (m is not taken). */
enum { BATCHES_ADDED = 0, BATCHES_OPENED = 1, BATCHES_FULL = 2 };
int batches_add(batches_t *bs, rd_kafka_message_t *m, offsets_part_t *part, uint64_t seq);
/* Closes the current batch: it is queued for classification. */
void batches_close(batches_t *bs, registry_t *reg);
/* Starts queued batches on free workers, choosing their models from reg
 * (none while reg is NULL). */
void batches_kick(batches_t *bs, registry_t *reg);
/* Scorers a worker makes for a batch (for models with none idle) and keeps
 * for their models' idle pools; any beyond are freed on the worker. Bounds
 * the scorer memory a batch adds to the account budget. */
#define BATCH_SCORERS_KEPT 8

/* The next record whose output can be handed on, in consumption order, or
 * NULL; r->out is filled. After handing it on, call batches_handed_on. */
batch_rec_t *batches_next_out(batches_t *bs);
void batches_handed_on(batches_t *bs, batch_rec_t *r);
/* r's output was delivered: releases its tracker reference. Returns 1 when
 * it was the last of its batch (*age_ns: from the batch's first record),
 * else 0. */
int batches_delivered(batches_t *bs, batch_rec_t *r, uint64_t *age_ns);

/* Kafka refused r's output for good (too large for the topic, an invalid
 * record): r becomes a dead letter (undeliverable, reason in its detail)
 * carrying the refused output as payload, cut to dlq_max; a refused dead
 * letter is rebuilt without payload. r->out is updated: send it again.
 * Returns 0, or -1 when there is nothing smaller to send (or no memory). */
int batches_refused(batches_t *bs, batch_rec_t *r, const char *reason);
/* Bytes the batches hold: input payloads not yet handed on, and the
 * encoded outputs of batches not yet recycled. For back-pressure. */
size_t batches_bytes(const batches_t *bs);

/* Rebalance: drops the records of the listed partitions that no worker has
 * started on (their messages and tracker references); returns how many. */
size_t batches_drop(batches_t *bs, const rd_kafka_topic_partition_list_t *parts);
/* Waits for the batches on the thread pool (blocking the loop for at most
 * one batch's classification per worker) and finishes them. */
void batches_wait_workers(batches_t *bs);

/* No batch closed and not yet fully handed on, none on a worker. */
int batches_idle(const batches_t *bs);
int batches_working(const batches_t *bs);

#endif
