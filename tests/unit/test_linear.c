/* Unit tests for the LIBLINEAR trainers, the TF-IDF scorer, review
 * thresholds and `triage tune` (include/core/train.h, tune.h, model.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <linear.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clf.h"
#include "core/feat.h"
#include "core/model.h"
#include "core/train.h"
#include "core/tri_err.h"
#include "core/tune.h"

/* A toy corpus: three labels with overlapping vocabulary, some UTF-8. */
static const char *const DOCS[] = {
    "flight delayed again", "my flight was delayed two hours", "delayed delayed delayed", "late plane late crew",
    "still waiting delayed gate", "crew late and flight late", "lost my bag", "bag lost at the airport",
    "where is my luggage", "luggage never arrived", "lost luggage again", "my bag is lost café",
    "thanks great crew", "great service thanks", "love the crew 😀", "thank you great flight", "great great thanks",
    "best crew ever thanks", "delayed but great crew", "lost bag but thanks", "luggage late delayed",
    "the flight was great", "waiting for my bag", "crew was late"};
static const uint32_t LAB[] = {0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 0, 1, 1, 2, 1, 0};
static const char *const NAMES[] = {"delay", "luggage", "praise"};
#define NDOCS (sizeof DOCS / sizeof *DOCS)

static train_set_t toy_set(size_t *len, uint32_t nlabels, uint32_t *labels)
{
    for (size_t i = 0; i < NDOCS; i++) {
        len[i] = strlen(DOCS[i]);
        labels[i] = nlabels == 2 ? LAB[i] == 2 : LAB[i];
    }
    return (train_set_t){NDOCS, DOCS, len, labels, nlabels, NAMES};
}

static train_opts_t linear_opts(int algo, double C)
{
    train_opts_t o;
    memset(&o, 0, sizeof o);
    o.algo = algo;
    o.C = C;
    o.min_df = 1;
    o.top_features = 3;
    o.feat = (feat_config_t){.ngram_min = 1, .ngram_max = 2, .bits = 18, .seed = 3, .mode = FEAT_SUBLINEAR,
                             .char_min = 2, .char_max = 4, .idf = 1, .l2 = 1};
    return o;
}

static model_t *fit_model(const train_opts_t *o, const train_set_t *set)
{
    train_out_t out;
    char err[TRI_ERRLEN] = "";
    if (train_fit(o, set, NULL, 0, &out, err, sizeof err))
        fail_msg("train_fit: %s", err);
    buf_t b = BUF_INIT;
    model_t *m = NULL;
    json_t *meta = json_object();
    if (train_build_model(&out, o, set, &(train_calib_t){1.0f, 0, NULL}, meta, &b, &m, err, sizeof err))
        fail_msg("build: %s", err);
    json_decref(meta);
    buf_free(&b);
    train_out_free(&out);
    return m;
}

/* The document as LIBLINEAR saw it, rebuilt here from the model's own rows
 * and IDF weights: sublinear TF times IDF, each family L2-normalised, bias
 * node last. */
static int doc_nodes(const model_t *m, const feat_config_t *fc, tok_t *tok, const char *text, struct feature_node *x)
{
    tok_list_t toks = {0};
    feat_vec_t fv = {0};
    assert_int_equal(tok_run(tok, text, strlen(text), &toks), 0);
    assert_int_equal(feat_extract(fc, &toks, &fv, 0), 0);
    uint32_t R = model_nrows(m);
    const float *idf = model_idf(m);
    int n = 0;
    double norm2[2] = {0, 0};
    for (size_t k = 0; k < fv.n; k++)
        for (uint32_t r = 0; r < R; r++) {
            uint32_t b;
            model_row(m, r, &b, NULL);
            if (b != fv.id[k])
                continue;
            double v = (fv.cnt[k] > 1 ? 1 + log(fv.cnt[k]) : 1) * idf[r];
            int fam = (b >> (fc->bits - 1)) & 1;
            norm2[fam] += v * v;
            x[n++] = (struct feature_node){(int)r + 1, v * (fam ? 1 : -1)}; /* sign marks the family for now */
        }
    for (int i = 0; i < n; i++) {
        int fam = x[i].value > 0;
        x[i].value = fabs(x[i].value) / sqrt(norm2[fam]);
    }
    /* ascending indices, as LIBLINEAR wants */
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && x[j - 1].index > x[j].index; j--) {
            struct feature_node t = x[j];
            x[j] = x[j - 1];
            x[j - 1] = t;
        }
    x[n++] = (struct feature_node){(int)R + 1, 1.0};
    x[n++] = (struct feature_node){-1, 0};
    tok_list_free(&toks);
    feat_vec_free(&fv);
    return n;
}

static void check_matches_liblinear(int algo, uint32_t nlabels, int q8)
{
    size_t len[NDOCS];
    uint32_t labels[NDOCS];
    train_set_t set = toy_set(len, nlabels, labels);
    train_opts_t o = linear_opts(algo, 1.0);
    o.weights_q8 = (uint32_t)q8;
    model_t *m = fit_model(&o, &set);
    char err[TRI_ERRLEN];
    tok_t *tok;
    assert_int_equal(tok_new(&o.tok, &tok, err, sizeof err), 0);
    /* LIBLINEAR on the same vectors, with the same solver and settings. */
    struct feature_node *nodes = calloc(NDOCS * 512, sizeof *nodes);
    struct feature_node *x[NDOCS];
    double y[NDOCS];
    int used = 0;
    for (size_t i = 0; i < NDOCS; i++) {
        x[i] = nodes + used;
        used += doc_nodes(m, &o.feat, tok, DOCS[i], x[i]);
        assert_true(used < (int)NDOCS * 512);
        y[i] = labels[i];
    }
    struct problem prob = {.l = NDOCS, .n = (int)model_nrows(m) + 1, .y = y, .x = x, .bias = 1};
    struct parameter par = {.solver_type = train_linear_solver(algo), .eps = train_linear_eps(), .C = 1.0};
    train_linear_reseed();
    struct model *lm = train(&prob, &par);
    assert_non_null(lm);
    clf_t *cl;
    assert_int_equal(clf_new(m, &cl, err, sizeof err), 0);
    /* Training documents and unseen ones give LIBLINEAR's decisions. */
    static const char *const NEW[] = {"delayed flight", "my luggage is lost", "great thanks crew", "bag delayed",
                                      "café 😀 crew", "zzz unknown words"};
    struct feature_node xn[512];
    size_t agree = 0, total = 0;
    for (size_t i = 0; i < NDOCS + 6; i++) {
        const char *t = i < NDOCS ? DOCS[i] : NEW[i - NDOCS];
        doc_nodes(m, &o.feat, tok, t, xn);
        double want = predict(lm, xn);
        clf_result_t r;
        assert_int_equal(clf_classify(cl, t, strlen(t), &r), 0);
        if ((double)r.label != want)
            fail_msg("'%s': scorer says %u, LIBLINEAR %g", t, r.label, want);
        /* The raw margins are LIBLINEAR's decision values too. */
        double dec[3];
        predict_values(lm, xn, dec);
        int lab[3];
        get_labels(lm, lab);
        for (int k = 0; k < (nlabels == 2 ? 1 : (int)nlabels); k++) {
            float mine = nlabels == 2 ? r.raw[lab[0]] : r.raw[lab[k]];
            /* int8 weights: each off by at most half its row's step (max/254),
             * and the document's values sum to at most sqrt(2 * nnz). */
            if (fabs(mine - dec[k]) > (q8 ? 0.03 : 1e-3))
                fail_msg("'%s': raw score %g, LIBLINEAR decision value %g", t, mine, dec[k]);
        }
        agree++;
        total++;
    }
    assert_int_equal(agree, total);
    free_and_destroy_model(&lm);
    free(nodes);
    clf_free(cl);
    tok_free(tok);
    model_unref(m);
}

static void test_svm_matches_liblinear(void **state)
{
    (void)state;
    check_matches_liblinear(TRAIN_SVM, 3, 0);
}

/* The same with the weights stored as int8 (the default for lr and svm). */
static void test_q8_matches_liblinear(void **state)
{
    (void)state;
    check_matches_liblinear(TRAIN_SVM, 3, 1);
    check_matches_liblinear(TRAIN_LR, 3, 1);
    check_matches_liblinear(TRAIN_SVM, 2, 1);
}

static void test_lr_matches_liblinear(void **state)
{
    (void)state;
    check_matches_liblinear(TRAIN_LR, 3, 0);
}

/* Two labels: LIBLINEAR keeps one vector w for its first label; the model
 * carries w and -w. */
static void test_two_labels_match_liblinear(void **state)
{
    (void)state;
    check_matches_liblinear(TRAIN_SVM, 2, 0);
}

/* The dual solvers shuffle with rand(): a model must not depend on what
 * trained before it or beside it. libc's one process-wide sequence fails
 * this (the second fit starts where the first left off). */
typedef struct fit_job {
    const train_opts_t *o;
    const train_set_t *set;
    train_out_t out;
    int rc;
} fit_job_t;

static void *fit_thread(void *arg)
{
    fit_job_t *j = arg;
    char err[TRI_ERRLEN];
    for (int k = 0; k < 3 && !j->rc; k++) {
        if (k)
            train_out_free(&j->out);
        j->rc = train_fit(j->o, j->set, NULL, 0, &j->out, err, sizeof err);
    }
    return NULL;
}

static void assert_same_fit(const train_out_t *a, const train_out_t *b)
{
    assert_int_equal(a->nrows, b->nrows);
    assert_memory_equal(a->weights, b->weights, (size_t)a->nrows * a->nlabels * sizeof *a->weights);
    assert_memory_equal(a->bias, b->bias, a->nlabels * sizeof *a->bias);
}

static void test_linear_deterministic(void **state)
{
    (void)state;
    size_t len[NDOCS];
    uint32_t labels[NDOCS];
    train_set_t set = toy_set(len, 3, labels);
    for (int algo = TRAIN_SVM; ; algo = TRAIN_LR) {
        train_opts_t o = linear_opts(algo, 1.0);
        fit_job_t first = {.o = &o, .set = &set}, again = {.o = &o, .set = &set};
        fit_thread(&first);
        assert_int_equal(first.rc, 0);
        /* rand() drawn in between by someone else changes nothing either. */
        for (int k = 0; k < 7; k++)
            (void)rand();
        fit_thread(&again);
        assert_int_equal(again.rc, 0);
        assert_same_fit(&first.out, &again.out);
        /* Two threads training at once. */
        fit_job_t t1 = {.o = &o, .set = &set}, t2 = {.o = &o, .set = &set};
        pthread_t a, b;
        assert_int_equal(pthread_create(&a, NULL, fit_thread, &t1), 0);
        assert_int_equal(pthread_create(&b, NULL, fit_thread, &t2), 0);
        pthread_join(a, NULL);
        pthread_join(b, NULL);
        assert_int_equal(t1.rc, 0);
        assert_int_equal(t2.rc, 0);
        assert_same_fit(&first.out, &t1.out);
        assert_same_fit(&first.out, &t2.out);
        train_out_free(&first.out);
        train_out_free(&again.out);
        train_out_free(&t1.out);
        train_out_free(&t2.out);
        if (algo == TRAIN_LR)
            break;
    }
}

static void test_linear_errors(void **state)
{
    (void)state;
    size_t len[NDOCS];
    uint32_t labels[NDOCS];
    train_set_t set = toy_set(len, 3, labels);
    train_opts_t o = linear_opts(TRAIN_SVM, 0);
    train_out_t out;
    char err[TRI_ERRLEN];
    assert_int_equal(train_fit(&o, &set, NULL, 0, &out, err, sizeof err), TRI_EINVAL);
    assert_non_null(strstr(err, "C"));
    o = linear_opts(TRAIN_SVM, 1);
    o.feat.mode = FEAT_COUNTS;
    o.feat.idf = o.feat.l2 = 0;
    assert_int_equal(train_fit(&o, &set, NULL, 0, &out, err, sizeof err), TRI_EINVAL);
    /* One label only among the documents chosen. */
    size_t idx[] = {0, 1, 2};
    o = linear_opts(TRAIN_SVM, 1);
    assert_int_equal(train_fit(&o, &set, idx, 3, &out, err, sizeof err), TRI_EINVAL);
    /* Naive Bayes refuses sublinear features. */
    o.algo = TRAIN_NB;
    o.alpha = 1;
    assert_int_equal(train_fit(&o, &set, NULL, 0, &out, err, sizeof err), TRI_EINVAL);
}

/* The review threshold: the lowest score above which the wanted precision
 * holds, ties kept together. */
static void test_review_threshold(void **state)
{
    (void)state;
    /* scores descending: 0.99 ok, 0.95 ok, 0.9 ok, 0.9 wrong, 0.8 ok, 0.7 wrong, 0.6 wrong */
    const float sc[] = {0.9f, 0.99f, 0.6f, 0.95f, 0.9f, 0.8f, 0.7f};
    const uint8_t ok[] = {1, 1, 0, 1, 0, 1, 0};
    double share;
    /* 100%: only the top two (the 0.9 pair has an error). */
    float t = train_review_threshold(sc, ok, 7, 1.0, &share);
    assert_true(fabsf(t - 0.95f) < 1e-6);
    assert_true(fabs(share - 5.0 / 7) < 1e-9);
    /* 80%: top five are 4/5 right. */
    t = train_review_threshold(sc, ok, 7, 0.8, &share);
    assert_true(fabsf(t - 0.8f) < 1e-6);
    assert_true(fabs(share - 2.0 / 7) < 1e-9);
    /* 75%: the 0.9 pair counts whole: top four are 3/4. Top five (4/5) is better. */
    t = train_review_threshold(sc, ok, 7, 0.75, &share);
    assert_true(fabsf(t - 0.8f) < 1e-6);
    /* Nothing reaches it: everything goes to review. */
    const uint8_t none[] = {0, 0, 0, 0, 0, 0, 0};
    t = train_review_threshold(sc, none, 7, 0.5, &share);
    assert_true(t >= 1.0f);
    assert_true(share == 1.0);
}

/* The model carries the threshold; classify marks records below it. */
static void test_review_flag(void **state)
{
    (void)state;
    size_t len[NDOCS];
    uint32_t labels[NDOCS];
    train_set_t set = toy_set(len, 3, labels);
    train_opts_t o = linear_opts(TRAIN_SVM, 1.0);
    train_run_opts_t ro = {.fit = o, .holdout = 0, .seed = 1, .refit = 1, .review_below = 0.6};
    train_result_t res;
    char err[TRI_ERRLEN];
    assert_int_equal(train_run(&ro, &set, &res, err, sizeof err), 0);
    assert_true(fabsf(model_review_below(res.model) - 0.6f) < 1e-6);
    clf_t *cl;
    assert_int_equal(clf_new(res.model, &cl, err, sizeof err), 0);
    size_t marked = 0;
    for (size_t i = 0; i < NDOCS; i++) {
        clf_result_t r;
        assert_int_equal(clf_classify(cl, DOCS[i], len[i], &r), 0);
        assert_int_equal(r.review, r.score < 0.6f);
        marked += r.review;
    }
    clf_result_t r;
    assert_int_equal(clf_classify(cl, "qqq", 3, &r), 0);
    assert_true(r.review); /* nothing known: the prior is not confident */
    clf_free(cl);
    train_result_free(&res);
    (void)marked;
}

/* --cost: the decision moves toward the costlier label; probabilities don't. */
static void test_cost_decision(void **state)
{
    (void)state;
    size_t len[NDOCS];
    uint32_t labels[NDOCS];
    train_set_t set = toy_set(len, 2, labels);
    train_opts_t o = linear_opts(TRAIN_SVM, 1.0);
    train_run_opts_t ro = {.fit = o, .holdout = 0, .seed = 1, .refit = 1};
    train_result_t plain, costly;
    char err[TRI_ERRLEN];
    assert_int_equal(train_run(&ro, &set, &plain, err, sizeof err), 0);
    ro.cost[0] = 1;
    ro.cost[1] = 1000; /* missing a label-1 record costs a thousand times more */
    assert_int_equal(train_run(&ro, &set, &costly, err, sizeof err), 0);
    clf_t *a, *b;
    assert_int_equal(clf_new(plain.model, &a, err, sizeof err), 0);
    assert_int_equal(clf_new(costly.model, &b, err, sizeof err), 0);
    size_t moved = 0;
    for (size_t i = 0; i < NDOCS; i++) {
        clf_result_t ra, rb;
        assert_int_equal(clf_classify(a, DOCS[i], len[i], &ra), 0);
        assert_int_equal(clf_classify(b, DOCS[i], len[i], &rb), 0);
        /* Same probabilities; label 1 whenever p1 * 1000 > p0. */
        assert_true(fabsf(ra.top_score[0] - rb.top_score[0]) < 1e-6);
        float p1 = ra.top[0] == 1 ? ra.top_score[0] : ra.top_score[1];
        assert_int_equal(rb.label, p1 * 1000 > (1 - p1) ? 1 : 0);
        moved += ra.label != rb.label;
    }
    assert_true(moved > 0);
    /* More than two labels: refused. */
    train_set_t three = toy_set(len, 3, labels);
    train_result_t bad;
    assert_int_equal(train_run(&ro, &three, &bad, err, sizeof err), TRI_EINVAL);
    clf_free(a);
    clf_free(b);
    train_result_free(&plain);
    train_result_free(&costly);
}

/* Tune: same seed, same trials, same winner and scores on 1 or 2 threads;
 * trial 0 is the base; another seed samples other settings. */
/* A trial replaces the best only by more than noise: 5 right where the
 * best is wrong against 3 the other way (2 < sqrt(8)) is not enough (a
 * plain accuracy comparison would take it), 12 against 1 (11 > sqrt(13)) is. */
static void test_tune_beats(void **state)
{
    (void)state;
    uint32_t a[40], b[40];
    for (int i = 0; i < 40; i++)
        a[i] = b[i] = i % 3 != 0;
    assert_false(tune_beats(a, b, 40));
    for (int i = 0; i < 5; i++)
        a[i] = 1, b[i] = 0;
    for (int i = 5; i < 8; i++)
        a[i] = 0, b[i] = 1;
    assert_false(tune_beats(a, b, 40));
    assert_false(tune_beats(b, a, 40));
    for (int i = 8; i < 13; i++)
        a[i] = 1, b[i] = 0;
    for (int i = 5; i < 7; i++)
        a[i] = 1, b[i] = 0;
    /* now 12 one way (0-4, 5-6, 8-12) against 1 (7) */
    assert_true(tune_beats(a, b, 40));
    assert_false(tune_beats(b, a, 40));
}

static void test_tune_deterministic(void **state)
{
    (void)state;
    size_t len[NDOCS];
    uint32_t labels[NDOCS];
    train_set_t set = toy_set(len, 3, labels);
    tune_opts_t to = {.base = linear_opts(TRAIN_SVM, 0.5), .folds = 3, .trials = 5, .seed = 42, .threads = 2};
    to.base.min_df = 1;
    tune_trial_t b1, b2, b3;
    uint32_t r1, r2, r3;
    char err[TRI_ERRLEN];
    assert_int_equal(tune_run(&to, &set, &b1, &r1, err, sizeof err), 0);
    to.threads = 1;
    assert_int_equal(tune_run(&to, &set, &b2, &r2, err, sizeof err), 0);
    assert_int_equal(r1, 5);
    assert_int_equal(r2, 5);
    assert_int_equal(b1.index, b2.index);
    assert_true(b1.cv_accuracy == b2.cv_accuracy);
    assert_true(b1.cv_macro_f1 == b2.cv_macro_f1);
    assert_string_equal(b1.desc, b2.desc);
    /* Each trial's score is reproducible too. */
    double a1, f1, a2, f2;
    train_opts_t t3;
    tune_sample(&to.base, 42, 3, &t3);
    assert_int_equal(tune_cv(&t3, &set, 3, 42, 2, &a1, &f1, err, sizeof err), 0);
    assert_int_equal(tune_cv(&t3, &set, 3, 42, 1, &a2, &f2, err, sizeof err), 0);
    assert_true(a1 == a2 && f1 == f2);
    /* Trial 0 is the base settings; other seeds sample differently. */
    train_opts_t s0, x, y;
    tune_sample(&to.base, 42, 0, &s0);
    assert_memory_equal(&s0, &to.base, sizeof s0);
    int differ = 0;
    for (uint32_t i = 1; i < 6; i++) {
        tune_sample(&to.base, 42, i, &x);
        tune_sample(&to.base, 43, i, &y);
        char dx[200], dy[200];
        tune_describe(&x, dx, sizeof dx);
        tune_describe(&y, dy, sizeof dy);
        differ += strcmp(dx, dy) != 0;
    }
    assert_true(differ > 0);
    /* The winner is never worse than trial 0. */
    double a0, f0;
    assert_int_equal(tune_cv(&to.base, &set, 3, 42, 2, &a0, &f0, err, sizeof err), 0);
    assert_true(b1.cv_accuracy >= a0);
    /* Neither trials nor budget: refused. */
    to.trials = 0;
    assert_int_equal(tune_run(&to, &set, &b3, &r3, err, sizeof err), TRI_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_svm_matches_liblinear),
        cmocka_unit_test(test_lr_matches_liblinear),
        cmocka_unit_test(test_two_labels_match_liblinear),
        cmocka_unit_test(test_q8_matches_liblinear),
        cmocka_unit_test(test_linear_deterministic),
        cmocka_unit_test(test_linear_errors),
        cmocka_unit_test(test_review_threshold),
        cmocka_unit_test(test_review_flag),
        cmocka_unit_test(test_cost_decision),
        cmocka_unit_test(test_tune_beats),
        cmocka_unit_test(test_tune_deterministic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
