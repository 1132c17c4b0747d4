/* train_run — what `triage train`, `triage tune` and the per-account trainer
 * share beyond fitting: the seeded holdout, measuring and calibrating there,
 * the refit, metadata, probe texts and the model bytes. */
#include "core/clf.h"
#include "core/eval.h"
#include "core/train.h"
#include "core/tri_err.h"
#include "core/tstamp.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PROBES_PER_LABEL 2
#define PROBE_MAX_BYTES 280

uint64_t train_splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

void train_shuffle(size_t *idx, size_t n, uint64_t seed)
{
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    uint64_t st = seed;
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(train_splitmix(&st) % i);
        size_t t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
}

int train_predict(model_t *m, const train_set_t *set, const size_t *idx, size_t n, uint32_t *pred, float *raw,
                  float *conf, char *err, size_t errlen)
{
    clf_t *c;
    int rc = clf_new(m, &c, err, errlen);
    if (rc)
        return rc;
    uint32_t L = model_nlabels(m);
    for (size_t i = 0; i < n; i++) {
        size_t d = idx ? idx[i] : i;
        clf_result_t r;
        if (clf_classify(c, set->text[d], set->len[d], &r)) {
            rc = tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
            break;
        }
        if (pred)
            pred[i] = r.label;
        if (conf)
            conf[i] = r.score;
        if (raw)
            memcpy(raw + i * L, r.raw, L * sizeof *raw);
    }
    clf_free(c);
    return rc;
}

typedef struct probe_cand {
    size_t doc;
    float margin;
} probe_cand_t;

static int cmp_cand(const void *a, const void *b)
{
    const probe_cand_t *x = a, *y = b;
    if (x->margin != y->margin)
        return x->margin < y->margin ? 1 : -1;
    return x->doc < y->doc ? -1 : x->doc > y->doc;
}

/* Probe texts: per label, the training texts the final model assigns to that
 * (true) label with the widest margin. A loaded copy of the model must give
 * the same answers, which catches a wrong tokenizer or damaged weights. */
static int choose_probes(model_t *m, const train_set_t *set, json_t **out, char *err, size_t errlen)
{
    uint32_t L = model_nlabels(m);
    float *raw = malloc((set->n * L + 1) * sizeof *raw);
    uint32_t *pred = malloc((set->n + 1) * sizeof *pred);
    probe_cand_t *cand = malloc((set->n + 1) * sizeof *cand);
    json_t *arr = json_array();
    int rc = TRI_ENOMEM;
    if (!raw || !pred || !cand || !arr) {
        rc = tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
        goto done;
    }
    if ((rc = train_predict(m, set, NULL, set->n, pred, raw, NULL, err, errlen)))
        goto done;
    for (uint32_t c = 0; c < L; c++) {
        size_t nc = 0;
        for (size_t i = 0; i < set->n; i++) {
            if (pred[i] != c || set->label[i] != c || set->len[i] > PROBE_MAX_BYTES || set->len[i] < 8)
                continue;
            const float *r = raw + i * L;
            float second = -INFINITY;
            for (uint32_t k = 0; k < L; k++)
                if (k != c && r[k] > second)
                    second = r[k];
            cand[nc++] = (probe_cand_t){i, r[c] - second};
        }
        qsort(cand, nc, sizeof *cand, cmp_cand);
        for (size_t k = 0; k < nc && k < MAX_PROBES_PER_LABEL; k++)
            json_array_append_new(arr, json_pack("{s:s%,s:s}", "text", set->text[cand[k].doc], set->len[cand[k].doc],
                                                 "label", model_label(m, c)));
    }
    *out = arr;
    arr = NULL;
done:
    if (arr)
        json_decref(arr);
    free(raw);
    free(pred);
    free(cand);
    return rc;
}

/* Writes the model bytes of a fit with the given metadata and loads them
 * back (the loader's checks are the writer's test). */
int train_build_model(const train_out_t *fit, const train_opts_t *to, const train_set_t *set, const train_calib_t *cal,
                      const json_t *meta, buf_t *bytes, model_t **loaded, char *err, size_t errlen)
{
    char *mj = json_dumps(meta, JSON_COMPACT | JSON_REAL_PRECISION(6));
    if (!mj)
        return tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
    model_spec_t spec;
    train_out_spec(fit, to, set, cal->temperature, mj, &spec);
    spec.review_below = cal->review_below;
    spec.decision = cal->decision;
    /* Linear weights are all of one scale per label and survive int8 (Naive
     * Bayes' log-probabilities span orders of magnitude: they stay f32). */
    spec.weights_q8 = to->weights_q8 && (to->algo == TRAIN_SVM || to->algo == TRAIN_LR);
    buf_reset(bytes);
    int rc = model_write(&spec, bytes, err, errlen);
    free(mj);
    if (!rc && (rc = model_load_mem(bytes->p, bytes->len, loaded, err, errlen)))
        return tri_errf(err, errlen, rc, "the model just written does not load: %s", err);
    return rc;
}

typedef struct conf_item {
    float score;
    uint8_t correct;
} conf_item_t;

static int cmp_conf_desc(const void *a, const void *b)
{
    const conf_item_t *x = a, *y = b;
    return x->score > y->score ? -1 : x->score < y->score;
}

float train_review_threshold(const float *score, const uint8_t *correct, size_t n, double precision, double *share)
{
    conf_item_t *v = malloc((n + 1) * sizeof *v);
    if (!v || !n) {
        free(v);
        *share = 1;
        return 1.0f;
    }
    for (size_t i = 0; i < n; i++)
        v[i] = (conf_item_t){score[i], correct[i]};
    qsort(v, n, sizeof *v, cmp_conf_desc);
    /* The longest prefix (most confident first) labeled with the precision
     * wanted; ties at the cut stay together, since the threshold admits a
     * score or not. */
    size_t ok = 0, best = 0;
    for (size_t i = 0; i < n; i++) {
        ok += v[i].correct;
        if ((i + 1 == n || v[i + 1].score < v[i].score) && (double)ok >= precision * (double)(i + 1))
            best = i + 1;
    }
    float t = best ? v[best - 1].score : nextafterf(1.0f, 2.0f);
    if (t > 1.0f)
        t = 1.0f;
    size_t kept = 0;
    for (size_t i = 0; i < n; i++)
        kept += v[i].score >= t;
    *share = 1.0 - (double)kept / (double)n;
    free(v);
    return t;
}

/* Fits on all but the first nhold of idx, measures on those: the temperature,
 * the cost-weighted decision, the review threshold, the calibration error. */
static int measure(const train_run_opts_t *o, const train_set_t *set, const size_t *idx, size_t nhold,
                   train_out_t *fit, train_result_t *res, char *err, size_t errlen)
{
    model_t *m = NULL;
    buf_t bytes = BUF_INIT;
    uint32_t L = set->nlabels;
    float *raw = malloc((nhold * L + 1) * sizeof *raw), *conf = malloc((nhold + 1) * sizeof *conf);
    uint32_t *truth = malloc((nhold + 1) * sizeof *truth);
    uint8_t *correct = malloc(nhold + 1);
    double *p = malloc(L * sizeof *p);
    json_t *empty = json_object();
    int rc = TRI_ENOMEM;
    res->holdout = eval_new(L);
    if (!raw || !conf || !truth || !correct || !p || !empty || !res->holdout) {
        rc = tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
        goto done;
    }
    if ((rc = train_fit(&o->fit, set, idx + nhold, set->n - nhold, fit, err, errlen)) ||
        (rc = train_build_model(fit, &o->fit, set, &(train_calib_t){1.0f, 0, NULL}, empty, &bytes, &m, err, errlen)) ||
        (rc = train_predict(m, set, idx, nhold, NULL, raw, NULL, err, errlen)))
        goto done;
    for (size_t i = 0; i < nhold; i++)
        truth[i] = set->label[idx[i]];
    res->temperature = train_fit_temperature(raw, truth, nhold, L);
    if (o->cost[0] > 0 && o->cost[1] > 0 && L == 2) {
        res->decision[0] = (float)log(o->cost[0]);
        res->decision[1] = (float)log(o->cost[1]);
        res->has_decision = 1;
    }
    /* The held-out decisions as the final model makes them. */
    for (size_t i = 0; i < nhold; i++) {
        const float *r = raw + i * L;
        double mx = -INFINITY, z = 0, best = -INFINITY;
        uint32_t pick = 0;
        for (uint32_t c = 0; c < L; c++)
            mx = r[c] / res->temperature > mx ? r[c] / res->temperature : mx;
        for (uint32_t c = 0; c < L; c++)
            z += p[c] = exp(r[c] / res->temperature - mx);
        for (uint32_t c = 0; c < L; c++) {
            double v = r[c] / res->temperature + (res->has_decision ? res->decision[c] : 0);
            if (v > best) {
                best = v;
                pick = c;
            }
        }
        conf[i] = (float)(p[pick] / z);
        unsigned bin = (unsigned)(conf[i] * TRAIN_CONF_BINS);
        res->conf_hist[bin < TRAIN_CONF_BINS ? bin : TRAIN_CONF_BINS - 1]++;
        correct[i] = pick == truth[i];
        eval_add(res->holdout, truth[i], pick);
    }
    res->holdout_ece = eval_ece(conf, correct, nhold, EVAL_ECE_BINS, NULL);
    if (o->review_precision > 0)
        res->review_below = train_review_threshold(conf, correct, nhold, o->review_precision, &res->review_share);
done:
    model_unref(m);
    buf_free(&bytes);
    if (empty)
        json_decref(empty);
    free(raw);
    free(conf);
    free(truth);
    free(correct);
    free(p);
    return rc;
}

static json_t *run_meta(const train_run_opts_t *o, const train_set_t *set, const train_out_t *fit,
                        const train_result_t *res)
{
    const train_opts_t *to = &o->fit;
    char now[40];
    tstamp_format(tstamp_now_ms() / 1000 * 1000, now, sizeof now);
    json_t *labels = json_object();
    if (!labels)
        return NULL;
    for (uint32_t i = 0; i < set->nlabels; i++)
        json_object_set_new(labels, set->labels[i], json_integer((json_int_t)fit->label_docs[i]));
    json_t *meta = json_pack("{s:s,s:s,s:f,s:f,s:i,s:s,s:[i,i],s:i,s:o,s:I,s:I,s:I,s:f}", "created_at", now, "algo",
                             train_algo_name(to->algo), "alpha", to->alpha, "sb", to->sb, "min_df", (int)to->min_df,
                             "features", feat_mode_name(to->feat.mode), "ngrams",
                             (int)to->feat.ngram_min, (int)to->feat.ngram_max, "bits", (int)to->feat.bits, "labels",
                             labels, "documents", (json_int_t)res->nfit, "features_kept", (json_int_t)fit->nrows,
                             "features_seen", (json_int_t)fit->candidates, "temperature", (double)res->temperature);
    if (!meta)
        return NULL;
    /* The caller's keys (name, data provenance, ...) win over nothing here:
     * they describe what the trainer cannot know. */
    if (o->meta && json_object_update(meta, (json_t *)o->meta)) {
        json_decref(meta);
        return NULL;
    }
    if (res->holdout) {
        json_t *h = eval_report_json(res->holdout, set->labels);
        if (!h) {
            json_decref(meta);
            return NULL;
        }
        json_object_set_new(h, "fraction", json_real(o->holdout));
        json_object_set_new(h, "ece", json_real(res->holdout_ece));
        json_t *hist = json_array();
        for (unsigned b = 0; hist && b < TRAIN_CONF_BINS; b++)
            json_array_append_new(hist, json_integer(res->conf_hist[b]));
        json_object_set_new(h, "confidence_hist", hist);
        if (o->review_precision > 0)
            json_object_set_new(h, "review_share", json_real(res->review_share));
        json_object_set_new(h, "seed", json_integer(o->seed));
        json_object_set_new(h, "refit_on_all", json_boolean(o->refit));
        json_object_set_new(meta, "holdout", h);
    }
    json_object_set(meta, "top_features", fit->top_features);
    if (to->algo == TRAIN_LR || to->algo == TRAIN_SVM) {
        json_object_set_new(meta, "C", json_real(to->C));
        json_object_del(meta, "alpha");
        json_object_del(meta, "sb");
    }
    json_object_set_new(meta, "chars", to->feat.char_max ? json_pack("[i,i]", (int)to->feat.char_min,
                                                                     (int)to->feat.char_max)
                                                         : json_null());
    json_object_set_new(meta, "idf", json_boolean(to->feat.idf));
    json_object_set_new(meta, "norm", json_string(to->feat.l2 ? "l2" : "none"));
    if (res->review_below > 0) {
        json_t *rv = json_pack("{s:f}", "below", (double)res->review_below);
        if (o->review_precision > 0)
            json_object_set_new(rv, "precision", json_real(o->review_precision));
        json_object_set_new(meta, "review", rv);
    }
    if (res->has_decision)
        json_object_set_new(meta, "cost", json_pack("[f,f]", o->cost[0], o->cost[1]));
    return meta;
}

int train_run(const train_run_opts_t *o, const train_set_t *set, train_result_t *res, char *err, size_t errlen)
{
    memset(res, 0, sizeof *res);
    res->temperature = 1.0f;
    if (set->nlabels < 2)
        return tri_errf(err, errlen, TRI_EINVAL, "need at least two distinct labels, found %u (%zu records)",
                        set->nlabels, set->n);
    if (o->review_precision > 0 && !(o->holdout > 0))
        return tri_errf(err, errlen, TRI_EINVAL, "a review precision is chosen on held-out records: needs a holdout");
    if (!(o->holdout >= 0 && o->holdout < 1))
        return tri_errf(err, errlen, TRI_EINVAL, "holdout fraction %g is not in [0,1)", o->holdout);
    size_t nhold = (size_t)floor(o->holdout * (double)set->n);
    if (o->holdout > 0 && (nhold < 1 || set->n - nhold < 2))
        return tri_errf(err, errlen, TRI_EINVAL, "too few records (%zu) to hold out %.2f", set->n, o->holdout);
    train_out_t fit = {0};
    json_t *meta = NULL, *probes = NULL;
    size_t *idx = malloc((set->n + 1) * sizeof *idx);
    int rc = 0;
    if (!idx) {
        rc = tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
        goto fail;
    }
    train_shuffle(idx, set->n, o->seed);
    res->nhold = nhold;
    res->nfit = set->n;
    if (nhold) {
        if ((rc = measure(o, set, idx, nhold, &fit, res, err, errlen)))
            goto fail;
        if (o->refit)
            train_out_free(&fit);
        else
            res->nfit = set->n - nhold;
    }
    if ((!nhold || o->refit) && (rc = train_fit(&o->fit, set, NULL, 0, &fit, err, errlen)))
        goto fail;
    res->nrows = fit.nrows;
    res->candidates = fit.candidates;
    if (o->review_below > 0)
        res->review_below = (float)o->review_below;
    if (o->cost[0] > 0 && o->cost[1] > 0 && !res->has_decision) {
        if (set->nlabels != 2) {
            rc = tri_errf(err, errlen, TRI_EINVAL, "costs are for two-label tasks, this one has %u", set->nlabels);
            goto fail;
        }
        res->decision[0] = (float)log(o->cost[0]);
        res->decision[1] = (float)log(o->cost[1]);
        res->has_decision = 1;
    }
    res->calib = (train_calib_t){res->temperature, res->review_below, res->has_decision ? res->decision : NULL};
    if (!(meta = run_meta(o, set, &fit, res))) {
        rc = tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
        goto fail;
    }
    /* Probes are chosen with the final weights, then the final file written. */
    if ((rc = train_build_model(&fit, &o->fit, set, &res->calib, meta, &res->bytes, &res->model, err, errlen)) ||
        (rc = choose_probes(res->model, set, &probes, err, errlen)))
        goto fail;
    json_object_set_new(meta, "probes", probes);
    model_unref(res->model);
    res->model = NULL;
    if ((rc = train_build_model(&fit, &o->fit, set, &res->calib, meta, &res->bytes, &res->model, err, errlen)))
        goto fail;
    goto done;
fail:
    train_result_free(res);
done:
    if (meta)
        json_decref(meta);
    train_out_free(&fit);
    free(idx);
    return rc;
}

void train_result_free(train_result_t *r)
{
    buf_free(&r->bytes);
    model_unref(r->model);
    eval_free(r->holdout);
    memset(r, 0, sizeof *r);
}
