/* kafka — builds a librdkafka configuration for one of triaged's clients:
 * triaged's own settings first, then the operator's kafka.* passthrough keys,
 * each validated by librdkafka and reported with its config origin
 * ("conf/triaged.conf:12: kafka.foo: No such configuration property").
 * Also routes librdkafka's logs and errors into log_event.
 *
 * Ownership: the returned rd_kafka_conf_t belongs to the caller (it is
 * consumed by rd_kafka_new on success, else rd_kafka_conf_destroy). */
#ifndef KAFKA_H
#define KAFKA_H
#include "io/cfg.h"
#include <librdkafka/rdkafka.h>
#include <stddef.h>

/* kind: "consumer" or "producer". defaults: key, value, ..., NULL — triaged's
 * defaults that the operator's passthrough keys may override. Returns NULL
 * with a message in err. */
rd_kafka_conf_t *kafka_build(const cfg_t *cfg, const char *kind, const char *bootstrap, const char *const *defaults,
                             char *err, size_t errlen);

/* Sets one property triaged owns; returns 0 or a TRI_E code with a message. */
int kafka_set(rd_kafka_conf_t *conf, const char *key, const char *value, char *err, size_t errlen);

/* Whether librdkafka raised a fatal error on rk (message in err). */
int kafka_fatal(rd_kafka_t *rk, char *err, size_t errlen);

/* One librdkafka client as the daemon's loop sees it: the handle, the queue
 * it serves (the consumer queue, or the producer's main queue for delivery
 * reports) and a non-blocking pipe whose read end (fds[0]) becomes readable
 * when that queue goes from empty to non-empty, for a libuv poll handle. */
typedef struct kafka_client {
    rd_kafka_t *rk;
    rd_kafka_queue_t *q;
    int fds[2];
} kafka_client_t;

/* Creates a client from conf (consumed) and destroys it at once: librdkafka
 * checks how properties combine (acks with idempotence, fetch sizes...) only
 * in rd_kafka_new. Returns 0 or TRI_EINVAL naming `what`. */
int kafka_check_client(rd_kafka_type_t type, rd_kafka_conf_t *conf, const char *what, char *err, size_t errlen);
/* Creates the client from conf (consumed on success, destroyed on failure);
 * `what` names it in errors. */
int kafka_client_open(kafka_client_t *c, rd_kafka_type_t type, rd_kafka_conf_t *conf, const char *what, char *err,
                      size_t errlen);
void kafka_client_close(kafka_client_t *c);
void kafka_drain_fd(int fd);

#endif
