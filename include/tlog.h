/* tlog — one line per event, logfmt or JSON, with a level:
 *
 *   ts=2026-11-23T15:00:00.123Z level=info event=partitions_assigned topic=in count=4
 *
 * Thread-safe (librdkafka logs from its own threads): a line is formatted in
 * a local buffer and written with one write(2). Values that may hold spaces
 * or quotes go through tlog_q(), which quotes and escapes them. Secrets never
 * reach this module: callers pass redacted values (cfg_redact).
 *
 * Ownership: the module owns the log file descriptor; tlog_reopen reopens it
 * (SIGHUP, for log rotation). */
#ifndef TLOG_H
#define TLOG_H
#include <stdarg.h>
#include <stddef.h>

enum tlog_level { TLOG_DEBUG = 0, TLOG_INFO, TLOG_WARN, TLOG_ERROR };

/* path NULL or "" logs to stderr. json selects JSON lines. Returns 0 or an
 * error (message in err). */
int tlog_open(const char *path, int level, int json, char *err, size_t errlen);
int tlog_reopen(char *err, size_t errlen);
void tlog_close(void);
int tlog_level_parse(const char *s);
const char *tlog_level_name(int level);
int tlog_enabled(int level);

/* fields: zero or more "key=value" pairs separated by spaces (logfmt); in
 * JSON mode they are converted to JSON members (values quoted by tlog_q stay
 * strings, bare numbers stay numbers). */
void tlog(int level, const char *event, const char *fields_fmt, ...) __attribute__((format(printf, 3, 4)));

/* Quotes s for a logfmt value ("a b" -> "\"a b\""). Returns a pointer into a
 * small per-thread ring of buffers: valid for the next 7 calls in the thread;
 * long values are cut at 400 bytes. */
const char *tlog_q(const char *s);

#endif
