/* registry — the model registry: which model version serves, for the default and
 * for each account with a model of its own, where it came from, and the swap
 * to a newer one.
 *
 * Sources (model.source): a store URL (s3://BUCKET/PREFIX or file:///DIR)
 * laid out as PREFIX/NAME/VERSION.tmodel, PREFIX/NAME/PIN (a version name: a
 * rollback) and PREFIX/accounts/ACCOUNT/..., or a plain model file.
 *
 * Every store call and every load runs off the loop (libuv thread pool): one
 * store check at a time (list the store, paging through S3's 1,000-key
 * pages, and read the PINs whose ETag changed), and up to model.load.parallel
 * loads at once, each through its own store connection: download (into
 * model.cache.dir), validate (model.c refuses damaged files) and smoke-test
 * (every probe text stored in the model must get its expected label). Only
 * then is the new version swapped in, on the loop, between two batches: a
 * batch on the pool holds a reference to the versions it uses, so no record
 * is scored by a half-loaded model and an old version is freed after its
 * last batch (DESIGN.md #2). Any failure keeps the current version serving,
 * is logged and counted by reason, and is retried at the next check. If the
 * store is unreachable at start, the last good version in the cache serves;
 * with neither, no model is current (the daemon stays not ready and consumes
 * nothing).
 *
 * The challenger (model.challenger: a VERSION, or next = the newest version
 * after the one serving) is a second slot for the default's directory: loaded,
 * verified and refused by the same rules (a refused challenger is counted
 * and never touches the champion; a cached last good never serves as one),
 * reloaded when the store names another, dropped when it names none. When a
 * promote makes the loaded challenger the champion, it is swapped in at that
 * check without a reload.
 *
 * Per-account models are loaded on first use (registry_for_account says "wait",
 * for a bounded time) and evicted least-recently-used beyond
 * model.cache.max.bytes. Their memory is counted (weights, idle scorers and
 * scorers lent to batches), and an account load starts only when its
 * estimate (registry_internal.h) fits the budget beside the loads in flight,
 * evicting least recently used models no batch holds. So the count stays
 * within the budget, but for estimates short of what a load turns out to
 * hold, the scorers a batch's worker makes (at most 8 a batch) and a single
 * model larger than the whole budget, which loads alone
 * (triage_account_models_peak_bytes shows the most it held).
 *
 * Ownership: registry_t is created by registry_new and freed by registry_free (after
 * registry_close). registry_model_t is reference counted on the loop thread
 * (registry_model_ref/unref); its scorer pool hands a scorer to one batch at a
 * time (registry_clf_get/put).
 *
 * Threads: the loop thread only, but for the accessors of registry_model_t. */
#ifndef REGISTRY_H
#define REGISTRY_H
#include "io/cfg.h"
#include "core/clf.h"
#include "daemon/metrics.h"
#include "core/model.h"
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* One loaded version (opaque): reference counted on the loop thread; what
 * the accessors return is immutable, so a worker may read it while its
 * batch holds a reference. */
typedef struct registry_model registry_model_t;

/* What a labeled record needs of a version, encoded once as JSON strings. */
typedef struct registry_json {
    char *tag;                 /* "\"name@version\"" */
    size_t tag_len;
    char **label;              /* each label, by index */
    size_t *label_len;
} registry_json_t;

typedef struct registry_hooks {
    /* A (new) default model is in place. */
    void (*changed)(void *ctx, registry_model_t *current);
    /* A per-account load finished (either way): retry waiting batches. */
    void (*account_ready)(void *ctx);
    void *ctx;
} registry_hooks_t;

typedef struct reg registry_t;

/* What registry_new would refuse in the configuration: model.source
 * (required; a store URL must open: scheme, bucket, credentials), model.name.
 * For --check-config; registry_new runs it too. */
int registry_check_config(const cfg_t *cfg, char *err, size_t errlen);
/* For --check-config, after registry_check_config: with a model file as
 * model.source (not a store URL), loads and verifies it as start-up does
 * (the model's checks, then its probe texts). A start does not stop on this:
 * it logs model_unavailable and stays not ready until a good file appears;
 * --check-config, whose question is whether the configuration would serve,
 * refuses it. A store is not reached (its URL was checked above). */
int registry_check_source(const cfg_t *cfg, char *err, size_t errlen);
int registry_new(uv_loop_t *loop, const cfg_t *cfg, metrics_t *met, const registry_hooks_t *hooks, registry_t **out, char *err,
            size_t errlen);
/* Checks the source now (SIGHUP) instead of at the next poll. */
void registry_check_now(registry_t *r);
/* Stops polling; jobs in flight finish and are dropped. */
void registry_close(registry_t *r);
void registry_free(registry_t *r);

/* The default version serving now, or NULL before the first successful load. */
registry_model_t *registry_current(registry_t *r);
/* The challenger (model.challenger) loaded now, or NULL: a version of the
 * default model other than the one serving, scored in the shadow only. */
registry_model_t *registry_challenger(registry_t *r);
/* Whether any account has a model of its own (else callers skip the lookup). */
int registry_has_accounts(const registry_t *r);
/* What registry_for_account found, as triage_account_model_lookups_total
 * counts it. */
enum { REGISTRY_HIT, REGISTRY_WAIT, REGISTRY_DEFAULT_WHILE_LOADING, REGISTRY_DEFAULT, REGISTRY_NRESULTS };
/* The model for a record of this account: its own when loaded (HIT), the
 * default when it has none or its model cannot be loaded (DEFAULT); while its
 * model is being loaded (a load is started or queued if needed): NULL (WAIT)
 * when may_wait (the caller bounds its wait by registry_account_wait_ms) and
 * the wait is not 0, else the default while the load goes on
 * (DEFAULT_WHILE_LOADING). Counts nothing: see registry_count_lookups. */
registry_model_t *registry_for_account(registry_t *r, const char *account, size_t len, int may_wait, int *result);
/* Adds to the lookup counter, n[result] lookups each (a batch counts its
 * records once, when it starts or when it first waits). */
void registry_count_lookups(registry_t *r, const size_t n[REGISTRY_NRESULTS]);
/* After batches gave back scorers and references: evicts beyond the budget
 * and starts the loads that now fit. */
void registry_settle(registry_t *r);
/* model.account.wait: how long a batch may wait for account models in all. */
uint64_t registry_account_wait_ms(const registry_t *r);
/* Model loads running on the thread pool now (queued ones not counted). */
int registry_loads_running(const registry_t *r);
/* Counts a batch that stopped waiting before model.account.wait because
 * nothing could bring its models in (triage_account_model_waits_cut_total). */
void registry_count_wait_cut(registry_t *r);

registry_model_t *registry_model_ref(registry_model_t *m);
void registry_model_unref(registry_model_t *m);
const model_t *registry_model_model(const registry_model_t *m);
const char *registry_model_name(const registry_model_t *m);
const char *registry_model_version(const registry_model_t *m);
int64_t registry_model_loaded_ms(const registry_model_t *m);
const registry_json_t *registry_model_json(const registry_model_t *m);
/* A scorer lent to one batch (NULL on allocation failure): an idle one, or a
 * new one; give it back with registry_clf_put. */
clf_t *registry_clf_get(registry_model_t *m);
/* An idle scorer lent to one batch, or NULL when none is idle (none is made
 * here: the batch makes one on the pool). */
clf_t *registry_clf_take(registry_model_t *m);
/* Gives back a scorer lent by registry_clf_get/take. */
void registry_clf_put(registry_model_t *m, clf_t *c);
/* A scorer made elsewhere for m joins its idle ones (counted from now). */
void registry_clf_adopt(registry_model_t *m, clf_t *c);

#endif
