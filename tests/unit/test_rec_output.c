/* Unit tests for the output records of codec/rec.h: whatever a valid input
 * record holds, its labeled output is valid JSON and its id is the Kafka key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "codec/rec.h"
#include "core/clf.h"

/* Decodes line, writes its labeled record and key, and checks that the
 * record parses (jansson refuses lone surrogates and invalid UTF-8) and that
 * its id, as a string, is exactly the key. */
static void check_id_round_trip(const char *line, const char *want_key, size_t want_len)
{
    rec_schema_t s;
    rec_schema_default(&s);
    rec_t r = {0};
    char detail[128];
    assert_int_equal(rec_decode(&s, line, strlen(line), &r, detail, sizeof detail), REC_OK);
    char *labels[] = {"\"a\"", "\"b\""};
    size_t label_len[] = {3, 3};
    clf_result_t res = {.label = 1, .score = 0.75f, .ntop = 2, .top = {1, 0}, .top_score = {0.75f, 0.25f}};
    buf_t out = BUF_INIT, key = BUF_INIT;
    rec_put_labeled(&out, &s, &r, &res, labels, label_len, "\"m@1\"", 5, 0);
    rec_put_key(&r, &key);
    assert_false(out.oom);
    json_error_t je;
    json_t *j = json_loadb(out.p, out.len, JSON_ALLOW_NUL, &je);
    if (!j)
        fail_msg("output is not valid JSON (%s): %.*s", je.text, (int)out.len, out.p);
    json_t *id = json_object_get(j, "id");
    assert_true(json_is_string(id));
    assert_int_equal(json_string_length(id), key.len);
    assert_memory_equal(json_string_value(id), key.p, key.len);
    assert_int_equal(key.len, want_len);
    assert_memory_equal(key.p, want_key, want_len);
    json_decref(j);
    buf_free(&out);
    buf_free(&key);
    rec_free(&r);
}

/* A lone surrogate escape used to be copied raw into the output (invalid for
 * jq and jansson) while the key carried U+FFFD. */
static void test_lone_surrogate_id(void **state)
{
    (void)state;
    check_id_round_trip("{\"id\":\"a\\ud800b\",\"text\":\"hello\"}", "a\xEF\xBF\xBD" "b", 5);
    check_id_round_trip("{\"id\":\"\\udc00\",\"text\":\"hello\"}", "\xEF\xBF\xBD", 3);
    check_id_round_trip("{\"id\":\"x\\ud83d\",\"text\":\"hello\"}", "x\xEF\xBF\xBD", 4);
}

/* Other escapes keep their meaning: the key and the id agree. */
static void test_escaped_ids(void **state)
{
    (void)state;
    check_id_round_trip("{\"id\":\"q\\\"\\\\\\/\\u0001\\ud83d\\ude00\",\"text\":\"hi\"}",
                        "q\"\\/\x01\xF0\x9F\x98\x80", 9);
    check_id_round_trip("{\"id\":\"plain\",\"text\":\"hi\"}", "plain", 5);
    check_id_round_trip("{\"id\":\"nul\\u0000x\",\"text\":\"hi\"}", "nul\0x", 5);
}

/* A dead-letter record's payload is bounded as encoded, not as read: control
 * characters grow six-fold when escaped and binary a third in base64, so a
 * bound on the bytes read let a dead letter outgrow message.max.bytes and
 * never be delivered. */
static void check_dead_fits(const char *payload, size_t len, size_t max)
{
    buf_t out = BUF_INIT;
    rec_put_dead(&out, REC_NOT_JSON, "detail", "in", 3, 42, payload, len, max);
    assert_false(out.oom);
    if (out.len > max + REC_DEAD_OVERHEAD)
        fail_msg("dead letter of %zu bytes for a payload bound of %zu", out.len, max);
    json_error_t je;
    json_t *j = json_loadb(out.p, out.len, JSON_ALLOW_NUL, &je);
    if (!j)
        fail_msg("dead letter is not valid JSON (%s)", je.text);
    assert_int_equal(json_integer_value(json_object_get(j, "payload_bytes")), len);
    assert_true(json_is_true(json_object_get(j, "payload_truncated")));
    json_decref(j);
    buf_free(&out);
}

static void test_dead_letter_bounded(void **state)
{
    (void)state;
    enum { N = 100000 };
    char *p = malloc(N);
    assert_non_null(p);
    memset(p, 0x01, N);     /* valid UTF-8, six bytes each once escaped */
    check_dead_fits(p, N, 65536);
    check_dead_fits(p, N, 10);
    memset(p, 0xFF, N);     /* not UTF-8: base64 */
    check_dead_fits(p, N, 65536);
    check_dead_fits(p, N, 3);
    for (size_t i = 0; i + 3 <= N; i += 3)
        memcpy(p + i, "\xE2\x82\xAC", 3);   /* the euro sign, kept whole */
    check_dead_fits(p, N - N % 3, 1000);
    free(p);
}

/* The output contract: passthrough fields copied as they came (an escaped
 * string re-encoded), absent ones left out, the output's own names refused,
 * and the schema version last. A change here must bump REC_OUTPUT_SCHEMA
 * and docs/output.schema.json. */
static void test_passthrough_and_schema(void **state)
{
    (void)state;
    rec_schema_t s;
    rec_schema_default(&s);
    char bad[] = "channel,label";
    char err[200];
    assert_int_equal(rec_schema_set_passthrough(&s, bad, err, sizeof err), -1);
    assert_non_null(strstr(err, "'label'"));
    char list[] = "channel,ticket_id,meta,missing";
    assert_int_equal(rec_schema_set_passthrough(&s, list, err, sizeof err), 0);
    assert_int_equal(s.npass, 4);
    const char *line = "{\"id\":\"x1\",\"text\":\"hi\",\"channel\":\"e\\u006dail\",\"ticket_id\":12345678901234567890,"
                       "\"meta\":{\"a\":[1,true,null]}}";
    rec_t r = {0};
    char detail[128];
    assert_int_equal(rec_decode(&s, line, strlen(line), &r, detail, sizeof detail), REC_OK);
    char *labels[] = {"\"a\"", "\"b\""};
    size_t label_len[] = {3, 3};
    clf_result_t res = {.label = 0, .score = 0.5f, .ntop = 1, .top = {0}, .top_score = {0.5f}, .nknown = 2,
                        .nfeatures = 40,
                        .lang = "de", .lang_reliable = 1};
    buf_t out = BUF_INIT;
    rec_put_labeled(&out, &s, &r, &res, labels, label_len, "\"m@1\"", 5, 0);
    assert_string_equal(buf_cstr(&out), "{\"id\":\"x1\",\"label\":\"a\",\"score\":0.5000,\"top\":[{\"label\":\"a\",\"score\":0.5000}],"
                                        "\"lang\":\"de\",\"model\":\"m@1\",\"account\":null,\"ts\":\"1970-01-01T00:00:00Z\",\"known\":2,\"features\":40,"
                                        "\"channel\":\"email\",\"ticket_id\":12345678901234567890,\"meta\":{\"a\":[1,true,null]},"
                                        "\"schema\":2}");
    assert_int_equal(REC_OUTPUT_SCHEMA, 2);
    /* The excerpt: the prepared text's start, cut as encoded between
     * characters (the quote's escape counts 2; the 2-byte é would make 11). */
    s.excerpt_bytes = 10;
    r.prepared = "say \"caf\xc3\xa9 au lait\"";
    r.prepared_len = strlen(r.prepared);
    buf_reset(&out);
    rec_put_labeled(&out, &s, &r, &res, labels, label_len, "\"m@1\"", 5, 0);
    assert_non_null(strstr(buf_cstr(&out), ",\"known\":2,\"features\":40,\"excerpt\":\"say \\\"caf\",\"channel\""));
    /* no prepared text, or excerpts off: no field */
    s.excerpt_bytes = 0;
    buf_reset(&out);
    rec_put_labeled(&out, &s, &r, &res, labels, label_len, "\"m@1\"", 5, 0);
    assert_null(strstr(buf_cstr(&out), "excerpt"));
    /* Review, and why: a language the model was not trained on outranks a
     * low score; the classify format (no model) carries both too. */
    res.review = 1;
    buf_reset(&out);
    rec_put_labeled(&out, &s, &r, &res, labels, label_len, NULL, 0, 0);
    assert_string_equal(buf_cstr(&out), "{\"id\":\"x1\",\"label\":\"a\",\"score\":0.5000,\"top\":[{\"label\":\"a\",\"score\":0.5000}],"
                                        "\"lang\":\"de\",\"review\":true,\"review_reason\":\"score\"}");
    res.review_lang = 1;
    buf_reset(&out);
    rec_put_labeled(&out, &s, &r, &res, labels, label_len, NULL, 0, 0);
    assert_string_equal(buf_cstr(&out), "{\"id\":\"x1\",\"label\":\"a\",\"score\":0.5000,\"top\":[{\"label\":\"a\",\"score\":0.5000}],"
                                        "\"lang\":\"de\",\"review\":true,\"review_reason\":\"lang\"}");
    char own[] = "review_reason";
    assert_int_equal(rec_schema_set_passthrough(&s, own, err, sizeof err), -1);
    buf_free(&out);
    rec_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lone_surrogate_id),
        cmocka_unit_test(test_escaped_ids),
        cmocka_unit_test(test_dead_letter_bounded),
        cmocka_unit_test(test_passthrough_and_schema),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
