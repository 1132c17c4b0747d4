/* Unit tests for the one reader of labeled and dead-letter records
 * (codec/rec.h, rec_decode_labeled), which the alarms role and
 * `triage alarms --replay` share: what the daemon writes reads back as
 * written, a dead letter is recognised by its "error" member wherever it
 * comes from, "ts" may be an RFC 3339 string (escaped or not) or integer
 * milliseconds, and every hostile field is refused with its reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "codec/rec.h"
#include "core/clf.h"
#include "core/tri_err.h"

static int dec(const char *s, rec_labeled_t *r) { return rec_decode_labeled(s, strlen(s), "label", r); }

/* The daemon's own labeled record, as rec_put_labeled writes it. */
static void test_reads_what_the_daemon_writes(void **state)
{
    (void)state;
    rec_schema_t sch;
    rec_schema_default(&sch);
    sch.account_field = "account";
    char list[] = "text";
    char err[TRI_ERRLEN];
    assert_int_equal(rec_schema_set_text(&sch, list, err, sizeof err), 0);
    const char in[] = "{\"id\":\"r1\",\"text\":\"late bag\",\"account\":\"acme\"}";
    rec_t rec = {0};
    assert_int_equal(rec_decode(&sch, in, sizeof in - 1, &rec, err, sizeof err), REC_OK);
    clf_result_t res;
    memset(&res, 0, sizeof res);
    res.label = 1;
    res.score = 0.75f;
    res.nknown = 3;
    res.nfeatures = 70;
    res.ntop = 1;
    res.top[0] = 1;
    res.top_score[0] = 0.75f;
    char l0[] = "\"neg\"", l1[] = "\"Lost Bag\"";
    char *labels[] = {l0, l1};
    size_t lens[] = {sizeof l0 - 1, sizeof l1 - 1};
    buf_t out = BUF_INIT;
    rec_put_labeled(&out, &sch, &rec, &res, labels, lens, "\"m@v1\"", 6, 1700000000123);
    rec_labeled_t r = REC_LABELED_INIT;
    assert_int_equal(rec_decode_labeled(out.p, out.len, "label", &r), RECL_OK);
    assert_false(r.dead);
    assert_string_equal(r.label, "Lost Bag");
    assert_string_equal(r.account, "acme");
    assert_string_equal(r.model, "m@v1");
    assert_true(r.ts_ms == 1700000000123);
    assert_int_equal(r.known, 3);
    assert_int_equal(r.features, 70);
    assert_true(r.score > 0.74 && r.score < 0.76);
    rec_labeled_free(&r);
    buf_free(&out);
    rec_free(&rec);
}

/* A dead letter is an object with "error", on whatever topic; nothing else
 * of it is needed (it has no label and, as triaged writes it, no ts). */
static void test_dead_letters(void **state)
{
    (void)state;
    rec_labeled_t r = REC_LABELED_INIT;
    buf_t out = BUF_INIT;
    rec_put_dead(&out, REC_NOT_JSON, "not JSON", "in", 2, 77, "xx", 2, 100);
    assert_int_equal(rec_decode_labeled(out.p, out.len, "label", &r), RECL_OK);
    assert_true(r.dead);
    assert_true(r.ts_ms == -1);
    assert_null(r.label);
    assert_int_equal(dec("{\"error\":null,\"ts\":5}", &r), RECL_OK);
    assert_true(r.dead);
    assert_true(r.ts_ms == 5);
    assert_int_equal(dec("{\"error\":\"x\",\"ts\":[1]}", &r), RECL_BAD_FIELD);
    rec_labeled_free(&r);
    buf_free(&out);
}

static void test_ts_forms(void **state)
{
    (void)state;
    rec_labeled_t r = REC_LABELED_INIT;
    assert_int_equal(dec("{\"label\":\"a\",\"ts\":\"1970-01-01T00:00:01.5Z\"}", &r), RECL_OK);
    assert_true(r.ts_ms == 1500);
    /* The same text with an escape is the same string. */
    assert_int_equal(dec("{\"label\":\"a\",\"ts\":\"1970-01-01T00:00:01.5\\u005a\"}", &r), RECL_OK);
    assert_true(r.ts_ms == 1500);
    assert_int_equal(dec("{\"label\":\"a\",\"ts\":1700000000000}", &r), RECL_OK);
    assert_true(r.ts_ms == 1700000000000);
    assert_int_equal(dec("{\"label\":\"a\"}", &r), RECL_OK);
    assert_true(r.ts_ms == -1);
    assert_int_equal(dec("{\"label\":\"a\",\"ts\":-5}", &r), RECL_BAD_FIELD);
    assert_int_equal(dec("{\"label\":\"a\",\"ts\":1.5}", &r), RECL_BAD_FIELD);
    assert_int_equal(dec("{\"label\":\"a\",\"ts\":99999999999999999999999}", &r), RECL_BAD_FIELD);
    assert_int_equal(dec("{\"label\":\"a\",\"ts\":\"yesterday\"}", &r), RECL_BAD_FIELD);
    assert_int_equal(dec("{\"label\":\"a\",\"ts\":null}", &r), RECL_BAD_FIELD);
    rec_labeled_free(&r);
}

static void test_hostile_fields(void **state)
{
    (void)state;
    rec_labeled_t r = REC_LABELED_INIT;
    char big[400];
    assert_int_equal(dec("not json", &r), RECL_NOT_JSON);
    assert_int_equal(dec("[1,2]", &r), RECL_NOT_JSON);
    assert_int_equal(dec("{\"label\":\"\xff\"}", &r), RECL_BAD_UTF8);
    assert_int_equal(dec("{\"label\":42}", &r), RECL_NO_LABEL);
    assert_int_equal(dec("{\"ts\":5}", &r), RECL_NO_LABEL);
    assert_int_equal(dec("{\"label\":\"\"}", &r), RECL_BAD_FIELD);
    assert_int_equal(dec("{\"label\":\"a\\u0000b\"}", &r), RECL_BAD_FIELD);
    assert_int_equal(dec("{\"label\":\"a\",\"account\":{\"a\":1}}", &r), RECL_BAD_FIELD);
    assert_int_equal(dec("{\"label\":\"a\",\"model\":7}", &r), RECL_BAD_FIELD);
    assert_int_equal(dec("{\"label\":\"a\",\"known\":\"many\"}", &r), RECL_BAD_FIELD);
    assert_int_equal(dec("{\"label\":\"a\",\"known\":1e300}", &r), RECL_BAD_FIELD);
    assert_int_equal(dec("{\"label\":\"a\",\"known\":-1}", &r), RECL_BAD_FIELD);
    assert_int_equal(dec("{\"label\":\"a\",\"features\":-1}", &r), RECL_BAD_FIELD);
    assert_int_equal(dec("{\"label\":\"a\",\"features\":\"x\"}", &r), RECL_BAD_FIELD);
    assert_int_equal(dec("{\"label\":\"a\",\"score\":7}", &r), RECL_BAD_FIELD);
    assert_int_equal(dec("{\"label\":\"a\",\"score\":\"0.5\"}", &r), RECL_BAD_FIELD);
    snprintf(big, sizeof big, "{\"label\":\"%0*d\"}", REC_LABELED_FIELD_MAX + 1, 0);
    assert_int_equal(dec(big, &r), RECL_TOO_LONG);
    snprintf(big, sizeof big, "{\"label\":\"%0*d\"}", REC_LABELED_FIELD_MAX, 0);
    assert_int_equal(dec(big, &r), RECL_OK);
    /* null account and model are absent ones */
    assert_int_equal(dec("{\"label\":\"a\",\"account\":null,\"model\":null,\"known\":0,\"score\":1}", &r), RECL_OK);
    assert_null(r.account);
    assert_null(r.model);
    assert_int_equal(r.known, 0);
    assert_true(r.score == 1);
    /* another label field (the replay's --label) */
    const char other[] = "{\"label\":\"a\",\"reason\":\"Late Flight\"}";
    assert_int_equal(rec_decode_labeled(other, sizeof other - 1, "reason", &r), RECL_OK);
    assert_string_equal(r.label, "Late Flight");
    rec_labeled_free(&r);
}

/* The excerpt and id that explain alarms: read when usable, a long excerpt
 * cut between characters, an unusable id left out (the record still counts),
 * a non-string excerpt refused like any field of the wrong type. */
static void test_excerpt_and_id(void **state)
{
    (void)state;
    rec_labeled_t r = REC_LABELED_INIT;
    const char *a = "{\"id\":\"t\\u00e91\",\"label\":\"Late\",\"ts\":\"2015-02-16T23:36:00Z\",\"excerpt\":\"on hold \\\"again\\\"\"}";
    assert_int_equal(rec_decode_labeled(a, strlen(a), "label", &r), RECL_OK);
    assert_string_equal(r.id, "t\xc3\xa9" "1");
    assert_string_equal(r.excerpt, "on hold \"again\"");
    assert_int_equal(r.excerpt_len, 15);
    const char *b = "{\"id\":12345,\"label\":\"Late\"}";
    assert_int_equal(rec_decode_labeled(b, strlen(b), "label", &r), RECL_OK);
    assert_string_equal(r.id, "12345");
    assert_null(r.excerpt);
    const char *c = "{\"id\":{\"x\":1},\"label\":\"Late\",\"excerpt\":null}";
    assert_int_equal(rec_decode_labeled(c, strlen(c), "label", &r), RECL_OK);
    assert_null(r.id);
    assert_null(r.excerpt);
    const char *d = "{\"label\":\"Late\",\"excerpt\":7}";
    assert_int_equal(rec_decode_labeled(d, strlen(d), "label", &r), RECL_BAD_FIELD);
    /* 3-byte characters across the 4096-byte cut */
    size_t n = 3000 * 3;
    char *big = malloc(n + 64);
    size_t o = (size_t)sprintf(big, "{\"label\":\"Late\",\"excerpt\":\"x");
    for (size_t i = 0; i < 3000; i++, o += 3)
        memcpy(big + o, "\xe2\x82\xac", 3);
    o += (size_t)sprintf(big + o, "\"}");
    assert_int_equal(rec_decode_labeled(big, o, "label", &r), RECL_OK);
    assert_int_equal(r.excerpt_len, 1 + 1365 * 3); /* 4096 would split a euro sign */
    assert_int_equal(strlen(r.excerpt), r.excerpt_len);
    free(big);
    rec_labeled_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reads_what_the_daemon_writes),
        cmocka_unit_test(test_dead_letters),
        cmocka_unit_test(test_ts_forms),
        cmocka_unit_test(test_hostile_fields),
        cmocka_unit_test(test_excerpt_and_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
