/* producer — the Kafka output: one idempotent producer (acks=all, no duplicates
 * from its own retries, order kept per partition) for the labeled and the
 * dead-letter topics. Payloads are NOT copied: the caller keeps key and value
 * valid until the delivery report for that message, which the producer hands back
 * with the caller's opaque pointer. Delivery reports are served on the
 * caller's thread inside producer_poll / producer_flush.
 *
 * Ownership: producer_t is created by producer_new and destroyed by producer_destroy. */
#ifndef PRODUCER_H
#define PRODUCER_H
#include "io/cfg.h"
#include <librdkafka/rdkafka.h>
#include <stddef.h>

typedef void (*producer_dr_fn)(void *ctx, void *opaque, rd_kafka_resp_err_t err);

typedef struct kout producer_t;

int producer_new(const cfg_t *cfg, const char *bootstrap, producer_dr_fn dr, void *ctx, producer_t **out, char *err,
             size_t errlen);
void producer_destroy(producer_t *k);
/* What producer_new would refuse (e.g. acks=0 with idempotence), checked by
 * creating a client and destroying it at once; also tells the client's
 * message.max.bytes. For --check-config. */
int producer_check(const cfg_t *cfg, const char *bootstrap, size_t *max_message, char *err, size_t errlen);
/* The largest message the client accepts (message.max.bytes): a bigger one
 * is refused for good, never delivered by retrying. */
size_t producer_max_message(producer_t *k);
rd_kafka_t *producer_rk(producer_t *k);

/* Enqueues a message; returns 0 or the librdkafka error (e.g. __QUEUE_FULL,
 * after which the caller retries later). */
rd_kafka_resp_err_t producer_produce(producer_t *k, const char *topic, const void *key, size_t klen, const void *val,
                                 size_t vlen, void *opaque);
/* The same with Kafka headers: on success librdkafka owns hdrs (NULL: none);
 * on failure the caller still does. */
rd_kafka_resp_err_t producer_produce_headers(producer_t *k, const char *topic, const void *key, size_t klen,
                                             const void *val, size_t vlen, rd_kafka_headers_t *hdrs, void *opaque);
int producer_fd(const producer_t *k);
/* Serves delivery reports without blocking. */
void producer_poll(producer_t *k);
/* Waits up to timeout_ms for everything queued to be delivered (serving
 * reports); returns the number of messages still outstanding. */
int producer_flush(producer_t *k, int timeout_ms);
int producer_outstanding(producer_t *k);

#endif
