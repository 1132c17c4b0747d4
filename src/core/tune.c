#include "core/tune.h"
#include "core/eval.h"
#include "core/tri_err.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double unit(uint64_t *st) { return (double)(train_splitmix(st) >> 11) / 9007199254740992.0; }
static uint32_t pick(uint64_t *st, uint32_t n) { return (uint32_t)(train_splitmix(st) % n); }
static double log_uniform(uint64_t *st, double lo, double hi) { return exp(log(lo) + unit(st) * (log(hi) - log(lo))); }

void tune_sample(const train_opts_t *base, uint64_t seed, uint32_t i, train_opts_t *o)
{
    *o = *base;
    if (!i)
        return;
    uint64_t st = seed ^ (0x9E3779B97F4A7C15ULL * (i + 1));
    static const int algos[] = {TRAIN_SVM, TRAIN_SVM, TRAIN_SVM, TRAIN_LR, TRAIN_LR, TRAIN_NB, TRAIN_NB, TRAIN_CNB};
    o->algo = algos[pick(&st, 8)];
    int linear = o->algo == TRAIN_SVM || o->algo == TRAIN_LR;
    o->feat.ngram_min = 1;
    o->feat.ngram_max = 1 + pick(&st, 3);
    static const uint32_t chars[][2] = {{0, 0}, {1, 4}, {2, 4}, {2, 5}, {3, 5}, {2, 6}};
    uint32_t ch = linear ? pick(&st, 6) : (pick(&st, 3) ? 0 : 2);
    o->feat.char_min = chars[ch][0];
    o->feat.char_max = chars[ch][1];
    o->feat.bits = pick(&st, 2) ? 22 : 20;
    o->min_df = 1 + pick(&st, 3);
    o->tok.stem[0] = '\0';
    if (pick(&st, 2))
        strcpy(o->tok.stem, "english");
    if (pick(&st, 4) == 0) {
        o->tok.stopwords = tok_stopwords_en;
        o->tok.stopwords_len = tok_stopwords_en_len;
    } else {
        o->tok.stopwords = NULL;
        o->tok.stopwords_len = 0;
    }
    if (linear) {
        o->C = log_uniform(&st, 0.05, 5.0);
        o->feat.mode = FEAT_SUBLINEAR;
        o->feat.idf = pick(&st, 5) != 0;
        o->feat.l2 = 1;
    } else {
        o->alpha = log_uniform(&st, 0.01, 1.0);
        static const double sbs[] = {0, 0, 2, 4};
        o->sb = sbs[pick(&st, 4)];
        o->feat.mode = pick(&st, 2) ? FEAT_COUNTS : FEAT_PRESENCE;
        o->feat.idf = o->feat.l2 = 0;
    }
}

void tune_describe(const train_opts_t *o, char *buf, size_t len)
{
    int linear = o->algo == TRAIN_SVM || o->algo == TRAIN_LR;
    char reg[40], ch[24];
    if (linear)
        snprintf(reg, sizeof reg, "C=%.3g", o->C);
    else
        snprintf(reg, sizeof reg, "alpha=%.3g sb=%g", o->alpha, o->sb);
    if (o->feat.char_max)
        snprintf(ch, sizeof ch, "%u-%u", o->feat.char_min, o->feat.char_max);
    else
        snprintf(ch, sizeof ch, "none");
    snprintf(buf, len, "%s %s words %u-%u chars %s %s%s%s bits %u min-df %u stem %s stopwords %s",
             train_algo_name(o->algo), reg, o->feat.ngram_min, o->feat.ngram_max, ch, feat_mode_name(o->feat.mode),
             o->feat.idf ? "+idf" : "", o->feat.l2 ? "+l2" : "", o->feat.bits, o->min_df,
             o->tok.stem[0] ? o->tok.stem : "none", o->tok.stopwords ? "en" : "none");
}

/* One cross-validation: folds are contiguous runs of a seeded permutation. */
typedef struct cv_job {
    const train_opts_t *opts;
    const train_set_t *set;
    const size_t *perm;
    uint32_t folds, first, step;
    uint32_t *pred;          /* by position in perm */
    int rc;
    char err[TRI_ERRLEN];
} cv_job_t;

static int cv_fold(cv_job_t *j, uint32_t f, size_t *train_idx)
{
    size_t n = j->set->n, lo = f * n / j->folds, hi = (f + 1) * n / j->folds, nt = 0;
    for (size_t i = 0; i < n; i++)
        if (i < lo || i >= hi)
            train_idx[nt++] = j->perm[i];
    train_out_t fit;
    buf_t bytes = BUF_INIT;
    model_t *m = NULL;
    json_t *empty = json_object();
    int rc = empty ? 0 : TRI_ENOMEM;
    if (!rc && !(rc = train_fit(j->opts, j->set, train_idx, nt, &fit, j->err, sizeof j->err))) {
        rc = train_build_model(&fit, j->opts, j->set, &(train_calib_t){1.0f, 0, NULL}, empty, &bytes, &m, j->err,
                               sizeof j->err);
        train_out_free(&fit);
    }
    if (!rc)
        rc = train_predict(m, j->set, j->perm + lo, hi - lo, j->pred + lo, NULL, NULL, j->err, sizeof j->err);
    model_unref(m);
    buf_free(&bytes);
    if (empty)
        json_decref(empty);
    return rc;
}

static void *cv_thread(void *arg)
{
    cv_job_t *j = arg;
    size_t *train_idx = malloc((j->set->n + 1) * sizeof *train_idx);
    if (!train_idx) {
        j->rc = tri_errf(j->err, sizeof j->err, TRI_ENOMEM, "out of memory");
        return NULL;
    }
    for (uint32_t f = j->first; f < j->folds && !j->rc; f += j->step)
        j->rc = cv_fold(j, f, train_idx);
    free(train_idx);
    return NULL;
}

int tune_cv(const train_opts_t *opts, const train_set_t *set, uint32_t folds, uint64_t seed, uint32_t threads,
            double *accuracy, double *macro_f1, char *err, size_t errlen)
{
    if (folds < 2 || set->n < folds)
        return tri_errf(err, errlen, TRI_EINVAL, "%u-fold cross-validation needs at least %u records, have %zu",
                        folds, folds, set->n);
    if (threads < 1)
        threads = 1;
    if (threads > folds)
        threads = folds;
    train_opts_t o = *opts;
    o.top_features = 0; /* naming features is for the final model only */
    size_t *perm = malloc(set->n * sizeof *perm);
    uint32_t *pred = malloc(set->n * sizeof *pred);
    cv_job_t *jobs = calloc(threads, sizeof *jobs);
    pthread_t *tid = calloc(threads, sizeof *tid);
    eval_t *e = eval_new(set->nlabels);
    int rc = 0;
    if (!perm || !pred || !jobs || !tid || !e) {
        rc = tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
        goto done;
    }
    train_shuffle(perm, set->n, seed);
    uint32_t started = 0;
    for (uint32_t t = 0; t < threads; t++) {
        jobs[t] = (cv_job_t){.opts = &o, .set = set, .perm = perm, .folds = folds, .first = t, .step = threads,
                             .pred = pred};
        if (t == 0)
            continue;
        if (pthread_create(&tid[t], NULL, cv_thread, &jobs[t]))
            break;
        started = t;
    }
    /* This thread takes its share too; folds of threads that failed to start
     * are picked up below. */
    cv_thread(&jobs[0]);
    for (uint32_t t = 1; t <= started; t++)
        pthread_join(tid[t], NULL);
    for (uint32_t t = started + 1; t < threads; t++) {
        jobs[t].step = threads;
        cv_thread(&jobs[t]);
    }
    for (uint32_t t = 0; t < threads && !rc; t++)
        if (jobs[t].rc)
            rc = tri_errf(err, errlen, jobs[t].rc, "%s", jobs[t].err);
    if (rc)
        goto done;
    for (size_t i = 0; i < set->n; i++)
        eval_add(e, set->label[perm[i]], pred[i]);
    eval_report_t r;
    if (eval_compute(e, &r)) {
        rc = tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
        goto done;
    }
    *accuracy = r.accuracy;
    *macro_f1 = r.macro_f1;
    eval_report_free(&r);
done:
    free(perm);
    free(pred);
    free(jobs);
    free(tid);
    eval_free(e);
    return rc;
}

int tune_run(const tune_opts_t *o, const train_set_t *set, tune_trial_t *best, uint32_t *ran, char *err,
             size_t errlen)
{
    if (!o->trials && !(o->budget_s > 0))
        return tri_errf(err, errlen, TRI_EINVAL, "give a trial count or a time budget");
    double t0 = now_s();
    *ran = 0;
    memset(best, 0, sizeof *best);
    best->cv_accuracy = -1;
    for (uint32_t i = 0; !o->trials || i < o->trials; i++) {
        if (i && o->budget_s > 0 && now_s() - t0 >= o->budget_s)
            break;
        tune_trial_t t = {.index = i};
        tune_sample(&o->base, o->seed, i, &t.opts);
        tune_describe(&t.opts, t.desc, sizeof t.desc);
        double ts = now_s();
        char why[TRI_ERRLEN];
        int rc = tune_cv(&t.opts, set, o->folds, o->seed, o->threads, &t.cv_accuracy, &t.cv_macro_f1, why,
                         sizeof why);
        if (rc)
            return tri_errf(err, errlen, rc, "trial %u (%s): %s", i, t.desc, why);
        t.seconds = now_s() - ts;
        if (t.cv_accuracy > best->cv_accuracy)
            *best = t;
        (*ran)++;
        if (o->progress)
            o->progress(o->progress_ctx, &t, best);
    }
    return 0;
}
