#include "core/train.h"
#include "core/tri_err.h"
#include "train_internal.h"
#include "core/u32map.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *train_algo_name(int algo)
{
    switch (algo) {
    case TRAIN_NB: return "nb";
    case TRAIN_BNB: return "bnb";
    case TRAIN_CNB: return "cnb";
    case TRAIN_LR: return "lr";
    case TRAIN_SVM: return "svm";
    default: return "?";
    }
}

int train_algo_parse(const char *s)
{
    if (!strcmp(s, "nb"))
        return TRAIN_NB;
    if (!strcmp(s, "bnb"))
        return TRAIN_BNB;
    if (!strcmp(s, "cnb"))
        return TRAIN_CNB;
    if (!strcmp(s, "lr"))
        return TRAIN_LR;
    if (!strcmp(s, "svm"))
        return TRAIN_SVM;
    return -1;
}

void train_out_free(train_out_t *o)
{
    free(o->bias);
    free(o->buckets);
    free(o->weights);
    free(o->idf);
    free(o->label_docs);
    if (o->top_features)
        json_decref(o->top_features);
    memset(o, 0, sizeof *o);
}

void train_out_spec(const train_out_t *o, const train_opts_t *opts, const train_set_t *set, float temperature,
                    const char *meta_json, model_spec_t *spec)
{
    memset(spec, 0, sizeof *spec);
    spec->tok = opts->tok;
    spec->feat = opts->feat;
    spec->temperature = temperature;
    spec->nlabels = o->nlabels;
    spec->labels = set->labels;
    spec->bias = o->bias;
    spec->nrows = o->nrows;
    spec->buckets = o->buckets;
    spec->weights = o->weights;
    spec->idf = o->idf;
    spec->meta_json = meta_json;
}

/* Names the top rows of each label by re-reading the documents until every
 * chosen bucket has met one n-gram that hashes to it. */
static int name_features(const train_opts_t *o, const train_set_t *set, const size_t *idx, size_t nidx,
                         tok_t *tok, u32map_t *chosen, char **names, size_t nchosen)
{
    tok_list_t toks = {0};
    feat_vec_t fv = {0};
    feat_config_t fc = o->feat;
    fc.mode = FEAT_PRESENCE;
    size_t named = 0;
    int rc = 0;
    buf_t b = BUF_INIT;
    for (size_t i = 0; i < nidx && named < nchosen; i++) {
        size_t d = idx ? idx[i] : i;
        if ((rc = tok_run(tok, set->text[d], set->len[d], &toks)) || (rc = feat_extract(&fc, &toks, &fv, 1)))
            break;
        for (size_t k = 0; k < fv.n; k++) {
            int64_t r = u32map_get(chosen, fv.id[k]);
            if (r < 0 || names[r])
                continue;
            buf_reset(&b);
            feat_ngram_text(&toks, fv.pos[k], fv.nlen[k], &b);
            names[r] = strdup(buf_cstr(&b));
            if (!names[r]) {
                rc = TRI_ENOMEM;
                break;
            }
            named++;
        }
    }
    buf_free(&b);
    tok_list_free(&toks);
    feat_vec_free(&fv);
    return rc;
}

typedef struct pull { float v; uint32_t row; } pull_t;

static int cmp_pull_desc(const void *a, const void *b)
{
    const pull_t *x = a, *y = b;
    if (x->v != y->v)
        return x->v < y->v ? 1 : -1;
    return x->row < y->row ? -1 : x->row > y->row;
}

/* Fills out->top_features from out's weights (kept_df: documents per row). */
static int top_features(const train_opts_t *o, const train_set_t *set, const size_t *idx, size_t nidx, tok_t *tok,
                        train_out_t *out, const uint32_t *kept_df)
{
    uint32_t L = out->nlabels, K = o->top_features;
    out->top_features = json_object();
    if (!out->top_features)
        return TRI_ENOMEM;
    if (!K || !out->nrows)
        return 0;
    pull_t *p = malloc((size_t)out->nrows * sizeof *p);
    uint32_t *sel = malloc((size_t)L * K * sizeof *sel);
    float *selv = malloc((size_t)L * K * sizeof *selv);
    uint32_t *nsel = calloc(L, sizeof *nsel);
    u32map_t chosen = {0};
    char **names = NULL;
    int rc = TRI_ENOMEM;
    if (!p || !sel || !selv || !nsel)
        goto out;
    /* Pull toward c: how much the n-gram raises c's score over the best other
     * label. N-grams seen in fewer than 2 documents are anecdotes, not reasons. */
    for (uint32_t c = 0; c < L; c++) {
        size_t np = 0;
        for (uint32_t r = 0; r < out->nrows; r++) {
            if (kept_df[r] < 2 && out->nrows > 1000)
                continue;
            const float *w = out->weights + (size_t)r * L;
            float best = -INFINITY;
            for (uint32_t k = 0; k < L; k++)
                if (k != c && w[k] > best)
                    best = w[k];
            float v = L > 1 ? w[c] - best : w[c];
            if (v > 0)
                p[np++] = (pull_t){v, r};
        }
        qsort(p, np, sizeof *p, cmp_pull_desc);
        nsel[c] = (uint32_t)(np < K ? np : K);
        for (uint32_t k = 0; k < nsel[c]; k++) {
            sel[c * K + k] = p[k].row;
            selv[c * K + k] = p[k].v;
            if (u32map_intern(&chosen, out->buckets[p[k].row], NULL) < 0)
                goto out;
        }
    }
    names = calloc(chosen.n ? chosen.n : 1, sizeof *names);
    if (!names)
        goto out;
    if ((rc = name_features(o, set, idx, nidx, tok, &chosen, names, chosen.n)))
        goto out;
    for (uint32_t c = 0; c < L; c++) {
        json_t *arr = json_array();
        json_object_set_new(out->top_features, set->labels[c], arr);
        for (uint32_t k = 0; k < nsel[c]; k++) {
            uint32_t r = sel[c * K + k];
            int64_t ni = u32map_get(&chosen, out->buckets[r]);
            const char *nm = ni >= 0 && names[ni] ? names[ni] : "?";
            json_array_append_new(arr, json_pack("{s:s,s:f,s:i}", "ngram", nm, "pull", (double)selv[c * K + k],
                                                 "docs", (json_int_t)kept_df[r]));
        }
    }
    rc = 0;
out:
    if (names)
        for (size_t i = 0; i < chosen.n; i++)
            free(names[i]);
    free(names);
    u32map_free(&chosen);
    free(p);
    free(sel);
    free(selv);
    free(nsel);
    return rc;
}

int train_finish(const train_opts_t *o, const train_set_t *set, const size_t *idx, size_t nidx, tok_t *tok,
                 train_out_t *out, const uint32_t *kept_df, int rc, char *err, size_t errlen)
{
    if (!rc && (rc = top_features(o, set, idx, nidx, tok, out, kept_df)))
        rc = tri_errf(err, errlen, rc, "out of memory naming features");
    if (rc)
        train_out_free(out);
    return rc;
}

int train_fit(const train_opts_t *o, const train_set_t *set, const size_t *idx, size_t nidx, train_out_t *out,
              char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!idx)
        nidx = set->n;
    if (set->nlabels < 2)
        return tri_errf(err, errlen, TRI_EINVAL, "need at least two labels to train, found %u", set->nlabels);
    if (!nidx)
        return tri_errf(err, errlen, TRI_EINVAL, "no training documents");
    int rc = feat_config_check(&o->feat, err, errlen);
    if (rc)
        return rc;
    if (o->algo == TRAIN_LR || o->algo == TRAIN_SVM)
        return train_fit_linear(o, set, idx, nidx, out, err, errlen);
    if (o->feat.mode == FEAT_SUBLINEAR)
        return tri_errf(err, errlen, TRI_EINVAL, "Naive Bayes takes presence or counts features, not sublinear");
    return train_fit_nb(o, set, idx, nidx, out, err, errlen);
}

/* Mean negative log-likelihood of softmax(raw / T). */
static double nll(const float *raw, const uint32_t *truth, size_t n, uint32_t L, double T)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) {
        const float *r = raw + i * L;
        double mx = -INFINITY;
        for (uint32_t c = 0; c < L; c++)
            if (r[c] > mx)
                mx = r[c];
        double z = 0;
        for (uint32_t c = 0; c < L; c++)
            z += exp((r[c] - mx) / T);
        s += -((r[truth[i]] - mx) / T - log(z));
    }
    return s / (double)n;
}

float train_fit_temperature(const float *raw, const uint32_t *truth, size_t n, uint32_t L)
{
    if (!n)
        return 1.0f;
    /* Golden-section search on log T in [log 0.05, log 200]. */
    double lo = log(0.05), hi = log(200.0), g = (sqrt(5.0) - 1) / 2;
    double x1 = hi - g * (hi - lo), x2 = lo + g * (hi - lo);
    double f1 = nll(raw, truth, n, L, exp(x1)), f2 = nll(raw, truth, n, L, exp(x2));
    for (int it = 0; it < 60; it++) {
        if (f1 < f2) {
            hi = x2;
            x2 = x1;
            f2 = f1;
            x1 = hi - g * (hi - lo);
            f1 = nll(raw, truth, n, L, exp(x1));
        } else {
            lo = x1;
            x1 = x2;
            f1 = f2;
            x2 = lo + g * (hi - lo);
            f2 = nll(raw, truth, n, L, exp(x2));
        }
    }
    return (float)exp((lo + hi) / 2);
}
