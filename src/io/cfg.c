#include "io/cfg.h"
#include "cfg_internal.h"
#include "core/tri_err.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum cfg_type { T_STR, T_INT, T_MS, T_BOOL, T_ENUM, T_DOUBLE, T_BYTES };

typedef struct def {
    const char *key;
    int type;
    const char *dflt;
    double min, max;     /* numbers: inclusive bounds */
    const char *choices; /* T_ENUM: "a|b|c" */
    const char *doc;
} def_t;

/* The table. Sections in the generated documentation follow the order here. */
static const def_t defs[] = {
    {"role", T_ENUM, "classify", 0, 0, "classify|alarms|all",
     "What this instance does: classify input records; consume the labeled topic and raise alarms; or both."},

    {"kafka.bootstrap.servers", T_STR, "embedded", 0, 0, NULL,
     "Kafka brokers (host:port,...). \"embedded\" starts librdkafka's mock cluster inside the process and\n"
     "prints its address, for trying triaged without a Kafka installation."},
    {"kafka.embedded.partitions", T_INT, "4", 1, 1000, NULL,
     "Partitions of each topic created in the embedded cluster."},

    {"input.topics", T_STR, "triage.in", 0, 0, NULL, "Topics to consume, comma-separated."},
    {"input.group", T_STR, "triaged", 0, 0, NULL,
     "Consumer group; start more instances with the same group to scale out."},
    {"input.assignment", T_ENUM, "roundrobin", 0, 0, "roundrobin|range|cooperative-sticky",
     "Partition assignment strategy. roundrobin and range are eager: at a rebalance every member\n"
     "gives its partitions back and the new assignment is made in one round, so a worker joining\n"
     "gets its share after one rebalance. cooperative-sticky moves only the partitions that must\n"
     "move, but takes two rounds to hand them over (and librdkafka 2.0.2 aborts when such a\n"
     "consumer stops before its first assignment; triaged then leaves the handle to the exit)."},
    {"input.max.bytes", T_BYTES, "1048576", 16, 1e9, NULL,
     "Records larger than this go to the dead-letter topic (too_large)."},
    {"input.id.field", T_STR, "id", 0, 0, NULL, "Field holding the record id (string or integer)."},
    {"input.text.fields", T_STR, "text", 0, 0, NULL,
     "Text fields, comma-separated, joined in this order (emails: subject,body)."},
    {"input.account.field", T_STR, "account", 0, 0, NULL, "Optional field naming the account (tenant)."},
    {"input.ts.field", T_STR, "ts", 0, 0, NULL,
     "Optional event-time field: RFC 3339 or epoch milliseconds; else the Kafka timestamp is used."},
    {"input.max.inflight", T_INT, "20000", 1, 10000000, NULL,
     "Records consumed but not yet delivered; above this the input stops taking records, and pauses "
     "its partitions if that lasts 2 s (back-pressure)."},
    {"input.max.inflight.bytes", T_BYTES, "256MB", 65536, 1e12, NULL,
     "Bytes of records consumed but not yet delivered (input and output); above this the input is\n"
     "held back like above input.max.inflight, so large records cannot exhaust memory."},
    {"input.commit.interval.ms", T_MS, "250", 10, 3600000, NULL,
     "How often delivered offsets are committed (also on revoke and shutdown). After a crash,\n"
     "about this much work is done again (at-least-once), so keep it short."},

    {"output.topic", T_STR, "triage.labeled", 0, 0, NULL, "Topic for labeled records (key = id)."},
    {"output.dlq.topic", T_STR, "triage.dlq", 0, 0, NULL,
     "Dead-letter topic: records that cannot be classified, with the reason and their source offset."},
    {"output.dlq.payload.max.bytes", T_BYTES, "65536", 0, 1e8, NULL,
     "Bytes of a bad record's payload copied into its dead-letter record, as encoded there (JSON-escaped\n"
     "or base64); with the other fields it must fit the producer's message.max.bytes."},
    {"output.passthrough.fields", T_STR, "channel,ticket_id", 0, 0, NULL,
     "Input fields copied verbatim into each labeled record when present (comma-separated; \"\" for\n"
     "none), for connectors that route on them. Names of the output's own fields are refused."},
    {"output.excerpt.bytes", T_BYTES, "256", 0, 4096, NULL,
     "Bytes (as JSON-encoded) of the prepared text copied into each labeled record as \"excerpt\", so the\n"
     "alarms role can explain an alarm with the words behind it and example records; 0 for none (the\n"
     "labeled topic then carries no text, and alarms are explained by figures only)."},
    {"output.headers", T_STR, "*", 0, 0, NULL,
     "Kafka headers of the input copied to its output and dead-letter records: * for all, \"\" for\n"
     "none, or a comma-separated list of header names."},
    {"output.flush.timeout.ms", T_MS, "8000", 0, 3600000, NULL,
     "How long shutdown and revocation wait for outstanding deliveries. A revocation blocks the event\n"
     "loop meanwhile, so with the admin server on it is at most 8000 (/healthz must keep answering)."},

    {"batch.size", T_INT, "500", 1, 100000, NULL, "Records per classification batch."},
    {"batch.max.bytes", T_BYTES, "16MB", 1024, 1e9, NULL,
     "A batch also closes once its records hold this many bytes (bounds a batch's memory)."},
    {"batch.linger.ms", T_MS, "20", 0, 60000, NULL, "A batch closes after this long even when not full."},
    {"batch.workers", T_INT, "2", 1, 64, NULL, "Batches classified in parallel on the thread pool."},

    {"model.source", T_STR, "", 0, 0, NULL,
     "Where models come from (required): a model store, s3://BUCKET/PREFIX or file:///DIR, holding\n"
     "PREFIX/NAME/VERSION.tmodel (the greatest VERSION serves, unless PREFIX/NAME/PIN names one) and\n"
     "PREFIX/accounts/ACCOUNT/VERSION.tmodel for per-account models; or a plain model file path."},
    {"model.name", T_STR, "default", 0, 0, NULL,
     "Model name in the store, shown in output records as NAME@VERSION."},
    {"model.poll.interval", T_MS, "30s", 100, 86400000, NULL,
     "How often the store is checked for new versions (SIGHUP checks at once)."},
    {"model.cache.dir", T_STR, "/var/tmp/triaged-cache", 0, 0, NULL,
     "Verified models are kept here; when the store is unreachable at start, the last good\n"
     "version from this directory serves."},
    {"model.cache.max.bytes", T_BYTES, "512MB", 1024, 1e12, NULL,
     "Memory for loaded per-account models; the least recently used are evicted beyond it\n"
     "(and reloaded on their next record)."},
    {"model.load.parallel", T_INT, "4", 1, 32, NULL,
     "Model loads (download, validation, smoke test) that run at once on the thread pool, each with\n"
     "its own store connection: a batch asks for all of its accounts' missing models together. An\n"
     "account load starts only when it fits model.cache.max.bytes beside the loads in flight."},
    {"model.account.wait", T_MS, "2s", 0, 600000, NULL,
     "How long a batch waits in all for its records' account models while they load (first use,\n"
     "or after an eviction); after that, or at once with 0, the default model labels the records\n"
     "whose model is still loading and their output names the default. Loads go on either way.\n"
     "A batch stops waiting sooner when no load runs and no batch is being labeled: its models\n"
     "cannot fit model.cache.max.bytes together (triage_account_model_waits_cut_total)."},
    {"model.challenger", T_STR, "", 0, 0, NULL,
     "A second version of the default model scored beside the one serving (shadow scoring): \"\" for\n"
     "none, a VERSION in the store, or next (the newest version after the one serving: only a pinned\n"
     "champion has one; `triage promote` makes it the champion). Its labels are never published;\n"
     "its agreement with the champion per label is exported (triage_challenger_*) and shown on the\n"
     "status page. It scores off the critical path and drops samples rather than hold the input.\n"
     "Records labeled by an account's own model are not shadow-scored. Store sources only."},
    {"model.challenger.sample", T_DOUBLE, "1", 0, 1, NULL,
     "Share of records the challenger scores, chosen by a hash of the record id (FNV-1a 64 of the\n"
     "output key, then murmur3's fmix64: hash / 2^64 < sample), so every worker picks the same records."},
    {"model.challenger.max.pending", T_INT, "20000", 1, 10000000, NULL,
     "Records waiting for the challenger at most; a batch's samples beyond this are dropped and\n"
     "counted (triage_challenger_dropped_total), never holding the input."},
    {"model.s3.endpoint", T_STR, "", 0, 0, NULL,
     "S3-compatible endpoint URL (empty: $AWS_ENDPOINT_URL, else AWS's regional endpoint)."},
    {"model.s3.region", T_STR, "", 0, 0, NULL, "Region for request signing (empty: $AWS_REGION, else us-east-1)."},
    {"model.s3.access.key", T_STR, "", 0, 0, NULL,
     "Access key id (empty: $AWS_ACCESS_KEY_ID). Prefer ${VAR} or the environment for secrets."},
    {"model.s3.secret.key", T_STR, "", 0, 0, NULL, "Secret access key (empty: $AWS_SECRET_ACCESS_KEY)."},
    {"model.s3.session.token", T_STR, "", 0, 0, NULL, "Session token (empty: $AWS_SESSION_TOKEN)."},
    {"model.s3.timeout.ms", T_MS, "10000", 100, 600000, NULL, "Timeout of one request to the store."},
    {"model.s3.retries", T_INT, "3", 0, 20, NULL, "Retries of a failed request, with backoff and jitter."},

    {"alarms.topic", T_STR, "triage.alarms", 0, 0, NULL,
     "Where alarm and clear events are published (one JSON object each)."},
    {"alarms.group", T_STR, "triaged-alarms", 0, 0, NULL,
     "Consumer group of the alarms role: it reads the labeled and dead-letter topics, so one detector\n"
     "sees the traffic of every classify worker."},
    {"alarms.window", T_MS, "1h", 1000, 604800000, NULL, "Event-time window in which records are counted."},
    {"alarms.lateness", T_MS, "10m", 0, 86400000, NULL,
     "How late (in event time) a record may arrive and still be counted in its window."},
    {"alarms.p", T_DOUBLE, "0.0001", 1e-15, 0.5, NULL,
     "A window alarms when its count is this improbable for the expected one (upper tail)."},
    {"alarms.scales", T_STR, "1h,6h,24h", 0, 0, NULL,
     "Time scales at which label shares are tested: sliding windows of whole alarms.window, updated every\n"
     "window, each with its own baseline (a burst shows at 1h, a day-long ramp at 24h)."},
    {"alarms.fdr", T_DOUBLE, "0.001", 1e-12, 0.5, NULL,
     "Benjamini-Hochberg level of each evaluation's rate tests (labels x accounts x scales): expected\n"
     "false rate alarms a day at most this times the windows a day."},
    {"alarms.min.count", T_DOUBLE, "10", 0, 1e12, NULL, "Fewer records than this in a window never alarm."},
    {"alarms.min.ratio", T_DOUBLE, "1.5", 1, 1000, NULL, "Nor do shares below this multiple of the baseline share."},
    {"alarms.min.history", T_INT, "8", 1, 100000, NULL, "Windows of history a series needs before it may alarm."},
    {"alarms.clear.windows", T_INT, "2", 1, 1000, NULL, "Normal windows after which an alarm clears."},
    {"alarms.alpha", T_DOUBLE, "0.1", 0.001, 1, NULL,
     "Weight of the newest window in a series' expected count (exponentially weighted mean and variance)."},
    {"alarms.by.account", T_BOOL, "true", 0, 0, NULL, "Also watch each (account, label) series."},
    {"alarms.profiles", T_BOOL, "true", 0, 0, NULL,
     "Expected label shares follow each series' own hour of day, and its hour of weekday once two\n"
     "weeks are seen (a label that is always higher at night does not alarm at night)."},
    {"alarms.seasonal", T_BOOL, "true", 0, 0, NULL,
     "Expected counts follow the time of day, learned from the total volume (windows that divide a day)."},
    {"alarms.spike.ratio", T_DOUBLE, "2", 1, 1000, NULL,
     "volume_spike: total volume at least this multiple of the expected (and improbably high)."},
    {"alarms.drop.ratio", T_DOUBLE, "0.5", 0, 1, NULL,
     "volume_drop: total volume at most this fraction of the expected (and improbably low)."},
    {"alarms.quality.min", T_DOUBLE, "50", 1, 1e12, NULL, "Records a window needs before its quality figures count."},
    {"alarms.oov.max", T_DOUBLE, "0.25", 0, 1, NULL, "quality alarm: share of records with no n-gram the model knows."},
    {"alarms.low.score", T_DOUBLE, "0.5", 0, 1, NULL, "A prediction below this score is low-confidence."},
    {"alarms.low.max", T_DOUBLE, "0.6", 0, 1, NULL,
     "quality alarm: share of low-confidence predictions, for a model that carries no held-out baseline."},
    {"alarms.low.margin", T_DOUBLE, "0.15", 0, 1, NULL,
     "quality alarm: with a model that carries its held-out confidence (models trained by this version), the "
     "low-confidence share alarms above that baseline plus this margin."},
    {"alarms.dlq.max", T_DOUBLE, "0.05", 0, 1, NULL, "quality alarm: share of records dead-lettered."},
    {"alarms.psi.max", T_DOUBLE, "0.25", 0, 100, NULL,
     "drift alarm: population stability index of the predicted label mix against the training mix."},
    {"alarms.future.skew", T_MS, "1h", 0, 3.1536e12, NULL,
     "Records dated later than now plus this are bad timestamps: counted, never moving event time forward."},
    {"alarms.time.floor", T_STR, "2000-01-01T00:00:00Z", 0, 0, NULL,
     "Records dated before this (RFC 3339 or epoch ms) are bad timestamps too."},
    {"alarms.max.series", T_INT, "20000", 10, 10000000, NULL, "Series watched at most (bounds memory)."},
    {"alarms.alertmanager.url", T_STR, "", 0, 0, NULL,
     "Prometheus Alertmanager to post alarms to (its v2 API), e.g. http://127.0.0.1:9093; empty: none.\n"
     "Open alerts are re-sent every alarms.notify.resend; a clear resolves them."},
    {"alarms.webhook.url", T_STR, "", 0, 0, NULL, "URL that receives a POST of each alarm event's JSON; empty: none."},
    {"alarms.status.url", T_STR, "", 0, 0, NULL, "Status page link put in Alertmanager alerts (e.g. http://host:9464/)."},
    {"alarms.notify.resend", T_MS, "1m", 1000, 86400000, NULL, "How often open alerts are sent to Alertmanager again."},
    {"alarms.notify.timeout", T_MS, "5s", 100, 600000, NULL, "Timeout of one notification POST."},
    {"alarms.notify.retries", T_INT, "5", 0, 100, NULL,
     "Retries of a failed notification (backoff 1 s, 2 s, 4 s... up to 60 s); a down receiver is logged\n"
     "and counted, never fatal, and never holds up classification (delivery has its own thread)."},
    {"alarms.state.file", T_STR, "/var/tmp/triaged-alarms.json", 0, 0, NULL,
     "Checkpoint of the detector (baselines, open windows, active alarms) and of the offsets it\n"
     "covers: a restarted alarms role resumes exactly there, without an alarm storm or a missed spike."},
    {"alarms.checkpoint.interval", T_MS, "10s", 100, 3600000, NULL, "How often the checkpoint is written."},

    {"feedback.topic", T_STR, "", 0, 0, NULL,
     "Topic of agents' final labels (key = id): {id, label, predicted, model, text or input.text.fields,\n"
     "account, agent, ts}; the alarms role counts live accuracy from it, dead-letters records without\n"
     "label or text; `triage retrain` reads it. Empty: off."},
    {"feedback.group", T_STR, "", 0, 0, NULL, "Its consumer group (empty: input.group + \".feedback\")."},
    {"feedback.window", T_INT, "1000", 10, 10000000, NULL, "A model's recent accuracy is over its last this many."},
    {"feedback.min.records", T_INT, "200", 1, 10000000, NULL, "quality alarm: records in the window before judging."},
    {"feedback.accuracy.margin", T_DOUBLE, "0.1", 0, 1, NULL,
     "quality alarm: recent accuracy more than this below the model's held-out accuracy (95% sure)."},
    {"feedback.max.models", T_INT, "16", 1, 1000, NULL, "Model versions tallied (least recently seen forgotten)."},
    {"feedback.max.labels", T_INT, "64", 1, 10000, NULL, "Labels tallied per model (more count in totals only)."},
    {"feedback.max.inflight", T_INT, "1000", 1, 1000000, NULL, "Feedback dead letters awaiting delivery at most."},

    {"admin.listen", T_STR, "127.0.0.1:9464", 0, 0, NULL,
     "Admin HTTP address (host:port) for /metrics, /healthz, /readyz; \"off\" disables it."},
    {"admin.max.connections", T_INT, "64", 1, 10000, NULL, "Concurrent admin HTTP connections."},

    {"log.file", T_STR, "", 0, 0, NULL, "Log file (empty: standard error). Reopened on SIGHUP."},
    {"log.level", T_ENUM, "info", 0, 0, "debug|info|warn|error", "Lowest level logged."},
    {"log.format", T_ENUM, "logfmt", 0, 0, "logfmt|json", "One line per event, logfmt or JSON."},
};
#define NDEFS (sizeof defs / sizeof *defs)

/* kafka.* properties triaged sets itself; where to configure them instead. */
static const struct { const char *prop, *instead; } owned[] = {
    {"group.id", "input.group"},
    {"enable.auto.offset.store", "nothing: triaged stores offsets only after delivery"},
    {"enable.auto.commit", "input.commit.interval.ms"},
    {"auto.commit.interval.ms", "input.commit.interval.ms"},
    {"enable.idempotence", "nothing: the producer is always idempotent"},
    {"partition.assignment.strategy", "input.assignment"},
    {"enable.partition.eof", "nothing"},
    {"client.id", "nothing: triaged names its clients"},
};

typedef struct val {
    char *s;
    int64_t i;
    double d;
    char *origin;
} val_t;

typedef struct pass {
    char *key, *value, *origin;
} pass_t;

struct cfg {
    val_t v[NDEFS];
    pass_t *pass;
    size_t npass, cappass;
};

static int find_def(const char *key)
{
    for (size_t i = 0; i < NDEFS; i++)
        if (!strcmp(defs[i].key, key))
            return (int)i;
    return -1;
}

/* The known key an unknown one most likely meant: one edit away (a typo),
 * else one whose last part matches (a key put under the wrong section),
 * else the nearest within a third of its length; NULL when nothing is close. */
static const char *nearest_key(const char *key)
{
    const char *best = NULL, *tail = strrchr(key, '.');
    size_t bestd = strlen(key) / 3 + 1;
    tail = tail ? tail + 1 : key;
    for (size_t i = 0; i < NDEFS; i++)
        if (cfg_key_distance(key, defs[i].key) <= 1)
            return defs[i].key;
    for (size_t i = 0; i < NDEFS; i++) {
        const char *t = strrchr(defs[i].key, '.');
        if (*tail && !strcmp(t ? t + 1 : defs[i].key, tail))
            return defs[i].key;
    }
    for (size_t i = 0; i < NDEFS; i++) {
        size_t d = cfg_key_distance(key, defs[i].key);
        if (d < bestd) {
            best = defs[i].key;
            bestd = d;
        }
    }
    return best;
}

int cfg_is_secret(const char *key)
{
    static const char *const words[] = {"password", "secret", "token", "sasl.oauthbearer.config", "key.pem",
                                        "credentials", "access.key"};
    for (size_t i = 0; i < sizeof words / sizeof *words; i++)
        if (strstr(key, words[i]))
            return 1;
    return 0;
}

typedef struct unit {
    const char *suffix;
    double mul;
} unit_t;

/* Durations are in milliseconds, sizes in bytes; a bare number is the base unit. */
static const unit_t ms_units[] = {{"", 1}, {"ms", 1}, {"s", 1000}, {"m", 60000}, {"min", 60000},
                                  {"h", 3600000}, {"d", 86400000}, {NULL, 0}};
static const unit_t byte_units[] = {{"", 1},         {"B", 1},          {"K", 1024},     {"KB", 1024},
                                    {"KiB", 1024},   {"M", 1048576},    {"MB", 1048576}, {"MiB", 1048576},
                                    {"G", 1073741824.0}, {"GB", 1073741824.0}, {"GiB", 1073741824.0}, {NULL, 0}};

/* "30s", "64KB", ...: a non-negative number and one of the units' suffixes. */
static int parse_scaled(const char *s, const unit_t *units, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || !isfinite(v) || v < 0)
        return -1;
    while (*end == ' ')
        end++;
    for (const unit_t *u = units; u->suffix; u++)
        if (!strcmp(end, u->suffix)) {
            *out = v * u->mul;
            return 0;
        }
    return -1;
}

static int choice_ok(const char *choices, const char *v)
{
    size_t n = strlen(v);
    for (const char *p = choices; *p;) {
        const char *e = strchr(p, '|');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == n && !strncmp(p, v, n))
            return 1;
        if (!e)
            break;
        p = e + 1;
    }
    return 0;
}

/* Validates and stores a table value. */
static int set_value(cfg_t *c, int k, const char *value, const char *origin, char *err, size_t errlen)
{
    const def_t *d = &defs[k];
    val_t nv = {0};
    double num = 0;
    switch (d->type) {
    case T_STR:
        break;
    case T_ENUM:
        if (!choice_ok(d->choices, value))
            return tri_errf(err, errlen, TRI_EINVAL, "%s: %s: '%s' is not one of %s", origin, d->key, value,
                            d->choices);
        break;
    case T_BOOL:
        if (!strcmp(value, "true") || !strcmp(value, "yes") || !strcmp(value, "on") || !strcmp(value, "1"))
            nv.i = 1;
        else if (!strcmp(value, "false") || !strcmp(value, "no") || !strcmp(value, "off") || !strcmp(value, "0"))
            nv.i = 0;
        else
            return tri_errf(err, errlen, TRI_EINVAL, "%s: %s: '%s' is not a boolean (true/false)", origin, d->key,
                            value);
        break;
    case T_INT:
    case T_DOUBLE: {
        char *end;
        errno = 0;
        num = strtod(value, &end);
        if (end == value || *end || errno || !isfinite(num) || (d->type == T_INT && num != floor(num)))
            return tri_errf(err, errlen, TRI_EINVAL, "%s: %s: '%s' is not %s", origin, d->key, value,
                            d->type == T_INT ? "an integer" : "a number");
        break;
    }
    case T_MS:
        if (parse_scaled(value, ms_units, &num))
            return tri_errf(err, errlen, TRI_EINVAL, "%s: %s: '%s' is not a duration (e.g. 500ms, 30s, 5m, 1h)",
                            origin, d->key, value);
        break;
    case T_BYTES:
        if (parse_scaled(value, byte_units, &num))
            return tri_errf(err, errlen, TRI_EINVAL, "%s: %s: '%s' is not a size (e.g. 65536, 64KB, 1MB)", origin,
                            d->key, value);
        break;
    }
    if (d->type == T_INT || d->type == T_DOUBLE || d->type == T_MS || d->type == T_BYTES) {
        if (num < d->min || num > d->max)
            return tri_errf(err, errlen, TRI_ERANGE, "%s: %s: %s is out of range [%g, %g]%s", origin, d->key, value,
                            d->min, d->max, d->type == T_MS ? " ms" : "");
        nv.i = (int64_t)num;
        nv.d = num;
    }
    nv.s = strdup(value);
    nv.origin = strdup(origin);
    if (!nv.s || !nv.origin) {
        free(nv.s);
        free(nv.origin);
        return tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
    }
    free(c->v[k].s);
    free(c->v[k].origin);
    c->v[k] = nv;
    return 0;
}

static int add_pass(cfg_t *c, const char *key, const char *value, const char *origin, char *err, size_t errlen)
{
    const char *prop = key + strlen("kafka.");
    if (!strncmp(prop, "consumer.", 9))
        prop += 9;
    else if (!strncmp(prop, "producer.", 9))
        prop += 9;
    if (!*prop)
        return tri_errf(err, errlen, TRI_EINVAL, "%s: '%s' names no librdkafka property", origin, key);
    for (size_t i = 0; i < sizeof owned / sizeof *owned; i++)
        if (!strcmp(prop, owned[i].prop))
            return tri_errf(err, errlen, TRI_EINVAL, "%s: %s is set by triaged and cannot be passed through (set %s)",
                            origin, key, owned[i].instead);
    for (size_t i = 0; i < c->npass; i++)
        if (!strcmp(c->pass[i].key, key)) {
            char *v = strdup(value), *o = strdup(origin);
            if (!v || !o) {
                free(v);
                free(o);
                return tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
            }
            free(c->pass[i].value);
            free(c->pass[i].origin);
            c->pass[i].value = v;
            c->pass[i].origin = o;
            return 0;
        }
    if (c->npass == c->cappass) {
        size_t cap = c->cappass ? c->cappass * 2 : 16;
        pass_t *p = realloc(c->pass, cap * sizeof *p);
        if (!p)
            return tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
        c->pass = p;
        c->cappass = cap;
    }
    pass_t *p = &c->pass[c->npass];
    p->key = strdup(key);
    p->value = strdup(value);
    p->origin = strdup(origin);
    if (!p->key || !p->value || !p->origin) {
        free(p->key);
        free(p->value);
        free(p->origin);
        return tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
    }
    c->npass++;
    return 0;
}

/* Expands ${VAR} from the environment into out (caller frees). */
static int expand_env(const char *in, char **out, const char *origin, char *err, size_t errlen)
{
    size_t cap = strlen(in) + 1, n = 0;
    char *o = malloc(cap);
    if (!o)
        return tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
    for (const char *p = in; *p;) {
        if (p[0] == '$' && p[1] == '{') {
            const char *e = strchr(p + 2, '}');
            if (!e) {
                free(o);
                return tri_errf(err, errlen, TRI_EINVAL, "%s: unterminated ${ in value", origin);
            }
            char name[128];
            size_t nl = (size_t)(e - p - 2);
            if (!nl || nl >= sizeof name) {
                free(o);
                return tri_errf(err, errlen, TRI_EINVAL, "%s: bad environment variable name", origin);
            }
            memcpy(name, p + 2, nl);
            name[nl] = '\0';
            const char *v = getenv(name);
            if (!v) {
                free(o);
                return tri_errf(err, errlen, TRI_EINVAL, "%s: environment variable %s is not set", origin, name);
            }
            size_t vl = strlen(v);
            if (n + vl + 1 > cap) {
                cap = n + vl + strlen(e) + 1;
                char *q = realloc(o, cap);
                if (!q) {
                    free(o);
                    return tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
                }
                o = q;
            }
            memcpy(o + n, v, vl);
            n += vl;
            p = e + 1;
        } else {
            if (n + 2 > cap) {
                cap = cap * 2 + 2;
                char *q = realloc(o, cap);
                if (!q) {
                    free(o);
                    return tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
                }
                o = q;
            }
            o[n++] = *p++;
        }
    }
    o[n] = '\0';
    *out = o;
    return 0;
}

static int apply(cfg_t *c, const char *key, const char *raw, const char *origin, char *err, size_t errlen)
{
    char *value = NULL;
    int rc = expand_env(raw, &value, origin, err, errlen);
    if (rc)
        return rc;
    int k = find_def(key);
    if (k >= 0)
        rc = set_value(c, k, value, origin, err, errlen);
    else if (!strncmp(key, "kafka.", 6))
        rc = add_pass(c, key, value, origin, err, errlen);
    else if (nearest_key(key))
        rc = tri_errf(err, errlen, TRI_EINVAL, "%s: unknown key '%s', did you mean '%s'? (triaged --config-doc lists them)",
                      origin, key, nearest_key(key));
    else
        rc = tri_errf(err, errlen, TRI_EINVAL, "%s: unknown key '%s' (triaged --config-doc lists them)", origin, key);
    free(value);
    return rc;
}

int cfg_new(cfg_t **out)
{
    cfg_t *c = calloc(1, sizeof *c);
    if (!c)
        return TRI_ENOMEM;
    char err[TRI_ERRLEN];
    for (size_t k = 0; k < NDEFS; k++)
        if (set_value(c, (int)k, defs[k].dflt, "default", err, sizeof err)) {
            /* A default outside its own bounds is a bug in the table. */
            fprintf(stderr, "triaged: internal: %s\n", err);
            abort();
        }
    *out = c;
    return 0;
}

void cfg_free(cfg_t *c)
{
    if (!c)
        return;
    for (size_t k = 0; k < NDEFS; k++) {
        free(c->v[k].s);
        free(c->v[k].origin);
    }
    for (size_t i = 0; i < c->npass; i++) {
        free(c->pass[i].key);
        free(c->pass[i].value);
        free(c->pass[i].origin);
    }
    free(c->pass);
    free(c);
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

static int valid_key(const char *k)
{
    if (!*k)
        return 0;
    for (const char *p = k; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' && *p != '-')
            return 0;
    return 1;
}

int cfg_load_file(cfg_t *c, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return tri_errf(err, errlen, TRI_EIO, "%s: %s", path, strerror(errno));
    char *line = NULL, section[128] = "";
    size_t cap = 0, lineno = 0;
    int rc = 0;
    ssize_t got;
    while ((got = getline(&line, &cap, f)) >= 0) {
        lineno++;
        char origin[512];
        snprintf(origin, sizeof origin, "%s:%zu", path, lineno);
        /* Everything below reads C strings: a NUL would silently end the value. */
        if (memchr(line, '\0', (size_t)got)) {
            rc = tri_errf(err, errlen, TRI_EINVAL, "%s: NUL byte in line", origin);
            break;
        }
        if (strlen(line) > 8192) {
            rc = tri_errf(err, errlen, TRI_EINVAL, "%s: line too long", origin);
            break;
        }
        char *s = trim(line);
        if (!*s || *s == '#' || *s == ';')
            continue;
        if (*s == '[') {
            char *e = strchr(s, ']');
            if (!e || *trim(e + 1)) {
                rc = tri_errf(err, errlen, TRI_EINVAL, "%s: malformed section header", origin);
                break;
            }
            *e = '\0';
            char *name = trim(s + 1);
            if (!valid_key(name) || strlen(name) >= sizeof section) {
                rc = tri_errf(err, errlen, TRI_EINVAL, "%s: bad section name '%s'", origin, name);
                break;
            }
            strcpy(section, name);
            continue;
        }
        char *eq = strchr(s, '=');
        if (!eq) {
            rc = tri_errf(err, errlen, TRI_EINVAL, "%s: expected 'key = value'", origin);
            break;
        }
        *eq = '\0';
        char *key = trim(s), *value = trim(eq + 1);
        if (!valid_key(key)) {
            rc = tri_errf(err, errlen, TRI_EINVAL, "%s: bad key '%s'", origin, key);
            break;
        }
        /* Quoted values keep '#' and surrounding spaces; otherwise " #" starts a comment. */
        if (*value == '"') {
            char *e = strchr(value + 1, '"');
            if (!e || (*trim(e + 1) && *trim(e + 1) != '#')) {
                rc = tri_errf(err, errlen, TRI_EINVAL, "%s: unterminated quoted value", origin);
                break;
            }
            *e = '\0';
            value++;
        } else {
            for (char *p = value; *p; p++)
                if (*p == '#' && p > value && (p[-1] == ' ' || p[-1] == '\t')) {
                    *p = '\0';
                    value = trim(value);
                    break;
                }
        }
        char full[512];
        if (section[0])
            snprintf(full, sizeof full, "%s.%s", section, key);
        else
            snprintf(full, sizeof full, "%s", key);
        if ((rc = apply(c, full, value, origin, err, errlen)))
            break;
    }
    free(line);
    fclose(f);
    return rc;
}

int cfg_set_arg(cfg_t *c, const char *kv, const char *origin, char *err, size_t errlen)
{
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv)
        return tri_errf(err, errlen, TRI_EINVAL, "%s: expected KEY=VALUE, got '%s'", origin, kv);
    char key[256];
    size_t kl = (size_t)(eq - kv);
    if (kl >= sizeof key)
        return tri_errf(err, errlen, TRI_EINVAL, "%s: key too long", origin);
    memcpy(key, kv, kl);
    key[kl] = '\0';
    char *k = trim(key);
    if (!valid_key(k))
        return tri_errf(err, errlen, TRI_EINVAL, "%s: bad key '%s'", origin, k);
    return apply(c, k, eq + 1, origin, err, errlen);
}

static int must_find(const char *key)
{
    int k = find_def(key);
    if (k < 0) {
        fprintf(stderr, "triaged: internal: unknown config key %s\n", key);
        abort();
    }
    return k;
}

const char *cfg_str(const cfg_t *c, const char *key) { return c->v[must_find(key)].s; }
int64_t cfg_int(const cfg_t *c, const char *key) { return c->v[must_find(key)].i; }
double cfg_double(const cfg_t *c, const char *key) { return c->v[must_find(key)].d; }
const char *cfg_origin(const cfg_t *c, const char *key) { return c->v[must_find(key)].origin; }

int cfg_each_kafka(const cfg_t *c, const char *kind, cfg_pass_fn fn, void *ctx)
{
    char pre[32];
    snprintf(pre, sizeof pre, "kafka.%s.", kind);
    for (size_t i = 0; i < c->npass; i++) {
        const char *k = c->pass[i].key + 6;
        int mine = !strncmp(c->pass[i].key, pre, strlen(pre));
        int other = !strncmp(k, "consumer.", 9) || !strncmp(k, "producer.", 9);
        if (mine)
            k = c->pass[i].key + strlen(pre);
        else if (other)
            continue;
        int rc = fn(k, c->pass[i].value, c->pass[i].origin, ctx);
        if (rc)
            return rc;
    }
    return 0;
}

static const char *type_name(int t)
{
    switch (t) {
    case T_STR: return "string";
    case T_INT: return "integer";
    case T_MS: return "duration";
    case T_BOOL: return "boolean";
    case T_ENUM: return "one of";
    case T_DOUBLE: return "number";
    case T_BYTES: return "size";
    default: return "?";
    }
}

/* Keys the generated (shipped) configuration sets, so that
 * `triaged -c conf/triaged.conf` starts something: the model scripts/demo
 * trains. Defaults stay in the table; this is only the example file. */
static const struct { const char *key, *value, *why; } doc_sets[] = {
    {"model.source", "out/demo/model.tmodel",
     "written by scripts/demo (run from the repository root); point it at your model store"},
};

void cfg_write_doc(FILE *f)
{
    fprintf(f, "# triaged configuration: every key, with its default. Generated by `triaged --config-doc`\n"
               "# from the table in src/io/cfg.c (the tests check this file matches it).\n"
               "#\n"
               "# Syntax: `key = value`; keys after [section] are section.key; `--set section.key=value`\n"
               "# overrides on the command line; ${VAR} in a value reads the environment (use it for\n"
               "# secrets). Durations: 500ms, 30s, 5m, 1h. Sizes: 65536, 64KB, 1MB.\n"
               "#\n"
               "# [kafka]: keys not listed here pass straight through to librdkafka (both clients);\n"
               "# kafka.consumer.* and kafka.producer.* reach one client only. Properties triaged owns\n"
               "# (group.id, enable.auto.offset.store, enable.auto.commit, enable.idempotence,\n"
               "# partition.assignment.strategy, ...) are refused there: use the keys below.\n");
    const char *cur = NULL;
    size_t curlen = 0;
    for (size_t k = 0; k < NDEFS; k++) {
        const def_t *d = &defs[k];
        const char *dot = strchr(d->key, '.');
        size_t sl = dot ? (size_t)(dot - d->key) : 0;
        if (!cur || sl != curlen || strncmp(cur, d->key, sl)) {
            if (sl)
                fprintf(f, "\n[%.*s]\n", (int)sl, d->key);
            else
                fputc('\n', f);
            cur = d->key;
            curlen = sl;
        }
        fprintf(f, "\n");
        const char *p = d->doc;
        while (*p) {
            const char *e = strchr(p, '\n');
            size_t l = e ? (size_t)(e - p) : strlen(p);
            fprintf(f, "# %.*s\n", (int)l, p);
            p += l + (e ? 1 : 0);
        }
        fprintf(f, "# (%s", type_name(d->type));
        if (d->type == T_ENUM)
            fprintf(f, " %s", d->choices);
        if (d->type == T_INT || d->type == T_DOUBLE || d->type == T_MS || d->type == T_BYTES)
            fprintf(f, ", %g..%g%s", d->min, d->max, d->type == T_MS ? " ms" : d->type == T_BYTES ? " bytes" : "");
        fprintf(f, ")\n");
        const char *name = sl ? d->key + sl + 1 : d->key;
        if (strchr(d->dflt, '#') || !*d->dflt)
            fprintf(f, "#%s = \"%s\"\n", name, d->dflt);
        else
            fprintf(f, "#%s = %s\n", name, d->dflt);
        for (size_t i = 0; i < sizeof doc_sets / sizeof *doc_sets; i++)
            if (!strcmp(doc_sets[i].key, d->key))
                fprintf(f, "# Set here: %s.\n%s = %s\n", doc_sets[i].why, name, doc_sets[i].value);
    }
}

void cfg_write_effective(const cfg_t *c, FILE *f)
{
    for (size_t k = 0; k < NDEFS; k++)
        fprintf(f, "%s = %s    # %s\n", defs[k].key, cfg_is_secret(defs[k].key) ? "(redacted)" : c->v[k].s,
                c->v[k].origin);
    for (size_t i = 0; i < c->npass; i++)
        fprintf(f, "%s = %s    # %s\n", c->pass[i].key, cfg_is_secret(c->pass[i].key) ? "(redacted)" : c->pass[i].value,
                c->pass[i].origin);
}
