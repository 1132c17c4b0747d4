/*
 * kafka-load: the load generator and latency probe behind scripts/bench-pipeline.
 *
 *   kafka-load produce -b BOOT -t TOPIC [--rate R] [--count N] [-X PROP=VAL]... FILE
 *   kafka-load latency -b BOOT -t TOPIC --count N [--group G] [--from-end]
 *                      [--timeout S] [-X PROP=VAL]...
 *
 * Why it exists: kcat can push a file into a topic, but it cannot pace
 * messages at a steady rate, cannot stretch a 15,000-line sample into a
 * million records with distinct keys, and cannot say how long a record took
 * from triaged's input to its output.  The pipeline benchmark needs all three.
 *
 * produce: each JSONL line of FILE is one message, key = its "id" (string or
 *   integer).  With --count above the number of lines the file is cycled, and
 *   every message then gets "-<n>" (n = its index, 0-based) appended to its id,
 *   in the key and in the value, so keys stay unique even where the file
 *   repeats an id.  The value is otherwise the line byte for byte.  --rate R
 *   paces R messages/s in 1 ms steps; without it, as fast as the client takes
 *   them.  linger.ms=5 and the default partitioner (by key).  Waits for every
 *   delivery report and prints one summary line; exit 1 if any failed.
 *
 * latency: reads TOPIC (all partitions, from the beginning or with --from-end
 *   only new messages; with --group through that consumer group) until N
 *   messages were seen or --timeout seconds passed.  Per message: latency =
 *   the message's Kafka timestamp (CreateTime, stamped by triaged's producer
 *   when it produced the output) - the "ts" field of its JSON value (for
 *   inputs without "ts", triaged copies the input message's CreateTime there).
 *   So it spans input produce -> triaged's output produce call; the output's
 *   own delivery is not in it.  A second line gives receive latency (this
 *   consumer's clock - "ts"), which includes delivery and fetch but is only
 *   meaningful when consuming while the records are produced.
 *
 * Exit status: 0 ok, 1 failure (delivery failures, timeout, Kafka errors),
 * 2 usage.
 */
#include "codec/jscan.h"
#include "core/tstamp.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_PROPS 64
#define TICK_NS 1000000L          /* pacing step: 1 ms */
#define FLUSH_TIMEOUT_MS 60000    /* after the last send, wait this long for delivery reports */

static const char usage_text[] =
    "usage: kafka-load produce -b BOOT -t TOPIC [--rate R] [--count N] [-X PROP=VAL]... FILE\n"
    "       kafka-load latency -b BOOT -t TOPIC --count N [--group G] [--from-end]\n"
    "                          [--timeout S] [-X PROP=VAL]...\n"
    "produce: FILE's JSONL lines as messages keyed by \"id\"; cycles the file up to N messages\n"
    "  (default: the file once), appending \"-<n>\" to the id when cycling; --rate R msgs/s\n"
    "  (default: as fast as possible). Prints messages, seconds, msgs/s, failures.\n"
    "latency: consumes N messages of TOPIC (default from the beginning; --timeout default 120 s)\n"
    "  and prints percentiles of (message timestamp - value's \"ts\") in ms.\n"
    "-X passes a librdkafka property to the client.\n";

/* Set from the signal handler: both commands stop early and still report. */
static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* ---- shared helpers ---- */

typedef struct opts {
    const char *brokers, *topic, *group, *file;
    double rate;
    uint64_t count;
    bool has_count, from_end;
    double timeout_s;
    const char *props[MAX_PROPS];
    int nprops;
} opts_t;

/* clock_gettime cannot fail for these two clocks with a valid pointer, so
 * the helpers stay plain expressions (EFAULT/EINVAL are the only errors). */
static double mono_s(void)
{
    struct timespec t;
    (void)clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int64_t wall_ms(void)
{
    struct timespec t;
    (void)clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static int set_prop(rd_kafka_conf_t *conf, const char *key, const char *val)
{
    char err[512];
    if (rd_kafka_conf_set(conf, key, val, err, sizeof err) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "kafka-load: %s=%s: %s\n", key, val, err);
        return -1;
    }
    return 0;
}

/* The user's -X properties go last so they override our defaults. */
static int apply_props(rd_kafka_conf_t *conf, const opts_t *o)
{
    for (int i = 0; i < o->nprops; i++) {
        char key[256];
        const char *eq = strchr(o->props[i], '=');
        size_t klen = eq ? (size_t)(eq - o->props[i]) : 0;
        if (!eq || klen == 0 || klen >= sizeof key) {
            fprintf(stderr, "kafka-load: -X %s: expected PROP=VALUE\n", o->props[i]);
            return -1;
        }
        memcpy(key, o->props[i], klen);
        key[klen] = '\0';
        if (set_prop(conf, key, eq + 1))
            return -1;
    }
    return 0;
}

static bool parse_u64(const char *s, uint64_t *out)
{
    char *end;
    if (!s || *s < '0' || *s > '9')
        return false;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

static bool parse_pos_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v > 0) || v > 1e9)
        return false;
    *out = v;
    return true;
}

/* ---- produce: the file and the id rewriting ---- */

/* One input line.  The raw span of the top-level id value is kept so a
 * cycled copy can be written as prefix + new id + suffix without
 * re-serializing the record (which would reorder or re-escape it). */
typedef struct line {
    const char *p;
    size_t len;
    size_t id_at, id_end;    /* p[id_at..id_end) is the id value as written */
    bool id_is_str;
    char *key;               /* the decoded id: the message key */
    size_t key_len;
} line_t;

static size_t skip_ws(const char *p, size_t n, size_t i)
{
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r'))
        i++;
    return i;
}

/* Finds the raw span of the value of top-level key `key` in the object
 * p[0..n), with the project's JSON scanner. */
static int find_top_key(const char *p, size_t n, const char *key, size_t *at, size_t *end)
{
    jscan_val_t v;
    if (jscan_scan_object(p, n, &key, 1, &v, NULL) || v.type == JSCAN_MISSING)
        return -1;
    *at = (size_t)(v.raw - p);
    *end = *at + v.raw_len;
    return 0;
}

/* Validates one line with jansson and fills in its key and id span. */
static int parse_line(line_t *l, size_t lineno, const char *file)
{
    json_error_t jerr;
    json_t *o = json_loadb(l->p, l->len, JSON_REJECT_DUPLICATES, &jerr), *id;
    int rc = -1;
    char num[32];

    if (!o) {
        fprintf(stderr, "kafka-load: %s:%zu: %s\n", file, lineno, jerr.text);
        return -1;
    }
    id = json_object_get(o, "id");
    if (!json_is_object(o) || !(json_is_string(id) || json_is_integer(id))) {
        fprintf(stderr, "kafka-load: %s:%zu: not an object with a string or integer \"id\"\n", file, lineno);
        goto out;
    }
    if (find_top_key(l->p, l->len, "id", &l->id_at, &l->id_end)) {
        /* e.g. the key spelled with \u escapes: valid JSON we cannot rewrite */
        fprintf(stderr, "kafka-load: %s:%zu: cannot locate the \"id\" field in the text\n", file, lineno);
        goto out;
    }
    l->id_is_str = json_is_string(id);
    if (l->id_is_str) {
        l->key_len = json_string_length(id);
        l->key = malloc(l->key_len + 1);
        if (l->key)
            memcpy(l->key, json_string_value(id), l->key_len + 1);
    } else {
        l->key_len = (size_t)snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(id));
        l->key = strdup(num);
    }
    if (!l->key) {
        fprintf(stderr, "kafka-load: out of memory\n");
        goto out;
    }
    rc = 0;
out:
    json_decref(o);
    return rc;
}

/* Reads FILE whole and splits it into non-blank lines.  *data owns the text
 * the lines point into. */
static int load_file(const char *file, char **data, line_t **lines, size_t *nlines)
{
    FILE *f = fopen(file, "rb");
    char *buf = NULL;
    size_t len = 0, cap = 0, n = 0, ncap = 0, lineno = 0;
    line_t *v = NULL;
    int rc = -1;

    if (!f) {
        fprintf(stderr, "kafka-load: %s: %s\n", file, strerror(errno));
        return -1;
    }
    for (;;) {
        if (len == cap) {
            size_t ncap2 = cap ? cap * 2 : 1 << 20;
            char *b = realloc(buf, ncap2);
            if (!b) {
                fprintf(stderr, "kafka-load: %s: out of memory\n", file);
                goto out;
            }
            buf = b;
            cap = ncap2;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) {
            if (ferror(f)) {
                fprintf(stderr, "kafka-load: %s: read error\n", file);
                goto out;
            }
            break;
        }
    }
    for (size_t i = 0; i < len;) {
        const char *nl = memchr(buf + i, '\n', len - i);
        size_t e = nl ? (size_t)(nl - buf) : len, le = e;
        lineno++;
        while (le > i && (buf[le - 1] == '\r' || buf[le - 1] == ' ' || buf[le - 1] == '\t'))
            le--;
        if (skip_ws(buf, le, i) < le) { /* blank lines are skipped */
            if (n == ncap) {
                line_t *nv = buf_grow(v, &ncap, sizeof *nv, 1024);
                if (!nv) {
                    fprintf(stderr, "kafka-load: %s: out of memory\n", file);
                    goto out;
                }
                v = nv;
            }
            size_t s0 = skip_ws(buf, le, i);
            memset(&v[n], 0, sizeof v[n]);
            v[n].p = buf + s0;
            v[n].len = le - s0;
            if (parse_line(&v[n], lineno, file))
                goto out;
            n++;
        }
        i = e + 1;
    }
    if (n == 0) {
        fprintf(stderr, "kafka-load: %s: no records\n", file);
        goto out;
    }
    rc = 0;
out:
    if (fclose(f) != 0 && rc == 0) {
        fprintf(stderr, "kafka-load: %s: %s\n", file, strerror(errno));
        rc = -1;
    }
    if (rc) {
        for (size_t k = 0; k < n; k++)
            free(v[k].key);
        free(v);
        free(buf);
        return rc;
    }
    *data = buf;
    *lines = v;
    *nlines = n;
    return 0;
}

/* ---- produce ---- */

typedef struct prod {
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    const line_t *lines;
    size_t nlines;
    bool cycle;
    char *val, *key;          /* scratch for rewritten messages */
    size_t val_cap, key_cap;
    uint64_t sent, delivered, failed;
    rd_kafka_resp_err_t first_err;
} prod_t;

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    prod_t *pr = opaque;
    if (m->err) {
        if (!pr->failed)
            pr->first_err = m->err;
        pr->failed++;
    } else {
        pr->delivered++;
    }
}

static int grow(char **p, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 1024;
    while (c < need)
        c *= 2;
    char *np = realloc(*p, c);
    if (!np)
        return -1;
    *p = np;
    *cap = c;
    return 0;
}

/* Produces message number n.  Returns 0, or -1 on a permanent error (it is
 * counted as a failure; the caller goes on).  A full local queue is waited
 * out here, serving delivery reports meanwhile. */
static int send_one(prod_t *pr, uint64_t n)
{
    const line_t *l = &pr->lines[n % pr->nlines];
    const char *key = l->key, *val = l->p;
    size_t klen = l->key_len, vlen = l->len;

    if (pr->cycle) {
        char sfx[24];
        size_t slen = (size_t)snprintf(sfx, sizeof sfx, "-%" PRIu64, n);
        /* a string id loses its closing quote here; an integer id becomes a
         * string, since "-n" cannot be appended to a number */
        size_t head = l->id_is_str ? l->id_end - 1 : l->id_at;
        const char *mid = l->id_is_str ? "" : "\"";
        const char *idraw = l->id_is_str ? "" : l->p + l->id_at;
        size_t idraw_len = l->id_is_str ? 0 : l->id_end - l->id_at;
        vlen = head + strlen(mid) + idraw_len + slen + 1 + (l->len - l->id_end);
        klen = l->key_len + slen;
        if (grow(&pr->val, &pr->val_cap, vlen) || grow(&pr->key, &pr->key_cap, klen)) {
            fprintf(stderr, "kafka-load: out of memory\n");
            return -1;
        }
        char *w = pr->val;
        memcpy(w, l->p, head);
        w += head;
        memcpy(w, mid, strlen(mid));
        w += strlen(mid);
        memcpy(w, idraw, idraw_len);
        w += idraw_len;
        memcpy(w, sfx, slen);
        w += slen;
        *w++ = '"';
        memcpy(w, l->p + l->id_end, l->len - l->id_end);
        memcpy(pr->key, l->key, l->key_len);
        memcpy(pr->key + l->key_len, sfx, slen);
        key = pr->key;
        val = pr->val;
    }
    for (;;) {
        if (rd_kafka_produce(pr->rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, (void *)val, vlen, key, klen,
                             NULL) == 0) {
            pr->sent++;
            return 0;
        }
        rd_kafka_resp_err_t e = rd_kafka_last_error();
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            if (!pr->failed)
                pr->first_err = e;
            pr->failed++;
            return -1;
        }
        rd_kafka_poll(pr->rk, 10); /* let deliveries make room */
    }
}

static int cmd_produce(const opts_t *o)
{
    char *data = NULL, errstr[512];
    line_t *lines = NULL;
    size_t nlines = 0;
    prod_t pr = {0};
    rd_kafka_conf_t *conf = NULL;
    int rc = 1;
    uint64_t n = 0;

    if (load_file(o->file, &data, &lines, &nlines))
        goto out;
    uint64_t count = o->has_count ? o->count : nlines;
    pr.lines = lines;
    pr.nlines = nlines;
    pr.cycle = count > nlines;

    conf = rd_kafka_conf_new();
    if (set_prop(conf, "bootstrap.servers", o->brokers) || set_prop(conf, "linger.ms", "5") ||
        set_prop(conf, "client.id", "kafka-load") || apply_props(conf, o))
        goto out;
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set_opaque(conf, &pr);
    if (!(pr.rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr))) {
        fprintf(stderr, "kafka-load: producer: %s\n", errstr);
        goto out;
    }
    conf = NULL; /* owned by the handle now */
    if (!(pr.rkt = rd_kafka_topic_new(pr.rk, o->topic, NULL))) {
        fprintf(stderr, "kafka-load: topic %s: %s\n", o->topic, rd_kafka_err2str(rd_kafka_last_error()));
        goto out;
    }

    double t0 = mono_s();
    if (o->rate > 0) {
        /* Smooth pacing: every 1 ms send what is due by now, so the broker
         * sees a steady stream rather than one burst per second.  If we fall
         * behind, the next step catches up. */
        struct timespec next;
        if (clock_gettime(CLOCK_MONOTONIC, &next)) {
            perror("kafka-load: clock_gettime");
            goto out;
        }
        while (n < count && !stop_requested) {
            double due_f = (mono_s() - t0) * o->rate + 1;
            uint64_t due = due_f >= (double)count ? count : (uint64_t)due_f;
            for (; n < due && !stop_requested; n++)
                (void)send_one(&pr, n); /* failures are counted, reported at the end */
            rd_kafka_poll(pr.rk, 0);
            next.tv_nsec += TICK_NS;
            if (next.tv_nsec >= 1000000000L) {
                next.tv_nsec -= 1000000000L;
                next.tv_sec++;
            }
            int e = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
            if (e && e != EINTR) {
                fprintf(stderr, "kafka-load: clock_nanosleep: %s\n", strerror(e));
                goto out;
            }
        }
    } else {
        for (; n < count && !stop_requested; n++) {
            (void)send_one(&pr, n); /* failures are counted, reported at the end */
            if ((n & 1023) == 0)
                rd_kafka_poll(pr.rk, 0);
        }
    }

    /* Every delivery report, or give up after FLUSH_TIMEOUT_MS: what is
     * still queued then is purged and reported as failed. */
    double flush_end = mono_s() + FLUSH_TIMEOUT_MS / 1000.0;
    while (rd_kafka_outq_len(pr.rk) > 0 && mono_s() < flush_end && !stop_requested)
        rd_kafka_poll(pr.rk, 100);
    if (rd_kafka_outq_len(pr.rk) > 0) {
        rd_kafka_resp_err_t e = rd_kafka_purge(pr.rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        if (e)
            fprintf(stderr, "kafka-load: purge: %s\n", rd_kafka_err2str(e));
        rd_kafka_poll(pr.rk, 0); /* serves the purged messages' reports */
    }
    double secs = mono_s() - t0;
    uint64_t failed = n - pr.delivered; /* not delivered, for whatever reason */
    printf("kafka-load produce: topic=%s messages=%" PRIu64 " seconds=%.3f msgs_per_s=%.0f failures=%" PRIu64 "\n",
           o->topic, pr.delivered, secs, secs > 0 ? (double)pr.delivered / secs : 0.0, failed);
    if (pr.failed)
        fprintf(stderr, "kafka-load: first failure: %s\n", rd_kafka_err2str(pr.first_err));
    if (fflush(stdout) == EOF) {
        perror("kafka-load: stdout");
        goto out;
    }
    rc = failed || n < count ? 1 : 0;
out:
    if (conf)
        rd_kafka_conf_destroy(conf);
    if (pr.rkt)
        rd_kafka_topic_destroy(pr.rkt);
    if (pr.rk)
        rd_kafka_destroy(pr.rk);
    free(pr.val);
    free(pr.key);
    for (size_t i = 0; i < nlines; i++)
        free(lines[i].key);
    free(lines);
    free(data);
    return rc;
}

/* ---- latency ---- */

/* The "ts" of a JSON message value, in epoch ms. */
static int value_ts(const void *payload, size_t len, int64_t *ms)
{
    json_t *o = json_loadb(payload, len, 0, NULL);
    json_t *ts = o ? json_object_get(o, "ts") : NULL;
    int rc = json_is_string(ts) ? tstamp_parse(json_string_value(ts), json_string_length(ts), ms) : -1;
    json_decref(o);
    return rc;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of a sorted array. */
static int64_t pct(const int64_t *v, size_t n, double p)
{
    size_t r = (size_t)((p / 100.0) * (double)n + 0.999999);
    return v[r ? r - 1 : 0];
}

/* Assigns every partition of the topic at the start or the end; used when
 * no group is wanted, so nothing waits on a rebalance. */
static int assign_all(rd_kafka_t *rk, const char *topic, bool from_end)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_partition_list_t *l = NULL;
    rd_kafka_resp_err_t e;
    int rc = -1;

    if (!rkt) {
        fprintf(stderr, "kafka-load: topic %s: %s\n", topic, rd_kafka_err2str(rd_kafka_last_error()));
        return -1;
    }
    if ((e = rd_kafka_metadata(rk, 0, rkt, &md, 10000))) {
        fprintf(stderr, "kafka-load: metadata for %s: %s\n", topic, rd_kafka_err2str(e));
        goto out;
    }
    if (md->topic_cnt != 1 || md->topics[0].err || md->topics[0].partition_cnt < 1) {
        fprintf(stderr, "kafka-load: topic %s: %s\n", topic,
                rd_kafka_err2str(md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC));
        goto out;
    }
    l = rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt);
    for (int i = 0; i < md->topics[0].partition_cnt; i++)
        rd_kafka_topic_partition_list_add(l, topic, md->topics[0].partitions[i].id)->offset =
            from_end ? RD_KAFKA_OFFSET_END : RD_KAFKA_OFFSET_BEGINNING;
    if ((e = rd_kafka_assign(rk, l))) {
        fprintf(stderr, "kafka-load: assign: %s\n", rd_kafka_err2str(e));
        goto out;
    }
    rc = 0;
out:
    if (l)
        rd_kafka_topic_partition_list_destroy(l);
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return rc;
}

static int cmd_latency(const opts_t *o)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk = NULL;
    int64_t *lat = NULL, *recv = NULL;
    uint64_t seen = 0, bad = 0, errors = 0;
    int rc = 1;
    char errstr[512], group[64];

    /* One extra slot per array so a zero count still allocates. */
    if (!(lat = malloc((o->count + 1) * sizeof *lat)) || !(recv = malloc((o->count + 1) * sizeof *recv))) {
        fprintf(stderr, "kafka-load: out of memory\n");
        goto out;
    }
    /* Without --group a throw-away group id: librdkafka wants one for the
     * consumer, but with assign() and no commits it is never used. */
    snprintf(group, sizeof group, "kafka-load-%ld", (long)getpid());
    if (set_prop(conf, "bootstrap.servers", o->brokers) || set_prop(conf, "client.id", "kafka-load") ||
        set_prop(conf, "group.id", o->group ? o->group : group) || set_prop(conf, "enable.auto.commit", "false") ||
        set_prop(conf, "auto.offset.reset", o->from_end ? "latest" : "earliest") ||
        set_prop(conf, "enable.partition.eof", "false") || apply_props(conf, o))
        goto out;
    if (!(rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr))) {
        fprintf(stderr, "kafka-load: consumer: %s\n", errstr);
        goto out;
    }
    conf = NULL;
    rd_kafka_resp_err_t perr = rd_kafka_poll_set_consumer(rk);
    if (perr) {
        fprintf(stderr, "kafka-load: poll_set_consumer: %s\n", rd_kafka_err2str(perr));
        goto out;
    }
    if (o->group) {
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, o->topic, RD_KAFKA_PARTITION_UA);
        rd_kafka_resp_err_t e = rd_kafka_subscribe(rk, l);
        rd_kafka_topic_partition_list_destroy(l);
        if (e) {
            fprintf(stderr, "kafka-load: subscribe: %s\n", rd_kafka_err2str(e));
            goto out;
        }
    } else if (assign_all(rk, o->topic, o->from_end)) {
        goto out;
    }

    double deadline = mono_s() + o->timeout_s;
    while (seen < o->count && !stop_requested && mono_s() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m)
            continue;
        if (m->err) {
            /* Transient (the client retries) unless fatal; report a few. */
            if (++errors <= 5)
                fprintf(stderr, "kafka-load: consume: %s\n", rd_kafka_message_errstr(m));
            bool fatal = m->err == RD_KAFKA_RESP_ERR__FATAL;
            rd_kafka_message_destroy(m);
            if (fatal)
                break;
            continue;
        }
        int64_t now = wall_ms(), ts;
        rd_kafka_timestamp_type_t tstype;
        int64_t kts = rd_kafka_message_timestamp(m, &tstype);
        if (tstype == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE || value_ts(m->payload, m->len, &ts)) {
            bad++;
        } else {
            lat[seen - bad] = kts - ts;
            recv[seen - bad] = now - ts;
        }
        seen++;
        rd_kafka_message_destroy(m);
    }

    size_t n = (size_t)(seen - bad);
    if (n) {
        qsort(lat, n, sizeof *lat, cmp_i64);
        qsort(recv, n, sizeof *recv, cmp_i64);
        printf("kafka-load latency: topic=%s count=%" PRIu64 " bad=%" PRIu64 " p50_ms=%" PRId64 " p90_ms=%" PRId64
               " p99_ms=%" PRId64 " max_ms=%" PRId64 "\n",
               o->topic, seen, bad, pct(lat, n, 50), pct(lat, n, 90), pct(lat, n, 99), lat[n - 1]);
        printf("kafka-load latency (receive, this consumer's clock - ts): recv_p50_ms=%" PRId64 " recv_p90_ms=%" PRId64
               " recv_p99_ms=%" PRId64 " recv_max_ms=%" PRId64 "\n",
               pct(recv, n, 50), pct(recv, n, 90), pct(recv, n, 99), recv[n - 1]);
    } else {
        printf("kafka-load latency: topic=%s count=%" PRIu64 " bad=%" PRIu64 " (no latencies)\n", o->topic, seen, bad);
    }
    if (fflush(stdout) == EOF) {
        perror("kafka-load: stdout");
        goto out;
    }
    if (seen < o->count)
        fprintf(stderr, "kafka-load: saw %" PRIu64 " of %" PRIu64 " messages (%s)\n", seen, o->count,
                stop_requested ? "interrupted" : "timeout");
    rc = seen < o->count || bad ? 1 : 0;
out:
    if (conf)
        rd_kafka_conf_destroy(conf);
    if (rk) {
        rd_kafka_resp_err_t e = rd_kafka_consumer_close(rk);
        if (e)
            fprintf(stderr, "kafka-load: close: %s\n", rd_kafka_err2str(e));
        rd_kafka_destroy(rk);
    }
    free(lat);
    free(recv);
    return rc;
}

/* ---- main ---- */

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"brokers", required_argument, NULL, 'b'}, {"topic", required_argument, NULL, 't'},
        {"rate", required_argument, NULL, 'r'},    {"count", required_argument, NULL, 'n'},
        {"group", required_argument, NULL, 'g'},   {"from-end", no_argument, NULL, 'e'},
        {"timeout", required_argument, NULL, 'T'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    opts_t o = {.timeout_s = 120};
    bool produce;
    int c;
    struct sigaction sa;

    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        fputs(usage_text, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    produce = !strcmp(argv[1], "produce");
    if (!produce && strcmp(argv[1], "latency")) {
        fprintf(stderr, "kafka-load: unknown command '%s'\n%s", argv[1], usage_text);
        return 2;
    }
    /* getopt sees the subcommand as its argv[0]. */
    while ((c = getopt_long(argc - 1, argv + 1, "b:t:r:n:g:eT:X:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'b': o.brokers = optarg; break;
        case 't': o.topic = optarg; break;
        case 'g': o.group = optarg; break;
        case 'e': o.from_end = true; break;
        case 'r':
            if (!parse_pos_double(optarg, &o.rate)) {
                fprintf(stderr, "kafka-load: --rate wants a positive number\n");
                return 2;
            }
            break;
        case 'T':
            if (!parse_pos_double(optarg, &o.timeout_s)) {
                fprintf(stderr, "kafka-load: --timeout wants positive seconds\n");
                return 2;
            }
            break;
        case 'n':
            if (!parse_u64(optarg, &o.count) || o.count == 0) {
                fprintf(stderr, "kafka-load: --count wants a positive integer\n");
                return 2;
            }
            o.has_count = true;
            break;
        case 'X':
            if (o.nprops == MAX_PROPS) {
                fprintf(stderr, "kafka-load: at most %d -X options\n", MAX_PROPS);
                return 2;
            }
            o.props[o.nprops++] = optarg;
            break;
        case 'h': fputs(usage_text, stdout); return 0;
        default: fputs(usage_text, stderr); return 2;
        }
    }
    int rest = argc - 1 - optind;
    if (!o.brokers || !o.topic || (produce ? rest != 1 : rest != 0) || (!produce && !o.has_count) ||
        (!produce && o.rate > 0) || (produce && (o.group || o.from_end))) {
        fputs(usage_text, stderr);
        return 2;
    }
    if (produce)
        o.file = argv[1 + optind];

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    if (sigemptyset(&sa.sa_mask) || sigaction(SIGINT, &sa, NULL) || sigaction(SIGTERM, &sa, NULL)) {
        perror("kafka-load: sigaction");
        return 1;
    }
    return produce ? cmd_produce(&o) : cmd_latency(&o);
}
