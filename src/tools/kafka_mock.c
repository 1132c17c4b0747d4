/*
 * kafka-mock: a throw-away Kafka cluster for tests and demos.
 *
 * The integration tests need a broker that speaks the real Kafka protocol
 * (so kcat and the daemon run unmodified, consumer groups included) but
 * starts in milliseconds, needs no JVM or ZooKeeper, and can be made to fail
 * on demand.  librdkafka's mock cluster is exactly that; this program hosts
 * one in its own process, prints its bootstrap list as the first stdout line,
 * and takes fault-injection commands on stdin (one reply line each).
 * It stops only on SIGTERM/SIGINT; stdin EOF just stops command reading.
 *
 * Caveat: the mock keeps at most 5 MB or 100,000 messages per partition and
 * silently drops the oldest beyond that, so tests must stay below it.
 * Caveat: it checks producer sequence numbers only for transactional
 * producers. With a Produce error injected while an idempotent producer has
 * several requests in flight, a later request for the same partition
 * succeeds, and librdkafka takes that as proof the failed one was stored
 * ("implicitly acked"): it reports as delivered messages the mock never
 * wrote. A real broker refuses the later request as out of order. Tests that
 * inject Produce errors and count deliveries set
 * max.in.flight.requests.per.connection=1 on their producers.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "io/kafka_mock.h"

#define APIKEY_MAX 58     /* Envelope: the highest ApiKey librdkafka 2.0.2 knows */
#define MAX_BROKERS 64
#define MAX_PARTITIONS 10000
#define MAX_ERRORS 100000
#define LINE_CAP 1024

static const char usage[] =
    "usage: kafka-mock [--brokers N] [--topic NAME:PARTITIONS]... [--port-file FILE]\n"
    "Runs librdkafka's mock Kafka cluster (broker ids 1..N) on loopback.\n"
    "Prints the bootstrap list as the first stdout line (and to FILE, written\n"
    "atomically), then serves until SIGTERM/SIGINT. stdin EOF does not stop it.\n"
    "Commands on stdin, one per line, each answered by 'ok ...' or 'error ...':\n"
    "  down B | up B | rtt B MS          broker B (-1 = all brokers)\n"
    "  error APIKEY CODE COUNT           next COUNT requests of APIKEY (number or\n"
    "                                    name, e.g. Produce) fail with CODE (number\n"
    "                                    or name, e.g. NOT_LEADER_FOR_PARTITION)\n"
    "  clear                             drop all pending injected errors\n"
    "  topic NAME:PARTITIONS | leader TOPIC PARTITION B\n"
    "  coordinator group|transaction KEY B | help\n"
    "  count TOPIC                       messages ever written to TOPIC\n"
    "Unknown topics are auto-created with 4 partitions when a client asks.\n"
    "LIMIT: the mock keeps at most 5 MB or 100,000 messages per partition and\n"
    "silently drops the oldest beyond that.\n"
    "LIMIT: it checks sequence numbers of transactional producers only: with\n"
    "Produce errors injected, an idempotent producer with several requests in\n"
    "flight may report messages as delivered that were never stored (use\n"
    "max.in.flight.requests.per.connection=1 where deliveries are counted).\n";

static const struct { const char *name; int16_t key; } apikeys[] = {
    {"Produce", 0},       {"Fetch", 1},           {"ListOffsets", 2},
    {"Metadata", 3},      {"OffsetCommit", 8},    {"OffsetFetch", 9},
    {"FindCoordinator", 10}, {"JoinGroup", 11},   {"Heartbeat", 12},
    {"LeaveGroup", 13},   {"SyncGroup", 14},      {"ApiVersion", 18},
    {"InitProducerId", 22}, {"AddPartitionsToTxn", 24},
    {"AddOffsetsToTxn", 25}, {"EndTxn", 26},      {"TxnOffsetCommit", 28},
};


/* Every reply is one flushed line, so a test can read it right after writing. */
__attribute__((format(printf, 1, 2))) static void reply(const char *fmt, ...)
{
    va_list ap;
    int r;

    va_start(ap, fmt);
    r = vprintf(fmt, ap);
    va_end(ap);
    if (r < 0 || putchar('\n') == EOF || fflush(stdout) == EOF)
        perror("kafka-mock: stdout");
}

static bool parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    long v;

    if (!s || !*s)
        return false;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static bool parse_apikey(const char *s, int16_t *out)
{
    long v;

    for (size_t i = 0; i < sizeof apikeys / sizeof apikeys[0]; i++)
        if (!strcasecmp(s, apikeys[i].name)) {
            *out = apikeys[i].key;
            return true;
        }
    if (!parse_long(s, 0, APIKEY_MAX, &v))
        return false;
    *out = (int16_t)v;
    return true;
}

/* Names come from librdkafka's own table so every code it knows is accepted. */
static bool parse_errcode(const char *s, rd_kafka_resp_err_t *out)
{
    const struct rd_kafka_err_desc *descs;
    size_t cnt;
    long v;

    if (parse_long(s, -1000, 1000, &v)) {
        *out = (rd_kafka_resp_err_t)v;
        return true;
    }
    if (!strncasecmp(s, "RD_KAFKA_RESP_ERR_", 18))
        s += 18;
    rd_kafka_get_err_descs(&descs, &cnt);
    for (size_t i = 0; i < cnt; i++)
        if (descs[i].name && !strcasecmp(s, descs[i].name)) {
            *out = descs[i].code;
            return true;
        }
    return false;
}

/* Returns NULL on success, else a reason.  The mock does not validate names or
 * counts itself (a 0-partition topic would break it), so we do. */
static const char *create_topic(kafka_mock_t *km, const char *spec)
{
    static char why[300];
    const char *colon = strrchr(spec, ':');
    char name[250];
    size_t len = colon ? (size_t)(colon - spec) : 0;
    long parts;

    if (!colon || !parse_long(colon + 1, 1, MAX_PARTITIONS, &parts))
        return "expected NAME:PARTITIONS with 1..10000 partitions";
    if (len == 0 || len >= sizeof name || strspn(spec, "abcdefghijklmnopqrstuvwxyz"
            "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != len)
        return "topic name must be 1..249 of [A-Za-z0-9._-]";
    memcpy(name, spec, len);
    name[len] = '\0';
    return kafka_mock_topic(km, name, (int)parts, why, sizeof why) ? why : NULL;
}

static void report(rd_kafka_resp_err_t err)
{
    if (err)
        reply("error %s: %s", rd_kafka_err2name(err), rd_kafka_err2str(err));
    else
        reply("ok");
}

/* Messages ever written to a topic (sum of high watermarks), through a
 * client of our own cluster, created on first use. Tests use it to follow
 * progress without consuming the topic. */
static void count_topic(kafka_mock_t *km, const char *topic)
{
    static rd_kafka_t *rk;
    char errstr[512];
    if (!rk) {
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        if (rd_kafka_conf_set(conf, "bootstrap.servers", kafka_mock_bootstraps(km), errstr, sizeof errstr) ||
            rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr) ||
            !(rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr))) {
            rd_kafka_conf_destroy(conf);
            reply("error %s", errstr);
            return;
        }
    }
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = t ? rd_kafka_metadata(rk, 0, t, &md, 5000) : RD_KAFKA_RESP_ERR__INVALID_ARG;
    if (!err && (md->topic_cnt != 1 || md->topics[0].err))
        err = md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
    long long total = 0;
    for (int i = 0; !err && i < md->topics[0].partition_cnt; i++) {
        int64_t lo, hi;
        err = rd_kafka_query_watermark_offsets(rk, topic, md->topics[0].partitions[i].id, &lo, &hi, 5000);
        total += hi;
    }
    if (md)
        rd_kafka_metadata_destroy(md);
    if (t)
        rd_kafka_topic_destroy(t);
    if (err)
        report(err);
    else
        reply("ok %lld", total);
}

/* One line in, exactly one reply line out (blank lines and '#' comments get
 * none, so command scripts can be annotated). */
static void handle_command(kafka_mock_t *km, char *line)
{
    rd_kafka_mock_cluster_t *mc = kafka_mock_cluster(km);
    char *tok[5] = {0}, *save = NULL, *t;
    int n = 0;
    long b = 0, v = 0;
    int16_t key = 0;
    rd_kafka_resp_err_t code = 0, *errs;
    const char *cmd, *why;

    for (t = strtok_r(line, " \t\r", &save); t && n < 5; t = strtok_r(NULL, " \t\r", &save))
        tok[n++] = t;
    if (n == 0 || tok[0][0] == '#')
        return;
    cmd = tok[0];

    if (t)
        reply("error too many arguments");
    else if (!strcmp(cmd, "help"))
        reply("ok commands: down B, up B, rtt B MS, error APIKEY CODE COUNT, clear, "
              "topic NAME:PARTS, leader TOPIC PART B, coordinator group|transaction KEY B, count TOPIC");
    else if ((!strcmp(cmd, "down") || !strcmp(cmd, "up")) && n == 2) {
        if (!parse_long(tok[1], -1, INT32_MAX, &b))
            reply("error bad broker id");
        else
            report(cmd[0] == 'd' ? rd_kafka_mock_broker_set_down(mc, (int32_t)b)
                                 : rd_kafka_mock_broker_set_up(mc, (int32_t)b));
    } else if (!strcmp(cmd, "rtt") && n == 3) {
        if (!parse_long(tok[1], -1, INT32_MAX, &b) || !parse_long(tok[2], 0, INT32_MAX, &v))
            reply("error usage: rtt BROKER MS");
        else
            report(rd_kafka_mock_broker_set_rtt(mc, (int32_t)b, (int)v));
    } else if (!strcmp(cmd, "error") && n == 4) {
        if (!parse_apikey(tok[1], &key))
            reply("error unknown ApiKey '%s'", tok[1]);
        else if (!parse_errcode(tok[2], &code))
            reply("error unknown error code '%s'", tok[2]);
        else if (!parse_long(tok[3], 1, MAX_ERRORS, &v))
            reply("error COUNT must be 1..%d", MAX_ERRORS);
        else if (!(errs = malloc((size_t)v * sizeof *errs)))
            reply("error out of memory");
        else {
            for (long i = 0; i < v; i++)
                errs[i] = code;
            /* The array form: the variadic one would need COUNT arguments. */
            rd_kafka_mock_push_request_errors_array(mc, key, (size_t)v, errs);
            free(errs);
            reply("ok %ld x %s on ApiKey %d", v, rd_kafka_err2name(code), key);
        }
    } else if (!strcmp(cmd, "clear") && n == 1) {
        /* Clearing an ApiKey that never had errors is a no-op, so sweep them all. */
        for (int16_t k = 0; k <= APIKEY_MAX; k++)
            rd_kafka_mock_clear_request_errors(mc, k);
        reply("ok");
    } else if (!strcmp(cmd, "count") && n == 2) {
        count_topic(km, tok[1]);
    } else if (!strcmp(cmd, "topic") && n == 2) {
        if ((why = create_topic(km, tok[1])))
            reply("error %s", why);
        else
            reply("ok");
    } else if (!strcmp(cmd, "leader") && n == 4) {
        if (!parse_long(tok[2], 0, INT32_MAX, &v) || !parse_long(tok[3], -1, INT32_MAX, &b))
            reply("error usage: leader TOPIC PARTITION BROKER");
        else
            report(rd_kafka_mock_partition_set_leader(mc, tok[1], (int32_t)v, (int32_t)b));
    } else if (!strcmp(cmd, "coordinator") && n == 4) {
        if (strcmp(tok[1], "group") && strcmp(tok[1], "transaction"))
            reply("error coordinator type must be group or transaction");
        else if (!parse_long(tok[3], -1, INT32_MAX, &b))
            reply("error bad broker id");
        else
            report(rd_kafka_mock_coordinator_set(mc, tok[1], tok[2], (int32_t)b));
    } else
        reply("error unknown command or wrong arguments (try 'help')");
}

/* Written to a temporary name and renamed, so a poller never reads half a line. */
static int write_port_file(const char *path, const char *boot)
{
    char *tmp = NULL;
    FILE *f;
    int rc = -1;

    if (asprintf(&tmp, "%s.tmp.%ld", path, (long)getpid()) < 0)
        return -1;
    if ((f = fopen(tmp, "w"))) {
        bool ok = fprintf(f, "%s\n", boot) >= 0;
        if (fclose(f) == 0 && ok && rename(tmp, path) == 0)
            rc = 0;
    }
    if (rc) {
        fprintf(stderr, "kafka-mock: %s: %s\n", path, strerror(errno));
        (void)unlink(tmp); /* best effort; it may never have been created */
    }
    free(tmp);
    return rc;
}

/* Answers stdin commands until SIGTERM/SIGINT arrives on sfd; returns the
 * exit status.  Reads raw fds rather than stdio so poll() sees every byte. */
static int serve(kafka_mock_t *km, int sfd)
{
    struct pollfd pfd[2] = {{.fd = sfd, .events = POLLIN}, {.fd = STDIN_FILENO, .events = POLLIN}};
    struct signalfd_siginfo si;
    char buf[LINE_CAP], *nl;
    size_t len = 0;
    bool discarding = false; /* inside an over-long line, skip to its newline */
    ssize_t got;

    for (;;) {
        if (poll(pfd, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            perror("kafka-mock: poll");
            return 1;
        }
        if (pfd[0].revents) {
            if (read(sfd, &si, sizeof si) != (ssize_t)sizeof si) {
                perror("kafka-mock: signalfd");
                return 1;
            }
            return 0;
        }
        if (!pfd[1].revents)
            continue;
        got = read(STDIN_FILENO, buf + len, sizeof buf - 1 - len);
        if (got < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (got <= 0) {
            /* EOF (or a broken stdin) only ends command input; a negative fd
             * makes poll() skip it, leaving us waiting for a signal. */
            if (got < 0)
                perror("kafka-mock: stdin");
            if (len && !discarding) {
                buf[len] = '\0';
                handle_command(km, buf);
            }
            len = 0;
            pfd[1].fd = -1;
            continue;
        }
        len += (size_t)got;
        while ((nl = memchr(buf, '\n', len))) {
            *nl = '\0';
            if (!discarding)
                handle_command(km, buf);
            discarding = false;
            len -= (size_t)(nl + 1 - buf);
            memmove(buf, nl + 1, len);
        }
        if (len == sizeof buf - 1) {
            if (!discarding)
                reply("error line too long");
            discarding = true;
            len = 0;
        }
    }
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"brokers", required_argument, NULL, 'b'}, {"topic", required_argument, NULL, 't'},
        {"port-file", required_argument, NULL, 'p'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char **topics = calloc((size_t)argc, sizeof *topics);
    const char *port_file = NULL, *boot;
    int ntopics = 0, rc = 2, sfd = -1, c;
    long brokers = 1;
    kafka_mock_t *km = NULL;
    char errstr[512];
    sigset_t sigs;

    if (!topics) {
        perror("kafka-mock");
        goto out;
    }
    while ((c = getopt_long(argc, argv, "b:t:p:h", opts, NULL)) != -1) {
        switch (c) {
        case 'b':
            if (!parse_long(optarg, 1, MAX_BROKERS, &brokers)) {
                fprintf(stderr, "kafka-mock: --brokers must be 1..%d\n", MAX_BROKERS);
                goto out;
            }
            break;
        case 't':
            topics[ntopics++] = optarg;
            break;
        case 'p':
            port_file = optarg;
            break;
        case 'h':
            fputs(usage, stdout);
            rc = 0;
            goto out;
        default:
            fputs(usage, stderr);
            goto out;
        }
    }
    if (optind < argc) {
        fputs(usage, stderr);
        goto out;
    }
    rc = 1;

    /* With fd 0 closed, the next socket librdkafka opens would become "stdin"
     * and be read as commands; park /dev/null there instead. */
    if (fcntl(STDIN_FILENO, F_GETFD) < 0 && open("/dev/null", O_RDONLY) != STDIN_FILENO) {
        perror("kafka-mock: /dev/null");
        goto out;
    }

    /* Block the stop signals before librdkafka starts its threads (they inherit
     * the mask), so only our signalfd ever sees them and shutdown runs in main. */
    if (sigemptyset(&sigs) || sigaddset(&sigs, SIGTERM) || sigaddset(&sigs, SIGINT) ||
        (errno = pthread_sigmask(SIG_BLOCK, &sigs, NULL)) ||
        (sfd = signalfd(-1, &sigs, SFD_CLOEXEC)) < 0) {
        perror("kafka-mock: signals");
        goto out;
    }

    if (kafka_mock_start((int)brokers, &km, errstr, sizeof errstr)) {
        fprintf(stderr, "kafka-mock: %s\n", errstr);
        goto out;
    }
    for (int i = 0; i < ntopics; i++) {
        const char *why = create_topic(km, topics[i]);
        if (why) {
            fprintf(stderr, "kafka-mock: --topic %s: %s\n", topics[i], why);
            goto out;
        }
    }
    boot = kafka_mock_bootstraps(km);
    if (port_file && write_port_file(port_file, boot))
        goto out;
    reply("%s", boot);

    rc = serve(km, sfd);

out:
    kafka_mock_stop(km);
    if (sfd >= 0)
        close(sfd);
    free(topics);
    return rc;
}
