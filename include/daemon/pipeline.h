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
 * Ownership: pipeline_t is created by pipeline_new and freed by pipeline_free after the stop
 * callback has run. */
#ifndef PIPE_H
#define PIPE_H
#include "io/cfg.h"
#include "daemon/metrics.h"
#include <jansson.h>
#include "daemon/registry.h"
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct pl pipeline_t;

typedef struct pipeline_status {
    int started;          /* subscribed */
    int joined;           /* member of the consumer group */
    int assigned;         /* partitions assigned */
    int producer_ok;      /* no fatal error, no delivery failing right now */
    int fatal;            /* a fatal Kafka error happened: the daemon must stop */
    char fatal_msg[256];
    uint64_t in, out, dead, inflight;
    int paused;
} pipeline_status_t;

int pipeline_new(uv_loop_t *loop, const cfg_t *cfg, const char *bootstrap, metrics_t *met, pipeline_t **out, char *err,
           size_t errlen);
/* Subscribes and starts consuming; classification uses registry_current(reg). */
int pipeline_start(pipeline_t *p, registry_t *reg, char *err, size_t errlen);
/* Graceful stop: no new records, finish and deliver what was consumed
 * (bounded by output.flush.timeout.ms), commit, leave the group; then
 * done(ctx) runs on the loop. */
void pipeline_stop(pipeline_t *p, void (*done)(void *ctx), void *ctx);
void pipeline_free(pipeline_t *p);

void pipeline_status(pipeline_t *p, pipeline_status_t *st);
/* A model the pipeline waited for is in (or failed): start waiting batches. */
void pipeline_models_ready(pipeline_t *p);
/* Consumer lag per assigned partition and in total (new reference). */
json_t *pipeline_lag_json(pipeline_t *p);
/* Refreshes gauges (lag, assignment, in-flight) before a metrics snapshot. */
void pipeline_refresh_metrics(pipeline_t *p);

#endif
