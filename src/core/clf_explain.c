#include "core/clf_explain.h"
#include "core/feat.h"
#include "core/tok.h"
#include "core/tri_err.h"
#include "core/u32map.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* One distinct feature of the text. */
typedef struct xfeat {
    uint32_t id, pos, tf;
    uint8_t nlen;
    float *w;          /* its row's weights (in the caller's array), NULL when the model does not know it */
    uint32_t row;
    float value, weight, pull;  /* weight: for the chosen label */
} xfeat_t;

static int cmp_pull_desc(const void *a, const void *b)
{
    const xfeat_t *x = a, *y = b;
    if (x->pull != y->pull)
        return x->pull < y->pull ? 1 : -1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Naive Bayes weights are log-likelihoods: only differences between labels
 * carry meaning (clf_explain.h). */
static int weights_are_loglik(const model_t *m)
{
    const char *a = json_string_value(json_object_get(model_meta(m), "algo"));
    return a && (!strcmp(a, "nb") || !strcmp(a, "bnb") || !strcmp(a, "cnb"));
}

/* The value the scorer gave each known feature (model_score_vec's rules). */
static void feature_values(const model_t *m, xfeat_t *x, size_t nx)
{
    const feat_config_t *fc = model_feat_config(m);
    const float *idf = model_idf(m);
    uint32_t charbit = fc->char_max ? 1u << (fc->bits - 1) : 0;
    double norm2[2] = {0, 0}; /* [0] word n-grams when characters are on, [1] the rest */
    for (size_t i = 0; i < nx; i++) {
        if (!x[i].w)
            continue;
        float v = 1.0f;
        if (fc->mode == FEAT_SUBLINEAR) {
            v = x[i].tf > 1 ? 1.0f + logf((float)x[i].tf) : 1.0f;
            if (idf)
                v *= idf[x[i].row];
            norm2[charbit && !(x[i].id & charbit) ? 0 : 1] += (double)v * v;
        } else if (fc->mode == FEAT_COUNTS) {
            v = (float)x[i].tf;
        }
        x[i].value = v;
    }
    if (fc->mode != FEAT_SUBLINEAR || !fc->l2)
        return;
    for (size_t i = 0; i < nx; i++) {
        double n2 = norm2[charbit && !(x[i].id & charbit) ? 0 : 1];
        if (x[i].w && n2 > 0)
            x[i].value = (float)(x[i].value / sqrt(n2));
    }
}

/* Distinct features of the text (counts mode repeats an id per occurrence)
 * with their rows: one pass over the model's rows. */
static int collect(const model_t *m, const feat_vec_t *fv, u32map_t *ix, xfeat_t *x, float *wbuf, size_t *nx)
{
    *nx = 0;
    for (size_t k = 0; k < fv->n; k++) {
        int isnew;
        int64_t i = u32map_intern(ix, fv->id[k], &isnew);
        if (i < 0)
            return TRI_ENOMEM;
        if (isnew) {
            x[i] = (xfeat_t){.id = fv->id[k], .pos = fv->pos[k], .nlen = fv->nlen[k]};
            (*nx)++;
        }
        x[i].tf += fv->cnt ? fv->cnt[k] : 1;
    }
    uint32_t nrows = model_nrows(m), bucket;
    for (uint32_t row = 0; row < nrows; row++) {
        model_row(m, row, &bucket, NULL);
        int64_t i = u32map_get(ix, bucket);
        if (i >= 0) {
            x[i].w = wbuf + (size_t)i * model_nlabels(m);
            model_row(m, row, NULL, x[i].w);
            x[i].row = row;
        }
    }
    return 0;
}

static json_t *str_or_null(const char *s, size_t n)
{
    json_t *j = json_stringn(s, n);
    return j ? j : json_null();
}

static json_t *tokens_json(const tok_list_t *toks)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < toks->n; i++)
        json_array_append_new(a, str_or_null(toks->text.p + toks->v[i].off, toks->v[i].len));
    return a;
}

static json_t *ngram_json(const tok_list_t *toks, const xfeat_t *x, buf_t *name)
{
    buf_reset(name);
    feat_ngram_text(toks, x->pos, x->nlen, name);
    return json_pack("{s:o,s:s,s:f,s:f,s:f}", "ngram", str_or_null(name->p ? name->p : "", name->len), "kind",
                     x->nlen & FEAT_CHAR_FLAG ? "chars" : "words", "value", (double)x->value, "weight",
                     (double)x->weight, "pull", (double)x->pull);
}

/* Every known n-gram, largest pull first, and the first `top` of them
 * whose pull is positive (those that argued for the label). */
static int ngrams_json(const tok_list_t *toks, xfeat_t *x, size_t nx, size_t top, buf_t *name, json_t **all,
                       json_t **best)
{
    qsort(x, nx, sizeof *x, cmp_pull_desc);
    *all = json_array();
    *best = json_array();
    if (!*all || !*best)
        return TRI_ENOMEM;
    for (size_t i = 0; i < nx; i++) {
        if (!x[i].w)
            continue;
        json_t *j = ngram_json(toks, &x[i], name);
        if (!j || json_array_append_new(*all, j))
            return TRI_ENOMEM;
        if (json_array_size(*best) < top && x[i].pull > 0 && json_array_append(*best, j))
            return TRI_ENOMEM;
    }
    return 0;
}

static json_t *explain_json(const model_t *m, const clf_result_t *r, const char *prepared, size_t plen,
                            const tok_list_t *toks, xfeat_t *x, size_t nx, size_t top, buf_t *name)
{
    uint32_t L = model_nlabels(m), lab = r->label;
    int runner = -1;
    for (uint32_t k = 0; k < r->ntop; k++)
        if (r->top[k] != lab) {
            runner = (int)r->top[k];
            break;
        }
    int rel = weights_are_loglik(m) && runner >= 0;
    size_t known = 0, chars = 0;
    for (size_t i = 0; i < nx; i++) {
        chars += (x[i].nlen & FEAT_CHAR_FLAG) != 0;
        if (!x[i].w)
            continue;
        known++;
        x[i].weight = x[i].w[lab];
        x[i].pull = x[i].value * (rel ? x[i].weight - x[i].w[runner] : x[i].weight);
    }
    json_t *raw = json_array(), *all = NULL, *best = NULL, *o = NULL;
    /* Unknown n-grams sort last (pull 0 and no row): ngrams_json skips them. */
    if (!raw || ngrams_json(toks, x, nx, top, name, &all, &best))
        goto done;
    for (uint32_t c = 0; c < L; c++)
        json_array_append_new(raw, json_real(r->raw[c]));
    o = json_pack("{s:o,s:s,s:b,s:s,s:f,s:o,s:o,s:{s:I,s:I,s:I,s:I},s:s,s:f,s:O,s:O,s:O}", "prepared",
                  str_or_null(prepared, plen), "lang", r->lang, "lang_reliable", r->lang_reliable, "label",
                  model_label(m, lab), "score", (double)r->score, "runner_up",
                  runner >= 0 ? json_string(model_label(m, (uint32_t)runner)) : json_null(), "tokens",
                  tokens_json(toks), "features", "total", (json_int_t)nx, "known", (json_int_t)known, "words",
                  (json_int_t)(nx - chars), "chars", (json_int_t)chars, "rule",
                  rel ? "value x (weight - runner-up weight)" : "value x weight", "bias",
                  (double)model_bias(m)[lab], "raw", raw, "top", best, "ngrams", all);
done:
    json_decref(raw);
    json_decref(all);
    json_decref(best);
    return o;
}

int clf_explain(clf_t *c, const prep_field_t *f, size_t n, size_t top, clf_result_t *r, json_t **out)
{
    *out = NULL;
    int rc = clf_classify_fields(c, f, n, r);
    if (rc)
        return rc;
    model_t *m = clf_model(c);
    size_t plen;
    const char *prepared = clf_prepared(c, &plen);
    tok_t *tok = NULL;
    tok_list_t toks = {0};
    feat_vec_t fv = {0};
    u32map_t ix = {0};
    xfeat_t *x = NULL;
    float *wbuf = NULL; /* the known features' weights, nlabels each */
    buf_t name = BUF_INIT;
    size_t nx = 0;
    char err[TRI_ERRLEN];
    rc = TRI_ENOMEM;
    /* Its own tokenizer: the scorer's is busy being the scorer's, and this
     * one keeps nothing between calls. clf_new built one from the same
     * configuration, so only memory can make this fail. */
    if (tok_new(model_tok_config(m), &tok, err, sizeof err) || tok_run(tok, prepared, plen, &toks) ||
        feat_extract(model_feat_config(m), &toks, &fv, 1))
        goto done;
    if (!(x = calloc(fv.n ? fv.n : 1, sizeof *x)) ||
        !(wbuf = malloc((fv.n ? fv.n : 1) * model_nlabels(m) * sizeof *wbuf)) || collect(m, &fv, &ix, x, wbuf, &nx))
        goto done;
    feature_values(m, x, nx);
    *out = explain_json(m, r, prepared, plen, &toks, x, nx, top, &name);
    if (*out && !name.oom)
        rc = 0;
done:
    if (rc) {
        json_decref(*out);
        *out = NULL;
    }
    buf_free(&name);
    free(x);
    free(wbuf);
    u32map_free(&ix);
    feat_vec_free(&fv);
    tok_list_free(&toks);
    tok_free(tok);
    return rc;
}
