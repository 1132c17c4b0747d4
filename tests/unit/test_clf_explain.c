/* Unit tests for core/clf_explain.h: for every algorithm, a word planted in one
 * label's training texts is the n-gram that weighs most when it decides a
 * text, and the explained values and weights add up to the raw score the
 * scorer computed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clf_explain.h"
#include "core/train.h"
#include "core/tri_err.h"

#define N 60

static const char *const LABELS[] = {"billing", "outage", "other"};

/* Three labels over shared filler words; "zorblax" appears in every outage
 * text and nowhere else. */
static char store[N][96];
static const char *text[N];
static size_t len[N];
static uint32_t label[N];

static void corpus(train_set_t *set)
{
    static const char *const filler[] = {"please help me with my account today",
                                         "i wrote to you yesterday about this",
                                         "can someone look at it thanks",
                                         "this is the third time i ask"};
    static const char *const cue[] = {"invoice charged twice", "zorblax", "hello question"};
    for (size_t i = 0; i < N; i++) {
        uint32_t y = (uint32_t)(i % 3);
        snprintf(store[i], sizeof store[i], "%s %s", filler[i % 4], cue[y]);
        text[i] = store[i];
        len[i] = strlen(store[i]);
        label[i] = y;
    }
    *set = (train_set_t){.n = N, .text = text, .len = len, .label = label, .nlabels = 3, .labels = LABELS};
}

static model_t *train(int algo, int chars)
{
    train_opts_t o;
    memset(&o, 0, sizeof o);
    o.algo = algo;
    o.alpha = 0.25;
    o.C = 0.5;
    o.min_df = 1;
    o.feat.ngram_min = 1;
    o.feat.ngram_max = 2;
    o.feat.bits = 20;
    o.feat.seed = 1;
    o.top_features = 3;
    if (algo == TRAIN_SVM || algo == TRAIN_LR) {
        o.feat.mode = FEAT_SUBLINEAR;
        o.feat.idf = 1;
        o.feat.l2 = 1;
    } else {
        o.feat.mode = FEAT_PRESENCE;
    }
    if (chars) {
        o.feat.char_min = 2;
        o.feat.char_max = 4;
    }
    train_set_t set;
    corpus(&set);
    train_run_opts_t ro = {.fit = o, .holdout = 0, .seed = 1, .refit = 1};
    train_result_t res;
    char err[TRI_ERRLEN] = "";
    if (train_run(&ro, &set, &res, err, sizeof err))
        fail_msg("train_run: %s", err);
    model_t *m = model_ref(res.model);
    train_result_free(&res);
    return m;
}

static void check_algo(int algo, int chars)
{
    model_t *m = train(algo, chars);
    clf_t *c;
    char err[TRI_ERRLEN];
    assert_int_equal(clf_new(m, &c, err, sizeof err), 0);
    const char *t = "please zorblax my account today";
    prep_field_t f = {.name = "text", .p = t, .len = strlen(t)};
    clf_result_t r;
    json_t *ex = NULL;
    assert_int_equal(clf_explain(c, &f, 1, CLF_EXPLAIN_TOP, &r, &ex), 0);
    assert_non_null(ex);
    assert_string_equal(json_string_value(json_object_get(ex, "label")), "outage");
    assert_string_equal(json_string_value(json_object_get(ex, "prepared")), t);
    json_t *toks = json_object_get(ex, "tokens");
    assert_int_equal(json_array_size(toks), 5);
    assert_string_equal(json_string_value(json_array_get(toks, 1)), "zorblax");
    /* The planted word comes first (as a word, or with character n-grams on,
     * possibly as one of its own character n-grams). */
    json_t *top = json_object_get(ex, "top");
    assert_true(json_array_size(top) >= 1 && json_array_size(top) <= CLF_EXPLAIN_TOP);
    const char *first = json_string_value(json_object_get(json_array_get(top, 0), "ngram"));
    if (chars ? !strstr("_zorblax_", first) : strcmp(first, "zorblax"))
        fail_msg("%s (chars %d): top n-gram '%s'", train_algo_name(algo), chars, first);
    if (!chars)
        assert_string_equal(json_string_value(json_object_get(json_array_get(top, 0), "kind")), "words");
    double prev = INFINITY;
    for (size_t i = 0; i < json_array_size(top); i++) {
        double p = json_number_value(json_object_get(json_array_get(top, i), "pull"));
        assert_true(p > 0 && p <= prev);
        prev = p;
    }
    /* Bias plus value x weight over every known n-gram is the raw score. */
    json_t *ng = json_object_get(ex, "ngrams");
    double sum = json_number_value(json_object_get(ex, "bias"));
    for (size_t i = 0; i < json_array_size(ng); i++) {
        json_t *g = json_array_get(ng, i);
        sum += json_number_value(json_object_get(g, "value")) * json_number_value(json_object_get(g, "weight"));
    }
    double raw = r.raw[r.label];
    if (fabs(sum - raw) > 1e-3 * (1 + fabs(raw)))
        fail_msg("%s: explained sum %g, raw score %g", train_algo_name(algo), sum, raw);
    json_t *feats = json_object_get(ex, "features");
    assert_int_equal(json_integer_value(json_object_get(feats, "known")), json_array_size(ng));
    const char *rule = json_string_value(json_object_get(ex, "rule"));
    int nb = algo == TRAIN_NB || algo == TRAIN_BNB || algo == TRAIN_CNB;
    assert_string_equal(rule, nb ? "value x (weight - runner-up weight)" : "value x weight");
    json_decref(ex);

    /* Nothing left after preparation: no explanation, as no label. */
    prep_field_t empty = {.name = "text", .p = "  \n", .len = 3};
    assert_int_equal(clf_explain(c, &empty, 1, CLF_EXPLAIN_TOP, &r, &ex), CLF_NO_TEXT);
    assert_null(ex);
    clf_free(c);
    model_unref(m);
}

static void test_svm(void **state)
{
    (void)state;
    check_algo(TRAIN_SVM, 0);
    check_algo(TRAIN_SVM, 1);
}

static void test_lr(void **state)
{
    (void)state;
    check_algo(TRAIN_LR, 0);
}

static void test_naive_bayes(void **state)
{
    (void)state;
    check_algo(TRAIN_NB, 0);
    check_algo(TRAIN_BNB, 0);
    check_algo(TRAIN_CNB, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_svm),
        cmocka_unit_test(test_lr),
        cmocka_unit_test(test_naive_bayes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
