/* store — object storage for models: S3-compatible services through libcurl
 * (requests signed with AWS SigV4 by libcurl itself), or a local directory.
 *
 * URLs:
 *   s3://BUCKET/PREFIX     path-style requests to `endpoint` (default
 *                          https://s3.REGION.amazonaws.com); credentials from
 *                          the options or AWS_ACCESS_KEY_ID /
 *                          AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN
 *   file:///DIR            a directory (DIR/PREFIX-relative keys are paths)
 * Keys passed to the functions below are relative to the URL's prefix
 * ("default/20261123T151632.123Z.tmodel").
 *
 * Every remote call has a timeout, is retried with exponential backoff and
 * jitter on connection errors, timeouts, 429 and 5xx, verifies TLS, and on
 * failure fills err with the HTTP status and the S3 error code and message
 * ("GET default/x.tmodel: 403 AccessDenied: Access Denied"). Credentials are
 * never written into messages. Downloads stream to a file.
 *
 * Threads: a store_t may be used from one thread at a time; the daemon uses
 * it only from the thread pool, one job at a time.
 *
 * Ownership: store_t is created by store_open and freed by store_close;
 * store_list_t by store_list, freed by store_list_free. */
#ifndef STORE_H
#define STORE_H
#include <stddef.h>
#include <stdint.h>

typedef struct store_opts {
    const char *endpoint;        /* NULL: AWS_ENDPOINT_URL, else AWS's regional endpoint */
    const char *region;          /* NULL: AWS_REGION, else AWS_DEFAULT_REGION, else us-east-1 */
    const char *access_key;      /* NULL: AWS_ACCESS_KEY_ID */
    const char *secret_key;      /* NULL: AWS_SECRET_ACCESS_KEY */
    const char *session_token;   /* NULL: AWS_SESSION_TOKEN (may be absent) */
    long timeout_ms;             /* per request; 0: 30000 */
    int retries;                 /* extra attempts; < 0: 3 */
    int insecure;                /* skip TLS verification (tests only; never the default) */
} store_opts_t;

typedef struct store store_t;

typedef struct store_obj {
    char *key;                   /* relative to the store prefix */
    uint64_t size;
    char etag[80];               /* as the service reports it, quotes stripped */
    int64_t mtime_ms;
} store_obj_t;

typedef struct store_list {
    store_obj_t *v;
    size_t n, cap;
} store_list_t;

/* Error codes beyond tri_err.h's: an object that does not exist is
 * TRI_ENOENT; a conditional GET whose ETag still matches is STORE_NOT_MODIFIED. */
#define STORE_NOT_MODIFIED 1

int store_open(const char *url, const store_opts_t *opts, store_t **out, char *err, size_t errlen);
void store_close(store_t *s);
/* "s3://bucket/prefix" or "file:///dir", credentials never included. */
const char *store_url(const store_t *s);

/* Lists every object whose key starts with prefix (all pages). */
int store_list(store_t *s, const char *prefix, store_list_t *out, char *err, size_t errlen);
void store_list_free(store_list_t *l);

/* Downloads key into the file path (created or truncated; written through a
 * temporary name and renamed on success). With if_none_match (an ETag), an
 * unchanged object returns STORE_NOT_MODIFIED and leaves path alone. The
 * object's ETag is copied into etag_out (80 bytes) when not NULL. */
int store_get_file(store_t *s, const char *key, const char *path, const char *if_none_match, char *etag_out,
                   char *err, size_t errlen);
/* Small objects (a PIN) into memory: *data (NUL-terminated, caller frees),
 * at most max bytes. */
int store_get_small(store_t *s, const char *key, size_t max, char **data, size_t *len, char *err, size_t errlen);

/* Uploads so that no reader ever sees a partial object: to a temporary key
 * first, then published under key (S3: server-side copy, then delete of the
 * temporary; file: rename). */
int store_put_file(store_t *s, const char *key, const char *path, char *err, size_t errlen);
int store_put_data(store_t *s, const char *key, const void *data, size_t len, char *err, size_t errlen);
int store_delete(store_t *s, const char *key, char *err, size_t errlen);

#endif
