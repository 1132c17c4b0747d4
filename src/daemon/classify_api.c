#include "daemon/classify_api.h"
#include "codec/jscan.h"
#include "codec/rec.h"
#include "core/clf.h"
#include "core/clf_explain.h"
#include "core/tri_err.h"
#include "core/tstamp.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct classify_api {
    rec_schema_t schema;
    char *textlist, *passlist;
    /* Handed over by the loop (under mu). */
    pthread_mutex_t mu;
    model_t *model;
    char *tag;             /* "\"name@version\"" as JSON */
    size_t tag_len;
    /* The admin thread's own: a scorer and the labels encoded for the model
     * it was built for. */
    model_t *clf_model;
    clf_t *clf;
    buf_t labels;          /* label_json[i] point into it */
    char **label_json;
    size_t *label_json_len;
    rec_t rec;
};

static int on_classify(void *ctx, const admin_req_t *req, buf_t *out, const char **type);

int classify_api_new(const cfg_t *cfg, admin_t *a, classify_api_t **out, char *err, size_t errlen)
{
    classify_api_t *api = calloc(1, sizeof *api);
    if (!api)
        return tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
    pthread_mutex_init(&api->mu, NULL);
    rec_schema_t *s = &api->schema;
    rec_schema_default(s);
    s->id_field = cfg_str(cfg, "input.id.field");
    s->account_field = *cfg_str(cfg, "input.account.field") ? cfg_str(cfg, "input.account.field") : NULL;
    s->ts_field = *cfg_str(cfg, "input.ts.field") ? cfg_str(cfg, "input.ts.field") : NULL;
    s->max_bytes = (size_t)cfg_int(cfg, "input.max.bytes");
    s->excerpt_bytes = (size_t)cfg_int(cfg, "output.excerpt.bytes");
    if (s->max_bytes > CLASSIFY_API_MAX_BYTES)
        s->max_bytes = CLASSIFY_API_MAX_BYTES;
    api->textlist = strdup(cfg_str(cfg, "input.text.fields"));
    api->passlist = strdup(cfg_str(cfg, "output.passthrough.fields"));
    char e[TRI_ERRLEN];
    int rc = 0;
    if (!api->textlist || !api->passlist)
        rc = tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
    else if (rec_schema_set_text(s, api->textlist, e, sizeof e) || rec_schema_set_passthrough(s, api->passlist, e, sizeof e))
        rc = tri_errf(err, errlen, TRI_EINVAL, "classify endpoint: %s", e); /* --check-config refused it already */
    else if (admin_route_post(a, "/classify", s->max_bytes, on_classify, api))
        rc = tri_errf(err, errlen, TRI_EINVAL, "admin: no room for the /classify route");
    if (rc) {
        classify_api_free(api);
        return rc;
    }
    *out = api;
    return 0;
}

void classify_api_set_model(classify_api_t *api, registry_model_t *m)
{
    const registry_json_t *j = registry_model_json(m);
    char *tag = malloc(j->tag_len);
    if (!tag)
        return; /* the previous model keeps answering */
    memcpy(tag, j->tag, j->tag_len);
    model_t *nm = model_ref((model_t *)registry_model_model(m));
    pthread_mutex_lock(&api->mu);
    model_t *old = api->model;
    char *old_tag = api->tag;
    api->model = nm;
    api->tag = tag;
    api->tag_len = j->tag_len;
    pthread_mutex_unlock(&api->mu);
    model_unref(old);
    free(old_tag);
}

static void drop_scorer(classify_api_t *api)
{
    clf_free(api->clf);
    api->clf = NULL;
    model_unref(api->clf_model);
    api->clf_model = NULL;
    free(api->label_json);
    free(api->label_json_len);
    api->label_json = NULL;
    api->label_json_len = NULL;
    buf_free(&api->labels);
}

void classify_api_free(classify_api_t *api)
{
    if (!api)
        return;
    drop_scorer(api);
    model_unref(api->model);
    free(api->tag);
    rec_free(&api->rec);
    free(api->textlist);
    free(api->passlist);
    pthread_mutex_destroy(&api->mu);
    free(api);
}

/* A scorer for m (kept while m serves). Returns 0 or an error. */
static int scorer_for(classify_api_t *api, model_t *m)
{
    if (api->clf && api->clf_model == m)
        return 0;
    drop_scorer(api);
    char err[TRI_ERRLEN];
    if (clf_new(m, &api->clf, err, sizeof err))
        return TRI_ENOMEM; /* the registry built scorers for this model: only memory fails */
    api->clf_model = model_ref(m);
    uint32_t L = model_nlabels(m);
    api->label_json = calloc(L, sizeof *api->label_json);
    api->label_json_len = calloc(L, sizeof *api->label_json_len);
    size_t *off = calloc(L, sizeof *off);
    if (!api->label_json || !api->label_json_len || !off) {
        free(off);
        drop_scorer(api);
        return TRI_ENOMEM;
    }
    for (uint32_t i = 0; i < L; i++) {
        off[i] = api->labels.len;
        jscan_put_str(&api->labels, model_label(m, i), strlen(model_label(m, i)));
        api->label_json_len[i] = api->labels.len - off[i];
    }
    for (uint32_t i = 0; i < L && !api->labels.oom; i++)
        api->label_json[i] = api->labels.p + off[i];
    free(off);
    if (api->labels.oom) {
        drop_scorer(api);
        return TRI_ENOMEM;
    }
    return 0;
}

static int error_reply(buf_t *out, int status, const char *code, const char *detail)
{
    buf_append(out, "{\"error\":", 9);
    jscan_put_str(out, code, strlen(code));
    buf_append(out, ",\"detail\":", 10);
    jscan_put_str(out, detail, strlen(detail));
    buf_append(out, "}\n", 2);
    return status;
}

/* Classifies (and explains) the decoded record with m into out. */
static int answer(classify_api_t *api, model_t *m, const char *tag, size_t tag_len, int explain, buf_t *out)
{
    if (scorer_for(api, m))
        return error_reply(out, 500, "out_of_memory", "out of memory");
    clf_result_t r;
    json_t *ex = NULL;
    char d[96];
    int st = rec_classify(&api->schema, &api->rec, api->clf, &r, explain ? &ex : NULL, d, sizeof d);
    if (st == REC_NO_TEXT)
        return error_reply(out, 422, "no_text", d);
    char *js = ex ? json_dumps(ex, JSON_COMPACT | JSON_REAL_PRECISION(6)) : NULL;
    json_decref(ex);
    if (st || (explain && !js)) {
        free(js);
        return error_reply(out, 500, "out_of_memory", "out of memory");
    }
    int64_t ts = api->rec.has_ts ? api->rec.ts_ms : tstamp_now_ms();
    rec_put_labeled(out, &api->schema, &api->rec, &r, api->label_json, api->label_json_len, tag, tag_len, ts);
    if (js) {
        out->len--; /* the record's closing brace: "explain" goes last */
        buf_append(out, ",\"explain\":", 11);
        buf_append(out, js, strlen(js));
        buf_putc(out, '}');
        free(js);
    }
    buf_putc(out, '\n');
    return 200;
}

static int on_classify(void *ctx, const admin_req_t *req, buf_t *out, const char **type)
{
    classify_api_t *api = ctx;
    *type = "application/json";
    const char *x = admin_req_arg(req, "explain");
    int explain = x && strcmp(x, "0") && strcmp(x, "false");
    pthread_mutex_lock(&api->mu);
    model_t *m = api->model ? model_ref(api->model) : NULL;
    char *tag = m ? malloc(api->tag_len) : NULL;
    size_t tag_len = api->tag_len;
    if (tag)
        memcpy(tag, api->tag, tag_len);
    pthread_mutex_unlock(&api->mu);
    int status;
    size_t len;
    const char *body = admin_req_body(req, &len);
    char detail[256];
    int st;
    if (!m)
        status = error_reply(out, 503, "no_model", "no model is loaded yet");
    else if (!tag)
        status = error_reply(out, 500, "out_of_memory", "out of memory");
    else if ((st = rec_decode(&api->schema, body, len, &api->rec, detail, sizeof detail)) != REC_OK)
        status = error_reply(out, 400, rec_status_code(st), detail);
    else
        status = answer(api, m, tag, tag_len, explain, out);
    free(tag);
    model_unref(m);
    return status;
}
