/* alr — the alarms role: reads the labeled and dead-letter topics in its own
 * consumer group (one detector sees every classify worker's traffic), feeds
 * the detector (alarm.h), publishes alarm and clear events to alarms.topic,
 * logs and counts them, and serves what the status page shows.
 *
 * Restart safety: every alarms.checkpoint.interval the detector state and
 * the offsets it covers are written to alarms.state.file (atomically), and
 * only then are those offsets committed. A restarted role loads the file and
 * seeks its partitions to the checkpoint's offsets, so it resumes with its
 * baselines: no alarm storm, no missed spike. Offsets are committed only by
 * this path (never by librdkafka on its own).
 *
 * Ownership: alr_t is created by alr_new and freed by alr_free after the stop
 * callback ran. */
#ifndef ALR_H
#define ALR_H
#include "cfg.h"
#include "met.h"
#include "reg.h"
#include <jansson.h>
#include <uv.h>

typedef struct alr alr_t;

int alr_new(uv_loop_t *loop, const cfg_t *cfg, const char *bootstrap, met_t *met, alr_t **out, char *err,
            size_t errlen);
int alr_start(alr_t *a, char *err, size_t errlen);
/* The training label mix of the serving model, for the drift figure. */
void alr_set_model(alr_t *a, reg_model_t *m);
/* Checkpoints, commits, leaves the group; then done(ctx) runs on the loop. */
void alr_stop(alr_t *a, void (*done)(void *ctx), void *ctx);
void alr_free(alr_t *a);

/* The detector's part of /api/status: window_ms, series, alarms {active,
 * recent}, quality, and "now" (the event-time watermark). New reference. */
json_t *alr_status(alr_t *a);
int alr_fatal(alr_t *a, char *msg, size_t n);

#endif
