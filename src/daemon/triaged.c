/* triaged — the daemon: wiring only. Configuration (cfg), logging (log_event), the
 * embedded Kafka (kafka_mock), the model registry, the classify pipeline,
 * the alarms role, metrics and the admin server meet here and nowhere
 * else; each module knows only the ones below it.
 *
 * Exit status: 0 after a clean stop (SIGTERM/SIGINT), 1 after a fatal
 * runtime error, 2 for a bad configuration. */
#include "io/admin.h"
#include "daemon/alarms.h"
#include "daemon/classify_api.h"
#include "daemon/feedback.h"
#include "io/cfg.h"
#include "io/kafka.h"
#include "io/kafka_mock.h"
#include "io/consumer.h"
#include "io/producer.h"
#include "codec/rec.h"
#include "daemon/metrics.h"
#include "daemon/pipeline.h"
#include "daemon/registry.h"
#include "daemon/shadow.h"
#include "status_page.h"
#include "io/log.h"
#include "core/tstamp.h"
#include "core/tri_err.h"
#include "core/version.h"

#include <getopt.h>
#include <math.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

typedef struct daemon {
    uv_loop_t *loop;
    cfg_t *cfg;
    kafka_mock_t *mock;
    char *bootstrap;
    metrics_t *met;
    admin_t *adm;
    classify_api_t *api;       /* POST /classify on the admin server */
    registry_t *reg;
    pipeline_t *pl;
    alarms_t *alr;
    feedback_t *fb;            /* feedback.topic consumer (with the alarms role) */
    rec_schema_t fbs;          /* feedback records' text fields, to score them with the challenger */
    char *fbs_text;
    int classify, alarms;      /* roles this process runs */
    int pending_stops;
    uint64_t last_in, last_out, last_snap_ns;
    double in_rate, out_rate;
    uv_signal_t sigterm, sigint, sighup;
    uv_timer_t snap;
    int stopping, exit_code;
    metrics_family_t *f_up, *f_ready;
} daemon_t;

static void usage(FILE *f)
{
    fprintf(f, "usage: triaged [-c FILE] [--set KEY=VALUE]... [--check-config | --print-config]\n"
               "       triaged --config-doc      print every configuration key, documented\n"
               "  --check-config   validate the configuration (and reach nothing), print \"configuration ok\", exit\n"
               "  --print-config   print the effective configuration (secrets masked) and exit\n"
               "Consumes JSON records from Kafka, classifies them in batches, publishes id + label.\n"
               "Without -c, the defaults apply: an embedded Kafka mock cluster and model.source\n"
               "from --set. Signals: TERM/INT stop cleanly, HUP re-checks the model and reopens the log.\n");
}

/* Everything start-up refuses in the configuration, checked before anything
 * starts: --check-config and a real start agree, and both exit 2. Each
 * module checks its own part with the code it starts with. */
static int check_config(const daemon_t *d, char *err, size_t errlen)
{
    const cfg_t *cfg = d->cfg;
    const char *boot = cfg_str(cfg, "kafka.bootstrap.servers");
    /* The embedded cluster's address is known only once it runs. */
    if (!strcmp(boot, "embedded"))
        boot = "127.0.0.1:9092";
    char e[TRI_ERRLEN];
    int rc;
    if ((d->classify || *cfg_str(cfg, "model.source")) && (rc = registry_check_config(cfg, err, errlen)))
        return rc;
    static const char *const topics[] = {"output.topic", "output.dlq.topic", "alarms.topic"};
    for (size_t i = 0; i < sizeof topics / sizeof *topics; i++)
        if (!*cfg_str(cfg, topics[i]))
            return tri_errf(err, errlen, TRI_EINVAL, "%s: %s is empty", cfg_origin(cfg, topics[i]), topics[i]);
    if (d->classify) {
        rec_schema_t schema;
        char *list = strdup(cfg_str(cfg, "input.text.fields"));
        if (!list)
            return tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
        rc = rec_schema_set_text(&schema, list, e, sizeof e);
        free(list);
        if (rc)
            return tri_errf(err, errlen, TRI_EINVAL, "%s: input.text.fields: %s", cfg_origin(cfg, "input.text.fields"), e);
        if (!(list = strdup(cfg_str(cfg, "output.passthrough.fields"))))
            return tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
        rc = rec_schema_set_passthrough(&schema, list, e, sizeof e);
        free(list);
        if (rc)
            return tri_errf(err, errlen, TRI_EINVAL, "%s: output.passthrough.fields: %s",
                            cfg_origin(cfg, "output.passthrough.fields"), e);
        if (consumer_check_topics(cfg_str(cfg, "input.topics"), e, sizeof e))
            return tri_errf(err, errlen, TRI_EINVAL, "%s: input.topics: %s", cfg_origin(cfg, "input.topics"), e);
        consumer_opts_t ko = {cfg_str(cfg, "input.group"), cfg_str(cfg, "input.assignment"),
                              cfg_int(cfg, "input.commit.interval.ms")};
        if ((rc = consumer_check(cfg, &ko, boot, err, errlen)))
            return rc;
    }
    if (d->alarms && (rc = alarms_check_config(cfg, err, errlen)))
        return rc;
    if (d->alarms) {
        consumer_opts_t ko = {cfg_str(cfg, "alarms.group"), cfg_str(cfg, "input.assignment"), 0};
        if ((rc = consumer_check(cfg, &ko, boot, err, errlen)) || (rc = feedback_check_config(cfg, boot, err, errlen)))
            return rc;
    }
    size_t max_message = 0;
    if ((rc = producer_check(cfg, boot, &max_message, err, errlen)))
        return rc;
    /* A dead letter that cannot fit would be refused for good: the record
     * behind it could never be stored, and its partition would stall. */
    size_t dlq_max = (size_t)cfg_int(cfg, "output.dlq.payload.max.bytes");
    if (dlq_max + REC_DEAD_OVERHEAD > max_message)
        return tri_errf(err, errlen, TRI_EINVAL,
                        "%s: output.dlq.payload.max.bytes %zu plus %d bytes of dead-letter fields exceeds the "
                        "producer's message.max.bytes %zu",
                        cfg_origin(cfg, "output.dlq.payload.max.bytes"), dlq_max, REC_DEAD_OVERHEAD, max_message);
    const char *listen = cfg_str(cfg, "admin.listen");
    int admin_on = strcmp(listen, "off") && *listen;
    if (admin_on && admin_check_listen(listen, e, sizeof e))
        return tri_errf(err, errlen, TRI_EINVAL, "%s: %s", cfg_origin(cfg, "admin.listen"), e);
    /* A revoke blocks the loop for up to the flush timeout (pipeline.h);
     * /healthz must stay 200 through it. */
    long long flush = (long long)cfg_int(cfg, "output.flush.timeout.ms");
    if (d->classify && admin_on && flush > PIPELINE_MAX_FLUSH_MS)
        return tri_errf(err, errlen, TRI_EINVAL,
                        "%s: output.flush.timeout.ms %lld is above %d: a rebalance blocks the event loop for this "
                        "wait plus a batch's classification, and /healthz reports a loop silent for %d ms as "
                        "unhealthy (admin.listen = off lifts the limit)",
                        cfg_origin(cfg, "output.flush.timeout.ms"), flush, PIPELINE_MAX_FLUSH_MS, ADMIN_STALL_MS);
    return 0;
}

static json_t *ts_now_json(void)
{
    char t[40];
    tstamp_format(tstamp_now_ms(), t, sizeof t);
    return json_string(t);
}

/* A model's live accuracy on feedback, or NULL when it has none. */
static json_t *live_accuracy(daemon_t *d, registry_model_t *m)
{
    char tag[600];
    snprintf(tag, sizeof tag, "%s@%s", registry_model_name(m), registry_model_version(m));
    const acc_model_t *a = feedback_model(d->fb, tag);
    if (!a || !a->n)
        return NULL;
    return json_pack("{s:s,s:I,s:I,s:f}", "model", tag, "records", (json_int_t)a->n, "right", (json_int_t)a->right,
                     "accuracy", (double)a->right / (double)a->n);
}

/* The challenger's shadow figures (classify role) and, where feedback is
 * consumed here, its live accuracy beside the champion's on the same feedback. */
static void challenger_status(daemon_t *d, json_t *o)
{
    json_t *c = d->pl ? pipeline_challenger_json(d->pl) : json_null();
    registry_model_t *chal = d->reg ? registry_challenger(d->reg) : NULL, *cur = d->reg ? registry_current(d->reg) : NULL;
    if (d->fb && chal) {
        if (!json_is_object(c)) {
            json_decref(c);
            c = json_object();
        }
        json_t *ca = live_accuracy(d, chal), *pa = cur ? live_accuracy(d, cur) : NULL;
        json_object_set_new(c, "feedback", json_pack("{s:o?,s:o?}", "challenger", ca, "champion", pa));
    }
    json_object_set_new(o, "challenger", c);
}

/* /api/status: what the status page draws. Built on the loop from the
 * modules' snapshots; the admin thread only serves the text. */
static json_t *status_json(daemon_t *d, const pipeline_status_t *st)
{
    json_t *o = d->alr ? alarms_status(d->alr) : json_object();
    json_t *wm = json_object_get(o, "watermark");
    json_object_set_new(o, "now", json_is_string(wm) ? json_incref(wm) : ts_now_json());
    json_object_set_new(o, "wall_clock", ts_now_json());
    json_object_set_new(o, "role", json_string(cfg_str(d->cfg, "role")));
    registry_model_t *cur = d->reg ? registry_current(d->reg) : NULL;
    if (cur) {
        char t[40];
        tstamp_format(registry_model_loaded_ms(cur), t, sizeof t);
        json_object_set_new(o, "model", json_pack("{s:s,s:s,s:s}", "name", registry_model_name(cur), "version",
                                                  registry_model_version(cur), "loaded_at", t));
    } else {
        json_object_set_new(o, "model", json_null());
    }
    if (d->fb)
        json_object_set_new(o, "feedback", feedback_status(d->fb));
    if (d->pl) {
        json_object_set_new(o, "throughput", json_pack("{s:f,s:f,s:I,s:I,s:I}", "in_per_s", d->in_rate, "out_per_s",
                                                       d->out_rate, "records_in", (json_int_t)st->in, "records_out",
                                                       (json_int_t)st->out, "dead_lettered", (json_int_t)st->dead));
        json_object_set_new(o, "lag", pipeline_lag_json(d->pl));
    }
    challenger_status(d, o);
    return o;
}

static void publish_status(daemon_t *d)
{
    pipeline_status_t st = {0};
    if (d->pl) {
        pipeline_status(d->pl, &st);
        pipeline_refresh_metrics(d->pl);
        uint64_t now = uv_hrtime();
        if (d->last_snap_ns) {
            double dt = (double)(now - d->last_snap_ns) / 1e9;
            if (dt > 0.2) {
                d->in_rate = (double)(st.in - d->last_in) / dt;
                d->out_rate = (double)(st.out + st.dead - d->last_out) / dt;
            }
        }
        d->last_snap_ns = now;
        d->last_in = st.in;
        d->last_out = st.out + st.dead;
    }
    registry_model_t *cur = d->reg ? registry_current(d->reg) : NULL;
    if (!d->adm)
        return;
    json_t *status = status_json(d, &st);
    char *sj = json_dumps(status, JSON_COMPACT | JSON_REAL_PRECISION(6));
    json_decref(status);
    if (sj) {
        admin_publish(d->adm, "/api/status", 200, "application/json", sj, strlen(sj));
        free(sj);
    }
    int ready = d->classify ? cur && st.started && (st.assigned || st.joined) && st.producer_ok && !d->stopping
                            : d->alr && !d->stopping;
    metrics_set(metrics_series0(d->f_ready), ready);
    if (d->fb)
        feedback_refresh_metrics(d->fb);
    buf_t b = BUF_INIT;
    metrics_render(d->met, &b);
    admin_publish(d->adm, "/metrics", 200, "text/plain; version=0.0.4; charset=utf-8", b.p ? b.p : "", b.len);
    buf_reset(&b);
    if (d->classify)
        buf_printf(&b, "%s\nmodel: %s\nconsumer: %s (%d partitions)\nproducer: %s\n", ready ? "ready" : "not ready",
                   cur ? registry_model_version(cur) : "none loaded", st.joined ? "in group" : st.started ? "joining" : "not started",
                   st.assigned, st.fatal ? st.fatal_msg : st.producer_ok ? "ok" : "deliveries failing");
    else
        buf_printf(&b, "%s\nrole: alarms\n", ready ? "ready" : "not ready");
    admin_publish(d->adm, "/readyz", ready ? 200 : 503, "text/plain; charset=utf-8", b.p, b.len);
    buf_free(&b);
    admin_heartbeat(d->adm);
}

static void on_snap(uv_timer_t *t)
{
    daemon_t *d = t->data;
    publish_status(d);
    char msg[256];
    if (!d->stopping && ((d->alr && alarms_fatal(d->alr, msg, sizeof msg)) ||
                         (d->fb && feedback_fatal(d->fb, msg, sizeof msg)))) {
        log_event(LOG_LEVEL_ERROR, "fatal", "msg=%s", log_q(msg));
        d->exit_code = 1;
        raise(SIGTERM);
    }
}

/* Called from inside the pipeline's callbacks: the stop is only scheduled
 * (the signal is served by the loop afterwards). */
static void on_pipeline_fatal(void *ctx, const char *msg)
{
    daemon_t *d = ctx;
    log_event(LOG_LEVEL_ERROR, "fatal", "msg=%s", log_q(msg));
    d->exit_code = 1;
    if (!d->stopping)
        raise(SIGTERM);
}

static void on_role_stopped(void *ctx)
{
    daemon_t *d = ctx;
    if (--d->pending_stops == 0)
        uv_stop(d->loop);
}

static void begin_stop(daemon_t *d, const char *why)
{
    if (d->stopping)
        return;
    d->stopping = 1;
    log_event(LOG_LEVEL_INFO, "stopping", "reason=%s", why);
    publish_status(d);
    if (d->reg)
        registry_close(d->reg);
    d->pending_stops = (d->pl ? 1 : 0) + (d->alr ? 1 : 0) + (d->fb ? 1 : 0);
    if (d->fb)
        feedback_stop(d->fb, on_role_stopped, d);
    if (d->pl)
        pipeline_stop(d->pl, on_role_stopped, d);
    if (d->alr)
        alarms_stop(d->alr, on_role_stopped, d);
    if (!d->pending_stops)
        uv_stop(d->loop);
}

static void on_signal(uv_signal_t *h, int sig)
{
    daemon_t *d = h->data;
    if (sig == SIGHUP) {
        char err[TRI_ERRLEN];
        if (log_reopen(err, sizeof err))
            log_event(LOG_LEVEL_ERROR, "log_reopen_failed", "msg=%s", log_q(err));
        log_event(LOG_LEVEL_INFO, "sighup", "action=%s", log_q("re-check model, reopen log"));
        if (d->reg)
            registry_check_now(d->reg);
        return;
    }
    begin_stop(d, sig == SIGTERM ? "SIGTERM" : "SIGINT");
}

/* The serving model's held-out accuracy, the feedback alarm's reference. */
static void feedback_model_in(daemon_t *d, registry_model_t *m)
{
    char tag[600];
    snprintf(tag, sizeof tag, "%s@%s", registry_model_name(m), registry_model_version(m));
    json_t *acc = json_object_get(json_object_get(model_meta(registry_model_model(m)), "holdout"), "accuracy");
    feedback_set_holdout(d->fb, tag, json_is_number(acc) ? json_number_value(acc) : NAN);
}

static void on_model(void *ctx, registry_model_t *m)
{
    daemon_t *d = ctx;
    if (d->alr)
        alarms_set_model(d->alr, m);
    if (d->fb)
        feedback_model_in(d, m);
    if (d->api)
        classify_api_set_model(d->api, m);
    if (!d->classify || d->pl || d->stopping)
        return;
    /* The first model is in: only now join the group, so a worker without a
     * model never takes partitions from one that has it. */
    char err[TRI_ERRLEN];
    pipeline_hooks_t ph = {on_pipeline_fatal, d};
    if (pipeline_new(d->loop, d->cfg, d->bootstrap, d->met, &ph, &d->pl, err, sizeof err) ||
        pipeline_start(d->pl, d->reg, err, sizeof err)) {
        log_event(LOG_LEVEL_ERROR, "fatal", "msg=%s", log_q(err));
        fprintf(stderr, "triaged: %s\n", err);
        d->exit_code = 1;
        begin_stop(d, "startup failure");
    }
}

static void on_feedback_alarm(void *ctx, const detector_event_t *ev)
{
    daemon_t *d = ctx;
    if (d->alr)
        alarms_publish(d->alr, ev);
}

/* Feedback scores the challenger too: its label for the feedback's text
 * against the one the agent settled on, tallied under its NAME@VERSION, so
 * triage_feedback_accuracy{model} and the status page give its live accuracy
 * beside the champion's. Only feedback on the default model's records (the
 * challenger would replace it, not an account's own). On the loop: feedback
 * is a record per handled ticket, a scoring costs tens of microseconds. */
static void on_feedback_record(void *ctx, const fb_rec_t *r)
{
    daemon_t *d = ctx;
    registry_model_t *c = d->reg ? registry_challenger(d->reg) : NULL;
    if (!c || !d->fb || (r->model && !strncmp(r->model, "accounts/", 9)))
        return;
    int l = shadow_score_one(c, &d->fbs, &r->rec);
    char tag[600];
    snprintf(tag, sizeof tag, "%s@%s", registry_model_name(c), registry_model_version(c));
    /* No text left for the challenger's preparation: a wrong answer. */
    const char *predicted = l >= 0 ? model_label(registry_model_model(c), (uint32_t)l) : "";
    if (feedback_tally(d->fb, tag, r->label, predicted))
        log_event(LOG_LEVEL_WARN, "feedback_challenger_untallied", "model=%s msg=%s", log_q(tag), log_q("out of memory"));
}

/* The feedback consumer, with the alarms role (one judge sees all feedback,
 * as one detector sees all traffic), when feedback.topic is set. */
static int start_feedback(daemon_t *d, char *err, size_t errlen)
{
    const char *topic = cfg_str(d->cfg, "feedback.topic");
    if (!*topic)
        return 0;
    if (!d->alarms) {
        log_event(LOG_LEVEL_INFO, "feedback_not_consumed", "reason=%s",
                  log_q("feedback.topic is consumed by the alarms role (role alarms or all)"));
        return 0;
    }
    if (!(d->fbs_text = strdup(cfg_str(d->cfg, "input.text.fields"))))
        return tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
    int rc = fb_schema(&d->fbs, d->fbs_text, (size_t)cfg_int(d->cfg, "input.max.bytes"), err, errlen);
    if (rc)
        return rc;
    feedback_hooks_t fh = {on_feedback_alarm, on_feedback_record, d};
    rc = feedback_new(d->loop, d->cfg, d->bootstrap, d->met, &fh, &d->fb, err, errlen);
    if (!rc)
        rc = feedback_start(d->fb, err, errlen);
    if (!rc && (rc = alarms_ignore_dead_from(d->alr, topic)))
        tri_errf(err, errlen, rc, "out of memory");
    return rc;
}

static void on_account_model(void *ctx)
{
    daemon_t *d = ctx;
    if (d->pl)
        pipeline_models_ready(d->pl);
}

static int start_embedded(daemon_t *d, char *err, size_t errlen)
{
    int rc = kafka_mock_start(1, &d->mock, err, errlen);
    if (rc)
        return rc;
    int parts = (int)cfg_int(d->cfg, "kafka.embedded.partitions");
    char *topics = strdup(cfg_str(d->cfg, "input.topics")), *save = NULL;
    if (!topics)
        return TRI_ENOMEM;
    for (char *t = strtok_r(topics, ", ", &save); t && !rc; t = strtok_r(NULL, ", ", &save))
        rc = kafka_mock_topic(d->mock, t, parts, err, errlen);
    free(topics);
    if (!rc)
        rc = kafka_mock_topic(d->mock, cfg_str(d->cfg, "output.topic"), parts, err, errlen);
    if (!rc)
        rc = kafka_mock_topic(d->mock, cfg_str(d->cfg, "output.dlq.topic"), 1, err, errlen);
    if (!rc)
        rc = kafka_mock_topic(d->mock, cfg_str(d->cfg, "alarms.topic"), 1, err, errlen);
    if (!rc && *cfg_str(d->cfg, "feedback.topic"))
        rc = kafka_mock_topic(d->mock, cfg_str(d->cfg, "feedback.topic"), parts, err, errlen);
    if (rc)
        return rc;
    d->bootstrap = strdup(kafka_mock_bootstraps(d->mock));
    printf("embedded kafka: %s   (try: kcat -b %s -L)\n", d->bootstrap, d->bootstrap);
    fflush(stdout);
    log_event(LOG_LEVEL_INFO, "embedded_kafka", "bootstrap=%s partitions=%d", d->bootstrap, parts);
    return 0;
}

/* Reads the command line and the configuration into d->cfg. Returns -1 to
 * go on, else the exit status (after --help, --version, --config-doc or an
 * error, already reported). */
static int load_config(int argc, char **argv, daemon_t *d, int *check_only, int *print)
{
    static const struct option opts[] = {
        {"config", required_argument, 0, 'c'},   {"set", required_argument, 0, 's'},
        {"check-config", no_argument, 0, 'C'},   {"config-doc", no_argument, 0, 'D'},
        {"print-config", no_argument, 0, 'P'},   {"version", no_argument, 0, 'V'},
        {"help", no_argument, 0, 'h'},           {0, 0, 0, 0}};
    const char *file = NULL;
    char **sets = NULL;
    size_t nsets = 0;
    int c, rc = -1;
    char err[TRI_ERRLEN];
    while ((c = getopt_long(argc, argv, "c:s:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': file = optarg; break;
        case 's': {
            char **v = realloc(sets, (nsets + 1) * sizeof *v);
            if (!v) {
                free(sets);
                return 1;
            }
            sets = v;
            sets[nsets++] = optarg;
            break;
        }
        case 'C': *check_only = 1; break;
        case 'P': *print = 1; break;
        case 'D': cfg_write_doc(stdout); rc = 0; goto out;
        case 'V': printf("triaged %s (librdkafka %s)\n", TRIAGE_VERSION, rd_kafka_version_str()); rc = 0; goto out;
        case 'h': usage(stdout); rc = 0; goto out;
        default: usage(stderr); rc = 2; goto out;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "triaged: unexpected argument '%s'\n", argv[optind]);
        rc = 2;
        goto out;
    }
    if (cfg_new(&d->cfg)) {
        rc = 1;
        goto out;
    }
    if (file && cfg_load_file(d->cfg, file, err, sizeof err)) {
        fprintf(stderr, "triaged: %s\n", err);
        rc = 2;
        goto out;
    }
    for (size_t i = 0; i < nsets; i++) {
        char origin[32];
        snprintf(origin, sizeof origin, "--set %zu", i + 1);
        if (cfg_set_arg(d->cfg, sets[i], origin, err, sizeof err)) {
            fprintf(stderr, "triaged: %s\n", err);
            rc = 2;
            goto out;
        }
    }
out:
    free(sets);
    return rc;
}

/* The end of --check-config: the model file a start would load (start-up
 * waits for a missing or refused file; the check refuses it), then "ok". */
static int check_source(const daemon_t *d)
{
    char err[TRI_ERRLEN];
    if (*cfg_str(d->cfg, "model.source") && registry_check_source(d->cfg, err, sizeof err)) {
        fprintf(stderr, "triaged: %s\n", err);
        return 2;
    }
    printf("configuration ok\n");
    return 0;
}

/* libuv's thread pool (4 threads unless UV_THREADPOOL_SIZE says otherwise,
 * read at its first use) runs the batches, the model loads, a store check
 * and the alarms role's work: sized so that model.load.parallel loads never
 * hold every thread while batches wait for one. An operator's own
 * UV_THREADPOOL_SIZE is kept. */
static void size_pool(const cfg_t *cfg)
{
    if (getenv("UV_THREADPOOL_SIZE"))
        return;
    long n = cfg_int(cfg, "batch.workers") + cfg_int(cfg, "model.load.parallel") + 2;
    char v[16];
    snprintf(v, sizeof v, "%ld", n < 4 ? 4 : n > 1024 ? 1024 : n);
    setenv("UV_THREADPOOL_SIZE", v, 0);
}

static void pin_malloc_thresholds(void)
{
#ifdef __GLIBC__
    /* Models are loaded on libuv pool threads, so glibc serves them from
     * per-thread arenas. Its default thresholds are dynamic: the first freed
     * large block raises them (up to 32 MB), after which a model's arrays live
     * inside an arena and, freed, stay resident as the arena's free top. Each
     * push landing on a pool thread not used before then added ~4.2 MB of RSS,
     * up to the pool's 4 threads (the alarms role: +16 MB in the 30-minute
     * soak, read as a leak; the live heap stayed under 12.3 MB). Fixed
     * thresholds at glibc's initial values keep large blocks in mmap and let
     * free() trim arena tops, so the RSS follows the live heap. */
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    mallopt(M_TRIM_THRESHOLD, 128 * 1024);
#endif
}

/* The admin server and POST /classify, when admin.listen is set. Returns 0,
 * or the exit status of the failure (2 for the listen address: a config
 * error). */
static int start_admin(daemon_t *d, char *err, size_t errlen)
{
    const char *listen = cfg_str(d->cfg, "admin.listen");
    if (!strcmp(listen, "off") || !*listen)
        return 0;
    if (admin_start(listen, (unsigned)cfg_int(d->cfg, "admin.max.connections"), &d->adm, err, errlen)) {
        fprintf(stderr, "triaged: %s: %s\n", cfg_origin(d->cfg, "admin.listen"), err);
        return 2;
    }
    log_event(LOG_LEVEL_INFO, "admin_listening", "address=%s port=%d", log_q(listen), admin_port(d->adm));
    if (d->classify && classify_api_new(d->cfg, d->adm, &d->api, err, errlen)) {
        fprintf(stderr, "triaged: %s\n", err);
        return 1;
    }
    return 0;
}

/* SIGTERM, SIGINT, SIGHUP and the once-a-second status snapshot. */
static void start_loop_handles(daemon_t *d)
{
    uv_signal_init(d->loop, &d->sigterm);
    uv_signal_init(d->loop, &d->sigint);
    uv_signal_init(d->loop, &d->sighup);
    d->sigterm.data = d->sigint.data = d->sighup.data = d;
    uv_signal_start(&d->sigterm, on_signal, SIGTERM);
    uv_signal_start(&d->sigint, on_signal, SIGINT);
    uv_signal_start(&d->sighup, on_signal, SIGHUP);
    uv_timer_init(d->loop, &d->snap);
    d->snap.data = d;
    uv_timer_start(&d->snap, on_snap, 0, 1000);
}

int main(int argc, char **argv)
{
    pin_malloc_thresholds();
    daemon_t d = {0};
    int check_only = 0, print = 0;
    char err[TRI_ERRLEN];
    int early = load_config(argc, argv, &d, &check_only, &print);
    if (early >= 0) {
        cfg_free(d.cfg);
        return early;
    }
    int rc = 2;
    if (print) {
        /* Before the start-up checks: showing what a config amounts to is
         * how one finds out why it does not start. */
        cfg_write_effective(d.cfg, stdout);
        rc = fflush(stdout) ? 1 : 0;
        goto out;
    }
    const char *role = cfg_str(d.cfg, "role");
    d.classify = strcmp(role, "alarms") != 0;
    d.alarms = strcmp(role, "classify") != 0;
    const char *boot = cfg_str(d.cfg, "kafka.bootstrap.servers");
    if (check_config(&d, err, sizeof err)) {
        fprintf(stderr, "triaged: %s\n", err);
        goto out;
    }
    int level = log_level_parse(cfg_str(d.cfg, "log.level"));
    if (log_open(cfg_str(d.cfg, "log.file"), level, !strcmp(cfg_str(d.cfg, "log.format"), "json"), err,
                  sizeof err)) {
        fprintf(stderr, "triaged: %s: %s\n", cfg_origin(d.cfg, "log.file"), err);
        goto out;
    }
    if (check_only) {
        rc = check_source(&d);
        goto out;
    }

    rc = 1;
    signal(SIGPIPE, SIG_IGN);
    size_pool(d.cfg);
    d.loop = uv_default_loop();
    d.met = metrics_new();
    if (!d.met)
        goto out;
    d.f_up = metrics_family(d.met, METRICS_GAUGE, "triage_up", "1 while triaged runs.", NULL, NULL, 0);
    metrics_set(metrics_series0(d.f_up), 1);
    d.f_ready = metrics_family(d.met, METRICS_GAUGE, "triage_ready", "1 while /readyz answers 200 (ready to work).", NULL,
                               NULL, 0);
    log_event(LOG_LEVEL_INFO, "starting", "version=%s role=%s", TRIAGE_VERSION, role);
    if (!strcmp(boot, "embedded")) {
        if (start_embedded(&d, err, sizeof err)) {
            fprintf(stderr, "triaged: embedded kafka: %s\n", err);
            goto out;
        }
    } else if (!(d.bootstrap = strdup(boot))) {
        goto out;
    }
    int arc = start_admin(&d, err, sizeof err);
    if (arc) {
        rc = arc;
        goto out;
    }
    start_loop_handles(&d);

    if (d.alarms) {
        if (alarms_new(d.loop, d.cfg, d.bootstrap, d.met, &d.alr, err, sizeof err) ||
            alarms_start(d.alr, err, sizeof err)) {
            fprintf(stderr, "triaged: alarms: %s\n", err);
            goto out;
        }
    }
    if (start_feedback(&d, err, sizeof err)) {
        fprintf(stderr, "triaged: feedback: %s\n", err);
        goto out;
    }
    if (d.adm)
        admin_publish(d.adm, "/", 200, "text/html; charset=utf-8", status_html, status_html_len);
    registry_hooks_t hooks = {on_model, on_account_model, &d};
    if (*cfg_str(d.cfg, "model.source") && registry_new(d.loop, d.cfg, d.met, &hooks, &d.reg, err, sizeof err)) {
        fprintf(stderr, "triaged: %s\n", err);
        rc = 2;
        goto out;
    }
    uv_run(d.loop, UV_RUN_DEFAULT);
    rc = d.exit_code;
    /* Close what is left and let libuv finish the close callbacks. */
    uv_close((uv_handle_t *)&d.sigterm, NULL);
    uv_close((uv_handle_t *)&d.sigint, NULL);
    uv_close((uv_handle_t *)&d.sighup, NULL);
    uv_close((uv_handle_t *)&d.snap, NULL);
    uv_run(d.loop, UV_RUN_DEFAULT);
    log_event(LOG_LEVEL_INFO, "stopped", "exit=%d", rc);
out:
    pipeline_free(d.pl);
    feedback_free(d.fb);
    free(d.fbs_text);
    alarms_free(d.alr);
    registry_free(d.reg);
    admin_stop(d.adm);
    classify_api_free(d.api); /* after the admin thread that calls it */
    kafka_mock_stop(d.mock);
    metrics_free(d.met);
    free(d.bootstrap);
    cfg_free(d.cfg);
    if (d.loop)
        uv_loop_close(d.loop);
    log_close();
    return rc;
}
