/* notify — delivers alarm events where people already look: Prometheus
 * Alertmanager (its v2 API, POST /api/v2/alerts) and a generic webhook (POST
 * of the event JSON).
 *
 * Delivery runs on its own thread with libcurl, so a slow or dead receiver
 * never holds up the loop (classification, the detector): the loop only
 * queues. A failed post is logged, counted and retried with backoff (1 s,
 * 2 s, 4 s... at most alarms.notify.retries times); the queue is bounded
 * (the oldest job is dropped and counted). Open Alertmanager alerts are sent
 * again every alarms.notify.resend so they do not expire; a clear sends the
 * alert once more with endsAt = now, which resolves it.
 *
 * Alertmanager labels: alertname (triage_<kind>), kind, label, account ("all"
 * for every account), scale, severity (critical for volume_drop, else
 * warning), fixed when an alert opens (an incident keeps its identity as it
 * grows); annotations: summary, description (the explanation: shares, ratio,
 * members) and status_page (alarms.status.url).
 *
 * Ownership: notify_t is created by notify_new and freed by notify_free (which
 * joins the thread), both on the loop thread; notify_event and
 * notify_publish are loop-thread only. */
#ifndef NOTIFY_H
#define NOTIFY_H
#include "core/detector.h"
#include "daemon/metrics.h"
#include "io/cfg.h"

typedef struct notify notify_t;

/* NULL in *out (and 0) when no receiver is configured. */
int notify_new(const cfg_t *cfg, metrics_t *met, notify_t **out, char *err, size_t errlen);
/* Queues the event for every receiver (ev_json: the event as published). */
void notify_event(notify_t *n, const detector_event_t *ev, json_t *ev_json);
/* Copies the delivery counters into /metrics. */
void notify_publish(notify_t *n);
void notify_free(notify_t *n);

#endif
