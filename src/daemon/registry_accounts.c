/* registry_accounts — per-account model slots (an open-addressing table by
 * account name) and their memory budget, model.cache.max.bytes: what account
 * models hold is counted (weights, idle scorers, scorers lent to batches on
 * the pool), the least recently used go beyond it, and an account load
 * starts only when its estimate fits (registry_admit). Loop thread only. */
#include "registry_internal.h"
#include "io/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

slot_t **registry_acct_find(registry_t *r, const char *name, size_t len)
{
    if (!r->acct_cap)
        return NULL;
    size_t mask = r->acct_cap - 1;
    for (size_t i = (size_t)XXH3_64bits(name, len) & mask;; i = (i + 1) & mask) {
        slot_t *s = r->acct[i];
        if (!s)
            return &r->acct[i];
        if (strlen(s->account) == len && !memcmp(s->account, name, len))
            return &r->acct[i];
    }
}

slot_t *registry_acct_get(registry_t *r, const char *name, int create)
{
    size_t len = strlen(name);
    slot_t **p = registry_acct_find(r, name, len);
    if (p && *p)
        return *p;
    if (!create)
        return NULL;
    if ((r->acct_n + 1) * 2 > r->acct_cap) {
        size_t cap = r->acct_cap ? r->acct_cap * 2 : 64;
        slot_t **old = r->acct, **v = calloc(cap, sizeof *v);
        if (!v)
            return NULL;
        size_t oldcap = r->acct_cap;
        r->acct = v;
        r->acct_cap = cap;
        for (size_t i = 0; i < oldcap; i++)
            if (old[i])
                *registry_acct_find(r, old[i]->account, strlen(old[i]->account)) = old[i];
        free(old);
        p = registry_acct_find(r, name, len);
    }
    slot_t *s = calloc(1, sizeof *s);
    char dir[512];
    snprintf(dir, sizeof dir, "accounts/%s", name);
    if (!s || !(s->account = strdup(name)) || !(s->dir = strdup(dir))) {
        if (s)
            free(s->account);
        free(s);
        return NULL;
    }
    *p = s;
    r->acct_n++;
    return s;
}

/* What account models hold: their weights and their scorers, idle or lent
 * to a batch on the pool (a scorer's stem cache is a few hundred KB; with
 * thousands of small models it outweighs the weights). Scorers a batch
 * creates on the pool for a model with none idle join the count when they
 * come back (at most BATCH_SCORERS_KEPT per batch, batches.c). */
size_t registry_account_bytes(const registry_t *r)
{
    size_t b = 0;
    for (size_t i = 0; i < r->acct_cap; i++) {
        const slot_t *s = r->acct[i];
        if (s && s->loaded)
            b += model_memory(s->loaded->model) + s->loaded->idle_bytes + s->loaded->lent_bytes;
    }
    return b;
}

static void gauges(registry_t *r)
{
    size_t n = 0;
    for (size_t i = 0; i < r->acct_cap; i++)
        if (r->acct[i] && r->acct[i]->loaded)
            n++;
    if (r->account_bytes > r->peak_bytes)
        r->peak_bytes = r->account_bytes;
    metrics_set(metrics_series0(r->f_acct_loaded), (double)n);
    metrics_set(metrics_series0(r->f_acct_bytes), (double)r->account_bytes);
    metrics_set(metrics_series0(r->f_bytes_peak), (double)r->peak_bytes);
}

void registry_slot_unload(registry_t *r, slot_t *s)
{
    (void)r;
    if (!s->loaded)
        return;
    registry_model_unref(s->loaded); /* batches still holding it keep it alive */
    s->loaded = NULL;
}

/* The least recently used account model no batch holds, other than keep,
 * used before `before` (a clock value); with before = 0, any used since it
 * loaded. */
static slot_t *victim(registry_t *r, const slot_t *keep, uint64_t before)
{
    slot_t *v = NULL;
    for (size_t i = 0; i < r->acct_cap; i++) {
        slot_t *s = r->acct[i];
        if (!s || s == keep || !s->loaded || registry_model_in_use(s->loaded))
            continue;
        if (before ? s->last_used >= before : s->last_used == s->loaded_at)
            continue;
        if (!v || s->last_used < v->last_used)
            v = s;
    }
    return v;
}

static void evict_slot(registry_t *r, slot_t *s, size_t budget)
{
    log_event(LOG_LEVEL_INFO, "account_model_evicted", "account=%s version=%s bytes=%zu budget=%zu",
              log_q(s->account), log_q(s->loaded->version), r->account_bytes, budget);
    metrics_inc(metrics_series0(r->f_evictions), 1);
    registry_slot_unload(r, s);
}

/* The peak is taken before evicting: what was held at the moment a load or
 * a batch's scorers came back, not what is left after. */
void registry_evict(registry_t *r, const slot_t *keep)
{
    r->account_bytes = registry_account_bytes(r);
    if (r->account_bytes > r->peak_bytes)
        r->peak_bytes = r->account_bytes;
    while (r->account_bytes > r->max_bytes) {
        slot_t *v = victim(r, keep, 0);
        if (!v)
            break;
        evict_slot(r, v, r->max_bytes);
        r->account_bytes = registry_account_bytes(r);
    }
    gauges(r);
}

int registry_admit(registry_t *r, size_t est, uint64_t asked)
{
    int ok = 0;
    for (;;) {
        r->account_bytes = registry_account_bytes(r);
        if (r->account_bytes + r->loading_bytes + est <= r->max_bytes) {
            ok = 1;
            break;
        }
        /* Room is made for the load now, least recently used first, never
         * from what batches hold (on the pool, or waiting for their other
         * models: they come free when those batches finish), nor from a
         * model used since this one was last asked for (a model loaded
         * after the request, before its batches took it, stays: else two
         * accounts that do not fit together would evict each other before
         * either served a record). */
        slot_t *v = victim(r, NULL, asked);
        if (!v)
            break;
        evict_slot(r, v, r->max_bytes);
    }
    if (!ok && !r->account_bytes && !r->loading_bytes)
        ok = 1; /* larger than the whole budget: it loads alone, or never would */
    gauges(r);
    return ok;
}

size_t registry_estimate(const registry_t *r, const slot_t *s, uint64_t size)
{
    if (s && s->mem)
        return s->mem;
    double per = r->file_bytes > 0 ? r->mem_bytes / r->file_bytes : 4.0;
    return (size_t)((double)size * per) + REGISTRY_SCORER_EST;
}

void registry_learn(registry_t *r, slot_t *s, uint64_t size)
{
    size_t m = model_memory(s->loaded->model);
    s->mem = m + REGISTRY_SCORER_EST;
    if (size) {
        r->file_bytes += (double)size;
        r->mem_bytes += (double)m;
    }
}
