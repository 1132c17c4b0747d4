/* pipe — the classify role's pipeline: Kafka input → batches of
 * batch.size records (or batch.linger.ms) → classification on the libuv
 * thread pool → labeled or dead-letter records → Kafka output → offsets.
 *
 * At-least-once: a consumed record's offset is stored (and later committed)
 * only when its output or dead-letter record has a successful delivery
 * report, through the per-partition tracker (otrack.h). A failed delivery is
 * retried, never skipped. On revoke: records of those partitions not yet
 * classified are dropped (the next owner reads them again), classification in
 * flight is finished, everything is flushed and the offsets committed before
 * the partitions go; a lost assignment commits nothing. Back-pressure: above
 * input.max.inflight undelivered records the assignment is paused, and
 * resumed below half of it.
 *
 * Threads: everything here runs on the loop thread except the classification
 * of a batch, which only touches that batch and its scorer.
 *
 * Ownership: pl_t is created by pl_new and freed by pl_free after the stop
 * callback has run. */
#ifndef PIPE_H
#define PIPE_H
#include "cfg.h"
#include "met.h"
#include <jansson.h>
#include "reg.h"
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct pl pl_t;

typedef struct pl_status {
    int started;          /* subscribed */
    int joined;           /* member of the consumer group */
    int assigned;         /* partitions assigned */
    int producer_ok;      /* no fatal error, no delivery failing right now */
    int fatal;            /* a fatal Kafka error happened: the daemon must stop */
    char fatal_msg[256];
    uint64_t in, out, dead, inflight;
    int paused;
} pl_status_t;

int pl_new(uv_loop_t *loop, const cfg_t *cfg, const char *bootstrap, met_t *met, pl_t **out, char *err,
           size_t errlen);
/* Subscribes and starts consuming; classification uses reg_current(reg). */
int pl_start(pl_t *p, reg_t *reg, char *err, size_t errlen);
/* Graceful stop: no new records, finish and deliver what was consumed
 * (bounded by output.flush.timeout.ms), commit, leave the group; then
 * done(ctx) runs on the loop. */
void pl_stop(pl_t *p, void (*done)(void *ctx), void *ctx);
void pl_free(pl_t *p);

void pl_status(pl_t *p, pl_status_t *st);
/* A model the pipeline waited for is in (or failed): start waiting batches. */
void pl_models_ready(pl_t *p);
/* Consumer lag per assigned partition and in total (new reference). */
json_t *pl_lag_json(pl_t *p);
/* Refreshes gauges (lag, assignment, in-flight) before a metrics snapshot. */
void pl_refresh_metrics(pl_t *p);

#endif
