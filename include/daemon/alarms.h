/* alarms — the alarms role: reads the labeled and dead-letter topics in its own
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
 * Ownership: alarms_t is created by alarms_new and freed by alarms_free after the stop
 * callback ran. */
#ifndef ALARMS_H
#define ALARMS_H
#include "io/cfg.h"
#include "daemon/metrics.h"
#include "daemon/registry.h"
#include "core/detector.h"
#include <jansson.h>
#include <uv.h>

typedef struct alr alarms_t;

/* What alarms_new would refuse in the [alarms] section (for --check-config). */
int alarms_check_config(const cfg_t *cfg, char *err, size_t errlen);
int alarms_new(uv_loop_t *loop, const cfg_t *cfg, const char *bootstrap, metrics_t *met, alarms_t **out, char *err,
            size_t errlen);
int alarms_start(alarms_t *a, char *err, size_t errlen);
/* The training label mix of the serving model, for the drift figure. */
void alarms_set_model(alarms_t *a, registry_model_t *m);
/* Checkpoints, commits, leaves the group; then done(ctx) runs on the loop. */
void alarms_stop(alarms_t *a, void (*done)(void *ctx), void *ctx);
void alarms_free(alarms_t *a);

/* The detector's part of /api/status: window_ms, series, alarms {active,
 * recent}, quality, and "now" (the event-time watermark). New reference. */
json_t *alarms_status(alarms_t *a);
int alarms_fatal(alarms_t *a, char *msg, size_t n);
/* Publishes an event raised elsewhere (the feedback consumer's quality
 * alarm) as the detector's own are: alarms.topic, log, metrics, Alertmanager
 * and webhook, the status page's recent events. */
void alarms_publish(alarms_t *a, const detector_event_t *ev);
/* Dead letters whose source is this topic (feedback.topic) are not the
 * classify traffic's: the dead-letter share leaves them out. */
int alarms_ignore_dead_from(alarms_t *a, const char *topic);

#endif
