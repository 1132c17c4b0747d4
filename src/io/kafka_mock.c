#include "io/kafka_mock.h"
#include "core/tri_err.h"

#include <stdlib.h>

struct kmock {
    rd_kafka_t *rk;
    rd_kafka_mock_cluster_t *mc;
    int brokers;
};

int kafka_mock_start(int brokers, kafka_mock_t **out, char *err, size_t errlen)
{
    kafka_mock_t *m = calloc(1, sizeof *m);
    if (!m)
        return tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
    char e[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    /* The handle only hosts the cluster and never connects anywhere; log
     * level 4 hides the notice that it has no bootstrap.servers but keeps
     * real warnings. */
    rd_kafka_conf_set(conf, "client.id", "kafka-mock", NULL, 0);
    rd_kafka_conf_set(conf, "log_level", "4", NULL, 0);
    m->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof e);
    if (!m->rk) {
        rd_kafka_conf_destroy(conf);
        free(m);
        return tri_errf(err, errlen, TRI_EIO, "mock cluster handle: %s", e);
    }
    m->mc = rd_kafka_mock_cluster_new(m->rk, brokers);
    if (!m->mc) {
        rd_kafka_destroy(m->rk);
        free(m);
        return tri_errf(err, errlen, TRI_EIO, "could not start the mock cluster");
    }
    m->brokers = brokers;
    *out = m;
    return 0;
}

void kafka_mock_stop(kafka_mock_t *m)
{
    if (!m)
        return;
    rd_kafka_mock_cluster_destroy(m->mc);
    rd_kafka_destroy(m->rk);
    free(m);
}

const char *kafka_mock_bootstraps(const kafka_mock_t *m) { return rd_kafka_mock_cluster_bootstraps(m->mc); }
rd_kafka_mock_cluster_t *kafka_mock_cluster(kafka_mock_t *m) { return m->mc; }
int kafka_mock_brokers(const kafka_mock_t *m) { return m->brokers; }

int kafka_mock_topic(kafka_mock_t *m, const char *name, int partitions, char *err, size_t errlen)
{
    int rf = m->brokers < 3 ? m->brokers : 3;
    rd_kafka_resp_err_t r = rd_kafka_mock_topic_create(m->mc, name, partitions, rf);
    if (r)
        return tri_errf(err, errlen, TRI_EINVAL, "topic %s: %s", name, rd_kafka_err2str(r));
    return 0;
}
