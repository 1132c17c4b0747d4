#include "io/kafka.h"
#include "io/log.h"
#include "core/tri_err.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int kafka_set(rd_kafka_conf_t *conf, const char *key, const char *value, char *err, size_t errlen)
{
    char e[512];
    if (rd_kafka_conf_set(conf, key, value, e, sizeof e) != RD_KAFKA_CONF_OK)
        return tri_errf(err, errlen, TRI_EINVAL, "%s: %s", key, e);
    return 0;
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    int l = level <= 3 ? LOG_LEVEL_ERROR : level == 4 ? LOG_LEVEL_WARN : level <= 6 ? LOG_LEVEL_INFO : LOG_LEVEL_DEBUG;
    log_event(l, "librdkafka", "client=%s facility=%s msg=%s", rd_kafka_name(rk), log_q(fac), log_q(buf));
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)opaque;
    /* Transport errors are routine while brokers restart; librdkafka retries. */
    int transient = err == RD_KAFKA_RESP_ERR__TRANSPORT || err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN ||
                    err == RD_KAFKA_RESP_ERR__RESOLVE;
    log_event(err == RD_KAFKA_RESP_ERR__FATAL ? LOG_LEVEL_ERROR : transient ? LOG_LEVEL_WARN : LOG_LEVEL_ERROR, "kafka_error",
         "client=%s code=%s reason=%s", rd_kafka_name(rk), rd_kafka_err2name(err), log_q(reason));
}

typedef struct pass_ctx {
    rd_kafka_conf_t *conf;
    char *err;
    size_t errlen;
} pass_ctx_t;

static int apply_pass(const char *key, const char *value, const char *origin, void *vctx)
{
    pass_ctx_t *c = vctx;
    char e[512];
    if (rd_kafka_conf_set(c->conf, key, value, e, sizeof e) != RD_KAFKA_CONF_OK)
        return tri_errf(c->err, c->errlen, TRI_EINVAL, "%s: kafka.%s: %s", origin, key, e);
    return 0;
}

rd_kafka_conf_t *kafka_build(const cfg_t *cfg, const char *kind, const char *bootstrap, const char *const *defaults,
                             char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char id[64];
    snprintf(id, sizeof id, "triaged-%s-%ld", kind, (long)getpid());
    if (kafka_set(conf, "bootstrap.servers", bootstrap, err, errlen) || kafka_set(conf, "client.id", id, err, errlen))
        goto fail;
    rd_kafka_conf_set_log_cb(conf, log_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    for (size_t i = 0; defaults && defaults[i]; i += 2)
        if (kafka_set(conf, defaults[i], defaults[i + 1], err, errlen))
            goto fail;
    pass_ctx_t pc = {conf, err, errlen};
    if (cfg_each_kafka(cfg, kind, apply_pass, &pc))
        goto fail;
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

int kafka_fatal(rd_kafka_t *rk, char *err, size_t errlen)
{
    char e[512];
    rd_kafka_resp_err_t f = rd_kafka_fatal_error(rk, e, sizeof e);
    if (!f)
        return 0;
    tri_errf(err, errlen, TRI_EIO, "%s: %s", rd_kafka_err2name(f), e);
    return 1;
}

static void silent_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {}
static void silent_error(rd_kafka_t *rk, int err, const char *reason, void *opaque) {}

int kafka_check_client(rd_kafka_type_t type, rd_kafka_conf_t *conf, const char *what, char *err, size_t errlen)
{
    char e[512];
    /* A check connects nowhere and says nothing: the bootstrap list was
     * checked when it was set. */
    rd_kafka_conf_set(conf, "bootstrap.servers", "", e, sizeof e);
    rd_kafka_conf_set_log_cb(conf, silent_log);
    rd_kafka_conf_set_error_cb(conf, silent_error);
    rd_kafka_t *rk = rd_kafka_new(type, conf, e, sizeof e);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        return tri_errf(err, errlen, TRI_EINVAL, "%s: %s", what, e);
    }
    rd_kafka_destroy_flags(rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    return 0;
}

int kafka_client_open(kafka_client_t *c, rd_kafka_type_t type, rd_kafka_conf_t *conf, const char *what, char *err,
                      size_t errlen)
{
    char e[512];
    c->fds[0] = c->fds[1] = -1;
    c->q = NULL;
    c->rk = rd_kafka_new(type, conf, e, sizeof e);
    if (!c->rk) {
        rd_kafka_conf_destroy(conf);
        return tri_errf(err, errlen, TRI_EINVAL, "%s: %s", what, e);
    }
    if (type == RD_KAFKA_CONSUMER) {
        rd_kafka_poll_set_consumer(c->rk);
        c->q = rd_kafka_queue_get_consumer(c->rk);
    } else {
        c->q = rd_kafka_queue_get_main(c->rk);
    }
    if (pipe2(c->fds, O_NONBLOCK | O_CLOEXEC)) {
        kafka_client_close(c);
        return tri_errf(err, errlen, TRI_EIO, "%s: pipe: %s", what, strerror(errno));
    }
    rd_kafka_queue_io_event_enable(c->q, c->fds[1], "1", 1);
    return 0;
}

void kafka_client_close(kafka_client_t *c)
{
    if (c->q)
        rd_kafka_queue_destroy(c->q);
    if (c->rk)
        rd_kafka_destroy(c->rk);
    for (int i = 0; i < 2; i++)
        if (c->fds[i] >= 0)
            close(c->fds[i]);
    c->q = NULL;
    c->rk = NULL;
    c->fds[0] = c->fds[1] = -1;
}

void kafka_drain_fd(int fd)
{
    char b[256];
    while (read(fd, b, sizeof b) > 0)
        ;
}
