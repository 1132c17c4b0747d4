#include "core/clf.h"
#include "core/tri_err.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct clf {
    model_t *model;
    tok_t *tok;
    tok_list_t toks;
    int prep_mode;
    prep_t *prep;
    buf_t prepared;
    feat_vec_t feats;
    float *scores, *probs;
    lang_mix_t mix;
    int no_lang; /* clf_set_lang(c, 0) */
};

int clf_new(model_t *m, clf_t **out, char *err, size_t errlen)
{
    clf_t *c = calloc(1, sizeof *c);
    if (!c)
        return tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
    int rc = prep_mode_from_meta(model_meta(m), &c->prep_mode, err, errlen);
    if (!rc)
        rc = lang_mix_from_meta(model_meta(m), &c->mix, err, errlen);
    if (!rc)
        rc = prep_new(&c->prep, err, errlen);
    if (!rc)
        rc = tok_new(model_tok_config(m), &c->tok, err, errlen);
    if (rc) {
        prep_free(c->prep);
        free(c);
        return rc;
    }
    c->scores = malloc(model_nlabels(m) * sizeof *c->scores);
    c->probs = malloc(model_nlabels(m) * sizeof *c->probs);
    if (!c->scores || !c->probs) {
        clf_free(c);
        return tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
    }
    c->model = model_ref(m);
    *out = c;
    return 0;
}

void clf_free(clf_t *c)
{
    if (!c)
        return;
    tok_free(c->tok);
    prep_free(c->prep);
    buf_free(&c->prepared);
    tok_list_free(&c->toks);
    feat_vec_free(&c->feats);
    free(c->scores);
    free(c->probs);
    model_unref(c->model);
    free(c);
}

model_t *clf_model(const clf_t *c) { return c->model; }

size_t clf_memory(const clf_t *c)
{
    return sizeof *c + tok_memory(c->tok) + c->toks.text.cap + c->toks.cap * sizeof *c->toks.v +
           feat_vec_memory(&c->feats) + c->prepared.cap + 2 * model_nlabels(c->model) * sizeof(float);
}

void clf_result_from_scores(const model_t *m, const float *raw, float *probs, clf_result_t *r)
{
    uint32_t L = model_nlabels(m);
    model_probs(m, raw, probs);
    r->ntop = L < CLF_TOP ? L : CLF_TOP;
    for (uint32_t k = 0; k < r->ntop; k++) {
        r->top[k] = UINT32_MAX;
        r->top_score[k] = -1;
    }
    /* Insertion into a 3-slot list; ties keep the lower label index. */
    for (uint32_t c = 0; c < L; c++) {
        float p = probs[c];
        for (uint32_t k = 0; k < r->ntop; k++) {
            if (r->top[k] == UINT32_MAX || p > r->top_score[k] ||
                (p == r->top_score[k] && raw[c] > raw[r->top[k]])) {
                for (uint32_t j = r->ntop - 1; j > k; j--) {
                    r->top[j] = r->top[j - 1];
                    r->top_score[j] = r->top_score[j - 1];
                }
                r->top[k] = c;
                r->top_score[k] = p;
                break;
            }
        }
    }
    r->label = r->top[0];
    r->score = r->top_score[0];
    const float *off = model_decision(m);
    if (off) {
        /* Cost-weighted decision: argmax of log p + offset. */
        float best = -INFINITY, inv = 1.0f / model_temperature(m);
        for (uint32_t c = 0; c < L; c++)
            if (raw[c] * inv + off[c] > best) {
                best = raw[c] * inv + off[c];
                r->label = c;
            }
        r->score = probs[r->label];
    }
    float rb = model_review_below(m);
    r->review = rb > 0 && r->score < rb;
    r->raw = raw;
}

int clf_classify(clf_t *c, const char *text, size_t len, clf_result_t *r)
{
    if (tok_run(c->tok, text, len, &c->toks))
        return TRI_ENOMEM;
    if (feat_extract(model_feat_config(c->model), &c->toks, &c->feats, 0))
        return TRI_ENOMEM;
    model_score_vec(c->model, &c->feats, c->scores, &r->nknown);
    r->ntokens = (uint32_t)c->toks.n;
    memcpy(r->lang, "und", 4);
    r->lang_reliable = r->review_lang = 0;
    r->nfeatures = (uint32_t)c->feats.n;
    clf_result_from_scores(c->model, c->scores, c->probs, r);
    return 0;
}

int clf_classify_fields(clf_t *c, const prep_field_t *f, size_t n, clf_result_t *r)
{
    if (prep_run(c->prep, c->prep_mode, f, n, &c->prepared))
        return TRI_ENOMEM;
    if (!prep_has_text(c->prepared.p, c->prepared.len))
        return CLF_NO_TEXT;
    if (clf_classify(c, c->prepared.p, c->prepared.len, r))
        return TRI_ENOMEM;
    if (c->no_lang)
        return 0;
    r->lang_reliable = lang_detect(c->prepared.p, c->prepared.len, r->lang);
    r->review_lang = lang_is_foreign(&c->mix, r->lang, r->lang_reliable);
    return 0;
}

void clf_set_lang(clf_t *c, int on) { c->no_lang = !on; }

const lang_mix_t *clf_lang_mix(const clf_t *c) { return &c->mix; }

int clf_prep_mode(const clf_t *c) { return c->prep_mode; }

const char *clf_prepared(const clf_t *c, size_t *len)
{
    *len = c->prepared.len;
    return c->prepared.len ? c->prepared.p : "";
}

int clf_probe(model_t *m, char *err, size_t errlen)
{
    json_t *probes = json_object_get(model_meta(m), "probes");
    if (!json_is_array(probes) || !json_array_size(probes))
        return 0; /* hand-built models may carry none */
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
