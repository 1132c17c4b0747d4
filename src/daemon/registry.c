#include "daemon/registry.h"
#include "registry_internal.h"
#include "codec/jscan.h"
#include "io/store.h"
#include "io/log.h"
#include "core/tri_err.h"
#include "core/tstamp.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

registry_model_t *registry_current(registry_t *r) { return r->def.loaded; }
int registry_has_accounts(const registry_t *r) { return r->acct_n > 0; }

/* ---- jobs on the thread pool: one check at a time, up to max_loads loads ---- */

static void run_next(registry_t *r);

static void job_free(job_t *j)
{
    model_unref(j->model);
    for (size_t i = 0; i < j->ncat; i++)
        free(j->cat[i].dir);
    free(j->cat);
    free(j);
}

static void enqueue(registry_t *r, job_t *j)
{
    j->reg = r;
    j->work.data = j;
    if (r->qtail)
        r->qtail->next = j;
    else
        r->qhead = j;
    r->qtail = j;
    run_next(r);
}

static void start_load(registry_t *r, slot_t *s, const char *version);

void registry_publish_model_info(metrics_family_t *f, const registry_model_t *m)
{
    metrics_reset_family(f);
    if (!m)
        return;
    char sum[24];
    snprintf(sum, sizeof sum, "%016llx", (unsigned long long)model_checksum(m->model));
    const char *v[] = {m->name, m->version, sum};
    metrics_set(metrics_series(f, v), 1);
}

void registry_publish_info(registry_t *r)
{
    registry_publish_model_info(r->f_info, r->def.loaded);
    if (r->def.loaded)
        metrics_set(metrics_series0(r->f_loaded_at), (double)r->def.loaded->loaded_ms / 1000.0);
}

void registry_note_error(registry_t *r, const char *reason)
{
    metrics_reset_family(r->f_last_error);
    metrics_set(metrics_series1(r->f_last_error, reason), (double)tstamp_now_ms() / 1000.0);
}

static void after_check(registry_t *r, job_t *j)
{
    if (j->rc) {
        metrics_inc(metrics_series0(r->f_store_errors), 1);
        registry_note_error(r, "store");
        if (!r->store_down)
            log_event(LOG_LEVEL_WARN, "store_unreachable", "source=%s msg=%s serving=%s", log_q(store_url(r->store)),
                 log_q(j->err), r->def.loaded ? log_q(r->def.loaded->version) : "none");
        r->store_down = 1;
        if (!r->def.loaded && !r->def.loading && !r->tried_cache) {
            r->tried_cache = 1;
            start_load(r, &r->def, ""); /* "" = the cached last good version */
        }
        return;
    }
    if (r->store_down)
        log_event(LOG_LEVEL_INFO, "store_reachable", "source=%s", log_q(store_url(r->store)));
    r->store_down = 0;
    metrics_set(metrics_series0(r->f_bad_keys), (double)j->nskipped);
    if (j->nskipped) {
        char names[4 * 140] = "";
        size_t o = 0;
        for (size_t i = 0; i < 2 * STORE_LIST_SKIP_NAMES && o < sizeof names - 1; i++)
            if (j->skipped[i][0])
                o += (size_t)snprintf(names + o, sizeof names - o, "%s%s", o ? " " : "", j->skipped[i]);
        log_event(LOG_LEVEL_WARN, "store_keys_skipped", "count=%zu first=%s", j->nskipped, log_q(names));
    }
    /* Default model. */
    const char *def_target = "";
    uint64_t def_size = 0;
    const cat_ent_t *def_ent = NULL;
    for (size_t i = 0; i < j->ncat; i++)
        if (!strcmp(j->cat[i].dir, r->def.dir)) {
            def_ent = &j->cat[i];
            def_target = j->cat[i].unreadable ? r->def.target : j->cat[i].target;
            def_size = j->cat[i].unreadable ? r->def.target_size : j->cat[i].size;
        }
    if (def_target != r->def.target)
        snprintf(r->def.target, sizeof r->def.target, "%s", def_target);
    r->def.target_size = def_size;
    if (!*def_target && !r->def.loaded)
        log_event(LOG_LEVEL_ERROR, "model_unavailable", "source=%s msg=%s", log_q(store_url(r->store)),
             log_q("no NAME/VERSION.tmodel in the store"));
    /* Accounts: what the store has now. */
    for (size_t i = 0; i < r->acct_cap; i++)
        if (r->acct[i])
            r->acct[i]->present = 0;
    for (size_t i = 0; i < j->ncat; i++) {
        if (strncmp(j->cat[i].dir, "accounts/", 9) || (!j->cat[i].target[0] && !j->cat[i].unreadable))
            continue;
        slot_t *s = registry_acct_get(r, j->cat[i].dir + 9, 1);
        if (!s)
            continue;
        s->present = 1;
        if (j->cat[i].unreadable)
            continue; /* keeps its target until the PIN reads again */
        snprintf(s->target, sizeof s->target, "%s", j->cat[i].target);
        s->target_size = j->cat[i].size;
    }
    for (size_t i = 0; i < r->acct_cap; i++) {
        slot_t *s = r->acct[i];
        if (s && !s->present && s->loaded) {
            log_event(LOG_LEVEL_INFO, "account_model_removed", "account=%s", log_q(s->account));
            s->target[0] = '\0';
            registry_slot_unload(r, s);
        } else if (s && !s->present)
            s->target[0] = '\0';
    }
    registry_challenger_after_check(r, def_ent, def_target);
    /* Refresh what is loaded; accounts not loaded wait for their first record. */
    if (*def_target && (!r->def.loaded || strcmp(r->def.loaded->version, def_target)) &&
        strcmp(r->def.failed, def_target))
        start_load(r, &r->def, def_target);
    for (size_t i = 0; i < r->acct_cap; i++) {
        slot_t *s = r->acct[i];
        if (s && s->loaded && s->target[0] && strcmp(s->loaded->version, s->target) && strcmp(s->failed, s->target))
            start_load(r, s, s->target);
    }
    /* Models a waiting batch pinned may have pushed the total over budget:
     * now that they are free, the least recently used go. */
    registry_evict(r, NULL);
}

int registry_load_finished(registry_t *r, const job_t *j, slot_t *s, double *secs)
{
    s->loading = 0;
    *secs = (double)(uv_hrtime() - j->t0) / 1e9;
    metrics_observe(r->f_load_seconds, metrics_series0(r->f_load_seconds), *secs);
    if (!j->rc)
        return 0;
    metrics_inc(metrics_series1(r->f_loads, "refused"), 1);
    metrics_inc(metrics_series1(r->f_refusals, j->reason), 1);
    registry_note_error(r, j->reason);
    /* A refused version is not fetched again (versions are immutable); a
     * store failure is retried at the next check. */
    if (strcmp(j->reason, "store") && strcmp(j->reason, "missing"))
        snprintf(s->failed, sizeof s->failed, "%s", j->version);
    return j->rc;
}

static void after_load(registry_t *r, job_t *j, slot_t *s)
{
    const char *who = s->account ? s->account : r->name;
    double secs;
    if (registry_load_finished(r, j, s, &secs)) {
        log_event(LOG_LEVEL_ERROR, "model_refused", "model=%s version=%s reason=%s msg=%s serving=%s", log_q(who),
             log_q(j->version), j->reason, log_q(j->err), s->loaded ? log_q(s->loaded->version) : "none");
        if (s->account && !s->loaded) {
            metrics_inc(metrics_series0(r->f_fallbacks), 1);
            log_event(LOG_LEVEL_WARN, "account_model_fallback", "account=%s using=%s", log_q(s->account), log_q(r->name));
        }
        if (s->account && r->hooks.account_ready)
            r->hooks.account_ready(r->hooks.ctx);
        return;
    }
    char name[600];
    snprintf(name, sizeof name, "%s%s", s->account ? "accounts/" : "", who);
    registry_model_t *e = registry_model_new(name, j->version, j->model);
    if (!e) {
        log_event(LOG_LEVEL_ERROR, "model_refused", "model=%s reason=oom", log_q(who));
        return;
    }
    j->model = NULL; /* owned by the entry now */
    s->failed[0] = '\0';
    metrics_inc(metrics_series1(r->f_loads, "ok"), 1);
    log_event(LOG_LEVEL_INFO, "model_loaded", "model=%s version=%s from=%s labels=%u rows=%u bytes=%zu seconds=%.3f previous=%s",
         log_q(name), log_q(e->version), j->from_cache ? "cache" : r->file_mode ? "file" : "store",
         model_nlabels(e->model), model_nrows(e->model), model_bytes(e->model), secs,
         s->loaded ? log_q(s->loaded->version) : "none");
    registry_slot_unload(r, s);
    s->loaded = e;
    if (s->account) {
        s->last_used = s->loaded_at = ++r->clock;
        registry_learn(r, s, j->size);
        registry_evict(r, s); /* never the one just loaded: its records are waiting for it */
        if (r->hooks.account_ready)
            r->hooks.account_ready(r->hooks.ctx);
    } else {
        registry_publish_info(r);
        if (r->hooks.changed)
            r->hooks.changed(r->hooks.ctx, e);
    }
}

static slot_t *slot_for_dir(registry_t *r, const char *dir)
{
    if (!strcmp(dir, r->def.dir))
        return &r->def;
    return strncmp(dir, "accounts/", 9) ? NULL : registry_acct_get(r, dir + 9, 0);
}

static void loads_gauges(registry_t *r)
{
    if (r->nloads > r->peak_loads)
        r->peak_loads = r->nloads;
    metrics_set(metrics_series0(r->f_loads_running), (double)r->nloads);
    metrics_set(metrics_series0(r->f_loads_peak), (double)r->peak_loads);
}

static void running_unlink(registry_t *r, job_t *j)
{
    for (job_t **p = &r->running; *p; p = &(*p)->next)
        if (*p == j) {
            *p = j->next;
            break;
        }
    j->next = NULL;
    if (j->kind == J_CHECK) {
        r->check_running = 0;
        return;
    }
    r->nloads--;
    r->lbusy[j->store_ix] = 0;
    r->loading_bytes -= j->est;
    loads_gauges(r);
}

static void job_after(uv_work_t *w, int status)
{
    job_t *j = w->data;
    registry_t *r = j->reg;
    running_unlink(r, j);
    if (!r->closing && status != UV_ECANCELED) {
        if (j->kind == J_CHECK) {
            r->check_queued = 0;
            after_check(r, j);
            metrics_inc(metrics_series1(r->f_checks, j->rc ? "failed" : "ok"), 1);
        } else if (j->challenger) {
            registry_challenger_after_load(r, j);
        } else {
            slot_t *s = slot_for_dir(r, j->dir);
            if (s)
                after_load(r, j, s);
        }
    }
    int load = j->kind == J_LOAD;
    job_free(j);
    if (load)
        registry_heap_release(); /* the loader's buffers, on a pool thread's arena */
    if (!r->closing)
        run_next(r);
}

/* Whether j may start now; a load takes a free store connection and, for an
 * account, its place in the budget. */
static int may_start(registry_t *r, job_t *j)
{
    if (j->kind == J_CHECK)
        return !r->check_running;
    if (r->nloads >= r->max_loads)
        return 0;
    if (!strncmp(j->dir, "accounts/", 9)) {
        slot_t *s = slot_for_dir(r, j->dir);
        j->est = registry_estimate(r, s, j->size);
        if (!registry_admit(r, j->est, s ? s->last_used : UINT64_MAX))
            return 0;
    }
    return 1;
}

static void launch(registry_t *r, job_t *j)
{
    j->t0 = uv_hrtime();
    if (j->kind == J_CHECK) {
        r->check_running = 1;
    } else {
        int ix = 0;
        while (r->lbusy[ix])
            ix++;
        r->lbusy[ix] = 1;
        j->store_ix = ix;
        j->store = r->lstore ? r->lstore[ix] : NULL;
        r->nloads++;
        r->loading_bytes += j->est;
        loads_gauges(r);
    }
    j->next = r->running;
    r->running = j;
    if (uv_queue_work(r->loop, &j->work, registry_job_work, job_after)) {
        running_unlink(r, j);
        if (j->kind == J_CHECK)
            r->check_queued = 0;
        else {
            slot_t *s = j->challenger ? &r->chal : slot_for_dir(r, j->dir);
            if (s)
                s->loading = 0; /* asked for again by its next record or check */
        }
        job_free(j);
    }
}

void registry_start_load(registry_t *r, slot_t *s, const char *version) { start_load(r, s, version); }

/* Starts what may start, in queue order; a load that must wait for the
 * budget or a connection holds the loads behind it (first come, first
 * loaded), not a check. */
static void run_next(registry_t *r)
{
    if (r->closing)
        return;
    job_t **p = &r->qhead, *prev = NULL;
    int loads_blocked = 0;
    while (*p) {
        job_t *j = *p;
        if ((j->kind == J_LOAD && loads_blocked) || !may_start(r, j)) {
            loads_blocked |= j->kind == J_LOAD;
            prev = j;
            p = &j->next;
            continue;
        }
        *p = j->next;
        if (r->qtail == j)
            r->qtail = prev;
        j->next = NULL;
        launch(r, j);
    }
}

static void start_load(registry_t *r, slot_t *s, const char *version)
{
    if (s->loading)
        return;
    job_t *j = calloc(1, sizeof *j);
    if (!j)
        return;
    j->kind = J_LOAD;
    j->file_mode = r->file_mode;
    snprintf(j->dir, sizeof j->dir, "%s", s->dir);
    snprintf(j->version, sizeof j->version, "%s", version);
    j->size = strcmp(version, s->target) ? 0 : s->target_size;
    j->challenger = s == &r->chal;
    j->may_fall_back = !s->loaded && !j->challenger; /* a challenger never serves from the cache's last good */
    s->loading = 1;
    enqueue(r, j);
}

/* File mode: a load when the file is new or changed (device, inode, size,
 * modification time). */
static void check_file(registry_t *r)
{
    struct stat st;
    if (stat(r->source, &st)) {
        if (r->have_seen || !r->def.loaded)
            log_event(r->def.loaded ? LOG_LEVEL_WARN : LOG_LEVEL_ERROR, "model_unavailable", "source=%s msg=%s", log_q(r->source),
                 log_q(strerror(errno)));
        r->have_seen = 0;
        return;
    }
    if (r->have_seen && st.st_dev == r->seen.st_dev && st.st_ino == r->seen.st_ino && st.st_size == r->seen.st_size &&
        st.st_mtim.tv_sec == r->seen.st_mtim.tv_sec && st.st_mtim.tv_nsec == r->seen.st_mtim.tv_nsec)
        return;
    if (r->def.loading)
        return; /* the next poll sees it again */
    r->seen = st;
    r->have_seen = 1;
    start_load(r, &r->def, "");
}

static void check(registry_t *r)
{
    metrics_set(metrics_series0(r->f_last_check), (double)tstamp_now_ms() / 1000.0);
    if (r->file_mode) {
        check_file(r);
        return;
    }
    if (r->check_queued)
        return;
    job_t *j = calloc(1, sizeof *j);
    if (!j)
        return;
    j->kind = J_CHECK;
    r->check_queued = 1;
    enqueue(r, j);
}

static void on_poll(uv_timer_t *t) { check(t->data); }

void registry_check_now(registry_t *r)
{
    log_event(LOG_LEVEL_INFO, "model_check", "source=%s trigger=signal", log_q(r->file_mode ? r->source : store_url(r->store)));
    check(r);
}

uint64_t registry_account_wait_ms(const registry_t *r) { return r->wait_ms; }
int registry_loads_running(const registry_t *r) { return (int)r->nloads; }
void registry_count_wait_cut(registry_t *r) { metrics_inc(metrics_series0(r->f_waits_cut), 1); }

registry_model_t *registry_for_account(registry_t *r, const char *account, size_t len, int may_wait, int *result)
{
    slot_t **p = r->acct_n ? registry_acct_find(r, account, len) : NULL;
    slot_t *s = p ? *p : NULL;
    if (!s || !s->target[0]) {
        *result = REGISTRY_DEFAULT;
        return r->def.loaded;
    }
    s->last_used = ++r->clock;
    if (s->loaded) {
        *result = REGISTRY_HIT;
        return s->loaded; /* a newer version may be loading: serve this one meanwhile */
    }
    if (!strcmp(s->failed, s->target)) {
        *result = REGISTRY_DEFAULT;
        return r->def.loaded; /* its model cannot be loaded: the default serves */
    }
    start_load(r, s, s->target);
    if (!may_wait || !r->wait_ms) {
        /* Waited long enough (or not at all): the default labels this
         * record, and its output names the default. */
        *result = REGISTRY_DEFAULT_WHILE_LOADING;
        return r->def.loaded;
    }
    *result = REGISTRY_WAIT;
    return NULL;
}

void registry_count_lookups(registry_t *r, const size_t n[REGISTRY_NRESULTS])
{
    static const char *const name[REGISTRY_NRESULTS] = {"hit", "wait", "default_while_loading", "default"};
    for (int i = 0; i < REGISTRY_NRESULTS; i++)
        if (n[i])
            metrics_inc(metrics_series1(r->f_lookups, name[i]), (double)n[i]);
}

void registry_settle(registry_t *r)
{
    registry_evict(r, NULL);
    run_next(r);
}

static int is_store_url(const char *src) { return !strncmp(src, "s3://", 5) || !strncmp(src, "file://", 7); }

static int open_store(const cfg_t *cfg, store_t **out, char *err, size_t errlen)
{
    store_opts_t so = {0};
    const char *v;
    so.endpoint = *(v = cfg_str(cfg, "model.s3.endpoint")) ? v : NULL;
    so.region = *(v = cfg_str(cfg, "model.s3.region")) ? v : NULL;
    so.access_key = *(v = cfg_str(cfg, "model.s3.access.key")) ? v : NULL;
    so.secret_key = *(v = cfg_str(cfg, "model.s3.secret.key")) ? v : NULL;
    so.session_token = *(v = cfg_str(cfg, "model.s3.session.token")) ? v : NULL;
    so.timeout_ms = (long)cfg_int(cfg, "model.s3.timeout.ms");
    so.retries = (int)cfg_int(cfg, "model.s3.retries");
    char serr[TRI_ERRLEN];
    int rc = store_open(cfg_str(cfg, "model.source"), &so, out, serr, sizeof serr);
    if (rc)
        return tri_errf(err, errlen, rc, "%s: model.source: %s", cfg_origin(cfg, "model.source"), serr);
    return 0;
}

int registry_check_config(const cfg_t *cfg, char *err, size_t errlen)
{
    const char *src = cfg_str(cfg, "model.source");
    if (!*src)
        return tri_errf(err, errlen, TRI_EINVAL, "%s: model.source is required (a store URL or a model file)",
                        cfg_origin(cfg, "model.source"));
    const char *name = cfg_str(cfg, "model.name");
    if (!*name || strchr(name, '/') || !strcmp(name, "accounts") || !strcmp(name, ".") || !strcmp(name, ".."))
        return tri_errf(err, errlen, TRI_EINVAL, "%s: model.name '%s' must be a plain name other than 'accounts'",
                        cfg_origin(cfg, "model.name"), name);
    int crc = registry_challenger_check_config(cfg, !is_store_url(src), err, errlen);
    if (crc || !is_store_url(src))
        return crc;
    store_t *st = NULL;
    int rc = open_store(cfg, &st, err, errlen);
    store_close(st);
    return rc;
}

int registry_check_source(const cfg_t *cfg, char *err, size_t errlen)
{
    const char *src = cfg_str(cfg, "model.source");
    if (is_store_url(src))
        return 0;
    model_t *m = NULL;
    const char *reason = NULL;
    char e[TRI_ERRLEN];
    int rc = registry_load_verified(src, &m, &reason, e, sizeof e);
    model_unref(m);
    if (rc)
        return tri_errf(err, errlen, rc, "%s: model.source: %s (a start would wait, not ready, until the file loads)",
                        cfg_origin(cfg, "model.source"), e);
    return 0;
}

int registry_new(uv_loop_t *loop, const cfg_t *cfg, metrics_t *met, const registry_hooks_t *hooks, registry_t **out, char *err,
            size_t errlen)
{
    int crc = registry_check_config(cfg, err, errlen);
    if (crc)
        return crc;
    const char *src = cfg_str(cfg, "model.source");
    const char *name = cfg_str(cfg, "model.name");
    registry_t *r = calloc(1, sizeof *r);
    if (!r)
        return tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
    r->loop = loop;
    r->file_mode = !is_store_url(src);
    r->source = strdup(src);
    r->name = strdup(name);
    r->cache_dir = strdup(cfg_str(cfg, "model.cache.dir"));
    r->def.dir = strdup(name);
    r->interval_ms = (uint64_t)cfg_int(cfg, "model.poll.interval");
    r->max_bytes = (size_t)cfg_int(cfg, "model.cache.max.bytes");
    r->wait_ms = (uint64_t)cfg_int(cfg, "model.account.wait");
    r->max_loads = r->file_mode ? 1 : (int)cfg_int(cfg, "model.load.parallel");
    r->lbusy = calloc((size_t)r->max_loads, 1);
    r->pins = json_object();
    if (hooks)
        r->hooks = *hooks;
    static const double load_bounds[] = {0.001, 0.01, 0.05, 0.1, 0.5, 1, 5, 30};
    r->f_info = metrics_family(met, METRICS_GAUGE, "triage_model_info", "The default model version serving now (value 1).",
                           "name,version,checksum", NULL, 0);
    r->f_loads = metrics_family(met, METRICS_COUNTER, "triage_model_loads_total", "Model load attempts by result.",
                            "result", NULL, 0);
    r->f_refusals = metrics_family(met, METRICS_COUNTER, "triage_model_refusals_total",
                               "Model versions refused, by reason.", "reason", NULL, 0);
    r->f_load_seconds = metrics_family(met, METRICS_HISTOGRAM, "triage_model_load_seconds",
                                   "Time to fetch, validate and smoke-test a model.", NULL, load_bounds, 8);
    r->f_last_check = metrics_family(met, METRICS_GAUGE, "triage_model_last_check_timestamp_seconds",
                                 "When the model source was last checked.", NULL, NULL, 0);
    r->f_loaded_at = metrics_family(met, METRICS_GAUGE, "triage_model_loaded_timestamp_seconds",
                                "When the serving default model was loaded.", NULL, NULL, 0);
    r->f_last_error = metrics_family(met, METRICS_GAUGE, "triage_model_last_error_timestamp_seconds",
                                 "When the last model or store error happened, by reason.", "reason", NULL, 0);
    r->f_store_errors = metrics_family(met, METRICS_COUNTER, "triage_model_store_errors_total",
                                   "Store checks that failed (the current models keep serving).", NULL, NULL, 0);
    r->f_bad_keys = metrics_family(met, METRICS_GAUGE, "triage_model_store_bad_keys",
                                   "Keys left out of the last store check because the store's key rules refuse "
                                   "them (control characters, '..'); the log names them.",
                                   NULL, NULL, 0);
    r->f_acct_loaded = metrics_family(met, METRICS_GAUGE, "triage_account_models_loaded", "Per-account models in memory.",
                                  NULL, NULL, 0);
    r->f_acct_bytes = metrics_family(met, METRICS_GAUGE, "triage_account_models_bytes",
                                 "Memory held by per-account models (budget: model.cache.max.bytes).", NULL, NULL, 0);
    r->f_evictions = metrics_family(met, METRICS_COUNTER, "triage_account_model_evictions_total",
                                "Per-account models evicted to stay within the budget.", NULL, NULL, 0);
    r->f_fallbacks = metrics_family(met, METRICS_COUNTER, "triage_account_model_fallbacks_total",
                                "Accounts served by the default because their model could not be loaded.", NULL,
                                NULL, 0);
    r->f_lookups = metrics_family(met, METRICS_COUNTER, "triage_account_model_lookups_total",
                                  "Model lookups for records with an account: hit (its model in memory), wait (its "
                                  "batch waits for the load), default_while_loading (waited model.account.wait: the "
                                  "default labels it), default (no model of its own, or one that cannot load).",
                                  "result", NULL, 0);
    r->f_waits_cut = metrics_family(met, METRICS_COUNTER, "triage_account_model_waits_cut_total",
                                    "Batches that stopped waiting for account models before model.account.wait: "
                                    "no load ran and no batch was being labeled, so the models they waited for could "
                                    "not be admitted within model.cache.max.bytes beside the ones the waiting batches "
                                    "hold (a budget below the working set); their other records got the default.",
                                    NULL, NULL, 0);
    r->f_checks = metrics_family(met, METRICS_COUNTER, "triage_model_checks_total",
                                 "Store checks completed, by result (a PIN or version pushed before a check began "
                                 "is in effect when it completes).",
                                 "result", NULL, 0);
    r->f_loads_running = metrics_family(met, METRICS_GAUGE, "triage_model_loads_running",
                                        "Model loads (fetch, validation, smoke test) on the thread pool now "
                                        "(at most model.load.parallel).", NULL, NULL, 0);
    r->f_loads_peak = metrics_family(met, METRICS_GAUGE, "triage_model_loads_running_peak",
                                     "The most model loads that ran at once since start.", NULL, NULL, 0);
    r->f_bytes_peak = metrics_family(met, METRICS_GAUGE, "triage_account_models_peak_bytes",
                                     "The most memory per-account models held at once since start (as "
                                     "triage_account_models_bytes counts it).", NULL, NULL, 0);
    int rc = 0;
    if (!r->f_checks || !r->f_waits_cut || !r->source || !r->name || !r->cache_dir || !r->def.dir || !r->f_lookups || !r->pins ||
        !r->lbusy || !r->f_bytes_peak || registry_challenger_init(r, cfg, met)) {
        rc = tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
        goto fail;
    }
    if (!r->file_mode) {
        if ((rc = open_store(cfg, &r->store, err, errlen)))
            goto fail;
        /* One connection per concurrent load: a store_t serves one thread at a time. */
        if (!(r->lstore = calloc((size_t)r->max_loads, sizeof *r->lstore))) {
            rc = tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
            goto fail;
        }
        for (int i = 0; i < r->max_loads; i++)
            if ((rc = open_store(cfg, &r->lstore[i], err, errlen)))
                goto fail;
        if (registry_mkdirs(r->cache_dir)) {
            rc = tri_errf(err, errlen, TRI_EIO, "%s: model.cache.dir %s: %s", cfg_origin(cfg, "model.cache.dir"),
                          r->cache_dir, strerror(errno));
            goto fail;
        }
    }
    uv_timer_init(loop, &r->poll);
    r->poll.data = r;
    uv_timer_start(&r->poll, on_poll, r->interval_ms, r->interval_ms);
    check(r);
    *out = r;
    return 0;
fail:
    registry_free(r);
    return rc;
}

void registry_close(registry_t *r)
{
    r->closing = 1;
    uv_timer_stop(&r->poll);
    uv_close((uv_handle_t *)&r->poll, NULL);
    while (r->qhead) {
        job_t *j = r->qhead;
        r->qhead = j->next;
        job_free(j);
    }
    r->qtail = NULL;
    for (job_t *j = r->running; j; j = j->next) {
        uv_cancel((uv_req_t *)&j->work);
        /* A job already on a worker thread cannot be cancelled by libuv, and
         * the loop waits for it: make its transfer stop now. */
        if (j->kind == J_CHECK && r->store)
            store_cancel(r->store);
        else if (j->store)
            store_cancel(j->store);
    }
}

void registry_free(registry_t *r)
{
    if (!r)
        return;
    registry_slot_unload(r, &r->def);
    for (size_t i = 0; i < r->acct_cap; i++) {
        slot_t *s = r->acct[i];
        if (!s)
            continue;
        registry_slot_unload(r, s);
        free(s->account);
        free(s->dir);
        free(s);
    }
    free(r->acct);
    registry_slot_unload(r, &r->chal);
    free(r->chal.dir);
    free(r->def.dir);
    if (r->pins)
        json_decref(r->pins);
    store_close(r->store);
    for (int i = 0; r->lstore && i < r->max_loads; i++)
        store_close(r->lstore[i]);
    free(r->lstore);
    free(r->lbusy);
    free(r->source);
    free(r->name);
    free(r->cache_dir);
    free(r);
}
