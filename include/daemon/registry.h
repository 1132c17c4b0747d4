/* registry — the model registry: which model version serves, for the default and
 * for each account with a model of its own, where it came from, and the swap
 * to a newer one.
 *
 * Sources (model.source): a store URL (s3://BUCKET/PREFIX or file:///DIR)
 * laid out as PREFIX/NAME/VERSION.tmodel, PREFIX/NAME/PIN (a version name: a
 * rollback) and PREFIX/accounts/ACCOUNT/..., or a plain model file.
 *
 * Every store call and every load runs off the loop (libuv thread pool), one
 * job at a time: list the store, then download (into model.cache.dir),
 * validate (model.c refuses damaged files) and smoke-test (every probe text
 * stored in the model must get its expected label). Only then is the new
 * version swapped in, on the loop, between two batches: a batch holds a
 * reference to the versions it uses, so no record is scored by a half-loaded
 * model and an old version is freed after its last batch (DESIGN.md #2). Any
 * failure keeps the current version serving, is logged and counted by
 * reason, and is retried at the next check. If the store is unreachable at
 * start, the last good version in the cache serves; with neither, no model
 * is current (the daemon stays not ready and consumes nothing).
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
 * model.cache.max.bytes.
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
/* The model for a record of this account: its own when loaded, the default
 * when it has none (or its model cannot be loaded); while its model is being
 * loaded (a load is started if needed): NULL with *wait = 1 when may_wait
 * (the caller bounds its wait by registry_account_wait_ms) and the wait is
 * not 0, else the default while the load goes on. */
registry_model_t *registry_for_account(registry_t *r, const char *account, size_t len, int may_wait, int *wait);
/* model.account.wait: how long a batch may wait for account models in all. */
uint64_t registry_account_wait_ms(const registry_t *r);

registry_model_t *registry_model_ref(registry_model_t *m);
void registry_model_unref(registry_model_t *m);
const model_t *registry_model_model(const registry_model_t *m);
const char *registry_model_name(const registry_model_t *m);
const char *registry_model_version(const registry_model_t *m);
int64_t registry_model_loaded_ms(const registry_model_t *m);
const registry_json_t *registry_model_json(const registry_model_t *m);
/* A scorer for one batch (NULL on allocation failure); give it back after. */
clf_t *registry_clf_get(registry_model_t *m);
void registry_clf_put(registry_model_t *m, clf_t *c);

#endif
