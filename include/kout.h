/* kout — the Kafka output: one idempotent producer (acks=all, no duplicates
 * from its own retries, order kept per partition) for the labeled and the
 * dead-letter topics. Payloads are NOT copied: the caller keeps key and value
 * valid until the delivery report for that message, which kout hands back
 * with the caller's opaque pointer. Delivery reports are served on the
 * caller's thread inside kout_poll / kout_flush.
 *
 * Ownership: kout_t is created by kout_new and destroyed by kout_destroy. */
#ifndef KOUT_H
#define KOUT_H
#include "cfg.h"
#include <librdkafka/rdkafka.h>
#include <stddef.h>

typedef void (*kout_dr_fn)(void *ctx, void *opaque, rd_kafka_resp_err_t err);

typedef struct kout kout_t;

int kout_new(const cfg_t *cfg, const char *bootstrap, kout_dr_fn dr, void *ctx, kout_t **out, char *err,
             size_t errlen);
void kout_destroy(kout_t *k);
rd_kafka_t *kout_rk(kout_t *k);

/* Enqueues a message; returns 0 or the librdkafka error (e.g. __QUEUE_FULL,
 * after which the caller retries later). */
rd_kafka_resp_err_t kout_produce(kout_t *k, const char *topic, const void *key, size_t klen, const void *val,
                                 size_t vlen, void *opaque);
int kout_fd(const kout_t *k);
/* Serves delivery reports without blocking. */
void kout_poll(kout_t *k);
/* Waits up to timeout_ms for everything queued to be delivered (serving
 * reports); returns the number of messages still outstanding. */
int kout_flush(kout_t *k, int timeout_ms);
int kout_outstanding(kout_t *k);

#endif
