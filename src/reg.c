#include "reg.h"
#include "fj.h"
#include "tlog.h"
#include "tri_err.h"
#include "tstamp.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct load_job {
    uv_work_t work;
    reg_t *reg;
    char *path;
    model_t *model;            /* result */
    int rc;
    char err[TRI_ERRLEN];
    char reason[32];
    struct stat st;
    uint64_t t0;
} load_job_t;

struct reg {
    uv_loop_t *loop;
    uv_timer_t poll;
    char *source, *name;
    uint64_t interval_ms;
    reg_hooks_t hooks;
    reg_model_t *current;
    load_job_t *job;           /* load in flight */
    int closing, recheck;
    struct stat seen;          /* file identity of the last attempt */
    int have_seen;
    met_family_t *f_info, *f_loads, *f_refusals, *f_load_seconds, *f_last_check, *f_loaded_at;
};

int reg_probe(model_t *m, char *err, size_t errlen)
{
    json_t *probes = json_object_get(model_meta(m), "probes");
    if (!json_is_array(probes) || !json_array_size(probes))
        return 0; /* older or hand-built models carry none */
    clf_t *c;
    int rc = clf_new(m, &c, err, errlen);
    if (rc)
        return rc;
    size_t i;
    json_t *p;
    json_array_foreach(probes, i, p)
    {
        const char *text = json_string_value(json_object_get(p, "text"));
        const char *want = json_string_value(json_object_get(p, "label"));
        if (!text || !want) {
            rc = tri_errf(err, errlen, TRI_EINVAL, "probe %zu is malformed", i);
            break;
        }
        clf_result_t r;
        if (clf_classify(c, text, strlen(text), &r)) {
            rc = tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
            break;
        }
        if (strcmp(model_label(m, r.label), want)) {
            rc = tri_errf(err, errlen, TRI_EINVAL, "probe %zu expects '%s' but the model says '%s'", i, want,
                          model_label(m, r.label));
            break;
        }
    }
    clf_free(c);
    return rc;
}

/* A short reason code for metrics, from a loader or probe message. */
static void classify_reason(int rc, const char *msg, char *out, size_t n)
{
    const char *r = "invalid";
    if (rc == TRI_ENOENT)
        r = "missing";
    else if (rc == TRI_EIO)
        r = "io";
    else if (strstr(msg, "checksum"))
        r = "checksum";
    else if (strstr(msg, "truncated"))
        r = "truncated";
    else if (strstr(msg, "format version") || strstr(msg, "tokenizer version") || strstr(msg, "hash version"))
        r = "version";
    else if (strstr(msg, "bad magic"))
        r = "not_a_model";
    else if (strstr(msg, "probe"))
        r = "probe_mismatch";
    snprintf(out, n, "%s", r);
}

static void load_work(uv_work_t *w)
{
    load_job_t *j = w->data;
    j->rc = model_load_file(j->path, &j->model, j->err, sizeof j->err);
    if (!j->rc) {
        char perr[TRI_ERRLEN / 2];
        int prc = reg_probe(j->model, perr, sizeof perr);
        if (prc) {
            j->rc = prc;
            snprintf(j->err, sizeof j->err, "%.200s: %s", j->path, perr);
            model_unref(j->model);
            j->model = NULL;
        }
    }
    if (j->rc)
        classify_reason(j->rc, j->err, j->reason, sizeof j->reason);
}

static char *json_str(const char *s, size_t *len)
{
    buf_t b = BUF_INIT;
    fj_put_str(&b, s, strlen(s));
    if (b.oom) {
        buf_free(&b);
        return NULL;
    }
    *len = b.len;
    return (char *)buf_cstr(&b);
}

static void entry_free(reg_model_t *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->nidle; i++)
        clf_free(e->idle[i]);
    free(e->idle);
    if (e->label_json)
        for (uint32_t i = 0; i < model_nlabels(e->model); i++)
            free(e->label_json[i]);
    free(e->label_json);
    free(e->label_json_len);
    free(e->label_series);
    free(e->name);
    free(e->version);
    free(e->tag_json);
    model_unref(e->model);
    free(e);
}

/* Version: the model's own "version" (set when published to a store), else
 * its training time as a sortable UTC stamp (20261123T151359Z). */
static char *model_version(model_t *m)
{
    const char *v = json_string_value(json_object_get(model_meta(m), "version"));
    if (v && *v)
        return strdup(v);
    const char *c = json_string_value(json_object_get(model_meta(m), "created_at"));
    char out[32];
    size_t n = 0;
    for (; c && *c && n < sizeof out - 1; c++)
        if (*c != '-' && *c != ':')
            out[n++] = *c;
    out[n] = '\0';
    return strdup(n ? out : "unversioned");
}

static reg_model_t *entry_new(const char *name, model_t *m)
{
    reg_model_t *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->model = m;
    e->refs = 1;
    e->name = strdup(name);
    e->version = model_version(m);
    uint32_t L = model_nlabels(m);
    e->label_json = calloc(L, sizeof *e->label_json);
    e->label_json_len = calloc(L, sizeof *e->label_json_len);
    e->label_series = calloc(L, sizeof *e->label_series);
    if (!e->name || !e->version || !e->label_json || !e->label_json_len || !e->label_series)
        goto fail;
    char tag[512];
    snprintf(tag, sizeof tag, "%s@%s", e->name, e->version);
    if (!(e->tag_json = json_str(tag, &e->tag_json_len)))
        goto fail;
    for (uint32_t i = 0; i < L; i++)
        if (!(e->label_json[i] = json_str(model_label(m, i), &e->label_json_len[i])))
            goto fail;
    e->loaded_ms = ts_now_ms();
    return e;
fail:
    entry_free(e);
    return NULL;
}

reg_model_t *reg_model_ref(reg_model_t *m)
{
    m->refs++;
    return m;
}

void reg_model_unref(reg_model_t *m)
{
    if (m && --m->refs == 0)
        entry_free(m);
}

clf_t *reg_clf_get(reg_model_t *m)
{
    if (m->nidle)
        return m->idle[--m->nidle];
    clf_t *c;
    char err[TRI_ERRLEN];
    if (clf_new(m->model, &c, err, sizeof err)) {
        tlog(TLOG_ERROR, "scorer_failed", "msg=%s", tlog_q(err));
        return NULL;
    }
    return c;
}

void reg_clf_put(reg_model_t *m, clf_t *c)
{
    if (!c)
        return;
    if (m->nidle == m->capidle) {
        size_t cap = m->capidle ? m->capidle * 2 : 4;
        clf_t **v = realloc(m->idle, cap * sizeof *v);
        if (!v) {
            clf_free(c);
            return;
        }
        m->idle = v;
        m->capidle = cap;
    }
    m->idle[m->nidle++] = c;
}

reg_model_t *reg_current(reg_t *r) { return r->current; }

static void publish_info(reg_t *r)
{
    met_reset_family(r->f_info);
    if (!r->current)
        return;
    char sum[24];
    snprintf(sum, sizeof sum, "%016llx", (unsigned long long)model_checksum(r->current->model));
    const char *v[] = {r->current->name, r->current->version, sum};
    met_set(met_series(r->f_info, v), 1);
    met_set(met_series0(r->f_loaded_at), (double)r->current->loaded_ms / 1000.0);
}

static void start_check(reg_t *r);

static void load_done(uv_work_t *w, int status)
{
    load_job_t *j = w->data;
    reg_t *r = j->reg;
    r->job = NULL;
    double secs = (double)(uv_hrtime() - j->t0) / 1e9;
    if (r->closing || status == UV_ECANCELED) {
        model_unref(j->model);
        goto out;
    }
    met_observe(r->f_load_seconds, met_series0(r->f_load_seconds), secs);
    if (j->rc) {
        met_inc(met_series1(r->f_loads, "refused"), 1);
        met_inc(met_series1(r->f_refusals, j->reason), 1);
        tlog(TLOG_ERROR, "model_refused", "source=%s reason=%s msg=%s serving=%s", tlog_q(j->path), j->reason,
             tlog_q(j->err), r->current ? tlog_q(r->current->version) : "none");
        goto out;
    }
    reg_model_t *e = entry_new(r->name, j->model);
    if (!e) {
        model_unref(j->model);
        tlog(TLOG_ERROR, "model_refused", "source=%s reason=oom", tlog_q(j->path));
        goto out;
    }
    met_inc(met_series1(r->f_loads, "ok"), 1);
    tlog(TLOG_INFO, "model_loaded", "source=%s name=%s version=%s labels=%u rows=%u bytes=%zu seconds=%.3f previous=%s",
         tlog_q(j->path), tlog_q(e->name), tlog_q(e->version), model_nlabels(e->model), model_nrows(e->model),
         model_bytes(e->model), secs, r->current ? tlog_q(r->current->version) : "none");
    reg_model_t *old = r->current;
    r->current = e;
    publish_info(r);
    if (r->hooks.changed)
        r->hooks.changed(r->hooks.ctx, e);
    reg_model_unref(old); /* freed after the last batch that holds it */
out:
    free(j->path);
    free(j);
    if (r->recheck && !r->closing) {
        r->recheck = 0;
        start_check(r);
    }
}

/* Starts a load when the file is new or changed (identity: device, inode,
 * size, modification time), or when forced. */
static void check(reg_t *r, int force)
{
    met_set(met_series0(r->f_last_check), (double)ts_now_ms() / 1000.0);
    if (r->job) {
        r->recheck = 1;
        return;
    }
    struct stat st;
    if (stat(r->source, &st)) {
        if (!r->have_seen || force)
            tlog(r->current ? TLOG_WARN : TLOG_ERROR, "model_unavailable", "source=%s msg=%s", tlog_q(r->source),
                 tlog_q(strerror(errno)));
        r->have_seen = 0;
        return;
    }
    if (!force && r->have_seen && st.st_dev == r->seen.st_dev && st.st_ino == r->seen.st_ino &&
        st.st_size == r->seen.st_size && st.st_mtim.tv_sec == r->seen.st_mtim.tv_sec &&
        st.st_mtim.tv_nsec == r->seen.st_mtim.tv_nsec)
        return;
    r->seen = st;
    r->have_seen = 1;
    load_job_t *j = calloc(1, sizeof *j);
    if (!j || !(j->path = strdup(r->source))) {
        free(j);
        return;
    }
    j->reg = r;
    j->st = st;
    j->t0 = uv_hrtime();
    j->work.data = j;
    r->job = j;
    if (uv_queue_work(r->loop, &j->work, load_work, load_done)) {
        r->job = NULL;
        free(j->path);
        free(j);
    }
}

static void start_check(reg_t *r) { check(r, 0); }

static void on_poll(uv_timer_t *t) { check(t->data, 0); }

void reg_check_now(reg_t *r)
{
    tlog(TLOG_INFO, "model_check", "source=%s trigger=signal", tlog_q(r->source));
    check(r, 0);
}

int reg_new(uv_loop_t *loop, const cfg_t *cfg, met_t *met, const reg_hooks_t *hooks, reg_t **out, char *err,
            size_t errlen)
{
    const char *src = cfg_str(cfg, "model.source");
    if (!*src)
        return tri_errf(err, errlen, TRI_EINVAL, "%s: model.source is required (a model file)",
                        cfg_origin(cfg, "model.source"));
    reg_t *r = calloc(1, sizeof *r);
    if (!r)
        return tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
    r->loop = loop;
    r->source = strdup(src);
    r->name = strdup(cfg_str(cfg, "model.name"));
    r->interval_ms = (uint64_t)cfg_int(cfg, "model.poll.interval");
    if (hooks)
        r->hooks = *hooks;
    static const double load_bounds[] = {0.001, 0.01, 0.05, 0.1, 0.5, 1, 5, 30};
    r->f_info = met_family(met, MET_GAUGE, "triage_model_info", "The model version serving now (value 1).",
                           "name,version,checksum", NULL, 0);
    r->f_loads = met_family(met, MET_COUNTER, "triage_model_loads_total", "Model load attempts by result.",
                            "result", NULL, 0);
    r->f_refusals = met_family(met, MET_COUNTER, "triage_model_refusals_total",
                               "Model versions refused, by reason.", "reason", NULL, 0);
    r->f_load_seconds = met_family(met, MET_HISTOGRAM, "triage_model_load_seconds",
                                   "Time to read, validate and smoke-test a model.", NULL, load_bounds, 8);
    r->f_last_check = met_family(met, MET_GAUGE, "triage_model_last_check_timestamp_seconds",
                                 "When the model source was last checked.", NULL, NULL, 0);
    r->f_loaded_at = met_family(met, MET_GAUGE, "triage_model_loaded_timestamp_seconds",
                                "When the serving model was loaded.", NULL, NULL, 0);
    if (!r->source || !r->name || !r->f_info || !r->f_loads || !r->f_refusals || !r->f_load_seconds ||
        !r->f_last_check || !r->f_loaded_at) {
        reg_free(r);
        return tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
    }
    uv_timer_init(loop, &r->poll);
    r->poll.data = r;
    uv_timer_start(&r->poll, on_poll, r->interval_ms, r->interval_ms);
    check(r, 1);
    *out = r;
    return 0;
}

void reg_close(reg_t *r)
{
    r->closing = 1;
    uv_timer_stop(&r->poll);
    uv_close((uv_handle_t *)&r->poll, NULL);
    if (r->job)
        uv_cancel((uv_req_t *)&r->job->work);
}

void reg_free(reg_t *r)
{
    if (!r)
        return;
    reg_model_unref(r->current);
    free(r->source);
    free(r->name);
    free(r);
}
