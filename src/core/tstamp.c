#include "core/tstamp.h"
#include "core/tri_err.h"

#include <stdio.h>
#include <time.h>

/* Howard Hinnant's days_from_civil / civil_from_days: exact for any year. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t yy = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = yy + (*m <= 2);
}

static int digits(const char *s, size_t len, size_t at, size_t n, int *out)
{
    if (at + n > len)
        return -1;
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[at + i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    *out = v;
    return 0;
}

int tstamp_parse(const char *s, size_t len, int64_t *ms)
{
    if (!len || len > 40)
        return TRI_EINVAL;
    size_t i = 0;
    while (i < len && s[i] >= '0' && s[i] <= '9')
        i++;
    if (i == len) { /* epoch milliseconds */
        if (len > 16)
            return TRI_EINVAL;
        int64_t v = 0;
        for (size_t k = 0; k < len; k++)
            v = v * 10 + (s[k] - '0');
        *ms = v;
        return 0;
    }
    int Y, M, D, h, m, sec;
    if (digits(s, len, 0, 4, &Y) || len < 19 || s[4] != '-' || digits(s, len, 5, 2, &M) || s[7] != '-' ||
        digits(s, len, 8, 2, &D) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        digits(s, len, 11, 2, &h) || s[13] != ':' || digits(s, len, 14, 2, &m) || s[16] != ':' ||
        digits(s, len, 17, 2, &sec))
        return TRI_EINVAL;
    static const unsigned char mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (M < 1 || M > 12 || D < 1 || D > mdays[M - 1] || h > 23 || m > 59 || sec > 60)
        return TRI_EINVAL;
    int leap = (Y % 4 == 0 && Y % 100 != 0) || Y % 400 == 0;
    if (M == 2 && D == 29 && !leap)
        return TRI_EINVAL;
    if (sec == 60)
        sec = 59; /* leap second: clamp */
    size_t p = 19;
    int frac = 0;
    if (p < len && s[p] == '.') {
        p++;
        size_t f0 = p;
        while (p < len && s[p] >= '0' && s[p] <= '9') {
            if (p - f0 < 3)
                frac = frac * 10 + (s[p] - '0');
            p++;
        }
        if (p == f0)
            return TRI_EINVAL;
        for (size_t k = p - f0; k < 3; k++)
            frac *= 10;
    }
    int64_t off = 0;
    if (p < len && (s[p] == 'Z' || s[p] == 'z')) {
        p++;
    } else if (p < len && (s[p] == '+' || s[p] == '-')) {
        int oh, om;
        if (digits(s, len, p + 1, 2, &oh) || p + 3 >= len || s[p + 3] != ':' || digits(s, len, p + 4, 2, &om) ||
            oh > 23 || om > 59)
            return TRI_EINVAL;
        off = (int64_t)(oh * 60 + om) * 60000 * (s[p] == '+' ? 1 : -1);
        p += 6;
    } else {
        return TRI_EINVAL;
    }
    if (p != len)
        return TRI_EINVAL;
    int64_t days = days_from_civil(Y, (unsigned)M, (unsigned)D);
    *ms = ((days * 24 + h) * 60 + m) * 60000 + (int64_t)sec * 1000 + frac - off;
    return 0;
}

void tstamp_format(int64_t ms, char *out, size_t outlen)
{
    int64_t secs = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
    int frac = (int)(ms - secs * 1000);
    int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
    int64_t rem = secs - days * 86400;
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    if (frac)
        snprintf(out, outlen, "%04lld-%02u-%02uT%02d:%02d:%02d.%03dZ", (long long)y, m, d, (int)(rem / 3600),
                 (int)(rem / 60 % 60), (int)(rem % 60), frac);
    else
        snprintf(out, outlen, "%04lld-%02u-%02uT%02d:%02d:%02dZ", (long long)y, m, d, (int)(rem / 3600),
                 (int)(rem / 60 % 60), (int)(rem % 60));
}

int64_t tstamp_floor_day(int64_t ms)
{
    int64_t d = 86400000;
    return ms >= 0 ? ms / d * d : -((-ms + d - 1) / d) * d;
}

int64_t tstamp_floor_month(int64_t ms)
{
    int64_t days = tstamp_floor_day(ms) / 86400000, y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    return days_from_civil(y, m, 1) * 86400000;
}

int64_t tstamp_now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}
