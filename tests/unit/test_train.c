/* Unit tests for the Naive Bayes trainers (include/train.h), checked against
 * weights computed by hand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clf.h"
#include "core/feat.h"
#include "core/model.h"
#include "core/train.h"
#include "core/tri_err.h"

#define TOL 1e-5

static train_opts_t base_opts(int algo)
{
    train_opts_t o;
    memset(&o, 0, sizeof o);
    o.algo = algo;
    o.alpha = 1.0;
    o.sb = 0;
    o.min_df = 1;
    o.feat.ngram_min = 1;
    o.feat.ngram_max = 1;
    o.feat.bits = 22;
    o.feat.seed = 1;
    o.feat.mode = FEAT_PRESENCE;
    o.top_features = 3;
    return o;
}

/* A training set over static arrays. */
typedef struct corpus {
    const char *text[64];
    size_t len[64];
    uint32_t label[64];
    size_t n;
    train_set_t set;
} corpus_t;

static const char *const LABELS2[] = {"pos", "neg"};

static void corpus_init(corpus_t *c, const char *const *text, const uint32_t *label, size_t n)
{
    memset(c, 0, sizeof *c);
    assert_true(n <= 64);
    for (size_t i = 0; i < n; i++) {
        c->text[i] = text[i];
        c->len[i] = strlen(text[i]);
        c->label[i] = label[i];
    }
    c->n = n;
    c->set.n = n;
    c->set.text = c->text;
    c->set.len = c->len;
    c->set.label = c->label;
    c->set.nlabels = 2;
    c->set.labels = LABELS2;
}

/* Row of the unigram w in out, or -1. */
static int row_of(const train_out_t *out, const train_opts_t *o, const char *w)
{
    const char *toks[1] = {w};
    uint32_t b = feat_bucket_of(&o->feat, toks, 1);
    int found = -1;
    for (uint32_t r = 0; r < out->nrows; r++)
        if (out->buckets[r] == b) {
            assert_int_equal(found, -1); /* buckets are distinct */
            found = (int)r;
        }
    return found;
}

static void check_weight(const train_out_t *out, const train_opts_t *o, const char *w, uint32_t c, double expect)
{
    int r = row_of(out, o, w);
    if (r < 0)
        fail_msg("no row for '%s'", w);
    double got = out->weights[(size_t)r * out->nlabels + c];
    if (fabs(got - expect) > TOL)
        fail_msg("weight['%s'][%u] = %.7f, expected %.7f", w, c, got, expect);
}

static void check_bias(const train_out_t *out, uint32_t c, double expect)
{
    if (fabs(out->bias[c] - expect) > TOL)
        fail_msg("bias[%u] = %.7f, expected %.7f", c, out->bias[c], expect);
}

/* The toy corpus (labels: 0 = pos, 1 = neg):
 *   d0 pos  "good great"
 *   d1 pos  "good fun good"       (presence: "good" counts once)
 *   d2 neg  "bad awful terrible"
 *   d3 neg  "bad good"
 *   d4 neg  "awful"
 * Vocabulary V = 6: good great fun bad awful terrible.
 * Documents containing each word (presence counts):
 *             good great fun bad awful terrible | N_c (sum)
 *   pos (2)     2    1    1   0    0      0     |  4
 *   neg (3)     1    0    0   2    2      1     |  6
 */
static const char *const TOY[] = {"good great", "good fun good", "bad awful terrible", "bad good", "awful"};
static const uint32_t TOY_Y[] = {0, 0, 1, 1, 1};
static const char *const VOCAB[] = {"good", "great", "fun", "bad", "awful", "terrible"};

static void fit(const train_opts_t *o, const train_set_t *set, train_out_t *out)
{
    char err[TRI_ERRLEN] = "";
    int rc = train_fit(o, set, NULL, 0, out, err, sizeof err);
    if (rc)
        fail_msg("train_fit: %d %s", rc, err);
}

static void check_toy_shape(const train_out_t *out, const train_opts_t *o)
{
    assert_int_equal(out->nlabels, 2);
    assert_int_equal(out->ndocs, 5);
    assert_int_equal(out->label_docs[0], 2);
    assert_int_equal(out->label_docs[1], 3);
    assert_int_equal(out->candidates, 6);
    assert_int_equal(out->nrows, 6);
    for (size_t i = 0; i < 6; i++)
        assert_true(row_of(out, o, VOCAB[i]) >= 0);
}

static void test_multinomial_nb(void **state)
{
    (void)state;
    corpus_t c;
    corpus_init(&c, TOY, TOY_Y, 5);
    train_opts_t o = base_opts(TRAIN_NB);
    train_out_t out;
    fit(&o, &c.set, &out);
    check_toy_shape(&out, &o);
    /* Log priors: pos 2/5, neg 3/5. */
    check_bias(&out, 0, log(2.0 / 5));
    check_bias(&out, 1, log(3.0 / 5));
    /* w[t][c] = log((count(t,c) + alpha) / (N_c + alpha * V)):
     *   pos: denominator 4 + 6 = 10; neg: 6 + 6 = 12. */
    check_weight(&out, &o, "good", 0, log(3.0 / 10));     /* (2+1)/10 */
    check_weight(&out, &o, "great", 0, log(2.0 / 10));    /* (1+1)/10 */
    check_weight(&out, &o, "fun", 0, log(2.0 / 10));
    check_weight(&out, &o, "bad", 0, log(1.0 / 10));      /* (0+1)/10 */
    check_weight(&out, &o, "awful", 0, log(1.0 / 10));
    check_weight(&out, &o, "terrible", 0, log(1.0 / 10));
    check_weight(&out, &o, "good", 1, log(2.0 / 12));     /* (1+1)/12 */
    check_weight(&out, &o, "great", 1, log(1.0 / 12));
    check_weight(&out, &o, "fun", 1, log(1.0 / 12));
    check_weight(&out, &o, "bad", 1, log(3.0 / 12));      /* (2+1)/12 */
    check_weight(&out, &o, "awful", 1, log(3.0 / 12));
    check_weight(&out, &o, "terrible", 1, log(2.0 / 12));
    train_out_free(&out);

    /* alpha = 0.5: pos denominator 4 + 3 = 7, neg 6 + 3 = 9. */
    o.alpha = 0.5;
    fit(&o, &c.set, &out);
    check_weight(&out, &o, "good", 0, log(2.5 / 7));
    check_weight(&out, &o, "bad", 0, log(0.5 / 7));
    check_weight(&out, &o, "bad", 1, log(2.5 / 9));
    train_out_free(&out);
}

static void test_multinomial_counts_mode(void **state)
{
    (void)state;
    corpus_t c;
    corpus_init(&c, TOY, TOY_Y, 5);
    train_opts_t o = base_opts(TRAIN_NB);
    o.feat.mode = FEAT_COUNTS;
    train_out_t out;
    fit(&o, &c.set, &out);
    /* Counts mode: d1 contributes "good" twice, so pos counts are
     *   good 3, great 1, fun 1 -> N_pos = 5, denominator 5 + 6 = 11;
     * neg is unchanged (no repeats): denominator 12. */
    check_weight(&out, &o, "good", 0, log(4.0 / 11));
    check_weight(&out, &o, "great", 0, log(2.0 / 11));
    check_weight(&out, &o, "bad", 0, log(1.0 / 11));
    check_weight(&out, &o, "good", 1, log(2.0 / 12));
    check_weight(&out, &o, "bad", 1, log(3.0 / 12));
    check_bias(&out, 0, log(2.0 / 5));
    train_out_free(&out);
}

static void test_bernoulli_nb(void **state)
{
    (void)state;
    corpus_t c;
    corpus_init(&c, TOY, TOY_Y, 5);
    train_opts_t o = base_opts(TRAIN_BNB);
    train_out_t out;
    fit(&o, &c.set, &out);
    check_toy_shape(&out, &o);
    /* p(t|c) = (docs(t,c) + alpha) / (docs(c) + 2 alpha):
     *   pos (2 docs, denominator 4): good 3/4, great 2/4, fun 2/4, bad 1/4, awful 1/4, terrible 1/4
     *   neg (3 docs, denominator 5): good 2/5, great 1/5, fun 1/5, bad 3/5, awful 3/5, terrible 2/5
     * weight = log(p / (1 - p)); bias = log prior + sum over all t of log(1 - p). */
    const double pp[6] = {0.75, 0.5, 0.5, 0.25, 0.25, 0.25};
    const double pn[6] = {0.4, 0.2, 0.2, 0.6, 0.6, 0.4};
    for (int i = 0; i < 6; i++) {
        check_weight(&out, &o, VOCAB[i], 0, log(pp[i] / (1 - pp[i])));
        check_weight(&out, &o, VOCAB[i], 1, log(pn[i] / (1 - pn[i])));
    }
    /* pos: log(2/5) + log(1/4) + log(1/2) + log(1/2) + 3 log(3/4)
     *    = -0.916291 - 1.386294 - 0.693147 - 0.693147 - 0.863046 = -4.551925
     * neg: log(3/5) + log(3/5) + log(4/5) + log(4/5) + log(2/5) + log(2/5) + log(3/5)
     *    = -0.510826 - 0.510826 - 0.223144 - 0.223144 - 0.916291 - 0.916291 - 0.510826 = -3.811347 */
    check_bias(&out, 0, log(0.4) + log(0.25) + 2 * log(0.5) + 3 * log(0.75));
    check_bias(&out, 1, log(0.6) + log(0.6) + 2 * log(0.8) + 2 * log(0.4) + log(0.6));
    check_bias(&out, 0, -4.551925);
    check_bias(&out, 1, -3.811347);
    train_out_free(&out);

    /* Bernoulli ignores repeats even in counts mode. */
    o.feat.mode = FEAT_COUNTS;
    fit(&o, &c.set, &out);
    check_weight(&out, &o, "good", 0, log(0.75 / 0.25));
    check_bias(&out, 0, -4.551925);
    train_out_free(&out);
}

static void test_complement_nb(void **state)
{
    (void)state;
    corpus_t c;
    corpus_init(&c, TOY, TOY_Y, 5);
    train_opts_t o = base_opts(TRAIN_CNB);
    train_out_t out;
    fit(&o, &c.set, &out);
    check_toy_shape(&out, &o);
    /* Complement NB: w[t][c] = -log((count(t, not c) + alpha) / (N_{not c} + alpha V)).
     * For pos the complement is neg (N = 6, denominator 12); for neg it is pos (N = 4,
     * denominator 10). Unlike scikit-learn, the bias keeps the log prior (see
     * src/train.c) so a record without known n-grams gets the majority label. */
    check_weight(&out, &o, "good", 0, -log(2.0 / 12));
    check_weight(&out, &o, "great", 0, -log(1.0 / 12));
    check_weight(&out, &o, "fun", 0, -log(1.0 / 12));
    check_weight(&out, &o, "bad", 0, -log(3.0 / 12));
    check_weight(&out, &o, "awful", 0, -log(3.0 / 12));
    check_weight(&out, &o, "terrible", 0, -log(2.0 / 12));
    check_weight(&out, &o, "good", 1, -log(3.0 / 10));
    check_weight(&out, &o, "great", 1, -log(2.0 / 10));
    check_weight(&out, &o, "fun", 1, -log(2.0 / 10));
    check_weight(&out, &o, "bad", 1, -log(1.0 / 10));
    check_weight(&out, &o, "awful", 1, -log(1.0 / 10));
    check_weight(&out, &o, "terrible", 1, -log(1.0 / 10));
    check_bias(&out, 0, log(2.0 / 5));
    check_bias(&out, 1, log(3.0 / 5));
    train_out_free(&out);
}

/* Signal/background selection with sb = 4 (kept when docs(t,A) > 4 docs(t,not A)):
 *   10 pos documents, 2 neg documents;
 *   "above"   in 9 pos, 2 neg: S/B = 4.5  -> kept
 *   "exact"   in 8 pos, 2 neg: S/B = 4.0  -> dropped (not strictly above)
 *   "below"   in 7 pos, 2 neg: S/B = 3.5  -> dropped (neg: 2/7)
 *   "pfill"   in 10 pos, 0 neg: S/B = inf -> kept
 *   "negonly" in 0 pos, 1 neg: neg S/B = inf -> kept */
static void sb_corpus(corpus_t *c, char store[12][64])
{
    const char *text[12];
    uint32_t y[12];
    for (int i = 0; i < 10; i++) {
        snprintf(store[i], 64, "pfill%s%s%s", i < 9 ? " above" : "", i < 8 ? " exact" : "", i < 7 ? " below" : "");
        text[i] = store[i];
        y[i] = 0;
    }
    snprintf(store[10], 64, "above exact below negonly");
    snprintf(store[11], 64, "below exact above");
    text[10] = store[10];
    text[11] = store[11];
    y[10] = y[11] = 1;
    corpus_init(c, text, y, 12);
}

static void test_sb_selection(void **state)
{
    (void)state;
    char store[12][64];
    corpus_t c;
    sb_corpus(&c, store);
    train_opts_t o = base_opts(TRAIN_NB);
    train_out_t out;

    o.sb = 4;
    fit(&o, &c.set, &out);
    assert_int_equal(out.candidates, 5);
    assert_int_equal(out.nrows, 3);
    assert_true(row_of(&out, &o, "above") >= 0);
    assert_true(row_of(&out, &o, "pfill") >= 0);
    assert_true(row_of(&out, &o, "negonly") >= 0);
    assert_int_equal(row_of(&out, &o, "exact"), -1);
    assert_int_equal(row_of(&out, &o, "below"), -1);
    /* Weights use only the kept vocabulary (V = 3):
     *   pos counts: above 9, pfill 10, negonly 0 -> N = 19, denominator 22
     *   neg counts: above 2, pfill 0, negonly 1 -> N = 3, denominator 6 */
    check_weight(&out, &o, "above", 0, log(10.0 / 22));
    check_weight(&out, &o, "pfill", 0, log(11.0 / 22));
    check_weight(&out, &o, "negonly", 0, log(1.0 / 22));
    check_weight(&out, &o, "above", 1, log(3.0 / 6));
    check_weight(&out, &o, "pfill", 1, log(1.0 / 6));
    check_weight(&out, &o, "negonly", 1, log(2.0 / 6));
    check_bias(&out, 0, log(10.0 / 12));
    check_bias(&out, 1, log(2.0 / 12));
    train_out_free(&out);

    /* A lower threshold keeps "exact" (4 > 3.9) but not "below" (3.5). */
    o.sb = 3.9;
    fit(&o, &c.set, &out);
    assert_int_equal(out.nrows, 4);
    assert_true(row_of(&out, &o, "exact") >= 0);
    assert_int_equal(row_of(&out, &o, "below"), -1);
    train_out_free(&out);

    /* sb <= 0 disables selection. */
    o.sb = 0;
    fit(&o, &c.set, &out);
    assert_int_equal(out.nrows, 5);
    train_out_free(&out);
    o.sb = -1;
    fit(&o, &c.set, &out);
    assert_int_equal(out.nrows, 5);
    train_out_free(&out);
}

static void test_min_df(void **state)
{
    (void)state;
    /* Total document counts: good 3, great 1, fun 1, bad 2, awful 2, terrible 1. */
    corpus_t c;
    corpus_init(&c, TOY, TOY_Y, 5);
    train_opts_t o = base_opts(TRAIN_NB);
    train_out_t out;
    o.min_df = 2;
    fit(&o, &c.set, &out);
    assert_int_equal(out.candidates, 6);
    assert_int_equal(out.nrows, 3);
    assert_true(row_of(&out, &o, "good") >= 0);
    assert_true(row_of(&out, &o, "bad") >= 0);
    assert_true(row_of(&out, &o, "awful") >= 0);
    assert_int_equal(row_of(&out, &o, "great"), -1);
    assert_int_equal(row_of(&out, &o, "fun"), -1);
    assert_int_equal(row_of(&out, &o, "terrible"), -1);
    /* V = 3; pos: good 2, bad 0, awful 0 -> N 2, denominator 5;
     * neg: good 1, bad 2, awful 2 -> N 5, denominator 8. */
    check_weight(&out, &o, "good", 0, log(3.0 / 5));
    check_weight(&out, &o, "bad", 0, log(1.0 / 5));
    check_weight(&out, &o, "good", 1, log(2.0 / 8));
    check_weight(&out, &o, "awful", 1, log(3.0 / 8));
    train_out_free(&out);

    o.min_df = 3;
    fit(&o, &c.set, &out);
    assert_int_equal(out.nrows, 1);
    assert_true(row_of(&out, &o, "good") >= 0);
    train_out_free(&out);

    /* Nothing survives: the model still has its biases. */
    o.min_df = 100;
    fit(&o, &c.set, &out);
    assert_int_equal(out.nrows, 0);
    check_bias(&out, 0, log(2.0 / 5));
    train_out_free(&out);
}

static void test_subset_and_bigrams(void **state)
{
    (void)state;
    corpus_t c;
    corpus_init(&c, TOY, TOY_Y, 5);
    train_opts_t o = base_opts(TRAIN_NB);
    train_out_t out;
    /* Train on d0 and d2 only: pos "good great", neg "bad awful terrible". */
    size_t idx[] = {0, 2};
    char err[TRI_ERRLEN];
    assert_int_equal(train_fit(&o, &c.set, idx, 2, &out, err, sizeof err), 0);
    assert_int_equal(out.ndocs, 2);
    assert_int_equal(out.nrows, 5);
    /* V = 5; pos N 2 -> denominator 7; neg N 3 -> denominator 8. */
    check_weight(&out, &o, "good", 0, log(2.0 / 7));
    check_weight(&out, &o, "good", 1, log(1.0 / 8));
    check_bias(&out, 0, log(0.5));
    train_out_free(&out);

    /* Unigrams and bigrams: d0 has 2 + 1 features, d1 "good fun good" 3 + 2,
     * d2 3 + 2, d3 2 + 1, d4 1: distinct n-grams are the 6 words plus the bigrams
     * "good great", "good fun", "fun good", "bad awful", "awful terrible", "bad good". */
    o.feat.ngram_max = 2;
    fit(&o, &c.set, &out);
    assert_int_equal(out.nrows, 12);
    const char *bg[2] = {"good", "fun"};
    uint32_t b = feat_bucket_of(&o.feat, bg, 2);
    int found = 0;
    for (uint32_t r = 0; r < out.nrows; r++)
        if (out.buckets[r] == b) {
            found = 1;
            /* V = 12; pos presence counts: 3 unigrams (good 2, great 1, fun 1 = 4)
             * + 3 bigrams (1 each) = 7 -> denominator 19; "good fun" count 1. */
            assert_true(fabs(out.weights[(size_t)r * 2] - log(2.0 / 19)) < TOL);
        }
    assert_true(found);
    train_out_free(&out);
}

static void test_errors(void **state)
{
    (void)state;
    corpus_t c;
    corpus_init(&c, TOY, TOY_Y, 5);
    train_opts_t o = base_opts(TRAIN_NB);
    train_out_t out;
    char err[TRI_ERRLEN];

    o.alpha = 0;
    err[0] = '\0';
    assert_int_equal(train_fit(&o, &c.set, NULL, 0, &out, err, sizeof err), TRI_EINVAL);
    assert_true(strlen(err) > 0);
    o.alpha = NAN;
    assert_int_equal(train_fit(&o, &c.set, NULL, 0, &out, err, sizeof err), TRI_EINVAL);
    o.alpha = 1;

    c.set.nlabels = 1;
    assert_int_equal(train_fit(&o, &c.set, NULL, 0, &out, err, sizeof err), TRI_EINVAL);
    c.set.nlabels = 2;

    c.set.n = 0;
    assert_int_equal(train_fit(&o, &c.set, NULL, 0, &out, err, sizeof err), TRI_EINVAL);
    c.set.n = 5;
    size_t idx[1] = {0};
    assert_int_equal(train_fit(&o, &c.set, idx, 0, &out, err, sizeof err), TRI_EINVAL);

    o.feat.bits = 4;
    assert_int_equal(train_fit(&o, &c.set, NULL, 0, &out, err, sizeof err), TRI_EINVAL);
    o.feat.bits = 22;

    o.algo = 7;
    err[0] = '\0';
    assert_int_equal(train_fit(&o, &c.set, NULL, 0, &out, err, sizeof err), TRI_EINVAL);
    assert_true(strlen(err) > 0);
    assert_null(out.weights);
    o.algo = TRAIN_NB;

    snprintf(o.tok.stem, sizeof o.tok.stem, "nosuchstemmer");
    assert_int_equal(train_fit(&o, &c.set, NULL, 0, &out, err, sizeof err), TRI_EINVAL);
}

static void test_algo_names(void **state)
{
    (void)state;
    assert_string_equal(train_algo_name(TRAIN_NB), "nb");
    assert_string_equal(train_algo_name(TRAIN_BNB), "bnb");
    assert_string_equal(train_algo_name(TRAIN_CNB), "cnb");
    assert_int_equal(train_algo_parse("nb"), TRAIN_NB);
    assert_int_equal(train_algo_parse("bnb"), TRAIN_BNB);
    assert_int_equal(train_algo_parse("cnb"), TRAIN_CNB);
    assert_int_equal(train_algo_parse("NB"), -1);
    assert_int_equal(train_algo_parse(""), -1);
    assert_int_equal(train_algo_parse("svm"), TRAIN_SVM);
    assert_int_equal(train_algo_parse("lr"), TRAIN_LR);
    assert_string_equal(train_algo_name(TRAIN_SVM), "svm");
    assert_string_equal(train_algo_name(TRAIN_LR), "lr");
    assert_int_equal(train_algo_parse("rf"), -1);
}

/* A calibrated two-label scorer: raw = (0, z) and label 1 occurs with
 * probability sigmoid(z), i.e. softmax(raw) is the true distribution. */
static size_t calibrated_data(float *raw, uint32_t *truth, double scale)
{
    static const double zs[] = {-3, -2, -1, -0.5, 0, 0.5, 1, 2, 3};
    size_t n = 0;
    for (size_t k = 0; k < sizeof zs / sizeof *zs; k++) {
        double p1 = 1 / (1 + exp(-zs[k]));
        int ones = (int)lround(p1 * 1000);
        for (int i = 0; i < 1000; i++) {
            raw[2 * n] = 0;
            raw[2 * n + 1] = (float)(zs[k] * scale);
            truth[n] = i < ones;
            n++;
        }
    }
    return n;
}

static void test_temperature(void **state)
{
    (void)state;
    float *raw = malloc(9000 * 2 * sizeof *raw);
    uint32_t *truth = malloc(9000 * sizeof *truth);
    assert_non_null(raw);
    assert_non_null(truth);
    size_t n = calibrated_data(raw, truth, 1.0);
    float t = train_fit_temperature(raw, truth, n, 2);
    assert_true(fabs(t - 1.0) < 0.03);
    /* Scores three times too confident: the fitted temperature undoes it. */
    n = calibrated_data(raw, truth, 3.0);
    t = train_fit_temperature(raw, truth, n, 2);
    assert_true(t > 1.5);
    assert_true(fabs(t - 3.0) < 0.1);
    /* Under-confident scores get a temperature below 1. */
    n = calibrated_data(raw, truth, 0.5);
    t = train_fit_temperature(raw, truth, n, 2);
    assert_true(fabs(t - 0.5) < 0.02);
    /* No data: 1. */
    assert_true(train_fit_temperature(raw, truth, 0, 2) == 1.0f);
    free(raw);
    free(truth);
}

/* A trained model written, loaded and used through clf gives the scores the
 * trainer's weights imply. */
static void test_train_to_model(void **state)
{
    (void)state;
    corpus_t c;
    corpus_init(&c, TOY, TOY_Y, 5);
    train_opts_t o = base_opts(TRAIN_NB);
    train_out_t out;
    fit(&o, &c.set, &out);
    assert_non_null(out.top_features);
    assert_true(json_is_array(json_object_get(out.top_features, "pos")));
    assert_true(json_is_array(json_object_get(out.top_features, "neg")));
    model_spec_t spec;
    train_out_spec(&out, &o, &c.set, 1.0f, "{\"k\":1}", &spec);
    buf_t b = BUF_INIT;
    char err[TRI_ERRLEN];
    assert_int_equal(model_write(&spec, &b, err, sizeof err), 0);
    model_t *m;
    assert_int_equal(model_load_mem(b.p, b.len, &m, err, sizeof err), 0);
    clf_t *cl;
    assert_int_equal(clf_new(m, &cl, err, sizeof err), 0);
    clf_result_t r;
    assert_int_equal(clf_classify(cl, "GOOD bad unknownword", 20, &r), 0);
    assert_int_equal(r.ntokens, 3);
    assert_int_equal(r.nfeatures, 3);
    assert_int_equal(r.nknown, 2);
    /* pos: log(2/5) + log(3/10) + log(1/10); neg: log(3/5) + log(2/12) + log(3/12) */
    double sp = log(0.4) + log(0.3) + log(0.1), sn = log(0.6) + log(2.0 / 12) + log(0.25);
    assert_true(fabs(r.raw[0] - sp) < 1e-4);
    assert_true(fabs(r.raw[1] - sn) < 1e-4);
    assert_int_equal(r.label, 1);
    double pneg = 1 / (1 + exp(sp - sn));
    assert_true(fabs(r.score - pneg) < 1e-4);
    clf_free(cl);
    model_unref(m);
    buf_free(&b);
    train_out_free(&out);
}

/* A toy two-label corpus (0 = positive, 1 = negative words) for train_run
 * and the settings round trip. */
static const char *const T[] = {"good great", "good fun good", "bad awful terrible", "bad good", "awful",
                                "great fun", "terrible awful bad", "fun good great", "awful bad",
                                "good good fun", "bad terrible", "great good", "awful terrible",
                                "fun great", "bad bad awful", "good fun"};
static const uint32_t Y[] = {0, 0, 1, 1, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0};

/* train_run: the holdout is the seeded permutation's head, the caller's
 * metadata is merged, probes pass on the written model, and the same seed
 * gives the same bytes apart from the creation time. */
static void test_train_run(void **state)
{
    (void)state;
    corpus_t c;
    corpus_init(&c, T, Y, 16);
    json_t *extra = json_pack("{s:s}", "name", "toy");
    train_run_opts_t ro = {.fit = base_opts(TRAIN_NB), .holdout = 0.25, .seed = 7, .refit = 1, .meta = extra};
    train_result_t res;
    char err[TRI_ERRLEN] = "";
    int rc = train_run(&ro, &c.set, &res, err, sizeof err);
    if (rc)
        fail_msg("train_run: %s", err);
    assert_int_equal(res.nhold, 4);
    assert_int_equal(res.nfit, 16);
    assert_non_null(res.holdout);
    assert_int_equal(res.holdout->total, 4);
    json_t *meta = model_meta(res.model);
    assert_string_equal(json_string_value(json_object_get(meta, "name")), "toy");
    assert_string_equal(json_string_value(json_object_get(meta, "algo")), "nb");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(meta, "holdout"), "records")), 4);
    assert_true(json_array_size(json_object_get(meta, "probes")) >= 2);
    assert_int_equal(clf_probe(res.model, err, sizeof err), 0);
    /* The held-out records are the first four of the seeded permutation. */
    size_t idx[16];
    train_shuffle(idx, 16, 7);
    uint64_t pos = 0;
    for (int i = 0; i < 4; i++)
        pos += Y[idx[i]] == 0;
    assert_int_equal(res.holdout->cm[0] + res.holdout->cm[1], pos);
    /* Without refit the final model is the one measured. */
    train_result_t res2;
    ro.refit = 0;
    assert_int_equal(train_run(&ro, &c.set, &res2, err, sizeof err), 0);
    assert_int_equal(res2.nfit, 12);
    /* Too few records to hold out from. */
    ro.holdout = 0.99;
    train_result_t res3;
    assert_int_equal(train_run(&ro, &c.set, &res3, err, sizeof err), TRI_EINVAL);
    train_result_free(&res);
    train_result_free(&res2);
    json_decref(extra);
}

/* train_opts_from_model gives back the settings a model was trained with,
 * so a retrained successor is trained the same way: the same options, and
 * trained on the same data with them, the same scores. */
static void check_round_trip(const train_run_opts_t *ro, const train_set_t *set)
{
    train_result_t a, b;
    char err[TRI_ERRLEN] = "";
    if (train_run(ro, set, &a, err, sizeof err))
        fail_msg("train_run: %s", err);
    train_run_opts_t back;
    assert_int_equal(train_opts_from_model(a.model, &back, err, sizeof err), 0);
    const train_opts_t *x = &ro->fit, *y = &back.fit;
    assert_int_equal(y->algo, x->algo);
    assert_true(fabs(y->alpha - x->alpha) < 1e-9 || x->algo >= TRAIN_LR);
    assert_true(fabs(y->C - x->C) < 1e-9 || x->algo < TRAIN_LR);
    assert_true(fabs(y->sb - x->sb) < 1e-9 || x->algo >= TRAIN_LR);
    assert_int_equal(y->min_df, x->min_df);
    assert_int_equal(y->top_features, x->top_features);
    assert_int_equal(y->weights_q8, x->weights_q8 && x->algo >= TRAIN_LR);
    assert_memory_equal(&y->feat, &x->feat, sizeof x->feat);
    assert_string_equal(y->tok.stem, x->tok.stem);
    assert_int_equal(y->tok.stopwords_len, x->tok.stopwords_len);
    assert_true(!x->tok.stopwords_len || !memcmp(y->tok.stopwords, x->tok.stopwords, x->tok.stopwords_len));
    assert_true(fabs(back.holdout - ro->holdout) < 1e-9);
    assert_int_equal(back.seed, ro->seed);
    assert_int_equal(back.refit, ro->refit);
    assert_true(fabs(back.review_below - ro->review_below) < 1e-6);
    back.meta = ro->meta;
    if (train_run(&back, set, &b, err, sizeof err))
        fail_msg("train_run again: %s", err);
    float ra[64 * 2], rb[64 * 2];
    assert_int_equal(train_predict(a.model, set, NULL, set->n, NULL, ra, NULL, err, sizeof err), 0);
    assert_int_equal(train_predict(b.model, set, NULL, set->n, NULL, rb, NULL, err, sizeof err), 0);
    assert_memory_equal(ra, rb, set->n * 2 * sizeof *ra);
    assert_int_equal(model_nrows(a.model), model_nrows(b.model));
    train_result_free(&a);
    train_result_free(&b);
}

static void test_settings_from_model(void **state)
{
    (void)state;
    static const char stop[] = "the\na\n";
    corpus_t c;
    corpus_init(&c, T, Y, 16);
    train_run_opts_t ro = {.fit = base_opts(TRAIN_NB), .holdout = 0.25, .seed = 7, .refit = 0, .review_below = 0.6};
    ro.fit.alpha = 0.7;
    ro.fit.sb = 2;
    ro.fit.feat.ngram_max = 2;
    ro.fit.top_features = 4;
    snprintf(ro.fit.tok.stem, sizeof ro.fit.tok.stem, "english");
    ro.fit.tok.stopwords = stop;
    ro.fit.tok.stopwords_len = strlen(stop);
    check_round_trip(&ro, &c.set);
    train_run_opts_t rs = {.fit = base_opts(TRAIN_SVM), .holdout = 0.25, .seed = 3, .refit = 1};
    rs.fit.C = 0.3;
    rs.fit.weights_q8 = 1;
    rs.fit.feat.char_min = 2;
    rs.fit.feat.char_max = 4;
    rs.fit.feat.mode = FEAT_SUBLINEAR;
    rs.fit.feat.idf = rs.fit.feat.l2 = 1;
    check_round_trip(&rs, &c.set);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_multinomial_nb),
        cmocka_unit_test(test_multinomial_counts_mode),
        cmocka_unit_test(test_bernoulli_nb),
        cmocka_unit_test(test_complement_nb),
        cmocka_unit_test(test_sb_selection),
        cmocka_unit_test(test_min_df),
        cmocka_unit_test(test_subset_and_bigrams),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_algo_names),
        cmocka_unit_test(test_temperature),
        cmocka_unit_test(test_train_to_model),
        cmocka_unit_test(test_train_run),
        cmocka_unit_test(test_settings_from_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
