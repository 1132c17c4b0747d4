/* output — the classify role's Kafka output: the producer, its delivery
 * reports, queue-full handling and the retry queue.
 *
 * At-least-once: a message handed to output_send is delivered or retried,
 * never dropped. librdkafka retries for message.timeout.ms itself; a message
 * whose delivery still fails (or that the producer refused outright) goes to
 * the retry queue and is produced again, after 100 ms doubling up to 5 s,
 * until it is delivered. Only a successful delivery reaches the `delivered`
 * hook, so only then may the caller store the record's offset.
 *
 * Ownership: output_t is created by output_new and freed by output_free
 * (after output_close's callback). Payloads are not copied: the caller keeps
 * each output_msg_t, its key and its value valid until `delivered` hands
 * that output_msg_t back.
 *
 * Threads: the loop thread only; delivery reports are served on it (in
 * output_poll, output_flush and on the producer's descriptor). */
#ifndef OUTPUT_H
#define OUTPUT_H
#include "daemon/metrics.h"
#include "io/cfg.h"
#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct output output_t;

typedef struct output_msg {
    int dead;                  /* 1: to the dead-letter topic, else the labeled one */
    const void *key, *val;
    size_t klen, vlen;
    const rd_kafka_headers_t *headers; /* NULL: none; the output produces a copy of them */
} output_msg_t;

typedef struct output_hooks {
    /* m was delivered (acknowledged by the cluster). */
    void (*delivered)(void *ctx, output_msg_t *m);
    /* The retry timer fired: the producer's queue, if it was full, may have
     * room again (send what waits, in order, before the retries go). */
    void (*writable)(void *ctx);
    /* Delivery reports were served (something may have finished). */
    void (*served)(void *ctx);
    /* Kafka refused m for good (err: too large, an invalid record), by a
     * delivery report or at once: retrying would never succeed, and would
     * hold its partition's offsets forever. The owner may replace m's topic
     * and value by something smaller (a dead letter) and return 1: m is then
     * sent again; 0 keeps retrying m as it is. */
    int (*refused)(void *ctx, output_msg_t *m, rd_kafka_resp_err_t err);
    /* The producer hit a fatal error: nothing more can be delivered. */
    void (*fatal)(void *ctx, const char *msg);
    void *ctx;
} output_hooks_t;

typedef enum output_result {
    OUTPUT_OK = 0,  /* queued for delivery */
    OUTPUT_RETRY,   /* the producer's queue is full: keep m, send again on `writable` */
    OUTPUT_ERROR,   /* refused now: m is in the retry queue (still owned by the output) */
} output_result_t;

int output_new(uv_loop_t *loop, const cfg_t *cfg, const char *bootstrap, metrics_t *met, const output_hooks_t *h,
               output_t **out, char *err, size_t errlen);
void output_free(output_t *o);
/* Closes the output's handles; done(ctx) runs when they are closed. */
void output_close(output_t *o, void (*done)(void *ctx), void *ctx);

output_result_t output_send(output_t *o, output_msg_t *m);
/* The producer's message.max.bytes. */
size_t output_max_message(output_t *o);
/* Serves delivery reports without blocking. */
void output_poll(output_t *o);
/* Waits up to timeout_ms for everything queued to be delivered (serving
 * reports); returns the number of messages still outstanding. */
int output_flush(output_t *o, int timeout_ms);
/* Deliveries are failing right now (the retry queue is not empty). */
int output_failing(const output_t *o);
/* The producer's librdkafka handle, for its fatal-error state. */
rd_kafka_t *output_rk(output_t *o);

#endif
