/* shadow — shadow scoring by the challenger (model.challenger): after the
 * champion classified a batch, the records it labeled with the default model
 * and that the sample picks (FNV-1a 64 of the output key, mixed by
 * murmur3's fmix64, / 2^64 < model.challenger.sample, the same choice on every worker) are copied into a
 * shadow job and scored by the challenger on the libuv thread pool, one job
 * at a time. Its labels are never published; what comes out is agreement with
 * the champion per champion label (metrics triage_challenger_*, and
 * shadow_status_json for the status page).
 *
 * Off the critical path: a shadow job holds copies, not the batch, so the
 * batch's outputs are handed on, delivered and their offsets committed
 * whatever the challenger does; at most one job is on the pool at a time
 * (batch.workers + the registry's job + this one fit libuv's 4 threads).
 * Bounded: beyond model.challenger.max.pending records (or 4 x
 * batch.max.bytes of copies) waiting, a batch's samples are dropped and
 * counted (triage_challenger_dropped_total); the input is never held.
 *
 * Threads: the loop thread, but for a job's scoring, which touches only the
 * job (its copies, its challenger scorer).
 *
 * Ownership: shadow_t is created by shadow_new and freed by shadow_free, once
 * shadow_running is 0 (the pipeline's stop waits for it). */
#ifndef SHADOW_H
#define SHADOW_H
#include "codec/rec.h"
#include "daemon/batches.h"
#include "daemon/metrics.h"
#include "daemon/registry.h"
#include "io/cfg.h"
#include <jansson.h>
#include <stdint.h>
#include <uv.h>

typedef struct shadow shadow_t;

/* schema is kept by reference: it must outlive the shadow. */
int shadow_new(uv_loop_t *loop, const cfg_t *cfg, const rec_schema_t *schema, metrics_t *met, shadow_t **out,
               char *err, size_t errlen);
void shadow_free(shadow_t *sh);

/* Whether id (the output key's bytes) is in the sample. */
int shadow_sampled(const shadow_t *sh, const char *id, size_t len);
/* b's champion work is done and its messages are still held: queue its
 * sampled records for the challenger serving now in reg (none: nothing). */
void shadow_batch(shadow_t *sh, registry_t *reg, const batch_t *b);
/* Scores one decoded record r (text fields as schema s names them) with m, on
 * the calling thread: for the feedback consumer's records, which are few (a
 * correction per handled ticket), so the loop does it at once. Returns m's
 * label index, or -1 when no text is left or out of memory. */
int shadow_score_one(registry_model_t *m, const rec_schema_t *s, const rec_t *r);
/* Stop: jobs not started are dropped (counted); the running one finishes. */
void shadow_stop(shadow_t *sh);
/* A job is on the thread pool. */
int shadow_running(const shadow_t *sh);
/* The challenger's figures since it was loaded (new reference), or JSON null
 * when model.challenger is off. */
json_t *shadow_status_json(const shadow_t *sh);

#endif
