/* The alarm explanation (core/explain.h): a phrase planted in a burst of a
 * label's records comes out first against the label's baseline, and the
 * example reservoir stays bounded, favours the recent window and cuts what
 * it keeps. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/explain.h"

#define HOUR 3600000LL
#define T0 1700002800000LL

static uint64_t rng = 88172645463325252ULL;
static double unif(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return (double)((rng * 2685821657736338717ULL) >> 11) * 0x1.0p-53;
}

static const char *const WORDS[] = {"flight", "delayed", "gate",   "crew",  "waiting", "hours",  "plane",
                                    "seat",   "bag",     "agent",  "phone", "hold",    "ticket", "change",
                                    "fee",    "late",    "again",  "today", "airport", "boarding", "service",
                                    "thanks", "help",    "please", "weather", "connection", "missed", "told"};

/* An ordinary complaint: a few random words around some stop words. */
static void ordinary(char *buf, size_t n)
{
    size_t o = 0;
    int words = 6 + (int)(unif() * 8);
    for (int i = 0; i < words && o + 40 < n; i++) {
        const char *w = WORDS[(size_t)(unif() * (sizeof WORDS / sizeof WORDS[0]))];
        o += (size_t)snprintf(buf + o, n - o, "%s%s%s", i ? " " : "@airline ", w, unif() < 0.3 ? " the" : "");
    }
}

static void feed_hour(explain_t *x, int64_t h, int normal, int planted, int *id)
{
    char text[400], rid[32];
    for (int i = 0; i < normal + planted; i++) {
        ordinary(text, sizeof text);
        if (i >= normal) {
            size_t l = strlen(text);
            snprintf(text + l, sizeof text - l, " I was CHARGED twice%s", i % 2 ? " please refund" : "");
        }
        snprintf(rid, sizeof rid, "r%d", (*id)++);
        explain_add(x, "Billing", NULL, T0 + h * HOUR + (int64_t)(unif() * HOUR), rid, text, strlen(text));
    }
    explain_roll(x);
}

static void test_planted_phrase_first(void **state)
{
    (void)state;
    int64_t k[] = {1, 6};
    explain_t *x = explain_new(k, 2, HOUR, 1.0 / 72);
    assert_non_null(x);
    int id = 0;
    for (int64_t h = 0; h < 48; h++) {
        feed_hour(x, h, 40, 0, &id);
        explain_learn(x, NULL, NULL);
    }
    /* Nothing stands out in an ordinary hour. */
    explain_result_t r;
    explain_get(x, "Billing", NULL, 0, T0 + 47 * HOUR, &r);
    for (size_t i = 0; i < r.nngrams; i++)
        printf("  ordinary hour: %s %.0f %.3f %.3f\n", r.ngrams[i].text, r.ngrams[i].records, r.ngrams[i].share,
               r.ngrams[i].baseline_share);
    assert_int_equal(r.nngrams, 0);
    /* The burst: 200 extra records say the same thing. */
    feed_hour(x, 48, 40, 200, &id);
    assert_int_equal(explain_get(x, "Billing", NULL, 0, T0 + 48 * HOUR, &r), 0);
    for (size_t i = 0; i < r.nngrams; i++)
        printf("  %-24s records %.0f share %.3f baseline %.4f ratio %.1f\n", r.ngrams[i].text, r.ngrams[i].records,
               r.ngrams[i].share, r.ngrams[i].baseline_share, r.ngrams[i].ratio);
    assert_true(r.nngrams >= 2);
    assert_string_equal(r.ngrams[0].text, "charged twice");
    /* "charged" and "twice" alone are the same finding: not listed again. */
    for (size_t i = 1; i < r.nngrams; i++) {
        assert_string_not_equal(r.ngrams[i].text, "charged");
        assert_string_not_equal(r.ngrams[i].text, "twice");
    }
    int refund = 0;
    for (size_t i = 0; i < r.nngrams; i++)
        refund |= strstr(r.ngrams[i].text, "refund") != NULL;
    assert_true(refund);
    assert_true(r.ngrams[0].share > 0.7 && r.ngrams[0].baseline_share < 0.01);
    /* The examples show the finding, newest first among equals, all from the hour. */
    assert_int_equal(r.nexamples, EXPLAIN_EXAMPLES);
    for (size_t i = 0; i < r.nexamples; i++) {
        assert_true(r.examples[i].ts_ms >= T0 + 48 * HOUR);
        assert_non_null(strstr(r.examples[i].text, "CHARGED twice"));
        assert_true(r.examples[i].id[0] == 'r');
    }
    /* The baseline does not learn a frozen label's burst: the next burst is as clear. */
    explain_learn(x, NULL, NULL);
    explain_free(x);
}

static int freeze_all(void *ctx, const char *label)
{
    (void)label;
    ++*(int *)ctx;
    return 1;
}

static void test_frozen_baseline(void **state)
{
    (void)state;
    int64_t k[] = {1};
    explain_t *x = explain_new(k, 1, HOUR, 1.0 / 72);
    int id = 0, calls = 0;
    for (int64_t h = 0; h < 24; h++) {
        feed_hour(x, h, 40, 0, &id);
        explain_learn(x, NULL, NULL);
    }
    for (int64_t h = 24; h < 40; h++) {
        feed_hour(x, h, 40, 200, &id);
        explain_learn(x, freeze_all, &calls);
    }
    assert_int_equal(calls, 16);
    feed_hour(x, 40, 40, 200, &id);
    explain_result_t r;
    assert_int_equal(explain_get(x, "Billing", NULL, 0, T0 + 40 * HOUR, &r), 0);
    assert_string_equal(r.ngrams[0].text, "charged twice");
    assert_true(r.ngrams[0].baseline_share < 0.01);
    explain_free(x);
}

static void test_reservoir_bounded_and_recent(void **state)
{
    (void)state;
    int64_t k[] = {1, 24};
    explain_t *x = explain_new(k, 2, HOUR, 1.0 / 72);
    char text[5000], rid[300];
    memset(text, 'x', sizeof text);
    /* 10 hours of 2,000 records with long ids and texts that end in a
     * multi-byte character where they would be cut. */
    for (int64_t h = 0; h < 10; h++) {
        for (int i = 0; i < 2000; i++) {
            memset(rid, 'i', sizeof rid - 1);
            snprintf(rid, sizeof rid, "h%lld-%d-", (long long)h, i);
            rid[strlen(rid)] = 'i';
            rid[sizeof rid - 1] = '\0';
            snprintf(text, 64, "hour %lld record %d ", (long long)h, i);
            size_t l = strlen(text);
            memset(text + l, 'y', EXPLAIN_TEXT_MAX - 1 - l);
            memcpy(text + EXPLAIN_TEXT_MAX - 1, "\xc3\xa9 tail", 8); /* é across the cut */
            explain_add(x, "Late", NULL, T0 + h * HOUR + i * 1000, rid, text, strlen(text));
        }
        explain_roll(x);
        explain_learn(x, NULL, NULL);
    }
    size_t bytes = explain_bytes(x);
    printf("  explain state: %zu bytes for 1 label, 2 scales\n", bytes);
    assert_true(bytes < 300000); /* 4 tables of 2 x 8192 floats and the reservoirs */
    /* At the 1-hour scale almost every kept example is from the last hour. */
    explain_result_t r;
    explain_get(x, "Late", NULL, 0, 0, &r);
    assert_int_equal(r.nexamples, EXPLAIN_EXAMPLES);
    int last = 0;
    for (size_t i = 0; i < r.nexamples; i++) {
        last += r.examples[i].ts_ms >= T0 + 9 * HOUR;
        assert_true(strlen(r.examples[i].id) < EXPLAIN_ID_MAX);
        size_t tl = strlen(r.examples[i].text);
        assert_true(tl <= EXPLAIN_TEXT_MAX);
        /* cut before the 2-byte character, never inside it */
        assert_int_equal(tl, EXPLAIN_TEXT_MAX - 1);
    }
    assert_true(last >= 4);
    /* At the 24-hour scale the sample spreads over the hours: fewer of its
     * 16 are from the last hour; a window's examples come from it only. */
    explain_get(x, "Late", NULL, 1, T0 + 9 * HOUR, &r);
    printf("  24h reservoir: %zu examples from the last hour\n", r.nexamples);
    assert_true(r.nexamples < EXPLAIN_EXAMPLES);
    for (size_t i = 0; i < r.nexamples; i++)
        assert_true(r.examples[i].ts_ms >= T0 + 9 * HOUR);
    explain_get(x, "Late", NULL, 1, 0, &r);
    assert_int_equal(r.nexamples, EXPLAIN_EXAMPLES);
    explain_free(x);
}

/* An account's alarm shows that account's records. */
static void test_account_examples(void **state)
{
    (void)state;
    int64_t k[] = {1};
    explain_t *x = explain_new(k, 1, HOUR, 1.0 / 72);
    char text[400], rid[32];
    for (int i = 0; i < 400; i++) {
        int delta = i % 10 == 0;
        ordinary(text, sizeof text);
        snprintf(rid, sizeof rid, "%c%d", delta ? 'd' : 'u', i);
        explain_add(x, "Billing", delta ? "Delta" : "United", T0 + i * 1000, rid, text, strlen(text));
    }
    explain_roll(x);
    explain_result_t r;
    assert_int_equal(explain_get(x, "Billing", "Delta", 0, T0, &r), 0);
    assert_int_equal(r.nexamples, EXPLAIN_EXAMPLES);
    for (size_t i = 0; i < r.nexamples; i++)
        assert_int_equal(r.examples[i].id[0], 'd');
    assert_int_equal(explain_get(x, "Billing", "Nobody", 0, T0, &r), -1);
    assert_int_equal(explain_get(x, "Billing", NULL, 0, T0, &r), 0);
    int united = 0;
    for (size_t i = 0; i < r.nexamples; i++)
        united += r.examples[i].id[0] == 'u';
    assert_true(united >= 3); /* all accounts: mostly the bigger one */
    explain_free(x);
}

static void test_labels_bounded(void **state)
{
    (void)state;
    int64_t k[] = {1};
    explain_t *x = explain_new(k, 1, HOUR, 0.1);
    char lab[32];
    for (int i = 0; i < EXPLAIN_MAX_LABELS + 10; i++) {
        snprintf(lab, sizeof lab, "label %d", i);
        explain_add(x, lab, NULL, T0, "1", "some text", 9);
    }
    assert_int_equal(explain_dropped(x), 10);
    explain_result_t r;
    assert_int_equal(explain_get(x, "label 200", NULL, 0, 0, &r), -1);
    assert_int_equal(explain_get(x, "label 3", NULL, 0, 0, &r), 0); /* an example, no n-gram */
    assert_int_equal(r.nngrams, 0);
    assert_null(explain_new(k, 0, HOUR, 0.1));
    explain_free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_planted_phrase_first),
        cmocka_unit_test(test_frozen_baseline),
        cmocka_unit_test(test_reservoir_bounded_and_recent),
        cmocka_unit_test(test_account_examples),
        cmocka_unit_test(test_labels_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
