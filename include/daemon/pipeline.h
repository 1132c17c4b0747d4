/* pipeline — the classify role: Kafka input -> batches of batch.size
 * records (or batch.linger.ms) -> classification on the libuv thread pool ->
 * labeled or dead-letter records -> Kafka output -> offsets. It wires the
 * consumer, the batches (batches.h), the output (output.h) and the
 * partitions' offset trackers (io/offsets.h), and owns back-pressure and
 * rebalances.
 *
 * At-least-once: a consumed record's offset is stored (and later committed)
 * only when its output or dead-letter record has a successful delivery
 * report, through its partition's tracker. A failed delivery is retried,
 * never skipped.
 *
 * Back-pressure: above input.max.inflight undelivered records the loop stops
 * taking records (librdkafka keeps prefetching into its own bounded queue)
 * and takes them again below half of it; only when that lasts 2 s is the
 * assignment paused, so rebalances are still served.
 *
 * Rebalances: on revoke, records of those partitions not yet classified are
 * dropped (the next owner reads them again), classification in flight is
 * finished, everything is handed to the producer and flushed, and the
 * offsets are committed before the partitions go; a lost assignment commits
 * nothing. The revoke runs inside librdkafka's rebalance callback and BLOCKS
 * THE LOOP for at most one batch's classification plus
 * output.flush.timeout.ms (less once a stop's deadline has passed), plus the
 * synchronous commit. /healthz stays answered meanwhile (the admin server has
 * its own thread) and reports healthy while the block is shorter than
 * ADMIN_STALL_MS. So that it is, with the admin server on, start-up and
 * --check-config refuse an output.flush.timeout.ms above
 * PIPELINE_MAX_FLUSH_MS, which leaves PIPELINE_REVOKE_MARGIN_MS of the stall
 * limit for the batch being classified and the commit.
 *
 * Errors: a fatal error (librdkafka fatal, out of memory) stops the input and
 * is reported once through hooks.fatal, on the loop thread, from inside the
 * pipeline's own callbacks: the owner must not stop or free the pipeline
 * from there, only schedule it.
 *
 * Threads: everything here runs on the loop thread except the classification
 * of a batch, which only touches that batch and its scorers.
 *
 * Ownership: pipeline_t is created by pipeline_new and freed by
 * pipeline_free after the stop callback has run. */
#ifndef PIPELINE_H
#define PIPELINE_H
#include "io/cfg.h"
#include "daemon/metrics.h"
#include <jansson.h>
#include "daemon/registry.h"
#include "io/admin.h"
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define PIPELINE_REVOKE_MARGIN_MS 2000
#define PIPELINE_MAX_FLUSH_MS (ADMIN_STALL_MS - PIPELINE_REVOKE_MARGIN_MS)

typedef struct pipeline pipeline_t;

typedef struct pipeline_hooks {
    void (*fatal)(void *ctx, const char *msg);
    void *ctx;
} pipeline_hooks_t;

typedef struct pipeline_status {
    int started;          /* subscribed */
    int joined;           /* member of the consumer group */
    int assigned;         /* partitions assigned */
    int producer_ok;      /* no fatal error, no delivery failing right now */
    int fatal;            /* a fatal Kafka error happened: the daemon must stop */
    char fatal_msg[256];
    uint64_t in, out, dead, inflight;
} pipeline_status_t;

int pipeline_new(uv_loop_t *loop, const cfg_t *cfg, const char *bootstrap, metrics_t *met,
                 const pipeline_hooks_t *hooks, pipeline_t **out, char *err, size_t errlen);
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
/* The challenger's shadow-scoring figures (shadow_status_json), or JSON null
 * when model.challenger is off (new reference). */
json_t *pipeline_challenger_json(pipeline_t *pl);
/* Refreshes gauges (lag, assignment, in-flight) before a metrics snapshot. */
void pipeline_refresh_metrics(pipeline_t *p);

#endif
