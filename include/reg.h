/* reg — the model registry: which model version serves now, where it came
 * from, and the swap to a newer one.
 *
 * Loads run off the loop (libuv thread pool): read, validate (model.c
 * refuses damaged files), then a smoke test — every probe text stored in the
 * model must get its expected label. Only then is the new version swapped in,
 * on the loop, between two batches: a batch holds a reference to the version
 * it started with, so no record is ever scored by a half-loaded model and the
 * old version is freed after its last batch (DESIGN.md invariant #2). Any
 * failure keeps the current version serving, is logged and counted by reason,
 * and is retried at the next check.
 *
 * Ownership: reg_t is created by reg_new and freed by reg_free (after
 * reg_close). reg_model_t is reference counted on the loop thread
 * (reg_model_ref/unref); its clf_t pool hands a scorer to one batch at a time. */
#ifndef REG_H
#define REG_H
#include "cfg.h"
#include "clf.h"
#include "met.h"
#include "model.h"
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct reg_model {
    model_t *model;
    char *name, *version;
    char *tag_json;            /* "\"name@version\"" as a JSON string */
    char **label_json;         /* each label as a JSON string */
    size_t *label_json_len;
    size_t tag_json_len;
    int refs;                  /* loop thread only */
    clf_t **idle;              /* scorers not in use (loop thread only) */
    size_t nidle, capidle;
    met_series_t **label_series; /* per-label counters, filled by the pipeline */
    int64_t loaded_ms;
} reg_model_t;

typedef struct reg_hooks {
    /* A (new) current model is in place. */
    void (*changed)(void *ctx, reg_model_t *current);
    void *ctx;
} reg_hooks_t;

typedef struct reg reg_t;

int reg_new(uv_loop_t *loop, const cfg_t *cfg, met_t *met, const reg_hooks_t *hooks, reg_t **out, char *err,
            size_t errlen);
/* Checks the source now (SIGHUP) instead of at the next poll. */
void reg_check_now(reg_t *r);
/* Stops polling; loads in flight finish and are dropped. */
void reg_close(reg_t *r);
void reg_free(reg_t *r);

/* The version serving now, or NULL before the first successful load. */
reg_model_t *reg_current(reg_t *r);
reg_model_t *reg_model_ref(reg_model_t *m);
void reg_model_unref(reg_model_t *m);
/* A scorer for one batch (NULL on allocation failure); give it back after. */
clf_t *reg_clf_get(reg_model_t *m);
void reg_clf_put(reg_model_t *m, clf_t *c);

/* Validates a loaded model by its probe texts; returns 0 or TRI_EINVAL with
 * the first mismatch in err. Thread-safe (uses its own scorer). */
int reg_probe(model_t *m, char *err, size_t errlen);

#endif
