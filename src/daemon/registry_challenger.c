/* registry_challenger — the registry's challenger slot (model.challenger): a
 * second version of the default model, chosen at each store check (a named
 * VERSION, or next: the newest version after the one serving), loaded and
 * verified by the same job as any version, and handed to the shadow scorer
 * (daemon/shadow.h) through registry_challenger(). Nothing here ever changes
 * what the champion serves, but one thing: when the store makes the loaded
 * challenger the champion (triage promote), it moves to the default slot at
 * that check, without a second download or load. */
#include "registry_internal.h"
#include "core/tri_err.h"
#include "core/tstamp.h"
#include "io/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int registry_challenger_check_config(const cfg_t *cfg, int file_mode, char *err, size_t errlen)
{
    const char *c = cfg_str(cfg, "model.challenger");
    if (!*c)
        return 0;
    if (file_mode)
        return tri_errf(err, errlen, TRI_EINVAL,
                        "%s: model.challenger needs a model store as model.source (s3:// or file://), not a model file",
                        cfg_origin(cfg, "model.challenger"));
    if (strlen(c) >= VERSION_MAX || strchr(c, '/') || !strcmp(c, ".") || !strcmp(c, ".."))
        return tri_errf(err, errlen, TRI_EINVAL,
                        "%s: model.challenger '%s' must be next or a version name (as `triage models` lists it)",
                        cfg_origin(cfg, "model.challenger"), c);
    return 0;
}

int registry_challenger_init(registry_t *r, const cfg_t *cfg, metrics_t *met)
{
    snprintf(r->chal_cfg, sizeof r->chal_cfg, "%s", cfg_str(cfg, "model.challenger"));
    r->chal.dir = strdup(r->name);
    r->f_chal_info = metrics_family(met, METRICS_GAUGE, "triage_challenger_info",
                                    "The challenger version scored in the shadow (value 1; absent when none).",
                                    "name,version,checksum", NULL, 0);
    return r->chal.dir && r->f_chal_info ? 0 : TRI_ENOMEM;
}

const char *registry_challenger_pick(const registry_t *r, char *const *versions, size_t n, const char *pinned)
{
    if (!r->chal_cfg[0])
        return NULL;
    if (!strcmp(r->chal_cfg, "next"))
        return store_pick_next(versions, n, pinned);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(versions[i], r->chal_cfg))
            return versions[i];
    return NULL;
}

registry_model_t *registry_challenger(registry_t *r)
{
    registry_model_t *c = r->chal.loaded;
    /* Never the champion itself (a named challenger that got promoted). */
    return c && !(r->def.loaded && !strcmp(r->def.loaded->version, c->version)) ? c : NULL;
}

static void publish_chal_info(registry_t *r) { registry_publish_model_info(r->f_chal_info, r->chal.loaded); }

/* triage promote pinned the loaded challenger: it serves from now on. */
static void promote_loaded(registry_t *r)
{
    registry_model_t *c = r->chal.loaded;
    log_event(LOG_LEVEL_INFO, "challenger_promoted", "model=%s version=%s previous=%s", log_q(r->name),
              log_q(c->version), r->def.loaded ? log_q(r->def.loaded->version) : "none");
    registry_slot_unload(r, &r->def);
    r->def.loaded = c; /* the slot's reference moves */
    r->def.failed[0] = '\0';
    r->chal.loaded = NULL;
    publish_chal_info(r);
    registry_publish_info(r);
    if (r->hooks.changed)
        r->hooks.changed(r->hooks.ctx, c);
}

void registry_challenger_after_check(registry_t *r, const cat_ent_t *ent, const char *def_target)
{
    if (!r->chal_cfg[0])
        return;
    if (ent && !ent->unreadable)
        snprintf(r->chal.target, sizeof r->chal.target, "%s", ent->chal);
    else if (!ent)
        r->chal.target[0] = '\0';
    /* An unreadable PIN keeps the last target, as for the champion. */
    if (!strcmp(r->chal.target, def_target))
        r->chal.target[0] = '\0'; /* a named challenger that serves now */
    r->chal.target_size = ent && !strcmp(ent->chal, r->chal.target) ? ent->chal_size : 0;
    if (*def_target && r->chal.loaded && !strcmp(r->chal.loaded->version, def_target) &&
        (!r->def.loaded || strcmp(r->def.loaded->version, def_target)))
        promote_loaded(r);
    if (!r->chal.target[0]) {
        if (r->chal.loaded) {
            log_event(LOG_LEVEL_INFO, "challenger_removed", "model=%s version=%s challenger=%s", log_q(r->name),
                      log_q(r->chal.loaded->version), log_q(r->chal_cfg));
            registry_slot_unload(r, &r->chal);
            publish_chal_info(r);
        }
        return;
    }
    if ((!r->chal.loaded || strcmp(r->chal.loaded->version, r->chal.target)) && strcmp(r->chal.failed, r->chal.target))
        registry_start_load(r, &r->chal, r->chal.target);
}

void registry_challenger_after_load(registry_t *r, job_t *j)
{
    slot_t *s = &r->chal;
    double secs;
    if (registry_load_finished(r, j, s, &secs)) {
        log_event(LOG_LEVEL_ERROR, "model_refused", "model=%s role=challenger version=%s reason=%s msg=%s serving=%s",
                  log_q(r->name), log_q(j->version), j->reason, log_q(j->err),
                  r->def.loaded ? log_q(r->def.loaded->version) : "none");
        return;
    }
    if (strcmp(j->version, s->target)) {
        /* The store names another challenger (or none) since: drop it. */
        log_event(LOG_LEVEL_INFO, "challenger_stale", "model=%s version=%s challenger=%s", log_q(r->name),
                  log_q(j->version), s->target[0] ? log_q(s->target) : "none");
        return;
    }
    registry_model_t *e = registry_model_new(r->name, j->version, j->model);
    if (!e) {
        log_event(LOG_LEVEL_ERROR, "model_refused", "model=%s role=challenger reason=oom", log_q(r->name));
        return;
    }
    j->model = NULL; /* owned by the entry now */
    s->failed[0] = '\0';
    metrics_inc(metrics_series1(r->f_loads, "ok"), 1);
    log_event(LOG_LEVEL_INFO, "challenger_loaded", "model=%s version=%s labels=%u rows=%u bytes=%zu seconds=%.3f previous=%s champion=%s",
              log_q(r->name), log_q(e->version), model_nlabels(e->model), model_nrows(e->model), model_bytes(e->model),
              secs, s->loaded ? log_q(s->loaded->version) : "none", r->def.loaded ? log_q(r->def.loaded->version) : "none");
    registry_slot_unload(r, s);
    s->loaded = e;
    publish_chal_info(r);
}
