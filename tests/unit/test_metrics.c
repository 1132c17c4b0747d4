/* Unit tests for the metrics registry (include/met.h): exact Prometheus text
 * exposition, label escaping, the series cap and pointer stability. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "daemon/metrics.h"

/* Renders m into a fresh string (caller frees). */
static char *render(const metrics_t *m)
{
    buf_t b = BUF_INIT;
    metrics_render(m, &b);
    assert_int_equal(b.oom, 0);
    char *s = strdup(buf_cstr(&b));
    buf_free(&b);
    assert_non_null(s);
    return s;
}

static void expect_render(const metrics_t *m, const char *want)
{
    char *got = render(m);
    if (strcmp(got, want))
        fail_msg("rendered:\n%s\nexpected:\n%s", got, want);
    free(got);
}

/* Lines of text starting with prefix. */
static size_t count_lines(const char *text, const char *prefix)
{
    size_t n = 0, pl = strlen(prefix);
    for (const char *l = text; *l;) {
        if (!strncmp(l, prefix, pl))
            n++;
        const char *e = strchr(l, '\n');
        if (!e)
            break;
        l = e + 1;
    }
    return n;
}

static void test_counter_with_labels(void **state)
{
    (void)state;
    metrics_t *m = metrics_new();
    assert_non_null(m);
    metrics_family_t *f = metrics_family(m, METRICS_COUNTER, "triage_records_total", "Records processed.", "topic,outcome", NULL, 0);
    assert_non_null(f);
    const char *ok[] = {"in", "ok"}, *dlq[] = {"in", "dlq"}, *ok2[] = {"in", "ok"};
    metrics_series_t *a = metrics_series(f, ok);
    metrics_series_t *b = metrics_series(f, dlq);
    assert_non_null(a);
    assert_non_null(b);
    assert_ptr_not_equal(a, b);
    assert_ptr_equal(metrics_series(f, ok2), a); /* same values, same series */
    metrics_inc(a, 1);
    metrics_inc(a, 2);
    metrics_inc(b, 1.5);
    expect_render(m, "# HELP triage_records_total Records processed.\n"
                     "# TYPE triage_records_total counter\n"
                     "triage_records_total{topic=\"in\",outcome=\"ok\"} 3\n"
                     "triage_records_total{topic=\"in\",outcome=\"dlq\"} 1.5\n");
    metrics_free(m);
}

static void test_gauge(void **state)
{
    (void)state;
    metrics_t *m = metrics_new();
    metrics_family_t *g = metrics_family(m, METRICS_GAUGE, "triage_inflight", "Records in flight.", NULL, NULL, 0);
    metrics_family_t *h = metrics_family(m, METRICS_GAUGE, "triage_ratio", "A ratio.", "", NULL, 0);
    assert_non_null(g);
    assert_non_null(h);
    /* A family without labels shows its series even before first use. */
    expect_render(m, "# HELP triage_inflight Records in flight.\n"
                     "# TYPE triage_inflight gauge\n"
                     "triage_inflight 0\n"
                     "# HELP triage_ratio A ratio.\n"
                     "# TYPE triage_ratio gauge\n"
                     "triage_ratio 0\n");
    metrics_series_t *s = metrics_series0(g);
    assert_ptr_equal(metrics_series0(g), s);
    metrics_set(s, 42);
    metrics_inc(s, -50);
    metrics_set(metrics_series0(h), 0.25);
    expect_render(m, "# HELP triage_inflight Records in flight.\n"
                     "# TYPE triage_inflight gauge\n"
                     "triage_inflight -8\n"
                     "# HELP triage_ratio A ratio.\n"
                     "# TYPE triage_ratio gauge\n"
                     "triage_ratio 0.25\n");
    metrics_set(s, 1234567);
    metrics_set(metrics_series0(h), 1.0 / 3);
    expect_render(m, "# HELP triage_inflight Records in flight.\n"
                     "# TYPE triage_inflight gauge\n"
                     "triage_inflight 1234567\n"
                     "# HELP triage_ratio A ratio.\n"
                     "# TYPE triage_ratio gauge\n"
                     "triage_ratio 0.333333333\n");
    metrics_free(m);
}

static void test_histogram(void **state)
{
    (void)state;
    metrics_t *m = metrics_new();
    static const double bounds[] = {0.01, 0.1, 1};
    metrics_family_t *h = metrics_family(m, METRICS_HISTOGRAM, "triage_batch_seconds", "Batch time.", NULL, bounds, 3);
    assert_non_null(h);
    metrics_series_t *s = metrics_series0(h);
    /* 0.01 is on a bound: it counts in le="0.01" (le means <=). */
    static const double obs[] = {0.005, 0.01, 0.05, 0.5, 2, 3};
    for (size_t i = 0; i < 6; i++)
        metrics_observe(h, s, obs[i]);
    assert_int_equal(s->count, 6);
    expect_render(m, "# HELP triage_batch_seconds Batch time.\n"
                     "# TYPE triage_batch_seconds histogram\n"
                     "triage_batch_seconds_bucket{le=\"0.01\"} 2\n"
                     "triage_batch_seconds_bucket{le=\"0.1\"} 3\n"
                     "triage_batch_seconds_bucket{le=\"1\"} 4\n"
                     "triage_batch_seconds_bucket{le=\"+Inf\"} 6\n"
                     "triage_batch_seconds_sum 5.565\n"
                     "triage_batch_seconds_count 6\n");
    metrics_free(m);
}

static void test_histogram_with_labels(void **state)
{
    (void)state;
    metrics_t *m = metrics_new();
    static const double bounds[] = {10, 100};
    metrics_family_t *h = metrics_family(m, METRICS_HISTOGRAM, "lat_ms", "Latency.", "model", bounds, 2);
    assert_non_null(h);
    /* Empty first: all zero. */
    metrics_series1(h, "a");
    metrics_series_t *b = metrics_series1(h, "b");
    metrics_observe(h, b, 100);
    metrics_observe(h, b, 1000);
    metrics_observe(h, b, 7);
    expect_render(m, "# HELP lat_ms Latency.\n"
                     "# TYPE lat_ms histogram\n"
                     "lat_ms_bucket{model=\"a\",le=\"10\"} 0\n"
                     "lat_ms_bucket{model=\"a\",le=\"100\"} 0\n"
                     "lat_ms_bucket{model=\"a\",le=\"+Inf\"} 0\n"
                     "lat_ms_sum{model=\"a\"} 0\n"
                     "lat_ms_count{model=\"a\"} 0\n"
                     "lat_ms_bucket{model=\"b\",le=\"10\"} 1\n"
                     "lat_ms_bucket{model=\"b\",le=\"100\"} 2\n"
                     "lat_ms_bucket{model=\"b\",le=\"+Inf\"} 3\n"
                     "lat_ms_sum{model=\"b\"} 1107\n"
                     "lat_ms_count{model=\"b\"} 3\n");
    metrics_free(m);
}

static void test_label_escaping(void **state)
{
    (void)state;
    metrics_t *m = metrics_new();
    metrics_family_t *f = metrics_family(m, METRICS_COUNTER, "c_total", "C.", "v", NULL, 0);
    metrics_inc(metrics_series1(f, "a\"b\\c\nd"), 1);
    metrics_inc(metrics_series1(f, ""), 2);
    metrics_inc(metrics_series1(f, NULL), 3); /* NULL is the empty value */
    expect_render(m, "# HELP c_total C.\n"
                     "# TYPE c_total counter\n"
                     "c_total{v=\"a\\\"b\\\\c\\nd\"} 1\n"
                     "c_total{v=\"\"} 5\n");
    metrics_free(m);
}

static void test_series_cap(void **state)
{
    (void)state;
    metrics_t *m = metrics_new();
    metrics_family_t *f = metrics_family(m, METRICS_GAUGE, "g", "G.", "k", NULL, 0);
    char v[32];
    metrics_series_t *first[METRICS_MAX_SERIES];
    for (int i = 0; i < METRICS_MAX_SERIES; i++) {
        snprintf(v, sizeof v, "v%d", i);
        first[i] = metrics_series1(f, v);
        assert_non_null(first[i]);
        metrics_set(first[i], i);
    }
    /* Further distinct values all fold into one series. */
    metrics_series_t *other = NULL;
    for (int i = METRICS_MAX_SERIES; i < METRICS_MAX_SERIES + 100; i++) {
        snprintf(v, sizeof v, "v%d", i);
        metrics_series_t *s = metrics_series1(f, v);
        assert_non_null(s);
        if (!other)
            other = s;
        assert_ptr_equal(s, other);
        metrics_inc(s, 1);
    }
    for (int i = 0; i < METRICS_MAX_SERIES; i++)
        assert_ptr_not_equal(first[i], other);
    /* Known values still find their own series. */
    assert_ptr_equal(metrics_series1(f, "v0"), first[0]);
    assert_ptr_equal(metrics_series1(f, "v255"), first[255]);

    char *out = render(m);
    assert_int_equal(count_lines(out, "g{"), METRICS_MAX_SERIES + 1);
    assert_int_equal(count_lines(out, "g{k=\"_other\"} 100\n"), 1);
    assert_int_equal(count_lines(out, "g{k=\"v255\"} 255\n"), 1);
    assert_int_equal(count_lines(out, "g{k=\"v17\"} 17\n"), 1);
    assert_null(strstr(out, "v256"));
    assert_null(strstr(out, "v355"));
    free(out);
    metrics_free(m);
}

static void test_series_cap_multi_label(void **state)
{
    (void)state;
    metrics_t *m = metrics_new();
    metrics_family_t *f = metrics_family(m, METRICS_COUNTER, "x_total", "X.", "a,b", NULL, 0);
    char v[32];
    for (int i = 0; i < METRICS_MAX_SERIES + 3; i++) {
        snprintf(v, sizeof v, "%d", i);
        const char *vals[] = {"p", v};
        metrics_inc(metrics_series(f, vals), 1);
    }
    char *out = render(m);
    assert_int_equal(count_lines(out, "x_total{"), METRICS_MAX_SERIES + 1);
    assert_int_equal(count_lines(out, "x_total{a=\"_other\",b=\"_other\"} 3\n"), 1);
    free(out);
    metrics_free(m);
}

static void test_pointer_stability(void **state)
{
    (void)state;
    metrics_t *m = metrics_new();
    metrics_family_t *f = metrics_family(m, METRICS_COUNTER, "p_total", "P.", "k", NULL, 0);
    metrics_series_t *early = metrics_series1(f, "early");
    metrics_inc(early, 1);
    char v[32];
    for (int i = 0; i < 200; i++) {
        snprintf(v, sizeof v, "s%d", i);
        metrics_inc(metrics_series1(f, v), 1);
        /* More families too, so the registry's own array grows. */
        snprintf(v, sizeof v, "fam%d", i);
        assert_non_null(metrics_family(m, METRICS_GAUGE, v, "F.", NULL, NULL, 0));
    }
    metrics_inc(early, 41); /* writes through the early pointer */
    assert_ptr_equal(metrics_series1(f, "early"), early);
    char *out = render(m);
    assert_int_equal(count_lines(out, "p_total{k=\"early\"} 42\n"), 1);
    assert_int_equal(count_lines(out, "p_total{k=\"s199\"} 1\n"), 1);
    assert_int_equal(count_lines(out, "p_total{"), 201);
    assert_int_equal(count_lines(out, "fam199 0\n"), 1);
    free(out);
    metrics_free(m);
}

static void test_reset_family(void **state)
{
    (void)state;
    metrics_t *m = metrics_new();
    metrics_family_t *lag = metrics_family(m, METRICS_GAUGE, "lag", "Lag.", "partition", NULL, 0);
    metrics_family_t *keep = metrics_family(m, METRICS_GAUGE, "keep", "Keep.", NULL, NULL, 0);
    metrics_set(metrics_series1(lag, "0"), 10);
    metrics_set(metrics_series1(lag, "1"), 20);
    metrics_set(metrics_series0(keep), 5);
    metrics_reset_family(lag);
    expect_render(m, "# HELP lag Lag.\n"
                     "# TYPE lag gauge\n"
                     "# HELP keep Keep.\n"
                     "# TYPE keep gauge\n"
                     "keep 5\n");
    /* New series start from zero. */
    metrics_series_t *s = metrics_series1(lag, "1");
    assert_true(s->value == 0);
    metrics_set(s, 7);
    expect_render(m, "# HELP lag Lag.\n"
                     "# TYPE lag gauge\n"
                     "lag{partition=\"1\"} 7\n"
                     "# HELP keep Keep.\n"
                     "# TYPE keep gauge\n"
                     "keep 5\n");
    /* Reset also clears the overflow series and frees the cap again. */
    char v[32];
    for (int i = 0; i < METRICS_MAX_SERIES + 5; i++) {
        snprintf(v, sizeof v, "p%d", i);
        metrics_set(metrics_series1(lag, v), 1);
    }
    metrics_reset_family(lag);
    metrics_set(metrics_series1(lag, "fresh"), 3);
    char *out = render(m);
    assert_int_equal(count_lines(out, "lag{"), 1);
    assert_int_equal(count_lines(out, "lag{partition=\"fresh\"} 3\n"), 1);
    assert_null(strstr(out, "_other"));
    free(out);
    /* An unlabeled family after reset shows its zero series again. */
    metrics_reset_family(keep);
    out = render(m);
    assert_int_equal(count_lines(out, "keep 0\n"), 1);
    free(out);
    metrics_free(m);
}

static void test_special_values(void **state)
{
    (void)state;
    metrics_t *m = metrics_new();
    metrics_family_t *f = metrics_family(m, METRICS_GAUGE, "sv", "S.", "k", NULL, 0);
    metrics_set(metrics_series1(f, "pinf"), INFINITY);
    metrics_set(metrics_series1(f, "ninf"), -INFINITY);
    metrics_set(metrics_series1(f, "big"), 1e20);
    metrics_set(metrics_series1(f, "small"), 1e-7);
    expect_render(m, "# HELP sv S.\n"
                     "# TYPE sv gauge\n"
                     "sv{k=\"pinf\"} +Inf\n"
                     "sv{k=\"ninf\"} -Inf\n"
                     "sv{k=\"big\"} 1e+20\n"
                     "sv{k=\"small\"} 1e-07\n");
    metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_with_labels),
        cmocka_unit_test(test_gauge),
        cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_histogram_with_labels),
        cmocka_unit_test(test_label_escaping),
        cmocka_unit_test(test_series_cap),
        cmocka_unit_test(test_series_cap_multi_label),
        cmocka_unit_test(test_pointer_stability),
        cmocka_unit_test(test_reset_family),
        cmocka_unit_test(test_special_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
