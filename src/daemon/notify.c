#include "daemon/notify.h"
#include "core/explain.h"
#include "core/tri_err.h"
#include "core/tstamp.h"
#include "io/log.h"

#include <curl/curl.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_QUEUE 1000
#define MAX_BACKOFF_MS 60000

enum { R_AM, R_HOOK, NR };
static const char *const rnames[NR] = {"alertmanager", "webhook"};

typedef struct job {
    int r;
    char *body;
    int attempts;
    int64_t due;            /* monotonic ms */
} job_t;

struct notify {
    char *url[NR];          /* NULL: that receiver is off */
    char *status_url;
    int64_t resend_ms, timeout_ms;
    int retries;
    pthread_t th;
    int started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    job_t q[MAX_QUEUE];     /* a ring, ordered by insertion */
    size_t qhead, qlen;
    json_t *active;         /* key -> Alertmanager alert, under mu */
    int64_t next_resend;
    atomic_ullong sent[NR], failed[NR], dropped;
    metrics_family_t *f_sent, *f_failed;
    metrics_series_t *m_sent[NR], *m_failed[NR], *m_dropped;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static size_t discard(char *p, size_t s, size_t n, void *u)
{
    (void)p;
    (void)u;
    return s * n;
}

/* One POST: 0 when the receiver answered 2xx. */
static int post(const notify_t *n, CURL *c, const char *url, const char *body, char *err, size_t errlen)
{
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)n->timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    CURLcode rc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(h);
    if (rc != CURLE_OK)
        return tri_errf(err, errlen, TRI_EIO, "%s", curl_easy_strerror(rc));
    if (code < 200 || code > 299)
        return tri_errf(err, errlen, TRI_EIO, "HTTP %ld", code);
    return 0;
}

static void deliver(notify_t *n, CURL *c, job_t *j)
{
    char err[256], url[1200];
    snprintf(url, sizeof url, "%s%s", n->url[j->r], j->r == R_AM ? "/api/v2/alerts" : "");
    if (!post(n, c, url, j->body, err, sizeof err)) {
        atomic_fetch_add(&n->sent[j->r], 1);
        free(j->body);
        j->body = NULL;
        return;
    }
    atomic_fetch_add(&n->failed[j->r], 1);
    log_event(LOG_LEVEL_WARN, "notify_failed", "receiver=%s url=%s attempt=%d msg=%s", rnames[j->r], log_q(url),
              j->attempts + 1, log_q(err));
    if (++j->attempts > n->retries) {
        free(j->body);
        j->body = NULL;
        return;
    }
    int64_t back = 1000LL << (j->attempts - 1 < 6 ? j->attempts - 1 : 6);
    j->due = mono_ms() + (back < MAX_BACKOFF_MS ? back : MAX_BACKOFF_MS);
}

static void push_locked(notify_t *n, int r, char *body, int64_t due)
{
    if (n->qlen == MAX_QUEUE) {
        free(n->q[n->qhead].body);
        n->qhead = (n->qhead + 1) % MAX_QUEUE;
        n->qlen--;
        atomic_fetch_add(&n->dropped, 1);
    }
    n->q[(n->qhead + n->qlen) % MAX_QUEUE] = (job_t){r, body, 0, due};
    n->qlen++;
}

/* The first job that is due (removed from the ring), or 0 and the wait. */
static int take_due_locked(notify_t *n, job_t *out, int64_t now, int64_t *wait)
{
    for (size_t i = 0; i < n->qlen; i++) {
        job_t *j = &n->q[(n->qhead + i) % MAX_QUEUE];
        if (j->due <= now) {
            *out = *j;
            for (size_t k = i; k + 1 < n->qlen; k++)
                n->q[(n->qhead + k) % MAX_QUEUE] = n->q[(n->qhead + k + 1) % MAX_QUEUE];
            n->qlen--;
            return 1;
        }
        if (j->due - now < *wait)
            *wait = j->due - now;
    }
    return 0;
}

static void *run(void *arg)
{
    notify_t *n = arg;
    CURL *c = curl_easy_init();
    pthread_mutex_lock(&n->mu);
    while (!n->stop) {
        int64_t now = mono_ms(), wait = 1000;
        job_t j;
        if (n->url[R_AM] && now >= n->next_resend) {
            /* Open alerts again, so Alertmanager does not let them expire. */
            n->next_resend = now + n->resend_ms;
            if (json_object_size(n->active)) {
                json_t *arr = json_array();
                const char *k;
                json_t *v;
                json_object_foreach(n->active, k, v) json_array_append(arr, v);
                char *body = json_dumps(arr, JSON_COMPACT);
                json_decref(arr);
                if (body)
                    push_locked(n, R_AM, body, now);
            }
            continue;
        }
        if (take_due_locked(n, &j, now, &wait)) {
            pthread_mutex_unlock(&n->mu);
            if (c)
                deliver(n, c, &j);
            pthread_mutex_lock(&n->mu);
            if (j.body)
                push_locked(n, j.r, j.body, j.due);
            continue;
        }
        if (n->url[R_AM] && n->next_resend - now < wait)
            wait = n->next_resend - now;
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        int64_t ns = until.tv_nsec + (wait > 0 ? wait : 1) * 1000000;
        until.tv_sec += ns / 1000000000;
        until.tv_nsec = ns % 1000000000;
        pthread_cond_timedwait(&n->cv, &n->mu, &until);
    }
    pthread_mutex_unlock(&n->mu);
    curl_easy_cleanup(c);
    return NULL;
}

/* ---- events to alerts ---- */

static json_t *ts_json(int64_t ms)
{
    char t[40];
    tstamp_format(ms, t, sizeof t);
    return json_string(t);
}

/* The words behind a rate alarm, appended to desc at o: the over-represented
 * n-grams and the examples, each example cut to 160 bytes (between
 * characters), all within dlen. */
static void explain_words(const explain_result_t *x, char *desc, size_t dlen, size_t o)
{
    if (!x)
        return;
    for (size_t i = 0; i < x->nngrams && o < dlen; i++)
        o += (size_t)snprintf(desc + o, dlen - o, "%s\"%s\" (%.0f%% vs %.1f%%)", i ? ", " : " Over-represented: ",
                              x->ngrams[i].text, 100 * x->ngrams[i].share, 100 * x->ngrams[i].baseline_share);
    for (size_t i = 0; i < x->nexamples && o < dlen; i++) {
        const char *t = x->examples[i].text;
        size_t n = strlen(t);
        if (n > 160) {
            n = 160;
            while (n && ((unsigned char)t[n] & 0xC0) == 0x80)
                n--;
        }
        o += (size_t)snprintf(desc + o, dlen - o, "%s%s: %.*s", i ? " | " : ". Examples: ", x->examples[i].id, (int)n, t);
    }
    /* snprintf may have cut the last one inside a character: back to a boundary. */
    if (o >= dlen) {
        size_t end = dlen - 1, lead = end;
        while (lead && ((unsigned char)desc[lead - 1] & 0xC0) == 0x80)
            lead--;
        if (lead) {
            unsigned char c = (unsigned char)desc[lead - 1];
            size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
            if (lead - 1 + need > end)
                desc[lead - 1] = '\0';
        }
    }
}

/* The explanation, in words: summary and description. */
static void explain(const detector_event_t *ev, char *sum, size_t slen, char *desc, size_t dlen)
{
    char sc[32];
    detector_scale_name(ev->scale_ms, sc, sizeof sc);
    const char *who = ev->account ? ev->account : "all accounts";
    if (ev->incident) {
        snprintf(sum, slen, "%s: %.1f%% of the records (%s) over %s, baseline %.1f%% (x%.1f)", ev->label,
                 100 * ev->share, who, sc, 100 * ev->baseline_share, ev->ratio);
        size_t o = (size_t)snprintf(desc, dlen, "%.0f of %.0f records (expected %.1f, p %.2g). Seen by:", ev->observed,
                                    ev->total, ev->expected, ev->p_value);
        for (size_t i = 0; i < ev->nmembers && o < dlen; i++) {
            const detector_member_t *m = &ev->members[i];
            detector_scale_name(m->scale_ms, sc, sizeof sc);
            o += (size_t)snprintf(desc + o, dlen - o, " %s@%s %.1f%% vs %.1f%%;", m->account ? m->account : "all", sc,
                                  100 * m->share, 100 * m->baseline_share);
        }
        explain_words(ev->explain, desc, dlen, o);
        return;
    }
    snprintf(sum, slen, "%s %s: observed %.4g, expected %.4g", detector_kind_name(ev->kind),
             ev->label ? ev->label : "all records", ev->observed, ev->expected);
    if (detector_event_per_model(ev))
        snprintf(desc, dlen, "%s: %.1f%% of its last %.0f feedback records kept the predicted label; held-out "
                 "accuracy %.1f%%", ev->model, 100 * ev->observed, ev->total, 100 * ev->expected);
    else if (isfinite(ev->p_value))
        snprintf(desc, dlen, "window %s, p %.2g", sc, ev->p_value);
    else
        snprintf(desc, dlen, "window %s, threshold %.4g", sc, ev->expected);
}

static json_t *new_alert(const notify_t *n, const detector_event_t *ev)
{
    char name[64], sc[32];
    snprintf(name, sizeof name, "triage_%s", detector_kind_name(ev->kind));
    detector_scale_name(ev->scale_ms, sc, sizeof sc);
    int multi = 0;
    for (size_t i = 1; i < ev->nmembers; i++)
        multi |= (ev->members[i].account == NULL) != (ev->members[0].account == NULL) ||
                 (ev->members[i].account && strcmp(ev->members[i].account, ev->members[0].account));
    json_t *labels = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "alertname", name, "kind", detector_kind_name(ev->kind),
                               "label", ev->label ? ev->label : "", "account",
                               multi ? "several" : ev->account ? ev->account : "all", "scale", sc, "severity",
                               ev->kind == DETECTOR_VOLUME_DROP ? "critical" : "warning");
    if (detector_event_per_model(ev))
        json_object_set_new(labels, "model", json_string(ev->model));
    json_t *a = json_object();
    json_object_set_new(a, "labels", labels);
    json_object_set_new(a, "startsAt", ts_json(tstamp_now_ms()));
    if (*n->status_url)
        json_object_set_new(a, "generatorURL", json_string(n->status_url));
    return a;
}

static void annotate(const notify_t *n, json_t *alert, const detector_event_t *ev)
{
    char sum[512], desc[4096];
    explain(ev, sum, sizeof sum, desc, sizeof desc);
    json_t *an = json_pack("{s:s,s:s}", "summary", sum, "description", desc);
    if (*n->status_url)
        json_object_set_new(an, "status_page", json_string(n->status_url));
    json_object_set_new(alert, "annotations", an);
}

void notify_event(notify_t *n, const detector_event_t *ev, json_t *ev_json)
{
    if (!n)
        return;
    char key[600];
    snprintf(key, sizeof key, "%s|%s|%.300s", detector_kind_name(ev->kind),
             ev->incident ? ev->incident : ev->label ? ev->label : "", detector_event_per_model(ev) ? ev->model : "");
    pthread_mutex_lock(&n->mu);
    if (n->url[R_AM]) {
        json_t *alert = json_object_get(n->active, key);
        if (!alert) {
            alert = new_alert(n, ev);
            if (ev->type != DETECTOR_CLEAR)
                json_object_set_new(n->active, key, alert);
        } else {
            json_incref(alert);
            if (ev->type == DETECTOR_CLEAR)
                json_object_del(n->active, key);
            else
                json_decref(alert);
        }
        annotate(n, alert, ev);
        json_t *arr = json_array();
        if (ev->type == DETECTOR_CLEAR) {
            json_object_set_new(alert, "endsAt", ts_json(tstamp_now_ms()));
            json_array_append_new(arr, alert);
        } else {
            json_array_append(arr, alert);
        }
        char *body = json_dumps(arr, JSON_COMPACT);
        json_decref(arr);
        if (body)
            push_locked(n, R_AM, body, mono_ms());
    }
    if (n->url[R_HOOK]) {
        char *body = json_dumps(ev_json, JSON_COMPACT | JSON_REAL_PRECISION(6));
        if (body)
            push_locked(n, R_HOOK, body, mono_ms());
    }
    pthread_cond_signal(&n->cv);
    pthread_mutex_unlock(&n->mu);
}

void notify_publish(notify_t *n)
{
    if (!n)
        return;
    for (int r = 0; r < NR; r++) {
        metrics_set(n->m_sent[r], (double)atomic_load(&n->sent[r]));
        metrics_set(n->m_failed[r], (double)atomic_load(&n->failed[r]));
    }
    metrics_set(n->m_dropped, (double)atomic_load(&n->dropped));
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

int notify_new(const cfg_t *cfg, metrics_t *met, notify_t **out, char *err, size_t errlen)
{
    *out = NULL;
    static const char *const keys[NR] = {"alarms.alertmanager.url", "alarms.webhook.url"};
    if (!*cfg_str(cfg, keys[R_AM]) && !*cfg_str(cfg, keys[R_HOOK]))
        return 0;
    notify_t *n = calloc(1, sizeof *n);
    if (!n)
        return tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
    pthread_mutex_init(&n->mu, NULL);
    pthread_cond_init(&n->cv, NULL);
    for (int r = 0; r < NR; r++) {
        const char *u = cfg_str(cfg, keys[r]);
        if (*u && !(n->url[r] = strdup(u)))
            goto oom;
        /* "http://host:port/" and "http://host:port" name the same Alertmanager. */
        size_t l = n->url[r] ? strlen(n->url[r]) : 0;
        if (r == R_AM && l && n->url[r][l - 1] == '/')
            n->url[r][l - 1] = '\0';
    }
    n->status_url = strdup(cfg_str(cfg, "alarms.status.url"));
    n->resend_ms = cfg_int(cfg, "alarms.notify.resend");
    n->timeout_ms = cfg_int(cfg, "alarms.notify.timeout");
    n->retries = (int)cfg_int(cfg, "alarms.notify.retries");
    n->active = json_object();
    n->f_sent = metrics_family(met, METRICS_COUNTER, "triage_alarm_notifications_total",
                               "Alarm notifications delivered, by receiver.", "receiver", NULL, 0);
    n->f_failed = metrics_family(met, METRICS_COUNTER, "triage_alarm_notification_failures_total",
                                 "Failed alarm notification attempts (receiver down, timeout, non-2xx), by receiver.",
                                 "receiver", NULL, 0);
    metrics_family_t *fd = metrics_family(met, METRICS_COUNTER, "triage_alarm_notifications_dropped_total",
                                          "Alarm notifications dropped from a full delivery queue.", NULL, NULL, 0);
    if (!n->status_url || !n->active || !n->f_sent || !n->f_failed || !fd)
        goto oom;
    for (int r = 0; r < NR; r++) {
        n->m_sent[r] = metrics_series1(n->f_sent, rnames[r]);
        n->m_failed[r] = metrics_series1(n->f_failed, rnames[r]);
    }
    n->m_dropped = metrics_series0(fd);
    pthread_once(&curl_once, curl_init);
    if (pthread_create(&n->th, NULL, run, n)) {
        notify_free(n);
        return tri_errf(err, errlen, TRI_EIO, "notify: cannot start its thread");
    }
    n->started = 1;
    *out = n;
    return 0;
oom:
    notify_free(n);
    return tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
}

void notify_free(notify_t *n)
{
    if (!n)
        return;
    if (n->started) {
        pthread_mutex_lock(&n->mu);
        n->stop = 1;
        pthread_cond_signal(&n->cv);
        pthread_mutex_unlock(&n->mu);
        pthread_join(n->th, NULL);
    }
    for (size_t i = 0; i < n->qlen; i++)
        free(n->q[(n->qhead + i) % MAX_QUEUE].body);
    for (int r = 0; r < NR; r++)
        free(n->url[r]);
    free(n->status_url);
    if (n->active)
        json_decref(n->active);
    pthread_cond_destroy(&n->cv);
    pthread_mutex_destroy(&n->mu);
    free(n);
}
