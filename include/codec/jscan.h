/* jscan — a strict, allocation-free JSON scanner and writer for the record hot path.
 *
 * Why not jansson here: parsing a 200-byte record into a jansson tree and
 * printing the answer costs ~3.3 µs, more than the whole per-record budget of
 * `triage classify` (see scripts/bench-classify). Records are flat objects of
 * which we read three or four top-level fields, so this module validates the
 * whole text against RFC 8259 (strings must be valid UTF-8, no control
 * characters, nesting bounded) in one pass and hands back the spans of the
 * fields asked for. Everything else (config, metadata, reports) uses jansson.
 *
 * Ownership: values point into the caller's input; nothing is allocated except
 * through the caller's buf_t. */
#ifndef JSCAN_H
#define JSCAN_H
#include "core/buf.h"
#include <stddef.h>
#include <stdint.h>

enum jscan_type { JSCAN_MISSING = 0, JSCAN_NULL, JSCAN_FALSE, JSCAN_TRUE, JSCAN_NUM, JSCAN_STR, JSCAN_ARR, JSCAN_OBJ };

enum jscan_status {
    JSCAN_OK = 0,
    JSCAN_ESYNTAX = -1,  /* not JSON */
    JSCAN_EUTF8 = -2,    /* a string holds invalid UTF-8 (or a raw control character) */
    JSCAN_ENOTOBJ = -3,  /* valid JSON, but not an object */
    JSCAN_EDEPTH = -4,   /* nested deeper than JSCAN_MAX_DEPTH */
};

#define JSCAN_MAX_DEPTH 64

typedef struct jscan_val {
    uint8_t type;        /* enum jscan_type */
    uint8_t escaped;     /* a string containing backslash escapes */
    const char *raw;     /* the value's JSON text (strings: including quotes) */
    size_t raw_len;
} jscan_val_t;

/* Validates s[0..len) as one JSON object (surrounding whitespace allowed) and
 * fills vals[k] for each top-level key equal to keys[k] (the last duplicate
 * wins, as in jansson). *errpos gets the byte offset of the first error. */
int jscan_scan_object(const char *s, size_t len, const char *const *keys, size_t nkeys,
                   jscan_val_t *vals, size_t *errpos);

/* Appends the decoded contents of a string value to out. A lone surrogate
 * escape decodes to U+FFFD. Returns 0 or TRI_ENOMEM. */
int jscan_str_decode(const jscan_val_t *v, buf_t *out);

/* Whether a number value is an integer (no fraction, no exponent). */
int jscan_num_is_int(const jscan_val_t *v);

/* Appends s as a JSON string (with quotes). Invalid UTF-8 becomes U+FFFD so the
 * output is always valid JSON. */
void jscan_put_str(buf_t *b, const char *s, size_t len);

/* Appends x in [0,1] with four decimals ("0.9731"); out-of-range values clamp. */
void jscan_put_unit(buf_t *b, double x);
/* How many leading bytes of s (whole characters) jscan_put_str encodes in at
 * most max bytes, quotes not counted. */
size_t jscan_str_fit(const char *s, size_t len, size_t max);

/* Whether s[0..len) is valid UTF-8 (no overlongs, surrogates or > U+10FFFF). */
int jscan_utf8_valid(const char *s, size_t len);

/* Appends s as a JSON string holding its standard base64 encoding. */
void jscan_put_base64(buf_t *b, const void *s, size_t len);

/* A short English name for an jscan_status. */
const char *jscan_strerror(int st);

#endif
