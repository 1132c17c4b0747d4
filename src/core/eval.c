#include "core/eval.h"
#include "core/tri_err.h"
#include "core/tstamp.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

eval_t *eval_new(uint32_t nlabels)
{
    eval_t *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->n = nlabels;
    e->cm = calloc((size_t)nlabels * nlabels + 1, sizeof *e->cm);
    if (!e->cm) {
        free(e);
        return NULL;
    }
    return e;
}

void eval_free(eval_t *e)
{
    if (!e)
        return;
    free(e->cm);
    free(e);
}

void eval_add(eval_t *e, uint32_t truth, uint32_t pred)
{
    if (truth >= e->n || pred >= e->n)
        return;
    e->cm[(size_t)truth * e->n + pred]++;
    e->total++;
}

int eval_compute(const eval_t *e, eval_report_t *r)
{
    uint32_t n = e->n;
    r->labels = calloc(n ? n : 1, sizeof *r->labels);
    if (!r->labels)
        return TRI_ENOMEM;
    uint64_t correct = 0;
    for (uint32_t i = 0; i < n; i++) {
        correct += e->cm[(size_t)i * n + i];
        for (uint32_t j = 0; j < n; j++) {
            r->labels[i].support += e->cm[(size_t)i * n + j];
            r->labels[j].predicted += e->cm[(size_t)i * n + j];
        }
    }
    r->accuracy = e->total ? (double)correct / (double)e->total : 0;
    double fsum = 0;
    uint32_t counted = 0;
    for (uint32_t i = 0; i < n; i++) {
        eval_label_t *l = &r->labels[i];
        double tp = (double)e->cm[(size_t)i * n + i];
        /* Undefined ratios are 0, as scikit-learn's zero_division=0. */
        l->precision = l->predicted ? tp / (double)l->predicted : 0;
        l->recall = l->support ? tp / (double)l->support : 0;
        l->f1 = l->precision + l->recall > 0 ? 2 * l->precision * l->recall / (l->precision + l->recall) : 0;
        if (l->support || l->predicted) {
            fsum += l->f1;
            counted++;
        }
    }
    r->macro_f1 = counted ? fsum / counted : 0;
    return 0;
}

void eval_report_free(eval_report_t *r)
{
    free(r->labels);
    r->labels = NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double eval_quantile(double *v, size_t n, double q)
{
    if (!n)
        return NAN;
    qsort(v, n, sizeof *v, cmp_double);
    double pos = q * (double)(n - 1);
    size_t i = (size_t)floor(pos);
    if (i + 1 >= n)
        return v[n - 1];
    double f = pos - (double)i;
    return v[i] * (1 - f) + v[i + 1] * f;
}

int eval_projection(const double *precision, const uint64_t *counts, size_t nperiods, uint32_t nlabels,
                     double *mean, double *q_lo, double *q_hi, double *per_period)
{
    double *a = malloc((nperiods ? nperiods : 1) * sizeof *a);
    if (!a)
        return TRI_ENOMEM;
    size_t k = 0;
    double sum = 0;
    for (size_t m = 0; m < nperiods; m++) {
        double num = 0, den = 0;
        for (uint32_t i = 0; i < nlabels; i++) {
            double c = (double)counts[m * nlabels + i];
            num += precision[i] * c;
            den += c;
        }
        double am = den > 0 ? num / den : NAN;
        if (per_period)
            per_period[m] = am;
        if (den > 0) {
            a[k++] = am;
            sum += am;
        }
    }
    *mean = k ? sum / (double)k : NAN;
    *q_lo = eval_quantile(a, k, 0.341);
    *q_hi = eval_quantile(a, k, 0.659);
    free(a);
    return 0;
}

json_t *eval_report_json(const eval_t *e, const char *const *labels)
{
    eval_report_t r;
    if (eval_compute(e, &r))
        return NULL;
    json_t *o = json_object(), *ls = json_array(), *cm = json_array();
    json_object_set_new(o, "records", json_integer((json_int_t)e->total));
    json_object_set_new(o, "accuracy", json_real(r.accuracy));
    json_object_set_new(o, "macro_f1", json_real(r.macro_f1));
    for (uint32_t i = 0; i < e->n; i++) {
        json_array_append_new(ls, json_pack("{s:s,s:f,s:f,s:f,s:I,s:I}", "label", labels[i], "precision",
                                            r.labels[i].precision, "recall", r.labels[i].recall, "f1",
                                            r.labels[i].f1, "support", (json_int_t)r.labels[i].support,
                                            "predicted", (json_int_t)r.labels[i].predicted));
        json_t *row = json_array();
        for (uint32_t j = 0; j < e->n; j++)
            json_array_append_new(row, json_integer((json_int_t)e->cm[(size_t)i * e->n + j]));
        json_array_append_new(cm, row);
    }
    json_object_set_new(o, "labels", ls);
    json_object_set_new(o, "confusion", cm);
    eval_report_free(&r);
    return o;
}

double eval_ece(const float *conf, const uint8_t *correct, size_t n, uint32_t nbins, double *bins)
{
    double cnt[64] = {0}, sc[64] = {0}, ok[64] = {0};
    if (nbins > 64)
        nbins = 64;
    for (size_t i = 0; i < n; i++) {
        uint32_t b = (uint32_t)(conf[i] * (float)nbins);
        if (b >= nbins)
            b = nbins - 1;
        cnt[b]++;
        sc[b] += conf[i];
        ok[b] += correct[i];
    }
    double e = 0;
    for (uint32_t b = 0; b < nbins; b++) {
        if (cnt[b])
            e += fabs(ok[b] / cnt[b] - sc[b] / cnt[b]) * cnt[b];
        if (bins) {
            bins[3 * b] = cnt[b];
            bins[3 * b + 1] = cnt[b] ? sc[b] / cnt[b] : 0;
            bins[3 * b + 2] = cnt[b] ? ok[b] / cnt[b] : 0;
        }
    }
    return n ? e / (double)n : 0;
}

typedef struct ci {
    float c;
    uint8_t ok;
} ci_t;

static int cmp_ci(const void *a, const void *b)
{
    const ci_t *x = a, *y = b;
    return x->c > y->c ? -1 : x->c < y->c;
}

double eval_accuracy_at_coverage(const float *conf, const uint8_t *correct, size_t n, double coverage)
{
    size_t k = (size_t)ceil(coverage * (double)n);
    if (!n || !k)
        return 0;
    ci_t *v = malloc(n * sizeof *v);
    if (!v)
        return NAN;
    for (size_t i = 0; i < n; i++)
        v[i] = (ci_t){conf[i], correct[i]};
    qsort(v, n, sizeof *v, cmp_ci);
    size_t ok = 0;
    for (size_t i = 0; i < k && i < n; i++)
        ok += v[i].ok;
    free(v);
    return (double)ok / (double)(k < n ? k : n);
}

typedef struct period {
    int64_t start;
    uint64_t *pred_counts; /* nlabels */
    uint64_t n, correct;
} period_t;

static int cmp_period(const void *a, const void *b)
{
    const period_t *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

/* Groups the records by period (*per: *nper of them, in time order). */
static int group_periods(uint32_t L, const uint32_t *truth, const uint32_t *pred, const int64_t *ts, size_t n,
                         int month, period_t **per, size_t *nper, size_t *no_ts)
{
    for (size_t i = 0; i < n; i++) {
        if (ts[i] == INT64_MIN) {
            (*no_ts)++;
            continue;
        }
        int64_t s = month ? tstamp_floor_month(ts[i]) : tstamp_floor_day(ts[i]);
        size_t k = 0;
        while (k < *nper && (*per)[k].start != s)
            k++;
        if (k == *nper) {
            period_t *p = realloc(*per, (*nper + 1) * sizeof *p);
            if (!p)
                return TRI_ENOMEM;
            *per = p;
            p[*nper] = (period_t){s, calloc(L, sizeof(uint64_t)), 0, 0};
            if (!p[*nper].pred_counts)
                return TRI_ENOMEM;
            (*nper)++;
        }
        (*per)[k].pred_counts[pred[i]]++;
        (*per)[k].n++;
        (*per)[k].correct += pred[i] == truth[i];
    }
    qsort(*per, *nper, sizeof **per, cmp_period);
    return 0;
}

json_t *eval_by_period(const eval_t *e, const uint32_t *truth, const uint32_t *pred, const int64_t *ts, size_t n,
                       const char *by, size_t *no_ts)
{
    uint32_t L = e->n;
    period_t *per = NULL;
    size_t nper = 0;
    json_t *byj = NULL;
    eval_report_t r;
    *no_ts = 0;
    if (group_periods(L, truth, pred, ts, n, !strcmp(by, "month"), &per, &nper, no_ts) || eval_compute(e, &r))
        goto out;
    double *prec = malloc(L * sizeof *prec);
    uint64_t *counts = malloc((nper ? nper : 1) * L * sizeof *counts);
    double *am = malloc((nper ? nper : 1) * sizeof *am);
    if (prec && counts && am) {
        for (uint32_t i = 0; i < L; i++)
            prec[i] = r.labels[i].precision;
        for (size_t k = 0; k < nper; k++)
            memcpy(counts + k * L, per[k].pred_counts, L * sizeof *counts);
        double mean, lo, hi;
        eval_projection(prec, counts, nper, L, &mean, &lo, &hi, am);
        byj = json_pack("{s:s,s:f,s:[f,f],s:I,s:[]}", "period", by, "mean", mean, "band", lo, hi,
                        "records_without_ts", (json_int_t)*no_ts, "periods");
        json_t *arr = json_object_get(byj, "periods");
        for (size_t k = 0; byj && k < nper; k++) {
            char t[40];
            tstamp_format(per[k].start, t, sizeof t);
            json_array_append_new(arr, json_pack("{s:s,s:I,s:f,s:f}", "start", t, "records", (json_int_t)per[k].n,
                                                 "projected_accuracy", am[k], "actual_accuracy",
                                                 per[k].n ? (double)per[k].correct / (double)per[k].n : 0.0));
        }
    }
    free(prec);
    free(counts);
    free(am);
    eval_report_free(&r);
out:
    for (size_t k = 0; k < nper; k++)
        free(per[k].pred_counts);
    free(per);
    return byj;
}
