/* tstamp — event times: RFC 3339 text or epoch milliseconds, to and from
 * int64 epoch milliseconds (UTC). Records carry either form in `ts`. */
#ifndef TSTAMP_H
#define TSTAMP_H
#include <stddef.h>
#include <stdint.h>

/* Parses "2015-02-16T23:36:00Z", "...T23:36:00.123+01:00" (space instead of T,
 * lower-case t/z accepted) or a string of digits meaning epoch milliseconds.
 * Returns 0 or TRI_EINVAL; never reads past len. */
int tstamp_parse(const char *s, size_t len, int64_t *ms);

/* Writes RFC 3339 UTC ("2015-02-16T23:36:00Z", with ".123" when ms has a
 * fraction) into out (at least 32 bytes). */
void tstamp_format(int64_t ms, char *out, size_t outlen);

/* Start of the UTC day / month containing ms. */
int64_t tstamp_floor_day(int64_t ms);
int64_t tstamp_floor_month(int64_t ms);

/* Current wall-clock time in epoch milliseconds. */
int64_t tstamp_now_ms(void);

#endif
