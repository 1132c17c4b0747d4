/* kafka_mock — librdkafka's mock cluster, started inside a process on a handle
 * of its own (so a consumer and a producer share one cluster; the
 * test.mock.num.brokers property would give each client its own). Serves
 * real Kafka protocol on loopback: kcat and other processes can join in.
 * Used by triaged's embedded default and by the scripts/kafka-mock helper.
 * The mock keeps at most ~5 MB or 100,000 messages per partition and
 * silently drops older ones.
 *
 * Ownership: kafka_mock_t is created by kafka_mock_start and destroyed by kafka_mock_stop. */
#ifndef KAFKA_MOCK_H
#define KAFKA_MOCK_H
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stddef.h>

typedef struct kmock kafka_mock_t;

int kafka_mock_start(int brokers, kafka_mock_t **out, char *err, size_t errlen);
void kafka_mock_stop(kafka_mock_t *m);
const char *kafka_mock_bootstraps(const kafka_mock_t *m);
rd_kafka_mock_cluster_t *kafka_mock_cluster(kafka_mock_t *m);
int kafka_mock_brokers(const kafka_mock_t *m);
/* Creates a topic (replication factor min(brokers, 3)). */
int kafka_mock_topic(kafka_mock_t *m, const char *name, int partitions, char *err, size_t errlen);

#endif
