/* Unit tests for event times (include/tstamp.h). Expected epoch values were
 * computed independently (Python datetime, UTC). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/tri_err.h"
#include "core/tstamp.h"

#define T_2015_02_16_2336 1424129760000LL /* 2015-02-16T23:36:00Z */

/* Parses a copy of s in an exactly-sized heap buffer (no NUL after it). */
static int parse(const char *s, int64_t *ms)
{
    size_t n = strlen(s);
    char *copy = malloc(n ? n : 1);
    memcpy(copy, s, n);
    int rc = tstamp_parse(copy, n, ms);
    free(copy);
    return rc;
}

static void expect_ms(const char *s, int64_t expect)
{
    int64_t ms = -42;
    int rc = parse(s, &ms);
    if (rc != 0 || ms != expect)
        fail_msg("ts_parse('%s') = %d, %lld; expected %lld", s, rc, (long long)ms, (long long)expect);
}

static void expect_invalid(const char *s)
{
    int64_t ms = -42;
    int rc = parse(s, &ms);
    if (rc != TRI_EINVAL)
        fail_msg("ts_parse('%s') = %d (%lld), expected TRI_EINVAL", s, rc, (long long)ms);
}

static void test_rfc3339(void **state)
{
    (void)state;
    expect_ms("2015-02-16T23:36:00Z", T_2015_02_16_2336);
    expect_ms("2015-02-16t23:36:00z", T_2015_02_16_2336);
    expect_ms("2015-02-16 23:36:00Z", T_2015_02_16_2336);
    expect_ms("2015-02-16T23:36:00+00:00", T_2015_02_16_2336);
    expect_ms("2015-02-16T23:36:00-00:00", T_2015_02_16_2336);
    /* Offsets: local 23:36 at +01:00 is 22:36Z; at -05:30 it is 05:06Z next day. */
    expect_ms("2015-02-16T23:36:00+01:00", 1424126160000LL);
    expect_ms("2015-02-16T23:36:00-05:30", 1424149560000LL);
    expect_ms("2015-02-17T00:36:00+01:00", T_2015_02_16_2336);
    /* Fractions: milliseconds, shorter and longer (truncated to ms). */
    expect_ms("2015-02-16T23:36:00.123Z", T_2015_02_16_2336 + 123);
    expect_ms("2015-02-16T23:36:00.5Z", T_2015_02_16_2336 + 500);
    expect_ms("2015-02-16T23:36:00.05Z", T_2015_02_16_2336 + 50);
    expect_ms("2015-02-16T23:36:00.123456789Z", T_2015_02_16_2336 + 123);
    expect_ms("2015-02-16T23:36:00.999+01:00", 1424126160000LL + 999);
    /* Leap second clamps to :59. */
    expect_ms("2016-12-31T23:59:60Z", 1483228799000LL);
    /* Leap days and epoch boundaries. */
    expect_ms("2016-02-29T00:00:00Z", 1456704000000LL);
    expect_ms("2000-02-29T12:00:00Z", 951825600000LL);
    expect_ms("1970-01-01T00:00:00Z", 0);
    expect_ms("1969-12-31T23:59:59Z", -1000);
    expect_ms("1970-01-01T00:00:00+01:00", -3600000);
    expect_ms("1900-01-01T00:00:00Z", -2208988800000LL);
    expect_ms("2038-01-19T03:14:08Z", 2147483648000LL);
    expect_ms("9999-12-31T23:59:59Z", 253402300799000LL);
}

static void test_epoch_ms(void **state)
{
    (void)state;
    expect_ms("1424129760000", T_2015_02_16_2336);
    expect_ms("0", 0);
    expect_ms("007", 7);
    expect_ms("9999999999999999", 9999999999999999LL); /* 16 digits */
    expect_invalid("12345678901234567");                /* 17 digits */
    expect_invalid("-1000");
    expect_invalid("+1000");
    expect_invalid("1424129760000 ");
    expect_invalid("1424129760000.5");
    expect_invalid("1e12");
}

static void test_invalid(void **state)
{
    (void)state;
    expect_invalid("");
    expect_invalid("2015-02-30T00:00:00Z"); /* Feb 30 */
    expect_invalid("2015-02-29T00:00:00Z"); /* not a leap year */
    expect_invalid("1900-02-29T00:00:00Z"); /* century, not a leap year */
    expect_invalid("2015-04-31T00:00:00Z");
    expect_invalid("2015-13-01T00:00:00Z"); /* month 13 */
    expect_invalid("2015-00-10T00:00:00Z");
    expect_invalid("2015-01-00T00:00:00Z");
    expect_invalid("2015-01-32T00:00:00Z");
    expect_invalid("2015-02-16T24:00:00Z");
    expect_invalid("2015-02-16T23:60:00Z");
    expect_invalid("2015-02-16T23:36:61Z");
    expect_invalid("2015-02-16T23:36:00");        /* no zone */
    expect_invalid("2015-02-16T23:36:00.Z");      /* empty fraction */
    expect_invalid("2015-02-16T23:36:00.123");
    expect_invalid("2015-02-16T23:36:00ZZ");      /* trailing junk */
    expect_invalid("2015-02-16T23:36:00Z ");
    expect_invalid("2015-02-16T23:36:00+01");     /* truncated offset */
    expect_invalid("2015-02-16T23:36:00+01:");
    expect_invalid("2015-02-16T23:36:00+01:0");
    expect_invalid("2015-02-16T23:36:00+0100");
    expect_invalid("2015-02-16T23:36:00+24:00");
    expect_invalid("2015-02-16T23:36:00+01:60");
    expect_invalid("2015-02-16T23:36:00+1:00");
    expect_invalid("2015-02-16X23:36:00Z");
    expect_invalid("2015-02-16T23-36-00Z");
    expect_invalid("2015/02/16T23:36:00Z");
    expect_invalid("2015-2-16T23:36:00Z");
    expect_invalid("15-02-16T23:36:00Z");
    expect_invalid("2015-02-16");
    expect_invalid("2015-02-16T23:36Z");
    expect_invalid("yesterday");
    expect_invalid(" 2015-02-16T23:36:00Z");
    expect_invalid("2015-02-16T23:36:00.1234567890123456789012Z"); /* over 40 bytes */
    /* Truncated at every length: never valid, never reads past the end (ASan). */
    const char *full = "2015-02-16T23:36:00.123+01:00";
    for (size_t n = 1; n < strlen(full); n++) {
        char *copy = malloc(n);
        memcpy(copy, full, n);
        int64_t ms;
        int rc = tstamp_parse(copy, n, &ms);
        free(copy);
        /* "2", "20", "201", "2015" are digits only: epoch milliseconds. */
        if (n <= 4)
            assert_int_equal(rc, 0);
        else if (rc != TRI_EINVAL)
            fail_msg("prefix of %zu bytes: %d", n, rc);
    }
}

static void test_format(void **state)
{
    (void)state;
    char out[64];
    tstamp_format(T_2015_02_16_2336, out, sizeof out);
    assert_string_equal(out, "2015-02-16T23:36:00Z");
    tstamp_format(T_2015_02_16_2336 + 123, out, sizeof out);
    assert_string_equal(out, "2015-02-16T23:36:00.123Z");
    tstamp_format(T_2015_02_16_2336 + 5, out, sizeof out);
    assert_string_equal(out, "2015-02-16T23:36:00.005Z");
    tstamp_format(0, out, sizeof out);
    assert_string_equal(out, "1970-01-01T00:00:00Z");
    tstamp_format(-1, out, sizeof out);
    assert_string_equal(out, "1969-12-31T23:59:59.999Z");
    tstamp_format(-1000, out, sizeof out);
    assert_string_equal(out, "1969-12-31T23:59:59Z");
    tstamp_format(-86400000, out, sizeof out);
    assert_string_equal(out, "1969-12-31T00:00:00Z");
    tstamp_format(1456704000000LL, out, sizeof out);
    assert_string_equal(out, "2016-02-29T00:00:00Z");
    tstamp_format(253402300799000LL, out, sizeof out);
    assert_string_equal(out, "9999-12-31T23:59:59Z");
    tstamp_format(-2208988800000LL, out, sizeof out);
    assert_string_equal(out, "1900-01-01T00:00:00Z");

    /* Round trips: format then parse gives the same instant. */
    static const int64_t vals[] = {0, 1, -1, 999, -999, 1000, T_2015_02_16_2336, T_2015_02_16_2336 + 1,
                                   951825600000LL, 1456704000000LL - 1, 1483228799999LL, -2208988800000LL,
                                   -2678400000LL + 17, 253402300799999LL};
    for (size_t i = 0; i < sizeof vals / sizeof *vals; i++) {
        tstamp_format(vals[i], out, sizeof out);
        int64_t back = -42;
        if (parse(out, &back) || back != vals[i])
            fail_msg("%lld -> '%s' -> %lld", (long long)vals[i], out, (long long)back);
    }
    /* Every 37 hours and 1 ms over ten years. */
    for (int64_t t = 1262304000000LL; t < 1577836800000LL; t += 37 * 3600000LL + 1) {
        tstamp_format(t, out, sizeof out);
        int64_t back;
        if (parse(out, &back) || back != t)
            fail_msg("%lld -> '%s' -> %lld", (long long)t, out, (long long)back);
    }
    /* Parse then format normalizes to UTC. */
    int64_t ms;
    assert_int_equal(parse("2015-02-17T00:36:00.5+01:00", &ms), 0);
    tstamp_format(ms, out, sizeof out);
    assert_string_equal(out, "2015-02-16T23:36:00.500Z");
    /* A small buffer is cut, not overrun. */
    char small[8];
    tstamp_format(T_2015_02_16_2336, small, sizeof small);
    assert_string_equal(small, "2015-02");
}

static void test_floor(void **state)
{
    (void)state;
    /* 2015-02-16T23:36:00.123Z */
    int64_t t = T_2015_02_16_2336 + 123;
    assert_true(tstamp_floor_day(t) == 1424044800000LL);   /* 2015-02-16T00:00:00Z */
    assert_true(tstamp_floor_month(t) == 1422748800000LL); /* 2015-02-01T00:00:00Z */
    assert_true(tstamp_floor_day(1424044800000LL) == 1424044800000LL);
    assert_true(tstamp_floor_month(1422748800000LL) == 1422748800000LL);
    assert_true(tstamp_floor_month(1422748800000LL - 1) == 1420070400000LL); /* 2015-01-01 */
    assert_true(tstamp_floor_day(0) == 0);
    assert_true(tstamp_floor_month(0) == 0);
    /* Before the epoch: floors go down, not toward zero. */
    assert_true(tstamp_floor_day(-1) == -86400000LL);
    assert_true(tstamp_floor_day(-86400000LL) == -86400000LL);
    assert_true(tstamp_floor_day(-86400001LL) == -172800000LL);
    assert_true(tstamp_floor_month(-1) == -2678400000LL); /* 1969-12-01 */
    /* Leap February. */
    int64_t feb29;
    assert_int_equal(parse("2016-02-29T13:00:00Z", &feb29), 0);
    assert_true(tstamp_floor_day(feb29) == 1456704000000LL);
    char out[64];
    tstamp_format(tstamp_floor_month(feb29), out, sizeof out);
    assert_string_equal(out, "2016-02-01T00:00:00Z");
    tstamp_format(tstamp_floor_month(1483228799999LL), out, sizeof out);
    assert_string_equal(out, "2016-12-01T00:00:00Z");
}

static void test_now(void **state)
{
    (void)state;
    int64_t a = tstamp_now_ms(), b = tstamp_now_ms();
    assert_true(a > 1577836800000LL); /* after 2020 */
    assert_true(b >= a && b - a < 10000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc3339),
        cmocka_unit_test(test_epoch_ms),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_floor),
        cmocka_unit_test(test_now),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
