/* Unit tests for the strict JSON scanner/writer (include/fj.h) and the record
 * decoder built on it (include/rec.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/clf.h"
#include "codec/jscan.h"
#include "codec/rec.h"
#include "core/tri_err.h"

/* ---- helpers ---- */

/* Scans a copy of s[0..len) in an exactly-sized heap buffer. The copy is
 * returned through *keep (values point into it); free it after use. */
static int scan_exact(const char *s, size_t len, const char *const *keys, size_t nkeys, jscan_val_t *vals,
                      size_t *errpos, char **keep)
{
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    if (len)
        memcpy(copy, s, len);
    size_t ep = (size_t)-1;
    int rc = jscan_scan_object(copy, len, keys, nkeys, vals, &ep);
    assert_true(ep <= len);
    if (errpos)
        *errpos = ep;
    if (keep)
        *keep = copy;
    else
        free(copy);
    return rc;
}

static int scan_str(const char *s) { return scan_exact(s, strlen(s), NULL, 0, NULL, NULL, NULL); }

#define SCAN_B(lit) scan_exact((lit), sizeof(lit) - 1, NULL, 0, NULL, NULL, NULL)

static void expect_status(const char *s, int st)
{
    int rc = scan_str(s);
    if (rc != st)
        fail_msg("'%s': status %d (%s), expected %d (%s)", s, rc, jscan_strerror(rc), st, jscan_strerror(st));
}

static char *decoded(const jscan_val_t *v)
{
    buf_t b = BUF_INIT;
    assert_int_equal(jscan_str_decode(v, &b), 0);
    char *s = malloc(b.len + 1);
    memcpy(s, b.p ? b.p : "", b.len);
    s[b.len] = '\0';
    buf_free(&b);
    return s;
}

static void raw_is(const jscan_val_t *v, const char *expect)
{
    if (v->raw_len != strlen(expect) || memcmp(v->raw, expect, v->raw_len))
        fail_msg("raw '%.*s', expected '%s'", (int)v->raw_len, v->raw, expect);
}


/* ---- scanner ---- */

static void test_valid_object(void **state)
{
    (void)state;
    const char *in = " \t\r\n{\"a\" : 12 , \"b\":\"x\\ny\", \"c\":[1,{\"d\":null,\"a\":5}, []], \"e\":true,"
                     "\"f\":false, \"g\":null, \"h\":-0.5e+3, \"i\":{}, \"j\":\"plain\"}\n ";
    const char *keys[] = {"a", "b", "c", "e", "f", "g", "h", "i", "j", "zz", "d"};
    jscan_val_t v[11];
    char *keep;
    assert_int_equal(scan_exact(in, strlen(in), keys, 11, v, NULL, &keep), JSCAN_OK);
    assert_int_equal(v[0].type, JSCAN_NUM);
    raw_is(&v[0], "12");
    assert_true(jscan_num_is_int(&v[0]));
    assert_int_equal(v[1].type, JSCAN_STR);
    assert_int_equal(v[1].escaped, 1);
    raw_is(&v[1], "\"x\\ny\"");
    char *s = decoded(&v[1]);
    assert_string_equal(s, "x\ny");
    free(s);
    assert_int_equal(v[2].type, JSCAN_ARR);
    raw_is(&v[2], "[1,{\"d\":null,\"a\":5}, []]");
    assert_int_equal(v[3].type, JSCAN_TRUE);
    assert_int_equal(v[4].type, JSCAN_FALSE);
    assert_int_equal(v[5].type, JSCAN_NULL);
    assert_int_equal(v[6].type, JSCAN_NUM);
    raw_is(&v[6], "-0.5e+3");
    assert_false(jscan_num_is_int(&v[6]));
    assert_int_equal(v[7].type, JSCAN_OBJ);
    raw_is(&v[7], "{}");
    assert_int_equal(v[8].type, JSCAN_STR);
    assert_int_equal(v[8].escaped, 0);
    s = decoded(&v[8]);
    assert_string_equal(s, "plain");
    free(s);
    assert_int_equal(v[9].type, JSCAN_MISSING);
    /* Nested keys are not top-level keys. */
    assert_int_equal(v[10].type, JSCAN_MISSING);
    free(keep);

    expect_status("{}", JSCAN_OK);
    expect_status(" { } ", JSCAN_OK);
    expect_status("{\"a\":[]}", JSCAN_OK);
    expect_status("{\"\":0}", JSCAN_OK);
    expect_status("{\"a\":\"\x7F\"}", JSCAN_OK); /* DEL is not a control character in JSON */
    expect_status("{\"a\":-0}", JSCAN_OK);
    expect_status("{\"a\":1E5}", JSCAN_OK);
    expect_status("{\"a\":1.5e-3}", JSCAN_OK);
    expect_status("{\"a\":\"\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\xF4\x8F\xBF\xBF\"}", JSCAN_OK);
}

static void test_escapes(void **state)
{
    (void)state;
    const char *in = "{\"s\":\"q\\\" b\\\\ s\\/ \\b\\f\\n\\r\\t \\u00e9\\u20AC \\u0041\"}";
    const char *keys[] = {"s"};
    jscan_val_t v;
    char *keep;
    assert_int_equal(scan_exact(in, strlen(in), keys, 1, &v, NULL, &keep), JSCAN_OK);
    char *s = decoded(&v);
    assert_string_equal(s, "q\" b\\ s/ \b\f\n\r\t \xC3\xA9\xE2\x82\xAC A");
    free(s);
    free(keep);

    struct {
        const char *json, *text;
    } cases[] = {
        /* A surrogate pair is one code point (U+1F600). */
        {"{\"s\":\"\\ud83d\\ude00\"}", "\xF0\x9F\x98\x80"},
        {"{\"s\":\"a\\uD83D\\uDE00b\"}", "a\xF0\x9F\x98\x80" "b"},
        /* Lone surrogates become U+FFFD. */
        {"{\"s\":\"\\ud83d\"}", "\xEF\xBF\xBD"},
        {"{\"s\":\"\\ude00\"}", "\xEF\xBF\xBD"},
        {"{\"s\":\"\\ud83dx\"}", "\xEF\xBF\xBDx"},
        {"{\"s\":\"\\ud83d\\u0041\"}", "\xEF\xBF\xBD" "A"},
        {"{\"s\":\"\\ud83d\\ud83d\\ude00\"}", "\xEF\xBF\xBD\xF0\x9F\x98\x80"},
        {"{\"s\":\"\\ude00\\ud83d\"}", "\xEF\xBF\xBD\xEF\xBF\xBD"},
        /* Boundaries of the encodings. */
        {"{\"s\":\"\\u007f\\u0080\\u07FF\\u0800\\uFFFF\"}", "\x7F\xC2\x80\xDF\xBF\xE0\xA0\x80\xEF\xBF\xBF"},
        {"{\"s\":\"\\udbff\\udfff\"}", "\xF4\x8F\xBF\xBF"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        assert_int_equal(scan_exact(cases[i].json, strlen(cases[i].json), keys, 1, &v, NULL, &keep), JSCAN_OK);
        assert_int_equal(v.escaped, 1);
        s = decoded(&v);
        if (strcmp(s, cases[i].text))
            fail_msg("case %zu: decoded wrongly", i);
        free(s);
        free(keep);
    }
    /* \u0000 decodes to a NUL byte inside the text. */
    const char *nul = "{\"s\":\"a\\u0000b\"}";
    assert_int_equal(scan_exact(nul, strlen(nul), keys, 1, &v, NULL, &keep), JSCAN_OK);
    buf_t b = BUF_INIT;
    assert_int_equal(jscan_str_decode(&v, &b), 0);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.p, "a\0b", 3);
    buf_free(&b);
    free(keep);
}

static void test_rejects(void **state)
{
    (void)state;
    /* Trailing commas. */
    expect_status("{\"a\":1,}", JSCAN_ESYNTAX);
    expect_status("{\"a\":[1,2,]}", JSCAN_ESYNTAX);
    expect_status("{,}", JSCAN_ESYNTAX);
    expect_status("{\"a\":1,,\"b\":2}", JSCAN_ESYNTAX);
    /* Numbers. */
    expect_status("{\"a\":01}", JSCAN_ESYNTAX);
    expect_status("{\"a\":-01}", JSCAN_ESYNTAX);
    expect_status("{\"a\":00}", JSCAN_ESYNTAX);
    expect_status("{\"a\":+1}", JSCAN_ESYNTAX);
    expect_status("{\"a\":.5}", JSCAN_ESYNTAX);
    expect_status("{\"a\":1.}", JSCAN_ESYNTAX);
    expect_status("{\"a\":1e}", JSCAN_ESYNTAX);
    expect_status("{\"a\":1e+}", JSCAN_ESYNTAX);
    expect_status("{\"a\":-}", JSCAN_ESYNTAX);
    expect_status("{\"a\":0x10}", JSCAN_ESYNTAX);
    expect_status("{\"a\":NaN}", JSCAN_ESYNTAX);
    expect_status("{\"a\":Infinity}", JSCAN_ESYNTAX);
    /* Literals. */
    expect_status("{\"a\":tru}", JSCAN_ESYNTAX);
    expect_status("{\"a\":True}", JSCAN_ESYNTAX);
    expect_status("{\"a\":nul}", JSCAN_ESYNTAX);
    expect_status("{\"a\":undefined}", JSCAN_ESYNTAX);
    /* Structure. */
    expect_status("", JSCAN_ESYNTAX);
    expect_status("   ", JSCAN_ESYNTAX);
    expect_status("{", JSCAN_ESYNTAX);
    expect_status("{\"a\"", JSCAN_ESYNTAX);
    expect_status("{\"a\":", JSCAN_ESYNTAX);
    expect_status("{\"a\":1", JSCAN_ESYNTAX);
    expect_status("{\"a\" 1}", JSCAN_ESYNTAX);
    expect_status("{a:1}", JSCAN_ESYNTAX);
    expect_status("{'a':1}", JSCAN_ESYNTAX);
    expect_status("{\"a\":1 \"b\":2}", JSCAN_ESYNTAX);
    expect_status("{\"a\":[1 2]}", JSCAN_ESYNTAX);
    expect_status("{\"a\":[1}", JSCAN_ESYNTAX);
    expect_status("{\"a\":{]}", JSCAN_ESYNTAX);
    expect_status("{\"a\":1}}", JSCAN_ESYNTAX);
    /* Trailing garbage. */
    expect_status("{} x", JSCAN_ESYNTAX);
    expect_status("{}{}", JSCAN_ESYNTAX);
    expect_status("{\"a\":1}\n,", JSCAN_ESYNTAX);
    assert_int_equal(SCAN_B("{}\0"), JSCAN_ESYNTAX);
    assert_int_equal(SCAN_B("{}\xFF"), JSCAN_ESYNTAX);
    /* Only JSON whitespace. */
    expect_status("\f{}", JSCAN_ESYNTAX);
    expect_status("{}\v", JSCAN_ESYNTAX);
    expect_status("\xC2\xA0{}", JSCAN_ESYNTAX);
    /* Strings. */
    expect_status("{\"a\":\"x}", JSCAN_ESYNTAX);
    expect_status("{\"a\":\"\\x\"}", JSCAN_ESYNTAX);
    expect_status("{\"a\":\"\\'\"}", JSCAN_ESYNTAX);
    expect_status("{\"a\":\"\\u12\"}", JSCAN_ESYNTAX);
    expect_status("{\"a\":\"\\u12G4\"}", JSCAN_ESYNTAX);
    expect_status("{\"a\":\"\\", JSCAN_ESYNTAX);
    expect_status("{\"a\":\"\\u00", JSCAN_ESYNTAX);
    assert_int_equal(SCAN_B("{\"a\":\"\\\0\"}"), JSCAN_ESYNTAX);
}

static void test_control_and_utf8(void **state)
{
    (void)state;
    /* Raw control characters in strings (keys too). */
    expect_status("{\"a\":\"x\x01y\"}", JSCAN_EUTF8);
    expect_status("{\"a\":\"x\ty\"}", JSCAN_EUTF8);
    expect_status("{\"a\":\"x\ny\"}", JSCAN_EUTF8);
    expect_status("{\"a\x1f\":1}", JSCAN_EUTF8);
    assert_int_equal(SCAN_B("{\"a\":\"x\0y\"}"), JSCAN_EUTF8);
    /* Invalid UTF-8 in strings. */
    expect_status("{\"a\":\"\xFF\"}", JSCAN_EUTF8);
    expect_status("{\"a\":\"\xFE\"}", JSCAN_EUTF8);
    expect_status("{\"a\":\"\x80\"}", JSCAN_EUTF8);         /* lone continuation */
    expect_status("{\"a\":\"\xC0\xAF\"}", JSCAN_EUTF8);     /* overlong '/' */
    expect_status("{\"a\":\"\xC1\xBF\"}", JSCAN_EUTF8);
    expect_status("{\"a\":\"\xE0\x80\xAF\"}", JSCAN_EUTF8); /* overlong 3-byte */
    expect_status("{\"a\":\"\xF0\x80\x80\xAF\"}", JSCAN_EUTF8);
    expect_status("{\"a\":\"\xED\xA0\x80\"}", JSCAN_EUTF8); /* surrogate D800 */
    expect_status("{\"a\":\"\xED\xBF\xBF\"}", JSCAN_EUTF8); /* surrogate DFFF */
    expect_status("{\"a\":\"\xF4\x90\x80\x80\"}", JSCAN_EUTF8); /* > U+10FFFF */
    expect_status("{\"a\":\"\xF5\x80\x80\x80\"}", JSCAN_EUTF8);
    expect_status("{\"a\":\"\xC3\"}", JSCAN_EUTF8);         /* truncated before the quote */
    expect_status("{\"a\":\"\xE2\x82\"}", JSCAN_EUTF8);
    expect_status("{\"a\":\"\xF0\x9F\x98\"}", JSCAN_EUTF8);
    expect_status("{\"a\":\"\xE2\x82x\"}", JSCAN_EUTF8);
    expect_status("{\"\xFF\":1}", JSCAN_EUTF8);
    /* The buffer ends inside a sequence (exactly-sized buffer: no overread). */
    assert_int_equal(SCAN_B("{\"a\":\"\xF0\x9F\x98"), JSCAN_EUTF8);
    assert_int_equal(SCAN_B("{\"a\":\"\xF0"), JSCAN_EUTF8);
    assert_int_equal(SCAN_B("{\"a\":\"\xE2\x82"), JSCAN_EUTF8);

    /* The error position. */
    size_t pos;
    assert_int_equal(scan_exact("{\"a\":1,}", 8, NULL, 0, NULL, &pos, NULL), JSCAN_ESYNTAX);
    assert_int_equal(pos, 7);
    assert_int_equal(scan_exact("{\"a\":\"x\x01\"}", 10, NULL, 0, NULL, &pos, NULL), JSCAN_EUTF8);
    assert_int_equal(pos, 7);
    assert_int_equal(scan_exact("{\"ab\":\"\xC3\xA9\xFF\"}", 13, NULL, 0, NULL, &pos, NULL), JSCAN_EUTF8);
    assert_int_equal(pos, 9);
}

static void test_not_object(void **state)
{
    (void)state;
    expect_status("[1,2]", JSCAN_ENOTOBJ);
    expect_status("[]", JSCAN_ENOTOBJ);
    expect_status("\"x\"", JSCAN_ENOTOBJ);
    expect_status(" 12 ", JSCAN_ENOTOBJ);
    expect_status("-1.5", JSCAN_ENOTOBJ);
    expect_status("null", JSCAN_ENOTOBJ);
    expect_status("true", JSCAN_ENOTOBJ);
    /* Not JSON at all is a syntax error, not "not an object". */
    expect_status("[1,2", JSCAN_ESYNTAX);
    expect_status("[1] x", JSCAN_ESYNTAX);
    expect_status("hello", JSCAN_ESYNTAX);
    expect_status("\"\xFF\"", JSCAN_EUTF8);
}

static char *nest(const char *open, const char *close, int depth, const char *head, const char *tail)
{
    size_t ol = strlen(open), cl = strlen(close);
    buf_t b = BUF_INIT;
    buf_puts(&b, head);
    for (int i = 0; i < depth; i++)
        buf_append(&b, open, ol);
    for (int i = 0; i < depth; i++)
        buf_append(&b, close, cl);
    buf_puts(&b, tail);
    char *s = strdup(buf_cstr(&b));
    buf_free(&b);
    return s;
}

static void test_depth(void **state)
{
    (void)state;
    /* The top-level object is depth 1: 63 more arrays make 64 levels. */
    char *s = nest("[", "]", JSCAN_MAX_DEPTH - 1, "{\"a\":", "}");
    expect_status(s, JSCAN_OK);
    free(s);
    s = nest("[", "]", JSCAN_MAX_DEPTH, "{\"a\":", "}");
    expect_status(s, JSCAN_EDEPTH);
    free(s);
    s = nest("{\"k\":[", "]}", 32, "", "");
    /* 32 x (object + array) = 64 levels, with an empty array innermost. */
    expect_status(s, JSCAN_OK);
    free(s);
    s = nest("{\"k\":[", "]}", 33, "", "");
    expect_status(s, JSCAN_EDEPTH);
    free(s);
    /* Very deep input is refused without recursing all the way down. */
    s = nest("[", "]", 200000, "{\"a\":", "}");
    expect_status(s, JSCAN_EDEPTH);
    free(s);
    s = nest("[", "]", 200000, "", "");
    expect_status(s, JSCAN_EDEPTH);
    free(s);
    /* Unclosed deep input. */
    buf_t b = BUF_INIT;
    buf_puts(&b, "{\"a\":");
    for (int i = 0; i < 100000; i++)
        buf_putc(&b, '[');
    assert_int_equal(scan_exact(b.p, b.len, NULL, 0, NULL, NULL, NULL), JSCAN_EDEPTH);
    buf_free(&b);
}

static void test_duplicate_keys(void **state)
{
    (void)state;
    const char *keys[] = {"id", "text"};
    jscan_val_t v[2];
    char *keep;
    const char *in = "{\"id\":1,\"text\":\"first\",\"id\":2,\"text\":\"second\"}";
    assert_int_equal(scan_exact(in, strlen(in), keys, 2, v, NULL, &keep), JSCAN_OK);
    raw_is(&v[0], "2");
    raw_is(&v[1], "\"second\"");
    free(keep);
    /* An escaped key matches its decoded name, and the last one still wins. */
    in = "{\"text\":\"plain\",\"t\\u0065xt\":\"escaped\"}";
    assert_int_equal(scan_exact(in, strlen(in), keys, 2, v, NULL, &keep), JSCAN_OK);
    raw_is(&v[1], "\"escaped\"");
    assert_int_equal(v[0].type, JSCAN_MISSING);
    free(keep);
    in = "{\"t\\u0065xt\":\"escaped\",\"text\":\"plain\"}";
    assert_int_equal(scan_exact(in, strlen(in), keys, 2, v, NULL, &keep), JSCAN_OK);
    raw_is(&v[1], "\"plain\"");
    free(keep);
    /* Keys compare whole: "textual" and "tex" are not "text". */
    in = "{\"textual\":\"a\",\"tex\":\"b\"}";
    assert_int_equal(scan_exact(in, strlen(in), keys, 2, v, NULL, &keep), JSCAN_OK);
    assert_int_equal(v[1].type, JSCAN_MISSING);
    free(keep);
}

static void test_num_is_int(void **state)
{
    (void)state;
    const char *keys[] = {"a", "b", "c", "d", "e", "f"};
    jscan_val_t v[6];
    char *keep;
    const char *in = "{\"a\":12,\"b\":-3,\"c\":1.0,\"d\":1e3,\"e\":\"12\",\"f\":0}";
    assert_int_equal(scan_exact(in, strlen(in), keys, 6, v, NULL, &keep), JSCAN_OK);
    assert_true(jscan_num_is_int(&v[0]));
    assert_true(jscan_num_is_int(&v[1]));
    assert_false(jscan_num_is_int(&v[2]));
    assert_false(jscan_num_is_int(&v[3]));
    assert_false(jscan_num_is_int(&v[4]));
    assert_true(jscan_num_is_int(&v[5]));
    jscan_val_t missing = {JSCAN_MISSING, 0, NULL, 0};
    assert_false(jscan_num_is_int(&missing));
    free(keep);
}

/* ---- writer ---- */

static char *put_str(const char *s, size_t len)
{
    buf_t b = BUF_INIT;
    jscan_put_str(&b, s, len);
    char *out = strdup(buf_cstr(&b));
    buf_free(&b);
    return out;
}

/* Puts s as a JSON string, scans it back inside an object, decodes it. */
static void round_trip(const char *s, size_t len, buf_t *back)
{
    buf_t b = BUF_INIT;
    buf_puts(&b, "{\"k\":");
    jscan_put_str(&b, s, len);
    buf_putc(&b, '}');
    const char *keys[] = {"k"};
    jscan_val_t v;
    char *keep;
    int rc = scan_exact(b.p, b.len, keys, 1, &v, NULL, &keep);
    if (rc != JSCAN_OK)
        fail_msg("fj_put_str output is not valid JSON: %s", buf_cstr(&b));
    assert_int_equal(v.type, JSCAN_STR);
    buf_reset(back);
    assert_int_equal(jscan_str_decode(&v, back), 0);
    free(keep);
    buf_free(&b);
}

static void test_put_str(void **state)
{
    (void)state;
    char *o = put_str("plain", 5);
    assert_string_equal(o, "\"plain\"");
    free(o);
    o = put_str("q\"b\\n\nr\rt\t/", 11);
    assert_string_equal(o, "\"q\\\"b\\\\n\\nr\\rt\\t/\"");
    free(o);
    o = put_str("\x01\x1f\x7f", 3);
    assert_string_equal(o, "\"\\u0001\\u001f\x7f\"");
    free(o);
    o = put_str("a\0b", 3);
    assert_string_equal(o, "\"a\\u0000b\"");
    free(o);
    o = put_str("", 0);
    assert_string_equal(o, "\"\"");
    free(o);
    o = put_str("\xC3\xA9\xF0\x9F\x98\x80", 6);
    assert_string_equal(o, "\"\xC3\xA9\xF0\x9F\x98\x80\"");
    free(o);
    /* Invalid UTF-8 becomes U+FFFD. */
    o = put_str("a\xFF" "b", 3);
    assert_string_equal(o, "\"a\xEF\xBF\xBD" "b\"");
    free(o);
    o = put_str("\x80", 1);
    assert_string_equal(o, "\"\xEF\xBF\xBD\"");
    free(o);
    o = put_str("\xED\xA0\x80", 3);
    assert_true(valid_utf8((unsigned char *)o, strlen(o)));
    assert_non_null(strstr(o, "\xEF\xBF\xBD"));
    assert_null(strstr(o, "\xED"));
    free(o);
    o = put_str("x\xC0\xAFy", 4);
    assert_true(valid_utf8((unsigned char *)o, strlen(o)));
    assert_non_null(strstr(o, "\xEF\xBF\xBD"));
    assert_true(o[1] == 'x' && o[strlen(o) - 2] == 'y');
    free(o);
    /* Cut in the middle of a sequence at the end of the input. */
    char *cut = malloc(3);
    memcpy(cut, "a\xE2\x82", 3);
    o = put_str(cut, 3);
    free(cut);
    assert_true(valid_utf8((unsigned char *)o, strlen(o)));
    assert_true(strncmp(o, "\"a\xEF\xBF\xBD", 5) == 0);
    assert_int_equal(o[strlen(o) - 1], '"');
    free(o);

    /* Round trip of every byte 0x01..0x7F and some multi-byte text. */
    char all[200];
    size_t n = 0;
    for (int c = 1; c < 128; c++)
        all[n++] = (char)c;
    memcpy(all + n, "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80", 9);
    n += 9;
    all[n++] = '\0';
    all[n++] = '"';
    buf_t back = BUF_INIT;
    round_trip(all, n, &back);
    assert_int_equal(back.len, n);
    assert_memory_equal(back.p, all, n);
    /* Invalid input still gives valid JSON, with the valid parts intact. */
    static const char bad[] = "ok\xFF\xFE\xC3 \xF0\x9F\x98 end";
    round_trip(bad, sizeof bad - 1, &back);
    assert_true(valid_utf8((unsigned char *)back.p, back.len));
    assert_memory_equal(back.p, "ok\xEF\xBF\xBD", 5);
    assert_memory_equal(back.p + back.len - 4, " end", 4);
    buf_free(&back);
}

static void test_put_unit(void **state)
{
    (void)state;
    struct {
        double x;
        const char *s;
    } cases[] = {
        {0, "0.0000"},      {1, "1.0000"},       {0.5, "0.5000"},     {0.9731, "0.9731"},
        /* 0.12345 * 10000 = 1234.5 (in double), + 0.5 rounds half up. */
        {0.12345, "0.1235"}, {0.12344, "0.1234"}, {0.00004, "0.0000"}, {0.00006, "0.0001"},
        {0.99994, "0.9999"}, {0.99996, "1.0000"}, {NAN, "0.0000"},     {-NAN, "0.0000"},
        {2, "1.0000"},       {INFINITY, "1.0000"}, {-1, "0.0000"},    {-INFINITY, "0.0000"},
        {1e-300, "0.0000"},  {0.1, "0.1000"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        buf_t b = BUF_INIT;
        jscan_put_unit(&b, cases[i].x);
        if (strcmp(buf_cstr(&b), cases[i].s))
            fail_msg("fj_put_unit(%g) = '%s', expected '%s'", cases[i].x, buf_cstr(&b), cases[i].s);
        buf_free(&b);
    }
    /* Appends. */
    buf_t b = BUF_INIT;
    buf_puts(&b, "p=");
    jscan_put_unit(&b, 0.25);
    assert_string_equal(buf_cstr(&b), "p=0.2500");
    buf_free(&b);
}

static void test_strerror(void **state)
{
    (void)state;
    assert_string_equal(jscan_strerror(JSCAN_OK), "ok");
    assert_true(strlen(jscan_strerror(JSCAN_ESYNTAX)) > 0);
    assert_string_not_equal(jscan_strerror(JSCAN_ESYNTAX), jscan_strerror(JSCAN_EUTF8));
    assert_string_not_equal(jscan_strerror(JSCAN_ENOTOBJ), jscan_strerror(JSCAN_EDEPTH));
    assert_string_equal(jscan_strerror(42), "unknown");
}

/* ---- randomized mutations ---- */


static const char RECORD[] =
    "{\"id\":\"a1\",\"text\":\"Flight 123 \\u00e9 \\ud83d\\ude00 late :( \xC3\xA9\xF0\x9F\x91\x8D\","
    "\"label\":\"neg\",\"account\":42,\"ts\":\"2015-02-16T23:36:00.5+01:00\","
    "\"n\":[1,-2.5e3,{\"x\":null,\"y\":true,\"z\":[]}],\"f\":false}";

static void test_mutations(void **state)
{
    (void)state;
    static const char interesting[] = "{}[]\":,\\u0123456789abcdefABCDEF.eE+-ntrfalsu \t\n\x01\x7F\x80\xBF\xC0"
                                      "\xC3\xE0\xED\xF0\xF4\xF5\xFF";
    const char *keys[] = {"id", "text", "label", "account", "ts", "n", "f"};
    rec_schema_t schema;
    rec_schema_default(&schema);
    schema.label_field = "label";
    rec_t r;
    memset(&r, 0, sizeof r);
    char detail[256];
    unsigned char base[sizeof RECORD + 64], work[sizeof RECORD + 64];
    size_t base_len = sizeof RECORD - 1;
    memcpy(base, RECORD, base_len);
    rng_state = 0xC0FFEE;
    int counts[5] = {0};
    buf_t tmp = BUF_INIT;
    for (int it = 0; it < 30000; it++) {
        size_t len = base_len;
        memcpy(work, base, len);
        int nmut = 1 + (int)(rng() % 4);
        for (int k = 0; k < nmut; k++) {
            uint64_t r0 = rng();
            size_t at = len ? (size_t)(r0 >> 8) % len : 0;
            switch (r0 % 3) {
            case 0: /* flip a bit */
                if (len)
                    work[at] ^= (unsigned char)(1u << ((r0 >> 40) % 8));
                break;
            case 1: /* insert a byte */
                if (len < sizeof work) {
                    memmove(work + at + 1, work + at, len - at);
                    work[at] = (r0 >> 40) & 1 ? (unsigned char)interesting[(r0 >> 41) % (sizeof interesting - 1)]
                                              : (unsigned char)(r0 >> 48);
                    len++;
                }
                break;
            default: /* delete a byte */
                if (len) {
                    memmove(work + at, work + at + 1, len - at - 1);
                    len--;
                }
            }
        }
        jscan_val_t v[7];
        char *keep;
        size_t pos;
        int rc = scan_exact((const char *)work, len, keys, 7, v, &pos, &keep);
        assert_true(rc <= 0 && rc >= JSCAN_EDEPTH);
        counts[-rc]++;
        if (rc == JSCAN_OK) {
            for (int k = 0; k < 7; k++) {
                if (v[k].type == JSCAN_MISSING)
                    continue;
                assert_true(v[k].raw >= keep && v[k].raw + v[k].raw_len <= keep + len);
                assert_true(v[k].raw_len > 0);
                if (v[k].type == JSCAN_STR) {
                    buf_reset(&tmp);
                    assert_int_equal(jscan_str_decode(&v[k], &tmp), 0);
                    /* A validated string always decodes to valid UTF-8. */
                    assert_true(valid_utf8((unsigned char *)tmp.p, tmp.len));
                }
            }
        }
        /* The record decoder on the same bytes. */
        int st = rec_decode(&schema, keep, len, &r, detail, sizeof detail);
        assert_true(st >= REC_OK && st < REC_NSTATUS);
        if (st == REC_OK) {
            assert_true(r.text.len > 0);
            assert_true(valid_utf8((unsigned char *)r.text.p, r.text.len));
        } else {
            assert_true(strlen(detail) > 0);
        }
        free(keep);
    }
    print_message("mutations: %d ok, %d syntax, %d utf8, %d not object, %d depth\n", counts[0], counts[1],
                  counts[2], counts[3], counts[4]);
    /* The loop exercised both outcomes. */
    assert_true(counts[0] > 100);
    assert_true(counts[1] > 100);
    assert_true(counts[2] > 100);
    buf_free(&tmp);
    rec_free(&r);
}

/* ---- records (rec.h) ---- */

typedef struct rcase {
    const char *json;
    int status;
} rcase_t;

static int decode(const rec_schema_t *s, const char *json, size_t len, rec_t *r, char *detail, size_t dlen)
{
    char *copy = malloc(len ? len : 1);
    memcpy(copy, json, len);
    detail[0] = '\0';
    int st = rec_decode(s, copy, len, r, detail, dlen);
    /* r->id points into the input, which is freed here: the tests read only
     * its type and length. */
    r->id.raw = NULL;
    free(copy);
    return st;
}

static void test_rec_statuses(void **state)
{
    (void)state;
    rec_schema_t s;
    rec_schema_default(&s);
    s.max_bytes = 200;
    rec_t r;
    memset(&r, 0, sizeof r);
    char detail[256];
    char big[300];
    snprintf(big, sizeof big, "{\"id\":1,\"text\":\"%0190d\"}", 0);
    const rcase_t cases[] = {
        {"{\"id\":1,\"text\":\"hello\"}", REC_OK},
        {"hello", REC_NOT_JSON},
        {"{\"id\":1,\"text\":\"hello\"", REC_NOT_JSON},
        {"", REC_NOT_JSON},
        {"[{\"id\":1,\"text\":\"hello\"}]", REC_NOT_OBJECT},
        {"\"text\"", REC_NOT_OBJECT},
        {"{\"id\":1,\"text\":\"caf\xC3\"}", REC_BAD_UTF8},
        {"{\"id\":1,\"text\":\"a\x01\"}", REC_BAD_UTF8},
        {"{\"text\":\"hello\"}", REC_NO_ID},
        {"{\"id\":null,\"text\":\"hello\"}", REC_NO_ID},
        {"{\"ID\":1,\"text\":\"hello\"}", REC_NO_ID},
        {"{\"id\":1.5,\"text\":\"hello\"}", REC_BAD_ID},
        {"{\"id\":1e3,\"text\":\"hello\"}", REC_BAD_ID},
        {"{\"id\":\"\",\"text\":\"hello\"}", REC_BAD_ID},
        {"{\"id\":true,\"text\":\"hello\"}", REC_BAD_ID},
        {"{\"id\":[1],\"text\":\"hello\"}", REC_BAD_ID},
        {"{\"id\":{},\"text\":\"hello\"}", REC_BAD_ID},
        {"{\"id\":-7,\"text\":\"hello\"}", REC_OK},
        {"{\"id\":\"x\",\"text\":\"\"}", REC_NO_TEXT},
        {"{\"id\":\"x\",\"text\":\" \\n\\t\\r \"}", REC_NO_TEXT},
        {"{\"id\":\"x\",\"text\":null}", REC_NO_TEXT},
        {"{\"id\":\"x\"}", REC_NO_TEXT},
        {"{\"id\":\"x\",\"text\":5}", REC_BAD_FIELD},
        {"{\"id\":\"x\",\"text\":[\"a\"]}", REC_BAD_FIELD},
        {big, REC_TOO_LARGE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int st = decode(&s, cases[i].json, strlen(cases[i].json), &r, detail, sizeof detail);
        if (st != cases[i].status)
            fail_msg("'%s': %s (%s), expected %s", cases[i].json, rec_status_code(st), detail,
                     rec_status_code(cases[i].status));
        if (st != REC_OK && !detail[0])
            fail_msg("'%s': no detail", cases[i].json);
    }
    assert_true(strlen(big) > 200);
    /* The size limit comes first, whatever the bytes. */
    char junk[201];
    memset(junk, 0xFF, sizeof junk);
    assert_int_equal(decode(&s, junk, 201, &r, detail, sizeof detail), REC_TOO_LARGE);
    assert_non_null(strstr(detail, "201"));
    assert_int_equal(decode(&s, junk, 200, &r, detail, sizeof detail), REC_NOT_JSON);
    /* An id over REC_MAX_ID_BYTES. */
    s.max_bytes = 0;
    buf_t b = BUF_INIT;
    buf_puts(&b, "{\"text\":\"t\",\"id\":\"");
    for (int i = 0; i < REC_MAX_ID_BYTES; i++)
        buf_putc(&b, 'x');
    buf_puts(&b, "\"}");
    assert_int_equal(decode(&s, b.p, b.len, &r, detail, sizeof detail), REC_BAD_ID);
    buf_free(&b);
    rec_free(&r);
}

static void test_rec_fields(void **state)
{
    (void)state;
    rec_schema_t s;
    rec_schema_default(&s);
    assert_string_equal(s.id_field, "id");
    assert_int_equal(s.ntext, 1);
    assert_string_equal(s.text_fields[0], "text");
    assert_null(s.label_field);
    assert_int_equal(s.max_bytes, 0);
    char list[] = "subject,body";
    char err[TRI_ERRLEN];
    assert_int_equal(rec_schema_set_text(&s, list, err, sizeof err), 0);
    assert_int_equal(s.ntext, 2);
    assert_string_equal(s.text_fields[0], "subject");
    assert_string_equal(s.text_fields[1], "body");
    s.label_field = "label";
    rec_t r;
    memset(&r, 0, sizeof r);
    char detail[256];

    /* Text fields joined by '\n' in schema order, escapes decoded. */
    const char *in = "{\"body\":\"again\\nand \\u00e9\",\"id\":\"r1\",\"subject\":\"Late\",\"label\":3,"
                     "\"account\":\"united\",\"ts\":\"2015-02-16T23:36:00Z\"}";
    assert_int_equal(decode(&s, in, strlen(in), &r, detail, sizeof detail), REC_OK);
    assert_int_equal(r.text.len, strlen("Late\nagain\nand \xC3\xA9"));
    assert_memory_equal(r.text.p, "Late\nagain\nand \xC3\xA9", r.text.len);
    assert_int_equal(r.id.type, JSCAN_STR);
    assert_int_equal(r.id.raw_len, 4); /* "r1" with quotes */
    /* A numeric label is its JSON text. */
    assert_int_equal(r.has_label, 1);
    assert_int_equal(r.label.len, 1);
    assert_memory_equal(r.label.p, "3", 1);
    assert_int_equal(r.has_account, 1);
    assert_memory_equal(r.account.p, "united", 6);
    assert_int_equal(r.has_ts, 1);
    assert_int_equal(r.bad_ts, 0);
    assert_true(r.ts_ms == 1424129760000LL);

    /* A missing text field is skipped (no empty line). */
    in = "{\"id\":7,\"body\":\"only body\",\"label\":true,\"account\":12,\"ts\":1424129760123}";
    assert_int_equal(decode(&s, in, strlen(in), &r, detail, sizeof detail), REC_OK);
    assert_int_equal(r.text.len, 9);
    assert_memory_equal(r.text.p, "only body", 9);
    assert_int_equal(r.id.type, JSCAN_NUM);
    assert_int_equal(r.has_label, 1);
    assert_memory_equal(r.label.p, "true", 4);
    assert_int_equal(r.has_account, 1);
    assert_memory_equal(r.account.p, "12", 2);
    assert_int_equal(r.has_ts, 1);
    assert_true(r.ts_ms == 1424129760123LL);

    /* Reused rec_t: flags reset; label string decoded; bad ts flagged but usable. */
    in = "{\"id\":8,\"subject\":\"s\",\"label\":\"n\\u00e9g\",\"ts\":\"yesterday\"}";
    assert_int_equal(decode(&s, in, strlen(in), &r, detail, sizeof detail), REC_OK);
    assert_int_equal(r.text.len, 1);
    assert_int_equal(r.has_label, 1);
    assert_int_equal(r.label.len, 4);
    assert_memory_equal(r.label.p, "n\xC3\xA9g", 4);
    assert_int_equal(r.has_account, 0);
    assert_int_equal(r.has_ts, 0);
    assert_int_equal(r.bad_ts, 1);

    in = "{\"id\":9,\"subject\":\"s\",\"label\":null,\"ts\":-5}";
    assert_int_equal(decode(&s, in, strlen(in), &r, detail, sizeof detail), REC_OK);
    assert_int_equal(r.has_label, 0);
    assert_int_equal(r.bad_ts, 1);
    in = "{\"id\":9,\"subject\":\"s\",\"label\":\"\"}";
    assert_int_equal(decode(&s, in, strlen(in), &r, detail, sizeof detail), REC_OK);
    assert_int_equal(r.has_label, 0);
    assert_int_equal(r.has_ts, 0);
    assert_int_equal(r.bad_ts, 0);
    in = "{\"id\":9,\"subject\":\"s\",\"label\":[\"a\"]}";
    assert_int_equal(decode(&s, in, strlen(in), &r, detail, sizeof detail), REC_BAD_FIELD);
    in = "{\"id\":9,\"subject\":\"s\",\"label\":{\"a\":1}}";
    assert_int_equal(decode(&s, in, strlen(in), &r, detail, sizeof detail), REC_BAD_FIELD);
    /* The second text field alone blank, the first not: fine. */
    in = "{\"id\":9,\"subject\":\"x\",\"body\":\"\"}";
    assert_int_equal(decode(&s, in, strlen(in), &r, detail, sizeof detail), REC_OK);
    /* Both blank: no text. */
    in = "{\"id\":9,\"subject\":\" \",\"body\":\"\\n\"}";
    assert_int_equal(decode(&s, in, strlen(in), &r, detail, sizeof detail), REC_NO_TEXT);
    /* Labels are not read unless asked. */
    s.label_field = NULL;
    in = "{\"id\":9,\"subject\":\"s\",\"label\":\"pos\"}";
    assert_int_equal(decode(&s, in, strlen(in), &r, detail, sizeof detail), REC_OK);
    assert_int_equal(r.has_label, 0);
    rec_free(&r);

    /* Schema text lists. */
    char l1[] = "a,,b", l2[] = ",a", l3[] = "a,", l4[] = "1,2,3,4,5,6,7,8,9", l5[] = "1,2,3,4,5,6,7,8", l6[] = "";
    assert_int_equal(rec_schema_set_text(&s, l1, err, sizeof err), TRI_EINVAL);
    assert_int_equal(rec_schema_set_text(&s, l2, err, sizeof err), TRI_EINVAL);
    assert_int_equal(rec_schema_set_text(&s, l3, err, sizeof err), TRI_EINVAL);
    assert_int_equal(rec_schema_set_text(&s, l4, err, sizeof err), TRI_EINVAL);
    assert_int_equal(rec_schema_set_text(&s, l6, err, sizeof err), TRI_EINVAL);
    assert_int_equal(rec_schema_set_text(&s, l5, err, sizeof err), 0);
    assert_int_equal(s.ntext, 8);
    assert_string_equal(s.text_fields[7], "8");
}

static void test_rec_codes(void **state)
{
    (void)state;
    assert_string_equal(rec_status_code(REC_OK), "ok");
    assert_string_equal(rec_status_code(REC_TOO_LARGE), "too_large");
    assert_string_equal(rec_status_code(REC_NOT_JSON), "not_json");
    assert_string_equal(rec_status_code(REC_NOT_OBJECT), "not_object");
    assert_string_equal(rec_status_code(REC_BAD_UTF8), "invalid_utf8");
    assert_string_equal(rec_status_code(REC_NO_ID), "missing_id");
    assert_string_equal(rec_status_code(REC_BAD_ID), "bad_id");
    assert_string_equal(rec_status_code(REC_NO_TEXT), "no_text");
    assert_string_equal(rec_status_code(REC_BAD_FIELD), "bad_field");
    assert_string_equal(rec_status_code(REC_NSTATUS), "unknown");
    assert_string_equal(rec_status_code(-1), "unknown");
}

static void test_utf8_valid_and_base64(void **state)
{
    (void)state;
    assert_true(jscan_utf8_valid("", 0));
    assert_true(jscan_utf8_valid("plain", 5));
    assert_true(jscan_utf8_valid("\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\xF4\x8F\xBF\xBF", 13));
    assert_true(jscan_utf8_valid("a\0b", 3));
    assert_false(jscan_utf8_valid("\xFF", 1));
    assert_false(jscan_utf8_valid("\x80", 1));
    assert_false(jscan_utf8_valid("\xC0\xAF", 2));
    assert_false(jscan_utf8_valid("\xED\xA0\x80", 3));
    assert_false(jscan_utf8_valid("\xF4\x90\x80\x80", 4));
    /* Cut inside a sequence (exact buffer). */
    char *cut = malloc(3);
    memcpy(cut, "a\xE2\x82", 3);
    assert_false(jscan_utf8_valid(cut, 3));
    assert_true(jscan_utf8_valid(cut, 1));
    free(cut);

    /* RFC 4648 test vectors. */
    static const char *const in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const out[] = {"\"\"", "\"Zg==\"", "\"Zm8=\"", "\"Zm9v\"", "\"Zm9vYg==\"",
                                      "\"Zm9vYmE=\"", "\"Zm9vYmFy\""};
    for (size_t i = 0; i < 7; i++) {
        buf_t b = BUF_INIT;
        jscan_put_base64(&b, in[i], strlen(in[i]));
        assert_string_equal(buf_cstr(&b), out[i]);
        buf_free(&b);
    }
    buf_t b = BUF_INIT;
    buf_putc(&b, 'x');
    jscan_put_base64(&b, "\xFF\xFE\x00\x01", 4);
    assert_string_equal(buf_cstr(&b), "x\"//4AAQ==\"");
    buf_free(&b);
}

static void test_rec_output(void **state)
{
    (void)state;
    rec_schema_t s;
    rec_schema_default(&s);
    rec_t r;
    memset(&r, 0, sizeof r);
    char detail[256];
    const char *in = "{\"id\":\"a\\u00e9\\\"1\",\"text\":\"t\",\"account\":\"united\"}";
    assert_int_equal(rec_decode(&s, in, strlen(in), &r, detail, sizeof detail), REC_OK);
    buf_t b = BUF_INIT;
    rec_put_key(&r, &b);
    assert_string_equal(buf_cstr(&b), "a\xC3\xA9\"1");

    clf_result_t res;
    memset(&res, 0, sizeof res);
    res.label = 1;
    res.score = 0.75f;
    res.ntop = 2;
    res.top[0] = 1;
    res.top_score[0] = 0.75f;
    res.top[1] = 0;
    res.top_score[1] = 0.25f;
    res.nknown = 4;
    res.nfeatures = 9;
    char *lj[2] = {"\"neg\"", "\"pos\""};
    size_t ljl[2] = {5, 5};
    buf_reset(&b);
    rec_put_labeled(&b, &s, &r, &res, lj, ljl, NULL, 0, 0);
    assert_string_equal(buf_cstr(&b), "{\"id\":\"a\xC3\xA9\\\"1\",\"label\":\"pos\",\"score\":0.7500,"
                                      "\"top\":[{\"label\":\"pos\",\"score\":0.7500},{\"label\":\"neg\",\"score\":0.2500}],\"lang\":\"und\"}");
    assert_int_equal(scan_exact(b.p, b.len, NULL, 0, NULL, NULL, NULL), JSCAN_OK);
    buf_reset(&b);
    rec_put_labeled(&b, &s, &r, &res, lj, ljl, "\"m@3\"", 5, 1424129760123LL);
    assert_string_equal(buf_cstr(&b), "{\"id\":\"a\xC3\xA9\\\"1\",\"label\":\"pos\",\"score\":0.7500,"
                                      "\"top\":[{\"label\":\"pos\",\"score\":0.7500},{\"label\":\"neg\",\"score\":0.2500}],\"lang\":\"und\","
                                      "\"model\":\"m@3\",\"account\":\"united\",\"ts\":\"2015-02-16T23:36:00.123Z\",\"known\":4,\"features\":9,\"schema\":2}");
    assert_int_equal(scan_exact(b.p, b.len, NULL, 0, NULL, NULL, NULL), JSCAN_OK);

    /* Integer id, no account. */
    in = "{\"id\":-12,\"text\":\"t\"}";
    assert_int_equal(rec_decode(&s, in, strlen(in), &r, detail, sizeof detail), REC_OK);
    buf_reset(&b);
    rec_put_key(&r, &b);
    assert_string_equal(buf_cstr(&b), "-12");
    buf_reset(&b);
    res.ntop = 1;
    rec_put_labeled(&b, &s, &r, &res, lj, ljl, "\"m@3\"", 5, 0);
    assert_string_equal(buf_cstr(&b), "{\"id\":-12,\"label\":\"pos\",\"score\":0.7500,"
                                      "\"top\":[{\"label\":\"pos\",\"score\":0.7500}],\"lang\":\"und\","
                                      "\"model\":\"m@3\",\"account\":null,\"ts\":\"1970-01-01T00:00:00Z\",\"known\":4,\"features\":9,\"schema\":2}");

    /* Dead letters: UTF-8 payload as a string, cut at a character boundary. */
    buf_reset(&b);
    rec_put_dead(&b, REC_NO_TEXT, "no \"text\"", "in", 3, 42, "ab\xC3\xA9", 4, 10);
    assert_string_equal(buf_cstr(&b), "{\"error\":\"no_text\",\"detail\":\"no \\\"text\\\"\",\"topic\":\"in\","
                                      "\"partition\":3,\"offset\":42,\"payload\":\"ab\xC3\xA9\",\"payload_bytes\":4}");
    assert_int_equal(scan_exact(b.p, b.len, NULL, 0, NULL, NULL, NULL), JSCAN_OK);
    buf_reset(&b);
    rec_put_dead(&b, REC_NO_TEXT, "d", "in", 0, 0, "ab\xC3\xA9", 4, 3);
    assert_string_equal(buf_cstr(&b), "{\"error\":\"no_text\",\"detail\":\"d\",\"topic\":\"in\","
                                      "\"partition\":0,\"offset\":0,\"payload\":\"ab\",\"payload_bytes\":4,"
                                      "\"payload_truncated\":true}");
    /* Invalid UTF-8: base64, at most max_payload bytes once encoded. */
    buf_reset(&b);
    rec_put_dead(&b, REC_BAD_UTF8, "d", "in", 1, 7, "foo\xFF", 4, 4);
    assert_string_equal(buf_cstr(&b), "{\"error\":\"invalid_utf8\",\"detail\":\"d\",\"topic\":\"in\","
                                      "\"partition\":1,\"offset\":7,\"payload_base64\":\"Zm9v\",\"payload_bytes\":4,"
                                      "\"payload_truncated\":true}");
    assert_int_equal(scan_exact(b.p, b.len, NULL, 0, NULL, NULL, NULL), JSCAN_OK);
    buf_free(&b);
    rec_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_object),
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_rejects),
        cmocka_unit_test(test_control_and_utf8),
        cmocka_unit_test(test_not_object),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_duplicate_keys),
        cmocka_unit_test(test_num_is_int),
        cmocka_unit_test(test_put_str),
        cmocka_unit_test(test_put_unit),
        cmocka_unit_test(test_strerror),
        cmocka_unit_test(test_mutations),
        cmocka_unit_test(test_rec_statuses),
        cmocka_unit_test(test_rec_fields),
        cmocka_unit_test(test_rec_codes),
        cmocka_unit_test(test_utf8_valid_and_base64),
        cmocka_unit_test(test_rec_output),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
