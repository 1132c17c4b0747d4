/* Unit tests for core/lang.h: the training language mix stored in a model and
 * the rule that marks a record in a language the model was not trained on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/lang.h"

static json_t *meta_with(const char *lang_json)
{
    char buf[512];
    snprintf(buf, sizeof buf, "{\"name\":\"m\",\"lang\":%s}", lang_json);
    json_t *m = json_loads(buf, 0, NULL);
    assert_non_null(m);
    return m;
}

/* en 97%, es 2.5%, de 0.5% of the reliable detections, min_share 1%: English
 * and Spanish are the model's, German (a trace) and Japanese (absent) are not;
 * an unreliable or undetermined detection never marks a record. */
static void test_decision_rule(void **state)
{
    (void)state;
    json_t *meta = meta_with("{\"records\":1100,\"reliable\":1000,\"counts\":{\"de\":5,\"en\":970,\"es\":25},"
                             "\"min_share\":0.01}");
    lang_mix_t mix;
    char err[200];
    assert_int_equal(lang_mix_from_meta(meta, &mix, err, sizeof err), 0);
    assert_true(mix.present);
    assert_int_equal(mix.n, 3);
    assert_string_equal(mix.code[0], "en"); /* largest share first */
    assert_true(lang_mix_share(&mix, "es") > 0.0249 && lang_mix_share(&mix, "es") < 0.0251);
    assert_int_equal(lang_is_foreign(&mix, "en", 1), 0);
    assert_int_equal(lang_is_foreign(&mix, "es", 1), 0);
    assert_int_equal(lang_is_foreign(&mix, "de", 1), 1);
    assert_int_equal(lang_is_foreign(&mix, "ja", 1), 1);
    assert_int_equal(lang_is_foreign(&mix, "ja", 0), 0);
    assert_int_equal(lang_is_foreign(&mix, "und", 1), 0);
    json_decref(meta);

    /* min_share 0: only languages absent from the mix are foreign. */
    meta = meta_with("{\"records\":1000,\"reliable\":1000,\"counts\":{\"de\":5,\"en\":995},\"min_share\":0}");
    assert_int_equal(lang_mix_from_meta(meta, &mix, err, sizeof err), 0);
    assert_int_equal(lang_is_foreign(&mix, "de", 1), 0);
    assert_int_equal(lang_is_foreign(&mix, "fr", 1), 1);
    json_decref(meta);

    /* No mix (a model trained before language detection): nothing marked. */
    meta = json_loads("{\"name\":\"old\"}", 0, NULL);
    assert_int_equal(lang_mix_from_meta(meta, &mix, err, sizeof err), 0);
    assert_false(mix.present);
    assert_int_equal(lang_is_foreign(&mix, "ja", 1), 0);
    json_decref(meta);
}

/* A malformed section is refused with a message, not half-read. */
static void test_malformed_mix(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "[]",
        "{\"counts\":{\"en\":3}}",
        "{\"counts\":{\"en\":3},\"min_share\":2}",
        "{\"counts\":{\"en\":-1},\"min_share\":0.01}",
        "{\"counts\":{\"en\":\"x\"},\"min_share\":0.01}",
        "{\"counts\":{\"aaaaaaaaaaaaaaaaaaaaaaaa\":1},\"min_share\":0.01}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        json_t *meta = meta_with(bad[i]);
        lang_mix_t mix;
        char err[200] = "";
        assert_int_not_equal(lang_mix_from_meta(meta, &mix, err, sizeof err), 0);
        assert_non_null(strstr(err, "lang"));
        json_decref(meta);
    }
}

/* The mix that training stores: reliable detections counted per language. */
static void test_mix_of_texts(void **state)
{
    (void)state;
    char *text[] = {
        "My flight was cancelled and nobody at the gate can tell me why.",
        "Still waiting for my refund after three weeks, this is ridiculous.",
        "Where is my bag? It did not arrive in Denver and nobody answers the phone.",
        "Mein Flug wurde gestrichen und niemand sagt mir warum, das ist wirklich unglaublich.",
        "Mi vuelo fue cancelado y nadie me explica por qué, es increíble.",
        "私のフライトがキャンセルされましたが、誰も理由を教えてくれません。",
        "ok",
    };
    size_t n = sizeof text / sizeof *text, len[7];
    for (size_t i = 0; i < n; i++)
        len[i] = strlen(text[i]);
    char code[LANG_CODE_MAX];
    assert_int_equal(lang_detect(text[3], len[3], code), 1);
    assert_string_equal(code, "de");
    assert_int_equal(lang_detect(text[4], len[4], code), 1);
    assert_string_equal(code, "es");
    assert_int_equal(lang_detect(text[5], len[5], code), 1);
    assert_string_equal(code, "ja");
    json_t *mix = lang_mix_json(text, len, n, 0.05);
    assert_non_null(mix);
    assert_int_equal(json_integer_value(json_object_get(mix, "records")), 7);
    json_t *counts = json_object_get(mix, "counts");
    assert_int_equal(json_integer_value(json_object_get(counts, "en")), 3);
    assert_int_equal(json_integer_value(json_object_get(counts, "de")), 1);
    assert_int_equal(json_integer_value(json_object_get(counts, "ja")), 1);
    assert_null(json_object_get(counts, "und"));
    json_t *meta = json_pack("{s:O}", "lang", mix);
    lang_mix_t m;
    char err[200];
    assert_int_equal(lang_mix_from_meta(meta, &m, err, sizeof err), 0);
    assert_true(m.min_share > 0.049 && m.min_share < 0.051);
    assert_int_equal(lang_is_foreign(&m, "en", 1), 0);
    assert_int_equal(lang_is_foreign(&m, "fr", 1), 1);
    json_decref(meta);
    json_decref(mix);
}

/* A long text is judged on its first LANG_DETECT_MAX_BYTES, cut at a
 * character boundary (ASan would catch a read past the text). */
static void test_long_text_cut(void **state)
{
    (void)state;
    const char *s = "Mein Koffer ist in München nicht angekommen, bitte helfen Sie mir. ";
    size_t sl = strlen(s), n = 3 * LANG_DETECT_MAX_BYTES;
    char *t = malloc(n);
    assert_non_null(t);
    for (size_t i = 0; i < n; i++)
        t[i] = s[i % sl];
    char code[LANG_CODE_MAX];
    assert_int_equal(lang_detect(t, n, code), 1);
    assert_string_equal(code, "de");
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decision_rule),
        cmocka_unit_test(test_malformed_mix),
        cmocka_unit_test(test_mix_of_texts),
        cmocka_unit_test(test_long_text_cut),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
