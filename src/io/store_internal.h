/* store_internal — the pure pieces of store.c (key rules, URI encoding, the
 * S3 XML scanner, backoff), exported only so the unit tests can reach them
 * without a server. Nothing outside store.c and tests/unit/test_d_store.c
 * should include this. */
#ifndef STORE_INTERNAL_H
#define STORE_INTERNAL_H
#include "core/buf.h"
#include "io/store.h"

#include <stddef.h>
#include <stdint.h>

/* Checks a key (is_prefix 0) or a list prefix (is_prefix 1): not empty (a
 * prefix may be), at most 1024 bytes, no leading '/', no "." or ".." segment,
 * no empty segment ("a//b"; a prefix may end in '/'), no control character,
 * and not a temporary name (store_is_temp_key). 0 or TRI_EINVAL. */
int store_check_key(const char *key, int is_prefix, char *err, size_t errlen);
/* Keys of the form "....uploading.<16 hex digits>" are uploads in progress
 * (or left behind by a crash); store_list hides them. */
int store_is_temp_key(const char *key);

/* Appends s percent-encoded as SigV4 wants it: everything but A-Z a-z 0-9
 * - . _ ~ and the characters in keep ("/" for paths) as %XX, upper-case hex. */
void store_uri_encode(buf_t *b, const char *s, const char *keep);

/* Decodes XML character data ([s, s+n): &amp; &lt; &gt; &quot; &apos; &#N;
 * &#xN;) into a new NUL-terminated string. 0, TRI_EFORMAT or TRI_ENOMEM. */
int store_xml_text(const char *s, size_t n, char **out);

/* Parses one ListObjectsV2 page. Keys must start with strip (the store's
 * prefix), which is removed; temporary keys are skipped. Objects are appended
 * to out; *truncated and *next_token (malloc'd, NULL when absent) tell whether
 * and how to ask for the next page. 0, TRI_EFORMAT or TRI_ENOMEM. */
int store_parse_list(const char *xml, size_t len, const char *strip, store_list_t *out, int *truncated,
                     char **next_token, char *err, size_t errlen);

/* Fills code and msg from an S3 <Error> document (control characters
 * replaced by spaces); returns 0, or -1 when the body is not one. */
int store_parse_error(const char *xml, size_t len, char *code, size_t codelen, char *msg, size_t msglen);

/* "2026-11-23T15:16:32.123Z" to milliseconds since the epoch; 0 or -1. */
int store_parse_time(const char *s, int64_t *ms);

/* The wait before retry number attempt+1 (attempt counts from 0):
 * d = min(200 ms * 2^attempt, 5 s), plus jitter in [0, d/2] taken from rnd. */
long store_backoff_ms(int attempt, uint64_t rnd);

#endif
