#include "registry_internal.h"
#include "codec/jscan.h"
#include "core/tri_err.h"
#include "core/tstamp.h"
#include "io/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

static char *json_str(const char *s, size_t *len)
{
    buf_t b = BUF_INIT;
    jscan_put_str(&b, s, strlen(s));
    if (b.oom) {
        buf_free(&b);
        return NULL;
    }
    *len = b.len;
    return (char *)buf_cstr(&b);
}

static void entry_free(registry_model_t *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->nidle; i++)
        clf_free(e->idle[i]);
    free(e->idle);
    if (e->json.label)
        for (uint32_t i = 0; i < model_nlabels(e->model); i++)
            free(e->json.label[i]);
    free(e->json.label);
    free(e->json.label_len);
    free(e->name);
    free(e->version);
    free(e->json.tag);
    model_unref(e->model);
    free(e);
}

void registry_file_version(const model_t *m, char *out, size_t n)
{
    const char *v = json_string_value(json_object_get(model_meta(m), "version"));
    if (v && *v) {
        snprintf(out, n, "%s", v);
        return;
    }
    const char *c = json_string_value(json_object_get(model_meta(m), "created_at"));
    size_t k = 0;
    for (; c && *c && k < n - 1; c++)
        if (*c != '-' && *c != ':')
            out[k++] = *c;
    out[k] = '\0';
    if (!k)
        snprintf(out, n, "unversioned");
}

registry_model_t *registry_model_new(const char *name, const char *version, model_t *m)
{
    registry_model_t *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->refs = 1;
    e->name = strdup(name);
    e->version = strdup(version);
    uint32_t L = model_nlabels(m);
    e->json.label = calloc(L, sizeof *e->json.label);
    e->json.label_len = calloc(L, sizeof *e->json.label_len);
    if (!e->name || !e->version || !e->json.label || !e->json.label_len)
        goto fail;
    char tag[768];
    snprintf(tag, sizeof tag, "%s@%s", e->name, e->version);
    if (!(e->json.tag = json_str(tag, &e->json.tag_len)))
        goto fail;
    for (uint32_t i = 0; i < L; i++)
        if (!(e->json.label[i] = json_str(model_label(m, i), &e->json.label_len[i])))
            goto fail;
    e->loaded_ms = tstamp_now_ms();
    e->model = m;
    return e;
fail:
    e->model = NULL; /* not taken: the caller keeps m */
    if (e->json.label)
        for (uint32_t i = 0; i < L; i++)
            free(e->json.label[i]);
    free(e->json.label);
    e->json.label = NULL;
    entry_free(e);
    return NULL;
}

registry_model_t *registry_model_ref(registry_model_t *m)
{
    m->refs++;
    return m;
}

void registry_model_unref(registry_model_t *m)
{
    if (m && --m->refs == 0) {
        entry_free(m);
        registry_heap_release();
    }
}

/* A model and its loader's buffers are allocated on a libuv pool thread,
 * from that thread's glibc arena; freed, they can leave whole free pages
 * inside the arena (triaged.c fixes the thresholds that govern its top).
 * malloc_trim returns those pages of every arena; it runs only when a model
 * or a load's buffers were freed, which is rare. */
void registry_heap_release(void)
{
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}

const model_t *registry_model_model(const registry_model_t *m) { return m->model; }
const char *registry_model_name(const registry_model_t *m) { return m->name; }
const char *registry_model_version(const registry_model_t *m) { return m->version; }
int64_t registry_model_loaded_ms(const registry_model_t *m) { return m->loaded_ms; }
const registry_json_t *registry_model_json(const registry_model_t *m) { return &m->json; }

static void lend(registry_model_t *m, clf_t *c)
{
    m->nlent++;
    m->lent_bytes += clf_memory(c);
}

clf_t *registry_clf_take(registry_model_t *m)
{
    if (!m->nidle)
        return NULL;
    clf_t *c = m->idle[--m->nidle];
    size_t b = clf_memory(c);
    m->idle_bytes = m->idle_bytes > b ? m->idle_bytes - b : 0;
    lend(m, c);
    return c;
}

clf_t *registry_clf_get(registry_model_t *m)
{
    clf_t *c = registry_clf_take(m);
    if (c)
        return c;
    char err[TRI_ERRLEN];
    if (clf_new(m->model, &c, err, sizeof err)) {
        log_event(LOG_LEVEL_ERROR, "scorer_failed", "msg=%s", log_q(err));
        return NULL;
    }
    lend(m, c);
    return c;
}

void registry_clf_adopt(registry_model_t *m, clf_t *c)
{
    if (!c)
        return;
    if (m->nidle == m->capidle) {
        clf_t **v = buf_grow(m->idle, &m->capidle, sizeof *v, 4);
        if (!v) {
            clf_free(c);
            return;
        }
        m->idle = v;
    }
    m->idle[m->nidle++] = c;
    m->idle_bytes += clf_memory(c);
}

void registry_clf_put(registry_model_t *m, clf_t *c)
{
    if (!c)
        return;
    /* Its scratch may have grown while lent: the count drops by what it
     * holds now, and to zero with the last one back. */
    size_t b = clf_memory(c);
    m->lent_bytes = --m->nlent && m->lent_bytes > b ? m->lent_bytes - b : 0;
    registry_clf_adopt(m, c);
}
