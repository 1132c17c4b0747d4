/* feedback — the feedback consumer: reads feedback.topic (codec/feedback.h)
 * in its own consumer group (feedback.group) with its own librdkafka handles,
 * counts live accuracy per model version and label (core/accuracy.h), exports
 * it as metrics and on the status page, and raises a `quality` alarm
 * (label "feedback_accuracy") through the owner's hook when a model's recent
 * accuracy falls well below its held-out accuracy.
 *
 * At-least-once: a record's offset is stored only once it is processed:
 * counted, or its dead letter delivered (a record without label or text, not
 * JSON, ...: the same dead-letter record as a bad input, rec_put_dead, with
 * feedback.topic as its topic, sent by the same retrying output, output.h).
 * Stored offsets are committed every input.commit.interval.ms, on revoke and
 * on stop. At most feedback.max.inflight dead letters wait for delivery; then
 * the consumer waits. Nothing a record holds can stop the daemon.
 *
 * The tallies live in memory: they start again with the process (the group's
 * committed offsets mean old feedback is not read twice).
 *
 * Threads: the loop thread only. Ownership: feedback_t is created by
 * feedback_new and freed by feedback_free after the stop callback ran. */
#ifndef DAEMON_FEEDBACK_H
#define DAEMON_FEEDBACK_H
#include "codec/feedback.h"
#include "core/accuracy.h"
#include "core/detector.h"
#include "daemon/metrics.h"
#include "io/cfg.h"
#include <jansson.h>
#include <uv.h>

typedef struct feedback feedback_t;

typedef struct feedback_hooks {
    /* A model's judgement changed: ev is a quality alarm or clear (label
     * "feedback_accuracy", model NAME@VERSION, observed = recent accuracy,
     * expected = held-out accuracy). */
    void (*alarm)(void *ctx, const detector_event_t *ev);
    /* Each feedback record counted, after its tally (e.g. to score a
     * challenger on its text and feedback_tally the result). May be NULL. */
    void (*record)(void *ctx, const fb_rec_t *r);
    void *ctx;
} feedback_hooks_t;

/* The consumer group: feedback.group, else input.group + ".feedback". */
void feedback_group(const cfg_t *cfg, char *out, size_t n);
/* What feedback_new would refuse (for --check-config); 0 when feedback.topic is empty. */
int feedback_check_config(const cfg_t *cfg, const char *bootstrap, char *err, size_t errlen);
int feedback_new(uv_loop_t *loop, const cfg_t *cfg, const char *bootstrap, metrics_t *met, const feedback_hooks_t *h,
                 feedback_t **out, char *err, size_t errlen);
int feedback_start(feedback_t *f, char *err, size_t errlen);
/* Stores outstanding dead letters (bounded wait), commits, leaves the group;
 * then done(ctx) runs on the loop. */
void feedback_stop(feedback_t *f, void (*done)(void *ctx), void *ctx);
void feedback_free(feedback_t *f);

/* The held-out accuracy of model NAME@VERSION (from its metadata; NAN: unknown). */
void feedback_set_holdout(feedback_t *f, const char *model, double holdout);
/* Counts one prediction of model (any NAME@VERSION: the serving model, a
 * challenger scored in shadow) against the label an agent settled on;
 * raises or clears its alarm. Returns 0, or -1 out of memory. */
int feedback_tally(feedback_t *f, const char *model, const char *label, const char *predicted);
/* A model's live tally (valid until the next tally), or NULL. */
const acc_model_t *feedback_model(const feedback_t *f, const char *model);

/* {"topic","group","records","counted","untallied","dead_lettered","models":acc_json}. */
json_t *feedback_status(feedback_t *f);
/* Sets the accuracy gauges from the tallies (before a metrics snapshot). */
void feedback_refresh_metrics(feedback_t *f);
int feedback_fatal(feedback_t *f, char *msg, size_t n);

#endif
