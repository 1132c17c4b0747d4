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
    /* The space leans where cross-validation on the shared tasks found the
     * good settings (scripts/cv-defaults): linear models with character
     * n-grams, moderate C, every n-gram kept; Naive Bayes and the rest keep
     * a small share so a data set unlike those still gets tried on them. */
    static const int algos[] = {TRAIN_SVM, TRAIN_SVM, TRAIN_SVM, TRAIN_SVM, TRAIN_SVM, TRAIN_LR, TRAIN_LR, TRAIN_NB};
    o->algo = algos[pick(&st, 8)];
    int linear = o->algo == TRAIN_SVM || o->algo == TRAIN_LR;
    o->feat.ngram_min = 1;
    o->feat.ngram_max = 1 + pick(&st, 3);
    static const uint32_t chars[][2] = {{2, 5}, {2, 5}, {1, 5}, {2, 6}, {3, 5}, {2, 4}, {0, 0}};
    uint32_t ch = linear ? pick(&st, 7) : (pick(&st, 3) ? 6 : 1);
    o->feat.char_min = chars[ch][0];
    o->feat.char_max = chars[ch][1];
    o->feat.bits = pick(&st, 4) ? 22 : 20;
    static const uint32_t min_dfs[] = {1, 1, 2};
    o->min_df = min_dfs[pick(&st, 3)];
    o->tok.stem[0] = '\0';
    if (pick(&st, 3) == 0)
        strcpy(o->tok.stem, "english");
    if (pick(&st, 6) == 0) {
        o->tok.stopwords = tok_stopwords_en;
        o->tok.stopwords_len = tok_stopwords_en_len;
    } else {
        o->tok.stopwords = NULL;
        o->tok.stopwords_len = 0;
    }
    if (linear) {
        o->C = o->algo == TRAIN_LR ? log_uniform(&st, 1.0, 30.0) : log_uniform(&st, 0.1, 2.0);
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

/* The search runs as one pool of (trial, fold) tasks: every thread takes
 * the next fold of the newest trial, or opens the next trial when that one
 * has no fold left, so no core idles at the end of a trial (5 folds on 2
 * threads would otherwise leave one idle a fifth of the time). Folds are
 * contiguous runs of a seeded permutation; each fold's predictions go into
 * its trial's array by position, so scores do not depend on which thread ran
 * what. Trials are reported, and the best chosen, in index order. */
typedef struct trial_run {
    tune_trial_t t;
    uint32_t *pred;          /* by position in perm */
    uint32_t folds_done;
    double started;
    int rc;
    char err[TRI_ERRLEN];
} trial_run_t;

typedef struct pool {
    pthread_mutex_t mu;
    const train_set_t *set;
    const train_opts_t *base;
    const size_t *perm;
    uint64_t seed;
    uint32_t folds, limit;   /* limit: trials to run at most */
    double t0, budget_s;
    trial_run_t **runs;      /* by trial index, NULL once reported */
    uint32_t opened, next_fold;
    uint32_t reported;       /* trials handed to on_trial, in index order */
    int rc;                  /* out of memory opening a trial, or on_trial's refusal */
    char err[TRI_ERRLEN];
    int (*on_trial)(void *ctx, const tune_trial_t *t, const uint32_t *right, size_t n);
    void *ctx;
} pool_t;

static int cv_fold(const pool_t *p, trial_run_t *r, uint32_t f, size_t *train_idx, char *err, size_t errlen)
{
    size_t n = p->set->n, lo = f * n / p->folds, hi = (f + 1) * n / p->folds, nt = 0;
    for (size_t i = 0; i < n; i++)
        if (i < lo || i >= hi)
            train_idx[nt++] = p->perm[i];
    train_out_t fit;
    buf_t bytes = BUF_INIT;
    model_t *m = NULL;
    json_t *empty = json_object();
    int rc = empty ? 0 : tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
    if (!rc && !(rc = train_fit(&r->t.opts, p->set, train_idx, nt, &fit, err, errlen))) {
        rc = train_build_model(&fit, &r->t.opts, p->set, &(train_calib_t){1.0f, 0, NULL}, empty, &bytes, &m, err,
                               errlen);
        train_out_free(&fit);
    }
    if (!rc)
        rc = train_predict(m, p->set, p->perm + lo, hi - lo, r->pred + lo, NULL, NULL, err, errlen);
    model_unref(m);
    buf_free(&bytes);
    if (empty)
        json_decref(empty);
    return rc;
}

static int trial_score(const pool_t *p, trial_run_t *r);

/* Under the lock, on the calling thread: hands the finished prefix of the
 * trials to on_trial (unlocked meanwhile), so progress shows as it happens. */
static void report_ready(pool_t *p)
{
    while (!p->rc && p->reported < p->opened && p->runs[p->reported]->folds_done == p->folds) {
        trial_run_t *r = p->runs[p->reported];
        p->runs[p->reported++] = NULL;
        pthread_mutex_unlock(&p->mu);
        int rc = r->rc;
        char err[TRI_ERRLEN];
        if (rc)
            snprintf(err, sizeof err, "trial %u (%.200s): %.250s", r->t.index, r->t.desc, r->err);
        else if ((rc = trial_score(p, r)))
            snprintf(err, sizeof err, "out of memory");
        else if ((rc = p->on_trial(p->ctx, &r->t, r->pred, p->set->n)))
            snprintf(err, sizeof err, "trial %u refused", r->t.index);
        free(r->pred);
        free(r);
        pthread_mutex_lock(&p->mu);
        if (rc && !p->rc) {
            p->rc = rc;
            memcpy(p->err, err, sizeof err);
        }
    }
}

/* Under the lock: the next task, or 0 when there is none. */
static int next_task(pool_t *p, trial_run_t **r, uint32_t *f)
{
    if (p->rc)
        return 0;
    if (p->opened && p->next_fold < p->folds) {
        *r = p->runs[p->opened - 1];
        *f = p->next_fold++;
        return 1;
    }
    if (p->opened >= p->limit || (p->opened && p->budget_s > 0 && now_s() - p->t0 >= p->budget_s))
        return 0;
    trial_run_t *n = calloc(1, sizeof *n);
    if (n)
        n->pred = malloc((p->set->n + 1) * sizeof *n->pred);
    trial_run_t **runs = realloc(p->runs, (p->opened + 1) * sizeof *runs);
    if (runs)
        p->runs = runs;
    if (!n || !n->pred || !runs) {
        if (n)
            free(n->pred);
        free(n);
        p->rc = TRI_ENOMEM;
        snprintf(p->err, sizeof p->err, "out of memory");
        return 0;
    }
    n->t.index = p->opened;
    tune_sample(p->base, p->seed, p->opened, &n->t.opts);
    n->t.opts.top_features = 0; /* naming features is for the final model only */
    tune_describe(&n->t.opts, n->t.desc, sizeof n->t.desc);
    n->started = now_s();
    p->runs[p->opened++] = n;
    p->next_fold = 1;
    *r = n;
    *f = 0;
    return 1;
}

static void work(pool_t *p, int reporter)
{
    size_t *train_idx = malloc((p->set->n + 1) * sizeof *train_idx);
    pthread_mutex_lock(&p->mu);
    if (!train_idx && !p->rc) {
        p->rc = TRI_ENOMEM;
        snprintf(p->err, sizeof p->err, "out of memory");
    }
    trial_run_t *r;
    uint32_t f;
    while (next_task(p, &r, &f)) {
        pthread_mutex_unlock(&p->mu);
        char err[TRI_ERRLEN] = "";
        int rc = cv_fold(p, r, f, train_idx, err, sizeof err);
        pthread_mutex_lock(&p->mu);
        if (rc && !r->rc) {
            r->rc = rc;
            memcpy(r->err, err, sizeof err);
        }
        if (++r->folds_done == p->folds)
            r->t.seconds = now_s() - r->started;
        if (reporter)
            report_ready(p);
    }
    pthread_mutex_unlock(&p->mu);
    free(train_idx);
}

static void *pool_worker(void *arg)
{
    work(arg, 0);
    return NULL;
}

/* Scores a finished trial from its predictions. */
static int trial_score(const pool_t *p, trial_run_t *r)
{
    eval_t *e = eval_new(p->set->nlabels);
    if (!e)
        return TRI_ENOMEM;
    for (size_t i = 0; i < p->set->n; i++)
        eval_add(e, p->set->label[p->perm[i]], r->pred[i]);
    /* The predictions become right (1) or wrong (0) per record, for comparing trials. */
    for (size_t i = 0; i < p->set->n; i++)
        r->pred[i] = r->pred[i] == p->set->label[p->perm[i]];
    eval_report_t rep;
    int rc = eval_compute(e, &rep) ? TRI_ENOMEM : 0;
    if (!rc) {
        r->t.cv_accuracy = rep.accuracy;
        r->t.cv_macro_f1 = rep.macro_f1;
        eval_report_free(&rep);
    }
    eval_free(e);
    return rc;
}

/* Runs trials 0.. (at most limit, or until the budget) of base/seed on
 * threads; on_trial sees each in index order, on the calling thread. */
typedef int (*trial_fn)(void *ctx, const tune_trial_t *t, const uint32_t *right, size_t n);

static int pool_run(const train_opts_t *base, uint64_t seed, const train_set_t *set, uint32_t folds,
                    uint32_t threads, uint32_t limit, double budget_s, trial_fn on_trial, void *ctx, char *err,
                    size_t errlen)
{
    if (folds < 2 || set->n < folds)
        return tri_errf(err, errlen, TRI_EINVAL, "%u-fold cross-validation needs at least %u records, have %zu",
                        folds, folds, set->n);
    if (threads < 1)
        threads = 1;
    pool_t p = {.set = set, .base = base, .seed = seed, .folds = folds, .limit = limit ? limit : UINT32_MAX,
                .t0 = now_s(), .budget_s = budget_s, .on_trial = on_trial, .ctx = ctx};
    size_t *perm = malloc(set->n * sizeof *perm);
    pthread_t *tid = calloc(threads, sizeof *tid);
    int rc = 0;
    if (!perm || !tid || pthread_mutex_init(&p.mu, NULL)) {
        free(perm);
        free(tid);
        return tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
    }
    train_shuffle(perm, set->n, seed);
    p.perm = perm;
    uint32_t started = 0;
    for (uint32_t t = 1; t < threads; t++) {
        if (pthread_create(&tid[t], NULL, pool_worker, &p))
            break;
        started = t;
    }
    work(&p, 1); /* this thread works too (with no other thread, alone) and reports */
    for (uint32_t t = 1; t <= started; t++)
        pthread_join(tid[t], NULL);
    pthread_mutex_lock(&p.mu);
    report_ready(&p); /* the trials other threads finished last */
    pthread_mutex_unlock(&p.mu);
    if (p.rc)
        rc = tri_errf(err, errlen, p.rc, "%s", p.err);
    for (uint32_t i = p.reported; i < p.opened; i++)
        if (p.runs[i]) {
            free(p.runs[i]->pred);
            free(p.runs[i]);
        }
    free(p.runs);
    pthread_mutex_destroy(&p.mu);
    free(perm);
    free(tid);
    return rc;
}

static int keep_one(void *ctx, const tune_trial_t *t, const uint32_t *right, size_t n)
{
    (void)right;
    (void)n;
    *(tune_trial_t *)ctx = *t;
    return 0;
}

int tune_cv(const train_opts_t *opts, const train_set_t *set, uint32_t folds, uint64_t seed, uint32_t threads,
            double *accuracy, double *macro_f1, char *err, size_t errlen)
{
    tune_trial_t t;
    int rc = pool_run(opts, seed, set, folds, threads, 1, 0, keep_one, &t, err, errlen);
    if (!rc) {
        *accuracy = t.cv_accuracy;
        *macro_f1 = t.cv_macro_f1;
    }
    return rc;
}

int tune_beats(const uint32_t *a, const uint32_t *b, size_t n)
{
    size_t only_a = 0, only_b = 0;
    for (size_t i = 0; i < n; i++) {
        only_a += a[i] && !b[i];
        only_b += b[i] && !a[i];
    }
    return only_a > only_b && (double)(only_a - only_b) > sqrt((double)(only_a + only_b));
}

typedef struct search {
    const tune_opts_t *o;
    tune_trial_t *best;
    uint32_t *ran;
    uint32_t *best_right;    /* the best's right/wrong per record */
} search_t;

static int take_trial(void *ctx, const tune_trial_t *t, const uint32_t *right, size_t n)
{
    search_t *s = ctx;
    if (s->best->cv_accuracy < 0 || tune_beats(right, s->best_right, n)) {
        *s->best = *t;
        memcpy(s->best_right, right, n * sizeof *right);
    }
    (*s->ran)++;
    if (s->o->progress)
        s->o->progress(s->o->progress_ctx, t, s->best);
    return 0;
}

int tune_run(const tune_opts_t *o, const train_set_t *set, tune_trial_t *best, uint32_t *ran, char *err,
             size_t errlen)
{
    if (!o->trials && !(o->budget_s > 0))
        return tri_errf(err, errlen, TRI_EINVAL, "give a trial count or a time budget");
    *ran = 0;
    memset(best, 0, sizeof *best);
    best->cv_accuracy = -1;
    search_t s = {o, best, ran, malloc((set->n + 1) * sizeof *s.best_right)};
    if (!s.best_right)
        return tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
    int rc = pool_run(&o->base, o->seed, set, o->folds, o->threads, o->trials, o->budget_s, take_trial, &s, err,
                      errlen);
    free(s.best_right);
    return rc;
}
