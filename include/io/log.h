/* log — log_event: one line per event, logfmt or JSON, with a level:
 *
 *   ts=2026-11-23T15:00:00.123Z level=info event=partitions_assigned topic=in count=4
 *
 * Thread-safe (librdkafka logs from its own threads): a line is formatted in
 * a local buffer and written with one write(2). Values that may hold spaces
 * or quotes go through log_q(), which quotes and escapes them. Secrets never
 * reach this module: callers leave out the values of keys cfg_is_secret names.
 *
 * Ownership: the module owns the log file descriptor; log_reopen reopens it
 * (SIGHUP, for log rotation). */
#ifndef LOG_H
#define LOG_H
#include <stdarg.h>
#include <stddef.h>

enum log_level { LOG_LEVEL_DEBUG = 0, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR };

/* path NULL or "" logs to stderr. json selects JSON lines. Returns 0 or an
 * error (message in err). */
int log_open(const char *path, int level, int json, char *err, size_t errlen);
int log_reopen(char *err, size_t errlen);
void log_close(void);
int log_level_parse(const char *s);
const char *log_level_name(int level);
int log_enabled(int level);

/* fields: zero or more "key=value" pairs separated by spaces (logfmt); in
 * JSON mode they are converted to JSON members (values quoted by log_q stay
 * strings, bare numbers stay numbers). */
void log_event(int level, const char *event, const char *fields_fmt, ...) __attribute__((format(printf, 3, 4)));

/* Quotes s for a logfmt value ("a b" -> "\"a b\""). Returns a pointer into a
 * small per-thread ring of buffers: valid for the next 7 calls in the thread;
 * long values are cut at 400 bytes. */
const char *log_q(const char *s);

#endif
