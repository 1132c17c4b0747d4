/* kconf — builds a librdkafka configuration for one of triaged's clients:
 * triaged's own settings first, then the operator's kafka.* passthrough keys,
 * each validated by librdkafka and reported with its config origin
 * ("conf/triaged.conf:12: kafka.foo: No such configuration property").
 * Also routes librdkafka's logs and errors into tlog.
 *
 * Ownership: the returned rd_kafka_conf_t belongs to the caller (it is
 * consumed by rd_kafka_new on success, else rd_kafka_conf_destroy). */
#ifndef KCONF_H
#define KCONF_H
#include "cfg.h"
#include <librdkafka/rdkafka.h>
#include <stddef.h>

/* kind: "consumer" or "producer". defaults: key, value, ..., NULL — triaged's
 * defaults that the operator's passthrough keys may override. Returns NULL
 * with a message in err. */
rd_kafka_conf_t *kconf_build(const cfg_t *cfg, const char *kind, const char *bootstrap, const char *const *defaults,
                             char *err, size_t errlen);

/* Sets one property triaged owns; returns 0 or a TRI_E code with a message. */
int kconf_set(rd_kafka_conf_t *conf, const char *key, const char *value, char *err, size_t errlen);

/* Whether librdkafka raised a fatal error on rk (message in err). */
int kconf_fatal(rd_kafka_t *rk, char *err, size_t errlen);

/* A non-blocking pipe whose read end wakes a libuv poll handle when a
 * librdkafka queue becomes non-empty. fds[0] read, fds[1] write. */
int kconf_wakeup_pipe(rd_kafka_queue_t *q, int fds[2]);
void kconf_drain_fd(int fd);

#endif
