/* shadow — the challenger's shadow scoring (see daemon/shadow.h). */
#include "daemon/shadow.h"
#include "core/buf.h"
#include "core/clf.h"
#include "core/prep.h"
#include "core/tri_err.h"
#include "io/log.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One batch's sampled records, copied: the batch goes on without waiting. */
typedef struct sjob {
    uv_work_t work;
    shadow_t *sh;
    registry_model_t *champ, *chal; /* one reference each */
    clf_t *clf;                     /* the challenger's scorer, lent for the job */
    size_t n;
    buf_t data;                     /* the input payloads, one after another */
    size_t *off, *len;
    int32_t *champ_label;           /* the champion's label index */
    int32_t *chal_label;            /* the challenger's, -1 when it could not score (no text left) */
    size_t bytes;
    struct sjob *next;
} sjob_t;

typedef struct lab {
    char *label;                    /* the champion's label */
    uint64_t records, agree;
} lab_t;

struct shadow {
    uv_loop_t *loop;
    const rec_schema_t *schema;
    uint64_t threshold;             /* sampled when FNV-1a(id) < threshold */
    int all;                        /* sample 1: every record */
    size_t max_pending, max_bytes;
    size_t pending, pending_bytes;  /* queued and running */
    sjob_t *qhead, *qtail, *running;
    int stopping;
    rec_t rec;                      /* decode scratch of the running job (one at a time) */
    /* Figures of the current challenger, since it was first seen here. */
    char *tag;                      /* NAME@VERSION */
    char *champion;                 /* the champion's version in the last job */
    lab_t *labs;
    size_t nlabs, caplabs;
    uint64_t records, agree, dropped, jobs;
    metrics_family_t *f_records, *f_agree, *f_ratio, *f_overall, *f_dropped, *f_pending;
};

int shadow_new(uv_loop_t *loop, const cfg_t *cfg, const rec_schema_t *schema, metrics_t *met, shadow_t **out,
               char *err, size_t errlen)
{
    shadow_t *sh = calloc(1, sizeof *sh);
    if (!sh)
        return tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
    sh->loop = loop;
    sh->schema = schema;
    double s = cfg_double(cfg, "model.challenger.sample");
    sh->all = s >= 1;
    /* 2^64 * s, exactly as the documentation states (s < 1 here). */
    sh->threshold = sh->all ? UINT64_MAX : (uint64_t)ldexp(s, 64);
    sh->max_pending = (size_t)cfg_int(cfg, "model.challenger.max.pending");
    sh->max_bytes = 4 * (size_t)cfg_int(cfg, "batch.max.bytes");
    sh->f_records = metrics_family(met, METRICS_COUNTER, "triage_challenger_records_total",
                                   "Records the challenger scored in the shadow, by challenger (NAME@VERSION) and the "
                                   "champion's label.",
                                   "model,label", NULL, 0);
    sh->f_agree = metrics_family(met, METRICS_COUNTER, "triage_challenger_agree_total",
                                 "Of those, records the challenger gave the champion's label.", "model,label", NULL, 0);
    sh->f_ratio = metrics_family(met, METRICS_GAUGE, "triage_challenger_agreement_ratio",
                                 "Share of the champion's label's records the challenger agrees on, since it loaded.",
                                 "model,label", NULL, 0);
    sh->f_overall = metrics_family(met, METRICS_GAUGE, "triage_challenger_agreement",
                                   "Share of all shadow-scored records the challenger agrees on, since it loaded.",
                                   "model", NULL, 0);
    sh->f_dropped = metrics_family(met, METRICS_COUNTER, "triage_challenger_dropped_total",
                                   "Sampled records not shadow-scored because the challenger fell behind "
                                   "(model.challenger.max.pending) or the worker stopped.",
                                   NULL, NULL, 0);
    sh->f_pending = metrics_family(met, METRICS_GAUGE, "triage_challenger_pending_records",
                                   "Sampled records waiting for (or being scored by) the challenger.", NULL, NULL, 0);
    if (!sh->f_pending || !metrics_series0(sh->f_dropped)) {
        free(sh);
        return tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
    }
    *out = sh;
    return 0;
}

static void job_free(sjob_t *j)
{
    if (j->clf)
        registry_clf_put(j->chal, j->clf);
    if (j->chal)
        registry_model_unref(j->chal);
    if (j->champ)
        registry_model_unref(j->champ);
    buf_free(&j->data);
    free(j->off);
    free(j->len);
    free(j->champ_label);
    free(j->chal_label);
    free(j);
}

static void reset_figures(shadow_t *sh)
{
    for (size_t i = 0; i < sh->nlabs; i++)
        free(sh->labs[i].label);
    sh->nlabs = 0;
    sh->records = sh->agree = sh->jobs = 0;
    free(sh->tag);
    sh->tag = NULL;
    metrics_reset_family(sh->f_ratio);
    metrics_reset_family(sh->f_overall);
}

void shadow_free(shadow_t *sh)
{
    if (!sh)
        return;
    while (sh->qhead) {
        sjob_t *j = sh->qhead;
        sh->qhead = j->next;
        job_free(j);
    }
    reset_figures(sh);
    free(sh->labs);
    free(sh->champion);
    rec_free(&sh->rec);
    free(sh);
}

int shadow_sampled(const shadow_t *sh, const char *id, size_t len)
{
    if (sh->all)
        return 1;
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a, 64 bits: easy to reproduce anywhere */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)id[i];
        h *= 0x100000001b3ull;
    }
    /* FNV's top bits hardly change with the last bytes of a short id
     * ("r-1", "r-2"...): murmur3's 64-bit finalizer mixes them in. */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h < sh->threshold;
}

static void set_pending(shadow_t *sh) { metrics_set(metrics_series0(sh->f_pending), (double)sh->pending); }

static void drop(shadow_t *sh, size_t n)
{
    sh->dropped += n;
    metrics_inc(metrics_series0(sh->f_dropped), (double)n);
}

/* ---- the pool side ---- */

static void job_work(uv_work_t *w)
{
    sjob_t *j = w->data;
    shadow_t *sh = j->sh;
    char detail[256];
    for (size_t i = 0; i < j->n; i++) {
        j->chal_label[i] = -1;
        clf_result_t res;
        if (rec_decode(sh->schema, j->data.p + j->off[i], j->len[i], &sh->rec, detail, sizeof detail) == REC_OK &&
            rec_classify(sh->schema, &sh->rec, j->clf, &res, NULL, detail, sizeof detail) == REC_OK)
            j->chal_label[i] = (int32_t)res.label;
    }
}

int shadow_score_one(registry_model_t *m, const rec_schema_t *s, const rec_t *r)
{
    clf_t *c = registry_clf_get(m);
    if (!c)
        return -1;
    prep_field_t fields[REC_MAX_TEXT_FIELDS];
    size_t nf = rec_prep_fields(s, r, fields);
    clf_result_t res;
    int label = clf_classify_fields(c, fields, nf, &res) ? -1 : (int)res.label;
    registry_clf_put(m, c);
    return label;
}

/* ---- the loop side ---- */

static void kick(shadow_t *sh);

static lab_t *lab_of(shadow_t *sh, const char *label)
{
    for (size_t i = 0; i < sh->nlabs; i++)
        if (!strcmp(sh->labs[i].label, label))
            return &sh->labs[i];
    if (sh->nlabs == sh->caplabs) {
        lab_t *v = buf_grow(sh->labs, &sh->caplabs, sizeof *v, 16);
        if (!v)
            return NULL;
        sh->labs = v;
    }
    lab_t *l = &sh->labs[sh->nlabs];
    memset(l, 0, sizeof *l);
    if (!(l->label = strdup(label)))
        return NULL;
    sh->nlabs++;
    return l;
}

/* Adds one job's results to the figures and the metrics: per champion label
 * once per job (a series lookup per label, not per record). */
static void count_job(shadow_t *sh, const sjob_t *j)
{
    const model_t *cm = registry_model_model(j->champ), *xm = registry_model_model(j->chal);
    char tag[600];
    snprintf(tag, sizeof tag, "%s@%s", registry_model_name(j->chal), registry_model_version(j->chal));
    if (!sh->tag || strcmp(sh->tag, tag)) {
        reset_figures(sh);
        sh->tag = strdup(tag);
    }
    free(sh->champion);
    sh->champion = strdup(registry_model_version(j->champ));
    uint32_t L = model_nlabels(cm);
    uint64_t *cnt = calloc(2 * (size_t)L, sizeof *cnt);
    if (!cnt)
        return; /* figures, not records: this job's are lost */
    for (size_t i = 0; i < j->n; i++) {
        uint32_t c = (uint32_t)j->champ_label[i];
        cnt[2 * c]++;
        if (j->chal_label[i] >= 0 && !strcmp(model_label(cm, c), model_label(xm, (uint32_t)j->chal_label[i])))
            cnt[2 * c + 1]++;
    }
    for (uint32_t c = 0; c < L; c++) {
        if (!cnt[2 * c])
            continue;
        const char *v[] = {tag, model_label(cm, c)};
        metrics_inc(metrics_series(sh->f_records, v), (double)cnt[2 * c]);
        metrics_inc(metrics_series(sh->f_agree, v), (double)cnt[2 * c + 1]);
        lab_t *l = lab_of(sh, model_label(cm, c));
        if (l) {
            l->records += cnt[2 * c];
            l->agree += cnt[2 * c + 1];
            metrics_set(metrics_series(sh->f_ratio, v), (double)l->agree / (double)l->records);
        }
        sh->records += cnt[2 * c];
        sh->agree += cnt[2 * c + 1];
    }
    free(cnt);
    sh->jobs++;
    if (sh->records)
        metrics_set(metrics_series1(sh->f_overall, tag), (double)sh->agree / (double)sh->records);
}

static void job_after(uv_work_t *w, int status)
{
    sjob_t *j = w->data;
    shadow_t *sh = j->sh;
    sh->running = NULL;
    if (status == 0)
        count_job(sh, j);
    else
        drop(sh, j->n);
    sh->pending -= j->n;
    sh->pending_bytes -= j->bytes;
    set_pending(sh);
    job_free(j);
    kick(sh);
}

static void kick(shadow_t *sh)
{
    while (!sh->running && sh->qhead && !sh->stopping) {
        sjob_t *j = sh->qhead;
        sh->qhead = j->next;
        if (!sh->qhead)
            sh->qtail = NULL;
        j->next = NULL;
        sh->running = j;
        if (uv_queue_work(sh->loop, &j->work, job_work, job_after)) {
            sh->running = NULL;
            drop(sh, j->n);
            sh->pending -= j->n;
            sh->pending_bytes -= j->bytes;
            job_free(j);
        }
    }
    set_pending(sh);
}

/* The records of b the challenger should score: labeled by the default (not
 * an account's own model), and in the sample. Their indices go to idx. */
static size_t pick(const shadow_t *sh, const batch_t *b, size_t *idx, size_t *bytes)
{
    size_t k = 0;
    *bytes = 0;
    for (size_t i = 0; i < b->n; i++) {
        const batch_rec_t *r = &b->recs[i];
        if (r->status != REC_OK || r->label < 0 || r->mi != 0 || !r->msg)
            continue;
        if (!shadow_sampled(sh, b->arena.p + r->key_off, r->key_len))
            continue;
        idx[k++] = i;
        *bytes += r->msg->len;
    }
    return k;
}

static sjob_t *job_new(shadow_t *sh, const batch_t *b, registry_model_t *chal, const size_t *idx, size_t k,
                       size_t bytes)
{
    sjob_t *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->sh = sh;
    j->work.data = j;
    j->off = malloc(k * sizeof *j->off);
    j->len = malloc(k * sizeof *j->len);
    j->champ_label = malloc(k * sizeof *j->champ_label);
    j->chal_label = malloc(k * sizeof *j->chal_label);
    if (!j->off || !j->len || !j->champ_label || !j->chal_label || buf_reserve(&j->data, bytes + 1))
        goto fail;
    for (size_t i = 0; i < k; i++) {
        const batch_rec_t *r = &b->recs[idx[i]];
        j->off[i] = j->data.len;
        j->len[i] = r->msg->len;
        buf_append(&j->data, r->msg->payload, r->msg->len);
        j->champ_label[i] = r->label;
    }
    if (j->data.oom)
        goto fail;
    j->n = k;
    j->bytes = bytes;
    if (!(j->clf = registry_clf_get(chal)))
        goto fail;
    j->chal = registry_model_ref(chal);
    j->champ = registry_model_ref(b->models[0]);
    return j;
fail:
    job_free(j);
    return NULL;
}

void shadow_batch(shadow_t *sh, registry_t *reg, const batch_t *b)
{
    registry_model_t *chal = registry_challenger(reg);
    if (!chal || sh->stopping || !b->nmodels || !b->n)
        return;
    if (!strcmp(registry_model_version(chal), registry_model_version(b->models[0])))
        return; /* this batch was scored by the challenger's version itself (just promoted) */
    size_t *idx = malloc(b->n * sizeof *idx), bytes;
    if (!idx)
        return;
    size_t k = pick(sh, b, idx, &bytes);
    if (!k) {
        free(idx);
        return;
    }
    /* Bounded: the challenger falling behind drops samples, never holds the input. */
    if (sh->pending + k > sh->max_pending || sh->pending_bytes + bytes > sh->max_bytes) {
        drop(sh, k);
        free(idx);
        return;
    }
    sjob_t *j = job_new(sh, b, chal, idx, k, bytes);
    free(idx);
    if (!j) {
        drop(sh, k);
        return;
    }
    sh->pending += k;
    sh->pending_bytes += bytes;
    if (sh->qtail)
        sh->qtail->next = j;
    else
        sh->qhead = j;
    sh->qtail = j;
    kick(sh);
}

void shadow_stop(shadow_t *sh)
{
    sh->stopping = 1;
    while (sh->qhead) {
        sjob_t *j = sh->qhead;
        sh->qhead = j->next;
        drop(sh, j->n);
        sh->pending -= j->n;
        sh->pending_bytes -= j->bytes;
        job_free(j);
    }
    sh->qtail = NULL;
    set_pending(sh);
}

int shadow_running(const shadow_t *sh) { return sh->running != NULL; }

json_t *shadow_status_json(const shadow_t *sh)
{
    json_t *labels = json_array();
    for (size_t i = 0; i < sh->nlabs; i++) {
        const lab_t *l = &sh->labs[i];
        json_array_append_new(labels, json_pack("{s:s,s:I,s:I,s:f}", "label", l->label, "records", (json_int_t)l->records,
                                                "agree", (json_int_t)l->agree,
                                                "agreement", l->records ? (double)l->agree / (double)l->records : 0.0));
    }
    return json_pack("{s:s?,s:s?,s:f,s:I,s:I,s:I,s:I,s:o}", "model", sh->tag, "champion", sh->champion, "sample",
                     sh->all ? 1.0 : ldexp((double)sh->threshold, -64), "records", (json_int_t)sh->records, "agree",
                     (json_int_t)sh->agree, "dropped", (json_int_t)sh->dropped, "pending", (json_int_t)sh->pending,
                     "labels", labels);
}
