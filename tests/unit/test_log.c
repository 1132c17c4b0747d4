/* Unit tests for the event log (include/log_event.h): log_q quoting, and whole
 * lines in logfmt and JSON written to a file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/log.h"
#include "core/tri_err.h"
#include "core/tstamp.h"

static void test_q_plain_and_escapes(void **state)
{
    (void)state;
    assert_string_equal(log_q("abc"), "\"abc\"");
    assert_string_equal(log_q("a b"), "\"a b\"");
    assert_string_equal(log_q(""), "\"\"");
    assert_string_equal(log_q(NULL), "\"\"");
    assert_string_equal(log_q("say \"hi\""), "\"say \\\"hi\\\"\"");
    assert_string_equal(log_q("C:\\dir\\"), "\"C:\\\\dir\\\\\"");
    assert_string_equal(log_q("l1\nl2"), "\"l1\\nl2\"");
    assert_string_equal(log_q("a\tb"), "\"a\\u0009b\"");
    assert_string_equal(log_q("\r"), "\"\\u000d\"");
    assert_string_equal(log_q("\x01x\x1f"), "\"\\u0001x\\u001f\"");
    assert_string_equal(log_q("del\x7f"), "\"del\\u007f\"");
    assert_string_equal(log_q("k=v"), "\"k=v\"");
    /* UTF-8 passes through. */
    assert_string_equal(log_q("caf\xc3\xa9"), "\"caf\xc3\xa9\"");
}

static void test_q_truncation(void **state)
{
    (void)state;
    char in[1001];
    memset(in, 'a', 1000);
    in[1000] = '\0';
    const char *q = log_q(in);
    size_t n = strlen(q);
    /* '"' + a prefix of the value + '..."'; cut at about 400 bytes. */
    assert_true(n < 448);
    assert_int_equal(q[0], '"');
    assert_string_equal(q + n - 4, "...\"");
    size_t kept = strspn(q + 1, "a");
    assert_int_equal(kept, n - 5);
    assert_true(kept >= 400);
    assert_true(kept < 1000);

    /* A value that just fits is not cut. */
    in[400] = '\0';
    q = log_q(in);
    assert_int_equal(strlen(q), 402);
    assert_int_equal(q[401], '"');
    assert_null(strstr(q, "..."));

    /* Escapes near the cut: all of them, quotes included, stay inside. */
    memset(in, '"', 1000);
    in[1000] = '\0';
    q = log_q(in);
    n = strlen(q);
    assert_true(n < 448);
    assert_string_equal(q + n - 4, "...\"");
    for (size_t i = 1; i + 4 < n; i += 2) {
        assert_int_equal(q[i], '\\');
        assert_int_equal(q[i + 1], '"');
    }
}

/* A six-byte \u00XX escape at the cut must not write past the buffer into
 * the next result of the ring. Tried at every ring position. */
static void test_q_truncation_control_char_at_cut(void **state)
{
    (void)state;
    for (int fill = 430; fill <= 440; fill++) {
        char in[600];
        memset(in, 'a', (size_t)fill);
        in[fill] = '\x01';
        memset(in + fill + 1, 'z', 50);
        in[fill + 51] = '\0';
        for (int pos = 0; pos < 8; pos++) {
            const char *p = log_q("hello");
            for (int k = 0; k < 6; k++)
                log_q("filler");
            const char *a = log_q(in);
            size_t n = strlen(a);
            if (strcmp(p, "\"hello\""))
                fail_msg("%d 'a's + \\x01 + more: the result overran its 448-byte ring slot and overwrote "
                         "the previous result \"hello\" (now '%s')",
                         fill, p);
            if (n >= 448)
                fail_msg("%d 'a's + \\x01 + more: result of %zu bytes + NUL does not fit the 448-byte ring slot",
                         fill, n);
            assert_string_equal(a + n - 4, "...\"");
        }
    }
}

static void test_q_ring(void **state)
{
    (void)state;
    const char *r[8];
    char v[8][16];
    for (int i = 0; i < 8; i++) {
        snprintf(v[i], sizeof v[i], "v%d", i);
        r[i] = log_q(v[i]);
    }
    /* The first result is still valid after the next 7 calls. */
    for (int i = 0; i < 8; i++) {
        char want[16];
        snprintf(want, sizeof want, "\"v%d\"", i);
        assert_string_equal(r[i], want);
    }
}

/* The whole content of a file (caller frees). */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *p = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n + 4096 > cap) {
            cap = cap ? cap * 2 : 8192;
            p = realloc(p, cap);
            assert_non_null(p);
        }
        size_t got = fread(p + n, 1, cap - n - 1, f);
        if (!got)
            break;
        n += got;
    }
    fclose(f);
    p[n] = '\0';
    return p;
}

static void tmp_path(char out[64])
{
    snprintf(out, 64, "/tmp/test_d_tlog_XXXXXX");
    int fd = mkstemp(out);
    assert_true(fd >= 0);
    close(fd);
}

/* Checks a timestamp (len bytes) is RFC 3339 UTC and close to now. */
static void check_ts(const char *ts, size_t len)
{
    if (!(len == 20 || len == 24))
        fail_msg("timestamp '%.*s' has length %zu", (int)len, ts, len);
    assert_int_equal(ts[4], '-');
    assert_int_equal(ts[10], 'T');
    assert_int_equal(ts[len - 1], 'Z');
    int64_t ms;
    assert_int_equal(tstamp_parse(ts, len, &ms), 0);
    int64_t now = tstamp_now_ms();
    if (ms > now + 1000 || ms < now - 60000)
        fail_msg("timestamp '%.*s' is not now", (int)len, ts);
}

/* Splits the next line off *p; checks "ts=TS " and returns the rest (up to
 * and without the newline) in out. */
static void next_logfmt(const char **p, char *out, size_t outlen)
{
    const char *l = *p, *e = strchr(l, '\n');
    assert_non_null(e);
    assert_memory_equal(l, "ts=", 3);
    const char *sp = strchr(l, ' ');
    assert_non_null(sp);
    assert_true(sp < e);
    check_ts(l + 3, (size_t)(sp - l - 3));
    snprintf(out, outlen, "%.*s", (int)(e - sp - 1), sp + 1);
    *p = e + 1;
}

static void test_logfmt_lines(void **state)
{
    (void)state;
    char path[64], err[TRI_ERRLEN] = "", rest[512];
    tmp_path(path);
    assert_int_equal(log_open(path, LOG_LEVEL_INFO, 0, err, sizeof err), 0);
    log_event(LOG_LEVEL_INFO, "x", "k=%s n=%d", "v", 3);
    log_event(LOG_LEVEL_DEBUG, "hidden", "k=%d", 1); /* below the threshold */
    log_event(LOG_LEVEL_WARN, "y", "msg=%s topic=%s", log_q("a \"b\" c"), "in");
    log_event(LOG_LEVEL_ERROR, "z", "%s", "");
    log_close();
    char *s = slurp(path);
    const char *p = s;
    next_logfmt(&p, rest, sizeof rest);
    assert_string_equal(rest, "level=info event=x k=v n=3");
    next_logfmt(&p, rest, sizeof rest);
    assert_string_equal(rest, "level=warn event=y msg=\"a \\\"b\\\" c\" topic=in");
    next_logfmt(&p, rest, sizeof rest);
    assert_string_equal(rest, "level=error event=z");
    assert_string_equal(p, ""); /* nothing else, hidden not written */
    free(s);
    unlink(path);
}

static void test_threshold(void **state)
{
    (void)state;
    char path[64], err[TRI_ERRLEN] = "";
    tmp_path(path);
    assert_int_equal(log_open(path, LOG_LEVEL_WARN, 0, err, sizeof err), 0);
    assert_false(log_enabled(LOG_LEVEL_DEBUG));
    assert_false(log_enabled(LOG_LEVEL_INFO));
    assert_true(log_enabled(LOG_LEVEL_WARN));
    assert_true(log_enabled(LOG_LEVEL_ERROR));
    log_event(LOG_LEVEL_DEBUG, "d", "k=%d", 1);
    log_event(LOG_LEVEL_INFO, "i", "k=%d", 2);
    char *s = slurp(path);
    assert_string_equal(s, "");
    free(s);
    log_event(LOG_LEVEL_ERROR, "e", "k=%d", 3);
    s = slurp(path);
    const char *nl = strchr(s, '\n');
    assert_non_null(nl);
    assert_string_equal(nl + 1, "");
    assert_non_null(strstr(s, " level=error event=e k=3\n"));
    free(s);
    /* Same in JSON mode. */
    assert_int_equal(log_open(path, LOG_LEVEL_ERROR, 1, err, sizeof err), 0);
    log_event(LOG_LEVEL_WARN, "w", "k=%d", 4);
    log_close();
    s = slurp(path);
    assert_null(strstr(s, "\"w\""));
    free(s);
    unlink(path);
}

static void test_levels(void **state)
{
    (void)state;
    assert_string_equal(log_level_name(LOG_LEVEL_DEBUG), "debug");
    assert_string_equal(log_level_name(LOG_LEVEL_INFO), "info");
    assert_string_equal(log_level_name(LOG_LEVEL_WARN), "warn");
    assert_string_equal(log_level_name(LOG_LEVEL_ERROR), "error");
    assert_int_equal(log_level_parse("debug"), LOG_LEVEL_DEBUG);
    assert_int_equal(log_level_parse("info"), LOG_LEVEL_INFO);
    assert_int_equal(log_level_parse("warn"), LOG_LEVEL_WARN);
    assert_int_equal(log_level_parse("error"), LOG_LEVEL_ERROR);
    assert_int_equal(log_level_parse("loud"), -1);
    assert_int_equal(log_level_parse(""), -1);
}

/* Splits off the next line; checks {"ts":"TS", and returns the line. */
static char *next_json(const char **p, char *rest, size_t restlen)
{
    const char *l = *p, *e = strchr(l, '\n');
    assert_non_null(e);
    static const char pre[] = "{\"ts\":\"";
    assert_memory_equal(l, pre, sizeof pre - 1);
    const char *q = strchr(l + sizeof pre - 1, '"');
    assert_non_null(q);
    assert_true(q < e);
    check_ts(l + sizeof pre - 1, (size_t)(q - l - (sizeof pre - 1)));
    snprintf(rest, restlen, "%.*s", (int)(e - q - 1), q + 1);
    char *line = strndup(l, (size_t)(e - l));
    assert_non_null(line);
    *p = e + 1;
    return line;
}

static json_t *parse_json(const char *line)
{
    json_error_t je;
    json_t *j = json_loads(line, 0, &je);
    if (!j)
        fail_msg("not JSON (%s at column %d): %s", je.text, je.column, line);
    assert_true(json_is_object(j));
    return j;
}

static void test_json_lines(void **state)
{
    (void)state;
    char path[64], err[TRI_ERRLEN] = "", rest[1024];
    tmp_path(path);
    assert_int_equal(log_open(path, LOG_LEVEL_DEBUG, 1, err, sizeof err), 0);
    log_event(LOG_LEVEL_INFO, "x", "k=%s n=%d", "v", 3);
    log_event(LOG_LEVEL_DEBUG, "y", "k=%s n=%d r=%.2f", log_q("v"), -12, 0.5);
    const char *nasty = "a \"q\" \\ \n \x01 \t caf\xc3\xa9";
    log_event(LOG_LEVEL_WARN, "z", "msg=%s url=%s empty=", log_q(nasty), "http://h/?a=b");
    log_event(LOG_LEVEL_ERROR, "nofields", "%s", "");
    log_close();
    char *s = slurp(path);
    const char *p = s;

    char *line = next_json(&p, rest, sizeof rest);
    assert_string_equal(rest, ",\"level\":\"info\",\"event\":\"x\",\"k\":\"v\",\"n\":3}");
    json_t *j = parse_json(line);
    assert_int_equal(json_object_size(j), 5);
    assert_string_equal(json_string_value(json_object_get(j, "level")), "info");
    assert_string_equal(json_string_value(json_object_get(j, "event")), "x");
    assert_string_equal(json_string_value(json_object_get(j, "k")), "v");
    assert_true(json_is_integer(json_object_get(j, "n")));
    assert_int_equal(json_integer_value(json_object_get(j, "n")), 3);
    json_decref(j);
    free(line);

    line = next_json(&p, rest, sizeof rest);
    assert_string_equal(rest, ",\"level\":\"debug\",\"event\":\"y\",\"k\":\"v\",\"n\":-12,\"r\":0.50}");
    j = parse_json(line);
    assert_int_equal(json_integer_value(json_object_get(j, "n")), -12);
    assert_true(json_real_value(json_object_get(j, "r")) == 0.5);
    json_decref(j);
    free(line);

    line = next_json(&p, rest, sizeof rest);
    j = parse_json(line);
    assert_int_equal(json_object_size(j), 6);
    assert_string_equal(json_string_value(json_object_get(j, "level")), "warn");
    assert_string_equal(json_string_value(json_object_get(j, "msg")), nasty);
    assert_string_equal(json_string_value(json_object_get(j, "url")), "http://h/?a=b");
    assert_string_equal(json_string_value(json_object_get(j, "empty")), "");
    json_decref(j);
    free(line);

    line = next_json(&p, rest, sizeof rest);
    assert_string_equal(rest, ",\"level\":\"error\",\"event\":\"nofields\"}");
    j = parse_json(line);
    assert_int_equal(json_object_size(j), 3);
    json_decref(j);
    free(line);

    assert_string_equal(p, "");
    free(s);
    unlink(path);
}

/* Bare values that strtod accepts but JSON does not (nan, inf, hex, leading
 * zeros or '+', a bare '.5') must still give a valid JSON line: they are
 * strings holding the text. */
static void test_json_bare_values_not_json_numbers(void **state)
{
    (void)state;
    char path[64], err[TRI_ERRLEN] = "";
    tmp_path(path);
    assert_int_equal(log_open(path, LOG_LEVEL_INFO, 1, err, sizeof err), 0);
    log_event(LOG_LEVEL_INFO, "x", "a=nan b=inf c=0x10 d=007 g=+1 h=.5 e=1e5 f=-2.5");
    log_close();
    char *s = slurp(path);
    char *nl = strchr(s, '\n');
    assert_non_null(nl);
    *nl = '\0';
    json_error_t je;
    json_t *j = json_loads(s, 0, &je);
    if (!j) {
        char line[512];
        snprintf(line, sizeof line, "%s", s);
        free(s);
        unlink(path);
        fail_msg("not JSON (%s at column %d): %s", je.text, je.column, line);
    }
    static const char *const strs[][2] = {{"a", "nan"}, {"b", "inf"}, {"c", "0x10"},
                                          {"d", "007"}, {"g", "+1"},  {"h", ".5"}};
    for (size_t i = 0; i < sizeof strs / sizeof *strs; i++) {
        json_t *v = json_object_get(j, strs[i][0]);
        if (!json_is_string(v) || strcmp(json_string_value(v), strs[i][1]))
            fail_msg("%s: expected the string \"%s\"", strs[i][0], strs[i][1]);
    }
    assert_true(json_number_value(json_object_get(j, "e")) == 1e5);
    assert_true(json_number_value(json_object_get(j, "f")) == -2.5);
    json_decref(j);
    free(s);
    unlink(path);
}

static void test_open_bad_path(void **state)
{
    (void)state;
    char err[TRI_ERRLEN] = "";
    int rc = log_open("/nonexistent/dir/x.log", LOG_LEVEL_INFO, 0, err, sizeof err);
    assert_int_equal(rc, TRI_EIO);
    assert_non_null(strstr(err, "/nonexistent/dir/x.log"));
    log_close();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_q_plain_and_escapes),
        cmocka_unit_test(test_q_truncation),
        cmocka_unit_test(test_q_truncation_control_char_at_cut),
        cmocka_unit_test(test_q_ring),
        cmocka_unit_test(test_levels),
        cmocka_unit_test(test_logfmt_lines),
        cmocka_unit_test(test_threshold),
        cmocka_unit_test(test_json_lines),
        cmocka_unit_test(test_json_bare_values_not_json_numbers),
        cmocka_unit_test(test_open_bad_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
