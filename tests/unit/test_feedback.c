/* Feedback: the record decoder (codec/feedback.h), the merge rule retrain
 * trains on, and the live accuracy tallies and their judgement
 * (core/accuracy.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "codec/feedback.h"
#include "core/accuracy.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int decode(const char *json, fb_rec_t *f, char *detail)
{
    rec_schema_t s;
    char fields[] = "text";
    char err[256];
    assert_int_equal(fb_schema(&s, fields, 4096, err, sizeof err), 0);
    return fb_decode(&s, json, strlen(json), f, detail, 256);
}

static void test_decode(void **state)
{
    (void)state;
    fb_rec_t f = {0};
    char detail[256];
    assert_int_equal(decode("{\"id\":7,\"label\":\"Late Flight\",\"predicted\":\"Cancelled Flight\","
                            "\"model\":\"airline@2026\",\"text\":\"two hours late\",\"agent\":\"ann\","
                            "\"account\":\"Delta\",\"ts\":\"2026-11-30T10:00:00Z\"}",
                            &f, detail),
                     REC_OK);
    assert_string_equal(f.label, "Late Flight");
    assert_string_equal(f.predicted, "Cancelled Flight");
    assert_string_equal(f.model, "airline@2026");
    assert_string_equal(f.agent, "ann");
    assert_true(f.rec.has_ts && f.rec.has_account);
    /* predicted, model and agent are optional */
    assert_int_equal(decode("{\"id\":\"a\",\"label\":\"x\",\"text\":\"t\"}", &f, detail), REC_OK);
    assert_null(f.predicted);
    assert_null(f.model);
    /* what goes to the dead-letter topic, with its reason */
    assert_int_equal(decode("{\"id\":1,\"text\":\"no label here\"}", &f, detail), REC_NO_LABEL);
    assert_string_equal(rec_status_code(REC_NO_LABEL), "no_label");
    assert_int_equal(decode("{\"id\":1,\"label\":\"\",\"text\":\"empty label\"}", &f, detail), REC_NO_LABEL);
    assert_int_equal(decode("{\"id\":1,\"label\":\"x\"}", &f, detail), REC_NO_TEXT);
    assert_int_equal(decode("{\"id\":1,\"label\":\"x\",\"text\":\"   \"}", &f, detail), REC_NO_TEXT);
    assert_int_equal(decode("not json", &f, detail), REC_NOT_JSON);
    assert_int_equal(decode("{\"label\":\"x\",\"text\":\"t\"}", &f, detail), REC_NO_ID);
    assert_int_equal(decode("{\"id\":1,\"label\":\"x\",\"text\":\"t\",\"model\":3}", &f, detail), REC_BAD_FIELD);
    char longm[400];
    snprintf(longm, sizeof longm, "{\"id\":1,\"label\":\"x\",\"text\":\"t\",\"predicted\":\"%0300d\"}", 0);
    assert_int_equal(decode(longm, &f, detail), REC_BAD_FIELD);
    fb_rec_free(&f);
}

static json_t *rec(const char *label) { return json_pack("{s:s,s:s}", "text", "t", "label", label); }

static const char *label_of(fb_merge_t *m, const char *id)
{
    return json_string_value(json_object_get(fb_merge_get(m, id, NULL), "label"));
}

static void test_merge_rule(void **state)
{
    (void)state;
    fb_merge_t *m = fb_merge_new();
    assert_non_null(m);
    uint64_t seq = 0;
    /* base records: the later one read wins */
    assert_int_equal(fb_merge_add(m, "1", 0, -1, seq++, rec("base-old")), 1);
    assert_int_equal(fb_merge_add(m, "1", 0, -1, seq++, rec("base")), 1);
    assert_int_equal(fb_merge_add(m, "2", 0, -1, seq++, rec("base2")), 1);
    assert_string_equal(label_of(m, "1"), "base");
    /* feedback beats the base record of its id, whatever the order */
    assert_int_equal(fb_merge_add(m, "1", 1, 2000, seq++, rec("fb-2000")), 1);
    assert_int_equal(fb_merge_add(m, "1", 0, -1, seq++, rec("base-late")), 0);
    assert_string_equal(label_of(m, "1"), "fb-2000");
    /* of two feedback records the later event time wins, even read earlier */
    assert_int_equal(fb_merge_add(m, "1", 1, 1000, seq++, rec("fb-1000")), 0);
    assert_string_equal(label_of(m, "1"), "fb-2000");
    assert_int_equal(fb_merge_add(m, "1", 1, 3000, seq++, rec("fb-3000")), 1);
    assert_string_equal(label_of(m, "1"), "fb-3000");
    /* equal or missing times: the one read later wins */
    assert_int_equal(fb_merge_add(m, "1", 1, 3000, seq++, rec("fb-3000b")), 1);
    assert_string_equal(label_of(m, "1"), "fb-3000b");
    assert_int_equal(fb_merge_add(m, "1", 1, -1, seq++, rec("fb-nots")), 1);
    assert_string_equal(label_of(m, "1"), "fb-nots");
    /* a feedback-only id is added */
    assert_int_equal(fb_merge_add(m, "3", 1, 5, seq++, rec("fb3")), 1);
    int fb = -1;
    assert_non_null(fb_merge_get(m, "2", &fb));
    assert_int_equal(fb, 0);
    assert_int_equal(fb_merge_count(m), 3);
    assert_int_equal(fb_merge_feedback(m), 2);
    assert_null(fb_merge_get(m, "4", NULL));
    fb_merge_free(m);
}

static int collect(void *ctx, const char *id, int feedback, json_t *r)
{
    (void)r;
    char *s = ctx;
    strcat(s, id);
    strcat(s, feedback ? "f " : "b ");
    return 0;
}

static void test_merge_order(void **state)
{
    (void)state;
    fb_merge_t *m = fb_merge_new();
    fb_merge_add(m, "b", 0, -1, 1, rec("x"));
    fb_merge_add(m, "a", 0, -1, 2, rec("x"));
    fb_merge_add(m, "c", 1, -1, 3, rec("x"));
    fb_merge_add(m, "b", 1, -1, 4, rec("y")); /* replaced in place */
    char out[64] = "";
    assert_int_equal(fb_merge_each(m, collect, out), 0);
    assert_string_equal(out, "bf ab cf ");
    fb_merge_free(m);
}

/* 1,000 feedback records, a third of them corrections: exact figures. */
static void test_tallies(void **state)
{
    (void)state;
    acc_opts_t o;
    acc_opts_default(&o);
    acc_t *a = acc_new(&o);
    static const char *const labels[] = {"Late Flight", "Cancelled Flight", "Lost Luggage"};
    size_t right = 0, lright[3] = {0}, ln[3] = {0};
    for (int i = 0; i < 1000; i++) {
        int k = i % 3, ok = i % 3 != 1; /* a third corrected */
        const char *pred = ok ? labels[k] : labels[(k + 1) % 3];
        assert_true(acc_tally(a, "airline@v1", labels[k], pred, NULL) >= 0);
        right += (size_t)ok;
        ln[k]++;
        lright[k] += (size_t)ok;
    }
    const acc_model_t *m = acc_get(a, "airline@v1");
    assert_non_null(m);
    assert_int_equal(m->n, 1000);
    assert_int_equal(m->right, right);
    assert_int_equal(right, 667);
    assert_true(fabs(acc_ratio(m->right, m->n) - 0.667) < 1e-12);
    assert_int_equal(m->nlabels, 3);
    for (size_t k = 0; k < 3; k++) {
        assert_string_equal(m->labels[k].name, labels[k]);
        assert_int_equal(m->labels[k].n, ln[k]);
        assert_int_equal(m->labels[k].right, lright[k]);
    }
    assert_int_equal(m->labels[1].right, 0); /* every Cancelled Flight was corrected */
    /* the window holds the last 1000 */
    assert_int_equal(m->win_n, 1000);
    assert_int_equal(m->win_right, 667);
    /* another model version is tallied apart */
    acc_tally(a, "airline@v2", "x", "x", NULL);
    assert_int_equal(acc_get(a, "airline@v2")->right, 1);
    assert_int_equal(acc_get(a, "airline@v1")->n, 1000);
    /* a missing prediction counts as wrong */
    acc_tally(a, "airline@v2", "x", NULL, NULL);
    assert_int_equal(acc_get(a, "airline@v2")->right, 1);
    assert_int_equal(acc_get(a, "airline@v2")->n, 2);
    acc_free(a);
}

static void test_window_and_bounds(void **state)
{
    (void)state;
    acc_opts_t o;
    acc_opts_default(&o);
    o.window = 10;
    o.max_models = 2;
    o.max_labels = 2;
    acc_t *a = acc_new(&o);
    for (int i = 0; i < 10; i++)
        acc_tally(a, "m@1", "a", "a", NULL);
    for (int i = 0; i < 4; i++)
        acc_tally(a, "m@1", "a", "b", NULL);
    const acc_model_t *m = acc_get(a, "m@1");
    assert_int_equal(m->win_n, 10);
    assert_int_equal(m->win_right, 6); /* the 4 oldest right ones left */
    assert_int_equal(m->n, 14);
    assert_int_equal(m->right, 10);
    /* labels beyond max_labels: totals only */
    acc_tally(a, "m@1", "b", "b", NULL);
    acc_tally(a, "m@1", "c", "c", NULL);
    m = acc_get(a, "m@1");
    assert_int_equal(m->nlabels, 2);
    assert_int_equal(m->other_n, 1);
    /* models beyond max_models: the least recently used is forgotten */
    acc_tally(a, "m@2", "a", "a", NULL);
    acc_tally(a, "m@1", "a", "a", NULL);
    acc_tally(a, "m@3", "a", "a", NULL);
    assert_null(acc_get(a, "m@2"));
    assert_non_null(acc_get(a, "m@1"));
    assert_non_null(acc_get(a, "m@3"));
    assert_int_equal(acc_evicted(a), 1);
    acc_free(a);
}

static void test_judgement(void **state)
{
    (void)state;
    acc_opts_t o;
    acc_opts_default(&o);
    o.window = 400;
    o.min_records = 200;
    o.margin = 0.1;
    acc_t *a = acc_new(&o);
    /* unknown held-out accuracy: never judged */
    for (int i = 0; i < 300; i++)
        assert_int_equal(acc_tally(a, "m@1", "a", i % 2 ? "a" : "b", NULL), ACC_SAME);
    /* held-out 0.9, recent 0.5: far below 0.8 with 300 records */
    assert_int_equal(acc_set_holdout(a, "m@1", 0.9, NULL), ACC_RAISE);
    assert_int_equal(acc_get(a, "m@1")->alarm, 1);
    /* recovering: clears once the window's accuracy is back at 0.8 */
    int cleared = -1;
    for (int i = 0; i < 400 && cleared < 0; i++)
        if (acc_tally(a, "m@1", "a", "a", NULL) == ACC_CLEAR)
            cleared = i;
    /* window 400: 150 wrong among the last 300+k... cleared when wrong <= 80 */
    assert_true(cleared > 0);
    const acc_model_t *m = acc_get(a, "m@1");
    assert_true(acc_ratio(m->win_right, m->win_n) >= 0.8 - 1e-12);
    assert_int_equal(m->alarm, 0);
    /* fewer than min_records: not judged, however bad */
    assert_int_equal(acc_set_holdout(a, "m@2", 0.9, NULL), ACC_SAME);
    for (int i = 0; i < 199; i++)
        assert_int_equal(acc_tally(a, "m@2", "a", "b", NULL), ACC_SAME);
    assert_int_equal(acc_tally(a, "m@2", "a", "b", NULL), ACC_RAISE);
    /* slightly below the limit with a small window: the interval still reaches it */
    assert_int_equal(acc_set_holdout(a, "m@3", 0.9, NULL), ACC_SAME);
    for (int i = 0; i < 200; i++)
        assert_int_equal(acc_tally(a, "m@3", "a", i % 100 < 77 ? "a" : "b", NULL), ACC_SAME);
    assert_true(acc_wilson_upper(77, 100) > 0.8 && acc_wilson_upper(60, 100) < 0.8);
    acc_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode),          cmocka_unit_test(test_merge_rule),
        cmocka_unit_test(test_merge_order),     cmocka_unit_test(test_tallies),
        cmocka_unit_test(test_window_and_bounds), cmocka_unit_test(test_judgement),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
