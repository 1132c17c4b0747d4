/* topic_read — reads a whole topic once, as it is now: every partition from
 * its low watermark to the high watermark it had when the read began, with a
 * consumer that joins no group and commits nothing (records produced during
 * the read are not waited for). For `triage retrain --feedback`.
 *
 * Records are handed over in the order each partition holds them (records of
 * one key, which share a partition, in the order they were produced). */
#ifndef TOPIC_READ_H
#define TOPIC_READ_H
#include <librdkafka/rdkafka.h>
#include <stddef.h>

/* fn returns 0 to go on, anything else to stop the read (returned). */
typedef int (*topic_read_fn)(void *ctx, const rd_kafka_message_t *m);

/* Splits "host:port[,host:port...]/topic" at its last '/' into bootstrap and
 * topic (copies, the caller frees both). Returns 0 or TRI_EINVAL. */
int topic_read_parse(const char *spec, char **bootstrap, char **topic, char *err, size_t errlen);

/* Reads topic on bootstrap; gives up with TRI_EIO after timeout_ms without
 * reaching the end. *nread gets the records handed to fn. */
int topic_read_all(const char *bootstrap, const char *topic, int timeout_ms, topic_read_fn fn, void *ctx,
                   size_t *nread, char *err, size_t errlen);

#endif
