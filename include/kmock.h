/* kmock — librdkafka's mock cluster, started inside a process on a handle
 * of its own (so a consumer and a producer share one cluster; the
 * test.mock.num.brokers property would give each client its own). Serves
 * real Kafka protocol on loopback: kcat and other processes can join in.
 * Used by triaged's embedded default and by the scripts/kafka-mock helper.
 * The mock keeps at most ~5 MB or 100,000 messages per partition and
 * silently drops older ones.
 *
 * Ownership: kmock_t is created by kmock_start and destroyed by kmock_stop. */
#ifndef KMOCK_H
#define KMOCK_H
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stddef.h>

typedef struct kmock kmock_t;

int kmock_start(int brokers, kmock_t **out, char *err, size_t errlen);
void kmock_stop(kmock_t *m);
const char *kmock_bootstraps(const kmock_t *m);
rd_kafka_mock_cluster_t *kmock_cluster(kmock_t *m);
int kmock_brokers(const kmock_t *m);
/* Creates a topic (replication factor min(brokers, 3)). */
int kmock_topic(kmock_t *m, const char *name, int partitions, char *err, size_t errlen);

#endif
