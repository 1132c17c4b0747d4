/* Unit tests for evaluation metrics (include/evalm.h), against hand-computed values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/eval.h"
#include "core/tri_err.h"

#define TOL 1e-9

static void near(double got, double expect, const char *what)
{
    if (!(fabs(got - expect) <= TOL))
        fail_msg("%s = %.12f, expected %.12f", what, got, expect);
}

static void add_n(eval_t *e, uint32_t truth, uint32_t pred, int n)
{
    for (int i = 0; i < n; i++)
        eval_add(e, truth, pred);
}

/* Labels A=0, B=1, C=2, D=3. Confusion matrix (rows truth, columns predicted):
 *          A  B  C  D   support
 *     A    3  1  0  0     4
 *     B    1  2  0  0     3
 *     C    1  1  0  0     2      C is never predicted
 *     D    0  0  0  0     0      D never occurs at all
 *  pred    5  4  0  0     total 9
 * accuracy = (3 + 2) / 9 = 5/9
 * A: P = 3/5, R = 3/4, F1 = 2 (0.6)(0.75) / 1.35 = 2/3
 * B: P = 2/4, R = 2/3, F1 = 2 (1/2)(2/3) / (7/6) = 4/7
 * C: P = 0/0 -> 0 (zero_division = 0), R = 0/2 = 0, F1 = 0
 * D: all zero, and left out of the macro average (neither true nor predicted)
 * macro-F1 = (2/3 + 4/7 + 0) / 3 = 26/63 */
static void test_confusion_metrics(void **state)
{
    (void)state;
    eval_t *e = eval_new(4);
    assert_non_null(e);
    add_n(e, 0, 0, 3);
    add_n(e, 0, 1, 1);
    add_n(e, 1, 1, 2);
    add_n(e, 1, 0, 1);
    add_n(e, 2, 0, 1);
    add_n(e, 2, 1, 1);
    /* Out-of-range labels are ignored. */
    eval_add(e, 4, 0);
    eval_add(e, 0, 4);
    eval_add(e, UINT32_MAX, UINT32_MAX);
    assert_int_equal(e->total, 9);
    assert_int_equal(e->cm[0 * 4 + 0], 3);
    assert_int_equal(e->cm[2 * 4 + 1], 1);

    eval_report_t r;
    memset(&r, 0, sizeof r);
    assert_int_equal(eval_compute(e, &r), 0);
    near(r.accuracy, 5.0 / 9, "accuracy");
    near(r.labels[0].precision, 0.6, "P(A)");
    near(r.labels[0].recall, 0.75, "R(A)");
    near(r.labels[0].f1, 2.0 / 3, "F1(A)");
    assert_int_equal(r.labels[0].support, 4);
    assert_int_equal(r.labels[0].predicted, 5);
    near(r.labels[1].precision, 0.5, "P(B)");
    near(r.labels[1].recall, 2.0 / 3, "R(B)");
    near(r.labels[1].f1, 4.0 / 7, "F1(B)");
    assert_int_equal(r.labels[1].support, 3);
    assert_int_equal(r.labels[1].predicted, 4);
    near(r.labels[2].precision, 0, "P(C)");
    near(r.labels[2].recall, 0, "R(C)");
    near(r.labels[2].f1, 0, "F1(C)");
    assert_int_equal(r.labels[2].support, 2);
    assert_int_equal(r.labels[2].predicted, 0);
    assert_int_equal(r.labels[3].support, 0);
    assert_int_equal(r.labels[3].predicted, 0);
    near(r.labels[3].f1, 0, "F1(D)");
    near(r.macro_f1, 26.0 / 63, "macro-F1");
    eval_report_free(&r);
    assert_null(r.labels);
    eval_free(e);
}

/* A label predicted but never true: precision 0 (0 of 2 right), recall 0/0 -> 0,
 * and it counts in the macro average.
 *          A  B
 *     A    2  2      A: P = 2/2 = 1, R = 2/4 = 0.5, F1 = 2/3
 *     B    0  0      B: P = 0/2 = 0, R = 0 (no support), F1 = 0
 * macro-F1 = (2/3 + 0) / 2 = 1/3; accuracy 2/4. */
static void test_predicted_never_true(void **state)
{
    (void)state;
    eval_t *e = eval_new(2);
    add_n(e, 0, 0, 2);
    add_n(e, 0, 1, 2);
    eval_report_t r;
    assert_int_equal(eval_compute(e, &r), 0);
    near(r.accuracy, 0.5, "accuracy");
    near(r.labels[0].precision, 1, "P(A)");
    near(r.labels[0].recall, 0.5, "R(A)");
    near(r.labels[0].f1, 2.0 / 3, "F1(A)");
    near(r.labels[1].precision, 0, "P(B)");
    near(r.labels[1].recall, 0, "R(B)");
    near(r.labels[1].f1, 0, "F1(B)");
    assert_int_equal(r.labels[1].predicted, 2);
    near(r.macro_f1, 1.0 / 3, "macro-F1");
    eval_report_free(&r);
    eval_free(e);
}

static void test_empty_and_perfect(void **state)
{
    (void)state;
    eval_t *e = eval_new(3);
    eval_report_t r;
    assert_int_equal(eval_compute(e, &r), 0);
    near(r.accuracy, 0, "accuracy of nothing");
    near(r.macro_f1, 0, "macro-F1 of nothing");
    eval_report_free(&r);
    add_n(e, 0, 0, 5);
    add_n(e, 2, 2, 1);
    assert_int_equal(eval_compute(e, &r), 0);
    near(r.accuracy, 1, "accuracy");
    near(r.macro_f1, 1, "macro-F1 (label 1 absent, not averaged)");
    eval_report_free(&r);
    eval_free(e);
    eval_free(NULL);
}

static void test_quantile(void **state)
{
    (void)state;
    double v[] = {3, 1, 2};
    near(eval_quantile(v, 3, 0.5), 2, "median");
    /* Sorted in place. */
    near(v[0], 1, "v[0]");
    near(v[2], 3, "v[2]");
    near(eval_quantile(v, 3, 0), 1, "q0");
    near(eval_quantile(v, 3, 1), 3, "q1");
    near(eval_quantile(v, 3, 0.25), 1.5, "q.25");
    double w[] = {10, 0};
    /* pos = 0.341 * 1 -> 0 + 0.341 * 10 */
    near(eval_quantile(w, 2, 0.341), 3.41, "q.341 of {0,10}");
    double one[] = {7};
    near(eval_quantile(one, 1, 0.659), 7, "single value");
    assert_true(isnan(eval_quantile(one, 0, 0.5)));
}

/* Precision per label p = (0.9, 0.5, 0.2); predicted counts per period:
 *   m0: (10, 0, 0)  a = 9/10                        = 0.9
 *   m1: ( 0, 0, 0)  empty: skipped, NaN
 *   m2: ( 5, 5, 0)  a = (4.5 + 2.5) / 10            = 0.7
 *   m3: ( 0, 2, 8)  a = (1.0 + 1.6) / 10            = 0.26
 *   m4: ( 1, 1, 2)  a = (0.9 + 0.5 + 0.4) / 4       = 0.45
 * mean = (0.9 + 0.7 + 0.26 + 0.45) / 4 = 2.31 / 4 = 0.5775
 * sorted (0.26, 0.45, 0.7, 0.9), n = 4, positions q (n - 1):
 *   q = 0.341: 1.023 -> 0.45 + 0.023 (0.7 - 0.45) = 0.45575
 *   q = 0.659: 1.977 -> 0.45 + 0.977 (0.7 - 0.45) = 0.69425 */
static void test_projection(void **state)
{
    (void)state;
    const double p[3] = {0.9, 0.5, 0.2};
    const uint64_t counts[5 * 3] = {10, 0, 0, 0, 0, 0, 5, 5, 0, 0, 2, 8, 1, 1, 2};
    double mean = -1, lo = -1, hi = -1, per[5];
    assert_int_equal(eval_projection(p, counts, 5, 3, &mean, &lo, &hi, per), 0);
    near(mean, 0.5775, "mean");
    near(lo, 0.45575, "q.341");
    near(hi, 0.69425, "q.659");
    near(per[0], 0.9, "a0");
    assert_true(isnan(per[1]));
    near(per[2], 0.7, "a2");
    near(per[3], 0.26, "a3");
    near(per[4], 0.45, "a4");
    /* Without per-period output. */
    assert_int_equal(eval_projection(p, counts, 5, 3, &mean, &lo, &hi, NULL), 0);
    near(mean, 0.5775, "mean (no per_period)");

    /* One period: all three equal. */
    assert_int_equal(eval_projection(p, counts + 6, 1, 3, &mean, &lo, &hi, per), 0);
    near(mean, 0.7, "mean of one");
    near(lo, 0.7, "lo of one");
    near(hi, 0.7, "hi of one");

    /* Only empty periods: NaN everywhere. */
    const uint64_t zero[2 * 3] = {0};
    assert_int_equal(eval_projection(p, zero, 2, 3, &mean, &lo, &hi, per), 0);
    assert_true(isnan(mean));
    assert_true(isnan(lo));
    assert_true(isnan(hi));
    assert_true(isnan(per[0]) && isnan(per[1]));
    assert_int_equal(eval_projection(p, zero, 0, 3, &mean, &lo, &hi, NULL), 0);
    assert_true(isnan(mean));
}

/* ECE on a synthetic set: confidence c right with probability c is
 * calibrated (ECE near 0); the same outcomes reported as 0.99 are not. */
static void test_ece_and_coverage(void **state)
{
    (void)state;
    enum { N = 10000 };
    static float conf[N], over[N];
    static uint8_t ok[N];
    uint64_t st = 7;
    for (size_t i = 0; i < N; i++) {
        st = st * 6364136223846793005ULL + 1442695040888963407ULL;
        double u = (double)(st >> 11) / 9007199254740992.0;
        conf[i] = 0.5f + 0.5f * (float)(i % 100) / 100.0f;
        ok[i] = u < conf[i];
        over[i] = 0.99f;
    }
    double bins[EVAL_ECE_BINS * 3];
    double e = eval_ece(conf, ok, N, EVAL_ECE_BINS, bins);
    assert_true(e < 0.02);
    double acc = 0;
    for (size_t i = 0; i < N; i++)
        acc += ok[i];
    acc /= N;
    double e2 = eval_ece(over, ok, N, EVAL_ECE_BINS, NULL);
    assert_true(fabs(e2 - (0.99 - acc)) < 1e-6);
    /* Bins: nothing below 0.5; the top bin's mean score is in it. */
    for (int b = 0; b < 5; b++)
        assert_true(bins[3 * b] == 0);
    assert_true(bins[3 * 9 + 1] >= 0.9 && bins[3 * 9 + 1] <= 1.0);
    /* Accuracy at coverage: the most confident half is more accurate than all. */
    double a50 = eval_accuracy_at_coverage(conf, ok, N, 0.5), a100 = eval_accuracy_at_coverage(conf, ok, N, 1.0);
    assert_true(fabs(a100 - acc) < 1e-12);
    assert_true(a50 > a100 + 0.05);
    const float c3[] = {0.9f, 0.2f, 0.6f};
    const uint8_t o3[] = {1, 0, 0};
    assert_true(eval_accuracy_at_coverage(c3, o3, 3, 0.34) == 0.5); /* ceil: two records, one right */
    assert_true(eval_accuracy_at_coverage(c3, o3, 3, 0.3) == 1.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_confusion_metrics),
        cmocka_unit_test(test_predicted_never_true),
        cmocka_unit_test(test_empty_and_perfect),
        cmocka_unit_test(test_quantile),
        cmocka_unit_test(test_projection),
        cmocka_unit_test(test_ece_and_coverage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
